/* Metadata-lock safety: bounds a forwarded DDL's lock wait, retries it unseen, then names the
 * blocker. */
/*
 * An ALTER needs an exclusive metadata lock on its table. While a
 * transaction that touched the table stays open the ALTER waits, and every
 * new query on the table queues behind the waiting ALTER: the application
 * stalls for as long as lock_wait_timeout (a year by default).
 *
 * For a DDL that takes a table lock, ddlgate
 *   0. looks first (with [guard] long_transaction_ms): while a transaction
 *      older than that holds a metadata lock on the table, the DDL is not
 *      sent at all, so nothing queues behind it; it goes once they ended,
 *      or is refused with lock-wait-exceeded at ddl_lock_deadline_ms,
 *   1. asks the relay to keep the command's bytes (hs->keep_command), for a
 *      one-statement, one-packet COM_QUERY or an execute of a prepared DDL
 *      without parameters,
 *   2. has the guard's lock-wait watcher stop the statement (KILL QUERY ID)
 *      once it has waited [guard] ddl_lock_wait_ms for its metadata lock,
 *      which lets the queued application queries run,
 *   3. holds the interrupted answer back from the client, waits a backoff
 *      with jitter (the watcher's timer) and sends the kept command again
 *      (sess_hook_resend), up to ddl_lock_retries times within
 *      ddl_lock_deadline_ms,
 *   4. past that, answers ERR 1290 lock-wait-exceeded naming the session
 *      the watcher saw holding the table.
 * A DDL inside a multi-statement COM_QUERY (statements before it already
 * ran), or an execute with parameters, is watched the same way but never
 * sent again: its first stopped wait is answered with lock-wait-exceeded
 * at once.
 * MariaDB's own bounds (lock_wait_timeout, ALTER ... WAIT n) count whole
 * seconds only, hence the watcher. A session whose own lock_wait_timeout is
 * shorter than the bound keeps the server's behaviour.
 */
#include <stdio.h>
#include <string.h>

#include "proxy/clock.h"
#include "proxy/guard.h"
#include "proxy/pkt.h"
#include "proxy/pol_internal.h"

/* Backoff before attempt n + 1: 100 ms doubling up to 1 s, plus up to half
 * of it again at random so that several waiting DDLs do not return as one. */
static int pol_mdl_backoff(unsigned attempts)
{
	int base = 100;
	for (unsigned i = 1; i < attempts && base < 1000; i++)
		base *= 2;
	if (base > 1000)
		base = 1000;
	uint64_t x = (uint64_t)clk_mono_us() * 6364136223846793005ULL + 1442695040888963407ULL;
	return base + (int)((x >> 33) % (uint64_t)(base / 2 + 1));
}

/* The index of the statement the protection is for: the first DDL of the
 * command whose first object is the table it locks (trigger DDL names the
 * trigger, so it is left to unbounded-lock-wait); -1 when none. */
static int pol_mdl_stmt(const struct pol_sess *ps)
{
	const struct pol_cmd *cmd = &ps->cmd;
	static const enum ddl_verb covered[] = {DDL_ALTER_TABLE,  DDL_DROP_TABLE,
						DDL_RENAME_TABLE, DDL_TRUNCATE_TABLE,
						DDL_CREATE_INDEX, DDL_DROP_INDEX};
	if (cmd->com != COM_QUERY && cmd->com != COM_STMT_EXECUTE)
		return -1;
	for (size_t i = 0; i < cmd->n; i++) {
		const struct pol_stmt *p = &cmd->stmts[i];
		if (!p->ddl || p->st.kind != STMT_DDL || p->st.nobjects == 0 ||
		    !p->st.objects[0].name)
			continue;
		for (size_t k = 0; k < sizeof(covered) / sizeof(covered[0]); k++)
			if (covered[k] == p->st.verb)
				return (int)i;
	}
	return -1;
}

bool pol_mdl_covers(const struct pol_sess *ps)
{
	const struct cfg *c = ps->conf->cfg;
	if (c->guard.ddl_lock_wait_ms <= 0 || !guard_watch_ready())
		return false;
	int i = pol_mdl_stmt(ps);
	if (i < 0)
		return false;
	long lw = ps->cmd.stmts[i].lock_wait;
	if (lw >= 0 && lw * 1000L < c->guard.ddl_lock_wait_ms)
		return false; /* the session's own, shorter bound wins */
	return true;
}

/* Sets m's statement and table for the covered command; false when the
 * protection does not apply (not covered, or the rule is off there). */
static bool pol_mdl_target(struct pol_sess *ps)
{
	struct pol_mdl *m = &ps->mdl;
	if (!pol_mdl_covers(ps))
		return false;
	m->stmt = (size_t)pol_mdl_stmt(ps);
	const struct pol_stmt *p = &ps->cmd.stmts[m->stmt];
	const struct stmt_name *o = &p->st.objects[0];
	const char *schema = o->schema ? o->schema : p->schema;
	if (rules_engine_action(ps->conf->engine, RULES_ID_LOCK_WAIT_EXCEEDED, ps->hs->user, schema,
				o->name) == RULES_ACTION_OFF)
		return false;
	snprintf(m->schema, sizeof(m->schema), "%s", schema ? schema : "");
	snprintf(m->table, sizeof(m->table), "%s", o->name);
	/* sent again only when that is exact: the whole command is the DDL,
	 * in one packet; an execute without parameters (long data sent for
	 * one would be gone after the first try) */
	m->resend = ps->cmd.n == 1 && ((ps->cmd.com == COM_QUERY && p->len + 1 < PKT_MAX_PAYLOAD) ||
				       (ps->cmd.com == COM_STMT_EXECUTE && ps->cmd.nparams == 0));
	if (!m->tries)
		m->tries = arena_alloc(&ps->arena, POL_MDL_MAX_TRIES * sizeof(*m->tries));
	return true;
}

/* Notes one wait for the audit record; past the cap the last entry is
 * replaced, so the record always ends with the final one. */
static void pol_mdl_note(struct pol_mdl *m, bool sent, bool cancelled, bool retried,
			 const struct guard_blocker *b)
{
	if (!m->tries)
		return;
	if (m->ntries == POL_MDL_MAX_TRIES)
		m->ntries--;
	struct pol_mdl_try *t = &m->tries[m->ntries++];
	memset(t, 0, sizeof(*t));
	t->sent = sent;
	t->cancelled = cancelled;
	t->retried = retried;
	t->waited_ms = (clk_mono_us() - m->try_mono) / 1000;
	if (b) {
		t->blocker = *b;
		guard_blocker_age(&t->blocker);
	}
}

static void pol_mdl_set_watch(struct pol_sess *ps, uint64_t h)
{
	ps->mdl.watch = h;
	atomic_store(&ps->mdl_watch, h);
}

/* The text of a refusal (without the "ddlgate: blocked by" prefix): what
 * waited, on whom, and the safe way. sent: the DDL went to the server. */
static void pol_mdl_why(struct pol_sess *ps, const struct guard_blocker *b, bool sent, char *out,
			size_t len)
{
	const struct pol_mdl *m = &ps->mdl;
	const struct cfg *c = ps->conf->cfg;
	const struct pol_stmt *p = &ps->cmd.stmts[m->stmt];
	long waited = (long)((clk_mono_us() - m->first_mono) / 1000);
	char who[600];
	guard_blocker_text(b, who, sizeof(who));
	char what[160];
	snprintf(what, sizeof(what), "%s on %s%s%s", p->st.keyword ? p->st.keyword : "DDL",
		 m->schema, m->schema[0] ? "." : "", m->table);
	if (!sent)
		snprintf(
		    out, len,
		    "%s was not sent: a transaction open longer than long_transaction_ms "
		    "(%d ms) holds the table, and it still did after %ld ms "
		    "(ddl_lock_deadline_ms), so the DDL would have made every query on the "
		    "table queue behind it. Blocking: %.420s. End or kill that transaction, or "
		    "retry later",
		    what, c->guard.long_transaction_ms, waited, who);
	else if (!m->resend)
		snprintf(
		    out, len,
		    "%s waited %ld ms for its metadata lock and was stopped so that queries on "
		    "the table do not queue behind it; ddlgate cannot send it again unseen (%s)"
		    ". Blocking: %.420s. End or kill that transaction, or retry later",
		    what, waited,
		    ps->cmd.com == COM_STMT_EXECUTE
			? "an execute with parameters"
			: "statements before it in the same command already ran, it and "
			  "the ones after it did not",
		    who);
	else
		snprintf(
		    out, len,
		    "%s waited for its metadata lock %u time%s (%ld ms in all; a wait is "
		    "stopped once it passed %d ms with queries queued behind it, or at the "
		    "deadline). Blocking: %.420s. End or kill that transaction, or retry later",
		    what, m->attempts, m->attempts == 1 ? "" : "s", waited,
		    c->guard.ddl_lock_wait_ms, who);
}

/* Posted by the watcher: the look before sending is over. */
static void pol_mdl_looked(struct sess *s, void *arg)
{
	(void)arg;
	struct pol_sess *ps = pol_of(s);
	if (!ps || ps->cmd.state != POL_CMD_LOOKING)
		return;
	struct pol_mdl *m = &ps->mdl;
	struct guard_blocker b;
	enum guard_look a = guard_look_end(m->watch, &b);
	pol_mdl_set_watch(ps, 0);
	atomic_store(&ps->mdl_attempts, 0);
	ps->cmd.state = POL_CMD_JUDGING;
	if (b.id) { /* it waited for an old transaction */
		m->held_ms = (clk_mono_us() - m->try_mono) / 1000;
		pol_mdl_note(m, false, false, a != GUARD_LOOK_BLOCKED, &b);
	}
	if (a == GUARD_LOOK_BLOCKED) {
		char why[900];
		pol_mdl_why(ps, &b, false, why, sizeof(why));
		struct pol_stmt *p = &ps->cmd.stmts[m->stmt];
		pol_add_pf(ps, p, RULES_ID_LOCK_WAIT_EXCEEDED, RULES_ACTION_BLOCK,
			   arena_strndup(&ps->arena, why, strlen(why)));
		p->decision = AUDIT_BLOCK;
		ps->cmd.blocked = true;
	}
	struct hook_reply reply = {0};
	enum hook_verdict v = pol_finish(ps, &reply);
	if (v != HOOK_WAIT)
		sess_hook_resume(s, v, v == HOOK_REJECT ? &reply : NULL);
}

bool pol_mdl_look(struct pol_sess *ps)
{
	struct pol_mdl *m = &ps->mdl;
	const struct cfg *c = ps->conf->cfg;
	if (ps->cmd.mdl_looked || c->guard.long_transaction_ms <= 0)
		return false;
	ps->cmd.mdl_looked = true;
	(void)guard_watch_stop(m->watch, NULL);
	memset(m, 0, sizeof(*m));
	if (!pol_mdl_target(ps))
		return false;
	m->first_mono = m->try_mono = clk_mono_us();
	pol_mdl_set_watch(ps, guard_look_start(ps->s, ps->hs->server_thread, m->schema, m->table,
					       c->guard.long_transaction_ms,
					       c->guard.ddl_lock_deadline_ms, pol_mdl_looked));
	if (!m->watch)
		return false;
	atomic_store(&ps->mdl_attempts, 0);
	ps->cmd.state = POL_CMD_LOOKING;
	return true;
}

/* Has the watcher watch the attempt about to be sent: stopped past the
 * bound while queries queue behind it, or when the deadline comes. False
 * when the watcher is not running. */
static bool pol_mdl_watch(struct pol_sess *ps)
{
	struct pol_mdl *m = &ps->mdl;
	const struct cfg *c = ps->conf->cfg;
	int64_t left = c->guard.ddl_lock_deadline_ms - (clk_mono_us() - m->first_mono) / 1000;
	int max_ms = left > c->guard.ddl_lock_wait_ms ? (int)left : c->guard.ddl_lock_wait_ms;
	pol_mdl_set_watch(ps,
			  guard_watch_start(ps->s, ps->hs->server_thread, c->guard.ddl_lock_wait_ms,
					    max_ms, m->schema, m->table));
	return m->watch != 0;
}

void pol_mdl_forward(struct pol_sess *ps)
{
	struct pol_mdl *m = &ps->mdl;
	(void)guard_watch_stop(m->watch, NULL);
	struct pol_mdl kept = *m; /* what the look before sending found */
	memset(m, 0, sizeof(*m));
	if (ps->cmd.mdl_looked) {
		m->tries = kept.tries;
		m->ntries = kept.ntries;
		m->held_ms = kept.held_ms;
	}
	pol_mdl_set_watch(ps, 0);
	if (!pol_mdl_target(ps))
		return;
	m->first_mono = m->last_mono = m->try_mono = clk_mono_us();
	if (kept.first_mono && ps->cmd.mdl_looked)
		m->first_mono = kept.first_mono; /* the deadline counts from the look */
	if (!pol_mdl_watch(ps))
		return;
	m->active = true;
	m->attempts = 1;
	atomic_store(&ps->mdl_attempts, 1);
	ps->hs->keep_command = m->resend;
}

/* Watcher timer: the backoff is over, send the DDL again. */
static void pol_mdl_retry(struct sess *s, void *arg)
{
	(void)arg;
	struct pol_sess *ps = pol_of(s);
	if (!ps || !ps->mdl.active || !ps->mdl.backing_off)
		return;
	struct pol_mdl *m = &ps->mdl;
	m->backing_off = false;
	m->attempts++;
	m->last_mono = m->try_mono = clk_mono_us();
	atomic_store(&ps->mdl_attempts, m->attempts);
	(void)pol_mdl_watch(ps);
	if (!sess_hook_resend(s)) {
		(void)guard_watch_stop(m->watch, NULL);
		pol_mdl_set_watch(ps, 0);
		m->active = false;
		sess_hook_release(s);
	}
}

/* The protection of the command is over (answered, or ended early). */
static void pol_mdl_done(struct pol_sess *ps)
{
	(void)guard_watch_stop(ps->mdl.watch, NULL);
	pol_mdl_set_watch(ps, 0);
	ps->mdl.active = false;
	atomic_store(&ps->mdl_attempts, 0);
}

const struct hook_result *pol_mdl_result(struct pol_sess *ps, const struct hook_result *r,
					 struct hook_result *mine)
{
	struct pol_mdl *m = &ps->mdl;
	if (!m->active)
		return r;
	if (r->index != m->stmt) {
		if (!r->more || r->aborted)
			pol_mdl_done(ps); /* the command ended before the DDL ran */
		return r;
	}
	struct guard_blocker b;
	bool killed = guard_watch_stop(m->watch, &b);
	pol_mdl_set_watch(ps, 0);
	if (r->ok || r->aborted || !killed || (r->error_code != 1317 && r->error_code != 1205)) {
		if (m->ntries) /* the record tells the whole story: the final attempt too */
			pol_mdl_note(m, true, false, false, NULL);
		pol_mdl_done(ps);
		return r;
	}
	const struct cfg *c = ps->conf->cfg;
	int backoff = pol_mdl_backoff(m->attempts);
	int64_t spent_ms = (clk_mono_us() - m->first_mono) / 1000;
	bool again =
	    m->resend && m->attempts <= (unsigned)c->guard.ddl_lock_retries &&
	    spent_ms + backoff + c->guard.ddl_lock_wait_ms <= c->guard.ddl_lock_deadline_ms;
	if (again && guard_post_after(ps->s, backoff, pol_mdl_retry)) {
		pol_mdl_note(m, true, true, true, &b);
		m->backing_off = true;
		return NULL; /* held: the client never sees this attempt */
	}
	pol_mdl_note(m, true, true, false, &b);
	pol_mdl_done(ps);
	char why[900];
	pol_mdl_why(ps, &b, true, why, sizeof(why));
	m->reply.code = 1290;
	snprintf(m->reply.sqlstate, sizeof(m->reply.sqlstate), "HY000");
	snprintf(m->reply.message, sizeof(m->reply.message), "ddlgate: blocked by %s: %s.",
		 RULES_ID_LOCK_WAIT_EXCEEDED, why);
	m->replace = true;
	*mine = *r;
	mine->error_code = 1290;
	mine->error_message = m->reply.message;
	mine->error_message_len = strlen(m->reply.message);
	return mine;
}

bool pol_mdl_deliver(struct pol_sess *ps, bool now)
{
	if (!ps->mdl.replace)
		return now;
	if (now)
		sess_post(ps->s, pol_mdl_answer, NULL);
	return false;
}

void pol_mdl_answer(struct sess *s, void *arg)
{
	(void)arg;
	struct pol_sess *ps = pol_of(s);
	if (!ps)
		return;
	if (!ps->mdl.replace) {
		sess_hook_release(s);
		return;
	}
	ps->mdl.replace = false;
	sess_hook_answer_err(s, &ps->mdl.reply);
}

void pol_mdl_audit(const struct pol_sess *ps, const struct pol_stmt *p, struct audit_rec *r)
{
	const struct pol_mdl *m = &ps->mdl;
	if (m->active || (!ps->cmd.mdl_looked && ps->cmd.state != POL_CMD_FORWARDED) ||
	    p != &ps->cmd.stmts[m->stmt] || m->ntries == 0)
		return; /* an intent of a DDL being sent, or nothing waited */
	for (unsigned i = 0; i < m->ntries; i++) {
		const struct pol_mdl_try *t = &m->tries[i];
		const struct guard_blocker *b = &t->blocker;
		audit_rec_attempt(r, &(struct audit_attempt){
					 .sent = t->sent,
					 .waited_ms = t->waited_ms,
					 .cancelled = t->cancelled,
					 .retried = t->retried,
					 .blocker_id = b->id,
					 .blocker_user = b->user,
					 .blocker_host = b->host,
					 .blocker_statement = b->statement,
					 .blocker_trx_age_ms = b->trx_age_ms,
					 .blocker_running = b->running,
					 .blocker_exact = b->exact,
				     });
	}
	if (m->replace) {
		audit_rec_rule(r, RULES_ID_LOCK_WAIT_EXCEEDED, "block", m->reply.message, NULL);
		return;
	}
	if (ps->cmd.state != POL_CMD_FORWARDED || p->decision == AUDIT_BLOCK)
		return; /* refused before sending: its finding says so */
	char msg[240];
	if (m->attempts >= 2)
		snprintf(msg, sizeof(msg),
			 "sent %u times: the metadata-lock wait was stopped after %d ms %u time%s, "
			 "%lld ms from the first attempt to the last",
			 m->attempts, ps->conf->cfg->guard.ddl_lock_wait_ms, m->attempts - 1,
			 m->attempts == 2 ? "" : "s",
			 (long long)((m->last_mono - m->first_mono) / 1000));
	else
		snprintf(msg, sizeof(msg),
			 "held %lld ms before it was sent, until the transactions older than "
			 "long_transaction_ms on its table ended",
			 (long long)m->held_ms);
	audit_rec_rule(r, RULES_ID_LOCK_WAIT_EXCEEDED, m->attempts >= 2 ? "retry" : "hold", msg,
		       NULL);
}

void pol_mdl_end(struct pol_sess *ps)
{
	atomic_store(&ps->mdl_attempts, 0);
	(void)guard_watch_stop(ps->mdl.watch, NULL);
	atomic_store(&ps->mdl_watch, 0);
	memset(&ps->mdl, 0, sizeof(ps->mdl));
}
