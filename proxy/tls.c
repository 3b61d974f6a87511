/* OpenSSL contexts and non-blocking I/O for the client and backend legs. */
#include "proxy/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

const char *tls_last_error(void)
{
	static __thread char buf[256];
	unsigned long e = ERR_get_error();
	if (!e)
		return "no OpenSSL error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* What both legs' contexts share: TLS 1.2 or later, and buffers released
 * while a connection is idle (they would dominate per-connection memory),
 * partial writes from a moving buffer (the relay writes from evbuffers),
 * and read-ahead: one read() takes whatever the socket holds instead of a
 * record header and then its body (leg_read stops once OpenSSL holds no
 * more; leg_buffered() asks SSL_has_pending for what it read ahead). */
static SSL_CTX *tls_ctx_base(const SSL_METHOD *method, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx) {
		snprintf(err, errlen, "TLS: %s", tls_last_error());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	return ctx;
}

SSL_CTX *tls_server_ctx_new(const struct cfg *c, char *err, size_t errlen)
{
	err[0] = 0;
	if (!c->tls.cert || c->tls.client == CFG_TLS_CLIENT_OFF)
		return NULL;
	SSL_CTX *ctx = tls_ctx_base(TLS_server_method(), err, errlen);
	if (!ctx)
		return NULL;
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* No resumption: no tickets to make or keep per connection. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
	const char *key = c->tls.key ? c->tls.key : c->tls.cert;
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls.cert) != 1) {
		snprintf(err, errlen, "[tls] cert %s: %s", c->tls.cert, tls_last_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "[tls] key %s: %s", key, tls_last_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "[tls] key %s does not match cert %s", key, c->tls.cert);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * Resumption on the backend leg. Every connection of one client context
 * goes to the same server under the same name (the backend and [tls] are
 * restart-only), so the session tickets the server sends are kept in a
 * small pool per context, and a new backend connection takes one: the
 * handshake skips the certificate (its check was made when the ticket's
 * session was verified), and the connection shares the server's parsed
 * certificate with the others instead of holding a copy. A ticket is used
 * once (RFC 8446, section C.4); the server sends new ones on every
 * connection, resumed or not. When the server declines a ticket, the
 * handshake is a full one, verified as always.
 */
#define TLS_TICKETS 32

struct tls_pool {
	pthread_mutex_t lock;
	SSL_SESSION *sess[TLS_TICKETS]; /* owned: a ring, newest at head - 1 */
	unsigned head, n;
};

static int pool_idx = -1;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	struct tls_pool *p = ptr;
	if (!p)
		return;
	for (unsigned i = 0; i < TLS_TICKETS; i++)
		SSL_SESSION_free(p->sess[i]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void pool_index(void)
{
	pool_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, pool_free);
}

/* OpenSSL: the server sent a session (a TLS 1.3 ticket, or the session of
 * a TLS 1.2 handshake). Returns 1 when the pool keeps the reference. */
static int pool_add(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_pool *p = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pool_idx);
	if (!p || !SSL_SESSION_is_resumable(sess) ||
	    ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) &&
	     SSL_get_verify_result(ssl) != X509_V_OK))
		return 0;
	pthread_mutex_lock(&p->lock);
	SSL_SESSION *old = p->sess[p->head]; /* the oldest, when the ring is full */
	p->sess[p->head] = sess;
	p->head = (p->head + 1) % TLS_TICKETS;
	if (p->n < TLS_TICKETS)
		p->n++;
	pthread_mutex_unlock(&p->lock);
	SSL_SESSION_free(old);
	return 1;
}

/* The newest ticket of ctx's pool, taken out of it (NULL: none). */
static SSL_SESSION *pool_take(SSL_CTX *ctx)
{
	struct tls_pool *p = SSL_CTX_get_ex_data(ctx, pool_idx);
	SSL_SESSION *sess = NULL;
	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	if (p->n > 0) {
		p->head = (p->head + TLS_TICKETS - 1) % TLS_TICKETS;
		sess = p->sess[p->head];
		p->sess[p->head] = NULL;
		p->n--;
	}
	pthread_mutex_unlock(&p->lock);
	return sess;
}

/* Gives ctx its ticket pool; false when out of memory (no resumption). */
static bool pool_attach(SSL_CTX *ctx)
{
	pthread_once(&pool_once, pool_index);
	struct tls_pool *p = calloc(1, sizeof(*p));
	if (pool_idx < 0 || !p) {
		free(p);
		return false;
	}
	pthread_mutex_init(&p->lock, NULL);
	if (SSL_CTX_set_ex_data(ctx, pool_idx, p) != 1) {
		pool_free(NULL, p, NULL, 0, 0, NULL);
		return false;
	}
	SSL_CTX_set_session_cache_mode(ctx,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, pool_add);
	return true;
}

SSL_CTX *tls_client_ctx_new(const struct cfg *c, char *err, size_t errlen)
{
	err[0] = 0;
	if (c->tls.backend == CFG_TLS_BACKEND_OFF)
		return NULL;
	SSL_CTX *ctx = tls_ctx_base(TLS_client_method(), err, errlen);
	if (!ctx)
		return NULL;
	/* MySQL servers drop the connection without close_notify. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (!pool_attach(ctx))
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (c->tls.backend >= CFG_TLS_BACKEND_VERIFY_CA) {
		int ok = c->tls.backend_ca
			     ? SSL_CTX_load_verify_locations(ctx, c->tls.backend_ca, NULL)
			     : SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1) {
			snprintf(err, errlen, "[tls] backend_ca %s: %s",
				 c->tls.backend_ca ? c->tls.backend_ca : "(system)",
				 tls_last_error());
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

SSL *tls_new_accept(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

SSL *tls_new_connect(SSL_CTX *ctx, int fd, const struct cfg *c, const char *host)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1)
		goto fail;
	const char *name = c->tls.backend_name ? c->tls.backend_name : host;
	if (name && name[0]) {
		unsigned char addr[sizeof(struct in6_addr)];
		bool is_ip =
		    inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
		if (!is_ip) /* SNI is for names only */
			SSL_set_tlsext_host_name(ssl, name);
		if (c->tls.backend == CFG_TLS_BACKEND_VERIFY_IDENTITY) {
			int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
				       : SSL_set1_host(ssl, name);
			if (ok != 1)
				goto fail;
		}
	}
	SSL_set_connect_state(ssl);
	SSL_SESSION *sess = pool_take(ctx);
	if (sess) {
		(void)SSL_set_session(ssl, sess); /* a full handshake if it fails */
		SSL_SESSION_free(sess);		  /* ssl holds its own reference */
	}
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

/*
 * SSL_MODE_RELEASE_BUFFERS does not cover every path: a read that finds
 * the socket empty sets up a read buffer, and a post-handshake message (a
 * TLS 1.3 session ticket) sets up a write buffer, 16 KiB and more each,
 * held until the next record. An idle
 * connection must hold neither; OpenSSL refuses to free a buffer that
 * still holds bytes.
 */
void tls_idle(SSL *ssl)
{
	SSL_free_buffers(ssl);
}

/* Maps the outcome of an SSL_* call returning rc. */
static enum tls_io map(SSL *ssl, int rc)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		/* the read that found the socket empty set up a record buffer */
		tls_idle(ssl);
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_IO_EOF;
	case SSL_ERROR_SYSCALL:
		return ERR_peek_error() ? TLS_IO_ERROR : TLS_IO_EOF;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
	case SSL_ERROR_SSL:
		/* The peer closed the socket without close_notify (clients
		 * often do right after COM_QUIT): an end, not a broken leg.
		 * MySQL packets carry their own lengths, so no truncation
		 * goes unnoticed. */
		if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return TLS_IO_EOF;
		return TLS_IO_ERROR;
#endif
	default:
		return TLS_IO_ERROR;
	}
}

enum tls_io tls_handshake(SSL *ssl)
{
	ERR_clear_error();
	int rc = SSL_do_handshake(ssl);
	if (rc == 1) {
		tls_idle(ssl);
		return TLS_IO_OK;
	}
	return map(ssl, rc);
}

enum tls_io tls_read(SSL *ssl, void *buf, size_t n, size_t *got)
{
	ERR_clear_error();
	int rc = SSL_read_ex(ssl, buf, n, got);
	if (rc != 1)
		return map(ssl, rc);
	/* a TLS 1.3 session ticket read on the way sets up a write buffer */
	if (!SSL_has_pending(ssl))
		tls_idle(ssl);
	return TLS_IO_OK;
}

enum tls_io tls_write(SSL *ssl, const void *buf, size_t n, size_t *put)
{
	ERR_clear_error();
	int rc = SSL_write_ex(ssl, buf, n, put);
	return rc == 1 ? TLS_IO_OK : map(ssl, rc);
}
