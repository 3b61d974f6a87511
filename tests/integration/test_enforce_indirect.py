#!/usr/bin/python3
# Enforcement tests: DDL that runs indirectly (EXECUTE name, COM_STMT_EXECUTE 0xFFFFFFFF, CALL) is judged.
"""
With the window closed, statements whose text does not show the DDL they
run are refused with ERR 1290 naming ddl-outside-window, change nothing on
the server and are audited: SQL EXECUTE of a name prepared (while a window
was open) from a DDL literal or from a variable, COM_STMT_EXECUTE of
statement id 0xFFFFFFFF (MariaDB's "the last statement prepared", checked
against the server itself first), and CALL of a procedure whose body
(read through the [guard] account) holds DDL or dynamic SQL, itself or in
the procedures it CALLs. A procedure without DDL and ordinary prepared
queries keep working while the window is closed; without a [guard] account a CALL counts as unknown only while DDL
is restricted.
"""

import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_commands import Raw  # noqa: E402
# the shared server with a read-only [guard] account (SELECT on *.*)
from test_enforce_window import db  # noqa: E402
from test_enforce_window import admin_post, other_day_schedule  # noqa: E402

PROBER, PROBER_PASSWORD = h.PROBER.user, h.PROBER.password

SCHEMA = "ind"
RULE = "ddl-outside-window"
LAST_PREPARED = 0xFFFFFFFF


def fresh_schema():
	d = db()
	d.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
	d.query(f"CREATE DATABASE `{SCHEMA}`")
	d.query(f"CREATE TABLE `{SCHEMA}`.w (id INT PRIMARY KEY, v VARCHAR(20))")
	d.query(f"INSERT INTO `{SCHEMA}`.w VALUES (1, 'a')")


def snapshot():
	"""Tables, columns and routines of the test schema."""
	cols = db().query("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
			  "WHERE TABLE_SCHEMA=%s ORDER BY TABLE_NAME, ORDINAL_POSITION", (SCHEMA,))
	routines = db().query("SELECT ROUTINE_NAME, LAST_ALTERED FROM information_schema.ROUTINES "
			      "WHERE ROUTINE_SCHEMA=%s ORDER BY 1", (SCHEMA,))
	return (cols, routines)


def columns(table="w"):
	return [r[0] for r in db().query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
					 "TABLE_SCHEMA=%s AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION",
					 (SCHEMA, table))]


def gateway(guard=True, window=True, **extra):
	"""A ddlgate with a closed window (schedule on another day), an audit
	log and, with guard, the read-only [guard] account."""
	sections = {}
	if window:
		sections["window"] = {"schedule": other_day_schedule()}
	if guard:
		sections["guard"] = {"user": PROBER, "password": PROBER_PASSWORD,
				     "probe_timeout_ms": 2000}
	sections.update(extra)
	gw = h.Ddlgate(db(), sections, start=False)
	conf = dict(gw.conf)
	conf["audit"] = {"path": gw.audit}
	gw.write_config(conf)
	gw.start()
	return gw


def audited(gw, statement, decision="block", timeout=5):
	"""The audit record of statement (exact text) with decision, waiting
	for the writer (a line may still be half written)."""
	deadline = time.monotonic() + timeout
	while True:
		recs = []
		if os.path.exists(gw.audit):
			with open(gw.audit) as f:
				for line in f:
					try:
						recs.append(json.loads(line))
					except ValueError:
						pass
		found = [r for r in recs if r["statement"] == statement and r["decision"] == decision]
		if found or time.monotonic() > deadline:
			assert found, f"no {decision} record of {statement!r}: {recs}"
			return found[-1]
		time.sleep(0.1)


def assert_refused_and_audited(gw, conn, sql):
	h.assert_blocked(conn, sql, RULE)
	rec = audited(gw, sql)
	assert rec["decision"] == "block" and rec["outcome"] == "not_sent", rec
	assert any(x["id"] == RULE for x in rec["rules"]), rec


def open_window(gw):
	code, body = admin_post(gw, "/window/open?minutes=5")
	assert code == 200, body


def close_window(gw):
	code, body = admin_post(gw, "/window/close")
	assert code == 200, body


def test_sql_execute_is_judged_as_its_prepared_text():
	h.require_proxy("windows are ddlgate's")
	fresh_schema()
	gw = gateway(guard=False, **{'rule "unparseable-ddl"': {"action": "warn"}})
	c = h.connect(gw, database=SCHEMA)
	open_window(gw)
	# prepared while DDL was allowed: nothing runs yet
	assert h.run_err(c, "PREPARE s FROM 'ALTER TABLE w ADD COLUMN e1 INT NULL'") is None
	assert h.run_err(c, "SET @ddl = 'ALTER TABLE w ADD COLUMN e2 INT NULL'") is None
	assert h.run_err(c, "PREPARE v FROM @ddl") is None
	assert h.run_err(c, "PREPARE q FROM 'SELECT COUNT(*) FROM w'") is None
	close_window(gw)
	before = snapshot()

	assert_refused_and_audited(gw, c, "EXECUTE s")
	assert_refused_and_audited(gw, c, "execute S")  # names are case-insensitive
	assert_refused_and_audited(gw, c, "SET STATEMENT max_statement_time=10 FOR EXECUTE s")
	assert_refused_and_audited(gw, c, "EXECUTE v")
	assert_refused_and_audited(gw, c, "EXECUTE IMMEDIATE @ddl")
	assert_refused_and_audited(gw, c, "EXECUTE IMMEDIATE 'ALTER TABLE w ADD COLUMN e3 INT NULL'")
	# a prepared query still runs, and a name prepared anew replaces the DDL
	assert h.scalar(c, "EXECUTE q") == 1
	assert h.run_err(c, "PREPARE s FROM 'SELECT v FROM w'") is None
	assert h.scalar(c, "EXECUTE s") == "a"
	assert snapshot() == before, "the schema changed although every DDL was refused"

	# once the window opens again the prepared DDL runs as the server has it
	open_window(gw)
	assert h.run_err(c, "EXECUTE v") is None
	assert "e2" in columns()
	c.close()


def raw_execute(raw, stmt_id):
	"""COM_STMT_EXECUTE without parameters; returns the first answer packet."""
	raw.send(b"\x17" + struct.pack("<IBI", stmt_id, 0, 1))
	return raw.read()


def test_server_runs_the_last_prepared_statement_for_id_ffffffff():
	"""The oracle: MariaDB itself runs the last COM_STMT_PREPARE for id 0xFFFFFFFF."""
	fresh_schema()
	d = db()
	c = h.connect(h.Direct(d), database=SCHEMA)
	raw = Raw(c)
	raw.prepare("ALTER TABLE w ADD COLUMN direct1 INT NULL")
	p = raw_execute(raw, LAST_PREPARED)
	assert p[0] == 0x00, p
	assert "direct1" in columns()
	c.close()


def test_stmt_execute_of_the_last_prepared_statement_is_judged():
	h.require_proxy("windows are ddlgate's")
	fresh_schema()
	gw = gateway(guard=False)
	c = h.connect(gw, database=SCHEMA)
	raw = Raw(c)
	open_window(gw)
	raw.prepare("ALTER TABLE w ADD COLUMN e4 INT NULL")
	close_window(gw)
	before = snapshot()
	p = raw_execute(raw, LAST_PREPARED)
	assert p[0] == 0xFF, p
	code = struct.unpack("<H", p[1:3])[0]
	msg = p[9:].decode(errors="replace")
	assert code == 1290 and msg.startswith(f"ddlgate: blocked by {RULE}:"), (code, msg)
	assert audited(gw, "ALTER TABLE w ADD COLUMN e4 INT NULL")["outcome"] == "not_sent"
	# a query prepared after it becomes the last statement: that one runs
	stmt, cols, _ = raw.prepare("SELECT COUNT(*) FROM w")
	raw.send(b"\x17" + struct.pack("<IBI", LAST_PREPARED, 0, 1))
	rows = raw.read_until_eof()  # column count, definition, EOF
	assert rows[0][0] == cols, rows
	rows = raw.read_until_eof()  # the row and EOF
	assert len(rows) == 2, rows
	assert snapshot() == before
	c.close()


PROCEDURES = {
	"p_alter": "BEGIN ALTER TABLE w ADD COLUMN e5 INT NULL; END",
	"p_dyn": "BEGIN SET @s = 'DROP TABLE w'; PREPARE x FROM @s; EXECUTE x; "
		 "DEALLOCATE PREPARE x; END",
	"p_nested": "BEGIN CALL p_alter(); END",
	"p_plain": "BEGIN SELECT COUNT(*) FROM w; END",
	"p_calls_plain": "BEGIN CALL p_plain(); END",
	"p_self": "BEGIN CALL p_self(); END",
	"p_rebind": "BEGIN PREPARE q FROM 'ALTER TABLE w ADD COLUMN e9 INT NULL'; END",
}


def with_procedures(**gateway_args):
	"""A fresh schema with PROCEDURES, created directly on the server
	(ddlgate never saw them), and a gateway and connection in front."""
	h.require_proxy("windows are ddlgate's")
	fresh_schema()
	for name, body in PROCEDURES.items():
		db().query(f"CREATE PROCEDURE `{SCHEMA}`.{name}() {body}")
	gw = gateway(**gateway_args)
	return gw, h.connect(gw, database=SCHEMA)


def test_call_is_judged_by_the_procedure_body():
	gw, c = with_procedures(guard=True)
	before = snapshot()

	assert_refused_and_audited(gw, c, "CALL p_alter()")
	assert_refused_and_audited(gw, c, "CALL p_dyn()")
	assert_refused_and_audited(gw, c, "CALL p_nested()")
	assert_refused_and_audited(gw, c, "CALL p_self()")  # followed until too deep
	assert_refused_and_audited(gw, c, "CALL no_such_procedure()")
	other = h.connect(gw, database=None)
	assert_refused_and_audited(gw, other, f"CALL {SCHEMA}.p_alter()")
	assert_refused_and_audited(gw, other, f"CALL `{SCHEMA}`.`P_ALTER`()")
	other.close()
	assert_refused_and_audited(gw, c, "BEGIN NOT ATOMIC CALL p_alter(); END")
	# preparing a CALL runs nothing; executing it is judged
	assert h.run_err(c, "PREPARE cp FROM 'CALL p_alter()'") is None
	assert_refused_and_audited(gw, c, "EXECUTE cp")
	# a procedure without DDL runs while the window is closed
	assert h.scalar(c, "CALL p_plain()") == 1
	assert h.scalar(c, "CALL p_calls_plain()") == 1  # followed into p_plain
	assert h.scalar(c, "SELECT COUNT(*) FROM w") == 1
	assert snapshot() == before, "a CALL changed the schema while the window was closed"
	assert "w" in [r[0] for r in db().query(
		"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s", (SCHEMA,))]

	# inside a window the procedure runs (judged as its ALTER)
	open_window(gw)
	assert h.run_err(c, "CALL p_alter()") is None
	assert "e5" in columns()
	c.close()


def test_a_name_bound_inside_a_procedure_is_not_trusted():
	"""A procedure run inside a window can PREPARE a name again out of
	ddlgate's sight: once the window closes, EXECUTE of that name is DDL of
	unknown content."""
	gw, c = with_procedures(guard=True)
	open_window(gw)
	assert h.run_err(c, "PREPARE q FROM 'SELECT COUNT(*) FROM w'") is None
	assert h.run_err(c, "CALL p_rebind()") is None  # q now holds the ALTER
	close_window(gw)
	before = snapshot()
	assert_refused_and_audited(gw, c, "EXECUTE q")
	assert snapshot() == before and "e9" not in columns()
	# prepared again in sight of ddlgate, the name is known again
	assert h.run_err(c, "PREPARE q FROM 'SELECT COUNT(*) FROM w'") is None
	assert h.scalar(c, "EXECUTE q") == 1
	c.close()


def test_call_prepared_as_a_statement_is_judged_at_each_execute():
	gw, c = with_procedures(guard=True)
	raw = Raw(c)
	open_window(gw)
	stmt, _, _ = raw.prepare("CALL p_alter()")
	close_window(gw)
	before = snapshot()
	for sid in (stmt, LAST_PREPARED):
		p = raw_execute(raw, sid)
		assert p[0] == 0xFF and struct.unpack("<H", p[1:3])[0] == 1290, p
		assert RULE in p[9:].decode(errors="replace"), p
	assert snapshot() == before
	c.close()


def test_call_without_a_guard_account():
	gw, c = with_procedures(guard=False)
	before = snapshot()
	# the body cannot be read: unknown content while the window is closed
	assert_refused_and_audited(gw, c, "CALL p_plain()")
	assert_refused_and_audited(gw, c, "CALL p_alter()")
	assert snapshot() == before
	# inside a window CALLs run as they always did
	open_window(gw)
	assert h.scalar(c, "CALL p_plain()") == 1
	c.close()

	# without any window DDL is allowed: applications' CALLs are untouched
	_, c = with_procedures(guard=False, window=False)
	assert h.scalar(c, "CALL p_plain()") == 1
	assert h.run_err(c, "CALL p_alter()") is None
	assert "e5" in columns()
	c.close()


if __name__ == "__main__":
	h.main(globals())
