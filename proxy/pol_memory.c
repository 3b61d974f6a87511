/* Per-session migration membership and the migration memory the rules judge with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/cluster.h"
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
