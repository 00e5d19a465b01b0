/*
 * buf_internal.h — a growable byte buffer with a hard maximum (curl's dynbuf rule): growing past
 * `max` is an error (TFN_ETOOBIG), never an unbounded realloc.
 *
 * Once data is non-NULL it is kept NUL-terminated (data[len] == 0, not counted in len) after
 * every function below, so text built in a buffer is also a C string. Code that writes through
 * tfn__buf_reserve and then raises len itself must store that NUL if it needs it.
 */
#ifndef TIFFIN_BUF_INTERNAL_H
#define TIFFIN_BUF_INTERNAL_H

#include <stddef.h>

typedef struct tfn__buf {
    char *data; /* heap memory owned by the buffer; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* hard maximum of len */
} tfn__buf_t;

/** Initialises an empty buffer that may hold at most `max` bytes. Allocates nothing. */
void tfn__buf_init(tfn__buf_t *buf, size_t max);
/** Frees the buffer's memory and leaves it empty (reusable). */
void tfn__buf_free(tfn__buf_t *buf);
/** Appends `len` bytes. Returns 0, TFN_ETOOBIG (over max, buffer unchanged) or TFN_ENOMEM. */
int tfn__buf_append(tfn__buf_t *buf, const void *data, size_t len);
/** Appends a NUL-terminated string. */
int tfn__buf_puts(tfn__buf_t *buf, const char *s);
/** Appends printf-formatted text. */
int tfn__buf_printf(tfn__buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Makes room for `extra` more bytes without changing len; returns a pointer to data + len. */
char *tfn__buf_reserve(tfn__buf_t *buf, size_t extra);
/** Like tfn__buf_reserve, but says why it failed: 0, TFN_ETOOBIG or TFN_ENOMEM. */
int tfn__buf_grow(tfn__buf_t *buf, size_t extra);
/** Removes the first `n` bytes (n <= len). */
void tfn__buf_consume(tfn__buf_t *buf, size_t n);

/**
 * An HTTP response as a whole: what a worker answers a caller in its own process (test graphs)
 * and what the client hands a dependency call. `body` may be taken by whoever receives it (move
 * it out and re-init); else its owner frees it.
 */
typedef struct tfn__response {
    int status;
    char content_type[128];
    tfn__buf_t body;
    /* A binary answer of a dependency on this host may point into the connection's shared
     * memory (lib/codec/shm.c): its regions, and the lease that keeps them as they are until
     * released (tfn__pool_release). NULL both when not. */
    struct tfn__shm_pair *shm;
    struct tfn__lease *lease;
} tfn__response_t;

#endif
