SELECT ';', "a;b", `c;d` /* ; */ FROM t -- x;y
WHERE a = 'it''s;'; SELECT 'x\';y'