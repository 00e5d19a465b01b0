/*
 * sequential — a three-step pipeline: Preprocessing -> InferenceModel -> Postprocessing.
 *
 * The entry service, Pipeline, calls each step in turn with tfn_call; every step is its own
 * service, and `./sequential serve` runs each in its own process (the entry on TCP, the others
 * on unix sockets). The model is a small logistic regression over summary statistics of the
 * input, with fixed weights: the point here is the composition, not the model (the digits demo
 * in examples/digits serves real ones).
 *
 *   ./sequential serve --port 3000
 *   curl -s localhost:3000/classify -H 'Content-Type: application/json' \
 *        -d '{"values": [0.1, 0.4, 0.35, 0.8]}'
 *   {"label":"low","confidence":0.5...}
 */
#include <tiffin.h>

#include "../common/toy.h"

/* ---- Preprocessing.features: {"values": float32[n]} -> float32[4] (mean, std, min, max) ---- */

static int features(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
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

static const tfn_field_t features_in[] = {{.name = "values",
                                           .type = TFN_TYPE_TENSOR,
                                           .dtype = TFN_DTYPE_F32,
                                           .ndim = 1,
                                           .shape = {-1},
                                           .doc = "any number of readings"},
                                          {0}};
static const tfn_api_t preprocessing_apis[] = {{.name = "features",
                                                .handler = features,
                                                .inputs = features_in,
                                                .output = TFN_TYPE_TENSOR,
                                                .doc = "summary statistics of the readings"},
                                               {0}};
static const tfn_service_t preprocessing = {.name = "Preprocessing", .apis = preprocessing_apis};

/* ---- InferenceModel.predict: {"features": float32[4]} -> float32[3] class probabilities ---- */

static const toy_linear_t weights = {{{-6, 0, -1, -1}, {0, -2, 0, 0}, {6, 0, 1, 1}}, {3, 1, -5}};

static int predict(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t dim = TOY_NCLASS;
    if (!(*out = tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_F32, 1, &dim)))
        return TFN_ENOMEM;
    toy_predict(&weights, tfn_tensor_data(tfn_object_get(in, "features")), tfn_tensor_data(*out));
    return 0;
}

static const tfn_field_t predict_in[] = {{.name = "features",
                                          .type = TFN_TYPE_TENSOR,
                                          .dtype = TFN_DTYPE_F32,
                                          .ndim = 1,
                                          .shape = {TOY_NFEAT}},
                                         {0}};
static const tfn_api_t model_apis[] = {
    {.name = "predict", .handler = predict, .inputs = predict_in, .output = TFN_TYPE_TENSOR}, {0}};
static const tfn_service_t model = {.name = "InferenceModel", .apis = model_apis};

/* ---- Postprocessing.label: {"probabilities": float32[3]} -> {"label", "confidence"} ---- */

static int label(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const float *p = tfn_tensor_data(tfn_object_get(in, "probabilities"));
    int best = toy_argmax(p, TOY_NCLASS);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    int rc = tfn_object_set(a, *out, "label", tfn_string(a, toy_labels[best]));
    return rc ? rc : tfn_object_set(a, *out, "confidence", tfn_float(a, p[best]));
}

static const tfn_field_t label_in[] = {{.name = "probabilities",
                                        .type = TFN_TYPE_TENSOR,
                                        .dtype = TFN_DTYPE_F32,
                                        .ndim = 1,
                                        .shape = {TOY_NCLASS}},
                                       {0}};
static const tfn_api_t postprocessing_apis[] = {
    {.name = "label", .handler = label, .inputs = label_in, .output = TFN_TYPE_OBJECT}, {0}};
static const tfn_service_t postprocessing = {.name = "Postprocessing", .apis = postprocessing_apis};

/* ---- Pipeline.classify: the entry, calling the three in sequence ---- */

/* Builds {name: value} in the request's arena. */
static tfn_value_t *arg(tfn_ctx_t *ctx, const char *name, tfn_value_t *value)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *o = tfn_object(a);
    return o && tfn_object_set(a, o, name, value) == 0 ? o : NULL;
}

static int classify(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_value_t *feats, *probs;
    tfn_error_t err;
    if (tfn_call(ctx, "Preprocessing", "features", in, &feats, &err) != 0 ||
        tfn_call(ctx, "InferenceModel", "predict", arg(ctx, "features", feats), &probs, &err) ||
        tfn_call(ctx, "Postprocessing", "label", arg(ctx, "probabilities", probs), out, &err))
        return tfn_ctx_fail_with(ctx, &err); /* the client sees which step failed, and why */
    return 0;
}

static const tfn_api_t pipeline_apis[] = {
    {.name = "classify",
     .handler = classify,
     .inputs = features_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "label the readings low, mid or high, with the model's confidence"},
    {0}};
static const tfn_dependency_t pipeline_deps[] = {
    {.service = &preprocessing}, {.service = &model}, {.service = &postprocessing}, {0}};
static const tfn_service_t pipeline = {
    .name = "Pipeline",
    .doc = "Preprocessing -> InferenceModel -> Postprocessing",
    .apis = pipeline_apis,
    .depends = pipeline_deps,
    .traffic = {.timeout_ms = 5000, .max_concurrency = 4096},
};

int main(int argc, char **argv) { return tfn_main(argc, argv, &pipeline); }
