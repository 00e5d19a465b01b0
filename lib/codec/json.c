/*
 * json.c — the JSON codec (application/json).
 *
 * Decoding parses with jansson and converts its tree into arena values. Encoding is our own
 * writer, for speed and for control over numbers: doubles in the shortest form that reads back
 * exactly, float32 tensor elements in the shortest form that reads back exactly as a float.
 *
 * Numbers: every float (FLOAT values and the elements of float tensors) is written so that it
 * reads back as a float: "2.0", not "2". Exponent forms ("1e+300", "1e-07") already do. Integer
 * dtypes and INT values are plain integers; NaN and infinities become null.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "core/value_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------------- */

typedef struct decoder {
    tfn_arena_t *arena;
    tfn_error_t *err;
} decoder_t;

static int decode_nomem(decoder_t *d)
{
    return tfn_error_set(d->err, TFN_ENOMEM,
                         "out of memory: the decoded request needs more than %zu bytes",
                         tfn__arena_max(d->arena));
}

static int from_json(decoder_t *d, json_t *j, int depth, tfn_value_t **out)
{
    tfn_value_t *v = NULL;
    switch (json_typeof(j)) {
    case JSON_NULL: v = tfn_null(d->arena); break;
    case JSON_TRUE: v = tfn_bool(d->arena, true); break;
    case JSON_FALSE: v = tfn_bool(d->arena, false); break;
    case JSON_INTEGER: v = tfn_int(d->arena, (int64_t)json_integer_value(j)); break;
    case JSON_REAL: v = tfn_float(d->arena, json_real_value(j)); break;
    case JSON_STRING: v = tfn_stringn(d->arena, json_string_value(j), json_string_length(j)); break;
    case JSON_ARRAY: {
        if (depth >= TFN__MAX_DEPTH)
            return tfn_error_set(d->err, TFN_EBADJSON, "lists and objects nest deeper than %d",
                                 TFN__MAX_DEPTH);
        size_t n = json_array_size(j);
        v = tfn_list(d->arena);
        if (!v || tfn__list_reserve(d->arena, v, n))
            return decode_nomem(d);
        for (size_t i = 0; i < n; i++) {
            int rc = from_json(d, json_array_get(j, i), depth + 1, &v->u.list.items[i]);
            if (rc)
                return rc;
            v->u.list.len = i + 1;
        }
        break;
    }
    case JSON_OBJECT: {
        if (depth >= TFN__MAX_DEPTH)
            return tfn_error_set(d->err, TFN_EBADJSON, "lists and objects nest deeper than %d",
                                 TFN__MAX_DEPTH);
        v = tfn_object(d->arena);
        if (!v || tfn__object_reserve(d->arena, v, json_object_size(j)))
            return decode_nomem(d);
        const char *key;
        size_t key_len;
        json_t *member;
        /* jansson keeps insertion order, has rejected duplicates and NUL bytes in keys. */
        json_object_keylen_foreach(j, key, key_len, member)
        {
            char *copy = tfn_arena_strndup(d->arena, key, key_len);
            if (!copy)
                return decode_nomem(d);
            tfn_value_t *val;
            int rc = from_json(d, member, depth + 1, &val);
            if (rc)
                return rc;
            if (tfn__object_append(d->arena, v, copy, key_len, val))
                return decode_nomem(d);
        }
        break;
    }
    }
    if (!v)
        return decode_nomem(d);
    *out = v;
    return 0;
}

int tfn__json_decode(tfn_arena_t *arena, const char *text, size_t len, tfn_value_t **out,
                     tfn_error_t *err)
{
    return tfn__json_decode_nested(arena, text, len, 0, out, err);
}

int tfn__json_decode_nested(tfn_arena_t *arena, const char *text, size_t len, int depth,
                            tfn_value_t **out, tfn_error_t *err)
{
    /*
     * JSON_DECODE_ANY: any value at the top, not just arrays and objects (the caller decides
     * what it wants). JSON_REJECT_DUPLICATES: an object with two members of one name is an error,
     * not a silent "last one wins". JSON_ALLOW_NUL: "\u0000" inside strings is valid JSON and
     * our strings carry their length; jansson still rejects it in keys (ours are C strings).
     * No JSON_DISABLE_EOF_CHECK: anything but whitespace after the value is an error.
     */
    json_error_t jerr;
    json_t *root = json_loadb(text ? text : "", text ? len : 0,
                              JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        switch (json_error_code(&jerr)) {
        case json_error_out_of_memory: return tfn_error_set(err, TFN_ENOMEM, "out of memory");
        case json_error_numeric_overflow:
            if (strstr(jerr.text, "integer"))
                return tfn_error_set(err, TFN_EBADJSON,
                                     "line %d, column %d: integer out of range: integers must "
                                     "fit in 64 bits, signed (%s)",
                                     jerr.line, jerr.column, jerr.text);
            return tfn_error_set(err, TFN_EBADJSON,
                                 "line %d, column %d: number out of the range of a double (%s)",
                                 jerr.line, jerr.column, jerr.text);
        default:
            return tfn_error_set(err, TFN_EBADJSON, "line %d, column %d: %s", jerr.line,
                                 jerr.column, jerr.text);
        }
    }
    decoder_t d = {.arena = arena, .err = err};
    tfn_value_t *v = NULL;
    int rc = from_json(&d, root, depth, &v);
    json_decref(root);
    if (!rc)
        *out = v;
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Number formatting
 *
 * The shortest text of p significant digits that reads back exactly, for p = 15..17 (doubles)
 * or 6..9 (floats); subnormals, which carry fewer digits, try every p from 1. The text is the one
 * printf("%.*g", p, x) writes, but for the common cases it is computed without printf and
 * strtod, which would cost several hundred nanoseconds per number:
 *
 *  - digits: x * 10^s (|s| <= 22, so 10^s is exact and the product is rounded once) rounded
 *    to an integer D of p digits. Wrong only when x * 10^s lies within about 1e-9 of a
 *    half-integer; then the check below fails or picks an equally short neighbour.
 *  - check: D * 10^-s is computed with one rounding (D < 2^53, 10^|s| exact: Clinger's fast
 *    path), so it is exactly strtod's result. For a float it is then rounded to float; that
 *    double rounding is exact unless the double lands exactly on the midpoint between two
 *    floats, which is detected and sent to the slow path.
 *
 * When the fast path cannot decide (exponent out of range, midpoint), snprintf + strtod/strtof
 * decide. The output is thus always exact; it can differ from printf only in near-tie digits.
 * ------------------------------------------------------------------------------------------- */

static const double pow10_table[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* x * 10^s, rounded once; false if |s| > 22. */
static bool scale10(double x, int s, double *out)
{
    if (s > 22 || s < -22)
        return false;
    *out = s >= 0 ? x * pow10_table[s] : x / pow10_table[-s];
    return true;
}

/*
 * The p (<= 15) significant digits of x (> 0, finite, a normal double) as an integer D in
 * [10^(p-1), 10^p) and the decimal exponent e of the first digit: x ~ D * 10^(e - p + 1).
 * False when the scale is out of the fast range.
 */
static bool fast_digits(double x, int p, uint64_t *digits, int *exp10)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e2 = (int)((bits >> 52) & 0x7FF) - 1023; /* x in [2^e2, 2^(e2+1)) */
    /* floor(e2 * log10(2)), at most one below floor(log10(x)); 78913 / 2^18 ~ log10(2). */
    int e = e2 >= 0 ? (e2 * 78913) >> 18 : -((-e2 * 78913 + (1 << 18) - 1) >> 18);
    double scaled;
    if (!scale10(x, p - 1 - e, &scaled))
        return false;
    for (int i = 0; i < 2 && scaled >= pow10_table[p]; i++) /* the estimate was low */
        if (!scale10(x, p - 1 - ++e, &scaled))
            return false;
    if (scaled < pow10_table[p - 1]) /* only by a rounding of the product; fixed below */
        if (!scale10(x, p - 1 - --e, &scaled))
            return false;
    /* Round half to even: adding and removing 2^52 leaves the integer part (scaled < 2^52). */
    double r = (scaled + 0x1p52) - 0x1p52;
    if (r >= pow10_table[p]) { /* 9.99..95 rounded up to 10^p */
        r = pow10_table[p - 1];
        e++;
    }
    if (r < pow10_table[p - 1] || r >= pow10_table[p])
        return false;
    *digits = (uint64_t)r;
    *exp10 = e;
    return true;
}

/* D * 10^(e - p + 1) with one rounding, or false out of the fast range. */
static bool fast_value(uint64_t digits, int p, int e, double *out)
{
    return scale10((double)digits, e - p + 1, out);
}

/* Does the double `r` (> 0) round to exactly the float `f` the way strtof would round the
 * decimal that `r` was rounded from? Returns -1 when that cannot be decided here (midpoint). */
static int rounds_to_float(double r, float f)
{
    float fr = (float)r;
    if ((double)fr != r) {
        uint32_t b;
        memcpy(&b, &fr, sizeof b);
        b = r > (double)fr ? b + 1 : b - 1;
        float other;
        memcpy(&other, &b, sizeof other);
        if (r == ((double)fr + (double)other) * 0.5)
            return -1;
    }
    return fr == f;
}

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Writes D (p digits) with exponent e as printf's "%.{p}g" would, trailing zeros removed. */
static char *put_g(char *p, uint64_t digits, int prec, int e)
{
    char d[20];
    int n = prec;
    while (n > 1 && digits % 10 == 0) {
        digits /= 10;
        n--;
    }
    for (int i = n - 1; i >= 0; i--) {
        d[i] = (char)('0' + digits % 10);
        digits /= 10;
    }
    if (e < -4 || e >= prec) {
        *p++ = d[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)n - 1);
            p += n - 1;
        }
        *p++ = 'e';
        *p++ = e < 0 ? '-' : '+';
        int ae = e < 0 ? -e : e;
        if (ae < 10)
            *p++ = '0';
        return put_u64(p, (uint64_t)ae);
    }
    if (e < 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = -1; i > e; i--)
            *p++ = '0';
        memcpy(p, d, (size_t)n);
        return p + n;
    }
    for (int i = 0; i <= e; i++)
        *p++ = i < n ? d[i] : '0';
    if (n > e + 1) {
        *p++ = '.';
        memcpy(p, d + e + 1, (size_t)(n - e - 1));
        p += n - e - 1;
    }
    return p;
}

/* Appends ".0" if `s` (len bytes) would read back as an integer. */
static size_t add_point_zero(char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '.' || s[i] == 'e')
            return len;
    s[len] = '.';
    s[len + 1] = '0';
    s[len + 2] = '\0';
    return len + 2;
}

static size_t put_null(char *out)
{
    memcpy(out, "null", 5);
    return 4;
}

size_t tfn__json_format_double(double x, char out[TFN__NUMBER_MAX])
{
    if (x != x || x - x != 0.0) /* NaN, infinities */
        return put_null(out);
    char *p = out;
    if (signbit(x)) {
        *p++ = '-';
        x = -x;
    }
    if (x == 0.0) {
        memcpy(p, "0.0", 4);
        return (size_t)(p - out) + 3;
    }
    /* Subnormals have fewer significant bits: their shortest text may be shorter than 15
     * digits without being a rounding of the 15-digit one (1e-320, 5e-324). */
    int prec = x < 0x1p-1022 ? 1 : 15;
    uint64_t digits;
    int e;
    double back;
    if (prec == 15 && fast_digits(x, 15, &digits, &e) && fast_value(digits, 15, e, &back)) {
        if (back == x) {
            char *end = put_g(p, digits, 15, e);
            *end = '\0';
            return add_point_zero(out, (size_t)(end - out));
        }
        prec = 16; /* no 15-digit decimal reads back as x (see above) */
    }
    for (;; prec++) {
        int n = snprintf(p, TFN__NUMBER_MAX - 3, "%.*g", prec, x);
        if (prec == 17 || strtod(p, NULL) == x)
            return add_point_zero(out, (size_t)(p - out) + (size_t)n);
    }
}

/* One fast attempt at `prec` digits for the float f (> 0) = x: 1 if they read back as f,
 * 0 if not, -1 if the fast path cannot tell. */
static int float_attempt(double x, float f, int prec, uint64_t *digits, int *e)
{
    double back;
    if (!fast_digits(x, prec, digits, e) || !fast_value(*digits, prec, *e, &back))
        return -1;
    return rounds_to_float(back, f);
}

size_t tfn__json_format_float(float f, char out[TFN__NUMBER_MAX])
{
    if (f != f || f - f != 0.0f)
        return put_null(out);
    char *p = out;
    if (signbit(f)) {
        *p++ = '-';
        f = -f;
    }
    if (f == 0.0f) {
        memcpy(p, "0.0", 4);
        return (size_t)(p - out) + 3;
    }
    double x = f;
    int prec = f < 0x1p-126f ? 1 : 6; /* subnormals: as for doubles above */
    if (prec == 6) {
        /* If p digits read back, so do p + 1 (the closer rounding): 6..9 is searched in two or
         * three attempts instead of up to four. Random floats mostly need 8 or 9 digits. */
        uint64_t digits[10];
        int e[10], found = 0;
        int ok7 = float_attempt(x, f, 7, &digits[7], &e[7]);
        if (ok7 > 0) {
            int ok6 = float_attempt(x, f, 6, &digits[6], &e[6]);
            found = ok6 > 0 ? 6 : ok6 == 0 ? 7 : 0;
        } else if (ok7 == 0) {
            int ok8 = float_attempt(x, f, 8, &digits[8], &e[8]);
            if (ok8 > 0)
                found = 8;
            else if (ok8 == 0 && float_attempt(x, f, 9, &digits[9], &e[9]) > 0)
                found = 9;
        }
        if (found) {
            char *end = put_g(p, digits[found], found, e[found]);
            *end = '\0';
            return add_point_zero(out, (size_t)(end - out));
        }
    }
    /* The text must read back as f both through strtof and through strtod and a cast to float,
     * as a JSON decoder that parses numbers into doubles (jansson, hence ours) sees it. The two
     * differ for rare texts whose double lands exactly between two floats: of all floats, only
     * 0x1.5c87fap-84 ("7.038531e-26", and its negative) needs a longer text because of it. By 17
     * digits strtod gives (double)f exactly, so the loop always ends there. */
    for (; prec <= 17; prec++) {
        int n = snprintf(p, TFN__NUMBER_MAX - 3, "%.*g", prec, x);
        if (prec == 17 || (strtof(p, NULL) == f && (float)strtod(p, NULL) == f))
            return add_point_zero(out, (size_t)(p - out) + (size_t)n);
    }
    return put_null(out); /* not reached */
}

/* ---------------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------------- */

/* Appends `n` bytes; the common case (room available) without a function call. */
static inline int put(tfn__buf_t *out, const char *s, size_t n)
{
    if (out->cap - out->len > n) {
        memcpy(out->data + out->len, s, n);
        out->len += n;
        return 0;
    }
    return tfn__buf_append(out, s, n);
}

static const char hex_digits[] = "0123456789abcdef";

int tfn__json_put_string(tfn__buf_t *out, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    int rc = put(out, "\"", 1);
    size_t run = 0; /* start of the bytes not yet written */
    for (size_t i = 0; !rc && i < len;) {
        unsigned c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t seq = c >= 0x80 ? tfn__utf8_seq_len(s + i, len - i) : 0;
        if (seq) {
            i += seq;
            continue;
        }
        rc = put(out, (const char *)s + run, i - run);
        char esc[6] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 15]};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            n = 6;
            if (c >= 0x80) /* a byte that is not part of valid UTF-8: U+FFFD */
                memcpy(esc, "\\ufffd", 6);
        }
        if (!rc)
            rc = put(out, esc, n);
        run = ++i;
    }
    if (!rc)
        rc = put(out, (const char *)s + run, len - run);
    if (!rc)
        rc = put(out, "\"", 1);
    if (!rc)
        out->data[out->len] = '\0'; /* put() leaves room for it */
    return rc;
}

static int put_int(tfn__buf_t *out, int64_t i)
{
    char tmp[24], *p = tmp;
    if (i < 0) {
        *p++ = '-';
        p = put_u64(p, (uint64_t)0 - (uint64_t)i);
    } else {
        p = put_u64(p, (uint64_t)i);
    }
    return put(out, tmp, (size_t)(p - tmp));
}

static int put_bytes(tfn__buf_t *out, const void *data, size_t len)
{
    size_t n = tfn__base64_encoded_len(len);
    if (n < len || n > SIZE_MAX - 3)
        return TFN_ETOOBIG;
    int rc = tfn__buf_grow(out, n + 2);
    if (rc)
        return rc;
    char *p = out->data + out->len;
    *p++ = '"';
    tfn__base64_encode(data, len, p);
    p[n] = '"';
    out->len += n + 2;
    return 0;
}

/* One tensor element at `p` (of the tensor's dtype). */
static int put_element(tfn__buf_t *out, tfn_dtype_t dtype, const unsigned char *p)
{
    char num[TFN__NUMBER_MAX];
    switch (dtype) {
    case TFN_DTYPE_F32: {
        float f;
        memcpy(&f, p, sizeof f);
        return put(out, num, tfn__json_format_float(f, num));
    }
    case TFN_DTYPE_F64: {
        double d;
        memcpy(&d, p, sizeof d);
        return put(out, num, tfn__json_format_double(d, num));
    }
    case TFN_DTYPE_I32: {
        int32_t i;
        memcpy(&i, p, sizeof i);
        return put_int(out, i);
    }
    case TFN_DTYPE_I64: {
        int64_t i;
        memcpy(&i, p, sizeof i);
        return put_int(out, i);
    }
    case TFN_DTYPE_U8: return put_int(out, *p);
    case TFN_DTYPE_BOOL: return *p ? put(out, "true", 4) : put(out, "false", 5);
    }
    return TFN_EINVAL;
}

/* Writes dimension `dim` of a tensor, starting at *p (advanced past what was written). */
static int put_tensor_dim(tfn__buf_t *out, const tfn_value_t *t, int dim, const unsigned char **p)
{
    tfn_dtype_t dtype = t->u.tensor.dtype;
    size_t elem = tfn_dtype_size(dtype);
    int64_t n = t->u.tensor.shape[dim];
    int rc = put(out, "[", 1);
    for (int64_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = put(out, ",", 1);
        if (rc)
            break;
        if (dim + 1 < t->u.tensor.ndim) {
            rc = put_tensor_dim(out, t, dim + 1, p);
        } else {
            rc = put_element(out, dtype, *p);
            *p += elem;
        }
    }
    return rc ? rc : put(out, "]", 1);
}

static int put_tensor(tfn__buf_t *out, const tfn_value_t *t)
{
    size_t count;
    size_t nbytes;
    if (!tfn__shape_size(t->u.tensor.dtype, t->u.tensor.ndim, t->u.tensor.shape, &count, &nbytes) ||
        nbytes != t->u.tensor.nbytes)
        return TFN_EINVAL;
    const unsigned char *p = t->u.tensor.data;
    if (t->u.tensor.ndim == 0)
        return put_element(out, t->u.tensor.dtype, p);
    if (count == 0) {
        /* Shape [2^40, 0] has no data but is 2^40 empty lists in JSON: fail at once, not after
         * writing up to the buffer's maximum (a tiny binary request must not cost that). */
        uint64_t lists = 1;
        for (int d = 0; d < t->u.tensor.ndim && t->u.tensor.shape[d] != 0; d++)
            lists = lists > UINT64_MAX / (uint64_t)t->u.tensor.shape[d]
                        ? UINT64_MAX
                        : lists * (uint64_t)t->u.tensor.shape[d];
        if (lists > (out->max - out->len) / 3) /* "[]," each */
            return TFN_ETOOBIG;
    }
    return put_tensor_dim(out, t, 0, &p); /* shape [2, 0] gives [[],[]], [0, 2] gives [] */
}

static int put_value(tfn__buf_t *out, const tfn_value_t *v, int depth)
{
    switch (tfn_typeof(v)) {
    case TFN_TYPE_ANY:
    case TFN_TYPE_NULL: return put(out, "null", 4);
    case TFN_TYPE_BOOL: return v->u.b ? put(out, "true", 4) : put(out, "false", 5);
    case TFN_TYPE_INT: return put_int(out, v->u.i);
    case TFN_TYPE_FLOAT: {
        char num[TFN__NUMBER_MAX];
        return put(out, num, tfn__json_format_double(v->u.d, num));
    }
    case TFN_TYPE_STRING: return tfn__json_put_string(out, v->u.str.ptr, v->u.str.len);
    case TFN_TYPE_BYTES: return put_bytes(out, v->u.str.ptr, v->u.str.len);
    case TFN_TYPE_LIST: {
        if (depth >= TFN__MAX_DEPTH)
            return TFN_EINVAL;
        int rc = put(out, "[", 1);
        for (size_t i = 0; !rc && i < v->u.list.len; i++) {
            if (i)
                rc = put(out, ",", 1);
            if (!rc)
                rc = put_value(out, v->u.list.items[i], depth + 1);
        }
        return rc ? rc : put(out, "]", 1);
    }
    case TFN_TYPE_OBJECT: {
        if (depth >= TFN__MAX_DEPTH)
            return TFN_EINVAL;
        int rc = put(out, "{", 1);
        for (size_t i = 0; !rc && i < v->u.obj.len; i++) {
            const tfn__member_t *m = &v->u.obj.members[i];
            if (i)
                rc = put(out, ",", 1);
            if (!rc)
                rc = tfn__json_put_string(out, m->key, m->key_len);
            if (!rc)
                rc = put(out, ":", 1);
            if (!rc)
                rc = put_value(out, m->value, depth + 1);
        }
        return rc ? rc : put(out, "}", 1);
    }
    case TFN_TYPE_TENSOR: return put_tensor(out, v);
    }
    return TFN_EINVAL;
}

int tfn__json_encode(const tfn_value_t *v, tfn__buf_t *out)
{
    size_t start = out->len;
    int rc = put_value(out, v, 0);
    if (rc)
        out->len = start;
    if (out->data)
        out->data[out->len] = '\0';
    return rc;
}
