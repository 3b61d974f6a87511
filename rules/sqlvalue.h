/*
 * Offline values of user variables: what statement text a migration builds
 * before it runs it with PREPARE ... FROM @v or EXECUTE IMMEDIATE @v.
 *
 * Real migrations guard their DDL with conditions only the live server can
 * answer:
 *
 *   SET @s = (SELECT IF((SELECT COUNT(*) FROM information_schema.COLUMNS
 *                        WHERE ...) > 0, 'ALTER TABLE t DROP COLUMN c', 'SELECT 1'));
 *   PREPARE p FROM @s; EXECUTE p;
 *
 * An offline check cannot know which branch runs, but it can know every
 * branch: the evaluator here turns such an expression into the *set* of
 * values it can take, never deciding a condition. It models string
 * literals, plain integers, NULL, earlier user variables (and bound routine
 * parameters), CONCAT, CONCAT_WS, IF, IFNULL, COALESCE, CASE and (SELECT
 * <expr> [FROM ...]) wrappers. Anything else in a value position (a column,
 * DATABASE(), an operator, a function it does not model) makes the whole
 * value unknown, with a reason, so the caller fails closed.
 *
 * Pure: no I/O. Values live in the caller's arena; a struct sqlv_vars owns
 * copies of what it stores.
 */
#ifndef DDLGATE_RULES_SQLVALUE_H
#define DDLGATE_RULES_SQLVALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/arena.h"

/* More possible values than this and the value counts as unknown: a
 * product of conditionals that large is no longer reviewable branch by
 * branch. */
#define SQLV_MAX_VALUES 16

/* The values an expression can take. */
struct sqlv_set {
	const char *v[SQLV_MAX_VALUES]; /* borrowed (arena); NUL-terminated, NULL = SQL NULL */
	size_t n;			/* distinct values, in first-seen order */
	const char *unknown;		/* NULL when every value is known, else why not */
};

/*
 * Variables of one session (one migration file): user variables, keyed
 * "@name", and routine parameters bound for one CALL, keyed "name" (both
 * case-insensitive). Heap object: sqlv_vars_new / sqlv_vars_free.
 */
struct sqlv_vars;

struct sqlv_vars *sqlv_vars_new(void);
void sqlv_vars_free(struct sqlv_vars *v);
/* Binds name[0..n) ("@x" or "x") to a copy of s (its unknown reason too). */
void sqlv_vars_bind(struct sqlv_vars *v, const char *name, size_t n, const struct sqlv_set *s);
/* Every variable bound so far becomes unknown for reason why (copied): a
 * CALL may have assigned any of them. */
void sqlv_vars_forget(struct sqlv_vars *v, const char *why);
/* The value bound to name[0..n), or NULL when it never was. */
const struct sqlv_set *sqlv_vars_get(const struct sqlv_vars *v, const char *name, size_t n);

/*
 * Evaluates the expression expr[0..len) (no trailing ';') with the
 * variables in vars (may be NULL) into out. Returns false, with
 * out->unknown set, when some value cannot be known offline. Scratch
 * memory and values come from a.
 */
bool sqlv_eval(struct arena *a, const char *expr, size_t len, unsigned lex_flags,
	       const struct sqlv_vars *vars, struct sqlv_set *out);

/*
 * Applies what one statement does to user variables: SET @a = <expr>[,
 * @b := <expr> ...] binds each (unknown values included, with their
 * reason); an assignment the evaluator does not model (@v := inside an
 * expression, SELECT ... INTO @v) makes @v unknown; CALL makes every
 * variable unknown. Other statements change nothing.
 */
void sqlv_track(struct sqlv_vars *vars, struct arena *a, const char *sql, size_t len,
		unsigned lex_flags);

/*
 * When sql is PREPARE name FROM <expr> or EXECUTE IMMEDIATE <expr> [USING
 * ...], evaluates <expr> into out, stores the byte range of <expr> in
 * *begin / *end and returns true (out->unknown says whether the text is
 * known). Returns false for any other statement.
 */
bool sqlv_prepared(struct arena *a, const char *sql, size_t len, unsigned lex_flags,
		   const struct sqlv_vars *vars, struct sqlv_set *out, size_t *begin, size_t *end);

/* ---- stored procedures ---- */

/* The routine "CALL [schema.]name ..." calls, unquoted and lower case (in
 * a), or NULL when sql is no CALL. */
const char *sqlv_call_target(struct arena *a, const char *sql, size_t len, unsigned lex_flags);

/* One PREPARE ... FROM <expr> (or EXECUTE IMMEDIATE <expr>) of a procedure
 * body whose text is not a literal, as one CALL would run it. */
struct sqlv_prepare {
	const char *source;  /* <expr> as written (arena) */
	struct sqlv_set set; /* its possible texts, or unknown */
};

/*
 * Follows one CALL (call_sql) of the procedure created by create_sql:
 * binds its parameters to the CALL's arguments (evaluated with vars, the
 * caller's variables; a parameter the body assigns is unknown) and walks
 * the body, tracking user variables. Control flow is not decided: the
 * statements between BEGIN, THEN, ELSE, DO, LOOP, REPEAT and END run
 * straight, and at the start of each such region every variable the body
 * assigns anywhere is unknown. Returns how many PREPAREs from a
 * non-literal source the body runs, in *out (arena array, body order).
 * When the body cannot be followed at all (a condition handler, the
 * arguments do not match) returns 0 with *why set.
 */
size_t sqlv_call(struct arena *a, const char *create_sql, size_t create_len, const char *call_sql,
		 size_t call_len, unsigned lex_flags, const struct sqlv_vars *vars,
		 struct sqlv_prepare **out, const char **why);

/* s as a single-quoted SQL string literal that reads back as s under
 * lex_flags (quotes doubled, backslashes escaped unless
 * LEX_NO_BACKSLASH_ESCAPES). Lives in a. */
const char *sqlv_quote(struct arena *a, const char *s, unsigned lex_flags);

#endif
