/* Audit records: what a session fills in about one statement before handing it to the writer. */
#include <stdlib.h>
#include <string.h>

#include "proxy/audit_int.h"
#include "proxy/mem.h"

struct audit_rec *audit_rec_new(void)
{
	struct audit_rec *r = mem_calloc(1, sizeof(*r), "audit record");
	arena_init(&r->arena, 2048);
	r->objs_tail = &r->objs;
	r->rules_tail = &r->rules;
	r->kind = STMT_OTHER;
	return r;
}

void audit_rec_free(struct audit_rec *r)
{
	if (!r)
		return;
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
