/* Secret redaction and literal-free normalisation of SQL text for the audit log. */
#include "rules/redact.h"

#include <string.h>
#include <strings.h>

#include "rules/lex.h"

/*
 * Both functions lex the whole text once into an array of tokens (pointers
 * into the input), decide which tokens change, and then copy the input
 * through, so that everything between the changed tokens (whitespace,
 * comments, the executable-comment markers) stays byte for byte.
 */

struct toks {
	struct lex_token *t; /* arena */
	size_t n;
	const char **repl; /* arena, one per token: its replacement, NULL = kept */
	size_t *repl_len;  /* arena: length of each replacement (may hold NULs) */
	struct arena *a;   /* borrowed: for rewritten tokens */
	bool params;	   /* ? placeholders count as literals (redact_secret_params) */
};

/* One pass of the lexer: the token array grows by doubling (the audit
 * writer runs this for every record, so the text is not lexed twice to
 * count first). */
static void toks_lex(struct arena *a, const char *sql, size_t len, struct toks *out)
{
	out->params = false;
	struct lexer lx;
	struct lex_token tok;
	size_t cap = 64;
	out->t = arena_alloc(a, cap * sizeof(*out->t));
	out->n = 0;
	out->a = a;
	lex_init(&lx, sql, len, 0);
	while (lex_next(&lx, &tok)) {
		if (out->n == cap) {
			struct lex_token *t = arena_alloc(a, 2 * cap * sizeof(*t));
			memcpy(t, out->t, cap * sizeof(*t));
			out->t = t;
			cap *= 2;
		}
		out->t[out->n++] = tok;
	}
	out->repl = arena_alloc(a, (out->n + 1) * sizeof(*out->repl));
	out->repl_len = arena_alloc(a, (out->n + 1) * sizeof(*out->repl_len));
}

/* A string literal, or an unterminated one (running to the end of the
 * text); not an unterminated comment or quoted identifier. */
static bool is_literal_string(const struct lex_token *t)
{
	if (t->type == LEX_STRING)
		return true;
	if (t->type != LEX_ERROR || t->n == 0)
		return false;
	char c = t->p[0];
	if (c == '\'' || c == '"')
		return true;
	size_t scan = t->n < 80 ? t->n : 80; /* _utf8mb4'.., N'.. */
	return (c == '_' || c == 'N' || c == 'n') && memchr(t->p, '\'', scan) != NULL &&
	       memchr(t->p, ' ', (size_t)((const char *)memchr(t->p, '\'', scan) - t->p)) == NULL;
}

static bool word(const struct toks *ts, size_t i, const char *kw)
{
	return i < ts->n && lex_is_word(&ts->t[i], kw);
}

static bool op(const struct toks *ts, size_t i, const char *o)
{
	return i < ts->n && lex_is_op(&ts->t[i], o);
}

/* A literal that may hold a secret; in redact_secret_params() a ? too. */
static bool lit(const struct toks *ts, const struct lex_token *t)
{
	return is_literal_string(t) || (ts->params && t->type == LEX_PARAM);
}

/* The one copy of the mark: a token whose replacement is this pointer was
 * redacted whole (mark_adjacent() asks). */
static const char redact_mark[] = REDACT_MARK;

static void set_mark(struct toks *ts, size_t i)
{
	ts->repl[i] = redact_mark;
	ts->repl_len[i] = sizeof REDACT_MARK - 1;
}

/* Index of the token after the statement that starts at i (the ';' or n). */
static size_t stmt_end(const struct toks *ts, size_t i)
{
	while (i < ts->n && !lex_is_op(&ts->t[i], ";"))
		i++;
	return i;
}

/*
 * A call name( args ) starting at i (the name): marks the string literals of
 * arguments first..last (1-based, last 0 = all) at any depth, hex and bit
 * literals too (keys are often written X'..').
 */
static void mark_call_args(struct toks *ts, size_t i, size_t end, unsigned first, unsigned last)
{
	size_t j = i + 1;
	if (!op(ts, j, "("))
		return;
	unsigned arg = 1, depth = 0;
	for (; j < end; j++) {
		const struct lex_token *t = &ts->t[j];
		if (lex_is_op(t, "(")) {
			depth++;
		} else if (lex_is_op(t, ")")) {
			if (--depth == 0)
				return;
		} else if (depth == 1 && lex_is_op(t, ",")) {
			arg++;
		} else if (arg >= first && (last == 0 || arg <= last) &&
			   (lit(ts, t) || t->type == LEX_HEX || t->type == LEX_BIT)) {
			set_mark(ts, j);
		}
	}
}

struct secret_fn {
	const char *name;
	unsigned first, last; /* secret argument range, last 0 = to the end */
};

static const struct secret_fn secret_fns[] = {
    {"PASSWORD", 1, 0},	   {"OLD_PASSWORD", 1, 0}, {"ENCRYPT", 1, 0},
    {"AES_ENCRYPT", 2, 2}, {"AES_DECRYPT", 2, 2},  {"DES_ENCRYPT", 2, 2},
    {"DES_DECRYPT", 2, 2}, {"ENCODE", 2, 2},	   {"DECODE", 2, 2},
};

/* Does the literal text mention something that looks like a credential? */
static bool mentions_secret(const struct lex_token *t)
{
	static const char *const words[] = {"identified", "password", "aes_", "des_"};
	for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
		size_t wl = strlen(words[w]);
		for (size_t k = 0; k + wl <= t->n; k++)
			if (strncasecmp(t->p + k, words[w], wl) == 0)
				return true;
	}
	return false;
}

/*
 * CONNECTION = 'mysql://user:pass@host:port/db/t' (FEDERATED, CONNECT): the
 * password part of the URL becomes <redacted>, the rest stays readable.
 * Returns NULL when the string holds no user:password@.
 */
static const char *redact_url(struct arena *a, const struct lex_token *t, size_t *outlen)
{
	const char *p = t->p, *end = t->p + t->n;
	const char *scheme = NULL;
	for (const char *q = p; q + 3 <= end; q++)
		if (memcmp(q, "://", 3) == 0) {
			scheme = q + 3;
			break;
		}
	if (!scheme)
		return NULL;
	const char *at = NULL, *colon = NULL;
	for (const char *q = scheme; q < end && *q != '/' && *q != '\'' && *q != '"'; q++) {
		if (*q == '@')
			at = q;
		else if (*q == ':' && !colon && !at)
			colon = q;
	}
	if (!at || !colon || colon > at)
		return NULL;
	static const char mark[] = "<redacted>";
	size_t head = (size_t)(colon + 1 - p), tail = (size_t)(end - at);
	char *out = arena_alloc(a, head + sizeof mark + tail);
	memcpy(out, p, head);
	memcpy(out + head, mark, sizeof mark - 1);
	memcpy(out + head + sizeof mark - 1, at, tail);
	out[head + sizeof mark - 1 + tail] = '\0';
	*outlen = head + sizeof mark - 1 + tail;
	return out;
}

/* A variable or setting whose value is a credential: *password*, *_auth
 * (wsrep_sst_auth), as a word or @@variable, quoted or not. */
static bool secret_setting(const struct lex_token *t)
{
	if (t->type != LEX_WORD && t->type != LEX_VARIABLE && t->type != LEX_QUOTED_IDENT)
		return false;
	size_t n = t->n;
	while (n > 0 && (t->p[n - 1] == '`' || t->p[n - 1] == '\'' || t->p[n - 1] == '"'))
		n--;
	for (size_t k = 0; k + 8 <= n; k++)
		if (strncasecmp(t->p + k, "password", 8) == 0)
			return true;
	return n >= 5 && strncasecmp(t->p + n - 5, "_auth", 5) == 0;
}

/*
 * Dynamic SQL that builds a credential: PREPARE s FROM <expr>, EXECUTE
 * IMMEDIATE <expr>, or SET @var = <expr> (the usual way to PREPARE FROM
 * @var), whose text mentions IDENTIFIED, PASSWORD or a key function in any
 * case, in a literal or not. The pieces of the password can sit in any
 * literal of the expression (CONCAT(.., 'p', 'w', ..), QUOTE('pw')), so
 * every literal of such a statement is redacted, not only the ones that
 * mention the keyword.
 */
static bool dynamic_secret(const struct toks *ts, size_t start, size_t end, bool set_var)
{
	bool dynamic = word(ts, start, "PREPARE") || word(ts, start, "EXECUTE");
	for (size_t i = start; set_var && !dynamic && i < end; i++)
		dynamic = ts->t[i].type == LEX_VARIABLE && ts->t[i].n > 1 && ts->t[i].p[1] != '@';
	if (!dynamic)
		return false;
	for (size_t i = start; i < end; i++)
		if (ts->t[i].type != LEX_VARIABLE && mentions_secret(&ts->t[i]))
			return true;
	return false;
}

/* A redacted literal followed by more string literals: the server joins
 * adjacent literals into one ('pass' 'word' is 'password'), so every part
 * goes. */
static void mark_adjacent(struct toks *ts, size_t start, size_t end)
{
	for (size_t i = start; i + 1 < end; i++)
		if (ts->repl[i] == redact_mark && lit(ts, &ts->t[i + 1]))
			set_mark(ts, i + 1);
}

/* Marks the secrets of the statement ts->t[start..end). */
static void mark_stmt(struct toks *ts, size_t start, size_t end)
{
	bool set_pw = word(ts, start, "SET") && word(ts, start + 1, "PASSWORD");
	bool repl = word(ts, start, "CHANGE") || word(ts, start, "START");
	bool set_var = word(ts, start, "SET") && !set_pw;
	bool dyn_secret = dynamic_secret(ts, start, end, set_var);
	bool after_eq = false;

	for (size_t i = start; i < end; i++) {
		const struct lex_token *t = &ts->t[i];
		const struct lex_token *p = i > start ? &ts->t[i - 1] : NULL;

		/* SET PASSWORD [FOR user] = 'x' | PASSWORD('x') [REPLACE 'old']:
		 * every literal after the '='. */
		if (set_pw && lex_is_op(t, "="))
			after_eq = true;
		if (set_pw && after_eq && lit(ts, t))
			set_mark(ts, i);

		/* IDENTIFIED [WITH|VIA plugin] BY|AS|USING 'x' [REPLACE 'old'] [OR ...],
		 * up to the next user in the list. */
		if (lex_is_word(t, "IDENTIFIED")) {
			unsigned depth = 0;
			for (size_t j = i + 1; j < end; j++) {
				const struct lex_token *u = &ts->t[j];
				if (lex_is_op(u, "("))
					depth++;
				else if (lex_is_op(u, ")") && depth > 0)
					depth--;
				else if (depth == 0 && lex_is_op(u, ","))
					break;
				if (!lit(ts, u) && u->type != LEX_HEX && u->type != LEX_BIT)
					continue;
				const struct lex_token *b = &ts->t[j - 1];
				if (lex_is_word(b, "BY") || lex_is_word(b, "AS") ||
				    lex_is_word(b, "USING") || lex_is_word(b, "REPLACE") ||
				    lex_is_word(b, "PASSWORD"))
					set_mark(ts, j);
			}
		}

		/* PASSWORD 'x' (CREATE SERVER ... OPTIONS, IDENTIFIED BY PASSWORD 'hash'). */
		if (lit(ts, t) && p && lex_is_word(p, "PASSWORD"))
			set_mark(ts, i);

		/* MASTER_PASSWORD = 'x', SOURCE_PASSWORD = 'x'; and PASSWORD = 'x' in
		 * START REPLICA / START GROUP_REPLICATION / CHANGE ... */
		if (t->type == LEX_WORD &&
		    (lex_is_word(t, "MASTER_PASSWORD") || lex_is_word(t, "SOURCE_PASSWORD") ||
		     (repl && lex_is_word(t, "PASSWORD"))) &&
		    op(ts, i + 1, "=") && i + 2 < end && lit(ts, &ts->t[i + 2]))
			set_mark(ts, i + 2);

		/* Functions whose arguments are passwords or keys. */
		if (t->type == LEX_WORD && op(ts, i + 1, "(")) {
			for (size_t f = 0; f < sizeof secret_fns / sizeof secret_fns[0]; f++)
				if (lex_is_word(t, secret_fns[f].name))
					mark_call_args(ts, i, end, secret_fns[f].first,
						       secret_fns[f].last);
		}

		/* SET GLOBAL wsrep_sst_auth = 'u:p', SET @@x_password := '..' */
		if (set_var && secret_setting(t) && (op(ts, i + 1, "=") || op(ts, i + 1, ":=")) &&
		    i + 2 < end && lit(ts, &ts->t[i + 2]))
			set_mark(ts, i + 2);

		/* 'scheme://user:password@host/..' in CONNECTION = or COMMENT =
		 * (FEDERATED, CONNECT), or in any other string */
		if (t->type == LEX_STRING && !ts->repl[i])
			ts->repl[i] = redact_url(ts->a, t, &ts->repl_len[i]);

		if (dyn_secret && (lit(ts, t) || t->type == LEX_HEX || t->type == LEX_BIT))
			set_mark(ts, i);
	}
	mark_adjacent(ts, start, end);
}

/* redact_sql() over the tokens ts of sql. */
static char *redact_toks(struct toks *tsp, const char *sql, size_t len, size_t *outlen,
			 size_t *count)
{
	struct toks ts = *tsp;
	struct arena *a = ts.a;
	for (size_t i = 0; i < ts.n;) {
		size_t end = stmt_end(&ts, i);
		mark_stmt(&ts, i, end);
		i = end + 1;
	}

	size_t nsec = 0, extra = 0;
	for (size_t i = 0; i < ts.n; i++)
		if (ts.repl[i]) {
			nsec++;
			extra += ts.repl_len[i];
		}
	char *out = arena_alloc(a, len + extra + 2 * nsec + 1);
	size_t o = 0, pos = 0, repl_end = (size_t)-1;
	for (size_t i = 0; i <= ts.n; i++) {
		if (i < ts.n && !ts.repl[i])
			continue;
		size_t at = i < ts.n ? (size_t)(ts.t[i].p - sql) : len;
		/* A replacement is a quoted literal: where it touches another
		 * quote ('a'"b", "pw"'x) the two would read as one string with a
		 * doubled quote, so they are kept apart by a space. */
		if (o == repl_end && at > pos && sql[pos] == '\'')
			out[o++] = ' ';
		memcpy(out + o, sql + pos, at - pos);
		o += at - pos;
		if (i == ts.n)
			break;
		const char *r = ts.repl[i];
		size_t rl = ts.repl_len[i];
		if (o > 0 && out[o - 1] == '\'' && r[0] == '\'')
			out[o++] = ' ';
		memcpy(out + o, r, rl);
		o += rl;
		repl_end = o;
		pos = at + ts.t[i].n;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	if (count)
		*count = nsec;
	return out;
}

char *redact_sql(struct arena *a, const char *sql, size_t len, size_t *outlen, size_t *count)
{
	struct toks ts;
	toks_lex(a, sql, len, &ts);
	return redact_toks(&ts, sql, len, outlen, count);
}

static bool is_literal(const struct lex_token *t)
{
	return t->type == LEX_STRING || t->type == LEX_NUMBER || t->type == LEX_HEX ||
	       t->type == LEX_BIT || t->type == LEX_ERROR;
}

/* If ts->t[i] opens "( lit , lit , ... )", the index of the ')', else 0. */
static size_t literal_list(const struct toks *ts, size_t i)
{
	if (!op(ts, i, "("))
		return 0;
	size_t j = i + 1;
	for (;;) {
		bool neg = op(ts, j, "-");
		if (j + neg >= ts->n || !is_literal(&ts->t[j + neg]))
			return 0;
		j += neg + 1;
		if (op(ts, j, ")"))
			return j;
		if (!op(ts, j, ","))
			return 0;
		j++;
	}
}

/* redact_normalise() over the tokens of the text (a copy: the trailing
 * ';' is dropped from it, not from the caller's). */
static char *normalise_toks(struct toks ts, size_t *outlen)
{
	struct arena *a = ts.a;
	while (ts.n > 0 && lex_is_op(&ts.t[ts.n - 1], ";"))
		ts.n--;
	size_t cap = 0;
	for (size_t i = 0; i < ts.n; i++)
		cap += ts.t[i].n + 1;
	char *out = arena_alloc(a, cap + 8);
	size_t o = 0;
	const char *prev_end = NULL;
	for (size_t i = 0; i < ts.n; i++) {
		const struct lex_token *t = &ts.t[i];
		/* One space where the text had a gap; also between two operators
		 * that would make a comment once they touch ("- -", "/ *"). */
		if (prev_end && (t->p > prev_end || (o > 0 && t->type == LEX_OP &&
						     ((out[o - 1] == '-' && t->p[0] == '-') ||
						      (out[o - 1] == '/' && t->p[0] == '*')))))
			out[o++] = ' ';
		size_t close = literal_list(&ts, i);
		if (close) {
			memcpy(out + o, "(?+)", 4);
			o += 4;
			prev_end = ts.t[close].p + ts.t[close].n;
			i = close;
			continue;
		}
		if (is_literal(t)) {
			out[o++] = '?';
		} else if (t->type == LEX_WORD) {
			for (size_t k = 0; k < t->n; k++) {
				char c = t->p[k];
				out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
			}
		} else {
			memcpy(out + o, t->p, t->n);
			o += t->n;
		}
		prev_end = t->p + t->n;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

size_t redact_secret_params(struct arena *a, const char *sql, size_t len, bool *secret, size_t n)
{
	struct toks ts;
	toks_lex(a, sql, len, &ts);
	ts.params = true;
	for (size_t i = 0; i < ts.n;) {
		size_t end = stmt_end(&ts, i);
		mark_stmt(&ts, i, end);
		i = end + 1;
	}
	size_t k = 0, found = 0;
	for (size_t i = 0; i < n; i++)
		secret[i] = false;
	for (size_t i = 0; i < ts.n; i++) {
		if (ts.t[i].type != LEX_PARAM)
			continue;
		if (k < n && ts.repl[i] == redact_mark) {
			secret[k] = true;
			found++;
		}
		k++;
	}
	return found;
}

char *redact_normalise(struct arena *a, const char *sql, size_t len, size_t *outlen)
{
	struct toks ts;
	toks_lex(a, sql, len, &ts);
	return normalise_toks(ts, outlen);
}

void redact_both(struct arena *a, const char *sql, size_t len, char **red, size_t *red_len,
		 char **norm, size_t *norm_len)
{
	struct toks ts;
	toks_lex(a, sql, len, &ts);
	*norm = normalise_toks(ts, norm_len);
	*red = redact_toks(&ts, sql, len, red_len, NULL);
}
