/*
 * trace_internal.h — W3C Trace Context (traceparent, tracestate) and the JSON-lines access log.
 *
 * A request is a span: it belongs to the trace its caller named in `traceparent` (or to a new
 * trace when there was none, or a malformed one — never an error, as the spec says), and gets a
 * span id of its own. Each dependency call is a client span, child of the request's span; the
 * call carries `traceparent` with the client span as parent, so the callee's span is its child.
 *
 * Everything here is plain data and pure functions, except the id generator (a per-thread
 * xorshift seeded from getrandom) and the access log's write(2).
 */
#ifndef TIFFIN_TRACE_INTERNAL_H
#define TIFFIN_TRACE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TFN__TRACEPARENT_LEN 55  /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define TFN__TRACESTATE_MAX  512 /* longer tracestate values are dropped */

/** A trace context: the ids of one span and its parent. */
typedef struct tfn__trace_ids {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8]; /* all zero: a root span */
    uint8_t flags;        /* trace-flags (01: sampled) */
} tfn__trace_ids_t;

/**
 * Parses a traceparent header value of `len` bytes (need not be NUL-terminated). Accepts version
 * 00 exactly, and higher versions (not ff) by their first 55 characters when followed by the
 * end or '-', as the spec says. On success sets *trace_id, *parent_id and *flags and returns 0;
 * -1 for anything malformed (uppercase hex, all-zero ids, version ff, wrong lengths).
 */
int tfn__traceparent_parse(const char *s, size_t len, uint8_t trace_id[16], uint8_t parent_id[8],
                           uint8_t *flags);
/** Is `s` (`len` bytes) an acceptable tracestate (printable ASCII, at most 512 bytes)? */
bool tfn__tracestate_ok(const char *s, size_t len);

/**
 * Begins the server span of a request: the caller's trace when `traceparent` (may be NULL or
 * empty) is valid, else a new trace (sampled); a fresh span id either way.
 * Returns true when the caller's context was taken.
 */
bool tfn__trace_begin(tfn__trace_ids_t *ids, const char *traceparent, size_t len);
/** A child span of `parent` (same trace and flags, parent = parent's span, a new span id). */
void tfn__trace_child(tfn__trace_ids_t *child, const tfn__trace_ids_t *parent);
/** Writes "00-<trace>-<span>-<flags>" (55 characters and a NUL) into `out`. */
void tfn__traceparent_format(char out[TFN__TRACEPARENT_LEN + 1], const tfn__trace_ids_t *ids);
/** `n` bytes of lowercase hex of `bytes` into `out` (2n characters and a NUL). */
void tfn__hex(char *out, const uint8_t *bytes, size_t n);
/** Random ids: `n` bytes, never all zero. */
void tfn__trace_random(uint8_t *out, size_t n);
/** Nanoseconds of a monotonic clock. */
uint64_t tfn__now_ns(void);

/** One line of the access log, the fields a span has. Strings are borrowed. */
typedef struct tfn__span_record {
    const char *kind; /* "server" or "client" */
    const tfn__trace_ids_t *ids;
    const char *service;
    unsigned worker;
    const char *api;
    const char *dependency; /* client spans: whom it called; NULL for server spans */
    int status;
    uint64_t start_unix_us; /* wall clock, for ordering lines */
    uint64_t duration_ns;
    uint64_t queue_ns; /* server spans: waiting for a handler slot */
} tfn__span_record_t;

/**
 * Formats `rec` as one JSON line (newline included) into `out` of `size` bytes. Returns its
 * length, or 0 when it does not fit.
 */
size_t tfn__span_json(const tfn__span_record_t *rec, char *out, size_t size);
/** Opens the access log: "-" is standard output. Returns a descriptor or -1 (errno set). */
int tfn__access_log_open(const char *path);
/** Writes one line with a single write(2) (lines from several processes do not interleave). */
void tfn__access_log_write(int fd, const char *line, size_t len);

#endif
