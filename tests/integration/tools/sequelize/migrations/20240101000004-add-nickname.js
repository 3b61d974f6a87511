'use strict';

// An added field; the pause gives the test time to look at the running migration.
module.exports = {
  async up(queryInterface, Sequelize) {
    await queryInterface.addColumn('customers', 'nickname', {
      type: Sequelize.STRING(50),
      allowNull: true,
    });
    await queryInterface.sequelize.query('SELECT SLEEP(3)');
  },
  async down(queryInterface) {
    await queryInterface.removeColumn('customers', 'nickname');
  },
};
