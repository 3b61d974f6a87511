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

import json
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


def hold_back_last(proj):
	"""The last SQL file and its journal entry go aside, then come back."""
	journal = os.path.join(proj, "drizzle", "meta", "_journal.json")
	with open(journal) as f:
		text = f.read()
	meta = json.loads(text)
	last = meta["entries"].pop()
	sql = os.path.join(proj, "drizzle", last["tag"] + ".sql")
	os.rename(sql, sql + ".held")
	with open(journal, "w") as f:
		json.dump(meta, f, indent=2)

	def put_back():
		os.rename(sql + ".held", sql)
		with open(journal, "w") as f:
			f.write(text)
	return put_back


def test_drizzle_fix_and_unique_alone_in_a_run():
	"""The migration that fixes the duplicates and adds the key, deployed
	on its own after the others."""
	harness.check_fix_alone("drizzle_fix", migrate, "__drizzle_migrations", "hash, created_at",
				hold_back_last)


if __name__ == "__main__":
	harness.main(globals())
