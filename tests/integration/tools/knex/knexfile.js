// knex configuration for ddlgate's tool-level tests: points knex at ddlgate (or MariaDB) from the environment.
//
// The tests set KNEX_HOST, KNEX_PORT, KNEX_USER, KNEX_PASSWORD, KNEX_DATABASE
// and KNEX_MIGRATIONS (the folder of migration files to apply). Nothing here
// knows about ddlgate: a user points knex at the proxy port and changes
// nothing else, which is what the tests check.
module.exports = {
	client: 'mysql2',
	connection: {
		host: process.env.KNEX_HOST || '127.0.0.1',
		port: Number(process.env.KNEX_PORT || 3307),
		user: process.env.KNEX_USER || 'app',
		password: process.env.KNEX_PASSWORD || '',
		database: process.env.KNEX_DATABASE || 'appdb',
	},
	migrations: {
		directory: process.env.KNEX_MIGRATIONS || './migrations',
		tableName: 'knex_migrations',
	},
};
