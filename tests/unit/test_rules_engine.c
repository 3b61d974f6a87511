/* Rule engine tests: SQL text through the parser and the engine, table-driven from data files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/arena.h"
#include "rules/engine.h"
#include "rules/parse.h"
#include "rules/probe_sql.h"
#include "rules/rule_internal.h"
#include "rules/split.h"

/* ---- tiny line reader ----------------------------------------------------- */

struct lines {
	char **v;
	size_t n;
};

static void lines_load(const char *path, struct lines *l)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	char buf[8192];
	l->v = NULL;
	l->n = 0;
	while (fgets(buf, sizeof(buf), f)) {
		size_t n = strlen(buf);
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		l->v = realloc(l->v, (l->n + 1) * sizeof(char *));
		l->v[l->n++] = strdup(buf);
	}
	fclose(f);
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Splits off the first word of *s (in place). */
static char *word(char **s)
{
	char *p = *s;
	while (isspace((unsigned char)*p))
		p++;
	char *w = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	if (*p)
		*p++ = '\0';
	*s = p;
	return w;
}

/* ---- engine cases (engine.txt) ------------------------------------------- */

/* A fact the test database "knows". */
struct tfact {
	enum rules_fact_kind kind;
	char table[64];
	char cols[128]; /* comma-separated key parts, or "" */
	struct rules_fact_answer ans;
};

struct tcase {
	const char *name;
	char **lines; /* the case's lines, borrowed from the file */
	size_t nlines;
	int first_line;
};

static const char *file_name = "engine.txt";

static void cols_of(const struct rules_fact_query *q, char *buf, size_t n)
{
	buf[0] = '\0';
	for (size_t i = 0; i < q->nparts; i++) {
		size_t k = strlen(buf);
		snprintf(buf + k, n - k, "%s%s", i ? "," : "",
			 q->parts[i].column ? q->parts[i].column : "?");
		if (q->parts[i].prefix) {
			k = strlen(buf);
			snprintf(buf + k, n - k, ":%u", (unsigned)q->parts[i].prefix);
		}
	}
}

static const struct tfact *fact_find(const struct tfact *facts, size_t n,
				     const struct rules_fact_query *q)
{
	char cols[128];
	cols_of(q, cols, sizeof(cols));
	for (size_t i = 0; i < n; i++) {
		if (facts[i].kind != q->kind || strcmp(facts[i].table, q->table.name) != 0)
			continue;
		if (facts[i].cols[0] && strcmp(facts[i].cols, cols) != 0)
			continue;
		return &facts[i];
	}
	return NULL;
}

static bool parse_kind(const char *w, enum rules_fact_kind *k)
{
	static const struct {
		const char *n;
		enum rules_fact_kind k;
	} map[] = {
	    {"has_rows", FACT_HAS_ROWS},
	    {"dup", FACT_DUPLICATES},
	    {"nulls", FACT_NULLS},
	    {"data", FACT_COLUMN_DATA},
	    {"size", FACT_LARGE_TABLE},
	    {"orphans", FACT_ORPHANS},
	    {"tables", FACT_SCHEMA_TABLES},
	    {"type", FACT_COLUMN_TYPE},
	    {"lossy", FACT_LOSSY_CHARSET},
	    {"negatives", FACT_NEGATIVES},
	    {"generated", FACT_COLUMN_GENERATED},
	    {"charset", FACT_COLUMN_CHARSET},
	    {"comment", FACT_TABLE_COMMENT},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(w, map[i].n) == 0) {
			*k = map[i].k;
			return true;
		}
	return false;
}

static bool kind_has_cols(enum rules_fact_kind k)
{
	return k == FACT_DUPLICATES || k == FACT_NULLS || k == FACT_COLUMN_DATA ||
	       k == FACT_ORPHANS || k == FACT_COLUMN_TYPE || k == FACT_LOSSY_CHARSET ||
	       k == FACT_NEGATIVES || k == FACT_COLUMN_GENERATED || k == FACT_COLUMN_CHARSET;
}

/*
 * "fact KIND TABLE [COLS] VALUE..." and "fact fail KIND TABLE [COLS] WHY".
 * VALUE: has_rows N; dup none | 'sample' N; nulls/data/orphans/lossy/negatives/generated
 * yes|no;
 * size BYTES; tables N; type TYPE / comment TEXT / charset CS COLLATION (or "none").
 */
static void parse_fact(char *s, struct tfact *f, int lineno)
{
	memset(f, 0, sizeof(*f));
	char *w = word(&s);
	bool failed = strcmp(w, "fail") == 0;
	if (failed)
		w = word(&s);
	if (!parse_kind(w, &f->kind))
		fail_msg("%s:%d: unknown fact kind %s", file_name, lineno, w);
	snprintf(f->table, sizeof(f->table), "%s", word(&s));
	if (kind_has_cols(f->kind))
		snprintf(f->cols, sizeof(f->cols), "%s", word(&s));
	char *rest = trim(s);
	f->ans.status = RULES_FACT_OK;
	if (failed) {
		f->ans.status = RULES_FACT_FAILED;
		snprintf(f->ans.detail, sizeof(f->ans.detail), "%s", rest);
		return;
	}
	switch (f->kind) {
	case FACT_HAS_ROWS:
	case FACT_SCHEMA_TABLES:
		f->ans.number = strtoull(rest, NULL, 10);
		f->ans.value = f->ans.number ? RULES_YES : RULES_NO;
		break;
	case FACT_LARGE_TABLE:
		f->ans.number = strtoull(rest, NULL, 10);
		break; /* value decided against the query's threshold */
	case FACT_DUPLICATES:
		if (strcmp(rest, "none") == 0) {
			f->ans.value = RULES_NO;
		} else {
			char *sp = strrchr(rest, ' ');
			f->ans.value = RULES_YES;
			f->ans.number = sp ? strtoull(sp + 1, NULL, 10) : 2;
			if (sp)
				*sp = '\0';
			snprintf(f->ans.detail, sizeof(f->ans.detail), "%s", rest);
		}
		break;
	case FACT_COLUMN_TYPE:
	case FACT_TABLE_COMMENT:
	case FACT_COLUMN_CHARSET:
		if (strcmp(rest, "none") == 0) {
			f->ans.value = RULES_NO;
		} else {
			f->ans.value = RULES_YES;
			snprintf(f->ans.detail, sizeof(f->ans.detail), "%s", rest);
		}
		break;
	default:
		f->ans.value = strcmp(rest, "yes") == 0 ? RULES_YES : RULES_NO;
		snprintf(f->ans.detail, sizeof(f->ans.detail), "%s",
			 f->ans.value == RULES_YES ? "'7'" : "");
		break;
	}
}

static void answer_from(const struct tfact *facts, size_t nfacts, const struct rules_fact_query *q,
			struct rules_fact_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	const struct tfact *f = fact_find(facts, nfacts, q);
	if (!f) {
		ans->status = RULES_FACT_FAILED;
		snprintf(ans->detail, sizeof(ans->detail), "not in the test's facts");
		return;
	}
	*ans = f->ans;
	if (q->kind == FACT_LARGE_TABLE && f->ans.status == RULES_FACT_OK)
		ans->value = f->ans.number > q->threshold ? RULES_YES : RULES_NO;
}

/* The rules the verdict reports (not passed), "id" or "id!" when suppressed. */
static void fired(const struct rules_verdict *v, char *buf, size_t n)
{
	buf[0] = '\0';
	for (size_t i = 0; i < v->nfindings; i++) {
		const struct rules_finding *f = &v->findings[i];
		if (f->passed)
			continue;
		size_t k = strlen(buf);
		snprintf(buf + k, n - k, "%s%s%s", k ? " " : "", f->rule, f->suppressed ? "!" : "");
	}
}

/* The i-th of findings then passed guards. */
static const struct rules_finding *any_finding(const struct rules_verdict *v, size_t i)
{
	return i < v->nfindings ? &v->findings[i] : &v->passed[i - v->nfindings];
}

static void dump(const struct rules_verdict *v)
{
	for (size_t i = 0; i < v->nfindings + v->npassed; i++) {
		const struct rules_finding *f = any_finding(v, i);
		print_message("    %s %s%s%s: %s [%s]\n", f->rule, rules_action_name(f->action),
			      f->passed ? " passed" : "", f->suppressed ? " suppressed" : "",
			      f->message, f->guard ? f->guard : "");
	}
}

static void run_engine_case(void **state)
{
	const struct tcase *tc = *state;
	struct rules_spec rules[8];
	size_t nrules = 0;
	struct tfact facts[32];
	size_t nfacts = 0;
	struct rules_ctx ctx = {.lock_wait_timeout = -1};
	bool live = false;
	struct rules_engine *engine = NULL;
	struct rules_migration *mig = rules_migration_new();
	struct rules_fact_cache *cache = NULL;
	struct rules_facts prov;
	struct arena a;
	arena_init(&a, 4096);
	struct rules_verdict v;
	struct stmt last;
	bool have_verdict = false;
	char *schema = NULL, *user = NULL;
	memset(rules, 0, sizeof(rules));

	for (size_t li = 0; li < tc->nlines; li++) {
		int lineno = tc->first_line + (int)li;
		char *line = strdup(tc->lines[li]);
		char *s = trim(line);
		if (!*s || *s == '#') {
			free(line);
			continue;
		}
		char *cmd = word(&s);
		if (strcmp(cmd, "schema") == 0) {
			schema = strdup(word(&s));
			ctx.schema = schema;
		} else if (strcmp(cmd, "user") == 0) {
			user = strdup(word(&s));
			ctx.user = user;
		} else if (strcmp(cmd, "live") == 0) {
			live = true;
		} else if (strcmp(cmd, "next-command") == 0) {
			/* an application session's next command */
			rules_migration_keep_swaps(mig);
		} else if (strcmp(cmd, "window") == 0) {
			ctx.window_open = true;
		} else if (strcmp(cmd, "defer") == 0) {
			ctx.no_memory_update = true;
		} else if (strcmp(cmd, "applied") == 0) {
			/* the server answered OK to the last statement */
			assert_true(have_verdict);
			rules_migration_apply(mig, &last, ctx.schema);
		} else if (strcmp(cmd, "fact") == 0) {
			assert_true(nfacts < 32);
			parse_fact(s, &facts[nfacts++], lineno);
			live = true;
		} else if (strcmp(cmd, "lockwait") == 0) {
			ctx.lock_wait_timeout = strtol(word(&s), NULL, 10);
			ctx.max_lock_wait_s = strtol(word(&s), NULL, 10);
		} else if (strcmp(cmd, "large") == 0) {
			ctx.large_table_bytes = strtoull(word(&s), NULL, 10);
		} else if (strcmp(cmd, "rule") == 0 || strcmp(cmd, "custom") == 0) {
			/* rule ID ACTION [tables=..] [users=..] [schemas=..]
			 * custom ID ACTION REGEX... */
			struct rules_spec *r = &rules[nrules++];
			r->id = strdup(word(&s));
			r->line = lineno;
			const char *act = word(&s);
			r->action = strcmp(act, "off") == 0	? RULES_SPEC_OFF
				    : strcmp(act, "warn") == 0	? RULES_SPEC_WARN
				    : strcmp(act, "block") == 0 ? RULES_SPEC_BLOCK
								: RULES_SPEC_DEFAULT;
			if (strcmp(cmd, "custom") == 0) {
				r->pattern = strdup(trim(s));
				r->message = strdup("Custom rule says no");
			} else {
				char *kv;
				while (*(kv = word(&s))) {
					char *eq = strchr(kv, '=');
					assert_non_null(eq);
					*eq = '\0';
					struct rules_patterns *l =
					    strcmp(kv, "tables") == 0  ? &r->tables
					    : strcmp(kv, "users") == 0 ? &r->users
								       : &r->schemas;
					for (char *it = strtok(eq + 1, ","); it;
					     it = strtok(NULL, ","))
						l->items[l->n++] = strdup(it);
				}
			}
		} else if (strcmp(cmd, "badconfig") == 0) {
			char err[256] = "";
			struct rules_engine *e = rules_engine_new(rules, nrules, err, sizeof(err));
			if (e)
				fail_msg("%s:%d: config accepted, expected an error", file_name,
					 lineno);
			if (!strstr(err, trim(s)))
				fail_msg("%s:%d: error '%s' lacks '%s'", file_name, lineno, err,
					 trim(s));
		} else if (strcmp(cmd, "sql") == 0 || strcmp(cmd, "given") == 0) {
			if (!engine) {
				char err[256];
				engine = rules_engine_new(rules, nrules, err, sizeof(err));
				if (!engine)
					fail_msg("%s:%d: config: %s", file_name, lineno, err);
				ctx.mig = mig;
				if (live) {
					cache = rules_fact_cache_new();
					prov = rules_fact_cache_provider(cache);
					ctx.facts = &prov;
				}
			}
			/* \n in the data stands for a newline */
			for (char *p = s; (p = strstr(p, "\\n")); p++) {
				p[0] = ' ';
				p[1] = '\n';
			}
			struct stmt st;
			stmt_parse(&a, s, strlen(s), 0, &st);
			rules_evaluate(engine, &a, &st, s, strlen(s), &ctx, &v);
			/* a guard may need one answer to know its next question: the
			 * proxy and check --dsn probe up to three rounds */
			for (int round = 1; v.pending; round++) {
				if (round == 3)
					fail_msg("%s:%d: still pending after %d rounds of answers",
						 file_name, lineno, round);
				assert_non_null(cache);
				size_t n = rules_fact_cache_npending(cache);
				assert_true(n > 0);
				const struct rules_fact_query *qs[16];
				assert_true(n <= 16);
				for (size_t i = 0; i < n; i++)
					qs[i] = rules_fact_cache_pending(cache, i);
				for (size_t i = 0; i < n; i++) {
					struct rules_fact_answer ans;
					char sql[4096];
					/* every question must be expressible as a probe */
					if (!probe_sql_build(qs[i], 0, sql, sizeof(sql)))
						fail_msg("%s:%d: no probe SQL for fact %d",
							 file_name, lineno, qs[i]->kind);
					answer_from(facts, nfacts, qs[i], &ans);
					rules_fact_cache_answer(cache, qs[i], &ans);
				}
				assert_int_equal(rules_fact_cache_npending(cache), 0);
				rules_evaluate(engine, &a, &st, s, strlen(s), &ctx, &v);
			}
			have_verdict = strcmp(cmd, "sql") == 0;
			last = st;
		} else if (strcmp(cmd, "expect") == 0) {
			assert_true(have_verdict);
			const char *want_dec = word(&s);
			char want[512], got[512];
			snprintf(want, sizeof(want), "%s", trim(s));
			fired(&v, got, sizeof(got));
			if (strcmp(want_dec, rules_decision_name(v.decision)) != 0 ||
			    strcmp(want, got) != 0) {
				dump(&v);
				fail_msg("%s:%d: want %s [%s], got %s [%s]", file_name, lineno,
					 want_dec, want, rules_decision_name(v.decision), got);
			}
		} else if (strcmp(cmd, "guard") == 0 || strcmp(cmd, "message") == 0 ||
			   strcmp(cmd, "error") == 0) {
			assert_true(have_verdict);
			const char *rule = strcmp(cmd, "error") == 0 ? "" : word(&s);
			const char *text = trim(s);
			bool ok = false;
			if (strcmp(cmd, "error") == 0) {
				char buf[1024];
				ok = rules_format_error(&v, buf, sizeof(buf)) && strstr(buf, text);
				if (!ok)
					print_message("    error text: %s\n", buf);
			}
			for (size_t i = 0; !ok && i < v.nfindings + v.npassed; i++) {
				const struct rules_finding *f = any_finding(&v, i);
				const char *hay = cmd[0] == 'g' ? f->guard : f->message;
				if (strcmp(f->rule, rule) == 0 && hay && strstr(hay, text))
					ok = true;
			}
			if (!ok) {
				dump(&v);
				fail_msg("%s:%d: no %s '%s' for %s", file_name, lineno, cmd, text,
					 rule);
			}
		} else if (strcmp(cmd, "directive") == 0) {
			assert_true(have_verdict);
			const char *what = word(&s);
			const char *val = trim(s);
			if (strcmp(what, "migration") == 0) {
				assert_true(v.directives.migration);
				assert_string_equal(
				    v.directives.migration_name ? v.directives.migration_name : "",
				    val);
			} else if (strcmp(what, "reason") == 0) {
				assert_string_equal(v.directives.reason ? v.directives.reason : "",
						    val);
			}
		} else {
			fail_msg("%s:%d: unknown command %s", file_name, lineno, cmd);
		}
		free(line);
	}
	rules_engine_free(engine);
	rules_migration_free(mig);
	rules_fact_cache_free(cache);
	arena_cleanup(&a);
	for (size_t i = 0; i < nrules; i++) {
		free(rules[i].id);
		free(rules[i].pattern);
		free(rules[i].message);
		struct rules_patterns *ls[] = {&rules[i].tables, &rules[i].users,
					       &rules[i].schemas};
		for (int k = 0; k < 3; k++)
			for (size_t j = 0; j < ls[k]->n; j++)
				free(ls[k]->items[j]);
	}
	free(schema);
	free(user);
}

/* ---- small tables: types, probes, normalisation ------------------------- */

/* engine_types.txt: "OLD | NEW => same|widening|other" */
static void test_types(void **state)
{
	(void)state;
	struct lines l;
	lines_load("engine_types.txt", &l);
	int failures = 0;
	for (size_t i = 0; i < l.n; i++) {
		char *s = trim(l.v[i]);
		if (!*s || *s == '#')
			continue;
		char *bar = strstr(s, " | "), *arrow = strstr(s, " => ");
		assert_non_null(bar);
		assert_non_null(arrow);
		*bar = '\0';
		*arrow = '\0';
		const char *want = trim(arrow + 4);
		enum type_change tc = rules_type_compare(trim(s), trim(bar + 3));
		const char *got = tc == TYPE_SAME	? "same"
				  : tc == TYPE_WIDENING ? "widening"
							: "other";
		if (strcmp(got, want) != 0) {
			print_error("engine_types.txt:%zu: %s -> %s: want %s, got %s\n", i + 1,
				    trim(s), trim(bar + 3), want, got);
			failures++;
		}
	}
	lines_free(&l);
	assert_int_equal(failures, 0);
}

/*
 * engine_probe.txt: a fact question then the SQL wanted, as pairs of lines
 *   q KIND SCHEMA.TABLE [COLS[:prefix],..] [CHARSET] [REF_TABLE REF_COLS]
 *   = SELECT ...
 */
static void test_probe_sql(void **state)
{
	(void)state;
	struct lines l;
	lines_load("engine_probe.txt", &l);
	int failures = 0;
	struct rules_fact_query q;
	struct stmt_key_part parts[8], refp[8];
	char tbuf[128], rbuf[128], csbuf[64];
	for (size_t i = 0; i < l.n; i++) {
		char *s = trim(l.v[i]);
		if (!*s || *s == '#')
			continue;
		if (s[0] == 'q' && s[1] == ' ') {
			s += 2;
			memset(&q, 0, sizeof(q));
			memset(parts, 0, sizeof(parts));
			memset(refp, 0, sizeof(refp));
			if (!parse_kind(word(&s), &q.kind))
				fail_msg("engine_probe.txt:%zu: bad kind", i + 1);
			snprintf(tbuf, sizeof(tbuf), "%s", word(&s));
			char *dot = strchr(tbuf, '.');
			if (dot) {
				*dot = '\0';
				q.table.schema = tbuf;
				q.table.name = dot + 1;
			} else {
				q.table.schema = "";
				q.table.name = tbuf;
			}
			char *cols = word(&s);
			for (char *c = strtok(cols, ","); c && *c; c = strtok(NULL, ",")) {
				char *colon = strchr(c, ':');
				if (colon) {
					*colon = '\0';
					parts[q.nparts].prefix = (uint32_t)atoi(colon + 1);
				}
				parts[q.nparts++].column = c;
			}
			q.parts = parts;
			if (q.kind == FACT_LOSSY_CHARSET) {
				snprintf(csbuf, sizeof(csbuf), "%s", word(&s));
				q.charset = csbuf;
			}
			char *rt = word(&s);
			if (*rt) {
				snprintf(rbuf, sizeof(rbuf), "%s", rt);
				q.ref.schema = "";
				q.ref.name = rbuf;
				size_t k = 0;
				for (char *c = strtok(word(&s), ","); c; c = strtok(NULL, ","))
					refp[k++].column = c;
				q.ref_parts = refp;
			}
			q.threshold = 100;
		} else if (s[0] == '=' && s[1] == ' ') {
			char sql[4096];
			bool ok = probe_sql_build(&q, 0, sql, sizeof(sql));
			const char *want = s + 2;
			if (strcmp(want, "FAIL") == 0 ? ok : (!ok || strcmp(sql, want) != 0)) {
				print_error("engine_probe.txt:%zu:\n  want %s\n  got  %s\n", i + 1,
					    want, ok ? sql : "FAIL");
				failures++;
			}
		}
	}
	lines_free(&l);
	assert_int_equal(failures, 0);
}

/* engine_normalise.txt: "input => output" (\n in input is a newline). */
static void test_normalise(void **state)
{
	(void)state;
	struct lines l;
	lines_load("engine_normalise.txt", &l);
	struct arena a;
	arena_init(&a, 1024);
	int failures = 0;
	for (size_t i = 0; i < l.n; i++) {
		char *s = l.v[i];
		if (!*s || *s == '#')
			continue;
		char *arrow = strstr(s, " => ");
		assert_non_null(arrow);
		*arrow = '\0';
		for (char *p = s; (p = strstr(p, "\\n")); p++) {
			p[0] = ' ';
			p[1] = '\n';
		}
		const char *got = rules_normalise(&a, s, strlen(s), NULL);
		if (strcmp(got, arrow + 4) != 0) {
			print_error("engine_normalise.txt:%zu: want [%s] got [%s]\n", i + 1,
				    arrow + 4, got);
			failures++;
		}
	}
	arena_cleanup(&a);
	lines_free(&l);
	assert_int_equal(failures, 0);
}

/* probe_sql_answer: how result rows become answers. */
static void test_probe_answer(void **state)
{
	(void)state;
	struct stmt_key_part kp[2] = {{.column = "email"}, {.column = "org"}};
	struct rules_fact_query q = {
	    .kind = FACT_DUPLICATES, .table = {"s", "t"}, .parts = kp, .nparts = 2};
	struct rules_fact_answer a;
	const char *row[] = {"a@x", "7", "3"};
	unsigned long lens[] = {3, 1, 1};
	probe_sql_answer(&q, row, lens, 3, &a);
	assert_int_equal(a.status, RULES_FACT_OK);
	assert_int_equal(a.value, RULES_YES);
	assert_int_equal(a.number, 3);
	assert_string_equal(a.detail, "'a@x', '7'");
	/* [guard] sample_values = mask: the values go, their number and NULLs stay */
	probe_sql_answer_mask(&q, row, lens, 3, true, &a);
	assert_int_equal(a.value, RULES_YES);
	assert_int_equal(a.number, 3);
	assert_string_equal(a.detail, "'<masked>', '<masked>'");
	const char *with_null[] = {NULL, "7", "2"};
	probe_sql_answer_mask(&q, with_null, NULL, 3, true, &a);
	assert_string_equal(a.detail, "NULL, '<masked>'");
	q.kind = FACT_ORPHANS;
	probe_sql_answer_mask(&q, row, lens, 2, true, &a);
	assert_int_equal(a.value, RULES_YES);
	assert_string_equal(a.detail, "'<masked>', '<masked>'");
	q.kind = FACT_DUPLICATES;
	probe_sql_answer(&q, NULL, NULL, 3, &a);
	assert_int_equal(a.value, RULES_NO);

	q.kind = FACT_HAS_ROWS;
	const char *one[] = {"2"};
	probe_sql_answer(&q, one, NULL, 1, &a);
	assert_int_equal(a.value, RULES_YES);
	assert_int_equal(a.number, 2);
	const char *zero[] = {"0"};
	probe_sql_answer(&q, zero, NULL, 1, &a);
	assert_int_equal(a.value, RULES_NO);
	const char *junk[] = {NULL};
	probe_sql_answer(&q, junk, NULL, 1, &a);
	assert_int_equal(a.status, RULES_FACT_FAILED);

	q.kind = FACT_LARGE_TABLE;
	q.threshold = 1000;
	const char *big[] = {"5000"};
	probe_sql_answer(&q, big, NULL, 1, &a);
	assert_int_equal(a.value, RULES_YES);
	const char *small[] = {"10"};
	probe_sql_answer(&q, small, NULL, 1, &a);
	assert_int_equal(a.value, RULES_NO);
	probe_sql_answer(&q, NULL, NULL, 1, &a);
	assert_int_equal(a.status, RULES_FACT_FAILED);
}

/* The catalogue: the brief's rule ids and default actions. */
static void test_catalogue(void **state)
{
	(void)state;
	static const char *const warn[] = {"large-table-ddl",	"add-foreign-key",
					   "drop-foreign-key",	"missing-primary-key",
					   "inline-references", "unbounded-lock-wait"};
	static const char *const block[] = {
	    "unique-unguarded",	  "add-required-column", "set-not-null",
	    "drop-table",	  "drop-database",	 "drop-column",
	    "truncate-table",	  "rename-table",	 "rename-column",
	    "column-type-change", "blocking-algorithm",	 "migration-conflict",
	    "ddl-outside-window", "unparseable-ddl",	 "server-config-change",
	    "engine-change",	  "lossy-conversion",	 "column-made-generated",
	    "lock-wait-exceeded"};
	for (size_t i = 0; i < sizeof(warn) / sizeof(warn[0]); i++) {
		const struct rules_builtin *b = rules_builtin_find(warn[i]);
		assert_non_null(b);
		assert_int_equal(b->default_action, RULES_ACTION_WARN);
	}
	for (size_t i = 0; i < sizeof(block) / sizeof(block[0]); i++) {
		const struct rules_builtin *b = rules_builtin_find(block[i]);
		assert_non_null(b);
		assert_int_equal(b->default_action, RULES_ACTION_BLOCK);
	}
	size_t n;
	rules_builtin_list(&n);
	assert_int_equal(n, sizeof(warn) / sizeof(warn[0]) + sizeof(block) / sizeof(block[0]));
	assert_false(rules_builtin_find("migration-conflict")->liftable);
	assert_false(rules_builtin_find("unparseable-ddl")->liftable);
	assert_true(rules_builtin_find("drop-table")->liftable);

	/* scoped actions, as the proxy asks them */
	struct rules_spec r[1];
	memset(r, 0, sizeof(r));
	r[0].id = "migration-conflict";
	r[0].action = RULES_SPEC_WARN;
	r[0].users.items[0] = "deploy*";
	r[0].users.n = 1;
	char err[128];
	struct rules_engine *e = rules_engine_new(r, 1, err, sizeof(err));
	assert_non_null(e);
	assert_int_equal(rules_engine_action(e, "migration-conflict", "deployer", NULL, NULL),
			 RULES_ACTION_WARN);
	assert_int_equal(rules_engine_action(e, "migration-conflict", "app", NULL, NULL),
			 RULES_ACTION_OFF);
	assert_int_equal(rules_engine_action(e, "ddl-outside-window", "app", NULL, NULL),
			 RULES_ACTION_BLOCK);
	assert_int_equal(rules_engine_action(e, "no-such-rule", "app", NULL, NULL),
			 RULES_ACTION_OFF);
	rules_engine_free(e);
}

/* ---- the shared corpus of real migrations -------------------------------- */

struct corpus_run {
	const struct rules_engine *e;
	struct rules_ctx *ctx;
	struct arena *a;
	size_t stmts, blocked;
};

static bool corpus_piece(const struct split_piece *p, void *arg)
{
	struct corpus_run *r = arg;
	struct stmt st;
	struct rules_verdict v;
	stmt_parse(r->a, p->sql, p->len, 0, &st);
	rules_evaluate(r->e, r->a, &st, p->sql, p->len, r->ctx, &v);
	r->stmts++;
	/* invariants: every finding is complete; the decision matches them */
	enum rules_decision want = RULES_ALLOW;
	for (size_t i = 0; i < v.nfindings; i++) {
		const struct rules_finding *f = &v.findings[i];
		assert_non_null(f->rule);
		assert_non_null(f->message);
		assert_true(f->action == RULES_ACTION_WARN || f->action == RULES_ACTION_BLOCK);
		assert_false(f->passed);
		if (f->suppressed)
			continue;
		if (f->action == RULES_ACTION_BLOCK)
			want = RULES_BLOCK;
		else if (want == RULES_ALLOW)
			want = RULES_WARN;
	}
	for (size_t i = 0; i < v.npassed; i++)
		assert_true(v.passed[i].passed && v.passed[i].rule);
	assert_int_equal(v.decision, want);
	char msg[1024];
	assert_int_equal(rules_format_error(&v, msg, sizeof(msg)), v.decision == RULES_BLOCK);
	if (v.decision == RULES_BLOCK) {
		assert_int_equal(strncmp(msg, "ddlgate: blocked by ", 20), 0);
		r->blocked++;
	}
	/* a DDL statement the parser could not model always blocks */
	if (st.kind == STMT_DDL && st.unparsed)
		assert_int_equal(v.decision, RULES_BLOCK);
	arena_reset(r->a);
	return true;
}

/* Every file of the shared corpus goes through split, parse and the engine
 * offline, one migration per file, under the sanitizers. */
static void test_corpus(void **state)
{
	(void)state;
	const char *dir = getenv("DDLGATE_CORPUS");
	if (!dir)
		skip();
	DIR *d = opendir(dir);
	if (!d)
		skip();
	char err[128];
	struct rules_engine *e = rules_engine_new(NULL, 0, err, sizeof(err));
	assert_non_null(e);
	struct arena a;
	arena_init(&a, 65536);
	struct rules_ctx ctx = {.lock_wait_timeout = -1};
	struct corpus_run r = {e, &ctx, &a, 0, 0};
	size_t files = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		char *buf = malloc(1 << 22);
		size_t n = fread(buf, 1, (1 << 22) - 1, f);
		fclose(f);
		buf[n] = '\0';
		ctx.mig = rules_migration_new();
		(void)split_sql(buf, n, SPLIT_FILE, corpus_piece, &r);
		rules_migration_free(ctx.mig);
		free(buf);
		files++;
	}
	closedir(d);
	print_message("corpus: %zu files, %zu statements, %zu blocked offline\n", files, r.stmts,
		      r.blocked);
	assert_true(files > 0);
	assert_true(r.stmts > files);
	arena_cleanup(&a);
	rules_engine_free(e);
}

/* ---- driver --------------------------------------------------------------- */

int main(void)
{
	struct lines l;
	lines_load("engine.txt", &l);
	struct tcase *cases = calloc(l.n + 1, sizeof(*cases));
	size_t ncases = 0;
	for (size_t i = 0; i < l.n; i++) {
		char *s = l.v[i];
		if (strncmp(s, "case ", 5) != 0)
			continue;
		struct tcase *tc = &cases[ncases++];
		tc->name = s + 5;
		tc->lines = &l.v[i + 1];
		tc->first_line = (int)i + 2;
		size_t j = i + 1;
		while (j < l.n && strcmp(trim(l.v[j]), "end") != 0)
			j++;
		tc->nlines = j - i - 1;
		i = j;
	}
	struct CMUnitTest *tests = calloc(ncases + 6, sizeof(*tests));
	size_t nt = 0;
	tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_catalogue);
	tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_types);
	tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_probe_sql);
	tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_probe_answer);
	tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_normalise);
	tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_corpus);
	for (size_t i = 0; i < ncases; i++) {
		tests[nt].name = cases[i].name;
		tests[nt].test_func = run_engine_case;
		tests[nt].initial_state = &cases[i];
		nt++;
	}
	return _cmocka_run_group_tests("rules_engine", tests, nt, NULL, NULL);
}
