/* Unit tests for proxy/tls.c: an idle TLS leg keeps no record buffers.
 *
 * ddlgate's backend leg is an OpenSSL client of a server that sends TLS 1.3
 * session tickets after the handshake (MariaDB does). Every OpenSSL
 * allocation is counted here, and the footprint of ddlgate's SSL object is
 * measured as what SSL_free gives back once the leg is idle: with a 16 KiB
 * read or write buffer left over, an idle connection costs twice as much. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config/cfg.h"
#include "proxy/tls.h"

/* ---- live bytes of every OpenSSL allocation ---- */

struct hdr {
	size_t n;
	max_align_t pad;
};
static size_t live;

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	struct hdr *h = malloc(sizeof(*h) + n);
	if (!h)
		return NULL;
	h->n = n;
	live += n;
	return h + 1;
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!p)
		return;
	struct hdr *h = (struct hdr *)p - 1;
	live -= h->n;
	free(h);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	if (!p)
		return count_malloc(n, file, line);
	struct hdr *h = (struct hdr *)p - 1;
	size_t old = h->n;
	struct hdr *q = realloc(h, sizeof(*q) + n);
	if (!q)
		return NULL;
	live = live - old + n;
	q->n = n;
	return q + 1;
}

/* ---- a server like MariaDB's: self-signed, tickets on ---- */

static SSL_CTX *server_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	EVP_PKEY *key = EVP_EC_gen("P-256");
	assert_non_null(key);
	X509 *x = X509_new();
	assert_non_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"db", -1, -1,
				   0);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
}

struct pair {
	SSL *server;
	SSL *client; /* ddlgate's backend leg */
	int fds[2];
};

static void pair_open(struct pair *p, SSL_CTX *sctx, SSL_CTX *cctx, const struct cfg *c)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fds), 0);
	p->server = SSL_new(sctx);
	assert_non_null(p->server);
	SSL_set_fd(p->server, p->fds[0]);
	SSL_set_accept_state(p->server);
	p->client = tls_new_connect(cctx, p->fds[1], c, "127.0.0.1");
	assert_non_null(p->client);
	int s = 0;
	enum tls_io t = TLS_IO_WANT_READ;
	for (int i = 0; i < 100 && (s != 1 || t != TLS_IO_OK); i++) {
		if (s != 1)
			s = SSL_do_handshake(p->server);
		if (t != TLS_IO_OK)
			t = tls_handshake(p->client);
	}
	assert_int_equal(s, 1);
	assert_int_equal(t, TLS_IO_OK);
}

/* Reads on the client until the socket is empty; returns the bytes read. */
static size_t client_drain(struct pair *p)
{
	char buf[4096];
	size_t total = 0, got;
	enum tls_io t;
	while ((t = tls_read(p->client, buf, sizeof(buf), &got)) == TLS_IO_OK)
		total += got;
	assert_int_equal(t, TLS_IO_WANT_READ);
	return total;
}

/* What freeing the client's SSL object gives back. */
static size_t client_footprint(struct pair *p)
{
	size_t before = live;
	SSL_free(p->client);
	p->client = NULL;
	return before - live;
}

static void pair_close(struct pair *p)
{
	if (p->client)
		SSL_free(p->client);
	SSL_free(p->server);
	close(p->fds[0]);
	close(p->fds[1]);
}

/* Far below one record buffer on top of the session's own state. */
#define IDLE_MAX (24 * 1024)

/* ddlgate's backend context (as `[tls] backend = preferred`) and a server,
 * connected and past the handshake, the server's greeting read. */
struct fixture {
	struct cfg c;
	SSL_CTX *cctx, *sctx;
	struct pair p;
};

static void fixture_open(struct fixture *f)
{
	memset(&f->c, 0, sizeof(f->c));
	f->c.tls.backend = CFG_TLS_BACKEND_PREFERRED;
	char err[256];
	f->cctx = tls_client_ctx_new(&f->c, err, sizeof(err));
	assert_non_null(f->cctx);
	f->sctx = server_ctx();
	pair_open(&f->p, f->sctx, f->cctx, &f->c);
	/* the greeting, with the session tickets ahead of it */
	size_t put;
	assert_int_equal(SSL_write_ex(f->p.server, "greeting", 8, &put), 1);
	assert_int_equal(client_drain(&f->p), 8);
}

static void fixture_close(struct fixture *f)
{
	pair_close(&f->p);
	SSL_CTX_free(f->sctx);
	SSL_CTX_free(f->cctx);
}

static void test_idle_after_answer(void **state)
{
	(void)state;
	struct fixture f;
	fixture_open(&f);
	size_t idle = client_footprint(&f.p);
	print_message("idle backend leg after a read: %zu bytes\n", idle);
	assert_true(idle < IDLE_MAX);
	fixture_close(&f);
}

static void test_idle_after_command(void **state)
{
	(void)state;
	struct fixture f;
	fixture_open(&f);
	/* a command out, its answer in, then nothing */
	size_t put, got;
	char buf[64];
	assert_int_equal(tls_write(f.p.client, "select 1", 8, &put), TLS_IO_OK);
	assert_int_equal(put, 8);
	assert_int_equal(SSL_read_ex(f.p.server, buf, sizeof(buf), &got), 1);
	assert_int_equal(SSL_write_ex(f.p.server, "1", 1, &put), 1);
	assert_int_equal(client_drain(&f.p), 1);
	size_t idle = client_footprint(&f.p);
	print_message("idle backend leg after a command: %zu bytes\n", idle);
	assert_true(idle < IDLE_MAX);
	fixture_close(&f);
}

/* A second connection of the same context resumes a session from the
 * server's tickets: it shares the server's certificate with the others,
 * so an idle resumed leg costs less than the first, full one. */
static void test_resumed_leg_costs_less(void **state)
{
	(void)state;
	struct fixture f;
	fixture_open(&f);
	assert_false(SSL_session_reused(f.p.client));
	struct pair second;
	pair_open(&second, f.sctx, f.cctx, &f.c);
	assert_true(SSL_session_reused(second.client));
	size_t put;
	assert_int_equal(SSL_write_ex(second.server, "greeting", 8, &put), 1);
	assert_int_equal(client_drain(&second), 8);
	size_t full = client_footprint(&f.p);
	size_t resumed = client_footprint(&second);
	print_message("idle backend leg: full handshake %zu bytes, resumed %zu bytes\n", full,
		      resumed);
	assert_true(resumed < full);
	pair_close(&second);
	fixture_close(&f);
}

int main(void)
{
	/* before OpenSSL allocates anything */
	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free)) {
		fprintf(stderr, "cannot count OpenSSL's allocations\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_after_answer),
	    cmocka_unit_test(test_idle_after_command),
	    cmocka_unit_test(test_resumed_leg_costs_less),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
