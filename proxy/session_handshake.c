/*
 * Session handshake: the server's greeting, the client's SSLRequest and
 * HandshakeResponse, TLS on either leg, and the auth exchange relayed until
 * the server's OK or ERR (the states GREETING .. AUTH of session.c).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/metrics.h"
#include "proxy/session_priv.h"
#include "proxy/tls.h"
#include "rules/lex.h"

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
bool sess_on_greeting(struct sess *s)
{
	uint32_t len;
	uint8_t seq;
	switch (peek_packet(s->b.in, SESS_AUTH_MAX, &len, &seq)) {
	case PEEK_WAIT:
		return true;
	case PEEK_TOO_LARGE:
		sess_backend_unreachable(s, "greeting too large");
		return false;
	case PEEK_READY:
		break;
	}
	uint8_t *p = evbuffer_pullup(s->b.in, PKT_HDR + len) + PKT_HDR;
	if (len > 0 && p[0] == 0xFF) {
		/* "Too many connections", "Host blocked": the client should see it. */
		evbuffer_remove_buffer(s->b.in, s->c.out, PKT_HDR + len);
		sess_close_after_flush(s, SESS_END_BACKEND_REFUSED);
		return false;
	}
	struct pkt_greeting g;
	if (!pkt_greeting_parse(p, len, &g) || !(g.caps & CLIENT_PROTOCOL_41)) {
		sess_backend_unreachable(s, "unsupported greeting");
		return false;
	}
	const struct cfg *cfg = s->conf->cfg;
	s->srv_caps = g.caps;
	s->srv_ext = g.mariadb_ext ? g.ext_caps : 0;
	s->hs.server_thread = g.thread_id;
	worker_registry_set_thread(s, g.thread_id); /* a KILL finds the session by it */
	char version[64];
	size_t vn = g.version_len < sizeof(version) - 1 ? g.version_len : sizeof(version) - 1;
	memcpy(version, g.version, vn);
	version[vn] = '\0';
	s->hs.lex_server = lex_server_mode(version); /* how the server reads SQL */
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
bool sess_tls_step(struct sess *s, struct leg *l)
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
			if (leg_read(&s->c, 0, &got) != LEG_OK) {
				sess_close(s, SESS_END_CLIENT_READ);
				return false;
			}
			return sess_client_process(s);
		}
		metrics_backend_tls(SSL_session_reused(l->ssl));
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
			worker_log(s->hs.conn_id, "backend TLS failed: %s", tls_last_error());
			sess_send_err(s, 2, SESS_ERR_PROXY, "08S01",
				      "ddlgate: TLS to backend %s failed", s->conf->backend_name);
			sess_close_after_flush(s, SESS_END_BACKEND_TLS);
		} else {
			worker_log(s->hs.conn_id, "client TLS failed: %s", tls_last_error());
			sess_close(s, SESS_END_CLIENT_TLS);
		}
		return false;
	}
}

/*
 * The client's SSLRequest or HandshakeResponse. Decides both legs'
 * capabilities and TLS, then forwards the response (after backend TLS if
 * that is wanted). Returns false when the session closed.
 */
bool sess_on_hello(struct sess *s)
{
	uint32_t len;
	uint8_t seq;
	switch (peek_packet(s->c.in, SESS_HELLO_MAX, &len, &seq)) {
	case PEEK_WAIT:
		return true;
	case PEEK_TOO_LARGE:
		sess_close(s, SESS_END_HELLO_TOO_LARGE);
		return false;
	case PEEK_READY:
		break;
	}
	uint8_t *p = evbuffer_pullup(s->c.in, PKT_HDR + len) + PKT_HDR;
	struct pkt_hsresp h;
	if (seq != (s->c.ssl ? 2 : 1) || !pkt_hsresp_parse(p, len, &h)) {
		sess_close(s, SESS_END_HELLO_BAD);
		return false;
	}
	const struct cfg *cfg = s->conf->cfg;
	if (h.ssl_request) {
		if (s->c.ssl || !s->conf->server_ctx) {
			sess_close(s, SESS_END_SSLREQ_UNEXPECTED);
			return false;
		}
		evbuffer_drain(s->c.in, PKT_HDR + len);
		s->c.ssl = tls_new_accept(s->conf->server_ctx, s->c.fd);
		if (!s->c.ssl) {
			sess_close(s, SESS_END_OOM);
			return false;
		}
		sess_set_state(s, S_CLIENT_TLS);
		return sess_tls_step(s, &s->c);
	}
	if (!s->c.ssl && cfg->tls.client == CFG_TLS_CLIENT_REQUIRED) {
		sess_send_err(
		    s, (uint8_t)(seq + 1), 3159, "HY000",
		    "ddlgate: connections without TLS are refused ([tls] client = required)");
		sess_close_after_flush(s, SESS_END_CLIENT_NO_TLS);
		return false;
	}
	sess_copy_str(s->hs.user, sizeof(s->hs.user), h.user, h.user_len);
	const uint8_t *av;
	size_t an;
	if (pkt_attr_find(h.attrs, h.attrs_len, "_pid", &av, &an))
		sess_copy_str(s->hs.client_pid, sizeof(s->hs.client_pid), av, an);
	if (pkt_attr_find(h.attrs, h.attrs_len, "program_name", &av, &an) ||
	    pkt_attr_find(h.attrs, h.attrs_len, "_client_name", &av, &an))
		sess_copy_str(s->hs.client_prog, sizeof(s->hs.client_prog), av, an);
	if (h.schema)
		sess_copy_str(s->hs.schema, sizeof(s->hs.schema), h.schema, h.schema_len);
	s->caps = h.caps & s->srv_caps;
	s->hs.capabilities = s->caps;
	s->hs.multi_statements = (s->caps & CLIENT_MULTI_STATEMENTS) != 0;
	s->compress = (h.caps & CLIENT_COMPRESS) != 0;
	s->hs.compressed = s->compress;

	/* Backend leg TLS: preferred uses it when offered; verify-* insist. */
	bool srv_tls = (s->srv_caps & CLIENT_SSL) != 0;
	bool b_tls = s->conf->client_ctx && srv_tls;
	if (cfg->tls.backend >= CFG_TLS_BACKEND_VERIFY_CA && !srv_tls) {
		sess_send_err(
		    s, (uint8_t)(seq + 1), SESS_ERR_PROXY, "08S01",
		    "ddlgate: backend %s does not offer TLS but [tls] backend requires it",
		    s->conf->backend_name);
		sess_close_after_flush(s, SESS_END_BACKEND_NO_TLS);
		return false;
	}
	if (s->c.ssl && !b_tls && !s->conf->backend_local && !cfg->proxy.allow_plaintext_backend) {
		sess_send_err(s, (uint8_t)(seq + 1), SESS_ERR_PROXY, "08S01",
			      "ddlgate: refusing to relay a TLS client over a plaintext backend "
			      "connection (set [tls] backend or allow_plaintext_backend)");
		sess_close_after_flush(s, SESS_END_TLS_DOWNGRADE);
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
		sess_close(s, SESS_END_OOM);
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
		sess_close(s, SESS_END_OOM);
		return false;
	}
	sess_set_state(s, S_BACKEND_TLS);
	return sess_tls_step(s, &s->b);
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
bool sess_auth_relay(struct sess *s, bool from_client)
{
	struct leg *src = from_client ? &s->c : &s->b, *dst = from_client ? &s->b : &s->c;
	uint32_t len;
	uint8_t seq;
	enum peek pk;
	while (s->state == S_AUTH &&
	       (pk = peek_packet(src->in, SESS_AUTH_MAX, &len, &seq)) != PEEK_WAIT) {
		if (pk == PEEK_TOO_LARGE) {
			sess_close(s, SESS_END_AUTH_TOO_LARGE);
			return false;
		}
		uint8_t first = 0;
		if (len > 0) {
			uint8_t hb[PKT_HDR + 1];
			evbuffer_copyout(src->in, hb, sizeof(hb));
			first = hb[PKT_HDR];
		}
		if (!from_client && first == 0x00 && len < 256) {
			/* the login's OK: the session's first status (autocommit) */
			uint8_t ok[PKT_HDR + 256];
			struct pkt_ok okp;
			evbuffer_copyout(src->in, ok, PKT_HDR + len);
			if (pkt_parse_ok(ok + PKT_HDR, len, s->caps, &okp)) {
				s->hs.server_status = okp.status;
				s->hs.server_status_known = true;
			}
		}
		int delta = from_client ? s->seq_delta : -s->seq_delta;
		if (!move_packet_seq(src->in, dst->out, len, delta)) {
			sess_close(s, SESS_END_OOM);
			return false;
		}
		if (!from_client && len > 0 && first == 0x00) {
			auth_done(s);
			return true;
		}
		if (!from_client && len > 0 && first == 0xFF) {
			sess_close_after_flush(s, SESS_END_AUTH_FAILED);
			return false;
		}
	}
	return true;
}
