#!/usr/bin/python3
# Enforcement tests: maintenance windows over every way DDL can arrive, admin open/close, live unique guard.
"""
With a [window] schedule on another day, DDL is refused with ERR 1290
naming ddl-outside-window whatever shape it arrives in (plain COM_QUERY,
multi-statement, executable or leading comments, COM_STMT_PREPARE, SQL
PREPARE FROM a literal or a variable, CREATE PROCEDURE with DDL inside,
over TLS and with --compress), and the schema stays untouched, while DML
flows. POST /window/open lets DDL through, /window/close stops it again,
and no allow directive lifts the window.

The unique-unguarded test runs a live probe through the [guard] account:
a unique index on a column with duplicates is refused, one without passes.
"""

import datetime
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from pymysql.constants import CLIENT  # noqa: E402

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
SCHEMA = "win"

def db():
	"""The shared MariaDB with the read-only account live guards probe as."""
	return h.shared_mariadb(accounts=(h.PROBER,))


def other_day_schedule():
	"""A one-minute window three days from now: certainly closed now."""
	day = DAYS[(datetime.datetime.now(datetime.timezone.utc).weekday() + 3) % 7]
	return f"{day} 03:00-03:01 UTC"


def fresh_schema():
	d = db()
	d.fresh_database(SCHEMA)
	d.query(f"CREATE TABLE `{SCHEMA}`.w (id INT PRIMARY KEY, v VARCHAR(20))")


def closed_window():
	"""A fresh schema and a ddlgate whose only window is on another day."""
	fresh_schema()
	return h.Ddlgate(db(), {"window": {"schedule": other_day_schedule()}})


def snapshot():
	"""Every column and routine of the test schema (to prove nothing changed)."""
	cols = db().query("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
			  "WHERE TABLE_SCHEMA=%s ORDER BY TABLE_NAME, ORDINAL_POSITION", (SCHEMA,))
	idx = db().query("SELECT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS "
			 "WHERE TABLE_SCHEMA=%s ORDER BY 1, 2", (SCHEMA,))
	routines = db().query("SELECT ROUTINE_NAME FROM information_schema.ROUTINES "
			      "WHERE ROUTINE_SCHEMA=%s", (SCHEMA,))
	return (cols, idx, routines)


def admin_post(gw, path):
	"""POST on the admin API; returns (status, decoded JSON body when 200,
	else the body text)."""
	code, body = gw.admin_post(path)
	return code, json.loads(body) if code == 200 else body


# Prepares sql server-side (COM_STMT_PREPARE) and executes it; prints OK or
# ERR <code> <message>. With a sixth argument, prints PREPARED after the
# prepare and waits for a line on standard input before executing.
PERL_PREPARE = r'''
use strict; use DBI;
$| = 1;
my ($host, $port, $user, $pw, $db, $sql, $pause) = @ARGV;
my $dbh = DBI->connect("DBI:MariaDB:database=$db;host=$host;port=$port;mariadb_server_prepare=1",
	$user, $pw, { RaiseError => 0, PrintError => 0, AutoCommit => 1 }) or die "connect: $DBI::errstr\n";
my $sth = $dbh->prepare($sql);
if (!$sth) { print "ERR ", $dbh->err, " ", $dbh->errstr, "\n"; exit 0; }
if ($pause) { print "PREPARED\n"; my $go = <STDIN>; }
if (!$sth->execute) { print "ERR ", $sth->err, " ", $sth->errstr, "\n"; exit 0; }
print "OK\n";
'''


def perl_prepare(gw, sql):
	r = h.run(["perl", "-e", PERL_PREPARE, gw.host, str(gw.port), h.APP_USER, h.APP_PASSWORD,
		   SCHEMA, sql])
	assert r.returncode == 0, r.stderr
	return r.stdout.strip()


def test_window_refuses_ddl_in_every_shape():
	h.require_proxy("windows are ddlgate's")
	gw = closed_window()
	before = snapshot()
	c = h.connect(gw, database=SCHEMA, client_flag=CLIENT.MULTI_STATEMENTS)
	rule = "ddl-outside-window"

	# DML flows
	assert h.run_err(c, "INSERT INTO w VALUES (1, 'a')") is None
	assert h.scalar(c, "SELECT v FROM w WHERE id = 1") == "a"

	h.assert_blocked(c, "ALTER TABLE w ADD COLUMN c1 INT NULL", rule)
	h.assert_blocked(c, "CREATE TABLE t1 (id INT PRIMARY KEY)", rule)
	# multi-statement: nothing runs, not even the statements before the DDL
	h.assert_blocked(c, "INSERT INTO w VALUES (2, 'b'); ALTER TABLE w ADD COLUMN c2 INT NULL", rule)
	assert h.scalar(c, "SELECT COUNT(*) FROM w") == 1
	h.assert_blocked(c, "/*!50000 ALTER TABLE w ADD COLUMN c3 INT NULL */", rule)
	h.assert_blocked(c, "/* leading */ ALTER TABLE w ADD COLUMN c4 INT NULL", rule)
	h.assert_blocked(c, "-- leading\nALTER TABLE w ADD COLUMN c5 INT NULL", rule)
	h.assert_blocked(c, "PREPARE s1 FROM 'ALTER TABLE w ADD COLUMN c6 INT NULL'", rule)
	assert h.run_err(c, "SET @ddl = 'ALTER TABLE w ADD COLUMN c7 INT NULL'") is None
	h.assert_blocked(c, "PREPARE s2 FROM @ddl", rule)
	h.assert_blocked(c, "CREATE PROCEDURE p1() BEGIN ALTER TABLE w ADD COLUMN c8 INT NULL; END", rule)
	# an allow directive cannot lift the window
	h.assert_blocked(c, "/* ddlgate:allow ddl-outside-window reason=\"now\" */ "
		       "ALTER TABLE w ADD COLUMN c9 INT NULL", rule)
	# SQL-level PREPARE of a query is not DDL
	assert h.run_err(c, "PREPARE s3 FROM 'SELECT COUNT(*) FROM w'") is None

	# COM_STMT_PREPARE (server-side prepared statement)
	out = perl_prepare(gw, "ALTER TABLE w ADD COLUMN c10 INT NULL")
	assert out.startswith("ERR 1290") and rule in out, out
	assert perl_prepare(gw, "SELECT COUNT(*) FROM w") == "OK"

	# TLS
	cert, _ = h.tls_pair()
	t = h.connect(gw, database=SCHEMA, ssl_ca=cert, ssl_verify_cert=True, ssl_verify_identity=False)
	assert h.scalar(t, "SELECT COUNT(*) FROM w") == 1
	h.assert_blocked(t, "ALTER TABLE w ADD COLUMN c11 INT NULL", rule)
	t.close()

	# compressed protocol (mariadb --compress)
	r = h.mariadb_cli(gw, "--compress", "-e", "ALTER TABLE w ADD COLUMN c12 INT NULL",
			  database=SCHEMA)
	assert r.returncode != 0 and "1290" in r.stderr and rule in r.stderr, r.stderr
	r = h.mariadb_cli(gw, "--compress", "-N", "-e", "SELECT COUNT(*) FROM w", database=SCHEMA)
	assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr

	assert snapshot() == before, "the schema changed although every DDL was refused"
	c.close()


def test_admin_open_and_close():
	h.require_proxy("the admin API is ddlgate's")
	gw = closed_window()
	c = h.connect(gw, database=SCHEMA)
	h.assert_blocked(c, "ALTER TABLE w ADD COLUMN o1 INT NULL", "ddl-outside-window")
	st = gw.status()
	assert st["window"]["configured"] and not st["window"]["open"], st["window"]

	code, body = admin_post(gw, "/window/open?minutes=abc")
	assert code == 400, body
	code, body = admin_post(gw, "/window/open?minutes=5")
	assert code == 200 and body["open"], body
	st = gw.status()
	assert st["window"]["open"] and st["window"]["adhoc_until"], st["window"]
	assert h.run_err(c, "ALTER TABLE w ADD COLUMN o1 INT NULL") is None

	code, body = admin_post(gw, "/window/close")
	assert code == 200 and not body["open"], body
	h.assert_blocked(c, "ALTER TABLE w ADD COLUMN o2 INT NULL", "ddl-outside-window")
	cols = db().columns(SCHEMA, "w")
	assert cols == ["id", "v", "o1"], cols


def test_prepared_ddl_is_judged_again_at_execute():
	"""A DDL prepared while the window was open does not run once it closed."""
	h.require_proxy("windows are ddlgate's")
	gw = closed_window()
	code, _ = admin_post(gw, "/window/open?minutes=5")
	assert code == 200, code
	before = snapshot()
	proc = subprocess.Popen(["perl", "-e", PERL_PREPARE, gw.host, str(gw.port),
				 h.APP_USER, h.APP_PASSWORD, SCHEMA,
				 "ALTER TABLE w ADD COLUMN late INT NULL", "pause"],
				stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
				text=True)
	try:
		assert proc.stdout.readline().strip() == "PREPARED", proc.stderr.read()
		code, _ = admin_post(gw, "/window/close")
		assert code == 200, code
		out, err = proc.communicate("go\n", timeout=60)
	finally:
		if proc.poll() is None:
			proc.kill()
	assert out.startswith("ERR 1290 ddlgate: blocked by ddl-outside-window:"), (out, err)
	assert snapshot() == before, "the prepared ALTER reached the server"


def test_sighup_reloads_windows():
	h.require_proxy("reload is ddlgate's")
	gw = closed_window()
	c = h.connect(gw, database=SCHEMA)
	h.assert_blocked(c, "ALTER TABLE w ADD COLUMN r1 INT NULL", "ddl-outside-window")
	conf = dict(gw.conf)
	conf["window"] = {"schedule": None}
	gw.write_config(conf)
	gw.sighup()
	h.wait_for(lambda: h.run_err(c, "ALTER TABLE w ADD COLUMN r1 INT NULL") is None, 5,
		   "the reload to drop the window", interval=0.1)
	st = gw.status()
	assert not st["window"]["configured"] and st["window"]["open"], st["window"]


def guarded_session(*setup):
	"""A fresh schema plus the setup statements run as root ({} stands for
	the schema), a ddlgate with live guards probing as h.PROBER, and an
	application session through it: (db, gw, session)."""
	fresh_schema()
	d = db()
	for sql in setup:
		d.query(sql.format(f"`{SCHEMA}`"))
	gw = h.Ddlgate(d, {"guard": h.guard_section(probe_timeout_ms=3000)})
	c = h.connect(gw, database=SCHEMA)
	assert h.run_err(c, "SET SESSION lock_wait_timeout = 10") is None
	return d, gw, c


def test_unique_index_guarded_by_live_probe():
	h.require_proxy("live guards are ddlgate's")
	d, gw, c = guarded_session(
		"CREATE TABLE {}.dup (id INT PRIMARY KEY, email VARCHAR(50))",
		"INSERT INTO {}.dup VALUES (1, 'a@x'), (2, 'a@x'), (3, NULL), (4, NULL)",
		"CREATE TABLE {}.nodup (id INT PRIMARY KEY, email VARCHAR(50))",
		"INSERT INTO {}.nodup VALUES (1, 'a@x'), (2, 'b@x'), (3, NULL), (4, NULL)")
	h.assert_blocked(c, "ALTER TABLE dup ADD UNIQUE INDEX dup_email (email)", "unique-unguarded")
	h.assert_blocked(c, "CREATE UNIQUE INDEX dup_email ON dup (email)", "unique-unguarded")
	assert h.run_err(c, "ALTER TABLE nodup ADD UNIQUE INDEX nodup_email (email)") is None
	idx = d.query("SELECT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS WHERE "
		      "TABLE_SCHEMA=%s AND INDEX_NAME LIKE %s ORDER BY 1", (SCHEMA, "%email"))
	assert [tuple(r) for r in idx] == [("nodup", "nodup_email")], idx
	# rule hits, decisions and probe times are in the metrics
	code, body = gw.admin_get("/metrics")
	assert code == 200
	assert 'ddlgate_rule_hits_total{rule="unique-unguarded"} 2' in body, body
	assert 'ddlgate_statements_total{kind="ddl",decision="block"} 2' in body, body
	count = [l for l in body.splitlines() if l.startswith("ddlgate_probe_duration_seconds_count")]
	assert count and int(float(count[0].split()[-1])) >= 2, count


def test_destructive_ddl_guarded_by_live_probe():
	h.require_proxy("live guards are ddlgate's")
	d, gw, c = guarded_session(
		"CREATE TABLE {}.full_t (id INT PRIMARY KEY)",
		"INSERT INTO {}.full_t VALUES (1), (2)",
		"CREATE TABLE {}.empty_t (id INT PRIMARY KEY)")
	h.assert_blocked(c, "DROP TABLE full_t", "drop-table")
	h.assert_blocked(c, "CREATE OR REPLACE TABLE full_t (id INT PRIMARY KEY)", "drop-table")
	assert h.run_err(c, "DROP TABLE empty_t") is None
	# a table that does not exist holds no data
	assert h.run_err(c, "CREATE OR REPLACE TABLE brand_new (id INT PRIMARY KEY)") is None
	tables = [r[0] for r in d.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
					"TABLE_SCHEMA=%s ORDER BY 1", (SCHEMA,))]
	assert tables == ["brand_new", "full_t", "w"], tables
	assert d.count(SCHEMA, "full_t") == 2


if __name__ == "__main__":
	h.main(globals())
