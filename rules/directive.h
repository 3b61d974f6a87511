/*
 * ddlgate directives: instructions written in SQL comments.
 *
 *   / * ddlgate:allow unique-unguarded,drop-column reason="backfilled" * /
 *   -- ddlgate:allow drop-column reason="column unused since v42"
 *   / * ddlgate:migration name="20240101_add_email" * /
 *   / * ddlgate:migration end * /          (also ddlgate:migration-end)
 *
 * They are read from comment tokens only (the lexer's LEX_COMMENT), never
 * from string literals, in the statement's text (a comment just before a
 * statement belongs to it, see rules/split.h). An allow directive lifts
 * the named rules for that one statement; migration-conflict,
 * ddl-outside-window and unparseable-ddl cannot be lifted.
 */
#ifndef DDLGATE_RULES_DIRECTIVE_H
#define DDLGATE_RULES_DIRECTIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/arena.h"

#define DIRECTIVE_MAX_ALLOW 16

/* Everything the statement's comments said. Strings live in the arena
 * given to directive_scan(). */
struct rules_directives {
	const char *allow[DIRECTIVE_MAX_ALLOW]; /* rule ids, as written */
	size_t nallow;
	const char *reason;	    /* reason="..." of an allow directive; NULL if none */
	bool migration;		    /* a ddlgate:migration directive was seen */
	bool migration_end;	    /* ddlgate:migration end (or -end): the migration is over */
	const char *migration_name; /* its name="..." (NULL if not given) */
	const char *error;	    /* first malformed directive, for logs; NULL if none */
};

/*
 * Scans sql[0..len) (lexed with lex_flags, e.g. LEX_ANSI_QUOTES) for
 * ddlgate: comments and fills d (cleared first). Unknown directive verbs
 * and syntax errors are recorded in d->error and otherwise ignored.
 * Returns true when at least one directive was found.
 */
bool directive_scan(struct arena *a, const char *sql, size_t len, unsigned lex_flags,
		    struct rules_directives *d);

/*
 * Parses one comment's text (with its markers: "/ * .. * /", "-- ..", "# ..")
 * into d without clearing it. Returns true when it was a ddlgate directive.
 */
bool directive_parse_comment(struct arena *a, const char *text, size_t n,
			     struct rules_directives *d);

/* True when d lifts rule id (false for rules that cannot be lifted). */
bool directive_allows(const struct rules_directives *d, const char *id);

/* True for rules no directive can lift. */
bool directive_rule_is_fixed(const char *id);

#endif
