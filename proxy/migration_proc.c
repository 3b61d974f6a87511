/* Client processes on this machine: whose is a loopback connection, and
 * which process descends from which (/proc), for the migration peer test. */
#include "proxy/migration.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

bool migration_is_loopback(const char *host)
{
	unsigned char a[16];
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1) {
		static const unsigned char one[16] = {[15] = 1};
		return memcmp(a, one, 16) == 0;
	}
	return false;
}

/* The parent of process pid on this machine (0 when unknown). */
static long mig_parent_pid(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* "pid (comm) state ppid ...": comm may hold spaces and parentheses */
	char *close = strrchr(buf, ')');
	long ppid = 0;
	if (!close || sscanf(close + 1, " %*c %ld", &ppid) != 1)
		return 0;
	return ppid;
}

/* Whether the hex address of a /proc/net/tcp{,6} line (each 32-bit word
 * printed as the kernel holds it) is the n-byte address a. */
static bool mig_hex_addr_is(const char *hex, const unsigned char *a, size_t n)
{
	char word[9];
	if (strlen(hex) != n * 2)
		return false;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t w;
		memcpy(&w, a + i, 4);
		snprintf(word, sizeof(word), "%08X", (unsigned)w);
		if (strncasecmp(hex + i * 2, word, 8) != 0)
			return false;
	}
	return true;
}

/* The inode of the TCP socket on this machine whose local end is a:port
 * (n = 4 or 16 address bytes); 0 when none is listed. */
static unsigned long mig_socket_inode(const unsigned char *a, size_t n, unsigned port)
{
	FILE *f = fopen(n == 4 ? "/proc/net/tcp" : "/proc/net/tcp6", "r");
	char line[512], hex[40];
	unsigned lport;
	unsigned long inode, found = 0;
	if (!f)
		return 0;
	/* "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ..." */
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, " %*d: %32[0-9A-Fa-f]:%x %*s %*s %*s %*s %*s %*s %*s %lu", hex,
			   &lport, &inode) == 3 &&
		    lport == port && mig_hex_addr_is(hex, a, n))
			found = inode;
	fclose(f);
	return found;
}

/* The process (other than ddlgate) with socket inode among its open files,
 * in decimal into out; false when no process ddlgate may inspect has it. */
static bool mig_socket_owner(unsigned long inode, char *out, size_t cap)
{
	char want[48], path[16 + 2 * 256], target[48];
	bool found = false;
	DIR *proc = opendir("/proc");
	if (!proc)
		return false;
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	long self = (long)getpid();
	for (struct dirent *d; !found && (d = readdir(proc));) {
		if (!isdigit((unsigned char)d->d_name[0]) || atol(d->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", d->d_name);
		DIR *fds = opendir(path);
		if (!fds)
			continue; /* gone, or another user's */
		for (struct dirent *e; !found && (e = readdir(fds));) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fd/%s", d->d_name, e->d_name);
			ssize_t k = readlink(path, target, sizeof(target) - 1);
			if (k > 0) {
				target[k] = 0;
				found = strcmp(target, want) == 0;
			}
		}
		closedir(fds);
		if (found)
			snprintf(out, cap, "%s", d->d_name);
	}
	closedir(proc);
	return found;
}

bool migration_client_pid(const char *client, char *out, size_t cap)
{
	char host[64];
	const char *colon = client ? strrchr(client, ':') : NULL;
	unsigned char a[16];
	size_t n;

	if (!colon || colon == client)
		return false;
	const char *h = client, *end = colon;
	if (*h == '[' && end[-1] == ']') {
		h++;
		end--;
	}
	if ((size_t)(end - h) >= sizeof(host))
		return false;
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = 0;
	if (!migration_is_loopback(host))
		return false;
	if (inet_pton(AF_INET, host, a) == 1)
		n = 4;
	else if (inet_pton(AF_INET6, host, a) == 1)
		n = 16;
	else
		return false;
	char *stop;
	unsigned long port = strtoul(colon + 1, &stop, 10);
	if (*stop || port == 0 || port > 65535)
		return false;
	unsigned long inode = mig_socket_inode(a, n, (unsigned)port);
	return inode && mig_socket_owner(inode, out, cap);
}

bool migration_descends(const char *child, const char *ancestor)
{
	char *end;
	long c = strtol(child, &end, 10), a;
	if (*end || c <= 1)
		return false;
	a = strtol(ancestor, &end, 10);
	if (*end || a <= 1)
		return false;
	for (int depth = 0; depth < 16 && c > 1; depth++) {
		c = mig_parent_pid(c);
		if (c == a)
			return true;
	}
	return false;
}

void migration_client_proc(const char *pid, const char *prog, char *out, size_t cap)
{
	if (!cap)
		return;
	if (pid && *pid)
		snprintf(out, cap, "%s", pid);
	else if (prog && *prog)
		snprintf(out, cap, "@%s", prog);
	else
		out[0] = 0;
}
