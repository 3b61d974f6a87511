// Rows as an application would have written them: ann's address twice.
module.exports = class SeedCustomers1704067200002 {
  async up(queryRunner) {
    await queryRunner.query(
      "INSERT INTO `customers` (`email`, `name`) VALUES ('ann@example.com', 'ann'), " +
        "('bob@example.com', 'bob'), ('ann@example.com', 'ann again')");
  }

  async down(queryRunner) {
    await queryRunner.query('DELETE FROM `customers`');
  }
};
