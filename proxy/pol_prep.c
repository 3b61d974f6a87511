/* The prepared-statement registries of a session: statements prepared with COM_STMT_PREPARE
 * that are judged (DDL, CALL) or recorded again at each COM_STMT_EXECUTE, and the names SQL
 * PREPARE bound (judged at EXECUTE name). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/hook.h"
#include "proxy/mem.h"
#include "proxy/pol_internal.h"
#include "rules/lex.h"
#include "rules/parse.h"
#include "rules/redact.h"
#include "rules/sqlscan.h"

/* The ? placeholders of a prepared text: the parameter count each execute
 * binds (the audit record's summary of them). */
static unsigned pol_prep_params(const char *sql, size_t len, bool ansi)
{
	struct lexer lx;
	struct lex_token t;
	unsigned n = 0;
	lex_init(&lx, sql, len, ansi ? LEX_ANSI_QUOTES : 0);
	while (lex_next(&lx, &t))
		n += t.type == LEX_PARAM;
	return n;
}

/* The remembered DDL prepared as statement id, or NULL. */
struct pol_prep *pol_prep_find(struct pol_sess *ps, uint32_t id)
{
	for (size_t i = 0; i < ps->nprep; i++)
		if (ps->prep[i].id == id)
			return &ps->prep[i];
	return NULL;
}

/* Forgets pp (COM_STMT_CLOSE, or an id the server reused). */
void pol_prep_del(struct pol_sess *ps, struct pol_prep *pp)
{
	free(pp->sql);
	free(pp->schema);
	free(pp->secret);
	if (pp->light) {
		arena_cleanup(&pp->arena);
		audit_text_free(&pp->text);
	}
	*pp = ps->prep[--ps->nprep];
}

/* Forgets every prepared statement (the server dropped them). */
void pol_prep_clear(struct pol_sess *ps)
{
	while (ps->nprep)
		pol_prep_del(ps, &ps->prep[0]);
	free(ps->prep);
	ps->prep = NULL;
	ps->capprep = 0;
}

/*
 * Whether p is plain: one DML kept only because the audit records it,
 * which no text-based judgement can touch (no signal, no session setting,
 * nothing it binds or runs indirectly). Such a statement is allowed
 * whatever it binds, so its executes need only their records.
 */
static bool pol_prep_plain(const struct pol_stmt *p)
{
	return p->st.kind == STMT_DML && p->record && !p->ddl && !p->call && !p->has_sig &&
	       !p->lock_param && !p->sysconf && !p->binds && !p->st.unparsed && p->set_ansi < 0 &&
	       p->set_lock_wait == SQLSCAN_LOCK_WAIT_NONE && !p->set_notes && !p->ws_schema &&
	       !p->ws_scratch;
}

/* Remembers p, a DDL or recorded statement the server prepared as
 * statement id (replacing an older statement of the same id). */
void pol_prep_add(struct pol_sess *ps, uint32_t id, const struct pol_stmt *p)
{
	struct pol_prep *pp = pol_prep_find(ps, id);
	if (pp)
		pol_prep_del(ps, pp);
	if (ps->nprep == ps->capprep) {
		ps->capprep = ps->capprep ? ps->capprep * 2 : 4;
		ps->prep = mem_realloc(ps->prep, ps->capprep * sizeof(*ps->prep), "prepared DDL");
	}
	pp = &ps->prep[ps->nprep++];
	pp->id = id;
	pp->sql = mem_strndup(p->sql, p->len, "prepared DDL");
	pp->len = p->len;
	pp->schema = p->schema ? mem_strdup(p->schema, "prepared DDL") : NULL;
	pp->ansi = p->ansi;
	pp->nparams = pol_prep_params(p->sql, p->len, p->ansi);
	pp->lock_param = p->lock_param;
	pp->secret = NULL;
	if (pp->nparams) {
		/* which placeholders bind secrets depends on the text alone */
		bool *secret = arena_alloc(&ps->arena, pp->nparams * sizeof(*secret));
		if (redact_secret_params(&ps->arena, pp->sql, pp->len, secret, pp->nparams) > 0) {
			pp->secret = mem_alloc(pp->nparams * sizeof(*secret), "prepared DDL");
			memcpy(pp->secret, secret, pp->nparams * sizeof(*secret));
		}
	}
	pp->light = pol_prep_plain(p);
	pp->is_write = p->is_write;
	pp->hist_known = false;
	if (pp->light) {
		arena_init(&pp->arena, 512);
		stmt_parse(&pp->arena, pp->sql, pp->len, pol_lex_mode(ps, pp->ansi), &pp->st);
		(void)audit_text_make(&pp->text, pp->sql, pp->len); /* red NULL when too long */
	}
}

/* ---- names bound by SQL PREPARE ---- */

/* Above this many names the registry stops growing and the session counts
 * as blind (names ddlgate did not keep): the server allows thousands. */
#define POL_MAX_NAMED 1024

/* The name's entry (case-insensitive, as the server compares), or NULL. */
struct pol_named *pol_named_find(struct pol_sess *ps, const char *name)
{
	for (size_t i = 0; i < ps->nnamed; i++)
		if (strcasecmp(ps->named[i].name, name) == 0)
			return &ps->named[i];
	return NULL;
}

static void pol_named_del(struct pol_sess *ps, struct pol_named *pn)
{
	free(pn->name);
	free(pn->sql);
	free(pn->schema);
	*pn = ps->named[--ps->nnamed];
}

/* DEALLOCATE / DROP PREPARE name: the server forgot it. */
void pol_named_forget(struct pol_sess *ps, const char *name)
{
	struct pol_named *pn = pol_named_find(ps, name);
	if (pn)
		pol_named_del(ps, pn);
}

/* COM_RESET_CONNECTION / COM_CHANGE_USER / the end: every name is gone. */
void pol_named_clear(struct pol_sess *ps)
{
	while (ps->nnamed)
		pol_named_del(ps, &ps->named[0]);
	free(ps->named);
	ps->named = NULL;
	ps->capnamed = 0;
	ps->blind_gen = 0;
}

/*
 * The server accepted PREPARE name FROM ...: name now runs sql (copied;
 * NULL = from a variable, content unknown), read in lex mode with schema
 * as the current schema. Replaces what name ran before, as the server does.
 */
void pol_named_set(struct pol_sess *ps, const char *name, const char *sql, const char *schema,
		   unsigned mode, bool ddl)
{
	pol_named_forget(ps, name);
	if (ps->nnamed >= POL_MAX_NAMED) {
		ps->blind_gen++; /* the name is not kept: it counts as unseen */
		return;
	}
	if (ps->nnamed == ps->capnamed) {
		ps->capnamed = ps->capnamed ? ps->capnamed * 2 : 4;
		ps->named =
		    mem_realloc(ps->named, ps->capnamed * sizeof(*ps->named), "prepared names");
	}
	struct pol_named *pn = &ps->named[ps->nnamed++];
	pn->name = mem_strdup(name, "prepared names");
	pn->sql = sql && ddl ? mem_strdup(sql, "prepared names") : NULL;
	pn->len = pn->sql ? strlen(pn->sql) : 0;
	pn->schema = schema && ddl ? mem_strdup(schema, "prepared names") : NULL;
	pn->mode = mode;
	pn->gen = ps->blind_gen;
	pn->ddl = ddl;
}

/* ---- the hook: prepared statements ---- */

/*
 * Called by the relay when the server answered a COM_STMT_PREPARE with
 * PREPARE_OK, before hook_result() for that answer: stmt_id is the
 * statement id of the PREPARE_OK packet. When the prepared statement is a
 * DDL, the policy keeps its text (pol_prep.c) and judges it again (window,
 * migration-conflict, rules, audit) at every COM_STMT_EXECUTE of that id,
 * which the relay passes to hook_stmt_execute(), as it does COM_STMT_CLOSE.
 */
void pol_stmt_prepared(struct pol_sess *ps, uint32_t stmt_id)
{
	if (!ps || ps->cmd.state != POL_CMD_FORWARDED || ps->cmd.com != COM_STMT_PREPARE)
		return;
	ps->last_prep = stmt_id; /* what COM_STMT_EXECUTE of 0xFFFFFFFF runs, DDL or not */
	if (ps->cmd.n != 1)
		return;
	/* a DDL or CALL is judged again at each execute; a statement the audit
	 * records (record = writes | all) is recorded at each execute */
	if (ps->cmd.stmts[0].ddl || ps->cmd.stmts[0].call || ps->cmd.stmts[0].record ||
	    ps->cmd.stmts[0].lock_param) {
		pol_prep_add(ps, stmt_id, &ps->cmd.stmts[0]);
	} else {
		/* the server may reuse the id of a statement closed unseen */
		struct pol_prep *old = pol_prep_find(ps, stmt_id);
		if (old)
			pol_prep_del(ps, old);
	}
}

/*
 * The relay's entry points for COM_STMT_EXECUTE and COM_STMT_CLOSE (called
 * only while hs->watch_executes is set, i.e. once this session prepared a
 * DDL): both go through hook_command() with the command byte and the
 * statement id, where a remembered DDL is judged again.
 */
static size_t pol_stmt_payload(uint8_t out[5], uint8_t com, uint32_t stmt_id)
{
	out[0] = com;
	out[1] = (uint8_t)stmt_id;
	out[2] = (uint8_t)(stmt_id >> 8);
	out[3] = (uint8_t)(stmt_id >> 16);
	out[4] = (uint8_t)(stmt_id >> 24);
	return 5;
}

enum hook_verdict hook_stmt_execute(struct sess *s, struct hook_sess *hs, const struct hook_exec *x,
				    struct hook_reply *reply)
{
	struct pol_sess *ps = hs->policy;
	uint8_t payload[5];
	if (!ps)
		return HOOK_FORWARD;
	/* the parameters are decoded from x while hook_command() runs */
	ps->exec = x;
	enum hook_verdict v = hook_command(
	    s, hs, payload, pol_stmt_payload(payload, COM_STMT_EXECUTE, x->stmt_id), reply);
	ps->exec = NULL;
	return v;
}

void hook_stmt_close(struct sess *s, struct hook_sess *hs, uint32_t stmt_id)
{
	uint8_t payload[5];
	struct hook_reply reply;
	(void)hook_command(s, hs, payload, pol_stmt_payload(payload, COM_STMT_CLOSE, stmt_id),
			   &reply);
}
