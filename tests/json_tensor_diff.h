/*
 * json_tensor_diff.h — the differential check of the lean JSON edge, shared by
 * tests/test_json_tensor.c and fuzz/fuzz_json_tensor.c: a body decoded by
 * tfn__json_decode_fields and validated must give exactly what tfn__json_decode and validation
 * give — the same code, the same message, and values whose binary encodings are byte-identical.
 */
#ifndef TIFFIN_TESTS_JSON_TENSOR_DIFF_H
#define TIFFIN_TESTS_JSON_TENSOR_DIFF_H

#include <string.h>

#include "codec/codec_internal.h"

static const tfn_field_t json_tensor_fields[] = {
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
    {.name = "s", .type = TFN_TYPE_STRING, .optional = true},
    {.name = "a", .type = TFN_TYPE_ANY, .optional = true},
    {0},
};

/* 0 when both paths agree; else a line number saying where they differ. `used` gets the arena
 * bytes the lean path took (NULL: not wanted). */
static int json_tensor_diff(const char *text, size_t len, size_t *used)
{
    tfn_arena_t *a = tfn_arena_new((size_t)64 << 20), *b = tfn_arena_new((size_t)64 << 20);
    tfn_value_t *va = NULL, *vb = NULL;
    const tfn_value_t *ia = NULL, *ib = NULL;
    tfn_error_t ea = {0}, eb = {0};
    int ra = tfn__json_decode(a, text, len, &va, &ea);
    if (ra == 0)
        ra = tfn__validate_input(a, json_tensor_fields, va, &ia, &ea);
    int rb = tfn__json_decode_fields(b, text, len, json_tensor_fields, &vb, &eb);
    if (used)
        *used = tfn_arena_used(b);
    if (rb == 0)
        rb = tfn__validate_input(b, json_tensor_fields, vb, &ib, &eb);
    int where = 0;
    if (ra != rb)
        where = __LINE__;
    else if (ra != 0 && ra != TFN_ENOMEM && strcmp(ea.message, eb.message) != 0)
        where = __LINE__;
    else if (ra == 0) {
        tfn__buf_t wa, wb;
        tfn__buf_init(&wa, (size_t)256 << 20);
        tfn__buf_init(&wb, (size_t)256 << 20);
        int ca = tfn__wire_encode(ia, &wa), cb = tfn__wire_encode(ib, &wb);
        if (ca != cb || wa.len != wb.len || (wa.len && memcmp(wa.data, wb.data, wa.len) != 0))
            where = __LINE__;
        tfn__buf_free(&wa);
        tfn__buf_free(&wb);
    }
    tfn_arena_free(a);
    tfn_arena_free(b);
    return where;
}

#endif
