/*
 * fuzz_json.c — libFuzzer target for the JSON decoder (untrusted request bodies), and through
 * it the encoders and the input validation.
 *
 * Invariants checked on every input that decodes:
 *   - the JSON encoder succeeds, jansson accepts its output, and decoding that output gives an
 *     equal value (exact numbers, strings, order);
 *   - the binary encoding round-trips to an equal value;
 *   - validation against a set of fields (tensor conversions of every dtype) either fails with a
 *     message or gives a value that both encoders accept.
 * Build: see the Makefile's fuzz target; run: build/fuzz/fuzz_json fuzz/corpus/json
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

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_json: %s failed at line %d\n", #cond, __LINE__);                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const tfn_field_t fields[] = {
    {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .optional = true},
    {.name = "d", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F64, .optional = true},
    {.name = "i",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_I32,
     .ndim = 2,
     .shape = {-1, 2},
     .optional = true},
    {.name = "l", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_I64, .optional = true},
    {.name = "u", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_U8, .ndim = 1, .optional = true},
    {.name = "b", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_BOOL, .optional = true},
    {.name = "y", .type = TFN_TYPE_BYTES, .optional = true},
    {.name = "f", .type = TFN_TYPE_FLOAT, .optional = true},
    {.name = "n", .type = TFN_TYPE_INT, .optional = true},
    {.name = "a", .type = TFN_TYPE_ANY, .optional = true},
    {0},
};

/* Encodes v as JSON; jansson must accept the text. Returns the buffer (caller frees). */
static tfn__buf_t json_text(const tfn_value_t *v)
{
    tfn__buf_t b;
    tfn__buf_init(&b, BUF_MAX);
    REQUIRE(tfn__json_encode(v, &b) == 0);
    json_error_t jerr;
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        fprintf(stderr, "jansson: %s\n", jerr.text);
    REQUIRE(j != NULL);
    json_decref(j);
    return b;
}

/* The binary encoding of v decodes to an equal value. */
static void wire_round_trip(const tfn_value_t *v)
{
    tfn__buf_t b;
    tfn__buf_init(&b, BUF_MAX);
    REQUIRE(tfn__wire_encode(v, &b) == 0);
    tfn_arena_t *a = tfn_arena_new(ARENA_MAX * 2);
    tfn_value_t *back = NULL;
    tfn_error_t err;
    REQUIRE(tfn__wire_decode(a, b.data, b.len, &back, &err) == 0);
    REQUIRE(tfn_value_equal(v, back));
    tfn_arena_free(a);
    tfn__buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tfn_arena_t *arena = tfn_arena_new(ARENA_MAX);
    tfn_value_t *v = NULL;
    tfn_error_t err;
    int rc = tfn__json_decode(arena, (const char *)data, size, &v, &err);
    if (rc) {
        REQUIRE(rc == TFN_EBADJSON || rc == TFN_ENOMEM);
        REQUIRE(err.message[0] != '\0' && err.code == rc);
        tfn_arena_free(arena);
        return 0;
    }

    tfn__buf_t text = json_text(v);
    tfn_arena_t *arena2 = tfn_arena_new(ARENA_MAX * 2);
    tfn_value_t *again = NULL;
    REQUIRE(tfn__json_decode(arena2, text.data ? text.data : "", text.len, &again, &err) == 0);
    REQUIRE(tfn_value_equal(v, again));
    tfn_arena_free(arena2);
    tfn__buf_free(&text);

    wire_round_trip(v);

    const tfn_value_t *checked = NULL;
    rc = tfn__validate_input(arena, fields, v, &checked, &err);
    if (rc) {
        REQUIRE(rc == TFN_ETYPE || rc == TFN_EINVAL || rc == TFN_EMISSING || rc == TFN_ENOMEM);
        REQUIRE(err.message[0] != '\0');
    } else {
        REQUIRE(tfn_typeof(checked) == TFN_TYPE_OBJECT);
        text = json_text(checked);
        tfn__buf_free(&text);
        wire_round_trip(checked);
    }
    tfn_arena_free(arena);
    return 0;
}
