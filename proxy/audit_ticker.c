/* Audit helper threads (drift watch, checkpoints): start, sleep until the next round or the stop,
 * stop. */
#include <errno.h>
#include <pthread.h>

#include "proxy/audit_int.h"
#include "proxy/clock.h"

bool audit_ticker_start(struct audit_ticker *t, void *(*fn)(void *), void *arg)
{
	t->closing = false;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->wake, NULL);
	if (pthread_create(&t->thread, NULL, fn, arg) == 0)
		return true;
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->wake);
	return false;
}

bool audit_ticker_wait(struct audit_ticker *t, int64_t ms)
{
	struct timespec ts = clk_wall_ts_in(ms);
	pthread_mutex_lock(&t->mu);
	/* spurious wake-ups return 0: sleep on until the time or the stop */
	while (!t->closing && pthread_cond_timedwait(&t->wake, &t->mu, &ts) != ETIMEDOUT) {
	}
	bool go_on = !t->closing;
	pthread_mutex_unlock(&t->mu);
	return go_on;
}

void audit_ticker_stop(struct audit_ticker *t)
{
	pthread_mutex_lock(&t->mu);
	t->closing = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->wake);
}
