/*
 * ddlgate's one out-of-memory policy.
 *
 * The relay's buffers of one connection (packet reassembly, decompression)
 * are allocated with plain malloc and checked: when that fails, the
 * connection is closed with the end reason "out of memory" and every other
 * connection goes on.
 *
 * Everything else (configuration snapshots, the policy's per-session state
 * and arenas, audit records, migration registries, worker set-up) uses the
 * mem_* calls below: a failure there leaves no consistent way forward (a
 * half-judged statement, a lost audit record), so mem_oom() names what was
 * being allocated on stderr and aborts, which systemd turns into a restart.
 */
#ifndef DDLGATE_PROXY_MEM_H
#define DDLGATE_PROXY_MEM_H

#include <stddef.h>

_Noreturn void mem_oom(const char *what);
void *mem_alloc(size_t n, const char *what);
void *mem_calloc(size_t count, size_t size, const char *what);
void *mem_realloc(void *p, size_t n, const char *what);
char *mem_strdup(const char *s, const char *what);
char *mem_strndup(const char *s, size_t n, const char *what);

#endif
