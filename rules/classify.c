/* Fast statement classifier: first keyword(s) to kind, one pass, no allocation. */
#include "rules/classify.h"

#include <string.h>

#include "rules/lex.h"
#include "rules/lex_scan.h"
#include "rules/split.h"

/*
 * A cursor over the statement. Skipping whitespace and comments also
 * notes "ddlgate:" directives and steps into executable comments the server
 * runs and out of them; gaps and quoted runs are read by the lexer's own
 * primitives (lex_gap_at, lex_quoted_end), in the session's lex mode.
 */
struct cur {
	const char *p, *end;
	unsigned mode; /* lex mode (lex.h): sql_mode bits, character set, server */
	bool in_exec;
	bool ddlgate;
	bool backslash;	    /* backslash escapes apply in strings (the default sql_mode) */
	bool saw_backslash; /* a backslash was met inside a quoted string */
	bool unterminated;  /* a comment runs to the end unclosed */
};

static void note_comment(struct cur *c, const char *b, const char *e)
{
	if (!c->ddlgate && e - b >= 8 && memmem(b, (size_t)(e - b), "ddlgate:", 8))
		c->ddlgate = true;
}

/* Skips whitespace and comments; returns false at the end. */
static bool skip(struct cur *c)
{
	const char *base = c->p;
	size_t len = (size_t)(c->end - base), i = 0;
	for (;;) {
		enum lex_gap g;
		size_t e = lex_gap_at(c->mode, base, len, i, c->in_exec, &g);
		if (g == LEX_GAP_NONE)
			break;
		if (g == LEX_GAP_COMMENT || g == LEX_GAP_UNCLOSED)
			note_comment(c, base + i, base + e);
		if (g == LEX_GAP_UNCLOSED)
			c->unterminated = true;
		else if (g == LEX_GAP_EXEC_OPEN)
			c->in_exec = true;
		else if (g == LEX_GAP_EXEC_CLOSE)
			c->in_exec = false;
		i = e;
	}
	c->p = base + i;
	return c->p < c->end;
}

/* Just past the quoted run at c->p (a quote, backtick or double quote).
 * Backslashes escape in strings only: not in `identifiers`, nor in "..."
 * under ANSI_QUOTES. */
static const char *quoted_end(struct cur *c)
{
	bool ok;
	char q = *c->p;
	bool ident = q == '`' || (q == '"' && (c->mode & LEX_ANSI_QUOTES));
	size_t n = (size_t)(c->end - c->p);
	return c->p + lex_quoted_end(c->mode, c->p, n, 0, c->backslash && !ident, &ok,
				     ident ? NULL : &c->saw_backslash);
}

/* Reads the next word (after skip); *n is 0 when the next token is no word. */
static const char *word(struct cur *c, size_t *n)
{
	*n = 0;
	if (!skip(c))
		return NULL;
	const char *b = c->p;
	c->p += lex_ident_len(c->mode, b, (size_t)(c->end - b), 0);
	*n = (size_t)(c->p - b);
	return b;
}

/* Case-insensitive equality of w[0..n) with an upper-case keyword. */
static inline bool kw(const char *w, size_t n, const char *k)
{
	size_t i = 0;
	for (; i < n; i++) {
		unsigned char a = (unsigned char)w[i];
		if (a >= 'a' && a <= 'z')
			a -= 32;
		if (a != (unsigned char)k[i])
			return false;
	}
	return k[i] == '\0';
}

static bool next_is(struct cur *c, const char *k)
{
	size_t n;
	const char *w = word(c, &n);
	return w && kw(w, n, k);
}

/* CREATE / ALTER / DROP / RENAME: USER and ROLE are account management. */
static enum stmt_kind ddl_or_dcl(struct cur *c)
{
	size_t n;
	const char *w = word(c, &n);
	if (w && kw(w, n, "OR")) { /* CREATE OR REPLACE USER */
		w = word(c, &n);
		if (w && kw(w, n, "REPLACE"))
			w = word(c, &n);
	}
	if (w && (kw(w, n, "USER") || kw(w, n, "ROLE")))
		return STMT_DCL;
	if (w && kw(w, n, "PREPARE")) /* DROP PREPARE s: DEALLOCATE */
		return STMT_OTHER;
	return STMT_DDL;
}

/*
 * Scans the rest of the statement for the end of it: a ';' outside
 * strings, identifiers and comments followed by more SQL sets multi.
 * Comments on the way are checked for directives.
 */
static void scan_rest(struct cur *c, bool *multi)
{
	const char *end = c->end;
	for (;;) {
		if (!skip(c))
			return;
		const char *p = c->p;
		/* run over bytes that need no attention */
		while (p < end) {
			unsigned char ch = (unsigned char)*p;
			if (ch == '\'' || ch == '"' || ch == '`' || ch == ';' || ch == '#' ||
			    ch == '-' || ch == '/' || (ch == '*' && c->in_exec))
				break;
			p++;
		}
		c->p = p;
		if (p >= end)
			return;
		char ch = *p;
		if (ch == '\'' || ch == '"' || ch == '`') {
			c->p = quoted_end(c);
			continue;
		}
		if (ch == ';') {
			/* the server lexes the next statement afresh: a ';' inside an
			 * executable comment ends it, and the rest is outside */
			c->p = p + 1;
			c->in_exec = false;
			while (skip(c) && *c->p == ';') {
				c->p++;
				c->in_exec = false;
			}
			/* an unclosed comment after ';' is a (broken) statement too */
			*multi = c->p < end || c->unterminated;
			return;
		}
		/* '#', '-', '/' and '*' that did not start a comment in skip() */
		const char *before = c->p;
		skip(c);
		if (c->p == before)
			c->p++;
	}
}

static enum stmt_kind classify_first(struct cur *c, const char *w, size_t n);

/* Steps over one token of a SET statement: a parenthesis (counted in
 * *paren), a quoted run, a word (returned in *w, *n; else *w is NULL) or
 * one other byte. c is at the token (after skip). */
static void set_step(struct cur *c, int *paren, const char **w, size_t *n)
{
	char ch = *c->p;
	*w = NULL;
	*n = 0;
	if (ch == '(') {
		(*paren)++;
		c->p++;
	} else if (ch == ')') {
		(*paren)--;
		c->p++;
	} else if (ch == '\'' || ch == '"' || ch == '`') {
		c->p = quoted_end(c);
	} else if (lex_ident_len(c->mode, c->p, (size_t)(c->end - c->p), 0)) {
		*w = word(c, n);
	} else {
		c->p++;
	}
}

/* SET STATEMENT var=value [, ...] FOR <statement>: the inner statement counts. */
static enum stmt_kind set_statement(struct cur *c)
{
	int paren = 0;
	while (skip(c)) {
		if (*c->p == ';')
			break; /* no FOR: leave the ';' to scan_rest */
		size_t n;
		const char *w;
		set_step(c, &paren, &w, &n);
		if (w && paren == 0 && kw(w, n, "FOR")) {
			w = word(c, &n);
			return w ? classify_first(c, w, n) : STMT_OTHER;
		}
	}
	return STMT_OTHER;
}

/* The scope words that make the assignments after them global. */
static bool global_scope_word(const char *w, size_t n)
{
	return kw(w, n, "GLOBAL") || kw(w, n, "PERSIST") || kw(w, n, "PERSIST_ONLY");
}

/* Whether the text at c->p is @@global. (or @@persist., @@persist_only.):
 * the server allows space around the dot, none after "@@". */
static bool global_var_at(const struct cur *c)
{
	const char *p = c->p;
	if (c->end - p < 3 || p[0] != '@' || p[1] != '@')
		return false;
	p += 2;
	size_t n = lex_ident_len(c->mode, p, (size_t)(c->end - p), 0);
	if (!global_scope_word(p, n))
		return false;
	struct cur d = *c;
	d.p = p + n;
	return skip(&d) && *d.p == '.';
}

/*
 * SET ...: c is just after SET. Assigning a global value (SET GLOBAL x,
 * SET PERSIST x, SET @@global.x, also after a comma: SET a=1, GLOBAL b=2)
 * changes the server for every session, so it is judged like DDL
 * (server-config-change). GLOBAL followed by "=" is a variable named
 * global; @@global.x read inside a value is no assignment, so only the
 * target positions (after SET and after each comma outside parentheses)
 * count.
 */
static enum stmt_kind set_kind(struct cur *c)
{
	bool target = true;
	int paren = 0;
	while (skip(c)) {
		char ch = *c->p;
		if (ch == ';')
			break;
		if (target) {
			target = false;
			if (global_var_at(c))
				return STMT_DDL;
			struct cur d = *c;
			size_t n;
			const char *w = word(&d, &n);
			if (w && global_scope_word(w, n) && skip(&d) && *d.p != '=' &&
			    *d.p != ':' && *d.p != '.' && *d.p != ',' && *d.p != ';')
				return STMT_DDL;
		}
		if (ch == ',') {
			target = paren <= 0;
			c->p++;
			continue;
		}
		size_t n;
		const char *w;
		set_step(c, &paren, &w, &n);
	}
	return STMT_OTHER;
}

/* Kind of a statement whose first word is w[0..n); c is just after it. */
static enum stmt_kind classify_first(struct cur *c, const char *w, size_t n)
{
	if (n == 0) {
		if (c->p < c->end && *c->p == '(')
			return STMT_DML; /* (SELECT ...) UNION ... */
		return STMT_OTHER;
	}
	unsigned char f = (unsigned char)w[0] & 0xdf;
	switch (f) {
	case 'A':
		if (kw(w, n, "ALTER"))
			return ddl_or_dcl(c);
		if (kw(w, n, "ANALYZE")) {
			size_t m;
			const char *v = word(c, &m);
			if (v && (kw(v, m, "TABLE") || kw(v, m, "NO_WRITE_TO_BINLOG") ||
				  kw(v, m, "LOCAL")))
				return STMT_DDL;
			return STMT_DML; /* MariaDB ANALYZE SELECT/UPDATE runs the statement */
		}
		break;
	case 'B':
		if (kw(w, n, "BEGIN"))
			return next_is(c, "NOT") ? STMT_DDL : STMT_TCL;
		if (kw(w, n, "BINLOG"))
			return STMT_DDL; /* replays binary log events: anything */
		break;
	case 'C':
		if (kw(w, n, "CREATE"))
			return ddl_or_dcl(c);
		if (kw(w, n, "CALL"))
			return STMT_DML;
		if (kw(w, n, "COMMIT"))
			return STMT_TCL;
		if (kw(w, n, "CASE"))
			return STMT_DDL; /* MariaDB compound statement outside a program */
		break;
	case 'D':
		if (kw(w, n, "DELETE"))
			return STMT_DML;
		if (kw(w, n, "DROP"))
			return ddl_or_dcl(c);
		break;
	case 'E':
		if (kw(w, n, "EXECUTE"))
			return next_is(c, "IMMEDIATE") ? STMT_DDL
						       : STMT_OTHER; /* MariaDB: runs any SQL */
		break;
	case 'G':
		if (kw(w, n, "GRANT"))
			return STMT_DCL;
		break;
	case 'I':
		if (kw(w, n, "INSERT"))
			return STMT_DML;
		if (kw(w, n, "IMPORT"))
			return STMT_DDL;
		if (kw(w, n, "IF"))
			return STMT_DDL;
		if (kw(w, n, "INSTALL"))
			return STMT_DDL; /* PLUGIN / SONAME: new code in the server */
		break;
	case 'L':
		if (kw(w, n, "LOAD"))
			return STMT_DML;
		if (kw(w, n, "LOCK"))
			return STMT_TCL;
		if (kw(w, n, "LOOP"))
			return STMT_DDL;
		break;
	case 'O':
		if (kw(w, n, "OPTIMIZE"))
			return STMT_DDL;
		break;
	case 'P':
		if (kw(w, n, "PREPARE"))
			return STMT_DDL; /* the parser looks at what is prepared */
		break;
	case 'R':
		if (kw(w, n, "REPLACE"))
			return STMT_DML;
		if (kw(w, n, "RENAME"))
			return ddl_or_dcl(c);
		if (kw(w, n, "REPAIR"))
			return STMT_DDL;
		if (kw(w, n, "REVOKE"))
			return STMT_DCL;
		if (kw(w, n, "ROLLBACK") || kw(w, n, "RELEASE"))
			return STMT_TCL;
		if (kw(w, n, "REPEAT"))
			return STMT_DDL;
		break;
	case 'S':
		if (kw(w, n, "SELECT"))
			return STMT_DML;
		if (kw(w, n, "SET")) {
			struct cur targets = *c;
			size_t m;
			const char *v = word(c, &m);
			if (v && kw(v, m, "PASSWORD"))
				return STMT_DCL;
			if (v && kw(v, m, "DEFAULT") && next_is(c, "ROLE"))
				return STMT_DCL;
			if (v && kw(v, m, "STATEMENT"))
				return set_statement(c);
			return set_kind(&targets);
		}
		if (kw(w, n, "START"))
			return next_is(c, "TRANSACTION") ? STMT_TCL : STMT_OTHER;
		if (kw(w, n, "SAVEPOINT"))
			return STMT_TCL;
		break;
	case 'T':
		if (kw(w, n, "TRUNCATE"))
			return STMT_DDL;
		if (kw(w, n, "TABLE"))
			return STMT_DML;
		break;
	case 'U':
		if (kw(w, n, "UPDATE"))
			return STMT_DML;
		if (kw(w, n, "UNLOCK"))
			return STMT_TCL;
		if (kw(w, n, "UNINSTALL"))
			return STMT_DDL;
		break;
	case 'V':
		if (kw(w, n, "VALUES"))
			return STMT_DML;
		break;
	case 'W':
		if (kw(w, n, "WITH"))
			return STMT_DML;
		if (kw(w, n, "WHILE"))
			return STMT_DDL;
		break;
	case 'X':
		if (kw(w, n, "XA"))
			return STMT_TCL;
		break;
	}
	/* label: BEGIN NOT ATOMIC / LOOP / WHILE / REPEAT (MariaDB compound) */
	if (skip(c) && *c->p == ':' && !(c->p + 1 < c->end && c->p[1] == '='))
		return STMT_DDL;
	return STMT_OTHER;
}

enum stmt_kind classify_sql(const char *sql, size_t len, struct classify_info *info)
{
	return classify_sql_mode(sql, len, 0, info);
}

enum stmt_kind classify_sql_mode(const char *sql, size_t len, unsigned mode,
				 struct classify_info *info)
{
	struct cur c = {.p = sql,
			.end = sql + len,
			.mode = mode,
			.backslash = !(mode & LEX_NO_BACKSLASH_ESCAPES)};
	struct classify_info dummy;
	if (!info)
		info = &dummy;
	info->keyword = NULL;
	info->keyword_len = 0;
	info->multi = false;
	info->mode_dependent = false;
	size_t n;
	const char *w = word(&c, &n);
	if (!w) {
		/* an unclosed comment is a broken statement, not an empty one */
		info->has_ddlgate_comment = c.ddlgate;
		return c.unterminated ? STMT_OTHER : STMT_EMPTY;
	}
	if (*w == ';') {
		/* leading empty statements: ";; SELECT 1" */
		while (skip(&c) && *c.p == ';') {
			c.p++;
			c.in_exec = false; /* each statement is lexed afresh */
		}
		w = word(&c, &n);
		if (!w) {
			info->has_ddlgate_comment = c.ddlgate;
			return c.unterminated ? STMT_OTHER : STMT_EMPTY;
		}
	}
	if (n) {
		info->keyword = w;
		info->keyword_len = n;
	}
	enum stmt_kind kind = classify_first(&c, w, n);
	struct cur rest = c;
	scan_rest(&c, &info->multi);
	info->mode_dependent = c.saw_backslash;
	if (c.saw_backslash) {
		/* rare: read the rest again as NO_BACKSLASH_ESCAPES would */
		bool multi2 = false;
		rest.backslash = false;
		scan_rest(&rest, &multi2);
		info->multi |= multi2;
		c.ddlgate |= rest.ddlgate;
	}
	info->has_ddlgate_comment = c.ddlgate;
	return kind;
}

/* ---- readings: how the text reads under the session states it might have ---- */

#define READ_MAX_PIECES 64

/* The statements one reading cuts the text into: kind and first keyword
 * of each, the same way the proxy splits and classifies. */
struct reading {
	unsigned mode;
	size_t n;
	bool overflow;
	enum stmt_kind kind[READ_MAX_PIECES];
	const char *kw[READ_MAX_PIECES];
	size_t kwlen[READ_MAX_PIECES];
};

static bool reading_piece(const struct split_piece *piece, void *arg)
{
	struct reading *r = arg;
	if (r->n == READ_MAX_PIECES) {
		r->overflow = true;
		return false;
	}
	struct classify_info info;
	r->kind[r->n] = classify_sql_mode(piece->sql, piece->len, r->mode, &info);
	r->kw[r->n] = info.keyword;
	r->kwlen[r->n] = info.keyword ? info.keyword_len : 0;
	r->n++;
	return true;
}

static void read_as(struct reading *r, const char *sql, size_t len, unsigned mode)
{
	r->mode = mode & ~(unsigned)LEX_KEEP_COMMENTS;
	r->n = 0;
	r->overflow = false;
	(void)split_sql(sql, len, r->mode, reading_piece, r);
}

static bool same_reading(const struct reading *a, const struct reading *b)
{
	if (a->n != b->n || a->overflow != b->overflow)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->kind[i] != b->kind[i] || a->kwlen[i] != b->kwlen[i] ||
		    (a->kwlen[i] && memcmp(a->kw[i], b->kw[i], a->kwlen[i]) != 0))
			return false;
	return true;
}

static bool changes_schema(const struct reading *r)
{
	if (r->overflow)
		return true;
	for (size_t i = 0; i < r->n; i++)
		if (r->kind[i] == STMT_DDL || r->kind[i] == STMT_DCL)
			return true;
	return false;
}

bool classify_ambiguous(const char *sql, size_t len, unsigned mode)
{
	bool backslash = false, dquote = false, high = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)sql[i];
		backslash |= c == '\\';
		dquote |= c == '"';
		high |= c >= 0x80;
	}
	if (!backslash && !dquote && !high)
		return false;
	/* the session states that would change how this text reads */
	unsigned base = mode & ~(unsigned)(LEX_KEEP_COMMENTS | LEX_CS_MASK | LEX_ANSI_QUOTES |
					   LEX_NO_BACKSLASH_ESCAPES);
	static const enum lex_charset all_cs[] = {LEX_CS_DEFAULT, LEX_CS_SPACE_A0, LEX_CS_SPACE_FF,
						  LEX_CS_GBK,	  LEX_CS_BIG5,	   LEX_CS_SJIS};
	size_t ncs = high ? sizeof(all_cs) / sizeof(all_cs[0]) : 1;
	struct reading first, other;
	read_as(&first, sql, len, mode);
	bool differ = false, schema = changes_schema(&first);
	for (size_t c = 0; c < ncs; c++) {
		unsigned cs = high ? LEX_CHARSET(all_cs[c]) : (mode & LEX_CS_MASK);
		for (unsigned nbe = 0; nbe <= (backslash ? 1u : 0u); nbe++) {
			for (unsigned ansi = 0; ansi <= (dquote ? 1u : 0u); ansi++) {
				unsigned m = base | cs | (nbe ? LEX_NO_BACKSLASH_ESCAPES : 0) |
					     (ansi ? LEX_ANSI_QUOTES : 0);
				if (m == (mode & ~(unsigned)LEX_KEEP_COMMENTS))
					continue;
				read_as(&other, sql, len, m);
				differ |= !same_reading(&first, &other);
				schema |= changes_schema(&other);
				if (differ && schema)
					return true;
			}
		}
	}
	return false;
}
