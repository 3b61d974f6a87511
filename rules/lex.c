/* MySQL lexer: tokens as pointer/length into the caller's buffer, no allocation. */
#include "rules/lex.h"
#include "rules/lex_scan.h"

#include <string.h>
#include <strings.h>

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

/*
 * Skips whitespace and, unless LEX_KEEP_COMMENTS, comments; also swallows
 * the markers of executable comments. Returns with lx->pos at the start of
 * the next token or kept comment (or at the end).
 */
static void skip_space(struct lexer *lx)
{
	for (;;) {
		enum lex_gap g;
		size_t e = lex_gap_at(lx->flags, lx->sql, lx->len, lx->pos, lx->in_exec, &g);
		switch (g) {
		case LEX_GAP_NONE:
		case LEX_GAP_UNCLOSED:
			return;
		case LEX_GAP_COMMENT:
			if (lx->flags & LEX_KEEP_COMMENTS)
				return;
			break;
		case LEX_GAP_EXEC_OPEN:
			lx->exec_open = lx->pos;
			lx->in_exec = true;
			break;
		case LEX_GAP_EXEC_CLOSE:
			lx->in_exec = false;
			lx->exec_close = e;
			break;
		case LEX_GAP_SPACE:
			break;
		}
		advance(lx, e);
	}
}

/* Past an exponent ("e5", "E-3") at s[j], or j when none starts there. */
static size_t exponent_end(const char *s, size_t len, size_t j)
{
	if (j >= len || (s[j] != 'e' && s[j] != 'E'))
		return j;
	size_t k = j + 1;
	if (k < len && (s[k] == '+' || s[k] == '-'))
		k++;
	if (k >= len || !is_digit((unsigned char)s[k]))
		return j;
	while (k < len && is_digit((unsigned char)s[k]))
		k++;
	return k;
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
		size_t e = lex_quoted_end(lx->flags, s, len, i, bs, &ok, NULL);
		*type = ok ? LEX_STRING : LEX_ERROR;
		return e;
	}
	if (c == '`' || c == '"') {
		size_t e = lex_quoted_end(lx->flags, s, len, i, false, &ok, NULL);
		*type = ok ? LEX_QUOTED_IDENT : LEX_ERROR;
		return e;
	}
	/* X'..', B'..', N'..' */
	if (i + 1 < len && s[i + 1] == '\'' &&
	    (c == 'x' || c == 'X' || c == 'b' || c == 'B' || c == 'n' || c == 'N')) {
		size_t e = lex_quoted_end(lx->flags, s, len, i + 1, bs && (c == 'n' || c == 'N'),
					  &ok, NULL);
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
			if (j > i + 2 &&
			    (j == len || !is_ident_in(lx->flags, (unsigned char)s[j]))) {
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
		j = exponent_end(s, len, j);
		if (j < len && is_ident_in(lx->flags, (unsigned char)s[j])) {
			/* 1abc, 2e: an identifier that starts with digits. */
			number = false;
			j = i;
			while (j < len && is_ident_in(lx->flags, (unsigned char)s[j]))
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
		j = exponent_end(s, len, j);
		*type = LEX_NUMBER;
		return j;
	}
	if (is_ident_in(lx->flags, c)) {
		size_t j = i + lex_ident_len(lx->flags, s, len, i);
		/* _utf8mb4'..' charset introducer glued to a string */
		if (c == '_' && j < len && (s[j] == '\'' || s[j] == '"') &&
		    !(s[j] == '"' && (lx->flags & LEX_ANSI_QUOTES))) {
			size_t e = lex_quoted_end(lx->flags, s, len, j, bs, &ok, NULL);
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
			size_t e =
			    lex_quoted_end(lx->flags, s, len, j, bs && s[j] != '`', &ok, NULL);
			*type = ok ? LEX_VARIABLE : LEX_ERROR;
			return e;
		}
		while (j < len && (is_ident_in(lx->flags, (unsigned char)s[j]) || s[j] == '.'))
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
		enum lex_gap g;
		size_t e = lex_gap_at(lx->flags, lx->sql, lx->len, i, lx->in_exec, &g);
		if (g == LEX_GAP_UNCLOSED) {
			advance(lx, e);
			tok->type = LEX_ERROR;
			tok->n = e - i;
			lx->last = LEX_ERROR;
			return true;
		}
		if (g == LEX_GAP_COMMENT) {
			advance(lx, e);
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

size_t lex_unquote(char q, const char *s, const char *e, bool backslash, char *out, bool *nul)
{
	char *o = out;
	*nul = false;
	while (s < e) {
		if (*s == '\\' && backslash && s + 1 < e) {
			s++;
			switch (*s) {
			case 'n':
				*o++ = '\n';
				break;
			case 't':
				*o++ = '\t';
				break;
			case 'r':
				*o++ = '\r';
				break;
			case 'b':
				*o++ = '\b';
				break;
			case 'Z':
				*o++ = 26;
				break;
			case '0':
				*o++ = '\0';
				*nul = true;
				break;
			case '%':
			case '_':
				*o++ = '\\';
				*o++ = *s;
				break;
			default:
				*o++ = *s;
				break;
			}
			s++;
			continue;
		}
		if (*s == q && s + 1 < e && s[1] == q)
			s++;
		*nul |= *s == '\0';
		*o++ = *s++;
	}
	*o = '\0';
	return (size_t)(o - out);
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

enum lex_charset lex_charset_of(const char *name)
{
	static const struct {
		const char *name;
		enum lex_charset cs;
	} table[] = {
	    {"latin1", LEX_CS_SPACE_A0},   {"latin2", LEX_CS_SPACE_A0},
	    {"latin5", LEX_CS_SPACE_A0},   {"latin7", LEX_CS_SPACE_A0},
	    {"cp1250", LEX_CS_SPACE_A0},   {"dec8", LEX_CS_SPACE_A0},
	    {"greek", LEX_CS_SPACE_A0},	   {"hebrew", LEX_CS_SPACE_A0},
	    {"armscii8", LEX_CS_SPACE_A0}, {"geostd8", LEX_CS_SPACE_A0},
	    {"cp852", LEX_CS_SPACE_FF},	   {"cp866", LEX_CS_SPACE_FF},
	    {"keybcs2", LEX_CS_SPACE_FF},  {"gbk", LEX_CS_GBK},
	    {"big5", LEX_CS_BIG5},	   {"sjis", LEX_CS_SJIS},
	    {"cp932", LEX_CS_SJIS},
	};
	if (!name)
		return LEX_CS_DEFAULT;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(name, table[i].name) == 0)
			return table[i].cs;
	return LEX_CS_DEFAULT;
}

/* Reads "A.B.C" at s into A*10000 + B*100 + C; 0 when s holds no version. */
static unsigned version_id(const char *s, const char **end)
{
	unsigned part[3] = {0, 0, 0};
	int k = 0;
	const char *p = s;
	while (k < 3) {
		if (!is_digit((unsigned char)*p))
			break;
		unsigned v = 0;
		while (is_digit((unsigned char)*p) && v < 1000)
			v = v * 10 + (unsigned)(*p++ - '0');
		part[k++] = v;
		if (*p != '.' || k == 3)
			break;
		p++;
	}
	*end = p;
	if (k < 2 || part[1] > 99 || part[2] > 99)
		return 0;
	return part[0] * 10000 + part[1] * 100 + part[2];
}

unsigned lex_server_mode(const char *version)
{
	if (!version)
		return 0;
	const char *end;
	unsigned v = version_id(version, &end);
	bool maria = strstr(version, "MariaDB") || strstr(version, "mariadb");
	/* MariaDB 10 and later announce "5.5.5-10.x.y-MariaDB" to old clients */
	if (maria && v == 50505 && *end == '-') {
		unsigned w = version_id(end + 1, &end);
		if (w)
			v = w;
	}
	if (!v)
		return 0;
	return LEX_SERVER_VERSION(v) | (maria ? 0 : LEX_SERVER_MYSQL);
}
