/*
 * modelsvc — tensor APIs for the protocol tests (KServe v2 through tritonclient, the docs page):
 *   scale(x: float32 [-1, 3], k: float32 [1]) -> {"y": x * k, "total": sum(y), "rows": n}
 *   plus_one(a: int64 [-1]) -> a + 1 (a tensor: KServe's output "output")
 *   ratio(a: float32 [-1], b: float32 [-1]) -> {"r": a / b}: 0/0, 1/0 give NaN and infinities
 *   greet(name: string) -> {"greeting"}: not a model (its input is not a tensor)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tiffin.h>

static int scale(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *x = tfn_object_get(in, "x");
    float k = ((const float *)tfn_tensor_data(tfn_object_get(in, "k")))[0];
    const int64_t *shape = tfn_tensor_shape(x);
    tfn_value_t *y = tfn_tensor(a, TFN_DTYPE_F32, 2, shape);
    tfn_value_t *obj = tfn_object(a);
    if (!y || !obj)
        return TFN_ENOMEM;
    const float *src = tfn_tensor_data(x);
    float *dst = tfn_tensor_data(y);
    double total = 0;
    for (int64_t i = 0; i < shape[0] * shape[1]; i++)
        total += dst[i] = src[i] * k;
    if (tfn_object_set(a, obj, "y", y) || tfn_object_set(a, obj, "total", tfn_float(a, total)) ||
        tfn_object_set(a, obj, "rows", tfn_int(a, shape[0])))
        return TFN_ENOMEM;
    *out = obj;
    return 0;
}

static int plus_one(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *a = tfn_object_get(in, "a");
    tfn_value_t *r = tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_I64, 1, tfn_tensor_shape(a));
    if (!r)
        return TFN_ENOMEM;
    const int64_t *src = tfn_tensor_data(a);
    int64_t *dst = tfn_tensor_data(r);
    for (int64_t i = 0; i < tfn_tensor_shape(a)[0]; i++)
        dst[i] = src[i] + 1;
    *out = r;
    return 0;
}

static int ratio(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *ar = tfn_ctx_arena(ctx);
    const tfn_value_t *a = tfn_object_get(in, "a"), *b = tfn_object_get(in, "b");
    int64_t n = tfn_tensor_shape(a)[0];
    if (tfn_tensor_shape(b)[0] != n)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "a and b differ in length");
    tfn_value_t *r = tfn_tensor(ar, TFN_DTYPE_F32, 1, &n);
    tfn_value_t *obj = tfn_object(ar);
    if (!r || !obj || tfn_object_set(ar, obj, "r", r))
        return TFN_ENOMEM;
    const float *pa = tfn_tensor_data(a), *pb = tfn_tensor_data(b);
    float *pr = tfn_tensor_data(r);
    for (int64_t i = 0; i < n; i++)
        pr[i] = pa[i] / pb[i];
    if (n > 0 && tfn_object_set(ar, obj, "first", tfn_float(ar, pr[0])))
        return TFN_ENOMEM;
    *out = obj;
    return 0;
}

static int greet(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    char text[300];
    snprintf(text, sizeof text, "hello, %s", tfn_as_string(tfn_object_get(in, "name"), NULL));
    tfn_value_t *obj = tfn_object(a);
    if (!obj || tfn_object_set(a, obj, "greeting", tfn_string(a, text)))
        return TFN_ENOMEM;
    *out = obj;
    return 0;
}

static const tfn_field_t scale_in[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {-1, 3},
     .doc = "rows of three values"},
    {.name = "k", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 1, .shape = {1},
     .doc = "the factor"},
    {0}};
static const tfn_field_t plus_one_in[] = {
    {.name = "a", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_I64, .ndim = 1, .shape = {-1}},
    {0}};
static const tfn_field_t ratio_in[] = {
    {.name = "a", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 1, .shape = {-1}},
    {.name = "b", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 1, .shape = {-1}},
    {0}};
static const tfn_field_t greet_in[] = {
    {.name = "name", .type = TFN_TYPE_STRING, .doc = "who to greet"}, {0}};

static const tfn_api_t apis[] = {
    {.name = "scale", .handler = scale, .inputs = scale_in, .output = TFN_TYPE_OBJECT,
     .doc = "multiply rows by a factor"},
    {.name = "plus_one", .handler = plus_one, .inputs = plus_one_in, .output = TFN_TYPE_TENSOR},
    {.name = "ratio", .handler = ratio, .inputs = ratio_in, .output = TFN_TYPE_OBJECT},
    {.name = "greet", .handler = greet, .inputs = greet_in, .output = TFN_TYPE_OBJECT,
     .doc = "say hello"},
    {0}};

static const tfn_service_t modelsvc = {
    .name = "ModelSvc", .version = "1.2.3", .doc = "tensor APIs for protocol tests", .apis = apis};

int main(int argc, char **argv) { return tfn_main(argc, argv, &modelsvc); }
