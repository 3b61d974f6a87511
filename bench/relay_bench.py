#!/usr/bin/python3
# Relay benchmark: sysbench through ddlgate vs HAProxy (TCP mode) vs direct, interleaved, with proxy CPU per query.
"""
Usage: /usr/bin/python3 bench/relay_bench.py

Builds ddlgate (Release, build-bench/), starts a throw-away MariaDB, an
HAProxy in TCP mode and ddlgate in front of it, prepares the sysbench tables
once, then for each workload and thread count runs sysbench against the
three endpoints in rounds whose order alternates (A B C, C B A, ...), and
prints per workload and thread count the median over rounds of
  - throughput ratio ddlgate/HAProxy and ddlgate/direct (queries per second),
  - CPU time per query ratio ddlgate/HAProxy (utime+stime of the proxy
    process from /proc/<pid>/stat over the run, divided by queries).

Environment (defaults in brackets):
  BENCH_PAIRS [3]            rounds per workload and thread count
  BENCH_TIME [10]            seconds per sysbench run
  BENCH_THREADS [4,16]       sysbench thread counts
  BENCH_WORKLOADS [oltp_point_select,oltp_read_write]
  BENCH_PROXY_THREADS [nproc] ddlgate threads = HAProxy nbthread
  BENCH_TABLES [4], BENCH_TABLE_SIZE [25000]
  BENCH_AUDIT [0]            1 adds a fourth endpoint: ddlgate with
                             [audit] record = all (every statement recorded,
                             fsync = interval), and prints its throughput
                             and CPU per query against ddlgate without audit
  BENCH_BACKEND_TLS [0]      1 gives MariaDB a certificate and adds an
                             endpoint: ddlgate with its backend leg on TLS
                             (the default `[tls] backend = preferred`);
                             the plain "ddlgate" endpoint then runs with
                             `backend = off`; prints the TLS endpoint's
                             throughput and CPU per query against it, and
                             sysbench straight to MariaDB over TLS against
                             direct plaintext (what TLS costs the server
                             and client on the same cores, without ddlgate)
  BENCH_PS_MODE [auto]       sysbench --db-ps-mode: auto (prepared statements)
                             or disable (every statement a COM_QUERY; the
                             audit records COM_QUERY text, not executes)
  DDLGATE_BIN                use this binary instead of building one
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchlib as bl  # noqa: E402

h = bl.harness

PAIRS = int(os.environ.get("BENCH_PAIRS", "3"))
RUN_TIME = int(os.environ.get("BENCH_TIME", "10"))
THREADS = [int(x) for x in os.environ.get("BENCH_THREADS", "4,16").split(",")]
WORKLOADS = os.environ.get("BENCH_WORKLOADS", "oltp_point_select,oltp_read_write").split(",")
PROXY_THREADS = int(os.environ.get("BENCH_PROXY_THREADS", str(os.cpu_count() or 2)))
TABLES = int(os.environ.get("BENCH_TABLES", "4"))
TABLE_SIZE = int(os.environ.get("BENCH_TABLE_SIZE", "25000"))
AUDIT = os.environ.get("BENCH_AUDIT", "0") == "1"
PS_MODE = os.environ.get("BENCH_PS_MODE", "auto")
BACKEND_TLS = os.environ.get("BENCH_BACKEND_TLS", "0") == "1"


TLS_DIR = None  # where sysbench finds its TLS files (direct-tls)


def sysbench(port, workload, *args, timeout=None, cwd=None):
	return bl.sysbench(port, workload, TABLES, TABLE_SIZE, *args, timeout=timeout, cwd=cwd)


def run_once(target, workload, threads):
	"""One timed sysbench run; returns (queries, qps, proxy cpu seconds or None)."""
	name, port, pid = target
	cpu0 = bl.cpu_seconds(pid) if pid else None
	tls = ["--mysql-ssl=on"] if name == "direct-tls" else []
	out = sysbench(port, workload, f"--threads={threads}", f"--time={RUN_TIME}", "--events=0",
		       f"--db-ps-mode={PS_MODE}", "--report-interval=0", *tls, "run",
		       timeout=RUN_TIME + 120, cwd=TLS_DIR if tls else None)
	cpu = bl.cpu_seconds(pid) - cpu0 if pid else None
	m = re.search(r"queries:\s+(\d+)\s+\((\d+(?:\.\d+)?) per sec", out)
	if not m:
		raise RuntimeError(f"cannot read sysbench's report:\n{out}")
	errs = re.search(r"ignored errors:\s+(\d+)", out)
	if errs and int(errs.group(1)) > 0:
		bl.log(f"  note: {errs.group(1)} ignored errors (deadlocks) in {name} run")
	return int(m.group(1)), float(m.group(2)), cpu


def main():
	global TLS_DIR
	t_start = time.monotonic()
	bl.set_nofile()
	bl.build_release()
	stack = bl.Stack()
	try:
		db = bl.sysbench_mariadb(stack, TABLES, TABLE_SIZE, tls=BACKEND_TLS)
		hap = stack.add(bl.HAProxy(db.port, PROXY_THREADS))
		proxy = {"threads": PROXY_THREADS, "max_connections": 1000}
		# with BACKEND_TLS the server offers TLS: every endpoint but
		# backend-tls keeps a plaintext backend leg, so each compares one thing
		plain_leg = {"tls": {"backend": "off"}} if BACKEND_TLS else {}
		gw = stack.add(h.Ddlgate(db, {"proxy": proxy} | plain_leg))
		targets = [("direct", db.port, None), ("haproxy", hap.port, hap.proc.pid),
			   ("ddlgate", gw.port, gw.proc.pid)]
		if AUDIT:
			gwa = stack.add(h.Ddlgate(db, {
				"proxy": {"threads": PROXY_THREADS, "max_connections": 1000},
				"audit": {"path": "audit-all.jsonl", "record": "all",
					  "fsync": "interval"}} | plain_leg))
			targets.append(("audit-all", gwa.port, gwa.proc.pid))
		if BACKEND_TLS:
			gwt = stack.add(h.Ddlgate(db, {"proxy": proxy}))
			ep = type("Endpoint", (), {"host": "127.0.0.1", "port": gwt.port})
			c = h.connect(ep)
			cipher = h.rows(c, "show session status like 'Ssl_cipher'")[0][1]
			c.close()
			if not cipher:
				raise RuntimeError("ddlgate's backend leg did not negotiate TLS")
			print(f"# backend-tls endpoint: ddlgate's backend leg cipher {cipher}")
			targets.append(("backend-tls", gwt.port, gwt.proc.pid))
			# what TLS costs without ddlgate: the client straight to MariaDB
			# over TLS, against the plain direct runs
			targets.append(("direct-tls", db.port, None))
			TLS_DIR = bl.sysbench_tls_dir()
		bl.log(f"set-up done at {time.monotonic() - t_start:.0f}s; warm-up ...")
		for _, port, _ in targets:
			sysbench(port, "oltp_point_select", "--threads=4", "--time=3", "--events=0",
				 "run", timeout=120)

		print(f"# relay benchmark: {PAIRS} rounds x {RUN_TIME}s per endpoint, "
		      f"{TABLES}x{TABLE_SIZE} rows, proxy threads {PROXY_THREADS}, "
		      f"{os.cpu_count()} CPUs shared by sysbench, proxy and MariaDB")
		print(f"{'workload':<18} {'thr':>3} {'direct qps':>11} {'haproxy qps':>12} "
		      f"{'ddlgate qps':>12} {'ddl/hap':>8} {'ddl/dir':>8} "
		      f"{'hap cpu/q':>10} {'ddl cpu/q':>10} {'cpu ddl/hap':>11}")
		for workload in WORKLOADS:
			for threads in THREADS:
				res = {name: [] for name, _, _ in targets}
				for rnd in range(PAIRS):
					order = targets if rnd % 2 == 0 else list(reversed(targets))
					for t in order:
						res[t[0]].append(run_once(t, workload, threads))
						bl.wait_quiet(0.5)
				qps = {k: [r[1] for r in v] for k, v in res.items()}
				cpuq = {k: [r[2] / r[0] * 1e6 for r in v] for k, v in res.items()
					if k not in ("direct", "direct-tls")}
				r_hap = [d / x for d, x in zip(qps["ddlgate"], qps["haproxy"])]
				r_dir = [d / x for d, x in zip(qps["ddlgate"], qps["direct"])]
				r_cpu = [d / x for d, x in zip(cpuq["ddlgate"], cpuq["haproxy"]) if x > 0]
				print(f"{workload:<18} {threads:>3} {bl.median(qps['direct']):>11.0f} "
				      f"{bl.median(qps['haproxy']):>12.0f} "
				      f"{bl.median(qps['ddlgate']):>12.0f} {bl.median(r_hap):>8.3f} "
				      f"{bl.median(r_dir):>8.3f} {bl.median(cpuq['haproxy']):>8.1f}us "
				      f"{bl.median(cpuq['ddlgate']):>8.1f}us {bl.median(r_cpu):>11.3f}",
				      flush=True)
				if AUDIT:
					r_aq = [a / d for a, d in zip(qps["audit-all"], qps["ddlgate"])]
					r_ac = [a / d for a, d in zip(cpuq["audit-all"], cpuq["ddlgate"])
						if d > 0]
					print(f"{'  record=all':<18} {threads:>3} "
					      f"qps {bl.median(qps['audit-all']):.0f}, "
					      f"over ddlgate without audit: throughput "
					      f"{bl.median(r_aq):.3f}, cpu/q {bl.median(r_ac):.3f}",
					      flush=True)
				if BACKEND_TLS:
					r_tq = [t / d for t, d in zip(qps["backend-tls"], qps["ddlgate"])]
					r_tc = [t / d for t, d in zip(cpuq["backend-tls"], cpuq["ddlgate"])
						if d > 0]
					r_th = [t / x for t, x in zip(qps["backend-tls"], qps["haproxy"])]
					print(f"{'  backend TLS':<18} {threads:>3} "
					      f"qps {bl.median(qps['backend-tls']):.0f}, "
					      f"over ddlgate with a plaintext backend leg: throughput "
					      f"{bl.median(r_tq):.3f}, cpu/q {bl.median(r_tc):.3f}; "
					      f"over haproxy: throughput {bl.median(r_th):.3f}",
					      flush=True)
					r_dt = [t / d for t, d in zip(qps["direct-tls"], qps["direct"])]
					print(f"{'  direct TLS':<18} {threads:>3} "
					      f"qps {bl.median(qps['direct-tls']):.0f}, sysbench straight to "
					      f"MariaDB over TLS, over direct plaintext: throughput "
					      f"{bl.median(r_dt):.3f}", flush=True)
		if not gw.alive():
			print("WARNING: ddlgate exited during the benchmark; see its log")
		print(f"# total {time.monotonic() - t_start:.0f}s; ratios are medians of "
		      f"per-round ratios; cpu/q = proxy CPU microseconds per query")
	finally:
		stack.close()


if __name__ == "__main__":
	main()
