/* `ddlgate check` on fixture migration folders: exit codes and the three output formats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/facts_mysql.h"
#include "rules_testdata.h"

/* Runs `ddlgate check ARGS...` with stdout captured into *out (caller frees). */
static int run_check(char **out, ...)
{
	char *argv[16];
	int argc = 0;
	argv[argc++] = "check";
	va_list ap;
	va_start(ap, out);
	char *a;
	while ((a = va_arg(ap, char *)) && argc < 15)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;

	fflush(stdout);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	int saved = dup(STDOUT_FILENO);
	dup2(fileno(tmp), STDOUT_FILENO);
	int rc = cmd_check(argc, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	long n = ftell(tmp);
	if (n < 0)
		n = 0;
	rewind(tmp);
	*out = calloc(1, (size_t)n + 1);
	if (fread(*out, 1, (size_t)n, tmp) != (size_t)n)
		fail_msg("cannot read captured output");
	fclose(tmp);
	return rc;
}

/* Runs `ddlgate check --format FORMAT FILE` on a temporary .sql file holding
 * sql[0..n) (one migration); stdout into *out (caller frees). */
static int run_check_text(char **out, const char *format, const char *sql, size_t n)
{
	char path[] = "/tmp/ddlgate_check_XXXXXX.sql";
	int fd = mkstemps(path, 4);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, sql, n), (ssize_t)n);
	close(fd);
	int rc = run_check(out, "--format", format, path, NULL);
	unlink(path);
	return rc;
}

/* Prisma's documented workflow: init, nullable email + unique index in one
 * migration, three nullable columns. Clean. */
static void test_prisma_docs_clean(void **state)
{
	(void)state;
	char *out;
	int rc = run_check(&out, "check/prisma_docs", NULL);
	if (rc != 0)
		print_error("%s", out);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "3 file(s), 6 statement(s): 0 blocking, 0 warning(s)"));
	free(out);
}

/* A unique index on a column that an earlier migration created: refused offline. */
static void test_unique_on_existing_column(void **state)
{
	(void)state;
	char *out;
	int rc = run_check(&out, "--format", "json", "check/prisma_unique_existing", NULL);
	assert_int_equal(rc, 1);
	json_error_t jerr;
	json_t *arr = json_loads(out, 0, &jerr);
	if (!arr)
		fail_msg("bad JSON: %s\n%s", jerr.text, out);
	assert_int_equal(json_array_size(arr), 1);
	json_t *f = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(f, "rule")), "unique-unguarded");
	assert_string_equal(json_string_value(json_object_get(f, "decision")), "block");
	assert_int_equal(json_integer_value(json_object_get(f, "line")), 2);
	const char *file = json_string_value(json_object_get(f, "file"));
	assert_non_null(strstr(file, "20240201000000_email_unique/migration.sql"));
	assert_non_null(
	    strstr(json_string_value(json_object_get(f, "message")), "`User_email_key`"));
	json_decref(arr);
	free(out);
}

static void test_required_column(void **state)
{
	(void)state;
	char *out;
	int rc = run_check(&out, "check/prisma_required_column", NULL);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "migration.sql:2: block [add-required-column]"));
	free(out);
}

/* Plain .sql files: version order, a directive-allowed drop, down files skipped. */
static void test_plain_folder(void **state)
{
	(void)state;
	char *out;
	int rc = run_check(&out, "check/plain", NULL);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "V10__drop_legacy.sql:3: allowed [drop-column]"));
	assert_non_null(strstr(out, "[directive: unused since 3.2]"));
	assert_null(strstr(out, "down.sql"));
	assert_non_null(
	    strstr(out, "3 file(s), 4 statement(s): 0 blocking, 0 warning(s), 1 allowed"));
	free(out);
}

/* sqitch: the plan's changes only (not revert/, not files missing from the plan). */
static void test_sqitch(void **state)
{
	(void)state;
	char *out;
	int rc = run_check(&out, "check/sqitch", NULL);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "deploy/widen.sql:2: block [column-type-change]"));
	assert_null(strstr(out, "aaa_not_in_plan"));
	assert_null(strstr(out, "revert/"));
	assert_non_null(strstr(out, "2 file(s)"));
	free(out);
}

static void test_github_format(void **state)
{
	(void)state;
	char *out;
	int rc = run_check(&out, "--format=github", "check/prisma_unique_existing", NULL);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out,
			       "::error file=check/prisma_unique_existing/migrations/"
			       "20240201000000_email_unique/migration.sql,line=2,title=ddlgate "
			       "unique-unguarded::CREATE UNIQUE INDEX"));
	free(out);
}

/* Up to the end of the message's first sentence (an ellipsis ends none). */
static int first_sentence(const char *m)
{
	const char *stop = strstr(m, ". ");
	while (stop && stop > m && stop[-1] == '.')
		stop = strstr(stop + 1, ". ");
	return stop ? (int)(stop - m) : (int)strlen(m);
}

/*
 * Conditional DDL (data/check_conditional.txt): each case's sql: is one
 * migration file; want: lists its findings as "@line decision [rule]
 * <first sentence of the message>", one per line; opts: rc=N is the exit
 * status expected (0 when absent).
 */
static void test_conditional_table(void **state)
{
	(void)state;
	struct tcases t = td_load("check_conditional.txt");
	int failed = 0;
	assert_true(t.n > 0);
	for (size_t i = 0; i < t.n; i++) {
		struct tcase *c = &t.v[i];
		char *out, rcs[16];
		int rc = run_check_text(&out, "json", c->sql, strlen(c->sql));
		int want_rc = atoi(td_opt_value(c, "rc", rcs, sizeof(rcs)));
		json_error_t jerr;
		json_t *arr = json_loads(out, 0, &jerr);
		if (!arr)
			fail_msg("check_conditional.txt:%u: bad JSON: %s\n%s", c->line, jerr.text,
				 out);
		char *got = NULL;
		size_t cap = 0;
		FILE *m = open_memstream(&got, &cap);
		for (size_t k = 0; k < json_array_size(arr); k++) {
			json_t *f = json_array_get(arr, k);
			const char *msg = json_string_value(json_object_get(f, "message"));
			fprintf(m, "%s@%lld %s [%s] %.*s", k ? "\n" : "",
				(long long)json_integer_value(json_object_get(f, "line")),
				json_string_value(json_object_get(f, "decision")),
				json_string_value(json_object_get(f, "rule")), first_sentence(msg),
				msg);
		}
		fclose(m);
		if (strcmp(got, c->want) != 0 || rc != want_rc) {
			printf(
			    "check_conditional.txt:%u:\n  want (rc %d):\n%s\n  got (rc %d):\n%s\n",
			    c->line, want_rc, c->want, rc, got);
			failed++;
		}
		free(got);
		json_decref(arr);
		free(out);
	}
	printf("check_conditional: %zu cases, %d failed\n", t.n, failed);
	td_free(&t);
	assert_int_equal(failed, 0);
}

/* User variables live in one file's session: a later file does not see them. */
static void test_variables_per_file(void **state)
{
	(void)state;
	char *out;
	int rc = run_check(&out, "check/variables_per_file", NULL);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "V2__prepare.sql:2: block [unparseable-ddl]"));
	assert_non_null(strstr(out, "(@s is not set earlier in this file)"));
	free(out);
}

/* The corpus's Mattermost migration (when the corpus is there): every
 * conditional is judged branch by branch, none is left unparseable, and
 * its DROP COLUMN branches are still refused. */
static void test_corpus_mattermost(void **state)
{
	(void)state;
	const char *dir = getenv("DDLGATE_CORPUS");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "",
		 "mattermost__mattermost__server__channels__db__migrations__mysql__"
		 "000046_create_users.up.sql");
	if (!dir || access(path, R_OK) != 0) {
		print_message("corpus file not found: %s\n", path);
		skip();
	}
	char *out;
	int rc = run_check(&out, path, NULL);
	assert_int_equal(rc, 1);
	assert_null(strstr(out, "[unparseable-ddl]"));
	assert_non_null(strstr(out, "block [drop-column] In one branch of the conditional "
				    "@preparedStatement (\"ALTER TABLE Users DROP COLUMN "
				    "LastActivityAt\")"));
	free(out);
}

/* A procedure whose text holds a NUL byte is kept whole for its CALLs. */
static void test_procedure_with_nul(void **state)
{
	(void)state;
	static const char sql[] = "CREATE PROCEDURE p(t VARCHAR(9))\nBEGIN /* \0 */\n"
				  "  SET @s = CONCAT('DROP TABLE ', t);\n  PREPARE x FROM @s;\n"
				  "END;\nCALL p('legacy');\n";
	char *out;
	int rc = run_check_text(&out, "text", sql, sizeof(sql) - 1);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, ":6: block [drop-table] In CALL p, the prepared statement @s "
				    "(\"DROP TABLE legacy\")"));
	free(out);
}

static void test_config(void **state)
{
	(void)state;
	char *out;
	/* unique-unguarded set to warn: exit 0 with a warning */
	int rc =
	    run_check(&out, "-c", "check/unique_warn.ini", "check/prisma_unique_existing", NULL);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "warn [unique-unguarded]"));
	free(out);
	/* a custom rule */
	rc = run_check(&out, "-c", "check/custom.ini", "check/prisma_docs", NULL);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "block [no-text-columns] TEXT columns are not allowed here"));
	free(out);
	rc = run_check(&out, "-c", "check/bad.ini", "check/prisma_docs", NULL);
	assert_int_equal(rc, 2);
	free(out);
}

static void test_usage_errors(void **state)
{
	(void)state;
	char *out;
	assert_int_equal(run_check(&out, NULL), 2);
	free(out);
	assert_int_equal(run_check(&out, "--format", "xml", "check/plain", NULL), 2);
	free(out);
	assert_int_equal(run_check(&out, "check/no-such-dir", NULL), 2);
	free(out);
	assert_int_equal(run_check(&out, "--bogus", "check/plain", NULL), 2);
	free(out);
	assert_int_equal(run_check(&out, "--dsn", "postgres://x", "check/plain", NULL), 2);
	free(out);
	/* a single file is one migration */
	assert_int_equal(run_check(&out, "check/plain/V1__init.sql", NULL), 0);
	free(out);
}

static void test_dsn_parse(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		bool ok;
		const char *user, *pass, *host, *db, *socket;
		unsigned port;
	} cases[] = {
	    {"mysql://prober:s3cret@127.0.0.1:3306/shop", true, "prober", "s3cret", "127.0.0.1",
	     "shop", NULL, 3306},
	    {"mysql://u@db.example.com/app", true, "u", NULL, "db.example.com", "app", NULL, 0},
	    {"mariadb://u:p%40ss%3A@[::1]:3307/x", true, "u", "p@ss:", "::1", "x", NULL, 3307},
	    {"mysql://u:@localhost/x?socket=%2Frun%2Fmysqld.sock", true, "u", "", "localhost", "x",
	     "/run/mysqld.sock", 0},
	    {"mysql://localhost", true, NULL, NULL, "localhost", NULL, NULL, 0},
	    {"postgres://u@h/x", false, NULL, NULL, NULL, NULL, NULL, 0},
	    {"mysql://u@h:99999/x", false, NULL, NULL, NULL, NULL, NULL, 0},
	    {"mysql://u@h:12ab/x", false, NULL, NULL, NULL, NULL, NULL, 0},
	    {"mysql://u:%zz@h/x", false, NULL, NULL, NULL, NULL, NULL, 0},
	    {"mysql://u@h/x?sslmode=on", false, NULL, NULL, NULL, NULL, NULL, 0},
	    {"127.0.0.1:3306", false, NULL, NULL, NULL, NULL, NULL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct facts_dsn d;
		char err[128];
		bool ok = facts_dsn_parse(cases[i].url, &d, err, sizeof(err));
		if (ok != cases[i].ok)
			fail_msg("%s: parse %s", cases[i].url, ok ? "accepted" : err);
		if (ok) {
#define SAME(field)                                                                                \
	if ((d.field == NULL) != (cases[i].field == NULL) ||                                       \
	    (d.field && strcmp(d.field, cases[i].field) != 0))                                     \
		fail_msg("%s: " #field " is %s", cases[i].url, d.field ? d.field : "NULL");
			SAME(user)
			SAME(pass)
			SAME(host)
			SAME(db)
			SAME(socket)
#undef SAME
			assert_int_equal(d.port, cases[i].port);
		}
		facts_dsn_cleanup(&d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prisma_docs_clean),
	    cmocka_unit_test(test_unique_on_existing_column),
	    cmocka_unit_test(test_required_column),
	    cmocka_unit_test(test_plain_folder),
	    cmocka_unit_test(test_sqitch),
	    cmocka_unit_test(test_github_format),
	    cmocka_unit_test(test_conditional_table),
	    cmocka_unit_test(test_variables_per_file),
	    cmocka_unit_test(test_corpus_mattermost),
	    cmocka_unit_test(test_procedure_with_nul),
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_dsn_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
