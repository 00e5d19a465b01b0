/*
 * hello — a small tiffin service: a greeting, summary statistics of a tensor, and a tensor
 * transform. Run it and call it:
 *
 *     ./build/examples/hello serve --port 3000
 *     curl -s localhost:3000/greet -H 'Content-Type: application/json' -d '{"name": "Ada"}'
 *     curl -s localhost:3000/stats -H 'Content-Type: application/json' -d '{"x": [[1, 2], [3, 4]]}'
 *     ./build/examples/hello call scale --json '{"x": [1.5, -2], "factor": 2}'
 */
#include <math.h>
#include <stdio.h>
#include <tiffin.h>

/* ---- greet: strings in, object out --------------------------------------------------------- */

static int greet(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    size_t len;
    const char *name = tfn_as_string(tfn_object_get(in, "name"), &len);
    if (len == 0)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "name must not be empty");
    if (len > 200)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "name is %zu bytes long; at most 200, please", len);
    char message[256];
    snprintf(message, sizeof message, "Hello, %s!", name);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "message", tfn_string(a, message));
}

static const tfn_field_t greet_inputs[] = {
    {.name = "name", .type = TFN_TYPE_STRING, .doc = "who to greet"},
    {0},
};

/* ---- stats: a tensor of any shape in, its summary out -------------------------------------- */

static int stats(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *x = tfn_object_get(in, "x");
    const double *v = tfn_tensor_data(x);
    size_t n = tfn_len(x);
    if (n == 0)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "x is empty: statistics need at least one value");
    double sum = 0, min = v[0], max = v[0];
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        min = v[i] < min ? v[i] : min;
        max = v[i] > max ? v[i] : max;
    }
    double mean = sum / (double)n, var = 0;
    for (size_t i = 0; i < n; i++)
        var += (v[i] - mean) * (v[i] - mean);
    tfn_value_t *shape = tfn_list(a);
    for (int d = 0; d < tfn_tensor_ndim(x); d++)
        tfn_list_append(a, shape, tfn_int(a, tfn_tensor_shape(x)[d]));
    *out = tfn_object(a);
    int rc = tfn_object_set(a, *out, "count", tfn_int(a, (int64_t)n));
    rc = rc ? rc : tfn_object_set(a, *out, "mean", tfn_float(a, mean));
    rc = rc ? rc : tfn_object_set(a, *out, "std", tfn_float(a, sqrt(var / (double)n)));
    rc = rc ? rc : tfn_object_set(a, *out, "min", tfn_float(a, min));
    rc = rc ? rc : tfn_object_set(a, *out, "max", tfn_float(a, max));
    return rc ? rc : tfn_object_set(a, *out, "shape", shape);
}

static const tfn_field_t stats_inputs[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F64, .doc = "numbers, any shape"},
    {0},
};

/* ---- scale: tensor and number in, tensor out ----------------------------------------------- */

static int scale(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *x = tfn_object_get(in, "x");
    const tfn_value_t *f = tfn_object_get(in, "factor");
    float factor = f ? (float)tfn_as_float(f) : 1.0f;
    *out = tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_F32, tfn_tensor_ndim(x), tfn_tensor_shape(x));
    if (!*out)
        return TFN_ENOMEM;
    const float *src = tfn_tensor_data(x);
    float *dst = tfn_tensor_data(*out);
    for (size_t i = 0, n = tfn_len(x); i < n; i++)
        dst[i] = src[i] * factor;
    return 0;
}

static const tfn_field_t scale_inputs[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .doc = "values to scale"},
    {.name = "factor", .type = TFN_TYPE_FLOAT, .optional = true, .doc = "default 1"},
    {0},
};

static const tfn_api_t apis[] = {
    {.name = "greet", .handler = greet, .inputs = greet_inputs, .output = TFN_TYPE_OBJECT,
     .doc = "Greets someone by name."},
    {.name = "stats", .handler = stats, .inputs = stats_inputs, .output = TFN_TYPE_OBJECT,
     .doc = "Count, mean, standard deviation, min, max and shape of a tensor."},
    {.name = "scale", .handler = scale, .inputs = scale_inputs, .output = TFN_TYPE_TENSOR,
     .doc = "Multiplies a float32 tensor by a factor."},
    {0},
};

static const tfn_service_t hello = {
    .name = "Hello",
    .version = "1.0.0",
    .doc = "A first tiffin service.",
    .apis = apis,
    .resources = {.cpu = 1, .memory_mb = 64},
    .traffic = {.timeout_ms = 5000, .max_concurrency = 256},
};

int main(int argc, char **argv) { return tfn_main(argc, argv, &hello); }
