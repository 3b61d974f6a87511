'use strict';

exports.up = function (db) {
  return db.createTable('customers', {
    id: { type: 'int', primaryKey: true, autoIncrement: true },
    email: { type: 'string', length: 100, notNull: true },
    name: { type: 'string', length: 50 },
  });
};

exports.down = function (db) {
  return db.dropTable('customers');
};
