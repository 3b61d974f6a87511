#!/usr/bin/python3
# Enforcement tests: questions ddlgate asks the session's own backend connection (private queries).
"""
While ddlgate holds a client's command it may ask that session's own
backend connection what only the server knows; the client never sees the
question or its answer.

- Guards see what the server will see: a duplicates probe inside the
  client's transaction sees its uncommitted fix (BEGIN; UPDATE; ALTER ...
  ADD UNIQUE passes, as it does on the server; without the fix it is
  refused); after a USE that ddlgate cannot see (no session tracking), a
  DROP TABLE of a table that holds rows in the new schema is refused and
  nothing is lost; so is a DROP TABLE of a table with rows whose name a
  latin1 client sends in latin1; ALTER IGNORE ... ADD UNIQUE over
  duplicates is refused.
  Most of these run without any [guard] account.
- Conditional DDL: PREPARE p FROM @v and EXECUTE IMMEDIATE @v are judged by
  the variable's value (the Mattermost-style `SET @s = IF(<column exists>,
  'SELECT 1', 'ALTER TABLE ...')`): with the window closed the ALTER branch
  is refused naming ddl-outside-window, the SELECT branch runs; inside a
  window the ALTER runs and is audited; an EXECUTE of it after the window
  closed is refused. The same script as one multi-statement command cannot
  be judged before its SET ran and stays refused.
- sql_mode set in a way ddlgate cannot read (SET sql_mode = (SELECT ...)):
  text whose reading depends on it is judged in the mode the server reports,
  so a harmless statement passes and one the server would run as DDL is
  refused; the same for the client character set (gbk against latin1).
- Without a [guard] account, a claim on the migration floor (a migration
  lock, the directive) counts only when the session's own connection shows
  that its account, or its current role, may change the schema.
- A private answer slower than probe_timeout_ms (the probe waits for
  another session's table lock) counts as a failed probe, and the verdict
  reaches the client only after the answer was drained.
- [guard] own_connection = false asks nothing: those cases fail closed.
- The private traffic is invisible: the mariadb client with compression
  (client leg) and PyMySQL, both over a TLS backend leg, see exactly the
  results of their own statements.

Under DDLGATE_DIRECT=1 every test is skipped (the policy is ddlgate's).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from pymysql.constants import CLIENT  # noqa: E402
from test_enforce_window import other_day_schedule  # noqa: E402

SCHEMA = "own_enf"
OTHER = "own_other"
DB = None


def db():
	"""The shared MariaDB, with TLS so that the backend leg can be TLS."""
	global DB
	if DB is None:
		DB = h.shared_mariadb(tls=True, accounts=(h.PROBER, h.WEBAPP))
	return DB


def gateway(sections=None, audit=True):
	"""A ddlgate with a TLS backend leg and no [guard] account (unless
	sections add one): probes can only run on the session's own connection."""
	cert, _ = h.tls_pair()
	return h.Ddlgate(db(), h.merge_sections(
		{"tls": {"backend": "verify-ca", "backend_ca": cert}}, sections), audit=audit)


def closed_window():
	return {"window": {"schedule": other_day_schedule()}}


def fresh_schema():
	d = db()
	d.fresh_database(SCHEMA)
	d.query(f"CREATE TABLE `{SCHEMA}`.t (id INT PRIMARY KEY, u INT)")
	d.query(f"INSERT INTO `{SCHEMA}`.t VALUES (1, 7), (2, 7), (3, 8)")


def unique_keys(schema, table):
	return db().query("SELECT COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS WHERE "
			  "TABLE_SCHEMA=%s AND TABLE_NAME=%s AND NON_UNIQUE=0 AND "
			  "INDEX_NAME<>'PRIMARY'", (schema, table))[0][0]


def start(sections=None, **kw):
	"""A fresh schema and a client session through a new gateway():
	(gw, session)."""
	h.require_proxy("judging and private queries are ddlgate's")
	fresh_schema()
	gw = gateway(sections)
	return gw, h.connect(gw, database=SCHEMA, **kw)


def test_probe_sees_the_transactions_own_fix():
	gw, c = start()
	# without the fix the duplicates are there: refused, no key
	h.assert_blocked(c, "ALTER TABLE t ADD UNIQUE (u)", "unique-unguarded")
	assert unique_keys(SCHEMA, "t") == 0
	# inside a transaction whose UPDATE removed them: the server accepts
	# the key, and so does ddlgate (its probe runs in that transaction)
	assert h.run_err(c, "BEGIN") is None
	assert h.run_err(c, "UPDATE t SET u = id WHERE id > 1") is None
	assert db().count(SCHEMA, "t", "u = 7") == 2  # not committed yet
	assert h.run_err(c, "ALTER TABLE t ADD UNIQUE (u)") is None
	assert unique_keys(SCHEMA, "t") == 1
	assert db().count(SCHEMA, "t", "u = 7") == 1  # the ALTER committed the fix
	c.close()
	assert gw.stop() == 0
	rec = h.audit_records(gw, "ALTER TABLE t ADD UNIQUE", outcome="ok")
	assert len(rec) == 1, h.audit_records(gw)
	passed = [x for x in rec[0]["rules"] if x["id"] == "unique-unguarded"]
	assert passed and passed[0]["action"] == "passed", rec[0]


def test_probe_resolves_names_in_the_servers_current_schema():
	"""USE from a client that asks for no session tracking: ddlgate cannot
	see the schema change, the server resolves t in the new schema."""
	h.require_proxy("guard probes are ddlgate's")
	fresh_schema()
	d = db()
	d.fresh_database(OTHER)
	d.query(f"CREATE TABLE `{OTHER}`.t (id INT PRIMARY KEY)")
	d.query(f"INSERT INTO `{OTHER}`.t VALUES (1), (2)")
	d.query(f"DELETE FROM `{SCHEMA}`.t")  # where ddlgate would look: empty
	gw = gateway({"guard": h.guard_section()})
	c = h.connect(gw, database=SCHEMA)
	assert not c.client_flag & CLIENT.SESSION_TRACK  # PyMySQL asks for none
	assert h.run_err(c, f"USE `{OTHER}`") is None
	assert h.scalar(c, "SELECT DATABASE()") == OTHER
	h.assert_blocked(c, "DROP TABLE t", "drop-table")
	assert d.count(OTHER, "t") == 2
	# back in the first schema the empty table goes: nothing is lost
	assert h.run_err(c, f"USE `{SCHEMA}`") is None
	assert h.run_err(c, "DROP TABLE t") is None
	assert not d.table_exists(SCHEMA, "t") and d.count(OTHER, "t") == 2
	c.close()


def test_probe_reads_names_in_the_sessions_character_set():
	"""A latin1 client names a table with a non-ASCII name: the probe on its
	own connection reads the name as the server will, finds the rows, and
	the DROP is refused; nothing is lost."""
	h.require_proxy("guard probes are ddlgate's")
	fresh_schema()
	d = db()
	d.query(f"CREATE TABLE `{SCHEMA}`.`caf\u00e9` (id INT PRIMARY KEY)")
	d.query(f"INSERT INTO `{SCHEMA}`.`caf\u00e9` VALUES (1)")
	gw = gateway({"guard": h.guard_section()})
	c = h.connect(gw, database=SCHEMA, charset="latin1")
	h.assert_blocked(c, "DROP TABLE `caf\u00e9`", "drop-table")
	assert d.count(SCHEMA, "caf\u00e9") == 1
	c.close()


NOREAD = h.Account("own_noread", "own-noread-secret", "ALTER, CREATE, INSERT, INDEX")


def test_probe_falls_back_to_the_guard_account():
	"""An account that may alter the table but not read it: its own
	connection's probe is denied (1142), the [guard] account answers."""
	gw, c = start({"guard": h.guard_section()})
	db().create_account(NOREAD)
	c.close()
	c = h.connect_as(gw, NOREAD, database=SCHEMA)
	assert h.run_err(c, "SELECT COUNT(*) FROM t")[0] == 1142
	h.assert_blocked(c, "ALTER TABLE t ADD UNIQUE (u)", "unique-unguarded")
	assert h.run_err(c, "ALTER TABLE t ADD UNIQUE (id, u)") is None
	assert unique_keys(SCHEMA, "t") == 1
	c.close()


def test_alter_ignore_over_duplicates_is_refused():
	gw, c = start()
	h.assert_blocked(c, "ALTER IGNORE TABLE t ADD UNIQUE (u)", "unique-unguarded")
	assert db().count(SCHEMA, "t") == 3 and unique_keys(SCHEMA, "t") == 0
	c.close()


def mattermost_set(column):
	return ("SET @s = IF((SELECT COUNT(*) FROM information_schema.COLUMNS "
		"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' "
		f"AND COLUMN_NAME = '{column}') > 0, 'SELECT 1', "
		f"'ALTER TABLE t ADD COLUMN {column} INT')")


def test_conditional_ddl_is_judged_by_the_variable():
	gw, c = start(closed_window(), client_flag=CLIENT.MULTI_STATEMENTS)
	# the ALTER branch with the window closed: refused at PREPARE
	assert h.run_err(c, mattermost_set("c")) is None
	h.assert_blocked(c, "PREPARE p FROM @s", "ddl-outside-window")
	h.assert_blocked(c, "EXECUTE IMMEDIATE @s", "ddl-outside-window")
	assert not db().column_exists(SCHEMA, "t", "c")
	# the SELECT branch runs, whatever the window
	db().query(f"ALTER TABLE `{SCHEMA}`.t ADD COLUMN done INT")
	assert h.run_err(c, mattermost_set("done")) is None
	assert h.run_err(c, "PREPARE p FROM @s") is None
	assert h.rows(c, "EXECUTE p") == ((1,),)
	assert h.run_err(c, "DEALLOCATE PREPARE p") is None
	assert h.rows(c, "EXECUTE IMMEDIATE @s") == ((1,),)
	# inside a window the ALTER runs, and is recorded
	code, _ = gw.admin_post("/window/open?minutes=5")
	assert code == 200
	assert h.run_err(c, mattermost_set("c")) is None
	assert h.run_err(c, "PREPARE p FROM @s") is None
	assert h.run_err(c, "EXECUTE p") is None
	assert h.run_err(c, "DEALLOCATE PREPARE p") is None
	assert db().column_exists(SCHEMA, "t", "c")
	# with the variable set before, the rest may come as one command
	assert h.run_err(c, mattermost_set("c3")) is None
	assert h.run_err(c, "PREPARE p3 FROM @s; EXECUTE p3; DEALLOCATE PREPARE p3") is None
	assert db().column_exists(SCHEMA, "t", "c3")
	# the whole script as one command: its SET runs first as a step of its
	# own, then the PREPARE is judged by the value it left
	script = (mattermost_set("c4") + "; PREPARE p FROM @s; EXECUTE p; "
		  "DEALLOCATE PREPARE p")
	assert h.run_err(c, script) is None
	assert db().column_exists(SCHEMA, "t", "c4")
	# prepared inside the window, executed after it closed: refused
	assert h.run_err(c, mattermost_set("c2")) is None
	assert h.run_err(c, "PREPARE p2 FROM @s") is None
	code, _ = gw.admin_post("/window/close")
	assert code == 200
	h.assert_blocked(c, "EXECUTE p2", "ddl-outside-window")
	assert not db().column_exists(SCHEMA, "t", "c2")
	c.close()
	assert gw.stop() == 0
	recs = h.audit_records(gw, "PREPARE p FROM @s", outcome="prepared")
	assert recs and recs[-1]["decision"] == "allow", h.audit_records(gw)
	assert h.audit_records(gw, "EXECUTE p", outcome="ok"), h.audit_records(gw)
	code, out = h.verify_audit(gw.audit)
	assert code == 0, out


# Under ANSI_QUOTES "a\" is an identifier and a DROP TABLE follows it;
# otherwise the whole text is one string. The other way round for '...'
# under NO_BACKSLASH_ESCAPES.
ANSI_DROP = 'SELECT "a\\" ; DROP TABLE t; -- "'
NBE_DROP = "SELECT 'a\\' ; DROP TABLE t; -- '"


def test_sql_mode_the_server_reports():
	gw, c = start(closed_window(), client_flag=CLIENT.MULTI_STATEMENTS)
	# the default mode: both texts are one harmless SELECT
	assert h.rows(c, ANSI_DROP) == (('a" ; DROP TABLE t; -- ',),)
	assert h.rows(c, NBE_DROP) == (("a' ; DROP TABLE t; -- ",),)
	# a mode ddlgate cannot read from the text
	assert h.run_err(c, "SET sql_mode = (SELECT 'ANSI_QUOTES')") is None
	assert h.scalar(c, "SELECT @@SESSION.sql_mode") == "ANSI_QUOTES"
	err = h.run_err(c, ANSI_DROP)
	assert err and err[0] == 1290, err
	assert db().count(SCHEMA, "t") == 3
	assert h.rows(c, NBE_DROP) == (("a' ; DROP TABLE t; -- ",),)
	assert h.run_err(c, "SET sql_mode = (SELECT 'NO_BACKSLASH_ESCAPES')") is None
	err = h.run_err(c, NBE_DROP)
	assert err and err[0] == 1290, err
	assert db().count(SCHEMA, "t") == 3
	c.close()


# In gbk 0x81 0x5C is one character, so the quote after it ends the string
# and a DROP TABLE follows; in latin1 the 0x5C is a backslash that escapes
# the quote, and the whole text is one SELECT.
GBK_DROP = b"SELECT LENGTH('\x81\x5c') ; DROP TABLE t; -- ') AS n"


def test_character_set_the_server_reports():
	gw, c = start(closed_window(), client_flag=CLIENT.MULTI_STATEMENTS)
	assert h.run_err(c, "SET NAMES latin1") is None
	assert h.rows(c, GBK_DROP) == ((len(b"\x81') ; DROP TABLE t; -- "),),)
	assert h.run_err(c, "SET NAMES gbk") is None
	err = h.run_err(c, GBK_DROP)
	assert err and err[0] == 1290, err
	assert db().count(SCHEMA, "t") == 3
	c.close()


def test_private_queries_are_invisible_to_clients():
	"""The mariadb client (compressed client leg) and PyMySQL, both over a
	TLS backend leg: every answer is that of the client's own statement."""
	gw, c = start()
	assert h.run_err(c, "SET @s = 'SELECT 41 + 1'") is None
	assert h.rows(c, "EXECUTE IMMEDIATE @s") == ((42,),)
	assert h.rows(c, NBE_DROP) == (("a' ; DROP TABLE t; -- ",),)
	assert h.rows(c, "SELECT COUNT(*) FROM t") == ((3,),)
	cipher = h.rows(c, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[0][1]
	assert cipher, "the backend leg is not TLS"
	c.close()
	script = ("SET @s = 'SELECT 6 * 7 AS answer';\n"
		  "PREPARE p FROM @s;\nEXECUTE p;\n"
		  f"{NBE_DROP};\n"
		  "ALTER TABLE t ADD UNIQUE (id, u);\n"
		  "SELECT COUNT(*) AS n FROM t;\n")
	r = h.mariadb_cli(gw, "--compress", "--batch", "--skip-column-names", database=SCHEMA,
			  input=script)
	assert r.returncode == 0, r.stderr
	assert r.stdout.splitlines() == ["42", "a' ; DROP TABLE t; -- ", "3"], r.stdout
	assert unique_keys(SCHEMA, "t") == 1
	assert gw.stop() == 0


def test_a_slow_private_answer_is_drained_before_the_verdict():
	"""The probe waits for a table lock another session holds, past
	probe_timeout_ms: the probe counts as failed (the statement stays
	unguarded and is refused), but the refusal reaches the client only
	once the server answered the probe, and the session reads its own
	answers afterwards."""
	gw, c = start({"guard": {"probe_timeout_ms": 300}})
	locker = h.connect(gw, database=SCHEMA)
	assert h.run_err(locker, "LOCK TABLES t WRITE") is None
	worker, result = h.run_err_in_thread(c, "ALTER TABLE t ADD UNIQUE (id, u)")
	time.sleep(1.5)
	assert "err" not in result, result  # held: the probe has no answer yet
	assert h.run_err(locker, "UNLOCK TABLES") is None
	worker.join(20)
	h.assert_refused(result["err"], "unique-unguarded")
	assert result["took"] >= 1.4, result
	assert h.rows(c, "SELECT COUNT(*) FROM t") == ((3,),)
	assert unique_keys(SCHEMA, "t") == 0
	locker.close()
	c.close()


def test_own_connection_off_fails_closed_as_before():
	"""[guard] own_connection = false: nothing is asked, what only the
	session's connection could answer stays unknown and is refused."""
	gw, c = start({"guard": {"own_connection": False}})
	assert h.run_err(c, "SET @s = 'SELECT 1'") is None
	h.assert_blocked(c, "EXECUTE IMMEDIATE @s", "unparseable-ddl")
	h.assert_blocked(c, NBE_DROP, "unparseable-ddl")
	h.assert_blocked(c, "ALTER TABLE t ADD UNIQUE (id, u)", "unique-unguarded")
	assert unique_keys(SCHEMA, "t") == 0
	c.close()


READER = h.Account("own_reader", "own-reader-secret", "SELECT")
ROLE_USER = h.Account("own_roled", "own-roled-secret", "SELECT")


def session_kinds(gw, user):
	code, body = gw.admin_get("/sessions")
	assert code == 200, body
	return [s["kind"] for s in json.loads(body) if s["user"] == user]


def test_floor_needs_ddl_privileges_without_a_guard_account():
	gw, app = start()
	d = db()
	for account in (READER, ROLE_USER):
		d.create_account(account)
	d.query("CREATE ROLE IF NOT EXISTS own_ddl_role")
	d.query(f"GRANT ALTER, CREATE ON `{SCHEMA}`.* TO own_ddl_role")
	d.query(f"GRANT own_ddl_role TO '{ROLE_USER.user}'@'127.0.0.1'")
	d.query(f"SET DEFAULT ROLE own_ddl_role FOR '{ROLE_USER.user}'@'127.0.0.1'")
	other = h.connect_as(gw, h.WEBAPP, database=SCHEMA)
	# a read-only account: its lock and its directive are no claim
	reader = h.connect_as(gw, READER, database=SCHEMA)
	assert h.scalar(reader, "SELECT GET_LOCK('prisma_migrate', 0)") == 1
	assert session_kinds(gw, READER.user) == ["app"]
	assert h.scalar(reader, "/* ddlgate:migration name=\"sneaky\" */ SELECT 1") == 1
	assert session_kinds(gw, READER.user) == ["app"]
	assert h.run_err(other, "ALTER TABLE t ADD COLUMN f1 INT NULL") is None
	assert h.scalar(reader, "SELECT RELEASE_LOCK('prisma_migrate')") == 1
	reader.close()
	assert "claim is ignored" in open(gw.log).read()
	# DDL privileges through the current role: the claim counts
	roled = h.connect_as(gw, ROLE_USER, database=SCHEMA)
	assert h.scalar(roled, "SELECT CURRENT_ROLE()") == "own_ddl_role"
	assert h.scalar(roled, "SELECT GET_LOCK('prisma_migrate', 0)") == 1
	assert session_kinds(gw, ROLE_USER.user) == ["migration"]
	h.assert_blocked(other, "ALTER TABLE t ADD COLUMN f2 INT NULL", "migration-conflict")
	roled.close()
	h.wait_for(lambda: gw.status()["migration"]["active"] == [], 3, "the migration to end")
	# an account with global privileges, as before
	assert h.scalar(app, "SELECT GET_LOCK('prisma_migrate', 0)") == 1
	h.assert_blocked(other, "ALTER TABLE t ADD COLUMN f3 INT NULL", "migration-conflict")
	assert db().columns(SCHEMA, "t") == ["id", "u", "f1"]
	app.close()
	other.close()


if __name__ == "__main__":
	h.main(globals())
