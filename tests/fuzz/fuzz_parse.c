/* Fuzz target: the DDL parser and canonical printer over arbitrary bytes
 * (the first byte picks ANSI_QUOTES), every split statement parsed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/lex.h"
#include "rules/parse.h"
#include "rules/print.h"
#include "rules/split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	struct arena a;
	unsigned flags;
};

static bool parse_piece(const struct split_piece *piece, void *arg)
{
	struct run *r = arg;
	struct stmt s;
	stmt_parse(&r->a, piece->sql, piece->len, r->flags, &s);
	if (s.kind == STMT_DDL && s.unparsed && !s.error)
		abort(); /* unparsed DDL must say why */
	const char *out = stmt_print(&r->a, &s);
	if (!out || !*out)
		abort();
	arena_reset(&r->a);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct run r;
	r.flags = (data[0] & 1) ? LEX_ANSI_QUOTES : 0;
	data++;
	size--;
	char *sql = malloc(size ? size : 1);
	if (!sql)
		return 0;
	memcpy(sql, data, size);
	arena_init(&r.a, 0);
	/* the whole input as one statement, then statement by statement */
	struct stmt s;
	stmt_parse(&r.a, sql, size, r.flags, &s);
	(void)stmt_print(&r.a, &s);
	arena_reset(&r.a);
	(void)split_sql(sql, size,
			SPLIT_FILE | ((r.flags & LEX_ANSI_QUOTES) ? SPLIT_ANSI_QUOTES : 0),
			parse_piece, &r);
	arena_cleanup(&r.a);
	free(sql);
	return 0;
}
