/* Migration signals: the lock calls, lock-table updates and directives of a statement. */
#include "rules/migration_signal.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rules/arena.h"
#include "rules/directive.h"
#include "rules/lex.h"
#include "rules/pattern.h"

/* One pass over the text: this runs for every SELECT / UPDATE / DO. */
bool migration_maybe_signal(const char *sql, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++) {
		unsigned char c = (unsigned char)sql[i] | 0x20;
		if (c == 'l' && strncasecmp(sql + i, "lock", 4) == 0)
			return true;
		if (c == 'd' && i + 8 <= len && strncasecmp(sql + i, "ddlgate:", 8) == 0)
			return true;
	}
	return false;
}

/* Copies the text of a string or quoted-identifier token without its
 * quotes (and charset prefix), undoing doubled quotes and backslashes. */
static void mig_unquote(const struct lex_token *t, char *out, size_t outlen)
{
	const char *p = t->p, *end = t->p + t->n;
	size_t o = 0;
	char q;

	if (t->type != LEX_STRING && t->type != LEX_QUOTED_IDENT) {
		size_t n = t->n < outlen - 1 ? t->n : outlen - 1;
		memcpy(out, t->p, n);
		out[n] = 0;
		return;
	}
	while (p < end && *p != '\'' && *p != '"' && *p != '`')
		p++;
	if (p >= end) {
		out[0] = 0;
		return;
	}
	q = *p++;
	if (end > p && end[-1] == q)
		end--;
	while (p < end && o + 1 < outlen) {
		if (*p == '\\' && q != '`' && p + 1 < end)
			p++;
		else if (*p == q && p + 1 < end && p[1] == q)
			p++;
		out[o++] = *p++;
	}
	out[o] = 0;
}

/* A ddlgate:migration directive in one comment token, read by the one
 * directive parser (rules/directive.c) so that the inspector and the
 * migration tracker agree on what a comment says. */
static void mig_directive(const char *p, size_t n, struct migration_signal *out)
{
	struct rules_directives d = {0};
	struct arena a;

	if (!lex_contains_ci(p, n, "ddlgate:migration"))
		return;
	arena_init(&a, 256);
	if (directive_parse_comment(&a, p, n, &d)) {
		if (d.migration_end) {
			out->kind = MIG_SIG_DIRECTIVE_END;
		} else if (d.migration) {
			out->kind = MIG_SIG_DIRECTIVE;
			snprintf(out->name, sizeof(out->name), "%s",
				 d.migration_name ? d.migration_name : "directive");
			snprintf(out->tool, sizeof(out->tool), "directive");
		}
	}
	arena_cleanup(&a);
}

static bool mig_is_ident(const struct lex_token *t, const char *name)
{
	char buf[64];
	if (t->type == LEX_WORD)
		return t->n == strlen(name) && strncasecmp(t->p, name, t->n) == 0;
	if (t->type != LEX_QUOTED_IDENT)
		return false;
	mig_unquote(t, buf, sizeof(buf));
	return strcasecmp(buf, name) == 0;
}

/* After UPDATE: [schema.]table SET col = v, ... [WHERE ...]. */
static void mig_scan_update(struct lexer *lx, struct migration_signal *out)
{
	static const struct {
		const char *table, *column, *tool;
	} tables[] = {
	    {"knex_migrations_lock", "is_locked", "knex"},
	    {"DATABASECHANGELOGLOCK", "LOCKED", "liquibase"},
	};
	struct lex_token t, prev = {0};
	int which = -1;

	/* the table: the last identifier before SET */
	while (lex_next(lx, &t)) {
		if (lex_is_word(&t, "SET"))
			break;
		if (t.type == LEX_WORD || t.type == LEX_QUOTED_IDENT)
			prev = t;
	}
	if (t.type == LEX_EOF || prev.p == NULL)
		return;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (mig_is_ident(&prev, tables[i].table))
			which = (int)i;
	if (which < 0)
		return;
	/* assignments up to WHERE */
	while (lex_next(lx, &t)) {
		if (lex_is_word(&t, "WHERE") || lex_is_op(&t, ";"))
			return;
		if (!mig_is_ident(&t, tables[which].column))
			continue;
		if (!lex_next(lx, &t) || !lex_is_op(&t, "="))
			return;
		if (!lex_next(lx, &t))
			return;
		bool one = (t.type == LEX_NUMBER && t.n == 1 && t.p[0] == '1') ||
			   lex_is_word(&t, "TRUE") ||
			   (t.type == LEX_BIT && memchr(t.p, '1', t.n) != NULL);
		bool zero = (t.type == LEX_NUMBER && t.n == 1 && t.p[0] == '0') ||
			    lex_is_word(&t, "FALSE") || (t.type == LEX_BIT && !one);
		if (!one && !zero)
			return;
		out->kind = one ? MIG_SIG_LOCK_TABLE_SET : MIG_SIG_LOCK_TABLE_CLEAR;
		snprintf(out->name, sizeof(out->name), "%s", tables[which].table);
		snprintf(out->tool, sizeof(out->tool), "%s", tables[which].tool);
		return;
	}
}

/* After SELECT / DO: the first GET_LOCK / RELEASE_LOCK / RELEASE_ALL_LOCKS
 * call. param NULL: literal names only; else a ? as the name is taken too,
 * with *param its placeholder's index (from 0) and the name left empty. */
static void mig_scan_call(struct lexer *lx, struct migration_signal *out, unsigned *param)
{
	struct lex_token t;
	unsigned params = 0;

	while (lex_next(lx, &t)) {
		enum migration_signal_kind k;
		params += t.type == LEX_PARAM;
		if (lex_is_word(&t, "GET_LOCK"))
			k = MIG_SIG_GET_LOCK;
		else if (lex_is_word(&t, "RELEASE_LOCK"))
			k = MIG_SIG_RELEASE_LOCK;
		else if (lex_is_word(&t, "RELEASE_ALL_LOCKS"))
			k = MIG_SIG_RELEASE_ALL;
		else
			continue;
		if (!lex_next(lx, &t) || !lex_is_op(&t, "("))
			continue;
		if (k == MIG_SIG_RELEASE_ALL) {
			out->kind = k;
			return;
		}
		if (lex_next(lx, &t) && t.type == LEX_PARAM && param) {
			struct lex_token after;
			if (!lex_next(lx, &after) ||
			    (!lex_is_op(&after, ",") && !lex_is_op(&after, ")")))
				return; /* ? + 1: an expression */
			out->kind = k;
			*param = params;
			return;
		}
		if (param || (t.type != LEX_STRING && t.type != LEX_NUMBER))
			return; /* bound names only; or a parameter or an expression */
		out->kind = k;
		mig_unquote(&t, out->name, sizeof(out->name));
		snprintf(out->tool, sizeof(out->tool), "%s", migration_tool_for(out->name));
		return;
	}
}

bool migration_scan(const char *sql, size_t len, struct migration_signal *out)
{
	struct lexer lx;
	struct lex_token t;

	memset(out, 0, sizeof(*out));
	lex_init(&lx, sql, len, LEX_KEEP_COMMENTS);
	while (lex_next(&lx, &t)) {
		if (t.type == LEX_COMMENT) {
			mig_directive(t.p, t.n, out);
			if (out->kind != MIG_SIG_NONE)
				return true;
			continue;
		}
		if (lex_is_word(&t, "SELECT") || lex_is_word(&t, "DO"))
			mig_scan_call(&lx, out, NULL);
		else if (lex_is_word(&t, "UPDATE"))
			mig_scan_update(&lx, out);
		break;
	}
	if (out->kind == MIG_SIG_NONE) {
		/* a directive may also follow the statement's first keyword */
		lex_init(&lx, sql, len, LEX_KEEP_COMMENTS);
		struct migration_signal d = {0};
		while (lex_next(&lx, &t)) {
			if (t.type == LEX_COMMENT) {
				mig_directive(t.p, t.n, &d);
				if (d.kind != MIG_SIG_NONE) {
					*out = d;
					break;
				}
			}
		}
	}
	return out->kind != MIG_SIG_NONE;
}

/* ---- table names ---- */

#define MIG_IDENT_MAX 256

/* Reads [schema.]name starting at t (already lexed). Fills schema ("" when
 * absent) and name; *next gets the token after the name. False when t is
 * no identifier or a part does not fit. */
static bool mig_table_name(struct lexer *lx, const struct lex_token *t, char *schema, size_t slen,
			   char *name, size_t nlen, struct lex_token *next)
{
	char a[MIG_IDENT_MAX], b[MIG_IDENT_MAX];

	if ((t->type != LEX_WORD && t->type != LEX_QUOTED_IDENT) || t->n >= sizeof(a))
		return false;
	mig_unquote(t, a, sizeof(a));
	if (!lex_next(lx, next) || !lex_is_op(next, ".")) {
		if (strlen(a) >= nlen || slen == 0)
			return false;
		schema[0] = 0;
		snprintf(name, nlen, "%s", a);
		return true;
	}
	struct lex_token u;
	if (!lex_next(lx, &u) || (u.type != LEX_WORD && u.type != LEX_QUOTED_IDENT) ||
	    u.n >= sizeof(b))
		return false;
	mig_unquote(&u, b, sizeof(b));
	if (strlen(a) >= slen || strlen(b) >= nlen)
		return false;
	snprintf(schema, slen, "%s", a);
	snprintf(name, nlen, "%s", b);
	(void)lex_next(lx, next);
	return true;
}

static bool mig_is_any_word(const struct lex_token *t, const char *const *words)
{
	for (size_t i = 0; words[i]; i++)
		if (lex_is_word(t, words[i]))
			return true;
	return false;
}

bool migration_write_target(const char *sql, size_t len, unsigned mode, char *schema, size_t slen,
			    char *table, size_t tlen)
{
	static const char *const mods[] = {"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE",
					   NULL};
	struct lexer lx;
	struct lex_token t, next;

	lex_init(&lx, sql, len, mode & ~(unsigned)LEX_KEEP_COMMENTS);
	if (!lex_next(&lx, &t))
		return false;
	bool update = lex_is_word(&t, "UPDATE");
	if (!update && !lex_is_word(&t, "INSERT") && !lex_is_word(&t, "REPLACE"))
		return false;
	while (lex_next(&lx, &t) && mig_is_any_word(&t, mods))
		;
	if (!update && lex_is_word(&t, "INTO") && !lex_next(&lx, &t))
		return false;
	if (!mig_table_name(&lx, &t, schema, slen, table, tlen, &next))
		return false;
	if (!update)
		return true;
	/* one table, perhaps with an alias, then SET: anything else is a join */
	if (lex_is_word(&next, "AS") && !lex_next(&lx, &next))
		return false;
	if ((next.type == LEX_WORD || next.type == LEX_QUOTED_IDENT) && !lex_is_word(&next, "SET"))
		(void)lex_next(&lx, &next);
	return lex_is_word(&next, "SET");
}

bool migration_scan_tables(const char *sql, size_t len, unsigned mode,
			   bool (*fn)(const char *schema, const char *table, void *arg), void *arg)
{
	static const char *const intro[] = {"FROM", "JOIN", "INTO", "UPDATE", "TABLE", NULL};
	struct lexer lx;
	struct lex_token t, next;
	char schema[MIG_IDENT_MAX], table[MIG_IDENT_MAX];
	lex_init(&lx, sql, len, mode & ~(unsigned)LEX_KEEP_COMMENTS);
	if (!lex_next(&lx, &t))
		return false;
	while (t.type != LEX_EOF) {
		if (!mig_is_any_word(&t, intro)) {
			if (!lex_next(&lx, &t))
				break;
			continue;
		}
		bool list = lex_is_word(&t, "FROM") || lex_is_word(&t, "UPDATE");
		if (!lex_next(&lx, &t))
			break;
		/* INSERT ... INTO, UPDATE LOW_PRIORITY ..., CREATE TABLE IF NOT
		 * EXISTS (how sequelize and drizzle create theirs): skip the modifiers */
		while (lex_is_word(&t, "LOW_PRIORITY") || lex_is_word(&t, "IGNORE") ||
		       lex_is_word(&t, "IF") || lex_is_word(&t, "NOT") || lex_is_word(&t, "EXISTS"))
			if (!lex_next(&lx, &t))
				return false;
		for (;;) {
			if (!mig_table_name(&lx, &t, schema, sizeof(schema), table, sizeof(table),
					    &next)) {
				if (!lex_next(&lx, &t))
					return false;
				break;
			}
			if (fn(schema, table, arg))
				return true;
			t = next;
			if (!list)
				break;
			/* an alias, then perhaps a comma and the next table */
			if (lex_is_word(&t, "AS") && !lex_next(&lx, &t))
				return false;
			if (t.type == LEX_WORD && !mig_is_any_word(&t, intro) &&
			    !lex_is_word(&t, "WHERE") && !lex_is_word(&t, "SET") &&
			    !lex_next(&lx, &t))
				return false;
			if (!lex_is_op(&t, ","))
				break;
			if (!lex_next(&lx, &t))
				return false;
		}
	}
	return false;
}

struct mig_history_ctx {
	const struct rules_patterns *tables;
	struct migration_signal *out;
};

static bool mig_history_hit(const char *schema, const char *table, void *arg)
{
	struct mig_history_ctx *c = arg;
	(void)schema;
	if (!rules_patterns_match(c->tables, table))
		return false;
	c->out->kind = MIG_SIG_HISTORY;
	snprintf(c->out->name, sizeof(c->out->name), "%s", table);
	snprintf(c->out->tool, sizeof(c->out->tool), "%s", migration_tool_for(table));
	return true;
}

#define MIG_HISTORY_LITS 32

/* Whether the text holds the literal start of one of the patterns (the
 * part before the first wildcard; an empty one always may match). This
 * runs for every DML statement on the fast path: one pass over the text,
 * comparing only where a byte can start one of the literals. */
static bool mig_history_maybe(const char *sql, size_t len, const struct rules_patterns *tables)
{
	struct {
		const char *p;
		size_t n;
	} lit[MIG_HISTORY_LITS];
	size_t nlit = 0;
	uint8_t first[256 / 8] = {0};

	for (size_t i = 0; i < tables->n; i++) {
		const char *p = tables->items[i];
		size_t n = strcspn(p, "*?#\\");
		if (n == 0 || nlit == MIG_HISTORY_LITS)
			return true; /* matches anywhere, or too many to sort out */
		unsigned char c = (unsigned char)tolower((unsigned char)p[0]);
		first[c / 8] |= (uint8_t)(1u << (c % 8));
		c = (unsigned char)toupper((unsigned char)p[0]);
		first[c / 8] |= (uint8_t)(1u << (c % 8));
		lit[nlit].p = p;
		lit[nlit].n = n;
		nlit++;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)sql[i];
		if (!(first[c / 8] & (1u << (c % 8))))
			continue;
		for (size_t k = 0; k < nlit; k++)
			if (lit[k].n <= len - i && strncasecmp(sql + i, lit[k].p, lit[k].n) == 0)
				return true;
	}
	return false;
}

/*
 * Tools that share a history table name different columns in it, and
 * their statements name those columns: golang-migrate's schema_migrations
 * has `dirty` beside `version` (Rails' and dbmate's have `version` only);
 * db-migrate's migrations has `run_on`, TypeORM's `timestamp` (always
 * quoted by TypeORM; a bare TIMESTAMP is a type). Narrows out->tool, the
 * table's candidates, by the columns sql names.
 */
static void mig_history_columns(const char *sql, size_t len, unsigned mode,
				struct migration_signal *out)
{
	bool dirty = false, version = false, run_on = false, timestamp = false;
	struct lexer lx;
	struct lex_token t;
	lex_init(&lx, sql, len, mode & ~(unsigned)LEX_KEEP_COMMENTS);
	while (lex_next(&lx, &t) && t.type != LEX_EOF) {
		if (t.type != LEX_WORD && t.type != LEX_QUOTED_IDENT)
			continue;
		dirty |= mig_is_ident(&t, "dirty");
		version |= mig_is_ident(&t, "version");
		run_on |= mig_is_ident(&t, "run_on");
		timestamp |= t.type == LEX_QUOTED_IDENT && mig_is_ident(&t, "timestamp");
	}
	const char *tool = NULL;
	if (strcasecmp(out->name, "schema_migrations") == 0)
		tool = dirty ? "golang-migrate" : version ? "rails/dbmate" : NULL;
	else if (strcasecmp(out->name, "migrations") == 0)
		tool = run_on ? "db-migrate" : timestamp ? "typeorm" : NULL;
	if (tool)
		(void)migration_tool_merge(out->tool, sizeof(out->tool), tool);
}

bool migration_scan_history(const char *sql, size_t len, unsigned mode,
			    const struct rules_patterns *tables, struct migration_signal *out)
{
	memset(out, 0, sizeof(*out));
	if (!tables || tables->n == 0 || !mig_history_maybe(sql, len, tables))
		return false;
	struct mig_history_ctx c = {tables, out};
	if (!migration_scan_tables(sql, len, mode, mig_history_hit, &c))
		return false;
	mig_history_columns(sql, len, mode, out);
	return true;
}

/* Whether the '/'-separated list names tool (n bytes). */
static bool mig_list_has(const char *list, const char *tool, size_t n)
{
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, "/");
		if (k == n && strncasecmp(p, tool, n) == 0)
			return true;
		p += k + (p[k] == '/');
	}
	return false;
}

bool migration_tool_merge(char *tool, size_t cap, const char *more)
{
	char both[MIGRATION_TOOL_MAX] = "";
	size_t o = 0;
	if (!more || !*more || cap == 0)
		return false;
	if (!tool[0]) {
		snprintf(tool, cap, "%s", more);
		return tool[0] != 0;
	}
	for (const char *p = tool; *p;) {
		size_t k = strcspn(p, "/");
		if (k && mig_list_has(more, p, k) && o + k + 2 < sizeof(both))
			o += (size_t)snprintf(both + o, sizeof(both) - o, "%s%.*s", o ? "/" : "",
					      (int)k, p);
		p += k + (p[k] == '/');
	}
	if (!both[0] || strcmp(both, tool) == 0)
		return false; /* nothing in common: the earlier signal stands */
	snprintf(tool, cap, "%s", both);
	return true;
}

bool migration_tool_by_program(char *tool, size_t cap, const char *program)
{
	/* the driver each of these tools connects with */
	static const struct {
		const char *program; /* program_name or _client_name, a prefix */
		const char *tools;
	} drivers[] = {
	    {"Go-MySQL-Driver", "golang-migrate/dbmate"}, /* go-sql-driver */
	    {"Node-MySQL", "db-migrate/typeorm"},	  /* mysql2 */
	    {"libmysql", "rails"},			  /* the mysql2 gem on libmysqlclient */
	    {"libmariadb", "rails"},			  /* ... or on libmariadb */
	};
	if (!program || !*program)
		return false;
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strncasecmp(program, drivers[i].program, strlen(drivers[i].program)) == 0)
			return migration_tool_merge(tool, cap, drivers[i].tools);
	return false;
}

/*
 * Active Record (4.2 and later) locks with GET_LOCK of its salt times the
 * CRC-32 of the database name, a multiple of the salt; golang-migrate with
 * CRC-32 of its database and table times its own salt, kept to 32 bits.
 * Any other digit run is one of the two, as far as ddlgate can tell.
 */
#define MIG_RAILS_LOCK_SALT 2053462845ULL

static const char *mig_numeric_lock_tool(const char *name)
{
	unsigned long long v = 0;
	size_t i = 0;
	if (name[0] == '0' && name[1]) /* not how either tool prints a number */
		return "rails/golang-migrate";
	for (; isdigit((unsigned char)name[i]); i++) {
		if (v > (~0ULL - 9) / 10)
			return "rails/golang-migrate";
		v = v * 10 + (unsigned)(name[i] - '0');
	}
	if (name[i] || i == 0)
		return "rails/golang-migrate";
	if (v && v % MIG_RAILS_LOCK_SALT == 0 && v / MIG_RAILS_LOCK_SALT <= 0xFFFFFFFFULL)
		return "rails";
	if (v <= 0xFFFFFFFFULL)
		return "golang-migrate";
	return "rails/golang-migrate";
}

const char *migration_tool_for(const char *name)
{
	static const struct {
		const char *table, *tool;
	} history[] = {
	    {"django_migrations", "django"},
	    {"alembic_version", "alembic"},
	    {"SequelizeMeta", "sequelize"},
	    {"__drizzle_migrations", "drizzle"},
	    {"schema_migrations", "rails/golang-migrate/dbmate"},
	    {"ar_internal_metadata", "rails"},
	    {"knex_migrations", "knex"},
	    {"flyway_schema_history", "flyway"},
	    {"DATABASECHANGELOG", "liquibase"},
	    {"_prisma_migrations", "prisma"},
	    {"migrations", "db-migrate/typeorm"},
	};
	size_t i;

	if (!name || !*name)
		return "";
	for (i = 0; i < sizeof(history) / sizeof(history[0]); i++)
		if (strcasecmp(name, history[i].table) == 0)
			return history[i].tool;
	if (strcasecmp(name, "prisma_migrate") == 0)
		return "prisma";
	if (strncasecmp(name, "atlas_", 6) == 0)
		return "atlas";
	if (strncasecmp(name, "flyway", 6) == 0)
		return "flyway";
	if (strcasecmp(name, "knex_migrations_lock") == 0)
		return "knex";
	if (strcasecmp(name, "DATABASECHANGELOGLOCK") == 0)
		return "liquibase";
	for (i = 0; name[i]; i++)
		if (!isdigit((unsigned char)name[i]) && name[i] != '-')
			break;
	if (!name[i])
		return mig_numeric_lock_tool(name); /* both take numeric advisory locks */
	return "";
}

bool migration_scan_bound(const char *sql, size_t len, struct migration_signal *out,
			  unsigned *param)
{
	struct lexer lx;
	struct lex_token t;

	memset(out, 0, sizeof(*out));
	lex_init(&lx, sql, len, 0);
	if (lex_next(&lx, &t) && (lex_is_word(&t, "SELECT") || lex_is_word(&t, "DO")))
		mig_scan_call(&lx, out, param);
	if (out->kind != MIG_SIG_GET_LOCK && out->kind != MIG_SIG_RELEASE_LOCK) {
		out->kind = MIG_SIG_NONE;
		return false;
	}
	return true;
}

void migration_signal_name(struct migration_signal *sig, const char *name)
{
	snprintf(sig->name, sizeof(sig->name), "%s", name);
	snprintf(sig->tool, sizeof(sig->tool), "%s", migration_tool_for(sig->name));
}
