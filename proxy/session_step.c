/*
 * Session command phase, a script sent in steps: the client's
 * multi-statement COM_QUERY goes to the server as several COM_QUERYs, one
 * per step, while the client sees the one multi-result answer it asked for.
 *
 *   client  COM_QUERY "UPDATE ...; ALTER ..."           (seq 0)
 *   ddlgate ──> server  COM_QUERY "UPDATE ..."          (seq 0)
 *           <── OK (seq 1), held for the hook; it goes on to the client with
 *               SERVER_MORE_RESULTS_EXISTS set
 *   hook    probes, judges the rest: sess_hook_step() or sess_hook_step_refuse()
 *   ddlgate ──> server  COM_QUERY "ALTER ..."           (seq 0)
 *           <── OK (seq 1), to the client as seq 2: sequence ids continue
 *
 * A refused rest ends the answer with an ERR after the last step's result,
 * as the server ends a script whose later statement fails.
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
	if (w && n > PKT_HDR) {
		uint8_t *p = w + PKT_HDR;
		size_t len = n - PKT_HDR;
		size_t at = 0;
		if (p[0] == 0xFE && len < 9 && !(s->caps & CLIENT_DEPRECATE_EOF)) {
			at = 3; /* EOF: header, warnings, status */
		} else if (p[0] == 0x00 || p[0] == 0xFE) {
			struct pkt_rd r;
			uint64_t v;
			pkt_rd_init(&r, p, len);
			if (pkt_rd_skip(&r, 1) && pkt_rd_lenenc(&r, &v, NULL) &&
			    pkt_rd_lenenc(&r, &v, NULL))
				at = r.pos;
		}
		if (at && at + 2 <= len)
			leg_in_poke(&s->b, PKT_HDR + at, p[at] | SERVER_MORE_RESULTS_EXISTS);
	}
	s->held = 0;
	s->held_done = false;
	leg_in_forward(&s->b, &s->c, n);
	return seq;
}

bool sess_hook_step(struct sess *s, size_t from, size_t to)
{
	if (sess_dead(s) || !s->held || !s->held_done || !s->step_cmd || s->state != S_COMMAND ||
	    from >= to || to > s->step_cmd_len - s->step_sql_off)
		return false;
	s->step_index += s->resp.index;
	s->step_seq = step_release_more(s);
	if (!step_send(s, from, to))
		return true;
	sess_set_state(s, S_IDLE);
	sess_command_sent(s);
	sess_pump(s);
	return true;
}

void sess_hook_step_refuse(struct sess *s, const struct hook_reply *reply)
{
	if (sess_dead(s) || !s->held || !s->held_done || s->state != S_COMMAND) {
		sess_hook_answer_err(s, reply);
		return;
	}
	uint8_t seq = step_release_more(s);
	sess_send_err(s, (uint8_t)(seq + 1), reply->code,
		      reply->sqlstate[0] ? reply->sqlstate : "HY000", "%s", reply->message);
	sess_command_done(s);
	sess_pump(s);
}
