/*
 * tiffin/value.h — the values a service receives and returns.
 *
 * A value is null, a bool, a 64-bit integer, a double, a UTF-8 string, a byte string, a list, an
 * object (ordered string keys) or a tensor (dtype + shape + contiguous little-endian data).
 *
 * Memory: every value lives in an arena (tfn_arena_t). A handler allocates its output from the
 * request's arena (tfn_ctx_arena) and never frees anything: the whole arena is released in one go
 * when the request is finished. Values are therefore never shared across requests; data that must
 * outlive a request is copied out by the caller.
 */
#ifndef TIFFIN_VALUE_H
#define TIFFIN_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Arena
 * ------------------------------------------------------------------------------------------- */

/** A bump allocator with a hard maximum. Opaque. */
typedef struct tfn_arena tfn_arena_t;

/**
 * Creates an arena that may hand out at most `max_bytes` in total (0 means the default, 64 MiB).
 * Returns NULL when out of memory. The caller owns the arena and frees it with tfn_arena_free.
 */
tfn_arena_t *tfn_arena_new(size_t max_bytes);

/** Frees the arena and everything allocated from it. NULL is allowed. */
void tfn_arena_free(tfn_arena_t *arena);

/**
 * Allocates `size` bytes aligned to 16 (not zeroed). Returns NULL when the arena's maximum would
 * be exceeded or malloc fails. The memory belongs to the arena.
 */
void *tfn_arena_alloc(tfn_arena_t *arena, size_t size);

/** Like tfn_arena_alloc, zeroed. */
void *tfn_arena_calloc(tfn_arena_t *arena, size_t size);

/** Copies `len` bytes of `s` into the arena and appends a NUL. Returns NULL on failure. */
char *tfn_arena_strndup(tfn_arena_t *arena, const char *s, size_t len);

/** Total bytes handed out so far (for limits and tests). */
size_t tfn_arena_used(const tfn_arena_t *arena);

/* ---------------------------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------------------------- */

/** The type of a value. TFN_TYPE_ANY appears only in declarations ("accept anything"). */
typedef enum tfn_type {
    TFN_TYPE_ANY = 0,
    TFN_TYPE_NULL,
    TFN_TYPE_BOOL,
    TFN_TYPE_INT,
    TFN_TYPE_FLOAT,
    TFN_TYPE_STRING,
    TFN_TYPE_BYTES,
    TFN_TYPE_LIST,
    TFN_TYPE_OBJECT,
    TFN_TYPE_TENSOR,
} tfn_type_t;

/** Element type of a tensor. TFN_DTYPE_BOOL is one byte per element, 0 or 1. */
typedef enum tfn_dtype {
    TFN_DTYPE_F32 = 0,
    TFN_DTYPE_F64,
    TFN_DTYPE_I32,
    TFN_DTYPE_I64,
    TFN_DTYPE_U8,
    TFN_DTYPE_BOOL,
} tfn_dtype_t;

/** Maximum rank of a tensor. */
#define TFN_MAX_DIMS 8

/** Name of a type as used in error messages and OpenAPI ("tensor", "object"). Static string. */
const char *tfn_type_name(tfn_type_t type);

/** Name of a dtype ("float32", "int64", "bool"). Static string; "?" for invalid values. */
const char *tfn_dtype_name(tfn_dtype_t dtype);

/** Size in bytes of one element of `dtype`; 0 for invalid values. */
size_t tfn_dtype_size(tfn_dtype_t dtype);

/** A value. Opaque: use the functions below. */
typedef struct tfn_value tfn_value_t;

/* ---------------------------------------------------------------------------------------------
 * Constructors. Each allocates from `arena` and returns NULL when the arena is exhausted.
 * Strings, bytes and keys are copied.
 * ------------------------------------------------------------------------------------------- */

tfn_value_t *tfn_null(tfn_arena_t *arena);
tfn_value_t *tfn_bool(tfn_arena_t *arena, bool b);
tfn_value_t *tfn_int(tfn_arena_t *arena, int64_t i);
tfn_value_t *tfn_float(tfn_arena_t *arena, double d);
/** A string from a NUL-terminated C string (copied). */
tfn_value_t *tfn_string(tfn_arena_t *arena, const char *s);
/** A string of `len` bytes (copied; a NUL is appended). */
tfn_value_t *tfn_stringn(tfn_arena_t *arena, const char *s, size_t len);
/** A byte string (copied). */
tfn_value_t *tfn_bytes(tfn_arena_t *arena, const void *data, size_t len);
/** An empty list. */
tfn_value_t *tfn_list(tfn_arena_t *arena);
/** An empty object. */
tfn_value_t *tfn_object(tfn_arena_t *arena);
/**
 * A tensor of `dtype` with `ndim` dimensions (0..TFN_MAX_DIMS; 0 is a scalar of one element) and
 * the given shape (each >= 0), data zeroed. Returns NULL on bad arguments or exhaustion.
 */
tfn_value_t *tfn_tensor(tfn_arena_t *arena, tfn_dtype_t dtype, int ndim, const int64_t *shape);
/**
 * A tensor whose data is `data` itself, not a copy (zero-copy). `data` must stay valid and
 * unchanged for as long as the value is used, and be aligned to tfn_dtype_size(dtype).
 */
tfn_value_t *tfn_tensor_wrap(tfn_arena_t *arena, tfn_dtype_t dtype, int ndim, const int64_t *shape,
                             void *data);

/* ---------------------------------------------------------------------------------------------
 * Accessors. All accept NULL (treated as a missing value) and never crash on a wrong type:
 * they return the stated neutral result instead.
 * ------------------------------------------------------------------------------------------- */

/** The type of `v`; TFN_TYPE_NULL for NULL. */
tfn_type_t tfn_typeof(const tfn_value_t *v);
/** The bool; false if `v` is not a bool. */
bool tfn_as_bool(const tfn_value_t *v);
/** The integer; 0 if `v` is not an int. */
int64_t tfn_as_int(const tfn_value_t *v);
/** The number as a double: floats as they are, ints converted; 0.0 otherwise. */
double tfn_as_float(const tfn_value_t *v);
/** The string (NUL-terminated, owned by the arena) and its length; NULL if not a string. */
const char *tfn_as_string(const tfn_value_t *v, size_t *len);
/** The bytes (owned by the arena) and their length; NULL if not bytes. */
const void *tfn_as_bytes(const tfn_value_t *v, size_t *len);

/**
 * Number of items of a list, members of an object, elements of a tensor, or bytes of a string or
 * byte string; 0 for anything else.
 */
size_t tfn_len(const tfn_value_t *v);

/** Item `i` of a list; NULL if out of range or not a list. */
tfn_value_t *tfn_list_get(const tfn_value_t *list, size_t i);
/** Appends `item` (which must come from the same arena) to `list`. TFN_EINVAL / TFN_ENOMEM. */
int tfn_list_append(tfn_arena_t *arena, tfn_value_t *list, tfn_value_t *item);

/** Member `key` of an object; NULL if absent or not an object. */
tfn_value_t *tfn_object_get(const tfn_value_t *obj, const char *key);
/** Key and value of member `i` (insertion order); NULL if out of range. */
const char *tfn_object_key_at(const tfn_value_t *obj, size_t i);
tfn_value_t *tfn_object_value_at(const tfn_value_t *obj, size_t i);
/**
 * Sets member `key` (copied) to `val` (same arena), replacing an existing member of that name.
 * Returns 0, TFN_EINVAL (not an object, NULL key or value, key not valid UTF-8) or TFN_ENOMEM.
 */
int tfn_object_set(tfn_arena_t *arena, tfn_value_t *obj, const char *key, tfn_value_t *val);

/** Element type of a tensor; TFN_DTYPE_F32 if not a tensor (check tfn_typeof first). */
tfn_dtype_t tfn_tensor_dtype(const tfn_value_t *t);
/** Rank of a tensor; 0 if not a tensor. */
int tfn_tensor_ndim(const tfn_value_t *t);
/** Shape of a tensor (tfn_tensor_ndim entries, owned by the value); NULL if not a tensor. */
const int64_t *tfn_tensor_shape(const tfn_value_t *t);
/** Contiguous row-major data of a tensor (owned by the value); NULL if not a tensor. */
void *tfn_tensor_data(const tfn_value_t *t);
/** Size of the tensor's data in bytes; 0 if not a tensor. */
size_t tfn_tensor_nbytes(const tfn_value_t *t);

/**
 * Deep equality: same types and contents (floats compared bitwise except that 0.0 == -0.0 is
 * false and NaN equals NaN with the same bits; object members compared by key, in any order).
 * Intended for tests and the test mode.
 */
bool tfn_value_equal(const tfn_value_t *a, const tfn_value_t *b);

#ifdef __cplusplus
}
#endif
#endif
