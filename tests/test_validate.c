/* test_validate.c — checking inputs against declared fields, converting to tensors; outputs. */
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "codec/codec_internal.h"
#include "core/value_internal.h"

static tfn_arena_t *arena;

/* Decodes JSON (which must be valid) in the test arena. */
static tfn_value_t *json(const char *text)
{
    tfn_value_t *v = NULL;
    tfn_error_t err;
    if (tfn__json_decode(arena, text, strlen(text), &v, &err) != 0) {
        fprintf(stderr, "  bad test JSON %s: %s\n", text, err.message);
        abort();
    }
    return v;
}

/* Validates JSON text against `fields`; returns the code, *out and the message. */
static int validate(const tfn_field_t *fields, const char *text, const tfn_value_t **out,
                    tfn_error_t *err)
{
    *out = NULL;
    return tfn__validate_input(arena, fields, json(text), out, err);
}

/* Expects validation of `text` to fail with `code` and a message containing `fragment`. */
static void check_fails(const tfn_field_t *fields, const char *text, int code, const char *fragment)
{
    const tfn_value_t *out;
    tfn_error_t err;
    int rc = validate(fields, text, &out, &err);
    CHECK_EQ_INT(rc, code);
    if (rc != code) {
        fprintf(stderr, "  for %s\n", text);
    } else if (!strstr(err.message, fragment)) {
        fprintf(stderr, "  '%s' not in '%s'\n", fragment, err.message);
        CHECK(!"message");
    }
}

static const tfn_value_t *check_ok(const tfn_field_t *fields, const char *text)
{
    const tfn_value_t *out;
    tfn_error_t err;
    int rc = validate(fields, text, &out, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc)
        fprintf(stderr, "  %s: %s\n", text, err.message);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Fields
 * ------------------------------------------------------------------------------------------- */

static const tfn_field_t typed[] = {
    {.name = "i", .type = TFN_TYPE_INT},
    {.name = "f", .type = TFN_TYPE_FLOAT},
    {.name = "s", .type = TFN_TYPE_STRING},
    {.name = "b", .type = TFN_TYPE_BOOL},
    {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {2, -1}},
    {.name = "opt", .type = TFN_TYPE_LIST, .optional = true},
    {0},
};

static void test_object_rules(void)
{
    const tfn_value_t *out;
    tfn_error_t err;
    CHECK_EQ_INT(validate(typed, "[1, 2]", &out, &err), TFN_ETYPE);
    CHECK(strstr(err.message, "object") != NULL);
    CHECK_EQ_INT(validate(typed, "\"x\"", &out, &err), TFN_ETYPE);
    CHECK_EQ_INT(tfn__validate_input(arena, typed, NULL, &out, &err), TFN_ETYPE);
    CHECK_EQ_INT(err.http_status, 400);
    /* no inputs */
    tfn_value_t *empty = json("{}");
    CHECK_EQ_INT(tfn__validate_input(arena, NULL, empty, &out, &err), 0);
    CHECK(out == empty);
    check_fails(NULL, "{\"a\": 1}", TFN_EINVAL, "unknown field 'a' (this API takes no inputs)");
    /* unknown fields, reported before missing ones */
    check_fails(typed, "{\"i\": 1, \"typo\": 2}", TFN_EINVAL, "unknown field 'typo' (fields: 'i',");
    check_fails(typed, "{\"i\": 1}", TFN_EMISSING, "missing field 'f' (float)");
    /* a long key is quoted in part, never cutting a character in two */
    const tfn_value_t *out2;
    int rc = validate(typed,
                      "{\"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
                      "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
                      "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9x\": 1}",
                      &out2, &err);
    CHECK_EQ_INT(rc, TFN_EINVAL);
    CHECK(strncmp(err.message, "unknown field '", 15) == 0);
    CHECK(tfn__utf8_valid(err.message, strlen(err.message)));
    CHECK(strlen(err.message) > 15 + 64 && err.message[15 + 64] == '\'');
    check_fails(typed, "{\"i\": 1, \"f\": 1, \"s\": \"\", \"b\": true}", TFN_EMISSING,
                "missing field 't' (tensor(float32) of shape [2, -1])");
    /* all present; the optional one may be absent */
    out = check_ok(typed, "{\"i\": 41, \"f\": 2, \"s\": \"x\", \"b\": false, "
                          "\"t\": [[1, 2.5, 3], [4, 5, 6]]}");
    CHECK_EQ_INT(tfn_len(out), 5);
    CHECK(tfn_object_get(out, "opt") == NULL);
    CHECK_EQ_INT(tfn_typeof(tfn_object_get(out, "f")), TFN_TYPE_FLOAT); /* int converted */
    CHECK(tfn_as_float(tfn_object_get(out, "f")) == 2.0);
    CHECK_EQ_STR(tfn_object_key_at(out, 4), "t"); /* the input's order */
    const tfn_value_t *t = tfn_object_get(out, "t");
    CHECK_EQ_INT(tfn_typeof(t), TFN_TYPE_TENSOR);
    CHECK(tfn_tensor_ndim(t) == 2 && tfn_tensor_shape(t)[0] == 2 && tfn_tensor_shape(t)[1] == 3);
    const float *d = tfn_tensor_data(t);
    CHECK(d[0] == 1 && d[1] == 2.5f && d[5] == 6);
    /* nothing to convert: the input itself comes back */
    static const tfn_field_t anys[] = {{.name = "v", .type = TFN_TYPE_ANY, .optional = true},
                                       {.name = "w", .type = TFN_TYPE_ANY, .optional = true},
                                       {0}};
    tfn_value_t *in = json("{\"w\": null, \"v\": [1, {}]}");
    CHECK_EQ_INT(tfn__validate_input(arena, anys, in, &out, &err), 0);
    CHECK(out == in);
    out = check_ok(anys, "{}");
    CHECK_EQ_INT(tfn_len(out), 0);
}

static void test_scalar_types(void)
{
    static const tfn_field_t fields[] = {
        {.name = "i", .type = TFN_TYPE_INT, .optional = true},
        {.name = "f", .type = TFN_TYPE_FLOAT, .optional = true},
        {.name = "s", .type = TFN_TYPE_STRING, .optional = true},
        {.name = "b", .type = TFN_TYPE_BOOL, .optional = true},
        {.name = "l", .type = TFN_TYPE_LIST, .optional = true},
        {.name = "o", .type = TFN_TYPE_OBJECT, .optional = true},
        {.name = "n", .type = TFN_TYPE_NULL, .optional = true},
        {.name = "a", .type = TFN_TYPE_ANY, .optional = true},
        {0},
    };
    check_ok(fields, "{\"i\": -5, \"f\": 1.5, \"s\": \"\", \"b\": true, \"l\": [], \"o\": {}, "
                     "\"n\": null, \"a\": null}");
    check_fails(fields, "{\"i\": 1.0}", TFN_ETYPE, "field 'i': expected int, got float");
    check_fails(fields, "{\"i\": \"1\"}", TFN_ETYPE, "field 'i': expected int, got string");
    check_fails(fields, "{\"f\": \"1.0\"}", TFN_ETYPE, "field 'f': expected float, got string");
    check_fails(fields, "{\"f\": null}", TFN_ETYPE, "got null");
    check_fails(fields, "{\"s\": 3}", TFN_ETYPE, "field 's': expected string, got int");
    check_fails(fields, "{\"b\": 1}", TFN_ETYPE, "field 'b': expected bool, got int");
    check_fails(fields, "{\"l\": {}}", TFN_ETYPE, "field 'l': expected list, got object");
    check_fails(fields, "{\"o\": []}", TFN_ETYPE, "field 'o': expected object, got list");
    check_fails(fields, "{\"n\": 0}", TFN_ETYPE, "field 'n': expected null, got int");
    const tfn_value_t *out = check_ok(fields, "{\"f\": -9007199254740993}");
    CHECK(tfn_as_float(tfn_object_get(out, "f")) == -9007199254740992.0);
    check_ok(fields, "{\"a\": {\"x\": [1, 2, {}]}}");
}

static void test_bytes(void)
{
    static const tfn_field_t fields[] = {{.name = "data", .type = TFN_TYPE_BYTES}, {0}};
    const tfn_value_t *out = check_ok(fields, "{\"data\": \"Zm9vYmFy/w==\"}");
    size_t len;
    const void *p = tfn_as_bytes(tfn_object_get(out, "data"), &len);
    CHECK(len == 7 && memcmp(p, "foobar\xff", 7) == 0);
    out = check_ok(fields, "{\"data\": \"\"}");
    CHECK(tfn_as_bytes(tfn_object_get(out, "data"), &len) != NULL && len == 0);
    check_fails(fields, "{\"data\": \"not base64!\"}", TFN_ETYPE, "not valid base64");
    check_fails(fields, "{\"data\": 12}", TFN_ETYPE, "field 'data': expected bytes, got int");
    /* real bytes (from the binary encoding) pass as they are */
    tfn_value_t *in = tfn_object(arena);
    tfn_value_t *b = tfn_bytes(arena, "\x01\x02", 2);
    tfn_object_set(arena, in, "data", b);
    tfn_error_t err;
    CHECK_EQ_INT(tfn__validate_input(arena, fields, in, &out, &err), 0);
    CHECK(tfn_object_get(out, "data") == b);
}

/* ---------------------------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------------------------- */

static const tfn_value_t *tensor_ok(const tfn_field_t *fields, const char *text)
{
    const tfn_value_t *out = check_ok(fields, text);
    const tfn_value_t *t = tfn_object_get(out, "t");
    CHECK_EQ_INT(tfn_typeof(t), TFN_TYPE_TENSOR);
    return t;
}

static void test_tensor_shapes(void)
{
    /* the message of the integration tests */
    check_fails(typed, "{\"i\": 1, \"f\": 1, \"s\": \"\", \"b\": true, \"t\": [1, 2]}", TFN_ETYPE,
                "field 't': expected tensor(float32) of shape [2, -1], got list of shape [2]");
    check_fails(typed, "{\"i\": 1, \"f\": 1, \"s\": \"\", \"b\": true, \"t\": [[1], [2], [3]]}",
                TFN_ETYPE, "got list of shape [3, 1]");
    check_fails(typed, "{\"i\": 1, \"f\": 1, \"s\": \"\", \"b\": true, \"t\": [[1, 2], [3]]}",
                TFN_ETYPE, "field 't': element [1] has 1 items, expected 2");
    check_fails(typed, "{\"i\": 1, \"f\": 1, \"s\": \"\", \"b\": true, \"t\": [[1], [\"x\"]]}",
                TFN_ETYPE, "field 't': element [1][0] is a string, expected a number");
    check_fails(typed, "{\"i\": 1, \"f\": 1, \"s\": \"\", \"b\": true, \"t\": \"tensor\"}",
                TFN_ETYPE, "field 't': expected tensor(float32) of shape [2, -1], got string");

    static const tfn_field_t any_rank[] = {
        {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F64}, {0}};
    const tfn_value_t *t = tensor_ok(any_rank, "{\"t\": 2.5}"); /* a scalar is a 0-d tensor */
    CHECK(tfn_tensor_ndim(t) == 0 && *(double *)tfn_tensor_data(t) == 2.5);
    t = tensor_ok(any_rank, "{\"t\": [[[1, 2]], [[3, 4]], [[5, 6]]]}");
    CHECK(tfn_tensor_ndim(t) == 3 && tfn_tensor_shape(t)[0] == 3 && tfn_tensor_shape(t)[1] == 1 &&
          tfn_tensor_shape(t)[2] == 2);
    CHECK(((double *)tfn_tensor_data(t))[5] == 6.0);
    t = tensor_ok(any_rank, "{\"t\": []}");
    CHECK(tfn_tensor_ndim(t) == 1 && tfn_tensor_shape(t)[0] == 0 && tfn_len(t) == 0);
    t = tensor_ok(any_rank, "{\"t\": [[], []]}");
    CHECK(tfn_tensor_ndim(t) == 2 && tfn_tensor_shape(t)[0] == 2 && tfn_tensor_shape(t)[1] == 0);
    check_fails(any_rank, "{\"t\": [[], [1]]}", TFN_ETYPE, "element [1] has 1 items, expected 0");
    check_fails(any_rank, "{\"t\": [[1], 2]}", TFN_ETYPE,
                "element [1] is a number, expected a list of 1");
    check_fails(any_rank, "{\"t\": [1, [2]]}", TFN_ETYPE,
                "element [1] is a list, expected a number");
    check_fails(any_rank, "{\"t\": [[[1, 2]], [[3, 4]], [[5, \"6\"]]]}", TFN_ETYPE,
                "element [2][0][1] is a string");
    check_fails(any_rank, "{\"t\": [[[[[[[[[1]]]]]]]]]}", TFN_ETYPE,
                "deeper than the 8 dimensions");
    t = tensor_ok(any_rank, "{\"t\": [[[[[[[[1]]]]]]]]}");
    CHECK_EQ_INT(tfn_tensor_ndim(t), 8);
    check_fails(any_rank, "{\"t\": {}}", TFN_ETYPE, "got object");
    check_fails(any_rank, "{\"t\": true}", TFN_ETYPE, "expected tensor(float64), got bool");

    /* [] for a declared rank: an empty tensor with the declared dimensions */
    static const tfn_field_t rows[] = {{.name = "t",
                                        .type = TFN_TYPE_TENSOR,
                                        .dtype = TFN_DTYPE_F32,
                                        .ndim = 2,
                                        .shape = {-1, 64}},
                                       {0}};
    t = tensor_ok(rows, "{\"t\": []}");
    CHECK(tfn_tensor_ndim(t) == 2 && tfn_tensor_shape(t)[0] == 0 && tfn_tensor_shape(t)[1] == 64);
    check_fails(rows, "{\"t\": [[1, 2]]}", TFN_ETYPE,
                "expected tensor(float32) of shape [-1, 64], got list of shape [1, 2]");
    check_fails(rows, "{\"t\": 1}", TFN_ETYPE, "got int");
}

static void test_tensor_dtypes(void)
{
#define FIELD(dt)                                                                                  \
    {                                                                                              \
        {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = (dt)}, { 0 }                               \
    }
    static const tfn_field_t f32[] = FIELD(TFN_DTYPE_F32), f64[] = FIELD(TFN_DTYPE_F64),
                             i32[] = FIELD(TFN_DTYPE_I32), i64[] = FIELD(TFN_DTYPE_I64),
                             u8[] = FIELD(TFN_DTYPE_U8), b8[] = FIELD(TFN_DTYPE_BOOL);
    const tfn_value_t *t;
    t = tensor_ok(f32, "{\"t\": [1, 0.1, -2.5e-3, 16777217, 3.4028235e38, -3.4028235e38]}");
    const float *f = tfn_tensor_data(t);
    CHECK(f[0] == 1.0f && f[1] == 0.1f && f[2] == -2.5e-3f && f[3] == 16777216.0f &&
          f[4] == FLT_MAX && f[5] == -FLT_MAX);
    check_fails(f32, "{\"t\": [1e39]}", TFN_ETYPE,
                "element [0] is 1e+39, out of range for float32");
    check_fails(f32, "{\"t\": [true]}", TFN_ETYPE, "element [0] is a bool, expected a number");
    check_fails(f32, "{\"t\": [1, null]}", TFN_ETYPE, "element [1] is null, expected a number");
    t = tensor_ok(f32, "{\"t\": [1e-50]}"); /* underflow to 0 is not an error */
    CHECK(((float *)tfn_tensor_data(t))[0] == 0.0f);

    t = tensor_ok(f64, "{\"t\": [9007199254740993, 0.1, -1e308]}");
    const double *d = tfn_tensor_data(t);
    CHECK(d[0] == 9007199254740992.0 && d[1] == 0.1 && d[2] == -1e308);

    t = tensor_ok(i32, "{\"t\": [-2147483648, 2147483647, 2.0, -0.0]}");
    const int32_t *i = tfn_tensor_data(t);
    CHECK(i[0] == INT32_MIN && i[1] == INT32_MAX && i[2] == 2 && i[3] == 0);
    check_fails(i32, "{\"t\": [2147483648]}", TFN_ETYPE, "is 2147483648, out of range for int32");
    check_fails(i32, "{\"t\": [-2147483649]}", TFN_ETYPE, "out of range for int32");
    check_fails(i32, "{\"t\": [[1, 1.5]]}", TFN_ETYPE,
                "element [0][1] is 1.5, not an integer as int32 needs");
    check_fails(i32, "{\"t\": [3e9]}", TFN_ETYPE, "is 3000000000, out of range for int32");

    t = tensor_ok(i64, "{\"t\": [-9223372036854775808, 9223372036854775807, 1e18]}");
    const int64_t *l = tfn_tensor_data(t);
    CHECK(l[0] == INT64_MIN && l[1] == INT64_MAX && l[2] == 1000000000000000000LL);
    check_fails(i64, "{\"t\": [9.3e18]}", TFN_ETYPE, "out of range for int64");
    check_fails(i64, "{\"t\": [9223372036854775808.0]}", TFN_ETYPE, "out of range for int64");
    check_fails(i64, "{\"t\": [0.5]}", TFN_ETYPE, "not an integer");

    t = tensor_ok(u8, "{\"t\": [0, 255, 7.0]}");
    const uint8_t *u = tfn_tensor_data(t);
    CHECK(u[0] == 0 && u[1] == 255 && u[2] == 7);
    check_fails(u8, "{\"t\": [300]}", TFN_ETYPE, "element [0] is 300, out of range for uint8");
    check_fails(u8, "{\"t\": [-1]}", TFN_ETYPE, "is -1, out of range for uint8");
    check_fails(u8, "{\"t\": [1.5]}", TFN_ETYPE, "is 1.5, not an integer as uint8 needs");
    check_fails(u8, "{\"t\": [256.0]}", TFN_ETYPE, "is 256, out of range for uint8");

    t = tensor_ok(b8, "{\"t\": [[true, false], [false, true]]}");
    const uint8_t *b = tfn_tensor_data(t);
    CHECK(b[0] == 1 && b[1] == 0 && b[2] == 0 && b[3] == 1);
    t = tensor_ok(b8, "{\"t\": true}");
    CHECK(tfn_tensor_ndim(t) == 0 && *(uint8_t *)tfn_tensor_data(t) == 1);
    check_fails(b8, "{\"t\": [1, 0]}", TFN_ETYPE, "element [0] is a number, expected a bool");
    check_fails(b8, "{\"t\": [[true], [[false]]]}", TFN_ETYPE,
                "element [1][0] is a list, expected a bool");
#undef FIELD
}

static void test_tensor_values(void)
{
    static const tfn_field_t fields[] = {
        {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_I64, .ndim = 1, .shape = {3}},
        {0}};
    int64_t three = 3, four = 4;
    tfn_value_t *in = tfn_object(arena);
    tfn_value_t *t = tfn_tensor(arena, TFN_DTYPE_I64, 1, &three);
    tfn_object_set(arena, in, "t", t);
    const tfn_value_t *out;
    tfn_error_t err;
    CHECK_EQ_INT(tfn__validate_input(arena, fields, in, &out, &err), 0);
    CHECK(out == in && tfn_object_get(out, "t") == t); /* used as it is */
    tfn_object_set(arena, in, "t", tfn_tensor(arena, TFN_DTYPE_I32, 1, &three));
    CHECK_EQ_INT(tfn__validate_input(arena, fields, in, &out, &err), TFN_ETYPE);
    CHECK_EQ_STR(err.message,
                 "field 't': expected tensor(int64) of shape [3], got tensor(int32) of shape [3]");
    tfn_object_set(arena, in, "t", tfn_tensor(arena, TFN_DTYPE_I64, 1, &four));
    CHECK_EQ_INT(tfn__validate_input(arena, fields, in, &out, &err), TFN_ETYPE);
    CHECK(strstr(err.message, "got tensor(int64) of shape [4]") != NULL);
}

static void test_conversion_exhausts_arena(void)
{
    static const tfn_field_t fields[] = {
        {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F64}, {0}};
    tfn_arena_t *small = tfn_arena_new(64 << 10);
    tfn__buf_t b;
    tfn__buf_init(&b, 1 << 20);
    tfn__buf_puts(&b, "{\"t\": [");
    for (int i = 0; i < 1000; i++)
        tfn__buf_printf(&b, "%s%d", i ? "," : "", i);
    tfn__buf_puts(&b, "]}");
    tfn_value_t *in;
    tfn_error_t err;
    CHECK_EQ_INT(tfn__json_decode(small, b.data, b.len, &in, &err), 0);
    /* use up the rest, so that the 8000-byte tensor does not fit */
    while (tfn_arena_alloc(small, 4096))
        ;
    const tfn_value_t *out;
    CHECK_EQ_INT(tfn__validate_input(small, fields, in, &out, &err), TFN_ENOMEM);
    CHECK(strstr(err.message, "field 't'") != NULL);
    tfn__buf_free(&b);
    tfn_arena_free(small);
}

/* ---------------------------------------------------------------------------------------------
 * Outputs
 * ------------------------------------------------------------------------------------------- */

static void test_output(void)
{
    tfn_error_t err;
    CHECK_EQ_INT(tfn__validate_output(TFN_TYPE_ANY, NULL, &err), 0);
    CHECK_EQ_INT(tfn__validate_output(TFN_TYPE_ANY, tfn_int(arena, 1), &err), 0);
    CHECK_EQ_INT(tfn__validate_output(TFN_TYPE_OBJECT, tfn_object(arena), &err), 0);
    CHECK_EQ_INT(tfn__validate_output(TFN_TYPE_FLOAT, tfn_int(arena, 1), &err), 0);
    CHECK_EQ_INT(tfn__validate_output(TFN_TYPE_INT, tfn_float(arena, 1), &err), TFN_EOUTPUT);
    CHECK_EQ_INT(tfn__validate_output(TFN_TYPE_OBJECT, tfn_list(arena), &err), TFN_EOUTPUT);
    CHECK_EQ_STR(err.message, "the handler returned list, but its API declares object");
    CHECK_EQ_INT(err.http_status, 500);
    CHECK_EQ_INT(tfn__validate_output(TFN_TYPE_TENSOR, NULL, &err), TFN_EOUTPUT);
    CHECK(strstr(err.message, "returned null") != NULL);
    CHECK_EQ_INT(tfn__validate_output(TFN_TYPE_NULL, NULL, &err), 0);
}

/* ---------------------------------------------------------------------------------------------
 * Speed (printed)
 * ------------------------------------------------------------------------------------------- */

static void test_speed(void)
{
    static const tfn_field_t fields[] = {{.name = "t",
                                          .type = TFN_TYPE_TENSOR,
                                          .dtype = TFN_DTYPE_F32,
                                          .ndim = 2,
                                          .shape = {-1, 1000}},
                                         {0}};
    tfn_arena_t *a = tfn_arena_new((size_t)256 << 20);
    tfn_value_t *rows = tfn_list(a);
    for (int r = 0; r < 1000; r++) {
        tfn_value_t *row = tfn_list(a);
        for (int c = 0; c < 1000; c++)
            tfn_list_append(a, row, tfn_float(a, (r * 1000 + c) * 0.25));
        tfn_list_append(a, rows, row);
    }
    tfn_value_t *in = tfn_object(a);
    tfn_object_set(a, in, "t", rows);
    const tfn_value_t *out;
    tfn_error_t err;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ_INT(tfn__validate_input(a, fields, in, &out, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("  validate, 1000x1000 nested lists to a float32 tensor: %.1f ns/element\n", ns / 1e6);
    CHECK(((float *)tfn_tensor_data(tfn_object_get(out, "t")))[999999] == 999999 * 0.25f);
    tfn_arena_free(a);
}

int main(void)
{
    arena = tfn_arena_new(0);
    RUN(test_object_rules);
    RUN(test_scalar_types);
    RUN(test_bytes);
    RUN(test_tensor_shapes);
    RUN(test_tensor_dtypes);
    RUN(test_tensor_values);
    RUN(test_conversion_exhausts_arena);
    RUN(test_output);
    RUN(test_speed);
    tfn_arena_free(arena);
    return check_summary("validate");
}
