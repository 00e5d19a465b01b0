/*
 * composesvc — a graph for the HTTP-level composition tests (test_compose.py):
 * Front depends on Slow and on Other (a second instance of the same APIs).
 *
 *   Slow/Other: sleep {"ms"} (on the loop, tfn_sleep), echo {...}, fail {"code"}, crash, pid
 *   Front:      gather {"ms"}           both dependencies sleep at once; answers the time taken
 *               forward {"api", "input", "timeout_ms"?, "idempotent"?}
 *                                       Slow.<api>(input), its errors propagated as they are
 *               degrade                 Slow.fail, answered as data (the caller's fallback)
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tiffin.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dep_sleep(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t ms = tfn_as_int(tfn_object_get(in, "ms"));
    int rc = tfn_sleep(ctx, (uint32_t)ms);
    if (rc != 0) /* cut by the deadline or the caller's going away */
        return tfn_ctx_fail(ctx, rc, "woken after less than %lld ms", (long long)ms);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "slept", tfn_int(a, ms));
}

static int dep_echo(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    *out = (tfn_value_t *)in;
    return 0;
}

static int dep_fail(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in, (void)out;
    return tfn_ctx_fail(ctx, TFN_EINVAL, "I refuse");
}

static int dep_crash(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx, (void)in, (void)out;
    abort();
}

static int dep_pid(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "pid", tfn_int(a, getpid()));
}

static const tfn_field_t ms_in[] = {{.name = "ms", .type = TFN_TYPE_INT}, {0}};
static const tfn_field_t any_in[] = {{.name = "x", .type = TFN_TYPE_ANY, .optional = true}, {0}};
static const tfn_api_t dep_apis[] = {{.name = "sleep", .handler = dep_sleep, .inputs = ms_in},
                                     {.name = "echo", .handler = dep_echo, .inputs = any_in},
                                     {.name = "fail", .handler = dep_fail},
                                     {.name = "crash", .handler = dep_crash},
                                     {.name = "pid", .handler = dep_pid},
                                     {0}};
static const tfn_service_t slow = {
    .name = "Slow", .apis = dep_apis, .traffic = {.timeout_ms = 10000, .drain_ms = 2000}};
static const tfn_service_t other = {
    .name = "Other", .apis = dep_apis, .traffic = {.timeout_ms = 10000, .drain_ms = 2000}};

static int front_gather(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t t0 = now_ms();
    tfn_future_t *f[2] = {tfn_call_async(ctx, "Slow", "sleep", in, NULL),
                          tfn_call_async(ctx, "Other", "sleep", in, NULL)};
    tfn_error_t err;
    tfn_await_all(f, 2);
    if (tfn_await(f[0], NULL, &err) != 0 || tfn_await(f[1], NULL, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "ms", tfn_int(a, now_ms() - t0));
}

static int front_forward(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *t = tfn_object_get(in, "timeout_ms"), *i = tfn_object_get(in, "idempotent");
    tfn_call_options_t opts = {.timeout_ms = t ? (uint32_t)tfn_as_int(t) : 0,
                               .idempotent = i && tfn_as_bool(i)};
    tfn_future_t *f = tfn_call_async(ctx, "Slow", tfn_as_string(tfn_object_get(in, "api"), NULL),
                                     tfn_object_get(in, "input"), &opts);
    tfn_error_t err;
    if (tfn_await(f, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

static int front_degrade(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *r;
    tfn_error_t err;
    *out = tfn_object(a);
    if (tfn_call(ctx, "Slow", "fail", tfn_object(a), &r, &err) == 0)
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "Slow.fail succeeded");
    tfn_object_set(a, *out, "fallback", tfn_bool(a, true));
    tfn_object_set(a, *out, "code", tfn_string(a, tfn_errname(err.code)));
    tfn_object_set(a, *out, "status", tfn_int(a, err.http_status));
    tfn_object_set(a, *out, "service", tfn_string(a, err.service));
    tfn_object_set(a, *out, "api", tfn_string(a, err.api));
    return tfn_object_set(a, *out, "message", tfn_string(a, err.message));
}

static const tfn_field_t forward_in[] = {
    {.name = "api", .type = TFN_TYPE_STRING},
    {.name = "input", .type = TFN_TYPE_OBJECT},
    {.name = "timeout_ms", .type = TFN_TYPE_INT, .optional = true},
    {.name = "idempotent", .type = TFN_TYPE_BOOL, .optional = true},
    {0}};
static const tfn_api_t front_apis[] = {
    {.name = "gather", .handler = front_gather, .inputs = ms_in},
    {.name = "forward", .handler = front_forward, .inputs = forward_in},
    {.name = "degrade", .handler = front_degrade},
    {0}};
static const tfn_dependency_t front_deps[] = {{.service = &slow}, {.service = &other}, {0}};
static const tfn_service_t front = {.name = "Front",
                                    .apis = front_apis,
                                    .depends = front_deps,
                                    .traffic = {.timeout_ms = 5000, .drain_ms = 2000}};

int main(int argc, char **argv) { return tfn_main(argc, argv, &front); }
