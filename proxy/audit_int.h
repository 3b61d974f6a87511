/*
 * Internals shared by the audit files; no other module includes this.
 *
 *   audit_rec.c      fills a struct audit_rec on the session's thread
 *   audit_line.c     turns it into one hash-chained JSON line (pure)
 *   audit.c          the writer thread: per-thread lanes, group commit, fsync, rotation
 *   audit_recover.c  finds where the chain stopped, at start-up
 *   audit_mirror.c   the optional second thread copying lines to the backend
 */
#ifndef DDLGATE_PROXY_AUDIT_INT_H
#define DDLGATE_PROXY_AUDIT_INT_H

#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/audit.h"
#include "rules/arena.h"

struct audit_rec_obj {
	struct audit_rec_obj *next;
	const char *schema; /* borrowed from the record's arena; NULL when unqualified */
	const char *table;  /* borrowed from the record's arena */
};

struct audit_rec_rule {
	struct audit_rec_rule *next;
	const char *id, *action, *message, *guard; /* record's arena; guard may be NULL */
};

/* A metadata-lock attempt (audit_attempt), strings in the record's arena. */
struct audit_rec_attempt {
	struct audit_rec_attempt *next;
	struct audit_attempt a;
};

/* What an intent record and its outcome record share (audit.h). seq is
 * written by the writer thread before the intent's callback runs, and read
 * by the writer when it writes the outcome (submitted after the callback). */
struct audit_intent {
	_Atomic uint64_t seq; /* 0: not written (yet, or failed) */
	atomic_int refs;
};

/* Filled by the session (audit_rec_*), then owned by the writer from
 * audit_submit() until its callback has run. */
struct audit_rec {
	struct audit_rec *next; /* queue link: the submitting thread's lane, then the writer's */
	uint64_t ticket;	/* submission order across all lanes (audit.c) */
	void *lane;		/* borrowed: the lane it came through (audit.c), for reuse */
	struct arena arena;	/* owns every string below */
	uint64_t conn_id;
	const char *client, *user, *schema;
	bool migration;
	const char *mig_tool, *mig_name;
	enum stmt_kind kind;
	const char *sql;
	size_t sql_len;
	size_t sql_full_len; /* before the AUDIT_MAX_STATEMENT cut */
	bool sql_ready;	     /* sql is already redacted and fp is its fingerprint
				(audit_rec_statement_text) */
	char fp[17];
	struct audit_rec_obj *objs, **objs_tail;
	struct audit_rec_rule *rules, **rules_tail;
	enum audit_decision decision;
	enum audit_outcome outcome;
	uint16_t error_code;
	uint64_t affected_rows;
	int64_t ts_us;
	uint64_t duration_us;
	int64_t submit_mono_us; /* set by audit_submit(): start of the durability latency */
	bool executed;		/* COM_STMT_EXECUTE: nparams is recorded */
	unsigned nparams;
	struct audit_rec_attempt *attempts, **attempts_tail; /* in the arena */
	const char **param_types;    /* arena, nparams entries; NULL = not decoded */
	const char **param_values;   /* arena, nparams entries (NULL entry = SQL NULL);
				      * NULL = types only */
	struct audit_intent *intent; /* reference owned; NULL: a single record */
	bool is_intent;		     /* the intent of the pair (else its outcome) */
	/* kind "drift" (audit_drift.c): a change the server made that no
	 * forwarded statement explains; strings in the arena */
	bool drift;
	const char *drift_type, *drift_change, *drift_detail;
	int64_t drift_since_us; /* the previous look, which did not show it yet */
	audit_durable_cb cb;
	void *cb_arg;
};

/*
 * A written record goes back to the thread that submitted it, which reuses
 * it for its next one (audit.c): no malloc on the event loop, no free on
 * the writer. audit_rec_reuse() returns one of the calling thread's, reset
 * as audit_rec_new() leaves a record, or NULL.
 */
struct audit_rec *audit_rec_reuse(void);
/* Zeroes every field of r but its arena (already reset) and sets the
 * defaults of a new record. */
void audit_rec_init(struct audit_rec *r);

/* A growable byte buffer; p is owned (free()), and grows through mem_realloc. */
struct audit_buf {
	char *p;
	size_t len, cap;
};
void audit_buf_add(struct audit_buf *b, const char *s, size_t n);
/* Makes room for n more bytes at b->p + b->len. */
void audit_buf_reserve(struct audit_buf *b, size_t n);

/*
 * Appends the line of r (seq, chained to prev, written by instance) with
 * its newline to b and writes the new hash into hash_out. Redaction and
 * the fingerprint are computed here, with memory from scratch, which is
 * reset first (the writer keeps one, so that a record costs no malloc);
 * NULL: from r's arena.
 */
void audit_line_append(const char *instance, struct audit_rec *r, uint64_t seq, const char *prev,
		       struct arena *scratch, struct audit_buf *b,
		       char hash_out[AUDIT_HASH_HEX + 1]);
/* µs since the epoch as 2026-11-24T02:03:04.123456Z (UTC). */
void audit_ts_format(int64_t us, char out[40]);

/*
 * Finds the last complete line of the file open as fd (size bytes): its
 * start and length, and in *tail_end the offset just after its newline
 * (bytes after it are a partial line left by a crash). False when the file
 * holds no complete line.
 */
bool audit_last_line_span(int fd, uint64_t size, uint64_t *start, uint64_t *llen,
			  uint64_t *tail_end);
/*
 * Where the chain of path stopped: its last record, or that of the newest
 * rotated sibling when path is missing or empty. A partial last line of
 * path (a crash mid-write, never acknowledged) is cut off. Returns 1 with
 * seq and hash filled, 0 when there is no chain yet, -1 when a last line is
 * not a valid record (message in err).
 */
int audit_recover_chain(const char *path, uint64_t *seq, char hash[AUDIT_HASH_HEX + 1], char *err,
			size_t errlen);

/* The backend mirror ([audit] mirror); see audit_mirror.c. */
struct audit_mirror;
/* Starts the mirror thread; NULL with err set when it cannot. */
struct audit_mirror *audit_mirror_start(const struct cfg *cfg, char *err, size_t errlen);
/* One last attempt for what is queued, then joins and frees m. NULL is a no-op. */
void audit_mirror_stop(struct audit_mirror *m);
/* Queues the newline-separated lines b[0..len) (copied). Never blocks on
 * the backend; drops and counts when the queue is full. Writer thread. */
void audit_mirror_push(struct audit_mirror *m, const char *b, size_t len);
/* Fills the mirror_* fields of out. */
void audit_mirror_stats(struct audit_mirror *m, struct audit_stats *out);
/* Whether cfg asks for the mirror m is (NULL: no mirror); a reload that
 * changes it is only taken at the next restart. */
bool audit_mirror_matches(const struct audit_mirror *m, const struct cfg *cfg);

/*
 * A helper thread of the audit that works in rounds (the drift watch, the
 * checkpoints): audit_ticker_start() runs fn(arg) on a new thread (false
 * when it cannot); fn loops on audit_ticker_wait(t, ms), which sleeps ms
 * and returns false once audit_ticker_stop() was called; audit_ticker_stop()
 * wakes and joins the thread. Embedded in its owner (init/cleanup pair).
 */
struct audit_ticker {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	bool closing; /* guarded by mu */
};
bool audit_ticker_start(struct audit_ticker *t, void *(*fn)(void *), void *arg)
    __attribute__((warn_unused_result));
bool audit_ticker_wait(struct audit_ticker *t, int64_t ms);
void audit_ticker_stop(struct audit_ticker *t);

/* Blocks every signal in the calling audit thread (the proxy's own threads
 * handle them) and names it for top -H and gdb. */
void audit_thread_setup(const char *name);

/* ---- the writer's log (audit.c) and its file (audit_file.c) ---- */

struct audit_lane;
/* What the writer is doing, for audit_submit() to decide whether to wake it. */
enum writer_state {
	W_BUSY,	 /* working: it looks at the lanes again before it waits */
	W_NAP,	 /* a short wait after a round: only records with a callback wake it */
	W_SLEEP, /* waiting for work: every record wakes it */
};

struct audit {
	/* Immutable after audit_open(). */
	uint64_t id;	/* audit_ids */
	char *instance; /* owned */
	pthread_t thread;
	struct audit_mirror *mirror; /* owned; NULL when [audit] mirror is off */

	/* Guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t wake;	  /* writer: work or a request arrived */
	pthread_cond_t done;	  /* waiters: handled / path_gen advanced */
	struct audit_lane *lanes; /* owned */
	uint64_t handled;	  /* tickets below this are written (or failed) */
	bool closing;
	bool reopen_req;
	char *new_path; /* owned; set by audit_set_path() / audit_reconfigure() */
	uint64_t path_req, path_done;
	struct audit_stats stats;
	uint64_t last_seq_pub;
	char last_hash_pub[AUDIT_HASH_HEX + 1];

	/* audit_reconfigure(): taken over by the writer with its next round. */
	bool next_pending;
	enum cfg_fsync next_fsync;
	int next_interval_ms;
	uint64_t next_rotate;

	atomic_bool healthy;
	atomic_int record;  /* enum cfg_audit_record, read by audit_wants() */
	atomic_int wstate;  /* enum writer_state */
	atomic_bool urgent; /* a record with a callback waits in a lane */
	/* The next ticket; on a line of its own, every submit writes it. */
	_Alignas(64) _Atomic uint64_t tickets;
	_Alignas(64) char tickets_pad_;

	/* Writer thread only. */
	enum cfg_fsync fsync_mode;
	int fsync_interval_ms;
	uint64_t rotate_bytes;
	char *path; /* owned */
	int fd;	    /* -1 when closed (after a failure) */
	uint64_t file_bytes;
	uint64_t seq;
	char prev[AUDIT_HASH_HEX + 1];
	char *batch_buf;      /* owned: kept between batches to spare malloc */
	struct arena scratch; /* redaction and fingerprint of one record at a time */
	size_t batch_cap;
	bool dirty;		/* written but not fsynced (interval mode) */
	uint64_t rotations;	/* published into stats under mu */
	uint64_t fsyncs;	/* published into stats under mu */
	int64_t last_fsync_us;	/* clk_mono_us() of the last fsync */
	uint64_t taken;		/* records taken out of the lanes */
	uint64_t next_ticket;	/* the ticket the next record written must have */
	struct audit_rec *held; /* taken, waiting for an earlier ticket; ticket order */
};

/* audit_file.c, writer thread only (and audit_open()). */
bool audit_file_open(struct audit *a);
int audit_sync_fd(int fd);
void audit_file_close(struct audit *a);
void audit_set_healthy(struct audit *a, bool ok);
bool audit_rotate(struct audit *a);
bool audit_write_all(int fd, const char *p, size_t n);
void audit_do_fsync(struct audit *a);

#endif
