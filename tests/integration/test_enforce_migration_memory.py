#!/usr/bin/python3
# Enforcement tests: the migration memory belongs to the migration and knows which table got rows.
"""
A migration tool writes its bookkeeping row after each step (Rails'
schema_migrations, Django's django_migrations ...). Such a row must not
make the tables the migration just created look as if they held rows:
adding a NOT NULL column to a table created two statements earlier stays
allowed, and renaming a column of a table created in this migration is
allowed whatever was written since (no running code knows the table).
Rows written into the new table itself are remembered: the NOT NULL
column is then refused (no [guard] here, so no probe can show it empty).

One migration on several connections (Rails takes its lock on one and
runs DDL on another) shares one memory: what one connection created is
new for the others, across commands.

A session that reads or writes a migration-history table ([migration]
history_tables: django_migrations, alembic_version ...) is a migration of
that tool: other accounts' DDL is a migration-conflict while it lasts,
/sessions names the tool, and it ends with the connection or after
history_idle_s without DDL or history access. An account that cannot
change the schema does not become one by reading such a table.

Peers are told apart by client process: a connection of the same account
from the same machine but another process (connection attribute _pid) is
no part of the migration, and its DDL is a migration-conflict; so is a
client that names its program but sends no _pid (MariaDB Connector/J
does so) beside a migration whose client sent one. A client that sends
no connection attributes falls back to account and machine.

Under DDLGATE_DIRECT=1 every test is skipped (the policy is ddlgate's).
"""

import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_prepared_params import RawStatement  # noqa: E402

SCHEMA = "mig_mem"
MIGRATOR = h.Account("memo_migrator", "memo-migrator-secret")
RAILS = h.Account("memo_rails", "memo-rails-secret")
DJANGO = h.Account("memo_django", "memo-django-secret")
READER = h.Account("memo_reader", "memo-reader-secret", "SELECT")


def db():
	return h.shared_mariadb(accounts=(MIGRATOR, RAILS, DJANGO, READER, h.WEBAPP, h.PROBER))


def fresh_schema():
	"""The schema with a Rails-style schema_migrations and an app table."""
	d = db()
	d.fresh_database(SCHEMA)
	d.query(f"CREATE TABLE `{SCHEMA}`.schema_migrations (version VARCHAR(64) PRIMARY KEY)")
	d.query(f"CREATE TABLE `{SCHEMA}`.accounts (id INT PRIMARY KEY)")
	d.query(f"INSERT INTO `{SCHEMA}`.accounts VALUES (1)")
	d.query(f"CREATE TABLE `{SCHEMA}`.django_migrations (id INT AUTO_INCREMENT PRIMARY KEY, "
		"app VARCHAR(255), name VARCHAR(255), applied DATETIME(6))")
	d.query(f"CREATE TABLE `{SCHEMA}`.alembic_version (version_num VARCHAR(32) PRIMARY KEY)")


def gateway(guard=False, **migration):
	"""A ddlgate without live probes (no [guard] account, and none on the
	session's own connection: only the memory can prove a table empty;
	guard=True: probes and grant checks as PROBER) and with [migration]
	keys laid over the defaults."""
	fresh_schema()
	sections = {"migration": migration} if migration else {}
	sections["guard"] = h.guard_section(h.PROBER) if guard else {"own_connection": False}
	return h.Ddlgate(db(), sections)


def sessions_of(gw, account):
	return [x for x in gw.sessions() if x["user"] == account.user]



def test_bookkeeping_row_keeps_a_new_table_new():
	h.require_proxy("the migration memory is ddlgate's")
	gw = gateway(users=MIGRATOR.user)
	m = h.connect_as(gw, MIGRATOR, database=SCHEMA)
	assert h.run_err(m, "CREATE TABLE widgets (id INT PRIMARY KEY, name VARCHAR(20))") is None
	assert h.run_err(m, "INSERT INTO schema_migrations VALUES ('20240101000000')") is None
	assert h.run_err(m, "ALTER TABLE widgets ADD COLUMN qty INT NOT NULL") is None
	assert h.run_err(m, "ALTER TABLE widgets RENAME COLUMN name TO title") is None
	assert h.run_err(m, "INSERT INTO schema_migrations VALUES ('20240101000001')") is None
	assert h.run_err(m, "ALTER TABLE widgets CHANGE title label VARCHAR(20)") is None
	cols = db().columns(SCHEMA, "widgets")
	assert cols == ["id", "label", "qty"], cols
	# a row in an app table may have gone anywhere (triggers): careful again
	assert h.run_err(m, "INSERT INTO accounts VALUES (2)") is None
	h.assert_blocked(m, "ALTER TABLE widgets ADD COLUMN price INT NOT NULL",
			 "add-required-column")
	# renaming still is fine: no running code uses the new table
	assert h.run_err(m, "ALTER TABLE widgets RENAME COLUMN label TO caption") is None
	m.close()
	assert gw.stop() == 0


def test_rows_in_the_new_table_are_remembered():
	h.require_proxy("the migration memory is ddlgate's")
	gw = gateway(users=MIGRATOR.user)
	m = h.connect_as(gw, MIGRATOR, database=SCHEMA)
	assert h.run_err(m, "CREATE TABLE gadgets (id INT PRIMARY KEY, name VARCHAR(20))") is None
	assert h.run_err(m, "CREATE TABLE parts (id INT PRIMARY KEY)") is None
	assert h.run_err(m, "INSERT INTO gadgets VALUES (1, 'a')") is None
	h.assert_blocked(m, "ALTER TABLE gadgets ADD COLUMN qty INT NOT NULL", "add-required-column")
	# the other new table got no row
	assert h.run_err(m, "ALTER TABLE parts ADD COLUMN qty INT NOT NULL") is None
	# the rename guard is "created in this migration", rows or not
	assert h.run_err(m, "ALTER TABLE gadgets RENAME COLUMN name TO title") is None
	m.close()
	assert gw.stop() == 0


def test_peer_rows_remembered_with_every_statement_recorded():
	"""[audit] record = all: a statement only the audit wants takes a light
	path (recorded, not judged) while no migration runs. During one, a
	peer's row in a new table, written as text or by a prepared execute,
	is still learnt, and the NOT NULL column is refused as without the
	audit."""
	h.require_proxy("the migration memory is ddlgate's")
	fresh_schema()
	gw = h.Ddlgate(db(), {"guard": {"own_connection": False}, "audit": {"record": "all"}},
		       audit=True)
	lock = h.connect_as(gw, RAILS, database=SCHEMA)
	ddl = h.connect_as(gw, RAILS, database=SCHEMA)
	assert h.rows(ddl, "SELECT id FROM accounts") == ((1,),)  # no migration yet
	assert h.scalar(lock, "SELECT GET_LOCK('3712897134', 0)") == 1
	for t in ("gizmos", "doohickeys", "empties"):
		assert h.run_err(ddl, f"CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20))") is None
	st = RawStatement(ddl, "INSERT INTO gizmos VALUES (?, ?)")
	assert st.execute([struct.pack("<i", 1), b"\1a"], [(3, 0), (253, 0)])
	assert h.run_err(ddl, "INSERT INTO doohickeys VALUES (1, 'b')") is None
	for t in ("gizmos", "doohickeys"):
		h.assert_blocked(lock, f"ALTER TABLE {t} ADD COLUMN qty INT NOT NULL",
				 "add-required-column")
	assert h.run_err(lock, "ALTER TABLE empties ADD COLUMN qty INT NOT NULL") is None
	assert h.scalar(lock, "SELECT RELEASE_LOCK('3712897134')") == 1
	ddl.close()
	lock.close()
	assert gw.stop() == 0
	writes = [(r["statement"], r["outcome"]) for r in h.audit_records(gw)
		  if r["statement"].startswith("INSERT")]
	assert writes == [("INSERT INTO gizmos VALUES (?, ?)", "prepared"),
			  ("INSERT INTO gizmos VALUES (?, ?)", "ok"),
			  ("INSERT INTO doohickeys VALUES (1, 'b')", "ok")], writes


def test_create_table_if_not_exists_is_new_when_the_server_created_it():
	"""sequelize creates every table with CREATE TABLE IF NOT EXISTS: when
	the server answers without a note, the table is new; when it answers
	with note 1050 (it existed), it is not, and neither once any session
	turned sql_notes off (then no note proves nothing)."""
	h.require_proxy("the migration memory is ddlgate's")
	gw = gateway(users=MIGRATOR.user)
	m = h.connect_as(gw, MIGRATOR, database=SCHEMA)
	assert h.run_err(m, "CREATE TABLE IF NOT EXISTS tins (id INT PRIMARY KEY, a INT)") is None
	assert h.run_err(m, "ALTER TABLE tins CHANGE a b INT") is None
	assert h.run_err(m, "ALTER TABLE tins ADD COLUMN qty INT NOT NULL") is None
	# it existed (accounts holds a row): a note, nothing new
	assert h.run_err(m, "CREATE TABLE IF NOT EXISTS accounts (id INT PRIMARY KEY)") is None
	h.assert_blocked(m, "ALTER TABLE accounts ADD COLUMN qty INT NOT NULL", "add-required-column")
	other = h.connect_as(gw, h.WEBAPP, database=SCHEMA)
	assert h.run_err(other, "SET SESSION sql_notes = 0") is None
	other.close()
	assert h.run_err(m, "CREATE TABLE IF NOT EXISTS tins2 (id INT PRIMARY KEY, a INT)") is None
	h.assert_blocked(m, "ALTER TABLE tins2 ADD COLUMN qty INT NOT NULL", "add-required-column")
	assert db().columns(SCHEMA, "tins") == ["id", "b", "qty"]
	m.close()
	assert gw.stop() == 0


def test_peers_share_the_migration_memory():
	"""Rails: GET_LOCK on one connection, the DDL on another of the same
	process; each statement its own command."""
	h.require_proxy("the migration memory is ddlgate's")
	gw = gateway()
	lock = h.connect_as(gw, RAILS, database=SCHEMA)
	assert h.scalar(lock, "SELECT GET_LOCK('3712897134', 0)") == 1
	ddl = h.connect_as(gw, RAILS, database=SCHEMA)
	assert h.run_err(ddl, "CREATE TABLE sprockets (id INT PRIMARY KEY, name VARCHAR(20))") is None
	assert h.run_err(ddl, "INSERT INTO schema_migrations VALUES ('20240102000000')") is None
	assert h.run_err(ddl, "ALTER TABLE sprockets RENAME COLUMN name TO title") is None
	assert h.run_err(ddl, "ALTER TABLE sprockets ADD COLUMN qty INT NOT NULL") is None
	# the lock's own connection knows the table too
	assert h.run_err(lock, "ALTER TABLE sprockets ADD COLUMN size INT NOT NULL") is None
	cols = db().columns(SCHEMA, "sprockets")
	assert cols == ["id", "title", "qty", "size"], cols
	assert h.scalar(lock, "SELECT RELEASE_LOCK('3712897134')") == 1
	# the migration is over: its memory with it
	h.assert_blocked(ddl, "ALTER TABLE sprockets ADD COLUMN more INT NOT NULL",
			 "add-required-column")
	ddl.close()
	lock.close()
	assert gw.stop() == 0


def test_history_table_makes_a_migration():
	h.require_proxy("migration sessions are ddlgate's")
	gw = gateway(guard=True)
	dj = h.connect_as(gw, DJANGO, database=SCHEMA)
	app = h.connect_as(gw, h.WEBAPP, database=SCHEMA)
	assert h.run_err(app, "CREATE TABLE before_mig (id INT PRIMARY KEY)") is None
	assert h.rows(dj, "SELECT `app`, `name` FROM `django_migrations`") == ()
	kinds = sessions_of(gw, DJANGO)
	assert [(x["kind"], x.get("tool")) for x in kinds] == [("migration", "django")], kinds
	h.assert_blocked(app, "CREATE TABLE during_mig (id INT PRIMARY KEY)", "migration-conflict")
	assert h.run_err(dj, "CREATE TABLE polls_question (id INT PRIMARY KEY, q VARCHAR(20))") is None
	assert h.run_err(dj, "INSERT INTO django_migrations (app, name, applied) "
			 "VALUES ('polls', '0001_initial', NOW())") is None
	assert h.run_err(dj, "ALTER TABLE polls_question RENAME COLUMN q TO question") is None
	dj.close()
	h.wait_for(lambda: not sessions_of(gw, DJANGO), 5, "the django session to end")
	assert h.run_err(app, "CREATE TABLE after_mig (id INT PRIMARY KEY)") is None
	app.close()
	assert gw.stop() == 0


def test_reader_of_a_history_table_is_no_migration():
	h.require_proxy("migration sessions are ddlgate's")
	gw = gateway(guard=True)
	reader = h.connect_as(gw, READER, database=SCHEMA)
	app = h.connect_as(gw, h.WEBAPP, database=SCHEMA)
	assert h.rows(reader, "SELECT version_num FROM alembic_version") == ()
	assert h.rows(reader, "SELECT version_num FROM alembic_version") == ()
	assert [x["kind"] for x in sessions_of(gw, READER)] == ["app"]
	assert h.run_err(app, "CREATE TABLE t_reader (id INT PRIMARY KEY)") is None
	reader.close()
	app.close()
	assert gw.stop() == 0


def test_history_migration_ends_when_idle():
	h.require_proxy("migration sessions are ddlgate's")
	gw = gateway(history_idle_s="1")
	al = h.connect_as(gw, DJANGO, database=SCHEMA)
	app = h.connect_as(gw, h.WEBAPP, database=SCHEMA)
	assert h.rows(al, "SELECT version_num FROM alembic_version") == ()
	assert [x.get("tool") for x in sessions_of(gw, DJANGO)] == ["alembic"]
	h.assert_blocked(app, "CREATE TABLE t_idle (id INT PRIMARY KEY)", "migration-conflict")
	# quiet for longer than history_idle_s: over for everyone else at once
	h.wait_for(lambda: h.run_err(app, "CREATE TABLE t_idle (id INT PRIMARY KEY)") is None, 5,
		   "the idle migration to end")
	assert h.run_err(al, "SELECT 1") is None
	assert [x["kind"] for x in sessions_of(gw, DJANGO)] == ["app"]
	al.close()
	app.close()
	assert gw.stop() == 0


def connect_with_pid(gw, account, pid):
	"""A connection whose _pid attribute is pid (None: no _pid sent, but
	its program name; "": no connection attributes at all)."""
	conn = h.connect_as(gw, account, database=SCHEMA, defer_connect=True)
	if pid == "":
		conn._connect_attrs.clear()
	elif pid is None:
		conn._connect_attrs.pop("_pid", None)
	else:
		conn._connect_attrs["_pid"] = pid
	conn.connect()
	return conn


def test_other_process_of_the_same_account_is_no_peer():
	h.require_proxy("migration peers are ddlgate's")
	gw = gateway()
	lock = h.connect_as(gw, RAILS, database=SCHEMA)
	assert h.scalar(lock, "SELECT GET_LOCK('3712897135', 0)") == 1
	other = connect_with_pid(gw, RAILS, "999999")
	err = h.run_err(other, "CREATE TABLE other_process (id INT PRIMARY KEY)")
	h.assert_refused(err, "migration-conflict")
	assert [x["pid"] for x in sessions_of(gw, RAILS) if x["pid"] == "999999"] == ["999999"]
	# same process: the migration's own
	same = h.connect_as(gw, RAILS, database=SCHEMA)
	assert h.run_err(same, "CREATE TABLE same_process (id INT PRIMARY KEY)") is None
	# a program name without _pid (as MariaDB Connector/J sends), from this
	# machine: ddlgate finds the client's process in /proc, and it is this
	# test's, the lock holder's own (another process without _pid: see
	# test_local_client_without_pid_is_told_apart_by_its_process)
	named = connect_with_pid(gw, RAILS, None)
	assert h.run_err(named, "CREATE TABLE no_pid (id INT PRIMARY KEY)") is None
	assert str(os.getpid()) in [x["pid"] for x in sessions_of(gw, RAILS)]
	# no connection attributes at all: the same
	anon = connect_with_pid(gw, RAILS, "")
	assert h.run_err(anon, "CREATE TABLE no_attrs (id INT PRIMARY KEY)") is None
	for c in (anon, named, same, other, lock):
		c.close()
	assert gw.stop() == 0


LOCK_HOLDER = """
import sys, pymysql
c = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user=sys.argv[2],
		    password=sys.argv[3], database=sys.argv[4], defer_connect=True)
c._connect_attrs.pop("_pid", None)
c.connect()
with c.cursor() as cur:
	cur.execute("SELECT GET_LOCK('3712897136', 0)")
	print(cur.fetchone()[0], flush=True)
sys.stdin.read()
"""


def test_local_client_without_pid_is_told_apart_by_its_process():
	"""mysql2 (sequelize, TypeORM, drizzle, knex) sends no _pid: for a
	client on this machine ddlgate finds its process itself, so another
	process of the same account (the mariadb client, no child of the
	migration's) is no peer."""
	h.require_proxy("migration peers are ddlgate's")
	gw = gateway()
	holder = subprocess.Popen(["/usr/bin/python3", "-c", LOCK_HOLDER, str(gw.port), RAILS.user,
				   RAILS.password, SCHEMA], stdin=subprocess.PIPE,
				  stdout=subprocess.PIPE, text=True)
	try:
		assert holder.stdout.readline().strip() == "1"
		assert [x["pid"] for x in sessions_of(gw, RAILS)] == [str(holder.pid)]
		r = h.mariadb_cli(gw, "-e", "CREATE TABLE other_process_cli (id INT PRIMARY KEY)",
				  user=RAILS.user, password=RAILS.password, database=SCHEMA)
		assert r.returncode != 0, "the other process's DDL passed"
		assert "ddlgate: blocked by migration-conflict" in r.stderr, r.stderr
		assert not db().table_exists(SCHEMA, "other_process_cli")
	finally:
		holder.stdin.close()
		holder.wait(10)
	assert gw.stop() == 0


if __name__ == "__main__":
	h.main(globals())
