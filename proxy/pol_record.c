/* The audit record of one judged statement, and holding its answer until the record is durable. */
#include <stdio.h>

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
	audit_rec_statement(r, p->st.kind, p->sql, p->len);
	/* the same list the conflict check compares (pol_objects): a DDL inside
	 * EXECUTE IMMEDIATE or a routine body names its tables here too */
	struct stmt_obj objs[POL_MAX_OBJECTS];
	size_t nobjs = stmt_objects(&p->st, objs, POL_MAX_OBJECTS);
	for (size_t i = 0; i < nobjs; i++)
		audit_rec_object(r, objs[i].schema ? objs[i].schema : p->schema, objs[i].name);
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

/* One reason to hold the answer back is over (a record became durable,
 * the cluster lock was taken): release it once none is left. */
void pol_durable_fn(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_of(s);
	if (!ps || ps->durable_wait == 0)
		return;
	if (--ps->durable_wait == 0)
		sess_hook_release(s);
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
