/*
 * Maintenance windows: weekly schedules from [window] plus an ad-hoc
 * window opened or closed through the admin API.
 *
 * The schedule arithmetic is pure (window_schedule_contains) so it can be
 * tested without a clock; the ad-hoc state is process-wide and guarded by
 * a mutex because every event-loop thread asks it.
 */
#ifndef DDLGATE_PROXY_WINDOW_H
#define DDLGATE_PROXY_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config/cfg.h"

/*
 * True when the instant now (UTC seconds) falls inside schedule s. When it
 * does and end is not NULL, *end receives the instant the occurrence ends.
 * A schedule whose end is before its start crosses midnight: the days mask
 * names the day it starts on. start == end means a whole day from start.
 */
bool window_schedule_contains(const struct cfg_schedule *s, time_t now, time_t *end);

/* Why DDL is (not) allowed right now, for the policy and /status. */
struct window_status {
	bool configured; /* at least one schedule exists */
	bool open;	 /* DDL allowed as far as windows go */
	bool adhoc_open; /* an ad-hoc window is open */
	time_t adhoc_until;
	bool closed_by_admin; /* POST /window/close cut the scheduled window short */
	time_t open_until;    /* when open: the end of the current window, 0 = no end */
};

/*
 * Evaluates the windows of c at now. Without schedules DDL is allowed at
 * any time unless an admin closed it; an ad-hoc window overrides both.
 */
void window_evaluate(const struct cfg *c, time_t now, struct window_status *out);

/* Convenience: window_evaluate(c, time(NULL)).open */
bool window_open_now(const struct cfg *c);

/* Opens an ad-hoc window for minutes (1 .. 10080) from now. False on a bad value. */
bool window_adhoc_open(int minutes, time_t now) __attribute__((warn_unused_result));

/*
 * Closes the ad-hoc window and any scheduled window running at now (until
 * that occurrence would have ended), so DDL stops immediately.
 */
void window_adhoc_close(const struct cfg *c, time_t now);

/* Forgets ad-hoc state (tests). */
void window_reset(void);

#endif
