-- Deploy shop:widen to mysql
ALTER TABLE users MODIFY nick VARCHAR(100) NOT NULL;
