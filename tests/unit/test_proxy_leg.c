/* Unit tests for the leg byte mover (proxy/leg.c): scratch reads, forwards
 * and the settle over a real socket pair, driven by data/proxy_leg.txt;
 * bounded inflation of CLIENT_COMPRESS packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <zlib.h>

#include "proxy/leg.h"
#include "proxy_testdata.h"

static void no_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static const char *dash(const char *s)
{
	return strcmp(s, "-") == 0 ? "" : s;
}

static void test_mover(void **state)
{
	(void)state;
	char *lines[32];
	size_t n = read_lines("proxy_leg.txt", lines, 32);
	struct event_base *base = event_base_new();
	assert_non_null(base);
	for (size_t i = 0; i < n; i++) {
		char input[128], ops[128], pre[64], arrived[128];
		size_t direct_want, queued_want, left_want;
		assert_int_equal(sscanf(lines[i], "%127s %127s %63s => %zu %zu %zu %127s", input,
					ops, pre, &direct_want, &queued_want, &left_want, arrived),
				 7);
		/* a_peer -> A (reads), D -> d_peer (writes) */
		int ap[2], dp[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, ap), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, dp), 0);
		struct leg a = {.fd = -1}, d = {.fd = -1};
		assert_true(leg_init(&a, base, ap[0], no_event, no_event, NULL));
		assert_true(leg_init(&d, base, dp[0], no_event, no_event, NULL));
		const char *in = dash(input);
		assert_int_equal(write(ap[1], in, strlen(in)), (ssize_t)strlen(in));
		evbuffer_add(d.out, dash(pre), strlen(dash(pre)));

		size_t got, direct;
		assert_int_equal(leg_read_scratch(&a, &got), LEG_OK);
		assert_int_equal(got, strlen(in));
		assert_non_null(a.rbuf); /* A's input was empty: the scratch was used */
		assert_int_equal(evbuffer_get_length(a.in), 0);
		assert_int_equal(leg_in_len(&a), strlen(in));
		if (strcmp(ops, "-") != 0)
			for (char *p = ops, *op; (op = strsep(&p, ",")) != NULL;) {
				size_t k = strtoul(op + 1, NULL, 10);
				if (op[0] == 'f')
					leg_in_forward(&a, &d, k);
				else
					leg_in_drain(&a, k);
			}
		size_t left = leg_in_len(&a);
		assert_int_equal(leg_settle(&a, &direct), LEG_OK);
		assert_null(a.rbuf);
		if (direct != direct_want || evbuffer_get_length(d.out) != queued_want ||
		    evbuffer_get_length(a.in) != left_want || left != left_want)
			fail_msg("line '%s': direct %zu queued %zu left %zu", lines[i], direct,
				 evbuffer_get_length(d.out), evbuffer_get_length(a.in));
		size_t put;
		assert_int_equal(leg_flush(&d, &put), LEG_OK);
		char out[256];
		ssize_t r = read(dp[1], out, sizeof(out) - 1);
		out[r > 0 ? r : 0] = 0;
		if (strcmp(out, dash(arrived)) != 0)
			fail_msg("line '%s': arrived '%s'", lines[i], out);
		leg_cleanup(&a);
		leg_cleanup(&d);
		close(ap[1]);
		close(dp[1]);
		free(lines[i]);
	}
	leg_scratch_free();
	event_base_free(base);
}

/* With input already queued, a scratch read falls back to the evbuffer,
 * and the leg_in_* functions see the same bytes either way. */
static void test_fallback_and_views(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	int ap[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, ap), 0);
	struct leg a = {.fd = -1};
	assert_true(leg_init(&a, base, ap[0], no_event, no_event, NULL));
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			evbuffer_add(a.in, "ab", 2); /* queued: no scratch this time */
		assert_int_equal(write(ap[1], "cdef", 4), 4);
		size_t got, direct;
		assert_int_equal(leg_read_scratch(&a, &got), LEG_OK);
		assert_int_equal(got, 4);
		assert_true(round == 0 ? a.rbuf != NULL : a.rbuf == NULL);
		size_t len = leg_in_len(&a);
		assert_int_equal(len, round == 0 ? 4 : 6);
		char c;
		assert_int_equal(leg_in_copyout(&a, len - 2, &c, 1), 1);
		assert_int_equal(c, 'e');
		assert_int_equal(leg_in_copyout(&a, len, &c, 1), 0);
		leg_in_poke(&a, len - 1, 'F');
		const uint8_t *p = leg_in_pullup(&a, len);
		assert_memory_equal(p + len - 4, "cdeF", 4);
		assert_int_equal(leg_settle(&a, &direct), LEG_OK);
		assert_int_equal(direct, 0);
		leg_in_drain(&a, leg_in_len(&a));
	}
	leg_cleanup(&a);
	close(ap[1]);
	leg_scratch_free();
	event_base_free(base);
}

/* Appends one compressed packet holding n bytes of v (announcing ulen
 * plain bytes) to b. */
static void add_frame(struct evbuffer *b, size_t n, uint8_t v, uint32_t ulen, uint8_t seq)
{
	uint8_t *plain = malloc(n);
	assert_non_null(plain);
	memset(plain, v, n);
	uLongf clen = compressBound(n);
	uint8_t *z = malloc(7 + clen);
	assert_non_null(z);
	assert_int_equal(compress(z + 7, &clen, plain, n), Z_OK);
	uint8_t h[7] = {(uint8_t)clen, (uint8_t)(clen >> 8), (uint8_t)(clen >> 16), seq,
			(uint8_t)ulen, (uint8_t)(ulen >> 8), (uint8_t)(ulen >> 16)};
	memcpy(z, h, 7);
	evbuffer_add(b, z, 7 + clen);
	free(z);
	free(plain);
}

/* Each packet's header is checked before it is inflated, and inflation
 * stops at zroom: frames wait in zin until the input drains. */
static void test_inflate_bounded(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct leg a = {.fd = -1};
	assert_true(leg_init(&a, base, -1, no_event, no_event, NULL));
	a.zin = evbuffer_new();
	a.zframe_max = 100000;
	a.zroom = 150000;
	for (uint8_t i = 0; i < 4; i++)
		add_frame(a.zin, 90000, 'a' + i, 90000, i);
	assert_int_equal(leg_inflate(&a), LEG_OK);
	/* two frames: the second started below the room, the third did not */
	assert_int_equal(evbuffer_get_length(a.in), 180000);
	assert_int_equal(a.zseq, 2);
	assert_true(leg_zframe_waiting(&a));
	assert_false(leg_buffered(&a)); /* no fd: nothing to wake */
	evbuffer_drain(a.in, 180000);
	assert_int_equal(leg_inflate(&a), LEG_OK);
	assert_int_equal(evbuffer_get_length(a.in), 180000);
	assert_int_equal(a.zseq, 4);
	assert_false(leg_zframe_waiting(&a));
	/* over the limit: refused at the header, nothing inflated */
	evbuffer_drain(a.in, 180000);
	add_frame(a.zin, 200000, 'z', 200000, 4);
	assert_int_equal(leg_inflate(&a), LEG_TOO_LARGE);
	assert_int_equal(a.zbig, 200000);
	assert_int_equal(evbuffer_get_length(a.in), 0);
	/* a header whose payload is longer than zlib could make of its size */
	evbuffer_drain(a.zin, evbuffer_get_length(a.zin));
	add_frame(a.zin, 5000, 'q', 10, 5);
	assert_int_equal(leg_inflate(&a), LEG_ZBAD);
	/* only the header is there yet: already refused */
	evbuffer_drain(a.zin, evbuffer_get_length(a.zin));
	const uint8_t big[7] = {0x10, 0, 0, 6, 0xff, 0xff, 0x0f};
	evbuffer_add(a.zin, big, sizeof(big));
	assert_int_equal(leg_inflate(&a), LEG_TOO_LARGE);
	leg_cleanup(&a);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mover),
	    cmocka_unit_test(test_fallback_and_views),
	    cmocka_unit_test(test_inflate_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
