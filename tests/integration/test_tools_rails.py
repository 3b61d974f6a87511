#!/usr/bin/python3
# Tool-level test: real Active Record 6.1 migrations (Debian's ruby-activerecord + ruby-mysql2) pointed at ddlgate.
"""
tools/rails/migrate.rb does what `rails db:migrate` does, without a Rails
application: ActiveRecord::Tasks::DatabaseTasks.migrate over
tools/rails/db/migrate with the mysql2 adapter. Active Record 6.1 takes
its advisory lock (GET_LOCK of 2053462845 * CRC32(database)) on a
connection of its own and runs the migrations on the main connection:
both are the migration's, so none of its DDL is a conflict. The five
migrations create a table, insert two rows with the same SKU, rename a
column of the new table, add a NOT NULL column with a default, and in one
migration fix the duplicates and add a unique index on the SKU.

The run through ddlgate (guard account, otherwise the default
configuration) must succeed and leave the same tables and schema_migrations
rows as a run straight against MariaDB. While its third migration waits
(harness.Gate), /sessions shows Rails' connections as a migration of
tool rails, and DDL from another process of the same account is refused
with migration-conflict.

A later deploy whose migration renames a column of the table an earlier
deploy created is refused with rename-column (running code may use the
old name): db:migrate stops with ddlgate's error, the column keeps its
name and the migration is not recorded.

Under DDLGATE_DIRECT=1 both runs go to MariaDB itself.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATE = os.path.join(HERE, "tools", "rails", "migrate.rb")
QUERIES = ("SELECT id, name, sku, quantity FROM {schema}.products ORDER BY id",)

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 180)


def rails_migrate(target, schema, project=None):
	"""One `rails db:migrate` against target (harness: command(target,
	schema)), with the migrations of project (a copy of tools/rails;
	default: the original)."""
	if not shutil.which("ruby"):
		raise RuntimeError("ruby missing: install ruby-activerecord and ruby-mysql2 (tests/run.sh)")
	env = dict(os.environ, RAILS_DB_HOST=target.host, RAILS_DB_PORT=str(target.port),
		   RAILS_DB_USER=harness.APP_USER, RAILS_DB_PASSWORD=harness.APP_PASSWORD,
		   RAILS_DB_DATABASE=schema)
	script = os.path.join(project, "migrate.rb") if project else MIGRATE
	return ["ruby", script], env, None, "rails db:migrate"


def test_rails_migrate_through_ddlgate_matches_a_direct_run():
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	# two sessions at the gate: the lock connection and the main one
	gw, schema = harness.check_migration_tool("rails_tool", "rails", rails_migrate,
						  "schema_migrations", "version", queries=QUERIES,
						  gate=True, sessions=2, limit=90)
	assert db.columns(schema, "products") == ["id", "name", "sku", "created_at", "updated_at",
						  "quantity"]
	if not harness.DIRECT:
		ddl = harness.audit_records(gw, "products", kind="ddl")
		assert len(ddl) == 4, ddl
		assert all(r["decision"] != "block" and r["session"] == "migration" for r in ddl), ddl
		assert all(r["migration"]["tool"] == "rails" for r in ddl), ddl
	gw.stop()


def test_a_later_rename_of_an_earlier_table_is_refused():
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	schema = db.fresh_database("rails_later")
	gw = harness.guarded_gateway(db)
	proj = harness.tool_project("rails")
	argv, env, cwd, shown = rails_migrate(gw, schema, proj)
	r = harness.Background(argv, shown=shown, timeout=90, env=env, cwd=cwd).finish()
	code, out = r.returncode, r.stdout
	assert code == 0, out
	shutil.copy(os.path.join(HERE, "tools", "rails_later", "20240201000001_rename_name_again.rb"),
		    os.path.join(proj, "db", "migrate"))
	r = harness.Background(argv, shown=shown + " (a later deploy)", timeout=90, env=env,
			       cwd=cwd).finish()
	code, out = r.returncode, r.stdout
	versions = [r[0] for r in db.query(f"SELECT version FROM `{schema}`.schema_migrations")]
	if harness.DIRECT:
		assert code == 0, out
		assert "20240201000001" in versions
		return
	assert code != 0, out
	assert "ddlgate: blocked by rename-column" in out, out
	assert "name" in db.columns(schema, "products")
	assert "20240201000001" not in versions
	gw.stop()


if __name__ == "__main__":
	harness.main(globals())
