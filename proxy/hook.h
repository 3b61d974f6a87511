/*
 * The inspection hook: the one seam between the relay and everything that
 * decides or records (policy, migration tracking, audit).
 *
 * The relay (session*.c) knows packets; the hook knows statements. The relay
 * calls hook_command() with every complete client command that carries SQL
 * or changes session state, before a byte of it reaches the server, and
 * hook_result() when the server's answer to one statement is complete.
 * Both run on the session's event-loop thread and must not block: a hook
 * that needs to wait (a hold, a live probe, an audit fsync) returns
 * HOOK_WAIT and later calls sess_hook_resume() on that same thread (post to
 * it with sess_post_id() from other threads: the one way to wake a session).
 *
 * Ownership: payload pointers are borrowed for the duration of the call
 * only. struct hook_sess is owned by the relay and valid until
 * hook_session_end() returns.
 */
#ifndef DDLGATE_PROXY_HOOK_H
#define DDLGATE_PROXY_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sess;
struct snap;
struct audit;
struct pkt_exec_stmt;

/* What the relay tells the hook about a session. Fields are updated by the
 * relay only; the hook reads them. */
struct hook_sess {
	uint64_t conn_id;	/* ddlgate's connection id, unique per process */
	uint32_t server_thread; /* the backend's connection id from its greeting */
	unsigned lex_server;	/* how the server reads SQL: rules/lex.h server bits
				 * (version, MySQL or MariaDB) from its greeting */
	char client[64];	/* "addr:port" */
	char user[128];		/* from the handshake response / COM_CHANGE_USER */
	char schema[192];	/* current schema: handshake, COM_INIT_DB, USE */
	bool tls;		/* client leg is TLS */
	bool compressed;
	bool multi_statements; /* CLIENT_MULTI_STATEMENTS or COM_SET_OPTION */
	void *policy;	       /* owned by the hook: per-session state */
	/* Added by the relay (session_*.c): */
	uint32_t
	    capabilities; /* negotiated client flags (pkt.h CLIENT_*): pkt_query_sql() needs them */
	uint8_t command;  /* command byte in flight (COM_QUERY, COM_STMT_EXECUTE, ...) */
	bool want_first_value;	  /* set by the hook: fill hook_result.first_value for
				   * one-column text results (e.g. GET_LOCK); off = no cost */
	bool keep_command;	  /* set by the hook before forwarding a single-packet
				   * COM_QUERY (a one-statement DDL) or a COM_STMT_EXECUTE
				   * of a prepared DDL without parameters: the relay keeps
				   * its bytes for sess_hook_resend(); cleared by the
				   * relay at forward */
	bool watch_executes;	  /* set by the hook (once it kept a prepared statement:
				   * a DDL, a CALL, a lock call, one the audit records):
				   * call hook_stmt_execute() / hook_stmt_close(); off =
				   * executes stream straight through at no cost. While
				   * set, the relay also remembers each statement it sees
				   * prepared (parameter count, bound types, long data) */
	char client_pid[24];	  /* connection attribute _pid ("" = not sent): with user
				   * and host it tells the client process apart */
	char client_prog[48];	  /* program_name, else _client_name ("" = not sent) */
	size_t step_to;		  /* set by the hook with HOOK_FORWARD of a single-packet
				   * COM_QUERY: send only the SQL text's bytes [0, step_to)
				   * now, the first step of a script judged in steps (see
				   * sess_hook_step); 0 = the whole command. Cleared by the
				   * relay at forward */
	uint16_t server_status;	  /* the server's status flags (pkt.h SERVER_STATUS_*) from its
				   * last OK / EOF to the client's commands; never from a
				   * private query's answer */
	bool server_status_known; /* set once such a packet was seen */
};

enum hook_verdict {
	HOOK_FORWARD, /* send the command to the server */
	HOOK_REJECT,  /* answer the client with reply, forward nothing */
	HOOK_WAIT,    /* decision pending: the hook will call sess_hook_resume() */
};

/* An ERR packet's content. */
struct hook_reply {
	uint16_t code;	  /* e.g. 1290 */
	char sqlstate[6]; /* "HY000" */
	char message[1024];
};

/* The server's answer to one statement of a command. A multi-statement
 * COM_QUERY gets one per statement, in order; index counts from 0. */
struct hook_result {
	uint32_t index;
	bool ok;      /* OK or a result set: true; ERR: false */
	bool aborted; /* the server or the client went away first */
	bool more;    /* SERVER_MORE_RESULTS_EXISTS: another follows */
	uint16_t error_code;
	char sqlstate[6];
	const char *error_message; /* borrowed; NULL when ok */
	size_t error_message_len;
	uint64_t affected_rows;
	uint64_t last_insert_id;
	uint16_t warnings;	    /* the OK packet's warning count (notes included) */
	bool result_set;	    /* the answer was rows */
	const uint8_t *first_value; /* first column of the first row, borrowed; NULL if none */
	size_t first_value_len;	    /* (GET_LOCK / RELEASE_LOCK return values) */
	bool first_value_null;
	uint32_t stmt_id; /* COM_STMT_PREPARE answered OK: the new statement's id; else 0 */
};

/*
 * The answer to a private query (sess_hook_private_query): what the policy
 * learns from the session's own backend connection. Values are NUL-ended
 * copies owned by the relay, valid during the done callback only.
 */
#define PRIVATE_MAX_COLS 8 /* columns of the first row kept */
#define PRIVATE_KEEP 8192  /* bytes of the first row kept */
enum private_kind {
	PRIVATE_FAILED, /* no answer: timed out, too long to send, or a broken reply */
	PRIVATE_OK,	/* OK without rows */
	PRIVATE_ERR,	/* the server refused it: code, sqlstate, message */
	PRIVATE_ROWS,	/* a result set: ncols, rows, the first row */
};
struct private_result {
	enum private_kind kind;
	uint16_t code; /* ERR */
	char sqlstate[6];
	char message[256]; /* ERR, or why it FAILED */
	uint64_t affected_rows;
	unsigned ncols;
	uint64_t rows;	/* rows the server sent (all of them counted, only the first kept) */
	bool has_row;	/* vals / lens hold the first row */
	bool truncated; /* the first row had more columns or bytes than were kept */
	const char *vals[PRIVATE_MAX_COLS]; /* NULL = SQL NULL */
	unsigned long lens[PRIVATE_MAX_COLS];
};

/* Called once after authentication succeeds. */
void hook_session_begin(struct sess *s, struct hook_sess *hs);
/* Called once when the session ends (any reason); hs->policy must be freed. */
void hook_session_end(struct sess *s, struct hook_sess *hs);
/* COM_CHANGE_USER and COM_RESET_CONNECTION succeeded: session state reset. */
void hook_session_reset(struct sess *s, struct hook_sess *hs);

/*
 * A complete client command: payload[0] is the command byte, len counts it,
 * reassembled across 16 MiB continuation packets (and decompressed).
 * Called for COM_QUERY, COM_STMT_PREPARE, COM_INIT_DB, COM_PROCESS_KILL
 * (its answer, too, goes to hook_result()) and the commands the relay
 * refuses by default (replication, LOCAL INFILE). On HOOK_REJECT the
 * relay sends reply as an ERR packet and the command is over.
 */
enum hook_verdict hook_command(struct sess *s, struct hook_sess *hs, const uint8_t *payload,
			       size_t len, struct hook_reply *reply);

/* A COM_STMT_EXECUTE as the relay hands it to the hook. */
struct hook_exec {
	uint32_t stmt_id;	/* as sent (MariaDB: 0xFFFFFFFF = the last prepared) */
	const uint8_t *payload; /* borrowed: the whole command, command byte first,
				 * reassembled across continuation packets */
	size_t len;
	const struct pkt_exec_stmt *stmt; /* borrowed: what the relay remembers of the
					   * statement (pkt_exec.h: parameter count, the
					   * types bound last, SEND_LONG_DATA parameters);
					   * NULL when it was prepared before the hook
					   * watched executes */
};

/*
 * COM_STMT_EXECUTE x of a prepared statement, called only while
 * hs->watch_executes is set, with the whole execute received (continuation
 * packets included) and before a byte of it reaches the server. Verdicts as
 * for hook_command(): HOOK_REJECT answers reply as an ERR and discards the
 * execute (SEND_LONG_DATA already forwarded for it stays with the server);
 * HOOK_WAIT suspends the session until sess_hook_resume(). The execute's
 * answer then goes to hook_result() as for any command. x and what it
 * points to are borrowed for the call; the relay updates x->stmt's types
 * before the call and forgets its long data once the execute is forwarded.
 *
 * COM_STMT_CLOSE of stmt_id (no answer; it is forwarded whatever the hook
 * does), also only while hs->watch_executes is set.
 *
 * The relay (session.c) provides weak defaults (forward / nothing); the
 * policy overrides them with its own definitions.
 */
enum hook_verdict hook_stmt_execute(struct sess *s, struct hook_sess *hs, const struct hook_exec *x,
				    struct hook_reply *reply);
void hook_stmt_close(struct sess *s, struct hook_sess *hs, uint32_t stmt_id);

/*
 * The server finished answering one statement. Return true to let the relay
 * deliver the answer now; false to make it wait until the hook calls
 * sess_hook_release() (a DDL's audit record must be durable before the
 * client sees the answer).
 */
bool hook_result(struct sess *s, struct hook_sess *hs, const struct hook_result *r);

/*
 * Process-wide policy lifecycle, called by serve.c on its main thread,
 * which is the one place that starts and stops threads:
 *
 *   start:  audit_open -> hook_init -> guard_start -> cluster_start
 *           -> hook_ticker_start -> admin, workers
 *   SIGHUP: hook_reload with the new snapshot
 *   stop:   workers -> hook_ticker_stop -> cluster_stop -> guard_stop
 *           -> hook_shutdown -> audit_close
 *
 * hook_init() before the first session: snap is the configuration loaded
 * once by serve.c (the hook takes a reference of its own); audit is the
 * log serve.c opened (NULL = no [audit] path), borrowed until
 * hook_shutdown(). Registers the admin endpoints. false = refuse to start,
 * err says why.
 * hook_reload() after SIGHUP built a new snapshot: new sessions and the
 * next command of each session judge with it; guard, cluster and audit
 * settings are applied (audit_reconfigure: record, fsync, rotation, a new
 * path; the same path is reopened for logrotate). false keeps the old one.
 * hook_shutdown() once after the last session ended: drops the snapshot
 * and lets go of the audit log.
 */
bool hook_init(struct snap *snap, struct audit *audit, char *err, size_t errlen)
    __attribute__((warn_unused_result));
bool hook_reload(struct snap *snap, char *err, size_t errlen) __attribute__((warn_unused_result));
void hook_shutdown(void);

/* The hold ticker thread: wakes sessions held by a migration conflict a
 * few times a second to check again. */
bool hook_ticker_start(char *err, size_t errlen) __attribute__((warn_unused_result));
void hook_ticker_stop(void);

/* Implemented by the relay, called by the hook on the session's thread. */
void sess_hook_resume(struct sess *s, enum hook_verdict v, const struct hook_reply *reply);
void sess_hook_release(struct sess *s);
/*
 * Alternatives to sess_hook_release() for a held answer that ends the
 * command (a one-statement COM_QUERY, or the execute of a prepared DDL):
 *
 * sess_hook_resend() drops the held answer, which the client never sees,
 * and sends the command kept by hs->keep_command to the server again; its
 * new answer goes to hook_result() as the first one did (index 0). This is
 * how a DDL stopped by the lock-wait bound is retried without the client
 * seeing the failed attempts. Returns false, changing nothing, when no
 * command was kept or the held answer does not end the command.
 *
 * sess_hook_answer_err() replaces the held answer by an ERR with reply
 * (releases the answer unchanged when it cannot).
 */
bool sess_hook_resend(struct sess *s) __attribute__((warn_unused_result));
void sess_hook_answer_err(struct sess *s, const struct hook_reply *reply);
/*
 * The current schema changed by a statement the relay cannot read: a
 * `USE x` the server accepted, or a DROP DATABASE of the current schema
 * (schema "" = none). Clients that ask for session state tracking also
 * report it in the OK packet, which the relay reads itself; the others
 * need the hook to say it.
 */
void sess_hook_schema(struct sess *s, const char *schema);
/*
 * A script judged in steps (hs->step_to), once the answer to a step's last
 * statement is held (hook_result() returned false for it, an OK):
 *
 * sess_hook_step_release() lets the held answer go to the client with
 * SERVER_MORE_RESULTS_EXISTS set: the client reads on, the backend
 * connection is idle, and private queries may run on it
 * (sess_hook_private_query) until one of the two calls below. Returns
 * false, changing nothing, when no step's last answer is held.
 *
 * sess_hook_step() sends the SQL text's bytes [from, to) of the client's
 * command to the server as the next step, a COM_QUERY of its own. Its
 * answers reach the client with sequence ids continuing the one answer the
 * client reads, and hook_result() with indexes continuing the command's.
 * Returns false, changing nothing, when no step is under way.
 *
 * sess_hook_step_refuse() ends the answer with an ERR of reply after the
 * step's: what the server answers to a script whose later statement fails.
 *
 * Both release a still held answer first, and both wait for a private
 * answer that is due.
 */
bool sess_hook_step_release(struct sess *s);
bool sess_hook_step(struct sess *s, size_t from, size_t to) __attribute__((warn_unused_result));
void sess_hook_step_refuse(struct sess *s, const struct hook_reply *reply);
/*
 * A private query on the session's own backend connection: while the hook
 * holds a client command (inside hook_command() or hook_stmt_execute()
 * before it returns HOOK_WAIT, or later in HOOK_WAIT), nothing of it
 * forwarded and the backend idle, or between two steps of a script (after
 * sess_hook_step_release()), the relay sends sql as a COM_QUERY,
 * reads the whole answer itself (no byte of it reaches the client), and
 * calls done(s, arg, result) on the session's thread. The answer runs in
 * the session's own transaction, schema, sql_mode and character set, and
 * its server status changes nothing ddlgate keeps about the session. The
 * query must change nothing: plain SELECTs only.
 *
 * A verdict given while the answer is pending (sess_hook_resume()) waits
 * for it. done comes with PRIVATE_FAILED when the answer takes longer than
 * [guard] probe_timeout_ms; the relay still drops the late answer before
 * the command goes on. done is not called when the session ends first.
 * Returns false, sending nothing, when no query can run now (another one
 * pending, the command already forwarded, sql too long).
 */
bool sess_hook_private_query(struct sess *s, const char *sql, size_t len,
			     void (*done)(struct sess *s, void *arg,
					  const struct private_result *r),
			     void *arg) __attribute__((warn_unused_result));
/*
 * The answer to a KILL of another session's connection, which the server
 * sent once it had closed that connection: the hook returns false from
 * hook_result() for it after this returned true. The relay asks the
 * victim (ddlgate's connection id; worker_registry_find_thread() finds it
 * by its server thread id) to end on its own thread: it sends what was
 * queued for its client, closes its client socket, and the held answer is
 * released then (sess_hook_release()), or after 500 ms at the latest.
 * False, holding nothing, when the victim has already ended or is s.
 */
bool sess_hook_hold_for_end(struct sess *s, uint64_t victim) __attribute__((warn_unused_result));
/* Runs fn(s, arg) on s's event-loop thread, if s still lives then. */
void sess_post(struct sess *s, void (*fn)(struct sess *s, void *arg), void *arg);
/* The same by ddlgate's connection id, from any thread: the one way to wake
 * a session from another thread. Nothing runs if the session has ended by
 * the time the post arrives (arg is then not passed anywhere: it must not
 * own memory). */
void sess_post_id(uint64_t conn_id, void (*fn)(struct sess *s, void *arg), void *arg);
/* The hook's view of s, for a posted function on s's thread (it reaches
 * hs->policy from there). */
struct hook_sess *sess_hook_sess(struct sess *s);

#endif
