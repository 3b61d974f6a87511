/* The policy behind the inspection hook: rules, windows, migrations, guards and audit. */
/*
 * Life of one COM_QUERY (or COM_STMT_PREPARE) through the policy:
 *
 *   hook_command ──fast path──> HOOK_FORWARD        (DML / OTHER / TCL without
 *        │                                            signal, directive or record)
 *        └─slow path: split, parse every statement, then judge them in order
 *             │   (pol_continue: window, migration-conflict, audit health,
 *             │    rules_evaluate with the fact cache)
 *             ├── facts missing ──> guard probes ──(sess_post)──> pol_continue
 *             ├── conflict = hold ─> wait; the ticker re-checks every 100 ms
 *             ├── any statement blocks ──> HOOK_REJECT (nothing is forwarded)
 *             └── all allowed ──> HOOK_FORWARD
 *   hook_result (per statement): migration signals, SET lock_wait_timeout,
 *        audit record with the outcome; a DDL's record must be durable
 *        before the client sees the answer (return false, release later).
 *
 * Threads: every hook_* call runs on the session's event-loop thread. The
 * guard workers, the audit writer and the hold ticker reach a session only
 * through sess_post() with the session's conn_id as argument; the posted
 * function looks the id up in the session table, so a session that ended
 * meanwhile is simply not found.
 */
#include "proxy/hook.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <event2/http.h>
#include <jansson.h>

#include "config/cfg.h"
#include "proxy/admin.h"
#include "proxy/audit.h"
#include "proxy/cluster.h"
#include "proxy/guard.h"
#include "proxy/metrics.h"
#include "proxy/migration.h"
#include "proxy/pkt.h"
#include "proxy/window.h"
#include "rules/arena.h"
#include "rules/classify.h"
#include "rules/engine.h"
#include "rules/lex.h"
#include "rules/parse.h"
#include "rules/probe_sql.h"
#include "rules/split.h"
#include "rules/stmt.h"

#define COM_INIT_DB 0x02
#define COM_QUERY 0x03
#define COM_STMT_PREPARE 0x16
#define COM_STMT_EXECUTE 0x17
#define COM_STMT_CLOSE 0x19

#define POL_RULE_AUDIT "audit-unavailable"
#define POL_DEFAULT_LOCK_WAIT 31536000L /* the server's default lock_wait_timeout */
#define POL_HOLD_TICK_MS 100
#define POL_MAX_POLICY_FINDINGS 3
#define POL_SESS_BUCKETS 1024

/* ---- configuration snapshots ---- */

/* What one configuration compiles to. Reference counted: a session keeps
 * the snapshot it judged with until it sees a newer one. */
struct pol_conf {
	atomic_int refs;
	struct cfg *cfg;	     /* owned */
	struct rules_engine *engine; /* owned */
	uint64_t gen;
};

static void pol_conf_unref(struct pol_conf *pc)
{
	if (!pc || atomic_fetch_sub(&pc->refs, 1) != 1)
		return;
	rules_engine_free(pc->engine);
	cfg_free(pc->cfg);
	free(pc);
}

/* ---- per-session state ---- */

/* One statement the server ran in this migration, kept to rebuild the
 * memory (the engine's memory cannot be copied). sql NULL: a write whose
 * rows we cannot attribute (the fast path). */
struct pol_memlog {
	char *sql; /* owned */
	size_t len;
	char *schema; /* owned; NULL = none */
	bool ansi;
};

/* A DDL the client prepared (COM_STMT_PREPARE) and the server accepted:
 * judged again each time it is executed. */
struct pol_prep {
	uint32_t id; /* the server's statement id */
	char *sql;   /* owned */
	size_t len;
	char *schema; /* owned; the current schema at prepare time; NULL = none */
	bool ansi;
};

#define POL_MEMLOG_MAX 20000
#define POL_MEMLOG_BYTES (16u << 20)

/* One statement of the current command. */
struct pol_stmt {
	const char *sql; /* in the session's arena */
	size_t len;
	const char *schema; /* current schema when it runs (a USE earlier in the
			       command changes it); NULL = none; arena or hs */
	struct stmt st;
	bool ddl; /* judged as DDL (window, conflict, rules) */
	bool is_write;
	bool record; /* goes into the audit log */
	bool has_sig;
	struct migration_signal sig;
	long set_lock_wait; /* -2: not a SET of it; -1: DEFAULT; else seconds */
	int set_ansi;	    /* SET sql_mode: -1 no change, 0 "..." is a string, 1 an identifier */
	long lock_wait;	    /* the session's lock_wait_timeout when it runs */
	bool ansi;	    /* parsed with ANSI_QUOTES */

	bool evaluated;
	bool probed; /* facts already fetched once */
	struct rules_verdict v;
	enum audit_decision decision;
	struct {
		const char *rule;
		enum rules_action action;
		char *message;	       /* arena */
	} pf[POL_MAX_POLICY_FINDINGS]; /* the policy's own findings */
	size_t npf;
	int64_t held_us; /* how long it waited for a migration (conflict = hold) */
	char *held_who;	 /* arena: the migration it waited for */
	bool done;	 /* its result was attributed */
};

struct pol_cmd {
	struct pol_stmt *stmts; /* arena array */
	size_t n;
	size_t next_eval;
	uint8_t com;
	int64_t start_us;   /* wall clock, for the record */
	int64_t start_mono; /* monotonic, for durations */
	bool active;	    /* a command is being judged or answered */
	bool waiting;	    /* HOOK_WAIT returned, resume pending */
	bool holding;
	int64_t hold_deadline;
	int64_t hold_started;
	bool blocked;			 /* some statement blocks: evaluate the rest offline */
	bool cluster_checked;		 /* the cluster lock was polled for this command */
	struct rules_fact_cache *facts;	 /* owned */
	struct rules_migration *scratch; /* owned: multi-statement commands judge
					    on a copy of the memory (below) */
	struct guard_job *job;		 /* reference owned */
	size_t job_stmt;
	bool forwarded;
};

struct pol_sess {
	uint64_t conn_id;
	struct sess *s;	       /* borrowed: the relay's session */
	struct hook_sess *hs;  /* borrowed */
	struct pol_conf *conf; /* reference */
	struct migration_sess mig;
	bool registered;		/* in the migration registry */
	struct rules_migration *memory; /* owned: what the server confirmed */
	struct pol_memlog *log;		/* owned: how memory came about, for copies */
	size_t nlog, caplog, logbytes;
	bool log_lost;	       /* the log overflowed: copies start empty (conservative) */
	struct pol_prep *prep; /* owned: prepared DDL by statement id */
	size_t nprep, capprep;
	long lock_wait;	  /* session lock_wait_timeout, seconds */
	bool ansi_quotes; /* sql_mode makes "..." an identifier */
	struct arena arena;
	struct pol_cmd cmd;
	unsigned durable_wait;	/* answers held back until their record is durable */
	struct pol_sess *next;	/* session table chain */
	struct pol_sess *wnext; /* hold waiters list */
	bool in_waiters;
};

/* ---- process-wide state ---- */

static struct {
	pthread_mutex_t lock; /* conf, sessions, waiters */
	struct pol_conf *conf;
	atomic_uint_fast64_t conf_gen;
	struct audit *audit;
	atomic_bool audit_suspect; /* the start-up check could not write the log */
	bool started;
	struct pol_sess *buckets[POL_SESS_BUCKETS];
	struct pol_sess *waiters;
	pthread_t ticker;
	bool ticker_running, stopping;
	pthread_cond_t cond;
} pol = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int64_t pol_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t pol_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Builds a snapshot from cfg (deep copy by reloading its file when it has
 * one, so the relay may free its struct). NULL with err on failure. */
static struct pol_conf *pol_conf_new(const struct cfg *cfg, char *err, size_t errlen)
{
	struct pol_conf *pc = calloc(1, sizeof(*pc));
	if (!pc)
		abort();
	atomic_init(&pc->refs, 1);
	if (cfg && cfg->path)
		pc->cfg = cfg_load(cfg->path, err, errlen);
	else
		pc->cfg = cfg_defaults();
	if (!pc->cfg) {
		free(pc);
		return NULL;
	}
	pc->engine = rules_engine_new(pc->cfg->rules, pc->cfg->nrules, err, errlen);
	if (!pc->engine) {
		cfg_free(pc->cfg);
		free(pc);
		return NULL;
	}
	return pc;
}

/* The current snapshot with a reference for the caller. Lazily builds a
 * default one when the relay never called hook_init(). */
static struct pol_conf *pol_conf_get(void)
{
	pthread_mutex_lock(&pol.lock);
	if (!pol.conf) {
		char err[256];
		pol.conf = pol_conf_new(NULL, err, sizeof(err));
		if (!pol.conf)
			abort();
		pol.conf->gen = atomic_fetch_add(&pol.conf_gen, 1) + 1;
	}
	struct pol_conf *pc = pol.conf;
	atomic_fetch_add(&pc->refs, 1);
	pthread_mutex_unlock(&pol.lock);
	return pc;
}

/* Swaps ps->conf for the newest snapshot when a reload happened: one
 * atomic load on the hot path. */
static void pol_conf_refresh(struct pol_sess *ps)
{
	if (ps->conf && ps->conf->gen == atomic_load(&pol.conf_gen))
		return;
	struct pol_conf *pc = pol_conf_get();
	pol_conf_unref(ps->conf);
	ps->conf = pc;
}

/* ---- session table ---- */

static void pol_table_add(struct pol_sess *ps)
{
	size_t b = ps->conn_id % POL_SESS_BUCKETS;
	pthread_mutex_lock(&pol.lock);
	ps->next = pol.buckets[b];
	pol.buckets[b] = ps;
	pthread_mutex_unlock(&pol.lock);
}

static void pol_table_del(struct pol_sess *ps)
{
	size_t b = ps->conn_id % POL_SESS_BUCKETS;
	pthread_mutex_lock(&pol.lock);
	for (struct pol_sess **pp = &pol.buckets[b]; *pp; pp = &(*pp)->next) {
		if (*pp == ps) {
			*pp = ps->next;
			break;
		}
	}
	if (ps->in_waiters) {
		for (struct pol_sess **pp = &pol.waiters; *pp; pp = &(*pp)->wnext) {
			if (*pp == ps) {
				*pp = ps->wnext;
				break;
			}
		}
		ps->in_waiters = false;
	}
	pthread_mutex_unlock(&pol.lock);
}

/* Caller holds pol.lock. */
static struct pol_sess *pol_table_find_locked(uint64_t conn_id)
{
	for (struct pol_sess *p = pol.buckets[conn_id % POL_SESS_BUCKETS]; p; p = p->next)
		if (p->conn_id == conn_id)
			return p;
	return NULL;
}

/* On the session's own thread: the session is either alive in the table
 * or gone; it cannot disappear during the call. */
static struct pol_sess *pol_lookup(struct sess *s, void *arg)
{
	pthread_mutex_lock(&pol.lock);
	struct pol_sess *ps = pol_table_find_locked((uint64_t)(uintptr_t)arg);
	pthread_mutex_unlock(&pol.lock);
	return (ps && ps->s == s) ? ps : NULL;
}

/* Posts fn to conn_id's session if it still exists. */
static void pol_post(uint64_t conn_id, void (*fn)(struct sess *s, void *arg))
{
	pthread_mutex_lock(&pol.lock);
	struct pol_sess *ps = pol_table_find_locked(conn_id);
	if (ps)
		sess_post(ps->s, fn, (void *)(uintptr_t)conn_id);
	pthread_mutex_unlock(&pol.lock);
}

/* ---- migration state ---- */

/* The client's address without its port ("10.1.2.3", "[::1]"). */
static void pol_client_host(const struct hook_sess *hs, char *buf, size_t n)
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
static bool pol_in_migration(struct pol_sess *ps, struct migration_info *peer_out)
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
static void pol_memory_reset(struct pol_sess *ps)
{
	rules_migration_reset(ps->memory);
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
		ps->log = realloc(ps->log, ps->caplog * sizeof(*ps->log));
		if (!ps->log)
			abort();
	}
	struct pol_memlog *e = &ps->log[ps->nlog++];
	e->sql = sql ? strndup(sql, len) : NULL;
	e->len = len;
	e->schema = schema ? strdup(schema) : NULL;
	e->ansi = ansi;
	if ((sql && !e->sql) || (schema && !e->schema))
		abort();
	ps->logbytes += len;
}

/* Rows were written in the migration: no table is known empty any more.
 * Logged once for a run of writes (a data migration may send many). */
static void pol_memory_wrote(struct pol_sess *ps)
{
	pol_memory_forget_data(ps->memory);
	if (ps->nlog == 0 || ps->log[ps->nlog - 1].sql)
		pol_memory_log(ps, NULL, 0, NULL, false);
}

/* Statement p ran (the server answered OK): the memory learns it. */
static void pol_memory_commit(struct pol_sess *ps, const struct pol_stmt *p)
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
static struct rules_migration *pol_memory_copy(struct pol_sess *ps)
{
	struct rules_migration *m = rules_migration_new();
	struct arena a;

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
		stmt_parse(&a, e->sql, e->len, e->ansi ? LEX_ANSI_QUOTES : 0, &st);
		rules_migration_apply(m, &st, e->schema);
		arena_reset(&a);
	}
	arena_cleanup(&a);
	return m;
}

/* Brings the registry, the migration memory and the cluster lock in line
 * with ps->mig after it changed. Returns true when a migration started. */
static bool pol_mig_sync(struct pol_sess *ps)
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

/* ---- statement helpers ---- */

static bool pol_kw(const char *kw, size_t n, const char *want)
{
	return kw && n == strlen(want) && strncasecmp(kw, want, n) == 0;
}

static bool pol_is_write_kw(const char *kw, size_t n)
{
	return pol_kw(kw, n, "INSERT") || pol_kw(kw, n, "UPDATE") || pol_kw(kw, n, "DELETE") ||
	       pol_kw(kw, n, "REPLACE") || pol_kw(kw, n, "LOAD") || pol_kw(kw, n, "CALL") ||
	       pol_kw(kw, n, "MERGE");
}

/*
 * Reads "SET [SESSION|LOCAL] lock_wait_timeout = N" (also @@session.,
 * @@local., @@ forms and lists of assignments). Returns -2 when the
 * statement does not set the session value, -1 for DEFAULT, else N.
 */
static long pol_scan_lock_wait(const char *sql, size_t len)
{
	struct lexer lx;
	struct lex_token t;
	bool global = false;
	long found = -2;

	if (!lex_contains_ci(sql, len, "lock_wait_timeout"))
		return -2;
	lex_init(&lx, sql, len, 0);
	if (!lex_next(&lx, &t) || !lex_is_word(&t, "SET"))
		return -2;
	while (lex_next(&lx, &t)) {
		if (lex_is_word(&t, "GLOBAL") || lex_is_word(&t, "PERSIST") ||
		    lex_is_word(&t, "PERSIST_ONLY")) {
			global = true;
			continue;
		}
		if (lex_is_word(&t, "SESSION") || lex_is_word(&t, "LOCAL")) {
			global = false;
			continue;
		}
		if (lex_is_op(&t, ",")) {
			global = false;
			continue;
		}
		bool target = false;
		if (t.type == LEX_WORD && t.n == 17 &&
		    strncasecmp(t.p, "lock_wait_timeout", 17) == 0)
			target = !global;
		else if (t.type == LEX_VARIABLE && t.n >= 17 &&
			 strncasecmp(t.p + t.n - 17, "lock_wait_timeout", 17) == 0 &&
			 !lex_contains_ci(t.p, t.n, "global."))
			target = true;
		if (!target)
			continue;
		if (!lex_next(&lx, &t) || !(lex_is_op(&t, "=") || lex_is_op(&t, ":=")))
			return found;
		if (!lex_next(&lx, &t))
			return found;
		if (lex_is_word(&t, "DEFAULT"))
			found = -1;
		else if (t.type == LEX_NUMBER) {
			long v = 0;
			for (size_t i = 0; i < t.n && t.p[i] >= '0' && t.p[i] <= '9'; i++)
				v = v < 100000000L ? v * 10 + (t.p[i] - '0') : v;
			found = v;
		}
	}
	return found;
}

/* Whether one sql_mode list turns on ANSI_QUOTES (directly or through a
 * combination mode that includes it). */
static bool pol_mode_has_ansi_quotes(const char *p, size_t n)
{
	static const char *const modes[] = {"ANSI",   "ANSI_QUOTES", "DB2",  "MSSQL",
					    "ORACLE", "POSTGRESQL",  "MAXDB"};
	size_t i = 0;
	while (i < n) {
		while (i < n && (p[i] == ',' || p[i] == ' '))
			i++;
		size_t start = i;
		while (i < n && p[i] != ',')
			i++;
		size_t len = i - start;
		while (len && p[start + len - 1] == ' ')
			len--;
		for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
			if (len == strlen(modes[k]) && strncasecmp(p + start, modes[k], len) == 0)
				return true;
	}
	return false;
}

/*
 * Reads "SET [SESSION] sql_mode = '...'" (and @@sql_mode, @@session.
 * forms). Returns -1 when the statement does not set the session's
 * sql_mode to something known, 1 when the new mode has ANSI_QUOTES, 0
 * when it has not. An expression (CONCAT(@@sql_mode, ...)) keeps the
 * current mode unless it names ANSI_QUOTES.
 */
static int pol_scan_sql_mode(const char *sql, size_t len)
{
	struct lexer lx;
	struct lex_token t;
	bool global = false;
	int found = -1;

	if (!lex_contains_ci(sql, len, "sql_mode"))
		return -1;
	lex_init(&lx, sql, len, 0);
	if (!lex_next(&lx, &t) || !lex_is_word(&t, "SET"))
		return -1;
	while (lex_next(&lx, &t)) {
		if (lex_is_word(&t, "GLOBAL") || lex_is_word(&t, "PERSIST")) {
			global = true;
			continue;
		}
		if (lex_is_word(&t, "SESSION") || lex_is_word(&t, "LOCAL") || lex_is_op(&t, ",")) {
			global = false;
			continue;
		}
		bool target = false;
		if (t.type == LEX_WORD && t.n == 8 && strncasecmp(t.p, "sql_mode", 8) == 0)
			target = !global;
		else if (t.type == LEX_VARIABLE && t.n >= 10 && t.p[1] == '@' &&
			 strncasecmp(t.p + t.n - 8, "sql_mode", 8) == 0 &&
			 !lex_contains_ci(t.p, t.n, "global."))
			target = true;
		if (!target)
			continue;
		if (!lex_next(&lx, &t) || !(lex_is_op(&t, "=") || lex_is_op(&t, ":=")))
			return found;
		if (!lex_next(&lx, &t))
			return found;
		if (lex_is_word(&t, "DEFAULT")) {
			found = 0;
		} else if (t.type == LEX_STRING) {
			const char *q = memchr(t.p, '\'', t.n);
			if (!q)
				q = memchr(t.p, '"', t.n);
			found =
			    q ? pol_mode_has_ansi_quotes(q + 1, (size_t)(t.p + t.n - q - 2)) : -1;
		} else {
			/* an expression: only an explicit ANSI_QUOTES is known to turn it on */
			size_t start = (size_t)(t.p - sql);
			if (lex_contains_ci(sql + start, len - start, "ANSI"))
				found = 1;
		}
	}
	return found;
}

/* DDL for the policy: PREPARE of something that is not DDL is not. */
static bool pol_judged_ddl(const struct stmt *st)
{
	if (st->kind != STMT_DDL)
		return false;
	if (st->verb == DDL_PREPARE && !st->unparsed && !st->prepare_from_variable &&
	    st->ninner == 0)
		return false;
	return true;
}

/* The objects a DDL touches, as schema/table pairs (inner statements too). */
static size_t pol_objects(const struct stmt *st, struct migration_obj *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < st->nobjects && n < max; i++)
		out[n++] = (struct migration_obj){st->objects[i].schema, st->objects[i].name};
	for (size_t k = 0; k < st->ninner; k++)
		n += pol_objects(&st->inner[k], out + n, max - n);
	if (st->verb == DDL_CREATE_DATABASE || st->verb == DDL_DROP_DATABASE ||
	    st->verb == DDL_ALTER_DATABASE) {
		/* objects name the schema itself */
		for (size_t i = 0; i < n; i++)
			if (!out[i].schema)
				out[i] = (struct migration_obj){out[i].table, NULL};
	}
	return n;
}

/* ---- the audit record of one statement ---- */

static enum audit_decision pol_audit_decision(enum rules_decision d)
{
	return d == RULES_BLOCK ? AUDIT_BLOCK : d == RULES_WARN ? AUDIT_WARN : AUDIT_ALLOW;
}

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
	for (size_t i = 0; i < p->st.nobjects; i++) {
		const struct stmt_name *o = &p->st.objects[i];
		audit_rec_object(r, o->schema ? o->schema : p->schema, o->name);
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
static void pol_durable_fn(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_lookup(s, arg);
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
	pol_post((uint64_t)(uintptr_t)arg, pol_durable_fn);
}

/* Submits p's record with outcome o; wait = the caller will hold the
 * answer until it is durable. Returns true when a durability callback will
 * come (and release the answer). */
static bool pol_submit(struct pol_sess *ps, struct pol_stmt *p, enum audit_outcome o, uint16_t code,
		       uint64_t affected, bool wait)
{
	if (!pol.audit || !p->record) {
		p->record = false;
		return false;
	}
	struct audit_rec *r = pol_record(ps, p);
	audit_rec_outcome(r, o, code, affected);
	audit_rec_timing(r, ps->cmd.start_us, (uint64_t)(pol_mono_us() - ps->cmd.start_mono));
	p->record = false;
	if (wait) {
		ps->durable_wait++;
		(void)audit_submit(pol.audit, r, pol_durable_cb, (void *)(uintptr_t)ps->conn_id);
		return true;
	}
	(void)audit_submit(pol.audit, r, NULL, NULL);
	return false;
}

/*
 * Can the audit path take a write right now? The writer only learns of a
 * broken log from a failed record, which would let the first DDL through
 * unrecorded; so the policy checks up front: a zero-length write (fails on
 * /dev/full and on read-only or vanished targets) and, for a regular file,
 * some free space. Never writes a byte.
 */
static bool pol_audit_preflight(const char *path)
{
	struct stat st;
	struct statvfs vfs;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK);
	bool ok = fd >= 0 && write(fd, "", 0) == 0;

	if (ok && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fstatvfs(fd, &vfs) == 0)
		ok = (uint64_t)vfs.f_bavail * vfs.f_frsize >= 65536;
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
	if (!c->audit.path || !pol_audit_preflight(c->audit.path))
		return false;
	atomic_store(&pol.audit_suspect, false);
	return true;
}

/* ---- judging ---- */

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

static void pol_add_pf(struct pol_sess *ps, struct pol_stmt *p, const char *rule,
		       enum rules_action action, char *message)
{
	if (p->npf < POL_MAX_POLICY_FINDINGS)
		p->pf[p->npf++] = (typeof(p->pf[0])){rule, action, message};
	metrics_rule_hit(rule);
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

enum pol_step { POL_DONE, POL_WAIT_PROBES, POL_WAIT_HOLD, POL_WAIT_CLUSTER };

/*
 * The policy's own checks for DDL statement p, before the rule engine:
 * audit health, maintenance window, migration conflict. Returns true when
 * the statement must be held (conflict = hold, deadline not reached).
 */
static bool pol_policy_checks(struct pol_sess *ps, struct pol_stmt *p, bool may_hold)
{
	const struct cfg *c = ps->conf->cfg;
	const char *schema, *table;
	char who[512];

	p->npf = 0;
	pol_scope_of(ps, p, &schema, &table);

	if (pol.audit && c->audit.on_failure == CFG_ON_FAILURE_BLOCK && !pol_audit_ok(c)) {
		pol_add_pf(ps, p, POL_RULE_AUDIT, RULES_ACTION_BLOCK,
			   pol_fmt(ps,
				   "the audit log cannot be written (%s), and DDL is only "
				   "allowed when it is recorded. Fix the audit log's disk or "
				   "path; DDL resumes once a record can be written",
				   c->audit.path));
	}

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

	struct migration_obj objs[32];
	size_t nobjs = pol_objects(&p->st, objs, 32);
	char host[64];
	pol_client_host(ps->hs, host, sizeof(host));
	bool conflict = migration_conflict(ps->conn_id, ps->hs->user, host, c->migration.scope,
					   p->schema, objs, nobjs, who, sizeof(who));
	if (!conflict)
		conflict = cluster_remote_migration(who, sizeof(who));
	if (conflict) {
		enum rules_action a = rules_engine_action(
		    ps->conf->engine, RULES_ID_MIGRATION_CONFLICT, ps->hs->user, schema, table);
		if (a == RULES_ACTION_BLOCK && c->migration.conflict == CFG_CONFLICT_HOLD &&
		    p->npf == 0 && may_hold) {
			int64_t now = pol_mono_us();
			if (!ps->cmd.holding) {
				ps->cmd.holding = true;
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

static void pol_probes_done(struct sess *s, void *arg);
static void pol_cluster_checked(struct sess *s, void *arg);

/*
 * Starts live probes for the pending facts of statement i. Returns false
 * when probes cannot run (no [guard] account, nothing probeable): the
 * caller keeps the verdict it has (unknown facts stay unguarded).
 */
static bool pol_start_probes(struct pol_sess *ps, size_t i)
{
	struct rules_fact_cache *fc = ps->cmd.facts;
	size_t n = rules_fact_cache_npending(fc);
	const struct cfg *c = ps->conf->cfg;

	if (n == 0 || !guard_enabled())
		return false;
	struct guard_job *j = guard_job_new(n);
	for (size_t k = 0; k < n; k++) {
		char sql[8192];
		if (probe_sql_build(rules_fact_cache_pending(fc, k), c->guard.probe_timeout_ms, sql,
				    sizeof(sql)))
			guard_job_set(j, k, sql);
		/* unset: the worker runs a placeholder and the answer stays failed */
	}
	ps->cmd.job = j;
	ps->cmd.job_stmt = i;
	if (!guard_submit(j, ps->s, pol_probes_done, (void *)(uintptr_t)ps->conn_id)) {
		guard_job_release(j);
		ps->cmd.job = NULL;
		return false;
	}
	return true;
}

/* Stores the probe results in the fact cache. */
static void pol_take_probes(struct pol_sess *ps)
{
	struct rules_fact_cache *fc = ps->cmd.facts;
	struct guard_job *j = ps->cmd.job;
	size_t n = rules_fact_cache_npending(fc);

	if (n > guard_job_count(j))
		n = guard_job_count(j);
	/* collect the questions first: answering one renumbers the rest */
	struct rules_fact_answer *ans = calloc(n ? n : 1, sizeof(*ans));
	const struct rules_fact_query **qs = calloc(n ? n : 1, sizeof(*qs));
	if (!ans || !qs)
		abort();
	for (size_t k = 0; k < n; k++)
		qs[k] = rules_fact_cache_pending(fc, k);
	for (size_t k = 0; k < n; k++) {
		const struct guard_result *r = guard_job_result(j, k);
		metrics_probe(r->us);
		if (r->ok) {
			probe_sql_answer(qs[k], r->has_row ? (const char *const *)r->vals : NULL,
					 r->lens, r->ncols, &ans[k]);
		} else if (r->code == 1146 || r->code == 1049) {
			/* no such table (or schema): it holds no data, so no rows, no
			 * duplicates, no NULLs, no orphans; the DDL itself meets the
			 * server's own error if it needs the table */
			ans[k].status = RULES_FACT_OK;
			ans[k].value = RULES_NO;
			snprintf(ans[k].detail, sizeof(ans[k].detail),
				 "probe: the table does not exist");
		} else {
			ans[k].status = RULES_FACT_FAILED;
			ans[k].value = RULES_UNKNOWN;
			snprintf(ans[k].detail, sizeof(ans[k].detail), "%s", r->error);
		}
	}
	for (size_t k = 0; k < n; k++)
		rules_fact_cache_answer(fc, qs[k], &ans[k]);
	free(qs);
	free(ans);
	guard_job_release(j);
	ps->cmd.job = NULL;
}

/* Runs the rule engine on statement p. */
static void pol_engine(struct pol_sess *ps, struct pol_stmt *p, bool with_facts)
{
	const struct cfg *c = ps->conf->cfg;
	struct rules_facts prov;
	struct rules_ctx ctx = {
	    .user = ps->hs->user[0] ? ps->hs->user : NULL,
	    .schema = p->schema,
	    .migration = pol_in_migration(ps, NULL),
	    .lock_wait_timeout = p->lock_wait,
	    .max_lock_wait_s = c->guard.max_lock_wait_s,
	    .large_table_bytes = c->guard.large_table_bytes,
	    .facts = NULL,
	    .mig = ps->cmd.scratch ? ps->cmd.scratch : ps->memory,
	    .no_memory_update = true, /* learnt from the server's OK (pol_memory_commit) */
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
		rules_migration_apply(ps->cmd.scratch, &p->st, p->schema);
}

/*
 * Judges statements from cmd.next_eval on. Returns POL_DONE when every
 * statement has a decision, or the wait it started.
 */
static enum pol_step pol_continue(struct pol_sess *ps)
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
			/* judge the first DDL on the server's lock state of now, not of
			 * the last poll: another ddlgate's migration may have just begun */
			if (!cmd->cluster_checked && !cmd->blocked) {
				cmd->cluster_checked = true;
				if (cluster_fresh_check(ps->s, pol_cluster_checked,
							(void *)(uintptr_t)ps->conn_id))
					return POL_WAIT_CLUSTER;
			}
			if (pol_policy_checks(ps, p, !cmd->blocked))
				return POL_WAIT_HOLD;
			if (cmd->holding && p->held_who && p->held_us == 0) {
				p->held_us = pol_mono_us() - cmd->hold_started;
				if (p->held_us <= 0)
					p->held_us = 1;
			}
			bool policy_blocks = false;
			for (size_t i = 0; i < p->npf; i++)
				policy_blocks |= p->pf[i].action == RULES_ACTION_BLOCK;
			if (cmd->blocked || policy_blocks) {
				/* nothing will run: record what the rules say, without probes */
				pol_engine(ps, p, false);
				pol_decide(ps, p);
				pol_scratch_learn(ps, p);
				continue;
			}
			pol_engine(ps, p, true);
			if (p->v.pending && pol_start_probes(ps, cmd->next_eval)) {
				p->probed = true;
				return POL_WAIT_PROBES;
			}
		} else {
			/* the probes answered: evaluate again with every fact known */
			pol_engine(ps, p, true);
		}
		pol_decide(ps, p);
		pol_scratch_learn(ps, p);
	}
	return POL_DONE;
}

/* The reply for a blocked command: the first blocking statement's message. */
static void pol_block_reply(struct pol_sess *ps, struct hook_reply *reply)
{
	reply->code = 1290;
	memcpy(reply->sqlstate, "HY000", 6);
	snprintf(reply->message, sizeof(reply->message), "ddlgate: blocked");
	for (size_t i = 0; i < ps->cmd.n; i++) {
		struct pol_stmt *p = &ps->cmd.stmts[i];
		if (p->decision != AUDIT_BLOCK)
			continue;
		for (size_t k = 0; k < p->npf; k++) {
			if (p->pf[k].action == RULES_ACTION_BLOCK) {
				snprintf(reply->message, sizeof(reply->message),
					 "ddlgate: blocked by %s: %s.", p->pf[k].rule,
					 p->pf[k].message);
				return;
			}
		}
		if (p->evaluated &&
		    rules_format_error(&p->v, reply->message, sizeof(reply->message)))
			return;
	}
}

static void pol_cmd_end(struct pol_sess *ps)
{
	if (ps->cmd.facts)
		rules_fact_cache_free(ps->cmd.facts);
	if (ps->cmd.job)
		guard_job_release(ps->cmd.job);
	rules_migration_free(ps->cmd.scratch);
	memset(&ps->cmd, 0, sizeof(ps->cmd));
}

/* Counts, records and answers a command whose judging is over. */
static enum hook_verdict pol_finish(struct pol_sess *ps, struct hook_reply *reply)
{
	struct pol_cmd *cmd = &ps->cmd;

	for (size_t i = 0; i < cmd->n; i++)
		metrics_statement(cmd->stmts[i].st.kind, (int)cmd->stmts[i].decision);
	if (!cmd->blocked) {
		cmd->forwarded = true;
		for (size_t i = 0; i < cmd->n; i++)
			if (cmd->stmts[i].has_sig &&
			    (cmd->stmts[i].sig.kind == MIG_SIG_GET_LOCK ||
			     cmd->stmts[i].sig.kind == MIG_SIG_RELEASE_LOCK))
				ps->hs->want_first_value = true;
		return HOOK_FORWARD;
	}
	pol_block_reply(ps, reply);
	for (size_t i = 0; i < cmd->n; i++)
		pol_submit(ps, &cmd->stmts[i], AUDIT_NOT_SENT, 0, 0, false);
	pol_cmd_end(ps);
	return HOOK_REJECT;
}

/* ---- waits: probes and holds ---- */

static void pol_hold_add(struct pol_sess *ps)
{
	pthread_mutex_lock(&pol.lock);
	if (!ps->in_waiters) {
		ps->wnext = pol.waiters;
		pol.waiters = ps;
		ps->in_waiters = true;
	}
	pthread_mutex_unlock(&pol.lock);
}

static void pol_hold_del(struct pol_sess *ps)
{
	pthread_mutex_lock(&pol.lock);
	if (ps->in_waiters) {
		for (struct pol_sess **pp = &pol.waiters; *pp; pp = &(*pp)->wnext) {
			if (*pp == ps) {
				*pp = ps->wnext;
				break;
			}
		}
		ps->in_waiters = false;
	}
	pthread_mutex_unlock(&pol.lock);
}

/* After a wait: continue judging and resume the relay when decided. */
static void pol_resume(struct pol_sess *ps)
{
	struct hook_reply reply = {0};
	enum pol_step step = pol_continue(ps);

	if (step == POL_WAIT_HOLD) {
		pol_hold_add(ps);
		return;
	}
	pol_hold_del(ps);
	if (step != POL_DONE)
		return; /* probes or a cluster poll: their post resumes */
	ps->cmd.waiting = false;
	enum hook_verdict v = pol_finish(ps, &reply);
	sess_hook_resume(ps->s, v, v == HOOK_REJECT ? &reply : NULL);
}

static void pol_probes_done(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_lookup(s, arg);
	if (!ps || !ps->cmd.waiting || !ps->cmd.job)
		return;
	pol_take_probes(ps);
	pol_resume(ps);
}

static void pol_cluster_checked(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_lookup(s, arg);
	if (!ps || !ps->cmd.waiting || ps->cmd.job || ps->cmd.holding)
		return;
	pol_resume(ps);
}

static void pol_hold_tick(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_lookup(s, arg);
	if (!ps || !ps->cmd.waiting || !ps->cmd.holding || ps->cmd.job)
		return;
	pol_resume(ps);
}

/* Wakes every holding session a few times a second to re-check. */
static void *pol_ticker(void *unused)
{
	pthread_mutex_lock(&pol.lock);
	while (!pol.stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += POL_HOLD_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&pol.cond, &pol.lock, &ts);
		for (struct pol_sess *p = pol.waiters; p; p = p->wnext)
			sess_post(p->s, pol_hold_tick, (void *)(uintptr_t)p->conn_id);
	}
	pthread_mutex_unlock(&pol.lock);
	return NULL;
}

static void pol_ticker_ensure(void)
{
	pthread_mutex_lock(&pol.lock);
	if (!pol.ticker_running && !pol.stopping) {
		if (pthread_create(&pol.ticker, NULL, pol_ticker, NULL) == 0)
			pol.ticker_running = true;
	}
	pthread_mutex_unlock(&pol.lock);
}

/* ---- prepared DDL ---- */

static struct pol_prep *pol_prep_find(struct pol_sess *ps, uint32_t id)
{
	for (size_t i = 0; i < ps->nprep; i++)
		if (ps->prep[i].id == id)
			return &ps->prep[i];
	return NULL;
}

static void pol_prep_del(struct pol_sess *ps, struct pol_prep *pp)
{
	free(pp->sql);
	free(pp->schema);
	*pp = ps->prep[--ps->nprep];
}

/* Forgets every prepared statement (the server dropped them). */
static void pol_prep_clear(struct pol_sess *ps)
{
	while (ps->nprep)
		pol_prep_del(ps, &ps->prep[0]);
	free(ps->prep);
	ps->prep = NULL;
	ps->capprep = 0;
}

/*
 * Called by the relay when the server answered a COM_STMT_PREPARE with
 * PREPARE_OK, before hook_result() for that answer: stmt_id is the
 * statement id of the PREPARE_OK packet. When the prepared statement is a
 * DDL, the policy keeps its text and judges it again (window,
 * migration-conflict, rules, audit) at every COM_STMT_EXECUTE of that id,
 * which the relay passes to hook_command(), as it does COM_STMT_CLOSE.
 */
void hook_stmt_prepared(struct sess *s, struct hook_sess *hs, uint32_t stmt_id);
void hook_stmt_prepared(struct sess *s, struct hook_sess *hs, uint32_t stmt_id)
{
	struct pol_sess *ps = hs->policy;
	(void)s;
	if (!ps || !ps->cmd.active || !ps->cmd.forwarded || ps->cmd.com != COM_STMT_PREPARE ||
	    ps->cmd.n != 1 || !ps->cmd.stmts[0].ddl)
		return;
	const struct pol_stmt *p = &ps->cmd.stmts[0];
	struct pol_prep *pp = pol_prep_find(ps, stmt_id);
	if (pp)
		pol_prep_del(ps, pp);
	if (ps->nprep == ps->capprep) {
		ps->capprep = ps->capprep ? ps->capprep * 2 : 4;
		ps->prep = realloc(ps->prep, ps->capprep * sizeof(*ps->prep));
		if (!ps->prep)
			abort();
	}
	pp = &ps->prep[ps->nprep++];
	pp->id = stmt_id;
	pp->sql = strndup(p->sql, p->len);
	pp->len = p->len;
	pp->schema = p->schema ? strdup(p->schema) : NULL;
	pp->ansi = p->ansi;
	if (!pp->sql || (p->schema && !pp->schema))
		abort();
}

/* ---- the hook ---- */

void hook_session_begin(struct sess *s, struct hook_sess *hs)
{
	struct pol_sess *ps = calloc(1, sizeof(*ps));
	if (!ps)
		abort();
	ps->conn_id = hs->conn_id;
	ps->s = s;
	ps->hs = hs;
	ps->conf = pol_conf_get();
	ps->lock_wait = POL_DEFAULT_LOCK_WAIT;
	ps->memory = rules_migration_new();
	arena_init(&ps->arena, 4096);
	hs->policy = ps;
	pol_table_add(ps);
	migration_sess_auth(&ps->mig, ps->conf->cfg, hs->user);
	(void)pol_mig_sync(ps);
}

/* Records the statements of an unfinished command as aborted. */
static void pol_abort_cmd(struct pol_sess *ps)
{
	if (!ps->cmd.active)
		return;
	for (size_t i = 0; i < ps->cmd.n; i++) {
		struct pol_stmt *p = &ps->cmd.stmts[i];
		if (p->record)
			pol_submit(ps, p, ps->cmd.forwarded ? AUDIT_ABORTED : AUDIT_NOT_SENT, 0, 0,
				   false);
	}
	pol_cmd_end(ps);
}

void hook_session_end(struct sess *s, struct hook_sess *hs)
{
	struct pol_sess *ps = hs->policy;
	if (!ps)
		return;
	pol_table_del(ps); /* from here no posted function finds it */
	pol_abort_cmd(ps);
	migration_sess_clear(&ps->mig);
	ps->mig.by_user = false;
	(void)pol_mig_sync(ps);
	pol_memory_reset(ps);
	rules_migration_free(ps->memory);
	pol_prep_clear(ps);
	arena_cleanup(&ps->arena);
	pol_conf_unref(ps->conf);
	free(ps);
	hs->policy = NULL;
}

void hook_session_reset(struct sess *s, struct hook_sess *hs)
{
	struct pol_sess *ps = hs->policy;
	if (!ps)
		return;
	pol_abort_cmd(ps);
	pol_conf_refresh(ps);
	pol_prep_clear(ps); /* both close every prepared statement */
	/* COM_RESET_CONNECTION drops named locks; COM_CHANGE_USER may change the user */
	migration_sess_auth(&ps->mig, ps->conf->cfg, hs->user);
	if (ps->registered && migration_sess_active(&ps->mig)) {
		/* still a migration (by login), but a new one */
		migration_unregister(ps->conn_id);
		ps->registered = false;
	}
	(void)pol_mig_sync(ps);
	ps->lock_wait = POL_DEFAULT_LOCK_WAIT;
	ps->ansi_quotes = false;
}

static bool pol_split_count(const struct split_piece *piece, void *arg)
{
	(*(size_t *)arg)++;
	return true;
}

struct pol_split_fill {
	struct pol_sess *ps;
	size_t i;
};

static bool pol_split_fill(const struct split_piece *piece, void *arg)
{
	struct pol_split_fill *f = arg;
	if (f->i >= f->ps->cmd.n)
		return false;
	f->ps->cmd.stmts[f->i].sql = piece->sql;
	f->ps->cmd.stmts[f->i].len = piece->len;
	f->i++;
	return true;
}

/* Prepares statement p of the slow path: parse, signals, record flags. */
static void pol_prepare_stmt(struct pol_sess *ps, struct pol_stmt *p, bool ansi)
{
	struct classify_info ci;
	enum stmt_kind k = classify_sql(p->sql, p->len, &ci);

	stmt_parse(&ps->arena, p->sql, p->len, ansi ? LEX_ANSI_QUOTES : 0, &p->st);
	if (k == STMT_DDL && p->st.kind != STMT_DDL && p->st.kind != STMT_EMPTY) {
		/* the classifier was in doubt and the parser settled it */
	}
	p->ddl = pol_judged_ddl(&p->st);
	p->is_write = p->st.kind == STMT_DML && pol_is_write_kw(ci.keyword, ci.keyword_len);
	p->set_lock_wait = p->st.kind == STMT_OTHER ? pol_scan_lock_wait(p->sql, p->len) : -2;
	p->set_ansi = p->st.kind == STMT_OTHER ? pol_scan_sql_mode(p->sql, p->len) : -1;
	if (migration_maybe_signal(p->sql, p->len))
		p->has_sig = migration_scan(p->sql, p->len, &p->sig);
	p->record = pol.audit && p->st.kind != STMT_EMPTY &&
		    (p->ddl || audit_wants(pol.audit, p->st.kind, p->is_write));
}

/* The schema a USE statement switches to (arena copy), or NULL. */
static const char *pol_use_schema(struct pol_sess *ps, const struct pol_stmt *p)
{
	struct lexer lx;
	struct lex_token t;
	char name[192];

	if (p->st.kind != STMT_OTHER || !p->st.keyword || strcasecmp(p->st.keyword, "USE") != 0)
		return NULL;
	lex_init(&lx, p->sql, p->len, 0);
	if (!lex_next(&lx, &t) || !lex_is_word(&t, "USE") || !lex_next(&lx, &t))
		return NULL;
	if (t.type == LEX_WORD) {
		snprintf(name, sizeof(name), "%.*s", (int)t.n, t.p);
	} else if (t.type == LEX_QUOTED_IDENT && t.n >= 2) {
		size_t o = 0;
		for (size_t i = 1; i + 1 < t.n && o + 1 < sizeof(name); i++) {
			if (t.p[i] == t.p[0] && i + 2 < t.n && t.p[i + 1] == t.p[0])
				i++;
			name[o++] = t.p[i];
		}
		name[o] = 0;
	} else {
		return NULL;
	}
	return arena_strndup(&ps->arena, name, strlen(name));
}

/*
 * The fast path for one statement that is neither DDL nor carries a
 * directive. Returns true when it was fully handled (forward, nothing to
 * remember); false when the statement needs a record (signal, SET of
 * lock_wait_timeout, audit).
 */
static bool pol_fast(struct pol_sess *ps, const char *sql, size_t len, enum stmt_kind kind,
		     const struct classify_info *ci)
{
	bool write = kind == STMT_DML && pol_is_write_kw(ci->keyword, ci->keyword_len);

	if (pol.audit && audit_wants(pol.audit, kind, write))
		return false;
	if (pol_kw(ci->keyword, ci->keyword_len, "SET"))
		return pol_scan_lock_wait(sql, len) == -2 && pol_scan_sql_mode(sql, len) == -1;
	if ((pol_kw(ci->keyword, ci->keyword_len, "SELECT") ||
	     pol_kw(ci->keyword, ci->keyword_len, "DO") ||
	     pol_kw(ci->keyword, ci->keyword_len, "UPDATE")) &&
	    migration_maybe_signal(sql, len)) {
		struct migration_signal sig;
		return !migration_scan(sql, len, &sig);
	}
	return true;
}

enum hook_verdict hook_command(struct sess *s, struct hook_sess *hs, const uint8_t *payload,
			       size_t len, struct hook_reply *reply)
{
	struct pol_sess *ps = hs->policy;
	struct classify_info ci;

	if (!ps || len == 0)
		return HOOK_FORWARD;
	const struct pol_prep *exec = NULL;
	if ((payload[0] == COM_STMT_EXECUTE || payload[0] == COM_STMT_CLOSE) && len >= 5) {
		uint32_t id = (uint32_t)payload[1] | (uint32_t)payload[2] << 8 |
			      (uint32_t)payload[3] << 16 | (uint32_t)payload[4] << 24;
		struct pol_prep *pp = pol_prep_find(ps, id);
		if (!pp)
			return HOOK_FORWARD; /* not a DDL (or unknown: the server refuses it) */
		if (payload[0] == COM_STMT_CLOSE) {
			pol_prep_del(ps, pp);
			return HOOK_FORWARD;
		}
		exec = pp;
	} else if (payload[0] != COM_QUERY && payload[0] != COM_STMT_PREPARE) {
		if (payload[0] == COM_INIT_DB)
			return HOOK_FORWARD; /* the relay tracks hs->schema */
		return HOOK_FORWARD;	     /* the relay refuses what the configuration forbids */
	}
	if (ps->cmd.active) /* the previous command never got its results */
		pol_abort_cmd(ps);
	pol_conf_refresh(ps);

	const char *sql = (const char *)payload + 1;
	size_t sqllen = len - 1;
	bool ansi = ps->ansi_quotes;
	if (exec) {
		/* a prepared DDL runs again: judged as at prepare, with the schema
		 * and quoting of then (the server resolves names as prepared) */
		sql = exec->sql;
		sqllen = exec->len;
		ansi = exec->ansi;
	} else if (payload[0] == COM_QUERY) {
		/* skip query attributes (CLIENT_QUERY_ATTRIBUTES) before the text */
		const uint8_t *q;
		size_t qlen;
		if (!pkt_query_sql(payload, len, hs->capabilities, &q, &qlen)) {
			reply->code = 1290;
			memcpy(reply->sqlstate, "HY000", 6);
			snprintf(
			    reply->message, sizeof(reply->message),
			    "ddlgate: blocked by unparseable-ddl: the query packet's attributes "
			    "cannot be decoded, so its SQL cannot be checked. Send the query "
			    "without query attributes");
			return HOOK_REJECT;
		}
		sql = (const char *)q;
		sqllen = qlen;
	}
	hs->want_first_value = false;
	enum stmt_kind kind = classify_sql(sql, sqllen, &ci);
	if (!exec && kind != STMT_DDL && kind != STMT_DCL && !ci.has_ddlgate_comment && !ci.multi &&
	    pol_fast(ps, sql, sqllen, kind, &ci)) {
		if (kind == STMT_DML && migration_sess_active(&ps->mig) &&
		    pol_is_write_kw(ci.keyword, ci.keyword_len)) {
			/* learnt now, not at the OK: forgetting is the careful side */
			pol_memory_wrote(ps);
		}
		metrics_statement(kind, METRICS_ALLOW);
		return HOOK_FORWARD;
	}
	if (!exec && kind == STMT_DCL && !pol.audit && !ci.multi && !ci.has_ddlgate_comment)
		return HOOK_FORWARD;

	/* slow path: the text must outlive this call (waits), so copy it */
	arena_reset(&ps->arena);
	if (!migration_sess_active(&ps->mig))
		pol_memory_reset(ps); /* an app session's memory spans one command */
	struct pol_cmd *cmd = &ps->cmd;
	memset(cmd, 0, sizeof(*cmd));
	cmd->active = true;
	cmd->com = payload[0];
	cmd->start_us = pol_wall_us();
	cmd->start_mono = pol_mono_us();
	char *copy = arena_strndup(&ps->arena, sql, sqllen);
	size_t n = 0;
	unsigned split_flags = ansi ? SPLIT_ANSI_QUOTES : 0;
	(void)split_sql(copy, sqllen, split_flags, pol_split_count, &n);
	if (n == 0)
		n = 1;
	cmd->stmts = arena_alloc(&ps->arena, n * sizeof(*cmd->stmts));
	cmd->n = n;
	struct pol_split_fill fill = {ps, 0};
	(void)split_sql(copy, sqllen, split_flags, pol_split_fill, &fill);
	if (fill.i == 0) {
		cmd->stmts[0].sql = copy;
		cmd->stmts[0].len = sqllen;
		fill.i = 1;
	}
	cmd->n = fill.i;
	/* a copy: the relay updates hs->schema while later statements still run */
	const char *schema = hs->schema[0] ? arena_strndup(&ps->arena, hs->schema,
							   strnlen(hs->schema, sizeof(hs->schema)))
					   : NULL;
	if (exec)
		schema = exec->schema
			     ? arena_strndup(&ps->arena, exec->schema, strlen(exec->schema))
			     : NULL;
	/* a SET earlier in the command counts for the statements after it */
	long lock_wait = ps->lock_wait;
	for (size_t i = 0; i < cmd->n; i++) {
		struct pol_stmt *p = &cmd->stmts[i];
		p->schema = schema;
		p->lock_wait = lock_wait;
		pol_prepare_stmt(ps, p, ansi);
		p->ansi = ansi;
		if (p->set_ansi >= 0)
			ansi = p->set_ansi == 1;
		if (p->set_lock_wait != -2)
			lock_wait =
			    p->set_lock_wait == -1 ? POL_DEFAULT_LOCK_WAIT : p->set_lock_wait;
		const char *used = pol_use_schema(ps, &cmd->stmts[i]);
		if (used)
			schema = used;
	}

	if (cmd->n > 1)
		cmd->scratch = pol_memory_copy(ps);
	enum pol_step step = pol_continue(ps);
	if (step != POL_DONE) {
		cmd->waiting = true;
		if (step == POL_WAIT_HOLD) {
			pol_ticker_ensure();
			pol_hold_add(ps);
		}
		return HOOK_WAIT;
	}
	return pol_finish(ps, reply);
}

/* Applies what statement p did, now that the server answered it. Returns
 * true when it started a migration. */
static bool pol_apply_result(struct pol_sess *ps, struct pol_stmt *p, const struct hook_result *r)
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
		if (migration_sess_apply(&ps->mig, ps->conf->cfg, &p->sig, ok, v, r->affected_rows))
			started = pol_mig_sync(ps);
	}
	if (r->ok && p->set_ansi >= 0)
		ps->ansi_quotes = p->set_ansi == 1;
	if (r->ok && p->set_lock_wait != -2)
		ps->lock_wait = p->set_lock_wait == -1 ? POL_DEFAULT_LOCK_WAIT : p->set_lock_wait;
	struct migration_info peer;
	uint64_t owner = ps->conn_id;
	if (r->ok && p->ddl && !ps->registered && pol_in_migration(ps, &peer))
		owner = peer.conn_id; /* a peer's DDL counts for the migration it serves */
	if (r->ok && p->ddl && (ps->registered || owner != ps->conn_id)) {
		struct migration_obj objs[32];
		size_t n = pol_objects(&p->st, objs, 32);
		for (size_t i = 0; i < n; i++)
			migration_touch(owner, objs[i].schema ? objs[i].schema : p->schema,
					objs[i].table);
	}
	return started;
}

bool hook_result(struct sess *s, struct hook_sess *hs, const struct hook_result *r)
{
	struct pol_sess *ps = hs->policy;
	bool wait = false;
	unsigned held_back = 0;

	if (!ps || !ps->cmd.active || !ps->cmd.forwarded)
		return true;
	struct pol_cmd *cmd = &ps->cmd;
	if (r->stmt_id && r->ok && cmd->com == COM_STMT_PREPARE) {
		size_t before = ps->nprep;
		hook_stmt_prepared(s, hs, r->stmt_id);
		if (ps->nprep > before)
			hs->watch_executes = true; /* from now on the relay asks at execute */
	}
	if (r->index < cmd->n) {
		struct pol_stmt *p = &cmd->stmts[r->index];
		if (!p->done) {
			p->done = true;
			/* after the signals: a migration that starts here starts with
			 * an empty memory, which then learns p */
			bool started = pol_apply_result(ps, p, r);
			if (r->ok && !r->aborted && cmd->com != COM_STMT_PREPARE)
				pol_memory_commit(ps, p); /* a prepare runs nothing yet */
			if (started && cluster_wait_held(s, pol_durable_fn,
							 (void *)(uintptr_t)ps->conn_id, 1000)) {
				/* the client learns it holds the floor once every ddlgate can
				 * see it: after the cluster lock is taken */
				ps->durable_wait++;
				held_back++;
			}
			if (p->record) {
				enum audit_outcome o = r->aborted ? AUDIT_ABORTED
						       : r->ok	  ? AUDIT_OK
								  : AUDIT_ERROR;
				wait = p->ddl && !r->aborted;
				held_back +=
				    pol_submit(ps, p, o, r->error_code, r->affected_rows, wait);
			}
		}
	}
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
	return held_back == 0;
}

/* ---- admin: /status, /sessions, /window ---- */

static void pol_status(json_t *status, void *arg)
{
	struct migration_info mi[64];
	size_t n = migration_list(mi, 64);
	json_t *mig = json_object();
	json_t *arr = json_array();

	for (size_t i = 0; i < n && i < 64; i++) {
		char since[32];
		struct tm tm;
		gmtime_r(&mi[i].since, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_array_append_new(arr,
				      json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
						"conn_id", (json_int_t)mi[i].conn_id, "user",
						mi[i].user, "host", mi[i].host, "tool", mi[i].tool,
						"name", mi[i].name, "schema", mi[i].schema, "since",
						since, "tables", (json_int_t)mi[i].ntables));
	}
	json_object_set_new(mig, "active", arr);
	json_object_set_new(mig, "running", json_boolean(n > 0));
	json_object_set_new(mig, "seen_total", json_integer((json_int_t)migration_seen_total()));

	struct cluster_status cs;
	cluster_get_status(&cs);
	json_t *cl = json_object();
	json_object_set_new(cl, "enabled", json_boolean(cs.enabled));
	json_object_set_new(cl, "lock", json_string(cs.lock));
	json_object_set_new(cl, "connected", json_boolean(cs.connected));
	json_object_set_new(cl, "held_locally", json_boolean(cs.held_locally));
	json_object_set_new(cl, "held_elsewhere", json_boolean(cs.held_remotely));
	json_object_set_new(cl, "holder",
			    cs.holder ? json_integer((json_int_t)cs.holder) : json_null());
	if (cs.error[0])
		json_object_set_new(cl, "error", json_string(cs.error));
	json_object_set_new(mig, "cluster_lock", cl);

	struct pol_conf *pc = pol_conf_get();
	const struct cfg *c = pc->cfg;
	json_object_set_new(
	    mig, "conflict",
	    json_string(c->migration.conflict == CFG_CONFLICT_HOLD ? "hold" : "block"));
	json_object_set_new(mig, "scope",
			    json_string(c->migration.scope == CFG_SCOPE_SERVER	 ? "server"
					: c->migration.scope == CFG_SCOPE_SCHEMA ? "schema"
										 : "table"));
	json_object_set_new(status, "migration", mig);

	struct window_status ws;
	time_t now = time(NULL);
	window_evaluate(c, now, &ws);
	json_t *win = json_object();
	json_t *sch = json_array();
	for (size_t i = 0; i < c->window.nschedule; i++)
		json_array_append_new(sch, json_string(c->window.schedule[i].text));
	json_object_set_new(win, "schedules", sch);
	json_object_set_new(win, "configured", json_boolean(ws.configured));
	json_object_set_new(win, "open", json_boolean(ws.open));
	json_object_set_new(win, "adhoc_open", json_boolean(ws.adhoc_open));
	json_object_set_new(win, "closed_by_admin", json_boolean(ws.closed_by_admin));
	if (ws.adhoc_open) {
		char buf[32];
		struct tm tm;
		gmtime_r(&ws.adhoc_until, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(win, "adhoc_until", json_string(buf));
	} else {
		json_object_set_new(win, "adhoc_until", json_null());
	}
	if (ws.open && ws.open_until) {
		char buf[32];
		struct tm tm;
		gmtime_r(&ws.open_until, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(win, "open_until", json_string(buf));
	}
	json_object_set_new(status, "window", win);
	pol_conf_unref(pc);

	if (pol.audit) {
		char hash[AUDIT_HASH_HEX + 1];
		uint64_t seq = audit_last(pol.audit, hash);
		json_object_set_new(status, "audit",
				    json_pack("{s:b, s:I, s:s}", "healthy",
					      audit_healthy(pol.audit), "last_seq", (json_int_t)seq,
					      "last_hash", hash));
	}
}

/* A bounded copy of a string field another thread may be writing. */
static json_t *pol_jstr(const char *s, size_t max)
{
	char buf[256];
	size_t n = strnlen(s, max < sizeof(buf) - 1 ? max : sizeof(buf) - 1);
	memcpy(buf, s, n);
	buf[n] = 0;
	return json_stringn_nocheck(buf, n);
}

static void pol_sessions(json_t *sessions, void *arg)
{
	pthread_mutex_lock(&pol.lock);
	for (size_t b = 0; b < POL_SESS_BUCKETS; b++) {
		for (struct pol_sess *ps = pol.buckets[b]; ps; ps = ps->next) {
			const struct hook_sess *hs = ps->hs;
			json_t *o = json_object();
			bool mig = migration_sess_active(&ps->mig);
			json_object_set_new(o, "conn_id", json_integer((json_int_t)ps->conn_id));
			json_object_set_new(o, "user", pol_jstr(hs->user, sizeof(hs->user)));
			json_object_set_new(o, "client", pol_jstr(hs->client, sizeof(hs->client)));
			json_object_set_new(o, "schema", pol_jstr(hs->schema, sizeof(hs->schema)));
			json_object_set_new(o, "kind", json_string(mig ? "migration" : "app"));
			if (mig) {
				json_object_set_new(o, "tool",
						    pol_jstr(ps->mig.tool, sizeof(ps->mig.tool)));
				json_object_set_new(o, "migration",
						    pol_jstr(ps->mig.name, sizeof(ps->mig.name)));
			}
			json_object_set_new(o, "tls", json_boolean(hs->tls));
			json_object_set_new(o, "holding", json_boolean(ps->in_waiters));
			json_array_append_new(sessions, o);
		}
	}
	pthread_mutex_unlock(&pol.lock);
}

static int pol_window_open(const struct evkeyvalq *query, const char *body, json_t *reply,
			   void *arg)
{
	const char *m = query ? evhttp_find_header(query, "minutes") : NULL;
	char *end = NULL;
	long minutes = m ? strtol(m, &end, 10) : 60;
	time_t now = time(NULL);

	if ((m && (!*m || *end)) || !window_adhoc_open((int)minutes, now)) {
		json_object_set_new(reply, "error",
				    json_string("minutes must be a whole number from 1 to 10080"));
		return 400;
	}
	char buf[32];
	struct tm tm;
	time_t until = now + minutes * 60;
	gmtime_r(&until, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(reply, "open", json_true());
	json_object_set_new(reply, "until", json_string(buf));
	fprintf(stderr, "ddlgate: maintenance window opened for %ld minutes (until %s)\n", minutes,
		buf);
	return 200;
}

static int pol_window_close(const struct evkeyvalq *query, const char *body, json_t *reply,
			    void *arg)
{
	struct pol_conf *pc = pol_conf_get();
	struct window_status ws;
	window_adhoc_close(pc->cfg, time(NULL));
	window_evaluate(pc->cfg, time(NULL), &ws);
	pol_conf_unref(pc);
	json_object_set_new(reply, "open", json_boolean(ws.open));
	fprintf(stderr, "ddlgate: maintenance window closed by the admin API\n");
	return 200;
}

/* ---- lifecycle ---- */

bool hook_init(const struct cfg *cfg, char *err, size_t errlen)
{
	struct pol_conf *pc = pol_conf_new(cfg, err, errlen);
	if (!pc)
		return false;
	if (pc->cfg->audit.path) {
		pol.audit = audit_open(pc->cfg, err, errlen);
		if (!pol.audit) {
			pol_conf_unref(pc);
			return false;
		}
		atomic_store(&pol.audit_suspect, !pol_audit_preflight(pc->cfg->audit.path));
		if (atomic_load(&pol.audit_suspect))
			fprintf(stderr,
				"ddlgate: audit: %s cannot be written: DDL is refused until "
				"it can\n",
				pc->cfg->audit.path);
	}
	if (!guard_start(pc->cfg, 2, err, errlen) || !cluster_start(pc->cfg, err, errlen)) {
		audit_close(pol.audit);
		pol.audit = NULL;
		pol_conf_unref(pc);
		return false;
	}
	pthread_mutex_lock(&pol.lock);
	struct pol_conf *old = pol.conf;
	pc->gen = atomic_fetch_add(&pol.conf_gen, 1) + 1;
	pol.conf = pc;
	pol.started = true;
	pol.stopping = false;
	pthread_mutex_unlock(&pol.lock);
	pol_conf_unref(old);
	pol_ticker_ensure();

	static bool registered;
	if (!registered) {
		registered = true;
		admin_register_status(pol_status, NULL);
		admin_register_sessions(pol_sessions, NULL);
		admin_register_post("/window/open", pol_window_open, NULL);
		admin_register_post("/window/close", pol_window_close, NULL);
	}
	return true;
}

bool hook_reload(const struct cfg *cfg, char *err, size_t errlen)
{
	struct pol_conf *pc = pol_conf_new(cfg, err, errlen);
	if (!pc)
		return false;
	guard_configure(pc->cfg);
	cluster_configure(pc->cfg);
	if (pol.audit) {
		/* record, fsync, interval, rotate_bytes; a changed path switches
		 * files, the same path is reopened (logrotate) */
		audit_reconfigure(pol.audit, pc->cfg);
		if (pc->cfg->audit.path)
			atomic_store(&pol.audit_suspect, !pol_audit_preflight(pc->cfg->audit.path));
	}
	pthread_mutex_lock(&pol.lock);
	struct pol_conf *old = pol.conf;
	pc->gen = atomic_fetch_add(&pol.conf_gen, 1) + 1;
	pol.conf = pc;
	pthread_mutex_unlock(&pol.lock);
	pol_conf_unref(old);
	return true;
}

void hook_shutdown(void)
{
	pthread_mutex_lock(&pol.lock);
	pol.stopping = true;
	pthread_cond_broadcast(&pol.cond);
	bool ticker = pol.ticker_running;
	pol.ticker_running = false;
	pthread_mutex_unlock(&pol.lock);
	if (ticker)
		pthread_join(pol.ticker, NULL);
	cluster_stop();
	guard_stop();
	audit_close(pol.audit);
	pol.audit = NULL;
}

/*
 * The relay's entry points for COM_STMT_EXECUTE and COM_STMT_CLOSE (called
 * only while hs->watch_executes is set, i.e. once this session prepared a
 * DDL): both go through hook_command() with the command byte and the
 * statement id, where a remembered DDL is judged again.
 */
static size_t pol_stmt_payload(uint8_t out[5], uint8_t com, uint32_t stmt_id)
{
	out[0] = com;
	out[1] = (uint8_t)stmt_id;
	out[2] = (uint8_t)(stmt_id >> 8);
	out[3] = (uint8_t)(stmt_id >> 16);
	out[4] = (uint8_t)(stmt_id >> 24);
	return 5;
}

enum hook_verdict hook_stmt_execute(struct sess *s, struct hook_sess *hs, uint32_t stmt_id,
				    struct hook_reply *reply)
{
	uint8_t payload[5];
	return hook_command(s, hs, payload, pol_stmt_payload(payload, COM_STMT_EXECUTE, stmt_id),
			    reply);
}

void hook_stmt_close(struct sess *s, struct hook_sess *hs, uint32_t stmt_id)
{
	uint8_t payload[5];
	struct hook_reply reply;
	(void)hook_command(s, hs, payload, pol_stmt_payload(payload, COM_STMT_CLOSE, stmt_id),
			   &reply);
}
