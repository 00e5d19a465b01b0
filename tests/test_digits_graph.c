/*
 * test_digits_graph.c — the digits ensemble (examples/digits/services.c and the service files
 * beside it) in a test graph, with the real trained models: classify and classify_batch; a failing,
 * a slow and an absent model are left out and named in "missing" (test doubles via
 * tfn_test_replace, and DIGITS_FAULT); bad input is refused with a 400; a missing model file stops
 * the graph's start with a message naming it. Also the image decoders (PNG via libpng, PGM) and the
 * weights parser on their own.
 *
 * The models and the held-out rows come from $(BUILD)/digits (built by digits.mk before this
 * program): DIGITS_MODELS, else ../digits/models beside this program; the rows from test.csv
 * beside that folder.
 */
#include <limits.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "image.h"
#include "services.h"
#include "weights.h"

#define NROWS 359

static tfn_arena_t *arena;
static float rows[NROWS][DIGITS_FEATURES];
static int labels[NROWS];
static int nrows;

/* ---- helpers ------------------------------------------------------------------------------- */

static int load_rows(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/../test.csv", digits_models_dir(dir, sizeof dir));
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open (digits.mk writes it when it trains)\n", path);
        return -1;
    }
    while (nrows < NROWS) {
        int v, ok = 1;
        for (int j = 0; j < DIGITS_FEATURES && ok; j++)
            ok = fscanf(f, "%d,", &v) == 1 && (rows[nrows][j] = (float)v, 1);
        if (!ok || fscanf(f, "%d", &labels[nrows]) != 1)
            break;
        nrows++;
    }
    fclose(f);
    return nrows == NROWS ? 0 : -1;
}

static tfn_value_t *pixels_input(const float *row, int ndim)
{
    tfn_value_t *in = tfn_object(arena);
    int64_t shape[2] = {ndim == 1 ? 64 : 8, 8};
    tfn_value_t *t = tfn_tensor(arena, TFN_DTYPE_F32, ndim, shape);
    memcpy(tfn_tensor_data(t), row, 64 * sizeof(float));
    tfn_object_set(arena, in, "pixels", t);
    return in;
}

static tfn_value_t *batch_input(int first, int n)
{
    tfn_value_t *in = tfn_object(arena);
    tfn_value_t *t = tfn_tensor(arena, TFN_DTYPE_F32, 2, (int64_t[]){n, 64});
    memcpy(tfn_tensor_data(t), rows[first], (size_t)n * 64 * sizeof(float));
    tfn_object_set(arena, in, "images", t);
    return in;
}

static int label_of(const tfn_value_t *out)
{
    tfn_value_t *label = tfn_object_get(out, "label");
    return tfn_typeof(label) == TFN_TYPE_INT ? (int)tfn_as_int(label) : -1;
}

/* The "missing" entry of `model`, or NULL. */
static const tfn_value_t *missing_entry(const tfn_value_t *out, const char *model)
{
    const tfn_value_t *missing = tfn_object_get(out, "missing");
    for (size_t i = 0; i < tfn_len(missing); i++) {
        const tfn_value_t *m = tfn_list_get(missing, i);
        const char *name = tfn_as_string(tfn_object_get(m, "model"), NULL);
        if (name && strcmp(name, model) == 0)
            return m;
    }
    return NULL;
}

/* An 8-bit grey picture of a data row: each pixel scale x scale, dark ink on white paper. */
static unsigned char *paper_picture(const float *row, int scale)
{
    int side = 8 * scale;
    unsigned char *img = malloc((size_t)side * side);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            img[y * side + x] =
                (unsigned char)lroundf(255 - row[(y / scale) * 8 + x / scale] * 255 / 16);
    return img;
}

static void *png_of(const unsigned char *grey, int side, size_t *len)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = png.height = (png_uint_32)side;
    png.format = PNG_FORMAT_GRAY;
    if (!png_image_write_get_memory_size(png, *len, 0, grey, 0, NULL))
        return NULL;
    void *buf = malloc(*len);
    if (!png_image_write_to_memory(&png, buf, len, 0, grey, 0, NULL)) {
        free(buf);
        return NULL;
    }
    return buf;
}

static tfn_value_t *bytes_input(const char *field, const void *data, size_t len)
{
    tfn_value_t *in = tfn_object(arena);
    tfn_object_set(arena, in, field, tfn_bytes(arena, data, len));
    return in;
}

/* ---- the whole graph ----------------------------------------------------------------------- */

static void test_classify_one(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&digits_service, &err);
    tfn_value_t *out;
    int right = 0;
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_INT(
            tfn_test_call(t, "classify", pixels_input(rows[i], i % 2 ? 1 : 2), arena, &out, &err),
            0);
        right += label_of(out) == labels[i];
        tfn_value_t *votes = tfn_object_get(out, "votes");
        CHECK_EQ_INT(tfn_len(votes), 4);
        CHECK(tfn_typeof(tfn_object_get(votes, "svm")) == TFN_TYPE_INT);
        CHECK_EQ_INT(tfn_len(tfn_object_get(out, "missing")), 0);
        double confidence = tfn_as_float(tfn_object_get(out, "confidence"));
        CHECK(confidence > 0.1 && confidence <= 1.0 + 1e-6);
        CHECK(tfn_object_get(out, "timings_ms") == NULL);
    }
    CHECK(right >= 7);

    /* With timings: every stage is there. */
    tfn_value_t *in = pixels_input(rows[0], 1);
    tfn_object_set(arena, in, "timings", tfn_bool(arena, true));
    CHECK_EQ_INT(tfn_test_call(t, "classify", in, arena, &out, &err), 0);
    tfn_value_t *timings = tfn_object_get(out, "timings_ms");
    for (const char *const *k = (const char *const[]){"preprocess", "models", "aggregate",
                                                      "postprocess", "total", NULL};
         *k; k++)
        CHECK(tfn_as_float(tfn_object_get(timings, *k)) > 0);
    CHECK_EQ_INT(tfn_len(tfn_object_get(timings, "model_compute")), 4);
    tfn_test_free(t);
}

static void test_classify_batch_accuracy(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&digits_service, &err);
    int right = 0, right_model[DIGITS_KINDS] = {0};
    for (int first = 0; first < nrows; first += 128) {
        int n = nrows - first < 128 ? nrows - first : 128;
        tfn_value_t *out;
        CHECK_EQ_INT(tfn_test_call(t, "classify_batch", batch_input(first, n), arena, &out, &err),
                     0);
        tfn_value_t *results = tfn_object_get(out, "results");
        CHECK_EQ_INT(tfn_len(results), n);
        CHECK_EQ_INT(tfn_len(tfn_object_get(out, "missing")), 0);
        for (int i = 0; i < n && i < (int)tfn_len(results); i++) {
            const tfn_value_t *r = tfn_list_get(results, (size_t)i);
            right += label_of(r) == labels[first + i];
            for (int k = 0; k < DIGITS_KINDS; k++)
                right_model[k] +=
                    tfn_as_int(tfn_object_get(tfn_object_get(r, "votes"), digits_kind_name(k))) ==
                    labels[first + i];
        }
    }
    int best = 0;
    for (int k = 0; k < DIGITS_KINDS; k++)
        best = right_model[k] > best ? right_model[k] : best;
    printf("  ensemble %d/%d, best single model %d/%d\n", right, nrows, best, nrows);
    CHECK(right >= best);
    CHECK(right >= 0.96 * nrows);
    tfn_test_free(t);
}

/* ---- degradation --------------------------------------------------------------------------- */

static int failing_predict(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in, (void)out;
    return tfn_ctx_fail(ctx, TFN_EHANDLER, "out of GPU memory");
}

static int slow_predict(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in, (void)out;
    usleep(400 * 1000); /* past DIGITS_MODEL_TIMEOUT_MS=100 */
    return tfn_ctx_fail(ctx, TFN_EHANDLER, "too late anyway");
}

static const tfn_field_t x_in[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {-1, 64}},
    {0}};
static const tfn_api_t failing_apis[] = {
    {.name = "predict_proba", .handler = failing_predict, .inputs = x_in}, {0}};
static const tfn_api_t slow_apis[] = {
    {.name = "predict_proba", .handler = slow_predict, .inputs = x_in, .run = TFN_RUN_IN_THREAD},
    {0}};
static const tfn_service_t failing_svm = {.name = "SVM", .apis = failing_apis};
static const tfn_service_t slow_mlp = {.name = "MLP", .apis = slow_apis};

static void test_failed_model_is_left_out(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&digits_service, &err);
    CHECK_EQ_INT(tfn_test_replace(t, "SVM", &failing_svm, &err), 0);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", pixels_input(rows[0], 1), arena, &out, &err), 0);
    CHECK_EQ_INT(label_of(out), labels[0]);
    CHECK(tfn_object_get(tfn_object_get(out, "votes"), "svm") == NULL);
    CHECK_EQ_INT(tfn_len(tfn_object_get(out, "votes")), 3);
    CHECK_EQ_INT(tfn_len(tfn_object_get(out, "missing")), 1);
    const tfn_value_t *m = missing_entry(out, "svm");
    CHECK(m != NULL);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(m, "code"), NULL), "EHANDLER");
    const char *why = tfn_as_string(tfn_object_get(m, "error"), NULL);
    CHECK(why && strstr(why, "out of GPU memory"));

    /* The batch API degrades the same way. */
    CHECK_EQ_INT(tfn_test_call(t, "classify_batch", batch_input(0, 16), arena, &out, &err), 0);
    CHECK_EQ_INT(tfn_len(tfn_object_get(out, "results")), 16);
    CHECK(missing_entry(out, "svm") != NULL);
    tfn_test_free(t);
}

static void test_slow_model_times_out_and_is_left_out(void)
{
    setenv("DIGITS_MODEL_TIMEOUT_MS", "100", 1);
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&digits_service, &err);
    CHECK_EQ_INT(tfn_test_replace(t, "MLP", &slow_mlp, &err), 0);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", pixels_input(rows[1], 1), arena, &out, &err), 0);
    CHECK_EQ_INT(label_of(out), labels[1]);
    const tfn_value_t *m = missing_entry(out, "mlp");
    CHECK(m != NULL);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(m, "code"), NULL), "ETIMEOUT");
    CHECK_EQ_INT(tfn_len(tfn_object_get(out, "votes")), 3);
    tfn_test_free(t);
    unsetenv("DIGITS_MODEL_TIMEOUT_MS");
}

static void test_fault_injection_by_environment(void)
{
    setenv("DIGITS_FAULT", "logreg:fail,xgboost:fail", 1);
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&digits_service, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", pixels_input(rows[2], 1), arena, &out, &err), 0);
    CHECK_EQ_INT(label_of(out), labels[2]);
    CHECK(missing_entry(out, "logreg") && missing_entry(out, "xgboost"));
    const char *why = tfn_as_string(tfn_object_get(missing_entry(out, "logreg"), "error"), NULL);
    CHECK(why && strstr(why, "DIGITS_FAULT=logreg:fail"));
    CHECK_EQ_INT(tfn_len(tfn_object_get(out, "votes")), 2);
    tfn_test_free(t);

    /* A malformed variable stops the start, naming it. */
    setenv("DIGITS_FAULT", "svm:explode", 1);
    t = tfn_test_new(&digits_service, &err);
    CHECK_EQ_INT(tfn_test_call(t, "classify", pixels_input(rows[2], 1), arena, &out, &err),
                 TFN_EINIT);
    CHECK(strstr(err.message, "DIGITS_FAULT") != NULL);
    tfn_test_free(t);
    unsetenv("DIGITS_FAULT");
}

static const tfn_service_t failing_models[DIGITS_KINDS] = {
    {.name = "XGBoost", .apis = failing_apis},
    {.name = "LogReg", .apis = failing_apis},
    {.name = "SVM", .apis = failing_apis},
    {.name = "MLP", .apis = failing_apis}};

static void test_no_model_answering_fails(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&digits_service, &err);
    for (int k = 0; k < DIGITS_KINDS; k++)
        CHECK_EQ_INT(tfn_test_replace(t, digits_model_service_names[k], &failing_models[k], &err),
                     0);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", pixels_input(rows[0], 1), arena, &out, &err),
                 TFN_EDEPENDENCY);
    CHECK_EQ_INT(err.http_status, 502);
    CHECK(strstr(err.message, "no model answered") && strstr(err.message, "svm"));
    tfn_test_free(t);
}

/* ---- start-up failures --------------------------------------------------------------------- */

static void test_missing_model_file_fails_the_start(void)
{
    char dir[PATH_MAX], tmp[] = "/tmp/digits-graph-XXXXXX";
    digits_models_dir(dir, sizeof dir);
    CHECK(mkdtemp(tmp) != NULL);
    /* Every model but the SVM's. */
    for (int k = 0; k < DIGITS_KINDS; k++) {
        if (k == DIGITS_SVM)
            continue;
        char src[PATH_MAX + 32], dst[PATH_MAX + 32];
        snprintf(src, sizeof src, "%s/%s", dir, digits_kind_filename(k));
        snprintf(dst, sizeof dst, "%s/%s", tmp, digits_kind_filename(k));
        char *abs = realpath(src, NULL);
        CHECK(abs && symlink(abs, dst) == 0);
        free(abs);
    }
    setenv("DIGITS_MODELS", tmp, 1);
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&digits_service, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", pixels_input(rows[0], 1), arena, &out, &err),
                 TFN_EINIT);
    CHECK(strstr(err.message, "svm.model") != NULL);
    CHECK(strstr(err.message, tmp) != NULL);
    tfn_test_free(t);
    unsetenv("DIGITS_MODELS");
    for (int k = 0; k < DIGITS_KINDS; k++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/%s", tmp, digits_kind_filename(k));
        unlink(p);
    }
    rmdir(tmp);
}

static void test_bad_weights_fail_the_start(void)
{
    setenv("DIGITS_WEIGHTS", "svm=2,svn=1", 1);
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&digits_service, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", pixels_input(rows[0], 1), arena, &out, &err),
                 TFN_EINIT);
    CHECK(strstr(err.message, "DIGITS_WEIGHTS") && strstr(err.message, "svn"));
    tfn_test_free(t);
    unsetenv("DIGITS_WEIGHTS");
}

/* ---- bad input ----------------------------------------------------------------------------- */

static void expect_400(tfn_test_t *t, const char *api, tfn_value_t *in, const char *words)
{
    tfn_error_t err;
    tfn_value_t *out;
    int rc = tfn_test_call(t, api, in, arena, &out, &err);
    CHECK(rc < 0);
    CHECK_EQ_INT(err.http_status, 400);
    if (!strstr(err.message, words)) {
        fprintf(stderr, "  message '%s' lacks '%s'\n", err.message, words);
        CHECK(!"message");
    }
}

static void test_bad_input_is_refused(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&digits_service, &err);
    expect_400(t, "classify", tfn_object(arena), "got none");
    tfn_value_t *both = pixels_input(rows[0], 1);
    tfn_object_set(arena, both, "png", tfn_bytes(arena, "x", 1));
    expect_400(t, "classify", both, "got 'pixels' and 'png'");
    float big[64];
    memcpy(big, rows[0], sizeof big);
    big[5] = 17;
    expect_400(t, "classify", pixels_input(big, 1), "pixels must be 0..16");
    big[5] = NAN;
    expect_400(t, "classify", pixels_input(big, 1), "pixels must be 0..16");
    tfn_value_t *short_in = tfn_object(arena);
    tfn_object_set(arena, short_in, "pixels", tfn_tensor(arena, TFN_DTYPE_F32, 1, (int64_t[]){63}));
    expect_400(t, "classify", short_in, "64 values or 8 rows of 8");
    tfn_value_t *wide = tfn_object(arena);
    tfn_object_set(arena, wide, "pixels", tfn_tensor(arena, TFN_DTYPE_F32, 2, (int64_t[]){4, 16}));
    expect_400(t, "classify", wide, "64 values or 8 rows of 8");
    expect_400(t, "classify", bytes_input("png", "\x89PNG\r\n\x1a\nrubbish", 15), "png");
    expect_400(t, "classify", bytes_input("pgm", "P5 8 8 255\n", 11), "truncated PGM");
    float bad_rows[2][64] = {{0}};
    bad_rows[1][63] = -1;
    tfn_value_t *batch = tfn_object(arena);
    tfn_value_t *images = tfn_tensor(arena, TFN_DTYPE_F32, 2, (int64_t[]){2, 64});
    memcpy(tfn_tensor_data(images), bad_rows, sizeof bad_rows);
    tfn_object_set(arena, batch, "images", images);
    expect_400(t, "classify_batch", batch, "'images'[1][63]");
    tfn_value_t *empty = tfn_object(arena);
    tfn_object_set(arena, empty, "images", tfn_tensor(arena, TFN_DTYPE_F32, 2, (int64_t[]){0, 64}));
    expect_400(t, "classify_batch", empty, "has 0 rows");
    tfn_test_free(t);
}

/* ---- pictures ------------------------------------------------------------------------------ */

static void test_png_and_pgm_give_the_row_back(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&digits_service, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "classify", pixels_input(rows[3], 1), arena, &out, &err), 0);
    int want = label_of(out);
    double want_conf = tfn_as_float(tfn_object_get(out, "confidence"));

    /* A 40x40 PNG, dark on white: inverted and averaged back to the row (within 16/255). */
    unsigned char *grey = paper_picture(rows[3], 5);
    size_t len;
    void *png = png_of(grey, 40, &len);
    CHECK(png != NULL);
    CHECK_EQ_INT(tfn_test_call(t, "classify", bytes_input("png", png, len), arena, &out, &err), 0);
    CHECK_EQ_INT(label_of(out), want);
    CHECK(fabs(tfn_as_float(tfn_object_get(out, "confidence")) - want_conf) < 0.02);
    free(png);
    free(grey);

    /* An 8x8 P5 PGM with maxval 16, light on black: exactly the row. */
    char pgm[128];
    int head = snprintf(pgm, sizeof pgm, "P5\n# a digit\n8 8\n16\n");
    for (int i = 0; i < 64; i++)
        pgm[head + i] = (char)rows[3][i];
    CHECK_EQ_INT(
        tfn_test_call(t, "classify", bytes_input("pgm", pgm, (size_t)head + 64), arena, &out, &err),
        0);
    CHECK_EQ_INT(label_of(out), want);
    CHECK(tfn_as_float(tfn_object_get(out, "confidence")) == want_conf);
    tfn_test_free(t);
}

/* The first held-out row that has a 16 (as 98% of the data do): pictures give it back exactly;
 * a row whose top is 15 comes back stretched to 16. */
static const float *saturated_row(void)
{
    for (int i = 0; i < nrows; i++)
        for (int j = 0; j < 64; j++)
            if (rows[i][j] == 16)
                return rows[i];
    return rows[0];
}

static void test_image_reduction(void)
{
    char err[256];
    digits_image_t img;
    float px[64];
    const float *row = saturated_row();

    /* P2 with comments, 16x16 (each row pixel 2x2), maxval 16, light ink: exact. */
    char p2[4096];
    int len = snprintf(p2, sizeof p2, "P2\n# comment\n16 16 # another\n16\n");
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
            len += snprintf(p2 + len, sizeof p2 - (size_t)len, "%d%c",
                            (int)row[(y / 2) * 8 + x / 2], x == 15 ? '\n' : ' ');
    CHECK_EQ_INT(digits_image_decode_pgm(p2, (size_t)len, &img, err, sizeof err), 0);
    digits_image_to_pixels(&img, px);
    CHECK(memcmp(px, row, sizeof px) == 0);
    digits_image_free(&img);

    /* 16-bit P5, dark on light (inverted), 8x8. */
    unsigned char p5[256];
    int h = snprintf((char *)p5, sizeof p5, "P5 8 8 65535\n");
    for (int i = 0; i < 64; i++) {
        unsigned v = 65535 - (unsigned)row[i] * 65535 / 16;
        p5[h + 2 * i] = (unsigned char)(v >> 8), p5[h + 2 * i + 1] = (unsigned char)v;
    }
    CHECK_EQ_INT(digits_image_decode_pgm(p5, (size_t)h + 128, &img, err, sizeof err), 0);
    digits_image_to_pixels(&img, px);
    for (int i = 0; i < 64; i++)
        CHECK(fabsf(px[i] - row[i]) < 1e-3f);
    digits_image_free(&img);

    /* A blank picture gives zeros; a 1x1 picture too. */
    CHECK_EQ_INT(digits_image_decode_pgm("P2 3 2 255 7 7 7 7 7 7", 22, &img, err, sizeof err), 0);
    digits_image_to_pixels(&img, px);
    for (int i = 0; i < 64; i++)
        CHECK(px[i] == 0);
    digits_image_free(&img);

    /* Refusals, each with its reason. */
    struct {
        const char *pgm, *words;
    } bad[] = {
        {"P6 1 1 255 x", "P2 or P5"},
        {"P5", "no width"},
        {"P5 0 8 255 ", "empty"},
        {"P5 20000 1 255 ", "more than 16384 on a side"},
        {"P5 5000 5000 255 ", "in all"},
        {"P2 2 1 0 0 0", "maxval must be"},
        {"P2 2 1 70000 0 0", "maxval must be"},
        {"P2 2 1 15 3 16", "above maxval"},
        {"P2 2 2 15 3 1 4", "3 of 4 samples"},
        {"P2 2 1 15 3 1x", "1 of 2 samples"},
        {"P5 2 1 255", "no raster"},
        {"P5 2 2 255 abc", "3 of 4 raster bytes"},
        {"P5 1 1 100 \xff", "above maxval"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK_EQ_INT(digits_image_decode_pgm(bad[i].pgm, strlen(bad[i].pgm), &img, err, sizeof err),
                     -1);
        if (!strstr(err, bad[i].words)) {
            fprintf(stderr, "  '%s': message '%s' lacks '%s'\n", bad[i].pgm, err, bad[i].words);
            CHECK(!"message");
        }
        CHECK(img.samples == NULL);
    }

    /* PNG: not one, a corrupt one (a byte of the image data changed: CRC), a colour one. */
    CHECK_EQ_INT(digits_image_decode_png("GIF89a", 6, &img, err, sizeof err), -1);
    CHECK(strstr(err, "not a PNG") != NULL);
    unsigned char *grey = paper_picture(row, 2);
    size_t plen;
    unsigned char *png = png_of(grey, 16, &plen);
    png[plen - 20] ^= 0x55;
    CHECK_EQ_INT(digits_image_decode_png(png, plen, &img, err, sizeof err), -1);
    CHECK(strstr(err, "corrupt PNG") != NULL);
    CHECK_EQ_INT(digits_image_decode_png(png, 40, &img, err, sizeof err), -1); /* truncated */
    free(png);
    unsigned char rgb[16 * 16 * 3];
    for (int i = 0; i < 256; i++)
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i];
    png_image w;
    memset(&w, 0, sizeof w);
    w.version = PNG_IMAGE_VERSION;
    w.width = w.height = 16;
    w.format = PNG_FORMAT_RGB;
    size_t rgb_len;
    CHECK(png_image_write_get_memory_size(w, rgb_len, 0, rgb, 0, NULL));
    png = malloc(rgb_len);
    CHECK(png_image_write_to_memory(&w, png, &rgb_len, 0, rgb, 0, NULL));
    CHECK_EQ_INT(digits_image_decode_png(png, rgb_len, &img, err, sizeof err), 0);
    CHECK_EQ_INT(img.width, 16);
    digits_image_to_pixels(&img, px);
    for (int i = 0; i < 64; i++)
        CHECK(fabsf(px[i] - row[i]) <= 16.0f / 255 + 1e-4f);
    digits_image_free(&img);
    free(png);
    free(grey);
}

static void test_weights_parse(void)
{
    double w[DIGITS_KINDS] = {0}, same[DIGITS_KINDS] = {0};
    char err[200], text[128];
    CHECK_EQ_INT(digits_weights_parse("xgboost=1,logreg=1,svm=2,mlp=1", w, err, sizeof err), 0);
    CHECK(w[DIGITS_SVM] == 2 && w[DIGITS_MLP] == 1);
    CHECK_EQ_INT(digits_weights_parse(" svm = 0.5 ", w, err, sizeof err), 0);
    CHECK(w[DIGITS_SVM] == 0.5 && w[DIGITS_XGBOOST] == 1);
    digits_weights_format(w, text, sizeof text);
    CHECK_EQ_STR(text, "xgboost=1,logreg=1,svm=0.5,mlp=1");
    CHECK_EQ_INT(digits_weights_parse(text, same, err, sizeof err), 0);
    CHECK(memcmp(w, same, sizeof w) == 0);
    CHECK_EQ_INT(digits_weights_parse("", w, err, sizeof err), 0); /* all 1 */
    const char *bad[] = {
        "svm",         "svm=",   "svm=-1", "svm=1e3",  "svm=nan",
        "svm=1,svm=2", "svm=1,", ",svm=1", "forest=1", "xgboost=0,logreg=0,svm=0,mlp=0",
        "svm=1.2.3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double before = w[DIGITS_SVM];
        CHECK_EQ_INT(digits_weights_parse(bad[i], w, err, sizeof err), -1);
        CHECK(w[DIGITS_SVM] == before && err[0]);
    }
}

int main(void)
{
    arena = tfn_arena_new(256 << 20);
    if (load_rows() < 0) {
        fprintf(stderr, "test_digits_graph: no held-out rows\n");
        return 1;
    }
    RUN(test_weights_parse);
    RUN(test_image_reduction);
    RUN(test_classify_one);
    RUN(test_classify_batch_accuracy);
    RUN(test_png_and_pgm_give_the_row_back);
    RUN(test_failed_model_is_left_out);
    RUN(test_slow_model_times_out_and_is_left_out);
    RUN(test_fault_injection_by_environment);
    RUN(test_no_model_answering_fails);
    RUN(test_missing_model_file_fails_the_start);
    RUN(test_bad_weights_fail_the_start);
    RUN(test_bad_input_is_refused);
    tfn_arena_free(arena);
    return check_summary("digits_graph");
}
