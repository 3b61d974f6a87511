/*
 * The lexer's byte-level primitives, shared by the lexer (lex.c) and the
 * fast classifier (classify.c) so that both read gaps, quoted runs and
 * identifiers exactly as the server does. Inline: they run per byte on the
 * proxy's hot path. Declared in lex.h.
 */
#ifndef DDLGATE_RULES_LEX_SCAN_H
#define DDLGATE_RULES_LEX_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "rules/lex.h"

static inline enum lex_charset cs_of(unsigned mode)
{
	return (enum lex_charset)((mode & LEX_CS_MASK) >> LEX_CS_SHIFT);
}

/* Whitespace as the server reads it: ASCII 0x09-0x0D and space, plus the
 * one high byte some single-byte character sets call a space. */
static inline bool is_space_in(unsigned mode, unsigned char c)
{
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return true;
	if (c < 0x80)
		return false;
	enum lex_charset cs = cs_of(mode);
	return (cs == LEX_CS_SPACE_A0 && c == 0xA0) || (cs == LEX_CS_SPACE_FF && c == 0xFF);
}

/* Identifier bytes: ASCII letters, digits, '_', '$' and every non-ASCII
 * byte that is not whitespace in the character set (MySQL accepts
 * multi-byte letters in unquoted identifiers). */
static inline bool is_ident_in(unsigned mode, unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || (c >= 0x80 && !is_space_in(mode, c));
}

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* 2 when s[i] and s[i+1] form one double-byte character of the mode's
 * character set (its second byte may be ASCII: '\\', '`', '|' ...), else 1. */
static inline size_t mb_len(unsigned mode, const char *s, size_t len, size_t i)
{
	unsigned char a = (unsigned char)s[i];
	if (a < 0x80 || i + 1 >= len)
		return 1;
	unsigned char b = (unsigned char)s[i + 1];
	switch (cs_of(mode)) {
	case LEX_CS_GBK:
		return a >= 0x81 && a <= 0xFE &&
			       ((b >= 0x40 && b <= 0x7E) || (b >= 0x80 && b <= 0xFE))
			   ? 2
			   : 1;
	case LEX_CS_BIG5:
		return a >= 0xA1 && a <= 0xF9 &&
			       ((b >= 0x40 && b <= 0x7E) || (b >= 0xA1 && b <= 0xFE))
			   ? 2
			   : 1;
	case LEX_CS_SJIS:
		return ((a >= 0x81 && a <= 0x9F) || (a >= 0xE0 && a <= 0xFC)) &&
			       ((b >= 0x40 && b <= 0x7E) || (b >= 0x80 && b <= 0xFC))
			   ? 2
			   : 1;
	default:
		return 1;
	}
}

static inline size_t lex_quoted_end(unsigned mode, const char *s, size_t len, size_t i,
				    bool backslash, bool *ok, bool *saw_backslash)
{
	char q = s[i++];
	bool dbcs = cs_of(mode) >= LEX_CS_GBK;
	while (i < len) {
		char c = s[i];
		if (c != q && c != '\\') {
			i += dbcs ? mb_len(mode, s, len, i) : 1;
			continue;
		}
		if (c == '\\') {
			if (saw_backslash)
				*saw_backslash = true;
			if (backslash) {
				i += 2;
				continue;
			}
		}
		if (c == q) {
			if (i + 1 < len && s[i + 1] == q) {
				i += 2;
				continue;
			}
			*ok = true;
			return i + 1;
		}
		i++; /* a backslash that is no escape */
	}
	*ok = false;
	return len;
}

static inline size_t lex_ident_len(unsigned mode, const char *s, size_t len, size_t i)
{
	size_t j = i;
	if (cs_of(mode) < LEX_CS_GBK) {
		while (j < len && is_ident_in(mode, (unsigned char)s[j]))
			j++;
		return j - i;
	}
	while (j < len && is_ident_in(mode, (unsigned char)s[j]))
		j += mb_len(mode, s, len, j);
	return (j > len ? len : j) - i;
}

/*
 * Where the SQL of an executable comment opening at s[i] starts, or 0 when
 * the server skips the comment. Measured against MariaDB: the version is
 * the first 6 digits when there are 6 or more, else 5; fewer than 5 digits
 * are no version (they are SQL); "/" "*!" with a 5-digit version from 50700
 * to 99999 is MySQL-only and skipped by MariaDB; "/" "*M!" is MariaDB's own
 * and a plain comment to MySQL, which reads 5-digit versions only.
 */
static inline size_t exec_content(unsigned mode, const char *s, size_t len, size_t i)
{
	bool maria_only = s[i + 2] == 'M';
	size_t j = i + (maria_only ? 4 : 3);
	size_t digits = 0;
	while (j + digits < len && is_digit((unsigned char)s[j + digits]))
		digits++;
	unsigned server = (mode & LEX_VERSION_MASK) >> LEX_VERSION_SHIFT;
	bool mysql = (mode & LEX_SERVER_MYSQL) != 0;
	if (server && mysql && maria_only)
		return 0;
	if (digits < 5)
		return j; /* no version: the digits are SQL */
	size_t vlen = digits >= 6 && !mysql ? 6 : 5;
	unsigned long v = 0;
	for (size_t k = 0; k < vlen; k++)
		v = v * 10 + (unsigned)(s[j + k] - '0');
	if (!server)
		return j + vlen; /* offline: the content counts as SQL */
	if (!mysql && !maria_only && vlen == 5 && v >= 50700)
		return 0;
	return v <= server ? j + vlen : 0;
}

static inline size_t lex_gap_at(unsigned mode, const char *s, size_t len, size_t i, bool in_exec,
				enum lex_gap *kind)
{
	*kind = LEX_GAP_NONE;
	if (i >= len)
		return i;
	unsigned char c = (unsigned char)s[i];
	if (is_space_in(mode, c)) {
		size_t j = i + 1;
		while (j < len && is_space_in(mode, (unsigned char)s[j]))
			j++;
		*kind = LEX_GAP_SPACE;
		return j;
	}
	/* '#', or "--" followed by a control character, a space or the end */
	if (c == '#' || (c == '-' && i + 1 < len && s[i + 1] == '-' &&
			 (i + 2 == len || (unsigned char)s[i + 2] <= ' ' || s[i + 2] == 0x7F))) {
		const char *nl = memchr(s + i, '\n', len - i);
		*kind = LEX_GAP_COMMENT;
		return nl ? (size_t)(nl - s) : len;
	}
	if (in_exec && c == '*' && i + 1 < len && s[i + 1] == '/') {
		*kind = LEX_GAP_EXEC_CLOSE;
		return i + 2;
	}
	if (c == '/' && i + 1 < len && s[i + 1] == '*') {
		if (!in_exec && i + 2 < len &&
		    (s[i + 2] == '!' || (s[i + 2] == 'M' && i + 3 < len && s[i + 3] == '!'))) {
			size_t e = exec_content(mode, s, len, i);
			if (e) {
				*kind = LEX_GAP_EXEC_OPEN;
				return e;
			}
		}
		for (size_t j = i + 2; j + 1 < len; j++)
			if (s[j] == '*' && s[j + 1] == '/') {
				*kind = LEX_GAP_COMMENT;
				return j + 2;
			}
		*kind = LEX_GAP_UNCLOSED;
		return len;
	}
	return i;
}

#endif
