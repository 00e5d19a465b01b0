/*
 * deps.c — a worker's dependencies: where each one is, its connection pool, and whether it is
 * ready. A service is ready only when its dependencies are: every second (and at start) the
 * worker asks each dependency's GET /readyz, and its own /readyz names the first that is not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose/compose_internal.h"
#include "compose/stream_call_internal.h"
#include "compose/graph_internal.h"

#define PROBE_EVERY_MS   1000
#define PROBE_TIMEOUT_MS 1000

int tfn__deps_open(tfn__server_t *server, tfn_error_t *err)
{
    const tfn_service_t *svc = server->service;
    const tfn__serve_config_t *config = &server->config;
    size_t n = 0;
    TFN__FOR_EACH_DEPENDENCY(d, svc)
        n++;
    for (size_t i = 0; i < config->ndepends; i++) {
        const char *eq = strchr(config->depends[i], '=');
        if (!eq ||
            !tfn__find_dependency(svc, config->depends[i], (size_t)(eq - config->depends[i])))
            return tfn_error_set(err, TFN_EINVAL,
                                 "--depends %s: service '%s' has no such "
                                 "dependency",
                                 config->depends[i], svc->name);
    }
    if (n == 0)
        return 0;
    server->deps = calloc(n, sizeof *server->deps);
    if (!server->deps)
        return tfn_error_set(err, TFN_ENOMEM, "out of memory");
    server->ndeps = n;
    for (size_t i = 0; i < n; i++) {
        const tfn_dependency_t *d = &svc->depends[i];
        tfn__dep_t *dep = &server->deps[i];
        dep->name = tfn__dependency_name(d);
        dep->service = d->service;
        dep->json = d->json;
        snprintf(dep->why, sizeof dep->why, "not asked yet");
        if (server->local_deps && d->service) /* a test graph links its instances itself */
            continue;
        const char *url = tfn__depends_lookup(config->depends, config->ndepends, dep->name);
        if (!url)
            url = d->url;
        if (!url)
            return tfn_error_set(err, TFN_EINVAL,
                                 "service '%s': dependency '%s' has no address: run the whole "
                                 "graph with `serve`, or pass --depends %s=URL",
                                 svc->name, dep->name, dep->name);
        if (strlen(url) >= sizeof dep->url)
            return tfn_error_set(err, TFN_EINVAL, "dependency '%s': URL too long", dep->name);
        strcpy(dep->url, url);
        int rc = tfn__target_parse(dep->url, &dep->target, err);
        if (rc != 0)
            return rc;
        if (dep->target.unix_path)
            snprintf(dep->host, sizeof dep->host, "localhost");
        else
            snprintf(dep->host, sizeof dep->host, "%s:%d", dep->target.host, dep->target.port);
        dep->pool = tfn__pool_new(server->loop, &dep->target, dep->name);
        if (!dep->pool)
            return tfn_error_set(err, TFN_EINVAL, "dependency '%s': bad address '%s'", dep->name,
                                 url);
    }
    return 0;
}

tfn__dep_t *tfn__deps_find(tfn__server_t *server, const char *name)
{
    for (size_t i = 0; i < server->ndeps; i++)
        if (strcmp(server->deps[i].name, name) == 0)
            return &server->deps[i];
    return NULL;
}

bool tfn__deps_ready(const tfn__server_t *server, char *why, size_t len)
{
    for (size_t i = 0; i < server->ndeps; i++) {
        const tfn__dep_t *dep = &server->deps[i];
        bool ready = dep->local ? dep->local->ready : dep->ready;
        if (ready)
            continue;
        if (why)
            snprintf(why, len, "dependency '%s' is not ready: %s", dep->name, dep->why);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Probing /readyz
 * ------------------------------------------------------------------------------------------- */

static void on_probe_answer(void *arg, int rc, tfn__response_t *resp, const tfn_error_t *err)
{
    tfn__dep_t *dep = arg;
    dep->probing = false;
    dep->ready = rc == 0 && resp->status == 200;
    if (rc != 0) {
        snprintf(dep->why, sizeof dep->why, "%s", err->message);
    } else if (!dep->ready) {
        int n = resp->body.len > 200 ? 200 : (int)resp->body.len;
        int wrote = snprintf(dep->why, sizeof dep->why, "its /readyz answered %d %.*s",
                             resp->status, n, resp->body.data ? resp->body.data : "");
        (void)wrote; /* truncation is fine: a status line for people */
    }
}

static void probe(tfn__server_t *server)
{
    for (size_t i = 0; i < server->ndeps; i++) {
        tfn__dep_t *dep = &server->deps[i];
        if (!dep->pool || dep->probing)
            continue;
        tfn__buf_t head, body;
        tfn__buf_init(&head, 1024);
        tfn__buf_init(&body, 0);
        if (tfn__buf_printf(&head, "GET /readyz HTTP/1.1\r\nHost: %s\r\n\r\n", dep->host) != 0) {
            tfn__buf_free(&head);
            continue;
        }
        if (tfn__pool_send(dep->pool, &head, &body, PROBE_TIMEOUT_MS, true, on_probe_answer, dep,
                           NULL) == 0)
            dep->probing = true;
    }
}

static void on_probe_timer(uv_timer_t *timer) { probe(timer->data); }

void tfn__deps_start(tfn__server_t *server)
{
    if (server->ndeps == 0 || server->probe_started)
        return;
    server->probe_started = true;
    uv_timer_init(server->loop, &server->probe_timer);
    server->probe_timer.data = server;
    uv_timer_start(&server->probe_timer, on_probe_timer, 0, PROBE_EVERY_MS);
    uv_unref((uv_handle_t *)&server->probe_timer); /* probing alone keeps no loop alive */
}

static void free_deps(tfn__server_t *server)
{
    free(server->deps);
    server->deps = NULL;
    server->ndeps = 0;
}

static void on_probe_timer_closed(uv_handle_t *handle) { free_deps(handle->data); }

void tfn__deps_close(tfn__server_t *server)
{
    for (size_t i = 0; i < server->ndeps; i++) {
        tfn__pool_free(server->deps[i].pool);
        server->deps[i].pool = NULL;
    }
    if (server->probe_started) { /* the pools' callbacks are cancelled: nothing probes now */
        server->probe_started = false;
        uv_close((uv_handle_t *)&server->probe_timer, on_probe_timer_closed);
    } else {
        free_deps(server);
    }
}

/* The worker is being freed: its pools (never started ones have no handles of their own). */
static void deps_free(tfn__server_t *server)
{
    if (server->deps)
        for (size_t i = 0; i < server->ndeps; i++)
            tfn__pool_free(server->deps[i].pool);
    free(server->deps);
    server->deps = NULL;
}

/* A request's handler has returned / it is being freed: its calls and streams end. */
static void request_returned(tfn__request_t *req)
{
    tfn__futures_cancel(req);
    tfn__streams_cancel(req);
}

static void request_free(tfn__request_t *req)
{
    tfn__futures_release(req);
    tfn__streams_release(req);
}

/* The server's view of compose: see compose_internal.h. */
static bool dependency(const tfn__server_t *server, size_t i, tfn__dep_view_t *view)
{
    if (i >= server->ndeps)
        return false;
    const tfn__dep_t *dep = &server->deps[i];
    *view = (tfn__dep_view_t){.name = dep->name,
                              .service = dep->service ? dep->service->name : NULL,
                              .url = dep->local ? "in-process" : dep->url,
                              .ready = dep->local ? dep->local->ready : dep->ready,
                              .why = dep->why};
    return true;
}

const tfn__server_hooks_t tfn__compose_hooks = {
    .open = tfn__deps_open,
    .start = tfn__deps_start,
    .close = tfn__deps_close,
    .free = deps_free,
    .ready = tfn__deps_ready,
    .request_returned = request_returned,
    .request_free = request_free,
    .dependency = dependency,
    .request_cancelled = tfn__futures_cancel_request,
};
