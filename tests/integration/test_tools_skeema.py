#!/usr/bin/python3
# Tool-level test: real skeema (Debian's skeema) `init` and `push` pointed at ddlgate.
"""
A team keeps its schema as CREATE TABLE files and runs `skeema push`, with
the host and port of ddlgate in `.skeema`. skeema verifies every ALTER it
generated on empty copies of the tables in its workspace schema
`_skeema_tmp` (created and dropped each run, over about ten connections,
with ALGORITHM=COPY), then runs the ALTERs on the real schema.

Checked: `skeema init` and a `push` that adds a column, adds an index and
creates a table pass through ddlgate with the default configuration and
give the same tables as a push straight to MariaDB; the workspace DDL is
not refused (blocking-algorithm does not apply to skeema's own empty
copies) and the run is recorded as a migration of tool skeema; a table in
`_skeema_tmp` that this client did not create there is judged as usual.

Under DDLGATE_DIRECT=1 the same runs go to MariaDB itself.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DESIRED = os.path.join(HERE, "tools", "skeema")
TABLES = ("items", "tags")

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 180)


def skeema(cwd, *args):
	harness.require_programs("skeema", install="apt-get install skeema")
	cmd = ["skeema"] + list(args) + [f"--password={harness.APP_PASSWORD}"]
	return harness.run_shown(cmd, secret=harness.APP_PASSWORD, timeout=120, cwd=cwd)


def start_schema(db, schema):
	db.fresh_database(schema)
	db.query(f"CREATE TABLE `{schema}`.items (id INT NOT NULL PRIMARY KEY, "
		 "name VARCHAR(50) NULL) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci")
	db.query(f"INSERT INTO `{schema}`.items VALUES (1, 'a'), (2, 'b'), (3, 'b')")


def init_and_push(host, port, schema):
	"""skeema init of schema at host:port into a fresh folder, the team's
	desired files over it, skeema push. Returns the push's result."""
	d = harness.tmpdir("skeema-")
	r = skeema(d, "init", "--host", host, "--port", str(port), "-u", harness.APP_USER,
		   "--schema", schema, "-d", "proj", "production")
	assert r.returncode == 0, "skeema init failed"
	proj = os.path.join(d, "proj")
	assert os.path.exists(os.path.join(proj, "items.sql")), os.listdir(proj)
	for f in ("items.sql", "tags.sql"):
		shutil.copy(os.path.join(DESIRED, f), proj)
	return skeema(proj, "push", "production")


def show_create(db, schema, table):
	rows = db.query(f"SHOW CREATE TABLE `{schema}`.`{table}`")
	return rows[0][1] if rows else None


def test_skeema_push_matches_direct():
	schema = "skeema_app"
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	start_schema(db, schema)
	gw = harness.guarded_gateway(db)
	r = init_and_push(gw.host, gw.port, schema)
	assert r.returncode == 0, "skeema push through ddlgate failed"
	assert db.columns(schema, "items") == ["id", "name", "price"]
	assert db.index_exists(schema, "items", "items_name")
	assert db.table_exists(schema, "tags")
	assert not db.query("SHOW DATABASES LIKE '\\_skeema\\_tmp'"), "the workspace is left over"

	direct = schema + "_direct"
	start_schema(db, direct)
	r = init_and_push(db.host, db.port, direct)
	assert r.returncode == 0, "skeema push against MariaDB itself failed"
	for t in TABLES:
		assert show_create(db, schema, t) == show_create(db, direct, t), t

	if harness.DIRECT:
		return
	recs = harness.audit_records(gw, kind="ddl")
	verify = [x for x in recs if "ALGORITHM=COPY" in x["statement"]]
	assert verify, "skeema's workspace ALTER must be in the audit log"
	for x in verify:
		assert x["decision"] == "allow" and x["outcome"] == "ok", x
	real = [x for x in recs if x["statement"].startswith("ALTER TABLE `items` ADD COLUMN")]
	assert real and real[-1]["outcome"] == "ok", recs
	assert real[-1]["session"] == "migration", real[-1]
	assert (real[-1].get("migration") or {}).get("tool") == "skeema", real[-1]


def test_foreign_table_in_workspace_is_judged():
	"""A table in `_skeema_tmp` that the client did not create there (it
	holds rows) gets no exemption: ALGORITHM=COPY on it is refused."""
	harness.require_proxy("the refusal is ddlgate's")
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	db.query("DROP DATABASE IF EXISTS _skeema_tmp")
	db.query("CREATE DATABASE _skeema_tmp")
	try:
		db.query("CREATE TABLE _skeema_tmp.kept (id INT PRIMARY KEY, v INT)")
		db.query("INSERT INTO _skeema_tmp.kept VALUES (1, 1)")
		gw = harness.guarded_gateway(db)
		conn = harness.connect(gw, database="_skeema_tmp")
		harness.assert_blocked(conn, "ALTER TABLE kept ALGORITHM=COPY, ADD COLUMN w INT NULL",
				       "blocking-algorithm")
		# a copy this client makes itself is scratch
		assert harness.run_err(conn, "CREATE TABLE mine (id INT PRIMARY KEY, v INT)") is None
		assert harness.run_err(conn, "ALTER TABLE mine ALGORITHM=COPY, ADD COLUMN w INT NULL") \
			is None
		conn.close()
		assert not db.column_exists("_skeema_tmp", "kept", "w")
		assert db.column_exists("_skeema_tmp", "mine", "w")
	finally:
		db.query("DROP DATABASE IF EXISTS _skeema_tmp")


def test_workspace_is_no_migration_conflict():
	"""While another account's migration runs, skeema's workspace DDL from
	an app account passes (scratch space), but its change to a real table
	is a migration-conflict."""
	harness.require_proxy("migration conflicts are ddlgate's")
	db = harness.shared_mariadb(accounts=(harness.PROBER, harness.MIGRATOR))
	schema = db.fresh_database("skeema_conflict")
	db.query(f"CREATE TABLE `{schema}`.items (id INT PRIMARY KEY)")
	db.query("DROP DATABASE IF EXISTS _skeema_tmp")
	gw = harness.guarded_gateway(db)
	mig = harness.connect_as(gw, harness.MIGRATOR, database=schema)
	assert harness.scalar(mig, '/* ddlgate:migration name="m1" */ SELECT 1') == 1
	app = harness.connect(gw, database=schema)
	try:
		for sql in ("CREATE DATABASE _skeema_tmp",
			    "CREATE TABLE _skeema_tmp.items (id INT PRIMARY KEY)",
			    "ALTER TABLE _skeema_tmp.items ALGORITHM=COPY, ADD COLUMN c INT NULL",
			    "DROP TABLE _skeema_tmp.items", "DROP DATABASE _skeema_tmp"):
			assert harness.run_err(app, sql) is None, sql
		harness.assert_blocked(app, "ALTER TABLE items ADD COLUMN c INT NULL",
				       "migration-conflict")
	finally:
		app.close()
		mig.close()
		db.query("DROP DATABASE IF EXISTS _skeema_tmp")
	assert not db.column_exists(schema, "items", "c")


if __name__ == "__main__":
	harness.main(globals())
