#!/usr/bin/python3
# Allocation benchmark: heap allocations per statement inside ddlgate, its own and libevent's.
"""
Usage: /usr/bin/python3 bench/alloc_bench.py

Builds ddlgate (Release, build-bench/) and the LD_PRELOAD counter
bench/alloc_count.c, starts a throw-away MariaDB and a ddlgate with the
counter preloaded, then over one connection runs BENCH_N point selects
(COM_QUERY "SELECT c FROM t WHERE id = N") and BENCH_N single-row
UPDATEs (autocommit), and prints for each the allocations per statement
made inside the ddlgate process, by caller: ddlgate's own code, libevent,
and everything else (libc, OpenSSL, ...). Sessions are set up and warmed
up before counting, so the figures are the steady-state cost of a round
trip. cpu/stmt is the ddlgate process's CPU time (utime + stime) over the
run divided by the statements.

Environment: BENCH_N [20000] statements per kind, DDLGATE_BIN (use this
binary; the counter is then taken from the same directory's
../bench/alloc_count.so or ALLOC_COUNT_SO).
"""

import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchlib as bl  # noqa: E402

h = bl.harness
N = int(os.environ.get("BENCH_N", "20000"))
KINDS = ("ddlgate", "libevent", "other")


def build_counter(ddlgate_bin):
	so = os.environ.get("ALLOC_COUNT_SO")
	if so:
		return so
	build = os.path.dirname(os.path.dirname(ddlgate_bin))
	subprocess.run(["cmake", "--build", build, "--target", "alloc_count"], check=True,
		       stdout=subprocess.DEVNULL)
	return os.path.join(build, "bench", "alloc_count.so")


def counts(path):
	with open(path, "rb") as f:
		return struct.unpack("<3Q", f.read(24))


def measure(conn, path, pid, sql_of):
	with conn.cursor() as cur:
		for i in range(500):  # warm-up: buffers, caches, the policy's first use
			cur.execute(sql_of(i))
			cur.fetchall()
		c0 = counts(path)
		cpu0 = bl.cpu_seconds(pid)
		t0 = time.monotonic()
		for i in range(N):
			cur.execute(sql_of(i))
			cur.fetchall()
		dt = time.monotonic() - t0
		cpu = bl.cpu_seconds(pid) - cpu0
		c1 = counts(path)
	return [(b - a) / N for a, b in zip(c0, c1)], N / dt, cpu / N * 1e6


def main():
	binary = bl.build_release()
	so = build_counter(binary)
	stack = bl.Stack()
	try:
		db = stack.add(h.MariaDB())
		db.query(f"CREATE TABLE {h.APP_DB}.t (id INT PRIMARY KEY, k INT, c CHAR(60))")
		db.query(f"INSERT INTO {h.APP_DB}.t SELECT seq, seq, REPEAT('x', 60) "
			 f"FROM {h.APP_DB}.seq_1_to_1000")
		path = os.path.join(h.tmpdir("alloc-"), "counts")
		os.environ["ALLOC_COUNT_FILE"] = path
		os.environ["LD_PRELOAD"] = so
		try:
			gw = stack.add(h.Ddlgate(db, {"proxy": {"threads": 1}}))
		finally:
			del os.environ["LD_PRELOAD"]
		conn = h.connect(gw)
		print(f"# allocations per statement inside ddlgate, {N} statements each, "
		      "one connection, COM_QUERY")
		print(f"{'statement':<28} {'ddlgate':>8} {'libevent':>9} {'other':>7} {'stmt/s':>8} "
		      f"{'cpu/stmt':>9}")
		for name, sql_of in (
			("point select", lambda i: f"SELECT c FROM t WHERE id = {i % 1000 + 1}"),
			("single-row update", lambda i: f"UPDATE t SET k = k + 1 WHERE id = {i % 1000 + 1}"),
		):
			per, rate, cpu = measure(conn, path, gw.proc.pid, sql_of)
			print(f"{name:<28} {per[0]:>8.2f} {per[1]:>9.2f} {per[2]:>7.2f} {rate:>8.0f} "
			      f"{cpu:>7.1f}us", flush=True)
		conn.close()
	finally:
		stack.close()


if __name__ == "__main__":
	main()
