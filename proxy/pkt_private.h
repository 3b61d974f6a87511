/*
 * MySQL wire-protocol codec: the reader of a private query's answer (OK,
 * ERR, or a small text result set whose first row is kept). Pure buffer
 * code, no network part: the relay (session_private.c) feeds it packets.
 */
#ifndef DDLGATE_PROXY_PKT_PRIVATE_H
#define DDLGATE_PROXY_PKT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/hook.h"

enum priv_state {
	PRIV_S_FIRST,	/* OK, ERR or a column count */
	PRIV_S_COLDEFS, /* column definitions, left to come */
	PRIV_S_COLEOF,	/* the EOF after them (no CLIENT_DEPRECATE_EOF) */
	PRIV_S_ROWS,	/* rows until EOF / OK / ERR */
	PRIV_S_DONE,
};

/* One answer being read. Embedded (priv_parse_begin); owns the kept row. */
struct priv_parse {
	uint32_t caps; /* negotiated capabilities of the backend leg */
	enum priv_state st;
	uint64_t left; /* column definitions still to come */
	bool later;    /* in a later result (SERVER_MORE_RESULTS_EXISTS): drained only */
	struct private_result res; /* the first result; vals point into buf */
	char buf[PRIVATE_KEEP];
};

enum priv_event {
	PRIV_EV_MORE, /* the answer goes on */
	PRIV_EV_DONE, /* the answer is complete: res holds it */
	PRIV_EV_BAD,  /* not a valid answer */
};

void priv_parse_begin(struct priv_parse *p, uint32_t caps);

/*
 * Whether the next packet (its payload length and first byte) must be
 * fed whole: terminal packets, the column count and the first row are;
 * other rows and column definitions may be fed by their first byte only
 * (whole = false in priv_parse_feed), so a long row is never buffered.
 * A first row longer than PRIVATE_KEEP is not kept either (truncated).
 */
bool priv_parse_wants_whole(const struct priv_parse *p, uint32_t len, uint8_t first);

/*
 * Feeds one packet's payload: len bytes at pl when whole, else only the
 * first byte is looked at (the caller drops the rest). Returns what the
 * answer is now.
 */
enum priv_event priv_parse_feed(struct priv_parse *p, const uint8_t *pl, size_t len, bool whole);

#endif
