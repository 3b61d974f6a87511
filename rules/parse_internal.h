/*
 * Parser internals shared by rules/parse.c (statements, bodies, dispatch)
 * and rules/parse_table.c (tables, columns, indexes, databases). Not part
 * of the rules/ API.
 */
#ifndef DDLGATE_RULES_PARSE_INTERNAL_H
#define DDLGATE_RULES_PARSE_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>

#include "rules/arena.h"
#include "rules/lex.h"
#include "rules/stmt.h"

/* One statement's tokens (comments dropped, executable comments opened)
 * and the cursor over them. Errors longjmp to jmp with error set. */
struct parser {
	struct arena *a;     /* borrowed: every allocation */
	struct lex_token *t; /* arena: the tokens */
	size_t n, i;
	struct lex_token eof; /* returned past the end */
	unsigned lex_flags;
	unsigned depth;	   /* nesting of statements inside statements */
	const char *error; /* arena: first error */
	jmp_buf jmp;
};

const struct lex_token *ps_pk(struct parser *p, size_t k);
const struct lex_token *ps_cur(struct parser *p);
void ps_adv(struct parser *p);
bool ps_at_end(struct parser *p);
__attribute__((noreturn, format(printf, 2, 3))) void ps_fail(struct parser *p, const char *fmt,
							     ...);
__attribute__((noreturn)) void ps_unexpected(struct parser *p);
bool ps_is_kw(struct parser *p, const char *kw);
bool ps_is_kw_at(struct parser *p, size_t k, const char *kw);
bool ps_is_op(struct parser *p, const char *op);
bool ps_accept_kw(struct parser *p, const char *kw);
bool ps_accept_op(struct parser *p, const char *op);
bool ps_accept_kws(struct parser *p, const char *kws);
void ps_expect_kw(struct parser *p, const char *kw);
void ps_expect_op(struct parser *p, const char *op);
void ps_expect_end(struct parser *p);
char *ps_lower_dup(struct parser *p, const char *s, size_t n);
char *ps_unquote(struct parser *p, const struct lex_token *t);
const char *ps_ident(struct parser *p);
void ps_skip_wait(struct parser *p);
bool ps_is_ident_tok(const struct lex_token *t);
void ps_qname(struct parser *p, struct stmt_name *out);
char *ps_span_text(struct parser *p, size_t b, size_t e);
void ps_skip_parens(struct parser *p);
void ps_skip_expr(struct parser *p, const char *const *stop);
void ps_skip_rest(struct parser *p);
void *ps_grow(struct parser *p, void *v, size_t n, size_t size);
struct stmt_name *ps_add_object(struct parser *p, struct stmt *s);
struct stmt_op *ps_add_op(struct parser *p, struct stmt *s, enum stmt_op_kind kind);
const char *ps_option_value(struct parser *p);
void ps_skip_definer(struct parser *p);
void ps_scan_body(struct parser *p, struct stmt *s);

/* rules/parse_table.c */
void parse_create_table(struct parser *p, struct stmt *s);
void parse_alter_table(struct parser *p, struct stmt *s);
void parse_drop_table(struct parser *p, struct stmt *s);
void parse_create_index(struct parser *p, struct stmt *s);
void parse_drop_index(struct parser *p, struct stmt *s);
void parse_database(struct parser *p, struct stmt *s, enum ddl_verb verb);

#endif
