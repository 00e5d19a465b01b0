/*
 * client_internal.h — the asynchronous HTTP/1.1 client services use to call their dependencies.
 *
 * One pool per dependency address keeps idle keep-alive connections for reuse. An exchange is one
 * request and its response on one connection of the pool (a connection carries one exchange at a
 * time; there is no pipelining, so a slow answer never holds up another). Idle connections keep
 * reading, so a dependency worker that dies or restarts is noticed (EOF) and its connections are
 * dropped from the pool instead of being handed to the next call.
 *
 * Lifetime: a pool and its connections are heap objects owned by the worker. An exchange is owned
 * by the client until its callback has run, or until the caller cancels it (the callback is then
 * never called). Everything runs on the loop thread.
 */
#ifndef TIFFIN_CLIENT_INTERNAL_H
#define TIFFIN_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf_internal.h"
#include "compose/http_call_internal.h"
#include "tiffin.h"

/* Largest response body the client accepts. */
#define TFN__MAX_RESPONSE_BYTES ((size_t)1 << 30)

typedef struct tfn__pool tfn__pool_t;
typedef struct tfn__exchange tfn__exchange_t;

/**
 * Called once per exchange, on the loop thread: rc 0 with `resp` (any HTTP status), or a
 * negative TFN_E* code with `err` filled (TFN_ECONNECT, TFN_ETIMEOUT, TFN_EIO, TFN_EPROTO,
 * TFN_ETOOBIG, TFN_ENOMEM) and `resp` NULL.
 */
typedef void (*tfn__exchange_cb)(void *arg, int rc, tfn__response_t *resp, const tfn_error_t *err);

/**
 * A pool of connections to `target` (copied; a unix path is copied too). `label` names the
 * dependency in error messages (borrowed; must outlive the pool). Returns NULL when out of memory.
 */
tfn__pool_t *tfn__pool_new(uv_loop_t *loop, const tfn__target_t *target, const char *label);

/**
 * Cancels every exchange (their callbacks are not called), closes every connection, and frees the
 * pool once libuv has closed them. NULL is ignored.
 */
void tfn__pool_free(tfn__pool_t *pool);

/**
 * Sends a request — `head` (request line and headers) then `body`, both moved from the caller,
 * who gets empty buffers back; sent in one writev, so the body is never copied — on an idle
 * connection of the pool, or on a new one. The response must
 * arrive within `timeout_ms` of this call. With `retry`, a connection that fails before the
 * first byte of the answer is replaced once by a fresh one and the request sent again.
 * On success returns 0 and sets *out (may be NULL) to the exchange, for tfn__exchange_cancel;
 * `cb` is called later, never from inside this function. On failure (TFN_ENOMEM) `cb` is never
 * called and both buffers are freed.
 */
int tfn__pool_send(tfn__pool_t *pool, tfn__buf_t *head, tfn__buf_t *body, uint32_t timeout_ms,
                   bool retry, tfn__exchange_cb cb, void *arg, tfn__exchange_t **out);

/**
 * Like tfn__pool_send, for a call on a unix socket that may use shared memory: `head` lacks
 * Content-Length and the blank line, and `value` (which must outlive the exchange) is encoded
 * when a connection is chosen — large tensors into that connection's region. `body` is an empty
 * buffer whose limit bounds the encoding. An answer of status 200 may then carry resp->lease:
 * whoever took the callback's response must release it with tfn__pool_release once nothing
 * points into resp->shm any more (until then the connection is not reused).
 */
int tfn__pool_send_value(tfn__pool_t *pool, tfn__buf_t *head, tfn__buf_t *body,
                         const tfn_value_t *value, uint32_t timeout_ms, bool retry,
                         tfn__exchange_cb cb, void *arg, tfn__exchange_t **out);

/** Releases a response's lease (NULL is ignored): its connection may carry the next call. */
void tfn__pool_release(struct tfn__lease *lease);

/** Abandons an exchange whose callback has not run yet: it never will. Its connection closes. */
void tfn__exchange_cancel(tfn__exchange_t *ex);

/** Connections of the pool: open in all, and idle among them (for tests and /healthz). */
void tfn__pool_stats(const tfn__pool_t *pool, unsigned *open, unsigned *idle);

#endif
