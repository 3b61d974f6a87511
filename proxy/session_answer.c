/*
 * Session command phase, server side: follows the server's answer with
 * pkt.c's response follower, streams rows, fetches the packets the
 * follower reads whole, tells the hook about each statement and holds a
 * terminal packet while the hook decides.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/metrics.h"
#include "proxy/session_priv.h"

/* The server's answer to the current command is complete. */
void sess_command_done(struct sess *s)
{
	metrics_command(s->cmd, (uint64_t)clk_mono_us() - s->cmd_start_us);
	if (s->step_cmd)
		sess_step_reset(s); /* a script sent in steps is over */
	sess_set_state(s, S_IDLE);
	s->last_active_ms = sess_now_ms();
}

/* What a successful command changes in the session. */
static void command_ok(struct sess *s, const struct pkt_result *res)
{
	if (res->okp.schema)
		sess_copy_str(s->hs.schema, sizeof(s->hs.schema), res->okp.schema,
			      res->okp.schema_len);
	switch (s->cmd) {
	case COM_INIT_DB:
		if (s->pending)
			snprintf(s->hs.schema, sizeof(s->hs.schema), "%s", s->pending);
		break;
	case COM_SET_OPTION:
		s->hs.multi_statements = s->pending_opt == 0;
		break;
	case COM_CHANGE_USER:
		if (s->pending) {
			snprintf(s->hs.user, sizeof(s->hs.user), "%s", s->pending);
			snprintf(s->hs.schema, sizeof(s->hs.schema), "%s",
				 s->pending + strlen(s->pending) + 1);
		}
		pkt_exec_stmts_clear(&s->stmts);
		hook_session_reset(s, &s->hs);
		break;
	case COM_RESET_CONNECTION:
		pkt_exec_stmts_clear(&s->stmts);
		hook_session_reset(s, &s->hs);
		break;
	default:
		break;
	}
}

/*
 * One statement's answer is complete. Tells the hook (for commands it
 * follows) and returns whether the terminal packet may go on now.
 */
static bool statement_done(struct sess *s, const struct pkt_result *res)
{
	if (res->ok) {
		s->hs.server_status = res->status;
		s->hs.server_status_known = true;
		command_ok(s, res);
	}
	if (!s->hook_results)
		return true;
	struct hook_result r = {
	    .index = s->resp.index - 1 + s->step_index,
	    .ok = res->ok,
	    .more = res->more,
	    .error_code = res->err.code,
	    .affected_rows = res->affected_rows,
	    .last_insert_id = res->last_insert_id,
	    .warnings = res->warnings,
	    .result_set = res->result_set,
	    .stmt_id = res->stmt_id,
	};
	if (!res->ok) {
		memcpy(r.sqlstate, res->err.sqlstate, sizeof(r.sqlstate));
		r.error_message = (const char *)res->err.message;
		r.error_message_len = res->err.message_len;
	}
	if (res->result_set && res->rows == 1 && s->row1_set) {
		r.first_value = s->row1_null ? NULL : s->row1;
		r.first_value_len = s->row1_len;
		r.first_value_null = s->row1_null;
	}
	s->row1_set = false;
	bool go = hook_result(s, &s->hs, &r);
	/* after the hook: the prepare that makes it watch executes counts */
	if (res->ok && res->stmt_id && s->cmd == COM_STMT_PREPARE && s->hs.watch_executes)
		(void)pkt_exec_stmts_add(&s->stmts, res->stmt_id, (unsigned)s->resp.nparams);
	return go;
}

/*
 * Works through the server's input: streams rows, fetches the packets the
 * follower needs, hands completed statements to the hook and holds a
 * terminal packet while the hook asks. Returns false when the session
 * closed.
 */
bool sess_backend_process(struct sess *s)
{
	struct leg *in = &s->b;
	switch (s->state) {
	case S_GREETING:
		if (!sess_on_greeting(s))
			return false;
		return true;
	case S_AUTH:
		return sess_auth_relay(s, false);
	case S_IDLE:
	case S_COMMAND:
	case S_HOOK_WAIT:
	case S_STEP_WAIT:
		break;
	default:
		return true;
	}
	if (s->priv && !sess_private_process(s))
		return false;
	if (s->priv)
		return true; /* the rest of a private answer is still to come */
	for (;;) {
		if (s->held)
			return true;
		size_t have = leg_in_len(in);
		if (s->b_left > 0) {
			if (have == 0)
				return true;
			size_t n = have < s->b_left ? have : (size_t)s->b_left;
			leg_in_forward(in, &s->c, n);
			s->b_left -= n;
			if (s->b_left == 0 && pkt_resp_done(&s->resp) && s->state == S_COMMAND)
				sess_command_done(s);
			continue;
		}
		if (have < PKT_HDR)
			return true;
		uint8_t h[PKT_HDR + 1];
		size_t got = leg_in_copyout(in, 0, h, have > PKT_HDR ? PKT_HDR + 1 : PKT_HDR);
		uint32_t len = pkt_hdr_len(h);
		if (len > 0 && got < PKT_HDR + 1)
			return true;
		uint8_t first = len > 0 ? h[PKT_HDR] : 0;
		if (s->state != S_COMMAND || pkt_resp_done(&s->resp)) {
			/* Unsolicited: the server only does this to say goodbye
			 * (killed, idle timeout, shutdown) with an ERR. */
			if (first != 0xFF)
				return sess_fail(s, SESS_END_BACKEND_UNSOLICITED);
			if (have < PKT_HDR + len)
				return true;
			if (s->step_seq)
				sess_step_seq(s, in);
			leg_in_forward(in, &s->c, PKT_HDR + len);
			continue;
		}
		if (pkt_resp_peek(&s->resp, len, first) == PKT_SEND) {
			struct pkt_result res;
			const uint8_t *v;
			size_t vl;
			bool vn;
			enum pkt_resp_event ev = pkt_resp_feed(&s->resp, h + PKT_HDR, len ? 1 : 0,
							       len, &res, &v, &vl, &vn);
			if (ev == PKT_EV_BAD) {
				return sess_fail(s, SESS_END_BACKEND_PROTOCOL);
			}
			s->b_left = len;
			if (s->step_seq)
				sess_step_seq(s, in);
			leg_in_forward(in, &s->c, PKT_HDR);
			if (ev == PKT_EV_RESULT) /* STATISTICS: a streamed answer cannot be held */
				(void)statement_done(s, &res);
			if (s->b_left == 0 && pkt_resp_done(&s->resp))
				sess_command_done(s);
			continue;
		}
		/* WHOLE */
		if (have < PKT_HDR + len)
			return true;
		if (s->step_seq)
			sess_step_seq(s, in);
		const uint8_t *p = leg_in_pullup(in, PKT_HDR + len) + PKT_HDR;
		struct pkt_result res;
		const uint8_t *v = NULL;
		size_t vl = 0;
		bool vn = false;
		enum pkt_resp_event ev = pkt_resp_feed(&s->resp, p, len, len, &res, &v, &vl, &vn);
		switch (ev) {
		case PKT_EV_BAD:
			return sess_fail(s, SESS_END_BACKEND_PROTOCOL);
		case PKT_EV_ROW1:
			s->row1_set = vn || vl <= SESS_ROW1_MAX;
			s->row1_null = vn;
			s->row1_len = vn ? 0 : (uint8_t)(vl <= SESS_ROW1_MAX ? vl : 0);
			if (!vn && vl <= SESS_ROW1_MAX && vl)
				memcpy(s->row1, v, vl);
			break;
		case PKT_EV_INFILE:
			break;
		case PKT_EV_RESULT:
			if (!statement_done(s, &res)) {
				if (sess_dead(s))
					return false;
				s->held = PKT_HDR + len;
				s->held_done = pkt_resp_done(&s->resp);
				return true;
			}
			if (sess_dead(s))
				return false;
			break;
		default:
			break;
		}
		leg_in_forward(in, &s->c, PKT_HDR + len);
		if (pkt_resp_done(&s->resp))
			sess_command_done(s);
	}
}
