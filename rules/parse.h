/*
 * DDL parser: a recursive-descent parser over lexer tokens that fills the
 * statement model of rules/stmt.h. Everything it returns lives in the
 * caller's arena.
 */
#ifndef DDLGATE_RULES_PARSE_H
#define DDLGATE_RULES_PARSE_H

#include <stddef.h>

#include "rules/arena.h"
#include "rules/stmt.h"

/* Parses one statement (as produced by split_sql) into out, allocating from
 * a (caller owns the arena). Always sets out->kind; for DDL fills the model
 * of rules/stmt.h, or sets out->unparsed + out->error when the statement
 * cannot be fully modelled. lex_flags: a lex mode (rules/lex.h: LEX_ANSI_QUOTES,
 * LEX_NO_BACKSLASH_ESCAPES, the server and character set bits) or 0 (from the session's sql_mode).
 */
void stmt_parse(struct arena *a, const char *sql, size_t len, unsigned lex_flags, struct stmt *out);

#endif
