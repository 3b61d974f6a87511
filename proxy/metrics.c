/* Per-thread counters, summed and rendered in Prometheus text format at scrape time. */
#include "proxy/metrics.h"

#include "proxy/audit.h"
#include "proxy/guard.h"
#include "proxy/session.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Latency buckets in microseconds; rendered in seconds as Prometheus wants. */
static const uint64_t metrics_bucket_us[] = {
    100,   250,	   500,	   1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
#define METRICS_NBUCKETS (sizeof(metrics_bucket_us) / sizeof(metrics_bucket_us[0]))
#define METRICS_NKINDS (STMT_EMPTY + 1)

/* Non-cumulative bucket counts; the last slot is +Inf. */
struct metrics_hist {
	uint64_t bucket[METRICS_NBUCKETS + 1];
	uint64_t sum_us;
	uint64_t count;
};

/*
 * One thread's counters. Only the owning thread writes; scrapes read with
 * relaxed atomic loads, so a scrape may miss an in-flight add but never
 * sees a torn value.
 */
struct metrics_block {
	struct metrics_block *next; /* global list, never unlinked */
	uint64_t conn_opened, conn_closed, conn_refused;
	uint64_t conn_ends[SESS_END_COUNT]; /* closes by enum sess_end */
	uint64_t bytes_in, bytes_out;
	uint64_t backend_errors;
	uint64_t backend_tls[2]; /* backend-leg handshakes: [0] full, [1] resumed */
	uint64_t audit_errors;
	uint64_t audit_drift;
	uint64_t migrations;
	uint64_t commands[256];
	uint64_t statements[METRICS_NKINDS][METRICS_NDECISIONS];
	struct metrics_hist cmd_latency;
	struct metrics_hist audit_latency;
	struct metrics_hist probe_latency;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_block *metrics_blocks; /* guarded by metrics_lock for insertion */
static __thread struct metrics_block *metrics_mine;

struct metrics_rule_hit {
	char id[64];
	uint64_t hits;
};
#define METRICS_MAX_RULE_IDS 128
static struct metrics_rule_hit metrics_rules[METRICS_MAX_RULE_IDS]; /* guarded by metrics_lock */
static size_t metrics_nrules;
static const struct audit *metrics_audit; /* borrowed; guarded by metrics_lock */

static struct timespec metrics_started;

__attribute__((constructor)) static void metrics_init(void)
{
	clock_gettime(CLOCK_MONOTONIC, &metrics_started);
}

/* The calling thread's block, made and registered on first use. */
static struct metrics_block *metrics_block(void)
{
	struct metrics_block *b = metrics_mine;
	if (b)
		return b;
	b = calloc(1, sizeof(*b));
	if (!b)
		abort();
	pthread_mutex_lock(&metrics_lock);
	b->next = metrics_blocks;
	__atomic_store_n(&metrics_blocks, b, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&metrics_lock);
	metrics_mine = b;
	return b;
}

/* Single-writer add: a load and a store, both relaxed (no lock prefix). */
static inline void metrics_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t metrics_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void metrics_hist_observe(struct metrics_hist *h, uint64_t us)
{
	size_t i = 0;
	while (i < METRICS_NBUCKETS && us > metrics_bucket_us[i])
		i++;
	metrics_add(&h->bucket[i], 1);
	metrics_add(&h->sum_us, us);
	metrics_add(&h->count, 1);
}

void metrics_conn_opened(void)
{
	metrics_add(&metrics_block()->conn_opened, 1);
}

void metrics_conn_closed(unsigned why)
{
	struct metrics_block *b = metrics_block();
	metrics_add(&b->conn_closed, 1);
	if (why < SESS_END_COUNT)
		metrics_add(&b->conn_ends[why], 1);
}

void metrics_conn_refused(void)
{
	metrics_add(&metrics_block()->conn_refused, 1);
}

void metrics_bytes(uint64_t from_clients, uint64_t to_clients)
{
	struct metrics_block *b = metrics_block();
	if (from_clients)
		metrics_add(&b->bytes_in, from_clients);
	if (to_clients)
		metrics_add(&b->bytes_out, to_clients);
}

void metrics_command(uint8_t cmd, uint64_t latency_us)
{
	struct metrics_block *b = metrics_block();
	metrics_add(&b->commands[cmd], 1);
	metrics_hist_observe(&b->cmd_latency, latency_us);
}

void metrics_backend_error(void)
{
	metrics_add(&metrics_block()->backend_errors, 1);
}

void metrics_backend_tls(bool resumed)
{
	metrics_add(&metrics_block()->backend_tls[resumed], 1);
}

void metrics_statement(enum stmt_kind kind, int decision)
{
	if ((unsigned)kind >= METRICS_NKINDS || decision < 0 || decision >= METRICS_NDECISIONS)
		return;
	metrics_add(&metrics_block()->statements[kind][decision], 1);
}

void metrics_rule_hit(const char *rule_id)
{
	pthread_mutex_lock(&metrics_lock);
	size_t i;
	for (i = 0; i < metrics_nrules; i++)
		if (!strcmp(metrics_rules[i].id, rule_id))
			break;
	if (i == metrics_nrules && metrics_nrules < METRICS_MAX_RULE_IDS) {
		snprintf(metrics_rules[i].id, sizeof(metrics_rules[i].id), "%s", rule_id);
		metrics_nrules++;
	}
	if (i < metrics_nrules)
		metrics_rules[i].hits++;
	pthread_mutex_unlock(&metrics_lock);
}

void metrics_audit_write(uint64_t latency_us)
{
	metrics_hist_observe(&metrics_block()->audit_latency, latency_us);
}

void metrics_audit_attach(const struct audit *a)
{
	pthread_mutex_lock(&metrics_lock);
	metrics_audit = a;
	pthread_mutex_unlock(&metrics_lock);
}

void metrics_audit_detach(const struct audit *a)
{
	pthread_mutex_lock(&metrics_lock);
	if (metrics_audit == a)
		metrics_audit = NULL;
	pthread_mutex_unlock(&metrics_lock);
}

void metrics_audit_error(void)
{
	metrics_add(&metrics_block()->audit_errors, 1);
}

void metrics_audit_drift(void)
{
	metrics_add(&metrics_block()->audit_drift, 1);
}

void metrics_probe(uint64_t latency_us)
{
	metrics_hist_observe(&metrics_block()->probe_latency, latency_us);
}

void metrics_migration_seen(void)
{
	metrics_add(&metrics_block()->migrations, 1);
}

uint64_t metrics_uptime_s(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - metrics_started.tv_sec);
}

/* Sums every thread's block into out (a scratch block, not registered). */
static void metrics_sum(struct metrics_block *out)
{
	memset(out, 0, sizeof(*out));
	for (struct metrics_block *b = __atomic_load_n(&metrics_blocks, __ATOMIC_ACQUIRE); b;
	     b = b->next) {
		/* The block is a run of uint64_t after the next pointer. */
		const uint64_t *src =
		    (const uint64_t *)(const void *)((const char *)b + sizeof(b->next));
		uint64_t *dst = (uint64_t *)(void *)((char *)out + sizeof(out->next));
		size_t n = (sizeof(*b) - sizeof(b->next)) / sizeof(uint64_t);
		for (size_t i = 0; i < n; i++)
			dst[i] += metrics_get(&src[i]);
	}
}

void metrics_snapshot(struct metrics_snapshot *out)
{
	struct metrics_block *s = malloc(sizeof(*s));
	if (!s)
		abort();
	metrics_sum(s);
	memset(out, 0, sizeof(*out));
	out->conn_total = s->conn_opened;
	out->conn_current = s->conn_opened >= s->conn_closed ? s->conn_opened - s->conn_closed : 0;
	out->conn_refused = s->conn_refused;
	out->bytes_from_clients = s->bytes_in;
	out->bytes_to_clients = s->bytes_out;
	for (size_t i = 0; i < 256; i++)
		out->commands += s->commands[i];
	out->backend_errors = s->backend_errors;
	out->migrations_seen = s->migrations;
	free(s);
}

/* Names of the MySQL command bytes, for the cmd label. */
static const char *metrics_cmd_name(unsigned cmd)
{
	/* clang-format off */
	static const char *const names[] = {
		[0x00] = "sleep",          [0x01] = "quit",          [0x02] = "init_db",
		[0x03] = "query",          [0x04] = "field_list",    [0x05] = "create_db",
		[0x06] = "drop_db",        [0x07] = "refresh",       [0x08] = "shutdown",
		[0x09] = "statistics",     [0x0a] = "process_info",  [0x0b] = "connect",
		[0x0c] = "process_kill",   [0x0d] = "debug",         [0x0e] = "ping",
		[0x0f] = "time",           [0x10] = "delayed_insert", [0x11] = "change_user",
		[0x12] = "binlog_dump",    [0x13] = "table_dump",    [0x14] = "connect_out",
		[0x15] = "register_slave", [0x16] = "stmt_prepare",  [0x17] = "stmt_execute",
		[0x18] = "stmt_send_long_data", [0x19] = "stmt_close", [0x1a] = "stmt_reset",
		[0x1b] = "set_option",     [0x1c] = "stmt_fetch",    [0x1d] = "daemon",
		[0x1e] = "binlog_dump_gtid", [0x1f] = "reset_connection",
	};
	/* clang-format on */
	if (cmd < sizeof(names) / sizeof(names[0]) && names[cmd])
		return names[cmd];
	return NULL;
}

static const char *const metrics_kind_names[METRICS_NKINDS] = {
    [STMT_OTHER] = "other", [STMT_DDL] = "ddl", [STMT_DML] = "dml",
    [STMT_DCL] = "dcl",	    [STMT_TCL] = "tcl", [STMT_EMPTY] = "empty",
};
static const char *const metrics_decision_names[METRICS_NDECISIONS] = {"allow", "warn", "block",
								       "hold"};

/* A label value with \, " and newline escaped as the format requires. */
static void metrics_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(out, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void metrics_header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_counter(FILE *out, const char *name, const char *help, uint64_t v)
{
	metrics_header(out, name, "counter", help);
	fprintf(out, "%s %llu\n", name, (unsigned long long)v);
}

/* The audit writer's and mirror's own counters (docs/audit.md), when a log
 * is open. Held under metrics_lock so that audit_close() cannot free the
 * log during the read. */
static void metrics_audit_render(FILE *out)
{
	struct audit_stats st;
	pthread_mutex_lock(&metrics_lock);
	bool have = metrics_audit != NULL;
	if (have)
		audit_get_stats(metrics_audit, &st);
	pthread_mutex_unlock(&metrics_lock);
	if (!have)
		return;
	/* clang-format off */
	const struct { const char *name, *type, *help; uint64_t v; } rows[] = {
		{"ddlgate_audit_records_total", "counter", "Audit records written to the log.", st.records},
		{"ddlgate_audit_records_failed_total", "counter", "Audit records whose write or fsync failed.", st.failed},
		{"ddlgate_audit_written_bytes_total", "counter", "Bytes of audit records written.", st.bytes},
		{"ddlgate_audit_batches_total", "counter", "Audit writer rounds (one write, and one fsync with fsync = always).", st.batches},
		{"ddlgate_audit_fsyncs_total", "counter", "Successful fsyncs of the audit log.", st.fsyncs},
		{"ddlgate_audit_rotations_total", "counter", "Size rotations of the audit log.", st.rotations},
		{"ddlgate_audit_queue_depth", "gauge", "Audit records submitted and not yet written.", st.queued},
		{"ddlgate_audit_healthy", "gauge", "1 while the audit log can be written.", st.healthy},
		{"ddlgate_audit_mirror_inserted_total", "counter", "Audit lines inserted into the mirror table.", st.mirror_inserted},
		{"ddlgate_audit_mirror_dropped_total", "counter", "Audit lines the mirror dropped (queue full, or backend gone at close).", st.mirror_dropped},
		{"ddlgate_audit_mirror_errors_total", "counter", "Failed mirror connects or inserts.", st.mirror_errors},
		{"ddlgate_audit_mirror_queue_depth", "gauge", "Audit lines waiting for the mirror.", st.mirror_queued},
		{"ddlgate_audit_mirror_connected", "gauge", "1 while the mirror is connected to the backend.", st.mirror_connected},
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		metrics_header(out, rows[i].name, rows[i].type, rows[i].help);
		fprintf(out, "%s %llu\n", rows[i].name, (unsigned long long)rows[i].v);
	}
}

static void metrics_hist_render(FILE *out, const char *name, const char *help,
				const struct metrics_hist *h)
{
	uint64_t cum = 0;
	metrics_header(out, name, "histogram", help);
	for (size_t i = 0; i < METRICS_NBUCKETS; i++) {
		cum += h->bucket[i];
		fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
			(double)metrics_bucket_us[i] / 1e6, (unsigned long long)cum);
	}
	cum += h->bucket[METRICS_NBUCKETS];
	fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	fprintf(out, "%s_sum %.6f\n", name, (double)h->sum_us / 1e6);
	fprintf(out, "%s_count %llu\n", name, (unsigned long long)h->count);
}

void metrics_render(FILE *out)
{
	struct metrics_block *s = malloc(sizeof(*s));
	if (!s)
		abort();
	metrics_sum(s);

	metrics_header(out, "ddlgate_up", "gauge", "1 while ddlgate runs.");
	fputs("ddlgate_up 1\n", out);
	metrics_header(out, "ddlgate_uptime_seconds", "gauge", "Seconds since ddlgate started.");
	fprintf(out, "ddlgate_uptime_seconds %llu\n", (unsigned long long)metrics_uptime_s());

	metrics_header(out, "ddlgate_connections", "gauge", "Client connections open now.");
	fprintf(out, "ddlgate_connections %llu\n",
		(unsigned long long)(s->conn_opened >= s->conn_closed
					 ? s->conn_opened - s->conn_closed
					 : 0));
	metrics_counter(out, "ddlgate_connections_total", "Client connections accepted.",
			s->conn_opened);
	static const char *const end_labels[] = {
#define METRICS_END_LABEL(name, text, label, backend) label,
	    SESS_END_TABLE(METRICS_END_LABEL)
#undef METRICS_END_LABEL
	};
	metrics_header(out, "ddlgate_connections_closed_total", "counter",
		       "Client connections closed, by the reason the session ended.");
	for (unsigned i = 0; i < SESS_END_COUNT; i++)
		if (s->conn_ends[i])
			fprintf(out, "ddlgate_connections_closed_total{reason=\"%s\"} %llu\n",
				end_labels[i], (unsigned long long)s->conn_ends[i]);
	metrics_counter(out, "ddlgate_connections_refused_total",
			"Client connections refused (max_connections or errors).", s->conn_refused);
	metrics_counter(out, "ddlgate_client_received_bytes_total", "Bytes read from clients.",
			s->bytes_in);
	metrics_counter(out, "ddlgate_client_sent_bytes_total", "Bytes written to clients.",
			s->bytes_out);
	metrics_counter(out, "ddlgate_backend_errors_total", "Backend connection failures.",
			s->backend_errors);
	metrics_header(out, "ddlgate_backend_tls_handshakes_total", "counter",
		       "TLS handshakes of backend connections, by whether a session was resumed.");
	for (unsigned i = 0; i < 2; i++)
		fprintf(out, "ddlgate_backend_tls_handshakes_total{resumed=\"%s\"} %llu\n",
			i ? "true" : "false", (unsigned long long)s->backend_tls[i]);

	metrics_header(out, "ddlgate_commands_total", "counter",
		       "Completed client commands by MySQL command type.");
	for (unsigned i = 0; i < 256; i++) {
		if (!s->commands[i])
			continue;
		const char *name = metrics_cmd_name(i);
		if (name)
			fprintf(out, "ddlgate_commands_total{cmd=\"%s\"} %llu\n", name,
				(unsigned long long)s->commands[i]);
		else
			fprintf(out, "ddlgate_commands_total{cmd=\"0x%02x\"} %llu\n", i,
				(unsigned long long)s->commands[i]);
	}
	metrics_hist_render(out, "ddlgate_command_duration_seconds",
			    "Time from a command's arrival to the end of the server's answer.",
			    &s->cmd_latency);

	metrics_header(out, "ddlgate_statements_total", "counter",
		       "Inspected statements by kind and decision.");
	for (size_t k = 0; k < METRICS_NKINDS; k++)
		for (size_t d = 0; d < METRICS_NDECISIONS; d++)
			if (s->statements[k][d])
				fprintf(out,
					"ddlgate_statements_total{kind=\"%s\",decision=\"%s\"} "
					"%llu\n",
					metrics_kind_names[k], metrics_decision_names[d],
					(unsigned long long)s->statements[k][d]);

	metrics_header(out, "ddlgate_rule_hits_total", "counter", "Rule findings by rule id.");
	pthread_mutex_lock(&metrics_lock);
	for (size_t i = 0; i < metrics_nrules; i++) {
		fputs("ddlgate_rule_hits_total{rule=\"", out);
		metrics_label(out, metrics_rules[i].id);
		fprintf(out, "\"} %llu\n", (unsigned long long)metrics_rules[i].hits);
	}
	pthread_mutex_unlock(&metrics_lock);

	metrics_counter(out, "ddlgate_migrations_total", "Sessions that became migrations.",
			s->migrations);
	metrics_counter(out, "ddlgate_audit_errors_total",
			"Audit records that could not be written.", s->audit_errors);
	metrics_counter(out, "ddlgate_audit_drift_total",
			"Schema changes seen on the server that no forwarded statement explains.",
			s->audit_drift);
	metrics_hist_render(
	    out, "ddlgate_audit_write_duration_seconds",
	    "Time from a record's submission to the audit writer until it is "
	    "durable (written, and fsynced with fsync = always), per record written.",
	    &s->audit_latency);
	metrics_audit_render(out);
	metrics_hist_render(out, "ddlgate_probe_duration_seconds", "Time of one live guard probe.",
			    &s->probe_latency);
	struct guard_stats gs;
	guard_get_stats(&gs);
	metrics_counter(out, "ddlgate_guard_probes_total", "Live guard probes run.", gs.probes);
	metrics_counter(out, "ddlgate_guard_probe_failures_total",
			"Live guard probes that failed (including timeouts).", gs.failures);
	metrics_counter(out, "ddlgate_guard_probe_timeouts_total",
			"Live guard probes stopped by probe_timeout_ms.", gs.timeouts);
	struct guard_watch_stats ws;
	guard_watch_get_stats(&ws);
	metrics_counter(out, "ddlgate_ddl_lock_watches_total",
			"DDL statements whose metadata-lock wait was watched.", ws.watches);
	metrics_counter(out, "ddlgate_ddl_lock_cancels_total",
			"DDL lock waits stopped after ddl_lock_wait_ms (KILL QUERY).", ws.cancels);
	metrics_counter(out, "ddlgate_ddl_lock_retries_total",
			"Stopped DDL statements sent again after a backoff.", ws.retries);
	metrics_counter(out, "ddlgate_ddl_lock_looks_total",
			"Looks for old transactions on a DDL's table before sending it.", ws.looks);
	metrics_counter(out, "ddlgate_ddl_lock_holds_total",
			"DDL statements held back because an old transaction held their table.",
			ws.holds);
	metrics_header(out, "ddlgate_ddl_lock_queued_seconds_total", "counter",
		       "Time queries spent waiting for a metadata lock while a watched DDL waited "
		       "for its own (queued behind it), summed over queries.");
	fprintf(out, "ddlgate_ddl_lock_queued_seconds_total %.3f\n", (double)ws.queued_us / 1e6);
	metrics_header(out, "ddlgate_ddl_lock_watcher_ready", "gauge",
		       "1 when the guard account may see and stop a waiting DDL (the lock-wait "
		       "protection can work).");
	fprintf(out, "ddlgate_ddl_lock_watcher_ready %d\n", guard_watch_ready() ? 1 : 0);
	free(s);
}
