/* Migration memory (what earlier statements did) and the two-phase fact cache. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/rule_internal.h"

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		abort();
	return q;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

/* ---- migration memory ----------------------------------------------- */

struct mig_column {
	char *name; /* owned */
	char *type; /* owned; NULL if unknown */
	enum mig_col_state state;
};

struct mig_table {
	char *schema;		 /* owned; "" = unknown schema */
	char *name;		 /* owned */
	bool created;		 /* CREATE TABLE in this migration */
	bool empty;		 /* known to hold no rows */
	bool swapped_out;	 /* the old copy an online schema change swap renamed
				    away (RENAME TABLE t TO _t_old, _t_new TO t) */
	struct mig_column *cols; /* owned */
	size_t ncols;
};

struct rules_migration {
	struct mig_table *tables; /* owned */
	size_t n;
	bool cascades; /* a trigger or event was created: a write may land elsewhere */
};

struct rules_migration *rules_migration_new(void)
{
	struct rules_migration *m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	return m;
}

static void table_clear(struct mig_table *t)
{
	for (size_t i = 0; i < t->ncols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].type);
	}
	free(t->cols);
	free(t->schema);
	free(t->name);
	memset(t, 0, sizeof(*t));
}

void rules_migration_reset(struct rules_migration *m)
{
	for (size_t i = 0; i < m->n; i++)
		table_clear(&m->tables[i]);
	free(m->tables);
	m->tables = NULL;
	m->n = 0;
	m->cascades = false;
}

void rules_migration_free(struct rules_migration *m)
{
	if (!m)
		return;
	rules_migration_reset(m);
	free(m);
}

/* Table names compare exactly: a false "same table" would wrongly make a
 * statement look safe, a false "different" only makes it conservative. */
static struct mig_table *table_find(const struct rules_migration *m, const char *schema,
				    const char *name)
{
	if (!m || !name)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->tables[i].name, name) == 0 &&
		    strcmp(m->tables[i].schema, schema ? schema : "") == 0)
			return &m->tables[i];
	return NULL;
}

static struct mig_table *table_get(struct rules_migration *m, const char *schema, const char *name)
{
	struct mig_table *t = table_find(m, schema, name);
	if (t)
		return t;
	m->tables = xrealloc(m->tables, (m->n + 1) * sizeof(*m->tables));
	t = &m->tables[m->n++];
	memset(t, 0, sizeof(*t));
	t->schema = xstrdup(schema);
	t->name = xstrdup(name);
	return t;
}

static void table_remove(struct rules_migration *m, struct mig_table *t)
{
	size_t i = (size_t)(t - m->tables);
	table_clear(t);
	memmove(&m->tables[i], &m->tables[i + 1], (m->n - i - 1) * sizeof(*t));
	m->n--;
}

void rules_migration_keep_swaps(struct rules_migration *m)
{
	for (size_t i = 0; i < m->n;) {
		struct mig_table *t = &m->tables[i];
		if (!t->swapped_out) {
			table_remove(m, t);
			continue;
		}
		/* only the mark survives: rows and columns may have changed since */
		for (size_t j = 0; j < t->ncols; j++) {
			free(t->cols[j].name);
			free(t->cols[j].type);
		}
		free(t->cols);
		t->cols = NULL;
		t->ncols = 0;
		t->created = t->empty = false;
		i++;
	}
}

void rules_migration_copy_swaps(struct rules_migration *dst, const struct rules_migration *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (src->tables[i].swapped_out)
			table_get(dst, src->tables[i].schema, src->tables[i].name)->swapped_out =
			    true;
}

static struct mig_column *col_find(const struct mig_table *t, const char *name)
{
	if (!t || !name)
		return NULL;
	for (size_t i = 0; i < t->ncols; i++)
		if (strcasecmp(t->cols[i].name, name) == 0)
			return &t->cols[i];
	return NULL;
}

static void col_set(struct mig_table *t, const char *name, const char *type,
		    enum mig_col_state state)
{
	struct mig_column *c = col_find(t, name);
	if (!c) {
		t->cols = xrealloc(t->cols, (t->ncols + 1) * sizeof(*t->cols));
		c = &t->cols[t->ncols++];
		c->name = xstrdup(name);
		c->type = NULL;
	}
	free(c->type);
	c->type = type ? xstrdup(type) : NULL;
	c->state = state;
}

static void col_remove(struct mig_table *t, const char *name)
{
	struct mig_column *c = col_find(t, name);
	if (!c)
		return;
	size_t i = (size_t)(c - t->cols);
	free(c->name);
	free(c->type);
	memmove(&t->cols[i], &t->cols[i + 1], (t->ncols - i - 1) * sizeof(*c));
	t->ncols--;
}

static void col_rename(struct mig_table *t, const char *from, const char *to)
{
	struct mig_column *c = col_find(t, from);
	if (c && to) {
		free(c->name);
		c->name = xstrdup(to);
	}
}

enum mig_col_state rules_column_add_state(const struct stmt_column *c)
{
	if (c->generated)
		return MIG_COL_COMPUTED;
	if (c->auto_increment)
		return MIG_COL_UNIQUE;
	if (c->has_default && !c->default_null)
		return MIG_COL_CONSTANT;
	if (c->not_null || c->inline_primary)
		return MIG_COL_CONSTANT; /* the type's implicit default: 0, '' */
	return MIG_COL_ALL_NULL;
}

enum mig_col_state rules_migration_column(const struct rules_migration *m, const char *schema,
					  const char *table, const char *column, const char **type)
{
	*type = NULL;
	struct mig_table *t = table_find(m, schema, table);
	if (!t)
		return MIG_COL_UNKNOWN;
	struct mig_column *c = col_find(t, column);
	if (c)
		*type = c->type;
	if (t->created && t->empty)
		return MIG_COL_CREATED;
	return c ? c->state : MIG_COL_UNKNOWN;
}

bool rules_migration_table_created(const struct rules_migration *m, const char *schema,
				   const char *table)
{
	struct mig_table *t = table_find(m, schema, table);
	return t && t->created;
}

bool rules_migration_table_swapped_out(const struct rules_migration *m, const char *schema,
				       const char *table)
{
	struct mig_table *t = table_find(m, schema, table);
	return t && t->swapped_out;
}

bool rules_migration_table_new(const struct rules_migration *m, const char *schema,
			       const char *table)
{
	struct mig_table *t = table_find(m, schema, table);
	return t && t->created && t->empty;
}

/* Some statement wrote rows we cannot attribute: nothing is empty or all
 * NULL any more. */
static void forget_table_data(struct mig_table *t)
{
	t->empty = false;
	for (size_t j = 0; j < t->ncols; j++) {
		if (t->cols[j].state == MIG_COL_CREATED)
			t->cols[j].state = MIG_COL_UNKNOWN;
		else if (t->cols[j].state == MIG_COL_ALL_NULL ||
			 t->cols[j].state == MIG_COL_CONSTANT)
			t->cols[j].state = MIG_COL_COMPUTED;
	}
}

static void forget_data(struct rules_migration *m)
{
	for (size_t i = 0; i < m->n; i++)
		forget_table_data(&m->tables[i]);
}

static const char *schema_or(const char *s, const char *dflt)
{
	return s ? s : dflt ? dflt : "";
}

static void rename_table(struct rules_migration *m, const struct stmt_name *from,
			 const struct stmt_name *to, const char *schema)
{
	struct mig_table *t = table_find(m, schema_or(from->schema, schema), from->name);
	if (!t || !to->name)
		return;
	struct mig_table *old = table_find(m, schema_or(to->schema, schema), to->name);
	if (old && old != t) {
		size_t ti = (size_t)(t - m->tables);
		table_remove(m, old);
		if (old < m->tables + ti)
			ti--;
		t = &m->tables[ti];
	}
	free(t->schema);
	free(t->name);
	t->schema = xstrdup(schema_or(to->schema, schema));
	t->name = xstrdup(to->name);
	t->swapped_out = false; /* renamed again: no longer the swap's old copy */
}

static bool same_table(const struct stmt_name *a, const struct stmt_name *b, const char *schema)
{
	return a->name && b->name && strcmp(a->name, b->name) == 0 &&
	       strcmp(schema_or(a->schema, schema), schema_or(b->schema, schema)) == 0;
}

/*
 * The online schema change tools' cut-over: one RENAME TABLE that moves
 * t away to a shadow name (_t_old, _t_del) and a shadow copy (_t_new,
 * _t_gho) into t's place, in that order, all in one schema. Nothing else
 * named like a shadow table is exempt: RENAME TABLE t TO _t_old alone is a
 * rename, and its old copy holds the rows.
 */
enum rules_swap_role rules_rename_swap_role(const struct stmt *st, size_t pair, const char *schema)
{
	size_t n = st->nobjects / 2;
	for (size_t i = 0; i < n; i++) {
		const struct stmt_name *live = &st->objects[2 * i], *old = &st->objects[2 * i + 1];
		if (!rules_is_shadow_table(old->name) || rules_is_shadow_table(live->name) ||
		    strcmp(schema_or(live->schema, schema), schema_or(old->schema, schema)) != 0)
			continue;
		for (size_t j = i + 1; j < n; j++) {
			const struct stmt_name *copy = &st->objects[2 * j],
					       *to = &st->objects[2 * j + 1];
			if (!rules_is_shadow_table(copy->name) || !same_table(to, live, schema) ||
			    same_table(copy, old, schema) ||
			    strcmp(schema_or(copy->schema, schema),
				   schema_or(old->schema, schema)) != 0)
				continue;
			if (pair == i)
				return RULES_SWAP_OLD;
			if (pair == j)
				return RULES_SWAP_NEW;
		}
	}
	return RULES_SWAP_NONE;
}

static void apply_alter(struct rules_migration *m, const struct stmt *st, const char *schema)
{
	const char *sch = schema_or(st->objects[0].schema, schema);
	const char *tbl = st->objects[0].name;
	for (size_t i = 0; i < st->nops; i++) {
		const struct stmt_op *op = &st->ops[i];
		struct mig_table *t;
		switch (op->kind) {
		case OP_ADD_COLUMN:
			if (!op->column || !op->column->name)
				break;
			t = table_get(m, sch, tbl);
			col_set(t, op->column->name, op->column->type,
				t->created && t->empty ? MIG_COL_CREATED
						       : rules_column_add_state(op->column));
			break;
		case OP_DROP_COLUMN:
			col_remove(table_find(m, sch, tbl), op->name);
			break;
		case OP_CHANGE_COLUMN:
		case OP_MODIFY_COLUMN: {
			t = table_find(m, sch, tbl);
			const char *from = op->name	? op->name
					   : op->column ? op->column->name
							: NULL;
			struct mig_column *c = col_find(t, from);
			if (!c)
				break;
			if (op->kind == OP_CHANGE_COLUMN && op->column && op->column->name)
				col_rename(t, from, op->column->name);
			if (op->column && op->column->type) {
				free(c->type);
				c->type = xstrdup(op->column->type);
			}
			break;
		}
		case OP_RENAME_COLUMN:
			col_rename(table_find(m, sch, tbl), op->name, op->new_name);
			break;
		case OP_RENAME_TABLE: {
			struct stmt_name from = {sch, tbl};
			rename_table(m, &from, &op->ref, schema);
			tbl = op->ref.name ? op->ref.name : tbl;
			sch = schema_or(op->ref.schema, schema);
			break;
		}
		default:
			break;
		}
	}
}

/*
 * Records what st did. Tables created with IF NOT EXISTS are not taken as
 * new (the table may have existed with data); CREATE ... SELECT is new but
 * not empty. Writes we cannot attribute (INSERT, UPDATE, LOAD, CALL ...)
 * make every table possibly non-empty and every added column possibly
 * filled.
 */
void rules_migration_apply(struct rules_migration *m, const struct stmt *st, const char *schema)
{
	if (!m || !st)
		return;
	if (st->kind == STMT_DML) {
		const char *k = st->keyword ? st->keyword : "";
		if (strcasecmp(k, "SELECT") != 0 && strcasecmp(k, "DELETE") != 0)
			forget_data(m);
		return;
	}
	if (st->kind != STMT_DDL || st->unparsed)
		return;
	struct mig_table *t;
	switch (st->verb) {
	case DDL_CREATE_TABLE:
		if (st->nobjects < 1 || st->if_not_exists)
			break;
		t = table_find(m, schema_or(st->objects[0].schema, schema), st->objects[0].name);
		if (t)
			table_remove(m, t);
		t = table_get(m, schema_or(st->objects[0].schema, schema), st->objects[0].name);
		t->created = true;
		t->empty = !st->as_select;
		for (size_t i = 0; i < st->ncolumns; i++)
			if (st->columns[i].name)
				col_set(t, st->columns[i].name, st->columns[i].type,
					t->empty ? MIG_COL_CREATED : MIG_COL_UNKNOWN);
		break;
	case DDL_ALTER_TABLE:
		if (st->nobjects >= 1)
			apply_alter(m, st, schema);
		break;
	case DDL_DROP_TABLE:
		for (size_t i = 0; i < st->nobjects; i++) {
			t = table_find(m, schema_or(st->objects[i].schema, schema),
				       st->objects[i].name);
			if (t)
				table_remove(m, t);
		}
		break;
	case DDL_TRUNCATE_TABLE:
		if (st->nobjects >= 1) {
			t = table_get(m, schema_or(st->objects[0].schema, schema),
				      st->objects[0].name);
			t->empty = true;
		}
		break;
	case DDL_RENAME_TABLE:
		for (size_t i = 0; i + 1 < st->nobjects; i += 2)
			rename_table(m, &st->objects[i], &st->objects[i + 1], schema);
		/* after the renames: the old copy's name is the swap's target */
		for (size_t i = 0; i + 1 < st->nobjects; i += 2)
			if (rules_rename_swap_role(st, i / 2, schema) == RULES_SWAP_OLD)
				table_get(m, schema_or(st->objects[i + 1].schema, schema),
					  st->objects[i + 1].name)
				    ->swapped_out = true;
		break;
	case DDL_CREATE_TRIGGER:
	case DDL_CREATE_EVENT:
		m->cascades = true;
		break;
	case DDL_DROP_DATABASE:
		for (size_t i = 0; st->nobjects >= 1 && i < m->n;) {
			const char *db = st->objects[0].name ? st->objects[0].name : "";
			if (strcmp(m->tables[i].schema, db) == 0)
				table_remove(m, &m->tables[i]);
			else
				i++;
		}
		break;
	default:
		break;
	}
}

/*
 * Rows were written to schema.table (schema NULL or "" = the session has
 * none; table NULL = ddlgate cannot name the target). Only that table
 * loses what the memory knew of its rows when the write cannot land
 * anywhere else: the table was created in this migration (it has no
 * trigger but ones made in this migration, and none was), or the caller
 * vouches for it (isolated: a migration tool's own bookkeeping table).
 * Otherwise (a view, an older table whose triggers ddlgate never saw, an
 * unknown target) every table may hold rows now. Names compare ignoring
 * case here: forgetting too much is the careful side.
 */
void rules_migration_wrote(struct rules_migration *m, const char *schema, const char *table,
			   bool isolated)
{
	if (!m)
		return;
	if (!table || !*table) {
		forget_data(m);
		return;
	}
	bool known = isolated;
	for (size_t i = 0; i < m->n && !known; i++) {
		const struct mig_table *t = &m->tables[i];
		known = t->created && !m->cascades && strcmp(t->name, table) == 0 &&
			strcmp(t->schema, schema ? schema : "") == 0;
	}
	if (!known) {
		forget_data(m);
		return;
	}
	for (size_t i = 0; i < m->n; i++) {
		struct mig_table *t = &m->tables[i];
		if (strcasecmp(t->name, table) == 0 &&
		    (!schema || !*schema || !*t->schema || strcasecmp(t->schema, schema) == 0))
			forget_table_data(t);
	}
}

/* A deep copy of m (every string its own). Caller frees it. */
struct rules_migration *rules_migration_clone(const struct rules_migration *m)
{
	struct rules_migration *c = rules_migration_new();
	if (!m)
		return c;
	*c = *m;
	c->tables = m->n ? calloc(m->n, sizeof(*c->tables)) : NULL;
	if (m->n && !c->tables)
		abort();
	for (size_t i = 0; i < m->n; i++) {
		const struct mig_table *s = &m->tables[i];
		struct mig_table *d = &c->tables[i];
		*d = *s;
		d->schema = xstrdup(s->schema);
		d->name = xstrdup(s->name);
		d->cols = s->ncols ? calloc(s->ncols, sizeof(*d->cols)) : NULL;
		if (s->ncols && !d->cols)
			abort();
		for (size_t j = 0; j < s->ncols; j++) {
			d->cols[j] = s->cols[j];
			d->cols[j].name = xstrdup(s->cols[j].name);
			d->cols[j].type = s->cols[j].type ? xstrdup(s->cols[j].type) : NULL;
		}
	}
	return c;
}

/* ---- fact cache ------------------------------------------------------ */

/* A stored question with its own copies of every string. */
struct fact_entry {
	struct rules_fact_query q;	 /* strings below */
	struct stmt_key_part *parts;	 /* owned */
	struct stmt_key_part *ref_parts; /* owned */
	char *strings[5];		 /* owned: schema, name, ref schema, ref name, charset */
	bool answered;
	struct rules_fact_answer ans;
};

struct rules_fact_cache {
	struct fact_entry *e; /* owned */
	size_t n;
};

struct rules_fact_cache *rules_fact_cache_new(void)
{
	struct rules_fact_cache *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	return c;
}

static void parts_free(struct stmt_key_part *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		free((char *)p[i].column);
	free(p);
}

void rules_fact_cache_free(struct rules_fact_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		parts_free(c->e[i].parts, c->e[i].q.nparts);
		parts_free(c->e[i].ref_parts, c->e[i].q.nparts);
		for (int k = 0; k < 5; k++)
			free(c->e[i].strings[k]);
	}
	free(c->e);
	free(c);
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool parts_eq(const struct stmt_key_part *a, const struct stmt_key_part *b, size_t n)
{
	if (!a || !b)
		return a == b;
	for (size_t i = 0; i < n; i++)
		if (!str_eq(a[i].column, b[i].column) || a[i].prefix != b[i].prefix)
			return false;
	return true;
}

static bool query_eq(const struct rules_fact_query *a, const struct rules_fact_query *b)
{
	return a->kind == b->kind && a->nparts == b->nparts && a->threshold == b->threshold &&
	       str_eq(a->table.schema, b->table.schema) && str_eq(a->table.name, b->table.name) &&
	       str_eq(a->ref.schema, b->ref.schema) && str_eq(a->ref.name, b->ref.name) &&
	       str_eq(a->charset, b->charset) && parts_eq(a->parts, b->parts, a->nparts) &&
	       parts_eq(a->ref_parts, b->ref_parts, a->nparts);
}

static struct stmt_key_part *parts_dup(const struct stmt_key_part *p, size_t n)
{
	if (!p)
		return NULL;
	struct stmt_key_part *d = calloc(n ? n : 1, sizeof(*d));
	if (!d)
		abort();
	for (size_t i = 0; i < n; i++) {
		d[i] = p[i];
		d[i].column = p[i].column ? xstrdup(p[i].column) : NULL;
	}
	return d;
}

static char *maybe_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* The provider's ask(): a stored answer, or UNKNOWN and a new pending entry. */
static void cache_ask(void *ctx, const struct rules_fact_query *q, struct rules_fact_answer *out)
{
	struct rules_fact_cache *c = ctx;
	for (size_t i = 0; i < c->n; i++) {
		if (!query_eq(&c->e[i].q, q))
			continue;
		if (c->e[i].answered)
			*out = c->e[i].ans;
		return; /* already pending: out stays NOT_FETCHED */
	}
	c->e = xrealloc(c->e, (c->n + 1) * sizeof(*c->e));
	struct fact_entry *e = &c->e[c->n];
	memset(e, 0, sizeof(*e));
	e->q = *q;
	e->strings[0] = maybe_dup(q->table.schema);
	e->strings[1] = maybe_dup(q->table.name);
	e->strings[2] = maybe_dup(q->ref.schema);
	e->strings[3] = maybe_dup(q->ref.name);
	e->strings[4] = maybe_dup(q->charset);
	e->q.charset = e->strings[4];
	e->q.table.schema = e->strings[0];
	e->q.table.name = e->strings[1];
	e->q.ref.schema = e->strings[2];
	e->q.ref.name = e->strings[3];
	e->parts = parts_dup(q->parts, q->nparts);
	e->ref_parts = parts_dup(q->ref_parts, q->nparts);
	e->q.parts = e->parts;
	e->q.ref_parts = e->ref_parts;
	c->n++;
}

struct rules_facts rules_fact_cache_provider(struct rules_fact_cache *c)
{
	struct rules_facts f = {cache_ask, c};
	return f;
}

size_t rules_fact_cache_npending(const struct rules_fact_cache *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++)
		if (!c->e[i].answered)
			n++;
	return n;
}

/* The i-th unanswered entry, counting only unanswered ones. */
static struct fact_entry *pending_at(const struct rules_fact_cache *c, size_t i)
{
	for (size_t k = 0; k < c->n; k++) {
		struct fact_entry *e = &c->e[k];
		if (e->answered)
			continue;
		if (i-- == 0)
			return e;
	}
	return NULL;
}

const struct rules_fact_query *rules_fact_cache_pending(const struct rules_fact_cache *c, size_t i)
{
	struct fact_entry *e = pending_at(c, i);
	return e ? &e->q : NULL;
}

void rules_fact_cache_answer(struct rules_fact_cache *c, const struct rules_fact_query *q,
			     const struct rules_fact_answer *a)
{
	for (size_t i = 0; i < c->n; i++) {
		struct fact_entry *e = &c->e[i];
		if (&e->q != q)
			continue;
		e->ans = *a;
		if (e->ans.status == RULES_FACT_NOT_FETCHED) {
			e->ans.status = RULES_FACT_FAILED;
			e->ans.value = RULES_UNKNOWN;
		}
		e->answered = true;
		return;
	}
}
