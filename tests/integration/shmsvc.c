/*
 * shmsvc — a graph for the shared-memory tests (test_shm.py): Front calls Store with large
 * float32 tensors, which travel through the connection's shared memory when both run on one
 * host over unix sockets (and inline with TFN_SHM=off: the answers must be the same).
 *
 *   Store.echo {t}            answers its input (the tensor goes back where it came from)
 *   Store.scale {t, k}        multiplies t by k in place (a handler writing into its input)
 *   Store.make {n, base}      a new tensor: base + 0.5 i
 *   Store.sum {t}             {"sum", "n"}
 *   Store.crash {t}           reads t, then dies (abort)
 *   Store.stat                {"pid", "fds", "regions"}: open descriptors, shared regions mapped
 *   Front.check {n, calls, keep?}   per call: echo, scale, make, each answer checked; `keep`:
 *                             every answer kept until the end and checked again then
 *   Front.parallel {n, k}     k echo calls at once, distinct tensors, each answer checked
 *   Front.big {mb}            an mb-MiB tensor to Store.sum and Store.echo, checked
 *   Front.forward {api, input}  Store.<api>(input), answered as it is
 *   Front.stat                {"front": own stat, "store": Store.stat}
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tiffin.h>

/* ---- Store ------------------------------------------------------------------------------- */

static int store_echo(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    *out = (tfn_value_t *)in;
    return 0;
}

static int store_scale(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_value_t *t = tfn_object_get(in, "t");
    float k = (float)tfn_as_float(tfn_object_get(in, "k")), *f = tfn_tensor_data(t);
    for (size_t i = 0, n = tfn_tensor_nbytes(t) / 4; i < n; i++)
        f[i] *= k;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "t", t);
}

static tfn_value_t *ramp(tfn_arena_t *a, int64_t n, float base)
{
    tfn_value_t *t = tfn_tensor(a, TFN_DTYPE_F32, 1, &n);
    float *f = t ? tfn_tensor_data(t) : NULL;
    for (int64_t i = 0; f && i < n; i++)
        f[i] = base + 0.5f * (float)(i % 100000);
    return t;
}

/* Whether `t` is ramp(n, base) * k; names the first difference in *why. */
static bool is_ramp(const tfn_value_t *t, int64_t n, float base, float k, char *why, size_t cap)
{
    if (tfn_typeof(t) != TFN_TYPE_TENSOR || tfn_tensor_dtype(t) != TFN_DTYPE_F32 ||
        tfn_tensor_nbytes(t) != (size_t)n * 4) {
        snprintf(why, cap, "not a float32 tensor of %lld elements", (long long)n);
        return false;
    }
    const float *f = tfn_tensor_data(t);
    for (int64_t i = 0; i < n; i++)
        if (f[i] != k * (base + 0.5f * (float)(i % 100000))) {
            snprintf(why, cap, "element %lld is %g, not %g", (long long)i, f[i],
                     k * (base + 0.5f * (float)(i % 100000)));
            return false;
        }
    return true;
}

static int store_make(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "t",
                          ramp(a, tfn_as_int(tfn_object_get(in, "n")),
                               (float)tfn_as_float(tfn_object_get(in, "base"))));
}

static int store_sum(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *t = tfn_object_get(in, "t");
    const float *f = tfn_tensor_data(t);
    size_t n = tfn_tensor_nbytes(t) / 4;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += f[i];
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    tfn_object_set(a, *out, "n", tfn_int(a, (int64_t)n));
    return tfn_object_set(a, *out, "sum", tfn_float(a, sum));
}

static int store_crash(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_value_t *sum;
    store_sum(ctx, in, &sum);
    (void)out;
    abort();
}

/* {"pid", "fds", "regions"}: open descriptors and mapped shared regions of this process. */
static tfn_value_t *stat_of(tfn_arena_t *a)
{
    int fds = 0, regions = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        fds += e->d_name[0] != '.';
    if (d)
        closedir(d);
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        regions += strstr(line, "memfd:tiffin-tensors") != NULL;
    if (f)
        fclose(f);
    tfn_value_t *o = tfn_object(a);
    tfn_object_set(a, o, "pid", tfn_int(a, getpid()));
    tfn_object_set(a, o, "fds", tfn_int(a, fds));
    tfn_object_set(a, o, "regions", tfn_int(a, regions));
    return o;
}

static int store_stat(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    *out = stat_of(tfn_ctx_arena(ctx));
    return 0;
}

static const tfn_field_t t_in[] = {{.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32},
                                   {0}};
static const tfn_field_t any_in[] = {{.name = "t", .type = TFN_TYPE_ANY, .optional = true},
                                     {.name = "x", .type = TFN_TYPE_ANY, .optional = true},
                                     {0}};
static const tfn_field_t scale_in[] = {
    {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32},
    {.name = "k", .type = TFN_TYPE_FLOAT},
    {0}};
static const tfn_field_t make_in[] = {
    {.name = "n", .type = TFN_TYPE_INT}, {.name = "base", .type = TFN_TYPE_FLOAT}, {0}};
static const tfn_api_t store_apis[] = {
    {.name = "echo", .handler = store_echo, .inputs = any_in},
    {.name = "scale", .handler = store_scale, .inputs = scale_in},
    {.name = "make", .handler = store_make, .inputs = make_in},
    {.name = "sum", .handler = store_sum, .inputs = t_in},
    {.name = "crash", .handler = store_crash, .inputs = t_in},
    {.name = "stat", .handler = store_stat},
    {0}};
static const tfn_service_t store = {
    .name = "Store",
    .apis = store_apis,
    .traffic = {.timeout_ms = 60000, .max_body_bytes = 80u << 20, .drain_ms = 2000}};

/* ---- Front ------------------------------------------------------------------------------- */

static int call_into(tfn_ctx_t *ctx, const char *api, tfn_value_t *in, tfn_future_t **f,
                     tfn_value_t **out)
{
    tfn_error_t err;
    *f = tfn_call_async(ctx, "Store", api, in, NULL);
    if (tfn_await(*f, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

#define MAX_CALLS 64

static int front_check(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    int64_t n = tfn_as_int(tfn_object_get(in, "n")),
            calls = tfn_as_int(tfn_object_get(in, "calls"));
    const tfn_value_t *kv = tfn_object_get(in, "keep");
    bool keep = kv && tfn_as_bool(kv);
    if (n < 1 || n > (1 << 24) || calls < 1 || calls > MAX_CALLS)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "n 1..2^24, calls 1..%d", MAX_CALLS);
    tfn_future_t *kept[3 * MAX_CALLS];
    const tfn_value_t *answers[3 * MAX_CALLS];
    char why[256];
    int rc;
    for (int64_t c = 0; c < calls; c++) {
        float base = (float)c;
        tfn_value_t *req = tfn_object(a), *t = ramp(a, n, base), *r;
        tfn_object_set(a, req, "t", t);
        tfn_future_t *f[3];
        if ((rc = call_into(ctx, "echo", req, &f[0], &r)))
            return rc;
        answers[3 * c] = tfn_object_get(r, "t");
        tfn_object_set(a, req, "k", tfn_float(a, 2.0));
        if ((rc = call_into(ctx, "scale", req, &f[1], &r)))
            return rc;
        answers[3 * c + 1] = tfn_object_get(r, "t");
        /* the dependency scaled its copy: ours is as it was */
        if (!is_ramp(t, n, base, 1, why, sizeof why))
            return tfn_ctx_fail(ctx, TFN_EHANDLER, "call %lld: our input changed: %s", (long long)c,
                                why);
        tfn_value_t *mk = tfn_object(a);
        tfn_object_set(a, mk, "n", tfn_int(a, n));
        tfn_object_set(a, mk, "base", tfn_float(a, base + 1));
        if ((rc = call_into(ctx, "make", mk, &f[2], &r)))
            return rc;
        answers[3 * c + 2] = tfn_object_get(r, "t");
        for (int i = 0; i < 3; i++) {
            float want_base = i == 2 ? base + 1 : base, k = i == 1 ? 2 : 1;
            if (!is_ramp(answers[3 * c + i], n, want_base, k, why, sizeof why))
                return tfn_ctx_fail(ctx, TFN_EHANDLER, "call %lld, answer %d: %s", (long long)c, i,
                                    why);
            if (keep)
                kept[3 * c + i] = f[i];
            else
                tfn_future_free(f[i]); /* its connection is free for the next call */
        }
    }
    if (keep) /* every answer is still what it was, after all the calls since */
        for (int64_t c = 0; c < calls; c++)
            for (int i = 0; i < 3; i++) {
                if (!is_ramp(answers[3 * c + i], n, i == 2 ? (float)c + 1 : (float)c,
                             i == 1 ? 2 : 1, why, sizeof why))
                    return tfn_ctx_fail(ctx, TFN_EHANDLER, "kept answer %lld/%d changed: %s",
                                        (long long)c, i, why);
                tfn_future_free(kept[3 * c + i]);
            }
    *out = tfn_object(a);
    tfn_object_set(a, *out, "calls", tfn_int(a, calls));
    return tfn_object_set(a, *out, "ok", tfn_bool(a, true));
}

static int front_parallel(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    int64_t n = tfn_as_int(tfn_object_get(in, "n")), k = tfn_as_int(tfn_object_get(in, "k"));
    if (n < 1 || n > (1 << 22) || k < 1 || k > MAX_CALLS)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "n 1..2^22, k 1..%d", MAX_CALLS);
    tfn_future_t *f[MAX_CALLS];
    for (int64_t i = 0; i < k; i++) {
        tfn_value_t *req = tfn_object(a);
        tfn_object_set(a, req, "t", ramp(a, n, (float)i * 3));
        f[i] = tfn_call_async(ctx, "Store", "echo", req, NULL);
    }
    tfn_await_all(f, (size_t)k);
    char why[256];
    for (int64_t i = 0; i < k; i++) {
        tfn_value_t *r;
        tfn_error_t err;
        if (tfn_await(f[i], &r, &err) != 0)
            return tfn_ctx_fail_with(ctx, &err);
        if (!is_ramp(tfn_object_get(r, "t"), n, (float)i * 3, 1, why, sizeof why))
            return tfn_ctx_fail(ctx, TFN_EHANDLER, "call %lld: %s", (long long)i, why);
    }
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "ok", tfn_bool(a, true));
}

static int front_big(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    int64_t mb = tfn_as_int(tfn_object_get(in, "mb"));
    if (mb < 1 || mb > 72)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "mb 1..72");
    int64_t n = mb << 18; /* float32 elements */
    tfn_value_t *req = tfn_object(a), *t = ramp(a, n, 1), *r;
    tfn_object_set(a, req, "t", t);
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += ((const float *)tfn_tensor_data(t))[i];
    tfn_future_t *f;
    int rc = call_into(ctx, "sum", req, &f, &r);
    if (rc)
        return rc;
    if (tfn_as_int(tfn_object_get(r, "n")) != n || tfn_as_float(tfn_object_get(r, "sum")) != sum)
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "sum %g of %lld, not %g",
                            tfn_as_float(tfn_object_get(r, "sum")),
                            (long long)tfn_as_int(tfn_object_get(r, "n")), sum);
    tfn_future_free(f);
    char why[256];
    if ((rc = call_into(ctx, "echo", req, &f, &r)))
        return rc;
    if (!is_ramp(tfn_object_get(r, "t"), n, 1, 1, why, sizeof why))
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "echo: %s", why);
    tfn_future_free(f);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "sum", tfn_float(a, sum));
}

static int front_forward(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_future_t *f;
    return call_into(ctx, tfn_as_string(tfn_object_get(in, "api"), NULL),
                     tfn_object_get(in, "input"), &f, out);
}

static int front_stat(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *store_stat, *mine = stat_of(a);
    tfn_future_t *f;
    int rc = call_into(ctx, "stat", tfn_object(a), &f, &store_stat);
    if (rc)
        return rc;
    *out = tfn_object(a);
    tfn_object_set(a, *out, "front", mine);
    return tfn_object_set(a, *out, "store", store_stat);
}

static const tfn_field_t check_in[] = {{.name = "n", .type = TFN_TYPE_INT},
                                       {.name = "calls", .type = TFN_TYPE_INT},
                                       {.name = "keep", .type = TFN_TYPE_BOOL, .optional = true},
                                       {0}};
static const tfn_field_t parallel_in[] = {
    {.name = "n", .type = TFN_TYPE_INT}, {.name = "k", .type = TFN_TYPE_INT}, {0}};
static const tfn_field_t big_in[] = {{.name = "mb", .type = TFN_TYPE_INT}, {0}};
static const tfn_field_t forward_in[] = {
    {.name = "api", .type = TFN_TYPE_STRING}, {.name = "input", .type = TFN_TYPE_OBJECT}, {0}};
static const tfn_api_t front_apis[] = {
    {.name = "check", .handler = front_check, .inputs = check_in},
    {.name = "parallel", .handler = front_parallel, .inputs = parallel_in},
    {.name = "big", .handler = front_big, .inputs = big_in},
    {.name = "forward", .handler = front_forward, .inputs = forward_in},
    {.name = "stat", .handler = front_stat},
    {0}};
static const tfn_dependency_t front_deps[] = {{.service = &store}, {0}};
static const tfn_service_t front = {
    .name = "Front",
    .apis = front_apis,
    .depends = front_deps,
    .traffic = {.timeout_ms = 60000, .max_body_bytes = 80u << 20, .drain_ms = 2000}};

int main(int argc, char **argv) { return tfn_main(argc, argv, &front); }
