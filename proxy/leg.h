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
	size_t zframe_max;	     /* largest plain size of one compressed packet (0 = any) */
	size_t zroom;		     /* inflate while in holds less than this (0 = no bound) */
	size_t zbig;		     /* LEG_TOO_LARGE: the plain size that packet announced */
	bool eof;		     /* the peer closed its side */
	bool read_wants_write;	     /* TLS: SSL_read needs the socket writable */
	bool oom;		     /* a forward ran out of memory */

	/* Bytes just read into the worker's scratch buffer (leg_read_scratch)
	 * and not yet settled: rbuf[rpos..rlen) is the unconsumed input (in is
	 * empty meanwhile) and rbuf[fwd_start..+fwd_len) was forwarded to
	 * fwd_dst but not yet written. leg_settle() ends this before the
	 * event callback returns, so the scratch is never held across events. */
	uint8_t *rbuf; /* borrowed: the worker's scratch, NULL when none */
	size_t rpos, rlen;
	size_t fwd_start, fwd_len;
	struct leg *fwd_dst; /* borrowed: the other leg of the session */
};

enum leg_io {
	LEG_OK,
	LEG_ERR,
	LEG_TOO_LARGE, /* a compressed packet over zframe_max (its size in zbig) */
	LEG_ZBAD,      /* a malformed compressed packet */
};

/* Takes over fd (may be -1: the buffers still exist so the session can
 * queue an ERR) and assigns its events, both off. false when out of
 * memory; leg_cleanup() is still due. */
bool leg_init(struct leg *l, struct event_base *base, int fd, event_callback_fn rd,
	      event_callback_fn wr, void *arg) __attribute__((warn_unused_result));

/* Closes the socket (TLS close_notify best effort) and frees the buffers.
 * Idempotent. */
void leg_cleanup(struct leg *l);

/*
 * Ends the leg's connection gently, then leg_cleanup()'s it: TLS
 * close_notify, then shutdown(SHUT_WR) so the peer reads all it was sent
 * and an orderly end; the socket itself stays open, its input read and
 * dropped, until the peer closes too or linger_ms pass. Closing a socket
 * with unread input would send a TCP reset instead, which can cost the
 * peer the last packets (an ERR) still in its receive buffer. Falls back
 * to a plain close when memory is short.
 */
void leg_close_gently(struct leg *l, int linger_ms);

/* Arms or disarms the read / write event; no-op on a closed leg. */
void leg_want_read(struct leg *l, bool on);
void leg_want_write(struct leg *l, bool on);

/* Stops both events without closing (the leg has nothing more to say). */
void leg_pause(struct leg *l);

/* Bytes queued for the peer, plain and compressed. */
size_t leg_pending_out(const struct leg *l);

/*
 * CLIENT_COMPRESS: inflates the compressed packets waiting in zin into in
 * while in holds less than zroom, checking each packet's announced size
 * against zframe_max first. LEG_TOO_LARGE (zbig set) for a packet over the
 * limit, LEG_ZBAD for a malformed one. No-op without zlib.
 */
enum leg_io leg_inflate(struct leg *l) __attribute__((warn_unused_result));

/* A whole compressed packet waits in zin (the socket need not be read). */
bool leg_zframe_waiting(const struct leg *l);

/*
 * Whether the leg holds input that no socket event will announce: TLS
 * records OpenSSL already decrypted, or a compressed packet that may be
 * inflated now. Reads are bounded per event, so the session wakes the leg
 * itself (leg_kick) while it wants input and this is true.
 */
bool leg_buffered(const struct leg *l);

/* Runs the read callback soon when leg_buffered(); no-op otherwise. */
void leg_kick(struct leg *l);

/*
 * Reads what the socket has (at most limit bytes when limit > 0, at most
 * LEG_READ_MAX otherwise) into l->in, through TLS and zlib when they are
 * on. Sets l->eof when the peer closed. LEG_ERR when the leg is broken,
 * LEG_TOO_LARGE / LEG_ZBAD as leg_inflate(); *got counts wire bytes.
 */
enum leg_io leg_read(struct leg *l, size_t limit, size_t *got) __attribute__((warn_unused_result));

/*
 * Writes as much of l->out as the socket takes, compressing first when
 * zlib is on; arms the write event for the rest. LEG_ERR when the leg is
 * broken; *put counts plain bytes handed on.
 */
enum leg_io leg_flush(struct leg *l, size_t *put) __attribute__((warn_unused_result));

/*
 * The hot path: reads into the worker thread's scratch buffer instead of
 * l->in, so a round trip whose bytes are forwarded whole costs no buffer
 * allocation (pgbouncer's sbuf reads into its own iobuf the same way).
 * Only when l->in is empty and the leg has no zlib layer; otherwise (or
 * when the scratch is taken) it is leg_read(). Until leg_settle(), read
 * the input with the leg_in_* functions below, which see either form.
 */
enum leg_io leg_read_scratch(struct leg *l, size_t *got) __attribute__((warn_unused_result));

/* On a worker thread as it ends, after its sessions: frees the thread's
 * scratch buffer and closes the sockets still lingering. */
void leg_scratch_free(void);

/*
 * Ends a scratch read: writes what was forwarded straight to the
 * destination socket when nothing is queued there (a plain socket), queues
 * the rest in the destination's out, and copies unconsumed input into
 * l->in. *direct counts bytes written to the socket here. LEG_ERR only
 * when memory ran out (here or in a forward since the last settle); a
 * write error is left for leg_flush() to meet. Harmless without a scratch
 * read.
 */
enum leg_io leg_settle(struct leg *l, size_t *direct) __attribute__((warn_unused_result));

/* Input bytes not yet consumed. */
size_t leg_in_len(const struct leg *l);
/* Copies up to n input bytes from offset pos; returns how many. */
size_t leg_in_copyout(const struct leg *l, size_t pos, void *out, size_t n);
/* The first n input bytes made contiguous (n <= leg_in_len()); NULL when
 * out of memory. Valid until the input changes. */
uint8_t *leg_in_pullup(struct leg *l, size_t n);
/* Overwrites the input byte at offset pos. */
void leg_in_poke(struct leg *l, size_t pos, uint8_t v);
/* Consumes n input bytes: dropped, or forwarded to dst's output (out of
 * memory sets l->oom, which leg_settle() reports). */
void leg_in_drain(struct leg *l, size_t n);
void leg_in_forward(struct leg *l, struct leg *dst, size_t n);

/* Sends a few bytes now if nothing is queued, without waiting or
 * queueing (a goodbye such as COM_QUIT). Best effort. */
void leg_send_now(struct leg *l, const void *buf, size_t len);

#endif
