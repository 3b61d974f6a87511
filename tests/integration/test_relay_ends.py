# Ends relayed as they happen: a backend connection the server closes (KILL from another session) closes the client's side at once, after what was queued for it, before the killer has the KILL's OK, and a queued ERR is never lost to a TCP reset.
import os
import socket
import struct
import time

import harness as h


def db():
	return h.shared_mariadb()


def read_until_closed(sock, timeout):
	"""Reads sock until the peer closes it; returns (bytes, how, seconds):
	how is 'eof', 'reset' or 'open' (still open at the deadline)."""
	sock.settimeout(0.2)
	data = b""
	t0 = time.monotonic()
	while time.monotonic() - t0 < timeout:
		try:
			chunk = sock.recv(65536)
		except socket.timeout:
			continue
		except ConnectionResetError:
			return data, "reset", time.monotonic() - t0
		if not chunk:
			return data, "eof", time.monotonic() - t0
		data += chunk
	return data, "open", time.monotonic() - t0


def err_codes(data):
	"""The error codes of the ERR packets in a run of plain packets."""
	codes = []
	while len(data) >= 4:
		n = data[0] | data[1] << 8 | data[2] << 16
		pkt = data[4:4 + n]
		if pkt[:1] == b"\xff":
			codes.append(struct.unpack("<H", pkt[1:3])[0])
		data = data[4 + n:]
	return codes


def test_idle_session_killed_closes_client_at_once():
	gw = h.gateway(db())
	c = h.connect(gw)
	tid = h.scalar(c, "select connection_id()")
	db().query(f"kill connection {tid}")
	data, how, secs = read_until_closed(c._sock, 5)
	print(f"  killed while idle: client saw {how} after {secs:.2f}s, {len(data)} bytes, "
	      f"errors {err_codes(data)}")
	assert how == "eof", how
	assert secs < 1.5, secs


def test_running_statement_killed_closes_client_at_once():
	gw = h.gateway(db())
	c = h.connect(gw)
	tid = h.scalar(c, "select connection_id()")
	sql = b"select sleep(30)"
	c._sock.sendall(struct.pack("<I", len(sql) + 1)[:3] + b"\x00\x03" + sql)
	time.sleep(0.5)
	db().query(f"kill connection {tid}")
	data, how, secs = read_until_closed(c._sock, 5)
	print(f"  killed mid-statement: {how} after {secs:.2f}s, errors {err_codes(data)}")
	assert how == "eof", how
	assert secs < 1.5, secs
	assert h.scalar(h.connect(gw), "select 1") == 1


def test_queued_err_survives_unread_client_input():
	"""A client still writing a packet over max_packet when ddlgate refuses
	it: the ERR arrives, then an orderly end, never a reset that would
	swallow it."""
	h.require_proxy("max_packet is ddlgate's")
	gw = h.gateway(db(), {"proxy": {"max_packet": "1M"}})
	for attempt in range(10):
		c = h.connect(gw)
		s = c._sock
		size = 8 * 1024 * 1024
		body = b"\x03select '" + b"x" * (size - 11) + b"'"
		s.setblocking(True)
		s.sendall(struct.pack("<I", 0xFFFFFF)[:3] + b"\x00" + body[:1024 * 1024])
		# the rest stays unread in ddlgate's socket as it refuses the packet
		try:
			s.settimeout(0.5)
			s.sendall(body[1024 * 1024:2 * 1024 * 1024])
		except (socket.timeout, BrokenPipeError, ConnectionResetError):
			pass
		data, how, secs = read_until_closed(s, 5)
		codes = err_codes(data)
		print(f"  attempt {attempt}: {how} after {secs:.2f}s, errors {codes}")
		assert codes == [1153], (attempt, codes, how)
		assert how == "eof", (attempt, how)
	assert h.scalar(h.connect(gw), "select 1") == 1


def test_lingering_sockets_end_when_the_client_never_closes():
	"""Closed sessions whose clients keep their sockets open cost ddlgate a
	descriptor for at most the linger time (2 s)."""
	h.require_proxy("the lingering close is ddlgate's")
	gw = h.gateway(db(), {"proxy": {"max_packet": "1M"}})
	fds = lambda: len(os.listdir(f"/proc/{gw.proc.pid}/fd"))  # noqa: E731
	h.scalar(h.connect(gw), "select 1")
	time.sleep(2.5)
	base = fds()
	held = []
	for _ in range(20):
		c = h.connect(gw)
		# a header announcing more than max_packet: ERR 1153 and the end
		c._sock.sendall(struct.pack("<I", 2 * 1024 * 1024)[:3] + b"\x00\x03select")
		held.append(c)
	for c in held:
		data, how, _ = read_until_closed(c._sock, 5)
		assert err_codes(data) == [1153] and how == "eof", (data, how)
	h.wait_for(lambda: fds() <= base, 6, f"ddlgate's descriptors back to {base}")
	assert h.scalar(h.connect(gw), "select 1") == 1


def closed_now(sock):
	"""Reads what sock holds without waiting: (bytes, True when the peer's
	end is already there)."""
	sock.setblocking(False)
	data = b""
	try:
		while True:
			chunk = sock.recv(65536)
			if not chunk:
				return data, True
			data += chunk
	except BlockingIOError:
		return data, False
	except ConnectionResetError:
		return data, True


def log_text(gw):
	with open(gw.log, errors="replace") as f:
		return f.read()


KILL_FORMS = ("KILL {}", "KILL CONNECTION {}", "KILL HARD {}", "KILL SOFT CONNECTION {}", None)


def test_kill_answered_once_the_victim_is_closed():
	"""The server closes the victim's connection before it answers the
	KILL: when the killer has the OK, the victim's client socket is closed
	too (libmariadb's reconnect relies on it), whichever worker thread each
	session lives on. Every form of KILL of a connection, COM_PROCESS_KILL
	included, idle victims and victims mid-statement."""
	h.require_proxy("the ordering across worker threads is ddlgate's")
	gw = h.gateway(db(), {"proxy": {"threads": "2"}})
	runs, late, slowest = 100, [], 0.0
	for i in range(runs):
		# accepted round robin: consecutive connections land on both workers
		pair = [h.connect(gw), h.connect(gw)]
		victim, killer = pair[i % 2], pair[1 - i % 2]
		tid = h.scalar(victim, "select connection_id()")
		busy = i % 3 == 0
		if busy:
			sql = b"select sleep(30)"
			victim._sock.sendall(struct.pack("<I", len(sql) + 1)[:3] + b"\x00\x03" + sql)
			time.sleep(0.05)
		form = KILL_FORMS[i % len(KILL_FORMS)]
		t0 = time.monotonic()
		if form is None:
			killer.kill(tid)  # COM_PROCESS_KILL
		else:
			killer.query(form.format(tid))
		took = time.monotonic() - t0
		slowest = max(slowest, took)
		data, closed = closed_now(victim._sock)
		if not closed:
			late.append((i, form or "COM_PROCESS_KILL", busy, err_codes(data)))
		victim._sock.close()
		killer.close()
	# the victim's end released the OK, not the bound on the wait (500 ms)
	bounded = log_text(gw).count("did not close within")
	print(f"  {runs} kills: victim still open at the killer's OK {len(late)} times, "
	      f"slowest KILL {slowest * 1000:.0f} ms, {bounded} released by the bound")
	assert not late, late[:5]
	assert bounded == 0, bounded
	assert h.scalar(h.connect(gw), "select 1") == 1


def test_kill_answered_within_bound_when_victim_cannot_close():
	"""A victim whose client reads nothing of a large result cannot flush
	and close: the killer's OK goes on after the 500 ms bound, logged, and
	the victim still ends."""
	h.require_proxy("the bound is ddlgate's")
	gw = h.gateway(db(), {"proxy": {"threads": "2"}})
	victim, killer = h.connect(gw), h.connect(gw)
	tid = h.scalar(victim, "select connection_id()")
	victim._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
	sql = b"select repeat('x', 1000000) from seq_1_to_64"
	victim._sock.sendall(struct.pack("<I", len(sql) + 1)[:3] + b"\x00\x03" + sql)
	time.sleep(0.5)  # ddlgate's buffer for the victim's client fills up
	t0 = time.monotonic()
	killer.query(f"KILL {tid}")
	took = time.monotonic() - t0
	bounded = log_text(gw).count("did not close within")
	print(f"  KILL of a victim that reads nothing answered in {took * 1000:.0f} ms, "
	      f"{bounded} released by the bound")
	assert 0.4 < took < 1.5, took
	assert bounded == 1, bounded
	# the victim ends once its flush gives up (2 s)
	h.wait_for(lambda: "killed by another session" in log_text(gw), 5,
		   "the victim's end in ddlgate's log")
	assert h.scalar(killer, "select 3") == 3

def test_kill_query_and_failed_kills_are_not_held():
	"""KILL QUERY leaves the victim's connection open; a KILL of an unknown
	thread fails as directly; neither waits."""
	gw = h.gateway(db(), {"proxy": {"threads": "2"}})
	victim, killer = h.connect(gw), h.connect(gw)
	tid = h.scalar(victim, "select connection_id()")
	t0 = time.monotonic()
	killer.query(f"KILL QUERY {tid}")
	err = h.run_err(killer, "KILL 4000000000")
	took = time.monotonic() - t0
	print(f"  KILL QUERY and a failed KILL in {took * 1000:.0f} ms; the failed one: {err}")
	assert err[0] == 1094, err
	assert took < 0.4, took
	assert h.scalar(victim, "select 2") == 2

if __name__ == "__main__":
	h.main(globals())
