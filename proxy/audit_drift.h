/*
 * Drift watch: schema changes the server made that ddlgate did not forward.
 *
 * A thread of its own looks at information_schema every [audit]
 * drift_interval_s over a side connection with the [guard] account
 * (schemas, tables and views with their columns and indexes, routines,
 * triggers, events, and the grants the account can read), keeps a digest
 * of each object and compares it with the previous look. A change that no
 * forwarded statement explains becomes an audit record of kind "drift", a
 * log line and ddlgate_audit_drift_total.
 *
 *   policy, for every DDL or account statement it forwarded:
 *     audit_drift_note(schema, name)       (thread-safe, cheap; a no-op
 *                                           while no watch is running)
 *
 *   serve.c:  d = audit_drift_start(cfg, audit, err, errlen);   NULL + "" = off
 *             audit_drift_stop(d);
 *
 * A note explains a change of the named object seen in the look after it
 * or the one after that (the DDL's answer may come back after the server
 * already shows the change), so an unexplained change is reported one look
 * late. Limits (docs/audit.md): the interval is the granularity, a change
 * made and undone between two looks is missed, objects the account cannot
 * see are not watched, and the baseline is the first look after start-up.
 *
 * The pure part (building a snapshot from rows, comparing two, matching
 * notes) is public for the unit tests.
 */
#ifndef DDLGATE_PROXY_AUDIT_DRIFT_H
#define DDLGATE_PROXY_AUDIT_DRIFT_H

#include <stdbool.h>
#include <stddef.h>

#include "config/cfg.h"

struct audit;
struct audit_drift;

/*
 * Starts the watch when [audit] drift_interval_s > 0 and the log a is open
 * (a may be NULL: no log, no watch) and the [guard] user is set (without
 * one the watch is off, said on stderr: it is on by default). Returns the
 * watch, or NULL with err "" when it is off, or NULL with err set when it
 * cannot start. Copies what it needs from cfg; borrows a until
 * audit_drift_stop(), which must come before audit_close(a).
 */
struct audit_drift *audit_drift_start(const struct cfg *cfg, struct audit *a, char *err,
				      size_t errlen) __attribute__((warn_unused_result));
/* Stops and joins the thread (a look in progress finishes first, bounded by
 * the connection's timeouts) and frees d. NULL is a no-op. */
void audit_drift_stop(struct audit_drift *d);

/*
 * A forwarded statement changed (or may have changed) schema.name: a table,
 * view, routine, trigger or event name; name NULL = the schema itself and
 * everything in it (CREATE/DROP DATABASE); schema NULL and name NULL = the
 * statement's objects are unknown (account changes, text ddlgate could not
 * parse): it explains every change of the looks it covers.
 */
void audit_drift_note(const char *schema, const char *name);

/* ---- the pure part ---- */

enum audit_drift_type {
	AUDIT_DRIFT_SCHEMA,
	AUDIT_DRIFT_TABLE, /* also views */
	AUDIT_DRIFT_ROUTINE,
	AUDIT_DRIFT_TRIGGER,
	AUDIT_DRIFT_EVENT,
	AUDIT_DRIFT_GRANT, /* name is the grantee, schema "" */
	AUDIT_DRIFT_NTYPES
};

/* What part of an object a row describes; "altered" names the parts. */
enum audit_drift_part {
	AUDIT_DRIFT_DEFINITION,
	AUDIT_DRIFT_COLUMNS,
	AUDIT_DRIFT_INDEXES,
	AUDIT_DRIFT_NPARTS
};

/* One row of a look. The strings are borrowed until the snapshot is built. */
struct audit_drift_row {
	enum audit_drift_type type;
	enum audit_drift_part part;
	const char *schema, *name;
	const char *table; /* triggers: the table they belong to; else NULL */
	const char *text;  /* the row's values, in a fixed order */
	size_t order;	   /* position in the look: rows of one part keep it */
};

struct audit_drift_snap;

/* Builds a snapshot from n rows (reordered in place). Owned by the caller. */
struct audit_drift_snap *audit_drift_snap_build(struct audit_drift_row *rows, size_t n);
void audit_drift_snap_free(struct audit_drift_snap *s);
size_t audit_drift_snap_count(const struct audit_drift_snap *s);

struct audit_drift_change {
	enum audit_drift_type type;
	const char *schema, *name; /* borrowed from a snapshot */
	const char *table;	   /* triggers; else NULL */
	const char *change;	   /* "created" | "dropped" | "altered" */
	/* what changed, "" for created and dropped: "definition changed",
	 * "columns +b -c ~a" (added, dropped, changed), "indexes reordered",
	 * "privileges changed", joined by "; ", cut with "…" */
	char detail[160];
};

/* Calls fn for every object that differs between old and neu, in order.
 * Returns how many did. */
typedef void (*audit_drift_change_fn)(void *arg, const struct audit_drift_change *c);
size_t audit_drift_compare(const struct audit_drift_snap *old, const struct audit_drift_snap *neu,
			   audit_drift_change_fn fn, void *arg);

/* A note as audit_drift_note() takes it (NULL = any). */
struct audit_drift_mark {
	const char *schema, *name;
};
/* Whether one of the n marks explains c (names compared without case). */
bool audit_drift_explained(const struct audit_drift_mark *marks, size_t n,
			   const struct audit_drift_change *c);

/* "table", "routine", ... for records and log lines. */
const char *audit_drift_type_name(enum audit_drift_type t);

#endif
