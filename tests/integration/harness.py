# Integration-test harness for ddlgate: a throw-away MariaDB, a fresh ddlgate per test, a tiny runner.
"""
Each tests/integration/test_*.py file shares one MariaDB (started lazily on
first use and stopped when the file is done) and starts one fresh ddlgate
per test with a generated configuration. Tests are plain functions named
test_*; main() runs them in file order, each under a time limit, prints
"PASS name" or "FAIL name" with the traceback (and the ddlgate and MariaDB
logs), and ends with the line "N passed, M failed[, K skipped]".

Helpers the test files share (each documented where it is defined):
  accounts   Account, APP/PROBER/MIGRATOR/WEBAPP, shared_mariadb(accounts=)
  schemas    MariaDB.fresh_database/columns/column_exists/table_exists/
             index_exists/count
  gateways   gateway(audit=), guarded_gateway (guard + audit, as the tool
             tests run ddlgate), guard_section, merge_sections
  admin API  Ddlgate.admin_get/admin_post/admin_json/status/sessions
  audit log  audit_records (filtered by statement text and fields),
             read_audit, rule_ids, verify_audit
  clients    connect/connect_as, rows, scalar, run_err/run_err_once,
             run_err_in_thread, assert_blocked/assert_refused, mariadb_cli, run/run_shown,
             require_programs, PrismaDeploy (a `prisma migrate deploy`)
  waiting    wait_for(pred, timeout, what), retry_err(fn, timeout)
  tools      Background (a tool's run while the test looks at ddlgate),
             ddl_from_other_process, tool_sessions, Gate, check_migration_tool,
             check_fix_alone, tool_project/
             node_project/node_tool/tool_env

Environment:
  DDLGATE_BIN     the ddlgate binary (set by ctest)
  DDLGATE_SOURCE  the repository root (set by ctest)
  DDLGATE_DIRECT  when 1, clients talk straight to MariaDB: proves that a
                  test's expectations are those of the real server
  DDLGATE_KEEP    when 1, temporary directories are left behind
  DDLGATE_TEST_TIMEOUT  seconds per test (default 120)

Runs with Debian's /usr/bin/python3: standard library and pymysql only.
"""

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid

import pymysql
from pymysql.constants import CLIENT

DIRECT = os.environ.get("DDLGATE_DIRECT") == "1"
KEEP = os.environ.get("DDLGATE_KEEP") == "1"
TEST_TIMEOUT = int(os.environ.get("DDLGATE_TEST_TIMEOUT", "120"))
HERE = os.path.dirname(os.path.abspath(__file__))

ROOT_PASSWORD = "root-secret"
APP_USER = "app"
APP_PASSWORD = "app-secret"
APP_DB = "appdb"

MAX_PACKET = 256 * 1024 * 1024


class Account:
	"""A MariaDB account on 127.0.0.1: user, password and the privileges
	granted ON *.* when shared_mariadb(accounts=...) creates it."""

	def __init__(self, user, password, privileges="ALL"):
		self.user, self.password, self.privileges = user, password, privileges

	def __repr__(self):
		return f"Account({self.user!r})"


# The accounts the enforcement and tool tests share: ddlgate's [guard]
# probes as PROBER (read-only), a [migration] users login is MIGRATOR, and
# "someone else than the migration" logs in as WEBAPP (connections of the
# migration's own account from the same machine count as the migration's).
APP = Account(APP_USER, APP_PASSWORD)  # created with every MariaDB
PROBER = Account("prober", "prober-secret", "SELECT")
MIGRATOR = Account("migrator", "migrator-secret")
WEBAPP = Account("webapp", "webapp-secret")


class Skip(Exception):
	"""Raised by a test that cannot run in this mode (reported as skipped)."""


_ports_given = set()


def free_port():
	"""Returns a TCP port on 127.0.0.1 that was free a moment ago, taken
	below the kernel's ephemeral range when there is room: a port from that
	range can be taken by any outgoing connection (a test's clients, a
	parallel test) before the server binds it."""
	try:
		with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
			ephemeral_low = int(f.read().split()[0])
	except (OSError, ValueError, IndexError):
		ephemeral_low = 32768
	low = 20000
	for _ in range(200 if ephemeral_low - low > 1000 else 0):
		port = random.randint(low, ephemeral_low - 1)
		if port in _ports_given:
			continue
		with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
			try:
				s.bind(("127.0.0.1", port))
			except OSError:
				continue
		_ports_given.add(port)
		return port
	with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def wait_port(port, timeout, alive=None):
	"""Waits until 127.0.0.1:port accepts a TCP connection. alive() is
	polled meanwhile; when it returns False the wait fails at once."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		if alive is not None and not alive():
			raise RuntimeError(f"process exited before port {port} accepted connections")
		try:
			with socket.create_connection(("127.0.0.1", port), timeout=1):
				return
		except OSError:
			time.sleep(0.05)
	raise TimeoutError(f"port {port} did not accept connections within {timeout}s")


def tail(path, limit=8000):
	"""Returns the last limit characters of a text file ('' if missing)."""
	try:
		with open(path, "r", errors="replace") as f:
			data = f.read()
	except OSError:
		return ""
	return data[-limit:]


_tmp_root = None


def tmpdir(prefix):
	"""A new directory under this process's temporary root (removed at exit
	unless DDLGATE_KEEP=1)."""
	global _tmp_root
	if _tmp_root is None:
		_tmp_root = tempfile.mkdtemp(prefix="ddlgate-it-")
	return tempfile.mkdtemp(prefix=prefix, dir=_tmp_root)


def tool_project(name, *leave_out):
	"""A copy of the tool project tests/integration/tools/<name> in a fresh
	folder (without __pycache__ and the glob patterns in leave_out), so a
	run's generated files never land in the source tree."""
	d = os.path.join(tmpdir(name + "-"), "proj")
	shutil.copytree(os.path.join(HERE, "tools", name), d,
			ignore=shutil.ignore_patterns("__pycache__", *leave_out))
	return d


_tls_pair = None


def tls_pair():
	"""Returns (cert, key) paths of a self-signed localhost certificate,
	generated once per process with openssl."""
	global _tls_pair
	if _tls_pair is None:
		d = tmpdir("tls-")
		cert, key = os.path.join(d, "server.pem"), os.path.join(d, "server.key")
		subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
				"-subj", "/CN=localhost", "-days", "2", "-keyout", key, "-out", cert],
			       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
		_tls_pair = (cert, key)
	return _tls_pair


# Every server started during the current test (and the module's MariaDB),
# so that a failure can print their logs and the runner can stop them.
_live = []


class MariaDB:
	"""A MariaDB server in a temporary datadir, listening on 127.0.0.1 and a
	unix socket. Accounts: root (ROOT_PASSWORD, also over TCP) and
	app@127.0.0.1 (APP_PASSWORD, all privileges); database APP_DB.

	stop()/kill()/restart() keep the same port and datadir, so a proxy in
	front of it can see the backend go away and come back.
	"""

	def __init__(self, args=(), tls=False):
		self.dir = tmpdir("mariadb-")
		self.datadir = os.path.join(self.dir, "data")
		self.tmp = os.path.join(self.dir, "tmp")
		os.makedirs(self.tmp)
		self.socket = os.path.join(self.dir, "mysqld.sock")
		self.pidfile = os.path.join(self.dir, "mysqld.pid")
		self.log = os.path.join(self.dir, "error.log")
		self.port = free_port()
		self.host = "127.0.0.1"
		self.args = list(args)
		self.tls = tls
		self.proc = None
		self._install()
		self.start()
		self._make_accounts()
		_live.append(self)

	def _install(self):
		# A private TMPDIR: bootstraps running side by side (ctest -j2)
		# otherwise collide on temporary table files in /tmp.
		env = dict(os.environ, TMPDIR=self.tmp)
		for attempt in (1, 2):
			r = subprocess.run(["mariadb-install-db", "--no-defaults",
					    "--auth-root-authentication-method=normal",
					    f"--datadir={self.datadir}", "--user=root", "--skip-test-db"],
					   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
					   env=env)
			if r.returncode == 0:
				return
			shutil.rmtree(self.datadir, ignore_errors=True)
		raise RuntimeError("mariadb-install-db failed:\n" + r.stdout[-4000:])

	def command(self):
		"""The mariadbd command line (for the log)."""
		cmd = ["mariadbd", "--no-defaults", f"--datadir={self.datadir}",
		       f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
		       f"--tmpdir={self.tmp}",
		       "--user=root", f"--pid-file={self.pidfile}", f"--log-error={self.log}",
		       "--max-allowed-packet=256M", "--skip-name-resolve", "--skip-log-bin",
		       "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=64M",
		       "--innodb-flush-log-at-trx-commit=2"]
		if self.tls:
			cert, key = tls_pair()
			cmd += [f"--ssl-cert={cert}", f"--ssl-key={key}"]
		return cmd + self.args

	def start(self, timeout=60):
		"""Starts mariadbd and waits until it answers on its socket."""
		self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
					     stderr=subprocess.DEVNULL, start_new_session=True)
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline:
			if self.proc.poll() is not None:
				raise RuntimeError("mariadbd exited at start:\n" + tail(self.log))
			try:
				self.admin_connect(connect_timeout=1).close()
				return
			except pymysql.err.OperationalError:
				time.sleep(0.1)
		raise TimeoutError("mariadbd not ready:\n" + tail(self.log))

	def admin_connect(self, **kw):
		"""A root connection over the unix socket (bypasses every proxy)."""
		kw.setdefault("connect_timeout", 10)
		try:
			return pymysql.connect(unix_socket=self.socket, user="root",
					       password=ROOT_PASSWORD, autocommit=True,
					       max_allowed_packet=MAX_PACKET, **kw)
		except pymysql.err.OperationalError as e:
			# Fresh install: root has no password yet.
			if e.args[0] != 1045:
				raise
			return pymysql.connect(unix_socket=self.socket, user="root", password="",
					       autocommit=True, max_allowed_packet=MAX_PACKET, **kw)

	def _make_accounts(self):
		c = self.admin_connect()
		with c.cursor() as cur:
			for sql in (
				f"CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY '{ROOT_PASSWORD}'",
				"GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
				f"CREATE OR REPLACE USER '{APP_USER}'@'127.0.0.1' IDENTIFIED BY '{APP_PASSWORD}'",
				f"GRANT ALL ON *.* TO '{APP_USER}'@'127.0.0.1'",
				f"CREATE DATABASE IF NOT EXISTS {APP_DB}",
				f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{ROOT_PASSWORD}'",
			):
				cur.execute(sql)
		c.close()

	def query(self, sql, args=None):
		"""Runs sql as root over the socket; returns all rows."""
		c = self.admin_connect()
		try:
			with c.cursor() as cur:
				cur.execute(sql, args)
				return cur.fetchall()
		finally:
			c.close()

	def create_account(self, account):
		"""Creates (or replaces) account@127.0.0.1 with its privileges."""
		self.query(f"CREATE OR REPLACE USER '{account.user}'@'127.0.0.1' "
			   f"IDENTIFIED BY '{account.password}'")
		self.query(f"GRANT {account.privileges} ON *.* TO '{account.user}'@'127.0.0.1'")

	def fresh_database(self, name, options=""):
		"""Drops database name if it exists and creates it empty (options:
		e.g. a CHARACTER SET clause); returns name."""
		self.query(f"DROP DATABASE IF EXISTS `{name}`")
		self.query(f"CREATE DATABASE `{name}` {options}".rstrip())
		return name

	def table_exists(self, schema, table):
		return bool(self.query("SELECT 1 FROM information_schema.TABLES "
				       "WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s", (schema, table)))

	def columns(self, schema, table):
		"""Column names of schema.table in order ([] if it does not exist)."""
		return [r[0] for r in self.query(
			"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s "
			"AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION", (schema, table))]

	def column_exists(self, schema, table, column):
		return column in self.columns(schema, table)

	def index_exists(self, schema, table, index):
		return bool(self.query("SELECT 1 FROM information_schema.STATISTICS "
				       "WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s AND INDEX_NAME=%s",
				       (schema, table, index)))

	def count(self, schema, table, where=None):
		"""SELECT COUNT(*) of schema.table [WHERE where]."""
		sql = f"SELECT COUNT(*) FROM `{schema}`.`{table}`"
		return self.query(sql + (f" WHERE {where}" if where else ""))[0][0]

	def stop(self, timeout=60):
		"""Clean shutdown (SIGTERM, wait)."""
		if self.proc and self.proc.poll() is None:
			self.proc.terminate()
			try:
				self.proc.wait(timeout)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
		self.proc = None

	def kill(self):
		"""Abrupt death (SIGKILL), as in a crash."""
		if self.proc and self.proc.poll() is None:
			self.proc.kill()
			self.proc.wait()
		self.proc = None

	def restart(self):
		"""Starts again on the same port and datadir (after stop or kill)."""
		self.stop()
		self.start()

	def alive(self):
		return self.proc is not None and self.proc.poll() is None

	def logs(self):
		return f"--- MariaDB error log ({self.log}) ---\n{tail(self.log)}"


class Ddlgate:
	"""One ddlgate process with a generated configuration.

	sections is a dict of INI sections ({"proxy": {"max_connections": 1000}})
	merged over the defaults written here: [proxy] listen/backend, [admin]
	listen and [tls] cert/key. A value of None drops a default key. With
	audit=True, [audit] path defaults to self.audit (audit.jsonl in the
	process's own directory), which audit_records() reads.
	"""

	def __init__(self, db, sections=None, start=True, audit=False):
		bin_path = os.environ.get("DDLGATE_BIN")
		if not bin_path or not os.access(bin_path, os.X_OK):
			raise RuntimeError("DDLGATE_BIN must name the built ddlgate binary "
					   "(or set DDLGATE_DIRECT=1 to test against MariaDB itself)")
		self.bin = bin_path
		self.db = db
		self.dir = tmpdir("ddlgate-")
		self.host = "127.0.0.1"
		self.port = free_port()
		self.admin_port = free_port()
		self.config = os.path.join(self.dir, "ddlgate.ini")
		self.log = os.path.join(self.dir, "ddlgate.log")
		self.audit = os.path.join(self.dir, "audit.jsonl")
		cert, key = tls_pair()
		conf = {
			"proxy": {"listen": f"127.0.0.1:{self.port}",
				  "backend": f"{db.host}:{db.port}"},
			"tls": {"cert": cert, "key": key},
			"admin": {"listen": f"127.0.0.1:{self.admin_port}"},
		}
		if audit:
			conf["audit"] = {"path": self.audit}
		self.write_config(merge_sections(conf, sections))
		self.proc = None
		self.hung = False
		self.expect_exit = False  # a test that makes ddlgate fail on purpose sets this
		_live.append(self)
		if start:
			self.start()

	def write_config(self, conf):
		"""Writes conf (dict of sections) as the INI file; used again
		before sighup() to test a reload."""
		lines = ["; written by the ddlgate integration harness"]
		for name, keys in conf.items():
			lines.append(f"[{name}]")
			for k, v in keys.items():
				if v is None:
					continue
				if isinstance(v, bool):
					v = "true" if v else "false"
				lines.append(f"{k} = {v}")
			lines.append("")
		with open(self.config, "w") as f:
			f.write("\n".join(lines))
		self.conf = conf

	def start(self, timeout=20):
		self.logf = open(self.log, "ab")
		self.proc = subprocess.Popen([self.bin, "serve", "-c", self.config],
					     stdout=self.logf, stderr=subprocess.STDOUT,
					     stdin=subprocess.DEVNULL, start_new_session=True)
		alive = lambda: self.proc.poll() is None  # noqa: E731
		wait_port(self.port, timeout, alive=alive)
		# The admin listener may come up a moment after the proxy's: a
		# test (or a signal) must not find ddlgate half started.
		admin = self.conf.get("admin", {}).get("listen")
		if admin and str(admin).startswith("127.0.0.1:"):
			wait_port(int(str(admin).rsplit(":", 1)[1]), timeout, alive=alive)

	def alive(self):
		return self.proc is not None and self.proc.poll() is None

	def sighup(self):
		self.proc.send_signal(signal.SIGHUP)

	def sigterm(self):
		if self.alive():
			self.proc.send_signal(signal.SIGTERM)

	def wait(self, timeout=30):
		"""Waits for exit; returns the exit code."""
		return self.proc.wait(timeout)

	def stop(self):
		"""SIGTERM, then SIGKILL if it does not exit in 15 s; returns the
		exit code (None if never started)."""
		if self.proc is None:
			return None
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(15)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
				self.hung = True
		if not self.logf.closed:
			self.logf.close()
		return self.proc.returncode

	SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
			   "ERROR: ThreadSanitizer")

	def problems(self):
		"""What went wrong with this process, once stopped: a hang on
		SIGTERM, a non-zero exit or death by signal, sanitizer reports."""
		out = []
		if self.proc is None:
			return out
		if getattr(self, "hung", False):
			out.append("did not exit within 15 s of SIGTERM (killed)")
		elif self.proc.returncode not in (0, None) and not getattr(self, "expect_exit", False):
			out.append(f"exited with status {self.proc.returncode}")
		text = tail(self.log, 200000)
		for mark in self.SANITIZER_MARKS:
			if mark in text:
				out.append(f"sanitizer report in its log ({mark!r})")
				break
		return out

	def admin_get(self, path, timeout=10):
		"""GET on the admin listener; returns (status, body text)."""
		url = f"http://127.0.0.1:{self.admin_port}{path}"
		try:
			with urllib.request.urlopen(url, timeout=timeout) as r:
				return r.status, r.read().decode("utf-8", "replace")
		except urllib.error.HTTPError as e:
			return e.code, e.read().decode("utf-8", "replace")

	def admin_post(self, path, timeout=10):
		"""POST (empty body) on the admin listener; returns (status, body text)."""
		req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}", data=b"",
					     method="POST")
		try:
			with urllib.request.urlopen(req, timeout=timeout) as r:
				return r.status, r.read().decode("utf-8", "replace")
		except urllib.error.HTTPError as e:
			return e.code, e.read().decode("utf-8", "replace")

	def admin_json(self, path):
		"""GET path on the admin listener, which must answer 200; returns
		the decoded JSON body (/status, /sessions)."""
		code, body = self.admin_get(path)
		assert code == 200, f"GET {path}: {code} {body}"
		return json.loads(body)

	def status(self):
		"""The admin API's /status document."""
		return self.admin_json("/status")

	def sessions(self):
		"""The admin API's /sessions list (one object per client session)."""
		return self.admin_json("/sessions")

	def logs(self):
		return f"--- ddlgate log ({self.log}) ---\n{tail(self.log)}"


class Direct:
	"""Stands in for Ddlgate under DDLGATE_DIRECT=1: clients go straight to
	MariaDB. Tests of proxy-only behaviour call require_proxy()."""

	def __init__(self, db, sections=None, start=True, audit=False):
		self.db = db
		self.host = db.host
		self.port = db.port
		self.proc = None

	def alive(self):
		return True  # no proxy process to watch

	def stop(self):
		return None

	def logs(self):
		return ""


def merge_sections(*confs):
	"""A new dict of INI sections: each conf's keys laid over the previous
	ones', section by section (None confs are ignored)."""
	out = {}
	for conf in confs:
		for name, keys in (conf or {}).items():
			out.setdefault(name, {}).update(keys)
	return out


def guard_section(account=PROBER, **keys):
	"""The [guard] section: ddlgate's live probes log in as account."""
	return {"user": account.user, "password": account.password, **keys}


def gateway(db, sections=None, audit=False):
	"""A fresh ddlgate in front of db (or db itself under DDLGATE_DIRECT=1);
	audit=True gives it an audit log (see Ddlgate)."""
	return Direct(db, sections) if DIRECT else Ddlgate(db, sections, audit=audit)


def guarded_gateway(db, sections=None):
	"""A fresh ddlgate as the tool tests run it: [guard] probes as PROBER
	and [audit] writes gw.audit; sections are laid over those. MariaDB
	itself under DDLGATE_DIRECT=1."""
	return gateway(db, merge_sections({"guard": guard_section()}, sections), audit=True)


def read_audit(path):
	"""Every record of a JSONL audit file, oldest first."""
	with open(path) as f:
		return [json.loads(line) for line in f if line.strip()]


def audit_records(gw, containing=None, intents=False, **fields):
	"""The records of gw's audit log (started with audit=True), oldest
	first: [] under DDLGATE_DIRECT=1 or before the first record. A change
	is written twice (an intent before it runs, then its outcome, which
	repeats every field): only the outcome is kept unless intents=True.
	containing keeps those whose statement contains that text; each
	field=value keeps those whose field equals value (kind="ddl",
	decision="block", ...)."""
	if DIRECT or not os.path.exists(gw.audit):
		return []
	recs = read_audit(gw.audit)
	if not intents:
		recs = [r for r in recs if r.get("phase") != "intent"]
	if containing is not None:
		recs = [r for r in recs if containing in (r.get("statement") or "")]
	return [r for r in recs if all(r.get(k) == v for k, v in fields.items())]


def rule_ids(rec):
	"""The ids of the rules an audit record lists (hit or passed)."""
	return [r.get("id") for r in rec.get("rules") or []]


def verify_audit(path):
	"""Runs `ddlgate audit verify path`; returns (exit code, output)."""
	r = run([os.environ["DDLGATE_BIN"], "audit", "verify", path])
	return r.returncode, r.stdout + r.stderr


def require_proxy(why="needs ddlgate itself"):
	if DIRECT:
		raise Skip(why)


def connect(gw, user=APP_USER, password=APP_PASSWORD, database=APP_DB, **kw):
	"""A pymysql connection through gw with no special client settings
	beyond a larger max_allowed_packet (pymysql's own limit is 16 MiB)."""
	kw.setdefault("connect_timeout", 10)
	kw.setdefault("read_timeout", 60)
	kw.setdefault("write_timeout", 60)
	kw.setdefault("autocommit", True)
	kw.setdefault("charset", "utf8mb4")
	kw.setdefault("max_allowed_packet", MAX_PACKET)
	return pymysql.connect(host=gw.host, port=gw.port, user=user, password=password,
			       database=database, **kw)


def connect_as(gw, account, **kw):
	"""connect() logging in as account (an Account)."""
	return connect(gw, user=account.user, password=account.password, **kw)


def rows(conn, sql):
	"""Runs one statement through conn; returns its rows."""
	with conn.cursor() as cur:
		cur.execute(sql)
		return cur.fetchall()


def scalar(conn, sql, args=None):
	with conn.cursor() as cur:
		cur.execute(sql, args)
		row = cur.fetchone()
		return row[0] if row else None


def run_err(conn, sql):
	"""Runs sql through conn, reading every result; None on success, else
	the server's (or ddlgate's) (code, message)."""
	try:
		with conn.cursor() as cur:
			cur.execute(sql)
			while cur.nextset():
				pass
		return None
	except pymysql.err.MySQLError as e:
		return (e.args[0], e.args[1] if len(e.args) > 1 else "")


def run_err_once(gw, sql, account=WEBAPP, database=APP_DB):
	"""run_err() on a new connection as account (by default someone else
	than the migration), closed afterwards."""
	conn = connect_as(gw, account, database=database)
	try:
		return run_err(conn, sql)
	finally:
		conn.close()


def run_err_in_thread(conn, sql):
	"""Starts run_err(conn, sql) on a thread, for a statement that is
	expected to wait; returns (thread, result): result gets "err" (as
	run_err returns it) and "took" (seconds) once it is answered."""
	result = {}

	def run():
		t0 = time.monotonic()
		result["err"] = run_err(conn, sql)
		result["took"] = time.monotonic() - t0

	t = threading.Thread(target=run)
	t.start()
	return t, result


def assert_refused(err, rule, what=""):
	"""err (from run_err) must be ddlgate's ERR 1290 naming rule."""
	what = f"{what}: " if what else ""
	assert err is not None, f"{what}expected {rule} to refuse"
	code, msg = err
	assert code == 1290, f"{what}expected ERR 1290, got {code}: {msg}"
	assert msg.startswith(f"ddlgate: blocked by {rule}:"), f"{what}{msg}"


def assert_blocked(conn, sql, rule):
	"""sql must be refused by ddlgate with ERR 1290 naming rule."""
	assert_refused(run_err(conn, sql), rule, sql)


def wait_for(pred, timeout, what, interval=0.05):
	"""Polls pred() until it is true; returns the time.monotonic() at that
	moment, or fails naming what after timeout seconds."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		if pred():
			return time.monotonic()
		time.sleep(interval)
	raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def retry_err(fn, timeout, interval=0.2):
	"""Calls fn() (which returns None on success, else an error, as
	run_err does) until it succeeds or timeout seconds pass; returns its
	last result, for the caller to assert on."""
	deadline = time.monotonic() + timeout
	while True:
		err = fn()
		if err is None or time.monotonic() > deadline:
			return err
		time.sleep(interval)

def run(cmd, timeout=120, env=None, input=None, cwd=None):
	"""Runs a client command; returns CompletedProcess with text output."""
	return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
			      timeout=timeout, env=env, input=input, cwd=cwd)


def run_shown(cmd, secret=None, shown=None, **kw):
	"""run(cmd, **kw), then prints "$ command -> exit N" and its output
	(in the test's log, read when it fails); secret is masked as ***, and
	shown, if given, stands for the command."""
	r = run(cmd, **kw)
	text = shown or " ".join(cmd)
	if secret:
		text = text.replace(secret, "***")
	print(f"$ {text} -> exit {r.returncode}\n{r.stdout}{r.stderr}".rstrip())
	return r


def require_programs(*names, install):
	"""Fails clearly when a program a tool test drives is not installed."""
	if not all(shutil.which(n) for n in names):
		raise RuntimeError(f"{' and '.join(names)} needed: {install}")


def mariadb_cli(gw, *args, user=APP_USER, password=APP_PASSWORD, database=None, timeout=60,
		input=None):
	"""Runs the mariadb command-line client against gw (no option files);
	input, if given, is the SQL script fed on standard input."""
	cmd = ["mariadb", "--no-defaults", "-h", gw.host, "-P", str(gw.port), "-u", user,
	       f"-p{password}", "--connect-timeout=10"]
	if database:
		cmd += ["-D", database]
	return run(cmd + list(args), timeout=timeout, input=input)


# --- Real migration tools, run in the background while a test looks at ddlgate ---
#
# A tool test describes one run of its tool by command(target, schema) ->
# (argv, env, cwd, shown): the tool's migrate command against target (a
# Ddlgate, or Direct(db) for MariaDB itself) into schema; shown names it in
# the log. Background runs it while the test looks at ddlgate;
# ddl_from_other_process() is the DDL of an unrelated process of the same
# account; check_migration_tool() is the course of a tool test built on
# them (the tool held in the middle by a migration that sleeps, or at a
# Gate), check_fix_alone() a deploy of the fixing migration on its own.
# Projects live under tests/integration/tools/ (tool_project(), and
# node_project() with node_tool() and tool_env() for the npm tools).

GATE_NAME = "tool_test_gate"


class Gate:
	"""A named lock (GATE_NAME) held on a root connection straight to
	MariaDB. A tool's migration step that runs
	`SELECT GET_LOCK('tool_test_gate', 60)` waits there, with its
	migration under way, until open(); against a server where nobody
	holds the gate that step passes at once."""

	def __init__(self, db):
		self.db = db
		self.conn = db.admin_connect()
		assert scalar(self.conn, "SELECT GET_LOCK(%s, 0)", (GATE_NAME,)) == 1

	def wait_reached(self, run, timeout=120):
		"""Waits until a session (the tool's, whichever port it came
		through) waits for the gate; fails at once if the Background run
		exited."""
		def reached():
			assert run.running(), f"the tool exited ({run.proc.returncode}) before the gate"
			return self.db.query(
				"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> "
				"CONNECTION_ID() AND STATE = 'User lock' AND INFO LIKE %s",
				(f"%{GATE_NAME}%",))[0][0] > 0
		wait_for(reached, timeout, "the tool's migration to reach the gate", interval=0.2)

	def open(self):
		if self.conn:
			self.conn.close()
			self.conn = None


class Background:
	"""A client command started in the background (its own process group,
	output to a file), so the test can look at ddlgate while it runs;
	finish() waits (at most timeout seconds from the start, then kills
	it), prints it as run_shown() does and returns a CompletedProcess
	(stdout holds both streams)."""

	def __init__(self, cmd, shown=None, timeout=120, **kw):
		self.cmd, self.shown, self.timeout = cmd, shown or " ".join(cmd), timeout
		self.out = tempfile.TemporaryFile(mode="w+", dir=tmpdir("bg-"))
		self.t0 = time.monotonic()
		self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT, text=True,
					     stdin=subprocess.DEVNULL, start_new_session=True, **kw)

	def running(self):
		return self.proc.poll() is None

	def finish(self, wait=None):
		"""wait: seconds to give it now instead (0: stop it at once, the
		test failed already)."""
		left = max(1, self.timeout - (time.monotonic() - self.t0)) if wait is None else wait
		try:
			self.proc.wait(left)
		except subprocess.TimeoutExpired:
			os.killpg(self.proc.pid, signal.SIGKILL)  # the tool's own process group
			self.proc.wait()
			print(f"$ {self.shown}: killed after {time.monotonic() - self.t0:.0f}s")
		self.out.seek(0)
		text = self.out.read()
		self.out.close()
		print(f"$ {self.shown} -> exit {self.proc.returncode}\n{text}".rstrip())
		return subprocess.CompletedProcess(self.cmd, self.proc.returncode, text, "")


def tool_sessions(gw, schema):
	"""The /sessions entries of the sessions in schema ([] under
	DDLGATE_DIRECT=1)."""
	if DIRECT:
		return []
	return [s for s in gw.sessions() if s.get("schema") == schema]


def ddl_from_other_process(gw, sql, database=APP_DB):
	"""Runs sql with the mariadb client (another process of the same
	account on the same machine, neither parent nor child of the tool);
	returns None when ddlgate refused it with ERR 1290 migration-conflict
	(under DDLGATE_DIRECT=1: when MariaDB itself ran it), else what went
	wrong (for the caller to assert on)."""
	r = mariadb_cli(gw, "-e", sql, database=database)
	out = r.stdout + r.stderr
	print(f"$ mariadb -e {sql!r} -> exit {r.returncode}\n{out}".rstrip())
	if DIRECT:
		return None if r.returncode == 0 else f"MariaDB itself refused {sql}: {out}"
	if r.returncode == 0:
		return f"DDL of another process passed during the migration: {sql}"
	if "ERROR 1290" not in out or "ddlgate: blocked by migration-conflict" not in out:
		return f"DDL of another process failed otherwise: {out}"
	return None


NODE_BIN = os.path.join(HERE, "node_modules", ".bin")


def node_tool(name):
	"""The path of an npm package's command in tests/integration/node_modules
	(fails clearly when `npm install` has not run there)."""
	path = os.path.join(NODE_BIN, name)
	if not os.access(path, os.X_OK):
		raise RuntimeError(f"{name} missing: run `npm install` in tests/integration")
	return path


def node_project(name):
	"""tool_project(name) for a Node tool: its node_modules is the one of
	tests/integration (linked), as in a project where the tool is installed."""
	d = tool_project(name)
	os.symlink(os.path.join(HERE, "node_modules"), os.path.join(d, "node_modules"))
	return d


def tool_env(gw, schema, account=APP):
	"""The environment a tool project reads its connection from (TOOL_HOST,
	TOOL_PORT, TOOL_USER, TOOL_PASSWORD, TOOL_DATABASE), without colours or
	update checks in its output."""
	env = dict(os.environ)
	env.update({"TOOL_HOST": gw.host, "TOOL_PORT": str(gw.port), "TOOL_USER": account.user,
		    "TOOL_PASSWORD": account.password, "TOOL_DATABASE": schema,
		    "NO_COLOR": "1", "FORCE_COLOR": "0", "npm_config_update_notifier": "false"})
	return env


def schema_snapshot(db, schema, history=None, columns="*", queries=()):
	"""What a migration run left in schema: {table: SHOW CREATE TABLE} of
	every table (AUTO_INCREMENT counters left out), under the key
	("rows", history) the rows of the history table (columns, in order),
	and under each of queries (which name the schema as {schema}) its
	rows."""
	out = {}
	for (table,) in db.query("SELECT TABLE_NAME FROM information_schema.TABLES "
				  "WHERE TABLE_SCHEMA=%s ORDER BY TABLE_NAME", (schema,)):
		ddl = db.query(f"SHOW CREATE TABLE `{schema}`.`{table}`")[0][1]
		out[table] = " ".join(w for w in ddl.split() if not w.startswith("AUTO_INCREMENT="))
	if history:
		out[("rows", history)] = db.query(f"SELECT {columns} FROM `{schema}`.`{history}` "
						  f"ORDER BY 1")
	for q in queries:
		out[q] = db.query(q.format(schema=f"`{schema}`"))
	return out


def assert_same_schema(got, want):
	"""Two schema_snapshot()s must be equal; the message names what differs."""
	diff = [f"{k}:\n  got  {got.get(k)}\n  want {want.get(k)}"
		for k in sorted(set(got) | set(want), key=str) if got.get(k) != want.get(k)]
	assert not diff, "schema differs from the direct run:\n" + "\n".join(diff)


class ServerLog:
	"""MariaDB's general query log (to a table) while a with-block runs:
	ddl() is what the server was sent in it that changes the schema."""

	DDL = ("CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE")

	def __init__(self, db):
		self.db = db

	def __enter__(self):
		self.db.query("SET GLOBAL log_output = 'TABLE'")
		self.db.query("TRUNCATE TABLE mysql.general_log")
		self.db.query("SET GLOBAL general_log = 1")
		return self

	def __exit__(self, *exc):
		self.db.query("SET GLOBAL general_log = 0")
		self.texts = [r[0].decode("utf-8", "replace") if isinstance(r[0], bytes) else r[0]
			      for r in self.db.query("SELECT argument FROM mysql.general_log "
						     "WHERE command_type IN ('Query', 'Execute') "
						     "ORDER BY event_time")]
		return False

	def ddl(self):
		return [t for t in self.texts if t.lstrip().split(None, 1)[:1] and
			t.lstrip().split(None, 1)[0].upper() in self.DDL]


def check_migration_tool(name, tool, command, history, columns="*",
			 conflict="CREATE TABLE conflict_probe (id INT PRIMARY KEY)", queries=(),
			 gate=False, sessions=1, limit=120):
	"""What every real-tool test checks, as a user would see it.

	command(target, schema) is one run of the tool's migrate command (see
	above). The tool's project holds its migration in the middle: a
	migration that sleeps a few seconds, or (gate) one that waits at a
	Gate. The tool runs once directly against MariaDB (schema
	<name>_direct, with the server's query log on), then through a fresh
	guarded ddlgate (schema <name>): while it runs, /sessions shows
	sessions (how many connections the tool holds then) migration sessions
	of tool (its tool field, exactly), and conflict, sent in schema by
	another process of the same account, is refused with
	migration-conflict; the tool exits 0 (each run bounded to limit s);
	every table, the history table's rows (columns) and the rows of
	queries (schema_snapshot) equal the direct run's; and each DDL
	statement the server got in the direct run has an audit record of the
	migration that ran it (the statement that creates the history table
	makes the session a migration once it ran: its own record may say
	app). Returns (gw, schema); gw is stopped, its audit log stays."""
	db = shared_mariadb(accounts=(PROBER,))
	direct = db.fresh_database(name + "_direct")
	argv, env, cwd, shown = command(Direct(db), direct)
	with ServerLog(db) as log:
		r = Background(argv, shown=shown + " (directly)", timeout=limit, env=env,
			       cwd=cwd).finish()
	assert r.returncode == 0, f"{shown} failed directly against MariaDB:\n{r.stdout}"
	want = schema_snapshot(db, direct, history, columns, queries)
	ddl = [t.replace(f"`{direct}`", f"`{name}`").replace(f"'{direct}'", f"'{name}'")
	       .replace(f" {direct}.", f" {name}.") for t in log.ddl()]
	assert ddl, "the direct run sent no DDL"

	schema = db.fresh_database(name)
	gw = guarded_gateway(db)
	held = Gate(db) if gate else None
	argv, env, cwd, shown = command(gw, schema)
	run = Background(argv, shown=shown, timeout=limit, env=env, cwd=cwd)
	conflict_err = None
	try:
		mine = lambda: [x for x in gw.sessions() if x.get("kind") == "migration"]  # noqa: E731
		if held:
			held.wait_reached(run, limit)
		elif not DIRECT:
			wait_for(lambda: mine() or not run.running(), 60, f"a migration session of {tool}")
		if not DIRECT:
			assert run.running(), f"{shown} ended before ddlgate saw a migration session"
			assert [x.get("tool") for x in mine()] == [tool] * sessions, gw.sessions()
			# every session of the tool in its schema is the migration's
			assert all(x["kind"] == "migration" for x in tool_sessions(gw, schema)), \
				gw.sessions()
			print(f"/sessions during the run: {gw.sessions()}")
		conflict_err = ddl_from_other_process(gw, conflict, database=schema)
		if conflict_err or DIRECT:  # it ran: dropped again, so that the schemas compare
			db.query(f"DROP TABLE IF EXISTS `{schema}`.conflict_probe")
	except BaseException:
		run.finish(wait=0)  # stopped at once: the test failed already
		raise
	finally:
		if held:
			held.open()
	r = run.finish()
	# The tool's own outcome first: it says most about what went wrong.
	refused = [f"{x.get('statement')}: {x.get('rules')}" for x in
		   audit_records(gw, decision="block") if conflict not in x.get("statement", "")]
	assert r.returncode == 0, (f"{shown} failed through ddlgate (exit {r.returncode}):\n"
				   f"{r.stdout}\nrefused by ddlgate: {refused}")
	assert_same_schema(schema_snapshot(db, schema, history, columns, queries), want)
	assert conflict_err is None, conflict_err
	if not DIRECT:
		recs = audit_records(gw)
		for text in ddl:
			of = [x for x in recs if " ".join(x.get("statement", "").split()) ==
			      " ".join(text.split())]
			assert of, f"no audit record of {text!r}"
			assert all(x.get("outcome") == "ok" for x in of), of
			if history in text:
				continue
			assert all(x.get("session") == "migration" and
				   (x.get("migration") or {}).get("tool") == tool for x in of), of
		refused = audit_records(gw, conflict, decision="block")
		assert refused and "migration-conflict" in rule_ids(refused[-1]), refused
	gw.stop()
	return gw, schema


def check_fix_alone(name, command, history, columns, hold_back):
	"""The fixing migration as the only pending one of a run, as when a
	team deploys it on its own: command as for check_migration_tool();
	hold_back(project) moves the last migration (UPDATE of the duplicates,
	then the unique key) out of the copied project and returns a function
	that puts it back. A first run applies the others, a second run the
	held-back one, directly against MariaDB and through a guarded ddlgate:
	both runs exit 0 through ddlgate and the schema and history rows equal
	the direct runs'."""
	db = shared_mariadb(accounts=(PROBER,))
	gw = guarded_gateway(db)
	got = {}
	for target, schema in ((Direct(db), name + "_direct"), (gw, name)):
		db.fresh_database(schema)
		argv, env, cwd, shown = command(target, schema)
		where = " (directly)" if target is not gw else ""
		put_back = hold_back(cwd)
		r = run_shown(argv, shown=shown + where, timeout=120, env=env, cwd=cwd)
		assert r.returncode == 0, f"{shown}{where} failed before the fix:\n{r.stdout}{r.stderr}"
		put_back()
		r = run_shown(argv, shown=shown + where + " (the fix alone)", timeout=120, env=env,
			      cwd=cwd)
		refused = [f"{x.get('statement')}: {x.get('rules')}" for x in
			   audit_records(target, decision="block")] if target is gw else []
		assert r.returncode == 0, (f"{shown}{where} of the fix alone failed "
					   f"(exit {r.returncode}):\n{r.stdout}{r.stderr}\n"
					   f"refused by ddlgate: {refused}")
		got[target is gw] = schema_snapshot(db, schema, history, columns)
	assert_same_schema(got[True], got[False])
	gw.stop()


def hold_back_file(folder):
	"""A hold_back for check_fix_alone(): the last file (by name) of
	project/folder goes aside and comes back."""
	def hold(proj):
		d = os.path.join(proj, folder)
		last = sorted(os.listdir(d))[-1]
		aside = os.path.join(proj, last + ".held")
		os.rename(os.path.join(d, last), aside)
		return lambda: os.rename(aside, os.path.join(d, last))
	return hold


# --- Prisma's `migrate deploy`, replayed (the engine binary cannot be fetched here) ---

PRISMA_MIGRATIONS_DIR = os.path.join(HERE, "tools", "prisma", "migrations")

PRISMA_MIGRATIONS_TABLE = """CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             DATETIME(3),
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          DATETIME(3),
    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
"""


def prisma_migrations():
	"""The folder names of tools/prisma/migrations, oldest first."""
	return sorted(d for d in os.listdir(PRISMA_MIGRATIONS_DIR)
		      if os.path.isfile(os.path.join(PRISMA_MIGRATIONS_DIR, d, "migration.sql")))


def _sql_quote(conn, v):
	return "NULL" if v is None else conn.escape(v)


class PrismaDeploy:
	"""One `prisma migrate deploy` process on MySQL: one connection (with
	CLIENT.MULTI_STATEMENTS) through gw, the advisory lock taken first and
	never released (Prisma disconnects instead), _prisma_migrations
	bookkeeping around each migration.sql sent as ONE COM_QUERY. Prisma
	binds its bookkeeping values as server-side prepared statements; here
	they are inlined, which changes nothing ddlgate decides."""

	def __init__(self, gw, schema):
		self.conn = connect(gw, database=schema, client_flag=CLIENT.MULTI_STATEMENTS)
		self.schema = schema

	def query(self, sql):
		"""Runs sql (one or several statements) and drains every result;
		returns the rows of the first result."""
		with self.conn.cursor() as cur:
			cur.execute(sql)
			rows = cur.fetchall()
			while cur.nextset():
				pass
		return rows

	def lock(self):
		got = self.query("SELECT GET_LOCK('prisma_migrate', 10)")[0][0]
		assert got == 1, f"GET_LOCK returned {got}"

	def initialize(self, baselined=False):
		"""Creates _prisma_migrations when missing. Like Prisma (P3005) it
		refuses a schema that holds other tables, unless baselined (tables
		that predate Prisma, as after `prisma migrate resolve`)."""
		tables = [r[0] for r in self.query(
			"SELECT table_name FROM information_schema.tables "
			"WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'")]
		if "_prisma_migrations" not in tables:
			assert baselined or not tables, f"P3005: the database schema is not empty: {tables}"
			self.query(PRISMA_MIGRATIONS_TABLE)

	def applied(self):
		"""Names of the finished migrations, oldest first."""
		return [r[3] for r in self.query(
			"SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, "
			"started_at, applied_steps_count FROM `_prisma_migrations` "
			"ORDER BY `started_at` ASC") if r[2] is not None]

	def apply(self, name):
		"""Applies one migration folder; returns None or the pymysql error
		that stopped it (after recording it as Prisma does)."""
		with open(os.path.join(PRISMA_MIGRATIONS_DIR, name, "migration.sql"), "rb") as f:
			script = f.read().decode("utf-8")
		mid = str(uuid.uuid4())
		checksum = hashlib.sha256(script.encode("utf-8")).hexdigest()
		c = self.conn
		self.query("INSERT INTO `_prisma_migrations` (`id`,`checksum`,`started_at`,"
			   "`finished_at`,`migration_name`,`applied_steps_count`) VALUES "
			   f"({_sql_quote(c, mid)},{_sql_quote(c, checksum)},CURRENT_TIMESTAMP(3),NULL,"
			   f"{_sql_quote(c, name)},0)")
		try:
			self.query(script)
		except pymysql.err.MySQLError as e:
			self.query(f"UPDATE `_prisma_migrations` SET `logs` = {_sql_quote(c, str(e))} "
				   f"WHERE `id` = {_sql_quote(c, mid)}")
			return e
		self.query("UPDATE `_prisma_migrations` SET `applied_steps_count` = "
			   f"`applied_steps_count` + 1 WHERE `id` = {_sql_quote(c, mid)}")
		self.query("UPDATE `_prisma_migrations` SET `finished_at` = CURRENT_TIMESTAMP(3) "
			   f"WHERE `id` = {_sql_quote(c, mid)}")
		return None

	def close(self):
		self.conn.close()


_shared = {}


def shared_mariadb(args=(), tls=False, accounts=()):
	"""The MariaDB shared by the tests of the calling file (one per
	process), started on first call; each Account of accounts is created
	the first time it is asked for."""
	if "db" not in _shared:
		_shared["db"] = MariaDB(args=args, tls=tls)
		_shared["accounts"] = set()
	db = _shared["db"]
	for account in accounts:
		if account.user not in _shared["accounts"]:
			db.create_account(account)
			_shared["accounts"].add(account.user)
	return db


class _Timeout(Exception):
	pass


def _alarm(signum, frame):
	raise _Timeout(f"test exceeded {TEST_TIMEOUT}s")


def main(namespace):
	"""Runs every test_* function of namespace (a module's globals()) in
	definition order; prints PASS/FAIL/SKIP lines and the closing count;
	exits 1 if any test failed."""
	tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
	only = os.environ.get("DDLGATE_ONLY")
	if only:
		tests = [(n, f) for n, f in tests if n in only.split(",")]
	passed = failed = skipped = 0
	signal.signal(signal.SIGALRM, _alarm)
	mode = "direct to MariaDB" if DIRECT else "through ddlgate"
	print(f"# {os.path.basename(namespace.get('__file__', '?'))}: {len(tests)} tests, {mode}",
	      flush=True)
	for name, fn in tests:
		base = len(_live)
		t0 = time.monotonic()
		verdict, detail = "PASS", None
		signal.alarm(TEST_TIMEOUT)
		try:
			fn()
		except Skip as e:
			verdict, detail = "SKIP", str(e)
		except BaseException as e:  # noqa: B036 (timeouts and KeyboardInterrupt too)
			if isinstance(e, KeyboardInterrupt):
				raise
			verdict, detail = "FAIL", traceback.format_exc()
		finally:
			signal.alarm(0)
		# Per-test servers (ddlgates) stop here; the file's MariaDB stays.
		# A ddlgate that crashed, hung on SIGTERM, exited non-zero or
		# logged a sanitizer report fails the test that ran it.
		problems = []
		for srv in _live[base:]:
			if isinstance(srv, MariaDB):
				continue
			try:
				srv.stop()
			except Exception as e:
				problems.append(f"stopping {srv.__class__.__name__} failed: {e}")
			problems += srv.problems() if hasattr(srv, "problems") else []
		if problems and verdict != "SKIP":
			detail = (detail or "") + "".join(f"ddlgate: {p}\n" for p in problems)
			verdict = "FAIL"
		took = f"({time.monotonic() - t0:.1f}s)"
		if verdict == "PASS":
			passed += 1
			print(f"PASS {name} {took}", flush=True)
		elif verdict == "SKIP":
			skipped += 1
			print(f"SKIP {name}: {detail}", flush=True)
		else:
			failed += 1
			print(f"FAIL {name} {took}\n{detail}", end="", flush=True)
			for srv in _live:
				text = srv.logs()
				if text:
					print(text)
			sys.stdout.flush()
		_live[base:] = [s for s in _live[base:] if isinstance(s, MariaDB)]
	for srv in list(_live):
		try:
			srv.stop()
		except Exception:
			pass
	if _tmp_root and not KEEP:
		shutil.rmtree(_tmp_root, ignore_errors=True)
	summary = f"{passed} passed, {failed} failed"
	if skipped:
		summary += f", {skipped} skipped"
	print(summary, flush=True)
	sys.exit(1 if failed else 0)
