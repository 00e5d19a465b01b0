/*
 * dag — a mixed graph: text and image preprocessing -> [TextModel, ImageModel] -> Fusion -> Ranker.
 *
 * The entry, Search, runs the two branches side by side — both preprocessors at once, then both
 * models at once — fuses the two embeddings and ranks a small catalog against the result. If one
 * branch fails, Search ranks with the other alone and says so in "degraded".
 *
 *   ./dag serve --port 3000
 *   curl -s localhost:3000/search -H 'Content-Type: application/json' \
 *        -d '{"text": "red running shoes", "image": [[0,1,0,0,0,0,0,0], ... 8 rows ...]}'
 *   {"results":[{"item":"shoe","score":0.8...}, ...],"degraded":[]}
 *
 * The embeddings are fixed random projections: the example is about the shape of the graph.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tiffin.h>

#define NIN    16 /* preprocessed feature size, both modalities */
#define NEMB   8  /* embedding size */
#define NITEMS 6

static const char *const items[NITEMS] = {"shoe", "shirt", "lamp", "mug", "book", "bike"};

/* A deterministic pseudo-random float in [-1, 1): the fixed weights of the toy models. */
static float lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1u << 23) - 1.0f;
}

static void normalise(float *v, int n)
{
    double norm = 0;
    for (int i = 0; i < n; i++)
        norm += (double)v[i] * v[i];
    norm = sqrt(norm);
    for (int i = 0; norm > 0 && i < n; i++)
        v[i] = (float)(v[i] / norm);
}

static tfn_value_t *vector(tfn_ctx_t *ctx, int64_t n)
{
    return tfn_tensor(tfn_ctx_arena(ctx), TFN_DTYPE_F32, 1, &n);
}

/* ---- TextPreprocessor.tokenize: {"text"} -> float32[16], a hashed bag of words ---- */

static int tokenize(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    size_t len;
    const char *text = tfn_as_string(tfn_object_get(in, "text"), &len);
    if (!(*out = vector(ctx, NIN)))
        return TFN_ENOMEM;
    float *v = tfn_tensor_data(*out);
    uint32_t h = 2166136261u; /* FNV-1a over each word, lower-cased */
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)text[i] : ' ';
        if (c == ' ' || c == '\t' || c == '\n' || c == ',' || c == '.') {
            if (h != 2166136261u)
                v[h % NIN] += 1;
            h = 2166136261u;
        } else {
            h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32 : c)) * 16777619u;
        }
    }
    normalise(v, NIN);
    return 0;
}

static const tfn_field_t text_in[] = {{.name = "text", .type = TFN_TYPE_STRING}, {0}};
static const tfn_api_t text_pre_apis[] = {
    {.name = "tokenize", .handler = tokenize, .inputs = text_in, .output = TFN_TYPE_TENSOR}, {0}};
static const tfn_service_t text_pre = {.name = "TextPreprocessor", .apis = text_pre_apis};

/* ---- ImagePreprocessor.pool: {"image": float32[8][8]} -> float32[16], 2x2 average pooling ---- */

static int pool(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const float *img = tfn_tensor_data(tfn_object_get(in, "image"));
    if (!(*out = vector(ctx, NIN)))
        return TFN_ENOMEM;
    float *v = tfn_tensor_data(*out);
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++)
            v[(r / 2) * 4 + c / 2] += img[r * 8 + c] / 4;
    normalise(v, NIN);
    return 0;
}

static const tfn_field_t image_in[] = {
    {.name = "image", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {8, 8}},
    {0}};
static const tfn_api_t image_pre_apis[] = {
    {.name = "pool", .handler = pool, .inputs = image_in, .output = TFN_TYPE_TENSOR}, {0}};
static const tfn_service_t image_pre = {.name = "ImagePreprocessor", .apis = image_pre_apis};

/* ---- TextModel / ImageModel.embed: {"x": float32[16]} -> float32[8] ---- */

typedef struct projection {
    float w[NEMB][NIN];
} projection_t;

static projection_t text_proj, image_proj;

/* Each model's init hook draws its projection from its own seed. */
static int init_projection(tfn_worker_t *worker, void **state)
{
    bool text = strcmp(tfn_worker_service(worker)->name, "TextModel") == 0;
    projection_t *p = text ? &text_proj : &image_proj;
    uint32_t seed = text ? 7 : 11;
    for (int i = 0; i < NEMB; i++)
        for (int j = 0; j < NIN; j++)
            p->w[i][j] = lcg(&seed);
    *state = p;
    return 0;
}

static int embed(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const projection_t *p = tfn_ctx_state(ctx);
    const float *x = tfn_tensor_data(tfn_object_get(in, "x"));
    if (!(*out = vector(ctx, NEMB)))
        return TFN_ENOMEM;
    float *e = tfn_tensor_data(*out);
    for (int i = 0; i < NEMB; i++)
        for (int j = 0; j < NIN; j++)
            e[i] += p->w[i][j] * x[j];
    normalise(e, NEMB);
    return 0;
}

static const tfn_field_t embed_in[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 1, .shape = {NIN}}, {0}};
static const tfn_api_t model_apis[] = {
    {.name = "embed", .handler = embed, .inputs = embed_in, .output = TFN_TYPE_TENSOR}, {0}};
static const tfn_service_t text_model = {
    .name = "TextModel", .apis = model_apis, .init = init_projection};
static const tfn_service_t image_model = {
    .name = "ImageModel", .apis = model_apis, .init = init_projection};

/* ---- Fusion.fuse: {"parts": float32[k][8]} -> float32[8], the normalised sum ---- */

static int fuse(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *parts = tfn_object_get(in, "parts");
    int64_t k = tfn_tensor_shape(parts)[0];
    const float *p = tfn_tensor_data(parts);
    if (k == 0)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "nothing to fuse");
    if (!(*out = vector(ctx, NEMB)))
        return TFN_ENOMEM;
    float *e = tfn_tensor_data(*out);
    for (int64_t i = 0; i < k; i++)
        for (int j = 0; j < NEMB; j++)
            e[j] += p[i * NEMB + j];
    normalise(e, NEMB);
    return 0;
}

static const tfn_field_t fuse_in[] = {{.name = "parts",
                                       .type = TFN_TYPE_TENSOR,
                                       .dtype = TFN_DTYPE_F32,
                                       .ndim = 2,
                                       .shape = {-1, NEMB}},
                                      {0}};
static const tfn_api_t fusion_apis[] = {
    {.name = "fuse", .handler = fuse, .inputs = fuse_in, .output = TFN_TYPE_TENSOR}, {0}};
static const tfn_service_t fusion = {.name = "Fusion", .apis = fusion_apis};

/* ---- Ranker.rank: {"query": float32[8], "top": int} -> [{"item", "score"}...] ---- */

static float catalog[NITEMS][NEMB];

static int init_catalog(tfn_worker_t *worker, void **state)
{
    (void)worker;
    uint32_t seed = 42;
    for (int i = 0; i < NITEMS; i++) {
        for (int j = 0; j < NEMB; j++)
            catalog[i][j] = lcg(&seed);
        normalise(catalog[i], NEMB);
    }
    *state = catalog;
    return 0;
}

static int rank(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const float(*cat)[NEMB] = tfn_ctx_state(ctx);
    const float *q = tfn_tensor_data(tfn_object_get(in, "query"));
    const tfn_value_t *top_v = tfn_object_get(in, "top");
    int64_t top = top_v ? tfn_as_int(top_v) : 3;
    if (top < 1 || top > NITEMS)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'top' must be 1 to %d, not %lld", NITEMS,
                            (long long)top);
    float score[NITEMS];
    int order[NITEMS];
    for (int i = 0; i < NITEMS; i++) {
        score[i] = 0;
        for (int j = 0; j < NEMB; j++)
            score[i] += cat[i][j] * q[j];
        order[i] = i;
        for (int k = i; k > 0 && score[order[k]] > score[order[k - 1]]; k--) { /* insertion */
            int t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    }
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_list(a);
    for (int64_t i = 0; i < top; i++) {
        tfn_value_t *hit = tfn_object(a);
        tfn_object_set(a, hit, "item", tfn_string(a, items[order[i]]));
        tfn_object_set(a, hit, "score", tfn_float(a, score[order[i]]));
        if (tfn_list_append(a, *out, hit) != 0)
            return TFN_ENOMEM;
    }
    return 0;
}

static const tfn_field_t rank_in[] = {
    {.name = "query", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 1, .shape = {NEMB}},
    {.name = "top", .type = TFN_TYPE_INT, .optional = true},
    {0}};
static const tfn_api_t ranker_apis[] = {
    {.name = "rank", .handler = rank, .inputs = rank_in, .output = TFN_TYPE_LIST}, {0}};
static const tfn_service_t ranker = {.name = "Ranker", .apis = ranker_apis, .init = init_catalog};

/* ---- Search.search: the entry ---- */

static tfn_value_t *arg(tfn_ctx_t *ctx, const char *name, tfn_value_t *value)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *o = tfn_object(a);
    return o && tfn_object_set(a, o, name, value) == 0 ? o : NULL;
}

static int search(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    static const char *const branch[2] = {"text", "image"};
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *degraded = tfn_list(a);
    tfn_error_t err;

    /* Stage 1: both preprocessors at once, each given its part of the input. */
    tfn_value_t *text = tfn_object_get(in, "text"), *image = tfn_object_get(in, "image");
    tfn_future_t *pre[2] = {
        tfn_call_async(ctx, "TextPreprocessor", "tokenize", arg(ctx, "text", text), NULL),
        tfn_call_async(ctx, "ImagePreprocessor", "pool", arg(ctx, "image", image), NULL)};
    tfn_await_all(pre, 2);
    /* Stage 2: each model on its branch's features, both at once; a failed branch drops out. */
    static const char *const model[2] = {"TextModel", "ImageModel"};
    tfn_future_t *emb[2] = {NULL, NULL};
    for (int b = 0; b < 2; b++) {
        tfn_value_t *features;
        if (tfn_await(pre[b], &features, &err) == 0)
            emb[b] = tfn_call_async(ctx, model[b], "embed", arg(ctx, "x", features), NULL);
    }
    /* Stage 3: fuse what came back. */
    int64_t shape[2] = {0, NEMB};
    float *parts = tfn_arena_alloc(a, 2 * NEMB * sizeof(float));
    if (!parts || !degraded)
        return TFN_ENOMEM;
    for (int b = 0; b < 2; b++) {
        tfn_value_t *e;
        if ((emb[b] ? tfn_await(emb[b], &e, &err) : tfn_await(pre[b], NULL, &err)) != 0) {
            char why[TFN_ERROR_MESSAGE_MAX + 80];
            snprintf(why, sizeof why, "%s: %s: %s", branch[b], err.service, err.message);
            tfn_list_append(a, degraded, tfn_string(a, why));
            continue;
        }
        memcpy(parts + shape[0]++ * NEMB, tfn_tensor_data(e), NEMB * sizeof(float));
    }
    if (shape[0] == 0)
        return tfn_ctx_fail_with(ctx, &err);
    tfn_value_t *query;
    if (tfn_call(ctx, "Fusion", "fuse",
                 arg(ctx, "parts", tfn_tensor_wrap(a, TFN_DTYPE_F32, 2, shape, parts)), &query,
                 &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    /* Stage 4: rank. */
    tfn_value_t *rank_args = arg(ctx, "query", query), *results;
    const tfn_value_t *top = tfn_object_get(in, "top");
    if (top)
        tfn_object_set(a, rank_args, "top", (tfn_value_t *)top);
    if (tfn_call(ctx, "Ranker", "rank", rank_args, &results, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    *out = tfn_object(a);
    tfn_object_set(a, *out, "results", results);
    return tfn_object_set(a, *out, "degraded", degraded);
}

static const tfn_field_t search_in[] = {
    {.name = "text", .type = TFN_TYPE_STRING, .doc = "what the user typed"},
    {.name = "image",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_F32,
     .ndim = 2,
     .shape = {8, 8},
     .doc = "an 8x8 grey-level sketch"},
    {.name = "top", .type = TFN_TYPE_INT, .optional = true, .doc = "how many results (3)"},
    {0}};
static const tfn_api_t search_apis[] = {
    {.name = "search",
     .handler = search,
     .inputs = search_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "rank the catalog against a text and an image together"},
    {0}};
static const tfn_dependency_t search_deps[] = {{.service = &text_pre},
                                               {.service = &image_pre},
                                               {.service = &text_model},
                                               {.service = &image_model},
                                               {.service = &fusion},
                                               {.service = &ranker},
                                               {0}};
static const tfn_service_t search_svc = {
    .name = "Search",
    .doc = "[TextPreprocessor, ImagePreprocessor] -> [TextModel, ImageModel] -> Fusion -> Ranker",
    .apis = search_apis,
    .depends = search_deps,
    .traffic = {.timeout_ms = 5000, .max_concurrency = 4096},
};

int main(int argc, char **argv) { return tfn_main(argc, argv, &search_svc); }
