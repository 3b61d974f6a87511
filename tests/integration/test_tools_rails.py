#!/usr/bin/python3
# Tool-level test: a Rails `db:migrate` (Active Record >= 6.1, mysql2 adapter) replayed statement for statement through ddlgate.
"""
Rails is not installed here, so this test sends what `rails db:migrate`
sends on MySQL, over the same connections:

  main connection (ActiveRecord::Base.connection):
    SELECT DATABASE()                       current_database, for the lock id
    CREATE TABLE `schema_migrations` ...    and `ar_internal_metadata`, if missing
  lock connection (a pool of its own: with_advisory_lock_connection):
    SELECT GET_LOCK('<2053462845 * CRC32(database)>', 0)
  main connection:
    the migration's DDL, INSERT INTO `schema_migrations`
  lock connection:
    SELECT RELEASE_LOCK('<same id>'), then it disconnects

Since Rails 6.1 the advisory lock lives on a connection of its own while
the DDL runs on the main one: ddlgate must treat the main connection's DDL
as the migration's, not as a conflict with it. Meanwhile DDL from another
client is a migration-conflict. Under DDLGATE_DIRECT=1 the same statements
run against MariaDB itself.
"""

import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import rows as run, run_err as try_ddl  # noqa: E402

MIGRATOR_SALT = 2053462845


def rails_lock_id(database):
	"""Active Record's migrator lock id: MIGRATOR_SALT * CRC32(database)."""
	return MIGRATOR_SALT * zlib.crc32(database.encode("utf-8"))


def rails_connect(gw, schema):
	"""A connection as the mysql2 adapter configures it."""
	conn = harness.connect(gw, database=schema)
	with conn.cursor() as cur:
		cur.execute("SET NAMES utf8mb4")
		cur.execute("SET @@SESSION.sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO'), "
			    "@@SESSION.sql_auto_is_null = 0, @@SESSION.wait_timeout = 2147483")
	return conn


def test_rails_migrate_with_lock_on_its_own_connection():
	schema = "rails_app"
	db = harness.shared_mariadb(accounts=(harness.WEBAPP,))
	db.fresh_database(schema)
	gw = harness.gateway(db)

	main = rails_connect(gw, schema)
	database = run(main, "SELECT DATABASE()")[0][0]
	assert database == schema
	for sql in (
		"CREATE TABLE `schema_migrations` (`version` varchar(255) NOT NULL PRIMARY KEY)",
		"CREATE TABLE `ar_internal_metadata` (`key` varchar(255) NOT NULL PRIMARY KEY, "
		"`value` varchar(255), `created_at` datetime(6) NOT NULL, `updated_at` datetime(6) NOT NULL)",
	):
		err = try_ddl(main, sql)
		assert err is None, f"{sql}: {err}"

	lock = rails_connect(gw, schema)
	lock_id = rails_lock_id(database)
	assert run(lock, f"SELECT GET_LOCK('{lock_id}', 0)")[0][0] == 1
	run(main, "SELECT `schema_migrations`.`version` FROM `schema_migrations` "
		  "ORDER BY `schema_migrations`.`version` ASC")

	# The migration's own DDL, on the main connection.
	err = try_ddl(main, "CREATE TABLE `articles` (`id` bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, "
			    "`title` varchar(255), `created_at` datetime(6) NOT NULL, "
			    "`updated_at` datetime(6) NOT NULL)")
	assert err is None, ("Rails' migration DDL runs on its main connection while the lock "
			     f"is held on another: it must not be refused: {err}")
	run(main, "INSERT INTO `schema_migrations` (`version`) VALUES ('20240101000000')")

	# Another client's DDL meanwhile is a conflict (through ddlgate).
	err = harness.run_err_once(gw, "CREATE TABLE `side` (id INT PRIMARY KEY)", database=schema)
	if harness.DIRECT:
		assert err is None, err
	else:
		harness.assert_refused(err, "migration-conflict", "another client's DDL")
		assert not db.table_exists(schema, "side")

	assert run(lock, f"SELECT RELEASE_LOCK('{lock_id}')")[0][0] == 1
	lock.close()
	main.close()
	assert db.table_exists(schema, "articles")


if __name__ == "__main__":
	harness.main(globals())
