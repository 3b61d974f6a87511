/*
 * Statement splitter: cuts multi-statement SQL text at top-level ';' (or
 * the client-side DELIMITER in migration files), never inside strings,
 * comments, or compound BEGIN ... END bodies of stored programs and
 * MariaDB's anonymous BEGIN NOT ATOMIC blocks.
 */
#ifndef DDLGATE_RULES_SPLIT_H
#define DDLGATE_RULES_SPLIT_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/lex.h"

/* Statement text, trimmed, without the delimiter; line of its first byte.
 * A comment just before a statement is part of that statement. sql borrows
 * from the caller's buffer. */
struct split_piece {
	const char *sql;
	size_t len;
	unsigned line;
};

/* The flags are a lex mode (lex.h: sql_mode bits, character set class,
 * server version), so the splitter reads the text as the server will,
 * plus SPLIT_FILE. */
/* "..." is an identifier (sql_mode ANSI_QUOTES) */
#define SPLIT_ANSI_QUOTES LEX_ANSI_QUOTES
/* sql_mode NO_BACKSLASH_ESCAPES */
#define SPLIT_NO_BACKSLASH_ESCAPES LEX_NO_BACKSLASH_ESCAPES
/* honour client-side DELIMITER lines (mysql client, sqitch, Flyway files) */
#define SPLIT_FILE 8u

typedef bool (*split_fn)(const struct split_piece *piece, void *arg); /* return false to stop */

/* Calls fn for each statement; false when the text ends inside a string,
 * comment or compound body (the rest is still passed as a last piece). */
bool split_sql(const char *sql, size_t len, unsigned flags, split_fn fn, void *arg);

#endif
