-- migrate:up
INSERT INTO users (email, name) VALUES
  ('ann@example.com', 'ann'),
  ('ann@example.com', 'ann again'),
  ('bob@example.com', 'bob');

-- migrate:down
DELETE FROM users;
