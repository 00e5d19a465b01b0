/*
 * kserve_v2.c — KServe v2, the Open Inference Protocol (REST), for the APIs whose inputs are
 * tensors: what tritonclient[http], KServe and Triton's tools speak.
 *
 *   GET  /v2                              server metadata: name, version, extensions
 *   GET  /v2/health/live, /v2/health/ready
 *   GET  /v2/models/{api}[/versions/{v}]  model metadata: inputs (name, datatype, shape)
 *   GET  /v2/models/{api}[/versions/{v}]/ready
 *   POST /v2/models/{api}[/versions/{v}]/infer
 *
 * Each API whose declared inputs are all tensors (at least one) is a model named after the API,
 * with the one version "1" (any version given in a path is accepted). An infer request is
 * {"id", "inputs": [{"name", "datatype", "shape", "data" | "parameters": {"binary_data_size"}}],
 * "outputs": [{"name", "parameters": {"binary_data"}}], "parameters": {"binary_data_output"}};
 * with the binary tensor extension the JSON is followed by the raw tensors, and the header
 * Inference-Header-Content-Length gives its length. Inputs become the API's input object and go
 * through the same validation, admission, deadline and handler as POST /{api}. The output is
 * mapped back: a tensor is the output "output"; an object gives one output per member that is a
 * tensor, a number, a bool, a string or a flat list of numbers (other members are left out);
 * outputs are binary when asked for. Errors are tiffin's JSON error body, whose "error" member is
 * what the protocol wants. Not ready is 503, as /readyz (the protocol suggests a 4xx).
 */
#include <stdio.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "codec/json_writer_internal.h"
#include "core/value_internal.h"
#include "protocols/protocols_internal.h"

#define MAX_OUTPUTS 64

struct tfn__kserve_state {
    size_t header_len; /* Inference-Header-Content-Length; SIZE_MAX: all JSON */
    const char *model; /* the API's name */
    const char *id;    /* the request's "id", echoed; NULL: none */
    bool binary_all;   /* parameters.binary_data_output */
    size_t noutputs;   /* outputs asked for; 0: all */
    const char *outputs[MAX_OUTPUTS];
    bool binary[MAX_OUTPUTS];
};

tfn__kserve_state_t *tfn__kserve_state_new(tfn_arena_t *arena)
{
    return tfn_arena_calloc(arena, sizeof(tfn__kserve_state_t));
}

/* ---------------------------------------------------------------------------------------------
 * Datatypes
 * ------------------------------------------------------------------------------------------- */

static const char *datatype_name(tfn_dtype_t dtype)
{
    switch (dtype) {
    case TFN_DTYPE_F32: return "FP32";
    case TFN_DTYPE_F64: return "FP64";
    case TFN_DTYPE_I32: return "INT32";
    case TFN_DTYPE_I64: return "INT64";
    case TFN_DTYPE_U8: return "UINT8";
    case TFN_DTYPE_BOOL: return "BOOL";
    default: return NULL;
    }
}

static bool datatype_parse(const char *name, tfn_dtype_t *dtype)
{
    for (int d = TFN_DTYPE_F32; d <= TFN_DTYPE_BOOL; d++)
        if (strcmp(name, datatype_name((tfn_dtype_t)d)) == 0) {
            *dtype = (tfn_dtype_t)d;
            return true;
        }
    return false;
}

bool tfn__kserve_is_model(const tfn_api_t *api)
{
    if (!api->inputs || !api->inputs[0].name)
        return false;
    for (const tfn_field_t *f = api->inputs; f->name; f++)
        if (f->type != TFN_TYPE_TENSOR || !datatype_name(f->dtype))
            return false;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Decoding an infer request
 * ------------------------------------------------------------------------------------------- */

/* Stores number `v` as element `i` of `t`, if it is one the dtype can hold exactly. */
static bool put_element(tfn_value_t *t, size_t i, const tfn_value_t *v)
{
    void *data = t->u.tensor.data;
    tfn_type_t type = tfn_typeof(v);
    switch (t->u.tensor.dtype) {
    case TFN_DTYPE_F32:
    case TFN_DTYPE_F64: {
        if (type != TFN_TYPE_INT && type != TFN_TYPE_FLOAT)
            return false;
        double d = tfn_as_float(v);
        if (t->u.tensor.dtype == TFN_DTYPE_F32)
            ((float *)data)[i] = (float)d;
        else
            ((double *)data)[i] = d;
        return true;
    }
    case TFN_DTYPE_I32:
    case TFN_DTYPE_I64:
    case TFN_DTYPE_U8: {
        if (type != TFN_TYPE_INT)
            return false;
        int64_t n = tfn_as_int(v);
        if (t->u.tensor.dtype == TFN_DTYPE_I64)
            ((int64_t *)data)[i] = n;
        else if (t->u.tensor.dtype == TFN_DTYPE_I32 && n >= INT32_MIN && n <= INT32_MAX)
            ((int32_t *)data)[i] = (int32_t)n;
        else if (t->u.tensor.dtype == TFN_DTYPE_U8 && n >= 0 && n <= 255)
            ((uint8_t *)data)[i] = (uint8_t)n;
        else
            return false;
        return true;
    }
    case TFN_DTYPE_BOOL:
        if (type != TFN_TYPE_BOOL)
            return false;
        ((uint8_t *)data)[i] = tfn_as_bool(v);
        return true;
    default: return false;
    }
}

/* Fills `t` from "data": flat, or nested lists (row-major either way). `*n` counts elements. */
static int fill_from_json(tfn_value_t *t, const tfn_value_t *data, size_t *n, size_t count,
                          int depth, const char *name, tfn_error_t *err)
{
    if (tfn_typeof(data) != TFN_TYPE_LIST) {
        if (*n >= count)
            return tfn_error_set(err, TFN_EINVAL, "input '%s': more data than its shape holds",
                                 name);
        if (!put_element(t, (*n)++, data))
            return tfn_error_set(err, TFN_ETYPE, "input '%s': element %zu is not a %s", name,
                                 *n - 1, datatype_name(t->u.tensor.dtype));
        return 0;
    }
    if (depth > TFN_MAX_DIMS)
        return tfn_error_set(err, TFN_EINVAL, "input '%s': data nested too deep", name);
    for (size_t i = 0; i < tfn_len(data); i++) {
        int rc = fill_from_json(t, tfn_list_get(data, i), n, count, depth + 1, name, err);
        if (rc)
            return rc;
    }
    return 0;
}

static const char *string_member(const tfn_value_t *obj, const char *key)
{
    const tfn_value_t *v = tfn_object_get(obj, key);
    return tfn_typeof(v) == TFN_TYPE_STRING ? tfn_as_string(v, NULL) : NULL;
}

static const tfn_field_t *find_field(const tfn_api_t *api, const char *name)
{
    for (const tfn_field_t *f = api->inputs; f && f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* One element of "inputs": a tensor from its JSON data or from the binary part at *pos. */
static int decode_input(tfn_arena_t *arena, const tfn_value_t *in, const char *body, size_t len,
                        size_t *pos, tfn_value_t **out, const char **name, tfn_error_t *err)
{
    *name = tfn_typeof(in) == TFN_TYPE_OBJECT ? string_member(in, "name") : NULL;
    if (!*name)
        return tfn_error_set(err, TFN_EINVAL, "each of \"inputs\" needs a \"name\"");
    const char *dt = string_member(in, "datatype");
    tfn_dtype_t dtype;
    if (!dt || !datatype_parse(dt, &dtype))
        return tfn_error_set(err, TFN_EINVAL,
                             "input '%s': datatype '%s' is not supported (FP32, FP64, INT32, "
                             "INT64, UINT8, BOOL are)",
                             *name, dt ? dt : "(none)");
    const tfn_value_t *shape_v = tfn_object_get(in, "shape");
    size_t ndim = tfn_len(shape_v);
    if (tfn_typeof(shape_v) != TFN_TYPE_LIST || ndim > TFN_MAX_DIMS)
        return tfn_error_set(err, TFN_EINVAL,
                             "input '%s': \"shape\" must be a list of at most "
                             "%d sizes",
                             *name, TFN_MAX_DIMS);
    int64_t shape[TFN_MAX_DIMS];
    size_t count = 1;
    for (size_t d = 0; d < ndim; d++) {
        const tfn_value_t *s = tfn_list_get(shape_v, d);
        int64_t n = tfn_as_int(s);
        if (tfn_typeof(s) != TFN_TYPE_INT || n < 0 || n > (int64_t)1 << 40 ||
            (n && count > ((size_t)1 << 40) / (size_t)n))
            return tfn_error_set(err, TFN_EINVAL, "input '%s': bad \"shape\"", *name);
        shape[d] = n;
        count *= (size_t)n;
    }
    size_t nbytes = count * tfn_dtype_size(dtype);
    const tfn_value_t *params = tfn_object_get(in, "parameters");
    const tfn_value_t *bsize = tfn_object_get(params, "binary_data_size");
    const tfn_value_t *data = tfn_object_get(in, "data");
    if (bsize) {
        if (tfn_typeof(bsize) != TFN_TYPE_INT || tfn_as_int(bsize) < 0 ||
            (uint64_t)tfn_as_int(bsize) != nbytes)
            return tfn_error_set(err, TFN_EINVAL,
                                 "input '%s': binary_data_size must be %zu (shape x %s)", *name,
                                 nbytes, dt);
        if (data)
            return tfn_error_set(err, TFN_EINVAL, "input '%s': both \"data\" and binary data",
                                 *name);
        if (nbytes > len - *pos)
            return tfn_error_set(err, TFN_EINVAL,
                                 "input '%s': the body ends inside its binary "
                                 "data",
                                 *name);
    } else if (!data) {
        return tfn_error_set(err, TFN_EMISSING, "input '%s' has no \"data\"", *name);
    } else if (count > 2 * len) { /* every JSON number takes at least two bytes */
        return tfn_error_set(err, TFN_EINVAL, "input '%s': data does not fill its shape", *name);
    }
    tfn_value_t *t = tfn_tensor(arena, dtype, (int)ndim, shape);
    if (!t)
        return tfn_error_set(err, TFN_ENOMEM, "input '%s': no memory for %zu bytes", *name, nbytes);
    if (bsize) {
        memcpy(t->u.tensor.data, body + *pos, nbytes); /* copied: the binary part is unaligned */
        *pos += nbytes;
    } else {
        size_t n = 0;
        int rc = fill_from_json(t, data, &n, count, 0, *name, err);
        if (rc)
            return rc;
        if (n != count)
            return tfn_error_set(err, TFN_EINVAL,
                                 "input '%s': %zu elements of data, shape has "
                                 "%zu",
                                 *name, n, count);
    }
    *out = t;
    return 0;
}

/* "outputs": which to send, and which of them in binary. */
static int decode_outputs(const tfn_value_t *outs, tfn__kserve_state_t *st, tfn_error_t *err)
{
    if (!outs)
        return 0;
    if (tfn_typeof(outs) != TFN_TYPE_LIST || tfn_len(outs) > MAX_OUTPUTS)
        return tfn_error_set(err, TFN_EINVAL, "\"outputs\" must be a list of at most %d",
                             MAX_OUTPUTS);
    for (size_t i = 0; i < tfn_len(outs); i++) {
        const tfn_value_t *o = tfn_list_get(outs, i);
        const char *name = tfn_typeof(o) == TFN_TYPE_OBJECT ? string_member(o, "name") : NULL;
        if (!name)
            return tfn_error_set(err, TFN_EINVAL, "each of \"outputs\" needs a \"name\"");
        st->outputs[st->noutputs] = name;
        st->binary[st->noutputs++] =
            tfn_as_bool(tfn_object_get(tfn_object_get(o, "parameters"), "binary_data"));
    }
    return 0;
}

int tfn__kserve_decode(tfn_arena_t *arena, const tfn_api_t *api, tfn__kserve_state_t *st,
                       const char *body, size_t len, size_t header_len, tfn_value_t **input,
                       tfn_error_t *err)
{
    if (header_len == SIZE_MAX)
        header_len = len;
    if (header_len > len)
        return tfn_error_set(err, TFN_EINVAL,
                             "Inference-Header-Content-Length %zu exceeds the body (%zu bytes)",
                             header_len, len);
    tfn_value_t *req;
    int rc = tfn__json_decode(arena, body, header_len, &req, err);
    if (rc)
        return rc;
    if (tfn_typeof(req) != TFN_TYPE_OBJECT)
        return tfn_error_set(err, TFN_ETYPE, "an infer request is a JSON object");
    st->id = string_member(req, "id");
    st->binary_all =
        tfn_as_bool(tfn_object_get(tfn_object_get(req, "parameters"), "binary_data_output"));
    if ((rc = decode_outputs(tfn_object_get(req, "outputs"), st, err)))
        return rc;
    const tfn_value_t *inputs = tfn_object_get(req, "inputs");
    if (tfn_typeof(inputs) != TFN_TYPE_LIST)
        return tfn_error_set(err, TFN_EMISSING, "an infer request needs \"inputs\", a list");
    tfn_value_t *obj = tfn_object(arena);
    if (!obj)
        return tfn_error_set(err, TFN_ENOMEM, "out of memory");
    size_t pos = header_len;
    for (size_t i = 0; i < tfn_len(inputs); i++) {
        const char *name = NULL;
        tfn_value_t *t = NULL;
        if ((rc = decode_input(arena, tfn_list_get(inputs, i), body, len, &pos, &t, &name, err)))
            return rc;
        if (!find_field(api, name))
            return tfn_error_set(err, TFN_EINVAL, "model '%s' has no input '%s'", api->name, name);
        if (tfn_object_get(obj, name))
            return tfn_error_set(err, TFN_EINVAL, "input '%s' given twice", name);
        if (tfn_object_set(arena, obj, name, t) != 0)
            return tfn_error_set(err, TFN_ENOMEM, "out of memory");
    }
    if (pos != len)
        return tfn_error_set(err, TFN_EINVAL, "%zu bytes of binary data belong to no input",
                             len - pos);
    *input = obj;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Encoding the answer
 * ------------------------------------------------------------------------------------------- */

/* An output as KServe sees it: a tensor, or a scalar/flat list made into one. */
typedef struct out_tensor {
    const char *name;
    const tfn_value_t *value;
    const char *datatype;
    int ndim;
    int64_t shape[TFN_MAX_DIMS];
} out_tensor_t;

/* Can member `v` be an output? Fills `o` (name set by the caller). */
static bool as_output(const tfn_value_t *v, out_tensor_t *o)
{
    o->value = v;
    o->ndim = 1;
    o->shape[0] = 1;
    switch (tfn_typeof(v)) {
    case TFN_TYPE_TENSOR:
        o->datatype = datatype_name(v->u.tensor.dtype);
        o->ndim = v->u.tensor.ndim;
        memcpy(o->shape, v->u.tensor.shape, sizeof o->shape);
        return o->datatype != NULL;
    case TFN_TYPE_INT: o->datatype = "INT64"; return true;
    case TFN_TYPE_FLOAT: o->datatype = "FP64"; return true;
    case TFN_TYPE_BOOL: o->datatype = "BOOL"; return true;
    case TFN_TYPE_STRING: o->datatype = "BYTES"; return true;
    case TFN_TYPE_LIST: {
        bool all_int = true;
        for (size_t i = 0; i < tfn_len(v); i++) {
            tfn_type_t t = tfn_typeof(tfn_list_get(v, i));
            if (t != TFN_TYPE_INT && t != TFN_TYPE_FLOAT)
                return false;
            all_int = all_int && t == TFN_TYPE_INT;
        }
        o->datatype = all_int ? "INT64" : "FP64";
        o->shape[0] = (int64_t)tfn_len(v);
        return true;
    }
    default: return false;
    }
}

static size_t element_count(const out_tensor_t *o)
{
    size_t n = 1;
    for (int d = 0; d < o->ndim; d++)
        n *= (size_t)o->shape[d];
    return n;
}

/* Element i of output `o` as a double (numbers) — for JSON "data". */
static void put_json_element(tfn__buf_t *out, const out_tensor_t *o, size_t i, int *rc)
{
    char num[TFN__NUMBER_MAX];
    const tfn_value_t *v = o->value;
    if (*rc)
        return;
    if (tfn_typeof(v) == TFN_TYPE_TENSOR) {
        const void *d = v->u.tensor.data;
        switch (v->u.tensor.dtype) {
        case TFN_DTYPE_F32: tfn__json_format_float(((const float *)d)[i], num); break;
        case TFN_DTYPE_F64: tfn__json_format_double(((const double *)d)[i], num); break;
        case TFN_DTYPE_I32: snprintf(num, sizeof num, "%d", ((const int32_t *)d)[i]); break;
        case TFN_DTYPE_I64:
            snprintf(num, sizeof num, "%lld", (long long)((const int64_t *)d)[i]);
            break;
        case TFN_DTYPE_U8: snprintf(num, sizeof num, "%u", ((const uint8_t *)d)[i]); break;
        default: snprintf(num, sizeof num, "%s", ((const uint8_t *)d)[i] ? "true" : "false");
        }
        *rc = tfn__buf_puts(out, num);
        return;
    }
    const tfn_value_t *e = tfn_typeof(v) == TFN_TYPE_LIST ? tfn_list_get(v, i) : v;
    *rc = tfn__json_encode(e, out);
}

/* The raw bytes of output `o` (little-endian, as KServe's binary extension wants). */
static int put_binary(tfn__buf_t *out, const out_tensor_t *o)
{
    const tfn_value_t *v = o->value;
    switch (tfn_typeof(v)) {
    case TFN_TYPE_TENSOR: return tfn__buf_append(out, v->u.tensor.data, v->u.tensor.nbytes);
    case TFN_TYPE_INT: {
        int64_t n = tfn_as_int(v);
        return tfn__buf_append(out, &n, sizeof n);
    }
    case TFN_TYPE_FLOAT: {
        double d = tfn_as_float(v);
        return tfn__buf_append(out, &d, sizeof d);
    }
    case TFN_TYPE_BOOL: {
        uint8_t b = tfn_as_bool(v);
        return tfn__buf_append(out, &b, 1);
    }
    case TFN_TYPE_STRING: { /* BYTES: a 4-byte length, then the bytes */
        size_t len;
        const char *s = tfn_as_string(v, &len);
        uint32_t n = (uint32_t)len;
        int rc = tfn__buf_append(out, &n, 4);
        return rc ? rc : tfn__buf_append(out, s, len);
    }
    default: { /* a flat list of numbers */
        bool all_int = strcmp(o->datatype, "INT64") == 0;
        for (size_t i = 0; i < tfn_len(v); i++) {
            const tfn_value_t *e = tfn_list_get(v, i);
            int64_t n = tfn_as_int(e);
            double d = tfn_as_float(e);
            int rc = all_int ? tfn__buf_append(out, &n, 8) : tfn__buf_append(out, &d, 8);
            if (rc)
                return rc;
        }
        return 0;
    }
    }
}

static size_t binary_size(const out_tensor_t *o)
{
    if (tfn_typeof(o->value) == TFN_TYPE_STRING) {
        size_t len;
        tfn_as_string(o->value, &len);
        return 4 + len;
    }
    return tfn_typeof(o->value) == TFN_TYPE_TENSOR ? o->value->u.tensor.nbytes
           : strcmp(o->datatype, "BOOL") == 0      ? 1
                                                   : 8 * element_count(o);
}

/* The outputs to send, in order: those asked for, or all that can be outputs. */
static int collect_outputs(const tfn__kserve_state_t *st, const tfn_value_t *output,
                           out_tensor_t *outs, bool *binary, size_t *n, tfn_error_t *err)
{
    *n = 0;
    if (tfn_typeof(output) == TFN_TYPE_TENSOR) {
        outs[0].name = "output";
        if (!as_output(output, &outs[0]))
            return tfn_error_set(err, TFN_EOUTPUT, "the output tensor has no KServe datatype");
        *n = 1;
    } else if (tfn_typeof(output) == TFN_TYPE_OBJECT) {
        for (size_t i = 0; i < tfn_len(output) && *n < MAX_OUTPUTS; i++) {
            outs[*n].name = tfn_object_key_at(output, i);
            if (as_output(tfn_object_value_at(output, i), &outs[*n]))
                (*n)++;
        }
    } else {
        outs[0].name = "output";
        if (as_output(output, &outs[0]))
            *n = 1;
    }
    for (size_t i = 0; i < *n; i++)
        binary[i] = st->binary_all;
    if (st->noutputs == 0)
        return 0;
    out_tensor_t all[MAX_OUTPUTS];
    memcpy(all, outs, *n * sizeof *outs);
    size_t nall = *n;
    *n = 0;
    for (size_t j = 0; j < st->noutputs; j++) {
        size_t i = 0;
        while (i < nall && strcmp(all[i].name, st->outputs[j]) != 0)
            i++;
        if (i == nall)
            return tfn_error_set(err, TFN_EINVAL, "model '%s' has no output '%s'", st->model,
                                 st->outputs[j]);
        outs[*n] = all[i];
        binary[(*n)++] = st->binary[j] || st->binary_all;
    }
    return 0;
}

static int encode(tfn__request_t *req, void *state, const tfn_value_t *output, tfn__buf_t *out,
                  char *content_type, char *headers, tfn_error_t *err)
{
    (void)req;
    tfn__kserve_state_t *st = state;
    out_tensor_t outs[MAX_OUTPUTS];
    bool binary[MAX_OUTPUTS];
    size_t n;
    int rc = collect_outputs(st, output, outs, binary, &n, err);
    if (rc)
        return rc;
    rc = tfn__buf_puts(out, "{\"model_name\":");
    if (!rc)
        rc = tfn__json_put_string(out, st->model, strlen(st->model));
    if (!rc)
        rc = tfn__buf_puts(out, ",\"model_version\":\"1\"");
    if (!rc && st->id) {
        rc = tfn__buf_puts(out, ",\"id\":");
        if (!rc)
            rc = tfn__json_put_string(out, st->id, strlen(st->id));
    }
    if (!rc)
        rc = tfn__buf_puts(out, ",\"outputs\":[");
    bool any_binary = false;
    for (size_t i = 0; i < n && !rc; i++) {
        const out_tensor_t *o = &outs[i];
        rc = tfn__buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
        if (!rc)
            rc = tfn__json_put_string(out, o->name, strlen(o->name));
        if (!rc)
            rc = tfn__buf_printf(out, ",\"datatype\":\"%s\",\"shape\":[", o->datatype);
        for (int d = 0; d < o->ndim && !rc; d++)
            rc = tfn__buf_printf(out, d ? ",%lld" : "%lld", (long long)o->shape[d]);
        if (!rc && binary[i]) {
            any_binary = true;
            rc = tfn__buf_printf(out, "],\"parameters\":{\"binary_data_size\":%zu}}",
                                 binary_size(o));
            continue;
        }
        if (!rc)
            rc = tfn__buf_puts(out, "],\"data\":[");
        for (size_t e = 0, count = element_count(o); e < count && !rc; e++) {
            if (e)
                rc = tfn__buf_puts(out, ",");
            put_json_element(out, o, e, &rc);
        }
        if (!rc)
            rc = tfn__buf_puts(out, "]}");
    }
    if (!rc)
        rc = tfn__buf_puts(out, "]}");
    size_t header_len = out->len;
    for (size_t i = 0; i < n && !rc && any_binary; i++)
        if (binary[i])
            rc = put_binary(out, &outs[i]);
    if (rc)
        return tfn_error_set(err, rc, "cannot encode the outputs: %s", tfn_strerror(rc));
    if (any_binary) {
        snprintf(content_type, 64, "application/octet-stream");
        snprintf(headers, 256, "Inference-Header-Content-Length: %zu\r\n", header_len);
    }
    return 0;
}

static int decode(tfn__request_t *req, void *state, const char *body, size_t len,
                  tfn_value_t **input, tfn_error_t *err)
{
    tfn__kserve_state_t *st = state;
    const tfn_api_t *api = NULL;
    const tfn_service_t *svc = req->server->service;
    for (const tfn_api_t *a = svc->apis; a->name && !api; a++)
        if (strcmp(a->name, st->model) == 0)
            api = a;
    return tfn__kserve_decode(tfn__request_arena(req), api, st, body, len, st->header_len, input,
                              err);
}

static const tfn__codec_t kserve_codec = {.decode = decode, .encode = encode};

/* ---------------------------------------------------------------------------------------------
 * Routes
 * ------------------------------------------------------------------------------------------- */

static void respond_error(tfn__conn_t *conn, bool keep_alive, const char *headers, int code,
                          const char *model, const char *fmt, const char *arg)
{
    tfn_error_t err;
    tfn_error_set(&err, code, fmt, arg);
    snprintf(err.service, sizeof err.service, "%s", conn->server->service->name);
    if (model)
        snprintf(err.api, sizeof err.api, "%s", model);
    tfn__conn_respond_error(conn, &err, keep_alive, headers);
}

static void respond_json(tfn__conn_t *conn, int status, tfn__buf_t *doc, int rc, bool keep_alive)
{
    if (rc) {
        tfn__buf_free(doc);
        respond_error(conn, keep_alive, NULL, rc, NULL, "%s", "cannot write the answer");
        return;
    }
    tfn__conn_respond_buf(conn, status, TFN__MEDIA_JSON, doc, keep_alive, NULL);
}

static bool is_ready(const tfn__server_t *server)
{
    return server->ready && !server->draining && !server->quiescing &&
           tfn__server_hooks_ready(server, NULL, 0);
}

static void server_metadata(tfn__conn_t *conn, bool keep_alive)
{
    const tfn_service_t *svc = conn->server->service;
    tfn__buf_t doc;
    tfn__buf_init(&doc, 1 << 20);
    tfn__jw_t w = {.out = &doc};
    tfn__jw_begin_object(&w);
    tfn__jw_member_string(&w, "name", svc->name);
    tfn__jw_member_string(&w, "version", svc->version ? svc->version : "0.0.0");
    tfn__jw_key(&w, "extensions");
    tfn__jw_begin_array(&w);
    tfn__jw_string(&w, "binary_tensor_data");
    tfn__jw_end_array(&w);
    tfn__jw_end_object(&w);
    respond_json(conn, 200, &doc, w.rc, keep_alive);
}

static void model_metadata(tfn__conn_t *conn, const tfn_api_t *api, bool keep_alive)
{
    tfn__buf_t doc;
    tfn__buf_init(&doc, 1 << 20);
    tfn__jw_t w = {.out = &doc};
    tfn__jw_begin_object(&w);
    tfn__jw_member_string(&w, "name", api->name);
    tfn__jw_key(&w, "versions");
    tfn__jw_begin_array(&w);
    tfn__jw_string(&w, "1");
    tfn__jw_end_array(&w);
    tfn__jw_member_string(&w, "platform", "tiffin");
    tfn__jw_key(&w, "inputs");
    tfn__jw_begin_array(&w);
    for (const tfn_field_t *f = api->inputs; f->name; f++) {
        tfn__jw_begin_object(&w);
        tfn__jw_member_string(&w, "name", f->name);
        tfn__jw_member_string(&w, "datatype", datatype_name(f->dtype));
        tfn__jw_key(&w, "shape");
        tfn__jw_begin_array(&w);
        for (int d = 0; d < f->ndim; d++)
            tfn__jw_int(&w, f->shape[d] < 0 ? -1 : (long long)f->shape[d]);
        if (f->ndim == 0) /* any rank: one free dimension is the nearest the protocol has */
            tfn__jw_int(&w, -1);
        tfn__jw_end_array(&w);
        tfn__jw_end_object(&w);
    }
    tfn__jw_end_array(&w);
    /* Outputs are not declared (an API declares only its output's type): they are known from
     * an answer. A tensor output is called "output". */
    tfn__jw_key(&w, "outputs");
    tfn__jw_begin_array(&w);
    tfn__jw_end_array(&w);
    tfn__jw_end_object(&w);
    respond_json(conn, 200, &doc, w.rc, keep_alive);
}

/* Splits "/v2/models/NAME[/versions/V][/ACTION]": the model's name (copied into `name`) and
 * the action ("", "ready" or "infer"; NULL when the path is not of that form). */
static const char *model_path(const char *path, char *name, size_t size)
{
    const char *p = path + strlen("/v2/models/");
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == 0 || len >= size)
        return NULL;
    memcpy(name, p, len);
    name[len] = '\0';
    if (!end)
        return "";
    p = end + 1;
    if (strncmp(p, "versions/", 9) == 0) {
        p += 9;
        end = strchr(p, '/');
        if (end == p)
            return NULL;
        if (!end)
            return "";
        p = end + 1;
    }
    return strchr(p, '/') ? NULL : p;
}

static bool method_is(tfn__conn_t *conn, int method, int want, const char *path, bool keep_alive)
{
    if (method == want || (want == HTTP_GET && method == HTTP_HEAD))
        return true;
    respond_error(conn, keep_alive, want == HTTP_GET ? "Allow: GET, HEAD\r\n" : "Allow: POST\r\n",
                  TFN_EMETHOD, NULL, "%s: wrong method", path);
    return false;
}

bool tfn__serve_kserve(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                       bool keep_alive)
{
    tfn__server_t *server = conn->server;
    if (strcmp(path, "/v2") == 0) {
        if (method != HTTP_GET && method != HTTP_HEAD)
            return false; /* POST /v2 is an API's, if there is one */
        server_metadata(conn, keep_alive);
        return true;
    }
    if (strcmp(path, "/v2/health/live") == 0) {
        if (method_is(conn, method, HTTP_GET, path, keep_alive))
            tfn__conn_respond(conn, 200, TFN__MEDIA_JSON, "{\"live\":true}", 13, keep_alive, NULL);
        return true;
    }
    if (strcmp(path, "/v2/health/ready") == 0) {
        if (!method_is(conn, method, HTTP_GET, path, keep_alive))
            return true;
        bool ready = is_ready(server);
        tfn__conn_respond(conn, ready ? 200 : 503, TFN__MEDIA_JSON,
                          ready ? "{\"ready\":true}" : "{\"ready\":false}", ready ? 14 : 15,
                          keep_alive, NULL);
        return true;
    }
    char name[128];
    const char *action =
        strncmp(path, "/v2/models/", 11) == 0 ? model_path(path, name, sizeof name) : NULL;
    if (!action) {
        respond_error(conn, keep_alive, NULL, TFN_ENOTFOUND, NULL, "no KServe v2 endpoint at '%s'",
                      path);
        return true;
    }
    const tfn_api_t *api = NULL;
    for (const tfn_api_t *a = server->service->apis; a->name && !api; a++)
        if (strcmp(a->name, name) == 0 && tfn__kserve_is_model(a))
            api = a;
    if (!api) {
        respond_error(conn, keep_alive, NULL, TFN_ENOTFOUND, NULL,
                      "no model '%s' (models are the APIs whose inputs are all tensors)", name);
    } else if (strcmp(action, "") == 0) {
        if (method_is(conn, method, HTTP_GET, path, keep_alive))
            model_metadata(conn, api, keep_alive);
    } else if (strcmp(action, "ready") == 0) {
        if (method_is(conn, method, HTTP_GET, path, keep_alive)) {
            bool ready = is_ready(server);
            tfn__conn_respond(conn, ready ? 200 : 503, TFN__MEDIA_JSON,
                              ready ? "{\"ready\":true}" : "{\"ready\":false}", ready ? 14 : 15,
                              keep_alive, NULL);
        }
    } else if (strcmp(action, "infer") == 0) {
        if (method_is(conn, method, HTTP_POST, path, keep_alive)) {
            tfn__kserve_state_t st = {.header_len = conn->infer_header_len, .model = api->name};
            tfn__dispatch_api_with(conn, api, body, keep_alive, &kserve_codec, &st, sizeof st);
        }
    } else {
        respond_error(conn, keep_alive, NULL, TFN_ENOTFOUND, api->name,
                      "no KServe v2 endpoint at '%s'", path);
    }
    return true;
}
