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

bool zc_inflate(struct evbuffer *zin, struct evbuffer *out, uint8_t *seq)
{
	for (;;) {
		uint8_t h[ZC_HDR];
		size_t have = evbuffer_get_length(zin);
		if (have < ZC_HDR)
			return true;
		if (evbuffer_copyout(zin, h, ZC_HDR) != ZC_HDR)
			return false;
		uint32_t clen = get3(h), ulen = get3(h + 4);
		if (have < ZC_HDR + (size_t)clen)
			return true;
		*seq = h[3];
		evbuffer_drain(zin, ZC_HDR);
		if (ulen == 0) {
			if (evbuffer_remove_buffer(zin, out, clen) != (int)clen)
				return false;
			continue;
		}
		const uint8_t *src = evbuffer_pullup(zin, clen);
		struct evbuffer_iovec v;
		if (!src || evbuffer_reserve_space(out, ulen, &v, 1) != 1)
			return false;
		uLongf dlen = ulen;
		if (uncompress(v.iov_base, &dlen, src, clen) != Z_OK || dlen != ulen)
			return false;
		v.iov_len = ulen;
		if (evbuffer_commit_space(out, &v, 1) != 0)
			return false;
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
