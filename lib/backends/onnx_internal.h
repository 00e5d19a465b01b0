/*
 * onnx_internal.h — what the ONNX backend's files share: a model's signature and the check of
 * a request against it (onnx_check.c, which knows nothing of the runtime, so that the fuzz
 * target can exercise it without loading ONNX Runtime).
 */
#ifndef TIFFIN_ONNX_INTERNAL_H
#define TIFFIN_ONNX_INTERNAL_H

#include "tiffin.h"
#include "tiffin/onnx.h"

/** Default of tfn_onnx_options_t.max_elements. */
#define TFN__ONNX_MAX_ELEMENTS ((uint64_t)16 << 20)

/**
 * A model's inputs: `fields` has n entries plus a terminator, with exact ranks in `ndim` (0 is a
 * scalar here) and -1 for dynamic dims; `dim_names[i][d]` is the symbolic name the model gives
 * dim d of input i ("batch"), or NULL.
 */
typedef struct tfn__onnx_sig {
    size_t n;
    const tfn_field_t *fields;
    const char *const (*dim_names)[TFN_MAX_DIMS];
    uint64_t max_elements;
} tfn__onnx_sig_t;

/**
 * Checks `inputs` against the signature and sets ordered[i] to the tensor for input i (n
 * entries). Rules and codes as listed above tfn_onnx_run (tiffin/onnx.h); messages name the input
 * and say what the model expects. Dims that the model names alike (two inputs of shape
 * [batch, sequence]) must have the same size in every input. Never allocates.
 */
int tfn__onnx_check(const tfn__onnx_sig_t *sig, const tfn_value_t *inputs,
                    const tfn_value_t **ordered, tfn_error_t *err);

/**
 * "int64 [batch, sequence]", "float32 [-1, 3, 48, 320]": the doc string of a model input or
 * output, written into `out` (`size` bytes, NUL-terminated, truncated to fit).
 */
void tfn__onnx_describe(const tfn_field_t *field, const char *const *dim_names, char *out,
                        size_t size);

#endif
