/*
 * arena.c — the per-request bump allocator.
 *
 * Memory comes in chunks from malloc. Small allocations are carved from the current chunk by
 * bumping a pointer; when it is full a new chunk twice the size of the previous one (up to
 * MAX_CHUNK) becomes current. An allocation larger than a quarter of the chunk size gets a chunk
 * of its own, so that a big tensor does not waste the rest of a chunk. The arena struct itself
 * lives at the start of its first chunk: creating an arena is one malloc of FIRST_CHUNK bytes.
 *
 * The hard maximum counts the bytes handed out (each allocation rounded up to 16), not the
 * chunk overhead; the memory really held is at most about a quarter more, plus one chunk.
 *
 * Not thread-safe: an arena belongs to one request, used by one thread at a time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/value_internal.h"

#define ALIGN       16
#define DEFAULT_MAX ((size_t)64 << 20)
#define FIRST_CHUNK ((size_t)4096)
#define MAX_CHUNK   ((size_t)1 << 20)

/* Header of every chunk; its size is a multiple of ALIGN so that what follows is aligned. */
typedef struct chunk {
    struct chunk *next; /* the chunk allocated before this one */
    size_t size;        /* bytes of the whole chunk, header included */
} chunk_t;

#define CHUNK_HEADER ((sizeof(chunk_t) + ALIGN - 1) & ~(size_t)(ALIGN - 1))

struct tfn_arena {
    char *cur, *end;   /* free space in the current chunk */
    chunk_t *chunks;   /* every chunk, newest first; the last one holds this struct */
    size_t used;       /* bytes handed out */
    size_t max;        /* hard maximum of used */
    size_t chunk_size; /* size of the next regular chunk */
    char *last;        /* the latest bump allocation, which tfn__arena_grow may extend */
};

#define ARENA_SIZE ((sizeof(struct tfn_arena) + ALIGN - 1) & ~(size_t)(ALIGN - 1))

tfn_arena_t *tfn_arena_new(size_t max_bytes)
{
    chunk_t *c = malloc(FIRST_CHUNK);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = FIRST_CHUNK;
    tfn_arena_t *a = (tfn_arena_t *)((char *)c + CHUNK_HEADER);
    a->cur = (char *)a + ARENA_SIZE;
    a->end = (char *)c + FIRST_CHUNK;
    a->chunks = c;
    a->used = 0;
    a->max = max_bytes ? max_bytes : DEFAULT_MAX;
    a->chunk_size = FIRST_CHUNK * 2;
    a->last = NULL;
    return a;
}

void tfn_arena_free(tfn_arena_t *arena)
{
    if (!arena)
        return;
    chunk_t *c = arena->chunks;
    while (c) { /* the arena itself goes with the last (first allocated) chunk */
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
}

size_t tfn_arena_used(const tfn_arena_t *arena) { return arena ? arena->used : 0; }

size_t tfn__arena_max(const tfn_arena_t *arena) { return arena ? arena->max : 0; }

/* Rounds `size` up to ALIGN (at least ALIGN); 0 when that would overflow. */
static size_t round_size(size_t size)
{
    if (size > SIZE_MAX - ALIGN)
        return 0;
    return size ? (size + ALIGN - 1) & ~(size_t)(ALIGN - 1) : ALIGN;
}

/* Allocates `size` (already rounded) bytes in a chunk of their own, linked behind the newest. */
static void *alloc_own_chunk(tfn_arena_t *a, size_t size)
{
    if (size > SIZE_MAX - CHUNK_HEADER)
        return NULL;
    chunk_t *c = malloc(CHUNK_HEADER + size);
    if (!c)
        return NULL;
    c->size = CHUNK_HEADER + size;
    c->next = a->chunks;
    a->chunks = c;
    return (char *)c + CHUNK_HEADER;
}

void *tfn_arena_alloc(tfn_arena_t *a, size_t size)
{
    if (!a)
        return NULL;
    size = round_size(size);
    if (!size || size > a->max - a->used)
        return NULL;
    char *p;
    if (size <= (size_t)(a->end - a->cur)) {
        p = a->cur;
        a->cur += size;
        a->last = p;
    } else if (size > a->chunk_size / 4) {
        p = alloc_own_chunk(a, size); /* the current chunk stays current */
        if (!p)
            return NULL;
    } else {
        chunk_t *c = malloc(a->chunk_size);
        if (!c)
            return NULL;
        c->size = a->chunk_size;
        c->next = a->chunks;
        a->chunks = c;
        p = (char *)c + CHUNK_HEADER;
        a->cur = p + size;
        a->end = (char *)c + c->size;
        a->last = p;
        if (a->chunk_size < MAX_CHUNK)
            a->chunk_size *= 2;
    }
    a->used += size;
    return p;
}

void *tfn_arena_calloc(tfn_arena_t *arena, size_t size)
{
    void *p = tfn_arena_alloc(arena, size);
    if (p)
        memset(p, 0, size);
    return p;
}

char *tfn_arena_strndup(tfn_arena_t *arena, const char *s, size_t len)
{
    if (len == SIZE_MAX || (!s && len))
        return NULL;
    char *p = tfn_arena_alloc(arena, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *tfn__arena_grow(tfn_arena_t *a, void *ptr, size_t old_size, size_t new_size)
{
    if (!ptr)
        return tfn_arena_alloc(a, new_size);
    if (new_size <= old_size)
        return ptr;
    size_t old_rounded = round_size(old_size), new_rounded = round_size(new_size);
    if (!new_rounded)
        return NULL;
    /* The latest bump allocation can grow in place when its chunk has room. */
    if (ptr == a->last && new_rounded - old_rounded <= (size_t)(a->end - a->cur) &&
        new_rounded - old_rounded <= a->max - a->used) {
        a->cur += new_rounded - old_rounded;
        a->used += new_rounded - old_rounded;
        return ptr;
    }
    void *p = tfn_arena_alloc(a, new_size);
    if (p)
        memcpy(p, ptr, old_size);
    return p;
}
