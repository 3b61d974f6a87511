/*
 * TLS for both legs of a session: OpenSSL contexts built from [tls] and
 * non-blocking I/O helpers that map OpenSSL's error codes to what the
 * relay's event loop needs (wait for readable, wait for writable, done).
 */
#ifndef DDLGATE_PROXY_TLS_H
#define DDLGATE_PROXY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "config/cfg.h"

enum tls_io {
	TLS_IO_OK,	   /* progress was made (or the handshake finished) */
	TLS_IO_WANT_READ,  /* retry when the socket is readable */
	TLS_IO_WANT_WRITE, /* retry when the socket is writable */
	TLS_IO_EOF,	   /* the peer closed the TLS session */
	TLS_IO_ERROR,	   /* broken: close the leg */
};

/*
 * The client leg's context: presents [tls] cert/key. Returns NULL with
 * err empty when no certificate is configured (TLS to clients is then not
 * offered), NULL with err set when the files are unusable.
 */
SSL_CTX *tls_server_ctx_new(const struct cfg *c, char *err, size_t errlen);

/*
 * The backend leg's context: verifies the server with [tls] backend_ca for
 * verify-ca / verify-identity. Returns NULL with err set on failure, NULL
 * with err empty when [tls] backend = off.
 */
SSL_CTX *tls_client_ctx_new(const struct cfg *c, char *err, size_t errlen);

/* A new SSL object on fd for the client leg (accept) or the backend leg
 * (connect; host is checked for verify-identity and sent as SNI). The
 * caller owns the result (SSL_free). */
SSL *tls_new_accept(SSL_CTX *ctx, int fd);
SSL *tls_new_connect(SSL_CTX *ctx, int fd, const struct cfg *c, const char *host);

/* Drives the handshake one step. */
enum tls_io tls_handshake(SSL *ssl);

/* Reads up to n bytes into buf; *got is set on TLS_IO_OK. */
enum tls_io tls_read(SSL *ssl, void *buf, size_t n, size_t *got);

/* Writes up to n bytes from buf; *put is set on TLS_IO_OK. */
enum tls_io tls_write(SSL *ssl, const void *buf, size_t n, size_t *put);

/* Frees the record buffers unless they hold bytes: an idle connection
 * keeps none (called by the read, write and handshake paths). */
void tls_idle(SSL *ssl);

/* The last OpenSSL error as text (thread-local buffer) and clears the queue. */
const char *tls_last_error(void);

#endif
