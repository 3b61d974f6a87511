// knex migration: a new table with a unique column (knex emits CREATE TABLE, then ALTER TABLE ADD UNIQUE).
exports.up = function (knex) {
	return knex.schema.createTable('users', function (t) {
		t.increments('id');
		t.string('email', 191).notNullable().unique();
		t.string('name', 100).notNullable();
	});
};

exports.down = function (knex) {
	return knex.schema.dropTable('users');
};
