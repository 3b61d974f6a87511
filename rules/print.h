/*
 * Canonical printer: one s-expression per statement, for tests and logs.
 * Grammar documented in rules/print.c's header comment (kept stable).
 */
#ifndef DDLGATE_RULES_PRINT_H
#define DDLGATE_RULES_PRINT_H

#include "rules/arena.h"
#include "rules/stmt.h"

/* Canonical form, e.g.
 * (alter-table shop.users (add-column email varchar(191) null) (add-unique (email)))
 * The string lives in a. */
const char *stmt_print(struct arena *a, const struct stmt *s);

#endif
