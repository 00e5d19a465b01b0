/*
 * services.c — the digits ensemble: seven services composed by an eighth (services.h). This file
 * holds the entry, Digits, and the helpers the services share (services_internal.h); the four
 * model services are in service_models.c, Preprocessing, Aggregator and Postprocessing in
 * service_steps.c.
 *
 * Each service is its own tfn_service_t with its resources, workers and threads; `serve` runs each
 * in its own process. Values between services are tensors in the binary encoding: the entry
 * never copies pixel data into JSON.
 */
#include "services_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const digits_model_service_names[DIGITS_KINDS] = {"XGBoost", "LogReg", "SVM", "MLP"};

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

double digits__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

const char *digits_models_dir(char *buf, size_t len)
{
    const char *env = getenv("DIGITS_MODELS");
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return buf;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = n > 0 ? (exe[n] = 0, strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = 0; /* the program's folder: build/examples (or build/tests) */
        snprintf(buf, len, "%s/../digits/models", exe);
    } else {
        snprintf(buf, len, "build/digits/models");
    }
    return buf;
}

/* A [rows][cols] float32 tensor from the request's arena, or NULL. */
tfn_value_t *digits__matrix(tfn_arena_t *a, int64_t rows, int64_t cols)
{
    return tfn_tensor(a, TFN_DTYPE_F32, 2, (int64_t[]){rows, cols});
}

/* Sets key to val in obj; a NULL val (an exhausted arena) makes it fail with TFN_ENOMEM. */
int digits__set(tfn_arena_t *a, tfn_value_t *obj, const char *key, tfn_value_t *val)
{
    return val ? tfn_object_set(a, obj, key, val) : TFN_ENOMEM;
}

/* ---------------------------------------------------------------------------------------------
 * Digits, the entry: preprocess, ask the four models at once, vote, format
 * ------------------------------------------------------------------------------------------- */

typedef struct entry_state {
    uint32_t model_timeout_ms;
} entry_state_t;

static entry_state_t entry_state;

static int entry_init(tfn_worker_t *worker, void **state)
{
    const char *env = getenv("DIGITS_MODEL_TIMEOUT_MS");
    entry_state.model_timeout_ms = 2000;
    if (env) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(env, &end, 10);
        if (errno || *end || end == env || v < 1 || v > 600000)
            return tfn_worker_fail(worker, TFN_EINIT,
                                   "DIGITS_MODEL_TIMEOUT_MS is '%s': want 1..600000 ms", env);
        entry_state.model_timeout_ms = (uint32_t)v;
    }
    *state = &entry_state;
    return 0;
}

/* Adds the time since *t to timings[key] (when timings are asked for) and resets *t. */
static int lap(tfn_arena_t *a, tfn_value_t *timings, const char *key, double *t)
{
    double now = digits__now_ms();
    int rc = timings ? digits__set(a, timings, key, tfn_float(a, now - *t)) : 0;
    *t = now;
    return rc;
}

/*
 * Steps 2-4 for n preprocessed rows x ([n][64]): the four models concurrently, each with the
 * per-model timeout; those that fail or time out are left out and listed in "missing"; then the
 * vote and the formatting. Sets *post to Postprocessing's answer {"results", "missing"}. Fails
 * only when no model answers, or the Aggregator or Postprocessing fails.
 */
static int ensemble(tfn_ctx_t *ctx, tfn_value_t *x, tfn_value_t *timings, double *t,
                    tfn_value_t **post)
{
    const entry_state_t *st = tfn_ctx_state(ctx);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    if (tfn_typeof(x) != TFN_TYPE_TENSOR || tfn_tensor_ndim(x) != 2)
        return tfn_ctx_fail(ctx, TFN_EPROTO, "Preprocessing answered without an 'x' [n][64]");
    int64_t n = tfn_tensor_shape(x)[0];
    tfn_value_t *args = tfn_object(a);
    if (digits__set(a, args, "x", x))
        return TFN_ENOMEM;
    tfn_call_options_t opts = {.timeout_ms = st->model_timeout_ms};
    tfn_future_t *pending[DIGITS_KINDS];
    for (int k = 0; k < DIGITS_KINDS; k++)
        pending[k] =
            tfn_call_async(ctx, digits_model_service_names[k], "predict_proba", args, &opts);
    tfn_await_all(pending, DIGITS_KINDS); /* as long as the slowest, or its timeout */
    if (lap(a, timings, "models", t))
        return TFN_ENOMEM;

    /* Stack the answers into [k][n][10]; list who is missing and why. */
    tfn_value_t *stack = tfn_tensor(a, TFN_DTYPE_F32, 3, (int64_t[]){DIGITS_KINDS, n, 10});
    tfn_value_t *names = tfn_list(a), *missing = tfn_list(a);
    if (!stack || !names || !missing)
        return TFN_ENOMEM;
    float *rows = tfn_tensor_data(stack);
    int64_t k_ok = 0;
    /* Each model's own inference time, as it measured it (the rest of "models" is the hops,
     * the encoding and the wait for the slowest). */
    tfn_value_t *compute = timings ? tfn_object(a) : NULL;
    if (timings && digits__set(a, timings, "model_compute", compute))
        return TFN_ENOMEM;
    char why_all[DIGITS_KINDS * 100] = ""; /* "svm: why; mlp: why" */
    for (int k = 0; k < DIGITS_KINDS; k++) {
        const char *name = digits_kind_name(k);
        tfn_value_t *answer = NULL;
        tfn_error_t err;
        int rc = tfn_await(pending[k], &answer, &err);
        const tfn_value_t *proba = tfn_object_get(answer, "probabilities");
        if (rc == 0 && (tfn_tensor_ndim(proba) != 2 || tfn_tensor_shape(proba)[0] != n ||
                        tfn_tensor_shape(proba)[1] != DIGITS_CLASSES ||
                        tfn_tensor_dtype(proba) != TFN_DTYPE_F32))
            rc = tfn_error_set(&err, TFN_EPROTO,
                               "answered something else than [%lld][10] "
                               "float32 probabilities",
                               (long long)n);
        if (rc != 0) {
            tfn_value_t *m = tfn_object(a);
            if (!m || digits__set(a, m, "model", tfn_string(a, name)) ||
                digits__set(a, m, "code", tfn_string(a, tfn_errname(err.code))) ||
                digits__set(a, m, "error", tfn_string(a, err.message)) ||
                tfn_list_append(a, missing, m))
                return TFN_ENOMEM;
            size_t used = strlen(why_all);
            snprintf(why_all + used, sizeof why_all - used, "%s%s: %.80s", used ? "; " : "", name,
                     err.message);
            continue;
        }
        memcpy(rows + k_ok * n * DIGITS_CLASSES, tfn_tensor_data(proba),
               (size_t)n * DIGITS_CLASSES * sizeof(float));
        if (tfn_list_append(a, names, tfn_string(a, name)))
            return TFN_ENOMEM;
        k_ok++;
        if (compute &&
            digits__set(a, compute, name,
                        tfn_float(a, tfn_as_float(tfn_object_get(answer, "compute_ms")))))
            return TFN_ENOMEM;
    }
    if (k_ok == 0)
        return tfn_ctx_fail(ctx, TFN_EDEPENDENCY, "no model answered: %.200s", why_all);
    tfn_value_t *present =
        tfn_tensor_wrap(a, TFN_DTYPE_F32, 3, (int64_t[]){k_ok, n, DIGITS_CLASSES}, rows);

    tfn_value_t *vote_args = tfn_object(a), *voted;
    tfn_error_t err;
    if (digits__set(a, vote_args, "models", names) ||
        digits__set(a, vote_args, "probabilities", present))
        return TFN_ENOMEM;
    if (tfn_call(ctx, "Aggregator", "vote", vote_args, &voted, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    if (lap(a, timings, "aggregate", t))
        return TFN_ENOMEM;

    tfn_value_t *format_args = tfn_object(a);
    if (digits__set(a, format_args, "models", names) ||
        digits__set(a, format_args, "probabilities", present) ||
        digits__set(a, format_args, "ensemble", tfn_object_get(voted, "probabilities")) ||
        digits__set(a, format_args, "missing", missing))
        return TFN_ENOMEM;
    if (tfn_call(ctx, "Postprocessing", "format", format_args, post, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return lap(a, timings, "postprocess", t);
}

static int classify(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    double start = digits__now_ms(), t = start;
    tfn_value_t *timings = tfn_as_bool(tfn_object_get(in, "timings")) ? tfn_object(a) : NULL;

    /* Preprocessing takes only the image fields. */
    tfn_value_t *image = tfn_object(a), *pre, *post;
    if (!image)
        return TFN_ENOMEM;
    for (const char *const *f = (const char *const[]){"pixels", "png", "pgm", NULL}; *f; f++) {
        tfn_value_t *v = tfn_object_get(in, *f);
        if (v && tfn_object_set(a, image, *f, v))
            return TFN_ENOMEM;
    }
    tfn_error_t err;
    if (tfn_call(ctx, "Preprocessing", "preprocess", image, &pre, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    if (lap(a, timings, "preprocess", &t))
        return TFN_ENOMEM;
    int rc = ensemble(ctx, tfn_object_get(pre, "x"), timings, &t, &post);
    if (rc)
        return rc;

    /* One image: its result, flattened, with "missing" beside it. */
    *out = tfn_list_get(tfn_object_get(post, "results"), 0);
    if (!*out)
        return tfn_ctx_fail(ctx, TFN_EPROTO, "Postprocessing returned no result");
    rc = digits__set(a, *out, "missing", tfn_object_get(post, "missing"));
    if (!rc && timings)
        rc = digits__set(a, timings, "total", tfn_float(a, digits__now_ms() - start));
    return rc || !timings ? rc : digits__set(a, *out, "timings_ms", timings);
}

static int classify_batch(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    double start = digits__now_ms(), t = start;
    tfn_value_t *timings = tfn_as_bool(tfn_object_get(in, "timings")) ? tfn_object(a) : NULL;
    tfn_value_t *images = tfn_object(a), *pre;
    if (digits__set(a, images, "images", tfn_object_get(in, "images")))
        return TFN_ENOMEM;
    tfn_error_t err;
    if (tfn_call(ctx, "Preprocessing", "preprocess_batch", images, &pre, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    if (lap(a, timings, "preprocess", &t))
        return TFN_ENOMEM;
    int rc = ensemble(ctx, tfn_object_get(pre, "x"), timings, &t, out);
    if (!rc && timings)
        rc = digits__set(a, timings, "total", tfn_float(a, digits__now_ms() - start));
    return rc || !timings ? rc : digits__set(a, *out, "timings_ms", timings);
}

static const tfn_field_t classify_in[] = {
    {.name = "pixels",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_F32,
     .optional = true,
     .doc = "the 8x8 image as 64 values or 8 rows of 8, each 0..16 (ink high)"},
    {.name = "png",
     .type = TFN_TYPE_BYTES,
     .optional = true,
     .doc = "or a PNG of any size (base64 in JSON): dark on light or light on dark"},
    {.name = "pgm",
     .type = TFN_TYPE_BYTES,
     .optional = true,
     .doc = "or a PGM, P2 or P5, of any size (base64 in JSON)"},
    {.name = "timings",
     .type = TFN_TYPE_BOOL,
     .optional = true,
     .doc = "add \"timings_ms\": milliseconds per stage, as the entry saw them, and each "
            "model's own compute time"},
    {0}};
static const tfn_field_t classify_batch_in[] = {{.name = "images",
                                                 .type = TFN_TYPE_TENSOR,
                                                 .dtype = TFN_DTYPE_F32,
                                                 .ndim = 2,
                                                 .shape = {-1, DIGITS_FEATURES},
                                                 .doc = "n images of 64 values 0..16, row by row"},
                                                {.name = "timings",
                                                 .type = TFN_TYPE_BOOL,
                                                 .optional = true,
                                                 .doc = "add \"timings_ms\" as for classify"},
                                                {0}};
static const tfn_api_t digits_apis[] = {
    {.name = "classify",
     .handler = classify,
     .inputs = classify_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "one image (exactly one of pixels, png, pgm) -> {\"label\", \"confidence\", "
            "\"votes\": each model's label, \"missing\": the models that did not answer and "
            "why}"},
    {.name = "classify_batch",
     .handler = classify_batch,
     .inputs = classify_batch_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "n images -> {\"results\": [{\"label\", \"confidence\", \"votes\"}] x n, "
            "\"missing\"}: one batched call to each model"},
    {0}};
static const tfn_dependency_t digits_deps[] = {{.service = &digits__preprocessing},
                                               {.service = &digits__model_services[DIGITS_XGBOOST]},
                                               {.service = &digits__model_services[DIGITS_LOGREG]},
                                               {.service = &digits__model_services[DIGITS_SVM]},
                                               {.service = &digits__model_services[DIGITS_MLP]},
                                               {.service = &digits__aggregator},
                                               {.service = &digits__postprocessing},
                                               {0}};

const tfn_service_t digits_service = {
    .name = "Digits",
    .doc = "handwritten digits: an ensemble of XGBoost, logistic regression, an SVM and an MLP "
           "trained on the UCI optdigits data",
    .version = "1.0.0",
    .apis = digits_apis,
    .depends = digits_deps,
    .init = entry_init,
    .resources = {.cpu = 0.5, .memory_mb = 256},
    .workers = 1,
    .traffic = {.timeout_ms = 10000, .max_concurrency = 1024},
};
