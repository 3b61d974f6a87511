/* Side connections: ddlgate's own libmysqlclient connections to the backend, one policy. */
#include "proxy/sideconn.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Copies src into dst[n]; false when it does not fit. */
static bool side_copy(char *dst, size_t n, const char *src)
{
	int len = snprintf(dst, n, "%s", src ? src : "");
	return len >= 0 && (size_t)len < n;
}

bool side_conf_from_cfg(struct side_conf *sc, const struct cfg *c, const char *user,
			const char *password, int timeout_ms, char *err, size_t errlen)
{
	static const enum side_tls tls_of[] = {
	    [CFG_TLS_BACKEND_OFF] = SIDE_TLS_OFF,
	    [CFG_TLS_BACKEND_PREFERRED] = SIDE_TLS_PREFERRED,
	    [CFG_TLS_BACKEND_VERIFY_CA] = SIDE_TLS_VERIFY_CA,
	    [CFG_TLS_BACKEND_VERIFY_IDENTITY] = SIDE_TLS_VERIFY_IDENTITY,
	};
	const char *what = NULL;

	memset(sc, 0, sizeof(*sc));
	if (c->proxy.backend_socket) {
		if (!side_copy(sc->socket, sizeof(sc->socket), c->proxy.backend_socket))
			what = "[proxy] backend_socket";
	} else {
		if (!side_copy(sc->host, sizeof(sc->host), c->proxy.backend.host))
			what = "[proxy] backend";
		sc->port = c->proxy.backend.port;
	}
	if (!side_copy(sc->user, sizeof(sc->user), user))
		what = "user";
	if (!side_copy(sc->password, sizeof(sc->password), password))
		what = "password";
	sc->timeout_ms = timeout_ms > 0 ? timeout_ms : SIDE_DEFAULT_TIMEOUT_MS;
	/* An unknown value can only come from a newer cfg.h: the strictest
	 * policy is the safe reading. */
	sc->tls = (unsigned)c->tls.backend < sizeof(tls_of) / sizeof(tls_of[0])
		      ? tls_of[c->tls.backend]
		      : SIDE_TLS_VERIFY_IDENTITY;
	/* The CA only means something when the chain is checked, as on the
	 * relay's backend leg (tls_client_ctx_new). */
	if (sc->tls >= SIDE_TLS_VERIFY_CA &&
	    !side_copy(sc->tls_ca, sizeof(sc->tls_ca), c->tls.backend_ca))
		what = "[tls] backend_ca";
	if (!side_copy(sc->tls_name, sizeof(sc->tls_name), c->tls.backend_name))
		what = "[tls] backend_name";
	if (what) {
		snprintf(err, errlen, "side connection: %s is too long", what);
		return false;
	}
	return true;
}

bool side_tls_parse(const char *word, enum side_tls *out)
{
	static const char *const names[] = {
	    [SIDE_TLS_OFF] = "off",
	    [SIDE_TLS_PREFERRED] = "preferred",
	    [SIDE_TLS_VERIFY_CA] = "verify-ca",
	    [SIDE_TLS_VERIFY_IDENTITY] = "verify-identity",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(word, names[i]) == 0) {
			*out = (enum side_tls)i;
			return true;
		}
	}
	return false;
}

unsigned side_timeout_secs(int timeout_ms)
{
	if (timeout_ms <= 0)
		timeout_ms = SIDE_DEFAULT_TIMEOUT_MS;
	return (unsigned)((timeout_ms + 999) / 1000);
}

/*
 * Sets the TLS options for sc->tls. Connector/C only turns TLS on when asked
 * (use_ssl), falls back to plaintext when the server does not offer it
 * unless the host name is to be verified, and checks the chain only when a
 * CA file or directory is given; side_connect() therefore always names a CA
 * for verify-* and checks afterwards that TLS is really in use. False with
 * err when the policy cannot be expressed.
 */
static bool side_set_tls(MYSQL *m, const struct side_conf *sc, char *err, size_t errlen)
{
	my_bool on = 1, off = 0;

	if (sc->tls == SIDE_TLS_OFF) {
		/* Explicit, so a client library that defaults to TLS stays off. */
		mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &off);
		mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
		return true;
	}
	mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on);
	mysql_options(m, MARIADB_OPT_TLS_VERSION, "TLSv1.2,TLSv1.3"); /* as tls.c */
	if (sc->tls == SIDE_TLS_PREFERRED) {
		mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
		return true;
	}
	if (sc->tls_ca[0]) {
		mysql_options(m, MYSQL_OPT_SSL_CA, sc->tls_ca);
	} else {
		/* The system store, as SSL_CTX_set_default_verify_paths() reads it. */
		const char *dir = getenv(X509_get_default_cert_dir_env());
		const char *file = getenv(X509_get_default_cert_file_env());
		if (!file)
			file = X509_get_default_cert_file();
		if (access(file, R_OK) == 0)
			mysql_options(m, MYSQL_OPT_SSL_CA, file);
		mysql_options(m, MYSQL_OPT_SSL_CAPATH, dir ? dir : X509_get_default_cert_dir());
	}
	/* The library checks the certificate against the host it dials; the
	 * relay checks [tls] backend_name when set, and no name on a unix
	 * socket. A different expected name cannot be handed to the library:
	 * refuse rather than check less than the relay does. */
	bool check_name = sc->tls == SIDE_TLS_VERIFY_IDENTITY && !sc->socket[0];
	if (sc->tls == SIDE_TLS_VERIFY_IDENTITY && sc->tls_name[0] &&
	    (sc->socket[0] || strcmp(sc->tls_name, sc->host) != 0)) {
		snprintf(err, errlen,
			 "verify-identity with [tls] backend_name %s is not supported for "
			 "side connections (the certificate is checked against %s)",
			 sc->tls_name, sc->socket[0] ? "no name on a unix socket" : sc->host);
		return false;
	}
	mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, check_name ? &on : &off);
	return true;
}

MYSQL *side_connect(const struct side_conf *sc, char *err, size_t errlen)
{
	unsigned secs = side_timeout_secs(sc->timeout_ms);
	MYSQL *m = mysql_init(NULL);
	char q[96];

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &secs);
	mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &secs);
	mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (!side_set_tls(m, sc, err, errlen))
		goto fail;
	if (!mysql_real_connect(m, sc->socket[0] || !sc->host[0] ? NULL : sc->host,
				sc->user[0] ? sc->user : NULL, sc->password,
				sc->schema[0] ? sc->schema : NULL, sc->socket[0] ? 0 : sc->port,
				sc->socket[0] ? sc->socket : NULL, 0)) {
		snprintf(err, errlen, "%s", mysql_error(m));
		goto fail;
	}
	/* The library settles for plaintext when the server offers no TLS
	 * and no name is checked: catch it before the first statement. */
	if (sc->tls >= SIDE_TLS_VERIFY_CA && !mysql_get_ssl_cipher(m)) {
		snprintf(err, errlen,
			 "the backend does not offer TLS but [tls] backend requires it");
		goto fail;
	}
	if (sc->read_only && mysql_query(m, "SET SESSION TRANSACTION READ ONLY") != 0) {
		snprintf(err, errlen, "cannot make the session read-only: %s", mysql_error(m));
		goto fail;
	}
	if (sc->statement_ms > 0) {
		/* Each variable exists on only one of MariaDB / MySQL: the other
		 * one's error is expected. */
		snprintf(q, sizeof(q), "SET SESSION max_statement_time = %.3f",
			 sc->statement_ms / 1000.0);
		(void)mysql_query(m, q);
		snprintf(q, sizeof(q), "SET SESSION max_execution_time = %d", sc->statement_ms);
		(void)mysql_query(m, q);
	}
	return m;
fail:
	mysql_close(m);
	return NULL;
}
