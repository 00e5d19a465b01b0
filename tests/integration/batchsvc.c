/*
 * batchsvc — a service with batched APIs for the batching tests (tests/integration/test_batch.py).
 * Every handler is deterministic and says which batch it ran in, so a test can see how requests
 * were merged: "batch_id" (a counter) and "batch_rows" (the rows of the whole batch) are scalars,
 * which tiffin copies to every request of the batch; "y" is split back by rows.
 *
 *   double      {"x": float32[n][d]} -> {"y": 2x, "batch_id", "batch_rows"}; thread handler,
 *               max_size 8. A negative value in x fails the whole batch ("batch N: ...").
 *   double_loop the same as a loop handler (coroutine), max_size 8.
 *   add         {"a": float32[n][d], "b": float32[n][d]} -> float32[n][d] (a tensor output).
 *   bad_rows    returns one row too many: every request of the batch gets 500 EOUTPUT.
 *   echo        not batched (for the flag tests).
 *
 * Environment: BATCHSVC_SLEEP_MS=N makes each batch of `double` take N ms more.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tiffin.h>

static atomic_int batches;

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int doubled(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int id = atomic_fetch_add(&batches, 1) + 1;
    const tfn_value_t *x = tfn_object_get(in, "x");
    const float *src = tfn_tensor_data(x);
    size_t n = tfn_len(x);
    for (size_t i = 0; i < n; i++)
        if (src[i] < 0)
            return tfn_ctx_fail(ctx, TFN_EHANDLER, "batch %d: negative value %g", id, src[i]);
    const char *sleep = getenv("BATCHSVC_SLEEP_MS");
    if (sleep && strcmp(tfn_ctx_api(ctx), "double") == 0) /* not on the loop */
        sleep_ms(atol(sleep));
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *y = tfn_tensor(a, TFN_DTYPE_F32, 2, tfn_tensor_shape(x));
    if (!y)
        return TFN_ENOMEM;
    float *dst = tfn_tensor_data(y);
    for (size_t i = 0; i < n; i++)
        dst[i] = 2 * src[i];
    *out = tfn_object(a);
    if (!*out || tfn_object_set(a, *out, "y", y) ||
        tfn_object_set(a, *out, "batch_id", tfn_int(a, id)) ||
        tfn_object_set(a, *out, "batch_rows", tfn_int(a, tfn_tensor_shape(x)[0])))
        return TFN_ENOMEM;
    return 0;
}

static int add(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *a = tfn_object_get(in, "a"), *b = tfn_object_get(in, "b");
    if (tfn_len(a) != tfn_len(b))
        return tfn_ctx_fail(ctx, TFN_EINVAL, "a and b differ in shape");
    tfn_value_t *sum = tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_F32, 2, tfn_tensor_shape(a));
    if (!sum)
        return TFN_ENOMEM;
    float *s = tfn_tensor_data(sum);
    const float *pa = tfn_tensor_data(a), *pb = tfn_tensor_data(b);
    for (size_t i = 0; i < tfn_len(a); i++)
        s[i] = pa[i] + pb[i];
    *out = sum;
    return 0;
}

static int bad_rows(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t shape[2] = {tfn_tensor_shape(tfn_object_get(in, "x"))[0] + 1, 1};
    *out = tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_F32, 2, shape);
    return *out ? 0 : TFN_ENOMEM;
}

static int echo(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    *out = (tfn_value_t *)in;
    return 0;
}

static const tfn_field_t x_in[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {-1, -1}},
    {0}};
static const tfn_field_t ab_in[] = {
    {.name = "a", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {-1, -1}},
    {.name = "b", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {-1, -1}},
    {0}};

static const tfn_api_t apis[] = {{.name = "double",
                                  .handler = doubled,
                                  .inputs = x_in,
                                  .output = TFN_TYPE_OBJECT,
                                  .run = TFN_RUN_IN_THREAD,
                                  .batch = {.max_size = 8, .max_latency_ms = 50}},
                                 {.name = "double_loop",
                                  .handler = doubled,
                                  .inputs = x_in,
                                  .output = TFN_TYPE_OBJECT,
                                  .batch = {.max_size = 8, .max_latency_ms = 50}},
                                 {.name = "add",
                                  .handler = add,
                                  .inputs = ab_in,
                                  .output = TFN_TYPE_TENSOR,
                                  .run = TFN_RUN_IN_THREAD,
                                  .batch = {.max_size = 16}},
                                 {.name = "bad_rows",
                                  .handler = bad_rows,
                                  .inputs = x_in,
                                  .output = TFN_TYPE_ANY,
                                  .run = TFN_RUN_IN_THREAD,
                                  .batch = {.max_size = 8}},
                                 {.name = "echo", .handler = echo, .output = TFN_TYPE_ANY},
                                 {0}};

static const tfn_service_t service = {
    .name = "BatchSvc",
    .apis = apis,
    .threads = 2,
    .traffic = {.timeout_ms = 5000, .max_queue = 256},
};

int main(int argc, char **argv) { return tfn_main(argc, argv, &service); }
