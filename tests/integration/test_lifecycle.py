# Connection life cycle through ddlgate: silent clients time out, SIGTERM with idle clients, a unix-socket backend, pipelined commands.
import socket
import struct
import time

import pymysql

import harness as h

DB = None


def db():
	global DB
	if DB is None:
		DB = h.shared_mariadb()
	return DB


def closed_within(sock, seconds):
	"""True if the peer closes sock within seconds (bytes before EOF allowed)."""
	sock.settimeout(0.2)
	deadline = time.monotonic() + seconds
	while time.monotonic() < deadline:
		try:
			if not sock.recv(65536):
				return True
		except socket.timeout:
			continue
		except (ConnectionResetError, OSError):
			return True
	return False


def test_silent_client_times_out_in_handshake():
	h.require_proxy("[proxy] handshake_timeout_ms is a ddlgate setting")
	gw = h.gateway(db(), {"proxy": {"handshake_timeout_ms": 1000}})
	witness = h.connect(gw)
	silent = socket.create_connection((gw.host, gw.port), timeout=10)
	t0 = time.monotonic()
	assert closed_within(silent, 8), "a client that never logs in is still connected after 8 s"
	took = time.monotonic() - t0
	print(f"  silent client closed after {took:.1f}s (handshake_timeout_ms = 1000)")
	assert took >= 0.5, f"closed after {took:.2f}s, before the configured timeout"
	assert h.scalar(witness, "select 1") == 1, "the logged-in client was cut too"
	silent.close()


def test_sigterm_with_idle_clients_exits_promptly():
	h.require_proxy("SIGTERM handling is ddlgate's")
	gw = h.gateway(db())
	idle = [h.connect(gw) for _ in range(5)]
	for c in idle:
		assert h.scalar(c, "select 1") == 1
	t0 = time.monotonic()
	gw.sigterm()
	code = gw.wait(30)
	took = time.monotonic() - t0
	print(f"  exit {code} {took:.1f}s after SIGTERM with 5 idle clients")
	assert code == 0, f"exit code {code}"
	assert took < 5, f"{took:.1f}s to stop with only idle clients (nothing in flight)"
	for c in idle:
		try:
			h.scalar(c, "select 1")
			raise AssertionError("an idle client still answered after ddlgate stopped")
		except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
			pass


def test_unix_socket_backend():
	h.require_proxy("[proxy] backend_socket is a ddlgate setting")
	gw = h.gateway(db(), {"proxy": {"backend": None, "backend_socket": db().socket}})
	# Over the socket the server sees the client as 'app'@'localhost', which does not exist.
	db().query(f"create user if not exists '{h.APP_USER}'@'localhost' "
		   f"identified by '{h.APP_PASSWORD}'")
	db().query(f"grant all on *.* to '{h.APP_USER}'@'localhost'")
	c = h.connect(gw)
	assert h.scalar(c, "select current_user()") == f"{h.APP_USER}@localhost"
	with c.cursor() as cur:
		cur.execute("select seq, md5(seq) from seq_1_to_5000")
		rows = cur.fetchall()
	assert len(rows) == 5000 and rows[-1][0] == 5000
	c.close()


def com_query(sql):
	body = b"\x03" + sql.encode()
	return struct.pack("<I", len(body))[:3] + b"\x00" + body


def read_result(conn):
	"""Reads one text result set (or OK) after a raw COM_QUERY; returns rows."""
	conn._next_seq_id = 1
	res = pymysql.connections.MySQLResult(conn)
	res.read()
	return res.rows


def test_pipelined_queries():
	"""Several COM_QUERY sent back to back before reading any answer (as
	pipelining drivers do): the answers come back complete and in order."""
	gw = h.gateway(db())
	c = h.connect(gw)
	sqls = [f"select {i}, repeat('p', {i * 1000})" for i in range(1, 11)]
	c._sock.sendall(b"".join(com_query(q) for q in sqls))
	for i in range(1, 11):
		rows = read_result(c)
		assert rows == ((i, "p" * (i * 1000)),), (i, rows and rows[0][0])
	assert h.scalar(c, "select 'after'") == "after"
	c.close()


if __name__ == "__main__":
	h.main(globals())
