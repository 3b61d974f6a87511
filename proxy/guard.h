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
 * "Waiting for table metadata lock" for bound_ms without a break, it notes
 * who holds the table (guard_watch_stop's blocker text) and sends
 * KILL QUERY ID for that one statement. Returns a handle, 0 when the
 * watcher is not running (the DDL then waits as the server lets it).
 *
 * guard_watch_stop() ends the watch of handle (0 is ignored) and returns
 * true when the watcher interrupted the statement; the blocker it saw is
 * copied into blocker ("" when unknown).
 *
 * guard_post_after() runs fn(s, NULL) on s's thread after ms (by id, with
 * sess_post_id); false when the watcher is not running.
 */
/* True when the watcher runs and its account may see and stop other
 * accounts' statements (checked at start and after each reconfigure):
 * without that the lock-wait protection is off. */
bool guard_watch_ready(void);
uint64_t guard_watch_start(struct sess *s, uint32_t thread, int bound_ms, const char *schema,
			   const char *table) __attribute__((warn_unused_result));
bool guard_watch_stop(uint64_t handle, char *blocker, size_t len);
bool guard_post_after(struct sess *s, int ms, void (*fn)(struct sess *s, void *arg))
    __attribute__((warn_unused_result));

/* Lock-wait counters for /metrics. */
struct guard_watch_stats {
	uint64_t watches; /* DDLs watched */
	uint64_t cancels; /* KILL QUERY sent for a wait past the bound */
	uint64_t retries; /* backoff timers started: a stopped DDL sent again */
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
