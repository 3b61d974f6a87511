#!/usr/bin/python3
# Audit cost benchmark: ddlgate without audit vs [audit] record = ddl vs record = all, interleaved, plus the writer's records/s.
"""
Usage: /usr/bin/python3 bench/audit_cost_bench.py

One run, about 2.5 minutes, bounded (every sysbench run has a time limit
and a timeout). Builds ddlgate and audit_bench (Release, build-bench/)
unless DDLGATE_BIN and AUDIT_BENCH_BIN are set, starts a throw-away
MariaDB and three ddlgate processes in front of it:

  none   no [audit] section: nothing recorded
  ddl    [audit] record = ddl (the default): a point select is not recorded
  all    [audit] record = all: every statement is a record

then runs sysbench oltp_point_select with --db-ps-mode=disable (every
statement a COM_QUERY, so under record = all every query is one record)
at each thread count, against the three endpoints in rounds whose order
alternates (none ddl all, all ddl none, ...), and prints per thread count
the median queries/s and proxy CPU per query (utime + stime of the ddlgate
process over the run, divided by the queries sysbench completed) of each,
and the medians of the per-round ratios over `none`. The record = all log
is checked with `ddlgate audit verify` at the end.

Then audit_bench -q (bench/audit_bench.c) measures the writer alone: records/s
with 4 submitting threads into /dev/null and into a file, and the writer
thread's own records per CPU-second (its capacity when it has a core).

Targets (issue 12): record = all >= 0.90x the throughput of `none` at
<= 1.25x its CPU per query at 4 and 16 threads; the writer >= 100k
records/s.

Environment (defaults in brackets):
  BENCH_PAIRS [3]         rounds per thread count
  BENCH_TIME [6]          seconds per sysbench run
  BENCH_THREADS [4,16]    sysbench thread counts
  BENCH_PS_MODE [disable] sysbench --db-ps-mode
  BENCH_FSYNC [interval]  [audit] fsync of the ddl and all endpoints
  BENCH_PROXY_THREADS [nproc]
  BENCH_TABLES [4], BENCH_TABLE_SIZE [10000]
  BENCH_WRITER_N [200000] records per audit_bench throughput run (0 skips it)
  BENCH_PERF              a path prefix: `perf record -g` of each endpoint's
                          first run into PREFIX.none, PREFIX.ddl, PREFIX.all
                          (profiling aid; the figures of those runs suffer)
  DDLGATE_BIN             use this binary instead of building (audit_bench is
                          then taken from the same build tree, built if missing)
  AUDIT_BENCH_BIN         use this audit_bench
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
RUN_TIME = int(os.environ.get("BENCH_TIME", "6"))
THREADS = [int(x) for x in os.environ.get("BENCH_THREADS", "4,16").split(",")]
PS_MODE = os.environ.get("BENCH_PS_MODE", "disable")
FSYNC = os.environ.get("BENCH_FSYNC", "interval")
PROXY_THREADS = int(os.environ.get("BENCH_PROXY_THREADS", str(os.cpu_count() or 2)))
TABLES = int(os.environ.get("BENCH_TABLES", "4"))
TABLE_SIZE = int(os.environ.get("BENCH_TABLE_SIZE", "10000"))
WRITER_N = int(os.environ.get("BENCH_WRITER_N", "200000"))
PERF = os.environ.get("BENCH_PERF", "")
WORKLOAD = "oltp_point_select"


def sysbench(port, *args, timeout=None):
	return bl.sysbench(port, WORKLOAD, TABLES, TABLE_SIZE, *args, timeout=timeout)


def run_once(port, pid, threads, perf_out=None):
	"""One timed run; returns (queries, qps, proxy CPU seconds)."""
	perf = None
	if perf_out:
		perf = subprocess.Popen(["perf", "record", "-g", "-o", perf_out, "-p", str(pid), "--",
					 "sleep", str(RUN_TIME)], stdout=subprocess.DEVNULL,
					stderr=subprocess.DEVNULL)
	cpu0 = bl.cpu_seconds(pid)
	out = sysbench(port, f"--threads={threads}", f"--time={RUN_TIME}", "--events=0",
		       f"--db-ps-mode={PS_MODE}", "--report-interval=0", "run",
		       timeout=RUN_TIME + 60)
	cpu = bl.cpu_seconds(pid) - cpu0
	if perf:
		perf.wait(RUN_TIME + 60)
	m = re.search(r"queries:\s+(\d+)\s+\((\d+(?:\.\d+)?) per sec", out)
	if not m:
		raise RuntimeError(f"cannot read sysbench's report:\n{out}")
	return int(m.group(1)), float(m.group(2)), cpu


def build():
	"""The ddlgate and audit_bench binaries: given, found in the build tree
	of a given ddlgate, or built (Release, build-bench/)."""
	gw = bl.build_release()
	ab = os.environ.get("AUDIT_BENCH_BIN")
	if ab or WRITER_N <= 0:
		return gw, ab
	build_dir = os.path.dirname(os.path.dirname(os.path.abspath(gw)))
	ab = os.path.join(build_dir, "bench", "audit_bench")
	if not os.access(ab, os.X_OK):
		subprocess.run(["cmake", "--build", build_dir, "-j", str(os.cpu_count() or 2),
				"--target", "audit_bench"], check=True, stdout=subprocess.DEVNULL)
	return gw, ab


def writer_bench(ab):
	"""audit_bench's throughput part; returns its output lines."""
	if WRITER_N <= 0:
		return []
	r = subprocess.run([ab, "-q", "-n", str(WRITER_N), "-t", "4"], stdout=subprocess.PIPE,
			   stderr=subprocess.STDOUT, text=True, timeout=120)
	return r.stdout.rstrip("\n").split("\n")


def main():
	t_start = time.monotonic()
	bl.set_nofile()
	gw_bin, ab_bin = build()
	stack = bl.Stack()
	try:
		db = bl.sysbench_mariadb(stack, TABLES, TABLE_SIZE)
		proxy = {"threads": PROXY_THREADS, "max_connections": 1000}
		targets = []
		for name, record in (("none", None), ("ddl", "ddl"), ("all", "all")):
			gw = stack.add(h.Ddlgate(db, {"proxy": proxy}, start=False))
			if record:
				gw.write_config(h.merge_sections(gw.conf, {"audit": {
					"path": gw.audit, "record": record, "fsync": FSYNC}}))
			gw.start()
			targets.append((name, gw))
		bl.log(f"set-up done at {time.monotonic() - t_start:.0f}s; warm-up ...")
		for _, gw in targets:
			sysbench(gw.port, "--threads=4", "--time=2", "--events=0",
				 f"--db-ps-mode={PS_MODE}", "run", timeout=60)

		print(f"# audit cost: {WORKLOAD} --db-ps-mode={PS_MODE}, {PAIRS} rounds x {RUN_TIME}s "
		      f"per endpoint, {TABLES}x{TABLE_SIZE} rows, proxy threads {PROXY_THREADS}, "
		      f"fsync = {FSYNC}, {os.cpu_count()} CPUs shared by sysbench, proxy and MariaDB; "
		      f"load average at start {os.getloadavg()[0]:.1f}")
		print(f"{'thr':>3} {'none qps':>9} {'ddl qps':>9} {'all qps':>9} "
		      f"{'none cpu/q':>10} {'ddl cpu/q':>10} {'all cpu/q':>10} "
		      f"{'ddl/none':>8} {'all/none':>8} {'cpu ddl':>8} {'cpu all':>8}")
		verdicts = []
		perf_left = {"none", "ddl", "all"} if PERF else set()
		for threads in THREADS:
			res = {name: [] for name, _ in targets}
			for rnd in range(PAIRS):
				order = targets if rnd % 2 == 0 else list(reversed(targets))
				for name, gw in order:
					perf_out = f"{PERF}.{name}" if name in perf_left else None
					perf_left.discard(name)
					res[name].append(run_once(gw.port, gw.proc.pid, threads,
								  perf_out))
					bl.wait_quiet(0.5)
			qps = {k: [r[1] for r in v] for k, v in res.items()}
			cpuq = {k: [r[2] / r[0] * 1e6 for r in v] for k, v in res.items()}

			def ratio(a, b, xs):
				return bl.median([x / y for x, y in zip(xs[a], xs[b]) if y > 0])

			t_ddl, t_all = ratio("ddl", "none", qps), ratio("all", "none", qps)
			c_ddl, c_all = ratio("ddl", "none", cpuq), ratio("all", "none", cpuq)
			print(f"{threads:>3} {bl.median(qps['none']):>9.0f} {bl.median(qps['ddl']):>9.0f} "
			      f"{bl.median(qps['all']):>9.0f} {bl.median(cpuq['none']):>8.1f}us "
			      f"{bl.median(cpuq['ddl']):>8.1f}us {bl.median(cpuq['all']):>8.1f}us "
			      f"{t_ddl:>8.3f} {t_all:>8.3f} {c_ddl:>8.3f} {c_all:>8.3f}", flush=True)
			verdicts.append((threads, t_all >= 0.90 and c_all <= 1.25))
		for threads, ok in verdicts:
			print(f"# record = all at {threads} threads: "
			      f"{'meets' if ok else 'misses'} >= 0.90x throughput, <= 1.25x CPU/query")
		all_gw = dict(targets)["all"]
		all_gw.stop()
		v = subprocess.run([gw_bin, "audit", "verify", all_gw.audit], stdout=subprocess.PIPE,
				   stderr=subprocess.STDOUT, text=True, timeout=300)
		print(f"# ddlgate audit verify (record = all log): {v.stdout.strip()} "
		      f"(exit {v.returncode})")
		stack.close()
		for line in writer_bench(ab_bin):
			print(line, flush=True)
		print(f"# total {time.monotonic() - t_start:.0f}s; ratios are medians of per-round "
		      f"ratios over `none`; cpu/q = ddlgate CPU microseconds per query")
	finally:
		stack.close()


if __name__ == "__main__":
	main()
