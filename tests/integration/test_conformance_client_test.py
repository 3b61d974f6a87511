# MariaDB's C API test program mysql_client_test, sub-test by sub-test, directly and through ddlgate: every sub-test must end the same way.
"""
mariadb-client-test (Debian package mariadb-test) holds some 300
sub-tests of the C client library against a server: prepared statements
of every type, cursors, multi-results, long data, change-user, reset
connection, kill and reconnect. Each sub-test runs alone, first straight
against a throw-away MariaDB and then through a fresh ddlgate (rules
warning, as for mysql-test-run) in front of the same server; the exit
status must be the same. The per-sub-test comparison is printed.

test_bug17512527 (a connection killed by another one reconnects before
its next statement) is timing-sensitive through a proxy: it runs 200
times through ddlgate and must pass every time.

DDLGATE_CLIENT_TESTS (space-separated sub-test names) replaces the list.
"""
import os
import shutil
import subprocess
import time

import conformance
import harness as h

PROGRAM = "mariadb-client-test"
KILL_REPEAT = 200

# The file's MariaDB, set up for MariaDB's own test tools.
db = conformance.mtr_mariadb


def sub_tests():
	names = os.environ.get("DDLGATE_CLIENT_TESTS", "").split()
	if names:
		return names
	r = h.run([PROGRAM, "--no-defaults", "--show-tests"])
	names = [line.strip() for line in r.stdout.splitlines() if line.startswith("test_")]
	assert len(names) > 100, f"{PROGRAM} --show-tests listed {len(names)} sub-tests:\n{r.stdout}"
	return names


def run_sub_test(endpoint, name, vardir):
	"""Runs one sub-test against endpoint; returns (exit status, the last
	lines of its output)."""
	# Some sub-tests delete their accounts from mysql.user without FLUSH
	# PRIVILEGES (test_bug31669), which makes the next run fail: each run
	# starts from the privilege tables.
	db().query("FLUSH PRIVILEGES")
	cmd = [PROGRAM, "--no-defaults", "-h", "127.0.0.1", "-P", str(endpoint.port), "-u", "root",
	       "--password=", "--testcase", f"--vardir={vardir}", "--silent", name]
	try:
		r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
				   stdin=subprocess.DEVNULL, timeout=60)
	except subprocess.TimeoutExpired:
		return "timeout", ""
	# The output holds raw bytes of other character sets.
	out = r.stdout.decode("utf-8", "replace")
	return r.returncode, "\n".join(out.strip().splitlines()[-6:])


def require_program():
	if not shutil.which(PROGRAM):
		raise AssertionError(f"{PROGRAM} is missing: install the mariadb-test package "
				     "(tests/run.sh does)")


def test_every_sub_test_alone():
	h.require_proxy("compares the direct run with the run through ddlgate itself")
	require_program()
	gw = h.gateway(db(), conformance.warn_all_sections())
	vardir = h.tmpdir("client-test-")
	names = sub_tests()
	t0 = time.monotonic()
	differ, fails = [], 0
	print(f"  {'sub-test':<44} direct  ddlgate")
	for name in names:
		direct = run_sub_test(db(), name, vardir)
		via = run_sub_test(gw, name, vardir)
		mark = "" if direct[0] == via[0] else "   <-- differs"
		print(f"  {name:<44} {direct[0]!s:<7} {via[0]}{mark}")
		fails += direct[0] != 0
		if direct[0] != via[0]:
			differ.append((name, direct, via))
		assert db().alive(), f"MariaDB died during {name}"
	print(f"  {len(names)} sub-tests in {time.monotonic() - t0:.0f}s: "
	      f"{len(names) - len(differ)} same, {len(differ)} different "
	      f"({fails} fail directly too)")
	assert not differ, "".join(
		f"\n--- {n}: directly {d[0]}, through ddlgate {v[0]}\n  direct: {d[1]}\n  ddlgate: {v[1]}"
		for n, d, v in differ)


def test_bug17512527_repeated():
	"""KILL from another connection, then the victim's next statement: the
	client library must find the connection gone and reconnect."""
	h.require_proxy("the repetition guards a race inside ddlgate")
	require_program()
	gw = h.gateway(db(), conformance.warn_all_sections())
	vardir = h.tmpdir("client-test-")
	t0 = time.monotonic()
	failed = []
	for i in range(KILL_REPEAT):
		rc, out = run_sub_test(gw, "test_bug17512527", vardir)
		if rc != 0:
			failed.append((i, rc, out))
	print(f"  test_bug17512527 x{KILL_REPEAT} through ddlgate: {KILL_REPEAT - len(failed)} "
	      f"passed, {len(failed)} failed ({time.monotonic() - t0:.0f}s)")
	assert not failed, "".join(f"\n--- run {i}: exit {rc}\n{out}" for i, rc, out in failed[:3])


if __name__ == "__main__":
	# Every sub-test twice takes a few minutes on a loaded machine.
	h.TEST_TIMEOUT = max(h.TEST_TIMEOUT, 590)
	h.main(globals())
