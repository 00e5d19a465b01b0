/* test_value.c — constructors, accessors, equality; UTF-8 and base64 helpers. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/value_internal.h"

static void test_scalars(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    CHECK_EQ_INT(tfn_typeof(tfn_null(a)), TFN_TYPE_NULL);
    CHECK_EQ_INT(tfn_typeof(NULL), TFN_TYPE_NULL);
    CHECK(tfn_as_bool(tfn_bool(a, true)));
    CHECK(!tfn_as_bool(tfn_bool(a, false)));
    CHECK_EQ_INT(tfn_as_int(tfn_int(a, INT64_MIN)), INT64_MIN);
    CHECK_EQ_INT(tfn_as_int(tfn_int(a, INT64_MAX)), INT64_MAX);
    CHECK(tfn_as_float(tfn_float(a, 0.1)) == 0.1);
    CHECK(tfn_as_float(tfn_int(a, 3)) == 3.0);
    size_t len = 99;
    CHECK_EQ_STR(tfn_as_string(tfn_string(a, "héllo"), &len), "héllo");
    CHECK_EQ_INT(len, 6);
    tfn_value_t *s = tfn_stringn(a, "a\0b", 3);
    const char *p = tfn_as_string(s, &len);
    CHECK(len == 3 && memcmp(p, "a\0b", 4) == 0); /* NUL appended */
    CHECK_EQ_INT(tfn_len(s), 3);
    tfn_value_t *b = tfn_bytes(a, "\x00\xff", 2);
    const unsigned char *bp = tfn_as_bytes(b, &len);
    CHECK(len == 2 && bp[0] == 0 && bp[1] == 0xff);
    CHECK(tfn_bytes(a, NULL, 0) != NULL);
    CHECK(tfn_bytes(a, NULL, 1) == NULL);
    CHECK(tfn_string(a, NULL) == NULL);
    tfn_arena_free(a);
}

static void test_wrong_type_accessors(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_value_t *s = tfn_string(a, "x"), *i = tfn_int(a, 5);
    size_t len = 99;
    CHECK(!tfn_as_bool(i));
    CHECK_EQ_INT(tfn_as_int(s), 0);
    CHECK(tfn_as_float(s) == 0.0);
    CHECK(tfn_as_string(i, &len) == NULL && len == 0);
    CHECK(tfn_as_bytes(s, &len) == NULL && len == 0);
    CHECK(tfn_as_string(NULL, NULL) == NULL);
    CHECK_EQ_INT(tfn_len(i), 0);
    CHECK_EQ_INT(tfn_len(NULL), 0);
    CHECK(tfn_list_get(s, 0) == NULL);
    CHECK(tfn_object_get(s, "x") == NULL);
    CHECK(tfn_object_key_at(s, 0) == NULL);
    CHECK(tfn_object_value_at(NULL, 0) == NULL);
    CHECK_EQ_INT(tfn_tensor_dtype(s), TFN_DTYPE_F32);
    CHECK_EQ_INT(tfn_tensor_ndim(s), 0);
    CHECK(tfn_tensor_shape(s) == NULL && tfn_tensor_data(s) == NULL);
    CHECK_EQ_INT(tfn_tensor_nbytes(NULL), 0);
    CHECK_EQ_INT(tfn_list_append(a, s, i), TFN_EINVAL);
    CHECK_EQ_INT(tfn_list_append(a, tfn_list(a), NULL), TFN_EINVAL);
    CHECK_EQ_INT(tfn_object_set(a, s, "k", i), TFN_EINVAL);
    CHECK_EQ_INT(tfn_object_set(a, tfn_object(a), NULL, i), TFN_EINVAL);
    CHECK_EQ_INT(tfn_object_set(a, tfn_object(a), "k", NULL), TFN_EINVAL);
    tfn_arena_free(a);
}

static void test_names(void)
{
    CHECK_EQ_STR(tfn_type_name(TFN_TYPE_TENSOR), "tensor");
    CHECK_EQ_STR(tfn_type_name(TFN_TYPE_OBJECT), "object");
    CHECK_EQ_STR(tfn_type_name(TFN_TYPE_ANY), "any");
    CHECK_EQ_STR(tfn_dtype_name(TFN_DTYPE_F32), "float32");
    CHECK_EQ_STR(tfn_dtype_name(TFN_DTYPE_I64), "int64");
    CHECK_EQ_STR(tfn_dtype_name(TFN_DTYPE_BOOL), "bool");
    CHECK_EQ_STR(tfn_dtype_name((tfn_dtype_t)42), "?");
    CHECK_EQ_INT(tfn_dtype_size(TFN_DTYPE_F64), 8);
    CHECK_EQ_INT(tfn_dtype_size(TFN_DTYPE_U8), 1);
    CHECK_EQ_INT(tfn_dtype_size((tfn_dtype_t)-1), 0);
}

static void test_lists(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_value_t *l = tfn_list(a);
    CHECK_EQ_INT(tfn_len(l), 0);
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ_INT(tfn_list_append(a, l, tfn_int(a, i)), 0);
        tfn_arena_alloc(a, 8); /* interleaved allocations force copies on growth */
    }
    CHECK_EQ_INT(tfn_len(l), 1000);
    int ok = 1;
    for (int i = 0; i < 1000; i++)
        ok &= tfn_as_int(tfn_list_get(l, (size_t)i)) == i;
    CHECK(ok);
    CHECK(tfn_list_get(l, 1000) == NULL);
    tfn_arena_free(a);
}

static void test_objects(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_value_t *o = tfn_object(a);
    CHECK_EQ_INT(tfn_object_set(a, o, "b", tfn_int(a, 1)), 0);
    CHECK_EQ_INT(tfn_object_set(a, o, "a", tfn_int(a, 2)), 0);
    CHECK_EQ_INT(tfn_object_set(a, o, "c", tfn_int(a, 3)), 0);
    CHECK_EQ_INT(tfn_object_set(a, o, "a", tfn_int(a, 20)), 0); /* replaces, keeps position */
    CHECK_EQ_INT(tfn_len(o), 3);
    CHECK_EQ_STR(tfn_object_key_at(o, 0), "b");
    CHECK_EQ_STR(tfn_object_key_at(o, 1), "a");
    CHECK_EQ_STR(tfn_object_key_at(o, 2), "c");
    CHECK_EQ_INT(tfn_as_int(tfn_object_value_at(o, 1)), 20);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(o, "a")), 20);
    CHECK(tfn_object_get(o, "d") == NULL);
    CHECK(tfn_object_get(o, "") == NULL);
    CHECK(tfn_object_key_at(o, 3) == NULL);
    CHECK_EQ_INT(tfn_object_set(a, o, "\xff", tfn_int(a, 1)), TFN_EINVAL); /* not UTF-8 */
    CHECK_EQ_INT(tfn_object_set(a, o, "", tfn_int(a, 1)), 0);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(o, "")), 1);

    /* a large object (hash index), checked against insertion order and lookups */
    tfn_value_t *big = tfn_object(a);
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "key%d", i);
        CHECK_EQ_INT(tfn_object_set(a, big, key, tfn_int(a, i)), 0);
    }
    for (int i = 0; i < 20000; i += 7) { /* replacements keep the count */
        snprintf(key, sizeof key, "key%d", i);
        tfn_object_set(a, big, key, tfn_int(a, -i));
    }
    CHECK_EQ_INT(tfn_len(big), 20000);
    int ok = 1;
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "key%d", i);
        ok &= strcmp(tfn_object_key_at(big, (size_t)i), key) == 0;
        ok &= tfn_as_int(tfn_object_get(big, key)) == (i % 7 ? i : -i);
    }
    CHECK(ok);
    CHECK(tfn_object_get(big, "key20000") == NULL);
    tfn_arena_free(a);
}

static void test_tensors(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    int64_t shape[] = {2, 3};
    tfn_value_t *t = tfn_tensor(a, TFN_DTYPE_F32, 2, shape);
    CHECK_EQ_INT(tfn_typeof(t), TFN_TYPE_TENSOR);
    CHECK_EQ_INT(tfn_tensor_ndim(t), 2);
    CHECK(tfn_tensor_shape(t)[0] == 2 && tfn_tensor_shape(t)[1] == 3);
    CHECK_EQ_INT(tfn_tensor_nbytes(t), 24);
    CHECK_EQ_INT(tfn_len(t), 6);
    float *d = tfn_tensor_data(t);
    CHECK(d[0] == 0 && d[5] == 0);
    CHECK((uintptr_t)d % 16 == 0);

    tfn_value_t *scalar = tfn_tensor(a, TFN_DTYPE_I64, 0, NULL);
    CHECK(scalar && tfn_len(scalar) == 1 && tfn_tensor_nbytes(scalar) == 8);
    int64_t empty_shape[] = {0, 5};
    tfn_value_t *empty = tfn_tensor(a, TFN_DTYPE_F64, 2, empty_shape);
    CHECK(empty && tfn_len(empty) == 0 && tfn_tensor_nbytes(empty) == 0);

    /* bad arguments */
    int64_t neg[] = {2, -1};
    CHECK(tfn_tensor(a, TFN_DTYPE_F32, 2, neg) == NULL);
    CHECK(tfn_tensor(a, TFN_DTYPE_F32, -1, shape) == NULL);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(tfn_tensor(a, TFN_DTYPE_F32, 9, nine) == NULL);
    CHECK(tfn_tensor(a, (tfn_dtype_t)6, 1, shape) == NULL);
    CHECK(tfn_tensor(a, TFN_DTYPE_F32, 1, NULL) == NULL);
    /* absurd shapes: the product overflows, even with a zero dimension elsewhere */
    int64_t huge[] = {INT64_MAX, 2};
    CHECK(tfn_tensor(a, TFN_DTYPE_U8, 2, huge) == NULL);
    int64_t huge_zero[] = {0, INT64_MAX / 2, 4};
    CHECK(tfn_tensor(a, TFN_DTYPE_U8, 3, huge_zero) == NULL);
    int64_t big8[] = {1 << 20, 1 << 20, 1 << 20};
    CHECK(tfn_tensor(a, TFN_DTYPE_F64, 3, big8) == NULL); /* 2^63 bytes */
    int64_t too_much[] = {(int64_t)1 << 30};
    CHECK(tfn_tensor(a, TFN_DTYPE_F32, 1, too_much) == NULL); /* 4 GiB > the arena's 64 MiB */
    size_t count, nbytes;
    CHECK(tfn__shape_size(TFN_DTYPE_U8, 1, (int64_t[]){INT64_MAX}, &count, &nbytes));
    CHECK(!tfn__shape_size(TFN_DTYPE_I32, 1, (int64_t[]){INT64_MAX / 4 + 1}, &count, &nbytes));
    CHECK(tfn__shape_size(TFN_DTYPE_I32, 1, (int64_t[]){INT64_MAX / 4}, &count, &nbytes));

    /* wrapping */
    int32_t ints[6] = {1, 2, 3, 4, 5, 6};
    tfn_value_t *w = tfn_tensor_wrap(a, TFN_DTYPE_I32, 2, shape, ints);
    CHECK(w && tfn_tensor_data(w) == (void *)ints);
    CHECK(tfn_tensor_wrap(a, TFN_DTYPE_I32, 2, shape, (char *)ints + 1) == NULL); /* misaligned */
    CHECK(tfn_tensor_wrap(a, TFN_DTYPE_I32, 2, shape, NULL) == NULL);
    CHECK(tfn_tensor_wrap(a, TFN_DTYPE_I32, 2, empty_shape, NULL) != NULL);
    tfn_arena_free(a);
}

static void test_equality(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    CHECK(tfn_value_equal(tfn_float(a, 0.5), tfn_float(a, 0.5)));
    CHECK(!tfn_value_equal(tfn_float(a, 0.0), tfn_float(a, -0.0)));
    CHECK(tfn_value_equal(tfn_float(a, NAN), tfn_float(a, NAN)));
    CHECK(!tfn_value_equal(tfn_float(a, 1.0), tfn_int(a, 1)));
    CHECK(tfn_value_equal(NULL, tfn_null(a)));
    CHECK(tfn_value_equal(NULL, NULL));
    CHECK(!tfn_value_equal(NULL, tfn_int(a, 0)));
    CHECK(!tfn_value_equal(tfn_string(a, "ab"), tfn_string(a, "abc")));
    CHECK(!tfn_value_equal(tfn_string(a, "ab"), tfn_bytes(a, "ab", 2)));

    tfn_value_t *o1 = tfn_object(a), *o2 = tfn_object(a);
    tfn_object_set(a, o1, "x", tfn_int(a, 1));
    tfn_object_set(a, o1, "y", tfn_list(a));
    tfn_object_set(a, o2, "y", tfn_list(a));
    CHECK(!tfn_value_equal(o1, o2));
    tfn_object_set(a, o2, "x", tfn_int(a, 1));
    CHECK(tfn_value_equal(o1, o2)); /* any order */
    tfn_object_set(a, o2, "x", tfn_int(a, 2));
    CHECK(!tfn_value_equal(o1, o2));

    int64_t shape[] = {2};
    tfn_value_t *t1 = tfn_tensor(a, TFN_DTYPE_F32, 1, shape);
    tfn_value_t *t2 = tfn_tensor(a, TFN_DTYPE_F32, 1, shape);
    CHECK(tfn_value_equal(t1, t2));
    ((float *)tfn_tensor_data(t2))[1] = -0.0f;
    CHECK(!tfn_value_equal(t1, t2));
    int64_t shape2[] = {1, 2};
    CHECK(!tfn_value_equal(t1, tfn_tensor(a, TFN_DTYPE_F32, 2, shape2)));
    CHECK(!tfn_value_equal(t1, tfn_tensor(a, TFN_DTYPE_I32, 1, shape)));

    /* a list containing itself is not equal to anything, and does not recurse forever */
    tfn_value_t *l = tfn_list(a);
    tfn_list_append(a, l, l);
    CHECK(!tfn_value_equal(l, l));
    tfn_arena_free(a);
}

static void test_exhaustion(void)
{
    tfn_arena_t *a = tfn_arena_new(200);
    tfn_value_t *l = tfn_list(a);
    CHECK(l != NULL);
    int rc = 0;
    for (int i = 0; i < 100 && !rc; i++) {
        tfn_value_t *v = tfn_int(a, i);
        rc = v ? tfn_list_append(a, l, v) : TFN_ENOMEM;
    }
    CHECK_EQ_INT(rc, TFN_ENOMEM);
    CHECK(tfn_string(a, "a long string that does not fit in what is left") == NULL);
    tfn_arena_free(a);

    a = tfn_arena_new(4096);
    tfn_value_t *o = tfn_object(a);
    char key[32];
    rc = 0;
    for (int i = 0; i < 1000 && !rc; i++) {
        snprintf(key, sizeof key, "k%d", i);
        rc = tfn_object_set(a, o, key, o);
    }
    CHECK_EQ_INT(rc, TFN_ENOMEM);
    size_t n = tfn_len(o); /* what was set is still all there and findable */
    int ok = n > 8;
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%zu", i);
        ok &= tfn_object_get(o, key) == o;
    }
    CHECK(ok);
    tfn_arena_free(a);
}

static void test_utf8(void)
{
    static const struct {
        const char *s;
        bool valid;
    } cases[] = {
        {"", true},
        {"plain ascii text, long enough for the 8-byte loop", true},
        {"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80", true},
        {"\xc3", false},             /* truncated */
        {"\xc0\xaf", false},         /* overlong '/' */
        {"\xe0\x80\xaf", false},     /* overlong */
        {"\xed\xa0\x80", false},     /* surrogate D800 */
        {"\xed\x9f\xbf", true},      /* D7FF */
        {"\xf4\x8f\xbf\xbf", true},  /* 10FFFF */
        {"\xf4\x90\x80\x80", false}, /* 110000 */
        {"\xf5\x80\x80\x80", false},
        {"\xff", false},
        {"\x80", false},
        {"abcdefgh\xe2\x98", false}, /* truncated after an ASCII run */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_EQ_INT(tfn__utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].valid);
    CHECK(tfn__utf8_valid("a\0b", 3));
    /* prefixes that do not cut a character */
    const char *s = "ab\xe2\x98\x83"
                    "cd";
    CHECK_EQ_INT(tfn__utf8_prefix(s, 7, 100), 7);
    CHECK_EQ_INT(tfn__utf8_prefix(s, 7, 5), 5);
    CHECK_EQ_INT(tfn__utf8_prefix(s, 7, 4), 2);
    CHECK_EQ_INT(tfn__utf8_prefix(s, 7, 3), 2);
    CHECK_EQ_INT(tfn__utf8_prefix(s, 7, 2), 2);
    CHECK_EQ_INT(tfn__utf8_prefix(s, 7, 0), 0);
}

static void test_base64(void)
{
    static const struct {
        const char *plain, *b64;
    } vectors[] = {{"", ""},
                   {"f", "Zg=="},
                   {"fo", "Zm8="},
                   {"foo", "Zm9v"},
                   {"foob", "Zm9vYg=="},
                   {"fooba", "Zm9vYmE="},
                   {"foobar", "Zm9vYmFy"}};
    char out[64];
    unsigned char dec[64];
    size_t n;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        size_t len = strlen(vectors[i].plain);
        CHECK_EQ_INT(tfn__base64_encoded_len(len), strlen(vectors[i].b64));
        tfn__base64_encode(vectors[i].plain, len, out);
        CHECK(memcmp(out, vectors[i].b64, strlen(vectors[i].b64)) == 0);
        CHECK(tfn__base64_decode(vectors[i].b64, strlen(vectors[i].b64), dec, &n));
        CHECK(n == len && memcmp(dec, vectors[i].plain, len) == 0);
    }
    /* padding may be left out */
    CHECK(tfn__base64_decode("Zm8", 3, dec, &n) && n == 2 && memcmp(dec, "fo", 2) == 0);
    CHECK(tfn__base64_decode("Zg", 2, dec, &n) && n == 1);
    /* invalid */
    const char *bad[] = {"Z",    "Zg=",   "Zg===",  "Zm9v=", "Z===",
                         "====", "Zm 9v", "Zm9v\n", "Zh==",  /* non-zero unused bits */ "Zm9=",
                         "Zm-v", "Zm_v",  "=Zm9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool ok = tfn__base64_decode(bad[i], strlen(bad[i]), dec, &n);
        if (ok)
            fprintf(stderr, "  accepted bad base64 '%s'\n", bad[i]);
        CHECK(!ok);
    }
    /* every byte value, every length mod 3 */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char text[400];
    unsigned char back[400];
    for (size_t len = 250; len <= 256; len++) {
        tfn__base64_encode(all, len, text);
        size_t tl = tfn__base64_encoded_len(len);
        CHECK(tfn__base64_decoded_max(tl) >= len);
        CHECK(tfn__base64_decode(text, tl, back, &n) && n == len && !memcmp(back, all, len));
    }
}

int main(void)
{
    RUN(test_scalars);
    RUN(test_wrong_type_accessors);
    RUN(test_names);
    RUN(test_lists);
    RUN(test_objects);
    RUN(test_tensors);
    RUN(test_equality);
    RUN(test_exhaustion);
    RUN(test_utf8);
    RUN(test_base64);
    return check_summary("value");
}
