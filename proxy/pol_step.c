/*
 * Step-wise judging of multi-statement scripts. A guard probes the data as
 * it is before a command runs, so in `UPDATE t SET u = id; ALTER TABLE t
 * ADD UNIQUE (u)` it would see the duplicates the UPDATE removes and refuse
 * a script the server accepts. Such a script is judged in steps:
 *
 *   JUDGING: statement k needs a probe of a table an earlier statement of
 *     the step writes (rules/step.c), and nothing after k is refused
 *     whatever the data (window, conflict, audit, a rule that needs no
 *     probe: then the script is refused whole, before any of it runs)
 *   ──> the statements before k are forwarded alone (hs->step_to)
 *   ──> hook_result holds the answer to the step's last statement
 *       (pol_step_answer) until its record is durable; then it goes to the
 *       client with the more-results flag (sess_hook_step_release), the
 *       backend is idle, and k and the rest are judged with the normal probe
 *       path: on the session's own connection, so the probes see what the
 *       step wrote inside an open transaction. The relay then sends the
 *       next step (sess_hook_step) or ends the answer with the refusal
 *       (sess_hook_step_refuse).
 *
 * A step whose statement fails ends the script there, as the server would.
 * Boundaries are the splitter's, only for text that splits cleanly and is
 * read the same under every sql_mode and character set (cmd.text set).
 */
#include <string.h>

#include "proxy/guard.h"
#include "proxy/pol_internal.h"
#include "rules/lex.h"
#include "rules/step.h"

/* Offsets of statement i's text in cmd.text. */
static size_t pol_step_start(const struct pol_cmd *cmd, size_t i)
{
	return (size_t)(cmd->stmts[i].sql - cmd->text);
}

static size_t pol_step_end(const struct pol_cmd *cmd, size_t i)
{
	return pol_step_start(cmd, i) + cmd->stmts[i].len;
}

/* Whether the facts statement k waits for read rows that statements
 * [step_from, k) may write. */
static bool pol_step_reads_written(struct pol_sess *ps, size_t k)
{
	struct pol_cmd *cmd = &ps->cmd;
	size_t np = cmd->facts ? rules_fact_cache_npending(cmd->facts) : 0;
	if (np == 0)
		return false;
	struct step_table *reads = arena_alloc(&ps->arena, 2 * np * sizeof(*reads));
	size_t nr = 0;
	for (size_t i = 0; i < np; i++) {
		const struct rules_fact_query *q = rules_fact_cache_pending(cmd->facts, i);
		switch (q->kind) {
		case FACT_HAS_ROWS:
		case FACT_DUPLICATES:
		case FACT_NULLS:
		case FACT_COLUMN_DATA:
		case FACT_LOSSY_CHARSET:
		case FACT_NEGATIVES:
		case FACT_ORPHANS:
			break;
		default:
			continue; /* sizes and definitions: no row a write changes */
		}
		if (q->table.name)
			reads[nr++] = (struct step_table){q->table.schema ? q->table.schema : "",
							  q->table.name};
		if (q->kind == FACT_ORPHANS && q->ref.name)
			reads[nr++] =
			    (struct step_table){q->ref.schema ? q->ref.schema : "", q->ref.name};
	}
	if (nr == 0)
		return false;
	size_t nw = k - cmd->step_from;
	struct step_stmt *w = arena_alloc(&ps->arena, nw * sizeof(*w));
	for (size_t i = 0; i < nw; i++) {
		const struct pol_stmt *p = &cmd->stmts[cmd->step_from + i];
		if (p->st.keyword && strcmp(p->st.keyword, "CALL") == 0)
			return false; /* a CALL may answer with several results: no clean cut */
		w[i] = (struct step_stmt){p->sql, p->len, p->schema,
					  ps->hs->lex_server | (p->ansi ? LEX_ANSI_QUOTES : 0)};
	}
	return step_writes_any(w, nw, reads, nr);
}

/*
 * Judges statements [k, total) as far as the data does not matter: a
 * statement the window, a conflict, the audit log or a rule refuses
 * whatever the probes say is found now. Returns the index of the first
 * such statement, or total; *hold when a statement waits for a migration
 * to end instead ([migration] conflict = hold: the whole script waits
 * before any of it runs). Leaves the statements unjudged and the command's
 * memory and facts as they were.
 */
static size_t pol_step_lookahead(struct pol_sess *ps, size_t k, bool *hold)
{
	struct pol_cmd *cmd = &ps->cmd;
	struct rules_migration *keep_mig = cmd->scratch;
	struct rules_fact_cache *keep_facts = cmd->facts;
	cmd->scratch = rules_migration_clone(keep_mig);
	cmd->facts = NULL; /* no answer from before the step: every fact is pending */
	size_t found = cmd->total;
	*hold = false;
	for (size_t j = k; j < cmd->total && found == cmd->total && !*hold; j++) {
		struct pol_stmt *p = &cmd->stmts[j];
		if (p->ddl) {
			pol_ws_classify(ps, p);
			if (pol_policy_checks(ps, p, true)) {
				*hold = true;
				break;
			}
			for (size_t i = 0; i < p->npf; i++)
				if (p->pf[i].action == RULES_ACTION_BLOCK)
					found = j;
			if (found == cmd->total && !p->ws_scratch) {
				pol_engine(ps, p, true);
				if (p->v.decision == RULES_BLOCK && !p->v.pending)
					found = j;
			}
		}
		if (found == cmd->total)
			pol_memory_learn(ps, cmd->scratch, p);
	}
	rules_migration_free(cmd->scratch);
	if (cmd->facts)
		rules_fact_cache_free(cmd->facts);
	cmd->scratch = keep_mig;
	cmd->facts = keep_facts;
	for (size_t j = k; j < cmd->total; j++) {
		struct pol_stmt *p = &cmd->stmts[j];
		p->evaluated = p->probed = p->reprobed = false;
		p->npf = 0;
		p->held_who = NULL;
	}
	return found;
}

/* Whether the script may be cut before statement k at all. */
static bool pol_step_may_cut(const struct pol_sess *ps, size_t k)
{
	const struct pol_cmd *cmd = &ps->cmd;
	return cmd->text && !cmd->blocked && !cmd->no_step && k > cmd->step_from &&
	       cmd->com == COM_QUERY && ps->hs->multi_statements && !ps->hs->compressed;
}

enum pol_cut pol_step_here(struct pol_sess *ps, size_t k)
{
	struct pol_cmd *cmd = &ps->cmd;
	if (!pol_step_may_cut(ps, k))
		return POL_CUT_NONE;
	/* without live probes the guard's answer does not depend on the data:
	 * the script is decided up front */
	if (!guard_enabled() || !pol_step_reads_written(ps, k))
		return POL_CUT_NONE;
	bool hold;
	size_t j = pol_step_lookahead(ps, k, &hold);
	if (hold)
		return POL_CUT_HOLD; /* asked again when the hold ticks */
	cmd->no_step = true;	     /* decided once per step */
	if (j < cmd->total) {
		/* refused whatever the data: the whole script, before any of it
		 * runs, with the message of the statement that decides it */
		cmd->blocked = true;
		cmd->block_first = j + 1;
		return POL_CUT_NONE;
	}
	cmd->n = k;
	return POL_CUT_HERE;
}

/*
 * `SET @s = IF(...); PREPARE p FROM @s; EXECUTE p` as one script: the value
 * of @s is known only once the SET ran. Statement k (PREPARE ... FROM @v or
 * EXECUTE IMMEDIATE @v) waits for the statements before it: they go first
 * as a step, then @v is read on the session's own connection
 * (pol_own_variable) and k is judged as the text the server will run.
 * Statements after k that are refused whatever the data refuse the script
 * whole, as for a data cut. False when no cut is made here (k is then
 * judged as DDL of unknown content).
 */
bool pol_step_variable(struct pol_sess *ps, size_t k)
{
	struct pol_cmd *cmd = &ps->cmd;
	if (!pol_step_may_cut(ps, k) || !cmd->stmts[k].st.prepare_from_variable ||
	    !pol_own_variable_possible(ps, k))
		return false;
	bool hold;
	size_t j = k + 1 < cmd->total ? pol_step_lookahead(ps, k + 1, &hold) : cmd->total;
	if (k + 1 < cmd->total && (hold || j < cmd->total))
		return false; /* judged whole, as without the cut */
	cmd->no_step = true;
	cmd->n = k;
	return true;
}

void pol_step_forward(struct pol_sess *ps)
{
	struct pol_cmd *cmd = &ps->cmd;
	if (cmd->n < cmd->total && !ps->step_wait)
		ps->hs->step_to = pol_step_end(cmd, cmd->n - 1);
}

/* Judges the rest of the script, now that the step ran and its answer
 * went on: the relay's backend connection is idle, so the probes run on it
 * (pol_own.c) and see what the step wrote, committed or not. */
static void pol_step_judge(struct pol_sess *ps)
{
	ps->step_judging = true;
	if (!sess_hook_step_release(ps->s)) {
		/* nothing held: the relay has no step to continue, and nothing
		 * more of the script runs */
		struct pol_cmd *cmd = &ps->cmd;
		for (size_t i = cmd->step_from; i < cmd->n; i++)
			pol_submit(ps, &cmd->stmts[i], AUDIT_NOT_SENT, 0, 0, false);
		pol_cmd_end(ps);
		ps->step_out = HOOK_REJECT;
		ps->step_reply = (struct hook_reply){
		    1290, "HY000",
		    "ddlgate: blocked: the script's next step could not be sent. Send its "
		    "statements one at a time"};
		return;
	}
	if (!pol_own_variable(ps)) /* else the answer goes on to pol_step_rest */
		pol_step_rest(ps);
}

void pol_step_rest(struct pol_sess *ps)
{
	struct hook_reply reply = {0};
	enum pol_step step = pol_continue(ps);
	if (step != POL_DONE) {
		(void)pol_wait(ps, step);
		return;
	}
	enum hook_verdict v = pol_finish(ps, &reply);
	pol_deliver(ps, v, &reply);
}

/* Moves a script between steps on: once the step's answers are durable (a
 * DDL's record is written before its answer goes on), the rest is judged;
 * once it is decided, the relay sends the next step or the refusal. */
static void pol_step_flush(struct pol_sess *ps)
{
	if (!ps->step_wait || ps->durable_wait > 0)
		return;
	if (!ps->step_judging) {
		pol_step_judge(ps);
		if (!ps->step_wait || ps->step_out == HOOK_WAIT)
			return;
	}
	if (ps->step_out == HOOK_WAIT)
		return;
	ps->step_wait = false;
	ps->step_judging = false;
	if (ps->step_out == HOOK_FORWARD) {
		if (!sess_hook_step(ps->s, ps->step_from_off, ps->step_to_off)) {
			/* the relay has no step to continue: nothing more runs */
			struct hook_reply r = {1290, "HY000",
					       "ddlgate: blocked: the script's next step could not "
					       "be sent. Send its statements one at a time"};
			sess_hook_step_refuse(ps->s, &r);
		}
	} else {
		sess_hook_step_refuse(ps->s, &ps->step_reply);
	}
}

/* Posted: the relay holds the step's last answer by now (hook_result()
 * returned), or a decision on the rest came. */
static void pol_step_posted(struct sess *s, void *arg)
{
	(void)arg;
	struct pol_sess *ps = pol_of(s);
	if (ps)
		pol_step_flush(ps);
}

void pol_deliver(struct pol_sess *ps, enum hook_verdict v, const struct hook_reply *reply)
{
	if (!ps->step_wait) {
		sess_hook_resume(ps->s, v, v == HOOK_REJECT ? reply : NULL);
		return;
	}
	if (v == HOOK_WAIT)
		return;
	ps->step_out = v;
	if (v == HOOK_REJECT) {
		ps->step_reply = *reply;
	} else {
		struct pol_cmd *cmd = &ps->cmd;
		ps->step_from_off = pol_step_start(cmd, cmd->step_from);
		ps->step_to_off =
		    cmd->n < cmd->total ? pol_step_end(cmd, cmd->n - 1) : cmd->text_len;
	}
	sess_post(ps->s, pol_step_posted, NULL);
}

bool pol_step_durable(struct pol_sess *ps)
{
	if (!ps->step_wait)
		return false;
	pol_step_flush(ps);
	return true;
}

bool pol_step_answer(struct pol_sess *ps, const struct hook_result *r)
{
	struct pol_cmd *cmd = &ps->cmd;
	if (r->more || cmd->n >= cmd->total)
		return false;
	if (!r->ok || r->aborted) {
		cmd->n = cmd->total; /* the script stops here: the rest is never sent */
		return false;
	}
	/* the step ran: the rest is judged on the data it left, once the relay
	 * let the step's answer go (pol_step_flush) */
	cmd->step_from = cmd->n;
	cmd->next_eval = cmd->n;
	cmd->n = cmd->total;
	cmd->no_step = false;
	if (cmd->facts)
		rules_fact_cache_free(cmd->facts);
	cmd->facts = NULL;
	cmd->state = POL_CMD_JUDGING;
	ps->step_wait = true;
	ps->step_judging = false;
	ps->step_out = HOOK_WAIT;
	sess_post(ps->s, pol_step_posted, NULL);
	return true;
}

void pol_step_abort(struct pol_sess *ps)
{
	struct pol_cmd *cmd = &ps->cmd;
	ps->step_wait = false;
	ps->step_judging = false;
	for (size_t i = cmd->n; i < cmd->total; i++)
		if (cmd->stmts[i].record)
			pol_submit(ps, &cmd->stmts[i], AUDIT_NOT_SENT, 0, 0, false);
}
