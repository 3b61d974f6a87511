/*
 * Side connections: ddlgate's own client connections to the backend.
 *
 * Besides the relayed sessions, ddlgate talks to the server itself: guard
 * probes (guard.c), the cluster lock (cluster.c), the audit mirror
 * (audit_mirror.c) and `ddlgate check --dsn` (cli/facts_mysql.c). They all open
 * their blocking libmysqlclient connection here, from one small settings
 * struct, so that they share one TLS policy, one set of timeouts and one
 * character set:
 *
 *   side_conf_from_cfg()    backend address + [tls] backend policy from
 *                           the configuration, account given by the caller
 *   side_connect()          MYSQL * with every option applied, or NULL and
 *                           the reason
 *
 * TLS follows [tls] backend exactly as the relay's backend leg does (see
 * session_handshake.c and tls.c): off = plaintext; preferred = TLS when the server offers it;
 * verify-ca = TLS required, certificate chain checked against backend_ca
 * (or the system store); verify-identity = verify-ca plus the backend host
 * checked against the certificate (not on a unix socket, as on the relay).
 * A side connection is never plaintext where the relay would insist on TLS.
 *
 * The settings are plain arrays, so a struct side_conf is copied by value
 * (a worker takes a snapshot under its lock) and owns nothing.
 */
#ifndef DDLGATE_PROXY_SIDECONN_H
#define DDLGATE_PROXY_SIDECONN_H

#include <stdbool.h>
#include <stddef.h>

#include <mysql.h>

#include "config/cfg.h"

/* Same order and meaning as enum cfg_tls_backend. */
enum side_tls {
	SIDE_TLS_OFF,
	SIDE_TLS_PREFERRED,
	SIDE_TLS_VERIFY_CA,
	SIDE_TLS_VERIFY_IDENTITY,
};

/* Used when a caller leaves timeout_ms at 0. */
#define SIDE_DEFAULT_TIMEOUT_MS 2000

struct side_conf {
	char host[256];	  /* TCP host; "" = localhost; unused with socket */
	unsigned port;	  /* 0 = the library's default (3306) */
	char socket[256]; /* unix socket path; "" = TCP */
	char user[128];	  /* "" = the library's default (current login) */
	char password[256];
	char schema[256]; /* default schema; "" = none */
	/* Connect, each read and each write; the client library counts whole
	 * seconds, so it gets timeout_ms rounded up. */
	int timeout_ms;
	/* > 0: the server aborts any statement running longer (MariaDB
	 * max_statement_time, MySQL max_execution_time for SELECT); 0 = no
	 * bound, for writers such as the audit mirror. */
	int statement_ms;
	bool read_only; /* SET SESSION TRANSACTION READ ONLY (probes) */
	enum side_tls tls;
	char tls_ca[1024];  /* verify-*: CA file; "" = the system store */
	char tls_name[256]; /* verify-identity: expected name; "" = host */
};

/*
 * Fills sc for an account of ddlgate's own on the configured backend:
 * [proxy] backend or backend_socket, [tls] backend / backend_ca /
 * backend_name, the given user and password (NULL = empty) and timeout_ms
 * (<= 0: SIDE_DEFAULT_TIMEOUT_MS). statement_ms starts at 0 and read_only
 * false: the caller sets them for its use. Pure: no I/O. False with err
 * when a value does not fit (sc is then unusable).
 */
bool side_conf_from_cfg(struct side_conf *sc, const struct cfg *c, const char *user,
			const char *password, int timeout_ms, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* "off", "preferred", "verify-ca", "verify-identity" (the [tls] words)
 * into *out; false for anything else. */
bool side_tls_parse(const char *word, enum side_tls *out) __attribute__((warn_unused_result));

/* The whole seconds the client library gets for timeout_ms (at least 1). */
unsigned side_timeout_secs(int timeout_ms);

/*
 * Opens a blocking connection as sc says: utf8mb4, timeouts, TLS policy,
 * then the session settings (read-only, statement bound). Returns the
 * connection, owned by the caller (mysql_close), or NULL with the reason
 * in err. The calling thread must be one where the client library may run
 * (mysql_library_init() was called once at start-up).
 */
MYSQL *side_connect(const struct side_conf *sc, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
