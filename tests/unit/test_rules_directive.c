/* Directive parsing tests: ddlgate: comments, table-driven from engine_directives.txt. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/arena.h"
#include "rules/directive.h"

/* "a,b" for the directive's allow list. */
static void allow_list(const struct rules_directives *d, char *buf, size_t n)
{
	buf[0] = '\0';
	for (size_t i = 0; i < d->nallow; i++) {
		size_t k = strlen(buf);
		snprintf(buf + k, n - k, "%s%s", i ? "," : "", d->allow[i]);
	}
}

/* Checks one "key=value" expectation (value runs to the next " key=" or the end). */
static bool check_key(const struct rules_directives *d, bool found, const char *key,
		      const char *val, char *got, size_t n)
{
	if (strcmp(key, "found") == 0)
		snprintf(got, n, "%s", found ? "yes" : "no");
	else if (strcmp(key, "allow") == 0)
		allow_list(d, got, n);
	else if (strcmp(key, "reason") == 0)
		snprintf(got, n, "%s", d->reason ? d->reason : "");
	else if (strcmp(key, "migration") == 0)
		snprintf(got, n, "%s", d->migration ? "yes" : "no");
	else if (strcmp(key, "end") == 0)
		snprintf(got, n, "%s", d->migration_end ? "yes" : "no");
	else if (strcmp(key, "name") == 0)
		snprintf(got, n, "%s", d->migration_name ? d->migration_name : "");
	else if (strcmp(key, "error") == 0)
		snprintf(got, n, "%s", d->error ? "yes" : "no");
	else
		fail_msg("unknown key %s", key);
	return strcmp(got, val) == 0;
}

static void test_directive_table(void **state)
{
	(void)state;
	FILE *f = fopen("engine_directives.txt", "r");
	assert_non_null(f);
	char line[2048];
	int lineno = 0, failures = 0, cases = 0;
	struct arena a;
	arena_init(&a, 1024);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *arrow = strstr(line, " => ");
		assert_non_null(arrow);
		*arrow = '\0';
		for (char *p = line; (p = strstr(p, "\\n")); p++) {
			p[0] = ' ';
			p[1] = '\n';
		}
		struct rules_directives d;
		bool found = directive_scan(&a, line, strlen(line), 0, &d);
		cases++;
		/* walk "k=v k=v with spaces k=v" */
		char *s = arrow + 4;
		while (*s) {
			char *eq = strchr(s, '=');
			assert_non_null(eq);
			*eq = '\0';
			char *key = s, *val = eq + 1, *next = val;
			for (;;) {
				next = strchr(next, ' ');
				if (!next)
					break;
				char *e2 = strchr(next + 1, '=');
				char *sp2 = strchr(next + 1, ' ');
				if (e2 && (!sp2 || e2 < sp2))
					break;
				next++;
			}
			if (next)
				*next++ = '\0';
			char got[256];
			if (!check_key(&d, found, key, val, got, sizeof(got))) {
				print_error("engine_directives.txt:%d: %s: want [%s] got [%s]\n",
					    lineno, key, val, got);
				failures++;
			}
			s = next ? next : s + strlen(s);
		}
	}
	fclose(f);
	arena_cleanup(&a);
	assert_true(cases > 10);
	assert_int_equal(failures, 0);
}

static void test_fixed_rules(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 1024);
	struct rules_directives d;
	const char *sql = "/* ddlgate:allow migration-conflict,ddl-outside-window,unparseable-ddl,"
			  "drop-table */ DROP TABLE t";
	assert_true(directive_scan(&a, sql, strlen(sql), 0, &d));
	assert_int_equal(d.nallow, 4);
	assert_false(directive_allows(&d, "migration-conflict"));
	assert_false(directive_allows(&d, "ddl-outside-window"));
	assert_false(directive_allows(&d, "unparseable-ddl"));
	assert_true(directive_allows(&d, "drop-table"));
	assert_false(directive_allows(&d, "drop-column"));
	assert_true(directive_rule_is_fixed("migration-conflict"));
	assert_false(directive_rule_is_fixed("drop-column"));
	arena_cleanup(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_directive_table),
	    cmocka_unit_test(test_fixed_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
