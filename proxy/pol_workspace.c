/*
 * skeema's workspace schema: scratch space, not the application's schema.
 *
 * `skeema push` verifies each ALTER it generated on empty copies of the
 * tables in a schema of its own, `_skeema_tmp` (created and dropped each
 * run, over several connections, with ALGORITHM=COPY to make the server
 * check everything). Judging those copies like production tables refuses
 * every push. So:
 *
 *   - CREATE TABLE in the workspace, and table DDL on workspace tables that
 *     the same client process (account, machine, `_pid`; account and
 *     machine when the client sends no `_pid`) created there, are not
 *     judged by the rules: the tables hold no data anyone needs;
 *   - DDL whose every object lies in the workspace (the schema itself
 *     included) never counts as a migration conflict;
 *   - creating the workspace is skeema's signal: that session becomes a
 *     migration of tool skeema, and its other connections are its peers.
 *
 * The tables each process created are kept in one bounded process-wide
 * list (several connections create and alter them); the oldest entry
 * makes room when it is full, and a forgotten table is judged normally.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proxy/pol_internal.h"
#include "rules/stmt_objects.h"

#define POL_WS_SCHEMA "_skeema_tmp"
#define POL_WS_MAX 1024

struct pol_ws_table {
	char user[128];
	char host[64];
	char pid[24];
	char table[65];
};

static struct {
	pthread_mutex_t lock;
	struct pol_ws_table t[POL_WS_MAX];
	size_t n;
} ws = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool pol_ws_is(const char *schema)
{
	return schema && strcmp(schema, POL_WS_SCHEMA) == 0;
}

/* Whether every object of p lies in the workspace; *ntables counts its
 * tables (objects that are not the schema itself). */
static bool pol_ws_objects(const struct pol_stmt *p, struct stmt_obj *objs, size_t *n,
			   size_t *ntables)
{
	*n = stmt_objects(&p->st, objs, POL_MAX_OBJECTS);
	*ntables = 0;
	if (*n == 0 || p->st.unparsed || p->st.kind != STMT_DDL)
		return false;
	for (size_t i = 0; i < *n; i++) {
		const char *in = objs[i].is_schema ? objs[i].name
				 : objs[i].schema  ? objs[i].schema
						   : p->schema;
		if (!pol_ws_is(in))
			return false;
		*ntables += !objs[i].is_schema;
	}
	return true;
}

static bool pol_ws_mine(const struct pol_ws_table *e, const struct pol_sess *ps, const char *host)
{
	return strcmp(e->user, ps->hs->user) == 0 && strcmp(e->host, host) == 0 &&
	       strcmp(e->pid, ps->hs->client_pid) == 0;
}

/* Index of table in the list for ps's process, or ws.n. Under ws.lock. */
static size_t pol_ws_find(const struct pol_sess *ps, const char *host, const char *table)
{
	size_t i = 0;
	while (i < ws.n && !(pol_ws_mine(&ws.t[i], ps, host) && strcmp(ws.t[i].table, table) == 0))
		i++;
	return i;
}

void pol_ws_classify(struct pol_sess *ps, struct pol_stmt *p)
{
	struct stmt_obj objs[POL_MAX_OBJECTS];
	size_t n, ntables;
	p->ws_schema = pol_ws_objects(p, objs, &n, &ntables);
	p->ws_scratch = false;
	if (!p->ws_schema || ntables == 0 || p->st.ninner > 0)
		return;
	if (p->st.verb == DDL_CREATE_TABLE && !p->st.as_select) {
		p->ws_scratch = true; /* a new, empty copy */
		return;
	}
	static const enum ddl_verb table_ddl[] = {DDL_ALTER_TABLE,    DDL_DROP_TABLE,
						  DDL_TRUNCATE_TABLE, DDL_CREATE_INDEX,
						  DDL_DROP_INDEX,     DDL_RENAME_TABLE};
	bool verb_ok = false;
	for (size_t k = 0; k < sizeof(table_ddl) / sizeof(table_ddl[0]); k++)
		verb_ok |= table_ddl[k] == p->st.verb;
	if (!verb_ok)
		return;
	char host[64];
	pol_client_host(ps->hs, host, sizeof(host));
	bool all = true;
	pthread_mutex_lock(&ws.lock);
	for (size_t i = 0; i < n && all; i++) {
		if (objs[i].is_schema)
			continue;
		/* RENAME TABLE names its targets too: only the sources must be known */
		if (p->st.verb == DDL_RENAME_TABLE && i % 2 == 1)
			continue;
		all = pol_ws_find(ps, host, objs[i].name) < ws.n;
	}
	pthread_mutex_unlock(&ws.lock);
	p->ws_scratch = all;
}

/* Adds (or forgets) table for ps's process. Under ws.lock. */
static void pol_ws_set(const struct pol_sess *ps, const char *host, const char *table, bool add)
{
	size_t i = pol_ws_find(ps, host, table);
	if (!add) {
		if (i < ws.n)
			ws.t[i] = ws.t[--ws.n];
		return;
	}
	if (i < ws.n)
		return;
	if (ws.n == POL_WS_MAX) /* the oldest makes room: it is judged normally from now */
		memmove(&ws.t[0], &ws.t[1], --ws.n * sizeof(ws.t[0]));
	struct pol_ws_table *e = &ws.t[ws.n++];
	snprintf(e->user, sizeof(e->user), "%s", ps->hs->user);
	snprintf(e->host, sizeof(e->host), "%s", host);
	snprintf(e->pid, sizeof(e->pid), "%s", ps->hs->client_pid);
	snprintf(e->table, sizeof(e->table), "%s", table);
}

void pol_ws_result(struct pol_sess *ps, const struct pol_stmt *p, bool ok)
{
	struct stmt_obj objs[POL_MAX_OBJECTS];
	size_t n, ntables;
	if (!ok || !pol_ws_objects(p, objs, &n, &ntables))
		return;
	char host[64];
	pol_client_host(ps->hs, host, sizeof(host));
	pthread_mutex_lock(&ws.lock);
	switch (p->st.verb) {
	case DDL_CREATE_TABLE:
		if (!p->st.as_select && !p->st.temporary)
			pol_ws_set(ps, host, objs[0].name, true);
		break;
	case DDL_DROP_TABLE:
		for (size_t i = 0; i < n; i++)
			if (!objs[i].is_schema)
				pol_ws_set(ps, host, objs[i].name, false);
		break;
	case DDL_RENAME_TABLE:
		for (size_t i = 0; i + 1 < n; i += 2) {
			bool known = pol_ws_find(ps, host, objs[i].name) < ws.n;
			pol_ws_set(ps, host, objs[i].name, false);
			if (known)
				pol_ws_set(ps, host, objs[i + 1].name, true);
		}
		break;
	case DDL_DROP_DATABASE:
		ws.n = 0; /* the workspace is gone, whoever made its tables */
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&ws.lock);
}

bool pol_ws_signal(struct pol_sess *ps, const struct pol_stmt *p, struct migration_signal *sig)
{
	if (p->st.kind != STMT_DDL || p->st.verb != DDL_CREATE_DATABASE || p->st.nobjects != 1 ||
	    !pol_ws_is(p->st.objects[0].name))
		return false;
	if (!migration_sess_active(&ps->mig) && pol_in_migration(ps, NULL))
		return false; /* a peer of a running migration starts no second one */
	memset(sig, 0, sizeof(*sig));
	sig->kind = MIG_SIG_WORKSPACE;
	snprintf(sig->name, sizeof(sig->name), "%s", POL_WS_SCHEMA);
	snprintf(sig->tool, sizeof(sig->tool), "skeema");
	return true;
}
