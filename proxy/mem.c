/* ddlgate's one out-of-memory policy (see mem.h). */
#include "proxy/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void mem_oom(const char *what)
{
	fprintf(stderr, "ddlgate: out of memory (%s)\n", what ? what : "?");
	abort();
}

void *mem_alloc(size_t n, const char *what)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		mem_oom(what);
	return p;
}

void *mem_calloc(size_t count, size_t size, const char *what)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		mem_oom(what);
	return p;
}

void *mem_realloc(void *p, size_t n, const char *what)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		mem_oom(what);
	return q;
}

char *mem_strdup(const char *s, const char *what)
{
	char *d = strdup(s ? s : "");
	if (!d)
		mem_oom(what);
	return d;
}

char *mem_strndup(const char *s, size_t n, const char *what)
{
	char *d = strndup(s ? s : "", n);
	if (!d)
		mem_oom(what);
	return d;
}
