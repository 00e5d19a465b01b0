/*
 * wire.c — the tiffin binary encoding (application/vnd.tiffin), specified in docs/wire-format.md.
 *
 * The decoder treats its input as hostile: every read is bounds-checked against the bytes left,
 * every count is checked against what those bytes could possibly hold before anything is
 * allocated, and nesting is limited to TFN__MAX_DEPTH. Tensors and byte strings point into the
 * input (zero-copy); strings and keys are copied into the arena.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "core/value_internal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
/* The format is little-endian and tensors are used in place; a big-endian port would have to
 * byte-swap scalars and copy-and-swap tensor data in both directions. */
#error "tiffin's binary encoding is implemented for little-endian hosts only"
#endif

#define MAGIC       "\x89TFN"
#define VERSION     1
#define HEADER_SIZE 8
#define DATA_ALIGN  8

enum {
    TAG_NULL = 0,
    TAG_FALSE = 1,
    TAG_TRUE = 2,
    TAG_INT = 3,
    TAG_FLOAT = 4,
    TAG_STRING = 5,
    TAG_BYTES = 6,
    TAG_LIST = 7,
    TAG_OBJECT = 8,
    TAG_TENSOR = 9,
    TAG_TENSOR_REF = 10, /* a tensor whose data lies in shared memory (shm.c) */
};

/* Which region a reference points into, as the sender names it. */
enum { REF_SENDERS = 0, REF_RECEIVERS = 1 };
/* Tensor data written into a region starts at a multiple of this. */
#define SHM_ALIGN 64

/* Smallest encoding of an object member: a u32 key length, an empty key, a one-byte value. */
#define MIN_MEMBER_SIZE 5

/* ---------------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------------- */

typedef struct encoder {
    tfn__buf_t *out;
    size_t base; /* out->len where the encoding starts: alignment is relative to it */
    const tfn__shm_pair_t *shm; /* large tensors go by reference (NULL: all inline) */
    size_t shm_used;            /* bytes of shm->own filled */
} encoder_t;

/* Whether tensor `t` travels by reference. */
static bool by_reference(const encoder_t *e, const tfn_value_t *t)
{
    /* Not one that lies in our own region already (an earlier message's, handed back): copying
     * it to the region's start could overwrite it as it goes. */
    return e->shm && t->u.tensor.dtype != TFN_DTYPE_BOOL &&
           t->u.tensor.nbytes >= TFN__SHM_MIN_TENSOR_BYTES &&
           !tfn__shm_contains(e->shm->own, t->u.tensor.data, t->u.tensor.nbytes);
}

/* Whether tensor `t` already lies in the receiver's region, where a reference can point. */
static bool in_peer(const tfn__shm_pair_t *shm, const tfn_value_t *t)
{
    return (uintptr_t)t->u.tensor.data % DATA_ALIGN == 0 &&
           tfn__shm_contains(shm->peer, t->u.tensor.data, t->u.tensor.nbytes);
}

/* The tensor reference: after the shape, the region (u8) and the offset (u64). */
static int put_tensor_ref(encoder_t *e, const tfn_value_t *t, unsigned char *head, size_t n)
{
    size_t nbytes = t->u.tensor.nbytes;
    uint64_t offset;
    head[0] = TAG_TENSOR_REF;
    if (in_peer(e->shm, t)) { /* it came from the receiver: point back at it, no copy */
        head[n++] = REF_RECEIVERS;
        offset = (uint64_t)((const unsigned char *)t->u.tensor.data - e->shm->peer->map);
    } else {
        tfn__shm_region_t *own = e->shm->own;
        if (!own || nbytes > own->len - e->shm_used)
            return TFN_EINVAL; /* smaller than tfn__wire_shm_need said: the value changed */
        head[n++] = REF_SENDERS;
        offset = e->shm_used;
        memcpy(own->map + offset, t->u.tensor.data, nbytes);
        e->shm_used += (nbytes + SHM_ALIGN - 1) / SHM_ALIGN * SHM_ALIGN;
    }
    memcpy(head + n, &offset, 8);
    return tfn__buf_append(e->out, head, n + 8);
}

static int put_u8(encoder_t *e, unsigned v)
{
    unsigned char b = (unsigned char)v;
    return tfn__buf_append(e->out, &b, 1);
}

static int put_u32(encoder_t *e, size_t v)
{
    if (v > UINT32_MAX)
        return TFN_ETOOBIG;
    uint32_t u = (uint32_t)v;
    return tfn__buf_append(e->out, &u, 4);
}

static int put_tag_u32(encoder_t *e, unsigned tag, size_t v)
{
    int rc = put_u8(e, tag);
    return rc ? rc : put_u32(e, v);
}

/* A string or key: u32 length and UTF-8 bytes; invalid UTF-8 bytes become U+FFFD, exactly as
 * the JSON encoder does, so that the decoder (which insists on UTF-8) accepts the result. */
static int put_text(encoder_t *e, const char *str, size_t len)
{
    if (tfn__utf8_valid(str, len)) {
        int rc = put_u32(e, len);
        return rc ? rc : tfn__buf_append(e->out, str, len);
    }
    const unsigned char *s = (const unsigned char *)str;
    size_t fixed_len = 0;
    for (size_t i = 0; i < len;) {
        size_t n = tfn__utf8_seq_len(s + i, len - i);
        fixed_len += n ? n : 3;
        i += n ? n : 1;
    }
    int rc = put_u32(e, fixed_len);
    for (size_t i = 0; !rc && i < len;) {
        size_t n = tfn__utf8_seq_len(s + i, len - i);
        rc = n ? tfn__buf_append(e->out, s + i, n) : tfn__buf_append(e->out, "\xEF\xBF\xBD", 3);
        i += n ? n : 1;
    }
    return rc;
}

static int put_tensor(encoder_t *e, const tfn_value_t *t)
{
    size_t count, nbytes;
    int ndim = t->u.tensor.ndim;
    tfn_dtype_t dtype = t->u.tensor.dtype;
    if (!tfn__shape_size(dtype, ndim, t->u.tensor.shape, &count, &nbytes) ||
        nbytes != t->u.tensor.nbytes)
        return TFN_EINVAL;
    unsigned char head[3 + 8 * TFN_MAX_DIMS + 16] = {TAG_TENSOR, (unsigned char)dtype,
                                                     (unsigned char)ndim};
    size_t n = 3;
    for (int i = 0; i < ndim; i++, n += 8)
        memcpy(head + n, &t->u.tensor.shape[i], 8);
    if (by_reference(e, t))
        return put_tensor_ref(e, t, head, n);
    while ((e->out->len - e->base + n) % DATA_ALIGN) /* zero padding, already in head */
        n++;
    int rc = tfn__buf_append(e->out, head, n);
    if (rc || !nbytes)
        return rc;
    if (dtype != TFN_DTYPE_BOOL)
        return tfn__buf_append(e->out, t->u.tensor.data, nbytes);
    /* bool elements travel as exactly 0 or 1, whatever non-zero byte a handler stored */
    rc = tfn__buf_grow(e->out, nbytes);
    if (rc)
        return rc;
    const unsigned char *src = t->u.tensor.data;
    unsigned char *dst = (unsigned char *)e->out->data + e->out->len;
    for (size_t i = 0; i < nbytes; i++)
        dst[i] = src[i] != 0;
    e->out->len += nbytes;
    e->out->data[e->out->len] = '\0';
    return 0;
}

static int put_value(encoder_t *e, const tfn_value_t *v, int depth)
{
    switch (tfn_typeof(v)) {
    case TFN_TYPE_ANY:
    case TFN_TYPE_NULL: return put_u8(e, TAG_NULL);
    case TFN_TYPE_BOOL: return put_u8(e, v->u.b ? TAG_TRUE : TAG_FALSE);
    case TFN_TYPE_INT:
    case TFN_TYPE_FLOAT: {
        unsigned char b[9] = {v->type == TFN_TYPE_INT ? TAG_INT : TAG_FLOAT};
        memcpy(b + 1, &v->u, 8); /* int64_t or double, little-endian */
        return tfn__buf_append(e->out, b, 9);
    }
    case TFN_TYPE_STRING: {
        int rc = put_u8(e, TAG_STRING);
        return rc ? rc : put_text(e, v->u.str.ptr, v->u.str.len);
    }
    case TFN_TYPE_BYTES: {
        int rc = put_tag_u32(e, TAG_BYTES, v->u.str.len);
        return rc ? rc : tfn__buf_append(e->out, v->u.str.ptr, v->u.str.len);
    }
    case TFN_TYPE_LIST: {
        if (depth >= TFN__MAX_DEPTH)
            return TFN_EINVAL;
        int rc = put_tag_u32(e, TAG_LIST, v->u.list.len);
        for (size_t i = 0; !rc && i < v->u.list.len; i++)
            rc = put_value(e, v->u.list.items[i], depth + 1);
        return rc;
    }
    case TFN_TYPE_OBJECT: {
        if (depth >= TFN__MAX_DEPTH)
            return TFN_EINVAL;
        int rc = put_tag_u32(e, TAG_OBJECT, v->u.obj.len);
        for (size_t i = 0; !rc && i < v->u.obj.len; i++) {
            const tfn__member_t *m = &v->u.obj.members[i];
            rc = put_text(e, m->key, m->key_len);
            if (!rc)
                rc = put_value(e, m->value, depth + 1);
        }
        return rc;
    }
    case TFN_TYPE_TENSOR: return put_tensor(e, v);
    }
    return TFN_EINVAL;
}

static int encode(const tfn_value_t *v, tfn__buf_t *out, const tfn__shm_pair_t *shm)
{
    encoder_t e = {.out = out, .base = out->len, .shm = shm};
    static const unsigned char header[HEADER_SIZE] = {0x89, 'T', 'F', 'N', VERSION, 0, 0, 0};
    int rc = tfn__buf_append(out, header, HEADER_SIZE);
    if (!rc)
        rc = put_value(&e, v, 0);
    if (rc) {
        out->len = e.base;
        if (out->data)
            out->data[out->len] = '\0';
    }
    return rc;
}

int tfn__wire_encode(const tfn_value_t *v, tfn__buf_t *out) { return encode(v, out, NULL); }

int tfn__wire_encode_shm(const tfn_value_t *v, tfn__buf_t *out, const tfn__shm_pair_t *regions)
{
    return encode(v, out, regions);
}

static size_t shm_need(const encoder_t *e, const tfn_value_t *v, int depth)
{
    size_t sum = 0, n;
    switch (tfn_typeof(v)) {
    case TFN_TYPE_TENSOR:
        if (!by_reference(e, v) || in_peer(e->shm, v))
            return 0;
        return (v->u.tensor.nbytes + SHM_ALIGN - 1) / SHM_ALIGN * SHM_ALIGN;
    case TFN_TYPE_LIST:
    case TFN_TYPE_OBJECT:
        if (depth >= TFN__MAX_DEPTH)
            return SIZE_MAX;
        n = v->type == TFN_TYPE_LIST ? v->u.list.len : v->u.obj.len;
        for (size_t i = 0; i < n; i++) {
            size_t k = shm_need(
                e, v->type == TFN_TYPE_LIST ? v->u.list.items[i] : v->u.obj.members[i].value,
                depth + 1);
            if (k > TFN__SHM_MAX_BYTES - sum)
                return SIZE_MAX;
            sum += k;
        }
        return sum;
    default: return 0;
    }
}

size_t tfn__wire_shm_need(const tfn_value_t *v, const tfn__shm_pair_t *regions)
{
    encoder_t e = {.shm = regions};
    return shm_need(&e, v, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------------- */

typedef struct decoder {
    const unsigned char *data;
    size_t len, pos;
    bool aligned;               /* data is 8-byte aligned, so tensors can be used in place */
    const tfn__shm_pair_t *shm; /* where references point (NULL: none may come) */
    bool copy;                  /* referenced bytes are copied into the arena */
    tfn__shm_use_t use;
    tfn_arena_t *arena;
    tfn_error_t *err;
} decoder_t;

static int bad(decoder_t *d, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(decoder_t *d, size_t at, const char *fmt, ...)
{
    char what[TFN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return tfn_error_set(d->err, TFN_EBADWIRE, "offset %zu: %s", at, what);
}

static int nomem(decoder_t *d)
{
    return tfn_error_set(d->err, TFN_ENOMEM,
                         "out of memory: the decoded request needs more than %zu bytes",
                         tfn__arena_max(d->arena));
}

static size_t left(const decoder_t *d) { return d->len - d->pos; }

/* Checks that `n` more bytes are there; `what` names them in the error. */
static int need(decoder_t *d, size_t n, const char *what)
{
    if (n > left(d))
        return bad(d, d->pos, "truncated: %s needs %zu bytes, %zu left", what, n, left(d));
    return 0;
}

static int get_u32(decoder_t *d, const char *what, size_t *out)
{
    int rc = need(d, 4, what);
    if (rc)
        return rc;
    uint32_t u;
    memcpy(&u, d->data + d->pos, 4);
    d->pos += 4;
    *out = u;
    return 0;
}

/* A string or key: u32 length, then that many bytes of UTF-8, copied into the arena. */
static int get_text(decoder_t *d, const char *what, char **out, size_t *out_len)
{
    size_t start = d->pos, len;
    int rc = get_u32(d, what, &len);
    if (!rc)
        rc = need(d, len, what);
    if (rc)
        return rc;
    const char *s = (const char *)d->data + d->pos;
    if (!tfn__utf8_valid(s, len))
        return bad(d, start, "%s is not valid UTF-8", what);
    *out = tfn_arena_strndup(d->arena, s, len);
    if (!*out)
        return nomem(d);
    d->pos += len;
    *out_len = len;
    return 0;
}

/* The rest of a tensor reference: the region (u8) and the offset (u64), checked against it. */
static int get_tensor_ref(decoder_t *d, tfn_dtype_t dtype, int ndim, const int64_t *shape,
                          size_t nbytes, tfn_value_t **out)
{
    size_t at = d->pos;
    int rc = need(d, 9, "a tensor reference");
    if (rc)
        return rc;
    unsigned which = d->data[d->pos];
    uint64_t offset;
    memcpy(&offset, d->data + d->pos + 1, 8);
    if (which != REF_SENDERS && which != REF_RECEIVERS)
        return bad(d, at, "tensor reference to region %u (0 or 1)", which);
    if (dtype == TFN_DTYPE_BOOL)
        return bad(d, at, "bool tensors travel inline, not by reference");
    /* The sender's region is the one this side mapped from it (peer), and the reverse. */
    const tfn__shm_region_t *r = !d->shm                  ? NULL
                                 : which == REF_RECEIVERS ? d->shm->own
                                                          : d->shm->peer;
    if (!r)
        return bad(d, at, "tensor reference into %s region, and there is none",
                   which == REF_SENDERS ? "the sender's" : "the receiver's");
    if (offset % DATA_ALIGN)
        return bad(d, at, "tensor reference offset %llu is not a multiple of %d",
                   (unsigned long long)offset, DATA_ALIGN);
    if (offset > r->len || nbytes > r->len - offset)
        return bad(d, at,
                   "tensor reference of %zu bytes at offset %llu lies outside the %zu-byte region",
                   nbytes, (unsigned long long)offset, r->len);
    void *data = r->map + offset;
    if (d->copy && nbytes) {
        void *copy = tfn_arena_alloc(d->arena, nbytes);
        if (!copy)
            return nomem(d);
        data = memcpy(copy, data, nbytes);
    }
    *out = tfn_tensor_wrap(d->arena, dtype, ndim, shape, nbytes ? data : NULL);
    if (!*out)
        return nomem(d);
    if (d->use.bytes > SIZE_MAX - nbytes)
        return bad(d, at, "references add up to more than %zu bytes", SIZE_MAX);
    d->use.bytes += nbytes;
    d->use.own |= which == REF_RECEIVERS && !d->copy;
    d->use.peer |= which == REF_SENDERS && !d->copy;
    d->pos += 9;
    return 0;
}

static int get_tensor(decoder_t *d, tfn_value_t **out, bool ref)
{
    int rc = need(d, 2, "a tensor header");
    if (rc)
        return rc;
    unsigned dtype = d->data[d->pos], ndim = d->data[d->pos + 1];
    if (!tfn_dtype_size((tfn_dtype_t)dtype))
        return bad(d, d->pos, "unknown dtype %u", dtype);
    if (ndim > TFN_MAX_DIMS)
        return bad(d, d->pos + 1, "tensor of %u dimensions (at most %d)", ndim, TFN_MAX_DIMS);
    d->pos += 2;
    if ((rc = need(d, 8 * (size_t)ndim, "a tensor shape")))
        return rc;
    int64_t shape[TFN_MAX_DIMS];
    memcpy(shape, d->data + d->pos, 8 * (size_t)ndim);
    size_t count, nbytes;
    if (!tfn__shape_size((tfn_dtype_t)dtype, (int)ndim, shape, &count, &nbytes))
        return bad(d, d->pos, "invalid tensor shape (a negative or absurdly large dimension)");
    d->pos += 8 * (size_t)ndim;
    if (ref)
        return get_tensor_ref(d, (tfn_dtype_t)dtype, (int)ndim, shape, nbytes, out);
    size_t pad = (DATA_ALIGN - d->pos % DATA_ALIGN) % DATA_ALIGN;
    if ((rc = need(d, pad, "tensor padding")))
        return rc;
    for (size_t i = 0; i < pad; i++)
        if (d->data[d->pos + i])
            return bad(d, d->pos + i, "non-zero padding byte");
    d->pos += pad;
    if (nbytes > left(d))
        return bad(d, d->pos, "truncated: tensor data needs %zu bytes, %zu left", nbytes, left(d));
    const unsigned char *src = d->data + d->pos;
    if (dtype == TFN_DTYPE_BOOL)
        for (size_t i = 0; i < nbytes; i++)
            if (src[i] > 1)
                return bad(d, d->pos + i, "bool tensor element is %u, not 0 or 1", src[i]);
    void *data = (void *)src; /* zero-copy: the caller keeps `data` alive, see the header */
    if (!d->aligned && nbytes) {
        data = tfn_arena_alloc(d->arena, nbytes);
        if (!data)
            return nomem(d);
        memcpy(data, src, nbytes);
    }
    *out = tfn_tensor_wrap(d->arena, (tfn_dtype_t)dtype, (int)ndim, shape, nbytes ? data : NULL);
    if (!*out) /* the shape and alignment are right: only the arena can have failed */
        return nomem(d);
    d->pos += nbytes;
    return 0;
}

static int get_value(decoder_t *d, int depth, tfn_value_t **out)
{
    int rc = need(d, 1, "a value");
    if (rc)
        return rc;
    size_t start = d->pos;
    unsigned tag = d->data[d->pos++];
    tfn_value_t *v = NULL;
    switch (tag) {
    case TAG_NULL: v = tfn_null(d->arena); break;
    case TAG_FALSE: v = tfn_bool(d->arena, false); break;
    case TAG_TRUE: v = tfn_bool(d->arena, true); break;
    case TAG_INT:
    case TAG_FLOAT:
        if ((rc = need(d, 8, tag == TAG_INT ? "an int" : "a float")))
            return rc;
        v = tfn__value_new(d->arena, tag == TAG_INT ? TFN_TYPE_INT : TFN_TYPE_FLOAT);
        if (v)
            memcpy(&v->u, d->data + d->pos, 8);
        d->pos += 8;
        break;
    case TAG_STRING: {
        char *s;
        size_t len;
        if ((rc = get_text(d, "a string", &s, &len)))
            return rc;
        v = tfn__value_new(d->arena, TFN_TYPE_STRING);
        if (v) {
            v->u.str.ptr = s;
            v->u.str.len = len;
        }
        break;
    }
    case TAG_BYTES: {
        size_t len;
        if ((rc = get_u32(d, "a byte string", &len)) || (rc = need(d, len, "a byte string")))
            return rc;
        v = tfn__value_new(d->arena, TFN_TYPE_BYTES);
        if (v) { /* zero-copy, like tensors */
            v->u.str.ptr = (char *)d->data + d->pos;
            v->u.str.len = len;
        }
        d->pos += len;
        break;
    }
    case TAG_LIST: {
        if (depth >= TFN__MAX_DEPTH)
            return bad(d, start, "lists and objects nest deeper than %d", TFN__MAX_DEPTH);
        size_t count;
        if ((rc = get_u32(d, "a list count", &count)))
            return rc;
        if (count > left(d)) /* each item takes at least one byte */
            return bad(d, start, "list of %zu items cannot fit in the %zu bytes left", count,
                       left(d));
        v = tfn_list(d->arena);
        if (!v || tfn__list_reserve(d->arena, v, count))
            return nomem(d);
        for (size_t i = 0; i < count; i++) {
            if ((rc = get_value(d, depth + 1, &v->u.list.items[i])))
                return rc;
            v->u.list.len = i + 1;
        }
        break;
    }
    case TAG_OBJECT: {
        if (depth >= TFN__MAX_DEPTH)
            return bad(d, start, "lists and objects nest deeper than %d", TFN__MAX_DEPTH);
        size_t count;
        if ((rc = get_u32(d, "an object count", &count)))
            return rc;
        if (count > left(d) / MIN_MEMBER_SIZE)
            return bad(d, start, "object of %zu members cannot fit in the %zu bytes left", count,
                       left(d));
        v = tfn_object(d->arena);
        if (!v || tfn__object_reserve(d->arena, v, count))
            return nomem(d);
        for (size_t i = 0; i < count; i++) {
            size_t key_at = d->pos, key_len;
            char *key;
            if ((rc = get_text(d, "an object key", &key, &key_len)))
                return rc;
            if (memchr(key, '\0', key_len))
                return bad(d, key_at, "object key contains a NUL byte");
            if (tfn__object_find(v, key, key_len) != SIZE_MAX)
                return bad(d, key_at, "duplicate object key '%.*s'",
                           tfn__utf8_prefix(key, key_len, 64), key);
            tfn_value_t *member;
            if ((rc = get_value(d, depth + 1, &member)))
                return rc;
            if (tfn__object_append(d->arena, v, key, key_len, member))
                return nomem(d);
        }
        break;
    }
    case TAG_TENSOR:
    case TAG_TENSOR_REF:
        if ((rc = get_tensor(d, &v, tag == TAG_TENSOR_REF)))
            return rc;
        break;
    default: return bad(d, start, "unknown tag %u", tag);
    }
    if (!v)
        return nomem(d);
    *out = v;
    return 0;
}

int tfn__wire_decode(tfn_arena_t *arena, const void *data, size_t len, tfn_value_t **out,
                     tfn_error_t *err)
{
    return tfn__wire_decode_shm(arena, data, len, NULL, false, NULL, out, err);
}

int tfn__wire_decode_shm(tfn_arena_t *arena, const void *data, size_t len,
                         const tfn__shm_pair_t *regions, bool copy, tfn__shm_use_t *use,
                         tfn_value_t **out, tfn_error_t *err)
{
    decoder_t d = {.data = data,
                   .len = data ? len : 0,
                   .shm = regions,
                   .copy = copy,
                   .aligned = (uintptr_t)data % DATA_ALIGN == 0,
                   .arena = arena,
                   .err = err};
    if (d.len < HEADER_SIZE)
        return bad(&d, 0, "truncated: %zu bytes, shorter than the %d-byte header", d.len,
                   HEADER_SIZE);
    if (memcmp(d.data, MAGIC, 4) != 0)
        return bad(&d, 0, "not a tiffin binary encoding (bad magic)");
    if (d.data[4] != VERSION)
        return bad(&d, 4, "unsupported version %u (this is version %d)", d.data[4], VERSION);
    if (d.data[5] | d.data[6] | d.data[7])
        return bad(&d, 5, "non-zero reserved header byte");
    d.pos = HEADER_SIZE;
    tfn_value_t *v;
    int rc = get_value(&d, 0, &v);
    if (rc)
        return rc;
    if (d.pos != d.len)
        return bad(&d, d.pos, "%zu bytes of trailing garbage after the value", d.len - d.pos);
    if (use)
        *use = d.use;
    *out = v;
    return 0;
}
