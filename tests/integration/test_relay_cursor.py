# Relay of CALLs whose procedure used a cursor: MariaDB leaves SERVER_STATUS_CURSOR_EXISTS on in their result sets; ddlgate relays them byte for byte (text protocol and Node mysql2 prepared CALLs; DBD::MariaDB refuses multi-result server-side prepares itself).
import json
import os
import struct

import pymysql
from pymysql.constants import COMMAND

import harness as h

DB = None
PROC = """
create or replace procedure cur_p()
begin
  declare done int default 0;
  declare v int;
  declare total int default 0;
  declare c cursor for select id from cur_t order by id;
  declare continue handler for not found set done = 1;
  open c;
  l: loop
    fetch c into v;
    if done then leave l; end if;
    set total = total + v;
  end loop;
  close c;
  select id, name from cur_t order by id;
  select total as total, 'after the cursor' as note;
end
"""


def db():
	global DB
	if DB is None:
		DB = h.shared_mariadb()
		DB.query(f"create or replace table {h.APP_DB}.cur_t (id int primary key, "
			 "name varchar(20))")
		DB.query(f"insert into {h.APP_DB}.cur_t values (1, 'one'), (2, 'two'), (3, 'three')")
		conn = DB.admin_connect(database=h.APP_DB)
		with conn.cursor() as cur:
			cur.execute(PROC)
		conn.close()
	return DB


def raw_call(conn, sql):
	"""Sends sql as COM_QUERY and reads the whole answer raw; returns the
	payloads and the status flags of every EOF / OK packet."""
	conn._execute_command(COMMAND.COM_QUERY, sql)
	payloads, flags = [], []

	def read():
		p = conn._read_packet(packet_type=pymysql.connections.MysqlPacket).get_all_data()
		payloads.append(p)
		return p

	while True:
		first = read()
		if first[0] in (0x00, 0xFF):  # OK or ERR ends this statement
			if first[0] == 0xFF:
				return payloads, flags
			pkt = pymysql.connections.OKPacketWrapper(
				pymysql.connections.MysqlPacket(first, "utf8"))
			flags.append(pkt.server_status)
			if not pkt.server_status & 0x08:
				return payloads, flags
			continue
		ncols = first[0]
		for _ in range(ncols):
			read()
		eof = read()
		assert eof[0] == 0xFE and len(eof) < 9, eof
		flags.append(struct.unpack("<H", eof[3:5])[0])
		while True:
			p = read()
			if p[0] == 0xFE and len(p) < 9:
				status = struct.unpack("<H", p[3:5])[0]
				flags.append(status)
				break
			assert p[0] != 0xFF, p
		if not status & 0x08:
			return payloads, flags


def test_call_with_cursor_text_protocol():
	gw = h.gateway(db())
	direct = h.Direct(db())
	want = raw_call(h.connect(direct), "call cur_p()")
	print(f"  status flags direct: {[hex(f) for f in want[1]]}")
	# the case at hand: the cursor flag (0x40) in a text-protocol CALL
	assert any(f & 0x40 for f in want[1]), want[1]
	c = h.connect(gw)
	for _ in range(3):  # the session stays usable
		got = raw_call(c, "call cur_p()")
		assert got == want, (got, want)
		assert h.scalar(c, "select 1") == 1
	# pymysql's own multi-result reading
	with c.cursor() as cur:
		cur.execute("call cur_p()")
		assert cur.fetchall() == ((1, "one"), (2, "two"), (3, "three"))
		assert cur.nextset()
		assert cur.fetchall() == ((6, "after the cursor"),)
	assert h.scalar(c, "select count(*) from cur_t") == 3


NODE = r"""
const mysql = require('mysql2/promise');
(async () => {
  const [host, port, user, password, database] = process.argv.slice(1);
  const conn = await mysql.createConnection({host, port: Number(port), user, password, database});
  const out = [];
  for (let i = 0; i < 3; i++) {
    const [sets] = await conn.execute('CALL cur_p()');
    out.push(sets.slice(0, 2));
    const [q] = await conn.query('CALL cur_p()');
    out.push(q.slice(0, 2));
  }
  const [one] = await conn.execute('SELECT ? + 1 AS n', [41]);
  out.push(one);
  await conn.end();
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e && e.stack ? e.stack : e); process.exit(2); });
"""


def node_call(gw):
	if not os.path.isdir(os.path.join(h.HERE, "node_modules", "mysql2")):
		raise AssertionError("tests/integration/node_modules is missing: run `npm ci` "
				     "in tests/integration")
	r = h.run(["node", "-e", NODE, gw.host, str(gw.port), h.APP_USER, h.APP_PASSWORD,
		   h.APP_DB], timeout=60, cwd=h.HERE)
	assert r.returncode == 0, f"node failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
	return json.loads(r.stdout.strip().splitlines()[-1])


def test_call_with_cursor_node_execute():
	gw = h.gateway(db())
	got = node_call(gw)
	assert got == node_call(h.Direct(db())), got
	assert got[0][0] == [{"id": 1, "name": "one"}, {"id": 2, "name": "two"},
			     {"id": 3, "name": "three"}], got[0]
	assert got[-1] == [{"n": 42}], got[-1]


if __name__ == "__main__":
	h.main(globals())
