/* Table-driven tests of the name pattern matcher (data/rules_pattern.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "rules/pattern.h"

/* Trims s in place; returns its first non-space character. */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

static void test_pattern_table(void **state)
{
	(void)state;
	FILE *f = fopen("rules_pattern.txt", "r");
	assert_non_null(f);
	char buf[512];
	int lineno = 0, cases = 0, failed = 0;
	while (fgets(buf, sizeof(buf), f)) {
		lineno++;
		char *s = trim(buf);
		if (!*s || *s == '#')
			continue;
		size_t vlen = strcspn(s, " |");
		unsigned flags = 0;
		if (vlen > 3 && strncmp(s, "cs-", 3) == 0) { /* case-sensitive mode */
			flags = RULES_PATTERN_CASE;
			s += 3;
			vlen -= 3;
		}
		bool want = vlen == 3 && strncmp(s, "yes", 3) == 0;
		if (!want && !(vlen == 2 && strncmp(s, "no", 2) == 0))
			fail_msg("rules_pattern.txt:%d: verdict is [cs-]yes or [cs-]no", lineno);
		char *bar = strchr(s + vlen, '|');
		if (!bar)
			fail_msg("rules_pattern.txt:%d: no '|' between pattern and name", lineno);
		*bar = '\0';
		const char *pattern = trim(s + vlen), *name = trim(bar + 1);
		cases++;
		if (rules_pattern_match_flags(pattern, name, flags) != want) {
			print_error("rules_pattern.txt:%d: \"%s\" %s \"%s\"\n", lineno, pattern,
				    want ? "should match" : "should not match", name);
			failed++;
		}
	}
	fclose(f);
	assert_true(cases > 0);
	assert_int_equal(failed, 0);
}

/* A list matches when one pattern does; an empty list matches nothing. */
static void test_pattern_list(void **state)
{
	(void)state;
	struct rules_patterns l = {.items = {"deploy*", "flyway"}, .n = 2};
	struct rules_patterns empty = {.n = 0};
	assert_true(rules_patterns_match(&l, "DEPLOY_bot"));
	assert_true(rules_patterns_match(&l, "flyway"));
	assert_false(rules_patterns_match(&l, "app"));
	assert_false(rules_patterns_match(&empty, "app"));
	/* account names: the case must match as well */
	assert_false(rules_patterns_match_flags(&l, "DEPLOY_bot", RULES_PATTERN_CASE));
	assert_true(rules_patterns_match_flags(&l, "deploy_bot", RULES_PATTERN_CASE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pattern_table),
	    cmocka_unit_test(test_pattern_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
