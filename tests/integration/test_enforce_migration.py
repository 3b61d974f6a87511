#!/usr/bin/python3
# Enforcement tests: migration sessions and migration-conflict on one ddlgate and across two, hold.
"""
A Prisma-style deploy (GET_LOCK('prisma_migrate'), _prisma_migrations
bookkeeping, the migration script as one multi-statement COM_QUERY) holds
the floor: while its session lives, DDL from any other session, through the
same ddlgate or through a second ddlgate in front of the same server (the
cluster lock), is refused with ERR 1290 naming migration-conflict. After it
disconnects, DDL flows again. conflict = hold parks the DDL until the
migration ends, or blocks it after hold_timeout_ms.

Under DDLGATE_DIRECT=1 the proxy-only assertions are skipped.
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pymysql  # noqa: E402
from pymysql.constants import CLIENT  # noqa: E402


def db():
	"""The shared MariaDB with a read-only prober, a migrator and another
	application account."""
	return h.shared_mariadb(accounts=(h.PROBER, h.MIGRATOR, h.WEBAPP))


def fresh_schema(name):
	d = db()
	d.fresh_database(name)
	d.query(f"CREATE TABLE `{name}`.existing (id INT PRIMARY KEY, note VARCHAR(20))")
	return name


def sections(**migration):
	s = {
		"guard": h.guard_section(probe_timeout_ms=2000),
		"migration": {"users": h.MIGRATOR.user},
	}
	s["migration"].update(migration)
	return s


def prisma_deploy(gw, schema):
	"""Does what `prisma migrate deploy` does with the first migration of
	tools/prisma, leaving the session open (Prisma never releases its lock:
	the lock lives as long as the connection). The schema's `existing`
	table predates Prisma (baselined). Returns the deploy; close() ends it."""
	deploy = h.PrismaDeploy(gw, schema)
	deploy.lock()
	deploy.initialize(baselined=True)
	deploy.applied()
	assert deploy.apply(h.prisma_migrations()[0]) is None
	return deploy


def other_client(gw, schema):
	"""A session of someone else than the migration. Connections of the
	migration's own account from the same machine count as the migration's
	(Rails and pt-online-schema-change hold the lock on one connection and
	send DDL on another), so someone else logs in as h.WEBAPP."""
	return h.connect_as(gw, h.WEBAPP, database=schema)


def test_prisma_deploy_blocks_other_sessions_on_two_instances():
	h.require_proxy("migration-conflict is ddlgate's")
	schema = fresh_schema("mig_two")
	gw1 = h.Ddlgate(db(), sections())
	gw2 = h.Ddlgate(db(), sections())
	other2 = other_client(gw2, schema)
	mig = h.connect(gw1, database=schema, client_flag=CLIENT.MULTI_STATEMENTS)
	assert h.scalar(mig, "SELECT GET_LOCK('prisma_migrate', 10)") == 1
	# at once, with no wait: GET_LOCK's answer came after the cluster lock was
	# taken, and the second ddlgate polls the lock before judging DDL
	h.assert_blocked(other2, "CREATE TABLE early (id INT PRIMARY KEY)", "migration-conflict")
	mig.close()
	h.wait_for(lambda: h.run_err(other2, "CREATE TABLE IF NOT EXISTS early (id INT PRIMARY KEY)")
		 is None, 3, "the second ddlgate to see the first migration end")

	mig = prisma_deploy(gw1, schema)
	assert db().table_exists(schema, "User") and db().table_exists(schema, "Post")

	# /status and /sessions of the first instance know the migration
	st = gw1.status()
	active = st["migration"]["active"]
	assert len(active) == 1 and active[0]["tool"] == "prisma", st["migration"]
	sessions = gw1.sessions()
	assert "migration" in [s["kind"] for s in sessions], sessions

	# the migration's own account on another connection is the migration's peer
	peer = h.connect(gw1, database=schema)
	assert h.run_err(peer, "CREATE TABLE IF NOT EXISTS peer_t (id INT PRIMARY KEY)") is None
	peer.close()

	other = other_client(gw1, schema)
	err = h.run_err(other, "ALTER TABLE existing ADD COLUMN a1 INT NULL")
	h.assert_refused(err, "migration-conflict")
	# the holder, named once: connection, tool and lock, account
	assert re.search(r": a migration is running on connection \d+ "
			 r"\(prisma: prisma_migrate, user \w+\) and DDL from other sessions", err[1]), err
	h.assert_blocked(other, "CREATE TABLE t_other (id INT PRIMARY KEY)", "migration-conflict")
	# an allow directive cannot lift it
	h.assert_blocked(other, "/* ddlgate:allow migration-conflict reason=\"urgent\" */ "
		       "ALTER TABLE existing ADD COLUMN a2 INT NULL", "migration-conflict")
	# DML flows
	with other.cursor() as cur:
		cur.execute("INSERT INTO existing VALUES (1, 'x')")
		cur.execute("SELECT COUNT(*) FROM existing")
		assert cur.fetchone()[0] == 1

	# the second instance sees the cluster lock held elsewhere
	h.wait_for(lambda: gw2.status()["migration"]["cluster_lock"]["held_elsewhere"], 3,
		 "the second ddlgate to see the cluster lock")
	h.assert_blocked(other2, "ALTER TABLE existing ADD COLUMN b1 INT NULL", "migration-conflict")
	assert db().columns(schema, "existing") == ["id", "note"]
	assert not db().table_exists(schema, "t_other")

	# the migration ends by disconnecting (Prisma never releases its lock)
	mig.close()
	t_closed = time.monotonic()
	h.wait_for(lambda: h.run_err(other, "CREATE TABLE IF NOT EXISTS after1 (id INT PRIMARY KEY)") is None,
		 2, "DDL through the first ddlgate after the migration ended")
	t_ok2 = h.wait_for(lambda: h.run_err(other2, "CREATE TABLE IF NOT EXISTS after2 (id INT PRIMARY KEY)")
			 is None, 3, "DDL through the second ddlgate after the migration ended")
	assert t_ok2 - t_closed < 1.5, f"second instance took {t_ok2 - t_closed:.2f}s"
	assert db().table_exists(schema, "after1") and db().table_exists(schema, "after2")
	assert gw1.status()["migration"]["active"] == []
	other.close()
	other2.close()


def test_migration_user_and_lock_release():
	h.require_proxy("migration sessions are ddlgate's")
	schema = fresh_schema("mig_user")
	gw = h.Ddlgate(db(), sections())
	app = other_client(gw, schema)
	# a [migration] users login is a migration session from the start
	m = h.connect_as(gw, h.MIGRATOR, database=schema)
	h.assert_blocked(app, "ALTER TABLE existing ADD COLUMN c1 INT NULL", "migration-conflict")
	assert h.run_err(m, "ALTER TABLE existing ADD COLUMN c1 INT NULL") is None
	m.close()
	h.wait_for(lambda: h.run_err(app, "ALTER TABLE existing ADD COLUMN c2 INT NULL") is None, 2,
		 "DDL after the migrator left")

	# GET_LOCK / RELEASE_LOCK of a Flyway-style name
	fly = h.connect(gw, database=schema)
	assert h.scalar(fly, "SELECT GET_LOCK('Flyway-123456', 10)") == 1
	h.assert_blocked(app, "ALTER TABLE existing ADD COLUMN c3 INT NULL", "migration-conflict")
	# a lock name that is not a migration's changes nothing
	assert h.scalar(app, "SELECT GET_LOCK('app_cron_job', 0)") == 1
	assert h.scalar(fly, "SELECT RELEASE_LOCK('Flyway-123456')") == 1
	assert h.run_err(app, "ALTER TABLE existing ADD COLUMN c3 INT NULL") is None
	assert db().columns(schema, "existing") == ["id", "note", "c1", "c2", "c3"]


def test_knex_lock_row_and_table_scope():
	h.require_proxy("migration sessions are ddlgate's")
	schema = fresh_schema("mig_knex")
	d = db()
	d.query(f"CREATE TABLE `{schema}`.knex_migrations_lock (`index` INT PRIMARY KEY, is_locked INT)")
	d.query(f"INSERT INTO `{schema}`.knex_migrations_lock VALUES (1, 0)")
	d.query(f"CREATE TABLE `{schema}`.other (id INT PRIMARY KEY)")
	gw = h.Ddlgate(db(), sections(scope="table"))
	knex = h.connect(gw, database=schema)
	app = other_client(gw, schema)
	with knex.cursor() as cur:
		cur.execute("update `knex_migrations_lock` set `is_locked` = 1 where `is_locked` = 0")
		assert cur.rowcount == 1
	assert h.run_err(knex, "ALTER TABLE existing ADD COLUMN k1 INT NULL") is None
	# scope = table: only tables the migration touched are off limits
	h.assert_blocked(app, "ALTER TABLE existing ADD COLUMN k2 INT NULL", "migration-conflict")
	assert h.run_err(app, "ALTER TABLE other ADD COLUMN o1 INT NULL") is None
	with knex.cursor() as cur:
		cur.execute("update `knex_migrations_lock` set `is_locked` = 0")
	assert h.run_err(app, "ALTER TABLE existing ADD COLUMN k2 INT NULL") is None
	assert db().columns(schema, "existing") == ["id", "note", "k1", "k2"]


def held_migration(name, hold_timeout_ms):
	"""A ddlgate with conflict = hold, a Prisma deploy through it and
	another client's session: (schema, gw, deploy, other session)."""
	h.require_proxy("hold is ddlgate's")
	schema = fresh_schema(name)
	gw = h.Ddlgate(db(), sections(conflict="hold", hold_timeout_ms=hold_timeout_ms))
	return schema, gw, prisma_deploy(gw, schema), other_client(gw, schema)


def test_hold_waits_for_the_migration_then_runs():
	schema, gw, mig, app = held_migration("mig_hold", hold_timeout_ms=10000)
	t, result = h.run_err_in_thread(app, "ALTER TABLE existing ADD COLUMN h1 INT NULL")
	time.sleep(1.0)
	assert t.is_alive(), f"the DDL did not wait: {result}"
	assert db().columns(schema, "existing") == ["id", "note"]
	sessions = gw.sessions()
	assert any(s.get("holding") for s in sessions), sessions
	mig.close()
	t.join(10)
	assert not t.is_alive()
	assert result["err"] is None, result
	assert 0.9 <= result["took"] < 5, result
	assert db().columns(schema, "existing") == ["id", "note", "h1"]


def test_hold_times_out_with_block():
	schema, gw, mig, app = held_migration("mig_hold_to", hold_timeout_ms=700)
	t0 = time.monotonic()
	h.assert_blocked(app, "ALTER TABLE existing ADD COLUMN h2 INT NULL", "migration-conflict")
	took = time.monotonic() - t0
	assert 0.6 <= took < 3, took
	assert db().columns(schema, "existing") == ["id", "note"]
	# DML is never held
	assert h.scalar(app, "SELECT COUNT(*) FROM existing") == 0
	mig.close()


# ---- who may take the floor ----

READER, READER_PASSWORD = "reader", "reader-secret"
# Another account than MIGRATOR: MariaDB account names are case-sensitive.
UPPER, UPPER_PASSWORD = "MIGRATOR", "upper-secret"


def floor_accounts():
	d = db()
	for sql in (
		f"CREATE OR REPLACE USER '{READER}'@'127.0.0.1' IDENTIFIED BY '{READER_PASSWORD}'",
		f"GRANT SELECT ON *.* TO '{READER}'@'127.0.0.1'",
		f"CREATE OR REPLACE USER '{UPPER}'@'127.0.0.1' IDENTIFIED BY '{UPPER_PASSWORD}'",
		f"GRANT ALL ON *.* TO '{UPPER}'@'127.0.0.1'",
	):
		d.query(sql)
	return d


def reader_and_app(name):
	"""A fresh schema, a ddlgate, a read-only session and another account's."""
	floor_accounts()
	schema = fresh_schema(name)
	gw = h.Ddlgate(db(), sections())
	reader = h.connect(gw, user=READER, password=READER_PASSWORD, database=schema)
	return schema, gw, reader, other_client(gw, schema)


def session_kinds(gw, user):
	code, body = gw.admin_get("/sessions")
	assert code == 200, body
	return [s["kind"] for s in json.loads(body) if s["user"] == user]


def test_select_only_account_cannot_take_the_floor():
	"""GET_LOCK needs no privilege: a read-only account that takes a migration
	lock name, or sends the directive, stays an app session, and nobody's DDL
	is refused because of it. An account that may change the schema still
	takes the floor with the same lock."""
	h.require_proxy("migration sessions are ddlgate's")
	schema, gw, reader, app = reader_and_app("mig_floor")
	assert h.scalar(reader, "SELECT GET_LOCK('prisma_migrate', 0)") == 1
	assert session_kinds(gw, READER) == ["app"]
	assert h.run_err(app, "ALTER TABLE existing ADD COLUMN f1 INT NULL") is None
	assert gw.status()["migration"]["active"] == []
	# the directive is a claim too
	assert h.scalar(reader, "/* ddlgate:migration name=\"sneaky\" */ SELECT 1") == 1
	assert session_kinds(gw, READER) == ["app"]
	assert h.run_err(app, "ALTER TABLE existing ADD COLUMN f2 INT NULL") is None
	assert "claim is ignored" in open(gw.log).read()
	assert h.scalar(reader, "SELECT RELEASE_LOCK('prisma_migrate')") == 1

	# an account with DDL privileges takes the floor with the same lock
	# (its grant check is cached from here on)
	for attempt in range(2):
		mig = h.connect(gw, database=schema)
		assert h.scalar(mig, "SELECT GET_LOCK('prisma_migrate', 0)") == 1
		h.assert_blocked(app, "ALTER TABLE existing ADD COLUMN f3 INT NULL",
				 "migration-conflict")
		mig.close()
		h.wait_for(lambda: gw.status()["migration"]["active"] == [], 2, "the migration to end")
	assert db().columns(schema, "existing") == ["id", "note", "f1", "f2"]
	reader.close()
	app.close()


def test_cluster_lock_cannot_be_faked_by_a_client():
	"""A client cannot freeze DDL with the cluster lock's name: through
	ddlgate its GET_LOCK is refused, and a holder that is not a ddlgate
	instance (a name built at run time, or a connection straight to the
	server) is ignored."""
	h.require_proxy("the cluster lock is ddlgate's")
	schema, gw, reader, app = reader_and_app("mig_fake_cluster")
	err = h.run_err(reader, "SELECT GET_LOCK('ddlgate_migration', 0)")
	assert err is not None and err[0] == 1290, err
	assert err[1].startswith("ddlgate: blocked by cluster-lock:"), err
	err = h.run_err(reader, "SELECT GET_LOCK('DDLGATE_MIGRATION', 0)")
	assert err is not None and err[0] == 1290, err
	# a name the scanner cannot read reaches the server and is held ...
	assert h.scalar(reader, "SELECT GET_LOCK(CONCAT('ddlgate_', 'migration'), 0)") == 1
	h.wait_for(lambda: "not a ddlgate instance" in
		 gw.status()["migration"]["cluster_lock"].get("error", ""), 3,
		 "ddlgate to notice the foreign holder")
	# ... but it is not a migration elsewhere
	assert not gw.status()["migration"]["cluster_lock"]["held_elsewhere"]
	assert h.run_err(app, "ALTER TABLE existing ADD COLUMN g1 INT NULL") is None
	reader.close()

	# the same from a connection straight to the server
	direct = pymysql.connect(host=db().host, port=db().port, user=READER,
				 password=READER_PASSWORD, autocommit=True)
	with direct.cursor() as cur:
		# waits for the server to end the relayed session (and its lock)
		cur.execute("SELECT GET_LOCK('ddlgate_migration', 5)")
		assert cur.fetchone()[0] == 1
	time.sleep(0.3)
	assert h.run_err(app, "ALTER TABLE existing ADD COLUMN g2 INT NULL") is None
	direct.close()
	assert db().columns(schema, "existing") == ["id", "note", "g1", "g2"]
	app.close()


def test_migration_users_match_account_names_case_sensitively():
	"""[migration] users = migrator names the account 'migrator', not
	'MIGRATOR': MariaDB compares account names case-sensitively."""
	h.require_proxy("migration sessions are ddlgate's")
	floor_accounts()
	schema = fresh_schema("mig_case")
	gw = h.Ddlgate(db(), sections())
	upper = h.connect(gw, user=UPPER, password=UPPER_PASSWORD, database=schema)
	app = other_client(gw, schema)
	assert session_kinds(gw, UPPER) == ["app"]
	assert h.run_err(app, "ALTER TABLE existing ADD COLUMN u1 INT NULL") is None
	lower = h.connect(gw, user=h.MIGRATOR.user, password=h.MIGRATOR.password, database=schema)
	assert session_kinds(gw, h.MIGRATOR.user) == ["migration"]
	h.assert_blocked(app, "ALTER TABLE existing ADD COLUMN u2 INT NULL", "migration-conflict")
	lower.close()
	upper.close()
	app.close()


def test_unreadable_grants_refuse_the_claim():
	"""A guard account that cannot read other accounts' grants (no SELECT on
	the mysql database) cannot tell who may change the schema: claims by
	lock name are refused, the conservative side, and ddlgate says why."""
	h.require_proxy("migration sessions are ddlgate's")
	schema = fresh_schema("mig_narrow_guard")
	d = db()
	d.query("CREATE OR REPLACE USER 'narrowprobe'@'127.0.0.1' IDENTIFIED BY 'narrow-secret'")
	d.query(f"GRANT SELECT ON `{schema}`.* TO 'narrowprobe'@'127.0.0.1'")
	s = sections()
	s["guard"].update(user="narrowprobe", password="narrow-secret")
	gw = h.Ddlgate(db(), s)
	mig = h.connect(gw, database=schema)
	app = other_client(gw, schema)
	assert h.scalar(mig, "SELECT GET_LOCK('prisma_migrate', 0)") == 1
	assert session_kinds(gw, h.APP_USER) == ["app"]
	assert h.run_err(app, "ALTER TABLE existing ADD COLUMN n1 INT NULL") is None
	assert "SELECT on the mysql database" in open(gw.log).read()
	mig.close()
	app.close()


if __name__ == "__main__":
	h.main(globals())
