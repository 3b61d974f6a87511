/*
 * The objects a parsed statement touches, its inner statements' included
 * (EXECUTE IMMEDIATE '<ddl>', PREPARE s FROM '<ddl>', routine bodies): the
 * one listing both the migration-conflict check and the audit record use,
 * so they never disagree about what a statement changes.
 *
 * Pure; the names are borrowed from the statement (its arena).
 */
#ifndef DDLGATE_RULES_STMT_OBJECTS_H
#define DDLGATE_RULES_STMT_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/stmt.h"

struct stmt_obj {
	const char *schema; /* borrowed; NULL = unqualified (the session's schema) */
	const char *name;   /* borrowed: a table, or a schema when is_schema */
	bool is_schema;	    /* named by CREATE / ALTER / DROP DATABASE */
};

/* Fills out with up to max objects of st, its own first, then those of its
 * inner statements in order. Returns how many it filled. */
size_t stmt_objects(const struct stmt *st, struct stmt_obj *out, size_t max);

#endif
