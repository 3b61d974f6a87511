/* Unit tests for proxy/audit_drift.c's pure part: snapshots, their comparison, and notes that
 * explain a change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/audit_drift.h"

#define T AUDIT_DRIFT_TABLE
#define DEF AUDIT_DRIFT_DEFINITION
#define COLS AUDIT_DRIFT_COLUMNS
#define IDX AUDIT_DRIFT_INDEXES
#define US "\x1f" /* between the values of a row */

/* Two looks and the changes expected between them, "type schema.name change detail" each. */
struct compare_case {
	const char *what;
	struct audit_drift_row old[6], neu[6]; /* end at the first row with no name */
	const char *want[4];
};

static const struct compare_case compare_cases[] = {
    {"same rows, other order: nothing",
     {{T, DEF, "s", "a", NULL, "BASE TABLE", 0}, {T, COLS, "s", "a", NULL, "id int", 0}},
     {{T, COLS, "s", "a", NULL, "id int", 0}, {T, DEF, "s", "a", NULL, "BASE TABLE", 0}},
     {NULL}},
    {"table created and dropped",
     {{T, DEF, "s", "a", NULL, "x", 0}},
     {{T, DEF, "s", "b", NULL, "x", 0}},
     {"table s.a dropped ", "table s.b created "}},
    {"column added",
     {{T, DEF, "s", "a", NULL, "x", 0}, {T, COLS, "s", "a", NULL, "id", 0}},
     {{T, DEF, "s", "a", NULL, "x", 0},
      {T, COLS, "s", "a", NULL, "id", 0},
      {T, COLS, "s", "a", NULL, "b", 1}},
     {"table s.a altered columns +b"}},
    {"column order matters",
     {{T, COLS, "s", "a", NULL, "id", 0}, {T, COLS, "s", "a", NULL, "b", 1}},
     {{T, COLS, "s", "a", NULL, "b", 0}, {T, COLS, "s", "a", NULL, "id", 1}},
     {"table s.a altered columns reordered"}},
    {"column changed, one dropped",
     {{T, COLS, "s", "a", NULL, "id" US "int", 0}, {T, COLS, "s", "a", NULL, "b" US "int", 1}},
     {{T, COLS, "s", "a", NULL, "id" US "bigint", 0}},
     {"table s.a altered columns ~id -b"}},
    {"index of two rows gets a column",
     {{T, IDX, "s", "a", NULL, "k" US "1" US "a", 0},
      {T, IDX, "s", "a", NULL, "PRIMARY" US "1" US "id", 1}},
     {{T, IDX, "s", "a", NULL, "k" US "1" US "a", 0},
      {T, IDX, "s", "a", NULL, "k" US "2" US "b", 1},
      {T, IDX, "s", "a", NULL, "PRIMARY" US "1" US "id", 2}},
     {"table s.a altered indexes ~k"}},
    {"a long detail is cut",
     {{T, COLS, "s", "a", NULL, "id", 0}},
     {{T, COLS, "s", "a", NULL, "a_column_with_a_rather_long_name_number_1", 0},
      {T, COLS, "s", "a", NULL, "a_column_with_a_rather_long_name_number_2", 1},
      {T, COLS, "s", "a", NULL, "a_column_with_a_rather_long_name_number_3", 2},
      {T, COLS, "s", "a", NULL, "a_column_with_a_rather_long_name_number_4", 3}},
     {"table s.a altered columns +a_column_with_a_rather_long_name_number_1 "
      "+a_column_with_a_rather_long_name_number_2 "
      "+a_column_with_a_rather_long_name_number_3\xe2\x80\xa6"}},
    {"index and definition",
     {{T, DEF, "s", "a", NULL, "InnoDB", 0}},
     {{T, DEF, "s", "a", NULL, "Aria", 0}, {T, IDX, "s", "a", NULL, "PRIMARY" US "1" US "id", 0}},
     {"table s.a altered definition changed; indexes +PRIMARY"}},
    {"values cannot run together",
     {{T, COLS, "s", "a", NULL, "ab", 0}, {T, COLS, "s", "a", NULL, "c", 1}},
     {{T, COLS, "s", "a", NULL, "a", 0}, {T, COLS, "s", "a", NULL, "bc", 1}},
     {"table s.a altered columns +a +bc -ab -c"}},
    {"same name, other type: two objects",
     {{AUDIT_DRIFT_EVENT, DEF, "s", "a", NULL, "x", 0}},
     {{AUDIT_DRIFT_TRIGGER, DEF, "s", "a", "t", "x", 0}},
     {"trigger s.a created ", "event s.a dropped "}},
    {"grant changed",
     {{AUDIT_DRIFT_GRANT, DEF, "", "'u'@'%'", NULL, "SELECT", 0}},
     {{AUDIT_DRIFT_GRANT, DEF, "", "'u'@'%'", NULL, "INSERT", 0}},
     {"grant .'u'@'%' altered privileges changed"}},
    {"dropped with its columns: no detail",
     {{T, DEF, "s", "a", NULL, "x", 0}, {T, COLS, "s", "a", NULL, "id", 0}},
     {{T, DEF, "s", "b", NULL, "x", 0}, {T, COLS, "s", "b", NULL, "id", 0}},
     {"table s.a dropped ", "table s.b created "}},
};

static size_t nrows(const struct audit_drift_row *r)
{
	size_t n = 0;
	while (n < 6 && r[n].name)
		n++;
	return n;
}

struct seen {
	char lines[8][300];
	size_t n;
};

static void collect(void *arg, const struct audit_drift_change *c)
{
	struct seen *s = arg;
	assert_true(s->n < 8);
	snprintf(s->lines[s->n++], sizeof s->lines[0], "%s %s.%s %s %s",
		 audit_drift_type_name(c->type), c->schema, c->name, c->change, c->detail);
}

static void test_compare(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof compare_cases / sizeof compare_cases[0]; i++) {
		const struct compare_case *tc = &compare_cases[i];
		struct audit_drift_row old[6], neu[6];
		memcpy(old, tc->old, sizeof old);
		memcpy(neu, tc->neu, sizeof neu);
		struct audit_drift_snap *a = audit_drift_snap_build(old, nrows(old));
		struct audit_drift_snap *b = audit_drift_snap_build(neu, nrows(neu));
		struct seen s = {0};
		size_t n = audit_drift_compare(a, b, collect, &s);
		size_t want = 0;
		while (want < 4 && tc->want[want])
			want++;
		if (n != want)
			fail_msg("%s: %zu changes, want %zu (first: %s)", tc->what, n, want,
				 n ? s.lines[0] : "-");
		/* the compare walks types in enum order: check as a set */
		for (size_t k = 0; k < want; k++) {
			bool found = false;
			for (size_t j = 0; j < n; j++)
				found |= strcmp(s.lines[j], tc->want[k]) == 0;
			if (!found)
				fail_msg("%s: no \"%s\" (first: %s)", tc->what, tc->want[k],
					 n ? s.lines[0] : "-");
		}
		audit_drift_snap_free(a);
		audit_drift_snap_free(b);
	}
}

/* Marks and whether they explain one change. */
static const struct {
	const char *what;
	struct audit_drift_mark marks[3];
	size_t nmarks;
	struct audit_drift_change c;
	bool want;
} explain_cases[] = {
    {"same table", {{"s", "a"}}, 1, {T, "s", "a", NULL, "created", ""}, true},
    {"case differs", {{"S", "A"}}, 1, {T, "s", "a", NULL, "created", ""}, true},
    {"other table", {{"s", "b"}}, 1, {T, "s", "a", NULL, "created", ""}, false},
    {"other schema", {{"t", "a"}}, 1, {T, "s", "a", NULL, "created", ""}, false},
    {"schema-wide note", {{"s", NULL}}, 1, {T, "s", "a", NULL, "dropped", ""}, true},
    {"schema object by schema note",
     {{"s", NULL}},
     1,
     {AUDIT_DRIFT_SCHEMA, "s", "", NULL, "created", ""},
     true},
    {"schema object not by a table note",
     {{"s", "a"}},
     1,
     {AUDIT_DRIFT_SCHEMA, "s", "", NULL, "created", ""},
     false},
    {"trigger by its table",
     {{"s", "a"}},
     1,
     {AUDIT_DRIFT_TRIGGER, "s", "trg", "a", "created", ""},
     true},
    {"unknown schema", {{NULL, "a"}}, 1, {T, "s", "a", NULL, "altered", ""}, true},
    {"unknown objects explain all", {{NULL, NULL}}, 1, {T, "s", "a", NULL, "altered", ""}, true},
    {"grant not by a table",
     {{"s", "a"}},
     1,
     {AUDIT_DRIFT_GRANT, "", "'u'@'%'", NULL, "altered", ""},
     false},
    {"grant by an account statement",
     {{"s", "a"}, {NULL, NULL}},
     2,
     {AUDIT_DRIFT_GRANT, "", "'u'@'%'", NULL, "altered", ""},
     true},
    {"no notes", {{0}}, 0, {T, "s", "a", NULL, "created", ""}, false},
};

static void test_explained(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof explain_cases / sizeof explain_cases[0]; i++) {
		bool got = audit_drift_explained(explain_cases[i].marks, explain_cases[i].nmarks,
						 &explain_cases[i].c);
		if (got != explain_cases[i].want)
			fail_msg("%s: got %d", explain_cases[i].what, got);
	}
}

static void test_empty_snapshots(void **state)
{
	(void)state;
	struct audit_drift_snap *a = audit_drift_snap_build(NULL, 0);
	struct audit_drift_row r[] = {{T, DEF, "s", "a", NULL, "x", 0},
				      {T, COLS, "s", "a", NULL, "id", 1}};
	struct audit_drift_snap *b = audit_drift_snap_build(r, 2);
	assert_int_equal(audit_drift_snap_count(a), 0);
	assert_int_equal(audit_drift_snap_count(b), 1);
	assert_int_equal(audit_drift_compare(a, a, NULL, NULL), 0);
	assert_int_equal(audit_drift_compare(a, b, NULL, NULL), 1);
	assert_int_equal(audit_drift_compare(b, a, NULL, NULL), 1);
	audit_drift_snap_free(a);
	audit_drift_snap_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compare),
	    cmocka_unit_test(test_explained),
	    cmocka_unit_test(test_empty_snapshots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
