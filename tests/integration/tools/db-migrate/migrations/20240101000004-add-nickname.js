'use strict';

// An added field; the pause gives the test time to look at the running migration.
exports.up = async function (db) {
  await db.addColumn('customers', 'nickname', { type: 'string', length: 50 });
  await db.runSql('SELECT SLEEP(3)');
};

exports.down = function (db) {
  return db.removeColumn('customers', 'nickname');
};
