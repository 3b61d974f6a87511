#!/usr/bin/python3
# Tool-level test: real knex migrations (npm knex + mysql2) pointed at ddlgate: unique guards and windows.
"""
A user points knexfile.js at ddlgate's port and runs `npx knex migrate:latest`
exactly as before. These tests check that safe migrations pass unchanged,
that a unique index over duplicate values is refused by ddlgate before the
server sees it (rule unique-unguarded), and that maintenance windows gate
the same migrations (ddl-outside-window, then the admin API opens one).

Under DDLGATE_DIRECT=1 the same migrations run against MariaDB itself: the
safe ones must pass there too, and the unsafe one fails on the server's own
duplicate-key error, which shows what ddlgate saves the user from.
"""

import datetime
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
KNEX_DIR = os.path.join(HERE, "tools", "knex")
KNEXFILE = os.path.join(KNEX_DIR, "knexfile.js")
MIGRATIONS = sorted(os.listdir(os.path.join(KNEX_DIR, "migrations")))

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 180)


def require_knex():
	"""Fails clearly when the npm packages were not installed (npm install)."""
	cli = os.path.join(HERE, "node_modules", "knex", "bin", "cli.js")
	if not os.path.exists(cli) or not os.path.isdir(os.path.join(HERE, "node_modules", "mysql2")):
		raise RuntimeError("knex/mysql2 missing: run `npm install` in tests/integration")


def start(schema, sections=None):
	"""The file's MariaDB (with the read-only account ddlgate's guards
	probe with) holding a fresh schema, a ddlgate with guards and an audit
	log in front of it, and an empty knex project: (db, gw, project)."""
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	db.fresh_database(schema)
	return db, harness.guarded_gateway(db, sections), Project()


class Project:
	"""A knex project folder into which the test copies migrations one
	step at a time, as a team would add them over weeks."""

	def __init__(self):
		self.dir = harness.tmpdir("knex-")

	def add(self, *prefixes):
		for p in prefixes:
			names = [m for m in MIGRATIONS if m.startswith(p)]
			assert len(names) == 1, f"no single migration named {p}*: {MIGRATIONS}"
			shutil.copy(os.path.join(KNEX_DIR, "migrations", names[0]), self.dir)


def knex(gw, project, schema, *args):
	"""Runs `npx knex <args>` against gw; returns the CompletedProcess."""
	require_knex()
	env = dict(os.environ)
	env.update({
		"KNEX_HOST": gw.host, "KNEX_PORT": str(gw.port),
		"KNEX_USER": harness.APP_USER, "KNEX_PASSWORD": harness.APP_PASSWORD,
		"KNEX_DATABASE": schema, "KNEX_MIGRATIONS": project.dir,
		"NO_COLOR": "1", "FORCE_COLOR": "0",
		"npm_config_update_notifier": "false",
	})
	# --no: never download knex; the local node_modules must have it.
	cmd = ["npx", "--no", "--", "knex", "--knexfile", KNEXFILE] + list(args)
	return harness.run_shown(cmd, shown="knex " + " ".join(args), timeout=90, env=env, cwd=HERE)


def index_info(db, schema, table, index):
	"""(non_unique, columns) of an index, or None when it does not exist."""
	rows = db.query(
		"SELECT NON_UNIQUE, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) "
		"FROM information_schema.STATISTICS "
		"WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s AND INDEX_NAME=%s GROUP BY NON_UNIQUE",
		(schema, table, index))
	return (int(rows[0][0]), rows[0][1]) if rows else None


def applied(db, schema):
	"""Names of the knex migrations recorded as applied."""
	return [r[0] for r in db.query(f"SELECT name FROM `{schema}`.knex_migrations ORDER BY id")]


def assert_ok(r, what):
	assert r.returncode == 0, f"{what}: knex failed (exit {r.returncode}):\n{r.stdout}{r.stderr}"


def test_knex_safe_unique_migrations_pass_and_duplicates_are_refused():
	"""create-table-then-unique and add-nullable-column-then-unique pass;
	a unique index over duplicates is refused until the data is fixed."""
	schema = "knex_guards"
	db, gw, proj = start(schema)

	# 1. CREATE TABLE users, then ALTER TABLE users ADD UNIQUE (email).
	proj.add("20240101")
	assert_ok(knex(gw, proj, schema, "migrate:latest"), "create-table-then-unique")
	assert index_info(db, schema, "users", "users_email_unique") == (0, "email")
	assert applied(db, schema) == ["20240101000000_create_users.js"]

	# The application writes rows through the proxy (DML passes untouched);
	# 'ann' twice: name is not unique yet.
	conn = harness.connect(gw, database=schema)
	with conn.cursor() as cur:
		cur.execute("INSERT INTO users (email, name) VALUES "
			    "('ann@example.com','ann'), ('bob@example.com','bob'), "
			    "('ann2@example.com','ann')")
	conn.close()

	# 2. ADD COLUMN handle (nullable, no default), then ADD UNIQUE (handle)
	# on a table that now holds rows: all NULL, so no duplicates.
	proj.add("20240102")
	assert_ok(knex(gw, proj, schema, "migrate:latest"), "add-nullable-column-then-unique")
	assert db.column_exists(schema, "users", "handle")
	assert index_info(db, schema, "users", "users_handle_unique") == (0, "handle")

	# 3. ADD UNIQUE (name) while 'ann' appears twice.
	proj.add("20240103")
	r = knex(gw, proj, schema, "migrate:latest")
	out = r.stdout + r.stderr
	assert r.returncode != 0, "a unique index over duplicate values must not pass:\n" + out
	if harness.DIRECT:
		assert "Duplicate entry" in out, out
	else:
		assert "unique-unguarded" in out, "the error must name the rule:\n" + out
		assert "1290" in out or "ddlgate: blocked by" in out, out
		# knex said `users`; the error says which database that was
		assert f"of `{schema}`.`users`" in out, "the error must name the schema:\n" + out
		# ddlgate refused it: the server never ran the ALTER.
		assert "Duplicate entry" not in out, out
	assert index_info(db, schema, "users", "users_name_unique") is None
	assert applied(db, schema) == ["20240101000000_create_users.js",
				       "20240102000000_add_handle.js"]
	# knex released its lock row on the way out.
	assert db.query(f"SELECT is_locked FROM `{schema}`.knex_migrations_lock")[0][0] == 0

	recs = harness.audit_records(gw, "users_name_unique")
	if not harness.DIRECT:
		assert recs, "the refused statement must be in the audit log"
		assert recs[-1].get("decision") == "block", recs[-1]
		assert "unique-unguarded" in harness.rule_ids(recs[-1]), recs[-1]
		assert recs[-1].get("outcome") == "not_sent", recs[-1]
		msgs = [x.get("message", "") for x in recs[-1]["rules"] if x["id"] == "unique-unguarded"]
		assert msgs and f"of `{schema}`.`users`" in msgs[0], recs[-1]

	# 4. The team fixes the data; the same migration now passes (the live
	# probe finds no duplicate).
	conn = harness.connect(gw, database=schema)
	with conn.cursor() as cur:
		cur.execute("UPDATE users SET name='ann b' WHERE email='ann2@example.com'")
	conn.close()
	assert_ok(knex(gw, proj, schema, "migrate:latest"), "unique after the fix")
	assert index_info(db, schema, "users", "users_name_unique") == (0, "name")
	assert len(applied(db, schema)) == 3


def test_knex_migration_session_is_recorded_as_migration():
	"""knex's lock row turns its connection into a migration session: the
	audit log says so for the DDL of its migrations."""
	harness.require_proxy("audit log and session tracking are ddlgate's")
	schema = "knex_session"
	db, gw, proj = start(schema)
	proj.add("20240101")
	assert_ok(knex(gw, proj, schema, "migrate:latest"), "create users")
	recs = [x for x in harness.audit_records(gw, "users")
		if "knex_migrations" not in x["statement"]]
	assert recs, "the migration's DDL must be in the audit log"
	for rec in recs:
		assert rec.get("session") == "migration", rec


def other_day_schedule():
	"""A weekly window on the day after tomorrow (UTC): never open now."""
	day = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2))
	return day.strftime("%a") + " 02:00-03:00 UTC"


def admin_post(gw, path):
	"""POST on the admin API with curl, as an operator would (the
	harness's urllib when curl is not installed). Returns the HTTP status."""
	if not shutil.which("curl"):
		return gw.admin_post(path, timeout=20)[0]
	url = f"http://127.0.0.1:{gw.admin_port}{path}"
	r = harness.run(["curl", "-sS", "-X", "POST", "-w", "\n%{http_code}", url], timeout=20)
	print(f"$ curl -X POST {path} -> {r.stdout.strip()} {r.stderr.strip()}")
	assert r.returncode == 0, r.stderr
	return int(r.stdout.strip().splitlines()[-1])


def test_knex_migration_outside_window_waits_for_admin_window():
	"""With a window on another day the migration is refused
	(ddl-outside-window); an ad-hoc window from the admin API lets it run."""
	harness.require_proxy("maintenance windows are ddlgate's")
	schema = "knex_window"
	db, gw, proj = start(schema, {"window": {"schedule": other_day_schedule()}})
	proj.add("20240101")

	r = knex(gw, proj, schema, "migrate:latest")
	out = r.stdout + r.stderr
	assert r.returncode != 0, "DDL outside the window must be refused:\n" + out
	assert "ddl-outside-window" in out, out
	assert not db.table_exists(schema, "users")

	assert 200 <= admin_post(gw, "/window/open?minutes=5") < 300
	gw.status()  # the admin API still answers

	assert_ok(knex(gw, proj, schema, "migrate:latest"), "inside the ad-hoc window")
	assert index_info(db, schema, "users", "users_email_unique") == (0, "email")

	# Closing the window stops DDL again at once.
	assert 200 <= admin_post(gw, "/window/close") < 300
	proj.add("20240102")
	r = knex(gw, proj, schema, "migrate:latest")
	assert r.returncode != 0 and "ddl-outside-window" in r.stdout + r.stderr, r.stdout + r.stderr
	assert not db.column_exists(schema, "users", "handle")


if __name__ == "__main__":
	harness.main(globals())
