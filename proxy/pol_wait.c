/* Waiting during a judgement: guard probes, the cluster lock poll, holds and the hold ticker
 * thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "proxy/clock.h"
#include "proxy/guard.h"
#include "proxy/mem.h"
#include "proxy/metrics.h"
#include "proxy/pol_internal.h"
#include "rules/probe_sql.h"

static void pol_probes_done(struct sess *s, void *arg);

/* ---- guard probes ---- */

/*
 * Starts live probes for the pending facts of statement i: on the
 * session's own connection where it can ask (pol_own.c), else on the
 * guard connection. Returns false when probes cannot run (neither can
 * ask, nothing probeable): the caller keeps the verdict it has (unknown
 * facts stay unguarded).
 */
bool pol_start_probes(struct pol_sess *ps, size_t i)
{
	return pol_own_probes(ps, i) || pol_guard_probes(ps, i);
}

/* The same on a guard connection only (no [guard] account: false). */
bool pol_guard_probes(struct pol_sess *ps, size_t i)
{
	struct rules_fact_cache *fc = ps->cmd.facts;
	size_t n = rules_fact_cache_npending(fc);
	const struct cfg *c = ps->conf->cfg;

	if (n == 0 || !guard_enabled())
		return false;
	struct guard_job *j = guard_job_new(n);
	for (size_t k = 0; k < n; k++) {
		char sql[8192];
		if (probe_sql_build(rules_fact_cache_pending(fc, k), c->guard.probe_timeout_ms, sql,
				    sizeof(sql)))
			guard_job_set(j, k, sql);
		/* unset: the worker runs a placeholder and the answer stays failed */
	}
	ps->cmd.job = j;
	ps->cmd.job_stmt = i;
	if (!guard_submit(j, ps->s, pol_probes_done, NULL)) {
		guard_job_release(j);
		ps->cmd.job = NULL;
		return false;
	}
	return true;
}

/* Stores the probe results in the fact cache. */
static void pol_take_probes(struct pol_sess *ps)
{
	struct rules_fact_cache *fc = ps->cmd.facts;
	struct guard_job *j = ps->cmd.job;
	size_t n = rules_fact_cache_npending(fc);

	if (n > guard_job_count(j))
		n = guard_job_count(j);
	/* collect the questions first: answering one renumbers the rest */
	struct rules_fact_answer *ans = mem_calloc(n ? n : 1, sizeof(*ans), "probe answers");
	const struct rules_fact_query **qs = mem_calloc(n ? n : 1, sizeof(*qs), "probe answers");
	for (size_t k = 0; k < n; k++)
		qs[k] = rules_fact_cache_pending(fc, k);
	for (size_t k = 0; k < n; k++) {
		const struct guard_result *r = guard_job_result(j, k);
		metrics_probe(r->us);
		if (r->ok) {
			probe_sql_answer_mask(
			    qs[k], r->has_row ? (const char *const *)r->vals : NULL, r->lens,
			    r->ncols, ps->conf->cfg->guard.sample_values == CFG_SAMPLE_VALUES_MASK,
			    &ans[k]);
		} else if ((r->code == 1146 || r->code == 1049) && qs[k]->kind == FACT_HAS_ROWS) {
			/* No such table where the statement will look: a DROP (IF
			 * EXISTS) or CREATE OR REPLACE of it destroys nothing. */
			ans[k].status = RULES_FACT_OK;
			ans[k].value = RULES_NO;
			snprintf(ans[k].detail, sizeof(ans[k].detail),
				 "probe: the table does not exist");
		} else if (r->code == 1146 || r->code == 1049) {
			/* A question about the data of a table the probe cannot
			 * find (duplicates, NULLs, orphans) has no answer: the table
			 * may be created earlier in the same command, or read
			 * differently by the server. A data-dependent rule stays
			 * conservative. */
			ans[k].status = RULES_FACT_FAILED;
			ans[k].value = RULES_UNKNOWN;
			snprintf(ans[k].detail, sizeof(ans[k].detail),
				 "probe: the table was not found, so its data cannot be checked");
		} else {
			ans[k].status = RULES_FACT_FAILED;
			ans[k].value = RULES_UNKNOWN;
			snprintf(ans[k].detail, sizeof(ans[k].detail), "%s", r->error);
		}
	}
	for (size_t k = 0; k < n; k++)
		rules_fact_cache_answer(fc, qs[k], &ans[k]);
	free(qs);
	free(ans);
	guard_job_release(j);
	ps->cmd.job = NULL;
}

/* ---- the waiters list ---- */

/* Caller holds pol.lock. */
void pol_waiters_del_locked(struct pol_sess *ps)
{
	if (!ps->in_waiters)
		return;
	for (struct pol_sess **pp = &pol.waiters; *pp; pp = &(*pp)->wnext) {
		if (*pp == ps) {
			*pp = ps->wnext;
			break;
		}
	}
	ps->in_waiters = false;
}

static void pol_hold_add(struct pol_sess *ps)
{
	pthread_mutex_lock(&pol.lock);
	if (!ps->in_waiters) {
		ps->wnext = pol.waiters;
		pol.waiters = ps;
		ps->in_waiters = true;
	}
	pthread_mutex_unlock(&pol.lock);
}

static void pol_hold_del(struct pol_sess *ps)
{
	pthread_mutex_lock(&pol.lock);
	pol_waiters_del_locked(ps);
	pthread_mutex_unlock(&pol.lock);
}

/* ---- entering and leaving a wait ---- */

/*
 * The judgement stopped at step (not POL_DONE): the command enters the
 * matching wait state; a hold joins the waiters the ticker wakes. Returns
 * HOOK_WAIT for hook_command().
 */
enum hook_verdict pol_wait(struct pol_sess *ps, enum pol_step step)
{
	switch (step) {
	case POL_WAIT_PROBES:
		ps->cmd.state = POL_CMD_PROBING;
		break;
	case POL_WAIT_CLUSTER:
		ps->cmd.state = POL_CMD_CLUSTER;
		break;
	default:
		ps->cmd.state = POL_CMD_HOLDING;
		pol_hold_add(ps);
		break;
	}
	return HOOK_WAIT;
}

/* After a wait: continue judging and resume the relay when decided. */
void pol_resume(struct pol_sess *ps)
{
	struct hook_reply reply = {0};

	ps->cmd.state = POL_CMD_JUDGING;
	enum pol_step step = pol_continue(ps);
	if (step != POL_WAIT_HOLD)
		pol_hold_del(ps);
	if (step != POL_DONE) {
		(void)pol_wait(ps, step); /* their post resumes */
		return;
	}
	enum hook_verdict v = pol_finish(ps, &reply);
	if (v == HOOK_WAIT)
		return; /* the intent records are being written (pol_record.c) */
	pol_deliver(ps, v, &reply);
}

/* Posted by the guard worker: the probes of cmd.job answered. */
static void pol_probes_done(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_of(s);
	if (!ps || ps->cmd.state != POL_CMD_PROBING || !ps->cmd.job)
		return;
	pol_take_probes(ps);
	pol_resume(ps);
}

/* Posted by the cluster worker: the lock state is fresh. */
void pol_cluster_checked(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_of(s);
	if (!ps || ps->cmd.state != POL_CMD_CLUSTER)
		return;
	pol_resume(ps);
}

/* Posted by the ticker: re-check a held statement. */
static void pol_hold_tick(struct sess *s, void *arg)
{
	struct pol_sess *ps = pol_of(s);
	if (!ps || ps->cmd.state != POL_CMD_HOLDING)
		return;
	pol_resume(ps);
}

/* ---- the hold ticker thread ---- */

/* Wakes every holding session a few times a second to re-check. */
static void *pol_ticker(void *unused)
{
	pthread_mutex_lock(&pol.lock);
	while (!pol.stopping) {
		struct timespec ts = clk_wall_ts_in(POL_HOLD_TICK_MS);
		pthread_cond_timedwait(&pol.cond, &pol.lock, &ts);
		for (struct pol_sess *p = pol.waiters; p; p = p->wnext)
			sess_post_id(p->conn_id, pol_hold_tick, NULL);
	}
	pthread_mutex_unlock(&pol.lock);
	return NULL;
}

bool hook_ticker_start(char *err, size_t errlen)
{
	pthread_mutex_lock(&pol.lock);
	pol.stopping = false;
	if (!pol.ticker_running) {
		int rc = pthread_create(&pol.ticker, NULL, pol_ticker, NULL);
		if (rc != 0) {
			pthread_mutex_unlock(&pol.lock);
			snprintf(err, errlen, "hold ticker: %s", strerror(rc));
			return false;
		}
		pol.ticker_running = true;
	}
	pthread_mutex_unlock(&pol.lock);
	return true;
}

void hook_ticker_stop(void)
{
	pthread_mutex_lock(&pol.lock);
	pol.stopping = true;
	pthread_cond_broadcast(&pol.cond);
	bool running = pol.ticker_running;
	pol.ticker_running = false;
	pthread_mutex_unlock(&pol.lock);
	if (running)
		pthread_join(pol.ticker, NULL);
}
