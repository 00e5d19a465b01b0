/*
 * test_example_sequential.c — examples/sequential in a test graph: the pipeline answers, a bad
 * input is refused by the step that validates it, and a failing step is named in the error.
 */
#define main sequential_main
#include "../examples/sequential/sequential.c"
#undef main

#include "check.h"

static tfn_arena_t *arena;

static tfn_value_t *values(const float *v, int64_t n)
{
    tfn_value_t *in = tfn_object(arena);
    tfn_value_t *t = tfn_tensor(arena, TFN_DTYPE_F32, 1, &n);
    if (n)
        memcpy(tfn_tensor_data(t), v, (size_t)n * sizeof *v);
    tfn_object_set(arena, in, "values", t);
    return in;
}

static void test_labels(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&pipeline, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(
        tfn_test_call(t, "classify", values((float[]){0.05f, 0.1f, 0.0f}, 3), arena, &out, &err),
        0);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(out, "label"), NULL), "low");
    double conf = tfn_as_float(tfn_object_get(out, "confidence"));
    CHECK(conf > 0.5 && conf <= 1.0);
    CHECK_EQ_INT(
        tfn_test_call(t, "classify", values((float[]){0.9f, 0.95f, 1.0f}, 3), arena, &out, &err),
        0);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(out, "label"), NULL), "high");
    tfn_test_free(t);
}

static void test_empty_input_names_the_step(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&pipeline, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", values(NULL, 0), arena, &out, &err), TFN_EINVAL);
    CHECK_EQ_STR(err.service, "Preprocessing");
    CHECK_EQ_STR(err.api, "features");
    tfn_test_free(t);
}

static int broken_predict(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in, (void)out;
    return tfn_ctx_fail(ctx, TFN_EUNAVAIL, "model weights are being reloaded");
}
static const tfn_api_t broken_apis[] = {
    {.name = "predict", .handler = broken_predict, .inputs = predict_in}, {0}};
static const tfn_service_t broken_model = {.name = "BrokenModel", .apis = broken_apis};

static void test_failing_step_propagates(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&pipeline, &err);
    CHECK_EQ_INT(tfn_test_replace(t, "InferenceModel", &broken_model, &err), 0);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", values((float[]){0.5f}, 1), arena, &out, &err),
                 TFN_EUNAVAIL);
    CHECK_EQ_INT(err.http_status, 503);
    CHECK_EQ_STR(err.service, "BrokenModel");
    CHECK_EQ_STR(err.message, "model weights are being reloaded");
    tfn_test_free(t);
}

int main(void)
{
    arena = tfn_arena_new(16 << 20);
    RUN(test_labels);
    RUN(test_empty_input_names_the_step);
    RUN(test_failing_step_propagates);
    tfn_arena_free(arena);
    return check_summary("example_sequential");
}
