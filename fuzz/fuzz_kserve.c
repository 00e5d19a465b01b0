/*
 * fuzz_kserve.c — libFuzzer target for the KServe v2 infer request parser (lib/protocols/
 * kserve_v2.c): the JSON header, the binary tensor extension, and validation after it.
 *
 * Input: the first byte picks the Inference-Header-Content-Length (0: none, all JSON; else the
 * next two bytes, little-endian, give it); the rest is the request body. Checked on every input:
 * decoding either succeeds with an object whose members are tensors of the shapes asked for, or
 * fails with a TFN_E* code and a message; nothing is read outside the body (ASan).
 * Run: build/fuzz/fuzz_kserve fuzz/corpus/kserve
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "protocols/protocols_internal.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_kserve: %s failed at line %d\n", #cond, __LINE__);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int never(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx, (void)in, (void)out;
    return TFN_EHANDLER;
}

static const tfn_field_t fields[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {-1, 3}},
    {.name = "n", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_I64, .ndim = 1, .shape = {-1}},
    {.name = "m", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_BOOL, .optional = true},
    {0}};
static const tfn_api_t api = {.name = "m", .handler = never, .inputs = fields};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t header_len = SIZE_MAX, skip = 1;
    if (data[0] && size >= 3) {
        header_len = (size_t)data[1] | (size_t)data[2] << 8;
        skip = 3;
    }
    size_t len = size - skip;
    char *body = malloc(len ? len : 1); /* exact size: ASan sees any overread */
    REQUIRE(body);
    memcpy(body, data + skip, len);
    tfn_arena_t *arena = tfn_arena_new((size_t)64 << 20);
    REQUIRE(arena);
    tfn__kserve_state_t *st = tfn__kserve_state_new(arena);
    REQUIRE(st);
    tfn_value_t *input = NULL;
    tfn_error_t err = {0};
    int rc = tfn__kserve_decode(arena, &api, st, body, len, header_len, &input, &err);
    if (rc == 0) {
        REQUIRE(tfn_typeof(input) == TFN_TYPE_OBJECT);
        for (size_t i = 0; i < tfn_len(input); i++) {
            const tfn_value_t *t = tfn_object_value_at(input, i);
            REQUIRE(tfn_typeof(t) == TFN_TYPE_TENSOR);
            size_t n = tfn_dtype_size(tfn_tensor_dtype(t));
            for (int d = 0; d < tfn_tensor_ndim(t); d++)
                n *= (size_t)tfn_tensor_shape(t)[d];
            REQUIRE(n == tfn_tensor_nbytes(t));
        }
        const tfn_value_t *checked = NULL;
        rc = tfn__validate_input(arena, fields, input, &checked, &err);
        REQUIRE(rc == 0 || (rc < 0 && err.message[0]));
    } else {
        REQUIRE(rc < 0 && err.code == rc && err.message[0]);
    }
    tfn_arena_free(arena);
    free(body);
    return 0;
}
