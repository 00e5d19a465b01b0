/*
 * tiffin/error.h — the one error convention of the library.
 *
 * Every fallible function returns 0 (TFN_OK) on success or a negative TFN_E* code. Each code
 * has a fixed HTTP status, a stable machine-readable name (sent as "code" in JSON error bodies)
 * and a human-readable description. Codes are append-only: never renumber one.
 */
#ifndef TIFFIN_ERROR_H
#define TIFFIN_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, http_status, description) — the single source of truth. */
#define TFN_ERROR_TABLE(X)                                                                         \
    X(OK, 0, 200, "success")                                                                       \
    X(EINVAL, -1, 400, "invalid argument")                                                         \
    X(ENOMEM, -2, 500, "out of memory")                                                            \
    X(EBADJSON, -3, 400, "invalid JSON")                                                           \
    X(ETYPE, -4, 400, "wrong type")                                                                \
    X(EMISSING, -5, 400, "missing field")                                                          \
    X(ENOTFOUND, -6, 404, "not found")                                                             \
    X(EMETHOD, -7, 405, "method not allowed")                                                      \
    X(EMEDIATYPE, -8, 415, "unsupported media type")                                               \
    X(ETOOBIG, -9, 413, "payload too large")                                                       \
    X(EHANDLER, -10, 500, "handler failed")                                                        \
    X(ETIMEOUT, -11, 504, "timed out")                                                             \
    X(EBUSY, -12, 429, "too many concurrent requests")                                             \
    X(EBADHTTP, -13, 400, "malformed HTTP request")                                                \
    X(EUNAVAIL, -14, 503, "service unavailable")                                                   \
    X(ESHUTDOWN, -15, 503, "shutting down")                                                        \
    X(EBADWIRE, -16, 400, "invalid binary encoding")                                               \
    X(EIO, -17, 502, "I/O error")                                                                  \
    X(ECONNECT, -18, 503, "connection failed")                                                     \
    X(EPROTO, -19, 502, "protocol error")                                                          \
    X(EDEPENDENCY, -20, 502, "dependency failed")                                                  \
    X(EOUTPUT, -21, 500, "handler output does not match its declaration")                          \
    X(EINIT, -22, 500, "initialisation failed")                                                    \
    X(EUSAGE, -23, 400, "bad command-line usage")                                                  \
    X(EREQTIMEOUT, -24, 408, "request not received in time")                                      \
    X(ENOTIMPL, -25, 501, "method not implemented")                                                \
    X(EHEADTOOBIG, -26, 431, "request header fields too large")                                    \
    X(EURITOOLONG, -27, 414, "request URI too long")                                               \
    X(ECANCELED, -28, 499, "request cancelled: its caller went away or its deadline passed")

/** Error codes. 0 is success; every error is negative. */
typedef enum tfn_errcode {
#define TFN_X_ENUM(name, value, status, desc) TFN_##name = (value),
    TFN_ERROR_TABLE(TFN_X_ENUM)
#undef TFN_X_ENUM
} tfn_errcode_t;

/**
 * Describes an error code in words ("payload too large").
 * Returns a static string; unknown codes give "unknown error". Never NULL.
 */
const char *tfn_strerror(int code);

/**
 * The stable machine-readable name of a code ("ETOOBIG"), used as the "code" member of JSON
 * error bodies. Returns a static string; unknown codes give "EUNKNOWN". Never NULL.
 */
const char *tfn_errname(int code);

/** The HTTP status a code maps to (TFN_ETOOBIG -> 413). Unknown codes map to 500. */
int tfn_http_status(int code);

/** Maximum lengths of the text members of tfn_error_t, including the terminating NUL. */
#define TFN_ERROR_NAME_MAX 64
#define TFN_ERROR_MESSAGE_MAX 256

/**
 * A structured error: what failed, where, and why. Filled by decoders, validators and (from the
 * composition issue on) by dependency calls, so that a caller can decide what to do. Plain value
 * type: no pointers, safe to copy and to keep.
 */
typedef struct tfn_error {
    int code;                              /**< negative TFN_E* code */
    int http_status;                       /**< HTTP status the error maps to */
    char service[TFN_ERROR_NAME_MAX];      /**< service that failed ("" if local) */
    char api[TFN_ERROR_NAME_MAX];          /**< API that failed ("" if none) */
    char message[TFN_ERROR_MESSAGE_MAX];   /**< human-readable detail, never empty once set */
} tfn_error_t;

/**
 * Fills *err with code, its HTTP status and a printf-formatted message (truncated to fit).
 * `err` may be NULL, in which case nothing happens. Returns `code`, so callers can write
 * `return tfn_error_set(err, TFN_ETYPE, "field '%s' ...", name);`.
 */
int tfn_error_set(tfn_error_t *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
