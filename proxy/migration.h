/*
 * Migration sessions: telling a migration runner's connection apart from
 * the application's, and the process-wide list of running migrations.
 *
 * Three parts, each testable alone, on top of migration_scan()
 * (rules/migration_signal.h), which reads the signal a statement carries:
 *  - struct migration_sess is one session's state machine: the signals and
 *    the server's answers move it in and out of "migration session".
 *  - who may take the floor (migration_floor_*): the grant check that a
 *    claim by lock name, lock row or directive must pass, and its cache.
 *  - the registry (migration_register() ...) is shared by every event-loop
 *    thread under a mutex: who migrates, since when, on which schema and
 *    tables, so other sessions' DDL can be judged a migration-conflict.
 */
#ifndef DDLGATE_PROXY_MIGRATION_H
#define DDLGATE_PROXY_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/cfg.h"
#include "rules/migration_signal.h"

/* One session's migration state. Zero-initialised = an app session. */
struct migration_sess {
	bool by_user;	   /* authenticated as a [migration] users member */
	bool by_lock;	   /* holds lock_name (GET_LOCK returned 1) */
	bool by_table;	   /* holds a lock-table row */
	bool by_directive; /* sent ddlgate:migration */
	bool by_history;   /* read or wrote a [migration] history_tables table */
	int64_t history_s; /* monotonic seconds of its last DDL or history access */
	char lock_name[MIGRATION_NAME_MAX];
	char name[MIGRATION_NAME_MAX]; /* what /status and the audit log call it */
	char tool[MIGRATION_TOOL_MAX];
	char login[MIGRATION_NAME_MAX]; /* the account, when by_user */
};

static inline bool migration_sess_active(const struct migration_sess *m)
{
	return m->by_user || m->by_lock || m->by_table || m->by_directive || m->by_history;
}

/* Whether m is a migration only because it used a history table: it then
 * ends after [migration] history_idle_s without DDL or history access. */
static inline bool migration_sess_history_only(const struct migration_sess *m)
{
	return m->by_history && !m->by_user && !m->by_lock && !m->by_table && !m->by_directive;
}

/*
 * Authentication (or COM_CHANGE_USER) as user from host (the client's
 * address without its port; NULL or "" when unknown); the state is reset
 * first. A [migration] users entry is NAME or NAME@HOST: the name matches
 * case-sensitively, as the server compares account names; the host part
 * as migration_host_match() says.
 */
void migration_sess_auth(struct migration_sess *m, const struct cfg *c, const char *user,
			 const char *host);

/*
 * Does the host part of a [migration] users entry match the client's
 * address? As the server reads a host part: '%' and '_' (and ddlgate's
 * '*' and '?') are wildcards, names compare ignoring case, an address with
 * a netmask (10.0.0.0/255.255.0.0) or a prefix length (10.0.0.0/16)
 * matches the addresses of that network, and "localhost" matches loopback
 * addresses and clients on a unix socket (host NULL or ""). ddlgate does
 * not resolve names: any other host name matches nothing.
 */
bool migration_host_match(const char *pattern, const char *host);

/*
 * Would the signal, with this answer, make the app session m a migration
 * session (a known lock taken, a lock row set, a directive)? Those are the
 * claims on the floor that only an account able to change the schema may
 * make (see migration_floor_*). False when m is a migration session
 * already: its claim was judged when it started.
 */
bool migration_sess_claims(const struct migration_sess *m, const struct cfg *c,
			   const struct migration_signal *sig, bool ok, const char *value,
			   uint64_t affected);

/*
 * The server answered a statement that carried signal sig. ok: not an ERR;
 * value: the first column of the first row as text (NULL when none or SQL
 * NULL); affected: affected rows. Directive signals need no answer: apply
 * them with ok = true. Returns true when the state changed.
 */
bool migration_sess_apply(struct migration_sess *m, const struct cfg *c,
			  const struct migration_signal *sig, bool ok, const char *value,
			  uint64_t affected);

/* COM_RESET_CONNECTION / disconnect: every lock is gone. */
void migration_sess_clear(struct migration_sess *m);

/* ---- who may take the floor ----
 *
 * GET_LOCK needs no privilege, so a lock name alone would let a read-only
 * account become "the migration" and have everyone else's DDL refused. A
 * claim counts only for an account that holds a DDL privilege (CREATE,
 * ALTER, DROP or INDEX, granted globally, on a database or on a table).
 * The guard account reads that from information_schema's USER_, SCHEMA_
 * and TABLE_PRIVILEGES, which show other accounts' grants only to an
 * account with SELECT on the mysql database. The answer is cached per
 * account name for a while (a grant check per claim would be a side query
 * per migration).
 */
enum migration_floor {
	MIGRATION_FLOOR_UNKNOWN, /* the grants could not be read: the claim is refused */
	MIGRATION_FLOOR_YES,	 /* the account can change the schema */
	MIGRATION_FLOOR_NO,	 /* it cannot: the claim is ignored */
};

#define MIGRATION_FLOOR_TTL_S 60     /* a known answer is reused this long */
#define MIGRATION_FLOOR_RETRY_S 5    /* an unknown one this long */
#define MIGRATION_FLOOR_SQL_MAX 2048 /* room for migration_floor_sql() */

/* The guard's query for user's grants into buf (n bytes): one row of four
 * counts that migration_floor_verdict() reads. False when it does not fit
 * or user is empty (anonymous accounts are never judged able). */
bool migration_floor_sql(const char *user, char *buf, size_t n) __attribute__((warn_unused_result));

/* Reads the query's row (vals[0..ncols), NULL = SQL NULL; vals NULL = no
 * row) into a verdict; why (may be NULL) says what it was based on. */
enum migration_floor migration_floor_verdict(const char *const *vals, unsigned ncols, char *why,
					     size_t whylen);

/* The cached verdict for user at time now_s (monotonic seconds), if it is
 * still fresh. */
bool migration_floor_cached(const char *user, int64_t now_s, enum migration_floor *out);
/* Remembers v for user as of now_s. */
void migration_floor_store(const char *user, enum migration_floor v, int64_t now_s);
/* Forgets every verdict (tests, reload). */
void migration_floor_reset(void);

/* ---- the process-wide registry ---- */

#define MIGRATION_PROC_MAX 64 /* a client process: "<_pid>" or "@<program>" */

/* A running migration as /status shows it. */
struct migration_info {
	uint64_t conn_id;
	char user[128];
	char host[64];		       /* client address without the port */
	char proc[MIGRATION_PROC_MAX]; /* the client process (migration_client_proc) */
	char tool[MIGRATION_TOOL_MAX];
	char name[MIGRATION_NAME_MAX];
	char schema[192];
	time_t since;
	size_t ntables;
};

/*
 * The process id of a client on this machine that sent no _pid (mysql2 and
 * the mysql driver of Node send none): client is the session's
 * "addr:port" (IPv6 "[addr]:port"); for a loopback address, the process
 * holding that TCP connection's client end is looked up in /proc (its
 * socket's inode in /proc/net/tcp{,6}, then /proc/<pid>/fd). Writes it in
 * decimal into out and returns true; false for another address, or when
 * ddlgate may not see the process (another user's without privilege,
 * another network namespace). Reads /proc: call once per session.
 */
bool migration_client_pid(const char *client, char *out, size_t cap);

/* Whether host (an address, no brackets) is this machine's loopback. */
bool migration_is_loopback(const char *host);

/* Whether process child descends from process ancestor (both decimal pids,
 * up to 16 generations, read from /proc); false for anything else. */
bool migration_descends(const char *child, const char *ancestor);

/*
 * The client process as the peer test compares it, from the connection
 * attributes of the client's handshake: its _pid when sent (decimal);
 * else "@" and its program (program_name or _client_name), as MariaDB
 * Connector/J names itself but sends no _pid; "" when it sent neither.
 * Written into out (cap bytes; MIGRATION_PROC_MAX holds every value,
 * longer program names are cut there).
 */
void migration_client_proc(const char *pid, const char *prog, char *out, size_t cap);

/*
 * Adds or updates conn_id's entry (tool, name, schema may change). user,
 * host (the client's address without its port) and proc (the client
 * process, migration_client_proc(); NULL or "" = unknown) identify the
 * migration's peers: tools such as Rails and pt-online-schema-change hold
 * the lock on one connection and send DDL on another of the same process.
 * Sessions of the same user and host are peers when they come from the
 * same process; from a client on this machine (loopback), also when one
 * process descends from the other (sqitch runs a mysql client per
 * script); and, as the only test left, when either side's process is
 * unknown. A client that names its program without a _pid is the same
 * process only as a client of the same program without one: a
 * Connector/J migration and a mariadb client of the same account are two
 * processes.
 */
void migration_register(uint64_t conn_id, const char *user, const char *host, const char *proc,
			const char *tool, const char *name, const char *schema);
/* conn_id's migration ends by itself at monotonic second deadline_s
 * unless renewed (0 = never): other sessions stop seeing it then, even
 * while the session sends nothing (history_idle_s). */
void migration_set_deadline(uint64_t conn_id, int64_t deadline_s);
/* Removes conn_id's entry if any; returns true if there was one. */
bool migration_unregister(uint64_t conn_id);
/* Records that conn_id's migration touched schema.table (scope = table). */
void migration_touch(uint64_t conn_id, const char *schema, const char *table);

/*
 * Would DDL from conn_id (logged in as user from host) on the given objects
 * conflict with a migration of another session? Migrations of the same
 * user and host are the caller's own (peers), never a conflict. scope as in
 * [migration] scope; objects are schema/table pairs (schema NULL = the
 * session's schema default_schema). On conflict fills who (e.g.
 * "connection 12 (prisma: prisma_migrate, user migrator)").
 */
struct migration_obj {
	const char *schema;
	const char *table;
};
bool migration_conflict(uint64_t conn_id, const char *user, const char *host, const char *proc,
			enum cfg_scope scope, const char *default_schema,
			const struct migration_obj *objs, size_t nobjs, char *who, size_t wholen);

/* The running migration conn_id is a peer of (same user and host, another
 * connection), if any: fills out and returns true. */
bool migration_peer(uint64_t conn_id, const char *user, const char *host, const char *proc,
		    struct migration_info *out);

/*
 * A migration's memory: what the server confirmed in it (tables created,
 * columns added, rows written), which the rules judge later statements
 * with. It belongs to the migration, not to one connection: the entries
 * of peers (migration_register) share one, and a peer that is no entry
 * itself uses the memory of the entry it is a peer of. It lives while one
 * entry (or a caller's reference) holds it.
 */
struct migration_memory;
struct rules_migration;

/* The memory of conn_id's entry with a reference for the caller, or NULL
 * when conn_id has none. */
struct migration_memory *migration_memory_get(uint64_t conn_id);
void migration_memory_put(struct migration_memory *mm);
/* Locks the memory against the other event-loop threads and returns it;
 * hold the lock for one short read or update. */
struct rules_migration *migration_memory_lock(struct migration_memory *mm);
void migration_memory_unlock(struct migration_memory *mm);

/* Number of running migrations on this instance (no lock: the hot path). */
size_t migration_count(void);
/* Copies up to max entries into out; returns how many there are in all. */
size_t migration_list(struct migration_info *out, size_t max);
/* Increments whenever a migration ends: waiters compare it to re-check. */
uint64_t migration_generation(void);
/* Total migrations seen since start (metrics). */
uint64_t migration_seen_total(void);
/* Empties the registry (tests). */
void migration_registry_reset(void);

#endif
