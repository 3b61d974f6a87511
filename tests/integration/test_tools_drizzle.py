#!/usr/bin/python3
# Tool-level test: real drizzle-kit migrations (npm drizzle-kit + mysql2) pointed at ddlgate.
"""
A drizzle-kit project (tools/drizzle: drizzle.config.js and SQL migration
files with their meta/_journal.json) whose dbCredentials name ddlgate's
port runs `drizzle-kit migrate` unchanged. drizzle creates
__drizzle_migrations, reads the last applied row, then runs every pending
file, statement by statement (split at `--> statement-breakpoint`), and
inserts one history row per file, all inside one transaction on one
connection. It takes no lock: ddlgate knows the connection as a migration
by __drizzle_migrations. The files create a table, insert rows with a
duplicate address, create a second table and rename one of its columns,
add a column (then sleep, so the test can look), and fix the duplicate
with an UPDATE before adding a unique constraint.

Under DDLGATE_DIRECT=1 both runs go to MariaDB itself.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 300)


def migrate(gw, schema):
	proj = harness.node_project("drizzle")
	argv = [harness.node_tool("drizzle-kit"), "migrate", "--config", "drizzle.config.js"]
	return argv, harness.tool_env(gw, schema), proj, "drizzle-kit migrate"


def test_drizzle_kit_migrate_runs_as_a_migration_like_directly():
	harness.check_migration_tool("drizzle_tool", "drizzle", migrate, "__drizzle_migrations",
				     "hash, created_at")


if __name__ == "__main__":
	harness.main(globals())
