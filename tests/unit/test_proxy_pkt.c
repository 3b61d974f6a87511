/* Unit tests for the packet codec (proxy/pkt.c), driven by tests/unit/data/proxy_pkt_*.txt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/pkt.h"
#include "proxy_testdata.h"

/* ---- helpers ------------------------------------------------------------ */

/* Decodes hex into a new buffer; *n gets the length. */
static uint8_t *unhex(const char *hex, size_t *n)
{
	size_t len = strlen(hex);
	assert_true(len % 2 == 0);
	uint8_t *out = malloc(len / 2 + 1);
	assert_non_null(out);
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	*n = len / 2;
	return out;
}

/* ---- length-encoded integers -------------------------------------------- */

static void test_lenenc(void **state)
{
	char *lines[64];
	size_t n = read_lines("proxy_pkt_lenenc.txt", lines, 64);
	for (size_t i = 0; i < n; i++) {
		char hex[64], what[16];
		unsigned long long want = 0;
		unsigned consumed = 0;
		int got = sscanf(lines[i], "%63s %15s %llu %u", hex, what, &want, &consumed);
		assert_true(got >= 2);
		size_t len;
		uint8_t *b = unhex(hex, &len);
		struct pkt_rd r;
		pkt_rd_init(&r, b, len);
		uint64_t v = 12345;
		bool is_null = false;
		bool ok = pkt_rd_lenenc(&r, &v, &is_null);
		if (strcmp(what, "bad") == 0) {
			if (ok)
				fail_msg("line '%s': accepted", lines[i]);
			assert_int_equal(r.pos, 0);
		} else {
			if (!ok)
				fail_msg("line '%s': rejected", lines[i]);
			assert_int_equal(is_null, strcmp(what, "null") == 0);
			assert_int_equal(v, want);
			assert_int_equal(r.pos, consumed);
			/* Round trip through the writer (not for NULL; the writer
			 * picks the shortest form, so compare values). */
			if (!is_null) {
				uint8_t w[9];
				size_t wn = pkt_put_lenenc(w, v);
				struct pkt_rd r2;
				uint64_t v2;
				pkt_rd_init(&r2, w, wn);
				assert_true(pkt_rd_lenenc(&r2, &v2, NULL));
				assert_int_equal(v2, v);
				assert_int_equal(r2.pos, wn);
			}
		}
		free(b);
		free(lines[i]);
	}
}

static void test_lenenc_str_and_cstr(void **state)
{
	const uint8_t s1[] = {3, 'a', 'b', 'c', 'x'};
	struct pkt_rd r;
	const uint8_t *p;
	size_t n;
	pkt_rd_init(&r, s1, sizeof(s1));
	assert_true(pkt_rd_lenenc_str(&r, &p, &n));
	assert_int_equal(n, 3);
	assert_memory_equal(p, "abc", 3);
	const uint8_t s2[] = {5, 'a', 'b'};
	pkt_rd_init(&r, s2, sizeof(s2));
	assert_false(pkt_rd_lenenc_str(&r, &p, &n));
	assert_int_equal(r.pos, 0);
	const uint8_t s3[] = {'h', 'i', 0, 'x'};
	pkt_rd_init(&r, s3, sizeof(s3));
	assert_true(pkt_rd_cstr(&r, &p, &n));
	assert_int_equal(n, 2);
	assert_int_equal(r.pos, 3);
	assert_false(pkt_rd_cstr(&r, &p, &n)); /* "x" has no NUL */
}

/* ---- OK / ERR / EOF --------------------------------------------------------- */

static void test_build_parse_err(void **state)
{
	uint8_t buf[256];
	size_t n = pkt_build_err(buf, sizeof(buf), 3, 1290, "HY000", "ddlgate: blocked by x");
	assert_int_equal(pkt_hdr_len(buf), n - PKT_HDR);
	assert_int_equal(pkt_hdr_seq(buf), 3);
	struct pkt_err e;
	assert_true(pkt_parse_err(buf + PKT_HDR, n - PKT_HDR, CLIENT_PROTOCOL_41, &e));
	assert_int_equal(e.code, 1290);
	assert_string_equal(e.sqlstate, "HY000");
	assert_int_equal(e.message_len, strlen("ddlgate: blocked by x"));
	assert_memory_equal(e.message, "ddlgate: blocked by x", e.message_len);
	/* The message is cut to the buffer, never overflows it. */
	char big[400];
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	n = pkt_build_err(buf, 40, 0, 1, NULL, big);
	assert_int_equal(n, 40);
	assert_int_equal(pkt_build_err(buf, 5, 0, 1, NULL, "x"), 0);
}

static void test_build_parse_ok(void **state)
{
	uint8_t buf[64];
	size_t n = pkt_build_ok(buf, 1, 300, 70000, SERVER_STATUS_AUTOCOMMIT, 2);
	struct pkt_ok ok;
	assert_true(pkt_parse_ok(buf + PKT_HDR, n - PKT_HDR, CLIENT_PROTOCOL_41, &ok));
	assert_int_equal(ok.affected_rows, 300);
	assert_int_equal(ok.last_insert_id, 70000);
	assert_int_equal(ok.status, SERVER_STATUS_AUTOCOMMIT);
	assert_int_equal(ok.warnings, 2);
	/* Session tracking: the schema change of a USE. */
	const uint8_t tracked[] = {0x00, 0, 0, 0x02, 0x40, 0, 0, 0, 7, 1, 5, 4, 's', 'h', 'o', 'p'};
	assert_true(
	    pkt_parse_ok(tracked, sizeof(tracked), CLIENT_PROTOCOL_41 | CLIENT_SESSION_TRACK, &ok));
	assert_non_null(ok.schema);
	assert_int_equal(ok.schema_len, 4);
	assert_memory_equal(ok.schema, "shop", 4);
	uint16_t st, w;
	const uint8_t eof[] = {0xFE, 1, 0, 0x0a, 0};
	assert_true(pkt_parse_eof(eof, sizeof(eof), &st, &w));
	assert_int_equal(st, 0x0a);
	assert_int_equal(w, 1);
	assert_false(pkt_parse_eof(eof, 9, &st, &w));
	assert_true(pkt_is_eof(0xFE, 5, 0));
	assert_false(pkt_is_eof(0xFE, 9, 0));
	assert_true(pkt_is_eof(0xFE, 9, CLIENT_DEPRECATE_EOF));
	assert_false(pkt_is_eof(0xFE, PKT_MAX_PAYLOAD, CLIENT_DEPRECATE_EOF));
}

/* Where a terminal packet keeps its status flags: the bytes ddlgate sets
 * SERVER_MORE_RESULTS_EXISTS in when a script's step ends (session_step.c). */
static void test_status_at(void **state)
{
	(void)state;
	uint8_t buf[64];
	/* an OK with multi-byte affected rows and insert id */
	size_t n = pkt_build_ok(buf, 1, 300, 70000, SERVER_STATUS_AUTOCOMMIT, 0);
	size_t at = pkt_status_at(buf + PKT_HDR, n - PKT_HDR, CLIENT_PROTOCOL_41);
	assert_int_equal(at, 1 + 3 + 4);
	assert_int_equal(buf[PKT_HDR + at], SERVER_STATUS_AUTOCOMMIT);
	buf[PKT_HDR + at] |= SERVER_MORE_RESULTS_EXISTS;
	struct pkt_ok ok;
	assert_true(pkt_parse_ok(buf + PKT_HDR, n - PKT_HDR, CLIENT_PROTOCOL_41, &ok));
	assert_int_equal(ok.status, SERVER_STATUS_AUTOCOMMIT | SERVER_MORE_RESULTS_EXISTS);
	assert_int_equal(ok.affected_rows, 300);
	/* the old EOF that ends a result set: warnings first, then status */
	const uint8_t eof[] = {0xFE, 1, 0, 0x02, 0};
	assert_int_equal(pkt_status_at(eof, sizeof(eof), CLIENT_PROTOCOL_41), 3);
	/* the OK-style terminator of CLIENT_DEPRECATE_EOF */
	const uint8_t end[] = {0xFE, 0, 0, 0x22, 0, 0, 0};
	assert_int_equal(pkt_status_at(end, sizeof(end), CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF),
			 3);
	/* not terminal packets, or cut short: nothing to set */
	const uint8_t err[] = {0xFF, 0x10, 0x04, '#', 'H', 'Y', '0', '0', '0', 'x'};
	assert_int_equal(pkt_status_at(err, sizeof(err), CLIENT_PROTOCOL_41), 0);
	const uint8_t row[] = {0x01, 'a'};
	assert_int_equal(pkt_status_at(row, sizeof(row), CLIENT_PROTOCOL_41), 0);
	const uint8_t shortok[] = {0x00, 0, 0, 0x02};
	assert_int_equal(pkt_status_at(shortok, sizeof(shortok), CLIENT_PROTOCOL_41), 0);
	assert_int_equal(pkt_status_at(eof, 0, CLIENT_PROTOCOL_41), 0);
}

/* ---- continuation ------------------------------------------------------------ */

static void test_scan(void **state)
{
	char *lines[64];
	size_t n = read_lines("proxy_pkt_scan.txt", lines, 64);
	for (size_t i = 0; i < n; i++) {
		char lens[128], seqs[64], present[32], res[16];
		unsigned long long max, wire_want = 0, payload_want = 0;
		unsigned parts_want = 0;
		int got = sscanf(lines[i], "%127s %63s %31s %llu => %15s %llu %llu %u", lens, seqs,
				 present, &max, res, &wire_want, &payload_want, &parts_want);
		assert_true(got >= 5);
		uint32_t plen[8];
		unsigned np = 0;
		size_t total = 0;
		for (char *t = strtok(lens, ","); t; t = strtok(NULL, ","))
			total += PKT_HDR + (plen[np++] = (uint32_t)strtoul(t, NULL, 10));
		uint8_t *buf = calloc(1, total ? total : 1);
		assert_non_null(buf);
		size_t pos = 0;
		unsigned k = 0;
		for (char *t = strtok(seqs, ","); t; t = strtok(NULL, ","), k++) {
			pkt_hdr_put(buf + pos, plen[k], (uint8_t)strtoul(t, NULL, 10));
			memset(buf + pos + PKT_HDR, 'q', plen[k]);
			pos += PKT_HDR + plen[k];
		}
		size_t have = strcmp(present, "all") == 0 ? total : strtoul(present, NULL, 10);
		size_t wire = 0;
		uint64_t payload = 0;
		unsigned parts = 0;
		enum pkt_scan r = pkt_scan_logical(buf, have, max, &wire, &payload, &parts);
		if (strcmp(res, "ok") == 0) {
			if (r != PKT_SCAN_OK)
				fail_msg("line '%s': got %d", lines[i], r);
			assert_int_equal(wire, wire_want);
			assert_int_equal(payload, payload_want);
			assert_int_equal(parts, parts_want);
			uint8_t *out = malloc(payload ? payload : 1);
			assert_int_equal(pkt_reassemble(buf, wire, out), payload);
			for (uint64_t j = 0; j < payload; j += 4096)
				assert_int_equal(out[j], 'q');
			free(out);
		} else if (strcmp(res, "need") == 0) {
			if (r != PKT_SCAN_NEED)
				fail_msg("line '%s': got %d", lines[i], r);
		} else {
			if (r != PKT_SCAN_BAD)
				fail_msg("line '%s': got %d", lines[i], r);
		}
		free(buf);
		free(lines[i]);
	}
}

/* ---- handshake ---------------------------------------------------------------- */

/* The relay's form of the scan: one header at a time, the BAD_SEQ /
 * TOO_LARGE distinction the relay answers differently. A "last" row with
 * more parts after it starts nothing new: the table stops at "last". */
static void test_scan_part(void **state)
{
	(void)state;
	char *lines[64];
	size_t n = read_lines("proxy_pkt_scan_part.txt", lines, 64);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		char lens[128], seqs[64], res[64];
		unsigned long long max, payload_want;
		unsigned parts_want;
		int got = sscanf(lines[i], "%127s %63s %llu => %63s %llu %u", lens, seqs, &max, res,
				 &payload_want, &parts_want);
		assert_int_equal(got, 6);
		static const char *const names[] = {"more", "last", "seq", "large"};
		struct pkt_scan_state st;
		pkt_scan_begin(&st);
		char *lp = lens, *sp = seqs, *rp = res;
		for (;;) {
			char *l = strsep(&lp, ","), *sq = strsep(&sp, ","),
			     *want = strsep(&rp, ",");
			if (!l || !sq || !want)
				break;
			uint8_t h[PKT_HDR];
			pkt_hdr_put(h, (uint32_t)strtoul(l, NULL, 10),
				    (uint8_t)strtoul(sq, NULL, 10));
			enum pkt_part r = pkt_scan_part(&st, h, max);
			if (strcmp(names[r], want) != 0)
				fail_msg("line '%s': got %s, want %s", lines[i], names[r], want);
			if (r != PKT_PART_MORE)
				break;
		}
		assert_int_equal(st.payload, payload_want);
		assert_int_equal(st.parts, parts_want);
		free(lines[i]);
	}
}

static void test_handshake(void **state)
{
	char *lines[64];
	size_t n = read_lines("proxy_pkt_handshake.txt", lines, 64);
	for (size_t i = 0; i < n; i++) {
		char kind[16], hex[4096], v[256];
		assert_int_equal(sscanf(lines[i], "%15s %4095s", kind, hex), 2);
		const char *rest = lines[i] + strlen(kind) + 1 + strlen(hex);
		bool bad = strstr(rest, " bad") != NULL;
		size_t len;
		uint8_t *p = unhex(hex, &len);
		if (strcmp(kind, "greeting") == 0) {
			struct pkt_greeting g;
			bool ok = pkt_greeting_parse(p, len, &g);
			if (ok == bad)
				fail_msg("line %zu: parse %s", i, ok ? "accepted" : "rejected");
			if (bad)
				goto next;
			assert_true(g.version_len == strlen(field(rest, "version", v, sizeof(v))));
			assert_memory_equal(g.version, v, g.version_len);
			assert_int_equal(g.thread_id,
					 strtoul(field(rest, "thread", v, sizeof(v)), NULL, 10));
			assert_int_equal(g.caps,
					 strtoul(field(rest, "caps", v, sizeof(v)), NULL, 16));
			assert_int_equal(g.ext_caps,
					 strtoul(field(rest, "ext", v, sizeof(v)), NULL, 16));
			field(rest, "plugin", v, sizeof(v));
			assert_int_equal(g.plugin_len, strlen(v));
			assert_memory_equal(g.plugin, v, g.plugin_len);
			/* Masking rewrites exactly the flag fields. */
			uint32_t masked = g.caps & ~(CLIENT_SSL | CLIENT_COMPRESS |
						     CLIENT_ZSTD_COMPRESSION_ALGORITHM);
			pkt_greeting_set_caps(p, &g, masked,
					      g.ext_caps & PKT_MARIADB_EXT_SUPPORTED);
			struct pkt_greeting g2;
			assert_true(pkt_greeting_parse(p, len, &g2));
			assert_int_equal(g2.caps, masked);
			assert_int_equal(g2.ext_caps, g.mariadb_ext
							  ? (g.ext_caps & PKT_MARIADB_EXT_SUPPORTED)
							  : 0);
			assert_int_equal(g2.thread_id, g.thread_id);
			assert_int_equal(g2.plugin_len, g.plugin_len);
		} else {
			struct pkt_hsresp h;
			bool ok = pkt_hsresp_parse(p, len, &h);
			if (ok == bad)
				fail_msg("line %zu: parse %s", i, ok ? "accepted" : "rejected");
			if (bad)
				goto next;
			assert_int_equal(h.caps,
					 strtoul(field(rest, "caps", v, sizeof(v)), NULL, 16));
			if (field(rest, "ext", v, sizeof(v)))
				assert_int_equal(h.ext_caps, strtoul(v, NULL, 16));
			if (field(rest, "ssl", v, sizeof(v)))
				assert_int_equal(h.ssl_request, atoi(v));
			if (field(rest, "user", v, sizeof(v))) {
				assert_int_equal(h.user_len, strlen(v));
				assert_memory_equal(h.user, v, h.user_len);
			}
			if (field(rest, "auth_len", v, sizeof(v)))
				assert_int_equal(h.auth_len, atoi(v));
			if (field(rest, "schema", v, sizeof(v))) {
				assert_non_null(h.schema);
				assert_int_equal(h.schema_len, strlen(v));
				assert_memory_equal(h.schema, v, h.schema_len);
			}
			if (field(rest, "plugin", v, sizeof(v))) {
				assert_int_equal(h.plugin_len, strlen(v));
				assert_memory_equal(h.plugin, v, h.plugin_len);
			}
			uint32_t c2 = (h.caps | CLIENT_SSL) & ~CLIENT_COMPRESS;
			pkt_hsresp_set_caps(p, len, c2, h.ext_caps);
			struct pkt_hsresp h2;
			assert_true(pkt_hsresp_parse(p, h.ssl_request ? 32 : len, &h2));
			assert_int_equal(h2.caps, c2);
			assert_int_equal(h2.ext_caps, h.ext_caps);
		}
	next:
		free(p);
		free(lines[i]);
	}
}

static void test_change_user_and_query_attrs(void **state)
{
	const uint8_t cu[] = {
	    COM_CHANGE_USER, 'b', 'o', 'b', 0, 2, 0xAA, 0xBB, 'd', 'b', 0, 0x21, 0};
	const uint8_t *u, *sc;
	size_t ul, scl;
	assert_true(pkt_change_user_parse(
	    cu, sizeof(cu), CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION, &u, &ul, &sc, &scl));
	assert_int_equal(ul, 3);
	assert_memory_equal(u, "bob", 3);
	assert_int_equal(scl, 2);
	assert_memory_equal(sc, "db", 2);
	assert_false(pkt_change_user_parse(cu, 6, CLIENT_SECURE_CONNECTION, &u, &ul, &sc, &scl));

	const uint8_t *sql;
	size_t sl;
	const uint8_t plain[] = {COM_QUERY, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'};
	assert_true(pkt_query_sql(plain, sizeof(plain), 0, &sql, &sl));
	assert_int_equal(sl, 8);
	/* Query attributes: 2 parameters, one NULL, one LONG named "n". */
	const uint8_t attrs[] = {COM_QUERY, 2,	  1,	0x01 /* nulls: first */,
				 1,	    0x06, 0x00, 1,
				 'a',			     /* NULL type, name "a" */
				 0x03,	    0x00, 1,	'n', /* LONG, name "n" */
				 7,	    0,	  0,	0,   /* value of n */
				 'D',	    'O',  ' ',	'1'};
	assert_true(pkt_query_sql(attrs, sizeof(attrs), CLIENT_QUERY_ATTRIBUTES, &sql, &sl));
	assert_int_equal(sl, 4);
	assert_memory_equal(sql, "DO 1", 4);
	assert_false(pkt_query_sql(attrs, 12, CLIENT_QUERY_ATTRIBUTES, &sql, &sl));
	const uint8_t none[] = {COM_QUERY, 0, 1, 'D', 'O', ' ', '2'};
	assert_true(pkt_query_sql(none, sizeof(none), CLIENT_QUERY_ATTRIBUTES, &sql, &sl));
	assert_int_equal(sl, 4);
}

/* ---- response follower ---------------------------------------------------------- */

static enum pkt_resp_kind kind_of(const char *s)
{
	static const struct {
		const char *name;
		enum pkt_resp_kind k;
	} t[] = {{"generic", PKT_RESP_GENERIC}, {"prepare", PKT_RESP_PREPARE},
		 {"fetch", PKT_RESP_FETCH},	{"fields", PKT_RESP_FIELDS},
		 {"raw1", PKT_RESP_RAW1},	{"auth", PKT_RESP_AUTH},
		 {"none", PKT_RESP_NONE}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(s, t[i].name) == 0)
			return t[i].k;
	fail_msg("unknown kind %s", s);
	return PKT_RESP_NONE;
}

/* A packet spec: hex, or "NN*LEN" for a LEN-byte payload starting with NN. */
static uint8_t *make_packet(const char *spec, size_t *len)
{
	const char *star = strchr(spec, '*');
	if (!star)
		return unhex(spec, len);
	unsigned first;
	assert_int_equal(sscanf(spec, "%x", &first), 1);
	*len = strtoul(star + 1, NULL, 10);
	uint8_t *p = calloc(1, *len ? *len : 1);
	assert_non_null(p);
	if (*len)
		p[0] = (uint8_t)first;
	return p;
}

static void test_resp(void **state)
{
	char *lines[128];
	size_t n = read_lines("proxy_pkt_resp.txt", lines, 128);
	for (size_t i = 0; i < n; i++) {
		char *line = lines[i];
		char *arrow = strstr(line, "=>");
		assert_non_null(arrow);
		*arrow = 0;
		char kind[16], capsx[16];
		char pkts[4096] = "";
		int got = sscanf(line, "%15s %15s %4095s", kind, capsx, pkts);
		assert_true(got >= 2);
		const char *expect = arrow + 2;
		struct pkt_resp r;
		memset(&r, 0, sizeof(r));
		/* "cursor": a COM_STMT_EXECUTE that asked for a cursor. */
		bool cursor = strcmp(kind, "cursor") == 0;
		r.cursor = r.binary = cursor;
		pkt_resp_start(&r, cursor ? PKT_RESP_GENERIC : kind_of(kind),
			       (uint32_t)strtoul(capsx, NULL, 16));
		struct pkt_result res, last;
		memset(&last, 0, sizeof(last));
		char events[256] = "";
		size_t ne = 0;
		for (char *t = strtok(pkts, ";"); t && *t; t = strtok(NULL, ";")) {
			size_t len;
			uint8_t *p = make_packet(t, &len);
			const uint8_t *v;
			size_t vl;
			bool vn;
			enum pkt_resp_need need = pkt_resp_peek(&r, (uint32_t)len, len ? p[0] : 0);
			/* Feed what the relay would: all of a WHOLE packet, one byte of a SEND. */
			size_t avail = need == PKT_WHOLE ? len : (len ? 1 : 0);
			enum pkt_resp_event ev =
			    pkt_resp_feed(&r, p, avail, (uint32_t)len, &res, &v, &vl, &vn);
			const char c = ev == PKT_EV_RESULT   ? 'R'
				       : ev == PKT_EV_INFILE ? 'I'
				       : ev == PKT_EV_ROW1   ? '1'
				       : ev == PKT_EV_BAD    ? 'B'
							     : '.';
			if (ev == PKT_EV_RESULT)
				last = res;
			if (ne)
				events[ne++] = ' ';
			events[ne++] = c;
			events[ne] = 0;
			free(p);
		}
		/* Compare the event letters, then the final state and fields. */
		char want[256];
		const char *e = expect;
		while (*e == ' ')
			e++;
		const char *fin = strstr(e, "done") ? strstr(e, "done") : strstr(e, "open");
		assert_non_null(fin);
		size_t wl = (size_t)(fin - e);
		memcpy(want, e, wl);
		while (wl > 0 && want[wl - 1] == ' ')
			wl--;
		want[wl] = 0;
		if (strcmp(want, events) != 0)
			fail_msg("line %zu (%s): events '%s', want '%s'", i, line, events, want);
		bool want_done = strncmp(fin, "done", 4) == 0;
		if (pkt_resp_done(&r) != want_done)
			fail_msg("line %zu (%s): done=%d", i, line, pkt_resp_done(&r));
		char v[64];
		if (field(fin, "ok", v, sizeof(v)))
			assert_int_equal(last.ok, atoi(v));
		if (field(fin, "code", v, sizeof(v)))
			assert_int_equal(last.err.code, atoi(v));
		if (field(fin, "rows", v, sizeof(v)))
			assert_int_equal(last.rows, strtoull(v, NULL, 10));
		if (field(fin, "more", v, sizeof(v)))
			assert_int_equal(last.more, atoi(v));
		if (field(fin, "affected", v, sizeof(v)))
			assert_int_equal(last.affected_rows, strtoull(v, NULL, 10));
		if (field(fin, "result_set", v, sizeof(v)))
			assert_int_equal(last.result_set, atoi(v));
		if (field(fin, "stmt", v, sizeof(v)))
			assert_int_equal(last.stmt_id, strtoul(v, NULL, 10));
		free(lines[i]);
	}
}

/* The first value of a one-column text result, for GET_LOCK. */
static void test_first_value(void **state)
{
	struct pkt_resp r;
	memset(&r, 0, sizeof(r));
	r.want_row1 = true;
	pkt_resp_start(&r, PKT_RESP_GENERIC, CLIENT_PROTOCOL_41);
	struct pkt_result res;
	const uint8_t *v = NULL;
	size_t vl = 0;
	bool vn = true;
	const uint8_t ncol[] = {1}, def[] = {3, 'd', 'e', 'f'}, eof[] = {0xFE, 0, 0, 2, 0};
	const uint8_t row[] = {1, '1'};
	assert_int_equal(pkt_resp_feed(&r, ncol, 1, 1, &res, &v, &vl, &vn), PKT_EV_NONE);
	assert_int_equal(pkt_resp_feed(&r, def, 1, 4, &res, &v, &vl, &vn), PKT_EV_NONE);
	assert_int_equal(pkt_resp_feed(&r, eof, 5, 5, &res, &v, &vl, &vn), PKT_EV_NONE);
	assert_int_equal(pkt_resp_peek(&r, 2, row[0]), PKT_WHOLE);
	assert_int_equal(pkt_resp_feed(&r, row, 2, 2, &res, &v, &vl, &vn), PKT_EV_ROW1);
	assert_false(vn);
	assert_int_equal(vl, 1);
	assert_int_equal(v[0], '1');
	assert_int_equal(pkt_resp_peek(&r, 2, row[0]), PKT_SEND); /* only the first row */
	assert_int_equal(pkt_resp_feed(&r, eof, 5, 5, &res, &v, &vl, &vn), PKT_EV_RESULT);
	assert_int_equal(res.rows, 1);
	/* NULL */
	pkt_resp_start(&r, PKT_RESP_GENERIC, CLIENT_PROTOCOL_41);
	const uint8_t nullrow[] = {0xFB};
	(void)pkt_resp_feed(&r, ncol, 1, 1, &res, &v, &vl, &vn);
	(void)pkt_resp_feed(&r, def, 1, 4, &res, &v, &vl, &vn);
	(void)pkt_resp_feed(&r, eof, 5, 5, &res, &v, &vl, &vn);
	assert_int_equal(pkt_resp_feed(&r, nullrow, 1, 1, &res, &v, &vl, &vn), PKT_EV_ROW1);
	assert_true(vn);
}

/* The first value of a one-column binary result (GET_LOCK through a
 * prepared statement): the column's type decides the decoding. */
static void test_first_value_binary(void **state)
{
	static const struct {
		uint8_t type;
		uint16_t flags;
		uint8_t row[12];
		size_t row_len;
		const char *want; /* NULL: SQL NULL; "-": not reported */
		bool ext;	  /* MariaDB's extended metadata: one more string */
	} cases[] = {
	    {8, 0, {0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 10, "1", false},
	    {8, 0, {0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 10, "-1", false},
	    {8,
	     0x20,
	     {0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
	     10,
	     "18446744073709551615",
	     false},
	    {3, 0, {0, 0, 0xFE, 0xFF, 0xFF, 0xFF}, 6, "-2", false},
	    {1, 0x20, {0, 0, 200}, 3, "200", false},
	    {8, 0, {0, 0x04}, 2, NULL, false},
	    {253, 0, {0, 0, 2, 'o', 'k'}, 5, "ok", false},
	    {5, 0, {0, 0, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F}, 10, "-", false},
	    {8, 0, {0, 0, 1, 0}, 4, "-", false}, /* short integer: malformed, not reported */
	    {8, 0, {0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 10, "1", true},
	    {3, 0, {0, 0, 0xFE, 0xFF, 0xFF, 0xFF}, 6, "-2", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt_resp r;
		memset(&r, 0, sizeof(r));
		r.want_row1 = true;
		r.binary = true;
		pkt_resp_start(&r, PKT_RESP_GENERIC, CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF);
		uint8_t def[64] = {3, 'd', 'e', 'f', 0, 0, 0, 1, 'x', 0};
		size_t dl = 10;
		static const uint8_t ext[] = {3, 0x00, 0x02, 'j'}; /* type "j" */
		static const uint8_t fixed[] = {0x0c, 0x3f, 0, 1, 0, 0, 0};
		if (cases[i].ext) {
			memcpy(def + dl, ext, sizeof(ext));
			dl += sizeof(ext);
		}
		memcpy(def + dl, fixed, sizeof(fixed));
		dl += sizeof(fixed);
		def[dl++] = cases[i].type;
		def[dl++] = (uint8_t)cases[i].flags;
		def[dl++] = (uint8_t)(cases[i].flags >> 8);
		def[dl++] = 0;
		def[dl++] = 0;
		def[dl++] = 0;
		const uint8_t ncol[] = {1};
		struct pkt_result res;
		const uint8_t *v = NULL;
		size_t vl = 0;
		bool vn = false;
		assert_int_equal(pkt_resp_feed(&r, ncol, 1, 1, &res, &v, &vl, &vn), PKT_EV_NONE);
		assert_int_equal(pkt_resp_peek(&r, (uint32_t)dl, def[0]), PKT_WHOLE);
		assert_int_equal(pkt_resp_feed(&r, def, dl, (uint32_t)dl, &res, &v, &vl, &vn),
				 PKT_EV_NONE);
		assert_int_equal(pkt_resp_peek(&r, (uint32_t)cases[i].row_len, 0), PKT_WHOLE);
		enum pkt_resp_event ev =
		    pkt_resp_feed(&r, cases[i].row, cases[i].row_len, (uint32_t)cases[i].row_len,
				  &res, &v, &vl, &vn);
		if (cases[i].want && strcmp(cases[i].want, "-") == 0) {
			assert_int_equal(ev, PKT_EV_NONE);
			continue;
		}
		assert_int_equal(ev, PKT_EV_ROW1);
		if (!cases[i].want) {
			assert_true(vn);
			continue;
		}
		assert_false(vn);
		if (vl != strlen(cases[i].want) || memcmp(v, cases[i].want, vl) != 0)
			fail_msg("case %zu: got '%.*s', want '%s'", i, (int)vl, (const char *)v,
				 cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lenenc),
	    cmocka_unit_test(test_lenenc_str_and_cstr),
	    cmocka_unit_test(test_build_parse_err),
	    cmocka_unit_test(test_build_parse_ok),
	    cmocka_unit_test(test_status_at),
	    cmocka_unit_test(test_scan),
	    cmocka_unit_test(test_scan_part),
	    cmocka_unit_test(test_handshake),
	    cmocka_unit_test(test_change_user_and_query_attrs),
	    cmocka_unit_test(test_resp),
	    cmocka_unit_test(test_first_value),
	    cmocka_unit_test(test_first_value_binary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
