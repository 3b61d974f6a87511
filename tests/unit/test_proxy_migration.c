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
	static const char *const users[] = {"migrator",	     "deploy_*",
					    "ops@10.1.%",    "'net'@'10.2.0.0/16'",
					    "loc@localhost", "dns@db-*.example"};
	static const char *const locks[] = {"prisma_migrate", "Flyway-*", "1*"};
	struct cfg *c = cfg_defaults();
	assert_non_null(c);
	list_set(&c->migration.users, users, 6);
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
			/* USER or USER from ADDRESS (the client's, without its port) */
			assert_int_equal(n, 3);
			char *from = strstr(fld[1], " from ");
			if (from) {
				*from = 0;
				from += 6;
			}
			migration_sess_auth(&m, c, fld[1], from);
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

/* Host parts of [migration] users entries (data/proxy_migration_hosts.txt):
 * VERDICT PATTERN | ADDRESS, as the server reads a host part. */
static void test_hosts(void **state)
{
	FILE *f = fopen("proxy_migration_hosts.txt", "r");
	char line[512];
	int lineno = 0, cases = 0, failed = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		char pattern[256], host[128] = "";
		bool want = strncmp(line, "yes ", 4) == 0;
		if (!want && strncmp(line, "no ", 3) != 0)
			fail_msg("proxy_migration_hosts.txt:%d: verdict is yes or no", lineno);
		char *bar = strchr(line, '|');
		if (!bar)
			fail_msg("proxy_migration_hosts.txt:%d: no '|'", lineno);
		*bar = 0;
		if (sscanf(line + (want ? 4 : 3), "%255s", pattern) != 1)
			fail_msg("proxy_migration_hosts.txt:%d: no pattern", lineno);
		(void)sscanf(bar + 1, "%127s", host);
		cases++;
		if (migration_host_match(pattern, host) != want) {
			print_error("proxy_migration_hosts.txt:%d: \"%s\" %s \"%s\"\n", lineno,
				    pattern, want ? "should match" : "should not match", host);
			failed++;
		}
	}
	fclose(f);
	assert_true(cases > 10);
	assert_int_equal(failed, 0);
}

/* Which answers claim the floor: only what would start a migration. */
static void test_claims(void **state)
{
	struct cfg *c = test_cfg();
	struct migration_sess m = {0};
	struct migration_signal sig;
	const char *lock = "SELECT GET_LOCK('prisma_migrate', 10)";
	const char *other = "SELECT GET_LOCK('app_cron', 10)";
	const char *knex = "UPDATE knex_migrations_lock SET is_locked = 1 WHERE is_locked = 0";
	const char *dir = "/* ddlgate:migration name=\"x\" */ SELECT 1";

	assert_true(migration_scan(lock, strlen(lock), &sig));
	assert_true(migration_sess_claims(&m, c, &sig, true, "1", 0));
	assert_false(migration_sess_claims(&m, c, &sig, true, "0", 0));
	assert_false(migration_sess_claims(&m, c, &sig, false, "1", 0));
	assert_true(migration_scan(other, strlen(other), &sig));
	assert_false(migration_sess_claims(&m, c, &sig, true, "1", 0));
	assert_true(migration_scan(knex, strlen(knex), &sig));
	assert_true(migration_sess_claims(&m, c, &sig, true, NULL, 1));
	assert_false(migration_sess_claims(&m, c, &sig, true, NULL, 0));
	assert_true(migration_scan(dir, strlen(dir), &sig));
	assert_true(migration_sess_claims(&m, c, &sig, true, NULL, 0));
	/* a migration already (by login): nothing to judge */
	migration_sess_auth(&m, c, "migrator", "10.0.0.1");
	assert_false(migration_sess_claims(&m, c, &sig, true, NULL, 0));
	cfg_free(c);
}

/* The grant check: its query names the account as bytes, its row reads
 * into a verdict (data/proxy_migration_floor.txt), verdicts are cached. */
static void test_floor(void **state)
{
	char sql[MIGRATION_FLOOR_SQL_MAX], line[256];
	enum migration_floor v;
	int cases = 0;

	assert_true(migration_floor_sql("migrator", sql, sizeof(sql)));
	assert_non_null(strstr(sql, "X'6D69677261746F72'")); /* "migrator" */
	assert_non_null(strstr(sql, "information_schema.TABLE_PRIVILEGES"));
	assert_true(migration_floor_sql("o'neil\\", sql, sizeof(sql)));
	assert_null(strstr(sql, "o'neil"));
	assert_false(migration_floor_sql("", sql, sizeof(sql)));
	assert_false(migration_floor_sql("migrator", sql, 64));

	FILE *f = fopen("proxy_migration_floor.txt", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *fld[6];
		if (line[0] == '#' || line[0] == '\n')
			continue;
		size_t n = split_tabs(line, fld, 6);
		assert_int_equal(n, 5);
		const char *vals[4];
		for (int i = 0; i < 4; i++)
			vals[i] = strcmp(fld[i], "NULL") == 0 ? NULL : fld[i];
		char why[200];
		v = migration_floor_verdict(vals, 4, why, sizeof(why));
		const char *got = v == MIGRATION_FLOOR_YES  ? "yes"
				  : v == MIGRATION_FLOOR_NO ? "no"
							    : "unknown";
		if (strcmp(got, fld[4]) != 0)
			fail_msg("floor %s %s %s %s: got %s, expected %s", fld[0], fld[1], fld[2],
				 fld[3], got, fld[4]);
		assert_true(why[0] != 0);
		cases++;
	}
	fclose(f);
	assert_true(cases >= 5);
	assert_int_equal(migration_floor_verdict(NULL, 0, NULL, 0), MIGRATION_FLOOR_UNKNOWN);

	migration_floor_reset();
	assert_false(migration_floor_cached("migrator", 100, &v));
	migration_floor_store("migrator", MIGRATION_FLOOR_YES, 100);
	migration_floor_store("reader", MIGRATION_FLOOR_NO, 100);
	migration_floor_store("narrow", MIGRATION_FLOOR_UNKNOWN, 100);
	assert_true(migration_floor_cached("migrator", 100 + MIGRATION_FLOOR_TTL_S - 1, &v));
	assert_int_equal(v, MIGRATION_FLOOR_YES);
	assert_false(migration_floor_cached("MIGRATOR", 100, &v)); /* another account */
	assert_false(migration_floor_cached("migrator", 100 + MIGRATION_FLOOR_TTL_S, &v));
	assert_true(migration_floor_cached("reader", 101, &v));
	assert_int_equal(v, MIGRATION_FLOOR_NO);
	/* an unknown answer is asked again soon */
	assert_false(migration_floor_cached("narrow", 100 + MIGRATION_FLOOR_RETRY_S, &v));
	migration_floor_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_states),	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_registry_scopes), cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_claims),	    cmocka_unit_test(test_floor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
