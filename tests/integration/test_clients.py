# Real clients through ddlgate (mariadb CLI, PyMySQL, Perl DBD::MariaDB, Node mysql2, sysbench) behave as against the server.
import json
import os
import re

import pymysql
from pymysql.constants import CLIENT

import harness as h

DB = None


def db():
	global DB
	if DB is None:
		DB = h.shared_mariadb()
	return DB


def global_status(name):
	"""A counter from SHOW GLOBAL STATUS, read over the server's socket."""
	rows = db().query("SHOW GLOBAL STATUS LIKE %s", (name,))
	return int(rows[0][1])


def cli_both(gw, *args, **kw):
	"""Runs the mariadb client through gw and directly against MariaDB;
	returns both results after checking that they are identical."""
	via = h.mariadb_cli(gw, *args, **kw)
	direct = h.mariadb_cli(db(), *args, **kw)
	def short(text):
		return repr(text) if len(text) < 600 else repr(text[:300]) + " ... " + repr(text[-300:])

	assert (via.returncode, via.stdout, via.stderr) == (direct.returncode, direct.stdout,
							    direct.stderr), (
		f"through ddlgate: rc={via.returncode} out={short(via.stdout)} err={short(via.stderr)}\n"
		f"direct:          rc={direct.returncode} out={short(direct.stdout)} "
		f"err={short(direct.stderr)}")
	return via


# --- mariadb command-line client -------------------------------------------------

def test_cli_select_1():
	gw = h.gateway(db())
	r = cli_both(gw, "-N", "-e", "select 1")
	assert r.returncode == 0 and r.stdout == "1\n", r


def test_cli_multi_statement():
	gw = h.gateway(db())
	r = cli_both(gw, "-N", "-e", "select 1; select 2; select 'three' as x")
	assert r.returncode == 0 and r.stdout == "1\n2\nthree\n", r


def test_cli_use_db_and_statements():
	gw = h.gateway(db())
	script = ("create database if not exists cli_db; use cli_db; "
		  "create table if not exists t (id int primary key, v varchar(20)); delete from t; "
		  "insert into t values (1,'one'),(2,'two'); "
		  "select database(); select id, v from t order by id")
	r = h.mariadb_cli(gw, "-N", "-e", script)
	assert r.returncode == 0, r.stderr
	assert r.stdout == "cli_db\n1\tone\n2\ttwo\n", repr(r.stdout)
	# `use` given as the -D option (COM_INIT_DB at connect) too.
	r = h.mariadb_cli(gw, "-N", "-e", "select database()", database="cli_db")
	assert r.returncode == 0 and r.stdout == "cli_db\n", r


def test_cli_compress():
	gw = h.gateway(db())
	# Compressible and incompressible data, several rows, > 16 KiB per row.
	sql = ("select seq, repeat(char(65 + seq % 26), 20000) as a, "
	       "md5(repeat(seq, 1000)) as b from seq_1_to_50")
	r = cli_both(gw, "--compress", "-N", "-e", sql, database=h.APP_DB)
	assert r.returncode == 0 and len(r.stdout.splitlines()) == 50, r.stderr
	plain = h.mariadb_cli(db(), "-N", "-e", sql, database=h.APP_DB)
	assert plain.stdout == r.stdout
	st = h.mariadb_cli(gw, "--compress", "-e", "status")
	assert st.returncode == 0, st.stderr
	print("  compression negotiated through this endpoint:",
	      "yes" if "Compressed" in st.stdout else "no (masked)")


def test_cli_compress_large_packets():
	"""Compressed protocol with packets beyond 16 MiB both ways (and TLS under it when offered)."""
	gw = h.gateway(db())
	big = 20 * 1024 * 1024 + 3
	# 20 MiB out: a row printed by the client, compared byte for byte with the direct run.
	r = cli_both(gw, "--compress", "--max-allowed-packet=256M", "-N", "-e",
		     f"select repeat('ab', {big // 2}), 'tail'")
	assert r.returncode == 0 and len(r.stdout) == 2 * (big // 2) + len("\ttail\n"), r.stderr
	# 20 MiB in: a statement read from standard input.
	script = "select length('" + "q" * big + "');\n"
	r = cli_both(gw, "--compress", "--max-allowed-packet=256M", "-N", input=script)
	assert r.returncode == 0 and r.stdout == f"{big}\n", (r.stdout[:100], r.stderr)


def test_cli_wrong_password():
	gw = h.gateway(db())
	r = cli_both(gw, "-e", "select 1", password="not-the-password")
	assert r.returncode == 1, r
	assert r.stderr.startswith("ERROR 1045 (28000): Access denied for user 'app'@"), r.stderr
	# The proxy keeps serving after a failed login.
	r = h.mariadb_cli(gw, "-N", "-e", "select 1")
	assert r.returncode == 0 and r.stdout == "1\n", r


def test_cli_unknown_database():
	gw = h.gateway(db())
	r = cli_both(gw, "-e", "select 1", database="no_such_db")
	assert r.returncode == 1 and "ERROR 1049 (42000)" in r.stderr, r


def test_cli_sql_error_keeps_session():
	gw = h.gateway(db())
	r = cli_both(gw, "-N", "--force", database=h.APP_DB,
		     input="select 1;\nselect * from no_such_table;\nselect 2;\n")
	assert "ERROR 1146 (42S02)" in r.stderr and r.stdout == "1\n2\n", r


# --- PyMySQL ---------------------------------------------------------------------

def test_pymysql_multi_results():
	gw = h.gateway(db())
	c = h.connect(gw, client_flag=CLIENT.MULTI_STATEMENTS)
	with c.cursor() as cur:
		cur.execute("select 1 as a; select 'x' as b, 2 as c; "
			    "create temporary table tt (i int); insert into tt values (1),(2),(3); "
			    "select sum(i) from tt")
		sets = [cur.fetchall()]
		counts = [cur.rowcount]
		while cur.nextset():
			sets.append(cur.fetchall())
			counts.append(cur.rowcount)
	assert sets[0] == ((1,),) and sets[1] == (("x", 2),), sets
	assert counts[3] == 3, counts  # the INSERT's affected rows
	assert sets[4][0][0] == 6, sets
	assert len(sets) == 5, sets
	# The session is usable afterwards.
	assert h.scalar(c, "select 42") == 42
	c.close()


def test_pymysql_multi_results_error_midway():
	gw = h.gateway(db())
	c = h.connect(gw, client_flag=CLIENT.MULTI_STATEMENTS)
	with c.cursor() as cur:
		cur.execute("select 1; select * from no_such_table; select 3")
		assert cur.fetchall() == ((1,),)
		try:
			cur.nextset()
			raise AssertionError("the failing second statement raised nothing")
		except pymysql.err.ProgrammingError as e:
			assert e.args[0] == 1146, e
	assert h.scalar(c, "select 7") == 7
	c.close()


def make_two_sets():
	"""A procedure with two result sets (created beside the proxy: set-up, not under test)."""
	db().query(f"create or replace procedure {h.APP_DB}.two_sets(n int) begin "
		   "select seq from seq_1_to_3 where seq <= n; "
		   "select concat('n=', n) as label, repeat('z', 70000) as big; end")


def test_stored_procedure_multi_results():
	"""CALL returning two result sets and a final OK (SERVER_MORE_RESULTS_EXISTS chain)."""
	make_two_sets()
	gw = h.gateway(db())
	c = h.connect(gw)
	with c.cursor() as cur:
		cur.execute("call two_sets(2)")
		first = cur.fetchall()
		assert cur.nextset()
		second = cur.fetchall()
		while cur.nextset():  # the CALL's own OK
			pass
	assert first == ((1,), (2,)), first
	assert second == (("n=2", "z" * 70000),), second[0][0]
	assert h.scalar(c, "select 'next'") == "next"
	c.close()
	r = cli_both(gw, "-N", "-e", "call two_sets(3); select 'done'", database=h.APP_DB)
	assert r.returncode == 0 and r.stdout.startswith("1\n2\n3\nn=3\t") and \
		r.stdout.endswith("done\n"), r.stderr


def test_pymysql_utf8mb4_round_trip():
	gw = h.gateway(db())
	c = h.connect(gw)
	text = "caf\u00e9 \U0001F600 \U0001F680 \u4e2d\u6587 \u0645\u0631\u062d\u0628\u0627"
	with c.cursor() as cur:
		cur.execute("create table if not exists utf (id int primary key, "
			    "t varchar(100) character set utf8mb4 collate utf8mb4_unicode_ci)")
		cur.execute("delete from utf")
		cur.execute("insert into utf values (1, %s)", (text,))
		cur.execute("select t, char_length(t), hex(t) from utf where id = 1")
		t, n, hx = cur.fetchone()
		cur.execute("select %s", (text,))
		echoed = cur.fetchone()[0]
	assert t == text and echoed == text, (t, echoed)
	assert n == len(text)
	assert bytes.fromhex(hx) == text.encode("utf-8")
	c.close()


def test_pymysql_select_db():
	gw = h.gateway(db())
	db().query("create database if not exists other_db")
	c = h.connect(gw)
	assert h.scalar(c, "select database()") == h.APP_DB
	c.select_db("other_db")  # COM_INIT_DB
	assert h.scalar(c, "select database()") == "other_db"
	try:
		c.select_db("no_such_db")
		raise AssertionError("COM_INIT_DB of a missing database raised nothing")
	except pymysql.err.OperationalError as e:
		assert e.args[0] == 1049, e
	assert h.scalar(c, "select database()") == "other_db"
	c.close()


def test_pymysql_executemany():
	gw = h.gateway(db())
	c = h.connect(gw, autocommit=False)
	rows = [(i, f"name-{i}", i * 1.5) for i in range(1, 1001)]
	with c.cursor() as cur:
		cur.execute("create table if not exists em (id int primary key, n varchar(20), f double)")
		cur.execute("delete from em")
		n = cur.executemany("insert into em values (%s, %s, %s)", rows)
		assert n == 1000, n
		# executemany of a non-INSERT runs one statement per row.
		n = cur.executemany("update em set f = f + 1 where id = %s", [(1,), (2,), (3,)])
		assert n == 3, n
	c.commit()
	with c.cursor() as cur:
		cur.execute("select count(*), sum(id), sum(f) from em")
		cnt, s, f = cur.fetchone()
	assert (cnt, int(s)) == (1000, 500500), (cnt, s)
	assert abs(f - (sum(r[2] for r in rows) + 3)) < 1e-6
	c.close()


def test_pymysql_transaction_rollback():
	gw = h.gateway(db())
	c = h.connect(gw, autocommit=False)
	with c.cursor() as cur:
		cur.execute("create table if not exists tx (id int primary key) engine=innodb")
		cur.execute("delete from tx")
		c.commit()
		cur.execute("insert into tx values (1), (2)")
		c.rollback()
		cur.execute("insert into tx values (3)")
		c.commit()
		cur.execute("select group_concat(id) from tx")
		assert cur.fetchone()[0] == "3"
	c.close()


# --- Perl DBD::MariaDB with server-side prepared statements -----------------------

def test_perl_server_prepare():
	gw = h.gateway(db())
	before = global_status("Com_stmt_execute")
	r = h.run(["perl", os.path.join(h.HERE, "prepared.pl"), gw.host, str(gw.port),
		   h.APP_USER, h.APP_PASSWORD, h.APP_DB, "300"], timeout=120)
	assert r.returncode == 0, f"prepared.pl failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
	out = json.loads(r.stdout.strip().splitlines()[-1])
	assert out["count"] == 300 and out["sum"] == sum(range(300)), out
	assert out["text_ok"] == 1, out
	executed = global_status("Com_stmt_execute") - before
	# 300 inserts + selects; all must have been COM_STMT_EXECUTE on the server.
	assert executed >= 300, f"only {executed} COM_STMT_EXECUTE reached the server"


# --- Node mysql2 -----------------------------------------------------------------

def node_modules_ok():
	if not os.path.isdir(os.path.join(h.HERE, "node_modules", "mysql2")):
		raise AssertionError("tests/integration/node_modules is missing: run "
				     "`npm install` in tests/integration (tests/run.sh does)")


def test_node_mysql2():
	node_modules_ok()
	make_two_sets()
	gw = h.gateway(db())
	before = global_status("Com_stmt_execute")
	r = h.run(["node", os.path.join(h.HERE, "clients.js"), gw.host, str(gw.port), h.APP_USER,
		   h.APP_PASSWORD, h.APP_DB, "200"], timeout=120, cwd=h.HERE)
	assert r.returncode == 0, f"clients.js failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
	out = json.loads(r.stdout.strip().splitlines()[-1])
	assert out["ok"], out
	executed = global_status("Com_stmt_execute") - before
	assert executed >= 200, f"only {executed} COM_STMT_EXECUTE reached the server"


# --- sysbench --------------------------------------------------------------------

SB_TABLES, SB_SIZE = 4, 10000
_sb_ready = False


def sysbench(gw, workload, *extra, timeout=120):
	cmd = ["sysbench", workload, "--db-driver=mysql", f"--mysql-host={gw.host}",
	       f"--mysql-port={gw.port}", f"--mysql-user={h.APP_USER}",
	       f"--mysql-password={h.APP_PASSWORD}", "--mysql-db=sbtest",
	       f"--tables={SB_TABLES}", f"--table-size={SB_SIZE}"] + list(extra)
	return h.run(cmd, timeout=timeout)


def sysbench_prepare():
	"""Creates the sysbench tables once, directly on MariaDB."""
	global _sb_ready
	if not _sb_ready:
		db().query("drop database if exists sbtest")
		db().query("create database sbtest")
		r = sysbench(db(), "oltp_read_write", "--threads=2", "prepare")
		assert r.returncode == 0, r.stdout + r.stderr
		_sb_ready = True


def sysbench_counts(out):
	"""(queries, transactions, ignored errors, reconnects) from sysbench's report."""
	def num(label):
		m = re.search(r"^\s*" + label + r":\s+(\d+)", out, re.M)
		assert m, f"no '{label}' in sysbench output:\n{out}"
		return int(m.group(1))
	return num("queries"), num("transactions"), num("ignored errors"), num("reconnects")


def test_sysbench_read_write_prepared():
	sysbench_prepare()
	gw = h.gateway(db())
	before = global_status("Com_stmt_execute")
	r = sysbench(gw, "oltp_read_write", "--threads=2", "--time=10", "--events=3000",
		     "--db-ps-mode=auto", "--report-interval=0", "run")
	assert r.returncode == 0, r.stdout + r.stderr
	queries, trx, ignored, reconnects = sysbench_counts(r.stdout)
	print(f"  oltp_read_write: {trx} transactions, {queries} queries, "
	      f"{ignored} ignored errors, {reconnects} reconnects")
	assert trx > 100 and ignored == 0 and reconnects == 0, r.stdout
	assert global_status("Com_stmt_execute") - before >= queries * 0.9, \
		"sysbench's statements were not run as server-side prepared statements"


def test_sysbench_point_select():
	sysbench_prepare()
	gw = h.gateway(db())
	r = sysbench(gw, "oltp_point_select", "--threads=2", "--time=5", "--events=20000",
		     "--report-interval=0", "run")
	assert r.returncode == 0, r.stdout + r.stderr
	queries, trx, ignored, reconnects = sysbench_counts(r.stdout)
	print(f"  oltp_point_select: {queries} queries")
	assert queries > 1000 and ignored == 0 and reconnects == 0, r.stdout


if __name__ == "__main__":
	h.main(globals())
