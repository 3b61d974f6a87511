/* The built-in rules: one check per rule id over a parsed DDL statement. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rules/rule_internal.h"

/* ---- helpers ----------------------------------------------------------- */

static bool table_new(const struct rules_eval *ev, const char *sch, const char *tbl)
{
	return ev->mig && tbl && rules_migration_table_new(ev->mig, sch, tbl);
}

static bool table_created(const struct rules_eval *ev, const char *sch, const char *tbl)
{
	return ev->mig && tbl && rules_migration_table_created(ev->mig, sch, tbl);
}

/* Asks a fact; anything but a fetched YES/NO is UNKNOWN. A fact nobody has
 * fetched yet marks the verdict pending. */
static enum rules_answer ask(struct rules_eval *ev, const struct rules_fact_query *q,
			     struct rules_fact_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	if (!ev->facts)
		return RULES_UNKNOWN;
	ev->facts->ask(ev->facts->ctx, q, ans);
	if (ans->status == RULES_FACT_NOT_FETCHED)
		ev->v->pending = true;
	if (ans->status != RULES_FACT_OK)
		ans->value = RULES_UNKNOWN;
	return ans->value;
}

/* Why a fact is unknown, for the finding's guard text. */
static const char *guard_unknown(struct rules_eval *ev, const struct rules_fact_answer *ans)
{
	if (!ev->facts)
		return ev->inner ? "runs later: no live probe" : "offline: no live probe";
	if (ans->status == RULES_FACT_FAILED)
		return rules_fmt(ev->a, "probe failed: %s", ans->detail[0] ? ans->detail : "error");
	return "probe pending";
}

/* `a`, `b`(10) */
static const char *parts_text(struct arena *a, const struct stmt_key_part *p, size_t n)
{
	const char *s = "";
	for (size_t i = 0; i < n; i++) {
		const char *col = p[i].column ? rules_fmt(a, "`%s`", p[i].column) : "(expression)";
		if (p[i].prefix)
			col = rules_fmt(a, "%s(%" PRIu32 ")", col, p[i].prefix);
		s = rules_fmt(a, "%s%s%s", s, i ? ", " : "", col);
	}
	return s;
}

/* What earlier statements (and the current one, for columns it adds) know
 * of column col; *type gets its type when known. */
static enum mig_col_state column_state(const struct rules_eval *ev, const struct stmt *st,
				       const char *sch, const char *tbl, const char *col,
				       const char **type)
{
	*type = NULL;
	if (!col)
		return MIG_COL_COMPUTED;
	for (size_t i = 0; st && i < st->nops; i++) {
		const struct stmt_op *op = &st->ops[i];
		if (op->kind == OP_ADD_COLUMN && op->column && op->column->name &&
		    strcasecmp(op->column->name, col) == 0) {
			*type = op->column->type;
			if (table_new(ev, sch, tbl))
				return MIG_COL_CREATED;
			return rules_column_add_state(op->column);
		}
	}
	if (!ev->mig)
		return MIG_COL_UNKNOWN;
	return rules_migration_column(ev->mig, sch, tbl, col, type);
}

static struct rules_fact_query query(enum rules_fact_kind kind, const char *sch, const char *tbl)
{
	struct rules_fact_query q;
	memset(&q, 0, sizeof(q));
	q.kind = kind;
	q.table.schema = sch;
	q.table.name = tbl;
	return q;
}

/* Rows in the table: the migration's memory first, then a probe. */
static enum rules_answer has_rows(struct rules_eval *ev, const char *sch, const char *tbl,
				  struct rules_fact_answer *ans, const char **guard)
{
	if (table_new(ev, sch, tbl)) {
		memset(ans, 0, sizeof(*ans));
		*guard = "new table in this migration";
		return RULES_NO;
	}
	struct rules_fact_query q = query(FACT_HAS_ROWS, sch, tbl);
	enum rules_answer r = ask(ev, &q, ans);
	if (r == RULES_NO)
		*guard = "probe: table is empty";
	else if (r == RULES_YES)
		*guard = ans->number >= 2 ? "probe: table holds 2 or more rows"
					  : "probe: table holds 1 row";
	else
		*guard = guard_unknown(ev, ans);
	return r;
}

/* ---- unique-unguarded -------------------------------------------------- */

/*
 * A unique (or primary) key over parts of sch.tbl. Safe when the table is
 * new in this migration, when some key column was added in this migration
 * as nullable without default (all NULL: NULLs never collide) or as
 * AUTO_INCREMENT, or when a probe finds no duplicate among the existing key
 * columns. Key columns added with a constant default do not separate rows:
 * if all key columns are such, two rows are enough to make it fail. A
 * primary key makes its columns NOT NULL, so there an all-NULL new column
 * becomes the type's constant default.
 */
static void check_unique(struct rules_eval *ev, const struct stmt *st, const char *sch,
			 const char *tbl, const char *label, const struct stmt_key_part *parts,
			 size_t nparts, bool primary)
{
	static const char id[] = "unique-unguarded";
	const char *keylist = parts_text(ev->a, parts, nparts);
	const char *keytxt = rules_fmt(ev->a, "(%s)", keylist);
	/* ALTER IGNORE deletes the rows that collide instead of failing: a
	 * table new in this migration may already hold duplicates the
	 * migration inserted, so only its data can tell. */
	bool ignore = st->alter_ignore;
	if (!ignore && table_new(ev, sch, tbl)) {
		rules_emit(ev, id, sch, tbl, true, "new table in this migration", label, "");
		return;
	}
	struct stmt_key_part *exist = arena_alloc(ev->a, (nparts ? nparts : 1) * sizeof(*exist));
	size_t nexist = 0;
	const char *computed = nparts ? NULL : "(no key columns)", *constant = NULL;
	for (size_t i = 0; i < nparts; i++) {
		const char *type;
		if (!parts[i].column) {
			computed = "(expression)";
			continue;
		}
		enum mig_col_state s = column_state(ev, st, sch, tbl, parts[i].column, &type);
		if (primary && s == MIG_COL_ALL_NULL)
			s = MIG_COL_CONSTANT;
		switch (s) {
		case MIG_COL_CREATED:
			if (ignore) {
				exist[nexist++] = parts[i];
				break;
			}
			rules_emit(ev, id, sch, tbl, true, "new table in this migration", label,
				   "");
			return;
		case MIG_COL_ALL_NULL:
			rules_emit(ev, id, sch, tbl, true,
				   rules_fmt(ev->a,
					     "column `%s` added in this migration as nullable "
					     "without default: all NULL",
					     parts[i].column),
				   label, "");
			return;
		case MIG_COL_UNIQUE:
			rules_emit(ev, id, sch, tbl, true,
				   rules_fmt(ev->a, "column `%s` added as AUTO_INCREMENT",
					     parts[i].column),
				   label, "");
			return;
		case MIG_COL_COMPUTED:
			computed = parts[i].column;
			break;
		case MIG_COL_CONSTANT:
			constant = parts[i].column;
			break;
		case MIG_COL_UNKNOWN:
			exist[nexist++] = parts[i];
			break;
		}
	}
	const char *fix =
	    rules_fmt(ev->a,
		      "Find and resolve duplicates first (SELECT %s, COUNT(*) FROM `%s` "
		      "GROUP BY ... HAVING COUNT(*) > 1), then let a live probe prove "
		      "there are none (ddlgate check --dsn, or through the proxy)",
		      keylist, tbl);
	if (computed) {
		rules_emit(
		    ev, id, sch, tbl, false,
		    rules_fmt(ev->a, "values of `%s` cannot be known before it runs", computed),
		    rules_fmt(ev->a,
			      "%s on %s of `%s` adds a unique constraint over values "
			      "ddlgate cannot check: duplicates make it fail after a long "
			      "table copy (ALTER IGNORE silently deletes rows)",
			      label, keytxt, tbl),
		    fix);
		return;
	}
	struct rules_fact_answer ans;
	const char *guard;
	if (nexist == 0) {
		/* every key column is new with one constant value */
		enum rules_answer r = has_rows(ev, sch, tbl, &ans, &guard);
		if (r == RULES_NO || (r == RULES_YES && ans.number < 2)) {
			rules_emit(ev, id, sch, tbl, true, guard, label, "");
			return;
		}
		rules_emit(
		    ev, id, sch, tbl, false, guard,
		    rules_fmt(ev->a,
			      "%s on %s of `%s`: new column `%s` gets the same default value "
			      "on every row, so with 2 or more rows the key %s",
			      label, keytxt, tbl, constant,
			      r == RULES_YES ? "always fails" : "fails"),
		    "Add the column as nullable without a default, backfill distinct "
		    "values, then add the key in a later step");
		return;
	}
	/* every question in one round, so the two-phase caller probes once */
	enum rules_answer *nulls = arena_alloc(ev->a, nexist * sizeof(*nulls));
	struct rules_fact_answer *nans = arena_alloc(ev->a, nexist * sizeof(*nans));
	for (size_t i = 0; primary && i < nexist; i++) {
		struct rules_fact_query nq = query(FACT_NULLS, sch, tbl);
		nq.parts = &exist[i];
		nq.nparts = 1;
		nulls[i] = ask(ev, &nq, &nans[i]);
	}
	struct rules_fact_query q = query(FACT_DUPLICATES, sch, tbl);
	q.parts = exist;
	q.nparts = nexist;
	enum rules_answer r = ask(ev, &q, &ans);
	if (r == RULES_NO && primary) {
		/* a primary key makes its columns NOT NULL: a NULL fails the
		 * statement, or (outside strict mode) becomes 0 / '' and collides */
		for (size_t i = 0; i < nexist; i++) {
			if (nulls[i] == RULES_NO)
				continue;
			rules_emit(
			    ev, id, sch, tbl, false,
			    nulls[i] == RULES_YES
				? rules_fmt(ev->a, "probe: `%s` holds NULLs", exist[i].column)
				: guard_unknown(ev, &nans[i]),
			    rules_fmt(ev->a,
				      "%s on %s of `%s`: primary key columns become NOT "
				      "NULL, and `%s` %s NULLs",
				      label, keytxt, tbl, exist[i].column,
				      nulls[i] == RULES_YES ? "holds" : "may hold"),
			    "Backfill the NULLs first, then add the key");
			return;
		}
	}
	if (r == RULES_NO) {
		rules_emit(ev, id, sch, tbl, true, "probe: no duplicates", label, "");
		return;
	}
	if (r == RULES_YES) {
		guard = rules_fmt(ev->a, "probe: duplicate value %s (%" PRIu64 " rows)", ans.detail,
				  ans.number);
		rules_emit(ev, id, sch, tbl, false, guard,
			   rules_fmt(ev->a,
				     "%s on %s of `%s` would fail: the table already holds "
				     "duplicates, e.g. %s in %" PRIu64 " rows",
				     label, keytxt, tbl, ans.detail, ans.number),
			   "Resolve the duplicates first (merge or delete them), then add the key");
		return;
	}
	rules_emit(ev, id, sch, tbl, false, guard_unknown(ev, &ans),
		   rules_fmt(ev->a,
			     "%s on existing column(s) %s of `%s`, a table that may hold rows: "
			     "duplicates make it fail after a long table copy (ALTER IGNORE "
			     "silently deletes rows)",
			     label, keytxt, tbl),
		   fix);
}

/* ---- column rules ------------------------------------------------------ */

static void check_add_column(struct rules_eval *ev, const struct stmt *st, const char *sch,
			     const char *tbl, const struct stmt_column *c)
{
	if ((c->not_null || c->inline_primary) && (!c->has_default || c->default_null) &&
	    !c->auto_increment && !c->generated) {
		static const char id[] = "add-required-column";
		struct rules_fact_answer ans;
		const char *guard;
		enum rules_answer r = has_rows(ev, sch, tbl, &ans, &guard);
		const char *what = rules_fmt(
		    ev->a,
		    "ADD COLUMN `%s` %s NOT NULL without DEFAULT on `%s`, a table that %s rows: "
		    "existing rows get the type's implicit value (or the statement fails in "
		    "strict mode) and running code that inserts without the column breaks",
		    c->name, c->type ? c->type : "", tbl, r == RULES_YES ? "holds" : "may hold");
		rules_emit(ev, id, sch, tbl, r == RULES_NO, guard, what,
			   "Give the column a DEFAULT (or add it nullable), backfill, then make it "
			   "NOT NULL once every writer sets it");
	}
	if (c->inline_unique || c->inline_primary) {
		struct stmt_key_part *kp = arena_alloc(ev->a, sizeof(*kp));
		kp->column = c->name;
		check_unique(ev, st, sch, tbl,
			     rules_fmt(ev->a, "ADD COLUMN `%s` %s", c->name,
				       c->inline_primary ? "PRIMARY KEY" : "UNIQUE"),
			     kp, 1, c->inline_primary);
	}
}

static void check_set_not_null(struct rules_eval *ev, const struct stmt *st, const char *sch,
			       const char *tbl, const char *col, const struct stmt_column *c)
{
	static const char id[] = "set-not-null";
	if (!(c->not_null || c->inline_primary) || c->generated)
		return;
	const char *type;
	enum mig_col_state s = column_state(ev, NULL, sch, tbl, col, &type);
	const char *guard = NULL;
	bool passed = false;
	struct rules_fact_answer ans;
	enum rules_answer r = RULES_UNKNOWN;
	switch (s) {
	case MIG_COL_CREATED:
		return;
	case MIG_COL_CONSTANT:
	case MIG_COL_UNIQUE:
		passed = true;
		guard = rules_fmt(ev->a, "column `%s` added in this migration with a value", col);
		break;
	case MIG_COL_ALL_NULL:
		r = has_rows(ev, sch, tbl, &ans, &guard);
		passed = r == RULES_NO;
		if (!passed)
			guard = rules_fmt(ev->a,
					  "column `%s` added in this migration as nullable: every "
					  "existing row is NULL",
					  col);
		break;
	default: {
		struct stmt_key_part *kp = arena_alloc(ev->a, sizeof(*kp));
		kp->column = col;
		struct rules_fact_query q = query(FACT_NULLS, sch, tbl);
		q.parts = kp;
		q.nparts = 1;
		r = ask(ev, &q, &ans);
		passed = r == RULES_NO;
		guard = r == RULES_NO	 ? "probe: no NULL"
			: r == RULES_YES ? "probe: the column holds NULLs"
					 : guard_unknown(ev, &ans);
		break;
	}
	}
	rules_emit(ev, id, sch, tbl, passed, guard,
		   rules_fmt(ev->a,
			     "`%s`.`%s` becomes NOT NULL: if it holds NULLs the statement fails "
			     "after a table copy (or, outside strict mode, turns them into 0 / '')",
			     tbl, col),
		   rules_fmt(ev->a,
			     "Backfill first (UPDATE `%s` SET `%s` = ... WHERE `%s` IS NULL) and "
			     "let a live probe confirm no NULL is left",
			     tbl, col, col));
}

static void check_type_change(struct rules_eval *ev, const char *sch, const char *tbl,
			      const char *col, const struct stmt_column *c)
{
	static const char id[] = "column-type-change";
	if (!c->type)
		return;
	const char *old = NULL;
	enum mig_col_state s = column_state(ev, NULL, sch, tbl, col, &old);
	if (s == MIG_COL_CREATED)
		return;
	const char *guard = NULL;
	if (!old) {
		struct stmt_key_part *kp = arena_alloc(ev->a, sizeof(*kp));
		kp->column = col;
		struct rules_fact_query q = query(FACT_COLUMN_TYPE, sch, tbl);
		q.parts = kp;
		q.nparts = 1;
		struct rules_fact_answer ans;
		enum rules_answer r = ask(ev, &q, &ans);
		if (r == RULES_YES)
			old = arena_strndup(ev->a, ans.detail, strlen(ans.detail));
		else if (r == RULES_NO)
			return; /* no such column: the server refuses the statement */
		else
			guard =
			    rules_fmt(ev->a, "current type unknown (%s)", guard_unknown(ev, &ans));
	}
	const char *fix = "Expand/contract: add a column of the new type, write both, backfill, "
			  "switch readers, then drop the old column (or use an online schema "
			  "change tool)";
	if (!old) {
		rules_emit(ev, id, sch, tbl, false, guard,
			   rules_fmt(ev->a,
				     "`%s`.`%s` is redefined as %s and ddlgate cannot tell whether "
				     "its type changes: a narrowing or class change copies the "
				     "table and can truncate or reject values",
				     tbl, col, c->type),
			   fix);
		return;
	}
	enum type_change tc = rules_type_compare(old, c->type);
	if (tc == TYPE_SAME)
		return;
	if (tc == TYPE_WIDENING) {
		rules_emit(ev, id, sch, tbl, true,
			   rules_fmt(ev->a, "widening from %s to %s", old, c->type),
			   rules_fmt(ev->a, "`%s`.`%s` becomes %s", tbl, col, c->type), "");
		return;
	}
	rules_emit(ev, id, sch, tbl, false, rules_fmt(ev->a, "type: %s -> %s", old, c->type),
		   rules_fmt(ev->a,
			     "`%s`.`%s` changes type from %s to %s: the table is copied while "
			     "writes wait, and values that do not fit are truncated or rejected",
			     tbl, col, old, c->type),
		   fix);
}

/* ---- data-changing DDL: lossy-conversion, engine-change, column-made-generated ---- */

/* Character sets that hold every Unicode character: text converted into
 * them loses nothing, whatever it was before. */
static bool charset_universal(const char *cs)
{
	static const char *const all[] = {"utf8mb4", "utf16", "utf16le", "utf32", "gb18030"};
	for (size_t i = 0; cs && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcasecmp(cs, all[i]) == 0)
			return true;
	return false;
}

/* A one-column fact about sch.tbl.col. */
static enum rules_answer ask_column(struct rules_eval *ev, enum rules_fact_kind kind,
				    const char *sch, const char *tbl, const char *col,
				    const char *charset, struct rules_fact_answer *ans)
{
	struct stmt_key_part *kp = arena_alloc(ev->a, sizeof(*kp));
	kp->column = col;
	struct rules_fact_query q = query(kind, sch, tbl);
	q.parts = kp;
	q.nparts = 1;
	q.charset = charset;
	return ask(ev, &q, ans);
}

/* Text turned into bytes: CHARACTER SET binary on a column or a table.
 * The bytes stay, their meaning goes. */
static const char *binary_what(struct arena *a, const char *what)
{
	return rules_fmt(a,
			 "%s becomes CHARACTER SET binary: text turns into bytes, so comparisons, "
			 "sorting and unique keys become byte-wise and case-sensitive, and CHAR "
			 "values are padded with 0x00 bytes instead of spaces",
			 what);
}

static bool type_has_word(const char *type, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = type ? strstr(type, w) : NULL; p; p = strstr(p + 1, w))
		if ((p == type || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
	return false;
}

/* The character set a collation belongs to: its name up to the first '_'
 * (latin1_swedish_ci, utf8mb4_uca1400_ai_ci; "binary" has none). */
static const char *collation_charset(struct arena *a, const char *coll)
{
	const char *u = coll ? strchr(coll, '_') : NULL;
	return u ? arena_strndup(a, coll, (size_t)(u - coll)) : coll;
}

static bool text_base(const char *base)
{
	static const char *const texts[] = {"char",	  "varchar",  "tinytext", "text",
					    "mediumtext", "longtext", "enum",	  "set"};
	for (size_t i = 0; base && i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strcasecmp(base, texts[i]) == 0)
			return true;
	return false;
}

/* What one conversion of col into cs risks, for the finding. */
static void emit_lossy(struct rules_eval *ev, const char *sch, const char *tbl, const char *col,
		       const char *cs, const char *why, enum rules_answer r,
		       const struct rules_fact_answer *ans)
{
	const char *guard =
	    r == RULES_NO    ? rules_fmt(ev->a, "probe: every value of `%s` fits %s", col, cs)
	    : r == RULES_YES ? rules_fmt(ev->a, "probe: `%s` holds characters %s lacks", col, cs)
			     : guard_unknown(ev, ans);
	rules_emit(
	    ev, "lossy-conversion", sch, tbl, r == RULES_NO, guard,
	    rules_fmt(ev->a,
		      "`%s`.`%s` %s, which cannot hold every character: in strict mode the "
		      "statement fails after copying the table, outside it each character "
		      "%s lacks silently becomes '?'",
		      tbl, col, why, cs),
	    rules_fmt(ev->a,
		      "Find the values first (SELECT ... WHERE `%s` <> CONVERT(`%s` USING %s)) "
		      "and fix them, or convert to utf8mb4, which holds every character",
		      col, col, cs));
}

/*
 * A text column redefined without CHARACTER SET or COLLATE takes the
 * table's default character set, not the one it had: MODIFY c VARCHAR(30)
 * on a utf8mb4 column of a latin1 table converts it to latin1. Only a live
 * probe can tell (the statement does not say), so offline, or while the
 * column's character set is unknown, nothing fires; once the sets are
 * known to differ, the data decides as for an explicit conversion.
 */
static void check_implicit_charset(struct rules_eval *ev, const char *sch, const char *tbl,
				   const char *col, const struct stmt_column *c)
{
	if (!ev->facts || !text_base(c->type_base) || type_has_word(c->type, "binary"))
		return;
	struct rules_fact_answer ans;
	if (ask_column(ev, FACT_COLUMN_CHARSET, sch, tbl, col, NULL, &ans) != RULES_YES)
		return;
	char *sp = strchr(ans.detail, ' ');
	if (!sp || sp == ans.detail)
		return; /* not text now: a type change, column-type-change's */
	*sp = '\0';
	const char *now = ans.detail;
	const char *dflt = collation_charset(ev->a, sp + 1);
	if (!dflt || !*dflt || strcasecmp(now, dflt) == 0 || charset_universal(dflt))
		return;
	dflt = arena_strndup(ev->a, dflt, strlen(dflt));
	struct rules_fact_answer lans;
	enum rules_answer r = ask_column(ev, FACT_LOSSY_CHARSET, sch, tbl, col, dflt, &lans);
	emit_lossy(ev, sch, tbl, col, dflt,
		   rules_fmt(ev->a,
			     "is redefined without CHARACTER SET, so it moves from %s to the "
			     "table's default %s",
			     now, dflt),
		   r, &lans);
}

/*
 * MODIFY / CHANGE with CHARACTER SET cs. To a set that holds every
 * character nothing is lost; to binary the text becomes bytes (guard: the
 * column holds no data); to any other set a probe converts every value
 * there and back and looks for one that changed (it would come back as
 * '?', or fail the statement in strict mode).
 */
static void check_column_charset(struct rules_eval *ev, const char *sch, const char *tbl,
				 const char *col, const struct stmt_column *c)
{
	static const char id[] = "lossy-conversion";
	/* COLLATE alone names the character set too */
	const char *cs = c->charset ? c->charset : collation_charset(ev->a, c->collate), *old;
	enum mig_col_state s = column_state(ev, NULL, sch, tbl, col, &old);
	if (s == MIG_COL_CREATED || s == MIG_COL_ALL_NULL)
		return; /* nothing stored in it yet */
	if (!cs) {
		check_implicit_charset(ev, sch, tbl, col, c);
		return;
	}
	if (charset_universal(cs))
		return;
	struct rules_fact_answer ans;
	if (strcasecmp(cs, "binary") == 0) {
		enum rules_answer r = ask_column(ev, FACT_COLUMN_DATA, sch, tbl, col, NULL, &ans);
		rules_emit(
		    ev, id, sch, tbl, r == RULES_NO,
		    r == RULES_NO    ? "probe: the column holds no data"
		    : r == RULES_YES ? "probe: the column holds data"
				     : guard_unknown(ev, &ans),
		    binary_what(ev->a, rules_fmt(ev->a, "`%s`.`%s`", tbl, col)),
		    "Add a VARBINARY / BLOB column next to it, copy and check the values, move "
		    "readers and writers, then drop the old column");
		return;
	}
	enum rules_answer r = ask_column(ev, FACT_LOSSY_CHARSET, sch, tbl, col, cs, &ans);
	emit_lossy(ev, sch, tbl, col, cs, rules_fmt(ev->a, "is converted to CHARACTER SET %s", cs),
		   r, &ans);
}

/* ALTER TABLE ... CONVERT TO CHARACTER SET cs: every text column at once.
 * Which columns hold what is not known to one probe, so any row makes a
 * conversion to a smaller set unsafe; column by column (MODIFY) a probe
 * checks the data itself. */
static void check_convert_table(struct rules_eval *ev, const char *sch, const char *tbl,
				const struct stmt_op *op)
{
	static const char id[] = "lossy-conversion";
	const char *cs = op->value;
	if (!cs || charset_universal(cs))
		return;
	struct rules_fact_answer ans;
	const char *guard;
	enum rules_answer r = has_rows(ev, sch, tbl, &ans, &guard);
	if (strcasecmp(cs, "binary") == 0) {
		rules_emit(ev, id, sch, tbl, r == RULES_NO, guard,
			   binary_what(ev->a, rules_fmt(ev->a, "Every text column of `%s`", tbl)),
			   "Convert the columns that must hold bytes one by one, through new "
			   "columns");
		return;
	}
	rules_emit(ev, id, sch, tbl, r == RULES_NO, guard,
		   rules_fmt(ev->a,
			     "CONVERT TO CHARACTER SET %s rewrites every text column of `%s`, a "
			     "table that %s rows, into a set that cannot hold every character: in "
			     "strict mode the statement fails after copying the table, outside it "
			     "each character %s lacks silently becomes '?'",
			     cs, tbl, r == RULES_YES ? "holds" : "may hold", cs),
		   rules_fmt(ev->a,
			     "Convert to utf8mb4, which holds every character, or convert the "
			     "columns one by one (MODIFY ... CHARACTER SET %s) so a live probe can "
			     "check each column's values",
			     cs));
}

static bool numeric_base(const char *base)
{
	static const char *const nums[] = {"tinyint", "smallint", "mediumint", "int",	"integer",
					   "bigint",  "decimal",  "numeric",   "float", "double",
					   "real",    "dec",	  "fixed"};
	for (size_t i = 0; base && i < sizeof(nums) / sizeof(nums[0]); i++)
		if (strcasecmp(base, nums[i]) == 0)
			return true;
	return false;
}

/*
 * A numeric column made UNSIGNED, or ZEROFILL (which implies UNSIGNED):
 * negative values are rejected in strict mode and silently become 0
 * outside it. Safe when the column already was unsigned or a probe finds
 * no value below 0.
 */
static void check_unsigned(struct rules_eval *ev, const char *sch, const char *tbl, const char *col,
			   const struct stmt_column *c)
{
	static const char id[] = "lossy-conversion";
	bool zerofill = type_has_word(c->type, "zerofill");
	if (!c->type || !numeric_base(c->type_base) ||
	    !(zerofill || type_has_word(c->type, "unsigned")))
		return;
	const char *old = NULL;
	struct rules_fact_answer ans;
	enum mig_col_state s = column_state(ev, NULL, sch, tbl, col, &old);
	if (s == MIG_COL_CREATED || s == MIG_COL_ALL_NULL)
		return;
	if (!old && ask_column(ev, FACT_COLUMN_TYPE, sch, tbl, col, NULL, &ans) == RULES_YES)
		old = arena_strndup(ev->a, ans.detail, strlen(ans.detail));
	if (old && (type_has_word(old, "unsigned") || type_has_word(old, "zerofill")))
		return;
	enum rules_answer r = ask_column(ev, FACT_NEGATIVES, sch, tbl, col, NULL, &ans);
	const char *guard = r == RULES_NO ? "probe: no negative value"
			    : r == RULES_YES
				? rules_fmt(ev->a, "probe: `%s` holds negative values", col)
				: guard_unknown(ev, &ans);
	rules_emit(ev, id, sch, tbl, r == RULES_NO, guard,
		   rules_fmt(ev->a,
			     "`%s`.`%s` becomes %s%s: negative values are rejected in strict mode "
			     "and silently become 0 outside it",
			     tbl, col, c->type, zerofill ? " (ZEROFILL implies UNSIGNED)" : ""),
		   "Fix or move the negative values first and let a live probe confirm none is "
		   "left, or keep the column signed (format with LPAD in queries instead of "
		   "ZEROFILL)");
}

/*
 * MODIFY / CHANGE that turns a stored column into a generated one: the
 * server throws the stored values away and computes the expression
 * instead. Safe when the column already was generated or holds no data.
 */
static void check_made_generated(struct rules_eval *ev, const char *sch, const char *tbl,
				 const char *col, const struct stmt_column *c)
{
	static const char id[] = "column-made-generated";
	if (!c->generated)
		return;
	const char *old;
	enum mig_col_state s = column_state(ev, NULL, sch, tbl, col, &old);
	if (s == MIG_COL_CREATED || s == MIG_COL_ALL_NULL || s == MIG_COL_COMPUTED)
		return; /* nothing stored yet, or added in this migration as generated */
	struct rules_fact_answer gans, dans;
	enum rules_answer g = ask_column(ev, FACT_COLUMN_GENERATED, sch, tbl, col, NULL, &gans);
	enum rules_answer d = ask_column(ev, FACT_COLUMN_DATA, sch, tbl, col, NULL, &dans);
	bool passed = g == RULES_YES || d == RULES_NO;
	const char *guard = g == RULES_YES  ? "probe: already a generated column"
			    : d == RULES_NO ? "probe: the column holds no data"
			    : d == RULES_YES
				? "probe: the column holds data"
				: guard_unknown(ev, g == RULES_UNKNOWN ? &gans : &dans);
	rules_emit(ev, id, sch, tbl, passed, guard,
		   rules_fmt(ev->a,
			     "`%s`.`%s` is redefined as a generated column: the values stored in "
			     "it are thrown away and replaced by the expression's",
			     tbl, col),
		   "Add the generated column under a new name, compare it with the stored "
		   "values, move readers, then drop the old column");
}

/* ALTER TABLE ... ENGINE=BLACKHOLE (stores nothing: every row is gone) or
 * MEMORY (rows live in RAM only: gone at the next restart). Safe on a
 * table that holds no rows. */
static void check_engine_change(struct rules_eval *ev, const char *sch, const char *tbl,
				const struct stmt_op *op)
{
	static const char id[] = "engine-change";
	if (!op->name || strcasecmp(op->name, "engine") != 0 || !op->value)
		return;
	bool blackhole = strcasecmp(op->value, "blackhole") == 0;
	bool memory = strcasecmp(op->value, "memory") == 0 || strcasecmp(op->value, "heap") == 0;
	if (!blackhole && !memory)
		return;
	struct rules_fact_answer ans;
	const char *guard;
	enum rules_answer r = has_rows(ev, sch, tbl, &ans, &guard);
	rules_emit(ev, id, sch, tbl, r == RULES_NO, guard,
		   blackhole ? rules_fmt(ev->a,
					 "ENGINE=BLACKHOLE on `%s` throws away %s rows: the "
					 "table keeps its definition and stores nothing",
					 tbl, r == RULES_YES ? "its" : "any")
			     : rules_fmt(ev->a,
					 "ENGINE=MEMORY on `%s` keeps %s rows in RAM only: they "
					 "are lost at the next restart, and the engine has no "
					 "transactions",
					 tbl, r == RULES_YES ? "its" : "any"),
		   "Copy the data elsewhere first, or create a new table with that engine and "
		   "move only what it may lose");
}

static void check_rename_column(struct rules_eval *ev, const char *sch, const char *tbl,
				const char *from, const char *to)
{
	rules_emit(ev, "rename-column", sch, tbl, false, NULL,
		   rules_fmt(ev->a,
			     "Column `%s`.`%s` is renamed to `%s`: running application code still "
			     "uses the old name and fails at once",
			     tbl, from, to ? to : "?"),
		   "Expand/contract instead: add the new column, write both, backfill, move "
		   "readers, drop the old one later; or lift it with /* ddlgate:allow "
		   "rename-column reason=\"...\" */ when no running code uses the column");
}

static void check_drop_column(struct rules_eval *ev, const struct stmt *st, const char *sch,
			      const char *tbl, const char *col)
{
	static const char id[] = "drop-column";
	const char *type;
	enum mig_col_state s = column_state(ev, NULL, sch, tbl, col, &type);
	if (s == MIG_COL_CREATED)
		return;
	const char *guard;
	bool passed = false;
	if (s != MIG_COL_UNKNOWN) {
		passed = true;
		guard = "column added in this migration";
	} else {
		struct stmt_key_part *kp = arena_alloc(ev->a, sizeof(*kp));
		kp->column = col;
		struct rules_fact_query q = query(FACT_COLUMN_DATA, sch, tbl);
		q.parts = kp;
		q.nparts = 1;
		struct rules_fact_answer ans;
		enum rules_answer r = ask(ev, &q, &ans);
		passed = r == RULES_NO;
		guard = r == RULES_NO	 ? "probe: the column holds no data"
			: r == RULES_YES ? "probe: the column holds data"
					 : guard_unknown(ev, &ans);
	}
	rules_emit(ev, id, sch, tbl, passed, guard,
		   rules_fmt(ev->a,
			     "DROP COLUMN `%s` on `%s` destroys its data for good, and running "
			     "code that still reads or writes it fails",
			     col, tbl),
		   "Stop using the column in the application first, back it up if needed, "
		   "then drop it with /* ddlgate:allow drop-column reason=\"...\" */");
}

static void check_inline_references(struct rules_eval *ev, const char *sch, const char *tbl,
				    const struct stmt_column *c)
{
	if (!c->inline_references)
		return;
	rules_emit(ev, "inline-references", sch, tbl, false, NULL,
		   rules_fmt(ev->a,
			     "Column `%s` of `%s` has an inline REFERENCES clause: MySQL "
			     "(and MariaDB before 10.5) parses and ignores it, so no foreign key "
			     "exists",
			     c->name, tbl),
		   rules_fmt(ev->a, "Declare it at table level: FOREIGN KEY (`%s`) REFERENCES ...",
			     c->name));
}

/* ---- table rules ------------------------------------------------------- */

/*
 * gh-ost's own bookkeeping tables, told by the comment gh-ost gives them:
 * the cut-over sentry _t_del (created empty, dropped while gh-ost holds
 * LOCK TABLES ... WRITE on it, so a row probe would wait for that lock and
 * fail the cut-over) and the changelog _t_ghc (gh-ost's heartbeat and
 * state). gh-ost creates and drops them on different pooled connections,
 * so migration memory may not know them. The comment is asked alone, first:
 * information_schema is not blocked by the lock. Returns YES for one of
 * them, NO when the table is not (ask for rows next), UNKNOWN when the
 * answer is pending (*pending) or unavailable.
 */
static enum rules_answer ghost_own_table(struct rules_eval *ev, const char *sch, const char *tbl,
					 bool *pending)
{
	static const struct {
		const char *suffix, *comment;
	} own[] = {{"_del", "ghost-cut-over-sentry"}, {"_ghc", "gh-ost changelog"}};
	*pending = false;
	size_t n = tbl ? strlen(tbl) : 0;
	if (!rules_is_shadow_table(tbl))
		return RULES_NO;
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (strcasecmp(tbl + n - 4, own[i].suffix) != 0)
			continue;
		struct rules_fact_answer ans;
		struct rules_fact_query q = query(FACT_TABLE_COMMENT, sch, tbl);
		enum rules_answer r = ask(ev, &q, &ans);
		*pending = ev->facts && ans.status == RULES_FACT_NOT_FETCHED;
		if (r == RULES_YES)
			return strcmp(ans.detail, own[i].comment) == 0 ? RULES_YES : RULES_NO;
		return r;
	}
	return RULES_NO;
}

/* Destructive statements on a whole table: drop-table and truncate-table. */
static void check_table_destroy(struct rules_eval *ev, const char *id, const char *verb,
				const struct stmt_name *n)
{
	const char *sch = rules_schema_of(ev, n);
	const char *tbl = n->name;
	if (ev->mig && tbl && rules_migration_table_swapped_out(ev->mig, sch, tbl)) {
		rules_emit(ev, id, sch, tbl, true,
			   "old copy of an online schema change swap in this migration", verb, "");
		return;
	}
	if (table_created(ev, sch, tbl)) {
		rules_emit(ev, id, sch, tbl, true, "table created in this migration", verb, "");
		return;
	}
	bool pending;
	enum rules_answer own = ghost_own_table(ev, sch, tbl, &pending);
	if (own == RULES_YES) {
		rules_emit(ev, id, sch, tbl, true,
			   "probe: gh-ost's own sentry or changelog table (its comment)", verb, "");
		return;
	}
	struct rules_fact_answer ans;
	const char *guard;
	enum rules_answer r = RULES_UNKNOWN;
	if (pending)
		guard = "probe pending"; /* rows next round, unless gh-ost's own */
	else
		r = has_rows(ev, sch, tbl, &ans, &guard);
	rules_emit(ev, id, sch, tbl, r == RULES_NO, guard,
		   rules_fmt(ev->a, "%s `%s` destroys %s rows for good", verb, tbl,
			     r == RULES_YES ? "its" : "any"),
		   rules_fmt(ev->a,
			     "Back the data up and make sure nothing uses the table, then run it "
			     "with /* ddlgate:allow %s reason=\"...\" */",
			     id));
}

/* swap: the pair is half of an online schema change cut-over (see
 * rules_rename_swap_role). */
static void check_rename_table(struct rules_eval *ev, const struct stmt_name *from,
			       const struct stmt_name *to, bool swap)
{
	static const char id[] = "rename-table";
	const char *sch = rules_schema_of(ev, from);
	if (swap) {
		rules_emit(ev, id, sch, from->name, true, "online schema change swap",
			   "RENAME TABLE", "");
		return;
	}
	if (table_created(ev, sch, from->name)) {
		rules_emit(ev, id, sch, from->name, true, "table created in this migration",
			   "RENAME TABLE", "");
		return;
	}
	rules_emit(ev, id, sch, from->name, false, NULL,
		   rules_fmt(ev->a,
			     "Table `%s` is renamed to `%s`: running application code still uses "
			     "the old name and fails at once",
			     from->name, to->name ? to->name : "?"),
		   "Expand/contract instead (new table or a view under the old name while code "
		   "moves), or lift it with /* ddlgate:allow rename-table reason=\"...\" */");
}

static bool has_primary(const struct stmt *st)
{
	for (size_t i = 0; i < st->ncolumns; i++)
		if (st->columns[i].inline_primary)
			return true;
	for (size_t i = 0; i < st->nops; i++)
		if (st->ops[i].kind == OP_ADD_PRIMARY)
			return true;
	return false;
}

static void check_create_table(struct rules_eval *ev, const struct stmt *st)
{
	if (st->nobjects < 1)
		return;
	const char *sch = rules_schema_of(ev, &st->objects[0]);
	const char *tbl = st->objects[0].name;
	if (st->or_replace && !st->temporary)
		check_table_destroy(ev, "drop-table", "CREATE OR REPLACE TABLE", &st->objects[0]);
	/* LIKE copies the source's keys; a temporary table is the session's own */
	if (!st->temporary && !st->like.name && !has_primary(st))
		rules_emit(ev, "missing-primary-key", sch, tbl, false, NULL,
			   rules_fmt(ev->a,
				     "CREATE TABLE `%s` has no primary key: InnoDB falls back to a "
				     "hidden row id, row-based replication must scan to find rows, "
				     "online schema change tools and Group Replication refuse it",
				     tbl),
			   "Declare a PRIMARY KEY (an AUTO_INCREMENT id or a natural key)");
	for (size_t i = 0; i < st->ncolumns; i++)
		check_inline_references(ev, sch, tbl, &st->columns[i]);
}

/* Operations that leave the table's rows where they are. */
static bool op_is_metadata(const struct stmt_op *op)
{
	switch (op->kind) {
	case OP_ALGORITHM:
	case OP_LOCK:
	case OP_RENAME_COLUMN:
	case OP_RENAME_INDEX:
	case OP_RENAME_TABLE:
	case OP_ALTER_COLUMN:
	case OP_DROP_INDEX:
	case OP_DROP_FOREIGN_KEY:
	case OP_DROP_CHECK:
	case OP_ALTER_INDEX:
		return true;
	case OP_TABLE_OPTION:
		return op->name && (strcasecmp(op->name, "comment") == 0 ||
				    strcasecmp(op->name, "auto_increment") == 0);
	default:
		return false;
	}
}

static bool rebuilds(const struct stmt *st)
{
	bool any = false;
	for (size_t i = 0; i < st->nops; i++) {
		const struct stmt_op *op = &st->ops[i];
		if (op->kind == OP_ALGORITHM && op->value && strcmp(op->value, "instant") == 0)
			return false;
		if (!op_is_metadata(op))
			any = true;
	}
	return any || st->verb == DDL_CREATE_INDEX;
}

static void check_large_table(struct rules_eval *ev, const struct stmt *st, const char *sch,
			      const char *tbl)
{
	static const char id[] = "large-table-ddl";
	if (!ev->facts || !ev->ctx->large_table_bytes || !rebuilds(st) || table_new(ev, sch, tbl) ||
	    rules_is_shadow_table(tbl))
		return;
	struct rules_fact_query q = query(FACT_LARGE_TABLE, sch, tbl);
	q.threshold = ev->ctx->large_table_bytes;
	struct rules_fact_answer ans;
	enum rules_answer r = ask(ev, &q, &ans);
	const char *guard =
	    r == RULES_UNKNOWN
		? guard_unknown(ev, &ans)
		: rules_fmt(ev->a, "probe: table is %" PRIu64 " bytes (limit %" PRIu64 ")",
			    ans.number, q.threshold);
	rules_emit(
	    ev, id, sch, tbl, r == RULES_NO, guard,
	    rules_fmt(ev->a,
		      "This statement rebuilds or scans `%s`, %s than large_table_bytes: "
		      "it runs long, holds metadata locks, fills disk and makes replicas lag",
		      tbl, r == RULES_YES ? "larger" : "possibly larger"),
	    "Run it with an online schema change tool (pt-online-schema-change, gh-ost), or "
	    "in a window with /* ddlgate:allow large-table-ddl reason=\"...\" */");
}

static void check_blocking(struct rules_eval *ev, const char *sch, const char *tbl,
			   const struct stmt_op *op)
{
	const char *v = op->value ? op->value : "";
	bool bad = (op->kind == OP_ALGORITHM && strcasecmp(v, "copy") == 0) ||
		   (op->kind == OP_LOCK &&
		    (strcasecmp(v, "shared") == 0 || strcasecmp(v, "exclusive") == 0));
	if (!bad || table_new(ev, sch, tbl) || rules_is_shadow_table(tbl))
		return;
	rules_emit(ev, "blocking-algorithm", sch, tbl, false, NULL,
		   rules_fmt(ev->a, "%s=%s on `%s` blocks %s for the whole statement",
			     op->kind == OP_ALGORITHM ? "ALGORITHM" : "LOCK", v, tbl,
			     strcasecmp(v, "exclusive") == 0 ? "reads and writes" : "writes"),
		   "Use ALGORITHM=INSTANT or INPLACE with LOCK=NONE where the server supports "
		   "it, or an online schema change tool");
}

static void check_add_fk(struct rules_eval *ev, const char *sch, const char *tbl,
			 const struct stmt_op *op)
{
	static const char id[] = "add-foreign-key";
	if (table_new(ev, sch, tbl)) {
		rules_emit(ev, id, sch, tbl, true, "new table in this migration", "ADD FOREIGN KEY",
			   "");
		return;
	}
	const char *what = rules_fmt(
	    ev->a,
	    "ADD FOREIGN KEY (%s) on `%s` referencing `%s`: the server checks "
	    "every row while it holds locks (MySQL copies the table when "
	    "foreign_key_checks=1), and orphan rows make it fail",
	    parts_text(ev->a, op->parts, op->nparts), tbl, op->ref.name ? op->ref.name : "?");
	const char *fix = "Check for orphans first (rows whose key has no parent), and add it "
			  "at a quiet time or with an online schema change tool";
	if (!op->ref.name || !op->ref_parts || op->nref_parts != op->nparts || !op->nparts) {
		rules_emit(ev, id, sch, tbl, false, "no orphan probe without referenced columns",
			   what, fix);
		return;
	}
	struct rules_fact_query q = query(FACT_ORPHANS, sch, tbl);
	q.parts = op->parts;
	q.nparts = op->nparts;
	q.ref.schema = rules_schema_of(ev, &op->ref);
	q.ref.name = op->ref.name;
	q.ref_parts = op->ref_parts;
	struct rules_fact_answer ans;
	enum rules_answer r = ask(ev, &q, &ans);
	const char *guard = r == RULES_NO    ? "probe: no orphan rows"
			    : r == RULES_YES ? rules_fmt(ev->a, "probe: orphan row %s", ans.detail)
					     : guard_unknown(ev, &ans);
	rules_emit(ev, id, sch, tbl, r == RULES_NO, guard, what, fix);
}

/* ALTER TABLE clauses that throw rows away: DROP / TRUNCATE PARTITION and
 * DISCARD TABLESPACE. Same guards as the whole-table rules. */
static void check_partition_loss(struct rules_eval *ev, const char *sch, const char *tbl,
				 const char *what)
{
	const char *id;
	if (strcasecmp(what, "drop partition") == 0 || strcasecmp(what, "discard tablespace") == 0)
		id = "drop-table";
	else if (strcasecmp(what, "truncate") == 0)
		id = "truncate-table";
	else
		return;
	struct rules_fact_answer ans;
	const char *guard;
	enum rules_answer r = has_rows(ev, sch, tbl, &ans, &guard);
	const char *verb = strcasecmp(what, "truncate") == 0	     ? "TRUNCATE PARTITION"
			   : strcasecmp(what, "drop partition") == 0 ? "DROP PARTITION"
								     : "DISCARD TABLESPACE";
	rules_emit(ev, id, sch, tbl, r == RULES_NO, guard,
		   rules_fmt(ev->a, "ALTER TABLE `%s` %s destroys %s rows for good", tbl, verb,
			     r == RULES_YES ? "its" : "any"),
		   rules_fmt(ev->a,
			     "Back the data up first, then run it with /* ddlgate:allow %s "
			     "reason=\"...\" */",
			     id));
}

static void check_alter(struct rules_eval *ev, const struct stmt *st)
{
	if (st->nobjects < 1 || !st->objects[0].name)
		return;
	const char *sch = rules_schema_of(ev, &st->objects[0]);
	const char *tbl = st->objects[0].name;
	bool isnew = table_new(ev, sch, tbl);
	/* renames break running code, not data: rows written since the CREATE
	 * do not matter, no code used the table before this migration */
	bool created = table_created(ev, sch, tbl);
	bool create_index = st->verb == DDL_CREATE_INDEX;
	for (size_t i = 0; i < st->nops; i++) {
		const struct stmt_op *op = &st->ops[i];
		const char *col = op->name ? op->name : op->column ? op->column->name : NULL;
		switch (op->kind) {
		case OP_ADD_COLUMN:
			if (op->column) {
				check_add_column(ev, st, sch, tbl, op->column);
				check_inline_references(ev, sch, tbl, op->column);
			}
			break;
		case OP_MODIFY_COLUMN:
		case OP_CHANGE_COLUMN:
			if (!op->column)
				break;
			if (!isnew)
				check_inline_references(ev, sch, tbl, op->column);
			if (!created && op->kind == OP_CHANGE_COLUMN && op->column->name && col &&
			    strcasecmp(op->column->name, col) != 0)
				check_rename_column(ev, sch, tbl, col, op->column->name);
			if (isnew)
				break;
			check_type_change(ev, sch, tbl, col, op->column);
			check_set_not_null(ev, st, sch, tbl, col, op->column);
			check_column_charset(ev, sch, tbl, col, op->column);
			check_unsigned(ev, sch, tbl, col, op->column);
			check_made_generated(ev, sch, tbl, col, op->column);
			if (op->column->inline_unique || op->column->inline_primary) {
				struct stmt_key_part *kp = arena_alloc(ev->a, sizeof(*kp));
				kp->column = col;
				check_unique(
				    ev, st, sch, tbl,
				    rules_fmt(
					ev->a, "%s `%s` %s",
					op->kind == OP_MODIFY_COLUMN ? "MODIFY" : "CHANGE", col,
					op->column->inline_primary ? "PRIMARY KEY" : "UNIQUE"),
				    kp, 1, op->column->inline_primary);
			}
			break;
		case OP_RENAME_COLUMN:
			if (!created)
				check_rename_column(ev, sch, tbl, op->name, op->new_name);
			break;
		case OP_DROP_COLUMN:
			if (!isnew && col)
				check_drop_column(ev, st, sch, tbl, col);
			break;
		case OP_ADD_UNIQUE:
		case OP_ADD_PRIMARY: {
			bool pk = op->kind == OP_ADD_PRIMARY;
			const char *name = create_index ? st->index_name : op->name;
			const char *label =
			    create_index
				? rules_fmt(ev->a, "CREATE UNIQUE INDEX `%s`", name ? name : "?")
			    : pk   ? "ADD PRIMARY KEY"
			    : name ? rules_fmt(ev->a, "ADD UNIQUE KEY `%s`", name)
				   : "ADD UNIQUE KEY";
			check_unique(ev, st, sch, tbl, label, op->parts, op->nparts, pk);
			break;
		}
		case OP_ADD_FOREIGN_KEY:
			check_add_fk(ev, sch, tbl, op);
			break;
		case OP_DROP_FOREIGN_KEY:
			if (!isnew)
				rules_emit(ev, "drop-foreign-key", sch, tbl, false, NULL,
					   rules_fmt(ev->a,
						     "DROP FOREIGN KEY `%s` on `%s`: the database "
						     "stops enforcing the relationship",
						     op->name ? op->name : "?", tbl),
					   "Make sure the application no longer relies on it, "
					   "then lift it with /* ddlgate:allow drop-foreign-key "
					   "reason=\"...\" */");
			break;
		case OP_RENAME_TABLE: {
			struct stmt_name from = {sch, tbl};
			check_rename_table(ev, &from, &op->ref, false);
			break;
		}
		case OP_ALGORITHM:
		case OP_LOCK:
			check_blocking(ev, sch, tbl, op);
			break;
		case OP_TABLE_OPTION:
			if (!isnew)
				check_engine_change(ev, sch, tbl, op);
			break;
		case OP_CONVERT_CHARSET:
			if (!isnew)
				check_convert_table(ev, sch, tbl, op);
			break;
		case OP_PARTITION:
		case OP_OTHER:
			if (!isnew && op->name)
				check_partition_loss(ev, sch, tbl, op->name);
			break;
		default:
			break;
		}
	}
	check_large_table(ev, st, sch, tbl);
}

/* DDL that waits for a metadata lock on an existing table. */
static bool takes_table_lock(const struct stmt *st)
{
	switch (st->verb) {
	case DDL_ALTER_TABLE:
	case DDL_DROP_TABLE:
	case DDL_RENAME_TABLE:
	case DDL_TRUNCATE_TABLE:
	case DDL_CREATE_INDEX:
	case DDL_DROP_INDEX:
	case DDL_CREATE_TRIGGER:
	case DDL_DROP_TRIGGER:
		return true;
	default:
		return false;
	}
}

static void check_lock_wait(struct rules_eval *ev, const struct stmt *st)
{
	const struct rules_ctx *c = ev->ctx;
	if (ev->inner || c->lock_wait_timeout < 0 || c->max_lock_wait_s <= 0 ||
	    c->lock_wait_timeout <= c->max_lock_wait_s || !takes_table_lock(st))
		return;
	bool trigger = st->verb == DDL_CREATE_TRIGGER || st->verb == DDL_DROP_TRIGGER;
	if (trigger && st->routine.name && strncasecmp(st->routine.name, "pt_osc_", 7) == 0)
		return; /* pt-online-schema-change's own triggers: it bounds its lock waits */
	if (st->verb == DDL_DROP_TRIGGER)
		goto fire; /* objects name the trigger, not its table */
	bool all_new = st->nobjects > 0;
	for (size_t i = 0; i < st->nobjects; i++)
		if (!table_new(ev, rules_schema_of(ev, &st->objects[i]), st->objects[i].name))
			all_new = false;
	if (all_new)
		return;
fire:;
	bool named = st->nobjects && st->verb != DDL_DROP_TRIGGER;
	const char *sch = named ? rules_schema_of(ev, &st->objects[0]) : c->schema;
	const char *tbl = named ? st->objects[0].name : NULL;
	rules_emit(ev, "unbounded-lock-wait", sch, tbl, false,
		   rules_fmt(ev->a, "lock_wait_timeout = %ld s", c->lock_wait_timeout),
		   rules_fmt(ev->a,
			     "The session's lock_wait_timeout is %ld s (limit %ld s): while this "
			     "DDL waits for a metadata lock behind a long transaction, every "
			     "query on the table queues behind it",
			     c->lock_wait_timeout, c->max_lock_wait_s),
		   rules_fmt(ev->a,
			     "Run SET SESSION lock_wait_timeout = %ld (or less) first, and retry "
			     "on timeout",
			     c->max_lock_wait_s));
}

/* ---- server-config-change --------------------------------------------- */

/*
 * SET GLOBAL (PERSIST, @@global.x) and INSTALL / UNINSTALL PLUGIN or
 * SONAME. Every global assignment fires, not a list of dangerous
 * variables: the server has hundreds, plugins add more, and a list would
 * fail open on the one it forgot (init_connect runs SQL on every new
 * connection, sql_mode and the character set defaults change how later
 * statements are read, default_storage_engine what new tables are, ...).
 * The safe place is a maintenance window; a routine body runs later, so
 * the window open now does not cover it.
 */
static void check_server_config(struct rules_eval *ev, const struct stmt *st)
{
	static const char id[] = "server-config-change";
	const char *what;
	if (st->verb == DDL_SET_GLOBAL) {
		const char *names = "";
		bool runs_sql = false;
		for (size_t i = 0; i < st->nsettings; i++) {
			names = rules_fmt(ev->a, "%s%s%s", names, i ? ", " : "", st->settings[i]);
			runs_sql |= strncmp(st->settings[i], "init_", 5) == 0;
		}
		what = rules_fmt(ev->a,
				 "SET GLOBAL %s changes the running server for every session, not "
				 "this one: %s",
				 names,
				 runs_sql ? "the server runs that SQL itself (for each new "
					    "connection or at start), where ddlgate never sees it"
					  : "how later statements are read, stored or run changes "
					    "under every application at once");
	} else {
		const char *kind = st->object_type ? st->object_type : "plugin";
		what = rules_fmt(
		    ev->a,
		    "%s %s%s%s%s changes the code the server runs (engines, functions, "
		    "authentication) for every session",
		    st->keyword ? st->keyword : "INSTALL",
		    strcmp(kind, "soname") == 0	     ? "SONAME"
		    : strcmp(kind, "component") == 0 ? "COMPONENT"
						     : "PLUGIN",
		    st->plugin ? " '" : "", st->plugin ? st->plugin : "", st->plugin ? "'" : "");
	}
	bool window = ev->ctx->window_open && !ev->inner;
	rules_emit(ev, id, ev->ctx->schema, NULL, window,
		   window ? "inside a maintenance window" : NULL, what,
		   "Change server configuration inside a maintenance window, reviewed like a "
		   "schema change (or in the server's option file), or lift it with "
		   "/* ddlgate:allow server-config-change reason=\"...\" */");
}

bool rules_is_shadow_table(const char *name)
{
	static const char *const suffix[] = {"_new", "_old", "_gho", "_ghc", "_del"};
	if (!name || name[0] != '_')
		return false;
	size_t n = strlen(name);
	if (n < 6)
		return false;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++)
		if (strcasecmp(name + n - 4, suffix[i]) == 0)
			return true;
	return false;
}

void rules_check_stmt(struct rules_eval *ev, const struct stmt *st)
{
	if (st->kind != STMT_DDL)
		return;
	if (st->unparsed || st->prepare_from_variable) {
		rules_emit(ev, RULES_ID_UNPARSEABLE, ev->ctx->schema, NULL, false, NULL,
			   st->prepare_from_variable
			       ? "PREPARE ... FROM a variable hides the statement's text, so "
				 "ddlgate cannot check it"
			       : rules_fmt(ev->a,
					   "ddlgate cannot fully understand this DDL (%s), so it "
					   "cannot check it",
					   st->error ? st->error : "unsupported syntax"),
			   "Write the statement in plain SQL ddlgate models, or apply it outside "
			   "the proxy after review");
		return;
	}
	switch (st->verb) {
	case DDL_CREATE_TABLE:
		check_create_table(ev, st);
		break;
	case DDL_ALTER_TABLE:
	case DDL_CREATE_INDEX:
	case DDL_DROP_INDEX:
		check_alter(ev, st);
		break;
	case DDL_DROP_TABLE:
		if (!st->temporary)
			for (size_t i = 0; i < st->nobjects; i++)
				check_table_destroy(ev, "drop-table", "DROP TABLE",
						    &st->objects[i]);
		break;
	case DDL_TRUNCATE_TABLE:
		for (size_t i = 0; i < st->nobjects; i++)
			check_table_destroy(ev, "truncate-table", "TRUNCATE TABLE",
					    &st->objects[i]);
		break;
	case DDL_RENAME_TABLE:
		for (size_t i = 0; i + 1 < st->nobjects; i += 2)
			check_rename_table(ev, &st->objects[i], &st->objects[i + 1],
					   rules_rename_swap_role(st, i / 2, ev->ctx->schema) !=
					       RULES_SWAP_NONE);
		break;
	case DDL_SET_GLOBAL:
	case DDL_PLUGIN:
		check_server_config(ev, st);
		break;
	case DDL_DROP_DATABASE: {
		if (st->nobjects < 1 || !st->objects[0].name)
			break;
		const char *db = st->objects[0].name;
		struct rules_fact_query q = query(FACT_SCHEMA_TABLES, "", db);
		struct rules_fact_answer ans;
		enum rules_answer r = ask(ev, &q, &ans);
		const char *guard = r == RULES_NO ? "probe: the schema holds no table"
				    : r == RULES_YES
					? rules_fmt(ev->a, "probe: %" PRIu64 " tables", ans.number)
					: guard_unknown(ev, &ans);
		rules_emit(
		    ev, "drop-database", db, NULL, r == RULES_NO, guard,
		    rules_fmt(ev->a, "DROP DATABASE `%s` destroys every table in it for good", db),
		    "Back it up and make sure nothing uses it, then run it with "
		    "/* ddlgate:allow drop-database reason=\"...\" */");
		break;
	}
	default:
		break;
	}
	check_lock_wait(ev, st);
}
