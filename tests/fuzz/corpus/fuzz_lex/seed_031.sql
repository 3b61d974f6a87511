-- header
/* ddlgate:allow drop-table */
DROP TABLE t;
-- trailing comment only
;
# another