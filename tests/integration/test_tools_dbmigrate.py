#!/usr/bin/python3
# Tool-level test: real db-migrate migrations (npm db-migrate + db-migrate-mysql) pointed at ddlgate.
"""
A db-migrate project (tools/db-migrate: database.json reading the
connection from the environment, JS migrations) run with `db-migrate up`
unchanged. db-migrate-mysql uses the `mysql` driver on one connection and
runs each migration as `SET AUTOCOMMIT=0; START TRANSACTION`, the
migration's statements, the history row, `COMMIT`. It takes no lock:
ddlgate knows the connection as a migration by its history table
`migrations`. The migrations create a table, insert rows with a duplicate
address, create a second table and rename one of its columns, add a column
(then sleep, so the test can look), and fix the duplicate with an UPDATE
before adding a unique index, in one migration.

Under DDLGATE_DIRECT=1 both runs go to MariaDB itself.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 300)


def up(gw, schema):
	proj = harness.node_project("db-migrate")
	argv = [harness.node_tool("db-migrate"), "up", "--verbose"]
	return argv, harness.tool_env(gw, schema), proj, "db-migrate up"


def test_db_migrate_up_runs_as_a_migration_like_directly():
	harness.check_migration_tool("dbmigrate_tool", "db-migrate", up, "migrations",
				     "name")


def test_dbmigrate_fix_and_unique_alone_in_a_run():
	"""The migration that fixes the duplicates and adds the key, deployed
	on its own after the others."""
	harness.check_fix_alone("dbmigrate_fix", up, "migrations", "name",
				harness.hold_back_file("migrations"))


if __name__ == "__main__":
	harness.main(globals())
