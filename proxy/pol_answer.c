/* The server's answers to a forwarded command, statement by statement: what each did to the
 * session (schema, migration signals, settings), the migration memory and the audit record with
 * its outcome; a KILL's OK held until its victim is gone. */
#include <string.h>

#include "proxy/audit_drift.h"
#include "proxy/cluster.h"
#include "proxy/hook.h"
#include "proxy/pkt.h"
#include "proxy/pol_internal.h"
#include "proxy/worker.h"
#include "rules/sqlscan.h"
#include "rules/stmt_objects.h"

/* The session's current schema after p succeeded: `USE x` switches to x;
 * DROP DATABASE of the current schema leaves none (the server's rule). */
static void pol_schema_result(struct pol_sess *ps, const struct pol_stmt *p)
{
	const char *used = pol_use_schema(ps, p);
	if (used) {
		sess_hook_schema(ps->s, used);
		return;
	}
	if (p->st.kind == STMT_DDL && p->st.verb == DDL_DROP_DATABASE && p->st.nobjects > 0 &&
	    p->st.objects[0].name &&
	    strncmp(p->st.objects[0].name, ps->hs->schema, sizeof(ps->hs->schema)) == 0)
		sess_hook_schema(ps->s, "");
}

/* Applies what statement p did, now that the server answered it. Returns
 * true when it started a migration; *held when the answer must wait for
 * the account's grant check (pol_mig_signal releases it). */
static bool pol_apply_result(struct pol_sess *ps, struct pol_stmt *p, const struct hook_result *r,
			     bool *held)
{
	bool started = false;
	if (p->has_sig) {
		char value[64];
		const char *v = NULL;
		if (r->first_value && !r->first_value_null) {
			size_t n = r->first_value_len < sizeof(value) - 1 ? r->first_value_len
									  : sizeof(value) - 1;
			memcpy(value, r->first_value, n);
			value[n] = 0;
			v = value;
		}
		/* a directive alone in a comment is an empty query to the server (ERR
		 * 1065): it still counts */
		bool ok = (r->ok ||
			   (p->st.kind == STMT_EMPTY && (p->sig.kind == MIG_SIG_DIRECTIVE ||
							 p->sig.kind == MIG_SIG_DIRECTIVE_END))) &&
			  !r->aborted;
		started = pol_mig_signal(ps, &p->sig, ok, v, r->affected_rows, held);
	}
	if (r->ok && !r->aborted)
		pol_schema_result(ps, p);
	if (r->ok && p->set_ansi >= 0)
		ps->ansi_quotes = p->set_ansi == 1;
	if (p->set_notes)
		pol_memory_notes_changed();
	if (r->ok && p->set_lock_wait != SQLSCAN_LOCK_WAIT_NONE)
		ps->lock_wait = p->set_lock_wait == SQLSCAN_LOCK_WAIT_DEFAULT
				    ? POL_DEFAULT_LOCK_WAIT
				    : p->set_lock_wait;
	struct migration_info peer;
	uint64_t owner = ps->conn_id;
	if (r->ok && p->ddl && !ps->registered && pol_in_migration(ps, &peer))
		owner = peer.conn_id; /* a peer's DDL counts for the migration it serves */
	if (r->ok && p->ddl && ps->mig.by_history)
		pol_history_touch(ps);
	if (r->ok && p->ddl && (ps->registered || owner != ps->conn_id)) {
		struct migration_obj objs[POL_MAX_OBJECTS];
		size_t n = pol_objects(&p->st, objs, POL_MAX_OBJECTS);
		for (size_t i = 0; i < n; i++)
			migration_touch(owner, objs[i].schema ? objs[i].schema : p->schema,
					objs[i].table);
	}
	return started;
}

/* Tells the drift watch which objects a forwarded schema or account change
 * touched, so that it does not report them as changed behind ddlgate's back. */
static void pol_drift_note(const struct pol_stmt *p)
{
	struct stmt_obj objs[POL_MAX_OBJECTS];
	size_t n = stmt_objects(&p->st, objs, POL_MAX_OBJECTS);
	if (p->st.kind != STMT_DDL || n == 0) {
		audit_drift_note(NULL, NULL); /* accounts, or objects unknown */
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (objs[i].is_schema)
			audit_drift_note(objs[i].name, NULL);
		else
			audit_drift_note(objs[i].schema ? objs[i].schema : p->schema, objs[i].name);
	}
}

/* What hook_result() answers, a KILL's hold aside (pol_kill_answer). */
static bool pol_result(struct sess *s, struct hook_sess *hs, const struct hook_result *r)
{
	struct pol_sess *ps = hs->policy;
	bool wait = false;
	unsigned held_back = 0;

	if (!ps || ps->cmd.state != POL_CMD_FORWARDED)
		return true;
	struct hook_result mdl_r;
	r = pol_mdl_result(ps, r, &mdl_r);
	if (!r)
		return false; /* a DDL stopped at its lock-wait bound goes again */
	struct pol_cmd *cmd = &ps->cmd;
	if (cmd->com == COM_STMT_PREPARE && !r->ok)
		ps->last_prep = 0; /* a failed prepare leaves no last statement */
	if (r->stmt_id && r->ok && cmd->com == COM_STMT_PREPARE) {
		size_t before = ps->nprep;
		pol_stmt_prepared(ps, r->stmt_id);
		if (ps->nprep > before)
			hs->watch_executes = true; /* from now on the relay asks at execute */
	}
	if (r->index < cmd->n) {
		struct pol_stmt *p = &cmd->stmts[r->index];
		if (!p->done) {
			p->done = true;
			/* after the signals: a migration that starts here starts with
			 * an empty memory, which then learns p */
			bool floor_held = false;
			bool started = pol_apply_result(ps, p, r, &floor_held);
			held_back += floor_held;
			/* a prepare runs nothing yet */
			/* a light execute: no migration to learn it, nothing indirect */
			if (r->ok && !r->aborted && cmd->com != COM_STMT_PREPARE && !p->light)
				pol_memory_commit(ps, p, r->warnings);
			if (!r->aborted && cmd->com != COM_STMT_PREPARE && !p->light)
				pol_indirect_learn(ps, p, pol_lex_mode(ps, p->ansi), r->ok);
			if (cmd->com != COM_STMT_PREPARE && (p->ddl || p->st.kind == STMT_DCL))
				pol_drift_note(p); /* also when not recorded, or failed */
			if (!r->aborted && cmd->com != COM_STMT_PREPARE && p->ddl)
				pol_ws_result(ps, p, r->ok);
			if (started && cluster_wait_held(s, pol_durable_fn, NULL, 1000)) {
				/* the client learns it holds the floor once every ddlgate can
				 * see it: after the cluster lock is taken */
				ps->durable_wait++;
				held_back++;
			}
			if (p->record) {
				/* a prepare ran nothing: never "ok" as if it had */
				enum audit_outcome o =
				    r->aborted ? AUDIT_ABORTED
				    : !r->ok   ? AUDIT_ERROR
				    : cmd->com == COM_STMT_PREPARE || pol_prepares(p)
					? AUDIT_PREPARED
					: AUDIT_OK;
				wait = p->ddl && !r->aborted;
				held_back +=
				    pol_submit(ps, p, o, r->error_code, r->affected_rows, wait);
			}
		}
	}
	if (pol_step_answer(ps, r))
		return false; /* a step ran: the rest is judged, its answer waits */
	if (!r->more || r->aborted) {
		/* the server stops at the first error: later statements never ran */
		for (size_t i = 0; i < cmd->n; i++) {
			struct pol_stmt *p = &cmd->stmts[i];
			if (!p->done && p->record)
				pol_submit(ps, p, r->aborted ? AUDIT_ABORTED : AUDIT_NOT_SENT, 0, 0,
					   false);
		}
		pol_cmd_end(ps);
	}
	return pol_mdl_deliver(ps, held_back == 0);
}

/*
 * The server answers a KILL of a connection once it has closed that
 * connection, and a client that reads the OK counts on the victim being
 * gone (libmariadb's reconnect checks its socket before the next command).
 * When the victim is a session of this ddlgate, its client socket must be
 * closed too before the OK goes on: held until the victim's thread has
 * closed it (sess_hook_hold_for_end). An answer already held for another
 * reason is left to that reason.
 */
static bool pol_kill_answer(struct sess *s, struct pol_sess *ps, const struct hook_result *r,
			    bool go)
{
	uint32_t thread = ps->kill_thread;
	ps->kill_thread = 0;
	if (!go || !r->ok || r->aborted || r->more || r->index != 0 ||
	    (ps->hs->command != COM_QUERY && ps->hs->command != COM_PROCESS_KILL))
		return go;
	uint64_t victim = worker_registry_find_thread(thread);
	return !(victim && sess_hook_hold_for_end(s, victim));
}

bool hook_result(struct sess *s, struct hook_sess *hs, const struct hook_result *r)
{
	struct pol_sess *ps = hs->policy;
	bool go = pol_result(s, hs, r);
	if (!ps || !ps->kill_thread)
		return go;
	return pol_kill_answer(s, ps, r, go);
}
