/* Fuzz target: lexer, splitter and classifier over arbitrary bytes, with
 * invariants (tokens and pieces stay inside the input, in order). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/classify.h"
#include "rules/lex.h"
#include "rules/split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct bounds {
	const char *b, *e;
	const char *last; /* end of the previous piece */
};

static bool check_piece(const struct split_piece *piece, void *arg)
{
	struct bounds *bd = arg;
	if (piece->sql < bd->b || piece->sql + piece->len > bd->e || piece->sql < bd->last ||
	    piece->len == 0 || piece->line == 0)
		abort();
	bd->last = piece->sql + piece->len;
	/* the classifier sees every piece, as the proxy would */
	struct classify_info info;
	(void)classify_sql(piece->sql, piece->len, &info);
	if (info.keyword &&
	    (info.keyword < piece->sql || info.keyword + info.keyword_len > bd->last))
		abort();
	return true;
}

struct first_piece {
	const char *sql;
	size_t len;
	unsigned n;
};

static bool count_pieces(const struct split_piece *piece, void *arg)
{
	struct first_piece *fp = arg;
	if (fp->n++ == 0) {
		fp->sql = piece->sql;
		fp->len = piece->len;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size heap copy, so reads past the end are caught */
	char *sql = malloc(size ? size : 1);
	if (!sql)
		return 0;
	memcpy(sql, data, size);
	for (unsigned flags = 0; flags < 4; flags++) {
		struct lexer lx;
		struct lex_token t;
		const char *prev = sql;
		unsigned line = 1;
		lex_init(&lx, sql, size, flags);
		while (lex_next(&lx, &t)) {
			if (t.p < prev || t.p + t.n > sql + size || t.n == 0 || t.line < line)
				abort();
			prev = t.p + t.n;
			line = t.line;
		}
		if (t.type != LEX_EOF)
			abort();
	}
	for (unsigned flags = 0; flags < 4; flags++) {
		struct bounds bd = {sql, sql + size, sql};
		(void)split_sql(sql, size, flags, check_piece, &bd);
	}
	/* The fast path must not miss a second statement: when the splitter
	 * finds two pieces, the classifier says multi; with one piece and no
	 * multi, both agree on the kind. */
	struct classify_info info;
	enum stmt_kind kind = classify_sql(sql, size, &info);
	struct first_piece fp = {0};
	(void)split_sql(sql, size, 0, count_pieces, &fp);
	if (fp.n >= 2 && !info.multi)
		abort();
	/* (a piece that is only "--" cut before ';' reads as a comment: EMPTY) */
	enum stmt_kind k1 = fp.n == 1 ? classify_sql(fp.sql, fp.len, NULL) : kind;
	if (fp.n == 1 && !info.multi && k1 != kind && k1 != STMT_EMPTY)
		abort();
	/* the classifier's first keyword is the lexer's first word */
	struct lexer lx;
	struct lex_token t;
	lex_init(&lx, sql, size, 0);
	if (lex_next(&lx, &t) && t.type == LEX_WORD &&
	    (info.keyword != t.p || info.keyword_len != t.n))
		abort();
	free(sql);
	return 0;
}
