/*
 * test_example_dag.c — examples/dag in a test graph: both branches feed the ranking; a failed
 * branch degrades to the other; the ranking is deterministic.
 */
#define main dag_main
#include "../examples/dag/dag.c"
#undef main

#include "check.h"

static tfn_arena_t *arena;

static tfn_value_t *query(const char *text, int top)
{
    tfn_value_t *in = tfn_object(arena);
    tfn_object_set(arena, in, "text", tfn_string(arena, text));
    int64_t shape[2] = {8, 8};
    tfn_value_t *img = tfn_tensor(arena, TFN_DTYPE_F32, 2, shape);
    float *p = tfn_tensor_data(img);
    for (int i = 0; i < 64; i++)
        p[i] = (float)((i * 7) % 5) / 4.0f;
    tfn_object_set(arena, in, "image", img);
    if (top)
        tfn_object_set(arena, in, "top", tfn_int(arena, top));
    return in;
}

static void test_ranks_with_both_branches(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&search_svc, &err);
    tfn_value_t *out, *again;
    CHECK_EQ_INT(tfn_test_call(t, "search", query("red running shoes", 4), arena, &out, &err), 0);
    tfn_value_t *results = tfn_object_get(out, "results");
    CHECK_EQ_INT(tfn_len(results), 4);
    CHECK_EQ_INT(tfn_len(tfn_object_get(out, "degraded")), 0);
    for (size_t i = 1; i < tfn_len(results); i++) /* best first */
        CHECK(tfn_as_float(tfn_object_get(tfn_list_get(results, i - 1), "score")) >=
              tfn_as_float(tfn_object_get(tfn_list_get(results, i), "score")));
    CHECK_EQ_INT(tfn_test_call(t, "search", query("red running shoes", 4), arena, &again, &err), 0);
    CHECK(tfn_value_equal(out, again));
    CHECK_EQ_INT(tfn_test_call(t, "search", query("x", 9), arena, &out, &err), TFN_EINVAL);
    CHECK_EQ_STR(err.service, "Ranker");
    tfn_test_free(t);
}

static int broken_embed(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in, (void)out;
    return tfn_ctx_fail(ctx, TFN_EUNAVAIL, "no image model loaded");
}
static const tfn_api_t broken_apis[] = {
    {.name = "embed", .handler = broken_embed, .inputs = embed_in}, {0}};
static const tfn_service_t broken_image = {.name = "ImageModel", .apis = broken_apis};

static void test_failed_branch_degrades(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&search_svc, &err);
    CHECK_EQ_INT(tfn_test_replace(t, "ImageModel", &broken_image, &err), 0);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "search", query("red running shoes", 0), arena, &out, &err), 0);
    CHECK_EQ_INT(tfn_len(tfn_object_get(out, "results")), 3);
    tfn_value_t *degraded = tfn_object_get(out, "degraded");
    CHECK_EQ_INT(tfn_len(degraded), 1);
    const char *why = tfn_as_string(tfn_list_get(degraded, 0), NULL);
    CHECK(why && strstr(why, "image: ImageModel: no image model loaded"));
    tfn_test_free(t);
}

int main(void)
{
    arena = tfn_arena_new(16 << 20);
    RUN(test_ranks_with_both_branches);
    RUN(test_failed_branch_degrades);
    tfn_arena_free(arena);
    return check_summary("example_dag");
}
