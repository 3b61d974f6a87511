/*
 * Migration signals: what one statement says about its session being a
 * migration runner. GET_LOCK / RELEASE_LOCK of a name, the knex or
 * Liquibase lock-table update, the ddlgate:migration directive.
 *
 * Pure text scanning: no I/O, no allocation, no state. Whether a signal
 * makes the session a migration session depends on the server's answer
 * (did GET_LOCK return 1?) and on [migration] lock_names; that belongs
 * to the proxy (proxy/migration.h), which keeps the per-session state.
 */
#ifndef DDLGATE_RULES_MIGRATION_SIGNAL_H
#define DDLGATE_RULES_MIGRATION_SIGNAL_H

#include <stdbool.h>
#include <stddef.h>

#define MIGRATION_NAME_MAX 128
#define MIGRATION_TOOL_MAX 32

enum migration_signal_kind {
	MIG_SIG_NONE,
	MIG_SIG_GET_LOCK,	  /* SELECT GET_LOCK('name', t): decided by the value returned */
	MIG_SIG_RELEASE_LOCK,	  /* SELECT RELEASE_LOCK('name') */
	MIG_SIG_RELEASE_ALL,	  /* SELECT RELEASE_ALL_LOCKS() */
	MIG_SIG_LOCK_TABLE_SET,	  /* UPDATE knex_migrations_lock / DATABASECHANGELOGLOCK ... = 1 */
	MIG_SIG_LOCK_TABLE_CLEAR, /* the same set back to 0 */
	MIG_SIG_DIRECTIVE,	  /* ddlgate:migration name="..." */
	MIG_SIG_DIRECTIVE_END,	  /* ddlgate:migration end */
	MIG_SIG_HISTORY,	  /* reads or writes a migration-history table */
	MIG_SIG_WORKSPACE,	  /* creates a tool's workspace schema (skeema's _skeema_tmp) */
};

struct migration_signal {
	enum migration_signal_kind kind;
	char name[MIGRATION_NAME_MAX]; /* lock name, lock table, or directive name */
	char tool[MIGRATION_TOOL_MAX]; /* "knex", "liquibase", "prisma", ... when known */
};

/*
 * Cheap test for the hot path: could sql carry a migration signal at all?
 * Looks for "lock" or "ddlgate:" without allocating; false means skip
 * migration_scan().
 */
bool migration_maybe_signal(const char *sql, size_t len);

/*
 * Reads one statement and fills out. Returns false (out->kind MIG_SIG_NONE)
 * when the statement carries no migration signal. Only literal lock names
 * are understood here: GET_LOCK(?, ...) is migration_scan_bound()'s.
 */
bool migration_scan(const char *sql, size_t len, struct migration_signal *out);

/*
 * A lock call whose name is a parameter: SELECT / DO GET_LOCK(?, ...) or
 * RELEASE_LOCK(?) as golang-migrate and Atlas prepare it. Fills out->kind
 * (name and tool empty) and *param, the index (from 0) of the placeholder
 * that carries the name; the name is known at execute
 * (migration_signal_name()). False for anything else, literal names
 * included (migration_scan() reads those).
 */
bool migration_scan_bound(const char *sql, size_t len, struct migration_signal *out,
			  unsigned *param);

/* Sets the name of a lock signal (and the tool it belongs to). */
void migration_signal_name(struct migration_signal *sig, const char *name);

/*
 * The one table a write statement adds rows to: INSERT / REPLACE [INTO]
 * [schema.]table ..., UPDATE [schema.]table [[AS] alias] SET ... Fills
 * schema ("" when not written) and table, unquoted. False when the
 * statement is no such write, or names its target in a way ddlgate does
 * not follow (a multi-table UPDATE, WITH, a name too long for the
 * buffers): the caller then cannot attribute the rows. mode: lex flags
 * (ANSI_QUOTES: "x" is a name).
 */
bool migration_write_target(const char *sql, size_t len, unsigned mode, char *schema, size_t slen,
			    char *table, size_t tlen);

/*
 * Calls fn(schema, table, arg) for each table the statement names after
 * FROM, JOIN, INTO, UPDATE or TABLE (and each of a comma list after FROM
 * or UPDATE); schema is "" when not written. Stops at the first fn that
 * returns true and returns true then. Names inside subqueries count too.
 */
bool migration_scan_tables(const char *sql, size_t len, unsigned mode,
			   bool (*fn)(const char *schema, const char *table, void *arg), void *arg);

struct rules_patterns;

/*
 * Does the statement name one of tables (a [migration] history_tables
 * list) after FROM, JOIN, INTO, UPDATE or TABLE? Then fills out as
 * MIG_SIG_HISTORY with the table's name and its tool. A cheap byte scan
 * for each pattern's literal prefix runs first, so most statements are
 * not lexed.
 */
bool migration_scan_history(const char *sql, size_t len, unsigned mode,
			    const struct rules_patterns *tables, struct migration_signal *out);

/* The tool a lock name or lock table belongs to ("prisma", "flyway", ...), or "".
 * Tools that share a name are listed with '/' ("db-migrate/typeorm"). */
const char *migration_tool_for(const char *name);

/*
 * A later signal of the same session refines its tool: tool (cap bytes)
 * becomes the tools both '/'-lists name ("rails/golang-migrate/dbmate"
 * and "rails/dbmate" give "rails/dbmate"). When they name none in common
 * (or tool is "user", "directive" ...), the earlier tool stands. An empty
 * tool takes more. Returns true when tool changed.
 */
bool migration_tool_merge(char *tool, size_t cap, const char *more);

/*
 * The client's driver (program_name or _client_name of its handshake)
 * rules out tools that never use it: the Go driver is golang-migrate's
 * or dbmate's, mysql2 (Node) db-migrate's or TypeORM's, libmysqlclient or
 * libmariadb (the mysql2 gem) Rails'. Narrows tool as
 * migration_tool_merge() does; true when it changed.
 */
bool migration_tool_by_program(char *tool, size_t cap, const char *program);

#endif
