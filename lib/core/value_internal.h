/*
 * value_internal.h — the representation of values, shared by value.c and the codecs.
 *
 * A value is allocated with only as many bytes as its type needs (tfn__value_new): 16 bytes for
 * null, bool, int and float, 32 for strings, bytes and lists, 48 for objects, 96 for tensors.
 * Code must therefore never copy a whole struct tfn_value nor touch a union member other than
 * the one of the value's type.
 */
#ifndef TIFFIN_VALUE_INTERNAL_H
#define TIFFIN_VALUE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tiffin/error.h"
#include "tiffin/value.h"

/* Lists and objects nest at most this deep, in every codec (a tensor does not count). */
#define TFN__MAX_DEPTH 64

/* Objects with more members than this get a hash index for lookups. */
#define TFN__OBJECT_INDEX_MIN 8

typedef struct tfn__member {
    const char *key; /* NUL-terminated, no NUL inside, owned by the arena */
    size_t key_len;
    tfn_value_t *value;
} tfn__member_t;

struct tfn_value {
    tfn_type_t type;
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            char *ptr; /* strings: NUL-terminated (the NUL not counted in len) */
            size_t len;
        } str; /* TFN_TYPE_STRING and TFN_TYPE_BYTES */
        struct {
            tfn_value_t **items;
            size_t len, cap;
        } list;
        struct {
            tfn__member_t *members; /* in insertion order */
            size_t len, cap;
            uint32_t *slots; /* hash index: member index + 1, 0 = empty; NULL when small */
            size_t nslots;   /* a power of two >= 2 * cap, when slots != NULL */
        } obj;
        struct {
            void *data;
            size_t nbytes;
            tfn_dtype_t dtype;
            int ndim;
            int64_t shape[TFN_MAX_DIMS];
        } tensor;
    } u;
};

/* ---- arena.c ---- */

/**
 * Grows the allocation `ptr` of `old_size` bytes to `new_size`, in place when it is the arena's
 * latest allocation and there is room, else by copying (the old block is then wasted until the
 * arena is freed). NULL `ptr` allocates. Returns NULL when the arena is exhausted.
 */
void *tfn__arena_grow(tfn_arena_t *arena, void *ptr, size_t old_size, size_t new_size);

/** The arena's hard maximum in bytes (for error messages). */
size_t tfn__arena_max(const tfn_arena_t *arena);

/* ---- value.c ---- */

/** A value of `type` with its type-specific part zeroed; NULL when the arena is exhausted. */
tfn_value_t *tfn__value_new(tfn_arena_t *arena, tfn_type_t type);

/**
 * Element count and byte size of a tensor shape. Fails (returns false) for a bad dtype, ndim
 * outside 0..TFN_MAX_DIMS, a negative dimension, or a shape whose non-zero dimensions multiply
 * (times the element size) beyond INT64_MAX / SIZE_MAX — even when another dimension is 0.
 */
bool tfn__shape_size(tfn_dtype_t dtype, int ndim, const int64_t *shape, size_t *count,
                     size_t *nbytes);

/** Makes room for `n` items in total in `list` (no-op if there is). TFN_ENOMEM. */
int tfn__list_reserve(tfn_arena_t *arena, tfn_value_t *list, size_t n);

/** Makes room for `n` members in total in `obj`. TFN_ENOMEM. */
int tfn__object_reserve(tfn_arena_t *arena, tfn_value_t *obj, size_t n);

/** Index of member `key` (of `len` bytes) in `obj`, or SIZE_MAX if absent. */
size_t tfn__object_find(const tfn_value_t *obj, const char *key, size_t len);

/**
 * Appends a member without looking for an existing one of the same name: the caller has made
 * sure there is none. `key` (NUL-terminated, `len` bytes) is not copied: it must live in the
 * arena already. Returns 0 or TFN_ENOMEM.
 */
int tfn__object_append(tfn_arena_t *arena, tfn_value_t *obj, const char *key, size_t len,
                       tfn_value_t *val);

/** Is `s` (`len` bytes) valid UTF-8 (no overlong forms, surrogates or code points > 10FFFF)? */
bool tfn__utf8_valid(const char *s, size_t len);

/** The longest prefix of `s` (`len` bytes) of at most `max` bytes that does not cut a UTF-8
 * sequence in two: for quoting untrusted text in error messages ("'%.*s'"). */
int tfn__utf8_prefix(const char *s, size_t len, size_t max);

/** Length of the UTF-8 sequence starting at s[0] if it is valid and complete, else 0. */
size_t tfn__utf8_seq_len(const unsigned char *s, size_t avail);

/** Length of the base64 text (with padding) of `len` bytes. */
size_t tfn__base64_encoded_len(size_t len);

/** Writes the base64 text (standard alphabet, padded) of `len` bytes; no NUL is appended. */
void tfn__base64_encode(const void *data, size_t len, char *out);

/**
 * Decodes base64 text (standard alphabet; the trailing '=' padding may be left out, but if
 * present must be right; no whitespace; unused trailing bits must be zero) into `out`, which
 * must hold tfn__base64_decoded_max(len) bytes. Returns false for invalid text.
 */
bool tfn__base64_decode(const char *text, size_t len, void *out, size_t *out_len);

/** Upper bound of the decoded size of `len` bytes of base64 text. */
size_t tfn__base64_decoded_max(size_t len);

#endif
