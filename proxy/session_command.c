/*
 * Session command phase, client side: at each command header picks SEND
 * (stream it to the server) or FETCH (wait for the whole command, ask the
 * hook, then forward or answer with an ERR).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/metrics.h"
#include "proxy/session_priv.h"

/* Starts following the server's answer to the command just forwarded. */
void sess_command_sent(struct sess *s)
{
	enum pkt_resp_kind kind = pkt_cmd_resp_kind(s->cmd);
	s->resp.want_row1 = s->hook_results && s->hs.want_first_value;
	s->resp.binary = s->cmd == COM_STMT_EXECUTE;
	s->resp.cursor = s->cmd == COM_STMT_EXECUTE && s->cmd_cursor;
	pkt_resp_start(&s->resp, kind, s->caps);
	s->row1_set = false;
	s->b_left = 0;
	if (kind == PKT_RESP_NONE) {
		metrics_command(s->cmd, 0);
		return; /* no answer: still idle */
	}
	sess_set_state(s, S_COMMAND);
}

/* Answers the current command with an ERR without bothering the server. */
static void reply_err(struct sess *s, const struct hook_reply *r)
{
	sess_send_err(s, (uint8_t)(s->c_seq + 1), r->code, r->sqlstate[0] ? r->sqlstate : "HY000",
		      "%s", r->message);
	metrics_command(s->cmd, (uint64_t)clk_mono_us() - s->cmd_start_us);
}

/* Applies a hook verdict to the fetched command (fetch_wire bytes at the
 * front of c.in). */
void sess_apply_verdict(struct sess *s, enum hook_verdict v, const struct hook_reply *reply)
{
	if (sess_private_defer(s, v, reply))
		return; /* after the private answer (session_private.c) */
	size_t wire = s->fetch_wire;
	s->fetch_wire = 0;
	if (v == HOOK_REJECT) {
		s->hs.step_to = 0;
		leg_in_drain(&s->c, wire);
		sess_set_state(s, S_IDLE);
		reply_err(s, reply);
		return;
	}
	if (s->cmd == COM_STMT_EXECUTE) {
		/* the server forgets the long data once the execute ran */
		struct pkt_exec_stmt *st = pkt_exec_stmts_find(&s->stmts, s->exec_id);
		if (st)
			pkt_exec_stmt_reset(st);
	}
	free(s->kept);
	s->kept = NULL;
	s->kept_len = 0;
	if (s->hs.keep_command && (s->cmd == COM_QUERY || s->cmd == COM_STMT_EXECUTE) &&
	    (s->kept = malloc(wire)) != NULL) {
		/* a DDL the hook may send again (sess_hook_resend): a single-packet
		 * COM_QUERY or a COM_STMT_EXECUTE without parameters, so the copy
		 * is small */
		s->kept_len = leg_in_copyout(&s->c, 0, s->kept, wire);
	}
	s->hs.keep_command = false;
	if (s->hs.step_to) {
		/* a script judged in steps: only its first step goes now */
		if (!sess_step_start(s, wire)) {
			if (sess_dead(s))
				return;
			static const struct hook_reply cannot = {
			    1290, "HY000",
			    "ddlgate: blocked: this script must be judged in steps and its "
			    "packet cannot be cut. Send its statements one at a time"};
			s->fetch_wire = wire; /* still at the front of c.in */
			sess_apply_verdict(s, HOOK_REJECT, &cannot);
			return;
		}
	} else {
		leg_in_forward(&s->c, &s->b, wire);
	}
	sess_set_state(s, S_IDLE);
	sess_command_sent(s);
}

bool sess_hook_resend(struct sess *s)
{
	if (sess_dead(s) || !s->held || !s->held_done || !s->kept_len)
		return false;
	leg_in_drain(&s->b, s->held);
	s->held = 0;
	s->held_done = false;
	if (evbuffer_add(s->b.out, s->kept, s->kept_len) != 0) {
		sess_close(s, SESS_END_OOM);
		return true;
	}
	sess_set_state(s, S_IDLE);
	sess_command_sent(s);
	sess_pump(s);
	return true;
}

static bool is_replication(uint8_t cmd)
{
	return cmd == COM_BINLOG_DUMP || cmd == COM_BINLOG_DUMP_GTID || cmd == COM_REGISTER_SLAVE ||
	       cmd == COM_TABLE_DUMP;
}

/* Commands fetched whole before a byte goes to the server. Executes and
 * closes only while the hook watches them; otherwise they stream. */
static bool is_fetched(const struct sess *s, uint8_t cmd)
{
	if (cmd == COM_STMT_EXECUTE || cmd == COM_STMT_CLOSE)
		return s->hs.watch_executes;
	return cmd == COM_QUERY || cmd == COM_STMT_PREPARE || cmd == COM_INIT_DB ||
	       cmd == COM_CHANGE_USER || cmd == COM_SET_OPTION || cmd == COM_PROCESS_KILL ||
	       is_replication(cmd);
}

/* The statement id of a COM_STMT_EXECUTE / COM_STMT_CLOSE payload; 0 if
 * the payload is too short to hold one. */
static uint32_t payload_stmt_id(const uint8_t *payload, size_t plen)
{
	if (plen < 5)
		return 0;
	return (uint32_t)payload[1] | (uint32_t)payload[2] << 8 | (uint32_t)payload[3] << 16 |
	       (uint32_t)payload[4] << 24;
}

/* Whether a COM_STMT_EXECUTE payload asks for a cursor (its flags byte). */
static bool payload_cursor(const uint8_t *payload, size_t plen)
{
	return plen >= 6 && (payload[5] & PKT_CURSOR_TYPE_MASK) != 0;
}

/*
 * While the hook watches executes, the head of a streamed
 * COM_STMT_SEND_LONG_DATA (statement and parameter) or COM_STMT_RESET
 * tells which parameters the next execute leaves out. h holds the
 * command's header and first byte; len its payload length. Returns false
 * to wait for more bytes.
 */
static bool long_data_seen(struct sess *s, struct leg *in, const uint8_t *h, uint32_t len)
{
	uint8_t head[PKT_HDR + 7];
	uint8_t cmd = h[PKT_HDR];
	if ((cmd != COM_STMT_SEND_LONG_DATA || len < 7) && (cmd != COM_STMT_RESET || len < 5))
		return true;
	size_t need = PKT_HDR + (cmd == COM_STMT_RESET ? 5 : 7);
	if (leg_in_copyout(in, 0, head, need) < need)
		return false;
	if (cmd == COM_STMT_SEND_LONG_DATA) {
		pkt_exec_stmts_long_data(&s->stmts, head + PKT_HDR, 7);
	} else {
		struct pkt_exec_stmt *st =
		    pkt_exec_stmts_find(&s->stmts, payload_stmt_id(head + PKT_HDR, 5));
		if (st)
			pkt_exec_stmt_reset(st);
	}
	return true;
}

/*
 * Ends a call into the hook (s->in_hook was set for it) that returned v. A
 * hook may decide before it returns (sess_hook_resume() during the call):
 * that decision, and its reply, win over HOOK_WAIT.
 */
static enum hook_verdict hook_decided(struct sess *s, enum hook_verdict v, struct hook_reply *reply)
{
	s->in_hook = false;
	if (v != HOOK_WAIT || !s->resume_pending)
		return v;
	s->resume_pending = false;
	if (s->resume_reply)
		*reply = *s->resume_reply;
	free(s->resume_reply);
	s->resume_reply = NULL;
	return s->resume_verdict;
}

/*
 * A whole fetched command is at the front of c.in (fetch_wire bytes, parts
 * packets, total payload bytes). Remembers what its success will change and asks the hook. Returns
 * false when the session closed.
 */
static bool fetched_command(struct sess *s, unsigned parts, uint64_t total)
{
	size_t wire = s->fetch_wire;
	uint8_t *copy = NULL;
	const uint8_t *payload;
	size_t plen;
	if (parts == 1) {
		payload = leg_in_pullup(&s->c, wire) + PKT_HDR;
		plen = wire - PKT_HDR;
	} else {
		/* Reassemble the 16 MiB parts: a copy, for giant statements only. */
		copy = malloc(total ? total : 1);
		if (!copy) {
			sess_close(s, SESS_END_OOM);
			return false;
		}
		plen = pkt_reassemble(leg_in_pullup(&s->c, wire), wire, copy);
		payload = copy;
	}
	uint8_t cmd = payload[0];
	s->cmd_cursor = cmd == COM_STMT_EXECUTE && payload_cursor(payload, plen);
	free(s->pending);
	s->pending = NULL;
	if (cmd == COM_INIT_DB) {
		s->pending = strndup((const char *)payload + 1, plen - 1);
	} else if (cmd == COM_SET_OPTION && plen >= 3) {
		s->pending_opt = (uint16_t)(payload[1] | payload[2] << 8);
	} else if (cmd == COM_CHANGE_USER) {
		const uint8_t *u, *sc;
		size_t ul, scl;
		if (pkt_change_user_parse(payload, plen, s->caps, &u, &ul, &sc, &scl)) {
			s->pending = malloc(ul + scl + 2);
			if (s->pending) {
				memcpy(s->pending, u, ul);
				s->pending[ul] = 0;
				if (sc)
					memcpy(s->pending + ul + 1, sc, scl);
				s->pending[ul + 1 + scl] = 0;
			}
		}
	}
	struct hook_reply reply;
	enum hook_verdict v = HOOK_FORWARD;
	if (is_replication(cmd) && !s->conf->cfg->proxy.allow_replication) {
		v = HOOK_REJECT;
		reply.code = 1290;
		strcpy(reply.sqlstate, "HY000");
		snprintf(reply.message, sizeof(reply.message),
			 "ddlgate: replication commands are refused ([proxy] allow_replication = "
			 "false)");
	} else if (cmd == COM_QUERY || cmd == COM_STMT_PREPARE || cmd == COM_INIT_DB ||
		   cmd == COM_PROCESS_KILL || is_replication(cmd)) {
		memset(&reply, 0, sizeof(reply));
		s->in_hook = true;
		v = hook_decided(s, hook_command(s, &s->hs, payload, plen, &reply), &reply);
	} else if (cmd == COM_STMT_CLOSE) {
		hook_stmt_close(s, &s->hs, payload_stmt_id(payload, plen));
		pkt_exec_stmts_del(&s->stmts, payload_stmt_id(payload, plen));
	} else if (cmd == COM_STMT_EXECUTE) {
		struct hook_exec x = {payload_stmt_id(payload, plen), payload, plen, NULL};
		struct pkt_exec_stmt *st = pkt_exec_stmts_find(&s->stmts, x.stmt_id);
		if (st) /* types bound now are the ones the server reuses next time */
			pkt_exec_stmt_executing(st, payload, plen, s->caps);
		x.stmt = st;
		s->exec_id = x.stmt_id;
		memset(&reply, 0, sizeof(reply));
		s->in_hook = true;
		v = hook_decided(s, hook_stmt_execute(s, &s->hs, &x, &reply), &reply);
	}
	free(copy);
	if (sess_dead(s))
		return false;
	if (v == HOOK_WAIT) {
		sess_set_state(s, S_HOOK_WAIT);
		return true;
	}
	sess_apply_verdict(s, v, &reply);
	return true;
}

/*
 * Compressed sessions: clients number the packets inside compressed frames
 * loosely (the frame's own sequence id is what they check), while the
 * uncompressed backend leg insists on exact ids. Rewrites the id of the
 * header at offset pos of buf to want; returns want.
 */
static uint8_t fix_seq(struct leg *in, size_t pos, uint8_t want)
{
	leg_in_poke(in, pos + 3, want);
	return want;
}

/* max_packet exceeded: a clear ERR, then close. */
static bool too_large(struct sess *s)
{
	sess_send_err(s, (uint8_t)(s->c_seq + 1), 1153, "08S01",
		      "Got a packet bigger than 'max_packet' (%llu bytes) [ddlgate]",
		      (unsigned long long)s->conf->cfg->proxy.max_packet);
	sess_close_after_flush(s, SESS_END_TOO_LARGE);
	return false;
}

/*
 * Works through the client's input: streams the rest of a packet being
 * sent, fetches and judges commands that carry SQL, starts the others.
 * Stops while an answer is pending (pipelined commands wait in c.in).
 * Returns false when the session closed.
 */
bool sess_client_process(struct sess *s)
{
	struct leg *in = &s->c;
	uint64_t max = s->conf->cfg->proxy.max_packet;
	for (;;) {
		switch (s->state) {
		case S_HELLO:
			if (!sess_on_hello(s))
				return false;
			if (s->state == S_AUTH)
				continue;
			return true;
		case S_AUTH:
			return sess_auth_relay(s, true);
		case S_IDLE:
		case S_COMMAND:
			break;
		default:
			return true;
		}
		size_t have = leg_in_len(in);
		if (s->c_left > 0) { /* stream the rest of a packet */
			if (have == 0)
				return true;
			size_t n = have < s->c_left ? have : (size_t)s->c_left;
			leg_in_forward(in, &s->b, n);
			s->c_left -= n;
			continue;
		}
		/* Client packets inside an answer: LOCAL INFILE data, or the auth
		 * exchange of COM_CHANGE_USER (auth switch, more data). */
		bool infile = s->state == S_COMMAND && s->resp.state == PKT_RS_INFILE;
		bool authx = s->state == S_COMMAND && s->resp.kind == PKT_RESP_AUTH &&
			     !pkt_resp_done(&s->resp);
		if (s->c_cont || infile || authx) {
			uint8_t h[PKT_HDR];
			if (leg_in_copyout(in, 0, h, PKT_HDR) != PKT_HDR)
				return true;
			uint32_t len = pkt_hdr_len(h);
			bool was_cont = s->c_cont;
			enum pkt_part r;
			if (was_cont) {
				if (s->c.zin)
					h[3] = fix_seq(in, 0, (uint8_t)(s->c_seq + 1));
				r = pkt_scan_part(&s->c_scan, h, max);
				if (r == PKT_PART_BAD_SEQ)
					return sess_fail(s, SESS_END_CONT_SEQ);
				s->c_seq = h[3];
				if (r == PKT_PART_TOO_LARGE)
					return too_large(s);
			} else {
				/* A packet of its own (LOCAL INFILE data, auth data):
				 * max_packet caps each logical packet, not the sum. */
				pkt_scan_begin(&s->c_scan);
				r = pkt_scan_part(&s->c_scan, h, UINT64_MAX);
				s->c_seq = h[3];
			}
			s->c_cont = r == PKT_PART_MORE;
			leg_in_forward(in, &s->b, PKT_HDR);
			s->c_left = len;
			if (infile && !was_cont && len == 0)
				pkt_resp_infile_done(&s->resp);
			if (was_cont && !s->c_cont && !infile && !authx)
				sess_command_sent(s); /* the last part of a streamed command */
			continue;
		}
		if (s->state != S_IDLE || s->held)
			return true; /* pipelined: wait for the answer */
		if (!s->fetching) {
			if (have < PKT_HDR + 1)
				return true;
			/* A new command. Pick up a reloaded configuration first. */
			if (!worker_conf_is_current(s->conf)) {
				worker_conf_release(s->conf);
				s->conf = worker_conf_acquire();
				max = s->conf->cfg->proxy.max_packet;
			}
			/* An execute's flags byte (cursor or not) decides how its
			 * answer is followed: wait for it even when it streams. */
			uint8_t h[PKT_HDR + 6];
			leg_in_copyout(in, 0, h, PKT_HDR + 1);
			uint32_t len = pkt_hdr_len(h);
			bool exec = h[PKT_HDR] == COM_STMT_EXECUTE && len >= 6;
			if (exec && leg_in_copyout(in, 0, h, sizeof(h)) < sizeof(h))
				return true;
			s->cmd_cursor = exec && payload_cursor(h + PKT_HDR, 6);
			if (s->hs.watch_executes && !long_data_seen(s, in, h, len))
				return true;
			if (s->c.zin)
				h[3] = fix_seq(in, 0, 0);
			if (h[3] != 0)
				return sess_fail(s, SESS_END_CMD_SEQ);
			if (len == 0)
				return sess_fail(s, SESS_END_CMD_EMPTY);
			s->cmd = h[PKT_HDR];
			s->hs.command = s->cmd;
			s->hs.keep_command = false;
			s->hs.step_to = 0;
			sess_step_reset(s);
			s->c_seq = 0;
			pkt_scan_begin(&s->c_scan);
			enum pkt_part r = pkt_scan_part(&s->c_scan, h, max);
			s->cmd_start_us = (uint64_t)clk_mono_us();
			s->hook_results = s->cmd == COM_QUERY || s->cmd == COM_STMT_PREPARE ||
					  s->cmd == COM_STMT_EXECUTE || s->cmd == COM_INIT_DB ||
					  s->cmd == COM_PROCESS_KILL;
			s->last_active_ms = sess_now_ms();
			if (r == PKT_PART_TOO_LARGE)
				return too_large(s);
			if (s->cmd == COM_QUIT) {
				sess_set_state(s, S_IDLE);
				sess_close(s, SESS_END_CLIENT_QUIT); /* passes the QUIT on */
				return false;
			}
			if (!is_fetched(s, s->cmd)) {
				/* SEND: stream it. With no continuation the whole command
				 * is known now, so the answer is followed from here. */
				s->c_cont = r == PKT_PART_MORE;
				s->c_left = len;
				leg_in_forward(in, &s->b, PKT_HDR);
				if (!s->c_cont)
					sess_command_sent(s);
				continue;
			}
			s->fetching = true;
		}
		/* FETCH: find the end of the logical packet (continuations too)
		 * with the codec's scanner, from the first header on each pass:
		 * headers are cheap to walk and nothing is copied until the
		 * whole command is there. */
		struct pkt_scan_state st;
		size_t pos = 0;
		pkt_scan_begin(&st);
		for (;;) {
			uint8_t h[PKT_HDR];
			s->fetch_need = pos + PKT_HDR;
			if (have < pos + PKT_HDR)
				return true;
			leg_in_copyout(in, pos, h, PKT_HDR);
			uint32_t len = pkt_hdr_len(h);
			if (s->c.zin) /* see fix_seq() */
				h[3] = fix_seq(in, pos, (uint8_t)st.parts);
			enum pkt_part r = pkt_scan_part(&st, h, max);
			if (r == PKT_PART_BAD_SEQ)
				return sess_fail(s, SESS_END_CONT_SEQ);
			s->c_seq = h[3];
			if (r == PKT_PART_TOO_LARGE) {
				s->fetching = false;
				return too_large(s);
			}
			s->fetch_need = pos + PKT_HDR + len;
			if (have < pos + PKT_HDR + len)
				return true;
			pos += PKT_HDR + len;
			if (r == PKT_PART_LAST)
				break;
		}
		s->fetching = false;
		s->fetch_wire = pos;
		if (!fetched_command(s, st.parts, st.payload))
			return false;
	}
}
