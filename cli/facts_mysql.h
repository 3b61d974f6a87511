/*
 * Live facts for `ddlgate check --dsn`: runs the rule engine's probes
 * (rules/probe_sql.h) on one read-only libmysqlclient connection with
 * connect, read and write timeouts. Blocking by design: `check` is a batch
 * command, the proxy has its own worker threads (proxy/guard.h).
 */
#ifndef DDLGATE_CLI_FACTS_MYSQL_H
#define DDLGATE_CLI_FACTS_MYSQL_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/sideconn.h"
#include "rules/engine.h"

/*
 * A parsed mysql://user:pass@host:port/db?socket=PATH&tls=MODE&tls_ca=PATH
 * URL. Heap strings. tls takes the [tls] backend words (off, preferred,
 * verify-ca, verify-identity) and defaults to preferred: TLS when the
 * server offers it, as the mariadb client does.
 */
struct facts_dsn {
	char *user; /* owned; NULL = current login */
	char *pass; /* owned; NULL = none */
	char *host; /* owned; NULL = localhost */
	unsigned port;
	char *db;     /* owned; NULL = none */
	char *socket; /* owned; NULL = none */
	enum side_tls tls;
	char *tls_ca; /* owned; NULL = the system store (verify-*) */
};

/* Parses url into d (percent-escapes decoded); false + err on a bad URL.
 * Free with facts_dsn_cleanup() either way. */
bool facts_dsn_parse(const char *url, struct facts_dsn *d, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void facts_dsn_cleanup(struct facts_dsn *d);

struct facts_mysql;

/* Connects (the connection is read-only: SET SESSION TRANSACTION READ
 * ONLY). timeout_ms bounds connect, each read and write, and each probe's
 * execution where the server supports it. NULL + err on failure. */
struct facts_mysql *facts_mysql_connect(const struct facts_dsn *d, long timeout_ms, char *err,
					size_t errlen) __attribute__((warn_unused_result));
void facts_mysql_free(struct facts_mysql *f);
/* [guard] sample_values = mask: answers quote no data values (probe_sql.h). */
void facts_mysql_mask_samples(struct facts_mysql *f, bool mask);
/* The open connection, borrowed (NULL after a lost one): for callers that
 * run their own read-only queries (`audit verify --against mysql://`). */
MYSQL *facts_mysql_conn(struct facts_mysql *f);

/* Runs the probe for q and fills out (status OK or FAILED with why). A
 * connection lost to a timeout is reopened for the next probe. */
void facts_mysql_fetch(struct facts_mysql *f, const struct rules_fact_query *q,
		       struct rules_fact_answer *out);

/* Answers every pending question of c; returns how many were answered. */
size_t facts_mysql_fetch_pending(struct facts_mysql *f, struct rules_fact_cache *c);

#endif
