/* A KILL's answer held until the session it ended has closed its client socket. */
/*
 * The server closes the victim's backend connection before it answers
 * the KILL, so a client that sees the KILL's OK may count on the victim's
 * connection being gone. Through ddlgate the victim's end reaches its
 * client only when the victim's worker (maybe another thread) reads the
 * backend's close, which nothing orders with the killer's answer. So the
 * policy holds the KILL's OK (hook_result() returns false) and calls
 * sess_hook_hold_for_end():
 *
 *   killer's thread                       victim's thread
 *   hold the OK, arm hold_ev (500 ms) --> kill_victim_run: note the killer,
 *                                         arm end_ev (200 ms) unless closing
 *                                         backend EOF (or end_ev): close after
 *                                         flushing what was queued (the kill's
 *                                         ERR), lingering, no reset
 *   kill_release: sess_hook_release <--- sess_close -> sess_kill_end
 *
 * A victim that ended before the post ran is not found: the release is
 * posted at once. hold_ev releases the OK anyway, so nothing hangs.
 */
#include <stdint.h>
#include <stdlib.h>

#include "proxy/session_priv.h"

#define SESS_KILL_HOLD_MS 500 /* the killer's OK waits at most this long */
#define SESS_KILL_EOF_MS 200  /* the victim waits this long for its backend's close */

struct sess_kill {
	struct event hold_ev; /* killer: the bound on the held OK */
	bool holding;
	uintptr_t hold_gen;  /* killer: counts holds, so a late release of an
			      * earlier one is told apart */
	struct event end_ev; /* victim: the bound on the wait for the backend's close */
	bool ending;
	uint64_t killer;      /* victim: the session whose OK waits for this end; 0 = none */
	uintptr_t killer_gen; /* victim: that session's hold_gen */
};

struct kill_msg {
	uint64_t victim, killer;
	uintptr_t gen;
};

/* On the killer's thread; arg is the hold_gen of the hold it ends. */
static void kill_release(struct sess *s, void *arg)
{
	struct sess_kill *k = s->kill;
	if (!k || !k->holding || (uintptr_t)arg != k->hold_gen)
		return;
	k->holding = false;
	event_del(&k->hold_ev);
	sess_hook_release(s);
}

static void kill_hold_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	worker_log(s->hs.conn_id,
		   "the session a KILL ended did not close within %d ms; answer "
		   "released",
		   SESS_KILL_HOLD_MS);
	kill_release(s, (void *)s->kill->hold_gen);
}

static void kill_end_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	s->kill->ending = false;
	if (!sess_dead(s) && s->state != S_CLOSING)
		sess_close_after_flush(s, SESS_END_KILLED);
}

/* The session's kill state, made on first use; NULL when memory ran out. */
static struct sess_kill *kill_get(struct sess *s)
{
	if (!s->kill) {
		s->kill = calloc(1, sizeof(*s->kill));
		if (!s->kill)
			return NULL;
		evtimer_assign(&s->kill->hold_ev, s->w->base, kill_hold_timeout, s);
		evtimer_assign(&s->kill->end_ev, s->w->base, kill_end_timeout, s);
	}
	return s->kill;
}

/* On the victim's worker: the victim closes soon (its backend is gone), and
 * tells the killer when it has. */
static void kill_victim_run(struct worker *w, void *arg)
{
	struct kill_msg *m = arg;
	struct sess *s = NULL;
	struct sess_kill *k = NULL;
	if (worker_registry_find(m->victim, &s) == w && !sess_dead(s))
		k = kill_get(s);
	if (!k) { /* already closed (or no memory): nothing to wait for */
		sess_post_id(m->killer, kill_release, (void *)m->gen);
		free(m);
		return;
	}
	if (k->killer) /* one waits; an earlier KILL is let go */
		sess_post_id(k->killer, kill_release, (void *)k->killer_gen);
	k->killer = m->killer;
	k->killer_gen = m->gen;
	free(m);
	if (s->state != S_CLOSING && !k->ending) {
		k->ending = true;
		struct timeval tv = {0, SESS_KILL_EOF_MS * 1000};
		evtimer_add(&k->end_ev, &tv);
	}
}

bool sess_hook_hold_for_end(struct sess *s, uint64_t victim)
{
	struct sess *v = NULL;
	struct worker *w = worker_registry_find(victim, &v);
	if (!w || victim == s->hs.conn_id)
		return false;
	struct sess_kill *k = kill_get(s);
	struct kill_msg *m = malloc(sizeof(*m));
	if (!k || !m) {
		free(m);
		return false;
	}
	*m = (struct kill_msg){victim, s->hs.conn_id, ++k->hold_gen};
	k->holding = true;
	struct timeval tv = {0, SESS_KILL_HOLD_MS * 1000};
	evtimer_add(&k->hold_ev, &tv);
	worker_post(w, kill_victim_run, m);
	return true;
}

void sess_kill_end(struct sess *s)
{
	struct sess_kill *k = s->kill;
	if (!k)
		return;
	event_del(&k->hold_ev);
	event_del(&k->end_ev);
	if (k->killer)
		sess_post_id(k->killer, kill_release, (void *)k->killer_gen);
	free(k);
	s->kill = NULL;
}
