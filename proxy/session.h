/*
 * One proxied connection: a client leg and a backend leg, the handshake
 * relay between them and the command phase (see the diagram atop
 * session.c). A session lives on one worker thread from accept to close.
 */
#ifndef DDLGATE_PROXY_SESSION_H
#define DDLGATE_PROXY_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/cfg.h"

struct sess;
struct worker;

/*
 * Why a session ended: the one table behind the close log line ("closed
 * ... : TEXT", texts kept from earlier releases for those who grep them)
 * and the metric ddlgate_connections_closed_total{reason=LABEL}. A row
 * marked backend also counts in ddlgate_backend_errors_total.
 * X(NAME, "log text", "metric label", backend error)
 */
#define SESS_END_TABLE(X)                                                                          \
	X(CLIENT_QUIT, "client quit", "client_quit", false)                                        \
	X(CLIENT_EOF, "client closed", "client_eof", false)                                        \
	X(CLIENT_READ, "client read failed", "client_read", false)                                 \
	X(CLIENT_WRITE, "client write failed", "client_write", false)                              \
	X(CLIENT_TLS, "client TLS handshake failed", "client_tls", false)                          \
	X(CLIENT_NO_TLS, "client without TLS", "client_no_tls", false)                             \
	X(HELLO_TOO_LARGE, "handshake response too large", "hello_too_large", false)               \
	X(HELLO_BAD, "bad handshake response", "hello_bad", false)                                 \
	X(SSLREQ_UNEXPECTED, "unexpected SSLRequest", "sslrequest_unexpected", false)              \
	X(PREAUTH_FLOOD, "too much data before authentication", "preauth_flood", false)            \
	X(AUTH_TOO_LARGE, "auth packet too large", "auth_too_large", false)                        \
	X(AUTH_FAILED, "authentication failed", "auth_failed", false)                              \
	X(TLS_DOWNGRADE, "TLS downgrade refused", "tls_downgrade", false)                          \
	X(CMD_SEQ, "command with a sequence id other than 0", "protocol_seq", false)               \
	X(CONT_SEQ, "bad sequence id in a continuation packet", "protocol_cont_seq", false)        \
	X(CMD_EMPTY, "empty command packet", "protocol_empty", false)                              \
	X(TOO_LARGE, "packet bigger than max_packet", "too_large", false)                          \
	X(ZFRAME_TOO_LARGE, "compressed packet bigger than max_packet", "compressed_too_large",    \
	  false)                                                                                   \
	X(ZFRAME_BAD, "malformed compressed packet", "compressed_bad", false)                      \
	X(BACKEND_UNREACHABLE, "backend unreachable", "backend_unreachable", true)                 \
	X(BACKEND_REFUSED, "backend refused the connection", "backend_refused", true)              \
	X(BACKEND_TLS, "backend TLS failed", "backend_tls", true)                                  \
	X(BACKEND_NO_TLS, "backend without TLS", "backend_no_tls", false)                          \
	X(BACKEND_EOF_HANDSHAKE, "backend closed during handshake", "backend_eof_handshake",       \
	  false)                                                                                   \
	X(BACKEND_EOF, "backend closed", "backend_eof", false)                                     \
	X(BACKEND_LOST, "backend closed", "backend_lost", true) /* mid-answer */                   \
	X(BACKEND_READ, "backend read failed", "backend_read", true)                               \
	X(BACKEND_WRITE, "backend write failed", "backend_write", true)                            \
	X(BACKEND_PROTOCOL, "backend protocol error", "backend_protocol", true)                    \
	X(BACKEND_UNSOLICITED, "unexpected packet from the backend", "backend_unsolicited", false) \
	X(HANDSHAKE_TIMEOUT, "handshake timeout", "handshake_timeout", false)                      \
	X(IDLE_TIMEOUT, "idle timeout", "idle_timeout", false)                                     \
	X(KILLED, "killed by another session", "killed", false)                                    \
	X(SHUTDOWN, "shutdown", "shutdown", false)                                                 \
	X(OOM, "out of memory", "oom", false)

enum sess_end {
#define SESS_END_ENUM(name, text, label, backend) SESS_END_##name,
	SESS_END_TABLE(SESS_END_ENUM)
#undef SESS_END_ENUM
	    SESS_END_COUNT
};

/*
 * Takes over the accepted client socket fd (non-blocking) on worker w's
 * thread and starts connecting to the backend. The session frees itself
 * when it ends; the caller keeps nothing. Returns false (fd closed, counters
 * rolled back) only when memory runs out.
 */
bool sess_start(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peerlen)
    __attribute__((warn_unused_result));

/* Once a second on each worker: timeouts, and shutdown when w->draining.
 * now_ms is monotonic milliseconds. */
void sess_tick_all(struct worker *w, uint64_t now_ms);

/* On w's thread after its loop ended (or after the thread was joined):
 * closes any session still live and frees every parked one, so no session
 * outlives its worker whatever the loop did last. */
void sess_reap_all(struct worker *w);

/* The configuration the session runs with (it changes between commands
 * after a reload). Borrowed: valid on the session's thread until the
 * current callback returns. */
const struct cfg *sess_cfg(const struct sess *s);

/* ddlgate's connection id. */
uint64_t sess_conn_id(const struct sess *s);

#endif
