/*
 * dispatch.c — what happens to a complete HTTP request: routing, the operational endpoints, and
 * the life of an API request (decode, validate, admit, run the handler, answer).
 *
 * An API request's handler runs either as a coroutine on the loop (TFN_RUN_ON_LOOP) or on the
 * libuv thread pool (TFN_RUN_IN_THREAD). Whichever way, two independent things must both happen
 * before the request's memory can go: the handler returns, and the request is answered (or its
 * connection is gone). A timeout answers 504 early, but the request stays counted against
 * max_concurrency until its handler really returns.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "codec/codec_internal.h"
#include "server/batch_internal.h"
#include "server/server_internal.h"

/* Largest response body a handler's output may encode to. */
#define MAX_RESPONSE_BYTES ((size_t)1 << 30)

/* Is `code` one of the negative TFN_E* codes (so its meaning and status are known)? */
static bool is_error_code(int code) { return code < 0 && strcmp(tfn_errname(code), "EUNKNOWN"); }

/* ---------------------------------------------------------------------------------------------
 * API requests
 * ------------------------------------------------------------------------------------------- */

static const tfn_api_t *find_api(const tfn_service_t *svc, const char *name)
{
    for (const tfn_api_t *api = svc->apis; api->name; api++)
        if (strcmp(api->name, name) == 0)
            return api;
    return NULL;
}

/* "application/json; charset=utf-8" -> matches "application/json". */
static bool media_is(const char *header, const char *media)
{
    size_t n = strlen(media);
    if (strncasecmp(header, media, n) != 0)
        return false;
    char next = header[n];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* Does an Accept header list the binary media type? (Quality values are not weighed: a client
 * that names it at all speaks it.) */
static bool accepts_wire(const char *accept)
{
    for (const char *p = accept; (p = strcasestr(p, TFN__MEDIA_WIRE)); p += 1) {
        if (p == accept || p[-1] == ' ' || p[-1] == ',')
            return true;
    }
    return false;
}

static void on_timer_closed(uv_handle_t *handle)
{
    tfn__request_t *req = handle->data;
    const tfn__server_hooks_t *hooks = req->server->config.hooks;
    if (hooks && hooks->request_free)
        hooks->request_free(req);
    tfn__buf_free(&req->body);
    tfn__shm_region_unref(req->shm.own); /* its input may have pointed into them */
    tfn__shm_region_unref(req->shm.peer);
    tfn_arena_free(req->arena); /* req itself lives in its arena */
}

/* Does someone still wait for this request's answer: a connection or a caller in-process? */
static bool awaits_answer(const tfn__request_t *req) { return req->conn || req->sink; }

/* Frees the request once its handler has returned and it needs no answer any more. */
static void request_maybe_free(tfn__request_t *req)
{
    if (req->handler_running || req->queued || awaits_answer(req) ||
        uv_is_closing((uv_handle_t *)&req->timer))
        return;
    if (req->coro) {
        tfn__coro_free(req->coro);
        req->coro = NULL;
    }
    uv_close((uv_handle_t *)&req->timer, on_timer_closed);
}

/* Nobody wants the answer any more: tell the handler (tfn_ctx_cancelled), drop a thread handler
 * that has not started yet, and let the layers above cancel the calls still in flight (which
 * closes their connections: the dependencies see their caller go, and cancel in turn). A queued
 * request is dropped by start_queued. */
static void request_cancel(tfn__request_t *req)
{
    if (req->cancelled)
        return;
    __atomic_store_n(&req->cancelled, true, __ATOMIC_RELAXED);
    if (req->handler_running && req->api->run == TFN_RUN_IN_THREAD)
        uv_cancel((uv_req_t *)&req->work); /* only if no thread has taken it: work_done says */
    const tfn__server_hooks_t *hooks = req->server->config.hooks;
    if (req->handler_running && hooks && hooks->request_cancelled && !tfn__coro_current())
        hooks->request_cancelled(req);
}

bool tfn__request_awaited(const tfn__request_t *req) { return awaits_answer(req); }

void tfn__request_release(tfn__request_t *carrier) { request_maybe_free(carrier); }

void tfn__request_detach(tfn__request_t *req)
{
    req->conn = NULL;
    if (req->batch_queued)
        tfn__batch_member_gone(req);
    request_cancel(req);
    request_maybe_free(req);
}

void tfn__request_abandon(tfn__request_t *req)
{
    req->sink = NULL;
    if (req->batch_queued)
        tfn__batch_member_gone(req);
    request_cancel(req);
    request_maybe_free(req);
}

/* Hands the answer to whoever waits for it: the connection, or the in-process caller. `body`
 * is taken. Afterwards the request awaits no answer. */
static void deliver_with(tfn__request_t *req, int status, const char *content_type,
                         tfn__buf_t *body, const char *extra)
{
    tfn__conn_t *conn = req->conn;
    tfn__sink_fn sink = req->sink;
    /* traceparent and Server-Timing (observe.c), then a protocol's own (at most 255 bytes) */
    char headers[TFN__OBSERVE_HEADERS + 256];
    size_t nheaders = tfn__observe_end(req, status, headers, TFN__OBSERVE_HEADERS);
    if (extra)
        nheaders += (size_t)snprintf(headers + nheaders, sizeof headers - nheaders, "%s", extra);
    req->conn = NULL;
    req->sink = NULL;
    req->responded = true;
    if (conn) {
        conn->active = NULL;
        tfn__conn_respond_buf(conn, status, content_type, body, req->keep_alive,
                              nheaders ? headers : NULL);
    } else if (sink) {
        tfn__response_t resp = {.status = status, .body = *body};
        snprintf(resp.content_type, sizeof resp.content_type, "%s", content_type);
        tfn__buf_init(body, 0);
        sink(req->sink_arg, &resp);
        tfn__buf_free(&resp.body);
    } else {
        tfn__buf_free(body);
    }
}

static void deliver(tfn__request_t *req, int status, const char *content_type, tfn__buf_t *body)
{
    deliver_with(req, status, content_type, body, NULL);
}

/* Answers with req->error, naming this service and API where the error does not already. */
static void deliver_error(tfn__request_t *req)
{
    tfn_error_t *err = &req->error;
    if (!err->service[0])
        snprintf(err->service, sizeof err->service, "%s", req->server->service->name);
    if (!err->api[0])
        snprintf(err->api, sizeof err->api, "%s", req->api->name);
    tfn__buf_t body;
    tfn__buf_init(&body, 4096);
    if (tfn__error_json(err, &body) != 0)
        body.len = 0; /* cannot happen with a 4 KiB limit and bounded members */
    int status = err->http_status ? err->http_status : tfn_http_status(err->code);
    deliver(req, status, TFN__MEDIA_JSON, &body);
}

/* Answers 504: the request's deadline has passed. */
static void answer_timeout(tfn__request_t *req)
{
    tfn_error_set(&req->error, TFN_ETIMEOUT, "API '%s' did not finish within %u ms", req->api->name,
                  req->timeout_ms);
    deliver_error(req);
}

static void on_deadline(uv_timer_t *timer)
{
    tfn__request_t *req = timer->data;
    bool awaited = awaits_answer(req);
    if (awaited && !tfn__stream_deadline(req))
        answer_timeout(req);
    if (req->batch_queued) /* it will not be run: its batch need not wait for it */
        tfn__batch_member_gone(req);
    if (awaited) /* answered, too late: whatever it still does is for nobody */
        request_cancel(req);
}

/* Sends the answer of a request whose handler has returned. */
static void answer(tfn__request_t *req)
{
    uv_timer_stop(&req->timer);
    if (req->api->stream && tfn__stream_answer(req)) /* stream.c ends what began */
        return;
    /* A handler computing on the loop past its deadline kept the timer from firing: it is late
     * all the same, and its client was promised an answer within the timeout. */
    if (tfn__now_ms() >= req->deadline_ms) { /* as tfn_ctx_remaining_ms == 0 */
        answer_timeout(req);
        return;
    }
    tfn_error_t *err = &req->error;
    int rc = req->rc;
    if (rc == 0)
        rc = tfn__validate_output(req->api->output, req->output, err);
    if (rc == 0) {
        tfn__buf_t body;
        tfn__buf_init(&body, MAX_RESPONSE_BYTES);
        if (req->codec) { /* a protocol's own encoding */
            char media[64] = TFN__MEDIA_JSON, headers[256] = "";
            rc = req->codec->encode(req, req->codec_state, req->output, &body, media, headers, err);
            if (rc == 0) {
                deliver_with(req, 200, media, &body, headers[0] ? headers : NULL);
                return;
            }
            tfn__buf_free(&body);
            deliver_error(req);
            return;
        }
        char shm_header[64];
        shm_header[0] = '\0';
        rc = req->wire_response ? tfn__conn_shm_encode(req->conn, req, req->output, &body,
                                                       shm_header, sizeof shm_header)
                                : tfn__json_encode(req->output, &body);
        if (rc == 0) {
            deliver_with(req, 200, req->wire_response ? TFN__MEDIA_WIRE : TFN__MEDIA_JSON, &body,
                         shm_header[0] ? shm_header : NULL);
            return;
        }
        tfn__buf_free(&body);
        tfn_error_set(err, rc, "cannot encode the output of API '%s': %s", req->api->name,
                      tfn_strerror(rc));
    } else if (err->code != rc || !err->message[0]) {
        /* The handler failed without tfn_ctx_fail, or with a code that is not ours. */
        int code = is_error_code(rc) ? rc : TFN_EHANDLER;
        tfn_error_set(err, code, "API '%s' failed: %s", req->api->name, tfn_strerror(code));
    }
    deliver_error(req);
}

static void start_handler(tfn__request_t *req);
static void start_queued(tfn__server_t *server);

/* The handler has returned (on the loop thread, whichever way it ran). */
static void handler_finished(tfn__request_t *req)
{
    tfn__server_t *server = req->server;
    req->handler_running = false;
    if (req->batch) { /* a batch's carrier: its members are answered, it is not */
        if (server->config.hooks && server->config.hooks->request_returned)
            server->config.hooks->request_returned(req);
        tfn__batch_done(req);
        request_maybe_free(req);
        return;
    }
    server->in_flight--;
    tfn__observe_load(server);
    if (server->config.hooks && server->config.hooks->request_returned)
        server->config.hooks->request_returned(req);
    if (awaits_answer(req))
        answer(req);
    request_maybe_free(req);
    start_queued(server);
    tfn__tasks_kick(server); /* waiting tasks take the slots requests left (tasks.c) */
    if (server->in_flight == 0)
        tfn__server_idle(server);
    if (server->draining)
        tfn__server_maybe_finish(server);
}

static void call_handler(tfn__request_t *req)
{
    req->rc = req->api->handler(&req->ctx, req->input, &req->output);
    if (req->rc == 0 && !req->output && !req->api->stream)
        req->rc =
            tfn_ctx_fail(&req->ctx, TFN_EOUTPUT, "API '%s' returned no output", req->api->name);
}

static void coro_main(void *arg) { call_handler(arg); }
static void work_main(uv_work_t *work) { call_handler(work->data); }
static void work_done(uv_work_t *work, int status)
{
    tfn__request_t *req = work->data;
    if (status == UV_ECANCELED) /* cancelled before a thread took it: it never ran */
        req->rc = tfn_ctx_fail(&req->ctx, TFN_ECANCELED, "cancelled before it started");
    handler_finished(req);
}

void tfn__request_resume(tfn__request_t *req)
{
    if (tfn__coro_resume(req->coro) == 0)
        handler_finished(req);
    /* else: suspended again, awaiting something else. */
}

/* Arms the request's deadline, once: from its arrival, whether it waits in the queue or not. */
static void arm_deadline(tfn__request_t *req)
{
    uint64_t now = tfn__now_ms();
    if (!req->deadline_ms)
        req->deadline_ms = now + req->timeout_ms;
    uv_timer_start(&req->timer, on_deadline, req->deadline_ms > now ? req->deadline_ms - now : 0,
                   0);
}

void tfn__request_finished(tfn__request_t *req) { handler_finished(req); }

/* Runs the handler where the API says; when it cannot start, finishes the request at once. */
static void run_handler(tfn__request_t *req)
{
    tfn__server_t *server = req->server;
    if (req->api->run == TFN_RUN_IN_THREAD) {
        req->work.data = req;
        if (uv_queue_work(server->loop, &req->work, work_main, work_done) == 0)
            return;
        req->rc = tfn_ctx_fail(&req->ctx, TFN_ENOMEM, "cannot queue the handler");
        handler_finished(req);
        return;
    }
    req->coro = tfn__coro_new(server->coros, coro_main, req);
    if (!req->coro) {
        req->rc = tfn_ctx_fail(&req->ctx, TFN_ENOMEM, "cannot allocate a coroutine stack");
        handler_finished(req);
        return;
    }
    tfn__request_resume(req);
}

void tfn__request_run(tfn__request_t *carrier)
{
    carrier->handler_running = true;
    run_handler(carrier);
}

/* A request's handler starts: counted in in_flight, its deadline armed. A request of a batched
 * API joins its queue instead; its batch's handler stands for its own (batch.c). */
static void start_handler(tfn__request_t *req)
{
    tfn__server_t *server = req->server;
    req->handler_running = true;
    server->in_flight++;
    tfn__observe_load(server);
    arm_deadline(req);
    if (req->batch_rows > 0) {
        tfn__batch_join(req);
        return;
    }
    run_handler(req);
}

/* Starts the handler now, or queues the request until a handler slot frees up (admission has
 * made sure there is room in the queue). */
static void run_or_queue(tfn__request_t *req)
{
    tfn__server_t *server = req->server;
    if (server->in_flight < server->config.traffic.max_concurrency) {
        start_handler(req);
        return;
    }
    req->queued = true;
    req->queue_next = NULL;
    if (server->queue_tail)
        server->queue_tail->queue_next = req;
    else
        server->queue_head = req;
    server->queue_tail = req;
    server->queued++;
    tfn__observe_load(server);
    arm_deadline(req); /* waiting counts: past the deadline it is answered 504 in the queue */
}

/* Hands free handler slots to queued requests, first come first served. Requests answered
 * meanwhile (deadline passed in the queue, client gone) are dropped. */
static void start_queued(tfn__server_t *server)
{
    while (server->queue_head && server->in_flight < server->config.traffic.max_concurrency) {
        tfn__request_t *req = server->queue_head;
        server->queue_head = req->queue_next;
        if (!server->queue_head)
            server->queue_tail = NULL;
        server->queued--;
        req->queued = false;
        tfn__observe_dequeued(req);
        if (awaits_answer(req))
            start_handler(req);
        else
            request_maybe_free(req);
    }
}

/* The binary encoding, whose tensors may point into the connection's shared memory. */
static int decode_wire(tfn__request_t *req, tfn_value_t **input)
{
    tfn__buf_t *body = &req->body;
    tfn__conn_t *conn = req->conn;
    tfn__shm_use_t use;
    int rc = tfn__wire_decode_shm(req->arena, body->data ? body->data : "", body->len,
                                  conn ? &conn->shm : NULL, false, &use, input, &req->error);
    if (rc == TFN_EBADWIRE && conn && conn->shm_error.code) /* the region was refused: why */
        return tfn_error_set(&req->error, conn->shm_error.code, "%s", conn->shm_error.message);
    if (rc)
        return rc;
    size_t max = req->server->config.traffic.max_body_bytes;
    if (use.bytes > max || body->len > max - use.bytes)
        return tfn_error_set(&req->error, TFN_ETOOBIG,
                             "request of %zu bytes with its shared memory (at most %zu)",
                             body->len + use.bytes, max);
    /* The regions stay mapped while the input points into them, whatever the connection does */
    if (use.own)
        req->shm.own = tfn__shm_region_ref(conn->shm.own);
    if (use.peer)
        req->shm.peer = tfn__shm_region_ref(conn->shm.peer);
    return 0;
}

/* Decodes the body as the request's media type says. An empty body without a media type is an
 * empty object, so APIs without inputs can be called with a bare POST. */
static int decode_body(tfn__request_t *req, const char *content_type, tfn_value_t **input)
{
    tfn__buf_t *body = &req->body;
    if (body->len == 0 && content_type[0] == '\0') {
        *input = tfn_object(req->arena);
        return *input ? 0 : tfn_error_set(&req->error, TFN_ENOMEM, "out of memory");
    }
    if (media_is(content_type, TFN__MEDIA_JSON)) { /* declared tensors straight to their buffer */
        int rc = tfn__json_decode_fields(req->arena, body->data ? body->data : "", body->len,
                                         req->api->inputs, input, &req->error);
        tfn__buf_free(body); /* nothing decoded from JSON points into its text: free it now */
        return rc;
    }
    if (media_is(content_type, TFN__MEDIA_WIRE))
        return decode_wire(req, input);
    return tfn_error_set(&req->error, TFN_EMEDIATYPE,
                         "Content-Type '%s' is not supported: send application/json or "
                         "application/vnd.tiffin",
                         content_type[0] ? content_type : "(none)");
}

/* Why the server cannot take a request now (0: it can), with a message in *err. */
static int admission(tfn__server_t *server, tfn_error_t *err)
{
    if (server->draining)
        return tfn_error_set(err, TFN_ESHUTDOWN, "service '%s' is shutting down",
                             server->service->name);
    if (!server->ready)
        return tfn_error_set(err, TFN_EUNAVAIL, "service '%s' is not ready yet",
                             server->service->name);
    const tfn_traffic_t *t = &server->config.traffic;
    if (server->in_flight >= t->max_concurrency && server->queued >= t->max_queue)
        return tfn_error_set(err, TFN_EBUSY,
                             "service '%s' is at its limit of %u concurrent "
                             "requests (and %u waiting)",
                             server->service->name, t->max_concurrency, t->max_queue);
    return 0;
}

/* A new request for `api` owning `body` (moved); NULL when out of memory. The handler's deadline
 * is the service's timeout, or what the caller has left (`caller_ms`, 0: no limit) if less. */
static tfn__request_t *request_new(tfn__server_t *server, const tfn_api_t *api, tfn__buf_t *body,
                                   uint32_t caller_ms)
{
    /* The arena holds the decoded input; JSON text decodes to at most a few times its size. */
    size_t arena_max = (size_t)server->config.traffic.max_body_bytes * 4 + (64u << 20);
    tfn_arena_t *arena = tfn_arena_new(arena_max);
    tfn__request_t *req = arena ? tfn_arena_calloc(arena, sizeof *req) : NULL;
    if (!req) {
        tfn_arena_free(arena);
        return NULL;
    }
    req->server = server;
    req->arena = arena;
    req->api = api;
    req->ctx.request = req;
    req->timeout_ms = server->config.traffic.timeout_ms;
    if (caller_ms && caller_ms < req->timeout_ms)
        req->timeout_ms = caller_ms;
    req->body = *body; /* moved: binary tensors will point into it */
    tfn__buf_init(body, body->max);
    uv_timer_init(server->loop, &req->timer);
    req->timer.data = req;
    return req;
}

tfn__request_t *tfn__request_new_carrier(tfn__server_t *server, const tfn_api_t *api,
                                         size_t arena_max)
{
    tfn_arena_t *arena = tfn_arena_new(arena_max);
    tfn__request_t *req = arena ? tfn_arena_calloc(arena, sizeof *req) : NULL;
    if (!req) {
        tfn_arena_free(arena);
        return NULL;
    }
    req->server = server;
    req->arena = arena;
    req->api = api;
    req->ctx.request = req;
    req->timeout_ms = server->config.traffic.timeout_ms;
    tfn__buf_init(&req->body, 0);
    uv_timer_init(server->loop, &req->timer);
    req->timer.data = req;
    return req;
}

/* Decodes and validates the request's input; answers the error and frees it on failure. */
static bool request_prepare(tfn__request_t *req, const char *content_type)
{
    tfn_value_t *decoded = NULL;
    int rc = req->codec
                 ? req->codec->decode(req, req->codec_state, req->body.data ? req->body.data : "",
                                      req->body.len, &decoded, &req->error)
                 : decode_body(req, content_type, &decoded);
    if (rc == 0)
        rc = tfn__validate_input(req->arena, req->api->inputs, decoded, &req->input, &req->error);
    if (rc == 0 && tfn__batch_enabled(req->server, req->api))
        rc = tfn__batch_check(req); /* bad rows never join a batch */
    if (rc == 0)
        return true;
    if (req->error.code != rc)
        tfn_error_set(&req->error, rc, "%s", tfn_strerror(rc));
    deliver_error(req);
    request_maybe_free(req);
    return false;
}

tfn_arena_t *tfn__request_arena(tfn__request_t *req) { return req->arena; }

void tfn__dispatch_api_with(tfn__conn_t *conn, const tfn_api_t *api, tfn__buf_t *body,
                            bool keep_alive, const tfn__codec_t *codec, const void *state,
                            size_t state_size)
{
    tfn__server_t *server = conn->server;
    tfn_error_t err;
    int rc = admission(server, &err);
    if (rc != 0) {
        snprintf(err.service, sizeof err.service, "%s", server->service->name);
        bool retry_later = rc == TFN_EBUSY || rc == TFN_EUNAVAIL;
        char headers[TFN__OBSERVE_HEADERS];
        size_t n = tfn__observe_refused(conn, api, tfn_http_status(rc), headers, sizeof headers);
        snprintf(headers + n, sizeof headers - n, "%s", retry_later ? "Retry-After: 1\r\n" : "");
        tfn__conn_respond_error(conn, &err, rc == TFN_ESHUTDOWN ? false : keep_alive,
                                headers[0] ? headers : NULL);
        return;
    }
    tfn__request_t *req = request_new(server, api, body, conn->deadline_ms);
    if (!req) {
        tfn__conn_respond_errorf(conn, false, NULL, TFN_ENOMEM, "out of memory");
        return;
    }
    req->keep_alive = keep_alive;
    req->wire_response = accepts_wire(conn->accept);
    req->shm_ok = conn->shm_announced;
    tfn__observe_begin(req, conn);
    req->conn = conn;
    conn->active = req;
    req->codec = codec;
    if (state_size && !(req->codec_state = tfn_arena_alloc(req->arena, state_size))) {
        tfn_error_set(&req->error, TFN_ENOMEM, "out of memory");
        deliver_error(req);
        request_maybe_free(req);
        return;
    }
    if (state_size)
        memcpy(req->codec_state, state, state_size);
    if (request_prepare(req, conn->content_type))
        run_or_queue(req);
}

static void dispatch_api(tfn__conn_t *conn, const tfn_api_t *api, tfn__buf_t *body, bool keep_alive)
{
    tfn__dispatch_api_with(conn, api, body, keep_alive, NULL, NULL, 0);
}

/* A local request waits for the loop before it starts: it was made from inside a caller's
 * coroutine, and coroutines are resumed only from the loop. */
static void on_local_start(uv_timer_t *timer)
{
    tfn__request_t *req = timer->data;
    if (!awaits_answer(req)) { /* abandoned before it started */
        request_maybe_free(req);
        return;
    }
    tfn_error_t *err = &req->error;
    if (err->code != 0 || admission(req->server, err) != 0) { /* no such API, or not now */
        deliver_error(req);
        request_maybe_free(req);
        return;
    }
    if (request_prepare(req, TFN__MEDIA_WIRE))
        run_or_queue(req);
}

void tfn__dispatch_local(tfn__server_t *server, const char *api_name, tfn__buf_t *body,
                         uint32_t timeout_ms, tfn__sink_fn sink, void *arg, tfn__request_t **out)
{
    static const tfn_api_t missing = {.name = "?"};
    const tfn_api_t *api = find_api(server->service, api_name);
    tfn__request_t *req = request_new(server, api ? api : &missing, body, timeout_ms);
    *out = req;
    if (!req) { /* out of memory: the one case answered at once (the caller copes, call.c) */
        tfn__response_t resp = {.status = 500};
        snprintf(resp.content_type, sizeof resp.content_type, "%s", TFN__MEDIA_JSON);
        tfn__buf_init(&resp.body, 0);
        sink(arg, &resp);
        return;
    }
    req->sink = sink;
    req->sink_arg = arg;
    req->wire_response = true;
    tfn__observe_begin(req, NULL);
    if (!api)
        tfn_error_set(&req->error, TFN_ENOTFOUND, "service '%s' has no API '%s'",
                      server->service->name, api_name);
    uv_timer_start(&req->timer, on_local_start, 0, 0);
}

int tfn__dispatch_task(tfn__server_t *server, const tfn_api_t *api, tfn__buf_t *body,
                       tfn__sink_fn sink, void *arg, tfn__request_t **out)
{
    tfn__request_t *req = request_new(server, api, body, 0);
    *out = req;
    if (!req)
        return TFN_ENOMEM;
    req->sink = sink;
    req->sink_arg = arg;
    req->wire_response = true;
    tfn__observe_begin(req, NULL);
    if (request_prepare(req, TFN__MEDIA_WIRE)) /* else answered (the sink ran) and freed */
        start_handler(req);
    return 0;
}

void tfn__dispatch(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                   bool keep_alive)
{
    tfn__server_t *server = conn->server;
    if (!tfn__http_method_known(method)) {
        tfn__conn_respond_errorf(conn, keep_alive, NULL, TFN_ENOTIMPL,
                                 "method %s is not implemented", http_method_str(method));
        body->len = 0;
        return;
    }
    for (const tfn__route_t *r = server->config.routes; r && r->path; r++) {
        bool match =
            r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0;
        if (match && r->serve(conn, method, path, body, keep_alive)) {
            body->len = 0;
            return;
        }
    }
    if (tfn__serve_ops(conn, method, path, keep_alive)) { /* /livez, /healthz, ... (ops.c) */
        body->len = 0;
        return;
    }
    if (tfn__tasks_route(conn, method, path, body, keep_alive)) /* /{api}/submit ... */
        return;
    const tfn_api_t *api = path[0] == '/' ? find_api(server->service, path + 1) : NULL;
    if (!api) {
        tfn__conn_respond_errorf(conn, keep_alive, NULL, TFN_ENOTFOUND,
                                 "no API or endpoint at '%s' (see GET /docs.json)", path);
    } else if (method != HTTP_POST) {
        tfn__conn_respond_errorf(conn, keep_alive, "Allow: POST\r\n", TFN_EMETHOD,
                                 "API '%s' accepts POST, not %s", api->name,
                                 http_method_str(method));
    } else {
        dispatch_api(conn, api, body, keep_alive);
        return;
    }
    body->len = 0;
}

/* ---------------------------------------------------------------------------------------------
 * The handler's view: tfn_ctx_*
 * ------------------------------------------------------------------------------------------- */

tfn_arena_t *tfn_ctx_arena(tfn_ctx_t *ctx) { return ctx->request->arena; }

void *tfn_ctx_state(tfn_ctx_t *ctx) { return ctx->request->server->worker.state; }

const char *tfn_ctx_api(const tfn_ctx_t *ctx) { return ctx->request->api->name; }

int64_t tfn_ctx_remaining_ms(const tfn_ctx_t *ctx)
{
    uint64_t now = tfn__now_ms(), deadline = ctx->request->deadline_ms;
    return deadline > now ? (int64_t)(deadline - now) : 0;
}

bool tfn_ctx_cancelled(const tfn_ctx_t *ctx)
{
    return __atomic_load_n(&ctx->request->cancelled, __ATOMIC_RELAXED) ||
           tfn_ctx_remaining_ms(ctx) == 0;
}

int tfn_ctx_fail(tfn_ctx_t *ctx, int code, const char *fmt, ...)
{
    if (!is_error_code(code))
        code = TFN_EHANDLER;
    tfn_error_t *err = &ctx->request->error;
    tfn_error_set(err, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}
