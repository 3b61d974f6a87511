# ddlgate under abuse: garbage bytes, signals (SIGHUP, SIGTERM), a dying client, a backend that dies and comes back.
import os
import random
import socket
import struct
import threading
import time

import pymysql

import harness as h

DB = None


def db():
	global DB
	if DB is None:
		DB = h.shared_mariadb()
	return DB


def read_until_closed(sock, timeout=10):
	"""Reads until the peer closes; returns the bytes received. Fails if
	the connection is still open after timeout seconds."""
	sock.settimeout(timeout)
	got = b""
	deadline = time.monotonic() + timeout
	while True:
		try:
			chunk = sock.recv(65536)
		except ConnectionResetError:
			return got
		except socket.timeout:
			raise AssertionError(f"connection still open {timeout}s later (got {got[:80]!r})")
		if not chunk:
			return got
		got += chunk
		if time.monotonic() > deadline:
			raise AssertionError("peer keeps sending and never closes")


def read_packet(sock, timeout=10):
	"""One MySQL packet: (sequence id, payload)."""
	sock.settimeout(timeout)
	head = b""
	while len(head) < 4:
		chunk = sock.recv(4 - len(head))
		assert chunk, "closed before a full packet header"
		head += chunk
	length = head[0] | head[1] << 8 | head[2] << 16
	body = b""
	while len(body) < length:
		chunk = sock.recv(length - len(body))
		assert chunk, "closed inside a packet"
		body += chunk
	return head[3], body


def send_and_half_close(sock, data, half_close=True):
	"""Sends data then (optionally) shuts our sending side. The peer may
	already have hung up on the first bad bytes: that is fine."""
	try:
		sock.sendall(data)
		if half_close:
			sock.shutdown(socket.SHUT_WR)
	except (BrokenPipeError, ConnectionResetError, OSError):
		pass


def assert_still_serving(gw, witness):
	"""The already-open connection and a new one both work."""
	assert h.scalar(witness, "select 'witness'") == "witness"
	c = h.connect(gw)
	assert h.scalar(c, "select 'new'") == "new"
	c.close()
	assert gw.alive(), "the server process died"


# --- garbage -------------------------------------------------------------------------

FRESH_GARBAGE = [
	# (name, read the greeting first?, bytes, half-close after sending?)
	("http request", False, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", True),
	("random bytes", True, random.Random(7).randbytes(300), True),
	("huge length header", True, b"\xff\xff\xff\x01" + b"A" * 100, True),
	# announced 64 KiB, over the 8 KiB cap before authentication: closed
	# at the header, without waiting for the payload or an EOF
	("oversized handshake response", True, b"\x00\x00\x01\x01" + b"A" * 100, False),
	("short handshake response", True, b"\x04\x00\x00\x01\x00\x00\x00\x00", False),
	("zero-length packet", True, b"\x00\x00\x00\x01", True),
	("bytes before the greeting", False, random.Random(8).randbytes(64), True),
]


def test_garbage_on_fresh_connection():
	gw = h.gateway(db())
	witness = h.connect(gw)
	for name, read_greeting, data, half_close in FRESH_GARBAGE:
		s = socket.create_connection((gw.host, gw.port), timeout=10)
		t0 = time.monotonic()
		try:
			if read_greeting:
				seq, greeting = read_packet(s)
				assert seq == 0 and greeting[0] == 10, f"{name}: no v10 greeting"
			send_and_half_close(s, data, half_close)
			read_until_closed(s)
			print(f"  {name}: closed after {time.monotonic() - t0:.2f}s")
		except AssertionError as e:
			raise AssertionError(f"{name}: {e}") from None
		finally:
			s.close()
		assert_still_serving(gw, witness)
	witness.close()


def raw_sock(conn):
	return conn._sock


def abandon(conn, reset=False):
	"""Closes a pymysql connection's socket without COM_QUIT (pymysql's
	buffered reader holds the descriptor too); reset=True sends an RST."""
	s = conn._sock
	if reset:
		s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
	conn._rfile.close()
	s.close()
	conn._sock = conn._rfile = None


def test_garbage_after_auth_closes_only_that_connection():
	gw = h.gateway(db())
	witness = h.connect(gw)
	variants = [
		("random bytes then EOF", random.Random(9).randbytes(500)),
		("length header promising 16 MiB then EOF", b"\xff\xff\xff\x00\x03select"),
		("half a header then EOF", b"\x05\x00"),
	]
	for name, data in variants:
		victim = h.connect(gw)
		s = raw_sock(victim)
		send_and_half_close(s, data)
		try:
			read_until_closed(s)
		except AssertionError as e:
			raise AssertionError(f"{name}: {e}") from None
		abandon(victim)
		assert_still_serving(gw, witness)
	witness.close()


def test_unknown_command_gets_server_error():
	"""A well-framed packet with a command byte nobody knows: the server's
	error comes back and the session stays usable (as against the server)."""
	gw = h.gateway(db())
	c = h.connect(gw)
	s = raw_sock(c)
	s.sendall(b"\x01\x00\x00\x00\xee")
	seq, payload = read_packet(s)
	assert payload[0] == 0xFF, f"expected an ERR packet, got {payload[:40]!r}"
	code = struct.unpack("<H", payload[1:3])[0]
	print(f"  unknown command: error {code} {payload[9:].decode(errors='replace')!r}")
	assert code == 1047, code  # ER_UNKNOWN_COM_ERROR
	assert h.scalar(c, "select 'still here'") == "still here"
	c.close()


def test_client_vanishes_mid_result():
	"""A client that quits while a large result streams to it hurts nobody."""
	gw = h.gateway(db())
	witness = h.connect(gw)
	for _ in range(3):
		c = h.connect(gw)
		s = raw_sock(c)
		sql = b"select repeat('v', 65536) from seq_1_to_2000"
		s.sendall(struct.pack("<I", len(sql) + 1)[:3] + b"\x00\x03" + sql)
		s.recv(1000)
		abandon(c, reset=True)  # most of the result unread
	assert_still_serving(gw, witness)
	# The abandoned server sessions go away.
	deadline = time.monotonic() + 15
	while True:
		n = db().query("select count(*) from information_schema.processlist "
			       "where user = %s", (h.APP_USER,))[0][0]
		if n <= 1 or time.monotonic() > deadline:
			break
		time.sleep(0.2)
	assert n <= 1, f"{n} app sessions on the server, expected only the witness: " + \
		repr(db().query("select id, command, time, state, left(info, 60) "
				"from information_schema.processlist where user = %s", (h.APP_USER,)))
	witness.close()


def test_server_kills_session():
	"""KILL of a client's server session: that client gets an error, others carry on."""
	gw = h.gateway(db())
	witness = h.connect(gw)
	victim = h.connect(gw)
	cid = h.scalar(victim, "select connection_id()")
	db().query(f"kill {int(cid)}")
	try:
		h.scalar(victim, "select 1")
		raise AssertionError("a killed session still answered")
	except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as e:
		print(f"  killed session: {e}")
	assert_still_serving(gw, witness)


# --- signals -------------------------------------------------------------------------

def test_sighup_keeps_connections():
	h.require_proxy("SIGHUP reload is ddlgate's")
	gw = h.gateway(db())
	conns = [h.connect(gw) for _ in range(3)]
	with conns[0].cursor() as cur:
		cur.execute("create temporary table hup (i int)")
		cur.execute("insert into hup values (1), (2)")
	tx = h.connect(gw, autocommit=False)
	with tx.cursor() as cur:
		cur.execute("create table if not exists hup_tx (i int primary key) engine=innodb")
		cur.execute("delete from hup_tx")
		cur.execute("insert into hup_tx values (42)")  # not committed yet
	for _ in range(3):
		gw.sighup()
		time.sleep(0.5)
	assert gw.alive(), "ddlgate exited on SIGHUP"
	assert h.scalar(conns[0], "select sum(i) from hup") == 3, "session state lost"
	for c in conns[1:]:
		assert h.scalar(c, "select 1") == 1
	tx.commit()
	assert h.scalar(conns[1], "select i from hup_tx") == 42
	assert h.scalar(h.connect(gw), "select 'after hup'") == "after hup"


def test_sighup_with_broken_config_keeps_running():
	h.require_proxy("SIGHUP reload is ddlgate's")
	gw = h.gateway(db())
	c = h.connect(gw)
	good = open(gw.config).read()
	with open(gw.config, "w") as f:
		f.write(good + "\n[proxy]\nno_such_key = 1\n")
	gw.sighup()
	time.sleep(1)
	assert gw.alive(), "a bad config on SIGHUP stopped ddlgate"
	assert h.scalar(c, "select 1") == 1
	assert h.scalar(h.connect(gw), "select 2") == 2
	log = open(gw.log, errors="replace").read()
	assert "no_such_key" in log, "the reload error does not name the bad key"
	with open(gw.config, "w") as f:
		f.write(good)


def test_sigterm_lets_statement_finish():
	h.require_proxy("SIGTERM handling is ddlgate's")
	gw = h.gateway(db())
	c = h.connect(gw)
	result = {}

	def slow():
		try:
			result["row"] = h.scalar(c, "select concat('done-', sleep(2))")
		except BaseException as e:  # noqa: B036
			result["error"] = e

	t = threading.Thread(target=slow, daemon=True)
	t.start()
	time.sleep(0.5)
	gw.sigterm()
	time.sleep(0.5)
	# No new clients once stopping.
	try:
		h.connect(gw, connect_timeout=3)
		raise AssertionError("a new connection was accepted after SIGTERM")
	except pymysql.err.OperationalError:
		pass
	t.join(30)
	assert result.get("row") == "done-0", f"in-flight statement: {result}"
	code = gw.wait(30)
	assert code == 0, f"exit code {code} after SIGTERM"


# --- the backend goes away (keep last: restarts the shared MariaDB) -------------------

def test_backend_killed_and_restarted():
	gw = h.gateway(db(), {"proxy": {"connect_timeout_ms": 3000}} if not h.DIRECT else None)
	existing = h.connect(gw)
	assert h.scalar(existing, "select 1") == 1
	db().kill()
	try:
		t0 = time.monotonic()
		try:
			h.scalar(existing, "select 1")
			raise AssertionError("an existing connection answered with the backend dead")
		except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as e:
			print(f"  existing connection: {e}")
		assert time.monotonic() - t0 < 15, "the existing connection took too long to fail"
		t0 = time.monotonic()
		try:
			h.connect(gw, connect_timeout=20, read_timeout=20)
			raise AssertionError("a new connection succeeded with the backend dead")
		except pymysql.err.OperationalError as e:
			msg = str(e)
			print(f"  new connection ({time.monotonic() - t0:.1f}s): {msg}")
		assert time.monotonic() - t0 < 15, "a new client waited too long for the error"
		if not h.DIRECT:
			assert ("backend" in msg.lower() or str(db().port) in msg), \
				f"the error does not name the backend: {msg}"
		assert gw.alive()
	finally:
		db().start()
	deadline = time.monotonic() + 15
	while True:
		try:
			c = h.connect(gw)
			break
		except pymysql.err.OperationalError:
			if time.monotonic() > deadline:
				raise
			time.sleep(0.3)
	assert h.scalar(c, "select 'back'") == "back"
	c.close()


if __name__ == "__main__":
	h.main(globals())
