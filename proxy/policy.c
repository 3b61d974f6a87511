/* The policy behind the inspection hook: the hook entry points and the policy's lifecycle. */
/*
 * Life of one COM_QUERY (or COM_STMT_PREPARE) through the policy:
 *
 *   hook_command ──fast path──> HOOK_FORWARD        (DML / OTHER / TCL without
 *        │                                            signal, directive or record)
 *        └─slow path: split, parse every statement (policy.c; rules/sqlscan
 *             │   for SET / USE), then judge them in order
 *             │   (pol_judge.c pol_continue: audit health, window,
 *             │    migration-conflict, rules_evaluate with the fact cache;
 *             │    the migration memory comes from pol_memory.c)
 *             ├── facts missing ──> guard probes ─┐
 *             ├── first DDL ──> cluster lock poll ─┼─ pol_wait.c: HOOK_WAIT, a
 *             ├── conflict = hold ─> hold ticker ──┘  sess_post_id() resumes
 *             ├── any statement blocks ──> HOOK_REJECT (nothing is forwarded;
 *             │                            pol_record.c records not_sent)
 *             └── all allowed ──> HOOK_FORWARD
 *   hook_result (per statement, pol_answer.c): migration signals and membership
 *        (pol_memory.c), SET lock_wait_timeout / sql_mode, the audit record
 *        with the outcome (pol_record.c); a DDL's record must be durable
 *        before the client sees the answer (return false, release later).
 *        A prepared DDL is remembered (pol_prep.c) and judged again at each
 *        COM_STMT_EXECUTE (id 0xFFFFFFFF: the last one prepared); EXECUTE
 *        name and CALL are judged as what they run (pol_routine.c: the
 *        names SQL PREPARE bound, procedure bodies read through the guard
 *        account). The admin endpoints live in pol_admin.c.
 *
 * Threads: every hook_* call runs on the session's event-loop thread. The
 * guard workers, the audit writer, the cluster worker and the hold ticker
 * reach a session only through sess_post_id() (or sess_post(), which is
 * the same by the session's id): nothing runs for a session that ended,
 * and the posted function finds its state through sess_hook_sess().
 * serve.c starts and stops every thread; the policy only borrows them.
 */
#include "proxy/hook.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/cfg.h"
#include "proxy/clock.h"
#include "proxy/cluster.h"
#include "proxy/guard.h"
#include "proxy/mem.h"
#include "proxy/metrics.h"
#include "proxy/pkt.h"
#include "proxy/pol_internal.h"
#include "rules/classify.h"
#include "rules/lex.h"
#include "rules/parse.h"
#include "rules/split.h"
#include "rules/sqlscan.h"

struct pol_state pol = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* ---- the running configuration ---- */

/*
 * The current snapshot with a reference for the caller. Without
 * hook_init() (a relay that never configured the policy) it builds a
 * default one once.
 */
struct snap *pol_conf_get(void)
{
	pthread_mutex_lock(&pol.lock);
	struct snap *pc = atomic_load(&pol.conf);
	if (!pc) {
		char err[256];
		pc = snap_new(cfg_defaults(), err, sizeof(err));
		if (!pc)
			mem_oom("default configuration");
		atomic_store(&pol.conf, pc);
	}
	snap_get(pc);
	pthread_mutex_unlock(&pol.lock);
	return pc;
}

/* Swaps ps->conf for the newest snapshot when a reload happened: one
 * atomic load on the hot path. (ps holds its snapshot, so a new one can
 * never reuse its address.) */
static void pol_conf_refresh(struct pol_sess *ps)
{
	if (ps->conf && ps->conf == atomic_load(&pol.conf))
		return;
	struct snap *pc = pol_conf_get();
	snap_put(ps->conf);
	ps->conf = pc;
	for (size_t i = 0; i < ps->nprep; i++)
		ps->prep[i].hist_known = false; /* the history tables may have changed */
}

/* Makes snap the policy's configuration; sessions pick it up between
 * commands. */
static void pol_conf_set(struct snap *snap)
{
	snap_get(snap);
	pthread_mutex_lock(&pol.lock);
	struct snap *old = atomic_load(&pol.conf);
	atomic_store(&pol.conf, snap);
	pthread_mutex_unlock(&pol.lock);
	snap_put(old);
}

/* ---- the list of live sessions (for /sessions and the ticker's waiters) ---- */

static void pol_sessions_add(struct pol_sess *ps)
{
	pthread_mutex_lock(&pol.lock);
	ps->prev = NULL;
	ps->next = pol.sessions;
	if (pol.sessions)
		pol.sessions->prev = ps;
	pol.sessions = ps;
	pthread_mutex_unlock(&pol.lock);
}

static void pol_sessions_del(struct pol_sess *ps)
{
	pthread_mutex_lock(&pol.lock);
	if (ps->prev)
		ps->prev->next = ps->next;
	else
		pol.sessions = ps->next;
	if (ps->next)
		ps->next->prev = ps->prev;
	pol_waiters_del_locked(ps);
	pthread_mutex_unlock(&pol.lock);
}

/* ---- the hook: sessions ---- */

void hook_session_begin(struct sess *s, struct hook_sess *hs)
{
	struct pol_sess *ps = mem_calloc(1, sizeof(*ps), "policy session");
	ps->conn_id = hs->conn_id;
	ps->s = s;
	ps->hs = hs;
	ps->conf = pol_conf_get();
	ps->lock_wait = POL_DEFAULT_LOCK_WAIT;
	ps->memory = rules_migration_new();
	arena_init(&ps->arena, 4096);
	hs->policy = ps;
	pol_sessions_add(ps);
	char host[64];
	pol_client_host(hs, host, sizeof(host));
	migration_sess_auth(&ps->mig, ps->conf->cfg, hs->user, host);
	(void)pol_mig_sync(ps);
}

/* Records the statements of an unfinished command as aborted. */
static void pol_abort_cmd(struct pol_sess *ps)
{
	if (ps->cmd.state == POL_CMD_IDLE)
		return;
	pol_step_abort(ps);
	for (size_t i = 0; i < ps->cmd.n; i++) {
		struct pol_stmt *p = &ps->cmd.stmts[i];
		if (p->record)
			pol_submit(ps, p,
				   ps->cmd.state == POL_CMD_FORWARDED ? AUDIT_ABORTED
								      : AUDIT_NOT_SENT,
				   0, 0, false);
	}
	pol_cmd_end(ps);
}

void hook_session_end(struct sess *s, struct hook_sess *hs)
{
	struct pol_sess *ps = hs->policy;
	if (!ps)
		return;
	pol_sessions_del(ps);
	pol_mdl_end(ps);
	pol_own_clear(ps);
	pol_abort_cmd(ps);
	pol_floor_end(ps);
	migration_sess_clear(&ps->mig);
	ps->mig.by_user = false;
	(void)pol_mig_sync(ps);
	pol_memory_reset(ps);
	rules_migration_free(ps->memory);
	pol_prep_clear(ps);
	pol_named_clear(ps);
	arena_cleanup(&ps->arena);
	snap_put(ps->conf);
	free(ps);
	hs->policy = NULL; /* from here a posted function finds nothing */
}

void hook_session_reset(struct sess *s, struct hook_sess *hs)
{
	struct pol_sess *ps = hs->policy;
	if (!ps)
		return;
	pol_abort_cmd(ps);
	pol_conf_refresh(ps);
	pol_prep_clear(ps); /* both close every prepared statement */
	pol_named_clear(ps);
	ps->last_prep = 0;
	/* COM_RESET_CONNECTION drops named locks; COM_CHANGE_USER may change the user */
	char host[64];
	pol_client_host(hs, host, sizeof(host));
	migration_sess_auth(&ps->mig, ps->conf->cfg, hs->user, host);
	if (ps->registered && migration_sess_active(&ps->mig)) {
		/* still a migration (by login), but a new one */
		migration_unregister(ps->conn_id);
		ps->registered = false;
	}
	(void)pol_mig_sync(ps);
	ps->lock_wait = POL_DEFAULT_LOCK_WAIT;
	ps->ansi_quotes = false;
}

static bool pol_split_count(const struct split_piece *piece, void *arg)
{
	(*(size_t *)arg)++;
	return true;
}

struct pol_split_fill {
	struct pol_sess *ps;
	size_t i;
};

static bool pol_split_fill(const struct split_piece *piece, void *arg)
{
	struct pol_split_fill *f = arg;
	if (f->i >= f->ps->cmd.n)
		return false;
	f->ps->cmd.stmts[f->i].sql = piece->sql;
	f->ps->cmd.stmts[f->i].len = piece->len;
	f->i++;
	return true;
}

/* The lex mode of the session: how its server reads SQL, with the
 * quoting the session's sql_mode is known to have. */
unsigned pol_lex_mode(const struct pol_sess *ps, bool ansi)
{
	/* cmd_bits: what the server said this command is read with (pol_own.c) */
	return ps->hs->lex_server | (ansi ? LEX_ANSI_QUOTES : 0) | ps->own.cmd_bits;
}

/* Whether a word starts at s[i] (not inside a longer word or variable). */
static bool pol_word_at(const char *s, size_t len, size_t i, const char *w)
{
	size_t n = strlen(w);
	if (i + n > len || strncasecmp(s + i, w, n) != 0)
		return false;
	bool before = i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_' ||
				s[i - 1] == '@' || s[i - 1] == '$' || s[i - 1] == '.');
	bool after =
	    i + n < len && (isalnum((unsigned char)s[i + n]) || s[i + n] == '_' || s[i + n] == '$');
	return !before && !after;
}

/*
 * A change of the server's configuration, recorded like DDL: INSTALL and
 * UNINSTALL (PLUGIN or SONAME), and a SET that assigns a GLOBAL or PERSIST
 * variable anywhere in its list (SET GLOBAL x = 1, SET @@global.x = 1,
 * SET SESSION a = 1, PERSIST b = 2). Quoted text and comments are skipped.
 */
static bool pol_server_config(const char *sql, size_t len, const struct classify_info *ci)
{
	if (sqlscan_kw(ci->keyword, ci->keyword_len, "INSTALL") ||
	    sqlscan_kw(ci->keyword, ci->keyword_len, "UNINSTALL"))
		return true;
	if (!sqlscan_kw(ci->keyword, ci->keyword_len, "SET"))
		return false;
	static const char *const scopes[] = {"GLOBAL",	  "PERSIST",	"PERSIST_ONLY",
					     "@@GLOBAL.", "@@PERSIST.", "@@PERSIST_ONLY."};
	for (size_t i = 0; i < len; i++) {
		char c = sql[i];
		if (c == '\'' || c == '"' || c == '`') {
			for (i++; i < len && sql[i] != c; i++)
				if (sql[i] == '\\' && c != '`')
					i++;
			continue;
		}
		if (c == '#' || (c == '-' && i + 2 < len && sql[i + 1] == '-' &&
				 isspace((unsigned char)sql[i + 2]))) {
			while (i < len && sql[i] != '\n')
				i++;
			continue;
		}
		/* a comment, but not an executable one, whose text the server reads */
		if (c == '/' && i + 2 < len && sql[i + 1] == '*' && sql[i + 2] != '!' &&
		    !(sql[i + 2] == 'M' && i + 3 < len && sql[i + 3] == '!')) {
			for (i += 2; i + 1 < len && !(sql[i] == '*' && sql[i + 1] == '/'); i++)
				;
			i++;
			continue;
		}
		for (size_t k = 0; k < sizeof(scopes) / sizeof(scopes[0]); k++) {
			size_t n = strlen(scopes[k]);
			if (scopes[k][0] == '@'
				? i + n <= len && strncasecmp(sql + i, scopes[k], n) == 0
				: pol_word_at(sql, len, i, scopes[k]))
				return true;
		}
	}
	return false;
}

/* SQL-level PREPARE name FROM '..': it only prepares; the DDL inside runs
 * at EXECUTE (EXECUTE IMMEDIATE, the same verb, runs it at once). */
bool pol_prepares(const struct pol_stmt *p)
{
	return p->st.kind == STMT_DDL && p->st.verb == DDL_PREPARE && p->st.keyword &&
	       strcasecmp(p->st.keyword, "PREPARE") == 0; /* not EXECUTE IMMEDIATE */
}

/* Prepares statement p of the slow path: parse, signals, record flags. */
static void pol_prepare_stmt(struct pol_sess *ps, struct pol_stmt *p, bool ansi)
{
	struct classify_info ci;
	unsigned mode = pol_lex_mode(ps, ansi);
	(void)classify_sql_mode(p->sql, p->len, mode, &ci); /* for the first keyword */

	stmt_parse(&ps->arena, p->sql, p->len, mode, &p->st);
	p->ddl = pol_judged_ddl(&p->st);
	p->is_write = p->st.kind == STMT_DML && sqlscan_is_write_kw(ci.keyword, ci.keyword_len);
	/* SET GLOBAL a = 1, SESSION sql_mode = ... is judged as DDL but still sets
	 * the session's values */
	bool set = p->st.kind == STMT_OTHER || p->st.verb == DDL_SET_GLOBAL;
	p->set_lock_wait = set ? sqlscan_lock_wait(p->sql, p->len) : SQLSCAN_LOCK_WAIT_NONE;
	p->set_ansi = set ? sqlscan_sql_mode(p->sql, p->len) : -1;
	p->set_notes =
	    (set || p->st.kind == STMT_DDL) && lex_contains_ci(p->sql, p->len, "sql_notes");
	if (migration_maybe_signal(p->sql, p->len))
		p->has_sig = migration_scan(p->sql, p->len, &p->sig);
	if (!p->has_sig)
		p->has_sig = pol_history_signal(ps, p->sql, p->len, mode, &p->sig);
	if (!p->has_sig)
		p->has_sig = pol_ws_signal(ps, p, &p->sig);
	if (!p->has_sig && ps->cmd.com == COM_STMT_PREPARE) {
		/* GET_LOCK(?): the name comes with each execute */
		struct migration_signal bound;
		unsigned k;
		if (migration_maybe_signal(p->sql, p->len) &&
		    migration_scan_bound(p->sql, p->len, &bound, &k))
			p->lock_param = k + 1;
	}
	p->sysconf = p->st.kind == STMT_OTHER && pol_server_config(p->sql, p->len, &ci);
	p->change =
	    (p->ddl && !pol_prepares(p)) || p->st.kind == STMT_DCL || p->is_write || p->sysconf;
	p->record = pol.audit && p->st.kind != STMT_EMPTY &&
		    (p->ddl || p->sysconf || audit_wants(pol.audit, p->st.kind, p->is_write));
}

/* The whole text of an ambiguous command as one DDL of unknown content:
 * the window and the migration floor refuse it, and so does
 * unparseable-ddl. */
static void pol_mark_ambiguous(struct pol_stmt *p)
{
	p->st.kind = STMT_DDL;
	p->st.verb = DDL_OTHER;
	p->st.unparsed = true;
	p->st.error = "the text reads as different statements under another sql_mode or client "
		      "character set, so what the server runs cannot be known";
	p->ddl = true;
	p->change = true;
	p->record = pol.audit != NULL;
}

/* The schema a USE statement switches to (arena copy), or NULL. */
const char *pol_use_schema(struct pol_sess *ps, const struct pol_stmt *p)
{
	char name[192];

	if (p->st.kind != STMT_OTHER || !p->st.keyword || strcasecmp(p->st.keyword, "USE") != 0)
		return NULL;
	if (!sqlscan_use_schema(p->sql, p->len, name, sizeof(name)))
		return NULL;
	return arena_strndup(&ps->arena, name, strlen(name));
}

/*
 * The fast path for one statement that is neither DDL nor carries a
 * directive. Returns true when nothing about it needs judging (forward;
 * *record: the audit still wants its record); false when the statement
 * needs the slow path (signal, SET of lock_wait_timeout, server settings).
 */
static bool pol_fast(struct pol_sess *ps, const char *sql, size_t len, enum stmt_kind kind,
		     const struct classify_info *ci, bool *record)
{
	bool write = kind == STMT_DML && sqlscan_is_write_kw(ci->keyword, ci->keyword_len);

	*record = pol.audit && audit_wants(pol.audit, kind, write);
	if (pol.audit && kind == STMT_OTHER && pol_server_config(sql, len, ci))
		return false;
	if (sqlscan_kw(ci->keyword, ci->keyword_len, "USE"))
		return false; /* the new schema is known once the server accepts it */
	if (sqlscan_kw(ci->keyword, ci->keyword_len, "SET"))
		return sqlscan_lock_wait(sql, len) == SQLSCAN_LOCK_WAIT_NONE &&
		       sqlscan_sql_mode(sql, len) == -1 && !lex_contains_ci(sql, len, "sql_notes");
	if ((sqlscan_kw(ci->keyword, ci->keyword_len, "SELECT") ||
	     sqlscan_kw(ci->keyword, ci->keyword_len, "DO") ||
	     sqlscan_kw(ci->keyword, ci->keyword_len, "UPDATE")) &&
	    migration_maybe_signal(sql, len)) {
		struct migration_signal sig;
		unsigned k;
		if (migration_scan(sql, len, &sig))
			return false;
		/* a lock call whose name is bound at execute: kept at prepare */
		if (ps->hs->command == COM_STMT_PREPARE && migration_scan_bound(sql, len, &sig, &k))
			return false;
	}
	/* history tables are read and written by DML only */
	struct migration_signal sig;
	return kind != STMT_DML ||
	       !pol_history_signal(ps, sql, len, pol_lex_mode(ps, ps->ansi_quotes), &sig);
}

/* The session's current schema, copied into the arena (NULL: none): the
 * relay updates hs->schema while a command's statements still run. */
const char *pol_schema_now(struct pol_sess *ps)
{
	const struct hook_sess *hs = ps->hs;
	return hs->schema[0]
		   ? arena_strndup(&ps->arena, hs->schema, strnlen(hs->schema, sizeof(hs->schema)))
		   : NULL;
}

/* Starts judging a new command com: the arena and ps->cmd are reset. */
void pol_cmd_start(struct pol_sess *ps, uint8_t com)
{
	arena_reset(&ps->arena);
	struct pol_cmd *cmd = &ps->cmd;
	memset(cmd, 0, sizeof(*cmd));
	cmd->state = POL_CMD_JUDGING;
	cmd->com = com;
	cmd->start_us = clk_wall_us();
	cmd->start_mono = clk_mono_us();
}

/* ---- the hook: commands ---- */

enum hook_verdict hook_command(struct sess *s, struct hook_sess *hs, const uint8_t *payload,
			       size_t len, struct hook_reply *reply)
{
	struct pol_sess *ps = hs->policy;
	struct classify_info ci;

	if (!ps || len == 0)
		return HOOK_FORWARD;
	ps->kill_thread = 0;
	if (payload[0] == COM_PROCESS_KILL) {
		if (len >= 5)
			ps->kill_thread = (uint32_t)payload[1] | (uint32_t)payload[2] << 8 |
					  (uint32_t)payload[3] << 16 | (uint32_t)payload[4] << 24;
		return HOOK_FORWARD;
	}
	struct pol_prep *exec = NULL;
	if ((payload[0] == COM_STMT_EXECUTE || payload[0] == COM_STMT_CLOSE) && len >= 5) {
		uint32_t id = (uint32_t)payload[1] | (uint32_t)payload[2] << 8 |
			      (uint32_t)payload[3] << 16 | (uint32_t)payload[4] << 24;
		if (id == POL_LAST_PREPARED) /* MariaDB: the last statement prepared */
			id = ps->last_prep;
		if (payload[0] == COM_STMT_CLOSE && id == ps->last_prep)
			ps->last_prep = 0; /* the server forgets it too */
		struct pol_prep *pp = id ? pol_prep_find(ps, id) : NULL;
		if (!pp)
			return HOOK_FORWARD; /* not a DDL (or unknown: the server refuses it) */
		if (payload[0] == COM_STMT_CLOSE) {
			pol_prep_del(ps, pp);
			return HOOK_FORWARD;
		}
		exec = pp;
	} else if (payload[0] != COM_QUERY && payload[0] != COM_STMT_PREPARE) {
		if (payload[0] == COM_INIT_DB)
			return HOOK_FORWARD; /* the relay tracks hs->schema */
		return HOOK_FORWARD;	     /* the relay refuses what the configuration forbids */
	}
	if (ps->cmd.state != POL_CMD_IDLE) /* the previous command never got its results */
		pol_abort_cmd(ps);
	ps->step_wait = false;
	ps->step_judging = false;
	pol_conf_refresh(ps);
	pol_history_expire(ps);
	if (exec && pol_exec_light_ok(ps, exec))
		return pol_exec_light(ps, exec, reply);

	const char *sql = (const char *)payload + 1;
	size_t sqllen = len - 1;
	unsigned nparams = 0;
	bool ansi = ps->ansi_quotes;
	if (exec) {
		/* a prepared DDL runs again: judged as at prepare, with the schema
		 * and quoting of then (the server resolves names as prepared) */
		sql = exec->sql;
		sqllen = exec->len;
		ansi = exec->ansi;
		nparams = exec->nparams;
	} else if (payload[0] == COM_QUERY) {
		/* skip query attributes (CLIENT_QUERY_ATTRIBUTES) before the text */
		const uint8_t *q;
		size_t qlen;
		if (!pkt_query_sql(payload, len, hs->capabilities, &q, &qlen)) {
			reply->code = 1290;
			memcpy(reply->sqlstate, "HY000", 6);
			snprintf(
			    reply->message, sizeof(reply->message),
			    "ddlgate: blocked by unparseable-ddl: the query packet's attributes "
			    "cannot be decoded, so its SQL cannot be checked. Send the query "
			    "without query attributes");
			return HOOK_REJECT;
		}
		sql = (const char *)q;
		sqllen = qlen;
	}
	hs->want_first_value = false;
	if (!ps->own.mode_ready)
		ps->own.cmd_bits = 0; /* known for one command only */
	unsigned mode = pol_lex_mode(ps, ansi);
	enum stmt_kind kind = classify_sql_mode(sql, sqllen, mode, &ci);
	/* Text that another sql_mode or client character set would read as
	 * other statements, one of which changes the schema: ddlgate cannot be
	 * sure what the server will run, so it is DDL of unknown content,
	 * unless the session's own connection says how it reads text now. */
	bool ambiguous = classify_ambiguous(sql, sqllen, mode);
	unsigned long kill_id;
	if (!exec && payload[0] == COM_QUERY && sqlscan_kw(ci.keyword, ci.keyword_len, "KILL") &&
	    sqlscan_kill_connection(sql, sqllen, &kill_id))
		ps->kill_thread = (uint32_t)kill_id; /* followed whichever path it takes */
	if ((ambiguous || ps->own.mode_ready) && !exec) {
		switch (pol_own_mode(ps, payload, len, &ansi)) {
		case POL_OWN_ASKING:
			return HOOK_WAIT; /* hook_command runs again with the answer */
		case POL_OWN_EXACT:
			mode = pol_lex_mode(ps, ansi);
			kind = classify_sql_mode(sql, sqllen, mode, &ci);
			/* exact for the first statement; a later one may run after a
			 * change of the mode (and SET STATEMENT sets its own) */
			ambiguous = sqlscan_kw(ci.keyword, ci.keyword_len, "SET");
			if (ci.multi) { /* the classifier's multi counts both backslash readings */
				size_t nstmt = 0;
				if (!split_sql(sql, sqllen, mode, pol_split_count, &nstmt) ||
				    nstmt != 1)
					ambiguous = true;
				ci.multi = ambiguous;
			}
			break;
		case POL_OWN_NONE:
			break;
		}
	}
	bool record = false;
	if (!exec && !ambiguous && kind != STMT_DDL && kind != STMT_DCL &&
	    !ci.has_ddlgate_comment && !ci.multi &&
	    !pol_indirect_maybe(ps, payload[0], ci.keyword, ci.keyword_len, sql, sqllen) &&
	    pol_fast(ps, sql, sqllen, kind, &ci, &record) &&
	    (!record || pol_light_text_ok(ps, kind, &ci))) {
		if (record) /* one DML that only the audit wants: recorded, not judged */
			return pol_light_text(ps, payload[0], sql, sqllen, &ci, mode, reply);
		if (kind == STMT_DML && sqlscan_is_write_kw(ci.keyword, ci.keyword_len) &&
		    (migration_sess_active(&ps->mig) ||
		     (migration_count() > 0 && pol_in_migration(ps, NULL)))) {
			/* learnt now, not at the OK: forgetting is the careful side */
			pol_memory_wrote(ps, sql, sqllen, mode, ci.keyword, ci.keyword_len);
		}
		metrics_statement(kind, METRICS_ALLOW);
		return HOOK_FORWARD;
	}
	if (!exec && !ambiguous && kind == STMT_DCL && !pol.audit && !ci.multi &&
	    !ci.has_ddlgate_comment)
		return HOOK_FORWARD;

	/* slow path: the text must outlive this call (waits), so copy it */
	pol_cmd_start(ps, payload[0]);
	if (!migration_sess_active(&ps->mig))
		pol_memory_next_command(ps); /* an app session's memory spans one command */
	struct pol_cmd *cmd = &ps->cmd;
	cmd->nparams = nparams;
	char *copy = arena_strndup(&ps->arena, sql, sqllen);
	size_t n = 0;
	unsigned split_flags = mode;
	bool clean = false;
	if (!ambiguous)
		clean = split_sql(copy, sqllen, split_flags, pol_split_count, &n);
	if (n == 0)
		n = 1;
	cmd->stmts = arena_alloc(&ps->arena, n * sizeof(*cmd->stmts));
	cmd->n = n;
	struct pol_split_fill fill = {ps, 0};
	if (!ambiguous)
		(void)split_sql(copy, sqllen, split_flags, pol_split_fill, &fill);
	if (fill.i == 0) {
		cmd->stmts[0].sql = copy;
		cmd->stmts[0].len = sqllen;
		fill.i = 1;
	}
	cmd->n = fill.i;
	cmd->total = cmd->n;
	if (clean && !exec && payload[0] == COM_QUERY && cmd->n > 1 && len < 0xFFFFFFu) {
		cmd->text = copy; /* a script that may be judged in steps */
		cmd->text_len = sqllen;
	}
	/* a copy: the relay updates hs->schema while later statements still run */
	const char *schema = pol_schema_now(ps);
	if (exec)
		schema = exec->schema
			     ? arena_strndup(&ps->arena, exec->schema, strlen(exec->schema))
			     : NULL;
	/* a SET earlier in the command counts for the statements after it */
	long lock_wait = ps->lock_wait;
	for (size_t i = 0; i < cmd->n; i++) {
		struct pol_stmt *p = &cmd->stmts[i];
		p->schema = schema;
		p->lock_wait = lock_wait;
		pol_prepare_stmt(ps, p, ansi);
		if (ambiguous)
			pol_mark_ambiguous(p);
		else
			pol_indirect_stmt(ps, i, pol_lex_mode(ps, ansi));
		p->ansi = ansi;
		if (p->set_ansi >= 0)
			ansi = p->set_ansi == 1;
		if (p->set_lock_wait != SQLSCAN_LOCK_WAIT_NONE)
			lock_wait = p->set_lock_wait == SQLSCAN_LOCK_WAIT_DEFAULT
					? POL_DEFAULT_LOCK_WAIT
					: p->set_lock_wait;
		const char *used = pol_use_schema(ps, &cmd->stmts[i]);
		if (used)
			schema = used;
	}

	if (exec && (exec->lock_param || cmd->stmts[0].record)) {
		/* what this execute bound: the lock name, the record's summary */
		cmd->params = pol_params_decode(ps, exec, ps->exec);
		pol_params_lock(&cmd->stmts[0], exec, cmd->params);
	}
	if (!ambiguous && pol_own_floor(ps))
		return HOOK_WAIT; /* the account's grants are read; the command goes on after */
	if (!ambiguous && pol_own_variable(ps))
		return HOOK_WAIT; /* the variable's value is read; pol_command_go follows */
	return pol_command_go(ps, reply);
}

/* The rest of hook_command's slow path, once every statement is prepared:
 * the floor's own lock, the migration memory, procedure bodies, the
 * judgement. */
enum hook_verdict pol_command_go(struct pol_sess *ps, struct hook_reply *reply)
{
	struct pol_cmd *cmd = &ps->cmd;
	if (pol_refuse_cluster_lock(ps, reply))
		return HOOK_REJECT;
	if (cmd->n > 1 || pol_in_migration(ps, NULL))
		cmd->scratch = pol_memory_copy(ps); /* a migration's memory is shared */
	if (pol_routine_fetch(ps))
		return HOOK_WAIT; /* procedure bodies are read; pol_routine_done judges */
	enum pol_step step = pol_continue(ps);
	if (step != POL_DONE)
		return pol_wait(ps, step);
	return pol_finish(ps, reply);
}

/* ---- lifecycle ---- */

/* Checks the audit log up front (see pol_audit_preflight) and says so on
 * stderr when DDL will be refused until it can be written. */
static void pol_audit_check(const struct cfg *c)
{
	if (!pol.audit || !c->audit.path)
		return;
	atomic_store(&pol.audit_suspect, !pol_audit_preflight(c->audit.path, POL_AUDIT_MIN_ROOM));
	if (atomic_load(&pol.audit_suspect))
		fprintf(stderr,
			"ddlgate: audit: %s cannot be written: DDL is refused until it can\n",
			c->audit.path);
}

bool hook_init(struct snap *snap, struct audit *audit, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	pol.audit = audit;
	pol_conf_set(snap);
	pol_audit_check(snap->cfg);
	pol_admin_register();
	return true;
}

bool hook_reload(struct snap *snap, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	guard_configure(snap->cfg);
	cluster_configure(snap->cfg);
	migration_floor_reset(); /* another guard account may read the grants otherwise */
	if (pol.audit) {
		/* the new record, fsync and rotation settings; a changed path
		 * switches files, the same path is reopened (logrotate) */
		audit_reconfigure(pol.audit, snap->cfg);
		if (snap->cfg->audit.path)
			atomic_store(&pol.audit_suspect, !pol_audit_preflight(snap->cfg->audit.path,
									      POL_AUDIT_MIN_ROOM));
	}
	pol_conf_set(snap);
	return true;
}

void hook_shutdown(void)
{
	pthread_mutex_lock(&pol.lock);
	struct snap *old = atomic_load(&pol.conf);
	atomic_store(&pol.conf, NULL);
	pol.audit = NULL; /* serve.c closes it next */
	pthread_mutex_unlock(&pol.lock);
	snap_put(old);
	pol_routine_forget_all();
}
