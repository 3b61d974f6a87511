/* Clocks and deadlines: the one place ddlgate reads the time. */
#ifndef DDLGATE_PROXY_CLOCK_H
#define DDLGATE_PROXY_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Microseconds on the monotonic clock: durations, deadlines, timeouts. */
int64_t clk_mono_us(void);
/* Microseconds since the epoch: timestamps that people read (audit, logs). */
int64_t clk_wall_us(void);
/* A monotonic deadline ms milliseconds from now (ms <= 0: now). */
int64_t clk_deadline_us(int64_t ms);
/* Whether a deadline from clk_deadline_us() has passed. */
bool clk_passed(int64_t deadline_us);
/* The same deadline as an absolute CLOCK_REALTIME timespec, for
 * pthread_cond_timedwait() on a condition with the default clock. */
struct timespec clk_wall_ts_in(int64_t ms);

#endif
