/* Table-driven tests of the statement splitter (data/split.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rules/split.h"
#include "rules_testdata.h"

struct sink {
	char *out; /* owned */
	size_t used, cap;
	int stop_after; /* 0: never stop */
	int count;
};

static void put(struct sink *s, const char *p, size_t n)
{
	if (s->used + n + 1 > s->cap) {
		s->cap = 2 * (s->cap + n + 1);
		s->out = realloc(s->out, s->cap);
	}
	memcpy(s->out + s->used, p, n);
	s->used += n;
	s->out[s->used] = '\0';
}

/* Each piece renders as "@line text" with newlines shown as \n, pieces
 * separated by " || ". */
static bool collect(const struct split_piece *piece, void *arg)
{
	struct sink *s = arg;
	char head[32];
	int n = snprintf(head, sizeof(head), "%s@%u ", s->used ? " || " : "", piece->line);
	put(s, head, (size_t)n);
	for (size_t i = 0; i < piece->len; i++) {
		if (piece->sql[i] == '\n')
			put(s, "\\n", 2);
		else
			put(s, piece->sql + i, 1);
	}
	s->count++;
	return !(s->stop_after && s->count >= s->stop_after);
}

static void test_split_table(void **state)
{
	struct tcases t = td_load("split.txt");
	int failed = 0;
	assert_true(t.n > 0);
	for (size_t i = 0; i < t.n; i++) {
		struct tcase *c = &t.v[i];
		struct sink s = {0};
		s.stop_after = td_has_opt(c, "stop2") ? 2 : 0;
		put(&s, "", 0);
		s.used = 0;
		unsigned flags = (td_has_opt(c, "file") ? SPLIT_FILE : 0) |
				 (td_lex_mode(c) & ~(unsigned)LEX_KEEP_COMMENTS);
		size_t len = td_sql_bytes(c);
		bool ok = split_sql(c->sql, len, flags, collect, &s);
		if (!ok)
			put(&s, " !unterminated", 14);
		char shown[1024];
		td_show_bytes(c, s.out, strlen(s.out), shown, sizeof(shown));
		if (strcmp(shown, c->want) != 0) {
			printf("split.txt:%u:\n  want: %s\n  got:  %s\n", c->line, c->want, shown);
			failed++;
		}
		free(s.out);
	}
	printf("split: %zu cases, %d failed\n", t.n, failed);
	td_free(&t);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
