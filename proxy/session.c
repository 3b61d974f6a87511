/*
 * Client connection handling: one client leg, one backend leg, and the
 * relay between them.
 *
 *                      worker thread (one event loop)
 *   client                        ddlgate                          server
 *  +------+  c.fd  +-------------------------------------------+  b.fd  +------+
 *  |      | -----> | c.in  --(SEND | FETCH -> hook)-->   b.out | -----> |      |
 *  |      | <----- | c.out <--(SEND | WHOLE -> follow)-- b.in  | <----- |      |
 *  +------+        +-------------------------------------------+        +------+
 *   TLS / zlib live at the socket edge of the client leg: c.in and c.out
 *   always hold plain MySQL packets (c.zin / c.zout hold the wire bytes).
 *
 * At each packet header the relay picks one action (pgbouncer's sbuf
 * model): SEND the packet on as it streams in (rows, STMT_EXECUTE,
 * SEND_LONG_DATA), or FETCH it whole first (commands carrying SQL, which go
 * to hook_command(); the server's OK / ERR / EOF packets, which the
 * response follower in pkt.c reads). Bytes move between evbuffers without
 * copying. Back-pressure: a leg stops reading while the other leg's output
 * is above SESS_HIGH_WM, so a huge result set read slowly costs at most a
 * few hundred KiB.
 *
 * Session states (sess_set_state() is the only writer):
 *
 *   CONNECT --backend up--> GREETING --greeting sent to client--> HELLO
 *      |                                              |  SSLRequest
 *      | refused/timeout: ERR 1105 to client          v
 *      v                                           CLIENT_TLS --done--> HELLO
 *   CLOSING                                           |
 *                       HandshakeResponse             |
 *   HELLO ---------------------------------+----------+
 *                                          | backend TLS wanted
 *                                          v
 *                                     BACKEND_TLS --done--+
 *                                          |               |
 *                                          v               v
 *                                        AUTH (relay until OK / ERR)
 *                                          | OK                | ERR
 *                                          v                   v
 *       +----------------------------->  IDLE               CLOSING
 *       |  answer complete                 | command
 *       |                                  v
 *       +--------------------------------- COMMAND <--> HOOK_WAIT
 *
 *   any state --sess_close()--> DEAD (parked; freed by a zero timer)
 *
 * Backend down or unreachable: the client gets ERR 1105 (SQLSTATE 08S01,
 * "ddlgate: backend HOST:PORT unreachable: why") as its first packet. Not
 * 2003: libmariadb rejects client-range codes coming from a server.
 */
#include "proxy/session.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "proxy/compress.h"
#include "proxy/hook.h"
#include "rules/lex.h"
#include "proxy/metrics.h"
#include "proxy/pkt.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

#define SESS_HIGH_WM (256u * 1024) /* stop reading the other leg above this */
#define SESS_READ_CHUNK 16384u
#define SESS_READ_MAX (256u * 1024) /* per readable event, plain sockets */
#define SESS_HELLO_MAX 8192u	    /* handshake response cap before authentication */
#define SESS_AUTH_MAX 65536u	    /* auth exchange packets */
#define SESS_ROW1_MAX 64u	    /* first values kept for the hook (GET_LOCK returns 0/1/NULL) */
#define SESS_CLOSE_FLUSH_MS 2000
/* ER_UNKNOWN_ERROR: the code for failures on ddlgate's side of a
 * connection. Client libraries reject server-sent codes in the client range
 * (2000-2061: CR_CONN_HOST_ERROR and friends) as malformed, so those are out. */
#define SESS_ERR_PROXY 1105

enum sess_state {
	S_CONNECT,
	S_GREETING,
	S_HELLO,
	S_CLIENT_TLS,
	S_BACKEND_TLS,
	S_AUTH,
	S_IDLE,
	S_COMMAND,
	S_HOOK_WAIT,
	S_CLOSING,
	S_DEAD,
};

static const char *const state_names[] = {
    "connect", "greeting", "hello",	"client-tls", "backend-tls", "auth",
    "idle",    "command",  "hook-wait", "closing",    "dead",
};

/* One socket and its buffers. */
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

struct sess {
	struct sess *prev, *next; /* the worker's list; borrowed */
	struct worker *w;	  /* borrowed */
	struct worker_conf *conf; /* owned reference */
	enum sess_state state;
	struct leg c;	    /* client leg */
	struct leg b;	    /* backend leg */
	struct event timer; /* connect / handshake deadline, then the deferred free */
	uint64_t started_ms;
	uint64_t last_active_ms;

	struct hook_sess hs;
	bool hook_begun; /* hook_session_begin() was called */

	/* Handshake. */
	uint32_t srv_caps, srv_ext; /* the server's greeting */
	uint32_t caps;		    /* negotiated (what both client and server use) */
	uint8_t *hello;		    /* owned: the client's handshake response, until sent */
	size_t hello_len;	    /* payload length */
	int seq_delta;		    /* backend seq - client seq during AUTH */
	bool compress;		    /* the client negotiated CLIENT_COMPRESS */

	/* Command phase, client side. */
	uint8_t cmd;	   /* command in flight */
	uint8_t c_seq;	   /* last client sequence id */
	uint64_t c_left;   /* bytes of the current client packet still to forward */
	bool c_cont;	   /* a continuation packet follows the current one */
	uint64_t c_total;  /* payload bytes of the current client command */
	bool fetching;	   /* FETCH: waiting for the whole command in c.in */
	size_t fetch_wire; /* HOOK_WAIT: wire bytes of the whole command */
	uint64_t cmd_start_us;
	bool in_hook;	     /* inside hook_command() */
	bool resume_pending; /* sess_hook_resume() came during hook_command() */
	enum hook_verdict resume_verdict;
	struct hook_reply *resume_reply; /* owned while resume_pending */
	bool hook_results;		 /* call hook_result() for this command's answers */
	char *pending;			 /* owned: schema (INIT_DB) / user+schema (CHANGE_USER) */
	uint16_t pending_opt;		 /* SET_OPTION argument */

	/* Command phase, server side. */
	struct pkt_resp resp;
	uint64_t b_left; /* bytes of the current server packet still to forward */
	size_t held;	 /* wire bytes of a terminal packet held for the hook */
	bool held_done;	 /* the held packet ends the answer */
	bool row1_set, row1_null;
	uint8_t row1_len;
	uint8_t row1[SESS_ROW1_MAX];
	const char *close_reason;     /* set when CLOSING */
	enum sess_state closing_from; /* the state before CLOSING */
};

static bool client_process(struct sess *s);
static bool backend_process(struct sess *s);
static void sess_close(struct sess *s, const char *reason);
static bool sess_flush(struct sess *s);

/* ---- small helpers ------------------------------------------------------- */

static uint64_t now_ms(void)
{
	return worker_now_us() / 1000;
}

static void sess_set_state(struct sess *s, enum sess_state st)
{
	s->state = st;
}

static bool dead(const struct sess *s)
{
	return s->state == S_DEAD;
}

const struct cfg *sess_cfg(const struct sess *s)
{
	return s->conf->cfg;
}

uint64_t sess_conn_id(const struct sess *s)
{
	return s->hs.conn_id;
}

struct hook_sess *sess_hook_sess(struct sess *s)
{
	return &s->hs;
}

static void leg_want_read(struct leg *l, bool on)
{
	if (l->fd < 0 || on == l->rev_on)
		return;
	if (on)
		event_add(&l->rev, NULL);
	else
		event_del(&l->rev);
	l->rev_on = on;
}

static void leg_want_write(struct leg *l, bool on)
{
	if (l->fd < 0 || on == l->wev_on)
		return;
	if (on)
		event_add(&l->wev, NULL);
	else
		event_del(&l->wev);
	l->wev_on = on;
}

static size_t leg_pending_out(const struct leg *l)
{
	return evbuffer_get_length(l->out) + (l->zout ? evbuffer_get_length(l->zout) : 0);
}

static void leg_cleanup(struct leg *l)
{
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

/* Appends a whole ERR packet for the client leg. */
static void send_err(struct sess *s, uint8_t seq, uint16_t code, const char *sqlstate,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void send_err(struct sess *s, uint8_t seq, uint16_t code, const char *sqlstate,
		     const char *fmt, ...)
{
	char msg[512];
	uint8_t pkt[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t n = pkt_build_err(pkt, sizeof(pkt), seq, code, sqlstate, msg);
	evbuffer_add(s->c.out, pkt, n);
}

/* ---- leg I/O -------------------------------------------------------------- */

enum io_st { IO_OK, IO_ERR };

/*
 * Reads what the socket has (at most limit bytes when limit > 0) into the
 * leg's input, through TLS and zlib when they are on. Sets l->eof when the
 * peer closed. Returns IO_ERR when the leg is broken; *got counts wire
 * bytes.
 */
static enum io_st leg_read(struct leg *l, size_t limit, size_t *got)
{
	struct evbuffer *dst = l->zin ? l->zin : l->in;
	size_t total = 0;
	*got = 0;
	l->read_wants_write = false;
	for (;;) {
		size_t want = SESS_READ_CHUNK;
		if (limit) {
			if (total >= limit)
				break;
			if (limit - total < want)
				want = limit - total;
		} else if (!l->ssl && total >= SESS_READ_MAX) {
			break;
		}
		struct evbuffer_iovec v[2];
		int nv = evbuffer_reserve_space(dst, want, v, 2);
		if (nv <= 0)
			return IO_ERR;
		if (limit) { /* never read past limit: the rest belongs to TLS */
			size_t room = 0;
			for (int i = 0; i < nv; i++) {
				if (room + v[i].iov_len > want)
					v[i].iov_len = want - room;
				room += v[i].iov_len;
			}
		}
		size_t n;
		if (l->ssl) {
			enum tls_io t = tls_read(l->ssl, v[0].iov_base, v[0].iov_len, &n);
			if (t == TLS_IO_WANT_READ)
				break;
			if (t == TLS_IO_WANT_WRITE) {
				l->read_wants_write = true;
				break;
			}
			if (t == TLS_IO_EOF) {
				l->eof = true;
				break;
			}
			if (t != TLS_IO_OK) {
				if (total == 0)
					return IO_ERR;
				l->eof = true; /* process what came first (an ERR, say) */
				break;
			}
			v[0].iov_len = n;
			nv = 1;
		} else {
			ssize_t r = readv(l->fd, v, nv);
			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				if (errno == EINTR)
					continue;
				if (total == 0)
					return IO_ERR;
				l->eof = true;
				break;
			}
			if (r == 0) {
				l->eof = true;
				break;
			}
			n = (size_t)r;
			size_t rest = n;
			for (int i = 0; i < nv; i++) {
				if (v[i].iov_len > rest)
					v[i].iov_len = rest;
				rest -= v[i].iov_len;
			}
		}
		if (evbuffer_commit_space(dst, v, nv) != 0)
			return IO_ERR;
		total += n;
		if (!l->ssl && n < want)
			break; /* the socket is drained: skip the EAGAIN read */
	}
	*got = total;
	if (l->zin && total > 0) {
		uint8_t seq = l->zseq;
		if (!zc_inflate(l->zin, l->in, &seq))
			return IO_ERR;
		l->zseq = (uint8_t)(seq + 1);
	}
	return IO_OK;
}

/*
 * Writes as much of the leg's output as the socket takes, compressing
 * first when zlib is on; arms the write event for the rest. Returns IO_ERR
 * when the leg is broken; *put counts plain bytes handed on.
 */
static enum io_st leg_flush(struct leg *l, size_t *put)
{
	struct evbuffer *src = l->out;
	*put = 0;
	if (l->fd < 0)
		return IO_ERR;
	if (l->zout) {
		size_t n = evbuffer_get_length(l->out);
		if (n && !zc_deflate(l->out, l->zout, &l->zseq))
			return IO_ERR;
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
			return IO_ERR;
		}
		int n = evbuffer_write(src, l->fd);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return IO_ERR;
		}
		if (!l->zout)
			*put += (size_t)n;
		if (evbuffer_get_length(src) > 0)
			break; /* the socket is full */
	}
	(void)want_read; /* reading stays on in every state where TLS writes happen */
	leg_want_write(l, evbuffer_get_length(src) > 0);
	return IO_OK;
}

/* ---- flow control ---------------------------------------------------------- */

/*
 * Recomputes which events each leg waits for. A leg reads while the data
 * it feeds has somewhere to go: the other leg's output is below the high
 * watermark and its own input is not piling up unprocessed.
 */
static void sess_interest(struct sess *s)
{
	if (dead(s))
		return;
	bool c_read, b_read;
	size_t c_in = evbuffer_get_length(s->c.in), b_in = evbuffer_get_length(s->b.in);
	switch (s->state) {
	case S_CONNECT:
		c_read = false;
		b_read = false;
		break;
	case S_CLOSING:
		c_read = false;
		b_read = false;
		break;
	case S_CLIENT_TLS:
	case S_BACKEND_TLS:
		return; /* the handshake step sets events itself */
	default: {
		/* Hysteresis: a paused leg resumes below a quarter of the mark. */
		size_t b_out = leg_pending_out(&s->b), c_out = leg_pending_out(&s->c);
		size_t c_mark = s->c.rev_on ? SESS_HIGH_WM : SESS_HIGH_WM / 4;
		size_t b_mark = s->b.rev_on ? SESS_HIGH_WM : SESS_HIGH_WM / 4;
		/* A command being fetched may need up to max_packet in c.in
		 * (checked while scanning it). */
		c_read = b_out < c_mark && (s->fetching || c_in < SESS_HIGH_WM) && !s->c.eof;
		/* b.in only grows while a packet is fetched whole (< 16 MiB). */
		b_read = c_out < b_mark && !s->held && !s->b.eof && b_in < (17u << 20);
		break;
	}
	}
	leg_want_read(&s->c, c_read || s->c.read_wants_write);
	leg_want_read(&s->b, b_read || s->b.read_wants_write);
	if (s->c.read_wants_write)
		leg_want_write(&s->c, true);
	if (s->b.read_wants_write)
		leg_want_write(&s->b, true);
}

/* Writes both legs' output; false when the session closed. */
static bool sess_flush(struct sess *s)
{
	size_t put;
	if (leg_pending_out(&s->b) > 0 && s->b.fd >= 0) {
		if (leg_flush(&s->b, &put) != IO_OK) {
			metrics_backend_error();
			sess_close(s, "backend write failed");
			return false;
		}
	}
	if (leg_pending_out(&s->c) > 0) {
		if (leg_flush(&s->c, &put) != IO_OK) {
			sess_close(s, "client write failed");
			return false;
		}
		if (put)
			metrics_bytes(0, put);
	}
	if (s->state == S_CLOSING && leg_pending_out(&s->c) == 0) {
		sess_close(s, s->close_reason);
		return false;
	}
	return true;
}

/* Sends what is queued for the client, then closes (an ERR's last word). */
static void sess_close_after_flush(struct sess *s, const char *reason)
{
	if (dead(s))
		return;
	s->close_reason = reason;
	s->closing_from = s->state;
	sess_set_state(s, S_CLOSING);
	if (s->b.fd >= 0) { /* the backend leg has nothing more to say */
		event_del(&s->b.rev);
		event_del(&s->b.wev);
		s->b.rev_on = s->b.wev_on = false;
	}
	struct timeval tv = {SESS_CLOSE_FLUSH_MS / 1000, (SESS_CLOSE_FLUSH_MS % 1000) * 1000};
	evtimer_add(&s->timer, &tv);
	if (sess_flush(s))
		sess_interest(s);
}

/* ---- life cycle -------------------------------------------------------------- */

static void sess_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	struct worker *w = s->w;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->parked = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s->hello);
	free(s->pending);
	free(s->resume_reply);
	worker_conf_release(s->conf);
	free(s);
}

/* Says goodbye to an idle server (COM_QUIT) so it counts a clean close,
 * not an aborted connection. Best effort: never waits. */
static void backend_quit(struct sess *s)
{
	static const uint8_t quit[] = {1, 0, 0, 0, COM_QUIT};
	if (s->b.fd < 0 || leg_pending_out(&s->b) > 0)
		return;
	size_t n;
	if (s->b.ssl) {
		(void)tls_write(s->b.ssl, quit, sizeof(quit), &n);
	} else {
		ssize_t w = send(s->b.fd, quit, sizeof(quit), MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)w;
	}
}

/*
 * The single exit of a session: logs reason, tells the hook, closes both
 * sockets and parks the session; the memory is freed from a zero timer so
 * no caller up the stack touches freed memory.
 */
static void sess_close(struct sess *s, const char *reason)
{
	if (dead(s))
		return;
	enum sess_state was = s->state;
	sess_set_state(s, S_DEAD);
	if (s->hook_begun) {
		enum sess_state then = was == S_CLOSING ? s->closing_from : was;
		if (then == S_COMMAND && s->hook_results) {
			struct hook_result r = {.index = s->resp.index, .aborted = true};
			(void)hook_result(s, &s->hs, &r);
		}
		hook_session_end(s, &s->hs);
		s->hook_begun = false;
	}
	if (was == S_IDLE)
		backend_quit(s);
	worker_log(s->hs.conn_id, "closed client=%s user=%s state=%s: %s", s->hs.client,
		   s->hs.user[0] ? s->hs.user : "-", state_names[was], reason);
	leg_cleanup(&s->c);
	leg_cleanup(&s->b);
	worker_registry_del(s);
	struct worker *w = s->w;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsess--;
	/* Parked: freed by the zero timer, or by sess_reap_all() if the loop
	 * ends first. */
	s->prev = NULL;
	s->next = w->parked;
	if (w->parked)
		w->parked->prev = s;
	w->parked = s;
	atomic_fetch_sub(&worker_nconns, 1);
	metrics_conn_closed();
	event_del(&s->timer);
	evtimer_assign(&s->timer, w->base, sess_free_cb, s);
	struct timeval zero = {0, 0};
	evtimer_add(&s->timer, &zero);
}

/* The backend could not be reached: tell the client in its first packet. */
static void backend_unreachable(struct sess *s, const char *why)
{
	metrics_backend_error();
	worker_log(s->hs.conn_id, "backend %s unreachable: %s", s->conf->backend_name, why);
	send_err(s, 0, SESS_ERR_PROXY, "08S01", "ddlgate: backend %s unreachable: %s",
		 s->conf->backend_name, why);
	sess_close_after_flush(s, "backend unreachable");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	switch (s->state) {
	case S_CONNECT:
		backend_unreachable(s, "connect timeout");
		break;
	case S_CLOSING:
		sess_close(s, s->close_reason);
		break;
	case S_GREETING:
	case S_HELLO:
	case S_CLIENT_TLS:
	case S_BACKEND_TLS:
	case S_AUTH:
		sess_close(s, "handshake timeout");
		break;
	default:
		break;
	}
}

/* ---- handshake ----------------------------------------------------------------- */

static void start_timer_ms(struct sess *s, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(&s->timer, &tv);
}

/* Moves a packet from one buffer to another with its sequence id changed. */
static bool move_packet_seq(struct evbuffer *from, struct evbuffer *to, size_t len, int delta)
{
	uint8_t h[PKT_HDR];
	if (evbuffer_remove(from, h, PKT_HDR) != PKT_HDR)
		return false;
	h[3] = (uint8_t)(h[3] + delta);
	return evbuffer_add(to, h, PKT_HDR) == 0 &&
	       evbuffer_remove_buffer(from, to, len) == (int)len;
}

enum peek { PEEK_WAIT, PEEK_READY, PEEK_TOO_LARGE };

/* Peeks a packet of the handshake or auth phase at the front of buf. Its
 * header is judged as soon as it is there: a payload announced larger than
 * max is PEEK_TOO_LARGE before any of it is buffered (input before
 * authentication stays bounded). PEEK_READY when the whole packet is there,
 * with its payload length in *len and sequence id in *seq. */
static enum peek peek_packet(struct evbuffer *buf, uint32_t max, uint32_t *len, uint8_t *seq)
{
	uint8_t h[PKT_HDR];
	if (evbuffer_copyout(buf, h, PKT_HDR) != PKT_HDR)
		return PEEK_WAIT;
	*len = pkt_hdr_len(h);
	*seq = pkt_hdr_seq(h);
	if (*len > max)
		return PEEK_TOO_LARGE;
	return evbuffer_get_length(buf) >= PKT_HDR + (size_t)*len ? PEEK_READY : PEEK_WAIT;
}

/* The server's greeting: mask what ddlgate does not implement and pass it on. */
static bool on_greeting(struct sess *s)
{
	uint32_t len;
	uint8_t seq;
	switch (peek_packet(s->b.in, SESS_AUTH_MAX, &len, &seq)) {
	case PEEK_WAIT:
		return true;
	case PEEK_TOO_LARGE:
		backend_unreachable(s, "greeting too large");
		return false;
	case PEEK_READY:
		break;
	}
	uint8_t *p = evbuffer_pullup(s->b.in, PKT_HDR + len) + PKT_HDR;
	if (len > 0 && p[0] == 0xFF) {
		/* "Too many connections", "Host blocked": the client should see it. */
		evbuffer_remove_buffer(s->b.in, s->c.out, PKT_HDR + len);
		metrics_backend_error();
		sess_close_after_flush(s, "backend refused the connection");
		return false;
	}
	struct pkt_greeting g;
	if (!pkt_greeting_parse(p, len, &g) || !(g.caps & CLIENT_PROTOCOL_41)) {
		backend_unreachable(s, "unsupported greeting");
		return false;
	}
	const struct cfg *cfg = s->conf->cfg;
	s->srv_caps = g.caps;
	s->srv_ext = g.mariadb_ext ? g.ext_caps : 0;
	s->hs.server_thread = g.thread_id;
	char version[64];
	size_t vn = g.version_len < sizeof(version) - 1 ? g.version_len : sizeof(version) - 1;
	memcpy(version, g.version, vn);
	version[vn] = '\0';
	s->hs.lex_server = lex_server_mode(version);
	uint32_t caps = g.caps & ~(CLIENT_ZSTD_COMPRESSION_ALGORITHM |
				   CLIENT_OPTIONAL_RESULTSET_METADATA | CLIENT_SSL);
	if (!cfg->proxy.allow_local_infile)
		caps &= ~CLIENT_LOCAL_FILES;
	caps |= CLIENT_COMPRESS; /* implemented on the client leg, whatever the server does */
	if (s->conf->server_ctx)
		caps |= CLIENT_SSL;
	pkt_greeting_set_caps(p, &g, caps, s->srv_ext & PKT_MARIADB_EXT_SUPPORTED);
	evbuffer_remove_buffer(s->b.in, s->c.out, PKT_HDR + len);
	sess_set_state(s, S_HELLO);
	return true;
}

/* Sends the client's handshake response to the server, capabilities fixed. */
static void send_hello(struct sess *s)
{
	uint8_t h[PKT_HDR];
	pkt_hdr_put(h, (uint32_t)s->hello_len, s->b.ssl ? 2 : 1);
	evbuffer_add(s->b.out, h, PKT_HDR);
	evbuffer_add(s->b.out, s->hello, s->hello_len);
	free(s->hello);
	s->hello = NULL;
	sess_set_state(s, S_AUTH);
}

/* Drives a TLS handshake on leg l; returns false when the session closed. */
static bool tls_step(struct sess *s, struct leg *l)
{
	enum tls_io t = tls_handshake(l->ssl);
	switch (t) {
	case TLS_IO_OK:
		leg_want_write(l, false);
		leg_want_read(l, true);
		if (l == &s->c) {
			/* The HandshakeResponse may already sit decrypted in OpenSSL's
			 * buffer: read now, no socket event would announce it. */
			size_t got;
			s->hs.tls = true;
			sess_set_state(s, S_HELLO);
			if (leg_read(&s->c, 0, &got) != IO_OK) {
				sess_close(s, "client read failed");
				return false;
			}
			return client_process(s);
		}
		send_hello(s);
		return sess_flush(s);
	case TLS_IO_WANT_READ:
		leg_want_write(l, false);
		leg_want_read(l, true);
		return true;
	case TLS_IO_WANT_WRITE:
		leg_want_read(l, false);
		leg_want_write(l, true);
		return true;
	default:
		if (l == &s->b) {
			metrics_backend_error();
			worker_log(s->hs.conn_id, "backend TLS failed: %s", tls_last_error());
			send_err(s, 2, SESS_ERR_PROXY, "08S01", "ddlgate: TLS to backend %s failed",
				 s->conf->backend_name);
			sess_close_after_flush(s, "backend TLS failed");
		} else {
			worker_log(s->hs.conn_id, "client TLS failed: %s", tls_last_error());
			sess_close(s, "client TLS handshake failed");
		}
		return false;
	}
}

static void copy_str(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = 0;
}

/*
 * The client's SSLRequest or HandshakeResponse. Decides both legs'
 * capabilities and TLS, then forwards the response (after backend TLS if
 * that is wanted). Returns false when the session closed.
 */
static bool on_hello(struct sess *s)
{
	uint32_t len;
	uint8_t seq;
	switch (peek_packet(s->c.in, SESS_HELLO_MAX, &len, &seq)) {
	case PEEK_WAIT:
		return true;
	case PEEK_TOO_LARGE:
		sess_close(s, "handshake response too large");
		return false;
	case PEEK_READY:
		break;
	}
	uint8_t *p = evbuffer_pullup(s->c.in, PKT_HDR + len) + PKT_HDR;
	struct pkt_hsresp h;
	if (seq != (s->c.ssl ? 2 : 1) || !pkt_hsresp_parse(p, len, &h)) {
		sess_close(s, "bad handshake response");
		return false;
	}
	const struct cfg *cfg = s->conf->cfg;
	if (h.ssl_request) {
		if (s->c.ssl || !s->conf->server_ctx) {
			sess_close(s, "unexpected SSLRequest");
			return false;
		}
		evbuffer_drain(s->c.in, PKT_HDR + len);
		s->c.ssl = tls_new_accept(s->conf->server_ctx, s->c.fd);
		if (!s->c.ssl) {
			sess_close(s, "out of memory");
			return false;
		}
		sess_set_state(s, S_CLIENT_TLS);
		return tls_step(s, &s->c);
	}
	if (!s->c.ssl && cfg->tls.client == CFG_TLS_CLIENT_REQUIRED) {
		send_err(s, (uint8_t)(seq + 1), 3159, "HY000",
			 "ddlgate: connections without TLS are refused ([tls] client = required)");
		sess_close_after_flush(s, "client without TLS");
		return false;
	}
	copy_str(s->hs.user, sizeof(s->hs.user), h.user, h.user_len);
	if (h.schema)
		copy_str(s->hs.schema, sizeof(s->hs.schema), h.schema, h.schema_len);
	s->caps = h.caps & s->srv_caps;
	s->hs.capabilities = s->caps;
	s->hs.multi_statements = (s->caps & CLIENT_MULTI_STATEMENTS) != 0;
	s->compress = (h.caps & CLIENT_COMPRESS) != 0;
	s->hs.compressed = s->compress;

	/* Backend leg TLS: preferred uses it when offered; verify-* insist. */
	bool srv_tls = (s->srv_caps & CLIENT_SSL) != 0;
	bool b_tls = s->conf->client_ctx && srv_tls;
	if (cfg->tls.backend >= CFG_TLS_BACKEND_VERIFY_CA && !srv_tls) {
		send_err(s, (uint8_t)(seq + 1), SESS_ERR_PROXY, "08S01",
			 "ddlgate: backend %s does not offer TLS but [tls] backend requires it",
			 s->conf->backend_name);
		sess_close_after_flush(s, "backend without TLS");
		return false;
	}
	if (s->c.ssl && !b_tls && !s->conf->backend_local && !cfg->proxy.allow_plaintext_backend) {
		send_err(s, (uint8_t)(seq + 1), SESS_ERR_PROXY, "08S01",
			 "ddlgate: refusing to relay a TLS client over a plaintext backend "
			 "connection (set [tls] backend or allow_plaintext_backend)");
		sess_close_after_flush(s, "TLS downgrade refused");
		return false;
	}
	uint32_t bcaps =
	    h.caps & ~(CLIENT_COMPRESS | CLIENT_SSL | CLIENT_ZSTD_COMPRESSION_ALGORITHM |
		       CLIENT_OPTIONAL_RESULTSET_METADATA);
	if (!cfg->proxy.allow_local_infile)
		bcaps &= ~CLIENT_LOCAL_FILES;
	if (b_tls)
		bcaps |= CLIENT_SSL;
	uint32_t bext = h.ext_caps & PKT_MARIADB_EXT_SUPPORTED;
	pkt_hsresp_set_caps(p, len, bcaps, bext);
	s->hello = malloc(len);
	if (!s->hello) {
		sess_close(s, "out of memory");
		return false;
	}
	memcpy(s->hello, p, len);
	s->hello_len = len;
	evbuffer_drain(s->c.in, PKT_HDR + len);
	s->seq_delta = (b_tls ? 2 : 1) - (int)seq;
	if (!b_tls) {
		send_hello(s);
		return true;
	}
	/* SSLRequest: the first 32 bytes of the response, same flags. */
	uint8_t req[PKT_HDR + 32];
	pkt_hdr_put(req, 32, 1);
	memcpy(req + PKT_HDR, s->hello, 32);
	evbuffer_add(s->b.out, req, sizeof(req));
	if (!sess_flush(s))
		return false;
	s->b.ssl = tls_new_connect(s->conf->client_ctx, s->b.fd, cfg,
				   cfg->proxy.backend_socket ? NULL : cfg->proxy.backend.host);
	if (!s->b.ssl) {
		sess_close(s, "out of memory");
		return false;
	}
	sess_set_state(s, S_BACKEND_TLS);
	return tls_step(s, &s->b);
}

/* Authentication succeeded: the command phase begins. */
static void auth_done(struct sess *s)
{
	sess_set_state(s, S_IDLE);
	event_del(&s->timer);
	if (s->compress) {
		/* Everything queued so far (the OK) goes out uncompressed. */
		s->c.zin = evbuffer_new();
		s->c.zout = evbuffer_new();
		evbuffer_add_buffer(s->c.zout, s->c.out);
		evbuffer_add_buffer(s->c.zin, s->c.in);
		s->c.zseq = 0;
	}
	worker_log(s->hs.conn_id, "authenticated client=%s user=%s schema=%s tls=%s/%s compress=%s",
		   s->hs.client, s->hs.user, s->hs.schema[0] ? s->hs.schema : "-",
		   s->c.ssl ? "yes" : "no", s->b.ssl ? "yes" : "no", s->compress ? "yes" : "no");
	hook_session_begin(s, &s->hs);
	s->hook_begun = true;
}

/* Relays one direction of the auth exchange; returns false when closed. */
static bool auth_relay(struct sess *s, bool from_client)
{
	struct leg *src = from_client ? &s->c : &s->b, *dst = from_client ? &s->b : &s->c;
	uint32_t len;
	uint8_t seq;
	enum peek pk;
	while (s->state == S_AUTH &&
	       (pk = peek_packet(src->in, SESS_AUTH_MAX, &len, &seq)) != PEEK_WAIT) {
		if (pk == PEEK_TOO_LARGE) {
			sess_close(s, "auth packet too large");
			return false;
		}
		uint8_t first = 0;
		if (len > 0) {
			uint8_t hb[PKT_HDR + 1];
			evbuffer_copyout(src->in, hb, sizeof(hb));
			first = hb[PKT_HDR];
		}
		int delta = from_client ? s->seq_delta : -s->seq_delta;
		if (!move_packet_seq(src->in, dst->out, len, delta)) {
			sess_close(s, "out of memory");
			return false;
		}
		if (!from_client && len > 0 && first == 0x00) {
			auth_done(s);
			return true;
		}
		if (!from_client && len > 0 && first == 0xFF) {
			sess_close_after_flush(s, "authentication failed");
			return false;
		}
	}
	return true;
}

/* ---- command phase: client side ---------------------------------------------- */

/* Starts following the server's answer to the command just forwarded. */
static void command_sent(struct sess *s)
{
	enum pkt_resp_kind kind = pkt_cmd_resp_kind(s->cmd);
	s->resp.want_row1 = s->hook_results && s->hs.want_first_value;
	s->resp.binary = s->cmd == COM_STMT_EXECUTE;
	pkt_resp_start(&s->resp, kind, s->caps);
	s->row1_set = false;
	s->b_left = 0;
	if (kind == PKT_RESP_NONE) {
		metrics_command(s->cmd, 0);
		return; /* no answer: still idle */
	}
	sess_set_state(s, S_COMMAND);
}

/* Answers the current command with an ERR without bothering the server. */
static void reply_err(struct sess *s, const struct hook_reply *r)
{
	send_err(s, (uint8_t)(s->c_seq + 1), r->code, r->sqlstate[0] ? r->sqlstate : "HY000", "%s",
		 r->message);
	metrics_command(s->cmd, worker_now_us() - s->cmd_start_us);
}

/* Applies a hook verdict to the fetched command (fetch_wire bytes at the
 * front of c.in). */
static void apply_verdict(struct sess *s, enum hook_verdict v, const struct hook_reply *reply)
{
	size_t wire = s->fetch_wire;
	s->fetch_wire = 0;
	if (v == HOOK_REJECT) {
		evbuffer_drain(s->c.in, wire);
		sess_set_state(s, S_IDLE);
		reply_err(s, reply);
		return;
	}
	evbuffer_remove_buffer(s->c.in, s->b.out, wire);
	sess_set_state(s, S_IDLE);
	command_sent(s);
}

static bool is_replication(uint8_t cmd)
{
	return cmd == COM_BINLOG_DUMP || cmd == COM_BINLOG_DUMP_GTID || cmd == COM_REGISTER_SLAVE ||
	       cmd == COM_TABLE_DUMP;
}

/* Commands fetched whole before a byte goes to the server. Executes and
 * closes only while the hook watches them; otherwise they stream. */
static bool is_fetched(const struct sess *s, uint8_t cmd)
{
	if (cmd == COM_STMT_EXECUTE || cmd == COM_STMT_CLOSE)
		return s->hs.watch_executes;
	return cmd == COM_QUERY || cmd == COM_STMT_PREPARE || cmd == COM_INIT_DB ||
	       cmd == COM_CHANGE_USER || cmd == COM_SET_OPTION || is_replication(cmd);
}

/* The statement id of a COM_STMT_EXECUTE / COM_STMT_CLOSE payload; 0 if
 * the payload is too short to hold one. */
static uint32_t payload_stmt_id(const uint8_t *payload, size_t plen)
{
	if (plen < 5)
		return 0;
	return (uint32_t)payload[1] | (uint32_t)payload[2] << 8 | (uint32_t)payload[3] << 16 |
	       (uint32_t)payload[4] << 24;
}

/*
 * A whole fetched command is at the front of c.in (fetch_wire bytes).
 * Remembers what its success will change and asks the hook. Returns false
 * when the session closed.
 */
static bool fetched_command(struct sess *s, unsigned parts)
{
	size_t wire = s->fetch_wire;
	uint8_t *copy = NULL;
	const uint8_t *payload;
	size_t plen;
	if (parts == 1) {
		payload = evbuffer_pullup(s->c.in, wire) + PKT_HDR;
		plen = wire - PKT_HDR;
	} else {
		/* Reassemble the 16 MiB parts: the only copy, for giant statements. */
		copy = malloc(s->c_total ? s->c_total : 1);
		if (!copy) {
			sess_close(s, "out of memory");
			return false;
		}
		struct evbuffer_ptr pos;
		evbuffer_ptr_set(s->c.in, &pos, 0, EVBUFFER_PTR_SET);
		size_t n = 0;
		for (unsigned i = 0; i < parts; i++) {
			uint8_t h[PKT_HDR];
			evbuffer_copyout_from(s->c.in, &pos, h, PKT_HDR);
			evbuffer_ptr_set(s->c.in, &pos, PKT_HDR, EVBUFFER_PTR_ADD);
			uint32_t l = pkt_hdr_len(h);
			evbuffer_copyout_from(s->c.in, &pos, copy + n, l);
			evbuffer_ptr_set(s->c.in, &pos, l, EVBUFFER_PTR_ADD);
			n += l;
		}
		payload = copy;
		plen = n;
	}
	uint8_t cmd = payload[0];
	free(s->pending);
	s->pending = NULL;
	if (cmd == COM_INIT_DB) {
		s->pending = strndup((const char *)payload + 1, plen - 1);
	} else if (cmd == COM_SET_OPTION && plen >= 3) {
		s->pending_opt = (uint16_t)(payload[1] | payload[2] << 8);
	} else if (cmd == COM_CHANGE_USER) {
		const uint8_t *u, *sc;
		size_t ul, scl;
		if (pkt_change_user_parse(payload, plen, s->caps, &u, &ul, &sc, &scl)) {
			s->pending = malloc(ul + scl + 2);
			if (s->pending) {
				memcpy(s->pending, u, ul);
				s->pending[ul] = 0;
				if (sc)
					memcpy(s->pending + ul + 1, sc, scl);
				s->pending[ul + 1 + scl] = 0;
			}
		}
	}
	struct hook_reply reply;
	enum hook_verdict v = HOOK_FORWARD;
	if (is_replication(cmd) && !s->conf->cfg->proxy.allow_replication) {
		v = HOOK_REJECT;
		reply.code = 1290;
		strcpy(reply.sqlstate, "HY000");
		snprintf(reply.message, sizeof(reply.message),
			 "ddlgate: replication commands are refused ([proxy] allow_replication = "
			 "false)");
	} else if (cmd == COM_QUERY || cmd == COM_STMT_PREPARE || cmd == COM_INIT_DB ||
		   is_replication(cmd)) {
		memset(&reply, 0, sizeof(reply));
		s->in_hook = true;
		v = hook_command(s, &s->hs, payload, plen, &reply);
		s->in_hook = false;
		if (v == HOOK_WAIT && s->resume_pending) {
			/* The hook decided before returning. */
			s->resume_pending = false;
			v = s->resume_verdict;
			if (s->resume_reply)
				reply = *s->resume_reply;
			free(s->resume_reply);
			s->resume_reply = NULL;
		}
	} else if (cmd == COM_STMT_CLOSE) {
		hook_stmt_close(s, &s->hs, payload_stmt_id(payload, plen));
	} else if (cmd == COM_STMT_EXECUTE) {
		memset(&reply, 0, sizeof(reply));
		s->in_hook = true;
		v = hook_stmt_execute(s, &s->hs, payload_stmt_id(payload, plen), &reply);
		s->in_hook = false;
		if (v == HOOK_WAIT && s->resume_pending) {
			/* The hook decided before returning. */
			s->resume_pending = false;
			v = s->resume_verdict;
			if (s->resume_reply)
				reply = *s->resume_reply;
			free(s->resume_reply);
			s->resume_reply = NULL;
		}
	}
	free(copy);
	if (dead(s))
		return false;
	if (v == HOOK_WAIT) {
		sess_set_state(s, S_HOOK_WAIT);
		return true;
	}
	apply_verdict(s, v, &reply);
	return true;
}

/*
 * Compressed sessions: clients number the packets inside compressed frames
 * loosely (the frame's own sequence id is what they check), while the
 * uncompressed backend leg insists on exact ids. Rewrites the id of the
 * header at offset pos of buf to want; returns want.
 */
static uint8_t fix_seq(struct evbuffer *buf, size_t pos, uint8_t want)
{
	struct evbuffer_ptr p;
	struct evbuffer_iovec v;
	if (evbuffer_ptr_set(buf, &p, pos + 3, EVBUFFER_PTR_SET) == 0 &&
	    evbuffer_peek(buf, 1, &p, &v, 1) >= 1 && v.iov_len > 0)
		((uint8_t *)v.iov_base)[0] = want;
	return want;
}

/* The client's packet broke the protocol: one connection dies, no more. */
static bool client_garbage(struct sess *s, const char *why)
{
	sess_close(s, why);
	return false;
}

/* max_packet exceeded: a clear ERR, then close. */
static bool too_large(struct sess *s)
{
	send_err(s, (uint8_t)(s->c_seq + 1), 1153, "08S01",
		 "Got a packet bigger than 'max_packet' (%llu bytes) [ddlgate]",
		 (unsigned long long)s->conf->cfg->proxy.max_packet);
	sess_close_after_flush(s, "packet bigger than max_packet");
	return false;
}

/*
 * Works through the client's input: streams the rest of a packet being
 * sent, fetches and judges commands that carry SQL, starts the others.
 * Stops while an answer is pending (pipelined commands wait in c.in).
 * Returns false when the session closed.
 */
static bool client_process(struct sess *s)
{
	struct evbuffer *in = s->c.in;
	uint64_t max = s->conf->cfg->proxy.max_packet;
	for (;;) {
		switch (s->state) {
		case S_HELLO:
			if (!on_hello(s))
				return false;
			if (s->state == S_AUTH)
				continue;
			return true;
		case S_AUTH:
			return auth_relay(s, true);
		case S_IDLE:
		case S_COMMAND:
			break;
		default:
			return true;
		}
		size_t have = evbuffer_get_length(in);
		if (s->c_left > 0) { /* stream the rest of a packet */
			if (have == 0)
				return true;
			size_t n = have < s->c_left ? have : (size_t)s->c_left;
			evbuffer_remove_buffer(in, s->b.out, n);
			s->c_left -= n;
			continue;
		}
		/* Client packets inside an answer: LOCAL INFILE data, or the auth
		 * exchange of COM_CHANGE_USER (auth switch, more data). */
		bool infile = s->state == S_COMMAND && s->resp.state == PKT_RS_INFILE;
		bool authx = s->state == S_COMMAND && s->resp.kind == PKT_RESP_AUTH &&
			     !pkt_resp_done(&s->resp);
		if (s->c_cont || infile || authx) {
			uint8_t h[PKT_HDR];
			if (evbuffer_copyout(in, h, PKT_HDR) != PKT_HDR)
				return true;
			uint32_t len = pkt_hdr_len(h);
			if (s->c.zin && s->c_cont)
				h[3] = fix_seq(in, 0, (uint8_t)(s->c_seq + 1));
			if (s->c_cont && h[3] != (uint8_t)(s->c_seq + 1))
				return client_garbage(s,
						      "bad sequence id in a continuation packet");
			s->c_seq = h[3];
			s->c_total += len;
			if (s->c_cont && s->c_total > max)
				return too_large(s);
			bool was_cont = s->c_cont;
			s->c_cont = len == PKT_MAX_PAYLOAD;
			evbuffer_remove_buffer(in, s->b.out, PKT_HDR);
			s->c_left = len;
			if (infile && !was_cont && len == 0)
				pkt_resp_infile_done(&s->resp);
			if (was_cont && !s->c_cont && !infile && !authx)
				command_sent(s); /* the last part of a streamed command */
			continue;
		}
		if (s->state != S_IDLE || s->held)
			return true; /* pipelined: wait for the answer */
		if (!s->fetching) {
			if (have < PKT_HDR + 1)
				return true;
			/* A new command. Pick up a reloaded configuration first. */
			if (!worker_conf_is_current(s->conf)) {
				worker_conf_release(s->conf);
				s->conf = worker_conf_acquire();
				max = s->conf->cfg->proxy.max_packet;
			}
			uint8_t h[PKT_HDR + 1];
			evbuffer_copyout(in, h, sizeof(h));
			uint32_t len = pkt_hdr_len(h);
			if (s->c.zin)
				h[3] = fix_seq(in, 0, 0);
			if (h[3] != 0)
				return client_garbage(s, "command with a sequence id other than 0");
			if (len == 0)
				return client_garbage(s, "empty command packet");
			s->cmd = h[PKT_HDR];
			s->hs.command = s->cmd;
			s->c_seq = 0;
			s->c_total = len;
			s->cmd_start_us = worker_now_us();
			s->hook_results = s->cmd == COM_QUERY || s->cmd == COM_STMT_PREPARE ||
					  s->cmd == COM_STMT_EXECUTE || s->cmd == COM_INIT_DB;
			s->last_active_ms = now_ms();
			if (len > max)
				return too_large(s);
			if (s->cmd == COM_QUIT) {
				sess_set_state(s, S_IDLE);
				sess_close(s, "client quit"); /* passes the QUIT on */
				return false;
			}
			if (!is_fetched(s, s->cmd)) {
				/* SEND: stream it. With no continuation the whole command
				 * is known now, so the answer is followed from here. */
				s->c_cont = len == PKT_MAX_PAYLOAD;
				s->c_left = len;
				evbuffer_remove_buffer(in, s->b.out, PKT_HDR);
				if (!s->c_cont)
					command_sent(s);
				continue;
			}
			s->fetching = true;
		}
		/* FETCH: find the end of the logical packet (continuations too). */
		size_t pos = 0;
		unsigned parts = 0;
		uint64_t total = 0;
		struct evbuffer_ptr ptr;
		for (;;) {
			uint8_t h[PKT_HDR];
			if (have < pos + PKT_HDR)
				return true;
			evbuffer_ptr_set(in, &ptr, pos, EVBUFFER_PTR_SET);
			evbuffer_copyout_from(in, &ptr, h, PKT_HDR);
			uint32_t len = pkt_hdr_len(h);
			if (s->c.zin) /* see fix_seq() */
				h[3] = fix_seq(in, pos, (uint8_t)parts);
			if (h[3] != (uint8_t)parts)
				return client_garbage(s,
						      "bad sequence id in a continuation packet");
			total += len;
			s->c_seq = h[3];
			if (total > max) {
				s->fetching = false;
				return too_large(s);
			}
			parts++;
			if (have < pos + PKT_HDR + len)
				return true;
			pos += PKT_HDR + len;
			if (len < PKT_MAX_PAYLOAD)
				break;
		}
		s->fetching = false;
		s->fetch_wire = pos;
		s->c_total = total;
		if (!fetched_command(s, parts))
			return false;
	}
}

/* ---- command phase: server side ---------------------------------------------- */

/* The server's answer to the current command is complete. */
static void command_done(struct sess *s)
{
	metrics_command(s->cmd, worker_now_us() - s->cmd_start_us);
	sess_set_state(s, S_IDLE);
	s->last_active_ms = now_ms();
}

/* What a successful command changes in the session. */
static void command_ok(struct sess *s, const struct pkt_result *res)
{
	if (res->okp.schema)
		copy_str(s->hs.schema, sizeof(s->hs.schema), res->okp.schema, res->okp.schema_len);
	switch (s->cmd) {
	case COM_INIT_DB:
		if (s->pending)
			snprintf(s->hs.schema, sizeof(s->hs.schema), "%s", s->pending);
		break;
	case COM_SET_OPTION:
		s->hs.multi_statements = s->pending_opt == 0;
		break;
	case COM_CHANGE_USER:
		if (s->pending) {
			snprintf(s->hs.user, sizeof(s->hs.user), "%s", s->pending);
			snprintf(s->hs.schema, sizeof(s->hs.schema), "%s",
				 s->pending + strlen(s->pending) + 1);
		}
		hook_session_reset(s, &s->hs);
		break;
	case COM_RESET_CONNECTION:
		hook_session_reset(s, &s->hs);
		break;
	default:
		break;
	}
}

/*
 * One statement's answer is complete. Tells the hook (for commands it
 * follows) and returns whether the terminal packet may go on now.
 */
static bool statement_done(struct sess *s, const struct pkt_result *res)
{
	if (res->ok)
		command_ok(s, res);
	if (!s->hook_results)
		return true;
	struct hook_result r = {
	    .index = s->resp.index - 1,
	    .ok = res->ok,
	    .more = res->more,
	    .error_code = res->err.code,
	    .affected_rows = res->affected_rows,
	    .last_insert_id = res->last_insert_id,
	    .result_set = res->result_set,
	    .stmt_id = res->stmt_id,
	};
	if (!res->ok) {
		memcpy(r.sqlstate, res->err.sqlstate, sizeof(r.sqlstate));
		r.error_message = (const char *)res->err.message;
		r.error_message_len = res->err.message_len;
	}
	if (res->result_set && res->rows == 1 && s->row1_set) {
		r.first_value = s->row1_null ? NULL : s->row1;
		r.first_value_len = s->row1_len;
		r.first_value_null = s->row1_null;
	}
	s->row1_set = false;
	return hook_result(s, &s->hs, &r);
}

/*
 * Works through the server's input: streams rows, fetches the packets the
 * follower needs, hands completed statements to the hook and holds a
 * terminal packet while the hook asks. Returns false when the session
 * closed.
 */
static bool backend_process(struct sess *s)
{
	struct evbuffer *in = s->b.in;
	switch (s->state) {
	case S_GREETING:
		if (!on_greeting(s))
			return false;
		return true;
	case S_AUTH:
		return auth_relay(s, false);
	case S_IDLE:
	case S_COMMAND:
	case S_HOOK_WAIT:
		break;
	default:
		return true;
	}
	for (;;) {
		if (s->held)
			return true;
		size_t have = evbuffer_get_length(in);
		if (s->b_left > 0) {
			if (have == 0)
				return true;
			size_t n = have < s->b_left ? have : (size_t)s->b_left;
			evbuffer_remove_buffer(in, s->c.out, n);
			s->b_left -= n;
			if (s->b_left == 0 && pkt_resp_done(&s->resp) && s->state == S_COMMAND)
				command_done(s);
			continue;
		}
		if (have < PKT_HDR)
			return true;
		uint8_t h[PKT_HDR + 1];
		size_t got = evbuffer_copyout(in, h, have > PKT_HDR ? PKT_HDR + 1 : PKT_HDR);
		uint32_t len = pkt_hdr_len(h);
		if (len > 0 && got < PKT_HDR + 1)
			return true;
		uint8_t first = len > 0 ? h[PKT_HDR] : 0;
		if (s->state != S_COMMAND || pkt_resp_done(&s->resp)) {
			/* Unsolicited: the server only does this to say goodbye
			 * (killed, idle timeout, shutdown) with an ERR. */
			if (first != 0xFF)
				return client_garbage(s, "unexpected packet from the backend");
			if (have < PKT_HDR + len)
				return true;
			evbuffer_remove_buffer(in, s->c.out, PKT_HDR + len);
			continue;
		}
		if (pkt_resp_peek(&s->resp, len, first) == PKT_SEND) {
			struct pkt_result res;
			const uint8_t *v;
			size_t vl;
			bool vn;
			enum pkt_resp_event ev = pkt_resp_feed(&s->resp, h + PKT_HDR, len ? 1 : 0,
							       len, &res, &v, &vl, &vn);
			if (ev == PKT_EV_BAD) {
				metrics_backend_error();
				return client_garbage(s, "backend protocol error");
			}
			s->b_left = len;
			evbuffer_remove_buffer(in, s->c.out, PKT_HDR);
			if (ev == PKT_EV_RESULT) /* STATISTICS: a streamed answer cannot be held */
				(void)statement_done(s, &res);
			if (s->b_left == 0 && pkt_resp_done(&s->resp))
				command_done(s);
			continue;
		}
		/* WHOLE */
		if (have < PKT_HDR + len)
			return true;
		const uint8_t *p = evbuffer_pullup(in, PKT_HDR + len) + PKT_HDR;
		struct pkt_result res;
		const uint8_t *v = NULL;
		size_t vl = 0;
		bool vn = false;
		enum pkt_resp_event ev = pkt_resp_feed(&s->resp, p, len, len, &res, &v, &vl, &vn);
		switch (ev) {
		case PKT_EV_BAD:
			metrics_backend_error();
			return client_garbage(s, "backend protocol error");
		case PKT_EV_ROW1:
			s->row1_set = vn || vl <= SESS_ROW1_MAX;
			s->row1_null = vn;
			s->row1_len = vn ? 0 : (uint8_t)(vl <= SESS_ROW1_MAX ? vl : 0);
			if (!vn && vl <= SESS_ROW1_MAX && vl)
				memcpy(s->row1, v, vl);
			break;
		case PKT_EV_INFILE:
			break;
		case PKT_EV_RESULT:
			if (!statement_done(s, &res)) {
				if (dead(s))
					return false;
				s->held = PKT_HDR + len;
				s->held_done = pkt_resp_done(&s->resp);
				return true;
			}
			if (dead(s))
				return false;
			break;
		default:
			break;
		}
		evbuffer_remove_buffer(in, s->c.out, PKT_HDR + len);
		if (pkt_resp_done(&s->resp))
			command_done(s);
	}
}

/* ---- events ---------------------------------------------------------------------- */

/* After any progress: move what can move, write, and re-arm. */
static void sess_pump(struct sess *s)
{
	for (int round = 0; round < 4 && !dead(s); round++) {
		enum sess_state before = s->state;
		size_t cin = evbuffer_get_length(s->c.in), bin = evbuffer_get_length(s->b.in);
		if (!client_process(s) || !backend_process(s))
			return;
		if (!sess_flush(s))
			return;
		if (s->state == before && cin == evbuffer_get_length(s->c.in) &&
		    bin == evbuffer_get_length(s->b.in))
			break;
	}
	if (dead(s))
		return;
	if (s->state == S_IDLE && s->w->draining && leg_pending_out(&s->c) == 0 &&
	    evbuffer_get_length(s->c.in) == 0) {
		sess_close(s, "shutdown");
		return;
	}
	if (s->c.eof && s->state != S_CLOSING) {
		sess_close(s, "client closed");
		return;
	}
	if (s->b.eof && s->state != S_CLOSING) {
		if (s->state == S_COMMAND)
			metrics_backend_error();
		if (s->state < S_IDLE && s->state != S_CLOSING) {
			send_err(s, 0, SESS_ERR_PROXY, "08S01",
				 "ddlgate: backend %s closed the connection during the handshake",
				 s->conf->backend_name);
			sess_close_after_flush(s, "backend closed during handshake");
			return;
		}
		/* What the server said last (a kill's ERR, say) still goes out. */
		sess_close_after_flush(s, "backend closed");
		return;
	}
	sess_interest(s);
}

/* True when an idle session's next client command, already received, is
 * COM_QUIT: the client said goodbye before its socket went away. */
static bool quit_buffered(const struct sess *s)
{
	uint8_t h[PKT_HDR + 1];
	if (s->state != S_IDLE || s->c.zin ||
	    evbuffer_copyout(s->c.in, h, sizeof(h)) != (ev_ssize_t)sizeof(h))
		return false;
	return pkt_hdr_len(h) == 1 && h[PKT_HDR] == COM_QUIT;
}

static void on_client_read(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	if (s->state == S_CLIENT_TLS) {
		tls_step(s, &s->c);
		if (!dead(s))
			sess_pump(s);
		return;
	}
	size_t got;
	/* Before TLS may start, read exactly the packet: what follows an
	 * SSLRequest is the TLS ClientHello and must stay in the socket. */
	size_t limit = 0;
	if (s->state == S_HELLO && !s->c.ssl) {
		size_t have = evbuffer_get_length(s->c.in);
		if (have < PKT_HDR) {
			limit = PKT_HDR - have;
		} else {
			uint8_t h[PKT_HDR];
			evbuffer_copyout(s->c.in, h, PKT_HDR);
			size_t need = PKT_HDR + pkt_hdr_len(h);
			limit = need > have ? need - have : 0;
			if (limit == 0) {
				sess_pump(s);
				return;
			}
			if (need > SESS_HELLO_MAX + PKT_HDR) {
				sess_close(s, "handshake response too large");
				return;
			}
		}
	}
	if (leg_read(&s->c, limit, &got) != IO_OK) {
		/* A reset right after COM_QUIT still ends the session as a quit. */
		sess_close(s, quit_buffered(s) ? "client quit" : "client read failed");
		return;
	}
	if (got)
		metrics_bytes(got, 0);
	if (s->state < S_AUTH && evbuffer_get_length(s->c.in) > SESS_HELLO_MAX + PKT_HDR) {
		sess_close(s, "too much data before authentication");
		return;
	}
	sess_pump(s);
}

static void on_client_write(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	if (s->state == S_CLIENT_TLS) {
		tls_step(s, &s->c);
		if (!dead(s))
			sess_pump(s);
		return;
	}
	if (s->c.read_wants_write) {
		on_client_read(fd, EV_READ, arg);
		if (dead(s))
			return;
	}
	sess_pump(s);
}

/* The non-blocking connect finished (or failed). */
static void backend_connected(struct sess *s)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(s->b.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		backend_unreachable(s, strerror(err));
		return;
	}
	leg_want_write(&s->b, false);
	sess_set_state(s, S_GREETING);
	event_del(&s->timer);
	uint64_t spent = now_ms() - s->started_ms;
	int hs = s->conf->cfg->proxy.handshake_timeout_ms;
	start_timer_ms(s, hs > (int)spent ? hs - (int)spent : 1);
	leg_want_read(&s->b, true);
	leg_want_read(&s->c, true);
}

static void on_backend_read(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	if (s->state == S_BACKEND_TLS) {
		tls_step(s, &s->b);
		if (!dead(s))
			sess_pump(s);
		return;
	}
	size_t got;
	if (leg_read(&s->b, 0, &got) != IO_OK) {
		metrics_backend_error();
		sess_close(s, "backend read failed");
		return;
	}
	sess_pump(s);
}

static void on_backend_write(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	if (s->state == S_CONNECT) {
		backend_connected(s);
		if (!dead(s))
			sess_pump(s);
		return;
	}
	if (s->state == S_BACKEND_TLS) {
		tls_step(s, &s->b);
		if (!dead(s))
			sess_pump(s);
		return;
	}
	if (s->b.read_wants_write) {
		on_backend_read(fd, EV_READ, arg);
		if (dead(s))
			return;
	}
	sess_pump(s);
}

/* ---- start ------------------------------------------------------------------------ */

static bool leg_init(struct leg *l, struct event_base *base, int fd, event_callback_fn rd,
		     event_callback_fn wr, void *arg)
{
	l->fd = fd;
	event_assign(&l->rev, base, fd, EV_READ | EV_PERSIST, rd, arg);
	event_assign(&l->wev, base, fd, EV_WRITE | EV_PERSIST, wr, arg);
	l->in = evbuffer_new();
	l->out = evbuffer_new();
	return l->in && l->out;
}

static void format_peer(char *out, size_t cap, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, cap, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, cap, "[%s]:%u", host, port);
	} else {
		snprintf(out, cap, "local");
	}
}

static uint64_t next_conn_id(void)
{
	static atomic_uint_fast64_t n;
	return atomic_fetch_add(&n, 1) + 1;
}

bool sess_start(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peerlen)
{
	struct sess *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		atomic_fetch_sub(&worker_nconns, 1);
		return false;
	}
	s->w = w;
	s->conf = worker_conf_acquire();
	s->hs.conn_id = next_conn_id();
	format_peer(s->hs.client, sizeof(s->hs.client), peer);
	s->started_ms = s->last_active_ms = now_ms();
	s->c.fd = s->b.fd = -1;
	evtimer_assign(&s->timer, w->base, on_timer, s);
	metrics_conn_opened();
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsess++;
	worker_registry_add(s, w);

	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	const struct worker_conf *wc = s->conf;
	int bfd = socket(wc->backend.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool ok = leg_init(&s->c, w->base, fd, on_client_read, on_client_write, s);
	ok = leg_init(&s->b, w->base, bfd, on_backend_read, on_backend_write, s) && ok;
	if (!ok) {
		sess_close(s, "out of memory");
		return true;
	}
	if (bfd < 0) {
		backend_unreachable(s, strerror(errno));
		return true;
	}
	if (wc->backend.ss_family != AF_UNIX)
		setsockopt(bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	worker_log(s->hs.conn_id, "opened client=%s", s->hs.client);
	sess_set_state(s, S_CONNECT);
	int rc = connect(bfd, (const struct sockaddr *)&wc->backend, wc->backend_len);
	if (rc != 0 && errno != EINPROGRESS) {
		backend_unreachable(s, strerror(errno));
		return true;
	}
	start_timer_ms(s, wc->cfg->proxy.connect_timeout_ms > 0 ? wc->cfg->proxy.connect_timeout_ms
								: 5000);
	leg_want_write(&s->b, true);
	return true;
}

/* ---- periodic ---------------------------------------------------------------------- */

void sess_tick_all(struct worker *w, uint64_t now)
{
	struct sess *s = w->sessions, *next;
	for (; s; s = next) {
		next = s->next;
		if (dead(s))
			continue;
		const struct cfg *c = s->conf->cfg;
		if (w->draining) {
			if (s->state == S_IDLE || s->state < S_AUTH ||
			    now >= w->drain_deadline_ms) {
				sess_close(s, "shutdown");
				continue;
			}
		}
		if (s->state == S_IDLE && c->proxy.idle_timeout_s > 0 &&
		    now - s->last_active_ms >= (uint64_t)c->proxy.idle_timeout_s * 1000) {
			sess_close(s, "idle timeout");
		}
	}
}

void sess_reap_all(struct worker *w)
{
	while (w->sessions)
		sess_close(w->sessions, "shutdown");
	while (w->parked) {
		struct sess *s = w->parked;
		event_del(&s->timer);
		sess_free_cb(-1, 0, s);
	}
}

/* ---- hook defaults --------------------------------------------------------------- */

/* Used until the policy defines its own (hook.h): executes go through. */
__attribute__((weak)) enum hook_verdict
hook_stmt_execute(struct sess *s, struct hook_sess *hs, uint32_t stmt_id, struct hook_reply *reply)
{
	(void)s;
	(void)hs;
	(void)stmt_id;
	(void)reply;
	return HOOK_FORWARD;
}

__attribute__((weak)) void hook_stmt_close(struct sess *s, struct hook_sess *hs, uint32_t stmt_id)
{
	(void)s;
	(void)hs;
	(void)stmt_id;
}

/* ---- hook API ------------------------------------------------------------------------ */

void sess_hook_resume(struct sess *s, enum hook_verdict v, const struct hook_reply *reply)
{
	if (dead(s))
		return;
	if (s->in_hook) {
		s->resume_pending = true;
		s->resume_verdict = v;
		if (reply && !s->resume_reply)
			s->resume_reply = malloc(sizeof(*reply));
		if (reply && s->resume_reply)
			*s->resume_reply = *reply;
		return;
	}
	if (s->state != S_HOOK_WAIT)
		return;
	struct hook_reply fallback = {
	    .code = 1290, .sqlstate = "HY000", .message = "ddlgate: blocked"};
	apply_verdict(s, v == HOOK_WAIT ? HOOK_REJECT : v, reply ? reply : &fallback);
	sess_pump(s);
}

void sess_hook_release(struct sess *s)
{
	if (dead(s) || !s->held)
		return;
	size_t n = s->held;
	s->held = 0;
	evbuffer_remove_buffer(s->b.in, s->c.out, n);
	if (s->held_done && s->state == S_COMMAND)
		command_done(s);
	s->held_done = false;
	sess_pump(s);
}

struct sess_post_msg {
	uint64_t id;
	void (*fn)(struct sess *s, void *arg);
	void *arg;
};

static void sess_post_run(struct worker *w, void *arg)
{
	struct sess_post_msg *m = arg;
	struct sess *s = NULL;
	/* Still a live session of this worker? */
	if (worker_registry_find(m->id, &s) == w && !dead(s))
		m->fn(s, m->arg);
	free(m);
}

void sess_post_id(uint64_t conn_id, void (*fn)(struct sess *s, void *arg), void *arg)
{
	struct sess *s;
	struct worker *w = worker_registry_find(conn_id, &s);
	if (!w)
		return;
	struct sess_post_msg *m = malloc(sizeof(*m));
	if (!m)
		return;
	*m = (struct sess_post_msg){conn_id, fn, arg};
	worker_post(w, sess_post_run, m);
}

void sess_post(struct sess *s, void (*fn)(struct sess *s, void *arg), void *arg)
{
	sess_post_id(sess_conn_id(s), fn, arg);
}
