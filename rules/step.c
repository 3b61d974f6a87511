/* Step-wise judging: does an earlier statement of a script write rows a later guard reads. */
#include <string.h>
#include <strings.h>

#include "rules/classify.h"
#include "rules/migration_signal.h"
#include "rules/sqlscan.h"
#include "rules/step.h"

struct step_match {
	const struct step_table *reads;
	size_t nr;
	const char *schema; /* the write's current schema; NULL = none */
	bool named;	    /* the write named a table at all */
};

static bool step_name_eq(const char *a, const char *b)
{
	return strcasecmp(a ? a : "", b ? b : "") == 0;
}

static bool step_table_fn(const char *schema, const char *table, void *arg)
{
	struct step_match *m = arg;
	m->named = true;
	const char *sch = schema && schema[0] ? schema : m->schema;
	for (size_t i = 0; i < m->nr; i++)
		if (step_name_eq(table, m->reads[i].table) && step_name_eq(sch, m->reads[i].schema))
			return true;
	return false;
}

/* Whether statement w may write rows of one of reads. */
static bool step_writes(const struct step_stmt *w, const struct step_table *reads, size_t nr)
{
	unsigned mode = w->mode;
	struct classify_info ci;
	if (classify_sql_mode(w->sql, w->len, mode, &ci) != STMT_DML || !ci.keyword ||
	    !sqlscan_is_write_kw(ci.keyword, ci.keyword_len))
		return false;
	if (sqlscan_kw(ci.keyword, ci.keyword_len, "CALL") ||
	    sqlscan_kw(ci.keyword, ci.keyword_len, "LOAD"))
		return true; /* a procedure may write any table; LOAD's target is not followed */
	struct step_match m = {reads, nr, w->schema, false};
	if (migration_scan_tables(w->sql, w->len, mode, step_table_fn, &m))
		return true;
	return !m.named; /* rows went somewhere ddlgate cannot name */
}

bool step_writes_any(const struct step_stmt *w, size_t nw, const struct step_table *reads,
		     size_t nr)
{
	for (size_t i = 0; i < nw; i++)
		if (step_writes(&w[i], reads, nr))
			return true;
	return false;
}
