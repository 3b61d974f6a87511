/* COM_STMT_EXECUTE parameter decoding, and the per-statement memory it needs. */
#include "proxy/pkt_exec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/pkt.h"

/* How a value of a type is laid out: its fixed width in bytes (NULL: 0),
 * or one of these. */
#define PKT_W_LENBYTE (-1) /* dates and times: a length byte, then that many */
#define PKT_W_LENENC (-2)  /* a length-encoded string */

static int type_width(uint8_t type)
{
	switch (type) {
	case PKT_T_NULL:
		return 0;
	case PKT_T_TINY:
		return 1;
	case PKT_T_SHORT:
	case PKT_T_YEAR:
		return 2;
	case PKT_T_LONG:
	case PKT_T_FLOAT:
	case PKT_T_INT24:
		return 4;
	case PKT_T_DOUBLE:
	case PKT_T_LONGLONG:
		return 8;
	case PKT_T_TIMESTAMP:
	case PKT_T_DATE:
	case PKT_T_TIME:
	case PKT_T_DATETIME:
	case PKT_T_NEWDATE:
	case PKT_T_TIMESTAMP2:
	case PKT_T_DATETIME2:
	case PKT_T_TIME2:
		return PKT_W_LENBYTE;
	default: /* strings, blobs, decimals, JSON; and a type the protocol does
		  * not define, which the server reads as a string too */
		return PKT_W_LENENC;
	}
}

bool pkt_rd_binary_value(struct pkt_rd *r, uint8_t type, const uint8_t **val, size_t *len)
{
	int w = type_width(type);
	size_t at = r->pos, n = w >= 0 ? (size_t)w : 0;
	uint8_t l;
	if (w == PKT_W_LENENC)
		return pkt_rd_lenenc_str(r, val, len);
	if (w == PKT_W_LENBYTE) {
		if (!pkt_rd_u8(r, &l))
			return false;
		n = l;
	}
	if (!pkt_rd_skip(r, n)) {
		r->pos = at; /* leave pos where it was, as the other readers do */
		return false;
	}
	*val = r->p + r->pos - n;
	*len = n;
	return true;
}

/* Where the parts of one execute payload are. */
struct exec_layout {
	uint64_t count;	      /* values that follow (parameters, then query attributes) */
	const uint8_t *nulls; /* (count + 7) / 8 bytes */
	bool bound;	      /* types follow the bitmap */
	bool names;	      /* each type pair is followed by a name (query attributes) */
	size_t types_at;      /* offset of the first type pair, when bound */
	size_t values_at;     /* offset of the first value */
};

static enum pkt_exec_status exec_layout(const uint8_t *p, size_t len, uint32_t caps,
					unsigned nparams, struct exec_layout *lo)
{
	struct pkt_rd r;
	uint8_t cmd, flags, bound;
	uint32_t id, iterations;
	pkt_rd_init(&r, p, len);
	memset(lo, 0, sizeof(*lo));
	if (!pkt_rd_u8(&r, &cmd) || cmd != COM_STMT_EXECUTE || !pkt_rd_u32(&r, &id) ||
	    !pkt_rd_u8(&r, &flags) || !pkt_rd_u32(&r, &iterations))
		return PKT_EXEC_MALFORMED;
	/* MariaDB's array binding and whatever comes later: not guessed at */
	if ((flags & ~(PKT_CURSOR_TYPE_MASK | PKT_EXEC_FLAG_PARAM_COUNT)) || iterations > 1)
		return PKT_EXEC_UNSUPPORTED;
	if (nparams > PKT_EXEC_MAX_PARAMS)
		return PKT_EXEC_UNSUPPORTED;
	lo->count = nparams;
	lo->names = (caps & CLIENT_QUERY_ATTRIBUTES) != 0;
	if (lo->names && (nparams > 0 || (flags & PKT_EXEC_FLAG_PARAM_COUNT))) {
		if (!pkt_rd_lenenc(&r, &lo->count, NULL))
			return PKT_EXEC_MALFORMED;
		if (lo->count < nparams || lo->count > PKT_EXEC_MAX_PARAMS)
			return PKT_EXEC_MALFORMED;
	}
	if (lo->count == 0) {
		lo->values_at = r.pos;
		return pkt_rd_left(&r) == 0 ? PKT_EXEC_OK : PKT_EXEC_MALFORMED;
	}
	lo->nulls = p + r.pos;
	if (!pkt_rd_skip(&r, (size_t)(lo->count + 7) / 8) || !pkt_rd_u8(&r, &bound))
		return PKT_EXEC_MALFORMED;
	if (bound > 1)
		return PKT_EXEC_UNSUPPORTED;
	lo->bound = bound == 1;
	if (!lo->bound && lo->count > nparams)
		return PKT_EXEC_UNSUPPORTED; /* attributes without their types */
	lo->types_at = r.pos;
	if (lo->bound)
		for (uint64_t i = 0; i < lo->count; i++) {
			const uint8_t *name;
			size_t nlen;
			if (!pkt_rd_skip(&r, 2) ||
			    (lo->names && !pkt_rd_lenenc_str(&r, &name, &nlen)))
				return PKT_EXEC_MALFORMED;
		}
	lo->values_at = r.pos;
	return PKT_EXEC_OK;
}

enum pkt_exec_status pkt_exec_decode(const uint8_t *p, size_t len, uint32_t caps, unsigned nparams,
				     const uint8_t *types, const uint8_t *long_data,
				     struct pkt_exec_param *out)
{
	struct exec_layout lo;
	enum pkt_exec_status st = exec_layout(p, len, caps, nparams, &lo);
	if (st != PKT_EXEC_OK)
		return st;
	if (lo.count == 0)
		return PKT_EXEC_OK;
	if (!lo.bound && !types)
		return PKT_EXEC_NO_TYPES;
	struct pkt_rd tr, vr;
	pkt_rd_init(&tr, p, len);
	tr.pos = lo.types_at;
	pkt_rd_init(&vr, p, len);
	vr.pos = lo.values_at;
	for (uint64_t i = 0; i < lo.count; i++) {
		uint8_t type, flag;
		if (lo.bound) {
			const uint8_t *name;
			size_t nlen;
			if (!pkt_rd_u8(&tr, &type) || !pkt_rd_u8(&tr, &flag) ||
			    (lo.names && !pkt_rd_lenenc_str(&tr, &name, &nlen)))
				return PKT_EXEC_MALFORMED;
		} else {
			type = types[2 * i];
			flag = types[2 * i + 1];
		}
		if (flag & ~PKT_PARAM_UNSIGNED)
			return PKT_EXEC_UNSUPPORTED; /* indicator or other extension flags */
		struct pkt_exec_param pp = {.type = type,
					    .unsig = (flag & PKT_PARAM_UNSIGNED) != 0};
		pp.null = (lo.nulls[i / 8] >> (i % 8)) & 1;
		pp.long_data =
		    !pp.null && i < nparams && long_data && ((long_data[i / 8] >> (i % 8)) & 1);
		if (!pp.null && !pp.long_data) {
			if (!pkt_rd_binary_value(&vr, type, &pp.val, &pp.len))
				return PKT_EXEC_MALFORMED;
			pp.null = type == PKT_T_NULL;
		}
		if (i < nparams)
			out[i] = pp;
	}
	return pkt_rd_left(&vr) == 0 ? PKT_EXEC_OK : PKT_EXEC_MALFORMED;
}

bool pkt_exec_types(const uint8_t *p, size_t len, uint32_t caps, unsigned nparams,
		    uint8_t *types_out)
{
	struct exec_layout lo;
	if (nparams == 0 || exec_layout(p, len, caps, nparams, &lo) != PKT_EXEC_OK || !lo.bound)
		return false;
	struct pkt_rd r;
	pkt_rd_init(&r, p, len);
	r.pos = lo.types_at;
	for (unsigned i = 0; i < nparams; i++) {
		const uint8_t *name;
		size_t nlen;
		if (!pkt_rd_u8(&r, &types_out[2 * i]) || !pkt_rd_u8(&r, &types_out[2 * i + 1]) ||
		    (lo.names && !pkt_rd_lenenc_str(&r, &name, &nlen)))
			return false;
	}
	return true;
}

const char *pkt_type_name(uint8_t type, bool unsig)
{
	switch (type) {
	case PKT_T_TINY:
		return unsig ? "tinyint unsigned" : "tinyint";
	case PKT_T_SHORT:
		return unsig ? "smallint unsigned" : "smallint";
	case PKT_T_INT24:
		return unsig ? "mediumint unsigned" : "mediumint";
	case PKT_T_LONG:
		return unsig ? "int unsigned" : "int";
	case PKT_T_LONGLONG:
		return unsig ? "bigint unsigned" : "bigint";
	case PKT_T_YEAR:
		return "year";
	case PKT_T_FLOAT:
		return "float";
	case PKT_T_DOUBLE:
		return "double";
	case PKT_T_NULL:
		return "null";
	case PKT_T_DECIMAL:
	case PKT_T_NEWDECIMAL:
		return "decimal";
	case PKT_T_DATE:
	case PKT_T_NEWDATE:
		return "date";
	case PKT_T_TIME:
	case PKT_T_TIME2:
		return "time";
	case PKT_T_DATETIME:
	case PKT_T_DATETIME2:
		return "datetime";
	case PKT_T_TIMESTAMP:
	case PKT_T_TIMESTAMP2:
		return "timestamp";
	case PKT_T_VARCHAR:
	case PKT_T_VAR_STRING:
		return "varchar";
	case PKT_T_STRING:
		return "char";
	case PKT_T_BIT:
		return "bit";
	case PKT_T_JSON:
		return "json";
	case PKT_T_ENUM:
		return "enum";
	case PKT_T_SET:
		return "set";
	case PKT_T_TINY_BLOB:
		return "tinyblob";
	case PKT_T_MEDIUM_BLOB:
		return "mediumblob";
	case PKT_T_LONG_BLOB:
		return "longblob";
	case PKT_T_BLOB:
		return "blob";
	case PKT_T_GEOMETRY:
		return "geometry";
	default:
		return "unknown";
	}
}

bool pkt_type_is_bytes(uint8_t type)
{
	return type_width(type) == PKT_W_LENENC;
}

/* Little-endian unsigned integer of n bytes (n <= 8). */
static uint64_t le(const uint8_t *v, size_t n)
{
	uint64_t x = 0;
	for (size_t i = n; i-- > 0;)
		x = x << 8 | v[i];
	return x;
}

/* A signed value of n bytes, sign-extended. */
static int64_t le_signed(const uint8_t *v, size_t n)
{
	uint64_t x = le(v, n);
	if (n < 8 && (x >> (8 * n - 1)) & 1)
		x |= ~(uint64_t)0 << (8 * n);
	return (int64_t)x;
}

/* A date, datetime or timestamp value of len 0, 4, 7 or 11. */
static int date_text(const uint8_t *v, size_t len, bool date_only, char *buf, size_t cap)
{
	unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
	uint32_t us = 0;
	if (len != 0 && len != 4 && len != 7 && len != 11)
		return snprintf(buf, cap, "?");
	if (len >= 4) {
		y = (unsigned)le(v, 2);
		mo = v[2];
		d = v[3];
	}
	if (len >= 7) {
		h = v[4];
		mi = v[5];
		s = v[6];
	}
	if (len == 11)
		us = (uint32_t)le(v + 7, 4);
	if (date_only)
		return snprintf(buf, cap, "%04u-%02u-%02u", y, mo, d);
	if (us) /* a zero fraction is not shown, as the server shows DATETIME(0) */
		return snprintf(buf, cap, "%04u-%02u-%02u %02u:%02u:%02u.%06u", y, mo, d, h, mi, s,
				(unsigned)us);
	return snprintf(buf, cap, "%04u-%02u-%02u %02u:%02u:%02u", y, mo, d, h, mi, s);
}

/* A time value of len 0, 8 or 12: [-]hours:mm:ss[.ffffff]. */
static int time_text(const uint8_t *v, size_t len, char *buf, size_t cap)
{
	if (len == 0)
		return snprintf(buf, cap, "00:00:00");
	if (len != 8 && len != 12)
		return snprintf(buf, cap, "?");
	uint64_t hours = le(v + 1, 4) * 24 + v[5];
	if (len == 12 && le(v + 8, 4) != 0)
		return snprintf(buf, cap, "%s%02" PRIu64 ":%02u:%02u.%06u", v[0] ? "-" : "", hours,
				v[6], v[7], (unsigned)le(v + 8, 4));
	return snprintf(buf, cap, "%s%02" PRIu64 ":%02u:%02u", v[0] ? "-" : "", hours, v[6], v[7]);
}

size_t pkt_exec_param_text(const struct pkt_exec_param *pp, char *buf, size_t cap)
{
	int n = 0;
	buf[0] = 0;
	if (pp->null || pp->long_data)
		return 0;
	if (pkt_type_is_bytes(pp->type)) {
		size_t k = pp->len < cap - 1 ? pp->len : cap - 1;
		memcpy(buf, pp->val, k);
		buf[k] = 0;
		return pp->len;
	}
	switch (pp->type) {
	case PKT_T_TINY:
	case PKT_T_SHORT:
	case PKT_T_YEAR:
	case PKT_T_LONG:
	case PKT_T_INT24:
	case PKT_T_LONGLONG:
		if (pp->unsig || pp->type == PKT_T_YEAR)
			n = snprintf(buf, cap, "%" PRIu64, le(pp->val, pp->len));
		else
			n = snprintf(buf, cap, "%" PRId64, le_signed(pp->val, pp->len));
		break;
	case PKT_T_FLOAT: {
		float f;
		uint32_t bits = (uint32_t)le(pp->val, 4);
		memcpy(&f, &bits, sizeof(f));
		n = snprintf(buf, cap, "%.9g", (double)f);
		break;
	}
	case PKT_T_DOUBLE: {
		double d;
		uint64_t bits = le(pp->val, 8);
		memcpy(&d, &bits, sizeof(d));
		n = snprintf(buf, cap, "%.17g", d);
		break;
	}
	case PKT_T_DATE:
	case PKT_T_NEWDATE:
		n = date_text(pp->val, pp->len, true, buf, cap);
		break;
	case PKT_T_DATETIME:
	case PKT_T_DATETIME2:
	case PKT_T_TIMESTAMP:
	case PKT_T_TIMESTAMP2:
		n = date_text(pp->val, pp->len, false, buf, cap);
		break;
	case PKT_T_TIME:
	case PKT_T_TIME2:
		n = time_text(pp->val, pp->len, buf, cap);
		break;
	default:
		n = 0;
		break;
	}
	return n > 0 ? (size_t)n : 0;
}

/* ---- the relay's memory ---- */

static void stmt_free(struct pkt_exec_stmt *st)
{
	free(st->types);
	free(st->long_data);
}

struct pkt_exec_stmt *pkt_exec_stmts_find(struct pkt_exec_stmts *ss, uint32_t id)
{
	if (id == 0xFFFFFFFFu)
		id = ss->last;
	for (size_t i = 0; i < ss->n; i++)
		if (ss->v[i].id == id)
			return &ss->v[i];
	return NULL;
}

void pkt_exec_stmts_del(struct pkt_exec_stmts *ss, uint32_t id)
{
	struct pkt_exec_stmt *st = pkt_exec_stmts_find(ss, id);
	if (id == 0xFFFFFFFFu || id == ss->last)
		ss->last = 0;
	if (!st)
		return;
	stmt_free(st);
	*st = ss->v[--ss->n];
}

bool pkt_exec_stmts_add(struct pkt_exec_stmts *ss, uint32_t id, unsigned nparams)
{
	pkt_exec_stmts_del(ss, id);
	ss->last = id;
	if (nparams > PKT_EXEC_MAX_PARAMS)
		return false;
	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 4;
		struct pkt_exec_stmt *v = realloc(ss->v, cap * sizeof(*v));
		if (!v)
			return false;
		ss->v = v;
		ss->cap = cap;
	}
	struct pkt_exec_stmt st = {.id = id, .nparams = (uint16_t)nparams};
	if (nparams > 0) {
		st.types = calloc(2, nparams);
		st.long_data = calloc(1, (nparams + 7) / 8);
		if (!st.types || !st.long_data) {
			stmt_free(&st);
			return false;
		}
	}
	ss->v[ss->n++] = st;
	return true;
}

void pkt_exec_stmts_long_data(struct pkt_exec_stmts *ss, const uint8_t *p, size_t len)
{
	if (len < 7 || p[0] != COM_STMT_SEND_LONG_DATA)
		return;
	uint32_t id = (uint32_t)le(p + 1, 4);
	unsigned param = (unsigned)le(p + 5, 2);
	struct pkt_exec_stmt *st = pkt_exec_stmts_find(ss, id);
	if (st && param < st->nparams)
		st->long_data[param / 8] |= (uint8_t)(1u << (param % 8));
}

void pkt_exec_stmt_executing(struct pkt_exec_stmt *st, const uint8_t *p, size_t len, uint32_t caps)
{
	if (st->nparams && pkt_exec_types(p, len, caps, st->nparams, st->types))
		st->has_types = true;
}

void pkt_exec_stmt_reset(struct pkt_exec_stmt *st)
{
	if (st->nparams)
		memset(st->long_data, 0, (st->nparams + 7u) / 8);
}

void pkt_exec_stmts_clear(struct pkt_exec_stmts *ss)
{
	for (size_t i = 0; i < ss->n; i++)
		stmt_free(&ss->v[i]);
	free(ss->v);
	memset(ss, 0, sizeof(*ss));
}
