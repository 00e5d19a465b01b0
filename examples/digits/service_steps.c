/*
 * service_steps.c — the services of the digits ensemble that run no model (services_internal.h):
 * Preprocessing (step 1: validate, decode, scale), Aggregator (step 3: the weighted soft vote) and
 * Postprocessing (step 4: labels, confidences, votes).
 */
#include "services_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "weights.h"

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

    tfn_value_t *x = digits__matrix(a, 1, DIGITS_FEATURES);
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
    return digits__set(a, *out, "x", x);
}

static int preprocess_batch(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *images = tfn_object_get(in, "images");
    int64_t n = tfn_tensor_shape(images)[0];
    if (n < 1 || n > DIGITS_MAX_BATCH)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'images' has %lld rows: give 1..%d", (long long)n,
                            DIGITS_MAX_BATCH);
    tfn_value_t *x = digits__matrix(a, n, DIGITS_FEATURES);
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
    return digits__set(a, *out, "x", x);
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
const tfn_service_t digits__preprocessing = {
    .name = "Preprocessing",
    .doc = "validates and normalises digit images",
    .apis = preprocessing_apis,
    .resources = {.cpu = 0.5, .memory_mb = 256},
    .workers = 1,
    .threads = 2,
    .traffic = {.timeout_ms = 5000, .max_concurrency = 256, .max_body_bytes = 16u << 20},
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

    tfn_value_t *result = digits__matrix(a, n, DIGITS_CLASSES), *used = tfn_object(a);
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
        if (digits__set(a, used, digits_kind_name(kinds[i]), tfn_float(a, w[i])))
            return TFN_ENOMEM;
    *out = tfn_object(a);
    int rc = digits__set(a, *out, "probabilities", result);
    return rc ? rc : digits__set(a, *out, "weights", used);
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
const tfn_service_t digits__aggregator = {
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
        if (!item || !votes || digits__set(a, item, "label", tfn_int(a, label)) ||
            digits__set(a, item, "confidence", tfn_float(a, e[r * DIGITS_CLASSES + label])))
            return TFN_ENOMEM;
        for (int i = 0; i < k; i++)
            if (digits__set(a, votes, digits_kind_name(kinds[i]),
                            tfn_int(a, digits_argmax(p + (i * n + r) * DIGITS_CLASSES))))
                return TFN_ENOMEM;
        if (digits__set(a, item, "votes", votes) || tfn_list_append(a, results, item))
            return TFN_ENOMEM;
    }
    const tfn_value_t *missing = tfn_object_get(in, "missing");
    *out = tfn_object(a);
    int rc = digits__set(a, *out, "results", results);
    return rc ? rc
              : digits__set(a, *out, "missing", missing ? (tfn_value_t *)missing : tfn_list(a));
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
const tfn_service_t digits__postprocessing = {
    .name = "Postprocessing",
    .doc = "labels, confidences and votes",
    .apis = postprocessing_apis,
    .resources = {.cpu = 0.25, .memory_mb = 128},
    .workers = 1,
    .traffic = {.timeout_ms = 5000},
};
