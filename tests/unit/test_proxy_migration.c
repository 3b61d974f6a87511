/* Unit tests for migration sessions: state machine and registry scopes (the
 * signal scanner has its own tests, test_rules_migration_signal.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "proxy/migration.h"
#include "rules/arena.h"
#include "rules/engine.h"
#include "rules/migration_signal.h"
#include "rules/parse.h"

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
	assert_false(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_SERVER, "shop",
					&same_table, 1, who, sizeof(who)));
	migration_register(1, "migrator", "10.0.0.1", NULL, "prisma", "prisma_migrate", "shop");
	migration_touch(1, "shop", "users");
	assert_int_equal(migration_count(), 1);
	assert_int_equal(migration_seen_total(), seen + 1);

	/* the migration itself never conflicts with its own DDL */
	assert_false(migration_conflict(1, "app", "10.0.0.2", NULL, CFG_SCOPE_SERVER, "shop",
					&same_table, 1, NULL, 0));

	assert_true(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_SERVER, "crm",
				       &other_schema, 1, who, sizeof(who)));
	assert_non_null(strstr(who, "prisma"));
	assert_non_null(strstr(who, "migrator"));

	assert_true(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_SCHEMA, "x",
				       &other_table, 1, NULL, 0));
	assert_false(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_SCHEMA, "x",
					&other_schema, 1, NULL, 0));
	assert_true(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_SCHEMA, "SHOP",
				       &unqualified, 1, NULL, 0));

	assert_true(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_TABLE, "x",
				       &same_table, 1, NULL, 0));
	assert_false(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_TABLE, "x",
					&other_table, 1, NULL, 0));
	assert_true(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_TABLE, "shop",
				       &unqualified, 1, NULL, 0));
	assert_false(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_TABLE, "crm",
					&unqualified, 1, NULL, 0));
	/* no known targets: conservative */
	assert_true(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_TABLE, "crm", NULL, 0,
				       NULL, 0));

	/* the same account from the same machine is the migration itself (Rails,
	 * pt-online-schema-change: lock on one connection, DDL on another) */
	struct migration_info peer;
	assert_false(migration_conflict(3, "migrator", "10.0.0.1", NULL, CFG_SCOPE_SERVER, "shop",
					&same_table, 1, NULL, 0));
	assert_true(migration_peer(3, "migrator", "10.0.0.1", NULL, &peer));
	assert_int_equal(peer.conn_id, 1);
	assert_false(migration_peer(1, "migrator", "10.0.0.1", NULL, NULL));
	assert_true(migration_conflict(3, "migrator", "10.0.0.9", NULL, CFG_SCOPE_SERVER, "shop",
				       &same_table, 1, NULL, 0));
	assert_false(migration_peer(3, "migrator", "10.0.0.9", NULL, NULL));

	migration_touch(1, "shop", "orders");
	assert_true(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_TABLE, "x",
				       &other_table, 1, NULL, 0));

	struct migration_info info[4];
	assert_int_equal(migration_list(info, 4), 1);
	assert_int_equal(info[0].conn_id, 1);
	assert_int_equal(info[0].ntables, 2);

	assert_true(migration_unregister(1));
	assert_false(migration_unregister(1));
	assert_true(migration_generation() > gen);
	assert_false(migration_conflict(2, "app", "10.0.0.2", NULL, CFG_SCOPE_SERVER, "shop",
					&same_table, 1, NULL, 0));
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

/* Learns sql (a DDL) into m, as the proxy does at the server's OK. */
static void learn(struct rules_migration *m, const char *sql)
{
	struct arena a;
	struct stmt st;
	arena_init(&a, 4096);
	stmt_parse(&a, sql, strlen(sql), 0, &st);
	rules_migration_apply(m, &st, "shop");
	arena_cleanup(&a);
}

/* Write targets (data/proxy_migration_writes.txt): TABLE or "-" | SQL. */
static void test_write_targets(void **state)
{
	FILE *f = fopen("proxy_migration_writes.txt", "r");
	char line[1024];
	int n = 0;
	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *fld[2];
		if (line[0] == '#' || line[0] == '\n' || split_tabs(line, fld, 2) != 2)
			continue;
		char sch[64], tbl[64], got[160];
		bool ok = migration_write_target(fld[1], strlen(fld[1]), 0, sch, sizeof(sch), tbl,
						 sizeof(tbl));
		snprintf(got, sizeof(got), "%s%s%s", ok ? sch : "", ok && sch[0] ? "." : "",
			 ok ? tbl : "-");
		if (strcmp(got, fld[0]) != 0)
			fail_msg("%s: want %s, got %s", fld[1], fld[0], got);
		n++;
	}
	fclose(f);
	assert_true(n > 5);
}

struct seen {
	char names[8][64];
	int n;
};

static bool collect(const char *schema, const char *table, void *arg)
{
	struct seen *s = arg;
	if (s->n < 8)
		snprintf(s->names[s->n++], sizeof(s->names[0]), "%s%s%s", schema,
			 *schema ? "." : "", table);
	return false;
}

static void test_scan_tables(void **state)
{
	struct seen s = {0};
	const char *sql = "SELECT `app`, name FROM `django_migrations` d, shop.x AS y "
			  "JOIN z ON z.a = d.b WHERE name IN (SELECT v FROM w)";
	(void)state;
	assert_false(migration_scan_tables(sql, strlen(sql), 0, collect, &s));
	assert_int_equal(s.n, 4);
	assert_string_equal(s.names[0], "django_migrations");
	assert_string_equal(s.names[1], "shop.x");
	assert_string_equal(s.names[2], "z");
	assert_string_equal(s.names[3], "w");
	memset(&s, 0, sizeof(s));
	sql = "SELECT migrations FROM information_schema.tables WHERE table_name = "
	      "'schema_migrations'";
	(void)migration_scan_tables(sql, strlen(sql), 0, collect, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.names[0], "information_schema.tables");
}

/* What a write forgets: the target only when the rows cannot land elsewhere. */
static void test_memory_writes(void **state)
{
	struct rules_migration *m = rules_migration_new();
	(void)state;
	learn(m, "CREATE TABLE a (id INT PRIMARY KEY)");
	learn(m, "CREATE TABLE b (id INT PRIMARY KEY)");
	/* a bookkeeping row: a and b stay new */
	rules_migration_wrote(m, "shop", "schema_migrations", true);
	assert_true(rules_migration_table_new(m, "shop", "a"));
	assert_true(rules_migration_table_new(m, "shop", "b"));
	/* a row in a: b stays new */
	rules_migration_wrote(m, "shop", "a", false);
	assert_false(rules_migration_table_new(m, "shop", "a"));
	assert_true(rules_migration_table_new(m, "shop", "b"));
	/* the copy judges as the original */
	struct rules_migration *c = rules_migration_clone(m);
	assert_false(rules_migration_table_new(c, "shop", "a"));
	assert_true(rules_migration_table_new(c, "shop", "b"));
	rules_migration_free(c);
	/* an older table may have triggers ddlgate never saw: everything goes */
	rules_migration_wrote(m, "shop", "orders", false);
	assert_false(rules_migration_table_new(m, "shop", "b"));
	rules_migration_reset(m);
	/* a trigger made in this migration may carry rows anywhere */
	learn(m, "CREATE TABLE a (id INT PRIMARY KEY)");
	learn(m, "CREATE TABLE b (id INT PRIMARY KEY)");
	learn(m, "CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW INSERT INTO b VALUES (NEW.id)");
	rules_migration_wrote(m, "shop", "a", false);
	assert_false(rules_migration_table_new(m, "shop", "b"));
	rules_migration_reset(m);
	/* an unknown target forgets everything */
	learn(m, "CREATE TABLE a (id INT PRIMARY KEY)");
	rules_migration_wrote(m, NULL, NULL, false);
	assert_false(rules_migration_table_new(m, "shop", "a"));
	rules_migration_free(m);
}

/* One memory per migration, shared by its peers' entries. */
static void test_memory_shared(void **state)
{
	(void)state;
	migration_registry_reset();
	migration_register(1, "migrator", "10.0.0.1", NULL, "rails", "1234", "shop");
	migration_register(2, "migrator", "10.0.0.1", NULL, "rails", "", "shop");
	migration_register(3, "other", "10.0.0.1", NULL, "knex", "", "shop");
	struct migration_memory *m1 = migration_memory_get(1);
	struct migration_memory *m2 = migration_memory_get(2);
	struct migration_memory *m3 = migration_memory_get(3);
	assert_non_null(m1);
	assert_ptr_equal(m1, m2);
	assert_ptr_not_equal(m1, m3);
	assert_null(migration_memory_get(4));
	learn(migration_memory_lock(m1), "CREATE TABLE a (id INT PRIMARY KEY)");
	migration_memory_unlock(m1);
	/* the entry that made it ends: the peer's memory lives on */
	assert_true(migration_unregister(1));
	assert_true(rules_migration_table_new(migration_memory_lock(m2), "shop", "a"));
	migration_memory_unlock(m2);
	migration_memory_put(m1);
	migration_memory_put(m2);
	migration_memory_put(m3);
	migration_registry_reset();
	assert_int_equal(migration_count(), 0);
}

/* Peers by client process: another process of the same account on the same
 * machine is not the migration; a child of the migration's process on this
 * machine is; a client without _pid falls back to account and machine. */
static void test_peers_by_process(void **state)
{
	char me[24], child[24];
	(void)state;
	migration_registry_reset();
	migration_register(1, "deploy", "10.0.0.5", "111", "rails", "1234", "shop");
	assert_true(migration_peer(2, "deploy", "10.0.0.5", "111", NULL));
	assert_false(migration_peer(2, "deploy", "10.0.0.5", "222", NULL));
	char who[256];
	assert_true(migration_conflict(2, "deploy", "10.0.0.5", "222", CFG_SCOPE_SERVER, "shop",
				       NULL, 0, who, sizeof(who)));
	assert_string_equal(who, "connection 1 (rails: 1234, user deploy)");
	/* a migration by login names its account once */
	migration_register(5, "migrator", "10.0.0.6", NULL, "user", "migrator", "shop");
	migration_unregister(1);
	assert_true(migration_conflict(2, "deploy", "10.0.0.5", "222", CFG_SCOPE_SERVER, "shop",
				       NULL, 0, who, sizeof(who)));
	assert_string_equal(who, "connection 5 (user migrator)");
	migration_register(1, "deploy", "10.0.0.5", "111", "rails", "1234", "shop");
	assert_true(migration_peer(2, "deploy", "10.0.0.5", NULL, NULL));
	assert_true(migration_peer(2, "deploy", "10.0.0.5", "", NULL));
	migration_registry_reset();

	/* A client that names its program but sends no _pid (MariaDB
	 * Connector/J: Liquibase, Flyway) is the same process only as another
	 * such client of that program, never as a client that sends a _pid. */
	char jdbc[MIGRATION_PROC_MAX], cli[MIGRATION_PROC_MAX], none[MIGRATION_PROC_MAX];
	migration_client_proc("", "MariaDB Connector/J", jdbc, sizeof(jdbc));
	assert_string_equal(jdbc, "@MariaDB Connector/J");
	migration_client_proc("4242", "mariadb", cli, sizeof(cli));
	assert_string_equal(cli, "4242");
	migration_client_proc(NULL, "", none, sizeof(none));
	assert_string_equal(none, "");
	migration_register(1, "deploy", "127.0.0.1", jdbc, "liquibase", "DATABASECHANGELOGLOCK",
			   "shop");
	assert_false(migration_peer(2, "deploy", "127.0.0.1", cli, NULL));
	assert_true(migration_conflict(2, "deploy", "127.0.0.1", cli, CFG_SCOPE_SERVER, "shop",
				       NULL, 0, who, sizeof(who)));
	assert_true(migration_peer(2, "deploy", "127.0.0.1", jdbc, NULL));
	assert_false(migration_peer(2, "deploy", "127.0.0.1", "@pymysql", NULL));
	assert_true(migration_peer(2, "deploy", "127.0.0.1", none, NULL));
	migration_registry_reset();
	migration_register(1, "deploy", "127.0.0.1", cli, "rails", "1234", "shop");
	assert_false(migration_peer(2, "deploy", "127.0.0.1", jdbc, NULL));
	migration_registry_reset();

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	snprintf(me, sizeof(me), "%ld", (long)getpid());
	snprintf(child, sizeof(child), "%ld", (long)pid);
	migration_register(1, "deploy", "127.0.0.1", me, "sqitch", "sqitch working", "shop");
	assert_true(migration_peer(2, "deploy", "127.0.0.1", child, NULL));
	/* a remote address: ddlgate cannot see that machine's processes */
	migration_registry_reset();
	migration_register(1, "deploy", "10.0.0.5", me, "sqitch", "sqitch working", "shop");
	assert_false(migration_peer(2, "deploy", "10.0.0.5", child, NULL));
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	migration_registry_reset();
}

/* History tables: the signal, its tool, and how such a migration ends. */
static void test_history(void **state)
{
	struct cfg *c = cfg_defaults();
	struct migration_signal sig;
	struct migration_sess m = {0};
	const char *q = "SELECT `django_migrations`.`app` FROM `django_migrations`";
	(void)state;
	assert_true(migration_scan_history(q, strlen(q), 0, &c->migration.history_tables, &sig));
	assert_int_equal(sig.kind, MIG_SIG_HISTORY);
	assert_string_equal(sig.tool, "django");
	q = "UPDATE alembic_version SET version_num='a2'";
	assert_true(migration_scan_history(q, strlen(q), 0, &c->migration.history_tables, &sig));
	assert_string_equal(sig.tool, "alembic");
	q = "INSERT INTO `SequelizeMeta` VALUES ('x')";
	assert_true(migration_scan_history(q, strlen(q), 0, &c->migration.history_tables, &sig));
	assert_string_equal(sig.tool, "sequelize");
	q = "create table if not exists `__drizzle_migrations` (id serial primary key)";
	assert_true(migration_scan_history(q, strlen(q), 0, &c->migration.history_tables, &sig));
	assert_string_equal(sig.tool, "drizzle");
	/* a column or a string of that name is no table */
	q = "SELECT migrations FROM t WHERE name = 'schema_migrations'";
	assert_false(migration_scan_history(q, strlen(q), 0, &c->migration.history_tables, &sig));
	q = "SELECT * FROM users";
	assert_false(migration_scan_history(q, strlen(q), 0, &c->migration.history_tables, &sig));

	q = "SELECT * FROM alembic_version";
	assert_true(migration_scan_history(q, strlen(q), 0, &c->migration.history_tables, &sig));
	assert_true(migration_sess_claims(&m, c, &sig, true, NULL, 0));
	assert_true(migration_sess_apply(&m, c, &sig, true, NULL, 0));
	assert_true(migration_sess_active(&m) && migration_sess_history_only(&m));
	assert_string_equal(m.tool, "alembic");
	assert_true(m.history_s > 0); /* the idle clock starts now */
	migration_sess_clear(&m);
	assert_false(migration_sess_active(&m));

	/* a lock that ends ends the history claim with it */
	struct migration_signal lock = {.kind = MIG_SIG_GET_LOCK};
	snprintf(lock.name, sizeof(lock.name), "6160388535"); /* Active Record's */
	snprintf(lock.tool, sizeof(lock.tool), "%s", migration_tool_for(lock.name));
	assert_true(migration_sess_apply(&m, c, &lock, true, "1", 0));
	q = "SELECT * FROM ar_internal_metadata";
	assert_true(migration_scan_history(q, strlen(q), 0, &c->migration.history_tables, &sig));
	assert_false(migration_sess_claims(&m, c, &sig, true, NULL, 0)); /* a migration already */
	assert_true(migration_sess_apply(&m, c, &sig, true, NULL, 0));
	assert_string_equal(m.tool, "rails");
	lock.kind = MIG_SIG_RELEASE_LOCK;
	assert_true(migration_sess_apply(&m, c, &lock, true, "1", 0));
	assert_false(migration_sess_active(&m));

	/* an empty list turns the signal off */
	for (size_t i = 0; i < c->migration.history_tables.n; i++)
		free(c->migration.history_tables.items[i]);
	c->migration.history_tables.n = 0;
	q = "SELECT * FROM django_migrations";
	assert_false(migration_scan_history(q, strlen(q), 0, &c->migration.history_tables, &sig));
	cfg_free(c);
}

/* The server answered q with OK, first value 1 and affected rows: m
 * takes the signal q carries (a lock, lock row, directive or history
 * table; q must carry one). */
static void apply_ok(struct migration_sess *m, const struct cfg *c, const char *q,
		     uint64_t affected)
{
	struct migration_signal sig;
	if (!migration_scan(q, strlen(q), &sig))
		assert_true(
		    migration_scan_history(q, strlen(q), 0, &c->migration.history_tables, &sig));
	(void)migration_sess_apply(m, c, &sig, true, "1", affected);
}

/* The tool a session is named by, as its statements come: tools that
 * share a history table or a lock shape are told apart by the columns
 * their statements name, Active Record's lock id and the client's driver;
 * each later, more specific signal narrows the name. */
static void test_tool_names(void **state)
{
	static const struct {
		const char *program; /* the client's program_name / _client_name */
		const char *sql[4];
		const char *tool;
	} cases[] = {
	    /* Rails' lock connection, then its main connection */
	    {"libmariadb", {"SELECT GET_LOCK('6160388535', 0)"}, "rails"},
	    {"",
	     {"SELECT `schema_migrations`.`version` FROM `schema_migrations`",
	      "SELECT * FROM `ar_internal_metadata` WHERE `key` = 'environment'"},
	     "rails"},
	    {"libmariadb",
	     {"SELECT `schema_migrations`.`version` FROM `schema_migrations`"},
	     "rails"},
	    /* golang-migrate: its lock, then its version table */
	    {"Go-MySQL-Driver",
	     {"SELECT GET_LOCK('1316283049', 10)",
	      "SELECT version, dirty FROM `schema_migrations` LIMIT 1"},
	     "golang-migrate"},
	    {"",
	     {"CREATE TABLE IF NOT EXISTS `schema_migrations` (version bigint not null "
	      "primary key, dirty boolean not null)"},
	     "golang-migrate"},
	    /* dbmate: version only, the Go driver */
	    {"Go-MySQL-Driver",
	     {"create table if not exists schema_migrations (version varchar(128) primary key)",
	      "select version from schema_migrations order by version desc"},
	     "dbmate"},
	    {"", {"select version from schema_migrations order by version desc"}, "rails/dbmate"},
	    {"", {"DELETE FROM `schema_migrations`"}, "rails/golang-migrate/dbmate"},
	    /* TypeORM and db-migrate, both on Node */
	    {"Node-MySQL-2",
	     {"CREATE TABLE `app`.`migrations` (`id` int NOT NULL AUTO_INCREMENT, `timestamp` "
	      "bigint NOT NULL, `name` varchar(255) NOT NULL, PRIMARY KEY (`id`))",
	      "SELECT * FROM `app`.`migrations` `migrations` ORDER BY `id` DESC"},
	     "typeorm"},
	    {"",
	     {"SELECT * FROM `migrations` ORDER BY run_on DESC, name DESC",
	      "INSERT INTO `migrations` (`name`, `run_on`) VALUES ('/20240101-a', NOW())"},
	     "db-migrate"},
	    {"Node-MySQL-2", {"SELECT * FROM migrations"}, "db-migrate/typeorm"},
	};
	struct cfg *c = cfg_defaults();
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct migration_sess m = {0};
		for (size_t k = 0; k < 4 && cases[i].sql[k]; k++) {
			apply_ok(&m, c, cases[i].sql[k], 0);
			/* as ddlgate registers it: the driver narrows it */
			(void)migration_tool_by_program(m.tool, sizeof(m.tool), cases[i].program);
		}
		if (strcmp(m.tool, cases[i].tool) != 0)
			fail_msg("case %zu: want %s, got %s", i, cases[i].tool, m.tool);
	}
	cfg_free(c);
}

/* The holder a migration-conflict names, for each way a migration starts:
 * every part once (tool, name, account), whatever the session went through. */
static void test_who(void **state)
{
	static const struct {
		const char *login; /* authenticated as ("migrator" is in users) */
		const char *sql[3];
		bool reset; /* COM_RESET_CONNECTION at the end */
		const char *who;
	} cases[] = {
	    {"app",
	     {"SELECT GET_LOCK('prisma_migrate', 10)"},
	     false,
	     "connection 1 (prisma: prisma_migrate, user app)"},
	    {"app",
	     {"UPDATE DATABASECHANGELOGLOCK SET LOCKED = 1 WHERE ID = 1"},
	     false,
	     "connection 1 (liquibase: DATABASECHANGELOGLOCK, user app)"},
	    {"app",
	     {"/* ddlgate:migration name=\"release-42\" */ SELECT 1"},
	     false,
	     "connection 1 (directive: release-42, user app)"},
	    {"app",
	     {"/* ddlgate:migration */ SELECT 1"},
	     false,
	     "connection 1 (directive, user app)"},
	    /* a directive named like the account keeps its name */
	    {"app",
	     {"/* ddlgate:migration name=\"app\" */ SELECT 1"},
	     false,
	     "connection 1 (directive: app, user app)"},
	    {"app",
	     {"SELECT * FROM django_migrations"},
	     false,
	     "connection 1 (django: django_migrations, user app)"},
	    {"migrator", {NULL}, false, "connection 1 (user migrator)"},
	    {"migrator",
	     {"SELECT GET_LOCK('prisma_migrate', 10)"},
	     false,
	     "connection 1 (prisma: prisma_migrate, user migrator)"},
	    {"migrator",
	     {"SELECT GET_LOCK('prisma_migrate', 10)", "SELECT RELEASE_LOCK('prisma_migrate')"},
	     false,
	     "connection 1 (user migrator)"},
	    {"migrator",
	     {"SELECT GET_LOCK('prisma_migrate', 10)"},
	     true,
	     "connection 1 (user migrator)"},
	};
	struct cfg *c = test_cfg();
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct migration_sess m;
		migration_sess_auth(&m, c, cases[i].login, "10.0.0.1");
		for (size_t k = 0; k < 3 && cases[i].sql[k]; k++) {
			apply_ok(&m, c, cases[i].sql[k], 1);
		}
		if (cases[i].reset)
			migration_sess_clear(&m);
		assert_true(migration_sess_active(&m));
		migration_registry_reset();
		migration_register(1, cases[i].login, "10.0.0.1", "11", m.tool, m.name, "shop");
		char who[256] = "";
		assert_true(migration_conflict(2, "other", "10.0.0.2", "22", CFG_SCOPE_SERVER,
					       "shop", NULL, 0, who, sizeof(who)));
		if (strcmp(who, cases[i].who) != 0)
			fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i].who, who);
	}
	migration_registry_reset();
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_states),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_registry_scopes),
	    cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_claims),
	    cmocka_unit_test(test_floor),
	    cmocka_unit_test(test_write_targets),
	    cmocka_unit_test(test_scan_tables),
	    cmocka_unit_test(test_memory_writes),
	    cmocka_unit_test(test_memory_shared),
	    cmocka_unit_test(test_peers_by_process),
	    cmocka_unit_test(test_history),
	    cmocka_unit_test(test_who),
	    cmocka_unit_test(test_tool_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
