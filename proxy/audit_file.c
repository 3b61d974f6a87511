/* The audit log file: open (cutting a partial last line), write, fsync,
 * rotate; the writer thread's (audit.c) only. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy/audit_int.h"
#include "proxy/clock.h"

/*
 * Opens (creates) a->path for appending. A regular file that does not end
 * with a newline holds the partial line of a write that failed half-way
 * (and could not be cut back then): it is cut now, so the next record
 * starts on a line of its own. Writer thread (and audit_open()).
 */
bool audit_file_open(struct audit *a)
{
	a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (a->fd < 0 && errno == EACCES)
		a->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (a->fd < 0)
		return false;
	struct stat st;
	a->file_bytes = fstat(a->fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	char last;
	if (a->file_bytes > 0 && pread(a->fd, &last, 1, (off_t)(a->file_bytes - 1)) == 1 &&
	    last != '\n') {
		uint64_t start, llen, tail_end = 0;
		if (!audit_last_line_span(a->fd, a->file_bytes, &start, &llen, &tail_end))
			tail_end = 0;
		if (ftruncate(a->fd, (off_t)tail_end) == 0) {
			fprintf(stderr,
				"ddlgate: audit: %s: cut %" PRIu64 " bytes of a partial record\n",
				a->path, a->file_bytes - tail_end);
			a->file_bytes = tail_end;
		}
	}
	return true;
}

/* fsync(), except that pipes and character devices (a FIFO read by a log
 * shipper, /dev/null in benchmarks) cannot be synced and do not need to be. */
int audit_sync_fd(int fd)
{
	if (fsync(fd) == 0)
		return 0;
	int e = errno;
	struct stat st;
	if ((e == EINVAL || e == EROFS || e == ENOTSUP) && fstat(fd, &st) == 0 &&
	    !S_ISREG(st.st_mode))
		return 0;
	errno = e;
	return -1;
}

void audit_file_close(struct audit *a)
{
	if (a->fd >= 0) {
		if (a->dirty)
			(void)audit_sync_fd(a->fd);
		close(a->fd);
	}
	a->fd = -1;
	a->dirty = false;
}

void audit_set_healthy(struct audit *a, bool ok)
{
	bool was = atomic_exchange(&a->healthy, ok);
	if (was != ok)
		fprintf(stderr, "ddlgate: audit: log %s %s\n", a->path,
			ok ? "writable again" : "cannot be written: DDL is refused");
}

/*
 * Size rotation: the full file is renamed to PATH.YYYYMMDDTHHMMSS.uuuuuuZ
 * (UTC, the moment of rotation; sorts in time order) and a new PATH begins.
 * The chain continues: the new file's first prev is the old file's last hash.
 */
bool audit_rotate(struct audit *a)
{
	char ts[40], name[4200];
	audit_ts_format(clk_wall_us(), ts);
	/* 2026-11-24T02:03:04.123456Z -> 20261124T020304.123456Z */
	char compact[32];
	size_t o = 0;
	for (const char *p = ts; *p && o < sizeof compact - 1; p++)
		if (*p != '-' && *p != ':')
			compact[o++] = *p;
	compact[o] = '\0';
	snprintf(name, sizeof name, "%s.%s", a->path, compact);
	for (int i = 1; access(name, F_OK) == 0 && i < 1000; i++)
		snprintf(name, sizeof name, "%s.%s-%d", a->path, compact, i);
	if (a->fd >= 0 && audit_sync_fd(a->fd) != 0)
		return false;
	audit_file_close(a);
	if (rename(a->path, name) != 0) {
		fprintf(stderr, "ddlgate: audit: cannot rotate %s: %s\n", a->path, strerror(errno));
		return audit_file_open(a);
	}
	a->rotations++;
	return audit_file_open(a);
}

bool audit_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

void audit_do_fsync(struct audit *a)
{
	if (a->fd >= 0 && audit_sync_fd(a->fd) != 0) {
		fprintf(stderr, "ddlgate: audit: fsync %s: %s\n", a->path, strerror(errno));
		audit_set_healthy(a, false);
		audit_file_close(a);
	} else if (a->fd >= 0) {
		a->fsyncs++;
	}
	a->dirty = false;
	a->last_fsync_us = clk_mono_us();
	pthread_mutex_lock(&a->mu);
	a->stats.fsyncs = a->fsyncs;
	pthread_mutex_unlock(&a->mu);
}
