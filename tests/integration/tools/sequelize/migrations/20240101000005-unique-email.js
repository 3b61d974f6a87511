'use strict';

// Fix the duplicate address, then make email unique.
module.exports = {
  async up(queryInterface) {
    await queryInterface.sequelize.query(
      "UPDATE customers SET email = 'ann.again@example.com' WHERE name = 'ann again'");
    await queryInterface.addIndex('customers', ['email'], {
      name: 'customers_email_unique',
      unique: true,
    });
  },
  async down(queryInterface) {
    await queryInterface.removeIndex('customers', 'customers_email_unique');
  },
};
