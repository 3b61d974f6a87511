'use strict';

// Rows as an application would have written them: ann's address twice.
module.exports = {
  async up(queryInterface) {
    await queryInterface.bulkInsert('customers', [
      { email: 'ann@example.com', name: 'ann' },
      { email: 'bob@example.com', name: 'bob' },
      { email: 'ann@example.com', name: 'ann again' },
    ]);
  },
  async down(queryInterface) {
    await queryInterface.bulkDelete('customers', null, {});
  },
};
