/*
 * models.c — TextModel and ImageModel: the docsearch services that run ONNX models (models.h
 * gives their APIs). Each loads its model once per worker (tfn_onnx_load_worker: the runtime's
 * threads come from the service's resources.cpu), runs on handler threads, and is batchable:
 * concurrent callers whose tensors agree after the first dimension are merged into one run.
 *
 * Sections: helpers; TextModel; ImageModel.
 */
#include "models.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctc.h"
#include "fusion.h"
#include "services.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

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

/* Loads DATA_DIR/file for a worker (the failure, naming the file, stops the worker). */
static int load_model(tfn_worker_t *worker, const char *file, tfn_onnx_model_t **model)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", ds_data_dir(dir, sizeof dir), file);
    return tfn_onnx_load_worker(worker, path, NULL, model);
}

/* ---------------------------------------------------------------------------------------------
 * TextModel: MiniLM -> mean-pooled, L2-normalised embeddings
 * ------------------------------------------------------------------------------------------- */

static int text_init(tfn_worker_t *worker, void **state)
{
    return load_model(worker, "minilm.onnx", (tfn_onnx_model_t **)state);
}

static void model_shutdown(tfn_worker_t *worker, void *state)
{
    (void)worker;
    tfn_onnx_free(state);
}

static int embed(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    double t0 = now_ms();
    const tfn_value_t *ids = tfn_object_get(in, "input_ids");
    const tfn_value_t *mask = tfn_object_get(in, "attention_mask");
    const tfn_value_t *types = tfn_object_get(in, "token_type_ids");
    /* Only the model's three inputs go to the runtime, whatever else the caller sent. */
    tfn_value_t *inputs = tfn_object(a), *outputs = NULL;
    int rc = set(a, inputs, "input_ids", (tfn_value_t *)ids);
    if (!rc)
        rc = set(a, inputs, "attention_mask", (tfn_value_t *)mask);
    if (!rc)
        rc = set(a, inputs, "token_type_ids", (tfn_value_t *)types);
    if (rc)
        return rc;
    const int64_t *shape = tfn_tensor_shape(ids);
    if (tfn_len(ids) == 0)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'input_ids' is empty: give [n][sequence], n >= 1");
    /* The runtime checks the dtypes and that the three shapes agree (same named dims). */
    rc = tfn_onnx_run_ctx(ctx, tfn_ctx_state(ctx), inputs, &outputs);
    if (rc)
        return rc;
    const tfn_value_t *hidden = tfn_object_get(outputs, "last_hidden_state");
    if (tfn_typeof(hidden) != TFN_TYPE_TENSOR || tfn_tensor_ndim(hidden) != 3 ||
        tfn_tensor_shape(hidden)[0] != shape[0] || tfn_tensor_shape(hidden)[1] != shape[1])
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "the model gave no last_hidden_state [n][s][d]");
    int64_t n = shape[0], s = shape[1], d = tfn_tensor_shape(hidden)[2];
    tfn_value_t *emb = tfn_tensor(a, TFN_DTYPE_F32, 2, (int64_t[]){n, d});
    if (!emb)
        return TFN_ENOMEM;
    ds_mean_pool(tfn_tensor_data(hidden), tfn_tensor_data(mask), (size_t)n, (size_t)s, (size_t)d,
                 tfn_tensor_data(emb));
    *out = tfn_object(a);
    rc = set(a, *out, "embeddings", emb);
    return rc ? rc : set(a, *out, "compute_ms", tfn_float(a, now_ms() - t0));
}

#define TOKENS_FIELD(n, what)                                                                      \
    {                                                                                              \
        .name = n, .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_I64, .ndim = 2, .shape = {-1, -1},  \
        .doc = what                                                                                \
    }
static const tfn_field_t embed_in[] = {
    TOKENS_FIELD("input_ids", "int64 [n][sequence]: WordPiece ids (Preprocessor.tokenize)"),
    TOKENS_FIELD("attention_mask", "int64 [n][sequence]: 1 for a token, 0 for padding"),
    TOKENS_FIELD("token_type_ids", "int64 [n][sequence]: zeros"),
    {0}};
static const tfn_api_t text_apis[] = {
    {.name = "embed",
     .handler = embed,
     .inputs = embed_in,
     .output = TFN_TYPE_OBJECT,
     .run = TFN_RUN_IN_THREAD,
     .batch = {.max_size = 64, .max_latency_ms = 10},
     .doc = "all-MiniLM-L6-v2 (int8) -> {embeddings: float32 [n][384], mean-pooled over the "
            "mask and L2-normalised; compute_ms: the batch's inference time}"},
    {0}};
const tfn_service_t ds_text_model_service = {
    .name = "TextModel",
    .doc = "MiniLM sentence embeddings (ONNX Runtime)",
    .apis = text_apis,
    .resources = {.cpu = 1, .memory_mb = 1024},
    .workers = 1,
    .threads = 2,
    .traffic = {.timeout_ms = 120000, .max_concurrency = 256, .max_queue = 256},
    .init = text_init,
    .shutdown = model_shutdown,
};

/* ---------------------------------------------------------------------------------------------
 * ImageModel: PP-OCRv4 recogniser + greedy CTC decoding with the model's own dictionary
 * ------------------------------------------------------------------------------------------- */

typedef struct image_state {
    tfn_onnx_model_t *model;
    ds_ctc_dict_t dict;
    /* DOCSEARCH_OCR_FAULT, for the degradation tests: "fail" answers every call with an
     * error, "sleep=MS" sleeps that long first (past the entry's timeout). */
    bool fail;
    unsigned sleep_ms;
} image_state_t;

/* Reads DOCSEARCH_OCR_FAULT into st; -1 for a malformed value. */
static int parse_fault(image_state_t *st)
{
    const char *env = getenv("DOCSEARCH_OCR_FAULT");
    if (!env || !*env)
        return 0;
    if (strcmp(env, "fail") == 0) {
        st->fail = true;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long ms = strncmp(env, "sleep=", 6) == 0 && env[6] >= '0' && env[6] <= '9'
                           ? strtoul(env + 6, &end, 10)
                           : ULONG_MAX;
    if (ms > 600000 || errno || *end)
        return -1;
    st->sleep_ms = (unsigned)ms;
    return 0;
}

static void image_shutdown(tfn_worker_t *worker, void *state)
{
    (void)worker;
    image_state_t *st = state;
    if (!st)
        return;
    tfn_onnx_free(st->model);
    ds_ctc_dict_free(&st->dict);
    free(st);
}

static int image_init(tfn_worker_t *worker, void **state)
{
    image_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return tfn_worker_fail(worker, TFN_ENOMEM, "out of memory");
    if (parse_fault(st) < 0) {
        free(st);
        return tfn_worker_fail(worker, TFN_EINIT,
                               "DOCSEARCH_OCR_FAULT is '%.60s': want fail or sleep=MS (<= 600000)",
                               getenv("DOCSEARCH_OCR_FAULT"));
    }
    int rc = load_model(worker, "ocr_rec.onnx", &st->model);
    if (rc) {
        free(st);
        return rc;
    }
    const char *chars = tfn_onnx_metadata(st->model, "character");
    char err[200];
    if (!chars) {
        image_shutdown(worker, st);
        return tfn_worker_fail(worker, TFN_EINIT,
                               "ocr_rec.onnx has no 'character' metadata (its dictionary)");
    }
    if (ds_ctc_dict_split(chars, strlen(chars), &st->dict, err, sizeof err) < 0) {
        image_shutdown(worker, st);
        return tfn_worker_fail(worker, TFN_EINIT, "ocr_rec.onnx's dictionary: %s", err);
    }
    *state = st;
    return 0;
}

static int read_lines(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    image_state_t *st = tfn_ctx_state(ctx);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    double t0 = now_ms();
    if (st->fail)
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "DOCSEARCH_OCR_FAULT=fail: a failure on purpose");
    if (st->sleep_ms)
        nanosleep(&(struct timespec){st->sleep_ms / 1000, (long)(st->sleep_ms % 1000) * 1000000},
                  NULL);
    const tfn_value_t *x = tfn_object_get(in, "x");
    if (tfn_len(x) == 0)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'x' is empty: give [n][3][48][W], n >= 1");
    tfn_value_t *inputs = tfn_object(a), *outputs = NULL;
    int rc = set(a, inputs, "x", (tfn_value_t *)x);
    if (!rc)
        rc = tfn_onnx_run_ctx(ctx, st->model, inputs, &outputs);
    if (rc)
        return rc;
    const tfn_value_t *probs = NULL;
    for (const tfn_field_t *f = tfn_onnx_outputs(st->model); f->name && !probs; f++)
        probs = tfn_object_get(outputs, f->name);
    int64_t n = tfn_tensor_shape(x)[0];
    if (tfn_typeof(probs) != TFN_TYPE_TENSOR || tfn_tensor_ndim(probs) != 3 ||
        tfn_tensor_shape(probs)[0] != n || tfn_tensor_dtype(probs) != TFN_DTYPE_F32)
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "the recogniser gave no float32 [n][T][classes]");
    size_t steps = (size_t)tfn_tensor_shape(probs)[1];
    size_t classes = (size_t)tfn_tensor_shape(probs)[2];
    /* Every dictionary entry is one character (at most 4 bytes), one per time step at most. */
    int64_t cap = (int64_t)steps * 4 + 1;
    tfn_value_t *text = tfn_tensor(a, TFN_DTYPE_U8, 2, (int64_t[]){n, cap});
    tfn_value_t *lens = tfn_tensor(a, TFN_DTYPE_I64, 1, &n);
    tfn_value_t *conf = tfn_tensor(a, TFN_DTYPE_F32, 1, &n);
    if (!text || !lens || !conf)
        return TFN_ENOMEM;
    const float *p = tfn_tensor_data(probs);
    for (int64_t i = 0; i < n; i++) {
        char *row = (char *)tfn_tensor_data(text) + i * cap, err[200];
        size_t len = 0;
        double c = 0;
        if (ds_ctc_decode(st->dict.chars, st->dict.lens, st->dict.n, p + i * steps * classes, steps,
                          classes, row, (size_t)cap, &len, &c, err, sizeof err) < 0)
            return tfn_ctx_fail(ctx, TFN_EHANDLER, "line %lld: %s", (long long)i, err);
        ((int64_t *)tfn_tensor_data(lens))[i] = (int64_t)len;
        ((float *)tfn_tensor_data(conf))[i] = (float)c;
    }
    *out = tfn_object(a);
    rc = set(a, *out, "text", text);
    if (!rc)
        rc = set(a, *out, "lengths", lens);
    if (!rc)
        rc = set(a, *out, "confidences", conf);
    return rc ? rc : set(a, *out, "compute_ms", tfn_float(a, now_ms() - t0));
}

static const tfn_field_t read_in[] = {{.name = "x",
                                       .type = TFN_TYPE_TENSOR,
                                       .dtype = TFN_DTYPE_F32,
                                       .ndim = 4,
                                       .shape = {-1, 3, 48, -1},
                                       .doc = "float32 [n][3][48][W]: Preprocessor.prepare_images"},
                                      {0}};
static const tfn_api_t image_apis[] = {
    {.name = "read",
     .handler = read_lines,
     .inputs = read_in,
     .output = TFN_TYPE_OBJECT,
     .run = TFN_RUN_IN_THREAD,
     .batch = {.max_size = 16, .max_latency_ms = 10},
     .doc = "PP-OCRv4 + greedy CTC -> {text: uint8 [n][4T+1], each line's UTF-8 NUL-padded; "
            "lengths: int64 [n] (bytes); confidences: float32 [n]; compute_ms}"},
    {0}};
const tfn_service_t ds_image_model_service = {
    .name = "ImageModel",
    .doc = "PP-OCRv4 text-line recogniser (ONNX Runtime); dictionary from the model's metadata",
    .apis = image_apis,
    .resources = {.cpu = 1, .memory_mb = 2048},
    .workers = 1,
    .threads = 2,
    .traffic = {.timeout_ms = 120000,
                .max_concurrency = 256,
                .max_queue = 256,
                .max_body_bytes = 64u << 20},
    .init = image_init,
    .shutdown = image_shutdown,
};
