/* The audit line format: a record as one JSON line, its SHA-256 (or HMAC-SHA-256) chain, and the
 * check of a line. */
#include "proxy/audit_line.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "proxy/audit_int.h"
#include "proxy/mem.h"
#include "rules/arena.h"
#include "rules/redact.h"

#define HASH_SUFFIX ",\"hash\":\""

/* The 32 bytes of a SHA-256 (or its HMAC) as 64 lower-case hex digits. */
static void hex32(const unsigned char *md, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/*
 * One SHA-256 context per thread that hashes (the writer, `audit verify`),
 * made once and reset for each hash: creating a context and looking up the
 * digest cost more than hashing a record. Freed when its thread ends.
 */
static pthread_key_t sha_key;
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha_md;

static void sha_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void *sha_ctx_new(void)
{
	return EVP_MD_CTX_new();
}

/* The calling thread's object under key, made with make() the first time;
 * NULL when it cannot be made. */
static void *thread_obj(pthread_key_t key, void *(*make)(void), void (*drop)(void *))
{
	void *o = pthread_getspecific(key);
	if (!o && (o = make()) != NULL && pthread_setspecific(key, o) != 0) {
		drop(o);
		o = NULL;
	}
	return o;
}

static void sha_init(void)
{
	sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (pthread_key_create(&sha_key, sha_ctx_free) != 0)
		sha_md = NULL;
}

static void sha256_hex(const void *a, size_t alen, const void *b, size_t blen, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	pthread_once(&sha_once, sha_init);
	EVP_MD_CTX *ctx = sha_md ? thread_obj(sha_key, sha_ctx_new, sha_ctx_free) : NULL;
	if (!ctx || !EVP_DigestInit_ex(ctx, sha_md, NULL) || !EVP_DigestUpdate(ctx, a, alen) ||
	    !EVP_DigestUpdate(ctx, b, blen) || !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen < 32) {
		fputs("ddlgate: audit: SHA-256 unavailable\n", stderr);
		abort();
	}
	hex32(md, out);
}

/*
 * The HMAC key of the chain ([audit] key_file, `audit verify --key-file`):
 * set once, before the writer starts or the first line is checked, and
 * only read afterwards, so the threads share it without a lock.
 */
static unsigned char chain_key[AUDIT_KEY_MAX];
static size_t chain_key_len;

bool audit_line_set_key(const void *key, size_t len)
{
	if (len > sizeof chain_key)
		return false;
	OPENSSL_cleanse(chain_key, sizeof chain_key);
	if (len)
		memcpy(chain_key, key, len);
	chain_key_len = len;
	return true;
}

bool audit_line_load_key(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
		return false;
	}
	unsigned char buf[AUDIT_KEY_MAX + 2];
	size_t n = fread(buf, 1, sizeof buf, f);
	bool too_long = n > AUDIT_KEY_MAX || !feof(f);
	fclose(f);
	/* the secret is the file's bytes; a final newline is an editor's, not the key's */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	bool ok = !too_long && n >= AUDIT_KEY_MIN && audit_line_set_key(buf, n);
	OPENSSL_cleanse(buf, sizeof buf);
	if (!ok)
		snprintf(err, errlen, "key file %s: the key must be %d to %d bytes", path,
			 AUDIT_KEY_MIN, AUDIT_KEY_MAX);
	return ok;
}

const char *audit_line_mac(void)
{
	return chain_key_len ? AUDIT_MAC_HMAC : "sha256";
}

/* One HMAC context per thread, as for SHA-256 above: fetching the MAC and
 * making a context cost more than the HMAC of a record. */
static pthread_key_t mac_key;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac;

static void mac_ctx_free(void *ctx)
{
	EVP_MAC_CTX_free(ctx);
}

static void *mac_ctx_new(void)
{
	return EVP_MAC_CTX_new(hmac);
}

static void mac_init(void)
{
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (pthread_key_create(&mac_key, mac_ctx_free) != 0)
		hmac = NULL;
}

/* The chain's hash of a || b: HMAC-SHA-256 with the key, as hex. The key
 * is given to the context for every hash (it may have changed). */
static void hmac_hex(const void *a, size_t alen, const void *b, size_t blen, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	pthread_once(&mac_once, mac_init);
	EVP_MAC_CTX *ctx = hmac ? thread_obj(mac_key, mac_ctx_new, mac_ctx_free) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			       OSSL_PARAM_construct_end()};
	if (!ctx || !EVP_MAC_init(ctx, chain_key, chain_key_len, params) ||
	    !EVP_MAC_update(ctx, a, alen) || !EVP_MAC_update(ctx, b, blen) ||
	    !EVP_MAC_final(ctx, md, &mdlen, sizeof md) || mdlen < 32) {
		fputs("ddlgate: audit: HMAC-SHA-256 unavailable\n", stderr);
		abort();
	}
	hex32(md, out);
}

/* The chain's hash of prev || text: keyed when keyed. */
static void chain_hex(bool keyed, const char *prev, const char *text, size_t n, char out[65])
{
	if (keyed)
		hmac_hex(prev, AUDIT_HASH_HEX, text, n, out);
	else
		sha256_hex(prev, AUDIT_HASH_HEX, text, n, out);
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
 * Appends s[0..n) to b as a JSON string: statements come off the wire in
 * any charset, so bytes that are not valid UTF-8 become U+FFFD (the record
 * must stay valid JSON). A NULL s gives JSON null. The escapes are those of
 * the JSON library the format was first written with (and that `audit
 * verify` reads it with): \" \\ \b \f \n \r \t, other control
 * characters as \u00XX with upper-case hex digits, everything else (DEL,
 * '/', non-ASCII) as it is; the unit tests compare the two byte for byte.
 */
static void put_str(struct audit_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!s) {
		audit_buf_add(b, "null", 4);
		return;
	}
	/* worst case: every byte an invalid one (3 bytes of U+FFFD) or a
	 * control character (6 bytes of \u00XX), plus the quotes */
	audit_buf_reserve(b, n * 6 + 2);
	char *o = b->p + b->len;
	const unsigned char *u = (const unsigned char *)s;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned c = u[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t l = utf8_seq(u + i, n - i);
			if (l) {
				memcpy(o, s + i, l);
				o += l;
				i += l;
			} else {
				memcpy(o, "\xef\xbf\xbd", 3);
				o += 3;
				i++;
			}
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*o++ = (char)c;
			break;
		case '\b':
			*o++ = 'b';
			break;
		case '\f':
			*o++ = 'f';
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[c >> 4];
			o[4] = hex[c & 15];
			o += 5;
			break;
		}
		i++;
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

static void put_cstr(struct audit_buf *b, const char *s)
{
	put_str(b, s, s ? strlen(s) : 0);
}

/* A literal piece of the line (a key with its punctuation). */
#define PUT(b, lit) audit_buf_add((b), (lit), sizeof(lit) - 1)
/* A key (literal, with its punctuation) and a string value or null. */
#define PUT_STR(b, lit, s) (PUT(b, lit), put_cstr((b), (s)))

/* A JSON integer as the record has always printed it: signed 64-bit. */
static void put_int(struct audit_buf *b, int64_t v)
{
	char tmp[24];
	char *e = tmp + sizeof tmp, *p = e;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	audit_buf_add(b, p, (size_t)(e - p));
}

static void put_bool(struct audit_buf *b, bool v)
{
	if (v)
		PUT(b, "true");
	else
		PUT(b, "false");
}

/* The record's names for the enums: tables indexed by value, so that a new
 * value without a name shows up as the fallback rather than as garbage. */
static const char *const decision_names[] = {
    [AUDIT_ALLOW] = "allow", [AUDIT_WARN] = "warn", [AUDIT_BLOCK] = "block", [AUDIT_HOLD] = "hold"};
static const char *const outcome_names[] = {
    [AUDIT_OK] = "ok",		 [AUDIT_ERROR] = "error",     [AUDIT_NOT_SENT] = "not_sent",
    [AUDIT_ABORTED] = "aborted", [AUDIT_PENDING] = "pending", [AUDIT_PREPARED] = "prepared"};
static const char *const kind_names[] = {
    [STMT_DDL] = "ddl", [STMT_DML] = "dml", [STMT_DCL] = "dcl", [STMT_TCL] = "tcl"};

static const char *name_of(const char *const *names, size_t n, unsigned i, const char *fallback)
{
	return i < n && names[i] ? names[i] : fallback;
}

const char *audit_decision_name(enum audit_decision d)
{
	return name_of(decision_names, sizeof decision_names / sizeof decision_names[0], d,
		       "allow");
}

const char *audit_outcome_name(enum audit_outcome o)
{
	return name_of(outcome_names, sizeof outcome_names / sizeof outcome_names[0], o, "aborted");
}

const char *audit_kind_name(enum stmt_kind k)
{
	return name_of(kind_names, sizeof kind_names / sizeof kind_names[0], k, "other");
}

/* The fingerprint of a statement from its normalised text. */
static void fingerprint_of(const char *norm, size_t n, char out[17])
{
	char hex[65];
	sha256_hex(norm, n, "", 0, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

void audit_fingerprint(const char *sql, size_t len, char out[17])
{
	struct arena ar;
	arena_init(&ar, 1024);
	size_t n = 0;
	const char *norm = redact_normalise(&ar, sql, len, &n);
	fingerprint_of(norm, n, out);
	arena_cleanup(&ar);
}

/* A statement as the log shows it: redacted into ar, and its fingerprint;
 * the text is lexed once for both. */
static void text_of(struct arena *ar, const char *sql, size_t len, char **red, size_t *rlen,
		    char fp[17])
{
	char *norm;
	size_t nlen;
	redact_both(ar, sql, len, red, rlen, &norm, &nlen);
	fingerprint_of(norm, nlen, fp);
}

bool audit_text_make(struct audit_text *t, const char *sql, size_t len)
{
	memset(t, 0, sizeof(*t));
	if (len > AUDIT_MAX_STATEMENT)
		return false;
	struct arena ar;
	arena_init(&ar, 1024);
	char *red;
	size_t rlen;
	text_of(&ar, sql, len, &red, &rlen, t->fp);
	t->red = mem_alloc(rlen + 1, "audit text"); /* the text may hold NUL bytes */
	memcpy(t->red, red, rlen);
	t->red[rlen] = '\0';
	t->len = rlen;
	arena_cleanup(&ar);
	return true;
}

void audit_text_free(struct audit_text *t)
{
	free(t->red);
	memset(t, 0, sizeof(*t));
}

void audit_ts_format(int64_t us, char out[40])
{
	/* The date and time of day change once a second; records come by the
	 * thousand: each thread keeps the last second it formatted. */
	static _Thread_local int64_t last_sec = INT64_MIN;
	static _Thread_local char last[24];
	int64_t sec = us / 1000000;
	long frac = (long)(us % 1000000);
	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	if (sec != last_sec) {
		time_t t = (time_t)sec;
		struct tm tm;
		gmtime_r(&t, &tm);
		if (strftime(last, sizeof last, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
			last[0] = '\0';
		last_sec = sec;
	}
	size_t n = strlen(last);
	memcpy(out, last, n);
	out[n] = '.';
	for (int i = 6; i >= 1; i--) {
		out[n + (size_t)i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	out[n + 7] = 'Z';
	out[n + 8] = '\0';
}

/*
 * Appends the record as compact JSON, keys in the documented order, without
 * the hash and with its closing brace. Redaction and the fingerprint are
 * computed here, on the writer thread, with scratch memory from ar.
 * Written straight into b, with no intermediate JSON objects: the bytes are
 * those the JSON library produced for the same record (the unit tests keep
 * that reference and compare).
 */
static void rec_text(const char *instance, struct audit_rec *r, uint64_t seq, const char *prev,
		     struct arena *ar, struct audit_buf *b)
{
	char ts[40];
	audit_ts_format(r->ts_us, ts);

	PUT(b, "{\"seq\":");
	put_int(b, (int64_t)seq);
	PUT(b, ",\"ts\":\"");
	audit_buf_add(b, ts, strlen(ts));
	PUT_STR(b, "\",\"instance\":", instance);
	PUT(b, ",\"conn_id\":");
	put_int(b, (int64_t)r->conn_id);
	PUT_STR(b, ",\"client\":", r->client ? r->client : "");
	PUT_STR(b, ",\"user\":", r->user);
	PUT_STR(b, ",\"schema\":", r->schema);
	if (r->migration)
		PUT(b, ",\"session\":\"migration\"");
	else
		PUT(b, ",\"session\":\"app\"");
	if (r->migration || r->mig_tool || r->mig_name) {
		PUT_STR(b, ",\"migration\":{\"tool\":", r->mig_tool);
		PUT_STR(b, ",\"name\":", r->mig_name);
		PUT(b, "}");
	} else {
		PUT(b, ",\"migration\":null");
	}
	PUT_STR(b, ",\"kind\":", r->drift ? "drift" : audit_kind_name(r->kind));

	char *red = (char *)r->sql, fp[17];
	size_t rlen = r->sql_len;
	if (r->sql_ready) /* done once for many records (audit_text_make) */
		memcpy(fp, r->fp, sizeof(fp));
	else
		text_of(ar, r->sql ? r->sql : "", r->sql ? r->sql_len : 0, &red, &rlen, fp);
	PUT(b, ",\"statement\":");
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
	put_str(b, red, rlen);
	PUT(b, ",\"fingerprint\":\"");
	audit_buf_add(b, fp, 16);

	PUT(b, "\",\"objects\":[");
	for (struct audit_rec_obj *ob = r->objs; ob; ob = ob->next) {
		if (ob != r->objs)
			PUT(b, ",");
		if (ob->schema) {
			size_t sl = strlen(ob->schema), tl = strlen(ob->table);
			char *q = arena_alloc(ar, sl + tl + 2);
			memcpy(q, ob->schema, sl);
			q[sl] = '.';
			memcpy(q + sl + 1, ob->table, tl + 1);
			put_str(b, q, sl + tl + 1);
		} else {
			put_cstr(b, ob->table);
		}
	}
	PUT_STR(b, "],\"decision\":", audit_decision_name(r->decision));

	PUT(b, ",\"rules\":[");
	for (struct audit_rec_rule *u = r->rules; u; u = u->next) {
		if (u != r->rules)
			PUT(b, ",");
		PUT_STR(b, "{\"id\":", u->id);
		PUT_STR(b, ",\"action\":", u->action);
		PUT_STR(b, ",\"message\":", u->message);
		PUT_STR(b, ",\"guard\":", u->guard);
		PUT(b, "}");
	}
	PUT_STR(b, "],\"outcome\":", audit_outcome_name(r->outcome));
	PUT(b, ",\"error_code\":");
	if (r->outcome == AUDIT_ERROR)
		put_int(b, r->error_code);
	else
		PUT(b, "null");
	PUT(b, ",\"affected_rows\":");
	if (r->outcome == AUDIT_OK)
		put_int(b, (int64_t)r->affected_rows);
	else
		PUT(b, "null");
	PUT(b, ",\"duration_us\":");
	put_int(b, (int64_t)r->duration_us);
	if (r->executed) {
		PUT(b, ",\"params\":{\"count\":");
		put_int(b, (int64_t)r->nparams);
		if (r->nparams > 0) {
			PUT(b, ",\"types\":");
			if (r->param_types) {
				PUT(b, "[");
				for (unsigned i = 0; i < r->nparams; i++) {
					if (i)
						PUT(b, ",");
					put_cstr(b, r->param_types[i]);
				}
				PUT(b, "]");
			} else {
				PUT(b, "null");
			}
			if (r->param_values) {
				PUT(b, ",\"values\":[");
				for (unsigned i = 0; i < r->nparams; i++) {
					if (i)
						PUT(b, ",");
					put_cstr(b, r->param_values[i]); /* NULL: SQL NULL */
				}
				PUT(b, "]");
			}
		}
		PUT(b, "}");
	}
	if (r->attempts) {
		PUT(b, ",\"attempts\":[");
		for (struct audit_rec_attempt *t = r->attempts; t; t = t->next) {
			const struct audit_attempt *a = &t->a;
			if (t != r->attempts)
				PUT(b, ",");
			PUT(b, "{\"sent\":");
			put_bool(b, a->sent);
			PUT(b, ",\"waited_ms\":");
			put_int(b, a->waited_ms);
			PUT(b, ",\"cancelled\":");
			put_bool(b, a->cancelled);
			PUT(b, ",\"retried\":");
			put_bool(b, a->retried);
			PUT(b, ",\"blocker\":");
			if (!a->blocker_id) {
				PUT(b, "null}");
				continue;
			}
			PUT(b, "{\"conn_id\":");
			put_int(b, (int64_t)a->blocker_id);
			PUT_STR(b, ",\"user\":", a->blocker_user);
			PUT_STR(b, ",\"host\":", a->blocker_host);
			PUT(b, ",\"transaction_age_ms\":");
			if (a->blocker_trx_age_ms >= 0)
				put_int(b, a->blocker_trx_age_ms);
			else
				PUT(b, "null");
			PUT_STR(b, ",\"state\":", a->blocker_running ? "running" : "idle");
			PUT_STR(b, ",\"statement\":",
				a->blocker_statement[0] ? a->blocker_statement : NULL);
			PUT(b, ",\"exact\":");
			put_bool(b, a->blocker_exact);
			PUT(b, "}}");
		}
		PUT(b, "]");
	}
	if (r->intent) {
		/* a write-ahead pair; a single record has neither key */
		uint64_t iseq = audit_intent_seq(r->intent);
		if (r->is_intent) {
			PUT(b, ",\"phase\":\"intent\"");
		} else {
			PUT(b, ",\"phase\":\"outcome\",\"intent\":");
			if (iseq)
				put_int(b, (int64_t)iseq);
			else
				PUT(b, "null");
		}
	}
	if (r->drift) {
		char since[40];
		audit_ts_format(r->drift_since_us, since);
		PUT_STR(b, ",\"drift\":{\"type\":", r->drift_type);
		PUT_STR(b, ",\"change\":", r->drift_change);
		PUT_STR(b, ",\"detail\":", r->drift_detail);
		PUT_STR(b, ",\"previous_look\":", since);
		PUT(b, "}");
	}
	if (chain_key_len)
		PUT(b, ",\"mac\":\"" AUDIT_MAC_HMAC "\"");
	PUT_STR(b, ",\"prev\":", prev);
	PUT(b, "}");
}

void audit_buf_reserve(struct audit_buf *b, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->p = mem_realloc(b->p, cap, "audit line buffer");
		b->cap = cap;
	}
}

void audit_buf_add(struct audit_buf *b, const char *s, size_t n)
{
	audit_buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/*
 * The hashed bytes are prev's 64 hex digits followed by the compact JSON
 * without the hash key; the line is that JSON with ,"hash":"<hex>" inserted
 * before the closing brace, so a verifier can cut the suffix and rehash.
 */
void audit_line_append(const char *instance, struct audit_rec *r, uint64_t seq, const char *prev,
		       struct arena *scratch, struct audit_buf *b,
		       char hash_out[AUDIT_HASH_HEX + 1])
{
	size_t start = b->len;
	if (scratch)
		arena_reset(scratch);
	rec_text(instance, r, seq, prev, scratch ? scratch : &r->arena, b);
	chain_hex(chain_key_len > 0, prev, b->p + start, b->len - start, hash_out);
	b->len--; /* the closing brace, put back after the hash */
	audit_buf_add(b, HASH_SUFFIX, strlen(HASH_SUFFIX));
	audit_buf_add(b, hash_out, AUDIT_HASH_HEX);
	audit_buf_add(b, "\"}\n", 3);
}

enum audit_line_status audit_check_line(const char *line, size_t len, const char *prev,
					uint64_t *seq, char *hash_out)
{
	return audit_check_line_mac(line, len, prev, seq, hash_out, NULL);
}

enum audit_line_status audit_check_line_mac(const char *line, size_t len, const char *prev,
					    uint64_t *seq, char *hash_out, bool *keyed)
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
	/* each line says how it is chained: a plain line is checked with
	 * SHA-256 even when a key is set (the log before the key was) */
	json_t *jmac = json_object_get(o, "mac");
	if (jmac && (!json_is_string(jmac) || strcmp(json_string_value(jmac), AUDIT_MAC_HMAC)))
		goto out;
	if (keyed)
		*keyed = jmac != NULL;
	if (jmac && !chain_key_len) {
		st = AUDIT_LINE_NEED_KEY;
		goto out;
	}

	/* The hashed text is the line without its hash key: cut the suffix and
	 * close the object again. */
	char want[65];
	size_t body = len - sfx;
	char *text = malloc(body + 1);
	if (!text)
		goto out;
	memcpy(text, line, body);
	text[body] = '}';
	chain_hex(jmac != NULL, json_string_value(jprev), text, body + 1, want);
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
