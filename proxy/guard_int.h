/*
 * What the guard's probe workers (guard.c) and its lock-wait watcher
 * (guard_watch.c) share: the account, one lock, the stop flag, and the
 * side-connection helpers. Not for other modules.
 */
#ifndef DDLGATE_PROXY_GUARD_INT_H
#define DDLGATE_PROXY_GUARD_INT_H

#include <mysql.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/guard.h"
#include "proxy/sideconn.h"

/* The account and target, copied from the configuration. */
struct guard_conf {
	struct side_conf side; /* statement bound and read-only set for probes */
	char error[200];       /* why side could not be filled; "" = usable */
	uint64_t version;      /* bumped on reconfigure: workers reconnect */
};

struct guard_shared {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct guard_job *head, *tail;
	bool running, stopping;
	pthread_t *threads;
	int nthreads;
	struct guard_conf conf;
	struct guard_stats stats;
};
/* The probe workers' and the watcher's shared state (guard.c). */
extern struct guard_shared guard;

/* A side connection with gc's account; NULL with err set. */
MYSQL *guard_connect(const struct guard_conf *gc, char *err, size_t errlen);
/* Runs sql on m into r; false when the connection is broken (close it). */
bool guard_run_one(MYSQL *m, const char *sql, struct guard_result *r);

/* guard_watch.c: the watcher thread. start: false when it cannot run;
 * wake: call with guard.lock held (a new account to check, or the stop);
 * stop: joins it (guard.stopping set first). */
bool guard_watch_thread_start(void);
void guard_watch_wake_locked(void);
void guard_watch_thread_stop(void);

#endif
