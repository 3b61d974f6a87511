/*
 * The running configuration: one reference-counted snapshot per load.
 *
 * serve.c reads the file once (at start and at each accepted SIGHUP) and
 * builds one snapshot from it: the struct cfg and the rules engine compiled
 * from its [rule] sections. The relay's worker configuration and the policy
 * each keep a reference; a session judges with the snapshot it holds until
 * it picks up a newer one between commands, and the last snap_put() frees
 * it. A snapshot never changes after snap_new().
 */
#ifndef DDLGATE_PROXY_SNAPSHOT_H
#define DDLGATE_PROXY_SNAPSHOT_H

#include <stdatomic.h>
#include <stddef.h>

struct cfg;
struct rules_engine;

struct snap {
	atomic_int refs;
	struct cfg *cfg;	     /* owned */
	struct rules_engine *engine; /* owned: compiled from cfg's rules */
};

/* Builds a snapshot from cfg, taking ownership of it (also on failure, when
 * cfg is freed). Returns it with one reference for the caller, or NULL with
 * err set when the rules do not compile. */
struct snap *snap_new(struct cfg *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Takes one more reference to s and returns it. Any thread. */
struct snap *snap_get(struct snap *s);

/* Drops one reference; the last one frees s. NULL is a no-op. Any thread. */
void snap_put(struct snap *s);

#endif
