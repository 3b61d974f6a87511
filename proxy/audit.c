/* Audit log writer: a thread that appends hash-chained JSON Lines records, group-committed and
 * fsynced. */
#include "proxy/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "proxy/audit_int.h"
#include "proxy/clock.h"
#include "proxy/mem.h"
#include "proxy/metrics.h"

/*
 * Threads and data flow:
 *
 *   event loop 1 --audit_submit()--> lane 1 (its own lock) --+
 *   event loop 2 --audit_submit()--> lane 2 (its own lock) --+--> writer thread
 *   drift watch  --audit_submit()--> lane 3 (its own lock) --+     | merge by ticket
 *                                                                  | build JSON, redact, hash
 *                                                                  | one write() per batch
 *                                                                  | one fsync() per batch (always)
 *   event loops <--sess_post()-- durable callbacks <---------------+
 *                                                                  | lines --> mirror thread
 *
 * Every thread that submits gets a lane of its own: a list under a lock
 * that only it and the writer take, so event loops never contend with each
 * other. Each record draws a ticket from one counter while its lane is
 * locked; the writer takes every lane's list in one lock each, merges them
 * by ticket and writes only the unbroken run of tickets (a record whose
 * ticket was drawn but whose lane was already passed waits for the next
 * round). So seq follows the order in which records were submitted, as
 * with one queue, and a session's records (one thread) stay in order.
 *
 * Waking the writer costs a system call, so a record nobody waits for (no
 * callback: a read under record = all) wakes it only from a deep sleep;
 * after a round that wrote records the writer naps NAP_MS and collects what
 * came meanwhile, so a busy log is written (and fsynced) a few hundred
 * times a second, not once per handful of records. A record with a
 * callback (a DDL's intent, an outcome the client waits for) skips or ends
 * the nap at once.
 *
 * Only the writer thread touches the file, the chain state (seq, prev) and
 * the file size; the mutex mu guards the lane list, the request flags and
 * the counters that audit_sync() waits on. With [audit] mirror the writer
 * hands every line it wrote to the mirror's bounded queue and never waits
 * for it.
 */

#define RETRY_MS 1000
#define RETRY_MIN_FREE (64u << 10)
/* How long the writer waits for more records after a round that wrote some. */
#define NAP_MS 4
/* Records per write(): bounds the batch buffer and a callback's wait. */
#define BATCH_MAX 4096

/* One submitting thread's queue. Lanes live until audit_close(). */
struct audit_lane {
	struct audit_lane *next;	/* a->lanes, guarded by a->mu */
	pthread_t owner;		/* the thread that made it (immutable) */
	pthread_mutex_t mu;		/* the owner and the writer */
	struct audit_rec *head, **tail; /* guarded by mu; ticket order */
	bool closed;			/* guarded by mu: audit_close() began */
	struct audit_rec *reuse;	/* guarded by mu: written records for the owner */
	unsigned nreuse;
};

/* Written records kept per lane for its thread to reuse, and the largest
 * arena worth keeping (a record of a huge statement is freed). */
#define REUSE_MAX 256
#define REUSE_ARENA_MAX (32u << 10)

/* Each audit gets an id, so a thread's cached lane is never one of a log
 * closed since (its address may have been reused). */
static _Atomic uint64_t audit_ids;
static _Thread_local uint64_t tl_audit_id;
static _Thread_local struct audit_lane *tl_lane;

/*
 * The records a thread may reuse (audit_rec_reuse()), a list that belongs
 * to the thread and not to any log, so it outlives audit_close(); a
 * thread key rather than a thread-local pointer, so that the list is freed
 * when its thread ends.
 */
static pthread_key_t reuse_key;
static pthread_once_t reuse_once = PTHREAD_ONCE_INIT;
static bool reuse_ok;

static void reuse_free(void *list)
{
	for (struct audit_rec *r = list, *next; r; r = next) {
		next = r->next;
		audit_rec_free(r);
	}
}

static void reuse_init(void)
{
	reuse_ok = pthread_key_create(&reuse_key, reuse_free) == 0;
}

static bool reuse_ready(void)
{
	pthread_once(&reuse_once, reuse_init);
	return reuse_ok;
}

struct audit_rec *audit_rec_reuse(void)
{
	struct audit_rec *r = reuse_ready() ? pthread_getspecific(reuse_key) : NULL;
	if (!r || pthread_setspecific(reuse_key, r->next) != 0)
		return NULL;
	audit_rec_init(r);
	return r;
}

void audit_thread_setup(const char *name)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), name);
}

/*
 * Hands the records of list back to the lanes they came through, for
 * their threads to reuse (one lock per lane); frees those a lane has no
 * room for, and those with a large arena.
 */
struct reuse_batch {
	struct audit_lane *lane;
	struct audit_rec *head, *last;
	unsigned n;
};

static void recycle(struct audit_rec *list)
{
	struct reuse_batch to[16];
	size_t nto = 0;
	while (list) {
		struct audit_rec *r = list;
		list = r->next;
		size_t i = 0;
		while (i < nto && to[i].lane != r->lane)
			i++;
		if (!r->lane || r->arena.block_size > REUSE_ARENA_MAX ||
		    (i == nto && nto == sizeof to / sizeof to[0])) {
			audit_rec_free(r);
			continue;
		}
		audit_intent_put(r->intent);
		r->intent = NULL;
		arena_reset(&r->arena);
		if (i == nto)
			to[nto++] = (struct reuse_batch){r->lane, NULL, r, 0};
		r->next = to[i].head;
		to[i].head = r;
		to[i].n++;
	}
	for (size_t i = 0; i < nto; i++) {
		struct audit_lane *l = to[i].lane;
		struct audit_rec *spill = to[i].head;
		pthread_mutex_lock(&l->mu);
		if (l->nreuse < REUSE_MAX) {
			to[i].last->next = l->reuse;
			l->reuse = to[i].head;
			l->nreuse += to[i].n;
			spill = NULL;
		}
		pthread_mutex_unlock(&l->mu);
		reuse_free(spill);
	}
}

/*
 * Writes one batch: every record gets the next seq and is chained; one
 * write() for all of them, one fsync() when fsync = always. On a failed
 * write the partial batch is cut off again (when the file allows it) and
 * the chain does not advance; every callback then gets ok = false.
 * Frees the records.
 */
static void write_batch(struct audit *a, struct audit_rec *batch, size_t count)
{
	int64_t t0 = clk_mono_us();
	bool ok = true;
	if (a->fd < 0)
		ok = audit_file_open(a);
	if (ok && a->rotate_bytes && a->file_bytes >= a->rotate_bytes)
		ok = audit_rotate(a);

	struct audit_buf b = {a->batch_buf, 0, a->batch_cap};
	char prev[65], hash[65];
	memcpy(prev, a->prev, 65);
	uint64_t seq = a->seq;
	if (ok) {
		for (struct audit_rec *r = batch; r; r = r->next) {
			/* an outcome in the same batch reads its intent's seq */
			if (r->is_intent)
				atomic_store(&r->intent->seq, seq + 1);
			audit_line_append(a->instance, r, ++seq, prev, &a->scratch, &b, hash);
			memcpy(prev, hash, 65);
		}
		uint64_t before = a->file_bytes;
		if (!audit_write_all(a->fd, b.p, b.len)) {
			fprintf(stderr, "ddlgate: audit: write %s: %s\n", a->path, strerror(errno));
			if (ftruncate(a->fd, (off_t)before) != 0) {
				/* not a regular file, or the disk is gone: nothing to cut */
			}
			audit_file_close(a);
			ok = false;
		} else {
			a->file_bytes += b.len;
			if (a->mirror)
				audit_mirror_push(a->mirror, b.p, b.len);
			a->seq = seq;
			memcpy(a->prev, prev, 65);
			a->dirty = true;
			if (a->fsync_mode == CFG_FSYNC_ALWAYS) {
				if (audit_sync_fd(a->fd) != 0) {
					fprintf(stderr, "ddlgate: audit: fsync %s: %s\n", a->path,
						strerror(errno));
					audit_file_close(a);
					ok = false;
				} else {
					a->dirty = false;
					a->fsyncs++;
					a->last_fsync_us = clk_mono_us();
				}
			}
		}
	}
	if (b.cap > (4u << 20)) { /* one huge batch: do not keep its memory */
		free(b.p);
		b.p = NULL;
		b.cap = 0;
	}
	a->batch_buf = b.p;
	a->batch_cap = b.cap;
	audit_set_healthy(a, ok);
	if (!ok) /* the intents of this batch were never written */
		for (struct audit_rec *r = batch; r; r = r->next)
			if (r->is_intent)
				atomic_store(&r->intent->seq, 0);

	/* Outside mu: a thread's first metrics call registers its block under
	 * the metrics lock, which a scrape holds while it reads our stats. */
	int64_t t1 = clk_mono_us();
	if (ok)
		for (struct audit_rec *r = batch; r; r = r->next)
			metrics_audit_write((uint64_t)(t1 - r->submit_mono_us));

	pthread_mutex_lock(&a->mu);
	a->stats.batches++;
	if (ok) {
		a->stats.records += count;
		a->stats.bytes += b.len;
	} else {
		a->stats.failed += count;
	}
	a->stats.write_us_total += (uint64_t)(t1 - t0);
	a->stats.rotations = a->rotations;
	a->stats.fsyncs = a->fsyncs;
	a->last_seq_pub = a->seq;
	memcpy(a->last_hash_pub, a->prev, 65);
	pthread_mutex_unlock(&a->mu);

	for (struct audit_rec *r = batch; r; r = r->next)
		if (r->cb)
			r->cb(r->cb_arg, ok);
	recycle(batch);
}

/*
 * Whether the open file looks writable without writing a record: a
 * zero-length write() fails on a device that refuses writes (/dev/full),
 * and a regular file needs some free space on its file system. Used at
 * open, after a reopen, and by the once-a-second retry while unhealthy.
 */
static bool probe_writable(struct audit *a)
{
	if (a->fd < 0 || write(a->fd, "", 0) < 0)
		return false;
	struct stat st;
	struct statvfs vfs;
	if (fstat(a->fd, &st) != 0)
		return false;
	if (!S_ISREG(st.st_mode))
		return true;
	return fstatvfs(a->fd, &vfs) == 0 &&
	       (uint64_t)vfs.f_bavail * vfs.f_frsize >= RETRY_MIN_FREE && audit_sync_fd(a->fd) == 0;
}

static void retry_health(struct audit *a)
{
	if (a->fd < 0 && !audit_file_open(a))
		return;
	if (probe_writable(a))
		audit_set_healthy(a, true);
}

/* Records submitted and not yet taken out of the lanes (mu held or not). */
static bool lanes_pending(struct audit *a)
{
	return atomic_load(&a->tickets) > a->taken;
}

/* Merges two lists in ticket order (each already is). */
static struct audit_rec *merge_tickets(struct audit_rec *x, struct audit_rec *y)
{
	struct audit_rec *out = NULL, **t = &out;
	while (x && y) {
		struct audit_rec **lo = x->ticket < y->ticket ? &x : &y;
		*t = *lo;
		t = &(*lo)->next;
		*lo = (*lo)->next;
	}
	*t = x ? x : y;
	return out;
}

/*
 * Takes every lane's records (mu held) and returns the run of them whose
 * tickets follow a->next_ticket without a gap, in ticket order; the rest
 * stay in a->held for the next round. *count gets the run's length.
 * Writer thread.
 */
static struct audit_rec *take_records(struct audit *a, size_t *count)
{
	struct audit_rec *all = a->held;
	for (struct audit_lane *l = a->lanes; l; l = l->next) {
		pthread_mutex_lock(&l->mu);
		struct audit_rec *got = l->head;
		l->head = NULL;
		l->tail = &l->head;
		pthread_mutex_unlock(&l->mu);
		for (struct audit_rec *r = got; r; r = r->next)
			a->taken++;
		if (got)
			all = merge_tickets(all, got);
	}
	struct audit_rec *run = NULL, **t = &run;
	size_t n = 0;
	while (all && all->ticket == a->next_ticket) {
		*t = all;
		t = &all->next;
		all = all->next;
		a->next_ticket++;
		n++;
	}
	*t = NULL;
	a->held = all;
	*count = n;
	return run;
}

/*
 * Waits (mu held) until there is something to do. After a round that wrote
 * records (nap) it first waits NAP_MS for more, even when some are already
 * there (group commit: one write() and, with fsync = always, one fsync for
 * all that came meanwhile), unless a record with a callback is waiting or
 * arrives; then, if nothing came, it sleeps until any record, a request,
 * the fsync interval or the health retry.
 */
static void writer_wait(struct audit *a, bool nap)
{
	if (nap && !a->reopen_req && !a->closing) {
		/* the same handshake as below, over urgent */
		atomic_store(&a->wstate, W_NAP);
		if (!atomic_load(&a->urgent)) {
			struct timespec ts = clk_wall_ts_in(NAP_MS);
			pthread_cond_timedwait(&a->wake, &a->mu, &ts);
		}
		atomic_store(&a->wstate, W_BUSY);
	}
	while (!a->reopen_req && !a->closing) {
		/* Store the state, then look: a submitter adds its record, then
		 * reads the state (both sequentially consistent), so either it
		 * sees W_SLEEP and signals, or this sees its record. */
		atomic_store(&a->wstate, W_SLEEP);
		if (lanes_pending(a))
			break;
		bool interval = a->fsync_mode == CFG_FSYNC_INTERVAL && a->dirty;
		bool unhealthy = !atomic_load(&a->healthy);
		if (!interval && !unhealthy) {
			pthread_cond_wait(&a->wake, &a->mu);
			continue;
		}
		int64_t wait_ms = RETRY_MS;
		if (interval) {
			int64_t due =
			    (a->last_fsync_us - clk_mono_us()) / 1000 + a->fsync_interval_ms;
			if (due < wait_ms)
				wait_ms = due;
		}
		if (wait_ms > 0) {
			struct timespec ts = clk_wall_ts_in(wait_ms);
			if (pthread_cond_timedwait(&a->wake, &a->mu, &ts) != ETIMEDOUT)
				continue;
		}
		pthread_mutex_unlock(&a->mu);
		if (interval)
			audit_do_fsync(a);
		if (!atomic_load(&a->healthy))
			retry_health(a);
		pthread_mutex_lock(&a->mu);
	}
	atomic_store(&a->wstate, W_BUSY);
}

static void *writer_main(void *arg)
{
	struct audit *a = arg;
	audit_thread_setup("ddlgate-audit");
	bool nap = false;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		writer_wait(a, nap);
		atomic_store(&a->urgent, false); /* what is in the lanes now is taken */

		size_t count = 0;
		struct audit_rec *batch = take_records(a, &count);
		bool reopen = a->reopen_req;
		a->reopen_req = false;
		char *new_path = a->new_path;
		a->new_path = NULL;
		uint64_t path_req = a->path_req;
		bool closing = a->closing;
		if (a->next_pending) {
			a->fsync_mode = a->next_fsync;
			a->fsync_interval_ms = a->next_interval_ms;
			a->rotate_bytes = a->next_rotate;
			a->next_pending = false;
		}
		pthread_mutex_unlock(&a->mu);

		if (reopen) {
			audit_file_close(a);
			if (new_path) {
				free(a->path);
				a->path = new_path;
			}
			if (!audit_file_open(a)) {
				fprintf(stderr, "ddlgate: audit: open %s: %s\n", a->path,
					strerror(errno));
				audit_set_healthy(a, false);
			} else {
				audit_set_healthy(a, probe_writable(a));
			}
		}
		/* in slices of BATCH_MAX: a huge backlog neither grows the
		 * buffer without bound nor keeps callbacks waiting for all of it */
		while (batch) {
			struct audit_rec *rest = batch, *last = NULL;
			size_t n = 0;
			while (rest && n < BATCH_MAX) {
				last = rest;
				rest = rest->next;
				n++;
			}
			last->next = NULL;
			write_batch(a, batch, n);
			batch = rest;
		}
		if (a->fsync_mode == CFG_FSYNC_INTERVAL && a->dirty) {
			if (closing || clk_mono_us() - a->last_fsync_us >=
					   (int64_t)a->fsync_interval_ms * 1000)
				audit_do_fsync(a);
		}

		pthread_mutex_lock(&a->mu);
		a->handled = a->next_ticket;
		if (reopen)
			a->path_done = path_req;
		pthread_cond_broadcast(&a->done);
		nap = count > 0;
		if (a->closing && !lanes_pending(a) && !a->held)
			break;
	}
	pthread_mutex_unlock(&a->mu);
	audit_file_close(a);
	free(a->batch_buf);
	a->batch_buf = NULL;
	arena_cleanup(&a->scratch);
	return NULL;
}

/* ---- public API ---- */

static int fsync_interval(const struct cfg *cfg)
{
	return cfg->audit.fsync_interval_ms > 0 ? cfg->audit.fsync_interval_ms : 1000;
}

struct audit *audit_open(const struct cfg *cfg, char *err, size_t errlen)
{
	if (!cfg->audit.path || !*cfg->audit.path) {
		snprintf(err, errlen, "[audit] path is not set");
		return NULL;
	}
	struct audit *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&a->record, (int)cfg->audit.record);
	a->fsync_mode = cfg->audit.fsync;
	a->fsync_interval_ms = fsync_interval(cfg);
	a->rotate_bytes = cfg->audit.rotate_bytes;
	char host[256] = "";
	if (cfg->audit.instance && *cfg->audit.instance)
		snprintf(host, sizeof host, "%s", cfg->audit.instance);
	else if (gethostname(host, sizeof host - 1) != 0)
		snprintf(host, sizeof host, "ddlgate");
	a->instance = strdup(host);
	a->path = strdup(cfg->audit.path);
	a->fd = -1;
	arena_init(&a->scratch, 16384);
	a->id = atomic_fetch_add(&audit_ids, 1) + 1;
	atomic_init(&a->tickets, 0);
	atomic_init(&a->wstate, W_BUSY);
	atomic_init(&a->urgent, false);
	memcpy(a->prev, AUDIT_ZERO_HASH, 65);
	atomic_init(&a->healthy, true);
	a->last_fsync_us = clk_mono_us();

	if (audit_recover_chain(a->path, &a->seq, a->prev, err, errlen) < 0)
		goto fail;
	if (!audit_file_open(a)) {
		snprintf(err, errlen, "%s: %s", a->path, strerror(errno));
		goto fail;
	}
	if (!probe_writable(a)) {
		/* Start unhealthy: DDL is refused from the first statement. */
		fprintf(stderr, "ddlgate: audit: log %s cannot be written: DDL is refused\n",
			a->path);
		atomic_store(&a->healthy, false);
	}
	if (cfg->audit.mirror) {
		a->mirror = audit_mirror_start(cfg, err, errlen);
		if (!a->mirror) {
			audit_file_close(a);
			goto fail;
		}
	}
	a->last_seq_pub = a->seq;
	memcpy(a->last_hash_pub, a->prev, 65);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->wake, NULL);
	pthread_cond_init(&a->done, NULL);
	if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
		snprintf(err, errlen, "cannot start the audit writer thread");
		audit_file_close(a);
		audit_mirror_stop(a->mirror);
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->wake);
		pthread_cond_destroy(&a->done);
		goto fail;
	}
	metrics_audit_attach(a);
	return a;
fail:
	free(a->instance);
	free(a->path);
	free(a);
	return NULL;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	metrics_audit_detach(a);
	pthread_mutex_lock(&a->mu);
	a->closing = true;
	/* from here on a submit is refused; what is in the lanes is written */
	for (struct audit_lane *l = a->lanes; l; l = l->next) {
		pthread_mutex_lock(&l->mu);
		l->closed = true;
		pthread_mutex_unlock(&l->mu);
	}
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	while (a->lanes) {
		struct audit_lane *l = a->lanes;
		a->lanes = l->next;
		reuse_free(l->reuse);
		pthread_mutex_destroy(&l->mu);
		free(l);
	}
	audit_mirror_stop(a->mirror);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->wake);
	pthread_cond_destroy(&a->done);
	free(a->new_path);
	free(a->instance);
	free(a->path);
	free(a);
}

bool audit_wants(const struct audit *a, enum stmt_kind kind, bool is_write)
{
	switch ((enum cfg_audit_record)atomic_load(&((struct audit *)a)->record)) {
	case CFG_RECORD_ALL:
		return kind != STMT_EMPTY;
	case CFG_RECORD_WRITES:
		return kind == STMT_DDL || kind == STMT_DCL || (kind == STMT_DML && is_write);
	case CFG_RECORD_DDL:
		break;
	}
	return kind == STMT_DDL || kind == STMT_DCL;
}

bool audit_healthy(const struct audit *a)
{
	return atomic_load(&((struct audit *)a)->healthy);
}

/* The calling thread's lane of a: the cached one, else found by owner or
 * made (once per thread and log). */
static struct audit_lane *lane_of(struct audit *a)
{
	if (tl_audit_id == a->id)
		return tl_lane;
	pthread_t self = pthread_self();
	pthread_mutex_lock(&a->mu);
	struct audit_lane *l = a->lanes;
	while (l && !pthread_equal(l->owner, self))
		l = l->next;
	if (!l) {
		l = mem_calloc(1, sizeof(*l), "audit lane");
		l->owner = self;
		pthread_mutex_init(&l->mu, NULL);
		l->tail = &l->head;
		l->closed = a->closing;
		l->next = a->lanes;
		a->lanes = l;
	}
	pthread_mutex_unlock(&a->mu);
	tl_audit_id = a->id;
	tl_lane = l;
	return l;
}

bool audit_submit(struct audit *a, struct audit_rec *r, audit_durable_cb cb, void *arg)
{
	if (!r->ts_us)
		r->ts_us = clk_wall_us();
	r->submit_mono_us = clk_mono_us();
	r->cb = cb;
	r->cb_arg = arg;
	r->next = NULL;
	struct audit_lane *l = lane_of(a);
	pthread_mutex_lock(&l->mu);
	if (l->closed) {
		pthread_mutex_unlock(&l->mu);
		if (cb)
			cb(arg, false);
		audit_rec_free(r);
		return false;
	}
	r->ticket = atomic_fetch_add(&a->tickets, 1);
	r->lane = l;
	*l->tail = r;
	l->tail = &r->next;
	/* the records written since, for this thread's next ones */
	struct audit_rec *reuse = NULL;
	if (l->reuse && reuse_ready() && !pthread_getspecific(reuse_key)) {
		reuse = l->reuse;
		l->reuse = NULL;
		l->nreuse = 0;
	}
	pthread_mutex_unlock(&l->mu);
	if (reuse && pthread_setspecific(reuse_key, reuse) != 0)
		reuse_free(reuse);
	/* see writer_wait(): the ticket is drawn (and urgent set) before the
	 * state is read */
	if (cb)
		atomic_store(&a->urgent, true);
	int st = atomic_load(&a->wstate);
	if (st == W_SLEEP || (cb && st == W_NAP)) {
		pthread_mutex_lock(&a->mu);
		pthread_cond_signal(&a->wake);
		pthread_mutex_unlock(&a->mu);
	}
	return true;
}

void audit_reopen(struct audit *a)
{
	pthread_mutex_lock(&a->mu);
	a->reopen_req = true;
	a->path_req++;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
}

/*
 * The mirror is restart-only: starting, stopping or retargeting its thread
 * from a reload would either block the reloading thread on a backend that
 * may be down (the last attempt of the old mirror) or lose the queue, so a
 * reload that changes it only says so.
 */
void audit_reconfigure(struct audit *a, const struct cfg *cfg)
{
	atomic_store(&a->record, (int)cfg->audit.record);
	if (!audit_mirror_matches(a->mirror, cfg))
		fputs("ddlgate: audit: [audit] mirror and mirror_table changes take effect after a "
		      "restart\n",
		      stderr);
	char *path =
	    cfg->audit.path && *cfg->audit.path ? mem_strdup(cfg->audit.path, "audit path") : NULL;
	pthread_mutex_lock(&a->mu);
	a->next_fsync = cfg->audit.fsync;
	a->next_interval_ms = fsync_interval(cfg);
	a->next_rotate = cfg->audit.rotate_bytes;
	a->next_pending = true;
	if (path) {
		/* the writer owns a->path; it switches (or reopens the same) path */
		free(a->new_path);
		a->new_path = path;
		a->path_req++;
	}
	a->reopen_req = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
}

void audit_set_path(struct audit *a, const char *path)
{
	char *p = mem_strdup(path, "audit path");
	pthread_mutex_lock(&a->mu);
	free(a->new_path);
	a->new_path = p;
	a->reopen_req = true;
	uint64_t want = ++a->path_req;
	pthread_cond_signal(&a->wake);
	while (a->path_done < want && !a->closing)
		pthread_cond_wait(&a->done, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

void audit_sync(struct audit *a)
{
	uint64_t want = atomic_load(&a->tickets);
	pthread_mutex_lock(&a->mu);
	pthread_cond_signal(&a->wake); /* no nap: someone waits */
	while (a->handled < want)
		pthread_cond_wait(&a->done, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

uint64_t audit_last(const struct audit *a, char *hash_out)
{
	struct audit *m = (struct audit *)a;
	pthread_mutex_lock(&m->mu);
	uint64_t s = m->last_seq_pub;
	if (hash_out)
		memcpy(hash_out, m->last_hash_pub, AUDIT_HASH_HEX + 1);
	pthread_mutex_unlock(&m->mu);
	return s;
}

void audit_get_stats(const struct audit *a, struct audit_stats *out)
{
	struct audit *m = (struct audit *)a;
	pthread_mutex_lock(&m->mu);
	*out = m->stats;
	out->queued = atomic_load(&m->tickets) - m->handled;
	pthread_mutex_unlock(&m->mu);
	out->healthy = atomic_load(&m->healthy);
	if (m->mirror)
		audit_mirror_stats(m->mirror, out);
}
