/*
 * The byte mover of one leg (see leg.h): socket reads and writes through
 * TLS and CLIENT_COMPRESS, and the events that drive them.
 */
#include "proxy/leg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "proxy/compress.h"
#include "proxy/mem.h"
#include "proxy/tls.h"

/* One per worker thread, lent to one leg at a time between a read and its
 * settle. Allocated on first use and kept for the thread's life. */
#define LEG_SCRATCH LEG_READ_MAX
static __thread uint8_t *leg_scratch;
static __thread struct leg *leg_scratch_owner;

/* Arms or disarms one of the leg's events; *armed mirrors its state so
 * the common no-change call costs no libevent call. */
static void leg_arm(const struct leg *l, struct event *ev, bool *armed, bool on)
{
	if (l->fd < 0 || on == *armed)
		return;
	if (on)
		event_add(ev, NULL);
	else
		event_del(ev);
	*armed = on;
}

void leg_want_read(struct leg *l, bool on)
{
	leg_arm(l, &l->rev, &l->rev_on, on);
}

void leg_want_write(struct leg *l, bool on)
{
	leg_arm(l, &l->wev, &l->wev_on, on);
}

size_t leg_pending_out(const struct leg *l)
{
	return evbuffer_get_length(l->out) + (l->zout ? evbuffer_get_length(l->zout) : 0);
}

enum leg_io leg_inflate(struct leg *l)
{
	if (!l->zin)
		return LEG_OK;
	struct zc_got got;
	enum zc_status st = zc_inflate(l->zin, l->in, l->zframe_max, l->zroom, &got);
	if (got.frames)
		l->zseq = (uint8_t)(got.seq + 1);
	if (st == ZC_TOO_LARGE) {
		l->zbig = got.big;
		return LEG_TOO_LARGE;
	}
	return st == ZC_OK ? LEG_OK : LEG_ZBAD;
}

bool leg_zframe_waiting(const struct leg *l)
{
	return l->zin && zc_frame_complete(l->zin);
}

bool leg_buffered(const struct leg *l)
{
	if (l->fd < 0)
		return false;
	if (l->ssl && SSL_has_pending(l->ssl))
		return true; /* decrypted, or read ahead from the socket */
	return leg_zframe_waiting(l) && (!l->zroom || evbuffer_get_length(l->in) < l->zroom);
}

void leg_kick(struct leg *l)
{
	if (leg_buffered(l))
		event_active(&l->rev, EV_READ, 0);
}

void leg_cleanup(struct leg *l)
{
	if (l->rbuf) { /* closed mid-event: the scratch goes back unsettled */
		l->rbuf = NULL;
		leg_scratch_owner = NULL;
	}
	if (l->fd >= 0) {
		event_del(&l->rev);
		event_del(&l->wev);
		if (l->ssl)
			SSL_shutdown(l->ssl); /* best effort close_notify, never waits */
		close(l->fd);
		l->fd = -1;
	}
	if (l->ssl) {
		SSL_free(l->ssl);
		l->ssl = NULL;
	}
	if (l->in)
		evbuffer_free(l->in);
	if (l->out)
		evbuffer_free(l->out);
	if (l->zin)
		evbuffer_free(l->zin);
	if (l->zout)
		evbuffer_free(l->zout);
	l->in = l->out = l->zin = l->zout = NULL;
}

/* What one read call gave. */
enum leg_got {
	LEG_GOT_DATA, /* *n bytes */
	LEG_GOT_NONE, /* nothing more now: would block, or the peer closed (l->eof) */
	LEG_GOT_ERR,  /* the leg is broken */
};

/*
 * One read into v[0..nv) (TLS fills v[0] only), shared by both read
 * paths. total counts what this event read before: an error after some
 * bytes ends the read as end of stream, so what came first (a server's
 * ERR, say) is still processed.
 */
static enum leg_got leg_read_step(struct leg *l, struct evbuffer_iovec *v, int nv, size_t total,
				  size_t *n)
{
	if (l->ssl) {
		switch (tls_read(l->ssl, v[0].iov_base, v[0].iov_len, n)) {
		case TLS_IO_OK:
			return LEG_GOT_DATA;
		case TLS_IO_WANT_READ:
			return LEG_GOT_NONE;
		case TLS_IO_WANT_WRITE:
			l->read_wants_write = true;
			return LEG_GOT_NONE;
		case TLS_IO_EOF:
			l->eof = true;
			return LEG_GOT_NONE;
		default:
			break;
		}
	} else {
		ssize_t r;
		do
			r = readv(l->fd, v, nv);
		while (r < 0 && errno == EINTR);
		if (r > 0) {
			*n = (size_t)r;
			return LEG_GOT_DATA;
		}
		if (r == 0) {
			l->eof = true;
			return LEG_GOT_NONE;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return LEG_GOT_NONE;
	}
	if (total == 0)
		return LEG_GOT_ERR;
	l->eof = true;
	return LEG_GOT_NONE;
}

/* A read that gave less than it asked for drained the socket (TLS: and
 * OpenSSL holds nothing read ahead): skip the read that would only say
 * EAGAIN. Level-triggered events bring anything that arrived since. */
static bool leg_drained(struct leg *l, size_t got, size_t asked)
{
	return got < asked && (!l->ssl || !SSL_has_pending(l->ssl));
}

/*
 * Reads what the socket has (at most limit bytes when limit > 0) into the
 * leg's input, through TLS and zlib when they are on. Sets l->eof when the
 * peer closed. Returns LEG_ERR when the leg is broken; *got counts wire
 * bytes.
 */
enum leg_io leg_read(struct leg *l, size_t limit, size_t *got)
{
	struct evbuffer *dst = l->zin ? l->zin : l->in;
	size_t total = 0;
	*got = 0;
	l->read_wants_write = false;
	for (;;) {
		size_t want = LEG_READ_CHUNK;
		if (limit) {
			if (total >= limit)
				break;
			if (limit - total < want)
				want = limit - total;
		} else if (total >= LEG_READ_MAX) {
			/* Bounded like a plain socket: TLS would otherwise drain
			 * whatever the peer keeps sending, back-pressure or not;
			 * what OpenSSL holds is picked up by leg_kick(). */
			break;
		}
		struct evbuffer_iovec v[2];
		int nv = evbuffer_reserve_space(dst, want, v, 2);
		if (nv <= 0)
			return LEG_ERR;
		if (limit) { /* never read past limit: the rest belongs to TLS */
			size_t room = 0;
			for (int i = 0; i < nv; i++) {
				if (room + v[i].iov_len > want)
					v[i].iov_len = want - room;
				room += v[i].iov_len;
			}
		}
		size_t n;
		enum leg_got g = leg_read_step(l, v, nv, total, &n);
		if (g == LEG_GOT_ERR)
			return LEG_ERR;
		if (g == LEG_GOT_NONE)
			break;
		if (l->ssl)
			nv = 1; /* TLS filled v[0] only */
		size_t rest = n;
		for (int i = 0; i < nv; i++) {
			if (v[i].iov_len > rest)
				v[i].iov_len = rest;
			rest -= v[i].iov_len;
		}
		if (evbuffer_commit_space(dst, v, nv) != 0)
			return LEG_ERR;
		total += n;
		if (leg_drained(l, n, want))
			break;
	}
	*got = total;
	return leg_inflate(l);
}

/*
 * Writes as much of the leg's output as the socket takes, compressing
 * first when zlib is on; arms the write event for the rest. Returns LEG_ERR
 * when the leg is broken; *put counts plain bytes handed on.
 */
enum leg_io leg_flush(struct leg *l, size_t *put)
{
	struct evbuffer *src = l->out;
	*put = 0;
	if (l->fd < 0)
		return LEG_ERR;
	if (l->zout) {
		size_t n = evbuffer_get_length(l->out);
		if (n && !zc_deflate(l->out, l->zout, &l->zseq))
			return LEG_ERR;
		*put = n;
		src = l->zout;
	}
	bool want_read = false;
	while (evbuffer_get_length(src) > 0) {
		if (l->ssl) {
			struct evbuffer_iovec v;
			if (evbuffer_peek(src, -1, NULL, &v, 1) < 1)
				break;
			size_t n;
			enum tls_io t = tls_write(l->ssl, v.iov_base, v.iov_len, &n);
			if (t == TLS_IO_OK) {
				evbuffer_drain(src, n);
				if (!l->zout)
					*put += n;
				continue;
			}
			if (t == TLS_IO_WANT_WRITE)
				break;
			if (t == TLS_IO_WANT_READ) {
				want_read = true;
				break;
			}
			return LEG_ERR;
		}
		int n = evbuffer_write(src, l->fd);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return LEG_ERR;
		}
		if (!l->zout)
			*put += (size_t)n;
		if (evbuffer_get_length(src) > 0)
			break; /* the socket is full */
	}
	(void)want_read; /* reading stays on in every state where TLS writes happen */
	bool more = evbuffer_get_length(src) > 0;
	if (l->ssl && !more)
		tls_idle(l->ssl);
	leg_want_write(l, more);
	return LEG_OK;
}

bool leg_init(struct leg *l, struct event_base *base, int fd, event_callback_fn rd,
	      event_callback_fn wr, void *arg)
{
	l->fd = fd;
	event_assign(&l->rev, base, fd, EV_READ | EV_PERSIST, rd, arg);
	event_assign(&l->wev, base, fd, EV_WRITE | EV_PERSIST, wr, arg);
	l->in = evbuffer_new();
	l->out = evbuffer_new();
	return l->in && l->out;
}

void leg_pause(struct leg *l)
{
	if (l->fd < 0)
		return;
	event_del(&l->rev);
	event_del(&l->wev);
	l->rev_on = l->wev_on = false;
}

void leg_send_now(struct leg *l, const void *buf, size_t len)
{
	if (l->fd < 0 || leg_pending_out(l) > 0)
		return;
	size_t n;
	if (l->ssl) {
		(void)tls_write(l->ssl, buf, len, &n);
	} else {
		ssize_t w = send(l->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)w;
	}
}

/* ---- lingering closes --------------------------------------------------------- */

/* A closed leg's socket kept until its peer closes too (leg_close_gently).
 * One list per worker thread, so the thread ends them as it ends. */
struct leg_linger {
	int fd;
	struct event ev; /* EV_READ | EV_PERSIST with the linger timeout */
	struct leg_linger *prev, *next;
};
static __thread struct leg_linger *leg_lingering;

static void leg_linger_end(struct leg_linger *g)
{
	event_del(&g->ev);
	close(g->fd);
	if (g->prev)
		g->prev->next = g->next;
	else
		leg_lingering = g->next;
	if (g->next)
		g->next->prev = g->prev;
	free(g);
}

static void leg_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct leg_linger *g = arg;
	if (what & EV_TIMEOUT) {
		leg_linger_end(g);
		return;
	}
	uint8_t sink[4096];
	for (int i = 0; i < 64; i++) { /* bounded per event: the rest comes next time */
		ssize_t r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (r > 0)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		leg_linger_end(g); /* the peer closed too, or the socket broke */
		return;
	}
}

void leg_close_gently(struct leg *l, int linger_ms)
{
	if (l->fd >= 0 && !l->eof && linger_ms > 0) {
		struct event_base *base = event_get_base(&l->rev);
		struct leg_linger *g = calloc(1, sizeof(*g));
		if (g) {
			event_del(&l->rev);
			event_del(&l->wev);
			if (l->ssl)
				SSL_shutdown(l->ssl); /* close_notify first, never waits */
			shutdown(l->fd, SHUT_WR);
			g->fd = l->fd;
			l->fd = -1;
			event_assign(&g->ev, base, g->fd, EV_READ | EV_PERSIST, leg_linger_cb, g);
			struct timeval tv = {linger_ms / 1000, (linger_ms % 1000) * 1000};
			event_add(&g->ev, &tv);
			g->next = leg_lingering;
			if (leg_lingering)
				leg_lingering->prev = g;
			leg_lingering = g;
		}
	}
	leg_cleanup(l);
}

/* ---- scratch reads ----------------------------------------------------------- */

enum leg_io leg_read_scratch(struct leg *l, size_t *got)
{
	*got = 0;
	if (l->zin || leg_scratch_owner || evbuffer_get_length(l->in) > 0)
		return leg_read(l, 0, got);
	if (!leg_scratch)
		leg_scratch = mem_alloc(LEG_SCRATCH, "read scratch buffer");
	size_t total = 0;
	l->read_wants_write = false;
	while (total < LEG_SCRATCH) {
		struct evbuffer_iovec v = {leg_scratch + total, LEG_SCRATCH - total};
		size_t n;
		enum leg_got g = leg_read_step(l, &v, 1, total, &n);
		if (g == LEG_GOT_ERR)
			return LEG_ERR;
		if (g == LEG_GOT_NONE)
			break;
		total += n;
		if (leg_drained(l, n, v.iov_len))
			break;
	}
	*got = total;
	if (total == 0)
		return LEG_OK;
	leg_scratch_owner = l;
	l->rbuf = leg_scratch;
	l->rpos = 0;
	l->rlen = total;
	l->fwd_len = 0;
	return LEG_OK;
}

void leg_scratch_free(void)
{
	while (leg_lingering)
		leg_linger_end(leg_lingering);
	free(leg_scratch);
	leg_scratch = NULL;
	leg_scratch_owner = NULL;
}

/* Queues the pending forward in its destination's output. */
static void leg_spill(struct leg *l)
{
	if (l->fwd_len && evbuffer_add(l->fwd_dst->out, l->rbuf + l->fwd_start, l->fwd_len) != 0)
		l->oom = true;
	l->fwd_len = 0;
}

enum leg_io leg_settle(struct leg *l, size_t *direct)
{
	*direct = 0;
	if (l->rbuf) {
		struct leg *d = l->fwd_dst;
		if (l->fwd_len && d->fd >= 0 && !d->ssl && !d->zout && leg_pending_out(d) == 0) {
			ssize_t r = send(d->fd, l->rbuf + l->fwd_start, l->fwd_len,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r > 0) {
				*direct = (size_t)r;
				l->fwd_start += (size_t)r;
				l->fwd_len -= (size_t)r;
			}
			/* Errors: leg_flush() meets them on the queued rest. */
		}
		leg_spill(l);
		if (l->rpos < l->rlen &&
		    evbuffer_add(l->in, l->rbuf + l->rpos, l->rlen - l->rpos) != 0)
			l->oom = true;
		l->rbuf = NULL;
		l->rpos = l->rlen = 0;
		leg_scratch_owner = NULL;
	}
	return l->oom ? LEG_ERR : LEG_OK;
}

size_t leg_in_len(const struct leg *l)
{
	return l->rbuf ? l->rlen - l->rpos : evbuffer_get_length(l->in);
}

size_t leg_in_copyout(const struct leg *l, size_t pos, void *out, size_t n)
{
	if (l->rbuf) {
		size_t have = l->rlen - l->rpos;
		if (pos >= have)
			return 0;
		if (n > have - pos)
			n = have - pos;
		memcpy(out, l->rbuf + l->rpos + pos, n);
		return n;
	}
	if (pos == 0) {
		ev_ssize_t r = evbuffer_copyout(l->in, out, n);
		return r > 0 ? (size_t)r : 0;
	}
	struct evbuffer_ptr p;
	if (evbuffer_ptr_set(l->in, &p, pos, EVBUFFER_PTR_SET) != 0)
		return 0;
	ev_ssize_t r = evbuffer_copyout_from(l->in, &p, out, n);
	return r > 0 ? (size_t)r : 0;
}

uint8_t *leg_in_pullup(struct leg *l, size_t n)
{
	if (l->rbuf)
		return l->rbuf + l->rpos;
	return evbuffer_pullup(l->in, (ev_ssize_t)n);
}

void leg_in_poke(struct leg *l, size_t pos, uint8_t v)
{
	if (l->rbuf) {
		l->rbuf[l->rpos + pos] = v;
		return;
	}
	struct evbuffer_ptr p;
	struct evbuffer_iovec io;
	if (evbuffer_ptr_set(l->in, &p, pos, EVBUFFER_PTR_SET) == 0 &&
	    evbuffer_peek(l->in, 1, &p, &io, 1) >= 1 && io.iov_len > 0)
		((uint8_t *)io.iov_base)[0] = v;
}

void leg_in_drain(struct leg *l, size_t n)
{
	if (l->rbuf) {
		l->rpos += n;
		return;
	}
	evbuffer_drain(l->in, n);
}

void leg_in_forward(struct leg *l, struct leg *dst, size_t n)
{
	if (!l->rbuf) {
		if (evbuffer_remove_buffer(l->in, dst->out, n) != (int)n)
			l->oom = true;
		return;
	}
	/* Forwards from the scratch stay one run of bytes, written at settle;
	 * a gap (bytes dropped in between) queues the run so far. */
	if (l->fwd_len && (l->fwd_dst != dst || l->fwd_start + l->fwd_len != l->rpos))
		leg_spill(l);
	if (!l->fwd_len) {
		l->fwd_start = l->rpos;
		l->fwd_dst = dst;
	}
	l->fwd_len += n;
	l->rpos += n;
}
