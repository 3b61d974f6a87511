/*
 * Checkpoints: the audit chain's head (last seq and hash) published where
 * someone who can rewrite the audit file cannot rewrite it too.
 *
 *   GET /audit/head     {seq, hash, file, instance, mac} of the running log
 *                       (pol_admin.c answers it with audit_head_json())
 *   stderr              "ddlgate: audit: checkpoint seq S hash H file F
 *                       instance I (why)" every [audit] checkpoint_every
 *                       records, after a rotation and at a clean shutdown
 *   the mirror table    every record's seq and hash, when [audit] mirror is on
 *
 * `ddlgate audit verify --against` compares a file with any of them and
 * names the records cut off its end.
 *
 *   serve.c:  h = audit_head_start(cfg, audit, err, errlen);    NULL + "" = no log
 *             audit_head_stop(h);   after every record was submitted, before
 *                                   audit_close(): waits for the writer, then
 *                                   publishes the shutdown checkpoint
 */
#ifndef DDLGATE_PROXY_AUDIT_HEAD_H
#define DDLGATE_PROXY_AUDIT_HEAD_H

#include <stddef.h>

#include <jansson.h>

#include "config/cfg.h"

struct audit;
struct audit_head;

/* Starts the thread that watches the writer's counters (ten times a second)
 * for a log a (NULL: nothing to do, returns NULL with err ""). Borrows a. */
struct audit_head *audit_head_start(const struct cfg *cfg, struct audit *a, char *err,
				    size_t errlen) __attribute__((warn_unused_result));
/* Joins the thread, waits until the writer handled every record submitted
 * so far, publishes the shutdown checkpoint and frees h. NULL is a no-op. */
void audit_head_stop(struct audit_head *h);

/* The head of a as a new JSON object {seq, hash, file, instance, mac}: file
 * is the base name of cfg's [audit] path, instance cfg's [audit] instance.
 * The caller owns it (json_decref). */
json_t *audit_head_json(struct audit *a, const struct cfg *cfg);

#endif
