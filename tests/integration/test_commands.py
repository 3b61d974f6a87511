# Protocol commands through ddlgate: admin tool commands, KILL, change user, reset, set option, field list, ed25519, LOCAL INFILE, replication.
import os
import struct
import threading
import time

import pymysql
from pymysql.constants import COMMAND

import harness as h

DB = None
COM_SET_OPTION = 0x1B
COM_RESET_CONNECTION = 0x1F


def db():
	global DB
	if DB is None:
		# A binary log, so that the replication tests have something to read.
		DB = h.shared_mariadb(args=["--log-bin=binlog", "--server-id=1", "--local-infile=1"])
		DB.query("install soname 'auth_ed25519'")
		DB.query("create or replace user 'ed'@'127.0.0.1' identified via ed25519 "
			 "using password('ed-secret')")
		DB.query("grant select on *.* to 'ed'@'127.0.0.1'")
		DB.query(f"create or replace table {h.APP_DB}.fl (id int primary key "
			 "comment 'the id', name varchar(30) default 'n/a', created datetime)")
	return DB


def packets_until_end(conn):
	"""Reads raw packets after a command until an EOF/OK or ERR; returns payloads."""
	out = []
	while True:
		pkt = conn._read_packet(packet_type=pymysql.connections.MysqlPacket)
		out.append(pkt.get_all_data())
		if pkt.is_eof_packet() or pkt.is_ok_packet():
			return out


def test_admin_tool_ping_status_processlist():
	gw = h.gateway(db())
	base = ["mariadb-admin", "--no-defaults", "-h", gw.host, "-P", str(gw.port), "-u",
		h.APP_USER, f"-p{h.APP_PASSWORD}", "--connect-timeout=10"]
	r = h.run(base + ["ping"])
	assert r.returncode == 0 and "mysqld is alive" in r.stdout, r
	r = h.run(base + ["status"])  # COM_STATISTICS
	assert r.returncode == 0 and r.stdout.startswith("Uptime:"), r
	r = h.run(base + ["processlist"])
	assert r.returncode == 0 and "Id" in r.stdout, r


def test_ping_and_statistics_commands():
	gw = h.gateway(db())
	c = h.connect(gw)
	for _ in range(5):
		c.ping(reconnect=False)
	c._execute_command(COMMAND.COM_STATISTICS, b"")
	pkt = c._read_packet()
	assert pkt.get_all_data().startswith(b"Uptime: "), pkt.get_all_data()
	assert h.scalar(c, "select 1") == 1
	c.close()


def test_greeting_id_is_server_thread_id():
	"""Clients KILL by the id in the greeting (the CLI's Ctrl-C does): it must
	be the server's own thread id."""
	gw = h.gateway(db())
	c = h.connect(gw)
	assert c.thread_id() == h.scalar(c, "select connection_id()"), \
		f"greeting id {c.thread_id()} != CONNECTION_ID() {h.scalar(c, 'select connection_id()')}"
	c.close()


def test_kill_query_from_another_connection():
	gw = h.gateway(db())
	victim = h.connect(gw)
	killer = h.connect(gw)
	result = {}

	def slow():
		t0 = time.monotonic()
		try:
			result["value"] = h.scalar(victim, "select sleep(20)")
		except pymysql.err.OperationalError as e:
			result["error"] = e.args[0]
		result["secs"] = time.monotonic() - t0

	t = threading.Thread(target=slow, daemon=True)
	t.start()
	time.sleep(0.7)
	with killer.cursor() as cur:
		cur.execute(f"kill query {int(victim.thread_id())}")
	t.join(25)
	assert result.get("secs", 99) < 10, f"the query was not interrupted: {result}"
	assert result.get("value") == 1 or result.get("error") == 1317, result
	assert h.scalar(victim, "select 'alive'") == "alive"  # KILL QUERY keeps the session


def test_com_process_kill():
	gw = h.gateway(db())
	victim = h.connect(gw)
	killer = h.connect(gw)
	killer._execute_command(COMMAND.COM_PROCESS_KILL, struct.pack("<I", victim.thread_id()))
	killer._read_ok_packet()
	try:
		h.scalar(victim, "select 1")
		raise AssertionError("the killed connection still answers")
	except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
		pass
	assert h.scalar(killer, "select 2") == 2


def test_reset_connection():
	gw = h.gateway(db())
	c = h.connect(gw)
	with c.cursor() as cur:
		cur.execute("set @v = 'kept?'")
		cur.execute("create temporary table rc_tmp (i int)")
	c._execute_command(COM_RESET_CONNECTION, b"")
	c._read_ok_packet()
	assert h.scalar(c, "select @v") is None, "user variable survived COM_RESET_CONNECTION"
	try:
		h.scalar(c, "select * from rc_tmp")
		raise AssertionError("temporary table survived COM_RESET_CONNECTION")
	except pymysql.err.ProgrammingError as e:
		assert e.args[0] == 1146
	assert h.scalar(c, "select database()") == h.APP_DB
	c.close()


def test_set_option_multi_statements():
	gw = h.gateway(db())
	c = h.connect(gw)  # no CLIENT_MULTI_STATEMENTS
	try:
		with c.cursor() as cur:
			cur.execute("select 1; select 2")
		raise AssertionError("multi-statement text accepted without the flag")
	except pymysql.err.ProgrammingError as e:
		assert e.args[0] == 1064, e
	c._execute_command(COM_SET_OPTION, struct.pack("<H", 0))  # MULTI_STATEMENTS_ON
	pkt = c._read_packet()
	assert pkt.is_eof_packet() or pkt.is_ok_packet(), pkt.get_all_data()
	with c.cursor() as cur:
		cur.execute("select 1; select 2")
		first = cur.fetchall()
		assert cur.nextset()
		assert (first, cur.fetchall()) == (((1,),), ((2,),))
	c._execute_command(COM_SET_OPTION, struct.pack("<H", 1))  # OFF again
	c._read_packet()
	try:
		with c.cursor() as cur:
			cur.execute("select 3; select 4")
		raise AssertionError("multi-statement text accepted after SET_OPTION off")
	except pymysql.err.ProgrammingError as e:
		assert e.args[0] == 1064, e
	c.close()


def test_field_list_same_as_server():
	gw = h.gateway(db())
	answers = []
	for ep in (gw, db()):
		c = h.connect(ep)
		c._execute_command(COMMAND.COM_FIELD_LIST, b"fl\x00")
		answers.append(packets_until_end(c))
		assert h.scalar(c, "select 1") == 1
		c.close()
	assert answers[0] == answers[1], f"through ddlgate {answers[0]!r}\ndirect {answers[1]!r}"
	assert len(answers[0]) == 4, answers[0]  # three columns and EOF


class Raw:
	"""Raw MySQL packets over a logged-in pymysql connection (its socket and
	buffered reader), for commands pymysql does not speak."""

	def __init__(self, conn):
		self.sock, self.rfile = conn._sock, conn._rfile

	def send(self, payload):
		"""One command packet (sequence id 0); payload < 16 MiB."""
		self.sock.sendall(struct.pack("<I", len(payload))[:3] + b"\x00" + payload)

	def read(self):
		head = self.rfile.read(4)
		assert len(head) == 4, "connection closed"
		n = head[0] | head[1] << 8 | head[2] << 16
		body = self.rfile.read(n)
		assert len(body) == n, "connection closed inside a packet"
		return body

	def read_until_eof(self):
		"""Packets up to and including the next EOF (0xfe, short)."""
		out = []
		while True:
			p = self.read()
			assert p[0] != 0xFF, f"server error {p[3:].decode(errors='replace')}"
			out.append(p)
			if p[0] == 0xFE and len(p) < 9:
				return out

	def expect_ok(self):
		p = self.read()
		assert p[0] == 0x00, f"expected OK, got {p[:60]!r}"
		return p

	def prepare(self, sql):
		"""COM_STMT_PREPARE; returns (statement id, columns, params)."""
		self.send(b"\x16" + sql.encode())
		p = self.read()
		assert p[0] == 0x00, f"prepare failed: {p[:80]!r}"
		stmt, cols, params = struct.unpack("<IHH", p[1:9])
		if params:
			self.read_until_eof()
		if cols:
			self.read_until_eof()
		return stmt, cols, params


def test_long_data_cursor_fetch_reset_close():
	"""COM_STMT_SEND_LONG_DATA (no answer), a cursor read with COM_STMT_FETCH,
	COM_STMT_RESET and COM_STMT_CLOSE (no answer), then an ordinary query."""
	gw = h.gateway(db())
	db().query(f"create table if not exists {h.APP_DB}.ld (id int primary key, b longblob)")
	db().query(f"delete from {h.APP_DB}.ld")
	c = h.connect(gw)
	raw = Raw(c)
	stmt, cols, params = raw.prepare("insert into ld (id, b) values (?, ?)")
	assert (cols, params) == (0, 2)
	chunks = [bytes([i]) * (1024 * 1024 + i) for i in range(1, 4)]
	for chunk in chunks:  # param 1, in three pieces; the server answers nothing
		raw.send(b"\x18" + struct.pack("<IH", stmt, 1) + chunk)
	# EXECUTE: no cursor, 1 iteration, null bitmap, types bound: INT, LONG_BLOB.
	raw.send(b"\x17" + struct.pack("<IBI", stmt, 0, 1) + b"\x00" + b"\x01" +
		 b"\x03\x00\xfb\x00" + struct.pack("<i", 7))
	raw.expect_ok()
	length, md5 = db().query(f"select length(b), md5(b) from {h.APP_DB}.ld where id = 7")[0]
	import hashlib
	assert length == sum(map(len, chunks)), length
	assert md5 == hashlib.md5(b"".join(chunks)).hexdigest()
	raw.send(b"\x19" + struct.pack("<I", stmt))  # CLOSE: no answer

	stmt, cols, params = raw.prepare("select seq from seq_1_to_100")
	assert (cols, params) == (1, 0)
	raw.send(b"\x17" + struct.pack("<IBI", stmt, 1, 1))  # CURSOR_TYPE_READ_ONLY
	p = raw.read()
	assert p[0] == 1, f"expected a column count, got {p[:40]!r}"
	head = raw.read_until_eof()
	status = struct.unpack("<H", head[-1][3:5])[0]
	assert status & 0x40, "no cursor opened (SERVER_STATUS_CURSOR_EXISTS unset)"
	got = []
	for _ in range(10):
		raw.send(b"\x1c" + struct.pack("<II", stmt, 30))  # FETCH 30 rows
		packets = raw.read_until_eof()
		for row in packets[:-1]:
			got.append(struct.unpack("<q", row[2:10])[0])  # 0x00, null bitmap, BIGINT
		status = struct.unpack("<H", packets[-1][3:5])[0]
		if status & 0x80:  # SERVER_STATUS_LAST_ROW_SENT
			break
	assert got == list(range(1, 101)), got[:5]
	raw.send(b"\x1a" + struct.pack("<I", stmt))  # RESET
	raw.expect_ok()
	raw.send(b"\x19" + struct.pack("<I", stmt))  # CLOSE
	raw.send(b"\x03select 'after'")
	p = raw.read()
	assert p[0] == 1, p[:40]
	raw.read_until_eof()  # column definitions
	rows = raw.read_until_eof()
	assert rows[0][1:] == b"after", rows


def change_user(conn, user, password, database):
	"""COM_CHANGE_USER through pymysql's own packet writer (it has no public API)."""
	from pymysql import _auth
	scramble = _auth.scramble_native_password(password.encode(), conn.salt)
	data = (user.encode() + b"\0" + bytes([len(scramble)]) + scramble + database.encode() +
		b"\0" + struct.pack("<H", 45) + b"mysql_native_password\0" +
		b"\0")  # empty connection attributes (pymysql announces CLIENT_CONNECT_ATTRS)
	conn._execute_command(COMMAND.COM_CHANGE_USER, data)
	pkt = conn._read_packet()
	if pkt.is_auth_switch_request():
		# The server asks again with a fresh scramble (as for a login).
		pkt.read_uint8()
		pkt.read_string()  # plugin name
		salt = pkt.read_all()[:20]
		conn.write_packet(_auth.scramble_native_password(password.encode(), salt))
		pkt = conn._read_packet()
	return pkt


def test_change_user():
	gw = h.gateway(db())
	db().query("create database if not exists cu_db")
	c = h.connect(gw)
	with c.cursor() as cur:
		cur.execute("set @before = 1")
	pkt = change_user(c, "root", h.ROOT_PASSWORD, "cu_db")
	assert pkt.is_ok_packet(), pkt.get_all_data()
	assert h.scalar(c, "select current_user()") == "root@127.0.0.1"
	assert h.scalar(c, "select database()") == "cu_db"
	assert h.scalar(c, "select @before") is None, "session state survived COM_CHANGE_USER"
	c.close()


def test_change_user_wrong_password():
	gw = h.gateway(db())
	c = h.connect(gw)
	try:
		change_user(c, "root", "wrong", "cu_db")
		raise AssertionError("COM_CHANGE_USER with a wrong password succeeded")
	except pymysql.err.OperationalError as e:
		assert e.args[0] == 1045, e
	# Another client is unaffected.
	assert h.scalar(h.connect(gw), "select 1") == 1


def test_ed25519_login():
	gw = h.gateway(db())
	base = ["-u", "ed", "-N", "-e", "select current_user()"]
	r = h.run(["mariadb", "--no-defaults", "-h", gw.host, "-P", str(gw.port),
		   "-ped-secret", "--connect-timeout=10"] + base)
	assert r.returncode == 0 and r.stdout == "ed@127.0.0.1\n", r
	bad = h.run(["mariadb", "--no-defaults", "-h", gw.host, "-P", str(gw.port), "-pnope",
		     "--connect-timeout=10"] + base)
	assert bad.returncode == 1 and bad.stderr.startswith("ERROR 1045 (28000)"), bad


def local_infile(gw, path):
	return h.run(["mariadb", "--no-defaults", "-h", gw.host, "-P", str(gw.port), "-u",
		      h.APP_USER, f"-p{h.APP_PASSWORD}", "-D", h.APP_DB, "--local-infile=1",
		      "-e", f"load data local infile '{path}' into table li fields terminated by ','"])


def infile():
	d = h.tmpdir("infile-")
	path = os.path.join(d, "rows.csv")
	with open(path, "w") as f:
		f.write("".join(f"{i},row{i}\n" for i in range(1, 101)))
	db().query(f"create or replace table {h.APP_DB}.li (id int primary key, v varchar(20))")
	return path


def test_load_data_local_refused_by_default():
	h.require_proxy("refusing LOCAL INFILE is ddlgate's")
	path = infile()
	gw = h.gateway(db())
	r = local_infile(gw, path)
	print(f"  LOAD DATA LOCAL: rc={r.returncode} {r.stderr.strip()}")
	assert r.returncode != 0, "LOAD DATA LOCAL INFILE went through"
	assert db().query(f"select count(*) from {h.APP_DB}.li")[0][0] == 0
	assert h.scalar(h.connect(gw), "select 1") == 1


def test_load_data_local_allowed():
	path = infile()
	gw = h.gateway(db(), {"proxy": {"allow_local_infile": True}})
	r = local_infile(gw, path)
	assert r.returncode == 0, r.stderr
	assert db().query(f"select count(*), sum(id) from {h.APP_DB}.li")[0] == (100, 5050)


def binlog_dump(gw):
	first = db().query("show binary logs")[0][0]
	return h.run(["mariadb-binlog", "--no-defaults", "-R", "-h", gw.host, "-P", str(gw.port),
		      "-u", "root", f"-p{h.ROOT_PASSWORD}", first], timeout=30)


def test_replication_refused_by_default():
	h.require_proxy("refusing replication is ddlgate's")
	gw = h.gateway(db())
	r = binlog_dump(gw)
	print(f"  mariadb-binlog -R: rc={r.returncode} {r.stderr.strip()[:200]}")
	assert r.returncode != 0, "a binlog dump went through"
	assert h.scalar(h.connect(gw), "select 1") == 1


def test_replication_allowed():
	gw = h.gateway(db(), {"proxy": {"allow_replication": True}})
	r = binlog_dump(gw)
	assert r.returncode == 0 and "BINLOG" in r.stdout.upper(), r.stderr


if __name__ == "__main__":
	h.main(globals())
