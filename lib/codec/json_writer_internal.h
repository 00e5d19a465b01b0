/*
 * json_writer_internal.h — a small pretty-printing JSON writer over tfn__buf_t, for the documents
 * tiffin generates from a service definition (OpenAPI, schemas). Not the codec's writer of
 * values (json.c), which is tuned for speed and writes compact JSON.
 *
 * Use: `tfn__jw_t w = {.out = buf};` then begin/end objects and arrays, keys and values; check
 * `w.rc` at the end. Errors are sticky: the first failing append is kept in `rc` and every later
 * call does nothing, so a generator reads as straight-line code and still returns the first
 * error (TFN_ENOMEM, TFN_ETOOBIG from the buffer, TFN_EINVAL past TFN__JW_MAX_DEPTH).
 * Strings are escaped for JSON; bytes that are not valid UTF-8 become U+FFFD, so the output
 * always parses. The writer borrows `out`; the caller owns it.
 */
#ifndef TIFFIN_JSON_WRITER_INTERNAL_H
#define TIFFIN_JSON_WRITER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf_internal.h"

/* Deepest nesting: about 12 levels of OpenAPI structure plus one per tensor dimension. */
#define TFN__JW_MAX_DEPTH 40

typedef struct tfn__jw {
    tfn__buf_t *out;
    int rc;                       /* first error; once set, nothing more is written */
    int depth;                    /* open containers */
    bool after_key;               /* the next value is the one of the key just written */
    bool more[TFN__JW_MAX_DEPTH]; /* the container at this depth already has a member */
} tfn__jw_t;

/** Appends `len` bytes as they are (no separator, no escaping). */
void tfn__jw_raw(tfn__jw_t *w, const void *data, size_t len);
/** Opens and closes containers (as a value: after a key, or as an array element). */
void tfn__jw_begin_object(tfn__jw_t *w);
void tfn__jw_end_object(tfn__jw_t *w);
void tfn__jw_begin_array(tfn__jw_t *w);
void tfn__jw_end_array(tfn__jw_t *w);
/** A member's key; tfn__jw_key2 joins two parts ("/" and an API name; `suffix` may be NULL). */
void tfn__jw_key(tfn__jw_t *w, const char *name);
void tfn__jw_key2(tfn__jw_t *w, const char *prefix, const char *suffix);
/** A string value written in parts: string_begin, string_part..., string_end. */
void tfn__jw_string_begin(tfn__jw_t *w);
void tfn__jw_string_part(tfn__jw_t *w, const char *s);
void tfn__jw_string_end(tfn__jw_t *w);
/** Values: a string, a literal (true, false, null or a number already formatted), an integer. */
void tfn__jw_string(tfn__jw_t *w, const char *s);
void tfn__jw_literal(tfn__jw_t *w, const char *literal);
void tfn__jw_int(tfn__jw_t *w, long long v);
/** A key and its value. */
void tfn__jw_member_string(tfn__jw_t *w, const char *name, const char *s);
void tfn__jw_member_literal(tfn__jw_t *w, const char *name, const char *literal);
void tfn__jw_member_int(tfn__jw_t *w, const char *name, long long v);

#endif
