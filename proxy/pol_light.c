/*
 * The light path: a single DML that only the audit wants (a text query
 * that the fast path lets through, or an execute of a plain prepared
 * statement) is allowed without judging, since nothing in it can be
 * refused, and only recorded. Taken while no migration runs: a
 * migration's memory learns the rows others write. A write still has its
 * intent record made durable first (pol_finish).
 */
#include <string.h>

#include "config/cfg.h"
#include "proxy/metrics.h"
#include "proxy/pol_internal.h"
#include "rules/classify.h"
#include "rules/lex.h"
#include "rules/parse.h"
#include "rules/sqlscan.h"

/* Whether a DML of kind may skip the judging now. */
static bool pol_light_ok(struct pol_sess *ps, enum stmt_kind kind)
{
	return kind == STMT_DML && migration_count() == 0 && !migration_sess_active(&ps->mig);
}

/* The command's one statement, allowed and to be recorded; the caller
 * fills its text, kind and schema and calls pol_finish(). */
static struct pol_stmt *pol_light_cmd(struct pol_sess *ps, uint8_t com)
{
	ps->hs->want_first_value = false;
	pol_cmd_start(ps, com);
	struct pol_cmd *cmd = &ps->cmd;
	struct pol_stmt *p = arena_alloc(&ps->arena, sizeof(*p));
	memset(p, 0, sizeof(*p));
	cmd->stmts = p;
	cmd->n = cmd->total = cmd->next_eval = 1;
	p->light = true;
	p->record = true;
	p->set_lock_wait = SQLSCAN_LOCK_WAIT_NONE;
	p->set_ansi = -1;
	p->lock_wait = ps->lock_wait;
	p->decision = AUDIT_ALLOW;
	return p;
}

/* A text query of kind may take the light path: plain reads and row
 * writes (a CALL, SET STATEMENT, LOAD DATA or HANDLER is judged as ever). */
bool pol_light_text_ok(struct pol_sess *ps, enum stmt_kind kind, const struct classify_info *ci)
{
	static const char *const kws[] = {"SELECT", "INSERT",  "UPDATE",
					  "DELETE", "REPLACE", "WITH"};
	if (!pol_light_ok(ps, kind))
		return false;
	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
		if (sqlscan_kw(ci->keyword, ci->keyword_len, kws[i]))
			return true;
	return false;
}

enum hook_verdict pol_light_text(struct pol_sess *ps, uint8_t com, const char *sql, size_t len,
				 const struct classify_info *ci, unsigned mode,
				 struct hook_reply *reply)
{
	struct pol_stmt *p = pol_light_cmd(ps, com);
	p->sql = arena_strndup(&ps->arena, sql, len);
	p->len = len;
	p->schema = pol_schema_now(ps);
	p->st.kind = STMT_DML;
	p->is_write = p->change = sqlscan_is_write_kw(ci->keyword, ci->keyword_len);
	p->ansi = (mode & LEX_ANSI_QUOTES) != 0;
	if (p->is_write) /* the table it writes, for the record */
		stmt_parse(&ps->arena, p->sql, p->len, mode, &p->st);
	return pol_finish(ps, reply);
}

bool pol_exec_light_ok(struct pol_sess *ps, struct pol_prep *pp)
{
	if (!pp->light || !pol_light_ok(ps, pp->st.kind))
		return false;
	if (!pp->hist_known) {
		/* the same text against the same history tables: known until a reload */
		const struct cfg *c = ps->conf->cfg;
		struct migration_signal sig;
		pp->hist = c->migration.history_tables.n > 0 &&
			   migration_scan_history(pp->sql, pp->len, pol_lex_mode(ps, pp->ansi),
						  &c->migration.history_tables, &sig);
		pp->hist_known = true;
	}
	return !pp->hist; /* a tool's history table: judged as a signal */
}

enum hook_verdict pol_exec_light(struct pol_sess *ps, const struct pol_prep *pp,
				 struct hook_reply *reply)
{
	if (!pol.audit || !audit_wants(pol.audit, pp->st.kind, pp->is_write)) {
		ps->hs->want_first_value = false;
		metrics_statement(pp->st.kind, METRICS_ALLOW); /* the record setting changed */
		return HOOK_FORWARD;
	}
	struct pol_stmt *p = pol_light_cmd(ps, COM_STMT_EXECUTE);
	ps->cmd.nparams = pp->nparams;
	/* pp outlives the command: a close or reset is a command of its own */
	p->sql = pp->sql;
	p->len = pp->len;
	p->schema = pp->schema;
	p->st = pp->st;
	p->text = pp->text.red ? &pp->text : NULL;
	p->is_write = p->change = pp->is_write;
	p->ansi = pp->ansi;
	ps->cmd.params = pol_params_decode(ps, pp, ps->exec);
	return pol_finish(ps, reply);
}
