# Shared by the conformance tests: a MariaDB set up as MariaDB's own test tools expect it, and a ddlgate whose rules all warn.
"""
mysql-test-run (--extern) and mysql_client_test drive a server that mtr
itself would have installed: root@localhost (also over TCP) without a
	password, the test and mtr
databases, the server options of mtr's my.cnf. They also run DDL of every
kind, which ddlgate must relay (and judge) without refusing, so the
ddlgate in front of that server has every rule set to warn.
"""
import os
import re

import harness as h

# The server options of mtr's own my.cnf that tests depend on (default
# engine, character set, binary log, limits).
MTR_SERVER_ARGS = [
	"--local-infile", "--character-set-server=latin1", "--default-storage-engine=myisam",
	"--log-bin-trust-function-creators=1", "--key-buffer-size=1M",
	"--sort-buffer-size=256K", "--max-heap-table-size=1M", "--use-stat-tables=preferably",
	"--histogram-type=json_hb", "--log-bin=mysqld-bin", "--server-id=1",
	"--max-connections=300",
	# Tests connect over TCP as root@localhost (and compare CURRENT_USER()).
	"--skip-name-resolve=0",
]


def mtr_mariadb():
	"""The file's shared MariaDB, prepared as mtr prepares its own: root
	without a password, the test and mtr databases, mtr.add_suppression."""
	db = h.shared_mariadb(args=MTR_SERVER_ARGS, tls=True)
	if not h._shared.get("mtr_ready"):
		for sql in (
			"CREATE DATABASE IF NOT EXISTS test",
			"CREATE DATABASE IF NOT EXISTS mtr CHARSET=latin1",
			"CREATE TABLE IF NOT EXISTS mtr.test_suppressions (pattern VARCHAR(255)) "
			"ENGINE=MyISAM",
			"CREATE OR REPLACE PROCEDURE mtr.add_suppression(pattern VARCHAR(255)) BEGIN "
			"INSERT INTO mtr.test_suppressions (pattern) VALUES (pattern); "
			"FLUSH NO_WRITE_TO_BINLOG TABLE mtr.test_suppressions; END",
			"DROP USER IF EXISTS 'root'@'127.0.0.1'",
			"ALTER USER 'root'@'localhost' IDENTIFIED BY ''",
		):
			db.query(sql)
		h._shared["mtr_ready"] = True
	return db


def builtin_rules():
	"""The ids of the built-in rules the engine decides, read from its
	catalogue in rules/engine.c so that a new rule is covered too."""
	rules_dir = os.path.join(os.environ.get("DDLGATE_SOURCE", os.path.join(h.HERE, "..", "..")),
				 "rules")
	text = ""
	for name in ("engine.h", "engine.c"):
		with open(os.path.join(rules_dir, name)) as f:
			text += f.read()
	defines = dict(re.findall(r'#define (RULES_ID_\w+) "([a-z-]+)"', text))
	ids = [defines.get(name, name.strip('"')) for name, engine in re.findall(
		r'\{\s*("[a-z-]+"|RULES_ID_\w+),\s*RULES_ACTION_\w+,\s*\w+,\s*(true|false)\}', text)
	       if engine == "true"]
	assert len(ids) >= 20 and "unparseable-ddl" in ids, ids
	return ids


def warn_all_sections():
	"""Every rule warns, LOAD DATA LOCAL is relayed, and no lock name or
	table of the suites' makes a session a migration (which would refuse
	the DDL of its other connections)."""
	sections = {f'rule "{r}"': {"action": "warn"} for r in builtin_rules()}
	sections["proxy"] = {"allow_local_infile": True}
	sections["migration"] = {"lock_names": "ddlgate-conformance-no-such-lock",
				 "history_tables": "ddlgate_conformance_no_such_table"}
	return sections
