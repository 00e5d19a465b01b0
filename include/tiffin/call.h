/*
 * tiffin/call.h — calling a dependency from inside a handler.
 *
 * A handler calls the APIs of the services its service declares in `depends`, either
 * synchronously or asynchronously with futures, as straight-line code:
 *
 *     tfn_value_t *features;
 *     tfn_error_t err;
 *     if (tfn_call(ctx, "Preprocess", "run", in, &features, &err) != 0)
 *         return tfn_ctx_fail_with(ctx, &err);                       // propagate
 *
 *     tfn_future_t *a = tfn_call_async(ctx, "ModelA", "predict", features, NULL);
 *     tfn_future_t *b = tfn_call_async(ctx, "ModelB", "predict", features, NULL);
 *     tfn_future_t *both[] = {a, b};
 *     tfn_await_all(both, 2);                                        // like asyncio.gather
 *     tfn_value_t *pa = NULL, *pb = NULL;
 *     if (tfn_await(a, &pa, &err) != 0) ...                          // degrade gracefully
 *
 * While a call is in flight the handler's coroutine is suspended and the worker serves other
 * requests: thousands of requests can await dependencies at once without a thread each. Calls
 * are made only from handlers that run on the loop (TFN_RUN_ON_LOOP, the default).
 *
 * Between services values travel in the binary encoding (docs/wire-format.md) over pooled
 * keep-alive connections; every call carries the caller's remaining deadline, so a dependency
 * never works on a request its caller has given up on.
 */
#ifndef TIFFIN_CALL_H
#define TIFFIN_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "service.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The pending result of tfn_call_async. Lives in the request's arena; freed with it. */
typedef struct tfn_future tfn_future_t;

/** Options of one call. Zero-initialised options are the defaults. */
typedef struct tfn_call_options {
    /** Give up after this long (TFN_ETIMEOUT). 0: whatever is left of the request's deadline.
     *  A call never outlives the request's deadline, whatever this says. */
    uint32_t timeout_ms;
    /** The call may be sent again: if the connection fails before an answer arrives (a worker
     *  of the dependency crashed), it is retried once on a fresh connection. */
    bool idempotent;
} tfn_call_options_t;

/**
 * Starts calling API `api` of dependency `dependency` (a name from the service's `depends`)
 * with `input` (an object of named parameters, borrowed: it is encoded before this returns).
 * Returns a future at once; the call proceeds while the handler goes on. `options` may be NULL.
 * Returns NULL only when the request's arena is exhausted (tfn_await(NULL) then gives
 * TFN_ENOMEM); every other failure, an unknown dependency included, is reported by tfn_await.
 * A future that the handler never awaits is cancelled when the handler returns.
 */
tfn_future_t *tfn_call_async(tfn_ctx_t *ctx, const char *dependency, const char *api,
                             const tfn_value_t *input, const tfn_call_options_t *options);

/**
 * Waits for a future (suspending the handler; the worker serves other requests meanwhile) and
 * returns 0 with *output set, or a negative TFN_E* code with *err filled: the code, HTTP
 * status, service and API that failed and its message — a dependency's own error as it sent it,
 * TFN_ECONNECT (503) when it cannot be reached, TFN_ETIMEOUT (504) past the timeout,
 * TFN_EPROTO/TFN_EIO (502) for a broken answer. *output is allocated from the request's arena.
 * `output` and `err` may be NULL. A future may be awaited any number of times.
 */
int tfn_await(tfn_future_t *future, tfn_value_t **output, tfn_error_t *err);

/**
 * Waits until every one of the `n` futures has finished (they run concurrently: the time taken
 * is that of the slowest, as asyncio.gather). Returns 0 if all succeeded, else the code of the
 * first failed one in array order; tfn_await on each then gives its result without waiting.
 * NULL entries count as failed with TFN_ENOMEM.
 */
int tfn_await_all(tfn_future_t *const *futures, size_t n);

/**
 * Releases a future's answer now rather than when the request ends: for a handler that makes
 * many calls in one request (a loop over batches), whose answers would otherwise all be kept.
 * The future's output (and anything pointing into it, such as a tensor's data) must not be used
 * afterwards; awaiting it again gives TFN_EINVAL. A call still in flight is cancelled. NULL is
 * ignored.
 */
void tfn_future_free(tfn_future_t *future);

/** tfn_call_async then tfn_await: calls and waits. Same arguments, results and errors. */
int tfn_call(tfn_ctx_t *ctx, const char *dependency, const char *api, const tfn_value_t *input,
             tfn_value_t **output, tfn_error_t *err);

/**
 * Suspends the handler for `ms` milliseconds without blocking the worker (other requests go on),
 * for back-off between retries, say. Never sleeps past the request's deadline. Returns 0 when it
 * slept `ms`; TFN_ETIMEOUT when the deadline came first (it sleeps until then, or not at all
 * when it has passed); TFN_ECANCELED when the request was cancelled (its caller went away),
 * at once if that happens during the sleep; TFN_EINVAL from a handler that runs in a thread
 * (sleep there with nanosleep); TFN_ENOMEM. Pass a non-zero result on with tfn_ctx_fail: the
 * request's answer is a 504 (or nobody's) by then.
 */
int tfn_sleep(tfn_ctx_t *ctx, uint32_t ms);

/**
 * Fails the request with a dependency's error, for `return tfn_ctx_fail_with(ctx, &err);`:
 * the client sees the dependency's code, HTTP status, service, API and message. Returns
 * err->code.
 */
int tfn_ctx_fail_with(tfn_ctx_t *ctx, const tfn_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
