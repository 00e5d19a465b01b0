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
#include "server/server_internal.h"

/* ---------------------------------------------------------------------------------------------
 * A small pretty-printing JSON writer over tfn__buf_t.
 *
 * Errors are sticky: the first failing append is kept in `rc` and every later call does nothing,
 * so the generator below reads as straight-line code and still returns the first error.
 * ------------------------------------------------------------------------------------------- */

/* Deepest nesting of the document: about 12 levels of structure plus one per tensor dimension. */
#define MAX_DEPTH 40

typedef struct writer {
    tfn__buf_t *out;
    int rc;               /* first error; once set, nothing more is written */
    int depth;            /* open containers */
    bool after_key;       /* the next value is the one of the key just written */
    bool more[MAX_DEPTH]; /* the container at this depth already has a member */
} writer_t;

static void put_raw(writer_t *w, const void *data, size_t len)
{
    if (w->rc == 0 && len > 0)
        w->rc = tfn__buf_append(w->out, data, len);
}

static void put(writer_t *w, const char *s) { put_raw(w, s, strlen(s)); }

static void newline(writer_t *w)
{
#define SPACES16 "                "
    static const char spaces[] = SPACES16 SPACES16 SPACES16 SPACES16 SPACES16;
#undef SPACES16
    _Static_assert(sizeof spaces - 1 >= 2 * MAX_DEPTH, "indentation for every depth");
    put_raw(w, "\n", 1);
    put_raw(w, spaces, 2 * (size_t)w->depth);
}

/*
 * Length of the valid UTF-8 sequence that starts at `s` (1 to 4), or 0 when the bytes there are
 * not valid UTF-8 (stray continuation bytes, overlong forms, surrogates, code points past
 * U+10FFFF, truncated sequences). `s` is NUL-terminated: a NUL fails the continuation test, and
 * the tests short-circuit, so nothing past the terminator is read.
 */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
            return 0; /* overlong, or a UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
            return 0; /* overlong, or past U+10FFFF */
        return 4;
    }
    return 0;
}

/* Appends the JSON-escaped text of `s` (without quotes). NULL is treated as "". */
static void put_escaped(writer_t *w, const char *s)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s, *run = p;
    while (*p) {
        size_t n = utf8_len(p);
        char esc[8];
        if (n == 0)
            snprintf(esc, sizeof esc, "\\ufffd");
        else if (*p == '"' || *p == '\\')
            snprintf(esc, sizeof esc, "\\%c", *p);
        else if (*p == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (*p == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (*p == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (*p < 0x20)
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*p);
        else {
            p += n;
            continue;
        }
        put_raw(w, run, (size_t)(p - run));
        put(w, esc);
        p += n ? n : 1;
        run = p;
    }
    put_raw(w, run, (size_t)(p - run));
}

/* Called before every value: separates array elements (object members are separated by key). */
static void value_begin(writer_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->more[w->depth])
            put(w, ",");
        w->more[w->depth] = true;
        newline(w);
    }
}

static void open_container(writer_t *w, const char *bracket)
{
    value_begin(w);
    put(w, bracket);
    if (w->depth + 1 >= MAX_DEPTH) {
        if (w->rc == 0)
            w->rc = TFN_EINVAL; /* cannot happen with ndim <= TFN_MAX_DIMS; checked anyway */
        return;
    }
    w->depth++;
    w->more[w->depth] = false;
}

static void close_container(writer_t *w, const char *bracket)
{
    bool had_members = w->more[w->depth];
    if (w->depth > 0)
        w->depth--;
    if (had_members)
        newline(w);
    put(w, bracket);
}

static void begin_object(writer_t *w) { open_container(w, "{"); }
static void end_object(writer_t *w) { close_container(w, "}"); }
static void begin_array(writer_t *w) { open_container(w, "["); }
static void end_array(writer_t *w) { close_container(w, "]"); }

/* A member's key made of two parts ("/" and an API name); `suffix` may be NULL. */
static void key2(writer_t *w, const char *prefix, const char *suffix)
{
    if (w->more[w->depth])
        put(w, ",");
    w->more[w->depth] = true;
    newline(w);
    put(w, "\"");
    put_escaped(w, prefix);
    put_escaped(w, suffix);
    put(w, "\": ");
    w->after_key = true;
}

static void key(writer_t *w, const char *name) { key2(w, name, NULL); }

/* A string value written in parts: string_begin, string_part..., string_end. */
static void string_begin(writer_t *w)
{
    value_begin(w);
    put(w, "\"");
}
static void string_part(writer_t *w, const char *s) { put_escaped(w, s); }
static void string_end(writer_t *w) { put(w, "\""); }

static void value_string(writer_t *w, const char *s)
{
    string_begin(w);
    string_part(w, s);
    string_end(w);
}

/* A literal: true, false, null, or a number already formatted. */
static void value_literal(writer_t *w, const char *literal)
{
    value_begin(w);
    put(w, literal);
}

static void value_int(writer_t *w, long long v)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", v);
    value_literal(w, text);
}

static void member_string(writer_t *w, const char *name, const char *s)
{
    key(w, name);
    value_string(w, s);
}

static void member_literal(writer_t *w, const char *name, const char *literal)
{
    key(w, name);
    value_literal(w, literal);
}

static void member_int(writer_t *w, const char *name, long long v)
{
    key(w, name);
    value_int(w, v);
}

/* "$ref": "#/components/<section>/<name>" as the only member of an object. */
static void value_ref(writer_t *w, const char *section, const char *name)
{
    begin_object(w);
    key(w, "$ref");
    string_begin(w);
    string_part(w, "#/components/");
    string_part(w, section);
    string_part(w, "/");
    string_part(w, name);
    string_end(w);
    end_object(w);
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
static void member_description(writer_t *w, const char *doc, const char *note)
{
    if (doc && !doc[0])
        doc = NULL;
    if (!doc && !note)
        return;
    key(w, "description");
    string_begin(w);
    string_part(w, doc);
    if (doc && note)
        string_part(w, " (");
    string_part(w, note);
    if (doc && note)
        string_part(w, ")");
    string_end(w);
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
static void dtype_members(writer_t *w, tfn_dtype_t dtype)
{
    switch (dtype) {
    case TFN_DTYPE_F32:
        member_string(w, "type", "number");
        member_string(w, "format", "float");
        break;
    case TFN_DTYPE_F64:
        member_string(w, "type", "number");
        member_string(w, "format", "double");
        break;
    case TFN_DTYPE_I32:
        member_string(w, "type", "integer");
        member_string(w, "format", "int32");
        break;
    case TFN_DTYPE_I64:
        member_string(w, "type", "integer");
        member_string(w, "format", "int64");
        break;
    case TFN_DTYPE_U8:
        member_string(w, "type", "integer");
        member_int(w, "minimum", 0);
        member_int(w, "maximum", 255);
        break;
    case TFN_DTYPE_BOOL: member_string(w, "type", "boolean"); break;
    default: break; /* an invalid dtype: say nothing rather than something wrong */
    }
}

/*
 * The members of the schema of a value of `type`, apart from its description. Tensors here are
 * generic (an output, whose dtype and shape are not declared); declared tensor fields go through
 * tensor_field_members. `response`: the schema of something the service sends, where a float
 * can be null (NaN and infinities are encoded as null).
 */
static void type_members(writer_t *w, tfn_type_t type, bool response)
{
    switch (type) {
    case TFN_TYPE_NULL:
        /* OpenAPI 3.0 has no null type: a nullable schema whose only value is null. */
        member_literal(w, "nullable", "true");
        key(w, "enum");
        begin_array(w);
        value_literal(w, "null");
        end_array(w);
        break;
    case TFN_TYPE_BOOL: member_string(w, "type", "boolean"); break;
    case TFN_TYPE_INT:
        member_string(w, "type", "integer");
        member_string(w, "format", "int64");
        break;
    case TFN_TYPE_FLOAT:
        member_string(w, "type", "number");
        member_string(w, "format", "double");
        if (response)
            member_literal(w, "nullable", "true");
        break;
    case TFN_TYPE_STRING: member_string(w, "type", "string"); break;
    case TFN_TYPE_BYTES:
        member_string(w, "type", "string");
        member_string(w, "format", "byte");
        break;
    case TFN_TYPE_LIST:
        member_string(w, "type", "array");
        key(w, "items");
        begin_object(w);
        end_object(w);
        break;
    case TFN_TYPE_OBJECT: member_string(w, "type", "object"); break;
    case TFN_TYPE_TENSOR:
        key(w, "oneOf");
        begin_array(w);
        begin_object(w);
        member_string(w, "type", "number");
        end_object(w);
        begin_object(w);
        member_string(w, "type", "boolean");
        end_object(w);
        begin_object(w);
        member_string(w, "type", "array");
        key(w, "items");
        begin_object(w);
        end_object(w);
        end_object(w);
        end_array(w);
        break;
    case TFN_TYPE_ANY:
    default: break; /* {} accepts anything */
    }
}

/* Levels `dim`..ndim-1 of a declared tensor: one array per dimension, then the element. */
static void tensor_level_members(writer_t *w, const tfn_field_t *f, int dim)
{
    if (dim == f->ndim) {
        dtype_members(w, f->dtype);
        return;
    }
    member_string(w, "type", "array");
    if (f->shape[dim] >= 0) { /* -1 (any negative) leaves the size free */
        member_int(w, "minItems", (long long)f->shape[dim]);
        member_int(w, "maxItems", (long long)f->shape[dim]);
    }
    key(w, "items");
    begin_object(w);
    tensor_level_members(w, f, dim + 1);
    end_object(w);
}

/* The members of the schema of a declared tensor field. */
static void tensor_field_members(writer_t *w, const tfn_field_t *f)
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
    member_string(w, "x-tiffin-dtype", tfn_dtype_name(f->dtype));
    if (f->ndim > 0) {
        key(w, "x-tiffin-shape");
        begin_array(w);
        for (int d = 0; d < f->ndim; d++)
            value_int(w, f->shape[d] >= 0 ? (long long)f->shape[d] : -1);
        end_array(w);
        tensor_level_members(w, f, 0);
        return;
    }
    /* Any rank: a scalar of the dtype, or nested lists (whose depth a 3.0 schema without
     * recursive references cannot constrain). */
    key(w, "oneOf");
    begin_array(w);
    begin_object(w);
    dtype_members(w, f->dtype);
    end_object(w);
    begin_object(w);
    member_string(w, "type", "array");
    key(w, "items");
    begin_object(w);
    end_object(w);
    end_object(w);
    end_array(w);
}

static void field_schema(writer_t *w, const tfn_field_t *f)
{
    begin_object(w);
    if (f->type == TFN_TYPE_TENSOR) {
        tensor_field_members(w, f);
    } else {
        member_description(w, f->doc, type_note(f->type));
        type_members(w, f->type, false);
    }
    end_object(w);
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
static void member_error_ref(writer_t *w, int status)
{
    char code[16], name[32];
    snprintf(code, sizeof code, "%d", status);
    response_name(name, sizeof name, status);
    key(w, code);
    value_ref(w, "responses", name);
}

/* A response with a body in both media types (the service's answer to an API call). */
static void output_response(writer_t *w, const tfn_api_t *api)
{
    key(w, "200");
    begin_object(w);
    key(w, "description");
    string_begin(w);
    string_part(w, "The output of the API: ");
    string_part(w, tfn_type_name(api->output));
    string_part(w, ". Sent in tiffin's binary encoding when the request's Accept header names "
                   "application/vnd.tiffin, as JSON otherwise.");
    string_end(w);
    key(w, "content");
    begin_object(w);
    key(w, TFN__MEDIA_JSON);
    begin_object(w);
    key(w, "schema");
    begin_object(w);
    member_description(w, NULL, type_note(api->output));
    type_members(w, api->output, true);
    end_object(w);
    end_object(w);
    key(w, TFN__MEDIA_WIRE);
    begin_object(w);
    key(w, "schema");
    begin_object(w);
    member_string(w, "type", "string");
    member_string(w, "format", "binary");
    member_string(w, "description", wire_description);
    end_object(w);
    end_object(w);
    end_object(w);
    end_object(w);
}

/* ---------------------------------------------------------------------------------------------
 * Paths
 * ------------------------------------------------------------------------------------------- */

/* The summary of an operation: the first line of its doc. */
static void member_summary(writer_t *w, const char *doc)
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
        member_string(w, "summary", line);
}

static void request_body(writer_t *w, const tfn_api_t *api)
{
    bool required = false;
    for (const tfn_field_t *f = api->inputs; f && f->name; f++)
        required = required || !f->optional;

    key(w, "requestBody");
    begin_object(w);
    member_literal(w, "required", required ? "true" : "false");
    if (!api->inputs || !api->inputs[0].name)
        member_string(w, "description", "This API takes no inputs: send {} or an empty body.");
    key(w, "content");
    begin_object(w);

    key(w, TFN__MEDIA_JSON);
    begin_object(w);
    key(w, "schema");
    begin_object(w);
    member_string(w, "type", "object");
    key(w, "properties");
    begin_object(w);
    for (const tfn_field_t *f = api->inputs; f && f->name; f++) {
        key(w, f->name);
        field_schema(w, f);
    }
    end_object(w);
    if (required) { /* "required" must not be an empty list in OpenAPI 3.0 */
        key(w, "required");
        begin_array(w);
        for (const tfn_field_t *f = api->inputs; f && f->name; f++)
            if (!f->optional)
                value_string(w, f->name);
        end_array(w);
    }
    member_literal(w, "additionalProperties", "false");
    end_object(w);
    end_object(w);

    key(w, TFN__MEDIA_WIRE);
    begin_object(w);
    key(w, "schema");
    begin_object(w);
    member_string(w, "type", "string");
    member_string(w, "format", "binary");
    member_string(w, "description", wire_description);
    end_object(w);
    end_object(w);

    end_object(w);
    end_object(w);
}

/* `"name": {"type": type}` */
static void property(writer_t *w, const char *name, const char *type)
{
    key(w, name);
    begin_object(w);
    member_string(w, "type", type);
    end_object(w);
}

/* `"name": {"type": "string", "enum": [values...]}`; `values` ends with NULL. */
static void property_enum(writer_t *w, const char *name, const char *const *values)
{
    key(w, name);
    begin_object(w);
    member_string(w, "type", "string");
    key(w, "enum");
    begin_array(w);
    for (; *values; values++)
        value_string(w, *values);
    end_array(w);
    end_object(w);
}

/* `"required": [names...]`; `names` ends with NULL and is not empty. */
static void member_required(writer_t *w, const char *const *names)
{
    key(w, "required");
    begin_array(w);
    for (; *names; names++)
        value_string(w, *names);
    end_array(w);
}

/* ---- the bodies of the operational endpoints (as dispatch.c writes them) ---- */

static void status_schema(writer_t *w, const char *status)
{
    const char *const values[] = {status, NULL}, *const required[] = {"status", NULL};
    member_string(w, "type", "object");
    member_required(w, required);
    key(w, "properties");
    begin_object(w);
    property_enum(w, "status", values);
    end_object(w);
}

static void livez_schema(writer_t *w) { status_schema(w, "alive"); }
static void readyz_schema(writer_t *w) { status_schema(w, "ready"); }

static void healthz_schema(writer_t *w)
{
    static const char *const states[] = {"starting", "ok", "draining", NULL};
    static const char *const required[] = {"status", "service", "ready", NULL};
    member_string(w, "type", "object");
    member_required(w, required);
    key(w, "properties");
    begin_object(w);
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
    end_object(w);
}

static void docs_schema(writer_t *w)
{
    member_string(w, "type", "object");
    member_string(w, "description", "An OpenAPI 3.0 document.");
}

static void index_schema(writer_t *w)
{
    static const char *const required[] = {"service", "apis", NULL};
    member_string(w, "type", "object");
    member_required(w, required);
    key(w, "properties");
    begin_object(w);
    property(w, "service", "string");
    key(w, "apis");
    begin_object(w);
    member_string(w, "type", "array");
    key(w, "items");
    begin_object(w);
    member_string(w, "type", "string");
    end_object(w);
    end_object(w);
    property(w, "docs", "string");
    end_object(w);
}

/* The endpoints tiffin answers itself, before looking for an API (see dispatch.c). */
static const struct {
    const char *path;
    const char *operation_id; /* has a '.', which API names cannot: never collides with one */
    const char *summary;
    const char *description;
    int error_status; /* the error it can answer with; 0 for none */
    void (*schema)(writer_t *w);
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

static void operation_path(writer_t *w, size_t i)
{
    key(w, operations[i].path);
    begin_object(w);
    key(w, "get");
    begin_object(w);
    key(w, "tags");
    begin_array(w);
    value_string(w, OPERATIONS_TAG);
    end_array(w);
    member_string(w, "operationId", operations[i].operation_id);
    member_string(w, "summary", operations[i].summary);
    member_string(w, "description", operations[i].description);
    key(w, "responses");
    begin_object(w);
    key(w, "200");
    begin_object(w);
    member_string(w, "description", "OK");
    key(w, "content");
    begin_object(w);
    key(w, TFN__MEDIA_JSON);
    begin_object(w);
    key(w, "schema");
    begin_object(w);
    operations[i].schema(w);
    end_object(w);
    end_object(w);
    end_object(w);
    end_object(w);
    if (operations[i].error_status)
        member_error_ref(w, operations[i].error_status);
    end_object(w);
    end_object(w);
    end_object(w);
}

static void api_path(writer_t *w, const tfn_service_t *service, const tfn_api_t *api)
{
    key2(w, "/", api->name);
    begin_object(w);
    key(w, "post");
    begin_object(w);
    key(w, "tags");
    begin_array(w);
    value_string(w, service->name);
    end_array(w);
    member_string(w, "operationId", api->name);
    member_summary(w, api->doc);
    if (api->doc && api->doc[0])
        member_string(w, "description", api->doc);
    request_body(w, api);
    key(w, "responses");
    begin_object(w);
    output_response(w, api);
    for (size_t i = 0; i < sizeof api_errors / sizeof *api_errors; i++)
        member_error_ref(w, api_errors[i].status);
    end_object(w);
    end_object(w);
    end_object(w);
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

static void error_schema(writer_t *w)
{
    static const char *const required[] = {"error", "code", "status", NULL};
    key(w, "Error");
    begin_object(w);
    member_string(w, "type", "object");
    member_string(w, "description", "The body of every error response.");
    member_required(w, required);
    key(w, "properties");
    begin_object(w);

    key(w, "error");
    begin_object(w);
    member_string(w, "type", "string");
    member_string(w, "description", "What went wrong, in words.");
    end_object(w);

    key(w, "code");
    begin_object(w);
    member_string(w, "type", "string");
    member_string(w, "description", "The stable machine-readable name of the error.");
    key(w, "enum");
    begin_array(w);
    for (size_t i = 0; i < sizeof error_codes / sizeof *error_codes; i++)
        if (error_codes[i].name)
            value_string(w, error_codes[i].name);
    end_array(w);
    end_object(w);

    key(w, "status");
    begin_object(w);
    member_string(w, "type", "integer");
    member_string(w, "description", "The HTTP status of the response.");
    end_object(w);

    key(w, "service");
    begin_object(w);
    member_string(w, "type", "string");
    member_string(w, "description", "The service that failed.");
    end_object(w);

    key(w, "api");
    begin_object(w);
    member_string(w, "type", "string");
    member_string(w, "description", "The API that failed, if any.");
    end_object(w);

    end_object(w);
    end_object(w);
}

/* "ErrorNNN": a response whose description lists the codes that map to status NNN. */
static void error_response(writer_t *w, int status, const char *meaning)
{
    char name[32];
    response_name(name, sizeof name, status);
    key(w, name);
    begin_object(w);
    key(w, "description");
    string_begin(w);
    string_part(w, meaning);
    const char *sep = " Codes: ";
    for (size_t i = 0; i < sizeof error_codes / sizeof *error_codes; i++) {
        if (error_codes[i].name && error_codes[i].status == status) {
            string_part(w, sep);
            string_part(w, error_codes[i].name);
            sep = ", ";
        }
    }
    if (sep[0] == ',')
        string_part(w, ".");
    string_end(w);
    key(w, "content");
    begin_object(w);
    key(w, TFN__MEDIA_JSON);
    begin_object(w);
    key(w, "schema");
    value_ref(w, "schemas", "Error");
    end_object(w);
    end_object(w);
    end_object(w);
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
    writer_t writer = {.out = out}, *w = &writer;

    begin_object(w);
    member_string(w, "openapi", "3.0.3");

    key(w, "info");
    begin_object(w);
    member_string(w, "title", service->name);
    if (service->doc && service->doc[0]) {
        member_string(w, "description", service->doc);
    } else {
        key(w, "description");
        string_begin(w);
        string_part(w, "The APIs of the tiffin service ");
        string_part(w, service->name);
        string_part(w, ".");
        string_end(w);
    }
    member_string(w, "version",
                  service->version && service->version[0] ? service->version : "0.0.0");
    member_string(w, "x-tiffin-version", TFN_VERSION);
    end_object(w);

    /* Tag names must be unique: a service named "operations" shares the tag. */
    key(w, "tags");
    begin_array(w);
    if (strcmp(service->name, OPERATIONS_TAG) != 0) {
        begin_object(w);
        member_string(w, "name", service->name);
        member_string(w, "description", "The service's APIs.");
        end_object(w);
    }
    begin_object(w);
    member_string(w, "name", OPERATIONS_TAG);
    member_string(w, "description",
                  "Health checks and this document, answered by tiffin itself (GET).");
    end_object(w);
    end_array(w);

    key(w, "paths");
    begin_object(w);
    for (const tfn_api_t *api = service->apis; api->name; api++)
        if (!is_shadowed(api->name))
            api_path(w, service, api);
    for (size_t i = 0; i < sizeof operations / sizeof *operations; i++)
        operation_path(w, i);
    end_object(w);

    key(w, "components");
    begin_object(w);
    key(w, "schemas");
    begin_object(w);
    error_schema(w);
    end_object(w);
    key(w, "responses");
    begin_object(w);
    for (size_t i = 0; i < sizeof api_errors / sizeof *api_errors; i++)
        error_response(w, api_errors[i].status, api_errors[i].meaning);
    end_object(w);
    end_object(w);

    end_object(w);

    if (w->rc != 0)
        out->len = start; /* leave no half document behind */
    return w->rc;
}
