/* Drift watch: a thread that digests information_schema and records changes no forwarded statement
 * explains. */
#include "proxy/audit_drift.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <mysql.h>
#include <openssl/evp.h>

#include "proxy/admin.h"
#include "proxy/audit.h"
#include "proxy/audit_int.h"
#include "proxy/clock.h"
#include "proxy/mem.h"
#include "proxy/metrics.h"
#include "proxy/sideconn.h"
#include "rules/arena.h"

/*
 *   policy --audit_drift_note()--> notes (drift_notes_mu)
 *                                    | taken at the start of each look
 *   drift thread: look (information_schema) -> snapshot -> compare with the last
 *        changes explained by this look's or the previous look's notes: dropped
 *        the others wait one look (their note may still be on its way), then
 *        --audit_submit()--> writer, stderr, ddlgate_audit_drift_total
 */

#define DRIFT_MAX_NOTES 10000 /* beyond this a look's notes explain everything */
#define DRIFT_TIMEOUT_MS 10000
#define DRIFT_DIGEST 32
#define DRIFT_MEMBER_DIGEST 16 /* enough to tell two versions of one column apart */

/* ---- notes from the policy ---- */

/* The notes of one look; all = too many, or one of unknown objects. */
struct drift_notes {
	struct audit_drift_mark *v; /* owned, with the strings */
	size_t n, cap;
	bool all;
};

static pthread_mutex_t drift_notes_mu = PTHREAD_MUTEX_INITIALIZER;
static struct drift_notes drift_pending_notes; /* guarded by drift_notes_mu */
static atomic_bool drift_running;	       /* a watch takes notes */

static void notes_clear(struct drift_notes *ns)
{
	for (size_t i = 0; i < ns->n; i++) {
		free((char *)ns->v[i].schema);
		free((char *)ns->v[i].name);
	}
	free(ns->v);
	*ns = (struct drift_notes){0};
}

/* Moves every note of src to the end of dst; src is left empty. */
static void notes_move(struct drift_notes *dst, struct drift_notes *src)
{
	dst->all |= src->all;
	for (size_t i = 0; i < src->n && !dst->all; i++) {
		if (dst->n == dst->cap) {
			size_t cap = dst->cap ? dst->cap * 2 : 16;
			dst->v = mem_realloc(dst->v, cap * sizeof(*dst->v), "drift notes");
			dst->cap = cap;
		}
		dst->v[dst->n++] = src->v[i];
		src->v[i] = (struct audit_drift_mark){0};
	}
	notes_clear(src);
	if (dst->n > DRIFT_MAX_NOTES)
		dst->all = true;
}

void audit_drift_note(const char *schema, const char *name)
{
	if (!atomic_load_explicit(&drift_running, memory_order_relaxed))
		return;
	pthread_mutex_lock(&drift_notes_mu);
	struct drift_notes *ns = &drift_pending_notes;
	if ((!schema && !name) || ns->n >= DRIFT_MAX_NOTES) {
		ns->all = true;
	} else if (!ns->all) {
		if (ns->n == ns->cap) {
			size_t cap = ns->cap ? ns->cap * 2 : 16;
			ns->v = mem_realloc(ns->v, cap * sizeof(*ns->v), "drift notes");
			ns->cap = cap;
		}
		ns->v[ns->n++] =
		    (struct audit_drift_mark){schema ? mem_strdup(schema, "drift note") : NULL,
					      name ? mem_strdup(name, "drift note") : NULL};
	}
	pthread_mutex_unlock(&drift_notes_mu);
}

static void notes_take(struct drift_notes *out)
{
	pthread_mutex_lock(&drift_notes_mu);
	*out = drift_pending_notes;
	drift_pending_notes = (struct drift_notes){0};
	pthread_mutex_unlock(&drift_notes_mu);
}

static bool name_eq(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

bool audit_drift_explained(const struct audit_drift_mark *marks, size_t n,
			   const struct audit_drift_change *c)
{
	for (size_t i = 0; i < n; i++) {
		const struct audit_drift_mark *m = &marks[i];
		if (!m->schema && !m->name)
			return true;
		if (c->type == AUDIT_DRIFT_GRANT)
			continue; /* only a statement of unknown objects (accounts) */
		if (m->schema && !name_eq(m->schema, c->schema))
			continue;
		if (!m->name)
			return true; /* the schema and everything in it */
		if (c->type != AUDIT_DRIFT_SCHEMA &&
		    (name_eq(m->name, c->name) || name_eq(m->name, c->table)))
			return true;
	}
	return false;
}

static bool notes_explain(const struct drift_notes *ns, const struct audit_drift_change *c)
{
	return ns->all || audit_drift_explained(ns->v, ns->n, c);
}

/* ---- snapshots ---- */

/* A column, or an index with its columns: named by its part's first value,
 * so that "altered" can say which ones changed. */
struct drift_member {
	const char *name; /* the snapshot's arena */
	unsigned char digest[DRIFT_MEMBER_DIGEST];
};

struct drift_obj {
	enum audit_drift_type type;
	const char *schema, *name, *table; /* the snapshot's arena */
	unsigned char digest[AUDIT_DRIFT_NPARTS][DRIFT_DIGEST];
	size_t mfirst[AUDIT_DRIFT_NPARTS], mcount[AUDIT_DRIFT_NPARTS]; /* into members */
};

struct audit_drift_snap {
	struct arena arena; /* owns the names */
	struct drift_obj *objs;
	size_t n;
	struct drift_member *members; /* of the columns and indexes parts, by object */
	size_t nmembers;
};

static int cmp_key(enum audit_drift_type ta, const char *sa, const char *na,
		   enum audit_drift_type tb, const char *sb, const char *nb)
{
	if (ta != tb)
		return ta < tb ? -1 : 1;
	int c = strcmp(sa, sb);
	return c ? c : strcmp(na, nb);
}

static int cmp_row(const void *x, const void *y)
{
	const struct audit_drift_row *a = x, *b = y;
	int c = cmp_key(a->type, a->schema, a->name, b->type, b->schema, b->name);
	if (c)
		return c;
	if (a->part != b->part)
		return a->part < b->part ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static void digest_end(EVP_MD_CTX *ctx, unsigned char out[DRIFT_DIGEST])
{
	unsigned int len = 0;
	if (!EVP_DigestFinal_ex(ctx, out, &len) || len != DRIFT_DIGEST)
		mem_oom("drift digest");
}

/* The first value of a row's text: a column's or an index's name. */
static size_t member_name_len(const char *text)
{
	const char *us = strchr(text, '\x1f');
	return us ? (size_t)(us - text) : strlen(text);
}

/* Ends the member being digested (mctx) into its slot. */
static void member_end(struct audit_drift_snap *s, EVP_MD_CTX *mctx, bool *open)
{
	if (!*open)
		return;
	unsigned char d[DRIFT_DIGEST];
	digest_end(mctx, d);
	memcpy(s->members[s->nmembers - 1].digest, d, DRIFT_MEMBER_DIGEST);
	*open = false;
}

struct audit_drift_snap *audit_drift_snap_build(struct audit_drift_row *rows, size_t n)
{
	struct audit_drift_snap *s = mem_calloc(1, sizeof(*s), "drift snapshot");
	arena_init(&s->arena, 4096);
	if (n)
		qsort(rows, n, sizeof(*rows), cmp_row);
	s->objs = n ? mem_calloc(n, sizeof(*s->objs), "drift snapshot") : NULL;
	s->members = n ? mem_calloc(n, sizeof(*s->members), "drift snapshot") : NULL;
	EVP_MD_CTX *ctx[AUDIT_DRIFT_NPARTS], *mctx = EVP_MD_CTX_new();
	for (int p = 0; p < AUDIT_DRIFT_NPARTS; p++)
		if (!(ctx[p] = EVP_MD_CTX_new()))
			mem_oom("drift digest");
	if (!mctx)
		mem_oom("drift digest");
	struct drift_obj *cur = NULL;
	bool member_open = false;
	for (size_t i = 0; i <= n; i++) {
		const struct audit_drift_row *r = i < n ? &rows[i] : NULL;
		if (cur && (!r || cmp_key(cur->type, cur->schema, cur->name, r->type, r->schema,
					  r->name) != 0)) {
			for (int p = 0; p < AUDIT_DRIFT_NPARTS; p++)
				digest_end(ctx[p], cur->digest[p]);
			member_end(s, mctx, &member_open);
			cur = NULL;
		}
		if (!r)
			break;
		if (!cur) {
			cur = &s->objs[s->n++];
			cur->type = r->type;
			cur->schema = arena_strndup(&s->arena, r->schema, strlen(r->schema));
			cur->name = arena_strndup(&s->arena, r->name, strlen(r->name));
			for (int p = 0; p < AUDIT_DRIFT_NPARTS; p++)
				if (!EVP_DigestInit_ex(ctx[p], EVP_sha256(), NULL))
					mem_oom("drift digest");
		}
		if (r->table && !cur->table)
			cur->table = arena_strndup(&s->arena, r->table, strlen(r->table));
		/* a row ends with a newline so that rows cannot run together */
		size_t tl = strlen(r->text) + 1;
		EVP_DigestUpdate(ctx[r->part], r->text, tl);
		if (r->part == AUDIT_DRIFT_DEFINITION)
			continue;
		/* the rows of one index come together: one member per name */
		size_t nl = member_name_len(r->text);
		const struct drift_member *last =
		    cur->mcount[r->part] ? &s->members[s->nmembers - 1] : NULL;
		if (!last || strlen(last->name) != nl || memcmp(last->name, r->text, nl) != 0) {
			member_end(s, mctx, &member_open);
			if (!cur->mcount[r->part]++)
				cur->mfirst[r->part] = s->nmembers;
			s->members[s->nmembers++].name = arena_strndup(&s->arena, r->text, nl);
			if (!EVP_DigestInit_ex(mctx, EVP_sha256(), NULL))
				mem_oom("drift digest");
			member_open = true;
		}
		EVP_DigestUpdate(mctx, r->text, tl);
	}
	for (int p = 0; p < AUDIT_DRIFT_NPARTS; p++)
		EVP_MD_CTX_free(ctx[p]);
	EVP_MD_CTX_free(mctx);
	return s;
}

void audit_drift_snap_free(struct audit_drift_snap *s)
{
	if (!s)
		return;
	arena_cleanup(&s->arena);
	free(s->objs);
	free(s->members);
	free(s);
}

size_t audit_drift_snap_count(const struct audit_drift_snap *s)
{
	return s ? s->n : 0;
}

static const char *const drift_type_names[AUDIT_DRIFT_NTYPES] = {
    [AUDIT_DRIFT_SCHEMA] = "schema",   [AUDIT_DRIFT_TABLE] = "table",
    [AUDIT_DRIFT_ROUTINE] = "routine", [AUDIT_DRIFT_TRIGGER] = "trigger",
    [AUDIT_DRIFT_EVENT] = "event",     [AUDIT_DRIFT_GRANT] = "grant"};

const char *audit_drift_type_name(enum audit_drift_type t)
{
	return (unsigned)t < AUDIT_DRIFT_NTYPES ? drift_type_names[t] : "object";
}

static void change_of(struct audit_drift_change *c, const struct drift_obj *o, const char *what)
{
	*c = (struct audit_drift_change){.type = o->type,
					 .schema = o->schema,
					 .name = o->name,
					 .table = o->table,
					 .change = what};
}

/* Appends s to the detail at *o, or "…" once it does not fit. */
static void detail_add(char *d, size_t cap, size_t *o, const char *s)
{
	static const char more[] = "\xe2\x80\xa6"; /* … */
	size_t n = strlen(s);
	if (*o >= cap - 1 || (*o >= sizeof more && !memcmp(d + *o - 3, more, 3)))
		return;
	if (*o + n + sizeof more > cap) {
		if (*o + sizeof more <= cap) {
			memcpy(d + *o, more, sizeof more);
			*o += 3;
		}
		return;
	}
	memcpy(d + *o, s, n + 1);
	*o += n;
}

static const struct drift_member *member_find(const struct audit_drift_snap *s, size_t first,
					      size_t count, const char *name)
{
	for (size_t k = first; k < first + count; k++)
		if (!strcmp(s->members[k].name, name))
			return &s->members[k];
	return NULL;
}

/* "columns +b -c ~a" for part p of a (old) and b (new): added, dropped,
 * changed members, or "columns reordered" when only the order moved. */
static void detail_members(const struct audit_drift_snap *old, const struct drift_obj *a,
			   const struct audit_drift_snap *neu, const struct drift_obj *b, int p,
			   const char *pn, char *d, size_t cap, size_t *o)
{
	char item[200];
	bool any = false;
	detail_add(d, cap, o, pn);
	for (size_t k = b->mfirst[p]; k < b->mfirst[p] + b->mcount[p]; k++) {
		const struct drift_member *m = &neu->members[k];
		const struct drift_member *was =
		    member_find(old, a->mfirst[p], a->mcount[p], m->name);
		if (was && !memcmp(was->digest, m->digest, DRIFT_MEMBER_DIGEST))
			continue;
		snprintf(item, sizeof item, " %c%s", was ? '~' : '+', m->name);
		detail_add(d, cap, o, item);
		any = true;
	}
	for (size_t k = a->mfirst[p]; k < a->mfirst[p] + a->mcount[p]; k++) {
		const struct drift_member *m = &old->members[k];
		if (member_find(neu, b->mfirst[p], b->mcount[p], m->name))
			continue;
		snprintf(item, sizeof item, " -%s", m->name);
		detail_add(d, cap, o, item);
		any = true;
	}
	if (!any)
		detail_add(d, cap, o, " reordered");
}

size_t audit_drift_compare(const struct audit_drift_snap *old, const struct audit_drift_snap *neu,
			   audit_drift_change_fn fn, void *arg)
{
	static const char *const part_names[AUDIT_DRIFT_NPARTS] = {"definition", "columns",
								   "indexes"};
	size_t i = 0, j = 0, count = 0;
	while (i < old->n || j < neu->n) {
		const struct drift_obj *a = i < old->n ? &old->objs[i] : NULL;
		const struct drift_obj *b = j < neu->n ? &neu->objs[j] : NULL;
		int c = !a   ? 1
			: !b ? -1
			     : cmp_key(a->type, a->schema, a->name, b->type, b->schema, b->name);
		struct audit_drift_change ch;
		if (c < 0) {
			change_of(&ch, a, "dropped");
			i++;
		} else if (c > 0) {
			change_of(&ch, b, "created");
			j++;
		} else {
			i++, j++;
			change_of(&ch, b, "altered");
			size_t o = 0;
			for (int p = 0; p < AUDIT_DRIFT_NPARTS; p++) {
				if (!memcmp(a->digest[p], b->digest[p], DRIFT_DIGEST))
					continue;
				if (o)
					detail_add(ch.detail, sizeof ch.detail, &o, "; ");
				if (p == AUDIT_DRIFT_DEFINITION)
					detail_add(ch.detail, sizeof ch.detail, &o,
						   b->type == AUDIT_DRIFT_GRANT
						       ? "privileges changed"
						       : "definition changed");
				else
					detail_members(old, a, neu, b, p, part_names[p], ch.detail,
						       sizeof ch.detail, &o);
			}
			if (!o)
				continue;
		}
		count++;
		if (fn)
			fn(arg, &ch);
	}
	return count;
}

/* ---- looking at the server ---- */

/*
 * Every query selects schema, name, a trigger's table (else NULL), then
 * the values whose change counts; rows of one object and part come in a
 * fixed order. Schemas of the server itself are not watched.
 */
#define DRIFT_NOT_SYSTEM(col)                                                                      \
	" " col " NOT IN ('mysql','information_schema','performance_schema','sys')"
static const struct {
	enum audit_drift_type type;
	enum audit_drift_part part;
	const char *sql;
} drift_queries[] = {
    {AUDIT_DRIFT_SCHEMA, AUDIT_DRIFT_DEFINITION,
     "SELECT SCHEMA_NAME, '', NULL, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
     "FROM information_schema.SCHEMATA WHERE" DRIFT_NOT_SYSTEM("SCHEMA_NAME")},
    {AUDIT_DRIFT_TABLE, AUDIT_DRIFT_DEFINITION,
     "SELECT TABLE_SCHEMA, TABLE_NAME, NULL, TABLE_TYPE, ENGINE, TABLE_COLLATION, "
     "CREATE_OPTIONS, TABLE_COMMENT FROM information_schema.TABLES WHERE" DRIFT_NOT_SYSTEM(
	 "TABLE_SCHEMA")},
    {AUDIT_DRIFT_TABLE, AUDIT_DRIFT_DEFINITION,
     "SELECT TABLE_SCHEMA, TABLE_NAME, NULL, VIEW_DEFINITION, DEFINER, SECURITY_TYPE "
     "FROM information_schema.VIEWS WHERE" DRIFT_NOT_SYSTEM("TABLE_SCHEMA")},
    {AUDIT_DRIFT_TABLE, AUDIT_DRIFT_COLUMNS,
     "SELECT TABLE_SCHEMA, TABLE_NAME, NULL, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, "
     "COLUMN_DEFAULT, EXTRA, COLLATION_NAME, COLUMN_COMMENT, GENERATION_EXPRESSION "
     "FROM information_schema.COLUMNS WHERE" DRIFT_NOT_SYSTEM(
	 "TABLE_SCHEMA") " ORDER BY "
			 "TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"},
    {AUDIT_DRIFT_TABLE, AUDIT_DRIFT_INDEXES,
     "SELECT TABLE_SCHEMA, TABLE_NAME, NULL, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, "
     "NON_UNIQUE, SUB_PART, INDEX_TYPE FROM information_schema.STATISTICS "
     "WHERE" DRIFT_NOT_SYSTEM("TABLE_SCHEMA") " ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, "
					      "SEQ_IN_INDEX"},
    {AUDIT_DRIFT_ROUTINE, AUDIT_DRIFT_DEFINITION,
     "SELECT ROUTINE_SCHEMA, ROUTINE_NAME, NULL, ROUTINE_TYPE, ROUTINE_DEFINITION, "
     "DTD_IDENTIFIER, SECURITY_TYPE, SQL_MODE, DEFINER FROM information_schema.ROUTINES "
     "WHERE" DRIFT_NOT_SYSTEM("ROUTINE_SCHEMA") " ORDER BY ROUTINE_SCHEMA, ROUTINE_NAME, "
						"ROUTINE_TYPE"},
    {AUDIT_DRIFT_TRIGGER, AUDIT_DRIFT_DEFINITION,
     "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, "
     "EVENT_MANIPULATION, ACTION_STATEMENT, ACTION_ORDER, DEFINER "
     "FROM information_schema.TRIGGERS WHERE" DRIFT_NOT_SYSTEM("TRIGGER_SCHEMA")},
    {AUDIT_DRIFT_EVENT, AUDIT_DRIFT_DEFINITION,
     "SELECT EVENT_SCHEMA, EVENT_NAME, NULL, EVENT_DEFINITION, EVENT_TYPE, EXECUTE_AT, "
     "INTERVAL_VALUE, INTERVAL_FIELD, STATUS, ON_COMPLETION, DEFINER "
     "FROM information_schema.EVENTS WHERE" DRIFT_NOT_SYSTEM("EVENT_SCHEMA")},
    {AUDIT_DRIFT_GRANT, AUDIT_DRIFT_DEFINITION,
     "SELECT '', GRANTEE, NULL, '*', PRIVILEGE_TYPE, IS_GRANTABLE "
     "FROM information_schema.USER_PRIVILEGES ORDER BY GRANTEE, PRIVILEGE_TYPE"},
    {AUDIT_DRIFT_GRANT, AUDIT_DRIFT_DEFINITION,
     "SELECT '', GRANTEE, NULL, TABLE_SCHEMA, PRIVILEGE_TYPE, IS_GRANTABLE "
     "FROM information_schema.SCHEMA_PRIVILEGES ORDER BY GRANTEE, TABLE_SCHEMA, "
     "PRIVILEGE_TYPE"},
    {AUDIT_DRIFT_GRANT, AUDIT_DRIFT_DEFINITION,
     "SELECT '', GRANTEE, NULL, CONCAT(TABLE_SCHEMA, '.', TABLE_NAME), PRIVILEGE_TYPE, "
     "IS_GRANTABLE FROM information_schema.TABLE_PRIVILEGES ORDER BY GRANTEE, TABLE_SCHEMA, "
     "TABLE_NAME, PRIVILEGE_TYPE"},
};

/* A change seen but not yet reported: it waits one look for its note. */
struct drift_seen {
	enum audit_drift_type type;
	char *schema, *name, *table, *change; /* owned */
	char detail[160];
	int64_t seen_us, since_us;
};

struct audit_drift {
	/* Immutable after start. */
	struct audit *audit;   /* borrowed: outlives the watch */
	struct side_conf side; /* the [guard] account; owns nothing */
	int interval_ms;
	char *mirror_schema, *mirror_table; /* owned; NULL = no mirror (its table is ours) */
	struct audit_ticker ticker;

	/* Drift thread only. */
	MYSQL *conn;
	bool conn_failed; /* the last connect failed (logged once) */
	struct audit_drift_snap *last;
	int64_t last_us;
	struct drift_notes previous; /* the notes of the last look */
	struct drift_seen *held;     /* owned: changes waiting one look */
	size_t nheld, capheld;
	struct arena look; /* rows of the look in progress */
};

/* For /status, from the admin thread. */
static _Atomic uint64_t drift_looks, drift_reported;
static _Atomic int64_t drift_last_look_us;

static void drift_status(json_t *status, void *arg)
{
	(void)arg;
	if (!atomic_load(&drift_running))
		return;
	char ts[40] = "";
	int64_t at = atomic_load(&drift_last_look_us);
	if (at)
		audit_ts_format(at, ts);
	json_object_set_new(status, "drift",
			    json_pack("{s:I, s:I, s:s?}", "looks",
				      (json_int_t)atomic_load(&drift_looks), "reported",
				      (json_int_t)atomic_load(&drift_reported), "last_look",
				      at ? ts : NULL));
}

static char *own(const char *s)
{
	return s ? mem_strdup(s, "drift change") : NULL;
}

/* Whether o is ddlgate's own: the mirror table and the schema it creates. */
static bool drift_ours(const struct audit_drift *d, enum audit_drift_type type, const char *schema,
		       const char *name)
{
	if (!d->mirror_table)
		return false;
	const char *ms = d->mirror_schema ? d->mirror_schema : "";
	if (type == AUDIT_DRIFT_SCHEMA)
		return d->mirror_schema && !strcmp(schema, ms);
	return type == AUDIT_DRIFT_TABLE && !strcmp(name, d->mirror_table) &&
	       (!d->mirror_schema || !strcmp(schema, ms));
}

/* Runs every query into rows (the look's arena). False when one failed:
 * a partial look would read as objects dropped. */
static bool drift_look(struct audit_drift *d, struct audit_drift_row **rows, size_t *n)
{
	size_t cap = 0;
	*rows = NULL;
	*n = 0;
	for (size_t q = 0; q < sizeof drift_queries / sizeof drift_queries[0]; q++) {
		if (mysql_query(d->conn, drift_queries[q].sql) != 0) {
			fprintf(stderr, "ddlgate: audit: drift: %s\n", mysql_error(d->conn));
			return false;
		}
		MYSQL_RES *res = mysql_use_result(d->conn);
		if (!res) {
			fprintf(stderr, "ddlgate: audit: drift: %s\n", mysql_error(d->conn));
			return false;
		}
		unsigned nf = mysql_num_fields(res);
		MYSQL_ROW row;
		while ((row = mysql_fetch_row(res))) {
			unsigned long *len = mysql_fetch_lengths(res);
			if (nf < 3 || !row[0] || !row[1] ||
			    drift_ours(d, drift_queries[q].type, row[0], row[1]))
				continue;
			size_t tl = 0;
			for (unsigned f = 3; f < nf; f++)
				tl += (row[f] ? len[f] : 0) + 1;
			char *text = arena_alloc(&d->look, tl + 1), *o = text;
			for (unsigned f = 3; f < nf; f++) {
				/* unit separator between values, record separator for NULL */
				if (row[f]) {
					memcpy(o, row[f], len[f]);
					o += len[f];
				} else {
					*o++ = '\x1e';
				}
				*o++ = '\x1f';
			}
			*o = '\0';
			if (*n == cap) {
				cap = cap ? cap * 2 : 1024;
				*rows = mem_realloc(*rows, cap * sizeof(**rows), "drift rows");
			}
			(*rows)[*n] = (struct audit_drift_row){
			    .type = drift_queries[q].type,
			    .part = drift_queries[q].part,
			    .schema = arena_strndup(&d->look, row[0], len[0]),
			    .name = arena_strndup(&d->look, row[1], len[1]),
			    .table = row[2] ? arena_strndup(&d->look, row[2], len[2]) : NULL,
			    .text = text,
			    .order = *n};
			(*n)++;
		}
		bool failed = mysql_errno(d->conn) != 0;
		mysql_free_result(res);
		if (failed) {
			fprintf(stderr, "ddlgate: audit: drift: %s\n", mysql_error(d->conn));
			return false;
		}
	}
	return true;
}

/* The record, the log line and the counter of one unexplained change. */
static void drift_report(struct audit_drift *d, const struct drift_seen *s)
{
	const char *tname = audit_drift_type_name(s->type);
	bool plain = s->type == AUDIT_DRIFT_SCHEMA || s->type == AUDIT_DRIFT_GRANT;
	const char *obj = s->type == AUDIT_DRIFT_SCHEMA ? s->schema : s->name;
	char detail[400];
	if (s->table && s->detail[0])
		snprintf(detail, sizeof detail, "on table %s; %s", s->table, s->detail);
	else if (s->table)
		snprintf(detail, sizeof detail, "on table %s", s->table);
	else
		snprintf(detail, sizeof detail, "%s", s->detail);

	struct audit_rec *r = audit_rec_new();
	audit_rec_conn(r, 0, "", NULL, plain ? NULL : s->schema);
	audit_rec_object(r, plain ? NULL : s->schema, obj);
	audit_rec_decision(r, AUDIT_ALLOW);
	audit_rec_outcome(r, AUDIT_OK, 0, 0);
	audit_rec_timing(r, s->seen_us, 0);
	r->drift = true;
	r->drift_type = arena_strndup(&r->arena, tname, strlen(tname));
	r->drift_change = arena_strndup(&r->arena, s->change, strlen(s->change));
	r->drift_detail = arena_strndup(&r->arena, detail, strlen(detail));
	r->drift_since_us = s->since_us;
	(void)audit_submit(d->audit, r, NULL, NULL);

	fprintf(stderr, "ddlgate: audit: drift: %s %s%s%s %s outside ddlgate%s%s\n", tname,
		plain ? "" : s->schema, plain ? "" : ".", obj, s->change, detail[0] ? ": " : "",
		detail);
	metrics_audit_drift();
	atomic_fetch_add(&drift_reported, 1);
}

struct drift_round {
	struct audit_drift *d;
	const struct drift_notes *fresh; /* taken at the start of this look */
	int64_t now_us;
};

/* A change of this look: dropped when a note explains it, else held. */
static void drift_on_change(void *arg, const struct audit_drift_change *c)
{
	struct drift_round *rd = arg;
	struct audit_drift *d = rd->d;
	if (notes_explain(rd->fresh, c) || notes_explain(&d->previous, c))
		return;
	if (d->nheld == d->capheld) {
		d->capheld = d->capheld ? d->capheld * 2 : 8;
		d->held = mem_realloc(d->held, d->capheld * sizeof(*d->held), "drift changes");
	}
	struct drift_seen *s = &d->held[d->nheld++];
	*s = (struct drift_seen){.type = c->type,
				 .schema = own(c->schema),
				 .name = own(c->name),
				 .table = own(c->table),
				 .change = own(c->change),
				 .seen_us = rd->now_us,
				 .since_us = d->last_us};
	snprintf(s->detail, sizeof s->detail, "%s", c->detail);
}

static void held_free(struct drift_seen *s)
{
	free(s->schema);
	free(s->name);
	free(s->table);
	free(s->change);
}

/* One look: compare, report last look's held changes no note explains now,
 * hold this look's unexplained ones. */
static void drift_round(struct audit_drift *d)
{
	struct drift_notes fresh;
	notes_take(&fresh);
	if (!d->conn) {
		char why[256];
		d->conn = side_connect(&d->side, why, sizeof why);
		if (!d->conn) {
			if (!d->conn_failed)
				fprintf(stderr, "ddlgate: audit: drift: connect: %s\n", why);
			d->conn_failed = true;
			notes_move(&d->previous, &fresh); /* they still explain the next look */
			return;
		}
		if (d->conn_failed)
			fprintf(stderr, "ddlgate: audit: drift: connected again\n");
		d->conn_failed = false;
	}
	struct audit_drift_row *rows = NULL;
	size_t n = 0;
	int64_t now = clk_wall_us();
	bool ok = drift_look(d, &rows, &n);
	struct audit_drift_snap *snap = ok ? audit_drift_snap_build(rows, n) : NULL;
	free(rows);
	arena_reset(&d->look);
	if (!ok) {
		mysql_close(d->conn);
		d->conn = NULL;
		notes_move(&d->previous, &fresh);
		return;
	}

	/* held since the last look: a late note may explain them now */
	size_t nheld = d->nheld;
	for (size_t i = 0; i < nheld; i++) {
		struct drift_seen *s = &d->held[i];
		struct audit_drift_change c = {
		    .type = s->type, .schema = s->schema, .name = s->name, .table = s->table};
		if (!notes_explain(&fresh, &c))
			drift_report(d, s);
		held_free(s);
	}
	d->nheld = 0;
	if (d->last) {
		struct drift_round rd = {d, &fresh, now};
		audit_drift_compare(d->last, snap, drift_on_change, &rd);
	}
	audit_drift_snap_free(d->last);
	d->last = snap;
	d->last_us = now;
	notes_clear(&d->previous);
	d->previous = fresh;
	atomic_fetch_add(&drift_looks, 1);
	atomic_store(&drift_last_look_us, now);
}

static void *drift_main(void *arg)
{
	struct audit_drift *d = arg;
	audit_thread_setup("ddlgate-drift");
	do
		drift_round(d);
	while (audit_ticker_wait(&d->ticker, d->interval_ms));
	if (d->conn)
		mysql_close(d->conn);
	d->conn = NULL;
	mysql_thread_end();
	return NULL;
}

static void drift_free(struct audit_drift *d)
{
	for (size_t i = 0; i < d->nheld; i++)
		held_free(&d->held[i]);
	free(d->held);
	notes_clear(&d->previous);
	audit_drift_snap_free(d->last);
	arena_cleanup(&d->look);
	free(d->mirror_schema);
	free(d->mirror_table);
	free(d);
}

struct audit_drift *audit_drift_start(const struct cfg *cfg, struct audit *a, char *err,
				      size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!a || cfg->audit.drift_interval_s <= 0)
		return NULL;
	if (!cfg->guard.user) {
		/* on by default: without an account to look with it is off, not an error */
		fputs("ddlgate: audit: drift watch off: [audit] drift_interval_s needs the [guard] "
		      "user\n",
		      stderr);
		return NULL;
	}
	struct audit_drift *d = mem_calloc(1, sizeof(*d), "drift watch");
	d->audit = a;
	d->interval_ms = cfg->audit.drift_interval_s * 1000;
	arena_init(&d->look, 64 * 1024);
	if (cfg->audit.mirror) {
		const char *t = cfg->audit.mirror_table && *cfg->audit.mirror_table
				    ? cfg->audit.mirror_table
				    : "ddlgate.audit";
		const char *dot = strchr(t, '.');
		d->mirror_schema = dot ? mem_strndup(t, (size_t)(dot - t), "drift") : NULL;
		d->mirror_table = mem_strdup(dot ? dot + 1 : t, "drift");
	}
	if (!side_conf_from_cfg(&d->side, cfg, cfg->guard.user, cfg->guard.password,
				DRIFT_TIMEOUT_MS, err, errlen)) {
		drift_free(d);
		return NULL;
	}
	d->side.read_only = true;
	mysql_library_init(0, NULL, NULL); /* not thread-safe: done here, at start-up */
	atomic_store(&drift_running, true);
	static bool registered;
	if (!registered) {
		registered = true;
		admin_register_status(drift_status, NULL);
	}
	if (!audit_ticker_start(&d->ticker, drift_main, d)) {
		atomic_store(&drift_running, false);
		snprintf(err, errlen, "cannot start the drift watch thread");
		drift_free(d);
		return NULL;
	}
	return d;
}

void audit_drift_stop(struct audit_drift *d)
{
	if (!d)
		return;
	audit_ticker_stop(&d->ticker);
	atomic_store(&drift_running, false);
	struct drift_notes left;
	notes_take(&left);
	notes_clear(&left);
	drift_free(d);
}
