/* Rule engine: rule catalogue, configuration, custom rules, evaluation driver. */
#include "rules/engine.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/directive.h"
#include "rules/lex.h"
#include "rules/rule_internal.h"

/* ---- catalogue -------------------------------------------------------- */

static const struct rules_builtin builtins[] = {
    {"unique-unguarded", RULES_ACTION_BLOCK, true, true},
    {"add-required-column", RULES_ACTION_BLOCK, true, true},
    {"set-not-null", RULES_ACTION_BLOCK, true, true},
    {"drop-table", RULES_ACTION_BLOCK, true, true},
    {"drop-database", RULES_ACTION_BLOCK, true, true},
    {"drop-column", RULES_ACTION_BLOCK, true, true},
    {"truncate-table", RULES_ACTION_BLOCK, true, true},
    {"rename-table", RULES_ACTION_BLOCK, true, true},
    {"rename-column", RULES_ACTION_BLOCK, true, true},
    {"column-type-change", RULES_ACTION_BLOCK, true, true},
    {"blocking-algorithm", RULES_ACTION_BLOCK, true, true},
    {"large-table-ddl", RULES_ACTION_WARN, true, true},
    {"add-foreign-key", RULES_ACTION_WARN, true, true},
    {"drop-foreign-key", RULES_ACTION_WARN, true, true},
    {"missing-primary-key", RULES_ACTION_WARN, true, true},
    {"inline-references", RULES_ACTION_WARN, true, true},
    {"unbounded-lock-wait", RULES_ACTION_WARN, true, true},
    {"server-config-change", RULES_ACTION_BLOCK, true, true},
    {"engine-change", RULES_ACTION_BLOCK, true, true},
    {"lossy-conversion", RULES_ACTION_BLOCK, true, true},
    {"column-made-generated", RULES_ACTION_BLOCK, true, true},
    {RULES_ID_LOCK_WAIT_EXCEEDED, RULES_ACTION_BLOCK, false, false},
    {RULES_ID_MIGRATION_CONFLICT, RULES_ACTION_BLOCK, false, false},
    {RULES_ID_OUTSIDE_WINDOW, RULES_ACTION_BLOCK, false, false},
    {RULES_ID_UNPARSEABLE, RULES_ACTION_BLOCK, false, true},
};
#define NBUILTINS (sizeof(builtins) / sizeof(builtins[0]))

const struct rules_builtin *rules_builtin_list(size_t *n)
{
	*n = NBUILTINS;
	return builtins;
}

const struct rules_builtin *rules_builtin_find(const char *id)
{
	for (size_t i = 0; id && i < NBUILTINS; i++)
		if (strcmp(builtins[i].id, id) == 0)
			return &builtins[i];
	return NULL;
}

const char *rules_action_name(enum rules_action a)
{
	switch (a) {
	case RULES_ACTION_OFF:
		return "off";
	case RULES_ACTION_WARN:
		return "warn";
	case RULES_ACTION_BLOCK:
		return "block";
	}
	return "?";
}

const char *rules_decision_name(enum rules_decision d)
{
	switch (d) {
	case RULES_ALLOW:
		return "allow";
	case RULES_WARN:
		return "warn";
	case RULES_BLOCK:
		return "block";
	}
	return "?";
}

/* ---- scopes ------------------------------------------------------------ */

/* Where a rule applies: an empty list matches everything. The engine owns
 * the pattern strings (copies of the spec's). */
struct scope {
	struct rules_patterns schemas, tables, users;
};

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

static void scope_list_copy(struct rules_patterns *d, const struct rules_patterns *l)
{
	d->n = l->n;
	for (size_t i = 0; i < l->n; i++)
		d->items[i] = xstrdup(l->items[i]);
}

static void scope_list_free(struct rules_patterns *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	l->n = 0;
}

/* An unknown value (NULL) matches every list: the caller cannot tell.
 * flags: RULES_PATTERN_CASE for account names, which the server compares
 * case-sensitively (MIGRATOR is not migrator). */
static bool scope_list_match(const struct rules_patterns *l, const char *v, unsigned flags)
{
	return l->n == 0 || !v || rules_patterns_match_flags(l, v, flags);
}

static bool scope_match(const struct scope *s, const char *user, const char *schema,
			const char *table)
{
	return scope_list_match(&s->users, user, RULES_PATTERN_CASE) &&
	       scope_list_match(&s->schemas, schema, 0) && scope_list_match(&s->tables, table, 0);
}

/* ---- engine ----------------------------------------------------------- */

struct custom_rule {
	char *id;      /* owned */
	char *message; /* owned */
	enum rules_action action;
	struct scope scope;
	pcre2_code *re; /* owned */
};

struct rules_engine {
	enum rules_action action[NBUILTINS];
	struct scope scope[NBUILTINS];
	struct custom_rule *custom; /* owned */
	size_t ncustom;
};

static enum rules_action map_action(enum rules_spec_action a, enum rules_action dflt)
{
	switch (a) {
	case RULES_SPEC_OFF:
		return RULES_ACTION_OFF;
	case RULES_SPEC_WARN:
		return RULES_ACTION_WARN;
	case RULES_SPEC_BLOCK:
		return RULES_ACTION_BLOCK;
	case RULES_SPEC_DEFAULT:
		break;
	}
	return dflt;
}

void rules_engine_free(struct rules_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < NBUILTINS; i++) {
		scope_list_free(&e->scope[i].schemas);
		scope_list_free(&e->scope[i].tables);
		scope_list_free(&e->scope[i].users);
	}
	for (size_t i = 0; i < e->ncustom; i++) {
		struct custom_rule *c = &e->custom[i];
		free(c->id);
		free(c->message);
		scope_list_free(&c->scope.schemas);
		scope_list_free(&c->scope.tables);
		scope_list_free(&c->scope.users);
		pcre2_code_free(c->re);
	}
	free(e->custom);
	free(e);
}

static void scope_copy(struct scope *d, const struct rules_spec *r)
{
	scope_list_copy(&d->schemas, &r->schemas);
	scope_list_copy(&d->tables, &r->tables);
	scope_list_copy(&d->users, &r->users);
}

struct rules_engine *rules_engine_new(const struct rules_spec *specs, size_t n, char *err,
				      size_t errlen)
{
	struct rules_engine *e = xcalloc(1, sizeof(*e));
	e->custom = xcalloc(n, sizeof(*e->custom));
	for (size_t i = 0; i < NBUILTINS; i++)
		e->action[i] = builtins[i].default_action;
	for (size_t i = 0; i < n; i++) {
		const struct rules_spec *r = &specs[i];
		const struct rules_builtin *b = rules_builtin_find(r->id);
		if (b) {
			size_t k = (size_t)(b - builtins);
			if (r->pattern) {
				snprintf(err, errlen,
					 "line %d: [rule \"%s\"]: built-in rules take no pattern",
					 r->line, r->id);
				goto fail;
			}
			e->action[k] = map_action(r->action, builtins[k].default_action);
			scope_list_free(&e->scope[k].schemas);
			scope_list_free(&e->scope[k].tables);
			scope_list_free(&e->scope[k].users);
			scope_copy(&e->scope[k], r);
			continue;
		}
		if (!r->pattern || !*r->pattern) {
			snprintf(
			    err, errlen,
			    "line %d: [rule \"%s\"]: unknown built-in rule, and no pattern for a "
			    "custom rule",
			    r->line, r->id ? r->id : "");
			goto fail;
		}
		int ecode;
		PCRE2_SIZE eoff;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)r->pattern, PCRE2_ZERO_TERMINATED,
					       PCRE2_UTF, &ecode, &eoff, NULL);
		if (!re) {
			PCRE2_UCHAR msg[160];
			pcre2_get_error_message(ecode, msg, sizeof(msg));
			snprintf(err, errlen, "line %d: [rule \"%s\"] pattern: %s at offset %zu",
				 r->line, r->id, (const char *)msg, (size_t)eoff);
			goto fail;
		}
		(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* interpreter if no JIT */
		struct custom_rule *c = &e->custom[e->ncustom++];
		c->id = xstrdup(r->id);
		c->message = r->message && *r->message ? xstrdup(r->message) : NULL;
		c->action = map_action(r->action, RULES_ACTION_BLOCK);
		c->re = re;
		scope_copy(&c->scope, r);
	}
	return e;
fail:
	rules_engine_free(e);
	return NULL;
}

enum rules_action rules_engine_action(const struct rules_engine *e, const char *id,
				      const char *user, const char *schema, const char *table)
{
	const struct rules_builtin *b = rules_builtin_find(id);
	if (b) {
		size_t k = (size_t)(b - builtins);
		return scope_match(&e->scope[k], user, schema, table) ? e->action[k]
								      : RULES_ACTION_OFF;
	}
	for (size_t i = 0; id && i < e->ncustom; i++)
		if (strcmp(e->custom[i].id, id) == 0)
			return scope_match(&e->custom[i].scope, user, schema, table)
				   ? e->custom[i].action
				   : RULES_ACTION_OFF;
	return RULES_ACTION_OFF;
}

/* ---- findings --------------------------------------------------------- */

const char *rules_fmt(struct arena *a, const char *fmt, ...)
{
	/* One formatting pass for the usual short message; a second only
	 * when it does not fit the stack buffer. */
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return "";
	if ((size_t)n < sizeof(buf))
		return arena_strndup(a, buf, (size_t)n);
	char *s = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

const char *rules_schema_of(const struct rules_eval *ev, const struct stmt_name *n)
{
	if (n && n->schema)
		return n->schema;
	return ev->ctx->schema ? ev->ctx->schema : "";
}

/* Appends to one of the verdict's arena arrays, doubling it when full. */
static struct rules_finding *finding_add(struct rules_eval *ev, bool passed)
{
	struct rules_finding **arr = passed ? &ev->v->passed : &ev->v->findings;
	size_t *n = passed ? &ev->v->npassed : &ev->v->nfindings;
	size_t *cap = passed ? &ev->cap_passed : &ev->cap;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct rules_finding *f = arena_alloc(ev->a, ncap * sizeof(*f));
		if (*n)
			memcpy(f, *arr, *n * sizeof(*f));
		*arr = f;
		*cap = ncap;
	}
	struct rules_finding *f = &(*arr)[(*n)++];
	memset(f, 0, sizeof(*f));
	return f;
}

/* Suppression, inner-statement prefix and the decision are applied here so
 * every rule reports the same way. */
/* Whether the text just before p (start: the message's first byte) ends
 * with word, a phrase that introduces a table name. */
static bool ends_with_word(const char *start, const char *p, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(p - start) >= n && memcmp(p - n, word, n) == 0;
}

/*
 * what, with the table named as `schema`.`table`: a tool's statement says
 * `customers` and relies on the session's schema, and a user reading the
 * tool's error must see which database it was. The mention qualified is
 * the first `table` that is followed by a column (`t`.`c`) or introduced
 * as a table ("of", "on", "TABLE" ...), never a column or index of the
 * same name. A message that names the table nowhere (or qualified
 * already) gets "(schema S)" at its end.
 */
static const char *qualify_table(struct rules_eval *ev, const char *what, const char *schema,
				 const char *table)
{
	static const char *const intro[] = {"of ", "on ", "TABLE ", "Table ", "table ", "scans "};
	if (!schema || !table || !what)
		return what;
	const char *needle = rules_fmt(ev->a, "`%s`", table);
	if (strstr(what, rules_fmt(ev->a, "`%s`.%s", schema, needle)))
		return what;
	size_t nl = strlen(needle);
	for (const char *p = strstr(what, needle); p; p = strstr(p + 1, needle)) {
		if (p > what && p[-1] == '.')
			continue; /* `other`.`t`: another schema's table, as the statement said */
		bool hit = p[nl] == '.';
		for (size_t i = 0; !hit && i < sizeof(intro) / sizeof(intro[0]); i++)
			hit = ends_with_word(what, p, intro[i]);
		if (hit)
			return rules_fmt(ev->a, "%.*s`%s`.%s", (int)(p - what), what, schema, p);
	}
	return rules_fmt(ev->a, "%s (schema %s)", what, schema);
}

struct rules_finding *rules_emit(struct rules_eval *ev, const char *id, const char *schema,
				 const char *table, bool passed, const char *guard,
				 const char *what, const char *fix)
{
	const char *sch = schema && *schema ? schema : NULL;
	enum rules_action act = rules_engine_action(ev->e, id, ev->ctx->user, sch, table);
	if (act == RULES_ACTION_OFF)
		return NULL;
	struct rules_finding *f = finding_add(ev, passed);
	f->rule = id;
	f->action = act;
	f->passed = passed;
	f->guard = guard;
	f->inner = ev->inner;
	if (table)
		f->object = sch ? rules_fmt(ev->a, "%s.%s", sch, table) : table;
	else
		f->object = sch;
	if (!ev->verbatim && sch && table)
		what = qualify_table(ev, what, sch, table);
	const char *msg = fix && *fix ? rules_fmt(ev->a, "%s. %s", what, fix) : what;
	f->message = ev->inner ? rules_fmt(ev->a, "In the %s: %s", ev->inner_what, msg) : msg;
	if (!passed && directive_allows(&ev->v->directives, id)) {
		f->suppressed = true;
		f->reason = ev->v->directives.reason;
	}
	return f;
}

/* ---- normalisation ---------------------------------------------------- */

const char *rules_normalise(struct arena *a, const char *sql, size_t len, size_t *outlen)
{
	char *out = arena_alloc(a, len + 1);
	size_t n = 0;
	struct lexer lx;
	struct lex_token tok;
	const char *prev_end = NULL;
	lex_init(&lx, sql, len, 0);
	while (lex_next(&lx, &tok)) {
		if (tok.type == LEX_COMMENT)
			continue;
		/* one space wherever the original had anything between tokens */
		if (n > 0 && prev_end && tok.p > prev_end)
			out[n++] = ' ';
		memcpy(out + n, tok.p, tok.n);
		n += tok.n;
		prev_end = tok.p + tok.n;
	}
	while (n > 0 && (out[n - 1] == ';' || out[n - 1] == ' '))
		n--;
	out[n] = '\0';
	if (outlen)
		*outlen = n;
	return out;
}

/* ---- evaluation ------------------------------------------------------- */

#define CUSTOM_MATCH_LIMIT 1000000

static void check_custom(struct rules_eval *ev, const struct stmt *st, const char *norm,
			 size_t nlen)
{
	if (ev->e->ncustom == 0)
		return;
	const char *sch = st->nobjects ? rules_schema_of(ev, &st->objects[0]) : ev->ctx->schema;
	const char *tbl = st->nobjects ? st->objects[0].name : NULL;
	pcre2_match_data *md = NULL;
	pcre2_match_context *mc = NULL;
	for (size_t i = 0; i < ev->e->ncustom; i++) {
		const struct custom_rule *c = &ev->e->custom[i];
		if (c->action == RULES_ACTION_OFF)
			continue;
		if (!md) {
			md = pcre2_match_data_create(4, NULL);
			mc = pcre2_match_context_create(NULL);
			if (!md || !mc)
				abort();
			/* a pathological pattern must not stall an event loop */
			pcre2_set_match_limit(mc, CUSTOM_MATCH_LIMIT);
			pcre2_set_depth_limit(mc, CUSTOM_MATCH_LIMIT);
		}
		int rc = pcre2_match(c->re, (PCRE2_SPTR)norm, nlen, 0, 0, md, mc);
		const char *guard = NULL;
		if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
		    rc == PCRE2_ERROR_HEAPLIMIT)
			guard = "pattern hit its match limit: taken as a match";
		else if (rc < 0)
			continue;
		/* a custom message is the whole "<what and why>. <how>" text */
		ev->verbatim = c->message != NULL;
		struct rules_finding *f = rules_emit(
		    ev, c->id, sch, tbl, false, guard,
		    c->message ? c->message
			       : rules_fmt(ev->a, "The statement matches custom rule %s", c->id),
		    c->message ? "" : "Ask the owner of the rule how to make this change");
		ev->verbatim = false;
		if (f)
			f->custom = true;
	}
	pcre2_match_context_free(mc);
	pcre2_match_data_free(md);
}

static const char *inner_what(const struct stmt *st)
{
	switch (st->verb) {
	case DDL_CREATE_ROUTINE:
		return "routine body";
	case DDL_CREATE_TRIGGER:
		return "trigger body";
	case DDL_CREATE_EVENT:
	case DDL_ALTER_EVENT:
		return "event body";
	case DDL_PREPARE:
		return "prepared statement";
	default:
		return "statement body";
	}
}

/*
 * Evaluates st and, recursively, its inner statements. Inner statements run
 * later (a routine call, an EXECUTE), so nothing probed now holds for them:
 * they are judged offline, with their own migration memory (a body that
 * creates a table and indexes it is fine).
 */
static void eval_stmt(struct rules_eval *ev, const struct stmt *st, const char *norm, size_t nlen)
{
	rules_check_stmt(ev, st);
	if (norm)
		check_custom(ev, st, norm, nlen);
	if (st->ninner == 0)
		return;
	struct rules_eval sub = *ev;
	sub.facts = NULL;
	sub.mig = rules_migration_new();
	sub.inner_what = inner_what(st);
	for (size_t i = 0; i < st->ninner; i++) {
		if (!ev->inner)
			sub.inner = (unsigned)i + 1;
		eval_stmt(&sub, &st->inner[i], NULL, 0);
		rules_migration_apply(sub.mig, &st->inner[i], ev->ctx->schema);
	}
	ev->cap = sub.cap;
	ev->cap_passed = sub.cap_passed;
	rules_migration_free(sub.mig);
}

enum rules_decision rules_evaluate(const struct rules_engine *e, struct arena *a,
				   const struct stmt *st, const char *sql, size_t len,
				   const struct rules_ctx *ctx, struct rules_verdict *out)
{
	memset(out, 0, sizeof(*out));
	struct rules_eval ev = {
	    .e = e,
	    .a = a,
	    .ctx = ctx,
	    .facts = ctx->facts,
	    .mig = ctx->mig,
	    .v = out,
	};
	if (sql)
		(void)directive_scan(a, sql, len, 0, &out->directives);
	size_t nlen = 0;
	const char *norm = sql && e->ncustom ? rules_normalise(a, sql, len, &nlen) : NULL;
	eval_stmt(&ev, st, norm, nlen);

	out->decision = RULES_ALLOW;
	for (size_t i = 0; i < out->nfindings; i++) {
		const struct rules_finding *f = &out->findings[i];
		if (f->suppressed)
			continue;
		if (f->action == RULES_ACTION_BLOCK)
			out->decision = RULES_BLOCK;
		else if (f->action == RULES_ACTION_WARN && out->decision == RULES_ALLOW)
			out->decision = RULES_WARN;
	}
	if (!out->pending && out->decision != RULES_BLOCK && ctx->mig && !ctx->no_memory_update)
		rules_migration_apply(ctx->mig, st, ctx->schema);
	return out->decision;
}

const struct rules_finding *rules_verdict_blocker(const struct rules_verdict *v)
{
	for (size_t i = 0; i < v->nfindings; i++) {
		const struct rules_finding *f = &v->findings[i];
		if (!f->suppressed && f->action == RULES_ACTION_BLOCK)
			return f;
	}
	return NULL;
}

bool rules_format_error(const struct rules_verdict *v, char *buf, size_t n)
{
	const struct rules_finding *f = rules_verdict_blocker(v);
	if (!f) {
		if (n)
			buf[0] = '\0';
		return false;
	}
	snprintf(buf, n, "ddlgate: blocked by %s: %s", f->rule, f->message);
	return true;
}
