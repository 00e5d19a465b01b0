/*
 * test_wire.c — the binary encoding: round trips of every type and dtype, the exact bytes of the
 * spec (docs/wire-format.md), and a decoder that survives any truncation or corruption.
 *
 * With TFN_WIRE_SEEDS=dir in the environment it also writes the fuzz seed corpus into dir
 * (fuzz/corpus/wire is made this way).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "codec/codec_internal.h"
#include "core/value_internal.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Encodes into a fresh buffer (8-aligned, since malloc'd); the caller frees b. */
static int enc(const tfn_value_t *v, tfn__buf_t *b)
{
    tfn__buf_init(b, (size_t)1 << 30);
    return tfn__wire_encode(v, b);
}

/* Decodes `len` bytes; on failure prints nothing, fills err. */
static int dec(tfn_arena_t *a, const void *data, size_t len, tfn_value_t **out, tfn_error_t *err)
{
    *out = NULL;
    return tfn__wire_decode(a, data, len, out, err);
}

/* v -> bytes -> value must be equal, and re-encoding the value must give the same bytes. */
static void check_round_trip(const tfn_value_t *v)
{
    tfn__buf_t b, b2;
    CHECK_EQ_INT(enc(v, &b), 0);
    CHECK(b.len >= 9);
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_value_t *back;
    tfn_error_t err;
    int rc = dec(a, b.data, b.len, &back, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc)
        fprintf(stderr, "  %s\n", err.message);
    CHECK(tfn_value_equal(v, back));
    CHECK_EQ_INT(enc(back, &b2), 0);
    CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
    tfn__buf_free(&b2);
    tfn_arena_free(a);
    tfn__buf_free(&b);
}

static tfn_value_t *tensor_of(tfn_arena_t *a, tfn_dtype_t dtype, int ndim, const int64_t *shape,
                              const void *data)
{
    tfn_value_t *t = tfn_tensor(a, dtype, ndim, shape);
    if (data)
        memcpy(tfn_tensor_data(t), data, tfn_tensor_nbytes(t));
    return t;
}

/* A value with every type in it, used by several tests. */
static tfn_value_t *sample(tfn_arena_t *a)
{
    tfn_value_t *o = tfn_object(a);
    tfn_object_set(a, o, "null", tfn_null(a));
    tfn_object_set(a, o, "t", tfn_bool(a, true));
    tfn_object_set(a, o, "f", tfn_bool(a, false));
    tfn_object_set(a, o, "int", tfn_int(a, -1234567890123LL));
    tfn_object_set(a, o, "float", tfn_float(a, 0.1));
    tfn_object_set(a, o, "str", tfn_string(a, "h\xc3\xa9llo"));
    tfn_object_set(a, o, "bytes", tfn_bytes(a, "\x00\x01\xff", 3));
    tfn_value_t *l = tfn_list(a);
    tfn_list_append(a, l, tfn_int(a, 1));
    tfn_list_append(a, l, tfn_list(a));
    tfn_list_append(a, l, tfn_object(a));
    tfn_object_set(a, o, "list", l);
    int64_t shape[] = {2, 3};
    float f[] = {1, 2, 3, 4, 5, 6.5f};
    tfn_object_set(a, o, "tensor", tensor_of(a, TFN_DTYPE_F32, 2, shape, f));
    uint8_t bools[] = {1, 0, 1};
    int64_t three = 3;
    tfn_object_set(a, o, "mask", tensor_of(a, TFN_DTYPE_BOOL, 1, &three, bools));
    return o;
}

/* ---------------------------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------------------------- */

static void test_scalars_round_trip(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    check_round_trip(tfn_null(a));
    check_round_trip(tfn_bool(a, true));
    check_round_trip(tfn_bool(a, false));
    check_round_trip(tfn_int(a, 0));
    check_round_trip(tfn_int(a, INT64_MIN));
    check_round_trip(tfn_int(a, INT64_MAX));
    double floats[] = {0.0, -0.0, 0.1, 1e-320, INFINITY, -INFINITY, NAN, 1.7976931348623157e308};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        check_round_trip(tfn_float(a, floats[i]));
    uint64_t payload_nan = 0x7FF0000000000123u; /* NaN bits travel untouched */
    double pn;
    memcpy(&pn, &payload_nan, sizeof pn);
    check_round_trip(tfn_float(a, pn));
    check_round_trip(tfn_string(a, ""));
    check_round_trip(tfn_string(a, "h\xc3\xa9llo \xf0\x9f\x98\x80"));
    check_round_trip(tfn_stringn(a, "a\0b", 3));
    check_round_trip(tfn_bytes(a, "", 0));
    check_round_trip(tfn_bytes(a, "\xff\x00\xfe", 3));
    tfn_arena_free(a);
}

static void test_containers_round_trip(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    check_round_trip(tfn_list(a));
    check_round_trip(tfn_object(a));
    check_round_trip(sample(a));
    /* order of members is kept */
    tfn_value_t *o = tfn_object(a);
    char key[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", 999 - i);
        tfn_object_set(a, o, key, tfn_int(a, i));
    }
    check_round_trip(o);
    tfn__buf_t b;
    enc(o, &b);
    tfn_value_t *back;
    tfn_error_t err;
    CHECK_EQ_INT(dec(a, b.data, b.len, &back, &err), 0);
    CHECK_EQ_STR(tfn_object_key_at(back, 0), "k999");
    CHECK_EQ_STR(tfn_object_key_at(back, 999), "k0");
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(back, "k500")), 499);
    tfn__buf_free(&b);
    /* 64 levels of nesting round-trip */
    tfn_value_t *deep = tfn_list(a);
    for (int i = 1; i < 64; i++) {
        tfn_value_t *outer = i % 2 ? tfn_list(a) : tfn_object(a);
        if (i % 2)
            tfn_list_append(a, outer, deep);
        else
            tfn_object_set(a, outer, "x", deep);
        deep = outer;
    }
    check_round_trip(deep);
    tfn_arena_free(a);
}

static void test_tensors_round_trip(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    unsigned char raw[64];
    for (int i = 0; i < 64; i++)
        raw[i] = (unsigned char)(i * 37 + 1);
    int64_t s23[] = {2, 3}, s0[] = {0}, s20[] = {2, 0}, s1[] = {1, 1, 1, 1, 1, 1, 1, 2};
    for (int d = TFN_DTYPE_F32; d <= TFN_DTYPE_BOOL; d++) {
        tfn_dtype_t dtype = (tfn_dtype_t)d;
        unsigned char data[64];
        memcpy(data, raw, sizeof data);
        if (dtype == TFN_DTYPE_BOOL)
            for (int i = 0; i < 64; i++)
                data[i] &= 1;
        check_round_trip(tensor_of(a, dtype, 2, s23, data));
        check_round_trip(tensor_of(a, dtype, 0, NULL, data)); /* 0-d: one element */
        check_round_trip(tensor_of(a, dtype, 1, s0, NULL));
        check_round_trip(tensor_of(a, dtype, 2, s20, NULL));
        check_round_trip(tensor_of(a, dtype, 8, s1, data));
        /* in a list, after a string of each length mod 8: the padding varies */
        for (int pad = 0; pad < 8; pad++) {
            tfn_value_t *l = tfn_list(a);
            tfn_list_append(a, l, tfn_stringn(a, "xxxxxxx", (size_t)pad));
            tfn_list_append(a, l, tensor_of(a, dtype, 2, s23, data));
            check_round_trip(l);
        }
    }
    tfn_arena_free(a);
}

static void test_zero_copy(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn__buf_t b;
    enc(sample(a), &b);
    tfn_value_t *v;
    tfn_error_t err;
    CHECK_EQ_INT(dec(a, b.data, b.len, &v, &err), 0);
    const char *t = tfn_tensor_data(tfn_object_get(v, "tensor"));
    CHECK(t > b.data && t < b.data + b.len);               /* points into the input */
    CHECK((uintptr_t)t % 8 == 0 && (t - b.data) % 8 == 0); /* aligned */
    const char *bytes = tfn_as_bytes(tfn_object_get(v, "bytes"), NULL);
    CHECK(bytes > b.data && bytes < b.data + b.len);
    const char *s = tfn_as_string(tfn_object_get(v, "str"), NULL);
    CHECK(s < b.data || s >= b.data + b.len); /* strings are copied */

    /* misaligned input (against the contract, but survived): tensors are copied instead */
    char *shifted = malloc(b.len + 1);
    memcpy(shifted + 1, b.data, b.len);
    tfn_value_t *v2;
    CHECK_EQ_INT(dec(a, shifted + 1, b.len, &v2, &err), 0);
    CHECK(tfn_value_equal(v, v2));
    t = tfn_tensor_data(tfn_object_get(v2, "tensor"));
    CHECK(t < shifted || t > shifted + b.len);
    CHECK((uintptr_t)t % 8 == 0);
    free(shifted);
    tfn__buf_free(&b);
    tfn_arena_free(a);
}

/* ---------------------------------------------------------------------------------------------
 * The exact bytes of docs/wire-format.md
 * ------------------------------------------------------------------------------------------- */

static void check_bytes(const tfn_value_t *v, const unsigned char *want, size_t want_len)
{
    tfn__buf_t b;
    CHECK_EQ_INT(enc(v, &b), 0);
    CHECK_EQ_INT(b.len, want_len);
    if (b.len == want_len && memcmp(b.data, want, want_len) != 0) {
        for (size_t i = 0; i < want_len; i++)
            if ((unsigned char)b.data[i] != want[i])
                fprintf(stderr, "  byte %zu: %02x, want %02x\n", i, (unsigned char)b.data[i],
                        want[i]);
        CHECK(!"bytes");
    }
    tfn__buf_free(&b);
}

static void test_exact_bytes(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    /* the example of docs/wire-format.md: {"id": 7, "x": float32 tensor [[1.5, -2]]} */
    tfn_value_t *o = tfn_object(a);
    tfn_object_set(a, o, "id", tfn_int(a, 7));
    int64_t shape[] = {1, 2};
    float f[] = {1.5f, -2.0f};
    tfn_object_set(a, o, "x", tensor_of(a, TFN_DTYPE_F32, 2, shape, f));
    /* clang-format off */
    static const unsigned char want[] = {
        0x89, 'T', 'F', 'N', 1, 0, 0, 0,         /* header */
        0x08, 2, 0, 0, 0,                        /* object, 2 members */
        2, 0, 0, 0, 'i', 'd',                    /* key "id" */
        0x03, 7, 0, 0, 0, 0, 0, 0, 0,            /* int 7 */
        1, 0, 0, 0, 'x',                         /* key "x" */
        0x09, 0, 2,                              /* tensor float32, 2 dims (offsets 33..35) */
        1, 0, 0, 0, 0, 0, 0, 0,                  /* shape[0] = 1 */
        2, 0, 0, 0, 0, 0, 0, 0,                  /* shape[1] = 2 (ends at offset 52) */
        0, 0, 0, 0,                              /* padding to offset 56 */
        0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0, /* 1.5f, -2.0f */
    };
    /* clang-format on */
    check_bytes(o, want, sizeof want);

    /* clang-format off */
    static const unsigned char scalars[] = {
        0x89, 'T', 'F', 'N', 1, 0, 0, 0,            /* header */
        0x07, 6, 0, 0, 0,                           /* list of 6 */
        0x00, 0x01, 0x02,                           /* null, false, true */
        0x04, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,         /* 1.0 */
        0x05, 1, 0, 0, 0, 'a',                      /* "a" */
        0x06, 0, 0, 0, 0,                           /* empty bytes */
    };
    /* clang-format on */
    tfn_value_t *l = tfn_list(a);
    tfn_list_append(a, l, tfn_null(a));
    tfn_list_append(a, l, tfn_bool(a, false));
    tfn_list_append(a, l, tfn_bool(a, true));
    tfn_list_append(a, l, tfn_float(a, 1.0));
    tfn_list_append(a, l, tfn_string(a, "a"));
    tfn_list_append(a, l, tfn_bytes(a, "", 0));
    check_bytes(l, scalars, sizeof scalars);
    tfn_arena_free(a);
}

/* ---------------------------------------------------------------------------------------------
 * Hostile input
 * ------------------------------------------------------------------------------------------- */

static void test_truncation_everywhere(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn__buf_t b;
    enc(sample(a), &b);
    char *copy = malloc(b.len);
    int ok = 1;
    for (size_t n = 0; n < b.len; n++) {
        memcpy(copy, b.data, n); /* a copy of exactly n bytes, so ASan sees any overread */
        tfn_arena_t *a2 = tfn_arena_new(0);
        tfn_value_t *v;
        tfn_error_t err;
        int rc = dec(a2, copy, n, &v, &err);
        ok &= rc == TFN_EBADWIRE && strstr(err.message, "offset ") == err.message;
        ok &= v == NULL;
        tfn_arena_free(a2);
    }
    CHECK(ok);
    /* and with trailing bytes */
    char *longer = malloc(b.len + 8);
    memcpy(longer, b.data, b.len);
    memset(longer + b.len, 0, 8);
    tfn_value_t *v;
    tfn_error_t err;
    CHECK_EQ_INT(dec(a, longer, b.len + 1, &v, &err), TFN_EBADWIRE);
    CHECK(strstr(err.message, "trailing") != NULL);
    free(longer);
    free(copy);
    tfn__buf_free(&b);
    tfn_arena_free(a);
}

static void test_corruption_everywhere(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn__buf_t b;
    enc(sample(a), &b);
    char *copy = malloc(b.len);
    const unsigned char flips[] = {0x01, 0x02, 0x10, 0x80, 0xff};
    int accepted = 0, ok = 1;
    for (size_t i = 0; i < b.len; i++) {
        for (size_t k = 0; k < sizeof flips; k++) {
            memcpy(copy, b.data, b.len);
            copy[i] = (char)(copy[i] ^ flips[k]);
            tfn_arena_t *a2 = tfn_arena_new(0);
            tfn_value_t *v;
            tfn_error_t err;
            int rc = dec(a2, copy, b.len, &v, &err);
            ok &= rc == 0 || rc == TFN_EBADWIRE;
            if (rc == 0) { /* a corruption that is still valid must re-encode to itself */
                tfn__buf_t b2;
                accepted++;
                ok &= enc(v, &b2) == 0 && b2.len == b.len && !memcmp(b2.data, copy, b.len);
                tfn__buf_free(&b2);
            }
            tfn_arena_free(a2);
        }
    }
    CHECK(ok);
    CHECK(accepted > 0); /* e.g. flipped bits in numbers and tensor data */
    free(copy);
    tfn__buf_free(&b);
    tfn_arena_free(a);
}

/* Builds header + body bytes into an aligned buffer and decodes them. */
static int decode_raw(const unsigned char *body, size_t len, tfn_arena_t *a, tfn_error_t *err)
{
    uint64_t storage[64];
    unsigned char *p = (unsigned char *)storage;
    static const unsigned char header[8] = {0x89, 'T', 'F', 'N', 1, 0, 0, 0};
    memcpy(p, header, 8);
    memcpy(p + 8, body, len);
    tfn_value_t *v;
    return dec(a, p, 8 + len, &v, err);
}

static void check_rejected(const unsigned char *body, size_t len, const char *fragment)
{
    tfn_arena_t *a = tfn_arena_new(4096); /* a hostile count must not even try to allocate */
    tfn_error_t err;
    int rc = decode_raw(body, len, a, &err);
    CHECK_EQ_INT(rc, TFN_EBADWIRE);
    if (rc == TFN_EBADWIRE && !strstr(err.message, fragment)) {
        fprintf(stderr, "  '%s' not in '%s'\n", fragment, err.message);
        CHECK(!"message");
    }
    tfn_arena_free(a);
}

#define REJECT(fragment, ...)                                                                      \
    do {                                                                                           \
        static const unsigned char body_[] = {__VA_ARGS__};                                        \
        check_rejected(body_, sizeof body_, fragment);                                             \
    } while (0)

static void test_rejections(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_error_t err;
    tfn_value_t *v;
    uint64_t aligned[4] = {0};
    unsigned char *p = (unsigned char *)aligned;
    memcpy(p, "\x89TFN\x01\x00\x00\x00\x00", 9);
    CHECK_EQ_INT(dec(a, p, 9, &v, &err), 0); /* a lone null is fine */
    p[0] = '{';
    CHECK_EQ_INT(dec(a, p, 9, &v, &err), TFN_EBADWIRE);
    CHECK(strstr(err.message, "magic") != NULL);
    p[0] = 0x89;
    p[4] = 2;
    CHECK_EQ_INT(dec(a, p, 9, &v, &err), TFN_EBADWIRE);
    CHECK(strstr(err.message, "version 2") != NULL);
    p[4] = 1;
    p[7] = 1;
    CHECK_EQ_INT(dec(a, p, 9, &v, &err), TFN_EBADWIRE);
    CHECK(strstr(err.message, "reserved") != NULL);
    CHECK_EQ_INT(dec(a, NULL, 0, &v, &err), TFN_EBADWIRE);
    CHECK_EQ_INT(err.http_status, 400);
    tfn_arena_free(a);

    REJECT("offset 8: unknown tag 11", 0x0B);
    /* a tensor reference (shared memory) where no region exists: tests/test_shm.c has more */
    REJECT("into the sender's region, and there is none", 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    REJECT("unknown tag 255", 0xFF);
    REJECT("truncated", 0x03, 1, 2, 3); /* int of 3 bytes */
    REJECT("list of 4294967295 items", 0x07, 0xff, 0xff, 0xff, 0xff, 0);
    REJECT("object of 2 members", 0x08, 2, 0, 0, 0, 0, 0, 0, 0, 0);
    REJECT("truncated", 0x05, 0xff, 0xff, 0xff, 0xff, 'a');
    REJECT("truncated", 0x06, 5, 0, 0, 0, 'a');
    REJECT("not valid UTF-8", 0x05, 2, 0, 0, 0, 0xc3, 0x28);
    REJECT("not valid UTF-8", 0x08, 1, 0, 0, 0, 1, 0, 0, 0, 0xff, 0x00);
    REJECT("NUL", 0x08, 1, 0, 0, 0, 1, 0, 0, 0, 0x00, 0x00);
    REJECT("duplicate object key 'a'", 0x08, 2, 0, 0, 0, 1, 0, 0, 0, 'a', 0x00, 1, 0, 0, 0, 'a',
           0x00);
    REJECT("unknown dtype 6", 0x09, 6, 0);
    REJECT("9 dimensions", 0x09, 0, 9);
    /* shape -1 */
    REJECT("invalid tensor shape", 0x09, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    /* shape 2^62 x 4 bytes: overflows */
    REJECT("invalid tensor shape", 0x09, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x40);
    /* shape 2^40 float32: fine as a shape, but the data is not there */
    REJECT("tensor data needs 4398046511104 bytes", 0x09, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
           0, 0);
    /* tensor at offset 8: 3 + 8 = 11 bytes of header, padding to 24 must be zero */
    REJECT("non-zero padding", 0x09, 4, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x2a);
    REJECT("offset 25: bool tensor element is 2", 0x09, 5, 1, 2, 0, 0, 0, 0, 0, 0, 0, /* shape */
           0, 0, 0, 0, 0, /* padding */ 1, 2);
    REJECT("trailing", 0x00, 0x00);
    REJECT("list of 1 items cannot fit in the 0 bytes left", 0x07, 1, 0, 0, 0);

    /* nesting: 64 levels decode, 65 do not */
    unsigned char deep[8 + 66 * 5 + 1];
    memcpy(deep, "\x89TFN\x01\x00\x00\x00", 8);
    for (int levels = 64; levels <= 65; levels++) {
        size_t n = 8;
        for (int i = 0; i < levels; i++) {
            memcpy(deep + n, "\x07\x01\x00\x00\x00", 5);
            n += 5;
        }
        deep[n - 4] = 0; /* the innermost list is empty */
        a = tfn_arena_new(0);
        char *copy = malloc(n);
        memcpy(copy, deep, n);
        int rc = dec(a, copy, n, &v, &err);
        CHECK_EQ_INT(rc, levels <= 64 ? 0 : TFN_EBADWIRE);
        if (rc)
            CHECK(strstr(err.message, "deeper than 64") != NULL);
        free(copy);
        tfn_arena_free(a);
    }
}

static void test_arena_exhaustion(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn__buf_t b;
    enc(sample(a), &b);
    tfn_arena_free(a);
    int saw_nomem = 0, saw_ok = 0;
    for (size_t max = 16; max < 8192; max += 16) {
        a = tfn_arena_new(max);
        tfn_value_t *v;
        tfn_error_t err;
        int rc = dec(a, b.data, b.len, &v, &err);
        CHECK(rc == 0 || rc == TFN_ENOMEM);
        saw_nomem |= rc == TFN_ENOMEM;
        saw_ok |= rc == 0;
        tfn_arena_free(a);
    }
    CHECK(saw_nomem && saw_ok);
    tfn__buf_free(&b);
}

/* ---------------------------------------------------------------------------------------------
 * Encoder
 * ------------------------------------------------------------------------------------------- */

static void test_encoder_rules(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn__buf_t b;
    /* invalid UTF-8 in a string is replaced, as in JSON, so that the decoder accepts it */
    CHECK_EQ_INT(enc(tfn_string(a, "a\377b\303"), &b), 0);
    tfn_value_t *v;
    tfn_error_t err;
    CHECK_EQ_INT(dec(a, b.data, b.len, &v, &err), 0);
    CHECK_EQ_STR(tfn_as_string(v, NULL), "a\357\277\275b\357\277\275");
    tfn__buf_free(&b);
    /* bool tensor elements travel as 0 or 1 */
    int64_t three = 3;
    tfn_value_t *t = tfn_tensor(a, TFN_DTYPE_BOOL, 1, &three);
    memcpy(tfn_tensor_data(t), "\x07\x00\x01", 3);
    CHECK_EQ_INT(enc(t, &b), 0);
    CHECK_EQ_INT(dec(a, b.data, b.len, &v, &err), 0);
    CHECK(memcmp(tfn_tensor_data(v), "\x01\x00\x01", 3) == 0);
    tfn__buf_free(&b);
    /* too deep, or containing itself: EINVAL and nothing appended */
    tfn_value_t *deep = tfn_list(a);
    for (int i = 1; i < 65; i++) {
        tfn_value_t *outer = tfn_list(a);
        tfn_list_append(a, outer, deep);
        deep = outer;
    }
    tfn__buf_init(&b, 1 << 20);
    tfn__buf_append(&b, "12345678", 8);
    CHECK_EQ_INT(tfn__wire_encode(deep, &b), TFN_EINVAL);
    CHECK_EQ_INT(b.len, 8);
    tfn_value_t *self = tfn_object(a);
    tfn_object_set(a, self, "me", self);
    CHECK_EQ_INT(tfn__wire_encode(self, &b), TFN_EINVAL);
    /* appended after 8 bytes: alignment is relative to the encoding's start */
    CHECK_EQ_INT(tfn__wire_encode(sample(a), &b), 0);
    CHECK_EQ_INT(dec(a, b.data + 8, b.len - 8, &v, &err), 0);
    CHECK(tfn_value_equal(v, sample(a)));
    tfn__buf_free(&b);
    /* the buffer's maximum */
    tfn__buf_init(&b, 50);
    CHECK_EQ_INT(tfn__wire_encode(sample(a), &b), TFN_ETOOBIG);
    CHECK_EQ_INT(b.len, 0);
    tfn__buf_free(&b);
    tfn_arena_free(a);
}

/* ---------------------------------------------------------------------------------------------
 * Speed (printed) and the fuzz seeds
 * ------------------------------------------------------------------------------------------- */

static void test_speed(void)
{
    const int64_t n = 1000000;
    tfn_arena_t *a = tfn_arena_new((size_t)256 << 20);
    tfn_value_t *t = tfn_tensor(a, TFN_DTYPE_F32, 1, &n);
    tfn__buf_t b;
    tfn__buf_init(&b, (size_t)1 << 30);
    double t0 = now_ns();
    CHECK_EQ_INT(tfn__wire_encode(t, &b), 0);
    double t1 = now_ns();
    tfn_value_t *v;
    tfn_error_t err;
    CHECK_EQ_INT(dec(a, b.data, b.len, &v, &err), 0);
    double t2 = now_ns();
    printf("  wire, 1M float32 tensor: encode %.2f ns/element, decode %.0f ns in all (zero-copy)\n",
           (t1 - t0) / (double)n, t2 - t1);
    tfn__buf_free(&b);

    tfn_value_t *l = tfn_list(a);
    for (int64_t i = 0; i < n; i++)
        tfn_list_append(a, l, tfn_float(a, (double)i * 0.5));
    tfn__buf_init(&b, (size_t)1 << 30);
    t0 = now_ns();
    CHECK_EQ_INT(tfn__wire_encode(l, &b), 0);
    t1 = now_ns();
    CHECK_EQ_INT(dec(a, b.data, b.len, &v, &err), 0);
    t2 = now_ns();
    printf("  wire, list of 1M floats: encode %.1f ns/item, decode %.1f ns/item\n",
           (t1 - t0) / (double)n, (t2 - t1) / (double)n);
    tfn__buf_free(&b);
    tfn_arena_free(a);
}

static void write_seed(const char *dir, const char *name, const tfn_value_t *v)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tfn__buf_t b;
    enc(v, &b);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(b.data, 1, b.len, f);
        fclose(f);
    }
    tfn__buf_free(&b);
}

static void write_seeds(const char *dir)
{
    tfn_arena_t *a = tfn_arena_new(0);
    write_seed(dir, "null", tfn_null(a));
    write_seed(dir, "sample", sample(a));
    tfn_value_t *l = tfn_list(a);
    tfn_list_append(a, l, tfn_float(a, -0.0));
    tfn_list_append(a, l, tfn_int(a, INT64_MIN));
    tfn_list_append(a, l, tfn_string(a, "\xe2\x98\x83"));
    tfn_list_append(a, l, tfn_bytes(a, "\x00", 1));
    write_seed(dir, "scalars", l);
    int64_t s[] = {2, 2, 2};
    int64_t data[8] = {1, -1, 2, -2, 3, -3, 4, -4};
    for (int d = TFN_DTYPE_F32; d <= TFN_DTYPE_BOOL; d++) {
        char name[32];
        snprintf(name, sizeof name, "tensor_%s", tfn_dtype_name((tfn_dtype_t)d));
        tfn_value_t *t = tfn_tensor(a, (tfn_dtype_t)d, 3, s);
        memcpy(tfn_tensor_data(t), data, tfn_tensor_nbytes(t));
        if (d == TFN_DTYPE_BOOL)
            memset(tfn_tensor_data(t), 1, 8);
        write_seed(dir, name, t);
    }
    write_seed(dir, "tensor_0d", tfn_tensor(a, TFN_DTYPE_F64, 0, NULL));
    int64_t empty[] = {3, 0};
    write_seed(dir, "tensor_empty", tfn_tensor(a, TFN_DTYPE_I32, 2, empty));
    tfn_value_t *o = tfn_object(a), *inner = tfn_object(a);
    tfn_object_set(a, inner, "k", tfn_list(a));
    tfn_object_set(a, o, "nested", inner);
    tfn_object_set(a, o, "s", tfn_string(a, ""));
    write_seed(dir, "nested", o);
    tfn_arena_free(a);
    printf("  wrote the wire seeds into %s\n", dir);
}

int main(void)
{
    RUN(test_scalars_round_trip);
    RUN(test_containers_round_trip);
    RUN(test_tensors_round_trip);
    RUN(test_zero_copy);
    RUN(test_exact_bytes);
    RUN(test_truncation_everywhere);
    RUN(test_corruption_everywhere);
    RUN(test_rejections);
    RUN(test_arena_exhaustion);
    RUN(test_encoder_rules);
    RUN(test_speed);
    const char *seeds = getenv("TFN_WIRE_SEEDS");
    if (seeds)
        write_seeds(seeds);
    return check_summary("wire");
}
