/*
 * Arena allocator: many small allocations, one free.
 *
 * The parser and the rule engine allocate everything for one statement
 * from an arena the caller owns; arena_reset() makes it reusable without
 * returning memory to the system, so a long-lived session parses DDL
 * without touching malloc once its arena has grown to fit.
 */
#ifndef DDLGATE_RULES_ARENA_H
#define DDLGATE_RULES_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head; /* owned: chain of blocks, newest first */
	size_t block_size;	  /* size of the next block to allocate */
};

void arena_init(struct arena *a, size_t first_block);
/* Frees every block. The arena can be used again after arena_init(). */
void arena_cleanup(struct arena *a);
/* Forgets every allocation but keeps the largest block for reuse. */
void arena_reset(struct arena *a);
/* Zeroed memory aligned for any type; aborts on out-of-memory. */
void *arena_alloc(struct arena *a, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* printf into the arena ("" if the format fails). */
const char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
