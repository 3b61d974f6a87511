/*
 * CLIENT_COMPRESS framing (zlib) for the client leg.
 *
 * A compressed packet is a 7-byte header (compressed length, sequence id,
 * uncompressed length; 0 = stored as is) followed by a payload that holds
 * any slice of the plain packet stream. The relay keeps plain packets in
 * its buffers and converts at the socket: zc_inflate() after reading,
 * zc_deflate() before writing. One-shot zlib calls keep no per-session
 * state, so an idle compressed session costs no zlib memory.
 */
#ifndef DDLGATE_PROXY_COMPRESS_H
#define DDLGATE_PROXY_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>

#define ZC_HDR 7

enum zc_status {
	ZC_OK,
	ZC_BAD,	      /* a malformed packet (bad length, zlib error): close the leg */
	ZC_TOO_LARGE, /* a packet announces more than frame_max plain bytes */
};

/* What one zc_inflate() call did. */
struct zc_got {
	unsigned frames; /* compressed packets consumed */
	uint8_t seq;	 /* frames > 0: the sequence id of the last one */
	size_t big;	 /* ZC_TOO_LARGE: the plain size the packet announced */
};

/*
 * Moves complete compressed packets of zin into out, decompressed, one at
 * a time: each header is checked before its payload is waited for or
 * inflated (plain size at most frame_max, 0 = any; a payload no longer
 * than zlib's bound for that size), and no further packet is inflated
 * once out holds room bytes or more (0 = no bound), so a few KiB of wire
 * bytes never turn into more plain bytes than the caller allowed.
 */
enum zc_status zc_inflate(struct evbuffer *zin, struct evbuffer *out, size_t frame_max, size_t room,
			  struct zc_got *got) __attribute__((warn_unused_result));

/* Whether zin holds a complete compressed packet. */
bool zc_frame_complete(struct evbuffer *zin);

/*
 * Moves all of in into zout as compressed packets numbered from *seq
 * (advanced past the last). Small or incompressible chunks are stored
 * uncompressed, as MySQL does. Returns false if memory runs out.
 */
bool zc_deflate(struct evbuffer *in, struct evbuffer *zout, uint8_t *seq)
    __attribute__((warn_unused_result));

#endif
