/* MySQL wire-protocol codec: the response follower (where each server answer ends, and what it
 * said). */
#include "proxy/pkt.h"

#include <stdio.h>
#include <string.h>

/* ---- response follower ------------------------------------------------------ */

enum pkt_resp_kind pkt_cmd_resp_kind(uint8_t cmd)
{
	switch (cmd) {
	case COM_QUIT:
	case COM_STMT_CLOSE:
	case COM_STMT_SEND_LONG_DATA:
		return PKT_RESP_NONE;
	case COM_STMT_PREPARE:
		return PKT_RESP_PREPARE;
	case COM_STMT_FETCH:
		return PKT_RESP_FETCH;
	case COM_FIELD_LIST:
		return PKT_RESP_FIELDS;
	case COM_STATISTICS:
		return PKT_RESP_RAW1;
	case COM_CHANGE_USER:
		return PKT_RESP_AUTH;
	case COM_BINLOG_DUMP:
	case COM_BINLOG_DUMP_GTID:
	case COM_TABLE_DUMP:
		return PKT_RESP_STREAM;
	default:
		return PKT_RESP_GENERIC;
	}
}

void pkt_resp_start(struct pkt_resp *r, enum pkt_resp_kind kind, uint32_t caps)
{
	bool want = r->want_row1, bin = r->binary, cursor = r->cursor;
	memset(r, 0, sizeof(*r));
	r->caps = caps;
	r->kind = (uint8_t)kind;
	r->want_row1 = want;
	r->binary = bin;
	r->cursor = cursor;
	r->col_type = 0xFF;
	switch (kind) {
	case PKT_RESP_NONE:
		r->state = PKT_RS_DONE;
		break;
	case PKT_RESP_FETCH:
		r->state = PKT_RS_ROWS;
		r->binary = true;
		break;
	default:
		r->state = PKT_RS_FIRST;
		break;
	}
}

enum pkt_resp_need pkt_resp_peek(const struct pkt_resp *r, uint32_t len, uint8_t first)
{
	if (r->cont || len == 0)
		return PKT_SEND;
	switch (r->state) {
	case PKT_RS_FIRST:
		switch (r->kind) {
		case PKT_RESP_RAW1:
		case PKT_RESP_STREAM:
			return PKT_SEND;
		case PKT_RESP_AUTH:
			return first == 0x00 || first == 0xFF ? PKT_WHOLE : PKT_SEND;
		case PKT_RESP_FIELDS:
			return first == 0xFF || pkt_is_eof(first, len, r->caps) ? PKT_WHOLE
										: PKT_SEND;
		default:
			return PKT_WHOLE; /* OK, ERR, EOF, INFILE or a column count: all small */
		}
	case PKT_RS_COLEOF:
	case PKT_RS_PARAMEOF:
		return PKT_WHOLE;
	case PKT_RS_COLDEFS:
		/* Binary rows need the column's type to decode the first value. */
		if (r->want_row1 && r->ncols == 1 && r->binary && !r->prepare && len < 4096)
			return PKT_WHOLE;
		return PKT_SEND;
	case PKT_RS_ROWS:
		if (first == 0xFF || pkt_is_eof(first, len, r->caps))
			return PKT_WHOLE;
		if (r->want_row1 && r->rows == 0 && r->ncols == 1 && len < 4096)
			return PKT_WHOLE;
		return PKT_SEND;
	default:
		return PKT_SEND;
	}
}

/* Completes one statement result from a terminating OK / EOF packet. */
static enum pkt_resp_event finish_ok(struct pkt_resp *r, const uint8_t *p, size_t len,
				     struct pkt_result *res, bool result_set)
{
	memset(res, 0, sizeof(*res));
	res->ok = true;
	res->result_set = result_set;
	res->rows = r->rows;
	if (p[0] == 0xFE && !(r->caps & CLIENT_DEPRECATE_EOF)) {
		if (!pkt_parse_eof(p, len, &res->status, &res->warnings))
			return PKT_EV_BAD;
	} else {
		if (!pkt_parse_ok(p, len, r->caps, &res->okp))
			return PKT_EV_BAD;
		res->status = res->okp.status;
		res->warnings = res->okp.warnings;
		if (!result_set) {
			res->affected_rows = res->okp.affected_rows;
			res->last_insert_id = res->okp.last_insert_id;
		}
	}
	res->more = (res->status & SERVER_MORE_RESULTS_EXISTS) != 0;
	r->index++;
	r->rows = 0;
	r->state = res->more && r->kind == PKT_RESP_GENERIC ? PKT_RS_FIRST : PKT_RS_DONE;
	return PKT_EV_RESULT;
}

static enum pkt_resp_event finish_err(struct pkt_resp *r, const uint8_t *p, size_t len,
				      struct pkt_result *res)
{
	memset(res, 0, sizeof(*res));
	if (!pkt_parse_err(p, len, r->caps, &res->err))
		return PKT_EV_BAD;
	if (res->err.code == 0xFFFF) /* MariaDB progress report: not an answer */
		return PKT_EV_NONE;
	res->rows = r->rows;
	r->index++;
	r->state = PKT_RS_DONE;
	return PKT_EV_RESULT;
}

/* The prepare answer is over: report it as one OK result. */
static enum pkt_resp_event finish_prepare(struct pkt_resp *r, struct pkt_result *res)
{
	memset(res, 0, sizeof(*res));
	res->ok = true;
	res->warnings = r->prep_warnings;
	res->stmt_id = r->stmt_id;
	r->index++;
	r->state = PKT_RS_DONE;
	return PKT_EV_RESULT;
}

/* Column definitions are over: what comes next. */
static enum pkt_resp_event after_coldefs(struct pkt_resp *r, struct pkt_result *res)
{
	if (!(r->caps & CLIENT_DEPRECATE_EOF)) {
		r->state = PKT_RS_COLEOF;
		return PKT_EV_NONE;
	}
	if (r->prepare)
		return finish_prepare(r, res);
	r->state = PKT_RS_ROWS;
	return PKT_EV_NONE;
}

static enum pkt_resp_event after_params(struct pkt_resp *r, struct pkt_result *res)
{
	if (r->ncols == 0)
		return finish_prepare(r, res);
	r->state = PKT_RS_COLDEFS;
	r->left = r->ncols;
	return PKT_EV_NONE;
}

/* The type and flags of a column definition (protocol 41). */
static void parse_coltype(struct pkt_resp *r, const uint8_t *p, size_t len)
{
	struct pkt_rd rd;
	const uint8_t *s;
	size_t n;
	uint64_t fixed;
	uint16_t charset, flags;
	uint32_t width;
	uint8_t type;
	pkt_rd_init(&rd, p, len);
	r->col_type = 0xFF; /* unknown: no capture */
	for (int i = 0; i < 6; i++)
		if (!pkt_rd_lenenc_str(&rd, &s, &n))
			return;
	/* MariaDB's extended metadata (MARIADB_CLIENT_EXTENDED_METADATA) puts
	 * one more string before the fixed-length fields, which are 13 bytes
	 * starting with their length 0x0C */
	if (!(pkt_rd_left(&rd) == 13 && rd.p[rd.pos] == 0x0C) && !pkt_rd_lenenc_str(&rd, &s, &n))
		return;
	if (!pkt_rd_lenenc(&rd, &fixed, NULL) || !pkt_rd_u16(&rd, &charset) ||
	    !pkt_rd_u32(&rd, &width) || !pkt_rd_u8(&rd, &type) || !pkt_rd_u16(&rd, &flags))
		return;
	r->col_type = type;
	r->col_flags = flags;
}

/*
 * The first value of a one-column binary row (0x00, NULL bitmap with a
 * 2-bit offset, value): integers become decimal text in r->numbuf,
 * strings and decimals point into the packet. Other types are not
 * reported.
 */
static enum pkt_resp_event binary_value(struct pkt_resp *r, const uint8_t *p, size_t len,
					const uint8_t **value, size_t *value_len, bool *value_null)
{
	if (len < 2 || p[0] != 0x00 || r->col_type == 0xFF)
		return PKT_EV_NONE;
	if (p[1] & 0x04) {
		*value = NULL;
		*value_len = 0;
		*value_null = true;
		return PKT_EV_ROW1;
	}
	struct pkt_rd rd;
	pkt_rd_init(&rd, p + 2, len - 2);
	size_t width;
	switch (r->col_type) {
	case 1: /* TINY */
		width = 1;
		break;
	case 2:	 /* SHORT */
	case 13: /* YEAR */
		width = 2;
		break;
	case 3: /* LONG */
	case 9: /* INT24 */
		width = 4;
		break;
	case 8: /* LONGLONG */
		width = 8;
		break;
	case 4:
	case 5:
	case 7:
	case 10:
	case 11:
	case 12: /* floats, dates, times */
		return PKT_EV_NONE;
	default: {
		const uint8_t *s;
		size_t n;
		if (!pkt_rd_lenenc_str(&rd, &s, &n) || pkt_rd_left(&rd) != 0)
			return PKT_EV_NONE;
		*value = s;
		*value_len = n;
		*value_null = false;
		return PKT_EV_ROW1;
	}
	}
	if (pkt_rd_left(&rd) != width)
		return PKT_EV_NONE;
	uint64_t u = 0;
	for (size_t i = 0; i < width; i++)
		u |= (uint64_t)rd.p[i] << (8 * i);
	int n;
	if (r->col_flags & 0x20) { /* UNSIGNED_FLAG */
		n = snprintf(r->numbuf, sizeof(r->numbuf), "%llu", (unsigned long long)u);
	} else {
		int shift = 64 - 8 * (int)width; /* sign-extend */
		int64_t v = (int64_t)(u << shift) >> shift;
		n = snprintf(r->numbuf, sizeof(r->numbuf), "%lld", (long long)v);
	}
	*value = (const uint8_t *)r->numbuf;
	*value_len = (size_t)n;
	*value_null = false;
	return PKT_EV_ROW1;
}

static enum pkt_resp_event feed_first(struct pkt_resp *r, const uint8_t *p, size_t len,
				      struct pkt_result *res)
{
	struct pkt_rd rd;
	switch (r->kind) {
	case PKT_RESP_RAW1:
		memset(res, 0, sizeof(*res));
		res->ok = true;
		r->index++;
		r->state = PKT_RS_DONE;
		return PKT_EV_RESULT;
	case PKT_RESP_STREAM:
		return PKT_EV_NONE;
	case PKT_RESP_AUTH:
		if (len > 0 && p[0] == 0x00)
			return finish_ok(r, p, len, res, false);
		if (len > 0 && p[0] == 0xFF)
			return finish_err(r, p, len, res);
		return PKT_EV_NONE;
	case PKT_RESP_FIELDS:
		if (len > 0 && p[0] == 0xFF)
			return finish_err(r, p, len, res);
		if (len > 0 && pkt_is_eof(p[0], (uint32_t)len, r->caps))
			return finish_ok(r, p, len, res, true);
		return PKT_EV_NONE;
	default:
		break;
	}
	if (len == 0)
		return PKT_EV_BAD;
	if (p[0] == 0xFF)
		return finish_err(r, p, len, res);
	if (r->kind == PKT_RESP_PREPARE) {
		uint32_t stmt;
		uint16_t ncols, nparams;
		pkt_rd_init(&rd, p, len);
		if (p[0] != 0x00 || !pkt_rd_skip(&rd, 1) || !pkt_rd_u32(&rd, &stmt) ||
		    !pkt_rd_u16(&rd, &ncols) || !pkt_rd_u16(&rd, &nparams))
			return PKT_EV_BAD;
		uint8_t filler;
		if (pkt_rd_u8(&rd, &filler) && !pkt_rd_u16(&rd, &r->prep_warnings))
			r->prep_warnings = 0;
		r->ncols = ncols;
		r->nparams = nparams;
		r->stmt_id = stmt;
		r->prepare = true;
		if (nparams > 0) {
			r->state = PKT_RS_PARAMDEFS;
			r->left = nparams;
			return PKT_EV_NONE;
		}
		return after_params(r, res);
	}
	if (p[0] == 0x00)
		return finish_ok(r, p, len, res, false);
	if (pkt_is_eof(p[0], (uint32_t)len, r->caps))
		return finish_ok(r, p, len, res, false);
	if (p[0] == 0xFB) {
		r->state = PKT_RS_INFILE;
		return PKT_EV_INFILE;
	}
	uint64_t ncols;
	pkt_rd_init(&rd, p, len);
	if (!pkt_rd_lenenc(&rd, &ncols, NULL) || ncols == 0 || pkt_rd_left(&rd) != 0)
		return PKT_EV_BAD;
	r->ncols = ncols;
	r->left = ncols;
	r->rows = 0;
	r->state = PKT_RS_COLDEFS;
	return PKT_EV_NONE;
}

enum pkt_resp_event pkt_resp_feed(struct pkt_resp *r, const uint8_t *p, size_t avail, uint32_t len,
				  struct pkt_result *res, const uint8_t **value, size_t *value_len,
				  bool *value_null)
{
	bool was_cont = r->cont;
	r->cont = len == PKT_MAX_PAYLOAD;
	if (was_cont)
		return PKT_EV_NONE; /* the tail of a packet already classified */
	if (len > 0 && avail == 0)
		return PKT_EV_BAD;
	size_t have = avail < len ? avail : len;
	uint16_t status, warnings;

	switch (r->state) {
	case PKT_RS_FIRST:
		if (pkt_resp_peek(r, len, len ? p[0] : 0) == PKT_WHOLE && have < len)
			return PKT_EV_BAD;
		return feed_first(r, p, have, res);
	case PKT_RS_PARAMDEFS:
		if (len == 0)
			return PKT_EV_BAD;
		if (--r->left > 0)
			return PKT_EV_NONE;
		if (!(r->caps & CLIENT_DEPRECATE_EOF)) {
			r->state = PKT_RS_PARAMEOF;
			return PKT_EV_NONE;
		}
		return after_params(r, res);
	case PKT_RS_PARAMEOF:
		if (have < len || !pkt_parse_eof(p, len, &status, &warnings))
			return PKT_EV_BAD;
		return after_params(r, res);
	case PKT_RS_COLDEFS:
		if (len == 0)
			return PKT_EV_BAD;
		if (p[0] == 0xFF && have == len)
			return finish_err(r, p, len, res);
		if (r->want_row1 && r->ncols == 1 && r->binary && !r->prepare && have == len)
			parse_coltype(r, p, len);
		if (--r->left > 0)
			return PKT_EV_NONE;
		return after_coldefs(r, res);
	case PKT_RS_COLEOF:
		if (have < len || !pkt_parse_eof(p, len, &status, &warnings))
			return PKT_EV_BAD;
		if (r->prepare)
			return finish_prepare(r, res);
		/* A cursor was opened: rows come with COM_STMT_FETCH. Only when
		 * the command asked for one, and never inside a multi-result
		 * answer: MariaDB leaves the flag on in the result sets of a CALL
		 * whose body used a cursor, and their rows follow right here. */
		if (r->cursor && (status & SERVER_STATUS_CURSOR_EXISTS) &&
		    !(status & SERVER_MORE_RESULTS_EXISTS))
			return finish_ok(r, p, len, res, true);
		r->state = PKT_RS_ROWS;
		return PKT_EV_NONE;
	case PKT_RS_ROWS:
		if (len == 0)
			return PKT_EV_BAD;
		if (p[0] == 0xFF) {
			if (have < len)
				return PKT_EV_BAD;
			return finish_err(r, p, len, res);
		}
		if (pkt_is_eof(p[0], len, r->caps)) {
			if (have < len)
				return PKT_EV_BAD;
			return finish_ok(r, p, len, res, true);
		}
		r->rows++;
		if (r->rows == 1 && r->want_row1 && r->ncols == 1 && r->binary && have == len &&
		    !r->cont)
			return binary_value(r, p, len, value, value_len, value_null);
		if (r->rows == 1 && r->want_row1 && r->ncols == 1 && !r->binary && have == len &&
		    !r->cont) {
			struct pkt_rd rd;
			uint64_t n;
			bool is_null;
			pkt_rd_init(&rd, p, len);
			if (!pkt_rd_lenenc(&rd, &n, &is_null))
				return PKT_EV_NONE;
			if (is_null) {
				*value = NULL;
				*value_len = 0;
				*value_null = true;
				return PKT_EV_ROW1;
			}
			if (n != pkt_rd_left(&rd))
				return PKT_EV_NONE;
			*value = rd.p + rd.pos;
			*value_len = (size_t)n;
			*value_null = false;
			return PKT_EV_ROW1;
		}
		return PKT_EV_NONE;
	case PKT_RS_INFILE:
	case PKT_RS_DONE:
	default:
		return PKT_EV_BAD;
	}
}

void pkt_resp_infile_done(struct pkt_resp *r)
{
	if (r->state == PKT_RS_INFILE)
		r->state = PKT_RS_FIRST;
}
