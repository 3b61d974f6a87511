/* Fuzz target for the packet codec (proxy/pkt.c) and the CLIENT_COMPRESS
 * framing (proxy/compress.c): every parser gets the same hostile bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/compress.h"
#include "proxy/pkt.h"
#include "proxy/pkt_exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Follows the server answer in data as a stream of framed packets. The
 * first byte picks the answer kind and flags, the next four the caps. */
static void follow(const uint8_t *data, size_t size)
{
	if (size < 5)
		return;
	struct pkt_resp r;
	memset(&r, 0, sizeof(r));
	r.want_row1 = data[0] & 0x80;
	r.binary = data[0] & 0x40;
	uint32_t caps = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
			(uint32_t)data[4] << 24;
	pkt_resp_start(&r, (enum pkt_resp_kind)((data[0] & 7) % (PKT_RESP_STREAM + 1)), caps);
	size_t pos = 5;
	while (pos + PKT_HDR <= size && !pkt_resp_done(&r)) {
		uint32_t len = pkt_hdr_len(data + pos);
		const uint8_t *p = data + pos + PKT_HDR;
		size_t avail = size - pos - PKT_HDR;
		if (avail > len)
			avail = len;
		enum pkt_resp_need need = pkt_resp_peek(&r, len, avail ? p[0] : 0);
		if (need == PKT_WHOLE && avail < len)
			return; /* the relay would wait for more */
		if (need == PKT_SEND && len > 0 && avail == 0)
			return;
		struct pkt_result res;
		const uint8_t *v;
		size_t vl;
		bool vn;
		enum pkt_resp_event ev = pkt_resp_feed(
		    &r, p, need == PKT_WHOLE ? len : (len ? 1 : 0), len, &res, &v, &vl, &vn);
		if (ev == PKT_EV_BAD)
			return;
		if (ev == PKT_EV_ROW1 && !vn && vl) /* the value must lie inside the packet */
			if ((v < p || v + vl > p + len) &&
			    (v != (const uint8_t *)r.numbuf || vl >= sizeof(r.numbuf)))
				abort();
		if (ev == PKT_EV_RESULT && !res.ok && res.err.message_len > len)
			abort();
		if (ev == PKT_EV_INFILE)
			pkt_resp_infile_done(&r);
		pos += PKT_HDR + (avail < len ? avail : len);
	}
}

/* Decodes data as a COM_STMT_EXECUTE (the parameter count, capabilities,
 * remembered types and long data taken from its first bytes) and checks
 * that every value lies inside the payload and prints within its buffer. */
static void execute(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	unsigned nparams = data[0] % 9;
	uint32_t caps = data[1] & 1 ? CLIENT_QUERY_ATTRIBUTES : 0;
	const uint8_t *types = data[1] & 2 && size >= 2 + 2 * nparams ? data + 2 : NULL;
	const uint8_t *long_data = data[1] & 4 ? data + 1 : NULL;
	const uint8_t *p = data + 2;
	size_t len = size - 2;
	struct pkt_exec_param out[8];
	if (pkt_exec_decode(p, len, caps, nparams, types, long_data, out) == PKT_EXEC_OK)
		for (unsigned i = 0; i < nparams; i++) {
			char buf[48];
			if (!out[i].null && !out[i].long_data &&
			    (out[i].val < p || out[i].val + out[i].len > p + len))
				abort();
			(void)pkt_exec_param_text(&out[i], buf, sizeof(buf));
			if (strlen(buf) >= sizeof(buf) || !pkt_type_name(out[i].type, out[i].unsig))
				abort();
		}
	uint8_t t[16];
	(void)pkt_exec_types(p, len, caps, nparams, t);
	struct pkt_exec_stmts ss = {0};
	if (pkt_exec_stmts_add(&ss, 1, nparams)) {
		pkt_exec_stmts_long_data(&ss, p, len);
		struct pkt_exec_stmt *st = pkt_exec_stmts_find(&ss, 0xFFFFFFFFu);
		if (st)
			pkt_exec_stmt_executing(st, p, len, caps);
	}
	pkt_exec_stmts_clear(&ss);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);

	struct pkt_greeting g;
	if (pkt_greeting_parse(copy, size, &g))
		pkt_greeting_set_caps(copy, &g, g.caps & ~CLIENT_SSL, g.ext_caps);
	memcpy(copy, data, size);
	struct pkt_hsresp h;
	if (pkt_hsresp_parse(copy, size, &h))
		pkt_hsresp_set_caps(copy, size, h.caps | CLIENT_SSL, h.ext_caps);

	struct pkt_ok ok;
	struct pkt_err err;
	uint16_t st, w;
	unsigned parsed = 0; /* the results only matter to the sanitizers */
	parsed += pkt_parse_ok(data, size, CLIENT_PROTOCOL_41 | CLIENT_SESSION_TRACK, &ok);
	parsed += pkt_parse_ok(data, size, 0, &ok);
	parsed += pkt_parse_err(data, size, CLIENT_PROTOCOL_41, &err);
	parsed += pkt_parse_eof(data, size, &st, &w);

	const uint8_t *s1, *s2;
	size_t l1, l2;
	parsed += pkt_query_sql(data, size, CLIENT_QUERY_ATTRIBUTES, &s1, &l1);
	parsed += pkt_change_user_parse(data, size, CLIENT_SECURE_CONNECTION, &s1, &l1, &s2, &l2);
	parsed += pkt_change_user_parse(data, size, 0, &s1, &l1, &s2, &l2);

	size_t wire;
	uint64_t payload;
	unsigned parts;
	if (pkt_scan_logical(data, size, 1u << 26, &wire, &payload, &parts) == PKT_SCAN_OK) {
		uint8_t *out = malloc(payload ? payload : 1);
		if (out && pkt_reassemble(data, wire, out) != payload)
			abort();
		free(out);
	}

	follow(data, size);
	execute(data, size);
	if (parsed > 7)
		abort();

	struct evbuffer *zin = evbuffer_new(), *plain = evbuffer_new(), *zout = evbuffer_new();
	uint8_t seq = 0;
	struct zc_got got;
	evbuffer_add(zin, data, size);
	/* Bounded first (what the relay runs), then the rest unbounded. */
	enum zc_status zs = zc_inflate(zin, plain, 1u << 16, 1u << 16, &got);
	if (zs == ZC_OK)
		zs = zc_inflate(zin, plain, 0, 0, &got);
	if (zs == ZC_OK) {
		/* Whatever came out must survive a round trip. */
		size_t n = evbuffer_get_length(plain);
		uint8_t *before = malloc(n ? n : 1);
		evbuffer_copyout(plain, before, n);
		if (!zc_deflate(plain, zout, &seq) ||
		    zc_inflate(zout, plain, 0, 0, &got) != ZC_OK || evbuffer_get_length(plain) != n)
			abort();
		uint8_t *after = malloc(n ? n : 1);
		evbuffer_copyout(plain, after, n);
		if (memcmp(before, after, n) != 0)
			abort();
		free(before);
		free(after);
	}
	evbuffer_free(zin);
	evbuffer_free(plain);
	evbuffer_free(zout);
	free(copy);
	return 0;
}
