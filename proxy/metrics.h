/*
 * Process-wide counters for /metrics and /status.
 *
 * Hot path: every counter lives in a per-thread block (thread-local,
 * registered once in a global list the first time a thread counts), so
 * recording is a plain add on memory no other thread writes: no lock and no
 * atomic read-modify-write per command. A scrape sums the blocks. Blocks are
 * never freed; their totals outlive the thread.
 *
 * Rule hits are keyed by rule id; they only happen on inspected DDL, so they
 * sit in one small table behind a mutex.
 */
#ifndef DDLGATE_PROXY_METRICS_H
#define DDLGATE_PROXY_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "rules/stmt.h"

/* Decisions as counted by metrics_statement(); same order as enum
 * audit_decision (proxy/audit.h), so either can be passed. */
enum metrics_decision {
	METRICS_ALLOW = 0,
	METRICS_WARN,
	METRICS_BLOCK,
	METRICS_HOLD,
	METRICS_NDECISIONS,
};

/* Connections: opened after accept, closed once per opened, refused when
 * max_connections (or a failed accept) turned a client away. */
void metrics_conn_opened(void);
/* why: the enum sess_end (session.h) the session ended for. */
void metrics_conn_closed(unsigned why);
void metrics_conn_refused(void);
/* Bytes read from clients and written to clients. */
void metrics_bytes(uint64_t from_clients, uint64_t to_clients);
/* Once per completed command: cmd is the COM_ byte, latency from the
 * command's first byte to the end of the server's answer. */
void metrics_command(uint8_t cmd, uint64_t latency_us);
/* The backend leg failed (connect, reset, protocol error). */
void metrics_backend_error(void);
void metrics_backend_tls(bool resumed); /* a backend leg's TLS handshake completed */

/* Extension points for policy, audit and guards. */
void metrics_statement(enum stmt_kind kind, int decision); /* one per inspected statement */
void metrics_rule_hit(const char *rule_id);		   /* one per rule that fired */
void metrics_audit_write(uint64_t latency_us); /* per record written: submit to durable */
void metrics_audit_error(void);		       /* the audit log could not be written */
void metrics_audit_drift(void);		       /* a schema change no forwarded statement explains */
void metrics_probe(uint64_t latency_us);       /* one per live guard probe */
void metrics_migration_seen(void);	       /* a session became a migration */

/*
 * The audit log whose writer counters (audit_get_stats()) a scrape renders.
 * audit_open() attaches its log and audit_close() detaches it before
 * freeing, so a scrape never reads a closed log; a is borrowed.
 */
struct audit;
void metrics_audit_attach(const struct audit *a);
void metrics_audit_detach(const struct audit *a);

/* Totals for /status. */
struct metrics_snapshot {
	uint64_t conn_current;
	uint64_t conn_total;
	uint64_t conn_refused;
	uint64_t bytes_from_clients;
	uint64_t bytes_to_clients;
	uint64_t commands;
	uint64_t backend_errors;
	uint64_t migrations_seen;
};
void metrics_snapshot(struct metrics_snapshot *out);

/* Seconds since the process started. */
uint64_t metrics_uptime_s(void);

/* Writes every metric in the Prometheus text exposition format 0.0.4. */
void metrics_render(FILE *out);

#endif
