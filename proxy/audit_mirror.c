/* The audit mirror: a thread that copies written audit lines into a table on the backend. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <mysql.h>

#include "proxy/audit_int.h"
#include "proxy/sideconn.h"
#include "proxy/clock.h"
#include "proxy/mem.h"

/*
 *   writer --lines (bounded queue, mu)--> mirror thread --INSERT IGNORE--> MySQL
 *
 * The mirror never holds up the writer: when the backend is slow or down
 * the queue fills and further lines are dropped (counted); the file stays
 * the authority. Its settings are taken at start-up only: a reload that
 * changes them is reported and waits for a restart (see audit_reconfigure).
 */

#define MIRROR_QUEUE_MAX 100000
#define MIRROR_BATCH 200

/* A line waiting for the mirror. */
struct audit_mline {
	struct audit_mline *next;
	size_t len;
	char text[]; /* the record line without its newline */
};

struct audit_mirror {
	/* Immutable after start. */
	struct side_conf side; /* the [guard] account on the backend; owns nothing */
	char *table;	       /* owned: [audit] mirror_table as configured */
	char *schema_q;	       /* owned: `schema` or NULL */
	char *table_q;	       /* owned: `schema`.`table` */
	pthread_t thread;

	/* Guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t wake;
	struct audit_mline *head, **tail; /* owned */
	size_t queued;
	bool closing;
	uint64_t inserted, dropped, errors;
	bool connected;

	/* Mirror thread only. */
	MYSQL *conn;
};

/* [audit] mirror_table, or its default when unset. */
static const char *mirror_table_name(const struct cfg *cfg)
{
	return cfg->audit.mirror_table && *cfg->audit.mirror_table ? cfg->audit.mirror_table
								   : "ddlgate.audit";
}

/* `name` with backticks doubled: the caller frees the result. */
static char *quote_ident(const char *name, size_t n)
{
	char *q = malloc(2 * n + 3), *o = q;
	if (!q)
		return NULL;
	*o++ = '`';
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '`')
			*o++ = '`';
		*o++ = name[i];
	}
	*o++ = '`';
	*o = '\0';
	return q;
}

void audit_mirror_push(struct audit_mirror *m, const char *b, size_t len)
{
	struct audit_mline *head = NULL, **tail = &head;
	size_t n = 0;
	for (const char *p = b, *end = b + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct audit_mline *ml = malloc(sizeof(*ml) + l + 1);
		if (!ml)
			break;
		ml->next = NULL;
		ml->len = l;
		memcpy(ml->text, p, l);
		ml->text[l] = '\0';
		*tail = ml;
		tail = &ml->next;
		n++;
		p += l + 1;
	}
	pthread_mutex_lock(&m->mu);
	if (m->queued + n > MIRROR_QUEUE_MAX) {
		m->dropped += n;
		pthread_mutex_unlock(&m->mu);
		while (head) {
			struct audit_mline *next = head->next;
			free(head);
			head = next;
		}
		return;
	}
	if (head) {
		*m->tail = head;
		m->tail = tail;
		m->queued += n;
		pthread_cond_signal(&m->wake);
	}
	pthread_mutex_unlock(&m->mu);
}

static bool mirror_query(struct audit_mirror *m, const char *sql, size_t len)
{
	if (mysql_real_query(m->conn, sql, (unsigned long)len) != 0) {
		fprintf(stderr, "ddlgate: audit mirror: %s\n", mysql_error(m->conn));
		return false;
	}
	return true;
}

/* Connects to the backend and creates the table if needed. Mirror thread. */
static bool mirror_connect(struct audit_mirror *m)
{
	char why[256];
	m->conn = side_connect(&m->side, why, sizeof(why));
	if (!m->conn) {
		fprintf(stderr, "ddlgate: audit mirror: connect: %s\n", why);
		return false;
	}
	static const char tz[] = "SET time_zone = '+00:00'";
	if (!mirror_query(m, tz, sizeof tz - 1))
		goto fail;
	char sql[2048];
	int n;
	if (m->schema_q) {
		n = snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS %s", m->schema_q);
		if (!mirror_query(m, sql, (size_t)n))
			goto fail;
	}
	n = snprintf(
	    sql, sizeof sql,
	    "CREATE TABLE IF NOT EXISTS %s ("
	    "instance VARCHAR(255) NOT NULL, seq BIGINT UNSIGNED NOT NULL, "
	    "ts DATETIME(6) NOT NULL, user VARCHAR(255) NULL, client VARCHAR(64) NOT NULL, "
	    "kind VARCHAR(8) NOT NULL, decision VARCHAR(8) NOT NULL, "
	    "outcome VARCHAR(10) NOT NULL, hash CHAR(64) NOT NULL, "
	    "record LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
	    "PRIMARY KEY (instance, seq), KEY (ts)) "
	    "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	    m->table_q);
	if (n < 0 || (size_t)n >= sizeof sql || !mirror_query(m, sql, (size_t)n))
		goto fail;
	pthread_mutex_lock(&m->mu);
	m->connected = true;
	pthread_mutex_unlock(&m->mu);
	return true;
fail:
	mysql_close(m->conn);
	m->conn = NULL;
	return false;
}

static void mirror_disconnect(struct audit_mirror *m)
{
	if (m->conn)
		mysql_close(m->conn);
	m->conn = NULL;
	pthread_mutex_lock(&m->mu);
	m->connected = false;
	pthread_mutex_unlock(&m->mu);
}

/* Appends 'escaped s' (or NULL) to b. */
static void sql_str(struct audit_mirror *m, struct audit_buf *b, const char *s, size_t n)
{
	if (!s) {
		audit_buf_add(b, "NULL", 4);
		return;
	}
	char *esc = mem_alloc(2 * n + 1, "audit mirror statement");
	unsigned long l = mysql_real_escape_string(m->conn, esc, s, (unsigned long)n);
	audit_buf_add(b, "'", 1);
	audit_buf_add(b, esc, l);
	audit_buf_add(b, "'", 1);
	free(esc);
}

static void sql_jstr(struct audit_mirror *m, struct audit_buf *b, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	sql_str(m, b, json_string_value(v), json_string_length(v));
}

/* One INSERT IGNORE for the lines in batch: a restart that mirrors a line
 * again is harmless (primary key instance, seq). */
static bool mirror_insert(struct audit_mirror *m, struct audit_mline *batch)
{
	struct audit_buf b = {0};
	char head[600];
	int n = snprintf(head, sizeof head,
			 "INSERT IGNORE INTO %s (instance, seq, ts, user, client, kind, decision, "
			 "outcome, hash, record) VALUES ",
			 m->table_q);
	audit_buf_add(&b, head, (size_t)n);
	bool first = true;
	for (struct audit_mline *ml = batch; ml; ml = ml->next) {
		json_t *o = json_loadb(ml->text, ml->len, JSON_ALLOW_NUL, NULL);
		if (!json_is_object(o)) {
			json_decref(o);
			continue;
		}
		/* "2026-11-24T02:03:04.123456Z" -> "2026-11-24 02:03:04.123456" */
		char ts[40];
		snprintf(ts, sizeof ts, "%s", json_string_value(json_object_get(o, "ts")) ?: "");
		if (strlen(ts) > 19) {
			ts[10] = ' ';
			ts[strlen(ts) - 1] = '\0';
		}
		char seq[32];
		int sl = snprintf(seq, sizeof seq, "%" JSON_INTEGER_FORMAT,
				  json_integer_value(json_object_get(o, "seq")));
		audit_buf_add(&b, first ? "(" : ",(", first ? 1 : 2);
		first = false;
		sql_jstr(m, &b, o, "instance");
		audit_buf_add(&b, ",", 1);
		audit_buf_add(&b, seq, (size_t)sl);
		audit_buf_add(&b, ",", 1);
		sql_str(m, &b, ts, strlen(ts));
		static const char *const keys[] = {"user",     "client",  "kind",
						   "decision", "outcome", "hash"};
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			audit_buf_add(&b, ",", 1);
			sql_jstr(m, &b, o, keys[k]);
		}
		audit_buf_add(&b, ",", 1);
		sql_str(m, &b, ml->text, ml->len);
		audit_buf_add(&b, ")", 1);
		json_decref(o);
	}
	bool ok = first || mirror_query(m, b.p, b.len);
	free(b.p);
	return ok;
}

/*
 * The mirror thread: takes up to MIRROR_BATCH lines, inserts them with one
 * statement, and keeps a failed batch to retry after a back-off (1 s,
 * doubling to 30 s) so that the table gets every line once the backend is
 * back. At close it makes one last attempt and gives up.
 */
static void *mirror_main(void *arg)
{
	struct audit_mirror *m = arg;
	audit_thread_setup("ddlgate-amirror");
	struct audit_mline *batch = NULL;
	size_t nbatch = 0;
	int backoff_ms = 0;
	pthread_mutex_lock(&m->mu);
	for (;;) {
		if (backoff_ms > 0 && !m->closing) {
			struct timespec ts = clk_wall_ts_in(backoff_ms);
			pthread_cond_timedwait(&m->wake, &m->mu, &ts);
		}
		while (!batch && !m->head && !m->closing)
			pthread_cond_wait(&m->wake, &m->mu);
		if (!batch) {
			if (!m->head)
				break; /* closing, nothing left */
			struct audit_mline **t = &batch;
			while (m->head && nbatch < MIRROR_BATCH) {
				*t = m->head;
				m->head = m->head->next;
				t = &(*t)->next;
				*t = NULL;
				nbatch++;
				m->queued--;
			}
			if (!m->head)
				m->tail = &m->head;
		}
		bool closing = m->closing;
		pthread_mutex_unlock(&m->mu);

		bool ok = (m->conn || mirror_connect(m)) && mirror_insert(m, batch);
		if (!ok && m->conn)
			mirror_disconnect(m);
		pthread_mutex_lock(&m->mu);
		if (!ok)
			m->errors++;
		if (ok || closing) {
			if (ok)
				m->inserted += nbatch;
			else
				m->dropped += nbatch;
			while (batch) {
				struct audit_mline *next = batch->next;
				free(batch);
				batch = next;
			}
			nbatch = 0;
			backoff_ms = 0;
			if (!ok) {
				/* closing and the backend is gone: drop the rest too */
				for (struct audit_mline *ml = m->head; ml; ml = batch) {
					batch = ml->next;
					free(ml);
					m->dropped++;
				}
				batch = NULL;
				m->head = NULL;
				m->tail = &m->head;
				m->queued = 0;
			}
		} else {
			backoff_ms =
			    backoff_ms ? (backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2) : 1000;
		}
	}
	pthread_mutex_unlock(&m->mu);
	if (m->conn)
		mysql_close(m->conn);
	m->conn = NULL;
	mysql_thread_end();
	return NULL;
}

static void mirror_free(struct audit_mirror *m)
{
	if (!m)
		return;
	free(m->table);
	free(m->schema_q);
	free(m->table_q);
	free(m);
}

/* The thread starts from [audit] mirror_table, the backend address of
 * [proxy] and the [guard] account. */
struct audit_mirror *audit_mirror_start(const struct cfg *cfg, char *err, size_t errlen)
{
	if (!cfg->guard.user) {
		snprintf(err, errlen,
			 "[audit] mirror = true needs the [guard] user (with INSERT and CREATE on "
			 "the mirror table)");
		return NULL;
	}
	struct audit_mirror *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	const char *table = mirror_table_name(cfg);
	m->table = strdup(table);
	const char *dot = strchr(table, '.');
	if (dot) {
		m->schema_q = quote_ident(table, (size_t)(dot - table));
		char *t = quote_ident(dot + 1, strlen(dot + 1));
		size_t n = strlen(m->schema_q) + strlen(t) + 2;
		m->table_q = malloc(n);
		if (m->table_q)
			snprintf(m->table_q, n, "%s.%s", m->schema_q, t);
		free(t);
	} else {
		m->table_q = quote_ident(table, strlen(table));
	}
	/* The mirror writes: no statement bound, not read-only; its inserts
	 * may wait longer than a probe. */
	if (!side_conf_from_cfg(&m->side, cfg, cfg->guard.user, cfg->guard.password, 10000, err,
				errlen)) {
		mirror_free(m);
		return NULL;
	}
	m->tail = &m->head;
	mysql_library_init(0, NULL, NULL); /* not thread-safe: done here, at start-up */
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->wake, NULL);
	if (!m->table || !m->table_q || pthread_create(&m->thread, NULL, mirror_main, m) != 0) {
		snprintf(err, errlen, "cannot start the audit mirror thread");
		pthread_mutex_destroy(&m->mu);
		pthread_cond_destroy(&m->wake);
		mirror_free(m);
		return NULL;
	}
	return m;
}

void audit_mirror_stop(struct audit_mirror *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->closing = true;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->thread, NULL);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->wake);
	mirror_free(m);
}

void audit_mirror_stats(struct audit_mirror *m, struct audit_stats *out)
{
	pthread_mutex_lock(&m->mu);
	out->mirror_inserted = m->inserted;
	out->mirror_dropped = m->dropped;
	out->mirror_errors = m->errors;
	out->mirror_queued = m->queued;
	out->mirror_connected = m->connected;
	pthread_mutex_unlock(&m->mu);
}

bool audit_mirror_matches(const struct audit_mirror *m, const struct cfg *cfg)
{
	if (!cfg->audit.mirror)
		return m == NULL;
	const char *table = mirror_table_name(cfg);
	return m && strcmp(m->table, table) == 0;
}
