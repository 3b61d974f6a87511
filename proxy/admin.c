/* Admin HTTP API: health, status, Prometheus metrics, sessions and registered POST routes. */
#include "proxy/admin.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "proxy/metrics.h"

#define ADMIN_MAX_CALLBACKS 16
#define ADMIN_MAX_ROUTES 16
#define ADMIN_MAX_BODY (64 * 1024)
#define ADMIN_MAX_TOKEN 4096

struct admin {
	struct evhttp *http; /* owned */
	bool has_token;
	unsigned char token_digest[SHA256_DIGEST_LENGTH]; /* SHA-256 of the bearer token */
};

struct admin_json_cb {
	void (*fn)(json_t *, void *);
	void *arg;
};

struct admin_route {
	char path[128];
	bool get; /* GET (and HEAD) route, else POST */
	admin_post_fn fn;
	void *arg;
};

/* Registrations may come from any thread before or after admin_start(). */
static pthread_mutex_t admin_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct admin_json_cb admin_status_cbs[ADMIN_MAX_CALLBACKS];
static size_t admin_nstatus;
static struct admin_json_cb admin_sessions_cbs[ADMIN_MAX_CALLBACKS];
static size_t admin_nsessions;
static struct admin_route admin_routes[ADMIN_MAX_ROUTES];
static size_t admin_nroutes;

void admin_register_status(admin_status_fn fn, void *arg)
{
	pthread_mutex_lock(&admin_reg_lock);
	if (admin_nstatus < ADMIN_MAX_CALLBACKS)
		admin_status_cbs[admin_nstatus++] = (struct admin_json_cb){fn, arg};
	else
		fprintf(stderr, "ddlgate: admin: too many /status contributors, one ignored\n");
	pthread_mutex_unlock(&admin_reg_lock);
}

void admin_register_sessions(admin_sessions_fn fn, void *arg)
{
	pthread_mutex_lock(&admin_reg_lock);
	if (admin_nsessions < ADMIN_MAX_CALLBACKS)
		admin_sessions_cbs[admin_nsessions++] = (struct admin_json_cb){fn, arg};
	else
		fprintf(stderr, "ddlgate: admin: too many /sessions contributors, one ignored\n");
	pthread_mutex_unlock(&admin_reg_lock);
}

static void admin_register_route(const char *path, bool get, admin_post_fn fn, void *arg)
{
	pthread_mutex_lock(&admin_reg_lock);
	size_t i;
	for (i = 0; i < admin_nroutes; i++)
		if (!strcmp(admin_routes[i].path, path) && admin_routes[i].get == get)
			break; /* re-registering a path replaces it */
	if (i < ADMIN_MAX_ROUTES) {
		snprintf(admin_routes[i].path, sizeof(admin_routes[i].path), "%s", path);
		admin_routes[i].get = get;
		admin_routes[i].fn = fn;
		admin_routes[i].arg = arg;
		if (i == admin_nroutes)
			admin_nroutes++;
	} else {
		fprintf(stderr, "ddlgate: admin: too many routes, %s ignored\n", path);
	}
	pthread_mutex_unlock(&admin_reg_lock);
}

void admin_register_post(const char *path, admin_post_fn fn, void *arg)
{
	admin_register_route(path, false, fn, arg);
}

void admin_register_get(const char *path, admin_post_fn fn, void *arg)
{
	admin_register_route(path, true, fn, arg);
}

/*
 * Reads the bearer token from path into digest (its SHA-256). Surrounding
 * whitespace is dropped; an empty file is an error, never "no token".
 */
static bool admin_read_token(const char *path, unsigned char *digest, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "[admin] token_file %s: %s", path, strerror(errno));
		return false;
	}
	char buf[ADMIN_MAX_TOKEN + 2];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	bool toolong = !feof(f) || n > ADMIN_MAX_TOKEN;
	fclose(f);
	if (toolong) {
		snprintf(err, errlen, "[admin] token_file %s: longer than %d bytes", path,
			 ADMIN_MAX_TOKEN);
		return false;
	}
	buf[n] = '\0';
	char *s = buf;
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	if (!len) {
		snprintf(err, errlen, "[admin] token_file %s: empty", path);
		return false;
	}
	SHA256((const unsigned char *)s, len, digest);
	OPENSSL_cleanse(buf, sizeof(buf));
	return true;
}

/* Sends body with content type ctype and status code. */
static void admin_send(struct evhttp_request *req, int code, const char *ctype, const char *body,
		       size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add(b, body, len);
	const char *reason = code == 200   ? "OK"
			     : code == 400 ? "Bad Request"
			     : code == 401 ? "Unauthorized"
			     : code == 404 ? "Not Found"
			     : code == 405 ? "Method Not Allowed"
			     : code == 409 ? "Conflict"
			     : code == 413 ? "Payload Too Large"
					   : NULL;
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

/* Sends a JSON value (stolen: freed here) with a trailing newline. */
static void admin_send_json(struct evhttp_request *req, int code, json_t *v)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(v);
	if (!text) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	size_t n = strlen(text);
	char *withnl = realloc(text, n + 2);
	if (!withnl) {
		free(text);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	withnl[n] = '\n';
	withnl[n + 1] = '\0';
	admin_send(req, code, "application/json", withnl, n + 1);
	free(withnl);
}

static void admin_send_error(struct evhttp_request *req, int code, const char *msg)
{
	admin_send_json(req, code, json_pack("{s:s}", "error", msg));
}

/* Constant-time check of "Authorization: Bearer <token>". */
static bool admin_authorized(const struct admin *a, struct evhttp_request *req)
{
	if (!a->has_token)
		return true;
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7))
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	size_t len = strlen(h);
	while (len && isspace((unsigned char)h[len - 1]))
		len--;
	unsigned char got[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)h, len, got);
	/* Comparing digests keeps the token's length out of the timing too. */
	return CRYPTO_memcmp(got, a->token_digest, sizeof(got)) == 0;
}

static void admin_status(struct evhttp_request *req)
{
	struct metrics_snapshot m;
	metrics_snapshot(&m);
	json_t *o = json_pack(
	    "{s:s, s:I, s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:I, s:I}", "version", DDLGATE_VERSION,
	    "uptime_s", (json_int_t)metrics_uptime_s(), "connections", "current",
	    (json_int_t)m.conn_current, "total", (json_int_t)m.conn_total, "refused",
	    (json_int_t)m.conn_refused, "bytes", "from_clients", (json_int_t)m.bytes_from_clients,
	    "to_clients", (json_int_t)m.bytes_to_clients, "commands", (json_int_t)m.commands,
	    "backend_errors", (json_int_t)m.backend_errors);
	if (!o) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	pthread_mutex_lock(&admin_reg_lock);
	size_t n = admin_nstatus;
	struct admin_json_cb cbs[ADMIN_MAX_CALLBACKS];
	memcpy(cbs, admin_status_cbs, sizeof(cbs));
	pthread_mutex_unlock(&admin_reg_lock);
	for (size_t i = 0; i < n; i++)
		cbs[i].fn(o, cbs[i].arg);
	admin_send_json(req, 200, o);
}

static void admin_sessions(struct evhttp_request *req)
{
	json_t *arr = json_array();
	if (!arr) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	pthread_mutex_lock(&admin_reg_lock);
	size_t n = admin_nsessions;
	struct admin_json_cb cbs[ADMIN_MAX_CALLBACKS];
	memcpy(cbs, admin_sessions_cbs, sizeof(cbs));
	pthread_mutex_unlock(&admin_reg_lock);
	for (size_t i = 0; i < n; i++)
		cbs[i].fn(arr, cbs[i].arg);
	admin_send_json(req, 200, arr);
}

static void admin_metrics(struct evhttp_request *req)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_render(f);
	fclose(f);
	admin_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

/* Runs the registered GET (get) or POST route of path; false when there is none. */
static bool admin_call_route(struct evhttp_request *req, const char *path, const char *query_str,
			     bool get)
{
	pthread_mutex_lock(&admin_reg_lock);
	struct admin_route route = {0};
	for (size_t i = 0; i < admin_nroutes; i++)
		if (!strcmp(admin_routes[i].path, path) && admin_routes[i].get == get)
			route = admin_routes[i];
	pthread_mutex_unlock(&admin_reg_lock);
	if (!route.fn)
		return false;

	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t blen = evbuffer_get_length(in);
	if (blen > ADMIN_MAX_BODY) {
		admin_send_error(req, 413, "request body too large");
		return true;
	}
	char *body = malloc(blen + 1);
	struct evkeyvalq query;
	TAILQ_INIT(&query);
	json_t *reply = json_object();
	if (!body || !reply) {
		free(body);
		json_decref(reply);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return true;
	}
	evbuffer_copyout(in, body, blen);
	body[blen] = '\0';
	if (query_str && evhttp_parse_query_str(query_str, &query) != 0) {
		free(body);
		json_decref(reply);
		admin_send_error(req, 400, "bad query string");
		return true;
	}
	int code = route.fn(&query, body, reply, route.arg);
	evhttp_clear_headers(&query);
	free(body);
	if (code < 100 || code > 599)
		code = 500;
	admin_send_json(req, code, reply);
	return true;
}

static bool admin_is_get_route(const char *path)
{
	return !strcmp(path, "/healthz") || !strcmp(path, "/status") || !strcmp(path, "/metrics") ||
	       !strcmp(path, "/sessions");
}

/* Every request lands here: authorisation, then routing by method and path. */
static void admin_request(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);

	if (!admin_authorized(a, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  "Bearer realm=\"ddlgate\"");
		admin_send_error(req, 401, "missing or wrong bearer token");
		return;
	}
	if (!path || !*path)
		path = "/";

	if (method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD) {
		if (!strcmp(path, "/healthz"))
			admin_send(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
		else if (!strcmp(path, "/status"))
			admin_status(req);
		else if (!strcmp(path, "/metrics"))
			admin_metrics(req);
		else if (!strcmp(path, "/sessions"))
			admin_sessions(req);
		else if (!admin_call_route(req, path, query, true))
			admin_send_error(req, 404, "not found");
		return;
	}
	if (method == EVHTTP_REQ_POST) {
		if (admin_call_route(req, path, query, false))
			return;
		if (admin_is_get_route(path)) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
			admin_send_error(req, 405, "method not allowed");
			return;
		}
		admin_send_error(req, 404, "not found");
		return;
	}
	admin_send_error(req, 405, "method not allowed");
}

struct admin *admin_start(struct event_base *base, const struct cfg *cfg, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!cfg->admin.enabled)
		return NULL;
	struct admin *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "admin: out of memory");
		return NULL;
	}
	if (cfg->admin.token_file) {
		if (!admin_read_token(cfg->admin.token_file, a->token_digest, err, errlen)) {
			free(a);
			return NULL;
		}
		a->has_token = true;
	}
	a->http = evhttp_new(base);
	if (!a->http) {
		snprintf(err, errlen, "admin: cannot create the HTTP server");
		free(a);
		return NULL;
	}
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_max_body_size(a->http, ADMIN_MAX_BODY);
	evhttp_set_max_headers_size(a->http, 16 * 1024);
	evhttp_set_timeout(a->http, 10);
	evhttp_set_gencb(a->http, admin_request, a);
	if (!evhttp_bind_socket_with_handle(a->http, cfg->admin.listen.host,
					    cfg->admin.listen.port)) {
		snprintf(err, errlen, "[admin] listen %s:%u: cannot bind: %s",
			 cfg->admin.listen.host, cfg->admin.listen.port, strerror(errno));
		evhttp_free(a->http);
		free(a);
		return NULL;
	}
	return a;
}

bool admin_reload(struct admin *a, const struct cfg *cfg, char *err, size_t errlen)
{
	if (!a)
		return true;
	if (!cfg->admin.token_file) {
		a->has_token = false;
		OPENSSL_cleanse(a->token_digest, sizeof(a->token_digest));
		return true;
	}
	unsigned char digest[SHA256_DIGEST_LENGTH];
	if (!admin_read_token(cfg->admin.token_file, digest, err, errlen))
		return false;
	memcpy(a->token_digest, digest, sizeof(digest));
	a->has_token = true;
	return true;
}

void admin_stop(struct admin *a)
{
	if (!a)
		return;
	evhttp_free(a->http);
	free(a);
}
