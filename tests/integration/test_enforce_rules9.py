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

import datetime
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PROBER, PROBER_PASSWORD = "prober", "prober-secret"
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
SCHEMA = "cfg"

_db = None


def db():
	global _db
	if _db is None:
		_db = h.shared_mariadb()
		for sql in (
			f"CREATE OR REPLACE USER '{PROBER}'@'127.0.0.1' IDENTIFIED BY '{PROBER_PASSWORD}'",
			f"GRANT SELECT ON *.* TO '{PROBER}'@'127.0.0.1'",
		):
			_db.query(sql)
	return _db


def closed_window():
	"""A one-minute window three days from now: certainly closed now."""
	day = DAYS[(datetime.datetime.now(datetime.timezone.utc).weekday() + 3) % 7]
	return {"window": {"schedule": f"{day} 03:00-03:01 UTC"}}


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


def admin_post(gw, path):
	req = urllib.request.Request(f"http://127.0.0.1:{gw.admin_port}{path}", data=b"",
				     method="POST")
	with urllib.request.urlopen(req, timeout=10) as r:
		return r.status, json.loads(r.read().decode())


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


if __name__ == "__main__":
	h.main(globals())
