-- is not known to the next one: each file runs in its own session
PREPARE p FROM @s;
EXECUTE p;
