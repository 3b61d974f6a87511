/*
 * Secret redaction and normalisation of SQL text for the audit log.
 *
 * Pure functions over the lexer's tokens: no I/O, no allocation outside the
 * caller's arena. redact_sql() keeps every byte of the statement except the
 * secret literals, which become '<redacted>'; redact_normalise() gives the
 * literal-free text the audit fingerprint is computed from.
 */
#ifndef DDLGATE_RULES_REDACT_H
#define DDLGATE_RULES_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/arena.h"

/* What replaces a secret literal (quotes included). */
#define REDACT_MARK "'<redacted>'"

/*
 * Copies sql[0..len) into a, replacing the password / key literals of
 * CREATE / ALTER USER ... IDENTIFIED [WITH plugin] BY|AS '..', GRANT ...
 * IDENTIFIED BY '..', SET PASSWORD ... = '..' | PASSWORD('..'), CREATE /
 * ALTER SERVER ... OPTIONS (PASSWORD '..'), CHANGE MASTER TO
 * MASTER_PASSWORD = '..', CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD =
 * '..', and the secret arguments of PASSWORD(), OLD_PASSWORD(),
 * AES_ENCRYPT/AES_DECRYPT(x, key), ENCRYPT(x, salt), DES_ENCRYPT/DES_DECRYPT(x,
 * key), ENCODE/DECODE(x, key) with REDACT_MARK; SET of a *password* or
 * *_auth variable likewise; in a 'scheme://user:pw@host/..' string
 * (FEDERATED / CONNECT CONNECTION = or COMMENT =, or anywhere) only the
 * password becomes <redacted>. A secret literal followed by adjacent
 * literals ('pass' 'word', one string to the server) loses every part.
 * Dynamic SQL (PREPARE .. FROM, EXECUTE IMMEDIATE, SET @var = ..) whose
 * text mentions IDENTIFIED, PASSWORD or a key function in any case loses
 * every literal, since the password may be built from any of them
 * (CONCAT(.., QUOTE('pw'))). Secrets inside executable comments are found
 * too. The result is NUL-terminated; *outlen (if not
 * NULL) gets its length. *count (if not NULL) gets the number of literals
 * replaced.
 */
char *redact_sql(struct arena *a, const char *sql, size_t len, size_t *outlen, size_t *count);

/*
 * The ? placeholders of a prepared statement that stand where redact_sql()
 * would redact a literal (IDENTIFIED BY ?, AES_ENCRYPT(x, ?), ...): sets
 * secret[k] for the k-th placeholder (from 0), k < n, clears the others.
 * Returns how many are secret. The values bound to them at execute must
 * not be shown.
 */
size_t redact_secret_params(struct arena *a, const char *sql, size_t len, bool *secret, size_t n);

/*
 * The normalised form of a statement, for fingerprints: comments dropped
 * (executable comments' content kept), runs of whitespace collapsed to one
 * space, every literal (string, number, hex, bit) replaced by ?, unquoted
 * words in lower case, quoted identifiers kept as written, and a list of
 * literals "(?, ?, ...)" collapsed to "(?+)". A trailing ';' is dropped.
 */
char *redact_normalise(struct arena *a, const char *sql, size_t len, size_t *outlen);

/* redact_sql() and redact_normalise() of the same text from one pass of the
 * lexer (the audit writer needs both for every record). */
void redact_both(struct arena *a, const char *sql, size_t len, char **red, size_t *red_len,
		 char **norm, size_t *norm_len);

#endif
