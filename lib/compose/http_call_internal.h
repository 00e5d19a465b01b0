/*
 * http_call_internal.h — a blocking HTTP/1.1 request (for the CLI and tools, not for services).
 */
#ifndef TIFFIN_HTTP_CALL_INTERNAL_H
#define TIFFIN_HTTP_CALL_INTERNAL_H

#include <stdbool.h>

#include "core/buf_internal.h"
#include "tiffin.h"

/** Where to send a request: a TCP host and port, or a unix socket path. */
typedef struct tfn__target {
    char host[256];
    int port;
    const char *unix_path; /* borrowed; NULL for TCP */
} tfn__target_t;

/**
 * Parses "http://HOST:PORT" (path ignored) or "unix:/path/to/socket" into *target. For unix:
 * the path is borrowed from `url`. Returns 0 or TFN_EINVAL with a message.
 */
int tfn__target_parse(const char *url, tfn__target_t *target, tfn_error_t *err);

/**
 * Sends one request (Connection: close) and reads the whole response within `timeout_ms`
 * (<= 0: 60 s). On success returns 0, sets *status and appends the body to `response`.
 * Errors: TFN_ECONNECT, TFN_ETIMEOUT, TFN_EIO, TFN_EPROTO, TFN_ETOOBIG (response over
 * response->max), each with a message in *err.
 */
int tfn__http_call(const tfn__target_t *target, const char *method, const char *path,
                   const char *content_type, const void *body, size_t body_len, int timeout_ms,
                   int *status, tfn__buf_t *response, tfn_error_t *err);

#endif
