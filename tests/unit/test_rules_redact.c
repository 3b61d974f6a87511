/* Unit tests for rules/redact.c: secret redaction and fingerprint normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "rules/lex.h"

#include "rules/arena.h"
#include "rules/redact.h"

/* Replaces {NL} and {TAB} in s (in place; the result is never longer). */
static size_t unescape(char *s)
{
	char *o = s;
	for (const char *p = s; *p;) {
		if (strncmp(p, "{NL}", 4) == 0) {
			*o++ = '\n';
			p += 4;
		} else if (strncmp(p, "{TAB}", 5) == 0) {
			*o++ = '\t';
			p += 5;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return (size_t)(o - s);
}

typedef char *(*run_fn)(struct arena *a, const char *sql, size_t len, size_t *outlen,
			size_t *count);

static char *run_redact(struct arena *a, const char *sql, size_t len, size_t *outlen, size_t *count)
{
	return redact_sql(a, sql, len, outlen, count);
}

static char *run_normalise(struct arena *a, const char *sql, size_t len, size_t *outlen,
			   size_t *count)
{
	*count = 0;
	return redact_normalise(a, sql, len, outlen);
}

/*
 * Runs every "> in" / "< out" [/ "= count"] case of file through fn and
 * fails naming the line of the first mismatch. Returns the number of cases.
 */
static int run_file(const char *file, run_fn fn)
{
	FILE *f = fopen(file, "r");
	assert_non_null(f);
	char line[8192], in[8192] = "";
	size_t inlen = 0, got_count = 0;
	char *got = NULL;
	int lineno = 0, cases = 0, failures = 0;
	struct arena ar;
	arena_init(&ar, 4096);
	while (fgets(line, sizeof line, f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "> ", 2) == 0) {
			snprintf(in, sizeof in, "%s", line + 2);
			inlen = unescape(in);
			arena_reset(&ar);
			size_t outlen = 0;
			got = fn(&ar, in, inlen, &outlen, &got_count);
			assert_int_equal(strlen(got), outlen);
		} else if (strncmp(line, "< ", 2) == 0) {
			assert_non_null(got);
			char want[8192];
			snprintf(want, sizeof want, "%s", line + 2);
			unescape(want);
			cases++;
			if (strcmp(got, want) != 0) {
				print_error("%s:%d:\n  in:   %s\n  want: %s\n  got:  %s\n", file,
					    lineno, in, want, got);
				failures++;
			}
		} else if (strncmp(line, "= ", 2) == 0) {
			size_t want = (size_t)strtoul(line + 2, NULL, 10);
			if (got_count != want) {
				print_error("%s:%d: %zu literals replaced, want %zu\n", file,
					    lineno, got_count, want);
				failures++;
			}
		}
	}
	fclose(f);
	arena_cleanup(&ar);
	assert_int_equal(failures, 0);
	return cases;
}

static void test_redact_table(void **state)
{
	assert_true(run_file("redact.txt", run_redact) >= 40);
}

static void test_normalise_table(void **state)
{
	assert_true(run_file("audit/normalise.txt", run_normalise) >= 6);
}

/* Redaction must never change text without secrets, whatever its bytes. */
static void test_redact_identity_without_secrets(void **state)
{
	static const char *const plain[] = {"",
					    ";",
					    "   ",
					    "SELECT 1",
					    "ALTER TABLE t DROP COLUMN c",
					    "INSERT INTO t VALUES ('\\'', \"\\\"\", 0x00, b'1')",
					    "/* unterminated",
					    "SELECT '\xff\xfe'"};
	struct arena ar;
	arena_init(&ar, 1024);
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		size_t n = 0, count = 1;
		char *out = redact_sql(&ar, plain[i], strlen(plain[i]), &n, &count);
		assert_int_equal(count, 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(out, plain[i], n);
	}
	arena_cleanup(&ar);
}

/* Embedded NUL bytes are data, not the end of the statement. */
static void test_redact_binary(void **state)
{
	const char sql[] = "CREATE USER u IDENTIFIED BY 'a\0b' COMMENT 'c\0d'";
	struct arena ar;
	arena_init(&ar, 1024);
	size_t n = 0;
	char *out = redact_sql(&ar, sql, sizeof sql - 1, &n, NULL);
	const char want[] = "CREATE USER u IDENTIFIED BY '<redacted>' COMMENT 'c\0d'";
	assert_int_equal(n, sizeof want - 1);
	assert_memory_equal(out, want, n);
	arena_cleanup(&ar);
}

/* The placeholders of a prepared text that stand where a secret would be. */
static void test_secret_params(void **state)
{
	(void)state;
	static const struct {
		const char *sql;
		const char *want; /* one character a placeholder: s secret, - not */
	} cases[] = {
	    {"INSERT INTO t (a, b) VALUES (?, ?)", "--"},
	    {"CREATE USER ? IDENTIFIED BY ?", "-s"},
	    {"ALTER USER u IDENTIFIED BY ? REPLACE ?", "ss"},
	    {"SET PASSWORD FOR ? = ?", "-s"},
	    {"INSERT INTO t VALUES (?, AES_ENCRYPT(?, ?))", "--s"},
	    {"UPDATE u SET pw = PASSWORD(?) WHERE id = ?", "s-"},
	    {"SELECT ? FROM t WHERE a = 'IDENTIFIED BY'", "-"},
	};
	struct arena ar;
	arena_init(&ar, 1024);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool secret[8];
		size_t n = strlen(cases[i].want), want = 0;
		size_t found =
		    redact_secret_params(&ar, cases[i].sql, strlen(cases[i].sql), secret, n);
		for (size_t k = 0; k < n; k++) {
			want += cases[i].want[k] == 's';
			if (secret[k] != (cases[i].want[k] == 's'))
				fail_msg("%s: placeholder %zu", cases[i].sql, k);
		}
		assert_int_equal(found, want);
	}
	/* the statement text itself keeps its placeholders */
	size_t n;
	char *out = redact_sql(&ar, "CREATE USER u IDENTIFIED BY ?", 29, &n, NULL);
	assert_string_equal(out, "CREATE USER u IDENTIFIED BY ?");
	arena_cleanup(&ar);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/*
 * Over every real migration of the shared corpus: redaction changes nothing
 * but whole literal tokens (the output lexes to the same tokens, each equal
 * or the mark), no literal after IDENTIFIED BY survives, and normalising
 * twice gives the same text as normalising once.
 */
static void test_corpus_properties(void **state)
{
	const char *dir = getenv("DDLGATE_CORPUS");
	DIR *d = dir ? opendir(dir) : NULL;
	if (!d)
		skip();
	struct dirent *de;
	struct arena ar;
	arena_init(&ar, 1 << 16);
	size_t files = 0, redacted = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		size_t len = 0;
		char *sql = slurp(path, &len);
		if (!sql)
			continue;
		files++;
		arena_reset(&ar);
		size_t olen = 0, count = 0;
		char *out = redact_sql(&ar, sql, len, &olen, &count);
		redacted += count;

		struct lexer a, b;
		struct lex_token ta, tb;
		lex_init(&a, sql, len, 0);
		lex_init(&b, out, olen, 0);
		size_t marks = 0;
		bool after_by = false, after_identified = false;
		for (;;) {
			bool more_a = lex_next(&a, &ta), more_b = lex_next(&b, &tb);
			if (more_a != more_b)
				fail_msg("%s: token streams differ in length", de->d_name);
			if (!more_a)
				break;
			bool same = ta.n == tb.n && memcmp(ta.p, tb.p, ta.n) == 0;
			bool mark =
			    tb.n == strlen(REDACT_MARK) && memcmp(tb.p, REDACT_MARK, tb.n) == 0;
			if (!same && !mark)
				fail_msg("%s:%u: token changed: %.*s -> %.*s", de->d_name, ta.line,
					 (int)ta.n, ta.p, (int)tb.n, tb.p);
			marks += !same;
			if (after_by && ta.type == LEX_STRING && !mark)
				fail_msg("%s:%u: secret kept: %.*s", de->d_name, ta.line, (int)ta.n,
					 ta.p);
			after_by = lex_is_word(&ta, "BY") && after_identified;
			after_identified = lex_is_word(&ta, "IDENTIFIED");
		}
		assert_int_equal(marks, count);

		size_t n1 = 0, n2 = 0;
		char *norm = redact_normalise(&ar, sql, len, &n1);
		char *again = redact_normalise(&ar, norm, n1, &n2);
		if (n1 != n2 || memcmp(norm, again, n1) != 0)
			fail_msg("%s: normalising is not idempotent:\n%s\n%s", de->d_name, norm,
				 again);
		free(sql);
	}
	closedir(d);
	arena_cleanup(&ar);
	assert_true(files > 100);
	assert_true(redacted >= 1); /* the corpus has a CREATE USER ... IDENTIFIED BY */
}

/*
 * Random statements stitched from SQL fragments (quotes, escapes, comments,
 * executable comments, the keywords the redactor looks for), run under the
 * sanitizers: redaction only ever replaces whole tokens and normalising is
 * idempotent. A fixed seed keeps failures reproducible.
 */
static void test_random_fragments(void **state)
{
	static const char *const frags[] = {"CREATE USER ",
					    "ALTER USER ",
					    "IDENTIFIED ",
					    "BY ",
					    "WITH ",
					    "AS ",
					    "VIA ",
					    "USING ",
					    "PASSWORD",
					    "(",
					    ")",
					    ",",
					    ";",
					    "=",
					    ":=",
					    "SET ",
					    "FOR ",
					    "REPLACE ",
					    "'pw'",
					    "'it\\'s'",
					    "'a''b'",
					    "\"dq\"",
					    "_utf8mb4'x'",
					    "X'0f'",
					    "0x1F",
					    "b'1'",
					    "`id`",
					    "@v",
					    "@@global.wsrep_sst_auth",
					    "/* c */",
					    "/*!50700 ",
					    "*/",
					    "-- x\n",
					    "# y\n",
					    "\n",
					    " ",
					    "AES_ENCRYPT(",
					    "CONNECTION=",
					    "'mysql://u:p@h/d/t'",
					    "PREPARE s FROM ",
					    "MASTER_PASSWORD",
					    "START ",
					    "CHANGE ",
					    "'",
					    "\"",
					    "`",
					    "/*",
					    "\\",
					    "1.5e3",
					    "-",
					    "?",
					    "\xff",
					    "\0"};
	const size_t nf = sizeof frags / sizeof frags[0];
	uint32_t seed = 12345;
	struct arena ar;
	arena_init(&ar, 4096);
	char sql[2048];
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = 0;
		int parts = 1 + (int)((seed >> 16) % 24);
		for (int k = 0; k < parts; k++) {
			seed = seed * 1103515245u + 12345u;
			const char *f = frags[(seed >> 8) % nf];
			size_t fl = strcmp(f, "\0") == 0 ? 1 : strlen(f);
			if (len + fl >= sizeof sql)
				break;
			memcpy(sql + len, f, fl);
			len += fl;
		}
		arena_reset(&ar);
		size_t olen = 0, count = 0;
		char *out = redact_sql(&ar, sql, len, &olen, &count);
		struct lexer a, b;
		struct lex_token ta, tb;
		lex_init(&a, sql, len, 0);
		lex_init(&b, out, olen, 0);
		size_t changed = 0;
		for (;;) {
			bool ma = lex_next(&a, &ta), mb = lex_next(&b, &tb);
			if (ma != mb)
				fail_msg("iteration %d: token count changed: %.*s", iter, (int)len,
					 sql);
			if (!ma)
				break;
			changed += !(ta.n == tb.n && memcmp(ta.p, tb.p, ta.n) == 0);
		}
		if (changed > count)
			fail_msg("iteration %d: %zu tokens changed, %zu redactions: %.*s", iter,
				 changed, count, (int)len, sql);
		size_t n1 = 0, n2 = 0;
		char *norm = redact_normalise(&ar, sql, len, &n1);
		char *again = redact_normalise(&ar, norm, n1, &n2);
		if (n1 != n2 || memcmp(norm, again, n1) != 0)
			fail_msg("iteration %d: not idempotent: [%s] [%s]", iter, norm, again);
	}
	arena_cleanup(&ar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redact_table),
	    cmocka_unit_test(test_normalise_table),
	    cmocka_unit_test(test_redact_identity_without_secrets),
	    cmocka_unit_test(test_redact_binary),
	    cmocka_unit_test(test_secret_params),
	    cmocka_unit_test(test_corpus_properties),
	    cmocka_unit_test(test_random_fragments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
