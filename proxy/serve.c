/* `ddlgate serve`: configuration, listeners, every thread's start and stop, admin and signals. */
#include "proxy/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/cfg.h"
#include "proxy/admin.h"
#include "proxy/audit.h"
#include "proxy/audit_drift.h"
#include "proxy/audit_head.h"
#include "proxy/cluster.h"
#include "proxy/guard.h"
#include "proxy/hook.h"
#include "proxy/metrics.h"
#include "proxy/pkt.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"

/* The main thread's state: one acceptor loop for every listen address. */
struct serve {
	struct event_base *base;		 /* owned */
	struct event *listeners[CFG_MAX_LISTEN]; /* owned */
	int fds[CFG_MAX_LISTEN];
	size_t nlisten;
	struct admin *admin; /* owned, NULL = disabled */
	const char *path;    /* borrowed: the config file */
	bool stopping;
	struct snap *snap;	   /* borrowed while the services start */
	struct audit *audit;	   /* owned, NULL = no [audit] path */
	struct audit_drift *drift; /* owned, NULL = drift watch off */
	struct audit_head *head;   /* owned, NULL = no audit log */
	size_t nstarted;	   /* services[] entries running */
};

/* ---- the background services: every thread but the workers ---- */

static bool audit_start(struct serve *sv, char *err, size_t errlen)
{
	if (!sv->snap->cfg->audit.path)
		return true;
	/* the chain's key before the writer (and its recovery) hashes a line */
	if (sv->snap->cfg->audit.key_file &&
	    !audit_line_load_key(sv->snap->cfg->audit.key_file, err, errlen))
		return false;
	sv->audit = audit_open(sv->snap->cfg, err, errlen);
	return sv->audit != NULL;
}

static void audit_stop(struct serve *sv)
{
	audit_close(sv->audit); /* drains the queue, fsyncs, joins the writer */
	sv->audit = NULL;
}

static bool policy_start(struct serve *sv, char *err, size_t errlen)
{
	return hook_init(sv->snap, sv->audit, err, errlen);
}

static void policy_stop(struct serve *sv)
{
	hook_shutdown();
}

static bool head_begin(struct serve *sv, char *err, size_t errlen)
{
	sv->head = audit_head_start(sv->snap->cfg, sv->audit, err, errlen);
	return sv->head || !err[0];
}

static void head_end(struct serve *sv)
{
	audit_head_stop(sv->head); /* the shutdown checkpoint: after the last record */
	sv->head = NULL;
}

static bool drift_begin(struct serve *sv, char *err, size_t errlen)
{
	sv->drift = audit_drift_start(sv->snap->cfg, sv->audit, err, errlen);
	return sv->drift || !err[0];
}

static void drift_end(struct serve *sv)
{
	audit_drift_stop(sv->drift); /* before the writer it submits to closes */
	sv->drift = NULL;
}

static bool guard_begin(struct serve *sv, char *err, size_t errlen)
{
	return guard_start(sv->snap->cfg, 2, err, errlen);
}

static void guard_end(struct serve *sv)
{
	guard_stop();
}

static bool cluster_begin(struct serve *sv, char *err, size_t errlen)
{
	return cluster_start(sv->snap->cfg, err, errlen);
}

static void cluster_end(struct serve *sv)
{
	cluster_stop();
}

static bool ticker_begin(struct serve *sv, char *err, size_t errlen)
{
	return hook_ticker_start(err, errlen);
}

static void ticker_end(struct serve *sv)
{
	hook_ticker_stop();
}

/*
 * Started in this order before the first connection, stopped in reverse
 * after the last one ended (SIGTERM) or when a later one fails to start:
 * the policy borrows the audit log, and the guard, cluster and ticker
 * threads post into sessions the policy judges.
 */
static const struct {
	const char *name;
	bool (*start)(struct serve *sv, char *err, size_t errlen);
	void (*stop)(struct serve *sv);
} services[] = {
    {"audit writer", audit_start, audit_stop}, {"policy", policy_start, policy_stop},
    {"guard workers", guard_begin, guard_end}, {"cluster lock", cluster_begin, cluster_end},
    {"hold ticker", ticker_begin, ticker_end}, {"audit checkpoints", head_begin, head_end},
    {"drift watch", drift_begin, drift_end},
};

static bool services_start(struct serve *sv, struct snap *snap, char *err, size_t errlen)
{
	sv->snap = snap;
	for (; sv->nstarted < sizeof(services) / sizeof(services[0]); sv->nstarted++) {
		err[0] = 0;
		if (!services[sv->nstarted].start(sv, err, errlen)) {
			if (!err[0])
				snprintf(err, errlen, "%s: cannot start",
					 services[sv->nstarted].name);
			sv->snap = NULL;
			return false;
		}
	}
	sv->snap = NULL;
	return true;
}

static void services_stop(struct serve *sv)
{
	while (sv->nstarted > 0)
		services[--sv->nstarted].stop(sv);
}

/* Reads the configuration file once and builds the snapshot that the
 * relay and the policy share. NULL with err set. */
static struct snap *load(const char *path, const struct cfg *running, char *err, size_t errlen)
{
	struct cfg *cfg = cfg_load(path, err, errlen);
	if (!cfg)
		return NULL;
	if (running && !cfg_reload_check(running, cfg, err, errlen)) {
		cfg_free(cfg);
		return NULL;
	}
	return snap_new(cfg, err, errlen);
}

/* Refuses a connection the way MySQL does when full: an ERR as the first
 * packet. The socket is fresh, so the few bytes fit its buffer. */
static void refuse(int fd)
{
	uint8_t pkt[128];
	size_t n = pkt_build_err(pkt, sizeof(pkt), 0, 1040, "08004", "Too many connections");
	ssize_t w = send(fd, pkt, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)w;
	close(fd);
	metrics_conn_refused();
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct serve *sv = arg;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				worker_log(0, "accept: %s", strerror(errno));
			return;
		}
		if (sv->stopping) {
			close(fd);
			continue;
		}
		int max = atomic_load(&worker_conf_current)->cfg->proxy.max_connections;
		if (atomic_fetch_add(&worker_nconns, 1) >= max) {
			atomic_fetch_sub(&worker_nconns, 1);
			refuse(fd);
			continue;
		}
		worker_hand_conn(fd, (struct sockaddr *)&peer, len);
	}
}

/* Binds one listen address; returns the socket or -1 with err set. */
static int listen_on(const struct cfg_addr *a, char *err, size_t errlen)
{
	char port[16];
	snprintf(port, sizeof(port), "%u", a->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
	int rc = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen %s:%u: %s", a->host, a->port, gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
		snprintf(err, errlen, "listen %s:%u: %s", a->host, a->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void stop_listening(struct serve *sv)
{
	for (size_t i = 0; i < sv->nlisten; i++) {
		if (sv->listeners[i]) {
			event_free(sv->listeners[i]);
			sv->listeners[i] = NULL;
		}
		if (sv->fds[i] >= 0) {
			close(sv->fds[i]);
			sv->fds[i] = -1;
		}
	}
}

/* SIGHUP: a new configuration for new commands and connections, or a
 * logged refusal that leaves everything as it was. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	struct serve *sv = arg;
	char err[512];
	struct snap *snap =
	    load(sv->path, atomic_load(&worker_conf_current)->cfg, err, sizeof(err));
	if (!snap) {
		worker_log(0, "reload refused, keeping the running configuration: %s", err);
		return;
	}
	struct worker_conf *c = worker_conf_new(snap, err, sizeof(err));
	if (!c) {
		worker_log(0, "reload failed, keeping the running configuration: %s", err);
		snap_put(snap);
		return;
	}
	if (!hook_reload(snap, err, sizeof(err))) {
		worker_log(0, "reload: policy refused the new configuration: %s", err);
		worker_conf_release(c);
		snap_put(snap);
		return;
	}
	snap_put(snap); /* the relay and the policy hold their own references */
	if (sv->admin && !admin_reload(sv->admin, c->cfg, err, sizeof(err)))
		worker_log(0, "reload: admin kept its old token: %s", err);
	worker_conf_publish(c);
	worker_log(0, "configuration reloaded from %s", sv->path);
}

static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct serve *sv = arg;
	if (sv->stopping)
		return;
	sv->stopping = true;
	worker_log(0, "signal %d: no new connections; finishing in-flight commands", (int)sig);
	stop_listening(sv);
	event_base_loopexit(sv->base, NULL);
}

int proxy_serve(const char *cfg_path)
{
	char err[512];
	struct serve sv = {.path = cfg_path};
	for (size_t i = 0; i < CFG_MAX_LISTEN; i++)
		sv.fds[i] = -1;
	signal(SIGPIPE, SIG_IGN);

	struct snap *snap = load(cfg_path, NULL, err, sizeof(err));
	if (!snap) {
		fprintf(stderr, "ddlgate: %s\n", err);
		return 2;
	}
	struct worker_conf *conf = worker_conf_new(snap, err, sizeof(err));
	if (!conf) {
		fprintf(stderr, "ddlgate: %s: %s\n", cfg_path, err);
		snap_put(snap);
		return 2;
	}
	atomic_store(&worker_conf_current, conf);
	const struct cfg *cfg = snap->cfg;
	int rc = 1;

	sv.base = event_base_new();
	if (!sv.base) {
		fprintf(stderr, "ddlgate: cannot create the event loop\n");
		goto out;
	}
	for (size_t i = 0; i < cfg->proxy.nlisten; i++) {
		int fd = listen_on(&cfg->proxy.listen[i], err, sizeof(err));
		if (fd < 0) {
			fprintf(stderr, "ddlgate: %s\n", err);
			goto out;
		}
		sv.fds[i] = fd;
		sv.nlisten = i + 1;
	}
	if (!services_start(&sv, snap, err, sizeof(err))) {
		fprintf(stderr, "ddlgate: %s\n", err);
		goto out;
	}
	err[0] = 0;
	sv.admin = admin_start(sv.base, cfg, err, sizeof(err));
	if (!sv.admin && err[0]) {
		fprintf(stderr, "ddlgate: admin: %s\n", err);
		goto out;
	}
	if (!worker_start_all(cfg->proxy.threads, err, sizeof(err))) {
		fprintf(stderr, "ddlgate: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < sv.nlisten; i++) {
		sv.listeners[i] =
		    event_new(sv.base, sv.fds[i], EV_READ | EV_PERSIST, on_accept, &sv);
		event_add(sv.listeners[i], NULL);
	}
	struct event *hup = evsignal_new(sv.base, SIGHUP, on_sighup, &sv);
	struct event *term = evsignal_new(sv.base, SIGTERM, on_sigterm, &sv);
	struct event *intr = evsignal_new(sv.base, SIGINT, on_sigterm, &sv);
	event_add(hup, NULL);
	event_add(term, NULL);
	event_add(intr, NULL);
	for (size_t i = 0; i < cfg->proxy.nlisten; i++)
		worker_log(0, "listening on %s:%u, backend %s, %d worker thread(s)",
			   cfg->proxy.listen[i].host, cfg->proxy.listen[i].port, conf->backend_name,
			   worker_count());

	event_base_dispatch(sv.base);

	const struct cfg *now = atomic_load(&worker_conf_current)->cfg;
	worker_stop_all(now->proxy.shutdown_timeout_ms);
	worker_log(0, "stopped");
	event_free(hup);
	event_free(term);
	event_free(intr);
	rc = 0;
out:
	stop_listening(&sv);
	if (sv.admin)
		admin_stop(sv.admin);
	services_stop(&sv);
	if (sv.base)
		event_base_free(sv.base);
	worker_conf_release(atomic_load(&worker_conf_current));
	atomic_store(&worker_conf_current, NULL);
	snap_put(snap);
	return rc;
}
