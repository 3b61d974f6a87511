/* Audit log writer: a thread that appends hash-chained JSON Lines records. */
#include "proxy/audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mysql.h>
#include <openssl/evp.h>

#include "rules/arena.h"
#include "rules/redact.h"

/*
 * Threads and data flow:
 *
 *   event loops --audit_submit()--> queue (mutex) --> writer thread
 *                                                       | build JSON, redact, hash
 *                                                       | one write() per batch
 *                                                       | one fsync() per batch (always)
 *   event loops <--sess_post()-- durable callbacks <----+
 *
 * Only the writer thread touches the file, the chain state (seq, prev) and
 * the file size; the mutex guards the queue, the request flags and the
 * counters that audit_sync() waits on.
 *
 * With [audit] mirror, the writer also hands every line it wrote to a second
 * thread that inserts them, batched, into a table on the backend:
 *
 *   writer --lines (bounded queue, m_mu)--> mirror thread --INSERT IGNORE--> MySQL
 *
 * The mirror never holds up the writer: when the backend is slow or down the
 * queue fills and further lines are dropped (counted); the file stays the
 * authority.
 */

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define HASH_SUFFIX ",\"hash\":\""
#define RETRY_MS 1000
#define RETRY_MIN_FREE (64u << 10)
#define MIRROR_QUEUE_MAX 100000
#define MIRROR_BATCH 200

struct rec_obj {
	struct rec_obj *next;
	const char *schema; /* arena; NULL when unqualified */
	const char *table;
};

struct rec_rule {
	struct rec_rule *next;
	const char *id, *action, *message, *guard; /* arena; guard may be NULL */
};

struct audit_rec {
	struct audit_rec *next; /* queue link */
	struct arena arena;	/* owns every string below */
	uint64_t conn_id;
	const char *client, *user, *schema;
	bool migration;
	const char *mig_tool, *mig_name;
	enum stmt_kind kind;
	const char *sql;
	size_t sql_len;
	size_t sql_full_len; /* before the AUDIT_MAX_STATEMENT cut */
	struct rec_obj *objs, **objs_tail;
	struct rec_rule *rules, **rules_tail;
	enum audit_decision decision;
	enum audit_outcome outcome;
	uint16_t error_code;
	uint64_t affected_rows;
	int64_t ts_us;
	uint64_t duration_us;
	audit_durable_cb cb;
	void *cb_arg;
};

/* A line waiting for the mirror. */
struct mline {
	struct mline *next;
	size_t len;
	char text[]; /* the record line without its newline */
};

/* The backend table copy of the log; see the diagram above. */
struct mirror {
	/* Immutable after start. */
	char *host, *sock, *user, *pass; /* owned */
	unsigned port;
	char *ca;	/* owned; verify the backend's certificate when set */
	char *schema_q; /* owned: `schema` or NULL */
	char *table_q;	/* owned: `schema`.`table` */
	pthread_t thread;

	/* Guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t wake;
	struct mline *head, **tail;
	size_t queued;
	bool closing;
	uint64_t inserted, dropped, errors;
	bool connected;

	/* Mirror thread only. */
	MYSQL *conn;
};

struct audit {
	/* Immutable after audit_open(). */
	char *instance; /* owned */
	pthread_t thread;
	struct mirror *mirror; /* owned; NULL when [audit] mirror is off */

	/* Guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t wake; /* writer: work or a request arrived */
	pthread_cond_t done; /* waiters: handled / path_gen advanced */
	struct audit_rec *head, **tail;
	uint64_t submitted, handled;
	bool closing;
	bool reopen_req;
	char *new_path; /* owned; set by audit_set_path() */
	uint64_t path_req, path_done;
	struct audit_stats stats;
	uint64_t last_seq_pub;
	char last_hash_pub[AUDIT_HASH_HEX + 1];

	/* audit_reconfigure(): taken over by the writer with its next round. */
	bool next_pending;
	enum cfg_fsync next_fsync;
	int next_interval_ms;
	uint64_t next_rotate;

	atomic_bool healthy;
	atomic_int record; /* enum cfg_audit_record, read by audit_wants() */

	/* Writer thread only. */
	enum cfg_fsync fsync_mode;
	int fsync_interval_ms;
	uint64_t rotate_bytes;
	char *path; /* owned */
	int fd;	    /* -1 when closed (after a failure) */
	uint64_t file_bytes;
	uint64_t seq;
	char prev[AUDIT_HASH_HEX + 1];
	char *batch_buf; /* owned: kept between batches to spare malloc */
	size_t batch_cap;
	bool dirty;	    /* written but not fsynced (interval mode) */
	uint64_t rotations; /* published into stats under mu */
	struct timespec last_fsync;
};

/* ---- small helpers ---- */

static int64_t now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sha256_hex(const void *a, size_t alen, const void *b, size_t blen, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, a, alen) || !EVP_DigestUpdate(ctx, b, blen) ||
	    !EVP_DigestFinal_ex(ctx, md, &mdlen)) {
		fputs("ddlgate: audit: SHA-256 unavailable\n", stderr);
		abort();
	}
	EVP_MD_CTX_free(ctx);
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < mdlen && i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

static bool is_hex64(const char *s, size_t n)
{
	if (n != AUDIT_HASH_HEX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/*
 * A JSON string of s[0..n): statements come off the wire in any charset,
 * so bytes that are not valid UTF-8 become U+FFFD (the record must stay
 * valid JSON). A NULL s gives JSON null.
 */
static json_t *jstr(struct arena *ar, const char *s, size_t n)
{
	if (!s)
		return json_null();
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t l = utf8_seq(u + i, n - i);
		if (!l)
			break;
		i += l;
	}
	if (i == n)
		return json_stringn(s, n);
	char *out = arena_alloc(ar, n * 3 + 1);
	size_t o = 0;
	for (i = 0; i < n;) {
		size_t l = utf8_seq(u + i, n - i);
		if (l) {
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	return json_stringn(out, o);
}

static json_t *jcstr(struct arena *ar, const char *s)
{
	return jstr(ar, s, s ? strlen(s) : 0);
}

const char *audit_decision_name(enum audit_decision d)
{
	switch (d) {
	case AUDIT_ALLOW:
		return "allow";
	case AUDIT_WARN:
		return "warn";
	case AUDIT_BLOCK:
		return "block";
	case AUDIT_HOLD:
		return "hold";
	}
	return "allow";
}

const char *audit_outcome_name(enum audit_outcome o)
{
	switch (o) {
	case AUDIT_OK:
		return "ok";
	case AUDIT_ERROR:
		return "error";
	case AUDIT_NOT_SENT:
		return "not_sent";
	case AUDIT_ABORTED:
		return "aborted";
	}
	return "aborted";
}

const char *audit_kind_name(enum stmt_kind k)
{
	switch (k) {
	case STMT_DDL:
		return "ddl";
	case STMT_DML:
		return "dml";
	case STMT_DCL:
		return "dcl";
	case STMT_TCL:
		return "tcl";
	case STMT_OTHER:
	case STMT_EMPTY:
		break;
	}
	return "other";
}

/* The fingerprint, computed with scratch memory from ar. */
static void fingerprint_in(struct arena *ar, const char *sql, size_t len, char out[17])
{
	size_t n = 0;
	const char *norm = redact_normalise(ar, sql, len, &n);
	char hex[65];
	sha256_hex(norm, n, "", 0, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

void audit_fingerprint(const char *sql, size_t len, char out[17])
{
	struct arena ar;
	arena_init(&ar, 1024);
	fingerprint_in(&ar, sql, len, out);
	arena_cleanup(&ar);
}

/* ---- records ---- */

struct audit_rec *audit_rec_new(void)
{
	struct audit_rec *r = calloc(1, sizeof(*r));
	if (!r) {
		fputs("ddlgate: out of memory\n", stderr);
		abort();
	}
	arena_init(&r->arena, 2048);
	r->objs_tail = &r->objs;
	r->rules_tail = &r->rules;
	r->kind = STMT_OTHER;
	return r;
}

void audit_rec_free(struct audit_rec *r)
{
	if (!r)
		return;
	arena_cleanup(&r->arena);
	free(r);
}

static const char *rdup(struct audit_rec *r, const char *s)
{
	return s ? arena_strndup(&r->arena, s, strlen(s)) : NULL;
}

void audit_rec_conn(struct audit_rec *r, uint64_t conn_id, const char *client, const char *user,
		    const char *schema)
{
	r->conn_id = conn_id;
	r->client = rdup(r, client);
	r->user = rdup(r, user);
	r->schema = (schema && *schema) ? rdup(r, schema) : NULL;
}

void audit_rec_session(struct audit_rec *r, bool migration, const char *tool, const char *name)
{
	r->migration = migration;
	r->mig_tool = rdup(r, tool);
	r->mig_name = rdup(r, name);
}

void audit_rec_statement(struct audit_rec *r, enum stmt_kind kind, const char *sql, size_t len)
{
	r->kind = kind;
	r->sql_full_len = len;
	if (len > AUDIT_MAX_STATEMENT)
		len = AUDIT_MAX_STATEMENT;
	r->sql = sql ? arena_strndup(&r->arena, sql, len) : NULL;
	r->sql_len = sql ? len : 0;
}

void audit_rec_object(struct audit_rec *r, const char *schema, const char *table)
{
	if (!table)
		return;
	struct rec_obj *o = arena_alloc(&r->arena, sizeof(*o));
	o->schema = (schema && *schema) ? rdup(r, schema) : NULL;
	o->table = rdup(r, table);
	*r->objs_tail = o;
	r->objs_tail = &o->next;
}

static void rec_stmt_objects(struct audit_rec *r, const struct stmt *st, const char *def)
{
	for (size_t i = 0; i < st->nobjects; i++)
		audit_rec_object(r, st->objects[i].schema ? st->objects[i].schema : def,
				 st->objects[i].name);
	for (size_t i = 0; i < st->ninner; i++)
		rec_stmt_objects(r, &st->inner[i], def);
}

void audit_rec_stmt(struct audit_rec *r, const struct stmt *st, const char *sql, size_t len,
		    const char *default_schema)
{
	audit_rec_statement(r, st->kind, sql, len);
	rec_stmt_objects(r, st, default_schema);
}

void audit_rec_decision(struct audit_rec *r, enum audit_decision d)
{
	r->decision = d;
}

void audit_rec_rule(struct audit_rec *r, const char *id, const char *action, const char *message,
		    const char *guard)
{
	struct rec_rule *u = arena_alloc(&r->arena, sizeof(*u));
	u->id = rdup(r, id ? id : "");
	u->action = rdup(r, action ? action : "");
	u->message = rdup(r, message ? message : "");
	u->guard = rdup(r, guard);
	*r->rules_tail = u;
	r->rules_tail = &u->next;
}

void audit_rec_outcome(struct audit_rec *r, enum audit_outcome o, uint16_t error_code,
		       uint64_t affected_rows)
{
	r->outcome = o;
	r->error_code = error_code;
	r->affected_rows = affected_rows;
}

void audit_rec_timing(struct audit_rec *r, int64_t ts_us, uint64_t duration_us)
{
	r->ts_us = ts_us;
	r->duration_us = duration_us;
}

static void format_ts(int64_t us, char out[40])
{
	time_t sec = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%06ldZ", frac);
}

/*
 * The record as a JSON object, keys in the documented order, without the
 * hash. Redaction and the fingerprint are computed here, on the writer
 * thread. The caller owns the result (json_decref).
 */
static json_t *rec_json(const struct audit *a, struct audit_rec *r, uint64_t seq, const char *prev)
{
	struct arena *ar = &r->arena;
	json_t *o = json_object();
	char ts[40];
	format_ts(r->ts_us, ts);

	json_object_set_new(o, "seq", json_integer((json_int_t)seq));
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "instance", jcstr(ar, a->instance));
	json_object_set_new(o, "conn_id", json_integer((json_int_t)r->conn_id));
	json_object_set_new(o, "client", jcstr(ar, r->client ? r->client : ""));
	json_object_set_new(o, "user", jcstr(ar, r->user));
	json_object_set_new(o, "schema", jcstr(ar, r->schema));
	json_object_set_new(o, "session", json_string(r->migration ? "migration" : "app"));
	if (r->migration || r->mig_tool || r->mig_name) {
		json_t *m = json_object();
		json_object_set_new(m, "tool", jcstr(ar, r->mig_tool));
		json_object_set_new(m, "name", jcstr(ar, r->mig_name));
		json_object_set_new(o, "migration", m);
	} else {
		json_object_set_new(o, "migration", json_null());
	}
	json_object_set_new(o, "kind", json_string(audit_kind_name(r->kind)));

	size_t rlen = 0;
	const char *red = r->sql ? redact_sql(ar, r->sql, r->sql_len, &rlen, NULL) : "";
	if (r->sql_full_len > r->sql_len) {
		char tail[80];
		int tn = snprintf(tail, sizeof tail, " /* ddlgate: truncated, %zu bytes */",
				  r->sql_full_len);
		char *cut = arena_alloc(ar, rlen + (size_t)tn + 1);
		memcpy(cut, red, rlen);
		memcpy(cut + rlen, tail, (size_t)tn);
		red = cut;
		rlen += (size_t)tn;
	}
	json_object_set_new(o, "statement", jstr(ar, red, rlen));
	char fp[17];
	fingerprint_in(ar, r->sql ? r->sql : "", r->sql_len, fp);
	json_object_set_new(o, "fingerprint", json_string(fp));

	json_t *objs = json_array();
	for (struct rec_obj *ob = r->objs; ob; ob = ob->next) {
		if (ob->schema) {
			size_t n = strlen(ob->schema) + strlen(ob->table) + 2;
			char *s = arena_alloc(ar, n);
			snprintf(s, n, "%s.%s", ob->schema, ob->table);
			json_array_append_new(objs, jcstr(ar, s));
		} else {
			json_array_append_new(objs, jcstr(ar, ob->table));
		}
	}
	json_object_set_new(o, "objects", objs);
	json_object_set_new(o, "decision", json_string(audit_decision_name(r->decision)));

	json_t *rules = json_array();
	for (struct rec_rule *u = r->rules; u; u = u->next) {
		json_t *j = json_object();
		json_object_set_new(j, "id", jcstr(ar, u->id));
		json_object_set_new(j, "action", jcstr(ar, u->action));
		json_object_set_new(j, "message", jcstr(ar, u->message));
		json_object_set_new(j, "guard", jcstr(ar, u->guard));
		json_array_append_new(rules, j);
	}
	json_object_set_new(o, "rules", rules);
	json_object_set_new(o, "outcome", json_string(audit_outcome_name(r->outcome)));
	json_object_set_new(o, "error_code",
			    r->outcome == AUDIT_ERROR ? json_integer(r->error_code) : json_null());
	json_object_set_new(o, "affected_rows",
			    r->outcome == AUDIT_OK ? json_integer((json_int_t)r->affected_rows)
						   : json_null());
	json_object_set_new(o, "duration_us", json_integer((json_int_t)r->duration_us));
	json_object_set_new(o, "prev", json_string(prev));
	return o;
}

/* A growable byte buffer for one batch. */
struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			fputs("ddlgate: out of memory\n", stderr);
			abort();
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/*
 * Appends the line of record r (chained to prev) to b and writes the new
 * hash into hash_out. The hashed bytes are prev's 64 hex digits followed by
 * the compact JSON without the hash key; the line is that JSON with
 * ,"hash":"<hex>" inserted before the closing brace.
 */
static void rec_line(const struct audit *a, struct audit_rec *r, uint64_t seq, const char *prev,
		     struct buf *b, char hash_out[65])
{
	json_t *o = rec_json(a, r, seq, prev);
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text) {
		fputs("ddlgate: out of memory\n", stderr);
		abort();
	}
	size_t n = strlen(text);
	sha256_hex(prev, AUDIT_HASH_HEX, text, n, hash_out);
	buf_add(b, text, n - 1);
	buf_add(b, HASH_SUFFIX, strlen(HASH_SUFFIX));
	buf_add(b, hash_out, AUDIT_HASH_HEX);
	buf_add(b, "\"}\n", 3);
	free(text);
}

/* ---- checking a line (shared with `ddlgate audit verify`) ---- */

enum audit_line_status audit_check_line(const char *line, size_t len, const char *prev,
					uint64_t *seq, char *hash_out)
{
	const size_t sfx = strlen(HASH_SUFFIX) + AUDIT_HASH_HEX + 2;
	if (len < sfx + 2 || line[len - 1] != '}' || line[len - 2] != '"' ||
	    memcmp(line + len - sfx, HASH_SUFFIX, strlen(HASH_SUFFIX)) != 0 ||
	    !is_hex64(line + len - AUDIT_HASH_HEX - 2, AUDIT_HASH_HEX))
		return AUDIT_LINE_BAD_JSON;
	json_error_t jerr;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!o)
		return AUDIT_LINE_BAD_JSON;
	enum audit_line_status st = AUDIT_LINE_BAD_JSON;
	json_t *jseq = json_object_get(o, "seq");
	json_t *jprev = json_object_get(o, "prev");
	if (!json_is_object(o) || !json_is_integer(jseq) || json_integer_value(jseq) < 1 ||
	    !json_is_string(jprev) ||
	    !is_hex64(json_string_value(jprev), json_string_length(jprev)))
		goto out;

	/* The hashed text is the line without its hash key: cut the suffix and
	 * close the object again. */
	char want[65];
	size_t body = len - sfx;
	char *text = malloc(body + 1);
	if (!text)
		goto out;
	memcpy(text, line, body);
	text[body] = '}';
	sha256_hex(json_string_value(jprev), AUDIT_HASH_HEX, text, body + 1, want);
	free(text);
	if (memcmp(want, line + len - AUDIT_HASH_HEX - 2, AUDIT_HASH_HEX) != 0) {
		st = AUDIT_LINE_BAD_HASH;
		goto out;
	}
	if (seq)
		*seq = (uint64_t)json_integer_value(jseq);
	if (hash_out) {
		memcpy(hash_out, want, AUDIT_HASH_HEX);
		hash_out[AUDIT_HASH_HEX] = '\0';
	}
	st = (prev && strcmp(prev, json_string_value(jprev)) != 0) ? AUDIT_LINE_BAD_PREV
								   : AUDIT_LINE_OK;
out:
	json_decref(o);
	return st;
}

/* ---- reading back the chain at start-up ---- */

/*
 * Finds the last complete line of the file open as fd (size bytes) and
 * stores its start and length. *tail_end gets the offset just after that
 * line's newline: bytes after it are a partial line left by a crash.
 * Returns false when the file holds no complete line.
 */
static bool last_line_span(int fd, uint64_t size, uint64_t *start, uint64_t *llen,
			   uint64_t *tail_end)
{
	char chunk[65536];
	uint64_t end = size; /* search window ends here */
	int64_t nl_last = -1, nl_prev = -1;
	while (end > 0 && nl_prev < 0) {
		uint64_t from = end > sizeof chunk ? end - sizeof chunk : 0;
		ssize_t n = pread(fd, chunk, (size_t)(end - from), (off_t)from);
		if (n <= 0)
			return false;
		for (ssize_t i = n - 1; i >= 0; i--) {
			if (chunk[i] != '\n')
				continue;
			if (nl_last < 0) {
				nl_last = (int64_t)from + i;
			} else {
				nl_prev = (int64_t)from + i;
				break;
			}
		}
		end = from;
	}
	if (nl_last < 0)
		return false;
	*start = (uint64_t)(nl_prev + 1);
	*llen = (uint64_t)nl_last - *start;
	*tail_end = (uint64_t)nl_last + 1;
	return true;
}

/*
 * Reads the last record of path. Returns 1 and fills seq/hash when found,
 * 0 when the file is missing or has no complete line, -1 when its last line
 * is not a valid record (message in err). When fix_tail is set, a partial
 * line after the last newline is cut off (it was never acknowledged).
 */
static int read_last(const char *path, bool fix_tail, uint64_t *seq, char hash[65], char *err,
		     size_t errlen)
{
	int fd = open(path, fix_tail ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return 0;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return 0;
	}
	uint64_t start, llen, tail_end;
	if (!last_line_span(fd, (uint64_t)st.st_size, &start, &llen, &tail_end)) {
		/* Not one newline: the first write was cut short by a crash. It
		 * was never acknowledged, so the file is empty for the chain. */
		if (fix_tail) {
			fprintf(stderr,
				"ddlgate: audit: %s: cutting %" PRIu64
				" bytes of a partial first record left by a crash\n",
				path, (uint64_t)st.st_size);
			bool cut = ftruncate(fd, 0) == 0;
			close(fd);
			if (!cut) {
				snprintf(err, errlen, "%s: cannot cut partial line: %s", path,
					 strerror(errno));
				return -1;
			}
			return 0;
		}
		close(fd);
		return 0;
	}
	if (fix_tail && tail_end < (uint64_t)st.st_size) {
		fprintf(stderr,
			"ddlgate: audit: %s: cutting %" PRIu64
			" bytes of a partial record left by a crash\n",
			path, (uint64_t)st.st_size - tail_end);
		if (ftruncate(fd, (off_t)tail_end) != 0) {
			snprintf(err, errlen, "%s: cannot cut partial last line: %s", path,
				 strerror(errno));
			close(fd);
			return -1;
		}
	}
	char *line = malloc(llen + 1);
	if (!line || pread(fd, line, llen, (off_t)start) != (ssize_t)llen) {
		free(line);
		close(fd);
		snprintf(err, errlen, "%s: cannot read last record", path);
		return -1;
	}
	close(fd);
	enum audit_line_status s = audit_check_line(line, llen, NULL, seq, hash);
	free(line);
	if (s != AUDIT_LINE_OK) {
		snprintf(err, errlen,
			 "%s: last line is not a valid audit record (%s); the chain cannot be "
			 "continued, move the file aside",
			 path, s == AUDIT_LINE_BAD_HASH ? "hash mismatch" : "not a record");
		return -1;
	}
	return 1;
}

static bool compressed_name(const char *name)
{
	static const char *const ext[] = {".gz", ".xz", ".bz2", ".zst", ".lz4", ".Z"};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t e = strlen(ext[i]);
		if (n > e && strcmp(name + n - e, ext[i]) == 0)
			return true;
	}
	return false;
}

/*
 * Continues the chain from rotated siblings of path (PATH.* or PATH-*,
 * whatever renamed them: ddlgate or logrotate): the one whose last record
 * has the highest seq wins. Compressed files are skipped. Returns like
 * read_last().
 */
static int read_last_rotated(const char *path, uint64_t *seq, char hash[65], char *err,
			     size_t errlen)
{
	char *d1 = strdup(path), *d2 = strdup(path);
	if (!d1 || !d2) {
		free(d1);
		free(d2);
		return 0;
	}
	const char *dir = dirname(d1), *base = basename(d2);
	size_t blen = strlen(base);
	DIR *dh = opendir(dir);
	int found = 0;
	if (dh) {
		struct dirent *de;
		while ((de = readdir(dh)) != NULL) {
			if (strncmp(de->d_name, base, blen) != 0 ||
			    (de->d_name[blen] != '.' && de->d_name[blen] != '-') ||
			    compressed_name(de->d_name))
				continue;
			char full[4096];
			snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
			uint64_t s = 0;
			char h[65];
			int r = read_last(full, false, &s, h, err, errlen);
			if (r < 0) {
				found = -1;
				break;
			}
			if (r > 0 && (found == 0 || s > *seq)) {
				*seq = s;
				memcpy(hash, h, 65);
				found = 1;
			}
		}
		closedir(dh);
	}
	free(d1);
	free(d2);
	return found;
}

/* Signals go to the proxy's own threads, never to the audit threads; the
 * name shows in top -H and gdb. */
static void thread_setup(const char *name)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), name);
}

/* ---- the backend mirror ---- */

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

/* Hands the lines of a written batch (b[0..len), newline-separated) to the
 * mirror thread. Drops them when the queue is full. Writer thread. */
static void mirror_push(struct mirror *m, const char *b, size_t len)
{
	struct mline *head = NULL, **tail = &head;
	size_t n = 0;
	for (const char *p = b, *end = b + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct mline *ml = malloc(sizeof(*ml) + l + 1);
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
			struct mline *next = head->next;
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

static bool mirror_query(struct mirror *m, const char *sql, size_t len)
{
	if (mysql_real_query(m->conn, sql, (unsigned long)len) != 0) {
		fprintf(stderr, "ddlgate: audit mirror: %s\n", mysql_error(m->conn));
		return false;
	}
	return true;
}

/* Connects to the backend and creates the table if needed. Mirror thread. */
static bool mirror_connect(struct mirror *m)
{
	m->conn = mysql_init(NULL);
	if (!m->conn)
		return false;
	unsigned timeout = 2, rw = 10;
	mysql_options(m->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(m->conn, MYSQL_OPT_READ_TIMEOUT, &rw);
	mysql_options(m->conn, MYSQL_OPT_WRITE_TIMEOUT, &rw);
	mysql_options(m->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (m->ca) {
		my_bool verify = 1;
		mysql_options(m->conn, MYSQL_OPT_SSL_CA, m->ca);
		mysql_options(m->conn, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
	}
	if (!mysql_real_connect(m->conn, m->sock ? NULL : m->host, m->user, m->pass, NULL,
				m->sock ? 0 : m->port, m->sock, 0)) {
		fprintf(stderr, "ddlgate: audit mirror: connect: %s\n", mysql_error(m->conn));
		goto fail;
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

static void mirror_disconnect(struct mirror *m)
{
	if (m->conn)
		mysql_close(m->conn);
	m->conn = NULL;
	pthread_mutex_lock(&m->mu);
	m->connected = false;
	pthread_mutex_unlock(&m->mu);
}

/* Appends 'escaped s' (or NULL) to b. */
static void sql_str(struct mirror *m, struct buf *b, const char *s, size_t n)
{
	if (!s) {
		buf_add(b, "NULL", 4);
		return;
	}
	char *esc = malloc(2 * n + 1);
	if (!esc) {
		fputs("ddlgate: out of memory\n", stderr);
		abort();
	}
	unsigned long l = mysql_real_escape_string(m->conn, esc, s, (unsigned long)n);
	buf_add(b, "'", 1);
	buf_add(b, esc, l);
	buf_add(b, "'", 1);
	free(esc);
}

static void sql_jstr(struct mirror *m, struct buf *b, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	sql_str(m, b, json_string_value(v), json_string_length(v));
}

/* One INSERT IGNORE for the lines in batch: a restart that mirrors a line
 * again is harmless (primary key instance, seq). */
static bool mirror_insert(struct mirror *m, struct mline *batch)
{
	struct buf b = {0};
	char head[600];
	int n = snprintf(head, sizeof head,
			 "INSERT IGNORE INTO %s (instance, seq, ts, user, client, kind, decision, "
			 "outcome, hash, record) VALUES ",
			 m->table_q);
	buf_add(&b, head, (size_t)n);
	bool first = true;
	for (struct mline *ml = batch; ml; ml = ml->next) {
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
		buf_add(&b, first ? "(" : ",(", first ? 1 : 2);
		first = false;
		sql_jstr(m, &b, o, "instance");
		buf_add(&b, ",", 1);
		buf_add(&b, seq, (size_t)sl);
		buf_add(&b, ",", 1);
		sql_str(m, &b, ts, strlen(ts));
		static const char *const keys[] = {"user",     "client",  "kind",
						   "decision", "outcome", "hash"};
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			buf_add(&b, ",", 1);
			sql_jstr(m, &b, o, keys[k]);
		}
		buf_add(&b, ",", 1);
		sql_str(m, &b, ml->text, ml->len);
		buf_add(&b, ")", 1);
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
	struct mirror *m = arg;
	thread_setup("ddlgate-amirror");
	struct mline *batch = NULL;
	size_t nbatch = 0;
	int backoff_ms = 0;
	pthread_mutex_lock(&m->mu);
	for (;;) {
		if (backoff_ms > 0 && !m->closing) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += backoff_ms / 1000;
			ts.tv_nsec += (long)(backoff_ms % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&m->wake, &m->mu, &ts);
		}
		while (!batch && !m->head && !m->closing)
			pthread_cond_wait(&m->wake, &m->mu);
		if (!batch) {
			if (!m->head)
				break; /* closing, nothing left */
			struct mline **t = &batch;
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
				struct mline *next = batch->next;
				free(batch);
				batch = next;
			}
			nbatch = 0;
			backoff_ms = 0;
			if (!ok) {
				/* closing and the backend is gone: drop the rest too */
				for (struct mline *ml = m->head; ml; ml = batch) {
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

static void mirror_free(struct mirror *m)
{
	if (!m)
		return;
	free(m->host);
	free(m->sock);
	free(m->user);
	free(m->pass);
	free(m->ca);
	free(m->schema_q);
	free(m->table_q);
	free(m);
}

/* Starts the mirror thread from [audit] mirror_table, the backend address
 * of [proxy] and the [guard] account. NULL with err set when it cannot. */
static struct mirror *mirror_start(const struct cfg *cfg, char *err, size_t errlen)
{
	if (!cfg->guard.user) {
		snprintf(err, errlen,
			 "[audit] mirror = true needs the [guard] user (with INSERT and CREATE on "
			 "the mirror table)");
		return NULL;
	}
	struct mirror *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	const char *table = cfg->audit.mirror_table && *cfg->audit.mirror_table
				? cfg->audit.mirror_table
				: "ddlgate.audit";
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
	m->host = strdup(cfg->proxy.backend.host[0] ? cfg->proxy.backend.host : "127.0.0.1");
	m->port = cfg->proxy.backend.port ? cfg->proxy.backend.port : 3306;
	m->sock = cfg->proxy.backend_socket ? strdup(cfg->proxy.backend_socket) : NULL;
	m->user = strdup(cfg->guard.user);
	m->pass = strdup(cfg->guard.password ? cfg->guard.password : "");
	if (cfg->tls.backend >= CFG_TLS_BACKEND_VERIFY_CA && cfg->tls.backend_ca)
		m->ca = strdup(cfg->tls.backend_ca);
	m->tail = &m->head;
	mysql_library_init(0, NULL, NULL); /* not thread-safe: done here, at start-up */
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->wake, NULL);
	if (!m->table_q || !m->host || !m->user || !m->pass ||
	    pthread_create(&m->thread, NULL, mirror_main, m) != 0) {
		snprintf(err, errlen, "cannot start the audit mirror thread");
		pthread_mutex_destroy(&m->mu);
		pthread_cond_destroy(&m->wake);
		mirror_free(m);
		return NULL;
	}
	return m;
}

/* Lets the mirror insert what is queued (one last attempt), then stops it. */
static void mirror_stop(struct mirror *m)
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

/* ---- the writer thread ---- */

/*
 * Opens (creates) a->path for appending. A regular file that does not end
 * with a newline holds the partial line of a write that failed half-way
 * (and could not be cut back then): it is cut now, so the next record
 * starts on a line of its own. Writer thread (and audit_open()).
 */
static bool file_open(struct audit *a)
{
	a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (a->fd < 0 && errno == EACCES)
		a->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (a->fd < 0)
		return false;
	struct stat st;
	a->file_bytes = fstat(a->fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	char last;
	if (a->file_bytes > 0 && pread(a->fd, &last, 1, (off_t)(a->file_bytes - 1)) == 1 &&
	    last != '\n') {
		uint64_t start, llen, tail_end = 0;
		if (!last_line_span(a->fd, a->file_bytes, &start, &llen, &tail_end))
			tail_end = 0;
		if (ftruncate(a->fd, (off_t)tail_end) == 0) {
			fprintf(stderr,
				"ddlgate: audit: %s: cut %" PRIu64 " bytes of a partial record\n",
				a->path, a->file_bytes - tail_end);
			a->file_bytes = tail_end;
		}
	}
	return true;
}

/* fsync(), except that pipes and character devices (a FIFO read by a log
 * shipper, /dev/null in benchmarks) cannot be synced and do not need to be. */
static int sync_fd(int fd)
{
	if (fsync(fd) == 0)
		return 0;
	int e = errno;
	struct stat st;
	if ((e == EINVAL || e == EROFS || e == ENOTSUP) && fstat(fd, &st) == 0 &&
	    !S_ISREG(st.st_mode))
		return 0;
	errno = e;
	return -1;
}

static void file_close(struct audit *a)
{
	if (a->fd >= 0) {
		if (a->dirty)
			(void)sync_fd(a->fd);
		close(a->fd);
	}
	a->fd = -1;
	a->dirty = false;
}

static void set_healthy(struct audit *a, bool ok)
{
	bool was = atomic_exchange(&a->healthy, ok);
	if (was != ok)
		fprintf(stderr, "ddlgate: audit: log %s %s\n", a->path,
			ok ? "writable again" : "cannot be written: DDL is refused");
}

/*
 * Size rotation: the full file is renamed to PATH.YYYYMMDDTHHMMSS.uuuuuuZ
 * (UTC, the moment of rotation; sorts in time order) and a new PATH begins.
 * The chain continues: the new file's first prev is the old file's last hash.
 */
static bool rotate(struct audit *a)
{
	char ts[40], name[4200];
	format_ts(now_us(), ts);
	/* 2026-11-24T02:03:04.123456Z -> 20261124T020304.123456Z */
	char compact[32];
	size_t o = 0;
	for (const char *p = ts; *p && o < sizeof compact - 1; p++)
		if (*p != '-' && *p != ':')
			compact[o++] = *p;
	compact[o] = '\0';
	snprintf(name, sizeof name, "%s.%s", a->path, compact);
	for (int i = 1; access(name, F_OK) == 0 && i < 1000; i++)
		snprintf(name, sizeof name, "%s.%s-%d", a->path, compact, i);
	if (a->fd >= 0 && sync_fd(a->fd) != 0)
		return false;
	file_close(a);
	if (rename(a->path, name) != 0) {
		fprintf(stderr, "ddlgate: audit: cannot rotate %s: %s\n", a->path, strerror(errno));
		return file_open(a);
	}
	a->rotations++;
	return file_open(a);
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void do_fsync(struct audit *a)
{
	if (a->fd >= 0 && sync_fd(a->fd) != 0) {
		fprintf(stderr, "ddlgate: audit: fsync %s: %s\n", a->path, strerror(errno));
		set_healthy(a, false);
		file_close(a);
	}
	a->dirty = false;
	clock_gettime(CLOCK_MONOTONIC, &a->last_fsync);
}

/*
 * Writes one batch: every record gets the next seq and is chained; one
 * write() for all of them, one fsync() when fsync = always. On a failed
 * write the partial batch is cut off again (when the file allows it) and
 * the chain does not advance; every callback then gets ok = false.
 * Frees the records.
 */
static void write_batch(struct audit *a, struct audit_rec *batch, size_t count)
{
	int64_t t0 = now_us();
	bool ok = true;
	if (a->fd < 0)
		ok = file_open(a);
	if (ok && a->rotate_bytes && a->file_bytes >= a->rotate_bytes)
		ok = rotate(a);

	struct buf b = {a->batch_buf, 0, a->batch_cap};
	char prev[65], hash[65];
	memcpy(prev, a->prev, 65);
	uint64_t seq = a->seq;
	if (ok) {
		for (struct audit_rec *r = batch; r; r = r->next) {
			rec_line(a, r, ++seq, prev, &b, hash);
			memcpy(prev, hash, 65);
		}
		uint64_t before = a->file_bytes;
		if (!write_all(a->fd, b.p, b.len)) {
			fprintf(stderr, "ddlgate: audit: write %s: %s\n", a->path, strerror(errno));
			if (ftruncate(a->fd, (off_t)before) != 0) {
				/* not a regular file, or the disk is gone: nothing to cut */
			}
			file_close(a);
			ok = false;
		} else {
			a->file_bytes += b.len;
			if (a->mirror)
				mirror_push(a->mirror, b.p, b.len);
			a->seq = seq;
			memcpy(a->prev, prev, 65);
			a->dirty = true;
			if (a->fsync_mode == CFG_FSYNC_ALWAYS) {
				if (sync_fd(a->fd) != 0) {
					fprintf(stderr, "ddlgate: audit: fsync %s: %s\n", a->path,
						strerror(errno));
					file_close(a);
					ok = false;
				} else {
					a->dirty = false;
					clock_gettime(CLOCK_MONOTONIC, &a->last_fsync);
				}
			}
		}
	}
	if (b.cap > (4u << 20)) { /* one huge batch: do not keep its memory */
		free(b.p);
		b.p = NULL;
		b.cap = 0;
	}
	a->batch_buf = b.p;
	a->batch_cap = b.cap;
	set_healthy(a, ok);

	pthread_mutex_lock(&a->mu);
	a->stats.batches++;
	if (ok)
		a->stats.records += count;
	else
		a->stats.failed += count;
	a->stats.write_us_total += (uint64_t)(now_us() - t0);
	a->stats.rotations = a->rotations;
	a->last_seq_pub = a->seq;
	memcpy(a->last_hash_pub, a->prev, 65);
	pthread_mutex_unlock(&a->mu);

	while (batch) {
		struct audit_rec *next = batch->next;
		if (batch->cb)
			batch->cb(batch->cb_arg, ok);
		audit_rec_free(batch);
		batch = next;
	}
}

/*
 * Whether the open file looks writable without writing a record: a
 * zero-length write() fails on a device that refuses writes (/dev/full),
 * and a regular file needs some free space on its file system. Used at
 * open, after a reopen, and by the once-a-second retry while unhealthy.
 */
static bool probe_writable(struct audit *a)
{
	if (a->fd < 0 || write(a->fd, "", 0) < 0)
		return false;
	struct stat st;
	struct statvfs vfs;
	if (fstat(a->fd, &st) != 0)
		return false;
	if (!S_ISREG(st.st_mode))
		return true;
	return fstatvfs(a->fd, &vfs) == 0 &&
	       (uint64_t)vfs.f_bavail * vfs.f_frsize >= RETRY_MIN_FREE && sync_fd(a->fd) == 0;
}

static void retry_health(struct audit *a)
{
	if (a->fd < 0 && !file_open(a))
		return;
	if (probe_writable(a))
		set_healthy(a, true);
}

static void *writer_main(void *arg)
{
	struct audit *a = arg;
	thread_setup("ddlgate-audit");
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->head && !a->reopen_req && !a->closing) {
			bool interval = a->fsync_mode == CFG_FSYNC_INTERVAL && a->dirty;
			bool unhealthy = !atomic_load(&a->healthy);
			if (!interval && !unhealthy) {
				pthread_cond_wait(&a->wake, &a->mu);
				continue;
			}
			int64_t wait_ms = RETRY_MS;
			if (interval) {
				int64_t last = (int64_t)a->last_fsync.tv_sec * 1000 +
					       a->last_fsync.tv_nsec / 1000000;
				int64_t due = last + a->fsync_interval_ms - mono_ms();
				if (due < wait_ms)
					wait_ms = due;
			}
			if (wait_ms > 0) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += wait_ms / 1000;
				ts.tv_nsec += (wait_ms % 1000) * 1000000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				if (pthread_cond_timedwait(&a->wake, &a->mu, &ts) != ETIMEDOUT)
					continue;
			}
			pthread_mutex_unlock(&a->mu);
			if (interval)
				do_fsync(a);
			if (!atomic_load(&a->healthy))
				retry_health(a);
			pthread_mutex_lock(&a->mu);
		}

		struct audit_rec *batch = a->head;
		size_t count = 0;
		for (struct audit_rec *r = batch; r; r = r->next)
			count++;
		a->head = NULL;
		a->tail = &a->head;
		bool reopen = a->reopen_req;
		a->reopen_req = false;
		char *new_path = a->new_path;
		a->new_path = NULL;
		uint64_t path_req = a->path_req;
		bool closing = a->closing;
		if (a->next_pending) {
			a->fsync_mode = a->next_fsync;
			a->fsync_interval_ms = a->next_interval_ms;
			a->rotate_bytes = a->next_rotate;
			a->next_pending = false;
		}
		pthread_mutex_unlock(&a->mu);

		if (reopen) {
			file_close(a);
			if (new_path) {
				free(a->path);
				a->path = new_path;
			}
			if (!file_open(a)) {
				fprintf(stderr, "ddlgate: audit: open %s: %s\n", a->path,
					strerror(errno));
				set_healthy(a, false);
			} else {
				set_healthy(a, probe_writable(a));
			}
		}
		if (batch)
			write_batch(a, batch, count);
		if (a->fsync_mode == CFG_FSYNC_INTERVAL && a->dirty) {
			int64_t last =
			    (int64_t)a->last_fsync.tv_sec * 1000 + a->last_fsync.tv_nsec / 1000000;
			if (closing || mono_ms() - last >= a->fsync_interval_ms)
				do_fsync(a);
		}

		pthread_mutex_lock(&a->mu);
		a->handled += count;
		if (reopen)
			a->path_done = path_req;
		pthread_cond_broadcast(&a->done);
		if (a->closing && !a->head)
			break;
	}
	pthread_mutex_unlock(&a->mu);
	file_close(a);
	free(a->batch_buf);
	a->batch_buf = NULL;
	return NULL;
}

/* ---- public API ---- */

struct audit *audit_open(const struct cfg *cfg, char *err, size_t errlen)
{
	if (!cfg->audit.path || !*cfg->audit.path) {
		snprintf(err, errlen, "[audit] path is not set");
		return NULL;
	}
	struct audit *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&a->record, (int)cfg->audit.record);
	a->fsync_mode = cfg->audit.fsync;
	a->fsync_interval_ms =
	    cfg->audit.fsync_interval_ms > 0 ? cfg->audit.fsync_interval_ms : 1000;
	a->rotate_bytes = cfg->audit.rotate_bytes;
	char host[256] = "";
	if (cfg->audit.instance && *cfg->audit.instance)
		snprintf(host, sizeof host, "%s", cfg->audit.instance);
	else if (gethostname(host, sizeof host - 1) != 0)
		snprintf(host, sizeof host, "ddlgate");
	a->instance = strdup(host);
	a->path = strdup(cfg->audit.path);
	a->fd = -1;
	a->tail = &a->head;
	memcpy(a->prev, ZERO_HASH, 65);
	atomic_init(&a->healthy, true);
	clock_gettime(CLOCK_MONOTONIC, &a->last_fsync);

	int r = read_last(a->path, true, &a->seq, a->prev, err, errlen);
	if (r == 0)
		r = read_last_rotated(a->path, &a->seq, a->prev, err, errlen);
	if (r < 0)
		goto fail;
	if (!file_open(a)) {
		snprintf(err, errlen, "%s: %s", a->path, strerror(errno));
		goto fail;
	}
	if (!probe_writable(a)) {
		/* Start unhealthy: DDL is refused from the first statement. */
		fprintf(stderr, "ddlgate: audit: log %s cannot be written: DDL is refused\n",
			a->path);
		atomic_store(&a->healthy, false);
	}
	if (cfg->audit.mirror) {
		a->mirror = mirror_start(cfg, err, errlen);
		if (!a->mirror) {
			file_close(a);
			goto fail;
		}
	}
	a->last_seq_pub = a->seq;
	memcpy(a->last_hash_pub, a->prev, 65);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->wake, NULL);
	pthread_cond_init(&a->done, NULL);
	if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
		snprintf(err, errlen, "cannot start the audit writer thread");
		file_close(a);
		mirror_stop(a->mirror);
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->wake);
		pthread_cond_destroy(&a->done);
		goto fail;
	}
	return a;
fail:
	free(a->instance);
	free(a->path);
	free(a);
	return NULL;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->closing = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	mirror_stop(a->mirror);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->wake);
	pthread_cond_destroy(&a->done);
	free(a->new_path);
	free(a->instance);
	free(a->path);
	free(a);
}

bool audit_wants(const struct audit *a, enum stmt_kind kind, bool is_write)
{
	switch ((enum cfg_audit_record)atomic_load(&((struct audit *)a)->record)) {
	case CFG_RECORD_ALL:
		return kind != STMT_EMPTY;
	case CFG_RECORD_WRITES:
		return kind == STMT_DDL || kind == STMT_DCL || (kind == STMT_DML && is_write);
	case CFG_RECORD_DDL:
		break;
	}
	return kind == STMT_DDL;
}

bool audit_healthy(const struct audit *a)
{
	return atomic_load(&((struct audit *)a)->healthy);
}

bool audit_submit(struct audit *a, struct audit_rec *r, audit_durable_cb cb, void *arg)
{
	if (!r->ts_us)
		r->ts_us = now_us();
	r->cb = cb;
	r->cb_arg = arg;
	r->next = NULL;
	pthread_mutex_lock(&a->mu);
	if (a->closing) {
		pthread_mutex_unlock(&a->mu);
		if (cb)
			cb(arg, false);
		audit_rec_free(r);
		return false;
	}
	*a->tail = r;
	a->tail = &r->next;
	a->submitted++;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
	return true;
}

void audit_reopen(struct audit *a)
{
	pthread_mutex_lock(&a->mu);
	a->reopen_req = true;
	a->path_req++;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
}

void audit_reconfigure(struct audit *a, const struct cfg *cfg)
{
	atomic_store(&a->record, (int)cfg->audit.record);
	pthread_mutex_lock(&a->mu);
	a->next_fsync = cfg->audit.fsync;
	a->next_interval_ms =
	    cfg->audit.fsync_interval_ms > 0 ? cfg->audit.fsync_interval_ms : 1000;
	a->next_rotate = cfg->audit.rotate_bytes;
	a->next_pending = true;
	if (cfg->audit.path && *cfg->audit.path) {
		/* the writer owns a->path; compare with what was last asked for */
		free(a->new_path);
		a->new_path = strdup(cfg->audit.path);
		a->path_req++;
	}
	a->reopen_req = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
}

void audit_set_path(struct audit *a, const char *path)
{
	char *p = strdup(path);
	pthread_mutex_lock(&a->mu);
	free(a->new_path);
	a->new_path = p;
	a->reopen_req = true;
	uint64_t want = ++a->path_req;
	pthread_cond_signal(&a->wake);
	while (a->path_done < want && !a->closing)
		pthread_cond_wait(&a->done, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

void audit_sync(struct audit *a)
{
	pthread_mutex_lock(&a->mu);
	uint64_t want = a->submitted;
	while (a->handled < want)
		pthread_cond_wait(&a->done, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

uint64_t audit_last(const struct audit *a, char *hash_out)
{
	struct audit *m = (struct audit *)a;
	pthread_mutex_lock(&m->mu);
	uint64_t s = m->last_seq_pub;
	if (hash_out)
		memcpy(hash_out, m->last_hash_pub, AUDIT_HASH_HEX + 1);
	pthread_mutex_unlock(&m->mu);
	return s;
}

void audit_get_stats(const struct audit *a, struct audit_stats *out)
{
	struct audit *m = (struct audit *)a;
	pthread_mutex_lock(&m->mu);
	*out = m->stats;
	pthread_mutex_unlock(&m->mu);
	if (m->mirror) {
		pthread_mutex_lock(&m->mirror->mu);
		out->mirror_inserted = m->mirror->inserted;
		out->mirror_dropped = m->mirror->dropped;
		out->mirror_errors = m->mirror->errors;
		out->mirror_queued = m->mirror->queued;
		out->mirror_connected = m->mirror->connected;
		pthread_mutex_unlock(&m->mirror->mu);
	}
}
