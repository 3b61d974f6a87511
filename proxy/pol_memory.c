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
 * Whether ps takes part in a migration: its own (lock, login, directive)
 * or a peer's (another connection of the same account from the same
 * machine holds the migration's lock: Rails, pt-online-schema-change).
 * peer_out (may be NULL) receives the peer's entry.
 */
bool pol_in_migration(struct pol_sess *ps, struct migration_info *peer_out)
{
	char host[64];
	if (migration_sess_active(&ps->mig))
		return true;
	if (migration_count() == 0)
		return false;
	pol_client_host(ps->hs, host, sizeof(host));
	return migration_peer(ps->conn_id, ps->hs->user, host, peer_out);
}

/* ---- migration memory ----
 *
 * The memory learns a statement only once the server answered it OK
 * (pol_memory_commit from hook_result): a CREATE TABLE the server refused
 * must not make an existing table look new and empty. Every committed
 * statement is also logged so a copy can be rebuilt by replaying it: a
 * multi-statement command judges its later statements on such a copy
 * (cmd.scratch) that learns the earlier ones as they are allowed, and the
 * real memory still only learns from OK results.
 */

/* Frees the log's entries. */
static void pol_memlog_clear(struct pol_sess *ps)
{
	for (size_t i = 0; i < ps->nlog; i++) {
		free(ps->log[i].sql);
		free(ps->log[i].schema);
	}
	free(ps->log);
	ps->log = NULL;
	ps->nlog = ps->caplog = ps->logbytes = 0;
}

/* Forgets the memory and its log (a new migration, or an app command). */
void pol_memory_reset(struct pol_sess *ps)
{
	rules_migration_reset(ps->memory);
	pol_memlog_clear(ps);
	ps->log_lost = false;
}

/* An application session's next command: what it learnt may be stale by
 * now (other sessions write between its commands), except the old copy
 * its own online schema change swap renamed away, which the tool drops in
 * a later command. */
void pol_memory_next_command(struct pol_sess *ps)
{
	rules_migration_keep_swaps(ps->memory);
	pol_memlog_clear(ps);
	ps->log_lost = false;
}

/* A write whose rows cannot be attributed: tables may hold rows now. */
static void pol_memory_forget_data(struct rules_migration *m)
{
	struct stmt st;
	memset(&st, 0, sizeof(st));
	st.kind = STMT_DML;
	st.keyword = "INSERT";
	rules_migration_apply(m, &st, NULL);
}

/* Appends to the log (sql NULL = a write that forgets data). When the log
 * would grow too big it is dropped: copies then start empty, which only
 * makes later judgements more careful. */
static void pol_memory_log(struct pol_sess *ps, const char *sql, size_t len, const char *schema,
			   bool ansi)
{
	if (ps->log_lost)
		return;
	if (ps->nlog >= POL_MEMLOG_MAX || ps->logbytes + len > POL_MEMLOG_BYTES) {
		pol_memlog_clear(ps); /* the memory itself stays exact */
		ps->log_lost = true;
		return;
	}
	if (ps->nlog == ps->caplog) {
		ps->caplog = ps->caplog ? ps->caplog * 2 : 16;
		ps->log =
		    mem_realloc(ps->log, ps->caplog * sizeof(*ps->log), "migration memory log");
	}
	struct pol_memlog *e = &ps->log[ps->nlog++];
	e->sql = sql ? mem_strndup(sql, len, "migration memory log") : NULL;
	e->len = len;
	e->schema = schema ? mem_strdup(schema, "migration memory log") : NULL;
	e->ansi = ansi;
	ps->logbytes += len;
}

/* Rows were written in the migration: no table is known empty any more.
 * Logged once for a run of writes (a data migration may send many). */
void pol_memory_wrote(struct pol_sess *ps)
{
	pol_memory_forget_data(ps->memory);
	if (ps->nlog == 0 || ps->log[ps->nlog - 1].sql)
		pol_memory_log(ps, NULL, 0, NULL, false);
}

/* Statement p ran (the server answered OK): the memory learns it. */
void pol_memory_commit(struct pol_sess *ps, const struct pol_stmt *p)
{
	if (p->st.kind == STMT_DML) {
		const char *k = p->st.keyword ? p->st.keyword : "";
		if (strcasecmp(k, "SELECT") != 0 && strcasecmp(k, "DELETE") != 0)
			pol_memory_wrote(ps);
		return;
	}
	if (p->st.kind != STMT_DDL)
		return;
	rules_migration_apply(ps->memory, &p->st, p->schema);
	pol_memory_log(ps, p->sql, p->len, p->schema, p->ansi);
}

/* A copy of the memory, rebuilt from the log. Caller frees it. */
struct rules_migration *pol_memory_copy(struct pol_sess *ps)
{
	struct rules_migration *m = rules_migration_new();
	struct arena a;

	rules_migration_copy_swaps(m, ps->memory); /* kept across commands, not logged */
	if (ps->log_lost || ps->nlog == 0)
		return m;
	arena_init(&a, 4096);
	for (size_t i = 0; i < ps->nlog; i++) {
		const struct pol_memlog *e = &ps->log[i];
		if (!e->sql) {
			pol_memory_forget_data(m);
			continue;
		}
		struct stmt st;
		stmt_parse(&a, e->sql, e->len, ps->hs->lex_server | (e->ansi ? LEX_ANSI_QUOTES : 0),
			   &st);
		rules_migration_apply(m, &st, e->schema);
		arena_reset(&a);
	}
	arena_cleanup(&a);
	return m;
}

/* Brings the registry, the migration memory and the cluster lock in line
 * with ps->mig after it changed. Returns true when a migration started. */
bool pol_mig_sync(struct pol_sess *ps)
{
	bool active = migration_sess_active(&ps->mig);
	bool started = false;

	if (active) {
		if (!ps->registered) {
			pol_memory_reset(ps);
			metrics_migration_seen();
			started = true;
		}
		char host[64];
		pol_client_host(ps->hs, host, sizeof(host));
		migration_register(ps->conn_id, ps->hs->user, host, ps->mig.tool, ps->mig.name,
				   ps->hs->schema);
		ps->registered = true;
		cluster_set_local(true);
	} else if (ps->registered) {
		migration_unregister(ps->conn_id);
		ps->registered = false;
		pol_memory_reset(ps);
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
		if (!guard_enabled()) {
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
