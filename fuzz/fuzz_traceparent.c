/*
 * fuzz_traceparent.c — libFuzzer target for the W3C traceparent parser (an untrusted header of
 * every request) and tracestate check.
 *
 * Invariants checked on every input:
 *   - the parser reads only the bytes it is given (ASan: the input is copied to an exact-size
 *     heap buffer, no NUL after it);
 *   - an accepted version-00 value formats back to exactly itself (trimmed), ids are never all
 *     zero, and a trace begun from it keeps its trace id and takes its parent;
 *   - a rejected value begins a new, valid trace (never an error).
 * Build: make fuzz; run: build/fuzz/fuzz_traceparent fuzz/corpus/traceparent
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observe/trace_internal.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_traceparent: %s failed at line %d\n", #cond, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    tfn__trace_ids_t ids;
    int rc = tfn__traceparent_parse(s, size, ids.trace_id, ids.parent_id, &ids.flags);
    REQUIRE(rc == 0 || rc == -1);
    if (rc == 0) {
        REQUIRE(!zero(ids.trace_id, 16) && !zero(ids.parent_id, 8));
        const char *p = s;
        size_t n = size;
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n >= 2 && p[0] == '0' && p[1] == '0') {
            REQUIRE(n == TFN__TRACEPARENT_LEN);
            char out[TFN__TRACEPARENT_LEN + 1];
            memcpy(ids.span_id, ids.parent_id, 8);
            tfn__traceparent_format(out, &ids);
            REQUIRE(memcmp(out, p, TFN__TRACEPARENT_LEN) == 0);
        }
    }
    tfn__trace_ids_t begun;
    bool taken = tfn__trace_begin(&begun, s, size);
    REQUIRE(taken == (rc == 0));
    REQUIRE(!zero(begun.trace_id, 16) && !zero(begun.span_id, 8));
    if (taken)
        REQUIRE(memcmp(begun.trace_id, ids.trace_id, 16) == 0 &&
                memcmp(begun.parent_id, ids.parent_id, 8) == 0);
    else
        REQUIRE(zero(begun.parent_id, 8));
    (void)tfn__tracestate_ok(s, size);
    free(s);
    return 0;
}
