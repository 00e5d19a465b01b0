/*
 * testsvc — a service for the integration tests, with fault injection (allowed for fakes: this
 * is what a test needs to make a handler fail, hang or lie about its output).
 *
 * Environment:
 *   TESTSVC_INIT_MS=N      init sleeps N ms (exercises /readyz before init finished)
 *   TESTSVC_INIT_FAIL=1    init fails with a message
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tiffin.h>

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

typedef struct state {
    int calls;
} state_t;

static int init(tfn_worker_t *w, void **state)
{
    const char *ms = getenv("TESTSVC_INIT_MS");
    if (ms)
        sleep_ms(atoi(ms));
    if (getenv("TESTSVC_INIT_FAIL"))
        return tfn_worker_fail(w, TFN_EINIT, "cannot open model file '/nonexistent/model.bin'");
    state_t *s = calloc(1, sizeof *s);
    if (!s)
        return TFN_ENOMEM;
    *state = s;
    return 0;
}

static void shutdown_hook(tfn_worker_t *w, void *state)
{
    fprintf(stderr, "testsvc: shutdown hook ran (worker %u)\n", tfn_worker_index(w));
    free(state);
}

/* echo: returns its input object as it is. */
static int echo(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    *out = (tfn_value_t *)in;
    return 0;
}

/* echo_value: returns the member "value", whatever it is. */
static int echo_value(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    *out = tfn_object_get(in, "value");
    return 0;
}

/* typed: reports what it received, proving types arrived converted. */
static int typed(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *t = tfn_object_get(in, "t");
    const float *td = tfn_tensor_data(t);
    double tsum = 0;
    for (size_t i = 0; i < tfn_len(t); i++)
        tsum += td[i];
    ((state_t *)tfn_ctx_state(ctx))->calls++;
    *out = tfn_object(a);
    int rc = tfn_object_set(a, *out, "i", tfn_int(a, tfn_as_int(tfn_object_get(in, "i")) + 1));
    rc = rc ? rc : tfn_object_set(a, *out, "f", tfn_float(a, tfn_as_float(tfn_object_get(in, "f"))));
    rc = rc ? rc : tfn_object_set(a, *out, "s", tfn_object_get(in, "s"));
    rc = rc ? rc : tfn_object_set(a, *out, "b", tfn_bool(a, !tfn_as_bool(tfn_object_get(in, "b"))));
    rc = rc ? rc : tfn_object_set(a, *out, "t_sum", tfn_float(a, tsum));
    rc = rc ? rc : tfn_object_set(a, *out, "t_dtype", tfn_string(a, tfn_dtype_name(tfn_tensor_dtype(t))));
    rc = rc ? rc : tfn_object_set(a, *out, "has_opt", tfn_bool(a, tfn_object_get(in, "opt") != NULL));
    return rc;
}

/* fail: a handler error with a message (500). */
static int fail(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in, (void)out;
    return tfn_ctx_fail(ctx, TFN_EHANDLER, "model exploded on purpose");
}

/* reject: a handler-detected bad input (400). */
static int reject(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in, (void)out;
    return tfn_ctx_fail(ctx, TFN_EINVAL, "the input is well-formed but unacceptable");
}

/* bad_output: declares an object, returns a string (500 EOUTPUT). */
static int bad_output(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    *out = tfn_string(tfn_ctx_arena(ctx), "not an object");
    return 0;
}

/* raw_code: returns a code that is not a tiffin error code (500 EHANDLER). */
static int raw_code(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx, (void)in, (void)out;
    return -12345;
}

/* sleep: sleeps `ms` on a handler thread (never on the loop), then answers. */
static int sleep_api(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    sleep_ms(tfn_as_int(tfn_object_get(in, "ms")));
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "slept", tfn_object_get(in, "ms"));
}

/* spin: blocks the loop for `ms` (a handler that computes on the loop for too long). */
static int spin(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    sleep_ms(tfn_as_int(tfn_object_get(in, "ms")));
    *out = tfn_null(tfn_ctx_arena(ctx));
    return 0;
}

/* big: returns a float32 tensor of n elements (output encoding of large tensors). */
static int big(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t n = tfn_as_int(tfn_object_get(in, "n"));
    if (n < 0 || n > (1 << 24))
        return tfn_ctx_fail(ctx, TFN_EINVAL, "n must be within 0..16777216");
    *out = tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_F32, 1, &n);
    if (!*out)
        return TFN_ENOMEM;
    float *d = tfn_tensor_data(*out);
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)i * 0.5f;
    return 0;
}

static const tfn_field_t echo_inputs[] = {
    {.name = "value", .type = TFN_TYPE_ANY, .optional = true},
    {.name = "other", .type = TFN_TYPE_ANY, .optional = true},
    {0},
};
static const tfn_field_t typed_inputs[] = {
    {.name = "i", .type = TFN_TYPE_INT},
    {.name = "f", .type = TFN_TYPE_FLOAT},
    {.name = "s", .type = TFN_TYPE_STRING},
    {.name = "b", .type = TFN_TYPE_BOOL},
    {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {2, -1}},
    {.name = "opt", .type = TFN_TYPE_LIST, .optional = true},
    {0},
};
static const tfn_field_t sleep_inputs[] = {{.name = "ms", .type = TFN_TYPE_INT}, {0}};
static const tfn_field_t big_inputs[] = {{.name = "n", .type = TFN_TYPE_INT}, {0}};

static const tfn_api_t apis[] = {
    {.name = "echo", .handler = echo, .inputs = echo_inputs, .output = TFN_TYPE_OBJECT},
    {.name = "echo_value", .handler = echo_value, .inputs = echo_inputs},
    {.name = "typed", .handler = typed, .inputs = typed_inputs, .output = TFN_TYPE_OBJECT},
    {.name = "fail", .handler = fail},
    {.name = "reject", .handler = reject},
    {.name = "bad_output", .handler = bad_output, .output = TFN_TYPE_OBJECT},
    {.name = "raw_code", .handler = raw_code},
    {.name = "sleep", .handler = sleep_api, .inputs = sleep_inputs, .output = TFN_TYPE_OBJECT,
     .run = TFN_RUN_IN_THREAD},
    {.name = "big", .handler = big, .inputs = big_inputs, .output = TFN_TYPE_TENSOR},
    {.name = "spin", .handler = spin, .inputs = sleep_inputs},
    {0},
};

static const tfn_service_t testsvc = {
    .name = "TestSvc",
    .version = "0.1.0",
    .doc = "Fault-injecting service for the integration tests.",
    .apis = apis,
    .threads = 8,
    .init = init,
    .shutdown = shutdown_hook,
    .traffic = {.timeout_ms = 2000, .max_concurrency = 64, .max_body_bytes = 1 << 20,
                .drain_ms = 5000},
};

int main(int argc, char **argv) { return tfn_main(argc, argv, &testsvc); }
