# Client matrix: drivers with their own protocol code (Connector/J, PHP mysqli and PDO, Ruby mysql2, Node mariadb) print the same transcript through ddlgate as directly, plain and over TLS.
"""
Each driver program under clients/ runs one scenario and prints a
canonical transcript, one "step: value" line per observation (no
connection ids, no timings):

  - prepared statements binding every parameter type the driver has,
    NULL, a datetime and a 1 MiB blob, read back with the binary and the
    text protocol;
  - a 100k-row result (text and, where the driver has it, prepared);
  - a 20 MiB value sent as a parameter and echoed back;
  - multi-result CALLs, one of them of a procedure that used a cursor,
    text and prepared;
  - errors with their code, SQLSTATE and message (unknown table, on
    prepare, SIGNAL with its own SQLSTATE, duplicate key);
  - a transaction rolled back, then one committed;
  - COM_RESET_CONNECTION / COM_CHANGE_USER where the driver has them;
  - the scenario again over the compressed protocol where the driver
    has it.

The test runs each program straight against MariaDB and through a fresh
ddlgate (default rules; the fixtures are made beside it), plaintext and
with TLS on the client leg, and requires the transcripts to be
identical. Oracle's pure-Python mysql.connector is not in the matrix: it
is not packaged for Debian.
"""
import os
import shutil

import harness as h

CLIENTS = os.path.join(h.HERE, "clients")
DB = None

FIXTURES = [
	"CREATE DATABASE IF NOT EXISTS matrix",
	"""CREATE OR REPLACE TABLE matrix.kinds (id INT PRIMARY KEY, ti TINYINT, si SMALLINT,
	   i INT, bi BIGINT, f FLOAT, d DOUBLE, dc DECIMAL(20,6), s VARCHAR(100) CHARACTER SET utf8mb4,
	   dt DATETIME(6), da DATE, tm TIME(6), b LONGBLOB, n INT) ENGINE=InnoDB""",
	"CREATE OR REPLACE TABLE matrix.tx (id INT PRIMARY KEY) ENGINE=InnoDB",
	"CREATE OR REPLACE TABLE matrix.nums (id INT PRIMARY KEY)",
	"INSERT INTO matrix.nums SELECT seq FROM matrix.seq_1_to_10",
	"""CREATE OR REPLACE PROCEDURE matrix.two_sets(n INT) BEGIN
	   SELECT seq FROM seq_1_to_3 WHERE seq <= n; SELECT CONCAT('n=', n) AS label; END""",
	"""CREATE OR REPLACE PROCEDURE matrix.cur_p() BEGIN
	   DECLARE done INT DEFAULT 0; DECLARE v INT; DECLARE total INT DEFAULT 0;
	   DECLARE c CURSOR FOR SELECT id FROM matrix.nums ORDER BY id;
	   DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
	   OPEN c;
	   l: LOOP FETCH c INTO v; IF done THEN LEAVE l; END IF; SET total = total + v; END LOOP;
	   CLOSE c;
	   SELECT id FROM matrix.nums WHERE id <= 3 ORDER BY id;
	   SELECT total AS total, 'after the cursor' AS note; END""",
]


def db():
	global DB
	if DB is None:
		# TLS on the server too: the direct runs use TLS when asked, and
		# ddlgate's backend leg uses it as by default.
		DB = h.shared_mariadb(tls=True)
		for sql in FIXTURES:
			DB.query(sql)
	return DB


def java_classes():
	"""Compiles clients/Matrix.java once into a temporary directory;
	returns the class path to run it with."""
	jar = "/usr/share/java/mariadb-java-client.jar"
	if not (shutil.which("javac") and os.path.exists(jar)):
		raise AssertionError("javac and the MariaDB Connector/J jar are needed: install "
				     "default-jdk-headless and libmariadb-java (tests/run.sh does)")
	out = h.tmpdir("java-")
	r = h.run(["javac", "-cp", jar, "-d", out, os.path.join(CLIENTS, "Matrix.java")], timeout=180)
	assert r.returncode == 0, r.stdout + r.stderr
	return f"{out}:{jar}"


def node_ready():
	if not os.path.isdir(os.path.join(h.HERE, "node_modules", "mariadb")):
		raise AssertionError("tests/integration/node_modules is missing: run `npm ci` in "
				     "tests/integration (tests/run.sh does)")
	return ["node", os.path.join(CLIENTS, "matrix_node.js")]


def transcript(cmd, endpoint, tls):
	"""Runs one driver program against endpoint; returns its transcript
	lines (the run must succeed)."""
	args = ["127.0.0.1", str(endpoint.port), h.APP_USER, h.APP_PASSWORD, "matrix",
		"1" if tls else "0"]
	env = dict(os.environ, MATRIX_TLS_CA=h.tls_pair()[0])
	r = h.run(cmd + args, timeout=300, cwd=h.HERE, env=env)
	lines = r.stdout.splitlines()
	assert r.returncode == 0 and lines and lines[-1] == "done: ok", (
		f"{os.path.basename(cmd[-1])} against port {endpoint.port} (tls={tls}) failed "
		f"({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
	return lines


def compare(name, cmd):
	"""The driver's transcripts directly and through ddlgate, plain and TLS."""
	gw = h.gateway(db())
	for tls in (False, True):
		direct = transcript(cmd, db(), tls)
		via = transcript(cmd, gw, tls)
		diff = [f"  line {i + 1}:\n    direct:  {d[:300]}\n    ddlgate: {v[:300]}"
			for i, (d, v) in enumerate(zip(direct, via)) if d != v]
		if len(direct) != len(via):
			diff.append(f"  {len(direct)} lines directly, {len(via)} through ddlgate")
		print(f"  {name} {'TLS' if tls else 'plain'}: {len(direct)} transcript lines, "
		      f"{'identical' if not diff else f'{len(diff)} differ'}")
		assert not diff, f"{name} (tls={tls}) differs through ddlgate:\n" + "\n".join(diff[:20])
		if tls:
			print("".join(f"    {line[:160]}\n" for line in via), end="")
		if not h.DIRECT:
			# ddlgate logs each login's TLS use, client leg first.
			with open(gw.log, errors="replace") as f:
				used = " tls=yes/" in f.read()
			assert used == tls, f"{name}: the client leg {'did not use' if tls else 'used'} TLS"


def test_connector_j():
	compare("Connector/J", ["java", "-cp", java_classes(), "Matrix"])


def test_php_mysqli():
	compare("PHP mysqli", ["php", os.path.join(CLIENTS, "matrix_php.php"), "mysqli"])


def test_php_pdo_native_prepares():
	compare("PHP PDO", ["php", os.path.join(CLIENTS, "matrix_php.php"), "pdo"])


def test_ruby_mysql2():
	compare("Ruby mysql2", ["ruby", os.path.join(CLIENTS, "matrix_mysql2.rb")])


def test_node_mariadb():
	compare("Node mariadb", node_ready())


if __name__ == "__main__":
	h.main(globals())
