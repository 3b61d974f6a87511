/* Column type comparison for column-type-change: same, widening, or other. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/rule_internal.h"

/* A column type taken apart: "decimal(10,2) unsigned" -> decimal, 10, 2, unsigned. */
struct ctype {
	char base[32];
	char args[512]; /* text between the parentheses, "" if none */
	bool has_args;
	bool is_unsigned;
	char rest[128]; /* other trailing words (charset, collate, zerofill), normalised */
};

static void ctype_parse(const char *s, struct ctype *t)
{
	memset(t, 0, sizeof(*t));
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = 0;
	while (*s && (isalnum((unsigned char)*s) || *s == '_') && n + 1 < sizeof(t->base))
		t->base[n++] = (char)tolower((unsigned char)*s++);
	t->base[n] = '\0';
	while (*s && isspace((unsigned char)*s))
		s++;
	if (*s == '(') {
		s++;
		int depth = 1;
		char q = 0;
		n = 0;
		for (; *s && depth; s++) {
			char ch = *s;
			if (q) {
				if (ch == q)
					q = 0;
			} else if (ch == '\'' || ch == '"') {
				q = ch;
			} else if (ch == '(') {
				depth++;
			} else if (ch == ')' && --depth == 0) {
				continue;
			} else if (isspace((unsigned char)ch)) {
				continue;
			}
			if (n + 1 < sizeof(t->args))
				t->args[n++] = q ? ch : (char)tolower((unsigned char)ch);
		}
		t->args[n] = '\0';
		t->has_args = true;
	}
	/* trailing words: "unsigned", "zerofill", "character set x", ... */
	n = 0;
	while (*s) {
		while (*s && isspace((unsigned char)*s))
			s++;
		const char *w = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		size_t wl = (size_t)(s - w);
		if (wl == 0)
			break;
		if (wl == 8 && strncasecmp(w, "unsigned", 8) == 0) {
			t->is_unsigned = true;
			continue;
		}
		if (wl == 8 && strncasecmp(w, "zerofill", 8) == 0) {
			t->is_unsigned = true; /* the server stores ZEROFILL columns unsigned */
			continue;
		}
		if (wl == 6 && strncasecmp(w, "signed", 6) == 0)
			continue;
		for (size_t i = 0; i < wl && n + 2 < sizeof(t->rest); i++)
			t->rest[n++] = (char)tolower((unsigned char)w[i]);
		if (n + 1 < sizeof(t->rest))
			t->rest[n++] = ' ';
	}
	t->rest[n] = '\0';

	/* aliases */
	static const char *const alias[][2] = {
	    {"integer", "int"},		{"int4", "int"},	{"int8", "bigint"},
	    {"int1", "tinyint"},	{"int2", "smallint"},	{"int3", "mediumint"},
	    {"middleint", "mediumint"}, {"bool", "tinyint"},	{"boolean", "tinyint"},
	    {"dec", "decimal"},		{"numeric", "decimal"}, {"fixed", "decimal"},
	    {"real", "double"},		{"float8", "double"},	{"float4", "float"},
	    {"long", "mediumtext"},	{"character", "char"},
	};
	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (strcmp(t->base, alias[i][0]) == 0)
			snprintf(t->base, sizeof(t->base), "%s", alias[i][1]);
}

static int rank_in(const char *base, const char *const *family)
{
	for (int i = 0; family[i]; i++)
		if (strcmp(base, family[i]) == 0)
			return i + 1;
	return 0;
}

static const char *const ints[] = {"tinyint", "smallint", "mediumint", "int", "bigint", NULL};
static const char *const texts[] = {"tinytext", "text", "mediumtext", "longtext", NULL};
static const char *const blobs[] = {"tinyblob", "blob", "mediumblob", "longblob", NULL};
static const char *const floats[] = {"float", "double", NULL};
static const char *const lengths[] = {"char", "varchar", "binary", "varbinary", "bit", NULL};
static const char *const times[] = {"datetime", "timestamp", "time", NULL};

static long arg_num(const struct ctype *t, int which, long dflt)
{
	if (!t->has_args)
		return dflt;
	const char *p = t->args;
	for (int i = 0; i < which; i++) {
		p = strchr(p, ',');
		if (!p)
			return dflt;
		p++;
	}
	char *end;
	long v = strtol(p, &end, 10);
	return end == p ? dflt : v;
}

/*
 * Compares two column types as written in DDL or information_schema's
 * COLUMN_TYPE. Integer display widths are ignored. Widening keeps the
 * storage class and can hold every old value: a larger integer of the same
 * signedness (or unsigned to a strictly larger signed one), a longer
 * char/varchar/binary/varbinary/bit, a larger text or blob, float to
 * double, decimal with no fewer integer or fraction digits, more
 * fractional-second digits, enum/set members appended at the end.
 */
enum type_change rules_type_compare(const char *old_type, const char *new_type)
{
	struct ctype o, n;
	ctype_parse(old_type, &o);
	ctype_parse(new_type, &n);
	int ro, rn;
	if ((ro = rank_in(o.base, ints)) && (rn = rank_in(n.base, ints))) {
		if (strcmp(o.rest, n.rest) != 0)
			return TYPE_OTHER;
		if (ro == rn && o.is_unsigned == n.is_unsigned)
			return TYPE_SAME;
		if (o.is_unsigned == n.is_unsigned && rn > ro)
			return TYPE_WIDENING;
		if (o.is_unsigned && !n.is_unsigned && rn > ro)
			return TYPE_WIDENING;
		return TYPE_OTHER;
	}
	if (strcmp(o.rest, n.rest) != 0)
		return TYPE_OTHER;
	if (strcmp(o.base, n.base) == 0 && strcmp(o.args, n.args) == 0 &&
	    o.is_unsigned == n.is_unsigned)
		return TYPE_SAME;
	if ((ro = rank_in(o.base, texts)) && (rn = rank_in(n.base, texts)))
		return rn >= ro ? TYPE_WIDENING : TYPE_OTHER;
	if ((ro = rank_in(o.base, blobs)) && (rn = rank_in(n.base, blobs)))
		return rn >= ro ? TYPE_WIDENING : TYPE_OTHER;
	if ((ro = rank_in(o.base, floats)) && (rn = rank_in(n.base, floats)) &&
	    o.is_unsigned == n.is_unsigned && !o.has_args && !n.has_args)
		return rn >= ro ? TYPE_WIDENING : TYPE_OTHER;
	if (strcmp(o.base, n.base) != 0 || o.is_unsigned != n.is_unsigned)
		return TYPE_OTHER;
	if (rank_in(o.base, lengths))
		return arg_num(&n, 0, 1) >= arg_num(&o, 0, 1) ? TYPE_WIDENING : TYPE_OTHER;
	if (rank_in(o.base, times))
		return arg_num(&n, 0, 0) >= arg_num(&o, 0, 0) ? TYPE_WIDENING : TYPE_OTHER;
	if (strcmp(o.base, "decimal") == 0) {
		long op = arg_num(&o, 0, 10), os = arg_num(&o, 1, 0);
		long np = arg_num(&n, 0, 10), ns = arg_num(&n, 1, 0);
		return (np - ns >= op - os && ns >= os) ? TYPE_WIDENING : TYPE_OTHER;
	}
	if (strcmp(o.base, "enum") == 0 || strcmp(o.base, "set") == 0) {
		size_t ol = strlen(o.args);
		if (strncmp(n.args, o.args, ol) == 0 && n.args[ol] == ',')
			return TYPE_WIDENING;
		return TYPE_OTHER;
	}
	return TYPE_OTHER;
}
