module.exports = class CreateCustomers1704067200001 {
  async up(queryRunner) {
    await queryRunner.query(
      'CREATE TABLE `customers` (`id` int NOT NULL AUTO_INCREMENT, ' +
        '`email` varchar(100) NOT NULL, `name` varchar(50) NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB');
  }

  async down(queryRunner) {
    await queryRunner.query('DROP TABLE `customers`');
  }
};
