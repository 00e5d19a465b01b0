/*
 * observe.c — a worker's metrics, trace context and access log: the glue between the server's
 * requests (dispatch.c) and calls (compose/call.c) and lib/observe, which knows nothing of them.
 *
 * Per request, with everything on: two clock reads, three relaxed atomic additions into the
 * worker's metrics slot, the caller's traceparent parsed (a tiffin caller's only when needed:
 * trace_of) and a span id drawn, and the traceparent header out to callers that are not tiffin
 * (plus Server-Timing when the request called dependencies); what each costs:
 * bench/observe/instructions.sh. `TFN_OBSERVE=off` turns metrics and trace headers off (for
 * measuring what they cost); the access log is on only with --access-log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec/codec_internal.h"
#include "server/server_internal.h"

/* A dependency call a request made, for its Server-Timing header. */
typedef struct tfn__call_timing {
    const char *dependency, *api; /* the future's, in the request's arena */
    uint64_t ns;
} tfn__call_timing_t;

#define MAX_TIMINGS   16 /* calls named in Server-Timing; more are left out of the header */
#define FIRST_TIMINGS 4  /* room made at the first call */

static bool observing(const tfn__server_t *server)
{
    return server->slot || server->tracing || server->access_log_fd >= 0;
}

/* ---------------------------------------------------------------------------------------------
 * Setting up
 * ------------------------------------------------------------------------------------------- */

int tfn__observe_open(tfn__server_t *server, tfn_error_t *err)
{
    const tfn__serve_config_t *cfg = &server->config;
    server->access_log_fd = -1;
    if (cfg->access_log) {
        server->access_log_fd = tfn__access_log_open(cfg->access_log);
        if (server->access_log_fd < 0)
            return tfn_error_set(err, TFN_EINVAL, "cannot open the access log '%s': %s",
                                 cfg->access_log, strerror(errno));
    }
    const char *env = getenv("TFN_OBSERVE");
    bool off = env && (!strcmp(env, "off") || !strcmp(env, "0"));
    if (cfg->metrics_fd > 0) { /* the supervisor's region: map it, the descriptor goes */
        if (!off)
            server->metrics = tfn__metrics_region_map(cfg->metrics_fd);
        server->slot = server->metrics ? tfn__metrics_slot(server->metrics, cfg->metrics_slot) : 0;
        if (server->metrics && !server->slot) {
            tfn__log("warn",
                     "metrics slot %u is not in the supervisor's region: this worker "
                     "counts on its own",
                     cfg->metrics_slot);
            tfn__metrics_region_free(server->metrics);
            server->metrics = NULL;
        }
        close(cfg->metrics_fd);
        server->config.metrics_fd = 0;
    }
    if (off)
        return 0;
    server->tracing = true;
    if (!server->metrics) {
        server->metrics = tfn__metrics_region_new(1, false);
        server->slot = server->metrics ? tfn__metrics_slot(server->metrics, 0) : NULL;
        if (!server->slot)
            return tfn_error_set(err, TFN_ENOMEM, "out of memory for the metrics");
    }
    tfn__metrics_slot_name(server->slot, server->service->name, cfg->worker_index);
    for (unsigned i = 0; server->service->apis[i].name; i++)
        tfn__metrics_slot_api(server->slot, i, server->service->apis[i].name);
    tfn__observe_load(server);
    return 0;
}

void tfn__observe_close(tfn__server_t *server)
{
    tfn__metrics_region_free(server->metrics);
    server->metrics = NULL;
    server->slot = NULL;
    if (server->access_log_fd >= 0)
        close(server->access_log_fd);
    server->access_log_fd = -1;
}

void tfn__observe_load(tfn__server_t *server)
{
    if (server->slot)
        tfn__metrics_load(server->slot, server->config.metrics_gen, server->in_flight,
                          server->queued);
}

/* ---------------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------------- */

static unsigned api_index(const tfn_service_t *svc, const tfn_api_t *api)
{
    unsigned i = 0;
    for (; svc->apis[i].name; i++)
        if (&svc->apis[i] == api)
            return i;
    return TFN__METRICS_MAX_APIS; /* not one of ours ("?", a local call to no such API) */
}

/* The trace context of a request from `conn`: its caller's, else a new trace. */
static void begin_ids(const tfn__server_t *server, const tfn__conn_t *conn, tfn__trace_ids_t *ids)
{
    bool given = server->tracing && conn && conn->traceparent[0] && !conn->traceparent_bad;
    tfn__trace_begin(ids, given ? conn->traceparent : NULL, given ? strlen(conn->traceparent) : 0);
}

/* The request's span. A tiffin caller's traceparent is parsed here, on first use: a service that
 * makes no calls and keeps no access log never needs the ids of a request from tiffin (its
 * answer carries none), and most requests between services are such. */
static const tfn__trace_ids_t *trace_of(tfn__request_t *req)
{
    if (req->traceparent) {
        tfn__trace_begin(&req->trace, req->traceparent, strlen(req->traceparent));
        req->traceparent = NULL;
    }
    return &req->trace;
}

void tfn__observe_begin(tfn__request_t *req, const tfn__conn_t *conn)
{
    tfn__server_t *server = req->server;
    if (!observing(server))
        return;
    req->start_ns = tfn__now_ns();
    /* A tiffin caller (it sends its deadline) knows the ids already and times the call itself:
     * the answer's traceparent and Server-Timing would be bytes to write and parse for nothing. */
    req->trace_quiet = conn && conn->deadline_ms;
    if (req->trace_quiet && server->tracing && conn->traceparent[0] && !conn->traceparent_bad &&
        !conn->tracestate[0]) { /* (with a tracestate, at once: it goes only with a valid one) */
        req->traceparent =
            tfn_arena_strndup(req->arena, conn->traceparent, strlen(conn->traceparent));
        if (req->traceparent)
            return;
    }
    begin_ids(server, conn, &req->trace);
    /* tracestate only goes with the traceparent it came with (the spec). */
    if (server->tracing && conn && conn->tracestate[0] && !conn->tracestate_bad &&
        memcmp(req->trace.parent_id, "\0\0\0\0\0\0\0\0", 8) != 0 &&
        tfn__tracestate_ok(conn->tracestate, strlen(conn->tracestate)))
        req->tracestate = tfn_arena_strndup(req->arena, conn->tracestate, strlen(conn->tracestate));
}

void tfn__observe_dequeued(tfn__request_t *req)
{
    if (req->start_ns)
        req->queue_ns = tfn__now_ns() - req->start_ns;
}

static uint64_t unix_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void log_span(tfn__server_t *server, tfn__span_record_t *rec)
{
    char line[1024];
    rec->service = server->service->name;
    rec->worker = server->config.worker_index;
    rec->start_unix_us = unix_us() - rec->duration_ns / 1000;
    size_t len = tfn__span_json(rec, line, sizeof line);
    if (len)
        tfn__access_log_write(server->access_log_fd, line, len);
}

/* Appends `s` to out[*len], if it fits in `size` with a NUL after it. */
static bool put(char *out, size_t size, size_t *len, const char *s, size_t n)
{
    if (*len + n + 1 > size)
        return false;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = '\0';
    return true;
}

/* Appends `ns` as milliseconds with 3 decimals ("12.345"): no floating point, no printf (this
 * runs for every answer that made calls). */
static bool put_ms(char *out, size_t size, size_t *len, uint64_t ns)
{
    char digits[32], *p = digits + sizeof digits;
    uint64_t us = ns / 1000;
    for (int i = 0; i < 3; i++, us /= 10)
        *--p = (char)('0' + us % 10);
    *--p = '.';
    do
        *--p = (char)('0' + us % 10);
    while ((us /= 10) > 0);
    return put(out, size, len, p, (size_t)(digits + sizeof digits - p));
}

/* "traceparent: ...\r\n", and Server-Timing when there were calls. */
static size_t put_headers(const tfn__trace_ids_t *ids, const tfn__call_timing_t *t, unsigned nt,
                          uint64_t total_ns, char *out, size_t size)
{
    char tp[TFN__TRACEPARENT_LEN + 1];
    tfn__traceparent_format(tp, ids);
    size_t len = 0;
    out[0] = '\0';
    if (!put(out, size, &len, "traceparent: ", 13) ||
        !put(out, size, &len, tp, TFN__TRACEPARENT_LEN) || !put(out, size, &len, "\r\n", 2)) {
        out[0] = '\0';
        return 0;
    }
    if (!nt)
        return len;
    /* Server-Timing: each call as DEPENDENCY.API (both tokens), then the whole request. */
    size_t mark = len;
    bool ok = put(out, size, &len, "Server-Timing: ", 15);
    for (unsigned i = 0; ok && i < nt; i++) {
        size_t before = len;
        if (!put(out, size, &len, t[i].dependency, strlen(t[i].dependency)) ||
            !put(out, size, &len, ".", 1) || !put(out, size, &len, t[i].api, strlen(t[i].api)) ||
            !put(out, size, &len, ";dur=", 5) || !put_ms(out, size, &len, t[i].ns) ||
            !put(out, size, &len, ", ", 2) || len + 40 > size) {
            len = before; /* no room for this one: the header ends with the total */
            out[len] = '\0';
            break;
        }
    }
    if (!ok || !put(out, size, &len, "total;dur=", 10) || !put_ms(out, size, &len, total_ns) ||
        !put(out, size, &len, "\r\n", 2)) {
        out[mark] = '\0';
        return mark;
    }
    return len;
}

size_t tfn__observe_end(tfn__request_t *req, int status, char *headers, size_t size)
{
    tfn__server_t *server = req->server;
    headers[0] = '\0';
    if (!observing(server))
        return 0;
    uint64_t ns = tfn__now_ns() - req->start_ns;
    if (server->slot)
        tfn__metrics_request(server->slot, api_index(server->service, req->api), status, ns);
    if (server->access_log_fd >= 0) {
        tfn__span_record_t rec = {.kind = "server",
                                  .ids = trace_of(req),
                                  .api = req->api->name,
                                  .status = status,
                                  .duration_ns = ns,
                                  .queue_ns = req->queue_ns};
        log_span(server, &rec);
    }
    return server->tracing && !req->trace_quiet
               ? put_headers(trace_of(req), req->timings, req->ntimings, ns, headers, size)
               : 0;
}

size_t tfn__observe_refused(tfn__conn_t *conn, const tfn_api_t *api, int status, char *headers,
                            size_t size)
{
    tfn__server_t *server = conn->server;
    headers[0] = '\0';
    if (!observing(server))
        return 0;
    tfn__trace_ids_t ids;
    begin_ids(server, conn, &ids);
    if (server->slot)
        tfn__metrics_request(server->slot, api_index(server->service, api), status, 0);
    if (server->access_log_fd >= 0) {
        tfn__span_record_t rec = {
            .kind = "server", .ids = &ids, .api = api->name, .status = status};
        log_span(server, &rec);
    }
    return server->tracing ? put_headers(&ids, NULL, 0, 0, headers, size) : 0;
}

void tfn__serve_metrics(tfn__conn_t *conn, bool keep_alive)
{
    tfn__server_t *server = conn->server;
    tfn_error_t err;
    tfn__buf_t body;
    tfn__buf_init(&body, 64 << 20);
    int rc = server->metrics ? tfn__metrics_render(server->metrics, TFN_VERSION, &body) : 0;
    if (!server->metrics)
        tfn_error_set(&err, TFN_ENOTFOUND, "metrics are off in service '%s' (TFN_OBSERVE=off)",
                      server->service->name);
    else if (rc != 0)
        tfn_error_set(&err, rc, "cannot render the metrics: %s", tfn_strerror(rc));
    if (!server->metrics || rc != 0) {
        tfn__buf_free(&body);
        snprintf(err.service, sizeof err.service, "%s", server->service->name);
        tfn__conn_respond_error(conn, &err, keep_alive, NULL);
        return;
    }
    tfn__conn_respond_buf(conn, 200, TFN__METRICS_MEDIA, &body, keep_alive, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Dependency calls (for compose/call.c)
 * ------------------------------------------------------------------------------------------- */

void tfn__observe_call_begin(tfn__request_t *req, tfn__trace_ids_t *span, uint64_t *start_ns)
{
    if (!observing(req->server))
        return;
    tfn__trace_child(span, trace_of(req));
    *start_ns = tfn__now_ns();
}

int tfn__observe_call_headers(const tfn__request_t *req, const tfn__trace_ids_t *span,
                              tfn__buf_t *head)
{
    if (!req->server->tracing)
        return 0;
    char tp[13 + TFN__TRACEPARENT_LEN + 3] = "traceparent: ";
    tfn__traceparent_format(tp + 13, span);
    memcpy(tp + 13 + TFN__TRACEPARENT_LEN, "\r\n", 3);
    int rc = tfn__buf_append(head, tp, sizeof tp - 1);
    if (rc == 0 && req->tracestate)
        rc = tfn__buf_printf(head, "tracestate: %s\r\n", req->tracestate);
    return rc;
}

void tfn__observe_call_local(tfn__request_t *callee, const tfn__trace_ids_t *span)
{
    if (observing(callee->server))
        tfn__trace_child(&callee->trace, span);
}

void tfn__observe_call_end(tfn__request_t *req, const char *dependency, const char *api,
                           const tfn__trace_ids_t *span, uint64_t start_ns, int status)
{
    tfn__server_t *server = req->server;
    if (!observing(server) || !start_ns)
        return;
    uint64_t ns = tfn__now_ns() - start_ns;
    if (server->slot) {
        tfn__metrics_call_t *c = tfn__metrics_call_find(server->slot, dependency, api);
        if (c)
            tfn__metrics_call(c, status, ns);
    }
    if (server->access_log_fd >= 0) {
        tfn__span_record_t rec = {.kind = "client",
                                  .ids = span,
                                  .api = api,
                                  .dependency = dependency,
                                  .status = status,
                                  .duration_ns = ns};
        log_span(server, &rec);
    }
    if (!server->tracing || req->responded || req->trace_quiet)
        return;
    /* Room for FIRST_TIMINGS, then MAX_TIMINGS: most requests make a few calls, and a small
     * allocation usually fits in the arena's current chunk (a large one took a malloc). */
    unsigned n = req->ntimings;
    if (n == 0 || n == FIRST_TIMINGS) {
        tfn__call_timing_t *t =
            tfn_arena_alloc(req->arena, (n ? MAX_TIMINGS : FIRST_TIMINGS) * sizeof *req->timings);
        if (!t)
            return;
        if (n)
            memcpy(t, req->timings, n * sizeof *t);
        req->timings = t;
    }
    if (n < MAX_TIMINGS)
        req->timings[req->ntimings++] = (tfn__call_timing_t){dependency, api, ns};
}
