/*
 * MySQL lexer: turns SQL text into tokens that point into the input.
 *
 * The lexer never allocates and never copies: a token is a type plus a
 * pointer/length into the caller's buffer. It knows MySQL's traps: strings
 * with backslash and doubled-quote escapes, charset introducers
 * (_utf8mb4'..', N'..'), X'..' / 0x.., b'..' / 0b.., backtick identifiers
 * with doubled backticks, "..." as identifier under ANSI_QUOTES, the three
 * comment forms ('-- ' only when followed by whitespace, a control character
 * or end of input), optimizer hints (comments) and executable comments
 * ("/" "*! .. *" "/", "/" "*!50700 ..", MariaDB's "/" "*M! ..", "/" "*M!100100 ..")
 * whose content is lexed as SQL whatever the version (conservative for a
 * guard), the closing marker dropped.
 */
#ifndef DDLGATE_RULES_LEX_H
#define DDLGATE_RULES_LEX_H

#include <stdbool.h>
#include <stddef.h>

enum lex_type {
	LEX_EOF,
	LEX_WORD,	  /* identifier or keyword, unquoted */
	LEX_QUOTED_IDENT, /* `x` or "x" under ANSI_QUOTES; p/n include the quotes */
	LEX_STRING, /* '..' or ".." incl. _charset'..', N'..'; p/n include prefix and quotes */
	LEX_NUMBER,
	LEX_HEX,      /* X'..', 0x.. */
	LEX_BIT,      /* b'..', 0b.. */
	LEX_VARIABLE, /* @x, @@x, @`x`, @'x', @@session.x */
	LEX_PARAM,    /* ? */
	LEX_OP,	      /* punctuation and operators, ';' included */
	LEX_COMMENT,  /* # .., -- .., C-style and hints (text kept for directives) */
	LEX_ERROR,    /* unterminated string/comment/quoted identifier: runs to the end */
};

#define LEX_ANSI_QUOTES 1u   /* "..." is an identifier (sql_mode ANSI_QUOTES) */
#define LEX_KEEP_COMMENTS 2u /* return LEX_COMMENT tokens instead of skipping them */
/* sql_mode NO_BACKSLASH_ESCAPES: a backslash is an ordinary character */
#define LEX_NO_BACKSLASH_ESCAPES 4u

struct lex_token {
	enum lex_type type;
	const char *p; /* borrowed: points into the lexed buffer */
	size_t n;
	unsigned line; /* 1-based line of the token's first byte */
};

/* Resumable state over one buffer; no allocation. Fields are private. */
struct lexer {
	const char *sql; /* borrowed */
	size_t len;
	size_t pos;
	unsigned line;
	unsigned flags;
	bool in_exec;	    /* inside an executable comment: its closing marker is dropped */
	enum lex_type last; /* type of the previous non-comment token */
	size_t exec_open;   /* offset of the last executable-comment opening marker */
	size_t exec_close;  /* offset past the last executable-comment closing marker */
};

void lex_init(struct lexer *lx, const char *sql, size_t len, unsigned flags);
/* Stores the next token in tok; returns false (tok->type LEX_EOF) at the end. */
bool lex_next(struct lexer *lx, struct lex_token *tok);

/* True when tok is an unquoted word equal to kw (ASCII, case-insensitive). */
bool lex_is_word(const struct lex_token *tok, const char *kw);
/* True when needle occurs in s[0..len) in any letter case: a plain byte
 * scan, for callers that want to skip lexing text that cannot matter. */
bool lex_contains_ci(const char *s, size_t len, const char *needle);
/* True when tok is the operator op (exact). */
bool lex_is_op(const struct lex_token *tok, const char *op);
/* Byte offset of tok in the lexed buffer. */
static inline size_t lex_offset(const struct lexer *lx, const struct lex_token *tok)
{
	return (size_t)(tok->p - lx->sql);
}

#endif
