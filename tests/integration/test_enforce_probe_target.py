#!/usr/bin/python3
# Enforcement tests: a guard's probe answers about the table the statement really targets (schema after USE, a latin1 name).
"""
drop-table lets a DROP TABLE through when a probe shows the table holds
no rows. The probe must look at the table the server will drop:

- After `USE other_schema` sent as a query by a client that does not ask
  for session tracking (PyMySQL leaves CLIENT_SESSION_TRACK off), the
  server drops other_schema's table. Whether the connection's first schema
  holds a table of that name (empty) or none, a DROP of other_schema's
  table holding rows is refused and no row is lost.
- A client whose character set is latin1 sends a table name with a
  non-ASCII character in latin1 bytes: the DROP of that table, which
  holds rows, is refused and no row is lost.

Under DDLGATE_DIRECT=1 MariaDB drops each table: proof that the statements
target the tables holding rows.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from pymysql.constants import CLIENT  # noqa: E402

FIRST, OTHER = "probe_first", "probe_other"


def db():
	return h.shared_mariadb(accounts=(h.PROBER,))


def refused_and_kept(gw, conn, sql, schema, table, rows):
	"""sql (a DROP TABLE) through conn must be refused by drop-table with
	schema.table keeping its rows; MariaDB itself drops the table."""
	err = h.run_err(conn, sql)
	if h.DIRECT:
		assert err is None, err
		assert not db().table_exists(schema, table)
		return
	h.assert_refused(err, "drop-table", sql)
	assert db().count(schema, table) == rows, f"{schema}.{table} lost rows"


def after_use():
	"""Two schemas: FIRST holds an empty `orders`, OTHER an `orders` with 3
	rows and an `invoices` with 2 (none in FIRST). Returns a guarded
	ddlgate and a connection through it that logged in to FIRST, without
	session tracking, and then ran `USE OTHER`."""
	db().fresh_database(FIRST)
	db().fresh_database(OTHER)
	for sql in (f"CREATE TABLE `{FIRST}`.orders (id INT PRIMARY KEY)",
		    f"CREATE TABLE `{OTHER}`.orders (id INT PRIMARY KEY)",
		    f"INSERT INTO `{OTHER}`.orders VALUES (1), (2), (3)",
		    f"CREATE TABLE `{OTHER}`.invoices (id INT PRIMARY KEY)",
		    f"INSERT INTO `{OTHER}`.invoices VALUES (1), (2)"):
		db().query(sql)
	gw = h.guarded_gateway(db())
	conn = h.connect(gw, database=FIRST)
	assert not conn.client_flag & CLIENT.SESSION_TRACK, "the client asks for session tracking"
	assert h.run_err(conn, f"USE {OTHER}") is None
	assert h.scalar(conn, "SELECT DATABASE()") == OTHER
	return gw, conn


def test_drop_after_use_of_a_table_the_first_schema_lacks():
	gw, conn = after_use()
	refused_and_kept(gw, conn, "DROP TABLE invoices", OTHER, "invoices", 2)
	conn.close()
	gw.stop()


def test_drop_after_use_of_a_table_empty_in_the_first_schema():
	gw, conn = after_use()
	refused_and_kept(gw, conn, "DROP TABLE orders", OTHER, "orders", 3)
	assert db().count(FIRST, "orders") == 0
	conn.close()
	gw.stop()


def test_schema_follows_use_and_drop_database():
	"""The schema ddlgate keeps for a session (/sessions, audit records,
	guard-side probes) follows what the server did: a USE it accepted from
	a client without session tracking, and a DROP DATABASE of the current
	schema, after which the server has none (DATABASE() is NULL)."""
	h.require_proxy("the schema ddlgate tracks is ddlgate's")
	gone = "probe_gone"
	db().fresh_database(FIRST)
	db().fresh_database(gone)
	gw = h.guarded_gateway(db())
	conn = h.connect(gw, database=FIRST)
	assert not conn.client_flag & CLIENT.SESSION_TRACK

	def tracked():
		return [x["schema"] for x in gw.sessions() if x.get("user") == h.APP_USER]

	assert tracked() == [FIRST]
	assert h.run_err(conn, f"USE {gone}") is None
	assert tracked() == [gone]
	assert h.run_err(conn, f"DROP DATABASE {gone}") is None
	assert h.scalar(conn, "SELECT DATABASE()") is None
	assert tracked() == [""]
	conn.close()
	gw.stop()


def test_drop_of_a_table_named_in_latin1():
	schema = db().fresh_database("probe_latin1", "CHARACTER SET utf8mb4")
	db().query(f"CREATE TABLE `{schema}`.`café` (id INT PRIMARY KEY)")
	db().query(f"INSERT INTO `{schema}`.`café` VALUES (1), (2)")
	gw = h.guarded_gateway(db())
	conn = h.connect(gw, database=schema, charset="latin1")
	assert h.scalar(conn, "SELECT @@character_set_client") == "latin1"
	# PyMySQL encodes the statement in latin1: the name goes out as caf\xe9
	assert "DROP TABLE `café`".encode("latin1") == b"DROP TABLE `caf\xe9`"
	refused_and_kept(gw, conn, "DROP TABLE `café`", schema, "café", 2)
	if not h.DIRECT:
		# the audit record says what the probe found (a
		# refusal is recorded as the client gets it: wait for the line)
		h.wait_for(lambda: h.audit_records(gw, "DROP TABLE", decision="block"), 5,
			   "the refusal's audit record")
		rec = h.audit_records(gw, "DROP TABLE", decision="block")[-1]
		guard = [r.get("guard", "") for r in rec["rules"] if r["id"] == "drop-table"][0]
		# the probe runs on the session's own connection, in its latin1: it
		# finds the table and its rows (a guard-side probe would fail on
		# the name, and the rule would stay conservative all the same)
		assert "holds" in guard and "rows" in guard, guard
	conn.close()
	gw.stop()


if __name__ == "__main__":
	h.main(globals())
