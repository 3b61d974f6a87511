#!/usr/bin/python3
# Tool-level test: pt-online-schema-change (Debian's percona-toolkit) altering a live table through ddlgate.
"""
pt-online-schema-change copies a table into a shadow (_t_new), keeps it in
step with triggers, swaps the two with one RENAME TABLE and drops the old
copy (_t_old). Pointed at ddlgate's port it must work unchanged: the
shadow-table renames are recognised as online schema change, and
application writes that run during the copy are kept.

Under DDLGATE_DIRECT=1 the same runs go to MariaDB itself.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROWS = 5000

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 300)


def db():
	"""The file's MariaDB with the probe account and a dedicated
	migration account."""
	return harness.shared_mariadb(accounts=(harness.PROBER, harness.MIGRATOR))


def setup_schema(schema):
	"""A schema with one table of ROWS rows."""
	d = db()
	d.fresh_database(schema)
	for sql in (
		f"CREATE TABLE `{schema}`.orders (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
		"customer VARCHAR(64) NOT NULL, amount DECIMAL(10,2) NOT NULL, "
		"KEY customer_idx (customer)) ENGINE=InnoDB",
		f"INSERT INTO `{schema}`.orders (customer, amount) "
		f"SELECT CONCAT('c', seq MOD 97), seq / 100 FROM `{schema}`.seq_1_to_{ROWS}",
	):
		d.query(sql)
	return d


def ptosc(gw, schema, table, alter, account):
	harness.require_programs("pt-online-schema-change", install="apt-get install percona-toolkit")
	dsn = f"D={schema},t={table},h={gw.host},P={gw.port},u={account.user},p={account.password}"
	cmd = ["pt-online-schema-change", "--alter", alter, dsn,
	       "--recursion-method=none", "--no-check-replication-filters",
	       "--chunk-size=250", "--sleep=0.05", "--set-vars", "lock_wait_timeout=5",
	       "--no-version-check", "--execute"]
	return harness.run_shown(cmd, secret=account.password, timeout=240)


def leftovers(db, schema):
	"""Shadow tables and triggers pt-osc left behind."""
	tables = [r[0] for r in db.query(
		"SELECT TABLE_NAME FROM information_schema.TABLES "
		"WHERE TABLE_SCHEMA=%s AND TABLE_NAME LIKE '\\_%%'", (schema,))]
	triggers = [r[0] for r in db.query(
		"SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s", (schema,))]
	return tables + triggers


class Writer(threading.Thread):
	"""An application inserting rows through the proxy while the copy runs."""

	def __init__(self, gw, schema):
		super().__init__(daemon=True)
		self.gw, self.schema = gw, schema
		self.stop = threading.Event()
		self.inserted = 0
		self.errors = []

	def run(self):
		conn = harness.connect(self.gw, database=self.schema)
		try:
			with conn.cursor() as cur:
				while not self.stop.is_set() and self.inserted < 2000:
					try:
						cur.execute("INSERT INTO orders (customer, amount) VALUES ('live', 1.5)")
						self.inserted += 1
					except Exception as e:  # a lock wait during the swap is allowed
						self.errors.append(repr(e))
						if len(self.errors) > 20:
							return
					time.sleep(0.005)
		finally:
			conn.close()


def run_alter(gw, db, schema, account):
	writer = Writer(gw, schema)
	writer.start()
	try:
		r = ptosc(gw, schema, "orders", "ADD COLUMN c INT NULL", account)
	finally:
		writer.stop.set()
		writer.join(30)
	out = r.stdout + r.stderr
	assert r.returncode == 0, "pt-online-schema-change must work through ddlgate:\n" + out
	assert "Successfully altered" in out, out
	assert db.columns(schema, "orders") == ["id", "customer", "amount", "c"]
	count = db.count(schema, "orders")
	live = db.count(schema, "orders", "customer='live'")
	assert live == writer.inserted, f"rows written during the copy: {live} kept, {writer.inserted} inserted"
	assert count == ROWS + writer.inserted, (count, writer.inserted)
	assert leftovers(db, schema) == [], leftovers(db, schema)
	return writer


def test_ptosc_adds_a_column_to_a_live_table_with_default_config():
	schema = "ptosc_default"
	db = setup_schema(schema)
	gw = harness.guarded_gateway(db)
	run_alter(gw, db, schema, harness.APP)
	if not harness.DIRECT:
		renames = [r for r in harness.audit_records(gw)
			   if (r.get("statement") or "").upper().startswith("RENAME TABLE")]
		assert renames, "the swap must be in the audit log"
		assert renames[-1].get("outcome") == "ok", renames[-1]


def test_ptosc_as_a_migration_user():
	"""The [migration] users route: pt-osc's account is a migration user,
	so its sessions hold the floor and are recorded as migration."""
	schema = "ptosc_migrator"
	db = setup_schema(schema)
	gw = harness.guarded_gateway(db, {"migration": {"users": harness.MIGRATOR.user}})
	run_alter(gw, db, schema, harness.MIGRATOR)
	if not harness.DIRECT:
		ddl = harness.audit_records(gw, user=harness.MIGRATOR.user, kind="ddl")
		assert ddl, "pt-osc's DDL must be in the audit log"
		assert all(r.get("session") == "migration" for r in ddl), ddl


if __name__ == "__main__":
	harness.main(globals())
