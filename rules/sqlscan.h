/*
 * Small scanners over raw SQL text for what the policy must track between
 * statements without a full parse: SET lock_wait_timeout, SET sql_mode
 * (does "..." quote identifiers?), USE <schema>, and whether a first
 * keyword writes rows.
 *
 * Pure: no I/O, no allocation; the text is borrowed for the call only.
 */
#ifndef DDLGATE_RULES_SQLSCAN_H
#define DDLGATE_RULES_SQLSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the keyword kw (n bytes, not NUL-terminated; NULL = none) is want,
 * ignoring case. */
bool sqlscan_kw(const char *kw, size_t n, const char *want);

/* Whether a statement starting with keyword kw writes rows (INSERT, UPDATE,
 * DELETE, REPLACE, LOAD, CALL, MERGE). */
bool sqlscan_is_write_kw(const char *kw, size_t n);

/* What "SET [SESSION|LOCAL] lock_wait_timeout = N" (also @@session.,
 * @@local., @@ forms and lists of assignments) does to the session. */
#define SQLSCAN_LOCK_WAIT_NONE (-2L)	/* not a SET of the session value */
#define SQLSCAN_LOCK_WAIT_DEFAULT (-1L) /* SET ... = DEFAULT */
/* Returns one of the above, or the new value in seconds. */
long sqlscan_lock_wait(const char *sql, size_t len);

/*
 * What "SET [SESSION] sql_mode = '...'" (and @@sql_mode, @@session. forms)
 * does to ANSI_QUOTES: -1 when the statement does not set the session's
 * sql_mode to something known, 1 when the new mode has ANSI_QUOTES
 * (directly or through a combination mode such as ANSI or ORACLE), 0 when
 * it has not. An expression (CONCAT(@@sql_mode, ...)) keeps the current
 * mode unless it names ANSI_QUOTES.
 */
int sqlscan_sql_mode(const char *sql, size_t len);

/* The schema "USE <name>" switches to, unquoted, into out (outlen bytes,
 * NUL-terminated). False when sql is not a USE of a plain or quoted name. */
bool sqlscan_use_schema(const char *sql, size_t len, char *out, size_t outlen);

/*
 * The connection "KILL [HARD | SOFT] [CONNECTION] <id>" ends: the server's
 * thread id, into *id. False for anything else: KILL QUERY, KILL QUERY ID,
 * KILL USER, an id that is no plain decimal number or does not fit 32 bits
 * (server thread ids in the protocol's greeting are 32-bit), or more text
 * after the statement than a closing ';'.
 */
bool sqlscan_kill_connection(const char *sql, size_t len, unsigned long *id);

#endif
