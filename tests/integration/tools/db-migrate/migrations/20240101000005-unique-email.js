'use strict';

// Fix the duplicate address, then make email unique.
exports.up = async function (db) {
  await db.runSql(
    "UPDATE customers SET email = 'ann.again@example.com' WHERE name = 'ann again'");
  await db.addIndex('customers', 'customers_email_unique', ['email'], true);
};

exports.down = function (db) {
  return db.removeIndex('customers', 'customers_email_unique');
};
