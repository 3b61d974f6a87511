'use strict';

// A table created and one of its columns renamed in the same migration.
module.exports = {
  async up(queryInterface, Sequelize) {
    await queryInterface.createTable('orders', {
      id: { type: Sequelize.INTEGER, autoIncrement: true, primaryKey: true },
      descr: { type: Sequelize.STRING(100), allowNull: true },
    });
    await queryInterface.renameColumn('orders', 'descr', 'description');
  },
  async down(queryInterface) {
    await queryInterface.dropTable('orders');
  },
};
