/* Table-driven tests of the migration signal scanner (data/rules_migration_signal.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "rules/migration_signal.h"

static const char *const kind_names[] = {
    [MIG_SIG_NONE] = "NONE",
    [MIG_SIG_GET_LOCK] = "GET_LOCK",
    [MIG_SIG_RELEASE_LOCK] = "RELEASE_LOCK",
    [MIG_SIG_RELEASE_ALL] = "RELEASE_ALL",
    [MIG_SIG_LOCK_TABLE_SET] = "TABLE_SET",
    [MIG_SIG_LOCK_TABLE_CLEAR] = "TABLE_CLEAR",
    [MIG_SIG_DIRECTIVE] = "DIRECTIVE",
    [MIG_SIG_DIRECTIVE_END] = "DIRECTIVE_END",
};

/* Each line: SQL <TAB> kind <TAB> name ("-" = not checked). The prefilter
 * must let through every statement the scanner finds a signal in. */
static void test_scan(void **state)
{
	(void)state;
	FILE *f = fopen("rules_migration_signal.txt", "r");
	char line[1024];
	int lineno = 0, cases = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\r\n")] = 0;
		char *sql = strtok(line, "\t"), *kind = strtok(NULL, "\t"),
		     *name = strtok(NULL, "\t");
		if (!sql || !kind || !name)
			fail_msg("line %d: want SQL, kind and name separated by tabs", lineno);
		struct migration_signal sig;
		bool maybe = migration_maybe_signal(sql, strlen(sql));
		bool found = migration_scan(sql, strlen(sql), &sig);
		if (strcmp(kind_names[sig.kind], kind) != 0)
			fail_msg("line %d: %s: kind %s, expected %s", lineno, sql,
				 kind_names[sig.kind], kind);
		assert_int_equal(found, sig.kind != MIG_SIG_NONE);
		if (found && !maybe)
			fail_msg("line %d: %s: prefilter missed a signal", lineno, sql);
		if (strcmp(name, "-") != 0 && strcmp(sig.name, name) != 0)
			fail_msg("line %d: %s: name '%s', expected '%s'", lineno, sql, sig.name,
				 name);
		cases++;
	}
	fclose(f);
	assert_true(cases >= 20);
	assert_false(migration_maybe_signal("SELECT * FROM users WHERE id = 1", 32));
}

static void test_tool_for(void **state)
{
	(void)state;
	static const struct {
		const char *name, *tool;
	} cases[] = {
	    {"prisma_migrate", "prisma"},
	    {"atlas_migrate_execute", "atlas"},
	    {"Flyway-1", "flyway"},
	    {"knex_migrations_lock", "knex"},
	    {"DATABASECHANGELOGLOCK", "liquibase"},
	    /* Active Record: its salt times CRC-32 of the database name */
	    {"6160388535", "rails"},
	    {"8819555760772654275", "rails"}, /* 2053462845 * 0xFFFFFFFF */
	    /* golang-migrate's ids are 32-bit */
	    {"987654", "golang-migrate"},
	    {"4294967295", "golang-migrate"},
	    {"4294967296", "rails/golang-migrate"},
	    {"99999999999999999999999", "rails/golang-migrate"},
	    {"007", "rails/golang-migrate"},
	    {"-42", "rails/golang-migrate"},
	    {"cron", ""},
	    {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(migration_tool_for(cases[i].name), cases[i].tool);
	assert_string_equal(migration_tool_for(NULL), "");
}

/* Lock calls whose name is bound at execute: which placeholder it is. */
static void test_scan_bound(void **state)
{
	(void)state;
	static const struct {
		const char *sql;
		enum migration_signal_kind kind; /* MIG_SIG_NONE: not a bound lock call */
		unsigned param;
	} cases[] = {
	    {"SELECT GET_LOCK(?, 10)", MIG_SIG_GET_LOCK, 0},
	    {"select get_lock(?, ?)", MIG_SIG_GET_LOCK, 0},
	    {"SELECT ?, GET_LOCK(?, -1)", MIG_SIG_GET_LOCK, 1},
	    {"DO RELEASE_LOCK(?)", MIG_SIG_RELEASE_LOCK, 0},
	    {"SELECT RELEASE_LOCK(?) AS r", MIG_SIG_RELEASE_LOCK, 0},
	    {"SELECT GET_LOCK('prisma_migrate', 10)", MIG_SIG_NONE, 0},
	    {"SELECT GET_LOCK(CONCAT(?, 'x'), 10)", MIG_SIG_NONE, 0},
	    {"SELECT GET_LOCK(? + 1, 10)", MIG_SIG_NONE, 0},
	    {"SELECT RELEASE_ALL_LOCKS()", MIG_SIG_NONE, 0},
	    {"SELECT IS_USED_LOCK(?)", MIG_SIG_NONE, 0},
	    {"UPDATE t SET a = GET_LOCK(?, 1)", MIG_SIG_NONE, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct migration_signal sig;
		unsigned param = 99;
		bool found = migration_scan_bound(cases[i].sql, strlen(cases[i].sql), &sig, &param);
		if (found != (cases[i].kind != MIG_SIG_NONE) || sig.kind != cases[i].kind ||
		    (found && param != cases[i].param))
			fail_msg("%s: got %s param %u", cases[i].sql, kind_names[sig.kind], param);
		assert_string_equal(sig.name, "");
	}
	struct migration_signal sig;
	unsigned param;
	assert_true(migration_scan_bound("SELECT GET_LOCK(?, 0)", 21, &sig, &param));
	migration_signal_name(&sig, "atlas_migrate_execute");
	assert_string_equal(sig.name, "atlas_migrate_execute");
	assert_string_equal(sig.tool, "atlas");
}

/* A later signal narrows the tool to what both name; nothing in common
 * leaves the earlier one. */
static void test_tool_merge(void **state)
{
	(void)state;
	static const struct {
		const char *tool, *more, *want;
		bool changed;
	} cases[] = {
	    {"rails/golang-migrate/dbmate", "rails", "rails", true},
	    {"rails/golang-migrate/dbmate", "rails/dbmate", "rails/dbmate", true},
	    {"rails/golang-migrate", "rails/golang-migrate/dbmate", "rails/golang-migrate", false},
	    {"rails/dbmate", "golang-migrate/dbmate", "dbmate", true},
	    {"db-migrate/typeorm", "typeorm", "typeorm", true},
	    {"typeorm", "db-migrate", "typeorm", false},
	    {"user", "django", "user", false},
	    {"", "knex", "knex", true},
	    {"knex", "", "knex", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char tool[MIGRATION_TOOL_MAX];
		snprintf(tool, sizeof(tool), "%s", cases[i].tool);
		bool changed = migration_tool_merge(tool, sizeof(tool), cases[i].more);
		if (strcmp(tool, cases[i].want) != 0 || changed != cases[i].changed)
			fail_msg("%s + %s: want %s (%d), got %s (%d)", cases[i].tool, cases[i].more,
				 cases[i].want, cases[i].changed, tool, changed);
	}
	static const struct {
		const char *tool, *program, *want;
	} by_program[] = {
	    {"rails/golang-migrate/dbmate", "Go-MySQL-Driver", "golang-migrate/dbmate"},
	    {"rails/dbmate", "Go-MySQL-Driver", "dbmate"},
	    {"rails/dbmate", "libmariadb", "rails"},
	    {"rails/golang-migrate/dbmate", "libmysql", "rails"},
	    {"db-migrate/typeorm", "Node-MySQL-2", "db-migrate/typeorm"},
	    {"rails/golang-migrate/dbmate", "mysql", "rails/golang-migrate/dbmate"},
	    {"rails/golang-migrate/dbmate", "", "rails/golang-migrate/dbmate"},
	    {"knex", "Go-MySQL-Driver", "knex"},
	};
	for (size_t i = 0; i < sizeof(by_program) / sizeof(by_program[0]); i++) {
		char tool[MIGRATION_TOOL_MAX];
		snprintf(tool, sizeof(tool), "%s", by_program[i].tool);
		(void)migration_tool_by_program(tool, sizeof(tool), by_program[i].program);
		if (strcmp(tool, by_program[i].want) != 0)
			fail_msg("%s by %s: want %s, got %s", by_program[i].tool,
				 by_program[i].program, by_program[i].want, tool);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scan),
	    cmocka_unit_test(test_scan_bound),
	    cmocka_unit_test(test_tool_for),
	    cmocka_unit_test(test_tool_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
