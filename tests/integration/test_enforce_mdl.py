#!/usr/bin/python3
# Enforcement tests: a DDL's metadata-lock wait is bounded, retried unseen, and refused naming the blocker.
"""
A transaction left open on table t (one SELECT, then idle) makes an ALTER
wait for its metadata lock, and every later query on t queues behind the
waiting ALTER. With [guard] ddl_lock_wait_ms set, ddlgate stops the ALTER's
wait at the bound (KILL QUERY ID from the guard's watcher), lets the queued
queries run, and sends the ALTER again after a backoff: the application's
queries never wait much longer than the bound and none fails; once the old
transaction commits the ALTER succeeds on a later attempt and its client
sees only that success. Kept open past ddl_lock_deadline_ms, the ALTER is
refused with lock-wait-exceeded naming the blocking connection, and t is
unchanged. With ddl_lock_wait_ms = 0 the same run shows the pile-up; the
last test prints both side by side.

With [guard] long_transaction_ms, ddlgate looks first: while a transaction
older than that holds t, the ALTER is not sent at all (nothing queues), and
goes once the transaction ended, or is refused unsent at the deadline. A
DDL inside a multi-statement command or run as a prepared statement is
bounded the same way but cannot be sent again unseen: it fails with
lock-wait-exceeded instead of stalling the application.
"""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pymysql  # noqa: E402
from pymysql.constants import CLIENT  # noqa: E402

SCHEMA = "mdl"
BOUND_MS = 1000
# The guard's watcher reads other accounts' threads and interrupts them.
WATCHER = h.Account("mdlwatch", "mdlwatch-secret", "SELECT, PROCESS, CONNECTION ADMIN")
RESULTS = {}


def db():
	# the metadata-lock lists name the holder of t exactly (the plugin, and
	# performance_schema when the plugin is gone), and the statement events
	# give an idle blocker's last statement
	return h.shared_mariadb(args=("--plugin-load-add=metadata_lock_info",
				      "--performance-schema=ON",
				      "--performance-schema-consumer-events-statements-current=ON",
				      "--performance-schema-instrument=wait/lock/metadata/sql/mdl=ON"),
				accounts=(WATCHER,))


def fresh_table():
	d = db()
	d.fresh_database(SCHEMA)
	d.query(f"CREATE TABLE `{SCHEMA}`.t (id INT PRIMARY KEY, v INT)")
	d.query(f"INSERT INTO `{SCHEMA}`.t VALUES (1, 1), (2, 2), (3, 3)")


def gateway(**guard):
	h.require_proxy("measures ddlgate's lock-wait protection")
	keys = {"ddl_lock_wait_ms": BOUND_MS, "ddl_lock_retries": 20,
		"ddl_lock_deadline_ms": 60000}
	keys.update(guard)
	gw = h.Ddlgate(db(), {"guard": h.guard_section(WATCHER, **keys)}, audit=True)
	h.wait_for(lambda: metric(gw, "ddlgate_ddl_lock_watcher_ready") == 1, 10,
		   "the lock-wait watcher checked its account")
	return gw


class AppLoad:
	"""A steady stream of application queries on t through gw (reads and
	writes, one every 20 ms), timing each; bounded by count and time."""

	def __init__(self, gw, limit_s=60):
		self.conn = h.connect(gw, database=SCHEMA)
		self.lat, self.errors = [], []
		self.stop = threading.Event()
		self.limit = time.monotonic() + limit_s
		self.thread = threading.Thread(target=self.run, daemon=True)
		self.thread.start()

	def run(self):
		i = 0
		while not self.stop.is_set() and time.monotonic() < self.limit and i < 5000:
			i += 1
			t0 = time.monotonic()
			try:
				with self.conn.cursor() as cur:
					if i % 2:
						cur.execute("SELECT v FROM t WHERE id = 1")
						cur.fetchall()
					else:
						cur.execute("UPDATE t SET v = v + 1 WHERE id = 2")
			except pymysql.MySQLError as e:
				self.errors.append(repr(e))
			self.lat.append(time.monotonic() - t0)
			time.sleep(0.02)

	def finish(self):
		self.stop.set()
		self.thread.join(30)
		self.conn.close()
		lat = sorted(self.lat)
		pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
		return {"n": len(lat), "p50": pick(0.5), "p99": pick(0.99), "max": lat[-1] * 1000,
			"slow": [round(x * 1000) for x in lat if x * 1000 > BOUND_MS + 100],
			"errors": self.errors}


def assert_bounded(stats):
	"""No application query waited longer than the bound plus 100 ms (the
	issue's margin) and none failed. This shared 2-core machine may delay
	one query further (a late tick of the watcher), never past 600 ms."""
	assert not stats["errors"], stats["errors"]
	assert len(stats["slow"]) <= 1 and stats["max"] <= BOUND_MS + 600, stats


def blocker(gw):
	"""A transaction through gw that read t and stays open; (conn, its
	server connection id)."""
	c = h.connect(gw, database=SCHEMA, autocommit=False)
	with c.cursor() as cur:
		cur.execute("SELECT CONNECTION_ID()")
		cid = cur.fetchone()[0]
		cur.execute("BEGIN")
		cur.execute("SELECT * FROM t")
		cur.fetchall()
	return c, cid


def run_alter(gw, out, sql="ALTER TABLE t ADD COLUMN added INT, ALGORITHM=INPLACE", **kw):
	c = h.connect(gw, database=SCHEMA, read_timeout=120, **kw)
	t0 = time.monotonic()
	try:
		with c.cursor() as cur:
			cur.execute(sql)
			while cur.nextset():
				pass
		out["result"] = "ok"
	except pymysql.MySQLError as e:
		out["result"] = e
	out["took"] = time.monotonic() - t0
	c.close()


def metric(gw, name):
	code, body = gw.admin_get("/metrics")
	for line in body.splitlines():
		if line.startswith(name + " "):
			return float(line.split()[1])
	return None


def scenario(gw, hold_s, age_s=0.0):
	"""The open transaction, the ALTER (age_s after the transaction began)
	and the load; the transaction commits hold_s after the ALTER was sent.
	Returns (load stats, the ALTER's outcome)."""
	fresh_table()
	load = AppLoad(gw)
	time.sleep(0.3)
	conn, _ = blocker(gw)
	time.sleep(age_s)
	out = {}
	alter = threading.Thread(target=run_alter, args=(gw, out), daemon=True)
	alter.start()
	time.sleep(hold_s / 2)
	out["status"] = gw.status().get("ddl_lock_wait")
	out["sessions"] = [x for x in gw.sessions() if x.get("ddl_lock_attempts")]
	time.sleep(hold_s / 2)
	conn.commit()
	conn.close()
	alter.join(90)
	time.sleep(0.5)
	return load.finish(), out


def test_bounded_wait_then_success():
	gw = gateway()
	stats, out = scenario(gw, 4.5)
	RESULTS["on"] = stats
	print(f"# protection on ({BOUND_MS} ms): {stats['n']} queries, p50 {stats['p50']:.1f} ms, "
	      f"p99 {stats['p99']:.1f} ms, max {stats['max']:.1f} ms; ALTER {out['result']} after "
	      f"{out['took']:.1f} s", flush=True)
	assert out["result"] == "ok", out
	assert "added" in db().columns(SCHEMA, "t")
	assert_bounded(stats)
	assert (metric(gw, "ddlgate_ddl_lock_cancels_total") or 0) >= 2
	assert (metric(gw, "ddlgate_ddl_lock_retries_total") or 0) >= 2
	# the application's queries did queue behind each attempt, each time for
	# about the bound at most
	queued = metric(gw, "ddlgate_ddl_lock_queued_seconds_total") or 0
	print(f"# application time queued behind the ALTER: {queued:.2f} s", flush=True)
	assert 0 < queued, queued
	# one successful outcome in the audit log, no failed attempt; it lists
	# the attempts
	recs = h.audit_records(gw, "ADD COLUMN added")
	assert [r.get("outcome") for r in recs] == ["ok"], recs
	tries = [u for u in recs[0]["rules"] if u["id"] == "lock-wait-exceeded"]
	assert tries and tries[0]["action"] == "retry" and "sent " in tries[0]["message"], recs
	# while it waited, /status and /sessions showed the DDL
	assert out["status"]["watcher_ready"] and len(out["status"]["waiting_ddl"]) == 1, out
	assert len(out["sessions"]) == 1, out


def test_deadline_names_blocker():
	gw = gateway(ddl_lock_wait_ms=500, ddl_lock_deadline_ms=3000)
	fresh_table()
	before = db().columns(SCHEMA, "t")
	conn, cid = blocker(gw)
	out = {}
	run_alter(gw, out)
	conn.rollback()
	conn.close()
	err = out["result"]
	assert isinstance(err, pymysql.MySQLError), out
	assert err.args[0] == 1290, err
	assert "lock-wait-exceeded" in err.args[1], err
	assert f"connection {cid} " in err.args[1], err
	# its age as of the refusal: open since before the ALTER was sent
	age = float(re.search(r"its transaction open for ([0-9.]+) s", err.args[1]).group(1))
	assert age >= out["took"] - 0.5, (age, out)
	assert db().columns(SCHEMA, "t") == before
	assert out["took"] < 6, out
	rec = h.audit_records(gw, "ADD COLUMN added")[-1]
	assert rec["outcome"] == "error" and rec["error_code"] == 1290, rec
	assert [u["action"] for u in rec["rules"] if u["id"] == "lock-wait-exceeded"] == ["block"]
	print(f"# refused after {out['took']:.1f} s: {err.args[1]}", flush=True)


def test_nobody_queued_ddl_keeps_waiting():
	"""With no query queued behind it, a DDL past the bound is left waiting
	(it hurts no one) and goes through at once when the blocker ends."""
	gw = gateway(ddl_lock_wait_ms=500)
	fresh_table()
	conn, _ = blocker(gw)
	out = {}
	alter = threading.Thread(target=run_alter, args=(gw, out), daemon=True)
	alter.start()
	time.sleep(2.0)
	conn.commit()
	conn.close()
	alter.join(30)
	assert out["result"] == "ok" and 1.8 < out["took"] < 3.5, out
	assert (metric(gw, "ddlgate_ddl_lock_cancels_total") or 0) == 0
	assert "added" in db().columns(SCHEMA, "t")


def unbounded_warned(gw, sql):
	"""Runs sql (a DDL on t) through gw at the server's default
	lock_wait_timeout; whether its audit record carries unbounded-lock-wait."""
	c = h.connect(gw, database=SCHEMA)
	assert h.run_err(c, sql) is None
	c.close()
	recs = h.audit_records(gw, sql)
	assert recs, sql
	return "unbounded-lock-wait" in h.rule_ids(recs[-1])


def test_unbounded_lock_wait_only_without_protection():
	fresh_table()
	assert not unbounded_warned(gateway(), "ALTER TABLE t ADD COLUMN a1 INT")
	assert unbounded_warned(gateway(ddl_lock_wait_ms=0), "ALTER TABLE t ADD COLUMN a2 INT")
	# a guard account that may not see or stop other accounts' statements
	# cannot protect: the warning stays
	h.shared_mariadb(accounts=(h.PROBER,))
	gw = h.Ddlgate(db(), {"guard": h.guard_section(h.PROBER)}, audit=True)
	time.sleep(0.5)
	assert metric(gw, "ddlgate_ddl_lock_watcher_ready") == 0
	assert unbounded_warned(gw, "ALTER TABLE t ADD COLUMN a3 INT")


def test_protection_off_piles_up():
	if "on" not in RESULTS:  # run alone: measure the protected run too
		RESULTS["on"] = scenario(gateway(), 3.0)[0]
	gw = gateway(ddl_lock_wait_ms=0)
	stats, out = scenario(gw, 3.0)
	RESULTS["off"] = stats
	assert out["result"] == "ok", out
	assert stats["max"] > 2000, stats  # the queries queued behind the waiting ALTER
	on = RESULTS.get("on")
	print("#                    p50 ms   p99 ms   max ms  errors", flush=True)
	for name, s in (("protection on", on), ("protection off", stats)):
		if s:
			print(f"# {name:<16} {s['p50']:8.1f} {s['p99']:8.1f} {s['max']:8.1f}  "
			      f"{len(s['errors'])}", flush=True)


def attempts_of(rec):
	return rec.get("attempts") or []


def test_old_transaction_waited_for_before_sending():
	"""An idle transaction older than long_transaction_ms holds t: the ALTER
	is held in ddlgate (the application's queries never queue), /status
	names the blocker and its last statement, and the ALTER goes once the
	transaction commits; its record lists the hold."""
	gw = gateway(long_transaction_ms=1000)
	fresh_table()
	load = AppLoad(gw)
	conn, cid = blocker(gw)
	time.sleep(2.0)  # older than long_transaction_ms (InnoDB counts whole seconds)
	out = {}
	alter = threading.Thread(target=run_alter, args=(gw, out), daemon=True)
	alter.start()
	time.sleep(2.0)
	status = gw.status()["ddl_lock_wait"]
	conn.commit()
	conn.close()
	alter.join(60)
	time.sleep(0.3)
	stats = load.finish()
	print(f"# held: /status {status['waits']}; ALTER {out.get('result')} after "
	      f"{out.get('took', 0):.1f} s; application max {stats['max']:.1f} ms", flush=True)
	assert out["result"] == "ok", out
	assert "added" in db().columns(SCHEMA, "t")
	assert not stats["errors"], stats["errors"]
	# nothing was sent while the transaction was open: no query queued
	assert stats["max"] < 700, stats
	assert (metric(gw, "ddlgate_ddl_lock_cancels_total") or 0) == 0
	assert (metric(gw, "ddlgate_ddl_lock_holds_total") or 0) == 1
	waits = status["waits"]
	assert len(waits) == 1 and waits[0]["held"], status
	assert f"connection {cid} (" in waits[0]["blocker"], status
	assert "its last statement: SELECT * FROM t" in waits[0]["blocker"], status
	rec = h.audit_records(gw, "ADD COLUMN added")[-1]
	assert rec["outcome"] == "ok", rec
	tries = attempts_of(rec)
	# held, then sent once without waiting (the record tells the whole story)
	assert [(a["sent"], a["cancelled"], a["retried"]) for a in tries] == [
	    (False, False, True), (True, False, False)], rec
	b = tries[0]["blocker"]
	assert b["conn_id"] == cid and b["state"] == "idle" and b["exact"], rec
	assert b["statement"] == "SELECT * FROM t" and b["transaction_age_ms"] >= 1000, rec
	assert tries[0]["waited_ms"] >= 1500, rec
	assert [u["action"] for u in rec["rules"] if u["id"] == "lock-wait-exceeded"] == ["hold"]
	code, text = h.verify_audit(gw.audit)
	assert code == 0, text
	r = h.run([os.environ["DDLGATE_BIN"], "audit", "show", "--table", "t", gw.audit])
	assert r.returncode == 0 and f"attempts[held " in r.stdout and f"by {cid} " in r.stdout, r


def test_old_transaction_past_deadline_refused_unsent():
	gw = gateway(long_transaction_ms=500, ddl_lock_deadline_ms=2500)
	fresh_table()
	before = db().columns(SCHEMA, "t")
	conn, cid = blocker(gw)
	time.sleep(1.2)
	out = {}
	run_alter(gw, out)
	conn.rollback()
	conn.close()
	err = out["result"]
	assert isinstance(err, pymysql.MySQLError) and err.args[0] == 1290, out
	msg = err.args[1]
	assert msg.startswith("ddlgate: blocked by lock-wait-exceeded: ALTER on mdl.t was not sent"), msg
	assert f"connection {cid} (" in msg and "idle, its last statement: SELECT * FROM t" in msg
	assert 2.0 < out["took"] < 6, out
	assert db().columns(SCHEMA, "t") == before
	assert (metric(gw, "ddlgate_ddl_lock_cancels_total") or 0) == 0
	rec = h.audit_records(gw, "ADD COLUMN added")[-1]
	assert rec["outcome"] == "not_sent" and rec["decision"] == "block", rec
	assert [(a["sent"], a["retried"]) for a in attempts_of(rec)] == [(False, False)], rec
	print(f"# refused unsent after {out['took']:.1f} s: {msg}", flush=True)


MDL_INSTRUMENT = ("UPDATE performance_schema.setup_instruments SET ENABLED = %s "
		  "WHERE NAME = 'wait/lock/metadata/sql/mdl'")


def test_look_without_the_plugin():
	"""Without METADATA_LOCK_INFO the look reads performance_schema's
	metadata locks; with neither, ddlgate does not guess: the DDL is sent,
	only the bounded wait protects, and the blocker it names is said to be a
	guess."""
	d = db()
	d.query("UNINSTALL SONAME 'metadata_lock_info'")
	try:
		gw = gateway(long_transaction_ms=500, ddl_lock_deadline_ms=2000)
		fresh_table()
		conn, cid = blocker(gw)
		time.sleep(1.2)
		out = {}
		run_alter(gw, out)
		msg = out["result"].args[1]
		assert "was not sent" in msg and f"connection {cid} (" in msg, msg
		assert "oldest open transaction" not in msg, msg
		d.query(MDL_INSTRUMENT, ("NO",))
		out = {}
		run_alter(gw, out)
		conn.rollback()
		conn.close()
		msg = out["result"].args[1]
		assert "waited for its metadata lock 1 time" in msg, msg
		assert f"connection {cid} (" in msg and "the oldest open transaction" in msg, msg
		assert "added" not in db().columns(SCHEMA, "t")
	finally:
		d.query(MDL_INSTRUMENT, ("YES",))
		d.query("INSTALL SONAME 'metadata_lock_info'")


def test_multi_statement_ddl_bounded_not_resent():
	"""A DDL after another statement in one COM_QUERY cannot be sent again
	unseen: its wait is stopped at the bound and answered with
	lock-wait-exceeded; the application never stalls."""
	gw = gateway()
	fresh_table()
	load = AppLoad(gw)
	time.sleep(0.3)
	conn, cid = blocker(gw)
	out = {}
	run_alter(gw, out, sql="UPDATE t SET v = 0 WHERE id = 3; ALTER TABLE t ADD COLUMN multi INT",
		  client_flag=CLIENT.MULTI_STATEMENTS)
	conn.rollback()
	conn.close()
	time.sleep(0.3)
	stats = load.finish()
	err = out["result"]
	assert isinstance(err, pymysql.MySQLError) and err.args[0] == 1290, out
	assert "lock-wait-exceeded" in err.args[1] and f"connection {cid} (" in err.args[1], err
	assert "statements before it in the same command already ran" in err.args[1], err
	assert out["took"] < BOUND_MS / 1000 + 2, out
	assert "multi" not in db().columns(SCHEMA, "t")
	assert_bounded(stats)
	rec = h.audit_records(gw, "ADD COLUMN multi")[-1]
	assert rec["outcome"] == "error" and rec["error_code"] == 1290, rec
	assert [(a["cancelled"], a["retried"]) for a in attempts_of(rec)] == [(True, False)], rec
	print(f"# multi-statement DDL refused after {out['took']:.1f} s (application max "
	      f"{stats['max']:.1f} ms)", flush=True)


PREPARED_DDL = r"""
use strict; use warnings; use DBI;
my ($host, $port, $user, $password, $db) = @ARGV;
my $dbh = DBI->connect("DBI:MariaDB:database=$db;host=$host;port=$port;mariadb_server_prepare=1",
	$user, $password, { RaiseError => 0, PrintError => 0, AutoCommit => 1 }) or die $DBI::errstr;
my $sth = $dbh->prepare('ALTER TABLE t ADD COLUMN prep INT') or die $dbh->errstr;
if ($sth->execute) { print "ok
" } else { print $sth->err, " ", $sth->errstr, "
" }
"""


def test_prepared_ddl_retried_unseen():
	"""A DDL run as a prepared statement (COM_STMT_PREPARE, then
	COM_STMT_EXECUTE) is bounded and sent again like a plain one: its client
	sees one slow success, the application never stalls."""
	gw = gateway()
	fresh_table()
	load = AppLoad(gw)
	time.sleep(0.3)
	conn, cid = blocker(gw)
	out = {}

	def run_prepared():
		t0 = time.monotonic()
		out["run"] = h.run(["perl", "-e", PREPARED_DDL, gw.host, str(gw.port), h.APP_USER,
				    h.APP_PASSWORD, SCHEMA], timeout=60)
		out["took"] = time.monotonic() - t0

	alter = threading.Thread(target=run_prepared, daemon=True)
	alter.start()
	time.sleep(3.0)
	conn.commit()
	conn.close()
	alter.join(60)
	time.sleep(0.3)
	stats = load.finish()
	r = out["run"]
	print(f"# prepared DDL: {r.stdout.strip()} after {out['took']:.1f} s (application max "
	      f"{stats['max']:.1f} ms)", flush=True)
	assert r.stdout.strip() == "ok", (r.stdout, r.stderr)
	assert "prep" in db().columns(SCHEMA, "t")
	assert_bounded(stats)
	rec = h.audit_records(gw, "ADD COLUMN prep", outcome="ok")[-1]
	assert rec["params"] == {"count": 0}, rec
	tries = attempts_of(rec)
	assert len(tries) >= 3 and tries[0]["cancelled"] and tries[0]["retried"], rec
	assert tries[0]["blocker"]["conn_id"] == cid, rec
	assert not tries[-1]["cancelled"] and tries[-1]["sent"], rec


if __name__ == "__main__":
	h.main(globals())
