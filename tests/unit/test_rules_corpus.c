/*
 * Corpus coverage: every file of public projects' MySQL migrations (the
 * directory named by DDLGATE_CORPUS, read in place) is split with
 * SPLIT_FILE and every statement parsed; each DDL statement that comes out
 * unparsed fails the test, listed as file:line: error. Known-invalid
 * statements are excluded by data/corpus_exclude.txt (file:line + why).
 *
 * Without the corpus (DDLGATE_CORPUS unset, or naming a directory that
 * cannot be opened) the test says which path it looked for, cmocka reports
 * it SKIPPED, and the process exits with CORPUS_SKIPPED, which CTest's
 * SKIP_RETURN_CODE turns into "Skipped" rather than a silent pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules/parse.h"
#include "rules/split.h"

/* Exit status of a run without the corpus (the SKIP_RETURN_CODE registered
 * in tests/CMakeLists.txt; 77 is the automake convention). */
#define CORPUS_SKIPPED 77

/* Set by test_corpus when it skips, read by main(): cmocka's group result
 * counts failures only. */
static bool corpus_skipped;

struct corpus_run {
	const char *file; /* borrowed: current file name */
	char **excl;	  /* owned: "file:line" entries */
	size_t nexcl;
	struct arena arena;
	unsigned statements, ddl, modelled, unparsed, excluded;
};

static bool excluded(const struct corpus_run *r, unsigned line)
{
	char key[1024];
	snprintf(key, sizeof(key), "%s:%u", r->file, line);
	for (size_t i = 0; i < r->nexcl; i++)
		if (strcmp(r->excl[i], key) == 0)
			return true;
	return false;
}

static bool on_piece(const struct split_piece *piece, void *arg)
{
	struct corpus_run *r = arg;
	struct stmt s;
	stmt_parse(&r->arena, piece->sql, piece->len, 0, &s);
	r->statements++;
	if (s.kind == STMT_DDL) {
		r->ddl++;
		if (!s.unparsed) {
			r->modelled++;
		} else if (excluded(r, piece->line)) {
			r->excluded++;
		} else {
			r->unparsed++;
			printf("UNPARSED %s:%u: %s\n    %.*s\n", r->file, piece->line, s.error,
			       (int)(piece->len > 160 ? 160 : piece->len), piece->sql);
		}
	}
	arena_reset(&r->arena);
	return true;
}

/* Exclusions: one "file:line  # why" per line; '#' lines are comments. */
static void load_exclusions(struct corpus_run *r)
{
	FILE *f = fopen("corpus_exclude.txt", "r");
	if (!f)
		return;
	char buf[2048];
	while (fgets(buf, sizeof(buf), f)) {
		if (buf[0] == '#' || buf[0] == '\n')
			continue;
		buf[strcspn(buf, " \t\n#")] = '\0';
		if (!buf[0])
			continue;
		r->excl = realloc(r->excl, (r->nexcl + 1) * sizeof(*r->excl));
		r->excl[r->nexcl++] = strdup(buf);
	}
	fclose(f);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_corpus(void **state)
{
	const char *dir = getenv("DDLGATE_CORPUS");
	(void)state;
	if (!dir || !*dir) {
		printf("corpus test skipped: DDLGATE_CORPUS is not set\n");
		corpus_skipped = true;
		skip();
	}
	DIR *d = opendir(dir);
	if (!d) {
		printf("corpus test skipped: DDLGATE_CORPUS=%s cannot be opened: %s\n", dir,
		       strerror(errno));
		corpus_skipped = true;
		skip();
	}
	char **names = NULL;
	size_t nnames = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (nnames + 1) * sizeof(*names));
		names[nnames++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, nnames, sizeof(*names), cmp_names);

	struct corpus_run r = {0};
	arena_init(&r.arena, 0);
	load_exclusions(&r);
	unsigned files = 0, unclean = 0;
	for (size_t i = 0; i < nnames; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		struct stat st;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		char *buf = malloc((size_t)st.st_size + 1);
		size_t got = fread(buf, 1, (size_t)st.st_size, f);
		fclose(f);
		r.file = names[i];
		files++;
		if (!split_sql(buf, got, SPLIT_FILE, on_piece, &r)) {
			unclean++;
			printf("note: %s ends inside a string, comment or body\n", names[i]);
		}
		free(buf);
	}
	printf("corpus: %u files, %u statements, %u DDL, %u modelled, %u unparsed, %u excluded\n",
	       files, r.statements, r.ddl, r.modelled, r.unparsed, r.excluded);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	for (size_t i = 0; i < r.nexcl; i++)
		free(r.excl[i]);
	free(r.excl);
	arena_cleanup(&r.arena);
	assert_true(files > 0);
	assert_int_equal(r.unparsed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (failed == 0 && corpus_skipped)
		return CORPUS_SKIPPED;
	return failed;
}
