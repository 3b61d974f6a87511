/*
 * Cross-instance migration agreement through the backend itself.
 *
 * Several ddlgate instances in front of one server agree on "a migration
 * runs" with a named lock ([migration] cluster_lock) held on a side
 * connection: while this instance has a running migration, its cluster
 * thread holds the lock with GET_LOCK; every instance polls IS_USED_LOCK
 * ten times a second and treats a holder other than its own side
 * connection as a migration elsewhere. No home-made protocol: the server's
 * lock table is the shared state, and a crashed instance's lock dies with
 * its connection.
 *
 * GET_LOCK needs no privilege, so any account could take the name. A
 * holder counts only when it is a connection of the [guard] account
 * (every instance uses the same one; an account sees its own connections
 * in the process list): a client holding the name is ignored and reported
 * (held_by_client, stderr). ddlgate also refuses a client's literal
 * GET_LOCK of the name (pol_memory.c).
 */
#ifndef DDLGATE_PROXY_CLUSTER_H
#define DDLGATE_PROXY_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

/* Starts the cluster thread (a no-op when cluster_lock is empty). The
 * account is [guard] user/password when set; without one the cluster
 * lock is disabled (see README). */
bool cluster_start(const struct cfg *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void cluster_configure(const struct cfg *c);
void cluster_stop(void);

/* This instance has (active = true) or no longer has a running migration:
 * the thread acquires or releases the lock soon after. */
void cluster_set_local(bool active);

/* True when another instance (another connection than ours) holds the
 * lock, as of the last poll (at most ~100 ms old); who says which. */
bool cluster_remote_migration(char *who, size_t wholen);

struct sess;

/*
 * Asks the cluster thread to poll the lock now and then run fn(s, arg) on
 * the session's loop (sess_post_id), so a DDL is judged on the server's
 * current lock state rather than on the last poll. Returns false (nothing
 * will be posted) when the cluster lock is disabled or not reachable.
 */
bool cluster_fresh_check(struct sess *s, void (*fn)(struct sess *s, void *arg), void *arg)
    __attribute__((warn_unused_result));

/*
 * After cluster_set_local(true): runs fn(s, arg) once this instance holds
 * the lock, or it cannot get it (another instance has it, the side
 * connection failed), or after timeout_ms. The migration's GET_LOCK answer
 * waits for it, so no other instance can miss a migration that already
 * started. Returns false (nothing posted) when there is nothing to wait for.
 */
bool cluster_wait_held(struct sess *s, void (*fn)(struct sess *s, void *arg), void *arg,
		       int timeout_ms) __attribute__((warn_unused_result));

struct cluster_status {
	bool enabled;
	bool connected;
	bool held_locally;   /* our side connection holds the lock */
	bool held_remotely;  /* another ddlgate instance does */
	bool held_by_client; /* a connection of another account does: ignored */
	uint64_t holder;     /* the holder's server connection id, 0 = free */
	char lock[128];
	char error[256];
};
void cluster_get_status(struct cluster_status *out);

#endif
