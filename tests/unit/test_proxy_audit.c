/* Unit tests for proxy/audit.c: record format, hash chain, rotation, read-back, failures. */
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
#include <mysql.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy/audit.h"
#include "proxy/metrics.h"

#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"

static char tmpdir[256];

static int setup(void **state)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tmpdir, sizeof tmpdir, "%s/ddlgate-audit-XXXXXX", base);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static void db_stop(void);

static int teardown(void **state)
{
	db_stop(); /* a failed mirror test must not leave its server running */
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(tmpdir);
	return 0;
}

static void path_in_tmp(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

/* A config for the writer: zeroed like cfg_defaults() would leave the audit
 * section, with the fields the test sets. */
static struct cfg *test_cfg(const char *path, enum cfg_fsync fs, uint64_t rotate)
{
	struct cfg *c = calloc(1, sizeof(*c));
	c->audit.path = strdup(path);
	c->audit.record = CFG_RECORD_DDL;
	c->audit.fsync = fs;
	c->audit.fsync_interval_ms = 50;
	c->audit.rotate_bytes = rotate;
	c->audit.instance = strdup("test-instance");
	return c;
}

static void free_cfg(struct cfg *c)
{
	free(c->audit.path);
	free(c->audit.instance);
	free(c);
}

struct cb_count {
	pthread_mutex_t mu;
	int ok, failed;
};

static void count_cb(void *arg, bool ok)
{
	struct cb_count *c = arg;
	pthread_mutex_lock(&c->mu);
	if (ok)
		c->ok++;
	else
		c->failed++;
	pthread_mutex_unlock(&c->mu);
}

static struct audit_rec *sample_rec(int i, const char *sql)
{
	struct audit_rec *r = audit_rec_new();
	char client[32];
	snprintf(client, sizeof client, "127.0.0.1:%d", 40000 + i);
	audit_rec_conn(r, (uint64_t)i, client, "migrator", "shop");
	audit_rec_session(r, i % 2 == 0, i % 2 == 0 ? "prisma" : NULL,
			  i % 2 == 0 ? "20240101_init" : NULL);
	audit_rec_statement(r, STMT_DDL, sql, strlen(sql));
	audit_rec_object(r, "shop", "users");
	audit_rec_object(r, NULL, "orders");
	audit_rec_decision(r, i % 3 == 0 ? AUDIT_BLOCK : AUDIT_ALLOW);
	if (i % 3 == 0)
		audit_rec_rule(r, "drop-column", "block", "drops data", "probe: 12 rows");
	audit_rec_outcome(r, i % 3 == 0 ? AUDIT_NOT_SENT : AUDIT_OK, 0, (uint64_t)i);
	audit_rec_timing(r, 1795917784123456 + i, 1500);
	return r;
}

/* Submits n sample records and waits until they are handled. */
static void write_n(struct audit *a, int from, int n, struct cb_count *cc)
{
	for (int i = from; i < from + n; i++)
		assert_true(
		    audit_submit(a, sample_rec(i, "ALTER TABLE users ADD c INT"), count_cb, cc));
	audit_sync(a);
}

/*
 * Checks the chain of the given files in order with audit_check_line():
 * seq runs first_seq.. without gaps, prev links each record to the one
 * before. Returns the number of records.
 */
static int check_chain(const char *const *files, size_t nfiles, uint64_t first_seq,
		       const char *first_prev)
{
	char prev[65];
	snprintf(prev, sizeof prev, "%s", first_prev);
	uint64_t want = first_seq;
	int n = 0;
	for (size_t f = 0; f < nfiles; f++) {
		FILE *fp = fopen(files[f], "r");
		assert_non_null(fp);
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		while ((len = getline(&line, &cap, fp)) > 0) {
			assert_int_equal(line[len - 1], '\n');
			uint64_t seq = 0;
			char hash[65];
			assert_int_equal(audit_check_line(line, (size_t)len - 1, prev, &seq, hash),
					 AUDIT_LINE_OK);
			assert_int_equal(seq, want);
			want++;
			memcpy(prev, hash, 65);
			n++;
		}
		free(line);
		fclose(fp);
	}
	return n;
}

static json_t *load_line(const char *path, int lineno)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	char *line = NULL;
	size_t cap = 0;
	json_t *o = NULL;
	for (int i = 1; getline(&line, &cap, fp) > 0; i++)
		if (i == lineno) {
			o = json_loads(line, JSON_ALLOW_NUL, NULL);
			break;
		}
	free(line);
	fclose(fp);
	assert_non_null(o);
	return o;
}

static void test_record_fields_and_chain(void **state)
{
	char path[512];
	path_in_tmp(path, sizeof path, "a.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 0);
	char err[256];
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	struct cb_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	write_n(a, 1, 9, &cc);
	struct audit_rec *r = audit_rec_new();
	const char sql[] = "CREATE USER bob IDENTIFIED BY 'hunter2'";
	audit_rec_conn(r, 77, "10.0.0.1:5555", "root", NULL);
	audit_rec_statement(r, STMT_DCL, sql, sizeof sql - 1);
	audit_rec_outcome(r, AUDIT_ERROR, 1396, 5);
	assert_true(audit_submit(a, r, count_cb, &cc));
	audit_close(a);
	assert_int_equal(cc.ok, 10);
	assert_int_equal(cc.failed, 0);

	const char *files[] = {path};
	assert_int_equal(check_chain(files, 1, 1, ZERO64), 10);

	/* keys in the documented order, exactly */
	static const char *const keys[] = {
	    "seq",	   "ts",       "instance",  "conn_id", "client",     "user",
	    "schema",	   "session",  "migration", "kind",    "statement",  "fingerprint",
	    "objects",	   "decision", "rules",	    "outcome", "error_code", "affected_rows",
	    "duration_us", "prev",     "hash"};
	json_t *o = load_line(path, 3);
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

	o = load_line(path, 2);
	json_t *m = json_object_get(o, "migration");
	assert_string_equal(json_string_value(json_object_get(m, "tool")), "prisma");
	assert_string_equal(json_string_value(json_object_get(m, "name")), "20240101_init");
	assert_string_equal(json_string_value(json_object_get(o, "session")), "migration");
	assert_int_equal(json_integer_value(json_object_get(o, "affected_rows")), 2);
	json_decref(o);

	o = load_line(path, 10);
	assert_string_equal(json_string_value(json_object_get(o, "statement")),
			    "CREATE USER bob IDENTIFIED BY '<redacted>'");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "dcl");
	assert_true(json_is_null(json_object_get(o, "schema")));
	assert_int_equal(json_integer_value(json_object_get(o, "error_code")), 1396);
	json_decref(o);
	free_cfg(c);
}

/* Closing and opening again continues seq and prev from the file's last line. */
static void test_restart_read_back(void **state)
{
	char path[512];
	path_in_tmp(path, sizeof path, "b.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 0);
	char err[256];
	struct cb_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	write_n(a, 1, 3, &cc);
	char h3[65];
	assert_int_equal(audit_last(a, h3), 3);
	audit_close(a);

	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	char h[65];
	assert_int_equal(audit_last(a, h), 3);
	assert_string_equal(h, h3);
	write_n(a, 4, 2, &cc);
	audit_close(a);
	const char *files[] = {path};
	assert_int_equal(check_chain(files, 1, 1, ZERO64), 5);

	/* a crash left half a line: it is cut, the chain goes on */
	FILE *f = fopen(path, "a");
	fputs("{\"seq\":6,\"ts\":\"2026-", f);
	fclose(f);
	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	write_n(a, 6, 1, &cc);
	audit_close(a);
	assert_int_equal(check_chain(files, 1, 1, ZERO64), 6);
	assert_int_equal(cc.ok, 6);
	cc.ok = 0;

	/* a crash during the very first write: no newline at all */
	char p2[512];
	path_in_tmp(p2, sizeof p2, "b2.jsonl");
	f = fopen(p2, "w");
	fputs("{\"seq\":1,\"ts", f);
	fclose(f);
	struct cfg *c2 = test_cfg(p2, CFG_FSYNC_ALWAYS, 0);
	a = audit_open(c2, err, sizeof err);
	assert_non_null(a);
	write_n(a, 1, 2, &cc);
	audit_close(a);
	const char *files2[] = {p2};
	assert_int_equal(check_chain(files2, 1, 1, ZERO64), 2);
	free_cfg(c2);

	/* a last line that is not a record: refuse to fork the chain */
	f = fopen(path, "a");
	fputs("{\"seq\":7}\n", f);
	fclose(f);
	assert_null(audit_open(c, err, sizeof err));
	assert_non_null(strstr(err, "not a valid audit record"));
	free_cfg(c);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Lists tmpdir entries starting with prefix, sorted (rotated names sort in time order). */
static size_t list_files(const char *prefix, char **out, size_t max)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	size_t n = 0;
	while ((de = readdir(d)) != NULL && n < max) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
		out[n++] = strdup(p);
	}
	closedir(d);
	qsort(out, n, sizeof(*out), cmp_str);
	return n;
}

/* Size rotation and logrotate-style reopen keep one chain across files, and
 * a restart with the current file gone continues from the newest rotated one. */
static void test_rotation(void **state)
{
	char path[512];
	path_in_tmp(path, sizeof path, "rot.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 1500);
	char err[256];
	struct cb_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	for (int i = 1; i <= 12; i++)
		write_n(a, i, 1, &cc);
	struct audit_stats st;
	audit_get_stats(a, &st);
	assert_true(st.rotations >= 3);
	assert_int_equal(st.records, 12);
	audit_close(a);

	char *files[64];
	size_t n = list_files("rot.jsonl.", files, 64);
	assert_int_equal(n, st.rotations);
	files[n++] = strdup(path);
	assert_int_equal(check_chain((const char *const *)files, n, 1, ZERO64), 12);
	for (size_t i = 0; i < n; i++)
		free(files[i]);

	/* logrotate moves the file away; SIGHUP reopens */
	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	char moved[600];
	snprintf(moved, sizeof moved, "%s-zz-logrotate", path);
	assert_int_equal(rename(path, moved), 0);
	audit_reopen(a);
	write_n(a, 13, 2, &cc);
	audit_close(a);

	/* restart with the current file missing: newest rotated file wins */
	char moved2[600];
	snprintf(moved2, sizeof moved2, "%s-zzz-logrotate", path);
	assert_int_equal(rename(path, moved2), 0);
	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	assert_int_equal(audit_last(a, NULL), 14);
	write_n(a, 15, 1, &cc);
	audit_close(a);

	n = list_files("rot.jsonl.", files, 64);
	files[n++] = strdup(moved);
	files[n++] = strdup(moved2);
	files[n++] = strdup(path);
	assert_int_equal(check_chain((const char *const *)files, n, 1, ZERO64), 15);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	assert_int_equal(cc.ok, 15);
	assert_int_equal(cc.failed, 0);
	free_cfg(c);
}

/* A log that cannot be written: callbacks say so, healthy() turns false,
 * and the first successful write turns it true again. */
static void test_write_failure_dev_full(void **state)
{
	if (access("/dev/full", W_OK) != 0)
		skip();
	struct cfg *c = test_cfg("/dev/full", CFG_FSYNC_ALWAYS, 0);
	char err[256];
	struct cb_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	/* known from the start: the first DDL can be refused */
	assert_false(audit_healthy(a));
	write_n(a, 1, 3, &cc);
	assert_int_equal(cc.failed, 3);
	assert_int_equal(cc.ok, 0);
	assert_false(audit_healthy(a));
	assert_int_equal(audit_last(a, NULL), 0);

	/* still failing: the once-a-second retry does not pretend */
	usleep(1300 * 1000);
	assert_false(audit_healthy(a));
	write_n(a, 4, 1, &cc);
	assert_int_equal(cc.failed, 4);
	assert_false(audit_healthy(a));

	char path[512];
	path_in_tmp(path, sizeof path, "recovered.jsonl");
	/* a write that failed half-way in an earlier life left a partial line */
	FILE *f = fopen(path, "w");
	fputs("{\"seq\":1,\"ts\":\"20", f);
	fclose(f);
	audit_set_path(a, path);
	assert_true(audit_healthy(a)); /* the reopen probed the new file */
	write_n(a, 5, 2, &cc);
	assert_int_equal(cc.ok, 2);
	assert_true(audit_healthy(a));
	struct audit_stats st;
	audit_get_stats(a, &st);
	assert_int_equal(st.failed, 4);
	assert_int_equal(st.records, 2);
	audit_close(a);
	/* records that failed took no seq: the chain has no hole */
	const char *files[] = {path};
	assert_int_equal(check_chain(files, 1, 1, ZERO64), 2);
	free_cfg(c);
}

/* An unwritable directory: open fails at start-up with a message. */
static void test_open_errors(void **state)
{
	struct cfg *c = test_cfg("/nonexistent-dir/x/audit.jsonl", CFG_FSYNC_ALWAYS, 0);
	char err[256] = "";
	assert_null(audit_open(c, err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent-dir/x/audit.jsonl"));
	free(c->audit.path);
	c->audit.path = NULL;
	assert_null(audit_open(c, err, sizeof err));
	assert_non_null(strstr(err, "path"));
	free_cfg(c);
}

/* fsync = interval: callbacks after write, data reaches the file. */
static void test_interval_mode(void **state)
{
	char path[512];
	path_in_tmp(path, sizeof path, "iv.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_INTERVAL, 0);
	char err[256];
	struct cb_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	write_n(a, 1, 50, &cc);
	usleep(120 * 1000); /* let the interval fsync run */
	write_n(a, 51, 50, &cc);
	audit_close(a);
	assert_int_equal(cc.ok, 100);
	const char *files[] = {path};
	assert_int_equal(check_chain(files, 1, 1, ZERO64), 100);
	free_cfg(c);
}

/* Bytes that are not UTF-8 still give a valid JSON record. */
static void test_binary_statement(void **state)
{
	char path[512];
	path_in_tmp(path, sizeof path, "bin.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 0);
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
	assert_int_equal(check_chain(files, 1, 1, ZERO64), 1);
	json_t *o = load_line(path, 1);
	json_t *js = json_object_get(o, "statement");
	const char *st = json_string_value(js);
	size_t sl = json_string_length(js);
	assert_non_null(memmem(st, sl, "\xef\xbf\xbd\xef\xbf\xbd\0\xc3\xa9\"\\'", 12));
	json_decref(o);
	free_cfg(c);
}

/* Submitting from several threads at once: every record lands exactly once. */
struct th_arg {
	struct audit *a;
	struct cb_count *cc;
	int base;
};

static void *submit_thread(void *p)
{
	struct th_arg *t = p;
	for (int i = 0; i < 200; i++)
		(void)audit_submit(t->a, sample_rec(t->base + i, "DROP TABLE x"), count_cb, t->cc);
	return NULL;
}

static void test_concurrent_submit(void **state)
{
	char path[512];
	path_in_tmp(path, sizeof path, "mt.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 0);
	char err[256];
	struct cb_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
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
	assert_int_equal(check_chain(files, 1, 1, ZERO64), 800);
	free_cfg(c);
}

static void test_wants(void **state)
{
	char path[512];
	path_in_tmp(path, sizeof path, "w.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 0);
	char err[256];
	static const struct {
		enum cfg_audit_record rec;
		enum stmt_kind kind;
		bool write, want;
	} cases[] = {
	    {CFG_RECORD_DDL, STMT_DDL, false, true},
	    {CFG_RECORD_DDL, STMT_DML, true, false},
	    {CFG_RECORD_DDL, STMT_DCL, false, false},
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
	free_cfg(c);
}

/* A parsed statement fills kind and objects, qualified with the session's schema. */
static void test_rec_stmt(void **state)
{
	char path[512];
	path_in_tmp(path, sizeof path, "st.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 0);
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
	json_t *o = load_line(path, 1);
	json_t *objs = json_object_get(o, "objects");
	assert_int_equal(json_array_size(objs), 3);
	assert_string_equal(json_string_value(json_array_get(objs, 0)), "shop.old_t");
	assert_string_equal(json_string_value(json_array_get(objs, 1)), "other.new_t");
	assert_string_equal(json_string_value(json_array_get(objs, 2)), "shop.in_t");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "ddl");
	json_decref(o);
	o = load_line(path, 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "objects"), 0)),
			    "in_t");
	json_decref(o);
	free_cfg(c);
}

/* SIGHUP: new record mode, path and rotation size take effect; the chain goes on. */
static void test_reconfigure(void **state)
{
	char p1[512], p2[512];
	path_in_tmp(p1, sizeof p1, "h1.jsonl");
	path_in_tmp(p2, sizeof p2, "h2.jsonl");
	struct cfg *c = test_cfg(p1, CFG_FSYNC_ALWAYS, 0);
	char err[256];
	struct cb_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	assert_false(audit_wants(a, STMT_DML, false));
	write_n(a, 1, 2, &cc);
	free(c->audit.path);
	c->audit.path = strdup(p2);
	c->audit.record = CFG_RECORD_ALL;
	c->audit.rotate_bytes = 100;
	audit_reconfigure(a, c);
	assert_true(audit_wants(a, STMT_DML, false));
	write_n(a, 3, 1, &cc); /* the reopen comes first: lands in h2 */
	write_n(a, 4, 1, &cc); /* h2 is over 100 bytes: rotated first */
	struct audit_stats st;
	audit_get_stats(a, &st);
	assert_int_equal(st.rotations, 1);
	audit_close(a);
	char *rot[4];
	size_t n = list_files("h2.jsonl.", rot, 4);
	assert_int_equal(n, 1);
	const char *files[] = {p1, rot[0], p2};
	assert_int_equal(check_chain(files, 3, 1, ZERO64), 4);
	free(rot[0]);
	free_cfg(c);
}

/* The hash is SHA-256 over prev's hex and the line without its hash key:
 * changing any byte of the content is detected. */
static void test_check_line_detects_edits(void **state)
{
	char path[512];
	path_in_tmp(path, sizeof path, "e.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 0);
	char err[256];
	struct cb_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	write_n(a, 1, 1, &cc);
	audit_close(a);
	FILE *f = fopen(path, "r");
	char line[8192];
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	size_t len = strlen(line) - 1;
	uint64_t seq;
	char h[65];
	assert_int_equal(audit_check_line(line, len, ZERO64, &seq, h), AUDIT_LINE_OK);
	char *p = strstr(line, "migrator");
	p[0] = 'M';
	assert_int_equal(audit_check_line(line, len, ZERO64, &seq, h), AUDIT_LINE_BAD_HASH);
	p[0] = 'm';
	char other[65];
	memcpy(other, ZERO64, 65);
	other[0] = '1';
	assert_int_equal(audit_check_line(line, len, other, &seq, h), AUDIT_LINE_BAD_PREV);
	assert_int_equal(audit_check_line(line, len - 1, ZERO64, &seq, h), AUDIT_LINE_BAD_JSON);
	assert_int_equal(audit_check_line("{}", 2, ZERO64, &seq, h), AUDIT_LINE_BAD_JSON);
	free_cfg(c);
}

/* ---- the backend mirror, against a throw-away MariaDB ---- */

static char dbdir[256];
static char dbsock[300];
static pid_t dbpid;

static MYSQL *db_connect(const char *user, const char *pass)
{
	MYSQL *c = mysql_init(NULL);
	unsigned t = 1;
	mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &t);
	if (!mysql_real_connect(c, NULL, user, pass, NULL, 0, dbsock, 0)) {
		mysql_close(c);
		return NULL;
	}
	return c;
}

/* Installs and starts mariadbd on a unix socket in a temporary directory
 * (no TCP) and creates the account the mirror uses. Returns false when no
 * MariaDB server can be started here (the test is then skipped). */
static bool db_start(void)
{
	if (access("/usr/sbin/mariadbd", X_OK) != 0 || geteuid() != 0)
		return false;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dbdir, sizeof dbdir, "%s/ddlgate-mirror-XXXXXX", base);
	if (!mkdtemp(dbdir))
		return false;
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
		 "mariadb-install-db --no-defaults --auth-root-authentication-method=normal "
		 "--datadir=%s/data --user=root --skip-test-db >%s/install.log 2>&1",
		 dbdir, dbdir);
	if (system(cmd) != 0)
		return false;
	snprintf(dbsock, sizeof dbsock, "%s/s.sock", dbdir);
	char datadir[300], pidf[300], logf[300], sockarg[320];
	snprintf(datadir, sizeof datadir, "--datadir=%s/data", dbdir);
	snprintf(pidf, sizeof pidf, "--pid-file=%s/m.pid", dbdir);
	snprintf(logf, sizeof logf, "--log-error=%s/error.log", dbdir);
	snprintf(sockarg, sizeof sockarg, "--socket=%s", dbsock);
	dbpid = fork();
	if (dbpid == 0) {
		execl("/usr/sbin/mariadbd", "mariadbd", "--no-defaults", datadir, sockarg, pidf,
		      logf, "--skip-networking", "--user=root", "--skip-log-bin",
		      "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=16M",
		      "--innodb-flush-log-at-trx-commit=2", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 600; i++) {
		MYSQL *c = db_connect("root", "");
		if (c) {
			static const char *const setup_sql[] = {
			    "CREATE USER 'mirror'@'localhost' IDENTIFIED BY 'mpw'",
			    "GRANT INSERT, CREATE, SELECT ON `ddlgate`.* TO 'mirror'@'localhost'",
			};
			bool ok = true;
			for (size_t k = 0; k < 2; k++)
				ok &= mysql_query(c, setup_sql[k]) == 0;
			mysql_close(c);
			return ok;
		}
		if (waitpid(dbpid, NULL, WNOHANG) == dbpid) {
			dbpid = 0;
			return false;
		}
		usleep(100 * 1000);
	}
	return false;
}

static void db_stop(void)
{
	if (dbpid > 0) {
		kill(dbpid, SIGTERM);
		waitpid(dbpid, NULL, 0);
		dbpid = 0;
	}
	if (dbdir[0] && strstr(dbdir, "ddlgate-mirror-")) {
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dbdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dbdir);
	}
	dbdir[0] = '\0';
}

static uint64_t db_count(MYSQL *c, const char *sql)
{
	if (mysql_query(c, sql) != 0)
		fail_msg("%s: %s", sql, mysql_error(c));
	MYSQL_RES *res = mysql_store_result(c);
	MYSQL_ROW row = mysql_fetch_row(res);
	uint64_t n = row && row[0] ? strtoull(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	return n;
}

/* Every line reaches the table exactly once, byte for byte; a backend that
 * is down costs the file nothing. */
static void test_mirror(void **state)
{
	if (!db_start()) {
		db_stop();
		skip();
	}
	char path[512];
	path_in_tmp(path, sizeof path, "mirror.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 0);
	c->audit.mirror = true;
	c->audit.mirror_table = strdup("ddlgate.audit");
	c->proxy.backend_socket = strdup(dbsock);
	c->guard.user = strdup("mirror");
	c->guard.password = strdup("mpw");
	char err[256];
	struct cb_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	write_n(a, 1, 150, &cc);
	for (int i = 151; i <= 250; i++)
		assert_true(
		    audit_submit(a, sample_rec(i, "ALTER TABLE t ADD c INT"), count_cb, &cc));
	audit_close(a);
	assert_int_equal(cc.ok, 250);

	/* a restart mirrors on: no duplicates, seq continues */
	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	write_n(a, 251, 5, &cc);
	struct audit_stats st;
	usleep(300 * 1000);
	audit_get_stats(a, &st);
	audit_close(a);

	MYSQL *db = db_connect("root", "");
	assert_non_null(db);
	assert_int_equal(db_count(db, "SELECT COUNT(*) FROM ddlgate.audit"), 255);
	assert_int_equal(db_count(db, "SELECT COUNT(DISTINCT seq) FROM ddlgate.audit "
				      "WHERE instance = 'test-instance'"),
			 255);
	assert_int_equal(db_count(db, "SELECT MAX(seq) FROM ddlgate.audit"), 255);
	assert_int_equal(db_count(db, "SELECT COUNT(*) FROM ddlgate.audit WHERE "
				      "ts = '2026-11-29 02:03:04.123459' AND kind = 'ddl'"),
			 1);
	/* the stored line is the file's line */
	FILE *f = fopen(path, "r");
	char line[8192];
	for (int i = 0; i < 7; i++)
		assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	assert_int_equal(mysql_query(db, "SELECT record, hash FROM ddlgate.audit WHERE seq = 7"),
			 0);
	MYSQL_RES *res = mysql_store_result(db);
	MYSQL_ROW row = mysql_fetch_row(res);
	assert_non_null(row);
	assert_string_equal(row[0], line);
	assert_non_null(strstr(line, row[1]));
	mysql_free_result(res);
	mysql_close(db);

	/* backend gone: the file and the callbacks do not notice, close is bounded */
	db_stop();
	a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	write_n(a, 256, 3, &cc);
	assert_int_equal(cc.ok, 258);
	assert_true(audit_healthy(a));
	audit_close(a);
	const char *files[] = {path};
	assert_int_equal(check_chain(files, 1, 1, ZERO64), 258);
	free(c->audit.mirror_table);
	free(c->proxy.backend_socket);
	free(c->guard.user);
	free(c->guard.password);
	free_cfg(c);
}

/* The value of the sample line "series VALUE" in the current /metrics text, or -1. */
static long long metric(const char *series)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	metrics_render(f);
	fclose(f);
	long long v = -1;
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, series, n) && p[n] == ' ') {
			v = strtoll(p + n + 1, NULL, 10);
			break;
		}
	free(text);
	return v;
}

/* Every record written is observed in the write-duration histogram, and
 * the writer's own counters reach /metrics while the log is open. */
static void test_metrics(void **state)
{
	static const struct {
		const char *series;
		long long delta; /* expected change after 7 records; -1: grew */
	} rows[] = {
	    {"ddlgate_audit_write_duration_seconds_count", 7},
	    {"ddlgate_audit_records_total", 7},
	    {"ddlgate_audit_records_failed_total", 0},
	    {"ddlgate_audit_fsyncs_total", -1},
	    {"ddlgate_audit_queue_depth", 0},
	    {"ddlgate_audit_healthy", 1},
	    {"ddlgate_guard_probes_total", 0},
	};
	char path[512];
	path_in_tmp(path, sizeof path, "metrics.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 0);
	char err[256];
	struct cb_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	long long before[sizeof rows / sizeof rows[0]];
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		before[i] = metric(rows[i].series);
	assert_int_equal(metric("ddlgate_audit_records_total"), -1); /* no log open */
	struct audit *a = audit_open(c, err, sizeof err);
	assert_non_null(a);
	write_n(a, 1, 7, &cc);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		long long now = metric(rows[i].series), was = before[i] < 0 ? 0 : before[i];
		if (rows[i].delta < 0)
			assert_true(now > was);
		else if (strstr(rows[i].series, "_total") || strstr(rows[i].series, "_count"))
			assert_int_equal(now - was, rows[i].delta);
		else
			assert_int_equal(now, rows[i].delta);
	}
	struct audit_stats st;
	audit_get_stats(a, &st);
	assert_int_equal(st.records, 7);
	assert_int_equal(metric("ddlgate_audit_written_bytes_total"), (long long)st.bytes);
	/* fsync = always: one fsync per batch */
	assert_int_equal(metric("ddlgate_audit_fsyncs_total"),
			 metric("ddlgate_audit_batches_total"));
	audit_close(a);
	assert_int_equal(metric("ddlgate_audit_records_total"), -1);
	free_cfg(c);
}

/* mirror = true without an account to mirror with is a start-up error. */
static void test_mirror_needs_account(void **state)
{
	char path[512];
	path_in_tmp(path, sizeof path, "m2.jsonl");
	struct cfg *c = test_cfg(path, CFG_FSYNC_ALWAYS, 0);
	c->audit.mirror = true;
	char err[256] = "";
	assert_null(audit_open(c, err, sizeof err));
	assert_non_null(strstr(err, "[guard] user"));
	free_cfg(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_record_fields_and_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_read_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_failure_dev_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_interval_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary_statement, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_submit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wants, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check_line_detects_edits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconfigure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rec_stmt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mirror_needs_account, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mirror, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
