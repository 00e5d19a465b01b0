/*
 * openapi.c — the OpenAPI 3.0.3 document of a service: served at GET /docs.json (dispatch.c) and
 * printed by `PROGRAM openapi` (cli.c).
 *
 * The document is derived from the constant service definition alone, so it is deterministic:
 * APIs in declaration order, then the operational endpoints, then the shared components. Every
 * string from the definition (names, docs) is escaped for JSON; bytes that are not valid UTF-8
 * become U+FFFD, so the output always parses.
 *
 * What it describes:
 *   - each API as `POST /{name}`: a JSON object body (one property per declared field, unknown
 *     members rejected) or the same value in tiffin's binary encoding, the declared output type,
 *     and the error responses (all sharing components/schemas/Error);
 *   - the operational endpoints answered by tiffin itself (GET /livez, /readyz, /healthz,
 *     /docs.json and /), tagged "operations".
 * Tensors are nested JSON lists, one level per dimension; a fixed dimension becomes
 * minItems = maxItems. The dtype and shape also appear as the extensions x-tiffin-dtype and
 * x-tiffin-shape (absent when the rank is free), for tools that know tiffin.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "codec/json_writer_internal.h"
#include "tiffin.h"

/* "$ref": "#/components/<section>/<name>" as the only member of an object. */
static void value_ref(tfn__jw_t *w, const char *section, const char *name)
{
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "$ref");
    tfn__jw_string_begin(w);
    tfn__jw_string_part(w, "#/components/");
    tfn__jw_string_part(w, section);
    tfn__jw_string_part(w, "/");
    tfn__jw_string_part(w, name);
    tfn__jw_string_end(w);
    tfn__jw_end_object(w);
}

/* ---------------------------------------------------------------------------------------------
 * Schemas of values
 * ------------------------------------------------------------------------------------------- */

static const char wire_description[] =
    "tiffin's binary encoding of the same value (application/vnd.tiffin, see "
    "docs/wire-format.md): tensors travel as raw little-endian buffers. Used between tiffin "
    "services.";

/* A description made of the user's doc and a note about the type, either of which may be NULL:
 * "doc", "note", or "doc (note)". Nothing is written when both are NULL. */
static void member_description(tfn__jw_t *w, const char *doc, const char *note)
{
    if (doc && !doc[0])
        doc = NULL;
    if (!doc && !note)
        return;
    tfn__jw_key(w, "description");
    tfn__jw_string_begin(w);
    tfn__jw_string_part(w, doc);
    if (doc && note)
        tfn__jw_string_part(w, " (");
    tfn__jw_string_part(w, note);
    if (doc && note)
        tfn__jw_string_part(w, ")");
    tfn__jw_string_end(w);
}

/* What a description adds to the user's doc for values of `type` (NULL: nothing to add). */
static const char *type_note(tfn_type_t type)
{
    switch (type) {
    case TFN_TYPE_NULL: return "always null";
    case TFN_TYPE_BYTES: return "bytes, base64-encoded";
    case TFN_TYPE_TENSOR: return "tensor: a number or nested lists of numbers, any dtype and rank";
    default: return NULL;
    }
}

/* The members of the schema of one tensor element of `dtype`. */
static void dtype_members(tfn__jw_t *w, tfn_dtype_t dtype)
{
    switch (dtype) {
    case TFN_DTYPE_F32:
        tfn__jw_member_string(w, "type", "number");
        tfn__jw_member_string(w, "format", "float");
        break;
    case TFN_DTYPE_F64:
        tfn__jw_member_string(w, "type", "number");
        tfn__jw_member_string(w, "format", "double");
        break;
    case TFN_DTYPE_I32:
        tfn__jw_member_string(w, "type", "integer");
        tfn__jw_member_string(w, "format", "int32");
        break;
    case TFN_DTYPE_I64:
        tfn__jw_member_string(w, "type", "integer");
        tfn__jw_member_string(w, "format", "int64");
        break;
    case TFN_DTYPE_U8:
        tfn__jw_member_string(w, "type", "integer");
        tfn__jw_member_int(w, "minimum", 0);
        tfn__jw_member_int(w, "maximum", 255);
        break;
    case TFN_DTYPE_BOOL: tfn__jw_member_string(w, "type", "boolean"); break;
    default: break; /* an invalid dtype: say nothing rather than something wrong */
    }
}

/*
 * The members of the schema of a value of `type`, apart from its description. Tensors here are
 * generic (an output, whose dtype and shape are not declared); declared tensor fields go through
 * tensor_field_members. `response`: the schema of something the service sends, where a float
 * can be null (NaN and infinities are encoded as null).
 */
static void type_members(tfn__jw_t *w, tfn_type_t type, bool response)
{
    switch (type) {
    case TFN_TYPE_NULL:
        /* OpenAPI 3.0 has no null type: a nullable schema whose only value is null. */
        tfn__jw_member_literal(w, "nullable", "true");
        tfn__jw_key(w, "enum");
        tfn__jw_begin_array(w);
        tfn__jw_literal(w, "null");
        tfn__jw_end_array(w);
        break;
    case TFN_TYPE_BOOL: tfn__jw_member_string(w, "type", "boolean"); break;
    case TFN_TYPE_INT:
        tfn__jw_member_string(w, "type", "integer");
        tfn__jw_member_string(w, "format", "int64");
        break;
    case TFN_TYPE_FLOAT:
        tfn__jw_member_string(w, "type", "number");
        tfn__jw_member_string(w, "format", "double");
        if (response)
            tfn__jw_member_literal(w, "nullable", "true");
        break;
    case TFN_TYPE_STRING: tfn__jw_member_string(w, "type", "string"); break;
    case TFN_TYPE_BYTES:
        tfn__jw_member_string(w, "type", "string");
        tfn__jw_member_string(w, "format", "byte");
        break;
    case TFN_TYPE_LIST:
        tfn__jw_member_string(w, "type", "array");
        tfn__jw_key(w, "items");
        tfn__jw_begin_object(w);
        tfn__jw_end_object(w);
        break;
    case TFN_TYPE_OBJECT: tfn__jw_member_string(w, "type", "object"); break;
    case TFN_TYPE_TENSOR:
        tfn__jw_key(w, "oneOf");
        tfn__jw_begin_array(w);
        tfn__jw_begin_object(w);
        tfn__jw_member_string(w, "type", "number");
        if (response) /* a NaN or infinite element is null, at any depth of the lists */
            tfn__jw_member_literal(w, "nullable", "true");
        tfn__jw_end_object(w);
        tfn__jw_begin_object(w);
        tfn__jw_member_string(w, "type", "boolean");
        tfn__jw_end_object(w);
        tfn__jw_begin_object(w);
        tfn__jw_member_string(w, "type", "array");
        tfn__jw_key(w, "items");
        tfn__jw_begin_object(w);
        tfn__jw_end_object(w);
        tfn__jw_end_object(w);
        tfn__jw_end_array(w);
        break;
    case TFN_TYPE_ANY:
    default: break; /* {} accepts anything */
    }
}

/* Levels `dim`..ndim-1 of a declared tensor: one array per dimension, then the element. */
static void tensor_level_members(tfn__jw_t *w, const tfn_field_t *f, int dim)
{
    if (dim == f->ndim) {
        dtype_members(w, f->dtype);
        return;
    }
    tfn__jw_member_string(w, "type", "array");
    if (f->shape[dim] >= 0) { /* -1 (any negative) leaves the size free */
        tfn__jw_member_int(w, "minItems", (long long)f->shape[dim]);
        tfn__jw_member_int(w, "maxItems", (long long)f->shape[dim]);
    }
    tfn__jw_key(w, "items");
    tfn__jw_begin_object(w);
    tensor_level_members(w, f, dim + 1);
    tfn__jw_end_object(w);
}

/* The members of the schema of a declared tensor field. */
static void tensor_field_members(tfn__jw_t *w, const tfn_field_t *f)
{
    /* The note: "tensor of float32, shape [-1, 64], -1 = any size" or "..., any rank". */
    char note[64 + 24 * TFN_MAX_DIMS];
    size_t n = (size_t)snprintf(note, sizeof note, "tensor of %s, ", tfn_dtype_name(f->dtype));
    bool free_dim = false;
    if (f->ndim == 0) {
        snprintf(note + n, sizeof note - n, "any rank");
    } else {
        n += (size_t)snprintf(note + n, sizeof note - n, "shape [");
        for (int d = 0; d < f->ndim; d++) {
            long long size = f->shape[d] >= 0 ? (long long)f->shape[d] : -1;
            free_dim = free_dim || size < 0;
            n += (size_t)snprintf(note + n, sizeof note - n, "%s%lld", d ? ", " : "", size);
        }
        snprintf(note + n, sizeof note - n, "]%s", free_dim ? ", -1 = any size" : "");
    }
    member_description(w, f->doc, note);
    tfn__jw_member_string(w, "x-tiffin-dtype", tfn_dtype_name(f->dtype));
    if (f->ndim > 0) {
        tfn__jw_key(w, "x-tiffin-shape");
        tfn__jw_begin_array(w);
        for (int d = 0; d < f->ndim; d++)
            tfn__jw_int(w, f->shape[d] >= 0 ? (long long)f->shape[d] : -1);
        tfn__jw_end_array(w);
        tensor_level_members(w, f, 0);
        return;
    }
    /* Any rank: a scalar of the dtype, or nested lists (whose depth a 3.0 schema without
     * recursive references cannot constrain). */
    tfn__jw_key(w, "oneOf");
    tfn__jw_begin_array(w);
    tfn__jw_begin_object(w);
    dtype_members(w, f->dtype);
    tfn__jw_end_object(w);
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "array");
    tfn__jw_key(w, "items");
    tfn__jw_begin_object(w);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
    tfn__jw_end_array(w);
}

static void field_schema(tfn__jw_t *w, const tfn_field_t *f)
{
    tfn__jw_begin_object(w);
    if (f->type == TFN_TYPE_TENSOR) {
        tensor_field_members(w, f);
    } else {
        member_description(w, f->doc, type_note(f->type));
        type_members(w, f->type, false);
    }
    tfn__jw_end_object(w);
}

/* The binary encoding's entry of a "content" object: the same value in application/vnd.tiffin. */
static void wire_media(tfn__jw_t *w)
{
    tfn__jw_key(w, TFN__MEDIA_WIRE);
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "schema");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "string");
    tfn__jw_member_string(w, "format", "binary");
    tfn__jw_member_string(w, "description", wire_description);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
}

/* ---------------------------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------------------------- */

/* The error statuses an API call can answer with, and what each means. The codes behind each
 * status are listed from TFN_ERROR_TABLE, so the text follows the table. */
static const struct {
    int status;
    const char *meaning;
} api_errors[] = {
    {400, "The request is invalid: malformed JSON or binary encoding, or a missing, unknown or "
          "mistyped field."},
    {404, "Not found."},
    {413, "The request body is larger than the service's limit (max_body_bytes)."},
    {415, "Unsupported Content-Type: send application/json or application/vnd.tiffin."},
    {429, "Too many requests in flight (max_concurrency); retry later (see Retry-After)."},
    {500, "The handler failed, or its output did not match its declared type."},
    {502, "A dependency (another service this one calls) failed."},
    {503, "The service is not ready yet (its init hook is running) or is shutting down."},
    {504, "The handler did not finish before the service's deadline (timeout_ms)."},
};

/* The "ErrorNNN" name of the shared response for `status`. */
static void response_name(char *name, size_t size, int status)
{
    snprintf(name, size, "Error%d", status);
}

/* `"NNN": {"$ref": "#/components/responses/ErrorNNN"}` */
static void member_error_ref(tfn__jw_t *w, int status)
{
    char code[16], name[32];
    snprintf(code, sizeof code, "%d", status);
    response_name(name, sizeof name, status);
    tfn__jw_key(w, code);
    value_ref(w, "responses", name);
}

/* A response with a body in both media types (the service's answer to an API call). */
static void output_response(tfn__jw_t *w, const tfn_api_t *api)
{
    tfn__jw_key(w, "200");
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "description");
    tfn__jw_string_begin(w);
    tfn__jw_string_part(w, "The output of the API: ");
    tfn__jw_string_part(w, tfn_type_name(api->output));
    tfn__jw_string_part(w,
                        ". Sent in tiffin's binary encoding when the request's Accept header names "
                        "application/vnd.tiffin, as JSON otherwise. JSON has no NaN or infinity: "
                        "a float (or float tensor element) that is one is null in JSON, and "
                        "exact in the binary encoding.");
    tfn__jw_string_end(w);
    tfn__jw_key(w, "content");
    tfn__jw_begin_object(w);
    tfn__jw_key(w, TFN__MEDIA_JSON);
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "schema");
    tfn__jw_begin_object(w);
    member_description(w, NULL, type_note(api->output));
    type_members(w, api->output, true);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
    wire_media(w);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
}

/* ---------------------------------------------------------------------------------------------
 * Paths
 * ------------------------------------------------------------------------------------------- */

/* The summary of an operation: the first line of its doc. */
static void member_summary(tfn__jw_t *w, const char *doc)
{
    if (!doc || !doc[0])
        return;
    size_t len = strcspn(doc, "\r\n");
    char line[256];
    if (len >= sizeof line)
        return; /* a long first line is no summary; the description has it */
    memcpy(line, doc, len);
    line[len] = '\0';
    if (len > 0)
        tfn__jw_member_string(w, "summary", line);
}

static void request_body(tfn__jw_t *w, const tfn_api_t *api)
{
    bool required = false;
    for (const tfn_field_t *f = api->inputs; f && f->name; f++)
        required = required || !f->optional;

    tfn__jw_key(w, "requestBody");
    tfn__jw_begin_object(w);
    tfn__jw_member_literal(w, "required", required ? "true" : "false");
    if (!api->inputs || !api->inputs[0].name)
        tfn__jw_member_string(w, "description",
                              "This API takes no inputs: send {} or an empty body.");
    tfn__jw_key(w, "content");
    tfn__jw_begin_object(w);

    tfn__jw_key(w, TFN__MEDIA_JSON);
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "schema");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "object");
    tfn__jw_key(w, "properties");
    tfn__jw_begin_object(w);
    for (const tfn_field_t *f = api->inputs; f && f->name; f++) {
        tfn__jw_key(w, f->name);
        field_schema(w, f);
    }
    tfn__jw_end_object(w);
    if (required) { /* "required" must not be an empty list in OpenAPI 3.0 */
        tfn__jw_key(w, "required");
        tfn__jw_begin_array(w);
        for (const tfn_field_t *f = api->inputs; f && f->name; f++)
            if (!f->optional)
                tfn__jw_string(w, f->name);
        tfn__jw_end_array(w);
    }
    tfn__jw_member_literal(w, "additionalProperties", "false");
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);

    wire_media(w);

    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
}

/* `"name": {"type": type}` */
static void property(tfn__jw_t *w, const char *name, const char *type)
{
    tfn__jw_key(w, name);
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", type);
    tfn__jw_end_object(w);
}

/* `"name": {"type": "string", "enum": [values...]}`; `values` ends with NULL. */
static void property_enum(tfn__jw_t *w, const char *name, const char *const *values)
{
    tfn__jw_key(w, name);
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "string");
    tfn__jw_key(w, "enum");
    tfn__jw_begin_array(w);
    for (; *values; values++)
        tfn__jw_string(w, *values);
    tfn__jw_end_array(w);
    tfn__jw_end_object(w);
}

/* `"required": [names...]`; `names` ends with NULL and is not empty. */
static void member_required(tfn__jw_t *w, const char *const *names)
{
    tfn__jw_key(w, "required");
    tfn__jw_begin_array(w);
    for (; *names; names++)
        tfn__jw_string(w, *names);
    tfn__jw_end_array(w);
}

/* ---- the bodies of the operational endpoints (as dispatch.c writes them) ---- */

static void status_schema(tfn__jw_t *w, const char *status)
{
    const char *const values[] = {status, NULL}, *const required[] = {"status", NULL};
    tfn__jw_member_string(w, "type", "object");
    member_required(w, required);
    tfn__jw_key(w, "properties");
    tfn__jw_begin_object(w);
    property_enum(w, "status", values);
    tfn__jw_end_object(w);
}

static void livez_schema(tfn__jw_t *w) { status_schema(w, "alive"); }
static void readyz_schema(tfn__jw_t *w) { status_schema(w, "ready"); }

static void healthz_schema(tfn__jw_t *w)
{
    static const char *const states[] = {"starting", "ok", "draining", NULL};
    static const char *const required[] = {"status", "service", "ready", NULL};
    tfn__jw_member_string(w, "type", "object");
    member_required(w, required);
    tfn__jw_key(w, "properties");
    tfn__jw_begin_object(w);
    property_enum(w, "status", states);
    property(w, "service", "string");
    property(w, "version", "string");
    property(w, "ready", "boolean");
    property(w, "worker", "integer");
    property(w, "in_flight", "integer");
    property(w, "queued", "integer");
    property(w, "served", "integer");
    property(w, "uptime_ms", "integer");
    property(w, "pid", "integer");
    tfn__jw_end_object(w);
}

static void docs_schema(tfn__jw_t *w)
{
    tfn__jw_member_string(w, "type", "object");
    tfn__jw_member_string(w, "description", "An OpenAPI 3.0 document.");
}

static void index_schema(tfn__jw_t *w)
{
    static const char *const required[] = {"service", "apis", NULL};
    tfn__jw_member_string(w, "type", "object");
    member_required(w, required);
    tfn__jw_key(w, "properties");
    tfn__jw_begin_object(w);
    property(w, "service", "string");
    tfn__jw_key(w, "apis");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "array");
    tfn__jw_key(w, "items");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "string");
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
    property(w, "docs", "string");
    tfn__jw_end_object(w);
}

/* The endpoints tiffin answers itself, before looking for an API (see dispatch.c). */
static const struct {
    const char *path;
    const char *operation_id; /* has a '.', which API names cannot: never collides with one */
    const char *summary;
    const char *description;
    int error_status; /* the error it can answer with; 0 for none */
    void (*schema)(tfn__jw_t *w);
} operations[] = {
    {"/livez", "tiffin.livez", "Liveness",
     "Answers 200 as long as the worker's event loop runs; it depends on nothing else.", 0,
     livez_schema},
    {"/readyz", "tiffin.readyz", "Readiness",
     "Answers 200 once the service's init hook has succeeded; 503 before that and while the "
     "worker shuts down.",
     503, readyz_schema},
    {"/healthz", "tiffin.healthz", "Health report", "The worker's state and counters.", 500,
     healthz_schema},
    {"/docs.json", "tiffin.docs", "This document", "The OpenAPI 3.0 document of the service.", 500,
     docs_schema},
    {"/", "tiffin.index", "Index", "The service's name and the names of its APIs.", 500,
     index_schema},
};

#define OPERATIONS_TAG "operations"

/* Is POST /{name} shadowed by an operational endpoint? Then requests never reach the API (the
 * dispatcher routes those paths first), and the document leaves the API out. */
static bool is_shadowed(const char *name)
{
    for (size_t i = 0; i < sizeof operations / sizeof *operations; i++)
        if (strcmp(operations[i].path + 1, name) == 0)
            return true;
    return false;
}

static void operation_path(tfn__jw_t *w, size_t i)
{
    tfn__jw_key(w, operations[i].path);
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "get");
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "tags");
    tfn__jw_begin_array(w);
    tfn__jw_string(w, OPERATIONS_TAG);
    tfn__jw_end_array(w);
    tfn__jw_member_string(w, "operationId", operations[i].operation_id);
    tfn__jw_member_string(w, "summary", operations[i].summary);
    tfn__jw_member_string(w, "description", operations[i].description);
    tfn__jw_key(w, "responses");
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "200");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "description", "OK");
    tfn__jw_key(w, "content");
    tfn__jw_begin_object(w);
    tfn__jw_key(w, TFN__MEDIA_JSON);
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "schema");
    tfn__jw_begin_object(w);
    operations[i].schema(w);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
    if (operations[i].error_status)
        member_error_ref(w, operations[i].error_status);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
}

static void api_path(tfn__jw_t *w, const tfn_service_t *service, const tfn_api_t *api)
{
    tfn__jw_key2(w, "/", api->name);
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "post");
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "tags");
    tfn__jw_begin_array(w);
    tfn__jw_string(w, service->name);
    tfn__jw_end_array(w);
    tfn__jw_member_string(w, "operationId", api->name);
    member_summary(w, api->doc);
    if (api->doc && api->doc[0])
        tfn__jw_member_string(w, "description", api->doc);
    request_body(w, api);
    tfn__jw_key(w, "responses");
    tfn__jw_begin_object(w);
    output_response(w, api);
    for (size_t i = 0; i < sizeof api_errors / sizeof *api_errors; i++)
        member_error_ref(w, api_errors[i].status);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
}

/* ---------------------------------------------------------------------------------------------
 * Components: the error body, and one shared response per error status
 * ------------------------------------------------------------------------------------------- */

/* Every error of TFN_ERROR_TABLE (TFN_OK excluded), with its HTTP status. */
static const struct {
    const char *name;
    int status;
} error_codes[] = {
#define X(name, value, status, desc) {(value) ? #name : NULL, status},
    TFN_ERROR_TABLE(X)
#undef X
};

static void error_schema(tfn__jw_t *w)
{
    static const char *const required[] = {"error", "code", "status", NULL};
    tfn__jw_key(w, "Error");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "object");
    tfn__jw_member_string(w, "description", "The body of every error response.");
    member_required(w, required);
    tfn__jw_key(w, "properties");
    tfn__jw_begin_object(w);

    tfn__jw_key(w, "error");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "string");
    tfn__jw_member_string(w, "description", "What went wrong, in words.");
    tfn__jw_end_object(w);

    tfn__jw_key(w, "code");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "string");
    tfn__jw_member_string(w, "description", "The stable machine-readable name of the error.");
    tfn__jw_key(w, "enum");
    tfn__jw_begin_array(w);
    for (size_t i = 0; i < sizeof error_codes / sizeof *error_codes; i++)
        if (error_codes[i].name)
            tfn__jw_string(w, error_codes[i].name);
    tfn__jw_end_array(w);
    tfn__jw_end_object(w);

    tfn__jw_key(w, "status");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "integer");
    tfn__jw_member_string(w, "description", "The HTTP status of the response.");
    tfn__jw_end_object(w);

    tfn__jw_key(w, "service");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "string");
    tfn__jw_member_string(w, "description", "The service that failed.");
    tfn__jw_end_object(w);

    tfn__jw_key(w, "api");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "type", "string");
    tfn__jw_member_string(w, "description", "The API that failed, if any.");
    tfn__jw_end_object(w);

    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
}

/* "ErrorNNN": a response whose description lists the codes that map to status NNN. */
static void error_response(tfn__jw_t *w, int status, const char *meaning)
{
    char name[32];
    response_name(name, sizeof name, status);
    tfn__jw_key(w, name);
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "description");
    tfn__jw_string_begin(w);
    tfn__jw_string_part(w, meaning);
    const char *sep = " Codes: ";
    for (size_t i = 0; i < sizeof error_codes / sizeof *error_codes; i++) {
        if (error_codes[i].name && error_codes[i].status == status) {
            tfn__jw_string_part(w, sep);
            tfn__jw_string_part(w, error_codes[i].name);
            sep = ", ";
        }
    }
    if (sep[0] == ',')
        tfn__jw_string_part(w, ".");
    tfn__jw_string_end(w);
    tfn__jw_key(w, "content");
    tfn__jw_begin_object(w);
    tfn__jw_key(w, TFN__MEDIA_JSON);
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "schema");
    value_ref(w, "schemas", "Error");
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);
}

/* ---------------------------------------------------------------------------------------------
 * The document
 * ------------------------------------------------------------------------------------------- */

/* What the writer cannot express: definitions tfn__service_check would refuse. */
static int check_definition(const tfn_service_t *service)
{
    if (!service || !service->name || !service->apis)
        return TFN_EINVAL;
    for (const tfn_api_t *api = service->apis; api->name; api++)
        for (const tfn_field_t *f = api->inputs; f && f->name; f++)
            if (f->type == TFN_TYPE_TENSOR && (f->ndim < 0 || f->ndim > TFN_MAX_DIMS))
                return TFN_EINVAL;
    return 0;
}

/*
 * Appends the document to `out` (the caller owns it). Returns 0; TFN_EINVAL for a definition that
 * tfn__service_check would refuse (no name or APIs, a tensor rank outside 0..TFN_MAX_DIMS); or
 * the first error of the buffer (TFN_ETOOBIG past its maximum, TFN_ENOMEM). On failure `out` is
 * left as it was found (its length restored).
 */
int tfn__openapi(const tfn_service_t *service, tfn__buf_t *out)
{
    int rc = check_definition(service);
    if (rc != 0)
        return rc;
    size_t start = out->len;
    tfn__jw_t writer = {.out = out}, *w = &writer;

    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "openapi", "3.0.3");

    tfn__jw_key(w, "info");
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "title", service->name);
    if (service->doc && service->doc[0]) {
        tfn__jw_member_string(w, "description", service->doc);
    } else {
        tfn__jw_key(w, "description");
        tfn__jw_string_begin(w);
        tfn__jw_string_part(w, "The APIs of the tiffin service ");
        tfn__jw_string_part(w, service->name);
        tfn__jw_string_part(w, ".");
        tfn__jw_string_end(w);
    }
    tfn__jw_member_string(w, "version",
                          service->version && service->version[0] ? service->version : "0.0.0");
    tfn__jw_member_string(w, "x-tiffin-version", TFN_VERSION);
    tfn__jw_end_object(w);

    /* Tag names must be unique: a service named "operations" shares the tag. */
    tfn__jw_key(w, "tags");
    tfn__jw_begin_array(w);
    if (strcmp(service->name, OPERATIONS_TAG) != 0) {
        tfn__jw_begin_object(w);
        tfn__jw_member_string(w, "name", service->name);
        tfn__jw_member_string(w, "description", "The service's APIs.");
        tfn__jw_end_object(w);
    }
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "name", OPERATIONS_TAG);
    tfn__jw_member_string(w, "description",
                          "Health checks and this document, answered by tiffin itself (GET).");
    tfn__jw_end_object(w);
    tfn__jw_end_array(w);

    tfn__jw_key(w, "paths");
    tfn__jw_begin_object(w);
    for (const tfn_api_t *api = service->apis; api->name; api++)
        if (!is_shadowed(api->name))
            api_path(w, service, api);
    for (size_t i = 0; i < sizeof operations / sizeof *operations; i++)
        operation_path(w, i);
    tfn__jw_end_object(w);

    tfn__jw_key(w, "components");
    tfn__jw_begin_object(w);
    tfn__jw_key(w, "schemas");
    tfn__jw_begin_object(w);
    error_schema(w);
    tfn__jw_end_object(w);
    tfn__jw_key(w, "responses");
    tfn__jw_begin_object(w);
    for (size_t i = 0; i < sizeof api_errors / sizeof *api_errors; i++)
        error_response(w, api_errors[i].status, api_errors[i].meaning);
    tfn__jw_end_object(w);
    tfn__jw_end_object(w);

    tfn__jw_end_object(w);

    if (w->rc != 0)
        out->len = start; /* leave no half document behind */
    return w->rc;
}
