'use strict';

module.exports = {
  async up(queryInterface, Sequelize) {
    await queryInterface.createTable('customers', {
      id: { type: Sequelize.INTEGER, autoIncrement: true, primaryKey: true },
      email: { type: Sequelize.STRING(100), allowNull: false },
      name: { type: Sequelize.STRING(50), allowNull: true },
    });
  },
  async down(queryInterface) {
    await queryInterface.dropTable('customers');
  },
};
