/* Migration sessions: per-session state and the shared registry (the
 * signals themselves are read by rules/migration_signal.c). */
#include "proxy/migration.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- per-session state ---- */

static void mig_name_from(struct migration_sess *m, const char *tool, const char *name)
{
	snprintf(m->tool, sizeof(m->tool), "%s", tool ? tool : "");
	snprintf(m->name, sizeof(m->name), "%s", name ? name : "");
}

void migration_sess_auth(struct migration_sess *m, const struct cfg *c, const char *user)
{
	memset(m, 0, sizeof(*m));
	if (user && *user && rules_patterns_match(&c->migration.users, user)) {
		m->by_user = true;
		mig_name_from(m, "user", user);
	}
}

static bool mig_value_is_one(const char *value)
{
	return value && strcmp(value, "1") == 0;
}

bool migration_sess_apply(struct migration_sess *m, const struct cfg *c,
			  const struct migration_signal *sig, bool ok, const char *value,
			  uint64_t affected)
{
	bool was = migration_sess_active(m);

	switch (sig->kind) {
	case MIG_SIG_NONE:
		return false;
	case MIG_SIG_GET_LOCK:
		if (!ok || !mig_value_is_one(value) ||
		    !rules_patterns_match(&c->migration.lock_names, sig->name))
			return false;
		m->by_lock = true;
		snprintf(m->lock_name, sizeof(m->lock_name), "%s", sig->name);
		mig_name_from(m, sig->tool, sig->name);
		break;
	case MIG_SIG_RELEASE_LOCK:
		if (!ok || !m->by_lock || !mig_value_is_one(value) ||
		    strcasecmp(m->lock_name, sig->name) != 0)
			return false;
		m->by_lock = false;
		m->lock_name[0] = 0;
		break;
	case MIG_SIG_RELEASE_ALL:
		if (!ok || !m->by_lock)
			return false;
		m->by_lock = false;
		m->lock_name[0] = 0;
		break;
	case MIG_SIG_LOCK_TABLE_SET:
		if (!ok || affected != 1)
			return false;
		m->by_table = true;
		mig_name_from(m, sig->tool, sig->name);
		break;
	case MIG_SIG_LOCK_TABLE_CLEAR:
		if (!ok || !m->by_table)
			return false;
		m->by_table = false;
		break;
	case MIG_SIG_DIRECTIVE:
		if (!ok)
			return false;
		m->by_directive = true;
		mig_name_from(m, sig->tool, sig->name);
		break;
	case MIG_SIG_DIRECTIVE_END:
		if (!m->by_directive)
			return false;
		m->by_directive = false;
		break;
	}
	if (!migration_sess_active(m)) {
		m->name[0] = 0;
		m->tool[0] = 0;
	}
	return was != migration_sess_active(m) || sig->kind == MIG_SIG_GET_LOCK ||
	       sig->kind == MIG_SIG_DIRECTIVE || sig->kind == MIG_SIG_LOCK_TABLE_SET;
}

void migration_sess_clear(struct migration_sess *m)
{
	bool user = m->by_user;
	char name[MIGRATION_NAME_MAX], tool[MIGRATION_TOOL_MAX];

	/* the login survives COM_RESET_CONNECTION; locks and directives do not */
	memcpy(name, m->name, sizeof(name));
	memcpy(tool, m->tool, sizeof(tool));
	memset(m, 0, sizeof(*m));
	if (user) {
		m->by_user = true;
		memcpy(m->name, name, sizeof(name));
		memcpy(m->tool, tool, sizeof(tool));
		if (strcmp(m->tool, "user") != 0)
			snprintf(m->tool, sizeof(m->tool), "user");
	}
}

/* ---- registry ---- */

struct mig_entry {
	struct migration_info info;
	char **tables; /* owned: "schema.table", lower case */
	size_t ntables, cap;
	struct mig_entry *next;
};

static pthread_mutex_t mig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mig_entry *mig_head;
static uint64_t mig_gen;
static uint64_t mig_seen;

static struct mig_entry *mig_find(uint64_t conn_id)
{
	for (struct mig_entry *e = mig_head; e; e = e->next)
		if (e->info.conn_id == conn_id)
			return e;
	return NULL;
}

void migration_register(uint64_t conn_id, const char *user, const char *host, const char *tool,
			const char *name, const char *schema)
{
	pthread_mutex_lock(&mig_lock);
	struct mig_entry *e = mig_find(conn_id);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			abort();
		e->info.conn_id = conn_id;
		e->info.since = time(NULL);
		e->next = mig_head;
		mig_head = e;
		mig_seen++;
	}
	snprintf(e->info.user, sizeof(e->info.user), "%s", user ? user : "");
	snprintf(e->info.host, sizeof(e->info.host), "%s", host ? host : "");
	snprintf(e->info.tool, sizeof(e->info.tool), "%s", tool ? tool : "");
	snprintf(e->info.name, sizeof(e->info.name), "%s", name ? name : "");
	if (schema && *schema)
		snprintf(e->info.schema, sizeof(e->info.schema), "%s", schema);
	pthread_mutex_unlock(&mig_lock);
}

static void mig_entry_free(struct mig_entry *e)
{
	for (size_t i = 0; i < e->ntables; i++)
		free(e->tables[i]);
	free(e->tables);
	free(e);
}

bool migration_unregister(uint64_t conn_id)
{
	bool found = false;

	pthread_mutex_lock(&mig_lock);
	for (struct mig_entry **pp = &mig_head; *pp; pp = &(*pp)->next) {
		if ((*pp)->info.conn_id == conn_id) {
			struct mig_entry *e = *pp;
			*pp = e->next;
			mig_entry_free(e);
			found = true;
			mig_gen++;
			break;
		}
	}
	pthread_mutex_unlock(&mig_lock);
	return found;
}

static char *mig_qualified(const char *schema, const char *table)
{
	char *s;
	if (asprintf(&s, "%s.%s", schema ? schema : "", table ? table : "") < 0)
		abort();
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

void migration_touch(uint64_t conn_id, const char *schema, const char *table)
{
	pthread_mutex_lock(&mig_lock);
	struct mig_entry *e = mig_find(conn_id);
	if (e && table) {
		char *q = mig_qualified(schema, table);
		for (size_t i = 0; i < e->ntables; i++) {
			if (strcmp(e->tables[i], q) == 0) {
				free(q);
				q = NULL;
				break;
			}
		}
		if (q) {
			if (e->ntables == e->cap) {
				e->cap = e->cap ? e->cap * 2 : 8;
				e->tables = realloc(e->tables, e->cap * sizeof(*e->tables));
				if (!e->tables)
					abort();
			}
			e->tables[e->ntables++] = q;
			e->info.ntables = e->ntables;
		}
		if (!e->info.schema[0] && schema)
			snprintf(e->info.schema, sizeof(e->info.schema), "%s", schema);
	}
	pthread_mutex_unlock(&mig_lock);
}

static bool mig_entry_conflicts(const struct mig_entry *e, enum cfg_scope scope,
				const char *default_schema, const struct migration_obj *objs,
				size_t nobjs)
{
	if (scope == CFG_SCOPE_SERVER || nobjs == 0)
		return true; /* unknown targets: assume the worst */
	for (size_t i = 0; i < nobjs; i++) {
		const char *schema = objs[i].schema ? objs[i].schema : default_schema;
		if (!schema || !*schema)
			return true;
		if (scope == CFG_SCOPE_SCHEMA) {
			if (!e->info.schema[0] || strcasecmp(e->info.schema, schema) == 0)
				return true;
			continue;
		}
		if (!objs[i].table)
			return true; /* schema-level DDL under table scope */
		char *q = mig_qualified(schema, objs[i].table);
		bool hit = false;
		for (size_t k = 0; k < e->ntables && !hit; k++)
			hit = strcmp(e->tables[k], q) == 0;
		free(q);
		if (hit)
			return true;
	}
	return false;
}

/* Same account from the same machine: one migration on several connections. */
static bool mig_is_peer(const struct mig_entry *e, const char *user, const char *host)
{
	return user && *user && e->info.user[0] && strcmp(e->info.user, user) == 0 &&
	       strcmp(e->info.host, host ? host : "") == 0;
}

bool migration_peer(uint64_t conn_id, const char *user, const char *host,
		    struct migration_info *out)
{
	bool found = false;

	pthread_mutex_lock(&mig_lock);
	for (struct mig_entry *e = mig_head; e && !found; e = e->next) {
		if (e->info.conn_id != conn_id && mig_is_peer(e, user, host)) {
			found = true;
			if (out)
				*out = e->info;
		}
	}
	pthread_mutex_unlock(&mig_lock);
	return found;
}

bool migration_conflict(uint64_t conn_id, const char *user, const char *host, enum cfg_scope scope,
			const char *default_schema, const struct migration_obj *objs, size_t nobjs,
			char *who, size_t wholen)
{
	bool hit = false;

	pthread_mutex_lock(&mig_lock);
	for (struct mig_entry *e = mig_head; e && !hit; e = e->next) {
		if (e->info.conn_id == conn_id || mig_is_peer(e, user, host))
			continue;
		if (!mig_entry_conflicts(e, scope, default_schema, objs, nobjs))
			continue;
		hit = true;
		if (who && wholen)
			snprintf(who, wholen, "connection %llu (%s%s%s, user %s)",
				 (unsigned long long)e->info.conn_id,
				 e->info.tool[0] ? e->info.tool : "migration",
				 e->info.name[0] ? ": " : "", e->info.name, e->info.user);
	}
	pthread_mutex_unlock(&mig_lock);
	return hit;
}

size_t migration_count(void)
{
	size_t n = 0;
	pthread_mutex_lock(&mig_lock);
	for (struct mig_entry *e = mig_head; e; e = e->next)
		n++;
	pthread_mutex_unlock(&mig_lock);
	return n;
}

size_t migration_list(struct migration_info *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&mig_lock);
	for (struct mig_entry *e = mig_head; e; e = e->next, n++)
		if (n < max)
			out[n] = e->info;
	pthread_mutex_unlock(&mig_lock);
	return n;
}

uint64_t migration_generation(void)
{
	pthread_mutex_lock(&mig_lock);
	uint64_t g = mig_gen;
	pthread_mutex_unlock(&mig_lock);
	return g;
}

uint64_t migration_seen_total(void)
{
	pthread_mutex_lock(&mig_lock);
	uint64_t n = mig_seen;
	pthread_mutex_unlock(&mig_lock);
	return n;
}

void migration_registry_reset(void)
{
	pthread_mutex_lock(&mig_lock);
	while (mig_head) {
		struct mig_entry *e = mig_head;
		mig_head = e->next;
		mig_entry_free(e);
	}
	mig_gen++;
	pthread_mutex_unlock(&mig_lock);
}
