/*
 * value.c — constructors, accessors and equality of values (include/tiffin/value.h), plus the
 * small text helpers the codecs share (UTF-8 validation, base64).
 */
#include <string.h>

#include "core/value_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Names and sizes
 * ------------------------------------------------------------------------------------------- */

const char *tfn_type_name(tfn_type_t type)
{
    switch (type) {
    case TFN_TYPE_ANY: return "any";
    case TFN_TYPE_NULL: return "null";
    case TFN_TYPE_BOOL: return "bool";
    case TFN_TYPE_INT: return "int";
    case TFN_TYPE_FLOAT: return "float";
    case TFN_TYPE_STRING: return "string";
    case TFN_TYPE_BYTES: return "bytes";
    case TFN_TYPE_LIST: return "list";
    case TFN_TYPE_OBJECT: return "object";
    case TFN_TYPE_TENSOR: return "tensor";
    }
    return "?";
}

const char *tfn_dtype_name(tfn_dtype_t dtype)
{
    switch (dtype) {
    case TFN_DTYPE_F32: return "float32";
    case TFN_DTYPE_F64: return "float64";
    case TFN_DTYPE_I32: return "int32";
    case TFN_DTYPE_I64: return "int64";
    case TFN_DTYPE_U8: return "uint8";
    case TFN_DTYPE_BOOL: return "bool";
    }
    return "?";
}

size_t tfn_dtype_size(tfn_dtype_t dtype)
{
    switch (dtype) {
    case TFN_DTYPE_F32: return 4;
    case TFN_DTYPE_F64: return 8;
    case TFN_DTYPE_I32: return 4;
    case TFN_DTYPE_I64: return 8;
    case TFN_DTYPE_U8: return 1;
    case TFN_DTYPE_BOOL: return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Constructors
 * ------------------------------------------------------------------------------------------- */

#define HEAD_SIZE         offsetof(struct tfn_value, u)
#define PART_SIZE(member) (HEAD_SIZE + sizeof(((struct tfn_value *)0)->u.member))

/* Bytes a value of `type` needs: the common head plus its own union member. */
static size_t value_size(tfn_type_t type)
{
    switch (type) {
    case TFN_TYPE_BOOL: return PART_SIZE(b);
    case TFN_TYPE_INT: return PART_SIZE(i);
    case TFN_TYPE_FLOAT: return PART_SIZE(d);
    case TFN_TYPE_STRING:
    case TFN_TYPE_BYTES: return PART_SIZE(str);
    case TFN_TYPE_LIST: return PART_SIZE(list);
    case TFN_TYPE_OBJECT: return PART_SIZE(obj);
    case TFN_TYPE_TENSOR: return PART_SIZE(tensor);
    default: return HEAD_SIZE;
    }
}

tfn_value_t *tfn__value_new(tfn_arena_t *arena, tfn_type_t type)
{
    size_t size = value_size(type);
    tfn_value_t *v = tfn_arena_alloc(arena, size);
    if (v) {
        memset(v, 0, size);
        v->type = type;
    }
    return v;
}

tfn_value_t *tfn_null(tfn_arena_t *arena) { return tfn__value_new(arena, TFN_TYPE_NULL); }

tfn_value_t *tfn_bool(tfn_arena_t *arena, bool b)
{
    tfn_value_t *v = tfn__value_new(arena, TFN_TYPE_BOOL);
    if (v)
        v->u.b = b;
    return v;
}

tfn_value_t *tfn_int(tfn_arena_t *arena, int64_t i)
{
    tfn_value_t *v = tfn__value_new(arena, TFN_TYPE_INT);
    if (v)
        v->u.i = i;
    return v;
}

tfn_value_t *tfn_float(tfn_arena_t *arena, double d)
{
    tfn_value_t *v = tfn__value_new(arena, TFN_TYPE_FLOAT);
    if (v)
        v->u.d = d;
    return v;
}

static tfn_value_t *new_str(tfn_arena_t *arena, tfn_type_t type, const void *s, size_t len)
{
    if (!s && len)
        return NULL;
    tfn_value_t *v = tfn__value_new(arena, type);
    if (!v)
        return NULL;
    v->u.str.ptr = tfn_arena_strndup(arena, s, len);
    v->u.str.len = len;
    return v->u.str.ptr ? v : NULL;
}

tfn_value_t *tfn_string(tfn_arena_t *arena, const char *s)
{
    return s ? new_str(arena, TFN_TYPE_STRING, s, strlen(s)) : NULL;
}

tfn_value_t *tfn_stringn(tfn_arena_t *arena, const char *s, size_t len)
{
    return new_str(arena, TFN_TYPE_STRING, s, len);
}

tfn_value_t *tfn_bytes(tfn_arena_t *arena, const void *data, size_t len)
{
    return new_str(arena, TFN_TYPE_BYTES, data, len);
}

tfn_value_t *tfn_list(tfn_arena_t *arena) { return tfn__value_new(arena, TFN_TYPE_LIST); }

tfn_value_t *tfn_object(tfn_arena_t *arena) { return tfn__value_new(arena, TFN_TYPE_OBJECT); }

bool tfn__shape_size(tfn_dtype_t dtype, int ndim, const int64_t *shape, size_t *count,
                     size_t *nbytes)
{
    size_t elem = tfn_dtype_size(dtype);
    if (!elem || ndim < 0 || ndim > TFN_MAX_DIMS || (ndim > 0 && !shape))
        return false;
    uint64_t limit =
        (uint64_t)INT64_MAX < (uint64_t)SIZE_MAX ? (uint64_t)INT64_MAX : (uint64_t)SIZE_MAX;
    limit /= elem;
    uint64_t product = 1; /* of the non-zero dimensions */
    bool empty = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return false;
        if (shape[i] == 0) {
            empty = true;
            continue;
        }
        if ((uint64_t)shape[i] > limit / product)
            return false;
        product *= (uint64_t)shape[i];
    }
    *count = empty ? 0 : (size_t)product;
    *nbytes = *count * elem;
    return true;
}

static tfn_value_t *new_tensor(tfn_arena_t *arena, tfn_dtype_t dtype, int ndim,
                               const int64_t *shape, size_t *nbytes)
{
    size_t count;
    if (!tfn__shape_size(dtype, ndim, shape, &count, nbytes))
        return NULL;
    tfn_value_t *v = tfn__value_new(arena, TFN_TYPE_TENSOR);
    if (!v)
        return NULL;
    v->u.tensor.dtype = dtype;
    v->u.tensor.ndim = ndim;
    v->u.tensor.nbytes = *nbytes;
    for (int i = 0; i < ndim; i++)
        v->u.tensor.shape[i] = shape[i];
    return v;
}

tfn_value_t *tfn_tensor(tfn_arena_t *arena, tfn_dtype_t dtype, int ndim, const int64_t *shape)
{
    size_t nbytes;
    tfn_value_t *v = new_tensor(arena, dtype, ndim, shape, &nbytes);
    if (!v)
        return NULL;
    v->u.tensor.data = tfn_arena_calloc(arena, nbytes);
    return v->u.tensor.data ? v : NULL;
}

tfn_value_t *tfn_tensor_wrap(tfn_arena_t *arena, tfn_dtype_t dtype, int ndim, const int64_t *shape,
                             void *data)
{
    size_t nbytes;
    size_t elem = tfn_dtype_size(dtype);
    if (!elem || (data && (uintptr_t)data % elem != 0))
        return NULL;
    tfn_value_t *v = new_tensor(arena, dtype, ndim, shape, &nbytes);
    if (!v || (!data && nbytes))
        return NULL;
    v->u.tensor.data = data;
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------------------------- */

tfn_type_t tfn_typeof(const tfn_value_t *v) { return v ? v->type : TFN_TYPE_NULL; }

bool tfn_as_bool(const tfn_value_t *v) { return v && v->type == TFN_TYPE_BOOL && v->u.b; }

int64_t tfn_as_int(const tfn_value_t *v) { return v && v->type == TFN_TYPE_INT ? v->u.i : 0; }

double tfn_as_float(const tfn_value_t *v)
{
    if (v && v->type == TFN_TYPE_FLOAT)
        return v->u.d;
    if (v && v->type == TFN_TYPE_INT)
        return (double)v->u.i;
    return 0.0;
}

const char *tfn_as_string(const tfn_value_t *v, size_t *len)
{
    if (!v || v->type != TFN_TYPE_STRING) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->u.str.len;
    return v->u.str.ptr;
}

const void *tfn_as_bytes(const tfn_value_t *v, size_t *len)
{
    if (!v || v->type != TFN_TYPE_BYTES) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->u.str.len;
    return v->u.str.ptr;
}

size_t tfn_len(const tfn_value_t *v)
{
    if (!v)
        return 0;
    switch (v->type) {
    case TFN_TYPE_STRING:
    case TFN_TYPE_BYTES: return v->u.str.len;
    case TFN_TYPE_LIST: return v->u.list.len;
    case TFN_TYPE_OBJECT: return v->u.obj.len;
    case TFN_TYPE_TENSOR: return v->u.tensor.nbytes / tfn_dtype_size(v->u.tensor.dtype);
    default: return 0;
    }
}

/* ---- lists ---- */

tfn_value_t *tfn_list_get(const tfn_value_t *list, size_t i)
{
    if (!list || list->type != TFN_TYPE_LIST || i >= list->u.list.len)
        return NULL;
    return list->u.list.items[i];
}

int tfn__list_reserve(tfn_arena_t *arena, tfn_value_t *list, size_t n)
{
    size_t cap = list->u.list.cap;
    if (n <= cap)
        return 0;
    if (n > SIZE_MAX / sizeof(tfn_value_t *))
        return TFN_ENOMEM;
    tfn_value_t **items =
        tfn__arena_grow(arena, list->u.list.items, cap * sizeof *items, n * sizeof *items);
    if (!items)
        return TFN_ENOMEM;
    list->u.list.items = items;
    list->u.list.cap = n;
    return 0;
}

int tfn_list_append(tfn_arena_t *arena, tfn_value_t *list, tfn_value_t *item)
{
    if (!arena || !list || list->type != TFN_TYPE_LIST || !item)
        return TFN_EINVAL;
    if (list->u.list.len == list->u.list.cap) {
        size_t cap = list->u.list.cap;
        int rc = tfn__list_reserve(arena, list, cap < 4 ? 4 : cap > SIZE_MAX / 2 ? 0 : cap * 2);
        if (rc || list->u.list.len == list->u.list.cap)
            return TFN_ENOMEM;
    }
    list->u.list.items[list->u.list.len++] = item;
    return 0;
}

/* ---- objects ---- */

/*
 * Hash of a key for the index of large objects. Seeded with the object's address, which a
 * client cannot know, so that keys chosen to collide for one object do not collide for another
 * (a defence against hash flooding, as jansson's seeded hash does).
 */
static uint64_t key_hash(const tfn_value_t *obj, const char *key, size_t len)
{
    uint64_t h = ((uint64_t)(uintptr_t)obj * 0x9E3779B97F4A7C15u) ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, key, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9u;
        h ^= h >> 29;
        key += 8;
        len -= 8;
    }
    if (len) {
        uint64_t w = 0;
        memcpy(&w, key, len);
        h = (h ^ w) * 0xBF58476D1CE4E5B9u;
        h ^= h >> 29;
    }
    h *= 0x94D049BB133111EBu;
    return h ^ (h >> 32);
}

static void index_insert(tfn_value_t *obj, size_t i)
{
    const tfn__member_t *m = &obj->u.obj.members[i];
    size_t mask = obj->u.obj.nslots - 1;
    size_t pos = (size_t)key_hash(obj, m->key, m->key_len) & mask;
    while (obj->u.obj.slots[pos])
        pos = (pos + 1) & mask;
    obj->u.obj.slots[pos] = (uint32_t)(i + 1);
}

int tfn__object_reserve(tfn_arena_t *arena, tfn_value_t *obj, size_t n)
{
    size_t cap = obj->u.obj.cap;
    if (n <= cap)
        return 0;
    if (n >= UINT32_MAX / 4) /* the index stores uint32 positions in 2n+ slots */
        return TFN_ENOMEM;
    tfn__member_t *members =
        tfn__arena_grow(arena, obj->u.obj.members, cap * sizeof *members, n * sizeof *members);
    if (!members)
        return TFN_ENOMEM;
    obj->u.obj.members = members;
    if (n > TFN__OBJECT_INDEX_MIN) {
        size_t nslots = 16;
        while (nslots < 2 * n)
            nslots *= 2;
        uint32_t *slots = tfn_arena_calloc(arena, nslots * sizeof *slots);
        if (!slots) /* cap stays as it was, so the old index never fills up */
            return TFN_ENOMEM;
        obj->u.obj.slots = slots;
        obj->u.obj.nslots = nslots;
        for (size_t i = 0; i < obj->u.obj.len; i++)
            index_insert(obj, i);
    }
    obj->u.obj.cap = n;
    return 0;
}

size_t tfn__object_find(const tfn_value_t *obj, const char *key, size_t len)
{
    const tfn__member_t *members = obj->u.obj.members;
    if (obj->u.obj.slots) {
        size_t mask = obj->u.obj.nslots - 1;
        size_t pos = (size_t)key_hash(obj, key, len) & mask;
        for (uint32_t slot; (slot = obj->u.obj.slots[pos]) != 0; pos = (pos + 1) & mask) {
            const tfn__member_t *m = &members[slot - 1];
            if (m->key_len == len && memcmp(m->key, key, len) == 0)
                return slot - 1;
        }
        return SIZE_MAX;
    }
    for (size_t i = 0; i < obj->u.obj.len; i++)
        if (members[i].key_len == len && memcmp(members[i].key, key, len) == 0)
            return i;
    return SIZE_MAX;
}

int tfn__object_append(tfn_arena_t *arena, tfn_value_t *obj, const char *key, size_t len,
                       tfn_value_t *val)
{
    size_t n = obj->u.obj.len;
    if (n == obj->u.obj.cap) {
        int rc = tfn__object_reserve(arena, obj, n < 4 ? 4 : n * 2);
        if (rc)
            return rc;
    }
    obj->u.obj.members[n] = (tfn__member_t){.key = key, .key_len = len, .value = val};
    obj->u.obj.len = n + 1;
    if (obj->u.obj.slots)
        index_insert(obj, n);
    return 0;
}

tfn_value_t *tfn_object_get(const tfn_value_t *obj, const char *key)
{
    if (!obj || obj->type != TFN_TYPE_OBJECT || !key)
        return NULL;
    size_t i = tfn__object_find(obj, key, strlen(key));
    return i == SIZE_MAX ? NULL : obj->u.obj.members[i].value;
}

const char *tfn_object_key_at(const tfn_value_t *obj, size_t i)
{
    if (!obj || obj->type != TFN_TYPE_OBJECT || i >= obj->u.obj.len)
        return NULL;
    return obj->u.obj.members[i].key;
}

tfn_value_t *tfn_object_value_at(const tfn_value_t *obj, size_t i)
{
    if (!obj || obj->type != TFN_TYPE_OBJECT || i >= obj->u.obj.len)
        return NULL;
    return obj->u.obj.members[i].value;
}

int tfn_object_set(tfn_arena_t *arena, tfn_value_t *obj, const char *key, tfn_value_t *val)
{
    if (!arena || !obj || obj->type != TFN_TYPE_OBJECT || !key || !val)
        return TFN_EINVAL;
    size_t len = strlen(key);
    if (!tfn__utf8_valid(key, len)) /* keys must survive both codecs unchanged */
        return TFN_EINVAL;
    size_t i = tfn__object_find(obj, key, len);
    if (i != SIZE_MAX) {
        obj->u.obj.members[i].value = val;
        return 0;
    }
    char *copy = tfn_arena_strndup(arena, key, len);
    if (!copy)
        return TFN_ENOMEM;
    return tfn__object_append(arena, obj, copy, len, val);
}

/* ---- tensors ---- */

tfn_dtype_t tfn_tensor_dtype(const tfn_value_t *t)
{
    return t && t->type == TFN_TYPE_TENSOR ? t->u.tensor.dtype : TFN_DTYPE_F32;
}

int tfn_tensor_ndim(const tfn_value_t *t)
{
    return t && t->type == TFN_TYPE_TENSOR ? t->u.tensor.ndim : 0;
}

const int64_t *tfn_tensor_shape(const tfn_value_t *t)
{
    return t && t->type == TFN_TYPE_TENSOR ? t->u.tensor.shape : NULL;
}

void *tfn_tensor_data(const tfn_value_t *t)
{
    return t && t->type == TFN_TYPE_TENSOR ? t->u.tensor.data : NULL;
}

size_t tfn_tensor_nbytes(const tfn_value_t *t)
{
    return t && t->type == TFN_TYPE_TENSOR ? t->u.tensor.nbytes : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Equality
 * ------------------------------------------------------------------------------------------- */

/* Deeper than this, values are reported unequal: a list that contains itself must not recurse
 * forever. Far above what any codec accepts (TFN__MAX_DEPTH). */
#define EQUAL_MAX_DEPTH 1000

static bool equal(const tfn_value_t *a, const tfn_value_t *b, int depth)
{
    if (depth > EQUAL_MAX_DEPTH)
        return false;
    if (tfn_typeof(a) != tfn_typeof(b))
        return false;
    if (!a || !b) /* NULL is a missing value, equal only to null */
        return tfn_typeof(a) == TFN_TYPE_NULL;
    switch (a->type) {
    case TFN_TYPE_ANY:
    case TFN_TYPE_NULL: return true;
    case TFN_TYPE_BOOL: return a->u.b == b->u.b;
    case TFN_TYPE_INT: return a->u.i == b->u.i;
    case TFN_TYPE_FLOAT: return memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0;
    case TFN_TYPE_STRING:
    case TFN_TYPE_BYTES:
        return a->u.str.len == b->u.str.len &&
               (a->u.str.len == 0 || memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0);
    case TFN_TYPE_LIST:
        if (a->u.list.len != b->u.list.len)
            return false;
        for (size_t i = 0; i < a->u.list.len; i++)
            if (!equal(a->u.list.items[i], b->u.list.items[i], depth + 1))
                return false;
        return true;
    case TFN_TYPE_OBJECT:
        if (a->u.obj.len != b->u.obj.len)
            return false;
        for (size_t i = 0; i < a->u.obj.len; i++) {
            const tfn__member_t *m = &a->u.obj.members[i];
            size_t j = tfn__object_find(b, m->key, m->key_len);
            if (j == SIZE_MAX || !equal(m->value, b->u.obj.members[j].value, depth + 1))
                return false;
        }
        return true;
    case TFN_TYPE_TENSOR:
        if (a->u.tensor.dtype != b->u.tensor.dtype || a->u.tensor.ndim != b->u.tensor.ndim ||
            a->u.tensor.nbytes != b->u.tensor.nbytes)
            return false;
        for (int i = 0; i < a->u.tensor.ndim; i++)
            if (a->u.tensor.shape[i] != b->u.tensor.shape[i])
                return false;
        return a->u.tensor.nbytes == 0 ||
               memcmp(a->u.tensor.data, b->u.tensor.data, a->u.tensor.nbytes) == 0;
    }
    return false;
}

bool tfn_value_equal(const tfn_value_t *a, const tfn_value_t *b) { return equal(a, b, 0); }

/* ---------------------------------------------------------------------------------------------
 * UTF-8
 * ------------------------------------------------------------------------------------------- */

size_t tfn__utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2) /* continuation byte, or overlong 2-byte form */
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0)) /* overlong, surrogate */
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90)) /* overlong, > 10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

int tfn__utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return (int)len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) /* s[n] continues a sequence */
        n--;
    return (int)n;
}

bool tfn__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        while (len - i >= 8) { /* ASCII runs, eight bytes at a time */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080u)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        size_t n = tfn__utf8_seq_len(s + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Base64 (RFC 4648, standard alphabet)
 * ------------------------------------------------------------------------------------------- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t tfn__base64_encoded_len(size_t len) { return (len + 2) / 3 * 4; }

size_t tfn__base64_decoded_max(size_t len) { return len / 4 * 3 + 3; }

void tfn__base64_encode(const void *data, size_t len, char *out)
{
    const unsigned char *p = data;
    size_t i = 0;
    for (; len - i >= 3; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *out++ = b64_chars[v >> 18];
        *out++ = b64_chars[(v >> 12) & 63];
        *out++ = b64_chars[(v >> 6) & 63];
        *out++ = b64_chars[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *out++ = b64_chars[v >> 18];
        *out++ = b64_chars[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *out++ = b64_chars[v >> 18];
        *out++ = b64_chars[(v >> 12) & 63];
        *out++ = b64_chars[(v >> 6) & 63];
        *out++ = '=';
    }
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool tfn__base64_decode(const char *text, size_t len, void *out, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned char *o = out;
    size_t pads = 0;
    if (len > 0 && s[len - 1] == '=') {
        if (len % 4 != 0)
            return false;
        pads = len >= 2 && s[len - 2] == '=' ? 2 : 1;
        len -= pads;
    }
    size_t rest = len % 4;
    if (rest == 1 || (pads && rest != 4 - pads))
        return false;
    size_t i = 0;
    for (; len - i >= 4; i += 4) {
        int a = b64_value(s[i]), b = b64_value(s[i + 1]), c = b64_value(s[i + 2]),
            d = b64_value(s[i + 3]);
        if ((a | b | c | d) < 0)
            return false;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        *o++ = (unsigned char)(v >> 16);
        *o++ = (unsigned char)(v >> 8);
        *o++ = (unsigned char)v;
    }
    if (rest == 2) {
        int a = b64_value(s[i]), b = b64_value(s[i + 1]);
        if ((a | b) < 0 || (b & 15))
            return false;
        *o++ = (unsigned char)(a << 2 | b >> 4);
    } else if (rest == 3) {
        int a = b64_value(s[i]), b = b64_value(s[i + 1]), c = b64_value(s[i + 2]);
        if ((a | b | c) < 0 || (c & 3))
            return false;
        *o++ = (unsigned char)(a << 2 | b >> 4);
        *o++ = (unsigned char)((b & 15) << 4 | c >> 2);
    }
    *out_len = (size_t)(o - (unsigned char *)out);
    return true;
}
