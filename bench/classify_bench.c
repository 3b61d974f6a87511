/*
 * Classifier and parser throughput, single core: statements per second
 * through classify_sql (the proxy's per-statement DML fast path) and
 * through stmt_parse (DDL; the parse alone), and through stmt_parse plus the
 * rule engine (offline facts).
 *
 *   classify_bench [seconds-per-phase]     (default 2)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules/classify.h"
#include "rules/engine.h"
#include "rules/parse.h"

#define NDML 4096
#define NDDL 1024

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: fair on a busy machine */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A small deterministic generator, so runs compare. */
static unsigned long rng_state = 12345;
static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((rng_state >> 33) % n);
}

struct text {
	char *p;
	size_t n;
};

static struct text make(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct text make(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	struct text t = {malloc((size_t)n + 1), (size_t)n};
	memcpy(t.p, buf, (size_t)n + 1);
	return t;
}

static const char *const comments[] = {
    "",
    "/* app=web,route=/users */ ",
    "-- trace 4bf92f3577b34da6\n",
    "/*+ MAX_EXECUTION_TIME(100) */ ",
    "# orm\n",
};

/* A mix of DML as ORMs send it: leading comments, quoted values, IN lists. */
static struct text gen_dml(void)
{
	const char *c = comments[rnd(5)];
	unsigned cols = 1 + rnd(12), k = rnd(4);
	char list[2048] = "";
	for (unsigned i = 0; i < cols; i++) {
		char one[64];
		snprintf(one, sizeof(one), "%s`col_%u`", i ? ", " : "", i);
		strcat(list, one);
	}
	switch (k) {
	case 0:
		return make("%sSELECT %s FROM `shop`.`orders` WHERE `customer_id` = %u AND "
			    "`status` IN ('new', "
			    "'paid', 'it''s') ORDER BY `created_at` DESC LIMIT %u",
			    c, list, rnd(100000), 1 + rnd(100));
	case 1:
		return make(
		    "%sINSERT INTO `events` (%s) VALUES ('%u', 'payload \\'x\\' %u', NOW(), %u)", c,
		    list, rnd(1000), rnd(1000), rnd(1000));
	case 2:
		return make(
		    "%sUPDATE `users` SET `name` = 'user %u', `last_seen` = NOW() WHERE `id` = %u",
		    c, rnd(100000), rnd(100000));
	default:
		return make(
		    "%sDELETE FROM `sessions` WHERE `expires_at` < '2024-01-%02u' LIMIT 1000", c,
		    1 + rnd(28));
	}
}

static const char *const types[] = {"INT",	   "BIGINT UNSIGNED", "VARCHAR(191)",	   "TEXT",
				    "DATETIME(3)", "DECIMAL(10,2)",   "ENUM('a','b','c')", "JSON"};

static struct text gen_ddl(void)
{
	unsigned k = rnd(6), t = rnd(1000);
	switch (k) {
	case 0: {
		char cols[3000] = "";
		unsigned n = 3 + rnd(10);
		for (unsigned i = 0; i < n; i++) {
			char one[160];
			snprintf(one, sizeof(one), "  `c%u` %s %s,\n", i, types[rnd(8)],
				 rnd(2) ? "NOT NULL DEFAULT '0'" : "NULL COMMENT 'x'");
			strcat(cols, one);
		}
		return make(
		    "CREATE TABLE IF NOT EXISTS `t%u` (\n  `id` BIGINT NOT NULL AUTO_INCREMENT,\n%s"
		    "  PRIMARY KEY (`id`),\n  UNIQUE KEY `uk_%u` (`c0`, `c1`),\n  KEY `ix_%u` "
		    "(`c2`(10))\n"
		    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
		    t, cols, t, t);
	}
	case 1:
		return make("ALTER TABLE `shop`.`t%u` ADD COLUMN `email` VARCHAR(191) NULL AFTER "
			    "`name`, ADD "
			    "UNIQUE INDEX `email_uk` (`email`), ALGORITHM=INPLACE, LOCK=NONE",
			    t);
	case 2:
		return make("/* ddlgate:allow drop-column */ ALTER TABLE t%u DROP COLUMN legacy, "
			    "MODIFY `a` "
			    "BIGINT NOT NULL",
			    t);
	case 3:
		return make("CREATE UNIQUE INDEX i%u ON t%u (a, b(10))", t, t);
	case 4:
		return make("RENAME TABLE t%u TO t%u_old, t%u_new TO t%u", t, t, t, t);
	default:
		return make("ALTER TABLE t%u ADD CONSTRAINT fk_%u FOREIGN KEY (parent_id) "
			    "REFERENCES p (id) "
			    "ON DELETE CASCADE",
			    t, t);
	}
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	if (secs <= 0 || secs > 60)
		secs = 2.0;
	struct text *dml = malloc(NDML * sizeof(*dml)), *ddl = malloc(NDDL * sizeof(*ddl));
	size_t dml_bytes = 0;
	for (int i = 0; i < NDML; i++) {
		dml[i] = gen_dml();
		dml_bytes += dml[i].n;
	}
	for (int i = 0; i < NDDL; i++)
		ddl[i] = gen_ddl();

	/* classify_sql over the DML mix */
	unsigned long count = 0, kinds[6] = {0};
	double t0 = now(), t1;
	do {
		for (int i = 0; i < NDML; i++)
			kinds[classify_sql(dml[i].p, dml[i].n, NULL)]++;
		count += NDML;
		t1 = now();
	} while (t1 - t0 < secs);
	double rate = (double)count / (t1 - t0);
	printf("classify_sql (DML mix, avg %zu bytes): %.2f million statements/s, %.0f MB/s "
	       "[dml=%lu other=%lu] target >= 2 million/s: %s\n",
	       dml_bytes / NDML, rate / 1e6, rate * (double)dml_bytes / NDML / 1e6, kinds[STMT_DML],
	       kinds[STMT_OTHER], rate >= 2e6 ? "met" : "NOT met");

	/* classify_sql over the DDL mix (how fast DDL is recognised) */
	count = 0;
	unsigned long ddl_seen = 0;
	t0 = now();
	do {
		for (int i = 0; i < NDDL; i++)
			ddl_seen += classify_sql(ddl[i].p, ddl[i].n, NULL) == STMT_DDL;
		count += NDDL;
		t1 = now();
	} while (t1 - t0 < secs);
	printf("classify_sql (DDL mix): %.2f million statements/s [ddl=%lu of %lu]\n",
	       (double)count / (t1 - t0) / 1e6, ddl_seen, count);

	/* stmt_parse over the DDL mix, arena reused as a session would */
	struct arena a;
	arena_init(&a, 0);
	count = 0;
	unsigned long unparsed = 0;
	t0 = now();
	do {
		for (int i = 0; i < NDDL; i++) {
			struct stmt s;
			stmt_parse(&a, ddl[i].p, ddl[i].n, 0, &s);
			unparsed += s.unparsed;
			arena_reset(&a);
		}
		count += NDDL;
		t1 = now();
	} while (t1 - t0 < secs);
	rate = (double)count / (t1 - t0);
	printf("stmt_parse (DDL mix, parse only, no rule engine): %.0f thousand statements/s "
	       "[unparsed=%lu] target >= 200 thousand/s: %s\n",
	       rate / 1e3, unparsed, rate >= 2e5 ? "met" : "NOT met");

	/* stmt_parse + rules_evaluate, offline (no facts: the conservative
	 * path), with a migration memory as in `ddlgate check`; the engine
	 * is built once with default actions, as at proxy start. */
	char err[256];
	struct rules_engine *eng = rules_engine_new(NULL, 0, err, sizeof(err));
	if (!eng) {
		fprintf(stderr, "rules_engine_new: %s\n", err);
		return 1;
	}
	struct rules_migration *mig = rules_migration_new();
	unsigned long blocked = 0;
	count = 0;
	t0 = now();
	do {
		for (int i = 0; i < NDDL; i++) {
			struct stmt s;
			struct rules_verdict v;
			struct rules_ctx ctx = {.schema = "shop",
						.lock_wait_timeout = 10,
						.max_lock_wait_s = 60,
						.mig = mig,
						.no_memory_update = true};
			stmt_parse(&a, ddl[i].p, ddl[i].n, 0, &s);
			blocked += rules_evaluate(eng, &a, &s, ddl[i].p, ddl[i].n, &ctx, &v) ==
				   RULES_BLOCK;
			arena_reset(&a);
		}
		count += NDDL;
		t1 = now();
	} while (t1 - t0 < secs);
	rate = (double)count / (t1 - t0);
	printf("stmt_parse + rules_evaluate (DDL mix, offline facts): %.0f thousand statements/s "
	       "[blocked=%lu of %lu] target >= 200 thousand/s: %s\n",
	       rate / 1e3, blocked, count, rate >= 2e5 ? "met" : "NOT met");
	rules_migration_free(mig);
	rules_engine_free(eng);
	arena_cleanup(&a);
	for (int i = 0; i < NDML; i++)
		free(dml[i].p);
	for (int i = 0; i < NDDL; i++)
		free(ddl[i].p);
	free(dml);
	free(ddl);
	return unparsed ? 1 : 0;
}
