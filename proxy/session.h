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
