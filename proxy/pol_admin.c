/* The policy's admin endpoints: /status, /sessions, /audit/head, POST /window/open and
 * /window/close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>

#include "config/cfg.h"
#include "proxy/admin.h"
#include "proxy/audit_head.h"
#include "proxy/cluster.h"
#include "proxy/guard.h"
#include "proxy/pol_internal.h"
#include "proxy/window.h"

static void pol_status(json_t *status, void *arg)
{
	struct migration_info mi[64];
	size_t n = migration_list(mi, 64);
	json_t *mig = json_object();
	json_t *arr = json_array();

	for (size_t i = 0; i < n && i < 64; i++) {
		char since[32];
		struct tm tm;
		gmtime_r(&mi[i].since, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_array_append_new(arr,
				      json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
						"conn_id", (json_int_t)mi[i].conn_id, "user",
						mi[i].user, "host", mi[i].host, "tool", mi[i].tool,
						"name", mi[i].name, "schema", mi[i].schema, "since",
						since, "tables", (json_int_t)mi[i].ntables));
	}
	json_object_set_new(mig, "active", arr);
	json_object_set_new(mig, "running", json_boolean(n > 0));
	json_object_set_new(mig, "seen_total", json_integer((json_int_t)migration_seen_total()));

	struct cluster_status cs;
	cluster_get_status(&cs);
	json_t *cl = json_object();
	json_object_set_new(cl, "enabled", json_boolean(cs.enabled));
	json_object_set_new(cl, "lock", json_string(cs.lock));
	json_object_set_new(cl, "connected", json_boolean(cs.connected));
	json_object_set_new(cl, "held_locally", json_boolean(cs.held_locally));
	json_object_set_new(cl, "held_elsewhere", json_boolean(cs.held_remotely));
	json_object_set_new(cl, "holder",
			    cs.holder ? json_integer((json_int_t)cs.holder) : json_null());
	if (cs.error[0])
		json_object_set_new(cl, "error", json_string(cs.error));
	json_object_set_new(mig, "cluster_lock", cl);

	struct snap *pc = pol_conf_get();
	const struct cfg *c = pc->cfg;
	json_object_set_new(
	    mig, "conflict",
	    json_string(c->migration.conflict == CFG_CONFLICT_HOLD ? "hold" : "block"));
	json_object_set_new(mig, "scope",
			    json_string(c->migration.scope == CFG_SCOPE_SERVER	 ? "server"
					: c->migration.scope == CFG_SCOPE_SCHEMA ? "schema"
										 : "table"));
	json_object_set_new(status, "migration", mig);

	struct window_status ws;
	time_t now = time(NULL);
	window_evaluate(c, now, &ws);
	json_t *win = json_object();
	json_t *sch = json_array();
	for (size_t i = 0; i < c->window.nschedule; i++)
		json_array_append_new(sch, json_string(c->window.schedule[i].text));
	json_object_set_new(win, "schedules", sch);
	json_object_set_new(win, "configured", json_boolean(ws.configured));
	json_object_set_new(win, "open", json_boolean(ws.open));
	json_object_set_new(win, "adhoc_open", json_boolean(ws.adhoc_open));
	json_object_set_new(win, "closed_by_admin", json_boolean(ws.closed_by_admin));
	if (ws.adhoc_open) {
		char buf[32];
		struct tm tm;
		gmtime_r(&ws.adhoc_until, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(win, "adhoc_until", json_string(buf));
	} else {
		json_object_set_new(win, "adhoc_until", json_null());
	}
	if (ws.open && ws.open_until) {
		char buf[32];
		struct tm tm;
		gmtime_r(&ws.open_until, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(win, "open_until", json_string(buf));
	}
	json_object_set_new(status, "window", win);
	json_t *lw = json_object(); /* the lock-wait protection (pol_mdl.c) */
	json_object_set_new(lw, "bound_ms", json_integer(pc->cfg->guard.ddl_lock_wait_ms));
	json_object_set_new(lw, "watcher_ready", json_boolean(guard_watch_ready()));
	json_object_set_new(lw, "long_transaction_ms",
			    json_integer(pc->cfg->guard.long_transaction_ms));
	json_t *waiting = json_array();
	json_t *waits = json_array(); /* the same DDLs, and on whom they wait */
	pthread_mutex_lock(&pol.lock);
	for (struct pol_sess *ps = pol.sessions; ps; ps = ps->next) {
		unsigned attempts = atomic_load(&ps->mdl_attempts);
		uint64_t watch = atomic_load(&ps->mdl_watch);
		if (!attempts && !watch)
			continue;
		json_array_append_new(waiting, json_integer((json_int_t)ps->conn_id));
		struct guard_blocker b;
		guard_watch_blocker(watch, &b);
		char who[600];
		guard_blocker_text(&b, who, sizeof(who));
		json_array_append_new(
		    waits, json_pack("{s:I, s:i, s:b, s:o}", "conn_id", (json_int_t)ps->conn_id,
				     "attempts", (int)attempts, "held", attempts == 0, "blocker",
				     b.id ? json_stringn_nocheck(who, strlen(who)) : json_null()));
	}
	pthread_mutex_unlock(&pol.lock);
	json_object_set_new(lw, "waiting_ddl", waiting); /* conn ids */
	json_object_set_new(lw, "waits", waits);
	json_object_set_new(status, "ddl_lock_wait", lw);
	snap_put(pc);

	if (pol.audit) {
		char hash[AUDIT_HASH_HEX + 1];
		uint64_t seq = audit_last(pol.audit, hash);
		json_object_set_new(status, "audit",
				    json_pack("{s:b, s:I, s:s}", "healthy",
					      audit_healthy(pol.audit), "last_seq", (json_int_t)seq,
					      "last_hash", hash));
	}
}

/* A bounded copy of a string field another thread may be writing. */
static json_t *pol_jstr(const char *s, size_t max)
{
	char buf[256];
	size_t n = strnlen(s, max < sizeof(buf) - 1 ? max : sizeof(buf) - 1);
	memcpy(buf, s, n);
	buf[n] = 0;
	return json_stringn_nocheck(buf, n);
}

static void pol_sessions(json_t *sessions, void *arg)
{
	pthread_mutex_lock(&pol.lock);
	for (struct pol_sess *ps = pol.sessions; ps; ps = ps->next) {
		const struct hook_sess *hs = ps->hs;
		json_t *o = json_object();
		bool mig = migration_sess_active(&ps->mig);
		json_object_set_new(o, "conn_id", json_integer((json_int_t)ps->conn_id));
		json_object_set_new(o, "user", pol_jstr(hs->user, sizeof(hs->user)));
		json_object_set_new(o, "client", pol_jstr(hs->client, sizeof(hs->client)));
		json_object_set_new(o, "schema", pol_jstr(hs->schema, sizeof(hs->schema)));
		json_object_set_new(o, "kind", json_string(mig ? "migration" : "app"));
		if (mig) {
			json_object_set_new(o, "tool",
					    pol_jstr(ps->mig.tool, sizeof(ps->mig.tool)));
			json_object_set_new(o, "migration",
					    pol_jstr(ps->mig.name, sizeof(ps->mig.name)));
		}
		json_object_set_new(o, "pid", pol_jstr(hs->client_pid, sizeof(hs->client_pid)));
		json_object_set_new(o, "program",
				    pol_jstr(hs->client_prog, sizeof(hs->client_prog)));
		json_object_set_new(o, "tls", json_boolean(hs->tls));
		json_object_set_new(o, "holding", json_boolean(ps->in_waiters));
		unsigned lock_attempts = atomic_load(&ps->mdl_attempts);
		if (lock_attempts) /* a DDL waiting for its metadata lock, or between attempts */
			json_object_set_new(o, "ddl_lock_attempts", json_integer(lock_attempts));
		json_array_append_new(sessions, o);
	}
	pthread_mutex_unlock(&pol.lock);
}

static int pol_window_open(const struct evkeyvalq *query, const char *body, json_t *reply,
			   void *arg)
{
	const char *m = query ? evhttp_find_header(query, "minutes") : NULL;
	char *end = NULL;
	long minutes = m ? strtol(m, &end, 10) : 60;
	time_t now = time(NULL);

	if ((m && (!*m || *end)) || !window_adhoc_open((int)minutes, now)) {
		json_object_set_new(reply, "error",
				    json_string("minutes must be a whole number from 1 to 10080"));
		return 400;
	}
	char buf[32];
	struct tm tm;
	time_t until = now + minutes * 60;
	gmtime_r(&until, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(reply, "open", json_true());
	json_object_set_new(reply, "until", json_string(buf));
	fprintf(stderr, "ddlgate: maintenance window opened for %ld minutes (until %s)\n", minutes,
		buf);
	return 200;
}

static int pol_window_close(const struct evkeyvalq *query, const char *body, json_t *reply,
			    void *arg)
{
	struct snap *pc = pol_conf_get();
	struct window_status ws;
	window_adhoc_close(pc->cfg, time(NULL));
	window_evaluate(pc->cfg, time(NULL), &ws);
	snap_put(pc);
	json_object_set_new(reply, "open", json_boolean(ws.open));
	fprintf(stderr, "ddlgate: maintenance window closed by the admin API\n");
	return 200;
}

/* GET /audit/head: the chain's last seq and hash, a checkpoint kept off the audit host. */
static int pol_audit_head(const struct evkeyvalq *query, const char *body, json_t *reply, void *arg)
{
	if (!pol.audit) {
		json_object_set_new(reply, "error", json_string("no audit log ([audit] path)"));
		return 404;
	}
	struct snap *pc = pol_conf_get();
	json_t *head = audit_head_json(pol.audit, pc->cfg);
	snap_put(pc);
	json_object_update(reply, head);
	json_decref(head);
	return 200;
}

/* Registers the endpoints with the admin server (once per process). */
void pol_admin_register(void)
{
	static bool registered;
	if (registered)
		return;
	registered = true;
	admin_register_status(pol_status, NULL);
	admin_register_sessions(pol_sessions, NULL);
	admin_register_post("/window/open", pol_window_open, NULL);
	admin_register_post("/window/close", pol_window_close, NULL);
	admin_register_get("/audit/head", pol_audit_head, NULL);
}
