/* Table-driven tests of the SQL lexer (data/lex.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rules/lex.h"
#include "rules_testdata.h"

static const char *const type_names[] = {
    "EOF", "WORD", "QIDENT", "STRING", "NUMBER",  "HEX",
    "BIT", "VAR",  "PARAM",  "OP",     "COMMENT", "ERROR",
};

/* Renders every token as TYPE(text) separated by spaces; lines are shown
 * as @N after the token when the "lines" option is set. */
static char *render(struct tcase *c)
{
	unsigned flags = td_lex_mode(c);
	bool lines = td_has_opt(c, "lines");
	struct lexer lx;
	struct lex_token tok;
	size_t len = td_sql_bytes(c);
	lex_init(&lx, c->sql, len, flags);
	size_t cap = 4 * len + 64, used = 0;
	char *out = calloc(1, cap);
	while (lex_next(&lx, &tok)) {
		char one[256];
		char text[200];
		size_t tn = td_show_bytes(c, tok.p, tok.n, text, sizeof(text));
		int n = snprintf(one, sizeof(one), "%s%s(%.*s)", used ? " " : "",
				 type_names[tok.type], (int)tn, text);
		if (lines)
			n += snprintf(one + n, sizeof(one) - n, "@%u", tok.line);
		if (used + (size_t)n + 1 > cap) {
			cap = 2 * (cap + (size_t)n);
			out = realloc(out, cap);
		}
		memcpy(out + used, one, (size_t)n + 1);
		used += (size_t)n;
	}
	assert_int_equal(tok.type, LEX_EOF);
	return out;
}

static void test_lex_table(void **state)
{
	struct tcases t = td_load("lex.txt");
	int failed = 0;
	assert_true(t.n > 0);
	for (size_t i = 0; i < t.n; i++) {
		char *got = render(&t.v[i]);
		if (strcmp(got, t.v[i].want) != 0) {
			printf("lex.txt:%u: %s\n  want: %s\n  got:  %s\n", t.v[i].line, t.v[i].sql,
			       t.v[i].want, got);
			failed++;
		}
		free(got);
	}
	printf("lex: %zu cases, %d failed\n", t.n, failed);
	td_free(&t);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lex_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
