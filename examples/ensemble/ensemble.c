/*
 * ensemble — a parallel ensemble: Preprocessor -> [ModelA, ModelB] concurrently -> Aggregator.
 *
 * The entry, Ensemble, prepares the input once, asks both models at the same time
 * (tfn_call_async + tfn_await_all, like asyncio.gather), and has the Aggregator average what
 * came back. A model that fails or times out is left out: the answer says which one is missing
 * instead of failing the request (graceful degradation). Only when every model fails does the
 * request fail.
 *
 *   ./ensemble serve --port 3000
 *   curl -s localhost:3000/classify -H 'Content-Type: application/json' \
 *        -d '{"values": [0.9, 0.8, 0.95]}'
 *   {"label":"high","confidence":0.9...,"votes":{"ModelA":"high","ModelB":"high"},"missing":[]}
 */
#include <stdio.h>
#include <tiffin.h>

#include "../common/toy.h"

static const char *const models[] = {"ModelA", "ModelB"};
#define NMODEL 2

/* ---- Preprocessor.prepare: {"values": float32[n]} -> float32[4] ---- */

static int prepare(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *v = tfn_object_get(in, "values");
    int64_t n = tfn_tensor_shape(v)[0], dim = TOY_NFEAT;
    if (n == 0)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'values' is empty");
    if (!(*out = tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_F32, 1, &dim)))
        return TFN_ENOMEM;
    toy_summary(tfn_tensor_data(v), n, tfn_tensor_data(*out));
    return 0;
}

static const tfn_field_t values_in[] = {
    {.name = "values", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 1, .shape = {-1}},
    {0}};
static const tfn_api_t preprocessor_apis[] = {
    {.name = "prepare", .handler = prepare, .inputs = values_in, .output = TFN_TYPE_TENSOR}, {0}};
static const tfn_service_t preprocessor = {.name = "Preprocessor", .apis = preprocessor_apis};

/* ---- ModelA / ModelB.predict: {"features": float32[4]} -> float32[3] ---- */

/* Two linear models that weigh the features differently; each service's init hook picks its
 * weights, which every handler of the worker then reads from tfn_ctx_state. */
static const toy_linear_t model_a = {{{-6, 0, -1, -1}, {0, -2, 0, 0}, {6, 0, 1, 1}}, {3, 1, -5}};
static const toy_linear_t model_b = {{{-4, 1, -2, 0}, {0, -3, 0, 0}, {4, 1, 2, 0}}, {2, 1.5f, -3}};

static int init_a(tfn_worker_t *w, void **state)
{
    (void)w;
    *state = (void *)&model_a;
    return 0;
}

static int init_b(tfn_worker_t *w, void **state)
{
    (void)w;
    *state = (void *)&model_b;
    return 0;
}

static int predict(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t dim = TOY_NCLASS;
    if (!(*out = tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_F32, 1, &dim)))
        return TFN_ENOMEM;
    toy_predict(tfn_ctx_state(ctx), tfn_tensor_data(tfn_object_get(in, "features")),
                tfn_tensor_data(*out));
    return 0;
}

static const tfn_field_t features_in[] = {{.name = "features",
                                           .type = TFN_TYPE_TENSOR,
                                           .dtype = TFN_DTYPE_F32,
                                           .ndim = 1,
                                           .shape = {TOY_NFEAT}},
                                          {0}};
static const tfn_api_t model_apis[] = {
    {.name = "predict", .handler = predict, .inputs = features_in, .output = TFN_TYPE_TENSOR}, {0}};
static const tfn_service_t model_a_svc = {
    .name = "ModelA", .apis = model_apis, .init = init_a, .traffic = {.timeout_ms = 1000}};
static const tfn_service_t model_b_svc = {
    .name = "ModelB", .apis = model_apis, .init = init_b, .traffic = {.timeout_ms = 1000}};

/* ---- Aggregator.vote: {"probabilities": float32[k][3]} -> {"label", "confidence"} ---- */

static int vote(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *t = tfn_object_get(in, "probabilities");
    int64_t k = tfn_tensor_shape(t)[0];
    const float *p = tfn_tensor_data(t);
    if (k == 0)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "no probabilities to vote on");
    float mean[TOY_NCLASS] = {0};
    for (int64_t i = 0; i < k; i++)
        for (int c = 0; c < TOY_NCLASS; c++)
            mean[c] += p[i * TOY_NCLASS + c] / (float)k;
    int best = toy_argmax(mean, TOY_NCLASS);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    int rc = tfn_object_set(a, *out, "label", tfn_string(a, toy_labels[best]));
    return rc ? rc : tfn_object_set(a, *out, "confidence", tfn_float(a, mean[best]));
}

static const tfn_field_t vote_in[] = {{.name = "probabilities",
                                       .type = TFN_TYPE_TENSOR,
                                       .dtype = TFN_DTYPE_F32,
                                       .ndim = 2,
                                       .shape = {-1, TOY_NCLASS}},
                                      {0}};
static const tfn_api_t aggregator_apis[] = {
    {.name = "vote", .handler = vote, .inputs = vote_in, .output = TFN_TYPE_OBJECT}, {0}};
static const tfn_service_t aggregator = {.name = "Aggregator", .apis = aggregator_apis};

/* ---- Ensemble.classify: the entry ---- */

static int classify(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *feats;
    tfn_error_t err;
    if (tfn_call(ctx, "Preprocessor", "prepare", in, &feats, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);

    tfn_value_t *args = tfn_object(a);
    tfn_object_set(a, args, "features", feats);
    /* A model gets a second (its own timeout): one that is slow or unreachable is left out
     * rather than holding the whole request to its deadline. predict has no side effects, so a
     * call that lost its connection before an answer may be sent again. */
    static const tfn_call_options_t model_call = {.timeout_ms = 1000, .idempotent = true};
    tfn_future_t *pending[NMODEL];
    for (int m = 0; m < NMODEL; m++)
        pending[m] = tfn_call_async(ctx, models[m], "predict", args, &model_call);
    tfn_await_all(pending, NMODEL); /* both at once: as long as the slower one */

    /* Stack what came back into one [k][3] tensor; note who is missing and why. */
    int64_t shape[2] = {0, TOY_NCLASS};
    tfn_value_t *stacked = tfn_tensor(a, TFN_DTYPE_F32, 2, (int64_t[]){NMODEL, TOY_NCLASS});
    tfn_value_t *votes = tfn_object(a), *missing = tfn_list(a);
    if (!stacked || !votes || !missing)
        return TFN_ENOMEM;
    float *rows = tfn_tensor_data(stacked);
    tfn_error_t last;
    for (int m = 0; m < NMODEL; m++) {
        tfn_value_t *p;
        if (tfn_await(pending[m], &p, &last) != 0) {
            char why[TFN_ERROR_MESSAGE_MAX + 80];
            snprintf(why, sizeof why, "%s: %s (%s)", models[m], last.message,
                     tfn_errname(last.code));
            tfn_list_append(a, missing, tfn_string(a, why));
            continue;
        }
        const float *probs = tfn_tensor_data(p);
        for (int c = 0; c < TOY_NCLASS; c++)
            rows[shape[0] * TOY_NCLASS + c] = probs[c];
        tfn_object_set(a, votes, models[m],
                       tfn_string(a, toy_labels[toy_argmax(probs, TOY_NCLASS)]));
        shape[0]++;
    }
    if (shape[0] == 0) /* nothing to degrade to */
        return tfn_ctx_fail_with(ctx, &last);
    tfn_value_t *vote_args = tfn_object(a);
    tfn_object_set(a, vote_args, "probabilities",
                   tfn_tensor_wrap(a, TFN_DTYPE_F32, 2, shape, rows));
    if (tfn_call(ctx, "Aggregator", "vote", vote_args, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    tfn_object_set(a, *out, "votes", votes);
    return tfn_object_set(a, *out, "missing", missing);
}

static const tfn_api_t ensemble_apis[] = {
    {.name = "classify",
     .handler = classify,
     .inputs = values_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "soft vote of ModelA and ModelB; 'missing' lists models that did not answer"},
    {0}};
static const tfn_dependency_t ensemble_deps[] = {{.service = &preprocessor},
                                                 {.service = &model_a_svc},
                                                 {.service = &model_b_svc},
                                                 {.service = &aggregator},
                                                 {0}};
static const tfn_service_t ensemble = {
    .name = "Ensemble",
    .doc = "Preprocessor -> [ModelA, ModelB] -> Aggregator",
    .apis = ensemble_apis,
    .depends = ensemble_deps,
    .traffic = {.timeout_ms = 5000, .max_concurrency = 4096},
};

int main(int argc, char **argv) { return tfn_main(argc, argv, &ensemble); }
