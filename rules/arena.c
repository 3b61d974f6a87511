/* Arena allocator for per-statement parse results. */
#include "rules/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
	struct arena_block *next;
	size_t size; /* usable bytes in data */
	size_t used;
	_Alignas(max_align_t) unsigned char data[];
};

void arena_init(struct arena *a, size_t first_block)
{
	a->head = NULL;
	a->block_size = first_block ? first_block : 4096;
}

void arena_cleanup(struct arena *a)
{
	struct arena_block *b = a->head;
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}

void arena_reset(struct arena *a)
{
	struct arena_block *keep = NULL, *b = a->head;
	while (b) {
		struct arena_block *next = b->next;
		if (!keep || b->size > keep->size) {
			free(keep);
			keep = b;
		} else {
			free(b);
		}
		b = next;
	}
	if (keep) {
		keep->next = NULL;
		keep->used = 0;
	}
	a->head = keep;
}

void *arena_alloc(struct arena *a, size_t n)
{
	const size_t align = _Alignof(max_align_t);
	n = (n + align - 1) & ~(align - 1);
	struct arena_block *b = a->head;
	if (!b || b->size - b->used < n) {
		size_t size = a->block_size;
		while (size < n)
			size *= 2;
		b = malloc(sizeof(*b) + size);
		if (!b) {
			fputs("ddlgate: out of memory\n", stderr);
			abort();
		}
		b->size = size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
		if (a->block_size < (1u << 20))
			a->block_size *= 2;
	}
	void *p = b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

const char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return "";
	char *s = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}
