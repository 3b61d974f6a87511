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

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from pymysql.constants import CLIENT  # noqa: E402

SCHEMA = "mem_enf"
PROBER = h.Account("mem_prober", "mem-prober-secret", "SELECT")
MIGRATOR = h.Account("mem_migrator", "mem-migrator-secret")


def db():
	"""The shared MariaDB with a read-only prober and a migrator account."""
	return h.shared_mariadb(accounts=(PROBER, MIGRATOR))


def fresh_schema():
	"""The schema with dup (duplicate values in c) and uniq (rows, no duplicates)."""
	d = db()
	d.fresh_database(SCHEMA)
	d.query(f"CREATE TABLE `{SCHEMA}`.dup (id INT PRIMARY KEY, c INT)")
	d.query(f"INSERT INTO `{SCHEMA}`.dup VALUES (1, 7), (2, 7)")
	d.query(f"CREATE TABLE `{SCHEMA}`.uniq (id INT PRIMARY KEY, c INT)")
	d.query(f"INSERT INTO `{SCHEMA}`.uniq VALUES (1, 1), (2, 2)")


def gateway():
	"""A ddlgate with an audit log whose guard probes as PROBER and whose
	[migration] users is MIGRATOR."""
	return h.Ddlgate(db(), {
		"guard": h.guard_section(PROBER, probe_timeout_ms=2000),
		"migration": {"users": MIGRATOR.user},
	}, audit=True)


def start():
	"""A fresh schema, a gateway() and the migrator's session through it
	(multi-statement commands allowed): (gw, session)."""
	fresh_schema()
	gw = gateway()
	return gw, h.connect_as(gw, MIGRATOR, database=SCHEMA, client_flag=CLIENT.MULTI_STATEMENTS)


def unique_keys(table):
	rows = db().query("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE "
			  "TABLE_SCHEMA=%s AND TABLE_NAME=%s AND NON_UNIQUE=0 AND INDEX_NAME<>'PRIMARY'",
			  (SCHEMA, table))
	return rows[0][0]


def test_refused_create_does_not_make_a_table_new():
	h.require_proxy("the migration memory is ddlgate's")
	gw, m = start()
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
	gw, m = start()
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
	gw, m = start()
	assert h.run_err(m, "SET SESSION lock_wait_timeout = 10") is None
	assert h.run_err(m, "ALTER TABLE uniq ADD UNIQUE (c)") is None
	assert unique_keys("uniq") == 1
	m.close()
	assert gw.stop() == 0
	rec = h.audit_records(gw, "ALTER TABLE uniq")
	assert len(rec) == 1, h.audit_records(gw)
	rec = rec[0]
	assert rec["decision"] == "allow" and rec["outcome"] == "ok", rec
	passed = [x for x in rec["rules"] if x["action"] == "passed" and x["id"] == "unique-unguarded"]
	assert len(passed) == 1, rec
	assert passed[0]["guard"] and "probe" in passed[0]["guard"], rec
	assert set(passed[0]) == {"id", "action", "message", "guard"}, rec
	code, out = h.verify_audit(gw.audit)
	assert code == 0, out



def test_alter_ignore_unique_is_judged_as_deleting_duplicates():
	"""ALTER IGNORE ... ADD UNIQUE deletes the rows that collide. On a table
	the same command created and filled with duplicates, "new table in this
	migration" is no guard: the INSERT wrote it, so the script runs in steps
	(CREATE and INSERT first), the probe finds the duplicates, the ALTER is
	refused and no row is lost. The same without IGNORE passes (the server
	would fail on a duplicate, losing nothing)."""
	h.require_proxy("the migration memory is ddlgate's")
	gw, m = start()
	h.assert_blocked(m, "CREATE TABLE ign (id INT PRIMARY KEY, c INT); "
		       "INSERT INTO ign VALUES (1, 5), (2, 5); "
		       "ALTER IGNORE TABLE ign ADD UNIQUE (c)", "unique-unguarded")
	assert db().query(f"SELECT COUNT(*) FROM `{SCHEMA}`.ign")[0][0] == 2
	assert unique_keys("ign") == 0
	# over an existing table with duplicates: refused, both rows stay
	h.assert_blocked(m, "ALTER IGNORE TABLE dup ADD UNIQUE (c)", "unique-unguarded")
	assert db().query(f"SELECT COUNT(*) FROM `{SCHEMA}`.dup")[0][0] == 2
	# without IGNORE a new table's key is safe: duplicates make it fail
	assert h.run_err(m, "CREATE TABLE fine (id INT PRIMARY KEY, c INT); "
		       "ALTER TABLE fine ADD UNIQUE (c)") is None
	assert unique_keys("fine") == 1

if __name__ == "__main__":
	h.main(globals())
