/* Unit tests for cli/audit_cmd.c: `audit verify` on intact and tampered logs, --against,
 * --key-file, `audit show` filters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include "audit_fixture.h"
#include "cli/audit_pairs.h"
#include "cli/cli.h"
#include "proxy/audit.h"

static char out[65536]; /* stdout of the last run */

/* Runs `ddlgate audit ARGS...` (NULL-terminated) and captures its stdout in out. */
static int run(const char *arg0, ...)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = "audit";
	va_list ap;
	va_start(ap, arg0);
	for (const char *a = arg0; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	char cap[600];
	afx_path(cap, sizeof cap, "stdout.txt");
	fflush(stdout);
	int saved = dup(1);
	int fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 1);
	close(fd);
	int rc = cmd_audit(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	FILE *f = fopen(cap, "r");
	size_t n = fread(out, 1, sizeof out - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(cap);
	return rc;
}

struct sample {
	int64_t ts_us;
	const char *user;
	enum audit_decision decision;
	const char *schema, *table;
	const char *sql;
};

/* 2024-03-10T00:00:00Z: in the past, whatever today is */
#define DAY0 1710028800000000LL
#define HOUR 3600000000LL

static const struct sample samples[] = {
    {DAY0 + 1 * HOUR, "migrator", AUDIT_ALLOW, "shop", "users", "ALTER TABLE users ADD c INT"},
    {DAY0 + 2 * HOUR, "alice", AUDIT_BLOCK, "shop", "orders", "ALTER TABLE orders DROP COLUMN x"},
    {DAY0 + 3 * HOUR, "migrator", AUDIT_WARN, "crm", "users", "ALTER TABLE crm.users ADD KEY (a)"},
    {DAY0 + 4 * HOUR, "bob", AUDIT_HOLD, "shop", "users", "CREATE INDEX i ON users (b)"},
    {DAY0 + 25 * HOUR, "alice", AUDIT_ALLOW, NULL, "t1", "CREATE TABLE t1 (id INT PRIMARY KEY)"},
    {DAY0 + 26 * HOUR, "migrator", AUDIT_BLOCK, "shop", "users", "DROP TABLE users"},
};
#define NSAMPLES (sizeof samples / sizeof samples[0])

/* The instance name make_log() writes: a test changes it to forge another chain. */
static const char *log_instance = "cli-test";

/* A log at path written by instance, fsync = always (the writer keeps no
 * pointer into the configuration, so it is freed at once). */
static struct audit *open_log(const char *path, uint64_t rotate_bytes, const char *instance)
{
	struct cfg *c = afx_cfg(path, CFG_FSYNC_ALWAYS, rotate_bytes, instance);
	char err[256];
	struct audit *a = audit_open(c, err, sizeof err);
	afx_cfg_free(c);
	assert_non_null(a);
	return a;
}

/* Writes the samples (repeated `rounds` times) through the real writer. */
static void make_log(const char *path, uint64_t rotate_bytes, int rounds)
{
	struct audit *a = open_log(path, rotate_bytes, log_instance);
	for (int k = 0; k < rounds; k++)
		for (size_t i = 0; i < NSAMPLES; i++) {
			const struct sample *s = &samples[i];
			struct audit_rec *r = audit_rec_new();
			audit_rec_conn(r, i + 1, "127.0.0.1:50000", s->user, s->schema);
			bool mig = strcmp(s->user, "migrator") == 0;
			audit_rec_session(r, mig, mig ? "flyway" : NULL, mig ? "V1__init" : NULL);
			audit_rec_statement(r, STMT_DDL, s->sql, strlen(s->sql));
			audit_rec_object(r, s->schema, s->table);
			audit_rec_decision(r, s->decision);
			if (s->decision == AUDIT_BLOCK)
				audit_rec_rule(r, "drop-column", "block", "drops data", NULL);
			audit_rec_outcome(r, s->decision == AUDIT_BLOCK ? AUDIT_NOT_SENT : AUDIT_OK,
					  0, 0);
			audit_rec_timing(r, s->ts_us, 10);
			assert_true(audit_submit(a, r, NULL, NULL));
			audit_sync(a); /* one record per batch: rotation between any two */
		}
	audit_close(a);
}

static void test_verify_intact(void **state)
{
	char path[600];
	afx_path(path, sizeof path, "a.jsonl");
	make_log(path, 0, 2);
	assert_int_equal(run("verify", path, NULL), 0);
	assert_string_equal(out, "ok: 12 records, chain intact\n");
}

static void test_verify_tampering(void **state)
{
	char path[600], bad[600];
	afx_path(path, sizeof path, "a.jsonl");
	afx_path(bad, sizeof bad, "bad.jsonl");
	make_log(path, 0, 2);
	char *lines[64], want[800];
	size_t n = afx_read_lines(path, lines, 64);
	assert_int_equal(n, 12);

	/* edited: one byte of line 5 */
	char *p = strstr(lines[4], "\"user\":\"") + 8;
	char keep = *p;
	*p = 'X';
	afx_write_lines(bad, lines, n);
	*p = keep;
	assert_int_equal(run("verify", bad, NULL), 1);
	snprintf(want, sizeof want, "%s:5: record edited (hash mismatch)\n", bad);
	assert_string_equal(out, want);

	/* deleted: line 4 */
	char *del[64];
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (i != 3)
			del[m++] = lines[i];
	afx_write_lines(bad, del, m);
	assert_int_equal(run("verify", bad, NULL), 1);
	snprintf(want, sizeof want, "%s:4: record missing before this one (seq 5 follows 3)\n",
		 bad);
	assert_string_equal(out, want);

	/* reordered: lines 7 and 8 swapped */
	char *t = lines[6];
	lines[6] = lines[7];
	lines[7] = t;
	afx_write_lines(bad, lines, n);
	lines[7] = lines[6];
	lines[6] = t;
	assert_int_equal(run("verify", bad, NULL), 1);
	snprintf(want, sizeof want, "%s:7:", bad);
	assert_non_null(strstr(out, want));

	/* a record inserted: a copy of line 2 after line 2 */
	char *ins[64];
	m = 0;
	for (size_t i = 0; i < n; i++) {
		ins[m++] = lines[i];
		if (i == 1)
			ins[m++] = lines[i];
	}
	afx_write_lines(bad, ins, m);
	assert_int_equal(run("verify", bad, NULL), 1);
	snprintf(want, sizeof want, "%s:3: record out of order or repeated (seq 2 follows 2)\n",
		 bad);
	assert_string_equal(out, want);

	/* garbage line */
	char *g[3] = {lines[0], "not json\n", lines[1]};
	afx_write_lines(bad, g, 3);
	assert_int_equal(run("verify", bad, NULL), 1);
	snprintf(want, sizeof want, "%s:2: not a valid audit record", bad);
	assert_non_null(strstr(out, want));

	/* first line deleted: seq 1 is gone, said so in the verdict */
	afx_write_lines(bad, lines + 1, n - 1);
	assert_int_equal(run("verify", bad, NULL), 0);
	assert_non_null(strstr(out, "records before seq 2 are in older files"));

	afx_free_lines(lines, n);
}

static void test_verify_across_rotation(void **state)
{
	char path[600];
	afx_path(path, sizeof path, "r.jsonl");
	make_log(path, 1200, 3);
	char *files[64];
	size_t n = afx_list_files("r.jsonl.", files, 63);
	assert_true(n >= 3);
	files[n++] = strdup(path);

	assert_int_equal(run("verify", files[0], files[1], files[2], n > 3 ? files[3] : NULL,
			     n > 4 ? files[4] : NULL, n > 5 ? files[5] : NULL,
			     n > 6 ? files[6] : NULL, n > 7 ? files[7] : NULL,
			     n > 8 ? files[8] : NULL, n > 9 ? files[9] : NULL,
			     n > 10 ? files[10] : NULL, NULL),
			 0);
	assert_true(n <= 11);
	assert_string_equal(out, "ok: 18 records, chain intact\n");

	/* a later file alone: fine, with the note */
	assert_int_equal(run("verify", files[n - 1], NULL), 0);
	assert_non_null(strstr(out, "in older files, not checked"));

	/* files in the wrong order */
	assert_int_equal(run("verify", files[1], files[0], NULL), 1);
	assert_non_null(strstr(out, "out of order"));

	/* a rotated file left out */
	assert_int_equal(run("verify", files[0], files[2], NULL), 1);
	assert_non_null(strstr(out, "record missing before this one"));
	for (size_t i = 0; i < n; i++)
		free(files[i]);
}

static void test_usage_errors(void **state)
{
	assert_int_equal(run(NULL), 2);
	assert_int_equal(run("verify", NULL), 2);
	assert_int_equal(run("verify", "/nonexistent/audit.jsonl", NULL), 2);
	assert_int_equal(run("frobnicate", NULL), 2);
	assert_int_equal(run("show", NULL), 2);
	assert_int_equal(run("show", "--since", "yesterday", "x", NULL), 2);
	assert_int_equal(run("show", "--format", "xml", "x", NULL), 2);
	assert_int_equal(run("show", "--decision", "maybe", "x", NULL), 2);
	assert_int_equal(run("show", "--bogus", "x", NULL), 2);
}

/* Counts output lines. */
static int nlines(void)
{
	int n = 0;
	for (const char *p = out; *p; p++)
		n += *p == '\n';
	return n;
}

static void test_show_filters(void **state)
{
	char path[600];
	afx_path(path, sizeof path, "s.jsonl");
	make_log(path, 0, 1);

	assert_int_equal(run("show", path, NULL), 0);
	assert_int_equal(nlines(), 6);
	assert_non_null(strstr(out, "2024-03-10T02:00:00.000000Z  alice@127.0.0.1:50000  app  "
				    "block  not_sent  [drop-column:block]  ALTER TABLE orders DROP "
				    "COLUMN x\n"));
	assert_non_null(strstr(out, "migrator@127.0.0.1:50000  migration(flyway V1__init)  allow"));

	static const struct {
		const char *opt, *val;
		int want;
	} cases[] = {
	    {"--user", "alice", 2},
	    {"--user", "mig*", 3},
	    {"--decision", "block", 2},
	    {"--decision", "warn,hold", 2},
	    {"--table", "users", 4},
	    {"--table", "shop.users", 3},
	    {"--table", "crm.users", 1},
	    {"--table", "t1", 1},
	    {"--table", "nosuch", 0},
	    {"--since", "2024-03-11", 2},
	    {"--until", "2024-03-10T02:30:00Z", 2},
	    {"--since", "2024-03-10T04:30:00+02:00", 4}, /* 02:30Z */
	    {"--until", "2024-03-10 03:00", 3},
	    {"--since", "1h", 0}, /* relative to now: the samples are older */
	    {"--until", "1h", 6},
	    {"--since", "100000d", 6},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(run("show", cases[i].opt, cases[i].val, path, NULL), 0);
		if (nlines() != cases[i].want)
			fail_msg("%s %s: %d lines, want %d\n%s", cases[i].opt, cases[i].val,
				 nlines(), cases[i].want, out);
	}

	/* combined filters; json output is the records' lines as written */
	assert_int_equal(
	    run("show", "--user=migrator", "--decision=block", "--format=json", path, NULL), 0);
	assert_int_equal(nlines(), 1);
	char *lines[8];
	size_t n = afx_read_lines(path, lines, 8);
	assert_string_equal(out, lines[5]);
	afx_free_lines(lines, n);

	/* the json output of the full log verifies */
	char copy[600];
	afx_path(copy, sizeof copy, "copy.jsonl");
	assert_int_equal(run("show", "--format", "json", path, NULL), 0);
	afx_put(copy, "w", out);
	assert_int_equal(run("verify", copy, NULL), 0);
}

/* --anchor: a seq/hash copied off the host catches a rewritten or truncated log. */
static void test_verify_anchor(void **state)
{
	char path[600], other[600];
	afx_path(path, sizeof path, "a.jsonl");
	afx_path(other, sizeof other, "b.jsonl");
	make_log(path, 0, 1);
	char *lines[8];
	size_t n = afx_read_lines(path, lines, 8);
	assert_int_equal(n, 6);
	char anchor[100];
	const char *h = strstr(lines[4], "\"hash\":\"") + 8;
	snprintf(anchor, sizeof anchor, "5:%.64s", h);
	afx_free_lines(lines, n);

	assert_int_equal(run("verify", "--anchor", anchor, path, NULL), 0);
	assert_string_equal(out, "ok: 6 records, chain intact\n");

	/* the whole log regenerated: a valid chain, but not the one anchored */
	unlink(path);
	log_instance = "forged";
	make_log(path, 0, 1);
	log_instance = "cli-test";
	char want[700];
	assert_int_equal(run("verify", path, NULL), 0);
	assert_int_equal(run("verify", "--anchor", anchor, path, NULL), 1);
	snprintf(want, sizeof want, "%s:5: seq 5 does not have the anchored hash (log rewritten)\n",
		 path);
	assert_string_equal(out, want);

	/* truncated before the anchor */
	n = afx_read_lines(path, lines, 8);
	afx_write_lines(other, lines, 3);
	afx_free_lines(lines, n);
	assert_int_equal(run("verify",
			     "--anchor=5:"
			     "0000000000000000000000000000000000000000000000000000000000000000",
			     other, NULL),
			 1);
	assert_non_null(strstr(out, "anchor seq 5 is not in the files"));

	assert_int_equal(run("verify", "--anchor", "5:abc", path, NULL), 2);
	assert_int_equal(run("verify", "--anchor", "x", path, NULL), 2);
	assert_int_equal(run("verify", "--bogus", path, NULL), 2);
}

/* The head of line i (1-based) of path as /audit/head's JSON, into file. */
static void put_head(const char *file, const char *path, int i, const char *hash_override)
{
	char *lines[16], text[300];
	size_t n = afx_read_lines(path, lines, 16);
	assert_true((size_t)i <= n);
	const char *h = strstr(lines[i - 1], "\"hash\":\"") + 8;
	snprintf(text, sizeof text,
		 "{\"seq\":%d,\"hash\":\"%.64s\",\"file\":\"a.jsonl\",\"instance\":\"cli-test\"}\n",
		 i, hash_override ? hash_override : h);
	afx_free_lines(lines, n);
	afx_put(file, "w", text);
}

/* --against: a checkpoint published outside the file (here saved as a
 * file) finds a cut-off tail and names the missing seq range. */
static void test_verify_against(void **state)
{
	char path[600], cut[600], head[600], want[900];
	afx_path(path, sizeof path, "a.jsonl");
	afx_path(cut, sizeof cut, "cut.jsonl");
	afx_path(head, sizeof head, "head.json");
	make_log(path, 0, 1);
	char *lines[8];
	size_t n = afx_read_lines(path, lines, 8);
	assert_int_equal(n, 6);

	static const struct {
		const char *what;
		int head_seq;	     /* the checkpoint: seq of a line of the full log */
		bool forged;	     /* with another hash */
		size_t from, to;     /* the lines given: [from, to) */
		int rc;		     /* exit status */
		const char *message; /* printf with head, then the file: expected output */
	} cases[] = {
	    {"intact", 6, false, 0, 6, 0, "ok: 6 records, chain intact\n"},
	    {"checkpoint inside", 3, false, 0, 6, 0, "ok: 6 records, chain intact\n"},
	    {"last two cut", 6, false, 0, 4, 1,
	     "checkpoint seq 6 (from %s) is not in the files (log truncated): records seq 5-6 "
	     "are missing after the last record given, seq 4\n"},
	    {"all cut", 6, false, 0, 0, 1,
	     "checkpoint seq 6 (from %s) is not in the files (log truncated): records seq 1-6 "
	     "are missing, the files hold no record\n"},
	    {"rewritten", 5, true, 0, 6, 1,
	     "%2$s:5: seq 5 does not have the hash of the checkpoint from %1$s (log rewritten)\n"},
	    {"older files needed", 2, false, 3, 6, 2,
	     "checkpoint seq 2 (from %s) is before the first record given (seq 4): give the older "
	     "files too\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		put_head(head, path, cases[i].head_seq,
			 cases[i].forged
			     ? "00000000000000000000000000000000000000000000000000000000"
			       "00000000"
			     : NULL);
		afx_write_lines(cut, lines + cases[i].from, cases[i].to - cases[i].from);
		int rc = run("verify", "--against", head, cut, NULL);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* the table's own formats */
		snprintf(want, sizeof want, cases[i].message, head, cut);
#pragma GCC diagnostic pop
		if (rc != cases[i].rc || strcmp(out, want) != 0)
			fail_msg("%s: exit %d, printed: %s", cases[i].what, rc, out);
	}
	afx_free_lines(lines, n);

	/* not a checkpoint, no such file, no server: usage errors */
	afx_put(head, "w", "{\"seq\":\"x\"}");
	assert_int_equal(run("verify", "--against", head, path, NULL), 2);
	assert_int_equal(run("verify", "--against", "/nonexistent/head.json", path, NULL), 2);
	assert_int_equal(run("verify", "--against", "http://127.0.0.1:1/audit/head", path, NULL),
			 2);
	assert_int_equal(run("verify", "--against", head, "--anchor", "1:x", path, NULL), 2);
}

/* [audit] key_file: an HMAC chain says so on every line, needs the key to
 * verify, and a plain rewrite does not pass for it. */
static void test_verify_hmac(void **state)
{
	char path[600], plain[600], key[600], other[600];
	afx_path(path, sizeof path, "keyed.jsonl");
	afx_path(plain, sizeof plain, "plain.jsonl");
	afx_path(key, sizeof key, "audit.key");
	afx_path(other, sizeof other, "other.key");
	afx_put(key, "w", "correct horse battery staple\n");
	afx_put(other, "w", "another secret of some length\n");

	char err[300];
	assert_true(audit_line_load_key(key, err, sizeof err));
	assert_string_equal(audit_line_mac(), "hmac-sha256");
	make_log(path, 0, 1);
	assert_true(audit_line_set_key(NULL, 0)); /* the writer is closed: back to plain */
	make_log(plain, 0, 1);
	json_t *o = afx_load_line(path, 1);
	assert_string_equal(json_string_value(json_object_get(o, "mac")), "hmac-sha256");
	json_decref(o);
	o = afx_load_line(plain, 1);
	assert_null(json_object_get(o, "mac"));
	json_decref(o);

	static const struct {
		const char *what;
		const char *file, *key; /* key NULL: no --key-file */
		int rc;
		const char *message; /* printf with the file */
	} cases[] = {
	    {"keyed, no key", "keyed", NULL, 1,
	     "%s:1: the chain is keyed (\"mac\":\"hmac-sha256\"): give its key with --key-file\n"},
	    {"keyed, its key", "keyed", "key", 0, "ok: 6 records, chain intact\n"},
	    {"keyed, other key", "keyed", "other", 1, "%s:1: record edited (hash mismatch)\n"},
	    {"plain, key given", "plain", "key", 1,
	     "%s:1: record not keyed where the key was given (rewritten without the key?)\n"},
	    {"plain, no key", "plain", NULL, 0, "ok: 6 records, chain intact\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *f = strcmp(cases[i].file, "keyed") ? plain : path;
		const char *k = !cases[i].key ? NULL : strcmp(cases[i].key, "key") ? other : key;
		int rc = k ? run("verify", "--key-file", k, f, NULL) : run("verify", f, NULL);
		assert_true(audit_line_set_key(NULL, 0)); /* --key-file set it process-wide */
		char want[900];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* the table's own formats */
		snprintf(want, sizeof want, cases[i].message, f);
#pragma GCC diagnostic pop
		if (rc != cases[i].rc || strcmp(out, want) != 0)
			fail_msg("%s: exit %d, printed: %s", cases[i].what, rc, out);
	}

	/* the writer does not continue a keyed chain without its key */
	struct cfg *cfg = afx_cfg(path, CFG_FSYNC_ALWAYS, 0, "cli-test");
	assert_null(audit_open(cfg, err, sizeof err));
	assert_non_null(strstr(err, "HMAC-chained: set its [audit] key_file"));
	assert_true(audit_line_load_key(key, err, sizeof err));
	struct audit *a = audit_open(cfg, err, sizeof err);
	assert_non_null(a);
	audit_close(a);
	assert_true(audit_line_set_key(NULL, 0));
	afx_cfg_free(cfg);

	/* a key too short to be a secret */
	afx_put(other, "w", "short\n");
	assert_int_equal(run("verify", "--key-file", other, path, NULL), 2);
	assert_false(audit_line_load_key(other, err, sizeof err));
	assert_non_null(strstr(err, "16 to 1024 bytes"));
}

/*
 * The third-party verifier printed in docs/audit.md (the ```python block)
 * accepts what the writer produces, across rotated files, and rejects an
 * edit: the documented hash definition is the implemented one.
 */
static void test_documented_verifier(void **state)
{
	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
	FILE *doc = fopen("../../../docs/audit.md", "r");
	assert_non_null(doc);
	char script[600], line[1024];
	afx_path(script, sizeof script, "verify.py");
	FILE *py = fopen(script, "w");
	bool in = false;
	int lines = 0;
	while (fgets(line, sizeof line, doc)) {
		if (!in && strncmp(line, "```python", 9) == 0) {
			in = true;
		} else if (in && strncmp(line, "```", 3) == 0) {
			break;
		} else if (in) {
			fputs(line, py);
			lines++;
		}
	}
	fclose(doc);
	fclose(py);
	assert_true(lines >= 5 && lines <= 15);

	char path[600];
	afx_path(path, sizeof path, "r.jsonl");
	make_log(path, 1500, 2);
	char cmd[2400];
	snprintf(
	    cmd, sizeof cmd,
	    "cd '%s' && /usr/bin/python3 verify.py $(ls r.jsonl.* | sort) r.jsonl >out.txt 2>&1",
	    afx_dir);
	int rc = system(cmd);
	char outp[700];
	afx_path(outp, sizeof outp, "out.txt");
	FILE *o = fopen(outp, "r");
	char got[256] = "";
	assert_non_null(fgets(got, sizeof got, o));
	fclose(o);
	if (rc != 0)
		fail_msg("documented verifier failed: %s", got);
	assert_string_equal(got, "ok: 12 records\n");

	/* one edited byte in the current file */
	char *lines_[64];
	size_t n = afx_read_lines(path, lines_, 64);
	char *p = strstr(lines_[0], "\"decision\":\"");
	assert_non_null(p);
	p[12] = p[12] == 'a' ? 'b' : 'a';
	afx_write_lines(path, lines_, n);
	afx_free_lines(lines_, n);
	assert_int_not_equal(system(cmd), 0);
}

/* A statement cannot drive the reviewer's terminal: control characters are escaped. */
static void test_show_escapes_controls(void **state)
{
	char path[600];
	afx_path(path, sizeof path, "esc.jsonl");
	struct audit *a = open_log(path, 0, "cli-test");
	struct audit_rec *r = audit_rec_new();
	const char sql[] = "DROP TABLE t /* \x1b[2K\x1b[1A\r\xc2\x9b hidden */";
	audit_rec_conn(r, 1, "127.0.0.1:1", "ev\x1bil", "s");
	audit_rec_statement(r, STMT_DDL, sql, sizeof sql - 1);
	assert_true(audit_submit(a, r, NULL, NULL));
	audit_close(a);
	assert_int_equal(run("show", path, NULL), 0);
	assert_null(strchr(out, 0x1b));
	assert_null(strchr(out, '\r'));
	assert_null(strstr(out, "\xc2\x9b"));
	assert_non_null(strstr(out, "ev\\x1bil@127.0.0.1:1"));
	assert_non_null(strstr(out, "DROP TABLE t /* \\x1b[2K\\x1b[1A \\x9b hidden */\n"));
}

/* A DDL's metadata-lock waits are shown on its line, the blocker escaped too. */
static void test_show_attempts(void **state)
{
	(void)state;
	char path[600];
	afx_path(path, sizeof path, "att.jsonl");
	struct audit *a = open_log(path, 0, "cli-test");
	struct audit_rec *r = audit_rec_new();
	const char sql[] = "ALTER TABLE t ADD COLUMN c INT";
	audit_rec_conn(r, 1, "127.0.0.1:1", "mig", "s");
	audit_rec_statement(r, STMT_DDL, sql, sizeof sql - 1);
	audit_rec_attempt(r, &(struct audit_attempt){.sent = false,
						     .waited_ms = 2100,
						     .retried = true,
						     .blocker_id = 42,
						     .blocker_user = "a\x1b",
						     .blocker_host = "h:1",
						     .blocker_trx_age_ms = -1});
	audit_rec_attempt(r, &(struct audit_attempt){.sent = true, .waited_ms = 3});
	audit_rec_outcome(r, AUDIT_OK, 0, 0);
	assert_true(audit_submit(a, r, NULL, NULL));
	audit_close(a);
	assert_int_equal(run("show", path, NULL), 0);
	assert_non_null(strstr(out,
			       "  attempts[held 2100ms retried by 42 a\\x1b@h:1 idle, sent 3ms]  "
			       "ALTER TABLE t ADD COLUMN c INT\n"));
	assert_int_equal(run("verify", path, NULL), 0);
}

static void collect_open(void *arg, const struct audit_pair_open *o)
{
	char *s = arg;
	size_t n = strlen(s);
	snprintf(s + n, 256 - n, "%s%llu", n ? "," : "", (unsigned long long)o->seq);
}

/* A record of the pairs table: i<seq>@<conn>, o<seq>@<conn>=<intent>, s<seq>@<conn>. */
static json_t *pair_rec(const char *tok)
{
	unsigned long long seq = 0, conn = 0, intent = 0;
	char kind = tok[0];
	int n = sscanf(tok + 1, "%llu@%llu=%llu", &seq, &conn, &intent);
	assert_true(n >= 2 && (kind != 'o' || n == 3));
	json_t *r = json_pack("{sI sI ss ss}", "seq", (json_int_t)seq, "conn_id", (json_int_t)conn,
			      "instance", "gw", "client", "127.0.0.1:4000");
	if (kind == 'i')
		json_object_set_new(r, "phase", json_string("intent"));
	if (kind == 'o') {
		json_object_set_new(r, "phase", json_string("outcome"));
		json_object_set_new(r, "intent", json_integer((json_int_t)intent));
	}
	return r;
}

/* tests/unit/data/audit/pairs.txt */
static void test_pairs_table(void **state)
{
	FILE *f = fopen("audit/pairs.txt", "r");
	assert_non_null(f);
	char line[1024];
	int cases = 0;
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		char *name = strtok(line, "|"), *recs = strtok(NULL, "|"),
		     *want = strtok(NULL, "|\n");
		assert_non_null(want);
		struct audit_pairs *p = audit_pairs_new();
		char got[512] = "ok";
		for (char *save = NULL, *tok = strtok_r(recs, " ", &save); tok;
		     tok = strtok_r(NULL, " ", &save)) {
			json_t *r = pair_rec(tok);
			char msg[1200];
			enum audit_pair_status st = audit_pairs_add(p, r, "f:1", msg, sizeof msg);
			if (st != AUDIT_PAIR_OK && strcmp(got, "ok") == 0)
				snprintf(got, sizeof got, "%s@%lld",
					 st == AUDIT_PAIR_ORPHAN ? "orphan" : "unanswered",
					 (long long)json_integer_value(json_object_get(r, "seq")));
			json_decref(r);
		}
		char open[256] = "";
		(void)audit_pairs_each_open(p, collect_open, open);
		audit_pairs_free(p);
		char full[800];
		snprintf(full, sizeof full, "%s open=%s", got, open);
		while (*want == ' ')
			want++;
		size_t wl = strlen(want);
		while (wl && want[wl - 1] == ' ')
			want[--wl] = '\0';
		if (strcmp(full, want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", name, full, want);
		cases++;
	}
	fclose(f);
	assert_true(cases >= 10);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; (s = strchr(s, '\n')); s++)
		n++;
	return n;
}

/* Writes the intent (t NULL; returns its reference) or the outcome of *t
 * (o) of one statement of session 7. */
static struct audit_intent *write_half(struct audit *a, struct audit_intent *t,
				       enum audit_outcome o)
{
	struct audit_rec *r = afx_sample_rec(1, "CREATE TABLE p (id INT)");
	audit_rec_conn(r, 7, "127.0.0.1:4000", "app", "shop");
	struct audit_intent *mine = NULL;
	if (t) {
		audit_rec_answers(r, t);
		audit_rec_outcome(r, o, 1050, 0);
	} else {
		mine = audit_rec_intent(r);
	}
	assert_true(audit_submit(a, r, NULL, NULL));
	audit_sync(a);
	return mine;
}

/* Intent and outcome records through the real writer: verify matches them,
 * calls a trailing intent interrupted, and an unanswered one in the middle
 * an error; show prints each pair once, with its outcome. */
static void test_verify_pairs(void **state)
{
	char path[600];
	afx_path(path, sizeof path, "pairs.jsonl");
	struct audit *a = open_log(path, 0, "pairs");
	for (int i = 0; i < 3; i++) {
		struct audit_intent *t = write_half(a, NULL, AUDIT_PENDING);
		assert_int_equal(audit_intent_seq(t), (uint64_t)(2 * i + 1));
		if (i == 2) { /* the proxy stops here */
			audit_intent_put(t);
			break;
		}
		(void)write_half(a, t, i ? AUDIT_ERROR : AUDIT_OK);
	}
	audit_close(a);

	json_t *o = afx_load_line(path, 2);
	assert_string_equal(json_string_value(json_object_get(o, "phase")), "outcome");
	assert_int_equal(json_integer_value(json_object_get(o, "intent")), 1);
	json_decref(o);
	o = afx_load_line(path, 1);
	assert_string_equal(json_string_value(json_object_get(o, "outcome")), "pending");
	json_decref(o);

	assert_int_equal(run("verify", path, NULL), 0);
	assert_non_null(strstr(out, ":5: interrupted (crash): intent seq 5 has no outcome"));
	assert_non_null(strstr(out, "ok: 5 records, chain intact"));

	assert_int_equal(run("show", path, NULL), 0);
	assert_non_null(strstr(out, "  ok  "));
	assert_non_null(strstr(out, "  error 1050  "));
	assert_non_null(strstr(out, "  pending  "));
	assert_int_equal(count_lines(out), 3);
	assert_int_equal(run("show", "--format", "json", path, NULL), 0);
	assert_int_equal(count_lines(out), 5); /* as stored: it still verifies */

	/* the outcome of the first intent is missing: the next command's
	 * outcome gives it away */
	afx_path(path, sizeof path, "gap.jsonl");
	a = open_log(path, 0, "pairs");
	struct audit_intent *lost = write_half(a, NULL, AUDIT_PENDING);
	(void)write_half(a, write_half(a, NULL, AUDIT_PENDING), AUDIT_OK);
	audit_intent_put(lost);
	audit_close(a);
	assert_int_equal(run("verify", path, NULL), 1);
	assert_non_null(strstr(out, ":3: intent seq 1 ("));
	assert_non_null(strstr(out, "has no outcome, yet its session went on"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_verify_intact, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_tampering, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_across_rotation, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_usage_errors, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_show_filters, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_show_escapes_controls, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_show_attempts, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_anchor, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_against, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_hmac, afx_setup, afx_teardown),
	    cmocka_unit_test_setup_teardown(test_documented_verifier, afx_setup, afx_teardown),
	    cmocka_unit_test(test_pairs_table),
	    cmocka_unit_test_setup_teardown(test_verify_pairs, afx_setup, afx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
