/* Unit tests of the audit line format: the line written directly is byte for byte the JSON
 * library's serialisation of the same record, and it verifies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proxy/audit_int.h"
#include "rules/redact.h"

/* Whether the reference adds "mac" (the key is set in the test), and the key. */
static bool ref_keyed;
static const char ref_key[] = "0123456789abcdef0123";

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

/*
 * The reference: the record as the JSON library built it before the line
 * was written directly (the same code, kept here as the oracle).
 */
static json_t *ref_json(const char *instance, struct audit_rec *r, uint64_t seq, const char *prev)
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
	audit_fingerprint(r->sql ? r->sql : "", r->sql_len, fp);
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
	if (ref_keyed)
		json_object_set_new(o, "mac", json_string(AUDIT_MAC_HMAC));
	json_object_set_new(o, "prev", json_string(prev));
	return o;
}

/*
 * Writes r's line through audit_line_append() and compares its hashed text
 * (the line without ,"hash":"..." and the newline) with the reference's
 * json_dumps(); then checks the line as `audit verify` does.
 */
static void check_same(struct audit_rec *r, uint64_t seq, const char *instance)
{
	const char *prev = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	json_t *o = ref_json(instance, r, seq, prev);
	char *want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	assert_non_null(want);

	struct audit_buf b = {NULL, 0, 0};
	audit_buf_add(&b, "x", 1); /* a line is appended after others in a batch */
	char hash[AUDIT_HASH_HEX + 1];
	/* with the writer's kind of scratch arena, or the record's own */
	struct arena scratch;
	arena_init(&scratch, 256);
	audit_line_append(instance, r, seq, prev, seq % 2 ? &scratch : NULL, &b, hash);
	arena_cleanup(&scratch);
	const char *line = b.p + 1;
	size_t len = b.len - 1;
	assert_true(len > 80 && line[len - 1] == '\n');
	size_t body = len - 1 - (strlen(",\"hash\":\"") + AUDIT_HASH_HEX + 2);
	size_t wl = strlen(want);
	if (body + 1 != wl || memcmp(line, want, body) != 0 || want[wl - 1] != '}') {
		fprintf(stderr, "want: %s\ngot:  %.*s\n", want, (int)len, line);
		fail();
	}
	uint64_t got_seq = 0;
	char got_hash[AUDIT_HASH_HEX + 1];
	assert_int_equal(audit_check_line(line, len - 1, prev, &got_seq, got_hash), AUDIT_LINE_OK);
	assert_int_equal(got_seq, seq);
	assert_string_equal(got_hash, hash);
	/* the chain hash by OpenSSL's one-shot functions, independent of the
	 * contexts audit_line.c keeps */
	size_t tlen = strlen(prev) + wl;
	unsigned char *t = malloc(tlen), md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	memcpy(t, prev, strlen(prev));
	memcpy(t + strlen(prev), want, wl);
	if (ref_keyed)
		assert_non_null(
		    HMAC(EVP_sha256(), ref_key, (int)strlen(ref_key), t, tlen, md, &mdlen));
	else
		assert_true(EVP_Digest(t, tlen, md, &mdlen, EVP_sha256(), NULL));
	free(t);
	char hex[AUDIT_HASH_HEX + 1];
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(hex, hash);
	free(want);
	free(b.p);
}

/* Every byte value, valid and broken UTF-8, escapes, quotes. */
static const char nasty[] =
    "a\0b\x01\x02\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x1b\x1f\x20\x7f \" \\ / '"
    "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8 \xef\xbb\xbf"
    "\x80 \xbf \xc0\x80 \xc1\xbf \xe0\x80\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xf8 \xff \xfe"
    "\xc3 \xe2\x82 \xf0\x9f\x98";

static void test_fixed_records(void **state)
{
	/* a DDL in a migration, with objects and rules */
	struct audit_rec *r = audit_rec_new();
	const char ddl[] = "ALTER TABLE `shop`.`users` ADD COLUMN email VARCHAR(191) NULL";
	audit_rec_conn(r, 17, "10.0.0.5:53122", "migrator", "shop");
	audit_rec_session(r, true, "prisma", "20261124_add_email");
	audit_rec_statement(r, STMT_DDL, ddl, sizeof ddl - 1);
	audit_rec_object(r, "shop", "users");
	audit_rec_object(r, NULL, "orders");
	audit_rec_decision(r, AUDIT_WARN);
	audit_rec_rule(r, "large-table-ddl", "warn", "users is 2.1 GiB", NULL);
	audit_rec_rule(r, "unique-unguarded", "passed", "ADD UNIQUE KEY", "probe: no duplicates");
	audit_rec_outcome(r, AUDIT_OK, 0, 3);
	audit_rec_timing(r, 1795917784123456, 5121);
	check_same(r, 42, "db-proxy-1");
	audit_rec_free(r);

	/* nulls everywhere a field may be null; a secret; an error */
	r = audit_rec_new();
	const char pw[] = "CREATE USER bob IDENTIFIED BY 'hunter2' 'more'";
	audit_rec_conn(r, 0, NULL, NULL, NULL);
	audit_rec_session(r, false, "flyway", NULL);
	audit_rec_statement(r, STMT_DCL, pw, sizeof pw - 1);
	audit_rec_decision(r, AUDIT_BLOCK);
	audit_rec_outcome(r, AUDIT_ERROR, 1396, 5);
	audit_rec_timing(r, -1, 0);
	check_same(r, 1, "");
	audit_rec_free(r);

	/* control characters, invalid UTF-8 and NUL in every string field */
	r = audit_rec_new();
	audit_rec_conn(r, UINT64_MAX, nasty, nasty, nasty);
	audit_rec_session(r, true, nasty, nasty);
	audit_rec_statement(r, STMT_DML, nasty, sizeof nasty - 1);
	audit_rec_object(r, nasty, nasty);
	audit_rec_rule(r, nasty, nasty, nasty, nasty);
	audit_rec_outcome(r, AUDIT_OK, 0, UINT64_MAX - 4);
	audit_rec_timing(r, 253402300799999999, UINT64_MAX);
	check_same(r, (uint64_t)INT64_MAX, nasty);
	audit_rec_free(r);

	/* an intent and its outcome (written and not), a prepared execute */
	r = audit_rec_new();
	audit_rec_statement(r, STMT_DML, "UPDATE t SET a = ?", 18);
	audit_rec_params(r, 3);
	struct audit_intent *t = audit_rec_intent(r);
	check_same(r, 7, "i");
	audit_rec_free(r);
	r = audit_rec_new();
	audit_rec_statement(r, STMT_DML, "UPDATE t SET a = ?", 18);
	audit_rec_answers(r, t);
	audit_rec_outcome(r, AUDIT_NOT_SENT, 0, 0);
	check_same(r, 8, "i");
	atomic_store(&t->seq, 7);
	audit_rec_outcome(r, AUDIT_ABORTED, 0, 0);
	check_same(r, 9, "i");
	audit_rec_free(r);

	/* an execute's parameter types and values (one NULL, one odd), and a
	 * DDL's metadata-lock attempts, one without a blocker */
	r = audit_rec_new();
	audit_rec_statement(r, STMT_DML, "INSERT INTO t VALUES (?, ?, ?)", 30);
	audit_rec_params(r, 3);
	const char *types[] = {"int", "varchar", "blob"};
	const char *values[] = {"42", NULL, "\x01\"quoted\"\n"};
	audit_rec_param_list(r, types, values);
	audit_rec_outcome(r, AUDIT_OK, 0, 1);
	check_same(r, 11, "i");
	audit_rec_free(r);
	r = audit_rec_new();
	audit_rec_statement(r, STMT_DML, "DELETE FROM t WHERE id = ?", 26);
	audit_rec_params(r, 1);
	audit_rec_param_list(r, types, NULL);
	check_same(r, 12, "i");
	audit_rec_free(r);
	r = audit_rec_new();
	audit_rec_statement(r, STMT_DDL, "ALTER TABLE t ADD c INT", 23);
	struct audit_attempt held = {.sent = false,
				     .waited_ms = 1500,
				     .blocker_id = 31,
				     .blocker_user = "report",
				     .blocker_host = "10.0.0.9",
				     .blocker_statement = "",
				     .blocker_trx_age_ms = -1,
				     .blocker_exact = true};
	struct audit_attempt sent = {.sent = true,
				     .waited_ms = 2000,
				     .cancelled = true,
				     .retried = true,
				     .blocker_id = 31,
				     .blocker_user = "report",
				     .blocker_host = nasty,
				     .blocker_statement = "SELECT * FROM t",
				     .blocker_trx_age_ms = 61000,
				     .blocker_running = true};
	struct audit_attempt clear = {.sent = true, .waited_ms = 3};
	audit_rec_attempt(r, &held);
	audit_rec_attempt(r, &sent);
	audit_rec_attempt(r, &clear);
	audit_rec_outcome(r, AUDIT_OK, 0, 0);
	check_same(r, 13, "i");
	audit_rec_free(r);

	/* no statement at all; a statement cut to 10 bytes; outcome names */
	r = audit_rec_new();
	audit_rec_outcome(r, AUDIT_PREPARED, 0, 0);
	check_same(r, 10, "i");
	audit_rec_free(r);
	r = audit_rec_new();
	audit_rec_statement(r, STMT_TCL, "COMMIT /* a long comment */", 27);
	audit_rec_cut(r, 10);
	audit_rec_outcome(r, AUDIT_PENDING, 0, 0);
	audit_rec_decision(r, AUDIT_HOLD);
	check_same(r, 11, "i");
	audit_rec_free(r);

	/* a drift record */
	r = audit_rec_new();
	r->drift = true;
	r->drift_type = "table";
	r->drift_change = "created";
	r->drift_detail = "shop.t \"x\"\n";
	r->drift_since_us = 1795917000000001;
	audit_rec_object(r, "shop", "t");
	check_same(r, 12, "i");
	audit_rec_free(r);

	/* with the HMAC key: "mac" before "prev" */
	assert_true(audit_line_set_key(ref_key, strlen(ref_key)));
	ref_keyed = true;
	r = audit_rec_new();
	audit_rec_statement(r, STMT_DDL, ddl, sizeof ddl - 1);
	check_same(r, 13, "keyed");
	audit_rec_free(r);
	ref_keyed = false;
	assert_true(audit_line_set_key(NULL, 0));
}

/* A byte string of up to max bytes, biased to the bytes JSON and UTF-8 care about. */
static size_t random_bytes(char *out, size_t max, unsigned *seed)
{
	static const char pick[] =
	    "\"\\/\n\t\x01\x1f\x7f\x80\xbf\xc3\xa9\xe2\x82\xac\xf0\x9f\xed\xff'` ;a";
	size_t n = (size_t)rand_r(seed) % max;
	for (size_t i = 0; i < n; i++)
		out[i] = rand_r(seed) % 3 ? pick[rand_r(seed) % (sizeof pick - 1)]
					  : (char)(rand_r(seed) & 0xff);
	out[n] = '\0';
	return n;
}

static void test_random_records(void **state)
{
	unsigned seed = 12;
	char a[200], b[200], c[200], sql[400];
	for (int i = 0; i < 3000; i++) {
		struct audit_rec *r = audit_rec_new();
		random_bytes(a, sizeof a, &seed);
		random_bytes(b, sizeof b, &seed);
		random_bytes(c, sizeof c, &seed);
		size_t n = random_bytes(sql, sizeof sql, &seed);
		audit_rec_conn(r, (uint64_t)rand_r(&seed), a, i % 5 ? b : NULL, c);
		audit_rec_session(r, i % 3 == 0, i % 2 ? a : NULL, c);
		audit_rec_statement(r, (enum stmt_kind)(rand_r(&seed) % 6), sql, n);
		if (i % 4 == 0)
			audit_rec_object(r, i % 8 ? b : NULL, c);
		if (i % 6 == 0)
			audit_rec_rule(r, a, "warn", b, i % 12 ? c : NULL);
		audit_rec_decision(r, (enum audit_decision)(rand_r(&seed) % 4));
		audit_rec_outcome(r, (enum audit_outcome)(rand_r(&seed) % 6),
				  (uint16_t)rand_r(&seed), (uint64_t)rand_r(&seed) << 20);
		audit_rec_timing(r, (int64_t)rand_r(&seed) * 1000003, (uint64_t)rand_r(&seed));
		check_same(r, (uint64_t)i + 1, i % 7 ? "bench" : a);
		audit_rec_free(r);
	}
}

/* The line of a record whose text was given as sql, or redacted ahead
 * with audit_text_make() (a prepared statement's executes), as written. */
static char *line_of(const char *sql, size_t n, bool ahead, unsigned i)
{
	struct audit_rec *r = audit_rec_new();
	struct audit_text t;
	audit_rec_conn(r, i, "10.0.0.5:53122", "app", "shop");
	if (ahead) {
		assert_true(audit_text_make(&t, sql, n));
		audit_rec_statement_text(r, STMT_DML, &t);
		audit_text_free(&t);
	} else {
		audit_rec_statement(r, STMT_DML, sql, n);
	}
	audit_rec_params(r, 2);
	audit_rec_decision(r, AUDIT_ALLOW);
	audit_rec_outcome(r, AUDIT_OK, 0, 1);
	audit_rec_timing(r, 1795917784123456, 51);
	struct audit_buf b = {NULL, 0, 0};
	char hash[AUDIT_HASH_HEX + 1];
	audit_line_append("i", r, i + 1, AUDIT_ZERO_HASH, NULL, &b, hash);
	audit_buf_add(&b, "", 1);
	audit_rec_free(r);
	return b.p;
}

/* A text redacted and fingerprinted once gives every record the bytes
 * the writer would have produced from the text itself. */
static void test_text_made_ahead(void **state)
{
	(void)state;
	static const char *const texts[] = {
	    "SELECT c FROM sbtest1 WHERE id=?",
	    "INSERT INTO enc VALUES (?, AES_ENCRYPT(?, 'Very-Secret-Key'))",
	    "UPDATE mysql.user SET authentication_string = PASSWORD('x' 'y') WHERE 1 = ?",
	    "SELECT /* a comment */ 'it''s', \"q\", 0x1F, 1e3 FROM t WHERE a IN (?, ?, 1)",
	    "",
	};
	for (unsigned i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		char *a = line_of(texts[i], strlen(texts[i]), false, i);
		char *b = line_of(texts[i], strlen(texts[i]), true, i);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	char *a = line_of(nasty, sizeof nasty - 1, false, 7);
	char *b = line_of(nasty, sizeof nasty - 1, true, 7);
	assert_string_equal(a, b);
	free(a);
	free(b);
	unsigned seed = 5;
	char sql[400];
	for (unsigned i = 0; i < 2000; i++) {
		size_t n = random_bytes(sql, sizeof sql, &seed);
		a = line_of(sql, n, false, i);
		b = line_of(sql, n, true, i);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	/* longer than a record keeps: the writer cuts it, so not made ahead */
	size_t big = AUDIT_MAX_STATEMENT + 1;
	char *huge = malloc(big);
	memset(huge, 'x', big);
	struct audit_text t;
	assert_false(audit_text_make(&t, huge, big));
	assert_null(t.red);
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed_records),
	    cmocka_unit_test(test_random_records),
	    cmocka_unit_test(test_text_made_ahead),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
