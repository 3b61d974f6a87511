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
};
enum audit_line_status audit_check_line(const char *line, size_t len, const char *prev,
					uint64_t *seq, char *hash_out)
    __attribute__((warn_unused_result));

#endif
