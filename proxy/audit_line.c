/* The audit line format: a record as one JSON line, its SHA-256 (or HMAC-SHA-256) chain, and the
 * check of a line. */
#include "proxy/audit_line.h"

#include <errno.h>
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

static void sha256_hex(const void *a, size_t alen, const void *b, size_t blen, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, a, alen) || !EVP_DigestUpdate(ctx, b, blen) ||
	    !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen < 32) {
		fputs("ddlgate: audit: SHA-256 unavailable\n", stderr);
		abort();
	}
	EVP_MD_CTX_free(ctx);
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

/* The chain's hash of a || b: HMAC-SHA-256 with the key, as hex. */
static void hmac_hex(const void *a, size_t alen, const void *b, size_t blen, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			       OSSL_PARAM_construct_end()};
	if (!ctx || !EVP_MAC_init(ctx, chain_key, chain_key_len, params) ||
	    !EVP_MAC_update(ctx, a, alen) || !EVP_MAC_update(ctx, b, blen) ||
	    !EVP_MAC_final(ctx, md, &mdlen, sizeof md) || mdlen < 32) {
		fputs("ddlgate: audit: HMAC-SHA-256 unavailable\n", stderr);
		abort();
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
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

void audit_ts_format(int64_t us, char out[40])
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
static json_t *rec_json(const char *instance, struct audit_rec *r, uint64_t seq, const char *prev)
{
	struct arena *ar = &r->arena;
	json_t *o = json_object();
	char ts[40];
	audit_ts_format(r->ts_us, ts);

	json_object_set_new(o, "seq", json_integer((json_int_t)seq));
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "instance", jcstr(ar, instance));
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
	json_object_set_new(o, "kind", json_string(r->drift ? "drift" : audit_kind_name(r->kind)));

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
	for (struct audit_rec_obj *ob = r->objs; ob; ob = ob->next) {
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
	for (struct audit_rec_rule *u = r->rules; u; u = u->next) {
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
	if (r->executed) {
		json_t *params = json_pack("{sI}", "count", (json_int_t)r->nparams);
		if (r->nparams > 0) {
			json_t *types = r->param_types ? json_array() : json_null();
			json_t *values = r->param_values ? json_array() : NULL;
			for (unsigned i = 0; r->param_types && i < r->nparams; i++)
				json_array_append_new(types, jcstr(ar, r->param_types[i]));
			for (unsigned i = 0; values && i < r->nparams; i++)
				json_array_append_new(values, r->param_values[i]
								  ? jcstr(ar, r->param_values[i])
								  : json_null());
			json_object_set_new(params, "types", types);
			if (values)
				json_object_set_new(params, "values", values);
		}
		json_object_set_new(o, "params", params);
	}
	if (r->attempts) {
		json_t *tries = json_array();
		for (struct audit_rec_attempt *t = r->attempts; t; t = t->next) {
			const struct audit_attempt *a = &t->a;
			json_t *b = json_null();
			if (a->blocker_id)
				b = json_pack(
				    "{s:I, s:o, s:o, s:o, s:s, s:o, s:b}", "conn_id",
				    (json_int_t)a->blocker_id, "user", jcstr(ar, a->blocker_user),
				    "host", jcstr(ar, a->blocker_host), "transaction_age_ms",
				    a->blocker_trx_age_ms >= 0
					? json_integer((json_int_t)a->blocker_trx_age_ms)
					: json_null(),
				    "state", a->blocker_running ? "running" : "idle", "statement",
				    a->blocker_statement[0] ? jcstr(ar, a->blocker_statement)
							    : json_null(),
				    "exact", a->blocker_exact);
			json_array_append_new(
			    tries, json_pack("{s:b, s:I, s:b, s:b, s:o}", "sent", a->sent,
					     "waited_ms", (json_int_t)a->waited_ms, "cancelled",
					     a->cancelled, "retried", a->retried, "blocker", b));
		}
		json_object_set_new(o, "attempts", tries);
	}
	if (r->intent) {
		/* a write-ahead pair; a single record has neither key */
		uint64_t iseq = audit_intent_seq(r->intent);
		json_object_set_new(o, "phase", json_string(r->is_intent ? "intent" : "outcome"));
		if (!r->is_intent)
			json_object_set_new(o, "intent",
					    iseq ? json_integer((json_int_t)iseq) : json_null());
	}
	if (r->drift) {
		char since[40];
		audit_ts_format(r->drift_since_us, since);
		json_object_set_new(o, "drift",
				    json_pack("{s:o, s:o, s:o, s:s}", "type",
					      jcstr(ar, r->drift_type), "change",
					      jcstr(ar, r->drift_change), "detail",
					      jcstr(ar, r->drift_detail), "previous_look", since));
	}
	if (chain_key_len)
		json_object_set_new(o, "mac", json_string(AUDIT_MAC_HMAC));
	json_object_set_new(o, "prev", json_string(prev));
	return o;
}

void audit_buf_add(struct audit_buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->p = mem_realloc(b->p, cap, "audit line buffer");
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/*
 * The hashed bytes are prev's 64 hex digits followed by the compact JSON
 * without the hash key; the line is that JSON with ,"hash":"<hex>" inserted
 * before the closing brace, so a verifier can cut the suffix and rehash.
 */
void audit_line_append(const char *instance, struct audit_rec *r, uint64_t seq, const char *prev,
		       struct audit_buf *b, char hash_out[AUDIT_HASH_HEX + 1])
{
	json_t *o = rec_json(instance, r, seq, prev);
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		mem_oom("audit record JSON");
	size_t n = strlen(text);
	chain_hex(chain_key_len > 0, prev, text, n, hash_out);
	audit_buf_add(b, text, n - 1);
	audit_buf_add(b, HASH_SUFFIX, strlen(HASH_SUFFIX));
	audit_buf_add(b, hash_out, AUDIT_HASH_HEX);
	audit_buf_add(b, "\"}\n", 3);
	free(text);
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
