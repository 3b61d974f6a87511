/* Table-driven tests of the user-variable value evaluator (data/sqlvalue.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rules/split.h"
#include "rules/sqlvalue.h"
#include "rules_testdata.h"

/* Text being built: the rendering of one case's result. */
struct out {
	char buf[4096];
	size_t n;
};

static void put(struct out *o, const char *s)
{
	for (; *s && o->n + 3 < sizeof(o->buf); s++) {
		if (*s == '\n') {
			o->buf[o->n++] = '\\';
			o->buf[o->n++] = 'n';
		} else {
			o->buf[o->n++] = *s;
		}
	}
	o->buf[o->n] = '\0';
}

/* "'a' | 'b' | NULL", or "unknown: why". */
static void render(struct out *o, const struct sqlv_set *s)
{
	if (s->unknown) {
		put(o, "unknown: ");
		put(o, s->unknown);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			put(o, " | ");
		if (s->v[i]) {
			put(o, "'");
			put(o, s->v[i]);
			put(o, "'");
		} else {
			put(o, "NULL");
		}
	}
}

/* The pieces of a case's script: all but the last are tracked statements. */
struct script {
	struct split_piece p[32];
	size_t n;
};

static bool collect(const struct split_piece *piece, void *arg)
{
	struct script *s = arg;
	if (s->n < 32)
		s->p[s->n++] = *piece;
	return true;
}

/*
 * sql: is a script. Every statement but the last goes through sqlv_track;
 * the last one is, by option:
 *   (none)   an expression for sqlv_eval
 *   prepare  a statement for sqlv_prepared: "[expression text] values",
 *            or "not prepared"
 *   quote    a string whose sqlv_quote form is shown (and must read back)
 *   call     a CALL of the procedure the script's CREATE statement (not
 *            tracked) defines: each PREPARE it runs as "[source] values",
 *            joined by " || ", or "why: ..." when the body is not followed
 */
static void run_case(struct tcase *c, struct out *o)
{
	struct arena a;
	arena_init(&a, 4096);
	struct sqlv_vars *vars = sqlv_vars_new();
	struct script s = {0};
	(void)split_sql(c->sql, strlen(c->sql), SPLIT_FILE, collect, &s);
	assert_true(s.n > 0);
	const struct split_piece *create = NULL;
	for (size_t i = 0; i + 1 < s.n; i++) {
		if (strncmp(s.p[i].sql, "CREATE", 6) == 0)
			create = &s.p[i];
		else
			sqlv_track(vars, &a, s.p[i].sql, s.p[i].len, 0);
	}
	const struct split_piece *last = &s.p[s.n - 1];
	struct sqlv_set set;
	if (td_has_opt(c, "call")) {
		assert_non_null(create);
		struct sqlv_prepare *pp;
		const char *why;
		size_t n = sqlv_call(&a, create->sql, create->len, last->sql, last->len, 0, vars,
				     &pp, &why);
		if (why) {
			put(o, "why: ");
			put(o, why);
		}
		for (size_t i = 0; i < n; i++) {
			put(o, i ? " || [" : "[");
			put(o, pp[i].source);
			put(o, "] ");
			render(o, &pp[i].set);
		}
		const char *target = sqlv_call_target(&a, last->sql, last->len, 0);
		assert_non_null(target);
	} else if (td_has_opt(c, "prepare")) {
		size_t b, e;
		if (sqlv_prepared(&a, last->sql, last->len, 0, vars, &set, &b, &e)) {
			put(o, "[");
			put(o, arena_strndup(&a, last->sql + b, e - b));
			put(o, "] ");
			render(o, &set);
		} else {
			put(o, "not prepared");
		}
	} else if (td_has_opt(c, "quote")) {
		const char *raw = arena_strndup(&a, last->sql, last->len);
		const char *q = sqlv_quote(&a, raw, 0);
		put(o, q);
		assert_true(sqlv_eval(&a, q, strlen(q), 0, NULL, &set));
		assert_int_equal(set.n, 1);
		assert_string_equal(set.v[0], raw);
	} else {
		bool ok = sqlv_eval(&a, last->sql, last->len, 0, vars, &set);
		assert_true(ok == (set.unknown == NULL));
		render(o, &set);
	}
	sqlv_vars_free(vars);
	arena_cleanup(&a);
}

static void test_sqlvalue_table(void **state)
{
	(void)state;
	struct tcases t = td_load("sqlvalue.txt");
	int failed = 0;
	assert_true(t.n > 0);
	for (size_t i = 0; i < t.n; i++) {
		struct tcase *c = &t.v[i];
		struct out o = {.n = 0};
		o.buf[0] = '\0';
		run_case(c, &o);
		if (strcmp(o.buf, c->want) != 0) {
			printf("sqlvalue.txt:%u:\n  want: %s\n  got:  %s\n", c->line, c->want,
			       o.buf);
			failed++;
		}
	}
	printf("sqlvalue: %zu cases, %d failed\n", t.n, failed);
	td_free(&t);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sqlvalue_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
