/* Table-driven tests of the raw-SQL scanners (data/sqlscan.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rules/sqlscan.h"
#include "rules_testdata.h"

/* Every scanner's answer for one statement, in one canonical line:
 * "lock=none|default|N mode=-1|0|1 use=name|- write=yes|no". */
static void render(const char *sql, char *out, size_t n)
{
	size_t len = strlen(sql);
	long lw = sqlscan_lock_wait(sql, len);
	char lock[32], use[192];
	if (lw == SQLSCAN_LOCK_WAIT_NONE)
		snprintf(lock, sizeof(lock), "none");
	else if (lw == SQLSCAN_LOCK_WAIT_DEFAULT)
		snprintf(lock, sizeof(lock), "default");
	else
		snprintf(lock, sizeof(lock), "%ld", lw);
	if (!sqlscan_use_schema(sql, len, use, sizeof(use)))
		snprintf(use, sizeof(use), "-");
	size_t kw = strcspn(sql, " (;");
	snprintf(out, n, "lock=%s mode=%d use=%s write=%s", lock, sqlscan_sql_mode(sql, len), use,
		 sqlscan_is_write_kw(sql, kw) ? "yes" : "no");
}

/* The KILL scanner's answer: "kill=<id>" or "kill=-". */
static void render_kill(const char *sql, char *out, size_t n)
{
	unsigned long id;
	if (sqlscan_kill_connection(sql, strlen(sql), &id))
		snprintf(out, n, "kill=%lu", id);
	else
		snprintf(out, n, "kill=-");
}

/* Runs every case of a table file through render; at least min cases. */
static void run_table(const char *file, void (*render_fn)(const char *, char *, size_t), size_t min)
{
	struct tcases t = td_load(file);
	int failed = 0;
	assert_true(t.n >= min);
	for (size_t i = 0; i < t.n; i++) {
		const struct tcase *c = &t.v[i];
		char got[512];
		render_fn(c->sql, got, sizeof(got));
		if (strcmp(got, c->want) != 0) {
			printf("%s:%u:\n  want: %s\n  got:  %s\n", file, c->line, c->want, got);
			failed++;
		}
	}
	printf("%s: %zu cases, %d failed\n", file, t.n, failed);
	td_free(&t);
	assert_int_equal(failed, 0);
}

static void test_sqlscan_table(void **state)
{
	run_table("sqlscan.txt", render, 20);
}

/* KILL [HARD|SOFT] [CONNECTION] <id> (data/sqlscan_kill.txt). */
static void test_sqlscan_kill_table(void **state)
{
	run_table("sqlscan_kill.txt", render_kill, 15);
}

/* The keyword comparison the fast path uses: exact length, any case. */
static void test_sqlscan_kw(void **state)
{
	static const struct {
		const char *kw;
		const char *want;
		bool match;
	} cases[] = {
	    {"set", "SET", true},	{"SETS", "SET", false}, {"SE", "SET", false},
	    {"Select", "SELECT", true}, {NULL, "SET", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(
		    sqlscan_kw(cases[i].kw, cases[i].kw ? strlen(cases[i].kw) : 0, cases[i].want),
		    cases[i].match);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sqlscan_table),
	    cmocka_unit_test(test_sqlscan_kill_table),
	    cmocka_unit_test(test_sqlscan_kw),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
