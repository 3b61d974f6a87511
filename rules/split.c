/* Statement splitter: top-level delimiters only, compound bodies kept whole. */
#include "rules/split.h"

#include <string.h>

#include "rules/lex.h"

/*
 * How a statement is being read. A stored program (CREATE ... PROCEDURE /
 * FUNCTION / TRIGGER / EVENT, ALTER EVENT, BEGIN NOT ATOMIC) may hold ';'
 * inside BEGIN ... END, IF ... END IF, CASE ... END, LOOP / WHILE / REPEAT
 * ... END x; depth counts the open blocks. Only ';' at depth 0 ends it.
 */
enum head_state {
	HEAD_START,  /* no word seen yet */
	HEAD_CREATE, /* CREATE / ALTER seen: looking for the object word */
	HEAD_LABEL,  /* a word at the start: maybe "label:" before BEGIN */
	HEAD_LABEL_COLON,
	HEAD_BEGIN, /* BEGIN at the start: NOT ATOMIC makes it compound */
	HEAD_DECIDED,
};

struct splitter {
	const char *sql;
	size_t len;
	unsigned flags;
	split_fn fn;
	void *arg;
	bool stopped;

	char delim[32]; /* current delimiter (SPLIT_FILE), NUL-terminated */
	size_t delim_len;

	/* the statement being collected */
	size_t start; /* offset of its first token (comment included) */
	unsigned start_line;
	bool has_start;
	bool has_sql; /* a non-comment token was seen */
	size_t end;   /* offset past its last token */
	enum head_state head;
	unsigned head_words;
	bool compound;
	int depth;
	bool at_stmt_start; /* inside a compound: the next word starts a statement */
	struct lex_token prev;
	size_t lookahead; /* tokens IF( look-aheads may still read, for all of the text */
};

static bool word_in(const struct lex_token *t, const char *const *words)
{
	for (; *words; words++)
		if (lex_is_word(t, *words))
			return true;
	return false;
}

static const char *const program_words[] = {"PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", NULL};
static const char *const not_program_words[] = {
    "TABLE",	 "VIEW",     "INDEX",	   "DATABASE", "SCHEMA",  "USER",     "ROLE",
    "SEQUENCE",	 "SERVER",   "TABLESPACE", "LOGFILE",  "UNIQUE",  "FULLTEXT", "SPATIAL",
    "TEMPORARY", "RESOURCE", "INSTANCE",   "SPATIAL",  "PACKAGE", NULL};
static const char *const block_words[] = {"IF", "CASE", "LOOP", "WHILE", "REPEAT", NULL};
/* Words after which a block keyword starts a statement inside a body. */
static const char *const stmt_start_words[] = {
    "BEGIN",	     "THEN", "ELSE", "DO",	"LOOP",	  "REPEAT", "ROW",
    "DETERMINISTIC", "DATA", "SQL",  "INVOKER", "ATOMIC", NULL};

static void reset_stmt(struct splitter *sp)
{
	sp->has_start = false;
	sp->has_sql = false;
	sp->head = HEAD_START;
	sp->head_words = 0;
	sp->compound = false;
	sp->depth = 0;
	sp->at_stmt_start = false;
	sp->prev.type = LEX_EOF;
	sp->prev.n = 0;
}

/* Hands the collected statement to the callback, if it holds SQL. */
static void emit(struct splitter *sp)
{
	if (sp->has_start && sp->has_sql && !sp->stopped) {
		struct split_piece piece = {sp->sql + sp->start, sp->end - sp->start,
					    sp->start_line};
		if (!sp->fn(&piece, sp->arg))
			sp->stopped = true;
	}
	reset_stmt(sp);
}

/* True when the IF at lx's position is the IF() function: its parenthesised
 * argument list holds a top-level comma. The look-ahead is bounded (so
 * text full of "IF (" stays linear); past it, IF counts as a block, which
 * only keeps more text in one statement. */
static bool if_is_function(const struct lexer *at, size_t *total)
{
	struct lexer lx = *at;
	struct lex_token t;
	if (!lex_next(&lx, &t) || !lex_is_op(&t, "("))
		return false;
	int paren = 1;
	for (unsigned budget = 512; budget > 0 && *total > 0 && lex_next(&lx, &t); budget--) {
		--*total;
		if (lex_is_op(&t, "("))
			paren++;
		else if (lex_is_op(&t, ")")) {
			if (--paren == 0)
				return false;
		} else if (paren == 1 && lex_is_op(&t, ","))
			return true;
		else if (lex_is_op(&t, ";"))
			return false;
	}
	return false;
}

/* Decides from the first words whether the statement is a stored program. */
static void track_head(struct splitter *sp, const struct lex_token *t)
{
	switch (sp->head) {
	case HEAD_START:
		if (lex_is_word(t, "CREATE") || lex_is_word(t, "ALTER"))
			sp->head = HEAD_CREATE;
		else if (lex_is_word(t, "BEGIN"))
			sp->head = HEAD_BEGIN;
		else if (word_in(t, block_words)) {
			sp->compound = true; /* MariaDB: IF / CASE / LOOP ... outside programs */
			sp->head = HEAD_DECIDED;
		} else if (t->type == LEX_WORD || t->type == LEX_QUOTED_IDENT)
			sp->head = HEAD_LABEL;
		else
			sp->head = HEAD_DECIDED;
		return;
	case HEAD_CREATE:
		if (word_in(t, program_words)) {
			sp->compound = true;
			sp->head = HEAD_DECIDED;
		} else if (word_in(t, not_program_words) || ++sp->head_words > 24) {
			sp->head = HEAD_DECIDED;
		}
		return;
	case HEAD_LABEL:
		sp->head = lex_is_op(t, ":") ? HEAD_LABEL_COLON : HEAD_DECIDED;
		return;
	case HEAD_LABEL_COLON:
		sp->head = lex_is_word(t, "BEGIN") ? HEAD_BEGIN : HEAD_DECIDED;
		if (word_in(t, block_words))
			sp->compound = true;
		return;
	case HEAD_BEGIN:
		if (lex_is_word(t, "NOT")) {
			sp->compound = true;
			sp->depth = 1;
			sp->at_stmt_start = false;
		}
		sp->head = HEAD_DECIDED;
		return;
	case HEAD_DECIDED:
		return;
	}
}

/*
 * Block nesting inside a stored program. BEGIN always opens (a transaction
 * BEGIN is not allowed in a body); CASE always opens (expression CASE ends
 * with END too); IF / LOOP / WHILE / REPEAT open only where a statement can
 * start, and IF( with a top-level comma is the function. END closes and
 * takes the block word that may follow it.
 */
static void track_blocks(struct splitter *sp, const struct lex_token *t, struct lexer *lx)
{
	const struct lex_token *p = &sp->prev;
	bool starts = p->type == LEX_EOF || lex_is_op(p, ";") || lex_is_op(p, ":") ||
		      lex_is_op(p, ")") || word_in(p, stmt_start_words);
	if (lex_is_word(t, "END")) {
		if (sp->depth > 0)
			sp->depth--;
		struct lexer peek = *lx;
		struct lex_token n;
		if (lex_next(&peek, &n) &&
		    (lex_is_word(&n, "IF") || lex_is_word(&n, "CASE") || lex_is_word(&n, "LOOP") ||
		     lex_is_word(&n, "WHILE") || lex_is_word(&n, "REPEAT"))) {
			*lx = peek; /* END IF: the IF is not an opener */
			sp->prev = n;
			sp->end = (size_t)(n.p - sp->sql) + n.n;
			return;
		}
	} else if (lex_is_word(t, "BEGIN") || lex_is_word(t, "CASE")) {
		sp->depth++;
	} else if (starts && (lex_is_word(t, "LOOP") || lex_is_word(t, "WHILE") ||
			      lex_is_word(t, "REPEAT"))) {
		sp->depth++;
	} else if (starts && lex_is_word(t, "IF") && !if_is_function(lx, &sp->lookahead)) {
		sp->depth++;
	}
	sp->prev = *t;
}

/* Offset of the custom delimiter inside token t, or (size_t)-1. The mysql
 * client looks for it at every byte outside strings and comments, so
 * "END$$" ends a statement when the delimiter is "$$". */
static size_t delim_in(const struct splitter *sp, const struct lex_token *t)
{
	size_t off = (size_t)(t->p - sp->sql);
	for (size_t i = 0; i < t->n; i++)
		if (off + i + sp->delim_len <= sp->len &&
		    memcmp(sp->sql + off + i, sp->delim, sp->delim_len) == 0)
			return off + i;
	return (size_t)-1;
}

/* In SPLIT_FILE mode at the start of a statement: a DELIMITER line sets
 * the delimiter. Returns true (and moves lx past the line) when it was one. */
static bool delimiter_line(struct splitter *sp, struct lexer *lx, const struct lex_token *t)
{
	if (!lex_is_word(t, "DELIMITER"))
		return false;
	size_t i = (size_t)(t->p - sp->sql) + t->n, len = sp->len;
	const char *s = sp->sql;
	if (i >= len || (s[i] != ' ' && s[i] != '\t'))
		return false;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	size_t b = i;
	while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
		i++;
	if (i == b || i - b >= sizeof(sp->delim))
		return false;
	memcpy(sp->delim, s + b, i - b);
	sp->delim[i - b] = '\0';
	sp->delim_len = i - b;
	while (i < len && s[i] != '\n')
		i++;
	/* Re-seat the lexer after the line; keep its line count right. */
	unsigned line = t->line;
	for (size_t k = (size_t)(t->p - s); k < i; k++)
		if (s[k] == '\n')
			line++;
	lx->pos = i;
	lx->line = line;
	lx->in_exec = false;
	return true;
}

bool split_sql(const char *sql, size_t len, unsigned flags, split_fn fn, void *arg)
{
	struct splitter sp = {
	    .sql = sql, .len = len, .flags = flags, .fn = fn, .arg = arg, .lookahead = 1u << 20};
	sp.delim[0] = ';';
	sp.delim_len = 1;
	reset_stmt(&sp);

	struct lexer lx;
	struct lex_token t;
	unsigned lflags = LEX_KEEP_COMMENTS |
			  (flags & (LEX_ANSI_QUOTES | LEX_NO_BACKSLASH_ESCAPES | LEX_SERVER_BITS));
	lex_init(&lx, sql, len, lflags);
	/* a UTF-8 byte order mark atop a file (editors add one); the server
	 * would not skip it, so only files get this treatment */
	if ((flags & SPLIT_FILE) && len >= 3 && memcmp(sql, "\xEF\xBB\xBF", 3) == 0)
		lx.pos = 3;
	bool clean = true;
	bool custom = false; /* a DELIMITER other than ';' is in force */

	for (;;) {
		size_t before = lx.pos;
		if (sp.stopped || !lex_next(&lx, &t))
			break;
		size_t off = (size_t)(t.p - sql);
		/* A statement starting inside an executable comment starts at its
		 * opening marker; one ending inside ends after its closing one. */
		size_t tstart =
		    lx.exec_open != (size_t)-1 && lx.exec_open >= before ? lx.exec_open : off;
		if (sp.has_start && lx.exec_close > sp.end && lx.exec_close <= off)
			sp.end = lx.exec_close;
		if (t.type == LEX_ERROR) {
			/* unterminated: the rest is one last piece */
			clean = false;
			sp.has_sql = true;
		}
		if (t.type == LEX_COMMENT || t.type == LEX_ERROR) {
			if (!sp.has_start) {
				sp.has_start = true;
				sp.start = tstart;
				sp.start_line = t.line;
			}
			sp.end = off + t.n;
			continue;
		}
		if ((flags & SPLIT_FILE) && !sp.has_sql && delimiter_line(&sp, &lx, &t)) {
			custom = !(sp.delim_len == 1 && sp.delim[0] == ';');
			reset_stmt(&sp); /* comments before a DELIMITER line go with it */
			continue;
		}
		if (custom && t.type != LEX_STRING && t.type != LEX_QUOTED_IDENT) {
			size_t d = delim_in(&sp, &t);
			if (d != (size_t)-1) {
				if (d > off) {
					if (!sp.has_start) {
						sp.has_start = true;
						sp.start = off;
						sp.start_line = t.line;
					}
					sp.has_sql = true;
					sp.end = d;
				}
				emit(&sp);
				/* resume right after the delimiter */
				for (size_t k = off; k < d + sp.delim_len; k++)
					if (sql[k] == '\n')
						t.line++;
				lx.pos = d + sp.delim_len;
				lx.line = t.line;
				lx.in_exec = false;
				continue;
			}
		}
		if (!custom && lex_is_op(&t, ";") && sp.depth == 0) {
			emit(&sp);
			/* the server lexes the next statement afresh: after a ';'
			 * inside an executable comment, the rest is outside it */
			lx.in_exec = false;
			continue;
		}
		if (!sp.has_start) {
			sp.has_start = true;
			sp.start = tstart;
			sp.start_line = t.line;
		}
		sp.has_sql = true;
		sp.end = off + t.n;
		track_head(&sp, &t);
		if (sp.compound && !custom)
			track_blocks(&sp, &t, &lx);
	}
	if (sp.depth > 0)
		clean = false;
	if (sp.has_start && lx.exec_close > sp.end)
		sp.end = lx.exec_close;
	emit(&sp);
	return clean;
}
