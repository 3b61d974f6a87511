-- the legacy column is unused since release 3.2
-- ddlgate:allow drop-column reason="unused since 3.2"
ALTER TABLE orders DROP COLUMN legacy_code;
