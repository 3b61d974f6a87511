#!/usr/bin/python3
# Enforcement tests: the migration memory learns only statements the server ran; passed guards are audited.
"""
A migration session sends CREATE TABLE for a table that already exists and
holds duplicate values: the server refuses it (1050), so ddlgate must not
take the table for new and empty, and a later ALTER TABLE ... ADD UNIQUE
is probed and refused (unique-unguarded). The same holds when the refused
CREATE is the first statement of a multi-statement command, and when a
multi-statement command was blocked as a whole (nothing of it ran). A
CREATE and ADD UNIQUE in one command still pass (the later statement is
judged as if the earlier ran). A probe that finds no duplicates appears in
the audit record as a rules entry with action "passed" and its guard text.

Under DDLGATE_DIRECT=1 every test is skipped (the policy is ddlgate's).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from pymysql.constants import CLIENT  # noqa: E402

SCHEMA = "mem_enf"
PROBER, PROBER_PASSWORD = "mem_prober", "mem-prober-secret"
MIGRATOR, MIGRATOR_PASSWORD = "mem_migrator", "mem-migrator-secret"

_db = None


def db():
	"""The shared MariaDB with a read-only prober and a migrator account."""
	global _db
	if _db is None:
		_db = h.shared_mariadb()
		for sql in (
			f"CREATE OR REPLACE USER '{PROBER}'@'127.0.0.1' IDENTIFIED BY '{PROBER_PASSWORD}'",
			f"GRANT SELECT ON *.* TO '{PROBER}'@'127.0.0.1'",
			f"CREATE OR REPLACE USER '{MIGRATOR}'@'127.0.0.1' IDENTIFIED BY '{MIGRATOR_PASSWORD}'",
			f"GRANT ALL ON *.* TO '{MIGRATOR}'@'127.0.0.1'",
		):
			_db.query(sql)
	return _db


def fresh_schema():
	"""The schema with dup (duplicate values in c) and uniq (rows, no duplicates)."""
	d = db()
	d.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
	d.query(f"CREATE DATABASE `{SCHEMA}`")
	d.query(f"CREATE TABLE `{SCHEMA}`.dup (id INT PRIMARY KEY, c INT)")
	d.query(f"INSERT INTO `{SCHEMA}`.dup VALUES (1, 7), (2, 7)")
	d.query(f"CREATE TABLE `{SCHEMA}`.uniq (id INT PRIMARY KEY, c INT)")
	d.query(f"INSERT INTO `{SCHEMA}`.uniq VALUES (1, 1), (2, 2)")


def gateway():
	gw = h.Ddlgate(db(), {
		"guard": {"user": PROBER, "password": PROBER_PASSWORD, "probe_timeout_ms": 2000},
		"migration": {"users": MIGRATOR},
	}, start=False)
	conf = dict(gw.conf)
	conf["audit"] = {"path": gw.audit}
	gw.write_config(conf)
	gw.start()
	return gw


def migrator(gw):
	return h.connect(gw, user=MIGRATOR, password=MIGRATOR_PASSWORD, database=SCHEMA,
			 client_flag=CLIENT.MULTI_STATEMENTS)


def unique_keys(table):
	rows = db().query("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE "
			  "TABLE_SCHEMA=%s AND TABLE_NAME=%s AND NON_UNIQUE=0 AND INDEX_NAME<>'PRIMARY'",
			  (SCHEMA, table))
	return rows[0][0]


def test_refused_create_does_not_make_a_table_new():
	h.require_proxy("the migration memory is ddlgate's")
	fresh_schema()
	gw = gateway()
	m = migrator(gw)
	# the server refuses the CREATE: dup keeps its rows and stays "may hold rows"
	err = h.run_err(m, "CREATE TABLE dup (id INT PRIMARY KEY, c INT)")
	assert err and err[0] == 1050, err
	h.assert_blocked(m, "ALTER TABLE dup ADD UNIQUE (c)", "unique-unguarded")
	# the same with the refused CREATE first in a multi-statement command: the
	# ADD UNIQUE after it is judged as if the CREATE ran, but the server stops
	# at the CREATE's error and the memory learns nothing
	err = h.run_err(m, "CREATE TABLE dup (id INT PRIMARY KEY, c INT); "
		      "ALTER TABLE dup ADD UNIQUE (c)")
	assert err and err[0] == 1050, err
	h.assert_blocked(m, "ALTER TABLE dup ADD UNIQUE (c)", "unique-unguarded")
	assert unique_keys("dup") == 0
	m.close()
	assert gw.stop() == 0


def test_blocked_command_teaches_nothing():
	h.require_proxy("the migration memory is ddlgate's")
	fresh_schema()
	gw = gateway()
	m = migrator(gw)
	# blocked as a whole (DROP TABLE): the CREATE never ran ...
	h.assert_blocked(m, "CREATE TABLE later (id INT PRIMARY KEY, c INT); DROP TABLE uniq",
		       "drop-table")
	# ... and someone else creates the table, with duplicates
	db().query(f"CREATE TABLE `{SCHEMA}`.later (id INT PRIMARY KEY, c INT)")
	db().query(f"INSERT INTO `{SCHEMA}`.later VALUES (1, 3), (2, 3)")
	h.assert_blocked(m, "ALTER TABLE later ADD UNIQUE (c)", "unique-unguarded")
	# a CREATE and its index in one command are fine: the table is new
	assert h.run_err(m, "CREATE TABLE fresh (id INT PRIMARY KEY, c INT); "
		       "ALTER TABLE fresh ADD UNIQUE (c)") is None
	assert unique_keys("fresh") == 1
	# and after the server ran a CREATE, the table is new for later commands too
	assert h.run_err(m, "CREATE TABLE fresh2 (id INT PRIMARY KEY, c INT)") is None
	assert h.run_err(m, "ALTER TABLE fresh2 ADD UNIQUE (c)") is None
	assert unique_keys("fresh2") == 1
	m.close()
	assert gw.stop() == 0


def test_passed_probe_is_in_the_audit_record():
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway()
	m = migrator(gw)
	assert h.run_err(m, "SET SESSION lock_wait_timeout = 10") is None
	assert h.run_err(m, "ALTER TABLE uniq ADD UNIQUE (c)") is None
	assert unique_keys("uniq") == 1
	m.close()
	assert gw.stop() == 0
	with open(gw.audit) as f:
		recs = [json.loads(line) for line in f if line.strip()]
	rec = [r for r in recs if "ALTER TABLE uniq" in r["statement"] and r.get("phase") != "intent"]
	assert len(rec) == 1, recs
	rec = rec[0]
	assert rec["decision"] == "allow" and rec["outcome"] == "ok", rec
	passed = [x for x in rec["rules"] if x["action"] == "passed" and x["id"] == "unique-unguarded"]
	assert len(passed) == 1, rec
	assert passed[0]["guard"] and "probe" in passed[0]["guard"], rec
	assert set(passed[0]) == {"id", "action", "message", "guard"}, rec
	code = h.run([os.environ["DDLGATE_BIN"], "audit", "verify", gw.audit]).returncode
	assert code == 0


if __name__ == "__main__":
	h.main(globals())
