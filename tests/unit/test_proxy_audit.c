/* Unit tests of the audit log (proxy/audit*.c): record format, hash chain, rotation, read-back,
 * failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit_fixture.h"
#include "proxy/audit.h"

static void test_record_fields_and_chain(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "a.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	struct afx_count cc = AFX_COUNT_INIT;
	afx_write_n(a, 1, 9, &cc);
	struct audit_rec *r = audit_rec_new();
	const char sql[] = "CREATE USER bob IDENTIFIED BY 'hunter2'";
	audit_rec_conn(r, 77, "10.0.0.1:5555", "root", NULL);
	audit_rec_statement(r, STMT_DCL, sql, sizeof sql - 1);
	audit_rec_outcome(r, AUDIT_ERROR, 1396, 5);
	assert_true(audit_submit(a, r, afx_count_cb, &cc));
	audit_close(a);
	assert_int_equal(cc.ok, 10);
	assert_int_equal(cc.failed, 0);

	const char *files[] = {path};
	assert_int_equal(afx_check_chain(files, 1, 1, AUDIT_ZERO_HASH), 10);

	/* keys in the documented order, exactly */
	static const char *const keys[] = {
	    "seq",	   "ts",       "instance",  "conn_id", "client",     "user",
	    "schema",	   "session",  "migration", "kind",    "statement",  "fingerprint",
	    "objects",	   "decision", "rules",	    "outcome", "error_code", "affected_rows",
	    "duration_us", "prev",     "hash"};
	json_t *o = afx_load_line(path, 3);
	const char *key;
	json_t *v;
	size_t k = 0;
	json_object_foreach(o, key, v)
	{
		assert_true(k < sizeof keys / sizeof keys[0]);
		assert_string_equal(key, keys[k]);
		k++;
	}
	assert_int_equal(k, sizeof keys / sizeof keys[0]);
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 3);
	assert_string_equal(json_string_value(json_object_get(o, "ts")),
			    "2026-11-29T02:03:04.123459Z");
	assert_string_equal(json_string_value(json_object_get(o, "instance")), "test-instance");
	assert_string_equal(json_string_value(json_object_get(o, "client")), "127.0.0.1:40003");
	assert_string_equal(json_string_value(json_object_get(o, "session")), "app");
	assert_true(json_is_null(json_object_get(o, "migration")));
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "ddl");
	assert_string_equal(json_string_value(json_object_get(o, "decision")), "block");
	assert_string_equal(json_string_value(json_object_get(o, "outcome")), "not_sent");
	assert_true(json_is_null(json_object_get(o, "error_code")));
	assert_true(json_is_null(json_object_get(o, "affected_rows")));
	json_t *objs = json_object_get(o, "objects");
	assert_int_equal(json_array_size(objs), 2);
	assert_string_equal(json_string_value(json_array_get(objs, 0)), "shop.users");
	assert_string_equal(json_string_value(json_array_get(objs, 1)), "orders");
	json_t *rule = json_array_get(json_object_get(o, "rules"), 0);
	assert_string_equal(json_string_value(json_object_get(rule, "id")), "drop-column");
	assert_string_equal(json_string_value(json_object_get(rule, "guard")), "probe: 12 rows");
	const char *fp = json_string_value(json_object_get(o, "fingerprint"));
	assert_int_equal(strlen(fp), 16);
	json_decref(o);

	o = afx_load_line(path, 2);
	json_t *m = json_object_get(o, "migration");
	assert_string_equal(json_string_value(json_object_get(m, "tool")), "prisma");
	assert_string_equal(json_string_value(json_object_get(m, "name")), "20240101_init");
	assert_string_equal(json_string_value(json_object_get(o, "session")), "migration");
	assert_int_equal(json_integer_value(json_object_get(o, "affected_rows")), 2);
	json_decref(o);

	o = afx_load_line(path, 10);
	assert_string_equal(json_string_value(json_object_get(o, "statement")),
			    "CREATE USER bob IDENTIFIED BY '<redacted>'");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "dcl");
	assert_true(json_is_null(json_object_get(o, "schema")));
	assert_int_equal(json_integer_value(json_object_get(o, "error_code")), 1396);
	json_decref(o);
	afx_cfg_free(c);
}

/* A protected DDL's metadata-lock waits: "attempts" after "params", in the
 * order added, the blocker an object or null; the chain still verifies. */
static void test_attempts_field(void **state)
{
	(void)state;
	char path[512];
	afx_path(path, sizeof path, "att.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "i");
	char err[256];
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	struct afx_count cc = AFX_COUNT_INIT;
	struct audit_rec *r = audit_rec_new();
	const char sql[] = "ALTER TABLE t ADD COLUMN c INT";
	audit_rec_conn(r, 5, "127.0.0.1:1", "mig", "shop");
	audit_rec_statement(r, STMT_DDL, sql, sizeof sql - 1);
	audit_rec_params(r, 0);
	audit_rec_attempt(r, &(struct audit_attempt){.sent = false,
						     .waited_ms = 2100,
						     .retried = true,
						     .blocker_id = 42,
						     .blocker_user = "app",
						     .blocker_host = "10.0.0.9:4000",
						     .blocker_statement = "SELECT * FROM t",
						     .blocker_trx_age_ms = 12000,
						     .blocker_exact = true});
	audit_rec_attempt(r, &(struct audit_attempt){.sent = true,
						     .waited_ms = 1000,
						     .cancelled = true,
						     .blocker_id = 43,
						     .blocker_user = "rep",
						     .blocker_host = "h",
						     .blocker_trx_age_ms = -1,
						     .blocker_running = true});
	audit_rec_attempt(r, &(struct audit_attempt){.sent = true, .waited_ms = 3});
	audit_rec_outcome(r, AUDIT_OK, 0, 0);
	assert_true(audit_submit(a, r, afx_count_cb, &cc));
	audit_close(a);
	assert_int_equal(cc.ok, 1);
	const char *files[] = {path};
	assert_int_equal(afx_check_chain(files, 1, 1, AUDIT_ZERO_HASH), 1);

	json_t *o = afx_load_line(path, 1);
	const char *key, *prev = NULL, *after = NULL;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		if (prev && strcmp(prev, "attempts") == 0)
			after = key;
		if (strcmp(key, "attempts") == 0)
			assert_string_equal(prev, "params");
		prev = key;
	}
	assert_non_null(after);
	assert_string_equal(after, "prev");
	json_t *t = json_object_get(o, "attempts");
	assert_int_equal(json_array_size(t), 3);
	json_t *t0 = json_array_get(t, 0), *b0 = json_object_get(t0, "blocker");
	assert_true(json_is_false(json_object_get(t0, "sent")));
	assert_int_equal(json_integer_value(json_object_get(t0, "waited_ms")), 2100);
	assert_true(json_is_true(json_object_get(t0, "retried")));
	assert_int_equal(json_integer_value(json_object_get(b0, "conn_id")), 42);
	assert_string_equal(json_string_value(json_object_get(b0, "host")), "10.0.0.9:4000");
	assert_int_equal(json_integer_value(json_object_get(b0, "transaction_age_ms")), 12000);
	assert_string_equal(json_string_value(json_object_get(b0, "state")), "idle");
	assert_string_equal(json_string_value(json_object_get(b0, "statement")), "SELECT * FROM t");
	assert_true(json_is_true(json_object_get(b0, "exact")));
	json_t *b1 = json_object_get(json_array_get(t, 1), "blocker");
	assert_true(json_is_true(json_object_get(json_array_get(t, 1), "cancelled")));
	assert_true(json_is_null(json_object_get(b1, "transaction_age_ms")));
	assert_true(json_is_null(json_object_get(b1, "statement")));
	assert_string_equal(json_string_value(json_object_get(b1, "state")), "running");
	assert_true(json_is_null(json_object_get(json_array_get(t, 2), "blocker")));
	json_decref(o);
	afx_cfg_free(c);
}

/* Closing and opening again continues seq and prev from the file's last line. */
static void test_restart_read_back(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "b.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct afx_count cc = AFX_COUNT_INIT;
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	afx_write_n(a, 1, 3, &cc);
	char h3[65];
	assert_int_equal(audit_last(a, h3), 3);
	audit_close(a);

	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	char h[65];
	assert_int_equal(audit_last(a, h), 3);
	assert_string_equal(h, h3);
	afx_write_n(a, 4, 2, &cc);
	audit_close(a);
	const char *files[] = {path};
	assert_int_equal(afx_check_chain(files, 1, 1, AUDIT_ZERO_HASH), 5);

	/* a crash left half a line: it is cut, the chain goes on */
	afx_put(path, "a", "{\"seq\":6,\"ts\":\"2026-");
	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	afx_write_n(a, 6, 1, &cc);
	audit_close(a);
	assert_int_equal(afx_check_chain(files, 1, 1, AUDIT_ZERO_HASH), 6);
	assert_int_equal(cc.ok, 6);
	cc.ok = 0;

	/* a crash during the very first write: no newline at all */
	char p2[512];
	afx_path(p2, sizeof p2, "b2.jsonl");
	afx_put(p2, "w", "{\"seq\":1,\"ts");
	struct cfg *c2 = afx_cfg(p2, CFG_FSYNC_ALWAYS, 0, "test-instance");
	a = audit_open(c2, err, sizeof err);
	assert_non_null(a);
	afx_write_n(a, 1, 2, &cc);
	audit_close(a);
	const char *files2[] = {p2};
	assert_int_equal(afx_check_chain(files2, 1, 1, AUDIT_ZERO_HASH), 2);
	afx_cfg_free(c2);

	/* a last line that is not a record: refuse to fork the chain */
	afx_put(path, "a", "{\"seq\":7}\n");
	assert_null(audit_open(c, err, sizeof err));
	assert_non_null(strstr(err, "not a valid audit record"));
	afx_cfg_free(c);
}

/* Size rotation and logrotate-style reopen keep one chain across files, and
 * a restart with the current file gone continues from the newest rotated one. */
static void test_rotation(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "rot.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 1500, "test-instance");
	char err[256];
	struct afx_count cc = AFX_COUNT_INIT;
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	for (int i = 1; i <= 12; i++)
		afx_write_n(a, i, 1, &cc);
	struct audit_stats st;
	audit_get_stats(a, &st);
	assert_true(st.rotations >= 3);
	assert_int_equal(st.records, 12);
	audit_close(a);

	char *files[64];
	size_t n = afx_list_files("rot.jsonl.", files, 64);
	assert_int_equal(n, st.rotations);
	files[n++] = strdup(path);
	assert_int_equal(afx_check_chain((const char *const *)files, n, 1, AUDIT_ZERO_HASH), 12);
	for (size_t i = 0; i < n; i++)
		free(files[i]);

	/* logrotate moves the file away; SIGHUP reopens */
	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	char moved[600];
	snprintf(moved, sizeof moved, "%s-zz-logrotate", path);
	assert_int_equal(rename(path, moved), 0);
	audit_reopen(a);
	afx_write_n(a, 13, 2, &cc);
	audit_close(a);

	/* restart with the current file missing: newest rotated file wins */
	char moved2[600];
	snprintf(moved2, sizeof moved2, "%s-zzz-logrotate", path);
	assert_int_equal(rename(path, moved2), 0);
	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	assert_int_equal(audit_last(a, NULL), 14);
	afx_write_n(a, 15, 1, &cc);
	audit_close(a);

	n = afx_list_files("rot.jsonl.", files, 64);
	files[n++] = strdup(moved);
	files[n++] = strdup(moved2);
	files[n++] = strdup(path);
	assert_int_equal(afx_check_chain((const char *const *)files, n, 1, AUDIT_ZERO_HASH), 15);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	assert_int_equal(cc.ok, 15);
	assert_int_equal(cc.failed, 0);
	afx_cfg_free(c);
}

/* A log that cannot be written: callbacks say so, healthy() turns false,
 * and the first successful write turns it true again. */
static void test_write_failure_dev_full(void **state)
{
	if (access("/dev/full", W_OK) != 0)
		skip();
	struct cfg *c = afx_cfg("/dev/full", CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct afx_count cc = AFX_COUNT_INIT;
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	/* known from the start: the first DDL can be refused */
	assert_false(audit_healthy(a));
	afx_write_n(a, 1, 3, &cc);
	assert_int_equal(cc.failed, 3);
	assert_int_equal(cc.ok, 0);
	assert_false(audit_healthy(a));
	assert_int_equal(audit_last(a, NULL), 0);

	/* still failing: the once-a-second retry does not pretend */
	usleep(1300 * 1000);
	assert_false(audit_healthy(a));
	afx_write_n(a, 4, 1, &cc);
	assert_int_equal(cc.failed, 4);
	assert_false(audit_healthy(a));

	char path[512];
	afx_path(path, sizeof path, "recovered.jsonl");
	/* a write that failed half-way in an earlier life left a partial line */
	afx_put(path, "w", "{\"seq\":1,\"ts\":\"20");
	audit_set_path(a, path);
	assert_true(audit_healthy(a)); /* the reopen probed the new file */
	afx_write_n(a, 5, 2, &cc);
	assert_int_equal(cc.ok, 2);
	assert_true(audit_healthy(a));
	struct audit_stats st;
	audit_get_stats(a, &st);
	assert_int_equal(st.failed, 4);
	assert_int_equal(st.records, 2);
	audit_close(a);
	/* records that failed took no seq: the chain has no hole */
	const char *files[] = {path};
	assert_int_equal(afx_check_chain(files, 1, 1, AUDIT_ZERO_HASH), 2);
	afx_cfg_free(c);
}

/* An unwritable directory: open fails at start-up with a message. */
static void test_open_errors(void **state)
{
	struct cfg *c =
	    afx_cfg("/nonexistent-dir/x/audit.jsonl", CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256] = "";
	assert_null(audit_open(c, err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent-dir/x/audit.jsonl"));
	free(c->audit.path);
	c->audit.path = NULL;
	assert_null(audit_open(c, err, sizeof err));
	assert_non_null(strstr(err, "path"));
	afx_cfg_free(c);
}

/* fsync = interval: callbacks after write, data reaches the file. */
static void test_interval_mode(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "iv.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_INTERVAL, 0, "test-instance");
	char err[256];
	struct afx_count cc = AFX_COUNT_INIT;
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	afx_write_n(a, 1, 50, &cc);
	usleep(120 * 1000); /* let the interval fsync run */
	afx_write_n(a, 51, 50, &cc);
	audit_close(a);
	assert_int_equal(cc.ok, 100);
	const char *files[] = {path};
	assert_int_equal(afx_check_chain(files, 1, 1, AUDIT_ZERO_HASH), 100);
	afx_cfg_free(c);
}

/* Bytes that are not UTF-8 still give a valid JSON record. */
static void test_binary_statement(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "bin.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	struct audit_rec *r = audit_rec_new();
	const char sql[] = "ALTER TABLE t COMMENT '\xff\xfe\0\xc3\xa9\"\\'";
	audit_rec_conn(r, 1, "c:1", "u\xff", "s");
	audit_rec_statement(r, STMT_DDL, sql, sizeof sql - 1);
	assert_true(audit_submit(a, r, NULL, NULL));
	audit_close(a);
	const char *files[] = {path};
	assert_int_equal(afx_check_chain(files, 1, 1, AUDIT_ZERO_HASH), 1);
	json_t *o = afx_load_line(path, 1);
	json_t *js = json_object_get(o, "statement");
	const char *st = json_string_value(js);
	size_t sl = json_string_length(js);
	assert_non_null(memmem(st, sl, "\xef\xbf\xbd\xef\xbf\xbd\0\xc3\xa9\"\\'", 12));
	json_decref(o);
	afx_cfg_free(c);
}

/* Submitting from several threads at once: every record lands exactly once. */
struct th_arg {
	struct audit *a;
	struct afx_count *cc;
	int base;
};

static void *submit_thread(void *p)
{
	struct th_arg *t = p;
	for (int i = 0; i < 200; i++)
		(void)audit_submit(t->a, afx_sample_rec(t->base + i, "DROP TABLE x"), afx_count_cb,
				   t->cc);
	return NULL;
}

static void test_concurrent_submit(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "mt.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct afx_count cc = AFX_COUNT_INIT;
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	pthread_t th[4];
	struct th_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct th_arg){a, &cc, i * 1000};
		pthread_create(&th[i], NULL, submit_thread, &args[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	audit_close(a);
	assert_int_equal(cc.ok, 800);
	const char *files[] = {path};
	assert_int_equal(afx_check_chain(files, 1, 1, AUDIT_ZERO_HASH), 800);
	afx_cfg_free(c);
}

static void test_wants(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "w.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	static const struct {
		enum cfg_audit_record rec;
		enum stmt_kind kind;
		bool write, want;
	} cases[] = {
	    {CFG_RECORD_DDL, STMT_DDL, false, true},
	    {CFG_RECORD_DDL, STMT_DML, true, false},
	    {CFG_RECORD_DDL, STMT_DCL, false, true}, /* accounts and privileges */
	    {CFG_RECORD_WRITES, STMT_DML, true, true},
	    {CFG_RECORD_WRITES, STMT_DML, false, false},
	    {CFG_RECORD_WRITES, STMT_DCL, false, true},
	    {CFG_RECORD_WRITES, STMT_DDL, false, true},
	    {CFG_RECORD_WRITES, STMT_OTHER, false, false},
	    {CFG_RECORD_ALL, STMT_DML, false, true},
	    {CFG_RECORD_ALL, STMT_OTHER, false, true},
	    {CFG_RECORD_ALL, STMT_EMPTY, false, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		c->audit.record = cases[i].rec;
		struct audit *a = audit_open(c, err, sizeof err);
		assert_non_null(a);
		assert_int_equal(audit_wants(a, cases[i].kind, cases[i].write), cases[i].want);
		audit_close(a);
	}
	afx_cfg_free(c);
}

/* A parsed statement fills kind and objects, qualified with the session's schema. */
static void test_rec_stmt(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "st.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	struct stmt_name names[] = {{NULL, "old_t"}, {"other", "new_t"}};
	struct stmt_name inner_names[] = {{NULL, "in_t"}};
	struct stmt inner = {.kind = STMT_DDL, .objects = inner_names, .nobjects = 1};
	struct stmt st = {
	    .kind = STMT_DDL, .objects = names, .nobjects = 2, .inner = &inner, .ninner = 1};
	const char sql[] = "RENAME TABLE old_t TO other.new_t";
	struct audit_rec *r = audit_rec_new();
	audit_rec_stmt(r, &st, sql, sizeof sql - 1, "shop");
	assert_true(audit_submit(a, r, NULL, NULL));
	r = audit_rec_new();
	audit_rec_stmt(r, &inner, sql, sizeof sql - 1, NULL);
	assert_true(audit_submit(a, r, NULL, NULL));
	audit_close(a);
	json_t *o = afx_load_line(path, 1);
	json_t *objs = json_object_get(o, "objects");
	assert_int_equal(json_array_size(objs), 3);
	assert_string_equal(json_string_value(json_array_get(objs, 0)), "shop.old_t");
	assert_string_equal(json_string_value(json_array_get(objs, 1)), "other.new_t");
	assert_string_equal(json_string_value(json_array_get(objs, 2)), "shop.in_t");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "ddl");
	json_decref(o);
	o = afx_load_line(path, 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "objects"), 0)),
			    "in_t");
	json_decref(o);
	afx_cfg_free(c);
}

/* SIGHUP: new record mode, path and rotation size take effect; the chain goes on. */
static void test_reconfigure(void **state)
{
	char p1[512], p2[512];
	afx_path(p1, sizeof p1, "h1.jsonl");
	afx_path(p2, sizeof p2, "h2.jsonl");
	struct cfg *c = afx_cfg(p1, CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct afx_count cc = AFX_COUNT_INIT;
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	assert_false(audit_wants(a, STMT_DML, false));
	afx_write_n(a, 1, 2, &cc);
	struct audit_stats st;
	audit_get_stats(a, &st);
	uint64_t fsyncs = st.fsyncs;
	assert_true(fsyncs >= 1);
	free(c->audit.path);
	c->audit.path = strdup(p2);
	c->audit.record = CFG_RECORD_ALL;
	c->audit.rotate_bytes = 100;
	c->audit.fsync = CFG_FSYNC_INTERVAL;
	c->audit.fsync_interval_ms = 60000;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	audit_reconfigure(a, c);
	assert_true(audit_wants(a, STMT_DML, false));
	afx_write_n(a, 3, 1, &cc); /* the reopen comes first: lands in h2 */
	afx_write_n(a, 4, 1, &cc); /* h2 is over 100 bytes: rotated first */
	audit_get_stats(a, &st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(st.rotations, 1);
	/* fsync = interval now: the batches were not fsynced (unless the idle
	 * writer's once-a-second round came first on a slow machine) */
	if (t1.tv_sec - t0.tv_sec < 1)
		assert_int_equal(st.fsyncs, fsyncs);
	audit_close(a);
	char *rot[4];
	size_t n = afx_list_files("h2.jsonl.", rot, 4);
	assert_int_equal(n, 1);
	const char *files[] = {p1, rot[0], p2};
	assert_int_equal(afx_check_chain(files, 3, 1, AUDIT_ZERO_HASH), 4);
	free(rot[0]);
	afx_cfg_free(c);
}

/* The hash is SHA-256 over prev's hex and the line without its hash key:
 * changing any byte of the content is detected. */
static void test_check_line_detects_edits(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "e.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct afx_count cc = AFX_COUNT_INIT;
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	afx_write_n(a, 1, 1, &cc);
	audit_close(a);
	FILE *f = fopen(path, "r");
	char line[8192];
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	size_t len = strlen(line) - 1;
	uint64_t seq;
	char h[65];
	assert_int_equal(audit_check_line(line, len, AUDIT_ZERO_HASH, &seq, h), AUDIT_LINE_OK);
	char *p = strstr(line, "migrator");
	p[0] = 'M';
	assert_int_equal(audit_check_line(line, len, AUDIT_ZERO_HASH, &seq, h),
			 AUDIT_LINE_BAD_HASH);
	p[0] = 'm';
	char other[65];
	memcpy(other, AUDIT_ZERO_HASH, 65);
	other[0] = '1';
	assert_int_equal(audit_check_line(line, len, other, &seq, h), AUDIT_LINE_BAD_PREV);
	assert_int_equal(audit_check_line(line, len - 1, AUDIT_ZERO_HASH, &seq, h),
			 AUDIT_LINE_BAD_JSON);
	assert_int_equal(audit_check_line("{}", 2, AUDIT_ZERO_HASH, &seq, h), AUDIT_LINE_BAD_JSON);
	afx_cfg_free(c);
}

/* mirror = true without an account to mirror with is a start-up error. */
static void test_mirror_needs_account(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "m2.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	c->audit.mirror = true;
	char err[256] = "";
	assert_null(audit_open(c, err, sizeof err));
	assert_non_null(strstr(err, "[guard] user"));
	afx_cfg_free(c);
}

/* An intent that could not be written has no seq, and its outcome says
 * "intent": null; one written has its seq, which its outcome carries. */
static void test_intent_seq_and_failure(void **state)
{
	if (access("/dev/full", W_OK) != 0)
		skip();
	struct cfg *c = afx_cfg("/dev/full", CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	struct audit_rec *r = afx_sample_rec(1, "CREATE TABLE t (id INT)");
	struct audit_intent *lost = audit_rec_intent(r);
	assert_int_equal(audit_intent_seq(lost), 0);
	assert_true(audit_submit(a, r, NULL, NULL));
	audit_sync(a);
	assert_int_equal(audit_intent_seq(lost), 0); /* the write failed */

	char path[512];
	afx_path(path, sizeof path, "pair.jsonl");
	audit_set_path(a, path);
	r = afx_sample_rec(1, "CREATE TABLE t (id INT)");
	struct audit_intent *t = audit_rec_intent(r);
	assert_true(audit_submit(a, r, NULL, NULL));
	audit_sync(a);
	assert_int_equal(audit_intent_seq(t), 1);
	r = afx_sample_rec(1, "CREATE TABLE t (id INT)");
	audit_rec_answers(r, t);
	assert_true(audit_submit(a, r, NULL, NULL));
	r = afx_sample_rec(1, "CREATE TABLE t (id INT)");
	audit_rec_answers(r, lost);
	assert_true(audit_submit(a, r, NULL, NULL));
	audit_close(a);
	afx_cfg_free(c);

	json_t *o = afx_load_line(path, 1);
	assert_string_equal(json_string_value(json_object_get(o, "phase")), "intent");
	assert_string_equal(json_string_value(json_object_get(o, "outcome")), "pending");
	assert_null(json_object_get(o, "intent"));
	json_decref(o);
	o = afx_load_line(path, 2);
	assert_string_equal(json_string_value(json_object_get(o, "phase")), "outcome");
	assert_int_equal(json_integer_value(json_object_get(o, "intent")), 1);
	json_decref(o);
	o = afx_load_line(path, 3);
	assert_true(json_is_null(json_object_get(o, "intent")));
	json_decref(o);
}

/* The size estimate covers the line actually written (escapes, invalid
 * bytes, rules), and a cut record keeps the head of its statement. */
static void test_rec_estimate_and_cut(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "size.jsonl");
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "test-instance");
	char err[256];
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	static const char *const sqls[] = {
	    "CREATE TABLE t (id INT)",
	    "CREATE TABLE t (c VARCHAR(9) DEFAULT '\"\\\"\\\x01\x02\x1f') /* \xff\xfe */",
	};
	size_t est[3];
	for (size_t i = 0; i < 2; i++) {
		struct audit_rec *r = afx_sample_rec(0, sqls[i]); /* with a rule and a guard */
		est[i] = audit_rec_estimate(r);
		assert_true(audit_submit(a, r, NULL, NULL));
	}
	char big[20000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	struct audit_rec *r = afx_sample_rec(1, big);
	est[2] = audit_rec_estimate(r);
	assert_true(est[2] > sizeof big);
	audit_rec_cut(r, 100);
	assert_true(audit_submit(a, r, NULL, NULL));
	audit_close(a);
	afx_cfg_free(c);

	char *lines[3];
	assert_int_equal(afx_read_lines(path, lines, 3), 3);
	for (size_t i = 0; i < 2; i++)
		assert_true(strlen(lines[i]) + 1 <= est[i]);
	assert_true(strlen(lines[2]) < 2000); /* cut */
	assert_non_null(strstr(lines[2], "/* ddlgate: truncated, 19999 bytes */"));
	afx_free_lines(lines, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_record_fields_and_chain, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_restart_read_back, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_write_failure_dev_full, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_interval_mode, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_binary_statement, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_submit, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_wants, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_check_line_detects_edits, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_reconfigure, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_rec_stmt, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_intent_seq_and_failure, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_rec_estimate_and_cut, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_mirror_needs_account, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_attempts_field, afx_setup, afx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
