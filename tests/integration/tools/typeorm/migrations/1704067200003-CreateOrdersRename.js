// A table created and one of its columns renamed in the same migration.
module.exports = class CreateOrdersRename1704067200003 {
  async up(queryRunner) {
    await queryRunner.query(
      'CREATE TABLE `orders` (`id` int NOT NULL AUTO_INCREMENT, `descr` varchar(100) NULL, ' +
        'PRIMARY KEY (`id`)) ENGINE=InnoDB');
    await queryRunner.query(
      'ALTER TABLE `orders` CHANGE `descr` `description` varchar(100) NULL');
  }

  async down(queryRunner) {
    await queryRunner.query('DROP TABLE `orders`');
  }
};
