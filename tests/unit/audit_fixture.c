/* Fixture audit logs shared by the audit tests: temporary directory, writer config, sample records,
 * line helpers. */
#include "audit_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <unistd.h>

char afx_dir[256];

int afx_setup(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(afx_dir, sizeof afx_dir, "%s/ddlgate-audit-XXXXXX", base);
	return mkdtemp(afx_dir) ? 0 : -1;
}

int afx_teardown(void **state)
{
	(void)state;
	DIR *d = opendir(afx_dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char p[600];
		snprintf(p, sizeof p, "%s/%s", afx_dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(afx_dir);
	return 0;
}

void afx_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", afx_dir, name);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

size_t afx_list_files(const char *prefix, char **out, size_t max)
{
	DIR *d = opendir(afx_dir);
	assert_non_null(d);
	struct dirent *de;
	size_t n = 0;
	while ((de = readdir(d)) != NULL && n < max) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		char p[600];
		afx_path(p, sizeof p, de->d_name);
		out[n++] = strdup(p);
	}
	closedir(d);
	qsort(out, n, sizeof(*out), cmp_str);
	return n;
}

struct cfg *afx_cfg(const char *path, enum cfg_fsync fs, uint64_t rotate, const char *instance)
{
	struct cfg *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->audit.path = strdup(path);
	c->audit.record = CFG_RECORD_DDL;
	c->audit.fsync = fs;
	c->audit.fsync_interval_ms = 50;
	c->audit.rotate_bytes = rotate;
	c->audit.instance = strdup(instance);
	return c;
}

void afx_cfg_free(struct cfg *c)
{
	free(c->audit.path);
	free(c->audit.instance);
	free(c->audit.mirror_table);
	free(c->proxy.backend_socket);
	free(c->guard.user);
	free(c->guard.password);
	free(c);
}

void afx_count_cb(void *arg, bool ok)
{
	struct afx_count *c = arg;
	pthread_mutex_lock(&c->mu);
	if (ok)
		c->ok++;
	else
		c->failed++;
	pthread_mutex_unlock(&c->mu);
}

struct audit_rec *afx_sample_rec(int i, const char *sql)
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

void afx_write_n(struct audit *a, int from, int n, struct afx_count *cc)
{
	for (int i = from; i < from + n; i++)
		assert_true(audit_submit(a, afx_sample_rec(i, "ALTER TABLE users ADD c INT"),
					 afx_count_cb, cc));
	audit_sync(a);
}

int afx_check_chain(const char *const *files, size_t nfiles, uint64_t first_seq,
		    const char *first_prev)
{
	char prev[AUDIT_HASH_HEX + 1];
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
			char hash[AUDIT_HASH_HEX + 1];
			assert_int_equal(audit_check_line(line, (size_t)len - 1, prev, &seq, hash),
					 AUDIT_LINE_OK);
			assert_int_equal(seq, want);
			want++;
			memcpy(prev, hash, sizeof prev);
			n++;
		}
		free(line);
		fclose(fp);
	}
	return n;
}

json_t *afx_load_line(const char *path, int lineno)
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

size_t afx_read_lines(const char *path, char **lines, size_t max)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = 0;
	char *l = NULL;
	size_t cap = 0;
	while (n < max && getline(&l, &cap, f) > 0) {
		lines[n++] = l;
		l = NULL;
		cap = 0;
	}
	free(l);
	fclose(f);
	return n;
}

void afx_write_lines(const char *path, char *const *lines, size_t n)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputs(lines[i], f);
	fclose(f);
}

void afx_free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
}

void afx_put(const char *path, const char *mode, const char *text)
{
	FILE *f = fopen(path, mode);
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}
