/*
 * hop — the smallest composition, for measuring what one hop costs: Relay.relay forwards its
 * input to Echo.echo and returns what Echo answered.
 *
 *   POST /relay {"t": float32 tensor of any shape}   -> the same tensor, via Echo
 *   POST /relay {"n": 1}                             -> {"n": 1}, via Echo (tiny payload)
 *
 *   POST /hold {"ms": 5000}                        -> Echo.pause waits ms (tfn_sleep), then
 * answers: thousands of these park in Relay at once POST /measure {"n": 1000, "t": tensor?} ->
 * p50/p99/mean of n sequential calls to Echo, timed inside Relay: exactly one hop each
 *
 * Echo also answers directly (`serve --service Echo`), so a benchmark can time the client ->
 * Echo round trip and the client -> Relay -> Echo -> Relay -> client one in the same run; the
 * difference is the hop. bench/hop/run.sh does that.
 */
#include <stdlib.h>
#include <time.h>

#include <tiffin.h>

static int echo(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    *out = (tfn_value_t *)in; /* the input lives in the request's arena too */
    return 0;
}

/* {"t": float32 tensor of any shape} or {"n": anything}. `t` is declared a tensor, so a JSON list
 * from outside becomes raw float32 once, at the edge, and crosses the hop as one buffer. */
static const tfn_field_t any_in[] = {
    {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .optional = true},
    {.name = "n", .type = TFN_TYPE_ANY, .optional = true},
    {0}};
/* Waits without blocking the worker, then answers {"ms": ms}. */
static int pause_api(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int rc = tfn_sleep(ctx, (uint32_t)tfn_as_int(tfn_object_get(in, "ms")));
    if (rc != 0)
        return tfn_ctx_fail(ctx, rc, "woken early: %s", tfn_strerror(rc));
    *out = (tfn_value_t *)in;
    return 0;
}

static const tfn_field_t ms_in[] = {{.name = "ms", .type = TFN_TYPE_INT}, {0}};
static const tfn_api_t echo_open_apis[] = {
    {.name = "echo", .handler = echo, .inputs = any_in, .doc = "answers its input"},
    {.name = "pause", .handler = pause_api, .inputs = ms_in, .doc = "answers after ms"},
    {0}};
static const tfn_service_t echo_svc = {
    .name = "Echo",
    .apis = echo_open_apis,
    .traffic = {.max_concurrency = 65536, .max_connections = 30000, .max_body_bytes = 80 << 20}};

static int relay(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_error_t err;
    if (tfn_call(ctx, "Echo", "echo", in, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

static int hold(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_error_t err;
    if (tfn_call(ctx, "Echo", "pause", in, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Calls Echo n times in a row with {"t": t} (or {"n": 1}) and reports the latency of one call. */
static int measure(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    int64_t n = tfn_as_int(tfn_object_get(in, "n"));
    if (n < 1 || n > 1000000)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'n' must be 1 to 1000000");
    tfn_value_t *payload = tfn_object(a);
    tfn_value_t *t = tfn_object_get(in, "t");
    const tfn_value_t *elems = tfn_object_get(in, "elems");
    if (elems) { /* a float32 tensor made here: payloads too large to send as JSON */
        int64_t shape[] = {tfn_as_int(elems)};
        if (shape[0] < 1 || shape[0] > (1 << 25))
            return tfn_ctx_fail(ctx, TFN_EINVAL, "'elems' must be 1 to 2^25");
        t = tfn_tensor(a, TFN_DTYPE_F32, 1, shape);
        if (!t)
            return tfn_ctx_fail(ctx, TFN_ENOMEM, "no room for %lld floats", (long long)shape[0]);
        float *f = tfn_tensor_data(t);
        for (int64_t i = 0; i < shape[0]; i++)
            f[i] = (float)i * 0.5f;
    }
    tfn_object_set(a, payload, t ? "t" : "n", t ? t : tfn_int(a, 1));
    double *us = malloc((size_t)n * sizeof *us);
    if (!us)
        return TFN_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        struct timespec t0, t1;
        tfn_value_t *echoed;
        tfn_error_t err;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        tfn_future_t *f = tfn_call_async(ctx, "Echo", "echo", payload, NULL);
        int rc = tfn_await(f, &echoed, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        tfn_future_free(f); /* one request, thousands of calls: keep no answer */
        if (rc != 0) {
            free(us);
            return tfn_ctx_fail_with(ctx, &err);
        }
        us[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    }
    qsort(us, (size_t)n, sizeof *us, cmp_double);
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += us[i];
    *out = tfn_object(a);
    tfn_object_set(a, *out, "calls", tfn_int(a, n));
    tfn_object_set(a, *out, "p50_us", tfn_float(a, us[n / 2]));
    tfn_object_set(a, *out, "p99_us", tfn_float(a, us[(n * 99) / 100]));
    tfn_object_set(a, *out, "mean_us", tfn_float(a, sum / (double)n));
    free(us);
    return 0;
}

static const tfn_field_t measure_in[] = {
    {.name = "n", .type = TFN_TYPE_INT},
    {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .optional = true},
    {.name = "elems", .type = TFN_TYPE_INT, .optional = true},
    {0}};
static const tfn_api_t relay_apis[] = {
    {.name = "relay", .handler = relay, .inputs = any_in, .doc = "Echo's answer to the input"},
    {.name = "hold", .handler = hold, .inputs = ms_in, .doc = "Echo.pause: a parked request"},
    {.name = "measure",
     .handler = measure,
     .inputs = measure_in,
     .doc = "latency of n sequential calls to Echo, timed inside Relay"},
    {0}};
static const tfn_dependency_t relay_deps[] = {{.service = &echo_svc}, {0}};
static const tfn_service_t relay_svc = {.name = "Relay",
                                        .apis = relay_apis,
                                        .depends = relay_deps,
                                        .traffic = {.timeout_ms = 600000,
                                                    .max_concurrency = 65536,
                                                    .max_connections = 30000,
                                                    .max_body_bytes = 80 << 20}};

int main(int argc, char **argv) { return tfn_main(argc, argv, &relay_svc); }
