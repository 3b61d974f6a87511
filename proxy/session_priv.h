/*
 * Session internals shared by the files of one session: session.c (life
 * cycle, flow control, events), session_handshake.c (greeting, TLS, auth),
 * session_command.c (the client's commands) and session_answer.c (the
 * server's answers). Not for other modules: they use session.h.
 */
#ifndef DDLGATE_PROXY_SESSION_PRIV_H
#define DDLGATE_PROXY_SESSION_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/clock.h"
#include "proxy/hook.h"
#include "proxy/leg.h"
#include "proxy/pkt.h"
#include "proxy/pkt_exec.h"
#include "proxy/session.h"
#include "proxy/worker.h"

#define SESS_HIGH_WM (256u * 1024) /* stop reading the other leg above this */
#define SESS_HELLO_MAX 8192u	   /* handshake response cap before authentication */
#define SESS_AUTH_MAX 65536u	   /* auth exchange packets */
#define SESS_ROW1_MAX 64u	   /* first values kept for the hook (GET_LOCK returns 0/1/NULL) */
#define SESS_CLOSE_FLUSH_MS 2000
#define SESS_LINGER_MS 2000 /* a closed client socket waits this long for the client's end */
/* ER_UNKNOWN_ERROR: the code for failures on ddlgate's side of a
 * connection. Client libraries reject server-sent codes in the client range
 * (2000-2061: CR_CONN_HOST_ERROR and friends) as malformed, so those are out. */
#define SESS_ERR_PROXY 1105

enum sess_state {
	S_CONNECT,
	S_GREETING,
	S_HELLO,
	S_CLIENT_TLS,
	S_BACKEND_TLS,
	S_AUTH,
	S_IDLE,
	S_COMMAND,
	S_HOOK_WAIT,
	S_STEP_WAIT, /* between two steps of a script (session_step.c) */
	S_CLOSING,
	S_DEAD,
};

struct sess {
	struct sess *prev, *next; /* the worker's list; borrowed */
	struct worker *w;	  /* borrowed */
	struct worker_conf *conf; /* owned reference */
	enum sess_state state;
	struct leg c;	    /* client leg */
	struct leg b;	    /* backend leg */
	struct event timer; /* connect / handshake deadline, then the deferred free */
	uint64_t started_ms;
	uint64_t last_active_ms;

	struct hook_sess hs;
	bool hook_begun; /* hook_session_begin() was called */

	/* Handshake. */
	uint32_t srv_caps, srv_ext; /* the server's greeting */
	uint32_t caps;		    /* negotiated (what both client and server use) */
	uint8_t *hello;		    /* owned: the client's handshake response, until sent */
	size_t hello_len;	    /* payload length */
	int seq_delta;		    /* backend seq - client seq during AUTH */
	bool compress;		    /* the client negotiated CLIENT_COMPRESS */

	/* Command phase, client side. */
	uint8_t cmd;		      /* command in flight */
	bool cmd_cursor;	      /* it is a COM_STMT_EXECUTE that asked for a cursor */
	uint8_t c_seq;		      /* last client sequence id */
	uint64_t c_left;	      /* bytes of the current client packet still to forward */
	struct pkt_scan_state c_scan; /* the logical packet being streamed */
	bool c_cont;		      /* a continuation packet follows the current one */
	bool fetching;		      /* FETCH: waiting for the whole command in c.in */
	size_t fetch_need;	      /* FETCH: bytes of c.in known to be needed so far */
	size_t fetch_wire;	      /* HOOK_WAIT: wire bytes of the whole command */
	uint64_t cmd_start_us;
	bool in_hook;	     /* inside hook_command() */
	bool resume_pending; /* sess_hook_resume() came during hook_command() */
	enum hook_verdict resume_verdict;
	struct hook_reply *resume_reply; /* owned while resume_pending */
	bool hook_results;		 /* call hook_result() for this command's answers */
	char *pending;			 /* owned: schema (INIT_DB) / user+schema (CHANGE_USER) */
	uint16_t pending_opt;		 /* SET_OPTION argument */
	struct sess_private *priv;	 /* owned: a private query whose answer is due
					   (session_private.c); NULL = none */
	uint8_t *kept;	 /* owned: the forwarded command's wire bytes (hs.keep_command) */
	size_t kept_len; /* for sess_hook_resend(); 0 = none */
	struct pkt_exec_stmts stmts; /* statements prepared while hs.watch_executes */
	uint32_t exec_id;	     /* the statement of the execute being judged */

	/* Command phase, server side. */
	struct pkt_resp resp;
	uint64_t b_left; /* bytes of the current server packet still to forward */
	size_t held;	 /* wire bytes of a terminal packet held for the hook */
	bool held_done;	 /* the held packet ends the answer */
	bool row1_set, row1_null;
	uint8_t row1_len;
	uint8_t row1[SESS_ROW1_MAX];
	enum sess_end close_reason;   /* set when CLOSING */
	enum sess_state closing_from; /* the state before CLOSING */

	/* A script sent in steps (session_step.c). */
	uint8_t *step_cmd; /* owned: the client's COM_QUERY payload; NULL = no steps */
	size_t step_cmd_len;
	size_t step_sql_off; /* where its SQL text starts in step_cmd */
	uint8_t step_seq;    /* added to the sequence ids of the server's answers; in
			      * STEP_WAIT, the id the client saw last */
	uint32_t step_index; /* added to the indexes hook_result() gets */

	struct sess_kill *kill; /* owned: a KILL's held OK or a victim's end
				   (session_kill.c); NULL = none */
};

static inline uint64_t sess_now_ms(void)
{
	return (uint64_t)clk_mono_us() / 1000;
}

/* The only writer of s->state. */
static inline void sess_set_state(struct sess *s, enum sess_state st)
{
	s->state = st;
}

static inline bool sess_dead(const struct sess *s)
{
	return s->state == S_DEAD;
}

/* session.c */
void sess_close(struct sess *s, enum sess_end why);
void sess_close_after_flush(struct sess *s, enum sess_end why);
void sess_send_err(struct sess *s, uint8_t seq, uint16_t code, const char *sqlstate,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
bool sess_flush(struct sess *s) __attribute__((warn_unused_result));
bool sess_inflate(struct sess *s) __attribute__((warn_unused_result));
void sess_pump(struct sess *s);
void sess_start_timer_ms(struct sess *s, int ms);
void sess_backend_unreachable(struct sess *s, const char *why);
void sess_copy_str(char *dst, size_t cap, const uint8_t *src, size_t n);

/* A peer broke the protocol: this connection dies, no more. Returns false
 * for the callers' "the session closed". */
static inline bool sess_fail(struct sess *s, enum sess_end why)
{
	sess_close(s, why);
	return false;
}

/* session_handshake.c */
bool sess_on_greeting(struct sess *s);
bool sess_on_hello(struct sess *s);
bool sess_auth_relay(struct sess *s, bool from_client);
bool sess_tls_step(struct sess *s, struct leg *l);

/* session_command.c */
bool sess_client_process(struct sess *s);
void sess_apply_verdict(struct sess *s, enum hook_verdict v, const struct hook_reply *reply);

/* session_step.c: sess_step_start() sends the first step of the fetched
 * COM_QUERY (wire bytes at the front of c.in) as hs.step_to asks; false
 * when the command cannot go in steps (nothing was sent then, unless the
 * session closed). sess_step_seq() renumbers the header at the front of in
 * for the client, once per packet, while step_seq is set. */
bool sess_step_start(struct sess *s, size_t wire) __attribute__((warn_unused_result));
void sess_step_seq(struct sess *s, struct leg *in);
void sess_step_reset(struct sess *s);
void sess_step_go(struct sess *s, size_t from, size_t to);
void sess_step_end(struct sess *s, const struct hook_reply *reply);
void sess_command_sent(struct sess *s);
/* session_private.c: the answer to a private query is read (false: the
 * session closed); a verdict is kept until it is (true: deferred); the
 * state goes with the session. */
bool sess_private_process(struct sess *s);
bool sess_private_defer(struct sess *s, enum hook_verdict v, const struct hook_reply *reply);
bool sess_private_defer_step(struct sess *s, size_t from, size_t to,
			     const struct hook_reply *refuse);
void sess_private_free(struct sess *s);

/* session_kill.c: the session closed (client socket included): a killer
 * waiting for that is released, the kill state freed. */
void sess_kill_end(struct sess *s);

/* session_answer.c */
bool sess_backend_process(struct sess *s);
void sess_command_done(struct sess *s);

#endif
