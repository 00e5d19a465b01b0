/*
 * batch_output.c — splitting a batch's output back among its requests (batch.c calls these
 * when a batch's handler has returned, on the loop).
 *
 * The handler returns a tensor, or an object, whose tensors of rank >= 1 have one row per input
 * row (dimension 0); each request gets its own rows, copied into its own arena, so that nothing
 * it answers with points into the batch (which is freed with its carrier). Scalars of an output
 * object (numbers, strings, bytes, null, rank-0 tensors) are copied to every request.
 */
#include <string.h>

#include "server/batch_internal.h"

/* Rows [row, row + rows) of tensor `t` (whose dimension 0 is the batch), copied into `arena`. */
static tfn_value_t *slice(tfn_arena_t *arena, const tfn_value_t *t, int64_t total, int64_t row,
                          int64_t rows)
{
    int ndim = tfn_tensor_ndim(t);
    int64_t shape[TFN_MAX_DIMS];
    memcpy(shape, tfn_tensor_shape(t), (size_t)ndim * sizeof *shape);
    shape[0] = rows;
    tfn_value_t *out = tfn_tensor(arena, tfn_tensor_dtype(t), ndim, shape);
    if (!out)
        return NULL;
    size_t row_bytes = total ? tfn_tensor_nbytes(t) / (size_t)total : 0;
    memcpy(tfn_tensor_data(out), (const char *)tfn_tensor_data(t) + (size_t)row * row_bytes,
           (size_t)rows * row_bytes);
    return out;
}

/* A copy of a scalar member of the output (copied to every request) into `arena`. */
static tfn_value_t *copy_scalar(tfn_arena_t *arena, const tfn_value_t *v)
{
    size_t len;
    const void *p;
    switch (tfn_typeof(v)) {
    case TFN_TYPE_NULL: return tfn_null(arena);
    case TFN_TYPE_BOOL: return tfn_bool(arena, tfn_as_bool(v));
    case TFN_TYPE_INT: return tfn_int(arena, tfn_as_int(v));
    case TFN_TYPE_FLOAT: return tfn_float(arena, tfn_as_float(v));
    case TFN_TYPE_STRING: p = tfn_as_string(v, &len); return tfn_stringn(arena, p, len);
    case TFN_TYPE_BYTES: p = tfn_as_bytes(v, &len); return tfn_bytes(arena, p, len);
    case TFN_TYPE_TENSOR: { /* rank 0 */
        tfn_value_t *t = tfn_tensor(arena, tfn_tensor_dtype(v), 0, NULL);
        if (t)
            memcpy(tfn_tensor_data(t), tfn_tensor_data(v), tfn_tensor_nbytes(v));
        return t;
    }
    default: return NULL;
    }
}

/* Is `v` splittable into the batch's rows (a tensor whose dimension 0 is `rows`)? A scalar
 * (anything but a list, an object or a tensor of rank >= 1) is copied instead. */
static bool splits(const tfn_value_t *v, int64_t rows)
{
    return tfn_tensor_ndim(v) >= 1 && tfn_tensor_shape(v)[0] == rows;
}

static bool copies(const tfn_value_t *v)
{
    tfn_type_t t = tfn_typeof(v);
    return t != TFN_TYPE_LIST && t != TFN_TYPE_OBJECT &&
           (t != TFN_TYPE_TENSOR || !tfn_tensor_ndim(v));
}

/* Checks the handler's output can be split; TFN_EOUTPUT with *err if not. */
int tfn__batch_check_output(const tfn__request_t *carrier, int64_t rows, tfn_error_t *err)
{
    const tfn_value_t *out = carrier->output;
    const char *api = carrier->api->name;
    if (tfn_typeof(out) == TFN_TYPE_TENSOR) {
        if (splits(out, rows))
            return 0;
        return tfn_error_set(err, TFN_EOUTPUT,
                             "API '%s' takes batches: its output tensor must have %lld rows "
                             "(dimension 0), one per input row",
                             api, (long long)rows);
    }
    if (tfn_typeof(out) != TFN_TYPE_OBJECT)
        return tfn_error_set(err, TFN_EOUTPUT,
                             "API '%s' takes batches: its output must be a tensor or an object "
                             "of tensors, not %s",
                             api, tfn_type_name(tfn_typeof(out)));
    for (size_t i = 0; i < tfn_len(out); i++) {
        const tfn_value_t *v = tfn_object_value_at(out, i);
        if (!splits(v, rows) && !copies(v))
            return tfn_error_set(err, TFN_EOUTPUT,
                                 "API '%s' takes batches: output member '%s' must be a tensor "
                                 "with %lld rows (dimension 0), or a scalar",
                                 api, tfn_object_key_at(out, i), (long long)rows);
    }
    return 0;
}

/* Member `m`'s share (rows [row, row + m->batch_rows)) of the output, in its own arena. */
int tfn__batch_split_for(const tfn__request_t *carrier, int64_t rows, tfn__request_t *m,
                         int64_t row)
{
    const tfn_value_t *out = carrier->output;
    if (tfn_typeof(out) == TFN_TYPE_TENSOR) {
        m->output = slice(m->arena, out, rows, row, m->batch_rows);
        return m->output ? 0 : TFN_ENOMEM;
    }
    tfn_value_t *obj = tfn_object(m->arena);
    if (!obj)
        return TFN_ENOMEM;
    for (size_t i = 0; i < tfn_len(out); i++) {
        const tfn_value_t *v = tfn_object_value_at(out, i);
        tfn_value_t *part = splits(v, rows) ? slice(m->arena, v, rows, row, m->batch_rows)
                                            : copy_scalar(m->arena, v);
        if (!part || tfn_object_set(m->arena, obj, tfn_object_key_at(out, i), part) != 0)
            return TFN_ENOMEM;
    }
    m->output = obj;
    return 0;
}
