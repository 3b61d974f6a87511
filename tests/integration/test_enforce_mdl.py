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
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pymysql  # noqa: E402

SCHEMA = "mdl"
BOUND_MS = 1000
# The guard's watcher reads other accounts' threads and interrupts them.
WATCHER = h.Account("mdlwatch", "mdlwatch-secret", "SELECT, PROCESS, CONNECTION ADMIN")
RESULTS = {}


def db():
	return h.shared_mariadb(accounts=(WATCHER,))


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
			"errors": self.errors}


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


def run_alter(gw, out):
	c = h.connect(gw, database=SCHEMA, read_timeout=120)
	t0 = time.monotonic()
	try:
		with c.cursor() as cur:
			cur.execute("ALTER TABLE t ADD COLUMN added INT, ALGORITHM=INPLACE")
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


def scenario(gw, hold_s):
	"""The open transaction, the ALTER and the load; the transaction
	commits after hold_s. Returns (load stats, the ALTER's outcome)."""
	fresh_table()
	load = AppLoad(gw)
	time.sleep(0.3)
	conn, _ = blocker(gw)
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
	assert not stats["errors"], stats["errors"]
	# The bound plus 100 ms is the goal; this shared 2-core machine gets slack.
	assert stats["max"] <= BOUND_MS + 600, stats
	assert (metric(gw, "ddlgate_ddl_lock_cancels_total") or 0) >= 2
	assert (metric(gw, "ddlgate_ddl_lock_retries_total") or 0) >= 2
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
	assert db().columns(SCHEMA, "t") == before
	assert out["took"] < 6, out
	rec = h.audit_records(gw, "ADD COLUMN added")[-1]
	assert rec["outcome"] == "error" and rec["error_code"] == 1290, rec
	assert [u["action"] for u in rec["rules"] if u["id"] == "lock-wait-exceeded"] == ["block"]
	print(f"# refused after {out['took']:.1f} s: {err.args[1]}", flush=True)


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


if __name__ == "__main__":
	h.main(globals())
