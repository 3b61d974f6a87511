/*
 * The policy's private types, shared by policy.c (the hook entry points)
 * and the pol_*.c files that each own one concern:
 *
 *   pol_judge.c   decide each statement of a command (audit health, window,
 *                 migration conflict, rules_evaluate with the fact cache)
 *   pol_wait.c    the waits a judgement may need (guard probes, the cluster
 *                 lock poll, holds) and the hold ticker thread
 *   pol_memory.c  per-session migration membership and migration memory
 *   pol_prep.c    the prepared-DDL registry (judged again at each execute),
 *                 the last COM_STMT_PREPARE id, and the names SQL PREPARE bound
 *   pol_routine.c indirect execution: EXECUTE name and CALL judged as what
 *                 they run (procedure bodies read through the guard account)
 *   pol_record.c  the audit record of a judged statement
 *   pol_admin.c   the admin endpoints /status, /sessions, /window/open, /window/close
 *   pol_step.c    multi-statement scripts judged in steps (a later guard sees
 *                 the rows the earlier statements left)
 *   pol_workspace.c skeema's workspace schema: scratch space, and skeema's signal
 *
 * Threads: struct pol_sess and everything it owns is touched only on its
 * session's event-loop thread, except the list links and in_waiters, which
 * pol.lock guards (the ticker and /sessions walk the lists).
 */
#ifndef DDLGATE_PROXY_POL_INTERNAL_H
#define DDLGATE_PROXY_POL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/audit.h"
#include "proxy/guard.h"
#include "proxy/hook.h"
#include "proxy/migration.h"
#include "proxy/snapshot.h"
#include "rules/arena.h"
#include "rules/engine.h"
#include "rules/stmt.h"

#define COM_INIT_DB 0x02
#define COM_QUERY 0x03
#define COM_STMT_PREPARE 0x16
#define COM_STMT_EXECUTE 0x17
#define COM_STMT_CLOSE 0x19

#define POL_RULE_AUDIT "audit-unavailable"
/* A client's GET_LOCK of the cluster lock name (pol_refuse_cluster_lock). */
#define POL_RULE_CLUSTER_LOCK "cluster-lock"
#define POL_DEFAULT_LOCK_WAIT 31536000L /* the server's default lock_wait_timeout */
#define POL_HOLD_TICK_MS 100
#define POL_MAX_POLICY_FINDINGS 3
#define POL_AUDIT_MIN_ROOM (64u << 10) /* free bytes the audit log keeps in reserve */
#define POL_MAX_OBJECTS 32	       /* objects of one statement the conflict check compares */

/* A DDL (or a statement [audit] record covers) the client prepared
 * (COM_STMT_PREPARE) and the server accepted: judged and recorded again
 * each time it is executed. */
struct pol_prep {
	uint32_t id; /* the server's statement id */
	char *sql;   /* owned */
	size_t len;
	char *schema; /* owned; the current schema at prepare time; NULL = none */
	bool ansi;
	unsigned nparams;    /* its ? placeholders */
	unsigned lock_param; /* GET_LOCK(?) / RELEASE_LOCK(?): 1 + the placeholder
				that binds the lock name; 0 = no lock call */
	bool *secret;	     /* owned: nparams flags, the placeholders whose values
				are secrets (redact_secret_params); NULL = none */
	/* A plain statement (pol_prep_plain): one DML kept only for the audit,
	 * parsed once at prepare into its own arena; its executes skip the
	 * judging while no migration runs (pol_exec_light). */
	bool light;
	bool is_write;
	bool hist_known;    /* hist holds for the session's configuration (a reload clears it) */
	bool hist;	    /* the text names a migration history table */
	struct arena arena; /* owned when light */
	struct stmt st;	    /* parsed into arena */
	struct audit_text text; /* owned when light: the text as its records show it
				   (red NULL: too long, redacted per record) */
};

/* A name the session bound with SQL PREPARE name FROM ..., learnt from the
 * server's OK: EXECUTE name runs it. Names are case-insensitive. */
struct pol_named {
	char *name; /* owned */
	char *sql;  /* owned: the prepared text; NULL = from a variable (unknown) */
	size_t len;
	char *schema;  /* owned; current schema at prepare time; NULL = none */
	unsigned mode; /* lex mode at prepare time */
	unsigned gen;  /* the session's blind_gen when it was learnt */
	bool ddl;      /* the text is DDL, unknown, or a CALL */
};

/* A CALL of the current command judged by its procedure's body (or a
 * body to read for one). */
struct pol_call {
	size_t stmt;	    /* index in cmd.stmts (unused for a body to read) */
	const char *schema; /* borrowed (arena) */
	const char *name;   /* borrowed (arena) */
};

/* One statement of the current command. Lives in the session's arena for
 * one command. */
struct pol_stmt {
	const char *sql; /* borrowed: the session's arena */
	size_t len;
	const char *schema; /* borrowed (arena): current schema when it runs (a USE
			       earlier in the command changes it); NULL = none */
	struct stmt st;	    /* parsed into the arena */
	bool ddl;	    /* judged as DDL (window, conflict, rules) */
	bool is_write;
	bool record;		     /* goes into the audit log, not submitted yet */
	bool change;		     /* changes schema, accounts, server settings or rows:
					recorded ahead (an intent) when record is set */
	bool sysconf;		     /* SET GLOBAL / PERSIST, INSTALL / UNINSTALL */
	struct audit_intent *intent; /* reference owned: its intent record */
	bool cut_record;	     /* no room for its text: the record keeps a head */
	bool has_sig;
	struct migration_signal sig;
	long set_lock_wait; /* SQLSCAN_LOCK_WAIT_NONE / _DEFAULT / seconds */
	int set_ansi;	    /* SET sql_mode: -1 no change, 0 "..." is a string, 1 an identifier */
	bool set_notes;	    /* names sql_notes (SET, SET STATEMENT ... FOR) */
	long lock_wait;	    /* the session's lock_wait_timeout when it runs */
	bool ansi;	    /* parsed with ANSI_QUOTES */

	bool evaluated; /* v holds the engine's verdict */
	bool probed;	/* facts already fetched once */
	bool reprobed;	/* ... and a second time: a guard asked again once it knew an answer */
	struct rules_verdict v;
	enum audit_decision decision;
	struct {
		const char *rule;
		enum rules_action action;
		char *message;	       /* borrowed: arena */
	} pf[POL_MAX_POLICY_FINDINGS]; /* the policy's own findings */
	size_t npf;
	int64_t held_us;	       /* how long it waited for a migration (conflict = hold) */
	char *held_who;		       /* borrowed (arena): the migration it waited for */
	bool done;		       /* its result was attributed */
	bool call;		       /* a CALL: prepared, its executes are watched */
	bool binds;		       /* may PREPARE names out of sight (an unread CALL body,
					  EXECUTE IMMEDIATE): once it ran, names are unsure */
	bool ws_schema;		       /* every object lies in skeema's workspace: no conflict */
	bool ws_scratch;	       /* ... on tables this client process made there: no rules */
	unsigned lock_param;	       /* prepared GET_LOCK(?) / RELEASE_LOCK(?): 1 + the
					  placeholder of the name (migration_scan_bound) */
	bool light;		       /* recorded without judging (pol_light.c); for an
					  execute, st and sql belong to its pol_prep */
	const struct audit_text *text; /* borrowed (its pol_prep): the redacted text,
					  or NULL */
};

/*
 * Where the session's current command is. The one field that says so:
 *
 *   IDLE ──hook_command (slow path)──> JUDGING ──all allowed──> FORWARDED
 *                                        │  ^                      │
 *            guard probes / cluster poll │  │ post wakes it        │ last hook_result
 *            / conflict = hold           v  │                      v
 *                              PROBING, CLUSTER, HOLDING          IDLE
 *
 * Between "all allowed" and FORWARDED a command whose statements change
 * something waits in INTENT until their intent records are durable
 * (pol_record.c); an intent that cannot be written blocks the command.
 * Before that, a DDL the lock-wait protection covers may wait in LOOKING
 * while transactions older than long_transaction_ms hold its table
 * (pol_mdl.c); past the deadline it is blocked.
 *
 * A blocked command goes from JUDGING (or a wait) straight back to IDLE
 * with HOOK_REJECT; a session that ends or sends a new command first
 * records the unfinished one as aborted (pol_abort_cmd).
 */
enum pol_cmd_state {
	POL_CMD_IDLE,	 /* no command in the policy's hands */
	POL_CMD_JUDGING, /* being judged, on the session's thread */
	POL_CMD_PROBING, /* HOOK_WAIT: guard probes run for cmd.job */
	POL_CMD_CLUSTER, /* HOOK_WAIT: the cluster lock is being polled */
	POL_CMD_HOLDING, /* HOOK_WAIT: held by a migration conflict; ticker re-checks */
	POL_CMD_INTENT,	 /* HOOK_WAIT: the intent records are being made durable */
	POL_CMD_LOOKING, /* HOOK_WAIT: a DDL waits for old transactions on its table (pol_mdl.c) */
	POL_CMD_FORWARDED, /* sent to the server; answers come to hook_result */
};

/* The command being judged or answered. Reset by pol_cmd_end(). */
struct pol_cmd {
	enum pol_cmd_state state;
	struct pol_stmt *stmts; /* borrowed: arena array */
	size_t n;
	size_t next_eval; /* the next statement pol_continue judges */
	uint8_t com;
	int64_t start_us;		 /* wall clock, for the record */
	int64_t start_mono;		 /* monotonic, for durations */
	int64_t hold_started;		 /* monotonic; 0 = never held */
	int64_t hold_deadline;		 /* monotonic */
	bool blocked;			 /* some statement blocks: evaluate the rest offline */
	bool cluster_checked;		 /* the cluster lock was polled for this command */
	struct rules_fact_cache *facts;	 /* owned */
	struct rules_migration *scratch; /* owned: multi-statement commands judge
					    on a copy of the memory */
	struct guard_job *job;		 /* reference owned */
	size_t job_stmt;
	unsigned nparams;	   /* COM_STMT_EXECUTE: parameters of the prepared statement */
	struct pol_params *params; /* borrowed: arena; COM_STMT_EXECUTE: what it bound */
	unsigned intent_wait;	   /* intent records not yet durable (POL_CMD_INTENT) */
	struct pol_call *calls;	   /* borrowed: arena; CALLs judged by procedure bodies */
	size_t ncalls;
	struct pol_call *reading; /* borrowed: arena; the bodies cmd.job reads */
	size_t nreading;
	unsigned call_rounds; /* body reads so far */
	bool routine_wait;    /* cmd.job reads procedure bodies, not facts */
	bool mdl_looked;      /* pol_mdl_look ran for this command; ps->mdl belongs to it */
	size_t block_first;   /* 1 + the statement whose message a refusal gives; 0 = the first */
	/* A script judged in steps (pol_step.c): */
	const char *text; /* borrowed (arena): the SQL text the statements point into;
			     NULL = the command cannot be cut */
	size_t text_len;
	size_t total;	    /* statements of the script; n counts those of the steps
			       judged so far */
	size_t step_from;   /* the first statement of the step being judged */
	bool no_step;	    /* the step decision was taken for this step */
	bool own_floor_set; /* the account's right to take the floor was read on the
			       own connection for this command (pol_own.c) */
	enum migration_floor own_floor;
};

/* A claim on the floor whose answer waits for the account's grant check. */
struct pol_claim {
	struct migration_signal sig;
	bool ok;
	bool has_value;
	char value[64];
	uint64_t affected;
};

/* The policy's state of one client session; hook_sess.policy points here. */
/* One wait of a protected DDL for its metadata lock, for the audit record. */
struct pol_mdl_try {
	bool sent;	/* false: held before sending (an old transaction on the table) */
	bool cancelled; /* the watcher stopped the wait (KILL QUERY) */
	bool retried;	/* the DDL went (again) to the server after it */
	int64_t waited_ms;
	struct guard_blocker blocker;
};
#define POL_MDL_MAX_TRIES 16 /* kept per DDL; later ones replace the last */

/* A DDL's metadata-lock protection (pol_mdl.c), per session. */
struct pol_mdl {
	bool active;	   /* the forwarded command is protected */
	bool resend;	   /* a stopped attempt may go again unseen (one-statement,
			      one-packet COM_QUERY, or an execute without
			      parameters); else it is refused at once */
	bool backing_off;  /* an attempt was stopped: the retry timer runs */
	bool replace;	   /* the held answer becomes reply (lock-wait-exceeded) */
	uint64_t watch;	   /* the guard watcher's handle (a watch or a look); 0 = none */
	size_t stmt;	   /* the protected statement's index in the command */
	unsigned attempts; /* sent so far */
	int64_t first_mono, last_mono; /* when the first and the last attempt (or the look) began */
	int64_t try_mono;	       /* when the current attempt (or the look) began */
	int64_t held_ms; /* held before sending while an old transaction had the table */
	char schema[65], table[65];
	struct hook_reply reply;
	struct pol_mdl_try *tries; /* borrowed: the session's arena, POL_MDL_MAX_TRIES */
	unsigned ntries;
};

/* Questions to the session's own backend connection (pol_own.c). */
struct pol_own {
	uint8_t *payload; /* owned: the held command, judged again once the mode is in */
	size_t len;
	bool mode_ready;   /* the session's sql_mode and charset were read for it */
	bool mode_ok;	   /* ... and the server answered */
	bool ansi;	   /* its ANSI_QUOTES */
	unsigned bits;	   /* its NO_BACKSLASH_ESCAPES and character set class */
	unsigned cmd_bits; /* the bits the current command is read with (0 = none known) */
	bool var_wait;	   /* the value of a PREPARE / EXECUTE IMMEDIATE variable is asked */
	bool floor_wait;   /* the account's DDL privileges are asked */
	bool probing;	   /* guard probes run on the own connection */
	const struct rules_fact_query **qs; /* owned array; the queries are the cache's */
	struct rules_fact_answer *ans;	    /* owned */
	bool *fallback;			    /* owned: ask the guard connection instead */
	size_t n, next;
	int64_t sent_us; /* monotonic: when the probe in flight was sent */
};

/* The parameters of one COM_STMT_EXECUTE as the command keeps them (arena):
 * decoded by pol_params.c while the relay's payload is at hand. */
struct pol_params {
	bool decoded;	     /* false: types unknown (pkt_exec_decode refused) */
	const char **types;  /* n type names */
	const char **values; /* n shown values (NULL entry = SQL NULL), redacted
				and cut for the record */
	const char **raw;    /* n values as bound, cut at POL_PARAM_KEEP (NULL
				entry = NULL or not in the execute) */
	unsigned n;
};
#define POL_PARAM_KEEP 256 /* bytes of a value kept for the policy (lock names) */
#define POL_PARAM_SHOW 64  /* bytes of a value the record shows */

struct pol_sess {
	uint64_t conn_id;
	uint32_t kill_thread; /* the server thread whose connection the command in
			       * flight KILLs; 0 = none (its OK waits for that end) */
	struct sess *s;	      /* borrowed: the relay's session */
	struct hook_sess *hs; /* borrowed: valid until hook_session_end() */
	struct snap *conf;    /* reference owned: the snapshot it judges with */
	struct migration_sess mig;
	bool registered;		/* in the migration registry */
	bool pid_sought;		/* hs->client_pid looked up in /proc once */
	struct guard_job *floor_job;	/* owned: the grant check a held claim waits for */
	struct pol_claim claim;		/* that claim (pol_memory.c) */
	struct rules_migration *memory; /* owned: what the server confirmed in this command
					   while the session takes part in no migration (a
					   migration's own memory is in the registry) */
	struct pol_prep *prep;		/* owned: prepared DDL by statement id */
	size_t nprep, capprep;
	uint32_t last_prep;	      /* the server's last COM_STMT_PREPARE id (0 = none): what
					 COM_STMT_EXECUTE of id 0xFFFFFFFF runs */
	const struct hook_exec *exec; /* borrowed: the execute hook_stmt_execute()
					 hands to hook_command(), during that call */
	struct pol_named *named;      /* owned: SQL PREPARE names */
	size_t nnamed, capnamed;
	unsigned blind_gen; /* bumped when a CALL or EXECUTE IMMEDIATE may have bound
			       names out of ddlgate's sight: what it learnt of
			       names before is no longer sure */
	long lock_wait;	    /* session lock_wait_timeout, seconds */
	bool ansi_quotes;   /* sql_mode makes "..." an identifier */
	struct arena arena; /* one command's text, parse and messages */
	struct pol_cmd cmd;
	unsigned durable_wait; /* answers held back until their record is durable */
	struct pol_mdl mdl;
	struct pol_own own;
	atomic_uint mdl_attempts; /* /sessions: attempts of the protected DDL in flight; 0 = none */
	_Atomic uint64_t mdl_watch; /* /status: the watcher handle of that DDL; 0 = none */
	/* A script judged in steps: the relay holds the last answer of a step
	 * until it is durable, lets it go, and the rest is judged (pol_step.c). */
	bool step_wait;
	bool step_judging;	    /* the step's answer went on: the rest is being judged */
	enum hook_verdict step_out; /* the decision on the rest; HOOK_WAIT = not yet */
	size_t step_from_off, step_to_off;
	struct hook_reply step_reply;
	/* Under pol.lock: */
	struct pol_sess *prev, *next; /* pol.sessions list, for /sessions */
	struct pol_sess *wnext;	      /* pol.waiters list, for the ticker */
	bool in_waiters;
};

/* Process-wide policy state (policy.c). */
struct pol_state {
	pthread_mutex_t lock;	     /* conf swaps, sessions, waiters, ticker */
	_Atomic(struct snap *) conf; /* reference owned; swapped under lock */
	struct audit *audit;	     /* borrowed from serve.c between hook_init and
					hook_shutdown; NULL = no audit log */
	atomic_bool audit_suspect;   /* the up-front check could not write the log */
	struct pol_sess *sessions;   /* borrowed: every live session */
	struct pol_sess *waiters;    /* borrowed: sessions in POL_CMD_HOLDING */
	pthread_t ticker;
	bool ticker_running, stopping;
	pthread_cond_t cond; /* wakes the ticker to stop */
};
extern struct pol_state pol;

/* policy.c */
struct snap *pol_conf_get(void);
/* policy.c: what a statement does to the session, for pol_answer.c: the
 * schema a USE switches to (arena copy, or NULL), and whether it is a SQL
 * PREPARE (which runs nothing yet). */
const char *pol_use_schema(struct pol_sess *ps, const struct pol_stmt *p);
bool pol_prepares(const struct pol_stmt *p);
/* The session's current schema copied into the arena (NULL: none), and
 * the start of a new command's judging (arena and ps->cmd reset). */
const char *pol_schema_now(struct pol_sess *ps);
void pol_cmd_start(struct pol_sess *ps, uint8_t com);
unsigned pol_lex_mode(const struct pol_sess *ps, bool ansi);
enum hook_verdict pol_command_go(struct pol_sess *ps, struct hook_reply *reply);

/* pol_judge.c */
enum pol_step { POL_DONE, POL_WAIT_PROBES, POL_WAIT_HOLD, POL_WAIT_CLUSTER };
enum pol_step pol_continue(struct pol_sess *ps);
enum hook_verdict pol_finish(struct pol_sess *ps, struct hook_reply *reply);
bool pol_policy_checks(struct pol_sess *ps, struct pol_stmt *p, bool may_hold);
void pol_engine(struct pol_sess *ps, struct pol_stmt *p, bool with_facts);
void pol_cmd_end(struct pol_sess *ps);
bool pol_judged_ddl(const struct stmt *st);
void pol_add_pf(struct pol_sess *ps, struct pol_stmt *p, const char *rule, enum rules_action action,
		char *message);
bool pol_audit_preflight(const char *path, uint64_t need);
void pol_block_audit(struct pol_sess *ps, struct pol_stmt *p, const char *room);
size_t pol_objects(const struct stmt *st, struct migration_obj *out, size_t max);

/* pol_step.c: pol_step_here() (statement k waits for probes) decides
 * whether the statements before k go first as a step of their own;
 * pol_step_variable() whether a PREPARE / EXECUTE IMMEDIATE of a variable
 * waits for the statements before it to run (true: cut there);
 * pol_step_rest() judges the rest between steps once its statements are
 * prepared; pol_step_forward() tells the relay where the step ends; pol_step_answer()
 * takes over at a step's last answer (true: held, the rest is judged);
 * pol_deliver() gives a decision to the relay (sess_hook_resume, or the
 * next step); pol_step_durable() is called when the held answers are
 * durable (true: a step took them); pol_step_abort() records the statements
 * never sent. */
enum pol_cut { POL_CUT_NONE, POL_CUT_HERE, POL_CUT_HOLD };
enum pol_cut pol_step_here(struct pol_sess *ps, size_t k);
bool pol_step_variable(struct pol_sess *ps, size_t k);
void pol_step_rest(struct pol_sess *ps);
void pol_step_forward(struct pol_sess *ps);
bool pol_step_answer(struct pol_sess *ps, const struct hook_result *r);
void pol_deliver(struct pol_sess *ps, enum hook_verdict v, const struct hook_reply *reply);
bool pol_step_durable(struct pol_sess *ps);
void pol_step_abort(struct pol_sess *ps);

/* pol_workspace.c: skeema's workspace schema. pol_ws_classify() sets
 * p->ws_schema and p->ws_scratch when p is judged; pol_ws_result() learns
 * the workspace tables a client process created or dropped from the
 * server's answer; pol_ws_signal() reads the workspace's creation as
 * skeema's migration signal. */
void pol_ws_classify(struct pol_sess *ps, struct pol_stmt *p);
void pol_ws_result(struct pol_sess *ps, const struct pol_stmt *p, bool ok);
bool pol_ws_signal(struct pol_sess *ps, const struct pol_stmt *p, struct migration_signal *sig);

/* pol_wait.c */
enum hook_verdict pol_wait(struct pol_sess *ps, enum pol_step step);
bool pol_start_probes(struct pol_sess *ps, size_t i);
bool pol_guard_probes(struct pol_sess *ps, size_t i);
void pol_resume(struct pol_sess *ps);
void pol_waiters_del_locked(struct pol_sess *ps);
void pol_cluster_checked(struct sess *s, void *arg);

/* pol_memory.c */
void pol_client_host(const struct hook_sess *hs, char *buf, size_t n);
const char *pol_client_id(struct pol_sess *ps, char *host, size_t n, char *proc, size_t procn);
bool pol_in_migration(struct pol_sess *ps, struct migration_info *peer_out);
void pol_memory_reset(struct pol_sess *ps);
void pol_memory_next_command(struct pol_sess *ps);
void pol_memory_wrote(struct pol_sess *ps, const char *sql, size_t len, unsigned mode,
		      const char *kw, size_t kwlen);
bool pol_history_table(const struct pol_sess *ps, const char *table);
void pol_history_touch(struct pol_sess *ps);
void pol_history_expire(struct pol_sess *ps);
bool pol_history_signal(struct pol_sess *ps, const char *sql, size_t len, unsigned mode,
			struct migration_signal *sig);
void pol_memory_learn(struct pol_sess *ps, struct rules_migration *m, const struct pol_stmt *p);
void pol_memory_commit(struct pol_sess *ps, const struct pol_stmt *p, uint16_t warnings);
void pol_memory_notes_changed(void);
struct rules_migration *pol_memory_copy(struct pol_sess *ps);
bool pol_mig_sync(struct pol_sess *ps);
bool pol_mig_signal(struct pol_sess *ps, const struct migration_signal *sig, bool ok,
		    const char *value, uint64_t affected, bool *held);
void pol_floor_end(struct pol_sess *ps);
bool pol_refuse_cluster_lock(struct pol_sess *ps, struct hook_reply *reply);

/* pol_prep.c */
struct pol_prep *pol_prep_find(struct pol_sess *ps, uint32_t id);
void pol_prep_del(struct pol_sess *ps, struct pol_prep *pp);
void pol_prep_add(struct pol_sess *ps, uint32_t id, const struct pol_stmt *p);
/* The server answered the command's COM_STMT_PREPARE with PREPARE_OK for
 * stmt_id: keep what must be judged or recorded at each execute. */
void pol_stmt_prepared(struct pol_sess *ps, uint32_t stmt_id);

struct classify_info;
/* pol_light.c: a DML only the audit wants, recorded without judging while
 * no migration runs. A text query (one statement the fast path lets
 * through): whether it may, and the path; mode is its lex mode. An execute
 * of a plain prepared statement: the same. */
bool pol_light_text_ok(struct pol_sess *ps, enum stmt_kind kind, const struct classify_info *ci);
enum hook_verdict pol_light_text(struct pol_sess *ps, uint8_t com, const char *sql, size_t len,
				 const struct classify_info *ci, unsigned mode,
				 struct hook_reply *reply);
bool pol_exec_light_ok(struct pol_sess *ps, struct pol_prep *pp);
enum hook_verdict pol_exec_light(struct pol_sess *ps, const struct pol_prep *pp,
				 struct hook_reply *reply);

/* The parameters of the execute x of pp, decoded into the arena (never
 * NULL; decoded false when they cannot be read). */
struct pol_params *pol_params_decode(struct pol_sess *ps, const struct pol_prep *pp,
				     const struct hook_exec *x);
/* A prepared lock call's name from its execute: fills p's signal. */
void pol_params_lock(struct pol_stmt *p, const struct pol_prep *pp, const struct pol_params *pa);
void pol_prep_clear(struct pol_sess *ps);
struct pol_named *pol_named_find(struct pol_sess *ps, const char *name);
void pol_named_set(struct pol_sess *ps, const char *name, const char *sql, const char *schema,
		   unsigned mode, bool ddl);
void pol_named_forget(struct pol_sess *ps, const char *name);
void pol_named_clear(struct pol_sess *ps);

/* pol_routine.c */
#define POL_LAST_PREPARED 0xFFFFFFFFu /* COM_STMT_EXECUTE: the last statement prepared */
#define POL_ROUTINE_TTL_MS 3000	      /* how long a procedure body read is trusted */
enum pol_indirect { POL_IND_NONE, POL_IND_EXECUTE, POL_IND_DEALLOCATE, POL_IND_CALL };
enum pol_indirect pol_indirect_target(const char *sql, size_t len, unsigned mode, char *schema,
				      size_t schemalen, char *name, size_t namelen);
bool pol_indirect_maybe(struct pol_sess *ps, uint8_t com, const char *kw, size_t kwlen,
			const char *sql, size_t len);
bool pol_ddl_restricted(struct pol_sess *ps, const char *schema);
void pol_indirect_stmt(struct pol_sess *ps, size_t i, unsigned mode);
bool pol_routine_fetch(struct pol_sess *ps);
void pol_indirect_learn(struct pol_sess *ps, const struct pol_stmt *p, unsigned mode, bool ok);
void pol_routine_forget_all(void);

/* pol_record.c */
bool pol_submit(struct pol_sess *ps, struct pol_stmt *p, enum audit_outcome o, uint16_t code,
		uint64_t affected, bool wait);
void pol_durable_fn(struct sess *s, void *arg);
unsigned pol_intents_start(struct pol_sess *ps);
void pol_intents_drop(struct pol_cmd *cmd);

/* pol_mdl.c: metadata-lock safety for DDL. pol_mdl_covers:
 * the protection applies to the command being judged (unbounded-lock-wait
 * then stays silent). pol_mdl_forward: the command is being forwarded.
 * pol_mdl_result: the answer to statement r, or NULL when it is held for a
 * retry; a stopped DDL past its deadline comes back as mine (ERR 1290).
 * pol_mdl_deliver: whether the answer may go now (now = the caller's
 * answer); false while a replacement is due. pol_mdl_answer: releases the
 * held answer, replaced when due (posted, or when its record is durable). */
bool pol_mdl_covers(const struct pol_sess *ps);
/* Before an allowed covered DDL is sent: true when it waits (POL_CMD_LOOKING)
 * for transactions older than [guard] long_transaction_ms that hold its
 * table; pol_finish() runs again once they ended or the deadline passed. */
bool pol_mdl_look(struct pol_sess *ps);
void pol_mdl_forward(struct pol_sess *ps);
const struct hook_result *pol_mdl_result(struct pol_sess *ps, const struct hook_result *r,
					 struct hook_result *mine);
bool pol_mdl_deliver(struct pol_sess *ps, bool now);
void pol_mdl_answer(struct sess *s, void *arg);
void pol_mdl_end(struct pol_sess *ps);
/* Adds the waits of the protected DDL p, whose record r is, to r. */
void pol_mdl_audit(const struct pol_sess *ps, const struct pol_stmt *p, struct audit_rec *r);

/* pol_own.c: questions to the session's own backend connection while its
 * command is held. pol_own_mode: ambiguous text, the session's sql_mode and
 * character set (POL_OWN_ASKING: hook_command runs again with the answer;
 * POL_OWN_EXACT: *ansi and pol_lex_mode() now read as the server does).
 * pol_own_variable: the first statement (of the step, between a script's
 * steps) takes its text from a user variable, whose value is being read
 * (true: pol_command_go follows, or pol_step_rest between steps).
 * pol_own_probes: the pending facts of statement i are probed on the own
 * connection (true: pol_resume follows). pol_own_floor: without a [guard]
 * account, a command that claims the migration floor first reads whether
 * its account may change the schema (true: the command goes on after;
 * cmd.own_floor holds the verdict for pol_mig_signal). */
enum pol_own_read { POL_OWN_NONE, POL_OWN_ASKING, POL_OWN_EXACT };
enum pol_own_read pol_own_mode(struct pol_sess *ps, const uint8_t *payload, size_t len, bool *ansi);
bool pol_own_variable(struct pol_sess *ps);
bool pol_own_variable_possible(struct pol_sess *ps, size_t i);
bool pol_own_floor(struct pol_sess *ps);
bool pol_own_probes(struct pol_sess *ps, size_t i);
void pol_own_clear(struct pol_sess *ps);

/* pol_admin.c */
void pol_admin_register(void);

/* The policy state of the session a posted function runs for (NULL once
 * the hook has let go of it). Posts go through sess_post_id(), which runs
 * nothing for a session that ended. */
static inline struct pol_sess *pol_of(struct sess *s)
{
	return sess_hook_sess(s)->policy;
}

#endif
