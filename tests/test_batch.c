/*
 * test_batch.c — adaptive batching (lib/server/batch.c): the cost model and the dispatch
 * decision on their own, then a test graph where one entry request fans out dependency calls to
 * a batched model, which must merge them (the calls come from another service, not HTTP).
 * batch.c is included to reach its static functions (h2o's t/00unit style).
 */
#include <math.h>
#include <stdatomic.h>
#include <tiffin.h>
#include <tiffin/testing.h>

#include "../lib/server/batch.c"
#include "check.h"

static void test_cost_model_learns_fixed_and_per_row(void)
{
    api_batcher_t a = {0};
    CHECK_EQ_INT(cost(&a, 10), 0); /* nothing learned: no prediction */
    cost_learn(&a, 4, 140);
    CHECK_EQ_INT(cost(&a, 4), 140); /* one size seen: its mean */
    for (int i = 0; i < 50; i++) {  /* 100 us a call plus 10 us a row */
        int64_t n = 1 << (i % 6);
        cost_learn(&a, (double)n, 100.0 + 10.0 * (double)n);
    }
    CHECK(fabs(a.stats.cost_fixed_us - 100) < 1);
    CHECK(fabs(a.stats.cost_per_row_us - 10) < 0.1);
    CHECK_EQ_INT(cost(&a, 32), 420);
    for (int i = 0; i < 400; i++) /* the model got slower: the old samples fade */
        cost_learn(&a, (double)(1 << (i % 6)), 300.0 + 20.0 * (double)(1 << (i % 6)));
    CHECK(fabs(a.stats.cost_fixed_us - 300) < 5);
    CHECK(fabs(a.stats.cost_per_row_us - 20) < 0.5);
}

static void test_decide(void)
{
    tfn__request_t r1 = {.batch_rows = 2, .deadline_ms = 10000000};
    group_t g = {.head = &r1, .tail = &r1, .rows = 2};
    api_batcher_t a = {.max_size = 8, .max_latency_ms = 10, .slots = 2};
    uint64_t now = 1000000000, wake = UINT64_MAX; /* us; the deadline is 9000 s later */
    r1.batch_joined_us = now;
    CHECK(decide(&a, &g, now, &wake)); /* idle model: at once */
    struct tfn__batch running = {.rows = 8, .started_us = now, .predicted_us = 3000};
    a.running = &running;
    a.nrunning = 1;
    CHECK(!decide(&a, &g, now, &wake)); /* it ends in 3 ms, within 10 ms: gather meanwhile */
    CHECK_EQ_INT(wake, now + 10000);    /* ... and look again at the latency bound */
    running.predicted_us = 50000;       /* it ends in 50 ms: go now on the free slot */
    CHECK(decide(&a, &g, now, &wake));
    running.predicted_us = 3000;
    g.rows = 8; /* full */
    CHECK(decide(&a, &g, now, &wake));
    g.rows = 2;
    r1.deadline_ms = now / 1000 + 2; /* a deadline 2 ms away, before the batch ends */
    CHECK(decide(&a, &g, now, &wake));
    r1.deadline_ms = 10000000;
    CHECK(!decide(&a, &g, now + 5000, &wake));
    CHECK(decide(&a, &g, now + 9500, &wake)); /* within a timer tick of the bound */
}

/* ---- a test graph: Entry.fan calls Model.double n times at once ------------------------------ */

static atomic_int model_calls, model_max_rows;

static int model_double(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *x = tfn_object_get(in, "x");
    int rows = (int)tfn_tensor_shape(x)[0];
    atomic_fetch_add(&model_calls, 1);
    for (int m = atomic_load(&model_max_rows); rows > m;)
        if (atomic_compare_exchange_weak(&model_max_rows, &m, rows))
            break;
    tfn_value_t *y = tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_I64, 2, tfn_tensor_shape(x));
    if (!y)
        return TFN_ENOMEM;
    const int64_t *src = tfn_tensor_data(x);
    int64_t *dst = tfn_tensor_data(y);
    for (size_t i = 0; i < tfn_len(x); i++)
        dst[i] = 2 * src[i];
    *out = tfn_object(tfn_ctx_arena(ctx));
    if (!*out || tfn_object_set(tfn_ctx_arena(ctx), *out, "y", y) ||
        tfn_object_set(tfn_ctx_arena(ctx), *out, "rows", tfn_int(tfn_ctx_arena(ctx), rows)))
        return TFN_ENOMEM;
    return 0;
}

static const tfn_field_t x_in[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_I64, .ndim = 2, .shape = {-1, 1}},
    {0}};
static const tfn_api_t model_apis[] = {{.name = "double",
                                        .handler = model_double,
                                        .inputs = x_in,
                                        .output = TFN_TYPE_OBJECT,
                                        .run = TFN_RUN_IN_THREAD,
                                        .batch = {.max_size = 16, .max_latency_ms = 5}},
                                       {0}};
static const tfn_service_t model = {.name = "Model", .apis = model_apis};

#define FAN 40

/* {"n": int} -> {"ok": how many answers were right} after n calls to Model.double at once. */
static int entry_fan(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    int64_t n = tfn_as_int(tfn_object_get(in, "n"));
    tfn_future_t *f[FAN];
    for (int64_t i = 0; i < n && i < FAN; i++) {
        int64_t shape[2] = {1 + i % 3, 1};
        tfn_value_t *x = tfn_tensor(a, TFN_DTYPE_I64, 2, shape), *obj = tfn_object(a);
        for (int64_t r = 0; x && r < shape[0]; r++)
            ((int64_t *)tfn_tensor_data(x))[r] = i * 10 + r;
        if (!obj || !x || tfn_object_set(a, obj, "x", x))
            return TFN_ENOMEM;
        f[i] = tfn_call_async(ctx, "Model", "double", obj, NULL);
    }
    tfn_await_all(f, (size_t)n);
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        tfn_value_t *o = NULL;
        if (tfn_await(f[i], &o, NULL) != 0)
            continue;
        const tfn_value_t *y = tfn_object_get(o, "y");
        bool right = tfn_tensor_shape(y)[0] == 1 + i % 3;
        for (int64_t r = 0; right && r < 1 + i % 3; r++)
            right = ((int64_t *)tfn_tensor_data(y))[r] == 2 * (i * 10 + r);
        ok += right;
    }
    *out = tfn_object(a);
    return *out ? tfn_object_set(a, *out, "ok", tfn_int(a, ok)) : TFN_ENOMEM;
}

static const tfn_field_t n_in[] = {{.name = "n", .type = TFN_TYPE_INT}, {0}};
static const tfn_api_t entry_apis[] = {
    {.name = "fan", .handler = entry_fan, .inputs = n_in, .output = TFN_TYPE_OBJECT}, {0}};
static const tfn_dependency_t entry_deps[] = {{.service = &model}, {0}};
static const tfn_service_t entry = {.name = "Entry", .apis = entry_apis, .depends = entry_deps};

static void test_dependency_calls_merge_in_the_worker(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    CHECK(t != NULL);
    if (!t)
        return;
    tfn_arena_t *arena = tfn_arena_new(0);
    tfn_value_t *in = tfn_object(arena), *out = NULL;
    tfn_object_set(arena, in, "n", tfn_int(arena, FAN));
    CHECK_EQ_INT(tfn_test_call(t, "fan", in, arena, &out, &err), 0);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(out, "ok")), FAN); /* each got its own rows */
    /* 40 calls of 1-3 rows (80 rows) arrive together: fewer handler calls than requests, none
     * over max_size. */
    CHECK(atomic_load(&model_calls) < FAN);
    CHECK(atomic_load(&model_calls) >= 80 / 16);
    CHECK(atomic_load(&model_max_rows) > 1 && atomic_load(&model_max_rows) <= 16);
    tfn_arena_free(arena);
    tfn_test_free(t);
}

static void test_definitions_are_checked(void)
{
    static const tfn_field_t opt_in[] = {{.name = "x", .type = TFN_TYPE_TENSOR, .optional = true},
                                         {0}};
    static const tfn_field_t str_in[] = {{.name = "s", .type = TFN_TYPE_STRING}, {0}};
    tfn_api_t api = {.name = "a", .handler = model_double, .inputs = opt_in, .batch.max_size = 4};
    tfn_service_t svc = {.name = "S"};
    tfn_error_t err;
    CHECK_EQ_INT(tfn__batch_check_api(&svc, &api, &err), TFN_EINVAL);
    api.inputs = str_in;
    CHECK_EQ_INT(tfn__batch_check_api(&svc, &api, &err), TFN_EINVAL);
    api.inputs = NULL;
    CHECK_EQ_INT(tfn__batch_check_api(&svc, &api, &err), TFN_EINVAL);
    api.inputs = x_in;
    api.output = TFN_TYPE_STRING;
    CHECK_EQ_INT(tfn__batch_check_api(&svc, &api, &err), TFN_EINVAL);
    api.output = TFN_TYPE_TENSOR;
    CHECK_EQ_INT(tfn__batch_check_api(&svc, &api, &err), 0);
    api.batch.max_size = 0; /* not batchable at all: nothing to check */
    api.inputs = str_in;
    CHECK_EQ_INT(tfn__batch_check_api(&svc, &api, &err), 0);
}

int main(void)
{
    RUN(test_cost_model_learns_fixed_and_per_row);
    RUN(test_decide);
    RUN(test_dependency_calls_merge_in_the_worker);
    RUN(test_definitions_are_checked);
    return check_summary("batch");
}
