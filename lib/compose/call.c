/*
 * call.c — a handler calling its dependencies: tfn_call, tfn_call_async, tfn_await.
 *
 * A future belongs to the request whose handler made the call and lives in its arena. The call
 * goes out either over HTTP (the dependency's pool, client.c) or, in a test graph, straight to
 * the dependency's instance in this process (tfn__dispatch_local); both answer with the same
 * HTTP-like response, decoded here. While its handler awaits a future, the handler's coroutine is
 * suspended; the future's completion, which always runs from the loop, resumes it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/codec_internal.h"
#include "compose/compose_internal.h"
#include "core/value_internal.h"

int tfn__errcode_from_name(const char *name);

struct tfn_future {
    tfn__request_t *req;    /* the caller */
    tfn_future_t *next;     /* the caller's other futures */
    const char *dependency; /* in the caller's arena */
    const char *api;
    tfn__exchange_t *exchange; /* in flight over HTTP */
    tfn__request_t *local;     /* in flight in this process */
    bool done;
    bool waiting; /* the handler is suspended on this future */
    int rc;
    tfn_error_t error;
    tfn_value_t *output;
    tfn__buf_t body;          /* the answer's bytes: a decoded tensor points into them */
    struct tfn__lease *lease; /* or into the connection's shared memory, kept until released */

    tfn__trace_ids_t span; /* the call's client span (server/observe.c) */
    uint64_t start_ns;     /* when it was sent; 0: not observed */
};

/* Most bytes an encoded input may take. */
#define MAX_CALL_BYTES ((size_t)1 << 30)

/* ---------------------------------------------------------------------------------------------
 * Finishing a future
 * ------------------------------------------------------------------------------------------- */

static int fail(tfn_future_t *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(tfn_future_t *f, int code, const char *fmt, ...)
{
    tfn_error_set(&f->error, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->error.message, sizeof f->error.message, fmt, ap);
    va_end(ap);
    snprintf(f->error.service, sizeof f->error.service, "%s", f->dependency);
    snprintf(f->error.api, sizeof f->error.api, "%s", f->api);
    f->rc = code;
    f->done = true;
    return code;
}

int tfn__response_error(const tfn__response_t *resp, const char *service, const char *api,
                        tfn_error_t *err)
{
    tfn_error_t parsed;
    tfn_value_t *v = NULL;
    tfn_arena_t *scratch = tfn_arena_new(1 << 20);
    const char *text = resp->body.data ? resp->body.data : "";
    if (scratch && tfn__json_decode(scratch, text, resp->body.len, &v, &parsed) == 0 &&
        tfn_typeof(v) == TFN_TYPE_OBJECT &&
        tfn_typeof(tfn_object_get(v, "error")) == TFN_TYPE_STRING) {
        const char *name = tfn_as_string(tfn_object_get(v, "code"), NULL);
        int code = name ? tfn__errcode_from_name(name) : 0;
        tfn_error_set(err, code ? code : TFN_EDEPENDENCY, "%s",
                      tfn_as_string(tfn_object_get(v, "error"), NULL));
        const char *s = tfn_as_string(tfn_object_get(v, "service"), NULL);
        const char *a = tfn_as_string(tfn_object_get(v, "api"), NULL);
        service = s ? s : service;
        api = a ? a : api;
    } else {
        int code = resp->status == 404   ? TFN_ENOTFOUND
                   : resp->status == 429 ? TFN_EBUSY
                   : resp->status == 503 ? TFN_EUNAVAIL
                   : resp->status == 504 ? TFN_ETIMEOUT
                                         : TFN_EDEPENDENCY;
        int n = tfn__utf8_prefix(text, resp->body.len, 160);
        tfn_error_set(err, code, "HTTP %d: %.*s", resp->status, n, text);
    }
    snprintf(err->service, sizeof err->service, "%s", service);
    snprintf(err->api, sizeof err->api, "%s", api);
    err->http_status = resp->status;
    tfn_arena_free(scratch);
    return err->code;
}

static bool media_is(const char *header, const char *media)
{
    size_t n = strlen(media);
    return strncasecmp(header, media, n) == 0 &&
           (header[n] == '\0' || header[n] == ';' || header[n] == ' ');
}

int tfn__response_decode(const char *content_type, const void *data, size_t len, tfn_arena_t *arena,
                         tfn_value_t **out, tfn_error_t *err)
{
    if (!data)
        data = "";
    int rc = media_is(content_type, TFN__MEDIA_WIRE) ? tfn__wire_decode(arena, data, len, out, err)
             : media_is(content_type, TFN__MEDIA_JSON)
                 ? tfn__json_decode(arena, data, len, out, err)
                 : tfn_error_set(err, TFN_EPROTO, "answer of type '%s'", content_type);
    if (rc == 0 || rc == TFN_ENOMEM)
        return rc;
    return tfn_error_set(err, TFN_EPROTO, "unreadable answer: %s", err->message);
}

/* A binary answer over a connection with shared memory: its tensors may point into the
 * regions, which the future then keeps (the lease) until it or its request goes. */
static int decode_shared(tfn_future_t *f, tfn__response_t *resp)
{
    tfn__shm_use_t use;
    int rc = tfn__wire_decode_shm(f->req->arena, f->body.data ? f->body.data : "", f->body.len,
                                  resp->shm, false, &use, &f->output, &f->error);
    if (rc == 0 && (use.own || use.peer)) {
        f->lease = resp->lease;
        resp->lease = NULL;
    }
    if (rc == 0 || rc == TFN_ENOMEM)
        return rc;
    return tfn_error_set(&f->error, TFN_EPROTO, "unreadable answer: %s", f->error.message);
}

/* Turns an answer into the future's result. */
static void settle(tfn_future_t *f, int rc, tfn__response_t *resp, const tfn_error_t *err)
{
    tfn__observe_call_end(f->req, f->dependency, f->api, &f->span, f->start_ns,
                          rc != 0 ? tfn_http_status(rc) : resp->status);
    f->exchange = NULL;
    f->local = NULL;
    if (rc != 0) {
        fail(f, rc, "%s", err->message);
    } else if (resp->status != 200) {
        f->rc = tfn__response_error(resp, f->dependency, f->api, &f->error);
        f->done = true;
    } else {
        f->body = resp->body; /* taken: the decoded value may point into it */
        tfn__buf_init(&resp->body, 0);
        int drc = resp->lease && media_is(resp->content_type, TFN__MEDIA_WIRE)
                      ? decode_shared(f, resp)
                      : tfn__response_decode(resp->content_type, f->body.data, f->body.len,
                                             f->req->arena, &f->output, &f->error);
        if (drc != 0) {
            char why[sizeof f->error.message]; /* fail() rewrites f->error */
            snprintf(why, sizeof why, "%s", f->error.message);
            fail(f, drc, "%s", why);
        } else
            f->done = true;
    }
    if (resp)
        tfn__pool_release(resp->lease); /* unless decode_shared took it */
    if (f->waiting)
        tfn__request_resume(f->req);
}

static void on_exchange(void *arg, int rc, tfn__response_t *resp, const tfn_error_t *err)
{
    settle(arg, rc, resp, err);
}

static void on_local_answer(void *arg, tfn__response_t *resp) { settle(arg, 0, resp, NULL); }

/* ---------------------------------------------------------------------------------------------
 * Calling
 * ------------------------------------------------------------------------------------------- */

/* API names go into the request line: the same rule as a service's API names. */
static bool is_api_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!(s[n] >= 'a' && s[n] <= 'z') && !(s[n] >= 'A' && s[n] <= 'Z') &&
            !(s[n] >= '0' && s[n] <= '9') && s[n] != '_' && s[n] != '-')
            return false;
    return n > 0 && n < TFN_ERROR_NAME_MAX;
}

/* Sends the call; on failure the future is failed. */
static void start(tfn_future_t *f, tfn__dep_t *dep, const tfn_value_t *input,
                  const tfn_call_options_t *opts)
{
    tfn__request_t *req = f->req;
    if (req->cancelled) {
        fail(f, TFN_ECANCELED, "the request was cancelled before calling '%s'", f->api);
        return;
    }
    int64_t left = tfn_ctx_remaining_ms(&req->ctx);
    if (left <= 0) {
        fail(f, TFN_ETIMEOUT, "the request's deadline passed before calling '%s'", f->api);
        return;
    }
    uint32_t timeout = (uint32_t)left;
    if (opts && opts->timeout_ms && opts->timeout_ms < timeout)
        timeout = opts->timeout_ms;

    /* In-process calls and tiffin dependencies get the binary encoding; `json` ones JSON. Over a
     * unix socket the input is encoded once the connection is chosen: its large tensors go by
     * that connection's shared memory (client.c). */
    bool json = dep->json && !dep->local;
    bool shared = !json && !dep->local && dep->target.unix_path && tfn__shm_enabled();
    const char *media = json ? TFN__MEDIA_JSON : TFN__MEDIA_WIRE;
    tfn__buf_t body;
    tfn__buf_init(&body, MAX_CALL_BYTES);
    int rc = shared ? 0 : json ? tfn__json_encode(input, &body) : tfn__wire_encode(input, &body);
    if (rc != 0) {
        tfn__buf_free(&body);
        fail(f, rc, "cannot encode the input of '%s': %s", f->api, tfn_strerror(rc));
        return;
    }
    tfn__observe_call_begin(req, &f->span, &f->start_ns);
    if (dep->local) {
        tfn__dispatch_local(dep->local, f->api, &body, timeout, on_local_answer, f, &f->local);
        if (f->local)
            tfn__observe_call_local(f->local, &f->span);
        return;
    }
    tfn__buf_t head;
    tfn__buf_init(&head, 4096);
    /* Room for the head and its trace headers at once (a failure shows in the printf below). */
    (void)tfn__buf_grow(&head, 511);
    rc = tfn__buf_printf(
        &head,
        "POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nAccept: %s\r\n" TFN__DEADLINE_HEADER
        ": %u\r\n",
        f->api, dep->host, media, media, timeout);
    if (rc == 0)
        rc = tfn__observe_call_headers(req, &f->span, &head);
    if (rc == 0 && !shared)
        rc = tfn__buf_printf(&head, "Content-Length: %zu\r\n\r\n", body.len);
    bool retry = opts && opts->idempotent;
    if (rc == 0 && shared)
        rc = tfn__pool_send_value(dep->pool, &head, &body, input, timeout, retry, on_exchange, f,
                                  &f->exchange);
    else if (rc == 0)
        rc = tfn__pool_send(dep->pool, &head, &body, timeout, retry, on_exchange, f, &f->exchange);
    else {
        tfn__buf_free(&head);
        tfn__buf_free(&body);
    }
    if (rc != 0)
        fail(f, rc, "cannot send the call: %s", tfn_strerror(rc));
}

tfn_future_t *tfn_call_async(tfn_ctx_t *ctx, const char *dependency, const char *api,
                             const tfn_value_t *input, const tfn_call_options_t *options)
{
    tfn__request_t *req = ctx->request;
    tfn_future_t *f = tfn_arena_calloc(req->arena, sizeof *f);
    if (!f)
        return NULL;
    f->req = req;
    f->next = req->futures;
    req->futures = f;
    tfn__buf_init(&f->body, 0);
    f->dependency =
        dependency ? tfn_arena_strndup(req->arena, dependency, strlen(dependency)) : "(null)";
    f->api = api ? tfn_arena_strndup(req->arena, api, strlen(api)) : "(null)";
    if (!f->dependency || !f->api) {
        f->dependency = f->api = "?";
        fail(f, TFN_ENOMEM, "out of memory");
        return f;
    }
    tfn__dep_t *dep = dependency ? tfn__deps_find(req->server, dependency) : NULL;
    if (!dep)
        fail(f, TFN_ENOTFOUND, "service '%s' has no dependency '%s' (declare it in `depends`)",
             req->server->service->name, f->dependency);
    else if (!api || !is_api_name(api))
        fail(f, TFN_EINVAL, "'%s' is not an API name", f->api);
    else if (!tfn__coro_current())
        fail(f, TFN_EINVAL,
             "API '%s' calls '%s' from a thread: dependency calls need a "
             "handler that runs on the loop (TFN_RUN_ON_LOOP)",
             req->api->name, f->dependency);
    else
        start(f, dep, input, options);
    return f;
}

int tfn_await(tfn_future_t *f, tfn_value_t **output, tfn_error_t *err)
{
    if (!f) {
        if (output)
            *output = NULL;
        return tfn_error_set(err, TFN_ENOMEM, "out of memory: no future");
    }
    while (!f->done) {
        f->waiting = true;
        tfn__coro_yield(); /* resumed by settle() */
        f->waiting = false;
    }
    if (output)
        *output = f->rc == 0 ? f->output : NULL;
    if (f->rc != 0 && err)
        *err = f->error;
    return f->rc;
}

/* Abandons a call still in flight (its answer, if one comes, belongs to nobody) and fails the
 * future with `code` and `why`. Closing the call's connection is what tells the dependency. */
static void cancel_with(tfn_future_t *f, int code, const char *why)
{
    if (f->done)
        return;
    if (f->exchange)
        tfn__exchange_cancel(f->exchange);
    if (f->local)
        tfn__request_abandon(f->local);
    f->exchange = NULL;
    f->local = NULL;
    fail(f, code, "%s", why);
}

static void cancel(tfn_future_t *f, const char *why) { cancel_with(f, TFN_EINVAL, why); }

void tfn_future_free(tfn_future_t *f)
{
    if (!f)
        return;
    static const char why[] = "the future was freed (tfn_future_free)";
    cancel(f, why); /* a call still in flight */
    tfn__buf_free(&f->body);
    tfn__pool_release(f->lease);
    f->lease = NULL;
    f->output = NULL;
    if (f->rc == 0) /* it had succeeded: its answer is gone now */
        fail(f, TFN_EINVAL, why);
}

int tfn_await_all(tfn_future_t *const *futures, size_t n)
{
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = tfn_await(futures[i], NULL, NULL);
        if (rc != 0 && first == 0)
            first = rc;
    }
    return first;
}

int tfn_call(tfn_ctx_t *ctx, const char *dependency, const char *api, const tfn_value_t *input,
             tfn_value_t **output, tfn_error_t *err)
{
    return tfn_await(tfn_call_async(ctx, dependency, api, input, NULL), output, err);
}

int tfn_ctx_fail_with(tfn_ctx_t *ctx, const tfn_error_t *err)
{
    tfn_error_t *mine = &ctx->request->error;
    *mine = *err;
    if (mine->code >= 0 || !strcmp(tfn_errname(mine->code), "EUNKNOWN"))
        mine->code = TFN_EDEPENDENCY;
    if (!mine->http_status)
        mine->http_status = tfn_http_status(mine->code);
    return mine->code;
}

/* ---------------------------------------------------------------------------------------------
 * Sleeping
 * ------------------------------------------------------------------------------------------- */

/* A sleep in progress: its timer, and where tfn_sleep finds how it ended. Heap, not the
 * handler's frame: the timer's close outlives the sleep. */
typedef struct tfn__nap {
    uv_timer_t timer;
    tfn__request_t *req;
    int *result; /* in the sleeping handler's frame; NULL once it has been woken */
} nap_t;

static void on_nap_closed(uv_handle_t *handle) { free(handle->data); }

/* Ends the sleep with `rc` and resumes the handler. */
static void nap_wake(nap_t *nap, int rc)
{
    tfn__request_t *req = nap->req;
    *nap->result = rc;
    nap->result = NULL;
    req->nap = NULL;
    uv_timer_stop(&nap->timer);
    uv_close((uv_handle_t *)&nap->timer, on_nap_closed);
    tfn__request_resume(req);
}

static void on_nap_over(uv_timer_t *timer) { nap_wake(timer->data, 0); }

int tfn_sleep(tfn_ctx_t *ctx, uint32_t ms)
{
    tfn__request_t *req = ctx->request;
    if (!tfn__coro_current())
        return tfn_error_set(NULL, TFN_EINVAL, NULL);
    if (req->cancelled)
        return TFN_ECANCELED;
    int64_t left = tfn_ctx_remaining_ms(ctx);
    if (left <= 0)
        return TFN_ETIMEOUT;
    /* Cut at the deadline: the request is over then, and the sleep says so. */
    bool cut = (int64_t)ms >= left;
    nap_t *nap = malloc(sizeof *nap);
    if (!nap)
        return TFN_ENOMEM;
    int result = 0;
    nap->req = req;
    nap->result = &result;
    req->nap = nap;
    uv_timer_init(req->server->loop, &nap->timer);
    nap->timer.data = nap;
    uv_timer_start(&nap->timer, on_nap_over, cut ? (uint64_t)left : ms, 0);
    tfn__coro_yield(); /* resumed by nap_wake: the timer, or the request's cancellation */
    return result == 0 && cut ? TFN_ETIMEOUT : result;
}

/* ---------------------------------------------------------------------------------------------
 * The end of the caller
 * ------------------------------------------------------------------------------------------- */

void tfn__futures_cancel(tfn__request_t *req)
{
    for (tfn_future_t *f = req->futures; f; f = f->next)
        cancel(f, "abandoned: the handler returned without awaiting it");
}

void tfn__futures_cancel_request(tfn__request_t *req)
{
    bool resume = false;
    for (tfn_future_t *f = req->futures; f; f = f->next) {
        resume |= f->waiting && !f->done;
        cancel_with(f, TFN_ECANCELED,
                    "cancelled: the request's caller went away or its deadline "
                    "passed");
    }
    if (req->nap) /* the handler sleeps: it wakes now, and its sleep says why */
        nap_wake(req->nap, TFN_ECANCELED);
    else if (resume) /* the handler is suspended in tfn_await on one of them: it sees the error */
        tfn__request_resume(req);
}

void tfn__futures_release(tfn__request_t *req)
{
    for (tfn_future_t *f = req->futures; f; f = f->next) {
        tfn__buf_free(&f->body);
        tfn__pool_release(f->lease);
        f->lease = NULL;
    }
}
