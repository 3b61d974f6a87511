/* ddlgate directives read from SQL comment tokens (allow, migration). */
#include "rules/directive.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "rules/lex.h"

static const char *const fixed_rules[] = {"migration-conflict", "ddl-outside-window",
					  "unparseable-ddl"};

bool directive_rule_is_fixed(const char *id)
{
	for (size_t i = 0; i < sizeof(fixed_rules) / sizeof(fixed_rules[0]); i++)
		if (strcasecmp(id, fixed_rules[i]) == 0)
			return true;
	return false;
}

bool directive_allows(const struct rules_directives *d, const char *id)
{
	if (directive_rule_is_fixed(id))
		return false;
	for (size_t i = 0; i < d->nallow; i++)
		if (strcasecmp(d->allow[i], id) == 0)
			return true;
	return false;
}

/* A cursor over one comment's body. */
struct dcur {
	const char *p;
	const char *end;
};

static void skip_space(struct dcur *c)
{
	while (c->p < c->end && isspace((unsigned char)*c->p))
		c->p++;
}

static bool is_id_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '-' || ch == '_';
}

/* Reads a word of [A-Za-z0-9_-]; returns its length (0: none). */
static size_t take_word(struct dcur *c, const char **w)
{
	*w = c->p;
	while (c->p < c->end && is_id_char(*c->p))
		c->p++;
	return (size_t)(c->p - *w);
}

/* Reads key="value" (or 'value'); false on a syntax error. */
static bool take_pair(struct arena *a, struct dcur *c, const char **key, size_t *keylen,
		      const char **val)
{
	*keylen = take_word(c, key);
	if (*keylen == 0)
		return false;
	skip_space(c);
	if (c->p >= c->end || *c->p != '=')
		return false;
	c->p++;
	skip_space(c);
	if (c->p >= c->end || (*c->p != '"' && *c->p != '\''))
		return false;
	char q = *c->p++;
	const char *start = c->p;
	while (c->p < c->end && *c->p != q)
		c->p++;
	if (c->p >= c->end)
		return false;
	*val = arena_strndup(a, start, (size_t)(c->p - start));
	c->p++;
	return true;
}

/*
 * Parses "allow id[,id...] [reason="..."]" after the verb. Ids go into d
 * (up to DIRECTIVE_MAX_ALLOW; more is an error). Returns false on a
 * syntax error, leaving what was parsed so far.
 */
/* The rest of a directive: key="value" pairs where only `key` is known;
 * its value goes to *out. False on anything else. */
static bool take_only_key(struct arena *a, struct dcur *c, const char *key_want, const char **out)
{
	size_t want = strlen(key_want);
	for (;;) {
		skip_space(c);
		if (c->p >= c->end)
			return true;
		const char *key, *val;
		size_t keylen;
		if (!take_pair(a, c, &key, &keylen, &val))
			return false;
		if (keylen != want || strncasecmp(key, key_want, want) != 0)
			return false;
		*out = val;
	}
}

static bool parse_allow(struct arena *a, struct dcur *c, struct rules_directives *d)
{
	bool any = false;
	for (;;) {
		skip_space(c);
		const char *w;
		size_t n = take_word(c, &w);
		if (n == 0)
			return false;
		skip_space(c);
		if (c->p < c->end && *c->p == '=') {
			/* that was a key: rewind and read pairs */
			c->p = w;
			break;
		}
		if (d->nallow >= DIRECTIVE_MAX_ALLOW)
			return false;
		d->allow[d->nallow++] = arena_strndup(a, w, n);
		any = true;
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		break;
	}
	if (!any)
		return false;
	return take_only_key(a, c, "reason", &d->reason);
}

/* "migration [name=\"...\"]" or "migration end"; the verb "migration-end"
 * arrives here with end already set. */
static bool parse_migration(struct arena *a, struct dcur *c, struct rules_directives *d, bool end)
{
	skip_space(c);
	const char *w = c->p;
	if (!end && c->end - w >= 3 && strncasecmp(w, "end", 3) == 0 &&
	    (c->end - w == 3 || !is_id_char(w[3]))) {
		c->p += 3;
		end = true;
	}
	if (end) {
		d->migration_end = true;
		d->migration = false;
		skip_space(c);
		return c->p >= c->end;
	}
	d->migration = true;
	d->migration_end = false;
	return take_only_key(a, c, "name", &d->migration_name);
}

bool directive_parse_comment(struct arena *a, const char *text, size_t n,
			     struct rules_directives *d)
{
	struct dcur c = {text, text + n};
	if (n >= 2 && text[0] == '/' && text[1] == '*') {
		c.p += 2;
		if (n >= 4 && text[n - 2] == '*' && text[n - 1] == '/')
			c.end -= 2;
	} else if (n >= 2 && text[0] == '-' && text[1] == '-') {
		c.p += 2;
	} else if (n >= 1 && text[0] == '#') {
		c.p += 1;
	}
	skip_space(&c);
	static const char tag[] = "ddlgate:";
	if ((size_t)(c.end - c.p) < sizeof(tag) - 1 || strncasecmp(c.p, tag, sizeof(tag) - 1) != 0)
		return false;
	c.p += sizeof(tag) - 1;
	const char *verb;
	size_t vn = take_word(&c, &verb);
	bool ok;
	if (vn == 5 && strncasecmp(verb, "allow", 5) == 0)
		ok = parse_allow(a, &c, d);
	else if (vn == 9 && strncasecmp(verb, "migration", 9) == 0)
		ok = parse_migration(a, &c, d, false);
	else if (vn == 13 && strncasecmp(verb, "migration-end", 13) == 0)
		ok = parse_migration(a, &c, d, true);
	else
		ok = false;
	if (!ok && !d->error)
		d->error = arena_strndup(a, text, n > 200 ? 200 : n);
	return true;
}

bool directive_scan(struct arena *a, const char *sql, size_t len, unsigned lex_flags,
		    struct rules_directives *d)
{
	memset(d, 0, sizeof(*d));
	/* the common statement carries no directive: skip the second lexing */
	if (!lex_contains_ci(sql, len, "ddlgate:"))
		return false;
	struct lexer lx;
	struct lex_token tok;
	bool found = false;
	lex_init(&lx, sql, len, lex_flags | LEX_KEEP_COMMENTS);
	while (lex_next(&lx, &tok)) {
		if (tok.type == LEX_COMMENT && directive_parse_comment(a, tok.p, tok.n, d))
			found = true;
	}
	return found;
}
