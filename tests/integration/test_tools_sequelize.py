#!/usr/bin/python3
# Tool-level test: real sequelize-cli migrations (npm sequelize + mysql2) pointed at ddlgate.
"""
A sequelize-cli project whose config names ddlgate's port runs
`sequelize db:migrate` unchanged. sequelize takes no lock: ddlgate knows
its connection as a migration by the SequelizeMeta history table. The
project (tools/sequelize) creates a table, inserts rows with a duplicate
address, creates a second table and renames one of its columns, adds a
column (then sleeps, so the test can look), and fixes the duplicate with an
UPDATE before adding a unique index. sequelize runs no migration in a
transaction: each statement commits on its own.

Under DDLGATE_DIRECT=1 both runs go to MariaDB itself.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 300)


def db_migrate(gw, schema):
	proj = harness.node_project("sequelize")
	argv = [harness.node_tool("sequelize"), "db:migrate"]
	return argv, harness.tool_env(gw, schema), proj, "sequelize db:migrate"


def test_sequelize_db_migrate_runs_as_a_migration_like_directly():
	harness.check_migration_tool("sequelize_tool", "sequelize", db_migrate, "SequelizeMeta")


def test_sequelize_fix_and_unique_alone_in_a_run():
	"""The migration that fixes the duplicates and adds the key, deployed
	on its own after the others."""
	harness.check_fix_alone("sequelize_fix", db_migrate, "SequelizeMeta", "name",
				harness.hold_back_file("migrations"))


if __name__ == "__main__":
	harness.main(globals())
