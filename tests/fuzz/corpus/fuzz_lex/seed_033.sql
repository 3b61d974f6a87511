ALTER TABLE t ADD a INT; -- note about b
ALTER TABLE t ADD b INT