// knex migration: a unique index on an existing column, safe only if it holds no duplicate.
exports.up = function (knex) {
	return knex.schema.alterTable('users', function (t) {
		t.unique(['name'], { indexName: 'users_name_unique' });
	});
};

exports.down = function (knex) {
	return knex.schema.alterTable('users', function (t) {
		t.dropUnique(['name'], 'users_name_unique');
	});
};
