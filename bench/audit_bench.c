/*
 * Audit writer benchmark: what recording a statement costs a DDL's latency
 * and how many records per second the writer sustains.
 *
 *   audit_bench [-q] [-n RECORDS] [-t THREADS] [-d DIR]
 *
 * DIR (default $TMPDIR or /tmp) should be on the disk the log will live on:
 * with fsync = always the figures are mostly that disk's fsync latency.
 * Every figure is printed next to a baseline measured in the same run:
 *   latency:    submit -> durable callback, one record at a time, fsync = always;
 *               baselines: the same path into /dev/null (the writer's own cost,
 *               no disk) and a bare write()+fsync() of a line of the same size
 *               (the least any durable log pays on this disk).
 *   throughput: THREADS submitters, all records in flight (record = all);
 *               fsync = interval and fsync = always (group commit); baseline:
 *               the same records into /dev/null. Each line also gives the
 *               writer thread's own records per CPU-second: how many records
 *               the writer sustains when it has a core to itself.
 *   -q:         throughput only (no fsync-per-record latency part).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "proxy/audit.h"

static const char stmt_sql[] =
    "ALTER TABLE `shop`.`users` ADD COLUMN `email_verified_at` DATETIME(6) NULL "
    "AFTER `email`, ADD INDEX `idx_users_email_verified_at` (`email_verified_at`)";

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct audit_rec *bench_rec(uint64_t i)
{
	struct audit_rec *r = audit_rec_new();
	audit_rec_conn(r, i, "127.0.0.1:53122", "migrator", "shop");
	audit_rec_session(r, true, "prisma", "20261124_add_email_verified");
	audit_rec_statement(r, STMT_DDL, stmt_sql, sizeof stmt_sql - 1);
	audit_rec_object(r, "shop", "users");
	audit_rec_decision(r, AUDIT_WARN);
	audit_rec_rule(r, "large-table-ddl", "warn", "users is 2.1 GiB", "information_schema");
	audit_rec_outcome(r, AUDIT_OK, 0, 0);
	audit_rec_timing(r, 0, 5121);
	return r;
}

/* A one-shot completion the durable callback signals. */
struct done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t n, ok;
};

static void done_cb(void *arg, bool ok)
{
	struct done *d = arg;
	pthread_mutex_lock(&d->mu);
	d->n++;
	d->ok += ok;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void done_wait(struct done *d, uint64_t n)
{
	pthread_mutex_lock(&d->mu);
	while (d->n < n)
		pthread_cond_wait(&d->cv, &d->mu);
	pthread_mutex_unlock(&d->mu);
}

static struct audit *bench_open(const char *path, enum cfg_fsync fs)
{
	struct cfg c;
	memset(&c, 0, sizeof c);
	c.audit.path = (char *)path;
	c.audit.fsync = fs;
	c.audit.fsync_interval_ms = 1000;
	c.audit.record = CFG_RECORD_ALL;
	c.audit.instance = "bench";
	char err[512];
	struct audit *a = audit_open(&c, err, sizeof err);
	if (!a) {
		fprintf(stderr, "audit_bench: %s\n", err);
		exit(1);
	}
	return a;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

struct lat {
	double median_us, p99_us;
};

static struct lat summarise(int64_t *ns, size_t n)
{
	qsort(ns, n, sizeof(*ns), cmp_i64);
	struct lat l = {ns[n / 2] / 1000.0,
			ns[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0};
	return l;
}

/* Submit -> durable callback, one record at a time. */
static struct lat latency_audit(const char *path, size_t n)
{
	struct audit *a = bench_open(path, CFG_FSYNC_ALWAYS);
	struct done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	int64_t *ns = calloc(n, sizeof(*ns));
	for (size_t i = 0; i < n; i++) {
		int64_t t0 = mono_ns();
		(void)audit_submit(a, bench_rec(i), done_cb, &d);
		done_wait(&d, i + 1);
		ns[i] = mono_ns() - t0;
	}
	audit_close(a);
	if (d.ok != n)
		fprintf(stderr, "audit_bench: %llu of %zu records failed\n",
			(unsigned long long)(n - d.ok), n);
	struct lat l = summarise(ns, n);
	free(ns);
	return l;
}

/* A bare write()+fsync() of a line as long as a record. */
static struct lat latency_raw(const char *path, size_t n, size_t line_len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	char *line = malloc(line_len);
	memset(line, 'x', line_len);
	line[line_len - 1] = '\n';
	int64_t *ns = calloc(n, sizeof(*ns));
	for (size_t i = 0; i < n; i++) {
		int64_t t0 = mono_ns();
		if (write(fd, line, line_len) != (ssize_t)line_len || fsync(fd) != 0) {
			perror("write/fsync");
			exit(1);
		}
		ns[i] = mono_ns() - t0;
	}
	close(fd);
	free(line);
	struct lat l = summarise(ns, n);
	free(ns);
	return l;
}

struct tp_arg {
	struct audit *a;
	struct done *d;
	size_t n;
};

static void *tp_thread(void *p)
{
	struct tp_arg *t = p;
	for (size_t i = 0; i < t->n; i++)
		(void)audit_submit(t->a, bench_rec(i), done_cb, t->d);
	return NULL;
}

static double cpu_secs(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds of this process's thread named name (the audit writer is
 * "ddlgate-audit"), from /proc; 0 when there is none. */
static double thread_cpu_secs(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	double total = 0;
	struct dirent *e;
	long tck = sysconf(_SC_CLK_TCK);
	while (d && (e = readdir(d))) {
		char p[300], buf[1024];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "/proc/self/task/%s/stat", e->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *open = strchr(buf, '('), *close = strrchr(buf, ')');
		if (!open || !close || (size_t)(close - open - 1) != strlen(name) ||
		    strncmp(open + 1, name, strlen(name)) != 0)
			continue;
		unsigned long ut = 0, st = 0;
		/* after ") ": state, then fields 4..13, then utime (14), stime (15) */
		if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			   &st) == 2)
			total += (double)(ut + st) / (double)tck;
	}
	if (d)
		closedir(d);
	return total;
}

/* Records per second with `threads` submitters and everything in flight;
 * *cpu_us gets the process CPU time per record (steadier than wall time on
 * a shared machine), *writer_rps the records per CPU-second of the writer
 * thread alone (0 when the run was too short to tell). */
static double throughput(const char *path, enum cfg_fsync fs, size_t n, int threads, double *cpu_us,
			 double *writer_rps)
{
	double c0 = cpu_secs();
	struct audit *a = bench_open(path, fs);
	struct done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	pthread_t th[64];
	struct tp_arg arg = {a, &d, n / (size_t)threads};
	int64_t t0 = mono_ns();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, tp_thread, &arg);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	done_wait(&d, arg.n * (size_t)threads);
	double secs = (mono_ns() - t0) / 1e9;
	double wcpu = thread_cpu_secs("ddlgate-audit");
	*writer_rps = wcpu >= 0.05 ? (double)(arg.n * (size_t)threads) / wcpu : 0;
	audit_close(a);
	*cpu_us = (cpu_secs() - c0) * 1e6 / (double)(arg.n * (size_t)threads);
	return (double)(arg.n * (size_t)threads) / secs;
}

static size_t file_line_len(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[8192];
	size_t n = f && fgets(buf, sizeof buf, f) ? strlen(buf) : 512;
	if (f)
		fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	size_t n = 2000;
	int threads = 4;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int opt;
	bool quick = false;
	while ((opt = getopt(argc, argv, "qn:t:d:")) != -1) {
		switch (opt) {
		case 'q':
			quick = true;
			break;
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fputs("usage: audit_bench [-q] [-n RECORDS] [-t THREADS] [-d DIR]\n",
			      stderr);
			return 2;
		}
	}
	if (n < 100 || n > 10000000 || threads < 1 || threads > 64) {
		fputs("audit_bench: -n 100..10000000, -t 1..64\n", stderr);
		return 2;
	}
	char path[4096], raw[4096];
	snprintf(path, sizeof path, "%s/ddlgate-audit-bench.%d.jsonl", dir, (int)getpid());
	snprintf(raw, sizeof raw, "%s/ddlgate-audit-bench-raw.%d", dir, (int)getpid());
	size_t nlat = n / 4 < 2000 ? n / 4 : 2000; /* fsync per record: keep it bounded */

	printf("audit_bench: %zu records (%zu for latency), %d threads, dir %s\n", n,
	       quick ? (size_t)0 : nlat, threads, dir);
	if (quick)
		goto tput;
	struct lat lnull = latency_audit("/dev/null", nlat);
	unlink(path);
	struct lat laud = latency_audit(path, nlat);
	size_t line_len = file_line_len(path);
	struct lat lraw = latency_raw(raw, nlat, line_len);
	unlink(path);
	unlink(raw);
	printf("\nDDL latency, submit -> durable callback, fsync = always (record %zu bytes):\n",
	       line_len);
	printf("  %-36s median %9.1f us   p99 %9.1f us\n", "audit log", laud.median_us,
	       laud.p99_us);
	printf("  %-36s median %9.1f us   p99 %9.1f us\n", "baseline: same into /dev/null",
	       lnull.median_us, lnull.p99_us);
	printf("  %-36s median %9.1f us   p99 %9.1f us\n", "baseline: bare write+fsync",
	       lraw.median_us, lraw.p99_us);
	printf("  audit / bare write+fsync: median x%.2f, p99 x%.2f\n",
	       laud.median_us / lraw.median_us, laud.p99_us / lraw.p99_us);

tput:;
	double cnull, civ, cal, wnull, wiv, wal;
	double tnull = throughput("/dev/null", CFG_FSYNC_INTERVAL, n, threads, &cnull, &wnull);
	unlink(path);
	double tiv = throughput(path, CFG_FSYNC_INTERVAL, n, threads, &civ, &wiv);
	unlink(path);
	double tal = throughput(path, CFG_FSYNC_ALWAYS, n, threads, &cal, &wal);
	unlink(path);
	printf("\nThroughput, record = all, %zu records, %d submitting threads:\n", n, threads);
	printf("  %-30s %9.0f records/s  %5.1f us CPU/record  writer alone %8.0f records/CPU-s\n",
	       "baseline: same into /dev/null", tnull, cnull, wnull);
	printf("  %-30s %9.0f records/s  %5.1f us CPU/record  writer alone %8.0f records/CPU-s\n",
	       "fsync = interval", tiv, civ, wiv);
	printf("  %-30s %9.0f records/s  %5.1f us CPU/record  writer alone %8.0f records/CPU-s\n",
	       "fsync = always (group commit)", tal, cal, wal);
	return 0;
}
