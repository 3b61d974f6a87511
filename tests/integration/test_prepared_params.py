#!/usr/bin/python3
# Prepared statements through a client that prepares on the server: lock names bound at execute, executes in the audit log.
"""
golang-migrate and Atlas take their lock with a prepared
`SELECT GET_LOCK(?, ...)`: the name is a parameter of COM_STMT_EXECUTE
and the answer a binary row. Through ddlgate (Perl DBD::MariaDB with
mariadb_server_prepare=1) that session becomes a migration, as with a
literal name: /sessions shows it, DDL from another account is refused with
migration-conflict while the lock is held, and allowed again after
RELEASE_LOCK(?).

With [audit] record = writes, each execute of a prepared INSERT is
recorded once, with its outcome and a summary of its parameters: count and
types always, values only with [audit] record_params = values (a secret
redacted, a long value cut). `ddlgate audit verify` accepts the log.
"""

import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SCHEMA = "pparams"
LOCK = "atlas_migrate_execute"


def db():
	return h.shared_mariadb(accounts=(h.PROBER, h.WEBAPP))


def fresh_schema():
	d = db()
	d.fresh_database(SCHEMA)
	d.query(f"CREATE TABLE `{SCHEMA}`.existing (id INT PRIMARY KEY)")
	d.query(f"CREATE TABLE `{SCHEMA}`.pp (id INT PRIMARY KEY, n INT NULL, s VARCHAR(64), "
		"d DATETIME, b MEDIUMBLOB)")


class Prepared:
	"""A session of a client that prepares on the server, driven one
	statement at a time: Perl DBD::MariaDB (prepared_params.pl) or Node
	mysql2 (prepared_params.js)."""

	def __init__(self, gw, client="perl"):
		if client == "node" and not os.path.isdir(os.path.join(h.HERE, "node_modules", "mysql2")):
			raise AssertionError("tests/integration/node_modules is missing: run "
					     "`npm install` in tests/integration")
		prog = ["perl", os.path.join(h.HERE, "prepared_params.pl")] if client == "perl" else \
			["node", os.path.join(h.HERE, "prepared_params.js")]
		self.p = subprocess.Popen(
			prog + [gw.host, str(gw.port), h.APP_USER, h.APP_PASSWORD, SCHEMA],
			stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

	def execute(self, sql, *params):
		self.p.stdin.write(json.dumps({"sql": sql, "params": list(params)}) + "\n")
		self.p.stdin.flush()
		line = self.p.stdout.readline()
		if not line:
			raise AssertionError(f"prepared_params.pl ended: {self.p.stderr.read()}")
		return json.loads(line)

	def close(self):
		self.p.stdin.close()
		self.p.wait(timeout=30)


def test_prepared_get_lock_is_a_migration():
	h.require_proxy("migration sessions are ddlgate's")
	fresh_schema()
	gw = h.gateway(db(), {"guard": h.guard_section()})
	other = h.connect_as(gw, h.WEBAPP, database=SCHEMA)
	mig = Prepared(gw)
	try:
		r = mig.execute("SELECT GET_LOCK(?, 10)", {"str": LOCK})
		assert r == {"ok": 1, "rows": [[1]]}, r
		sessions = gw.sessions()
		kinds = [s["kind"] for s in sessions]
		assert "migration" in kinds, sessions
		assert gw.status()["migration"]["active"][0]["tool"] == "atlas", gw.status()
		h.assert_blocked(other, "ALTER TABLE existing ADD COLUMN a1 INT NULL",
				 "migration-conflict")
		assert db().columns(SCHEMA, "existing") == ["id"]

		r = mig.execute("SELECT RELEASE_LOCK(?)", {"str": LOCK})
		assert r == {"ok": 1, "rows": [[1]]}, r
		assert gw.status()["migration"]["active"] == [], gw.status()
		assert h.run_err(other, "ALTER TABLE existing ADD COLUMN a1 INT NULL") is None
		assert db().columns(SCHEMA, "existing") == ["id", "a1"]

		# a lock name ddlgate does not know is no migration
		r = mig.execute("SELECT GET_LOCK(?, 10)", {"str": "cron_job"})
		assert r == {"ok": 1, "rows": [[1]]}, r
		assert gw.status()["migration"]["active"] == [], gw.status()
		assert h.run_err(other, "ALTER TABLE existing ADD COLUMN a2 INT NULL") is None
	finally:
		mig.close()
		other.close()


# What each client binds for the same values: DBD::MariaDB sends an integer
# as INT and a date as a string; mysql2 a number as DOUBLE, a Date as DATETIME.
TYPES = {
	"perl": ["int", "null", "char", "char", "blob"],
	"node": ["double", "null", "varchar", "datetime", "blob"],
}


def run_inserts(gw, client):
	"""Two executes of one prepared INSERT with an integer, a NULL, a
	string, a date and time and a 100 KiB blob, and a third that fails
	(duplicate key). Returns the INSERT's text."""
	mig = Prepared(gw, client)
	sql = "INSERT INTO pp (id, n, s, d, b) VALUES (?, ?, ?, ?, ?)"
	try:
		got = [mig.execute(sql, {"int": i}, {"null": 1}, {"str": f"hello-{i}"},
				   {"datetime": "2024-12-25 10:30:00"}, {"blob": 100 * 1024})
		       for i in (1, 2, 1)]
	finally:
		mig.close()
	assert [r["ok"] for r in got] == [1, 1, 0], got
	assert got[2]["err"] == 1062, got
	return sql


def gateway(**audit):
	return h.gateway(db(), {"audit": {"record": "writes", **audit}}, audit=True)


def executes(gw, sql):
	"""The execute records of sql (the prepare has its own, without params),
	once gw stopped: an outcome record may still be on its way after the
	client saw the answer."""
	assert gw.stop() == 0
	recs = h.audit_records(gw, containing=sql)
	prepares = [r for r in recs if "params" not in r]
	assert [r["outcome"] for r in prepares] == ["prepared"], prepares
	return [r for r in recs if "params" in r]


def test_executes_recorded_with_param_types():
	h.require_proxy("the audit log is ddlgate's")
	for client in ("perl", "node"):
		fresh_schema()
		gw = gateway()
		sql = run_inserts(gw, client)
		recs = executes(gw, sql)
		assert [r["outcome"] for r in recs] == ["ok", "ok", "error"], recs
		assert recs[2]["error_code"] == 1062, recs[2]
		for r in recs:
			assert r["statement"] == sql, r
			assert r["kind"] == "dml" and r["objects"] == [f"{SCHEMA}.pp"], r
			assert r["decision"] == "allow" and r["user"] == h.APP_USER, r
			assert r["params"]["count"] == 5, r
			assert r["params"]["types"] == TYPES[client], (client, r)
			assert "values" not in r["params"], r
		code, out = h.verify_audit(gw.audit)
		assert code == 0, out


def test_executes_recorded_with_param_values():
	h.require_proxy("the audit log is ddlgate's")
	for client in ("perl", "node"):
		fresh_schema()
		gw = gateway(record_params="values")
		recs = executes(gw, run_inserts(gw, client))
		assert len(recs) == 3, recs
		for i, r in zip((1, 2, 1), recs):
			v = r["params"]["values"]
			assert r["params"]["types"] == TYPES[client], (client, r)
			assert v[:4] == [str(i), None, f"hello-{i}", "2024-12-25 10:30:00"], (client, r)
			# a 100 KiB blob is not copied into the log: a head, in hex, and its length
			assert v[4].startswith("0x000102030405") and v[4].endswith("...(102400 bytes)"), v[4]
			assert len(v[4]) < 100, v[4]
		code, out = h.verify_audit(gw.audit)
		assert code == 0, out


def test_secret_param_values_redacted():
	"""A parameter that stands where a password would be is never shown."""
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	db().query(f"CREATE TABLE `{SCHEMA}`.enc (id INT PRIMARY KEY, v VARBINARY(64))")
	gw = gateway(record_params="values")
	mig = Prepared(gw)
	sql = "INSERT INTO enc VALUES (?, AES_ENCRYPT(?, ?))"
	try:
		r = mig.execute(sql, {"int": 1}, {"str": "card-4111"}, {"str": "Very-Secret-Key"})
		assert r["ok"] == 1, r
	finally:
		mig.close()
	recs = executes(gw, sql)
	assert [r["params"]["values"] for r in recs] == [["1", "card-4111", "<redacted>"]], recs
	with open(gw.audit) as f:
		assert "Very-Secret-Key" not in f.read()


class RawStatement:
	"""COM_STMT_PREPARE / SEND_LONG_DATA / EXECUTE written by hand over a
	PyMySQL connection, for what the drivers above never send: a parameter
	sent with COM_STMT_SEND_LONG_DATA, and an execute that reuses the types
	bound by the previous one (new-params-bound flag 0)."""

	def __init__(self, conn, sql):
		self.c = conn
		conn._execute_command(0x16, sql)
		ok = conn._read_packet()
		assert ok.is_ok_packet(), ok.get_all_data()
		data = ok.get_all_data()
		self.id, ncols, self.nparams = struct.unpack("<IHH", data[1:9])
		for n in (self.nparams, ncols):  # definitions, then an EOF
			for _ in range(n + 1 if n else 0):
				conn._read_packet()

	def long_data(self, param, chunk):
		self.c._execute_command(0x18, struct.pack("<IH", self.id, param) + chunk)

	def execute(self, values, types=None):
		"""values: raw bytes per parameter (None: sent as long data
		before); types: (type, flag) pairs, or None to reuse the last."""
		body = struct.pack("<IBI", self.id, 0, 1) + b"\0" * ((self.nparams + 7) // 8)
		body += b"\1" + b"".join(struct.pack("<BB", *t) for t in types) if types else b"\0"
		body += b"".join(v for v in values if v is not None)
		self.c._execute_command(0x17, body)
		pkt = self.c._read_packet()
		return pkt.is_ok_packet()


def test_long_data_and_reused_types_recorded():
	h.require_proxy("the audit log is ddlgate's")
	fresh_schema()
	gw = gateway(record_params="values")
	c = h.connect(gw, database=SCHEMA)
	sql = "INSERT INTO pp (id, s, b) VALUES (?, ?, ?)"
	st = RawStatement(c, sql)
	assert st.nparams == 3
	st.long_data(2, b"first part, ")
	st.long_data(2, b"second part")
	# LONG 7, VAR_STRING 'x', BLOB sent as long data
	assert st.execute([struct.pack("<i", 7), b"\1x", None], [(3, 0), (253, 0), (252, 0)])
	# the same types again, not sent; every value in the execute this time
	assert st.execute([struct.pack("<i", 8), b"\1y", b"\3abc"])
	c.close()
	rows = db().query(f"SELECT id, s, b FROM `{SCHEMA}`.pp ORDER BY id")
	assert [tuple(r) for r in rows] == [(7, "x", b"first part, second part"), (8, "y", b"abc")]
	recs = executes(gw, sql)
	assert [r["outcome"] for r in recs] == ["ok", "ok"], recs
	assert [r["params"]["types"] for r in recs] == [["int", "varchar", "blob"]] * 2, recs
	assert [r["params"]["values"] for r in recs] == [["7", "x", "<long data>"],
							 ["8", "y", "abc"]], recs
	code, out = h.verify_audit(gw.audit)
	assert code == 0, out


if __name__ == "__main__":
	h.main(globals())
