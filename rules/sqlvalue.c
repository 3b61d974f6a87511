/* Set-valued evaluation of the string expressions migrations build DDL text with. */
#include "rules/sqlvalue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/lex.h"

/* Nesting of calls and parentheses the evaluator follows; deeper is unknown. */
#define SQLV_MAX_DEPTH 64
/* Arguments of one CONCAT / COALESCE call. */
#define SQLV_MAX_ARGS 64
/* Combinations a CONCAT may build before duplicates are folded. */
#define SQLV_MAX_COMBINATIONS 256

/* ---- variables -------------------------------------------------------- */

/* A binding; a newer binding of the same key shadows the older one, and a
 * barrier (key NULL) hides everything older behind its unknown reason. */
struct sqlv_var {
	const char *key; /* owned by the arena; lower case; NULL = barrier */
	struct sqlv_set set;
	struct sqlv_var *next; /* older binding */
};

struct sqlv_vars {
	struct arena arena; /* owns every binding and value */
	struct sqlv_var *head;
	const struct sqlv_vars *parent; /* borrowed: asked for names bound nowhere here */
};

struct sqlv_vars *sqlv_vars_new(void)
{
	struct sqlv_vars *v = calloc(1, sizeof(*v));
	if (!v)
		abort();
	arena_init(&v->arena, 4096);
	return v;
}

void sqlv_vars_free(struct sqlv_vars *v)
{
	if (!v)
		return;
	arena_cleanup(&v->arena);
	free(v);
}

static char *lower_dup(struct arena *a, const char *s, size_t n)
{
	char *r = arena_strndup(a, s, n);
	for (char *c = r; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 32);
	return r;
}

static const char *dup_or_null(struct arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

void sqlv_vars_bind(struct sqlv_vars *v, const char *name, size_t n, const struct sqlv_set *s)
{
	struct sqlv_var *b = arena_alloc(&v->arena, sizeof(*b));
	b->key = lower_dup(&v->arena, name, n);
	for (size_t i = 0; i < s->n; i++)
		b->set.v[i] = dup_or_null(&v->arena, s->v[i]);
	b->set.n = s->n;
	b->set.unknown = dup_or_null(&v->arena, s->unknown);
	b->next = v->head;
	v->head = b;
}

void sqlv_vars_forget(struct sqlv_vars *v, const char *why)
{
	struct sqlv_var *b = arena_alloc(&v->arena, sizeof(*b));
	b->set.unknown = dup_or_null(&v->arena, why);
	b->next = v->head;
	v->head = b;
}

const struct sqlv_set *sqlv_vars_get(const struct sqlv_vars *v, const char *name, size_t n)
{
	for (; v; v = v->parent) {
		for (const struct sqlv_var *b = v->head; b; b = b->next) {
			if (!b->key)
				return &b->set;
			if (strlen(b->key) == n && strncasecmp(b->key, name, n) == 0)
				return &b->set;
		}
	}
	return NULL;
}

/* ---- helpers ---------------------------------------------------------- */

/* The statement's tokens (comments dropped), followed by TOKS_PAD LEX_EOF
 * tokens, so a look a few tokens ahead never needs a bounds check. */
#define TOKS_PAD 6
struct toks {
	const struct lex_token *t;
	size_t n;
};

static struct toks lex_all(struct arena *a, const char *sql, size_t len, unsigned flags)
{
	struct lexer lx;
	struct lex_token tok;
	size_t n = 0;
	flags &= ~LEX_KEEP_COMMENTS;
	lex_init(&lx, sql, len, flags);
	while (lex_next(&lx, &tok))
		n++;
	struct lex_token *t = arena_alloc(a, (n + TOKS_PAD) * sizeof(*t));
	size_t k = 0;
	lex_init(&lx, sql, len, flags);
	while (k < n && lex_next(&lx, &tok))
		t[k++] = tok;
	for (size_t i = k; i < n + TOKS_PAD; i++) {
		t[i].type = LEX_EOF;
		t[i].p = sql + len;
	}
	return (struct toks){t, k};
}

/* @name, @`name`, @'name', @"name": a user variable (not @@system). */
static bool is_user_var(const struct lex_token *t)
{
	return t->type == LEX_VARIABLE && t->n >= 2 && t->p[1] != '@';
}

/* "@name", unquoted and lower case, in a. */
static const char *user_var_key(struct arena *a, const struct lex_token *t)
{
	const char *s = t->p + 1;
	size_t n = t->n - 1;
	if (n >= 2 && (s[0] == '`' || s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
		s++;
		n -= 2;
	}
	char *r = arena_alloc(a, n + 2);
	r[0] = '@';
	memcpy(r + 1, s, n);
	for (char *c = r; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 32);
	return r;
}

/* Whether t is one of stops: words compare as keywords, the rest as operators. */
static bool is_stop(const struct lex_token *t, const char *const *stops)
{
	for (; *stops; stops++) {
		bool word = (**stops >= 'A' && **stops <= 'Z');
		if (word ? lex_is_word(t, *stops) : lex_is_op(t, *stops))
			return true;
	}
	return false;
}

/*
 * Index of the first token of t[i..end) that is one of stops outside
 * parentheses and CASE ... END; a ')' closing a parenthesis opened before
 * i ends the scan too (it is returned, no stop). end when none.
 */
static size_t scan_to(const struct lex_token *t, size_t i, size_t end, const char *const *stops)
{
	int depth = 0, cases = 0;
	for (; i < end; i++) {
		if (depth == 0 && cases == 0 && is_stop(&t[i], stops))
			return i;
		if (lex_is_op(&t[i], "(")) {
			depth++;
		} else if (lex_is_op(&t[i], ")")) {
			if (depth-- == 0)
				return i;
		} else if (lex_is_word(&t[i], "CASE")) {
			cases++;
		} else if (lex_is_word(&t[i], "END") && cases > 0) {
			cases--;
		}
	}
	return end;
}

/* ---- the evaluator ---------------------------------------------------- */

struct ev {
	struct arena *a;
	const struct lex_token *t;
	size_t i, end; /* tokens still to read: [i, end) */
	const struct sqlv_vars *vars;
	unsigned flags;
	unsigned depth;
	const char *unknown; /* first reason a value cannot be known */
};

static const struct lex_token ev_eof = {.type = LEX_EOF, .p = "", .n = 0};

static const struct lex_token *cur(const struct ev *e)
{
	return e->i < e->end ? &e->t[e->i] : &ev_eof;
}

static const struct lex_token *peek(const struct ev *e, size_t k)
{
	return e->i + k < e->end ? &e->t[e->i + k] : &ev_eof;
}

static bool fail(struct ev *e, const char *why)
{
	if (!e->unknown)
		e->unknown = why;
	return false;
}

/* A token for a message: at most 40 bytes of it. */
static const char *tok_text(struct ev *e, const struct lex_token *t)
{
	return arena_strndup(e->a, t->p, t->n > 40 ? 40 : t->n);
}

static bool fail_at(struct ev *e, const struct lex_token *t)
{
	if (t->type == LEX_EOF)
		return fail(e, "the expression ends early");
	return fail(e, arena_printf(e->a, "'%s' is not evaluated offline", tok_text(e, t)));
}

static bool expect_op(struct ev *e, const char *op)
{
	if (!lex_is_op(cur(e), op))
		return fail_at(e, cur(e));
	e->i++;
	return true;
}

static bool same_value(const char *x, const char *y)
{
	return x == y || (x && y && strcmp(x, y) == 0);
}

static bool set_add(struct ev *e, struct sqlv_set *s, const char *v)
{
	for (size_t i = 0; i < s->n; i++)
		if (same_value(s->v[i], v))
			return true;
	if (s->n == SQLV_MAX_VALUES)
		return fail(e, arena_printf(e->a, "more than %d possible values", SQLV_MAX_VALUES));
	s->v[s->n++] = v;
	return true;
}

static bool set_union(struct ev *e, struct sqlv_set *s, const struct sqlv_set *add)
{
	for (size_t i = 0; i < add->n; i++)
		if (!set_add(e, s, add->v[i]))
			return false;
	return true;
}

/*
 * A string literal's content: the quotes and a charset introducer dropped,
 * doubled quotes folded, backslash escapes resolved the way the server
 * does (\% and \_ keep their backslash). NULL (unknown) for a NUL byte,
 * which a C string cannot carry: the parser's ps_unquote keeps it and so
 * cuts the text short, which is fine for a name but would judge a shorter
 * statement than the server runs.
 */
static const char *unquote(struct ev *e, const struct lex_token *t)
{
	const char *s = t->p, *end = t->p + t->n;
	while (s < end && *s != '\'' && *s != '"')
		s++;
	if (s >= end || end - s < 2 || end[-1] != *s) {
		fail(e, "an unterminated string");
		return NULL;
	}
	char q = *s++;
	end--;
	char *r = arena_alloc(e->a, (size_t)(end - s) + 1);
	bool nul;
	(void)lex_unquote(q, s, end, !(e->flags & LEX_NO_BACKSLASH_ESCAPES), r, &nul);
	if (nul) {
		fail(e, "a string holding a NUL byte");
		return NULL;
	}
	return r;
}

static bool value(struct ev *e, struct sqlv_set *out);

/*
 * Steps over an expression whose value does not matter (a condition, a
 * FROM clause) up to the first of stops outside parentheses and nested
 * CASE ... END. False when the tokens end first: the text is malformed.
 */
static bool skip_expr(struct ev *e, const char *const *stops)
{
	e->i = scan_to(e->t, e->i, e->end, stops);
	if (e->i < e->end && is_stop(&e->t[e->i], stops))
		return true;
	return fail_at(e, cur(e));
}

/* Copies s to o; returns the end of the copy. */
static char *append(char *o, const char *s)
{
	size_t n = strlen(s);
	memcpy(o, s, n);
	return o + n;
}

/* Concatenations of one value from each argument set (CONCAT; CONCAT_WS
 * when ws: args[0] is the separator and NULL arguments are skipped). */
static bool product(struct ev *e, const struct sqlv_set *args, size_t n, bool ws,
		    struct sqlv_set *out)
{
	size_t idx[SQLV_MAX_ARGS] = {0};
	size_t total = 1;
	for (size_t k = 0; k < n; k++) {
		total *= args[k].n ? args[k].n : 1;
		if (total > SQLV_MAX_COMBINATIONS)
			return fail(
			    e, arena_printf(e->a, "more than %d possible values", SQLV_MAX_VALUES));
	}
	if (n == 0 || (ws && n == 1))
		return fail(e, "CONCAT without arguments");
	for (size_t c = 0; c < total; c++) {
		const char *pick[SQLV_MAX_ARGS];
		bool null = false;
		size_t len = 0;
		for (size_t k = 0; k < n; k++) {
			pick[k] = args[k].n ? args[k].v[idx[k]] : NULL;
			if (pick[k])
				len += strlen(pick[k]);
			else if (!ws || k == 0)
				null = true;
		}
		const char *sep = ws ? pick[0] : NULL;
		if (sep)
			len += strlen(sep) * (n - 1);
		const char *res = NULL;
		if (!null) {
			char *r = arena_alloc(e->a, len + 1), *o = r;
			bool first = true;
			for (size_t k = ws ? 1 : 0; k < n; k++) {
				if (!pick[k])
					continue;
				if (sep && !first)
					o = append(o, sep);
				o = append(o, pick[k]);
				first = false;
			}
			res = r;
		}
		if (!set_add(e, out, res))
			return false;
		/* next combination: an odometer over the argument sets */
		for (size_t k = n; k-- > 0;) {
			if (++idx[k] < args[k].n)
				break;
			idx[k] = 0;
		}
	}
	return true;
}

/* Arguments of a call, after its '(' up to and including its ')'. */
static bool call_args(struct ev *e, struct sqlv_set **args, size_t *n)
{
	*args = arena_alloc(e->a, SQLV_MAX_ARGS * sizeof(**args));
	*n = 0;
	if (lex_is_op(cur(e), ")")) {
		e->i++;
		return true;
	}
	for (;;) {
		if (*n == SQLV_MAX_ARGS)
			return fail(e, "a call with too many arguments");
		if (!value(e, &(*args)[(*n)++]))
			return false;
		if (lex_is_op(cur(e), ",")) {
			e->i++;
			continue;
		}
		return expect_op(e, ")");
	}
}

/* COALESCE(a, b, ...) / IFNULL(a, b): a later argument only matters while
 * every earlier one may be NULL. */
static bool coalesce(struct ev *e, struct sqlv_set *out)
{
	static const char *const arg_end[] = {",", ")", NULL};
	bool maybe_null = true;
	for (;;) {
		if (maybe_null) {
			struct sqlv_set s;
			if (!value(e, &s))
				return false;
			maybe_null = false;
			for (size_t i = 0; i < s.n; i++) {
				if (!s.v[i])
					maybe_null = true;
				else if (!set_add(e, out, s.v[i]))
					return false;
			}
		} else if (!skip_expr(e, arg_end)) {
			return false;
		}
		if (lex_is_op(cur(e), ",")) {
			e->i++;
			continue;
		}
		if (!expect_op(e, ")"))
			return false;
		return !maybe_null || set_add(e, out, NULL);
	}
}

/* IF(cond, a, b): the condition is never decided; both branches count. */
static bool if_call(struct ev *e, struct sqlv_set *out)
{
	static const char *const comma[] = {",", NULL};
	struct sqlv_set b;
	if (!skip_expr(e, comma))
		return false;
	e->i++;
	if (!value(e, out) || !expect_op(e, ",") || !value(e, &b) || !expect_op(e, ")"))
		return false;
	return set_union(e, out, &b);
}

/* name( ... ): the functions that build text; others are unknown. */
static bool call(struct ev *e, struct sqlv_set *out)
{
	const struct lex_token *name = cur(e);
	e->i += 2; /* name ( */
	if (lex_is_word(name, "IF"))
		return if_call(e, out);
	if (lex_is_word(name, "IFNULL") || lex_is_word(name, "COALESCE"))
		return coalesce(e, out);
	bool ws = lex_is_word(name, "CONCAT_WS");
	if (ws || lex_is_word(name, "CONCAT")) {
		struct sqlv_set *args;
		size_t n;
		return call_args(e, &args, &n) && product(e, args, n, ws, out);
	}
	if (lex_is_word(name, "DATABASE") || lex_is_word(name, "SCHEMA"))
		return fail(e, "DATABASE() is the connection's schema, unknown offline");
	return fail(e, arena_printf(e->a, "%s() is not evaluated offline", tok_text(e, name)));
}

/* CASE [x] WHEN c THEN a ... [ELSE b] END: every THEN and the ELSE (NULL
 * without one). */
static bool case_expr(struct ev *e, struct sqlv_set *out)
{
	static const char *const when[] = {"WHEN", NULL};
	static const char *const then[] = {"THEN", NULL};
	e->i++;
	if (!lex_is_word(cur(e), "WHEN") && !skip_expr(e, when))
		return false;
	while (lex_is_word(cur(e), "WHEN")) {
		struct sqlv_set s;
		e->i++;
		if (!skip_expr(e, then))
			return false;
		e->i++;
		if (!value(e, &s) || !set_union(e, out, &s))
			return false;
	}
	if (lex_is_word(cur(e), "ELSE")) {
		struct sqlv_set s;
		e->i++;
		if (!value(e, &s) || !set_union(e, out, &s))
			return false;
	} else if (!set_add(e, out, NULL)) {
		return false;
	}
	if (!lex_is_word(cur(e), "END"))
		return fail_at(e, cur(e));
	e->i++;
	return true;
}

/* ( expr ) or a scalar subquery (SELECT expr [FROM ...]); a subquery that
 * reads a table may find no row, which is NULL. */
static bool paren(struct ev *e, struct sqlv_set *out)
{
	static const char *const close[] = {")", NULL};
	static const char *const clauses[] = {"FROM",  "WHERE", "GROUP", "HAVING",
					      "ORDER", "LIMIT", NULL};
	e->i++;
	if (!lex_is_word(cur(e), "SELECT"))
		return value(e, out) && expect_op(e, ")");
	e->i++;
	if (lex_is_word(cur(e), "ALL") || lex_is_word(cur(e), "DISTINCT"))
		e->i++;
	if (!value(e, out))
		return false;
	if (is_stop(cur(e), clauses)) {
		if (!skip_expr(e, close) || !set_add(e, out, NULL))
			return false;
	}
	return expect_op(e, ")");
}

static bool variable(struct ev *e, struct sqlv_set *out)
{
	const struct lex_token *t = cur(e);
	if (!is_user_var(t))
		return fail(e, arena_printf(e->a, "%s is a server variable", tok_text(e, t)));
	const char *key = user_var_key(e->a, t);
	const struct sqlv_set *s = sqlv_vars_get(e->vars, key, strlen(key));
	if (!s)
		return fail(e, arena_printf(e->a, "%s is not set earlier in this file", key));
	if (s->unknown)
		return fail(e, arena_printf(e->a, "%s: %s", key, s->unknown));
	e->i++;
	return set_union(e, out, s);
}

/* A bare word: a routine parameter bound for this call, else a column or
 * local variable whose value only the server knows. */
static bool name_value(struct ev *e, struct sqlv_set *out)
{
	const struct lex_token *t = cur(e);
	const struct sqlv_set *s = sqlv_vars_get(e->vars, t->p, t->n);
	if (!s)
		return fail(e, arena_printf(e->a, "%s (a column or variable) is unknown offline",
					    tok_text(e, t)));
	if (s->unknown)
		return fail(e, arena_printf(e->a, "%s: %s", tok_text(e, t), s->unknown));
	e->i++;
	return set_union(e, out, s);
}

static bool primary(struct ev *e, struct sqlv_set *out)
{
	const struct lex_token *t = cur(e);
	switch (t->type) {
	case LEX_STRING: {
		const char *s = unquote(e, t);
		e->i++;
		/* adjacent literals are one string: 'a' 'b' is 'ab' */
		while (s && cur(e)->type == LEX_STRING) {
			const char *more = unquote(e, cur(e));
			e->i++;
			s = more ? arena_printf(e->a, "%s%s", s, more) : NULL;
		}
		return s && set_add(e, out, s);
	}
	case LEX_NUMBER:
		for (size_t k = 0; k < t->n; k++)
			if (t->p[k] < '0' || t->p[k] > '9')
				return fail(
				    e, arena_printf(e->a, "the number %s is not evaluated offline",
						    tok_text(e, t)));
		e->i++;
		return set_add(e, out, arena_strndup(e->a, t->p, t->n));
	case LEX_VARIABLE:
		return variable(e, out);
	case LEX_WORD:
		if (lex_is_word(t, "NULL")) {
			e->i++;
			return set_add(e, out, NULL);
		}
		if (lex_is_word(t, "CASE"))
			return case_expr(e, out);
		if (lex_is_op(peek(e, 1), "("))
			return call(e, out);
		return name_value(e, out);
	case LEX_OP:
		if (lex_is_op(t, "("))
			return paren(e, out);
		return fail_at(e, t);
	default:
		return fail_at(e, t);
	}
}

static bool value(struct ev *e, struct sqlv_set *out)
{
	memset(out, 0, sizeof(*out));
	if (e->depth >= SQLV_MAX_DEPTH)
		return fail(e, "an expression nested too deeply");
	e->depth++;
	bool ok = primary(e, out);
	e->depth--;
	return ok;
}

/* Evaluates tokens [b, end) as one whole expression into out. */
static bool eval_range(struct arena *a, const struct lex_token *t, size_t b, size_t end,
		       unsigned flags, const struct sqlv_vars *vars, struct sqlv_set *out)
{
	struct ev e = {.a = a, .t = t, .i = b, .end = end, .vars = vars, .flags = flags};
	bool ok = value(&e, out) && (e.i == e.end || fail_at(&e, cur(&e)));
	if (!ok) {
		out->n = 0;
		out->unknown = e.unknown ? e.unknown : "unknown";
	}
	return ok;
}

bool sqlv_eval(struct arena *a, const char *expr, size_t len, unsigned lex_flags,
	       const struct sqlv_vars *vars, struct sqlv_set *out)
{
	struct toks k = lex_all(a, expr, len, lex_flags);
	return eval_range(a, k.t, 0, k.n, lex_flags, vars, out);
}

/* ---- statements ------------------------------------------------------- */

static void bind_unknown(struct sqlv_vars *vars, struct arena *a, const struct lex_token *t,
			 const char *why)
{
	const char *key = user_var_key(a, t);
	struct sqlv_set s = {.unknown = why};
	sqlv_vars_bind(vars, key, strlen(key), &s);
}

void sqlv_track(struct sqlv_vars *vars, struct arena *a, const char *sql, size_t len,
		unsigned lex_flags)
{
	if (!lex_contains_ci(sql, len, "@") && !lex_contains_ci(sql, len, "CALL"))
		return;
	/* One streaming pass, no token array: a long INSERT that merely holds
	 * an '@' costs no memory. Assignments the evaluator does not model
	 * make the variable unknown. */
	struct lexer lx;
	struct lex_token t, prev = {.type = LEX_EOF}, first = {.type = LEX_EOF};
	bool into = false; /* inside the target list of an INTO */
	lex_init(&lx, sql, len, lex_flags & ~LEX_KEEP_COMMENTS);
	while (lex_next(&lx, &t)) {
		if (first.type == LEX_EOF) {
			first = t;
			if (lex_is_word(&t, "CALL")) {
				bool named = lex_next(&lx, &t);
				sqlv_vars_forget(vars,
						 arena_printf(a, "CALL %.*s may have changed it",
							      named ? (int)t.n : 7,
							      named ? t.p : "routine"));
				return;
			}
		}
		if (is_user_var(&prev) && lex_is_op(&t, ":="))
			bind_unknown(vars, a, &prev, "assigned inside an expression");
		if (into && is_user_var(&t))
			bind_unknown(vars, a, &t, "assigned by SELECT ... INTO");
		into = lex_is_word(&t, "INTO") ||
		       (into && (is_user_var(&t) || lex_is_op(&t, ",") || t.type == LEX_WORD ||
				 t.type == LEX_QUOTED_IDENT));
		prev = t;
	}
	if (!lex_is_word(&first, "SET"))
		return;
	struct toks k = lex_all(a, sql, len, lex_flags);
	for (size_t b = 1; b < k.n;) {
		static const char *const next[] = {",", ";", NULL};
		size_t e = scan_to(k.t, b, k.n, next);
		if (e >= b + 2 && is_user_var(&k.t[b]) &&
		    (lex_is_op(&k.t[b + 1], "=") || lex_is_op(&k.t[b + 1], ":="))) {
			struct sqlv_set s;
			(void)eval_range(a, k.t, b + 2, e, lex_flags, vars, &s);
			const char *key = user_var_key(a, &k.t[b]);
			sqlv_vars_bind(vars, key, strlen(key), &s);
		}
		b = e + 1;
	}
}

bool sqlv_prepared(struct arena *a, const char *sql, size_t len, unsigned lex_flags,
		   const struct sqlv_vars *vars, struct sqlv_set *out, size_t *begin, size_t *end)
{
	struct toks k = lex_all(a, sql, len, lex_flags);
	size_t b, e = k.n;
	if (k.n >= 4 && lex_is_word(&k.t[0], "PREPARE") &&
	    (k.t[1].type == LEX_WORD || k.t[1].type == LEX_QUOTED_IDENT) &&
	    lex_is_word(&k.t[2], "FROM")) {
		b = 3;
	} else if (k.n >= 3 && lex_is_word(&k.t[0], "EXECUTE") &&
		   lex_is_word(&k.t[1], "IMMEDIATE")) {
		static const char *const using[] = {"USING", NULL};
		b = 2;
		e = scan_to(k.t, b, k.n, using);
	} else {
		return false;
	}
	while (e > b && lex_is_op(&k.t[e - 1], ";"))
		e--;
	if (e <= b)
		return false;
	*begin = (size_t)(k.t[b].p - sql);
	*end = (size_t)(k.t[e - 1].p + k.t[e - 1].n - sql);
	(void)eval_range(a, k.t, b, e, lex_flags, vars, out);
	return true;
}

const char *sqlv_quote(struct arena *a, const char *s, unsigned lex_flags)
{
	bool esc = !(lex_flags & LEX_NO_BACKSLASH_ESCAPES);
	size_t n = strlen(s);
	char *r = arena_alloc(a, 2 * n + 3), *o = r;
	*o++ = '\'';
	for (; *s; s++) {
		if (*s == '\'' || (esc && *s == '\\'))
			*o++ = *s;
		*o++ = *s;
	}
	*o++ = '\'';
	*o = '\0';
	return r;
}

/* ---- stored procedures ------------------------------------------------ */

/* Index of the first token from i that is word w outside parentheses and
 * CASE ... END, or k->n. */
static size_t find_word(const struct toks *k, size_t i, const char *w)
{
	const char *const stops[] = {w, NULL};
	return scan_to(k->t, i, k->n, stops);
}

static const char *ident_text(struct arena *a, const struct lex_token *t)
{
	if (t->type == LEX_QUOTED_IDENT && t->n >= 2)
		return arena_strndup(a, t->p + 1, t->n - 2);
	return arena_strndup(a, t->p, t->n);
}

/* Whether token i (a name) is assigned: SET x = / , x = / x := / INTO x. */
static bool assigned_at(const struct toks *k, size_t i)
{
	const struct lex_token *next = &k->t[i + 1];
	if (lex_is_op(next, ":="))
		return true;
	if (i > 0 && lex_is_op(next, "=") &&
	    (lex_is_word(&k->t[i - 1], "SET") || lex_is_op(&k->t[i - 1], ",")))
		return true;
	/* INTO a, b, x */
	size_t j = i;
	while (j >= 2 && lex_is_op(&k->t[j - 1], ",") &&
	       (k->t[j - 2].type == LEX_WORD || k->t[j - 2].type == LEX_VARIABLE ||
		k->t[j - 2].type == LEX_QUOTED_IDENT))
		j -= 2;
	return j >= 1 && lex_is_word(&k->t[j - 1], "INTO");
}

const char *sqlv_call_target(struct arena *a, const char *sql, size_t len, unsigned lex_flags)
{
	struct toks k = lex_all(a, sql, len, lex_flags);
	if (k.n < 2 || !lex_is_word(&k.t[0], "CALL"))
		return NULL;
	size_t i = 1;
	if (lex_is_op(&k.t[2], ".") && k.n > 3)
		i = 3;
	if (k.t[i].type != LEX_WORD && k.t[i].type != LEX_QUOTED_IDENT)
		return NULL;
	const char *name = ident_text(a, &k.t[i]);
	return lower_dup(a, name, strlen(name));
}

/* Characteristics between a routine's parameter list and its body. */
static bool characteristic(const struct lex_token *t)
{
	static const char *const words[] = {
	    "LANGUAGE", "NOT",	"DETERMINISTIC", "CONTAINS", "NO",	"READS",   "MODIFIES",
	    "SQL",	"DATA", "SECURITY",	 "DEFINER",  "INVOKER", "COMMENT", NULL};
	for (const char *const *w = words; *w; w++)
		if (lex_is_word(t, *w))
			return true;
	return false;
}

/*
 * One run of a procedure body: walks its statements in order, tracking
 * user variables. Control flow is not decided: a region (the statements
 * between BEGIN, THEN, ELSE, DO, LOOP, REPEAT and END) runs straight, so
 * a PREPARE sees what the SETs before it in its region assigned; at each
 * region start, every variable the body assigns anywhere is unknown (it
 * may hold what another branch or an earlier loop turn left).
 */
struct body_run {
	struct arena *a;
	const struct toks *k;
	unsigned flags;
	struct sqlv_vars *vars;
	const char **assigned; /* "@x" keys the body assigns */
	size_t nassigned;
	struct sqlv_prepare *out;
	size_t nout, cap;
};

static void region_start(struct body_run *br)
{
	struct sqlv_set s = {.unknown = "may hold a value set elsewhere in the routine"};
	for (size_t i = 0; i < br->nassigned; i++)
		sqlv_vars_bind(br->vars, br->assigned[i], strlen(br->assigned[i]), &s);
}

static void body_statement(struct body_run *br, size_t b, size_t e)
{
	const struct toks *k = br->k;
	const char *sql = k->t[b].p;
	size_t len = (size_t)(k->t[e - 1].p + k->t[e - 1].n - sql);
	struct sqlv_set set;
	size_t sb, se;
	if (sqlv_prepared(br->a, sql, len, br->flags, br->vars, &set, &sb, &se)) {
		struct toks own = lex_all(br->a, sql, len, br->flags);
		size_t from = lex_is_word(&own.t[0], "PREPARE") ? 3 : 2;
		bool literal = own.n > from && own.t[from].type == LEX_STRING &&
			       (size_t)(own.t[from].p - sql) == sb &&
			       (size_t)(own.t[from].p + own.t[from].n - sql) == se;
		if (!literal) {
			if (br->nout == br->cap) {
				size_t ncap = br->cap ? br->cap * 2 : 8;
				struct sqlv_prepare *n = arena_alloc(br->a, ncap * sizeof(*n));
				if (br->nout)
					memcpy(n, br->out, br->nout * sizeof(*n));
				br->out = n;
				br->cap = ncap;
			}
			struct sqlv_prepare *p = &br->out[br->nout++];
			p->source = arena_strndup(br->a, sql + sb, se - sb);
			p->set = set;
		}
	}
	sqlv_track(br->vars, br->a, sql, len, br->flags);
}

static void walk_body(struct body_run *br, size_t i)
{
	const struct toks *k = br->k;
	bool start = true;
	while (i < k->n) {
		const struct lex_token *t = &k->t[i];
		if (lex_is_op(t, ";")) {
			i++;
			start = true;
			continue;
		}
		if (!start) {
			i++;
			continue;
		}
		if ((t->type == LEX_WORD || t->type == LEX_QUOTED_IDENT) &&
		    lex_is_op(&k->t[i + 1], ":") && !lex_is_word(t, "END")) {
			i += 2; /* label: */
		} else if (lex_is_word(t, "BEGIN")) {
			i++;
			if (lex_is_word(&k->t[i], "NOT") && lex_is_word(&k->t[i + 1], "ATOMIC"))
				i += 2;
			region_start(br);
		} else if (lex_is_word(t, "IF") || lex_is_word(t, "ELSEIF") ||
			   lex_is_word(t, "WHEN")) {
			i = find_word(k, i + 1, "THEN") + 1;
			region_start(br);
		} else if (lex_is_word(t, "WHILE")) {
			i = find_word(k, i + 1, "DO") + 1;
			region_start(br);
		} else if (lex_is_word(t, "UNTIL")) {
			i = find_word(k, i + 1, "END");
			region_start(br);
		} else if (lex_is_word(t, "ELSE") || lex_is_word(t, "LOOP") ||
			   lex_is_word(t, "REPEAT")) {
			i++;
			region_start(br);
		} else if (lex_is_word(t, "CASE")) {
			i = lex_is_word(&k->t[i + 1], "WHEN") ? i + 1 : find_word(k, i + 1, "WHEN");
			region_start(br);
		} else if (lex_is_word(t, "END")) {
			i++;
			/* END IF / END LOOP ... [label] */
			while (i < k->n && !lex_is_op(&k->t[i], ";") &&
			       (k->t[i].type == LEX_WORD || k->t[i].type == LEX_QUOTED_IDENT))
				i++;
			region_start(br);
			start = false;
		} else {
			static const char *const semicolon[] = {";", NULL};
			size_t e = scan_to(k->t, i, k->n, semicolon);
			if (e > i) /* e == i: a stray ')' */
				body_statement(br, i, e);
			i = e > i ? e : i + 1;
			start = false;
		}
	}
}

size_t sqlv_call(struct arena *a, const char *create_sql, size_t create_len, const char *call_sql,
		 size_t call_len, unsigned lex_flags, const struct sqlv_vars *vars,
		 struct sqlv_prepare **out, const char **why)
{
	*out = NULL;
	*why = NULL;
	struct toks k = lex_all(a, create_sql, create_len, lex_flags);
	size_t i = 0;
	while (i < k.n && !lex_is_word(&k.t[i], "PROCEDURE"))
		i++;
	if (++i >= k.n) {
		*why = "the procedure's definition was not understood";
		return 0;
	}
	if (lex_is_word(&k.t[i], "IF") && lex_is_word(&k.t[i + 1], "NOT"))
		i += 3;
	if (lex_is_op(&k.t[i + 1], "."))
		i += 2;
	if (i >= k.n || !lex_is_op(&k.t[i + 1], "(")) {
		*why = "the procedure's definition was not understood";
		return 0;
	}
	i += 2;
	static const char *const comma[] = {",", NULL};
	/* parameters: [IN | OUT | INOUT] name type, ... */
	const char *params[SQLV_MAX_ARGS];
	size_t nparams = 0;
	while (i < k.n && !lex_is_op(&k.t[i], ")")) {
		if (lex_is_word(&k.t[i], "IN") || lex_is_word(&k.t[i], "OUT") ||
		    lex_is_word(&k.t[i], "INOUT"))
			i++;
		if (nparams == SQLV_MAX_ARGS) {
			*why = "a procedure with too many parameters";
			return 0;
		}
		params[nparams++] = ident_text(a, &k.t[i]);
		i = scan_to(k.t, i + 1, k.n, comma); /* past the type */
		if (lex_is_op(&k.t[i], ","))
			i++;
	}
	i++;
	while (i < k.n && characteristic(&k.t[i]))
		i += lex_is_word(&k.t[i], "COMMENT") ? 2 : 1;
	size_t body = i;

	struct sqlv_vars *local = sqlv_vars_new();
	local->parent = vars;
	struct body_run br = {.a = a, .k = &k, .flags = lex_flags, .vars = local};
	br.assigned = arena_alloc(a, (k.n + 1) * sizeof(*br.assigned));
	for (size_t j = body; j < k.n; j++) {
		if (lex_is_word(&k.t[j], "HANDLER")) {
			*why = "a condition handler of the procedure may run at any point";
			sqlv_vars_free(local);
			return 0;
		}
		if (is_user_var(&k.t[j]) && assigned_at(&k, j))
			br.assigned[br.nassigned++] = user_var_key(a, &k.t[j]);
	}

	/* arguments, evaluated in the caller's variables */
	struct toks c = lex_all(a, call_sql, call_len, lex_flags);
	size_t ci = 2;
	if (lex_is_op(&c.t[2], "."))
		ci = 4;
	size_t nargs = 0;
	if (lex_is_op(&c.t[ci], "(")) {
		ci++;
		while (ci < c.n && !lex_is_op(&c.t[ci], ")")) {
			size_t e = scan_to(c.t, ci, c.n, comma);
			struct sqlv_set s;
			(void)eval_range(a, c.t, ci, e, lex_flags, vars, &s);
			if (nargs < nparams) {
				bool written = false;
				for (size_t j = body; j < k.n; j++)
					if ((k.t[j].type == LEX_WORD ||
					     k.t[j].type == LEX_QUOTED_IDENT) &&
					    strcasecmp(ident_text(a, &k.t[j]), params[nargs]) ==
						0 &&
					    assigned_at(&k, j))
						written = true;
				if (written)
					s = (struct sqlv_set){.unknown =
								  "assigned in the procedure"};
				sqlv_vars_bind(local, params[nargs], strlen(params[nargs]), &s);
			}
			nargs++;
			ci = e + (lex_is_op(&c.t[e], ",") ? 1 : 0);
		}
	}
	if (nargs != nparams) {
		*why = arena_printf(a, "the CALL passes %zu arguments for %zu parameters", nargs,
				    nparams);
		sqlv_vars_free(local);
		return 0;
	}
	walk_body(&br, body);
	/* values read from local bindings live in local's arena: copy them out */
	for (size_t j = 0; j < br.nout; j++) {
		struct sqlv_set *set = &br.out[j].set;
		for (size_t v = 0; v < set->n; v++)
			set->v[v] = dup_or_null(a, set->v[v]);
		set->unknown = dup_or_null(a, set->unknown);
	}
	sqlv_vars_free(local);
	*out = br.out;
	return br.nout;
}
