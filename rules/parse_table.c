/* DDL parser, tables: CREATE / ALTER / DROP TABLE, indexes, columns, databases. */
#include <stdio.h>
#include <string.h>

#include "rules/parse_internal.h"

/* ---- data types ------------------------------------------------------ */

struct type_alias {
	const char *from, *to;
};

/* Synonyms MySQL stores under another name. */
static const struct type_alias type_aliases[] = {
    {"integer", "int"},
    {"int1", "tinyint"},
    {"int2", "smallint"},
    {"int3", "mediumint"},
    {"int4", "int"},
    {"int8", "bigint"},
    {"middleint", "mediumint"},
    {"dec", "decimal"},
    {"numeric", "decimal"},
    {"fixed", "decimal"},
    {"real", "double"},
    {"float4", "float"},
    {"float8", "double"},
    {"character", "char"},
    {"nchar", "char"},
    {"nvarchar", "varchar"},
    {"varchar2", "varchar"},
    {"clob", "longtext"},
    {"geomcollection", "geometrycollection"},
    {NULL, NULL},
};

static const char *const known_types[] = {
    "bit",
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "bigint",
    "decimal",
    "float",
    "double",
    "date",
    "time",
    "datetime",
    "timestamp",
    "year",
    "char",
    "varchar",
    "binary",
    "varbinary",
    "tinyblob",
    "blob",
    "mediumblob",
    "longblob",
    "tinytext",
    "text",
    "mediumtext",
    "longtext",
    "enum",
    "set",
    "json",
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "uuid",
    "inet4",
    "inet6",
    "vector",
    "number",
    "raw",
    "blob",
    NULL,
};

/* Appends src to the type string being built in buf (bounded). */
static void cat(char *buf, size_t size, const char *src)
{
	size_t n = strlen(buf);
	if (n + 1 < size)
		snprintf(buf + n, size - n, "%s", src);
}

/*
 * A column type: base word(s), parameters, UNSIGNED / ZEROFILL. Fills
 * c->type (normalised, e.g. "int unsigned", "varchar(191)", "enum('a','b')")
 * and c->type_base. SERIAL and BOOL expand as MySQL does.
 */
static void data_type(struct parser *p, struct stmt_column *c)
{
	const struct lex_token *t = ps_cur(p);
	if (t->type != LEX_WORD)
		ps_unexpected(p);
	char *base = ps_lower_dup(p, t->p, t->n);
	ps_adv(p);
	if (strcmp(base, "national") == 0) {
		t = ps_cur(p);
		if (t->type != LEX_WORD)
			ps_unexpected(p);
		base = ps_lower_dup(p, t->p, t->n);
		ps_adv(p);
	}
	if (strcmp(base, "double") == 0)
		ps_accept_kw(p, "PRECISION");
	if ((strcmp(base, "char") == 0 || strcmp(base, "character") == 0) &&
	    ps_accept_kw(p, "VARYING"))
		base = "varchar";
	if (strcmp(base, "long") == 0) {
		if (ps_accept_kw(p, "VARBINARY"))
			base = "mediumblob";
		else {
			ps_accept_kw(p, "VARCHAR");
			base = "mediumtext";
		}
	}
	if (strcmp(base, "serial") == 0) {
		c->type = "bigint unsigned";
		c->type_base = "bigint";
		c->not_null = true;
		c->auto_increment = true;
		c->inline_unique = true;
		return;
	}
	const char *params = NULL;
	if (strcmp(base, "bool") == 0 || strcmp(base, "boolean") == 0) {
		base = "tinyint";
		params = "(1)";
	}
	for (const struct type_alias *a = type_aliases; a->from; a++)
		if (strcmp(base, a->from) == 0)
			base = (char *)a->to;
	bool known = false;
	for (const char *const *k = known_types; *k; k++)
		if (strcmp(base, *k) == 0)
			known = true;
	if (!known)
		ps_fail(p, "unknown column type '%s' at line %u", base, t->line);
	if (ps_is_op(p, "(")) {
		size_t b = p->i;
		ps_skip_parens(p);
		params = ps_span_text(p, b, p->i);
	}
	char buf[512] = "";
	cat(buf, sizeof(buf), base);
	if (params)
		cat(buf, sizeof(buf), params);
	for (;;) {
		if (ps_accept_kw(p, "UNSIGNED"))
			cat(buf, sizeof(buf), " unsigned");
		else if (ps_accept_kw(p, "ZEROFILL"))
			cat(buf, sizeof(buf), " zerofill");
		else if (ps_accept_kw(p, "SIGNED") || ps_accept_kw(p, "ASCII") ||
			 ps_accept_kw(p, "UNICODE") || ps_accept_kw(p, "BYTE"))
			;
		else if (ps_is_kw(p, "BINARY") && !lex_is_op(ps_pk(p, 1), "("))
			ps_adv(p); /* char(10) binary: a _bin collation */
		else
			break;
	}
	c->type = arena_strndup(p->a, buf, strlen(buf));
	c->type_base = base;
}

/* ---- column attributes ------------------------------------------------ */

/* RESTRICT | CASCADE | SET NULL | SET DEFAULT | NO ACTION, lower case. */
static const char *fk_action(struct parser *p)
{
	if (ps_accept_kw(p, "RESTRICT"))
		return "restrict";
	if (ps_accept_kw(p, "CASCADE"))
		return "cascade";
	if (ps_accept_kws(p, "SET NULL"))
		return "set null";
	if (ps_accept_kws(p, "SET DEFAULT"))
		return "set default";
	if (ps_accept_kws(p, "NO ACTION"))
		return "no action";
	ps_unexpected(p);
}

/* ( part, ... ): a column with an optional prefix length, or (expr); ASC/DESC. */
static void key_parts(struct parser *p, struct stmt_key_part **out, size_t *n)
{
	ps_expect_op(p, "(");
	*out = NULL;
	*n = 0;
	do {
		*out = ps_grow(p, *out, *n, sizeof(**out));
		struct stmt_key_part *kp = &(*out)[(*n)++];
		memset(kp, 0, sizeof(*kp));
		if (ps_is_op(p, "(")) {
			ps_skip_parens(p); /* functional key part */
		} else {
			kp->column = ps_ident(p);
			if (ps_accept_op(p, "(")) {
				const struct lex_token *t = ps_cur(p);
				if (t->type != LEX_NUMBER)
					ps_unexpected(p);
				unsigned long v = 0;
				for (size_t k = 0; k < t->n && t->p[k] >= '0' && t->p[k] <= '9';
				     k++)
					v = v * 10 + (unsigned long)(t->p[k] - '0');
				kp->prefix = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
				ps_adv(p);
				ps_expect_op(p, ")");
			}
		}
		if (ps_accept_kw(p, "DESC"))
			kp->desc = true;
		else
			ps_accept_kw(p, "ASC");
	} while (ps_accept_op(p, ","));
	ps_expect_op(p, ")");
}

/* REFERENCES tbl [(cols)] [MATCH ..] [ON DELETE a] [ON UPDATE a], into op (may be NULL). */
static void references(struct parser *p, struct stmt_op *op)
{
	ps_expect_kw(p, "REFERENCES");
	struct stmt_name ref;
	ps_qname(p, &ref);
	struct stmt_key_part *parts = NULL;
	size_t nparts = 0;
	if (ps_is_op(p, "("))
		key_parts(p, &parts, &nparts);
	const char *on_delete = NULL, *on_update = NULL;
	for (;;) {
		if (ps_accept_kw(p, "MATCH")) {
			if (!ps_accept_kw(p, "FULL") && !ps_accept_kw(p, "PARTIAL") &&
			    !ps_accept_kw(p, "SIMPLE"))
				ps_unexpected(p);
		} else if (ps_accept_kws(p, "ON DELETE")) {
			on_delete = fk_action(p);
		} else if (ps_accept_kws(p, "ON UPDATE")) {
			on_update = fk_action(p);
		} else {
			break;
		}
	}
	if (op) {
		op->ref = ref;
		op->ref_parts = parts;
		op->nref_parts = nparts;
		op->on_delete = on_delete;
		op->on_update = on_update;
	}
}

/* CHECK (expr) [[NOT] ENFORCED] */
static void check_clause(struct parser *p)
{
	ps_expect_kw(p, "CHECK");
	ps_skip_parens(p);
	ps_accept_kw(p, "NOT");
	ps_accept_kw(p, "ENFORCED");
}

static const char *const time_functions[] = {
    "CURRENT_TIMESTAMP", "NOW",		 "LOCALTIME", "LOCALTIMESTAMP", "CURRENT_DATE",
    "CURDATE",		 "CURRENT_TIME", "CURTIME",   "UTC_TIMESTAMP",	"UTC_DATE",
    "UTC_TIME",		 "SYSDATE",	 NULL};

/* CURRENT_TIMESTAMP[(n)] and its synonyms (DEFAULT, ON UPDATE). */
static void time_function(struct parser *p)
{
	bool time = false;
	for (const char *const *f = time_functions; *f; f++)
		if (ps_is_kw(p, *f))
			time = true;
	if (!time)
		ps_unexpected(p);
	ps_adv(p);
	if (ps_is_op(p, "("))
		ps_skip_parens(p);
}

/*
 * DEFAULT value: a literal (signed numbers, strings, TRUE/FALSE, NULL),
 * a time function with optional precision, DATE/TIME/TIMESTAMP '..', a
 * parenthesised expression, or (MariaDB) a function call. Stores the
 * normalised text in c->default_value.
 */
static void default_value(struct parser *p, struct stmt_column *c)
{
	size_t b = p->i;
	const struct lex_token *t = ps_cur(p);
	c->has_default = true;
	if (ps_accept_kw(p, "NULL")) {
		c->default_null = true;
	} else if (ps_is_op(p, "(")) {
		ps_skip_parens(p);
	} else if (ps_is_op(p, "-") || ps_is_op(p, "+")) {
		ps_adv(p);
		t = ps_cur(p);
		if (t->type != LEX_NUMBER)
			ps_unexpected(p);
		ps_adv(p);
	} else if (t->type == LEX_STRING) {
		ps_adv(p);
		while (ps_cur(p)->type == LEX_STRING) /* 'a' 'b' concatenation */
			ps_adv(p);
	} else if (t->type == LEX_NUMBER || t->type == LEX_HEX || t->type == LEX_BIT) {
		ps_adv(p);
	} else if (ps_accept_kw(p, "TRUE") || ps_accept_kw(p, "FALSE")) {
	} else if ((ps_is_kw(p, "DATE") || ps_is_kw(p, "TIME") || ps_is_kw(p, "TIMESTAMP")) &&
		   ps_pk(p, 1)->type == LEX_STRING) {
		ps_adv(p);
		ps_adv(p);
	} else if (ps_accept_kws(p, "NEXT VALUE FOR") || ps_accept_kws(p, "PREVIOUS VALUE FOR")) {
		struct stmt_name seq;
		ps_qname(p, &seq); /* MariaDB sequences */
	} else if (t->type == LEX_WORD && lex_is_op(ps_pk(p, 1), "(")) {
		ps_adv(p);
		ps_skip_parens(p);
	} else {
		time_function(p);
	}
	c->default_value = ps_span_text(p, b, p->i);
}

static void charset_name(struct parser *p, const char **out)
{
	ps_accept_op(p, "=");
	const struct lex_token *t = ps_cur(p);
	if (t->type != LEX_WORD && t->type != LEX_QUOTED_IDENT && t->type != LEX_STRING)
		ps_unexpected(p);
	ps_adv(p);
	*out = t->type == LEX_WORD ? ps_lower_dup(p, t->p, t->n) : ps_unquote(p, t);
}

/* Column attributes up to ',' / ')' / end (and FIRST / AFTER when alter). */
static void column_attrs(struct parser *p, struct stmt_column *c, bool alter)
{
	for (;;) {
		if (ps_at_end(p) || ps_is_op(p, ",") || ps_is_op(p, ")"))
			return;
		if (alter && ps_is_kw(p, "FIRST")) {
			ps_adv(p);
			c->first = true;
			continue;
		}
		if (alter && ps_is_kw(p, "AFTER")) {
			ps_adv(p);
			c->after = ps_ident(p);
			continue;
		}
		if (ps_accept_kws(p, "NOT NULL")) {
			c->not_null = true;
		} else if (ps_accept_kw(p, "NULL")) {
			c->null_written = true;
		} else if (ps_accept_kw(p, "DEFAULT")) {
			default_value(p, c);
		} else if (ps_accept_kw(p, "AUTO_INCREMENT")) {
			c->auto_increment = true;
		} else if (ps_accept_kw(p, "UNIQUE")) {
			ps_accept_kw(p, "KEY");
			c->inline_unique = true;
		} else if (ps_accept_kws(p, "PRIMARY KEY") || ps_accept_kw(p, "KEY")) {
			c->inline_primary = true;
		} else if (ps_accept_kw(p, "COMMENT")) {
			if (ps_cur(p)->type != LEX_STRING)
				ps_unexpected(p);
			ps_adv(p);
		} else if (ps_accept_kw(p, "COLLATE")) {
			charset_name(p, &c->collate);
		} else if (ps_accept_kws(p, "CHARACTER SET") || ps_accept_kw(p, "CHARSET")) {
			charset_name(p, &c->charset);
		} else if (ps_accept_kws(p, "ON UPDATE")) {
			time_function(p);
			c->on_update = true;
		} else if (ps_accept_kws(p, "GENERATED ALWAYS AS") || ps_accept_kw(p, "AS")) {
			ps_skip_parens(p);
			c->generated = true;
		} else if (ps_accept_kw(p, "VIRTUAL") || ps_accept_kw(p, "STORED") ||
			   ps_accept_kw(p, "PERSISTENT")) {
		} else if (ps_accept_kw(p, "COLUMN_FORMAT") || ps_accept_kw(p, "STORAGE")) {
			ps_ident(p);
		} else if (ps_is_kw(p, "REFERENCES")) {
			references(p, NULL);
			c->inline_references = true;
		} else if (ps_is_kw(p, "CONSTRAINT") || ps_is_kw(p, "CHECK")) {
			if (ps_accept_kw(p, "CONSTRAINT") && !ps_is_kw(p, "CHECK"))
				ps_ident(p);
			check_clause(p);
			c->inline_check = true;
		} else if (ps_accept_kw(p, "VISIBLE") || ps_accept_kw(p, "INVISIBLE")) {
		} else if (ps_is_kw(p, "BINARY") && !lex_is_op(ps_pk(p, 1), "(")) {
			ps_adv(p); /* CHARACTER SET x BINARY: the _bin collation */
		} else if (ps_accept_kw(p, "SRID")) {
			if (ps_cur(p)->type != LEX_NUMBER)
				ps_unexpected(p);
			ps_adv(p);
		} else if (ps_accept_kw(p, "ENGINE_ATTRIBUTE") ||
			   ps_accept_kw(p, "SECONDARY_ENGINE_ATTRIBUTE")) {
			ps_option_value(p);
		} else if (ps_accept_kw(p, "COMPRESSED")) {
			if (ps_accept_op(p, "="))
				ps_ident(p);
		} else if (ps_accept_kws(p, "WITH SYSTEM VERSIONING") ||
			   ps_accept_kws(p, "WITHOUT SYSTEM VERSIONING")) {
		} else if (ps_accept_kws(p, "SERIAL DEFAULT VALUE")) {
			c->not_null = true;
			c->auto_increment = true;
			c->inline_unique = true;
		} else {
			ps_unexpected(p);
		}
	}
}

/* name type attributes */
static struct stmt_column *column_def(struct parser *p, bool alter)
{
	struct stmt_column *c = arena_alloc(p->a, sizeof(*c));
	c->name = ps_ident(p);
	data_type(p, c);
	column_attrs(p, c, alter);
	return c;
}

/* ---- keys and constraints ------------------------------------------- */

/* Index options after the key parts (and USING before them). */
static void index_options(struct parser *p)
{
	for (;;) {
		if (ps_accept_kw(p, "USING") || ps_accept_kw(p, "TYPE")) {
			ps_ident(p);
		} else if (ps_accept_kw(p, "KEY_BLOCK_SIZE")) {
			ps_option_value(p);
		} else if (ps_accept_kw(p, "COMMENT")) {
			if (ps_cur(p)->type != LEX_STRING)
				ps_unexpected(p);
			ps_adv(p);
		} else if (ps_accept_kw(p, "VISIBLE") || ps_accept_kw(p, "INVISIBLE") ||
			   ps_accept_kw(p, "IGNORED") || ps_accept_kws(p, "NOT IGNORED")) {
		} else if (ps_accept_kws(p, "WITH PARSER")) {
			ps_ident(p);
		} else if (ps_accept_kw(p, "ENGINE_ATTRIBUTE") ||
			   ps_accept_kw(p, "SECONDARY_ENGINE_ATTRIBUTE") ||
			   ps_accept_kw(p, "CLUSTERING")) {
			ps_option_value(p);
		} else {
			return;
		}
	}
}

/* [IF NOT EXISTS] [name] [USING x] (parts) [options] */
static void index_body(struct parser *p, struct stmt_op *op, bool named)
{
	if (ps_accept_kws(p, "IF NOT EXISTS"))
		op->if_not_exists = true;
	if (named && !ps_is_op(p, "(") && !ps_is_kw(p, "USING") && !ps_is_kw(p, "TYPE"))
		op->name = ps_ident(p);
	if (ps_accept_kw(p, "USING") || ps_accept_kw(p, "TYPE"))
		ps_ident(p);
	key_parts(p, &op->parts, &op->nparts);
	index_options(p);
}

/*
 * A key or constraint definition (CREATE TABLE element, ALTER TABLE ADD
 * ...): returns false, consuming nothing, when none starts here.
 */
static bool key_def(struct parser *p, struct stmt *s)
{
	const char *cname = NULL;
	size_t save = p->i;
	bool ine = false;
	if (ps_accept_kw(p, "CONSTRAINT")) {
		ine = ps_accept_kws(p, "IF NOT EXISTS"); /* MariaDB */
		if (!ps_is_kw(p, "PRIMARY") && !ps_is_kw(p, "UNIQUE") && !ps_is_kw(p, "FOREIGN") &&
		    !ps_is_kw(p, "CHECK"))
			cname = ps_ident(p);
		if (!ps_is_kw(p, "PRIMARY") && !ps_is_kw(p, "UNIQUE") && !ps_is_kw(p, "FOREIGN") &&
		    !ps_is_kw(p, "CHECK"))
			ps_unexpected(p);
	}
	struct stmt_op *op;
	if (ps_accept_kws(p, "PRIMARY KEY")) {
		op = ps_add_op(p, s, OP_ADD_PRIMARY);
		index_body(p, op, true); /* PRIMARY KEY name (..): MySQL ignores the name */
		op->name = cname;
	} else if (ps_accept_kw(p, "UNIQUE")) {
		if (!ps_accept_kw(p, "INDEX"))
			ps_accept_kw(p, "KEY");
		op = ps_add_op(p, s, OP_ADD_UNIQUE);
		index_body(p, op, true);
		if (!op->name)
			op->name = cname;
	} else if (ps_accept_kws(p, "FOREIGN KEY")) {
		op = ps_add_op(p, s, OP_ADD_FOREIGN_KEY);
		if (ps_accept_kws(p, "IF NOT EXISTS"))
			op->if_not_exists = true;
		if (!ps_is_op(p, "("))
			op->name = ps_ident(p);
		if (cname)
			op->name = cname;
		key_parts(p, &op->parts, &op->nparts);
		references(p, op);
	} else if (ps_is_kw(p, "CHECK")) {
		op = ps_add_op(p, s, OP_ADD_CHECK);
		op->name = cname;
		check_clause(p);
	} else if (cname || p->i != save) {
		ps_unexpected(p);
	} else if (ps_accept_kw(p, "INDEX") || ps_accept_kw(p, "KEY")) {
		op = ps_add_op(p, s, OP_ADD_INDEX);
		index_body(p, op, true);
	} else if (ps_accept_kw(p, "FULLTEXT") || ps_accept_kw(p, "SPATIAL")) {
		bool ft = lex_is_word(&p->t[p->i - 1], "FULLTEXT");
		if (!ps_accept_kw(p, "INDEX"))
			ps_accept_kw(p, "KEY");
		op = ps_add_op(p, s, ft ? OP_ADD_FULLTEXT : OP_ADD_SPATIAL);
		index_body(p, op, true);
	} else {
		return false;
	}
	if (ine)
		op->if_not_exists = true;
	return true;
}

/* ---- table options --------------------------------------------------- */

static const char *const table_option_words[] = {"ENGINE",
						 "TYPE",
						 "AUTO_INCREMENT",
						 "AVG_ROW_LENGTH",
						 "CHECKSUM",
						 "TABLE_CHECKSUM",
						 "COMMENT",
						 "COMPRESSION",
						 "CONNECTION",
						 "DELAY_KEY_WRITE",
						 "ENCRYPTION",
						 "ENCRYPTED",
						 "ENCRYPTION_KEY_ID",
						 "INSERT_METHOD",
						 "KEY_BLOCK_SIZE",
						 "MAX_ROWS",
						 "MIN_ROWS",
						 "PACK_KEYS",
						 "PASSWORD",
						 "ROW_FORMAT",
						 "STATS_AUTO_RECALC",
						 "STATS_PERSISTENT",
						 "STATS_SAMPLE_PAGES",
						 "PAGE_CHECKSUM",
						 "PAGE_COMPRESSED",
						 "PAGE_COMPRESSION_LEVEL",
						 "TRANSACTIONAL",
						 "IETF_QUOTES",
						 "SEQUENCE",
						 "AUTOEXTEND_SIZE",
						 "ENGINE_ATTRIBUTE",
						 "SECONDARY_ENGINE",
						 "SECONDARY_ENGINE_ATTRIBUTE",
						 "TABLESPACE",
						 NULL};

/* One table (or database) option, recorded as OP_TABLE_OPTION; false when none. */
static bool table_option(struct parser *p, struct stmt *s)
{
	size_t save = p->i;
	bool dflt = ps_accept_kw(p, "DEFAULT");
	const char *name = NULL;
	if (ps_accept_kws(p, "CHARACTER SET") || ps_accept_kw(p, "CHARSET"))
		name = "charset";
	else if (ps_accept_kw(p, "COLLATE"))
		name = "collate";
	else if (ps_accept_kw(p, "ENCRYPTION"))
		name = "encryption";
	else if (dflt) {
		p->i = save;
		return false;
	}
	if (!name) {
		if (ps_accept_kws(p, "DATA DIRECTORY"))
			name = "data directory";
		else if (ps_accept_kws(p, "INDEX DIRECTORY"))
			name = "index directory";
		else if (ps_accept_kws(p, "WITH SYSTEM VERSIONING")) {
			ps_add_op(p, s, OP_TABLE_OPTION)->name = "with system versioning";
			return true;
		} else if (ps_accept_kw(p, "UNION")) {
			ps_accept_op(p, "=");
			size_t b = p->i;
			ps_skip_parens(p);
			struct stmt_op *op = ps_add_op(p, s, OP_TABLE_OPTION);
			op->name = "union";
			op->value = ps_span_text(p, b, p->i);
			return true;
		} else if (ps_accept_kw(p, "STORAGE")) {
			name = "storage";
		} else {
			for (const char *const *w = table_option_words; *w && !name; w++)
				if (ps_is_kw(p, *w) && !lex_is_op(ps_pk(p, 1), "(")) {
					name = ps_lower_dup(p, ps_cur(p)->p, ps_cur(p)->n);
					ps_adv(p);
				}
			if (!name)
				return false;
			if (strcmp(name, "type") == 0)
				name = "engine";
			if (strcmp(name, "table_checksum") == 0)
				name = "checksum";
		}
	}
	struct stmt_op *op = ps_add_op(p, s, OP_TABLE_OPTION);
	op->name = name;
	op->value = ps_option_value(p);
	if (strcmp(name, "tablespace") == 0 && ps_accept_kw(p, "STORAGE"))
		ps_ident(p);
	return true;
}

/* PARTITION BY ... / partition definitions: skipped while balanced, up to
 * the end or (CREATE TABLE ... SELECT) the query. */
static void skip_partitioning(struct parser *p)
{
	int depth = 0;
	while (!ps_at_end(p)) {
		if (depth == 0 &&
		    (ps_is_kw(p, "AS") || ps_is_kw(p, "SELECT") || ps_is_kw(p, "IGNORE") ||
		     ps_is_kw(p, "REPLACE") || ps_is_kw(p, "WITH")))
			break;
		if (ps_cur(p)->type == LEX_ERROR)
			ps_unexpected(p);
		if (ps_is_op(p, "("))
			depth++;
		else if (ps_is_op(p, ")")) {
			if (--depth < 0)
				ps_unexpected(p);
		}
		ps_adv(p);
	}
	if (depth > 0)
		ps_fail(p, "unbalanced parentheses");
}

/* ---- CREATE TABLE ------------------------------------------------------ */

static bool starts_query(struct parser *p)
{
	return ps_is_kw(p, "SELECT") || ps_is_kw(p, "WITH") || ps_is_kw(p, "TABLE") ||
	       ps_is_kw(p, "VALUES") || ps_is_op(p, "(");
}

static void add_column(struct parser *p, struct stmt *s, struct stmt_column *c)
{
	s->columns = ps_grow(p, s->columns, s->ncolumns, sizeof(*s->columns));
	s->columns[s->ncolumns++] = *c;
}

void parse_create_table(struct parser *p, struct stmt *s)
{
	s->verb = DDL_CREATE_TABLE;
	s->object_type = "table";
	if (ps_accept_kws(p, "IF NOT EXISTS"))
		s->if_not_exists = true;
	ps_qname(p, ps_add_object(p, s));
	if (ps_accept_kw(p, "LIKE")) {
		ps_qname(p, &s->like);
		ps_expect_end(p);
		return;
	}
	if (ps_is_op(p, "(") && ps_is_kw_at(p, 1, "LIKE")) {
		ps_adv(p);
		ps_adv(p);
		ps_qname(p, &s->like);
		ps_expect_op(p, ")");
		ps_expect_end(p);
		return;
	}
	if (ps_is_op(p, "(") && !ps_is_kw_at(p, 1, "SELECT") && !ps_is_kw_at(p, 1, "WITH")) {
		ps_adv(p);
		do {
			if (key_def(p, s))
				continue;
			if (ps_is_kw(p, "PERIOD") && ps_is_kw_at(p, 1, "FOR")) {
				ps_adv(p);
				ps_adv(p);
				ps_ident(p);
				ps_skip_parens(p);
				ps_add_op(p, s, OP_OTHER)->name = "period";
				continue;
			}
			add_column(p, s, column_def(p, false));
		} while (ps_accept_op(p, ","));
		ps_expect_op(p, ")");
	}
	for (;;) {
		if (table_option(p, s)) {
			ps_accept_op(p, ",");
			continue;
		}
		break;
	}
	if (ps_accept_kw(p, "PARTITION")) {
		ps_expect_kw(p, "BY");
		ps_add_op(p, s, OP_PARTITION)->name = "partition by";
		skip_partitioning(p);
	}
	if (!ps_accept_kw(p, "IGNORE"))
		ps_accept_kw(p, "REPLACE");
	ps_accept_kw(p, "AS");
	if (!ps_at_end(p) && starts_query(p)) {
		s->as_select = true;
		ps_skip_rest(p);
	}
	if (s->ncolumns == 0 && !s->as_select && s->nops == 0)
		ps_unexpected(p);
	ps_expect_end(p);
}

/* ---- ALTER TABLE ------------------------------------------------------- */

/* A partition maintenance clause: up to the next ',' at depth 0. */
static void partition_op(struct parser *p, struct stmt *s, const char *name)
{
	ps_add_op(p, s, OP_PARTITION)->name = name;
	ps_skip_expr(p, NULL);
	/* DROP PARTITION p1, p2: a name list, not further operations */
	while (ps_is_op(p, ",") && ps_is_ident_tok(ps_pk(p, 1)) &&
	       (lex_is_op(ps_pk(p, 2), ",") || ps_pk(p, 2)->type == LEX_EOF ||
		lex_is_op(ps_pk(p, 2), ";"))) {
		ps_adv(p);
		ps_adv(p);
	}
}

/* What ADD and DROP share besides columns and keys: partitions, system
 * versioning and application-time periods. names: the op names for
 * partition, versioning and period. */
static const char *const add_names[] = {"add partition", "add system versioning", "add period"};
static const char *const drop_names[] = {"drop partition", "drop system versioning", "drop period"};

static bool add_drop_other(struct parser *p, struct stmt *s, const char *const names[3])
{
	if (ps_accept_kw(p, "PARTITION")) {
		partition_op(p, s, names[0]);
		return true;
	}
	if (ps_accept_kws(p, "SYSTEM VERSIONING")) {
		ps_add_op(p, s, OP_OTHER)->name = names[1];
		return true;
	}
	if (ps_is_kw(p, "PERIOD") && ps_is_kw_at(p, 1, "FOR")) {
		ps_add_op(p, s, OP_OTHER)->name = names[2];
		ps_skip_expr(p, NULL);
		return true;
	}
	return false;
}

static void alter_add(struct parser *p, struct stmt *s)
{
	if (key_def(p, s))
		return;
	if (add_drop_other(p, s, add_names))
		return;
	ps_accept_kw(p, "COLUMN");
	bool ine = ps_accept_kws(p, "IF NOT EXISTS");
	if (ps_accept_op(p, "(")) {
		do {
			struct stmt_op *op = ps_add_op(p, s, OP_ADD_COLUMN);
			op->if_not_exists = ine;
			op->column = column_def(p, false);
			op->name = op->column->name;
		} while (ps_accept_op(p, ","));
		ps_expect_op(p, ")");
		return;
	}
	struct stmt_op *op = ps_add_op(p, s, OP_ADD_COLUMN);
	op->if_not_exists = ine;
	op->column = column_def(p, true);
	op->name = op->column->name;
}

static void alter_drop(struct parser *p, struct stmt *s)
{
	struct stmt_op *op;
	if (ps_accept_kws(p, "PRIMARY KEY")) {
		ps_add_op(p, s, OP_DROP_PRIMARY);
		return;
	}
	if (ps_accept_kw(p, "INDEX") || ps_accept_kw(p, "KEY")) {
		bool ie = ps_accept_kws(p, "IF EXISTS");
		const char *name = ps_ident(p);
		op =
		    ps_add_op(p, s, strcmp(name, "PRIMARY") == 0 ? OP_DROP_PRIMARY : OP_DROP_INDEX);
		op->name = name;
		op->if_exists = ie;
		return;
	}
	if (ps_accept_kws(p, "FOREIGN KEY")) {
		op = ps_add_op(p, s, OP_DROP_FOREIGN_KEY);
		op->if_exists = ps_accept_kws(p, "IF EXISTS");
		op->name = ps_ident(p);
		return;
	}
	if (ps_accept_kw(p, "CHECK") || ps_accept_kw(p, "CONSTRAINT")) {
		op = ps_add_op(p, s, OP_DROP_CHECK);
		op->if_exists = ps_accept_kws(p, "IF EXISTS");
		op->name = ps_ident(p);
		return;
	}
	if (add_drop_other(p, s, drop_names))
		return;
	ps_accept_kw(p, "COLUMN");
	op = ps_add_op(p, s, OP_DROP_COLUMN);
	op->if_exists = ps_accept_kws(p, "IF EXISTS");
	op->name = ps_ident(p);
	if (!ps_accept_kw(p, "RESTRICT"))
		ps_accept_kw(p, "CASCADE");
}

static void alter_alter(struct parser *p, struct stmt *s)
{
	struct stmt_op *op;
	if (ps_accept_kw(p, "INDEX") || ps_accept_kw(p, "KEY")) {
		op = ps_add_op(p, s, OP_ALTER_INDEX);
		op->name = ps_ident(p);
		if (ps_accept_kws(p, "NOT IGNORED"))
			op->value = "not ignored";
		else if (ps_accept_kw(p, "VISIBLE"))
			op->value = "visible";
		else if (ps_accept_kw(p, "INVISIBLE"))
			op->value = "invisible";
		else if (ps_accept_kw(p, "IGNORED"))
			op->value = "ignored";
		else
			ps_unexpected(p);
		return;
	}
	if ((ps_is_kw(p, "CHECK") || ps_is_kw(p, "CONSTRAINT")) && ps_is_ident_tok(ps_pk(p, 1)) &&
	    (ps_is_kw_at(p, 2, "ENFORCED") || ps_is_kw_at(p, 2, "NOT"))) {
		ps_adv(p);
		op = ps_add_op(p, s, OP_OTHER);
		op->name = "alter check";
		ps_ident(p);
		ps_accept_kw(p, "NOT");
		ps_expect_kw(p, "ENFORCED");
		return;
	}
	ps_accept_kw(p, "COLUMN");
	op = ps_add_op(p, s, OP_ALTER_COLUMN);
	op->if_exists = ps_accept_kws(p, "IF EXISTS");
	op->name = ps_ident(p);
	if (ps_accept_kws(p, "SET DEFAULT")) {
		struct stmt_column c = {0};
		default_value(p, &c);
		op->value = c.default_value;
	} else if (ps_accept_kws(p, "DROP DEFAULT")) {
		op->drop_default = true;
	} else if (ps_accept_kws(p, "SET VISIBLE")) {
		op->value = "visible";
	} else if (ps_accept_kws(p, "SET INVISIBLE")) {
		op->value = "invisible";
	} else {
		ps_unexpected(p);
	}
}

static const char *const partition_words[] = {
    "COALESCE", "REORGANIZE", "EXCHANGE", "ANALYZE", "CHECK",	"OPTIMIZE", "REBUILD",
    "REPAIR",	"TRUNCATE",   "DISCARD",  "IMPORT",  "CONVERT", NULL};

/* One ALTER TABLE operation. */
static void alter_spec(struct parser *p, struct stmt *s)
{
	struct stmt_op *op;
	if (ps_accept_kw(p, "ADD")) {
		alter_add(p, s);
	} else if (ps_accept_kw(p, "DROP")) {
		alter_drop(p, s);
	} else if (ps_accept_kw(p, "MODIFY")) {
		ps_accept_kw(p, "COLUMN");
		op = ps_add_op(p, s, OP_MODIFY_COLUMN);
		op->if_exists = ps_accept_kws(p, "IF EXISTS");
		op->column = column_def(p, true);
		op->name = op->column->name;
	} else if (ps_accept_kw(p, "CHANGE")) {
		ps_accept_kw(p, "COLUMN");
		op = ps_add_op(p, s, OP_CHANGE_COLUMN);
		op->if_exists = ps_accept_kws(p, "IF EXISTS");
		op->name = ps_ident(p);
		op->column = column_def(p, true);
		op->new_name = op->column->name;
	} else if (ps_accept_kw(p, "ALTER")) {
		alter_alter(p, s);
	} else if (ps_accept_kw(p, "RENAME")) {
		if (ps_accept_kw(p, "COLUMN")) {
			op = ps_add_op(p, s, OP_RENAME_COLUMN);
			op->if_exists = ps_accept_kws(p, "IF EXISTS");
			op->name = ps_ident(p);
			ps_expect_kw(p, "TO");
			op->new_name = ps_ident(p);
		} else if (ps_accept_kw(p, "INDEX") || ps_accept_kw(p, "KEY")) {
			op = ps_add_op(p, s, OP_RENAME_INDEX);
			op->if_exists = ps_accept_kws(p, "IF EXISTS");
			op->name = ps_ident(p);
			ps_expect_kw(p, "TO");
			op->new_name = ps_ident(p);
		} else {
			if (!ps_accept_kw(p, "TO"))
				ps_accept_kw(p, "AS");
			op = ps_add_op(p, s, OP_RENAME_TABLE);
			ps_qname(p, &op->ref);
		}
	} else if (ps_accept_kw(p, "ALGORITHM")) {
		ps_add_op(p, s, OP_ALGORITHM)->value = ps_option_value(p);
	} else if (ps_accept_kw(p, "LOCK")) {
		ps_add_op(p, s, OP_LOCK)->value = ps_option_value(p);
	} else if (ps_is_kw(p, "CONVERT") && ps_is_kw_at(p, 1, "TO")) {
		ps_adv(p);
		ps_adv(p);
		if (!ps_accept_kws(p, "CHARACTER SET") && !ps_accept_kw(p, "CHARSET"))
			ps_unexpected(p);
		op = ps_add_op(p, s, OP_CONVERT_CHARSET);
		charset_name(p, &op->value);
		if (ps_accept_kw(p, "COLLATE")) {
			const char *coll;
			charset_name(p, &coll);
			op->name = coll;
		}
	} else if (ps_accept_kw(p, "FORCE")) {
		ps_add_op(p, s, OP_FORCE);
	} else if (ps_accept_kw(p, "ENABLE") || ps_accept_kw(p, "DISABLE")) {
		bool en = lex_is_word(&p->t[p->i - 1], "ENABLE");
		ps_expect_kw(p, "KEYS");
		ps_add_op(p, s, OP_OTHER)->name = en ? "enable keys" : "disable keys";
	} else if ((ps_is_kw(p, "DISCARD") || ps_is_kw(p, "IMPORT")) &&
		   ps_is_kw_at(p, 1, "TABLESPACE")) {
		bool discard = ps_is_kw(p, "DISCARD");
		ps_adv(p);
		ps_adv(p);
		ps_add_op(p, s, OP_OTHER)->name =
		    discard ? "discard tablespace" : "import tablespace";
	} else if (ps_accept_kws(p, "ORDER BY")) {
		ps_add_op(p, s, OP_OTHER)->name = "order by";
		ps_skip_expr(p, NULL);
		while (ps_accept_op(p, ",")) /* ORDER BY a, b: columns, not operations */
			ps_skip_expr(p, NULL);
	} else if (ps_accept_kws(p, "WITH VALIDATION") || ps_accept_kws(p, "WITHOUT VALIDATION")) {
		ps_add_op(p, s, OP_OTHER)->name = "validation";
	} else if (ps_accept_kws(p, "PARTITION BY")) {
		ps_add_op(p, s, OP_PARTITION)->name = "partition by";
		skip_partitioning(p);
	} else if (ps_accept_kws(p, "REMOVE PARTITIONING") ||
		   ps_accept_kws(p, "UPGRADE PARTITIONING")) {
		ps_add_op(p, s, OP_PARTITION)->name = "remove partitioning";
	} else if (ps_accept_kw(p, "SECONDARY_LOAD") || ps_accept_kw(p, "SECONDARY_UNLOAD")) {
		ps_add_op(p, s, OP_OTHER)->name = "secondary engine";
	} else if (table_option(p, s)) {
	} else {
		for (const char *const *w = partition_words; *w; w++)
			if (ps_is_kw(p, *w) &&
			    (ps_is_kw_at(p, 1, "PARTITION") || ps_is_kw_at(p, 1, "PARTITIONS"))) {
				const struct lex_token *w0 = ps_cur(p);
				char *what = ps_lower_dup(p, w0->p, w0->n);
				ps_adv(p);
				partition_op(p, s, what);
				return;
			}
		ps_unexpected(p);
	}
}

/* ALTER / DROP TABLE start alike: the verb, IF EXISTS, the first name. */
static void table_target(struct parser *p, struct stmt *s, enum ddl_verb verb)
{
	s->verb = verb;
	s->object_type = "table";
	if (ps_accept_kws(p, "IF EXISTS"))
		s->if_exists = true;
	ps_qname(p, ps_add_object(p, s));
}

void parse_alter_table(struct parser *p, struct stmt *s)
{
	table_target(p, s, DDL_ALTER_TABLE);
	ps_skip_wait(p);
	while (!ps_at_end(p)) {
		alter_spec(p, s);
		ps_accept_op(p, ",");
	}
	ps_expect_end(p);
}

/* ---- DROP TABLE, indexes, databases ------------------------------------ */

void parse_drop_table(struct parser *p, struct stmt *s)
{
	table_target(p, s, DDL_DROP_TABLE);
	while (ps_accept_op(p, ","))
		ps_qname(p, ps_add_object(p, s));
	ps_skip_wait(p);
	if (!ps_accept_kw(p, "RESTRICT"))
		ps_accept_kw(p, "CASCADE");
	ps_expect_end(p);
}

/* ALGORITHM [=] x / LOCK [=] x after CREATE / DROP INDEX. */
static void index_algorithm_lock(struct parser *p, struct stmt *s)
{
	for (;;) {
		if (ps_accept_kw(p, "ALGORITHM"))
			ps_add_op(p, s, OP_ALGORITHM)->value = ps_option_value(p);
		else if (ps_accept_kw(p, "LOCK"))
			ps_add_op(p, s, OP_LOCK)->value = ps_option_value(p);
		else if (ps_accept_kw(p, "WAIT"))
			ps_adv(p);
		else if (!ps_accept_kw(p, "NOWAIT"))
			return;
	}
}

void parse_create_index(struct parser *p, struct stmt *s)
{
	enum stmt_op_kind kind = OP_ADD_INDEX;
	if (ps_accept_kw(p, "UNIQUE"))
		kind = OP_ADD_UNIQUE;
	else if (ps_accept_kw(p, "FULLTEXT"))
		kind = OP_ADD_FULLTEXT;
	else if (ps_accept_kw(p, "SPATIAL"))
		kind = OP_ADD_SPATIAL;
	ps_expect_kw(p, "INDEX");
	s->verb = DDL_CREATE_INDEX;
	s->object_type = "index";
	struct stmt_op *op = ps_add_op(p, s, kind);
	if (ps_accept_kws(p, "IF NOT EXISTS"))
		s->if_not_exists = op->if_not_exists = true;
	op->name = s->index_name = ps_ident(p);
	if (ps_accept_kw(p, "USING") || ps_accept_kw(p, "TYPE"))
		ps_ident(p);
	ps_expect_kw(p, "ON");
	ps_qname(p, ps_add_object(p, s));
	key_parts(p, &op->parts, &op->nparts);
	index_options(p);
	index_algorithm_lock(p, s);
	ps_expect_end(p);
}

void parse_drop_index(struct parser *p, struct stmt *s)
{
	s->verb = DDL_DROP_INDEX;
	s->object_type = "index";
	bool ie = ps_accept_kws(p, "IF EXISTS");
	s->if_exists = ie;
	const char *name = ps_ident(p);
	struct stmt_op *op =
	    ps_add_op(p, s, strcmp(name, "PRIMARY") == 0 ? OP_DROP_PRIMARY : OP_DROP_INDEX);
	op->name = s->index_name = name;
	op->if_exists = ie;
	ps_expect_kw(p, "ON");
	ps_qname(p, ps_add_object(p, s));
	index_algorithm_lock(p, s);
	ps_expect_end(p);
}

void parse_database(struct parser *p, struct stmt *s, enum ddl_verb verb)
{
	s->verb = verb;
	s->object_type = "database";
	if (verb == DDL_CREATE_DATABASE && ps_accept_kws(p, "IF NOT EXISTS"))
		s->if_not_exists = true;
	if (verb == DDL_DROP_DATABASE && ps_accept_kws(p, "IF EXISTS"))
		s->if_exists = true;
	size_t save = p->i;
	struct stmt probe = {0};
	bool option_first = verb == DDL_ALTER_DATABASE && table_option(p, &probe);
	p->i = save;
	if (!option_first && !ps_at_end(p))
		ps_qname(p, ps_add_object(p, s));
	if (verb == DDL_DROP_DATABASE) {
		ps_expect_end(p);
		return;
	}
	if (verb == DDL_ALTER_DATABASE && ps_accept_kws(p, "UPGRADE DATA DIRECTORY NAME")) {
		ps_add_op(p, s, OP_OTHER)->name = "upgrade data directory name";
		ps_expect_end(p);
		return;
	}
	for (;;) {
		if (table_option(p, s))
			continue;
		if (ps_accept_kws(p, "READ ONLY")) {
			struct stmt_op *op = ps_add_op(p, s, OP_TABLE_OPTION);
			op->name = "read only";
			op->value = ps_option_value(p);
			continue;
		}
		break;
	}
	ps_expect_end(p);
}
