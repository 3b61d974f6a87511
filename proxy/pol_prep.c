/* The prepared-statement registry of a session: texts judged and recorded again at each
 * COM_STMT_EXECUTE. */
#include <stdlib.h>

#include "proxy/mem.h"
#include "proxy/pol_internal.h"
#include "rules/lex.h"

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
}
