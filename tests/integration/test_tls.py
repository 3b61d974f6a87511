# TLS through ddlgate: the client leg (mariadb --ssl, verified certificates, PyMySQL), [tls] client = required, the backend leg and the side connections (guard probes, cluster lock).
import hashlib
import json
import os
import random
import ssl
import subprocess
import time

import pymysql

import harness as h

DB = None


def db():
	global DB
	if DB is None:
		# The server has TLS too, so DDLGATE_DIRECT=1 runs the same tests.
		DB = h.shared_mariadb(tls=True)
	return DB


def cli(gw, *args, host=None, timeout=60):
	cmd = ["mariadb", "--no-defaults", "-h", host or gw.host, "-P", str(gw.port),
	       "-u", h.APP_USER, f"-p{h.APP_PASSWORD}", "--connect-timeout=10", "-D", h.APP_DB]
	return h.run(cmd + list(args), timeout=timeout)


def cipher_line(status_out):
	lines = [l for l in status_out.splitlines() if l.startswith("SSL:")]
	assert lines, f"no SSL line in `status`:\n{status_out}"
	return lines[0]


def test_cli_ssl():
	gw = h.gateway(db())
	r = cli(gw, "--ssl", "-e", "status")
	assert r.returncode == 0, r.stderr
	line = cipher_line(r.stdout)
	print(f"  mariadb --ssl: {line}")
	assert "Cipher in use is" in line, line
	r = cli(gw, "--ssl", "-N", "-e", "select md5(repeat('t', 1000000)), 1+1")
	assert r.returncode == 0 and r.stdout.split() == [
		hashlib.md5(b"t" * 1000000).hexdigest(), "2"], r


def test_cli_default_negotiates_tls():
	"""mariadb 10.11 uses TLS without --ssl when the server offers it; so it must through ddlgate."""
	gw = h.gateway(db())
	r = cli(gw, "-e", "status")
	assert r.returncode == 0, r.stderr
	line = cipher_line(r.stdout)
	print(f"  mariadb (no TLS option): {line}")
	assert "Cipher in use is" in line, line


def test_cli_ssl_verified_certificate():
	"""The client verifies the certificate it is shown (CN=localhost) against its CA."""
	gw = h.gateway(db())
	cert, _ = h.tls_pair()
	r = cli(gw, "--protocol=tcp", f"--ssl-ca={cert}", "--ssl-verify-server-cert",
		"-N", "-e", "select 'verified'", host="localhost")
	assert r.returncode == 0 and r.stdout == "verified\n", r


def test_pymysql_tls_large_result():
	gw = h.gateway(db())
	cert, _ = h.tls_pair()
	c = h.connect(gw, ssl_ca=cert, ssl_verify_cert=True, ssl_verify_identity=False)
	assert isinstance(c._sock, ssl.SSLSocket), "the connection is not TLS"
	print(f"  pymysql: {c._sock.version()} {c._sock.cipher()[0]}")
	data = random.Random(3).randbytes(18 * 1024 * 1024)
	with c.cursor() as cur:
		cur.execute("create table if not exists tls_big (id int primary key, b longblob)")
		cur.execute("delete from tls_big")
		cur.execute("insert into tls_big values (1, %s)", (data,))
		cur.execute("select b, md5(b) from tls_big")
		b, md5 = cur.fetchone()
	assert b == data and md5 == hashlib.md5(data).hexdigest()
	c.close()


def refused_plaintext(gw):
	"""Tries a plaintext login with PyMySQL and the CLI; returns both errors."""
	try:
		c = h.connect(gw)
		c.close()
		raise AssertionError("a plaintext client was let in")
	except pymysql.err.OperationalError as e:
		py_err = str(e)
	r = cli(gw, "--skip-ssl", "-e", "select 1")
	assert r.returncode != 0, f"the CLI got in without TLS: {r.stdout}"
	return py_err, r.stderr.strip()


def test_tls_required_refuses_plaintext():
	if h.DIRECT:
		db().query("set global require_secure_transport = ON")
		gw = h.gateway(db())
	else:
		gw = h.gateway(db(), {"tls": {"client": "required"}})
	try:
		py_err, cli_err = refused_plaintext(gw)
		print(f"  pymysql without TLS: {py_err}\n  mariadb --skip-ssl: {cli_err}")
		if not h.DIRECT:  # MariaDB itself only says "Access denied"
			for err in (py_err, cli_err):
				low = err.lower()
				assert "tls" in low or "ssl" in low or "secure" in low, \
					f"the refusal does not say TLS is required: {err}"
		# TLS clients are welcome.
		r = cli(gw, "--ssl", "-N", "-e", "select 'tls ok'")
		assert r.returncode == 0 and r.stdout == "tls ok\n", r
		cert, _ = h.tls_pair()
		c = h.connect(gw, ssl_ca=cert, ssl_verify_cert=True, ssl_verify_identity=False)
		assert h.scalar(c, "select 3") == 3
		c.close()
	finally:
		if h.DIRECT:
			db().query("set global require_secure_transport = OFF")


def backend_cipher(conn):
	"""The cipher the server sees on its side of this session ('' = plaintext)."""
	with conn.cursor() as cur:
		cur.execute("show session status like 'Ssl_cipher'")
		return cur.fetchone()[1]


def test_backend_leg_tls_verify_ca():
	h.require_proxy("the backend leg is ddlgate's")
	cert, _ = h.tls_pair()
	gw = h.gateway(db(), {"tls": {"backend": "verify-ca", "backend_ca": cert}})
	c = h.connect(gw)  # plaintext client, TLS backend
	cipher = backend_cipher(c)
	print(f"  backend leg cipher (verify-ca): {cipher!r}")
	assert cipher, "the backend leg is not TLS with backend = verify-ca"
	c.close()


def backend_handshakes(gw):
	"""ddlgate's backend-leg TLS handshakes so far: (full, resumed)."""
	code, body = gw.admin_get("/metrics")
	assert code == 200, body
	got = {}
	for line in body.splitlines():
		if line.startswith("ddlgate_backend_tls_handshakes_total{"):
			got[line.split('"')[1]] = int(line.split()[-1])
	return got["false"], got["true"]


def test_backend_leg_resumes_sessions():
	"""The backend leg's first connection makes a full, verified handshake;
	later ones resume a session from the tickets the server sent, each
	ticket once, and work as any other. (MariaDB's Ssl_sessions_reused
	stays 0 for a TLS 1.3 resumption, whoever the client, so ddlgate's
	count is what tells.) A ddlgate that trusts another CA never gets that
	far (test_backend_wrong_ca_is_refused)."""
	h.require_proxy("the backend leg is ddlgate's")
	cert, _ = h.tls_pair()
	gw = h.gateway(db(), {"tls": {"backend": "verify-ca", "backend_ca": cert}})
	first = h.connect(gw)
	assert backend_cipher(first), "the backend leg is not TLS"
	full, resumed = backend_handshakes(gw)
	assert full >= 1 and resumed == 0, (full, resumed)
	conns = []
	for i in range(6):
		c = h.connect(gw)
		conns.append(c)
		assert backend_cipher(c)
		assert h.scalar(c, f"select {i} + 1") == i + 1
	full2, resumed2 = backend_handshakes(gw)
	print(f"  backend-leg handshakes: {full2} full, {resumed2} resumed")
	assert full2 == full and resumed2 >= 6, (full, full2, resumed2)
	for c in conns + [first]:
		c.close()


def test_backend_leg_plaintext_when_off():
	h.require_proxy("the backend leg is ddlgate's")
	gw = h.gateway(db(), {"tls": {"backend": "off"}})
	c = h.connect(gw)
	assert backend_cipher(c) == "", "backend = off still used TLS"
	c.close()


def test_backend_wrong_ca_is_refused():
	h.require_proxy("the backend leg is ddlgate's")
	d = h.tmpdir("otherca-")
	other = os.path.join(d, "other.pem")
	subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
			"/CN=other", "-days", "2", "-keyout", os.path.join(d, "other.key"), "-out",
			other], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	gw = h.gateway(db(), {"tls": {"backend": "verify-ca", "backend_ca": other}})
	try:
		c = h.connect(gw, connect_timeout=15, read_timeout=15)
		c.close()
		raise AssertionError("connected although the backend's certificate is not trusted")
	except pymysql.err.OperationalError as e:
		print(f"  untrusted backend certificate: {e}")
	assert gw.alive()


# Side connections (guard probes, cluster lock) follow [tls] backend too.
TLS_PROBER, TLS_PROBER_PASSWORD = "tls_prober", "tls-prober-secret"
SIDE_SCHEMA = "tls_side"


def side_setup():
	"""A probe account that the server admits over TLS only, and a table
	with rows and no duplicates (ADD UNIQUE on it needs a probe)."""
	d = db()
	for sql in (
		f"CREATE OR REPLACE USER '{TLS_PROBER}'@'127.0.0.1' "
		f"IDENTIFIED BY '{TLS_PROBER_PASSWORD}' REQUIRE SSL",
		f"GRANT SELECT ON *.* TO '{TLS_PROBER}'@'127.0.0.1'",
		f"DROP DATABASE IF EXISTS `{SIDE_SCHEMA}`",
		f"CREATE DATABASE `{SIDE_SCHEMA}`",
		f"CREATE TABLE `{SIDE_SCHEMA}`.uniq (id INT PRIMARY KEY, c INT)",
		f"INSERT INTO `{SIDE_SCHEMA}`.uniq VALUES (1, 1), (2, 2)",
	):
		d.query(sql)


def side_gateway(tls):
	return h.gateway(db(), {
		"guard": {"user": TLS_PROBER, "password": TLS_PROBER_PASSWORD, "probe_timeout_ms": 2000},
		"tls": tls,
	})


def cluster_lock_status(gw, timeout=10):
	"""The /status cluster_lock object once the cluster thread has tried to
	connect (connected, or an error)."""
	deadline = time.monotonic() + timeout
	while True:
		code, body = gw.admin_get("/status")
		assert code == 200, body
		cl = json.loads(body)["migration"]["cluster_lock"]
		if cl.get("connected") or cl.get("error") or time.monotonic() > deadline:
			return cl
		time.sleep(0.05)


def test_side_connections_tls_for_a_require_ssl_account():
	"""backend = preferred: the guard's probe and the cluster lock connect
	with TLS, so an account created REQUIRE SSL works for both."""
	h.require_proxy("side connections are ddlgate's")
	side_setup()
	gw = side_gateway({})
	cl = cluster_lock_status(gw)
	print(f"  cluster lock: {cl}")
	assert cl["connected"], cl
	# autocommit off, no transaction open: the probe is not asked on the
	# session's own connection but on the guard's
	c = h.connect(gw, database=SIDE_SCHEMA, autocommit=False)
	assert h.run_err(c, "SET SESSION lock_wait_timeout = 10") is None
	# passes only when the probe ran: a failed probe blocks (fail closed)
	err = h.run_err(c, "ALTER TABLE uniq ADD UNIQUE (c)")
	assert err is None, f"the probe over TLS did not pass: {err}"
	c.close()


def test_side_connections_verify_ca():
	"""verify-ca with the server's CA: side connections work; with another
	CA they are refused like the relay's backend leg."""
	h.require_proxy("side connections are ddlgate's")
	side_setup()
	cert, _ = h.tls_pair()
	gw = side_gateway({"backend": "verify-ca", "backend_ca": cert})
	cl = cluster_lock_status(gw)
	assert cl["connected"], cl
	gw.stop()
	d = h.tmpdir("otherca-")
	other = os.path.join(d, "other.pem")
	subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
			"/CN=other", "-days", "2", "-keyout", os.path.join(d, "other.key"), "-out",
			other], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	gw = side_gateway({"backend": "verify-ca", "backend_ca": other})
	cl = cluster_lock_status(gw)
	print(f"  cluster lock with an untrusted CA: {cl}")
	assert not cl["connected"] and cl.get("error"), cl


def test_side_connections_plaintext_when_off():
	"""backend = off: side connections are plaintext, so the REQUIRE SSL
	account is refused (and says so in /status)."""
	h.require_proxy("side connections are ddlgate's")
	side_setup()
	gw = side_gateway({"backend": "off"})
	cl = cluster_lock_status(gw)
	print(f"  cluster lock with backend = off: {cl}")
	assert not cl["connected"] and "denied" in cl.get("error", "").lower(), cl
	# the probe fails the same way, and a failed probe blocks (autocommit
	# off and no transaction open: the session's own connection is not
	# asked, so the probe goes to the guard connection)
	c = h.connect(gw, database=SIDE_SCHEMA, autocommit=False)
	assert h.run_err(c, "SET SESSION lock_wait_timeout = 10") is None
	err = h.run_err(c, "ALTER TABLE uniq ADD UNIQUE (c)")
	print(f"  ADD UNIQUE with the probe refused: {err}")
	assert err and err[0] == 1290, err
	c.close()


if __name__ == "__main__":
	h.main(globals())
