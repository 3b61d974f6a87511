/* Indirect execution: EXECUTE name, CALL and nested calls judged as the statements they run. */
/*
 * Three ways run a statement whose text is not in the command itself:
 *
 *   EXECUTE name        runs what PREPARE name FROM ... bound, possibly long
 *                       ago (pol_prep.c keeps the names, learnt from the
 *                       server's OK to each PREPARE)
 *   CALL [db.]p(...)    runs p's body, created whenever and by whoever
 *   compound statements and EXECUTE IMMEDIATE '...' that CALL or EXECUTE
 *
 * Each is judged as what it runs: a DDL text as that DDL (window,
 * migration-conflict, rules), text ddlgate cannot know (PREPARE FROM
 * @var, dynamic SQL or CALLs in a body, a body it cannot read) as DDL of
 * unknown content. Procedure bodies come from the server through the
 * [guard] account (SHOW CREATE PROCEDURE, on a guard worker) and are cached
 * process-wide for POL_ROUTINE_TTL_MS. The server is only asked while DDL
 * is restricted for the session (window closed, another session's
 * migration holds the floor) or when the routine is already known to
 * change the schema: ordinary CALL traffic costs nothing otherwise.
 *
 * Threads: the cache is shared by every session (rt.lock); everything
 * else runs on the session's event-loop thread.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/cfg.h"
#include "proxy/clock.h"
#include "proxy/cluster.h"
#include "proxy/guard.h"
#include "proxy/mem.h"
#include "proxy/pol_internal.h"
#include "proxy/window.h"
#include "rules/classify.h"
#include "rules/lex.h"
#include "rules/parse.h"
#include "rules/sqlscan.h"

/* ---- reading names ---- */

/* Copies identifier token t unquoted into out; false when t is none or too long. */
static bool pol_ident(const struct lex_token *t, char *out, size_t n)
{
	const char *s = t->p;
	size_t len = t->n;
	char q = 0;

	if (t->type == LEX_QUOTED_IDENT && len >= 2) {
		q = s[0];
		s++;
		len -= 2;
	} else if (t->type != LEX_WORD) {
		return false;
	}
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (q && s[i] == q && i + 1 < len && s[i + 1] == q)
			i++; /* a doubled quote stands for one */
		if (o + 1 >= n)
			return false;
		out[o++] = s[i];
	}
	out[o] = 0;
	return o > 0;
}

/*
 * What a statement runs by name: EXECUTE name (not IMMEDIATE), DEALLOCATE
 * / DROP PREPARE name, CALL [schema.]name, also behind MariaDB's SET
 * STATEMENT ... FOR. Fills name (and schema, "" when not written).
 */
enum pol_indirect pol_indirect_target(const char *sql, size_t len, unsigned mode, char *schema,
				      size_t schemalen, char *name, size_t namelen)
{
	struct lexer lx;
	struct lex_token t;
	enum pol_indirect what = POL_IND_NONE;

	schema[0] = name[0] = 0;
	lex_init(&lx, sql, len, mode & ~(unsigned)LEX_KEEP_COMMENTS);
	if (!lex_next(&lx, &t))
		return POL_IND_NONE;
	if (lex_is_word(&t, "SET")) {
		if (!lex_next(&lx, &t) || !lex_is_word(&t, "STATEMENT"))
			return POL_IND_NONE;
		int depth = 0;
		while (lex_next(&lx, &t) && !(depth == 0 && lex_is_word(&t, "FOR")))
			depth += lex_is_op(&t, "(") ? 1 : lex_is_op(&t, ")") ? -1 : 0;
		if (!lex_next(&lx, &t))
			return POL_IND_NONE;
	}
	if (lex_is_word(&t, "EXECUTE"))
		what = POL_IND_EXECUTE;
	else if (lex_is_word(&t, "CALL"))
		what = POL_IND_CALL;
	else if (lex_is_word(&t, "DEALLOCATE") || lex_is_word(&t, "DROP")) {
		if (!lex_next(&lx, &t) || !lex_is_word(&t, "PREPARE"))
			return POL_IND_NONE;
		what = POL_IND_DEALLOCATE;
	} else {
		return POL_IND_NONE;
	}
	if (!lex_next(&lx, &t) || (what == POL_IND_EXECUTE && lex_is_word(&t, "IMMEDIATE")) ||
	    !pol_ident(&t, name, namelen))
		return POL_IND_NONE;
	if (what == POL_IND_CALL && lex_next(&lx, &t) && lex_is_op(&t, ".")) {
		snprintf(schema, schemalen, "%s", name);
		if (!lex_next(&lx, &t) || !pol_ident(&t, name, namelen))
			return POL_IND_NONE;
	}
	return what;
}

/* The procedures a body CALLs, as written. */
#define POL_MAX_CALLEES 16
struct pol_found_calls {
	size_t n;
	char schema[POL_MAX_CALLEES][192]; /* "" when not written */
	char name[POL_MAX_CALLEES][192];
};

/* Reads the CALL at sql into calls; false when it cannot (full, or no
 * plain [schema.]name follows). */
static bool pol_found_add(struct pol_found_calls *calls, const char *sql, size_t len, unsigned mode)
{
	size_t i = calls->n;
	if (i >= POL_MAX_CALLEES ||
	    pol_indirect_target(sql, len, mode, calls->schema[i], sizeof(calls->schema[i]),
				calls->name[i], sizeof(calls->name[i])) != POL_IND_CALL)
		return false;
	calls->n++;
	return true;
}

/*
 * True when text runs statements by name past its first token: an EXECUTE
 * of a name, a CALL; with dynamic, also PREPARE and EXECUTE IMMEDIATE (a
 * stored program's dynamic SQL). With calls, each CALL's target goes there
 * instead and only a CALL it cannot read or keep counts. Function calls
 * (CALL(...)), qualified names (t.call) and DEALLOCATE PREPARE do not count.
 */
static bool pol_runs_by_name(const char *sql, size_t len, unsigned mode, bool dynamic,
			     struct pol_found_calls *calls)
{
	if (!lex_contains_ci(sql, len, "CALL") && !lex_contains_ci(sql, len, "EXECUTE") &&
	    !(dynamic && lex_contains_ci(sql, len, "PREPARE")))
		return false;
	struct lexer lx;
	struct lex_token w[3] = {{LEX_EOF}, {LEX_EOF}, {LEX_EOF}}; /* before, this one, after */
	size_t seen = 0;
	lex_init(&lx, sql, len, mode & ~(unsigned)LEX_KEEP_COMMENTS);
	for (bool more = true; more;) {
		w[0] = w[1];
		w[1] = w[2];
		more = lex_next(&lx, &w[2]);
		if (++seen < 3) /* w[1] is the first token or none yet */
			continue;
		const struct lex_token *b = &w[1], *a = &w[0], *c = &w[2];
		if (lex_is_op(a, ".") || lex_is_op(c, "(") || lex_is_op(c, ".") ||
		    lex_is_op(c, "="))
			continue;
		if (lex_is_word(b, "CALL") &&
		    (!calls || !pol_found_add(calls, b->p, len - (size_t)(b->p - sql), mode)))
			return true;
		if (lex_is_word(b, "EXECUTE") && (dynamic || !lex_is_word(c, "IMMEDIATE")))
			return true;
		if (dynamic && lex_is_word(b, "PREPARE") && !lex_is_word(a, "DEALLOCATE") &&
		    !lex_is_word(a, "DROP"))
			return true;
	}
	return false;
}

/* ---- is DDL restricted for this session now? ---- */

/*
 * True when a DDL of this session would be refused whatever it is: outside
 * a maintenance window (unless ddl-outside-window is off), or while another
 * session's migration holds the floor (no objects known: any migration
 * counts, as for DDL of unknown content).
 */
bool pol_ddl_restricted(struct pol_sess *ps, const char *schema)
{
	const struct cfg *c = ps->conf->cfg;
	char host[64], proc[MIGRATION_PROC_MAX], who[512];

	if (!window_open_now(c) &&
	    rules_engine_action(ps->conf->engine, RULES_ID_OUTSIDE_WINDOW, ps->hs->user, schema,
				NULL) != RULES_ACTION_OFF)
		return true;
	if (migration_conflict(ps->conn_id, ps->hs->user, host,
			       pol_client_id(ps, host, sizeof(host), proc, sizeof(proc)),
			       c->migration.scope, schema, NULL, 0, who, sizeof(who)))
		return true;
	return cluster_remote_migration(who, sizeof(who));
}

/* ---- the procedure body cache ---- */

enum pol_rt_what {
	POL_RT_UNREADABLE, /* not found, no privilege, no [guard] account */
	POL_RT_PLAIN,	   /* changes no schema itself (its callees may) */
	POL_RT_DDL,	   /* holds DDL ddlgate can read */
	POL_RT_DYNAMIC,	   /* dynamic SQL, or a CALL ddlgate cannot read: content unknown */
};

/* A procedure a body CALLs. */
struct pol_callee {
	char *schema; /* owned (or arena, in a view); the caller's schema when not written */
	char *name;
};

#define POL_ROUTINE_DEPTH 8   /* CALLs followed this deep */
#define POL_ROUTINE_VISITS 64 /* bodies looked at for one CALL */
#define POL_ROUTINE_ROUNDS 4  /* guard reads for one command */
#define POL_ROUTINE_MAX 1024  /* cache entries */

struct pol_routine {
	char *schema; /* owned; compared exactly, like the server's schema names */
	char *name;   /* owned; case-insensitive, like routine names */
	char *create; /* owned: SHOW CREATE PROCEDURE text; NULL unless DDL */
	unsigned
	    sql_mode; /* LEX_ANSI_QUOTES / LEX_NO_BACKSLASH_ESCAPES the body was created with */
	enum pol_rt_what what;
	struct pol_callee *callees; /* owned */
	size_t ncallees;
	int64_t read_mono; /* when it was read */
};

static struct {
	pthread_mutex_t lock;
	struct pol_routine *v; /* owned */
	size_t n, cap;
	atomic_size_t nddl; /* entries with POL_RT_DDL: CALLs take the slow path */
} rt = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct pol_routine *pol_rt_find_locked(const char *schema, const char *name)
{
	for (size_t i = 0; i < rt.n; i++)
		if (strcmp(rt.v[i].schema, schema) == 0 && strcasecmp(rt.v[i].name, name) == 0)
			return &rt.v[i];
	return NULL;
}

static void pol_rt_count_locked(void)
{
	size_t n = 0;
	for (size_t i = 0; i < rt.n; i++)
		n += rt.v[i].what == POL_RT_DDL;
	atomic_store(&rt.nddl, n);
}

/* Frees what a body read owns (not its key). */
static void pol_rt_body_free(struct pol_routine *e)
{
	for (size_t i = 0; i < e->ncallees; i++) {
		free(e->callees[i].schema);
		free(e->callees[i].name);
	}
	free(e->callees);
	free(e->create);
}

/* ddlgate forwarded a CREATE / ALTER / DROP of a routine or a DROP
 * DATABASE: what it read may be stale. */
void pol_routine_forget_all(void)
{
	pthread_mutex_lock(&rt.lock);
	for (size_t i = 0; i < rt.n; i++) {
		pol_rt_body_free(&rt.v[i]);
		free(rt.v[i].schema);
		free(rt.v[i].name);
	}
	rt.n = 0;
	atomic_store(&rt.nddl, 0);
	pthread_mutex_unlock(&rt.lock);
}

/*
 * What the body of procedure schema.* is, from its SHOW CREATE PROCEDURE
 * text; the procedures it CALLs go into e->callees (a CALL without a
 * schema names one of the procedure's own schema, where its body runs).
 */
static void pol_body_read(struct pol_routine *e, const char *schema, const char *create, size_t len,
			  unsigned mode)
{
	struct pol_found_calls found = {0};

	e->what = POL_RT_DYNAMIC;
	if (pol_runs_by_name(create, len, mode, true, &found))
		return;
	struct arena a;
	struct stmt st;
	arena_init(&a, 4096);
	stmt_parse(&a, create, len, mode, &st);
	if (st.kind == STMT_DDL && st.verb == DDL_CREATE_ROUTINE && !st.unparsed)
		e->what = st.body_has_ddl ? POL_RT_DDL : POL_RT_PLAIN;
	arena_cleanup(&a);
	if (e->what == POL_RT_DDL)
		e->create = mem_strndup(create, len, "routine cache");
	if (found.n)
		e->callees = mem_calloc(found.n, sizeof(*e->callees), "routine cache");
	for (size_t i = 0; i < found.n; i++) {
		e->callees[i].schema =
		    mem_strdup(found.schema[i][0] ? found.schema[i] : schema, "routine cache");
		e->callees[i].name = mem_strdup(found.name[i], "routine cache");
	}
	e->ncallees = found.n;
}

/* Stores what the guard read for schema.name (r NULL: nothing could be read). */
static void pol_rt_store(const char *schema, const char *name, const struct guard_result *r,
			 unsigned server_mode)
{
	struct pol_routine e = {.what = POL_RT_UNREADABLE, .read_mono = clk_mono_us()};
	/* SHOW CREATE PROCEDURE: Procedure, sql_mode, Create Procedure, ... */
	if (r && r->ok && r->has_row && r->ncols >= 3 && r->vals[2]) {
		const char *m = r->vals[1] ? r->vals[1] : "";
		e.sql_mode = (strstr(m, "ANSI_QUOTES") ? LEX_ANSI_QUOTES : 0) |
			     (strstr(m, "NO_BACKSLASH_ESCAPES") ? LEX_NO_BACKSLASH_ESCAPES : 0);
		pol_body_read(&e, schema, r->vals[2], r->lens[2], server_mode | e.sql_mode);
	}
	pthread_mutex_lock(&rt.lock);
	struct pol_routine *old = pol_rt_find_locked(schema, name);
	if (!old && rt.n >= POL_ROUTINE_MAX) {
		pthread_mutex_unlock(&rt.lock);
		pol_routine_forget_all(); /* crude, and rare: reads start over */
		pthread_mutex_lock(&rt.lock);
	}
	if (old) {
		pol_rt_body_free(old);
		e.schema = old->schema;
		e.name = old->name;
		*old = e;
	} else {
		if (rt.n == rt.cap) {
			rt.cap = rt.cap ? rt.cap * 2 : 16;
			rt.v = mem_realloc(rt.v, rt.cap * sizeof(*rt.v), "routine cache");
		}
		e.schema = mem_strdup(schema, "routine cache");
		e.name = mem_strdup(name, "routine cache");
		rt.v[rt.n++] = e;
	}
	pol_rt_count_locked();
	pthread_mutex_unlock(&rt.lock);
}

/* A session's copy of a cache entry: strings live in the session's arena. */
struct pol_rt_view {
	enum pol_rt_what what;
	const char *create; /* NULL unless DDL */
	size_t len;
	unsigned sql_mode;
	struct pol_callee *callees;
	size_t ncallees;
	bool fresh;
};

static char *pol_adup(struct pol_sess *ps, const char *s)
{
	return arena_strndup(&ps->arena, s, strlen(s));
}

/* Looks schema.name up; false when never read. */
static bool pol_rt_get(struct pol_sess *ps, const char *schema, const char *name,
		       struct pol_rt_view *v)
{
	bool found = false;
	pthread_mutex_lock(&rt.lock);
	const struct pol_routine *e = pol_rt_find_locked(schema, name);
	if (e) {
		found = true;
		v->what = e->what;
		v->create = e->create ? pol_adup(ps, e->create) : NULL;
		v->len = e->create ? strlen(e->create) : 0;
		v->sql_mode = e->sql_mode;
		v->ncallees = e->ncallees;
		v->callees = arena_alloc(&ps->arena, (e->ncallees + 1) * sizeof(*v->callees));
		for (size_t i = 0; i < e->ncallees; i++)
			v->callees[i] = (struct pol_callee){pol_adup(ps, e->callees[i].schema),
							    pol_adup(ps, e->callees[i].name)};
		v->fresh = clk_mono_us() - e->read_mono < (int64_t)POL_ROUTINE_TTL_MS * 1000;
	}
	pthread_mutex_unlock(&rt.lock);
	return found;
}

/* True when schema.name is known to hold DDL (however long ago it was read). */
static bool pol_rt_known_ddl(const char *schema, const char *name)
{
	if (atomic_load(&rt.nddl) == 0)
		return false;
	pthread_mutex_lock(&rt.lock);
	const struct pol_routine *e = pol_rt_find_locked(schema, name);
	bool ddl = e && e->what == POL_RT_DDL;
	pthread_mutex_unlock(&rt.lock);
	return ddl;
}

/* ---- resolving a CALL through the bodies it runs ---- */

enum pol_res { POL_RES_PLAIN, POL_RES_DDL, POL_RES_UNKNOWN, POL_RES_NEED };

/* What a CALL runs, gathered from its procedure and those it calls. */
struct pol_resolved {
	struct stmt *inner; /* arena: the DDL statements of every body reached */
	size_t ninner;
	const char *why; /* arena: why the content is unknown (or unread) */
	unsigned visits; /* bodies looked at: a CALL graph may fan out */
};

/* Adds schema.name to the bodies to read (once). */
static void pol_need_add(struct pol_sess *ps, struct pol_call **needs, size_t *n,
			 const char *schema, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*needs)[i].schema, schema) == 0 &&
		    strcasecmp((*needs)[i].name, name) == 0)
			return;
	struct pol_call *v = arena_alloc(&ps->arena, (*n + 1) * sizeof(*v));
	if (*n)
		memcpy(v, *needs, *n * sizeof(*v));
	v[(*n)++] = (struct pol_call){0, pol_adup(ps, schema), pol_adup(ps, name)};
	*needs = v;
}

static const char *pol_why(struct pol_sess *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *pol_why(struct pol_sess *ps, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return pol_adup(ps, buf);
}

/*
 * What CALL schema.name runs, from the cache: PLAIN, DDL (out->inner holds
 * it), UNKNOWN (out->why says why) or NEED (some body is not read or stale:
 * it joins needs). Follows the CALLs of each body, depth levels deep.
 */
static enum pol_res pol_rt_resolve(struct pol_sess *ps, const char *schema, const char *name,
				   unsigned depth, struct pol_resolved *out,
				   struct pol_call **needs, size_t *nneeds)
{
	struct pol_rt_view v = {0};

	if (depth > POL_ROUTINE_DEPTH || ++out->visits > POL_ROUTINE_VISITS) {
		out->why = pol_why(ps,
				   "procedure %s.%s is reached through too many CALLs, so "
				   "what CALL runs cannot be known",
				   schema, name);
		return POL_RES_UNKNOWN;
	}
	bool read = pol_rt_get(ps, schema, name, &v) && v.fresh;
	if (!read || v.what == POL_RT_UNREADABLE || v.what == POL_RT_DYNAMIC) {
		out->why = pol_why(
		    ps,
		    read && v.what == POL_RT_DYNAMIC
			? "procedure %s.%s runs dynamic SQL (PREPARE / EXECUTE), so what CALL runs "
			  "cannot be known"
			: "the body of procedure %s.%s cannot be read through the [guard] account "
			  "(not found, no privilege, or no [guard] account), so what CALL runs "
			  "cannot be known",
		    schema, name);
		if (read)
			return POL_RES_UNKNOWN;
		pol_need_add(ps, needs, nneeds, schema, name);
		return POL_RES_NEED;
	}
	enum pol_res res = POL_RES_PLAIN;
	if (v.what == POL_RT_DDL && v.create) {
		struct stmt body;
		stmt_parse(&ps->arena, v.create, v.len, ps->hs->lex_server | v.sql_mode, &body);
		struct stmt *all =
		    arena_alloc(&ps->arena, (out->ninner + body.ninner + 1) * sizeof(*all));
		if (out->ninner)
			memcpy(all, out->inner, out->ninner * sizeof(*all));
		if (body.ninner)
			memcpy(all + out->ninner, body.inner, body.ninner * sizeof(*all));
		out->inner = all;
		out->ninner += body.ninner;
		res = POL_RES_DDL;
	}
	bool need = false;
	for (size_t i = 0; i < v.ncallees; i++) {
		enum pol_res r = pol_rt_resolve(ps, v.callees[i].schema, v.callees[i].name,
						depth + 1, out, needs, nneeds);
		if (r == POL_RES_UNKNOWN)
			return r;
		need |= r == POL_RES_NEED;
		if (r == POL_RES_DDL)
			res = r;
	}
	return need ? POL_RES_NEED : res;
}

/* ---- judging a statement as what it runs ---- */

/* p is judged and recorded as a DDL of verb from now on (its first keyword stays). */
static void pol_become_ddl(struct pol_stmt *p, enum ddl_verb verb)
{
	const char *kw = p->st.keyword;
	memset(&p->st, 0, sizeof(p->st));
	p->st.kind = STMT_DDL;
	p->st.keyword = kw;
	p->st.verb = verb;
	p->ddl = true;
	p->record = pol.audit != NULL;
}

/* p becomes a DDL of unknown content: the window and the migration floor
 * refuse it, and so does unparseable-ddl. */
static void pol_mark_unknown(struct pol_sess *ps, struct pol_stmt *p, const char *why)
{
	pol_become_ddl(p, DDL_OTHER);
	p->st.unparsed = true;
	p->st.error = arena_strndup(&ps->arena, why, strlen(why));
}

/* p becomes a statement that runs the DDL statements inner[0..n) later, as
 * PREPARE FROM 'literal' is: the rules judge each inner statement. */
static void pol_wrap(struct pol_stmt *p, enum ddl_verb verb, struct stmt *inner, size_t n,
		     const char *schema)
{
	pol_become_ddl(p, verb);
	p->st.inner = inner;
	p->st.ninner = n;
	p->st.body_has_ddl = true;
	for (size_t i = 0; i < n; i++) {
		if (inner[i].unparsed && !p->st.unparsed) {
			p->st.unparsed = true;
			p->st.error = inner[i].error;
		}
	}
	p->schema = schema;
}

/* Statement p, a CALL of a procedure in schema, as resolved to r. */
static void pol_call_apply(struct pol_sess *ps, struct pol_stmt *p, const char *schema,
			   enum pol_res r, const struct pol_resolved *res)
{
	if (r == POL_RES_PLAIN)
		return;
	if (r != POL_RES_DDL)
		p->binds = true; /* a body ddlgate cannot know may PREPARE names */
	if (r == POL_RES_DDL) {
		/* the body runs with its own schema as the current one */
		pol_wrap(p, DDL_OTHER, res->inner, res->ninner, schema);
		return;
	}
	/* unknown content counts only while DDL is restricted: inside a window
	 * a CALL runs as it always did */
	if (pol_ddl_restricted(ps, schema))
		pol_mark_unknown(ps, p, res->why);
}

/* Statement i, p, CALLs [written.]name (written "" when not; dflt is the
 * current schema then): queued for pol_routine_fetch while DDL is
 * restricted or the procedure is known to hold DDL. */
static void pol_call_stmt(struct pol_sess *ps, struct pol_stmt *p, size_t i, const char *written,
			  const char *dflt, const char *name)
{
	const char *schema = written[0] ? written : dflt;
	p->call = true;
	if (!schema)
		return; /* the server refuses it: no database selected */
	if (!pol_ddl_restricted(ps, schema) && !pol_rt_known_ddl(schema, name)) {
		/* DDL is allowed and nothing says this one changes the schema; its
		 * body, unread, may PREPARE names ddlgate never sees */
		p->binds = true;
		return;
	}
	struct pol_cmd *cmd = &ps->cmd;
	struct pol_call *calls = arena_alloc(&ps->arena, (cmd->ncalls + 1) * sizeof(*calls));
	if (cmd->ncalls)
		memcpy(calls, cmd->calls, cmd->ncalls * sizeof(*calls));
	calls[cmd->ncalls++] = (struct pol_call){i, pol_adup(ps, schema), pol_adup(ps, name)};
	cmd->calls = calls;
}

/*
 * Statement i of the current command (prepared by pol_prepare_stmt, read in
 * lex mode) as what it runs: EXECUTE name as the text name was prepared
 * from; CALL by its procedure's body (maybe queued for a read: the caller
 * then runs pol_routine_fetch); a compound statement or EXECUTE IMMEDIATE
 * that CALLs or EXECUTEs by name, while DDL is restricted, as DDL of
 * unknown content.
 */
void pol_indirect_stmt(struct pol_sess *ps, size_t i, unsigned mode)
{
	struct pol_stmt *p = &ps->cmd.stmts[i];
	char schema[192], name[192];

	switch (
	    pol_indirect_target(p->sql, p->len, mode, schema, sizeof(schema), name, sizeof(name))) {
	case POL_IND_EXECUTE: {
		const struct pol_named *pn = pol_named_find(ps, name);
		if (pn && pn->ddl && !pn->sql) {
			pol_mark_unknown(
			    ps, p,
			    "EXECUTE runs a statement prepared from a variable, so its "
			    "text cannot be known");
		} else if (pn && pn->ddl) {
			char cs[192], cn[192];
			if (pol_indirect_target(pn->sql, pn->len, pn->mode, cs, sizeof(cs), cn,
						sizeof(cn)) == POL_IND_CALL) {
				pol_call_stmt(ps, p, i, cs, pn->schema, cn);
				return;
			}
			struct stmt *in = arena_alloc(&ps->arena, sizeof(*in));
			stmt_parse(&ps->arena, pn->sql, pn->len, pn->mode, in);
			pol_wrap(p, DDL_PREPARE, in, 1,
				 pn->schema
				     ? arena_strndup(&ps->arena, pn->schema, strlen(pn->schema))
				     : NULL);
		} else if (((!pn && ps->blind_gen) || (pn && pn->gen < ps->blind_gen)) &&
			   pol_ddl_restricted(ps, p->schema)) {
			pol_mark_unknown(
			    ps, p,
			    "EXECUTE runs a statement that may have been prepared where "
			    "ddlgate could not see it (inside a procedure or EXECUTE "
			    "IMMEDIATE), so its text cannot be known");
		}
		return;
	}
	case POL_IND_CALL:
		pol_call_stmt(ps, p, i, schema, p->schema, name);
		return;
	case POL_IND_DEALLOCATE:
		return;
	case POL_IND_NONE:
		break;
	}
	/* a DDL candidate the parser found harmless: a compound statement,
	 * EXECUTE IMMEDIATE, PREPARE of something that is no DDL */
	const char *text = p->sql;
	size_t len = p->len;
	if (p->st.keyword && strcmp(p->st.keyword, "EXECUTE") == 0) {
		p->binds = true; /* EXECUTE IMMEDIATE 'PREPARE ...' binds a name */
		if (!p->st.prepare_text)
			return;
		/* EXECUTE IMMEDIATE 'literal': what the literal runs */
		text = p->st.prepare_text;
		len = strlen(text);
		enum pol_indirect w = pol_indirect_target(text, len, mode, schema, sizeof(schema),
							  name, sizeof(name));
		if (w == POL_IND_CALL && !p->ddl) {
			pol_call_stmt(ps, p, i, schema, p->schema, name);
			return;
		}
		if (w == POL_IND_EXECUTE && !p->ddl && pol_ddl_restricted(ps, p->schema)) {
			pol_mark_unknown(ps, p,
					 "EXECUTE IMMEDIATE runs a prepared statement by name, so "
					 "what it runs is judged as unknown");
			return;
		}
	} else if (classify_sql_mode(p->sql, p->len, mode, NULL) != STMT_DDL) {
		return;
	}
	if (p->ddl)
		return;
	if (pol_runs_by_name(text, len, mode, false, NULL) && pol_ddl_restricted(ps, p->schema))
		pol_mark_unknown(ps, p,
				 "the statement CALLs a procedure or EXECUTEs a prepared "
				 "statement inside it, so what it runs cannot be known");
}

/* ---- reading procedure bodies ---- */

static void pol_routine_done(struct sess *s, void *arg);

/* Quotes an identifier with backticks into out; false when it does not fit. */
static bool pol_quote_ident(const char *id, char *out, size_t n)
{
	size_t o = 0;
	if (n < 3)
		return false;
	out[o++] = '`';
	for (const char *c = id; *c; c++) {
		if (o + 4 >= n)
			return false;
		if (*c == '`')
			out[o++] = '`';
		out[o++] = *c;
	}
	out[o++] = '`';
	out[o] = 0;
	return true;
}

/*
 * Judges every queued CALL of the command whose bodies (its procedure's and
 * those it calls) are all read; with fetch, the others stay queued and the
 * bodies they need are returned in needs, else they count as unreadable.
 * Returns how many stay queued.
 */
static size_t pol_calls_apply(struct pol_sess *ps, bool fetch, struct pol_call **needs,
			      size_t *nneeds)
{
	struct pol_cmd *cmd = &ps->cmd;
	size_t kept = 0;
	for (size_t k = 0; k < cmd->ncalls; k++) {
		const struct pol_call c = cmd->calls[k];
		struct pol_resolved res = {0};
		size_t before = *nneeds;
		enum pol_res r = pol_rt_resolve(ps, c.schema, c.name, 0, &res, needs, nneeds);
		if (r == POL_RES_NEED && fetch) {
			cmd->calls[kept++] = c;
			continue;
		}
		*nneeds = before; /* decided without them */
		pol_call_apply(ps, &cmd->stmts[c.stmt], c.schema,
			       r == POL_RES_NEED ? POL_RES_UNKNOWN : r, &res);
	}
	cmd->ncalls = kept;
	return kept;
}

/*
 * Judges the command's queued CALLs, reading the procedure bodies they need
 * on a guard worker, a few rounds at most (a body read may name further
 * procedures). Returns true when the command now waits (cmd.state
 * POL_CMD_PROBING, pol_routine_done resumes it); false when every CALL is
 * decided (bodies that cannot be read, e.g. without a [guard] account,
 * count as unreadable).
 */
bool pol_routine_fetch(struct pol_sess *ps)
{
	struct pol_cmd *cmd = &ps->cmd;
	struct pol_call *needs = NULL;
	size_t nneeds = 0;

	if (cmd->ncalls == 0)
		return false;
	bool fetch = guard_enabled() && cmd->call_rounds < POL_ROUTINE_ROUNDS;
	if (pol_calls_apply(ps, fetch, &needs, &nneeds) == 0)
		return false;
	struct guard_job *j = guard_job_new(nneeds);
	for (size_t k = 0; k < nneeds; k++) {
		char sql[1024], qs[400], qn[400];
		if (pol_quote_ident(needs[k].schema, qs, sizeof(qs)) &&
		    pol_quote_ident(needs[k].name, qn, sizeof(qn))) {
			snprintf(sql, sizeof(sql), "SHOW CREATE PROCEDURE %s.%s", qs, qn);
			guard_job_set(j, k, sql);
		}
		/* unset: the answer stays failed, the body unreadable */
	}
	if (!guard_submit(j, ps->s, pol_routine_done, j)) {
		guard_job_release(j);
		(void)pol_calls_apply(ps, false, &needs, &nneeds);
		return false;
	}
	cmd->reading = needs;
	cmd->nreading = nneeds;
	cmd->call_rounds++;
	cmd->job = j;
	cmd->routine_wait = true;
	cmd->state = POL_CMD_PROBING;
	return true;
}

/* Posted by the guard worker: the bodies are read; judge the command. */
static void pol_routine_done(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_of(s);
	if (!ps || ps->cmd.state != POL_CMD_PROBING || !ps->cmd.routine_wait || ps->cmd.job != arg)
		return; /* not the read this command waits for */
	struct pol_cmd *cmd = &ps->cmd;
	for (size_t k = 0; k < cmd->nreading && k < guard_job_count(cmd->job); k++)
		pol_rt_store(cmd->reading[k].schema, cmd->reading[k].name,
			     guard_job_result(cmd->job, k), ps->hs->lex_server);
	guard_job_release(cmd->job);
	cmd->job = NULL;
	cmd->routine_wait = false;
	cmd->state = POL_CMD_JUDGING;
	if (pol_routine_fetch(ps))
		return; /* the bodies named further procedures: another read */

	enum pol_step step = pol_continue(ps);
	if (step != POL_DONE) {
		(void)pol_wait(ps, step);
		return;
	}
	struct hook_reply reply = {0};
	enum hook_verdict v = pol_finish(ps, &reply);
	pol_deliver(ps, v, &reply);
}

/* ---- the fast path's question and the server's answers ---- */

/*
 * Must a command the fast path would forward be looked at? Only when its
 * first keyword can run something indirectly and the session has reason:
 * EXECUTE / DEALLOCATE with SQL-prepared names, CALL while DDL is
 * restricted or some procedure is known to hold DDL, any COM_STMT_PREPARE
 * while a prepared DDL exists (the id of the newest statement is what
 * COM_STMT_EXECUTE 0xFFFFFFFF runs) or of a CALL (its executes are
 * watched). Sessions that do none of this pay a few keyword compares.
 * A CALL forwarded here unread makes the session blind to names (its body
 * may PREPARE some).
 */
bool pol_indirect_maybe(struct pol_sess *ps, uint8_t com, const char *kw, size_t kwlen,
			const char *sql, size_t len)
{
	if (com == COM_STMT_PREPARE && ps->nprep > 0)
		return true;
	bool names = ps->nnamed > 0 || ps->blind_gen > 0;
	if (sqlscan_kw(kw, kwlen, "EXECUTE"))
		return names;
	if (names && (sqlscan_kw(kw, kwlen, "DEALLOCATE") || sqlscan_kw(kw, kwlen, "DROP")))
		return true;
	bool call = sqlscan_kw(kw, kwlen, "CALL");
	if (sqlscan_kw(kw, kwlen, "SET")) { /* SET STATEMENT ... FOR EXECUTE / CALL */
		if (names && lex_contains_ci(sql, len, "EXECUTE"))
			return true;
		call = lex_contains_ci(sql, len, "CALL");
	}
	if (!call)
		return false;
	if (com == COM_STMT_PREPARE || atomic_load(&rt.nddl) > 0 ||
	    pol_ddl_restricted(ps, ps->hs->schema[0] ? ps->hs->schema : NULL))
		return true;
	ps->blind_gen++; /* forwarded unread: its body may PREPARE names */
	return false;
}

/*
 * The server answered statement p (ok: with OK): what it bound, forgot or
 * changed. PREPARE name binds name (to its text when that is DDL or a
 * CALL, to "unknown" when from a variable), DEALLOCATE forgets it, a routine
 * or database DDL makes the procedure bodies read so far stale, and a
 * statement that may bind names out of sight makes every name unsure.
 */
void pol_indirect_learn(struct pol_sess *ps, const struct pol_stmt *p, unsigned mode, bool ok)
{
	char schema[192], name[192];

	if (p->binds)
		ps->blind_gen++; /* even an error may come after the body bound names */
	if (!ok)
		return;

	if (p->st.prepare_name) {
		const char *text = p->st.prepare_text;
		bool ddl =
		    p->st.kind == STMT_DDL ||
		    (text && pol_indirect_target(text, strlen(text), mode, schema, sizeof(schema),
						 name, sizeof(name)) == POL_IND_CALL);
		pol_named_set(ps, p->st.prepare_name, text, p->schema, mode, ddl);
		return;
	}
	if (p->ddl && (p->st.verb == DDL_CREATE_ROUTINE || p->st.verb == DDL_DROP_ROUTINE ||
		       p->st.verb == DDL_DROP_DATABASE ||
		       (p->st.object_type && strcmp(p->st.object_type, "procedure") == 0))) {
		pol_routine_forget_all();
		return;
	}
	if (!p->ddl && ps->nnamed &&
	    pol_indirect_target(p->sql, p->len, mode, schema, sizeof(schema), name, sizeof(name)) ==
		POL_IND_DEALLOCATE)
		pol_named_forget(ps, name);
}
