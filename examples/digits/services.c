/*
 * services.c — the digits ensemble: seven services composed by an eighth (services.h).
 *
 * Each service is its own tfn_service_t with its resources, workers and threads; `serve` runs each
 * in its own process. Values between services are tensors in the binary encoding: the entry
 * never copies pixel data into JSON.
 *
 * Sections: helpers; Preprocessing; the four model services; Aggregator; Postprocessing; the
 * entry, Digits.
 */
#include "services.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "weights.h"

const char *const digits_model_service_names[DIGITS_KINDS] = {"XGBoost", "LogReg", "SVM", "MLP"};

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static double now_ms(void)
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
static tfn_value_t *matrix(tfn_arena_t *a, int64_t rows, int64_t cols)
{
    return tfn_tensor(a, TFN_DTYPE_F32, 2, (int64_t[]){rows, cols});
}

/* Sets key to val in obj; a NULL val (an exhausted arena) makes it fail with TFN_ENOMEM. */
static int set(tfn_arena_t *a, tfn_value_t *obj, const char *key, tfn_value_t *val)
{
    return val ? tfn_object_set(a, obj, key, val) : TFN_ENOMEM;
}

/* ---------------------------------------------------------------------------------------------
 * Preprocessing: one image (pixels, PNG or PGM) or a batch of pixel rows -> x in [0, 1]
 * ------------------------------------------------------------------------------------------- */

/* Checks 64 values 0..16 and writes them divided by 16 (the models' scale) to x. */
static int scale_pixels(tfn_ctx_t *ctx, const char *field, size_t row, const float *pixels,
                        float *x)
{
    for (int i = 0; i < DIGITS_FEATURES; i++) {
        float v = pixels[i];
        if (!(v >= 0 && v <= 16)) /* also NaN */
            return row == SIZE_MAX
                       ? tfn_ctx_fail(ctx, TFN_EINVAL, "'%s'[%d] is %g: pixels must be 0..16",
                                      field, i, (double)v)
                       : tfn_ctx_fail(ctx, TFN_EINVAL, "'%s'[%zu][%d] is %g: pixels must be 0..16",
                                      field, row, i, (double)v);
        x[i] = v / 16;
    }
    return 0;
}

static int preprocess(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    static const char *const fields[] = {"pixels", "png", "pgm"};
    const tfn_value_t *given[3];
    int count = 0, which = -1;
    char names[64] = "";
    for (int i = 0; i < 3; i++)
        if ((given[i] = tfn_object_get(in, fields[i]))) {
            which = i;
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'",
                     count++ ? " and " : "", fields[i]);
        }
    if (count != 1)
        return tfn_ctx_fail(ctx, TFN_EINVAL,
                            "give exactly one of 'pixels' (64 values or 8x8, 0..16), 'png' or "
                            "'pgm' (base64); got %s",
                            count ? names : "none");

    tfn_value_t *x = matrix(a, 1, DIGITS_FEATURES);
    if (!x)
        return TFN_ENOMEM;
    float pixels[DIGITS_FEATURES];
    if (which == 0) {
        const tfn_value_t *p = given[0];
        int ndim = tfn_tensor_ndim(p);
        const int64_t *shape = tfn_tensor_shape(p);
        if (!((ndim == 1 && shape[0] == 64) || (ndim == 2 && shape[0] == 8 && shape[1] == 8)))
            return tfn_ctx_fail(ctx, TFN_EINVAL,
                                "'pixels' must be 64 values or 8 rows of 8 (got %zu values in "
                                "%d dimension%s)",
                                tfn_len(p), ndim, ndim == 1 ? "" : "s");
        memcpy(pixels, tfn_tensor_data(p), sizeof pixels);
    } else {
        size_t len;
        const void *data = tfn_as_bytes(given[which], &len);
        digits_image_t img;
        char err[200];
        int rc = which == 1 ? digits_image_decode_png(data, len, &img, err, sizeof err)
                            : digits_image_decode_pgm(data, len, &img, err, sizeof err);
        if (rc < 0)
            return tfn_ctx_fail(ctx, TFN_EINVAL, "'%s': %s", fields[which], err);
        digits_image_to_pixels(&img, pixels);
        digits_image_free(&img);
    }
    int rc = scale_pixels(ctx, fields[which], SIZE_MAX, pixels, tfn_tensor_data(x));
    if (rc)
        return rc;
    *out = tfn_object(a);
    return set(a, *out, "x", x);
}

static int preprocess_batch(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *images = tfn_object_get(in, "images");
    int64_t n = tfn_tensor_shape(images)[0];
    if (n < 1 || n > DIGITS_MAX_BATCH)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'images' has %lld rows: give 1..%d", (long long)n,
                            DIGITS_MAX_BATCH);
    tfn_value_t *x = matrix(a, n, DIGITS_FEATURES);
    if (!x)
        return TFN_ENOMEM;
    const float *src = tfn_tensor_data(images);
    float *dst = tfn_tensor_data(x);
    for (int64_t i = 0; i < n; i++) {
        int rc = scale_pixels(ctx, "images", (size_t)i, src + i * DIGITS_FEATURES,
                              dst + i * DIGITS_FEATURES);
        if (rc)
            return rc;
    }
    *out = tfn_object(a);
    return set(a, *out, "x", x);
}

static const tfn_field_t preprocess_in[] = {
    {.name = "pixels",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_F32,
     .optional = true,
     .doc = "the 8x8 image as 64 values or 8 rows of 8, row by row, each 0..16 (ink high), as in "
            "the training data"},
    {.name = "png",
     .type = TFN_TYPE_BYTES,
     .optional = true,
     .doc = "a PNG of any size and colour type (base64 in JSON)"},
    {.name = "pgm",
     .type = TFN_TYPE_BYTES,
     .optional = true,
     .doc = "a PGM (P2 or P5) of any size (base64 in JSON)"},
    {0}};
static const tfn_field_t images_in[] = {{.name = "images",
                                         .type = TFN_TYPE_TENSOR,
                                         .dtype = TFN_DTYPE_F32,
                                         .ndim = 2,
                                         .shape = {-1, DIGITS_FEATURES},
                                         .doc = "n images of 64 values 0..16, row by row"},
                                        {0}};
static const tfn_api_t preprocessing_apis[] = {
    {.name = "preprocess",
     .handler = preprocess,
     .inputs = preprocess_in,
     .output = TFN_TYPE_OBJECT,
     .run = TFN_RUN_IN_THREAD,
     .doc = "exactly one of pixels, png, pgm -> {\"x\": float32[1][64] in [0, 1]}; pictures are "
            "made grey, inverted if their background is light, area-averaged to 8x8 and "
            "stretched to 0..16"},
    {.name = "preprocess_batch",
     .handler = preprocess_batch,
     .inputs = images_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "{\"images\": float32[n][64] 0..16} -> {\"x\": [n][64]}"},
    {0}};
static const tfn_service_t preprocessing = {
    .name = "Preprocessing",
    .doc = "validates and normalises digit images",
    .apis = preprocessing_apis,
    .resources = {.cpu = 0.5, .memory_mb = 256},
    .workers = 1,
    .threads = 2,
    .traffic = {.timeout_ms = 5000, .max_concurrency = 256, .max_body_bytes = 16u << 20},
};

/* ---------------------------------------------------------------------------------------------
 * XGBoost, LogReg, SVM, MLP: predict_proba {"x": float32[n][64]} -> probabilities [n][10]
 * ------------------------------------------------------------------------------------------- */

typedef enum fault { FAULT_NONE, FAULT_FAIL, FAULT_SLEEP, FAULT_INIT } fault_t;

typedef struct model_state {
    digits_model_t *model;
    fault_t fault;
    unsigned sleep_ms;
    char fault_text[64]; /* the DIGITS_FAULT item, for messages */
} model_state_t;

/* Finds this kind's item in DIGITS_FAULT ("svm:fail,mlp:sleep=500"). Returns 0 (*fault set, maybe
 * FAULT_NONE) or -1 with a message for a malformed variable. */
static int parse_fault(digits_kind_t kind, model_state_t *st, char *err, size_t errlen)
{
    const char *env = getenv("DIGITS_FAULT");
    st->fault = FAULT_NONE;
    for (const char *p = env; p && *p;) {
        const char *end = strchr(p, ','), *colon;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (len >= sizeof item || !(colon = memchr(p, ':', len))) {
            snprintf(err, errlen,
                     "DIGITS_FAULT: '%.*s' is not MODEL:fail, MODEL:sleep=MS or "
                     "MODEL:init",
                     (int)(len < 60 ? len : 60), p);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = 0;
        item[colon - p] = 0;
        const char *what = item + (colon - p) + 1;
        digits_kind_t k;
        char *num_end;
        unsigned long ms = 0;
        fault_t f = !strcmp(what, "fail")   ? FAULT_FAIL
                    : !strcmp(what, "init") ? FAULT_INIT
                    : !strncmp(what, "sleep=", 6) && what[6] >= '0' && what[6] <= '9' &&
                            (errno = 0, ms = strtoul(what + 6, &num_end, 10), !*num_end) &&
                            errno == 0 && ms <= 600000
                        ? FAULT_SLEEP
                        : FAULT_NONE;
        if (digits_kind_from_name(item, &k) < 0 || f == FAULT_NONE) {
            snprintf(err, errlen,
                     "DIGITS_FAULT: '%.*s' is not MODEL:fail, MODEL:sleep=MS or "
                     "MODEL:init (MODEL one of xgboost, logreg, svm, mlp)",
                     (int)(len < 60 ? len : 60), p);
            return -1;
        }
        if (k == kind) {
            st->fault = f;
            st->sleep_ms = (unsigned)ms;
            snprintf(st->fault_text, sizeof st->fault_text, "%.*s", (int)len, p);
        }
        p = end ? end + 1 : p + len;
    }
    return 0;
}

static int model_init(tfn_worker_t *worker, void **state, digits_kind_t kind)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], err[TFN_ERROR_MESSAGE_MAX];
    model_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return tfn_worker_fail(worker, TFN_ENOMEM, "out of memory");
    if (parse_fault(kind, st, err, sizeof err) < 0) {
        free(st);
        return tfn_worker_fail(worker, TFN_EINIT, "%s", err);
    }
    if (st->fault == FAULT_INIT) {
        int rc =
            tfn_worker_fail(worker, TFN_EINIT, "fault injected (DIGITS_FAULT=%s)", st->fault_text);
        free(st);
        return rc;
    }
    snprintf(path, sizeof path, "%s/%s", digits_models_dir(dir, sizeof dir),
             digits_kind_filename(kind));
    if (!(st->model = digits_model_load(kind, path, err, sizeof err))) {
        free(st);
        /* err begins with the path: "…/svm.model: No such file or directory" */
        return tfn_worker_fail(worker, TFN_EINIT, "cannot load the %s model: %s",
                               digits_kind_name(kind), err);
    }
    *state = st;
    return 0;
}

static void model_shutdown(tfn_worker_t *worker, void *state)
{
    (void)worker;
    model_state_t *st = state;
    if (st)
        digits_model_free(st->model);
    free(st);
}

static int init_xgboost(tfn_worker_t *w, void **s) { return model_init(w, s, DIGITS_XGBOOST); }
static int init_logreg(tfn_worker_t *w, void **s) { return model_init(w, s, DIGITS_LOGREG); }
static int init_svm(tfn_worker_t *w, void **s) { return model_init(w, s, DIGITS_SVM); }
static int init_mlp(tfn_worker_t *w, void **s) { return model_init(w, s, DIGITS_MLP); }

/* Runs on the service's handler threads (TFN_RUN_IN_THREAD): inference would stall the loop. */
static int predict_proba(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    model_state_t *st = tfn_ctx_state(ctx);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *x = tfn_object_get(in, "x");
    int64_t n = tfn_tensor_shape(x)[0];
    if (n > DIGITS_MAX_BATCH)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'x' has %lld rows, more than %d", (long long)n,
                            DIGITS_MAX_BATCH);
    if (st->fault == FAULT_FAIL)
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "fault injected (DIGITS_FAULT=%s)", st->fault_text);
    if (st->fault == FAULT_SLEEP) { /* a slow model that gives up at the request's deadline */
        for (double until = now_ms() + st->sleep_ms; now_ms() < until;) {
            if (tfn_ctx_remaining_ms(ctx) <= 0)
                return tfn_ctx_fail(ctx, TFN_ETIMEOUT,
                                    "fault injected (DIGITS_FAULT=%s): gave "
                                    "up at the deadline",
                                    st->fault_text);
            usleep(2000);
        }
    }

    tfn_value_t *proba = matrix(a, n, DIGITS_CLASSES);
    if (!proba)
        return TFN_ENOMEM;
    char err[256];
    double t0 = now_ms();
    if (digits_model_predict_proba(st->model, tfn_tensor_data(x), (size_t)n, tfn_tensor_data(proba),
                                   err, sizeof err) < 0)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "%s", err);
    double ms = now_ms() - t0;
    *out = tfn_object(a);
    int rc = set(a, *out, "probabilities", proba);
    return rc ? rc : set(a, *out, "compute_ms", tfn_float(a, ms));
}

static const tfn_field_t x_in[] = {{.name = "x",
                                    .type = TFN_TYPE_TENSOR,
                                    .dtype = TFN_DTYPE_F32,
                                    .ndim = 2,
                                    .shape = {-1, DIGITS_FEATURES},
                                    .doc = "n images of 64 values in [0, 1] (pixels / 16)"},
                                   {0}};
static const tfn_api_t model_apis[] = {
    {.name = "predict_proba",
     .handler = predict_proba,
     .inputs = x_in,
     .output = TFN_TYPE_OBJECT,
     .run = TFN_RUN_IN_THREAD,
     /* `serve --batch N` may merge concurrent requests (bench/batch). */
     .batch = {.stackable = true},
     .doc = "{\"x\": float32[n][64]} -> {\"probabilities\": float32[n][10], \"compute_ms\"}"},
    {0}};

/* Resources per model, from examples/digits/README.md's measurements: the SVM is the slowest
 * (about 60-90 us a row), XGBoost next; liblinear and the MLP are cheap. */
static const tfn_service_t model_services[DIGITS_KINDS] = {
    {.name = "XGBoost",
     .doc = "gradient-boosted trees (XGBoost), xgboost.ubj",
     .apis = model_apis,
     .init = init_xgboost,
     .shutdown = model_shutdown,
     .resources = {.cpu = 1.0, .memory_mb = 512},
     .workers = 1,
     .threads = 2,
     .traffic = {.timeout_ms = 5000, .max_concurrency = 256}},
    {.name = "LogReg",
     .doc = "logistic regression (liblinear), logreg.model",
     .apis = model_apis,
     .init = init_logreg,
     .shutdown = model_shutdown,
     .resources = {.cpu = 0.25, .memory_mb = 128},
     .workers = 1,
     .threads = 2,
     .traffic = {.timeout_ms = 5000, .max_concurrency = 256}},
    {.name = "SVM",
     .doc = "RBF support-vector machine (libsvm), svm.model",
     .apis = model_apis,
     .init = init_svm,
     .shutdown = model_shutdown,
     .resources = {.cpu = 1.0, .memory_mb = 256},
     .workers = 1,
     .threads = 2,
     .traffic = {.timeout_ms = 5000, .max_concurrency = 256}},
    {.name = "MLP",
     .doc = "64-128-10 perceptron (OpenBLAS), mlp.bin",
     .apis = model_apis,
     .init = init_mlp,
     .shutdown = model_shutdown,
     .resources = {.cpu = 0.5, .memory_mb = 256},
     .workers = 1,
     .threads = 2,
     .traffic = {.timeout_ms = 5000, .max_concurrency = 256}},
};

/* ---------------------------------------------------------------------------------------------
 * Aggregator: weighted soft vote of the models that answered
 * ------------------------------------------------------------------------------------------- */

typedef struct aggregator_state {
    double weights[DIGITS_KINDS];
} aggregator_state_t;

/* Weights from DIGITS_WEIGHTS, else from the file `weights` beside the models, else all 1. */
static int aggregator_init(tfn_worker_t *worker, void **state)
{
    aggregator_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return tfn_worker_fail(worker, TFN_ENOMEM, "out of memory");
    for (int k = 0; k < DIGITS_KINDS; k++)
        st->weights[k] = 1;
    char err[200], dir[PATH_MAX], path[PATH_MAX + 16], text[256] = "";
    const char *env = getenv("DIGITS_WEIGHTS"), *source = "DIGITS_WEIGHTS";
    if (env) {
        snprintf(text, sizeof text, "%s", env);
    } else {
        snprintf(path, sizeof path, "%s/weights", digits_models_dir(dir, sizeof dir));
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(text, sizeof text, f))
                text[0] = 0;
            fclose(f);
            text[strcspn(text, "\r\n")] = 0;
            source = path;
        } else if (errno != ENOENT) {
            free(st);
            return tfn_worker_fail(worker, TFN_EINIT, "%s: %s", path, strerror(errno));
        } else {
            source = NULL;
        }
    }
    if (source && digits_weights_parse(text, st->weights, err, sizeof err) < 0) {
        free(st);
        return tfn_worker_fail(worker, TFN_EINIT, "%s: %s", source, err);
    }
    *state = st;
    return 0;
}

static void aggregator_shutdown(tfn_worker_t *worker, void *state)
{
    (void)worker;
    free(state);
}

/* Reads the list of model names that goes with a [k][n][10] stack; their kinds into kinds[].
 * Returns k, or a negative code after tfn_ctx_fail. */
static int read_models(tfn_ctx_t *ctx, const tfn_value_t *in, const tfn_value_t *stack,
                       digits_kind_t kinds[DIGITS_KINDS])
{
    const tfn_value_t *names = tfn_object_get(in, "models");
    size_t k = tfn_len(names);
    if (k < 1 || k > DIGITS_KINDS || (int64_t)k != tfn_tensor_shape(stack)[0])
        return tfn_ctx_fail(ctx, TFN_EINVAL,
                            "'models' has %zu names and 'probabilities' %lld rows: want the same "
                            "number, 1..%d",
                            k, (long long)tfn_tensor_shape(stack)[0], DIGITS_KINDS);
    for (size_t i = 0; i < k; i++) {
        const char *name = tfn_as_string(tfn_list_get(names, i), NULL);
        if (!name || digits_kind_from_name(name, &kinds[i]) < 0)
            return tfn_ctx_fail(ctx, TFN_EINVAL, "'models'[%zu] is not a model name", i);
        for (size_t j = 0; j < i; j++)
            if (kinds[j] == kinds[i])
                return tfn_ctx_fail(ctx, TFN_EINVAL, "model '%s' given twice", name);
    }
    return (int)k;
}

static int vote(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const aggregator_state_t *st = tfn_ctx_state(ctx);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *stack = tfn_object_get(in, "probabilities");
    digits_kind_t kinds[DIGITS_KINDS];
    int k = read_models(ctx, in, stack, kinds);
    if (k < 0)
        return k;
    int64_t n = tfn_tensor_shape(stack)[1];
    /* The weights of the models present, normalised; if they are all 0 (only zero-weight models
     * answered), an equal vote of those present is better than no answer. */
    double w[DIGITS_KINDS], total = 0;
    for (int i = 0; i < k; i++)
        total += w[i] = st->weights[kinds[i]];
    for (int i = 0; i < k; i++)
        w[i] = total > 0 ? w[i] / total : 1.0 / k;

    tfn_value_t *result = matrix(a, n, DIGITS_CLASSES), *used = tfn_object(a);
    if (!result || !used)
        return TFN_ENOMEM;
    const float *p = tfn_tensor_data(stack);
    float *q = tfn_tensor_data(result);
    for (int64_t r = 0; r < n; r++)
        for (int c = 0; c < DIGITS_CLASSES; c++) {
            double sum = 0;
            for (int i = 0; i < k; i++)
                sum += w[i] * p[(i * n + r) * DIGITS_CLASSES + c];
            q[r * DIGITS_CLASSES + c] = (float)sum;
        }
    for (int i = 0; i < k; i++)
        if (set(a, used, digits_kind_name(kinds[i]), tfn_float(a, w[i])))
            return TFN_ENOMEM;
    *out = tfn_object(a);
    int rc = set(a, *out, "probabilities", result);
    return rc ? rc : set(a, *out, "weights", used);
}

static const tfn_field_t vote_in[] = {
    {.name = "models", .type = TFN_TYPE_LIST, .doc = "the names of the k models that answered"},
    {.name = "probabilities",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_F32,
     .ndim = 3,
     .shape = {-1, -1, DIGITS_CLASSES},
     .doc = "their probabilities, [k][n][10]"},
    {0}};
static const tfn_api_t aggregator_apis[] = {
    {.name = "vote",
     .handler = vote,
     .inputs = vote_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "weighted mean of the models' probabilities -> {\"probabilities\": [n][10], "
            "\"weights\": the normalised weights used}"},
    {0}};
static const tfn_service_t aggregator = {
    .name = "Aggregator",
    .doc = "soft vote with weights from DIGITS_WEIGHTS (or the trained weights file)",
    .apis = aggregator_apis,
    .init = aggregator_init,
    .shutdown = aggregator_shutdown,
    .resources = {.cpu = 0.25, .memory_mb = 128},
    .workers = 1,
    .traffic = {.timeout_ms = 5000},
};

/* ---------------------------------------------------------------------------------------------
 * Postprocessing: probabilities -> label, confidence and each model's vote
 * ------------------------------------------------------------------------------------------- */

static int format(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *stack = tfn_object_get(in, "probabilities");
    const tfn_value_t *ensemble = tfn_object_get(in, "ensemble");
    digits_kind_t kinds[DIGITS_KINDS];
    int k = read_models(ctx, in, stack, kinds);
    if (k < 0)
        return k;
    int64_t n = tfn_tensor_shape(ensemble)[0];
    if (tfn_tensor_shape(stack)[1] != n)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'ensemble' has %lld rows, 'probabilities' %lld",
                            (long long)n, (long long)tfn_tensor_shape(stack)[1]);
    const float *p = tfn_tensor_data(stack), *e = tfn_tensor_data(ensemble);
    tfn_value_t *results = tfn_list(a);
    if (!results)
        return TFN_ENOMEM;
    for (int64_t r = 0; r < n; r++) {
        int label = digits_argmax(e + r * DIGITS_CLASSES);
        tfn_value_t *item = tfn_object(a), *votes = tfn_object(a);
        if (!item || !votes || set(a, item, "label", tfn_int(a, label)) ||
            set(a, item, "confidence", tfn_float(a, e[r * DIGITS_CLASSES + label])))
            return TFN_ENOMEM;
        for (int i = 0; i < k; i++)
            if (set(a, votes, digits_kind_name(kinds[i]),
                    tfn_int(a, digits_argmax(p + (i * n + r) * DIGITS_CLASSES))))
                return TFN_ENOMEM;
        if (set(a, item, "votes", votes) || tfn_list_append(a, results, item))
            return TFN_ENOMEM;
    }
    const tfn_value_t *missing = tfn_object_get(in, "missing");
    *out = tfn_object(a);
    int rc = set(a, *out, "results", results);
    return rc ? rc : set(a, *out, "missing", missing ? (tfn_value_t *)missing : tfn_list(a));
}

static const tfn_field_t format_in[] = {
    {.name = "models", .type = TFN_TYPE_LIST, .doc = "the names of the k models that answered"},
    {.name = "probabilities",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_F32,
     .ndim = 3,
     .shape = {-1, -1, DIGITS_CLASSES},
     .doc = "their probabilities, [k][n][10]"},
    {.name = "ensemble",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_F32,
     .ndim = 2,
     .shape = {-1, DIGITS_CLASSES},
     .doc = "the Aggregator's probabilities, [n][10]"},
    {.name = "missing",
     .type = TFN_TYPE_LIST,
     .optional = true,
     .doc = "the models that did not answer, passed through"},
    {0}};
static const tfn_api_t postprocessing_apis[] = {
    {.name = "format",
     .handler = format,
     .inputs = format_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "-> {\"results\": [{\"label\", \"confidence\", \"votes\"}] x n, \"missing\"}"},
    {0}};
static const tfn_service_t postprocessing = {
    .name = "Postprocessing",
    .doc = "labels, confidences and votes",
    .apis = postprocessing_apis,
    .resources = {.cpu = 0.25, .memory_mb = 128},
    .workers = 1,
    .traffic = {.timeout_ms = 5000},
};

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
    double now = now_ms();
    int rc = timings ? set(a, timings, key, tfn_float(a, now - *t)) : 0;
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
    if (set(a, args, "x", x))
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
    if (timings && set(a, timings, "model_compute", compute))
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
            if (!m || set(a, m, "model", tfn_string(a, name)) ||
                set(a, m, "code", tfn_string(a, tfn_errname(err.code))) ||
                set(a, m, "error", tfn_string(a, err.message)) || tfn_list_append(a, missing, m))
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
            set(a, compute, name, tfn_float(a, tfn_as_float(tfn_object_get(answer, "compute_ms")))))
            return TFN_ENOMEM;
    }
    if (k_ok == 0)
        return tfn_ctx_fail(ctx, TFN_EDEPENDENCY, "no model answered: %.200s", why_all);
    tfn_value_t *present =
        tfn_tensor_wrap(a, TFN_DTYPE_F32, 3, (int64_t[]){k_ok, n, DIGITS_CLASSES}, rows);

    tfn_value_t *vote_args = tfn_object(a), *voted;
    tfn_error_t err;
    if (set(a, vote_args, "models", names) || set(a, vote_args, "probabilities", present))
        return TFN_ENOMEM;
    if (tfn_call(ctx, "Aggregator", "vote", vote_args, &voted, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    if (lap(a, timings, "aggregate", t))
        return TFN_ENOMEM;

    tfn_value_t *format_args = tfn_object(a);
    if (set(a, format_args, "models", names) || set(a, format_args, "probabilities", present) ||
        set(a, format_args, "ensemble", tfn_object_get(voted, "probabilities")) ||
        set(a, format_args, "missing", missing))
        return TFN_ENOMEM;
    if (tfn_call(ctx, "Postprocessing", "format", format_args, post, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return lap(a, timings, "postprocess", t);
}

static int classify(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    double start = now_ms(), t = start;
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
    rc = set(a, *out, "missing", tfn_object_get(post, "missing"));
    if (!rc && timings)
        rc = set(a, timings, "total", tfn_float(a, now_ms() - start));
    return rc || !timings ? rc : set(a, *out, "timings_ms", timings);
}

static int classify_batch(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    double start = now_ms(), t = start;
    tfn_value_t *timings = tfn_as_bool(tfn_object_get(in, "timings")) ? tfn_object(a) : NULL;
    tfn_value_t *images = tfn_object(a), *pre;
    if (set(a, images, "images", tfn_object_get(in, "images")))
        return TFN_ENOMEM;
    tfn_error_t err;
    if (tfn_call(ctx, "Preprocessing", "preprocess_batch", images, &pre, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    if (lap(a, timings, "preprocess", &t))
        return TFN_ENOMEM;
    int rc = ensemble(ctx, tfn_object_get(pre, "x"), timings, &t, out);
    if (!rc && timings)
        rc = set(a, timings, "total", tfn_float(a, now_ms() - start));
    return rc || !timings ? rc : set(a, *out, "timings_ms", timings);
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
static const tfn_dependency_t digits_deps[] = {{.service = &preprocessing},
                                               {.service = &model_services[DIGITS_XGBOOST]},
                                               {.service = &model_services[DIGITS_LOGREG]},
                                               {.service = &model_services[DIGITS_SVM]},
                                               {.service = &model_services[DIGITS_MLP]},
                                               {.service = &aggregator},
                                               {.service = &postprocessing},
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
