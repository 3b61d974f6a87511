/*
 * Integration test of the audit mirror (proxy/audit_mirror.c) against a
 * throw-away MariaDB on a unix socket: every line reaches the table once,
 * byte for byte, and a backend that is down costs the file nothing.
 * Registered with label integration: it starts a real server.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mysql.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit_fixture.h"
#include "proxy/audit.h"

static char dbdir[256];
static char dbsock[300];
static pid_t dbpid;

static MYSQL *db_connect(const char *user, const char *pass)
{
	MYSQL *c = mysql_init(NULL);
	unsigned t = 1;
	mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &t);
	if (!mysql_real_connect(c, NULL, user, pass, NULL, 0, dbsock, 0)) {
		mysql_close(c);
		return NULL;
	}
	return c;
}

/* Installs and starts mariadbd on a unix socket in a temporary directory
 * (no TCP) and creates the account the mirror uses. Returns false when no
 * MariaDB server can be started here (the test is then skipped). */
static bool db_start(void)
{
	if (access("/usr/sbin/mariadbd", X_OK) != 0 || geteuid() != 0)
		return false;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dbdir, sizeof dbdir, "%s/ddlgate-mirror-XXXXXX", base);
	if (!mkdtemp(dbdir))
		return false;
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
		 "mariadb-install-db --no-defaults --auth-root-authentication-method=normal "
		 "--datadir=%s/data --user=root --skip-test-db >%s/install.log 2>&1",
		 dbdir, dbdir);
	if (system(cmd) != 0)
		return false;
	snprintf(dbsock, sizeof dbsock, "%s/s.sock", dbdir);
	char datadir[300], pidf[300], logf[300], sockarg[320];
	snprintf(datadir, sizeof datadir, "--datadir=%s/data", dbdir);
	snprintf(pidf, sizeof pidf, "--pid-file=%s/m.pid", dbdir);
	snprintf(logf, sizeof logf, "--log-error=%s/error.log", dbdir);
	snprintf(sockarg, sizeof sockarg, "--socket=%s", dbsock);
	dbpid = fork();
	if (dbpid == 0) {
		execl("/usr/sbin/mariadbd", "mariadbd", "--no-defaults", datadir, sockarg, pidf,
		      logf, "--skip-networking", "--user=root", "--skip-log-bin",
		      "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=16M",
		      "--innodb-flush-log-at-trx-commit=2", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 600; i++) {
		MYSQL *c = db_connect("root", "");
		if (c) {
			static const char *const setup_sql[] = {
			    "CREATE USER 'mirror'@'localhost' IDENTIFIED BY 'mpw'",
			    "GRANT INSERT, CREATE, SELECT ON `ddlgate`.* TO 'mirror'@'localhost'",
			};
			bool ok = true;
			for (size_t k = 0; k < 2; k++)
				ok &= mysql_query(c, setup_sql[k]) == 0;
			mysql_close(c);
			return ok;
		}
		if (waitpid(dbpid, NULL, WNOHANG) == dbpid) {
			dbpid = 0;
			return false;
		}
		usleep(100 * 1000);
	}
	return false;
}

static void db_stop(void)
{
	if (dbpid > 0) {
		kill(dbpid, SIGTERM);
		waitpid(dbpid, NULL, 0);
		dbpid = 0;
	}
	if (dbdir[0] && strstr(dbdir, "ddlgate-mirror-")) {
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dbdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dbdir);
	}
	dbdir[0] = '\0';
}

static uint64_t db_count(MYSQL *c, const char *sql)
{
	if (mysql_query(c, sql) != 0)
		fail_msg("%s: %s", sql, mysql_error(c));
	MYSQL_RES *res = mysql_store_result(c);
	MYSQL_ROW row = mysql_fetch_row(res);
	uint64_t n = row && row[0] ? strtoull(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	return n;
}

/* Every line reaches the table exactly once, byte for byte; a backend that
 * is down costs the file nothing. */
static void test_mirror(void **state)
{
	if (!db_start()) {
		db_stop();
		skip();
	}
	char path[512];
	afx_path(path, sizeof path, "mirror.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	c->audit.mirror = true;
	c->audit.mirror_table = strdup("ddlgate.audit");
	c->proxy.backend_socket = strdup(dbsock);
	c->guard.user = strdup("mirror");
	c->guard.password = strdup("mpw");
	char err[256];
	struct afx_count cc = AFX_COUNT_INIT;
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	afx_write_n(a, 1, 150, &cc);
	for (int i = 151; i <= 250; i++)
		assert_true(audit_submit(a, afx_sample_rec(i, "ALTER TABLE t ADD c INT"),
					 afx_count_cb, &cc));
	audit_close(a);
	assert_int_equal(cc.ok, 250);

	/* a restart mirrors on: no duplicates, seq continues */
	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	afx_write_n(a, 251, 5, &cc);
	struct audit_stats st;
	usleep(300 * 1000);
	audit_get_stats(a, &st);
	audit_close(a);

	MYSQL *db = db_connect("root", "");
	assert_non_null(db);
	assert_int_equal(db_count(db, "SELECT COUNT(*) FROM ddlgate.audit"), 255);
	assert_int_equal(db_count(db, "SELECT COUNT(DISTINCT seq) FROM ddlgate.audit "
				      "WHERE instance = 'test-instance'"),
			 255);
	assert_int_equal(db_count(db, "SELECT MAX(seq) FROM ddlgate.audit"), 255);
	assert_int_equal(db_count(db, "SELECT COUNT(*) FROM ddlgate.audit WHERE "
				      "ts = '2026-11-29 02:03:04.123459' AND kind = 'ddl'"),
			 1);
	/* the stored line is the file's line */
	FILE *f = fopen(path, "r");
	char line[8192];
	for (int i = 0; i < 7; i++)
		assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	assert_int_equal(mysql_query(db, "SELECT record, hash FROM ddlgate.audit WHERE seq = 7"),
			 0);
	MYSQL_RES *res = mysql_store_result(db);
	MYSQL_ROW row = mysql_fetch_row(res);
	assert_non_null(row);
	assert_string_equal(row[0], line);
	assert_non_null(strstr(line, row[1]));
	mysql_free_result(res);
	mysql_close(db);

	/* backend gone: the file and the callbacks do not notice, close is bounded */
	db_stop();
	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	afx_write_n(a, 256, 3, &cc);
	assert_int_equal(cc.ok, 258);
	assert_true(audit_healthy(a));
	audit_close(a);
	const char *files[] = {path};
	assert_int_equal(afx_check_chain(files, 1, 1, AUDIT_ZERO_HASH), 258);
	afx_cfg_free(c);
}

/* A failed test must not leave its server running. */
static int teardown(void **state)
{
	db_stop();
	return afx_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mirror, afx_setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
