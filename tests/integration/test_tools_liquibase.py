#!/usr/bin/python3
# Tool-level test: a real `liquibase update` (npm liquibase 4.28, Debian's Java and MariaDB Connector/J) pointed at ddlgate.
"""
The Liquibase CLI that the npm package `liquibase` bundles runs on
Debian's Java with Debian's MariaDB Connector/J (--classpath) and
tools/liquibase/changelog.yaml: create a table, insert two rows with the
same SKU, rename a column of the new table, add a NOT NULL column with a
default, and in one changeset fix the duplicates and add a unique
constraint on the SKU. Liquibase locks with its DATABASECHANGELOGLOCK row
and records each changeset in DATABASECHANGELOG, on one connection.

The update through ddlgate (guard account, otherwise the default
configuration) must succeed and leave the same tables and
DATABASECHANGELOG rows as an update straight against MariaDB. While its
third changeset waits (harness.Gate), /sessions shows the connection as a
liquibase migration, and DDL from another process of the same account is
refused with migration-conflict.

Liquibase runs each changeset in a transaction: the fixing UPDATE of the
last one is not committed yet when its ALTER TABLE arrives (the server
commits it implicitly before the ALTER runs). A guard that probes on a
connection of its own sees the duplicates still there; the update passes
once the probe sees what the session's own connection sees.

Under DDLGATE_DIRECT=1 both updates go to MariaDB itself.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LIQUIBASE = os.path.join(HERE, "node_modules", "liquibase", "dist", "liquibase", "liquibase")
CONNECTOR_J = "/usr/share/java/mariadb-java-client.jar"
HISTORY_COLUMNS = "ID, AUTHOR, FILENAME, ORDEREXECUTED, EXECTYPE, MD5SUM, DESCRIPTION"
QUERIES = ("SELECT ID, LOCKED FROM {schema}.DATABASECHANGELOGLOCK",
	   "SELECT id, name, sku, quantity FROM {schema}.products ORDER BY id")
RUN_LIMIT = 180  # seconds: the JVM starts slowly on a busy machine

harness.TEST_TIMEOUT = max(harness.TEST_TIMEOUT, 2 * RUN_LIMIT + 60)


def liquibase_update(target, schema):
	"""One `liquibase update` against target (harness: command(target,
	schema))."""
	if not os.access(LIQUIBASE, os.X_OK):
		raise RuntimeError("the liquibase npm package is missing: npm install in tests/integration")
	if not os.path.exists(CONNECTOR_J) or not os.path.exists("/usr/bin/java"):
		raise RuntimeError("install default-jre-headless and libmariadb-java (tests/run.sh)")
	env = dict(os.environ, JAVA_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
	env.pop("JAVA_HOME", None)  # Debian's java from PATH, whatever JAVA_HOME names
	proj = harness.tool_project("liquibase")
	return [
		LIQUIBASE, f"--classpath={CONNECTOR_J}", "--show-banner=false", "--log-level=WARNING",
		"update", "--changelog-file=changelog.yaml",
		f"--url=jdbc:mariadb://{target.host}:{target.port}/{schema}",
		f"--username={harness.APP_USER}", f"--password={harness.APP_PASSWORD}",
	], env, proj, "liquibase update"


def test_liquibase_update_through_ddlgate_matches_a_direct_run():
	db = harness.shared_mariadb(accounts=(harness.PROBER,))
	gw, schema = harness.check_migration_tool("liquibase_tool", "liquibase", liquibase_update,
						  "DATABASECHANGELOG", HISTORY_COLUMNS,
						  queries=QUERIES, gate=True, limit=RUN_LIMIT)
	assert db.columns(schema, "products") == ["id", "name", "sku", "quantity"]
	if not harness.DIRECT:
		ddl = harness.audit_records(gw, "products", kind="ddl")
		assert len(ddl) == 4, ddl
		assert all(r["decision"] != "block" and r["session"] == "migration" for r in ddl), ddl
		assert all(r["migration"]["tool"] == "liquibase" for r in ddl), ddl
	gw.stop()


if __name__ == "__main__":
	harness.main(globals())
