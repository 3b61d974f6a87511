/*
 * Worker threads: one libevent loop per thread, each owning the sessions
 * handed to it for their whole life.
 *
 * The acceptor (serve.c) hands each new client socket to a worker round
 * robin through the worker's post queue, the only cross-thread path into
 * a worker (a mutex-guarded list plus an eventfd that wakes the loop). The
 * hot path of a session never takes a lock.
 *
 * The running configuration is a refcounted struct worker_conf: SIGHUP
 * builds a new one and swaps the global pointer; a session keeps a
 * reference to the one it started with and picks up the new one between
 * commands.
 */
#ifndef DDLGATE_PROXY_WORKER_H
#define DDLGATE_PROXY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "config/cfg.h"

struct snap;

struct sess;

/* A loaded configuration and what is derived from it. */
struct worker_conf {
	struct snap *snap;		 /* reference owned: the loaded configuration */
	struct cfg *cfg;		 /* borrowed from snap */
	SSL_CTX *server_ctx;		 /* owned; client leg, NULL = no TLS offered */
	SSL_CTX *client_ctx;		 /* owned; backend leg, NULL = backend TLS off */
	struct sockaddr_storage backend; /* resolved [proxy] backend or backend_socket */
	socklen_t backend_len;
	char backend_name[300]; /* "host:port" or the socket path, for messages */
	bool backend_local;	/* unix socket or loopback: plaintext is fine */
	atomic_int refs;
};

/* Builds a worker_conf from a configuration snapshot (taking a reference
 * of its own). NULL with err set on failure. */
struct worker_conf *worker_conf_new(struct snap *snap, char *err, size_t errlen);
/* The current configuration with a reference taken; release it with
 * worker_conf_release(). */
struct worker_conf *worker_conf_acquire(void);
void worker_conf_release(struct worker_conf *c);
/* Makes c (whose reference passes to the global) the current configuration. */
void worker_conf_publish(struct worker_conf *c);
static inline bool worker_conf_is_current(const struct worker_conf *c);

/* One event loop thread. */
struct worker {
	int id;
	pthread_t thread;
	struct event_base *base;   /* owned */
	int wake_fd;		   /* owned eventfd */
	struct event *wake_ev;	   /* owned */
	struct event *sweep_ev;	   /* owned: 1 s tick for idle timeouts and shutdown */
	pthread_mutex_t lock;	   /* guards posts */
	struct worker_post *posts; /* owned list, newest first */
	struct sess *sessions;	   /* borrowed: intrusive list of live sessions */
	struct sess *parked;	   /* borrowed: closed sessions awaiting their deferred free */
	unsigned nsess;
	bool draining; /* SIGTERM: finish in-flight commands and stop */
	uint64_t drain_deadline_ms;
	bool stopped;
};

/* Starts n workers (n = 0: one per core). false with err set on failure. */
bool worker_start_all(int n, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Asks every worker to drain and waits for all threads to exit (bounded
 * by the configured shutdown_timeout_ms). */
void worker_stop_all(int shutdown_timeout_ms);
int worker_count(void);

/* Hands a connected client socket to the next worker (round robin). */
void worker_hand_conn(int fd, const struct sockaddr *peer, socklen_t peerlen);

/* Runs fn(w, arg) on w's thread. Safe from any thread. */
void worker_post(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg);

/* Live connection count across workers, for max_connections. */
extern atomic_int worker_nconns;

/* The registry of live sessions by connection id, so sess_post_id() from
 * another thread finds a session only while it lives. */
void worker_registry_add(struct sess *s, struct worker *w);
void worker_registry_del(struct sess *s);
/* If a session with this id is registered, returns its worker and sets *s;
 * else NULL. */
struct worker *worker_registry_find(uint64_t id, struct sess **s);
/* The backend's thread id of s (from the server's greeting), on s's thread;
 * worker_registry_find_thread() returns the connection id of the live
 * session whose backend connection has that thread id, 0 = none. */
void worker_registry_set_thread(struct sess *s, uint32_t server_thread);
uint64_t worker_registry_find_thread(uint32_t server_thread);

/* One line on stderr: timestamp, connection id (0 = none), message. */
void worker_log(uint64_t conn_id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic microseconds: clk_mono_us() (clock.h), kept for callers
 * written before clock.c. */
uint64_t worker_now_us(void);

extern _Atomic(struct worker_conf *) worker_conf_current;

static inline bool worker_conf_is_current(const struct worker_conf *c)
{
	return atomic_load_explicit(&worker_conf_current, memory_order_relaxed) == c;
}

#endif
