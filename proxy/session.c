/*
 * Client connection handling: one client leg, one backend leg, and the
 * relay between them. This file holds a session's life cycle, flow control
 * and events; the bytes of each leg move in leg.c, the protocol states in
 * session_handshake.c (GREETING .. AUTH), session_command.c (the client's
 * commands) and session_answer.c (the server's answers).
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
 * response follower in pkt.c reads). In the command phase a read lands in
 * the worker's scratch buffer (leg_read_scratch) and what is forwarded goes
 * straight from it to the other socket at sess_flush() (leg_settle), so a
 * DML round trip allocates nothing; only bytes that must wait (a partial
 * write, an incomplete packet, a held answer) are copied into the
 * evbuffers, which otherwise move data between themselves without copying.
 * Back-pressure: a leg stops reading while the other leg's output is above
 * SESS_HIGH_WM, so a huge result set read slowly costs at most a few
 * hundred KiB. Input no socket event announces (records OpenSSL already
 * decrypted, whole compressed packets) obeys the same rule: the session
 * wakes the leg for it (leg_kick) only while the other side has room, and
 * compressed packets are inflated one at a time, only as far as the
 * command phase will take them (sess_inflate).
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
 *                                          ^  |
 *                         the next step    |  v  a step's last answer went on
 *                                        STEP_WAIT
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
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/buffer.h>

#include "proxy/metrics.h"
#include "proxy/session_priv.h"
#include "proxy/tls.h"

#define SESS_CLOSE_FLUSH_MS 2000

static const char *const state_names[] = {
    "connect", "greeting", "hello",	"client-tls", "backend-tls", "auth",
    "idle",    "command",  "hook-wait", "step-wait",  "closing",     "dead",
};

/* The columns of SESS_END_TABLE (session.h) that the session reads. */
#define SESS_END_TEXT(name, text, label, backend) text,
static const char *const sess_end_text[] = {SESS_END_TABLE(SESS_END_TEXT)};
#undef SESS_END_TEXT
#define SESS_END_BACKEND(name, text, label, backend) backend,
static const bool sess_end_backend[] = {SESS_END_TABLE(SESS_END_BACKEND)};
#undef SESS_END_BACKEND

/* ---- small helpers ------------------------------------------------------- */

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

/* Appends a whole ERR packet for the client leg. */
void sess_send_err(struct sess *s, uint8_t seq, uint16_t code, const char *sqlstate,
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

/* ---- flow control ---------------------------------------------------------- */

/* CLIENT_COMPRESS limits of the client leg: one compressed packet carries
 * at most one max_packet packet and its header, and input is inflated only
 * as far as the session will take it: SESS_HIGH_WM, or the whole command
 * being fetched. */
static void sess_zlimits(struct sess *s)
{
	uint64_t max = s->conf->cfg->proxy.max_packet + PKT_HDR;
	s->c.zframe_max = max < PKT_MAX_PAYLOAD ? (size_t)max : PKT_MAX_PAYLOAD;
	s->c.zroom = s->fetching && s->fetch_need > SESS_HIGH_WM ? s->fetch_need : SESS_HIGH_WM;
}

/*
 * Recomputes which events each leg waits for. A leg reads while the data
 * it feeds has somewhere to go: the other leg's output is below the high
 * watermark and its own input is not piling up unprocessed.
 */
static void sess_interest(struct sess *s)
{
	if (sess_dead(s))
		return;
	bool c_take = false, b_take = false; /* the leg may take more input */
	size_t c_in = evbuffer_get_length(s->c.in), b_in = evbuffer_get_length(s->b.in);
	switch (s->state) {
	case S_CONNECT:
	case S_CLOSING:
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
		c_take = b_out < c_mark && (s->fetching || c_in < SESS_HIGH_WM) && !s->c.eof;
		/* b.in only grows while a packet is fetched whole (< 16 MiB). */
		b_take = c_out < b_mark && !s->held && !s->b.eof && b_in < (17u << 20);
		break;
	}
	}
	/* A whole compressed packet waiting to be inflated is input enough:
	 * the socket waits until it is (sess_inflate). */
	if (s->c.zin)
		sess_zlimits(s); /* what the command phase needs now */
	bool c_read = c_take && !leg_zframe_waiting(&s->c);
	leg_want_read(&s->c, c_read || s->c.read_wants_write);
	leg_want_read(&s->b, b_take || s->b.read_wants_write);
	if (s->c.read_wants_write)
		leg_want_write(&s->c, true);
	if (s->b.read_wants_write)
		leg_want_write(&s->b, true);
	/* Input no socket event announces (decrypted TLS records, inflatable
	 * packets) is read only while the other side has room, like the
	 * socket's. */
	if (c_take)
		leg_kick(&s->c);
	if (b_take)
		leg_kick(&s->b);
}

/* A compressed packet would inflate past max_packet (LEG_TOO_LARGE:
 * refused before a byte of it is inflated), or makes no sense (LEG_ZBAD).
 * Returns false: the session is closing. */
static bool zframe_refused(struct sess *s, enum leg_io why)
{
	unsigned long long max = s->conf->cfg->proxy.max_packet;
	if (why != LEG_TOO_LARGE)
		return sess_fail(s, SESS_END_ZFRAME_BAD);
	worker_log(s->hs.conn_id,
		   "client=%s user=%s sent a compressed packet of %zu plain bytes, over "
		   "max_packet (%llu)",
		   s->hs.client, s->hs.user, s->c.zbig, max);
	sess_send_err(s, (uint8_t)(s->c_seq + 1), 1153, "08S01",
		      "Got a packet bigger than 'max_packet' (%llu bytes) [ddlgate]", max);
	sess_close_after_flush(s, SESS_END_ZFRAME_TOO_LARGE);
	return false;
}

/* Inflates what the client's compressed packets hold, as far as the
 * limits allow; false when the session closed. */
bool sess_inflate(struct sess *s)
{
	if (!s->c.zin || sess_dead(s) || s->state == S_CLOSING)
		return true;
	sess_zlimits(s);
	enum leg_io r = leg_inflate(&s->c);
	return r == LEG_OK || zframe_refused(s, r);
}

/* Writes both legs' output; false when the session closed. */
bool sess_flush(struct sess *s)
{
	size_t put, direct;
	/* Bytes still in the worker's scratch go out (or into the buffers)
	 * first: a scratch read never outlives its event callback. */
	if (leg_settle(&s->b, &direct) != LEG_OK || leg_settle(&s->c, &put) != LEG_OK) {
		sess_close(s, SESS_END_OOM);
		return false;
	}
	if (direct)
		metrics_bytes(0, direct);
	if (leg_pending_out(&s->b) > 0 && s->b.fd >= 0) {
		if (leg_flush(&s->b, &put) != LEG_OK) {
			sess_close(s, SESS_END_BACKEND_WRITE);
			return false;
		}
	}
	if (leg_pending_out(&s->c) > 0) {
		if (leg_flush(&s->c, &put) != LEG_OK) {
			sess_close(s, SESS_END_CLIENT_WRITE);
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
void sess_close_after_flush(struct sess *s, enum sess_end why)
{
	if (sess_dead(s))
		return;
	s->close_reason = why;
	s->closing_from = s->state;
	sess_set_state(s, S_CLOSING);
	leg_pause(&s->b); /* the backend leg has nothing more to say */
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
	free(s->kept);
	sess_step_reset(s);
	pkt_exec_stmts_clear(&s->stmts);
	free(s->resume_reply);
	worker_conf_release(s->conf);
	free(s);
}

/* Says goodbye to an idle server (COM_QUIT) so it counts a clean close,
 * not an aborted connection. Best effort: never waits. */
static void backend_quit(struct sess *s)
{
	static const uint8_t quit[] = {1, 0, 0, 0, COM_QUIT};
	leg_send_now(&s->b, quit, sizeof(quit));
}

/*
 * The single exit of a session: logs reason, tells the hook, closes both
 * sockets and parks the session; the memory is freed from a zero timer so
 * no caller up the stack touches freed memory.
 */
void sess_close(struct sess *s, enum sess_end why)
{
	if (sess_dead(s))
		return;
	enum sess_state was = s->state;
	sess_set_state(s, S_DEAD);
	sess_private_free(s);
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
		   s->hs.user[0] ? s->hs.user : "-", state_names[was], sess_end_text[why]);
	/* Counted once, for the reason first given: a CLOSING session that
	 * then fails its last write still ended for the reason it was closing. */
	enum sess_end first = was == S_CLOSING ? s->close_reason : why;
	metrics_conn_closed(first);
	if (sess_end_backend[first])
		metrics_backend_error();
	/* The client reads all it was sent (an ERR's last word) and an
	 * orderly end, even while it is still writing; not while the worker
	 * stops, which must leave no socket behind. */
	leg_close_gently(&s->c, s->w->draining ? 0 : SESS_LINGER_MS);
	leg_cleanup(&s->b);
	sess_kill_end(s); /* after the client's socket closed: a killer may go on */
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
	event_del(&s->timer);
	evtimer_assign(&s->timer, w->base, sess_free_cb, s);
	struct timeval zero = {0, 0};
	evtimer_add(&s->timer, &zero);
}

/* The backend could not be reached: tell the client in its first packet. */
void sess_backend_unreachable(struct sess *s, const char *why)
{
	worker_log(s->hs.conn_id, "backend %s unreachable: %s", s->conf->backend_name, why);
	sess_send_err(s, 0, SESS_ERR_PROXY, "08S01", "ddlgate: backend %s unreachable: %s",
		      s->conf->backend_name, why);
	sess_close_after_flush(s, SESS_END_BACKEND_UNREACHABLE);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	switch (s->state) {
	case S_CONNECT:
		sess_backend_unreachable(s, "connect timeout");
		break;
	case S_CLOSING:
		sess_close(s, s->close_reason);
		break;
	case S_GREETING:
	case S_HELLO:
	case S_CLIENT_TLS:
	case S_BACKEND_TLS:
	case S_AUTH:
		sess_close(s, SESS_END_HANDSHAKE_TIMEOUT);
		break;
	default:
		break;
	}
}

void sess_start_timer_ms(struct sess *s, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(&s->timer, &tv);
}

/* Copies n bytes of a protocol string, NUL-terminated and cut to cap. */
void sess_copy_str(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = 0;
}

/* ---- events ---------------------------------------------------------------------- */

/* After any progress: move what can move, write, and re-arm. */
void sess_pump(struct sess *s)
{
	for (int round = 0; round < 4 && !sess_dead(s); round++) {
		enum sess_state before = s->state;
		size_t cin = leg_in_len(&s->c), bin = leg_in_len(&s->b);
		if (!sess_inflate(s) || !sess_client_process(s) || !sess_backend_process(s))
			return;
		if (!sess_flush(s))
			return;
		if (s->state == before && cin == leg_in_len(&s->c) && bin == leg_in_len(&s->b))
			break;
	}
	if (sess_dead(s))
		return;
	if (s->state == S_IDLE && s->w->draining && leg_pending_out(&s->c) == 0 &&
	    evbuffer_get_length(s->c.in) == 0) {
		sess_close(s, SESS_END_SHUTDOWN);
		return;
	}
	if (s->c.eof && s->state != S_CLOSING) {
		sess_close(s, SESS_END_CLIENT_EOF);
		return;
	}
	if (s->b.eof && s->state != S_CLOSING) {
		if (s->state < S_IDLE && s->state != S_CLOSING) {
			sess_send_err(
			    s, 0, SESS_ERR_PROXY, "08S01",
			    "ddlgate: backend %s closed the connection during the handshake",
			    s->conf->backend_name);
			sess_close_after_flush(s, SESS_END_BACKEND_EOF_HANDSHAKE);
			return;
		}
		/* What the server said last (a kill's ERR, say) still goes out. */
		sess_close_after_flush(s, s->state == S_COMMAND || s->state == S_STEP_WAIT
					      ? SESS_END_BACKEND_LOST
					      : SESS_END_BACKEND_EOF);
		return;
	}
	sess_interest(s);
}

/* The command phase, where reads go through the worker's scratch buffer
 * (leg_read_scratch): a statement's bytes are forwarded straight from it. */
static bool sess_hot(const struct sess *s)
{
	return s->state == S_IDLE || s->state == S_COMMAND || s->state == S_HOOK_WAIT ||
	       s->state == S_STEP_WAIT;
}

/* True when an idle session's next client command, already received, is
 * COM_QUIT: the client said goodbye before its socket went away. */
static bool quit_buffered(const struct sess *s)
{
	uint8_t h[PKT_HDR + 1];
	if (s->state != S_IDLE || s->c.zin || leg_in_copyout(&s->c, 0, h, sizeof(h)) != sizeof(h))
		return false;
	return pkt_hdr_len(h) == 1 && h[PKT_HDR] == COM_QUIT;
}

/* While a leg's TLS handshake runs, every event on it is one more step of
 * it (then the pump). True when the event was that. */
static bool tls_handshaking(struct sess *s, struct leg *l, enum sess_state tls_state)
{
	if (s->state != tls_state)
		return false;
	sess_tls_step(s, l);
	if (!sess_dead(s))
		sess_pump(s);
	return true;
}

/* A leg became writable: a TLS read that waited for the socket to take a
 * write runs now, then the pump moves whatever can move. */
static void leg_writable(struct sess *s, struct leg *l, event_callback_fn on_read,
			 evutil_socket_t fd)
{
	if (l->read_wants_write) {
		on_read(fd, EV_READ, s);
		if (sess_dead(s))
			return;
	}
	sess_pump(s);
}

static void on_client_read(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	if (tls_handshaking(s, &s->c, S_CLIENT_TLS))
		return;
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
				sess_close(s, SESS_END_HELLO_TOO_LARGE);
				return;
			}
		}
	}
	if (s->c.zin)
		sess_zlimits(s);
	enum leg_io rd = sess_hot(s) ? leg_read_scratch(&s->c, &got) : leg_read(&s->c, limit, &got);
	if (rd == LEG_TOO_LARGE || rd == LEG_ZBAD) {
		(void)zframe_refused(s, rd);
		return;
	}
	if (rd != LEG_OK) {
		/* A reset right after COM_QUIT still ends the session as a quit. */
		sess_close(s, quit_buffered(s) ? SESS_END_CLIENT_QUIT : SESS_END_CLIENT_READ);
		return;
	}
	if (got)
		metrics_bytes(got, 0);
	if (s->state < S_AUTH && evbuffer_get_length(s->c.in) > SESS_HELLO_MAX + PKT_HDR) {
		sess_close(s, SESS_END_PREAUTH_FLOOD);
		return;
	}
	sess_pump(s);
}

static void on_client_write(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	if (!tls_handshaking(s, &s->c, S_CLIENT_TLS))
		leg_writable(s, &s->c, on_client_read, fd);
}

/* The non-blocking connect finished (or failed). */
static void backend_connected(struct sess *s)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(s->b.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		sess_backend_unreachable(s, strerror(err));
		return;
	}
	leg_want_write(&s->b, false);
	sess_set_state(s, S_GREETING);
	event_del(&s->timer);
	uint64_t spent = sess_now_ms() - s->started_ms;
	int hs = s->conf->cfg->proxy.handshake_timeout_ms;
	sess_start_timer_ms(s, hs > (int)spent ? hs - (int)spent : 1);
	leg_want_read(&s->b, true);
	leg_want_read(&s->c, true);
}

static void on_backend_read(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	if (tls_handshaking(s, &s->b, S_BACKEND_TLS))
		return;
	size_t got;
	enum leg_io rd = sess_hot(s) ? leg_read_scratch(&s->b, &got) : leg_read(&s->b, 0, &got);
	if (rd != LEG_OK) {
		sess_close(s, SESS_END_BACKEND_READ);
		return;
	}
	sess_pump(s);
}

static void on_backend_write(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	if (s->state == S_CONNECT) {
		backend_connected(s);
		if (!sess_dead(s))
			sess_pump(s);
		return;
	}
	if (!tls_handshaking(s, &s->b, S_BACKEND_TLS))
		leg_writable(s, &s->b, on_backend_read, fd);
}

/* ---- start ------------------------------------------------------------------------ */

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
	s->started_ms = s->last_active_ms = sess_now_ms();
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
		sess_close(s, SESS_END_OOM);
		return true;
	}
	if (bfd < 0) {
		sess_backend_unreachable(s, strerror(errno));
		return true;
	}
	if (wc->backend.ss_family != AF_UNIX)
		setsockopt(bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	worker_log(s->hs.conn_id, "opened client=%s", s->hs.client);
	sess_set_state(s, S_CONNECT);
	int rc = connect(bfd, (const struct sockaddr *)&wc->backend, wc->backend_len);
	if (rc != 0 && errno != EINPROGRESS) {
		sess_backend_unreachable(s, strerror(errno));
		return true;
	}
	sess_start_timer_ms(
	    s, wc->cfg->proxy.connect_timeout_ms > 0 ? wc->cfg->proxy.connect_timeout_ms : 5000);
	leg_want_write(&s->b, true);
	return true;
}

/* ---- periodic ---------------------------------------------------------------------- */

void sess_tick_all(struct worker *w, uint64_t now)
{
	struct sess *s = w->sessions, *next;
	for (; s; s = next) {
		next = s->next;
		if (sess_dead(s))
			continue;
		const struct cfg *c = s->conf->cfg;
		if (w->draining) {
			if (s->state == S_IDLE || s->state < S_AUTH ||
			    now >= w->drain_deadline_ms) {
				sess_close(s, SESS_END_SHUTDOWN);
				continue;
			}
		}
		if (s->state == S_IDLE && c->proxy.idle_timeout_s > 0 &&
		    now - s->last_active_ms >= (uint64_t)c->proxy.idle_timeout_s * 1000) {
			sess_close(s, SESS_END_IDLE_TIMEOUT);
		}
	}
}

void sess_reap_all(struct worker *w)
{
	while (w->sessions)
		sess_close(w->sessions, SESS_END_SHUTDOWN);
	while (w->parked) {
		struct sess *s = w->parked;
		event_del(&s->timer);
		sess_free_cb(-1, 0, s);
	}
}

/* ---- hook defaults --------------------------------------------------------------- */

/* Used until the policy defines its own (hook.h): executes go through. */
__attribute__((weak)) enum hook_verdict hook_stmt_execute(struct sess *s, struct hook_sess *hs,
							  const struct hook_exec *x,
							  struct hook_reply *reply)
{
	(void)s;
	(void)hs;
	(void)x;
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
	if (sess_dead(s))
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
	sess_apply_verdict(s, v == HOOK_WAIT ? HOOK_REJECT : v, reply ? reply : &fallback);
	sess_pump(s);
}

void sess_hook_release(struct sess *s)
{
	if (sess_dead(s) || !s->held)
		return;
	size_t n = s->held;
	s->held = 0;
	leg_in_forward(&s->b, &s->c, n);
	if (s->held_done && s->state == S_COMMAND)
		sess_command_done(s);
	s->held_done = false;
	sess_pump(s);
}

void sess_hook_answer_err(struct sess *s, const struct hook_reply *reply)
{
	if (sess_dead(s) || !s->held || !s->held_done) {
		sess_hook_release(s);
		return;
	}
	uint8_t h[PKT_HDR];
	leg_in_copyout(&s->b, 0, h, PKT_HDR);
	leg_in_drain(&s->b, s->held);
	s->held = 0;
	s->held_done = false;
	sess_send_err(s, h[3], reply->code, reply->sqlstate[0] ? reply->sqlstate : "HY000", "%s",
		      reply->message);
	if (s->state == S_COMMAND)
		sess_command_done(s);
	sess_pump(s);
}

void sess_hook_schema(struct sess *s, const char *schema)
{
	snprintf(s->hs.schema, sizeof(s->hs.schema), "%s", schema);
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
	if (worker_registry_find(m->id, &s) == w && !sess_dead(s))
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
