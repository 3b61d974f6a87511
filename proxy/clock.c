/* Clocks and deadlines: the one place ddlgate reads the time. */
#include "proxy/clock.h"

static int64_t clk_read_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clk_mono_us(void)
{
	return clk_read_us(CLOCK_MONOTONIC);
}

int64_t clk_wall_us(void)
{
	return clk_read_us(CLOCK_REALTIME);
}

int64_t clk_deadline_us(int64_t ms)
{
	return clk_mono_us() + (ms > 0 ? ms * 1000 : 0);
}

bool clk_passed(int64_t deadline_us)
{
	return clk_mono_us() >= deadline_us;
}

struct timespec clk_wall_ts_in(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ms > 0) {
		ts.tv_sec += (time_t)(ms / 1000);
		ts.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	return ts;
}
