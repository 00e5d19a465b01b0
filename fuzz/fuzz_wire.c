/*
 * fuzz_wire.c — libFuzzer target for the binary decoder (untrusted bodies between services).
 *
 * Invariants checked on every input that decodes:
 *   - the encoding is canonical: re-encoding the value gives exactly the input bytes;
 *   - decoding a misaligned copy (tensors then copied, not used in place) gives an equal value;
 *   - the JSON encoder succeeds and jansson accepts its output.
 * Inputs that do not decode must fail with TFN_EBADWIRE (or TFN_ENOMEM) and a message.
 * Build: see the Makefile's fuzz target; run: build/fuzz/fuzz_wire fuzz/corpus/wire
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "core/value_internal.h"

#define ARENA_MAX ((size_t)16 << 20)
#define BUF_MAX   ((size_t)64 << 20)
#define JSON_MAX  ((size_t)1 << 20)

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_wire: %s failed at line %d\n", #cond, __LINE__);                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The decoder wants 8-aligned input; an exact-size copy lets ASan see any overread. */
    unsigned char *input = malloc(size ? size : 1);
    REQUIRE(input != NULL);
    if (size)
        memcpy(input, data, size);
    tfn_arena_t *arena = tfn_arena_new(ARENA_MAX);
    tfn_value_t *v = NULL;
    tfn_error_t err;
    int rc = tfn__wire_decode(arena, input, size, &v, &err);
    if (rc) {
        REQUIRE(rc == TFN_EBADWIRE || rc == TFN_ENOMEM);
        REQUIRE(err.message[0] != '\0' && err.code == rc);
        tfn_arena_free(arena);
        free(input);
        return 0;
    }

    tfn__buf_t b;
    tfn__buf_init(&b, BUF_MAX);
    REQUIRE(tfn__wire_encode(v, &b) == 0);
    REQUIRE(b.len == size && memcmp(b.data, input, size) == 0);
    tfn__buf_free(&b);

    unsigned char *shifted = malloc(size + 1);
    REQUIRE(shifted != NULL);
    memcpy(shifted + 1, input, size);
    tfn_arena_t *arena2 = tfn_arena_new(ARENA_MAX * 2);
    tfn_value_t *v2 = NULL;
    REQUIRE(tfn__wire_decode(arena2, shifted + 1, size, &v2, &err) == 0);
    REQUIRE(tfn_value_equal(v, v2));
    tfn_arena_free(arena2);
    free(shifted);

    /* ETOOBIG is allowed: an empty tensor of shape [2^40, 0] is 2^40 "[]" in JSON. The small
     * maximum keeps such inputs (and jansson's parse of the output) cheap. */
    tfn__buf_init(&b, JSON_MAX);
    rc = tfn__json_encode(v, &b);
    REQUIRE(rc == 0 || rc == TFN_ETOOBIG);
    if (rc == 0) {
        json_error_t jerr;
        json_t *j =
            json_loadb(b.data ? b.data : "", b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!j)
            fprintf(stderr, "jansson: %s\n", jerr.text);
        REQUIRE(j != NULL);
        json_decref(j);
    }
    tfn__buf_free(&b);

    tfn_arena_free(arena);
    free(input);
    return 0;
}
