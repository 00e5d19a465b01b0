/*
 * batch.c — adaptive batching: requests of a batchable API (tfn_api_t.batch) merged into one
 * handler call, the output split back. See docs/design.md, "Adaptive batching".
 *
 * A request of a batched API is checked when it is decoded (tfn__batch_check: its tensors agree
 * on a row count k, 1 <= k <= max_size), admitted like any other (max_concurrency, max_queue),
 * and then, instead of running its handler, joins the queue of its API's *group* — the requests
 * whose tensors have the same dtypes, ranks and trailing dimensions, which can be stacked. The
 * decision of what to run is taken in one place, `evaluate`, called from loop callbacks only
 * (an idle handle after joins and finished batches, a timer for the latency bound), never from
 * inside another request's code, so nothing here re-enters itself.
 *
 * The policy, per API (`decide`): a group's batch goes
 *   1. when it holds max_size rows (full), if a slot is free;
 *   2. at once when no batch of the API is running: an idle model never waits for company;
 *   3. otherwise the requests gather while the running batch computes, and go when it finishes
 *      (2 again) — unless, by the learned cost model, the running batch would finish after the
 *      oldest request's max_latency_ms, or too late for some request's deadline: then the group
 *      goes now on a free slot (at most `threads` batches of one API run at once).
 * The cost model is a line, cost(n) = fixed + n * per_row, fitted by exponentially weighted least
 * squares to every batch's measured time (dispatch to return, thread handoff included).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/value_internal.h"
#include "server/batch_internal.h"

const uint64_t tfn__batch_wait_bounds_us[TFN__BATCH_WAIT_BUCKETS - 1] = {
    50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};

/* Weight of the past in the cost model: each new batch counts as 1, older ones decay. */
#define COST_DECAY 0.98

/* The shape class of one input field: what must match for two requests to be stacked. */
typedef struct field_sig {
    tfn_dtype_t dtype;
    int ndim;
    int64_t dims[TFN_MAX_DIMS]; /* dims[0] unused (the rows) */
} field_sig_t;

/* Requests of one API waiting to be batched, all with the same signature. */
typedef struct group {
    struct group *next;
    tfn__request_t *head, *tail; /* FIFO, linked by batch_next */
    int64_t rows;
    field_sig_t sig[]; /* one per declared input field */
} group_t;

struct tfn__batch {
    struct api_batcher *owner;
    struct tfn__batch *next_running;
    tfn__request_t *members; /* linked by batch_next, in row order */
    int64_t rows;
    uint64_t started_us, predicted_us;
};

typedef struct api_batcher {
    const tfn_api_t *api;
    size_t nfields;
    uint32_t max_size, max_latency_ms;
    unsigned slots; /* batches of this API that may run at once */
    group_t *groups;
    struct tfn__batch *running; /* list */
    unsigned nrunning;
    /* Cost model: weighted sums over batches of (rows, microseconds). */
    double s0, sx, sy, sxx, sxy;
    tfn__batch_stats_t stats;
} api_batcher_t;

typedef struct tfn__batcher {
    tfn__server_t *server;
    uv_idle_t idle;   /* evaluate soon (the next loop turn) */
    uv_timer_t timer; /* evaluate at the earliest latency bound */
    int open_handles;
    bool closing;
    uint64_t timer_due_us; /* when the timer is set to fire; 0: not set */
    size_t napis;
    api_batcher_t apis[];
} tfn__batcher_t;

static uint64_t now_us(void) { return uv_hrtime() / 1000; }

/* ---------------------------------------------------------------------------------------------
 * Definitions and flags
 * ------------------------------------------------------------------------------------------- */

static bool stackable(const tfn_api_t *api) { return api->batch.max_size || api->batch.stackable; }

int tfn__batch_check_api(const tfn_service_t *svc, const tfn_api_t *api, tfn_error_t *err)
{
    if (!stackable(api))
        return 0;
    if (api->batch.max_size > TFN__BATCH_MAX_SIZE)
        return tfn_error_set(err, TFN_EINVAL, "service '%s': API '%s': batch.max_size %u > %d",
                             svc->name, api->name, api->batch.max_size, TFN__BATCH_MAX_SIZE);
    if (!api->inputs || !api->inputs[0].name)
        return tfn_error_set(err, TFN_EINVAL,
                             "service '%s': API '%s' is batchable but declares no inputs",
                             svc->name, api->name);
    for (const tfn_field_t *f = api->inputs; f->name; f++)
        if (f->type != TFN_TYPE_TENSOR || f->optional)
            return tfn_error_set(err, TFN_EINVAL,
                                 "service '%s': API '%s' is batchable, so input '%s' must be a "
                                 "tensor that is not optional",
                                 svc->name, api->name, f->name);
    if (api->output != TFN_TYPE_TENSOR && api->output != TFN_TYPE_OBJECT &&
        api->output != TFN_TYPE_ANY)
        return tfn_error_set(err, TFN_EINVAL,
                             "service '%s': API '%s' is batchable, so its output must be a "
                             "tensor or an object",
                             svc->name, api->name);
    return 0;
}

/* Parses "N" or "API=N" of a --batch / --max-latency-ms argument. */
static int parse_arg(const char *flag, const char *arg, uint64_t max, const char **name,
                     size_t *name_len, uint32_t *value, tfn_error_t *err)
{
    const char *eq = strchr(arg, '='), *num = eq ? eq + 1 : arg;
    char *end;
    unsigned long long v = strtoull(num, &end, 10);
    if (!*num || *end || num[0] == '-' || v > max || (eq && eq == arg))
        return tfn_error_set(err, TFN_EINVAL, "%s wants N or API=N with N from 0 to %llu, not '%s'",
                             flag, (unsigned long long)max, arg);
    *name = eq ? arg : NULL;
    *name_len = eq ? (size_t)(eq - arg) : 0;
    *value = (uint32_t)v;
    return 0;
}

/* Applies the flags of `config` to the settings of every API of `svc` (when `out` is given);
 * checks them either way. */
static int apply_args(const tfn_service_t *svc, const tfn__serve_config_t *config,
                      api_batcher_t *out, tfn_error_t *err)
{
    for (int kind = 0; kind < 2; kind++) {
        const char *flag = kind ? "--max-latency-ms" : "--batch";
        const char *const *args = kind ? config->latency_args : config->batch_args;
        size_t n = kind ? config->nlatency_args : config->nbatch_args;
        for (size_t i = 0; i < n; i++) {
            const char *name = NULL;
            size_t len = 0;
            uint32_t v = 0;
            int rc = parse_arg(flag, args[i], kind ? 3600000 : TFN__BATCH_MAX_SIZE, &name, &len, &v,
                               err);
            if (rc != 0)
                return rc;
            if (kind && v == 0)
                return tfn_error_set(err, TFN_EINVAL, "%s wants at least 1 ms, not '%s'", flag,
                                     args[i]);
            bool found = false;
            size_t k = 0;
            for (const tfn_api_t *api = svc->apis; api->name; api++, k++) {
                if (name && (strlen(api->name) != len || strncmp(api->name, name, len) != 0))
                    continue;
                found = true;
                if (!stackable(api)) {
                    if (name)
                        return tfn_error_set(err, TFN_EINVAL,
                                             "%s %s: API '%s' of service '%s' does not take "
                                             "batches (tfn_api_t.batch)",
                                             flag, args[i], api->name, svc->name);
                    continue;
                }
                if (out && kind)
                    out[k].max_latency_ms = v;
                else if (out)
                    out[k].max_size = v;
            }
            if (!found)
                return tfn_error_set(err, TFN_EINVAL, "%s %s: service '%s' has no API '%.*s'", flag,
                                     args[i], svc->name, (int)len, name);
        }
    }
    return 0;
}

int tfn__batch_check_args(const tfn_service_t *svc, const tfn__serve_config_t *config,
                          tfn_error_t *err)
{
    return apply_args(svc, config, NULL, err);
}

/* ---------------------------------------------------------------------------------------------
 * The batcher's life
 * ------------------------------------------------------------------------------------------- */

static void on_idle(uv_idle_t *idle);
static void on_timer(uv_timer_t *timer);

int tfn__batch_open(tfn__server_t *server, tfn_error_t *err)
{
    const tfn_service_t *svc = server->service;
    size_t napis = 0;
    for (const tfn_api_t *api = svc->apis; api->name; api++)
        napis++;
    tfn__batcher_t *b = calloc(1, sizeof *b + napis * sizeof b->apis[0]);
    if (!b)
        return tfn_error_set(err, TFN_ENOMEM, "out of memory");
    for (size_t i = 0; i < napis; i++) {
        const tfn_api_t *api = &svc->apis[i];
        b->apis[i].max_size = api->batch.max_size;
        b->apis[i].max_latency_ms = api->batch.max_latency_ms;
    }
    int rc = apply_args(svc, &server->config, b->apis, err);
    size_t used = 0;
    for (size_t i = 0; rc == 0 && i < napis; i++) {
        api_batcher_t a = b->apis[i];
        if (a.max_size == 0)
            continue;
        a.api = &svc->apis[i];
        for (const tfn_field_t *f = a.api->inputs; f->name; f++)
            a.nfields++;
        if (!a.max_latency_ms)
            a.max_latency_ms = TFN__BATCH_DEFAULT_LATENCY_MS;
        a.slots = server->config.threads ? server->config.threads : 1;
        a.stats.api = a.api->name;
        a.stats.max_size = a.max_size;
        a.stats.max_latency_ms = a.max_latency_ms;
        b->apis[used++] = a;
    }
    if (rc != 0 || used == 0) {
        free(b);
        return rc;
    }
    b->napis = used;
    b->server = server;
    uv_idle_init(server->loop, &b->idle);
    uv_timer_init(server->loop, &b->timer);
    b->idle.data = b->timer.data = b;
    b->open_handles = 2;
    server->batcher = b;
    return 0;
}

static void on_handle_closed(uv_handle_t *handle)
{
    tfn__batcher_t *b = handle->data;
    b->open_handles--;
}

void tfn__batch_close(tfn__server_t *server)
{
    tfn__batcher_t *b = server->batcher;
    if (!b || b->closing)
        return;
    b->closing = true;
    uv_close((uv_handle_t *)&b->idle, on_handle_closed);
    uv_close((uv_handle_t *)&b->timer, on_handle_closed);
}

void tfn__batch_free(tfn__server_t *server)
{
    tfn__batcher_t *b = server->batcher;
    if (!b)
        return;
    for (size_t i = 0; i < b->napis; i++)
        for (group_t *g = b->apis[i].groups, *next; g; g = next) {
            next = g->next;
            free(g);
        }
    free(b);
    server->batcher = NULL;
}

static api_batcher_t *find(const tfn__server_t *server, const tfn_api_t *api)
{
    tfn__batcher_t *b = server->batcher;
    for (size_t i = 0; b && i < b->napis; i++)
        if (b->apis[i].api == api)
            return &b->apis[i];
    return NULL;
}

bool tfn__batch_enabled(const tfn__server_t *server, const tfn_api_t *api)
{
    return find(server, api) != NULL;
}

static void schedule(tfn__batcher_t *b)
{
    if (!b->closing && !uv_is_active((uv_handle_t *)&b->idle))
        uv_idle_start(&b->idle, on_idle);
}

/* ---------------------------------------------------------------------------------------------
 * Joining
 * ------------------------------------------------------------------------------------------- */

int tfn__batch_check(tfn__request_t *req)
{
    api_batcher_t *a = find(req->server, req->api);
    int64_t rows = -1;
    for (const tfn_field_t *f = req->api->inputs; f->name; f++) {
        const tfn_value_t *t = tfn_object_get(req->input, f->name);
        int ndim = tfn_tensor_ndim(t);
        if (ndim < 1)
            return tfn_error_set(&req->error, TFN_EINVAL,
                                 "field '%s': API '%s' takes batches, so each input must have "
                                 "rows (rank >= 1), not a scalar",
                                 f->name, req->api->name);
        int64_t k = tfn_tensor_shape(t)[0];
        if (rows >= 0 && k != rows)
            return tfn_error_set(&req->error, TFN_EINVAL,
                                 "field '%s' has %lld rows but '%s' has %lld: the inputs of "
                                 "API '%s' must have the same number of rows (dimension 0)",
                                 f->name, (long long)k, req->api->inputs[0].name, (long long)rows,
                                 req->api->name);
        rows = k;
    }
    if (rows < 1)
        return tfn_error_set(&req->error, TFN_EINVAL,
                             "API '%s' was sent no rows (dimension 0 "
                             "is 0)",
                             req->api->name);
    if (rows > (int64_t)a->max_size)
        return tfn_error_set(&req->error, TFN_ETOOBIG,
                             "%lld rows in one request; API '%s' takes at most %u at a time: "
                             "split the request",
                             (long long)rows, req->api->name, a->max_size);
    req->batch_rows = rows;
    return 0;
}

static void signature(const api_batcher_t *a, const tfn__request_t *req, field_sig_t *sig)
{
    memset(sig, 0, a->nfields * sizeof *sig);
    size_t i = 0;
    for (const tfn_field_t *f = a->api->inputs; f->name; f++, i++) {
        const tfn_value_t *t = tfn_object_get(req->input, f->name);
        sig[i].dtype = tfn_tensor_dtype(t);
        sig[i].ndim = tfn_tensor_ndim(t);
        memcpy(sig[i].dims + 1, tfn_tensor_shape(t) + 1, (size_t)(sig[i].ndim - 1) * 8);
    }
}

void tfn__batch_join(tfn__request_t *req)
{
    tfn__batcher_t *b = req->server->batcher;
    api_batcher_t *a = find(req->server, req->api);
    field_sig_t sig[16];
    field_sig_t *s = a->nfields <= 16 ? sig : malloc(a->nfields * sizeof *s);
    group_t *g = NULL, **tail = &a->groups;
    if (s) {
        signature(a, req, s);
        for (g = a->groups; g; tail = &g->next, g = g->next)
            if (memcmp(g->sig, s, a->nfields * sizeof *s) == 0)
                break;
        if (!g && (g = calloc(1, sizeof *g + a->nfields * sizeof *s))) {
            memcpy(g->sig, s, a->nfields * sizeof *s);
            *tail = g;
        }
        if (s != sig)
            free(s);
    }
    if (!g) {
        req->rc = tfn_ctx_fail(&req->ctx, TFN_ENOMEM, "out of memory");
        tfn__request_finished(req);
        return;
    }
    req->batch_next = NULL;
    req->batch_queued = true;
    req->batch_joined_us = now_us();
    if (g->tail)
        g->tail->batch_next = req;
    else
        g->head = req;
    g->tail = req;
    g->rows += req->batch_rows;
    a->stats.queued_rows += (uint64_t)req->batch_rows;
    schedule(b);
}

void tfn__batch_member_gone(tfn__request_t *req) { schedule(req->server->batcher); }

/* ---------------------------------------------------------------------------------------------
 * The cost model
 * ------------------------------------------------------------------------------------------- */

static void cost_learn(api_batcher_t *a, double rows, double us)
{
    a->s0 = a->s0 * COST_DECAY + 1;
    a->sx = a->sx * COST_DECAY + rows;
    a->sy = a->sy * COST_DECAY + us;
    a->sxx = a->sxx * COST_DECAY + rows * rows;
    a->sxy = a->sxy * COST_DECAY + rows * us;
    double var = a->s0 * a->sxx - a->sx * a->sx;
    double per_row = 0, fixed = a->sy / a->s0; /* one batch size seen so far: its mean */
    if (var > 1e-9 * a->s0 * a->sxx) {
        per_row = (a->s0 * a->sxy - a->sx * a->sy) / var;
        if (per_row < 0)
            per_row = 0;
        fixed = (a->sy - per_row * a->sx) / a->s0;
        if (fixed < 0) { /* through the origin instead */
            fixed = 0;
            per_row = a->sxy / a->sxx;
        }
    }
    a->stats.cost_fixed_us = fixed;
    a->stats.cost_per_row_us = per_row;
}

/* Predicted microseconds of a batch of `rows` (0 until a batch has been measured). */
static uint64_t cost(const api_batcher_t *a, int64_t rows)
{
    double c = a->stats.cost_fixed_us + a->stats.cost_per_row_us * (double)rows;
    return c > 0 ? (uint64_t)c : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Deciding and dispatching
 * ------------------------------------------------------------------------------------------- */

/* Takes the members of `g` that no longer await an answer (504 in the queue, caller gone) out
 * of it, onto *dead. */
static void purge(api_batcher_t *a, group_t *g, tfn__request_t **dead)
{
    tfn__request_t **p = &g->head, *prev = NULL;
    while (*p) {
        tfn__request_t *r = *p;
        if (tfn__request_awaited(r)) {
            prev = r;
            p = &r->batch_next;
            continue;
        }
        *p = r->batch_next;
        if (g->tail == r)
            g->tail = prev;
        g->rows -= r->batch_rows;
        a->stats.queued_rows -= (uint64_t)r->batch_rows;
        a->stats.expired++;
        r->batch_queued = false;
        r->batch_next = *dead;
        *dead = r;
    }
}

/* When the first running batch is expected to finish. */
static uint64_t running_free_at(const api_batcher_t *a, uint64_t now)
{
    uint64_t at = UINT64_MAX;
    for (const struct tfn__batch *r = a->running; r; r = r->next_running)
        if (r->started_us + r->predicted_us < at)
            at = r->started_us + r->predicted_us;
    return at < now ? now : at;
}

/* The latest moment the next batch of `g` may start: the oldest request's max_latency_ms, or
 * the earliest deadline of the rows it would take less the batch's predicted cost. */
static uint64_t must_start_by(const api_batcher_t *a, const group_t *g)
{
    uint64_t by = g->head->batch_joined_us + (uint64_t)a->max_latency_ms * 1000;
    int64_t rows = 0;
    for (const tfn__request_t *r = g->head; r && rows + r->batch_rows <= (int64_t)a->max_size;
         r = r->batch_next) {
        rows += r->batch_rows;
        uint64_t deadline = r->deadline_ms * 1000; /* the same clock as uv_hrtime */
        uint64_t c = cost(a, rows), latest = deadline > c ? deadline - c : 0;
        if (latest < by)
            by = latest;
    }
    return by;
}

static void finish_member(tfn__request_t *m, int rc, const tfn_error_t *err)
{
    m->rc = rc;
    if (rc != 0)
        m->error = *err;
    tfn__request_finished(m);
}

/* Stacks the inputs of the members into the carrier's input object. */
static int stack_inputs(api_batcher_t *a, struct tfn__batch *batch, tfn__request_t *carrier)
{
    tfn_arena_t *arena = carrier->arena;
    tfn_value_t *in = tfn_object(arena);
    if (!in)
        return TFN_ENOMEM;
    for (const tfn_field_t *f = a->api->inputs; f->name; f++) {
        const tfn_value_t *first = tfn_object_get(batch->members->input, f->name);
        int ndim = tfn_tensor_ndim(first);
        int64_t shape[TFN_MAX_DIMS];
        memcpy(shape, tfn_tensor_shape(first), (size_t)ndim * sizeof *shape);
        shape[0] = batch->rows;
        tfn_value_t *t;
        if (!batch->members->batch_next) { /* one member: its own data (rule 20) */
            t = tfn_tensor_wrap(arena, tfn_tensor_dtype(first), ndim, shape,
                                tfn_tensor_data(first));
        } else {
            t = tfn_tensor(arena, tfn_tensor_dtype(first), ndim, shape);
            char *dst = t ? tfn_tensor_data(t) : NULL;
            for (tfn__request_t *m = batch->members; dst && m; m = m->batch_next) {
                const tfn_value_t *src = tfn_object_get(m->input, f->name);
                memcpy(dst, tfn_tensor_data(src), tfn_tensor_nbytes(src));
                dst += tfn_tensor_nbytes(src);
            }
        }
        if (!t || tfn_object_set(arena, in, f->name, t) != 0)
            return TFN_ENOMEM;
    }
    carrier->input = in;
    return 0;
}

/* Starts a batch of up to max_size rows from the head of `g`. */
static void dispatch(tfn__batcher_t *b, api_batcher_t *a, group_t *g, uint64_t now)
{
    tfn__server_t *server = b->server;
    int64_t rows = 0;
    size_t in_bytes = 0;
    tfn__request_t *members = NULL, **tail = &members;
    uint64_t deadline_ms = UINT64_MAX;
    while (g->head && rows + g->head->batch_rows <= (int64_t)a->max_size) {
        tfn__request_t *m = g->head;
        g->head = m->batch_next;
        if (!g->head)
            g->tail = NULL;
        m->batch_queued = false;
        m->batch_next = NULL;
        *tail = m;
        tail = &m->batch_next;
        rows += m->batch_rows;
        for (size_t i = 0; i < tfn_len(m->input); i++)
            in_bytes += tfn_tensor_nbytes(tfn_object_value_at(m->input, i));
        if (m->deadline_ms < deadline_ms)
            deadline_ms = m->deadline_ms;
        uint64_t wait = now - m->batch_joined_us;
        a->stats.wait_sum_us += wait;
        if (wait > a->stats.wait_max_us)
            a->stats.wait_max_us = wait;
        size_t w = 0;
        while (w < TFN__BATCH_WAIT_BUCKETS - 1 && wait > tfn__batch_wait_bounds_us[w])
            w++;
        a->stats.wait_buckets[w]++;
        a->stats.requests++;
    }
    g->rows -= rows;
    a->stats.queued_rows -= (uint64_t)rows;
    a->stats.rows += (uint64_t)rows;
    a->stats.batches++;
    size_t s = 0;
    while (s < TFN__BATCH_SIZE_BUCKETS - 1 && rows > ((int64_t)1 << s))
        s++;
    a->stats.size_buckets[s]++;

    /* The carrier's arena: the stacked input, plus what a request's arena may hold. */
    size_t arena_max = in_bytes + (size_t)server->config.traffic.max_body_bytes * 4 + (64u << 20);
    tfn__request_t *carrier = tfn__request_new_carrier(server, a->api, arena_max);
    struct tfn__batch *batch = carrier ? tfn_arena_calloc(carrier->arena, sizeof *batch) : NULL;
    int rc = batch ? 0 : TFN_ENOMEM;
    if (batch) {
        batch->owner = a;
        batch->members = members;
        batch->rows = rows;
        batch->started_us = now;
        batch->predicted_us = cost(a, rows);
        carrier->batch = batch;
        carrier->deadline_ms = deadline_ms; /* tfn_ctx_remaining_ms: the most urgent member */
        rc = stack_inputs(a, batch, carrier);
    }
    if (rc != 0) {
        tfn_error_t err;
        tfn_error_set(&err, TFN_ENOMEM, "out of memory while stacking a batch of %lld rows",
                      (long long)rows);
        a->stats.failed_batches++;
        for (tfn__request_t *m = members, *next; m; m = next) {
            next = m->batch_next;
            finish_member(m, TFN_ENOMEM, &err);
        }
        if (carrier) {
            carrier->batch = NULL;
            tfn__request_release(carrier);
        }
        return;
    }
    batch->next_running = a->running;
    a->running = batch;
    a->nrunning++;
    tfn__request_run(carrier); /* a loop handler may finish (tfn__batch_done) right here */
}

/* Should the next batch of `g` go now? If not, *wake is lowered to when to look again. */
static bool decide(const api_batcher_t *a, const group_t *g, uint64_t now, uint64_t *wake)
{
    if (g->rows >= (int64_t)a->max_size || a->nrunning == 0)
        return true;
    uint64_t by = must_start_by(a, g);
    if (running_free_at(a, now) + 1000 > by || by < now + 1000) /* within the timer's 1 ms */
        return true;
    if (by < *wake)
        *wake = by;
    return false;
}

static void evaluate(tfn__batcher_t *b)
{
    tfn__request_t *dead = NULL;
    uint64_t wake = UINT64_MAX;
    for (size_t i = 0; i < b->napis && !b->closing; i++) {
        api_batcher_t *a = &b->apis[i];
        for (;;) {
            uint64_t now = now_us();
            group_t *best = NULL;
            for (group_t **p = &a->groups; *p;) {
                group_t *g = *p;
                purge(a, g, &dead);
                if (!g->head) { /* empty groups go (new signatures make new ones) */
                    *p = g->next;
                    free(g);
                    continue;
                }
                if (!best || g->head->batch_joined_us < best->head->batch_joined_us)
                    best = g;
                p = &g->next;
            }
            /* The group with the oldest request first; the others wait for a slot after it. */
            if (!best || a->nrunning >= a->slots || !decide(a, best, now, &wake))
                break;
            dispatch(b, a, best, now);
        }
    }
    while (dead) { /* answered already: they only have to be finished and freed */
        tfn__request_t *m = dead;
        dead = m->batch_next;
        m->batch_next = NULL;
        tfn__request_finished(m);
    }
    if (b->closing)
        return;
    uint64_t now = now_us();
    if (wake != UINT64_MAX && wake != b->timer_due_us) {
        b->timer_due_us = wake;
        uv_timer_start(&b->timer, on_timer, wake > now ? (wake - now) / 1000 : 0, 0);
    } else if (wake == UINT64_MAX && b->timer_due_us) {
        b->timer_due_us = 0;
        uv_timer_stop(&b->timer);
    }
}

static void on_idle(uv_idle_t *idle)
{
    tfn__batcher_t *b = idle->data;
    uv_idle_stop(idle);
    evaluate(b);
}

static void on_timer(uv_timer_t *timer)
{
    tfn__batcher_t *b = timer->data;
    b->timer_due_us = 0;
    evaluate(b);
}

/* ---------------------------------------------------------------------------------------------
 * A batch has returned: split its output among its members
 * ------------------------------------------------------------------------------------------- */

void tfn__batch_done(tfn__request_t *carrier)
{
    struct tfn__batch *batch = carrier->batch;
    api_batcher_t *a = batch->owner;
    tfn__batcher_t *b = carrier->server->batcher;
    uint64_t took = now_us() - batch->started_us;
    for (struct tfn__batch **p = &a->running; *p; p = &(*p)->next_running)
        if (*p == batch) {
            *p = batch->next_running;
            break;
        }
    a->nrunning--;
    tfn_error_t err = carrier->error;
    int rc = carrier->rc;
    if (rc == 0) {
        cost_learn(a, (double)batch->rows, (double)took);
        rc = tfn__batch_check_output(carrier, batch->rows, &err);
    } else if (err.code != rc || !err.message[0]) {
        int code = rc < 0 && strcmp(tfn_errname(rc), "EUNKNOWN") ? rc : TFN_EHANDLER;
        tfn_error_set(&err, code, "API '%s' failed: %s", carrier->api->name, tfn_strerror(code));
        rc = code;
    }
    if (rc != 0)
        a->stats.failed_batches++;
    int64_t row = 0;
    for (tfn__request_t *m = batch->members, *next; m; m = next) {
        next = m->batch_next;
        m->batch_next = NULL;
        int mrc = rc;
        tfn_error_t merr = err;
        if (mrc == 0 && tfn__request_awaited(m) &&
            (mrc = tfn__batch_split_for(carrier, batch->rows, m, row)))
            tfn_error_set(&merr, mrc, "out of memory while splitting the batch's output");
        row += m->batch_rows;
        finish_member(m, mrc, &merr);
    }
    batch->members = NULL;
    carrier->batch = NULL;
    schedule(b); /* the model is free: the next batch may go */
}

/* ---------------------------------------------------------------------------------------------
 * Reporting
 * ------------------------------------------------------------------------------------------- */

size_t tfn__batch_count(const tfn__server_t *server)
{
    return server->batcher ? server->batcher->napis : 0;
}

void tfn__batch_stats(const tfn__server_t *server, size_t i, tfn__batch_stats_t *out)
{
    const api_batcher_t *a = &server->batcher->apis[i];
    *out = a->stats;
    out->running = a->nrunning;
}

int tfn__batch_healthz(const tfn__server_t *server, tfn__buf_t *out)
{
    size_t n = tfn__batch_count(server);
    int rc = n ? tfn__buf_puts(out, ",\"batch\":{") : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        tfn__batch_stats_t s;
        tfn__batch_stats(server, i, &s);
        double mean_size = s.batches ? (double)s.rows / (double)s.batches : 0;
        double mean_wait = s.requests ? (double)s.wait_sum_us / (double)s.requests / 1000 : 0;
        /* API names are [A-Za-z0-9_-] (tfn__service_check): no escaping needed. */
        rc = tfn__buf_printf(out,
                             "%s\"%s\":{\"max_size\":%u,\"max_latency_ms\":%u,\"batches\":%llu,"
                             "\"failed_batches\":%llu,\"requests\":%llu,\"rows\":%llu,"
                             "\"expired\":%llu,\"mean_size\":%.3f,\"queued_rows\":%llu,"
                             "\"running\":%u,\"wait_ms\":{\"mean\":%.3f,\"max\":%.3f},"
                             "\"cost_us\":{\"fixed\":%.1f,\"per_row\":%.3f},\"sizes\":{",
                             i ? "," : "", s.api, s.max_size, s.max_latency_ms,
                             (unsigned long long)s.batches, (unsigned long long)s.failed_batches,
                             (unsigned long long)s.requests, (unsigned long long)s.rows,
                             (unsigned long long)s.expired, mean_size,
                             (unsigned long long)s.queued_rows, s.running, mean_wait,
                             (double)s.wait_max_us / 1000, s.cost_fixed_us, s.cost_per_row_us);
        /* "sizes": batches by rows, keyed by each bucket's upper bound ("le"), non-empty only. */
        bool first = true;
        for (size_t k = 0; rc == 0 && k < TFN__BATCH_SIZE_BUCKETS; k++) {
            if (!s.size_buckets[k])
                continue;
            if (k == TFN__BATCH_SIZE_BUCKETS - 1)
                rc = tfn__buf_printf(out, "%s\"+Inf\":%llu", first ? "" : ",",
                                     (unsigned long long)s.size_buckets[k]);
            else
                rc = tfn__buf_printf(out, "%s\"%llu\":%llu", first ? "" : ",", 1ull << k,
                                     (unsigned long long)s.size_buckets[k]);
            first = false;
        }
        if (rc == 0)
            rc = tfn__buf_puts(out, "}}");
    }
    return rc == 0 && n ? tfn__buf_puts(out, "}") : rc;
}
