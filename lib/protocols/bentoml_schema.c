/*
 * bentoml_schema.c — GET /schema.json in BentoML's service-schema format, so that BentoML's own
 * client (bentoml.SyncHTTPClient / AsyncHTTPClient, 1.4) can call a tiffin service.
 *
 * The client polls GET /readyz, reads GET /schema.json — what `Service.schema()` returns in
 * BentoML: {"name", "type": "service", "routes": [{"name", "route", "input", "output", ...}]} —
 * and then POSTs each call's keyword arguments as one JSON object to the route, which is exactly
 * tiffin's POST /{api}. The client uses the schemas to check arguments (unknown or missing ones
 * are a TypeError before any request) and to convert values:
 *   - a tensor field is {"type": "tensor", "format": "numpy-array", "dtype", "shape"}, BentoML's
 *     own form: the client turns lists or numpy arrays into a numpy array of that dtype (reshaped
 *     when the shape has at most one free dimension; otherwise the shape is left out) and sends
 *     it as nested lists;
 *   - a tensor output comes back as a numpy array, an object as a dict, other values as parsed;
 *   - a string output is {"type": ["string"]}: the client reads a plain {"type": "string"} as
 *     text/plain (the raw body), whereas tiffin answers JSON;
 *   - a streaming API's output carries "is_stream": true, as Service.schema() marks one: the
 *     client then sends the request with stream=True and yields what each read of the body
 *     returns (deserialized on its own), so a streamed string output is a plain
 *     {"type": "string"}: tiffin streams its pieces as raw text/plain, which the client decodes.
 * A 4xx or 5xx answer becomes BentoML's exception for that status (map_exception in the client:
 * 400 InvalidArgument, 404 NotFound, 429 TooManyRequests, 503 ServiceUnavailable, ...).
 */
#include <stdio.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "codec/json_writer_internal.h"
#include "protocols/protocols_internal.h"

/* numpy's names for our dtypes ("bool_" exists in numpy 1.x and 2.x alike). */
static const char *numpy_dtype(tfn_dtype_t dtype)
{
    switch (dtype) {
    case TFN_DTYPE_F32: return "float32";
    case TFN_DTYPE_F64: return "float64";
    case TFN_DTYPE_I32: return "int32";
    case TFN_DTYPE_I64: return "int64";
    case TFN_DTYPE_U8: return "uint8";
    case TFN_DTYPE_BOOL: return "bool_";
    default: return NULL;
    }
}

/* The schema of a declared input field (a JSON Schema, with BentoML's "tensor" type). */
static void field_schema(tfn__jw_t *w, const tfn_field_t *f)
{
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "title", f->name);
    if (f->doc && f->doc[0])
        tfn__jw_member_string(w, "description", f->doc);
    switch (f->type) {
    case TFN_TYPE_NULL: tfn__jw_member_string(w, "type", "null"); break;
    case TFN_TYPE_BOOL: tfn__jw_member_string(w, "type", "boolean"); break;
    case TFN_TYPE_INT: tfn__jw_member_string(w, "type", "integer"); break;
    case TFN_TYPE_FLOAT: tfn__jw_member_string(w, "type", "number"); break;
    case TFN_TYPE_STRING: tfn__jw_member_string(w, "type", "string"); break;
    case TFN_TYPE_BYTES:
        tfn__jw_member_string(w, "type", "string");
        tfn__jw_member_string(w, "format", "base64");
        break;
    case TFN_TYPE_LIST: /* the client reads "items" of every array */
        tfn__jw_member_string(w, "type", "array");
        tfn__jw_key(w, "items");
        tfn__jw_begin_object(w);
        tfn__jw_end_object(w);
        break;
    case TFN_TYPE_OBJECT: tfn__jw_member_string(w, "type", "object"); break;
    case TFN_TYPE_TENSOR: {
        tfn__jw_member_string(w, "type", "tensor");
        tfn__jw_member_string(w, "format", "numpy-array");
        if (numpy_dtype(f->dtype))
            tfn__jw_member_string(w, "dtype", numpy_dtype(f->dtype));
        int free_dims = 0;
        for (int d = 0; d < f->ndim; d++)
            free_dims += f->shape[d] < 0;
        if (f->ndim > 0 && free_dims <= 1) { /* numpy's reshape takes one -1 at most */
            tfn__jw_key(w, "shape");
            tfn__jw_begin_array(w);
            for (int d = 0; d < f->ndim; d++)
                tfn__jw_int(w, f->shape[d] < 0 ? -1 : (long long)f->shape[d]);
            tfn__jw_end_array(w);
        }
        break;
    }
    case TFN_TYPE_ANY:
    default: break;
    }
    tfn__jw_end_object(w);
}

static void output_schema(tfn__jw_t *w, tfn_type_t type, bool stream)
{
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "title", "Output");
    if (stream)
        tfn__jw_member_literal(w, "is_stream", "true");
    if (stream && type == TFN_TYPE_STRING) { /* raw text pieces (see the top of this file) */
        tfn__jw_member_string(w, "type", "string");
        tfn__jw_end_object(w);
        return;
    }
    switch (type) {
    case TFN_TYPE_NULL: tfn__jw_member_string(w, "type", "null"); break;
    case TFN_TYPE_BOOL: tfn__jw_member_string(w, "type", "boolean"); break;
    case TFN_TYPE_INT: tfn__jw_member_string(w, "type", "integer"); break;
    case TFN_TYPE_FLOAT: tfn__jw_member_string(w, "type", "number"); break;
    case TFN_TYPE_STRING:
    case TFN_TYPE_BYTES: /* JSON strings (see the top of this file) */
        tfn__jw_key(w, "type");
        tfn__jw_begin_array(w);
        tfn__jw_string(w, "string");
        tfn__jw_end_array(w);
        break;
    case TFN_TYPE_LIST: /* the client reads "items" of every array */
        tfn__jw_member_string(w, "type", "array");
        tfn__jw_key(w, "items");
        tfn__jw_begin_object(w);
        tfn__jw_end_object(w);
        break;
    case TFN_TYPE_OBJECT: tfn__jw_member_string(w, "type", "object"); break;
    case TFN_TYPE_TENSOR:
        tfn__jw_member_string(w, "type", "tensor");
        tfn__jw_member_string(w, "format", "numpy-array");
        break;
    case TFN_TYPE_ANY:
    default: break;
    }
    tfn__jw_end_object(w);
}

static void route(tfn__jw_t *w, const tfn_api_t *api)
{
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "name", api->name);
    tfn__jw_key(w, "route");
    tfn__jw_string_begin(w);
    tfn__jw_string_part(w, "/");
    tfn__jw_string_part(w, api->name);
    tfn__jw_string_end(w);
    if (api->doc && api->doc[0])
        tfn__jw_member_string(w, "description", api->doc);
    tfn__jw_member_literal(w, "batchable", "false");
    tfn__jw_key(w, "input");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "title", "Input");
    tfn__jw_member_string(w, "type", "object");
    tfn__jw_key(w, "properties");
    tfn__jw_begin_object(w);
    for (const tfn_field_t *f = api->inputs; f && f->name; f++) {
        tfn__jw_key(w, f->name);
        field_schema(w, f);
    }
    tfn__jw_end_object(w);
    tfn__jw_key(w, "required");
    tfn__jw_begin_array(w);
    for (const tfn_field_t *f = api->inputs; f && f->name; f++)
        if (!f->optional)
            tfn__jw_string(w, f->name);
    tfn__jw_end_array(w);
    tfn__jw_member_literal(w, "additionalProperties", "false");
    tfn__jw_end_object(w);
    tfn__jw_key(w, "output");
    output_schema(w, api->output, api->stream);
    tfn__jw_member_literal(w, "is_task", api->task.enabled ? "true" : "false");
    tfn__jw_end_object(w);
}

int tfn__bentoml_schema(const tfn_service_t *service, tfn__buf_t *out)
{
    tfn__jw_t w = {.out = out};
    tfn__jw_begin_object(&w);
    tfn__jw_member_string(&w, "name", service->name);
    tfn__jw_member_string(&w, "type", "service");
    tfn__jw_key(&w, "routes");
    tfn__jw_begin_array(&w);
    for (const tfn_api_t *api = service->apis; api->name; api++)
        route(&w, api);
    tfn__jw_end_array(&w);
    if (service->doc && service->doc[0])
        tfn__jw_member_string(&w, "description", service->doc);
    tfn__jw_end_object(&w);
    tfn__jw_raw(&w, "\n", 1);
    return w.rc;
}

bool tfn__serve_bentoml_schema(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                               bool keep_alive)
{
    (void)path;
    (void)body;
    tfn_error_t err;
    if (method != HTTP_GET && method != HTTP_HEAD) {
        tfn_error_set(&err, TFN_EMETHOD, "/schema.json accepts GET, not %s",
                      http_method_str(method));
        tfn__conn_respond_error(conn, &err, keep_alive, "Allow: GET, HEAD\r\n");
        return true;
    }
    tfn__buf_t doc;
    tfn__buf_init(&doc, 16 << 20);
    int rc = tfn__bentoml_schema(conn->server->service, &doc);
    if (rc != 0) {
        tfn__buf_free(&doc);
        tfn_error_set(&err, rc, "cannot generate the BentoML schema");
        tfn__conn_respond_error(conn, &err, keep_alive, NULL);
        return true;
    }
    tfn__conn_respond_buf(conn, 200, TFN__MEDIA_JSON, &doc, keep_alive, NULL);
    return true;
}
