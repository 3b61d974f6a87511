# TLS through ddlgate: the client leg (mariadb --ssl, verified certificates, PyMySQL), [tls] client = required, the backend leg.
import hashlib
import os
import random
import ssl
import subprocess

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


if __name__ == "__main__":
	h.main(globals())
