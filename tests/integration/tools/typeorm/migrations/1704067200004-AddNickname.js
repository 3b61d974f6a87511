// An added field; the pause gives the test time to look at the running migration.
module.exports = class AddNickname1704067200004 {
  async up(queryRunner) {
    await queryRunner.query('ALTER TABLE `customers` ADD `nickname` varchar(50) NULL');
    await queryRunner.query('SELECT SLEEP(3)');
  }

  async down(queryRunner) {
    await queryRunner.query('ALTER TABLE `customers` DROP COLUMN `nickname`');
  }
};
