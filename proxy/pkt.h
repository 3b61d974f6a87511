/*
 * MySQL wire-protocol codec: pure buffer code, no network.
 *
 * Everything here reads or writes bytes the caller owns and reports
 * malformed input through its return value; nothing allocates. The relay
 * (session.c) uses it to decide, at each packet header, whether to send the
 * packet on untouched or to fetch it whole, and to follow the server's
 * answers (pkt_resp_*) so it always knows when a statement is over.
 */
#ifndef DDLGATE_PROXY_PKT_H
#define DDLGATE_PROXY_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_HDR 4
#define PKT_MAX_PAYLOAD 0xFFFFFFu /* a payload this long is continued by the next packet */

/* Capability flags (lower 32 bits; MariaDB's extended ones are separate). */
#define CLIENT_LONG_PASSWORD (1u << 0)
#define CLIENT_FOUND_ROWS (1u << 1)
#define CLIENT_LONG_FLAG (1u << 2)
#define CLIENT_CONNECT_WITH_DB (1u << 3)
#define CLIENT_NO_SCHEMA (1u << 4)
#define CLIENT_COMPRESS (1u << 5)
#define CLIENT_ODBC (1u << 6)
#define CLIENT_LOCAL_FILES (1u << 7)
#define CLIENT_IGNORE_SPACE (1u << 8)
#define CLIENT_PROTOCOL_41 (1u << 9)
#define CLIENT_INTERACTIVE (1u << 10)
#define CLIENT_SSL (1u << 11)
#define CLIENT_IGNORE_SIGPIPE (1u << 12)
#define CLIENT_TRANSACTIONS (1u << 13)
#define CLIENT_RESERVED (1u << 14)
#define CLIENT_SECURE_CONNECTION (1u << 15)
#define CLIENT_MULTI_STATEMENTS (1u << 16)
#define CLIENT_MULTI_RESULTS (1u << 17)
#define CLIENT_PS_MULTI_RESULTS (1u << 18)
#define CLIENT_PLUGIN_AUTH (1u << 19)
#define CLIENT_CONNECT_ATTRS (1u << 20)
#define CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA (1u << 21)
#define CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS (1u << 22)
#define CLIENT_SESSION_TRACK (1u << 23)
#define CLIENT_DEPRECATE_EOF (1u << 24)
#define CLIENT_OPTIONAL_RESULTSET_METADATA (1u << 25)
#define CLIENT_ZSTD_COMPRESSION_ALGORITHM (1u << 26)
#define CLIENT_QUERY_ATTRIBUTES (1u << 27)

/* MariaDB extended capabilities (the 4 bytes in the greeting's filler). */
#define MARIADB_CLIENT_PROGRESS (1u << 0)
#define MARIADB_CLIENT_COM_MULTI (1u << 1)
#define MARIADB_CLIENT_STMT_BULK_OPERATIONS (1u << 2)
#define MARIADB_CLIENT_EXTENDED_METADATA (1u << 3)
/* What ddlgate's response follower understands; the rest is masked. */
#define PKT_MARIADB_EXT_SUPPORTED                                                                  \
	(MARIADB_CLIENT_PROGRESS | MARIADB_CLIENT_STMT_BULK_OPERATIONS |                           \
	 MARIADB_CLIENT_EXTENDED_METADATA)

/* Server status flags. */
#define SERVER_STATUS_IN_TRANS 0x0001
#define SERVER_STATUS_AUTOCOMMIT 0x0002
#define SERVER_MORE_RESULTS_EXISTS 0x0008
#define SERVER_STATUS_CURSOR_EXISTS 0x0040
#define SERVER_STATUS_LAST_ROW_SENT 0x0080
#define SERVER_SESSION_STATE_CHANGED 0x4000

/* COM_STMT_EXECUTE flags (the byte after the statement id): the cursor
 * types. MariaDB sets SERVER_STATUS_CURSOR_EXISTS in other answers too
 * (the text-protocol result sets of a CALL whose body opened a cursor),
 * so only a command that asked for a cursor gets cursor semantics. */
#define PKT_CURSOR_TYPE_MASK 0x07

/* Command bytes. */
enum pkt_cmd {
	COM_SLEEP = 0x00,
	COM_QUIT = 0x01,
	COM_INIT_DB = 0x02,
	COM_QUERY = 0x03,
	COM_FIELD_LIST = 0x04,
	COM_CREATE_DB = 0x05,
	COM_DROP_DB = 0x06,
	COM_REFRESH = 0x07,
	COM_SHUTDOWN = 0x08,
	COM_STATISTICS = 0x09,
	COM_PROCESS_INFO = 0x0a,
	COM_CONNECT = 0x0b,
	COM_PROCESS_KILL = 0x0c,
	COM_DEBUG = 0x0d,
	COM_PING = 0x0e,
	COM_TIME = 0x0f,
	COM_DELAYED_INSERT = 0x10,
	COM_CHANGE_USER = 0x11,
	COM_BINLOG_DUMP = 0x12,
	COM_TABLE_DUMP = 0x13,
	COM_CONNECT_OUT = 0x14,
	COM_REGISTER_SLAVE = 0x15,
	COM_STMT_PREPARE = 0x16,
	COM_STMT_EXECUTE = 0x17,
	COM_STMT_SEND_LONG_DATA = 0x18,
	COM_STMT_CLOSE = 0x19,
	COM_STMT_RESET = 0x1a,
	COM_SET_OPTION = 0x1b,
	COM_STMT_FETCH = 0x1c,
	COM_DAEMON = 0x1d,
	COM_BINLOG_DUMP_GTID = 0x1e,
	COM_RESET_CONNECTION = 0x1f,
	COM_STMT_BULK_EXECUTE = 0xfa,
};

/* ---- primitives -------------------------------------------------------- */

/* Payload length and sequence id of the 4-byte header at p. */
static inline uint32_t pkt_hdr_len(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}
static inline uint8_t pkt_hdr_seq(const uint8_t *p)
{
	return p[3];
}
static inline void pkt_hdr_put(uint8_t *p, uint32_t len, uint8_t seq)
{
	p[0] = (uint8_t)len;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)(len >> 16);
	p[3] = seq;
}

/* A read cursor over one payload. Readers advance pos and return false,
 * leaving pos unchanged, when the bytes run out or are malformed. */
struct pkt_rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static inline void pkt_rd_init(struct pkt_rd *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
}
static inline size_t pkt_rd_left(const struct pkt_rd *r)
{
	return r->len - r->pos;
}

bool pkt_rd_u8(struct pkt_rd *r, uint8_t *v) __attribute__((warn_unused_result));
bool pkt_rd_u16(struct pkt_rd *r, uint16_t *v) __attribute__((warn_unused_result));
bool pkt_rd_u32(struct pkt_rd *r, uint32_t *v) __attribute__((warn_unused_result));
bool pkt_rd_skip(struct pkt_rd *r, size_t n) __attribute__((warn_unused_result));
/* Length-encoded integer. *is_null is set for the 0xFB marker (NULL in a
 * text row); is_null may be NULL, in which case 0xFB is an error. */
bool pkt_rd_lenenc(struct pkt_rd *r, uint64_t *v, bool *is_null)
    __attribute__((warn_unused_result));
/* Length-encoded string: *s points into the payload (not terminated). */
bool pkt_rd_lenenc_str(struct pkt_rd *r, const uint8_t **s, size_t *n)
    __attribute__((warn_unused_result));
/* NUL-terminated string; the NUL is consumed but not counted in *n. */
bool pkt_rd_cstr(struct pkt_rd *r, const uint8_t **s, size_t *n)
    __attribute__((warn_unused_result));

/* Writes v as a length-encoded integer at out (room for 9 bytes); returns
 * the number of bytes written. */
size_t pkt_put_lenenc(uint8_t *out, uint64_t v);

/* ---- generic responses -------------------------------------------------- */

struct pkt_ok {
	uint64_t affected_rows;
	uint64_t last_insert_id;
	uint16_t status;
	uint16_t warnings;
	const uint8_t *info; /* borrowed from the payload */
	size_t info_len;
	const uint8_t *schema; /* SESSION_TRACK_SCHEMA value if present, borrowed */
	size_t schema_len;
};

struct pkt_err {
	uint16_t code;
	char sqlstate[6];	/* "" when the packet has none */
	const uint8_t *message; /* borrowed */
	size_t message_len;
};

/* OK packet (header byte 0x00, or 0xFE for the DEPRECATE_EOF terminator).
 * caps are the negotiated capabilities. */
bool pkt_parse_ok(const uint8_t *p, size_t len, uint32_t caps, struct pkt_ok *ok)
    __attribute__((warn_unused_result));
/* ERR packet (0xFF). */
bool pkt_parse_err(const uint8_t *p, size_t len, uint32_t caps, struct pkt_err *err)
    __attribute__((warn_unused_result));
/* Old EOF packet (0xFE, payload shorter than 9 bytes). */
bool pkt_parse_eof(const uint8_t *p, size_t len, uint16_t *status, uint16_t *warnings)
    __attribute__((warn_unused_result));
/* True when a payload starting with 0xFE is an EOF / terminating OK rather
 * than a row (the rule MySQL's own client applies). */
static inline bool pkt_is_eof(const uint8_t first, uint32_t len, uint32_t caps)
{
	if (first != 0xFE)
		return false;
	return (caps & CLIENT_DEPRECATE_EOF) ? len < PKT_MAX_PAYLOAD : len < 9;
}

/* The offset of the two status-flag bytes in a terminal packet's payload:
 * an OK (0x00), an old EOF, or the 0xFE OK that ends a result set under
 * CLIENT_DEPRECATE_EOF. 0 when p is none of them or too short. */
size_t pkt_status_at(const uint8_t *p, size_t len, uint32_t caps);

/* Builds a whole ERR packet (header included) with sequence id seq into
 * out (cap bytes); the message is cut to fit. Returns the bytes written,
 * or 0 if cap is too small for even the fixed part. */
size_t pkt_build_err(uint8_t *out, size_t cap, uint8_t seq, uint16_t code, const char *sqlstate,
		     const char *message);
/* Builds a whole OK packet (header included); returns bytes written (<= 32). */
size_t pkt_build_ok(uint8_t *out, uint8_t seq, uint64_t affected, uint64_t insert_id,
		    uint16_t status, uint16_t warnings);

/* ---- continuation --------------------------------------------------------- */

enum pkt_scan {
	PKT_SCAN_NEED, /* not all parts are there yet */
	PKT_SCAN_OK,   /* a whole logical packet */
	PKT_SCAN_BAD,  /* sequence ids out of order or too large */
};

/*
 * Looks at the wire bytes buf[0..len) for one logical packet: a packet
 * whose payload is 0xFFFFFF bytes is continued by the next one, each with
 * the next sequence id. On PKT_SCAN_OK sets *wire (bytes on the wire,
 * headers included), *payload (sum of payload lengths) and *parts. max
 * caps the payload (PKT_SCAN_BAD above it). On PKT_SCAN_NEED, *payload is
 * the payload length seen so far (to report max_packet early).
 */
enum pkt_scan pkt_scan_logical(const uint8_t *buf, size_t len, uint64_t max, size_t *wire,
			       uint64_t *payload, unsigned *parts)
    __attribute__((warn_unused_result));

/*
 * The same scan one header at a time, for a relay that meets headers as
 * bytes arrive (pkt_scan_logical() runs on it, so the fuzzed code is the
 * code that relays). pkt_scan_begin() before the first part; then
 * pkt_scan_part() with each header: PKT_PART_MORE when a continuation
 * follows, PKT_PART_LAST when this part ends the logical packet. The first
 * part's sequence id is the caller's to check; later ones must follow it.
 * The state counts payload bytes (capped by max) and parts.
 */
struct pkt_scan_state {
	uint64_t payload; /* payload bytes announced so far */
	unsigned parts;	  /* headers accepted so far */
	uint8_t seq;	  /* sequence id of the last accepted header */
};

enum pkt_part {
	PKT_PART_MORE,	    /* 0xFFFFFF payload: the next packet continues it */
	PKT_PART_LAST,	    /* the logical packet ends with this part */
	PKT_PART_BAD_SEQ,   /* not the next sequence id: state unchanged */
	PKT_PART_TOO_LARGE, /* the payload passed max (the part is counted) */
};

void pkt_scan_begin(struct pkt_scan_state *st);
enum pkt_part pkt_scan_part(struct pkt_scan_state *st, const uint8_t *hdr, uint64_t max)
    __attribute__((warn_unused_result));

/* Copies the payloads of the logical packet at buf (already scanned as
 * PKT_SCAN_OK: wire bytes) into out, which has room for the payload length.
 * Returns the payload length. */
size_t pkt_reassemble(const uint8_t *buf, size_t wire, uint8_t *out);

/* ---- handshake ------------------------------------------------------------ */

/* The server's v10 greeting: offsets into the payload so the caller can
 * patch it in place. */
struct pkt_greeting {
	uint8_t protocol;
	const uint8_t *version; /* borrowed */
	size_t version_len;
	uint32_t thread_id;
	uint32_t caps;	   /* lower | upper flags */
	uint32_t ext_caps; /* MariaDB extended capabilities, 0 if none */
	bool mariadb_ext;  /* the greeting carries ext_caps (no CLIENT_LONG_PASSWORD) */
	uint8_t charset;
	uint16_t status;
	size_t caps_lo_off;    /* payload offsets of the flag fields */
	size_t caps_hi_off;    /* 0 if absent */
	size_t ext_off;	       /* 0 if absent */
	const uint8_t *plugin; /* borrowed; NULL if none */
	size_t plugin_len;
};

bool pkt_greeting_parse(const uint8_t *p, size_t len, struct pkt_greeting *g)
    __attribute__((warn_unused_result));
/* Rewrites the capability flags of the greeting at p (parsed into g). */
void pkt_greeting_set_caps(uint8_t *p, const struct pkt_greeting *g, uint32_t caps, uint32_t ext);

/* The client's HandshakeResponse41 (or the 32-byte SSLRequest prefix). */
struct pkt_hsresp {
	uint32_t caps;
	uint32_t max_packet;
	uint8_t charset;
	uint32_t ext_caps;   /* MariaDB: last 4 filler bytes when CLIENT_LONG_PASSWORD is unset */
	bool ssl_request;    /* only the 32-byte prefix with CLIENT_SSL */
	const uint8_t *user; /* borrowed */
	size_t user_len;
	const uint8_t *auth; /* borrowed */
	size_t auth_len;
	const uint8_t *schema; /* borrowed; NULL if none */
	size_t schema_len;
	const uint8_t *plugin; /* borrowed; NULL if none */
	size_t plugin_len;
	const uint8_t *attrs; /* borrowed: connection attributes (key, value pairs of
				 length-encoded strings); NULL if none */
	size_t attrs_len;
};

bool pkt_hsresp_parse(const uint8_t *p, size_t len, struct pkt_hsresp *h)
    __attribute__((warn_unused_result));
/* The value of connection attribute key ("_pid", "program_name") in attrs
 * (pkt_hsresp.attrs), borrowed. False when absent or the list is malformed. */
bool pkt_attr_find(const uint8_t *attrs, size_t len, const char *key, const uint8_t **val,
		   size_t *vlen) __attribute__((warn_unused_result));
/* Rewrites the capability fields of a handshake response (or SSLRequest)
 * in place: payload bytes 0..3 and, for MariaDB, bytes 28..31. */
void pkt_hsresp_set_caps(uint8_t *p, size_t len, uint32_t caps, uint32_t ext);

/* COM_CHANGE_USER payload (command byte included): user and schema. */
bool pkt_change_user_parse(const uint8_t *p, size_t len, uint32_t caps, const uint8_t **user,
			   size_t *user_len, const uint8_t **schema, size_t *schema_len)
    __attribute__((warn_unused_result));

/* The SQL text of a COM_QUERY payload (command byte included), skipping the
 * query attributes that precede it when CLIENT_QUERY_ATTRIBUTES was
 * negotiated. */
bool pkt_query_sql(const uint8_t *p, size_t len, uint32_t caps, const uint8_t **sql,
		   size_t *sql_len) __attribute__((warn_unused_result));

/* ---- response follower ------------------------------------------------------ */

/* What shape of answer a command gets. */
enum pkt_resp_kind {
	PKT_RESP_NONE,	  /* no answer: STMT_CLOSE, SEND_LONG_DATA, QUIT */
	PKT_RESP_GENERIC, /* OK | ERR | EOF | LOCAL INFILE | result sets (+ more) */
	PKT_RESP_PREPARE, /* STMT_PREPARE: OK + param defs + column defs */
	PKT_RESP_FETCH,	  /* STMT_FETCH: binary rows then EOF */
	PKT_RESP_FIELDS,  /* FIELD_LIST: column defs until EOF */
	PKT_RESP_RAW1,	  /* STATISTICS: one packet of plain text */
	PKT_RESP_AUTH,	  /* CHANGE_USER and the handshake: relay until OK or ERR */
	PKT_RESP_STREAM,  /* BINLOG_DUMP: never ends */
};

/* The answer kind for a command byte. */
enum pkt_resp_kind pkt_cmd_resp_kind(uint8_t cmd);

/* One statement's result as the follower saw it. Pointers borrow from the
 * packet passed to pkt_resp_feed(). */
struct pkt_result {
	bool ok;
	bool more;
	bool result_set;
	uint16_t status;
	uint16_t warnings;
	uint64_t affected_rows;
	uint64_t last_insert_id;
	uint64_t rows;
	uint32_t stmt_id;   /* STMT_PREPARE answered OK: the statement's id; else 0 */
	struct pkt_err err; /* when !ok */
	struct pkt_ok okp;  /* when ok and the answer was an OK packet */
};

enum pkt_resp_state {
	PKT_RS_FIRST,	  /* first packet of a result */
	PKT_RS_COLDEFS,	  /* column definitions */
	PKT_RS_COLEOF,	  /* EOF after column definitions */
	PKT_RS_ROWS,	  /* rows until EOF / OK / ERR */
	PKT_RS_PARAMDEFS, /* prepare: parameter definitions */
	PKT_RS_PARAMEOF,  /* prepare: EOF after parameter definitions */
	PKT_RS_INFILE,	  /* the client is sending a LOCAL INFILE */
	PKT_RS_DONE,	  /* the server is idle */
};

struct pkt_resp {
	uint32_t caps;	/* negotiated */
	uint8_t kind;	/* enum pkt_resp_kind */
	uint8_t state;	/* enum pkt_resp_state */
	bool cont;	/* the previous packet was 0xFFFFFF long: this one continues it */
	bool prepare;	/* column defs belong to a prepare answer: no rows follow */
	bool want_row1; /* report the first row of a one-column result (PKT_EV_ROW1) */
	bool binary;	/* rows use the binary protocol (STMT_EXECUTE) */
	bool cursor;	/* the command asked for a cursor (STMT_EXECUTE flags): an EOF
			 * with SERVER_STATUS_CURSOR_EXISTS after the column definitions
			 * ends the answer, rows come with COM_STMT_FETCH */
	uint64_t ncols; /* columns of the current result */
	uint64_t left;	/* definitions left in the current block */
	uint64_t nparams;
	uint64_t rows;
	uint32_t index; /* statement results completed so far */
	uint16_t prep_warnings;
	uint32_t stmt_id; /* prepare: the id from the PREPARE_OK packet */
	uint8_t col_type; /* want_row1 on binary rows: the one column's type and flags */
	uint16_t col_flags;
	char numbuf[24]; /* a binary integer first value, as decimal text */
};

enum pkt_resp_need {
	PKT_SEND,  /* forward it as it streams; feed only its first byte */
	PKT_WHOLE, /* fetch it whole and feed all of it */
};

enum pkt_resp_event {
	PKT_EV_NONE,   /* nothing to report */
	PKT_EV_RESULT, /* one statement result is complete: *res filled */
	PKT_EV_INFILE, /* the server asks for a LOCAL INFILE */
	PKT_EV_ROW1,   /* the first row of a one-column result: *value set */
	PKT_EV_BAD,    /* the server's answer makes no sense */
};

/* Starts following the answer to a command of kind (pkt_cmd_resp_kind()). */
void pkt_resp_start(struct pkt_resp *r, enum pkt_resp_kind kind, uint32_t caps);

/* At a packet header (payload length len, first payload byte first, 0 for
 * an empty packet): whether the follower needs the packet whole. */
enum pkt_resp_need pkt_resp_peek(const struct pkt_resp *r, uint32_t len, uint8_t first);

/*
 * Advances the follower over one packet of payload length len. p holds
 * avail bytes of it: all of it when peek said PKT_WHOLE, at least the first
 * byte otherwise (0 bytes for an empty packet). Fills *res on PKT_EV_RESULT;
 * on PKT_EV_ROW1 sets *value / *value_len / *value_null (borrowed).
 */
enum pkt_resp_event pkt_resp_feed(struct pkt_resp *r, const uint8_t *p, size_t avail, uint32_t len,
				  struct pkt_result *res, const uint8_t **value, size_t *value_len,
				  bool *value_null);

/* The client finished sending its LOCAL INFILE (an empty packet). */
void pkt_resp_infile_done(struct pkt_resp *r);

static inline bool pkt_resp_done(const struct pkt_resp *r)
{
	return r->state == PKT_RS_DONE;
}

#endif
