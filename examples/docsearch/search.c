/*
 * search.c — Search, the docsearch entry (models.h gives its API): the mixed graph
 *
 *   1. Preprocessor.tokenize [query], then Preprocessor.prepare_images [PNG...]
 *   2. in parallel: TextModel.embed (the query) || ImageModel.read (every line)
 *   3. Preprocessor.tokenize (the recognised lines) -> TextModel.embed, one batched call
 *   4. Fusion.fuse, 5. Ranker.rank
 *
 * Graceful degradation: a failed or late ImageModel leaves nothing to rank, so the answer has no
 * results and names it in "missing"; a failed TextModel leaves the recognised lines unscored, so
 * they come back in their order. Only a failed Preprocessor (bad input: its 4xx), or both models
 * failing, fails the request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models.h"
#include "services.h"

typedef struct search_state {
    uint32_t ocr_timeout_ms;
} search_state_t;

static search_state_t search_state;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int set(tfn_arena_t *a, tfn_value_t *obj, const char *key, tfn_value_t *val)
{
    return val ? tfn_object_set(a, obj, key, val) : TFN_ENOMEM;
}

/* Adds the time since *t to timings[key] (when asked for) and resets *t. */
static int lap(tfn_arena_t *a, tfn_value_t *timings, const char *key, double *t)
{
    double now = now_ms();
    int rc = timings ? set(a, timings, key, tfn_float(a, now - *t)) : 0;
    *t = now;
    return rc;
}

/* Copies a model's own compute_ms into timings[key]. */
static int compute(tfn_arena_t *a, tfn_value_t *timings, const char *key, const tfn_value_t *ans)
{
    const tfn_value_t *ms = tfn_object_get(ans, "compute_ms");
    return timings && ms ? set(a, timings, key, tfn_float(a, tfn_as_float(ms))) : 0;
}

/* Appends {service, code, error} to `missing`. */
static int miss(tfn_arena_t *a, tfn_value_t *missing, const char *service, const tfn_error_t *err)
{
    tfn_value_t *m = tfn_object(a);
    if (!m || set(a, m, "service", tfn_string(a, service)) ||
        set(a, m, "code", tfn_string(a, tfn_errname(err->code))) ||
        set(a, m, "error", tfn_string(a, err->message)))
        return TFN_ENOMEM;
    return tfn_list_append(a, missing, m);
}

static int search_init(tfn_worker_t *worker, void **state)
{
    const char *env = getenv("DOCSEARCH_OCR_TIMEOUT_MS");
    search_state.ocr_timeout_ms = 10000;
    if (env) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(env, &end, 10);
        if (errno || *end || end == env || v < 1 || v > 600000)
            return tfn_worker_fail(worker, TFN_EINIT,
                                   "DOCSEARCH_OCR_TIMEOUT_MS is '%s': want 1..600000 ms", env);
        search_state.ocr_timeout_ms = (uint32_t)v;
    }
    *state = &search_state;
    return 0;
}

/* ImageModel's answer as strings and confidences; TFN_EPROTO if it is not what models.h says. */
static int ocr_lines(tfn_arena_t *a, const tfn_value_t *ans, int64_t n, tfn_value_t **texts,
                     tfn_value_t **conf, tfn_error_t *err)
{
    const tfn_value_t *text = tfn_object_get(ans, "text"), *lens = tfn_object_get(ans, "lengths");
    *conf = (tfn_value_t *)tfn_object_get(ans, "confidences");
    if (tfn_typeof(text) != TFN_TYPE_TENSOR || tfn_tensor_dtype(text) != TFN_DTYPE_U8 ||
        tfn_tensor_ndim(text) != 2 || tfn_tensor_shape(text)[0] != n ||
        tfn_typeof(lens) != TFN_TYPE_TENSOR || tfn_tensor_dtype(lens) != TFN_DTYPE_I64 ||
        tfn_len(lens) != (size_t)n || tfn_typeof(*conf) != TFN_TYPE_TENSOR ||
        tfn_tensor_dtype(*conf) != TFN_DTYPE_F32 || tfn_len(*conf) != (size_t)n)
        return tfn_error_set(err, TFN_EPROTO,
                             "ImageModel answered something else than text, lengths and "
                             "confidences for %lld lines",
                             (long long)n);
    int64_t cap = tfn_tensor_shape(text)[1];
    *texts = tfn_list(a);
    if (!*texts)
        return TFN_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        int64_t len = ((const int64_t *)tfn_tensor_data(lens))[i];
        if (len < 0 || len > cap)
            return tfn_error_set(err, TFN_EPROTO, "ImageModel: line %lld has length %lld",
                                 (long long)i, (long long)len);
        const char *row = (const char *)tfn_tensor_data(text) + i * cap;
        if (tfn_list_append(a, *texts, tfn_stringn(a, row, (size_t)len)))
            return TFN_ENOMEM;
    }
    return 0;
}

/* The recognised lines in their order, unscored: the answer when TextModel is missing. */
static int unranked(tfn_arena_t *a, const tfn_value_t *texts, const tfn_value_t *conf,
                    tfn_value_t *results)
{
    for (size_t i = 0; i < tfn_len(texts); i++) {
        tfn_value_t *r = tfn_object(a);
        if (!r || set(a, r, "line", tfn_int(a, (int64_t)i)) ||
            set(a, r, "text", (tfn_value_t *)tfn_list_get(texts, i)) ||
            set(a, r, "confidence", tfn_float(a, ((const float *)tfn_tensor_data(conf))[i])) ||
            set(a, r, "score", tfn_null(a)) || tfn_list_append(a, results, r))
            return TFN_ENOMEM;
    }
    return 0;
}

static int search(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const search_state_t *st = tfn_ctx_state(ctx);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    double start = now_ms(), t = start;
    tfn_value_t *timings = tfn_as_bool(tfn_object_get(in, "timings")) ? tfn_object(a) : NULL;
    const tfn_value_t *images = tfn_object_get(in, "images"), *k_v = tfn_object_get(in, "k");
    int64_t n = (int64_t)tfn_len(images);
    if (k_v && tfn_as_int(k_v) < 1)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'k' is %lld: give 1 or more",
                            (long long)tfn_as_int(k_v));

    /* 1. The query's tokens, then the pictures (Preprocessor answers bad input with a 400). */
    tfn_value_t *args = tfn_object(a), *texts = tfn_list(a), *tokens, *prepared;
    tfn_error_t err;
    if (!texts || tfn_list_append(a, texts, (tfn_value_t *)tfn_object_get(in, "query")) ||
        set(a, args, "texts", texts))
        return TFN_ENOMEM;
    if (tfn_call(ctx, "Preprocessor", "tokenize", args, &tokens, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    args = tfn_object(a);
    if (set(a, args, "images", (tfn_value_t *)images))
        return TFN_ENOMEM;
    if (tfn_call(ctx, "Preprocessor", "prepare_images", args, &prepared, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    if (lap(a, timings, "preprocess", &t))
        return TFN_ENOMEM;

    /* 2. Both models at once. */
    tfn_value_t *ocr_args = tfn_object(a);
    if (set(a, ocr_args, "x", (tfn_value_t *)tfn_object_get(prepared, "x")))
        return TFN_ENOMEM;
    tfn_call_options_t ocr_opts = {.timeout_ms = st->ocr_timeout_ms};
    tfn_future_t *pending[2] = {tfn_call_async(ctx, "TextModel", "embed", tokens, NULL),
                                tfn_call_async(ctx, "ImageModel", "read", ocr_args, &ocr_opts)};
    tfn_await_all(pending, 2);
    if (lap(a, timings, "models", &t))
        return TFN_ENOMEM;
    tfn_value_t *missing = tfn_list(a), *results = tfn_list(a), *q_ans = NULL, *ocr_ans = NULL;
    if (!missing || !results)
        return TFN_ENOMEM;
    tfn_error_t q_err, ocr_err;
    int q_rc = tfn_await(pending[0], &q_ans, &q_err);
    int ocr_rc = tfn_await(pending[1], &ocr_ans, &ocr_err);
    const tfn_value_t *q_emb = tfn_object_get(q_ans, "embeddings");
    if (q_rc == 0 && (tfn_typeof(q_emb) != TFN_TYPE_TENSOR || tfn_tensor_ndim(q_emb) != 2 ||
                      tfn_tensor_shape(q_emb)[0] != 1 || tfn_tensor_dtype(q_emb) != TFN_DTYPE_F32))
        q_rc = tfn_error_set(&q_err, TFN_EPROTO, "TextModel gave no float32 [1][d] embedding");
    tfn_value_t *lines = NULL, *conf = NULL;
    if (ocr_rc == 0)
        ocr_rc = ocr_lines(a, ocr_ans, n, &lines, &conf, &ocr_err);
    if (ocr_rc == TFN_ENOMEM)
        return TFN_ENOMEM;
    if (q_rc != 0 && ocr_rc != 0)
        return tfn_ctx_fail(ctx, TFN_EDEPENDENCY,
                            "no model answered: TextModel: %.150s; "
                            "ImageModel: %.150s",
                            q_err.message, ocr_err.message);
    if (timings && (compute(a, timings, "text_model_compute", q_ans) ||
                    compute(a, timings, "image_model_compute", ocr_ans)))
        return TFN_ENOMEM;
    if (ocr_rc != 0) {
        if (miss(a, missing, "ImageModel", &ocr_err))
            return TFN_ENOMEM;
        goto answer;
    }
    if (q_rc != 0) {
        if (miss(a, missing, "TextModel", &q_err) || unranked(a, lines, conf, results))
            return TFN_ENOMEM;
        goto answer;
    }

    /* 3. The recognised lines embedded, one call. */
    args = tfn_object(a);
    tfn_value_t *line_tokens, *l_ans;
    if (set(a, args, "texts", lines))
        return TFN_ENOMEM;
    if (tfn_call(ctx, "Preprocessor", "tokenize", args, &line_tokens, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    int l_rc = tfn_call(ctx, "TextModel", "embed", line_tokens, &l_ans, &err);
    const tfn_value_t *l_emb = tfn_object_get(l_ans, "embeddings");
    if (l_rc == 0 && (tfn_typeof(l_emb) != TFN_TYPE_TENSOR || tfn_tensor_ndim(l_emb) != 2 ||
                      tfn_tensor_shape(l_emb)[0] != n))
        l_rc = tfn_error_set(&err, TFN_EPROTO, "TextModel gave no [n][d] line embeddings");
    if (l_rc != 0) {
        if (miss(a, missing, "TextModel", &err) || unranked(a, lines, conf, results))
            return TFN_ENOMEM;
        goto answer;
    }
    if (lap(a, timings, "embed_lines", &t) || compute(a, timings, "embed_lines_compute", l_ans))
        return TFN_ENOMEM;

    /* 4. Fusion, 5. Ranker. */
    int64_t d = tfn_tensor_shape(q_emb)[1];
    tfn_value_t *fuse_args = tfn_object(a), *fused, *ranked;
    if (set(a, fuse_args, "query",
            tfn_tensor_wrap(a, TFN_DTYPE_F32, 1, &d, tfn_tensor_data(q_emb))) ||
        set(a, fuse_args, "lines", (tfn_value_t *)l_emb) || set(a, fuse_args, "confidences", conf))
        return TFN_ENOMEM;
    if (tfn_call(ctx, "Fusion", "fuse", fuse_args, &fused, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    if (lap(a, timings, "fuse", &t))
        return TFN_ENOMEM;
    tfn_value_t *rank_args = tfn_object(a);
    if (set(a, rank_args, "scores", (tfn_value_t *)tfn_object_get(fused, "scores")) ||
        set(a, rank_args, "k", tfn_int(a, k_v ? tfn_as_int(k_v) : n)) ||
        set(a, rank_args, "texts", lines) || set(a, rank_args, "confidences", conf))
        return TFN_ENOMEM;
    if (tfn_call(ctx, "Ranker", "rank", rank_args, &ranked, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    if (lap(a, timings, "rank", &t))
        return TFN_ENOMEM;
    results = (tfn_value_t *)tfn_object_get(ranked, "results");

answer:
    *out = tfn_object(a);
    if (set(a, *out, "results", results) || set(a, *out, "missing", missing))
        return TFN_ENOMEM;
    if (timings && set(a, timings, "total", tfn_float(a, now_ms() - start)))
        return TFN_ENOMEM;
    return timings ? set(a, *out, "timings_ms", timings) : 0;
}

static const tfn_field_t search_in[] = {
    {.name = "query", .type = TFN_TYPE_STRING, .doc = "what to look for, in words"},
    {.name = "images",
     .type = TFN_TYPE_LIST,
     .doc = "1..32 pictures of one text line each, PNG (base64 strings in JSON)"},
    {.name = "k",
     .type = TFN_TYPE_INT,
     .optional = true,
     .doc = "how many lines to answer, best first (default: every line)"},
    {.name = "timings",
     .type = TFN_TYPE_BOOL,
     .optional = true,
     .doc = "add \"timings_ms\": each stage as the entry saw it, and each model's compute time"},
    {0}};
static const tfn_api_t search_apis[] = {
    {.name = "search",
     .handler = search,
     .inputs = search_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "the lines ranked by relevance to the query -> {results: [{line, text, confidence, "
            "score}], missing: the services that did not answer and why}"},
    {0}};
static const tfn_dependency_t search_deps[] = {
    {.service = &ds_preprocessor_service}, {.service = &ds_text_model_service},
    {.service = &ds_image_model_service},  {.service = &ds_fusion_service},
    {.service = &ds_ranker_service},       {0}};
const tfn_service_t ds_search_service = {
    .name = "Search",
    .doc = "search the lines of a scanned page with a text query: WordPiece + MiniLM for the "
           "text, PP-OCRv4 for the pictures, cosine x OCR confidence",
    .version = "1.0.0",
    .apis = search_apis,
    .depends = search_deps,
    .init = search_init,
    .resources = {.cpu = 0.25, .memory_mb = 512},
    .workers = 1,
    .traffic = {.timeout_ms = 120000, .max_concurrency = 1024, .max_body_bytes = 16u << 20},
};
