# Many clients at once through ddlgate: 200 concurrent connections, interleaved queries, the connection limit.
import threading

import pymysql

import harness as h

DB = None


def db():
	global DB
	if DB is None:
		DB = h.shared_mariadb(args=["--max-connections=400"])
	return DB


def run_threads(n, target, timeout=90):
	"""Runs target(i) in n threads; returns the list of exceptions (None = ok)."""
	errors = [None] * n

	def wrap(i):
		try:
			target(i)
		except BaseException as e:  # noqa: B036
			errors[i] = e

	threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(timeout)
		assert not t.is_alive(), "a client thread hung"
	return errors


def test_200_concurrent_connections():
	n = 200
	gw = h.gateway(db(), {"proxy": {"max_connections": 1000}})
	connected = threading.Barrier(n + 1, timeout=60)
	queried = threading.Barrier(n + 1, timeout=60)
	ids = [None] * n

	def client(i):
		try:
			c = h.connect(gw, connect_timeout=30)
		except BaseException:
			connected.abort()
			raise
		try:
			connected.wait()  # all n are open at the same time
			with c.cursor() as cur:
				cur.execute("select connection_id(), %s, sleep(0.2)", (i,))
				cid, echo, _ = cur.fetchone()
			assert echo == i, (echo, i)
			ids[i] = cid
			queried.wait()  # nobody quits before the server was checked
		except BaseException:
			queried.abort()
			raise
		finally:
			c.close()

	threads_ok = []

	def check_server():
		connected.wait()
		# Every client holds its own server session right now.
		rows = db().query("select count(*) from information_schema.processlist "
				  "where user = %s", (h.APP_USER,))
		threads_ok.append(rows[0][0])
		queried.wait()

	watcher = threading.Thread(target=check_server, daemon=True)
	watcher.start()
	errors = run_threads(n, client)
	watcher.join(10)
	failed = [(i, e) for i, e in enumerate(errors) if e is not None]
	assert not failed, f"{len(failed)} of {n} clients failed, first: {failed[0]!r}"
	assert len(set(ids)) == n, "connection ids are not distinct"
	assert threads_ok and threads_ok[0] >= n, f"server saw {threads_ok} app sessions"
	assert gw.alive()


def test_interleaved_queries_no_crosstalk():
	"""16 clients x 300 queries, each answer checked against its question."""
	gw = h.gateway(db())

	def client(i):
		c = h.connect(gw)
		try:
			with c.cursor() as cur:
				for k in range(300):
					tag = f"c{i}-q{k}"
					cur.execute("select %s, repeat(%s, %s)", (tag, tag, k % 50))
					got = cur.fetchone()
					assert got == (tag, tag * (k % 50)), (tag, got)
		finally:
			c.close()

	errors = run_threads(16, client)
	failed = [e for e in errors if e is not None]
	assert not failed, f"{len(failed)} clients failed, first: {failed[0]!r}"


def test_connect_disconnect_churn():
	"""1,000 short connections (4 threads x 250): none fails, none leaks on the server."""
	gw = h.gateway(db())

	def client(i):
		for _ in range(250):
			c = h.connect(gw)
			assert h.scalar(c, "select 1") == 1
			c.close()

	errors = run_threads(4, client, timeout=120)
	failed = [e for e in errors if e is not None]
	assert not failed, f"{len(failed)} threads failed, first: {failed[0]!r}"
	# Server sessions are released once clients quit (give it a moment).
	import time
	deadline = time.monotonic() + 10
	while True:
		left = db().query("select count(*) from information_schema.processlist "
				  "where user = %s", (h.APP_USER,))[0][0]
		if left == 0 or time.monotonic() > deadline:
			break
		time.sleep(0.2)
	assert left == 0, f"{left} server sessions left behind after clients quit"


def test_proxy_max_connections():
	h.require_proxy("[proxy] max_connections is a ddlgate setting")
	gw = h.gateway(db(), {"proxy": {"max_connections": 5}})
	conns = [h.connect(gw) for _ in range(5)]
	try:
		extra = h.connect(gw)
		extra.close()
		raise AssertionError("a 6th connection passed max_connections = 5")
	except pymysql.err.OperationalError as e:
		print(f"  6th connection: {e}")
	for c in conns:
		assert h.scalar(c, "select 1") == 1
	conns.pop().close()
	import time
	deadline = time.monotonic() + 5
	while True:
		try:
			c = h.connect(gw)
			break
		except pymysql.err.OperationalError:
			if time.monotonic() > deadline:
				raise
			time.sleep(0.2)
	assert h.scalar(c, "select 2") == 2


if __name__ == "__main__":
	h.main(globals())
