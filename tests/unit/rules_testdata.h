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

#endif
