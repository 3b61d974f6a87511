/* Unit tests of the audit writer's per-thread lanes: seq follows submission order across threads,
 * each thread's records stay in order, nothing is lost, the chain holds, reused records start
 * empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "audit_fixture.h"
#include "proxy/audit.h"

#define THREADS 4

static struct audit *open_log(const char *path, enum cfg_fsync fs)
{
	struct cfg *c = afx_cfg(path, fs, 0, "lanes");
	char err[256];
	unlink(path);
	struct audit *a = audit_open(c, err, sizeof err);
	afx_cfg_free(c);
	assert_non_null(a);
	return a;
}

/* A record that says who submitted it (conn_id) and its number (affected_rows). */
static struct audit_rec *numbered(uint64_t who, uint64_t n)
{
	struct audit_rec *r = audit_rec_new();
	audit_rec_conn(r, who, "127.0.0.1:1", "u", "s");
	audit_rec_statement(r, STMT_DML, "SELECT 1", 8);
	audit_rec_outcome(r, AUDIT_OK, 0, n);
	return r;
}

static atomic_uint callbacks;

static void count_cb(void *arg, bool ok)
{
	if (ok)
		atomic_fetch_add(&callbacks, 1);
}

/*
 * Reads path back: checks the chain (seq 1..n, each prev the previous
 * hash) and fills who[] and num[] by seq. Returns the number of records.
 */
static size_t read_back(const char *path, uint64_t *who, uint64_t *num, size_t max)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *line = NULL;
	size_t cap = 0, n = 0;
	char prev[AUDIT_HASH_HEX + 1] = AUDIT_ZERO_HASH;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		uint64_t seq = 0;
		char hash[AUDIT_HASH_HEX + 1];
		assert_int_equal(audit_check_line(line, (size_t)len - 1, prev, &seq, hash),
				 AUDIT_LINE_OK);
		memcpy(prev, hash, sizeof prev);
		assert_int_equal(seq, n + 1);
		json_t *o = json_loadb(line, (size_t)len, 0, NULL);
		assert_non_null(o);
		assert_true(n < max);
		who[n] = (uint64_t)json_integer_value(json_object_get(o, "conn_id"));
		num[n] = (uint64_t)json_integer_value(json_object_get(o, "affected_rows"));
		json_decref(o);
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

/* ---- turns: the threads submit one after the other, in a known order ---- */

#define TURNS 600

struct turn_arg {
	struct audit *a;
	atomic_uint *turn;
	unsigned me;
};

static void *take_turns(void *p)
{
	struct turn_arg *t = p;
	for (;;) {
		unsigned n = atomic_load(t->turn);
		if (n >= TURNS)
			return NULL;
		if (n % THREADS != t->me) {
			sched_yield();
			continue;
		}
		/* every fifth record waits for durability, like a DDL's */
		bool cb = n % 5 == 0;
		assert_true(audit_submit(t->a, numbered(t->me, n), cb ? count_cb : NULL, NULL));
		atomic_store(t->turn, n + 1);
	}
}

static void test_seq_follows_submission_order(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "lanes.jsonl");
	struct audit *a = open_log(path, CFG_FSYNC_INTERVAL);
	atomic_uint turn = 0;
	atomic_store(&callbacks, 0);
	pthread_t th[THREADS];
	struct turn_arg args[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		args[i] = (struct turn_arg){a, &turn, i};
		assert_int_equal(pthread_create(&th[i], NULL, take_turns, &args[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	audit_sync(a);
	assert_int_equal(atomic_load(&callbacks), TURNS / 5);
	audit_close(a);

	static uint64_t who[TURNS], num[TURNS];
	assert_int_equal(read_back(path, who, num, TURNS), TURNS);
	for (unsigned n = 0; n < TURNS; n++) {
		assert_int_equal(num[n], n);
		assert_int_equal(who[n], n % THREADS);
	}
	unlink(path);
}

/* ---- a free-for-all: every thread as fast as it can ---- */

#define EACH 5000

struct burst_arg {
	struct audit *a;
	unsigned me;
};

static void *burst(void *p)
{
	struct burst_arg *t = p;
	for (unsigned n = 0; n < EACH; n++)
		assert_true(audit_submit(t->a, numbered(t->me, n), n % 97 ? NULL : count_cb, NULL));
	return NULL;
}

static void test_burst_keeps_each_thread_in_order(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "lanes-b.jsonl");
	struct audit *a = open_log(path, CFG_FSYNC_ALWAYS);
	atomic_store(&callbacks, 0);
	pthread_t th[THREADS];
	struct burst_arg args[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		args[i] = (struct burst_arg){a, i};
		assert_int_equal(pthread_create(&th[i], NULL, burst, &args[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	/* the last records need no callback: closing still writes them */
	audit_close(a);
	unsigned want_cb = THREADS * ((EACH + 96) / 97);
	assert_int_equal(atomic_load(&callbacks), want_cb);

	static uint64_t who[THREADS * EACH], num[THREADS * EACH];
	assert_int_equal(read_back(path, who, num, THREADS * EACH), THREADS * EACH);
	uint64_t next[THREADS] = {0};
	for (size_t i = 0; i < THREADS * EACH; i++) {
		assert_true(who[i] < THREADS);
		assert_int_equal(num[i], next[who[i]]);
		next[who[i]]++;
	}
	unlink(path);
}

/* A thread that submitted to a closed log gets a fresh lane in the next. */
static void test_thread_moves_to_a_new_log(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "lanes-c.jsonl");
	for (int round = 0; round < 3; round++) {
		struct audit *a = open_log(path, CFG_FSYNC_ALWAYS);
		atomic_store(&callbacks, 0);
		for (unsigned n = 0; n < 10; n++)
			assert_true(audit_submit(a, numbered(0, n), count_cb, NULL));
		audit_sync(a);
		assert_int_equal(atomic_load(&callbacks), 10);
		audit_close(a);
		uint64_t who[10], num[10];
		assert_int_equal(read_back(path, who, num, 10), 10);
	}
	unlink(path);
}

/* A record reused after it was written starts empty: nothing of the
 * previous statement (objects, rules, intent, params) shows in the next. */
static void test_reused_record_starts_empty(void **state)
{
	char path[512];
	afx_path(path, sizeof path, "lanes-d.jsonl");
	struct audit *a = open_log(path, CFG_FSYNC_ALWAYS);
	for (int round = 0; round < 2; round++) {
		for (unsigned n = 0; n < 20; n++) {
			struct audit_rec *r = numbered(9, n);
			audit_rec_object(r, "s", "t");
			audit_rec_rule(r, "drop-table", "block", "no", "probe");
			audit_rec_params(r, 4);
			audit_intent_put(audit_rec_intent(r));
			assert_true(audit_submit(a, r, NULL, NULL));
		}
		audit_sync(a);
		for (unsigned n = 0; n < 20; n++)
			assert_true(audit_submit(a, numbered(8, n), NULL, NULL));
		audit_sync(a);
	}
	audit_close(a);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[4096];
	unsigned plain = 0;
	while (fgets(line, sizeof line, f)) {
		json_t *o = json_loads(line, 0, NULL);
		assert_non_null(o);
		if (json_integer_value(json_object_get(o, "conn_id")) == 8) {
			plain++;
			assert_int_equal(json_array_size(json_object_get(o, "objects")), 0);
			assert_int_equal(json_array_size(json_object_get(o, "rules")), 0);
			assert_null(json_object_get(o, "phase"));
			assert_null(json_object_get(o, "params"));
			assert_string_equal(json_string_value(json_object_get(o, "outcome")), "ok");
		}
		json_decref(o);
	}
	fclose(f);
	assert_int_equal(plain, 40);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_seq_follows_submission_order, afx_setup,
					    afx_teardown),
	    cmocka_unit_test_setup_teardown(test_burst_keeps_each_thread_in_order, afx_setup,
					    afx_teardown),
	    cmocka_unit_test_setup_teardown(test_thread_moves_to_a_new_log, afx_setup,
					    afx_teardown),
	    cmocka_unit_test_setup_teardown(test_reused_record_starts_empty, afx_setup,
					    afx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
