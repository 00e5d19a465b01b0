/*
 * test_example_ensemble.c — examples/ensemble in a test graph: both models vote; one failing or
 * too slow model is left out and named; with both gone the request fails.
 */
#include <unistd.h>

#define main ensemble_main
#include "../examples/ensemble/ensemble.c"
#undef main

#include "check.h"

static tfn_arena_t *arena;

static tfn_value_t *values(float a, float b, float c)
{
    tfn_value_t *in = tfn_object(arena);
    int64_t n = 3;
    tfn_value_t *t = tfn_tensor(arena, TFN_DTYPE_F32, 1, &n);
    float *v = tfn_tensor_data(t);
    v[0] = a, v[1] = b, v[2] = c;
    tfn_object_set(arena, in, "values", t);
    return in;
}

static void test_both_vote(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&ensemble, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", values(0.9f, 0.8f, 0.95f), arena, &out, &err), 0);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(out, "label"), NULL), "high");
    tfn_value_t *votes = tfn_object_get(out, "votes");
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(votes, "ModelA"), NULL), "high");
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(votes, "ModelB"), NULL), "high");
    CHECK_EQ_INT(tfn_len(tfn_object_get(out, "missing")), 0);
    tfn_test_free(t);
}

static int crash_predict(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in, (void)out;
    return tfn_ctx_fail(ctx, TFN_EHANDLER, "out of GPU memory");
}
static int slow_predict(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    usleep(1500 * 1000); /* past ModelB's 1000 ms timeout */
    return predict(ctx, in, out);
}
static const tfn_api_t crash_apis[] = {
    {.name = "predict", .handler = crash_predict, .inputs = features_in}, {0}};
static const tfn_api_t slow_apis[] = {
    {.name = "predict", .handler = slow_predict, .inputs = features_in, .run = TFN_RUN_IN_THREAD},
    {0}};
static const tfn_service_t crashing = {.name = "ModelB", .apis = crash_apis};
static const tfn_service_t slow = {
    .name = "ModelB", .apis = slow_apis, .init = init_b, .traffic = {.timeout_ms = 1000}};

static void test_failed_model_is_left_out(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&ensemble, &err);
    CHECK_EQ_INT(tfn_test_replace(t, "ModelB", &crashing, &err), 0);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", values(0.9f, 0.8f, 0.95f), arena, &out, &err), 0);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(out, "label"), NULL), "high");
    CHECK(tfn_object_get(tfn_object_get(out, "votes"), "ModelB") == NULL);
    tfn_value_t *missing = tfn_object_get(out, "missing");
    CHECK_EQ_INT(tfn_len(missing), 1);
    const char *why = tfn_as_string(tfn_list_get(missing, 0), NULL);
    CHECK(why && strstr(why, "ModelB") && strstr(why, "out of GPU memory"));
    tfn_test_free(t);
}

static void test_slow_model_times_out_and_is_left_out(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&ensemble, &err);
    CHECK_EQ_INT(tfn_test_replace(t, "ModelB", &slow, &err), 0);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", values(0.0f, 0.1f, 0.05f), arena, &out, &err), 0);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(out, "label"), NULL), "low");
    const char *why = tfn_as_string(tfn_list_get(tfn_object_get(out, "missing"), 0), NULL);
    CHECK(why && strstr(why, "ETIMEOUT"));
    tfn_test_free(t);
}

static const tfn_service_t crashing_a = {.name = "ModelA", .apis = crash_apis};

static void test_all_models_failing_fails(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&ensemble, &err);
    tfn_test_replace(t, "ModelA", &crashing_a, &err);
    tfn_test_replace(t, "ModelB", &crashing, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", values(0.5f, 0.5f, 0.5f), arena, &out, &err),
                 TFN_EHANDLER);
    CHECK(strstr(err.message, "out of GPU memory") != NULL);
    tfn_test_free(t);
}

int main(void)
{
    arena = tfn_arena_new(16 << 20);
    RUN(test_both_vote);
    RUN(test_failed_model_is_left_out);
    RUN(test_slow_model_times_out_and_is_left_out);
    RUN(test_all_models_failing_fails);
    tfn_arena_free(arena);
    return check_summary("example_ensemble");
}
