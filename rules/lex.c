/* MySQL lexer: tokens as pointer/length into the caller's buffer, no allocation. */
#include "rules/lex.h"

#include <string.h>
#include <strings.h>

/* Identifier bytes: ASCII letters, digits, '_', '$' and every non-ASCII byte
 * (MySQL accepts UTF-8 letters in unquoted identifiers). */
static inline bool is_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static inline bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void lex_init(struct lexer *lx, const char *sql, size_t len, unsigned flags)
{
	lx->sql = sql;
	lx->len = len;
	lx->pos = 0;
	lx->line = 1;
	lx->flags = flags;
	lx->in_exec = false;
	lx->last = LEX_EOF;
	lx->exec_open = (size_t)-1;
	lx->exec_close = 0;
}

/* Advances to end (exclusive), counting newlines. */
static void advance(struct lexer *lx, size_t end)
{
	const char *s = lx->sql;
	for (size_t i = lx->pos; i < end; i++)
		if (s[i] == '\n')
			lx->line++;
	lx->pos = end;
}

/* Position just past the quoted run starting at i (s[i] is the quote), or
 * len when it is unterminated (*ok false). Backslash escapes apply to
 * strings, not to identifiers; a doubled quote is always an escaped quote. */
static size_t scan_quoted(const char *s, size_t len, size_t i, bool backslash, bool *ok)
{
	char q = s[i++];
	while (i < len) {
		char c = s[i];
		if (c == '\\' && backslash) {
			i += 2;
			continue;
		}
		if (c == q) {
			if (i + 1 < len && s[i + 1] == q) {
				i += 2;
				continue;
			}
			*ok = true;
			return i + 1;
		}
		i++;
	}
	*ok = false;
	return len;
}

/*
 * Skips whitespace and, unless LEX_KEEP_COMMENTS, comments; also swallows the
 * closing marker of an executable comment and opens new ones. Returns with
 * lx->pos at the start of the next token (or at the end).
 */
static void skip_space(struct lexer *lx)
{
	const char *s = lx->sql;
	size_t len = lx->len, i = lx->pos;
	for (;;) {
		while (i < len && is_space((unsigned char)s[i])) {
			if (s[i] == '\n')
				lx->line++;
			i++;
		}
		if (i + 1 < len && lx->in_exec && s[i] == '*' && s[i + 1] == '/') {
			lx->in_exec = false;
			i += 2;
			lx->exec_close = i;
			continue;
		}
		if (i + 2 < len && s[i] == '/' && s[i + 1] == '*' &&
		    (s[i + 2] == '!' || (s[i + 2] == 'M' && i + 3 < len && s[i + 3] == '!')) &&
		    !lx->in_exec) {
			/* Executable comment: lex its content as SQL, whatever the version. */
			lx->exec_open = i;
			i += s[i + 2] == '!' ? 3 : 4;
			while (i < len && is_digit((unsigned char)s[i]))
				i++;
			lx->in_exec = true;
			continue;
		}
		break;
	}
	lx->pos = i;
}

/* Position just past the comment starting at i, or 0 when none starts there.
 * *ok is false for an unterminated C-style comment. */
static size_t comment_end(const struct lexer *lx, size_t i, bool *ok)
{
	const char *s = lx->sql;
	size_t len = lx->len;
	*ok = true;
	if (s[i] == '#' || (s[i] == '-' && i + 1 < len && s[i + 1] == '-' &&
			    (i + 2 == len || (unsigned char)s[i + 2] <= ' '))) {
		const char *nl = memchr(s + i, '\n', len - i);
		return nl ? (size_t)(nl - s) : len;
	}
	if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
		/* Executable comments were opened by skip_space; this is a plain
		 * comment or an optimizer hint. */
		for (size_t j = i + 2; j + 1 < len; j++)
			if (s[j] == '*' && s[j + 1] == '/')
				return j + 2;
		*ok = false;
		return len;
	}
	return 0;
}

static const char *const ops3[] = {"<=>", "->>"};
static const char *const ops2[] = {"<=", ">=", "<>", "!=", "<<", ">>", "&&", "||", ":=", "->"};

/* Length of the operator at s[i..len): longest match, at least 1. */
static size_t op_len(const char *s, size_t len, size_t i)
{
	if (i + 3 <= len)
		for (size_t k = 0; k < sizeof(ops3) / sizeof(ops3[0]); k++)
			if (memcmp(s + i, ops3[k], 3) == 0)
				return 3;
	if (i + 2 <= len)
		for (size_t k = 0; k < sizeof(ops2) / sizeof(ops2[0]); k++)
			if (memcmp(s + i, ops2[k], 2) == 0)
				return 2;
	return 1;
}

/*
 * Scans the token starting at i (not a comment, not whitespace) and returns
 * its end; sets *type. Handles prefixed literals (X'', b'', N'', _cs''),
 * numbers vs identifiers that start with digits, variables and operators.
 */
static size_t scan_token(struct lexer *lx, size_t i, enum lex_type *type)
{
	const char *s = lx->sql;
	size_t len = lx->len;
	unsigned char c = (unsigned char)s[i];
	bool ok;

	bool bs = !(lx->flags & LEX_NO_BACKSLASH_ESCAPES);
	if (c == '\'' || (c == '"' && !(lx->flags & LEX_ANSI_QUOTES))) {
		size_t e = scan_quoted(s, len, i, bs, &ok);
		*type = ok ? LEX_STRING : LEX_ERROR;
		return e;
	}
	if (c == '`' || c == '"') {
		size_t e = scan_quoted(s, len, i, false, &ok);
		*type = ok ? LEX_QUOTED_IDENT : LEX_ERROR;
		return e;
	}
	/* X'..', B'..', N'..' */
	if (i + 1 < len && s[i + 1] == '\'' &&
	    (c == 'x' || c == 'X' || c == 'b' || c == 'B' || c == 'n' || c == 'N')) {
		size_t e = scan_quoted(s, len, i + 1, bs && (c == 'n' || c == 'N'), &ok);
		*type = !ok			 ? LEX_ERROR
			: (c == 'x' || c == 'X') ? LEX_HEX
			: (c == 'b' || c == 'B') ? LEX_BIT
						 : LEX_STRING;
		return e;
	}
	if (is_digit(c)) {
		size_t j = i;
		if (c == '0' && i + 2 < len && (s[i + 1] == 'x' || s[i + 1] == 'b')) {
			bool hex = s[i + 1] == 'x';
			j = i + 2;
			while (j < len &&
			       (hex ? is_hex((unsigned char)s[j]) : (s[j] == '0' || s[j] == '1')))
				j++;
			if (j > i + 2 && (j == len || !is_ident((unsigned char)s[j]))) {
				*type = hex ? LEX_HEX : LEX_BIT;
				return j;
			}
			j = i;
		}
		while (j < len && is_digit((unsigned char)s[j]))
			j++;
		bool number = true;
		if (j < len && s[j] == '.') {
			j++;
			while (j < len && is_digit((unsigned char)s[j]))
				j++;
		}
		if (j < len && (s[j] == 'e' || s[j] == 'E')) {
			size_t k = j + 1;
			if (k < len && (s[k] == '+' || s[k] == '-'))
				k++;
			if (k < len && is_digit((unsigned char)s[k])) {
				j = k;
				while (j < len && is_digit((unsigned char)s[j]))
					j++;
			}
		}
		if (j < len && is_ident((unsigned char)s[j])) {
			/* 1abc, 2e: an identifier that starts with digits. */
			number = false;
			j = i;
			while (j < len && is_ident((unsigned char)s[j]))
				j++;
		}
		*type = number ? LEX_NUMBER : LEX_WORD;
		return j;
	}
	if (c == '.' && i + 1 < len && is_digit((unsigned char)s[i + 1]) && lx->last != LEX_WORD &&
	    lx->last != LEX_QUOTED_IDENT) {
		size_t j = i + 1;
		while (j < len && is_digit((unsigned char)s[j]))
			j++;
		if (j < len && (s[j] == 'e' || s[j] == 'E')) {
			size_t k = j + 1;
			if (k < len && (s[k] == '+' || s[k] == '-'))
				k++;
			if (k < len && is_digit((unsigned char)s[k])) {
				j = k;
				while (j < len && is_digit((unsigned char)s[j]))
					j++;
			}
		}
		*type = LEX_NUMBER;
		return j;
	}
	if (is_ident(c)) {
		size_t j = i;
		while (j < len && is_ident((unsigned char)s[j]))
			j++;
		/* _utf8mb4'..' charset introducer glued to a string */
		if (c == '_' && j < len && (s[j] == '\'' || s[j] == '"') &&
		    !(s[j] == '"' && (lx->flags & LEX_ANSI_QUOTES))) {
			size_t e = scan_quoted(s, len, j, bs, &ok);
			*type = ok ? LEX_STRING : LEX_ERROR;
			return e;
		}
		*type = LEX_WORD;
		return j;
	}
	if (c == '@') {
		size_t j = i + 1;
		if (j < len && s[j] == '@')
			j++;
		if (j < len && (s[j] == '`' || s[j] == '\'' || s[j] == '"')) {
			size_t e = scan_quoted(s, len, j, bs && s[j] != '`', &ok);
			*type = ok ? LEX_VARIABLE : LEX_ERROR;
			return e;
		}
		while (j < len && (is_ident((unsigned char)s[j]) || s[j] == '.'))
			j++;
		*type = LEX_VARIABLE;
		return j;
	}
	if (c == '?') {
		*type = LEX_PARAM;
		return i + 1;
	}
	*type = LEX_OP;
	return i + op_len(s, len, i);
}

bool lex_next(struct lexer *lx, struct lex_token *tok)
{
	for (;;) {
		skip_space(lx);
		size_t i = lx->pos;
		if (i >= lx->len) {
			tok->type = LEX_EOF;
			tok->p = lx->sql + lx->len;
			tok->n = 0;
			tok->line = lx->line;
			return false;
		}
		tok->line = lx->line;
		tok->p = lx->sql + i;
		bool ok;
		size_t e = comment_end(lx, i, &ok);
		if (e) {
			advance(lx, e);
			if (!ok) {
				tok->type = LEX_ERROR;
				tok->n = e - i;
				lx->last = LEX_ERROR;
				return true;
			}
			if (!(lx->flags & LEX_KEEP_COMMENTS))
				continue;
			tok->type = LEX_COMMENT;
			tok->n = e - i;
			return true;
		}
		enum lex_type type;
		e = scan_token(lx, i, &type);
		advance(lx, e);
		tok->type = type;
		tok->n = e - i;
		lx->last = type;
		return true;
	}
}

bool lex_is_word(const struct lex_token *tok, const char *kw)
{
	if (tok->type != LEX_WORD)
		return false;
	size_t i = 0;
	for (; i < tok->n; i++) {
		unsigned char a = (unsigned char)tok->p[i], b = (unsigned char)kw[i];
		if (!b)
			return false;
		if (a >= 'a' && a <= 'z')
			a -= 32;
		if (b >= 'a' && b <= 'z')
			b -= 32;
		if (a != b)
			return false;
	}
	return kw[i] == '\0';
}

bool lex_is_op(const struct lex_token *tok, const char *op)
{
	return tok->type == LEX_OP && strlen(op) == tok->n && memcmp(tok->p, op, tok->n) == 0;
}

bool lex_contains_ci(const char *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, needle, n) == 0)
			return true;
	return false;
}
