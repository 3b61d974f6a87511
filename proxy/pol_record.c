/* The audit records of one judged statement: the intent written ahead of it, and its outcome. */
/*
 * A statement that changes something (p->change: schema, accounts, server
 * settings, and rows under record = writes | all) is recorded twice:
 *
 *   pol_finish ──pol_intents_start──> intent records queued, HOOK_WAIT
 *        (no room on the log's file system for them: refused up front)
 *   writer: durable ──pol_intent_fn──> every intent written: forward
 *                                      one failed: refuse (audit-unavailable)
 *   hook_result ──pol_submit──> the outcome record, chained after its intent
 *
 * Other recorded statements (reads under record = all, refused commands, a
 * prepare) keep one record written after the answer.
 */
#include <stdio.h>

#include "config/cfg.h"
#include "proxy/clock.h"
#include "proxy/metrics.h"
#include "proxy/pol_internal.h"
#include "rules/stmt_objects.h"

/* The record of p as judged: who, what, the decision and every finding. */
static struct audit_rec *pol_record(struct pol_sess *ps, struct pol_stmt *p)
{
	struct hook_sess *hs = ps->hs;
	struct audit_rec *r = audit_rec_new();
	struct migration_info peer;
	bool own = migration_sess_active(&ps->mig);
	bool mig = own || pol_in_migration(ps, &peer);
	const char *tool = own ? ps->mig.tool : mig ? peer.tool : "";
	const char *name = own ? ps->mig.name : mig ? peer.name : "";

	audit_rec_conn(r, hs->conn_id, hs->client, hs->user, p->schema);
	audit_rec_session(r, mig, tool[0] ? tool : NULL, name[0] ? name : NULL);
	if (p->text)
		audit_rec_statement_text(r, p->st.kind, p->text);
	else
		audit_rec_statement(r, p->st.kind, p->sql, p->len);
	/* the same list the conflict check compares (pol_objects): a DDL inside
	 * EXECUTE IMMEDIATE or a routine body names its tables here too */
	struct stmt_obj objs[POL_MAX_OBJECTS];
	size_t nobjs = stmt_objects(&p->st, objs, POL_MAX_OBJECTS);
	for (size_t i = 0; i < nobjs; i++)
		audit_rec_object(r, objs[i].schema ? objs[i].schema : p->schema, objs[i].name);
	if (ps->cmd.com == COM_STMT_EXECUTE) {
		const struct pol_params *pa = ps->cmd.params;
		audit_rec_params(r, ps->cmd.nparams);
		if (pa && pa->n == ps->cmd.nparams)
			audit_rec_param_list(r, pa->decoded ? pa->types : NULL,
					     pa->decoded && ps->conf->cfg->audit.record_params ==
								CFG_RECORD_PARAMS_VALUES
						 ? pa->values
						 : NULL);
	}
	audit_rec_decision(r, p->decision);
	for (size_t i = 0; i < p->npf; i++)
		audit_rec_rule(r, p->pf[i].rule,
			       p->decision == AUDIT_HOLD ? "hold"
							 : rules_action_name(p->pf[i].action),
			       p->pf[i].message, NULL);
	if (p->held_us > 0) {
		char msg[640];
		snprintf(msg, sizeof(msg), "waited %lld ms for the migration on %s to end",
			 (long long)(p->held_us / 1000),
			 p->held_who ? p->held_who : "another session");
		audit_rec_rule(r, RULES_ID_MIGRATION_CONFLICT, "hold", msg, NULL);
	}
	pol_mdl_audit(ps, p, r); /* lock-wait attempts of a protected DDL */
	if (p->evaluated) {
		for (size_t i = 0; i < p->v.nfindings; i++) {
			const struct rules_finding *f = &p->v.findings[i];
			audit_rec_rule(r, f->rule,
				       f->suppressed ? "allowed" : rules_action_name(f->action),
				       f->message, f->guard);
		}
		/* guards that made a rule pass ("probe: no duplicates"): the
		 * record shows why the statement was let through */
		for (size_t i = 0; i < p->v.npassed; i++) {
			const struct rules_finding *f = &p->v.passed[i];
			audit_rec_rule(r, f->rule, "passed", f->message, f->guard);
		}
	}
	return r;
}

/* Statement text kept in the record of a statement refused because the log
 * had no room for it. */
#define POL_CUT_RECORD 4096

/* One reason to hold the answer back is over (a record became durable,
 * the cluster lock was taken): release it once none is left. */
void pol_durable_fn(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_of(s);
	if (!ps || ps->durable_wait == 0)
		return;
	if (--ps->durable_wait == 0 && !pol_step_durable(ps))
		pol_mdl_answer(s, NULL); /* the release, or lock-wait-exceeded */
}

/* Writer thread: the record is durable (or failed). */
static void pol_durable_cb(void *arg, bool ok)
{
	if (!ok)
		metrics_audit_error();
	sess_post_id((uint64_t)(uintptr_t)arg, pol_durable_fn, NULL);
}

/* Submits p's record with outcome o; wait = the caller will hold the
 * answer until it is durable. Returns true when a durability callback will
 * come (and release the answer). */
bool pol_submit(struct pol_sess *ps, struct pol_stmt *p, enum audit_outcome o, uint16_t code,
		uint64_t affected, bool wait)
{
	if (!pol.audit || !p->record) {
		p->record = false;
		return false;
	}
	struct audit_rec *r = pol_record(ps, p);
	if (p->intent) {
		audit_rec_answers(r, p->intent);
		p->intent = NULL;
	}
	if (p->cut_record)
		audit_rec_cut(r, POL_CUT_RECORD);
	audit_rec_outcome(r, o, code, affected);
	audit_rec_timing(r, ps->cmd.start_us, (uint64_t)(clk_mono_us() - ps->cmd.start_mono));
	p->record = false;
	if (wait) {
		ps->durable_wait++;
		(void)audit_submit(pol.audit, r, pol_durable_cb, (void *)(uintptr_t)ps->conn_id);
		return true;
	}
	(void)audit_submit(pol.audit, r, NULL, NULL);
	return false;
}

/* Whether a failed intent refuses p: schema, account and server changes
 * (record = ddl) only run recorded; rows go on, as all other traffic does
 * while the log cannot be written. */
static bool pol_intent_required(const struct pol_sess *ps, const struct pol_stmt *p)
{
	return ps->conf->cfg->audit.on_failure == CFG_ON_FAILURE_BLOCK &&
	       (p->ddl || p->st.kind == STMT_DCL || p->sysconf);
}

/* Every intent of the command was handled: those not written refuse their
 * statement, or leave it a single record. */
static void pol_intents_check(struct pol_sess *ps)
{
	struct pol_cmd *cmd = &ps->cmd;
	for (size_t i = 0; i < cmd->n; i++) {
		struct pol_stmt *p = &cmd->stmts[i];
		if (!p->intent || audit_intent_seq(p->intent) != 0)
			continue;
		audit_intent_put(p->intent);
		p->intent = NULL;
		if (pol_intent_required(ps, p))
			pol_block_audit(ps, p, NULL);
	}
}

/* Posted by the writer: one intent of the command was handled. */
static void pol_intent_fn(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_of(s);
	if (!ps || ps->cmd.state != POL_CMD_INTENT || ps->cmd.intent_wait == 0)
		return;
	if (--ps->cmd.intent_wait > 0)
		return;
	pol_intents_check(ps);
	struct hook_reply reply = {0};
	enum hook_verdict v = pol_finish(ps, &reply);
	pol_deliver(ps, v, &reply);
}

/* Writer thread: an intent record is durable (or failed). */
static void pol_intent_cb(void *arg, bool ok)
{
	if (!ok)
		metrics_audit_error();
	sess_post_id((uint64_t)(uintptr_t)arg, pol_intent_fn, NULL);
}

/*
 * Queues the intent records of the allowed command's changing statements.
 * Returns how many (the caller waits in POL_CMD_INTENT for as many
 * pol_intent_fn posts), or 0: nothing to write ahead, or the log's file
 * system has no room for the records (intent and outcome, each about the
 * statement's size), which refuses the statements that need them.
 */
unsigned pol_intents_start(struct pol_sess *ps)
{
	struct pol_cmd *cmd = &ps->cmd;
	const struct cfg *c = ps->conf->cfg;
	/* a prepare runs nothing: its one record says so after the answer */
	if (!pol.audit || cmd->com == COM_STMT_PREPARE)
		return 0;
	struct audit_rec **recs = arena_alloc(&ps->arena, cmd->n * sizeof(*recs));
	uint64_t need = POL_AUDIT_MIN_ROOM;
	unsigned n = 0;
	bool required = false; /* rows alone go on without a record: no check */
	for (size_t i = 0; i < cmd->n; i++) {
		struct pol_stmt *p = &cmd->stmts[i];
		recs[i] = NULL;
		if (!p->record || !p->change)
			continue;
		recs[i] = pol_record(ps, p);
		audit_rec_timing(recs[i], cmd->start_us, 0);
		need += 2 * (uint64_t)audit_rec_estimate(recs[i]);
		required |= pol_intent_required(ps, p);
		n++;
	}
	if (n == 0)
		return 0;
	bool room = !required || !c->audit.path || pol_audit_preflight(c->audit.path, need);
	if (!room) {
		/* say "no room" only when the log could take a smaller record */
		char why[128];
		bool small_ok = audit_healthy(pol.audit) &&
				pol_audit_preflight(c->audit.path, POL_AUDIT_MIN_ROOM);
		snprintf(why, sizeof(why), "no room for this statement's records, %llu KiB needed",
			 (unsigned long long)(need >> 10));
		for (size_t i = 0; i < cmd->n; i++)
			if (recs[i] && pol_intent_required(ps, &cmd->stmts[i])) {
				pol_block_audit(ps, &cmd->stmts[i], small_ok ? why : NULL);
				cmd->stmts[i].cut_record = small_ok;
			}
	}
	if (cmd->blocked) {
		for (size_t i = 0; i < cmd->n; i++)
			audit_rec_free(recs[i]);
		return 0;
	}
	for (size_t i = 0; i < cmd->n; i++) {
		if (!recs[i])
			continue;
		cmd->stmts[i].intent = audit_rec_intent(recs[i]);
		(void)audit_submit(pol.audit, recs[i], pol_intent_cb,
				   (void *)(uintptr_t)ps->conn_id);
	}
	cmd->intent_wait = n;
	return n;
}

/* Drops the intents the command still holds (no outcome will come). */
void pol_intents_drop(struct pol_cmd *cmd)
{
	for (size_t i = 0; cmd->stmts && i < cmd->n; i++) {
		audit_intent_put(cmd->stmts[i].intent);
		cmd->stmts[i].intent = NULL;
	}
}
