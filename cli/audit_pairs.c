/* Matching audit intent records with their outcome records, for `ddlgate audit verify` and `show`.
 */
#include "cli/audit_pairs.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/mem.h"

/* An open intent; the list is in seq order (records come oldest first). */
struct pair_open {
	uint64_t seq;
	char *session;	     /* owned: instance, conn_id and client */
	char *where;	     /* owned */
	json_t *rec;	     /* reference owned */
	bool answered_since; /* its session wrote an answer after it */
};

struct audit_pairs {
	struct pair_open *open; /* owned */
	size_t n, cap;
	bool started;
	uint64_t first_seq; /* outcomes of older intents are not in the files given */
};

struct audit_pairs *audit_pairs_new(void)
{
	return mem_calloc(1, sizeof(struct audit_pairs), "audit pairs");
}

static void pair_forget(struct audit_pairs *p, size_t i)
{
	free(p->open[i].session);
	free(p->open[i].where);
	json_decref(p->open[i].rec);
	memmove(&p->open[i], &p->open[i + 1], (p->n - i - 1) * sizeof(p->open[0]));
	p->n--;
}

void audit_pairs_free(struct audit_pairs *p)
{
	if (!p)
		return;
	while (p->n)
		pair_forget(p, p->n - 1);
	free(p->open);
	free(p);
}

/* The session a record belongs to: a proxy numbers its connections from 1
 * again after a restart, so the instance and the client's port go with it. */
static char *pair_session(json_t *rec)
{
	const char *inst = json_string_value(json_object_get(rec, "instance"));
	const char *client = json_string_value(json_object_get(rec, "client"));
	char buf[600];
	snprintf(buf, sizeof buf, "%s|%" JSON_INTEGER_FORMAT "|%s", inst ? inst : "",
		 json_integer_value(json_object_get(rec, "conn_id")), client ? client : "");
	return mem_strdup(buf, "audit pairs");
}

/* Reports (in msg) and forgets the first open intent of session older than
 * seq before, or with before 0 the first its session answered something
 * after; false when there is none. */
static bool pair_unanswered(struct audit_pairs *p, const char *session, uint64_t before,
			    const char *where, char *msg, size_t msglen)
{
	for (size_t i = 0; i < p->n; i++) {
		struct pair_open *o = &p->open[i];
		if (strcmp(o->session, session) != 0 ||
		    (before ? o->seq >= before : !o->answered_since))
			continue;
		snprintf(msg, msglen,
			 "intent seq %" PRIu64 " (%s) has no outcome, yet its session went on "
			 "(%s)",
			 o->seq, o->where, where);
		pair_forget(p, i);
		return true;
	}
	return false;
}

enum audit_pair_status audit_pairs_add(struct audit_pairs *p, json_t *rec, const char *where,
				       char *msg, size_t msglen)
{
	uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
	const char *phase = json_string_value(json_object_get(rec, "phase"));
	enum audit_pair_status st = AUDIT_PAIR_OK;
	if (!p->started) {
		p->started = true;
		p->first_seq = seq;
	}
	char *session = pair_session(rec);

	if (phase && strcmp(phase, "intent") == 0) {
		/* a new command of a session that answered an older intent's
		 * neighbours but not that intent */
		if (pair_unanswered(p, session, 0, where, msg, msglen))
			st = AUDIT_PAIR_UNANSWERED;
		if (p->n == p->cap) {
			p->cap = p->cap ? 2 * p->cap : 16;
			p->open = mem_realloc(p->open, p->cap * sizeof(p->open[0]), "audit pairs");
		}
		p->open[p->n++] = (struct pair_open){seq, session, mem_strdup(where, "audit pairs"),
						     json_incref(rec), false};
		return st;
	}
	if (phase && strcmp(phase, "outcome") == 0) {
		json_t *ji = json_object_get(rec, "intent");
		uint64_t iseq = json_is_integer(ji) ? (uint64_t)json_integer_value(ji) : 0;
		size_t i = 0;
		while (i < p->n && p->open[i].seq != iseq)
			i++;
		if (i < p->n) {
			pair_forget(p, i);
			if (pair_unanswered(p, session, iseq, where, msg, msglen))
				st = AUDIT_PAIR_UNANSWERED;
		} else if (json_is_integer(ji) && iseq >= p->first_seq) {
			snprintf(msg, msglen,
				 "outcome of intent seq %" PRIu64 " (%s), which is no open intent",
				 iseq, where);
			st = AUDIT_PAIR_ORPHAN;
		}
	}
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->open[i].session, session) == 0)
			p->open[i].answered_since = true;
	free(session);
	return st;
}

size_t audit_pairs_each_open(struct audit_pairs *p,
			     void (*fn)(void *arg, const struct audit_pair_open *o), void *arg)
{
	for (size_t i = 0; i < p->n; i++) {
		struct audit_pair_open o = {p->open[i].seq, p->open[i].where, p->open[i].rec};
		fn(arg, &o);
	}
	return p->n;
}
