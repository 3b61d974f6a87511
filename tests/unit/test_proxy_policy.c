/* Unit tests for the policy behind the hook, driven through the hook API with a stand-in relay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "proxy/hook.h"
#include "proxy/migration.h"
#include "proxy/snapshot.h"
#include "proxy/window.h"
#include "proxy/worker.h"

/* ---- the stand-in relay: what session.c provides to the hook ---- */

struct sess {
	int id;
	bool live;
	bool resumed;
	enum hook_verdict verdict;
	struct hook_reply reply;
	int releases;
	uint64_t kill_victim; /* the session sess_hook_hold_for_end() last held for */
	char schema[192];     /* what the hook last said the current schema is */
};

void sess_hook_resume(struct sess *s, enum hook_verdict v, const struct hook_reply *reply)
{
	s->resumed = true;
	s->verdict = v;
	if (reply)
		s->reply = *reply;
}

void sess_hook_release(struct sess *s)
{
	s->releases++;
}

/* The lock-wait protection needs a guard, which these tests do not run:
 * nothing is ever resent or replaced. */
bool sess_hook_resend(struct sess *s)
{
	(void)s;
	return false;
}

/* No backend connection here: private queries cannot run, and the policy
 * falls back as it does when the session's state does not allow them. */
bool sess_hook_private_query(struct sess *s, const char *sql, size_t len,
			     void (*done)(struct sess *s, void *arg,
					  const struct private_result *r),
			     void *arg)
{
	(void)s;
	(void)sql;
	(void)len;
	(void)done;
	(void)arg;
	return false;
}

void sess_hook_answer_err(struct sess *s, const struct hook_reply *reply)
{
	(void)reply;
	s->releases++;
}

void sess_hook_schema(struct sess *s, const char *schema)
{
	snprintf(s->schema, sizeof(s->schema), "%s", schema);
}

/* Scripts judged in steps need a relay that cuts packets: none here. */
bool sess_hook_step_release(struct sess *s)
{
	(void)s;
	return false;
}

bool sess_hook_step(struct sess *s, size_t from, size_t to)
{
	(void)s;
	(void)from;
	(void)to;
	return false;
}

void sess_hook_step_refuse(struct sess *s, const struct hook_reply *reply)
{
	s->resumed = true;
	s->verdict = HOOK_REJECT;
	s->reply = *reply;
}

/* The stand-in registry by server thread: the table's sessions (below). */
uint64_t worker_registry_find_thread(uint32_t server_thread);

/* A KILL's answer held for victim: noted, always possible here. */
bool sess_hook_hold_for_end(struct sess *s, uint64_t victim)
{
	s->kill_victim = victim;
	return true;
}

/* Posted calls run on the test's thread at the next step, like an event loop. */
#define MAX_POSTS 64
static struct {
	struct sess *s;
	void (*fn)(struct sess *s, void *arg);
	void *arg;
} posts[MAX_POSTS];
static size_t nposts;

static struct sess *find_sess(uint64_t conn_id);

void sess_post(struct sess *s, void (*fn)(struct sess *s, void *arg), void *arg)
{
	if (nposts < MAX_POSTS)
		posts[nposts++] = (typeof(posts[0])){s, fn, arg};
}

/* By connection id, as the relay's registry does: nothing for a session
 * that ended. */
void sess_post_id(uint64_t conn_id, void (*fn)(struct sess *s, void *arg), void *arg)
{
	struct sess *s = find_sess(conn_id);
	if (s)
		sess_post(s, fn, arg);
}

static void run_posts(void)
{
	while (nposts) {
		typeof(posts[0]) p = posts[--nposts];
		if (p.s->live)
			p.fn(p.s, p.arg);
	}
}

/* ---- the table ---- */

#define NSESS 8
static struct sess sessions[NSESS];
static struct hook_sess hsess[NSESS];
static bool initialised;

static struct sess *find_sess(uint64_t conn_id)
{
	for (int i = 0; i < NSESS; i++)
		if (sessions[i].live && hsess[i].conn_id == conn_id)
			return &sessions[i];
	return NULL;
}

uint64_t worker_registry_find_thread(uint32_t server_thread)
{
	for (int i = 0; i < NSESS; i++)
		if (sessions[i].live && hsess[i].server_thread == server_thread)
			return hsess[i].conn_id;
	return 0;
}

uint64_t sess_conn_id(const struct sess *s);
/* The relay's id of a session (guard and cluster jobs keep it to wake the
 * session by id). */
uint64_t sess_conn_id(const struct sess *s)
{
	return hsess[s - sessions].conn_id;
}

struct hook_sess *sess_hook_sess(struct sess *s)
{
	return &hsess[s->id];
}

static void end_all(void)
{
	for (int i = 0; i < NSESS; i++) {
		if (sessions[i].live) {
			hook_session_end(&sessions[i], &hsess[i]);
			sessions[i].live = false;
		}
	}
	migration_registry_reset();
}

/* Loads the case's configuration through the hook's own lifecycle. */
static void load_cfg(const char *ini)
{
	char path[] = "/tmp/ddlgate-policy-test-XXXXXX";
	char err[512];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
	close(fd);
	struct cfg *c = cfg_load(path, err, sizeof(err));
	if (!c)
		fail_msg("config: %s\n%s", err, ini);
	struct snap *snap = snap_new(c, err, sizeof(err));
	if (!snap)
		fail_msg("rules: %s\n%s", err, ini);
	/* the audit log and the threads are serve.c's; these cases run without */
	bool ok = initialised ? hook_reload(snap, err, sizeof(err))
			      : hook_init(snap, NULL, err, sizeof(err));
	if (!ok)
		fail_msg("hook: %s", err);
	initialised = true;
	snap_put(snap);
	unlink(path);
	window_reset();
}

static size_t split_tabs(char *line, char **f, size_t max)
{
	size_t n = 0;
	line[strcspn(line, "\r\n")] = 0;
	while (n < max) {
		f[n++] = line;
		char *t = strchr(line, '\t');
		if (!t)
			break;
		*t = 0;
		line = t + 1;
	}
	return n;
}

/* "\n" in the data file stands for a newline. */
static size_t unescape(const char *in, uint8_t *out, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; in[i] && o < max; i++) {
		if (in[i] == '\\' && in[i + 1] == 'n') {
			out[o++] = '\n';
			i++;
		} else {
			out[o++] = (uint8_t)in[i];
		}
	}
	return o;
}

static void step_query(const char *casename, uint8_t com, int n, const char *sql,
		       const char *expect)
{
	uint8_t payload[4096];
	struct hook_reply reply = {0};
	struct sess *s = &sessions[n];

	assert_true(s->live);
	payload[0] = com;
	size_t len = 1 + unescape(sql, payload + 1, sizeof(payload) - 1);
	s->resumed = false;
	hsess[n].command = com; /* as the relay sets it */
	enum hook_verdict v = hook_command(s, &hsess[n], payload, len, &reply);
	run_posts();
	if (v == HOOK_WAIT && s->resumed) {
		v = s->verdict;
		reply = s->reply;
	}
	if (strcmp(expect, "forward") == 0) {
		if (v != HOOK_FORWARD)
			fail_msg("case %s: %s: expected forward, got %d (%s)", casename, sql, v,
				 reply.message);
		return;
	}
	assert_true(strncmp(expect, "reject:", 7) == 0);
	if (v != HOOK_REJECT)
		fail_msg("case %s: %s: expected %s, got verdict %d", casename, sql, expect, v);
	char prefix[160];
	snprintf(prefix, sizeof(prefix), "ddlgate: blocked by %s:", expect + 7);
	assert_int_equal(reply.code, 1290);
	assert_string_equal(reply.sqlstate, "HY000");
	if (strncmp(reply.message, prefix, strlen(prefix)) != 0)
		fail_msg("case %s: %s: expected %s, got: %s", casename, sql, expect, reply.message);
}

/* The policy's note of a PREPARE_OK (pol_prep.c; hook_result() of the
 * prepare calls it first). */
struct pol_sess;
void pol_stmt_prepared(struct pol_sess *ps, uint32_t stmt_id);

/* COM_STMT_EXECUTE (no parameters) or COM_STMT_CLOSE of statement id. */
static void step_stmt(const char *casename, uint8_t com, int n, uint32_t id, const char *expect)
{
	/* command, id (4 bytes LE), flags, iteration count 1 (4 bytes LE) */
	uint8_t payload[10] = {com, 0, 0, 0, 0, 0, 1};
	for (int i = 0; i < 4; i++)
		payload[1 + i] = (uint8_t)(id >> (8 * i));
	struct hook_reply reply = {0};
	struct sess *s = &sessions[n];
	char what[64];

	assert_true(s->live);
	snprintf(what, sizeof(what), "command 0x%02x of statement %u", com, id);
	s->resumed = false;
	hsess[n].command = com;
	enum hook_verdict v = hook_command(s, &hsess[n], payload, com == 0x17 ? 10 : 5, &reply);
	run_posts();
	if (v == HOOK_WAIT && s->resumed) {
		v = s->verdict;
		reply = s->reply;
	}
	if (strcmp(expect, "forward") == 0) {
		if (v != HOOK_FORWARD)
			fail_msg("case %s: %s: expected forward, got %d (%s)", casename, what, v,
				 reply.message);
		return;
	}
	char prefix[160];
	snprintf(prefix, sizeof(prefix), "ddlgate: blocked by %s:", expect + 7);
	if (v != HOOK_REJECT || strncmp(reply.message, prefix, strlen(prefix)) != 0)
		fail_msg("case %s: %s: expected %s, got %d (%s)", casename, what, expect, v,
			 reply.message);
}

/* An answer and, with an eighth field, what the hook does with it: "go"
 * (delivered now) or "held N" (held until session N has closed, a KILL's). */
static void step_result(const char *casename, int n, char **f, size_t nf)
{
	struct hook_result r = {0};
	r.index = (uint32_t)atoi(f[2]);
	r.ok = strcmp(f[3], "ok") == 0;
	if (strcmp(f[4], "-") != 0) {
		r.result_set = true;
		r.first_value = (const uint8_t *)f[4];
		r.first_value_len = strlen(f[4]);
	}
	r.affected_rows = strtoull(f[5], NULL, 10);
	r.more = strcmp(f[6], "more") == 0;
	if (!r.ok)
		r.error_code = 1146;
	sessions[n].kill_victim = 0;
	bool go = hook_result(&sessions[n], &hsess[n], &r);
	run_posts();
	if (nf < 8)
		return;
	char got[32] = "go";
	if (!go)
		snprintf(got, sizeof(got), "held %d",
			 find_sess(sessions[n].kill_victim) ? find_sess(sessions[n].kill_victim)->id
							    : -1);
	if (strcmp(got, f[7]) != 0)
		fail_msg("case %s: answer %s: expected %s, got %s", casename, f[2], f[7], got);
}

static void test_policy_cases(void **state)
{
	FILE *f = fopen("proxy_policy.txt", "r");
	char line[2048], name[128] = "";
	char ini[4096] = "";
	bool loaded = true;
	int steps = 0, cases = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *fld[8];
		if (line[0] == '#' || line[0] == '\n')
			continue;
		size_t nf = split_tabs(line, fld, 8);
		if (strncmp(fld[0], "case ", 5) == 0) {
			end_all();
			snprintf(name, sizeof(name), "%.120s", fld[0] + 5);
			ini[0] = 0;
			loaded = false;
			cases++;
			continue;
		}
		if (strcmp(fld[0], "cfg") == 0) {
			assert_int_equal(nf, 2);
			strncat(ini, fld[1], sizeof(ini) - strlen(ini) - 2);
			strcat(ini, "\n");
			continue;
		}
		if (!loaded) {
			load_cfg(ini);
			loaded = true;
		}
		int n = atoi(fld[1]);
		assert_true(n >= 0 && n < NSESS);
		if (strcmp(fld[0], "begin") == 0) {
			memset(&hsess[n], 0, sizeof(hsess[n]));
			hsess[n].conn_id = (uint64_t)(cases * 100 + n);
			hsess[n].server_thread = (uint32_t)(1000 + n);
			snprintf(hsess[n].client, sizeof(hsess[n].client), "127.0.0.1:%d",
				 40000 + n);
			snprintf(hsess[n].user, sizeof(hsess[n].user), "%s", fld[2]);
			if (nf > 3)
				snprintf(hsess[n].schema, sizeof(hsess[n].schema), "%s", fld[3]);
			sessions[n] = (struct sess){.id = n, .live = true};
			hook_session_begin(&sessions[n], &hsess[n]);
		} else if (strcmp(fld[0], "reset") == 0) {
			hook_session_reset(&sessions[n], &hsess[n]);
		} else if (strcmp(fld[0], "end") == 0) {
			hook_session_end(&sessions[n], &hsess[n]);
			sessions[n].live = false;
		} else if (strcmp(fld[0], "q") == 0 || strcmp(fld[0], "p") == 0) {
			assert_int_equal(nf, 4);
			step_query(name, fld[0][0] == 'q' ? 0x03 : 0x16, n, fld[2], fld[3]);
		} else if (strcmp(fld[0], "prepared") == 0) {
			assert_int_equal(nf, 3);
			pol_stmt_prepared(hsess[n].policy, (uint32_t)atoi(fld[2]));
		} else if (strcmp(fld[0], "x") == 0) {
			assert_int_equal(nf, 4);
			step_stmt(name, 0x17, n, (uint32_t)strtoul(fld[2], NULL, 10), fld[3]);
		} else if (strcmp(fld[0], "close") == 0) {
			assert_int_equal(nf, 3);
			step_stmt(name, 0x19, n, (uint32_t)strtoul(fld[2], NULL, 10), "forward");
		} else if (strcmp(fld[0], "wopen") == 0) {
			assert_true(window_adhoc_open(atoi(fld[2]), time(NULL)));
		} else if (strcmp(fld[0], "wclose") == 0) {
			struct cfg none = {0}; /* no schedule of its own to cut short */
			window_adhoc_close(&none, time(NULL));
		} else if (strcmp(fld[0], "k") == 0) {
			assert_int_equal(nf, 3);
			step_stmt(name, 0x0c, n, (uint32_t)strtoul(fld[2], NULL, 10), "forward");
		} else if (strcmp(fld[0], "r") == 0) {
			assert_true(nf == 7 || nf == 8);
			step_result(name, n, fld, nf);
		} else {
			fail_msg("bad line: %s", fld[0]);
		}
		steps++;
	}
	fclose(f);
	end_all();
	assert_true(cases >= 10 && steps >= 60);
}

static int teardown(void **state)
{
	if (initialised)
		hook_shutdown();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_policy_cases, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
