#!/usr/bin/python3
# Enforcement tests: audit records per decision and outcome, secrets, on_failure = block, SIGTERM flush.
"""
After allowed, blocked, failing (missing table: 1146) and secret-bearing
statements, the audit file holds one record per statement with the right
decision and outcome and no secret, and `ddlgate audit verify` accepts it.
With [audit] path = /dev/full, SELECT works while DDL is refused with
audit-unavailable and never reaches the server. 200 DDL then SIGTERM leave
200 records with an intact chain. A SIGHUP that changes [audit] record
applies it to the next statement. /metrics counts every record written in
the audit write histogram and the writer's records counter.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_admin import metrics  # noqa: E402

SCHEMA = "aud"
SECRET1 = "S3cretPassw0rd-aud"
SECRET2 = "An0ther-Secret-aud"


def db():
	return h.shared_mariadb()


def fresh_schema():
	d = db()
	d.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
	d.query(f"CREATE DATABASE `{SCHEMA}`")
	d.query("DROP USER IF EXISTS 'aud_u'@'127.0.0.1'")


def gateway_with_audit(audit_path=None, **audit):
	"""A ddlgate whose [audit] path is its own directory's audit.jsonl
	(or audit_path)."""
	gw = h.Ddlgate(db(), start=False)
	conf = dict(gw.conf)
	conf["audit"] = {"path": audit_path or gw.audit, **audit}
	gw.write_config(conf)
	gw.start()
	return gw


def records(path):
	with open(path) as f:
		return [json.loads(line) for line in f if line.strip()]


def verify(path):
	r = h.run([os.environ["DDLGATE_BIN"], "audit", "verify", path])
	return r.returncode, r.stdout + r.stderr


def secret_free_records(path):
	"""The records of path, after checking that neither secret is in it."""
	with open(path) as f:
		text = f.read()
	assert SECRET1 not in text and SECRET2 not in text, "a password reached the audit log"
	return records(path)


def session(gw, **kw):
	"""A connection to SCHEMA through gw whose DDL passes lock-wait-unbounded."""
	c = h.connect(gw, database=SCHEMA, **kw)
	assert h.run_err(c, "SET SESSION lock_wait_timeout = 10") is None
	return c


def by_statement(recs, needle):
	"""The one answer record of the statement: its outcome record (whose
	intent, written ahead, is checked to be there) or its single record."""
	found = [r for r in recs if needle in r["statement"] and r.get("phase") != "intent"]
	assert len(found) == 1, f"{len(found)} records for {needle!r}: {found}"
	rec = found[0]
	if rec.get("phase") == "outcome":
		intent = [r for r in recs if r["seq"] == rec["intent"]]
		assert intent and intent[0]["phase"] == "intent", (rec, intent)
		assert intent[0]["statement"] == rec["statement"], (rec, intent)
		assert intent[0]["outcome"] == "pending" and intent[0]["seq"] < rec["seq"], intent
	return rec


def test_records_decisions_outcomes_and_no_secret():
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway_with_audit(record="writes")
	c = session(gw)
	assert h.run_err(c, "CREATE TABLE a1 (id INT PRIMARY KEY, v INT)") is None
	assert h.run_err(c, "INSERT INTO a1 VALUES (1, 1)") is None
	assert h.scalar(c, "SELECT COUNT(*) FROM a1") == 1
	err = h.run_err(c, "DROP TABLE a1")
	assert err and err[0] == 1290 and "drop-table" in err[1], err
	err = h.run_err(c, "ALTER TABLE missing_t ADD COLUMN c INT NULL")
	assert err and err[0] == 1146, err
	assert h.run_err(c, f"CREATE USER 'aud_u'@'127.0.0.1' IDENTIFIED BY '{SECRET1}'") is None
	assert h.run_err(c, f"ALTER USER 'aud_u'@'127.0.0.1' IDENTIFIED BY '{SECRET2}'") is None
	# a migration session's DDL says so
	m = session(gw)
	assert h.scalar(m, "SELECT GET_LOCK('prisma_migrate', 10)") == 1
	assert h.run_err(m, "CREATE TABLE a2 (id INT PRIMARY KEY)") is None
	m.close()
	c.close()
	assert gw.stop() == 0

	recs = secret_free_records(gw.audit)
	create = by_statement(recs, "CREATE TABLE a1")
	assert create["decision"] == "allow" and create["outcome"] == "ok", create
	assert create["kind"] == "ddl" and create["session"] == "app", create
	assert create["user"] == h.APP_USER and create["schema"] == SCHEMA, create
	ins = by_statement(recs, "INSERT INTO a1")
	assert ins["outcome"] == "ok" and ins["affected_rows"] == 1, ins
	assert not [r for r in recs if r["statement"].startswith("SELECT COUNT")], "SELECT recorded"
	drop = by_statement(recs, "DROP TABLE a1")
	assert drop["decision"] == "block" and drop["outcome"] == "not_sent", drop
	assert any(x["id"] == "drop-table" for x in drop["rules"]), drop
	fail = by_statement(recs, "missing_t")
	assert fail["outcome"] == "error" and fail["error_code"] == 1146, fail
	user = by_statement(recs, "CREATE USER")
	assert user["outcome"] == "ok" and "<redacted>" in user["statement"], user
	mig = by_statement(recs, "CREATE TABLE a2")
	assert mig["session"] == "migration" and "prisma" in json.dumps(mig["migration"]), mig
	# the table really exists; the dropped one was never dropped
	assert db().query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s",
			  (SCHEMA,))[0][0] == 2
	code, out = verify(gw.audit)
	assert code == 0, out


def test_unwritable_audit_log_refuses_ddl_only():
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway_with_audit(audit_path="/dev/full")
	c = h.connect(gw, database=SCHEMA)
	assert h.scalar(c, "SELECT 1 + 1") == 2
	for sql in ("CREATE TABLE never1 (id INT PRIMARY KEY)",
		    "CREATE TABLE never2 (id INT PRIMARY KEY)"):
		err = h.run_err(c, sql)
		assert err and err[0] == 1290, err
		assert err[1].startswith("ddlgate: blocked by audit-unavailable: the audit log cannot be "
					 "written"), err[1]
	assert db().query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s",
			  (SCHEMA,))[0][0] == 0, "DDL reached the server"
	# other traffic continues
	assert h.scalar(c, "SELECT COUNT(*) FROM information_schema.SCHEMATA") >= 1
	c.close()


def test_sigterm_flushes_every_record():
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway_with_audit()
	c = session(gw)
	for i in range(200):
		assert h.run_err(c, f"CREATE TABLE s{i} (id INT PRIMARY KEY)") is None
	gw.sigterm()
	assert gw.wait(30) == 0
	recs = records(gw.audit)
	ddl = [r for r in recs if r["kind"] == "ddl" and r.get("phase") == "outcome"]
	assert len(ddl) == 200, len(ddl)
	assert len([r for r in recs if r.get("phase") == "intent"]) == 200
	assert [r["seq"] for r in recs] == list(range(recs[0]["seq"], recs[0]["seq"] + len(recs)))
	assert all(r["outcome"] == "ok" for r in ddl)
	code, out = verify(gw.audit)
	assert code == 0, out


def test_inner_statement_objects_are_recorded():
	"""A DDL carried inside another statement (EXECUTE IMMEDIATE) names the
	table it changes in its record, as the migration-conflict check sees it."""
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	db().query(f"CREATE TABLE `{SCHEMA}`.inner_t (id INT PRIMARY KEY)")
	gw = gateway_with_audit()
	c = session(gw)
	assert h.run_err(c, "EXECUTE IMMEDIATE 'ALTER TABLE inner_t ADD COLUMN c INT NULL'") is None
	c.close()
	assert gw.stop() == 0
	rec = by_statement(records(gw.audit), "EXECUTE IMMEDIATE")
	assert rec["outcome"] == "ok", rec
	assert f"{SCHEMA}.inner_t" in rec["objects"], rec


def checksums(tables):
	return {t: db().query(f"CHECKSUM TABLE `{SCHEMA}`.`{t}`")[0][1] for t in tables}


def test_write_records_name_the_table_the_server_changed():
	"""record = writes: the record of a single-table INSERT, REPLACE,
	UPDATE or DELETE names the table it wrote; the server says which one
	changed (CHECKSUM TABLE before and after each). A write to several
	tables names none rather than a wrong one (prepared executes:
	test_prepared_params)."""
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	for t in ("a", "b", "c d"):
		db().query(f"CREATE TABLE `{SCHEMA}`.`{t}` (id INT PRIMARY KEY, v INT)")
	db().query(f"INSERT INTO `{SCHEMA}`.b VALUES (7, 7)")
	gw = gateway_with_audit(record="writes")
	c = session(gw)
	writes = [
		("INSERT INTO a VALUES (1, 1)", ["a"]),
		("INSERT IGNORE INTO `c d` (id, v) SELECT id, v FROM b", ["c d"]),
		("UPDATE a SET v = 2 WHERE id = 1", ["a"]),
		("REPLACE INTO b SET id = 8, v = 8", ["b"]),
		(f"DELETE FROM {SCHEMA}.b WHERE id = 8", ["b"]),
		("UPDATE a JOIN b ON a.id < b.id SET a.v = b.v, b.v = 0", None),
		("DELETE a FROM a JOIN `c d` ON a.id < `c d`.id", None),
	]
	for sql, want in writes:
		before = checksums(["a", "b", "c d"])
		assert h.run_err(c, sql) is None, sql
		after = checksums(["a", "b", "c d"])
		changed = sorted(t for t in before if before[t] != after[t])
		if want is not None:
			assert changed == want, (sql, changed)
	c.close()
	assert gw.stop() == 0
	recs = records(gw.audit)
	for sql, want in writes:
		rec = by_statement(recs, sql)
		assert rec["objects"] == ([f"{SCHEMA}.{t}" for t in want] if want else []), rec


def wait_reloaded(gw, before, timeout=10):
	"""Waits until the log says the configuration was reloaded once more
	than `before` times."""
	deadline = time.monotonic() + timeout
	while h.tail(gw.log, 10 ** 7).count("configuration reloaded") <= before:
		assert time.monotonic() < deadline, "no reload after SIGHUP:\n" + gw.logs()
		time.sleep(0.05)


def test_sighup_applies_audit_record():
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway_with_audit(record="ddl")
	c = h.connect(gw, database=SCHEMA)
	assert h.run_err(c, "CREATE TABLE r1 (id INT PRIMARY KEY)") is None
	assert h.run_err(c, "INSERT INTO r1 VALUES (1)") is None
	time.sleep(0.3)  # an unwanted record would have been written by now
	assert not [r for r in records(gw.audit) if "INSERT" in r["statement"]]

	conf = dict(gw.conf)
	conf["audit"] = dict(conf["audit"], record="writes")
	reloads = h.tail(gw.log, 10 ** 7).count("configuration reloaded")
	gw.write_config(conf)
	gw.sighup()
	wait_reloaded(gw, reloads)
	assert h.run_err(c, "INSERT INTO r1 VALUES (2)") is None
	deadline = time.monotonic() + 5
	while not [r for r in records(gw.audit) if "INSERT INTO r1 VALUES (2)" in r["statement"]]:
		assert time.monotonic() < deadline, "record = writes not applied by SIGHUP"
		time.sleep(0.05)
	assert not [r for r in records(gw.audit) if "VALUES (1)" in r["statement"]]
	code, out = verify(gw.audit)
	assert code == 0, out


def test_metrics_count_audit_writes():
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway_with_audit()
	n = 6
	c = h.connect(gw, database=SCHEMA)
	before = metrics(gw)
	for i in range(n):
		assert h.run_err(c, f"CREATE TABLE m{i} (id INT PRIMARY KEY)") is None
	after = metrics(gw)
	count = "ddlgate_audit_write_duration_seconds_count"
	assert after[count] - before.get(count, 0) >= n, (before.get(count), after[count])
	# every record in the file was counted by the writer, none failed
	assert after["ddlgate_audit_records_total"] == len(records(gw.audit)), after
	assert after["ddlgate_audit_records_total"] - before["ddlgate_audit_records_total"] >= n
	assert after["ddlgate_audit_records_failed_total"] == 0
	assert after["ddlgate_audit_fsyncs_total"] >= 1
	assert after["ddlgate_audit_healthy"] == 1
	assert "ddlgate_guard_probes_total" in after


def intents_and_outcomes(recs, needle):
	"""The (intent, outcome) pairs of the statements containing needle."""
	pairs = []
	by_seq = {r["seq"]: r for r in recs}
	for r in recs:
		if needle in r["statement"] and r.get("phase") == "outcome":
			intent = by_seq.get(r["intent"])
			assert intent and intent.get("phase") == "intent", (r, intent)
			assert intent["outcome"] == "pending" and intent["statement"] == r["statement"]
			pairs.append((intent, r))
	return pairs


def small_fs():
	"""A fresh 256 KiB tmpfs (unmounted at exit), or Skip."""
	import atexit
	import subprocess
	d = h.tmpdir("ddlgate-smallfs-")
	r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", d],
			   capture_output=True, text=True)
	if r.returncode != 0:
		raise h.Skip("cannot mount a small tmpfs: " + r.stderr.strip())
	atexit.register(lambda: subprocess.run(["umount", "-l", d]))
	return d


def test_write_ahead_refuses_ddl_whose_record_has_no_room():
	"""The intent is written and fsynced before the DDL goes to the server:
	on a log file system with less room than the statement's records need,
	a large DDL is refused (audit-unavailable) and never reaches the server,
	while a SELECT and a small DDL still work; the small DDL leaves an
	intent and its outcome, and the log verifies."""
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	d = small_fs()
	path = os.path.join(d, "audit.jsonl")
	gw = gateway_with_audit(audit_path=path)
	c = session(gw)
	pad = "/* " + "x" * 100000 + " */"
	err = h.run_err(c, f"CREATE TABLE big1 (id INT PRIMARY KEY) {pad}")
	assert err and err[0] == 1290, err
	assert err[1].startswith("ddlgate: blocked by audit-unavailable: the audit log cannot be "
				 "written"), err[1]
	assert "no room for this statement's records" in err[1], err[1]
	assert h.scalar(c, "SELECT 40 + 2") == 42
	assert h.run_err(c, "CREATE TABLE small1 (id INT PRIMARY KEY)") is None
	c.close()
	assert gw.stop() == 0
	tables = [r[0] for r in db().query(
		"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s", (SCHEMA,))]
	assert tables == ["small1"], tables

	recs = records(path)
	big = by_statement(recs, "CREATE TABLE big1")
	assert big["decision"] == "block" and big["outcome"] == "not_sent", big
	assert "phase" not in big and "truncated" in big["statement"], big
	assert len(big["statement"]) < 10000
	assert not [r for r in recs if "big1" in r["statement"] and r.get("phase")], recs
	pairs = intents_and_outcomes(recs, "CREATE TABLE small1")
	assert len(pairs) == 1, pairs
	intent, outcome = pairs[0]
	assert outcome["outcome"] == "ok" and outcome["seq"] > intent["seq"], pairs
	assert intent["decision"] == "allow" and intent["duration_us"] == 0, intent
	code, out = verify(path)
	assert code == 0 and "interrupted" not in out, out


def test_write_ahead_pairs_and_show():
	"""A DDL that fails on the server, one that succeeds, and a write under
	record = writes each leave an intent before and an outcome after;
	`audit show` prints each once, with the server's answer."""
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway_with_audit(record="writes")
	c = session(gw)
	assert h.run_err(c, "CREATE TABLE p1 (id INT PRIMARY KEY)") is None
	err = h.run_err(c, "CREATE TABLE p1 (id INT PRIMARY KEY)")
	assert err and err[0] == 1050, err
	assert h.run_err(c, "INSERT INTO p1 VALUES (1), (2)") is None
	# SQL-level PREPARE only prepares: one record, never "ok" as if it ran
	assert h.run_err(c, "PREPARE sp FROM 'CREATE TABLE sp_never (id INT PRIMARY KEY)'") is None
	assert h.run_err(c, "DEALLOCATE PREPARE sp") is None
	c.close()
	assert gw.stop() == 0
	recs = records(gw.audit)
	pairs = intents_and_outcomes(recs, "CREATE TABLE p1")
	assert [o["outcome"] for _, o in pairs] == ["ok", "error"], pairs
	assert pairs[1][1]["error_code"] == 1050
	ins = intents_and_outcomes(recs, "INSERT INTO p1")
	assert len(ins) == 1 and ins[0][1]["affected_rows"] == 2, ins
	prep = by_statement(recs, "sp_never")
	assert prep["outcome"] == "prepared" and "phase" not in prep, prep
	assert len([r for r in recs if "sp_never" in r["statement"]]) == 1, recs
	code, out = verify(gw.audit)
	assert code == 0, out
	r = h.run([os.environ["DDLGATE_BIN"], "audit", "show", gw.audit])
	assert r.returncode == 0, r.stderr
	lines = [x for x in r.stdout.splitlines() if "p1" in x]
	assert len(lines) == 3, r.stdout
	assert "  ok  " in lines[0] and "  error 1050  " in lines[1], lines
	assert "pending" not in r.stdout, r.stdout


def test_account_privilege_and_server_changes_recorded_by_default():
	"""record = ddl (the default) covers accounts, privileges and server
	settings: each is written ahead with its outcome, passwords redacted.
	(server-config-change, which refuses SET GLOBAL outside a window, is
	set to warn here: this test is about what the log holds.)"""
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = h.Ddlgate(db(), start=False)
	conf = dict(gw.conf)
	conf["audit"] = {"path": gw.audit}
	conf['rule "server-config-change"'] = {"action": "warn"}
	gw.write_config(conf)
	gw.start()
	c = h.connect(gw, user="root", password=h.ROOT_PASSWORD, database=SCHEMA)
	stmts = [f"CREATE USER 'aud_u'@'127.0.0.1' IDENTIFIED BY '{SECRET1}'",
		 f"GRANT SELECT ON `{SCHEMA}`.* TO 'aud_u'@'127.0.0.1'",
		 f"SET PASSWORD FOR 'aud_u'@'127.0.0.1' = PASSWORD('{SECRET2}')",
		 "SET GLOBAL max_connections = 151",
		 "SET @@global.max_connections = 151",
		 "SET /*!50000 GLOBAL */ max_connections = 151",
		 f"REVOKE SELECT ON `{SCHEMA}`.* FROM 'aud_u'@'127.0.0.1'",
		 "DROP USER 'aud_u'@'127.0.0.1'"]
	for sql in stmts:
		assert h.run_err(c, sql) is None, sql
	assert h.run_err(c, "SET SESSION sql_mode = DEFAULT") is None
	assert h.scalar(c, "SELECT @@global.max_connections") == 151
	c.close()
	assert gw.stop() == 0
	recs = secret_free_records(gw.audit)
	for needle in ("CREATE USER", "GRANT SELECT", "SET PASSWORD", "SET GLOBAL max_connections",
		       "SET @@global.max_connections", "SET /*!50000 GLOBAL", "REVOKE SELECT",
		       "DROP USER"):
		pairs = intents_and_outcomes(recs, needle)
		assert len(pairs) == 1 and pairs[0][1]["outcome"] == "ok", (needle, recs)
	assert "<redacted>" in by_statement(recs, "SET PASSWORD")["statement"]
	assert not [r for r in recs if "sql_mode" in r["statement"]], "a session SET was recorded"
	code, out = verify(gw.audit)
	assert code == 0, out


PERL_EXECUTES = r"""
use strict; use DBI;
my ($host, $port, $user, $pw, $db) = @ARGV;
my $dbh = DBI->connect("DBI:MariaDB:database=$db;host=$host;port=$port;mariadb_server_prepare=1",
	$user, $pw, { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
$dbh->do("SET SESSION lock_wait_timeout = 10");
my $ddl = $dbh->prepare("CREATE TABLE pp1 (id INT PRIMARY KEY, v VARCHAR(20))");
$ddl->execute;
my $never = $dbh->prepare("CREATE TABLE pp_never (id INT PRIMARY KEY)");
my $ins = $dbh->prepare("INSERT INTO pp1 VALUES (?, ?)");
$ins->execute($_, "v$_") for 1 .. 3;
my $again = eval { $ddl->execute; 1 } ? "ok" : $dbh->err;
print "again $again\n";
"""


def test_prepared_statements_recorded_per_execution():
	"""Server-side prepares (DBD::MariaDB, mariadb_server_prepare=1): a
	prepared DDL leaves a record saying prepared, then an intent and an
	outcome per execution with that execution's answer; a DDL prepared and
	never executed only says prepared; under record = writes each execute
	of an INSERT is recorded with its parameter count and types, never its
	values."""
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway_with_audit(record="writes")
	r = h.run(["perl", "-e", PERL_EXECUTES, gw.host, str(gw.port), h.APP_USER, h.APP_PASSWORD,
		   SCHEMA])
	assert r.returncode == 0, r.stderr + gw.logs()
	assert r.stdout.strip() == "again 1050", r.stdout  # the second execute: table exists
	assert gw.stop() == 0
	recs = records(gw.audit)

	ddl = [x for x in recs if "CREATE TABLE pp1" in x["statement"]]
	single = [x for x in ddl if "phase" not in x]
	assert len(single) == 1 and single[0]["outcome"] == "prepared", ddl
	assert "params" not in single[0], single
	pairs = intents_and_outcomes(recs, "CREATE TABLE pp1")
	assert [o["outcome"] for _, o in pairs] == ["ok", "error"], pairs
	assert pairs[1][1]["error_code"] == 1050, pairs
	assert all(o["params"] == {"count": 0} for _, o in pairs), pairs
	assert len(ddl) == 5, ddl

	never = [x for x in recs if "pp_never" in x["statement"]]
	assert len(never) == 1 and never[0]["outcome"] == "prepared", never
	assert db().query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
			  "AND TABLE_NAME='pp_never'", (SCHEMA,))[0][0] == 0

	ins = intents_and_outcomes(recs, "INSERT INTO pp1")
	assert len(ins) == 3, [x for x in recs if "INSERT" in x["statement"]]
	for intent, outcome in ins:
		assert outcome["statement"] == "INSERT INTO pp1 VALUES (?, ?)", outcome
		# count and types, never values (record_params = types, the default)
		assert outcome["params"]["count"] == 2 and len(outcome["params"]["types"]) == 2
		assert "values" not in outcome["params"] and intent["params"] == outcome["params"]
		assert outcome["outcome"] == "ok" and outcome["affected_rows"] == 1, outcome
	with open(gw.audit) as f:
		text = f.read()
	assert "v2" not in text, "a parameter value reached the audit log"
	code, out = verify(gw.audit)
	assert code == 0, out


def test_unwritable_audit_log_refuses_account_and_server_changes():
	"""Accounts, privileges and server settings only change recorded: with
	an audit log that cannot be written they are refused like DDL and never
	reach the server, while reads go on."""
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway_with_audit(audit_path="/dev/full")
	c = h.connect(gw, user="root", password=h.ROOT_PASSWORD, database=SCHEMA)
	before = h.scalar(c, "SELECT @@global.max_connections")
	for sql in (f"CREATE USER 'aud_u'@'127.0.0.1' IDENTIFIED BY '{SECRET1}'",
		    f"GRANT SELECT ON `{SCHEMA}`.* TO 'app'@'127.0.0.1'",
		    f"SET GLOBAL max_connections = {before + 1}"):
		err = h.run_err(c, sql)
		assert err and err[0] == 1290, (sql, err)
		assert err[1].startswith("ddlgate: blocked by audit-unavailable: the audit log "
					 "cannot be written (/dev/full)"), err[1]
	assert h.scalar(c, "SELECT @@global.max_connections") == before
	assert db().query("SELECT COUNT(*) FROM mysql.user WHERE User = 'aud_u'")[0][0] == 0
	c.close()


def test_crash_between_intent_and_outcome_is_reported_interrupted():
	"""ddlgate killed while the server runs a DDL: the intent is in the log
	(written before the DDL was forwarded), its outcome is not, and
	`audit verify` reports it as interrupted without failing; a restarted
	ddlgate continues the chain and verify still passes."""
	import signal
	import threading
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway_with_audit()
	c = session(gw)
	errs = []
	t = threading.Thread(target=lambda: errs.append(
		h.run_err(c, "CREATE TABLE slow1 (id INT PRIMARY KEY) AS SELECT SLEEP(3) + 1 AS id")))
	t.start()
	deadline = time.monotonic() + 10
	while not (os.path.exists(gw.audit) and "slow1" in open(gw.audit).read()):
		assert time.monotonic() < deadline, "no intent before the DDL ran:\n" + gw.logs()
		time.sleep(0.02)
	gw.proc.send_signal(signal.SIGKILL)
	gw.proc.wait(10)
	t.join(30)
	assert errs and errs[0] is not None, errs  # the client lost its connection
	recs = records(gw.audit)
	assert [r.get("phase") for r in recs if "slow1" in r["statement"]] == ["intent"], recs
	code, out = verify(gw.audit)
	assert code == 0, out
	assert f"interrupted (crash): intent seq {recs[-1]['seq']} has no outcome" in out, out

	gw.start()
	c = session(gw)
	assert h.run_err(c, "CREATE TABLE after1 (id INT PRIMARY KEY)") is None
	c.close()
	assert gw.stop() == 0
	assert intents_and_outcomes(records(gw.audit), "after1")
	code, out = verify(gw.audit)
	assert code == 0 and "interrupted (crash)" in out, out


if __name__ == "__main__":
	h.main(globals())
