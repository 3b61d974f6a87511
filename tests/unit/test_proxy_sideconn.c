/* Unit tests for side-connection settings: the configuration mapping, timeouts, TLS words. */
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
#include "proxy/sideconn.h"

static const char *const tls_words[] = {"off", "preferred", "verify-ca", "verify-identity"};

/* Writes "section.key=value" words as an INI file in $TMPDIR; returns its
 * path (static buffer). */
static const char *write_ini(char *keys)
{
	static char path[512];
	const char *dir = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/sideconn-XXXXXX.ini", dir && *dir ? dir : P_tmpdir);
	int fd = mkstemps(path, 4);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	for (char *tok = strtok(keys, " \t"); tok; tok = strtok(NULL, " \t")) {
		char *dot = strchr(tok, '.'), *eq = strchr(tok, '=');
		assert_true(dot && eq && dot < eq);
		fprintf(f, "[%.*s]\n%.*s = %s\n", (int)(dot - tok), tok, (int)(eq - dot - 1),
			dot + 1, eq + 1);
	}
	fclose(f);
	return path;
}

/* The side_conf fields a case may name: strings, numbers and the TLS word. */
static const struct {
	const char *name;
	char kind; /* 's' char array, 'u' unsigned, 'i' int, 't' enum side_tls */
	size_t off;
} fields[] = {
    {"host", 's', offsetof(struct side_conf, host)},
    {"port", 'u', offsetof(struct side_conf, port)},
    {"socket", 's', offsetof(struct side_conf, socket)},
    {"user", 's', offsetof(struct side_conf, user)},
    {"password", 's', offsetof(struct side_conf, password)},
    {"schema", 's', offsetof(struct side_conf, schema)},
    {"timeout_ms", 'i', offsetof(struct side_conf, timeout_ms)},
    {"tls", 't', offsetof(struct side_conf, tls)},
    {"tls_ca", 's', offsetof(struct side_conf, tls_ca)},
    {"tls_name", 's', offsetof(struct side_conf, tls_name)},
};

/* The side_conf field named name, printed. */
static void field(const struct side_conf *sc, const char *name, char *out, size_t n)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *p = (const char *)sc + fields[i].off;
		if (strcmp(name, fields[i].name) != 0)
			continue;
		if (fields[i].kind == 's')
			snprintf(out, n, "%s", p);
		else if (fields[i].kind == 'u')
			snprintf(out, n, "%u", *(const unsigned *)p);
		else if (fields[i].kind == 'i')
			snprintf(out, n, "%d", *(const int *)p);
		else
			snprintf(out, n, "%s", tls_words[*(const enum side_tls *)p]);
		return;
	}
	fail_msg("unknown field %s", name);
}

static void test_from_cfg_cases(void **state)
{
	FILE *f = fopen("proxy_sideconn.txt", "r");
	char line[1024], err[256];
	int cases = 0;

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *semi = strchr(line, ';');
		if (line[0] == '#' || !semi)
			continue;
		*semi = 0;
		char expect[1024];
		snprintf(expect, sizeof(expect), "%s", semi + 1);
		const char *path = write_ini(line);
		struct cfg *c = cfg_load(path, err, sizeof(err));
		unlink(path);
		if (!c)
			fail_msg("case %d: %s", cases + 1, err);

		struct side_conf sc;
		memset(&sc, 0x5a, sizeof(sc)); /* everything must be set */
		assert_true(side_conf_from_cfg(&sc, c, c->guard.user, c->guard.password,
					       c->guard.probe_timeout_ms, err, sizeof(err)));
		assert_int_equal(sc.statement_ms, 0);
		assert_false(sc.read_only);
		for (char *tok = strtok(expect, " \t"); tok; tok = strtok(NULL, " \t")) {
			char *eq = strchr(tok, '='), got[1024];
			assert_non_null(eq);
			*eq = 0;
			field(&sc, tok, got, sizeof(got));
			if (strcmp(got, eq + 1) != 0)
				fail_msg("case %d: %s is '%s', expected '%s'", cases + 1, tok, got,
					 eq + 1);
		}
		cfg_free(c);
		cases++;
	}
	fclose(f);
	assert_true(cases >= 10);
}

static void test_too_long_is_refused(void **state)
{
	struct cfg *c = cfg_defaults();
	struct side_conf sc;
	char user[300], err[256] = "";

	(void)state;
	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = 0;
	assert_false(side_conf_from_cfg(&sc, c, user, "pw", 1000, err, sizeof(err)));
	assert_non_null(strstr(err, "user is too long"));
	assert_true(side_conf_from_cfg(&sc, c, "u", NULL, 0, err, sizeof(err)));
	assert_string_equal(sc.password, "");
	assert_int_equal(sc.timeout_ms, SIDE_DEFAULT_TIMEOUT_MS);
	cfg_free(c);
}

static void test_timeout_secs(void **state)
{
	static const struct {
		int ms;
		unsigned secs;
	} cases[] = {
	    {1, 1}, {999, 1}, {1000, 1}, {1001, 2}, {2000, 2}, {2500, 3}, {0, 2}, {-5, 2},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(side_timeout_secs(cases[i].ms), cases[i].secs);
}

static void test_tls_words(void **state)
{
	enum side_tls t;
	(void)state;
	for (size_t i = 0; i < sizeof(tls_words) / sizeof(tls_words[0]); i++) {
		assert_true(side_tls_parse(tls_words[i], &t));
		assert_int_equal(t, (int)i);
	}
	assert_false(side_tls_parse("required", &t));
	assert_false(side_tls_parse("", &t));
	assert_false(side_tls_parse("OFF", &t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_from_cfg_cases),
	    cmocka_unit_test(test_too_long_is_refused),
	    cmocka_unit_test(test_timeout_secs),
	    cmocka_unit_test(test_tls_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
