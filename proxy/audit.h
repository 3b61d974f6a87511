/*
 * The audit log: a tamper-evident JSON Lines file of recorded statements.
 *
 * One record per recorded statement, written by a dedicated writer thread
 * so that a slow disk never stalls an event loop. Each record carries the
 * SHA-256 of the previous one (prev) and its own (hash); docs/audit.md
 * defines the exact bytes hashed so that a third party can verify a file
 * without ddlgate.
 *
 * How the proxy uses it (all calls are thread-safe unless noted):
 *
 *   a = audit_open(cfg, err, sizeof err);          at start-up (NULL: refuse to start)
 *
 *   per statement, on the session's thread:
 *     if (!audit_wants(a, st->kind, is_write)) skip;
 *     if (st->kind == STMT_DDL && cfg->audit.on_failure == CFG_ON_FAILURE_BLOCK
 *         && !audit_healthy(a))  -> refuse with "audit log unavailable", and
 *                                   still submit the record (outcome not_sent):
 *                                   its write, or the writer's once-a-second
 *                                   check, notices recovery. (An unwritable
 *                                   log is unhealthy from audit_open() on.)
 *     r = audit_rec_new();
 *     audit_rec_conn(r, hs->conn_id, hs->client, hs->user, hs->schema);
 *     audit_rec_session(r, is_migration, tool, name);
 *     audit_rec_stmt(r, st, sql, len, hs->schema);     kind, raw text (redacted
 *                                                      by the writer), objects
 *     (or audit_rec_statement() + audit_rec_object() when there is no struct stmt)
 *     audit_rec_decision(r, AUDIT_ALLOW);
 *     audit_rec_rule(r, "drop-column", "block", msg, guard) ...
 *     ... forward, wait for hook_result() ...
 *     audit_rec_outcome(r, AUDIT_OK, 0, affected_rows);
 *     audit_rec_timing(r, start_us, duration_us);
 *     audit_submit(a, r, on_durable, sess_ctx);        r now belongs to the log
 *     return false from hook_result(); on_durable(ctx, ok) runs on the writer
 *     thread: sess_post() back to the session, then sess_hook_release()
 *     (ok == false with on_failure = block: the DDL already ran; the answer
 *     is still delivered, but new DDL is refused while !audit_healthy()).
 *
 *   a statement that changes something is recorded ahead (pol_record.c):
 *     t = audit_rec_intent(r); audit_submit(a, r, cb, ctx); forward only
 *     after cb says ok; then its outcome record: audit_rec_answers(r2, t).
 *
 *   SIGHUP:  audit_reconfigure(a, new_cfg)  (new settings; reopens the path,
 *            which is what logrotate needs; audit_reopen(a) does only that)
 *
 * Files: audit_rec.c (the setters below), audit_line.c (line format and
 * hash chain, all that `ddlgate audit verify` links), audit.c (the writer
 * thread), audit_recover.c (continuing the chain at start-up),
 * audit_mirror.c (the backend copy); audit_int.h is their shared inside.
 *   SIGTERM: audit_close(a)    (drains the queue, fsyncs, joins the thread)
 */
#ifndef DDLGATE_PROXY_AUDIT_H
#define DDLGATE_PROXY_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "proxy/audit_line.h"
#include "rules/stmt.h"

/* Statements longer than this are cut in the record (see docs/audit.md). */
#define AUDIT_MAX_STATEMENT (1u << 20)

struct audit;
struct audit_rec;

enum audit_decision { AUDIT_ALLOW, AUDIT_WARN, AUDIT_BLOCK, AUDIT_HOLD };

enum audit_outcome {
	AUDIT_OK,	/* the server answered OK or rows */
	AUDIT_ERROR,	/* the server answered ERR */
	AUDIT_NOT_SENT, /* ddlgate refused it: never reached the server */
	AUDIT_ABORTED,	/* a leg went away before the answer */
	AUDIT_PENDING,	/* an intent record: the statement goes to the server next */
	AUDIT_PREPARED, /* the server prepared it (COM_STMT_PREPARE): nothing ran */
};

/*
 * Called once per submitted record on the writer thread: ok is true when
 * the record is durable (fsync = always: written and fsynced; interval:
 * written), false when it could not be written. Must not block; post to
 * the session's own loop.
 */
typedef void (*audit_durable_cb)(void *arg, bool ok);

/*
 * Opens the log at cfg->audit.path (created 0640 if missing), reads back the
 * last record of that file, or of the newest rotated sibling when the file
 * is empty, to continue its seq and hash chain, and starts the writer
 * thread. Copies what it needs from cfg (which may be freed afterwards).
 * Returns NULL with a message in err when the path is not set, cannot be
 * opened, or its last line is not a valid record (the chain cannot be
 * continued honestly; move the file aside).
 */
struct audit *audit_open(const struct cfg *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Stops accepting records, writes and fsyncs everything queued, runs every
 * pending callback, joins the writer thread and frees a. NULL is a no-op.
 */
void audit_close(struct audit *a);

/* Whether a statement of this kind is recorded under [audit] record. DDL
 * and DCL (privileges, accounts) are always recorded; writes adds DML
 * writes; all adds the rest. (Server configuration changes, STMT_OTHER to
 * the classifier, are recorded by the policy like DDL.) */
bool audit_wants(const struct audit *a, enum stmt_kind kind, bool is_write);

/*
 * False when the log cannot be written: known at open or after a reopen
 * when a zero-length write fails (/dev/full) or a regular file's file
 * system has no room, and after any failed write or fsync. True again after
 * the next successful write, or when the writer's once-a-second retry finds
 * the file writable again.
 */
bool audit_healthy(const struct audit *a);

/*
 * Queues r for writing and takes ownership of it (also on failure). cb may
 * be NULL. Returns false when the log is closing; cb is then called with
 * ok = false before audit_submit returns.
 */
bool audit_submit(struct audit *a, struct audit_rec *r, audit_durable_cb cb, void *arg);

/* Asks the writer to close and reopen the path after the current batch:
 * for SIGHUP after logrotate moved the file. The chain continues. */
void audit_reopen(struct audit *a);

/*
 * SIGHUP with a new configuration: takes over [audit] record at once, and
 * fsync, fsync_interval_ms, rotate_bytes and path with the writer's next
 * round (a changed path switches files, the same path is reopened, which
 * is what logrotate needs). instance, mirror and mirror_table need a
 * restart (a change is reported on stderr). Does not block; cfg may be
 * freed afterwards.
 */
void audit_reconfigure(struct audit *a, const struct cfg *cfg);

/*
 * Like audit_reopen() but switches to another path (tests, and a SIGHUP
 * that changed [audit] path). Blocks until the writer has switched.
 */
void audit_set_path(struct audit *a, const char *path);

/* Blocks until every record submitted before the call has been handled and
 * its callback has run. Not for event-loop threads. */
void audit_sync(struct audit *a);

/* The seq of the last record written, and its hash (hex, NUL-terminated,
 * AUDIT_HASH_HEX + 1 bytes). For /status and tests. */
uint64_t audit_last(const struct audit *a, char *hash_out);

/* Counters for /metrics (rendered by proxy/metrics.c, named in docs/audit.md). */
struct audit_stats {
	uint64_t records; /* written */
	uint64_t failed;  /* records whose write failed */
	uint64_t bytes;	  /* bytes of records written */
	uint64_t batches; /* write() + fsync rounds */
	uint64_t fsyncs;  /* successful fsync() calls */
	uint64_t rotations;
	uint64_t write_us_total; /* time spent in write+fsync */
	uint64_t queued;	 /* submitted, not yet handled */
	bool healthy;		 /* audit_healthy() */
	/* [audit] mirror: lines inserted into the backend table, dropped (queue
	 * full, or the backend gone at close), failed attempts, waiting. */
	uint64_t mirror_inserted, mirror_dropped, mirror_errors, mirror_queued;
	bool mirror_connected;
};
void audit_get_stats(const struct audit *a, struct audit_stats *out);

/*
 * A record being filled by the caller. All strings are copied in; NULL
 * means "unknown" and becomes JSON null (or "" where the field is always a
 * string). audit_rec_free() is only for a record never submitted.
 */
struct audit_rec *audit_rec_new(void) __attribute__((warn_unused_result));
void audit_rec_free(struct audit_rec *r);

void audit_rec_conn(struct audit_rec *r, uint64_t conn_id, const char *client, const char *user,
		    const char *schema);
/* session = migration when migration is true; tool and name may be NULL
 * (the record's "migration" is null when both are NULL and migration is false). */
void audit_rec_session(struct audit_rec *r, bool migration, const char *tool, const char *name);
/* The raw statement text; secrets are redacted and the fingerprint computed
 * on the writer thread. */
void audit_rec_statement(struct audit_rec *r, enum stmt_kind kind, const char *sql, size_t len);
/*
 * A statement text recorded many times (the executes of one prepared
 * statement), redacted and fingerprinted once instead of by the writer
 * for every record. audit_text_make() returns false (t empty) for a text
 * longer than a record keeps, which is recorded with audit_rec_statement().
 */
struct audit_text {
	char *red; /* owned: the text as the log shows it */
	size_t len;
	char fp[17];
};
bool audit_text_make(struct audit_text *t, const char *sql, size_t len);
void audit_text_free(struct audit_text *t);
void audit_rec_statement_text(struct audit_rec *r, enum stmt_kind kind, const struct audit_text *t);
/* One target object; schema may be NULL (the record then says just "table"). */
void audit_rec_object(struct audit_rec *r, const char *schema, const char *table);
/*
 * Shortcut for a parsed statement: audit_rec_statement() with st->kind plus
 * one audit_rec_object() per st->objects entry (and those of the DDL found
 * inside a routine body or PREPARE), unqualified names qualified with
 * default_schema (the session's current schema; may be NULL or "").
 */
void audit_rec_stmt(struct audit_rec *r, const struct stmt *st, const char *sql, size_t len,
		    const char *default_schema);
/* An execution of a prepared statement (COM_STMT_EXECUTE) with count
 * parameters: the record gets "params": {"count": N}. */
void audit_rec_params(struct audit_rec *r, unsigned count);
/* One metadata-lock attempt of a DDL ddlgate protected: a wait before it
 * was sent (sent false: an old transaction held the table) or one sending.
 * The record gets "attempts": [...] in the order added. Strings are copied;
 * blocker_id 0 = no blocker seen (the strings are then ignored). */
struct audit_attempt {
	bool sent;
	int64_t waited_ms;
	bool cancelled; /* ddlgate stopped the wait (KILL QUERY) */
	bool retried;	/* the DDL went (again) to the server after it */
	uint32_t blocker_id;
	const char *blocker_user, *blocker_host, *blocker_statement;
	long blocker_trx_age_ms; /* -1 = unknown */
	bool blocker_running;	 /* else idle */
	bool blocker_exact;	 /* from the server's metadata-lock list, else a guess */
};
void audit_rec_attempt(struct audit_rec *r, const struct audit_attempt *a);
/*
 * After audit_rec_params(): the summary of the count parameters. types[i]
 * is each one's type name ("int", "varchar", ...); types NULL = they could
 * not be decoded ("types": null). values NULL = types only; else values[i]
 * is the text to show (already redacted and cut by the caller), NULL for
 * SQL NULL. Strings are copied.
 */
void audit_rec_param_list(struct audit_rec *r, const char *const *types, const char *const *values);
void audit_rec_decision(struct audit_rec *r, enum audit_decision d);
/* One rule that fired: action is "block" | "warn" | "hold" | "allowed" (lifted
 * by a directive); guard is the guard's result or NULL when there was none. */
void audit_rec_rule(struct audit_rec *r, const char *id, const char *action, const char *message,
		    const char *guard);
/* error_code is recorded for AUDIT_ERROR only, affected_rows for AUDIT_OK only. */
void audit_rec_outcome(struct audit_rec *r, enum audit_outcome o, uint16_t error_code,
		       uint64_t affected_rows);
/* When the statement arrived (µs since the epoch, 0 = now) and how long it
 * took until the server's answer. */
void audit_rec_timing(struct audit_rec *r, int64_t ts_us, uint64_t duration_us);

/*
 * Write-ahead pairs (docs/audit.md, "Intent and outcome"). A statement that
 * changes something is recorded twice: an intent record (phase intent,
 * outcome pending) made durable before the statement is forwarded, and an
 * outcome record (phase outcome) whose "intent" field is the intent's seq.
 * The seq is only known on the writer thread, so the two records share a
 * struct audit_intent, reference counted: audit_rec_intent() makes r an
 * intent and returns a reference for the caller, which hands it to the
 * outcome record with audit_rec_answers() (or drops it with
 * audit_intent_put() when no outcome will follow).
 */
struct audit_intent;
struct audit_intent *audit_rec_intent(struct audit_rec *r) __attribute__((warn_unused_result));
/* r answers the intent t; takes over the caller's reference to t. */
void audit_rec_answers(struct audit_rec *r, struct audit_intent *t);
/* The seq the intent record was written with: 0 until it is written, and
 * when its write failed. Valid once its durability callback has run. */
uint64_t audit_intent_seq(const struct audit_intent *t);
void audit_intent_put(struct audit_intent *t);

/* About how many bytes r's line takes (statement text as JSON, objects,
 * rules and the fixed fields): what the up-front free-space check asks for. */
size_t audit_rec_estimate(const struct audit_rec *r);
/* Cuts the statement text of r to at most max bytes (the record says it
 * was cut and how long the statement was). */
void audit_rec_cut(struct audit_rec *r, size_t max);

/* Names used in the records, for other modules that print them. */
const char *audit_decision_name(enum audit_decision d);
const char *audit_outcome_name(enum audit_outcome o);
const char *audit_kind_name(enum stmt_kind k);

#endif
