/* DDL parser: recursive descent over lexer tokens into the statement model. */
#include "rules/parse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rules/classify.h"
#include "rules/lex.h"
#include "rules/parse_internal.h"

/* Nested statements (PREPARE FROM '...' inside a body inside ...) stop here. */
#define PARSE_MAX_DEPTH 8

/* ---- tokens ------------------------------------------------------------ */

static const struct lex_token eof_tok = {LEX_EOF, "", 0, 0};

const struct lex_token *ps_pk(struct parser *p, size_t k)
{
	return p->i + k < p->n ? &p->t[p->i + k] : &p->eof;
}

const struct lex_token *ps_cur(struct parser *p)
{
	return ps_pk(p, 0);
}

void ps_adv(struct parser *p)
{
	if (p->i < p->n)
		p->i++;
}

bool ps_at_end(struct parser *p)
{
	return p->i >= p->n || lex_is_op(&p->t[p->i], ";");
}

/*
 * Stops the parse: records "msg" (printf-style) as the statement's error
 * and unwinds to stmt_parse. Only the first error is kept.
 */
void ps_fail(struct parser *p, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p->error = arena_strndup(p->a, buf, strlen(buf));
	longjmp(p->jmp, 1);
}

/* Fails with "unexpected 'TOKEN' at line N" for the current token. */
void ps_unexpected(struct parser *p)
{
	const struct lex_token *t = ps_cur(p);
	if (t->type == LEX_EOF)
		ps_fail(p, "unexpected end of statement");
	if (t->type == LEX_ERROR)
		ps_fail(p, "unterminated string, identifier or comment at line %u", t->line);
	int n = t->n > 40 ? 40 : (int)t->n;
	ps_fail(p, "unexpected '%.*s%s' at line %u", n, t->p, t->n > 40 ? "..." : "", t->line);
}

bool ps_is_kw(struct parser *p, const char *kw)
{
	return lex_is_word(ps_cur(p), kw);
}

bool ps_is_kw_at(struct parser *p, size_t k, const char *kw)
{
	return lex_is_word(ps_pk(p, k), kw);
}

bool ps_is_op(struct parser *p, const char *op)
{
	return lex_is_op(ps_cur(p), op);
}

bool ps_accept_kw(struct parser *p, const char *kw)
{
	if (!ps_is_kw(p, kw))
		return false;
	ps_adv(p);
	return true;
}

bool ps_accept_op(struct parser *p, const char *op)
{
	if (!ps_is_op(p, op))
		return false;
	ps_adv(p);
	return true;
}

void ps_expect_kw(struct parser *p, const char *kw)
{
	if (!ps_accept_kw(p, kw))
		ps_unexpected(p);
}

void ps_expect_op(struct parser *p, const char *op)
{
	if (!ps_accept_op(p, op))
		ps_unexpected(p);
}

/* Accepts "a b c" (space-separated keywords) as a whole, or nothing. */
bool ps_accept_kws(struct parser *p, const char *kws)
{
	size_t k = 0;
	const char *s = kws;
	char w[32];
	while (*s) {
		size_t n = strcspn(s, " ");
		if (n >= sizeof(w))
			return false;
		memcpy(w, s, n);
		w[n] = '\0';
		if (!lex_is_word(ps_pk(p, k), w))
			return false;
		k++;
		s += n;
		while (*s == ' ')
			s++;
	}
	p->i += k;
	return true;
}

/* ---- text helpers ---------------------------------------------------- */

char *ps_lower_dup(struct parser *p, const char *s, size_t n)
{
	char *r = arena_strndup(p->a, s, n);
	for (char *c = r; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c += 32;
	return r;
}

/*
 * The content of a quoted token without its quotes: doubled quotes become
 * one, and for strings backslash escapes are resolved (\n, \t, \0, \Z,
 * others stand for themselves). A charset prefix (_utf8mb4'..', N'..') is
 * dropped.
 */
char *ps_unquote(struct parser *p, const struct lex_token *t)
{
	const char *s = t->p, *e = t->p + t->n;
	while (s < e && *s != '\'' && *s != '"' && *s != '`')
		s++;
	if (s >= e)
		return arena_strndup(p->a, t->p, t->n);
	char q = *s++;
	if (e > s && e[-1] == q)
		e--;
	bool strings = (t->type == LEX_STRING || t->type == LEX_VARIABLE) &&
		       !(p->lex_flags & LEX_NO_BACKSLASH_ESCAPES);
	char *r = arena_alloc(p->a, (size_t)(e - s) + 1);
	bool nul;
	(void)lex_unquote(q, s, e, strings && q != '`', r, &nul);
	return r;
}

/* MariaDB's lock-wait clause after a table name: WAIT n or NOWAIT. */
void ps_skip_wait(struct parser *p)
{
	if (ps_accept_kw(p, "WAIT"))
		ps_adv(p);
	else
		ps_accept_kw(p, "NOWAIT");
}

/* An identifier: a word or a quoted identifier (ANSI "x" included). */
const char *ps_ident(struct parser *p)
{
	const struct lex_token *t = ps_cur(p);
	if (t->type == LEX_WORD) {
		ps_adv(p);
		return arena_strndup(p->a, t->p, t->n);
	}
	if (t->type == LEX_QUOTED_IDENT) {
		ps_adv(p);
		return ps_unquote(p, t);
	}
	ps_unexpected(p);
	return NULL;
}

bool ps_is_ident_tok(const struct lex_token *t)
{
	return t->type == LEX_WORD || t->type == LEX_QUOTED_IDENT;
}

/* [schema.]name */
void ps_qname(struct parser *p, struct stmt_name *out)
{
	const char *a = ps_ident(p);
	if (ps_is_op(p, ".") && ps_is_ident_tok(ps_pk(p, 1))) {
		ps_adv(p);
		out->schema = a;
		out->name = ps_ident(p);
	} else {
		out->schema = NULL;
		out->name = a;
	}
}

/* The source text from token index b to the token before e, as one
 * normalised string (tokens joined by single spaces, words lower case). */
char *ps_span_text(struct parser *p, size_t b, size_t e)
{
	size_t len = 0;
	for (size_t k = b; k < e; k++)
		len += p->t[k].n + 1;
	char *r = arena_alloc(p->a, len + 1), *o = r;
	for (size_t k = b; k < e; k++) {
		const struct lex_token *t = &p->t[k];
		const struct lex_token *pr = k > b ? &p->t[k - 1] : NULL;
		/* unary sign: at the start or after an operator */
		bool sign = pr && (lex_is_op(pr, "-") || lex_is_op(pr, "+")) &&
			    (k - 1 == b || p->t[k - 2].type == LEX_OP);
		bool glue = pr && (lex_is_op(t, "(") || lex_is_op(t, ")") || lex_is_op(t, ",") ||
				   lex_is_op(t, ".") || lex_is_op(pr, "(") || lex_is_op(pr, ".") ||
				   lex_is_op(pr, ",") || sign);
		if (k > b && !glue)
			*o++ = ' ';
		for (size_t j = 0; j < t->n; j++) {
			char c = t->p[j];
			if (t->type == LEX_WORD && c >= 'A' && c <= 'Z')
				c += 32;
			*o++ = c;
		}
	}
	*o = '\0';
	return r;
}

/* Skips a balanced parenthesised group; the current token must be '('. */
void ps_skip_parens(struct parser *p)
{
	ps_expect_op(p, "(");
	int depth = 1;
	while (depth > 0) {
		const struct lex_token *t = ps_cur(p);
		if (t->type == LEX_EOF)
			ps_fail(p, "unbalanced parentheses");
		if (t->type == LEX_ERROR)
			ps_unexpected(p);
		if (lex_is_op(t, "("))
			depth++;
		else if (lex_is_op(t, ")"))
			depth--;
		ps_adv(p);
	}
}

/*
 * Skips an expression up to a ',' or ')' at depth 0 (not consumed), the
 * end of the statement, or one of the stop words at depth 0.
 */
void ps_skip_expr(struct parser *p, const char *const *stop)
{
	int depth = 0;
	for (;;) {
		const struct lex_token *t = ps_cur(p);
		if (t->type == LEX_EOF || (depth == 0 && lex_is_op(t, ";")))
			break;
		if (t->type == LEX_ERROR)
			ps_unexpected(p);
		if (depth == 0 && (lex_is_op(t, ",") || lex_is_op(t, ")")))
			break;
		if (depth == 0 && stop) {
			bool hit = false;
			for (const char *const *s = stop; *s; s++)
				if (lex_is_word(t, *s))
					hit = true;
			if (hit)
				break;
		}
		if (lex_is_op(t, "("))
			depth++;
		else if (lex_is_op(t, ")"))
			depth--;
		ps_adv(p);
	}
}

/* Skips everything up to the end of the statement. */
void ps_skip_rest(struct parser *p)
{
	while (!ps_at_end(p)) {
		if (ps_cur(p)->type == LEX_ERROR)
			ps_unexpected(p);
		ps_adv(p);
	}
}

/* The statement must end here (an optional ';' and nothing after it). */
void ps_expect_end(struct parser *p)
{
	if (ps_accept_op(p, ";") && p->i < p->n)
		ps_unexpected(p);
	if (p->i < p->n)
		ps_unexpected(p);
}

/* ---- growable arrays in the arena ------------------------------------ */

/* Appends room for one more element to an arena array of n elements:
 * capacity is implicit (4, then powers of two), the old block is left to
 * the arena. Returns the (possibly moved) array. */
void *ps_grow(struct parser *p, void *v, size_t n, size_t size)
{
	if (n != 0 && (n < 4 || (n & (n - 1))))
		return v;
	size_t cap = n == 0 ? 4 : 2 * n;
	void *nv = arena_alloc(p->a, cap * size);
	if (n)
		memcpy(nv, v, n * size);
	return nv;
}

struct stmt_name *ps_add_object(struct parser *p, struct stmt *s)
{
	s->objects = ps_grow(p, s->objects, s->nobjects, sizeof(*s->objects));
	return &s->objects[s->nobjects++];
}

struct stmt_op *ps_add_op(struct parser *p, struct stmt *s, enum stmt_op_kind kind)
{
	s->ops = ps_grow(p, s->ops, s->nops, sizeof(*s->ops));
	struct stmt_op *op = &s->ops[s->nops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	return op;
}

/* ---- options shared by tables, indexes, databases --------------------- */

/* Reads an option value (after an optional '='): a word, number, string
 * or identifier, lower case. */
const char *ps_option_value(struct parser *p)
{
	ps_accept_op(p, "=");
	const struct lex_token *t = ps_cur(p);
	switch (t->type) {
	case LEX_STRING:
	case LEX_QUOTED_IDENT:
		ps_adv(p);
		return ps_unquote(p, t);
	case LEX_WORD:
	case LEX_NUMBER:
	case LEX_HEX:
		ps_adv(p);
		return ps_lower_dup(p, t->p, t->n);
	default:
		ps_unexpected(p);
		return NULL;
	}
}

/* ---- nested statements (bodies, PREPARE) ------------------------------ */

/* Words that may start a schema-changing statement inside a body. */
static const char *const body_ddl_words[] = {
    "CREATE",  "ALTER",	  "DROP",   "RENAME", "TRUNCATE", "PREPARE",   "OPTIMIZE", "REPAIR",
    "ANALYZE", "EXECUTE", "IMPORT", "SET",    "INSTALL",  "UNINSTALL", NULL};

static void add_inner(struct parser *p, struct stmt *s, const struct stmt *in)
{
	s->inner = ps_grow(p, s->inner, s->ninner, sizeof(*s->inner));
	s->inner[s->ninner++] = *in;
	if (in->kind == STMT_DDL) {
		s->body_has_ddl = true;
		if (in->unparsed && !s->unparsed) {
			s->unparsed = true;
			s->error = in->error;
		}
	}
}

static void parse_nested(struct parser *p, const char *sql, size_t len, struct stmt *out);

/*
 * Scans the tokens from the current one to the end of the statement (a
 * stored program body, an event's DO, a compound statement) for statements
 * that may change the schema. Each one runs to the next ';' at parenthesis
 * depth 0 and is parsed on its own; the DDL ones go into s->inner.
 */
void ps_scan_body(struct parser *p, struct stmt *s)
{
	while (p->i < p->n) {
		const struct lex_token *t = ps_cur(p);
		if (t->type == LEX_ERROR)
			ps_unexpected(p);
		bool starter = false;
		for (const char *const *w = body_ddl_words; *w; w++)
			if (lex_is_word(t, *w))
				starter = true;
		/* DEALLOCATE PREPARE s is no PREPARE */
		if (ps_is_kw(p, "PREPARE") && p->i > 0 &&
		    (lex_is_word(&p->t[p->i - 1], "DEALLOCATE") ||
		     lex_is_word(&p->t[p->i - 1], "DROP")))
			starter = false;
		/* TRUNCATE(x, d) is the function; a word after '.' is a name */
		if (starter &&
		    (lex_is_op(ps_pk(p, 1), "(") || lex_is_op(ps_pk(p, 1), ".") ||
		     lex_is_op(ps_pk(p, 1), "=") || (p->i > 0 && lex_is_op(&p->t[p->i - 1], "."))))
			starter = false;
		if (!starter) {
			ps_adv(p);
			continue;
		}
		size_t b = p->i;
		int depth = 0;
		while (p->i < p->n) {
			const struct lex_token *u = ps_cur(p);
			if (lex_is_op(u, "("))
				depth++;
			else if (lex_is_op(u, ")"))
				depth--;
			else if (depth <= 0 && lex_is_op(u, ";"))
				break;
			ps_adv(p);
		}
		const struct lex_token *first = &p->t[b];
		const struct lex_token *last = &p->t[p->i - 1];
		size_t len = (size_t)(last->p + last->n - first->p);
		struct stmt in;
		parse_nested(p, first->p, len, &in);
		if (in.kind == STMT_DDL || in.kind == STMT_DCL)
			add_inner(p, s, &in);
	}
}

/* ---- PREPARE / EXECUTE IMMEDIATE ------------------------------------- */

/*
 * The text of PREPARE ... FROM or EXECUTE IMMEDIATE: a string literal is
 * parsed as the statement it holds. A DDL or account statement becomes an
 * inner statement of a DDL_PREPARE; anything else leaves the statement
 * STMT_OTHER (a PREPARE runs nothing), or of the inner kind when keep_kind
 * (EXECUTE IMMEDIATE runs it now). The keyword `after` (USING) may follow
 * the literal. Anything else (FROM @var, an expression) is content ddlgate
 * cannot know: DDL of unknown content.
 */
static void statement_text(struct parser *p, struct stmt *s, const char *after, bool keep_kind)
{
	const struct lex_token *t = ps_cur(p);
	const struct lex_token *next = ps_pk(p, 1);
	if (t->type == LEX_STRING && (next->type == LEX_EOF || lex_is_op(next, ";") ||
				      (after && lex_is_word(next, after)))) {
		ps_adv(p);
		const char *text = ps_unquote(p, t);
		s->prepare_text = text;
		struct stmt in;
		parse_nested(p, text, strlen(text), &in);
		if (in.kind == STMT_DDL || in.kind == STMT_DCL) {
			s->kind = STMT_DDL;
			s->verb = DDL_PREPARE;
			add_inner(p, s, &in);
		} else {
			s->kind = keep_kind ? in.kind : STMT_OTHER;
			s->verb = DDL_NONE;
		}
	} else {
		s->kind = STMT_DDL;
		s->verb = DDL_PREPARE;
		s->prepare_from_variable = true;
	}
	ps_skip_rest(p);
}

static void parse_prepare(struct parser *p, struct stmt *s)
{
	ps_expect_kw(p, "PREPARE");
	s->prepare_name = ps_ident(p);
	ps_expect_kw(p, "FROM");
	statement_text(p, s, NULL, false);
	ps_expect_end(p);
}

static void parse_execute(struct parser *p, struct stmt *s)
{
	ps_expect_kw(p, "EXECUTE");
	if (!ps_accept_kw(p, "IMMEDIATE")) {
		s->kind = STMT_OTHER;
		s->verb = DDL_NONE;
		return;
	}
	/* EXECUTE IMMEDIATE 'sql' [USING ...] */
	statement_text(p, s, "USING", true);
}

/* ---- stored programs ------------------------------------------------- */

/* DEFINER = user | CURRENT_USER[()] ; also the role form. */
void ps_skip_definer(struct parser *p)
{
	ps_expect_kw(p, "DEFINER");
	ps_expect_op(p, "=");
	if (ps_accept_kw(p, "CURRENT_USER") || ps_accept_kw(p, "CURRENT_ROLE")) {
		if (ps_accept_op(p, "("))
			ps_expect_op(p, ")");
		return;
	}
	const struct lex_token *t = ps_cur(p);
	if (t->type != LEX_WORD && t->type != LEX_QUOTED_IDENT && t->type != LEX_STRING)
		ps_unexpected(p);
	ps_adv(p);
	if (ps_cur(p)->type == LEX_VARIABLE) /* @host, @`host`, @'host' */
		ps_adv(p);
	else if (ps_accept_op(p, "@")) {
		const struct lex_token *h = ps_cur(p);
		if (h->type != LEX_WORD && h->type != LEX_QUOTED_IDENT && h->type != LEX_STRING)
			ps_unexpected(p);
		ps_adv(p);
	}
}

static void if_not_exists(struct parser *p, bool *flag)
{
	if (ps_accept_kws(p, "IF NOT EXISTS"))
		*flag = true;
}

static void if_exists(struct parser *p, bool *flag)
{
	if (ps_accept_kws(p, "IF EXISTS"))
		*flag = true;
}

/* Skips an event's schedule and options up to its DO (consumed), or to
 * the end when there is none (ALTER EVENT e DISABLE). */
static void event_to_body(struct parser *p)
{
	int depth = 0;
	while (!ps_at_end(p)) {
		if (ps_cur(p)->type == LEX_ERROR)
			ps_unexpected(p);
		if (ps_is_op(p, "("))
			depth++;
		else if (ps_is_op(p, ")"))
			depth--;
		else if (depth == 0 && ps_accept_kw(p, "DO"))
			return;
		ps_adv(p);
	}
}

/* CREATE ... PROCEDURE / FUNCTION / TRIGGER / EVENT (after the object word). */
static void parse_create_program(struct parser *p, struct stmt *s, const char *what)
{
	s->object_type = what;
	if_not_exists(p, &s->if_not_exists);
	ps_qname(p, &s->routine);
	if (strcmp(what, "trigger") == 0) {
		s->verb = DDL_CREATE_TRIGGER;
		if (!ps_accept_kw(p, "BEFORE") && !ps_accept_kw(p, "AFTER"))
			ps_unexpected(p);
		/* INSERT | UPDATE | DELETE, MariaDB allows "INSERT OR UPDATE" */
		do {
			if (!ps_accept_kw(p, "INSERT") && !ps_accept_kw(p, "UPDATE") &&
			    !ps_accept_kw(p, "DELETE"))
				ps_unexpected(p);
		} while (ps_accept_kw(p, "OR"));
		ps_expect_kw(p, "ON");
		ps_qname(p, ps_add_object(p, s));
		ps_expect_kw(p, "FOR");
		ps_expect_kw(p, "EACH");
		ps_expect_kw(p, "ROW");
		if (ps_accept_kw(p, "FOLLOWS") || ps_accept_kw(p, "PRECEDES"))
			ps_ident(p);
	} else {
		*ps_add_object(p, s) = s->routine;
		if (strcmp(what, "event") == 0) {
			s->verb = DDL_CREATE_EVENT;
			ps_expect_kw(p, "ON");
			ps_expect_kw(p, "SCHEDULE");
			event_to_body(p);
			if (ps_at_end(p))
				ps_unexpected(p); /* CREATE EVENT needs DO */
		} else {
			s->verb = DDL_CREATE_ROUTINE;
			if (ps_is_op(p, "("))
				ps_skip_parens(p);
			else if (strcmp(what, "function") != 0)
				ps_unexpected(p);
		}
	}
	ps_scan_body(p, s);
}

/* ---- the dispatcher ---------------------------------------------------- */

/* DROP {PROCEDURE|FUNCTION|TRIGGER|EVENT|VIEW|...} after the object word. */
static void parse_drop_named(struct parser *p, struct stmt *s, enum ddl_verb verb, const char *what,
			     bool list)
{
	s->verb = verb;
	s->object_type = what;
	if_exists(p, &s->if_exists);
	do {
		ps_qname(p, ps_add_object(p, s));
	} while (list && ps_accept_op(p, ","));
	if (verb != DDL_DROP_VIEW && verb != DDL_OTHER)
		s->routine = s->objects[0];
	if (!ps_accept_kw(p, "RESTRICT"))
		ps_accept_kw(p, "CASCADE");
	ps_expect_end(p);
}

/* Other recognised DDL: names what it can and accepts the rest. */
static void parse_other(struct parser *p, struct stmt *s, const char *what)
{
	s->verb = DDL_OTHER;
	s->object_type = what;
	if_not_exists(p, &s->if_not_exists);
	if_exists(p, &s->if_exists);
	if (ps_is_ident_tok(ps_cur(p)) && !ps_is_kw(p, "ON"))
		ps_qname(p, ps_add_object(p, s));
	ps_skip_rest(p);
	ps_expect_end(p);
}

/* Accepts the first of names (one or more keywords: "LOGFILE GROUP") at
 * the cursor and returns it lower-cased as an object type; NULL when
 * none is there. */
static const char *accept_object_type(struct parser *p, const char *const *names)
{
	for (const char *const *o = names; *o; o++)
		if (strchr(*o, ' ') ? ps_accept_kws(p, *o) : ps_accept_kw(p, *o))
			return ps_lower_dup(p, *o, strlen(*o));
	return NULL;
}

/* The kinds of object parse_other() models (names as for
 * accept_object_type()); anything else is a syntax ddlgate does not know. */
static void parse_other_of(struct parser *p, struct stmt *s, const char *const *names)
{
	const char *type = accept_object_type(p, names);
	if (type)
		parse_other(p, s, type);
	else
		ps_unexpected(p);
}

static void parse_view(struct parser *p, struct stmt *s)
{
	s->verb = DDL_CREATE_VIEW;
	s->object_type = "view";
	if_not_exists(p, &s->if_not_exists);
	ps_qname(p, ps_add_object(p, s));
	if (ps_is_op(p, "("))
		ps_skip_parens(p);
	ps_expect_kw(p, "AS");
	/* the SELECT: nothing rules need; it cannot hide DDL */
	ps_skip_rest(p);
	ps_expect_end(p);
}

/* CREATE [OR REPLACE] [ALGORITHM=..] [DEFINER=..] [SQL SECURITY ..] ... */
/* The clauses before VIEW / PROCEDURE / FUNCTION ... of CREATE and ALTER:
 * DEFINER, ALGORITHM, SQL SECURITY and (CREATE only) AGGREGATE. True when
 * any was there. */
static bool program_prefix(struct parser *p, bool aggregate)
{
	bool any = false;
	for (;;) {
		if (ps_is_kw(p, "DEFINER"))
			ps_skip_definer(p);
		else if (ps_accept_kw(p, "ALGORITHM"))
			ps_option_value(p);
		else if (ps_accept_kws(p, "SQL SECURITY"))
			ps_ident(p);
		else if (!(aggregate && ps_accept_kw(p, "AGGREGATE")))
			return any;
		any = true;
	}
}

static void parse_create(struct parser *p, struct stmt *s)
{
	ps_expect_kw(p, "CREATE");
	if (ps_accept_kws(p, "OR REPLACE"))
		s->or_replace = true;
	bool online = ps_accept_kw(p, "ONLINE") || ps_accept_kw(p, "OFFLINE");
	(void)program_prefix(p, true);
	if (ps_accept_kw(p, "TEMPORARY")) {
		s->temporary = true;
		ps_expect_kw(p, "TABLE");
		parse_create_table(p, s);
		return;
	}
	if (ps_accept_kw(p, "TABLE")) {
		parse_create_table(p, s);
		return;
	}
	if (ps_is_kw(p, "UNIQUE") || ps_is_kw(p, "FULLTEXT") || ps_is_kw(p, "SPATIAL") ||
	    ps_is_kw(p, "INDEX")) {
		parse_create_index(p, s);
		return;
	}
	if (online) /* CREATE ONLINE / OFFLINE is for indexes only */
		ps_unexpected(p);
	if (ps_accept_kw(p, "DATABASE") || ps_accept_kw(p, "SCHEMA")) {
		parse_database(p, s, DDL_CREATE_DATABASE);
		return;
	}
	if (ps_accept_kw(p, "VIEW")) {
		parse_view(p, s);
		return;
	}
	static const char *const programs[] = {"PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", NULL};
	const char *program = accept_object_type(p, programs);
	if (program) {
		parse_create_program(p, s, program);
		return;
	}
	if (ps_accept_kw(p, "PACKAGE")) {
		ps_accept_kw(p, "BODY");
		s->verb = DDL_CREATE_ROUTINE;
		s->object_type = "package";
		if_not_exists(p, &s->if_not_exists);
		ps_qname(p, &s->routine);
		*ps_add_object(p, s) = s->routine;
		ps_scan_body(p, s);
		return;
	}
	static const char *const others[] = {"SEQUENCE",
					     "TABLESPACE",
					     "SERVER",
					     "SYNONYM",
					     "LOGFILE GROUP",
					     "RESOURCE GROUP",
					     "SPATIAL REFERENCE SYSTEM",
					     NULL};
	parse_other_of(p, s, others);
}

static void parse_alter(struct parser *p, struct stmt *s)
{
	ps_expect_kw(p, "ALTER");
	bool online = ps_accept_kw(p, "ONLINE") || ps_accept_kw(p, "OFFLINE");
	bool ignore = ps_accept_kw(p, "IGNORE");
	if (ps_accept_kw(p, "TABLE")) {
		s->alter_ignore = ignore;
		parse_alter_table(p, s);
		return;
	}
	if (online || ignore)
		ps_unexpected(p);
	if (ps_accept_kw(p, "DATABASE") || ps_accept_kw(p, "SCHEMA")) {
		parse_database(p, s, DDL_ALTER_DATABASE);
		return;
	}
	bool view_prefix = program_prefix(p, false);
	if (ps_accept_kw(p, "VIEW")) {
		parse_view(p, s);
		s->or_replace = true; /* ALTER VIEW redefines, like CREATE OR REPLACE */
		return;
	}
	if (ps_accept_kw(p, "EVENT")) {
		s->verb = DDL_ALTER_EVENT;
		s->object_type = "event";
		ps_qname(p, &s->routine);
		*ps_add_object(p, s) = s->routine;
		event_to_body(p); /* RENAME TO x is no RENAME TABLE */
		ps_scan_body(p, s);
		return;
	}
	if (view_prefix)
		ps_unexpected(p);
	static const char *const others[] = {
	    "PROCEDURE", "FUNCTION", "SEQUENCE",      "TABLESPACE",	"SERVER",
	    "INSTANCE",	 "PACKAGE",  "LOGFILE GROUP", "RESOURCE GROUP", NULL};
	parse_other_of(p, s, others);
}

static void parse_drop(struct parser *p, struct stmt *s)
{
	ps_expect_kw(p, "DROP");
	if (ps_accept_kw(p, "TEMPORARY")) {
		s->temporary = true;
		if (!ps_accept_kw(p, "TABLE") && !ps_accept_kw(p, "TABLES"))
			ps_unexpected(p);
		parse_drop_table(p, s);
		return;
	}
	if (ps_accept_kw(p, "TABLE") || ps_accept_kw(p, "TABLES")) {
		parse_drop_table(p, s);
		return;
	}
	bool online = ps_accept_kw(p, "ONLINE") || ps_accept_kw(p, "OFFLINE");
	if (online || ps_is_kw(p, "INDEX")) {
		ps_expect_kw(p, "INDEX");
		parse_drop_index(p, s);
		return;
	}
	if (ps_accept_kw(p, "DATABASE") || ps_accept_kw(p, "SCHEMA")) {
		parse_database(p, s, DDL_DROP_DATABASE);
		return;
	}
	/* DROP <kind> [IF EXISTS] name: one row per kind of named object */
	static const struct {
		const char *kw;
		enum ddl_verb verb;
		const char *type;
		bool list; /* a list of names (DROP VIEW a, b) */
	} drops[] = {
	    {"VIEW", DDL_DROP_VIEW, "view", true},
	    {"PROCEDURE", DDL_DROP_ROUTINE, "procedure", false},
	    {"FUNCTION", DDL_DROP_ROUTINE, "function", false},
	    {"TRIGGER", DDL_DROP_TRIGGER, "trigger", false},
	    {"EVENT", DDL_DROP_EVENT, "event", false},
	};
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++)
		if (ps_accept_kw(p, drops[i].kw)) {
			parse_drop_named(p, s, drops[i].verb, drops[i].type, drops[i].list);
			return;
		}
	if (ps_accept_kw(p, "PACKAGE")) {
		ps_accept_kw(p, "BODY");
		parse_drop_named(p, s, DDL_DROP_ROUTINE, "package", false);
		return;
	}
	static const char *const named[] = {"SEQUENCE", "TABLESPACE", "SERVER", "SYNONYM", NULL};
	static const char *const groups[] = {"LOGFILE GROUP", "RESOURCE GROUP",
					     "SPATIAL REFERENCE SYSTEM", NULL};
	const char *type = accept_object_type(p, named);
	if (type)
		parse_drop_named(p, s, DDL_OTHER, type, true);
	else if (accept_object_type(p, groups))
		parse_other(p, s, "other");
	else
		ps_unexpected(p);
}

/* ANALYZE / OPTIMIZE / REPAIR [NO_WRITE_TO_BINLOG | LOCAL] TABLE t, ... */
static void parse_maintenance(struct parser *p, struct stmt *s)
{
	ps_adv(p);
	s->verb = DDL_OTHER;
	s->object_type = "table";
	if (!ps_accept_kw(p, "NO_WRITE_TO_BINLOG"))
		ps_accept_kw(p, "LOCAL");
	if (!ps_accept_kw(p, "TABLE") && !ps_accept_kw(p, "TABLES"))
		ps_unexpected(p);
	do {
		ps_qname(p, ps_add_object(p, s));
	} while (ps_accept_op(p, ","));
	ps_skip_rest(p); /* QUICK, EXTENDED, USE_FRM, PERSISTENT FOR ..., UPDATE HISTOGRAM ... */
	ps_expect_end(p);
}

static void parse_rename(struct parser *p, struct stmt *s)
{
	ps_expect_kw(p, "RENAME");
	if (!ps_accept_kw(p, "TABLE") && !ps_accept_kw(p, "TABLES"))
		ps_unexpected(p);
	s->verb = DDL_RENAME_TABLE;
	s->object_type = "table";
	if_exists(p, &s->if_exists);
	do {
		ps_qname(p, ps_add_object(p, s));
		ps_skip_wait(p);
		ps_expect_kw(p, "TO");
		ps_qname(p, ps_add_object(p, s));
	} while (ps_accept_op(p, ","));
	ps_expect_end(p);
}

static void parse_truncate(struct parser *p, struct stmt *s)
{
	ps_expect_kw(p, "TRUNCATE");
	ps_accept_kw(p, "TABLE");
	s->verb = DDL_TRUNCATE_TABLE;
	s->object_type = "table";
	ps_qname(p, ps_add_object(p, s));
	ps_skip_wait(p);
	ps_expect_end(p);
}

/* ---- server configuration: SET GLOBAL, INSTALL / UNINSTALL ------------ */

static bool scope_global(const char *w, size_t n)
{
	static const char *const words[] = {"global", "persist", "persist_only"};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == n && strncasecmp(w, words[i], n) == 0)
			return true;
	return false;
}

/*
 * One SET target that is a @@ variable (the lexer keeps "@@global.x" in
 * one token, "@@global . x" and "@@global.`x`" in several). Returns the
 * variable's name when it is a global one (consuming the tokens), else
 * NULL (the caller skips the assignment).
 */
static const char *global_variable(struct parser *p)
{
	const struct lex_token *t = ps_cur(p);
	if (t->n < 3 || t->p[0] != '@' || t->p[1] != '@')
		return NULL;
	const char *v = t->p + 2, *dot = memchr(v, '.', t->n - 2);
	size_t scope = dot ? (size_t)(dot - v) : t->n - 2;
	if (!scope_global(v, scope))
		return NULL;
	ps_adv(p);
	if (dot && dot + 1 < t->p + t->n)
		return ps_lower_dup(p, dot + 1, (size_t)(t->p + t->n - dot - 1));
	if (!dot && !ps_accept_op(p, "."))
		return NULL;
	if (!ps_is_ident_tok(ps_cur(p)))
		ps_unexpected(p);
	const char *name = ps_ident(p);
	return ps_lower_dup(p, name, strlen(name));
}

static void add_setting(struct parser *p, struct stmt *s, const char *name)
{
	for (size_t i = 0; i < s->nsettings; i++)
		if (strcmp(s->settings[i], name) == 0)
			return;
	s->settings = ps_grow(p, s->settings, s->nsettings, sizeof(*s->settings));
	s->settings[s->nsettings++] = name;
}

/*
 * SET with at least one global assignment (the classifier's test): the
 * names of the global variables assigned. GLOBAL / PERSIST / PERSIST_ONLY
 * scope the targets after them until SESSION / LOCAL; a SET with no
 * global target after all is no DDL.
 */
static void parse_set_global(struct parser *p, struct stmt *s)
{
	ps_expect_kw(p, "SET");
	s->verb = DDL_SET_GLOBAL;
	s->object_type = "variable";
	bool global = false, target = true;
	int depth = 0;
	while (!ps_at_end(p)) {
		if (target) {
			target = false;
			const struct lex_token *t = ps_cur(p), *n = ps_pk(p, 1);
			bool assign = lex_is_op(n, "=") || lex_is_op(n, ":=") || lex_is_op(n, ".");
			if (t->type == LEX_WORD && !assign && scope_global(t->p, t->n)) {
				global = true;
				ps_adv(p);
			} else if (!assign && (ps_is_kw(p, "SESSION") || ps_is_kw(p, "LOCAL"))) {
				global = false;
				ps_adv(p);
			}
			const char *name = NULL;
			if (ps_cur(p)->type == LEX_VARIABLE) {
				name = global_variable(p);
			} else if (global && ps_is_ident_tok(ps_cur(p))) {
				name = ps_ident(p);
				name = ps_lower_dup(p, name, strlen(name));
			}
			if (name)
				add_setting(p, s, name);
			continue;
		}
		if (ps_is_op(p, "("))
			depth++;
		else if (ps_is_op(p, ")"))
			depth--;
		else if (depth <= 0 && ps_is_op(p, ","))
			target = true;
		ps_adv(p);
	}
	ps_expect_end(p);
	if (s->nsettings == 0) {
		s->kind = STMT_OTHER;
		s->verb = DDL_NONE;
		s->object_type = NULL;
	}
}

/* INSTALL / UNINSTALL PLUGIN name [SONAME 'lib'] | SONAME 'lib' (MySQL:
 * COMPONENT 'urn', ...). */
static void parse_plugin(struct parser *p, struct stmt *s)
{
	ps_adv(p);
	s->verb = DDL_PLUGIN;
	const struct lex_token *t = ps_pk(p, 1);
	if (ps_accept_kw(p, "PLUGIN"))
		s->object_type = "plugin";
	else if (ps_accept_kw(p, "SONAME"))
		s->object_type = "soname";
	else if (ps_accept_kw(p, "COMPONENT"))
		s->object_type = "component";
	else
		ps_unexpected(p);
	if (t->type == LEX_STRING || ps_is_ident_tok(t)) {
		s->plugin = t->type == LEX_STRING ? ps_unquote(p, t) : ps_ident(p);
		if (t->type == LEX_STRING)
			ps_adv(p);
	}
	ps_skip_rest(p);
	ps_expect_end(p);
}

/* The statement keyword, upper case, for the model. */
static const char *keyword_of(struct parser *p)
{
	const struct lex_token *t = ps_cur(p);
	if (t->type != LEX_WORD)
		return NULL;
	char *k = arena_strndup(p->a, t->p, t->n);
	for (char *c = k; *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c -= 32;
	return k;
}

/* Parses the tokens of p into s (kind already set by the classifier). */
static void parse_tokens(struct parser *p, struct stmt *s)
{
	/* SET STATEMENT var=v, ... FOR <statement> (MariaDB) */
	if (ps_is_kw(p, "SET") && ps_is_kw_at(p, 1, "STATEMENT")) {
		int depth = 0;
		while (p->i < p->n) {
			if (ps_is_op(p, "("))
				depth++;
			else if (ps_is_op(p, ")"))
				depth--;
			else if (depth == 0 && ps_is_kw(p, "FOR")) {
				ps_adv(p);
				break;
			}
			ps_adv(p);
		}
		s->keyword = keyword_of(p);
	}
	if (ps_is_kw(p, "CREATE"))
		parse_create(p, s);
	else if (ps_is_kw(p, "ALTER"))
		parse_alter(p, s);
	else if (ps_is_kw(p, "DROP"))
		parse_drop(p, s);
	else if (ps_is_kw(p, "RENAME"))
		parse_rename(p, s);
	else if (ps_is_kw(p, "TRUNCATE"))
		parse_truncate(p, s);
	else if (ps_is_kw(p, "PREPARE"))
		parse_prepare(p, s);
	else if (ps_is_kw(p, "EXECUTE"))
		parse_execute(p, s);
	else if (ps_is_kw(p, "OPTIMIZE") || ps_is_kw(p, "REPAIR") || ps_is_kw(p, "ANALYZE"))
		parse_maintenance(p, s);
	else if (ps_is_kw(p, "IMPORT"))
		parse_other(p, s, "table");
	else if (ps_is_kw(p, "BINLOG"))
		ps_fail(p, "BINLOG events cannot be inspected");
	else if (ps_is_kw(p, "SET"))
		parse_set_global(p, s);
	else if (ps_is_kw(p, "INSTALL") || ps_is_kw(p, "UNINSTALL"))
		parse_plugin(p, s);
	else {
		/* compound statement outside a program: BEGIN NOT ATOMIC, IF, label: ... */
		s->verb = DDL_OTHER;
		s->object_type = "compound";
		ps_scan_body(p, s);
		if (!s->body_has_ddl) {
			s->kind = STMT_DML;
			s->verb = DDL_NONE;
			s->object_type = NULL;
		}
	}
}

/* Tokens a single-table DML needs before its target is known. */
#define DML_HEAD_TOKENS 24

static void dml_modifiers(struct parser *p, const char *const *mods)
{
	for (bool more = true; more;) {
		more = false;
		for (size_t i = 0; mods[i]; i++)
			more |= ps_accept_kw(p, mods[i]);
	}
}

/* The table one INSERT, REPLACE, UPDATE or DELETE writes, as an object;
 * fails (ps_fail) on any other form: a multi-table UPDATE or DELETE, a
 * WITH, a CALL. */
static void dml_target_tokens(struct parser *p, struct stmt *s)
{
	static const char *const ins[] = {"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", NULL};
	static const char *const upd[] = {"LOW_PRIORITY", "IGNORE", NULL};
	static const char *const del[] = {"LOW_PRIORITY", "QUICK", "IGNORE", NULL};
	if (ps_accept_kw(p, "INSERT") || ps_accept_kw(p, "REPLACE")) {
		dml_modifiers(p, ins);
		ps_accept_kw(p, "INTO");
		ps_qname(p, ps_add_object(p, s));
		return; /* columns, VALUES, SET or a SELECT follow: it writes this one table */
	}
	if (ps_accept_kw(p, "UPDATE")) {
		dml_modifiers(p, upd);
		ps_qname(p, ps_add_object(p, s));
		if (ps_accept_kw(p, "AS") || (!ps_is_kw(p, "SET") && ps_is_ident_tok(ps_cur(p))))
			ps_adv(p); /* its alias */
		ps_expect_kw(p, "SET"); /* not a join or a list of tables */
		return;
	}
	if (ps_accept_kw(p, "DELETE")) {
		dml_modifiers(p, del);
		ps_expect_kw(p, "FROM"); /* DELETE t1 FROM ...: several tables */
		ps_qname(p, ps_add_object(p, s));
		if (ps_is_op(p, ",") || ps_is_kw(p, "USING"))
			ps_fail(p, "several tables");
		return;
	}
	ps_fail(p, "not a single-table write");
}

/*
 * A DML's target for the audit record's objects: the one table a
 * single-table INSERT, REPLACE, UPDATE or DELETE writes, read from the
 * statement's first tokens. Any other form (reads, joins, several tables)
 * names none; nothing else about the statement changes.
 */
static void dml_target(struct parser *head, struct lexer *lx, struct stmt *out)
{
	struct parser p = {.a = head->a, .lex_flags = head->lex_flags, .eof = eof_tok};
	p.t = arena_alloc(p.a, DML_HEAD_TOKENS * sizeof(*p.t));
	p.t[p.n++] = head->t[0];
	struct lex_token t;
	while (p.n < DML_HEAD_TOKENS && lex_next(lx, &t))
		p.t[p.n++] = t;
	if (setjmp(p.jmp) == 0) {
		dml_target_tokens(&p, out);
	} else {
		out->nobjects = 0;
		out->objects = NULL;
	}
}

/*
 * The common entry for top-level and nested statements: classifies, and
 * for DDL lexes the whole statement into a token array and parses it.
 */
static void parse_at_depth(struct arena *a, const char *sql, size_t len, unsigned lex_flags,
			   unsigned depth, struct stmt *out)
{
	memset(out, 0, sizeof(*out));
	struct classify_info info;
	out->kind = classify_sql_mode(sql, len, lex_flags & ~(unsigned)LEX_KEEP_COMMENTS, &info);

	struct parser p = {.a = a, .lex_flags = lex_flags, .depth = depth, .eof = eof_tok};
	struct lexer lx;
	struct lex_token t;
	lex_init(&lx, sql, len,
		 lex_flags & (LEX_ANSI_QUOTES | LEX_NO_BACKSLASH_ESCAPES | LEX_SERVER_BITS));
	if (out->kind != STMT_DDL) {
		if (lex_next(&lx, &t) && t.type == LEX_WORD) {
			p.t = &t;
			p.n = 1;
			out->keyword = keyword_of(&p);
			if (out->kind == STMT_DML)
				dml_target(&p, &lx, out);
		}
		return;
	}
	while (lex_next(&lx, &t)) {
		p.t = ps_grow(&p, p.t, p.n, sizeof(*p.t));
		p.t[p.n++] = t;
	}
	p.eof.line = lx.line;
	out->keyword = keyword_of(&p);
	if (depth > PARSE_MAX_DEPTH) {
		out->kind = STMT_DDL;
		out->unparsed = true;
		out->error = "statements nested too deeply";
		return;
	}
	if (setjmp(p.jmp) == 0) {
		parse_tokens(&p, out);
	} else {
		out->kind = STMT_DDL;
		out->unparsed = true;
		out->error = p.error;
	}
}

static void parse_nested(struct parser *p, const char *sql, size_t len, struct stmt *out)
{
	parse_at_depth(p->a, sql, len, p->lex_flags, p->depth + 1, out);
}

void stmt_parse(struct arena *a, const char *sql, size_t len, unsigned lex_flags, struct stmt *out)
{
	parse_at_depth(a, sql, len, lex_flags, 0, out);
}
