/*
 * Fast statement classifier: the per-statement hot path of the proxy.
 * Reads the first keyword (and a few more when needed) to tell DDL from
 * DML, DCL, TCL and the rest, without allocating or copying.
 */
#ifndef DDLGATE_RULES_CLASSIFY_H
#define DDLGATE_RULES_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/stmt.h"

struct classify_info {
	const char *keyword; /* first keyword, pointer into input; NULL if none */
	size_t keyword_len;
	bool has_ddlgate_comment; /* a comment containing "ddlgate:" was seen before/inside */
	bool multi;		  /* a ';' followed by more SQL (under either reading below) */
	bool mode_dependent;	  /* a backslash inside a quoted string: where the string ends
				   * depends on sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES); multi
				   * and has_ddlgate_comment then cover both readings, and a caller
				   * that splits should split the way the session's mode says, or
				   * both ways when it does not know the mode */
};

/* The DML hot path: no allocation, stops as early as possible. When in
 * doubt about a statement that might change the schema, says STMT_DDL so
 * the full parser decides. info may be NULL.
 *
 * Reading the kind: PREPARE, EXECUTE IMMEDIATE, BINLOG, BEGIN NOT ATOMIC and
 * MariaDB's top-level IF / CASE / LOOP / WHILE / REPEAT / label: are DDL
 * candidates; SET STATEMENT ... FOR s takes the kind of s. multi is also
 * true for a stored program whose body holds ';': split_sql keeps such a
 * body whole, so a caller that splits on multi stays correct. */
enum stmt_kind classify_sql(const char *sql, size_t len, struct classify_info *info);
/* The same in a lex mode (lex.h: sql_mode bits, character set class and
 * server version), so the classifier reads the text as the connected
 * server will; classify_sql() is mode 0 (defaults, version unknown). */
enum stmt_kind classify_sql_mode(const char *sql, size_t len, unsigned mode,
				 struct classify_info *info);

/*
 * True when the text reads as different statements under a session state
 * the connection might have (NO_BACKSLASH_ESCAPES, ANSI_QUOTES, the class
 * of character_set_client) than under mode, and one of those readings
 * changes the schema or accounts (DDL or DCL). ddlgate cannot be sure how
 * the server will read such text, so it treats it as DDL of unknown content.
 * Costs nothing beyond one byte scan unless the text holds a backslash, a
 * double quote or a byte above 0x7F.
 */
bool classify_ambiguous(const char *sql, size_t len, unsigned mode);

#endif
