/* Unit tests for migration sessions: state machine and registry scopes (the
 * signal scanner has its own tests, test_rules_migration_signal.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "proxy/migration.h"

/* Splits line at tabs into at most max fields (the newline removed). */
static size_t split_tabs(char *line, char **f, size_t max)
{
	size_t n = 0;
	line[strcspn(line, "\r\n")] = 0;
	while (n < max) {
		f[n++] = line;
		char *t = strchr(line, '\t');
		if (!t)
			break;
		*t = 0;
		line = t + 1;
	}
	return n;
}

static void list_set(struct rules_patterns *l, const char *const *items, size_t n)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	for (size_t i = 0; i < n; i++)
		l->items[i] = strdup(items[i]);
	l->n = n;
}

static struct cfg *test_cfg(void)
{
	static const char *const users[] = {"migrator", "deploy_*"};
	static const char *const locks[] = {"prisma_migrate", "Flyway-*", "1*"};
	struct cfg *c = cfg_defaults();
	assert_non_null(c);
	list_set(&c->migration.users, users, 2);
	list_set(&c->migration.lock_names, locks, 3);
	return c;
}

static void test_states(void **state)
{
	struct cfg *c = test_cfg();
	FILE *f = fopen("proxy_migration_states.txt", "r");
	char line[1024], name[64] = "";
	struct migration_sess m = {0};
	int steps = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *fld[6];
		size_t n;
		const char *expect;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (strncmp(line, "case ", 5) == 0) {
			memset(&m, 0, sizeof(m));
			snprintf(name, sizeof(name), "%.60s", line + 5);
			name[strcspn(name, "\n")] = 0;
			continue;
		}
		n = split_tabs(line, fld, 6);
		if (strcmp(fld[0], "auth") == 0) {
			assert_int_equal(n, 3);
			migration_sess_auth(&m, c, fld[1]);
			expect = fld[2];
		} else if (strcmp(fld[0], "clear") == 0) {
			assert_int_equal(n, 3);
			migration_sess_clear(&m);
			expect = fld[2];
		} else {
			struct migration_signal sig;
			assert_int_equal(n, 6);
			(void)migration_scan(fld[1], strlen(fld[1]), &sig);
			(void)migration_sess_apply(&m, c, &sig, strcmp(fld[2], "ok") == 0,
						   strcmp(fld[3], "-") == 0 ? NULL : fld[3],
						   strtoull(fld[4], NULL, 10));
			expect = fld[5];
		}
		if (migration_sess_active(&m) != (expect[0] == '1'))
			fail_msg("case %s, step %s %s: expected %s", name, fld[0], fld[1], expect);
		steps++;
	}
	fclose(f);
	assert_true(steps >= 25);
	cfg_free(c);
}

static void test_names(void **state)
{
	struct cfg *c = test_cfg();
	struct migration_sess m = {0};
	struct migration_signal sig;
	const char *q = "SELECT GET_LOCK('prisma_migrate', 10)";

	assert_true(migration_scan(q, strlen(q), &sig));
	assert_true(migration_sess_apply(&m, c, &sig, true, "1", 0));
	assert_string_equal(m.tool, "prisma");
	assert_string_equal(m.name, "prisma_migrate");
	cfg_free(c);
}

static void test_registry_scopes(void **state)
{
	char who[256];
	struct migration_obj same_table = {"shop", "users"};
	struct migration_obj other_table = {"shop", "orders"};
	struct migration_obj other_schema = {"crm", "users"};
	struct migration_obj unqualified = {NULL, "users"};

	migration_registry_reset();
	uint64_t gen = migration_generation();
	uint64_t seen = migration_seen_total();
	assert_false(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_SERVER, "shop", &same_table,
					1, who, sizeof(who)));
	migration_register(1, "migrator", "10.0.0.1", "prisma", "prisma_migrate", "shop");
	migration_touch(1, "shop", "users");
	assert_int_equal(migration_count(), 1);
	assert_int_equal(migration_seen_total(), seen + 1);

	/* the migration itself never conflicts with its own DDL */
	assert_false(migration_conflict(1, "app", "10.0.0.2", CFG_SCOPE_SERVER, "shop", &same_table,
					1, NULL, 0));

	assert_true(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_SERVER, "crm", &other_schema,
				       1, who, sizeof(who)));
	assert_non_null(strstr(who, "prisma"));
	assert_non_null(strstr(who, "migrator"));

	assert_true(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_SCHEMA, "x", &other_table, 1,
				       NULL, 0));
	assert_false(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_SCHEMA, "x", &other_schema,
					1, NULL, 0));
	assert_true(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_SCHEMA, "SHOP", &unqualified,
				       1, NULL, 0));

	assert_true(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_TABLE, "x", &same_table, 1,
				       NULL, 0));
	assert_false(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_TABLE, "x", &other_table, 1,
					NULL, 0));
	assert_true(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_TABLE, "shop", &unqualified,
				       1, NULL, 0));
	assert_false(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_TABLE, "crm", &unqualified,
					1, NULL, 0));
	/* no known targets: conservative */
	assert_true(
	    migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_TABLE, "crm", NULL, 0, NULL, 0));

	/* the same account from the same machine is the migration itself (Rails,
	 * pt-online-schema-change: lock on one connection, DDL on another) */
	struct migration_info peer;
	assert_false(migration_conflict(3, "migrator", "10.0.0.1", CFG_SCOPE_SERVER, "shop",
					&same_table, 1, NULL, 0));
	assert_true(migration_peer(3, "migrator", "10.0.0.1", &peer));
	assert_int_equal(peer.conn_id, 1);
	assert_false(migration_peer(1, "migrator", "10.0.0.1", NULL));
	assert_true(migration_conflict(3, "migrator", "10.0.0.9", CFG_SCOPE_SERVER, "shop",
				       &same_table, 1, NULL, 0));
	assert_false(migration_peer(3, "migrator", "10.0.0.9", NULL));

	migration_touch(1, "shop", "orders");
	assert_true(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_TABLE, "x", &other_table, 1,
				       NULL, 0));

	struct migration_info info[4];
	assert_int_equal(migration_list(info, 4), 1);
	assert_int_equal(info[0].conn_id, 1);
	assert_int_equal(info[0].ntables, 2);

	assert_true(migration_unregister(1));
	assert_false(migration_unregister(1));
	assert_true(migration_generation() > gen);
	assert_false(migration_conflict(2, "app", "10.0.0.2", CFG_SCOPE_SERVER, "shop", &same_table,
					1, NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_states),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_registry_scopes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
