/*
 * Allocation counter for benchmarks: an LD_PRELOAD shim that counts
 * malloc / calloc / realloc / posix_memalign calls in a ddlgate process,
 * split by the caller's object: ddlgate's own code, libevent, or anything
 * else (libc, OpenSSL, MariaDB Connector/C). bench/alloc_bench.py reads
 * the counters to print allocations per statement.
 *
 * Active only in a process named "ddlgate" with ALLOC_COUNT_FILE set: the
 * counters live in that file (MAP_SHARED), so the bench reads them while
 * the proxy runs. The caller is told apart by the return address, compared
 * with the address ranges of the main executable and of libevent's shared
 * objects found once at start.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The file's layout, read by alloc_bench.py: three uint64 counters. */
enum { AC_OWN, AC_LIBEVENT, AC_OTHER, AC_N };

#define AC_MAX_RANGES 16

struct ac_range {
	uintptr_t lo, hi;
	int kind;
};

static struct ac_range ac_ranges[AC_MAX_RANGES];
static int ac_nranges;
static _Atomic uint64_t *ac_counts; /* NULL: not counting */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_memalign)(void **, size_t, size_t);

/* dlsym's own calloc before real_calloc is known: a small static arena. */
static char ac_boot[4096];
static size_t ac_boot_used;

static int ac_phdr(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	int kind;
	const char *name = info->dlpi_name;
	if (!name || !name[0])
		kind = AC_OWN; /* the main executable */
	else if (strstr(name, "libevent"))
		kind = AC_LIBEVENT;
	else
		return 0;
	for (int i = 0; i < info->dlpi_phnum && ac_nranges < AC_MAX_RANGES; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + p->p_vaddr;
		ac_ranges[ac_nranges++] = (struct ac_range){lo, lo + p->p_memsz, kind};
	}
	return 0;
}

__attribute__((constructor)) static void ac_init(void)
{
	real_malloc = dlsym(RTLD_NEXT, "malloc");
	real_calloc = dlsym(RTLD_NEXT, "calloc");
	real_realloc = dlsym(RTLD_NEXT, "realloc");
	real_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	const char *path = getenv("ALLOC_COUNT_FILE");
	if (!path || strcmp(program_invocation_short_name, "ddlgate") != 0)
		return;
	dl_iterate_phdr(ac_phdr, NULL);
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0)
		return;
	size_t len = AC_N * sizeof(uint64_t);
	if (ftruncate(fd, (off_t)len) == 0) {
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			memset(m, 0, len);
			ac_counts = m;
		}
	}
	close(fd);
}

static void ac_count(const void *caller)
{
	if (!ac_counts)
		return;
	int kind = AC_OTHER;
	for (int i = 0; i < ac_nranges; i++)
		if ((uintptr_t)caller >= ac_ranges[i].lo && (uintptr_t)caller < ac_ranges[i].hi) {
			kind = ac_ranges[i].kind;
			break;
		}
	atomic_fetch_add_explicit(&ac_counts[kind], 1, memory_order_relaxed);
}

void *malloc(size_t n)
{
	if (!real_malloc)
		ac_init();
	ac_count(__builtin_return_address(0));
	return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	if (!real_calloc) { /* dlsym asking during ac_init() */
		size_t n = (a * b + 15) & ~(size_t)15;
		if (ac_boot_used + n > sizeof(ac_boot))
			return NULL;
		void *p = ac_boot + ac_boot_used;
		ac_boot_used += n;
		return p; /* zeroed: static storage */
	}
	ac_count(__builtin_return_address(0));
	return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	if (!real_realloc)
		ac_init();
	ac_count(__builtin_return_address(0));
	return real_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	if (!real_memalign)
		ac_init();
	ac_count(__builtin_return_address(0));
	return real_memalign(out, align, n);
}

void free(void *p)
{
	static void (*real_free)(void *);
	if ((char *)p >= ac_boot && (char *)p < ac_boot + sizeof(ac_boot))
		return;
	if (!real_free)
		real_free = dlsym(RTLD_NEXT, "free");
	real_free(p);
}
