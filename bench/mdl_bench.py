#!/usr/bin/python3
# Lock-wait benchmark: the application's latency while an ALTER waits behind an open transaction, with and without ddlgate's protection.
"""
Usage: /usr/bin/python3 bench/mdl_bench.py

Starts a throw-away MariaDB and, for each setting, a fresh ddlgate (Release
build in build-bench/ unless DDLGATE_BIN is set) whose [guard] account may
see and stop other accounts' statements. Each run is the scenario of
tests/integration/test_enforce_mdl.py: a steady stream of application
queries on t (a point select or a one-row UPDATE every 20 ms), a
transaction that read t and stays idle, and an
ALTER TABLE t ADD COLUMN ... ALGORITHM=INPLACE through ddlgate; the
transaction commits after BENCH_HOLD seconds. Prints the application's
query count, p50 / p99 / max latency and errors, and how long the ALTER
took, for ddl_lock_wait_ms = 0 (protection off: the queries queue behind
the waiting ALTER), for each bound of BENCH_BOUNDS, and once more with the
last bound and long_transaction_ms = BENCH_LOOK: there the transaction is
already BENCH_AGE seconds old when the ALTER arrives, so ddlgate holds the
ALTER unsent until it ends (in every run the transaction is that old, so
the runs compare).

Environment: BENCH_HOLD [6] seconds the transaction stays open after the
ALTER is sent, BENCH_BOUNDS [500,2000] ddl_lock_wait_ms values to compare,
BENCH_LOOK [1000] long_transaction_ms of the last run (0 = no such run),
BENCH_AGE [2] seconds the transaction is open before the ALTER, DDLGATE_BIN.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchlib as bl  # noqa: E402

sys.path.insert(0, os.path.join(bl.REPO, "tests", "integration"))
import test_enforce_mdl as scen  # noqa: E402

HOLD = float(os.environ.get("BENCH_HOLD", "6"))
BOUNDS = [int(b) for b in os.environ.get("BENCH_BOUNDS", "500,2000").split(",") if b]
LOOK = int(os.environ.get("BENCH_LOOK", "1000"))
AGE = float(os.environ.get("BENCH_AGE", "2"))


def main():
	bl.build_release()
	runs = [(b, 0) for b in [0] + BOUNDS] + ([(BOUNDS[-1], LOOK)] if LOOK and BOUNDS else [])
	rows = []
	try:
		for bound, look in runs:
			gw = scen.gateway(ddl_lock_wait_ms=bound, long_transaction_ms=look)
			try:
				stats, out = scen.scenario(gw, HOLD, AGE)
			finally:
				gw.stop()
			rows.append((bound, look, stats, out))
			bl.log(f"ddl_lock_wait_ms={bound} long_transaction_ms={look}: done")
	finally:
		scen.db().stop()
	print(f"transaction open {AGE:.1f} s before the ALTER and {HOLD:.1f} s after it; "
	      f"application: a query every 20 ms")
	print(f"{'ddl_lock_wait_ms':>16} {'long_trx_ms':>11} {'queries':>8} {'p50 ms':>8} "
	      f"{'p99 ms':>8} {'max ms':>8} {'errors':>6}  ALTER")
	for bound, look, s, out in rows:
		res = out.get("result")
		res = "ok" if res == "ok" else f"error {getattr(res, 'args', [res])[0]}"
		name = f"{bound}" if bound else "0 (off)"
		lname = f"{look}" if look else "0 (off)"
		print(f"{name:>16} {lname:>11} {s['n']:>8} {s['p50']:>8.1f} {s['p99']:>8.1f} "
		      f"{s['max']:>8.1f} {len(s['errors']):>6}  {res} after {out.get('took', 0):.1f} s")


if __name__ == "__main__":
	main()
