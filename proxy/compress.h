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

/*
 * Moves every complete compressed packet of zin into out, decompressed.
 * *seq is set to the sequence id of the last packet consumed. Returns
 * false on a malformed packet (bad length, zlib error): close the leg.
 */
bool zc_inflate(struct evbuffer *zin, struct evbuffer *out, uint8_t *seq)
    __attribute__((warn_unused_result));

/*
 * Moves all of in into zout as compressed packets numbered from *seq
 * (advanced past the last). Small or incompressible chunks are stored
 * uncompressed, as MySQL does. Returns false if memory runs out.
 */
bool zc_deflate(struct evbuffer *in, struct evbuffer *zout, uint8_t *seq)
    __attribute__((warn_unused_result));

#endif
