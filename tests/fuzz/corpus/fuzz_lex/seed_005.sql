SELECT 1 -- comment
, 2 --