/* Table-driven tests of the DDL parser and canonical printer (data/parse.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rules/lex.h"
#include "rules/parse.h"
#include "rules/print.h"
#include "rules_testdata.h"

static void test_parse_table(void **state)
{
	struct tcases t = td_load("parse.txt");
	int failed = 0;
	struct arena a;
	arena_init(&a, 0);
	assert_true(t.n > 0);
	for (size_t i = 0; i < t.n; i++) {
		const struct tcase *c = &t.v[i];
		struct stmt s;
		unsigned flags = (td_has_opt(c, "ansi") ? LEX_ANSI_QUOTES : 0) |
				 (td_has_opt(c, "nbe") ? LEX_NO_BACKSLASH_ESCAPES : 0);
		stmt_parse(&a, c->sql, strlen(c->sql), flags, &s);
		const char *got = stmt_print(&a, &s);
		/* unparsed DDL must say why */
		if (s.unparsed && !s.error)
			got = "UNPARSED-WITHOUT-ERROR";
		if (strcmp(got, c->want) != 0) {
			printf("parse.txt:%u: %s\n  want: %s\n  got:  %s\n", c->line, c->sql,
			       c->want, got);
			failed++;
		}
		arena_reset(&a);
	}
	arena_cleanup(&a);
	printf("parse: %zu cases, %d failed\n", t.n, failed);
	td_free(&t);
	assert_int_equal(failed, 0);
}

/* The model behind the printed form: a few fields the printer does not show. */
static void test_parse_model(void **state)
{
	struct arena a;
	arena_init(&a, 0);
	struct stmt s;
	const char *sql =
	    "ALTER TABLE `shop`.`a``b` ADD COLUMN `email` VARCHAR(191) NOT NULL DEFAULT '', "
	    "ADD UNIQUE KEY `uk` (`email`(10) DESC), ALGORITHM=INPLACE";
	stmt_parse(&a, sql, strlen(sql), 0, &s);
	assert_int_equal(s.kind, STMT_DDL);
	assert_int_equal(s.verb, DDL_ALTER_TABLE);
	assert_string_equal(s.keyword, "ALTER");
	assert_false(s.unparsed);
	assert_int_equal(s.nobjects, 1);
	assert_string_equal(s.objects[0].schema, "shop");
	assert_string_equal(s.objects[0].name, "a`b");
	assert_int_equal(s.nops, 3);
	assert_int_equal(s.ops[0].kind, OP_ADD_COLUMN);
	assert_string_equal(s.ops[0].column->type_base, "varchar");
	assert_true(s.ops[0].column->not_null);
	assert_true(s.ops[0].column->has_default);
	assert_false(s.ops[0].column->default_null);
	assert_int_equal(s.ops[1].kind, OP_ADD_UNIQUE);
	assert_string_equal(s.ops[1].name, "uk");
	assert_int_equal(s.ops[1].nparts, 1);
	assert_int_equal(s.ops[1].parts[0].prefix, 10);
	assert_true(s.ops[1].parts[0].desc);
	assert_int_equal(s.ops[2].kind, OP_ALGORITHM);
	assert_string_equal(s.ops[2].value, "inplace");

	sql = "PREPARE s FROM @q";
	stmt_parse(&a, sql, strlen(sql), 0, &s);
	assert_int_equal(s.kind, STMT_DDL);
	assert_int_equal(s.verb, DDL_PREPARE);
	assert_true(s.prepare_from_variable);

	sql =
	    "CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN ALTER TABLE u ADD c INT; END";
	stmt_parse(&a, sql, strlen(sql), 0, &s);
	assert_int_equal(s.verb, DDL_CREATE_TRIGGER);
	assert_string_equal(s.objects[0].name, "t");
	assert_string_equal(s.routine.name, "trg");
	assert_int_equal(s.ninner, 1);
	assert_true(s.body_has_ddl);
	assert_int_equal(s.inner[0].verb, DDL_ALTER_TABLE);
	arena_cleanup(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_parse_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
