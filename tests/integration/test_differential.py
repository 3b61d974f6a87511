#!/usr/bin/python3
# Differential test: the server is the oracle for what a statement is; ddlgate must agree on every DDL.
"""
A generator builds statements that hide DDL behind the places where a
proxy's reading of SQL can differ from the server's: executable comments
of every version around the server's own and MySQL's range, '--' before
control characters, bytes that are whitespace in one character set and a
letter in another, double-byte characters whose second byte is a
backslash, sql_mode set in several ways (NO_BACKSLASH_ESCAPES,
ANSI_QUOTES), multi-statement text. Each statement is sent through a
ddlgate whose maintenance window is closed, so every DDL must be refused
(and the refusal recorded in its audit log).

The oracle is the server itself: performance_schema's statement history
of the backend connection says which statements it executed (by event
name, e.g. statement/sql/alter_table), and a digest of the schema taken
before and after says whether anything changed. A statement the server
ran as DDL (or a schema change) is a disagreement, whatever ddlgate
answered.

Every run replays the corpus (data/differential_corpus.jsonl: every
input that ever exposed a disagreement) and then runs generated cases for
a bounded time. Environment:
  DDLGATE_DIFF_SECONDS  time for generated cases (default 45)
  DDLGATE_DIFF_SEED     random seed (default: time-based, printed)
  DDLGATE_DIFF_SAVE=1   append the inputs of new disagreements to the corpus
A longer search, for example before a release:
  DDLGATE_DIFF_SECONDS=900 ctest --test-dir build-test -R differential -V
"""

import codecs
import datetime
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pymysql  # noqa: E402
from pymysql.constants import CLIENT, COMMAND  # noqa: E402

SCHEMA = "diff"
HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "data", "differential_corpus.jsonl")
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

# What the server runs as a schema change, by performance_schema event name.
DDL_EVENTS = {
	"statement/sql/" + n for n in (
		"create_table", "alter_table", "drop_table", "rename_table", "create_index",
		"drop_index", "truncate", "create_db", "drop_db", "alter_db", "create_view",
		"drop_view", "create_procedure", "drop_procedure", "alter_procedure",
		"create_function", "drop_function", "alter_function", "create_trigger",
		"drop_trigger", "create_event", "alter_event", "drop_event", "create_sequence",
		"alter_sequence", "drop_sequence", "create_server", "alter_server", "drop_server",
		"install_plugin", "uninstall_plugin", "create_spatial_reference_system",
		"optimize", "repair", "alter_tablespace", "create_package", "create_package_body",
		"drop_package", "drop_package_body")
}

_db = None


def db():
	global _db
	if _db is None:
		_db = h.shared_mariadb(args=(
			"--performance-schema=ON",
			"--performance-schema-consumer-events-statements-history=ON",
			"--performance-schema-events-statements-history-size=64",
		))
	return _db


def fresh_schema():
	d = db()
	d.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
	d.query(f"CREATE DATABASE `{SCHEMA}`")
	d.query(f"CREATE TABLE `{SCHEMA}`.t (id INT PRIMARY KEY, a INT, s VARCHAR(20))")
	d.query(f"CREATE TABLE `{SCHEMA}`.victim (id INT PRIMARY KEY)")
	d.query(f"INSERT INTO `{SCHEMA}`.victim VALUES (1), (2)")


def digest():
	"""The schema as the server has it: tables, columns, indexes."""
	d = db()
	return (
		d.query("SELECT TABLE_NAME, TABLE_TYPE, ENGINE FROM information_schema.TABLES "
			"WHERE TABLE_SCHEMA=%s ORDER BY 1", (SCHEMA,)),
		d.query("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
			"WHERE TABLE_SCHEMA=%s ORDER BY 1, ORDINAL_POSITION", (SCHEMA,)),
		d.query("SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
			"WHERE TABLE_SCHEMA=%s ORDER BY 1, 2, SEQ_IN_INDEX", (SCHEMA,)),
		d.query("SELECT COUNT(*) FROM information_schema.SCHEMATA"),
		d.query("SELECT COUNT(*) FROM information_schema.ROUTINES"),
	)


def other_day_schedule():
	"""A one-minute window three days from now: certainly closed now."""
	day = DAYS[(datetime.datetime.now(datetime.timezone.utc).weekday() + 3) % 7]
	return f"{day} 03:00-03:01 UTC"


def server_version_id():
	v = db().query("SELECT VERSION()")[0][0]
	major, minor, patch = (int("".join(ch for ch in p if ch.isdigit()) or 0)
			       for p in v.split("-")[0].split(".")[:3])
	return major * 10000 + minor * 100 + patch


# ---- the generator ------------------------------------------------------------


def ddl_payloads(n):
	"""Schema changes on the test schema (each distinct, so a run that
	slipped through shows up in the digest)."""
	return [
		f"ALTER TABLE {SCHEMA}.t ADD COLUMN c{n} INT",
		f"CREATE TABLE {SCHEMA}.n{n} (a INT)",
		f"DROP TABLE {SCHEMA}.victim",
		f"RENAME TABLE {SCHEMA}.victim TO {SCHEMA}.v{n}",
		f"CREATE INDEX i{n} ON {SCHEMA}.t (a)",
		f"TRUNCATE TABLE {SCHEMA}.victim",
		f"CREATE VIEW {SCHEMA}.w{n} AS SELECT 1 AS x",
		f"ALTER TABLE {SCHEMA}.t DROP COLUMN s",
	]


DECOYS = ["SELECT 1", "DO 1", "SET @x = 1", "SELECT", "CALL", "SHOW TABLES"]
CONTROL = [bytes([c]) for c in list(range(1, 33)) + [0x7F]]
# byte that is whitespace to the server in that character set
HIGH_SPACE = [("latin1", b"\xa0"), ("latin2", b"\xa0"), ("cp1250", b"\xa0"),
	      ("greek", b"\xa0"), ("cp852", b"\xff"), ("cp866", b"\xff"), ("keybcs2", b"\xff")]
# (charset, lead byte) whose second byte 0x5C is part of the character
DOUBLE_BYTE = [("gbk", 0x81), ("gbk", 0xFE), ("big5", 0xA1), ("big5", 0xF9), ("sjis", 0x81),
	       ("sjis", 0xE0), ("cp932", 0x82), ("cp932", 0xFC)]
SQL_MODE_SETS = [
	["SET sql_mode = 'NO_BACKSLASH_ESCAPES'"],
	["SET SESSION sql_mode = CONCAT('NO_BACKSLASH', '_ESCAPES')"],
	["SET @m = 'NO_BACKSLASH_ESCAPES'", "SET @@sql_mode = @m"],
	["SET sql_mode = (SELECT 'NO_BACKSLASH_ESCAPES')"],
	["SET @@session.sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'"],
]


def versions(server):
	"""Versions around the places where servers decide differently."""
	return sorted({1, 12, 1234, 10000, 40101, 50000, 50699, 50700, 50701, 80000, 99999,
		       100000, server - 1, server, server + 1, 999999, 5000012, 10000000})


def client_knows(charset):
	"""Whether the Python client can announce charset in its handshake."""
	try:
		cs = pymysql.charset.charset_by_name(charset)
		codecs.lookup(cs.encoding)
		return True
	except Exception:
		return False


def case(sql, charset="utf8mb4", multi=True, setup=(), rng=None):
	"""A case dict. A character set is announced in the handshake or set
	with SET NAMES afterwards (always the latter when the client cannot
	announce it)."""
	setup = list(setup)
	if charset != "utf8mb4" and (not client_knows(charset) or (rng and rng.random() < 0.5)):
		setup.insert(0, f"SET NAMES {charset}")
		charset = "utf8mb4"
	return {"charset": charset, "multi": multi, "setup": setup,
		"sql": sql.hex() if isinstance(sql, bytes) else sql.encode().hex()}


def generate(rng, server, n):
	"""One generated case (a dict) from the classes of tricks."""
	ddl = rng.choice(ddl_payloads(n)).encode()
	decoy = rng.choice(DECOYS).encode()
	kind = rng.randrange(13)
	if kind == 0:  # a versioned comment holding a decoy in front of the DDL
		v = str(rng.choice(versions(server))).encode()
		marker = rng.choice([b"/*!", b"/*M!"])
		return case(marker + v + b" " + decoy + b" */ " + ddl)
	if kind == 1:  # the DDL inside a versioned comment
		v = str(rng.choice(versions(server))).encode()
		marker = rng.choice([b"/*!", b"/*M!"])
		return case(b"SELECT 1; " + marker + v + b" " + ddl + b" */")
	if kind == 2:  # a ';' inside a versioned comment
		v = str(rng.choice(versions(server))).encode()
		return case(decoy + b" /*!" + v + b" ; " + ddl + b" */")
	if kind == 3:  # '--' before a control character
		c = rng.choice(CONTROL)
		return case(b"--" + c + b"x\n" + ddl if rng.random() < 0.5
			    else decoy + b"; --" + c + b"y\n" + ddl)
	if kind == 4:  # a high byte that is whitespace in the connection's charset
		cs, sp = rng.choice(HIGH_SPACE)
		return case(ddl.replace(b" ", sp, rng.randrange(1, 4)), charset=cs, rng=rng)
	if kind == 5:  # 0x5C as the second byte of a double-byte character
		cs, lead = rng.choice(DOUBLE_BYTE)
		return case(b"SELECT '" + bytes([lead, 0x5C]) + b"'; " + ddl + b" -- '", charset=cs,
			    rng=rng)
	if kind == 6:  # backslash before the closing quote, under a sql_mode set some way
		setup = rng.choice(SQL_MODE_SETS)
		q = b'"' if "ANSI" in setup[-1] and rng.random() < 0.5 else b"'"
		return case(b"SELECT " + q + b"a\\" + q + b"; " + ddl + b" -- " + q, setup=setup)
	if kind == 7:  # SET STATEMENT sql_mode=... FOR a decoy, then the DDL
		return case(b"SET STATEMENT sql_mode='NO_BACKSLASH_ESCAPES' FOR SELECT 'a\\'; " + ddl +
			    b" -- '")
	if kind == 8:  # backslashes in a backtick identifier are no escapes
		return case(b"SELECT 1 AS `a\\`; " + ddl + b" -- `")
	if kind == 9:  # comments do not nest: the first */ ends it
		return case(b"/* x /* y */ " + ddl + b" -- */")
	if kind == 10:  # an unterminated comment after the DDL
		return case(decoy + b"; " + ddl + b" /* never closed")
	if kind == 11:  # quotes of the other kind inside a quoted run
		setup = rng.choice([[], ["SET sql_mode = 'ANSI_QUOTES'"]])
		return case(b"SELECT 1 AS \"a'b\"; " + ddl + b" -- '", setup=setup)
	# whitespace other than the space between the DDL's words
	ws = rng.choice([b"\t", b"\n", b"\r", b"\x0b", b"\x0c", b"\r\n"])
	return case(ddl.replace(b" ", ws))


# ---- running one case ------------------------------------------------------------


def run_case(gw, c):
	"""Runs case c through gw; returns (answer, executed DDL events,
	schema changed)."""
	before = digest()
	conn = pymysql.connect(host=gw.host, port=gw.port, user=h.APP_USER, password=h.APP_PASSWORD,
			       database=SCHEMA, charset=c["charset"], autocommit=True,
			       client_flag=CLIENT.MULTI_STATEMENTS if c["multi"] else 0)
	answer = "ok"
	try:
		with conn.cursor() as cur:
			cur.execute("SELECT CONNECTION_ID()")
			backend_id = cur.fetchone()[0]
			for s in c["setup"]:
				cur.execute(s)
		try:
			conn._execute_command(COMMAND.COM_QUERY, bytes.fromhex(c["sql"]))
			conn._read_query_result()
			while conn._result and conn._result.has_next:
				conn.next_result()
		except pymysql.err.MySQLError as e:
			answer = f"ERR {e.args[0]}"
		except Exception as e:  # a client that cannot decode an answer
			answer = f"client: {type(e).__name__}"
	finally:
		try:
			conn.close()
		except Exception:
			pass
	events = db().query(
		"SELECT h.EVENT_NAME, h.MYSQL_ERRNO FROM performance_schema.events_statements_history h "
		"JOIN performance_schema.threads t USING (THREAD_ID) WHERE t.PROCESSLIST_ID = %s",
		(backend_id,))
	ran = sorted({e for e, errno in events if e in DDL_EVENTS})
	changed = digest() != before
	return answer, ran, changed


def show(c):
	raw = bytes.fromhex(c["sql"])
	return (f"charset={c['charset']} multi={c['multi']} setup={c['setup']} "
		f"sql={raw!r}")


def load_corpus():
	if not os.path.exists(CORPUS):
		return []
	with open(CORPUS) as f:
		return [json.loads(line) for line in f if line.strip() and not line.startswith("#")]


def test_server_and_ddlgate_agree_on_ddl():
	h.require_proxy("the differential test compares ddlgate with the server")
	fresh_schema()
	gw = h.Ddlgate(db(), {"window": {"schedule": other_day_schedule()}}, audit=True)
	server = server_version_id()
	seconds = float(os.environ.get("DDLGATE_DIFF_SECONDS", "45"))
	seed = int(os.environ.get("DDLGATE_DIFF_SEED", str(int(time.time()))))
	rng = random.Random(seed)
	print(f"differential: server {server}, seed {seed}, {seconds:.0f} s of generated cases")

	found = []
	counts = {"corpus": 0, "generated": 0, "refused": 0}

	def check(c, origin):
		answer, ran, changed = run_case(gw, c)
		counts[origin] += 1
		if answer.startswith("ERR 1290"):
			counts["refused"] += 1
		if ran or changed:
			found.append((origin, c, answer, ran, changed))
			fresh_schema()

	for c in load_corpus():
		check(c, "corpus")
	deadline = time.monotonic() + seconds
	n = 0
	while time.monotonic() < deadline:
		n += 1
		check(generate(rng, server, n), "generated")

	print(f"differential: {counts['corpus']} corpus and {counts['generated']} generated cases, "
	      f"{counts['refused']} refused with 1290, {len(found)} disagreements")
	for origin, c, answer, ran, changed in found[:40]:
		print(f"  DISAGREE ({origin}): server ran {ran or 'a schema change'}; ddlgate answered "
		      f"{answer}: {show(c)}")
	new = [c for origin, c, *_ in found if origin == "generated"]
	if new and os.environ.get("DDLGATE_DIFF_SAVE") == "1":
		with open(CORPUS, "a") as f:
			for c in new:
				f.write(json.dumps(c, sort_keys=True) + "\n")
		print(f"differential: {len(new)} new inputs appended to {CORPUS}")
	assert not found, f"{len(found)} statements ran as DDL on the server through a closed window"
	assert counts["refused"] > 0, "no case was refused: the window was not closed?"
	# every refusal is in the audit log, and the log's chain is intact
	assert gw.stop() == 0
	blocked = h.audit_records(gw, decision="block")
	assert len(blocked) >= counts["refused"], (len(blocked), counts["refused"])
	code, out = h.verify_audit(gw.audit)
	assert code == 0, out


if __name__ == "__main__":
	sys.exit(h.main(globals()))
