/* The lock-wait watcher: watches forwarded DDL on the server, stops a wait
 * past its bound (KILL QUERY), and looks for old transactions before a DDL
 * is sent; one thread with its own side connection. */
#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/clock.h"
#include "proxy/guard_int.h"
#include "proxy/hook.h"
#include "proxy/session.h"

/* One watched DDL, one backoff timer (fn set), or one look before a DDL
 * is sent (look set, fn posted once when done). */
struct watch_ent {
	uint64_t handle;
	uint64_t conn_id;
	uint32_t thread;
	int bound_ms;
	int max_ms;	  /* stopped then even with nobody queued behind it */
	int64_t clear_us; /* last time the thread was seen not waiting */
	bool killed;
	bool described; /* blocker was looked up during the current wait */
	char schema[65], table[65];
	struct guard_blocker blocker;
	int64_t due_us; /* backoff timer: when to post fn; look: when to ask next */
	void (*fn)(struct sess *s, void *arg);
	bool look, look_done;
	int older_than_ms;
	int64_t deadline_us;
	enum guard_look answer;
	struct watch_ent *next;
};

static struct {
	pthread_cond_t cond; /* under guard.lock */
	struct watch_ent *ents;
	uint64_t next_handle;
	bool started;
	bool capable;		  /* the account may see and stop other accounts' statements */
	uint64_t checked_version; /* the guard_conf version capable was learnt for; 0 = none */
	pthread_t thread;
	int64_t tick_us;   /* when the last look at the watched threads began */
	int64_t logged_us; /* when a failed look was last logged */
	struct guard_watch_stats stats;
} watch = {.cond = PTHREAD_COND_INITIALIZER};

static void *watch_main(void *unused);

#define WATCH_TICK_MS 20
#define WATCH_STATE "Waiting for table metadata lock"

/* Appends a quoted string literal of s to q (names from the parser). */
static void watch_quote(char *q, size_t qlen, const char *s)
{
	size_t n = strlen(q);
	if (n + 2 >= qlen)
		return;
	q[n++] = '\'';
	for (; *s && n + 3 < qlen; s++) {
		if (*s == '\'' || *s == '\\')
			q[n++] = '\\';
		q[n++] = *s;
	}
	q[n++] = '\'';
	q[n] = 0;
}

/* Frees the values guard_run_one stored in r. */
static void watch_result_free(struct guard_result *r)
{
	for (unsigned k = 0; k < GUARD_MAX_COLS; k++)
		free(r->vals[k]);
}

/* Copies the row of the blocker queries (ID, USER, HOST, age in ms,
 * COMMAND, INFO) into b. */
static void watch_blocker_row(const struct guard_result *r, bool exact, struct guard_blocker *b)
{
	const char *v[6];
	for (unsigned k = 0; k < 6; k++)
		v[k] = k < r->ncols && r->vals[k] ? r->vals[k] : "";
	memset(b, 0, sizeof(*b));
	b->id = (uint32_t)strtoul(v[0], NULL, 10);
	snprintf(b->user, sizeof(b->user), "%s", v[1]);
	snprintf(b->host, sizeof(b->host), "%s", v[2]);
	b->trx_age_ms = r->vals[3] ? atol(v[3]) : -1;
	b->seen_us = clk_mono_us();
	b->running = strcmp(v[4], "Sleep") != 0 && v[5][0];
	b->exact = exact;
	if (b->running)
		snprintf(b->statement, sizeof(b->statement), "%s", v[5]);
}

/* The current statement of connection b->id, or its last one when it is
 * idle, from performance_schema (when it is on and its statement events
 * are kept); left as the processlist showed it otherwise. */
static void watch_blocker_statement(MYSQL *m, struct guard_blocker *b)
{
	char q[400];
	snprintf(q, sizeof(q),
		 "SELECT LEFT(s.SQL_TEXT, 200), s.END_EVENT_ID IS NULL FROM "
		 "performance_schema.events_statements_current s JOIN "
		 "performance_schema.threads th USING (THREAD_ID) WHERE th.PROCESSLIST_ID = %u "
		 "AND s.SQL_TEXT IS NOT NULL LIMIT 1",
		 b->id);
	struct guard_result r = {0};
	if (guard_run_one(m, q, &r) && r.has_row && r.ncols >= 2 && r.vals[0]) {
		snprintf(b->statement, sizeof(b->statement), "%s", r.vals[0]);
		b->running = r.vals[1] && atoi(r.vals[1]) == 1;
	}
	watch_result_free(&r);
}

/* Where the server lists metadata locks: MariaDB's METADATA_LOCK_INFO
 * plugin, or performance_schema.metadata_locks (MySQL 8 by default; MariaDB
 * when its wait/lock/metadata/sql/mdl instrument is on). The age of an idle
 * connection comes from PROCESSLIST: TIME_MS where the plugin runs (MariaDB),
 * TIME otherwise. */
static const struct {
	const char *from, *schema_col, *table_col, *idle_ms;
} watch_mdl_sources[] = {
    {"information_schema.METADATA_LOCK_INFO l JOIN information_schema.PROCESSLIST p ON p.ID = "
     "l.THREAD_ID",
     "l.TABLE_SCHEMA", "l.TABLE_NAME", "IFNULL(ROUND(p.TIME_MS), 0)"},
    {"performance_schema.metadata_locks l JOIN performance_schema.threads th ON th.THREAD_ID = "
     "l.OWNER_THREAD_ID JOIN information_schema.PROCESSLIST p ON p.ID = th.PROCESSLIST_ID",
     "l.OBJECT_TYPE = 'TABLE' AND l.LOCK_STATUS = 'GRANTED' AND l.OBJECT_SCHEMA", "l.OBJECT_NAME",
     "IFNULL(p.TIME, 0) * 1000"},
};

/* Whether performance_schema records metadata locks. */
static bool watch_ps_mdl(MYSQL *m)
{
	struct guard_result r = {0};
	bool on = guard_run_one(m,
				"SELECT 1 FROM performance_schema.setup_instruments WHERE NAME = "
				"'wait/lock/metadata/sql/mdl' AND ENABLED = 'YES'",
				&r) &&
		  r.has_row;
	watch_result_free(&r);
	return on;
}

/*
 * Finds the connection other than thread (and the watcher's own) holding a
 * metadata lock on schema.table with a transaction open for at least
 * min_age_ms, the oldest first, from the first of watch_mdl_sources the
 * server has. An idle transaction that only read the table holds such a
 * lock though InnoDB lists no row lock of it; its age is its InnoDB
 * transaction's or, when InnoDB does not know it, the time since its last
 * statement. Returns 1 (found, b filled), 0 (none) or -1 (the server
 * cannot say).
 */
static int watch_holder(MYSQL *m, uint32_t thread, const char *schema, const char *table,
			long min_age_ms, struct guard_blocker *b)
{
	int found = -1;
	for (size_t k = 0; k < 2 && found < 0 && table[0]; k++) {
		if (k == 1 && !watch_ps_mdl(m))
			break;
		char q[1600];
		snprintf(
		    q, sizeof(q),
		    "SELECT * FROM (SELECT p.ID, p.USER, p.HOST, GREATEST(IFNULL("
		    "TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6)) DIV 1000, 0), %s) AS "
		    "age, p.COMMAND, IFNULL(LEFT(p.INFO, 200), '') FROM %s LEFT JOIN "
		    "information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID WHERE p.ID "
		    "NOT IN (%u, CONNECTION_ID()) AND %s = ",
		    watch_mdl_sources[k].idle_ms, watch_mdl_sources[k].from, thread,
		    watch_mdl_sources[k].schema_col);
		watch_quote(q, sizeof(q), schema);
		snprintf(q + strlen(q), sizeof(q) - strlen(q),
			 " AND %s = ", watch_mdl_sources[k].table_col);
		watch_quote(q, sizeof(q), table);
		snprintf(q + strlen(q), sizeof(q) - strlen(q),
			 ") x WHERE age >= %ld ORDER BY age DESC LIMIT 1", min_age_ms);
		struct guard_result r = {0};
		if (guard_run_one(m, q, &r) && r.ok) {
			found = r.has_row;
			if (found)
				watch_blocker_row(&r, true, b);
		}
		watch_result_free(&r);
	}
	if (found == 1)
		watch_blocker_statement(m, b);
	return found;
}

/* Describes the connection that most likely blocks thread: the holder of a
 * metadata lock on schema.table when the server lists them, else the
 * oldest open InnoDB transaction of another connection (a guess, said so). */
static void watch_blocker(MYSQL *m, uint32_t thread, const char *schema, const char *table,
			  struct guard_blocker *b)
{
	memset(b, 0, sizeof(*b));
	if (watch_holder(m, thread, schema, table, 0, b) >= 0)
		return;
	char q[800];
	snprintf(q, sizeof(q),
		 "SELECT p.ID, p.USER, p.HOST, TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6)) "
		 "DIV 1000, p.COMMAND, IFNULL(LEFT(p.INFO, 200), '') FROM "
		 "information_schema.PROCESSLIST p JOIN information_schema.INNODB_TRX t ON "
		 "t.trx_mysql_thread_id = p.ID WHERE p.ID NOT IN (%u, CONNECTION_ID()) ORDER BY "
		 "t.trx_started LIMIT 1",
		 thread);
	struct guard_result r = {0};
	bool found = guard_run_one(m, q, &r) && r.has_row;
	if (found)
		watch_blocker_row(&r, false, b);
	watch_result_free(&r);
	if (found)
		watch_blocker_statement(m, b);
}

void guard_blocker_age(struct guard_blocker *b)
{
	int64_t now = clk_mono_us();
	if (b->trx_age_ms >= 0 && b->seen_us && now > b->seen_us)
		b->trx_age_ms += (long)((now - b->seen_us) / 1000);
	b->seen_us = now;
}

void guard_blocker_text(const struct guard_blocker *b, char *out, size_t len)
{
	if (!b->id) {
		snprintf(out, len, "unknown (no open transaction seen)");
		return;
	}
	struct guard_blocker now = *b;
	guard_blocker_age(&now);
	char age[64] = "";
	if (now.trx_age_ms >= 0)
		snprintf(age, sizeof(age), ", its transaction open for %.1f s",
			 (double)now.trx_age_ms / 1000.0);
	const char *what = b->running	     ? "running: "
			   : b->statement[0] ? "idle, its last statement: "
					     : "idle (its last statement is not known: "
					       "performance_schema statement events are off)";
	snprintf(out, len, "connection %u (%s@%s%s, %s%s%s)", b->id, b->user, b->host, age, what,
		 b->statement, b->exact ? "" : "; the oldest open transaction");
}

/* The watcher's side connection for account gc: *mp reopened when the
 * account changed (version), NULL when the server cannot be reached. */
static void watch_connect(MYSQL **mp, uint64_t *version, const struct guard_conf *gc)
{
	char err[256];
	if (*mp && *version != gc->version) {
		mysql_close(*mp);
		*mp = NULL;
	}
	if (!*mp) {
		*mp = guard_connect(gc, err, sizeof(err));
		*version = gc->version;
	}
}

/* One look at every watched thread; kills the waits past their bound.
 * Caller holds guard.lock; it is released while the server is asked. */
static void watch_tick(MYSQL **mp, uint64_t *version)
{
	char q[4096];
	int64_t t0 = clk_mono_us();
	size_t n = 0;

	snprintf(q, sizeof(q),
		 "SELECT ID, QUERY_ID, STATE FROM information_schema.PROCESSLIST WHERE ID IN (");
	for (struct watch_ent *e = watch.ents; e; e = e->next) {
		if (e->fn || e->killed || strlen(q) + 16 >= sizeof(q))
			continue;
		snprintf(q + strlen(q), sizeof(q) - strlen(q), "%s%u", n ? "," : "", e->thread);
		n++;
	}
	if (n == 0)
		return;
	/* and how many other threads wait for a metadata lock: while a watched
	 * DDL waits, they are (most likely) queued behind it */
	size_t ids =
	    strlen("SELECT ID, QUERY_ID, STATE FROM information_schema.PROCESSLIST WHERE ID IN (");
	size_t idlen = strlen(q) - ids;
	bool counted = strlen(q) + idlen + 200 < sizeof(q);
	if (counted) {
		char list[2048];
		snprintf(list, sizeof(list), "%.*s", (int)idlen, q + ids);
		snprintf(q + strlen(q), sizeof(q) - strlen(q),
			 ") UNION ALL SELECT 0, COUNT(*), 'queued' FROM "
			 "information_schema.PROCESSLIST WHERE STATE = '" WATCH_STATE
			 "' AND ID NOT IN (%s",
			 list);
	}
	strcat(q, ")");
	int64_t dt = watch.tick_us ? t0 - watch.tick_us : 0;
	watch.tick_us = t0;
	struct guard_conf gc = guard.conf;
	pthread_mutex_unlock(&guard.lock);

	watch_connect(mp, version, &gc);
	MYSQL_RES *res = NULL;
	if (*mp && mysql_query(*mp, q) == 0)
		res = mysql_store_result(*mp);
	else if (*mp) {
		/* the protection is blind meanwhile: say so, once a minute */
		if (t0 - watch.logged_us > 60 * 1000000L) {
			fprintf(stderr,
				"ddlgate: guard: the lock-wait watcher cannot read the process "
				"list: %s\n",
				mysql_error(*mp));
			watch.logged_us = t0;
		}
		mysql_close(*mp);
		*mp = NULL;
	}
	/* What to do once guard.lock is let go: describe the blocker of a DDL
	 * half-way to its bound, so that describing it does not delay the stop
	 * at the bound; stop a DDL at its bound. */
	struct watch_act {
		uint64_t handle;
		uint32_t thread;
		bool kill, describe;
		char query[24]; /* the query id to stop */
		char schema[65], table[65];
	} act[64];
	size_t nact = 0;

	pthread_mutex_lock(&guard.lock);
	MYSQL_ROW row;
	bool ddl_waits = false;
	uint64_t queued = 0;
	while (res && (row = mysql_fetch_row(res)))
		if (row[0] && strcmp(row[0], "0") == 0)
			queued = strtoull(row[1] ? row[1] : "0", NULL, 10);
	if (res)
		mysql_data_seek(res, 0);
	while (res && (row = mysql_fetch_row(res))) {
		uint32_t id = (uint32_t)strtoul(row[0] ? row[0] : "0", NULL, 10);
		if (id == 0)
			continue;
		bool waiting = row[2] && strcmp(row[2], WATCH_STATE) == 0;
		ddl_waits |= waiting;
		for (struct watch_ent *e = watch.ents; e; e = e->next) {
			if (e->fn || e->thread != id || e->killed)
				continue;
			if (!waiting) {
				e->clear_us = t0;
				e->described = false; /* a later wait may have another blocker */
				continue;
			}
			/* past the bound while others queue behind it (or when
			 * that is not known), or past the longest wait at all */
			int64_t bound_us = (int64_t)e->bound_ms * 1000;
			int64_t waited = t0 - e->clear_us;
			bool kill = row[1] && waited >= bound_us &&
				    (queued > 0 || !counted || waited >= (int64_t)e->max_ms * 1000);
			bool describe = !e->described && (kill || t0 - e->clear_us >= bound_us / 2);
			if ((!kill && !describe) || nact == 64)
				continue;
			struct watch_act *a = &act[nact++];
			a->handle = e->handle;
			a->thread = id;
			a->kill = kill;
			a->describe = describe;
			snprintf(a->query, sizeof(a->query), "%s", kill ? row[1] : "");
			memcpy(a->schema, e->schema, sizeof(a->schema));
			memcpy(a->table, e->table, sizeof(a->table));
			e->described = true;
			if (kill) {
				e->killed = true;
				watch.stats.cancels++;
			}
		}
	}
	if (res)
		mysql_free_result(res);
	if (ddl_waits && dt > 0)
		watch.stats.queued_us += queued * (uint64_t)(dt < 500000 ? dt : 500000);
	if (nact == 0)
		return;
	pthread_mutex_unlock(&guard.lock);
	for (size_t i = 0; i < nact && *mp; i++) {
		const struct watch_act *a = &act[i];
		if (a->describe) {
			struct guard_blocker blocker;
			watch_blocker(*mp, a->thread, a->schema, a->table, &blocker);
			pthread_mutex_lock(&guard.lock);
			for (struct watch_ent *e = watch.ents; e; e = e->next)
				if (e->handle == a->handle)
					e->blocker = blocker;
			pthread_mutex_unlock(&guard.lock);
		}
		if (!a->kill)
			continue;
		char k[64];
		snprintf(k, sizeof(k), "KILL QUERY ID %.23s", a->query); /* digits only */
		if (mysql_query(*mp, k) != 0)
			fprintf(stderr, "ddlgate: guard: %s for connection %u failed: %s\n", k,
				a->thread, mysql_error(*mp));
	}
	pthread_mutex_lock(&guard.lock);
}

#define LOOK_EVERY_MS 250

/* Asks about every look that is due; posts those that are done. Caller
 * holds guard.lock; it is released while the server is asked. */
static void watch_looks(MYSQL **mp, uint64_t *version)
{
	for (;;) {
		int64_t now = clk_mono_us();
		struct watch_ent *e = watch.ents;
		while (e && !(e->look && !e->look_done && e->due_us <= now))
			e = e->next;
		if (!e)
			return;
		struct watch_ent copy = *e;
		struct guard_conf gc = guard.conf;
		e->due_us = now + LOOK_EVERY_MS * 1000L;
		pthread_mutex_unlock(&guard.lock);
		watch_connect(mp, version, &gc);
		struct guard_blocker b = {0};
		int found = *mp ? watch_holder(*mp, copy.thread, copy.schema, copy.table,
					       copy.older_than_ms, &b)
				: -1;
		pthread_mutex_lock(&guard.lock);
		for (e = watch.ents; e && e->handle != copy.handle; e = e->next)
			;
		if (!e)
			continue; /* the session let go meanwhile */
		if (found == 1) {
			if (!e->blocker.id)
				watch.stats.holds++;
			e->blocker = b;
			if (clk_mono_us() < e->deadline_us)
				continue;
		}
		e->answer = found == 1	 ? GUARD_LOOK_BLOCKED
			    : found == 0 ? GUARD_LOOK_CLEAR
					 : GUARD_LOOK_UNKNOWN;
		e->look_done = true;
		sess_post_id(e->conn_id, e->fn, NULL);
	}
}

/* Learns whether the [guard] account holds PROCESS and CONNECTION ADMIN
 * (or SUPER): without them the watcher could neither see nor stop another
 * account's DDL, and the protection counts as off. Caller holds guard.lock;
 * it is released while the server is asked. False when the server could
 * not be asked (try again later). */
static bool watch_check(MYSQL **mp, uint64_t *version)
{
	struct guard_conf gc = guard.conf;
	pthread_mutex_unlock(&guard.lock);
	watch_connect(mp, version, &gc);
	struct guard_result r = {0};
	bool asked =
	    *mp &&
	    guard_run_one(*mp,
			  "SELECT SUM(PRIVILEGE_TYPE = 'PROCESS'), SUM(PRIVILEGE_TYPE IN "
			  "('SUPER', 'CONNECTION ADMIN')) FROM information_schema."
			  "USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX("
			  "CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), "
			  "'@', -1), '''')",
			  &r) &&
	    r.ok;
	bool capable = asked && r.has_row && r.vals[0] && r.vals[1] && atol(r.vals[0]) > 0 &&
		       atol(r.vals[1]) > 0;
	for (unsigned k = 0; k < GUARD_MAX_COLS; k++)
		free(r.vals[k]);
	if (!asked && *mp) {
		mysql_close(*mp);
		*mp = NULL;
	}
	pthread_mutex_lock(&guard.lock);
	if (asked && guard.conf.version == gc.version) {
		watch.capable = capable;
		watch.checked_version = gc.version;
	}
	return asked;
}

static void *watch_main(void *unused)
{
	MYSQL *m = NULL;
	uint64_t version = 0;
	(void)unused;

	pthread_mutex_lock(&guard.lock);
	while (!guard.stopping) {
		if (watch.checked_version != guard.conf.version && guard.conf.side.user[0] &&
		    !watch_check(&m, &version)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1; /* the server is not there yet */
			if (!guard.stopping)
				pthread_cond_timedwait(&watch.cond, &guard.lock, &ts);
			continue;
		}
		if (!watch.ents) {
			pthread_cond_wait(&watch.cond, &guard.lock);
			continue;
		}
		/* due timers first: they are only posts */
		int64_t now = clk_mono_us();
		for (struct watch_ent **pp = &watch.ents; *pp;) {
			struct watch_ent *e = *pp;
			if (e->fn && !e->look && e->due_us <= now) {
				*pp = e->next;
				sess_post_id(e->conn_id, e->fn, NULL);
				free(e);
				continue;
			}
			pp = &e->next;
		}
		watch_looks(&m, &version);
		watch_tick(&m, &version);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WATCH_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!guard.stopping)
			pthread_cond_timedwait(&watch.cond, &guard.lock, &ts);
	}
	while (watch.ents) {
		struct watch_ent *e = watch.ents;
		watch.ents = e->next;
		free(e);
	}
	pthread_mutex_unlock(&guard.lock);
	if (m)
		mysql_close(m);
	mysql_thread_end();
	return NULL;
}

/* Hands e to the watcher; its handle, 0 when the watcher is not running
 * (e is freed then). */
static uint64_t watch_add(struct watch_ent *e)
{
	pthread_mutex_lock(&guard.lock);
	if (!watch.started || guard.stopping) {
		pthread_mutex_unlock(&guard.lock);
		free(e);
		return 0;
	}
	uint64_t h = e->handle = ++watch.next_handle;
	if (e->look)
		watch.stats.looks++;
	else if (e->fn)
		watch.stats.retries++;
	else
		watch.stats.watches++;
	e->next = watch.ents;
	watch.ents = e;
	pthread_cond_signal(&watch.cond);
	pthread_mutex_unlock(&guard.lock);
	return h;
}

/* A new entry for the DDL session s runs on backend thread on schema.table. */
static struct watch_ent *watch_new(struct sess *s, uint32_t thread, const char *schema,
				   const char *table)
{
	struct watch_ent *e = calloc(1, sizeof(*e));
	if (!e)
		abort();
	e->conn_id = sess_conn_id(s);
	e->thread = thread;
	snprintf(e->schema, sizeof(e->schema), "%s", schema ? schema : "");
	snprintf(e->table, sizeof(e->table), "%s", table ? table : "");
	return e;
}

uint64_t guard_watch_start(struct sess *s, uint32_t thread, int bound_ms, int max_ms,
			   const char *schema, const char *table)
{
	struct watch_ent *e = watch_new(s, thread, schema, table);
	e->bound_ms = bound_ms;
	e->max_ms = max_ms;
	e->clear_us = clk_mono_us();
	return watch_add(e);
}

/* Takes the entry of handle out of the watcher's list (NULL when gone);
 * the caller frees it. */
static struct watch_ent *watch_take(uint64_t handle)
{
	if (!handle)
		return NULL;
	pthread_mutex_lock(&guard.lock);
	struct watch_ent *e = NULL;
	for (struct watch_ent **pp = &watch.ents; *pp; pp = &(*pp)->next) {
		if ((*pp)->handle == handle) {
			e = *pp;
			*pp = e->next;
			break;
		}
	}
	pthread_mutex_unlock(&guard.lock);
	return e;
}

bool guard_watch_stop(uint64_t handle, struct guard_blocker *blocker)
{
	struct watch_ent *e = watch_take(handle);
	bool killed = e && e->killed;
	if (blocker) {
		if (e)
			*blocker = e->blocker;
		else
			memset(blocker, 0, sizeof(*blocker));
	}
	free(e);
	return killed;
}

uint64_t guard_look_start(struct sess *s, uint32_t thread, const char *schema, const char *table,
			  int older_than_ms, int deadline_ms, void (*fn)(struct sess *s, void *arg))
{
	struct watch_ent *e = watch_new(s, thread, schema, table);
	e->look = true;
	e->fn = fn;
	e->older_than_ms = older_than_ms;
	e->due_us = clk_mono_us();
	e->deadline_us = e->due_us + (int64_t)deadline_ms * 1000;
	return watch_add(e);
}

enum guard_look guard_look_end(uint64_t handle, struct guard_blocker *blocker)
{
	struct watch_ent *e = watch_take(handle);
	enum guard_look a = e && e->look_done ? e->answer : GUARD_LOOK_UNKNOWN;
	if (e)
		*blocker = e->blocker;
	else
		memset(blocker, 0, sizeof(*blocker));
	free(e);
	return a;
}

void guard_watch_blocker(uint64_t handle, struct guard_blocker *blocker)
{
	memset(blocker, 0, sizeof(*blocker));
	pthread_mutex_lock(&guard.lock);
	for (struct watch_ent *e = watch.ents; e; e = e->next)
		if (handle && e->handle == handle)
			*blocker = e->blocker;
	pthread_mutex_unlock(&guard.lock);
}

bool guard_post_after(struct sess *s, int ms, void (*fn)(struct sess *s, void *arg))
{
	struct watch_ent *e = calloc(1, sizeof(*e));
	if (!e)
		abort();
	e->conn_id = sess_conn_id(s);
	e->due_us = clk_mono_us() + (int64_t)ms * 1000;
	e->fn = fn;
	return watch_add(e) != 0;
}

bool guard_watch_ready(void)
{
	pthread_mutex_lock(&guard.lock);
	bool ready = watch.started && watch.capable && watch.checked_version == guard.conf.version;
	pthread_mutex_unlock(&guard.lock);
	return ready;
}

void guard_watch_get_stats(struct guard_watch_stats *out)
{
	pthread_mutex_lock(&guard.lock);
	*out = watch.stats;
	pthread_mutex_unlock(&guard.lock);
}

bool guard_watch_thread_start(void)
{
	if (pthread_create(&watch.thread, NULL, watch_main, NULL) != 0)
		return false;
	pthread_mutex_lock(&guard.lock);
	watch.started = true;
	pthread_mutex_unlock(&guard.lock);
	return true;
}

void guard_watch_wake_locked(void)
{
	pthread_cond_broadcast(&watch.cond);
}

void guard_watch_thread_stop(void)
{
	pthread_mutex_lock(&guard.lock);
	pthread_cond_broadcast(&watch.cond);
	bool started = watch.started;
	watch.started = false;
	pthread_mutex_unlock(&guard.lock);
	if (started)
		pthread_join(watch.thread, NULL);
}
