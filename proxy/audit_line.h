/*
 * The audit record's line format and hash chain, without the writer.
 *
 * This is all `ddlgate audit verify` needs: it links no thread, no file
 * handling and no backend client. docs/audit.md defines the bytes hashed:
 * the previous record's 64 hex digits followed by the compact JSON of the
 * record without its "hash" key; the line is that JSON with
 * ,"hash":"<hex>" inserted before the closing brace.
 */
#ifndef DDLGATE_PROXY_AUDIT_LINE_H
#define DDLGATE_PROXY_AUDIT_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of a hash in hex, without the NUL. */
#define AUDIT_HASH_HEX 64
/* The prev of the first record of a chain. */
#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/*
 * The fingerprint of a statement: the first 16 hex digits of SHA-256 of
 * its normalised text (redact_normalise()). out must hold 17 bytes.
 */
void audit_fingerprint(const char *sql, size_t len, char out[17]);

/*
 * Checks one line (without its newline) against prev (NULL: any prev).
 * On success fills seq and hash_out (65 bytes) and returns AUDIT_LINE_OK;
 * AUDIT_LINE_BAD_PREV also fills them, so a verifier can report the break
 * and go on from there.
 */
enum audit_line_status {
	AUDIT_LINE_OK,
	AUDIT_LINE_BAD_JSON, /* not a JSON object with the record's fields */
	AUDIT_LINE_BAD_HASH, /* hash does not match the content */
	AUDIT_LINE_BAD_PREV, /* prev is not the previous record's hash */
	AUDIT_LINE_NEED_KEY, /* an HMAC line ("mac") and no key was set */
};
enum audit_line_status audit_check_line(const char *line, size_t len, const char *prev,
					uint64_t *seq, char *hash_out)
    __attribute__((warn_unused_result));
/* The same; *keyed (may be NULL) tells whether the line is HMAC-chained. */
enum audit_line_status audit_check_line_mac(const char *line, size_t len, const char *prev,
					    uint64_t *seq, char *hash_out, bool *keyed)
    __attribute__((warn_unused_result));

/*
 * The HMAC chain ([audit] key_file). With a key, every line written gets
 * "mac":"hmac-sha256" (before "prev") and its hash is HMAC-SHA-256(key,
 * prev || record without hash) instead of SHA-256; a line without "mac" is
 * always checked as a plain SHA-256 line. Process-wide: set the key once,
 * before the writer starts or the first line is checked.
 */
#define AUDIT_MAC_HMAC "hmac-sha256"
#define AUDIT_KEY_MIN 16 /* bytes: a shorter secret is guessable */
#define AUDIT_KEY_MAX 1024
/* len 0 = no key (plain chain). False when len > AUDIT_KEY_MAX. */
bool audit_line_set_key(const void *key, size_t len) __attribute__((warn_unused_result));
/* Reads the key from path (its bytes, without a final newline); false +
 * err when it cannot be read or its length is out of bounds. */
bool audit_line_load_key(const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* "hmac-sha256" with a key, else "sha256". */
const char *audit_line_mac(void);

#endif
