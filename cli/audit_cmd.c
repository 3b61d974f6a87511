/* `ddlgate audit verify` and `ddlgate audit show`: reading audit logs after the fact. */
#include <errno.h>
#include <fnmatch.h>
#include <netdb.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/audit_pairs.h"
#include "cli/cli.h"
#include "cli/facts_mysql.h"
#include "proxy/audit_line.h"

#define EXIT_BAD 1
#define EXIT_USAGE 2
#define SHOW_STATEMENT_MAX 120

static void audit_usage(FILE *out)
{
	fputs("usage: ddlgate audit verify [--anchor SEQ:HASH | --against SOURCE] [--key-file F]\n"
	      "                            FILE...\n"
	      "       ddlgate audit show [--since T] [--until T] [--user U] [--table T]\n"
	      "                          [--decision D[,D...]] [--format text|json] FILE...\n"
	      "\n"
	      "verify checks the hash chain of FILEs given oldest first (rotated files,\n"
	      "then the current one); exit 0 intact, 1 naming the first bad line, 2 usage.\n"
	      "--anchor SEQ:HASH also requires record SEQ to have HASH (a value copied\n"
	      "off the host earlier), which detects a rewritten or truncated log.\n"
	      "--against takes that checkpoint from SOURCE: the URL of a running\n"
	      "ddlgate's GET /audit/head (http://127.0.0.1:9307/audit/head; the bearer\n"
	      "token, if any, from DDLGATE_ADMIN_TOKEN), the mirror table as\n"
	      "mysql://user:pass@host:port/SCHEMA.TABLE (its newest row of the files'\n"
	      "instance), or a file holding /audit/head's JSON.\n"
	      "--key-file F verifies an HMAC chain ([audit] key_file); every record must\n"
	      "then be keyed.\n"
	      "T is RFC 3339 (2026-11-24T02:03:04Z), a date (2026-11-24, UTC), or a time\n"
	      "ago: 90s, 30m, 1h, 2d, 1w. U may use * and ?. T for --table matches\n"
	      "schema.table or just the table. FILE - reads standard input.\n",
	      out);
}

static FILE *open_input(const char *path)
{
	return strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
}

static void close_input(FILE *f)
{
	if (f != stdin)
		fclose(f);
}

/* ---- verify ---- */

struct chain {
	bool started;
	uint64_t seq;
	char hash[AUDIT_HASH_HEX + 1];
	uint64_t first_seq;
	uint64_t count;
	/* --anchor SEQ:HASH: a record copied off the host earlier */
	const char *anchor_src; /* --against SOURCE; NULL for --anchor */
	bool anchored;
	uint64_t anchor_seq;
	char anchor_hash[AUDIT_HASH_HEX + 1];
	bool anchor_seen;
	bool keyed; /* --key-file: every record must be HMAC-chained */
};

/*
 * Checks one line against the chain so far. Returns false after printing
 * "FILE:LINE: what" for the first problem.
 */
static bool verify_line(struct chain *c, const char *file, unsigned long lineno, const char *line,
			size_t len)
{
	uint64_t seq = 0;
	char hash[AUDIT_HASH_HEX + 1];
	const char *want_prev = c->started ? c->hash : AUDIT_ZERO_HASH;
	bool keyed = false;
	enum audit_line_status st = audit_check_line_mac(line, len, want_prev, &seq, hash, &keyed);
	switch (st) {
	case AUDIT_LINE_BAD_JSON:
		printf("%s:%lu: not a valid audit record (bad JSON or missing fields)\n", file,
		       lineno);
		return false;
	case AUDIT_LINE_NEED_KEY:
		printf("%s:%lu: the chain is keyed (\"mac\":\"%s\"): give its key with "
		       "--key-file\n",
		       file, lineno, AUDIT_MAC_HMAC);
		return false;
	case AUDIT_LINE_BAD_HASH:
		printf("%s:%lu: record edited (hash mismatch)\n", file, lineno);
		return false;
	case AUDIT_LINE_OK:
	case AUDIT_LINE_BAD_PREV:
		break;
	}
	if (c->keyed && !keyed) {
		/* a plain line hashes without the key: anyone could have written it */
		printf("%s:%lu: record not keyed where the key was given (rewritten without the "
		       "key?)\n",
		       file, lineno);
		return false;
	}
	if (!c->started) {
		/* The first record: seq 1 must start from zeros; a later seq means
		 * the chain began in an older file that was not given. */
		if (seq == 1 && st == AUDIT_LINE_BAD_PREV) {
			printf("%s:%lu: first record's prev is not zero (records missing before "
			       "it)\n",
			       file, lineno);
			return false;
		}
		c->first_seq = seq;
	} else if (seq > c->seq + 1) {
		printf("%s:%lu: record missing before this one (seq %" PRIu64 " follows %" PRIu64
		       ")\n",
		       file, lineno, seq, c->seq);
		return false;
	} else if (seq <= c->seq) {
		printf("%s:%lu: record out of order or repeated (seq %" PRIu64 " follows %" PRIu64
		       ")\n",
		       file, lineno, seq, c->seq);
		return false;
	} else if (st == AUDIT_LINE_BAD_PREV) {
		printf("%s:%lu: prev does not match the previous record's hash (deleted or "
		       "reordered)\n",
		       file, lineno);
		return false;
	}
	if (c->anchored && seq == c->anchor_seq) {
		if (strcmp(hash, c->anchor_hash) != 0) {
			if (c->anchor_src)
				printf("%s:%lu: seq %" PRIu64 " does not have the hash of the "
				       "checkpoint from %s (log rewritten)\n",
				       file, lineno, seq, c->anchor_src);
			else
				printf("%s:%lu: seq %" PRIu64 " does not have the anchored hash "
				       "(log rewritten)\n",
				       file, lineno, seq);
			return false;
		}
		c->anchor_seen = true;
	}
	c->started = true;
	c->seq = seq;
	memcpy(c->hash, hash, sizeof c->hash);
	c->count++;
	return true;
}

/*
 * Checks the write-ahead pairing of one verified line (cli/audit_pairs.c).
 * Returns false after printing "FILE:LINE: what".
 */
static bool verify_pairs(struct audit_pairs *pairs, const char *file, unsigned long lineno,
			 const char *line, size_t len)
{
	json_t *r = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
	char where[512], msg[1200];
	snprintf(where, sizeof where, "%s:%lu", file, lineno);
	enum audit_pair_status st = audit_pairs_add(pairs, r, where, msg, sizeof msg);
	json_decref(r);
	if (st != AUDIT_PAIR_OK)
		printf("%s: %s\n", where, msg);
	return st == AUDIT_PAIR_OK;
}

static void print_interrupted(void *arg, const struct audit_pair_open *o)
{
	(void)arg;
	printf("%s: interrupted (crash): intent seq %" PRIu64
	       " has no outcome; ddlgate stopped before the server's answer was recorded, "
	       "so whether the statement ran must be checked on the server\n",
	       o->where, o->seq);
}

/* Sets the record the files must hold: seq > 0 with hash (64 lower-case
 * hex digits, NUL-terminated). False when either is malformed. */
static bool set_anchor(struct chain *c, uint64_t seq, const char *hash)
{
	if (seq == 0 || !hash || strlen(hash) != AUDIT_HASH_HEX)
		return false;
	for (const char *h = hash; *h; h++)
		if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
			return false;
	c->anchored = true;
	c->anchor_seq = seq;
	memcpy(c->anchor_hash, hash, AUDIT_HASH_HEX + 1);
	return true;
}

/* "SEQ:HASH" for --anchor. */
static bool parse_anchor(const char *s, struct chain *c)
{
	char *end;
	errno = 0;
	unsigned long long seq = strtoull(s, &end, 10);
	if (errno || end == s || *end != ':')
		return false;
	return set_anchor(c, seq, end + 1);
}

/* ---- --against: a checkpoint published outside the file ---- */

#define AGAINST_TIMEOUT_S 10
#define AGAINST_MAX_BODY (64u << 10)

/* The checkpoint in /audit/head's JSON ({"seq":S,"hash":"H",...}). */
static bool checkpoint_from_json(struct chain *c, const char *text, size_t len, char *err,
				 size_t errlen)
{
	json_t *o = json_loadb(text, len, 0, NULL);
	json_t *seq = json_object_get(o, "seq");
	bool ok = json_is_integer(seq) && json_integer_value(seq) >= 0 &&
		  set_anchor(c, (uint64_t)json_integer_value(seq),
			     json_string_value(json_object_get(o, "hash")));
	if (!ok)
		snprintf(err, errlen, "no checkpoint in it (want {\"seq\":N,\"hash\":\"...\"})");
	json_decref(o);
	return ok;
}

/*
 * GET url (http://host[:port]/path) over a plain socket: HTTP/1.0, so the
 * server closes after the body. The body goes to *body (malloc, NUL-
 * terminated). The admin API is plain HTTP on loopback; TLS is not spoken.
 */
static bool http_get(const char *url, char **body, size_t *blen, char *err, size_t errlen)
{
	const char *p = url + strlen("http://");
	const char *slash = strchr(p, '/');
	size_t hl = slash ? (size_t)(slash - p) : strlen(p);
	char host[256], port[16] = "80";
	if (hl == 0 || hl >= sizeof host) {
		snprintf(err, errlen, "bad URL");
		return false;
	}
	memcpy(host, p, hl);
	host[hl] = '\0';
	char *colon = strrchr(host, ':');
	if (colon && !strchr(colon, ']')) {
		snprintf(port, sizeof port, "%s", colon + 1);
		*colon = '\0';
	}
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return false;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = AGAINST_TIMEOUT_S};
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	}
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		snprintf(err, errlen, "connect %s:%s: %s", host, port, strerror(errno));
		freeaddrinfo(res);
		if (fd >= 0)
			close(fd);
		return false;
	}
	freeaddrinfo(res);
	const char *token = getenv("DDLGATE_ADMIN_TOKEN");
	char req[2048];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.0\r\nHost: %s\r\nAccept: application/json\r\n%s%s%s\r\n",
			 slash ? slash : "/", host, token ? "Authorization: Bearer " : "",
			 token ? token : "", token ? "\r\n" : "");
	bool ok = n > 0 && (size_t)n < sizeof req && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n;
	char *buf = malloc(AGAINST_MAX_BODY + 1);
	size_t len = 0;
	ssize_t r = 0;
	while (ok && buf && len < AGAINST_MAX_BODY &&
	       (r = recv(fd, buf + len, AGAINST_MAX_BODY - len, 0)) > 0)
		len += (size_t)r;
	close(fd);
	if (!ok || !buf || r < 0) {
		snprintf(err, errlen, "%s", !buf ? "out of memory" : strerror(errno));
		free(buf);
		return false;
	}
	buf[len] = '\0';
	char *sep = strstr(buf, "\r\n\r\n");
	int status = 0;
	if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1 || !sep || status != 200) {
		snprintf(err, errlen, "HTTP status %d", status);
		free(buf);
		return false;
	}
	*blen = len - (size_t)(sep + 4 - buf);
	memmove(buf, sep + 4, *blen + 1);
	*body = buf;
	return true;
}

/* The instance of the first record of path ("" when unreadable): the
 * mirror table holds the records of every instance. */
static void first_instance(const char *path, char *out, size_t outlen)
{
	out[0] = '\0';
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : NULL;
	char *line = NULL;
	size_t cap = 0;
	if (f && getline(&line, &cap, f) > 0) {
		json_t *o = json_loads(line, 0, NULL);
		snprintf(out, outlen, "%s",
			 json_string_value(json_object_get(o, "instance")) ?: "");
		json_decref(o);
	}
	free(line);
	if (f)
		fclose(f);
}

/* `table` or `schema`.`table` from "schema.table", into out. */
static bool quote_table(const char *t, char *out, size_t outlen)
{
	size_t o = 0;
	if (outlen < 3)
		return false;
	out[o++] = '`';
	for (; *t; t++) {
		if (o + 4 >= outlen)
			return false;
		if (*t == '.') {
			memcpy(out + o, "`.`", 3);
			o += 3;
			continue;
		}
		if (*t == '`')
			out[o++] = '`';
		out[o++] = *t;
	}
	out[o++] = '`';
	out[o] = '\0';
	return true;
}

/* The newest mirror row of instance: mysql://user:pass@host:port/SCHEMA.TABLE. */
static bool mirror_checkpoint(struct chain *c, const char *url, const char *instance, char *err,
			      size_t errlen)
{
	struct facts_dsn d = {0};
	bool ok = false;
	struct facts_mysql *f = NULL;
	char table[600];
	if (!facts_dsn_parse(url, &d, err, errlen))
		goto out;
	/* the path names the table; the connection needs no default schema */
	if (!quote_table(d.db && *d.db ? d.db : "ddlgate.audit", table, sizeof table)) {
		snprintf(err, errlen, "table name too long");
		goto out;
	}
	free(d.db);
	d.db = NULL;
	f = facts_mysql_connect(&d, AGAINST_TIMEOUT_S * 1000L, err, errlen);
	if (!f)
		goto out;
	MYSQL *m = facts_mysql_conn(f);
	char esc[600], sql[1600];
	size_t il = strlen(instance);
	if (il * 2 + 1 > sizeof esc) {
		snprintf(err, errlen, "instance name too long");
		goto out;
	}
	mysql_real_escape_string(m, esc, instance, (unsigned long)il);
	snprintf(sql, sizeof sql,
		 "SELECT seq, hash FROM %s WHERE instance = '%s' ORDER BY seq DESC LIMIT 1", table,
		 esc);
	MYSQL_RES *res = mysql_query(m, sql) == 0 ? mysql_store_result(m) : NULL;
	MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
	if (!res)
		snprintf(err, errlen, "%s", mysql_error(m));
	else if (!row || !row[0])
		snprintf(err, errlen, "no row of instance \"%s\" in %s", instance, table);
	else if (!(ok = set_anchor(c, strtoull(row[0], NULL, 10), row[1])))
		snprintf(err, errlen, "the newest row has no valid seq and hash");
	if (res)
		mysql_free_result(res);
out:
	facts_mysql_free(f);
	facts_dsn_cleanup(&d);
	return ok;
}

/* The checkpoint of --against SOURCE into c; first_file names the
 * instance for a mirror table. False after printing why (exit 2). */
static bool against(struct chain *c, const char *src, const char *first_file)
{
	char err[512] = "";
	bool ok;
	c->anchor_src = src;
	if (!strncmp(src, "http://", 7)) {
		char *body = NULL;
		size_t len = 0;
		ok = http_get(src, &body, &len, err, sizeof err) &&
		     checkpoint_from_json(c, body, len, err, sizeof err);
		free(body);
	} else if (!strncmp(src, "mysql://", 8)) {
		char instance[256];
		first_instance(first_file, instance, sizeof instance);
		ok = mirror_checkpoint(c, src, instance, err, sizeof err);
	} else {
		FILE *f = fopen(src, "r");
		char *buf = malloc(AGAINST_MAX_BODY);
		size_t n = f && buf ? fread(buf, 1, AGAINST_MAX_BODY, f) : 0;
		if (!f)
			snprintf(err, sizeof err, "%s", strerror(errno));
		else
			fclose(f);
		ok = f && buf && checkpoint_from_json(c, buf, n, err, sizeof err);
		free(buf);
	}
	if (!ok)
		fprintf(stderr, "ddlgate audit verify: --against %s: %s\n", src, err);
	return ok;
}

/*
 * After every line was read: whether the files hold the anchored record.
 * Returns 0 when they do (or nothing was anchored), else prints why and
 * returns the exit code: 1 when the files end before it (their tail was
 * cut off: the missing seq range is named), 2 when it lies before the
 * first record given (older files are needed to check it).
 */
static int anchor_verdict(const struct chain *c)
{
	if (!c->anchored || c->anchor_seen)
		return 0;
	char what[600];
	if (c->anchor_src)
		snprintf(what, sizeof what, "checkpoint seq %" PRIu64 " (from %s)", c->anchor_seq,
			 c->anchor_src);
	else
		snprintf(what, sizeof what, "anchor seq %" PRIu64, c->anchor_seq);
	if (c->count > 0 && c->anchor_seq < c->first_seq) {
		printf("%s is before the first record given (seq %" PRIu64
		       "): give the older files too\n",
		       what, c->first_seq);
		return EXIT_USAGE;
	}
	if (c->count > 0)
		printf("%s is not in the files (log truncated): records seq %" PRIu64 "-%" PRIu64
		       " are missing after the last record given, seq %" PRIu64 "\n",
		       what, c->seq + 1, c->anchor_seq, c->seq);
	else
		printf("%s is not in the files (log truncated): records seq 1-%" PRIu64
		       " are missing, the files hold no record\n",
		       what, c->anchor_seq);
	return EXIT_BAD;
}

static int cmd_verify(int argc, char **argv)
{
	struct chain c = {0};
	const char *src = NULL; /* --against */
	int first = 1;
	while (first < argc) {
		const char *a = argv[first];
		if (strcmp(a, "--anchor") == 0 && first + 1 < argc) {
			if (!parse_anchor(argv[first + 1], &c))
				goto bad_anchor;
			first += 2;
		} else if (strncmp(a, "--anchor=", 9) == 0) {
			if (!parse_anchor(a + 9, &c))
				goto bad_anchor;
			first++;
		} else if (strcmp(a, "--against") == 0 && first + 1 < argc) {
			src = argv[first + 1];
			first += 2;
		} else if (strncmp(a, "--against=", 10) == 0) {
			src = a + 10;
			first++;
		} else if ((strcmp(a, "--key-file") == 0 && first + 1 < argc) ||
			   strncmp(a, "--key-file=", 11) == 0) {
			const char *kf = a[10] == '=' ? a + 11 : argv[++first];
			char err[600];
			if (!audit_line_load_key(kf, err, sizeof err)) {
				fprintf(stderr, "ddlgate audit verify: --key-file: %s\n", err);
				return EXIT_USAGE;
			}
			c.keyed = true;
			first++;
		} else if (strcmp(a, "--") == 0) {
			first++;
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			audit_usage(stdout);
			return 0;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "ddlgate audit verify: unknown option %s\n", a);
			audit_usage(stderr);
			return EXIT_USAGE;
		} else {
			break;
		}
	}
	if (first >= argc) {
		fputs("ddlgate audit verify: no FILE given\n", stderr);
		audit_usage(stderr);
		return EXIT_USAGE;
	}
	if (src && c.anchored) {
		fputs("ddlgate audit verify: --anchor and --against exclude each other\n", stderr);
		return EXIT_USAGE;
	}
	if (src && !against(&c, src, argv[first]))
		return EXIT_USAGE;
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	struct audit_pairs *pairs = audit_pairs_new();
	for (int i = first; i < argc && rc == 0; i++) {
		FILE *f = open_input(argv[i]);
		if (!f) {
			fprintf(stderr, "ddlgate audit verify: %s: %s\n", argv[i], strerror(errno));
			rc = EXIT_USAGE;
			break;
		}
		ssize_t n;
		unsigned long lineno = 0;
		while ((n = getline(&line, &cap, f)) >= 0) {
			lineno++;
			size_t len = (size_t)n;
			if (len > 0 && line[len - 1] == '\n')
				len--;
			if (!verify_line(&c, argv[i], lineno, line, len) ||
			    !verify_pairs(pairs, argv[i], lineno, line, len)) {
				rc = EXIT_BAD;
				break;
			}
		}
		if (rc == 0 && ferror(f)) {
			fprintf(stderr, "ddlgate audit verify: %s: read error\n", argv[i]);
			rc = EXIT_USAGE;
		}
		close_input(f);
	}
	free(line);
	if (rc == 0)
		(void)audit_pairs_each_open(pairs, print_interrupted, NULL);
	audit_pairs_free(pairs);
	if (rc != 0)
		return rc;
	if ((rc = anchor_verdict(&c)) != 0)
		return rc;
	if (c.count > 0 && c.first_seq > 1)
		printf("ok: %" PRIu64 " records, chain intact (seq %" PRIu64 "-%" PRIu64
		       "; records before seq %" PRIu64 " are in older files, not checked)\n",
		       c.count, c.first_seq, c.seq, c.first_seq);
	else
		printf("ok: %" PRIu64 " records, chain intact\n", c.count);
	return 0;
bad_anchor:
	fputs("ddlgate audit verify: --anchor wants SEQ:HASH (64 lower-case hex digits)\n", stderr);
	return EXIT_USAGE;
}

/* ---- show ---- */

static int64_t now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/*
 * Parses an RFC 3339 timestamp ("2026-11-24T02:03:04.123456Z", "... +02:00",
 * a space instead of T), a bare date (midnight UTC) or, when relative is
 * allowed, a time ago ("90s", "30m", "1h", "2d", "1w") into µs since the
 * epoch. Returns false on anything else.
 */
static bool parse_time(const char *s, bool relative, int64_t *out)
{
	char *end;
	if (relative && s[0] >= '0' && s[0] <= '9') {
		errno = 0;
		unsigned long long v = strtoull(s, &end, 10);
		static const struct {
			char unit;
			int64_t us;
		} units[] = {{'s', 1000000LL},
			     {'m', 60 * 1000000LL},
			     {'h', 3600 * 1000000LL},
			     {'d', 86400 * 1000000LL},
			     {'w', 7 * 86400 * 1000000LL}};
		if (errno == 0 && end != s && end[0] && !end[1])
			for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
				if (end[0] == units[i].unit && v < (1ULL << 40)) {
					*out = now_us() - (int64_t)v * units[i].us;
					return true;
				}
	}
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31)
		return false;
	const char *p = s + n;
	int64_t frac_us = 0, offset_s = 0;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		int m = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &m) != 2 || m != 5)
			return false;
		p += 1 + m;
		if (*p == ':') {
			if (sscanf(p + 1, "%2d%n", &sec, &m) != 1 || m != 2)
				return false;
			p += 3;
		}
		if (*p == '.') {
			int64_t scale = 100000;
			p++;
			if (*p < '0' || *p > '9')
				return false;
			for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
				frac_us += scale > 0 ? (*p - '0') * scale : 0;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;
			if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5)
				return false;
			offset_s = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
			p += 1 + m;
		}
		if (h > 23 || mi > 59 || sec > 60)
			return false;
	}
	if (*p)
		return false;
	int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
	*out = ((days * 86400 + h * 3600 + mi * 60 + sec) - offset_s) * 1000000 + frac_us;
	return true;
}

struct show_opts {
	bool have_since, have_until;
	int64_t since, until;
	const char *user;
	const char *table;
	const char *decisions; /* comma-separated */
	bool json;
};

static const char *jget_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static bool list_has(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && strncasecmp(p, item, n) == 0)
			return true;
		p += l + (e != NULL);
	}
	return false;
}

/* --table T: "schema.table" matches exactly; "table" matches any schema. */
static bool objects_match(json_t *objs, const char *want)
{
	bool qualified = strchr(want, '.') != NULL;
	size_t i;
	json_t *v;
	json_array_foreach(objs, i, v)
	{
		const char *o = json_string_value(v);
		if (!o)
			continue;
		const char *dot = strrchr(o, '.');
		const char *table = dot ? dot + 1 : o;
		if (qualified ? strcasecmp(o, want) == 0 : strcasecmp(table, want) == 0)
			return true;
	}
	return false;
}

static bool record_matches(const struct show_opts *o, json_t *r)
{
	if (o->have_since || o->have_until) {
		int64_t ts;
		if (!parse_time(jget_str(r, "ts"), false, &ts))
			return false;
		if ((o->have_since && ts < o->since) || (o->have_until && ts > o->until))
			return false;
	}
	if (o->user && fnmatch(o->user, jget_str(r, "user"), 0) != 0)
		return false;
	if (o->decisions && !list_has(o->decisions, jget_str(r, "decision")))
		return false;
	if (o->table && !objects_match(json_object_get(r, "objects"), o->table))
		return false;
	return true;
}

/*
 * Prints s[0..n) for a terminal: control characters (C0, DEL and the C1
 * range) become \xNN so that a recorded statement cannot move the cursor or
 * hide lines of the review. With one_line, runs of whitespace become one
 * space. Stops after max characters (0 = no limit) with "...".
 */
static void put_safe(const char *s, size_t n, size_t max, bool one_line)
{
	size_t shown = 0;
	bool space = false;
	for (size_t i = 0; s && i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (one_line && (c == '\n' || c == '\r' || c == '\t' || c == ' ')) {
			space = shown > 0;
			continue;
		}
		if (max && shown >= max && (c & 0xc0) != 0x80) {
			fputs("...", stdout);
			return;
		}
		if (space) {
			putchar(' ');
			shown++;
			space = false;
		}
		if (c < 0x20 || c == 0x7f) {
			printf("\\x%02x", c);
		} else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
			   (unsigned char)s[i + 1] <= 0x9f) {
			printf("\\x%02x", (unsigned char)s[++i]);
		} else {
			putchar(c);
		}
		if ((c & 0xc0) != 0x80)
			shown++;
	}
}

static void put_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	put_safe(json_string_value(v), json_string_length(v), 0, false);
}

/* One readable line: time, who, session, decision, outcome, rules, statement. */
static void print_text(json_t *r)
{
	put_field(r, "ts");
	fputs("  ", stdout);
	put_field(r, "user");
	putchar('@');
	put_field(r, "client");
	fputs("  ", stdout);
	put_field(r, "session");
	json_t *m = json_object_get(r, "migration");
	json_t *tool = json_object_get(m, "tool"), *name = json_object_get(m, "name");
	if (json_is_string(tool) || json_is_string(name)) {
		putchar('(');
		put_field(m, "tool");
		if (json_is_string(tool) && json_is_string(name))
			putchar(' ');
		put_field(m, "name");
		putchar(')');
	}
	fputs("  ", stdout);
	put_field(r, "decision");
	fputs("  ", stdout);
	put_field(r, "outcome");
	json_t *ec = json_object_get(r, "error_code");
	if (json_is_integer(ec))
		printf(" %" JSON_INTEGER_FORMAT, json_integer_value(ec));
	json_t *rules = json_object_get(r, "rules");
	if (json_array_size(rules) > 0) {
		fputs("  [", stdout);
		size_t i;
		json_t *u;
		json_array_foreach(rules, i, u)
		{
			if (i)
				putchar(' ');
			put_field(u, "id");
			putchar(':');
			put_field(u, "action");
			if (json_is_string(json_object_get(u, "guard"))) {
				fputs(" guard=", stdout);
				put_field(u, "guard");
			}
		}
		fputs("]", stdout);
	}
	json_t *tries = json_object_get(r, "attempts"); /* a DDL's metadata-lock waits */
	if (json_array_size(tries) > 0) {
		fputs("  attempts[", stdout);
		size_t i;
		json_t *t;
		json_array_foreach(tries, i, t)
		{
			json_t *b = json_object_get(t, "blocker");
			printf("%s%s %" JSON_INTEGER_FORMAT "ms%s%s", i ? ", " : "",
			       json_is_true(json_object_get(t, "sent")) ? "sent" : "held",
			       json_integer_value(json_object_get(t, "waited_ms")),
			       json_is_true(json_object_get(t, "cancelled")) ? " cancelled" : "",
			       json_is_true(json_object_get(t, "retried")) ? " retried" : "");
			if (json_is_object(b)) {
				printf(" by %" JSON_INTEGER_FORMAT " ",
				       json_integer_value(json_object_get(b, "conn_id")));
				put_field(b, "user");
				putchar('@');
				put_field(b, "host");
				putchar(' ');
				put_field(b, "state");
			}
		}
		fputs("]", stdout);
	}
	fputs("  ", stdout);
	json_t *js = json_object_get(r, "statement");
	put_safe(json_string_value(js), json_string_length(js), SHOW_STATEMENT_MAX, true);
	putchar('\n');
}

static void show_open(void *arg, const struct audit_pair_open *op)
{
	if (record_matches(arg, op->rec))
		print_text(op->rec);
}

static int cmd_show(int argc, char **argv)
{
	struct show_opts o = {0};
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		const char *opts[] = {"--since", "--until",    "--user",
				      "--table", "--decision", "--format"};
		size_t k = 0;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			audit_usage(stdout);
			return 0;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		for (; k < sizeof opts / sizeof opts[0]; k++) {
			size_t l = strlen(opts[k]);
			if (strncmp(a, opts[k], l) == 0 && a[l] == '=') {
				val = a + l + 1;
				break;
			}
			if (strcmp(a, opts[k]) == 0 && i + 1 < argc) {
				val = argv[++i];
				break;
			}
		}
		if (!val) {
			fprintf(stderr, "ddlgate audit show: unknown option or missing value: %s\n",
				a);
			audit_usage(stderr);
			return EXIT_USAGE;
		}
		bool ok = true;
		switch (k) {
		case 0:
			ok = o.have_since = parse_time(val, true, &o.since);
			break;
		case 1:
			ok = o.have_until = parse_time(val, true, &o.until);
			break;
		case 2:
			o.user = val;
			break;
		case 3:
			o.table = val;
			break;
		case 4:
			o.decisions = val;
			for (const char *p = val; *p;) {
				const char *e = strchr(p, ',');
				size_t l = e ? (size_t)(e - p) : strlen(p);
				static const char *const names[] = {"allow", "warn", "block",
								    "hold"};
				bool known = false;
				for (size_t d = 0; d < 4; d++)
					known |=
					    l == strlen(names[d]) && !strncasecmp(p, names[d], l);
				ok &= known;
				p += l + (e != NULL);
			}
			break;
		case 5:
			ok = strcmp(val, "text") == 0 || strcmp(val, "json") == 0;
			o.json = strcmp(val, "json") == 0;
			break;
		}
		if (!ok) {
			fprintf(stderr, "ddlgate audit show: bad value for %s: \"%s\"\n", opts[k],
				val);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fputs("ddlgate audit show: no FILE given\n", stderr);
		audit_usage(stderr);
		return EXIT_USAGE;
	}
	int rc = 0;
	char *line = NULL;
	size_t cap = 0;
	/* text: an intent is shown through its outcome record, which repeats
	 * it and adds the answer; intents left without one are shown at the
	 * end. json: every line as stored, so that the output still verifies */
	struct audit_pairs *pairs = audit_pairs_new();
	for (; i < argc; i++) {
		FILE *f = open_input(argv[i]);
		if (!f) {
			fprintf(stderr, "ddlgate audit show: %s: %s\n", argv[i], strerror(errno));
			rc = EXIT_USAGE;
			break;
		}
		ssize_t n;
		unsigned long lineno = 0;
		while ((n = getline(&line, &cap, f)) >= 0) {
			lineno++;
			size_t len = (size_t)n;
			if (len > 0 && line[len - 1] == '\n')
				len--;
			if (len == 0)
				continue;
			json_t *r = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
			if (!json_is_object(r)) {
				fprintf(stderr, "%s:%lu: skipped: not a JSON record\n", argv[i],
					lineno);
				json_decref(r);
				rc = EXIT_BAD;
				continue;
			}
			char msg[1200];
			(void)audit_pairs_add(pairs, r, argv[i], msg, sizeof msg);
			const char *phase = json_string_value(json_object_get(r, "phase"));
			bool intent = phase && strcmp(phase, "intent") == 0;
			if (o.json && record_matches(&o, r)) {
				fwrite(line, 1, len, stdout);
				putchar('\n');
			} else if (!o.json && !intent && record_matches(&o, r)) {
				print_text(r);
			}
			json_decref(r);
		}
		close_input(f);
	}
	if (!o.json)
		(void)audit_pairs_each_open(pairs, show_open, &o);
	audit_pairs_free(pairs);
	free(line);
	fflush(stdout);
	return rc;
}

int cmd_audit(int argc, char **argv)
{
	if (argc < 2) {
		audit_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return cmd_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		audit_usage(stdout);
		return 0;
	}
	fprintf(stderr, "ddlgate audit: unknown sub-command \"%s\"\n", argv[1]);
	audit_usage(stderr);
	return EXIT_USAGE;
}
