#!/usr/bin/python3
# Tool-level test: real dbmate migrations (npm dbmate, its own binary) pointed at ddlgate.
"""
A team runs `dbmate up` with DATABASE_URL pointing at ddlgate's port. dbmate
takes no lock: its connection is a migration because it reads and writes
`schema_migrations`. Each migration file is sent as one multi-statement
query, by default inside a transaction, so a file that fixes duplicates and
then adds a unique key is judged in steps: the fix runs, the guard probes,
then the key is judged.

Checked: `dbmate up` through ddlgate gives the same tables as against
MariaDB itself (SHOW CREATE TABLE); the run is a migration in /sessions;
DDL from another process of the same account meanwhile is a
migration-conflict.

Under DDLGATE_DIRECT=1 the same runs go to MariaDB itself.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DBMATE = os.path.join(HERE, "node_modules", ".bin", "dbmate")
TABLES = ("users", "notes")

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 180)


def require_dbmate():
	if not os.path.exists(DBMATE):
		raise RuntimeError("dbmate missing: run `npm install` in tests/integration")


def project(*leave_out, no_transaction=False):
	"""A copy of tools/dbmate; no_transaction puts the variant of the
	fix-and-unique file that runs outside a transaction in its place."""
	d = harness.tool_project("dbmate", *leave_out)
	if no_transaction:
		for f in os.listdir(os.path.join(d, "no_transaction")):
			shutil.copy(os.path.join(d, "no_transaction", f), os.path.join(d, "db", "migrations"))
	shutil.rmtree(os.path.join(d, "no_transaction"))
	return d


def dbmate_cmd(host, port, schema, proj, *args):
	url = f"mysql://{harness.APP_USER}:{harness.APP_PASSWORD}@{host}:{port}/{schema}"
	env = dict(os.environ, DATABASE_URL=url, DBMATE_NO_DUMP_SCHEMA="true")
	return [DBMATE] + list(args), env


def dbmate(host, port, schema, proj, *args):
	require_dbmate()
	cmd, env = dbmate_cmd(host, port, schema, proj, *args)
	return harness.run_shown(cmd, secret=harness.APP_PASSWORD, shown="dbmate " + " ".join(args),
				 timeout=90, env=env, cwd=proj)


def show_create(db, schema, table):
	rows = db.query(f"SHOW CREATE TABLE `{schema}`.`{table}`")
	return rows[0][1] if rows else None


def applied(db, schema):
	return [r[0] for r in db.query(f"SELECT version FROM `{schema}`.schema_migrations ORDER BY version")]


def same_as_direct(db, schema, proj):
	"""Runs the project straight against MariaDB into schema_direct and
	compares every table with what went through ddlgate."""
	direct = db.fresh_database(schema + "_direct")
	r = dbmate(db.host, db.port, direct, proj, "up")
	assert r.returncode == 0, "dbmate up against MariaDB itself failed"
	for t in TABLES:
		assert show_create(db, schema, t) == show_create(db, direct, t), t
	assert applied(db, schema) == applied(db, direct)


def test_dbmate_up_matches_direct():
	"""`dbmate up` with the default transaction per file: create, populate
	with duplicates, fix and add the unique key in one file, create then
	rename a column. Passes and gives the same schema as directly.

	The fix runs inside dbmate's transaction, not committed when the key
	is judged: the probe between the steps runs on dbmate's own
	connection and sees it (the guard's side connection would not)."""
	schema = "dbmate_up"
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	db.fresh_database(schema)
	gw = harness.guarded_gateway(db)
	proj = project()
	r = dbmate(gw.host, gw.port, schema, proj, "up")
	assert r.returncode == 0, "dbmate up through ddlgate failed"
	assert applied(db, schema) == ["20240101000000", "20240102000000", "20240103000000",
				       "20240104000000"]
	assert [x[0] for x in db.query(f"SELECT email FROM `{schema}`.users ORDER BY id")] == [
	    "ann@example.com", "dup-2-ann@example.com", "bob@example.com"]
	same_as_direct(db, schema, proj)
	recs = harness.audit_records(gw, "users_email_unique")
	if not harness.DIRECT:
		assert recs and recs[-1]["outcome"] == "ok", recs
		assert recs[-1]["session"] == "migration", recs[-1]
		guard = [x for x in recs[-1]["rules"] if x["id"] == "unique-unguarded"]
		assert guard and guard[0]["guard"] == "probe: no duplicates", recs[-1]


def test_dbmate_fix_outside_transaction_is_judged_in_steps():
	"""The same project with the fix-and-unique file marked
	`transaction:false`: the UPDATE runs as its own step, the probe sees
	no duplicate left, the key is added; same schema as directly."""
	schema = "dbmate_steps"
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	db.fresh_database(schema)
	gw = harness.guarded_gateway(db)
	proj = project(no_transaction=True)
	r = dbmate(gw.host, gw.port, schema, proj, "up")
	assert r.returncode == 0, "dbmate up through ddlgate failed"
	assert len(applied(db, schema)) == 4
	same_as_direct(db, schema, proj)
	if not harness.DIRECT:
		recs = harness.audit_records(gw, "users_email_unique")
		assert recs and recs[-1]["outcome"] == "ok", recs
		guard = [x for x in recs[-1]["rules"] if x["id"] == "unique-unguarded"]
		assert guard and guard[0]["guard"] == "probe: no duplicates", recs[-1]


def test_dbmate_run_is_a_migration_and_holds_the_floor():
	"""While `dbmate up` runs (a migration sleeps 3 s), /sessions lists its
	connection as a migration of dbmate, and an ALTER from another process
	of the same account is refused with migration-conflict. dbmate itself
	finishes."""
	harness.require_proxy("migration sessions are ddlgate's")
	require_dbmate()
	schema = "dbmate_floor"
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	db.fresh_database(schema)
	db.query(f"CREATE TABLE `{schema}`.app_t (id INT PRIMARY KEY)")
	gw = harness.guarded_gateway(db)
	proj = project("*_populate_users.sql", "*_unique_email.sql")
	cmd, env = dbmate_cmd(gw.host, gw.port, schema, proj, "up")
	run = harness.Background(cmd, shown="dbmate up", timeout=60, env=env, cwd=proj)
	try:
		def dbmate_migration():
			return [s for s in gw.sessions() if s.get("kind") == "migration"]
		harness.wait_for(lambda: dbmate_migration() or not run.running(), 30,
				 "dbmate's session in /sessions")
		migs = dbmate_migration()
		assert migs, "dbmate's connection must be a migration session"
		# schema_migrations is Rails', golang-migrate's and dbmate's: dbmate's
		# statements name `version` only, and its driver is Go's
		assert migs[0].get("tool") == "dbmate", migs[0]
		# another process of the same account: the mariadb client, a sibling
		# of dbmate (this test process is dbmate's parent, so its own
		# connections would be the migration's peers)
		err = harness.ddl_from_other_process(gw, "ALTER TABLE app_t ADD COLUMN hotfix INT NULL",
						     database=schema)
		assert err is None, f"an ALTER during dbmate up must be a migration-conflict: {err}"
	except BaseException:
		run.finish(wait=0)  # stopped at once: the test failed already
		raise
	r = run.finish()
	assert r.returncode == 0, r.stdout
	assert not db.column_exists(schema, "app_t", "hotfix")
	assert db.columns(schema, "notes") == ["id", "note"]
	# the migration ended with dbmate's connection
	harness.wait_for(lambda: not [s for s in gw.sessions() if s.get("kind") == "migration"], 10,
			 "the migration to end")


if __name__ == "__main__":
	harness.main(globals())
