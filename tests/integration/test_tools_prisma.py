#!/usr/bin/python3
# Tool-level test: `prisma migrate deploy` replayed statement for statement through ddlgate (the engine binary cannot be fetched here).
"""
Prisma's schema engine, on MySQL, does for `migrate deploy`:

  SELECT GET_LOCK('prisma_migrate', 10)           (never released: it disconnects)
  (describe the schema; create _prisma_migrations if missing, as a script)
  SELECT ... FROM _prisma_migrations ORDER BY started_at ASC
  per pending migration:
    INSERT INTO _prisma_migrations (...)           record_migration_started
    the whole migration.sql as ONE COM_QUERY       multi-statement text
    UPDATE ... applied_steps_count + 1             record_successful_step
    UPDATE ... finished_at = CURRENT_TIMESTAMP(3)  record_migration_finished
  on failure: UPDATE ... logs = <error>            record_failed_step

harness.PrismaDeploy sends the same SQL in the same order over one pymysql
connection with CLIENT.MULTI_STATEMENTS (Prisma binds its bookkeeping values
as server-side prepared statements; here they are inlined, which changes
nothing ddlgate decides). Under DDLGATE_DIRECT=1 the deploys run against
MariaDB itself, which shows that the conflicts asserted through ddlgate are
ddlgate's doing.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
# The deploy runs as harness.APP_USER; the application's DDL comes from
# harness.WEBAPP, since ddlgate counts sessions of the deploy's account from
# the same machine as the deploy's own connections.

def setup_schema(name):
	"""The file's MariaDB (with the probe and application accounts) and a
	fresh schema as Prisma creates it."""
	db = harness.shared_mariadb(accounts=(harness.PROBER, harness.WEBAPP))
	db.fresh_database(name, "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	return db


def start_deploy(gw, schema):
	"""A `prisma migrate deploy` through gw that holds its lock and has
	created (or read) _prisma_migrations."""
	deploy = harness.PrismaDeploy(gw, schema)
	deploy.lock()
	deploy.initialize()
	return deploy


def try_ddl(gw, schema, sql):
	"""Runs one DDL statement on a new connection of the application's
	account; returns None or (code, message)."""
	return harness.run_err_once(gw, sql, database=schema)


def test_prisma_deploy_holds_the_floor_until_it_disconnects():
	schema = "prisma_deploy"
	db = setup_schema(schema)
	gw = harness.guarded_gateway(db)
	names = harness.prisma_migrations()

	deploy = start_deploy(gw, schema)
	assert deploy.applied() == []
	assert deploy.apply(names[0]) is None, "the init migration must apply"
	assert db.column_exists(schema, "User", "email")
	assert db.index_exists(schema, "Post", "Post_authorId_fkey")

	# While the deploy's session lives, every other session's DDL is refused,
	# whatever table it touches; its reads and writes go through.
	other = harness.connect_as(gw, harness.WEBAPP, database=schema)
	with other.cursor() as cur:
		cur.execute("INSERT INTO `User` (email, name) VALUES ('a@example.com', 'a')")
		cur.execute("SELECT COUNT(*) FROM `User`")
		assert cur.fetchone()[0] == 1
	other.close()
	for sql in ("ALTER TABLE `User` ADD COLUMN `hotfix` INT NULL",
		    "CREATE TABLE `side` (id INT PRIMARY KEY)"):
		err = try_ddl(gw, schema, sql)
		if harness.DIRECT:
			assert err is None, f"MariaDB itself accepts {sql}: {err}"
		else:
			harness.assert_refused(err, "migration-conflict", sql)
	if harness.DIRECT:
		db.query(f"ALTER TABLE `{schema}`.`User` DROP COLUMN `hotfix`")
		db.query(f"DROP TABLE `{schema}`.`side`")
	assert not db.column_exists(schema, "User", "hotfix")

	# The deploy itself goes on: its second migration applies.
	assert deploy.apply(names[1]) is None, "the second migration must apply"
	assert db.column_exists(schema, "User", "bio")
	assert deploy.applied() == names[:2]

	# Prisma never releases the lock: it disconnects. Then DDL is free again.
	deploy.close()
	err = harness.retry_err(
		lambda: try_ddl(gw, schema, "ALTER TABLE `User` ADD COLUMN `hotfix` INT NULL"), 10)
	assert err is None, f"DDL must be allowed once the migration session is gone: {err}"
	assert db.column_exists(schema, "User", "hotfix")

	if not harness.DIRECT:
		mig = harness.audit_records(gw, "Post_published_idx")
		assert mig and all(r.get("session") == "migration" for r in mig), mig
		blocked = harness.audit_records(gw, "hotfix", decision="block")
		assert blocked and all(r.get("session") == "app" for r in blocked), blocked
		assert "migration-conflict" in harness.rule_ids(blocked[0]), blocked[0]


def test_prisma_unsafe_migration_is_refused_whole():
	"""A Prisma script whose CREATE UNIQUE INDEX meets duplicates: ddlgate
	refuses it (unique-unguarded) before the server runs any of it; Prisma
	records the failure; the index does not exist."""
	schema = "prisma_unsafe"
	db = setup_schema(schema)
	gw = harness.guarded_gateway(db)
	names = harness.prisma_migrations()

	deploy = start_deploy(gw, schema)
	for name in names[:2]:
		assert deploy.apply(name) is None, name
	deploy.close()

	app = harness.connect(gw, database=schema)
	with app.cursor() as cur:
		cur.execute("INSERT INTO `User` (email, name) VALUES "
			    "('a@example.com','same'), ('b@example.com','same'), ('c@example.com', NULL)")
	app.close()

	deploy = start_deploy(gw, schema)
	assert deploy.applied() == names[:2]
	err = deploy.apply(names[2])
	assert err is not None, "a unique index over duplicates must not apply"
	code, msg = err.args[0], err.args[1]
	if harness.DIRECT:
		assert code == 1062, err
		# MariaDB ran the first statement of the script before failing.
		assert db.column_exists(schema, "User", "nickname")
	else:
		assert code == 1290 and "unique-unguarded" in msg, err
		assert msg.startswith("ddlgate: blocked by unique-unguarded"), msg
		# Prisma's script says `User`: the message says which database
		assert f"of `{schema}`.`User`" in msg, msg
		# Nothing of the refused COM_QUERY reached the server.
		assert not db.column_exists(schema, "User", "nickname"), \
			"the refused script's first statement ran anyway"
	assert not db.index_exists(schema, "User", "User_name_key")
	rows = db.query(f"SELECT finished_at, logs FROM `{schema}`.`_prisma_migrations` "
			"WHERE migration_name = %s", (names[2],))
	assert rows and rows[0][0] is None and rows[0][1], rows
	deploy.close()


def test_prisma_deploy_on_one_ddlgate_blocks_ddl_on_another():
	"""Two ddlgate instances in front of the same server share the
	migration state through the server: a deploy through the first makes
	DDL through the second a migration-conflict."""
	harness.require_proxy("two ddlgate instances")
	schema = "prisma_two"
	db = setup_schema(schema)
	gw1 = harness.guarded_gateway(db)
	gw2 = harness.guarded_gateway(db)

	deploy = start_deploy(gw1, schema)
	assert deploy.apply(harness.prisma_migrations()[0]) is None
	# The shared state lives in the server (a named lock on a side
	# connection): give the first ddlgate a moment to take it.
	time.sleep(0.5)
	err = try_ddl(gw2, schema, "ALTER TABLE `User` ADD COLUMN `other_gate` INT NULL")
	harness.assert_refused(err, "migration-conflict", "DDL through the second ddlgate")
	# the holder, named once: the other instance and the lock it holds
	assert re.search(r": a migration is running on another ddlgate instance \(lock '[^']+' "
			 r"held by server connection \d+\) and DDL from other sessions", err[1]), err
	assert not db.column_exists(schema, "User", "other_gate")
	deploy.close()

	err = harness.retry_err(
		lambda: try_ddl(gw2, schema, "ALTER TABLE `User` ADD COLUMN `other_gate` INT NULL"), 10)
	assert err is None, f"after the deploy disconnects, the second ddlgate allows DDL: {err}"


if __name__ == "__main__":
	harness.main(globals())
