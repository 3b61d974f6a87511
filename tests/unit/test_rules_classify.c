/* Table-driven tests of the fast classifier (data/classify.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rules/classify.h"
#include "rules_testdata.h"

static const char *const kind_names[] = {"OTHER", "DDL", "DML", "DCL", "TCL", "EMPTY"};

static void test_classify_table(void **state)
{
	struct tcases t = td_load("classify.txt");
	int failed = 0;
	assert_true(t.n > 0);
	for (size_t i = 0; i < t.n; i++) {
		struct tcase *c = &t.v[i];
		struct classify_info info;
		memset(&info, 0xa5, sizeof(info)); /* every field must be set */
		size_t len = td_sql_bytes(c);
		unsigned mode = td_lex_mode(c);
		enum stmt_kind k = classify_sql_mode(c->sql, len, mode, &info);
		char got[256];
		int n = snprintf(got, sizeof(got), "%s", kind_names[k]);
		if (info.keyword) {
			char kw[128];
			td_show_bytes(c, info.keyword, info.keyword_len, kw, sizeof(kw));
			n += snprintf(got + n, sizeof(got) - n, " kw=%s", kw);
		}
		if (info.has_ddlgate_comment)
			n += snprintf(got + n, sizeof(got) - n, " ddlgate");
		if (info.multi)
			n += snprintf(got + n, sizeof(got) - n, " multi");
		if (info.mode_dependent)
			n += snprintf(got + n, sizeof(got) - n, " mode-dependent");
		if (classify_ambiguous(c->sql, len, mode))
			n += snprintf(got + n, sizeof(got) - n, " ambiguous");
		/* NULL info must give the same kind */
		if (classify_sql_mode(c->sql, len, mode, NULL) != k)
			snprintf(got + n, sizeof(got) - n, " NULL-INFO-DIFFERS");
		if (strcmp(got, c->want) != 0) {
			printf("classify.txt:%u: %s\n  want: %s\n  got:  %s\n", c->line, c->sql,
			       c->want, got);
			failed++;
		}
	}
	printf("classify: %zu cases, %d failed\n", t.n, failed);
	td_free(&t);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
