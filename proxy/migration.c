/* Migration sessions: per-session state and the shared registry (the
 * signals themselves are read by rules/migration_signal.c). */
#include "proxy/migration.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proxy/clock.h"
#include "rules/engine.h"

/* ---- per-session state ---- */

static void mig_name_from(struct migration_sess *m, const char *tool, const char *name)
{
	snprintf(m->tool, sizeof(m->tool), "%s", tool ? tool : "");
	snprintf(m->name, sizeof(m->name), "%s", name ? name : "");
}

/* Copies an entry's part without surrounding quotes ('x', "x", `x`). */
static void mig_unquote(char *dst, size_t n, const char *src, size_t len)
{
	if (len >= 2 && (src[0] == '\'' || src[0] == '"' || src[0] == '`') &&
	    src[len - 1] == src[0]) {
		src++;
		len -= 2;
	}
	snprintf(dst, n, "%.*s", (int)len, src);
}

/* addr/mask (a netmask or a prefix length) against host; false when
 * either is not an address of the same family. */
static bool mig_net_match(const char *pattern, const char *host)
{
	char net[64];
	unsigned char a[16], h[16], mask[16] = {0};
	const char *slash = strchr(pattern, '/');
	int af = strchr(pattern, ':') ? AF_INET6 : AF_INET;
	size_t alen = af == AF_INET6 ? 16 : 4;

	if ((size_t)(slash - pattern) >= sizeof(net))
		return false;
	snprintf(net, sizeof(net), "%.*s", (int)(slash - pattern), pattern);
	if (inet_pton(af, net, a) != 1 || inet_pton(af, host, h) != 1)
		return false;
	const char *m = slash + 1;
	if (inet_pton(af, m, mask) != 1) {
		char *end;
		long bits = strtol(m, &end, 10);
		if (!*m || *end || bits < 0 || (size_t)bits > alen * 8)
			return false;
		for (size_t i = 0; i < alen; i++) {
			long b = bits - (long)i * 8;
			mask[i] = b >= 8 ? 0xff : b <= 0 ? 0 : (unsigned char)(0xff << (8 - b));
		}
	}
	for (size_t i = 0; i < alen; i++)
		if ((a[i] & mask[i]) != (h[i] & mask[i]))
			return false;
	return true;
}

bool migration_host_match(const char *pattern, const char *host)
{
	char h[64], p[256];
	size_t hl = host ? strlen(host) : 0;

	/* "[::1]" as the client address prints it */
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
		snprintf(h, sizeof(h), "%.*s", (int)(hl - 2), host + 1);
	else
		snprintf(h, sizeof(h), "%s", host ? host : "");
	if (strcasecmp(pattern, "localhost") == 0)
		return !h[0] || migration_is_loopback(h);
	if (strchr(pattern, '/'))
		return h[0] && mig_net_match(pattern, h);
	/* the server's wildcards in ddlgate's syntax; host names ignore case */
	size_t o = 0;
	for (const char *c = pattern; *c && o + 2 < sizeof(p); c++) {
		if (*c == '%') {
			p[o++] = '*';
		} else if (*c == '_') {
			p[o++] = '?';
		} else if (*c == '#') { /* a digit run to ddlgate, a character in a host */
			p[o++] = '\\';
			p[o++] = '#';
		} else {
			p[o++] = *c;
		}
	}
	p[o] = 0;
	return rules_pattern_match_flags(p, h, 0);
}

/* One [migration] users entry against the account: NAME or NAME@HOST. */
static bool mig_user_entry_match(const char *entry, const char *user, const char *host)
{
	char name[256], hostpat[256];
	const char *at = strrchr(entry, '@');

	if (!at) /* a bare name: from any host, as 'name'@'%' */
		return rules_pattern_match_flags(entry, user, RULES_PATTERN_CASE);
	mig_unquote(name, sizeof(name), entry, (size_t)(at - entry));
	mig_unquote(hostpat, sizeof(hostpat), at + 1, strlen(at + 1));
	return rules_pattern_match_flags(name, user, RULES_PATTERN_CASE) &&
	       migration_host_match(hostpat, host);
}

void migration_sess_auth(struct migration_sess *m, const struct cfg *c, const char *user,
			 const char *host)
{
	memset(m, 0, sizeof(*m));
	if (!user || !*user)
		return;
	for (size_t i = 0; i < c->migration.users.n; i++) {
		if (mig_user_entry_match(c->migration.users.items[i], user, host)) {
			m->by_user = true;
			snprintf(m->login, sizeof(m->login), "%s", user);
			mig_name_from(m, "user", user);
			return;
		}
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
	case MIG_SIG_HISTORY:
	case MIG_SIG_WORKSPACE: /* kept like a history claim: idle time, disconnect */
		if (!ok || (sig->kind == MIG_SIG_HISTORY &&
			    !rules_patterns_match(&c->migration.history_tables, sig->name)))
			return false;
		m->by_history = true;
		m->history_s = clk_mono_us() / 1000000;
		/* a lock or login named the migration already; a history table may
		 * tell which of the tools sharing a lock shape it is */
		if (!was)
			mig_name_from(m, sig->tool, sig->name);
		else
			(void)migration_tool_merge(m->tool, sizeof(m->tool), sig->tool);
		return true;
	}
	/* the tool said its migration is over (lock released, lock row or
	 * directive cleared): the history tables it used do not keep it going */
	if (m->by_history && was && !m->by_lock && !m->by_table && !m->by_directive &&
	    (sig->kind == MIG_SIG_RELEASE_LOCK || sig->kind == MIG_SIG_RELEASE_ALL ||
	     sig->kind == MIG_SIG_LOCK_TABLE_CLEAR || sig->kind == MIG_SIG_DIRECTIVE_END))
		m->by_history = false;
	if (!migration_sess_active(m)) {
		m->name[0] = 0;
		m->tool[0] = 0;
	} else if (m->by_user && !m->by_lock && !m->by_table && !m->by_directive &&
		   !m->by_history) {
		mig_name_from(m, "user", m->login); /* the lock is gone, the login stays */
	}
	return was != migration_sess_active(m) || sig->kind == MIG_SIG_GET_LOCK ||
	       sig->kind == MIG_SIG_DIRECTIVE || sig->kind == MIG_SIG_LOCK_TABLE_SET;
}

bool migration_sess_claims(const struct migration_sess *m, const struct cfg *c,
			   const struct migration_signal *sig, bool ok, const char *value,
			   uint64_t affected)
{
	if (migration_sess_active(m) || !ok)
		return false;
	switch (sig->kind) {
	case MIG_SIG_GET_LOCK:
		return mig_value_is_one(value) &&
		       rules_patterns_match(&c->migration.lock_names, sig->name);
	case MIG_SIG_LOCK_TABLE_SET:
		return affected == 1;
	case MIG_SIG_DIRECTIVE:
		return true;
	case MIG_SIG_HISTORY:
		return rules_patterns_match(&c->migration.history_tables, sig->name);
	case MIG_SIG_WORKSPACE:
		return true;
	default:
		return false;
	}
}

void migration_sess_clear(struct migration_sess *m)
{
	bool user = m->by_user;
	char login[MIGRATION_NAME_MAX];

	/* the login survives COM_RESET_CONNECTION; locks and directives do not */
	memcpy(login, m->login, sizeof(login));
	memset(m, 0, sizeof(*m));
	if (user) {
		m->by_user = true;
		memcpy(m->login, login, sizeof(login));
		mig_name_from(m, "user", login);
	}
}

/* ---- who may take the floor ---- */

/* The privileges that change a table's definition. */
#define MIG_DDL_PRIVS "PRIVILEGE_TYPE IN ('CREATE','ALTER','DROP','INDEX')"

bool migration_floor_sql(const char *user, char *buf, size_t n)
{
	char hex[2 * 128 + 1];
	size_t len = user ? strlen(user) : 0;

	if (len == 0 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02X", (unsigned char)user[i]);
	/*
	 * GRANTEE reads 'name'@'host'. The name is compared as bytes (the
	 * server's account names are case-sensitive) and written as a hex
	 * literal, so no quoting or sql_mode can change what is compared.
	 * "here" marks the accounts of that name whose host part admits the
	 * address ddlgate's own connections come from (the guard's USER()):
	 * those are the ones a relayed session can have logged in as.
	 */
	int w = snprintf(
	    buf, n,
	    "SELECT COUNT(*), COALESCE(SUM(x.here), 0), COALESCE(SUM(x.here AND x.ddl), 0), "
	    "COALESCE(SUM(x.ddl), 0) FROM (SELECT g.ddl, "
	    "(SUBSTRING_INDEX(USER(), '@', -1) LIKE CONVERT(SUBSTRING(g.gb, LENGTH(k.p) + 1, "
	    "LENGTH(g.gb) - LENGTH(k.p) - 1) USING utf8mb4) OR LOCATE('/', g.gb) > 0) AS here "
	    "FROM (SELECT CONCAT('''', X'%s', '''@''') AS p) k JOIN ("
	    "SELECT CAST(GRANTEE AS BINARY) AS gb, " MIG_DDL_PRIVS " AS ddl "
	    "FROM information_schema.USER_PRIVILEGES UNION ALL "
	    "SELECT CAST(GRANTEE AS BINARY), " MIG_DDL_PRIVS
	    " FROM information_schema.SCHEMA_PRIVILEGES UNION ALL "
	    "SELECT CAST(GRANTEE AS BINARY), " MIG_DDL_PRIVS
	    " FROM information_schema.TABLE_PRIVILEGES) g ON LEFT(g.gb, LENGTH(k.p)) = k.p) x",
	    hex);
	return w > 0 && (size_t)w < n;
}

static long long mig_count(const char *const *vals, unsigned ncols, unsigned i)
{
	if (!vals || i >= ncols || !vals[i])
		return -1;
	return strtoll(vals[i], NULL, 10);
}

enum migration_floor migration_floor_verdict(const char *const *vals, unsigned ncols, char *why,
					     size_t whylen)
{
	char dummy[8];
	if (!why || !whylen) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	long long rows = mig_count(vals, ncols, 0), here = mig_count(vals, ncols, 1);
	long long ddl_here = mig_count(vals, ncols, 2), ddl_any = mig_count(vals, ncols, 3);

	if (rows < 0 || here < 0 || ddl_here < 0 || ddl_any < 0) {
		snprintf(why, whylen, "the grant check returned no answer");
		return MIGRATION_FLOOR_UNKNOWN;
	}
	if (rows == 0) {
		/* every account has at least a USAGE row: none visible means the
		 * guard account cannot read other accounts' grants */
		snprintf(why, whylen,
			 "the guard account sees no grants of this account (it needs SELECT on "
			 "the mysql database)");
		return MIGRATION_FLOOR_UNKNOWN;
	}
	/* no host part admits ddlgate's address as the guard reads it (a
	 * name the server resolved): judge by every account of that name */
	bool yes = here > 0 ? ddl_here > 0 : ddl_any > 0;
	snprintf(why, whylen, "%s",
		 yes ? "the account holds a DDL privilege"
		     : "the account holds no CREATE, ALTER, DROP or INDEX privilege on anything");
	return yes ? MIGRATION_FLOOR_YES : MIGRATION_FLOOR_NO;
}

#define MIG_FLOOR_CACHE 256

static struct {
	pthread_mutex_t lock;
	struct {
		char user[128];
		enum migration_floor v;
		int64_t at;
	} e[MIG_FLOOR_CACHE];
	size_t n;
} mig_floor = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t mig_floor_ttl(enum migration_floor v)
{
	return v == MIGRATION_FLOOR_UNKNOWN ? MIGRATION_FLOOR_RETRY_S : MIGRATION_FLOOR_TTL_S;
}

bool migration_floor_cached(const char *user, int64_t now_s, enum migration_floor *out)
{
	bool hit = false;
	pthread_mutex_lock(&mig_floor.lock);
	for (size_t i = 0; i < mig_floor.n; i++) {
		if (strcmp(mig_floor.e[i].user, user) != 0)
			continue;
		if (now_s - mig_floor.e[i].at < mig_floor_ttl(mig_floor.e[i].v)) {
			*out = mig_floor.e[i].v;
			hit = true;
		}
		break;
	}
	pthread_mutex_unlock(&mig_floor.lock);
	return hit;
}

void migration_floor_store(const char *user, enum migration_floor v, int64_t now_s)
{
	pthread_mutex_lock(&mig_floor.lock);
	size_t slot = mig_floor.n, oldest = 0;
	for (size_t i = 0; i < mig_floor.n; i++) {
		if (strcmp(mig_floor.e[i].user, user) == 0) {
			slot = i;
			break;
		}
		if (mig_floor.e[i].at < mig_floor.e[oldest].at)
			oldest = i;
	}
	if (slot == mig_floor.n) {
		if (mig_floor.n < MIG_FLOOR_CACHE)
			mig_floor.n++;
		else
			slot = oldest; /* full: the stalest answer goes */
	}
	snprintf(mig_floor.e[slot].user, sizeof(mig_floor.e[slot].user), "%s", user);
	mig_floor.e[slot].v = v;
	mig_floor.e[slot].at = now_s;
	pthread_mutex_unlock(&mig_floor.lock);
}

void migration_floor_reset(void)
{
	pthread_mutex_lock(&mig_floor.lock);
	mig_floor.n = 0;
	pthread_mutex_unlock(&mig_floor.lock);
}

/* ---- registry ---- */

/* A migration's memory: one per migration, shared by the registry entries
 * of its peers. refs is guarded by mig_lock, m by lock. */
struct migration_memory {
	pthread_mutex_t lock;
	struct rules_migration *m; /* owned */
	unsigned refs;
};

struct mig_entry {
	struct migration_info info;
	char **tables; /* owned: "schema.table", lower case */
	size_t ntables, cap;
	struct migration_memory *mem; /* one reference */
	int64_t deadline_s;	      /* monotonic; 0 = none (migration_set_deadline) */
	struct mig_entry *next;
};

static pthread_mutex_t mig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mig_entry *mig_head;
static uint64_t mig_gen;
static uint64_t mig_seen;

static atomic_size_t mig_n; /* entries, for the hot path's "any migration?" */

static bool mig_is_peer(const struct mig_entry *e, const char *user, const char *host,
			const char *proc);

/* An entry whose deadline passed: its session went quiet, the migration is
 * over for everyone else (the session unregisters at its next command). */
static bool mig_expired(const struct mig_entry *e)
{
	return e->deadline_s && clk_mono_us() / 1000000 >= e->deadline_s;
}

/* Under mig_lock. */
static void mig_memory_unref(struct migration_memory *mm)
{
	if (!mm || --mm->refs > 0)
		return;
	rules_migration_free(mm->m);
	pthread_mutex_destroy(&mm->lock);
	free(mm);
}

static struct mig_entry *mig_find(uint64_t conn_id)
{
	for (struct mig_entry *e = mig_head; e; e = e->next)
		if (e->info.conn_id == conn_id)
			return e;
	return NULL;
}

void migration_register(uint64_t conn_id, const char *user, const char *host, const char *proc,
			const char *tool, const char *name, const char *schema)
{
	pthread_mutex_lock(&mig_lock);
	struct mig_entry *e = mig_find(conn_id);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			abort();
		e->info.conn_id = conn_id;
		e->info.since = time(NULL);
		/* a peer's migration is this one too: its memory is shared */
		for (struct mig_entry *p = mig_head; p && !e->mem; p = p->next)
			if (mig_is_peer(p, user, host, proc)) {
				e->mem = p->mem;
				e->mem->refs++;
			}
		if (!e->mem) {
			e->mem = calloc(1, sizeof(*e->mem));
			if (!e->mem)
				abort();
			pthread_mutex_init(&e->mem->lock, NULL);
			e->mem->m = rules_migration_new();
			e->mem->refs = 1;
		}
		e->next = mig_head;
		mig_head = e;
		mig_seen++;
		atomic_fetch_add(&mig_n, 1);
	}
	snprintf(e->info.user, sizeof(e->info.user), "%s", user ? user : "");
	snprintf(e->info.host, sizeof(e->info.host), "%s", host ? host : "");
	snprintf(e->info.proc, sizeof(e->info.proc), "%s", proc ? proc : "");
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
	mig_memory_unref(e->mem);
	free(e);
	atomic_fetch_sub(&mig_n, 1);
}

struct migration_memory *migration_memory_get(uint64_t conn_id)
{
	pthread_mutex_lock(&mig_lock);
	struct mig_entry *e = mig_find(conn_id);
	struct migration_memory *mm = e ? e->mem : NULL;
	if (mm)
		mm->refs++;
	pthread_mutex_unlock(&mig_lock);
	return mm;
}

void migration_memory_put(struct migration_memory *mm)
{
	if (!mm)
		return;
	pthread_mutex_lock(&mig_lock);
	mig_memory_unref(mm);
	pthread_mutex_unlock(&mig_lock);
}

struct rules_migration *migration_memory_lock(struct migration_memory *mm)
{
	pthread_mutex_lock(&mm->lock);
	return mm->m;
}

void migration_memory_unlock(struct migration_memory *mm)
{
	pthread_mutex_unlock(&mm->lock);
}

void migration_set_deadline(uint64_t conn_id, int64_t deadline_s)
{
	pthread_mutex_lock(&mig_lock);
	struct mig_entry *e = mig_find(conn_id);
	if (e)
		e->deadline_s = deadline_s;
	pthread_mutex_unlock(&mig_lock);
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

/* Same account from the same machine and the same client process: one
 * migration on several connections (see migration_register()). "@program"
 * never descends: it names no process. */
static bool mig_is_peer(const struct mig_entry *e, const char *user, const char *host,
			const char *proc)
{
	if (!user || !*user || !e->info.user[0] || strcmp(e->info.user, user) != 0 ||
	    strcmp(e->info.host, host ? host : "") != 0)
		return false;
	if (!proc || !*proc || !e->info.proc[0] || strcmp(e->info.proc, proc) == 0)
		return true; /* a client that sends no attributes: account and machine only */
	return migration_is_loopback(host) &&
	       (migration_descends(proc, e->info.proc) || migration_descends(e->info.proc, proc));
}

bool migration_peer(uint64_t conn_id, const char *user, const char *host, const char *proc,
		    struct migration_info *out)
{
	bool found = false;

	pthread_mutex_lock(&mig_lock);
	for (struct mig_entry *e = mig_head; e && !found; e = e->next) {
		if (e->info.conn_id != conn_id && !mig_expired(e) &&
		    mig_is_peer(e, user, host, proc)) {
			found = true;
			if (out)
				*out = e->info;
		}
	}
	pthread_mutex_unlock(&mig_lock);
	return found;
}

/* "connection 12 (prisma: prisma_migrate, user migrator)": each part once.
 * A migration by login is its account ("connection 12 (user migrator)");
 * a name that only repeats the tool (a directive without name="…") is
 * left out. */
static void mig_who(const struct migration_info *i, char *who, size_t wholen)
{
	unsigned long long id = (unsigned long long)i->conn_id;
	const char *tool = i->tool[0] ? i->tool : "migration";
	bool name = i->name[0] && strcmp(i->name, tool) != 0;
	if (strcmp(i->tool, "user") == 0)
		snprintf(who, wholen, "connection %llu (user %s)", id, i->user);
	else
		snprintf(who, wholen, "connection %llu (%s%s%s, user %s)", id, tool,
			 name ? ": " : "", name ? i->name : "", i->user);
}

bool migration_conflict(uint64_t conn_id, const char *user, const char *host, const char *proc,
			enum cfg_scope scope, const char *default_schema,
			const struct migration_obj *objs, size_t nobjs, char *who, size_t wholen)
{
	bool hit = false;

	pthread_mutex_lock(&mig_lock);
	for (struct mig_entry *e = mig_head; e && !hit; e = e->next) {
		if (e->info.conn_id == conn_id || mig_expired(e) ||
		    mig_is_peer(e, user, host, proc))
			continue;
		if (!mig_entry_conflicts(e, scope, default_schema, objs, nobjs))
			continue;
		hit = true;
		if (who && wholen)
			mig_who(&e->info, who, wholen);
	}
	pthread_mutex_unlock(&mig_lock);
	return hit;
}

size_t migration_count(void)
{
	return atomic_load(&mig_n);
}

size_t migration_list(struct migration_info *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&mig_lock);
	for (struct mig_entry *e = mig_head; e; e = e->next) {
		if (mig_expired(e))
			continue; /* over for everyone but its silent session */
		if (n < max)
			out[n] = e->info;
		n++;
	}
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
