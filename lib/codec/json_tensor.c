/*
 * json_tensor.c — the lean JSON edge: tensors in a request body decoded straight into their
 * typed buffer.
 *
 * jansson builds a node per number (tens of bytes each, plus malloc overhead), and the value tree
 * made from it another; a 2.6 MB nested list of floats thus cost about 10 MB at its peak before
 * validate.c packed it into 1 MiB of float32. Here the top-level object of a request body is
 * scanned by hand; a member declared a tensor of a numeric dtype whose value is a rectangular
 * nested list of numbers is read in two passes over its text — the shape and the grammar of every
 * number first, with no allocation; then the numbers, converted into the tensor's buffer in
 * place — and every other member is handed to jansson as before (its own substring).
 *
 * Correctness is by deferral: whenever this scanner is not sure (an escape in a key, a duplicate
 * key, a number the dtype may not take, an empty or ragged list, anything that is not a number,
 * malformed text), the whole body is decoded by tfn__json_decode instead, so every error and
 * every edge case is exactly the generic path's. The fast path only ever produces what the
 * generic path followed by validate.c would have: the same numbers (strtod's correctly rounded
 * double, then a float cast for float32), the same shape.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "core/value_internal.h"

/* Not decodable here: fall back to the generic decoder. */
#define NOT_FAST 1

typedef struct scan {
    const char *p, *end;
} scan_t;

static void skip_ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* ---------------------------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------------------------- */

typedef struct number {
    const char *start;
    size_t len;
    bool integral; /* no fraction, no exponent */
} number_t;

/* Checks the JSON grammar of a number at s->p and steps over it. */
static bool scan_number(scan_t *s, number_t *n)
{
    const char *p = s->p, *e = s->end;
    n->start = p;
    if (p < e && *p == '-')
        p++;
    if (p >= e || !is_digit(*p))
        return false;
    if (*p == '0')
        p++;
    else
        while (p < e && is_digit(*p))
            p++;
    n->integral = true;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || !is_digit(*p))
            return false;
        while (p < e && is_digit(*p))
            p++;
        n->integral = false;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || !is_digit(*p))
            return false;
        while (p < e && is_digit(*p))
            p++;
        n->integral = false;
    }
    n->len = (size_t)(p - n->start);
    s->p = p;
    return true;
}

static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The double nearest to the number's decimal value, as strtod gives it. Clinger's fast path (a
 * mantissa below 2^53 and a power of ten of at most 22: one correctly rounded operation) covers
 * the usual tensor text; anything else goes to strtod on a bounded copy. false: out of range
 * (jansson refuses those: the generic path reports it). */
static bool number_value(const number_t *n, double *out)
{
    const char *p = n->start, *e = n->start + n->len;
    bool neg = *p == '-';
    p += neg;
    uint64_t mant = 0;
    int digits = 0, exp10 = 0;
    for (; p < e && is_digit(*p); p++) {
        if (digits >= 19) {
            digits = 99; /* too many significant digits for the fast path */
            break;
        }
        mant = mant * 10 + (uint64_t)(*p - '0');
        digits += mant != 0;
    }
    if (digits <= 19 && p < e && *p == '.') {
        for (p++; p < e && is_digit(*p); p++) {
            if (digits >= 19) {
                digits = 99;
                break;
            }
            mant = mant * 10 + (uint64_t)(*p - '0');
            digits += mant != 0;
            exp10--;
        }
    }
    while (digits <= 19 && p < e && (is_digit(*p) || *p == '.'))
        p++;
    if (p < e) { /* exponent */
        p++;
        bool eneg = *p == '-';
        p += *p == '-' || *p == '+';
        int x = 0;
        for (; p < e; p++)
            x = x < 100000 ? x * 10 + (*p - '0') : x;
        exp10 += eneg ? -x : x;
    }
    if (digits <= 19 && mant < ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)mant;
        d = exp10 < 0 ? d / exact_pow10[-exp10] : d * exact_pow10[exp10];
        *out = neg ? -d : d;
        return true;
    }
    char buf[512];
    if (n->len >= sizeof buf)
        return false; /* absurdly long: let jansson judge */
    memcpy(buf, n->start, n->len);
    buf[n->len] = '\0';
    double d = strtod(buf, NULL);
    if (isinf(d))
        return false;
    *out = d;
    return true;
}

/* The number converted to `dtype` at dst, exactly as validate.c converts what jansson gives; false
 * when the generic path must decide (it may be an error, or a form such as 2.0 for an int). */
static bool convert(const number_t *n, tfn_dtype_t dtype, unsigned char *dst)
{
    if (dtype == TFN_DTYPE_F32 || dtype == TFN_DTYPE_F64) {
        double d;
        if (n->integral) { /* jansson reads it as an int64, validate converts it to double */
            if (n->len > 18)
                return false;
            d = (double)strtoll(n->start, NULL, 10);
        } else if (!number_value(n, &d)) {
            return false;
        }
        if (dtype == TFN_DTYPE_F64) {
            memcpy(dst, &d, 8);
            return true;
        }
        if (d >= 0x1.ffffffp+127 || d <= -0x1.ffffffp+127)
            return false;
        float f = (float)d;
        memcpy(dst, &f, 4);
        return true;
    }
    if (!n->integral || n->len > 18)
        return false;
    long long i = strtoll(n->start, NULL, 10);
    switch (dtype) {
    case TFN_DTYPE_I32:
        if (i < INT32_MIN || i > INT32_MAX)
            return false;
        int32_t i32 = (int32_t)i;
        memcpy(dst, &i32, 4);
        return true;
    case TFN_DTYPE_I64: {
        int64_t i64 = i;
        memcpy(dst, &i64, 8);
        return true;
    }
    case TFN_DTYPE_U8:
        if (i < 0 || i > 255)
            return false;
        *dst = (unsigned char)i;
        return true;
    default: return false;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Nested lists of numbers
 * ------------------------------------------------------------------------------------------- */

typedef struct shape {
    int ndim;
    int64_t dims[TFN_MAX_DIMS];
    size_t count;
} shape_t;

/* Pass 1 over the list at s->p, at `depth`: every list at one depth has the same length (the
 * first one's), items at the last depth are numbers. */
static bool scan_list(scan_t *s, shape_t *sh, int depth)
{
    s->p++; /* '[' */
    int64_t items = 0;
    skip_ws(s);
    while (s->p < s->end && *s->p != ']') {
        if (items > 0) {
            if (*s->p != ',')
                return false;
            s->p++;
            skip_ws(s);
        }
        if (s->p >= s->end)
            return false;
        if (depth + 1 < sh->ndim) {
            if (*s->p != '[' || !scan_list(s, sh, depth + 1))
                return false;
        } else {
            number_t n;
            if (!scan_number(s, &n))
                return false;
            sh->count++;
        }
        items++;
        skip_ws(s);
    }
    if (s->p >= s->end || items == 0) /* unterminated; or empty: the generic rules apply */
        return false;
    s->p++; /* ']' */
    if (sh->dims[depth] < 0)
        sh->dims[depth] = items;
    return sh->dims[depth] == items;
}

/* Reads the nested list at s->p into a tensor of field->dtype; NOT_FAST leaves s->p anywhere. */
static int read_tensor(scan_t *s, tfn_arena_t *arena, const tfn_field_t *f, tfn_value_t **out)
{
    shape_t sh = {.ndim = 0};
    for (const char *p = s->p;
         p < s->end && (*p == '[' || *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'); p++)
        if (*p == '[' && ++sh.ndim > TFN_MAX_DIMS)
            return NOT_FAST;
    for (int i = 0; i < sh.ndim; i++)
        sh.dims[i] = -1;
    const char *start = s->p;
    if (!scan_list(s, &sh, 0))
        return NOT_FAST;
    const char *stop = s->p;
    if (f->ndim > 0) { /* a shape the declaration refuses: the generic path words the error */
        if (sh.ndim != f->ndim)
            return NOT_FAST;
        for (int i = 0; i < sh.ndim; i++)
            if (f->shape[i] >= 0 && f->shape[i] != sh.dims[i])
                return NOT_FAST;
    }
    tfn_value_t *t = tfn_tensor(arena, f->dtype, sh.ndim, sh.dims);
    if (!t)
        return NOT_FAST; /* out of memory, or an absurd shape: the generic path says which */
    unsigned char *dst = t->u.tensor.data;
    size_t elem = tfn_dtype_size(f->dtype), done = 0;
    scan_t again = {start, stop};
    while (again.p < again.end && done < sh.count) { /* pass 2: the numbers, in order */
        char c = *again.p;
        if (c != '-' && !is_digit(c)) {
            again.p++;
            continue;
        }
        number_t n;
        if (!scan_number(&again, &n) || !convert(&n, f->dtype, dst + done * elem))
            return NOT_FAST;
        done++;
    }
    if (done != sh.count)
        return NOT_FAST;
    *out = t;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Any other value: its extent, for jansson
 * ------------------------------------------------------------------------------------------- */

/* Steps over one JSON value without judging it (jansson will), respecting strings. */
static bool skip_value(scan_t *s)
{
    int depth = 0;
    bool in_string = false;
    for (; s->p < s->end; s->p++) {
        char c = *s->p;
        if (in_string) {
            if (c == '\\')
                s->p++;
            else if (c == '"')
                in_string = false;
            else
                continue;
            if (depth == 0 && !in_string) {
                s->p++;
                return true;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (depth == 0)
                return true; /* the end of the enclosing object */
            if (--depth == 0) {
                s->p++;
                return true;
            }
        } else if (depth == 0 && c == ',') {
            return true;
        }
    }
    return depth == 0 && !in_string;
}

/* ---------------------------------------------------------------------------------------------
 * The top-level object
 * ------------------------------------------------------------------------------------------- */

static const tfn_field_t *fast_field(const tfn_field_t *fields, const char *key, size_t len)
{
    for (const tfn_field_t *f = fields; f && f->name; f++)
        if (f->type == TFN_TYPE_TENSOR && f->dtype != TFN_DTYPE_BOOL && strlen(f->name) == len &&
            memcmp(f->name, key, len) == 0)
            return f;
    return NULL;
}

static bool has_fast_field(const tfn_field_t *fields)
{
    for (const tfn_field_t *f = fields; f && f->name; f++)
        if (f->type == TFN_TYPE_TENSOR && f->dtype != TFN_DTYPE_BOOL)
            return true;
    return false;
}

/* The object, or NOT_FAST; TFN_ENOMEM is not reported here (the generic path reports it). */
static int decode_object(scan_t *s, tfn_arena_t *arena, const tfn_field_t *fields,
                         tfn_value_t **out, tfn_error_t *err)
{
    skip_ws(s);
    if (s->p >= s->end || *s->p != '{')
        return NOT_FAST;
    s->p++;
    tfn_value_t *obj = tfn_object(arena);
    if (!obj)
        return NOT_FAST;
    skip_ws(s);
    bool first = true;
    while (s->p < s->end && *s->p != '}') {
        if (!first) {
            if (*s->p != ',')
                return NOT_FAST;
            s->p++;
            skip_ws(s);
        }
        first = false;
        /* A plain key: printable ASCII, no escapes (anything else: the generic path). */
        if (s->p >= s->end || *s->p != '"')
            return NOT_FAST;
        const char *key = ++s->p;
        while (s->p < s->end && *s->p != '"') {
            unsigned char c = (unsigned char)*s->p;
            if (c < 0x20 || c >= 0x7f || c == '\\')
                return NOT_FAST;
            s->p++;
        }
        if (s->p >= s->end)
            return NOT_FAST;
        size_t key_len = (size_t)(s->p - key);
        s->p++;
        if (tfn__object_find(obj, key, key_len) != SIZE_MAX)
            return NOT_FAST; /* a duplicate: the generic path refuses it */
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return NOT_FAST;
        s->p++;
        skip_ws(s);
        tfn_value_t *val = NULL;
        const tfn_field_t *f = fast_field(fields, key, key_len);
        const char *start = s->p;
        if (!(f && s->p < s->end && *s->p == '[' && read_tensor(s, arena, f, &val) == 0)) {
            s->p = start; /* read_tensor may have stopped anywhere */
            if (!skip_value(s) || s->p == start)
                return NOT_FAST;
            if (tfn__json_decode_nested(arena, start, (size_t)(s->p - start), 1, &val, err) != 0)
                return NOT_FAST;
        }
        char *copy = tfn_arena_strndup(arena, key, key_len);
        if (!copy || tfn__object_append(arena, obj, copy, key_len, val) != 0)
            return NOT_FAST;
        skip_ws(s);
    }
    if (s->p >= s->end)
        return NOT_FAST;
    s->p++; /* '}' */
    skip_ws(s);
    if (s->p != s->end)
        return NOT_FAST;
    *out = obj;
    return 0;
}

int tfn__json_decode_fields(tfn_arena_t *arena, const char *text, size_t len,
                            const tfn_field_t *fields, tfn_value_t **out, tfn_error_t *err)
{
    if (text && has_fast_field(fields)) {
        scan_t s = {text, text + len};
        tfn_value_t *v = NULL;
        if (decode_object(&s, arena, fields, &v, err) == 0) {
            *out = v;
            return 0;
        }
    }
    return tfn__json_decode(arena, text, len, out, err);
}
