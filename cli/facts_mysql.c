/* Live rule facts for `ddlgate check --dsn` over one read-only MySQL connection. */
#include "cli/facts_mysql.h"

#include <ctype.h>
#include <errno.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sideconn.h"
#include "rules/probe_sql.h"

#define PROBE_SQL_MAX 8192

struct facts_mysql {
	MYSQL *conn;		     /* owned; NULL after a lost connection */
	const struct facts_dsn *dsn; /* borrowed: outlives the connection */
	long timeout_ms;
	bool mask; /* data values in answers are masked */
};

void facts_mysql_mask_samples(struct facts_mysql *f, bool mask)
{
	f->mask = mask;
}

void facts_dsn_cleanup(struct facts_dsn *d)
{
	free(d->user);
	free(d->pass);
	free(d->host);
	free(d->db);
	free(d->socket);
	free(d->tls_ca);
	memset(d, 0, sizeof(*d));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A percent-decoded copy of s[0..n); NULL when n is 0 or on a bad escape. */
static char *decode(const char *s, size_t n, bool *bad)
{
	if (n == 0)
		return NULL;
	char *out = malloc(n + 1);
	if (!out)
		abort();
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				*bad = true;
				free(out);
				return NULL;
			}
			out[k++] = (char)(hi * 16 + lo);
			i += 2;
			continue;
		}
		out[k++] = s[i];
	}
	out[k] = '\0';
	return out;
}

bool facts_dsn_parse(const char *url, struct facts_dsn *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	d->tls = SIDE_TLS_PREFERRED;
	const char *p = strstr(url, "://");
	if (!p || !((p - url == 5 && strncmp(url, "mysql", 5) == 0) ||
		    (p - url == 7 && strncmp(url, "mariadb", 7) == 0))) {
		snprintf(err, errlen, "--dsn: expected mysql://user:pass@host:port/db");
		return false;
	}
	p += 3;
	bool bad = false;
	const char *end = p + strcspn(p, "/?");
	const char *at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			d->user = decode(p, (size_t)(colon - p), &bad);
			d->pass = decode(colon + 1, (size_t)(at - colon - 1), &bad);
			if (!d->pass && !bad)
				d->pass = strdup("");
		} else {
			d->user = decode(p, (size_t)(at - p), &bad);
		}
		p = at + 1;
	}
	const char *hend = end;
	if (*p == '[') { /* [v6]:port */
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb) {
			snprintf(err, errlen, "--dsn: unterminated [ in host");
			return false;
		}
		d->host = decode(p + 1, (size_t)(rb - p - 1), &bad);
		p = rb + 1;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		hend = colon ? colon : end;
		d->host = decode(p, (size_t)(hend - p), &bad);
		p = hend;
	}
	if (p < end && *p == ':') {
		char *e;
		unsigned long port = strtoul(p + 1, &e, 10);
		if (e != end || port == 0 || port > 65535) {
			snprintf(err, errlen, "--dsn: bad port");
			return false;
		}
		d->port = (unsigned)port;
	}
	p = end;
	if (*p == '/') {
		size_t n = strcspn(p + 1, "?");
		d->db = decode(p + 1, n, &bad);
		p += 1 + n;
	}
	if (*p == '?') {
		p++;
		while (*p) {
			size_t n = strcspn(p, "&");
			if (n > 7 && strncmp(p, "socket=", 7) == 0) {
				free(d->socket);
				d->socket = decode(p + 7, n - 7, &bad);
			} else if (n > 4 && strncmp(p, "tls=", 4) == 0) {
				char *w = decode(p + 4, n - 4, &bad);
				bool known = w && side_tls_parse(w, &d->tls);
				free(w);
				if (!known && !bad) {
					snprintf(err, errlen,
						 "--dsn: tls= takes off, preferred, verify-ca or "
						 "verify-identity");
					return false;
				}
			} else if (n > 7 && strncmp(p, "tls_ca=", 7) == 0) {
				free(d->tls_ca);
				d->tls_ca = decode(p + 7, n - 7, &bad);
			} else {
				snprintf(err, errlen, "--dsn: unknown parameter '%.*s'", (int)n, p);
				return false;
			}
			p += n;
			if (*p == '&')
				p++;
		}
	}
	if (bad) {
		snprintf(err, errlen, "--dsn: bad %%-escape");
		return false;
	}
	return true;
}

/* Opens the connection: a read-only side connection whose statements the
 * server bounds by timeout_ms too. */
static MYSQL *open_conn(const struct facts_dsn *d, long timeout_ms, char *err, size_t errlen)
{
	struct side_conf sc = {0};
	char why[200];
	bool fits = true;

	/* No host means "localhost": the library's default socket, as the
	 * mariadb client does. */
	fits &= snprintf(sc.host, sizeof(sc.host), "%s", d->host ? d->host : "localhost") <
		(int)sizeof(sc.host);
	fits &= snprintf(sc.socket, sizeof(sc.socket), "%s", d->socket ? d->socket : "") <
		(int)sizeof(sc.socket);
	fits &=
	    snprintf(sc.user, sizeof(sc.user), "%s", d->user ? d->user : "") < (int)sizeof(sc.user);
	fits &= snprintf(sc.password, sizeof(sc.password), "%s", d->pass ? d->pass : "") <
		(int)sizeof(sc.password);
	fits &= snprintf(sc.schema, sizeof(sc.schema), "%s", d->db ? d->db : "") <
		(int)sizeof(sc.schema);
	fits &= snprintf(sc.tls_ca, sizeof(sc.tls_ca), "%s", d->tls_ca ? d->tls_ca : "") <
		(int)sizeof(sc.tls_ca);
	if (!fits) {
		snprintf(err, errlen, "--dsn: a value is too long");
		return NULL;
	}
	sc.port = d->port;
	sc.timeout_ms = timeout_ms > 0 && timeout_ms < 86400000L ? (int)timeout_ms : 0;
	sc.statement_ms = sc.timeout_ms ? sc.timeout_ms : SIDE_DEFAULT_TIMEOUT_MS;
	sc.read_only = true;
	sc.tls = d->tls;
	MYSQL *m = side_connect(&sc, why, sizeof(why));
	if (!m)
		snprintf(err, errlen, "--dsn: cannot connect: %s", why);
	return m;
}

MYSQL *facts_mysql_conn(struct facts_mysql *f)
{
	return f->conn;
}

struct facts_mysql *facts_mysql_connect(const struct facts_dsn *d, long timeout_ms, char *err,
					size_t errlen)
{
	MYSQL *m = open_conn(d, timeout_ms, err, errlen);
	if (!m)
		return NULL;
	struct facts_mysql *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	f->conn = m;
	f->dsn = d;
	f->timeout_ms = timeout_ms;
	return f;
}

void facts_mysql_free(struct facts_mysql *f)
{
	if (!f)
		return;
	if (f->conn)
		mysql_close(f->conn);
	free(f);
}

static void fail(struct rules_fact_answer *out, const char *why)
{
	out->status = RULES_FACT_FAILED;
	out->value = RULES_UNKNOWN;
	snprintf(out->detail, sizeof(out->detail), "%s", why);
}

void facts_mysql_fetch(struct facts_mysql *f, const struct rules_fact_query *q,
		       struct rules_fact_answer *out)
{
	memset(out, 0, sizeof(*out));
	char sql[PROBE_SQL_MAX];
	if (!probe_sql_build(q, f->timeout_ms, sql, sizeof(sql))) {
		fail(out, "cannot build a probe for this key");
		return;
	}
	if (!f->conn) {
		char err[256];
		f->conn = open_conn(f->dsn, f->timeout_ms, err, sizeof(err));
		if (!f->conn) {
			fail(out, err);
			return;
		}
	}
	MYSQL_RES *res = NULL;
	if (mysql_real_query(f->conn, sql, strlen(sql)) != 0 ||
	    !(res = mysql_store_result(f->conn))) {
		unsigned int e = mysql_errno(f->conn);
		if (e == ER_NO_SUCH_TABLE && q->kind == FACT_HAS_ROWS) {
			out->status = RULES_FACT_OK;
			out->value = RULES_NO;
			snprintf(out->detail, sizeof(out->detail), "table does not exist");
			return;
		}
		/* 2013 lost connection (client read timeout), 1969 MariaDB
		 * max_statement_time, 3024 MySQL max_execution_time; the error can
		 * come with the query or while the result is read */
		if (e == 2013 || e == 2006 || e == 1969 || e == 3024) {
			fail(out, "timeout");
			if (e == 2013 || e == 2006) {
				mysql_close(f->conn);
				f->conn = NULL;
			}
			return;
		}
		fail(out, e ? mysql_error(f->conn) : "no result");
		return;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	unsigned long *lens = row ? mysql_fetch_lengths(res) : NULL;
	probe_sql_answer_mask(q, (const char *const *)row, lens, mysql_num_fields(res), f->mask,
			      out);
	mysql_free_result(res);
}

size_t facts_mysql_fetch_pending(struct facts_mysql *f, struct rules_fact_cache *c)
{
	size_t n = rules_fact_cache_npending(c);
	if (n == 0)
		return 0;
	const struct rules_fact_query **qs = calloc(n, sizeof(*qs));
	if (!qs)
		abort();
	for (size_t i = 0; i < n; i++)
		qs[i] = rules_fact_cache_pending(c, i);
	for (size_t i = 0; i < n; i++) {
		struct rules_fact_answer ans;
		facts_mysql_fetch(f, qs[i], &ans);
		rules_fact_cache_answer(c, qs[i], &ans);
	}
	free(qs);
	return n;
}
