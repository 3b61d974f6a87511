SET @s = 'it''s \\ \n \%', @u = _utf8mb4'x' N'y' 42 NULL;
PREPARE p FROM @s
