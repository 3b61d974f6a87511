#!/usr/bin/python3
# Enforcement tests: server configuration changes and data-changing DDL the server would run silently.
"""
SET GLOBAL (any form) and INSTALL / UNINSTALL SONAME change the server for
every session: with a closed window they are refused (ERR 1290 naming a
rule), and without any window configured server-config-change refuses
them; the server's values and plugins stay as they were, while SET SESSION
still works. Inside an ad-hoc window they pass.

Data-changing DDL: ENGINE=BLACKHOLE on a table with rows is refused by
engine-change (the rows would be gone), on an empty table it passes;
a CHARACTER SET conversion that cannot hold the stored characters is
refused by lossy-conversion after a live probe, a safe widening or a
conversion of data that fits passes, and so does the same change on an
empty table.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
# the closed window, the [guard] account and the admin client are the window tests'
from test_enforce_window import admin_post, db, other_day_schedule  # noqa: E402

PROBER, PROBER_PASSWORD = h.PROBER.user, h.PROBER.password

SCHEMA = "cfg"


def closed_window():
	return {"window": {"schedule": other_day_schedule()}}


def guarded():
	return {"guard": {"user": PROBER, "password": PROBER_PASSWORD}}


def fresh_schema():
	d = db()
	d.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
	d.query(f"CREATE DATABASE `{SCHEMA}`")
	d.query(f"CREATE TABLE `{SCHEMA}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
	d.query(f"INSERT INTO `{SCHEMA}`.t VALUES (1, 'keep me')")


def server_state():
	"""What a configuration change would alter: global values and plugins."""
	values = db().query("SELECT @@global.init_connect, @@global.sql_mode, "
			    "@@global.event_scheduler, @@global.max_connections")
	plugins = db().query("SELECT PLUGIN_NAME FROM information_schema.PLUGINS "
			     "WHERE PLUGIN_NAME = 'BLACKHOLE'")
	return values, plugins


CONFIG_CHANGES = (
	"SET GLOBAL init_connect='DROP TABLE t'",
	"SET @@global.sql_mode='NO_BACKSLASH_ESCAPES'",
	"SET SESSION sql_mode = '', GLOBAL event_scheduler = ON",
	"/*!50000 SET @@GLOBAL . init_connect = 'DROP TABLE t' */",
	"INSTALL SONAME 'ha_blackhole'",
	"PREPARE s FROM 'SET GLOBAL init_connect = ''DROP TABLE t'''",
)


def test_config_changes_refused_with_a_closed_window():
	h.require_proxy("configuration rules are ddlgate's")
	fresh_schema()
	before = server_state()
	gw = h.Ddlgate(db(), closed_window())
	c = h.connect(gw, database=SCHEMA)
	for sql in CONFIG_CHANGES:
		h.assert_blocked(c, sql, "ddl-outside-window")
	assert server_state() == before
	# the session's own settings still work
	assert h.run_err(c, "SET SESSION sql_mode = 'ANSI_QUOTES'") is None
	assert h.scalar(c, "SELECT @@session.sql_mode") == "ANSI_QUOTES"
	assert h.run_err(c, "SET @@session.time_zone = '+02:00', @a = @@global.sql_mode") is None
	assert h.scalar(c, "SELECT @@session.time_zone") == "+02:00"
	assert h.scalar(c, "SELECT COUNT(*) FROM t") == 1
	c.close()


def test_config_changes_refused_without_windows():
	h.require_proxy("configuration rules are ddlgate's")
	fresh_schema()
	before = server_state()
	gw = h.Ddlgate(db())
	c = h.connect(gw, database=SCHEMA)
	for sql in CONFIG_CHANGES:
		h.assert_blocked(c, sql, "server-config-change")
	h.assert_blocked(c, "UNINSTALL SONAME 'ha_blackhole'", "server-config-change")
	assert server_state() == before
	c.close()


def test_config_change_passes_inside_an_opened_window():
	h.require_proxy("windows are ddlgate's")
	fresh_schema()
	gw = h.Ddlgate(db(), closed_window())
	c = h.connect(gw, database=SCHEMA)
	old = db().query("SELECT @@global.max_connections")[0][0]
	h.assert_blocked(c, f"SET GLOBAL max_connections = {old + 1}", "ddl-outside-window")
	code, _ = admin_post(gw, "/window/open?minutes=5")
	assert code == 200
	try:
		assert h.run_err(c, f"SET GLOBAL max_connections = {old + 1}") is None
		assert db().query("SELECT @@global.max_connections")[0][0] == old + 1
	finally:
		db().query(f"SET GLOBAL max_connections = {old}")
	c.close()


def data_schema():
	d = db()
	d.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
	d.query(f"CREATE DATABASE `{SCHEMA}`")
	for sql in (
		"CREATE TABLE full_t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO full_t VALUES (1, 'a'), (2, 'b')",
		"CREATE TABLE empty_t (id INT PRIMARY KEY, v VARCHAR(20))",
		"CREATE TABLE intl (id INT PRIMARY KEY, name VARCHAR(50) CHARACTER SET utf8mb4)",
		"INSERT INTO intl VALUES (1, 'caf\u00e9'), (2, '\u20acuro \u01ce'), (3, 'emoji \U0001F600')",
		"CREATE TABLE western (id INT PRIMARY KEY, name VARCHAR(50) CHARACTER SET utf8mb4)",
		"INSERT INTO western VALUES (1, 'caf\u00e9'), (2, 'plain')",
		"CREATE TABLE old_latin (id INT PRIMARY KEY, name VARCHAR(50) CHARACTER SET latin1)",
		"INSERT INTO old_latin VALUES (1, 'na\u00efve')",
		# utf8mb4 columns in latin1 tables: a MODIFY without CHARACTER SET converts
		"CREATE TABLE legacy (id INT PRIMARY KEY, name VARCHAR(20) CHARACTER SET utf8mb4) "
		"DEFAULT CHARSET=latin1",
		"INSERT INTO legacy VALUES (1, '\u01ce')",
		"CREATE TABLE legacy_fits (id INT PRIMARY KEY, name VARCHAR(20) CHARACTER SET utf8mb4) "
		"DEFAULT CHARSET=latin1",
		"INSERT INTO legacy_fits VALUES (1, 'caf\u00e9')",
		"CREATE TABLE calc (id INT PRIMARY KEY, a INT, x INT)",
		"INSERT INTO calc VALUES (1, 2, 99)",
		"CREATE TABLE calc_empty (id INT PRIMARY KEY, a INT, x INT)",
	):
		c = d.admin_connect()
		try:
			with c.cursor() as cur:
				cur.execute(f"USE `{SCHEMA}`")
				cur.execute("SET NAMES utf8mb4")
				cur.execute(sql)
		finally:
			c.close()


def table_state(table):
	engine = db().query("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
			    "AND TABLE_NAME=%s", (SCHEMA, table))
	cols = db().query("SELECT COLUMN_NAME, COLUMN_TYPE, CHARACTER_SET_NAME, EXTRA "
			  "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s "
			  "ORDER BY ORDINAL_POSITION", (SCHEMA, table))
	c = db().admin_connect()
	try:
		with c.cursor() as cur:
			cur.execute("SET NAMES utf8mb4")
			cur.execute(f"SELECT * FROM `{SCHEMA}`.`{table}` ORDER BY 1")
			rows = cur.fetchall()
	finally:
		c.close()
	return engine, cols, rows


def test_shadow_names_alone_protect_nothing():
	"""RENAME TABLE t TO _t_old, then DROP TABLE _t_old, would destroy t's
	rows: a shadow-looking name is no exemption. gh-ost's cut-over sentry,
	dropped while gh-ost holds LOCK TABLES on it, is told by its comment
	without waiting for that lock."""
	h.require_proxy("rules are ddlgate's")
	fresh_schema()
	d = db()
	gw = h.Ddlgate(d, guarded())
	c = h.connect(gw, database=SCHEMA)
	h.assert_blocked(c, "RENAME TABLE t TO _t_old", "rename-table")
	assert h.run_err(c, "RENAME TABLE t TO _t_old /* ddlgate:allow rename-table "
			    "reason=\"test\" */") is None
	h.assert_blocked(c, "DROP TABLE _t_old", "drop-table")
	h.assert_blocked(c, "TRUNCATE TABLE _t_old", "truncate-table")
	assert d.query(f"SELECT COUNT(*) FROM `{SCHEMA}`._t_old")[0][0] == 1
	d.query(f"RENAME TABLE `{SCHEMA}`._t_old TO `{SCHEMA}`.t")
	# gh-ost's cut-over: the sentry is created elsewhere, locked and dropped here
	d.query(f"CREATE TABLE `{SCHEMA}`._t_del (id INT AUTO_INCREMENT PRIMARY KEY) "
		"COMMENT='ghost-cut-over-sentry'")
	assert h.run_err(c, "LOCK TABLES t WRITE, _t_del WRITE") is None
	t0 = time.monotonic()
	assert h.run_err(c, "DROP /* gh-ost */ TABLE IF EXISTS _t_del") is None
	assert time.monotonic() - t0 < 1.5, "the sentry's drop must not wait for a row probe"
	assert h.run_err(c, "UNLOCK TABLES") is None
	assert h.scalar(c, "SELECT COUNT(*) FROM t") == 1
	c.close()


def data_session():
	"""A fresh data schema behind a ddlgate whose probes see it."""
	h.require_proxy("rules are ddlgate's")
	data_schema()
	gw = h.Ddlgate(db(), guarded())
	return gw, h.connect(gw, database=SCHEMA)


def test_engine_change_with_and_without_rows():
	gw, c = data_session()
	before = table_state("full_t")
	h.assert_blocked(c, "ALTER TABLE full_t ENGINE=BLACKHOLE", "engine-change")
	h.assert_blocked(c, "ALTER TABLE full_t ENGINE=MEMORY", "engine-change")
	assert table_state("full_t") == before
	# an empty table loses nothing
	assert h.run_err(c, "ALTER TABLE empty_t ENGINE=MEMORY") is None
	assert table_state("empty_t")[0] == (("MEMORY",),)
	c.close()


def test_lossy_conversion_decided_by_the_data():
	gw, c = data_session()
	before = table_state("intl")
	err = h.run_err(c, "ALTER TABLE intl MODIFY name VARCHAR(50) CHARACTER SET latin1")
	assert err and err[0] == 1290 and "blocked by lossy-conversion" in err[1], err
	assert "latin1 lacks" in err[1] or "becomes '?'" in err[1], err
	h.assert_blocked(c, "ALTER TABLE intl CONVERT TO CHARACTER SET latin1", "lossy-conversion")
	h.assert_blocked(c, "ALTER TABLE intl MODIFY name VARCHAR(50) CHARACTER SET binary",
			 "lossy-conversion")
	assert table_state("intl") == before
	# every value fits latin1: the probe lets it through, and the text survives
	assert h.run_err(c, "ALTER TABLE western MODIFY name VARCHAR(50) CHARACTER SET latin1") is None
	state = table_state("western")
	assert state[1][1][2] == "latin1", state
	assert state[2] == ((1, "caf\u00e9"), (2, "plain")), state
	# a safe widening and an empty table pass
	assert h.run_err(c, "ALTER TABLE old_latin CONVERT TO CHARACTER SET utf8mb4") is None
	assert table_state("old_latin")[2] == ((1, "na\u00efve"),)
	assert h.run_err(c, "ALTER TABLE empty_t CONVERT TO CHARACTER SET latin1") is None
	# a widening that silently moves the column to the table's latin1
	before = table_state("legacy")
	h.assert_blocked(c, "ALTER TABLE legacy MODIFY name VARCHAR(40)", "lossy-conversion")
	assert table_state("legacy") == before
	assert h.run_err(c, "ALTER TABLE legacy_fits MODIFY name VARCHAR(40)") is None
	assert table_state("legacy_fits")[2] == ((1, "caf\u00e9"),)
	c.close()


def test_column_made_generated():
	gw, c = data_session()
	before = table_state("calc")
	h.assert_blocked(c, "ALTER TABLE calc MODIFY x INT AS (a * 2) PERSISTENT",
			 "column-made-generated")
	assert table_state("calc") == before
	assert h.run_err(c, "ALTER TABLE calc_empty MODIFY x INT AS (a * 2) PERSISTENT") is None
	# a generated column given a new expression keeps deriving its values
	assert h.run_err(c, "ALTER TABLE calc_empty MODIFY x INT AS (a * 3) PERSISTENT") is None
	c.close()



def test_drop_database_counts_every_table_that_holds_rows():
	"""A schema whose only table is system-versioned (TABLE_TYPE 'SYSTEM
	VERSIONED', not 'BASE TABLE') still holds data: DROP DATABASE is refused
	by drop-database, and the schema stays. A schema with only a view is
	empty and may go."""
	h.require_proxy("the drop-database guard is ddlgate's")
	d = db()
	for name in ("sv_only", "view_only"):
		d.query(f"DROP DATABASE IF EXISTS `{name}`")
		d.query(f"CREATE DATABASE `{name}`")
	d.query("CREATE TABLE sv_only.h (a INT) WITH SYSTEM VERSIONING")
	d.query("INSERT INTO sv_only.h VALUES (1)")
	d.query("CREATE VIEW view_only.v AS SELECT 1 AS x")
	gw = h.Ddlgate(db(), guarded())
	c = h.connect(gw, database=None)
	h.assert_blocked(c, "DROP DATABASE sv_only", "drop-database")
	assert d.query("SELECT COUNT(*) FROM sv_only.h")[0][0] == 1
	assert h.run_err(c, "DROP DATABASE view_only") is None
	assert not d.query("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'view_only'")

if __name__ == "__main__":
	h.main(globals())
