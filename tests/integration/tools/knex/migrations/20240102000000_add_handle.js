// knex migration: a nullable column without default, made unique in the same migration.
exports.up = function (knex) {
	return knex.schema.alterTable('users', function (t) {
		t.string('handle', 64).nullable().unique();
	});
};

exports.down = function (knex) {
	return knex.schema.alterTable('users', function (t) {
		t.dropUnique(['handle']);
		t.dropColumn('handle');
	});
};
