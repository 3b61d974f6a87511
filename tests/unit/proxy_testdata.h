/*
 * Reader for the proxy/ unit tests' table files (header-only, shared by the
 * test_proxy_*.c executables that read line tables): '#' lines and blank
 * lines are skipped, every other line is one case. Include after cmocka.h.
 */
#ifndef DDLGATE_TESTS_PROXY_TESTDATA_H
#define DDLGATE_TESTS_PROXY_TESTDATA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the data file's case lines into lines[] (each owned by the caller,
 * free() it); returns the count, failing the test when there is none. */
static size_t read_lines(const char *path, char **lines, size_t max)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s (tests run in tests/unit/data)", path);
	char buf[8192];
	size_t n = 0;
	while (fgets(buf, sizeof(buf), f) && n < max) {
		buf[strcspn(buf, "\r\n")] = 0;
		if (buf[0] == '#' || buf[0] == 0)
			continue;
		lines[n++] = strdup(buf);
	}
	fclose(f);
	assert_true(n > 0);
	return n;
}

/* Value of key=... among the space-separated fields of s, copied into out
 * (cut to cap), or NULL when s has no such field. */
static inline const char *field(const char *s, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	for (const char *p = s; (p = strstr(p, key)) != NULL; p += kl) {
		if ((p == s || p[-1] == ' ') && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t n = strcspn(v, " ");
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = 0;
			return out;
		}
	}
	return NULL;
}

#endif
