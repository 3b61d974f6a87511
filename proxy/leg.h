/*
 * The byte mover of one leg: a socket with its TLS and CLIENT_COMPRESS
 * layers, its plain-packet input and output buffers and its read / write
 * events. It knows nothing of the MySQL protocol's states: the session
 * (session.c) decides what the bytes mean and where they go.
 */
#ifndef DDLGATE_PROXY_LEG_H
#define DDLGATE_PROXY_LEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/ssl.h>

#define LEG_READ_CHUNK 16384u
#define LEG_READ_MAX (256u * 1024) /* per readable event, plain sockets */

/* One socket and its buffers. Embedded in its session: leg_init() /
 * leg_cleanup(). */
struct leg {
	int fd;		  /* owned, -1 when closed */
	struct event rev; /* EV_READ | EV_PERSIST */
	struct event wev; /* EV_WRITE | EV_PERSIST */
	bool rev_on, wev_on;
	struct evbuffer *in;	     /* owned: plain packets received */
	struct evbuffer *out;	     /* owned: plain packets to send */
	SSL *ssl;		     /* owned, NULL = plaintext */
	struct evbuffer *zin, *zout; /* owned, non-NULL when CLIENT_COMPRESS is on */
	uint8_t zseq;		     /* next compressed sequence id we send */
	bool eof;		     /* the peer closed its side */
	bool read_wants_write;	     /* TLS: SSL_read needs the socket writable */
};

enum leg_io { LEG_OK, LEG_ERR };

/* Takes over fd (may be -1: the buffers still exist so the session can
 * queue an ERR) and assigns its events, both off. false when out of
 * memory; leg_cleanup() is still due. */
bool leg_init(struct leg *l, struct event_base *base, int fd, event_callback_fn rd,
	      event_callback_fn wr, void *arg) __attribute__((warn_unused_result));

/* Closes the socket (TLS close_notify best effort) and frees the buffers.
 * Idempotent. */
void leg_cleanup(struct leg *l);

/* Arms or disarms the read / write event; no-op on a closed leg. */
void leg_want_read(struct leg *l, bool on);
void leg_want_write(struct leg *l, bool on);

/* Stops both events without closing (the leg has nothing more to say). */
void leg_pause(struct leg *l);

/* Bytes queued for the peer, plain and compressed. */
size_t leg_pending_out(const struct leg *l);

/*
 * Reads what the socket has (at most limit bytes when limit > 0) into
 * l->in, through TLS and zlib when they are on. Sets l->eof when the peer
 * closed. LEG_ERR when the leg is broken; *got counts wire bytes.
 */
enum leg_io leg_read(struct leg *l, size_t limit, size_t *got) __attribute__((warn_unused_result));

/*
 * Writes as much of l->out as the socket takes, compressing first when
 * zlib is on; arms the write event for the rest. LEG_ERR when the leg is
 * broken; *put counts plain bytes handed on.
 */
enum leg_io leg_flush(struct leg *l, size_t *put) __attribute__((warn_unused_result));

/* Sends a few bytes now if nothing is queued, without waiting or
 * queueing (a goodbye such as COM_QUIT). Best effort. */
void leg_send_now(struct leg *l, const void *buf, size_t len);

#endif
