/*
 * onnxgraph.c — a C entry service whose dependency is a model file, for test_onnx.py.
 *
 * Embedder.embed takes {"ids": int64 [n]} (WordPiece ids of one sentence), calls the MiniLM
 * model's `predict` through the dependency "Embed" with input_ids / attention_mask /
 * token_type_ids of shape [1, n], and answers the mean of last_hidden_state over the tokens:
 * a float32 [384] sentence embedding.
 *
 * With $ONNXGRAPH_MODEL set, "Embed" is that model file (tfn_onnx_service): `serve` runs it in
 * its own worker process, as any service of the graph. Without it, "Embed" is given only by URL
 * and `serve --depends Embed=URL` says where (a `tiffin serve` elsewhere).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiffin.h"

static int embed(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *ids = tfn_object_get(in, "ids");
    int64_t n = (int64_t)tfn_len(ids), shape[2] = {1, n};
    if (n == 0)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "ids is empty");
    tfn_value_t *mask = tfn_tensor(a, TFN_DTYPE_I64, 2, shape);
    tfn_value_t *types = tfn_tensor(a, TFN_DTYPE_I64, 2, shape);
    tfn_value_t *req = tfn_object(a), *res;
    if (!mask || !types || !req)
        return tfn_ctx_fail(ctx, TFN_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)tfn_tensor_data(mask))[i] = 1;
    tfn_object_set(a, req, "input_ids",
                   tfn_tensor_wrap(a, TFN_DTYPE_I64, 2, shape, tfn_tensor_data(ids)));
    tfn_object_set(a, req, "attention_mask", mask);
    tfn_object_set(a, req, "token_type_ids", types);
    tfn_error_t err;
    if (tfn_call(ctx, "Embed", "predict", req, &res, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    const tfn_value_t *hidden = tfn_object_get(res, "last_hidden_state");
    if (tfn_tensor_ndim(hidden) != 3 || tfn_tensor_shape(hidden)[1] != n)
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "unexpected last_hidden_state");
    int64_t dim = tfn_tensor_shape(hidden)[2];
    tfn_value_t *mean = tfn_tensor(a, TFN_DTYPE_F32, 1, &dim);
    if (!mean)
        return tfn_ctx_fail(ctx, TFN_ENOMEM, "out of memory");
    const float *h = tfn_tensor_data(hidden);
    float *m = tfn_tensor_data(mean);
    for (int64_t t = 0; t < n; t++)
        for (int64_t d = 0; d < dim; d++)
            m[d] += h[t * dim + d] / (float)n;
    *out = mean;
    return 0;
}

static const tfn_field_t embed_in[] = {
    {.name = "ids", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_I64, .ndim = 1, .shape = {-1}},
    {0}};
static const tfn_api_t apis[] = {
    {.name = "embed", .handler = embed, .inputs = embed_in, .output = TFN_TYPE_TENSOR}, {0}};

static tfn_dependency_t depends[2] = {{.name = "Embed", .url = "http://127.0.0.1:9"}};
static tfn_service_t embedder = {.name = "Embedder", .apis = apis, .depends = depends};

int main(int argc, char **argv)
{
    const char *model = getenv("ONNXGRAPH_MODEL");
    const tfn_service_t *svc = NULL;
    if (model && *model) {
        tfn_error_t err;
        tfn_onnx_service_options_t o = {.name = "Embed"};
        if (!(svc = tfn_onnx_service(model, &o, &err))) {
            fprintf(stderr, "onnxgraph: %s\n", err.message);
            return 1;
        }
        depends[0] = (tfn_dependency_t){.name = "Embed", .service = svc};
    }
    int rc = tfn_main(argc, argv, &embedder);
    tfn_onnx_service_free(svc);
    return rc;
}
