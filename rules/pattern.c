/* Name patterns ('*', '?', '#', '\'): the matcher for scopes and name lists. */
#include "rules/pattern.h"

#include <ctype.h>

/*
 * Backtracking match: '*' and '#' try every length, longest digit run
 * first. Patterns are short configuration strings and names are
 * identifiers, so the worst case stays small.
 */
bool rules_pattern_match_flags(const char *pattern, const char *name, unsigned flags)
{
	const char *p = pattern, *s = name;

	for (; *p; p++, s++) {
		switch (*p) {
		case '*':
			while (p[1] == '*')
				p++;
			if (!p[1])
				return true;
			for (; *s; s++)
				if (rules_pattern_match_flags(p + 1, s, flags))
					return true;
			return rules_pattern_match_flags(p + 1, s, flags);
		case '?':
			if (!*s)
				return false;
			break;
		case '#': {
			if (!isdigit((unsigned char)*s))
				return false;
			const char *end = s + 1;
			while (isdigit((unsigned char)*end))
				end++;
			for (; end > s; end--)
				if (rules_pattern_match_flags(p + 1, end, flags))
					return true;
			return false;
		}
		case '\\':
			if (p[1])
				p++;
			/* fall through */
		default:
			if (flags & RULES_PATTERN_CASE
				? *p != *s
				: tolower((unsigned char)*p) != tolower((unsigned char)*s))
				return false;
		}
	}
	return *s == '\0';
}

bool rules_pattern_match(const char *pattern, const char *name)
{
	return rules_pattern_match_flags(pattern, name, 0);
}

bool rules_patterns_match_flags(const struct rules_patterns *l, const char *name, unsigned flags)
{
	for (size_t i = 0; i < l->n; i++)
		if (rules_pattern_match_flags(l->items[i], name, flags))
			return true;
	return false;
}

bool rules_patterns_match(const struct rules_patterns *l, const char *name)
{
	return rules_patterns_match_flags(l, name, 0);
}
