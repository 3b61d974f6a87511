/* Per-session migration membership (who may take the floor) and the migration memory the rules
 * judge with. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/clock.h"
#include "proxy/cluster.h"
#include "proxy/guard.h"
#include "proxy/mem.h"
#include "proxy/metrics.h"
#include "proxy/pol_internal.h"
#include "rules/lex.h"
#include "rules/migration_signal.h"
#include "rules/pattern.h"
#include "rules/parse.h"

/* The client's address without its port ("10.1.2.3", "[::1]"). */
void pol_client_host(const struct hook_sess *hs, char *buf, size_t n)
{
	size_t len = strnlen(hs->client, sizeof(hs->client));
	const char *colon = memrchr(hs->client, ':', len);
	if (colon && colon != hs->client)
		len = (size_t)(colon - hs->client);
	snprintf(buf, n, "%.*s", (int)len, hs->client);
}

/*
 * Who the client is for the peer test: pol_client_host() into host, and
 * the client process into proc (MIGRATION_PROC_MAX bytes; returned). The
 * process is the _pid the client sent; else, for a client on this machine,
 * the process found in /proc (migration_client_pid), looked up the first
 * time a migration needs it (a migration starts, or another one runs), not
 * at login: that reads /proc, and most sessions never need it; else the
 * program the client named (migration_client_proc); else unknown ("").
 */
const char *pol_client_id(struct pol_sess *ps, char *host, size_t n, char *proc, size_t procn)
{
	pol_client_host(ps->hs, host, n);
	if (!ps->hs->client_pid[0] && !ps->pid_sought) {
		ps->pid_sought = true;
		char pid[sizeof(ps->hs->client_pid)];
		if (migration_client_pid(ps->hs->client, pid, sizeof(pid))) {
			pthread_mutex_lock(&pol.lock); /* /sessions reads it */
			memcpy(ps->hs->client_pid, pid, sizeof(pid));
			pthread_mutex_unlock(&pol.lock);
		}
	}
	migration_client_proc(ps->hs->client_pid, ps->hs->client_prog, proc, procn);
	return proc;
}

/*
 * Whether ps takes part in a migration: its own (lock, login, directive)
 * or a peer's (another connection of the same account from the same
 * machine holds the migration's lock: Rails, pt-online-schema-change).
 * peer_out (may be NULL) receives the peer's entry.
 */
bool pol_in_migration(struct pol_sess *ps, struct migration_info *peer_out)
{
	char host[64], proc[MIGRATION_PROC_MAX];
	if (migration_sess_active(&ps->mig))
		return true;
	if (migration_count() == 0)
		return false;
	return migration_peer(ps->conn_id, ps->hs->user, host,
			      pol_client_id(ps, host, sizeof(host), proc, sizeof(proc)), peer_out);
}

/* ---- migrations known by their history table ----
 *
 * A session that reads or writes one of [migration] history_tables claims
 * the floor as that table's tool (MIG_SIG_HISTORY, checked like any claim).
 * It stays a migration while it keeps using the table or running DDL: after
 * history_idle_s seconds without either, the registry stops showing it to
 * other sessions (migration_set_deadline) and the session drops it at its
 * next command. A lock, lock row or directive of the same session that ends
 * ends it too (migration_sess_apply), and so does the connection.
 */

static int64_t pol_now_s(void)
{
	return clk_mono_us() / 1000000;
}

/* The registry deadline of ps's migration: only a history-only one has one. */
static int64_t pol_history_deadline(const struct pol_sess *ps)
{
	int idle = ps->conf->cfg->migration.history_idle_s;
	return migration_sess_history_only(&ps->mig) && idle > 0 ? ps->mig.history_s + idle : 0;
}

/* ps ran DDL or used a history table: its history claim is renewed. */
void pol_history_touch(struct pol_sess *ps)
{
	ps->mig.history_s = pol_now_s();
	if (ps->registered)
		migration_set_deadline(ps->conn_id, pol_history_deadline(ps));
}

/* At each command: a history-only migration that went quiet ends. */
void pol_history_expire(struct pol_sess *ps)
{
	int64_t deadline = pol_history_deadline(ps);
	if (!deadline || pol_now_s() < deadline)
		return;
	ps->mig.by_history = false;
	ps->mig.name[0] = ps->mig.tool[0] = 0;
	(void)pol_mig_sync(ps);
}

/*
 * Whether sql (lex mode) uses a history table in a way that may make ps a
 * migration: fills sig then. A session that serves another's migration (a
 * peer) is that migration already, and an account known unable to change
 * the schema never becomes one. A history-only migration that uses its
 * table again is renewed here (the statement can stay on the fast path).
 */
bool pol_history_signal(struct pol_sess *ps, const char *sql, size_t len, unsigned mode,
			struct migration_signal *sig)
{
	const struct cfg *c = ps->conf->cfg;
	enum migration_floor v;

	if (c->migration.history_tables.n == 0)
		return false;
	if (ps->mig.by_history) {
		if (migration_scan_history(sql, len, mode, &c->migration.history_tables, sig)) {
			pol_history_touch(ps);
			/* a later statement may tell which tool it is (`dirty`, `run_on`) */
			if (migration_tool_merge(ps->mig.tool, sizeof(ps->mig.tool), sig->tool))
				(void)pol_mig_sync(ps);
		}
		return false;
	}
	if (guard_enabled() && migration_floor_cached(ps->hs->user, pol_now_s(), &v) &&
	    v != MIGRATION_FLOOR_YES)
		return false;
	if (!migration_scan_history(sql, len, mode, &c->migration.history_tables, sig))
		return false;
	return migration_sess_active(&ps->mig) || !pol_in_migration(ps, NULL);
}

/* ---- migration memory ----
 *
 * The memory learns a statement only once the server answered it OK
 * (pol_memory_commit from hook_result): a CREATE TABLE the server refused
 * must not make an existing table look new and empty.
 *
 * It belongs to the migration (migration_memory_get): the connections of
 * one migration, its own and its peers' (Rails takes the lock on one
 * connection and runs DDL on another; skeema uses several), learn into
 * and judge with one memory, which lives as long as the migration. A
 * session that takes part in no migration has a memory of its own that
 * spans one command. A command is judged on a copy taken when it arrives
 * (cmd.scratch), which learns its earlier statements as they are allowed;
 * the migration's memory still only learns from OK results.
 */

/* The memory ps learns into: its migration's (locked; *mm holds the
 * reference pol_memory_release() gives back) or its own. */
static struct rules_migration *pol_memory_acquire(struct pol_sess *ps, struct migration_memory **mm)
{
	struct migration_info peer;
	uint64_t owner = 0;

	*mm = NULL;
	if (ps->registered)
		owner = ps->conn_id;
	else if (migration_count() > 0 && pol_in_migration(ps, &peer))
		owner = peer.conn_id;
	if (owner)
		*mm = migration_memory_get(owner);
	return *mm ? migration_memory_lock(*mm) : ps->memory;
}

static void pol_memory_release(struct migration_memory *mm)
{
	if (mm) {
		migration_memory_unlock(mm);
		migration_memory_put(mm);
	}
}

/* Forgets the session's own memory (an app command starts). */
void pol_memory_reset(struct pol_sess *ps)
{
	rules_migration_reset(ps->memory);
}

/* An application session's next command: what it learnt may be stale by
 * now (other sessions write between its commands), except the old copy
 * its own online schema change swap renamed away, which the tool drops in
 * a later command. */
void pol_memory_next_command(struct pol_sess *ps)
{
	rules_migration_keep_swaps(ps->memory);
}

/* Whether table is one of [migration] history_tables: a migration tool's
 * bookkeeping, which no trigger of the application writes through. */
bool pol_history_table(const struct pol_sess *ps, const char *table)
{
	return table && rules_patterns_match(&ps->conf->cfg->migration.history_tables, table);
}

/* m learns that the write sql (len bytes, lex mode) ran: only its target
 * table may hold new rows when ddlgate can name it, else every table. */
static void pol_memory_write(struct pol_sess *ps, struct rules_migration *m, const char *sql,
			     size_t len, unsigned mode, const char *schema)
{
	char sch[256], tbl[256];

	if (!sql || !migration_write_target(sql, len, mode, sch, sizeof(sch), tbl, sizeof(tbl))) {
		rules_migration_wrote(m, NULL, NULL, false);
		return;
	}
	rules_migration_wrote(m, sch[0] ? sch : schema, tbl, pol_history_table(ps, tbl));
}

static bool pol_kw_adds_rows(const char *k, size_t n)
{
	return !(n == 6 && (strncasecmp(k, "SELECT", 6) == 0 || strncasecmp(k, "DELETE", 6) == 0));
}

/* Rows were written by sql (the fast path, learnt before the server's
 * answer: forgetting early is the careful side). */
void pol_memory_wrote(struct pol_sess *ps, const char *sql, size_t len, unsigned mode,
		      const char *kw, size_t kwlen)
{
	struct migration_memory *mm;

	if (kw && !pol_kw_adds_rows(kw, kwlen))
		return;
	const char *schema = ps->hs->schema[0] ? ps->hs->schema : NULL;
	struct rules_migration *m = pol_memory_acquire(ps, &mm);
	pol_memory_write(ps, m, sql, len, mode, schema);
	pol_memory_release(mm);
}

/* m learns statement p (a copy judging a command, or the real memory). */
void pol_memory_learn(struct pol_sess *ps, struct rules_migration *m, const struct pol_stmt *p)
{
	if (p->st.kind == STMT_DML) {
		const char *k = p->st.keyword ? p->st.keyword : "";
		if (pol_kw_adds_rows(k, strlen(k)))
			pol_memory_write(ps, m, p->sql, p->len,
					 ps->hs->lex_server | (p->ansi ? LEX_ANSI_QUOTES : 0),
					 p->schema);
		return;
	}
	rules_migration_apply(m, &p->st, p->schema);
}

/* Set once any session changed sql_notes (SET [GLOBAL] sql_notes, SET
 * STATEMENT sql_notes = 0 FOR ...): from then on a server answer without a
 * note proves nothing, for every session, until ddlgate restarts. */
static atomic_bool pol_notes_unreliable;

void pol_memory_notes_changed(void)
{
	atomic_store(&pol_notes_unreliable, true);
}

/*
 * Statement p ran (the server answered OK with warnings warnings): the
 * memory learns it. CREATE TABLE IF NOT EXISTS (sequelize writes every
 * createTable so) created the table unless it existed, and then the server
 * answers with note 1050, which counts as a warning: with none, the table
 * is new, as after a plain CREATE TABLE. Only while notes are on (the
 * server's default, and no session of this ddlgate turned them off).
 */
void pol_memory_commit(struct pol_sess *ps, const struct pol_stmt *p, uint16_t warnings)
{
	struct migration_memory *mm;

	if (p->st.kind != STMT_DML && p->st.kind != STMT_DDL)
		return;
	struct rules_migration *m = pol_memory_acquire(ps, &mm);
	if (p->st.kind == STMT_DDL && p->st.verb == DDL_CREATE_TABLE && p->st.if_not_exists &&
	    warnings == 0 && !atomic_load(&pol_notes_unreliable)) {
		struct pol_stmt created = *p;
		created.st.if_not_exists = false;
		pol_memory_learn(ps, m, &created);
	} else {
		pol_memory_learn(ps, m, p);
	}
	pol_memory_release(mm);
}

/* A copy of the memory ps judges with. Caller frees it. */
struct rules_migration *pol_memory_copy(struct pol_sess *ps)
{
	struct migration_memory *mm;
	struct rules_migration *m = pol_memory_acquire(ps, &mm);
	struct rules_migration *c = rules_migration_clone(m);
	pol_memory_release(mm);
	return c;
}

/* Brings the registry, the migration memory and the cluster lock in line
 * with ps->mig after it changed. Returns true when a migration started. */
bool pol_mig_sync(struct pol_sess *ps)
{
	bool active = migration_sess_active(&ps->mig);
	bool started = false;

	if (active) {
		if (!ps->registered) {
			metrics_migration_seen();
			started = true;
		}
		char host[64], proc[MIGRATION_PROC_MAX];
		/* the client's driver rules out the tools that never use it */
		(void)migration_tool_by_program(ps->mig.tool, sizeof(ps->mig.tool),
						ps->hs->client_prog);
		migration_register(ps->conn_id, ps->hs->user, host,
				   pol_client_id(ps, host, sizeof(host), proc, sizeof(proc)),
				   ps->mig.tool, ps->mig.name, ps->hs->schema);
		migration_set_deadline(ps->conn_id, pol_history_deadline(ps));
		ps->registered = true;
		cluster_set_local(true);
	} else if (ps->registered) {
		migration_unregister(ps->conn_id);
		ps->registered = false;
		cluster_set_local(migration_count() > 0);
	}
	return started;
}

/* ---- who may take the floor ----
 *
 * A claim (a known lock taken, a lock row set, a directive) by an account
 * not listed in [migration] users counts only when the account can change
 * the schema (migration.h, "who may take the floor"). The verdict comes
 * from the guard account, on a guard worker, and is cached per account;
 * while it is pending, the claim's answer is held back (durable_wait) so
 * the client cannot go on as "the migration" before ddlgate knows. Without
 * a [guard] account nothing can be checked: claims count as before (fail
 * open, said once on stderr and in the README). A check that fails or
 * cannot read the grants refuses the claim: a lock name alone must not let
 * an account freeze everyone else's DDL.
 */

static const char *pol_floor_word(enum migration_floor v)
{
	return v == MIGRATION_FLOOR_NO ? "it holds no CREATE, ALTER, DROP or INDEX privilege"
				       : "its grants could not be read by the guard account";
}

/* The claim is ignored: the session stays an app session. */
static void pol_floor_refused(struct pol_sess *ps, const struct migration_signal *sig,
			      const char *why)
{
	fprintf(stderr,
		"ddlgate: connection %llu: user '%s' claimed the migration floor (%s '%s') but "
		"may not change the schema (%s): the claim is ignored, the session stays an app "
		"session\n",
		(unsigned long long)ps->conn_id, ps->hs->user,
		sig->kind == MIG_SIG_GET_LOCK	      ? "GET_LOCK"
		: sig->kind == MIG_SIG_LOCK_TABLE_SET ? "lock table"
						      : "directive",
		sig->name, why);
}

static void pol_floor_done(struct sess *s, void *arg);

/* Starts the grant check for ps's account with the claim to apply after
 * it. False when it cannot run (nothing is held then). */
static bool pol_floor_start(struct pol_sess *ps, const struct migration_signal *sig, bool ok,
			    const char *value, uint64_t affected)
{
	char sql[MIGRATION_FLOOR_SQL_MAX];

	if (ps->floor_job || !migration_floor_sql(ps->hs->user, sql, sizeof(sql)))
		return false;
	struct guard_job *j = guard_job_new(1);
	guard_job_set(j, 0, sql);
	if (!guard_submit(j, ps->s, pol_floor_done, NULL)) {
		guard_job_release(j);
		return false;
	}
	ps->floor_job = j;
	ps->claim = (struct pol_claim){.sig = *sig, .ok = ok, .affected = affected};
	if (value) {
		ps->claim.has_value = true;
		snprintf(ps->claim.value, sizeof(ps->claim.value), "%s", value);
	}
	ps->durable_wait++; /* the answer waits for the verdict */
	return true;
}

/* On the session's thread once the grant check ran: apply or ignore the
 * held claim, then let the answer go (after the cluster lock is taken when
 * a migration started). */
static void pol_floor_done(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_of(s);
	char why[256];
	(void)arg;

	if (!ps || !ps->floor_job)
		return;
	const struct guard_result *r = guard_job_result(ps->floor_job, 0);
	enum migration_floor v = MIGRATION_FLOOR_UNKNOWN;
	if (r->ok)
		v = migration_floor_verdict(r->has_row ? (const char *const *)r->vals : NULL,
					    r->ncols, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "grant check failed: %.200s", r->error);
	guard_job_release(ps->floor_job);
	ps->floor_job = NULL;
	migration_floor_store(ps->hs->user, v, clk_mono_us() / 1000000);

	const struct pol_claim *c = &ps->claim;
	bool started = false;
	if (v == MIGRATION_FLOOR_YES) {
		if (migration_sess_apply(&ps->mig, ps->conf->cfg, &c->sig, c->ok,
					 c->has_value ? c->value : NULL, c->affected))
			started = pol_mig_sync(ps);
	} else {
		pol_floor_refused(ps, &c->sig, why);
	}
	/* the cluster waiter's post takes over the count this check added */
	if (started && cluster_wait_held(s, pol_durable_fn, NULL, 1000))
		return;
	pol_durable_fn(s, NULL);
}

/* The session ends: a grant check still running is dropped. */
void pol_floor_end(struct pol_sess *ps)
{
	if (ps->floor_job) {
		guard_job_release(ps->floor_job);
		ps->floor_job = NULL;
	}
}

/*
 * Applies signal sig with the server's answer (ok, value: the first
 * column as text or NULL, affected rows). Returns true when a migration
 * started. *held is set when the answer must wait for the account's grant
 * check: pol_floor_done() applies the claim (or not) and releases it.
 */
bool pol_mig_signal(struct pol_sess *ps, const struct migration_signal *sig, bool ok,
		    const char *value, uint64_t affected, bool *held)
{
	static atomic_bool warned;
	const struct cfg *c = ps->conf->cfg;
	enum migration_floor v;

	*held = false;
	if (migration_sess_claims(&ps->mig, c, sig, ok, value, affected)) {
		if (!guard_enabled() && ps->cmd.own_floor_set) {
			/* read on the session's own connection before it was sent */
			if (ps->cmd.own_floor != MIGRATION_FLOOR_YES) {
				pol_floor_refused(ps, sig,
						  ps->cmd.own_floor == MIGRATION_FLOOR_NO
						      ? pol_floor_word(MIGRATION_FLOOR_NO)
						      : "its grants could not be read");
				return false;
			}
		} else if (!guard_enabled()) {
			if (!atomic_exchange(&warned, true))
				fprintf(stderr,
					"ddlgate: no [guard] account: any account that takes a "
					"migration lock becomes a migration session, whether "
					"or not it may change the schema\n");
		} else if (migration_floor_cached(ps->hs->user, clk_mono_us() / 1000000, &v)) {
			if (v != MIGRATION_FLOOR_YES) {
				pol_floor_refused(ps, sig, pol_floor_word(v));
				return false;
			}
		} else if (pol_floor_start(ps, sig, ok, value, affected)) {
			*held = true;
			return false;
		} else {
			pol_floor_refused(ps, sig, "the grant check could not be started");
			return false;
		}
	}
	if (migration_sess_apply(&ps->mig, c, sig, ok, value, affected))
		return pol_mig_sync(ps);
	return false;
}

/*
 * The cluster lock ([migration] cluster_lock) is ddlgate's own: a client
 * that took it through ddlgate would look like a migration on another
 * instance and freeze every DDL. Refuses the command (ERR 1290) when a
 * statement of it takes that lock by its literal name; a name built at run
 * time is caught by the cluster thread, which checks who holds the lock
 * (cluster.c). Returns true when it answered reply and ended the command.
 */
bool pol_refuse_cluster_lock(struct pol_sess *ps, struct hook_reply *reply)
{
	const char *lock = ps->conf->cfg->migration.cluster_lock;
	struct pol_cmd *cmd = &ps->cmd;
	size_t hit = cmd->n;

	if (!lock || !*lock)
		return false;
	for (size_t i = 0; i < cmd->n && hit == cmd->n; i++) {
		const struct pol_stmt *p = &cmd->stmts[i];
		/* MySQL compares lock names ignoring case, MariaDB does not */
		if (p->has_sig && p->sig.kind == MIG_SIG_GET_LOCK &&
		    strcasecmp(p->sig.name, lock) == 0)
			hit = i;
	}
	if (hit == cmd->n)
		return false;
	struct pol_stmt *p = &cmd->stmts[hit];
	char msg[512];
	snprintf(msg, sizeof(msg),
		 "GET_LOCK('%s') takes the lock ddlgate instances hold on their own connections "
		 "to share the migration floor, and a client holding it would freeze every other "
		 "session's DDL. Take your migration tool's own lock instead ([migration] "
		 "lock_names)",
		 p->sig.name);
	reply->code = 1290;
	memcpy(reply->sqlstate, "HY000", 6);
	snprintf(reply->message, sizeof(reply->message), "ddlgate: blocked by %s: %s.",
		 POL_RULE_CLUSTER_LOCK, msg);
	if (p->npf < POL_MAX_POLICY_FINDINGS) {
		p->pf[p->npf].rule = POL_RULE_CLUSTER_LOCK;
		p->pf[p->npf].action = RULES_ACTION_BLOCK;
		p->pf[p->npf].message = arena_strndup(&ps->arena, msg, strlen(msg));
		p->npf++;
	}
	p->decision = AUDIT_BLOCK;
	metrics_rule_hit(POL_RULE_CLUSTER_LOCK);
	for (size_t i = 0; i < cmd->n; i++) {
		metrics_statement(cmd->stmts[i].st.kind, (int)cmd->stmts[i].decision);
		pol_submit(ps, &cmd->stmts[i], AUDIT_NOT_SENT, 0, 0, false);
	}
	pol_cmd_end(ps);
	return true;
}
