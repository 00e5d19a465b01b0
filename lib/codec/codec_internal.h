/*
 * codec_internal.h — turning values into bytes and back.
 *
 * Two encodings:
 *   - JSON (application/json): the public format. Tensors are nested lists of numbers.
 *   - tiffin binary (application/vnd.tiffin): used between services. Tensors travel as raw
 *     little-endian buffers, aligned so that the decoder can point into the received bytes
 *     (zero-copy). Specified in docs/wire-format.md.
 *
 * And the validation step between them: an API's declared input fields (tfn_field_t) are checked
 * against the decoded object, converting nested lists into tensors where a field says so.
 */
#ifndef TIFFIN_CODEC_INTERNAL_H
#define TIFFIN_CODEC_INTERNAL_H

#include "core/buf_internal.h"
#include "tiffin.h"

/** Media types. */
#define TFN__MEDIA_JSON "application/json"
#define TFN__MEDIA_WIRE "application/vnd.tiffin"

/**
 * Parses JSON text (need not be NUL-terminated) into a value allocated from `arena`.
 * Integers that fit int64 become TFN_TYPE_INT, other numbers TFN_TYPE_FLOAT. Duplicate object
 * keys are rejected. Numbers round-trip exactly (strtod semantics).
 * Returns 0, TFN_EBADJSON (err->message says what and where: "line 1, column 7: ..."),
 * TFN_ETOOBIG or TFN_ENOMEM (arena exhausted).
 */
int tfn__json_decode(tfn_arena_t *arena, const char *text, size_t len, tfn_value_t **out,
                     tfn_error_t *err);

/** tfn__json_decode of a value found `depth` levels down in a document (its nesting limit
 * counts from there). */
int tfn__json_decode_nested(tfn_arena_t *arena, const char *text, size_t len, int depth,
                            tfn_value_t **out, tfn_error_t *err);

/**
 * Decodes a request body for an API whose inputs are `fields` (json_tensor.c). Same result and
 * same errors as tfn__json_decode, but a member of the top-level object that is declared a tensor
 * of a numeric dtype and holds a rectangular nested list of numbers is converted straight into
 * the tensor's buffer (an arena tensor value of that dtype), without a value per element.
 * Anything the fast path is not sure of is decoded by tfn__json_decode instead.
 */
int tfn__json_decode_fields(tfn_arena_t *arena, const char *text, size_t len,
                            const tfn_field_t *fields, tfn_value_t **out, tfn_error_t *err);

/**
 * Appends the JSON text of `v` to `out`. Doubles are written in the shortest form that
 * round-trips exactly (float32 tensor elements in the shortest form that round-trips as a float);
 * NaN and infinities are written as null. Tensors become nested lists; bytes become a base64
 * string. Returns 0, TFN_ETOOBIG (out's maximum) or TFN_ENOMEM; TFN_EINVAL for lists and
 * objects nested deeper than 64 (or containing themselves). On failure out->len is unchanged.
 */
int tfn__json_encode(const tfn_value_t *v, tfn__buf_t *out);

/**
 * Appends `s` (`len` bytes) as a JSON string literal, quotes included: '"', '\\' and control
 * characters are escaped, valid UTF-8 passes through, each invalid byte becomes U+FFFD.
 * For anything that writes JSON by hand (error bodies, OpenAPI). Returns 0, TFN_ETOOBIG or
 * TFN_ENOMEM.
 */
int tfn__json_put_string(tfn__buf_t *out, const char *s, size_t len);

/** Room for the text of any number written by the two functions below, NUL included. */
#define TFN__NUMBER_MAX 32

/**
 * Writes the JSON text of a double into `out` and returns its length (NUL-terminated): the
 * shortest of %.15g/%.16g/%.17g that reads back exactly, with ".0" appended when the text would
 * otherwise read back as an integer ("2.0", "-0.0", "1e+300" as is); "null" for NaN/infinity.
 */
size_t tfn__json_format_double(double d, char out[TFN__NUMBER_MAX]);

/**
 * Same for a float32: the shortest of %.6g..%.9g that reads back exactly as a float, both with
 * strtof and as a double rounded to float (one float in 2^32 needs a longer text for the latter).
 */
size_t tfn__json_format_float(float f, char out[TFN__NUMBER_MAX]);

/**
 * Appends the binary encoding of `v` to `out`. `out->len` must be a multiple of 8 when called
 * (the encoding's alignment is relative to its first byte). Returns 0, TFN_ETOOBIG or TFN_ENOMEM;
 * TFN_EINVAL for lists and objects nested deeper than 64 (or containing themselves). On failure
 * out->len is unchanged.
 */
int tfn__wire_encode(const tfn_value_t *v, tfn__buf_t *out);

/**
 * Decodes a binary encoding. `data` must be 8-byte aligned; tensors and byte strings point into
 * it (zero-copy), so `data` must outlive the value. Strings and keys are copied into `arena`.
 * (Misaligned `data` still works: tensor data is then copied into `arena`.)
 * Every length and count is bounds-checked; nesting deeper than 64 is rejected.
 * Returns 0, TFN_EBADWIRE (err->message says what, at which offset) or TFN_ENOMEM.
 */
int tfn__wire_decode(tfn_arena_t *arena, const void *data, size_t len, tfn_value_t **out,
                     tfn_error_t *err);

/* ---- Shared memory between processes on one host (shm.c, wire.c) ----------------------------
 * docs/design.md "Shared memory on one host" has the protocol and the lifetimes. Each side of a
 * unix-socket connection between tiffin processes may create one region (a memfd, sealed
 * against shrinking and growing, mapped shared by both) and writes only into its own; large
 * tensors travel as references (tag 0x0A: the region, the offset) into the sender's region, or
 * into the receiver's when a tensor the receiver sent comes back (pass-through). */

/** Tensors of at least this many bytes travel by reference (bool tensors always inline). */
#define TFN__SHM_MIN_TENSOR_BYTES ((size_t)64 * 1024)
/** Largest region either side creates or accepts. */
#define TFN__SHM_MAX_BYTES ((size_t)1 << 34)
/** The header that announces a region sent with the message (its size in bytes; 0: none, only
 * that the sender understands references). One descriptor comes with a non-zero one. */
#define TFN__SHM_HEADER "X-Tiffin-Shm"

/** A region, counted: the connection that made or received it and every request or answer whose
 * tensors point into it hold a reference. Loop thread only. */
typedef struct tfn__shm_region {
    unsigned refs;
    int fd;             /* the writer's, to send it; -1 in the reader */
    unsigned char *map; /* shared, read-write in both */
    size_t len;
} tfn__shm_region_t;

/** Creates a region of `len` bytes (1..TFN__SHM_MAX_BYTES), its pages allocated now, sealed
 * against shrinking and growing. One reference, the caller's. 0, TFN_ETOOBIG or TFN_ENOMEM. */
int tfn__shm_region_create(size_t len, tfn__shm_region_t **out);
/**
 * Takes a received descriptor (`fd` is closed whatever happens) that should be a region of
 * `len` bytes: a memfd of exactly that size, at most `max`, sealed against shrinking and growing
 * (so that it can never be cut short under a reader: no SIGBUS), and maps it. One reference,
 * the caller's. 0, TFN_EBADWIRE or TFN_ENOMEM with err set.
 */
int tfn__shm_region_open(int fd, size_t len, size_t max, tfn__shm_region_t **out, tfn_error_t *err);
/** Adds a reference; returns `r` (NULL is ignored). */
tfn__shm_region_t *tfn__shm_region_ref(tfn__shm_region_t *r);
/** Drops a reference; the last one unmaps and closes. NULL is ignored. */
void tfn__shm_region_unref(tfn__shm_region_t *r);
/** The size of a new region for `need` bytes: a power of two, at least 1 MiB, so that a few
 * growing messages do not each make a new one. */
size_t tfn__shm_region_size(size_t need);
/** Whether [p, p + n) lies inside `r` (NULL: no). */
bool tfn__shm_contains(const tfn__shm_region_t *r, const void *p, size_t n);

/** The regions a message may refer to, as the side encoding or decoding it sees them. */
typedef struct tfn__shm_pair {
    tfn__shm_region_t *own;  /* written by this side (NULL: none) */
    tfn__shm_region_t *peer; /* written by the other side, mapped here (NULL: none) */
} tfn__shm_pair_t;

/** Bytes `v`'s large tensors need in the encoder's own region (those already in `peer` need
 * none). SIZE_MAX when more than TFN__SHM_MAX_BYTES or nested too deep. */
size_t tfn__wire_shm_need(const tfn_value_t *v, const tfn__shm_pair_t *regions);
/**
 * tfn__wire_encode, with large tensors as references: into regions->peer where the data already
 * lies there (8-aligned), else copied into regions->own from its start (which must hold
 * tfn__wire_shm_need bytes; NULL when that is 0). Same results as tfn__wire_encode.
 */
int tfn__wire_encode_shm(const tfn_value_t *v, tfn__buf_t *out, const tfn__shm_pair_t *regions);

/** What a decoded message took from shared memory. */
typedef struct tfn__shm_use {
    size_t bytes;   /* referenced, in all */
    bool own, peer; /* whether it points into regions->own / regions->peer */
} tfn__shm_use_t;
/**
 * tfn__wire_decode, where references (tag 0x0A) are followed into the decoder's regions
 * (a message's "sender's region" is regions->peer, its "receiver's" regions->own), each checked
 * to lie inside. The tensors point into the regions, which must outlive the value, unless
 * `copy`: then their bytes are copied into the arena. `use` (may be NULL) says what was taken.
 */
int tfn__wire_decode_shm(tfn_arena_t *arena, const void *data, size_t len,
                         const tfn__shm_pair_t *regions, bool copy, tfn__shm_use_t *use,
                         tfn_value_t **out, tfn_error_t *err);

/**
 * Checks `input` (any value) against an API's declared fields and returns the object the handler
 * will see in *out. Rules:
 *   - `input` must be an object (TFN_ETYPE otherwise);
 *   - every non-optional field must be present (TFN_EMISSING "missing field 'x'");
 *   - members not declared are rejected (TFN_EINVAL "unknown field 'y'");
 *   - TFN_TYPE_ANY accepts anything; FLOAT accepts INT (converted to a float value);
 *     INT accepts only integers; BYTES accepts bytes, or a base64 string (decoded);
 *   - TENSOR accepts a tensor of the declared dtype, or nested lists of numbers/bools that form a
 *     rectangular array (converted to the declared dtype; a value that does not fit, e.g. 1.5 or
 *     300 for uint8, is TFN_ETYPE); a declared ndim (> 0) must match, and each declared
 *     dimension >= 0 must match (-1 means any size).
 * `fields` is terminated by an entry whose name is NULL; NULL `fields` means "no inputs".
 * Error messages name the field and say what was expected and what came
 * ("field 'x': expected tensor(float32) of shape [-1, 64], got string").
 */
int tfn__validate_input(tfn_arena_t *arena, const tfn_field_t *fields, const tfn_value_t *input,
                        const tfn_value_t **out, tfn_error_t *err);

/**
 * Checks a handler's output against its declared type (TFN_TYPE_ANY accepts anything; a declared
 * FLOAT accepts an INT). Returns 0 or TFN_EOUTPUT with a message.
 */
int tfn__validate_output(tfn_type_t declared, const tfn_value_t *output, tfn_error_t *err);

/* ---- openapi.c ---- */

/** Appends the OpenAPI 3.0 document of `service` (JSON) to `out`. */
int tfn__openapi(const tfn_service_t *service, tfn__buf_t *out);

#endif
