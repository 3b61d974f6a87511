/*
 * Questions the policy asks the session's own backend connection while it
 * holds a command (sess_hook_private_query): only the server knows the
 * answer, and only this connection has the session's transaction, schema,
 * sql_mode and character set.
 *
 *   pol_own_mode      how the server reads ambiguous text: the session's
 *                     sql_mode and character_set_client, then the command is
 *                     judged again in that exact lex mode
 *   pol_own_variable  PREPARE name FROM @v / EXECUTE IMMEDIATE @v: the value
 *                     of @v, judged as the text it is
 *   pol_own_probes    the guard probes of a statement (duplicates, rows,
 *                     NULLs ...), run where the statement will run: they see
 *                     the session's uncommitted writes and current schema
 *   pol_own_floor     without a [guard] account: may the session's account
 *                     (or its current role) change the schema, before its
 *                     claim on the migration floor counts
 *
 * Every question is one plain SELECT: it changes no session state, and it
 * is asked only where it cannot open a transaction (autocommit on, or one
 * already open), and only while [guard] own_connection is on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/cfg.h"
#include "proxy/clock.h"
#include "proxy/guard.h"
#include "proxy/mem.h"
#include "proxy/metrics.h"
#include "proxy/pkt.h"
#include "proxy/pol_internal.h"
#include "rules/classify.h"
#include "rules/lex.h"
#include "rules/parse.h"
#include "rules/probe_sql.h"
#include "rules/stmt_objects.h"

/* Whether a SELECT on the own connection leaves the session as it was: in
 * autocommit mode it is a transaction of its own; inside an open
 * transaction it reads in that transaction. With autocommit off and no
 * transaction open it would open one, so it is not asked there. */
static bool pol_own_safe(const struct pol_sess *ps)
{
	const struct hook_sess *hs = ps->hs;
	return ps->conf->cfg->guard.own_connection && hs->server_status_known &&
	       (hs->server_status & (SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS)) != 0;
}

/* Runs the held command through hook_command() again, now that an answer
 * is in, and applies its verdict. */
static void pol_own_rerun(struct pol_sess *ps)
{
	struct sess *s = ps->s;
	struct hook_reply reply = {0};
	uint8_t *payload = ps->own.payload;
	size_t len = ps->own.len;
	ps->own.payload = NULL;
	ps->own.len = 0;
	enum hook_verdict v = hook_command(s, ps->hs, payload, len, &reply);
	free(payload);
	if (v != HOOK_WAIT)
		sess_hook_resume(s, v, v == HOOK_REJECT ? &reply : NULL);
}

void pol_own_clear(struct pol_sess *ps)
{
	free(ps->own.payload);
	free(ps->own.qs);
	free(ps->own.ans);
	free(ps->own.fallback);
	memset(&ps->own, 0, sizeof(ps->own));
}

/* ---- the session's sql_mode and character set ---- */

/* The lex bits of an sql_mode value (comma-separated names). */
static unsigned pol_own_mode_bits(const char *v, size_t n)
{
	unsigned bits = 0;
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && v[j] != ',')
			j++;
		if (j - i == 11 && strncasecmp(v + i, "ANSI_QUOTES", 11) == 0)
			bits |= LEX_ANSI_QUOTES;
		if (j - i == 20 && strncasecmp(v + i, "NO_BACKSLASH_ESCAPES", 20) == 0)
			bits |= LEX_NO_BACKSLASH_ESCAPES;
		i = j + 1;
	}
	return bits;
}

static void pol_own_mode_done(struct sess *s, void *arg, const struct private_result *r)
{
	struct pol_sess *ps = pol_of(s);
	(void)arg;
	if (!ps || !ps->own.payload)
		return;
	ps->own.mode_ready = true;
	ps->own.mode_ok = r->kind == PRIVATE_ROWS && r->has_row && !r->truncated && r->ncols == 2 &&
			  r->vals[0] && r->vals[1];
	if (ps->own.mode_ok) {
		unsigned bits = pol_own_mode_bits(r->vals[0], r->lens[0]);
		ps->own.ansi = (bits & LEX_ANSI_QUOTES) != 0;
		ps->own.bits =
		    (bits & LEX_NO_BACKSLASH_ESCAPES) | LEX_CHARSET(lex_charset_of(r->vals[1]));
		/* the session's real state: later commands start from it */
		ps->ansi_quotes = ps->own.ansi;
	}
	pol_own_rerun(ps);
}

enum pol_own_read pol_own_mode(struct pol_sess *ps, const uint8_t *payload, size_t len, bool *ansi)
{
	if (ps->own.mode_ready) {
		/* the answer for this command is in (pol_own_mode_done) */
		ps->own.mode_ready = false;
		if (!ps->own.mode_ok)
			return POL_OWN_NONE;
		*ansi = ps->own.ansi;
		ps->own.cmd_bits = ps->own.bits;
		return POL_OWN_EXACT;
	}
	static const char q[] = "SELECT @@SESSION.sql_mode, @@SESSION.character_set_client";
	if (!pol_own_safe(ps) || ps->own.payload)
		return POL_OWN_NONE;
	ps->own.payload = mem_calloc(len ? len : 1, 1, "held command");
	memcpy(ps->own.payload, payload, len);
	ps->own.len = len;
	if (!sess_hook_private_query(ps->s, q, sizeof(q) - 1, pol_own_mode_done, NULL)) {
		free(ps->own.payload);
		ps->own.payload = NULL;
		ps->own.len = 0;
		return POL_OWN_NONE;
	}
	return POL_OWN_ASKING;
}

/* After an answer that held the judgement of a prepared command: it goes
 * on (pol_command_go) and the relay gets the verdict once there is one. */
static void pol_own_go_on(struct pol_sess *ps)
{
	struct hook_reply reply = {0};
	enum hook_verdict v = pol_command_go(ps, &reply);
	if (v != HOOK_WAIT)
		sess_hook_resume(ps->s, v, v == HOOK_REJECT ? &reply : NULL);
}

/* ---- PREPARE name FROM @v, EXECUTE IMMEDIATE @v ---- */

/*
 * The user variable a PREPARE / EXECUTE IMMEDIATE takes its text from:
 * `PREPARE name FROM @v` or `EXECUTE IMMEDIATE @v [USING ...]`, the
 * variable alone. Sets *var / *varlen (the variable as written, pointing
 * into sql) and *tail (the offset just after it). False for any other form.
 */
static bool pol_own_var_of(const char *sql, size_t len, unsigned mode, const char **var,
			   size_t *varlen, size_t *tail)
{
	struct lexer lx;
	struct lex_token t;
	lex_init(&lx, sql, len, mode);
	if (!lex_next(&lx, &t))
		return false;
	if (lex_is_word(&t, "PREPARE")) {
		if (!lex_next(&lx, &t) || (t.type != LEX_WORD && t.type != LEX_QUOTED_IDENT))
			return false;
		if (!lex_next(&lx, &t) || !lex_is_word(&t, "FROM"))
			return false;
	} else if (lex_is_word(&t, "EXECUTE")) {
		if (!lex_next(&lx, &t) || !lex_is_word(&t, "IMMEDIATE"))
			return false;
	} else {
		return false;
	}
	if (!lex_next(&lx, &t) || t.type != LEX_VARIABLE || t.n < 2 || t.p[1] == '@')
		return false; /* @@system variables are not read */
	*var = t.p;
	*varlen = t.n;
	*tail = (size_t)(t.p + t.n - sql);
	struct lex_token after;
	if (!lex_next(&lx, &after) || lex_is_op(&after, ";"))
		return true;
	return lex_is_word(&after, "USING");
}

static void pol_own_var_done(struct sess *s, void *arg, const struct private_result *r)
{
	struct pol_sess *ps = pol_of(s);
	(void)arg;
	if (!ps || ps->cmd.state != POL_CMD_JUDGING || !ps->own.var_wait)
		return;
	ps->own.var_wait = false;
	size_t at = ps->cmd.step_from;
	struct pol_stmt *p = &ps->cmd.stmts[at];
	if (r->kind == PRIVATE_ROWS && r->has_row && !r->truncated && r->ncols == 1 && r->vals[0]) {
		/* the statement as the server will read it: the variable replaced
		 * by a string literal of its value */
		const char *var;
		size_t varlen, tail;
		unsigned mode = pol_lex_mode(ps, p->ansi);
		if (pol_own_var_of(p->sql, p->len, mode, &var, &varlen, &tail)) {
			size_t head = (size_t)(var - p->sql);
			size_t cap = head + 2 * r->lens[0] + 3 + (p->len - tail);
			char *text = arena_alloc(&ps->arena, cap + 1);
			size_t o = 0;
			memcpy(text, p->sql, head);
			o = head;
			text[o++] = '\'';
			for (size_t k = 0; k < r->lens[0]; k++) {
				char c = r->vals[0][k];
				if (c == '\'' || (c == '\\' && !(mode & LEX_NO_BACKSLASH_ESCAPES)))
					text[o++] = c;
				text[o++] = c;
			}
			text[o++] = '\'';
			memcpy(text + o, p->sql + tail, p->len - tail);
			o += p->len - tail;
			text[o] = 0;
			bool record = p->record;
			stmt_parse(&ps->arena, text, o, mode, &p->st);
			p->ddl = pol_judged_ddl(&p->st);
			bool prepares = p->st.keyword && strcasecmp(p->st.keyword, "PREPARE") == 0;
			p->change = (p->ddl && !prepares) || p->st.kind == STMT_DCL;
			p->record = record || (pol.audit && p->ddl);
			p->binds = false;
			pol_indirect_stmt(ps, at, mode);
		}
	}
	/* otherwise (NULL, too long, an error) it stays DDL of unknown content */
	if (ps->step_wait)
		pol_step_rest(ps); /* between a script's steps */
	else
		pol_own_go_on(ps);
}

/* Whether statement i could be judged by its variable's value read on the
 * own connection (a PREPARE ... FROM @v or EXECUTE IMMEDIATE @v of a
 * COM_QUERY, where a SELECT changes nothing); *var / *varlen name it. */
static bool pol_own_var_at(struct pol_sess *ps, size_t i, const char **var, size_t *varlen)
{
	struct pol_cmd *cmd = &ps->cmd;
	if (i >= cmd->n || cmd->com != COM_QUERY || !pol_own_safe(ps))
		return false;
	const struct pol_stmt *p = &cmd->stmts[i];
	size_t tail;
	return p->st.prepare_from_variable &&
	       pol_own_var_of(p->sql, p->len, pol_lex_mode(ps, p->ansi), var, varlen, &tail) &&
	       *varlen <= 256;
}

bool pol_own_variable_possible(struct pol_sess *ps, size_t i)
{
	const char *var;
	size_t varlen;
	return pol_own_var_at(ps, i, &var, &varlen);
}

bool pol_own_variable(struct pol_sess *ps)
{
	/* the first statement not run yet only: a later one may read a value
	 * the statements before it set, which the server has not run yet
	 * (pol_step_variable makes them a step of their own first) */
	const char *var;
	size_t varlen;
	if (!pol_own_var_at(ps, ps->cmd.step_from, &var, &varlen))
		return false;
	char q[300];
	int n = snprintf(q, sizeof(q), "SELECT %.*s", (int)varlen, var);
	if (!sess_hook_private_query(ps->s, q, (size_t)n, pol_own_var_done, NULL))
		return false;
	ps->own.var_wait = true;
	return true;
}

/* ---- guard probes on the own connection ---- */

/* Whether statement p names table t (schema, name) without a schema, so
 * that the server resolves it in the session's current schema. */
static bool pol_own_unqualified(const struct pol_stmt *p, const struct stmt_name *t)
{
	struct stmt_obj objs[POL_MAX_OBJECTS];
	size_t n = stmt_objects(&p->st, objs, POL_MAX_OBJECTS);
	if (!t->name || !t->schema || !p->schema || strcmp(t->schema, p->schema) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!objs[i].is_schema && !objs[i].schema && objs[i].name &&
		    strcmp(objs[i].name, t->name) == 0)
			return true;
	/* a table a FOREIGN KEY references */
	for (size_t i = 0; i < p->st.nops; i++)
		if (p->st.ops[i].ref.name && !p->st.ops[i].ref.schema &&
		    strcmp(p->st.ops[i].ref.name, t->name) == 0)
			return true;
	return false;
}

static void pol_own_probe_next(struct pol_sess *ps);
static bool pol_own_probe_send(struct pol_sess *ps);
static void pol_own_probes_free(struct pol_sess *ps);

/* Whether an error means the probe cannot be asked here, where the guard
 * connection may answer: the account may not read what the probe reads, or
 * the session holds LOCK TABLES without the probe's table (1100). */
static bool pol_own_denied(uint16_t code)
{
	return code == 1142 || code == 1143 || code == 1044 || code == 1227 || code == 1100;
}

static void pol_own_probe_done(struct sess *s, void *arg, const struct private_result *r)
{
	struct pol_sess *ps = pol_of(s);
	(void)arg;
	if (!ps || ps->cmd.state != POL_CMD_PROBING || !ps->own.probing)
		return;
	size_t k = ps->own.next++;
	struct rules_fact_answer *a = &ps->own.ans[k];
	const struct rules_fact_query *q = ps->own.qs[k];
	metrics_probe((uint64_t)(clk_mono_us() - ps->own.sent_us));
	if (r->kind == PRIVATE_ROWS && !r->truncated) {
		probe_sql_answer_mask(q, r->has_row ? r->vals : NULL, r->lens, r->ncols,
				      ps->conf->cfg->guard.sample_values == CFG_SAMPLE_VALUES_MASK,
				      a);
	} else if (r->kind == PRIVATE_ERR && (r->code == 1146 || r->code == 1049) &&
		   ps->cmd.job_stmt == ps->cmd.step_from) {
		/* asked where the statement will run, with nothing of the command
		 * before it left unrun (a script's earlier steps ran): the table
		 * is not there, and the statement fails on it (or, for a DROP ...
		 * IF EXISTS, destroys nothing) */
		a->status = RULES_FACT_OK;
		a->value = RULES_NO;
		snprintf(a->detail, sizeof(a->detail), "probe: the table does not exist");
	} else if (r->kind == PRIVATE_ERR && (r->code == 1146 || r->code == 1049)) {
		/* an earlier statement of the command may create it */
		a->status = RULES_FACT_FAILED;
		a->value = RULES_UNKNOWN;
		snprintf(a->detail, sizeof(a->detail),
			 "probe: the table does not exist before the command runs, so its data "
			 "cannot be checked");
	} else {
		a->status = RULES_FACT_FAILED;
		a->value = RULES_UNKNOWN;
		snprintf(a->detail, sizeof(a->detail), "probe: %.200s",
			 r->kind == PRIVATE_ERR ? r->message
			 : r->message[0]	? r->message
						: "failed");
		/* the guard account may read what this one may not */
		ps->own.fallback[k] = r->kind == PRIVATE_FAILED ||
				      (r->kind == PRIVATE_ERR && pol_own_denied(r->code));
	}
	pol_own_probe_next(ps);
}

/* Asks the next probe, or ends: answers go to the fact cache, probes the
 * own connection could not answer go to the guard connection. */
static void pol_own_probes_free(struct pol_sess *ps)
{
	free(ps->own.qs);
	free(ps->own.ans);
	free(ps->own.fallback);
	ps->own.qs = NULL;
	ps->own.ans = NULL;
	ps->own.fallback = NULL;
	ps->own.n = ps->own.next = 0;
	ps->own.probing = false;
}

/*
 * Sends the next probe that can be asked (those that cannot count as
 * failed, for the guard connection). False when none is left to send.
 */
static bool pol_own_probe_send(struct pol_sess *ps)
{
	struct pol_cmd *cmd = &ps->cmd;
	const struct cfg *c = ps->conf->cfg;
	const struct pol_stmt *p = &cmd->stmts[cmd->job_stmt];
	/* names as the statement writes them: unqualified ones resolve in the
	 * session's current schema, which ddlgate may not know (a USE it could
	 * not see); not after a USE earlier in the command, which has not run
	 * yet, nor for a prepared text (resolved where it was prepared) */
	bool as_written =
	    cmd->com == COM_QUERY && p->schema == cmd->stmts[0].schema && p->st.verb != DDL_PREPARE;
	for (; ps->own.next < ps->own.n; ps->own.next++) {
		size_t k = ps->own.next;
		struct rules_fact_query q = *ps->own.qs[k];
		if (as_written && pol_own_unqualified(p, &q.table))
			q.table.schema = "";
		if (as_written && q.ref.name && pol_own_unqualified(p, &q.ref))
			q.ref.schema = "";
		char sql[8192];
		if (probe_sql_build(&q, c->guard.probe_timeout_ms, sql, sizeof(sql)) &&
		    sess_hook_private_query(ps->s, sql, strlen(sql), pol_own_probe_done, NULL)) {
			ps->own.sent_us = clk_mono_us();
			return true;
		}
		struct rules_fact_answer *a = &ps->own.ans[k];
		a->status = RULES_FACT_FAILED;
		a->value = RULES_UNKNOWN;
		snprintf(a->detail, sizeof(a->detail), "probe: cannot be asked");
		ps->own.fallback[k] = true;
	}
	return false;
}

/* After an answer (on a post or event of the session's thread): the next
 * probe, or the end: answers go to the fact cache and the judgement goes
 * on; probes the own connection could not answer go to the guard
 * connection, which then answers them all. */
static void pol_own_probe_next(struct pol_sess *ps)
{
	struct pol_cmd *cmd = &ps->cmd;
	if (pol_own_probe_send(ps))
		return;
	bool fallback = false;
	for (size_t k = 0; k < ps->own.n; k++)
		fallback |= ps->own.fallback[k];
	if (fallback && pol_guard_probes(ps, cmd->job_stmt)) {
		pol_own_probes_free(ps); /* pol_wait.c resumes when they answer */
		return;
	}
	for (size_t k = 0; k < ps->own.n; k++)
		rules_fact_cache_answer(cmd->facts, ps->own.qs[k], &ps->own.ans[k]);
	pol_own_probes_free(ps);
	pol_resume(ps);
}

bool pol_own_probes(struct pol_sess *ps, size_t i)
{
	struct rules_fact_cache *fc = ps->cmd.facts;
	size_t n = rules_fact_cache_npending(fc);
	if (n == 0 || !pol_own_safe(ps) || ps->own.probing)
		return false;
	/* collect the questions first: answering one renumbers the rest */
	ps->own.qs = mem_calloc(n, sizeof(*ps->own.qs), "own probes");
	ps->own.ans = mem_calloc(n, sizeof(*ps->own.ans), "own probes");
	ps->own.fallback = mem_calloc(n, sizeof(*ps->own.fallback), "own probes");
	for (size_t k = 0; k < n; k++)
		ps->own.qs[k] = rules_fact_cache_pending(fc, k);
	ps->own.n = n;
	ps->own.next = 0;
	ps->cmd.job_stmt = i;
	if (!pol_own_probe_send(ps)) {
		/* not even the first can be asked here: the guard connection, as
		 * without this path */
		pol_own_probes_free(ps);
		return false;
	}
	ps->own.probing = true;
	return true;
}

/* ---- who may take the floor, without a [guard] account ---- */

/* The DDL privileges (CREATE, ALTER, DROP, INDEX on anything) of the
 * account the session logged in as and of its current role. Accounts that
 * may read the grant tables see every account's rows in
 * information_schema, so the rows are matched to CURRENT_USER() and
 * CURRENT_ROLE(). */
static const char pol_own_floor_sql[] =
    "SELECT COUNT(*) FROM (SELECT GRANTEE, PRIVILEGE_TYPE FROM "
    "information_schema.USER_PRIVILEGES UNION ALL SELECT GRANTEE, PRIVILEGE_TYPE FROM "
    "information_schema.SCHEMA_PRIVILEGES UNION ALL SELECT GRANTEE, PRIVILEGE_TYPE FROM "
    "information_schema.TABLE_PRIVILEGES) g WHERE PRIVILEGE_TYPE IN "
    "('CREATE','ALTER','DROP','INDEX') AND (GRANTEE = CONCAT('''', "
    "SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', "
    "-1), '''') OR GRANTEE = CONCAT('''', CURRENT_ROLE(), '''@''''') OR GRANTEE = "
    "CONCAT('''', CURRENT_ROLE(), ''''))";

static void pol_own_floor_done(struct sess *s, void *arg, const struct private_result *r)
{
	struct pol_sess *ps = pol_of(s);
	(void)arg;
	if (!ps || ps->cmd.state != POL_CMD_JUDGING || !ps->own.floor_wait)
		return;
	ps->own.floor_wait = false;
	ps->cmd.own_floor_set = true;
	ps->cmd.own_floor = MIGRATION_FLOOR_UNKNOWN; /* no answer: the claim is refused */
	if (r->kind == PRIVATE_ROWS && r->has_row && r->ncols == 1 && r->vals[0])
		ps->cmd.own_floor =
		    strtoll(r->vals[0], NULL, 10) > 0 ? MIGRATION_FLOOR_YES : MIGRATION_FLOOR_NO;
	if (!pol_own_variable(ps)) /* else pol_own_var_done goes on */
		pol_own_go_on(ps);
}

bool pol_own_floor(struct pol_sess *ps)
{
	struct pol_cmd *cmd = &ps->cmd;
	const struct cfg *c = ps->conf->cfg;
	if (guard_enabled() || cmd->own_floor_set || !pol_own_safe(ps))
		return false; /* the guard account checks, or nothing can be asked */
	bool claim = false;
	for (size_t i = 0; i < cmd->n && !claim; i++) {
		const struct pol_stmt *p = &cmd->stmts[i];
		/* the claim it would be if the server said yes */
		claim = p->has_sig && migration_sess_claims(&ps->mig, c, &p->sig, true, "1", 1);
	}
	if (!claim ||
	    !sess_hook_private_query(ps->s, pol_own_floor_sql, sizeof(pol_own_floor_sql) - 1,
				     pol_own_floor_done, NULL))
		return false;
	ps->own.floor_wait = true;
	return true;
}
