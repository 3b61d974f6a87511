/* Table-driven tests of stmt_objects(): a statement's objects, its inner statements' included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "rules/arena.h"
#include "rules/parse.h"
#include "rules/stmt_objects.h"

/* Objects render as "schema.name" (schema "-" when unqualified), a
 * trailing "!" marking a schema named by a database verb, joined by ' '. */
static const struct {
	const char *sql;
	const char *want;
} cases[] = {
    {"ALTER TABLE t ADD COLUMN c INT", "-.t"},
    {"ALTER TABLE s.t ADD COLUMN c INT", "s.t"},
    {"RENAME TABLE a TO b", "-.a -.b"},
    {"EXECUTE IMMEDIATE 'ALTER TABLE inner_t ADD COLUMN c INT'", "-.inner_t"},
    {"PREPARE st FROM 'DROP TABLE s.gone'", "s.gone"},
    {"CREATE PROCEDURE p() BEGIN ALTER TABLE t1 ADD c INT; DROP TABLE t2; END", "-.p -.t1 -.t2"},
    {"CREATE DATABASE d", "-.d!"},
    {"SELECT 1", ""},
    /* the one table a single-table write writes (the audit's objects) */
    {"INSERT INTO t (a) VALUES (1)", "-.t"},
    {"INSERT LOW_PRIORITY IGNORE s.t VALUES (1)", "s.t"},
    {"insert into `my db`.`ord``ers` select * from src", "my db.ord`ers"},
    {"REPLACE INTO t SET a = 1", "-.t"},
    {"INSERT INTO t PARTITION (p0) VALUES (1) ON DUPLICATE KEY UPDATE a = 2", "-.t"},
    {"UPDATE t SET a = 1 WHERE id = 2", "-.t"},
    {"UPDATE LOW_PRIORITY IGNORE s.t AS x SET x.a = 1", "s.t"},
    {"UPDATE t x SET x.a = 1", "-.t"},
    {"DELETE FROM s.t WHERE id = 1", "s.t"},
    {"DELETE QUICK IGNORE FROM t ORDER BY id LIMIT 3", "-.t"},
    {"DELETE /* why */ FROM t", "-.t"},
    /* several tables, or none written: no single target */
    {"UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = t2.a", ""},
    {"UPDATE t1, t2 SET t1.a = t2.a", ""},
    {"DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", ""},
    {"DELETE FROM t1, t2 USING t1 JOIN t2", ""},
    {"DELETE FROM t1 USING t1 JOIN t2", ""},
    {"WITH c AS (SELECT 1) SELECT * FROM c", ""},
    {"SELECT * FROM t", ""},
    {"CALL p()", ""},
    {"INSERT", ""},
};

static void test_stmt_objects_table(void **state)
{
	struct arena a;
	int failed = 0;

	arena_init(&a, 4096);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stmt st;
		struct stmt_obj objs[16];
		char got[512] = "";
		size_t o = 0;

		stmt_parse(&a, cases[i].sql, strlen(cases[i].sql), 0, &st);
		size_t n = stmt_objects(&st, objs, 16);
		for (size_t k = 0; k < n && o < sizeof(got); k++)
			o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s.%s%s", k ? " " : "",
					      objs[k].schema ? objs[k].schema : "-", objs[k].name,
					      objs[k].is_schema ? "!" : "");
		if (strcmp(got, cases[i].want) != 0) {
			printf("%s\n  want: %s\n  got:  %s\n", cases[i].sql, cases[i].want, got);
			failed++;
		}
		arena_reset(&a);
	}
	arena_cleanup(&a);
	assert_int_equal(failed, 0);
}

/* A full output array stops the listing without overrunning it. */
static void test_stmt_objects_max(void **state)
{
	struct arena a;
	struct stmt st;
	struct stmt_obj objs[1];
	const char *sql = "RENAME TABLE a TO b, c TO d";

	arena_init(&a, 4096);
	stmt_parse(&a, sql, strlen(sql), 0, &st);
	assert_int_equal(stmt_objects(&st, objs, 1), 1);
	assert_int_equal(stmt_objects(&st, objs, 0), 0);
	arena_cleanup(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stmt_objects_table),
	    cmocka_unit_test(test_stmt_objects_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
