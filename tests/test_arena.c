/* test_arena.c — the bump allocator and the growable buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf_internal.h"
#include "check.h"
#include "core/value_internal.h"

static void test_alignment_and_contents(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    CHECK(a != NULL);
    char *ptrs[2000];
    for (int i = 0; i < 2000; i++) {
        size_t size = (size_t)(i % 37) + 1;
        ptrs[i] = tfn_arena_alloc(a, size);
        CHECK(ptrs[i] != NULL);
        CHECK((uintptr_t)ptrs[i] % 16 == 0);
        memset(ptrs[i], i & 0xFF, size);
    }
    for (int i = 0; i < 2000; i++) /* no allocation overlapped another */
        for (size_t j = 0; j < (size_t)(i % 37) + 1; j++)
            if ((unsigned char)ptrs[i][j] != (i & 0xFF)) {
                CHECK(!"overlap");
                i = 2000;
                break;
            }
    tfn_arena_free(a);
}

static void test_used_and_maximum(void)
{
    tfn_arena_t *a = tfn_arena_new(1000);
    CHECK_EQ_INT(tfn_arena_used(a), 0);
    CHECK(tfn_arena_alloc(a, 1) != NULL);
    CHECK_EQ_INT(tfn_arena_used(a), 16); /* rounded to the alignment */
    CHECK(tfn_arena_alloc(a, 100) != NULL);
    CHECK_EQ_INT(tfn_arena_used(a), 16 + 112);
    CHECK(tfn_arena_alloc(a, 1000) == NULL);            /* over the maximum */
    CHECK_EQ_INT(tfn_arena_used(a), 128);               /* a failed allocation costs nothing */
    CHECK(tfn_arena_alloc(a, 1000 - 128 - 15) != NULL); /* rounds to exactly what is left */
    CHECK_EQ_INT(tfn_arena_used(a), 1000 - 8);
    CHECK(tfn_arena_alloc(a, 1) == NULL);
    CHECK(tfn_arena_strndup(a, "x", 1) == NULL);
    CHECK(tfn_arena_calloc(a, 1) == NULL);
    tfn_arena_free(a);
}

static void test_default_maximum(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    CHECK(tfn_arena_alloc(a, ((size_t)64 << 20) + 1) == NULL);
    CHECK(tfn_arena_alloc(a, (size_t)48 << 20) != NULL);
    CHECK(tfn_arena_alloc(a, ((size_t)16 << 20) + 1) == NULL); /* 48 MiB used */
    CHECK(tfn_arena_alloc(a, (size_t)16 << 20) != NULL);       /* exactly 64 MiB */
    CHECK(tfn_arena_alloc(a, 1) == NULL);
    CHECK(tfn_arena_alloc(a, SIZE_MAX) == NULL);
    CHECK(tfn_arena_alloc(a, SIZE_MAX - 8) == NULL);
    tfn_arena_free(a);
}

static void test_large_allocations(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    char *small1 = tfn_arena_alloc(a, 16);
    char *big = tfn_arena_alloc(a, 1 << 20); /* a chunk of its own */
    char *small2 = tfn_arena_alloc(a, 16);
    CHECK(small1 && big && small2);
    memset(big, 7, 1 << 20);
    CHECK(small2 == small1 + 16); /* the current chunk stayed current */
    CHECK(big[0] == 7 && big[(1 << 20) - 1] == 7);
    /* a million small ones, to go through many chunks */
    for (int i = 0; i < 1000000; i++)
        CHECK(tfn_arena_alloc(a, 24) != NULL || !"alloc");
    CHECK(tfn_arena_used(a) == 16 + (1 << 20) + 16 + 32 * (size_t)1000000);
    tfn_arena_free(a);
}

static void test_calloc_strndup(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    unsigned char *z = tfn_arena_calloc(a, 100);
    int nonzero = 0;
    for (int i = 0; i < 100; i++)
        nonzero |= z[i];
    CHECK(!nonzero);
    char *s = tfn_arena_strndup(a, "hello world", 5);
    CHECK_EQ_STR(s, "hello");
    char *e = tfn_arena_strndup(a, NULL, 0);
    CHECK_EQ_STR(e, "");
    CHECK(tfn_arena_strndup(a, "x", SIZE_MAX) == NULL);
    CHECK(tfn_arena_alloc(a, 0) != NULL); /* a valid, unique pointer */
    tfn_arena_free(a);
    tfn_arena_free(NULL);
    CHECK(tfn_arena_alloc(NULL, 1) == NULL);
    CHECK_EQ_INT(tfn_arena_used(NULL), 0);
}

static void test_grow(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    char *p = tfn__arena_grow(a, NULL, 0, 10);
    memcpy(p, "0123456789", 10);
    char *q = tfn__arena_grow(a, p, 10, 100); /* the latest allocation: grows in place */
    CHECK(q == p);
    CHECK(memcmp(q, "0123456789", 10) == 0);
    char *other = tfn_arena_alloc(a, 8);
    CHECK(other != NULL);
    char *r = tfn__arena_grow(a, q, 100, 200); /* not the latest any more: copied */
    CHECK(r != q && memcmp(r, "0123456789", 10) == 0);
    char *s = tfn__arena_grow(a, r, 200, 100000); /* too big for the chunk: copied */
    CHECK(s != NULL && memcmp(s, "0123456789", 10) == 0);
    CHECK(tfn__arena_grow(a, s, 100000, 50) == s);
    tfn_arena_free(a);

    a = tfn_arena_new(256);
    p = tfn__arena_grow(a, NULL, 0, 100);
    CHECK(tfn__arena_grow(a, p, 100, 257) == NULL); /* the maximum holds when growing too */
    CHECK(tfn__arena_grow(a, p, 100, 256) == p);
    CHECK_EQ_INT(tfn_arena_used(a), 256);
    tfn_arena_free(a);
}

/* ---- tfn__buf_t ---- */

static void test_buf(void)
{
    tfn__buf_t b;
    tfn__buf_init(&b, 10);
    CHECK(b.data == NULL && b.len == 0);
    CHECK_EQ_INT(tfn__buf_append(&b, "", 0), 0);
    CHECK_EQ_INT(tfn__buf_puts(&b, "hello"), 0);
    CHECK_EQ_STR(b.data, "hello"); /* kept NUL-terminated */
    CHECK_EQ_INT(tfn__buf_printf(&b, "%d!", 42), 0);
    CHECK_EQ_STR(b.data, "hello42!");
    CHECK_EQ_INT(tfn__buf_puts(&b, "abc"), TFN_ETOOBIG); /* 11 > 10 */
    CHECK_EQ_STR(b.data, "hello42!");                    /* unchanged */
    CHECK_EQ_INT(tfn__buf_puts(&b, "ab"), 0);            /* exactly 10 */
    CHECK_EQ_INT(b.len, 10);
    CHECK(tfn__buf_reserve(&b, 1) == NULL);
    CHECK_EQ_INT(tfn__buf_grow(&b, 1), TFN_ETOOBIG);
    tfn__buf_consume(&b, 5);
    CHECK_EQ_STR(b.data, "42!ab");
    tfn__buf_consume(&b, 100);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_STR(b.data, "");
    tfn__buf_free(&b);
    CHECK(b.data == NULL);

    tfn__buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        CHECK_EQ_INT(tfn__buf_printf(&b, "%05d", i), 0);
    CHECK_EQ_INT(b.len, 50000);
    CHECK(memcmp(b.data + 5 * 9999, "09999", 5) == 0);
    char *r = tfn__buf_reserve(&b, 1000);
    CHECK(r == b.data + b.len && b.cap >= b.len + 1000);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_EQ_INT(tfn__buf_printf(&b, "[%s]", big), 0); /* longer than printf's first try */
    CHECK_EQ_INT(b.len, 50000 + 601);
    CHECK(b.data[b.len - 1] == ']' && b.data[b.len] == '\0');
    tfn__buf_free(&b);
}

int main(void)
{
    RUN(test_alignment_and_contents);
    RUN(test_used_and_maximum);
    RUN(test_default_maximum);
    RUN(test_large_allocations);
    RUN(test_calloc_strndup);
    RUN(test_grow);
    RUN(test_buf);
    return check_summary("arena");
}
