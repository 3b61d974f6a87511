/*
 * Step-wise judging of multi-statement scripts: whether an earlier
 * statement of a script may change the rows a later statement's guard
 * reads. A script like `UPDATE t SET u = id; ALTER TABLE t ADD UNIQUE (u)`
 * is then judged in steps: the statements before the ALTER run first, and
 * the ALTER's guard probes the data they left. Pure: text in, yes/no out.
 */
#ifndef DDLGATE_RULES_STEP_H
#define DDLGATE_RULES_STEP_H

#include <stdbool.h>
#include <stddef.h>

/* One earlier statement of the script: its text, the current schema it
 * runs in (NULL = none) and the lex flags the server reads it with
 * (lex.h: sql_mode bits, server version). Borrowed. */
struct step_stmt {
	const char *sql;
	size_t len;
	const char *schema;
	unsigned mode;
};

/* A table a guard of the later statement reads rows of; schema is never
 * NULL ("" = none). Borrowed. */
struct step_table {
	const char *schema;
	const char *table;
};

/*
 * Whether one of w[0..nw) may add, change or remove rows of one of
 * reads[0..nr): a write statement (INSERT, UPDATE, DELETE, REPLACE, LOAD,
 * CALL, MERGE) that names the table anywhere, or whose tables ddlgate
 * cannot name (CALL, a write naming no table it follows). Names compare
 * case-insensitively: a step too many costs one round trip, a step too few
 * a refused safe script.
 */
bool step_writes_any(const struct step_stmt *w, size_t nw, const struct step_table *reads,
		     size_t nr);

#endif
