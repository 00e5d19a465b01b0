/*
 * fuzz_stream_call.c — libFuzzer target for the parser of a dependency's streamed answer
 * (lib/compose/stream_call.c): the HTTP response head, chunked transfer encoding and the
 * server-sent events in it, then each event's JSON. A dependency is another process: its bytes
 * are untrusted.
 *
 * The first byte picks where the rest is split into two reads. Invariants: no crash, leak or
 * out-of-bounds access (ASan, UBSan); the result is 0 or a negative TFN_E* code; the same bytes
 * split elsewhere give the same result and the same number of pieces.
 * Build: make fuzz; run: build/fuzz/fuzz_stream_call fuzz/corpus/stream_call
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose/stream_call_internal.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_stream_call: %s failed at line %d\n", #cond, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len = size - 1;
    char *copy = malloc(len ? len : 1); /* exact size: a read past the end is caught */
    if (!copy)
        return 0;
    memcpy(copy, data + 1, len);
    size_t split = (size_t)data[0] * (len + 1) / 256, pieces = 0, whole_pieces = 0;
    int rc = tfn__stream_parse_bytes(copy, len, split, &pieces);
    REQUIRE(rc <= 0 && (rc == 0 || strcmp(tfn_errname(rc), "EUNKNOWN") != 0));
    memcpy(copy, data + 1, len); /* the parser may have joined data lines in its own buffer */
    int whole_rc = tfn__stream_parse_bytes(copy, len, len, &whole_pieces);
    REQUIRE(whole_rc == rc && whole_pieces == pieces);
    free(copy);
    return 0;
}
