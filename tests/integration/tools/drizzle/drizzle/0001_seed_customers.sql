-- Rows as an application would have written them: ann's address twice.
INSERT INTO `customers` (`email`, `name`) VALUES ('ann@example.com', 'ann'), ('bob@example.com', 'bob'), ('ann@example.com', 'ann again');
