/*
 * validate.c — checking a request against an API's declared inputs (and a handler's output
 * against its declared type), converting where the declaration says so: ints to floats, base64
 * strings to bytes, nested lists of numbers to tensors.
 *
 * Called by dispatch.c between decoding a request and running its handler; the rules are listed
 * above tfn__validate_input in codec_internal.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "core/value_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Describing what was expected and what came
 * ------------------------------------------------------------------------------------------- */

typedef struct text {
    char s[160];
    size_t len;
} text_t;

static void text_add(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(text_t *t, const char *fmt, ...)
{
    if (t->len >= sizeof t->s - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->s + t->len, sizeof t->s - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < sizeof t->s - t->len ? (size_t)n : sizeof t->s - 1 - t->len;
}

static void text_shape(text_t *t, int ndim, const int64_t *shape)
{
    text_add(t, "[");
    for (int i = 0; i < ndim; i++)
        text_add(t, "%s%lld", i ? ", " : "", (long long)shape[i]);
    text_add(t, "]");
}

/* "tensor(float32) of shape [-1, 64]", "float", ... */
static void describe_field(text_t *t, const tfn_field_t *f)
{
    if (f->type != TFN_TYPE_TENSOR) {
        text_add(t, "%s", tfn_type_name(f->type));
        return;
    }
    text_add(t, "tensor(%s)", tfn_dtype_name(f->dtype));
    if (f->ndim > 0 && f->ndim <= TFN_MAX_DIMS) {
        text_add(t, " of shape ");
        text_shape(t, f->ndim, f->shape);
    }
}

/* "string", "tensor(int64) of shape [3]", "list of shape [2, 3]" (shape as far as inferred). */
static void describe_value(text_t *t, const tfn_value_t *v, int ndim, const int64_t *shape)
{
    if (tfn_typeof(v) == TFN_TYPE_TENSOR) {
        text_add(t, "tensor(%s) of shape ", tfn_dtype_name(v->u.tensor.dtype));
        text_shape(t, v->u.tensor.ndim, v->u.tensor.shape);
    } else if (tfn_typeof(v) == TFN_TYPE_LIST && shape) {
        text_add(t, "list of shape ");
        text_shape(t, ndim, shape);
    } else {
        text_add(t, "%s", tfn_type_name(tfn_typeof(v)));
    }
}

/* What an element of a nested list is, for messages: "a string", "a list of 2", "null". */
static const char *kind_article(const tfn_value_t *v)
{
    switch (tfn_typeof(v)) {
    case TFN_TYPE_INT:
    case TFN_TYPE_FLOAT: return "a number";
    case TFN_TYPE_BOOL: return "a bool";
    case TFN_TYPE_STRING: return "a string";
    case TFN_TYPE_BYTES: return "a byte string";
    case TFN_TYPE_LIST: return "a list";
    case TFN_TYPE_OBJECT: return "an object";
    case TFN_TYPE_TENSOR: return "a tensor";
    default: return "null";
    }
}

static int type_error(tfn_error_t *err, const tfn_field_t *f, const tfn_value_t *v, int ndim,
                      const int64_t *shape)
{
    text_t want = {.len = 0}, got = {.len = 0};
    describe_field(&want, f);
    describe_value(&got, v, ndim, shape);
    return tfn_error_set(err, TFN_ETYPE, "field '%.64s': expected %s, got %s", f->name, want.s,
                         got.s);
}

/* ---------------------------------------------------------------------------------------------
 * Nested lists to tensors
 * ------------------------------------------------------------------------------------------- */

typedef struct convert {
    const tfn_field_t *field;
    tfn_error_t *err;
    int ndim;
    int64_t shape[TFN_MAX_DIMS];
    int64_t index[TFN_MAX_DIMS]; /* position being looked at, for messages */
    unsigned char *dst;          /* next element to write */
    size_t elem;                 /* element size */
} convert_t;

/* "[3][2]": the index of the element at depth `depth`. */
static void text_path(text_t *t, const convert_t *c, int depth)
{
    for (int i = 0; i < depth; i++)
        text_add(t, "[%lld]", (long long)c->index[i]);
}

static int element_error(convert_t *c, int depth, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int element_error(convert_t *c, int depth, const char *fmt, ...)
{
    text_t path = {.len = 0};
    text_path(&path, c, depth);
    char what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return tfn_error_set(c->err, TFN_ETYPE, "field '%.64s': element %s %s", c->field->name, path.s,
                         what);
}

/* Pass 1: are the nested lists rectangular with the inferred shape? No allocation, so that a
 * ragged input cannot make us allocate for the shape its first elements suggest. */
static int check_structure(convert_t *c, const tfn_value_t *v, int depth)
{
    if (depth == c->ndim) {
        if (tfn_typeof(v) == TFN_TYPE_LIST)
            return element_error(c, depth, "is a list, expected %s",
                                 c->field->dtype == TFN_DTYPE_BOOL ? "a bool" : "a number");
        return 0;
    }
    if (tfn_typeof(v) != TFN_TYPE_LIST)
        return element_error(c, depth, "is %s, expected a list of %lld (lists must be rectangular)",
                             kind_article(v), (long long)c->shape[depth]);
    if ((int64_t)v->u.list.len != c->shape[depth])
        return element_error(c, depth, "has %zu items, expected %lld (lists must be rectangular)",
                             v->u.list.len, (long long)c->shape[depth]);
    for (size_t i = 0; i < v->u.list.len; i++) {
        c->index[depth] = (int64_t)i;
        int rc = check_structure(c, v->u.list.items[i], depth + 1);
        if (rc)
            return rc;
    }
    return 0;
}

/* Is the double an integer in [lo, hi]? (NaN is not.) */
static bool integral_in(double d, double lo, double hi)
{
    return d >= lo && d <= hi && d == (double)(int64_t)d;
}

/* Converts one element into c->dst. */
static int convert_element(convert_t *c, const tfn_value_t *v, int depth)
{
    tfn_dtype_t dtype = c->field->dtype;
    tfn_type_t type = tfn_typeof(v);
    if (dtype == TFN_DTYPE_BOOL) {
        if (type != TFN_TYPE_BOOL)
            return element_error(c, depth, "is %s, expected a bool", kind_article(v));
        *c->dst = v->u.b;
        return 0;
    }
    if (type != TFN_TYPE_INT && type != TFN_TYPE_FLOAT)
        return element_error(c, depth, "is %s, expected a number", kind_article(v));
    bool is_int = type == TFN_TYPE_INT;
    int64_t i = is_int ? v->u.i : 0;
    double d = is_int ? (double)v->u.i : v->u.d;
    switch (dtype) {
    case TFN_DTYPE_F32: {
        /* Finite doubles beyond FLT_MAX + half an ulp do not fit (and converting them would be
         * undefined behaviour); NaN and infinities are floats like any other. */
        if (d == d && d - d == 0.0 && (d >= 0x1.ffffffp+127 || d <= -0x1.ffffffp+127))
            return element_error(c, depth, "is %g, out of range for float32", d);
        float f = (float)d;
        memcpy(c->dst, &f, 4);
        return 0;
    }
    case TFN_DTYPE_F64: memcpy(c->dst, &d, 8); return 0;
    case TFN_DTYPE_I32:
        if (is_int ? (i < INT32_MIN || i > INT32_MAX) : !integral_in(d, INT32_MIN, INT32_MAX))
            break;
        int32_t i32 = is_int ? (int32_t)i : (int32_t)d;
        memcpy(c->dst, &i32, 4);
        return 0;
    case TFN_DTYPE_I64:
        if (!is_int) {
            if (!integral_in(d, -0x1p63, 0x1.fffffffffffffp62))
                break;
            i = (int64_t)d;
        }
        memcpy(c->dst, &i, 8);
        return 0;
    case TFN_DTYPE_U8:
        if (is_int ? (i < 0 || i > 255) : !integral_in(d, 0, 255))
            break;
        *c->dst = (unsigned char)(is_int ? i : (int64_t)d);
        return 0;
    default: break;
    }
    if (!is_int && d > -0x1p63 && d < 0x1p63 && d != (double)(int64_t)d)
        return element_error(c, depth, "is %.17g, not an integer as %s needs", d,
                             tfn_dtype_name(dtype));
    if (is_int)
        return element_error(c, depth, "is %lld, out of range for %s", (long long)i,
                             tfn_dtype_name(dtype));
    return element_error(c, depth, "is %.17g, out of range for %s", d, tfn_dtype_name(dtype));
}

/* Pass 2: converts the elements, in row-major order. */
static int fill(convert_t *c, const tfn_value_t *v, int depth)
{
    if (depth == c->ndim) {
        int rc = convert_element(c, v, depth);
        c->dst += c->elem;
        return rc;
    }
    for (size_t i = 0; i < v->u.list.len; i++) {
        c->index[depth] = (int64_t)i;
        int rc = fill(c, v->u.list.items[i], depth + 1);
        if (rc)
            return rc;
    }
    return 0;
}

/* Does a shape match the field's declared rank and dimensions? */
static bool shape_matches(const tfn_field_t *f, int ndim, const int64_t *shape)
{
    if (f->ndim <= 0)
        return true;
    if (ndim != f->ndim)
        return false;
    for (int i = 0; i < ndim && i < TFN_MAX_DIMS; i++)
        if (f->shape[i] >= 0 && f->shape[i] != shape[i])
            return false;
    return true;
}

static int to_tensor(tfn_arena_t *arena, const tfn_field_t *f, const tfn_value_t *v,
                     const tfn_value_t **out, tfn_error_t *err)
{
    tfn_type_t type = tfn_typeof(v);
    if (type == TFN_TYPE_TENSOR) {
        if (v->u.tensor.dtype != f->dtype || !shape_matches(f, v->u.tensor.ndim, v->u.tensor.shape))
            return type_error(err, f, v, 0, NULL);
        *out = v;
        return 0;
    }
    bool scalar = f->dtype == TFN_DTYPE_BOOL ? type == TFN_TYPE_BOOL
                                             : type == TFN_TYPE_INT || type == TFN_TYPE_FLOAT;
    if (type != TFN_TYPE_LIST && !scalar) /* a bare number or bool is a 0-d tensor */
        return type_error(err, f, v, 0, NULL);

    convert_t c = {.field = f, .err = err, .elem = tfn_dtype_size(f->dtype)};
    const tfn_value_t *cur = v;
    bool stopped_empty = false;
    while (tfn_typeof(cur) == TFN_TYPE_LIST) { /* the shape, from the first elements */
        if (c.ndim == TFN_MAX_DIMS)
            return tfn_error_set(err, TFN_ETYPE,
                                 "field '%.64s': lists nest deeper than the %d dimensions a "
                                 "tensor can have",
                                 f->name, TFN_MAX_DIMS);
        c.shape[c.ndim++] = (int64_t)cur->u.list.len;
        if (!cur->u.list.len) {
            stopped_empty = true;
            break;
        }
        cur = cur->u.list.items[0];
    }
    /* [] for a field of rank 2 is an empty tensor: the other dimensions are as declared (or 0),
     * which is how the JSON encoder writes a tensor of shape [0, 64]. */
    if (stopped_empty && f->ndim > c.ndim && f->ndim <= TFN_MAX_DIMS)
        for (; c.ndim < f->ndim; c.ndim++)
            c.shape[c.ndim] = f->shape[c.ndim] >= 0 ? f->shape[c.ndim] : 0;
    if (!shape_matches(f, c.ndim, c.shape))
        return type_error(err, f, v, c.ndim, c.shape);
    int rc = check_structure(&c, v, 0); /* [[], [1]] stopped early but is still ragged */
    if (rc)
        return rc;
    tfn_value_t *t = tfn_tensor(arena, f->dtype, c.ndim, c.shape);
    if (!t) {
        size_t count, nbytes;
        if (!tfn__shape_size(f->dtype, c.ndim, c.shape, &count, &nbytes))
            return type_error(err, f, v, c.ndim, c.shape);
        return tfn_error_set(err, TFN_ENOMEM,
                             "field '%.64s': out of memory for %zu bytes of tensor", f->name,
                             nbytes);
    }
    c.dst = t->u.tensor.data;
    if ((rc = fill(&c, v, 0)))
        return rc;
    *out = t;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Fields
 * ------------------------------------------------------------------------------------------- */

/* Checks (and converts) one present field; *out is `v` itself when nothing was converted. */
static int check_field(tfn_arena_t *arena, const tfn_field_t *f, const tfn_value_t *v,
                       const tfn_value_t **out, tfn_error_t *err)
{
    tfn_type_t type = tfn_typeof(v);
    *out = v;
    switch (f->type) {
    case TFN_TYPE_ANY: return 0;
    case TFN_TYPE_FLOAT:
        if (type == TFN_TYPE_INT) {
            *out = tfn_float(arena, (double)v->u.i);
            return *out ? 0 : tfn_error_set(err, TFN_ENOMEM, "out of memory");
        }
        break;
    case TFN_TYPE_BYTES:
        if (type == TFN_TYPE_STRING) {
            tfn_value_t *b = tfn__value_new(arena, TFN_TYPE_BYTES);
            char *data = b ? tfn_arena_alloc(arena, tfn__base64_decoded_max(v->u.str.len)) : NULL;
            if (!data)
                return tfn_error_set(err, TFN_ENOMEM, "out of memory");
            if (!tfn__base64_decode(v->u.str.ptr, v->u.str.len, data, &b->u.str.len))
                return tfn_error_set(err, TFN_ETYPE,
                                     "field '%.64s': expected bytes, got a string that is not "
                                     "valid base64",
                                     f->name);
            b->u.str.ptr = data;
            *out = b;
            return 0;
        }
        break;
    case TFN_TYPE_TENSOR: return to_tensor(arena, f, v, out, err);
    default: break;
    }
    return type == f->type ? 0 : type_error(err, f, v, 0, NULL);
}

static const tfn_field_t *find_field(const tfn_field_t *fields, const char *key, size_t len)
{
    for (const tfn_field_t *f = fields; f && f->name; f++)
        if (strlen(f->name) == len && memcmp(f->name, key, len) == 0)
            return f;
    return NULL;
}

int tfn__validate_input(tfn_arena_t *arena, const tfn_field_t *fields, const tfn_value_t *input,
                        const tfn_value_t **out, tfn_error_t *err)
{
    if (tfn_typeof(input) != TFN_TYPE_OBJECT)
        return tfn_error_set(err, TFN_ETYPE, "the input must be an object of named fields, got %s",
                             tfn_type_name(tfn_typeof(input)));
    size_t n = input->u.obj.len;
    const tfn__member_t *members = input->u.obj.members;

    /* 1. Unknown members first: a misspelt name is better reported as such than as missing. */
    for (size_t i = 0; i < n; i++) {
        if (find_field(fields, members[i].key, members[i].key_len))
            continue;
        text_t known = {.len = 0};
        for (const tfn_field_t *f = fields; f && f->name; f++)
            text_add(&known, "%s'%s'", f == fields ? "" : ", ", f->name);
        return tfn_error_set(err, TFN_EINVAL, "unknown field '%.*s' (%s%s)",
                             tfn__utf8_prefix(members[i].key, members[i].key_len, 64),
                             members[i].key, known.len ? "fields: " : "this API takes no inputs",
                             known.len ? known.s : "");
    }
    /* 2. Missing ones. */
    for (const tfn_field_t *f = fields; f && f->name; f++) {
        if (f->optional || tfn__object_find(input, f->name, strlen(f->name)) != SIZE_MAX)
            continue;
        text_t want = {.len = 0};
        describe_field(&want, f);
        return tfn_error_set(err, TFN_EMISSING, "missing field '%.64s' (%s)", f->name, want.s);
    }
    /* 3. Types, in the input's order; a new object only if something was converted. */
    tfn_value_t *copy = NULL;
    for (size_t i = 0; i < n; i++) {
        const tfn_field_t *f = find_field(fields, members[i].key, members[i].key_len);
        const tfn_value_t *v;
        int rc = check_field(arena, f, members[i].value, &v, err);
        if (rc)
            return rc;
        if (v != members[i].value && !copy) {
            copy = tfn_object(arena);
            if (!copy || tfn__object_reserve(arena, copy, n))
                return tfn_error_set(err, TFN_ENOMEM, "out of memory");
            for (size_t j = 0; j < i; j++)
                tfn__object_append(arena, copy, members[j].key, members[j].key_len,
                                   members[j].value);
        }
        /* cannot fail: the room was reserved */
        if (copy)
            tfn__object_append(arena, copy, members[i].key, members[i].key_len, (tfn_value_t *)v);
    }
    *out = copy ? copy : input;
    return 0;
}

int tfn__validate_output(tfn_type_t declared, const tfn_value_t *output, tfn_error_t *err)
{
    tfn_type_t type = tfn_typeof(output);
    if (declared == TFN_TYPE_ANY || type == declared ||
        (declared == TFN_TYPE_FLOAT && type == TFN_TYPE_INT))
        return 0;
    return tfn_error_set(err, TFN_EOUTPUT, "the handler returned %s, but its API declares %s",
                         tfn_type_name(type), tfn_type_name(declared));
}
