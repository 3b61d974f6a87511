/* Live guards: worker threads running read-only probes on side connections. */
#include "proxy/guard.h"

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
#include "proxy/sideconn.h"

struct guard_job {
	atomic_int refs;
	atomic_bool cancelled;
	size_t n;
	char **sql;		      /* owned */
	struct guard_result *results; /* owned */
	uint64_t conn_id;	      /* the session to wake, by id (sess_post_id) */
	void (*done)(struct sess *s, void *arg);
	void *arg;
	struct guard_job *next; /* queue link */
};

struct guard_shared guard = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* Caller holds guard.lock. */
static void guard_conf_set(const struct cfg *c)
{
	struct guard_conf *gc = &guard.conf;

	/* A value that does not fit leaves the account set (guard_enabled)
	 * and every probe failing with the reason. */
	gc->error[0] = 0;
	if (!side_conf_from_cfg(&gc->side, c, c->guard.user, c->guard.password,
				c->guard.probe_timeout_ms, gc->error, sizeof(gc->error)) &&
	    !gc->error[0])
		snprintf(gc->error, sizeof(gc->error), "bad side connection settings");
	/* Probes only read; the server bounds each one more tightly than the
	 * whole-second client timeouts (MySQL also gets the MAX_EXECUTION_TIME
	 * hint from probe_sql_build). */
	gc->side.statement_ms = gc->side.timeout_ms;
	gc->side.read_only = true;
	gc->version++;
}

/* Opens a side connection with the current account; NULL and err on failure. */
MYSQL *guard_connect(const struct guard_conf *gc, char *err, size_t errlen)
{
	char why[200];
	MYSQL *m;

	if (gc->error[0]) {
		snprintf(err, errlen, "guard connection: %s", gc->error);
		return NULL;
	}
	m = side_connect(&gc->side, why, sizeof(why));
	if (!m)
		snprintf(err, errlen, "guard connection: %s", why);
	return m;
}

/* A probe's error code meaning probe_timeout_ms ran out: MariaDB's
 * max_statement_time (1969), MySQL's (3024), or the client's read timeout,
 * which shows as a connection lost during the query (2013). */
static bool guard_timed_out(unsigned code)
{
	return code == 1969 || code == 3024 || code == 2013;
}

/* Runs one probe on m and stores the first row in r. False when the
 * connection broke (the caller reconnects). */
bool guard_run_one(MYSQL *m, const char *sql, struct guard_result *r)
{
	int64_t t0 = clk_mono_us();
	bool conn_ok = true;

	if (mysql_query(m, sql) != 0) {
		/* the rule's guard text puts "probe failed: " before it */
		snprintf(r->error, sizeof(r->error), "%s", mysql_error(m));
		unsigned e = mysql_errno(m);
		r->code = e;
		conn_ok = !(e == 2006 || e == 2013 || e == 2055);
	} else {
		MYSQL_RES *res = mysql_store_result(m);
		if (!res) {
			snprintf(r->error, sizeof(r->error), "probe returned no result: %s",
				 mysql_error(m));
		} else {
			MYSQL_ROW row = mysql_fetch_row(res);
			unsigned long *lens = row ? mysql_fetch_lengths(res) : NULL;
			r->ok = true;
			r->ncols = mysql_num_fields(res);
			if (r->ncols > GUARD_MAX_COLS)
				r->ncols = GUARD_MAX_COLS;
			if (row) {
				r->has_row = true;
				for (unsigned i = 0; i < r->ncols; i++) {
					if (!row[i])
						continue;
					r->vals[i] = malloc(lens[i] + 1);
					if (!r->vals[i])
						abort();
					memcpy(r->vals[i], row[i], lens[i]);
					r->vals[i][lens[i]] = 0;
					r->lens[i] = lens[i];
				}
			}
			mysql_free_result(res);
			while (mysql_next_result(m) == 0) {
				res = mysql_store_result(m);
				if (res)
					mysql_free_result(res);
			}
		}
	}
	r->us = (uint64_t)(clk_mono_us() - t0);
	return conn_ok;
}

static void guard_job_unref(struct guard_job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) != 1)
		return;
	for (size_t i = 0; i < j->n; i++) {
		free(j->sql[i]);
		for (unsigned k = 0; k < GUARD_MAX_COLS; k++)
			free(j->results[i].vals[k]);
	}
	free(j->sql);
	free(j->results);
	free(j);
}

static void *guard_worker(void *unused)
{
	MYSQL *m = NULL;
	uint64_t version = 0;

	pthread_mutex_lock(&guard.lock);
	for (;;) {
		while (!guard.head && !guard.stopping)
			pthread_cond_wait(&guard.cond, &guard.lock);
		if (!guard.head && guard.stopping)
			break;
		struct guard_job *j = guard.head;
		guard.head = j->next;
		if (!guard.head)
			guard.tail = NULL;
		struct guard_conf gc = guard.conf; /* a snapshot: owns no memory */
		bool stopping = guard.stopping;
		pthread_mutex_unlock(&guard.lock);

		if (m && version != gc.version) {
			mysql_close(m);
			m = NULL;
		}
		for (size_t i = 0; i < j->n && !atomic_load(&j->cancelled); i++) {
			struct guard_result *r = &j->results[i];
			if (stopping) {
				snprintf(r->error, sizeof(r->error), "ddlgate is shutting down");
				continue;
			}
			if (!m) {
				m = guard_connect(&gc, r->error, sizeof(r->error));
				version = gc.version;
				if (!m)
					continue;
			}
			if (!guard_run_one(m, j->sql[i], r)) {
				mysql_close(m);
				m = NULL;
			}
		}

		pthread_mutex_lock(&guard.lock);
		for (size_t i = 0; i < j->n; i++) {
			guard.stats.probes++;
			guard.stats.us_total += j->results[i].us;
			if (!j->results[i].ok)
				guard.stats.failures++;
			if (guard_timed_out(j->results[i].code))
				guard.stats.timeouts++;
		}
		pthread_mutex_unlock(&guard.lock);
		if (!atomic_load(&j->cancelled))
			sess_post_id(j->conn_id, j->done, j->arg);
		guard_job_unref(j);
		pthread_mutex_lock(&guard.lock);
	}
	pthread_mutex_unlock(&guard.lock);
	if (m)
		mysql_close(m);
	mysql_thread_end();
	return NULL;
}

bool guard_start(const struct cfg *c, int nthreads, char *err, size_t errlen)
{
	if (nthreads < 1)
		nthreads = 1;
	pthread_mutex_lock(&guard.lock);
	if (guard.running) {
		pthread_mutex_unlock(&guard.lock);
		return true;
	}
	guard_conf_set(c);
	guard.stopping = false;
	guard.threads = calloc((size_t)nthreads, sizeof(*guard.threads));
	if (!guard.threads)
		abort();
	guard.nthreads = 0;
	pthread_mutex_unlock(&guard.lock);
	mysql_library_init(0, NULL, NULL);
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&guard.threads[i], NULL, guard_worker, NULL) != 0) {
			snprintf(err, errlen, "cannot start guard thread");
			guard_stop();
			return false;
		}
		guard.nthreads++;
	}
	if (!guard_watch_thread_start()) {
		snprintf(err, errlen, "cannot start the lock-wait watcher");
		guard_stop();
		return false;
	}
	guard.running = true;
	return true;
}

void guard_configure(const struct cfg *c)
{
	pthread_mutex_lock(&guard.lock);
	guard_conf_set(c);
	guard_watch_wake_locked(); /* the watcher checks the new account */
	pthread_mutex_unlock(&guard.lock);
}

void guard_stop(void)
{
	pthread_mutex_lock(&guard.lock);
	guard.stopping = true;
	pthread_cond_broadcast(&guard.cond);
	pthread_mutex_unlock(&guard.lock);
	guard_watch_thread_stop();
	for (int i = 0; i < guard.nthreads; i++)
		pthread_join(guard.threads[i], NULL);
	free(guard.threads);
	guard.threads = NULL;
	guard.nthreads = 0;
	guard.running = false;
}

bool guard_enabled(void)
{
	pthread_mutex_lock(&guard.lock);
	bool on = guard.running && guard.conf.side.user[0];
	pthread_mutex_unlock(&guard.lock);
	return on;
}

struct guard_job *guard_job_new(size_t n)
{
	struct guard_job *j = calloc(1, sizeof(*j));
	if (!j)
		abort();
	atomic_init(&j->refs, 1);
	atomic_init(&j->cancelled, false);
	j->n = n;
	j->sql = calloc(n ? n : 1, sizeof(*j->sql));
	j->results = calloc(n ? n : 1, sizeof(*j->results));
	if (!j->sql || !j->results)
		abort();
	return j;
}

void guard_job_set(struct guard_job *j, size_t i, const char *sql)
{
	free(j->sql[i]);
	j->sql[i] = strdup(sql);
	if (!j->sql[i])
		abort();
}

size_t guard_job_count(const struct guard_job *j)
{
	return j->n;
}

const struct guard_result *guard_job_result(const struct guard_job *j, size_t i)
{
	return &j->results[i];
}

bool guard_submit(struct guard_job *j, struct sess *s, void (*done)(struct sess *s, void *arg),
		  void *arg)
{
	pthread_mutex_lock(&guard.lock);
	if (!guard.running || guard.stopping) {
		pthread_mutex_unlock(&guard.lock);
		return false;
	}
	for (size_t i = 0; i < j->n; i++)
		if (!j->sql[i])
			j->sql[i] = strdup("SELECT NULL");
	j->conn_id = sess_conn_id(s);
	j->done = done;
	j->arg = arg;
	atomic_fetch_add(&j->refs, 1);
	j->next = NULL;
	if (guard.tail)
		guard.tail->next = j;
	else
		guard.head = j;
	guard.tail = j;
	pthread_cond_signal(&guard.cond);
	pthread_mutex_unlock(&guard.lock);
	return true;
}

void guard_job_release(struct guard_job *j)
{
	if (!j)
		return;
	atomic_store(&j->cancelled, true);
	guard_job_unref(j);
}

void guard_get_stats(struct guard_stats *out)
{
	pthread_mutex_lock(&guard.lock);
	*out = guard.stats;
	pthread_mutex_unlock(&guard.lock);
}
