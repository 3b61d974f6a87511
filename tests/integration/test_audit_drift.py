#!/usr/bin/python3
# Drift watch, checkpoints and `audit verify --against`: changes made behind ddlgate's back, a cut-off log.
"""
With [audit] drift_interval_s = 1, a table created directly on the server
(root over its socket) and a table created by an EVENT give records of
kind drift within a few seconds, counted by ddlgate_audit_drift_total;
DDL sent through ddlgate gives none. GET /audit/head publishes the last
seq and hash; `ddlgate audit verify --against` that URL accepts the
untouched file and refuses one whose last records were cut off, naming the
missing seq range; so does the mirror table as the checkpoint. With
[audit] key_file the chain is HMAC-SHA-256 and verify needs --key-file.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_admin import metrics  # noqa: E402
from test_enforce_audit import records  # noqa: E402

SCHEMA = "drift"
WATCHER = "drift_watch"
WATCHER_PW = "Watch-pw-1"


def db():
	return h.shared_mariadb(args=["--event-scheduler=ON"])


def fresh_schema():
	d = db()
	d.query("DROP USER IF EXISTS drift_u@'%'")
	d.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
	d.query(f"CREATE DATABASE `{SCHEMA}`")
	d.query(f"CREATE OR REPLACE USER '{WATCHER}'@'127.0.0.1' IDENTIFIED BY '{WATCHER_PW}'")
	d.query(f"GRANT SELECT, SHOW VIEW, EVENT, TRIGGER ON *.* TO '{WATCHER}'@'127.0.0.1'")


def gateway(guard=(WATCHER, WATCHER_PW), key_file=None, **audit):
	"""A ddlgate with its audit log in its own directory, looking for drift
	every second unless audit says otherwise; key_file(dir) names the key."""
	gw = h.Ddlgate(db(), start=False)
	conf = dict(gw.conf)
	conf["audit"] = {"path": gw.audit, "drift_interval_s": 1, **audit}
	if key_file:
		conf["audit"]["key_file"] = key_file(gw.dir)
	conf["guard"] = {"user": guard[0], "password": guard[1]}
	gw.write_config(conf)
	gw.start()
	return gw


def cut_tail(gw, k):
	"""A copy of gw's audit log without its last k lines; returns its path."""
	cut = os.path.join(gw.dir, "cut.jsonl")
	with open(gw.audit) as f:
		lines = f.readlines()
	with open(cut, "w") as f:
		f.writelines(lines[:-k])
	return cut


def drift_records(gw):
	return [r for r in records(gw.audit) if r["kind"] == "drift"]


def looks(gw):
	code, body = gw.admin_get("/status")
	assert code == 200, body
	return json.loads(body).get("drift", {}).get("looks", 0)


def wait_looks(gw, n, timeout=15):
	"""Waits until the watch has looked n more times."""
	want = looks(gw) + n
	deadline = time.monotonic() + timeout
	while looks(gw) < want:
		assert time.monotonic() < deadline, "the drift watch does not look"
		time.sleep(0.1)


def wait_drift(gw, pred, timeout=15):
	deadline = time.monotonic() + timeout
	while True:
		found = [r for r in drift_records(gw) if pred(r)]
		if found:
			return found
		assert time.monotonic() < deadline, (
			f"no matching drift record; drift records: {drift_records(gw)}\n{gw.logs()}")
		time.sleep(0.2)


def verify(*args):
	r = h.run([os.environ["DDLGATE_BIN"], "audit", "verify", *args])
	return r.returncode, r.stdout + r.stderr


def test_direct_create_table_is_drift():
	h.require_proxy("the drift watch is ddlgate's")
	fresh_schema()
	gw = gateway()
	wait_looks(gw, 1)  # the baseline
	db().query(f"CREATE TABLE `{SCHEMA}`.behind (id INT PRIMARY KEY, b INT)")
	recs = wait_drift(gw, lambda r: r["objects"] == [f"{SCHEMA}.behind"])
	r = recs[0]
	assert r["drift"]["type"] == "table" and r["drift"]["change"] == "created", r
	assert r["drift"]["previous_look"] < r["ts"], r
	db().query(f"ALTER TABLE `{SCHEMA}`.behind ADD INDEX (b)")
	recs = wait_drift(gw, lambda r: r["drift"]["change"] == "altered")
	assert recs[0]["drift"]["detail"] == "indexes +b", recs
	assert metrics(gw)["ddlgate_audit_drift_total"] >= 2
	assert "drift: table drift.behind created outside ddlgate" in open(gw.log).read()
	code, out = verify(gw.audit)
	assert code == 0, out


def test_event_ddl_is_drift():
	h.require_proxy("the drift watch is ddlgate's")
	fresh_schema()
	gw = gateway()
	wait_looks(gw, 1)
	db().query(f"CREATE EVENT `{SCHEMA}`.ev ON SCHEDULE AT CURRENT_TIMESTAMP + INTERVAL 1 SECOND "
		   f"DO CREATE TABLE `{SCHEMA}`.from_event (id INT PRIMARY KEY)")
	recs = wait_drift(gw, lambda r: r["objects"] == [f"{SCHEMA}.from_event"], timeout=20)
	assert recs[0]["drift"]["change"] == "created", recs


def test_ddl_through_ddlgate_is_not_drift():
	h.require_proxy("the drift watch is ddlgate's")
	fresh_schema()
	gw = gateway()
	wait_looks(gw, 1)
	c = h.connect(gw, database=SCHEMA)
	for sql in ("CREATE TABLE fwd (id INT PRIMARY KEY, a INT)",
		    "ALTER TABLE fwd ADD COLUMN b INT",
		    "CREATE INDEX fwd_a ON fwd (a)",
		    "CREATE TRIGGER fwd_t BEFORE INSERT ON fwd FOR EACH ROW SET NEW.b = 1",
		    "CREATE VIEW fwd_v AS SELECT id FROM fwd",
		    "CREATE PROCEDURE fwd_p() SELECT 1",
		    "/* ddlgate:allow rename-table reason=\"test\" */ RENAME TABLE fwd TO fwd2",
		    "CREATE DATABASE drift_other",
		    "DROP DATABASE drift_other"):
		err = h.run_err(c, sql)
		assert err is None, (sql, err)
		time.sleep(0.3)
	# account statements (a root session: app has no GRANT OPTION)
	r = h.connect(gw, user="root", password=h.ROOT_PASSWORD, database=SCHEMA)
	for sql in ("CREATE USER drift_u@'%' IDENTIFIED BY 'x-Drift-1'",
		    "GRANT SELECT ON drift.* TO drift_u@'%'"):
		err = h.run_err(r, sql)
		assert err is None, (sql, err)
		time.sleep(0.3)
	wait_looks(gw, 3)  # a change is held for one look before it is reported
	assert drift_records(gw) == [], drift_records(gw)
	assert metrics(gw)["ddlgate_audit_drift_total"] == 0
	# a reload keeps the watch looking
	gw.sighup()
	wait_looks(gw, 2)
	assert "configuration reloaded" in open(gw.log).read(), gw.logs()


def test_verify_against_head():
	h.require_proxy("the admin API is ddlgate's")
	fresh_schema()
	gw = gateway(drift_interval_s=0, checkpoint_every=2)
	c = h.connect(gw, database=SCHEMA)
	for i in range(5):
		assert h.run_err(c, f"CREATE TABLE h{i} (id INT PRIMARY KEY)") is None
	code, body = gw.admin_get("/audit/head")
	assert code == 200, body
	head = json.loads(body)
	n = len(records(gw.audit))
	assert head["seq"] == n and len(head["hash"]) == 64, (head, n)
	assert head["file"] == "audit.jsonl" and head["instance"], head
	assert head["mac"] == "sha256", head
	url = f"http://127.0.0.1:{gw.admin_port}/audit/head"

	code, out = verify("--against", url, gw.audit)
	assert code == 0, out
	# the same checkpoint saved off the host as a file
	saved = os.path.join(gw.dir, "head.json")
	with open(saved, "w") as f:
		f.write(body)
	code, out = verify("--against", saved, gw.audit)
	assert code == 0, out
	code, out = verify("--against", url, cut_tail(gw, 2))
	assert code == 1, out
	assert f"seq {n - 1}-{n}" in out and "missing" in out, out
	code, out = verify("--against", f"http://127.0.0.1:{gw.admin_port}/nothing", gw.audit)
	assert code == 2 and "HTTP status 404" in out, out
	# the log names the head at a clean shutdown (and every 2 records before)
	gw.stop()
	log = open(gw.log).read()
	assert f"checkpoint seq {n} hash {head['hash']} file audit.jsonl" in log, log


def test_verify_against_mirror_table():
	h.require_proxy("the mirror is ddlgate's")
	fresh_schema()
	db().query("DROP DATABASE IF EXISTS ddlgate_ck")
	gw = gateway(guard=(h.APP_USER, h.APP_PASSWORD), mirror=True,
		     mirror_table="ddlgate_ck.audit")
	c = h.connect(gw, database=SCHEMA)
	for i in range(4):
		assert h.run_err(c, f"CREATE TABLE m{i} (id INT PRIMARY KEY)") is None
	n = len(records(gw.audit))
	deadline = time.monotonic() + 15
	while True:
		try:
			rows = db().query("SELECT MAX(seq) FROM ddlgate_ck.audit")
		except Exception:  # the mirror has not created its table yet
			rows = ((None,),)
		if rows[0][0] == n:
			break
		assert time.monotonic() < deadline, f"mirror holds {rows}, want seq {n}"
		time.sleep(0.2)
	dsn = f"mysql://{h.APP_USER}:{h.APP_PASSWORD}@{db().host}:{db().port}/ddlgate_ck.audit?tls=off"
	code, out = verify("--against", dsn, gw.audit)
	assert code == 0, out
	code, out = verify("--against", dsn, cut_tail(gw, 1))
	assert code == 1 and f"records seq {n}-{n} are missing" in out, out
	# the mirror's own schema and table are ddlgate's, not drift
	wait_looks(gw, 3)
	assert drift_records(gw) == [], drift_records(gw)


def test_hmac_chain():
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	def make_key(d):
		path = os.path.join(d, "audit.key")
		with open(path, "w") as f:
			f.write("a secret that stays off the audit host\n")
		os.chmod(path, 0o600)
		return path
	gw = gateway(key_file=make_key, drift_interval_s=0)
	key = gw.conf["audit"]["key_file"]
	c = h.connect(gw, database=SCHEMA)
	for i in range(3):
		assert h.run_err(c, f"CREATE TABLE k{i} (id INT PRIMARY KEY)") is None
	recs = records(gw.audit)
	assert recs and all(r["mac"] == "hmac-sha256" for r in recs), recs
	code, body = gw.admin_get("/audit/head")
	assert json.loads(body)["mac"] == "hmac-sha256", body
	code, out = verify(gw.audit)
	assert code == 1 and "give its key with --key-file" in out, out
	code, out = verify("--key-file", key, gw.audit)
	assert code == 0, out
	url = f"http://127.0.0.1:{gw.admin_port}/audit/head"
	code, out = verify("--key-file", key, "--against", url, gw.audit)
	assert code == 0, out
	# a restart continues the keyed chain
	gw.stop()
	gw.start()
	c = h.connect(gw, database=SCHEMA)
	assert h.run_err(c, "CREATE TABLE k9 (id INT PRIMARY KEY)") is None
	code, out = verify("--key-file", key, gw.audit)
	# the new DDL adds an intent and its outcome
	assert code == 0 and f"ok: {len(recs) + 2} records" in out, out


def test_checkpoint_at_rotation():
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway(drift_interval_s=0, checkpoint_every=0, rotate_bytes=1500)
	c = h.connect(gw, database=SCHEMA)
	for i in range(6):
		assert h.run_err(c, f"CREATE TABLE r{i} (id INT PRIMARY KEY)") is None
		time.sleep(0.15)  # the checkpoint thread looks ten times a second
	log = open(gw.log).read()
	assert "(rotation)" in log, log
	assert "(every " not in log, log  # checkpoint_every = 0
	rotated = sorted(f for f in os.listdir(gw.dir) if f.startswith("audit.jsonl."))
	assert rotated, os.listdir(gw.dir)
	files = [os.path.join(gw.dir, f) for f in rotated] + [gw.audit]
	url = f"http://127.0.0.1:{gw.admin_port}/audit/head"
	code, out = verify("--against", url, *files)
	assert code == 0, out


if __name__ == "__main__":
	h.main(globals())
