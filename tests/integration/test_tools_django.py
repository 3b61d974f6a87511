#!/usr/bin/python3
# Tool-level test: real Django migrations (python3-django + mysqlclient) pointed at ddlgate.
"""
A Django project whose DATABASES entry names ddlgate's port runs
`django-admin migrate` unchanged. Django takes no lock: ddlgate knows its
connection as a migration by the django_migrations history table. The
first run creates a table, records it in django_migrations, then renames a
column of that table and adds a column with a default: the rename is safe
(the table was created in this migration, whatever bookkeeping rows were
written since) and passes. A later run that renames a column of the table
an earlier run created is refused with rename-column, as running code may
use the old name, and Django stops with ddlgate's error.

Under DDLGATE_DIRECT=1 both runs pass against MariaDB itself.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "tools", "django")

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 180)


def require_django():
	try:
		import django  # noqa: F401
		import MySQLdb  # noqa: F401
	except ImportError as e:
		raise RuntimeError(f"{e}: install python3-django and python3-mysqldb (tests/run.sh)")


def project():
	"""A copy of the Django project in a fresh folder."""
	return harness.tool_project("django", "0003_*")


def migrate(gw, proj, schema):
	require_django()
	env = dict(os.environ)
	env.update({
		"DJ_HOST": gw.host, "DJ_PORT": str(gw.port), "DJ_USER": harness.APP_USER,
		"DJ_PASSWORD": harness.APP_PASSWORD, "DJ_DATABASE": schema,
		"DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": proj,
		"PYTHONDONTWRITEBYTECODE": "1",
	})
	cmd = ["/usr/bin/python3", "-m", "django", "migrate", "--no-input", "-v", "1"]
	return harness.run_shown(cmd, shown="django migrate", timeout=90, env=env, cwd=proj)



def test_django_migrate_passes_and_a_later_rename_is_refused():
	schema = "django_tool"
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	db.fresh_database(schema)
	gw = harness.guarded_gateway(db)
	proj = project()
	r = migrate(gw, proj, schema)
	assert r.returncode == 0, f"django migrate failed:\n{r.stdout}{r.stderr}"
	assert db.columns(schema, "shop_product") == ["id", "title", "quantity"]
	applied = [x[0] for x in db.query(f"SELECT name FROM `{schema}`.django_migrations")]
	assert applied == ["0001_initial", "0002_rename_and_quantity"], applied
	if not harness.DIRECT:
		ddl = harness.audit_records(gw, "shop_product")
		assert ddl and all(x.get("session") == "migration" for x in ddl), ddl
		assert all((x.get("migration") or {}).get("tool") == "django" for x in ddl), ddl

	shutil.copy(os.path.join(PROJECT, "0003_rename_again.py"),
		    os.path.join(proj, "shop", "migrations"))
	r = migrate(gw, proj, schema)
	if harness.DIRECT:
		assert r.returncode == 0, f"django migrate failed:\n{r.stdout}{r.stderr}"
	else:
		out = r.stdout + r.stderr
		assert r.returncode != 0, out
		assert "ddlgate: blocked by rename-column" in out, out
		assert db.columns(schema, "shop_product") == ["id", "title", "quantity"]
	gw.stop()


if __name__ == "__main__":
	harness.main(globals())
