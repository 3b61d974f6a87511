/*
 * Fixture audit logs for the audit tests (test_proxy_audit, test_cli_audit,
 * the mirror test): a temporary directory per test, a writer configuration,
 * sample records written through the real writer, and the line helpers that
 * read, forge or cut a log by hand. Failures are cmocka assertions.
 */
#ifndef DDLGATE_TESTS_AUDIT_FIXTURE_H
#define DDLGATE_TESTS_AUDIT_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "proxy/audit.h"

/* The current test's directory, made by afx_setup(). */
extern char afx_dir[256];

/* cmocka setup/teardown: a fresh directory, removed with its files. */
int afx_setup(void **state);
int afx_teardown(void **state);
/* out = afx_dir/name. */
void afx_path(char *out, size_t n, const char *name);
/* Entries of afx_dir starting with prefix, full paths, sorted (rotated
 * names sort in time order). The caller frees each. */
size_t afx_list_files(const char *prefix, char **out, size_t max);

/* A configuration for the writer, zeroed like cfg_defaults() would leave
 * the audit section, with these fields set; every string is owned and
 * freed by afx_cfg_free() (also mirror_table, backend_socket, guard user
 * and password when a test sets them). */
struct cfg *afx_cfg(const char *path, enum cfg_fsync fs, uint64_t rotate, const char *instance);
void afx_cfg_free(struct cfg *c);

/* Durability callbacks counted. */
struct afx_count {
	pthread_mutex_t mu;
	int ok, failed;
};
#define AFX_COUNT_INIT                                                                             \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, 0, 0                                                    \
	}
void afx_count_cb(void *arg, bool ok);

/* Sample record i (varied session, decision and rule by i) for sql. */
struct audit_rec *afx_sample_rec(int i, const char *sql);
/* Submits samples from..from+n-1 and waits until they are handled. */
void afx_write_n(struct audit *a, int from, int n, struct afx_count *cc);

/* Checks the chain of files in order with audit_check_line(): seq runs
 * first_seq.. without gaps, prev links each record. Returns the count. */
int afx_check_chain(const char *const *files, size_t nfiles, uint64_t first_seq,
		    const char *first_prev);
/* Line lineno (from 1) of path as JSON; the caller decrefs. */
json_t *afx_load_line(const char *path, int lineno);

/* Whole lines with their newlines: read (the caller frees with
 * afx_free_lines), write back (possibly edited), free. */
size_t afx_read_lines(const char *path, char **lines, size_t max);
void afx_write_lines(const char *path, char *const *lines, size_t n);
void afx_free_lines(char **lines, size_t n);
/* Writes text to path as is, with fopen mode "w" or "a": partial lines
 * that a crash would leave, or lines that are not records. */
void afx_put(const char *path, const char *mode, const char *text);

#endif
