/*
 * worker.c — the life of one worker process: check the service, listen, run init off the loop,
 * serve, and on SIGTERM/SIGINT drain (stop accepting, finish in-flight requests up to a deadline,
 * run the shutdown hook) and exit 0.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/batch_internal.h"
#include "server/server_internal.h"

int tfn__server_port(tfn__server_t *server);

/* ---------------------------------------------------------------------------------------------
 * Checking and resolving a service definition
 * ------------------------------------------------------------------------------------------- */

static bool is_name(const char *s)
{
    if (!s || !*s || strlen(s) >= TFN_ERROR_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

int tfn__service_check(const tfn_service_t *svc, tfn_error_t *err)
{
    if (!svc)
        return tfn_error_set(err, TFN_EINVAL, "no service given");
    if (!is_name(svc->name))
        return tfn_error_set(err, TFN_EINVAL,
                             "service name '%s' must be 1-63 letters, digits, '_' or '-'",
                             svc->name ? svc->name : "(null)");
    if (!svc->apis || !svc->apis[0].name)
        return tfn_error_set(err, TFN_EINVAL, "service '%s' declares no APIs", svc->name);
    for (const tfn_api_t *api = svc->apis; api->name; api++) {
        if (!is_name(api->name))
            return tfn_error_set(err, TFN_EINVAL,
                                 "service '%s': API name '%s' must be 1-63 letters, digits, "
                                 "'_' or '-'",
                                 svc->name, api->name);
        if (!strcmp(api->name, "livez") || !strcmp(api->name, "readyz") ||
            !strcmp(api->name, "healthz"))
            return tfn_error_set(err, TFN_EINVAL,
                                 "service '%s': API name '%s' is reserved for the operational "
                                 "endpoint GET /%s",
                                 svc->name, api->name, api->name);
        if (!api->handler)
            return tfn_error_set(err, TFN_EINVAL, "service '%s': API '%s' has no handler",
                                 svc->name, api->name);
        for (const tfn_api_t *other = svc->apis; other != api; other++)
            if (strcmp(other->name, api->name) == 0)
                return tfn_error_set(err, TFN_EINVAL, "service '%s': API '%s' declared twice",
                                     svc->name, api->name);
        for (const tfn_field_t *f = api->inputs; f && f->name; f++) {
            if (f->type == TFN_TYPE_TENSOR && (f->ndim < 0 || f->ndim > TFN_MAX_DIMS))
                return tfn_error_set(err, TFN_EINVAL,
                                     "service '%s': API '%s': field '%s' has ndim %d (0..%d)",
                                     svc->name, api->name, f->name, f->ndim, TFN_MAX_DIMS);
            for (const tfn_field_t *g = api->inputs; g != f; g++)
                if (strcmp(g->name, f->name) == 0)
                    return tfn_error_set(err, TFN_EINVAL,
                                         "service '%s': API '%s': field '%s' declared twice",
                                         svc->name, api->name, f->name);
        }
        int rc = tfn__batch_check_api(svc, api, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void tfn__serve_config_resolve(tfn__serve_config_t *config, const tfn_service_t *svc)
{
    tfn_traffic_t *t = &config->traffic;
    const tfn_traffic_t *d = &svc->traffic;
    if (!t->timeout_ms)
        t->timeout_ms = d->timeout_ms ? d->timeout_ms : 60000;
    if (!t->max_concurrency)
        t->max_concurrency = d->max_concurrency ? d->max_concurrency : 1024;
    if (!t->max_body_bytes)
        t->max_body_bytes = d->max_body_bytes ? d->max_body_bytes : (16u << 20);
    if (!t->drain_ms)
        t->drain_ms = d->drain_ms ? d->drain_ms : 10000;
    if (!t->max_queue && !config->max_queue_set)
        t->max_queue = d->max_queue; /* default 0: no queue */
    if (!t->read_timeout_ms)
        t->read_timeout_ms = d->read_timeout_ms ? d->read_timeout_ms : 30000;
    if (!t->idle_timeout_ms)
        t->idle_timeout_ms = d->idle_timeout_ms ? d->idle_timeout_ms : 60000;
    if (!t->head_timeout_ms)
        t->head_timeout_ms = d->head_timeout_ms ? d->head_timeout_ms : 20000;
    if (!t->max_connections)
        t->max_connections = d->max_connections ? d->max_connections : 10000;
    if (!config->threads)
        config->threads = svc->threads ? svc->threads : 4;
}

/* ---------------------------------------------------------------------------------------------
 * Init and shutdown hooks
 * ------------------------------------------------------------------------------------------- */

const tfn_service_t *tfn_worker_service(const tfn_worker_t *worker) { return worker->service; }

unsigned tfn_worker_index(const tfn_worker_t *worker) { return worker->index; }

int tfn_worker_fail(tfn_worker_t *worker, int code, const char *fmt, ...)
{
    if (code >= 0)
        code = TFN_EINIT;
    tfn_error_set(&worker->error, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(worker->error.message, sizeof worker->error.message, fmt, ap);
    va_end(ap);
    return code;
}

static void init_main(uv_work_t *work)
{
    tfn__server_t *server = work->data;
    const tfn_service_t *svc = server->service;
    server->init_rc = svc->init ? svc->init(&server->worker, &server->worker.state) : 0;
}

static void begin_drain(tfn__server_t *server);

/* ---------------------------------------------------------------------------------------------
 * Telling the supervisor we are ready
 *
 * A supervised worker shares its listening socket with the other workers of its service, so the
 * supervisor cannot ask this worker's /readyz. Instead the worker writes on the pipe it was given
 * (--notify-fd) "serving\n" once its init hook has returned (it now accepts), then "ready\n" once
 * its /readyz would answer 200 — every dependency ready too — and closes it. Dependencies are
 * probed asynchronously (deps.c), hence the short poll.
 * ------------------------------------------------------------------------------------------- */

#define NOTIFY_POLL_MS 10

static void notify_stop(tfn__server_t *server)
{
    if (server->notify_started) {
        server->notify_started = false;
        uv_close((uv_handle_t *)&server->notify_timer, NULL);
    }
    if (server->config.notify_fd > 0) {
        close(server->config.notify_fd);
        server->config.notify_fd = 0;
    }
}

static void notify(tfn__server_t *server, const char *line)
{
    size_t len = strlen(line);
    ssize_t n;
    do
        n = write(server->config.notify_fd, line, len);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len)
        tfn__log("warn", "cannot tell the supervisor we are %.*s: %s", (int)len - 1, line,
                 n < 0 ? strerror(errno) : "short write");
}

/* A load report for the supervisor's scaling (TFN__LOAD_REPORT_ENV). The pipe is non-blocking:
 * should the supervisor not read for a while, reports are dropped rather than stalling the loop. */
static void on_load_report(uv_timer_t *timer)
{
    tfn__server_t *server = timer->data;
    char line[64];
    int len = snprintf(line, sizeof line, "load %u %u\n", server->in_flight, server->queued);
    ssize_t n;
    do
        n = write(server->config.notify_fd, line, (size_t)len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        notify_stop(server); /* the supervisor has gone */
}

static void on_notify_poll(uv_timer_t *timer)
{
    tfn__server_t *server = timer->data;
    if (!server->ready || server->draining || server->quiescing)
        return;
    if (!server->notified_serving) {
        server->notified_serving = true;
        notify(server, "serving\n");
    }
    if (!tfn__server_hooks_ready(server, NULL, 0))
        return;
    notify(server, "ready\n");
    if (server->load_report_ms) {
        (void)fcntl(server->config.notify_fd, F_SETFL,
                    fcntl(server->config.notify_fd, F_GETFL) | O_NONBLOCK);
        uv_timer_start(&server->notify_timer, on_load_report, server->load_report_ms,
                       server->load_report_ms);
        return;
    }
    notify_stop(server);
}

static void notify_start(tfn__server_t *server)
{
    if (server->config.notify_fd <= 0)
        return;
    const char *report = getenv(TFN__LOAD_REPORT_ENV);
    if (report) {
        long ms = strtol(report, NULL, 10);
        server->load_report_ms = ms >= 10 && ms <= 60000 ? (uint32_t)ms : 0;
        unsetenv(TFN__LOAD_REPORT_ENV); /* not for processes a handler may start */
    }
    uv_timer_init(server->loop, &server->notify_timer);
    server->notify_timer.data = server;
    server->notify_started = true;
    uv_timer_start(&server->notify_timer, on_notify_poll, NOTIFY_POLL_MS, NOTIFY_POLL_MS);
}

static void init_done(uv_work_t *work, int status)
{
    tfn__server_t *server = work->data;
    (void)status;
    server->init_work.data = NULL; /* marks init as over */
    if (server->init_rc != 0) {
        const tfn_error_t *e = &server->worker.error;
        tfn__log("error", "init of service '%s' failed: %s", server->service->name,
                 e->message[0] ? e->message : tfn_strerror(server->init_rc));
        server->exit_code = 1;
        begin_drain(server);
        tfn__server_maybe_finish(server); /* a drain already under way waited for init alone */
        return;
    }
    if (server->draining) { /* a signal came during init */
        tfn__server_maybe_finish(server);
        return;
    }
    /* A supervised worker shares its socket with the other workers of its service: it accepts
     * only once it can serve, so that it takes no connection just to answer 503 while the
     * others could have served it. */
    if ((server->config.listen_fd > 0 || server->config.listen_tcp_fd > 0) &&
        tfn__server_listen(server) != 0) {
        server->exit_code = 1;
        begin_drain(server);
        return;
    }
    server->ready = true;
    tfn__log("info", "service '%s' is ready", server->service->name);
    if (server->notify_started)
        on_notify_poll(&server->notify_timer); /* often ready at once */
}

/* ---------------------------------------------------------------------------------------------
 * Draining and stopping
 * ------------------------------------------------------------------------------------------- */

static void close_if_open(uv_handle_t *handle)
{
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* Everything is finished: run the shutdown hook and close the handles, so uv_run returns. */
static void stop(tfn__server_t *server)
{
    server->stopping = true;
    const tfn_service_t *svc = server->service;
    if (server->init_rc == 0 && svc->shutdown)
        svc->shutdown(&server->worker, server->worker.state);
    tfn__server_stop_listening(server);
    tfn__server_close_idle(server, true);
    if (server->config.hooks && server->config.hooks->close)
        server->config.hooks->close(server);
    notify_stop(server);
    tfn__batch_close(server);
    close_if_open((uv_handle_t *)&server->sigterm);
    close_if_open((uv_handle_t *)&server->sigint);
    close_if_open((uv_handle_t *)&server->sighup);
    close_if_open((uv_handle_t *)&server->drain_timer);
    if (server->trim_timer.data)
        close_if_open((uv_handle_t *)&server->trim_timer);
}

void tfn__server_maybe_finish(tfn__server_t *server)
{
    if (server->stopping || server->in_flight > 0 || server->queued > 0 || server->init_work.data)
        return;
    stop(server);
}

static void on_drain_deadline(uv_timer_t *timer)
{
    tfn__server_t *server = timer->data;
    if (server->stopping)
        return;
    tfn__log("warn", "drain deadline of %u ms passed with %u requests in flight; exiting",
             server->config.traffic.drain_ms, server->in_flight);
    /* Handlers still running may use the worker state: do not run the shutdown hook under them.
     * Their threads cannot be joined, so leave the loop instead of waiting for them. */
    server->exit_code = 1;
    server->stopping = true;
    tfn__server_close_all(server);
    uv_stop(server->loop);
}

/* From now on no request is taken: finish those in flight (up to the drain time), then stop. */
static void enter_drain(tfn__server_t *server)
{
    server->quiescing = false;
    server->draining = true;
    server->ready = false;
    tfn__server_close_idle(server, true);
    uv_timer_stop(&server->drain_timer);
    uv_timer_start(&server->drain_timer, on_drain_deadline, server->config.traffic.drain_ms, 0);
    tfn__server_maybe_finish(server);
}

static void on_quiesce_deadline(uv_timer_t *timer) { enter_drain(timer->data); }

void tfn__server_quiesce_check(tfn__server_t *server)
{
    if (server->quiescing && !tfn__server_has_fresh(server))
        enter_drain(server);
}

/* Stops accepting, then drains. Connections accepted before that which have not sent their
 * first request yet are a client's request on its way (a worker sharing its socket takes
 * connections until the very moment it closes it; a rolling restart does that under load): they
 * get up to FRESH_GRACE_MS to send it, and it is served, with Connection: close, before the
 * drain proper begins. Idle keep-alive connections are closed at once. */
#define FRESH_GRACE_MS 1000

static void begin_drain(tfn__server_t *server)
{
    if (server->draining || server->quiescing)
        return;
    notify_stop(server);
    tfn__server_stop_listening(server);
    if (!server->ready || !tfn__server_has_fresh(server)) {
        enter_drain(server);
        return;
    }
    server->quiescing = true;
    tfn__server_close_idle(server, false);
    uint32_t grace = server->config.traffic.drain_ms < FRESH_GRACE_MS
                         ? server->config.traffic.drain_ms
                         : FRESH_GRACE_MS;
    uv_timer_start(&server->drain_timer, on_quiesce_deadline, grace, 0);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    tfn__server_t *server = handle->data;
    if (server->draining || server->quiescing) {
        tfn__log("warn", "second signal %d: exiting without waiting", signum);
        on_drain_deadline(&server->drain_timer);
        return;
    }
    tfn__log("info", "signal %d: draining (%u in flight, up to %u ms)", signum, server->in_flight,
             server->config.traffic.drain_ms);
    begin_drain(server);
}

/* nginx reloads its configuration on SIGHUP. A worker has none to reload, and restarting
 * itself would drop its requests: say so rather than do nothing silently. (The supervisor of a
 * graph answers SIGHUP with a rolling restart of every worker: supervisor.c.) */
static void on_sighup(uv_signal_t *handle, int signum)
{
    tfn__server_t *server = handle->data;
    (void)signum;
    tfn__log("warn",
             "SIGHUP: nothing to reload (tiffin has no configuration file); send "
             "SIGTERM to stop%s",
             server->config.listen_fd > 0 ? ", or SIGHUP to the supervisor for a rolling restart"
                                          : "");
}

/* ---------------------------------------------------------------------------------------------
 * Serving
 * ------------------------------------------------------------------------------------------- */

static void print_banner(tfn__server_t *server)
{
    const tfn__serve_config_t *c = &server->config;
    if (c->host) {
        const char *fmt = strchr(c->host, ':') ? "http://[%s]:%d" : "http://%s:%d";
        printf("%s listening on ", server->service->name);
        printf(fmt, c->host, tfn__server_port(server));
        printf("\n");
    }
    if (c->unix_path)
        printf("%s listening on unix:%s\n", server->service->name, c->unix_path);
    fflush(stdout);
}

/* ---------------------------------------------------------------------------------------------
 * Memory after a burst
 * ------------------------------------------------------------------------------------------- */

/* A burst of large requests leaves the heap full of free blocks that glibc keeps (it trims only
 * the top of the heap, and only past M_TRIM_THRESHOLD). Once the worker has been idle for a
 * second, hand them back: malloc_trim releases free pages anywhere in the heap. Not on the hot
 * path: it runs at most once per idle period. */
#define TRIM_AFTER_IDLE_MS 1000

/* Under load, "nothing in flight" is true between most requests (loop handlers finish within
 * one loop turn): trim only once a whole second has passed since the last request finished, or
 * it would hand back pages every second that the next requests fault in again. */
static void on_trim_timer(uv_timer_t *timer)
{
    tfn__server_t *server = timer->data;
    uint64_t quiet = uv_now(server->loop) - server->last_idle_ms;
    if (server->in_flight > 0 || server->queued > 0)
        return; /* tfn__server_idle re-arms it when they are done */
    if (quiet < TRIM_AFTER_IDLE_MS) {
        uv_timer_start(timer, on_trim_timer, TRIM_AFTER_IDLE_MS - quiet, 0);
        return;
    }
    malloc_trim(0);
}

void tfn__server_idle(tfn__server_t *server)
{
    if (!server->trim_timer.data || server->stopping)
        return;
    server->last_idle_ms = uv_now(server->loop);
    if (!uv_is_active((uv_handle_t *)&server->trim_timer))
        uv_timer_start(&server->trim_timer, on_trim_timer, TRIM_AFTER_IDLE_MS, 0);
}

bool tfn__server_hooks_ready(const tfn__server_t *server, char *why, size_t len)
{
    const tfn__server_hooks_t *hooks = server->config.hooks;
    return !hooks || !hooks->ready || hooks->ready(server, why, len);
}

tfn__server_t *tfn__server_new(uv_loop_t *loop, const tfn_service_t *svc,
                               const tfn__serve_config_t *config, bool local_deps, tfn_error_t *err)
{
    /* Writing to a peer that has hung up (a caller past its deadline, say) must be an EPIPE
     * error on that one connection, not a signal that kills the worker. */
    signal(SIGPIPE, SIG_IGN);
    /* Bodies of a MiB or more are the norm between services (tensors). By default glibc gives
     * each its own mmap and unmaps it on free, so every request faults in fresh pages (measured:
     * a 1 MiB hop spent most of its time in page faults). Keep blocks up to 32 MiB in the heap
     * for reuse; what a burst leaves free is handed back once the worker is idle (trim_soon). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    tfn__server_t *server = calloc(1, sizeof *server);
    if (!server) {
        tfn_error_set(err, TFN_ENOMEM, "out of memory");
        return NULL;
    }
    server->loop = loop;
    server->service = svc;
    server->config = *config;
    tfn__serve_config_resolve(&server->config, svc);
    server->worker.service = svc;
    server->worker.index = config->worker_index;
    server->started_ms = tfn__now_ms();
    server->local_deps = local_deps;
    server->coros = tfn__coro_pool_new(0, 1024);
    const tfn__server_hooks_t *hooks = config->hooks;
    int rc =
        !server->coros                       ? tfn_error_set(err, TFN_ENOMEM, "out of memory")
        : tfn__observe_open(server, err) < 0 ? err->code
        : hooks && hooks->open               ? hooks->open(server, err)
        : svc->depends && (svc->depends[0].service || svc->depends[0].url || svc->depends[0].name)
            ? tfn_error_set(err, TFN_EINVAL,
                            "service '%s' has dependencies but this worker cannot call them",
                            svc->name)
            : 0;
    if (rc == 0)
        rc = tfn__batch_open(server, err);
    if (rc != 0) {
        tfn__server_free(server);
        return NULL;
    }
    return server;
}

void tfn__server_free(tfn__server_t *server)
{
    if (!server)
        return;
    if (server->config.hooks && server->config.hooks->free)
        server->config.hooks->free(server);
    tfn__batch_free(server);
    tfn__coro_pool_free(server->coros);
    tfn__observe_close(server);
    free(server->openapi_json);
    free(server);
}

int tfn__serve(const tfn_service_t *svc, const tfn__serve_config_t *config)
{
    tfn_error_t err;
    if (tfn__service_check(svc, &err) != 0) {
        tfn__log("error", "%s", err.message);
        return 1;
    }
    tfn__raise_nofile_limit(); /* parked requests hold descriptors: allow the hard limit */
    uv_loop_t *loop = malloc(sizeof *loop);
    if (!loop || uv_loop_init(loop) != 0) {
        free(loop);
        tfn__log("error", "out of memory");
        return 1;
    }
    tfn__server_t *server = tfn__server_new(loop, svc, config, false, &err);
    if (!server) {
        tfn__log("error", "%s", err.message);
        uv_loop_close(loop);
        free(loop);
        return 1;
    }

    /* libuv sizes its thread pool from this variable on first use, which is init_main below. */
    char threads[16];
    snprintf(threads, sizeof threads, "%u", server->config.threads + 1 /* +1 for init */);
    setenv("UV_THREADPOOL_SIZE", threads, 1);

    uv_signal_init(loop, &server->sigterm);
    uv_signal_init(loop, &server->sigint);
    uv_signal_init(loop, &server->sighup);
    server->sigterm.data = server->sigint.data = server->sighup.data = server;
    uv_timer_init(loop, &server->trim_timer);
    server->trim_timer.data = server;
    uv_unref((uv_handle_t *)&server->trim_timer);
    uv_timer_init(loop, &server->drain_timer);
    server->drain_timer.data = server;
    uv_unref((uv_handle_t *)&server->drain_timer);

    /* Inherited sockets are listened on once init has finished (init_done). */
    bool inherited = config->listen_fd > 0 || config->listen_tcp_fd > 0;
    int rc = inherited ? 0 : tfn__server_listen(server);
    if (rc == 0) {
        uv_signal_start(&server->sigterm, on_signal, SIGTERM);
        uv_signal_start(&server->sigint, on_signal, SIGINT);
        uv_signal_start(&server->sighup, on_sighup, SIGHUP);
        uv_unref((uv_handle_t *)&server->sighup);
        if (!config->quiet)
            print_banner(server);
        if (config->hooks && config->hooks->start)
            config->hooks->start(server);
        notify_start(server);
        server->init_work.data = server;
        rc = uv_queue_work(loop, &server->init_work, init_main, init_done) ? TFN_ENOMEM : 0;
    }
    if (rc != 0) {
        server->exit_code = 1;
        server->init_rc = TFN_EINIT; /* init never ran: no shutdown hook */
        server->init_work.data = NULL;
        stop(server);
    }
    uv_run(loop, UV_RUN_DEFAULT);

    int exit_code = server->exit_code;
    if (!server->stopping || uv_loop_close(loop) != 0) {
        /* Left by the drain deadline with handlers still running: just exit. */
        tfn__log("info", "service '%s' stopped (forced)", svc->name);
        fflush(NULL);
        _Exit(exit_code ? exit_code : 1);
    }
    tfn__log("info", "service '%s' stopped", svc->name);
    tfn__server_free(server);
    free(loop);
    return exit_code;
}
