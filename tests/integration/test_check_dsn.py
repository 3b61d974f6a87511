# `ddlgate check --dsn`: data-dependent rules decided by read-only probes against a live MariaDB.
import json
import os
import subprocess

import harness as h

DB = None
PROBER = "prober"
PROBER_PASSWORD = "probe-secret"


def db():
	"""The file's MariaDB, with a read-only account for the probes."""
	global DB
	if DB is None:
		# a private tmpdir: the probes' GROUP BY may spill to disk, and /tmp
		# is shared with whatever else runs on the machine
		DB = h.shared_mariadb(args=[f"--tmpdir={h.tmpdir('mariadb-tmp-')}"])
		for sql in (
			f"CREATE OR REPLACE USER '{PROBER}'@'127.0.0.1' IDENTIFIED BY '{PROBER_PASSWORD}'",
			f"GRANT SELECT ON *.* TO '{PROBER}'@'127.0.0.1'",
		):
			DB.query(sql)
	return DB


def schema(name, *statements):
	"""A fresh schema holding what statements create (run as root)."""
	d = db()
	d.query(f"DROP DATABASE IF EXISTS `{name}`")
	d.query(f"CREATE DATABASE `{name}`")
	c = d.admin_connect(database=name)
	try:
		with c.cursor() as cur:
			for sql in statements:
				cur.execute(sql)
	finally:
		c.close()


def prisma_folder(migrations):
	"""A Prisma migrations/ folder: [(folder name, SQL)], in order."""
	root = h.tmpdir("prisma-")
	mig = os.path.join(root, "migrations")
	os.makedirs(mig)
	with open(os.path.join(mig, "migration_lock.toml"), "w") as f:
		f.write('provider = "mysql"\n')
	for name, sql in migrations:
		os.makedirs(os.path.join(mig, name))
		with open(os.path.join(mig, name, "migration.sql"), "w") as f:
			f.write(sql)
	return mig


def check(path, database, *extra, user=PROBER, password=PROBER_PASSWORD, params="", server=None):
	"""Runs ddlgate check --dsn ... --format json PATH; returns (exit code,
	findings, stderr). params is the DSN's ?query; server defaults to db()."""
	dsn = f"mysql://{user}:{password}@127.0.0.1:{(server or db()).port}/{database}{params}"
	r = subprocess.run([os.environ["DDLGATE_BIN"], "check", "--dsn", dsn, "--format", "json",
			    *extra, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
			   text=True, timeout=60)
	findings = json.loads(r.stdout) if r.stdout.strip() else None
	return r.returncode, findings, r.stderr


INIT = """-- CreateTable
CREATE TABLE `User` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `email` VARCHAR(191) NULL,
    `name` VARCHAR(191) NULL,

    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
"""

UNIQUE_EMAIL = """-- CreateIndex
CREATE UNIQUE INDEX `User_email_key` ON `User`(`email`);
"""

USER_TABLE = ("CREATE TABLE `User` (`id` INTEGER NOT NULL AUTO_INCREMENT, "
	      "`email` VARCHAR(191) NULL, `name` VARCHAR(191) NULL, PRIMARY KEY (`id`)) "
	      "DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")


def guard_conf(text):
	"""A config file for `check -c` holding text (its [guard] section)."""
	conf = os.path.join(h.tmpdir("conf-"), "ddlgate.ini")
	with open(conf, "w") as f:
		f.write(text)
	return conf


def test_unique_refused_with_duplicates():
	"""The live table holds a duplicate: refused, and the finding names a sample."""
	schema("chk_dup", USER_TABLE,
	       "INSERT INTO `User` (email) VALUES ('a@x.org'), ('dup@x.org'), ('dup@x.org'), (NULL)")
	path = prisma_folder([("20240201000000_email_unique", UNIQUE_EMAIL)])
	rc, findings, err = check(path, "chk_dup")
	assert rc == 1, (rc, findings, err)
	assert len(findings) == 1, findings
	f = findings[0]
	assert f["rule"] == "unique-unguarded" and f["decision"] == "block", f
	assert "'dup@x.org'" in f["guard"] and "2 rows" in f["guard"], f
	assert "'dup@x.org'" in f["message"], f


def test_unique_duplicates_masked_by_config():
	"""[guard] sample_values = mask: the finding counts the duplicates but
	quotes no value."""
	schema("chk_dup_mask", USER_TABLE,
	       "INSERT INTO `User` (email) VALUES ('a@x.org'), ('dup@x.org'), ('dup@x.org')")
	conf = guard_conf("[guard]\nsample_values = mask\n")
	path = prisma_folder([("20240201000000_email_unique", UNIQUE_EMAIL)])
	rc, findings, err = check(path, "chk_dup_mask", "-c", conf)
	assert rc == 1, (rc, findings, err)
	f = findings[0]
	assert f["rule"] == "unique-unguarded", f
	assert f["guard"] == "probe: duplicate value '<masked>' (2 rows)", f
	assert "dup@x.org" not in f["message"] and "'<masked>'" in f["message"], f


def test_unique_passes_without_duplicates():
	"""Distinct values and several NULLs (NULLs never collide): passes."""
	schema("chk_nodup", USER_TABLE,
	       "INSERT INTO `User` (email) VALUES ('a@x.org'), ('b@x.org'), (NULL), (NULL)")
	path = prisma_folder([("20240201000000_email_unique", UNIQUE_EMAIL)])
	rc, findings, err = check(path, "chk_nodup")
	assert rc == 0, (rc, findings, err)
	assert findings == [], findings


def test_unique_case_insensitive_collation_is_a_duplicate():
	"""'A@x.org' and 'a@x.org' collide under utf8mb4_unicode_ci, as the index would."""
	schema("chk_ci", USER_TABLE, "INSERT INTO `User` (email) VALUES ('A@x.org'), ('a@x.org')")
	path = prisma_folder([("20240201000000_email_unique", UNIQUE_EMAIL)])
	rc, findings, err = check(path, "chk_ci")
	assert rc == 1, (rc, findings, err)


def test_unique_same_migration_as_table_needs_no_probe():
	"""Init and unique index in one file: the table is new, nothing to probe."""
	schema("chk_new")
	path = prisma_folder([("20240101000000_init", INIT + "\n" + UNIQUE_EMAIL)])
	rc, findings, err = check(path, "chk_new")
	assert rc == 0, (rc, findings, err)


def test_required_column_on_empty_table():
	"""ADD COLUMN NOT NULL without default: passes on an empty live table ..."""
	schema("chk_empty", USER_TABLE)
	path = prisma_folder([("20240301000000_age",
			       "-- AlterTable\nALTER TABLE `User` ADD COLUMN `age` INTEGER NOT NULL;\n")])
	rc, findings, err = check(path, "chk_empty")
	assert rc == 0, (rc, findings, err)


def test_required_column_on_table_with_rows():
	"""... and is refused when the live table holds rows."""
	schema("chk_rows", USER_TABLE, "INSERT INTO `User` (email) VALUES ('a@x.org')")
	path = prisma_folder([("20240301000000_age",
			       "-- AlterTable\nALTER TABLE `User` ADD COLUMN `age` INTEGER NOT NULL;\n")])
	rc, findings, err = check(path, "chk_rows")
	assert rc == 1, (rc, findings, err)
	assert findings[0]["rule"] == "add-required-column", findings
	assert findings[0]["guard"].startswith("probe: table holds"), findings


def test_probe_failure_fails_closed():
	"""A probe the account may not run leaves the statement unguarded: refused."""
	schema("chk_denied", USER_TABLE)
	db().query(f"CREATE OR REPLACE USER 'blind'@'127.0.0.1' IDENTIFIED BY 'blind-secret'")
	db().query("GRANT USAGE ON *.* TO 'blind'@'127.0.0.1'")
	path = prisma_folder([("20240201000000_email_unique", UNIQUE_EMAIL)])
	rc, findings, err = check(path, "", user="blind", password="blind-secret")
	assert rc == 1, (rc, findings, err)
	# no default schema: the probe names no database and fails
	assert findings[0]["guard"].startswith("probe failed"), findings


def test_probes_are_read_only():
	"""The probe session is READ ONLY: even an account that may write cannot."""
	schema("chk_ro", USER_TABLE, "INSERT INTO `User` (email) VALUES ('x@x.org')")
	path = prisma_folder([("20240201000000_email_unique", UNIQUE_EMAIL)])
	rc, findings, err = check(path, "chk_ro", user="root", password=h.ROOT_PASSWORD)
	assert rc == 0, (rc, findings, err)
	rows = db().query("SELECT COUNT(*) FROM chk_ro.`User`")
	assert rows[0][0] == 1, rows


def test_bad_dsn_is_a_usage_error():
	r = subprocess.run([os.environ["DDLGATE_BIN"], "check", "--dsn",
			    f"mysql://{PROBER}:wrong@127.0.0.1:{db().port}/x", h.HERE],
			   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
	assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
	assert "cannot connect" in r.stderr, r.stderr


def test_type_change_reads_the_live_type():
	"""information_schema tells the current type: widening passes, shrinking is refused."""
	schema("chk_type", USER_TABLE, "INSERT INTO `User` (email) VALUES ('a@x.org')")
	wide = prisma_folder([("20240401000000_wider",
			       "ALTER TABLE `User` MODIFY `name` VARCHAR(255) NULL;\n")])
	rc, findings, err = check(wide, "chk_type")
	assert rc == 0, (rc, findings, err)
	narrow = prisma_folder([("20240401000000_narrower",
				 "ALTER TABLE `User` MODIFY `name` VARCHAR(50) NULL;\n")])
	rc, findings, err = check(narrow, "chk_type")
	assert rc == 1, (rc, findings, err)
	assert findings[0]["rule"] == "column-type-change", findings
	assert findings[0]["guard"] == "type: varchar(191) -> varchar(50)", findings


def test_large_table_warns_from_information_schema():
	"""A rebuild of a table above [guard] large_table_bytes warns (exit 0)."""
	schema("chk_large", USER_TABLE, "INSERT INTO `User` (email) VALUES ('a@x.org')")
	conf = guard_conf("[guard]\nlarge_table_bytes = 1024\nprobe_timeout_ms = 3000\n")
	path = prisma_folder([("20240501000000_index",
			       "CREATE INDEX `User_name_idx` ON `User`(`name`);\n")])
	rc, findings, err = check(path, "chk_large", "-c", conf)
	assert rc == 0, (rc, findings, err)
	assert [f["rule"] for f in findings] == ["large-table-ddl"], findings
	assert findings[0]["decision"] == "warn", findings
	assert "bytes (limit 1024)" in findings[0]["guard"], findings


def test_probe_timeout_fails_closed():
	"""A probe slower than probe_timeout_ms is cut off by the server and leaves
	the statement unguarded."""
	schema("chk_slow", USER_TABLE,
	       "INSERT INTO `User` (email, name) SELECT CONCAT('u', seq, '@x.org'), REPEAT('n', 100) "
	       "FROM seq_1_to_100000")
	conf = guard_conf("[guard]\nprobe_timeout_ms = 1\n")
	path = prisma_folder([("20240201000000_email_unique", UNIQUE_EMAIL)])
	rc, findings, err = check(path, "chk_slow", "-c", conf)
	assert rc == 1, (rc, findings, err)
	assert findings[0]["guard"] == "probe failed: timeout", findings
	# the same probe with time enough proves the key safe
	with open(conf, "w") as f:
		f.write("[guard]\nprobe_timeout_ms = 60000\n")
	rc, findings, err = check(path, "chk_slow", "-c", conf)
	assert rc == 0, (rc, findings, err)


def test_dsn_tls_parameter_on_a_server_without_tls():
	"""tls= takes the [tls] backend words: verify-* refuse a server that offers
	no TLS, off and the default (preferred) connect in plaintext."""
	schema("chk_tls", USER_TABLE, "INSERT INTO `User` (email) VALUES ('a@x.org')")
	path = prisma_folder([("20240201000000_email_unique", UNIQUE_EMAIL)])
	for params in ("", "?tls=off", "?tls=preferred"):
		rc, findings, err = check(path, "chk_tls", params=params)
		assert rc == 0, (params, rc, findings, err)
	for params in ("?tls=verify-ca", "?tls=verify-identity"):
		rc, findings, err = check(path, "chk_tls", params=params)
		# verify-identity: the client library refuses before logging in
		assert rc == 2 and ("does not offer TLS" in err or "SSL is required" in err), \
			(params, rc, err)
	rc, findings, err = check(path, "chk_tls", params="?tls=maybe")
	assert rc == 2 and "tls=" in err, (rc, err)


def test_dsn_tls_for_a_require_ssl_account():
	"""On a server with TLS, an account created REQUIRE SSL can probe with the
	default DSN (TLS when offered) and with tls=verify-ca&tls_ca=; tls=off is
	refused by the server."""
	server = h.MariaDB(tls=True)  # the file's shared server has no TLS
	try:
		tls_require_ssl_account(server)
	finally:
		server.stop()


def tls_require_ssl_account(server):
	cert, _ = h.tls_pair()
	for sql in (
		"CREATE OR REPLACE USER 'tls_prober'@'127.0.0.1' IDENTIFIED BY 'tls-secret' REQUIRE SSL",
		"GRANT SELECT ON *.* TO 'tls_prober'@'127.0.0.1'",
		"DROP DATABASE IF EXISTS chk_tls_req",
		"CREATE DATABASE chk_tls_req",
		"CREATE TABLE chk_tls_req.`User` (`id` INTEGER NOT NULL AUTO_INCREMENT, "
		"`email` VARCHAR(191) NULL, `name` VARCHAR(191) NULL, PRIMARY KEY (`id`))",
		"INSERT INTO chk_tls_req.`User` (email) VALUES ('a@x.org')",
	):
		server.query(sql)
	path = prisma_folder([("20240201000000_email_unique", UNIQUE_EMAIL)])
	kw = dict(user="tls_prober", password="tls-secret", server=server)
	for params in ("", f"?tls=verify-ca&tls_ca={cert}"):
		rc, findings, err = check(path, "chk_tls_req", params=params, **kw)
		assert rc == 0, (params, rc, findings, err)
	rc, findings, err = check(path, "chk_tls_req", params="?tls=off", **kw)
	assert rc == 2 and "Access denied" in err, (rc, err)


if __name__ == "__main__":
	h.main(globals())
