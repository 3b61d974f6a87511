/*
 * Probe SQL: the read-only SELECTs that answer the rule engine's facts.
 *
 * Pure string building and result interpretation, no I/O: whoever runs
 * the probe (the proxy's guard worker, `ddlgate check --dsn`) sends the
 * text built here on a side connection and hands the first row back to
 * probe_sql_answer(). Identifiers are backtick-quoted with backticks
 * doubled; names compared with information_schema are sent as hex
 * literals, so no sql_mode changes how they read.
 */
#ifndef DDLGATE_RULES_PROBE_SQL_H
#define DDLGATE_RULES_PROBE_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/engine.h"

/*
 * Writes the probe for q into buf (n bytes, NUL-terminated). timeout_ms > 0
 * adds a MAX_EXECUTION_TIME optimizer hint (MySQL; MariaDB ignores it, the
 * client's read timeout bounds it there). Returns false when the text does
 * not fit or q cannot be probed (a functional key part).
 */
bool probe_sql_build(const struct rules_fact_query *q, long timeout_ms, char *buf, size_t n)
    __attribute__((warn_unused_result));

/*
 * Turns the probe's result into an answer: row holds the first row's
 * ncols values (NULL for SQL NULL) and lens their lengths, or row is NULL
 * when the result was empty. Sets out->status to RULES_FACT_OK, or
 * RULES_FACT_FAILED when the result makes no sense.
 */
void probe_sql_answer(const struct rules_fact_query *q, const char *const *row,
		      const unsigned long *lens, unsigned ncols, struct rules_fact_answer *out);

/* What stands for each data value in a masked answer. */
#define PROBE_SQL_MASK "'<masked>'"

/*
 * probe_sql_answer() for data-protection rules ([guard] sample_values =
 * mask): with mask set, the data values an answer would quote (a duplicate
 * key, an orphan row) are each PROBE_SQL_MASK; how many there are, NULLs
 * and counts stay.
 */
void probe_sql_answer_mask(const struct rules_fact_query *q, const char *const *row,
			   const unsigned long *lens, unsigned ncols, bool mask,
			   struct rules_fact_answer *out);

/* Quotes id as `id` (backticks doubled) into buf; false when it does not fit. */
bool probe_sql_quote_ident(const char *id, char *buf, size_t n);

#endif
