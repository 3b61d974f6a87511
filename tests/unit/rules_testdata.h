/*
 * Reader for the rules/ unit tests' table files (header-only, shared by the
 * test_rules_*.c executables).
 *
 * Format: '#' lines and blank lines are ignored outside a case.
 *   opts: ansi keep file     options for the next case only (free words)
 *   sql: <text>              the input; following lines starting with "+ "
 *   + <more text>            (or a lone "+") continue it after a newline
 *   want: <text>             the expected output; "+ " continues it too
 * A case is complete at its want: line (continuations included).
 */
#ifndef DDLGATE_TESTS_RULES_TESTDATA_H
#define DDLGATE_TESTS_RULES_TESTDATA_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/lex.h"

struct tcase {
	char *opts; /* owned */
	char *sql;  /* owned */
	char *want; /* owned */
	unsigned line;
};

struct tcases {
	struct tcase *v; /* owned */
	size_t n;
};

static char *td_append(char *dst, const char *src, bool newline)
{
	size_t a = dst ? strlen(dst) : 0, b = strlen(src);
	char *r = realloc(dst, a + b + 2);
	if (!r)
		abort();
	if (newline && dst)
		r[a++] = '\n';
	memcpy(r + a, src, b + 1);
	return r;
}

/* Loads every case of path; aborts the test binary if the file is missing. */
static struct tcases td_load(const char *path)
{
	struct tcases t = {0};
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		abort();
	}
	char buf[65536];
	char *opts = NULL, *sql = NULL, *want = NULL, **cur = NULL;
	unsigned lineno = 0, sql_line = 0;
	while (fgets(buf, sizeof(buf), f)) {
		lineno++;
		buf[strcspn(buf, "\n")] = '\0';
		if (cur && (buf[0] == '+' && (buf[1] == ' ' || buf[1] == '\0'))) {
			*cur = td_append(*cur, buf[1] ? buf + 2 : "", true);
			continue;
		}
		if (cur == &want) {
			t.v = realloc(t.v, (t.n + 1) * sizeof(*t.v));
			t.v[t.n++] = (struct tcase){opts ? opts : strdup(""), sql, want, sql_line};
			opts = sql = want = NULL;
			cur = NULL;
		}
		if (strncmp(buf, "opts:", 5) == 0) {
			free(opts);
			opts = strdup(buf + 5 + (buf[5] == ' '));
		} else if (strncmp(buf, "sql:", 4) == 0) {
			free(sql);
			sql = strdup(buf + 4 + (buf[4] == ' '));
			sql_line = lineno;
			cur = &sql;
		} else if (strncmp(buf, "want:", 5) == 0) {
			want = strdup(buf + 5 + (buf[5] == ' '));
			cur = &want;
		} else {
			cur = NULL;
		}
	}
	if (cur == &want) {
		t.v = realloc(t.v, (t.n + 1) * sizeof(*t.v));
		t.v[t.n++] = (struct tcase){opts ? opts : strdup(""), sql, want, sql_line};
	} else {
		free(opts);
		free(sql);
	}
	fclose(f);
	return t;
}

static void td_free(struct tcases *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].opts);
		free(t->v[i].sql);
		free(t->v[i].want);
	}
	free(t->v);
}

__attribute__((unused)) static bool td_has_opt(const struct tcase *c, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = c->opts; (p = strstr(p, word)); p += n)
		if ((p == c->opts || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
	return false;
}

/* The value of an option "name=value" (up to the next space) in buf, or
 * "" when the option is absent. */
__attribute__((unused)) static const char *td_opt_value(const struct tcase *c, const char *name,
							char *buf, size_t cap)
{
	size_t n = strlen(name);
	buf[0] = '\0';
	for (const char *p = c->opts; (p = strstr(p, name)); p += n) {
		if ((p == c->opts || p[-1] == ' ') && p[n] == '=') {
			size_t k = strcspn(p + n + 1, " ");
			if (k >= cap)
				k = cap - 1;
			memcpy(buf, p + n + 1, k);
			buf[k] = '\0';
			break;
		}
	}
	return buf;
}

/* The lex mode a case asks for: opts ansi, nbe, keep, server=<greeting
 * version string>, cs=<character set name>. */
__attribute__((unused)) static unsigned td_lex_mode(const struct tcase *c)
{
	char v[64];
	unsigned mode = (td_has_opt(c, "ansi") ? LEX_ANSI_QUOTES : 0) |
			(td_has_opt(c, "keep") ? LEX_KEEP_COMMENTS : 0) |
			(td_has_opt(c, "nbe") ? LEX_NO_BACKSLASH_ESCAPES : 0);
	mode |= lex_server_mode(td_opt_value(c, "server", v, sizeof(v)));
	mode |= LEX_CHARSET(lex_charset_of(td_opt_value(c, "cs", v, sizeof(v))));
	return mode;
}

/* With opt "esc", decodes \xHH in the case's sql in place (bytes that a
 * text file cannot hold well); returns the sql's length. */
__attribute__((unused)) static size_t td_sql_bytes(struct tcase *c)
{
	if (!td_has_opt(c, "esc"))
		return strlen(c->sql);
	char *w = c->sql;
	for (const char *r = c->sql; *r;) {
		unsigned v;
		if (r[0] == '\\' && r[1] == 'x' && sscanf(r + 2, "%2x", &v) == 1) {
			*w++ = (char)v;
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - c->sql);
}

/* Copies p[0..n) into out for a "want" line: with opt "esc", bytes above
 * 0x7F as \xHH. Returns the length written (out is NUL-terminated). */
__attribute__((unused)) static size_t td_show_bytes(const struct tcase *c, const char *p, size_t n,
						    char *out, size_t cap)
{
	bool esc = td_has_opt(c, "esc");
	size_t w = 0;
	for (size_t k = 0; k < n && w + 5 < cap; k++) {
		unsigned char b = (unsigned char)p[k];
		if (b >= 0x80 && esc)
			w += (size_t)snprintf(out + w, cap - w, "\\x%02X", b);
		else
			out[w++] = (char)b;
	}
	out[w] = '\0';
	return w;
}

#endif
