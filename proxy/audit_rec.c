/* Audit records: what a session fills in about one statement before handing it to the writer. */
#include <stdlib.h>
#include <string.h>

#include "proxy/audit_int.h"
#include "proxy/mem.h"

void audit_rec_init(struct audit_rec *r)
{
	struct arena keep = r->arena;
	memset(r, 0, sizeof(*r));
	r->arena = keep;
	r->objs_tail = &r->objs;
	r->rules_tail = &r->rules;
	r->kind = STMT_OTHER;
}

struct audit_rec *audit_rec_new(void)
{
	struct audit_rec *r = audit_rec_reuse();
	if (r)
		return r;
	r = mem_calloc(1, sizeof(*r), "audit record");
	arena_init(&r->arena, 2048);
	audit_rec_init(r);
	return r;
}

void audit_rec_free(struct audit_rec *r)
{
	if (!r)
		return;
	audit_intent_put(r->intent);
	arena_cleanup(&r->arena);
	free(r);
}

static const char *rdup(struct audit_rec *r, const char *s)
{
	return s ? arena_strndup(&r->arena, s, strlen(s)) : NULL;
}

void audit_rec_conn(struct audit_rec *r, uint64_t conn_id, const char *client, const char *user,
		    const char *schema)
{
	r->conn_id = conn_id;
	r->client = rdup(r, client);
	r->user = rdup(r, user);
	r->schema = (schema && *schema) ? rdup(r, schema) : NULL;
}

void audit_rec_session(struct audit_rec *r, bool migration, const char *tool, const char *name)
{
	r->migration = migration;
	r->mig_tool = rdup(r, tool);
	r->mig_name = rdup(r, name);
}

void audit_rec_statement(struct audit_rec *r, enum stmt_kind kind, const char *sql, size_t len)
{
	r->kind = kind;
	r->sql_full_len = len;
	if (len > AUDIT_MAX_STATEMENT)
		len = AUDIT_MAX_STATEMENT;
	r->sql = sql ? arena_strndup(&r->arena, sql, len) : NULL;
	r->sql_len = sql ? len : 0;
}

void audit_rec_statement_text(struct audit_rec *r, enum stmt_kind kind, const struct audit_text *t)
{
	r->kind = kind;
	r->sql = arena_strndup(&r->arena, t->red, t->len);
	r->sql_len = r->sql_full_len = t->len;
	r->sql_ready = true;
	memcpy(r->fp, t->fp, sizeof(r->fp));
}

void audit_rec_object(struct audit_rec *r, const char *schema, const char *table)
{
	if (!table)
		return;
	struct audit_rec_obj *o = arena_alloc(&r->arena, sizeof(*o));
	o->schema = (schema && *schema) ? rdup(r, schema) : NULL;
	o->table = rdup(r, table);
	*r->objs_tail = o;
	r->objs_tail = &o->next;
}

static void rec_stmt_objects(struct audit_rec *r, const struct stmt *st, const char *def)
{
	for (size_t i = 0; i < st->nobjects; i++)
		audit_rec_object(r, st->objects[i].schema ? st->objects[i].schema : def,
				 st->objects[i].name);
	for (size_t i = 0; i < st->ninner; i++)
		rec_stmt_objects(r, &st->inner[i], def);
}

void audit_rec_stmt(struct audit_rec *r, const struct stmt *st, const char *sql, size_t len,
		    const char *default_schema)
{
	audit_rec_statement(r, st->kind, sql, len);
	rec_stmt_objects(r, st, default_schema);
}

void audit_rec_params(struct audit_rec *r, unsigned count)
{
	r->executed = true;
	r->nparams = count;
}

void audit_rec_attempt(struct audit_rec *r, const struct audit_attempt *a)
{
	struct audit_rec_attempt *t = arena_alloc(&r->arena, sizeof(*t));
	t->next = NULL;
	t->a = *a;
	t->a.blocker_user = rdup(r, a->blocker_id && a->blocker_user ? a->blocker_user : "");
	t->a.blocker_host = rdup(r, a->blocker_id && a->blocker_host ? a->blocker_host : "");
	t->a.blocker_statement =
	    rdup(r, a->blocker_id && a->blocker_statement ? a->blocker_statement : "");
	if (!r->attempts_tail)
		r->attempts_tail = &r->attempts;
	*r->attempts_tail = t;
	r->attempts_tail = &t->next;
}

void audit_rec_param_list(struct audit_rec *r, const char *const *types, const char *const *values)
{
	if (!types || r->nparams == 0)
		return;
	r->param_types = arena_alloc(&r->arena, r->nparams * sizeof(*r->param_types));
	for (unsigned i = 0; i < r->nparams; i++)
		r->param_types[i] = rdup(r, types[i]);
	if (!values)
		return;
	r->param_values = arena_alloc(&r->arena, r->nparams * sizeof(*r->param_values));
	for (unsigned i = 0; i < r->nparams; i++)
		r->param_values[i] = rdup(r, values[i]);
}

void audit_rec_decision(struct audit_rec *r, enum audit_decision d)
{
	r->decision = d;
}

void audit_rec_rule(struct audit_rec *r, const char *id, const char *action, const char *message,
		    const char *guard)
{
	struct audit_rec_rule *u = arena_alloc(&r->arena, sizeof(*u));
	u->id = rdup(r, id ? id : "");
	u->action = rdup(r, action ? action : "");
	u->message = rdup(r, message ? message : "");
	u->guard = rdup(r, guard);
	*r->rules_tail = u;
	r->rules_tail = &u->next;
}

void audit_rec_outcome(struct audit_rec *r, enum audit_outcome o, uint16_t error_code,
		       uint64_t affected_rows)
{
	r->outcome = o;
	r->error_code = error_code;
	r->affected_rows = affected_rows;
}

void audit_rec_timing(struct audit_rec *r, int64_t ts_us, uint64_t duration_us)
{
	r->ts_us = ts_us;
	r->duration_us = duration_us;
}

struct audit_intent *audit_rec_intent(struct audit_rec *r)
{
	struct audit_intent *t = mem_calloc(1, sizeof(*t), "audit intent");
	atomic_init(&t->seq, 0);
	atomic_init(&t->refs, 2); /* the caller's and r's */
	audit_intent_put(r->intent);
	r->intent = t;
	r->is_intent = true;
	r->outcome = AUDIT_PENDING;
	return t;
}

void audit_rec_answers(struct audit_rec *r, struct audit_intent *t)
{
	audit_intent_put(r->intent);
	r->intent = t;
	r->is_intent = false;
}

uint64_t audit_intent_seq(const struct audit_intent *t)
{
	return t ? atomic_load(&((struct audit_intent *)t)->seq) : 0;
}

void audit_intent_put(struct audit_intent *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		free(t);
}

/* Bytes s[0..n) takes inside a JSON string: escapes and the U+FFFD that
 * replaces an invalid byte are longer than the byte. */
static size_t json_len(const char *s, size_t n)
{
	size_t out = 2;
	for (size_t i = 0; s && i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		out += c == '"' || c == '\\' ? 2 : c < 0x20 ? 6 : c >= 0x80 ? 3 : 1;
	}
	return out;
}

static size_t cstr_json_len(const char *s)
{
	return s ? json_len(s, strlen(s)) : 4;
}

/* The fixed part of a line: keys, seq, ts, hashes, numbers (about 600
 * bytes), with room for what redaction and the cut note add. */
#define AUDIT_REC_FIXED 1024

size_t audit_rec_estimate(const struct audit_rec *r)
{
	size_t n = AUDIT_REC_FIXED + json_len(r->sql, r->sql_len);
	n += cstr_json_len(r->client) + cstr_json_len(r->user) + cstr_json_len(r->schema);
	n += cstr_json_len(r->mig_tool) + cstr_json_len(r->mig_name);
	for (const struct audit_rec_obj *o = r->objs; o; o = o->next)
		n += cstr_json_len(o->schema) + cstr_json_len(o->table) + 1;
	for (const struct audit_rec_rule *u = r->rules; u; u = u->next)
		n += 48 + cstr_json_len(u->id) + cstr_json_len(u->action) +
		     cstr_json_len(u->message) + cstr_json_len(u->guard);
	return n;
}

void audit_rec_cut(struct audit_rec *r, size_t max)
{
	if (r->sql_len > max)
		r->sql_len = max;
}
