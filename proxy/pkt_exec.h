/*
 * COM_STMT_EXECUTE parameters: the binary-protocol decoder, and the relay's
 * memory of each prepared statement that decoding needs.
 *
 * An execute carries its parameter types only when the client says so (the
 * new-params-bound flag); otherwise the server reuses the types of the
 * previous execute of the same statement, and so must whoever decodes it.
 * Parameters sent with COM_STMT_SEND_LONG_DATA are not in the execute at
 * all. The parameter count comes from the server's COM_STMT_PREPARE OK.
 * struct pkt_exec_stmts keeps those three facts per statement id.
 *
 * Like pkt.c: pure buffer code, no network. The decoder does not allocate;
 * values point into the caller's payload.
 */
#ifndef DDLGATE_PROXY_PKT_EXEC_H
#define DDLGATE_PROXY_PKT_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pkt_rd;

/* Binary-protocol column / parameter types (the first byte of a type pair). */
enum pkt_type {
	PKT_T_DECIMAL = 0,
	PKT_T_TINY = 1,
	PKT_T_SHORT = 2,
	PKT_T_LONG = 3,
	PKT_T_FLOAT = 4,
	PKT_T_DOUBLE = 5,
	PKT_T_NULL = 6,
	PKT_T_TIMESTAMP = 7,
	PKT_T_LONGLONG = 8,
	PKT_T_INT24 = 9,
	PKT_T_DATE = 10,
	PKT_T_TIME = 11,
	PKT_T_DATETIME = 12,
	PKT_T_YEAR = 13,
	PKT_T_NEWDATE = 14,
	PKT_T_VARCHAR = 15,
	PKT_T_BIT = 16,
	PKT_T_TIMESTAMP2 = 17,
	PKT_T_DATETIME2 = 18,
	PKT_T_TIME2 = 19,
	PKT_T_JSON = 245,
	PKT_T_NEWDECIMAL = 246,
	PKT_T_ENUM = 247,
	PKT_T_SET = 248,
	PKT_T_TINY_BLOB = 249,
	PKT_T_MEDIUM_BLOB = 250,
	PKT_T_LONG_BLOB = 251,
	PKT_T_BLOB = 252,
	PKT_T_VAR_STRING = 253,
	PKT_T_STRING = 254,
	PKT_T_GEOMETRY = 255,
};

/* The second byte of a parameter's type pair. */
#define PKT_PARAM_UNSIGNED 0x80

/* Above this many parameters a statement is not decoded (the server's own
 * limit is 65535). */
#define PKT_EXEC_MAX_PARAMS 65535u

/* The byte after the statement id: cursor types, and MySQL's
 * "parameter count follows" (query attributes). Any other bit is an
 * extension ddlgate does not decode. */
#define PKT_EXEC_FLAG_PARAM_COUNT 0x08

/* Reads one binary-protocol value of type (from a type pair); false when
 * the bytes run out. A type the protocol does not define is read as the
 * server reads it: length-encoded, like a string. *val points at the value's bytes (for
 * dates and times: after their length byte; for length-encoded values:
 * the bytes themselves). */
bool pkt_rd_binary_value(struct pkt_rd *r, uint8_t type, const uint8_t **val, size_t *len)
    __attribute__((warn_unused_result));

/* One decoded parameter; val borrows from the execute payload. */
struct pkt_exec_param {
	uint8_t type;	/* enum pkt_type as the client bound it */
	bool unsig;	/* PKT_PARAM_UNSIGNED */
	bool null;	/* NULL (bitmap, or type NULL) */
	bool long_data; /* sent with COM_STMT_SEND_LONG_DATA: no value here */
	const uint8_t *val;
	size_t len;
};

enum pkt_exec_status {
	PKT_EXEC_OK,
	PKT_EXEC_MALFORMED,   /* shorter than it says, or a count that does not match */
	PKT_EXEC_UNSUPPORTED, /* an extension (array binding, unknown flags or types) */
	PKT_EXEC_NO_TYPES,    /* reuses types ddlgate never saw */
};

/*
 * Decodes the parameters of the COM_STMT_EXECUTE payload p (command byte
 * included) of a statement with nparams parameters (its PREPARE OK).
 * types: the 2 * nparams type bytes the previous execute bound (NULL when
 * none was seen), used when this one does not send types. long_data: a
 * bitmap of the parameters sent with COM_STMT_SEND_LONG_DATA (NULL: none).
 * caps: the session's client capabilities (CLIENT_QUERY_ATTRIBUTES adds a
 * parameter count and names). Fills out[0 .. nparams-1] on PKT_EXEC_OK;
 * out is unspecified otherwise.
 */
enum pkt_exec_status pkt_exec_decode(const uint8_t *p, size_t len, uint32_t caps, unsigned nparams,
				     const uint8_t *types, const uint8_t *long_data,
				     struct pkt_exec_param *out)
    __attribute__((warn_unused_result));

/*
 * When the execute p binds new types, copies the first nparams type pairs
 * to types_out (2 * nparams bytes) and returns true; false when it sends
 * none or cannot be read.
 */
bool pkt_exec_types(const uint8_t *p, size_t len, uint32_t caps, unsigned nparams,
		    uint8_t *types_out);

/* "int", "bigint unsigned", "varchar", "datetime", ...: the SQL name of a
 * parameter's type, for people. */
const char *pkt_type_name(uint8_t type, bool unsig);

/* True for types whose value is text or bytes (strings, blobs, decimals,
 * JSON): pkt_exec_param_text() copies them rather than formats them. */
bool pkt_type_is_bytes(uint8_t type);

/*
 * The value of pp as SQL would print it, NUL-terminated in buf (cap > 0):
 * integers and floats in decimal, dates and times as 'YYYY-MM-DD
 * hh:mm:ss[.ffffff]' (a zero fraction left out), bytes as they are (cut to fit). Returns the length
 * the whole value would need (like snprintf), so a caller sees when it was
 * cut. NULL and long data give "".
 */
size_t pkt_exec_param_text(const struct pkt_exec_param *pp, char *buf, size_t cap);

/* ---- the relay's memory of prepared statements ---- */

struct pkt_exec_stmt {
	uint32_t id;
	uint16_t nparams;   /* from the PREPARE OK */
	bool has_types;	    /* types holds what the last execute bound */
	uint8_t *types;	    /* owned: 2 * nparams bytes */
	uint8_t *long_data; /* owned: bitmap of parameters with SEND_LONG_DATA
			     * since the last execute */
};

struct pkt_exec_stmts {
	struct pkt_exec_stmt *v; /* owned */
	size_t n, cap;
	uint32_t last; /* the last statement prepared (MariaDB's id 0xFFFFFFFF) */
};

/* A statement the server prepared as id with nparams parameters (replaces
 * one of the same id). false when out of memory (the statement is then
 * unknown, and its executes are not decoded). */
bool pkt_exec_stmts_add(struct pkt_exec_stmts *ss, uint32_t id, unsigned nparams);
/* The statement of id (0xFFFFFFFF: the last prepared), or NULL. */
struct pkt_exec_stmt *pkt_exec_stmts_find(struct pkt_exec_stmts *ss, uint32_t id);
/* COM_STMT_CLOSE. */
void pkt_exec_stmts_del(struct pkt_exec_stmts *ss, uint32_t id);
/* COM_STMT_SEND_LONG_DATA payload p: marks its parameter. */
void pkt_exec_stmts_long_data(struct pkt_exec_stmts *ss, const uint8_t *p, size_t len);
/* Before the hook sees execute p of st: remembers the types it binds. */
void pkt_exec_stmt_executing(struct pkt_exec_stmt *st, const uint8_t *p, size_t len, uint32_t caps);
/* After an execute or COM_STMT_RESET: the server forgot the long data. */
void pkt_exec_stmt_reset(struct pkt_exec_stmt *st);
/* Every statement is gone (COM_RESET_CONNECTION, COM_CHANGE_USER, the end). */
void pkt_exec_stmts_clear(struct pkt_exec_stmts *ss);

#endif
