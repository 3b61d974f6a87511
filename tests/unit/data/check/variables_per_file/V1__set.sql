-- a variable set by one migration file
SET @s = 'ALTER TABLE t ADD c INT NULL';
