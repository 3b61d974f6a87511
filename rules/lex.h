/*
 * MySQL lexer: turns SQL text into tokens that point into the input.
 *
 * The lexer never allocates and never copies: a token is a type plus a
 * pointer/length into the caller's buffer. It knows MySQL's traps: strings
 * with backslash and doubled-quote escapes, charset introducers
 * (_utf8mb4'..', N'..'), X'..' / 0x.., b'..' / 0b.., backtick identifiers
 * with doubled backticks, "..." as identifier under ANSI_QUOTES, the three
 * comment forms ('-- ' only when followed by a control character, a space or
 * end of input), optimizer hints (comments) and executable comments
 * ("/" "*! .. *" "/", "/" "*!50700 ..", MariaDB's "/" "*M! ..", "/" "*M!100100 ..").
 *
 * The lexer reads text the way the connected server will: the lex mode
 * (flags below) carries the session's sql_mode bits, the character set
 * class of character_set_client and the server's version. With a version,
 * an executable comment is SQL only when the server would run it (MariaDB:
 * a 5- or 6-digit version not above its own, and "/" "*!" versions 50700 to
 * 99999 are MySQL's and skipped); a skipped one is an ordinary comment.
 * Without a version (offline checks) every executable comment is SQL.
 * The classifier (classify.c) reads gaps and quoted runs through the same
 * primitives (lex_gap, lex_quoted_end), so the two cannot disagree.
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

/*
 * The lex mode: one unsigned word that every layer passes down unchanged
 * (split, classify, parse, the engine), so the server's reading reaches the
 * lexer without a new parameter at each step.
 *   bits 0-3   flags below
 *   bits 4-7   character set class of character_set_client (enum lex_charset)
 *   bits 8-27  server version as MAJOR*10000 + MINOR*100 + PATCH; 0 = unknown
 *   bit 28     the server is MySQL (not MariaDB)
 */
#define LEX_ANSI_QUOTES 1u   /* "..." is an identifier (sql_mode ANSI_QUOTES) */
#define LEX_KEEP_COMMENTS 2u /* return LEX_COMMENT tokens instead of skipping them */
/* sql_mode NO_BACKSLASH_ESCAPES: a backslash is an ordinary character */
#define LEX_NO_BACKSLASH_ESCAPES 4u

/*
 * How bytes above 0x7F read in the client character set, as far as the
 * server's lexer cares (measured against MariaDB 10.11): a whitespace byte
 * in some single-byte sets, and double-byte sets whose second byte can be
 * 0x5C (a backslash that is no escape) or another ASCII punctuation byte.
 */
enum lex_charset {
	LEX_CS_DEFAULT,	 /* utf8mb4, utf8mb3, ascii, binary and the others: no
			  * high byte is whitespace, multi-byte tails are >= 0x80 */
	LEX_CS_SPACE_A0, /* latin1, latin2, latin5, latin7, cp1250, dec8, greek,
			  * hebrew, armscii8, geostd8: 0xA0 is whitespace */
	LEX_CS_SPACE_FF, /* cp852, cp866, keybcs2: 0xFF is whitespace */
	LEX_CS_GBK,	 /* lead 0x81-0xFE, tail 0x40-0x7E 0x80-0xFE */
	LEX_CS_BIG5,	 /* lead 0xA1-0xF9, tail 0x40-0x7E 0xA1-0xFE */
	LEX_CS_SJIS,	 /* sjis, cp932: lead 0x81-0x9F 0xE0-0xFC, tail 0x40-0x7E 0x80-0xFC */
};
#define LEX_CS_SHIFT 4
#define LEX_CS_MASK (0xFu << LEX_CS_SHIFT)
#define LEX_CHARSET(cs) ((unsigned)(cs) << LEX_CS_SHIFT)
#define LEX_VERSION_SHIFT 8
#define LEX_VERSION_MASK (0xFFFFFu << LEX_VERSION_SHIFT)
#define LEX_SERVER_VERSION(v) ((((unsigned)(v)) & 0xFFFFFu) << LEX_VERSION_SHIFT)
#define LEX_SERVER_MYSQL (1u << 28)
/* The bits that describe how the server reads text (all but KEEP_COMMENTS). */
#define LEX_SERVER_BITS (LEX_CS_MASK | LEX_VERSION_MASK | LEX_SERVER_MYSQL)

/* The class of a character set by its server name ("latin1", "gbk", ...);
 * LEX_CS_DEFAULT for names it does not know. */
enum lex_charset lex_charset_of(const char *name);
/* Mode bits for a server from the version string of its greeting
 * ("10.11.19-MariaDB-0+deb12u1", "5.5.5-10.6.4-MariaDB", "8.0.36"):
 * LEX_SERVER_VERSION(...) plus LEX_SERVER_MYSQL when it is no MariaDB;
 * 0 when the string holds no version. */
unsigned lex_server_mode(const char *version);

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

/*
 * The primitives the lexer and the classifier share (inline, in
 * rules/lex_scan.h). A "gap" is what the
 * server skips between tokens: whitespace, comments, and the markers that
 * open and close an executable comment.
 */
enum lex_gap {
	LEX_GAP_NONE,	    /* s[i] starts a token (or i == len) */
	LEX_GAP_SPACE,	    /* a run of whitespace */
	LEX_GAP_COMMENT,    /* a comment the server ignores (incl. skipped versioned ones) */
	LEX_GAP_UNCLOSED,   /* a C-style comment that runs to the end unclosed */
	LEX_GAP_EXEC_OPEN,  /* the opening marker of an executable comment the server runs */
	LEX_GAP_EXEC_CLOSE, /* the closing marker of that comment */
};
/* Classifies the gap element at s[i] and returns its end; in_exec says
 * whether an executable comment is open (its closing marker is a gap). */
/* size_t lex_gap_at(unsigned mode, const char *s, size_t len, size_t i,
 *                   bool in_exec, enum lex_gap *kind); */
/* End of the quoted run starting at s[i] (a quote, backtick or double
 * quote), len when unterminated (*ok false). backslash: escapes apply
 * (strings outside NO_BACKSLASH_ESCAPES); *saw_backslash is set when a
 * backslash was met (may be NULL). Multi-byte characters of the mode's
 * character set are stepped over whole. */
/* size_t lex_quoted_end(unsigned mode, const char *s, size_t len, size_t i,
 *                       bool backslash, bool *ok, bool *saw_backslash); */
/* Length of the identifier run at s[i] (0 when s[i] cannot start one). */
/* size_t lex_ident_len(unsigned mode, const char *s, size_t len, size_t i); */
/* Stores the next token in tok; returns false (tok->type LEX_EOF) at the end. */
bool lex_next(struct lexer *lx, struct lex_token *tok);

/* Resolves the content of a quoted run (between its quotes, s..e) into
 * out (room e - s + 1, NUL-terminated): a doubled quote q stands for one,
 * and with backslash the server's escapes are resolved (\n \t \r \b \Z
 * \0; \% and \_ keep their backslash; others stand for themselves).
 * Returns the length written; *nul is set when the content holds a NUL
 * byte (a C string ends there: shorter than what the server reads). */
size_t lex_unquote(char q, const char *s, const char *e, bool backslash, char *out, bool *nul);

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
