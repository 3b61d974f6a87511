/* The step decision: does an earlier statement write rows a later guard reads (table-driven). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rules/lex.h"
#include "rules/step.h"

struct step_case {
	const char *earlier[3]; /* earlier statements, NULL-terminated */
	const char *schema;	/* their current schema */
	const char *read_schema, *read_table;
	bool step;
};

static const struct step_case cases[] = {
    /* the dbmate case: the fix, then the unique key */
    {{"UPDATE t SET u = id WHERE u = 1", NULL}, "app", "app", "t", true},
    {{"update `t` set u = id", NULL}, "app", "app", "T", true},
    {{"INSERT INTO t (a) VALUES (1)", NULL}, "app", "app", "t", true},
    {{"INSERT INTO app.t VALUES (1)", NULL}, "other", "app", "t", true},
    {{"REPLACE INTO t VALUES (1)", NULL}, "app", "app", "t", true},
    {{"DELETE FROM t WHERE id > 3", NULL}, "app", "app", "t", true},
    {{"DELETE a FROM t a JOIN t b ON a.u = b.u AND a.id > b.id", NULL}, "app", "app", "t", true},
    {{"UPDATE t JOIN s ON t.id = s.id SET t.u = s.u", NULL}, "app", "app", "t", true},
    {{"LOAD DATA INFILE '/x' INTO TABLE t", NULL}, "app", "app", "t", true},
    /* a procedure may write anything */
    {{"CALL fix_all()", NULL}, "app", "app", "t", true},
    /* another table, another schema: the data the guard reads stays */
    {{"INSERT INTO other (a) VALUES (1)", NULL}, "app", "app", "t", false},
    {{"UPDATE t SET u = 1", NULL}, "app", "other", "t", false},
    {{"INSERT INTO schema_migrations (version) VALUES ('1')", NULL}, "app", "app", "t", false},
    /* reads, settings and DDL change no rows */
    {{"SELECT * FROM t", NULL}, "app", "app", "t", false},
    {{"SET @x = 1", "SELECT COUNT(*) FROM t", NULL}, "app", "app", "t", false},
    {{"CREATE TABLE s (id INT PRIMARY KEY)", NULL}, "app", "app", "t", false},
    /* one writer among several is enough */
    {{"SELECT 1", "INSERT INTO s VALUES (2)", "UPDATE t SET u = id"}, "app", "app", "t", true},
    /* no earlier statement */
    {{NULL}, "app", "app", "t", false},
};

/* The same read as the server does under sql_mode ANSI_QUOTES. */
static const struct step_case ansi_cases[] = {
    {{"UPDATE \"t\" SET u = id", NULL}, "app", "app", "t", true},
    {{"INSERT INTO \"other\" VALUES (1)", NULL}, "app", "app", "t", false},
};

/* Runs the cases with lex flags mode; returns how many failed. */
static int run_cases(const struct step_case *tab, size_t n, unsigned mode)
{
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		const struct step_case *c = &tab[i];
		struct step_stmt w[3];
		size_t nw = 0;
		while (nw < 3 && c->earlier[nw]) {
			w[nw] = (struct step_stmt){c->earlier[nw], strlen(c->earlier[nw]),
						   c->schema, mode};
			nw++;
		}
		struct step_table r = {c->read_schema, c->read_table};
		bool got = step_writes_any(w, nw, &r, 1);
		if (got != c->step) {
			print_error("case %zu (%s ...): want %d, got %d\n", i,
				    c->earlier[0] ? c->earlier[0] : "-", c->step, got);
			failed++;
		}
	}
	return failed;
}

static void test_step_table(void **state)
{
	(void)state;
	assert_int_equal(run_cases(cases, sizeof(cases) / sizeof(cases[0]), 0), 0);
	assert_int_equal(
	    run_cases(ansi_cases, sizeof(ansi_cases) / sizeof(ansi_cases[0]), LEX_ANSI_QUOTES), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_step_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
