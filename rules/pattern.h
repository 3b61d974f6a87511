/*
 * Name patterns: the one matcher behind every list of users, schemas,
 * tables and lock names, whether a [rule] scope or a [migration] list.
 *
 * Syntax: '*' matches any run of characters (empty included), '?' exactly
 * one character, '#' a run of one or more decimal digits (Rails and
 * golang-migrate take GET_LOCK with a decimal number as the name), and
 * '\' makes the next character literal. Every other character matches
 * itself, ignoring ASCII case by default (schema, table and lock names in
 * the configurations people write); with RULES_PATTERN_CASE it must match
 * exactly, as the server compares account names ('MIGRATOR' is another
 * account than 'migrator').
 */
#ifndef DDLGATE_RULES_PATTERN_H
#define DDLGATE_RULES_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#define RULES_PATTERNS_MAX 32

/* A list of patterns. Whoever fills it owns the strings (the config
 * loader: cfg_free; the rule engine: its own copies). */
struct rules_patterns {
	char *items[RULES_PATTERNS_MAX];
	size_t n;
};

/* Flags of rules_pattern_match_flags(). */
enum {
	RULES_PATTERN_CASE = 1u << 0, /* literal characters match case-sensitively */
};

/* True when the whole of name matches pattern, ASCII case ignored. */
bool rules_pattern_match(const char *pattern, const char *name);
/* The same matcher with flags (RULES_PATTERN_*); 0 = rules_pattern_match(). */
bool rules_pattern_match_flags(const char *pattern, const char *name, unsigned flags);

/* True when name matches one of l's patterns; an empty list matches
 * nothing (a scope that treats "empty" as "everything" says so itself). */
bool rules_patterns_match(const struct rules_patterns *l, const char *name);
bool rules_patterns_match_flags(const struct rules_patterns *l, const char *name, unsigned flags);

#endif
