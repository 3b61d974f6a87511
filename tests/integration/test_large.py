# Large packets through ddlgate: 20 MiB statements in, 20 MiB rows out, the 16 MiB split boundaries, max_packet.
import hashlib
import os
import random

import pymysql

import harness as h

DB = None
MIB = 1024 * 1024
SPLIT = 0xFFFFFF  # a payload of exactly this many bytes is followed by an empty packet


def db():
	global DB
	if DB is None:
		DB = h.shared_mariadb()
		DB.query(f"create or replace table {h.APP_DB}.big (id int primary key, b longblob)")
	return DB


def blob(n, seed):
	"""n pseudo-random bytes (incompressible, every byte value present)."""
	return random.Random(seed).randbytes(n)


def test_20mib_statement_in():
	gw = h.gateway(db())
	data = blob(20 * MIB, 1)
	c = h.connect(gw)
	with c.cursor() as cur:
		# Escaped as a string literal: the COM_QUERY is well over 20 MiB and
		# travels as two 16 MiB packets and a tail.
		n = cur.execute("replace into big values (1, %s)", (data,))
		assert n == 1
		cur.execute("select length(b), md5(b) from big where id = 1")
		length, md5 = cur.fetchone()
	assert length == len(data), length
	assert md5 == hashlib.md5(data).hexdigest()
	# The server holds exactly those bytes (checked beside the proxy).
	assert db().query(f"select md5(b) from {h.APP_DB}.big where id = 1")[0][0] == md5
	assert h.scalar(c, "select 1") == 1
	c.close()


def test_20mib_row_out():
	gw = h.gateway(db())
	data = blob(20 * MIB + 12345, 2)
	c0 = db().admin_connect(database=h.APP_DB)
	with c0.cursor() as cur:
		cur.execute("replace into big values (2, %s)", (data,))
		cur.execute("select md5(b) from big where id = 2")
		server_md5 = cur.fetchone()[0]
	c0.close()
	c = h.connect(gw)
	with c.cursor() as cur:
		cur.execute("select id, b, 'after' from big where id = 2")
		row = cur.fetchone()
	assert row[0] == 2 and row[2] == "after", row[::2]
	assert len(row[1]) == len(data), len(row[1])
	assert hashlib.md5(row[1]).hexdigest() == server_md5
	# The rows that follow a huge one in the same result set are intact too.
	with c.cursor() as cur:
		cur.execute("select id, length(b) from big where id = 2 union all select 99, 1")
		assert cur.fetchall() == ((2, len(data)), (99, 1))
	c.close()


def test_query_packet_split_boundaries():
	"""COM_QUERY payloads of 16 MiB - 2, - 1 (needs a trailing empty packet), exact and + 1."""
	gw = h.gateway(db())
	c = h.connect(gw)
	head, tail = "select length('", "')"
	for payload in (SPLIT - 1, SPLIT, SPLIT + 1, 2 * SPLIT, 2 * SPLIT + 1):
		# payload = 1 command byte + the statement text
		n = payload - 1 - len(head) - len(tail)
		sql = head + "x" * n + tail
		with c.cursor() as cur:
			cur.execute(sql)
			got = cur.fetchone()[0]
		assert got == n, f"payload {payload}: length {got} != {n}"
	c.close()


def test_row_packet_split_boundaries():
	"""Rows whose packet payload is 16 MiB - 2, - 1 (exact split), 16 MiB, and the next one."""
	gw = h.gateway(db())
	c = h.connect(gw)
	for payload in (SPLIT - 1, SPLIT, SPLIT + 1):
		n = payload - 4  # lenenc prefix of a 3-byte length: 0xfd + 3 bytes
		with c.cursor() as cur:
			cur.execute(f"select repeat('y', {n}) union all select 'next'")
			rows = cur.fetchall()
		assert len(rows) == 2 and len(rows[0][0]) == n and rows[1][0] == "next", \
			(payload, len(rows), len(rows[0][0]))
		assert rows[0][0] == "y" * n
	c.close()


def test_many_medium_rows():
	"""A result of 2,000 rows of 64 KiB streamed through, checksummed."""
	gw = h.gateway(db())
	c = h.connect(gw)
	sql = "select seq, repeat(md5(seq), 2048) from seq_1_to_2000"
	with c.cursor() as cur:
		cur.execute(sql)
		rows = cur.fetchall()
	assert len(rows) == 2000
	for seq, text in rows:
		assert text == hashlib.md5(str(seq).encode()).hexdigest() * 2048, seq
	c.close()


def test_20mib_prepared_parameter_and_binary_row():
	"""COM_STMT_EXECUTE carrying a 20 MiB parameter, and a 20 MiB binary-protocol row (Node mysql2)."""
	if not os.path.isdir(os.path.join(h.HERE, "node_modules", "mysql2")):
		raise AssertionError("tests/integration/node_modules is missing: run "
				     "`npm install` in tests/integration (tests/run.sh does)")
	gw = h.gateway(db())
	r = h.run(["node", os.path.join(h.HERE, "big_execute.js"), gw.host, str(gw.port),
		   h.APP_USER, h.APP_PASSWORD, h.APP_DB, "20"], timeout=180, cwd=h.HERE)
	assert r.returncode == 0, f"big_execute.js failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
	print(f"  {r.stdout.strip()}")


def test_max_packet_limit():
	h.require_proxy("[proxy] max_packet is a ddlgate setting")
	gw = h.gateway(db(), {"proxy": {"max_packet": "1M"}})
	other = h.connect(gw)
	c = h.connect(gw)
	err = None
	try:
		with c.cursor() as cur:
			cur.execute("select length(%s)", ("z" * (2 * MIB),))
			got = cur.fetchone()
		raise AssertionError(f"a 2 MiB statement passed a 1M max_packet: {got}")
	except (pymysql.err.OperationalError, pymysql.err.InternalError,
		pymysql.err.ProgrammingError) as e:
		err = e
	print(f"  error for a 2 MiB statement with max_packet=1M: {err}")
	assert "packet" in str(err).lower(), f"the error does not say why: {err}"
	# Only that connection is affected.
	assert h.scalar(other, "select 5") == 5
	assert h.scalar(h.connect(gw), "select 6") == 6


if __name__ == "__main__":
	h.main(globals())
