/*
 * Matching the write-ahead pairs of an audit log: each intent record
 * (phase intent) with the outcome record that names its seq (phase
 * outcome, "intent": SEQ). Pure: records in, findings out.
 *
 * A session sends one command at a time, and the proxy writes a command's
 * intents before forwarding it and their outcomes in statement order after
 * it. So an intent is answered late (an error) when its session (instance,
 * conn_id, client) already wrote the outcome of a later intent, or started
 * new intents after answering others; an intent still open when the files
 * end had its proxy stop between the two records: interrupted (a crash),
 * not an error.
 *
 *   struct audit_pairs *p = audit_pairs_new();
 *   for each record, oldest first:
 *       if (audit_pairs_add(p, rec, where, msg, sizeof msg) != AUDIT_PAIR_OK) ...
 *   audit_pairs_each_open(p, fn, arg);      the interrupted ones
 *   audit_pairs_free(p);
 */
#ifndef DDLGATE_CLI_AUDIT_PAIRS_H
#define DDLGATE_CLI_AUDIT_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum audit_pair_status {
	AUDIT_PAIR_OK,
	AUDIT_PAIR_ORPHAN,     /* an outcome whose intent is not open (answered twice,
				  or no such intent) */
	AUDIT_PAIR_UNANSWERED, /* an earlier intent of the session has no outcome */
};

struct audit_pairs;

/* An intent without outcome yet. */
struct audit_pair_open {
	uint64_t seq;
	const char *where; /* "FILE:LINE" given to audit_pairs_add() */
	json_t *rec;	   /* the intent record (borrowed from the tracker) */
};

struct audit_pairs *audit_pairs_new(void);
void audit_pairs_free(struct audit_pairs *p);

/*
 * Takes one record (JSON object; a reference is taken when it is an
 * intent) read at where. Records without a phase are single records and
 * only count as their session's activity. On a finding, msg says which
 * seq and where, and the tracker goes on (the intent in question is
 * forgotten, so each problem is reported once).
 */
enum audit_pair_status audit_pairs_add(struct audit_pairs *p, json_t *rec, const char *where,
				       char *msg, size_t msglen);

/* Calls fn for every intent still open, oldest first; returns how many. */
size_t audit_pairs_each_open(struct audit_pairs *p,
			     void (*fn)(void *arg, const struct audit_pair_open *o), void *arg);

#endif
