/* Checkpoints: the audit chain's last seq and hash, published in the log and on GET /audit/head. */
#include "proxy/audit_head.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/audit.h"
#include "proxy/audit_int.h"
#include "proxy/clock.h"
#include "proxy/mem.h"

/*
 * The thread only reads the writer's published head and counters
 * (audit_last(), audit_get_stats()), so the writer never waits for it; a
 * checkpoint therefore names the head at the moment it looked, which may
 * be a few records past the multiple of checkpoint_every or the rotation
 * that triggered it. Any head is as good a checkpoint as another: what
 * matters is that it leaves the host.
 */
#define HEAD_POLL_MS 100

struct audit_head {
	/* Immutable after start. */
	struct audit *audit; /* borrowed */
	char *file;	     /* owned: base name of [audit] path */
	char *instance;	     /* owned */
	uint64_t every;	     /* 0 = no periodic checkpoint */
	struct audit_ticker ticker;

	/* The thread (then audit_head_stop()) only. */
	uint64_t published; /* seq of the last checkpoint */
	uint64_t rotations;
};

static const char *base_name(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;
	return s ? s + 1 : path ? path : "";
}

static json_t *head_json(struct audit *a, const char *file, const char *instance)
{
	char hash[AUDIT_HASH_HEX + 1];
	uint64_t seq = audit_last(a, hash);
	return json_pack("{s:I, s:s, s:s, s:s, s:s}", "seq", (json_int_t)seq, "hash", hash, "file",
			 file, "instance", instance ? instance : "", "mac", audit_line_mac());
}

json_t *audit_head_json(struct audit *a, const struct cfg *cfg)
{
	return head_json(a, base_name(cfg->audit.path), cfg->audit.instance);
}

/* One checkpoint line on stderr, unless the head has not moved. */
static void head_publish(struct audit_head *h, const char *why)
{
	json_t *j = head_json(h->audit, h->file, h->instance);
	uint64_t seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
	if (seq > 0 && seq != h->published) {
		fprintf(stderr,
			"ddlgate: audit: checkpoint seq %" PRIu64 " hash %s file %s instance %s "
			"(%s)\n",
			seq, json_string_value(json_object_get(j, "hash")), h->file, h->instance,
			why);
		h->published = seq;
	}
	json_decref(j);
}

static void *head_main(void *arg)
{
	struct audit_head *h = arg;
	audit_thread_setup("ddlgate-ahead");
	while (audit_ticker_wait(&h->ticker, HEAD_POLL_MS)) {
		struct audit_stats st;
		audit_get_stats(h->audit, &st);
		if (st.rotations != h->rotations) {
			h->rotations = st.rotations;
			head_publish(h, "rotation");
		} else if (h->every && audit_last(h->audit, NULL) >= h->published + h->every) {
			char why[64];
			snprintf(why, sizeof why, "every %" PRIu64 " records", h->every);
			head_publish(h, why);
		}
	}
	return NULL;
}

static void head_free(struct audit_head *h)
{
	free(h->file);
	free(h->instance);
	free(h);
}

struct audit_head *audit_head_start(const struct cfg *cfg, struct audit *a, char *err,
				    size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!a)
		return NULL;
	struct audit_head *h = mem_calloc(1, sizeof(*h), "audit checkpoints");
	h->audit = a;
	h->file = mem_strdup(base_name(cfg->audit.path), "audit checkpoints");
	h->instance =
	    mem_strdup(cfg->audit.instance ? cfg->audit.instance : "", "audit checkpoints");
	h->every = cfg->audit.checkpoint_every > 0 ? (uint64_t)cfg->audit.checkpoint_every : 0;
	/* the head at start-up is the last run's shutdown checkpoint */
	h->published = audit_last(a, NULL);
	struct audit_stats st;
	audit_get_stats(a, &st);
	h->rotations = st.rotations;
	if (!audit_ticker_start(&h->ticker, head_main, h)) {
		snprintf(err, errlen, "cannot start the audit checkpoint thread");
		head_free(h);
		return NULL;
	}
	return h;
}

void audit_head_stop(struct audit_head *h)
{
	if (!h)
		return;
	audit_ticker_stop(&h->ticker);
	audit_sync(h->audit);
	head_publish(h, "shutdown");
	head_free(h);
}
