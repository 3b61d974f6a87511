/* Fuzz target: the user-variable evaluator over a script of arbitrary bytes,
 * with invariants (value sets stay within their cap, every known value reads
 * back from its quoted form). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/split.h"
#include "rules/sqlvalue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct script {
	struct arena arena;
	struct sqlv_vars *vars;
	const char *create; /* the last CREATE piece, borrowed */
	size_t create_len;
};

/* A set is well formed, and each known value survives quoting. */
static void check_set(struct arena *a, const struct sqlv_set *s)
{
	if (s->n > SQLV_MAX_VALUES || (s->unknown && s->n != 0))
		abort();
	for (size_t i = 0; i < s->n; i++) {
		if (!s->v[i])
			continue;
		const char *q = sqlv_quote(a, s->v[i], 0);
		struct sqlv_set back;
		if (!sqlv_eval(a, q, strlen(q), 0, NULL, &back) || back.n != 1 || !back.v[0] ||
		    strcmp(back.v[0], s->v[i]) != 0)
			abort();
	}
}

static bool on_piece(const struct split_piece *p, void *arg)
{
	struct script *s = arg;
	struct sqlv_set set;
	size_t b, e;
	(void)sqlv_eval(&s->arena, p->sql, p->len, 0, s->vars, &set);
	check_set(&s->arena, &set);
	if (sqlv_prepared(&s->arena, p->sql, p->len, 0, s->vars, &set, &b, &e)) {
		if (b > e || e > p->len)
			abort();
		check_set(&s->arena, &set);
	}
	if (p->len >= 6 && strncmp(p->sql, "CREATE", 6) == 0) {
		s->create = p->sql;
		s->create_len = p->len;
	} else if (s->create && sqlv_call_target(&s->arena, p->sql, p->len, 0)) {
		struct sqlv_prepare *pp;
		const char *why;
		size_t n = sqlv_call(&s->arena, s->create, s->create_len, p->sql, p->len, 0,
				     s->vars, &pp, &why);
		for (size_t i = 0; i < n; i++)
			check_set(&s->arena, &pp[i].set);
	}
	sqlv_track(s->vars, &s->arena, p->sql, p->len, 0);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *sql = malloc(size + 1);
	if (!sql)
		return 0;
	memcpy(sql, data, size);
	sql[size] = '\0';
	struct script s = {.vars = sqlv_vars_new()};
	arena_init(&s.arena, 4096);
	(void)split_sql(sql, size, SPLIT_FILE, on_piece, &s);
	arena_cleanup(&s.arena);
	sqlv_vars_free(s.vars);
	free(sql);
	return 0;
}
