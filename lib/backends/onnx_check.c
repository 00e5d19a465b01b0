/*
 * onnx_check.c — checking a request's tensors against a model's signature before the runtime
 * sees them, so that a bad input gets a 4xx that names the input and what the model expects
 * (rather than the runtime's own message, or worse). Pure: no runtime, no allocation; called by
 * tfn_onnx_run (onnx.c) and by the fuzz target fuzz/fuzz_onnx_input.c.
 */
#include <stdio.h>
#include <string.h>

#include "backends/onnx_internal.h"

void tfn__onnx_describe(const tfn_field_t *field, const char *const *dim_names, char *out,
                        size_t size)
{
    size_t len = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (len < size) {                                                                          \
            int n_ = snprintf(out + len, size - len, __VA_ARGS__);                                 \
            len += n_ > 0 ? (size_t)n_ : 0;                                                        \
        }                                                                                          \
    } while (0)
    if (size == 0)
        return;
    out[0] = '\0';
    PUT("%s [", tfn_dtype_name(field->dtype));
    for (int d = 0; d < field->ndim && d < TFN_MAX_DIMS; d++) {
        if (dim_names && dim_names[d])
            PUT("%s%.40s", d ? ", " : "", dim_names[d]);
        else
            PUT("%s%lld", d ? ", " : "", (long long)field->shape[d]);
    }
    PUT("]");
#undef PUT
}

static void describe(const tfn__onnx_sig_t *sig, size_t i, char *out, size_t size)
{
    tfn__onnx_describe(&sig->fields[i], sig->dim_names ? sig->dim_names[i] : NULL, out, size);
}

static void describe_tensor(const tfn_value_t *t, char *out, size_t size)
{
    size_t len =
        (size_t)snprintf(out, size, "tensor(%s) of shape [", tfn_dtype_name(tfn_tensor_dtype(t)));
    const int64_t *shape = tfn_tensor_shape(t);
    for (int d = 0; d < tfn_tensor_ndim(t) && len < size; d++)
        len +=
            (size_t)snprintf(out + len, size - len, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (len < size)
        snprintf(out + len, size - len, "]");
}

/* "input_ids, attention_mask, token_type_ids" */
static void list_names(const tfn__onnx_sig_t *sig, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sig->n && len < size; i++) {
        int n = snprintf(out + len, size - len, "%s'%.40s'", i ? ", " : "", sig->fields[i].name);
        len += n > 0 ? (size_t)n : 0;
    }
}

static size_t find_input(const tfn__onnx_sig_t *sig, const char *name)
{
    for (size_t i = 0; i < sig->n; i++)
        if (strcmp(sig->fields[i].name, name) == 0)
            return i;
    return sig->n;
}

int tfn__onnx_check(const tfn__onnx_sig_t *sig, const tfn_value_t *inputs,
                    const tfn_value_t **ordered, tfn_error_t *err)
{
    char want[160], got[160], names[160];
    for (size_t i = 0; i < sig->n; i++)
        ordered[i] = NULL;
    if (tfn_typeof(inputs) != TFN_TYPE_OBJECT) {
        list_names(sig, names, sizeof names);
        return tfn_error_set(err, TFN_ETYPE, "the model's inputs (%s) go in an object, got %s",
                             names, tfn_type_name(tfn_typeof(inputs)));
    }
    for (size_t k = 0; k < tfn_len(inputs); k++) {
        const char *key = tfn_object_key_at(inputs, k);
        size_t i = find_input(sig, key);
        if (i == sig->n) {
            list_names(sig, names, sizeof names);
            return tfn_error_set(err, TFN_EINVAL,
                                 "unknown input '%.64s': the model's inputs are %s", key, names);
        }
        ordered[i] = tfn_object_value_at(inputs, k);
    }
    for (size_t i = 0; i < sig->n; i++) {
        const tfn_field_t *f = &sig->fields[i];
        const tfn_value_t *t = ordered[i];
        describe(sig, i, want, sizeof want);
        if (!t)
            return tfn_error_set(err, TFN_EMISSING, "missing input '%.64s' (%s)", f->name, want);
        if (tfn_typeof(t) != TFN_TYPE_TENSOR)
            return tfn_error_set(err, TFN_ETYPE, "input '%.64s': expected a tensor %s, got %s",
                                 f->name, want, tfn_type_name(tfn_typeof(t)));
        describe_tensor(t, got, sizeof got);
        if (tfn_tensor_dtype(t) != f->dtype)
            return tfn_error_set(err, TFN_ETYPE, "input '%.64s': expected %s, got %s", f->name,
                                 want, got);
        if (tfn_tensor_ndim(t) != f->ndim)
            return tfn_error_set(err, TFN_EINVAL, "input '%.64s': expected rank %d (%s), got %s",
                                 f->name, f->ndim, want, got);
        const int64_t *shape = tfn_tensor_shape(t);
        uint64_t elements = 1;
        for (int d = 0; d < f->ndim; d++) {
            if (f->shape[d] >= 0 && shape[d] != f->shape[d])
                return tfn_error_set(err, TFN_EINVAL,
                                     "input '%.64s': dim %d must be %lld (%s), got %s", f->name, d,
                                     (long long)f->shape[d], want, got);
            /* Saturating: a tensor's bytes are in memory, but be safe against any shape. */
            uint64_t size = (uint64_t)shape[d];
            elements = size && elements > UINT64_MAX / size ? UINT64_MAX : elements * size;
        }
        if (elements > sig->max_elements)
            return tfn_error_set(
                err, TFN_ETOOBIG, "input '%.64s' has %llu elements (%s); at most %llu are accepted",
                f->name, (unsigned long long)elements, got, (unsigned long long)sig->max_elements);
    }
    /* Dims the model names alike must agree across inputs (batch, sequence, ...). */
    if (!sig->dim_names)
        return 0;
    for (size_t i = 0; i < sig->n; i++) {
        for (int d = 0; d < sig->fields[i].ndim; d++) {
            const char *name = sig->dim_names[i][d];
            if (!name)
                continue;
            int64_t size = tfn_tensor_shape(ordered[i])[d];
            for (size_t j = 0; j < i; j++) {
                for (int e = 0; e < sig->fields[j].ndim; e++) {
                    const char *other = sig->dim_names[j][e];
                    int64_t other_size = tfn_tensor_shape(ordered[j])[e];
                    if (other && strcmp(other, name) == 0 && other_size != size)
                        return tfn_error_set(
                            err, TFN_EINVAL,
                            "input '%.64s': dim %d (%.40s) is %lld, but input '%.64s' has "
                            "%.40s = %lld",
                            sig->fields[i].name, d, name, (long long)size, sig->fields[j].name,
                            name, (long long)other_size);
                }
            }
        }
    }
    return 0;
}
