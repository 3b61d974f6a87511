/*
 * Canonical printer: one s-expression per statement, for tests and logs.
 *
 * The grammar (kept stable; tests compare it):
 *
 *   stmt    := (dml KW) | (dcl KW) | (tcl KW) | (other KW) | (empty)
 *            | (unparsed KW "error")              DDL the parser could not model
 *            | (VERB FLAG... ARG... ELEM... INNER...)
 *   FLAG    := temporary | or-replace | if-not-exists | if-exists   (in this order)
 *   name    := ident | schema.ident   (backticked when not [A-Za-z0-9_$]+)
 *   parts   := (part ...), part := col | col(prefix) | <expr>, then " desc" if DESC
 *
 *   (create-table FLAG... name COLUMN... KEY... [(like name)] [(as-select)])
 *     COLUMN := (column name TYPE ATTR...)
 *     ATTR   := not-null | null | default VALUE | auto-increment | on-update | generated
 *             | primary-key | unique | references | check | charset X | collate X
 *             | first | after COL
 *     KEY    := (primary-key [name] parts) | (unique [name] parts) | (index [name] parts)
 *             | (fulltext [name] parts) | (spatial [name] parts) | (check [name])
 *             | (foreign-key [name] parts REF parts [on-delete A] [on-update A])
 *             | (option NAME VALUE) | (partition NAME) | (other NAME)
 *   (alter-table FLAG... name OP...)
 *     OP := (add-column [if-not-exists] name TYPE ATTR...) | (drop-column [if-exists] name)
 *         | (modify-column name TYPE ATTR...) | (change-column old new TYPE ATTR...)
 *         | (rename-column old new) | (alter-column name set-default V | drop-default | V)
 *         | (add-index ...) | (add-unique ...) | (add-primary ...) | (add-foreign-key ...)
 *         | (add-fulltext ...) | (add-spatial ...) | (add-check [name])   (bodies as KEY)
 *         | (drop-index name) | (drop-primary) | (drop-foreign-key name) | (drop-check name)
 *         | (rename-index old new) | (alter-index name V) | (rename-to name)
 *         | (algorithm V) | (lock V) | (option NAME VALUE) | (convert-charset CS [COLLATION])
 *         | (force) | (partition NAME) | (other NAME)
 *   (drop-table FLAG... name...)
 *   (rename-table from to from to ...)
 *   (truncate-table name)
 *   (create[-unique|-fulltext|-spatial]-index FLAG... idx table parts OP...)
 *   (drop-index FLAG... idx table OP...)
 *   (create-database FLAG... name OP...) (alter-database ...) (drop-database ...)
 *   (create-view FLAG... name) (alter-view name) (drop-view FLAG... name...)
 *   (create-procedure|create-function|create-package FLAG... name INNER...)
 *   (create-trigger FLAG... trigger table INNER...)
 *   (create-event FLAG... name INNER...) (alter-event name INNER...)
 *   (drop-procedure|drop-function|drop-trigger|drop-event|drop-package FLAG... name)
 *   (prepare name INNER) | (prepare name from-variable)
 *   (execute-immediate INNER) | (execute-immediate from-variable)
 *   other recognised DDL: (KW-OBJECTTYPE FLAG... name... INNER...), e.g.
 *   (create-sequence s), (optimize-table a b), (begin-compound INNER...)
 *   INNER := a nested stmt (DDL found in a body or a prepared text)
 *
 * Fixed words and phrases print with '-' for spaces (set-null,
 * data-directory). Values as written (defaults, option values) print raw
 * when they hold no whitespace, double quote or backslash, else in double
 * quotes with '"' and '\' escaped.
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
