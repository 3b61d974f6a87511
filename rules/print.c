/* Canonical s-expression printer for the statement model (grammar in print.h). */
#include "rules/print.h"

#include <stdio.h>
#include <string.h>

/* An output buffer growing inside the arena. */
struct out {
	struct arena *a;
	char *buf; /* arena */
	size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		while (o->len + n + 1 > cap)
			cap *= 2;
		char *nb = arena_alloc(o->a, cap);
		if (o->len)
			memcpy(nb, o->buf, o->len);
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* " word": every element after the first is preceded by a space */
static void word(struct out *o, const char *s)
{
	puts_(o, " ");
	puts_(o, s);
}

static bool plain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

static bool plain(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!plain_char((unsigned char)*s))
			return false;
	return true;
}

static void ident(struct out *o, const char *s)
{
	if (plain(s)) {
		puts_(o, s);
		return;
	}
	puts_(o, "`");
	for (; *s; s++)
		put(o, *s == '`' ? "``" : s, *s == '`' ? 2 : 1);
	puts_(o, "`");
}

static void name(struct out *o, const struct stmt_name *n)
{
	puts_(o, " ");
	if (n->schema) {
		ident(o, n->schema);
		puts_(o, ".");
	}
	ident(o, n->name ? n->name : "");
}

/* A fixed-vocabulary word or phrase: spaces become '-' ("set null" -> set-null). */
static void kwval(struct out *o, const char *v)
{
	puts_(o, " ");
	for (const char *s = v; *s; s++)
		put(o, *s == ' ' ? "-" : s, 1);
}

/* A value as written (a default, an option value): raw when it has no
 * whitespace, double quotes or backslashes, else in double quotes. */
static void value(struct out *o, const char *v)
{
	puts_(o, " ");
	bool raw = *v != '\0';
	for (const char *s = v; *s; s++)
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '"' || *s == '\\')
			raw = false;
	if (raw) {
		puts_(o, v);
		return;
	}
	puts_(o, "\"");
	for (const char *s = v; *s; s++) {
		if (*s == '"' || *s == '\\')
			puts_(o, "\\");
		if (*s == '\n')
			puts_(o, "\\n");
		else
			put(o, s, 1);
	}
	puts_(o, "\"");
}

static void parts(struct out *o, const struct stmt_key_part *p, size_t n)
{
	puts_(o, " (");
	for (size_t i = 0; i < n; i++) {
		if (i)
			puts_(o, " ");
		if (p[i].column)
			ident(o, p[i].column);
		else
			puts_(o, "<expr>");
		if (p[i].prefix) {
			char b[16];
			snprintf(b, sizeof(b), "(%u)", (unsigned)p[i].prefix);
			puts_(o, b);
		}
		if (p[i].desc)
			puts_(o, " desc");
	}
	puts_(o, ")");
}

static void column_attrs(struct out *o, const struct stmt_column *c)
{
	word(o, c->type ? c->type : "?");
	if (c->not_null)
		word(o, "not-null");
	if (c->null_written)
		word(o, "null");
	if (c->has_default) {
		word(o, "default");
		value(o, c->default_value ? c->default_value : "?");
	}
	if (c->auto_increment)
		word(o, "auto-increment");
	if (c->on_update)
		word(o, "on-update");
	if (c->generated)
		word(o, "generated");
	if (c->inline_primary)
		word(o, "primary-key");
	if (c->inline_unique)
		word(o, "unique");
	if (c->inline_references)
		word(o, "references");
	if (c->inline_check)
		word(o, "check");
	if (c->charset) {
		word(o, "charset");
		value(o, c->charset);
	}
	if (c->collate) {
		word(o, "collate");
		value(o, c->collate);
	}
	if (c->first)
		word(o, "first");
	if (c->after) {
		word(o, "after ");
		ident(o, c->after);
	}
}

static const char *const op_names[] = {
    [OP_ADD_COLUMN] = "add-column",
    [OP_DROP_COLUMN] = "drop-column",
    [OP_MODIFY_COLUMN] = "modify-column",
    [OP_CHANGE_COLUMN] = "change-column",
    [OP_RENAME_COLUMN] = "rename-column",
    [OP_ALTER_COLUMN] = "alter-column",
    [OP_ADD_INDEX] = "add-index",
    [OP_ADD_UNIQUE] = "add-unique",
    [OP_ADD_PRIMARY] = "add-primary",
    [OP_ADD_FOREIGN_KEY] = "add-foreign-key",
    [OP_ADD_FULLTEXT] = "add-fulltext",
    [OP_ADD_SPATIAL] = "add-spatial",
    [OP_ADD_CHECK] = "add-check",
    [OP_DROP_INDEX] = "drop-index",
    [OP_DROP_PRIMARY] = "drop-primary",
    [OP_DROP_FOREIGN_KEY] = "drop-foreign-key",
    [OP_DROP_CHECK] = "drop-check",
    [OP_RENAME_INDEX] = "rename-index",
    [OP_ALTER_INDEX] = "alter-index",
    [OP_RENAME_TABLE] = "rename-to",
    [OP_ALGORITHM] = "algorithm",
    [OP_LOCK] = "lock",
    [OP_TABLE_OPTION] = "option",
    [OP_CONVERT_CHARSET] = "convert-charset",
    [OP_FORCE] = "force",
    [OP_PARTITION] = "partition",
    [OP_OTHER] = "other",
};

/* Names of keys inside CREATE TABLE (no "add-"). */
static const char *create_key_name(enum stmt_op_kind k)
{
	switch (k) {
	case OP_ADD_INDEX:
		return "index";
	case OP_ADD_UNIQUE:
		return "unique";
	case OP_ADD_PRIMARY:
		return "primary-key";
	case OP_ADD_FOREIGN_KEY:
		return "foreign-key";
	case OP_ADD_FULLTEXT:
		return "fulltext";
	case OP_ADD_SPATIAL:
		return "spatial";
	case OP_ADD_CHECK:
		return "check";
	default:
		return op_names[k];
	}
}

static void op(struct out *o, const struct stmt_op *p, bool in_create)
{
	puts_(o, " (");
	puts_(o, in_create ? create_key_name(p->kind) : op_names[p->kind]);
	if (p->if_not_exists)
		word(o, "if-not-exists");
	if (p->if_exists)
		word(o, "if-exists");
	switch (p->kind) {
	case OP_ADD_COLUMN:
	case OP_MODIFY_COLUMN:
		puts_(o, " ");
		ident(o, p->name ? p->name : "");
		column_attrs(o, p->column);
		break;
	case OP_CHANGE_COLUMN:
		puts_(o, " ");
		ident(o, p->name);
		puts_(o, " ");
		ident(o, p->new_name);
		column_attrs(o, p->column);
		break;
	case OP_RENAME_COLUMN:
	case OP_RENAME_INDEX:
		puts_(o, " ");
		ident(o, p->name);
		puts_(o, " ");
		ident(o, p->new_name);
		break;
	case OP_ALTER_COLUMN:
		puts_(o, " ");
		ident(o, p->name);
		if (p->drop_default)
			word(o, "drop-default");
		else if (p->value && strcmp(p->value, "visible") != 0 &&
			 strcmp(p->value, "invisible") != 0) {
			word(o, "set-default");
			value(o, p->value);
		} else if (p->value)
			value(o, p->value);
		break;
	case OP_ADD_INDEX:
	case OP_ADD_UNIQUE:
	case OP_ADD_PRIMARY:
	case OP_ADD_FULLTEXT:
	case OP_ADD_SPATIAL:
		if (p->name) {
			puts_(o, " ");
			ident(o, p->name);
		}
		parts(o, p->parts, p->nparts);
		break;
	case OP_ADD_FOREIGN_KEY:
		if (p->name) {
			puts_(o, " ");
			ident(o, p->name);
		}
		parts(o, p->parts, p->nparts);
		name(o, &p->ref);
		if (p->ref_parts)
			parts(o, p->ref_parts, p->nref_parts);
		if (p->on_delete) {
			word(o, "on-delete");
			kwval(o, p->on_delete);
		}
		if (p->on_update) {
			word(o, "on-update");
			kwval(o, p->on_update);
		}
		break;
	case OP_ADD_CHECK:
	case OP_DROP_INDEX:
	case OP_DROP_FOREIGN_KEY:
	case OP_DROP_CHECK:
	case OP_DROP_COLUMN:
		if (p->name) {
			puts_(o, " ");
			ident(o, p->name);
		}
		break;
	case OP_ALTER_INDEX:
		puts_(o, " ");
		ident(o, p->name);
		kwval(o, p->value);
		break;
	case OP_RENAME_TABLE:
		name(o, &p->ref);
		break;
	case OP_ALGORITHM:
	case OP_LOCK:
		value(o, p->value);
		break;
	case OP_TABLE_OPTION:
		kwval(o, p->name);
		if (p->value)
			value(o, p->value);
		break;
	case OP_CONVERT_CHARSET:
		value(o, p->value);
		if (p->name)
			value(o, p->name);
		break;
	case OP_PARTITION:
	case OP_OTHER:
		if (p->name)
			kwval(o, p->name);
		break;
	case OP_DROP_PRIMARY:
	case OP_FORCE:
		break;
	}
	puts_(o, ")");
}

static void print_stmt(struct out *o, const struct stmt *s);

static void flags(struct out *o, const struct stmt *s)
{
	if (s->temporary)
		word(o, "temporary");
	if (s->or_replace && !(s->keyword && strcmp(s->keyword, "ALTER") == 0))
		word(o, "or-replace");
	if (s->if_not_exists)
		word(o, "if-not-exists");
	if (s->if_exists)
		word(o, "if-exists");
}

static void objects(struct out *o, const struct stmt *s)
{
	for (size_t i = 0; i < s->nobjects; i++)
		name(o, &s->objects[i]);
}

static void inner(struct out *o, const struct stmt *s)
{
	for (size_t i = 0; i < s->ninner; i++) {
		puts_(o, " ");
		print_stmt(o, &s->inner[i]);
	}
}

/* "(kw-objtype" from the keyword and object type, lower case, hyphenated. */
static void verb_words(struct out *o, const char *kw, const char *type)
{
	puts_(o, "(");
	for (const char *c = kw ? kw : "ddl"; *c; c++) {
		char l = (*c >= 'A' && *c <= 'Z') ? (char)(*c + 32) : *c;
		put(o, &l, 1);
	}
	if (type) {
		puts_(o, "-");
		for (const char *c = type; *c; c++)
			put(o, *c == ' ' ? "-" : c, 1);
	}
}

static void print_stmt(struct out *o, const struct stmt *s)
{
	const char *kw = s->keyword ? s->keyword : "";
	switch (s->kind) {
	case STMT_DML:
		puts_(o, "(dml");
		word(o, kw);
		puts_(o, ")");
		return;
	case STMT_DCL:
		puts_(o, "(dcl");
		word(o, kw);
		puts_(o, ")");
		return;
	case STMT_TCL:
		puts_(o, "(tcl");
		word(o, kw);
		puts_(o, ")");
		return;
	case STMT_OTHER:
		puts_(o, "(other");
		word(o, kw);
		puts_(o, ")");
		return;
	case STMT_EMPTY:
		puts_(o, "(empty)");
		return;
	case STMT_DDL:
		break;
	}
	if (s->unparsed) {
		puts_(o, "(unparsed");
		word(o, kw);
		value(o, s->error ? s->error : "");
		puts_(o, ")");
		return;
	}
	size_t first_op = 0;
	bool in_create = false;
	switch (s->verb) {
	case DDL_CREATE_TABLE:
		puts_(o, "(create-table");
		flags(o, s);
		objects(o, s);
		for (size_t i = 0; i < s->ncolumns; i++) {
			puts_(o, " (column ");
			ident(o, s->columns[i].name);
			column_attrs(o, &s->columns[i]);
			puts_(o, ")");
		}
		in_create = true;
		break;
	case DDL_ALTER_TABLE:
		puts_(o, "(alter-table");
		flags(o, s);
		objects(o, s);
		break;
	case DDL_DROP_TABLE:
		puts_(o, "(drop-table");
		flags(o, s);
		objects(o, s);
		break;
	case DDL_RENAME_TABLE:
		puts_(o, "(rename-table");
		flags(o, s);
		objects(o, s);
		break;
	case DDL_TRUNCATE_TABLE:
		puts_(o, "(truncate-table");
		objects(o, s);
		break;
	case DDL_CREATE_INDEX: {
		const struct stmt_op *k = s->nops ? &s->ops[0] : NULL;
		puts_(o, !k || k->kind == OP_ADD_INDEX ? "(create-index"
			 : k->kind == OP_ADD_UNIQUE    ? "(create-unique-index"
			 : k->kind == OP_ADD_FULLTEXT  ? "(create-fulltext-index"
						       : "(create-spatial-index");
		flags(o, s);
		puts_(o, " ");
		ident(o, s->index_name ? s->index_name : "");
		objects(o, s);
		if (k)
			parts(o, k->parts, k->nparts);
		first_op = 1;
		break;
	}
	case DDL_DROP_INDEX:
		puts_(o, "(drop-index");
		flags(o, s);
		puts_(o, " ");
		ident(o, s->index_name ? s->index_name : "");
		objects(o, s);
		first_op = 1;
		break;
	case DDL_CREATE_DATABASE:
		puts_(o, "(create-database");
		flags(o, s);
		objects(o, s);
		break;
	case DDL_ALTER_DATABASE:
		puts_(o, "(alter-database");
		flags(o, s);
		objects(o, s);
		break;
	case DDL_DROP_DATABASE:
		puts_(o, "(drop-database");
		flags(o, s);
		objects(o, s);
		break;
	case DDL_CREATE_VIEW:
		puts_(o, strcmp(kw, "ALTER") == 0 ? "(alter-view" : "(create-view");
		flags(o, s);
		objects(o, s);
		break;
	case DDL_DROP_VIEW:
		puts_(o, "(drop-view");
		flags(o, s);
		objects(o, s);
		break;
	case DDL_CREATE_ROUTINE:
	case DDL_CREATE_EVENT:
	case DDL_ALTER_EVENT:
		verb_words(o, kw, s->object_type);
		flags(o, s);
		name(o, &s->routine);
		break;
	case DDL_CREATE_TRIGGER:
		puts_(o, "(create-trigger");
		flags(o, s);
		name(o, &s->routine);
		objects(o, s);
		break;
	case DDL_DROP_ROUTINE:
	case DDL_DROP_TRIGGER:
	case DDL_DROP_EVENT:
		verb_words(o, "DROP", s->object_type);
		flags(o, s);
		objects(o, s);
		break;
	case DDL_PREPARE:
		if (strcmp(kw, "EXECUTE") == 0) {
			puts_(o, "(execute-immediate");
		} else {
			puts_(o, "(prepare ");
			ident(o, s->prepare_name ? s->prepare_name : "");
		}
		if (s->prepare_from_variable)
			word(o, "from-variable");
		break;
	case DDL_SET_GLOBAL:
		puts_(o, "(set-global");
		for (size_t i = 0; i < s->nsettings; i++)
			word(o, s->settings[i]);
		break;
	case DDL_PLUGIN:
		verb_words(o, kw, s->object_type);
		if (s->plugin)
			word(o, s->plugin);
		break;
	case DDL_OTHER:
	case DDL_NONE:
		verb_words(o, kw, s->object_type);
		flags(o, s);
		objects(o, s);
		break;
	}
	for (size_t i = first_op; i < s->nops; i++)
		op(o, &s->ops[i], in_create);
	if (s->verb == DDL_CREATE_TABLE && s->like.name) {
		puts_(o, " (like");
		name(o, &s->like);
		puts_(o, ")");
	}
	if (s->as_select)
		puts_(o, " (as-select)");
	inner(o, s);
	puts_(o, ")");
}

const char *stmt_print(struct arena *a, const struct stmt *s)
{
	struct out o = {a, NULL, 0, 0};
	put(&o, "", 0);
	print_stmt(&o, s);
	return o.buf;
}
