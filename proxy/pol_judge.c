/* Judging a command: audit health, maintenance window, migration conflict, rules, decisions. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "config/cfg.h"
#include "proxy/clock.h"
#include "proxy/cluster.h"
#include "proxy/guard.h"
#include "proxy/metrics.h"
#include "proxy/pol_internal.h"
#include "proxy/window.h"
#include "rules/stmt_objects.h"

/* DDL for the policy: PREPARE of something that is not DDL is not. */
bool pol_judged_ddl(const struct stmt *st)
{
	if (st->kind != STMT_DDL)
		return false;
	if (st->verb == DDL_PREPARE && !st->unparsed && !st->prepare_from_variable &&
	    st->ninner == 0)
		return false;
	return true;
}

/* The objects a DDL touches as schema/table pairs for the conflict check
 * (inner statements too, as the audit record lists them); a database verb
 * names the schema itself. */
size_t pol_objects(const struct stmt *st, struct migration_obj *out, size_t max)
{
	struct stmt_obj objs[POL_MAX_OBJECTS];
	size_t n = stmt_objects(st, objs, max < POL_MAX_OBJECTS ? max : POL_MAX_OBJECTS);
	for (size_t i = 0; i < n; i++)
		out[i] = objs[i].is_schema && !objs[i].schema
			     ? (struct migration_obj){objs[i].name, NULL}
			     : (struct migration_obj){objs[i].schema, objs[i].name};
	return n;
}

/* ---- audit health ---- */

/*
 * Can the audit path take a write right now? The writer only learns of a
 * broken log from a failed record, which would let the first DDL through
 * unrecorded; so the policy checks up front: a zero-length write (fails on
 * /dev/full and on read-only or vanished targets) and, for a regular file,
 * need free bytes (at least POL_AUDIT_MIN_ROOM; pol_record.c asks for the
 * size of the records it is about to write). Never writes a byte.
 */
bool pol_audit_preflight(const char *path, uint64_t need)
{
	struct stat st;
	struct statvfs vfs;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK);
	bool ok = fd >= 0 && write(fd, "", 0) == 0;

	if (ok && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fstatvfs(fd, &vfs) == 0)
		ok = (uint64_t)vfs.f_bavail * vfs.f_frsize >=
		     (need > POL_AUDIT_MIN_ROOM ? need : POL_AUDIT_MIN_ROOM);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Whether DDL may be recorded: the writer's health, and the up-front
 * check while that has not passed since start. */
static bool pol_audit_ok(const struct cfg *c)
{
	if (!audit_healthy(pol.audit))
		return false;
	if (!atomic_load(&pol.audit_suspect))
		return true;
	if (!c->audit.path || !pol_audit_preflight(c->audit.path, POL_AUDIT_MIN_ROOM))
		return false;
	atomic_store(&pol.audit_suspect, false);
	return true;
}

/* ---- one statement ---- */

static char *pol_fmt(struct pol_sess *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *pol_fmt(struct pol_sess *ps, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return arena_strndup(&ps->arena, buf, strlen(buf));
}

void pol_add_pf(struct pol_sess *ps, struct pol_stmt *p, const char *rule, enum rules_action action,
		char *message)
{
	if (p->npf < POL_MAX_POLICY_FINDINGS)
		p->pf[p->npf++] = (typeof(p->pf[0])){rule, action, message};
	metrics_rule_hit(rule);
}

/* Why the audit log refuses a statement: it cannot be written at all, or
 * (room set) it has no room for this statement's records. */
static char *pol_audit_msg(struct pol_sess *ps, const struct cfg *c, const char *room)
{
	return pol_fmt(ps,
		       "the audit log cannot be written (%s%s%s), and schema, account and "
		       "server changes only run recorded. Fix the audit log's disk or path; "
		       "they resume once a record can be written",
		       c->audit.path, room ? ": " : "", room ? room : "");
}

/* Blocks p, already judged, because its intent record cannot be written
 * (room: how much it needs, or NULL when the write failed). */
void pol_block_audit(struct pol_sess *ps, struct pol_stmt *p, const char *room)
{
	pol_add_pf(ps, p, POL_RULE_AUDIT, RULES_ACTION_BLOCK,
		   pol_audit_msg(ps, ps->conf->cfg, room));
	p->decision = AUDIT_BLOCK;
	ps->cmd.blocked = true;
}

/* The first table (or schema) p targets, for rule scoping. */
static void pol_scope_of(struct pol_sess *ps, const struct pol_stmt *p, const char **schema,
			 const char **table)
{
	*schema = p->schema;
	*table = NULL;
	if (p->st.nobjects) {
		if (p->st.objects[0].schema)
			*schema = p->st.objects[0].schema;
		*table = p->st.objects[0].name;
	}
}

/* Describes the configured schedules for the window message. */
static void pol_schedules_text(const struct cfg *c, char *buf, size_t n)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < c->window.nschedule && o + 1 < n; i++)
		o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "",
				      c->window.schedule[i].text);
}

/*
 * The policy's own checks for DDL statement p, before the rule engine:
 * audit health, maintenance window, migration conflict. Returns true when
 * the statement must be held (conflict = hold, deadline not reached).
 */
bool pol_policy_checks(struct pol_sess *ps, struct pol_stmt *p, bool may_hold)
{
	const struct cfg *c = ps->conf->cfg;
	const char *schema, *table;
	char who[512];

	p->npf = 0;
	pol_scope_of(ps, p, &schema, &table);

	if (pol.audit && c->audit.on_failure == CFG_ON_FAILURE_BLOCK && !pol_audit_ok(c))
		pol_add_pf(ps, p, POL_RULE_AUDIT, RULES_ACTION_BLOCK, pol_audit_msg(ps, c, NULL));

	if (!window_open_now(c)) {
		enum rules_action a = rules_engine_action(ps->conf->engine, RULES_ID_OUTSIDE_WINDOW,
							  ps->hs->user, schema, table);
		char sched[512];
		pol_schedules_text(c, sched, sizeof(sched));
		if (a != RULES_ACTION_OFF)
			pol_add_pf(ps, p, RULES_ID_OUTSIDE_WINDOW, a,
				   pol_fmt(ps,
					   "DDL is only allowed inside a maintenance window "
					   "(%s) and none is open now. Run it during a window, "
					   "or have an operator open one (POST /window/open)",
					   sched));
	}

	struct migration_obj objs[POL_MAX_OBJECTS];
	size_t nobjs = pol_objects(&p->st, objs, POL_MAX_OBJECTS);
	char host[64], proc[MIGRATION_PROC_MAX];
	bool conflict =
	    !p->ws_schema &&
	    migration_conflict(ps->conn_id, ps->hs->user, host,
			       pol_client_id(ps, host, sizeof(host), proc, sizeof(proc)),
			       c->migration.scope, p->schema, objs, nobjs, who, sizeof(who));
	if (!conflict && !p->ws_schema)
		conflict = cluster_remote_migration(who, sizeof(who));
	if (conflict) {
		enum rules_action a = rules_engine_action(
		    ps->conf->engine, RULES_ID_MIGRATION_CONFLICT, ps->hs->user, schema, table);
		if (a == RULES_ACTION_BLOCK && c->migration.conflict == CFG_CONFLICT_HOLD &&
		    p->npf == 0 && may_hold) {
			int64_t now = clk_mono_us();
			if (!ps->cmd.hold_started) {
				ps->cmd.hold_started = now;
				ps->cmd.hold_deadline =
				    now + (int64_t)c->migration.hold_timeout_ms * 1000;
			}
			if (now < ps->cmd.hold_deadline) {
				p->held_who = pol_fmt(ps, "%s", who);
				return true;
			}
			pol_add_pf(ps, p, RULES_ID_MIGRATION_CONFLICT, a,
				   pol_fmt(ps,
					   "a migration is running on %s and DDL from other "
					   "sessions waited %d ms for it to end. Retry after the "
					   "migration finishes, or make this change part of it",
					   who, c->migration.hold_timeout_ms));
		} else if (a != RULES_ACTION_OFF) {
			pol_add_pf(ps, p, RULES_ID_MIGRATION_CONFLICT, a,
				   pol_fmt(ps,
					   "a migration is running on %s and DDL from other "
					   "sessions is refused meanwhile. Wait until it finishes, "
					   "or make this change part of that migration",
					   who));
		}
	}
	return false;
}

/* Runs the rule engine on statement p. */
void pol_engine(struct pol_sess *ps, struct pol_stmt *p, bool with_facts)
{
	const struct cfg *c = ps->conf->cfg;
	struct rules_facts prov;
	struct window_status ws;
	window_evaluate(c, time(NULL), &ws);
	struct rules_ctx ctx = {
	    .user = ps->hs->user[0] ? ps->hs->user : NULL,
	    .schema = p->schema,
	    .migration = pol_in_migration(ps, NULL),
	    .lock_wait_timeout = p->lock_wait,
	    /* silent while ddlgate bounds the wait itself (pol_mdl.c) */
	    .max_lock_wait_s = pol_mdl_covers(ps) ? 0 : c->guard.max_lock_wait_s,
	    .large_table_bytes = c->guard.large_table_bytes,
	    .facts = NULL,
	    .mig = ps->cmd.scratch ? ps->cmd.scratch : ps->memory,
	    .no_memory_update = true, /* learnt from the server's OK (pol_memory_commit) */
	    /* a window someone opened, not "no window configured" */
	    .window_open = ws.open && (ws.configured || ws.adhoc_open),
	};
	if (with_facts) {
		if (!ps->cmd.facts)
			ps->cmd.facts = rules_fact_cache_new();
		prov = rules_fact_cache_provider(ps->cmd.facts);
		ctx.facts = &prov;
	}
	(void)rules_evaluate(ps->conf->engine, &ps->arena, &p->st, p->sql, p->len, &ctx, &p->v);
	p->evaluated = true;
}

static enum audit_decision pol_audit_decision(enum rules_decision d)
{
	return d == RULES_BLOCK ? AUDIT_BLOCK : d == RULES_WARN ? AUDIT_WARN : AUDIT_ALLOW;
}

/* Final decision of p from the policy's findings and the engine's verdict. */
static void pol_decide(struct pol_sess *ps, struct pol_stmt *p)
{
	enum rules_decision d = p->evaluated ? p->v.decision : RULES_ALLOW;
	for (size_t i = 0; i < p->npf; i++) {
		if (p->pf[i].action == RULES_ACTION_BLOCK)
			d = RULES_BLOCK;
		else if (p->pf[i].action == RULES_ACTION_WARN && d == RULES_ALLOW)
			d = RULES_WARN;
	}
	if (p->evaluated)
		for (size_t i = 0; i < p->v.nfindings; i++)
			if (!p->v.findings[i].suppressed)
				metrics_rule_hit(p->v.findings[i].rule);
	p->decision = pol_audit_decision(d);
	if (d == RULES_BLOCK)
		ps->cmd.blocked = true;
}

/* Within a multi-statement command, the statements after p are judged as
 * if p ran: the command's scratch copy learns p unless p blocks (then
 * nothing of the command runs anyway). */
static void pol_scratch_learn(struct pol_sess *ps, const struct pol_stmt *p)
{
	if (ps->cmd.scratch && p->decision != AUDIT_BLOCK)
		pol_memory_learn(ps, ps->cmd.scratch, p);
}

/*
 * Judges statements from cmd.next_eval on. Returns POL_DONE when every
 * statement has a decision, or the wait it started.
 */
enum pol_step pol_continue(struct pol_sess *ps)
{
	struct pol_cmd *cmd = &ps->cmd;

	for (; cmd->next_eval < cmd->n; cmd->next_eval++) {
		struct pol_stmt *p = &cmd->stmts[cmd->next_eval];
		if (!p->ddl) {
			p->decision = AUDIT_ALLOW;
			pol_scratch_learn(ps, p);
			continue;
		}
		if (!p->probed) {
			if (pol_step_variable(ps, cmd->next_eval))
				return POL_DONE; /* the statements before p set its text */
			/* judge the first DDL on the server's lock state of now, not of
			 * the last poll: another ddlgate's migration may have just begun */
			if (!cmd->cluster_checked && !cmd->blocked) {
				cmd->cluster_checked = true;
				if (cluster_fresh_check(ps->s, pol_cluster_checked, NULL))
					return POL_WAIT_CLUSTER;
			}
			pol_ws_classify(ps, p);
			if (pol_policy_checks(ps, p, !cmd->blocked))
				return POL_WAIT_HOLD;
			if (cmd->hold_started && p->held_who && p->held_us == 0) {
				p->held_us = clk_mono_us() - cmd->hold_started;
				if (p->held_us <= 0)
					p->held_us = 1;
			}
			bool policy_blocks = false;
			for (size_t i = 0; i < p->npf; i++)
				policy_blocks |= p->pf[i].action == RULES_ACTION_BLOCK;
			if (p->ws_scratch) {
				/* skeema's empty copies: only access is judged */
				pol_decide(ps, p);
				pol_scratch_learn(ps, p);
				continue;
			}
			if (cmd->blocked || policy_blocks) {
				/* nothing will run: record what the rules say, without probes */
				pol_engine(ps, p, false);
				pol_decide(ps, p);
				pol_scratch_learn(ps, p);
				continue;
			}
			pol_engine(ps, p, true);
			enum pol_cut cut =
			    p->v.pending ? pol_step_here(ps, cmd->next_eval) : POL_CUT_NONE;
			if (cut == POL_CUT_HERE)
				return POL_DONE; /* the statements before p go first */
			if (cut == POL_CUT_HOLD)
				return POL_WAIT_HOLD; /* a later statement waits for a migration */
			if (p->v.pending && cmd->blocked) {
				/* a later statement is refused whatever the data */
				pol_engine(ps, p, false);
				pol_decide(ps, p);
				pol_scratch_learn(ps, p);
				continue;
			}
			if (p->v.pending && pol_start_probes(ps, cmd->next_eval)) {
				p->probed = true;
				return POL_WAIT_PROBES;
			}
		} else {
			/* the probes answered: evaluate again with every fact known; a
			 * guard whose next question depends on an answer (drop-table asks
			 * a table's comment before its rows) gets one more round */
			pol_engine(ps, p, true);
			if (p->v.pending && !p->reprobed && pol_start_probes(ps, cmd->next_eval)) {
				p->reprobed = true;
				return POL_WAIT_PROBES;
			}
		}
		pol_decide(ps, p);
		pol_scratch_learn(ps, p);
	}
	return POL_DONE;
}

/* Writes p's refusal into reply; false when p is not blocked. */
static bool pol_block_msg(const struct pol_stmt *p, struct hook_reply *reply)
{
	if (p->decision != AUDIT_BLOCK)
		return false;
	for (size_t k = 0; k < p->npf; k++) {
		if (p->pf[k].action == RULES_ACTION_BLOCK) {
			snprintf(reply->message, sizeof(reply->message),
				 "ddlgate: blocked by %s: %s.", p->pf[k].rule, p->pf[k].message);
			return true;
		}
	}
	return p->evaluated && rules_format_error(&p->v, reply->message, sizeof(reply->message));
}

/* The reply for a blocked command: the message of the statement that
 * decided the refusal (cmd.block_first), else of the first blocking one. */
static void pol_block_reply(struct pol_sess *ps, struct hook_reply *reply)
{
	const struct pol_cmd *cmd = &ps->cmd;
	reply->code = 1290;
	memcpy(reply->sqlstate, "HY000", 6);
	snprintf(reply->message, sizeof(reply->message), "ddlgate: blocked");
	if (cmd->block_first && cmd->block_first <= cmd->n &&
	    pol_block_msg(&cmd->stmts[cmd->block_first - 1], reply))
		return;
	for (size_t i = 0; i < cmd->n; i++)
		if (pol_block_msg(&cmd->stmts[i], reply))
			return;
}

/* Frees what the command owns and returns it to POL_CMD_IDLE. */
void pol_cmd_end(struct pol_sess *ps)
{
	pol_intents_drop(&ps->cmd);
	if (ps->cmd.facts)
		rules_fact_cache_free(ps->cmd.facts);
	if (ps->cmd.job)
		guard_job_release(ps->cmd.job);
	rules_migration_free(ps->cmd.scratch);
	memset(&ps->cmd, 0, sizeof(ps->cmd)); /* state: POL_CMD_IDLE */
}

/*
 * Counts, records and answers a command whose judging is over. An allowed
 * command that changes something first writes its intent records: HOOK_WAIT
 * until they are durable, then pol_record.c calls here again (state
 * POL_CMD_INTENT) to forward it, or to refuse it when one failed.
 */
enum hook_verdict pol_finish(struct pol_sess *ps, struct hook_reply *reply)
{
	struct pol_cmd *cmd = &ps->cmd;

	if (!cmd->blocked && cmd->state == POL_CMD_JUDGING && pol_mdl_look(ps))
		return HOOK_WAIT; /* old transactions hold the DDL's table (pol_mdl.c) */
	if (!cmd->blocked && cmd->state != POL_CMD_INTENT && pol_intents_start(ps) > 0) {
		cmd->state = POL_CMD_INTENT;
		return HOOK_WAIT;
	}

	for (size_t i = cmd->step_from; i < cmd->n; i++)
		metrics_statement(cmd->stmts[i].st.kind, (int)cmd->stmts[i].decision);
	if (!cmd->blocked) {
		pol_step_forward(ps);
		cmd->state = POL_CMD_FORWARDED;
		for (size_t i = 0; i < cmd->n; i++)
			if (cmd->stmts[i].has_sig &&
			    (cmd->stmts[i].sig.kind == MIG_SIG_GET_LOCK ||
			     cmd->stmts[i].sig.kind == MIG_SIG_RELEASE_LOCK))
				ps->hs->want_first_value = true;
		pol_mdl_forward(ps);
		return HOOK_FORWARD;
	}
	if (cmd->total > cmd->n)
		cmd->n = cmd->total; /* refused before the first step: all of it */
	pol_block_reply(ps, reply);
	for (size_t i = 0; i < cmd->n; i++)
		pol_submit(ps, &cmd->stmts[i], AUDIT_NOT_SENT, 0, 0, false);
	pol_cmd_end(ps);
	return HOOK_REJECT;
}
