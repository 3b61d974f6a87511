#!/usr/bin/python3
# Enforcement tests: the migration memory belongs to the migration and knows which table got rows.
"""
A migration tool writes its bookkeeping row after each step (Rails'
schema_migrations, Django's django_migrations ...). Such a row must not
make the tables the migration just created look as if they held rows:
adding a NOT NULL column to a table created two statements earlier stays
allowed, and renaming a column of a table created in this migration is
allowed whatever was written since (no running code knows the table).
Rows written into the new table itself are remembered: the NOT NULL
column is then refused (no [guard] here, so no probe can show it empty).

One migration on several connections (Rails takes its lock on one and
runs DDL on another) shares one memory: what one connection created is
new for the others, across commands.

Under DDLGATE_DIRECT=1 every test is skipped (the policy is ddlgate's).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SCHEMA = "mig_mem"
MIGRATOR = h.Account("memo_migrator", "memo-migrator-secret")
RAILS = h.Account("memo_rails", "memo-rails-secret")


def db():
	return h.shared_mariadb(accounts=(MIGRATOR, RAILS))


def fresh_schema():
	"""The schema with a Rails-style schema_migrations and an app table."""
	d = db()
	d.fresh_database(SCHEMA)
	d.query(f"CREATE TABLE `{SCHEMA}`.schema_migrations (version VARCHAR(64) PRIMARY KEY)")
	d.query(f"CREATE TABLE `{SCHEMA}`.accounts (id INT PRIMARY KEY)")
	d.query(f"INSERT INTO `{SCHEMA}`.accounts VALUES (1)")


def gateway(**migration):
	"""A ddlgate without [guard] (no probe: only the memory can prove a
	table empty) and with [migration] keys laid over the defaults."""
	fresh_schema()
	return h.Ddlgate(db(), {"migration": migration} if migration else None)


def columns(table):
	rows = db().query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
			  "TABLE_SCHEMA=%s AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION", (SCHEMA, table))
	return [r[0] for r in rows]


def test_bookkeeping_row_keeps_a_new_table_new():
	h.require_proxy("the migration memory is ddlgate's")
	gw = gateway(users=MIGRATOR.user)
	m = h.connect_as(gw, MIGRATOR, database=SCHEMA)
	assert h.run_err(m, "CREATE TABLE widgets (id INT PRIMARY KEY, name VARCHAR(20))") is None
	assert h.run_err(m, "INSERT INTO schema_migrations VALUES ('20240101000000')") is None
	assert h.run_err(m, "ALTER TABLE widgets ADD COLUMN qty INT NOT NULL") is None
	assert h.run_err(m, "ALTER TABLE widgets RENAME COLUMN name TO title") is None
	assert h.run_err(m, "INSERT INTO schema_migrations VALUES ('20240101000001')") is None
	assert h.run_err(m, "ALTER TABLE widgets CHANGE title label VARCHAR(20)") is None
	assert columns("widgets") == ["id", "label", "qty"], columns("widgets")
	# a row in an app table may have gone anywhere (triggers): careful again
	assert h.run_err(m, "INSERT INTO accounts VALUES (2)") is None
	h.assert_blocked(m, "ALTER TABLE widgets ADD COLUMN price INT NOT NULL",
			 "add-required-column")
	# renaming still is fine: no running code uses the new table
	assert h.run_err(m, "ALTER TABLE widgets RENAME COLUMN label TO caption") is None
	m.close()
	assert gw.stop() == 0


def test_rows_in_the_new_table_are_remembered():
	h.require_proxy("the migration memory is ddlgate's")
	gw = gateway(users=MIGRATOR.user)
	m = h.connect_as(gw, MIGRATOR, database=SCHEMA)
	assert h.run_err(m, "CREATE TABLE gadgets (id INT PRIMARY KEY, name VARCHAR(20))") is None
	assert h.run_err(m, "CREATE TABLE parts (id INT PRIMARY KEY)") is None
	assert h.run_err(m, "INSERT INTO gadgets VALUES (1, 'a')") is None
	h.assert_blocked(m, "ALTER TABLE gadgets ADD COLUMN qty INT NOT NULL", "add-required-column")
	# the other new table got no row
	assert h.run_err(m, "ALTER TABLE parts ADD COLUMN qty INT NOT NULL") is None
	# the rename guard is "created in this migration", rows or not
	assert h.run_err(m, "ALTER TABLE gadgets RENAME COLUMN name TO title") is None
	m.close()
	assert gw.stop() == 0


def test_peers_share_the_migration_memory():
	"""Rails: GET_LOCK on one connection, the DDL on another of the same
	process; each statement its own command."""
	h.require_proxy("the migration memory is ddlgate's")
	gw = gateway()
	lock = h.connect_as(gw, RAILS, database=SCHEMA)
	assert h.scalar(lock, "SELECT GET_LOCK('3712897134', 0)") == 1
	ddl = h.connect_as(gw, RAILS, database=SCHEMA)
	assert h.run_err(ddl, "CREATE TABLE sprockets (id INT PRIMARY KEY, name VARCHAR(20))") is None
	assert h.run_err(ddl, "INSERT INTO schema_migrations VALUES ('20240102000000')") is None
	assert h.run_err(ddl, "ALTER TABLE sprockets RENAME COLUMN name TO title") is None
	assert h.run_err(ddl, "ALTER TABLE sprockets ADD COLUMN qty INT NOT NULL") is None
	# the lock's own connection knows the table too
	assert h.run_err(lock, "ALTER TABLE sprockets ADD COLUMN size INT NOT NULL") is None
	assert columns("sprockets") == ["id", "title", "qty", "size"], columns("sprockets")
	assert h.scalar(lock, "SELECT RELEASE_LOCK('3712897134')") == 1
	# the migration is over: its memory with it
	h.assert_blocked(ddl, "ALTER TABLE sprockets ADD COLUMN more INT NOT NULL",
			 "add-required-column")
	ddl.close()
	lock.close()
	assert gw.stop() == 0


if __name__ == "__main__":
	h.main(globals())
