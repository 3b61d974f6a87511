/*
 * Admin HTTP API on [admin] listen (libevent's evhttp).
 *
 *   GET  /healthz   "ok"
 *   GET  /status    JSON: version, uptime_s, connections, + contributions
 *   GET  /metrics   Prometheus text format 0.0.4 (proxy/metrics.h)
 *   GET  /sessions  JSON array, filled by contributors
 *   GET  <path>     routes registered with admin_register_get()
 *   POST <path>     routes registered with admin_register_post()
 *
 * With [admin] token_file set, every request needs
 * "Authorization: Bearer <token>" (compared in constant time), else 401.
 *
 * Other modules contribute without the admin knowing them: they register
 * callbacks, usually from hook_init(), before or after admin_start(). Every
 * callback runs on the admin's event-loop thread (the base given to
 * admin_start()), so it must only read state that is safe to read from
 * there. Registrations last for the life of the process.
 */
#ifndef DDLGATE_PROXY_ADMIN_H
#define DDLGATE_PROXY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "config/cfg.h"

struct admin;

/*
 * Binds [admin] listen on base and serves requests there. Returns NULL when
 * the admin is disabled ([admin] enabled = false; err is then "") or on
 * error (cannot bind, unreadable token file: err says why). The caller
 * keeps cfg alive until admin_stop() or the next admin_reload().
 */
struct admin *admin_start(struct event_base *base, const struct cfg *cfg, char *err, size_t errlen);
void admin_stop(struct admin *a);

/* SIGHUP: re-reads the token file of cfg (the listen address stays).
 * Returns false with err set, keeping the old token. */
bool admin_reload(struct admin *a, const struct cfg *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Adds keys to the /status object (e.g. "migration", "window"). */
typedef void (*admin_status_fn)(json_t *status, void *arg);
void admin_register_status(admin_status_fn fn, void *arg);

/* Appends one JSON object per session to the /sessions array. */
typedef void (*admin_sessions_fn)(json_t *sessions, void *arg);
void admin_register_sessions(admin_sessions_fn fn, void *arg);

/*
 * A POST route, e.g. "/window/open". query holds the decoded query string
 * (?minutes=30: evhttp_find_header(query, "minutes")); body is the request
 * body (NUL-terminated, may be empty). The handler fills reply (a JSON
 * object sent back as is) and returns the HTTP status: 200, 400, 409, ...
 * For an error status, put a message under "error".
 */
typedef int (*admin_post_fn)(const struct evkeyvalq *query, const char *body, json_t *reply,
			     void *arg);
void admin_register_post(const char *path, admin_post_fn fn, void *arg);
/* A GET route with the same handler shape (body is ""), e.g. "/audit/head". */
void admin_register_get(const char *path, admin_post_fn fn, void *arg);

#endif
