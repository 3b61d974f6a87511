/* Unit tests for maintenance windows: schedule arithmetic and the ad-hoc window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "proxy/window.h"

static const char *const day_names[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

static int day_index(const char *s)
{
	for (int i = 0; i < 7; i++)
		if (strncasecmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

/* "Mon-Fri", "Sat", "Mon,Wed" -> bitmask, bit 0 = Monday. */
static uint8_t parse_days(const char *s)
{
	uint8_t mask = 0;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		int a = day_index(tok), b = a;
		if (tok[3] == '-')
			b = day_index(tok + 4);
		assert_true(a >= 0 && b >= 0);
		for (int d = a;; d = (d + 1) % 7) {
			mask |= (uint8_t)(1u << d);
			if (d == b)
				break;
		}
	}
	return mask;
}

static time_t parse_utc(const char *s)
{
	struct tm tm = {0};
	assert_non_null(strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm));
	return timegm(&tm);
}

static void test_schedules(void **state)
{
	FILE *f = fopen("proxy_window.txt", "r");
	char line[256];
	int cases = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char days[32], range[32], at[32], end[32] = "";
		int off, expect, sh, sm, eh, em;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		int n =
		    sscanf(line, "%31s %31s %d %31s %d %31s", days, range, &off, at, &expect, end);
		assert_true(n >= 5);
		assert_int_equal(sscanf(range, "%d:%d-%d:%d", &sh, &sm, &eh, &em), 4);
		struct cfg_schedule s = {
		    .days = parse_days(days),
		    .start_min = (uint16_t)(sh * 60 + sm),
		    .end_min = (uint16_t)(eh * 60 + em),
		    .utc_offset_min = (int16_t)off,
		};
		time_t got_end = 0;
		bool in = window_schedule_contains(&s, parse_utc(at), &got_end);
		if (in != (expect == 1))
			fail_msg("%s %s %d at %s: expected %d", days, range, off, at, expect);
		if (in && end[0] && got_end != parse_utc(end))
			fail_msg("%s %s %d at %s: end %lld, expected %s", days, range, off, at,
				 (long long)got_end, end);
		cases++;
	}
	fclose(f);
	assert_true(cases >= 20);
}

static void test_no_schedule_means_open(void **state)
{
	struct cfg *c = cfg_defaults();
	struct window_status st;

	assert_non_null(c);
	c->window.nschedule = 0;
	window_reset();
	window_evaluate(c, parse_utc("2026-11-24T12:00:00Z"), &st);
	assert_false(st.configured);
	assert_true(st.open);
	cfg_free(c);
}

static void test_adhoc_open_close(void **state)
{
	struct cfg *c = cfg_defaults();
	struct window_status st;
	time_t now = parse_utc("2026-11-24T12:00:00Z"); /* a Tuesday */

	assert_non_null(c);
	c->window.nschedule = 1;
	c->window.schedule[0] =
	    (struct cfg_schedule){.days = parse_days("Sat"), .start_min = 120, .end_min = 240};
	window_reset();
	window_evaluate(c, now, &st);
	assert_true(st.configured);
	assert_false(st.open);

	assert_false(window_adhoc_open(0, now));
	assert_true(window_adhoc_open(30, now));
	window_evaluate(c, now + 60, &st);
	assert_true(st.open);
	assert_true(st.adhoc_open);
	assert_int_equal(st.open_until, now + 1800);
	window_evaluate(c, now + 1800, &st);
	assert_false(st.open);

	assert_true(window_adhoc_open(30, now));
	window_adhoc_close(c, now + 10);
	window_evaluate(c, now + 20, &st);
	assert_false(st.open);

	/* close inside a scheduled window cuts it short until it would end */
	time_t sat = parse_utc("2026-11-28T02:30:00Z");
	window_evaluate(c, sat, &st);
	assert_true(st.open);
	window_adhoc_close(c, sat);
	window_evaluate(c, sat + 60, &st);
	assert_false(st.open);
	assert_true(st.closed_by_admin);
	/* next week's window is not affected */
	window_evaluate(c, sat + 7 * 86400, &st);
	assert_true(st.open);
	/* an ad-hoc open lifts the admin close */
	assert_true(window_adhoc_open(5, sat + 120));
	window_evaluate(c, sat + 180, &st);
	assert_true(st.open);
	window_reset();
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schedules),
	    cmocka_unit_test(test_no_schedule_means_open),
	    cmocka_unit_test(test_adhoc_open_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
