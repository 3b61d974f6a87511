/* Scanners for SET lock_wait_timeout, SET sql_mode, USE, KILL and write keywords over raw SQL. */
#include "rules/sqlscan.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rules/lex.h"

bool sqlscan_kw(const char *kw, size_t n, const char *want)
{
	return kw && n == strlen(want) && strncasecmp(kw, want, n) == 0;
}

bool sqlscan_is_write_kw(const char *kw, size_t n)
{
	static const char *const writes[] = {"INSERT", "UPDATE", "DELETE", "REPLACE",
					     "LOAD",   "CALL",	 "MERGE"};
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		if (sqlscan_kw(kw, n, writes[i]))
			return true;
	return false;
}

/* Whether a LEX_VARIABLE token names the session value of name: @@name,
 * @@session.name or @@local.name; @name is a user variable and
 * @@global.name is not the session's. */
static bool sqlscan_session_var(const struct lex_token *t, const char *name)
{
	size_t nl = strlen(name);
	const char *p = t->p;
	size_t n = t->n;

	if (n < 2 || p[0] != '@' || p[1] != '@')
		return false;
	p += 2;
	n -= 2;
	if (n > 8 && strncasecmp(p, "session.", 8) == 0) {
		p += 8;
		n -= 8;
	} else if (n > 6 && strncasecmp(p, "local.", 6) == 0) {
		p += 6;
		n -= 6;
	}
	return n == nl && strncasecmp(p, name, nl) == 0;
}

/*
 * The one walker behind both SET scanners: calls fn(value, arg) for every
 * assignment of the session's value of variable name in a SET statement,
 * value being the first token after "=" or ":=". SESSION / LOCAL and
 * GLOBAL / PERSIST / PERSIST_ONLY scope the assignments after them up to
 * the next comma. Stops at a target without an assignment operator (an
 * expression such as CONCAT(@@sql_mode, ...) names the variable again).
 * The cheap substring test first keeps the lexer off other statements.
 */
static void sqlscan_set_walk(const char *sql, size_t len, const char *name,
			     void (*fn)(const struct lex_token *value, void *arg), void *arg)
{
	struct lexer lx;
	struct lex_token t;
	bool global = false;

	if (!lex_contains_ci(sql, len, name))
		return;
	lex_init(&lx, sql, len, 0);
	if (!lex_next(&lx, &t) || !lex_is_word(&t, "SET"))
		return;
	while (lex_next(&lx, &t)) {
		if (lex_is_word(&t, "GLOBAL") || lex_is_word(&t, "PERSIST") ||
		    lex_is_word(&t, "PERSIST_ONLY")) {
			global = true;
			continue;
		}
		if (lex_is_word(&t, "SESSION") || lex_is_word(&t, "LOCAL") || lex_is_op(&t, ",")) {
			global = false;
			continue;
		}
		bool target = false;
		if (t.type == LEX_WORD)
			target = !global && lex_is_word(&t, name);
		else if (t.type == LEX_VARIABLE)
			target = sqlscan_session_var(&t, name);
		if (!target)
			continue;
		if (!lex_next(&lx, &t) || !(lex_is_op(&t, "=") || lex_is_op(&t, ":=")))
			return;
		if (!lex_next(&lx, &t))
			return;
		fn(&t, arg);
	}
}

static void sqlscan_lock_wait_value(const struct lex_token *t, void *arg)
{
	long *found = arg;
	if (lex_is_word(t, "DEFAULT")) {
		*found = SQLSCAN_LOCK_WAIT_DEFAULT;
	} else if (t->type == LEX_NUMBER) {
		long v = 0;
		/* saturates: a year of seconds is already "unbounded" to the rules */
		for (size_t i = 0; i < t->n && t->p[i] >= '0' && t->p[i] <= '9'; i++)
			v = v < 100000000L ? v * 10 + (t->p[i] - '0') : v;
		*found = v;
	}
}

long sqlscan_lock_wait(const char *sql, size_t len)
{
	long found = SQLSCAN_LOCK_WAIT_NONE;
	sqlscan_set_walk(sql, len, "lock_wait_timeout", sqlscan_lock_wait_value, &found);
	return found;
}

/* Whether one sql_mode list turns on ANSI_QUOTES (directly or through a
 * combination mode that includes it). */
static bool sqlscan_mode_has_ansi_quotes(const char *p, size_t n)
{
	static const char *const modes[] = {"ANSI",   "ANSI_QUOTES", "DB2",  "MSSQL",
					    "ORACLE", "POSTGRESQL",  "MAXDB"};
	size_t i = 0;
	while (i < n) {
		while (i < n && (p[i] == ',' || p[i] == ' '))
			i++;
		size_t start = i;
		while (i < n && p[i] != ',')
			i++;
		size_t len = i - start;
		while (len && p[start + len - 1] == ' ')
			len--;
		for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
			if (sqlscan_kw(p + start, len, modes[k]))
				return true;
	}
	return false;
}

struct sqlscan_mode {
	const char *end; /* end of the statement: an expression runs to it */
	int found;
};

static void sqlscan_sql_mode_value(const struct lex_token *t, void *arg)
{
	struct sqlscan_mode *m = arg;
	if (lex_is_word(t, "DEFAULT")) {
		m->found = 0;
	} else if (t->type == LEX_STRING) {
		/* skip a _charset or N prefix to the opening quote */
		const char *q = memchr(t->p, '\'', t->n);
		if (!q)
			q = memchr(t->p, '"', t->n);
		m->found =
		    q ? sqlscan_mode_has_ansi_quotes(q + 1, (size_t)(t->p + t->n - q - 2)) : -1;
	} else if (lex_contains_ci(t->p, (size_t)(m->end - t->p), "ANSI")) {
		/* an expression: only an explicit ANSI_QUOTES is known to turn it on */
		m->found = 1;
	}
}

int sqlscan_sql_mode(const char *sql, size_t len)
{
	struct sqlscan_mode m = {sql + len, -1};
	sqlscan_set_walk(sql, len, "sql_mode", sqlscan_sql_mode_value, &m);
	return m.found;
}

bool sqlscan_use_schema(const char *sql, size_t len, char *out, size_t outlen)
{
	struct lexer lx;
	struct lex_token t;

	if (outlen == 0)
		return false;
	lex_init(&lx, sql, len, 0);
	if (!lex_next(&lx, &t) || !lex_is_word(&t, "USE") || !lex_next(&lx, &t))
		return false;
	if (t.type == LEX_WORD) {
		snprintf(out, outlen, "%.*s", (int)t.n, t.p);
		return true;
	}
	if (t.type != LEX_QUOTED_IDENT || t.n < 2)
		return false;
	/* `a``b` names a`b: a doubled quote stands for one */
	size_t o = 0;
	for (size_t i = 1; i + 1 < t.n && o + 1 < outlen; i++) {
		if (t.p[i] == t.p[0] && i + 2 < t.n && t.p[i + 1] == t.p[0])
			i++;
		out[o++] = t.p[i];
	}
	out[o] = 0;
	return true;
}

bool sqlscan_kill_connection(const char *sql, size_t len, unsigned long *id)
{
	struct lexer lx;
	struct lex_token t;

	lex_init(&lx, sql, len, 0);
	if (!lex_next(&lx, &t) || !lex_is_word(&t, "KILL") || !lex_next(&lx, &t))
		return false;
	if (lex_is_word(&t, "HARD") || lex_is_word(&t, "SOFT"))
		if (!lex_next(&lx, &t))
			return false;
	if (lex_is_word(&t, "CONNECTION"))
		if (!lex_next(&lx, &t))
			return false;
	if (t.type != LEX_NUMBER || t.n > 10)
		return false;
	unsigned long long v = 0;
	for (size_t i = 0; i < t.n; i++) {
		if (t.p[i] < '0' || t.p[i] > '9')
			return false; /* 1.5, 1e3: not a thread id */
		v = v * 10 + (unsigned)(t.p[i] - '0');
	}
	if (v > 0xFFFFFFFFull)
		return false;
	if (lex_next(&lx, &t) && (!lex_is_op(&t, ";") || lex_next(&lx, &t)))
		return false; /* KILL 5; SELECT 1, or anything after the id */
	*id = (unsigned long)v;
	return true;
}
