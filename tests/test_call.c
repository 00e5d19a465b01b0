/*
 * test_call.c — dependency calls through a test graph (tiffin/testing.h): sequential and
 * parallel calls, error propagation and fallback, timeouts, test doubles, misuse.
 * (The same calls over real sockets are in tests/integration/test_compose.py.)
 */
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tiffin.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- the dependencies ------------------------------------------------------------------------ */

/* Doubler.double: {"x": int} -> {"y": 2x}. */
static int do_double(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "y", tfn_int(a, 2 * tfn_as_int(tfn_object_get(in, "x"))));
}

/* Doubler.fail: always fails with a 400-class error. */
static int do_fail(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    (void)out;
    return tfn_ctx_fail(ctx, TFN_EINVAL, "I refuse");
}

/* Doubler.sleep: sleeps {"ms"} on a thread, then answers {"slept": ms}. */
static int do_sleep(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t ms = tfn_as_int(tfn_object_get(in, "ms"));
    usleep((useconds_t)ms * 1000);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "slept", tfn_int(a, ms));
}

/* Doubler.vec: {"t": float32[n]} -> the same tensor times 2 (travels in the binary encoding). */
static int do_vec(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *t = tfn_object_get(in, "t");
    int64_t n = tfn_tensor_shape(t)[0];
    tfn_value_t *r = tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_F32, 1, &n);
    const float *x = tfn_tensor_data(t);
    float *y = tfn_tensor_data(r);
    for (int64_t i = 0; i < n; i++)
        y[i] = 2 * x[i];
    *out = r;
    return 0;
}

static const tfn_field_t x_in[] = {{.name = "x", .type = TFN_TYPE_INT}, {0}};
static const tfn_field_t ms_in[] = {{.name = "ms", .type = TFN_TYPE_INT}, {0}};
static const tfn_field_t t_in[] = {
    {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 1, .shape = {-1}}, {0}};

static const tfn_api_t doubler_apis[] = {
    {.name = "double", .handler = do_double, .inputs = x_in, .output = TFN_TYPE_OBJECT},
    {.name = "fail", .handler = do_fail},
    {.name = "sleep", .handler = do_sleep, .inputs = ms_in, .run = TFN_RUN_IN_THREAD},
    {.name = "vec", .handler = do_vec, .inputs = t_in, .output = TFN_TYPE_TENSOR},
    {0}};
static const tfn_service_t doubler = {.name = "Doubler", .apis = doubler_apis};
static const tfn_service_t doubler2 = {.name = "Doubler2", .apis = doubler_apis};

/* ---- the entry ----------------------------------------------------------------------------- */

/* Entry.twice: Doubler twice in sequence: {"x"} -> {"y": 4x}. */
static int entry_twice(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_value_t *mid, *res;
    tfn_error_t err;
    if (tfn_call(ctx, "Doubler", "double", in, &mid, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *next = tfn_object(a);
    tfn_object_set(a, next, "x", tfn_object_get(mid, "y"));
    if (tfn_call(ctx, "Doubler", "double", next, &res, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    *out = res;
    return 0;
}

/* Entry.gather: both doublers sleep {"ms"} at once; answers the wall time it took. */
static int entry_gather(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    double t0 = now_ms();
    tfn_future_t *f[2] = {tfn_call_async(ctx, "Doubler", "sleep", in, NULL),
                          tfn_call_async(ctx, "Other", "sleep", in, NULL)};
    int rc = tfn_await_all(f, 2);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    tfn_object_set(a, *out, "rc", tfn_int(a, rc));
    return tfn_object_set(a, *out, "ms", tfn_float(a, now_ms() - t0));
}

/* Entry.degrade: calls Doubler.fail, falls back to a default and says what failed. */
static int entry_degrade(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    tfn_error_t err;
    tfn_value_t *r;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    if (tfn_call(ctx, "Doubler", "fail", tfn_object(a), &r, &err) == 0)
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "fail succeeded");
    tfn_object_set(a, *out, "code", tfn_string(a, tfn_errname(err.code)));
    tfn_object_set(a, *out, "status", tfn_int(a, err.http_status));
    tfn_object_set(a, *out, "service", tfn_string(a, err.service));
    tfn_object_set(a, *out, "api", tfn_string(a, err.api));
    return tfn_object_set(a, *out, "message", tfn_string(a, err.message));
}

/* Entry.propagate: Doubler.fail's error goes to the client as it is. */
static int entry_propagate(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_error_t err;
    if (tfn_call(ctx, "Doubler", "fail", in, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

/* Entry.call: calls {"dep"}.{"api"} with {"input"} and {"timeout_ms"}; returns its output. */
static int entry_call(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_call_options_t opts = {.timeout_ms =
                                   (uint32_t)tfn_as_int(tfn_object_get(in, "timeout_ms"))};
    tfn_future_t *f = tfn_call_async(ctx, tfn_as_string(tfn_object_get(in, "dep"), NULL),
                                     tfn_as_string(tfn_object_get(in, "api"), NULL),
                                     tfn_object_get(in, "input"), &opts);
    tfn_error_t err;
    if (tfn_await(f, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

/* Entry.threaded: a handler on a thread may not call (it cannot be suspended). */
static int entry_threaded(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_error_t err;
    if (tfn_call(ctx, "Doubler", "double", in, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

/* Entry.forget: starts a slow call and returns without awaiting it. */
static int entry_forget(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_call_async(ctx, "Doubler", "sleep", in, NULL);
    *out = tfn_null(tfn_ctx_arena(ctx));
    return 0;
}

static tfn_value_t *obj_ms(tfn_arena_t *a, int64_t ms)
{
    tfn_value_t *o = tfn_object(a);
    tfn_object_set(a, o, "ms", tfn_int(a, ms));
    return o;
}

/* Entry.free: frees one answered future and one still in flight; answers what awaits said. */
static int entry_free(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_future_t *done = tfn_call_async(ctx, "Doubler", "double", in, NULL);
    tfn_value_t *y;
    int first = tfn_await(done, &y, NULL);
    int64_t value = tfn_as_int(tfn_object_get(y, "y"));
    tfn_future_free(done);
    tfn_error_t err;
    int again = tfn_await(done, &y, &err);
    tfn_future_t *pending = tfn_call_async(ctx, "Doubler", "sleep", obj_ms(a, 100), NULL);
    tfn_future_free(pending);
    int freed = tfn_await(pending, NULL, NULL);
    *out = tfn_object(a);
    tfn_object_set(a, *out, "first", tfn_int(a, first));
    tfn_object_set(a, *out, "value", tfn_int(a, value));
    tfn_object_set(a, *out, "again", tfn_int(a, again));
    tfn_object_set(a, *out, "again_output_null", tfn_bool(a, y == NULL));
    tfn_object_set(a, *out, "message", tfn_string(a, err.message));
    tfn_future_free(NULL);
    return tfn_object_set(a, *out, "pending", tfn_int(a, freed));
}

static const tfn_field_t call_in[] = {
    {.name = "dep", .type = TFN_TYPE_STRING},
    {.name = "api", .type = TFN_TYPE_STRING},
    {.name = "input", .type = TFN_TYPE_ANY},
    {.name = "timeout_ms", .type = TFN_TYPE_INT, .optional = true},
    {0}};

static const tfn_api_t entry_apis[] = {
    {.name = "twice", .handler = entry_twice, .inputs = x_in},
    {.name = "gather", .handler = entry_gather, .inputs = ms_in},
    {.name = "degrade", .handler = entry_degrade},
    {.name = "propagate", .handler = entry_propagate},
    {.name = "call", .handler = entry_call, .inputs = call_in},
    {.name = "threaded", .handler = entry_threaded, .inputs = x_in, .run = TFN_RUN_IN_THREAD},
    {.name = "forget", .handler = entry_forget, .inputs = ms_in},
    {.name = "free", .handler = entry_free, .inputs = x_in},
    {0}};
static const tfn_dependency_t entry_deps[] = {
    {.service = &doubler}, {.name = "Other", .service = &doubler2}, {0}};
static const tfn_service_t entry = {
    .name = "Entry", .apis = entry_apis, .depends = entry_deps, .traffic = {.timeout_ms = 2000}};

/* ---- helpers --------------------------------------------------------------------------------- */

static tfn_arena_t *arena;

static tfn_value_t *obj_int(const char *k, int64_t v)
{
    tfn_value_t *o = tfn_object(arena);
    tfn_object_set(arena, o, k, tfn_int(arena, v));
    return o;
}

static int call(tfn_test_t *t, const char *api, const tfn_value_t *in, tfn_value_t **out,
                tfn_error_t *err)
{
    return tfn_test_call(t, api, in ? in : tfn_object(arena), arena, out, err);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_sequential(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    CHECK(t != NULL);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "twice", obj_int("x", 5), &out, &err), 0);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(out, "y")), 20);
    CHECK_EQ_INT(call(t, "twice", obj_int("x", -1), &out, &err), 0); /* again, same graph */
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(out, "y")), -4);
    tfn_test_free(t);
}

static void test_parallel_calls_overlap(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "gather", obj_int("ms", 200), &out, &err), 0);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(out, "rc")), 0);
    double ms = tfn_as_float(tfn_object_get(out, "ms"));
    if (ms < 190 || ms > 350)
        fprintf(stderr, "  gathered two 200 ms calls in %.1f ms\n", ms);
    CHECK(ms >= 190 && ms < 350); /* concurrent: about 200, not 400 */
    tfn_test_free(t);
}

static void test_error_fallback(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "degrade", NULL, &out, &err), 0);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(out, "code"), NULL), "EINVAL");
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(out, "status")), 400);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(out, "service"), NULL), "Doubler");
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(out, "api"), NULL), "fail");
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(out, "message"), NULL), "I refuse");
    tfn_test_free(t);
}

static void test_error_propagates(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "propagate", NULL, &out, &err), TFN_EINVAL);
    CHECK_EQ_INT(err.http_status, 400);
    CHECK_EQ_STR(err.service, "Doubler");
    CHECK_EQ_STR(err.api, "fail");
    CHECK_EQ_STR(err.message, "I refuse");
    tfn_test_free(t);
}

static tfn_value_t *call_args(const char *dep, const char *api, tfn_value_t *input, int timeout)
{
    tfn_value_t *o = tfn_object(arena);
    tfn_object_set(arena, o, "dep", tfn_string(arena, dep));
    tfn_object_set(arena, o, "api", tfn_string(arena, api));
    tfn_object_set(arena, o, "input", input);
    if (timeout)
        tfn_object_set(arena, o, "timeout_ms", tfn_int(arena, timeout));
    return o;
}

static void test_unknown_dependency_and_api(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "call", call_args("Nope", "double", obj_int("x", 1), 0), &out, &err),
                 TFN_ENOTFOUND);
    CHECK(strstr(err.message, "no dependency 'Nope'") != NULL);
    CHECK_EQ_INT(call(t, "call", call_args("Doubler", "nope", obj_int("x", 1), 0), &out, &err),
                 TFN_ENOTFOUND);
    CHECK(strstr(err.message, "no API 'nope'") != NULL);
    CHECK_EQ_INT(call(t, "call", call_args("Doubler", "bad/name", obj_int("x", 1), 0), &out, &err),
                 TFN_EINVAL);
    /* The dependency validates its input as it would over HTTP. */
    tfn_value_t *wrong = tfn_object(arena);
    tfn_object_set(arena, wrong, "x", tfn_string(arena, "one"));
    CHECK_EQ_INT(call(t, "call", call_args("Doubler", "double", wrong, 0), &out, &err), TFN_ETYPE);
    CHECK_EQ_STR(err.service, "Doubler");
    tfn_test_free(t);
}

static void test_call_timeout(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    tfn_value_t *out;
    double t0 = now_ms();
    CHECK_EQ_INT(
        call(t, "call", call_args("Doubler", "sleep", obj_int("ms", 400), 100), &out, &err),
        TFN_ETIMEOUT);
    CHECK(now_ms() - t0 < 350); /* answered at the call's timeout, not when the sleep ended */
    CHECK_EQ_INT(err.http_status, 504);
    /* The deadline travels: the entry's own 2000 ms bounds a call without a timeout. */
    t0 = now_ms();
    CHECK_EQ_INT(call(t, "call", call_args("Doubler", "sleep", obj_int("ms", 2500), 0), &out, &err),
                 TFN_ETIMEOUT);
    double took = now_ms() - t0;
    CHECK(took >= 1900 && took < 2400);
    tfn_test_free(t); /* waits for the sleeping threads: nothing leaks */
}

static void test_tensor_roundtrip(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    int64_t n = 1000;
    tfn_value_t *x = tfn_tensor(arena, TFN_DTYPE_F32, 1, &n);
    float *xs = tfn_tensor_data(x);
    for (int i = 0; i < n; i++)
        xs[i] = (float)i / 3.0f;
    tfn_value_t *in = tfn_object(arena);
    tfn_object_set(arena, in, "t", x);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "call", call_args("Doubler", "vec", in, 0), &out, &err), 0);
    CHECK_EQ_INT(tfn_typeof(out), TFN_TYPE_TENSOR);
    CHECK_EQ_INT(tfn_tensor_shape(out)[0], n);
    const float *ys = tfn_tensor_data(out);
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += ys[i] != 2 * xs[i];
    CHECK_EQ_INT(bad, 0);
    tfn_test_free(t);
}

static void test_threaded_handler_cannot_call(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "threaded", obj_int("x", 1), &out, &err), TFN_EINVAL);
    CHECK(strstr(err.message, "TFN_RUN_ON_LOOP") != NULL);
    tfn_test_free(t);
}

static void test_unawaited_call_is_cancelled(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "forget", obj_int("ms", 50), &out, &err), 0);
    CHECK_EQ_INT(call(t, "twice", obj_int("x", 1), &out, &err), 0);
    tfn_test_free(t);
}

/* A double for Doubler whose "double" triples. */
static int triple(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "y", tfn_int(a, 3 * tfn_as_int(tfn_object_get(in, "x"))));
}
static const tfn_api_t tripler_apis[] = {{.name = "double", .handler = triple, .inputs = x_in},
                                         {0}};
static const tfn_service_t tripler = {.name = "Tripler", .apis = tripler_apis};

static void test_future_free(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "free", obj_int("x", 21), &out, &err), 0);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(out, "first")), 0);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(out, "value")), 42);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(out, "again")), TFN_EINVAL);
    CHECK(tfn_as_bool(tfn_object_get(out, "again_output_null")));
    CHECK(strstr(tfn_as_string(tfn_object_get(out, "message"), NULL), "tfn_future_free") != NULL);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(out, "pending")), TFN_EINVAL);
    tfn_test_free(t); /* the cancelled sleep finishes on its thread; nothing leaks */
}

static void test_double_replaces_dependency(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    CHECK_EQ_INT(tfn_test_replace(t, "Doubler", &tripler, &err), 0);
    CHECK_EQ_INT(tfn_test_replace(t, "Nope", &tripler, &err), TFN_ENOTFOUND);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "twice", obj_int("x", 1), &out, &err), 0);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(out, "y")), 9);
    CHECK_EQ_INT(tfn_test_replace(t, "Doubler", &doubler, &err), TFN_EINVAL); /* too late */
    tfn_test_free(t);
}

static int failing_init(tfn_worker_t *w, void **state)
{
    (void)state;
    return tfn_worker_fail(w, TFN_EINIT, "model file /nope.bin is missing");
}
static const tfn_service_t broken = {.name = "Doubler", .apis = doubler_apis, .init = failing_init};

static void test_init_failure(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&entry, &err);
    CHECK_EQ_INT(tfn_test_replace(t, "Doubler", &broken, &err), 0);
    tfn_value_t *out;
    CHECK_EQ_INT(call(t, "twice", obj_int("x", 1), &out, &err), TFN_EINIT);
    CHECK(strstr(err.message, "/nope.bin") != NULL);
    CHECK_EQ_STR(err.service, "Doubler");
    tfn_test_free(t);
}

/* A cycle and a name clash are refused when the graph is built. */
static const tfn_dependency_t a_deps[];
static const tfn_service_t cyc_a;
static const tfn_dependency_t b_deps[] = {{.service = &cyc_a}, {0}};
static const tfn_service_t cyc_b = {.name = "B", .apis = doubler_apis, .depends = b_deps};
static const tfn_dependency_t a_deps[] = {{.service = &cyc_b}, {0}};
static const tfn_service_t cyc_a = {.name = "A", .apis = doubler_apis, .depends = a_deps};
static const tfn_service_t doubler_clone = {.name = "Doubler", .apis = tripler_apis};
static const tfn_dependency_t clash_deps[] = {
    {.service = &doubler}, {.name = "Again", .service = &doubler_clone}, {0}};
static const tfn_service_t clash = {.name = "Clash", .apis = doubler_apis, .depends = clash_deps};
static const tfn_dependency_t nowhere_deps[] = {{.name = "Nowhere"}, {0}};
static const tfn_service_t nowhere = {.name = "N", .apis = doubler_apis, .depends = nowhere_deps};

static void test_bad_graphs(void)
{
    tfn_error_t err;
    CHECK(tfn_test_new(&cyc_a, &err) == NULL);
    CHECK(strstr(err.message, "cycle: A -> B -> A") != NULL);
    CHECK(tfn_test_new(&clash, &err) == NULL);
    CHECK(strstr(err.message, "'Doubler'") != NULL);
    CHECK(tfn_test_new(&nowhere, &err) == NULL);
    CHECK(strstr(err.message, "needs a service or a url") != NULL);
}

/* ---- admission: max_concurrency 1 with max_queue 2 ---------------------------------------- */

static int narrow_sleep(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_sleep(ctx, (uint32_t)tfn_as_int(tfn_object_get(in, "ms")));
    *out = tfn_null(tfn_ctx_arena(ctx));
    return 0;
}
static const tfn_api_t narrow_apis[] = {{.name = "sleep", .handler = narrow_sleep, .inputs = ms_in},
                                        {0}};
static const tfn_service_t narrow = {
    .name = "Narrow",
    .apis = narrow_apis,
    .traffic = {.max_concurrency = 1, .max_queue = 2, .timeout_ms = 500}};

/* Crowd.rush: {"ms"}: four calls to Narrow.sleep at once; answers each one's code and time. */
static int crowd_rush(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    double t0 = now_ms();
    tfn_future_t *f[4];
    for (int i = 0; i < 4; i++)
        f[i] = tfn_call_async(ctx, "Narrow", "sleep", in, NULL);
    *out = tfn_list(a);
    for (int i = 0; i < 4; i++) {
        tfn_error_t err;
        int rc = tfn_await(f[i], NULL, &err);
        tfn_value_t *r = tfn_object(a);
        tfn_object_set(a, r, "code", tfn_string(a, rc ? tfn_errname(rc) : "OK"));
        tfn_object_set(a, r, "ms", tfn_float(a, now_ms() - t0));
        tfn_list_append(a, *out, r);
    }
    return 0;
}
static const tfn_api_t crowd_apis[] = {{.name = "rush", .handler = crowd_rush, .inputs = ms_in},
                                       {0}};
static const tfn_dependency_t crowd_deps[] = {{.service = &narrow}, {0}};
static const tfn_service_t crowd = {.name = "Crowd", .apis = crowd_apis, .depends = crowd_deps};

static const char *code_at(const tfn_value_t *list, size_t i)
{
    return tfn_as_string(tfn_object_get(tfn_list_get(list, i), "code"), NULL);
}

static double ms_at(const tfn_value_t *list, size_t i)
{
    return tfn_as_float(tfn_object_get(tfn_list_get(list, i), "ms"));
}

static void test_queue_then_429(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&crowd, &err);
    tfn_value_t *out;
    /* One runs, two wait their turn, the fourth is refused at once. */
    CHECK_EQ_INT(call(t, "rush", obj_int("ms", 60), &out, &err), 0);
    CHECK_EQ_STR(code_at(out, 0), "OK");
    CHECK_EQ_STR(code_at(out, 1), "OK");
    CHECK_EQ_STR(code_at(out, 2), "OK");
    CHECK_EQ_STR(code_at(out, 3), "EBUSY");
    CHECK(ms_at(out, 0) >= 55 && ms_at(out, 1) >= 115 && ms_at(out, 2) >= 175); /* in turn */
    /* Waiting counts against the timeout (500 ms): the second in the queue would start at 400
     * and end at 600, so it is answered 504 while the first two finish (100 ms of margin either
     * side, for a loaded machine under the sanitizers). */
    CHECK_EQ_INT(call(t, "rush", obj_int("ms", 200), &out, &err), 0);
    CHECK_EQ_STR(code_at(out, 0), "OK");
    CHECK_EQ_STR(code_at(out, 1), "OK");
    CHECK_EQ_STR(code_at(out, 2), "ETIMEOUT");
    CHECK_EQ_STR(code_at(out, 3), "EBUSY");
    tfn_test_free(t);
}

int main(void)
{
    arena = tfn_arena_new(64 << 20);
    RUN(test_sequential);
    RUN(test_parallel_calls_overlap);
    RUN(test_error_fallback);
    RUN(test_error_propagates);
    RUN(test_unknown_dependency_and_api);
    RUN(test_call_timeout);
    RUN(test_tensor_roundtrip);
    RUN(test_threaded_handler_cannot_call);
    RUN(test_unawaited_call_is_cancelled);
    RUN(test_future_free);
    RUN(test_double_replaces_dependency);
    RUN(test_init_failure);
    RUN(test_bad_graphs);
    RUN(test_queue_then_429);
    tfn_arena_free(arena);
    return check_summary("call");
}
