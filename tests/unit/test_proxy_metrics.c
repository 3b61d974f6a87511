/* Unit tests of metrics rendering (including the audit writer's and guard's counters) and of the
 * admin HTTP API over a real socket. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "config/cfg.h"
#include "audit_fixture.h"
#include "proxy/admin.h"
#include "proxy/audit.h"
#include "proxy/metrics.h"
#include "proxy/session.h"

static char *render(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	metrics_render(f);
	fclose(f);
	return text;
}

/* The value of the sample line that starts with "series " in text, or -1. */
static long long sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	}
	return -1;
}

/* The current value of one series, or -1 when it is not rendered. */
static long long metric_now(const char *series)
{
	char *text = render();
	long long v = sample(text, series);
	free(text);
	return v;
}

static void *count_in_thread(void *arg)
{
	for (int i = 0; i < 1000; i++)
		metrics_command(0x03, 50);
	metrics_conn_opened();
	return NULL;
}

static void test_render(void **state)
{
	metrics_conn_opened();
	metrics_conn_opened();
	metrics_conn_closed(SESS_END_CLIENT_QUIT);
	metrics_conn_refused();
	metrics_bytes(100, 2000);
	metrics_command(0x03, 150);	 /* COM_QUERY, 150 us */
	metrics_command(0x03, 2000000);	 /* 2 s */
	metrics_command(0x0e, 20000000); /* COM_PING, 20 s: only +Inf */
	metrics_command(0xfe, 10);
	metrics_statement(STMT_DDL, METRICS_BLOCK);
	metrics_statement(STMT_DDL, METRICS_BLOCK);
	metrics_statement(STMT_DML, METRICS_ALLOW);
	metrics_statement(STMT_DML, 99); /* out of range: ignored */
	metrics_rule_hit("drop-table");
	metrics_rule_hit("drop-table");
	metrics_rule_hit("odd\"id");
	metrics_audit_write(300);
	metrics_migration_seen();

	/* Other threads' blocks are summed in. */
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, count_in_thread, NULL), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);

	char *text = render();
	static const struct {
		const char *series;
		long long want;
	} cases[] = {
	    {"ddlgate_up", 1},
	    {"ddlgate_connections", 3}, /* 4 opened, 1 closed */
	    {"ddlgate_connections_total", 4},
	    {"ddlgate_connections_refused_total", 1},
	    {"ddlgate_client_received_bytes_total", 100},
	    {"ddlgate_client_sent_bytes_total", 2000},
	    {"ddlgate_commands_total{cmd=\"query\"}", 2002},
	    {"ddlgate_commands_total{cmd=\"ping\"}", 1},
	    {"ddlgate_commands_total{cmd=\"0xfe\"}", 1},
	    {"ddlgate_command_duration_seconds_bucket{le=\"0.0001\"}", 2001},
	    {"ddlgate_command_duration_seconds_bucket{le=\"0.00025\"}", 2002},
	    {"ddlgate_command_duration_seconds_bucket{le=\"1\"}", 2002},
	    {"ddlgate_command_duration_seconds_bucket{le=\"2.5\"}", 2003},
	    {"ddlgate_command_duration_seconds_bucket{le=\"10\"}", 2003},
	    {"ddlgate_command_duration_seconds_bucket{le=\"+Inf\"}", 2004},
	    {"ddlgate_command_duration_seconds_count", 2004},
	    {"ddlgate_statements_total{kind=\"ddl\",decision=\"block\"}", 2},
	    {"ddlgate_statements_total{kind=\"dml\",decision=\"allow\"}", 1},
	    {"ddlgate_rule_hits_total{rule=\"drop-table\"}", 2},
	    {"ddlgate_rule_hits_total{rule=\"odd\\\"id\"}", 1},
	    {"ddlgate_migrations_total", 1},
	    {"ddlgate_audit_write_duration_seconds_count", 1},
	    {"ddlgate_audit_write_duration_seconds_bucket{le=\"0.00025\"}", 0},
	    {"ddlgate_audit_write_duration_seconds_bucket{le=\"0.0005\"}", 1},
	    {"ddlgate_probe_duration_seconds_count", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long got = sample(text, cases[i].series);
		if (got != cases[i].want) {
			print_error("%s: want %lld, got %lld\n%s", cases[i].series, cases[i].want,
				    got, text);
			fail();
		}
	}
	/* Every metric family announces its type once. */
	assert_non_null(strstr(text, "# TYPE ddlgate_command_duration_seconds histogram\n"));
	assert_non_null(strstr(text, "# TYPE ddlgate_connections gauge\n"));
	assert_null(strstr(text, "decision=\"hold\"")); /* zero series are left out */
	free(text);

	struct metrics_snapshot s;
	metrics_snapshot(&s);
	assert_int_equal(s.conn_current, 3);
	assert_int_equal(s.conn_total, 4);
	assert_int_equal(s.commands, 2004);
}

/* ---- admin over HTTP ---------------------------------------------------- */

struct reply {
	int code;
	char body[8192];
	bool done;
};

/* Every record written is observed in the write-duration histogram, and
 * the writer's own counters reach /metrics while the log is open. */
static void test_audit_and_guard_counters(void **state)
{
	static const struct {
		const char *series;
		long long delta; /* expected change after 7 records; -1: grew */
	} rows[] = {
	    {"ddlgate_audit_write_duration_seconds_count", 7},
	    {"ddlgate_audit_records_total", 7},
	    {"ddlgate_audit_records_failed_total", 0},
	    {"ddlgate_audit_fsyncs_total", -1},
	    {"ddlgate_audit_queue_depth", 0},
	    {"ddlgate_audit_healthy", 1},
	    {"ddlgate_guard_probes_total", 0},
	};
	char path[512];
	afx_path(path, sizeof path, "metrics.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct afx_count cc = AFX_COUNT_INIT;
	long long before[sizeof rows / sizeof rows[0]];
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		before[i] = metric_now(rows[i].series);
	assert_int_equal(metric_now("ddlgate_audit_records_total"), -1); /* no log open */
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	afx_write_n(a, 1, 7, &cc);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		long long now = metric_now(rows[i].series), was = before[i] < 0 ? 0 : before[i];
		if (rows[i].delta < 0)
			assert_true(now > was);
		else if (strstr(rows[i].series, "_total") || strstr(rows[i].series, "_count"))
			assert_int_equal(now - was, rows[i].delta);
		else
			assert_int_equal(now, rows[i].delta);
	}
	struct audit_stats st;
	audit_get_stats(a, &st);
	assert_int_equal(st.records, 7);
	assert_int_equal(metric_now("ddlgate_audit_written_bytes_total"), (long long)st.bytes);
	/* fsync = always: one fsync per batch */
	assert_int_equal(metric_now("ddlgate_audit_fsyncs_total"),
			 metric_now("ddlgate_audit_batches_total"));
	audit_close(a);
	assert_int_equal(metric_now("ddlgate_audit_records_total"), -1);
	afx_cfg_free(c);
}

static void on_reply(struct evhttp_request *req, void *arg)
{
	struct reply *r = arg;
	r->done = true;
	if (!req) {
		r->code = -1;
		return;
	}
	r->code = evhttp_request_get_response_code(req);
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(b);
	if (n >= sizeof(r->body))
		n = sizeof(r->body) - 1;
	evbuffer_copyout(b, r->body, n);
	r->body[n] = '\0';
}

/* One request against the admin on port, served by the same base. */
static void request(struct event_base *base, uint16_t port, enum evhttp_cmd_type method,
		    const char *uri, const char *auth, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	struct evhttp_connection *conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", port);
	assert_non_null(conn);
	evhttp_connection_set_timeout(conn, 5);
	struct evhttp_request *req = evhttp_request_new(on_reply, r);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", "127.0.0.1");
	if (auth)
		evhttp_add_header(h, "Authorization", auth);
	assert_int_equal(evhttp_make_request(conn, req, method, uri), 0);
	while (!r->done)
		event_base_loop(base, EVLOOP_ONCE);
	evhttp_connection_free(conn);
}

static uint16_t free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void status_extra(json_t *status, void *arg)
{
	json_object_set_new(status, "window", json_string(arg));
}

static void sessions_extra(json_t *sessions, void *arg)
{
	json_array_append_new(sessions, json_pack("{s:s}", "user", (const char *)arg));
}

static int post_open(const struct evkeyvalq *query, const char *body, json_t *reply, void *arg)
{
	const char *minutes = evhttp_find_header(query, "minutes");
	if (!minutes) {
		json_object_set_new(reply, "error", json_string("minutes is required"));
		return 400;
	}
	json_object_set_new(reply, "open_minutes", json_integer(atoi(minutes)));
	return 200;
}

static void test_admin_http(void **state)
{
	struct event_base *base = event_base_new();
	struct cfg *c = cfg_defaults();
	char err[512];
	c->admin.listen.port = free_port();

	admin_register_status(status_extra, "open");
	admin_register_sessions(sessions_extra, "migrator");
	admin_register_post("/window/open", post_open, NULL);

	struct admin *a = admin_start(base, c, err, sizeof(err));
	if (!a)
		print_error("%s\n", err);
	assert_non_null(a);

	static const struct {
		enum evhttp_cmd_type method;
		const char *uri;
		int code;
		const char *body_has;
	} cases[] = {
	    {EVHTTP_REQ_GET, "/healthz", 200, "ok"},
	    {EVHTTP_REQ_GET, "/status", 200, "\"version\": \"" DDLGATE_VERSION "\""},
	    {EVHTTP_REQ_GET, "/status", 200, "\"window\": \"open\""},
	    {EVHTTP_REQ_GET, "/status", 200, "\"refused\":"},
	    {EVHTTP_REQ_GET, "/metrics", 200, "# TYPE ddlgate_connections_total counter"},
	    {EVHTTP_REQ_GET, "/sessions", 200, "\"user\": \"migrator\""},
	    {EVHTTP_REQ_POST, "/window/open?minutes=30", 200, "\"open_minutes\": 30"},
	    {EVHTTP_REQ_POST, "/window/open", 400, "minutes is required"},
	    {EVHTTP_REQ_POST, "/status", 405, "method not allowed"},
	    {EVHTTP_REQ_GET, "/nope", 404, "not found"},
	    {EVHTTP_REQ_POST, "/nope", 404, "not found"},
	};
	struct reply r;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		request(base, c->admin.listen.port, cases[i].method, cases[i].uri, NULL, &r);
		if (r.code != cases[i].code || !strstr(r.body, cases[i].body_has)) {
			print_error("%s: want %d with \"%s\", got %d: %s\n", cases[i].uri,
				    cases[i].code, cases[i].body_has, r.code, r.body);
			fail();
		}
	}
	admin_stop(a);

	/* With a token file, every request needs the bearer token. */
	char tpath[] = "/tmp/ddlgate-token-XXXXXX";
	int fd = mkstemp(tpath);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\n", 7), 7);
	close(fd);
	c->admin.token_file = strdup(tpath);
	c->admin.listen.port = free_port();
	a = admin_start(base, c, err, sizeof(err));
	if (!a)
		print_error("%s\n", err);
	assert_non_null(a);
	static const struct {
		const char *auth;
		int code;
	} auth_cases[] = {
	    {NULL, 401},	   {"Bearer wrong", 401},  {"Bearer s3cre", 401},
	    {"Basic s3cret", 401}, {"Bearer s3cret", 200}, {"bearer  s3cret", 200},
	};
	for (size_t i = 0; i < sizeof(auth_cases) / sizeof(auth_cases[0]); i++) {
		request(base, c->admin.listen.port, EVHTTP_REQ_GET, "/healthz", auth_cases[i].auth,
			&r);
		if (r.code != auth_cases[i].code) {
			print_error("auth %s: want %d, got %d\n", auth_cases[i].auth,
				    auth_cases[i].code, r.code);
			fail();
		}
	}
	admin_stop(a);

	/* An empty token file refuses to start rather than leaving the API open. */
	fd = open(tpath, O_WRONLY | O_TRUNC);
	close(fd);
	assert_null(admin_start(base, c, err, sizeof(err)));
	assert_non_null(strstr(err, "empty"));
	unlink(tpath);

	/* Disabled: NULL with an empty error. */
	c->admin.enabled = false;
	assert_null(admin_start(base, c, err, sizeof(err)));
	assert_string_equal(err, "");

	cfg_free(c);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_admin_http),
	    cmocka_unit_test_setup_teardown(test_audit_and_guard_counters, afx_setup, afx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
