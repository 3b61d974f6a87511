/* `ddlgate check`: lint migration files offline (or with live probes) with the proxy's rules. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/facts_mysql.h"
#include "config/cfg.h"
#include "rules/arena.h"
#include "rules/engine.h"
#include "rules/lex.h"
#include "rules/parse.h"
#include "rules/split.h"
#include "rules/sqlvalue.h"

#define CHECK_MAX_FILE (64u << 20)

enum check_format { FMT_TEXT, FMT_JSON, FMT_GITHUB };

/* arr (n elements of size bytes) grown by one element; aborts when out of
 * memory, like the arena. */
static void *grow_one(void *arr, size_t n, size_t size)
{
	void *v = realloc(arr, (n + 1) * size);
	if (!v)
		abort();
	return v;
}

/* A growable list of heap strings. */
struct strv {
	char **v; /* owned, each owned */
	size_t n;
};

static void strv_push(struct strv *s, char *str)
{
	s->v = grow_one(s->v, s->n, sizeof(*s->v));
	s->v[s->n++] = str;
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static char *path_join(const char *a, const char *b)
{
	char *p;
	size_t n = strlen(a);
	if (asprintf(&p, "%s%s%s", a, n && a[n - 1] == '/' ? "" : "/", b) < 0)
		abort();
	return p;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* One reported finding, owned by the run. */
struct check_item {
	char *file;
	unsigned line;
	char *rule;
	enum rules_action action;
	bool suppressed;
	char *reason;
	char *message;
	char *guard;
	char *object;
};

/* A finding held back until the end of the file (see struct routine). */
struct held_item {
	unsigned line;
	struct rules_finding f; /* strings owned (heap) */
};

/*
 * A stored procedure of the current file whose body prepares statements
 * from variables. Its unparseable-ddl findings are held back: each CALL
 * in the file judges the texts that call prepares instead, and only a
 * procedure the file never calls reports them (at the end of the file).
 */
struct routine {
	char *name; /* owned; lower case */
	char *sql;  /* owned: the CREATE PROCEDURE statement */
	size_t len;
	struct held_item *held; /* owned */
	size_t nheld;
	bool called;
};

/* Everything one `check` run accumulates. */
struct check_run {
	const struct rules_engine *engine;
	struct rules_ctx ctx;
	struct rules_fact_cache *cache; /* owned; NULL offline */
	struct facts_mysql *live;	/* owned; NULL offline */
	struct rules_facts provider;
	struct check_item *items; /* owned */
	size_t nitems;
	size_t piece_first; /* items[piece_first..] belong to the current statement */
	size_t files, statements;
	size_t blocking, warnings, suppressed;
	struct arena arena;
	const char *file;	  /* current file */
	struct sqlv_vars *vars;	  /* owned: the current file's user variables */
	struct routine *routines; /* owned: the current file's procedures (above) */
	size_t nroutines;
	bool io_error;
};

static char *dupn(const char *s)
{
	return s ? strdup(s) : NULL;
}

/*
 * Records one finding. prefix (may be NULL) replaces the engine's "In the
 * prepared statement: " when the statement text came from a variable, so
 * the message names the branch; note (may be NULL) follows the message's
 * first sentence in parentheses.
 */
static void add_item(struct check_run *r, unsigned line, const struct rules_finding *f,
		     const char *prefix, const char *note)
{
	static const char engine_prefix[] = "In the prepared statement: ";
	const char *msg = f->message;
	if (prefix && strncmp(msg, engine_prefix, sizeof(engine_prefix) - 1) == 0)
		msg += sizeof(engine_prefix) - 1;
	/* the note explains the "what and why" sentence: it goes at its end */
	const char *stop = note ? strstr(msg, ". ") : NULL;
	while (stop && stop > msg && stop[-1] == '.') /* an ellipsis ends no sentence */
		stop = strstr(stop + 1, ". ");
	int what = stop ? (int)(stop - msg) : (int)strlen(msg);
	char *text;
	if (asprintf(&text, "%s%.*s%s%s%s%s", prefix ? prefix : "", what, msg, note ? " (" : "",
		     note ? note : "", note ? ")" : "", msg + what) < 0)
		abort();
	/* A PREPARE whose text is unparseable is reported for the PREPARE and
	 * for its text; once the branch names the text both read the same. */
	for (size_t i = prefix ? r->piece_first : r->nitems; i < r->nitems; i++) {
		if (strcmp(r->items[i].rule, f->rule) == 0 &&
		    strcmp(r->items[i].message, text) == 0 &&
		    r->items[i].suppressed == f->suppressed) {
			free(text);
			return;
		}
	}
	r->items = grow_one(r->items, r->nitems, sizeof(*r->items));
	struct check_item *it = &r->items[r->nitems++];
	it->message = text;
	it->file = strdup(r->file);
	it->line = line;
	it->rule = strdup(f->rule);
	it->action = f->action;
	it->suppressed = f->suppressed;
	it->reason = dupn(f->reason);
	it->guard = dupn(f->guard);
	it->object = dupn(f->object);
	if (f->suppressed)
		r->suppressed++;
	else if (f->action == RULES_ACTION_BLOCK)
		r->blocking++;
	else
		r->warnings++;
}

/* Line of the statement's first token that is not a comment. */
static unsigned stmt_line(const struct split_piece *p)
{
	struct lexer lx;
	struct lex_token tok;
	lex_init(&lx, p->sql, p->len, 0);
	if (lex_next(&lx, &tok))
		return p->line + tok.line - 1;
	return p->line;
}

/*
 * Evaluates one parsed statement and records its findings (see add_item
 * for prefix and note). With live facts, a verdict that waits for facts is
 * completed by probing and evaluating again (the same two-phase path the
 * proxy takes, run inline here).
 */
static void hold(struct routine *rt, unsigned line, const struct rules_finding *f);

static void judge(struct check_run *r, const struct stmt *st, const char *sql, size_t len,
		  unsigned line, const char *prefix, const char *note, struct routine *rt)
{
	struct rules_verdict v;
	for (int round = 0;; round++) {
		rules_evaluate(r->engine, &r->arena, st, sql, len, &r->ctx, &v);
		if (!v.pending || !r->live || round == 3)
			break;
		(void)facts_mysql_fetch_pending(r->live, r->cache);
	}
	/* A blocked statement will run once it is fixed or allowed: the rest of
	 * the file is judged as if it had (the proxy, which really refuses it,
	 * does not remember it). */
	if (v.decision == RULES_BLOCK && !v.pending)
		rules_migration_apply(r->ctx.mig, st, r->ctx.schema);
	for (size_t i = 0; i < v.nfindings; i++) {
		const struct rules_finding *f = &v.findings[i];
		if (f->passed)
			continue;
		bool unparseable = strcmp(f->rule, RULES_ID_UNPARSEABLE) == 0;
		if (rt && unparseable && f->inner && f->inner <= st->ninner &&
		    st->inner[f->inner - 1].prepare_from_variable) {
			hold(rt, line, f);
			continue;
		}
		add_item(r, line, f, prefix, note && unparseable && f->inner == 0 ? note : NULL);
	}
}

/* s for a message: whitespace runs folded, trailing ';' dropped, at most
 * max bytes (cut on a character boundary). Lives in the run's arena. */
static const char *brief(struct check_run *r, const char *s, size_t max)
{
	size_t n = strlen(s);
	char *o = arena_alloc(&r->arena, n + 4);
	size_t k = 0;
	for (const char *c = s; *c; c++) {
		bool space = *c == ' ' || *c == '\t' || *c == '\n' || *c == '\r';
		if (space && (k == 0 || o[k - 1] == ' '))
			continue;
		o[k++] = space ? ' ' : *c;
	}
	while (k > 0 && (o[k - 1] == ' ' || o[k - 1] == ';'))
		k--;
	if (k > max) {
		k = max;
		while (k > 0 && ((unsigned char)o[k] & 0xC0) == 0x80)
			k--;
		memcpy(o + k, "...", 3);
		k += 3;
	}
	o[k] = '\0';
	return o;
}

/* "<lead> <source> ("<value>"): ", the start of a branch's messages. */
static const char *branch_prefix(struct check_run *r, const char *lead, const char *src,
				 size_t srclen, const char *value)
{
	const char *s = brief(r, arena_strndup(&r->arena, src, srclen), 40);
	return arena_printf(&r->arena, "%s %s (\"%s\"): ", lead, s, brief(r, value, 80));
}

/*
 * A PREPARE whose text is known to be one of set: each value is judged as
 * the statement head + <value as a literal> + tail (the PREPARE as
 * written, its variable replaced), the message naming the branch and the
 * source expression src. call names the procedure when a CALL runs the
 * PREPARE (else NULL). A NULL value prepares nothing (the server refuses
 * it), so it has nothing to judge.
 */
static void judge_texts(struct check_run *r, const char *head, size_t headlen, const char *tail,
			size_t taillen, const struct sqlv_set *set, const char *src, size_t srclen,
			const char *call, unsigned line)
{
	size_t known = 0;
	for (size_t i = 0; i < set->n; i++)
		known += set->v[i] != NULL;
	const char *what = known > 1 ? "one branch of the conditional" : "the prepared statement";
	const char *lead = call ? arena_printf(&r->arena, "In CALL %s, %s", call, what)
				: arena_printf(&r->arena, "In %s", what);
	for (size_t i = 0; i < set->n; i++) {
		if (!set->v[i])
			continue;
		const char *lit = sqlv_quote(&r->arena, set->v[i], 0);
		size_t ll = strlen(lit), len = headlen + ll + taillen;
		char *sql = arena_alloc(&r->arena, len + 1);
		memcpy(sql, head, headlen);
		memcpy(sql + headlen, lit, ll);
		memcpy(sql + headlen + ll, tail, taillen);
		const char *prefix = branch_prefix(r, lead, src, srclen, set->v[i]);
		struct stmt st;
		stmt_parse(&r->arena, sql, len, 0, &st);
		judge(r, &st, sql, len, line, prefix, NULL, NULL);
	}
}

/* ---- stored procedures ------------------------------------------------- */

static void hold(struct routine *rt, unsigned line, const struct rules_finding *f)
{
	rt->held = grow_one(rt->held, rt->nheld, sizeof(*rt->held));
	struct held_item *h = &rt->held[rt->nheld++];
	h->line = line;
	h->f = *f;
	h->f.rule = dupn(f->rule);
	h->f.message = dupn(f->message);
	h->f.guard = dupn(f->guard);
	h->f.object = dupn(f->object);
	h->f.reason = dupn(f->reason);
}

/* Reports what rt held back unless a CALL judged it, then frees rt's
 * contents. */
static void routine_release(struct check_run *r, struct routine *rt)
{
	for (size_t i = 0; i < rt->nheld; i++) {
		struct rules_finding *f = &rt->held[i].f;
		if (!rt->called)
			add_item(r, rt->held[i].line, f, NULL, NULL);
		free((char *)f->rule);
		free((char *)f->message);
		free((char *)f->guard);
		free((char *)f->object);
		free((char *)f->reason);
	}
	free(rt->held);
	free(rt->name);
	free(rt->sql);
}

static struct routine *routine_find(struct check_run *r, const char *name)
{
	for (size_t i = 0; i < r->nroutines; i++)
		if (strcasecmp(r->routines[i].name, name) == 0)
			return &r->routines[i];
	return NULL;
}

/* CREATE PROCEDURE whose body prepares from a variable: remembered (a
 * procedure created again replaces the older one). NULL otherwise. */
static struct routine *routine_define(struct check_run *r, const struct stmt *st,
				      const struct split_piece *p)
{
	if (st->kind != STMT_DDL || st->verb != DDL_CREATE_ROUTINE || !st->object_type ||
	    strcmp(st->object_type, "procedure") != 0 || !st->routine.name)
		return NULL;
	bool variable = false;
	for (size_t i = 0; i < st->ninner; i++)
		variable = variable || st->inner[i].prepare_from_variable;
	if (!variable)
		return NULL;
	struct routine *rt = routine_find(r, st->routine.name);
	if (rt) {
		routine_release(r, rt);
	} else {
		r->routines = grow_one(r->routines, r->nroutines, sizeof(*r->routines));
		rt = &r->routines[r->nroutines++];
	}
	memset(rt, 0, sizeof(*rt));
	rt->name = strdup(st->routine.name);
	rt->sql = malloc(p->len + 1); /* not strndup: the text may hold a NUL byte */
	if (!rt->sql)
		abort();
	memcpy(rt->sql, p->sql, p->len);
	rt->sql[p->len] = '\0';
	rt->len = p->len;
	return rt;
}

/* The comments of a statement, one per line: its directives, for the
 * statements a CALL of it runs. Lives in the run's arena. */
static const char *comments_of(struct check_run *r, const struct split_piece *p)
{
	struct lexer lx;
	struct lex_token tok;
	char *o = arena_alloc(&r->arena, p->len + 2);
	size_t n = 0;
	lex_init(&lx, p->sql, p->len, LEX_KEEP_COMMENTS);
	while (lex_next(&lx, &tok)) {
		if (tok.type != LEX_COMMENT)
			continue;
		memcpy(o + n, tok.p, tok.n);
		n += tok.n;
		o[n++] = '\n';
	}
	o[n] = '\0';
	return o;
}

/*
 * CALL of a procedure of this file: the PREPAREs its body runs with these
 * arguments are judged at the CALL's line, text by text; one whose text
 * stays unknown is unparseable-ddl there, with the reason.
 */
static void judge_call(struct check_run *r, struct routine *rt, const struct split_piece *p,
		       unsigned line)
{
	static const char unknown_stmt[] = "PREPARE ddlgate_call FROM @unknown";
	static const char head[] = "PREPARE ddlgate_call FROM ";
	rt->called = true;
	struct sqlv_prepare *pp;
	const char *why;
	size_t n = sqlv_call(&r->arena, rt->sql, rt->len, p->sql, p->len, 0, r->vars, &pp, &why);
	const char *comments = comments_of(r, p);
	size_t clen = strlen(comments);
	const char *prefix = arena_printf(&r->arena, "In CALL %s: ", rt->name);
	for (size_t i = 0; i < n || (why && i == 0); i++) {
		const struct sqlv_set *set = why ? NULL : &pp[i].set;
		if (set && !set->unknown) {
			char *h = arena_alloc(&r->arena, clen + sizeof(head));
			memcpy(h, comments, clen);
			memcpy(h + clen, head, sizeof(head));
			judge_texts(r, h, clen + sizeof(head) - 1, "", 0, set, pp[i].source,
				    strlen(pp[i].source), rt->name, line);
			continue;
		}
		size_t len = clen + sizeof(unknown_stmt) - 1;
		char *sql = arena_alloc(&r->arena, len + 1);
		memcpy(sql, comments, clen);
		memcpy(sql + clen, unknown_stmt, sizeof(unknown_stmt));
		struct stmt st;
		stmt_parse(&r->arena, sql, len, 0, &st);
		/* say which source is unknown unless the reason already does */
		const char *note = why;
		if (!why)
			note = strncmp(set->unknown, pp[i].source, strlen(pp[i].source)) == 0
				   ? set->unknown
				   : arena_printf(&r->arena, "%s: %s", pp[i].source, set->unknown);
		judge(r, &st, sql, len, line, prefix, note, NULL);
	}
}

/* Items of the current file (from first on) in line order: findings held
 * back for an uncalled procedure were added at the end. */
static void sort_file_items(struct check_run *r, size_t first)
{
	for (size_t i = first + 1; i < r->nitems; i++) {
		struct check_item it = r->items[i];
		size_t j = i;
		while (j > first && r->items[j - 1].line > it.line) {
			r->items[j] = r->items[j - 1];
			j--;
		}
		r->items[j] = it;
	}
}

/* Parses, evaluates and tracks one statement of the file. */
static bool on_piece(const struct split_piece *p, void *arg)
{
	struct check_run *r = arg;
	struct stmt st;
	arena_reset(&r->arena);
	stmt_parse(&r->arena, p->sql, p->len, 0, &st);
	if (st.kind == STMT_EMPTY)
		return true;
	r->statements++;
	r->piece_first = r->nitems;
	unsigned line = stmt_line(p);
	struct sqlv_set set = {.unknown = NULL};
	size_t b, e;
	if (st.kind == STMT_DDL && st.prepare_from_variable &&
	    sqlv_prepared(&r->arena, p->sql, p->len, 0, r->vars, &set, &b, &e) && !set.unknown) {
		judge_texts(r, p->sql, b, p->sql + e, p->len - e, &set, p->sql + b, e - b, NULL,
			    line);
	} else {
		struct routine *rt = routine_define(r, &st, p);
		judge(r, &st, p->sql, p->len, line, NULL, set.unknown, rt);
	}
	const char *target = st.keyword && strcmp(st.keyword, "CALL") == 0
				 ? sqlv_call_target(&r->arena, p->sql, p->len, 0)
				 : NULL;
	struct routine *called = target ? routine_find(r, target) : NULL;
	if (called)
		judge_call(r, called, p, line);
	sqlv_track(r->vars, &r->arena, p->sql, p->len, 0);
	return true;
}

/* Lints one file as one migration. */
static void check_file(struct check_run *r, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "ddlgate check: %s: %s\n", path, strerror(errno));
		r->io_error = true;
		return;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 131072;
			char *nb = realloc(buf, cap);
			if (!nb)
				abort();
			buf = nb;
		}
		size_t k = fread(buf + len, 1, cap - len - 1, f);
		len += k;
		if (k == 0 || len > CHECK_MAX_FILE)
			break;
	}
	bool err = ferror(f);
	fclose(f);
	if (err || len > CHECK_MAX_FILE) {
		fprintf(stderr, "ddlgate check: %s: %s\n", path,
			err ? "read error" : "file too large");
		r->io_error = true;
		free(buf);
		return;
	}
	buf[len] = '\0';
	struct rules_migration *mig = rules_migration_new();
	r->ctx.mig = mig;
	r->vars = sqlv_vars_new();
	r->file = path;
	r->files++;
	size_t first = r->nitems;
	(void)split_sql(buf, len, SPLIT_FILE, on_piece, r);
	for (size_t i = 0; i < r->nroutines; i++)
		routine_release(r, &r->routines[i]);
	free(r->routines);
	r->routines = NULL;
	r->nroutines = 0;
	sort_file_items(r, first);
	r->ctx.mig = NULL;
	rules_migration_free(mig);
	sqlv_vars_free(r->vars);
	r->vars = NULL;
	free(buf);
}

/* ---- finding the migrations ------------------------------------------- */

static int entry_cmp(const struct dirent **a, const struct dirent **b)
{
	return versionsort(a, b);
}

/* sqitch: the plan's order, deploy/<change>.sql; name order without a plan. */
static bool collect_sqitch(const char *dir, struct strv *out)
{
	char *plan = path_join(dir, "sqitch.plan");
	char *deploy = path_join(dir, "deploy");
	FILE *f = fopen(plan, "r");
	bool ok = true;
	if (f) {
		char line[4096];
		struct strv seen = {0};
		while (fgets(line, sizeof(line), f)) {
			char *s = line + strspn(line, " \t");
			if (*s == '%' || *s == '#' || *s == '@' || *s == '\n' || *s == '\r' || !*s)
				continue;
			size_t n = strcspn(s, " \t\r\n[");
			s[n] = '\0';
			bool dup = false;
			for (size_t i = 0; i < seen.n; i++)
				if (strcmp(seen.v[i], s) == 0)
					dup = true;
			if (dup)
				continue;
			strv_push(&seen, strdup(s));
			char *name;
			if (asprintf(&name, "%s.sql", s) < 0)
				abort();
			char *file = path_join(deploy, name);
			free(name);
			if (is_file(file)) {
				strv_push(out, file);
			} else {
				fprintf(stderr, "ddlgate check: %s: change %s has no %s\n", plan, s,
					file);
				free(file);
				ok = false;
			}
		}
		strv_free(&seen);
		fclose(f);
	} else {
		struct dirent **ents;
		int n = scandir(deploy, &ents, NULL, entry_cmp);
		for (int i = 0; i < n; i++) {
			if (ends_with(ents[i]->d_name, ".sql")) {
				char *file = path_join(deploy, ents[i]->d_name);
				if (is_file(file))
					strv_push(out, file);
				else
					free(file);
			}
			free(ents[i]);
		}
		if (n >= 0)
			free(ents);
	}
	free(plan);
	free(deploy);
	return ok;
}

/*
 * Every migration under dir, in name (version) order: *.sql files and
 * sub-directories walked in turn (Prisma's <stamp>_<name>/migration.sql
 * falls out of this). Down / undo migrations (*.down.sql, Flyway U*.sql)
 * are skipped: they are not applied going forward. A directory with a
 * sqitch.plan or deploy/ is read as a sqitch project.
 */
static bool collect_dir(const char *dir, struct strv *out, int depth)
{
	char *plan = path_join(dir, "sqitch.plan");
	char *deploy = path_join(dir, "deploy");
	bool sqitch = is_file(plan) || is_dir(deploy);
	free(plan);
	free(deploy);
	if (sqitch)
		return collect_sqitch(dir, out);
	if (depth > 8)
		return true;
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, entry_cmp);
	if (n < 0) {
		fprintf(stderr, "ddlgate check: %s: %s\n", dir, strerror(errno));
		return false;
	}
	bool ok = true;
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		if (name[0] != '.') {
			char *p = path_join(dir, name);
			if (is_dir(p)) {
				ok = collect_dir(p, out, depth + 1) && ok;
				free(p);
			} else if (ends_with(name, ".sql") && !ends_with(name, ".down.sql") &&
				   !(name[0] == 'U' && strstr(name, "__"))) {
				strv_push(out, p);
			} else {
				free(p);
			}
		}
		free(ents[i]);
	}
	free(ents);
	return ok;
}

/* ---- output ------------------------------------------------------------ */

static const char *item_decision(const struct check_item *it)
{
	if (it->suppressed)
		return "allowed";
	return it->action == RULES_ACTION_BLOCK ? "block" : "warn";
}

static void print_text(const struct check_run *r, FILE *out)
{
	for (size_t i = 0; i < r->nitems; i++) {
		const struct check_item *it = &r->items[i];
		fprintf(out, "%s:%u: %s [%s] %s", it->file, it->line, item_decision(it), it->rule,
			it->message);
		if (it->guard)
			fprintf(out, " (%s)", it->guard);
		if (it->suppressed)
			fprintf(out, " [directive: %s]",
				it->reason ? it->reason : "no reason given");
		fputc('\n', out);
	}
	fprintf(out,
		"ddlgate check: %zu file(s), %zu statement(s): %zu blocking, %zu warning(s), "
		"%zu allowed by directive\n",
		r->files, r->statements, r->blocking, r->warnings, r->suppressed);
}

static void print_json(const struct check_run *r, FILE *out)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < r->nitems; i++) {
		const struct check_item *it = &r->items[i];
		json_t *o = json_object();
		json_object_set_new(o, "file", json_string(it->file));
		json_object_set_new(o, "line", json_integer(it->line));
		json_object_set_new(o, "rule", json_string(it->rule));
		json_object_set_new(o, "action", json_string(rules_action_name(it->action)));
		json_object_set_new(o, "decision", json_string(item_decision(it)));
		json_object_set_new(o, "message", json_string(it->message));
		json_object_set_new(o, "guard", it->guard ? json_string(it->guard) : json_null());
		json_object_set_new(o, "object",
				    it->object ? json_string(it->object) : json_null());
		json_object_set_new(o, "suppressed", json_boolean(it->suppressed));
		if (it->suppressed)
			json_object_set_new(o, "reason",
					    it->reason ? json_string(it->reason) : json_null());
		json_array_append_new(arr, o);
	}
	json_dumpf(arr, out, JSON_INDENT(2));
	fputc('\n', out);
	json_decref(arr);
}

/* GitHub workflow commands escape %, CR, LF (and , : in properties). */
static void gh_escape(FILE *out, const char *s, bool property)
{
	for (; *s; s++) {
		switch (*s) {
		case '%':
			fputs("%25", out);
			break;
		case '\r':
			fputs("%0D", out);
			break;
		case '\n':
			fputs("%0A", out);
			break;
		case ':':
			fputs(property ? "%3A" : ":", out);
			break;
		case ',':
			fputs(property ? "%2C" : ",", out);
			break;
		default:
			fputc(*s, out);
		}
	}
}

static void print_github(const struct check_run *r, FILE *out)
{
	for (size_t i = 0; i < r->nitems; i++) {
		const struct check_item *it = &r->items[i];
		const char *cmd = it->suppressed		     ? "notice"
				  : it->action == RULES_ACTION_BLOCK ? "error"
								     : "warning";
		fprintf(out, "::%s file=", cmd);
		gh_escape(out, it->file, true);
		fprintf(out, ",line=%u,title=", it->line);
		fputs("ddlgate ", out);
		gh_escape(out, it->rule, true);
		fputs("::", out);
		gh_escape(out, it->message, false);
		if (it->guard) {
			fputs(" (", out);
			gh_escape(out, it->guard, false);
			fputs(")", out);
		}
		fputc('\n', out);
	}
}

/* ---- command ----------------------------------------------------------- */

static void usage(FILE *out)
{
	fputs("usage: ddlgate check [-c FILE] [--dsn mysql://user:pass@host:port/db]\n"
	      "                     [--format text|json|github] PATH...\n"
	      "Lints migration files or folders (Prisma migrations/, plain .sql files,\n"
	      "sqitch deploy/) with ddlgate's rules. Each file is one migration.\n"
	      "Exit: 0 clean (warnings allowed), 1 blocking findings, 2 usage or config error.\n",
	      out);
}

static void run_cleanup(struct check_run *r)
{
	for (size_t i = 0; i < r->nitems; i++) {
		struct check_item *it = &r->items[i];
		free(it->file);
		free(it->rule);
		free(it->reason);
		free(it->message);
		free(it->guard);
		free(it->object);
	}
	free(r->items);
	facts_mysql_free(r->live);
	rules_fact_cache_free(r->cache);
	arena_cleanup(&r->arena);
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"dsn", required_argument, NULL, 'd'},
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *cfg_path = NULL, *dsn = NULL;
	enum check_format fmt = FMT_TEXT;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:hf:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'd':
			dsn = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "text") == 0)
				fmt = FMT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				fmt = FMT_JSON;
			else if (strcmp(optarg, "github") == 0)
				fmt = FMT_GITHUB;
			else {
				fprintf(stderr, "ddlgate check: unknown format '%s'\n", optarg);
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "ddlgate check: bad option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ddlgate check: no PATH given\n");
		usage(stderr);
		return 2;
	}

	char err[512];
	struct cfg *cfg = cfg_path ? cfg_load(cfg_path, err, sizeof(err)) : cfg_defaults();
	if (!cfg) {
		fprintf(stderr, "ddlgate check: %s\n", cfg_path ? err : "out of memory");
		return 2;
	}
	struct rules_engine *engine = rules_engine_new(cfg->rules, cfg->nrules, err, sizeof(err));
	if (!engine) {
		fprintf(stderr, "ddlgate check: %s: %s\n", cfg_path ? cfg_path : "config", err);
		cfg_free(cfg);
		return 2;
	}

	struct strv files = {0};
	bool ok = true;
	for (int i = optind; i < argc; i++) {
		if (is_dir(argv[i])) {
			ok = collect_dir(argv[i], &files, 0) && ok;
		} else if (is_file(argv[i])) {
			strv_push(&files, strdup(argv[i]));
		} else {
			fprintf(stderr, "ddlgate check: %s: no such file or directory\n", argv[i]);
			ok = false;
		}
	}

	struct check_run r;
	memset(&r, 0, sizeof(r));
	arena_init(&r.arena, 65536);
	r.engine = engine;
	r.ctx.lock_wait_timeout = -1;
	r.ctx.max_lock_wait_s = cfg->guard.max_lock_wait_s;
	r.ctx.large_table_bytes = cfg->guard.large_table_bytes;
	struct facts_dsn d;
	memset(&d, 0, sizeof(d));
	int rc = 0;
	if (ok && dsn) {
		long timeout = cfg_path && cfg->guard.probe_timeout_ms > 0
				   ? cfg->guard.probe_timeout_ms
				   : 2000;
		if (!facts_dsn_parse(dsn, &d, err, sizeof(err)) ||
		    !(r.live = facts_mysql_connect(&d, timeout, err, sizeof(err)))) {
			fprintf(stderr, "ddlgate check: %s\n", err);
			ok = false;
		} else {
			facts_mysql_mask_samples(r.live, cfg->guard.sample_values ==
							     CFG_SAMPLE_VALUES_MASK);
			r.cache = rules_fact_cache_new();
			r.provider = rules_fact_cache_provider(r.cache);
			r.ctx.facts = &r.provider;
			r.ctx.schema = d.db;
		}
	}
	if (!ok) {
		rc = 2;
	} else {
		for (size_t i = 0; i < files.n; i++)
			check_file(&r, files.v[i]);
		if (fmt == FMT_JSON)
			print_json(&r, stdout);
		else if (fmt == FMT_GITHUB)
			print_github(&r, stdout);
		else
			print_text(&r, stdout);
		rc = r.io_error ? 2 : r.blocking ? 1 : 0;
	}
	run_cleanup(&r);
	facts_dsn_cleanup(&d);
	strv_free(&files);
	rules_engine_free(engine);
	cfg_free(cfg);
	return rc;
}
