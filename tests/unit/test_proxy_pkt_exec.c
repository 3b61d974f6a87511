/* Unit tests for COM_STMT_EXECUTE parameter decoding and the relay's memory
 * of prepared statements (proxy/pkt_exec.c), driven by
 * tests/unit/data/proxy_pkt_exec.txt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/pkt.h"
#include "proxy/pkt_exec.h"
#include "proxy_testdata.h"

/* Decodes hex (spaces ignored) into out; returns the length. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	while (*hex) {
		if (*hex == ' ') {
			hex++;
			continue;
		}
		unsigned v;
		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

static const char *status_name(enum pkt_exec_status st)
{
	switch (st) {
	case PKT_EXEC_OK:
		return "OK";
	case PKT_EXEC_MALFORMED:
		return "MALFORMED";
	case PKT_EXEC_UNSUPPORTED:
		return "UNSUPPORTED";
	case PKT_EXEC_NO_TYPES:
		return "NO_TYPES";
	}
	return "?";
}

/* Appends s to out with spaces as '_'. */
static void add_word(char *out, size_t cap, const char *s)
{
	size_t o = strlen(out);
	for (; *s && o + 1 < cap; s++)
		out[o++] = *s == ' ' ? '_' : *s;
	out[o] = 0;
}

static void test_decode_table(void **state)
{
	(void)state;
	char *lines[256];
	size_t n = read_lines("proxy_pkt_exec.txt", lines, 256);
	for (size_t i = 0; i < n; i++) {
		char *arrow = strstr(lines[i], " => ");
		assert_non_null(arrow);
		*arrow = 0;
		const char *want = arrow + 4;
		unsigned nparams;
		unsigned caps;
		char types_hex[64], long_hex[16];
		int used = 0;
		assert_int_equal(sscanf(lines[i], "%u %x %63s %15s %n", &nparams, &caps, types_hex,
					long_hex, &used),
				 4);
		uint8_t payload[512], types[64], long_data[8];
		size_t len = unhex(lines[i] + used, payload, sizeof(payload));
		bool has_types = strcmp(types_hex, "-") != 0;
		bool has_long = strcmp(long_hex, "-") != 0;
		if (has_types)
			unhex(types_hex, types, sizeof(types));
		if (has_long)
			unhex(long_hex, long_data, sizeof(long_data));
		struct pkt_exec_param out[8];
		enum pkt_exec_status st =
		    pkt_exec_decode(payload, len, caps, nparams, has_types ? types : NULL,
				    has_long ? long_data : NULL, out);
		char got[1024];
		snprintf(got, sizeof(got), "%s", status_name(st));
		for (unsigned k = 0; st == PKT_EXEC_OK && k < nparams; k++) {
			char text[128];
			strncat(got, " ", sizeof(got) - strlen(got) - 1);
			add_word(got, sizeof(got), pkt_type_name(out[k].type, out[k].unsig));
			add_word(got, sizeof(got), "=");
			if (out[k].null)
				snprintf(text, sizeof(text), "NULL");
			else if (out[k].long_data)
				snprintf(text, sizeof(text), "LONG");
			else
				pkt_exec_param_text(&out[k], text, sizeof(text));
			add_word(got, sizeof(got), text);
		}
		if (strcmp(got, want) != 0)
			fail_msg("%s\n  want: %s\n  got:  %s", lines[i], want, got);
		free(lines[i]);
	}
}

/* A cut value says how long it was; the buffer always ends in a NUL. */
static void test_text_cut(void **state)
{
	(void)state;
	const uint8_t blob[] = "0123456789";
	struct pkt_exec_param pp = {.type = PKT_T_BLOB, .val = blob, .len = 10};
	char buf[4];
	assert_int_equal(pkt_exec_param_text(&pp, buf, sizeof(buf)), 10);
	assert_string_equal(buf, "012");
}

/* The relay's memory: types remembered across executes, long data until
 * the execute, MariaDB's "last prepared" id, close and clear. */
static void test_stmt_memory(void **state)
{
	(void)state;
	struct pkt_exec_stmts ss = {0};
	uint8_t p[64];
	assert_true(pkt_exec_stmts_add(&ss, 7, 2));
	assert_true(pkt_exec_stmts_add(&ss, 9, 1));
	struct pkt_exec_stmt *st = pkt_exec_stmts_find(&ss, 0xFFFFFFFFu);
	assert_non_null(st);
	assert_int_equal(st->id, 9);
	st = pkt_exec_stmts_find(&ss, 7);
	assert_non_null(st);
	assert_int_equal(st->nparams, 2);
	assert_false(st->has_types);

	/* SEND_LONG_DATA of parameter 0 of statement 7 */
	size_t n = unhex("18 07000000 0000 78797a", p, sizeof(p));
	pkt_exec_stmts_long_data(&ss, p, n);
	/* the first execute binds (blob, int): parameter 0 is long data */
	n = unhex("17 07000000 00 01000000 00 01 fc00 0300 05000000", p, sizeof(p));
	pkt_exec_stmt_executing(st, p, n, 0);
	assert_true(st->has_types);
	struct pkt_exec_param out[2];
	assert_int_equal(pkt_exec_decode(p, n, 0, 2, st->types, st->long_data, out), PKT_EXEC_OK);
	assert_true(out[0].long_data);
	assert_int_equal(out[1].type, PKT_T_LONG);
	pkt_exec_stmt_reset(st);
	/* the next one reuses the types and sends both values */
	n = unhex("17 07000000 00 01000000 00 00 0161 06000000", p, sizeof(p));
	pkt_exec_stmt_executing(st, p, n, 0);
	assert_int_equal(pkt_exec_decode(p, n, 0, 2, st->types, st->long_data, out), PKT_EXEC_OK);
	assert_false(out[0].long_data);
	assert_int_equal(out[0].type, PKT_T_BLOB);
	assert_int_equal(out[0].len, 1);

	/* a SEND_LONG_DATA for a parameter the statement does not have is ignored */
	n = unhex("18 07000000 0500 78", p, sizeof(p));
	pkt_exec_stmts_long_data(&ss, p, n);
	assert_int_equal(st->long_data[0], 0);

	pkt_exec_stmts_del(&ss, 9);
	assert_null(pkt_exec_stmts_find(&ss, 9));
	assert_null(pkt_exec_stmts_find(&ss, 0xFFFFFFFFu));
	assert_non_null(pkt_exec_stmts_find(&ss, 7));
	/* the same id prepared again starts over */
	assert_true(pkt_exec_stmts_add(&ss, 7, 1));
	st = pkt_exec_stmts_find(&ss, 7);
	assert_false(st->has_types);
	assert_int_equal(st->nparams, 1);
	pkt_exec_stmts_clear(&ss);
	assert_null(pkt_exec_stmts_find(&ss, 7));
}

/* Every prefix of a valid execute, and every byte flipped, decodes or is
 * refused without reading outside the payload (the sanitizers watch). */
static void test_prefixes_and_flips(void **state)
{
	(void)state;
	uint8_t p[128];
	size_t n = unhex("17 01000000 00 01000000 04 01 0300 fd00 0c00 fc00 2a000000 03616263 "
			 "0be8070c190a1e0040e20100",
			 p, sizeof(p));
	struct pkt_exec_param out[4];
	assert_int_equal(pkt_exec_decode(p, n, 0, 4, NULL, NULL, out), PKT_EXEC_OK);
	assert_true(out[2].null);
	for (size_t k = 0; k < n; k++) {
		uint8_t *cut = malloc(k ? k : 1);
		memcpy(cut, p, k);
		assert_int_not_equal(pkt_exec_decode(cut, k, 0, 4, NULL, NULL, out), PKT_EXEC_OK);
		free(cut);
	}
	for (size_t k = 0; k < n; k++)
		for (unsigned bit = 0; bit < 8; bit++) {
			uint8_t *q = malloc(n);
			memcpy(q, p, n);
			q[k] ^= (uint8_t)(1u << bit);
			if (pkt_exec_decode(q, n, CLIENT_QUERY_ATTRIBUTES, 4, NULL, NULL, out) ==
			    PKT_EXEC_OK)
				for (unsigned i = 0; i < 4; i++)
					if (!out[i].null && !out[i].long_data)
						assert_true(out[i].val >= q &&
							    out[i].val + out[i].len <= q + n);
			free(q);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_table),
	    cmocka_unit_test(test_text_cut),
	    cmocka_unit_test(test_stmt_memory),
	    cmocka_unit_test(test_prefixes_and_flips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
