/*
 * Rule engine: turns one parsed statement into a decision and findings.
 *
 * The engine is pure: it never performs I/O. Everything that depends on
 * the data in the live database (does the table hold rows, would a unique
 * key find duplicates, ...) is a *fact* asked through a struct rules_facts
 * provider, and every fact can be YES, NO or UNKNOWN. Evaluation is
 * two-phase so an event loop never blocks:
 *
 *   1. evaluate with a fact cache as provider; facts the cache has not seen
 *      are answered UNKNOWN and recorded as pending (verdict.pending);
 *   2. the caller builds probe SQL for each pending fact (rules/probe_sql.h),
 *      runs it somewhere it may block (a worker thread, or inline in
 *      `ddlgate check --dsn`), stores the answers in the cache, and
 *      evaluates again. The second run finds every answer.
 *
 * Without a provider (offline `check`), every fact is UNKNOWN and rules
 * stay conservative: a data-dependent rule fires unless the migration's
 * own history proves it safe.
 *
 * Migration memory (struct rules_migration) carries what earlier statements
 * of the same migration did: tables created (and still known empty),
 * columns added and how. A final verdict that does not block updates it.
 */
#ifndef DDLGATE_RULES_ENGINE_H
#define DDLGATE_RULES_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/arena.h"
#include "rules/directive.h"
#include "rules/pattern.h"
#include "rules/stmt.h"

/* ---- rule catalogue ------------------------------------------------- */

enum rules_action { RULES_ACTION_OFF, RULES_ACTION_WARN, RULES_ACTION_BLOCK };
enum rules_decision { RULES_ALLOW, RULES_WARN, RULES_BLOCK };

#define RULES_ID_MIGRATION_CONFLICT "migration-conflict"
#define RULES_ID_OUTSIDE_WINDOW "ddl-outside-window"
#define RULES_ID_UNPARSEABLE "unparseable-ddl"
/* Raised by the proxy (pol_mdl.c) when a DDL's metadata-lock wait outlived
 * [guard] ddl_lock_deadline_ms; off = no lock-wait protection. */
#define RULES_ID_LOCK_WAIT_EXCEEDED "lock-wait-exceeded"

/* One built-in rule: its id, default action, whether an allow directive
 * may lift it, and whether the engine decides it (migration-conflict and
 * ddl-outside-window are the proxy policy's). */
struct rules_builtin {
	const char *id;
	enum rules_action default_action;
	bool liftable;
	bool engine;
};

/*
 * What a configuration asks of one rule, before the engine compiles it:
 * the action of a built-in rule, or a custom rule (an id that is not
 * built in, with a PCRE2 pattern). The config loader fills these from
 * [rule "id"] sections; the engine only reads them and keeps copies, so
 * rules/ never depends on how a configuration is written down.
 */
enum rules_spec_action {
	RULES_SPEC_DEFAULT = 0, /* built-in: its default; custom: block */
	RULES_SPEC_OFF,
	RULES_SPEC_WARN,
	RULES_SPEC_BLOCK,
};

struct rules_spec {
	char *id; /* owned by whoever filled the spec */
	enum rules_spec_action action;
	char *pattern;		       /* owned; custom rules only (PCRE2), NULL otherwise */
	char *message;		       /* owned; custom rules only, NULL = a generic message */
	struct rules_patterns schemas; /* scope (rules/pattern.h); empty = all */
	struct rules_patterns tables;
	struct rules_patterns users;
	int line; /* where it was defined, for errors; 0 = unknown */
};

/* The built-in rules, in documentation order; *n receives the count. */
const struct rules_builtin *rules_builtin_list(size_t *n);
/* The built-in rule called id, or NULL. */
const struct rules_builtin *rules_builtin_find(const char *id);
const char *rules_action_name(enum rules_action a);
const char *rules_decision_name(enum rules_decision d);

/* ---- facts ---------------------------------------------------------- */

enum rules_answer { RULES_UNKNOWN = 0, RULES_YES, RULES_NO };

enum rules_fact_kind {
	FACT_HAS_ROWS,	       /* table holds rows; answer.number = rows seen, capped at 2 */
	FACT_DUPLICATES,       /* key parts have a duplicate (rows with a NULL part excluded,
				  prefix lengths respected); answer.detail = a sample value */
	FACT_NULLS,	       /* column holds a NULL */
	FACT_COLUMN_DATA,      /* column holds a non-NULL value */
	FACT_LARGE_TABLE,      /* data+index size > query.threshold; answer.number = bytes */
	FACT_ORPHANS,	       /* child rows (all FK parts non-NULL) without a parent row */
	FACT_SCHEMA_TABLES,    /* schema (query.table.name) holds base tables; number = how many */
	FACT_COLUMN_TYPE,      /* column exists; answer.detail = its COLUMN_TYPE */
	FACT_LOSSY_CHARSET,    /* column (parts[0]) holds a value that does not survive conversion
				  to query.charset (it would come back as '?') */
	FACT_NEGATIVES,	       /* column (parts[0]) holds a value below 0 */
	FACT_COLUMN_GENERATED, /* column (parts[0]) is a generated column now */
	FACT_TABLE_COMMENT,    /* table exists; answer.detail = its comment (read from
				  information_schema, which LOCK TABLES does not block) */
	FACT_COLUMN_CHARSET,   /* column (parts[0]) exists; answer.detail = its character set
				  ("" when not text), a space, the table's default collation */
};

/* A question. Strings are borrowed from the statement being evaluated
 * (or owned by the fact cache for its copies). schema is never NULL: the
 * engine resolves it from the session's current schema ("" if none). */
struct rules_fact_query {
	enum rules_fact_kind kind;
	struct stmt_name table;
	const struct stmt_key_part *parts; /* DUPLICATES, ORPHANS (child columns), NULLS and
					      COLUMN_DATA / COLUMN_TYPE (parts[0]) */
	size_t nparts;
	struct stmt_name ref;		       /* ORPHANS: parent table */
	const struct stmt_key_part *ref_parts; /* ORPHANS: parent columns, nparts of them */
	uint64_t threshold;		       /* LARGE_TABLE */
	const char *charset;		       /* LOSSY_CHARSET: target character set, lower case */
};

enum rules_fact_status {
	RULES_FACT_NOT_FETCHED = 0, /* nobody asked the database (offline, or phase 1) */
	RULES_FACT_OK,		    /* value is YES or NO */
	RULES_FACT_FAILED,	    /* the probe failed; detail says why */
};

struct rules_fact_answer {
	enum rules_answer value;
	enum rules_fact_status status;
	uint64_t number;
	char detail[256];
};

/* A fact provider. ask() fills out (zeroed by the caller: NOT_FETCHED,
 * UNKNOWN) and must not block if the caller is an event loop. */
struct rules_facts {
	void (*ask)(void *ctx, const struct rules_fact_query *q, struct rules_fact_answer *out);
	void *ctx;
};

/*
 * The two-phase helper: a provider that answers from stored answers and
 * records every question it could not answer as pending. Heap object,
 * owned by whoever made it; not thread-safe (hand it to one thread at a
 * time).
 */
struct rules_fact_cache;

struct rules_fact_cache *rules_fact_cache_new(void);
void rules_fact_cache_free(struct rules_fact_cache *c);
/* A provider backed by c (c must outlive its use). */
struct rules_facts rules_fact_cache_provider(struct rules_fact_cache *c);
/* Number of questions asked but not answered yet. */
size_t rules_fact_cache_npending(const struct rules_fact_cache *c);
/* The i-th unanswered question (i < npending); owned by the cache, valid
 * until the next evaluation that uses c. Collect them all before
 * answering: answering one renumbers the rest. */
const struct rules_fact_query *rules_fact_cache_pending(const struct rules_fact_cache *c, size_t i);
/* Stores the answer to q (a pointer returned by rules_fact_cache_pending).
 * An answer still marked NOT_FETCHED is stored as FAILED. Once all are
 * answered the next evaluation sees every answer. */
void rules_fact_cache_answer(struct rules_fact_cache *c, const struct rules_fact_query *q,
			     const struct rules_fact_answer *a);

/* ---- migration memory ----------------------------------------------- */

struct rules_migration;

struct rules_migration *rules_migration_new(void);
void rules_migration_free(struct rules_migration *m);
/* Forgets everything (a new migration starts). */
void rules_migration_reset(struct rules_migration *m);
/* Forgets everything but the old copies that online schema change swaps
 * renamed away (RENAME TABLE t TO _t_old, _t_new TO t): what an
 * application session carries from one command to the next, since the
 * tool drops the old copy in a later command. */
void rules_migration_keep_swaps(struct rules_migration *m);
/* Adds the swaps' old copies src knows to dst (a copy rebuilt otherwise). */
void rules_migration_copy_swaps(struct rules_migration *dst, const struct rules_migration *src);
/* Records what st did (called by rules_evaluate for final, non-blocking
 * verdicts; exposed for callers that learn of statements otherwise).
 * schema is the session's current schema (may be NULL). */
void rules_migration_apply(struct rules_migration *m, const struct stmt *st, const char *schema);
/* Rows were written to schema.table (table NULL = unknown target); see
 * rule_memory.c for what the memory then forgets. isolated: the caller
 * knows the write lands in that table only (a tool's bookkeeping table). */
void rules_migration_wrote(struct rules_migration *m, const char *schema, const char *table,
			   bool isolated);
/* A deep copy of m; NULL gives an empty memory. Caller frees it. */
struct rules_migration *rules_migration_clone(const struct rules_migration *m);
/* True when schema.table was created in this migration and is still known
 * empty. */
bool rules_migration_table_new(const struct rules_migration *m, const char *schema,
			       const char *table);

/* ---- engine --------------------------------------------------------- */

struct rules_engine;

/*
 * Compiles the rule configuration: resolves each built-in rule's action
 * (RULES_SPEC_DEFAULT = the built-in default) and compiles each custom rule
 * (an id that is not built-in, with a pattern) with PCRE2, JIT where
 * available. Returns NULL and writes why into err when a custom rule has no
 * pattern, an unknown id has no pattern, or a pattern does not compile. The
 * engine copies what it needs; specs may be freed afterwards. Immutable
 * once built: several threads may evaluate with one engine.
 */
struct rules_engine *rules_engine_new(const struct rules_spec *specs, size_t n, char *err,
				      size_t errlen) __attribute__((warn_unused_result));
void rules_engine_free(struct rules_engine *e);

/* The action of rule id for this user on schema.table (any may be NULL =
 * unknown, which matches every scope). Unknown ids are OFF. The proxy uses
 * it for migration-conflict and ddl-outside-window. */
enum rules_action rules_engine_action(const struct rules_engine *e, const char *id,
				      const char *user, const char *schema, const char *table);

/* Everything evaluation knows about the session. */
struct rules_ctx {
	const char *user;		 /* NULL = unknown */
	const char *schema;		 /* current schema; NULL = none */
	bool migration;			 /* the session is a migration session */
	long lock_wait_timeout;		 /* session lock_wait_timeout in s; < 0 = unknown */
	long max_lock_wait_s;		 /* [guard] max_lock_wait_s */
	uint64_t large_table_bytes;	 /* [guard] large_table_bytes; 0 = rule skipped */
	const struct rules_facts *facts; /* NULL = offline */
	struct rules_migration *mig;	 /* NULL = no memory: every table may hold data */
	bool no_memory_update;		 /* evaluate only: the caller applies st to mig itself
					    (rules_migration_apply) once the server said OK */
	bool window_open;		 /* a configured or ad-hoc maintenance window is open
					    now; false offline and when none is configured */
};

/* One rule that fired (in verdict.findings), or whose guard made the
 * statement safe (in verdict.passed, with passed set: for the audit record,
 * e.g. "probe: no duplicates"). Strings live in the evaluation arena. */
struct rules_finding {
	const char *rule;	  /* id */
	enum rules_action action; /* WARN or BLOCK (never OFF: off rules are not reported) */
	const char *message;	  /* "<what and why>. <how to do it safely>" */
	const char
	    *guard; /* what the guard found, e.g. "probe: 3 duplicates of 'a'"; NULL if none */
	const char *object; /* schema.table (or schema) concerned; NULL if none */
	bool custom;	    /* a [rule] with a pattern */
	bool passed;	    /* the guard made it safe: recorded, not counted */
	bool suppressed;    /* lifted by an allow directive */
	const char *reason; /* the directive's reason, when suppressed */
	unsigned inner;	    /* 0: the statement itself; k: its k-th inner statement */
};

struct rules_verdict {
	enum rules_decision decision;
	struct rules_finding *findings; /* arena array: the rules that fired */
	size_t nfindings;
	struct rules_finding *passed; /* arena array: guards that made a rule pass */
	size_t npassed;
	struct rules_directives directives; /* the statement's ddlgate: comments */
	bool pending; /* a fact was not fetched: evaluate again once answered */
};

/*
 * Evaluates one statement. st is the parsed model of sql[0..len) (the text
 * is needed for directives and custom rules); ctx describes the session.
 * Allocates findings from a (caller owns it). Fills out and returns it
 * decision: BLOCK when a non-suppressed finding blocks, else WARN when one
 * warns, else ALLOW. When out->pending is false, the decision is not BLOCK
 * and ctx->no_memory_update is false, ctx->mig learns what the statement
 * did. A proxy should rather set no_memory_update and apply the statement
 * when the server answered OK: a CREATE TABLE the server refuses (the table
 * exists) must not make that table look new.
 */
enum rules_decision rules_evaluate(const struct rules_engine *e, struct arena *a,
				   const struct stmt *st, const char *sql, size_t len,
				   const struct rules_ctx *ctx, struct rules_verdict *out);

/* The first blocking finding (NULL if none), for the ERR packet. */
const struct rules_finding *rules_verdict_blocker(const struct rules_verdict *v);

/*
 * Writes the client's error message for a blocking verdict:
 * "ddlgate: blocked by <rule-id>: <what and why>. <how to do it safely>".
 * Truncates to n bytes (NUL included). Returns false when v does not block.
 */
bool rules_format_error(const struct rules_verdict *v, char *buf, size_t n);

/*
 * Normalised statement text, the input of custom rules (the audit
 * fingerprint uses redact_normalise(), which also hides literals):
 * comments removed (the SQL inside executable comments
 * kept), every run of whitespace outside strings and quoted identifiers
 * collapsed to one space, no leading or trailing space, trailing ';'
 * dropped. Case, literals and quoting are kept as written. The result
 * lives in a.
 */
const char *rules_normalise(struct arena *a, const char *sql, size_t len, size_t *outlen);

#endif
