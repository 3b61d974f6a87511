/* MySQL wire-protocol codec: packet framing, handshake and response parsing. */
#include "proxy/pkt.h"
#include "proxy/pkt_exec.h"

#include <stdio.h>
#include <string.h>

/* ---- primitives -------------------------------------------------------- */

bool pkt_rd_u8(struct pkt_rd *r, uint8_t *v)
{
	if (pkt_rd_left(r) < 1)
		return false;
	*v = r->p[r->pos++];
	return true;
}

bool pkt_rd_u16(struct pkt_rd *r, uint16_t *v)
{
	if (pkt_rd_left(r) < 2)
		return false;
	*v = (uint16_t)(r->p[r->pos] | r->p[r->pos + 1] << 8);
	r->pos += 2;
	return true;
}

bool pkt_rd_u32(struct pkt_rd *r, uint32_t *v)
{
	if (pkt_rd_left(r) < 4)
		return false;
	const uint8_t *q = r->p + r->pos;
	*v = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
	r->pos += 4;
	return true;
}

bool pkt_rd_skip(struct pkt_rd *r, size_t n)
{
	if (pkt_rd_left(r) < n)
		return false;
	r->pos += n;
	return true;
}

bool pkt_rd_lenenc(struct pkt_rd *r, uint64_t *v, bool *is_null)
{
	size_t left = pkt_rd_left(r);
	if (left < 1)
		return false;
	const uint8_t *q = r->p + r->pos;
	size_t n;
	if (is_null)
		*is_null = false;
	switch (q[0]) {
	case 0xFB:
		if (!is_null)
			return false;
		*is_null = true;
		*v = 0;
		r->pos++;
		return true;
	case 0xFC:
		n = 2;
		break;
	case 0xFD:
		n = 3;
		break;
	case 0xFE:
		n = 8;
		break;
	case 0xFF:
		return false;
	default:
		*v = q[0];
		r->pos++;
		return true;
	}
	if (left < 1 + n)
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x |= (uint64_t)q[1 + i] << (8 * i);
	*v = x;
	r->pos += 1 + n;
	return true;
}

bool pkt_rd_lenenc_str(struct pkt_rd *r, const uint8_t **s, size_t *n)
{
	size_t save = r->pos;
	uint64_t len;
	if (!pkt_rd_lenenc(r, &len, NULL))
		return false;
	if (len > pkt_rd_left(r)) {
		r->pos = save;
		return false;
	}
	*s = r->p + r->pos;
	*n = (size_t)len;
	r->pos += (size_t)len;
	return true;
}

bool pkt_rd_cstr(struct pkt_rd *r, const uint8_t **s, size_t *n)
{
	const uint8_t *q = r->p + r->pos;
	const uint8_t *nul = memchr(q, 0, pkt_rd_left(r));
	if (!nul)
		return false;
	*s = q;
	*n = (size_t)(nul - q);
	r->pos += *n + 1;
	return true;
}

size_t pkt_put_lenenc(uint8_t *out, uint64_t v)
{
	size_t n;
	if (v < 251) {
		out[0] = (uint8_t)v;
		return 1;
	}
	if (v < (1u << 16)) {
		out[0] = 0xFC;
		n = 2;
	} else if (v < (1u << 24)) {
		out[0] = 0xFD;
		n = 3;
	} else {
		out[0] = 0xFE;
		n = 8;
	}
	for (size_t i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return 1 + n;
}

/* ---- generic responses -------------------------------------------------- */

/*
 * Session-state information after an OK's info string: a list of
 * (type, lenenc data) entries. Only the schema (type 1) is of interest.
 */
static void parse_session_track(const uint8_t *p, size_t len, struct pkt_ok *ok)
{
	struct pkt_rd r;
	pkt_rd_init(&r, p, len);
	while (pkt_rd_left(&r) > 0) {
		uint8_t type;
		const uint8_t *data;
		size_t dlen;
		if (!pkt_rd_u8(&r, &type) || !pkt_rd_lenenc_str(&r, &data, &dlen))
			return;
		if (type == 1) { /* SESSION_TRACK_SCHEMA: lenenc name inside */
			struct pkt_rd d;
			pkt_rd_init(&d, data, dlen);
			if (pkt_rd_lenenc_str(&d, &ok->schema, &ok->schema_len))
				continue;
		}
	}
}

bool pkt_parse_ok(const uint8_t *p, size_t len, uint32_t caps, struct pkt_ok *ok)
{
	struct pkt_rd r;
	uint8_t hdr;
	memset(ok, 0, sizeof(*ok));
	pkt_rd_init(&r, p, len);
	if (!pkt_rd_u8(&r, &hdr) || (hdr != 0x00 && hdr != 0xFE))
		return false;
	if (!pkt_rd_lenenc(&r, &ok->affected_rows, NULL) ||
	    !pkt_rd_lenenc(&r, &ok->last_insert_id, NULL))
		return false;
	if (caps & CLIENT_PROTOCOL_41) {
		if (!pkt_rd_u16(&r, &ok->status) || !pkt_rd_u16(&r, &ok->warnings))
			return false;
	} else if (caps & CLIENT_TRANSACTIONS) {
		if (!pkt_rd_u16(&r, &ok->status))
			return false;
	}
	if (pkt_rd_left(&r) == 0)
		return true;
	if (caps & CLIENT_SESSION_TRACK) {
		if (!pkt_rd_lenenc_str(&r, &ok->info, &ok->info_len))
			return true; /* tolerate a short tail: the counters are what matter */
		if (ok->status & SERVER_SESSION_STATE_CHANGED) {
			const uint8_t *st;
			size_t stlen;
			if (pkt_rd_lenenc_str(&r, &st, &stlen))
				parse_session_track(st, stlen, ok);
		}
	} else {
		ok->info = r.p + r.pos;
		ok->info_len = pkt_rd_left(&r);
	}
	return true;
}

bool pkt_parse_err(const uint8_t *p, size_t len, uint32_t caps, struct pkt_err *err)
{
	struct pkt_rd r;
	uint8_t hdr;
	memset(err, 0, sizeof(*err));
	pkt_rd_init(&r, p, len);
	if (!pkt_rd_u8(&r, &hdr) || hdr != 0xFF || !pkt_rd_u16(&r, &err->code))
		return false;
	if (pkt_rd_left(&r) >= 6 && r.p[r.pos] == '#') {
		memcpy(err->sqlstate, r.p + r.pos + 1, 5);
		err->sqlstate[5] = 0;
		r.pos += 6;
	}
	(void)caps;
	err->message = r.p + r.pos;
	err->message_len = pkt_rd_left(&r);
	return true;
}

bool pkt_parse_eof(const uint8_t *p, size_t len, uint16_t *status, uint16_t *warnings)
{
	if (len < 1 || p[0] != 0xFE || len >= 9)
		return false;
	*status = 0;
	*warnings = 0;
	if (len >= 5) {
		*warnings = (uint16_t)(p[1] | p[2] << 8);
		*status = (uint16_t)(p[3] | p[4] << 8);
	}
	return true;
}

size_t pkt_build_err(uint8_t *out, size_t cap, uint8_t seq, uint16_t code, const char *sqlstate,
		     const char *message)
{
	const size_t fixed = PKT_HDR + 1 + 2 + 6;
	if (cap < fixed)
		return 0;
	size_t mlen = message ? strlen(message) : 0;
	if (mlen > cap - fixed)
		mlen = cap - fixed;
	uint8_t *q = out + PKT_HDR;
	*q++ = 0xFF;
	*q++ = (uint8_t)code;
	*q++ = (uint8_t)(code >> 8);
	*q++ = '#';
	for (int i = 0; i < 5; i++)
		*q++ = (uint8_t)(sqlstate && sqlstate[i] ? sqlstate[i] : "HY000"[i]);
	if (mlen)
		memcpy(q, message, mlen);
	q += mlen;
	size_t payload = (size_t)(q - out) - PKT_HDR;
	pkt_hdr_put(out, (uint32_t)payload, seq);
	return PKT_HDR + payload;
}

size_t pkt_status_at(const uint8_t *p, size_t len, uint32_t caps)
{
	size_t at = 0;
	if (len == 0)
		return 0;
	if (p[0] == 0xFE && len < 9 && !(caps & CLIENT_DEPRECATE_EOF)) {
		at = 3; /* EOF: header, warnings, status */
	} else if (p[0] == 0x00 || (p[0] == 0xFE && pkt_is_eof(p[0], (uint32_t)len, caps))) {
		struct pkt_rd r;
		uint64_t v;
		pkt_rd_init(&r, p, len);
		if (pkt_rd_skip(&r, 1) && pkt_rd_lenenc(&r, &v, NULL) &&
		    pkt_rd_lenenc(&r, &v, NULL))
			at = r.pos;
	}
	return at && at + 2 <= len ? at : 0;
}

size_t pkt_build_ok(uint8_t *out, uint8_t seq, uint64_t affected, uint64_t insert_id,
		    uint16_t status, uint16_t warnings)
{
	uint8_t *q = out + PKT_HDR;
	*q++ = 0x00;
	q += pkt_put_lenenc(q, affected);
	q += pkt_put_lenenc(q, insert_id);
	*q++ = (uint8_t)status;
	*q++ = (uint8_t)(status >> 8);
	*q++ = (uint8_t)warnings;
	*q++ = (uint8_t)(warnings >> 8);
	size_t payload = (size_t)(q - out) - PKT_HDR;
	pkt_hdr_put(out, (uint32_t)payload, seq);
	return PKT_HDR + payload;
}

/* ---- continuation --------------------------------------------------------- */

void pkt_scan_begin(struct pkt_scan_state *st)
{
	*st = (struct pkt_scan_state){0};
}

enum pkt_part pkt_scan_part(struct pkt_scan_state *st, const uint8_t *hdr, uint64_t max)
{
	uint32_t plen = pkt_hdr_len(hdr);
	uint8_t seq = pkt_hdr_seq(hdr);
	if (st->parts > 0 && seq != (uint8_t)(st->seq + 1))
		return PKT_PART_BAD_SEQ;
	st->seq = seq;
	st->parts++;
	st->payload += plen;
	if (st->payload > max)
		return PKT_PART_TOO_LARGE;
	return plen == PKT_MAX_PAYLOAD ? PKT_PART_MORE : PKT_PART_LAST;
}

enum pkt_scan pkt_scan_logical(const uint8_t *buf, size_t len, uint64_t max, size_t *wire,
			       uint64_t *payload, unsigned *parts)
{
	struct pkt_scan_state st;
	size_t pos = 0;
	pkt_scan_begin(&st);
	*payload = 0;
	for (;;) {
		if (len - pos < PKT_HDR)
			return PKT_SCAN_NEED;
		enum pkt_part r = pkt_scan_part(&st, buf + pos, max);
		*payload = st.payload;
		if (r == PKT_PART_BAD_SEQ || r == PKT_PART_TOO_LARGE)
			return PKT_SCAN_BAD;
		uint32_t plen = pkt_hdr_len(buf + pos);
		if (len - pos - PKT_HDR < plen)
			return PKT_SCAN_NEED;
		pos += PKT_HDR + plen;
		if (r == PKT_PART_LAST)
			break;
	}
	*wire = pos;
	*parts = st.parts;
	return PKT_SCAN_OK;
}

size_t pkt_reassemble(const uint8_t *buf, size_t wire, uint8_t *out)
{
	size_t pos = 0, n = 0;
	while (pos + PKT_HDR <= wire) {
		uint32_t plen = pkt_hdr_len(buf + pos);
		memcpy(out + n, buf + pos + PKT_HDR, plen);
		n += plen;
		pos += PKT_HDR + plen;
	}
	return n;
}

/* ---- handshake ------------------------------------------------------------ */

bool pkt_greeting_parse(const uint8_t *p, size_t len, struct pkt_greeting *g)
{
	struct pkt_rd r;
	uint16_t lo, hi;
	uint8_t auth_len;
	memset(g, 0, sizeof(*g));
	pkt_rd_init(&r, p, len);
	if (!pkt_rd_u8(&r, &g->protocol) || g->protocol != 10)
		return false;
	if (!pkt_rd_cstr(&r, &g->version, &g->version_len) || !pkt_rd_u32(&r, &g->thread_id) ||
	    !pkt_rd_skip(&r, 8 + 1))
		return false;
	g->caps_lo_off = r.pos;
	if (!pkt_rd_u16(&r, &lo))
		return false;
	g->caps = lo;
	if (pkt_rd_left(&r) == 0)
		return true;
	if (!pkt_rd_u8(&r, &g->charset) || !pkt_rd_u16(&r, &g->status))
		return false;
	g->caps_hi_off = r.pos;
	if (!pkt_rd_u16(&r, &hi) || !pkt_rd_u8(&r, &auth_len))
		return false;
	g->caps |= (uint32_t)hi << 16;
	if (pkt_rd_left(&r) < 10)
		return false;
	if (!(g->caps & CLIENT_LONG_PASSWORD)) {
		/* MariaDB 10.2+ puts its extended capabilities in the filler. */
		g->mariadb_ext = true;
		g->ext_off = r.pos + 6;
		const uint8_t *e = r.p + g->ext_off;
		g->ext_caps = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 |
			      (uint32_t)e[3] << 24;
	}
	r.pos += 10;
	if (g->caps & CLIENT_SECURE_CONNECTION) {
		size_t n = auth_len > 8 ? (size_t)auth_len - 8 : 0;
		if (n < 13)
			n = 13;
		if (!pkt_rd_skip(&r, n))
			return false;
	}
	if (g->caps & CLIENT_PLUGIN_AUTH) {
		const uint8_t *q = r.p + r.pos;
		size_t left = pkt_rd_left(&r);
		const uint8_t *nul = memchr(q, 0, left);
		g->plugin = q;
		g->plugin_len = nul ? (size_t)(nul - q) : left; /* some servers omit the NUL */
	}
	return true;
}

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	put_u16(p, (uint16_t)v);
	put_u16(p + 2, (uint16_t)(v >> 16));
}

void pkt_greeting_set_caps(uint8_t *p, const struct pkt_greeting *g, uint32_t caps, uint32_t ext)
{
	put_u16(p + g->caps_lo_off, (uint16_t)caps);
	if (g->caps_hi_off)
		put_u16(p + g->caps_hi_off, (uint16_t)(caps >> 16));
	if (g->ext_off)
		put_u32(p + g->ext_off, ext);
}

bool pkt_hsresp_parse(const uint8_t *p, size_t len, struct pkt_hsresp *h)
{
	struct pkt_rd r;
	memset(h, 0, sizeof(*h));
	pkt_rd_init(&r, p, len);
	if (!pkt_rd_u32(&r, &h->caps) || !(h->caps & CLIENT_PROTOCOL_41))
		return false;
	if (!pkt_rd_u32(&r, &h->max_packet) || !pkt_rd_u8(&r, &h->charset) || pkt_rd_left(&r) < 23)
		return false;
	if (!(h->caps & CLIENT_LONG_PASSWORD)) {
		const uint8_t *e = r.p + r.pos + 19;
		h->ext_caps = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 |
			      (uint32_t)e[3] << 24;
	}
	r.pos += 23;
	if (pkt_rd_left(&r) == 0) {
		h->ssl_request = (h->caps & CLIENT_SSL) != 0;
		return h->ssl_request;
	}
	if (!pkt_rd_cstr(&r, &h->user, &h->user_len))
		return false;
	if (h->caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
		if (!pkt_rd_lenenc_str(&r, &h->auth, &h->auth_len))
			return false;
	} else if (h->caps & CLIENT_SECURE_CONNECTION) {
		uint8_t n;
		if (!pkt_rd_u8(&r, &n) || pkt_rd_left(&r) < n)
			return false;
		h->auth = r.p + r.pos;
		h->auth_len = n;
		r.pos += n;
	} else if (!pkt_rd_cstr(&r, &h->auth, &h->auth_len)) {
		return false;
	}
	if ((h->caps & CLIENT_CONNECT_WITH_DB) && pkt_rd_left(&r) > 0) {
		if (!pkt_rd_cstr(&r, &h->schema, &h->schema_len))
			return false;
	}
	if ((h->caps & CLIENT_PLUGIN_AUTH) && pkt_rd_left(&r) > 0) {
		if (!pkt_rd_cstr(&r, &h->plugin, &h->plugin_len))
			return false;
	}
	if ((h->caps & CLIENT_CONNECT_ATTRS) && pkt_rd_left(&r) > 0) {
		if (!pkt_rd_lenenc_str(&r, &h->attrs, &h->attrs_len))
			return false;
	}
	return true;
}

bool pkt_attr_find(const uint8_t *attrs, size_t len, const char *key, const uint8_t **val,
		   size_t *vlen)
{
	struct pkt_rd r;
	size_t klen = strlen(key);

	if (!attrs)
		return false;
	pkt_rd_init(&r, attrs, len);
	while (pkt_rd_left(&r) > 0) {
		const uint8_t *k, *v;
		size_t kn, vn;
		if (!pkt_rd_lenenc_str(&r, &k, &kn) || !pkt_rd_lenenc_str(&r, &v, &vn))
			return false;
		if (kn == klen && memcmp(k, key, kn) == 0) {
			*val = v;
			*vlen = vn;
			return true;
		}
	}
	return false;
}

void pkt_hsresp_set_caps(uint8_t *p, size_t len, uint32_t caps, uint32_t ext)
{
	if (len < 32)
		return;
	put_u32(p, caps);
	if (!(caps & CLIENT_LONG_PASSWORD))
		put_u32(p + 28, ext);
}

bool pkt_change_user_parse(const uint8_t *p, size_t len, uint32_t caps, const uint8_t **user,
			   size_t *user_len, const uint8_t **schema, size_t *schema_len)
{
	struct pkt_rd r;
	uint8_t cmd;
	const uint8_t *auth;
	size_t alen;
	pkt_rd_init(&r, p, len);
	if (!pkt_rd_u8(&r, &cmd) || cmd != COM_CHANGE_USER || !pkt_rd_cstr(&r, user, user_len))
		return false;
	if (caps & CLIENT_SECURE_CONNECTION) {
		uint8_t n;
		if (!pkt_rd_u8(&r, &n) || !pkt_rd_skip(&r, n))
			return false;
	} else if (!pkt_rd_cstr(&r, &auth, &alen)) {
		return false;
	}
	*schema = NULL;
	*schema_len = 0;
	if (pkt_rd_left(&r) > 0 && !pkt_rd_cstr(&r, schema, schema_len))
		return false;
	return true;
}

bool pkt_query_sql(const uint8_t *p, size_t len, uint32_t caps, const uint8_t **sql,
		   size_t *sql_len)
{
	struct pkt_rd r;
	uint8_t cmd;
	pkt_rd_init(&r, p, len);
	if (!pkt_rd_u8(&r, &cmd) || cmd != COM_QUERY)
		return false;
	if (caps & CLIENT_QUERY_ATTRIBUTES) {
		uint64_t nparams, nsets;
		if (!pkt_rd_lenenc(&r, &nparams, NULL) || !pkt_rd_lenenc(&r, &nsets, NULL))
			return false;
		if (nparams > 0) {
			if (nparams > len)
				return false;
			size_t bm = (size_t)(nparams + 7) / 8;
			const uint8_t *nulls = r.p + r.pos;
			uint8_t bound;
			if (!pkt_rd_skip(&r, bm) || !pkt_rd_u8(&r, &bound) || bound != 1)
				return false;
			/* Types come first, then the values: remember where the
			 * types start and walk both lists. */
			size_t types_at = r.pos;
			for (uint64_t i = 0; i < nparams; i++) {
				const uint8_t *name;
				size_t nlen;
				if (!pkt_rd_skip(&r, 2) || !pkt_rd_lenenc_str(&r, &name, &nlen))
					return false;
			}
			struct pkt_rd t;
			pkt_rd_init(&t, r.p, r.len);
			t.pos = types_at;
			for (uint64_t i = 0; i < nparams; i++) {
				uint16_t type;
				const uint8_t *name;
				size_t nlen;
				if (!pkt_rd_u16(&t, &type) || !pkt_rd_lenenc_str(&t, &name, &nlen))
					return false;
				if (nulls[i / 8] & (1u << (i % 8)))
					continue;
				const uint8_t *v;
				size_t vlen;
				if (!pkt_rd_binary_value(&r, (uint8_t)type, &v, &vlen))
					return false;
			}
		}
	}
	*sql = r.p + r.pos;
	*sql_len = pkt_rd_left(&r);
	return true;
}
