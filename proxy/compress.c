/* CLIENT_COMPRESS: zlib framing between plain packet buffers and the socket. */
#include "proxy/compress.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define ZC_MIN_COMPRESS 50     /* MySQL's MIN_COMPRESS_LENGTH */
#define ZC_CHUNK (256u * 1024) /* plain bytes per compressed packet we send */
#define ZC_MAX_PAYLOAD 0xFFFFFFu

static uint32_t get3(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static void put3(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
}

/* The header at the front of zin; false when fewer than ZC_HDR bytes. */
static bool zc_header(struct evbuffer *zin, uint32_t *clen, uint32_t *ulen, uint8_t *seq)
{
	uint8_t h[ZC_HDR];
	if (evbuffer_copyout(zin, h, ZC_HDR) != ZC_HDR)
		return false;
	*clen = get3(h);
	*seq = h[3];
	*ulen = get3(h + 4);
	return true;
}

bool zc_frame_complete(struct evbuffer *zin)
{
	uint32_t clen, ulen;
	uint8_t seq;
	return zc_header(zin, &clen, &ulen, &seq) &&
	       evbuffer_get_length(zin) >= ZC_HDR + (size_t)clen;
}

enum zc_status zc_inflate(struct evbuffer *zin, struct evbuffer *out, size_t frame_max, size_t room,
			  struct zc_got *got)
{
	memset(got, 0, sizeof(*got));
	for (;;) {
		uint32_t clen, ulen;
		uint8_t seq;
		if (!zc_header(zin, &clen, &ulen, &seq))
			return ZC_OK;
		size_t plain = ulen ? ulen : clen;
		if (frame_max && plain > frame_max) {
			got->big = plain;
			return ZC_TOO_LARGE;
		}
		if (ulen && clen > compressBound(ulen))
			return ZC_BAD; /* no zlib stream is that long: a lie */
		if (room && evbuffer_get_length(out) >= room)
			return ZC_OK; /* back-pressure: the rest waits in zin */
		if (evbuffer_get_length(zin) < ZC_HDR + (size_t)clen)
			return ZC_OK;
		evbuffer_drain(zin, ZC_HDR);
		got->frames++;
		got->seq = seq;
		if (ulen == 0) {
			if (evbuffer_remove_buffer(zin, out, clen) != (int)clen)
				return ZC_BAD;
			continue;
		}
		const uint8_t *src = evbuffer_pullup(zin, clen);
		struct evbuffer_iovec v;
		if (!src || evbuffer_reserve_space(out, ulen, &v, 1) != 1)
			return ZC_BAD;
		uLongf dlen = ulen;
		if (uncompress(v.iov_base, &dlen, src, clen) != Z_OK || dlen != ulen)
			return ZC_BAD;
		v.iov_len = ulen;
		if (evbuffer_commit_space(out, &v, 1) != 0)
			return ZC_BAD;
		evbuffer_drain(zin, clen);
	}
}

bool zc_deflate(struct evbuffer *in, struct evbuffer *zout, uint8_t *seq)
{
	size_t left;
	while ((left = evbuffer_get_length(in)) > 0) {
		size_t n = left < ZC_CHUNK ? left : ZC_CHUNK;
		const uint8_t *src = evbuffer_pullup(in, n);
		if (!src)
			return false;
		uint8_t h[ZC_HDR];
		if (n >= ZC_MIN_COMPRESS) {
			uLongf bound = compressBound(n);
			struct evbuffer_iovec v;
			if (evbuffer_reserve_space(zout, ZC_HDR + bound, &v, 1) != 1)
				return false;
			uint8_t *dst = v.iov_base;
			uLongf clen = bound;
			if (compress2(dst + ZC_HDR, &clen, src, n, 1) == Z_OK && clen < n) {
				put3(dst, (uint32_t)clen);
				dst[3] = (*seq)++;
				put3(dst + 4, (uint32_t)n);
				v.iov_len = ZC_HDR + clen;
				if (evbuffer_commit_space(zout, &v, 1) != 0)
					return false;
				evbuffer_drain(in, n);
				continue;
			}
			/* Not worth it: fall through to a stored packet (nothing committed). */
		}
		put3(h, (uint32_t)n);
		h[3] = (*seq)++;
		put3(h + 4, 0);
		if (evbuffer_add(zout, h, ZC_HDR) != 0 ||
		    evbuffer_remove_buffer(in, zout, n) != (int)n)
			return false;
	}
	return true;
}
