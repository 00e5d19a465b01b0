/* test_json.c — the JSON codec: decoding, encoding, exact numbers, escaping, limits, speed. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "codec/codec_internal.h"
#include "core/value_internal.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Decodes `text`; returns the code, fills *out and err. */
static int decode(tfn_arena_t *a, const char *text, tfn_value_t **out, tfn_error_t *err)
{
    *out = NULL;
    return tfn__json_decode(a, text, strlen(text), out, err);
}

/* Encodes `v` into a fresh string (caller frees), or NULL on error. */
static char *encode(const tfn_value_t *v)
{
    tfn__buf_t b;
    tfn__buf_init(&b, (size_t)1 << 30);
    if (tfn__json_encode(v, &b)) {
        tfn__buf_free(&b);
        return NULL;
    }
    if (!b.data)
        return strdup("");
    return b.data; /* NUL-terminated by the buffer */
}

/* Text -> value -> text must give `expected` back. */
static void check_reencode(const char *text, const char *expected)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_value_t *v;
    tfn_error_t err;
    int rc = decode(a, text, &v, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "  decoding %s: %s\n", text, err.message);
    } else {
        char *out = encode(v);
        CHECK_EQ_STR(out, expected);
        free(out);
    }
    tfn_arena_free(a);
}

/* Is `text` JSON that jansson accepts? */
static bool jansson_accepts(const char *text, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        fprintf(stderr, "  jansson rejects our output: %s (%.200s)\n", jerr.text, text);
    json_decref(j);
    return j != NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------------- */

static void test_decode_types(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_value_t *v;
    tfn_error_t err;
    CHECK_EQ_INT(decode(a,
                        "{\"n\": null, \"t\": true, \"f\": false, \"i\": -7, \"x\": 2.5, "
                        "\"s\": \"h\\u00e9\", \"l\": [1, [2]], \"o\": {\"k\": {}}}",
                        &v, &err),
                 0);
    CHECK_EQ_INT(tfn_typeof(v), TFN_TYPE_OBJECT);
    CHECK_EQ_INT(tfn_len(v), 8);
    CHECK_EQ_INT(tfn_typeof(tfn_object_get(v, "n")), TFN_TYPE_NULL);
    CHECK(tfn_object_get(v, "n") != NULL);
    CHECK(tfn_as_bool(tfn_object_get(v, "t")));
    CHECK_EQ_INT(tfn_typeof(tfn_object_get(v, "f")), TFN_TYPE_BOOL);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(v, "i")), -7);
    CHECK_EQ_INT(tfn_typeof(tfn_object_get(v, "x")), TFN_TYPE_FLOAT);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(v, "s"), NULL), "h\xc3\xa9");
    CHECK_EQ_INT(tfn_len(tfn_object_get(v, "l")), 2);
    CHECK_EQ_STR(tfn_object_key_at(v, 7), "o"); /* insertion order */
    /* any value at the top */
    CHECK_EQ_INT(decode(a, " 42 ", &v, &err), 0);
    CHECK_EQ_INT(tfn_as_int(v), 42);
    CHECK_EQ_INT(decode(a, "\"x\"", &v, &err), 0);
    CHECK_EQ_INT(decode(a, "null", &v, &err), 0);
    CHECK(v != NULL && tfn_typeof(v) == TFN_TYPE_NULL);
    /* numbers: integers that fit are INT, anything with '.' or an exponent is FLOAT */
    CHECK_EQ_INT(decode(a, "9007199254740993", &v, &err), 0); /* 2^53 + 1, exactly */
    CHECK(tfn_typeof(v) == TFN_TYPE_INT && tfn_as_int(v) == 9007199254740993LL);
    CHECK_EQ_INT(decode(a, "-9223372036854775808", &v, &err), 0);
    CHECK(tfn_as_int(v) == INT64_MIN);
    CHECK_EQ_INT(decode(a, "9223372036854775807", &v, &err), 0);
    CHECK(tfn_as_int(v) == INT64_MAX);
    CHECK_EQ_INT(decode(a, "1E2", &v, &err), 0);
    CHECK(tfn_typeof(v) == TFN_TYPE_FLOAT && tfn_as_float(v) == 100.0);
    CHECK_EQ_INT(decode(a, "-0", &v, &err), 0);
    CHECK(tfn_typeof(v) == TFN_TYPE_INT && tfn_as_int(v) == 0);
    CHECK_EQ_INT(decode(a, "-0.0", &v, &err), 0);
    CHECK(tfn_typeof(v) == TFN_TYPE_FLOAT && signbit(tfn_as_float(v)));
    /* NUL in strings is fine (strings carry their length) */
    CHECK_EQ_INT(decode(a, "\"a\\u0000b\"", &v, &err), 0);
    CHECK_EQ_INT(tfn_len(v), 3);
    tfn_arena_free(a);
}

static void check_decode_error(const char *text, int code, const char *fragment)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_value_t *v;
    tfn_error_t err;
    int rc = decode(a, text, &v, &err);
    CHECK_EQ_INT(rc, code);
    if (rc == code && !strstr(err.message, fragment)) {
        fprintf(stderr, "  '%s' not in the message '%s'\n", fragment, err.message);
        CHECK(!"message");
    }
    if (rc)
        CHECK_EQ_INT(err.http_status, tfn_http_status(code));
    tfn_arena_free(a);
}

static void test_decode_errors(void)
{
    check_decode_error("{\"value\": [1, 2", TFN_EBADJSON, "line 1, column ");
    check_decode_error("{\"a\": 1,\n \"b\": x}", TFN_EBADJSON, "line 2, column 7: ");
    check_decode_error("{\"a\": 1, \"a\": 2}", TFN_EBADJSON, "duplicate");
    check_decode_error("{\"value\": 1} trailing", TFN_EBADJSON, "end of file expected");
    check_decode_error("", TFN_EBADJSON, "line 1");
    check_decode_error("   ", TFN_EBADJSON, "line 1");
    check_decode_error("{\"value\": \"\xff\xfe\"}", TFN_EBADJSON, "unable to decode byte");
    check_decode_error("{\"a\\u0000b\": 1}", TFN_EBADJSON, "NUL");
    check_decode_error("[NaN]", TFN_EBADJSON, "line 1, column");
    check_decode_error("[01]", TFN_EBADJSON, "line 1, column");
    check_decode_error("{'a': 1}", TFN_EBADJSON, "line 1, column");
    check_decode_error("9223372036854775808", TFN_EBADJSON, "integer out of range");
    check_decode_error("[1, -9223372036854775809]", TFN_EBADJSON, "column");
    check_decode_error("[1, -9223372036854775809]", TFN_EBADJSON, "64 bits");
    check_decode_error("1e400", TFN_EBADJSON, "range of a double");

    /* nesting: 64 levels are fine, 65 are not */
    char deep[300];
    for (int depth = 63; depth <= 66; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        deep[2 * depth] = '\0';
        tfn_arena_t *a = tfn_arena_new(0);
        tfn_value_t *v;
        tfn_error_t err;
        int rc = decode(a, deep, &v, &err);
        CHECK_EQ_INT(rc, depth <= 64 ? 0 : TFN_EBADJSON);
        if (rc)
            CHECK(strstr(err.message, "deeper than 64") != NULL);
        tfn_arena_free(a);
    }
}

static void test_decode_exhaustion(void)
{
    /* 1000 numbers need more than a 4 KiB arena */
    tfn__buf_t b;
    tfn__buf_init(&b, 1 << 20);
    tfn__buf_puts(&b, "{\"x\": [");
    for (int i = 0; i < 1000; i++)
        tfn__buf_printf(&b, "%s%d", i ? "," : "", i);
    tfn__buf_puts(&b, "]}");
    tfn_arena_t *a = tfn_arena_new(4096);
    tfn_value_t *v = NULL;
    tfn_error_t err;
    CHECK_EQ_INT(tfn__json_decode(a, b.data, b.len, &v, &err), TFN_ENOMEM);
    CHECK(strstr(err.message, "4096") != NULL);
    CHECK(v == NULL);
    tfn_arena_free(a);
    a = tfn_arena_new(0);
    CHECK_EQ_INT(tfn__json_decode(a, b.data, b.len, &v, &err), 0);
    CHECK_EQ_INT(tfn_len(tfn_object_get(v, "x")), 1000);
    tfn_arena_free(a);
    tfn__buf_free(&b);
}

/* ---------------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------------- */

static void test_reencode(void)
{
    check_reencode("{\"a\":1,\"b\":[true,false,null],\"c\":\"x\",\"d\":2.5,\"e\":{},\"f\":[]}",
                   "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\",\"d\":2.5,\"e\":{},\"f\":[]}");
    check_reencode(" { \"z\" : 1 , \"a\" : { \"y\" : [ ] } } ", "{\"z\":1,\"a\":{\"y\":[]}}");
    check_reencode("2.0", "2.0");
    check_reencode("2", "2");
    check_reencode("-0.0", "-0.0");
    check_reencode("1e300", "1e+300");
    check_reencode("1E2", "100.0");
    check_reencode("0.1", "0.1");
    check_reencode("1e-320", "1e-320");
    check_reencode("5e-324", "5e-324");
    check_reencode("2.2250738585072e-308", "2.2250738585072e-308");
    check_reencode("1.7976931348623157e308", "1.7976931348623157e+308");
    check_reencode("123456789.123456789", "123456789.12345679");
    check_reencode("9007199254740993", "9007199254740993");
    check_reencode("9007199254740993.0", "9007199254740992.0");
    check_reencode("-9223372036854775808", "-9223372036854775808");
    check_reencode("1e21", "1e+21");
    check_reencode("123456789012345.0", "123456789012345.0");
    check_reencode("1234567890123456.0", "1234567890123456.0");
    check_reencode("0.000001", "1e-06");
    check_reencode("0.0001", "0.0001");
    check_reencode("\"\\u00e9\\ud83d\\ude00\"", "\"\xc3\xa9\xf0\x9f\x98\x80\"");
    check_reencode("\"a\\u0000b\"", "\"a\\u0000b\"");
    check_reencode("\"\\/\"", "\"/\"");
}

static void test_escaping(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    char all[40];
    for (int i = 0; i < 32; i++)
        all[i] = (char)i;
    memcpy(all + 32, "\"\\\x7f", 3);
    char *out = encode(tfn_stringn(a, all, 35));
    CHECK_EQ_STR(out, "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b"
                      "\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016"
                      "\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\\"\\\\"
                      "\x7f\"");
    CHECK(out && jansson_accepts(out, strlen(out)));
    free(out);
    /* valid UTF-8 passes through; each invalid byte becomes U+FFFD */
    out = encode(tfn_string(a, "h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 \xff\xc3 x\xed\xa0\x80"));
    CHECK_EQ_STR(out, "\"h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 \\ufffd\\ufffd "
                      "x\\ufffd\\ufffd\\ufffd\"");
    CHECK(out && jansson_accepts(out, strlen(out)));
    free(out);
    /* keys are escaped too */
    tfn_value_t *o = tfn_object(a);
    tfn_object_set(a, o, "k\"\n", tfn_null(a));
    out = encode(o);
    CHECK_EQ_STR(out, "{\"k\\\"\\n\":null}");
    free(out);
    /* tfn__json_put_string on its own */
    tfn__buf_t b;
    tfn__buf_init(&b, 100);
    CHECK_EQ_INT(tfn__json_put_string(&b, "say \"hi\"", 8), 0);
    CHECK_EQ_STR(b.data, "\"say \\\"hi\\\"\"");
    tfn__buf_free(&b);
    tfn_arena_free(a);
}

static void test_encode_values(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    char *out;
    out = encode(NULL);
    CHECK_EQ_STR(out, "null");
    free(out);
    out = encode(tfn_float(a, NAN));
    CHECK_EQ_STR(out, "null");
    free(out);
    out = encode(tfn_float(a, -INFINITY));
    CHECK_EQ_STR(out, "null");
    free(out);
    out = encode(tfn_int(a, INT64_MIN));
    CHECK_EQ_STR(out, "-9223372036854775808");
    free(out);
    out = encode(tfn_bytes(a, "foobar\xff", 7));
    CHECK_EQ_STR(out, "\"Zm9vYmFy/w==\"");
    free(out);
    out = encode(tfn_bytes(a, "", 0));
    CHECK_EQ_STR(out, "\"\"");
    free(out);
    tfn_arena_free(a);
}

static tfn_value_t *tensor_of(tfn_arena_t *a, tfn_dtype_t dtype, int ndim, const int64_t *shape,
                              const void *data)
{
    tfn_value_t *t = tfn_tensor(a, dtype, ndim, shape);
    memcpy(tfn_tensor_data(t), data, tfn_tensor_nbytes(t));
    return t;
}

static void check_tensor_json(tfn_value_t *t, const char *expected)
{
    char *out = encode(t);
    CHECK_EQ_STR(out, expected);
    CHECK(out && jansson_accepts(out, strlen(out)));
    free(out);
}

static void test_encode_tensors(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    int64_t s23[] = {2, 3}, s3[] = {3}, s0[] = {0}, s20[] = {2, 0}, s02[] = {0, 2};
    int64_t s211[] = {2, 1, 1};
    float f[] = {1.0f, 0.1f, -2.5f, 16777216.0f, 1e-7f, 3.4028235e38f};
    check_tensor_json(tensor_of(a, TFN_DTYPE_F32, 2, s23, f),
                      "[[1.0,0.1,-2.5],[16777216.0,1e-07,3.4028235e+38]]");
    double d[] = {0.1, -0.0, 1e300};
    check_tensor_json(tensor_of(a, TFN_DTYPE_F64, 1, s3, d), "[0.1,-0.0,1e+300]");
    int32_t i32[] = {INT32_MIN, 0, INT32_MAX};
    check_tensor_json(tensor_of(a, TFN_DTYPE_I32, 1, s3, i32), "[-2147483648,0,2147483647]");
    int64_t i64[] = {INT64_MIN, -1, INT64_MAX};
    check_tensor_json(tensor_of(a, TFN_DTYPE_I64, 1, s3, i64),
                      "[-9223372036854775808,-1,9223372036854775807]");
    uint8_t u8[] = {0, 128, 255};
    check_tensor_json(tensor_of(a, TFN_DTYPE_U8, 1, s3, u8), "[0,128,255]");
    uint8_t bools[] = {1, 0, 7}; /* any non-zero byte is true */
    check_tensor_json(tensor_of(a, TFN_DTYPE_BOOL, 1, s3, bools), "[true,false,true]");
    check_tensor_json(tensor_of(a, TFN_DTYPE_I32, 3, s211, i32), "[[[-2147483648]],[[0]]]");
    /* 0-d tensors are scalars; empty ones are empty lists */
    check_tensor_json(tensor_of(a, TFN_DTYPE_F32, 0, NULL, f + 1), "0.1");
    check_tensor_json(tensor_of(a, TFN_DTYPE_BOOL, 0, NULL, bools + 1), "false");
    check_tensor_json(tfn_tensor(a, TFN_DTYPE_F32, 1, s0), "[]");
    check_tensor_json(tfn_tensor(a, TFN_DTYPE_F32, 2, s20), "[[],[]]");
    check_tensor_json(tfn_tensor(a, TFN_DTYPE_F32, 2, s02), "[]");
    /* non-finite elements are null */
    float nf[] = {NAN, INFINITY, -INFINITY};
    check_tensor_json(tensor_of(a, TFN_DTYPE_F32, 1, s3, nf), "[null,null,null]");
    double nd[] = {NAN, INFINITY, 1};
    check_tensor_json(tensor_of(a, TFN_DTYPE_F64, 1, s3, nd), "[null,null,1.0]");
    tfn_arena_free(a);
}

static void test_encode_limits(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_value_t *l = tfn_list(a);
    for (int i = 0; i < 100; i++)
        tfn_list_append(a, l, tfn_string(a, "0123456789"));
    tfn__buf_t b;
    tfn__buf_init(&b, 500);
    tfn__buf_puts(&b, "prefix");
    CHECK_EQ_INT(tfn__json_encode(l, &b), TFN_ETOOBIG);
    CHECK_EQ_INT(b.len, 6); /* unchanged on failure */
    CHECK_EQ_STR(b.data, "prefix");
    tfn__buf_free(&b);

    /* 64 levels encode, 65 do not; nor does a list that contains itself */
    tfn_value_t *deep = tfn_list(a);
    for (int depth = 2; depth <= 65; depth++) {
        tfn_value_t *outer = tfn_list(a);
        tfn_list_append(a, outer, deep);
        deep = outer;
        if (depth == 64) {
            char *out = encode(deep);
            CHECK(out != NULL && strlen(out) == 128);
            free(out);
        }
    }
    /* an empty tensor with a huge dimension fails at once */
    int64_t huge_empty[] = {(int64_t)1 << 40, 0};
    tfn__buf_init(&b, (size_t)1 << 30);
    CHECK_EQ_INT(tfn__json_encode(tfn_tensor(a, TFN_DTYPE_F32, 2, huge_empty), &b), TFN_ETOOBIG);
    CHECK_EQ_INT(b.len, 0);
    tfn__buf_free(&b);
    int64_t some_empty[] = {1000, 3, 0};
    char *text = encode(tfn_tensor(a, TFN_DTYPE_F32, 3, some_empty));
    CHECK(text && strlen(text) == 2 + 1000 * 2 + 999 + 1000 * 3 * 2 + 1000 * 2);
    free(text);

    tfn__buf_init(&b, 1 << 20);
    CHECK_EQ_INT(tfn__json_encode(deep, &b), TFN_EINVAL);
    CHECK_EQ_INT(b.len, 0);
    tfn_value_t *self = tfn_list(a);
    tfn_list_append(a, self, self);
    CHECK_EQ_INT(tfn__json_encode(self, &b), TFN_EINVAL);
    tfn__buf_free(&b);
    tfn_arena_free(a);
}

/* ---------------------------------------------------------------------------------------------
 * Numbers: exact round trips and the fast paths against printf
 * ------------------------------------------------------------------------------------------- */

/* What the encoder must write: shortest %.15g..%.17g that strtod reads back, plus ".0". */
static void reference_double(double d, char *out)
{
    if (isnan(d) || isinf(d)) {
        strcpy(out, "null");
        return;
    }
    for (int p = fabs(d) < DBL_MIN ? 1 : 15; p <= 17; p++) {
        snprintf(out, 40, "%.*g", p, d);
        if (strtod(out, NULL) == d)
            break;
    }
    if (!strpbrk(out, ".e"))
        strcat(out, ".0");
}

static void reference_float(float f, char *out)
{
    if (isnan(f) || isinf(f)) {
        strcpy(out, "null");
        return;
    }
    for (int p = fabsf(f) < FLT_MIN ? 1 : 6; p <= 17; p++) {
        snprintf(out, 40, "%.*g", p, (double)f);
        if (strtof(out, NULL) == f && (float)strtod(out, NULL) == f)
            break;
    }
    if (!strpbrk(out, ".e"))
        strcat(out, ".0");
}

static void check_double(double d)
{
    char got[TFN__NUMBER_MAX], want[48];
    size_t n = tfn__json_format_double(d, got);
    reference_double(d, want);
    CHECK_EQ_INT(n, strlen(got));
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  double %a: got %s, want %s\n", d, got, want);
        CHECK(!"format_double");
    }
    if (!isnan(d) && !isinf(d)) {
        double back = strtod(got, NULL);
        CHECK(memcmp(&back, &d, sizeof d) == 0);
    }
}

static void test_double_formatting(void)
{
    const double tricky[] = {0.1,
                             0.2,
                             0.3,
                             0.1 + 0.2,
                             1.0 / 3,
                             2.0,
                             -2.0,
                             100.0,
                             1e15,
                             1e16,
                             1e17,
                             1e21,
                             1e22,
                             1e23,
                             123456789.123456789,
                             9007199254740993.0,
                             9007199254740992.0,
                             1e-320,
                             5e-324,
                             DBL_MIN,
                             DBL_MAX,
                             -DBL_MAX,
                             -0.0,
                             0.0,
                             1e-5,
                             1e-4,
                             0.00011,
                             1.5e-7,
                             299792458.0,
                             6.02214076e23,
                             1.7976931348623157e308,
                             2.2250738585072009e-308,
                             4.9406564584124654e-324,
                             0.5,
                             999999999999999.9,
                             9.999999999999999e22,
                             NAN,
                             INFINITY,
                             -INFINITY};
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
        check_double(tricky[i]);
    char buf[TFN__NUMBER_MAX];
    tfn__json_format_double(-0.0, buf);
    CHECK_EQ_STR(buf, "-0.0");
    tfn__json_format_double(2.0, buf);
    CHECK_EQ_STR(buf, "2.0");
    tfn__json_format_double(1e300, buf);
    CHECK_EQ_STR(buf, "1e+300");
    tfn__json_format_double(0.1, buf);
    CHECK_EQ_STR(buf, "0.1");
    /* random bit patterns, and "decimal-looking" values that take the fast path */
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = rng();
        double d;
        memcpy(&d, &bits, sizeof d);
        check_double(d);
        check_double((double)(int64_t)(rng() % 2000000001 - 1000000000) / 1000.0);
        check_double((double)(rng() % 100000) * pow(10, (int)(rng() % 40) - 20));
    }
}

static int float_mismatches;

static void check_float(float f)
{
    char got[TFN__NUMBER_MAX], want[48];
    tfn__json_format_float(f, got);
    reference_float(f, want);
    if (!isnan(f) && !isinf(f)) {
        float back = strtof(got, NULL), via_double = (float)strtod(got, NULL);
        if (memcmp(&back, &f, sizeof f) != 0 || memcmp(&via_double, &f, sizeof f) != 0) {
            fprintf(stderr, "  float %a: %s does not read back\n", (double)f, got);
            CHECK(!"float round trip");
        }
    }
    if (strlen(got) > strlen(want)) {
        fprintf(stderr, "  float %a: got %s, longer than %s\n", (double)f, got, want);
        CHECK(!"float length");
    }
    if (strcmp(got, want) != 0 && float_mismatches++ < 5)
        fprintf(stderr, "  float %a: got %s, printf gives %s\n", (double)f, got, want);
}

static void test_float_formatting(void)
{
    const float tricky[] = {
        0.1f,     0.2f,  1.0f / 3,        2.0f,          16777216.0f, 1e-45f,     FLT_MIN, FLT_MAX,
        -FLT_MAX, 1e-7f, 1e-38f,          3.4028235e38f, 1234567.5f,  1234566.5f, 0.3f,    -0.0f,
        0.0f,     1e10f, 9.99999944e-39f, 7.0e-10f,      NAN,         INFINITY};
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
        check_float(tricky[i]);
    char buf[TFN__NUMBER_MAX];
    tfn__json_format_float(0.1f, buf);
    CHECK_EQ_STR(buf, "0.1");
    tfn__json_format_float(3.0f, buf);
    CHECK_EQ_STR(buf, "3.0");
    tfn__json_format_float(-0.0f, buf);
    CHECK_EQ_STR(buf, "-0.0");
    tfn__json_format_float(16777216.0f, buf);
    CHECK_EQ_STR(buf, "16777216.0");
    tfn__json_format_float(1e-7f, buf);
    CHECK_EQ_STR(buf, "1e-07");
    /* "7.038531e-26" reads back through strtof, but not as a double cast to float */
    tfn__json_format_float(0x1.5c87fap-84f, buf);
    CHECK_EQ_STR(buf, "7.0385307e-26");
    CHECK((float)strtod(buf, NULL) == 0x1.5c87fap-84f);
    /* a million random bit patterns, and typical small values */
    for (int i = 0; i < 1000000; i++) {
        uint32_t bits = (uint32_t)rng();
        float f;
        memcpy(&f, &bits, sizeof f);
        check_float(f);
        check_float((float)((double)(rng() % 2000001) / 1000000.0 - 1.0));
    }
    /* the fast path agrees with printf everywhere but (in theory) on near ties */
    CHECK_EQ_INT(float_mismatches, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Encoder output is always JSON (jansson reads it back), and reads back as the same value
 * ------------------------------------------------------------------------------------------- */

static tfn_value_t *random_value(tfn_arena_t *a, int depth)
{
    switch (rng() % (depth > 4 ? 5 : 8)) {
    case 0: return tfn_null(a);
    case 1: return tfn_bool(a, rng() & 1);
    case 2: return tfn_int(a, (int64_t)rng());
    case 3: {
        uint64_t bits = rng();
        double d;
        memcpy(&d, &bits, sizeof d);
        return tfn_float(a, isnan(d) || isinf(d) ? 0.5 : d);
    }
    case 4: {
        char s[16];
        size_t n = rng() % sizeof s;
        for (size_t i = 0; i < n; i++) /* valid UTF-8 here; invalid bytes are tested apart */
            s[i] = (char)(rng() % 128);
        return tfn_stringn(a, s, n);
    }
    case 5:
    case 6: {
        tfn_value_t *l = tfn_list(a);
        for (int n = (int)(rng() % 5); n > 0; n--)
            tfn_list_append(a, l, random_value(a, depth + 1));
        return l;
    }
    default: {
        tfn_value_t *o = tfn_object(a);
        char key[8];
        for (int n = (int)(rng() % 5); n > 0; n--) {
            snprintf(key, sizeof key, "k%d", (int)(rng() % 10));
            tfn_object_set(a, o, key, random_value(a, depth + 1));
        }
        return o;
    }
    }
}

static void test_output_reparses(void)
{
    int ok = 1;
    for (int i = 0; i < 3000; i++) {
        tfn_arena_t *a = tfn_arena_new(0);
        tfn_value_t *v = random_value(a, 0);
        char *text = encode(v);
        ok &= text != NULL && jansson_accepts(text, strlen(text));
        tfn_value_t *back = NULL;
        tfn_error_t err;
        ok &= text && tfn__json_decode(a, text, strlen(text), &back, &err) == 0;
        ok &= tfn_value_equal(v, back);
        free(text);
        tfn_arena_free(a);
    }
    CHECK(ok);
    /* strings of random bytes, invalid UTF-8 included */
    for (int i = 0; i < 3000; i++) {
        tfn_arena_t *a = tfn_arena_new(0);
        char s[32];
        for (size_t j = 0; j < sizeof s; j++)
            s[j] = (char)rng();
        char *text = encode(tfn_stringn(a, s, rng() % sizeof s));
        ok &= text != NULL && jansson_accepts(text, strlen(text));
        free(text);
        tfn_arena_free(a);
    }
    CHECK(ok);
}

/* ---------------------------------------------------------------------------------------------
 * Speed (printed, not asserted)
 * ------------------------------------------------------------------------------------------- */

static void test_speed(void)
{
    const int64_t n = 1000000;
    tfn_arena_t *a = tfn_arena_new((size_t)256 << 20);
    tfn_value_t *t = tfn_tensor(a, TFN_DTYPE_F32, 1, &n);
    float *f = tfn_tensor_data(t);
    for (int64_t i = 0; i < n; i++) /* typical activations: random in [-1, 1) */
        f[i] = (float)((double)(rng() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    tfn__buf_t b;
    tfn__buf_init(&b, (size_t)1 << 30);
    double t0 = now_ns();
    CHECK_EQ_INT(tfn__json_encode(t, &b), 0);
    double t1 = now_ns();
    printf("  json encode, 1M random float32: %.1f ns/element (%.1f bytes/element)\n",
           (t1 - t0) / (double)n, (double)b.len / (double)n);

    tfn__buf_t b2;
    tfn__buf_init(&b2, (size_t)1 << 30);
    tfn_value_t *t2 = tfn_tensor(a, TFN_DTYPE_F32, 1, &n);
    float *f2 = tfn_tensor_data(t2);
    for (int64_t i = 0; i < n; i++)
        f2[i] = (float)(rng() % 1024) / 4.0f; /* short decimals, e.g. pixel values */
    t0 = now_ns();
    CHECK_EQ_INT(tfn__json_encode(t2, &b2), 0);
    t1 = now_ns();
    printf("  json encode, 1M short float32: %.1f ns/element\n", (t1 - t0) / (double)n);
    tfn__buf_free(&b2);

    double *d = tfn_arena_alloc(a, sizeof(double) * (size_t)n);
    tfn_value_t *td = tfn_tensor_wrap(a, TFN_DTYPE_F64, 1, &n, d);
    for (int64_t i = 0; i < n; i++)
        d[i] = (double)(rng() >> 11) / 9007199254740992.0;
    tfn__buf_init(&b2, (size_t)1 << 30);
    t0 = now_ns();
    CHECK_EQ_INT(tfn__json_encode(td, &b2), 0);
    t1 = now_ns();
    printf("  json encode, 1M random float64: %.1f ns/element\n", (t1 - t0) / (double)n);
    tfn__buf_free(&b2);

    tfn_value_t *v = NULL;
    tfn_error_t err;
    size_t used = tfn_arena_used(a);
    t0 = now_ns();
    CHECK_EQ_INT(tfn__json_decode(a, b.data, b.len, &v, &err), 0);
    t1 = now_ns();
    printf(
        "  json decode (jansson + values), 1M numbers: %.1f ns/element, %.1f arena bytes/element\n",
        (t1 - t0) / (double)n, (double)(tfn_arena_used(a) - used) / (double)n);
    CHECK_EQ_INT(tfn_len(v), n);
    int exact = 1;
    for (int64_t i = 0; i < n && exact; i++) /* decoded as doubles, they give the floats back */
        exact &= (float)tfn_as_float(tfn_list_get(v, (size_t)i)) == f[i];
    CHECK(exact);
    tfn__buf_free(&b);
    tfn_arena_free(a);
}

int main(void)
{
    RUN(test_decode_types);
    RUN(test_decode_errors);
    RUN(test_decode_exhaustion);
    RUN(test_reencode);
    RUN(test_escaping);
    RUN(test_encode_values);
    RUN(test_encode_tensors);
    RUN(test_encode_limits);
    RUN(test_double_formatting);
    RUN(test_float_formatting);
    RUN(test_output_reparses);
    RUN(test_speed);
    return check_summary("json");
}
