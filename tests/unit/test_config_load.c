/* Unit tests of the config loader: data-driven good and bad files, value parsers. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/cfg.h"

#define DATA_DIR "config"

/* Returns the text after "; expect: " on the first line of path (static buffer). */
static const char *expectation(const char *path)
{
	static char line[1024];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	const char *tag = "; expect: ";
	assert_true(strncmp(line, tag, strlen(tag)) == 0);
	return line + strlen(tag);
}

/*
 * Every .ini file under config/ states its outcome on its first line: "ok", or the
 * exact error message cfg_load() must produce (file, line, key and why).
 */
static void test_data_files(void **state)
{
	DIR *d = opendir(DATA_DIR);
	struct dirent *e;
	int files = 0, errors = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".ini"))
			continue;
		char path[512], err[1024] = "";
		snprintf(path, sizeof(path), "%s/%s", DATA_DIR, e->d_name);
		const char *want = expectation(path);
		struct cfg *c = cfg_load(path, err, sizeof(err));
		files++;
		if (!strcmp(want, "ok")) {
			if (!c)
				print_error("%s: unexpected error: %s\n", path, err);
			assert_non_null(c);
		} else {
			if (c || strcmp(err, want)) {
				print_error("%s:\n  want: %s\n  got:  %s\n", path, want,
					    c ? "(loaded fine)" : err);
				fail();
			}
			errors++;
		}
		cfg_free(c);
	}
	closedir(d);
	assert_true(files >= 10);
	assert_true(errors >= 10);
}

static void test_defaults(void **state)
{
	struct cfg *c = cfg_defaults();
	assert_int_equal(c->proxy.nlisten, 1);
	assert_string_equal(c->proxy.listen[0].host, "127.0.0.1");
	assert_int_equal(c->proxy.listen[0].port, 3307);
	assert_string_equal(c->proxy.backend.host, "127.0.0.1");
	assert_int_equal(c->proxy.backend.port, 3306);
	assert_null(c->proxy.backend_socket);
	assert_int_equal(c->proxy.threads, 0);
	assert_int_equal(c->proxy.max_connections, 4096);
	assert_int_equal(c->proxy.max_packet, 64 << 20);
	assert_int_equal(c->proxy.handshake_timeout_ms, 10000);
	assert_int_equal(c->proxy.idle_timeout_s, 0);
	assert_int_equal(c->proxy.connect_timeout_ms, 5000);
	assert_int_equal(c->proxy.shutdown_timeout_ms, 10000);
	assert_false(c->proxy.allow_plaintext_backend);
	assert_int_equal(c->tls.client, CFG_TLS_CLIENT_OFF);
	assert_int_equal(c->tls.backend, CFG_TLS_BACKEND_PREFERRED);
	assert_true(c->admin.enabled);
	assert_string_equal(c->admin.listen.host, "127.0.0.1");
	assert_int_equal(c->admin.listen.port, 9307);
	assert_null(c->admin.token_file);
	assert_null(c->audit.path);
	assert_int_equal(c->audit.record, CFG_RECORD_DDL);
	assert_int_equal(c->audit.fsync, CFG_FSYNC_ALWAYS);
	assert_int_equal(c->audit.fsync_interval_ms, 100);
	assert_int_equal(c->audit.on_failure, CFG_ON_FAILURE_BLOCK);
	assert_int_equal(c->audit.record_params, CFG_RECORD_PARAMS_TYPES);
	assert_non_null(c->audit.instance);
	assert_string_equal(c->audit.mirror_table, "ddlgate.audit");
	assert_int_equal(c->migration.users.n, 0);
	assert_true(rules_patterns_match(&c->migration.lock_names, "prisma_migrate"));
	assert_true(rules_patterns_match(&c->migration.lock_names, "atlas_migrate_execute"));
	assert_true(rules_patterns_match(&c->migration.lock_names, "Flyway-1234567"));
	assert_true(
	    rules_patterns_match(&c->migration.lock_names, "4171436591")); /* golang-migrate */
	assert_true(
	    rules_patterns_match(&c->migration.lock_names, "8325547301742563875")); /* Rails */
	assert_true(rules_patterns_match(&c->migration.lock_names, "sqitch working on flipr"));
	assert_false(rules_patterns_match(&c->migration.lock_names, "app_cron_lock"));
	assert_false(rules_patterns_match(&c->migration.lock_names, "12ab"));
	assert_int_equal(c->migration.conflict, CFG_CONFLICT_BLOCK);
	assert_int_equal(c->migration.hold_timeout_ms, 30000);
	assert_int_equal(c->migration.scope, CFG_SCOPE_SERVER);
	assert_string_equal(c->migration.cluster_lock, "ddlgate_migration");
	assert_int_equal(c->window.nschedule, 0);
	assert_null(c->guard.user);
	assert_int_equal(c->guard.probe_timeout_ms, 2000);
	assert_true(c->guard.own_connection);
	assert_int_equal(c->guard.large_table_bytes, 1ULL << 30);
	assert_int_equal(c->guard.max_lock_wait_s, 60);
	assert_int_equal(c->guard.long_transaction_ms, 10000);
	assert_int_equal(c->guard.sample_values, CFG_SAMPLE_VALUES_SHOW);
	assert_int_equal(c->nrules, 0);
	cfg_free(c);
}

static void test_full(void **state)
{
	char err[1024];
	struct cfg *c = cfg_load(DATA_DIR "/good_full.ini", err, sizeof(err));
	if (!c)
		print_error("%s\n", err);
	assert_non_null(c);

	assert_int_equal(c->proxy.nlisten, 3);
	assert_string_equal(c->proxy.listen[1].host, "::1");
	assert_int_equal(c->proxy.listen[1].port, 4407);
	assert_string_equal(c->proxy.listen[2].host, "0.0.0.0");
	assert_int_equal(c->proxy.listen[2].port, 4408);
	assert_string_equal(c->proxy.backend.host, "db.internal");
	assert_int_equal(c->proxy.backend.port, 3310);
	assert_int_equal(c->proxy.threads, 4);
	assert_int_equal(c->proxy.max_packet, 16 << 20);
	assert_int_equal(c->proxy.idle_timeout_s, 600);
	assert_true(c->proxy.allow_plaintext_backend);
	assert_false(c->proxy.allow_replication);
	assert_true(c->proxy.allow_local_infile);

	/* Relative paths are resolved against the config file's directory. */
	assert_true(c->tls.cert[0] == '/');
	assert_non_null(strstr(c->tls.cert, "/config/certs/server.pem"));
	assert_string_equal(c->tls.key, "/etc/ddlgate/server.key");
	assert_int_equal(c->tls.client, CFG_TLS_CLIENT_OPTIONAL); /* cert given */
	assert_int_equal(c->tls.backend, CFG_TLS_BACKEND_VERIFY_IDENTITY);
	assert_string_equal(c->tls.backend_name, "db.internal");

	assert_int_equal(c->admin.listen.port, 9400);
	assert_non_null(strstr(c->admin.token_file, "/config/admin.token"));

	assert_non_null(strstr(c->audit.path, "/config/audit/audit.jsonl"));
	assert_int_equal(c->audit.record, CFG_RECORD_WRITES);
	assert_int_equal(c->audit.fsync, CFG_FSYNC_INTERVAL);
	assert_int_equal(c->audit.fsync_interval_ms, 250);
	assert_int_equal(c->audit.on_failure, CFG_ON_FAILURE_ALLOW);
	assert_int_equal(c->audit.record_params, CFG_RECORD_PARAMS_VALUES);
	assert_int_equal(c->audit.rotate_bytes, 512ULL << 20);
	assert_string_equal(c->audit.instance, "gate-1");
	assert_true(c->audit.mirror);
	assert_string_equal(c->audit.mirror_table, "ops.ddl_audit");

	assert_int_equal(c->migration.users.n, 3);
	assert_true(rules_patterns_match(&c->migration.users, "DEPLOY_bot"));
	assert_true(rules_patterns_match(&c->migration.users, "flyway"));
	assert_false(rules_patterns_match(&c->migration.users, "app"));
	/* A lock_names line replaces the defaults. */
	assert_int_equal(c->migration.lock_names.n, 2);
	assert_false(rules_patterns_match(&c->migration.lock_names, "prisma_migrate"));
	assert_int_equal(c->migration.conflict, CFG_CONFLICT_HOLD);
	assert_int_equal(c->migration.scope, CFG_SCOPE_TABLE);
	assert_string_equal(c->migration.cluster_lock, "gate_lock");

	assert_int_equal(c->window.nschedule, 4);
	const struct cfg_schedule *w = c->window.schedule;
	assert_int_equal(w[0].days, 1 << 5);
	assert_int_equal(w[0].start_min, 120);
	assert_int_equal(w[0].end_min, 240);
	assert_int_equal(w[0].utc_offset_min, 0);
	assert_string_equal(w[0].text, "Sat 02:00-04:00 UTC");
	assert_int_equal(w[1].days, 0x1f);
	assert_int_equal(w[1].start_min, 23 * 60 + 30);
	assert_int_equal(w[1].end_min, 60);
	assert_int_equal(w[1].utc_offset_min, 120);
	assert_int_equal(w[2].days, (1 << 5) | (1 << 6));
	assert_int_equal(w[2].end_min, 1440);
	assert_int_equal(w[2].utc_offset_min, -330);
	assert_int_equal(w[3].days, (1 << 4) | (1 << 5) | (1 << 6) | 1);

	assert_string_equal(c->guard.user, "prober");
	assert_string_equal(c->guard.password, "s3cret; with semicolon");
	assert_int_equal(c->guard.large_table_bytes, 2ULL << 30);
	assert_int_equal(c->guard.max_lock_wait_s, 30);
	assert_int_equal(c->guard.long_transaction_ms, 0);
	assert_int_equal(c->guard.sample_values, CFG_SAMPLE_VALUES_MASK);

	assert_int_equal(c->nrules, 2);
	const struct rules_spec *r = cfg_rule_find(c, "unique-unguarded");
	assert_non_null(r);
	assert_int_equal(r->action, RULES_SPEC_WARN);
	assert_true(rules_patterns_match(&r->schemas, "app_main"));
	assert_int_equal(r->tables.n, 2);
	assert_true(rules_patterns_match(&r->users, "migrator"));
	r = cfg_rule_find(c, "no-grant-all");
	assert_non_null(r);
	assert_int_equal(r->action, RULES_SPEC_BLOCK); /* custom rules block by default */
	assert_string_equal(r->pattern, "^GRANT ALL");
	assert_string_equal(r->message, "use narrower grants");
	assert_null(cfg_rule_find(c, "drop-table"));
	cfg_free(c);
}

/* Config hands [rule] sections to the engine as they are: a scope written
 * with '#' and '\' means there what it means in [migration] lists. */
static void test_rule_scope_handoff(void **state)
{
	(void)state;
	char err[1024] = "";
	struct cfg *c = cfg_load(DATA_DIR "/good_rule_scope.ini", err, sizeof(err));
	if (!c)
		print_error("%s\n", err);
	assert_non_null(c);
	struct rules_engine *e = rules_engine_new(c->rules, c->nrules, err, sizeof(err));
	cfg_free(c); /* the engine keeps copies */
	assert_non_null(e);
	static const struct {
		const char *table;
		enum rules_action want;
	} cases[] = {
	    {"log_2024", RULES_ACTION_WARN}, {"LOG_7", RULES_ACTION_WARN},
	    {"log_x", RULES_ACTION_OFF},     {"log_", RULES_ACTION_OFF},
	    {"tmp_a", RULES_ACTION_WARN},    {"tmpxa", RULES_ACTION_OFF},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(rules_engine_action(e, "drop-table", NULL, "app", cases[i].table),
				 cases[i].want);
	rules_engine_free(e);
}

/* The shipped example must load and keep the quickstart's addresses. */
static void test_example(void **state)
{
	char err[1024];
	struct cfg *c = cfg_load("../../../config/ddlgate.example.ini", err, sizeof(err));
	if (!c)
		print_error("%s\n", err);
	assert_non_null(c);
	assert_int_equal(c->proxy.listen[0].port, 3307);
	assert_int_equal(c->proxy.backend.port, 3306);
	assert_int_equal(c->admin.listen.port, 9307);
	cfg_free(c);
}

static void test_missing_file(void **state)
{
	char err[256];
	assert_null(cfg_load(DATA_DIR "/does-not-exist.ini", err, sizeof(err)));
	assert_string_equal(err, DATA_DIR "/does-not-exist.ini: No such file or directory");
	assert_null(cfg_load(DATA_DIR, err, sizeof(err)));
	assert_string_equal(err, DATA_DIR ": cannot read: Is a directory");
}

static void test_sizes(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		uint64_t want;
	} cases[] = {
	    {"4096", true, 4096},
	    {"64M", true, 64ULL << 20},
	    {"64m", true, 64ULL << 20},
	    {"1G", true, 1ULL << 30},
	    {"2K", true, 2048},
	    {"16MiB", true, 16ULL << 20},
	    {"16MB", true, 16ULL << 20},
	    {"1T", true, 1ULL << 40},
	    {"0", true, 0},
	    {"64Q", false, 0},
	    {"", false, 0},
	    {"M", false, 0},
	    {"-1", false, 0},
	    {"1.5G", false, 0},
	    {"64 M", false, 0},
	    {"99999999999999999999", false, 0},
	    {"17179869184G", false, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0;
		bool ok = cfg_parse_size(cases[i].in, &v);
		if (ok != cases[i].ok || (ok && v != cases[i].want)) {
			print_error("cfg_parse_size(\"%s\") = %d, %llu\n", cases[i].in, ok,
				    (unsigned long long)v);
			fail();
		}
	}
}

/* Loads "[window]\nschedule = <line>" from a temporary file. */
static struct cfg *load_schedule(const char *line, char *err, size_t errlen)
{
	char path[] = "/tmp/ddlgate-cfg-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "[window]\nschedule = %s\n", line);
	fclose(f);
	struct cfg *c = cfg_load(path, err, errlen);
	unlink(path);
	return c;
}

static void test_schedules(void **state)
{
	enum { MON = 1, TUE = 2, WED = 4, THU = 8, FRI = 16, SAT = 32, SUN = 64 };
	static const struct {
		const char *line;
		bool ok;
		uint8_t days;
		uint16_t start, end;
		int16_t off;
	} cases[] = {
	    {"Sat 02:00-04:00 UTC", true, SAT, 120, 240, 0},
	    {"sat 02:00-04:00", true, SAT, 120, 240, 0},
	    {"Saturday 02:00-04:00 utc", true, SAT, 120, 240, 0},
	    {"Mon-Fri 22:00-02:00 +02:00", true, MON | TUE | WED | THU | FRI, 1320, 120, 120},
	    {"Fri-Mon 00:00-24:00 -05:30", true, FRI | SAT | SUN | MON, 0, 1440, -330},
	    {"Mon-Wed,Fri 09:15-09:45 UTC+01:00", true, MON | TUE | WED | FRI, 555, 585, 60},
	    {"Sat,Sun 10:00-11:00 GMT", true, SAT | SUN, 600, 660, 0},
	    {"daily 03:00-03:30 UTC", true, 0x7f, 180, 210, 0},
	    {"Sun-Sun 01:00-02:00", true, SUN, 60, 120, 0},
	    {"Sat 02:00-04:00 +14:00", true, SAT, 120, 240, 840},
	    {"Sat 02:00-04:00 +14:30", false, 0, 0, 0, 0},
	    {"Sat 2:00-4:00 UTC", false, 0, 0, 0, 0},
	    {"Sat 02:00 UTC", false, 0, 0, 0, 0},
	    {"Sat 24:00-02:00 UTC", false, 0, 0, 0, 0},
	    {"Sat 02:60-03:00 UTC", false, 0, 0, 0, 0},
	    {"Sat, 02:00-03:00 UTC", false, 0, 0, 0, 0},
	    {"Sat,,Sun 02:00-03:00 UTC", false, 0, 0, 0, 0},
	    {"Mon-Funday 02:00-03:00 UTC", false, 0, 0, 0, 0},
	    {"Sat 02:00-04:00 CET", false, 0, 0, 0, 0},
	    {"Sat 02:00-04:00 UTC extra", false, 0, 0, 0, 0},
	    {"02:00-04:00 UTC", false, 0, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512] = "";
		struct cfg *c = load_schedule(cases[i].line, err, sizeof(err));
		bool ok = c != NULL;
		if (ok != cases[i].ok) {
			print_error("\"%s\": want %s, got %s\n", cases[i].line,
				    cases[i].ok ? "ok" : "an error", c ? "ok" : err);
			fail();
		}
		if (c) {
			const struct cfg_schedule *w = &c->window.schedule[0];
			assert_int_equal(c->window.nschedule, 1);
			if (w->days != cases[i].days || w->start_min != cases[i].start ||
			    w->end_min != cases[i].end || w->utc_offset_min != cases[i].off) {
				print_error("\"%s\": got days %#x %u-%u off %d\n", cases[i].line,
					    w->days, w->start_min, w->end_min, w->utc_offset_min);
				fail();
			}
			assert_string_equal(w->text, cases[i].line);
		} else {
			/* Every refusal names the line and the key. */
			assert_non_null(strstr(err, ":2: [window] schedule: "));
		}
		cfg_free(c);
	}
}

static void test_reload_check(void **state)
{
	char err[256];
	struct cfg *a = cfg_defaults(), *b = cfg_defaults();
	assert_true(cfg_reload_check(a, b, err, sizeof(err)));
	b->proxy.max_connections = 10; /* reloadable */
	assert_true(cfg_reload_check(a, b, err, sizeof(err)));
	b->proxy.listen[0].port = 4000;
	assert_false(cfg_reload_check(a, b, err, sizeof(err)));
	assert_string_equal(err, "[proxy] listen cannot change on reload: restart ddlgate");
	cfg_free(a);
	cfg_free(b);
}

static void test_loopback(void **state)
{
	assert_true(cfg_addr_is_loopback("127.0.0.1"));
	assert_true(cfg_addr_is_loopback("127.8.9.10"));
	assert_true(cfg_addr_is_loopback("::1"));
	assert_true(cfg_addr_is_loopback("localhost"));
	assert_false(cfg_addr_is_loopback("0.0.0.0"));
	assert_false(cfg_addr_is_loopback("::"));
	assert_false(cfg_addr_is_loopback("10.0.0.1"));
	assert_false(cfg_addr_is_loopback("db.internal"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_data_files),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_example),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_rule_scope_handoff),
	    cmocka_unit_test(test_schedules),
	    cmocka_unit_test(test_reload_check),
	    cmocka_unit_test(test_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
