/* Unit tests for the private query answer reader (proxy/pkt_private.c), driven by
 * tests/unit/data/proxy_private.txt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/pkt.h"
#include "proxy/pkt_private.h"
#include "proxy_testdata.h"

/* Builds the payload a packet word of the table stands for into out;
 * returns its length (the announced length for "big"). */
static size_t build(const char *w, uint32_t caps, uint8_t *out, size_t cap)
{
	size_t n = 0;
	if (strncmp(w, "ok", 2) == 0 || strncmp(w, "end", 3) == 0) {
		uint16_t status = strstr(w, ":more") ? SERVER_MORE_RESULTS_EXISTS : 0;
		n = pkt_build_ok(out, 0, 0, 0, status, 0) - PKT_HDR;
		memmove(out, out + PKT_HDR, n);
		if (w[0] == 'e')
			out[0] = 0xFE;
		return n;
	}
	if (strncmp(w, "eof", 3) == 0) {
		uint16_t status = strstr(w, ":more") ? SERVER_MORE_RESULTS_EXISTS : 0;
		uint8_t e[5] = {0xFE, 0, 0, (uint8_t)status, (uint8_t)(status >> 8)};
		memcpy(out, e, 5);
		return 5;
	}
	if (strncmp(w, "err:", 4) == 0 || strcmp(w, "progress") == 0) {
		unsigned code = 0xFFFF;
		char state[6] = "HY000", msg[128] = "progress";
		if (w[0] == 'e')
			assert_int_equal(sscanf(w, "err:%u:%5[^:]:%127s", &code, state, msg), 3);
		n = pkt_build_err(out, cap, 0, (uint16_t)code, state, msg) - PKT_HDR;
		memmove(out, out + PKT_HDR, n);
		return n;
	}
	if (strncmp(w, "cols:", 5) == 0) {
		out[0] = (uint8_t)atoi(w + 5);
		return 1;
	}
	if (strcmp(w, "def") == 0) {
		memcpy(out,
		       "\x03"
		       "def",
		       4);
		return 4;
	}
	if (strcmp(w, "junk") == 0) {
		out[0] = 0x02;
		out[1] = 0x00;
		return 2;
	}
	if (strcmp(w, "big") == 0) {
		out[0] = 0xFC; /* a lenenc string of 2^16 bytes follows */
		return PRIVATE_KEEP + 100;
	}
	assert_true(strncmp(w, "row:", 4) == 0);
	char vals[256];
	snprintf(vals, sizeof(vals), "%s", w + 4);
	for (char *save, *v = strtok_r(vals, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
		if (strcmp(v, "NULL") == 0) {
			out[n++] = 0xFB;
			continue;
		}
		size_t l = strcmp(v, "~") == 0 ? 0 : strlen(v);
		out[n++] = (uint8_t)l;
		memcpy(out + n, v, l);
		n += l;
	}
	(void)caps;
	return n;
}

static void test_answers(void **state)
{
	(void)state;
	char *lines[64];
	size_t nl = read_lines("proxy_private.txt", lines, 64);
	static struct priv_parse p;
	for (size_t i = 0; i < nl; i++) {
		char *line = lines[i];
		char *bar1 = strchr(line, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
		assert_non_null(bar2);
		*bar1 = *bar2 = 0;
		uint32_t caps = CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS |
				(strstr(line, "deprecate") ? CLIENT_DEPRECATE_EOF : 0);
		const char *expect = bar2 + 1;
		priv_parse_begin(&p, caps);
		enum priv_event ev = PRIV_EV_MORE;
		char pkts[1024];
		snprintf(pkts, sizeof(pkts), "%s", bar1 + 1);
		for (char *save, *w = strtok_r(pkts, " ", &save); w && ev == PRIV_EV_MORE;
		     w = strtok_r(NULL, " ", &save)) {
			uint8_t buf[1024];
			size_t len = build(w, caps, buf, sizeof(buf));
			bool whole = priv_parse_wants_whole(&p, (uint32_t)len, buf[0]);
			if (strcmp(w, "big") == 0)
				assert_false(whole);
			/* not whole: only the first byte is there, the relay drops the rest */
			if (!whole)
				memset(buf + 1, 0xEE, sizeof(buf) - 1);
			ev = priv_parse_feed(&p, buf, len, whole);
		}
		char v[256], key[8];
		const char *kind = field(expect, "kind", v, sizeof(v));
		assert_non_null(kind);
		const char *got_kind = ev == PRIV_EV_BAD	    ? "bad"
				       : ev == PRIV_EV_MORE	    ? "more"
				       : p.res.kind == PRIVATE_OK   ? "ok"
				       : p.res.kind == PRIVATE_ERR  ? "err"
				       : p.res.kind == PRIVATE_ROWS ? "rows"
								    : "failed";
		if (strcmp(kind, got_kind) != 0)
			fail_msg("case %zu '%s': kind %s, want %s", i + 1, bar1 + 1, got_kind,
				 kind);
		if (field(expect, "code", v, sizeof(v)))
			assert_int_equal(p.res.code, atoi(v));
		if (field(expect, "state", v, sizeof(v)))
			assert_string_equal(p.res.sqlstate, v);
		if (field(expect, "msg", v, sizeof(v)))
			assert_string_equal(p.res.message, v);
		if (field(expect, "ncols", v, sizeof(v)))
			assert_int_equal(p.res.ncols, atoi(v));
		if (field(expect, "rows", v, sizeof(v)))
			assert_int_equal(p.res.rows, atoi(v));
		assert_int_equal(p.res.truncated, field(expect, "trunc", v, sizeof(v)) != NULL);
		for (unsigned c = 0; c < PRIVATE_MAX_COLS; c++) {
			snprintf(key, sizeof(key), "v%u", c);
			if (!field(expect, key, v, sizeof(v)))
				continue;
			assert_true(p.res.has_row);
			if (strcmp(v, "NULL") == 0) {
				assert_null(p.res.vals[c]);
			} else {
				assert_non_null(p.res.vals[c]);
				assert_string_equal(p.res.vals[c], v);
				assert_int_equal(p.res.lens[c], strlen(v));
			}
		}
		free(line);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
