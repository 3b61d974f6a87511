/*
 * Statement model: what the inspector knows about one SQL statement.
 *
 * The parser (rules/parse.c) fills a struct stmt from one statement's text;
 * the rule engine (rules/engine.c), the proxy's policy glue and the audit
 * log read it. Every string and array in the model lives in the arena the
 * caller passed to the parser and dies with it; the model never points into
 * heap memory it owns. Identifier strings are unquoted and NUL-terminated
 * (`a``b` becomes a`b); case is kept as written.
 */
#ifndef DDLGATE_RULES_STMT_H
#define DDLGATE_RULES_STMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/arena.h"

enum stmt_kind {
	STMT_OTHER = 0, /* SHOW, SET, USE, DO, HANDLER, EXPLAIN, ... */
	STMT_DDL,	/* changes the schema */
	STMT_DML,	/* SELECT, INSERT, UPDATE, DELETE, REPLACE, CALL, LOAD */
	STMT_DCL,	/* GRANT, REVOKE, CREATE/ALTER/DROP USER, SET PASSWORD */
	STMT_TCL,	/* BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, LOCK TABLES */
	STMT_EMPTY,	/* only whitespace and comments */
};

enum ddl_verb {
	DDL_NONE = 0,
	DDL_CREATE_TABLE, /* also CREATE OR REPLACE, ... LIKE, ... SELECT */
	DDL_ALTER_TABLE,
	DDL_DROP_TABLE,
	DDL_RENAME_TABLE,
	DDL_TRUNCATE_TABLE,
	DDL_CREATE_INDEX,
	DDL_DROP_INDEX,
	DDL_CREATE_DATABASE,
	DDL_ALTER_DATABASE,
	DDL_DROP_DATABASE,
	DDL_CREATE_VIEW,
	DDL_DROP_VIEW,
	DDL_CREATE_ROUTINE, /* PROCEDURE / FUNCTION; body scanned for DDL */
	DDL_DROP_ROUTINE,
	DDL_CREATE_TRIGGER,
	DDL_DROP_TRIGGER,
	DDL_CREATE_EVENT,
	DDL_ALTER_EVENT,
	DDL_DROP_EVENT,
	DDL_PREPARE,	/* SQL-level PREPARE name FROM '...' or FROM @var */
	DDL_SET_GLOBAL, /* SET GLOBAL / PERSIST / @@global.x: server configuration (settings) */
	DDL_PLUGIN,	/* INSTALL / UNINSTALL PLUGIN or SONAME (keyword says which; plugin) */
	DDL_OTHER,	/* recognised DDL with nothing rules care about (CREATE SEQUENCE, ...) */
};

/* A possibly schema-qualified object name. schema is NULL when absent. */
struct stmt_name {
	const char *schema;
	const char *name;
};

/* One column definition (CREATE TABLE, ADD / MODIFY / CHANGE COLUMN). */
struct stmt_column {
	const char *name;
	const char *type; /* normalised: lower case, no spaces: "varchar(191)", "int unsigned" */
	const char *type_base; /* "varchar", "int", "enum", ... */
	bool not_null;	       /* NOT NULL written */
	bool null_written;     /* NULL written explicitly */
	bool has_default;      /* DEFAULT written (any value) */
	bool default_null;     /* DEFAULT NULL */
	bool auto_increment;
	bool generated;		/* GENERATED ALWAYS AS / AS (...) */
	bool inline_primary;	/* PRIMARY KEY on the column */
	bool inline_unique;	/* UNIQUE [KEY] on the column */
	bool inline_references; /* REFERENCES on the column: MySQL ignores it */
	/* additions (parser): */
	const char *default_value; /* DEFAULT as written, normalised ("null", "0", "'x'",
				      "current_timestamp", "(expr)"); NULL when absent */
	const char *charset; /* CHARACTER SET written on the column, lower case; NULL when absent */
	const char *collate; /* COLLATE written on the column, lower case; NULL when absent */
	bool inline_check;   /* CHECK (...) on the column */
	bool on_update;	     /* ON UPDATE CURRENT_TIMESTAMP */
	const char *after;   /* ALTER ... AFTER col; NULL when absent */
	bool first;	     /* ALTER ... FIRST */
};

enum stmt_op_kind {
	OP_ADD_COLUMN,
	OP_DROP_COLUMN,
	OP_MODIFY_COLUMN,
	OP_CHANGE_COLUMN, /* name -> new_name with a full definition */
	OP_RENAME_COLUMN,
	OP_ALTER_COLUMN, /* SET/DROP DEFAULT, SET VISIBLE, ... */
	OP_ADD_INDEX,	 /* plain KEY / INDEX */
	OP_ADD_UNIQUE,
	OP_ADD_PRIMARY,
	OP_ADD_FOREIGN_KEY,
	OP_ADD_FULLTEXT,
	OP_ADD_SPATIAL,
	OP_ADD_CHECK,
	OP_DROP_INDEX,
	OP_DROP_PRIMARY,
	OP_DROP_FOREIGN_KEY,
	OP_DROP_CHECK, /* also DROP CONSTRAINT */
	OP_RENAME_INDEX,
	OP_ALTER_INDEX,	 /* VISIBLE / INVISIBLE / IGNORED */
	OP_RENAME_TABLE, /* ALTER TABLE t RENAME [TO|AS] u; target in ref */
	OP_ALGORITHM,	 /* value: "copy", "inplace", "instant", "nocopy", "default" */
	OP_LOCK,	 /* value: "none", "shared", "exclusive", "default" */
	OP_TABLE_OPTION, /* ENGINE=, COMMENT=, AUTO_INCREMENT=, ...: name is the option, value its
			    text */
	OP_CONVERT_CHARSET,
	OP_FORCE,     /* FORCE / ENGINE= same engine: a rebuild */
	OP_PARTITION, /* any partition clause */
	OP_OTHER,     /* ORDER BY, ENABLE KEYS, ...: name says which */
};

/* One column of an index: prefix is 0 when the whole column is indexed. */
struct stmt_key_part {
	const char *column; /* NULL for a functional key part */
	uint32_t prefix;
	bool desc;
};

struct stmt_op {
	enum stmt_op_kind kind;
	const char *name;	     /* column, index or constraint name; NULL if unnamed */
	const char *new_name;	     /* CHANGE / RENAME COLUMN / RENAME INDEX */
	struct stmt_column *column;  /* ADD / MODIFY / CHANGE COLUMN */
	struct stmt_key_part *parts; /* ADD INDEX / UNIQUE / PRIMARY / FOREIGN KEY columns */
	size_t nparts;
	struct stmt_name ref; /* FOREIGN KEY ... REFERENCES ref; RENAME TO ref */
	const char *value;    /* ALGORITHM / LOCK / table option value, lower case */
	bool if_exists;
	bool if_not_exists;
	/* additions (parser): */
	struct stmt_key_part *ref_parts; /* FOREIGN KEY ... REFERENCES t (ref_parts) */
	size_t nref_parts;
	const char *
	    on_delete; /* FOREIGN KEY actions, lower case ("cascade", "set null"); NULL if absent */
	const char *on_update;
	bool drop_default; /* ALTER COLUMN x DROP DEFAULT (value holds a SET DEFAULT) */
};

/*
 * One statement. kind is always set; the DDL fields are filled for
 * kind == STMT_DDL. When the parser cannot model a DDL statement fully it
 * sets unparsed and error (the rule engine turns that into unparseable-ddl:
 * fail closed).
 */
struct stmt {
	enum stmt_kind kind;
	const char *keyword; /* first keyword, upper case ("ALTER", "SELECT") */
	enum ddl_verb verb;

	struct stmt_name *objects; /* targets; RENAME TABLE: from0, to0, from1, to1, ... */
	size_t nobjects;
	bool if_exists;
	bool if_not_exists;
	bool or_replace;
	bool temporary;
	bool alter_ignore; /* ALTER IGNORE TABLE: rows that break a new unique key are
			    * deleted instead of failing the statement */

	struct stmt_column *columns; /* CREATE TABLE columns */
	size_t ncolumns;
	struct stmt_op *ops; /* ALTER operations; CREATE TABLE keys and constraints as ADD_* */
	size_t nops;

	struct stmt_name like;	/* CREATE TABLE ... LIKE like (name NULL if absent) */
	bool as_select;		/* CREATE TABLE ... [AS] SELECT */
	const char *index_name; /* CREATE / DROP INDEX */

	/* CREATE PROCEDURE / FUNCTION / TRIGGER / EVENT bodies, PREPARE FROM '...': the
	 * DDL statements found inside, parsed. */
	struct stmt *inner;
	size_t ninner;
	bool prepare_from_variable; /* PREPARE s FROM @v: content unknown */

	bool unparsed;	   /* DDL the parser could not model */
	const char *error; /* why, for the message; NULL when parsed */

	/* additions (parser): */
	const char *object_type;  /* lower case: "table", "index", "view", "procedure", "function",
				   * "trigger", "event", "database", "sequence", ... */
	struct stmt_name routine; /* CREATE/DROP TRIGGER, PROCEDURE, FUNCTION, EVENT: its name
				   * (CREATE TRIGGER's table is objects[0]) */
	const char *prepare_name; /* PREPARE name FROM ... */
	const char *prepare_text; /* PREPARE name FROM 'literal', EXECUTE IMMEDIATE 'literal':
				   * the literal's text, unquoted (what runs); NULL for @var */
	bool body_has_ddl;	  /* a stored program / compound / PREPARE holds DDL (see inner) */
	const char **settings;	  /* DDL_SET_GLOBAL: the global variables assigned, lower case */
	size_t nsettings;
	const char *plugin; /* DDL_PLUGIN: plugin name or library (object_type "plugin"
			     * or "soname") */
};

#endif
