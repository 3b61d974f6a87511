/* Maintenance windows: weekly schedule arithmetic and the ad-hoc window. */
#include "proxy/window.h"

#include <pthread.h>

static pthread_mutex_t window_lock = PTHREAD_MUTEX_INITIALIZER;
static time_t window_adhoc_until;  /* ad-hoc window open before this instant */
static time_t window_closed_until; /* scheduled windows suppressed before this */

#define WINDOW_DAY_S 86400

/*
 * Works in the schedule's own zone: shift now by the offset, find the
 * weekday (bit 0 = Monday) and the minute of the day there. An occurrence
 * may have started today or, when it crosses midnight, yesterday.
 */
bool window_schedule_contains(const struct cfg_schedule *s, time_t now, time_t *end)
{
	int64_t local = (int64_t)now + (int64_t)s->utc_offset_min * 60;
	int64_t day = local >= 0 ? local / WINDOW_DAY_S : (local - WINDOW_DAY_S + 1) / WINDOW_DAY_S;
	int64_t sec = local - day * WINDOW_DAY_S;
	/* 1970-01-01 was a Thursday: Monday-based index 3. */
	int wday = (int)(((day + 3) % 7 + 7) % 7);
	int yday = (wday + 6) % 7;
	int64_t start = (int64_t)s->start_min * 60;
	int64_t stop = (int64_t)s->end_min * 60;
	int64_t len = stop > start ? stop - start : stop - start + WINDOW_DAY_S;
	int64_t begin;

	if ((s->days & (1u << wday)) && sec >= start && sec < start + len)
		begin = day * WINDOW_DAY_S + start;
	else if ((s->days & (1u << yday)) && sec < start + len - WINDOW_DAY_S)
		begin = (day - 1) * WINDOW_DAY_S + start;
	else
		return false;
	if (end)
		*end = (time_t)(begin + len - (int64_t)s->utc_offset_min * 60);
	return true;
}

void window_evaluate(const struct cfg *c, time_t now, struct window_status *out)
{
	time_t adhoc, closed;

	pthread_mutex_lock(&window_lock);
	adhoc = window_adhoc_until;
	closed = window_closed_until;
	pthread_mutex_unlock(&window_lock);

	*out = (struct window_status){0};
	out->configured = c->window.nschedule > 0;
	out->adhoc_open = adhoc > now;
	out->adhoc_until = out->adhoc_open ? adhoc : 0;
	out->closed_by_admin = closed > now;
	if (out->adhoc_open) {
		out->open = true;
		out->open_until = adhoc;
	}
	if (!out->configured) {
		if (!out->open)
			out->open = true;
		return;
	}
	if (out->closed_by_admin)
		return;
	for (size_t i = 0; i < c->window.nschedule; i++) {
		time_t end;
		if (window_schedule_contains(&c->window.schedule[i], now, &end)) {
			if (!out->open || (out->open_until && end > out->open_until))
				out->open_until = end;
			out->open = true;
		}
	}
}

bool window_open_now(const struct cfg *c)
{
	struct window_status st;
	window_evaluate(c, time(NULL), &st);
	return st.open;
}

bool window_adhoc_open(int minutes, time_t now)
{
	if (minutes < 1 || minutes > 7 * 24 * 60)
		return false;
	pthread_mutex_lock(&window_lock);
	window_adhoc_until = now + (time_t)minutes * 60;
	window_closed_until = 0;
	pthread_mutex_unlock(&window_lock);
	return true;
}

void window_adhoc_close(const struct cfg *c, time_t now)
{
	time_t until = 0;

	for (size_t i = 0; i < c->window.nschedule; i++) {
		time_t end;
		if (window_schedule_contains(&c->window.schedule[i], now, &end) && end > until)
			until = end;
	}
	pthread_mutex_lock(&window_lock);
	window_adhoc_until = 0;
	window_closed_until = until;
	pthread_mutex_unlock(&window_lock);
}

void window_reset(void)
{
	pthread_mutex_lock(&window_lock);
	window_adhoc_until = 0;
	window_closed_until = 0;
	pthread_mutex_unlock(&window_lock);
}
