# Shared pieces of ddlgate's benchmarks: Release build, tuned MariaDB, HAProxy baseline, /proc sampling.
"""
Reuses the integration harness (tests/integration/harness.py) for MariaDB
and ddlgate processes, and adds what only benchmarks need: a Release build
of ddlgate in build-bench/, an HAProxy in TCP mode as the plain L4
baseline, and CPU / RSS readings from /proc.

Runs with Debian's /usr/bin/python3 (standard library + pymysql).
"""

import os
import statistics
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import harness  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
	print(msg, file=sys.stderr, flush=True)


def build_release():
	"""Builds ddlgate with -O2 and no sanitizers into build-bench/ (unless
	DDLGATE_BIN is already set); returns the binary's path."""
	if os.environ.get("DDLGATE_BIN"):
		return os.environ["DDLGATE_BIN"]
	build = os.path.join(REPO, "build-bench")
	log(f"building ddlgate (Release) in {build} ...")
	subprocess.run(["cmake", "-S", REPO, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
			"-DDDLGATE_SANITIZE=OFF", "-DDDLGATE_TESTS=OFF"],
		       check=True, stdout=subprocess.DEVNULL)
	subprocess.run(["cmake", "--build", build, "-j", str(os.cpu_count() or 2),
			"--target", "ddlgate"], check=True, stdout=subprocess.DEVNULL)
	path = os.path.join(build, "cli", "ddlgate")
	os.environ["DDLGATE_BIN"] = path
	return path


def bench_mariadb(max_connections=500, tls=False):
	"""A throw-away MariaDB tuned for benchmarks (the harness already
	passes --skip-log-bin; later options override its small test sizes).
	tls: the server gets a certificate, so it offers TLS, and trusts that
	certificate as a CA (sysbench always presents a client certificate:
	sysbench_tls_dir)."""
	return harness.MariaDB(tls=tls, args=[
		"--innodb-buffer-pool-size=512M", "--innodb-log-file-size=256M",
		f"--max-connections={max_connections}", "--skip-log-bin",
		"--performance-schema=OFF", "--thread-cache-size=600",
	] + ([f"--ssl-ca={harness.tls_pair()[0]}"] if tls else []))


class HAProxy:
	"""Debian's haproxy in TCP mode: one frontend on 127.0.0.1, one backend."""

	def __init__(self, backend_port, threads, maxconn=5000):
		self.port = harness.free_port()
		self.host = "127.0.0.1"
		self.dir = harness.tmpdir("haproxy-")
		self.config = os.path.join(self.dir, "haproxy.cfg")
		with open(self.config, "w") as f:
			f.write(f"""global
	nbthread {threads}
	maxconn {maxconn}
defaults
	mode tcp
	timeout connect 5s
	timeout client 1h
	timeout server 1h
frontend mysql_in
	bind 127.0.0.1:{self.port}
	maxconn {maxconn}
	default_backend mysql_out
backend mysql_out
	server db 127.0.0.1:{backend_port} maxconn {maxconn}
""")
		self.log = os.path.join(self.dir, "haproxy.log")
		self.logf = open(self.log, "wb")
		self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.config], stdout=self.logf,
					     stderr=subprocess.STDOUT, start_new_session=True)
		harness.wait_port(self.port, 10, alive=lambda: self.proc.poll() is None)

	def stop(self):
		if self.proc.poll() is None:
			self.proc.terminate()
			try:
				self.proc.wait(10)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
		self.logf.close()


def sysbench(port, workload, tables, table_size, *args, timeout=None, cwd=None):
	"""Runs sysbench's workload against 127.0.0.1:port (database sbtest, the
	harness's app account) in cwd; returns its output, raises when it fails."""
	cmd = ["sysbench", workload, "--db-driver=mysql", "--mysql-host=127.0.0.1",
	       f"--mysql-port={port}", f"--mysql-user={harness.APP_USER}",
	       f"--mysql-password={harness.APP_PASSWORD}", "--mysql-db=sbtest",
	       f"--tables={tables}", f"--table-size={table_size}"] + list(args)
	r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
			   timeout=timeout, cwd=cwd)
	if r.returncode != 0:
		raise RuntimeError(f"sysbench failed ({' '.join(cmd)}):\n{r.stdout[-3000:]}")
	return r.stdout


def sysbench_tls_dir():
	"""A directory to run `sysbench --mysql-ssl=on` in: sysbench 1.0 loads
	client-key.pem, client-cert.pem and cacert.pem from its working
	directory (here the harness's server pair; the server asks for no
	client certificate)."""
	cert, key = harness.tls_pair()
	d = harness.tmpdir("sysbench-tls-")
	for name, src in (("client-key.pem", key), ("client-cert.pem", cert), ("cacert.pem", cert)):
		os.symlink(src, os.path.join(d, name))
	return d


def sysbench_mariadb(stack, tables, table_size, tls=False):
	"""Starts a benchmark MariaDB on stack with the sysbench tables
	(tables x table_size rows in database sbtest) prepared; returns it.
	tls: the server offers TLS (bench_mariadb)."""
	log("starting MariaDB ...")
	db = stack.add(bench_mariadb(max_connections=500, tls=tls))
	db.query("create database sbtest")
	log(f"sysbench prepare: {tables} tables x {table_size} rows ...")
	sysbench(db.port, "oltp_read_write", tables, table_size, "--threads=2", "prepare",
		 timeout=600)
	return db


def cpu_seconds(pid):
	"""utime + stime of a process (all its threads), in seconds."""
	with open(f"/proc/{pid}/stat") as f:
		fields = f.read().rsplit(")", 1)[1].split()
	# fields[0] is the state (field 3); utime and stime are fields 14 and 15.
	return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid):
	"""Resident set size (VmRSS) in KiB."""
	with open(f"/proc/{pid}/status") as f:
		for line in f:
			if line.startswith("VmRSS:"):
				return int(line.split()[1])
	raise RuntimeError(f"no VmRSS for pid {pid}")


def median(xs):
	return statistics.median(xs) if xs else float("nan")


def set_nofile(n=65536):
	"""Raises the open-files limit for this process and its children
	(the equivalent of `ulimit -n n`)."""
	import resource
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	want = n if hard == resource.RLIM_INFINITY else min(n, max(hard, n))
	try:
		resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
	except (ValueError, OSError):
		resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
	return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Stack:
	"""Starts and stops a set of servers in order (last started, first stopped)."""

	def __init__(self):
		self.items = []

	def add(self, x):
		self.items.append(x)
		return x

	def close(self):
		for x in reversed(self.items):
			try:
				x.stop()
			except Exception as e:
				log(f"(stop failed: {e})")
		self.items.clear()
		if harness._tmp_root and not harness.KEEP:
			import shutil
			shutil.rmtree(harness._tmp_root, ignore_errors=True)


def wait_quiet(seconds=1.0):
	time.sleep(seconds)
