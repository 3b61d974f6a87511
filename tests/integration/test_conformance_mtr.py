# MariaDB's own test suite (mysql-test-run --extern) run directly and through ddlgate, text and --ps-protocol: no test may pass directly and fail through ddlgate.
"""
A bounded selection of the main suite of Debian's mariadb-test package:
tests that work against a running server (--extern) and exercise the
protocol: server-side prepared statements, cursors, multi-results, stored
procedures, signals and diagnostics, change-user and reset-connection,
character sets. Each mode runs the selection once straight against a
throw-away MariaDB and once through a fresh ddlgate in front of the same
server, whose rules all warn so the suite's own DDL runs. The list of tests
and both results are printed; a test that passes directly and fails (or
is skipped) through ddlgate fails this file.

The selection leaves out tests that restart or shut the server down (an
--extern server cannot be restarted) and tests that fail against a
non-mtr-installed server even directly (they read std_data through
relative paths, need a debug build, or assume mtr's full bootstrap).
DDLGATE_MTR_TESTS (space-separated main-suite names) replaces the
selection, e.g. to try a new test directly with DDLGATE_DIRECT=1.
"""
import os
import re
import time

import conformance
import harness as h

MTR_DIR = "/usr/share/mysql/mysql-test"

# Chosen for the protocol paths they drive; every one passes directly
# against the server conformance.py sets up (each pass takes 20-90 s,
# most of it mysql-test-run's own start-up).
SELECTION = """
ps_2myisam ps_3innodb ps_4heap ps_5merge ps_10nestset ps_11bugs ps_ddl1 ps_innodb
ps_not_windows ps_grant prepare
sp-cursor sp-anchor-row-type-cursor sp-bugs sp-bugs2 sp-condition-handler sp-dynamic
sp-row sp-vars sp-for-loop sp-threads sp-inout sp-prelocking
signal_demo1 signal_demo2 signal_demo3 errors reset_connection change_user
information_schema_prepare delete_returning outfile_loaddata
handler_read_last ctype_euckr ctype_tis620 bigint type_blob type_newdecimal type_time
""".split()

# The file's MariaDB, set up for MariaDB's own test tools.
db = conformance.mtr_mariadb


def selection():
	names = os.environ.get("DDLGATE_MTR_TESTS", "").split() or SELECTION
	return ["main." + n for n in names]


RESULT = re.compile(r"^(main\.\S+?)(?:\s+'[^']*')?\s+\[ (pass|fail|skipped|disabled) \]"
		    r"[ \t]*(\d*)", re.M)


def run_mtr(port, mode_args, label):
	"""Runs the selection with mysql-test-run against 127.0.0.1:port;
	returns ({test: result}, seconds, output)."""
	# mtr sets up a vardir of its own only when the directory is new.
	var = os.path.join(h.tmpdir(f"mtr-{label}-"), "var")
	cmd = ["perl", "mariadb-test-run.pl", f"--vardir={var}", f"--tmpdir={var}/tmp",
	       "--extern", "host=127.0.0.1", "--extern", f"port={port}",
	       "--extern", "protocol=tcp", "--nocheck-testcases", "--nowarnings", "--force",
	       "--max-test-fail=0", "--parallel=1", "--no-reorder", "--testcase-timeout=2",
	       "--suite-timeout=10"] + mode_args + selection()
	t0 = time.monotonic()
	r = h.run(cmd, timeout=900, cwd=MTR_DIR)
	took = time.monotonic() - t0
	out = r.stdout + r.stderr
	results = {name: (res, ms) for name, res, ms in RESULT.findall(out)}
	if not results:
		raise AssertionError(f"mysql-test-run reported no test ({label}):\n{out[-4000:]}")
	return results, took, out


def failure_excerpt(out, name):
	"""The lines mtr printed about one failed test."""
	m = re.search(re.escape(name) + r"\s+\[ fail \](.*?)(?=^main\.|\Z)", out, re.M | re.S)
	return (m.group(1) if m else "")[-3000:]


def compare(mode_args, label):
	if not os.path.isfile(os.path.join(MTR_DIR, "mariadb-test-run.pl")):
		raise AssertionError("mysql-test-run is missing: install the mariadb-test package "
				     "(tests/run.sh does)")
	gw = h.gateway(db(), conformance.warn_all_sections())
	direct, t_direct, _ = run_mtr(db().port, mode_args, label + "-direct")
	via, t_via, out_via = run_mtr(gw.port, mode_args, label + "-ddlgate")
	names = selection()
	print(f"  mysql-test-run {label}: {len(names)} tests, {t_direct:.0f}s directly, "
	      f"{t_via:.0f}s through ddlgate")
	print(f"  {'test':<40} {'direct':<16} ddlgate")
	worse, same = [], 0
	for name in names:
		(d, d_ms), (v, v_ms) = direct.get(name, ("missing", "")), via.get(name, ("missing", ""))
		mark = "" if d == v else "   <-- differs"
		print(f"  {name:<40} {d:<7} {d_ms:>6}ms  {v:<7} {v_ms:>6}ms{mark}")
		same += d == v
		if d == "pass" and v != "pass":
			worse.append(name)
	print(f"  same: {same}, different: {len(names) - same}, "
	      f"pass directly but not through ddlgate: {len(worse)}")
	assert not worse, "pass directly, not through ddlgate: " + ", ".join(worse) + "\n" + \
		"".join(f"--- {n} ---\n{failure_excerpt(out_via, n)}\n" for n in worse)


def test_mtr_text_protocol():
	h.require_proxy("compares the direct run with the run through ddlgate itself")
	compare([], "text")


def test_mtr_ps_protocol():
	h.require_proxy("compares the direct run with the run through ddlgate itself")
	compare(["--ps-protocol"], "ps-protocol")


if __name__ == "__main__":
	# One pass of the selection takes about a minute on a loaded machine.
	h.TEST_TIMEOUT = max(h.TEST_TIMEOUT, 500)
	h.main(globals())
