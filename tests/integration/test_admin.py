# ddlgate's admin HTTP listener: /healthz, /status JSON, /metrics counters that move, /sessions.
import json
import os
import re
import time

import harness as h

DB = None


def db():
	global DB
	if DB is None:
		DB = h.shared_mariadb()
	return DB


def metrics(gw):
	"""Samples of ddlgate_* metrics: {'name{labels}': value}."""
	status, body = gw.admin_get("/metrics")
	assert status == 200, (status, body[:200])
	out = {}
	for line in body.splitlines():
		if not line or line.startswith("#"):
			continue
		m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)", line)
		assert m, f"not Prometheus text format: {line!r}"
		if m.group(1).startswith("ddlgate_"):
			out[m.group(1)] = float(m.group(2))
	return out


def test_healthz():
	h.require_proxy("the admin listener is ddlgate's")
	gw = h.gateway(db())
	status, body = gw.admin_get("/healthz")
	assert status == 200, (status, body)


def test_status_json():
	h.require_proxy("the admin listener is ddlgate's")
	gw = h.gateway(db())
	conns = [h.connect(gw) for _ in range(3)]
	status, body = gw.admin_get("/status")
	assert status == 200, (status, body[:300])
	doc = json.loads(body)
	print(f"  /status keys: {sorted(doc)}")
	assert "version" in doc, doc
	assert any(k.startswith("uptime") for k in doc), doc
	assert any("connection" in k for k in doc), doc
	text = json.dumps(doc)
	assert any(str(n) in text for n in (3, 4)), f"/status does not show the open connections: {text}"
	for c in conns:
		c.close()


def test_metrics_move():
	h.require_proxy("the admin listener is ddlgate's")
	gw = h.gateway(db())
	before = metrics(gw)
	assert before, "no ddlgate_ metrics"
	c = h.connect(gw)
	for i in range(50):
		assert h.scalar(c, "select %s", (i,)) == i
	with c.cursor() as cur:
		cur.execute("select repeat('m', 100000)")
		cur.fetchall()
		# A DDL statement is inspected, so it counts by kind and decision.
		cur.execute(f"create table metrics_{os.getpid()}_{int(time.time() * 1000)} "
			    "(id int primary key)")
	after = metrics(gw)
	moved = sorted(k for k, v in after.items() if v > before.get(k, 0))
	print(f"  metrics that moved: {[k for k in moved if 'bucket' not in k]}")
	for family in ("connection", "command", "statement", "bytes"):
		assert any(family in k for k in moved), f"no ddlgate_*{family}* metric moved: {moved}"
	c.close()


def test_sessions_lists_clients():
	h.require_proxy("the admin listener is ddlgate's")
	gw = h.gateway(db())
	c = h.connect(gw)
	status, body = gw.admin_get("/sessions")
	assert status == 200, (status, body[:300])
	assert h.APP_USER in body, f"/sessions does not show user {h.APP_USER}: {body[:500]}"
	c.close()


def test_unknown_path_is_404():
	h.require_proxy("the admin listener is ddlgate's")
	gw = h.gateway(db())
	status, _ = gw.admin_get("/no-such-page")
	assert status == 404, status


if __name__ == "__main__":
	h.main(globals())
