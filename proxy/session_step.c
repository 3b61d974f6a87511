/*
 * Session command phase, a script sent in steps: the client's
 * multi-statement COM_QUERY goes to the server as several COM_QUERYs, one
 * per step, while the client sees the one multi-result answer it asked for.
 *
 *   client  COM_QUERY "UPDATE ...; ALTER ..."           (seq 0)
 *   ddlgate ──> server  COM_QUERY "UPDATE ..."          (seq 0)
 *           <── OK (seq 1), held for the hook (its audit record first);
 *               sess_hook_step_release() lets it go on to the client with
 *               SERVER_MORE_RESULTS_EXISTS set: STEP_WAIT, the backend idle
 *   hook    probes, on this connection too (private queries: they see the
 *           step's uncommitted writes), judges the rest:
 *           sess_hook_step() or sess_hook_step_refuse()
 *   ddlgate ──> server  COM_QUERY "ALTER ..."           (seq 0)
 *           <── OK (seq 1), to the client as seq 2: sequence ids continue
 *
 * A refused rest ends the answer with an ERR after the last step's result
 * (sequence id one past it), as the server ends a script whose later
 * statement fails. A decision that comes while a private answer is due
 * waits until it has been read whole (session_private.c).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/session_priv.h"

void sess_step_reset(struct sess *s)
{
	free(s->step_cmd);
	s->step_cmd = NULL;
	s->step_cmd_len = 0;
	s->step_sql_off = 0;
	s->step_seq = 0;
	s->step_index = 0;
}

/* Queues a COM_QUERY of the kept command's head (command byte and query
 * attributes) and its SQL bytes [from, to) to the server. */
static bool step_send(struct sess *s, size_t from, size_t to)
{
	size_t len = s->step_sql_off + (to - from);
	uint8_t h[PKT_HDR] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), 0};
	if (evbuffer_add(s->b.out, h, PKT_HDR) != 0 ||
	    evbuffer_add(s->b.out, s->step_cmd, s->step_sql_off) != 0 ||
	    evbuffer_add(s->b.out, s->step_cmd + s->step_sql_off + from, to - from) != 0) {
		sess_close(s, SESS_END_OOM);
		return false;
	}
	return true;
}

bool sess_step_start(struct sess *s, size_t wire)
{
	size_t to = s->hs.step_to;
	s->hs.step_to = 0;
	sess_step_reset(s);
	size_t plen = wire - PKT_HDR;
	if (s->cmd != COM_QUERY || plen >= PKT_MAX_PAYLOAD)
		return false;
	s->step_cmd = malloc(plen);
	if (!s->step_cmd) {
		sess_close(s, SESS_END_OOM);
		return false;
	}
	s->step_cmd_len = leg_in_copyout(&s->c, PKT_HDR, s->step_cmd, plen);
	const uint8_t *sql;
	size_t sqllen;
	if (s->step_cmd_len != plen || !pkt_query_sql(s->step_cmd, plen, s->caps, &sql, &sqllen) ||
	    to == 0 || to > sqllen) {
		sess_step_reset(s);
		return false;
	}
	s->step_sql_off = (size_t)(sql - s->step_cmd);
	leg_in_drain(&s->c, wire);
	return step_send(s, 0, to);
}

void sess_step_seq(struct sess *s, struct leg *in)
{
	uint8_t seq = 0;
	(void)leg_in_copyout(in, 3, &seq, 1);
	leg_in_poke(in, 3, (uint8_t)(seq + s->step_seq));
}

/*
 * Sets SERVER_MORE_RESULTS_EXISTS in the held terminal packet (an OK, or
 * the EOF or OK that ends a result set) and lets it go to the client.
 * Returns its sequence id as the client sees it.
 */
static uint8_t step_release_more(struct sess *s)
{
	size_t n = s->held;
	uint8_t *w = leg_in_pullup(&s->b, n);
	uint8_t seq = w ? w[3] : 0;
	size_t at = w && n > PKT_HDR ? pkt_status_at(w + PKT_HDR, n - PKT_HDR, s->caps) : 0;
	if (at)
		leg_in_poke(&s->b, PKT_HDR + at, w[PKT_HDR + at] | SERVER_MORE_RESULTS_EXISTS);
	s->held = 0;
	s->held_done = false;
	leg_in_forward(&s->b, &s->c, n);
	return seq;
}

bool sess_hook_step_release(struct sess *s)
{
	if (sess_dead(s) || !s->held || !s->held_done || !s->step_cmd || s->state != S_COMMAND)
		return false;
	s->step_index += s->resp.index;
	s->step_seq = step_release_more(s);
	sess_set_state(s, S_STEP_WAIT);
	sess_pump(s);
	return true;
}

void sess_step_go(struct sess *s, size_t from, size_t to)
{
	if (!step_send(s, from, to))
		return;
	sess_set_state(s, S_IDLE);
	sess_command_sent(s);
	sess_pump(s);
}

void sess_step_end(struct sess *s, const struct hook_reply *reply)
{
	sess_send_err(s, (uint8_t)(s->step_seq + 1), reply->code,
		      reply->sqlstate[0] ? reply->sqlstate : "HY000", "%s", reply->message);
	sess_command_done(s);
	sess_pump(s);
}

bool sess_hook_step(struct sess *s, size_t from, size_t to)
{
	if (s->state == S_COMMAND)
		(void)sess_hook_step_release(s);
	if (sess_dead(s) || s->state != S_STEP_WAIT || !s->step_cmd || from >= to ||
	    to > s->step_cmd_len - s->step_sql_off)
		return false;
	if (!sess_private_defer_step(s, from, to, NULL)) /* else after the private answer */
		sess_step_go(s, from, to);
	return true;
}

void sess_hook_step_refuse(struct sess *s, const struct hook_reply *reply)
{
	if (s->state == S_COMMAND)
		(void)sess_hook_step_release(s);
	if (sess_dead(s) || s->state != S_STEP_WAIT) {
		sess_hook_answer_err(s, reply);
		return;
	}
	if (!sess_private_defer_step(s, 0, 0, reply))
		sess_step_end(s, reply);
}
