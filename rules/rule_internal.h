/*
 * Internals shared by the rule engine's files (engine.c, rule_checks.c,
 * rule_memory.c, rule_types.c); not part of the rules/ API.
 */
#ifndef DDLGATE_RULES_RULE_INTERNAL_H
#define DDLGATE_RULES_RULE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/engine.h"

/* One evaluation in progress: the engine, the session and the verdict
 * being filled. Borrowed pointers only; lives on evaluate's stack. */
struct rules_eval {
	const struct rules_engine *e;
	struct arena *a;
	const struct rules_ctx *ctx;
	const struct rules_facts *facts; /* NULL: offline, or an inner statement */
	struct rules_migration *mig;	 /* NULL: nothing known */
	struct rules_verdict *v;
	size_t cap;		/* allocated findings */
	size_t cap_passed;	/* allocated passed guards */
	unsigned inner;		/* 0 top level, k: k-th inner statement */
	const char *inner_what; /* "routine body", ... for messages */
	bool verbatim;		/* the message is the operator's (custom rule): as written */
};

/* What the migration knows about a column (see rule_memory.c). */
enum mig_col_state {
	MIG_COL_UNKNOWN = 0, /* not added in this migration: existing data */
	MIG_COL_ALL_NULL,    /* added nullable without default: NULL on every row */
	MIG_COL_CONSTANT,    /* added with a constant (or implicit) default */
	MIG_COL_UNIQUE,	     /* added AUTO_INCREMENT: distinct values */
	MIG_COL_COMPUTED,    /* added generated / with an expression: unknown values */
	MIG_COL_CREATED,     /* part of a table created in this migration */
};

/* Column state for schema.table.column from earlier statements; type gets
 * the column's type when known (else NULL). */
enum mig_col_state rules_migration_column(const struct rules_migration *m, const char *schema,
					  const char *table, const char *column, const char **type);
/* True when schema.table was created in this migration (empty or not). */
bool rules_migration_table_created(const struct rules_migration *m, const char *schema,
				   const char *table);
/* True when schema.table is the old copy an online schema change swap
 * renamed away in this migration (see rules_rename_swap_role). */
bool rules_migration_table_swapped_out(const struct rules_migration *m, const char *schema,
				       const char *table);

/* The part pair (objects[2 * pair] -> objects[2 * pair + 1]) of RENAME
 * TABLE st plays in an online schema change swap; schema is the session's
 * (names without one are in it). */
enum rules_swap_role {
	RULES_SWAP_NONE,
	RULES_SWAP_OLD, /* t -> _t_old: the live table moves away */
	RULES_SWAP_NEW, /* _t_new -> t: the shadow copy takes its place */
};
enum rules_swap_role rules_rename_swap_role(const struct stmt *st, size_t pair, const char *schema);

/* The state a column definition gives a freshly added column. */
enum mig_col_state rules_column_add_state(const struct stmt_column *c);

/* Built-in checks over one statement (rule_checks.c). */
void rules_check_stmt(struct rules_eval *ev, const struct stmt *st);

/* Adds a finding for rule id (dropped when the rule is off for this
 * scope). passed marks a guard that made the statement safe. what and fix
 * are joined as "<what>. <fix>". object may be NULL. Returns the finding,
 * or NULL when the rule is off here. */
struct rules_finding *rules_emit(struct rules_eval *ev, const char *id, const char *schema,
				 const char *table, bool passed, const char *guard,
				 const char *what, const char *fix);

/* arena printf. */
const char *rules_fmt(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Type comparison (rule_types.c). */
enum type_change { TYPE_SAME, TYPE_WIDENING, TYPE_OTHER };
enum type_change rules_type_compare(const char *old_type, const char *new_type);

/* The schema a name refers to: its own, the session's, or "". */
const char *rules_schema_of(const struct rules_eval *ev, const struct stmt_name *n);

/* Online-schema-change shadow table (_t_new, _t_old, _t_gho, _t_ghc, _t_del). */
bool rules_is_shadow_table(const char *name);

#endif
