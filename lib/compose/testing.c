/*
 * testing.c — a service graph in one process (include/tiffin/testing.h).
 *
 * Each service of the graph gets a server (worker state) on one private loop, with no listener:
 * dependencies are linked to each other's instances, so a call is tfn__dispatch_local instead of
 * a socket, through the same encoding, validation, handler execution and error paths as `serve`.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "compose/graph_internal.h"
#include "compose/compose_internal.h"
#include "server/batch_internal.h"

struct tfn_test {
    uv_loop_t loop;
    tfn__graph_t graph;
    const tfn_service_t *run[TFN__GRAPH_MAX]; /* what runs for graph.services[i]: it or a double */
    tfn__server_t *servers[TFN__GRAPH_MAX];
    bool started, init_failed;
    tfn_error_t init_error;
};

tfn_test_t *tfn_test_new(const tfn_service_t *entry, tfn_error_t *err)
{
    tfn_test_t *t = calloc(1, sizeof *t);
    if (!t) {
        tfn_error_set(err, TFN_ENOMEM, "out of memory");
        return NULL;
    }
    if (tfn__graph_build(entry, &t->graph, err) != 0) {
        free(t);
        return NULL;
    }
    memcpy(t->run, t->graph.services, t->graph.n * sizeof *t->run);
    if (uv_loop_init(&t->loop) != 0) {
        tfn_error_set(err, TFN_ENOMEM, "cannot create an event loop");
        free(t);
        return NULL;
    }
    return t;
}

int tfn_test_replace(tfn_test_t *t, const char *name, const tfn_service_t *double_,
                     tfn_error_t *err)
{
    if (t->started)
        return tfn_error_set(err, TFN_EINVAL, "replace '%s' before the first call", name);
    size_t i = 0;
    while (i < t->graph.n && strcmp(t->graph.services[i]->name, name) != 0)
        i++;
    if (i == t->graph.n || i == t->graph.n - 1)
        return tfn_error_set(err, TFN_ENOTFOUND, "the graph has no dependency '%s'", name);
    int rc = tfn__service_check(double_, err);
    if (rc != 0)
        return rc;
    for (const tfn_dependency_t *d = double_->depends; d && (d->service || d->url); d++)
        if (d->service)
            return tfn_error_set(err, TFN_EINVAL, "test double '%s' may depend on URLs only",
                                 double_->name);
    t->run[i] = double_;
    return 0;
}

/* Creates every instance, links dependencies, runs the init hooks (dependencies first). */
static int start(tfn_test_t *t, tfn_error_t *err)
{
    t->started = true;
    tfn__serve_config_t config = {.quiet = true, .hooks = &tfn__compose_hooks};
    for (size_t i = 0; i < t->graph.n; i++) {
        t->servers[i] = tfn__server_new(&t->loop, t->run[i], &config, true, err);
        if (!t->servers[i])
            return err->code;
        for (size_t j = 0; j < t->servers[i]->ndeps; j++) {
            tfn__dep_t *dep = &t->servers[i]->deps[j];
            for (size_t k = 0; dep->service && k < i; k++)
                if (strcmp(t->graph.services[k]->name, dep->service->name) == 0)
                    dep->local = t->servers[k];
        }
    }
    for (size_t i = 0; i < t->graph.n; i++) {
        tfn__server_t *s = t->servers[i];
        const tfn_service_t *svc = s->service;
        s->init_rc = svc->init ? svc->init(&s->worker, &s->worker.state) : 0;
        if (s->init_rc != 0) {
            tfn_error_set(err, TFN_EINIT, "init of service '%s' failed: %s", svc->name,
                          s->worker.error.message[0] ? s->worker.error.message
                                                     : tfn_strerror(s->init_rc));
            snprintf(err->service, sizeof err->service, "%s", svc->name);
            return TFN_EINIT;
        }
        s->ready = true;
    }
    return 0;
}

typedef struct answer {
    bool done;
    tfn__response_t resp;
} answer_t;

static void on_answer(void *arg, tfn__response_t *resp)
{
    answer_t *a = arg;
    a->resp = *resp;
    tfn__buf_init(&resp->body, 0); /* taken */
    a->done = true;
}

int tfn_test_call(tfn_test_t *t, const char *api, const tfn_value_t *input, tfn_arena_t *arena,
                  tfn_value_t **output, tfn_error_t *err)
{
    *output = NULL;
    if (!t->started && start(t, &t->init_error) != 0)
        t->init_failed = true;
    if (t->init_failed) {
        if (err)
            *err = t->init_error;
        return t->init_error.code;
    }
    tfn__server_t *entry = t->servers[t->graph.n - 1];
    tfn_error_t scratch;
    if (!err)
        err = &scratch;
    tfn__buf_t body;
    tfn__buf_init(&body, (size_t)1 << 30);
    int rc = tfn__wire_encode(input, &body);
    if (rc != 0) {
        tfn__buf_free(&body);
        return tfn_error_set(err, rc, "cannot encode the input: %s", tfn_strerror(rc));
    }
    answer_t a = {0};
    tfn__request_t *req;
    tfn__dispatch_local(entry, api, &body, entry->config.traffic.timeout_ms, on_answer, &a, &req);
    while (!a.done)
        uv_run(&t->loop, UV_RUN_ONCE);

    const char *name = entry->service->name;
    if (a.resp.status != 200) {
        rc = tfn__response_error(&a.resp, name, api, err);
    } else {
        /* The value lives in the caller's arena: so must the bytes its tensors point into. */
        void *copy = tfn_arena_alloc(arena, a.resp.body.len ? a.resp.body.len : 1);
        rc = copy ? 0 : tfn_error_set(err, TFN_ENOMEM, "arena exhausted");
        if (rc == 0) {
            memcpy(copy, a.resp.body.data ? a.resp.body.data : "", a.resp.body.len);
            rc = tfn__response_decode(a.resp.content_type, copy, a.resp.body.len, arena, output,
                                      err);
        }
    }
    tfn__buf_free(&a.resp.body);
    return rc;
}

void tfn_test_free(tfn_test_t *t)
{
    if (!t)
        return;
    for (size_t i = t->graph.n; i-- > 0;) { /* the entry first */
        tfn__server_t *s = t->servers[i];
        if (s && s->ready && s->service->shutdown)
            s->service->shutdown(&s->worker, s->worker.state);
        if (s)
            tfn__deps_close(s);
        if (s)
            tfn__batch_close(s);
    }
    uv_run(&t->loop, UV_RUN_DEFAULT); /* let every handle close */
    for (size_t i = 0; i < t->graph.n; i++)
        tfn__server_free(t->servers[i]);
    uv_loop_close(&t->loop);
    free(t);
}
