#!/usr/bin/python3
# Tool-level test: sqitch (Debian's package, MySQL engine) deploying and reverting through ddlgate.
"""
sqitch keeps its registry over DBI (DBD::mysql) and runs each change's
script with the `mysql` command-line client, a new connection per script.
Pointed at ddlgate (target db:mysql://user:pw@127.0.0.1:<port>/db), a deploy
must work unchanged, and a revert that would drop a table holding data is
refused by ddlgate (drop-table) while an empty table's revert goes through.

Under DDLGATE_DIRECT=1 the same project runs against MariaDB itself, where
the revert drops both tables: the refusal asserted through ddlgate is
ddlgate's doing.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "tools", "sqitch")

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 300)


def require_sqitch():
	harness.require_programs("sqitch", "mysql",
				 install="apt-get install sqitch libdbd-mysql-perl mariadb-client")


def setup_schema(name):
	"""The file's MariaDB (with the probe account) and a fresh schema
	without sqitch's registry."""
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	db.query(f"DROP DATABASE IF EXISTS `{name}_sqitch`")
	db.fresh_database(name)
	return db


class Project:
	"""A copy of tools/sqitch with its own registry database, so that
	tests sharing one MariaDB do not share sqitch's bookkeeping."""

	def __init__(self, schema):
		require_sqitch()
		self.dir = os.path.join(harness.tmpdir("sqitch-"), "project")
		shutil.copytree(PROJECT, self.dir)
		self.registry = f"{schema}_sqitch"
		with open(os.path.join(self.dir, "sqitch.conf"), "a") as f:
			f.write(f'[engine "mysql"]\n\tregistry = {self.registry}\n\tclient = mysql\n')
		self.user_conf = os.path.join(self.dir, "..", "user.conf")
		with open(self.user_conf, "w") as f:
			f.write("[user]\n\tname = Test Runner\n\temail = tests@example.com\n")
		self.schema = schema

	def allow_in_revert(self, change, rule, reason):
		"""Puts a ddlgate:allow directive just before the revert's DROP."""
		path = os.path.join(self.dir, "revert", change + ".sql")
		with open(path) as f:
			text = f.read()
		text = text.replace("DROP TABLE", f'/* ddlgate:allow {rule} reason="{reason}" */ DROP TABLE')
		with open(path, "w") as f:
			f.write(text)

	def use_client(self, client):
		"""Sets engine.mysql.client (the program sqitch runs scripts with)."""
		path = os.path.join(self.dir, "sqitch.conf")
		with open(path) as f:
			text = f.read()
		assert "\tclient = mysql\n" in text
		with open(path, "w") as f:
			f.write(text.replace("\tclient = mysql\n", f"\tclient = {client}\n"))

	def sqitch(self, gw, *args):
		target = (f"db:mysql://{harness.APP_USER}:{harness.APP_PASSWORD}"
			  f"@{gw.host}:{gw.port}/{self.schema}")
		env = dict(os.environ)
		env.update({"SQITCH_USER_CONFIG": self.user_conf,
			    "SQITCH_SYSTEM_CONFIG": os.devnull,
			    "SQITCH_PAGER": "cat", "MYSQL_HOME": self.dir, "HOME": self.dir})
		cmd = ["sqitch", "--chdir", self.dir] + [args[0], "--target", target] + list(args[1:])
		return harness.run_shown(cmd, secret=harness.APP_PASSWORD, timeout=120, env=env,
					 cwd=self.dir)


def table_rows(db, schema, table):
	"""Row count of a table, or None when the table does not exist."""
	return db.count(schema, table) if db.table_exists(schema, table) else None


def deployed_changes(db, proj):
	return [r[0] for r in db.query(
		f"SELECT `change` FROM `{proj.registry}`.changes ORDER BY committed_at, `change`")]


def test_sqitch_deploy_then_revert_of_a_table_with_data_is_refused():
	schema = "sqitch_app"
	db = setup_schema(schema)
	gw = harness.guarded_gateway(db)
	proj = Project(schema)

	r = proj.sqitch(gw, "deploy")
	assert r.returncode == 0, "sqitch deploy through ddlgate must work:\n" + r.stdout + r.stderr
	assert table_rows(db, schema, "widgets") == 0
	assert table_rows(db, schema, "gizmos") == 0
	assert sorted(deployed_changes(db, proj)) == ["gizmos", "widgets"]

	r = proj.sqitch(gw, "verify")
	assert r.returncode == 0, r.stdout + r.stderr

	app = harness.connect(gw, database=schema)
	with app.cursor() as cur:
		cur.execute("INSERT INTO widgets (name) VALUES ('sprocket'), ('flange')")
	app.close()

	# Revert everything: gizmos (empty) first, then widgets (2 rows).
	r = proj.sqitch(gw, "revert", "-y")
	out = r.stdout + r.stderr
	if harness.DIRECT:
		assert r.returncode == 0, out
		assert table_rows(db, schema, "widgets") is None
		return
	assert r.returncode != 0, "reverting a table that holds data must be refused:\n" + out
	assert "drop-table" in out, "the error must name the rule:\n" + out
	assert "1290" in out, out
	assert table_rows(db, schema, "widgets") == 2, "the table and its rows must still exist"
	# The empty table's revert went through (the probe found no rows), and
	# sqitch knows widgets is still deployed.
	assert table_rows(db, schema, "gizmos") is None
	assert deployed_changes(db, proj) == ["widgets"]

	# The team decides the data may go: it follows ddlgate's advice and puts
	# an allow directive in the revert script. The `mysql` client strips
	# comments by default, so the directive alone changes nothing...
	proj.allow_in_revert("widgets", "drop-table", "widgets retired")
	r = proj.sqitch(gw, "revert", "-y")
	assert r.returncode != 0 and "drop-table" in r.stdout + r.stderr, r.stdout + r.stderr
	assert table_rows(db, schema, "widgets") == 2
	# ...until sqitch runs a client that keeps comments.
	proj.use_client(os.path.join(PROJECT, "mysql-comments.sh"))
	r = proj.sqitch(gw, "revert", "-y")
	assert r.returncode == 0, r.stdout + r.stderr
	assert table_rows(db, schema, "widgets") is None
	assert deployed_changes(db, proj) == []


def test_sqitch_deploy_as_a_migration_user():
	"""The [migration] users route for sqitch: its registry connection and
	every `mysql` client it starts log in as the deploy account, so they
	are all the migration's sessions and must not conflict with each other."""
	schema = "sqitch_user"
	db = setup_schema(schema)
	gw = harness.guarded_gateway(db, {"migration": {"users": harness.APP_USER}})
	proj = Project(schema)
	r = proj.sqitch(gw, "deploy")
	assert r.returncode == 0, ("sqitch deploy as a [migration] user must work:\n"
				   + r.stdout + r.stderr)
	assert table_rows(db, schema, "widgets") == 0
	assert table_rows(db, schema, "gizmos") == 0
	if not harness.DIRECT:
		ddl = harness.audit_records(gw, "widgets", kind="ddl")
		assert ddl and all(x.get("session") == "migration" for x in ddl), ddl


if __name__ == "__main__":
	harness.main(globals())
