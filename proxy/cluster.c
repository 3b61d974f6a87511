/* Cross-instance migration agreement: a named lock on a side connection. */
#include "proxy/cluster.h"
#include "proxy/clock.h"
#include "proxy/hook.h"
#include "proxy/session.h"
#include "proxy/sideconn.h"

#include <errno.h>
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLUSTER_POLL_MS 100
#define CLUSTER_MAX_WAITERS 256

/* A session waiting for a poll (fresh) or for the lock to be taken (held). */
struct cluster_waiter {
	uint64_t conn_id; /* the session to wake, by id (sess_post_id) */
	void (*fn)(struct sess *s, void *arg);
	void *arg;
	bool held;	     /* wait for the lock to be held, else for the next poll */
	uint64_t after;	     /* fresh: post once polls > after */
	int64_t deadline_us; /* held: clk_deadline_us() */
};

/* The account and target, copied from the configuration. */
struct cluster_conf {
	char lock[128];
	struct side_conf side; /* the [guard] account on the backend */
	char error[200];       /* why side could not be filled; "" = usable */
	uint64_t version;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stopping;
	bool want; /* a local migration runs */
	struct cluster_conf conf;
	struct cluster_status st;
	uint64_t polls; /* completed polls */
	struct cluster_waiter waiters[CLUSTER_MAX_WAITERS];
	size_t nwaiters;
} cl = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void cluster_conf_set(const struct cfg *c)
{
	struct cluster_conf *k = &cl.conf;
	snprintf(k->lock, sizeof(k->lock), "%s",
		 c->migration.cluster_lock ? c->migration.cluster_lock : "");
	/* Neither a statement bound nor a read-only session: GET_LOCK(..., 0)
	 * and IS_USED_LOCK answer at once, and the lock is held for as long as
	 * the migration runs. */
	k->error[0] = 0;
	if (!side_conf_from_cfg(&k->side, c, c->guard.user, c->guard.password,
				c->guard.probe_timeout_ms, k->error, sizeof(k->error)) &&
	    !k->error[0])
		snprintf(k->error, sizeof(k->error), "bad side connection settings");
	k->version++;
	cl.st.enabled = k->lock[0] && k->side.user[0];
	snprintf(cl.st.lock, sizeof(cl.st.lock), "%s", k->lock);
}

/* Runs q and returns the first column of the first row as a number;
 * *is_null for SQL NULL. False on any error (err filled). */
static bool cluster_scalar(MYSQL *m, const char *q, long long *out, bool *is_null, char *err,
			   size_t errlen)
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	if (mysql_query(m, q) != 0 || !(res = mysql_store_result(m))) {
		snprintf(err, errlen, "%s", mysql_error(m));
		return false;
	}
	row = mysql_fetch_row(res);
	*is_null = !row || !row[0];
	*out = (row && row[0]) ? strtoll(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	return true;
}

/*
 * Is server connection holder a ddlgate instance's? Every instance in
 * front of the server holds the lock on a connection of the [guard]
 * account, and an account always sees its own connections in the process
 * list (other accounts' only with PROCESS): a holder that is missing there
 * or runs as another account is a client that took the name. *known is
 * false when the query failed (err filled; the connection is suspect).
 */
static bool cluster_holder_is_ddlgate(MYSQL *m, long long holder, const char *user, bool *known,
				      char *err, size_t errlen)
{
	char q[128];
	MYSQL_RES *res;
	MYSQL_ROW row;
	bool ours;

	snprintf(q, sizeof(q), "SELECT USER FROM information_schema.PROCESSLIST WHERE ID = %lld",
		 holder);
	*known = false;
	if (mysql_query(m, q) != 0 || !(res = mysql_store_result(m))) {
		snprintf(err, errlen, "%s", mysql_error(m));
		return false;
	}
	row = mysql_fetch_row(res);
	ours = row && row[0] && strcmp(row[0], user) == 0;
	mysql_free_result(res);
	*known = true;
	return ours;
}

static MYSQL *cluster_connect(const struct cluster_conf *k, long long *my_id, char *err,
			      size_t errlen)
{
	char why[200];
	bool isnull;
	MYSQL *m;

	if (k->error[0]) {
		snprintf(err, errlen, "cluster lock connection: %s", k->error);
		return NULL;
	}
	m = side_connect(&k->side, why, sizeof(why));
	if (!m) {
		snprintf(err, errlen, "cluster lock connection: %s", why);
		return NULL;
	}
	if (!cluster_scalar(m, "SELECT CONNECTION_ID()", my_id, &isnull, why, sizeof(why))) {
		snprintf(err, errlen, "cluster lock connection: %s", why);
		mysql_close(m);
		return NULL;
	}
	return m;
}

/* Caller holds cl.lock. Posts every waiter whose wait is over: fresh ones
 * after a newer poll, held ones when settled (held, refused, unreachable)
 * or timed out. */
static void cluster_post_waiters(bool settled)
{
	size_t k = 0;
	for (size_t i = 0; i < cl.nwaiters; i++) {
		struct cluster_waiter *w = &cl.waiters[i];
		bool done = w->held ? (settled || clk_passed(w->deadline_us)) : cl.polls > w->after;
		if (done)
			sess_post_id(w->conn_id, w->fn, w->arg);
		else
			cl.waiters[k++] = *w;
	}
	cl.nwaiters = k;
}

/*
 * The cluster thread: keeps the lock while a local migration runs, and
 * polls who holds it. A failed side connection leaves DDL unguarded by the
 * cluster lock (fail open, reported in /status) rather than stopping all
 * DDL because of a monitoring account problem.
 */
static void *cluster_main(void *unused)
{
	MYSQL *m = NULL;
	long long my_id = 0;
	uint64_t version = 0;
	bool held = false;
	long long judged = 0;	  /* the last holder whose identity was checked */
	bool judged_ours = false; /* ... and whether it is a ddlgate instance */

	pthread_mutex_lock(&cl.lock);
	while (!cl.stopping) {
		struct cluster_conf k = cl.conf;
		bool want = cl.want;
		pthread_mutex_unlock(&cl.lock);

		char err[256] = "";
		char q[512], esc[300];
		long long holder = 0;
		bool isnull = true, ok = true;
		bool enabled = k.lock[0] && k.side.user[0];

		if (m && version != k.version) {
			mysql_close(m);
			m = NULL;
			held = false;
		}
		if (enabled && !m) {
			m = cluster_connect(&k, &my_id, err, sizeof(err));
			version = k.version;
			held = false;
		}
		if (enabled && m) {
			mysql_real_escape_string(m, esc, k.lock, strlen(k.lock));
			if (want && !held) {
				long long v;
				snprintf(q, sizeof(q), "SELECT GET_LOCK('%s', 0)", esc);
				ok = cluster_scalar(m, q, &v, &isnull, err, sizeof(err));
				held = ok && !isnull && v == 1;
			} else if (!want && held) {
				long long v;
				snprintf(q, sizeof(q), "SELECT RELEASE_LOCK('%s')", esc);
				ok = cluster_scalar(m, q, &v, &isnull, err, sizeof(err));
				held = false;
			}
			if (ok) {
				snprintf(q, sizeof(q), "SELECT IS_USED_LOCK('%s')", esc);
				ok = cluster_scalar(m, q, &holder, &isnull, err, sizeof(err));
			}
			if (ok && !isnull && holder != my_id && holder != judged) {
				bool known;
				judged_ours = cluster_holder_is_ddlgate(m, holder, k.side.user,
									&known, err, sizeof(err));
				ok = known;
				judged = known ? holder : 0;
				if (known && !judged_ours)
					fprintf(
					    stderr,
					    "ddlgate: cluster lock '%s' is held by server "
					    "connection "
					    "%lld, which is not a ddlgate instance's ([guard] "
					    "account "
					    "'%s'): ignored; no instance can announce a migration "
					    "while it holds the lock\n",
					    k.lock, holder, k.side.user);
			}
			if (!ok) {
				mysql_close(m);
				m = NULL;
				held = false;
			}
		}

		pthread_mutex_lock(&cl.lock);
		cl.st.enabled = enabled;
		cl.st.connected = m != NULL;
		cl.st.held_locally = held;
		cl.st.holder = (ok && m && !isnull) ? (uint64_t)holder : 0;
		bool other = cl.st.holder && (long long)cl.st.holder != my_id;
		cl.st.held_remotely = other && judged_ours;
		cl.st.held_by_client = other && !judged_ours;
		if (cl.st.held_by_client && !err[0])
			snprintf(err, sizeof(err),
				 "the lock is held by server connection %llu, not a ddlgate "
				 "instance's: ignored",
				 (unsigned long long)cl.st.holder);
		snprintf(cl.st.error, sizeof(cl.st.error), "%s", err);
		cl.polls++;
		cluster_post_waiters(!enabled || !m || held || other || !want);
		bool fresh = false;
		for (size_t i = 0; i < cl.nwaiters; i++)
			fresh |= !cl.waiters[i].held;
		if (cl.want == want && !fresh) { /* else: act at once */
			struct timespec ts = clk_wall_ts_in(CLUSTER_POLL_MS);
			if (!cl.stopping)
				pthread_cond_timedwait(&cl.cond, &cl.lock, &ts);
		}
	}
	cluster_post_waiters(true);
	for (size_t i = 0; i < cl.nwaiters; i++) /* fresh waiters too: nobody polls now */
		sess_post_id(cl.waiters[i].conn_id, cl.waiters[i].fn, cl.waiters[i].arg);
	cl.nwaiters = 0;
	pthread_mutex_unlock(&cl.lock);
	if (m)
		mysql_close(m); /* releases the lock with the connection */
	mysql_thread_end();
	return NULL;
}

bool cluster_start(const struct cfg *c, char *err, size_t errlen)
{
	pthread_mutex_lock(&cl.lock);
	cluster_conf_set(c);
	if (cl.running) {
		pthread_mutex_unlock(&cl.lock);
		return true;
	}
	cl.stopping = false;
	pthread_mutex_unlock(&cl.lock);
	mysql_library_init(0, NULL, NULL);
	if (pthread_create(&cl.thread, NULL, cluster_main, NULL) != 0) {
		snprintf(err, errlen, "cannot start the cluster thread: %s", strerror(errno));
		return false;
	}
	cl.running = true;
	return true;
}

void cluster_configure(const struct cfg *c)
{
	pthread_mutex_lock(&cl.lock);
	cluster_conf_set(c);
	pthread_cond_signal(&cl.cond);
	pthread_mutex_unlock(&cl.lock);
}

void cluster_stop(void)
{
	if (!cl.running)
		return;
	pthread_mutex_lock(&cl.lock);
	cl.stopping = true;
	pthread_cond_signal(&cl.cond);
	pthread_mutex_unlock(&cl.lock);
	pthread_join(cl.thread, NULL);
	cl.running = false;
}

void cluster_set_local(bool active)
{
	pthread_mutex_lock(&cl.lock);
	if (cl.want != active) {
		cl.want = active;
		pthread_cond_signal(&cl.cond);
	}
	pthread_mutex_unlock(&cl.lock);
}

bool cluster_remote_migration(char *who, size_t wholen)
{
	pthread_mutex_lock(&cl.lock);
	bool remote = cl.running && cl.st.enabled && cl.st.held_remotely;
	if (remote && who && wholen)
		snprintf(who, wholen,
			 "another ddlgate instance (lock '%s' held by server connection %llu)",
			 cl.st.lock, (unsigned long long)cl.st.holder);
	pthread_mutex_unlock(&cl.lock);
	return remote;
}

static bool cluster_add_waiter(struct sess *s, void (*fn)(struct sess *s, void *arg), void *arg,
			       bool held, int timeout_ms)
{
	pthread_mutex_lock(&cl.lock);
	bool ok = cl.running && !cl.stopping && cl.st.enabled && cl.st.connected &&
		  cl.nwaiters < CLUSTER_MAX_WAITERS;
	if (ok && held && (cl.st.held_locally || cl.st.held_remotely || cl.st.held_by_client))
		ok = false; /* settled already */
	if (ok) {
		struct cluster_waiter *w = &cl.waiters[cl.nwaiters++];
		*w = (struct cluster_waiter){.conn_id = sess_conn_id(s),
					     .fn = fn,
					     .arg = arg,
					     .held = held,
					     .after = cl.polls + 1};
		w->deadline_us = clk_deadline_us(timeout_ms);
		pthread_cond_signal(&cl.cond);
	}
	pthread_mutex_unlock(&cl.lock);
	return ok;
}

bool cluster_fresh_check(struct sess *s, void (*fn)(struct sess *s, void *arg), void *arg)
{
	return cluster_add_waiter(s, fn, arg, false, 0);
}

bool cluster_wait_held(struct sess *s, void (*fn)(struct sess *s, void *arg), void *arg,
		       int timeout_ms)
{
	return cluster_add_waiter(s, fn, arg, true, timeout_ms);
}

void cluster_get_status(struct cluster_status *out)
{
	pthread_mutex_lock(&cl.lock);
	*out = cl.st;
	out->enabled = cl.running && cl.st.enabled;
	pthread_mutex_unlock(&cl.lock);
}
