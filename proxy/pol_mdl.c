/* Metadata-lock safety: bounds a forwarded DDL's lock wait, retries it unseen, then names the
 * blocker. */
/*
 * An ALTER needs an exclusive metadata lock on its table. While a
 * transaction that touched the table stays open the ALTER waits, and every
 * new query on the table queues behind the waiting ALTER: the application
 * stalls for as long as lock_wait_timeout (a year by default).
 *
 * For a one-statement COM_QUERY DDL that takes a table lock, ddlgate
 *   1. asks the relay to keep the command's bytes (hs->keep_command),
 *   2. has the guard's lock-wait watcher stop the statement (KILL QUERY ID)
 *      once it has waited [guard] ddl_lock_wait_ms for its metadata lock,
 *      which lets the queued application queries run,
 *   3. holds the interrupted answer back from the client, waits a backoff
 *      with jitter (the watcher's timer) and sends the kept command again
 *      (sess_hook_resend), up to ddl_lock_retries times within
 *      ddl_lock_deadline_ms,
 *   4. past that, answers ERR 1290 lock-wait-exceeded naming the session
 *      the watcher saw holding the table.
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

/* The statement of the command, when the protection applies to it. */
static struct pol_stmt *pol_mdl_stmt(const struct pol_sess *ps)
{
	const struct pol_cmd *cmd = &ps->cmd;
	if (cmd->com != COM_QUERY || cmd->n != 1)
		return NULL;
	struct pol_stmt *p = &cmd->stmts[0];
	if (!p->ddl || p->st.kind != STMT_DDL || p->st.nobjects == 0 || !p->st.objects[0].name)
		return NULL;
	/* DDL whose first object is the table it locks (trigger DDL names the
	 * trigger, so it is left to unbounded-lock-wait) */
	static const enum ddl_verb covered[] = {DDL_ALTER_TABLE,  DDL_DROP_TABLE,
						DDL_RENAME_TABLE, DDL_TRUNCATE_TABLE,
						DDL_CREATE_INDEX, DDL_DROP_INDEX};
	size_t k = 0;
	while (k < sizeof(covered) / sizeof(covered[0]) && covered[k] != p->st.verb)
		k++;
	if (k == sizeof(covered) / sizeof(covered[0]))
		return NULL;
	if (p->len + 1 >= PKT_MAX_PAYLOAD)
		return NULL; /* the relay keeps single-packet commands only */
	return p;
}

bool pol_mdl_covers(const struct pol_sess *ps)
{
	const struct cfg *c = ps->conf->cfg;
	if (c->guard.ddl_lock_wait_ms <= 0 || !guard_watch_ready())
		return false;
	if (ps->lock_wait >= 0 && ps->lock_wait * 1000L < c->guard.ddl_lock_wait_ms)
		return false; /* the session's own, shorter bound wins */
	return pol_mdl_stmt(ps) != NULL;
}

void pol_mdl_forward(struct pol_sess *ps)
{
	struct pol_mdl *m = &ps->mdl;
	(void)guard_watch_stop(m->watch, NULL, 0);
	memset(m, 0, sizeof(*m));
	if (!pol_mdl_covers(ps))
		return;
	const struct pol_stmt *p = &ps->cmd.stmts[0];
	const struct stmt_name *o = &p->st.objects[0];
	const char *schema = o->schema ? o->schema : p->schema;
	if (rules_engine_action(ps->conf->engine, RULES_ID_LOCK_WAIT_EXCEEDED, ps->hs->user, schema,
				o->name) == RULES_ACTION_OFF)
		return;
	snprintf(m->schema, sizeof(m->schema), "%s", schema ? schema : "");
	snprintf(m->table, sizeof(m->table), "%s", o->name);
	m->watch = guard_watch_start(ps->s, ps->hs->server_thread,
				     ps->conf->cfg->guard.ddl_lock_wait_ms, m->schema, m->table);
	if (!m->watch)
		return;
	m->active = true;
	m->attempts = 1;
	atomic_store(&ps->mdl_attempts, 1);
	m->first_mono = clk_mono_us();
	ps->hs->keep_command = true;
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
	m->last_mono = clk_mono_us();
	atomic_store(&ps->mdl_attempts, m->attempts);
	m->watch = guard_watch_start(s, ps->hs->server_thread,
				     ps->conf->cfg->guard.ddl_lock_wait_ms, m->schema, m->table);
	if (!sess_hook_resend(s)) {
		(void)guard_watch_stop(m->watch, NULL, 0);
		m->watch = 0;
		m->active = false;
		sess_hook_release(s);
	}
}

/* Fills m->reply: the DDL gave up waiting. */
static void pol_mdl_refuse(struct pol_sess *ps, const char *blocker)
{
	struct pol_mdl *m = &ps->mdl;
	const struct cfg *c = ps->conf->cfg;
	long waited = (long)((clk_mono_us() - m->first_mono) / 1000);
	m->reply.code = 1290;
	snprintf(m->reply.sqlstate, sizeof(m->reply.sqlstate), "HY000");
	snprintf(m->reply.message, sizeof(m->reply.message),
		 "ddlgate: %s on %s%s%s: lock-wait-exceeded: the statement waited for its "
		 "metadata lock %u time%s (%ld ms in all; each wait stopped after %d ms so that "
		 "queries on the table do not queue behind it). Blocking: %s. End or kill that "
		 "transaction, or retry later",
		 ps->cmd.stmts[0].st.keyword ? ps->cmd.stmts[0].st.keyword : "DDL", m->schema,
		 m->schema[0] ? "." : "", m->table, m->attempts, m->attempts == 1 ? "" : "s",
		 waited, c->guard.ddl_lock_wait_ms,
		 blocker[0] ? blocker : "unknown (no open transaction seen)");
	m->replace = true;
}

const struct hook_result *pol_mdl_result(struct pol_sess *ps, const struct hook_result *r,
					 struct hook_result *mine)
{
	struct pol_mdl *m = &ps->mdl;
	if (!m->active || r->index != 0)
		return r;
	char blocker[400];
	bool killed = guard_watch_stop(m->watch, blocker, sizeof(blocker));
	m->watch = 0;
	if (r->ok || r->aborted || !killed || (r->error_code != 1317 && r->error_code != 1205)) {
		m->active = false;
		atomic_store(&ps->mdl_attempts, 0);
		return r;
	}
	const struct cfg *c = ps->conf->cfg;
	int backoff = pol_mdl_backoff(m->attempts);
	int64_t spent_ms = (clk_mono_us() - m->first_mono) / 1000;
	if (m->attempts <= (unsigned)c->guard.ddl_lock_retries &&
	    spent_ms + backoff + c->guard.ddl_lock_wait_ms <= c->guard.ddl_lock_deadline_ms &&
	    guard_post_after(ps->s, backoff, pol_mdl_retry)) {
		m->backing_off = true;
		return NULL; /* held: the client never sees this attempt */
	}
	m->active = false;
	atomic_store(&ps->mdl_attempts, 0);
	pol_mdl_refuse(ps, blocker);
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

void pol_mdl_audit(const struct pol_sess *ps, struct audit_rec *r)
{
	const struct pol_mdl *m = &ps->mdl;
	if (ps->cmd.state != POL_CMD_FORWARDED || m->attempts < 2 || m->active)
		return; /* an intent, or nothing was stopped */
	if (m->replace) {
		audit_rec_rule(r, RULES_ID_LOCK_WAIT_EXCEEDED, "block", m->reply.message, NULL);
		return;
	}
	char msg[200];
	snprintf(msg, sizeof(msg),
		 "sent %u times: the metadata-lock wait was stopped after %d ms %u time%s, "
		 "%lld ms from the first attempt to the last",
		 m->attempts, ps->conf->cfg->guard.ddl_lock_wait_ms, m->attempts - 1,
		 m->attempts == 2 ? "" : "s", (long long)((m->last_mono - m->first_mono) / 1000));
	audit_rec_rule(r, RULES_ID_LOCK_WAIT_EXCEEDED, "retry", msg, NULL);
}

void pol_mdl_end(struct pol_sess *ps)
{
	atomic_store(&ps->mdl_attempts, 0);
	(void)guard_watch_stop(ps->mdl.watch, NULL, 0);
	memset(&ps->mdl, 0, sizeof(ps->mdl));
}
