-- migrate:up
-- A slow step first: long enough for another process to try DDL meanwhile.
SELECT SLEEP(3);
CREATE TABLE notes (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  body VARCHAR(200) NULL
);
ALTER TABLE notes RENAME COLUMN body TO note;

-- migrate:down
DROP TABLE notes;
