-- migrate:up
-- The later duplicates keep their address with a marker; then the key.
UPDATE users u JOIN users first ON first.email = u.email AND first.id < u.id
  SET u.email = CONCAT('dup-', u.id, '-', u.email);
ALTER TABLE users ADD UNIQUE KEY users_email_unique (email);

-- migrate:down
ALTER TABLE users DROP INDEX users_email_unique;
