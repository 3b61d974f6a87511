/* Worker threads: event loops, cross-thread posts, the running configuration, logging. */
#include "proxy/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proxy/clock.h"
#include "proxy/leg.h"
#include "proxy/session.h"
#include "proxy/snapshot.h"
#include "proxy/tls.h"

struct worker_post {
	struct worker_post *next;
	void (*fn)(struct worker *w, void *arg);
	void *arg;
};

atomic_int worker_nconns;
_Atomic(struct worker_conf *) worker_conf_current;

static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct worker *workers;
static int nworkers;
static atomic_uint rr;

/* ---- logging ------------------------------------------------------------ */

uint64_t worker_now_us(void)
{
	return (uint64_t)clk_mono_us();
}

void worker_log(uint64_t conn_id, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	if (conn_id)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ ddlgate conn=%llu ",
			      ts.tv_nsec / 1000000, (unsigned long long)conn_id);
	else
		n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ ddlgate ",
			      ts.tv_nsec / 1000000);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so lines from several threads never interleave. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

/* ---- configuration -------------------------------------------------------- */

/* Resolves the backend address of cfg into c. */
static bool resolve_backend(struct worker_conf *c, char *err, size_t errlen)
{
	const struct cfg *cfg = c->cfg;
	if (cfg->proxy.backend_socket) {
		struct sockaddr_un *un = (struct sockaddr_un *)&c->backend;
		if (strlen(cfg->proxy.backend_socket) >= sizeof(un->sun_path)) {
			snprintf(err, errlen, "[proxy] backend_socket: path too long");
			return false;
		}
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, cfg->proxy.backend_socket);
		c->backend_len = sizeof(*un);
		snprintf(c->backend_name, sizeof(c->backend_name), "%s", cfg->proxy.backend_socket);
		c->backend_local = true;
		return true;
	}
	char port[16];
	snprintf(port, sizeof(port), "%u", cfg->proxy.backend.port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(cfg->proxy.backend.host, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "[proxy] backend %s: %s", cfg->proxy.backend.host,
			 gai_strerror(rc));
		return false;
	}
	memcpy(&c->backend, res->ai_addr, res->ai_addrlen);
	c->backend_len = res->ai_addrlen;
	freeaddrinfo(res);
	const char *h = cfg->proxy.backend.host;
	snprintf(c->backend_name, sizeof(c->backend_name), strchr(h, ':') ? "[%s]:%u" : "%s:%u", h,
		 cfg->proxy.backend.port);
	c->backend_local = cfg_addr_is_loopback(h);
	return true;
}

static void conf_free(struct worker_conf *c)
{
	if (!c)
		return;
	if (c->server_ctx)
		SSL_CTX_free(c->server_ctx);
	if (c->client_ctx)
		SSL_CTX_free(c->client_ctx);
	snap_put(c->snap);
	free(c);
}

struct worker_conf *worker_conf_new(struct snap *snap, char *err, size_t errlen)
{
	struct worker_conf *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->snap = snap_get(snap);
	struct cfg *cfg = c->cfg = snap->cfg;
	atomic_init(&c->refs, 1);
	if (!resolve_backend(c, err, errlen))
		goto fail;
	c->server_ctx = tls_server_ctx_new(cfg, err, errlen);
	if (!c->server_ctx && err[0])
		goto fail;
	if (cfg->tls.client == CFG_TLS_CLIENT_REQUIRED && !c->server_ctx) {
		snprintf(err, errlen, "[tls] client = required needs [tls] cert and key");
		goto fail;
	}
	c->client_ctx = tls_client_ctx_new(cfg, err, errlen);
	if (!c->client_ctx && err[0])
		goto fail;
	return c;
fail:
	conf_free(c);
	return NULL;
}

struct worker_conf *worker_conf_acquire(void)
{
	pthread_mutex_lock(&conf_lock);
	struct worker_conf *c = atomic_load(&worker_conf_current);
	atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&conf_lock);
	return c;
}

void worker_conf_release(struct worker_conf *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		conf_free(c);
}

void worker_conf_publish(struct worker_conf *c)
{
	pthread_mutex_lock(&conf_lock);
	struct worker_conf *old = atomic_load(&worker_conf_current);
	atomic_store(&worker_conf_current, c);
	pthread_mutex_unlock(&conf_lock);
	worker_conf_release(old);
}

/* ---- session registry -------------------------------------------------------- */

/* The one registry of live sessions, keyed by ddlgate's connection id: every
 * wake-up from another thread (guard results, audit durability, holds, the
 * cluster lock) names a session by id and finds it here, so a session that
 * ended meanwhile is simply not found. */

#define REG_BUCKETS 4096

struct reg_node {
	struct reg_node *next;
	struct sess *s;
	struct worker *w;
	uint64_t id;
	uint32_t server_thread; /* the backend's thread id once greeted; 0 = not yet */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg_node *reg[REG_BUCKETS];

static size_t reg_hash(uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 40) % REG_BUCKETS;
}

void worker_registry_add(struct sess *s, struct worker *w)
{
	struct reg_node *n = malloc(sizeof(*n));
	if (!n)
		return; /* sess_post() to this session becomes a no-op */
	n->s = s;
	n->server_thread = 0;
	n->w = w;
	n->id = sess_conn_id(s);
	size_t h = reg_hash(n->id);
	pthread_mutex_lock(&reg_lock);
	n->next = reg[h];
	reg[h] = n;
	pthread_mutex_unlock(&reg_lock);
}

void worker_registry_del(struct sess *s)
{
	size_t h = reg_hash(sess_conn_id(s));
	struct reg_node *gone = NULL;
	pthread_mutex_lock(&reg_lock);
	for (struct reg_node **pp = &reg[h]; *pp; pp = &(*pp)->next) {
		if ((*pp)->s == s) {
			gone = *pp;
			*pp = gone->next;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	free(gone);
}

struct worker *worker_registry_find(uint64_t id, struct sess **s)
{
	struct worker *w = NULL;
	pthread_mutex_lock(&reg_lock);
	for (struct reg_node *n = reg[reg_hash(id)]; n; n = n->next) {
		if (n->id == id) {
			w = n->w;
			*s = n->s;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return w;
}

void worker_registry_set_thread(struct sess *s, uint32_t server_thread)
{
	size_t h = reg_hash(sess_conn_id(s));
	pthread_mutex_lock(&reg_lock);
	for (struct reg_node *n = reg[h]; n; n = n->next)
		if (n->s == s)
			n->server_thread = server_thread;
	pthread_mutex_unlock(&reg_lock);
}

/* A scan of every bucket: only a KILL asks, and KILLs are rare. */
uint64_t worker_registry_find_thread(uint32_t server_thread)
{
	uint64_t id = 0;
	if (server_thread == 0)
		return 0;
	pthread_mutex_lock(&reg_lock);
	for (size_t h = 0; h < REG_BUCKETS && !id; h++)
		for (struct reg_node *n = reg[h]; n; n = n->next)
			if (n->server_thread == server_thread) {
				id = n->id;
				break;
			}
	pthread_mutex_unlock(&reg_lock);
	return id;
}

/* ---- posts ------------------------------------------------------------------- */

void worker_post(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg)
{
	struct worker_post *p = malloc(sizeof(*p));
	if (!p)
		return;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&w->lock);
	p->next = w->posts;
	w->posts = p;
	pthread_mutex_unlock(&w->lock);
	uint64_t one = 1;
	ssize_t n = write(w->wake_fd, &one, sizeof(one));
	(void)n; /* EAGAIN: the counter is already non-zero, the loop will wake */
}

/* Runs every post queued for w so far, oldest first. */
static void run_posts(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	struct worker_post *list = w->posts;
	w->posts = NULL;
	pthread_mutex_unlock(&w->lock);
	/* Newest first: reverse to run posts in the order they were made. */
	struct worker_post *fifo = NULL;
	while (list) {
		struct worker_post *next = list->next;
		list->next = fifo;
		fifo = list;
		list = next;
	}
	while (fifo) {
		struct worker_post *next = fifo->next;
		fifo->fn(w, fifo->arg);
		free(fifo);
		fifo = next;
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n;
	run_posts(w);
}

static uint64_t mono_ms(void)
{
	return worker_now_us() / 1000;
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	sess_tick_all(w, mono_ms());
	if (w->draining && w->nsess == 0)
		event_base_loopbreak(w->base);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	event_base_dispatch(w->base);
	/* Let parked sessions run their deferred frees before the loop goes. */
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	/* That pass may stop early (a sweep's loopbreak) and posts may still
	 * be queued: connections handed over before the drain began run
	 * start_conn() now (which closes them, draining), then every session
	 * still live or parked is freed here. */
	w->draining = true;
	run_posts(w);
	sess_reap_all(w);
	leg_scratch_free();
	w->stopped = true;
	return NULL;
}

struct conn_msg {
	int fd;
	socklen_t len;
	struct sockaddr_storage peer;
};

static void start_conn(struct worker *w, void *arg)
{
	struct conn_msg *m = arg;
	if (w->draining) {
		close(m->fd);
		atomic_fetch_sub(&worker_nconns, 1);
	} else if (!sess_start(w, m->fd, (struct sockaddr *)&m->peer, m->len)) {
		worker_log(0, "out of memory: connection dropped");
	}
	free(m);
}

void worker_hand_conn(int fd, const struct sockaddr *peer, socklen_t peerlen)
{
	struct conn_msg *m = malloc(sizeof(*m));
	if (!m) {
		close(fd);
		atomic_fetch_sub(&worker_nconns, 1);
		return;
	}
	m->fd = fd;
	m->len = peerlen < sizeof(m->peer) ? peerlen : sizeof(m->peer);
	memcpy(&m->peer, peer, m->len);
	struct worker *w = &workers[atomic_fetch_add(&rr, 1) % (unsigned)nworkers];
	worker_post(w, start_conn, m);
}

int worker_count(void)
{
	return nworkers;
}

bool worker_start_all(int n, char *err, size_t errlen)
{
	if (n <= 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores > 0 ? (int)cores : 1;
	}
	workers = calloc((size_t)n, sizeof(*workers));
	if (!workers) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	/* Signals belong to the main thread: workers start with them blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	bool ok = true;
	for (int i = 0; i < n && ok; i++) {
		struct worker *w = &workers[i];
		w->id = i;
		pthread_mutex_init(&w->lock, NULL);
		w->base = event_base_new_with_config(ec);
		w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (!w->base || w->wake_fd < 0) {
			snprintf(err, errlen, "cannot create worker %d: %s", i, strerror(errno));
			ok = false;
			break;
		}
		w->wake_ev = event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST, on_wake, w);
		w->sweep_ev = event_new(w->base, -1, EV_PERSIST, on_sweep, w);
		struct timeval sec = {1, 0};
		event_add(w->wake_ev, NULL);
		event_add(w->sweep_ev, &sec);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			snprintf(err, errlen, "cannot start worker %d", i);
			ok = false;
			break;
		}
		nworkers = i + 1;
	}
	event_config_free(ec);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

static void begin_drain(struct worker *w, void *arg)
{
	int timeout_ms = (int)(intptr_t)arg;
	w->draining = true;
	w->drain_deadline_ms = mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	sess_tick_all(w, mono_ms());
	if (w->nsess == 0)
		event_base_loopbreak(w->base);
}

void worker_stop_all(int shutdown_timeout_ms)
{
	for (int i = 0; i < nworkers; i++)
		worker_post(&workers[i], begin_drain, (void *)(intptr_t)shutdown_timeout_ms);
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		pthread_join(w->thread, NULL);
		/* Posts that came after the thread's last look: sessions are
		 * gone from the registry, so these only close and free. */
		run_posts(w);
		sess_reap_all(w);
		event_free(w->wake_ev);
		event_free(w->sweep_ev);
		close(w->wake_fd);
		event_base_free(w->base);
		pthread_mutex_destroy(&w->lock);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
}
