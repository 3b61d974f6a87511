// Fix the duplicate address, then make email unique.
module.exports = class UniqueEmail1704067200005 {
  async up(queryRunner) {
    await queryRunner.query(
      "UPDATE `customers` SET `email` = 'ann.again@example.com' WHERE `name` = 'ann again'");
    await queryRunner.query(
      'CREATE UNIQUE INDEX `IDX_customers_email` ON `customers` (`email`)');
  }

  async down(queryRunner) {
    await queryRunner.query('DROP INDEX `IDX_customers_email` ON `customers`');
  }
};
