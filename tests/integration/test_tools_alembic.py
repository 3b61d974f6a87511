#!/usr/bin/python3
# Tool-level test: real Alembic migrations (Debian's alembic, SQLAlchemy, mysqlclient) pointed at ddlgate.
"""
`alembic upgrade head` runs unchanged against ddlgate's port. Alembic
takes no lock: its connection is a migration by the alembic_version
history table. Between two revisions Alembic updates alembic_version;
that bookkeeping write leaves the table the first revision created new
and empty, so the second revision may rename its column and add a NOT
NULL column without default (add-required-column would fire on a table
that may hold rows). A later upgrade renaming a column of that table is
refused with rename-column.

Under DDLGATE_DIRECT=1 both upgrades pass against MariaDB itself.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 180)


def project():
	"""A copy of the Alembic project in a fresh folder."""
	return harness.tool_project("alembic")


def upgrade(gw, proj, schema):
	if not shutil.which("alembic"):
		raise RuntimeError("alembic missing: install alembic and python3-mysqldb (tests/run.sh)")
	env = dict(os.environ)
	env.update({
		"ALEMBIC_URL": f"mysql+mysqldb://{harness.APP_USER}:{harness.APP_PASSWORD}"
			       f"@{gw.host}:{gw.port}/{schema}",
		"PYTHONDONTWRITEBYTECODE": "1",
	})
	cmd = ["alembic", "-c", os.path.join(proj, "alembic.ini"), "upgrade", "head"]
	return harness.run_shown(cmd, shown="alembic upgrade head", timeout=90, env=env, cwd=proj)



def test_alembic_upgrade_passes_and_a_later_rename_is_refused():
	schema = "alembic_tool"
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	db.fresh_database(schema)
	gw = harness.guarded_gateway(db)
	proj = project()
	r = upgrade(gw, proj, schema)
	assert r.returncode == 0, f"alembic upgrade failed:\n{r.stdout}{r.stderr}"
	assert db.columns(schema, "product") == ["id", "title", "sku"]
	assert db.query(f"SELECT version_num FROM `{schema}`.alembic_version")[0][0] == "a2"
	if not harness.DIRECT:
		ddl = harness.audit_records(gw, "product")
		assert ddl and all(x.get("session") == "migration" for x in ddl), ddl
		assert all((x.get("migration") or {}).get("tool") == "alembic" for x in ddl), ddl

	shutil.copy(os.path.join(HERE, "tools", "alembic_a3_rename_again.py"),
		    os.path.join(proj, "versions"))
	r = upgrade(gw, proj, schema)
	if harness.DIRECT:
		assert r.returncode == 0, f"alembic upgrade failed:\n{r.stdout}{r.stderr}"
	else:
		out = r.stdout + r.stderr
		assert r.returncode != 0, out
		assert "ddlgate: blocked by rename-column" in out, out
		assert db.columns(schema, "product") == ["id", "title", "sku"]
	gw.stop()


if __name__ == "__main__":
	harness.main(globals())
