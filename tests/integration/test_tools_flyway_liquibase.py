#!/usr/bin/python3
# Tool-level test: Flyway's named lock and Liquibase's lock row, replayed statement for statement through ddlgate.
"""
These tests send what Flyway and Liquibase send on MySQL over one
connection, as MySQL Connector/J delivers it (client-side
parameter inlining, the driver's default):

Flyway `migrate`:   SELECT GET_LOCK('Flyway-<hashCode of `db`.`flyway_schema_history`>',10)
                    ... history table, each migration statement on its own,
                    INSERT INTO flyway_schema_history ...
                    SELECT RELEASE_LOCK('Flyway-<same>')       (connection stays open)
Liquibase `update`: UPDATE DATABASECHANGELOGLOCK SET `LOCKED` = 1, ... WHERE ID = 1 AND `LOCKED` = 0
                    ... changesets, INSERT INTO DATABASECHANGELOG ...
                    UPDATE DATABASECHANGELOGLOCK SET `LOCKED` = 0, ... WHERE ID = 1

Both end their migration by releasing the lock WITHOUT disconnecting: other
sessions' DDL must be refused while the lock is held and allowed right
after the release. Under DDLGATE_DIRECT=1 the statements run against MariaDB
itself.

test_tools_liquibase.py runs the real `liquibase update`; the CLI
disconnects when done, so the Liquibase replay stays for what only an
application that embeds Liquibase does: clear the lock row and keep its
pooled connection.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import rows as run  # noqa: E402


def java_hash(s):
	"""java.lang.String.hashCode() (Flyway names its lock with it)."""
	h = 0
	for ch in s:  # ASCII names: one UTF-16 unit per character
		h = (31 * h + ord(ch)) & 0xFFFFFFFF
	return h - (1 << 32) if h >= (1 << 31) else h


def setup_schema(name):
	"""The file's MariaDB (with the application's own account) and a
	fresh schema."""
	db = harness.shared_mariadb(accounts=(harness.WEBAPP,))
	db.fresh_database(name)
	return db


def hotfix(gw, schema, table):
	"""The application adds a column to table from its own account;
	returns None or the error."""
	return harness.run_err_once(gw, f"ALTER TABLE {table} ADD COLUMN hotfix INT NULL",
				    database=schema)


def expect_conflict(db, gw, schema, table, what):
	"""The application's hotfix to table is a migration-conflict through
	ddlgate; MariaDB itself accepts it (the column is then dropped again)."""
	err = hotfix(gw, schema, table)
	if harness.DIRECT:
		assert err is None, f"{what}: MariaDB itself accepts it: {err}"
		db.query(f"ALTER TABLE `{schema}`.{table} DROP COLUMN hotfix")
		return
	harness.assert_refused(err, "migration-conflict", what)


def test_flyway_named_lock_holds_the_floor_until_released():
	schema = "flyway_app"
	db = setup_schema(schema)
	gw = harness.gateway(db)
	lock_name = f"Flyway-{java_hash(f'`{schema}`.`flyway_schema_history`')}"

	fw = harness.connect(gw, database=schema)
	assert run(fw, f"SELECT GET_LOCK('{lock_name}',10)")[0][0] == 1
	for sql in (
		f"CREATE TABLE `{schema}`.`flyway_schema_history` (\n"
		"    `installed_rank` INT NOT NULL,\n    `version` VARCHAR(50),\n"
		"    `description` VARCHAR(200) NOT NULL,\n    `type` VARCHAR(20) NOT NULL,\n"
		"    `script` VARCHAR(1000) NOT NULL,\n    `checksum` INT,\n"
		"    `installed_by` VARCHAR(100) NOT NULL,\n"
		"    `installed_on` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,\n"
		"    `execution_time` INT NOT NULL,\n    `success` BOOL NOT NULL,\n"
		"    CONSTRAINT `flyway_schema_history_pk` PRIMARY KEY (`installed_rank`)\n) ENGINE=InnoDB",
		f"CREATE INDEX `flyway_schema_history_s_idx` ON `{schema}`.`flyway_schema_history` (`success`)",
		# V1__create_accounts.sql, statement by statement
		"CREATE TABLE accounts (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
		"email VARCHAR(191) NOT NULL, UNIQUE KEY accounts_email_uk (email))",
		f"INSERT INTO `{schema}`.`flyway_schema_history` (`installed_rank`, `version`, "
		"`description`, `type`, `script`, `checksum`, `installed_by`, `execution_time`, `success`) "
		"VALUES (1, '1', 'create accounts', 'SQL', 'V1__create_accounts.sql', -1318540612, 'app', 12, 1)",
	):
		run(fw, sql)

	expect_conflict(db, gw, schema, "accounts", "DDL while Flyway holds its lock")

	# V2 on the same connection: still the migration's.
	run(fw, "ALTER TABLE accounts ADD COLUMN display_name VARCHAR(100) NULL")
	assert db.column_exists(schema, "accounts", "display_name")

	# Flyway releases the lock and keeps its connection (pooled DataSource).
	assert run(fw, f"SELECT RELEASE_LOCK('{lock_name}')")[0][0] == 1
	err = hotfix(gw, schema, "accounts")
	assert err is None, f"after RELEASE_LOCK, DDL is allowed again: {err}"
	fw.close()


def test_liquibase_lock_row_holds_the_floor_until_cleared():
	schema = "liquibase_app"
	db = setup_schema(schema)
	gw = harness.gateway(db)

	lb = harness.connect(gw, database=schema)
	for sql in (
		f"CREATE TABLE {schema}.DATABASECHANGELOGLOCK (ID INT NOT NULL, `LOCKED` TINYINT NOT NULL, "
		"LOCKGRANTED datetime NULL, LOCKEDBY VARCHAR(255) NULL, "
		"CONSTRAINT PK_DATABASECHANGELOGLOCK PRIMARY KEY (ID))",
		f"DELETE FROM {schema}.DATABASECHANGELOGLOCK",
		f"INSERT INTO {schema}.DATABASECHANGELOGLOCK (ID, `LOCKED`) VALUES (1, 0)",
		f"SELECT `LOCKED` FROM {schema}.DATABASECHANGELOGLOCK WHERE ID=1",
	):
		run(lb, sql)
	with lb.cursor() as cur:
		n = cur.execute(f"UPDATE {schema}.DATABASECHANGELOGLOCK SET `LOCKED` = 1, "
				"LOCKEDBY = 'deploy-host (10.0.0.7)', LOCKGRANTED = NOW() "
				"WHERE ID = 1 AND `LOCKED` = 0")
	assert n == 1
	for sql in (
		f"CREATE TABLE {schema}.DATABASECHANGELOG (ID VARCHAR(255) NOT NULL, AUTHOR VARCHAR(255) NOT NULL, "
		"FILENAME VARCHAR(255) NOT NULL, DATEEXECUTED datetime NOT NULL, ORDEREXECUTED INT NOT NULL, "
		"EXECTYPE VARCHAR(10) NOT NULL, MD5SUM VARCHAR(35) NULL, `DESCRIPTION` VARCHAR(255) NULL, "
		"COMMENTS VARCHAR(255) NULL, TAG VARCHAR(255) NULL, LIQUIBASE VARCHAR(20) NULL, "
		"CONTEXTS VARCHAR(255) NULL, LABELS VARCHAR(255) NULL, DEPLOYMENT_ID VARCHAR(10) NULL)",
		f"CREATE TABLE {schema}.person (id INT AUTO_INCREMENT NOT NULL, name VARCHAR(50) NOT NULL, "
		"CONSTRAINT PK_PERSON PRIMARY KEY (id))",
		f"INSERT INTO {schema}.DATABASECHANGELOG (ID, AUTHOR, FILENAME, DATEEXECUTED, ORDEREXECUTED, "
		"MD5SUM, `DESCRIPTION`, COMMENTS, EXECTYPE, CONTEXTS, LABELS, LIQUIBASE, DEPLOYMENT_ID) "
		"VALUES ('1', 'dev', 'db/changelog.xml', NOW(), 1, '9:0a1b', 'createTable tableName=person', "
		"'', 'EXECUTED', NULL, NULL, '4.25.0', '1234567890')",
	):
		run(lb, sql)

	expect_conflict(db, gw, schema, "person", "DDL while Liquibase holds its lock row")

	with lb.cursor() as cur:
		n = cur.execute(f"UPDATE {schema}.DATABASECHANGELOGLOCK SET `LOCKED` = 0, "
				"LOCKEDBY = NULL, LOCKGRANTED = NULL WHERE ID = 1")
	assert n == 1
	err = hotfix(gw, schema, "person")
	assert err is None, f"after the lock row is cleared, DDL is allowed again: {err}"
	lb.close()


if __name__ == "__main__":
	harness.main(globals())
