#!/usr/bin/python3
# Memory benchmark: ddlgate RSS per idle connection (HAProxy as reference) and RSS growth while a slow client reads 1 GiB.
"""
Usage: /usr/bin/python3 bench/memory_bench.py

1. Idle connections: opens BENCH_IDLE (2,000) authenticated client
   connections through the proxy and leaves them idle; prints the proxy's
   VmRSS growth per connection, for ddlgate and for HAProxy (TCP mode).
2. Slow reader: a client sends
     SELECT REPEAT('x', 1024) FROM seq_1_to_1048576     (1 GiB of rows)
   and reads the answer at BENCH_SLOW_MBPS (25 MB/s, about 43 s) with a
   small socket receive buffer, while the proxy's VmRSS is sampled every
   100 ms; prints the maximum growth over the baseline (target < 16 MiB:
   the result must stream with back-pressure, never pile up in the proxy).

Environment: BENCH_IDLE [2000; 0 skips part 1], BENCH_SLOW_MBPS [25],
BENCH_SLOW_ROWS [1048576], BENCH_BACKEND_TLS [0; 1 gives MariaDB a
certificate, so ddlgate's backend leg runs TLS (the default `[tls] backend`
prefers it) and HAProxy relays the TLS bytes], BENCH_CLIENT_TLS [0; 1 makes
the idle clients connect with TLS: to ddlgate's certificate, and through
HAProxy to MariaDB's, which needs BENCH_BACKEND_TLS=1], BENCH_PROXY_THREADS [nproc],
DDLGATE_BIN (skip the build).
The script raises its open-files limit to 65536 (like `ulimit -n 65536`);
the proxies and MariaDB inherit it.
"""

import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchlib as bl  # noqa: E402

h = bl.harness

IDLE = int(os.environ.get("BENCH_IDLE", "2000"))
SLOW_MBPS = float(os.environ.get("BENCH_SLOW_MBPS", "25"))
SLOW_ROWS = int(os.environ.get("BENCH_SLOW_ROWS", "1048576"))
BACKEND_TLS = os.environ.get("BENCH_BACKEND_TLS") == "1"
CLIENT_TLS = os.environ.get("BENCH_CLIENT_TLS") == "1"
PROXY_THREADS = int(os.environ.get("BENCH_PROXY_THREADS", str(os.cpu_count() or 2)))


def idle_connections(name, port, pid):
	"""Opens IDLE connections through port; returns KiB of RSS per connection."""
	ep = type("Endpoint", (), {"host": "127.0.0.1", "port": port})
	tls = {"ssl": {"check_hostname": False, "verify_mode": 0}} if CLIENT_TLS else {}
	warm = [h.connect(ep, **tls) for _ in range(10)]  # first-use allocations out of the way
	for c in warm:
		c.close()
	time.sleep(0.5)
	before = bl.rss_kib(pid)
	conns = []
	t0 = time.monotonic()
	try:
		for i in range(IDLE):
			conns.append(h.connect(ep, connect_timeout=30, **tls))
		if CLIENT_TLS and conns[-1]._sock.__class__.__name__ != "SSLSocket":
			raise RuntimeError("the client leg did not negotiate TLS")
		# every one is authenticated and usable
		assert h.scalar(conns[-1], "select 1") == 1 and h.scalar(conns[0], "select 1") == 1
		time.sleep(1)
		after = bl.rss_kib(pid)
	finally:
		for c in conns:
			try:
				c.close()
			except Exception:
				pass
	per = (after - before) / IDLE
	print(f"idle connections  {name:<8} {IDLE} connections in {time.monotonic() - t0:.1f}s: "
	      f"RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB, {per:.1f} KiB per connection",
	      flush=True)
	return per


class RssSampler(threading.Thread):
	"""Samples a process's VmRSS every 100 ms until stopped; keeps the max."""

	def __init__(self, pid):
		super().__init__(daemon=True)
		self.pid, self.max, self.stop_ev = pid, 0, threading.Event()

	def run(self):
		while not self.stop_ev.is_set():
			self.max = max(self.max, bl.rss_kib(self.pid))
			self.stop_ev.wait(0.1)


def slow_reader(name, port, pid):
	"""Reads a 1 GiB result slowly through port; returns max RSS growth in KiB."""
	ep = type("Endpoint", (), {"host": "127.0.0.1", "port": port})
	c = h.connect(ep, read_timeout=600)
	s = c._sock  # after the login pymysql's reader holds no bytes
	s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
	time.sleep(0.5)
	base = bl.rss_kib(pid)
	sampler = RssSampler(pid)
	sampler.start()
	sql = f"select repeat('x', 1024) from seq_1_to_{SLOW_ROWS}".encode()
	s.sendall(struct.pack("<I", len(sql) + 1)[:3] + b"\x00\x03" + sql)
	rate = SLOW_MBPS * 1e6
	t0 = time.monotonic()
	total = 0
	buf = b""
	eofs = rows = 0
	done = False
	while not done:
		chunk = s.recv(256 * 1024)
		if not chunk:
			raise RuntimeError("connection closed before the end of the result")
		total += len(chunk)
		buf += chunk
		# Walk complete packets: column count, column def, EOF, rows, EOF.
		pos = 0
		while len(buf) - pos >= 4:
			n = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
			if len(buf) - pos - 4 < n:
				break
			first = buf[pos + 4] if n else None
			if first == 0xFF:
				raise RuntimeError(f"server error: {buf[pos + 7:pos + 4 + n]!r}")
			if first == 0xFE and n < 9:
				eofs += 1
				if eofs == 2:
					done = True
			elif eofs == 1:
				rows += 1
			pos += 4 + n
		buf = buf[pos:]
		ahead = total / rate - (time.monotonic() - t0)
		if ahead > 0:
			time.sleep(ahead)
	elapsed = time.monotonic() - t0
	sampler.stop_ev.set()
	sampler.join()
	growth = sampler.max - base
	c._rfile.close()
	s.close()
	c._sock = c._rfile = None
	assert rows == SLOW_ROWS, f"read {rows} rows, expected {SLOW_ROWS}"
	print(f"slow {SLOW_ROWS} KiB reader {name:<8} {total / 2**20:.0f} MiB in {elapsed:.0f}s "
	      f"({total / elapsed / 1e6:.1f} MB/s): RSS base {base / 1024:.1f} MiB, "
	      f"max growth {growth / 1024:.1f} MiB", flush=True)
	return growth


def main():
	t_start = time.monotonic()
	nofile = bl.set_nofile(65536)
	bl.build_release()
	stack = bl.Stack()
	try:
		bl.log("starting MariaDB ...")
		if BACKEND_TLS:
			db = stack.add(h.MariaDB(args=[
				"--innodb-buffer-pool-size=512M", "--skip-log-bin",
				"--performance-schema=OFF", f"--max-connections={IDLE + 200}",
				"--thread-cache-size=600"], tls=True))
		else:
			db = stack.add(bl.bench_mariadb(max_connections=IDLE + 200))
		hap = stack.add(bl.HAProxy(db.port, PROXY_THREADS, maxconn=IDLE + 500))
		gw = stack.add(h.Ddlgate(db, {"proxy": {"threads": PROXY_THREADS,
							"max_connections": IDLE + 500}}))
		if CLIENT_TLS and not BACKEND_TLS:
			raise SystemExit("BENCH_CLIENT_TLS=1 needs BENCH_BACKEND_TLS=1 (HAProxy passes "
					 "the client's TLS through to MariaDB)")
		print(f"# memory benchmark: open-files limit {nofile}, proxy threads {PROXY_THREADS}, "
		      f"backend TLS {'on' if BACKEND_TLS else 'off'}, "
		      f"client TLS {'on' if CLIENT_TLS else 'off'}")
		if BACKEND_TLS:  # what the server sees of ddlgate's backend leg
			ep = type("Endpoint", (), {"host": "127.0.0.1", "port": gw.port})
			c = h.connect(ep)
			cipher = h.rows(c, "show session status like 'Ssl_cipher'")[0][1]
			c.close()
			print(f"# ddlgate's backend leg cipher: {cipher or 'none (plaintext)'}")
		if IDLE > 0:
			idle_connections("ddlgate", gw.port, gw.proc.pid)
			idle_connections("haproxy", hap.port, hap.proc.pid)
		g = slow_reader("ddlgate", gw.port, gw.proc.pid)
		slow_reader("haproxy", hap.port, hap.proc.pid)
		verdict = "within" if g < 16 * 1024 else "OVER"
		print(f"# ddlgate max RSS growth while streaming {SLOW_ROWS} KiB rows: {g / 1024:.1f} MiB "
		      f"({verdict} the 16 MiB target)")
		if not gw.alive():
			print("WARNING: ddlgate exited during the benchmark; see its log")
		print(f"# total {time.monotonic() - t_start:.0f}s")
	finally:
		stack.close()


if __name__ == "__main__":
	main()
