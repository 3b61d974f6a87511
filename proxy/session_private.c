/*
 * Private queries: ddlgate asks the session's own backend connection a
 * question between commands, while the hook holds a client command. The
 * client never sees a byte of it.
 *
 *   client command fetched ──hook──> HOOK_WAIT ──sess_hook_private_query──>
 *     COM_QUERY (seq 0) into b.out ──> answer read here (pkt_private.c),
 *     dropped from b.in ──> done(s, arg, result) ──> the hook resumes:
 *     the held command is forwarded or refused.
 *
 * Between two steps of a script (STEP_WAIT, session_step.c) the same holds:
 * the step's last answer has gone to the client, the backend is idle, and
 * the rest is judged with what this connection answers.
 *
 * A verdict or step that comes while an answer is pending (or after its
 * done was called for a timeout) waits until the answer has been read
 * whole: the backend leg carries one command at a time.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "proxy/pkt_private.h"
#include "proxy/session_priv.h"

struct sess_private {
	void (*done)(struct sess *s, void *arg,
		     const struct private_result *r); /* NULL once called */
	void *arg;				      /* borrowed, the caller's */
	struct sess *s;				      /* borrowed: the owner */
	struct event timer;			      /* the answer's deadline */
	enum {
		PRIV_THEN_NOTHING,
		PRIV_THEN_VERDICT,  /* a verdict on the held command waits */
		PRIV_THEN_STEP,	    /* the next step of a script waits */
		PRIV_THEN_STEP_END, /* the refusal of a script's rest waits */
	} then;			    /* what waits for the answer */
	enum hook_verdict verdict;
	bool has_reply;
	struct hook_reply reply;
	size_t step_from, step_to;
	uint64_t skip;		 /* bytes of the current packet still to drop */
	bool skip_cont;		 /* the dropped packet is continued by the next one */
	struct priv_parse parse; /* owns the kept first row */
};

/* Frees the private query state (the session ends, or its answer was read). */
void sess_private_free(struct sess *s)
{
	struct sess_private *p = s->priv;
	if (!p)
		return;
	event_del(&p->timer);
	s->priv = NULL;
	free(p);
}

/* Calls done once (a timeout calls it early with PRIVATE_FAILED). */
static void private_done(struct sess_private *p, const struct private_result *r)
{
	void (*done)(struct sess *, void *, const struct private_result *) = p->done;
	p->done = NULL;
	if (done)
		done(p->s, p->arg, r);
}

static void private_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct sess_private *p = arg;
	struct private_result r = {.kind = PRIVATE_FAILED};
	(void)fd;
	(void)what;
	strcpy(r.message, "the private query did not answer in time");
	private_done(p, &r);
}

bool sess_hook_private_query(struct sess *s, const char *sql, size_t len,
			     void (*done)(struct sess *s, void *arg,
					  const struct private_result *r),
			     void *arg)
{
	if (sess_dead(s) || s->priv || s->held || s->b.fd < 0 || !done ||
	    !(s->in_hook || s->state == S_HOOK_WAIT || s->state == S_STEP_WAIT) ||
	    len + 1 >= PKT_MAX_PAYLOAD)
		return false;
	struct sess_private *p = calloc(1, sizeof(*p));
	if (!p)
		return false;
	uint8_t h[PKT_HDR + 1];
	pkt_hdr_put(h, (uint32_t)(len + 1), 0);
	h[PKT_HDR] = COM_QUERY;
	if (evbuffer_add(s->b.out, h, sizeof(h)) != 0 || evbuffer_add(s->b.out, sql, len) != 0) {
		free(p);
		sess_close(s, SESS_END_OOM);
		return true; /* the session is over: done never comes */
	}
	p->done = done;
	p->arg = arg;
	p->s = s;
	priv_parse_begin(&p->parse, s->caps);
	int ms =
	    s->conf->cfg->guard.probe_timeout_ms > 0 ? s->conf->cfg->guard.probe_timeout_ms : 2000;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_assign(&p->timer, s->w->base, private_timeout, p);
	evtimer_add(&p->timer, &tv);
	s->priv = p;
	if (!s->in_hook)
		sess_pump(s); /* inside hook_command the relay writes it on return */
	return true;
}

bool sess_private_defer(struct sess *s, enum hook_verdict v, const struct hook_reply *reply)
{
	struct sess_private *p = s->priv;
	if (!p)
		return false;
	p->then = PRIV_THEN_VERDICT;
	p->verdict = v;
	p->has_reply = reply != NULL;
	if (reply)
		p->reply = *reply;
	sess_set_state(s, S_HOOK_WAIT);
	return true;
}

bool sess_private_defer_step(struct sess *s, size_t from, size_t to,
			     const struct hook_reply *refuse)
{
	struct sess_private *p = s->priv;
	if (!p)
		return false;
	p->then = refuse ? PRIV_THEN_STEP_END : PRIV_THEN_STEP;
	p->step_from = from;
	p->step_to = to;
	if (refuse)
		p->reply = *refuse;
	return true;
}

/* The answer is read whole: done (unless a timeout called it already),
 * then what waited for it: a verdict, or the next step of a script. If
 * done asked another question, that waits for this one's answer. */
static void private_finish(struct sess *s)
{
	struct sess_private *p = s->priv;
	s->priv = NULL;
	event_del(&p->timer);
	private_done(p, &p->parse.res); /* the values point into p: freed after */
	if (!sess_dead(s)) {
		switch (p->then) {
		case PRIV_THEN_VERDICT:
			if (!sess_private_defer(s, p->verdict, p->has_reply ? &p->reply : NULL))
				sess_apply_verdict(s, p->verdict, p->has_reply ? &p->reply : NULL);
			break;
		case PRIV_THEN_STEP:
			if (!sess_private_defer_step(s, p->step_from, p->step_to, NULL))
				sess_step_go(s, p->step_from, p->step_to);
			break;
		case PRIV_THEN_STEP_END:
			if (!sess_private_defer_step(s, 0, 0, &p->reply))
				sess_step_end(s, &p->reply);
			break;
		case PRIV_THEN_NOTHING:
			break;
		}
	}
	free(p);
}

bool sess_private_process(struct sess *s)
{
	struct leg *in = &s->b;
	while (s->priv && !sess_dead(s)) {
		struct sess_private *p = s->priv;
		size_t have = leg_in_len(in);
		if (p->skip > 0) { /* the rest of a long packet */
			if (have == 0)
				return true;
			size_t n = have < p->skip ? have : (size_t)p->skip;
			leg_in_drain(in, n);
			p->skip -= n;
			continue;
		}
		uint8_t h[PKT_HDR + 1];
		if (leg_in_copyout(in, 0, h, sizeof(h)) < sizeof(h)) {
			if (have < PKT_HDR || pkt_hdr_len(h) > 0)
				return true;
			h[PKT_HDR] = 0; /* an empty packet */
		}
		uint32_t len = pkt_hdr_len(h);
		if (p->skip_cont) { /* a continuation of a dropped packet */
			p->skip_cont = len == PKT_MAX_PAYLOAD;
			leg_in_drain(in, PKT_HDR);
			p->skip = len;
			continue;
		}
		if (len == 0)
			return sess_fail(s, SESS_END_BACKEND_PROTOCOL);
		bool whole =
		    len < PKT_MAX_PAYLOAD && priv_parse_wants_whole(&p->parse, len, h[PKT_HDR]);
		enum priv_event ev;
		if (whole) {
			if (have < PKT_HDR + len)
				return true;
			const uint8_t *pl = leg_in_pullup(in, PKT_HDR + len);
			if (!pl) {
				sess_close(s, SESS_END_OOM);
				return false;
			}
			ev = priv_parse_feed(&p->parse, pl + PKT_HDR, len, true);
			leg_in_drain(in, PKT_HDR + len);
		} else {
			ev = priv_parse_feed(&p->parse, h + PKT_HDR, len, false);
			leg_in_drain(in, PKT_HDR);
			p->skip = len;
			p->skip_cont = len == PKT_MAX_PAYLOAD;
		}
		/* Not an answer: where it ends is unknown, so the connection is
		 * beyond repair. (Terminal packets are read whole: nothing of a
		 * finished answer is left to drop.) */
		if (ev == PRIV_EV_BAD)
			return sess_fail(s, SESS_END_BACKEND_PROTOCOL);
		if (ev == PRIV_EV_DONE)
			private_finish(s);
	}
	return !sess_dead(s);
}
