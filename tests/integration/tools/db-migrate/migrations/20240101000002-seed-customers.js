'use strict';

// Rows as an application would have written them: ann's address twice.
exports.up = function (db) {
  return db.runSql(
    "INSERT INTO customers (email, name) VALUES ('ann@example.com', 'ann'), " +
      "('bob@example.com', 'bob'), ('ann@example.com', 'ann again')");
};

exports.down = function (db) {
  return db.runSql('DELETE FROM customers');
};
