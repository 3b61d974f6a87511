#!/usr/bin/python3
# Multi-statement scripts judged in steps: a fix earlier in the script is seen by a later guard.
"""
A migration file such as

    UPDATE t SET u = id WHERE ...;  -- fix the duplicates
    ALTER TABLE t ADD UNIQUE (u);   -- then make the column unique

is often sent as one multi-statement COM_QUERY (dbmate, golang-migrate, the
mariadb client). ddlgate runs the statements before the ALTER first, then
probes the data they left, then judges and sends the ALTER. The client sees
one multi-result answer, as from the server; a refused rest arrives as the
ERR 1290 after the results of the statements that ran, exactly as the
server answers a script whose later statement fails. A script refused
whatever the data (a closed window) is refused whole, before any of it
runs.

Under DDLGATE_DIRECT=1 the passing scripts run against MariaDB itself.
"""

import datetime
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from pymysql.constants import CLIENT  # noqa: E402

def start(schema, sections=None, guard=True):
	"""A fresh schema whose table t holds a duplicate in u (7 twice), and
	a ddlgate with guards (guard=False: without a [guard] account) and an
	audit log in front of it: (db, gw)."""
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	db.fresh_database(schema)
	db.query(f"CREATE TABLE `{schema}`.t (id INT PRIMARY KEY, u INT, note VARCHAR(20))")
	db.query(f"INSERT INTO `{schema}`.t VALUES (1, 7, NULL), (2, 7, NULL), (3, 8, NULL)")
	gw = harness.guarded_gateway(db, sections) if guard else harness.gateway(db, sections)
	return db, gw


def assert_refused_whole(gw, db, schema, rule):
	"""The fix-then-unique script is refused before its UPDATE runs."""
	conn = multi(gw, schema)
	n, err = run_script(conn, "UPDATE t SET u = id WHERE u = 7; "
			    "ALTER TABLE t ADD UNIQUE KEY t_u (u)")
	conn.close()
	assert n == 0, n
	harness.assert_refused(err, rule)
	assert [r[0] for r in db.query(f"SELECT u FROM `{schema}`.t ORDER BY id")] == [7, 7, 8]


def multi(gw, schema):
	"""A PyMySQL connection through gw with multi-statements on."""
	return harness.connect(gw, database=schema, client_flag=CLIENT.MULTI_STATEMENTS)


def run_script(conn, sql):
	"""Runs a multi-statement script, reading every result. Returns
	(number of results read, error or None) as a client sees them."""
	n = 0
	try:
		with conn.cursor() as cur:
			cur.execute(sql)
			n = 1
			while cur.nextset():
				n += 1
		return n, None
	except harness.pymysql.err.MySQLError as e:
		return n, (e.args[0], e.args[1] if len(e.args) > 1 else "")


def unique_on(db, schema, column):
	return bool(db.query(
		"SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s AND "
		"TABLE_NAME='t' AND COLUMN_NAME=%s AND NON_UNIQUE=0 AND INDEX_NAME<>'PRIMARY'",
		(schema, column)))


def assert_probe_passed(gw, needle):
	"""The audit record of the statement with needle: allowed, ran, and
	let through by the duplicates probe (through ddlgate only)."""
	if harness.DIRECT:
		return
	recs = harness.audit_records(gw, needle)
	assert recs and recs[-1]["decision"] != "block", recs
	assert recs[-1]["outcome"] == "ok", recs[-1]
	guard = [r for r in recs[-1]["rules"] if r["id"] == "unique-unguarded"]
	assert guard and guard[0]["guard"] == "probe: no duplicates", recs[-1]


def test_fix_then_unique_passes_pymysql():
	"""The fix and the unique key in one script pass, in two steps; the
	client reads every result (a wrong sequence id or a missing
	more-results flag would make PyMySQL fail)."""
	schema = "step_pymysql"
	db, gw = start(schema)
	conn = multi(gw, schema)
	n, err = run_script(conn, "SELECT COUNT(*) FROM t; UPDATE t SET u = id WHERE u = 7; "
			    "ALTER TABLE t ADD UNIQUE KEY t_u (u); SELECT 'done'")
	assert err is None, err
	assert n == 4, f"four results expected, got {n}"
	# the connection is still in step: one more command on it works
	assert harness.scalar(conn, "SELECT COUNT(*) FROM t") == 3
	# a step that ends with a result set (its EOF carries the more-results
	# flag ddlgate sets), and the rows of each result as the client reads them
	with conn.cursor() as cur:
		cur.execute("UPDATE t SET note = CONCAT('n', id); SELECT note FROM t ORDER BY id; "
			    "ALTER TABLE t ADD UNIQUE KEY t_note (note); SELECT COUNT(*) FROM t")
		got = []
		while True:
			got.append(cur.fetchall())
			if not cur.nextset():
				break
	assert got == [(), (("n1",), ("n2",), ("n3",)), (), ((3,),)], got
	conn.close()
	assert unique_on(db, schema, "u")
	assert unique_on(db, schema, "note")
	assert_probe_passed(gw, "ADD UNIQUE KEY t_u")


def test_two_steps_and_the_cli():
	"""Two data-dependent statements in one script go in three steps; the
	mariadb client shows every result and exits 0."""
	harness.require_programs("mariadb", install="apt-get install mariadb-client")
	schema = "step_cli"
	db, gw = start(schema)
	db.query(f"CREATE TABLE `{schema}`.s (id INT PRIMARY KEY, v INT)")
	db.query(f"INSERT INTO `{schema}`.s VALUES (1, 5), (2, 5)")
	script = ("UPDATE t SET u = id WHERE u = 7;\n"
		  "ALTER TABLE t ADD UNIQUE KEY t_u (u);\n"
		  "UPDATE s SET v = id;\n"
		  "ALTER TABLE s ADD UNIQUE KEY s_v (v);\n"
		  "SELECT CONCAT('rows:', COUNT(*)) FROM s;\n")
	r = harness.mariadb_cli(gw, "-e", script, database=schema)
	print(r.stdout, r.stderr)
	assert r.returncode == 0, r.stderr
	assert "rows:2" in r.stdout, r.stdout
	assert unique_on(db, schema, "u")
	assert db.query(f"SELECT COUNT(*) FROM information_schema.STATISTICS WHERE "
			f"TABLE_SCHEMA='{schema}' AND INDEX_NAME='s_v'")[0][0] == 1


def test_rest_refused_after_the_prefix_ran():
	"""The fix misses a duplicate: the UPDATE runs and its result arrives,
	then the ALTER is refused with ERR 1290 (as the server answers a
	script whose second statement fails); no index."""
	harness.require_proxy("the refusal is ddlgate's")
	schema = "step_refuse"
	db, gw = start(schema)
	conn = multi(gw, schema)
	n, err = run_script(conn, "UPDATE t SET note = 'seen' WHERE id = 1; "
			    "ALTER TABLE t ADD UNIQUE KEY t_u (u)")
	assert n == 1, f"the UPDATE's result must arrive first, got {n} results"
	harness.assert_refused(err, "unique-unguarded", "the ALTER")
	# the connection is usable afterwards
	assert harness.scalar(conn, "SELECT note FROM t WHERE id = 1") == "seen"
	conn.close()
	assert db.query(f"SELECT note FROM `{schema}`.t WHERE id = 1")[0][0] == "seen"
	assert not unique_on(db, schema, "u")
	harness.wait_for(lambda: harness.audit_records(gw, "ADD UNIQUE KEY t_u"), 5,
			 "the refused ALTER's audit record")
	recs = harness.audit_records(gw, "ADD UNIQUE KEY t_u")
	assert recs[-1]["decision"] == "block", recs
	assert recs[-1]["outcome"] == "not_sent", recs[-1]

	# the mariadb client shows the same: an error, exit 1, no index
	r = harness.mariadb_cli(gw, "-e", "UPDATE t SET note = 'cli' WHERE id = 2; "
				"ALTER TABLE t ADD UNIQUE KEY t_u (u)", database=schema)
	assert r.returncode != 0 and "unique-unguarded" in r.stderr, r.stdout + r.stderr
	assert db.query(f"SELECT note FROM `{schema}`.t WHERE id = 2")[0][0] == "cli"
	assert not unique_on(db, schema, "u")


def table_state(db, schema):
	"""What a user compares after a migration: the table's definition
	(schema name left out) and its rows."""
	ddl = db.query(f"SHOW CREATE TABLE `{schema}`.t")[0][1]
	return ddl, db.query(f"SELECT id, u, note FROM `{schema}`.t ORDER BY id")


FIX_THEN_UNIQUE = "UPDATE t SET u = id WHERE u = 7; ALTER TABLE t ADD UNIQUE KEY t_u (u)"


def test_fix_inside_transaction_passes_pymysql():
	"""Inside BEGIN (dbmate, TypeORM and drizzle run a migration so), the
	fix and the unique key in one script pass: the probe between the
	steps runs on the session's own connection and sees the UPDATE that
	is not committed yet. The table ends as when the script runs against
	MariaDB itself."""
	schema = "step_trx"
	db, gw = start(schema)
	conn = multi(gw, schema)
	conn.begin()
	n, err = run_script(conn, FIX_THEN_UNIQUE)
	assert err is None, err
	assert n == 2, f"two results expected, got {n}"
	# the connection goes on in the transaction the ALTER committed
	assert harness.scalar(conn, "SELECT COUNT(DISTINCT u) FROM t") == 3
	conn.close()
	assert unique_on(db, schema, "u")
	direct = schema + "_direct"
	db.fresh_database(direct)
	db.query(f"CREATE TABLE `{direct}`.t (id INT PRIMARY KEY, u INT, note VARCHAR(20))")
	db.query(f"INSERT INTO `{direct}`.t VALUES (1, 7, NULL), (2, 7, NULL), (3, 8, NULL)")
	dconn = harness.connect(db, database=direct, client_flag=CLIENT.MULTI_STATEMENTS)
	dconn.begin()
	assert run_script(dconn, FIX_THEN_UNIQUE) == (2, None)
	dconn.close()
	assert table_state(db, schema) == table_state(db, direct)
	assert_probe_passed(gw, "ADD UNIQUE KEY t_u")


def test_step_ending_with_ddl():
	"""A step whose last statement is a DDL: its answer goes on once its
	audit record is durable, then the rest is judged on the data the
	step left."""
	schema = "step_ddl_end"
	db, gw = start(schema)
	conn = multi(gw, schema)
	n, err = run_script(conn, "UPDATE t SET u = id WHERE u = 7; ALTER TABLE t ADD COLUMN w INT "
			    "NULL; ALTER TABLE t ADD UNIQUE KEY t_u (u)")
	conn.close()
	assert (n, err) == (3, None), (n, err)
	assert unique_on(db, schema, "u")
	assert db.column_exists(schema, "t", "w")
	if not harness.DIRECT:
		rec = harness.audit_records(gw, "ADD COLUMN w")[-1]
		assert rec["outcome"] == "ok", rec


def cli_script(gw, schema, script):
	"""Runs script with the mariadb client, each `//`-ended part as one
	multi-statement query (as a migration runner sends a file)."""
	return harness.mariadb_cli(gw, "--delimiter=//", "-e", script, database=schema)


def test_fix_inside_transaction_passes_cli():
	"""The same through the mariadb client: BEGIN, then the fix and the
	key as one query; it shows every result and exits 0."""
	harness.require_programs("mariadb", install="apt-get install mariadb-client")
	schema = "step_trx_cli"
	db, gw = start(schema)
	r = cli_script(gw, schema, "BEGIN//\n" + FIX_THEN_UNIQUE + "; SELECT CONCAT('u:', "
		       "GROUP_CONCAT(u ORDER BY id)) FROM t//\n")
	print(r.stdout, r.stderr)
	assert r.returncode == 0, r.stderr
	assert "u:1,2,8" in r.stdout, r.stdout
	assert unique_on(db, schema, "u")


def test_unfixed_script_in_transaction_is_refused_after_the_update():
	"""Inside BEGIN, a script whose UPDATE leaves the duplicates: the
	UPDATE runs and its result arrives, then the ALTER is refused with
	unique-unguarded, the shape of answer MariaDB gives when a script's
	second statement fails (one result, then the error). The transaction
	stays open with the UPDATE in it; no index."""
	harness.require_proxy("the refusal is ddlgate's")
	schema = "step_trx_refuse"
	db, gw = start(schema)
	script = "UPDATE t SET note = 'seen' WHERE id = 1; ALTER TABLE t ADD UNIQUE KEY t_u (u)"
	# MariaDB's own answer to the script: the UPDATE's result, then the
	# ALTER's error (1062, the duplicates); it changes nothing here
	direct = harness.connect(db, database=schema, client_flag=CLIENT.MULTI_STATEMENTS)
	dn, derr = run_script(direct, "UPDATE t SET note = NULL WHERE id = 1; "
			      "ALTER TABLE t ADD UNIQUE KEY t_u (u)")
	direct.close()
	assert dn == 1 and derr is not None and derr[0] == 1062, (dn, derr)
	conn = multi(gw, schema)
	conn.begin()
	n, err = run_script(conn, script)
	assert n == dn, f"the UPDATE's result must arrive first, got {n} results"
	harness.assert_refused(err, "unique-unguarded", "the ALTER")
	# the session goes on, in its transaction
	assert harness.scalar(conn, "SELECT note FROM t WHERE id = 1") == "seen"
	assert harness.scalar(conn, "SELECT @@in_transaction") == 1
	conn.rollback()
	assert harness.scalar(conn, "SELECT note FROM t WHERE id = 1") is None
	conn.close()
	assert not unique_on(db, schema, "u")
	harness.wait_for(lambda: harness.audit_records(gw, "ADD UNIQUE KEY t_u"), 5,
			 "the refused ALTER's audit record")
	rec = harness.audit_records(gw, "ADD UNIQUE KEY t_u")[-1]
	assert rec["decision"] == "block" and rec["outcome"] == "not_sent", rec
	guard = [r for r in rec["rules"] if r["id"] == "unique-unguarded"]
	assert guard and "duplicate" in (guard[0]["guard"] or ""), rec

	# the mariadb client: the UPDATE's result, then the error, exit 1
	harness.require_programs("mariadb", install="apt-get install mariadb-client")
	r = cli_script(gw, schema, "BEGIN//\n" + script + "//\nSELECT 'after'//\n")
	print(r.stdout, r.stderr)
	assert r.returncode != 0 and "unique-unguarded" in r.stderr, r.stdout + r.stderr
	assert "after" not in r.stdout, r.stdout
	assert not unique_on(db, schema, "u")


def test_slow_probe_between_steps_is_drained_before_the_refusal():
	"""Between the steps the probe on the session's own connection waits
	for a table lock another session took meanwhile, past
	probe_timeout_ms: the key stays unguarded and is refused, but the ERR
	reaches the client only once the server answered the late probe, and
	the session reads its own answers afterwards."""
	harness.require_proxy("the refusal is ddlgate's")
	schema = "step_slow"
	db, gw = start(schema, {"guard": {"probe_timeout_ms": "300"}})
	conn = multi(gw, schema)
	locker = harness.connect(gw, database=schema)
	result = {}

	def script():
		t0 = time.monotonic()
		result["got"] = run_script(conn, "UPDATE t SET u = id WHERE u = 7; DO SLEEP(1); "
					   "ALTER TABLE t ADD UNIQUE KEY t_u (u)")
		result["took"] = time.monotonic() - t0

	t = threading.Thread(target=script)
	t.start()
	try:
		time.sleep(0.4)  # the UPDATE ran, the step sleeps
		assert harness.run_err(locker, "LOCK TABLES t WRITE") is None
		time.sleep(2.0)  # the step ended, the probes timed out
		assert t.is_alive(), f"refused before the late probe answered: {result}"
	finally:
		assert harness.run_err(locker, "UNLOCK TABLES") is None
		t.join(20)
	locker.close()
	n, err = result["got"]
	assert n == 2, result
	harness.assert_refused(err, "unique-unguarded", "the ALTER")
	assert result["took"] >= 2.3, result
	assert harness.scalar(conn, "SELECT COUNT(DISTINCT u) FROM t") == 3
	conn.close()
	assert not unique_on(db, schema, "u")


def test_insert_then_required_column_is_refused():
	"""The table is empty before the script and holds a row after its
	INSERT: ADD COLUMN NOT NULL without DEFAULT is judged on the row."""
	harness.require_proxy("the refusal is ddlgate's")
	schema = "step_required"
	db, gw = start(schema)
	db.query(f"CREATE TABLE `{schema}`.e (id INT PRIMARY KEY)")
	conn = multi(gw, schema)
	n, err = run_script(conn, "INSERT INTO e VALUES (1); ALTER TABLE e ADD COLUMN c INT NOT NULL")
	conn.close()
	assert n == 1, n
	harness.assert_refused(err, "add-required-column", "ADD COLUMN NOT NULL")
	assert db.count(schema, "e") == 1
	assert not db.column_exists(schema, "e", "c")


def test_failing_prefix_stops_the_script():
	"""A prefix statement that fails ends the script, as on the server:
	the client gets that error, the ALTER never runs."""
	schema = "step_fail"
	db, gw = start(schema)
	conn = multi(gw, schema)
	n, err = run_script(conn, "UPDATE t SET nosuch = id WHERE u = 7; "
			    "ALTER TABLE t ADD UNIQUE KEY t_u (u)")
	conn.close()
	assert err is not None and err[0] == 1054, err
	assert not unique_on(db, schema, "u")
	if not harness.DIRECT:
		# the record of a statement never sent is written after the answer
		harness.wait_for(lambda: harness.audit_records(gw, "ADD UNIQUE KEY t_u"), 5,
				 "the ALTER's audit record")
		recs = harness.audit_records(gw, "ADD UNIQUE KEY t_u")
		assert recs[-1]["outcome"] == "not_sent", recs


def other_day_schedule():
	day = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
	return day.strftime("%a") + " 02:00-03:00 UTC"


def test_decidable_script_is_refused_whole():
	"""Outside the maintenance window the ALTER is refused whatever the
	data: the script is refused before its UPDATE runs."""
	harness.require_proxy("windows are ddlgate's")
	schema = "step_window"
	db, gw = start(schema, {"window": {"schedule": other_day_schedule()}})
	assert_refused_whole(gw, db, schema, "ddl-outside-window")


# Mattermost's way to add a column once: the branch is chosen by the server.
CONDITIONAL = ("SET @s = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
	       "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND COLUMN_NAME = 'c') > 0, "
	       "'SELECT 1', 'ALTER TABLE t ADD COLUMN c INT'); "
	       "PREPARE p FROM @s; EXECUTE p; DEALLOCATE PREPARE p")


def test_conditional_ddl_script_is_judged_by_its_branch():
	"""The conditional DDL as one script: the SET runs as a step, ddlgate
	reads @s on the session's own connection, and the PREPARE is judged as
	the text the server will run. Outside the window the ALTER branch is
	refused with ddl-outside-window after the SET's result; the SELECT 1
	branch runs. With the window open the ALTER branch runs, recorded."""
	harness.require_proxy("windows are ddlgate's")
	schema = "step_conditional"
	db, gw = start(schema, {"window": {"schedule": other_day_schedule()}})
	conn = multi(gw, schema)
	n, err = run_script(conn, CONDITIONAL)
	assert n == 1, f"the SET's result must arrive first, got {n} results"
	harness.assert_refused(err, "ddl-outside-window", "the ALTER branch")
	assert harness.scalar(conn, "SELECT @s") == "ALTER TABLE t ADD COLUMN c INT"
	assert not db.column_exists(schema, "t", "c")
	harness.wait_for(lambda: harness.audit_records(gw, "PREPARE p FROM @s"), 5,
			 "the refused branch's audit record")
	rec = harness.audit_records(gw, "PREPARE p FROM @s")[-1]
	assert rec["decision"] == "block" and rec["outcome"] == "not_sent", rec
	assert [r for r in rec["rules"] if r["id"] == "ddl-outside-window"], rec

	# the column is there: the SELECT 1 branch runs, window or not
	db.query(f"ALTER TABLE `{schema}`.t ADD COLUMN c INT")
	assert run_script(conn, CONDITIONAL) == (4, None)
	conn.close()

	# the window opens: the ALTER branch runs and is recorded
	db.query(f"ALTER TABLE `{schema}`.t DROP COLUMN c")
	gw.admin_post("/window/open?minutes=5")
	conn = multi(gw, schema)
	assert run_script(conn, CONDITIONAL) == (4, None)
	conn.close()
	assert db.column_exists(schema, "t", "c")
	rec = harness.audit_records(gw, "PREPARE p FROM @s")[-1]
	assert rec["decision"] == "allow" and rec["outcome"] == "prepared", rec


def test_without_probes_the_script_is_decided_whole():
	"""No [guard] account: no probe can tell the data, so the unique key is
	refused whatever the UPDATE does, and the script is refused whole,
	before the UPDATE runs."""
	harness.require_proxy("the refusal is ddlgate's")
	schema = "step_noguard"
	db, gw = start(schema, guard=False)
	assert_refused_whole(gw, db, schema, "unique-unguarded")


def test_held_script_waits_whole_then_runs_in_steps():
	"""[migration] conflict = hold: while another account's migration runs,
	the script waits before any of it runs (the UPDATE has not run); once
	the migration ends it runs in steps and passes."""
	harness.require_proxy("hold is ddlgate's")
	schema = "step_hold"
	db = harness.shared_mariadb(accounts=(harness.PROBER, harness.MIGRATOR))
	_, gw = start(schema, {"migration": {"conflict": "hold", "hold_timeout_ms": "10000"}})
	mig = harness.connect_as(gw, harness.MIGRATOR, database=schema)
	assert harness.scalar(mig, '/* ddlgate:migration name="m1" */ SELECT 1') == 1
	conn = multi(gw, schema)
	result = {}

	def script():
		result["got"] = run_script(conn, "UPDATE t SET u = id WHERE u = 7; "
					   "ALTER TABLE t ADD UNIQUE KEY t_u (u)")

	t = threading.Thread(target=script)
	t.start()
	try:
		time.sleep(1.0)
		assert t.is_alive(), f"the script did not wait: {result}"
		assert [r[0] for r in db.query(f"SELECT u FROM `{schema}`.t ORDER BY id")] == [7, 7, 8]
	finally:
		mig.close()
		t.join(15)
	conn.close()
	assert not t.is_alive()
	assert result["got"] == (2, None), result
	assert unique_on(db, schema, "u")


if __name__ == "__main__":
	harness.main(globals())
