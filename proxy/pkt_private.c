/* MySQL wire-protocol codec: reads the answer to a private query (OK, ERR, or a small text
 * result set of which the first row is kept). */
#include "proxy/pkt_private.h"

#include <stdio.h>
#include <string.h>

#include "proxy/pkt.h"

void priv_parse_begin(struct priv_parse *p, uint32_t caps)
{
	memset(p, 0, sizeof(*p));
	p->caps = caps;
	p->st = PRIV_S_FIRST;
	p->res.kind = PRIVATE_FAILED;
}

bool priv_parse_wants_whole(const struct priv_parse *p, uint32_t len, uint8_t first)
{
	if (first == 0xFF)
		return true; /* an ERR, wherever it comes: no column or row starts so */
	switch (p->st) {
	case PRIV_S_FIRST:
	case PRIV_S_COLEOF:
		return true;
	case PRIV_S_ROWS:
		if (pkt_is_eof(first, len, p->caps))
			return true;
		/* the first row of the first result, when it can be kept */
		return !p->later && p->res.rows == 0 && len <= PRIVATE_KEEP;
	default:
		return false;
	}
}

/* Keeps the values of the first row: lenenc strings, 0xFB for NULL. */
static bool keep_row(struct priv_parse *p, const uint8_t *pl, size_t len)
{
	struct private_result *r = &p->res;
	struct pkt_rd rd;
	size_t used = 0;
	pkt_rd_init(&rd, pl, len);
	for (unsigned i = 0; i < r->ncols; i++) {
		if (pkt_rd_left(&rd) >= 1 && rd.p[0] == 0xFB) {
			if (!pkt_rd_skip(&rd, 1))
				return false;
			if (i < PRIVATE_MAX_COLS) {
				r->vals[i] = NULL;
				r->lens[i] = 0;
			}
			continue;
		}
		const uint8_t *s;
		size_t n;
		if (!pkt_rd_lenenc_str(&rd, &s, &n))
			return false;
		if (i >= PRIVATE_MAX_COLS || used + n + 1 > sizeof(p->buf)) {
			r->truncated = true;
			if (i < PRIVATE_MAX_COLS) {
				r->vals[i] = NULL;
				r->lens[i] = 0;
			}
			continue;
		}
		memcpy(p->buf + used, s, n);
		p->buf[used + n] = 0;
		r->vals[i] = p->buf + used;
		r->lens[i] = (unsigned long)n;
		used += n + 1;
	}
	r->has_row = pkt_rd_left(&rd) == 0;
	return r->has_row;
}

/* A terminal OK / EOF: the result ends; another follows when the server
 * says SERVER_MORE_RESULTS_EXISTS. */
static enum priv_event end_ok(struct priv_parse *p, const uint8_t *pl, size_t len, bool rows)
{
	uint16_t status = 0, warnings = 0;
	uint64_t affected = 0;
	if (pl[0] == 0xFE && !(p->caps & CLIENT_DEPRECATE_EOF)) {
		if (!pkt_parse_eof(pl, len, &status, &warnings))
			return PRIV_EV_BAD;
	} else {
		struct pkt_ok ok;
		if (!pkt_parse_ok(pl, len, p->caps, &ok))
			return PRIV_EV_BAD;
		status = ok.status;
		affected = ok.affected_rows;
	}
	if (!p->later) {
		p->res.kind = rows ? PRIVATE_ROWS : PRIVATE_OK;
		if (!rows)
			p->res.affected_rows = affected;
	}
	if (status & SERVER_MORE_RESULTS_EXISTS) {
		p->later = true;
		p->st = PRIV_S_FIRST;
		return PRIV_EV_MORE;
	}
	p->st = PRIV_S_DONE;
	return PRIV_EV_DONE;
}

/* An ERR ends the answer; a MariaDB progress report (code 0xFFFF) is none. */
static enum priv_event end_err(struct priv_parse *p, const uint8_t *pl, size_t len)
{
	struct pkt_err e;
	if (!pkt_parse_err(pl, len, p->caps, &e))
		return PRIV_EV_BAD;
	if (e.code == 0xFFFF)
		return PRIV_EV_MORE;
	if (!p->later) {
		struct private_result *r = &p->res;
		r->kind = PRIVATE_ERR;
		r->code = e.code;
		memcpy(r->sqlstate, e.sqlstate, sizeof(r->sqlstate));
		size_t n =
		    e.message_len < sizeof(r->message) - 1 ? e.message_len : sizeof(r->message) - 1;
		memcpy(r->message, e.message, n);
		r->message[n] = 0;
		r->has_row = false;
	}
	p->st = PRIV_S_DONE;
	return PRIV_EV_DONE;
}

enum priv_event priv_parse_feed(struct priv_parse *p, const uint8_t *pl, size_t len, bool whole)
{
	if (len == 0 || p->st == PRIV_S_DONE)
		return PRIV_EV_BAD;
	uint8_t first = pl[0];
	if (!whole && priv_parse_wants_whole(p, (uint32_t)len, first))
		return PRIV_EV_BAD;
	switch (p->st) {
	case PRIV_S_FIRST: {
		if (first == 0x00)
			return end_ok(p, pl, len, false);
		if (first == 0xFF)
			return end_err(p, pl, len);
		if (first == 0xFB)
			return PRIV_EV_BAD; /* LOCAL INFILE: never asked for */
		struct pkt_rd rd;
		uint64_t n;
		pkt_rd_init(&rd, pl, len);
		if (!pkt_rd_lenenc(&rd, &n, NULL) || n == 0 || pkt_rd_left(&rd) != 0)
			return PRIV_EV_BAD;
		if (!p->later)
			p->res.ncols = n > 0xFFFF ? 0xFFFF : (unsigned)n;
		p->left = n;
		p->st = PRIV_S_COLDEFS;
		return PRIV_EV_MORE;
	}
	case PRIV_S_COLDEFS:
		if (first == 0xFF)
			return end_err(p, pl, len);
		if (--p->left == 0)
			p->st = (p->caps & CLIENT_DEPRECATE_EOF) ? PRIV_S_ROWS : PRIV_S_COLEOF;
		return PRIV_EV_MORE;
	case PRIV_S_COLEOF:
		if (!pkt_is_eof(first, (uint32_t)len, p->caps))
			return PRIV_EV_BAD;
		p->st = PRIV_S_ROWS;
		return PRIV_EV_MORE;
	case PRIV_S_ROWS:
		if (first == 0xFF)
			return end_err(p, pl, len);
		if (pkt_is_eof(first, (uint32_t)len, p->caps))
			return end_ok(p, pl, len, true);
		if (!p->later) {
			if (p->res.rows == 0) {
				if (!whole)
					p->res.truncated = true;
				else if (!keep_row(p, pl, len))
					return PRIV_EV_BAD;
			}
			p->res.rows++;
		}
		return PRIV_EV_MORE;
	case PRIV_S_DONE:
		break;
	}
	return PRIV_EV_BAD;
}
