#!/usr/bin/python3
# Tool-level test: real TypeORM migrations (npm typeorm + mysql2) pointed at ddlgate.
"""
A TypeORM data source (tools/typeorm/data-source.js, plain JS migrations:
no TypeScript build) whose port is ddlgate's runs `typeorm migration:run`
unchanged, with its default `--transaction all`: one START TRANSACTION
before the first pending migration, one COMMIT after the last, every
statement on one connection. TypeORM takes no lock: ddlgate knows the
connection as a migration by its history table `migrations`. The
migrations create a table, insert rows with a duplicate address, create a
second table and rename one of its columns, add a column (then sleep, so
the test can look), and fix the duplicate with an UPDATE before creating a
unique index.

Under DDLGATE_DIRECT=1 both runs go to MariaDB itself.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 300)


def migration_run(gw, schema):
	proj = harness.node_project("typeorm")
	argv = [harness.node_tool("typeorm"), "migration:run", "-d", "data-source.js"]
	return argv, harness.tool_env(gw, schema), proj, "typeorm migration:run"


def test_typeorm_migration_run_runs_as_a_migration_like_directly():
	harness.check_migration_tool("typeorm_tool", "typeorm", migration_run,
				     "migrations", "timestamp, name")


def test_typeorm_fix_and_unique_alone_in_a_run():
	"""The migration that fixes the duplicates and adds the key, deployed
	on its own after the others."""
	harness.check_fix_alone("typeorm_fix", migration_run, "migrations", "timestamp, name",
				harness.hold_back_file("migrations"))


if __name__ == "__main__":
	harness.main(globals())
