'use strict';

// A table created and one of its columns renamed in the same migration.
exports.up = async function (db) {
  await db.createTable('orders', {
    id: { type: 'int', primaryKey: true, autoIncrement: true },
    descr: { type: 'string', length: 100 },
  });
  await db.renameColumn('orders', 'descr', 'description');
};

exports.down = function (db) {
  return db.dropTable('orders');
};
