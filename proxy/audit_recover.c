/* Start-up recovery: where the audit chain stopped, in the log or its newest rotated sibling. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy/audit_int.h"
#include "proxy/mem.h"

bool audit_last_line_span(int fd, uint64_t size, uint64_t *start, uint64_t *llen,
			  uint64_t *tail_end)
{
	char chunk[65536];
	uint64_t end = size; /* search window ends here */
	int64_t nl_last = -1, nl_prev = -1;
	while (end > 0 && nl_prev < 0) {
		uint64_t from = end > sizeof chunk ? end - sizeof chunk : 0;
		ssize_t n = pread(fd, chunk, (size_t)(end - from), (off_t)from);
		if (n <= 0)
			return false;
		for (ssize_t i = n - 1; i >= 0; i--) {
			if (chunk[i] != '\n')
				continue;
			if (nl_last < 0) {
				nl_last = (int64_t)from + i;
			} else {
				nl_prev = (int64_t)from + i;
				break;
			}
		}
		end = from;
	}
	if (nl_last < 0)
		return false;
	*start = (uint64_t)(nl_prev + 1);
	*llen = (uint64_t)nl_last - *start;
	*tail_end = (uint64_t)nl_last + 1;
	return true;
}

/*
 * Reads the last record of path. Returns 1 and fills seq/hash when found,
 * 0 when the file is missing or has no complete line, -1 when its last line
 * is not a valid record (message in err). When fix_tail is set, a partial
 * line after the last newline is cut off (it was never acknowledged).
 */
static int read_last(const char *path, bool fix_tail, uint64_t *seq, char hash[65], char *err,
		     size_t errlen)
{
	int fd = open(path, fix_tail ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return 0;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return 0;
	}
	uint64_t start, llen, tail_end;
	if (!audit_last_line_span(fd, (uint64_t)st.st_size, &start, &llen, &tail_end)) {
		/* Not one newline: the first write was cut short by a crash. It
		 * was never acknowledged, so the file is empty for the chain. */
		if (fix_tail) {
			fprintf(stderr,
				"ddlgate: audit: %s: cutting %" PRIu64
				" bytes of a partial first record left by a crash\n",
				path, (uint64_t)st.st_size);
			bool cut = ftruncate(fd, 0) == 0;
			close(fd);
			if (!cut) {
				snprintf(err, errlen, "%s: cannot cut partial line: %s", path,
					 strerror(errno));
				return -1;
			}
			return 0;
		}
		close(fd);
		return 0;
	}
	if (fix_tail && tail_end < (uint64_t)st.st_size) {
		fprintf(stderr,
			"ddlgate: audit: %s: cutting %" PRIu64
			" bytes of a partial record left by a crash\n",
			path, (uint64_t)st.st_size - tail_end);
		if (ftruncate(fd, (off_t)tail_end) != 0) {
			snprintf(err, errlen, "%s: cannot cut partial last line: %s", path,
				 strerror(errno));
			close(fd);
			return -1;
		}
	}
	char *line = malloc(llen + 1);
	if (!line || pread(fd, line, llen, (off_t)start) != (ssize_t)llen) {
		free(line);
		close(fd);
		snprintf(err, errlen, "%s: cannot read last record", path);
		return -1;
	}
	close(fd);
	enum audit_line_status s = audit_check_line(line, llen, NULL, seq, hash);
	free(line);
	if (s != AUDIT_LINE_OK) {
		snprintf(err, errlen,
			 "%s: last line is not a valid audit record (%s); the chain cannot be "
			 "continued, move the file aside",
			 path,
			 s == AUDIT_LINE_BAD_HASH   ? "hash mismatch"
			 : s == AUDIT_LINE_NEED_KEY ? "HMAC-chained: set its [audit] key_file"
						    : "not a record");
		return -1;
	}
	return 1;
}

static bool compressed_name(const char *name)
{
	static const char *const ext[] = {".gz", ".xz", ".bz2", ".zst", ".lz4", ".Z"};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t e = strlen(ext[i]);
		if (n > e && strcmp(name + n - e, ext[i]) == 0)
			return true;
	}
	return false;
}

/*
 * Continues the chain from rotated siblings of path (PATH.* or PATH-*,
 * whatever renamed them: ddlgate or logrotate): the one whose last record
 * has the highest seq wins. Compressed files are skipped. Returns like
 * read_last().
 */
static int read_last_rotated(const char *path, uint64_t *seq, char hash[65], char *err,
			     size_t errlen)
{
	char *d1 = mem_strdup(path, "audit path"), *d2 = mem_strdup(path, "audit path");
	const char *dir = dirname(d1), *base = basename(d2);
	size_t blen = strlen(base);
	DIR *dh = opendir(dir);
	int found = 0;
	if (dh) {
		struct dirent *de;
		while ((de = readdir(dh)) != NULL) {
			if (strncmp(de->d_name, base, blen) != 0 ||
			    (de->d_name[blen] != '.' && de->d_name[blen] != '-') ||
			    compressed_name(de->d_name))
				continue;
			char full[4096];
			snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
			uint64_t s = 0;
			char h[65];
			int r = read_last(full, false, &s, h, err, errlen);
			if (r < 0) {
				found = -1;
				break;
			}
			if (r > 0 && (found == 0 || s > *seq)) {
				*seq = s;
				memcpy(hash, h, 65);
				found = 1;
			}
		}
		closedir(dh);
	}
	free(d1);
	free(d2);
	return found;
}

int audit_recover_chain(const char *path, uint64_t *seq, char hash[AUDIT_HASH_HEX + 1], char *err,
			size_t errlen)
{
	int r = read_last(path, true, seq, hash, err, errlen);
	if (r == 0)
		r = read_last_rotated(path, seq, hash, err, errlen);
	return r;
}
