SELECT 1 # hash comment
FROM t