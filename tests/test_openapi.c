/*
 * test_openapi.c — the OpenAPI document generator (lib/openapi.c).
 *
 * Builds service definitions that cover every field type, every tensor dtype, fixed and free
 * dimensions, any rank, optional fields, an API without inputs and docs that need escaping; parses
 * each document with jansson (rejecting duplicate keys) and checks its structure.
 *
 * With TFN_OPENAPI_DUMP_DIR set, each document is also written to that folder as <service>.json,
 * for tests/integration/validate_openapi.py (the real OpenAPI validator):
 *
 *     TFN_OPENAPI_DUMP_DIR=/tmp/oa build/tests/test_openapi
 *     .venv/bin/python tests/integration/validate_openapi.py /tmp/oa/Everything.json ...
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec/codec_internal.h"

static int dummy_handler(tfn_ctx_t *ctx, const tfn_value_t *input, tfn_value_t **output)
{
    (void)ctx, (void)input, (void)output;
    return 0;
}

/* ---- the services ------------------------------------------------------------------------- */

/* Quotes, backslash, newline, tab, a control byte, UTF-8 (2, 3, 4 bytes) and one invalid byte. */
#define TRICKY_DOC "Say \"hi\" \\ to\n\tall\x01 h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80 bad\xff!"
#define TRICKY_DOC_DECODED                                                                         \
    "Say \"hi\" \\ to\n\tall\x01 h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80 bad\xef\xbf\xbd!"

static const tfn_field_t typed_inputs[] = {
    {.name = "i", .type = TFN_TYPE_INT, .doc = "an integer"},
    {.name = "f", .type = TFN_TYPE_FLOAT},
    {.name = "b", .type = TFN_TYPE_BOOL, .optional = true},
    {.name = "s", .type = TFN_TYPE_STRING, .doc = "a \"quoted\" string"},
    {.name = "by", .type = TFN_TYPE_BYTES, .optional = true},
    {.name = "n", .type = TFN_TYPE_NULL, .optional = true},
    {.name = "l", .type = TFN_TYPE_LIST},
    {.name = "o", .type = TFN_TYPE_OBJECT, .optional = true},
    {.name = "a", .type = TFN_TYPE_ANY, .optional = true},
    {.name = "t",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_F32,
     .ndim = 2,
     .shape = {-1, 3},
     .doc = "rows of 3"},
    {.name = "we\"ird\\name", .type = TFN_TYPE_INT, .optional = true},
    {0},
};

static const tfn_field_t tensor_inputs[] = {
    {.name = "f32", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 1, .shape = {64}},
    {.name = "f64", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F64, .ndim = 0},
    {.name = "i32",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_I32,
     .ndim = 3,
     .shape = {2, -1, 4}},
    {.name = "i64", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_I64, .ndim = 1, .shape = {-1}},
    {.name = "u8", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_U8, .ndim = 2, .shape = {8, 8}},
    {.name = "mask",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_BOOL,
     .ndim = 1,
     .shape = {0},
     .optional = true},
    {.name = "deep",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_F32,
     .ndim = TFN_MAX_DIMS,
     .shape = {1, 2, 3, 4, 5, 6, 7, 8},
     .optional = true},
    {.name = "u8any", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_U8, .ndim = 0, .optional = true},
    {0},
};

static const tfn_field_t optional_inputs[] = {
    {.name = "x", .type = TFN_TYPE_FLOAT, .optional = true},
    {.name = "y", .type = TFN_TYPE_BOOL, .optional = true},
    {0},
};

static const tfn_field_t no_fields[] = {{0}};

static const tfn_api_t everything_apis[] = {
    {.name = "typed",
     .handler = dummy_handler,
     .inputs = typed_inputs,
     .output = TFN_TYPE_OBJECT,
     .doc = "Typed inputs.\nSecond line: " TRICKY_DOC},
    {.name = "tensors",
     .handler = dummy_handler,
     .inputs = tensor_inputs,
     .output = TFN_TYPE_TENSOR,
     .run = TFN_RUN_IN_THREAD,
     .doc = "Every dtype"},
    {.name = "ping", .handler = dummy_handler, .output = TFN_TYPE_STRING},
    {.name = "empty-inputs",
     .handler = dummy_handler,
     .inputs = no_fields,
     .output = TFN_TYPE_NULL},
    {.name = "maybe",
     .handler = dummy_handler,
     .inputs = optional_inputs,
     .output = TFN_TYPE_FLOAT},
    {.name = "livez", .handler = dummy_handler, .output = TFN_TYPE_ANY}, /* shadowed */
    {0},
};

static const tfn_service_t everything = {
    .name = "Everything",
    .doc = TRICKY_DOC,
    .version = "1.2.3-beta",
    .apis = everything_apis,
};

/* One API per output type, named after it. */
static const tfn_api_t output_apis[] = {
    {.name = "any", .handler = dummy_handler, .output = TFN_TYPE_ANY},
    {.name = "null", .handler = dummy_handler, .output = TFN_TYPE_NULL},
    {.name = "bool", .handler = dummy_handler, .output = TFN_TYPE_BOOL},
    {.name = "int", .handler = dummy_handler, .output = TFN_TYPE_INT},
    {.name = "float", .handler = dummy_handler, .output = TFN_TYPE_FLOAT},
    {.name = "string", .handler = dummy_handler, .output = TFN_TYPE_STRING},
    {.name = "bytes", .handler = dummy_handler, .output = TFN_TYPE_BYTES},
    {.name = "list", .handler = dummy_handler, .output = TFN_TYPE_LIST},
    {.name = "object", .handler = dummy_handler, .output = TFN_TYPE_OBJECT},
    {.name = "tensor", .handler = dummy_handler, .output = TFN_TYPE_TENSOR},
    {0},
};

static const tfn_service_t outputs = {.name = "Outputs", .apis = output_apis};

/* A service whose name is the operational endpoints' tag. */
static const tfn_api_t minimal_apis[] = {
    {.name = "go", .handler = dummy_handler, .inputs = optional_inputs},
    {0},
};
static const tfn_service_t operations_named = {.name = "operations", .apis = minimal_apis};

/* ---- helpers ------------------------------------------------------------------------------ */

/* Generates the document of `svc`, dumps it if asked, and parses it (NULL on any failure). */
static json_t *generate(const tfn_service_t *svc)
{
    tfn__buf_t out;
    tfn__buf_init(&out, 4 << 20);
    int rc = tfn__openapi(svc, &out);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        tfn__buf_free(&out);
        return NULL;
    }
    const char *dir = getenv("TFN_OPENAPI_DUMP_DIR");
    if (dir && dir[0]) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.json", dir, svc->name);
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        if (f) {
            CHECK(fwrite(out.data, 1, out.len, f) == out.len);
            CHECK(fclose(f) == 0);
        }
    }
    json_error_t error;
    json_t *doc = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &error);
    if (!doc)
        fprintf(stderr, "  %s: line %d, column %d: %s\n", svc->name, error.line, error.column,
                error.text);
    CHECK(doc != NULL);
    tfn__buf_free(&out);
    return doc;
}

/* Follows object keys (and, through arrays, decimal indexes) from `v`; the list ends with NULL.
 * Returns NULL if any step is missing. */
static json_t *get(json_t *v, ...)
{
    va_list ap;
    va_start(ap, v);
    for (const char *k; v && (k = va_arg(ap, const char *));)
        v = json_is_array(v) ? json_array_get(v, strtoul(k, NULL, 10)) : json_object_get(v, k);
    va_end(ap);
    return v;
}

static const char *str(json_t *v) { return json_is_string(v) ? json_string_value(v) : NULL; }

static long long integer(json_t *v) { return json_is_integer(v) ? json_integer_value(v) : -999; }

/* The JSON request schema of an API's field. */
static json_t *field(json_t *doc, const char *api_path, const char *name)
{
    return get(doc, "paths", api_path, "post", "requestBody", "content", "application/json",
               "schema", "properties", name, NULL);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_info_and_escaping(void)
{
    json_t *doc = generate(&everything);
    if (!doc)
        return;
    CHECK_EQ_STR(str(get(doc, "openapi", NULL)), "3.0.3");
    CHECK_EQ_STR(str(get(doc, "info", "title", NULL)), "Everything");
    CHECK_EQ_STR(str(get(doc, "info", "version", NULL)), "1.2.3-beta");
    CHECK_EQ_STR(str(get(doc, "info", "description", NULL)), TRICKY_DOC_DECODED);
    json_t *typed = get(doc, "paths", "/typed", "post", NULL);
    CHECK_EQ_STR(str(get(typed, "summary", NULL)), "Typed inputs.");
    CHECK_EQ_STR(str(get(typed, "description", NULL)),
                 "Typed inputs.\nSecond line: " TRICKY_DOC_DECODED);
    CHECK_EQ_STR(str(get(field(doc, "/typed", "s"), "description", NULL)), "a \"quoted\" string");
    CHECK(field(doc, "/typed", "we\"ird\\name") != NULL);
    json_decref(doc);
}

static void test_defaults(void)
{
    json_t *doc = generate(&outputs);
    if (!doc)
        return;
    CHECK_EQ_STR(str(get(doc, "info", "version", NULL)), "0.0.0");
    CHECK(str(get(doc, "info", "description", NULL)) != NULL);
    CHECK(get(doc, "paths", "/any", "post", "summary", NULL) == NULL);
    CHECK(get(doc, "paths", "/any", "post", "description", NULL) == NULL);
    json_decref(doc);
}

static void test_field_types(void)
{
    json_t *doc = generate(&everything);
    if (!doc)
        return;
    struct {
        const char *name, *type, *format;
    } expected[] = {
        {"i", "integer", "int64"}, {"f", "number", "double"}, {"b", "boolean", NULL},
        {"s", "string", NULL},     {"by", "string", "byte"},  {"l", "array", NULL},
        {"o", "object", NULL},     {"a", NULL, NULL},         {"t", "array", NULL},
    };
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
        json_t *f = field(doc, "/typed", expected[i].name);
        CHECK(json_is_object(f));
        if (expected[i].type)
            CHECK_EQ_STR(str(get(f, "type", NULL)), expected[i].type);
        else
            CHECK(get(f, "type", NULL) == NULL);
        if (expected[i].format)
            CHECK_EQ_STR(str(get(f, "format", NULL)), expected[i].format);
        else
            CHECK(get(f, "format", NULL) == NULL);
    }
    CHECK(json_is_object(get(field(doc, "/typed", "l"), "items", NULL)));
    json_t *n = field(doc, "/typed", "n");
    CHECK(json_is_true(get(n, "nullable", NULL)));
    CHECK(json_is_null(get(n, "enum", "0", NULL)));
    CHECK_EQ_INT(json_array_size(get(n, "enum", NULL)), 1);
    json_decref(doc);
}

static void test_request_body(void)
{
    json_t *doc = generate(&everything);
    if (!doc)
        return;
    json_t *body = get(doc, "paths", "/typed", "post", "requestBody", NULL);
    CHECK(json_is_true(get(body, "required", NULL)));
    json_t *schema = get(body, "content", "application/json", "schema", NULL);
    CHECK_EQ_STR(str(get(schema, "type", NULL)), "object");
    CHECK(json_is_false(get(schema, "additionalProperties", NULL)));
    CHECK_EQ_INT(json_object_size(get(schema, "properties", NULL)), 11);
    const char *required[] = {"i", "f", "s", "l", "t"};
    json_t *req = get(schema, "required", NULL);
    CHECK_EQ_INT(json_array_size(req), 5);
    for (size_t i = 0; i < 5; i++)
        CHECK_EQ_STR(str(json_array_get(req, i)), required[i]);
    json_t *wire = get(body, "content", "application/vnd.tiffin", "schema", NULL);
    CHECK_EQ_STR(str(get(wire, "type", NULL)), "string");
    CHECK_EQ_STR(str(get(wire, "format", NULL)), "binary");
    CHECK(str(get(wire, "description", NULL)) &&
          strstr(str(get(wire, "description", NULL)), "binary encoding"));

    /* No inputs at all, an empty field list, all fields optional: the body is not required and
     * there is no (empty, hence invalid) "required" list. */
    const char *optional_paths[] = {"/ping", "/empty-inputs", "/maybe"};
    for (size_t i = 0; i < 3; i++) {
        json_t *b = get(doc, "paths", optional_paths[i], "post", "requestBody", NULL);
        CHECK(json_is_false(get(b, "required", NULL)));
        json_t *s = get(b, "content", "application/json", "schema", NULL);
        CHECK(json_is_object(get(s, "properties", NULL)));
        CHECK(get(s, "required", NULL) == NULL);
        CHECK(json_is_false(get(s, "additionalProperties", NULL)));
    }
    CHECK_EQ_INT(json_object_size(get(doc, "paths", "/ping", "post", "requestBody", "content",
                                      "application/json", "schema", "properties", NULL)),
                 0);
    json_decref(doc);
}

static void test_tensors(void)
{
    json_t *doc = generate(&everything);
    if (!doc)
        return;
    /* t: float32 [-1, 3] */
    json_t *t = field(doc, "/typed", "t");
    CHECK_EQ_STR(str(get(t, "x-tiffin-dtype", NULL)), "float32");
    CHECK_EQ_INT(json_array_size(get(t, "x-tiffin-shape", NULL)), 2);
    CHECK_EQ_INT(integer(get(t, "x-tiffin-shape", "0", NULL)), -1);
    CHECK_EQ_INT(integer(get(t, "x-tiffin-shape", "1", NULL)), 3);
    CHECK(get(t, "minItems", NULL) == NULL && get(t, "maxItems", NULL) == NULL);
    CHECK_EQ_STR(str(get(t, "items", "type", NULL)), "array");
    CHECK_EQ_INT(integer(get(t, "items", "minItems", NULL)), 3);
    CHECK_EQ_INT(integer(get(t, "items", "maxItems", NULL)), 3);
    CHECK_EQ_STR(str(get(t, "items", "items", "type", NULL)), "number");
    CHECK_EQ_STR(str(get(t, "items", "items", "format", NULL)), "float");
    const char *d = str(get(t, "description", NULL));
    CHECK(d && strstr(d, "rows of 3") && strstr(d, "float32") && strstr(d, "[-1, 3]"));

    json_t *f32 = field(doc, "/tensors", "f32");
    CHECK_EQ_INT(integer(get(f32, "minItems", NULL)), 64);
    CHECK_EQ_INT(integer(get(f32, "maxItems", NULL)), 64);

    json_t *f64 = field(doc, "/tensors", "f64"); /* any rank */
    CHECK_EQ_STR(str(get(f64, "x-tiffin-dtype", NULL)), "float64");
    CHECK(get(f64, "x-tiffin-shape", NULL) == NULL);
    CHECK(str(get(f64, "description", NULL)) &&
          strstr(str(get(f64, "description", NULL)), "tensor of float64, any rank"));
    CHECK_EQ_STR(str(get(f64, "oneOf", "0", "type", NULL)), "number");
    CHECK_EQ_STR(str(get(f64, "oneOf", "0", "format", NULL)), "double");
    CHECK_EQ_STR(str(get(f64, "oneOf", "1", "type", NULL)), "array");

    json_t *i32 = field(doc, "/tensors", "i32");
    CHECK_EQ_STR(str(get(i32, "x-tiffin-dtype", NULL)), "int32");
    CHECK_EQ_INT(integer(get(i32, "maxItems", NULL)), 2);
    CHECK(get(i32, "items", "maxItems", NULL) == NULL);
    CHECK_EQ_INT(integer(get(i32, "items", "items", "maxItems", NULL)), 4);
    CHECK_EQ_STR(str(get(i32, "items", "items", "items", "type", NULL)), "integer");
    CHECK_EQ_STR(str(get(i32, "items", "items", "items", "format", NULL)), "int32");

    json_t *i64 = field(doc, "/tensors", "i64");
    CHECK_EQ_STR(str(get(i64, "items", "format", NULL)), "int64");

    json_t *u8 = field(doc, "/tensors", "u8");
    CHECK_EQ_STR(str(get(u8, "x-tiffin-dtype", NULL)), "uint8");
    CHECK_EQ_INT(integer(get(u8, "items", "items", "minimum", NULL)), 0);
    CHECK_EQ_INT(integer(get(u8, "items", "items", "maximum", NULL)), 255);

    json_t *mask = field(doc, "/tensors", "mask"); /* a fixed size of 0 is still a constraint */
    CHECK_EQ_STR(str(get(mask, "x-tiffin-dtype", NULL)), "bool");
    CHECK_EQ_INT(integer(get(mask, "maxItems", NULL)), 0);
    CHECK_EQ_STR(str(get(mask, "items", "type", NULL)), "boolean");

    json_t *level = field(doc, "/tensors", "deep");
    for (int dim = 0; dim < TFN_MAX_DIMS; dim++) {
        CHECK_EQ_STR(str(get(level, "type", NULL)), "array");
        CHECK_EQ_INT(integer(get(level, "minItems", NULL)), dim + 1);
        level = get(level, "items", NULL);
    }
    CHECK_EQ_STR(str(get(level, "type", NULL)), "number");

    json_t *u8any = field(doc, "/tensors", "u8any");
    CHECK_EQ_INT(integer(get(u8any, "oneOf", "0", "maximum", NULL)), 255);

    json_t *req = get(doc, "paths", "/tensors", "post", "requestBody", "content",
                      "application/json", "schema", "required", NULL);
    CHECK_EQ_INT(json_array_size(req), 5);
    json_decref(doc);
}

static void test_responses(void)
{
    json_t *doc = generate(&outputs);
    if (!doc)
        return;
    struct {
        const char *path, *type;
    } expected[] = {
        {"/any", NULL},        {"/bool", "boolean"}, {"/int", "integer"}, {"/float", "number"},
        {"/string", "string"}, {"/bytes", "string"}, {"/list", "array"},  {"/object", "object"},
    };
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
        json_t *ok = get(doc, "paths", expected[i].path, "post", "responses", "200", NULL);
        CHECK(str(get(ok, "description", NULL)) != NULL);
        json_t *schema = get(ok, "content", "application/json", "schema", NULL);
        CHECK(json_is_object(schema));
        if (expected[i].type)
            CHECK_EQ_STR(str(get(schema, "type", NULL)), expected[i].type);
        else
            CHECK(get(schema, "type", NULL) == NULL);
        CHECK_EQ_STR(str(get(ok, "content", "application/vnd.tiffin", "schema", "format", NULL)),
                     "binary");
    }
    CHECK(json_is_true(get(doc, "paths", "/null", "post", "responses", "200", "content",
                           "application/json", "schema", "nullable", NULL)));
    CHECK(json_is_array(get(doc, "paths", "/tensor", "post", "responses", "200", "content",
                            "application/json", "schema", "oneOf", NULL)));

    const int statuses[] = {400, 404, 413, 415, 429, 500, 502, 503, 504};
    json_t *responses = get(doc, "paths", "/int", "post", "responses", NULL);
    CHECK_EQ_INT(json_object_size(responses), 1 + sizeof statuses / sizeof *statuses);
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        char code[8], ref[64], name[16];
        snprintf(code, sizeof code, "%d", statuses[i]);
        snprintf(name, sizeof name, "Error%d", statuses[i]);
        snprintf(ref, sizeof ref, "#/components/responses/%s", name);
        CHECK_EQ_STR(str(get(responses, code, "$ref", NULL)), ref);
        json_t *shared = get(doc, "components", "responses", name, NULL);
        CHECK(str(get(shared, "description", NULL)) != NULL);
        CHECK_EQ_STR(str(get(shared, "content", "application/json", "schema", "$ref", NULL)),
                     "#/components/schemas/Error");
    }
    const char *d413 = str(get(doc, "components", "responses", "Error413", "description", NULL));
    CHECK(d413 && strstr(d413, "ETOOBIG"));
    json_decref(doc);
}

static void test_error_schema(void)
{
    json_t *doc = generate(&outputs);
    if (!doc)
        return;
    json_t *error = get(doc, "components", "schemas", "Error", NULL);
    CHECK_EQ_STR(str(get(error, "type", NULL)), "object");
    CHECK_EQ_STR(str(get(error, "properties", "error", "type", NULL)), "string");
    CHECK_EQ_STR(str(get(error, "properties", "status", "type", NULL)), "integer");
    CHECK_EQ_STR(str(get(error, "properties", "service", "type", NULL)), "string");
    CHECK_EQ_STR(str(get(error, "properties", "api", "type", NULL)), "string");
    json_t *required = get(error, "required", NULL);
    CHECK_EQ_STR(str(json_array_get(required, 0)), "error");
    CHECK_EQ_STR(str(json_array_get(required, 1)), "code");

    /* The enum follows the error table (TFN_OK excluded). */
    static const struct {
        const char *name;
        int value;
    } table[] = {
#define X(name, value, status, desc) {#name, value},
        TFN_ERROR_TABLE(X)
#undef X
    };
    json_t *codes = get(error, "properties", "code", "enum", NULL);
    size_t n = 0;
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        if (table[i].value == 0)
            continue;
        CHECK_EQ_STR(str(json_array_get(codes, n)), table[i].name);
        n++;
    }
    CHECK_EQ_INT(json_array_size(codes), n);
    CHECK(n >= 23);
    json_decref(doc);
}

static void test_paths_and_tags(void)
{
    json_t *doc = generate(&everything);
    if (!doc)
        return;
    const char *apis[] = {"/typed", "/tensors", "/ping", "/empty-inputs", "/maybe"};
    for (size_t i = 0; i < sizeof apis / sizeof *apis; i++) {
        json_t *post = get(doc, "paths", apis[i], "post", NULL);
        CHECK(json_is_object(post));
        CHECK_EQ_STR(str(get(post, "operationId", NULL)), apis[i] + 1);
        CHECK_EQ_STR(str(get(post, "tags", "0", NULL)), "Everything");
        CHECK_EQ_INT(json_object_size(get(doc, "paths", apis[i], NULL)), 1);
    }
    const char *ops[] = {"/livez", "/readyz", "/healthz", "/docs.json", "/"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        json_t *item = get(doc, "paths", ops[i], NULL);
        CHECK_EQ_INT(json_object_size(item), 1); /* GET only: the API "livez" is shadowed */
        CHECK_EQ_STR(str(get(item, "get", "tags", "0", NULL)), "operations");
        CHECK(json_is_object(get(item, "get", "responses", "200", NULL)));
    }
    CHECK_EQ_INT(json_object_size(get(doc, "paths", NULL)), 10);
    CHECK_EQ_STR(str(get(doc, "paths", "/readyz", "get", "responses", "503", "$ref", NULL)),
                 "#/components/responses/Error503");

    /* Paths come in declaration order, then the operational endpoints. */
    const char *order[] = {"/typed", "/tensors", "/ping", "/empty-inputs", "/maybe", "/livez"};
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(get(doc, "paths", NULL), k, v)
    {
        if (i < sizeof order / sizeof *order)
            CHECK_EQ_STR(k, order[i]);
        i++;
    }

    json_t *tags = get(doc, "tags", NULL);
    CHECK_EQ_INT(json_array_size(tags), 2);
    CHECK_EQ_STR(str(get(tags, "0", "name", NULL)), "Everything");
    CHECK_EQ_STR(str(get(tags, "1", "name", NULL)), "operations");
    json_decref(doc);

    doc = generate(&operations_named);
    if (!doc)
        return;
    CHECK_EQ_INT(json_array_size(get(doc, "tags", NULL)), 1);
    CHECK_EQ_STR(str(get(doc, "paths", "/go", "post", "tags", "0", NULL)), "operations");
    json_decref(doc);
}

static void test_deterministic_and_appends(void)
{
    tfn__buf_t a, b;
    tfn__buf_init(&a, 4 << 20);
    tfn__buf_init(&b, 4 << 20);
    CHECK_EQ_INT(tfn__openapi(&everything, &a), 0);
    CHECK_EQ_INT(tfn__buf_puts(&b, "prefix:"), 0);
    CHECK_EQ_INT(tfn__openapi(&everything, &b), 0);
    CHECK(b.len == a.len + 7 && memcmp(b.data, "prefix:", 7) == 0 &&
          memcmp(b.data + 7, a.data, a.len) == 0);
    tfn__buf_free(&a);
    tfn__buf_free(&b);
}

/* Every size limit short of the whole document fails with TFN_ETOOBIG and leaves the buffer as
 * it was: this walks the error path of (nearly) every write. */
static void test_buffer_limit(void)
{
    tfn__buf_t full;
    tfn__buf_init(&full, 4 << 20);
    CHECK_EQ_INT(tfn__openapi(&everything, &full), 0);
    size_t need = full.len;
    tfn__buf_free(&full);
    int wrong = 0;
    for (size_t max = 3; max < need + 3; max += max < 300 ? 1 : 61) {
        tfn__buf_t out;
        tfn__buf_init(&out, max);
        if (tfn__buf_puts(&out, "ab") != 0) {
            wrong++;
            continue;
        }
        int rc = tfn__openapi(&everything, &out);
        int want = max - 2 >= need ? 0 : TFN_ETOOBIG;
        if (rc != want || out.len != (rc ? 2 : need + 2) || memcmp(out.data, "ab", 2) != 0)
            wrong++;
        tfn__buf_free(&out);
    }
    CHECK_EQ_INT(wrong, 0);
    tfn__buf_t exact;
    tfn__buf_init(&exact, need);
    CHECK_EQ_INT(tfn__openapi(&everything, &exact), 0);
    CHECK_EQ_INT(exact.len, need);
    tfn__buf_free(&exact);
}

static void test_bad_definitions(void)
{
    tfn__buf_t out;
    tfn__buf_init(&out, 1 << 20);
    CHECK_EQ_INT(tfn__openapi(NULL, &out), TFN_EINVAL);
    tfn_service_t no_apis = {.name = "x"};
    CHECK_EQ_INT(tfn__openapi(&no_apis, &out), TFN_EINVAL);
    tfn_field_t too_deep[] = {{.name = "t", .type = TFN_TYPE_TENSOR, .ndim = TFN_MAX_DIMS + 1},
                              {0}};
    tfn_api_t apis[] = {{.name = "a", .handler = dummy_handler, .inputs = too_deep}, {0}};
    tfn_service_t svc = {.name = "x", .apis = apis};
    CHECK_EQ_INT(tfn__openapi(&svc, &out), TFN_EINVAL);
    too_deep[0].ndim = -1;
    CHECK_EQ_INT(tfn__openapi(&svc, &out), TFN_EINVAL);
    CHECK_EQ_INT(out.len, 0);
    tfn__buf_free(&out);
}

int main(void)
{
    RUN(test_info_and_escaping);
    RUN(test_defaults);
    RUN(test_field_types);
    RUN(test_request_body);
    RUN(test_tensors);
    RUN(test_responses);
    RUN(test_error_schema);
    RUN(test_paths_and_tags);
    RUN(test_deterministic_and_appends);
    RUN(test_buffer_limit);
    RUN(test_bad_definitions);
    return check_summary("openapi");
}
