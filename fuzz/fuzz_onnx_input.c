/*
 * fuzz_onnx_input.c — libFuzzer target for the model-input path of the ONNX backend: a request
 * body (JSON, or tiffin's binary encoding when the first byte is 0x01), validated against the
 * fields derived from a model's signature (as dispatch.c does) and then checked against the
 * signature itself (tfn__onnx_check, as tfn_onnx_run does before the runtime sees anything).
 * The runtime is not loaded: what reaches it is what this target proves safe.
 *
 * Two signatures: MiniLM's (three int64 inputs [batch, sequence] whose named dims must agree)
 * and the OCR recogniser's (float32 [N, 3, ?, W], a fixed dim), both with a small element limit.
 * Invariants on every accepted input: one tensor per model input, of the model's dtype and rank,
 * fixed dims equal, no more elements than the limit, and dims named alike equal.
 * Build: make fuzz; run: build/fuzz/fuzz_onnx_input fuzz/corpus/onnx_input
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/onnx_internal.h"
#include "codec/codec_internal.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_onnx_input: %s failed at line %d\n", #cond, __LINE__);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define INT64_SEQ(n)                                                                               \
    {                                                                                              \
        .name = n, .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_I64, .ndim = 2, .shape = { -1, -1 } \
    }
static const tfn_field_t minilm_fields[] = {
    INT64_SEQ("input_ids"), INT64_SEQ("attention_mask"), INT64_SEQ("token_type_ids"), {0}};
static const char *const minilm_dims[3][TFN_MAX_DIMS] = {
    {"batch", "sequence"}, {"batch", "sequence"}, {"batch", "sequence"}};
static const tfn_field_t ocr_fields[] = {{.name = "x",
                                          .type = TFN_TYPE_TENSOR,
                                          .dtype = TFN_DTYPE_F32,
                                          .ndim = 4,
                                          .shape = {-1, 3, -1, -1}},
                                         {0}};
static const char *const ocr_dims[1][TFN_MAX_DIMS] = {{"n", NULL, NULL, "width"}};

static const tfn__onnx_sig_t sigs[] = {
    {.n = 3, .fields = minilm_fields, .dim_names = minilm_dims, .max_elements = 512},
    {.n = 1, .fields = ocr_fields, .dim_names = ocr_dims, .max_elements = 3 * 48 * 64},
};

static void check_accepted(const tfn__onnx_sig_t *sig, const tfn_value_t **ordered)
{
    for (size_t i = 0; i < sig->n; i++) {
        const tfn_field_t *f = &sig->fields[i];
        const tfn_value_t *t = ordered[i];
        REQUIRE(tfn_typeof(t) == TFN_TYPE_TENSOR);
        REQUIRE(tfn_tensor_dtype(t) == f->dtype && tfn_tensor_ndim(t) == f->ndim);
        REQUIRE(tfn_len(t) <= sig->max_elements);
        REQUIRE(tfn_tensor_nbytes(t) == tfn_len(t) * tfn_dtype_size(f->dtype));
        for (int d = 0; d < f->ndim; d++) {
            REQUIRE(f->shape[d] < 0 || tfn_tensor_shape(t)[d] == f->shape[d]);
            const char *name = sig->dim_names[i][d];
            for (size_t j = 0; name && j < i; j++)
                for (int e = 0; e < sig->fields[j].ndim; e++)
                    if (sig->dim_names[j][e] && strcmp(sig->dim_names[j][e], name) == 0)
                        REQUIRE(tfn_tensor_shape(ordered[j])[e] == tfn_tensor_shape(t)[d]);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tfn_arena_t *arena = tfn_arena_new((size_t)16 << 20);
    REQUIRE(arena);
    tfn_value_t *v = NULL;
    tfn_error_t err;
    int rc;
    if (size > 0 && data[0] == 0x01) {
        /* The wire decoder wants 8-byte aligned data, as the server gives it. */
        void *copy = aligned_alloc(8, (size + 7) / 8 * 8);
        REQUIRE(copy);
        memcpy(copy, data + 1, size - 1);
        rc = tfn__wire_decode(arena, copy, size - 1, &v, &err);
        if (rc == 0)
            for (size_t s = 0; s < sizeof sigs / sizeof *sigs; s++) {
                const tfn_value_t *ordered[3];
                if (tfn__onnx_check(&sigs[s], v, ordered, &err) == 0)
                    check_accepted(&sigs[s], ordered);
                else
                    REQUIRE(err.message[0] && tfn_http_status(err.code) / 100 == 4);
            }
        free(copy);
    } else {
        rc = tfn__json_decode(arena, (const char *)data, size, &v, &err);
        for (size_t s = 0; rc == 0 && s < sizeof sigs / sizeof *sigs; s++) {
            const tfn_value_t *valid = NULL, *ordered[3];
            if (tfn__validate_input(arena, sigs[s].fields, v, &valid, &err) != 0)
                continue;
            if (tfn__onnx_check(&sigs[s], valid, ordered, &err) == 0)
                check_accepted(&sigs[s], ordered);
            else
                REQUIRE(err.message[0] && tfn_http_status(err.code) / 100 == 4);
        }
    }
    tfn_arena_free(arena);
    return 0;
}
