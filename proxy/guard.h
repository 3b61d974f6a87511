/*
 * Live guards: read-only probes run on worker threads.
 *
 * The policy builds probe SQL on the session's thread (rules/probe_sql.h),
 * hands it to guard_submit() and returns HOOK_WAIT. A worker runs each
 * probe on its own side connection (sideconn.h: the [guard] account,
 * probe_timeout_ms as connect/read/write and statement timeout, the
 * [tls] backend policy), stores the first row,
 * and posts done(s, arg) to the session's event loop with sess_post_id(). The
 * event loop never waits on MySQL.
 *
 * A job is shared by the session and the worker (reference counted): the
 * session drops its reference with guard_job_release() when it is done
 * with the results or when it ends first; the worker drops its own after
 * posting. Whoever drops last frees.
 */
#ifndef DDLGATE_PROXY_GUARD_H
#define DDLGATE_PROXY_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

struct sess;
struct guard_job;

#define GUARD_MAX_COLS 8

/* One probe's result, filled by the worker. */
struct guard_result {
	bool ok; /* the query ran; has_row tells whether it returned a row */
	bool has_row;
	unsigned ncols;
	char *vals[GUARD_MAX_COLS]; /* owned by the job; NULL = SQL NULL */
	unsigned long lens[GUARD_MAX_COLS];
	char error[256]; /* why it failed, when !ok */
	unsigned code;	 /* the server's error number when the query failed, else 0 */
	uint64_t us;	 /* how long it took */
};

/* Starts the workers (nthreads >= 1) with c's [guard] account and backend. */
bool guard_start(const struct cfg *c, int nthreads, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Takes a new account / backend / timeout (SIGHUP); connections reopen lazily. */
void guard_configure(const struct cfg *c);
/* Stops and joins the workers; queued jobs fail with "shutting down". */
void guard_stop(void);
/* True when [guard] user is set: live probes can run. */
bool guard_enabled(void);

/* A job of n probes, held once by the caller. */
struct guard_job *guard_job_new(size_t n) __attribute__((warn_unused_result));
/* Sets probe i's SQL (copied). */
void guard_job_set(struct guard_job *j, size_t i, const char *sql);
size_t guard_job_count(const struct guard_job *j);
/* Probe i's result; valid after done() ran. */
const struct guard_result *guard_job_result(const struct guard_job *j, size_t i);

/*
 * Queues j; a worker takes its own reference and, when every probe ran,
 * calls sess_post_id(conn_id, done, arg). Returns false when the guard is not
 * running (nothing is posted then).
 */
bool guard_submit(struct guard_job *j, struct sess *s, void (*done)(struct sess *s, void *arg),
		  void *arg) __attribute__((warn_unused_result));

/* Drops the caller's reference; a job still running is cancelled (not posted). */
void guard_job_release(struct guard_job *j);

/*
 * Lock-wait watcher: one thread with its own side connection (the [guard]
 * account, which needs PROCESS to see other accounts' threads and
 * CONNECTION ADMIN or SUPER to interrupt them). It keeps a DDL from
 * waiting for its metadata lock longer than a bound, and runs the backoff
 * timers of the DDLs it stopped.
 *
 * guard_watch_start() watches backend thread `thread`, which runs a DDL on
 * schema.table for session s: about every 20 ms it reads the thread's
 * state in information_schema.PROCESSLIST, and once the thread has been
 * "Waiting for table metadata lock" for bound_ms without a break while
 * other threads wait for a metadata lock too (queued behind it, most
 * likely), or for max_ms (>= bound_ms) at all, it sends KILL QUERY ID for
 * that one statement; half-way to the bound it notes who holds the table
 * (guard_watch_stop's blocker). Returns a handle, 0 when the watcher is
 * not running (the DDL then waits as the server lets it).
 *
 * guard_watch_stop() ends the watch (or look) of handle (0 is ignored) and
 * returns true when the watcher interrupted the statement; the blocker it
 * saw is copied into *blocker when not NULL (id 0 when none was seen).
 *
 * guard_look_start() looks before a DDL on schema.table is sent: about
 * every 250 ms the watcher asks the server which other connection holds a
 * metadata lock on the table with a transaction open for at least
 * older_than_ms (information_schema.METADATA_LOCK_INFO, so only where that
 * plugin is loaded). Once none does, or none can be known, or deadline_ms
 * passed with one still there, it posts fn(s, NULL) by id once;
 * guard_look_end() then gives the answer and the last blocker seen, and
 * ends the look. thread is the DDL session's own backend thread (never its
 * own blocker).
 *
 * guard_post_after() runs fn(s, NULL) on s's thread after ms (by id, with
 * sess_post_id); false when the watcher is not running.
 */
/* True when the watcher runs and its account may see and stop other
 * accounts' statements (checked at start and after each reconfigure):
 * without that the lock-wait protection is off. */
bool guard_watch_ready(void);

/* A connection that holds, or most likely holds, the metadata lock a DDL
 * needs, as the watcher saw it. */
struct guard_blocker {
	uint32_t id; /* its server connection id; 0 = none seen */
	char user[81], host[81];
	long trx_age_ms;     /* how long its transaction had been open (to the second) at
				seen_us; -1 unknown */
	int64_t seen_us;     /* monotonic time of that look */
	bool running;	     /* running statement now; else idle */
	bool exact;	     /* from the server's list of metadata locks on the table; else
				the oldest open transaction, a guess */
	char statement[201]; /* its current statement, or its last one when idle; "" unknown */
};
/* b as one phrase for messages and /status ("connection 12 (app@host, ...)"),
 * its transaction's age brought up to now. */
void guard_blocker_text(const struct guard_blocker *b, char *out, size_t len);
/* Brings b's transaction age up to now (b->seen_us = now). */
void guard_blocker_age(struct guard_blocker *b);

uint64_t guard_watch_start(struct sess *s, uint32_t thread, int bound_ms, int max_ms,
			   const char *schema, const char *table)
    __attribute__((warn_unused_result));
bool guard_watch_stop(uint64_t handle, struct guard_blocker *blocker);

enum guard_look {
	GUARD_LOOK_CLEAR,   /* no old transaction holds the table (any more) */
	GUARD_LOOK_BLOCKED, /* one still did at the deadline */
	GUARD_LOOK_UNKNOWN, /* the server does not say who holds a table (no plugin), or
			       the watcher could not ask */
};
uint64_t guard_look_start(struct sess *s, uint32_t thread, const char *schema, const char *table,
			  int older_than_ms, int deadline_ms, void (*fn)(struct sess *s, void *arg))
    __attribute__((warn_unused_result));
enum guard_look guard_look_end(uint64_t handle, struct guard_blocker *blocker);
/* The blocker the watch or look of handle sees now (id 0 = none); for /status. */
void guard_watch_blocker(uint64_t handle, struct guard_blocker *blocker);
bool guard_post_after(struct sess *s, int ms, void (*fn)(struct sess *s, void *arg))
    __attribute__((warn_unused_result));

/* Lock-wait counters for /metrics. */
struct guard_watch_stats {
	uint64_t watches;   /* DDLs watched */
	uint64_t cancels;   /* KILL QUERY sent for a wait past the bound */
	uint64_t retries;   /* backoff timers started: a stopped DDL sent again */
	uint64_t looks;	    /* looks before sending a DDL */
	uint64_t holds;	    /* ... that found an old transaction on the table and waited */
	uint64_t queued_us; /* time other threads spent waiting for a metadata lock while a
			       watched DDL waited (queries queued behind it), summed */
};
void guard_watch_get_stats(struct guard_watch_stats *out);

/* Probe counters for /metrics. */
struct guard_stats {
	uint64_t probes;
	uint64_t failures; /* including timeouts */
	uint64_t timeouts; /* stopped by max_statement_time or the read timeout */
	uint64_t us_total;
};
void guard_get_stats(struct guard_stats *out);

#endif
