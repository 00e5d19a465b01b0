/*
 * test_onnx.c — the ONNX backend (tiffin/onnx.h) on the digits MLP exported with skl2onnx
 * (tests/onnx/export_digits.py; mk/onnx.mk makes it): the signature read from the model, outputs
 * equal to Python onnxruntime's, bad inputs, bad files, the CUDA error path on a CPU-only
 * runtime, and the model as a service in a graph with a C entry that calls it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tiffin.h"

#ifndef TFN_TEST_MODELS
#define TFN_TEST_MODELS "build/deps/models"
#endif
#define DIGITS   TFN_TEST_MODELS "/digits-mlp.onnx"
#define OCR_REC  TFN_TEST_MODELS "/ocr-rec.onnx"
#define EXPECTED TFN_TEST_MODELS "/digits-mlp-expected.txt"
#define ROWS     8

static float pixels[ROWS][64], probabilities[ROWS][10];
static int64_t labels[ROWS];

static int read_expected(void)
{
    FILE *f = fopen(EXPECTED, "r");
    if (!f)
        return -1;
    int ok = 1;
    for (int r = 0; r < ROWS && ok; r++) {
        for (int i = 0; i < 64 && ok; i++)
            ok = fscanf(f, "%f", &pixels[r][i]) == 1;
        for (int i = 0; i < 10 && ok; i++)
            ok = fscanf(f, "%f", &probabilities[r][i]) == 1;
        long long l = 0;
        ok = ok && fscanf(f, "%lld", &l) == 1;
        labels[r] = l;
    }
    fclose(f);
    return ok ? 0 : -1;
}

/* {"X": tensor float32 [rows, 64]} over the expected rows (not copied). */
static tfn_value_t *digits_input(tfn_arena_t *a, int rows)
{
    int64_t shape[2] = {rows, 64};
    tfn_value_t *in = tfn_object(a);
    tfn_object_set(a, in, "X", tfn_tensor_wrap(a, TFN_DTYPE_F32, 2, shape, pixels));
    return in;
}

static void test_signature(void)
{
    tfn_onnx_model_t *m = NULL;
    tfn_error_t err;
    CHECK_EQ_INT(tfn_onnx_load(DIGITS, NULL, &m, &err), 0);
    if (!m)
        return;
    const tfn_field_t *in = tfn_onnx_inputs(m), *out = tfn_onnx_outputs(m);
    CHECK_EQ_STR(in[0].name, "X");
    CHECK_EQ_INT(in[0].type, TFN_TYPE_TENSOR);
    CHECK_EQ_INT(in[0].dtype, TFN_DTYPE_F32);
    CHECK_EQ_INT(in[0].ndim, 2);
    CHECK_EQ_INT(in[0].shape[0], -1);
    CHECK_EQ_INT(in[0].shape[1], 64);
    CHECK(in[1].name == NULL);
    CHECK_EQ_STR(out[0].name, "label");
    CHECK_EQ_INT(out[0].dtype, TFN_DTYPE_I64);
    CHECK_EQ_INT(out[0].ndim, 1);
    CHECK_EQ_STR(out[1].name, "probabilities");
    CHECK_EQ_INT(out[1].dtype, TFN_DTYPE_F32);
    CHECK_EQ_INT(out[1].shape[1], 10);
    CHECK(out[2].name == NULL);
    CHECK(in[0].doc && strstr(in[0].doc, "float32 ["));
    tfn_onnx_free(m);
}

static void check_outputs(const tfn_value_t *out, int rows)
{
    tfn_value_t *label = tfn_object_get(out, "label"),
                *proba = tfn_object_get(out, "probabilities");
    CHECK_EQ_INT(tfn_len(out), 2);
    CHECK_EQ_INT(tfn_tensor_ndim(proba), 2);
    CHECK_EQ_INT(tfn_len(label), rows);
    CHECK_EQ_INT(tfn_len(proba), rows * 10);
    if (tfn_len(label) != (size_t)rows || tfn_len(proba) != (size_t)rows * 10)
        return;
    const int64_t *l = tfn_tensor_data(label);
    const float *p = tfn_tensor_data(proba);
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        CHECK_EQ_INT(l[r], labels[r]);
        for (int i = 0; i < 10; i++)
            worst = fmax(worst, fabs((double)p[r * 10 + i] - probabilities[r][i]));
    }
    CHECK(worst <= 1e-5); /* the same runtime and graph as Python's: equal up to rounding */
}

static void test_run_matches_python(void)
{
    tfn_onnx_model_t *m = NULL;
    tfn_onnx_options_t o = {.threads = 2};
    CHECK_EQ_INT(tfn_onnx_load(DIGITS, &o, &m, NULL), 0);
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_value_t *out = NULL;
    tfn_error_t err;
    for (int rows = 1; m && rows <= ROWS; rows += ROWS - 1) {
        int rc = tfn_onnx_run(m, digits_input(a, rows), a, &out, &err);
        CHECK_EQ_INT(rc, 0);
        if (rc == 0)
            check_outputs(out, rows);
        else
            fprintf(stderr, "  %s\n", err.message);
    }
    tfn_arena_free(a);
    tfn_onnx_free(m);
}

/* Runs `in` and checks the code and that the message contains `want`. */
static void expect_bad(tfn_onnx_model_t *m, tfn_arena_t *a, const tfn_value_t *in, int code,
                       const char *want)
{
    tfn_error_t err = {0};
    tfn_value_t *out = NULL;
    CHECK_EQ_INT(tfn_onnx_run(m, in, a, &out, &err), code);
    CHECK(strstr(err.message, want) != NULL);
    if (!strstr(err.message, want))
        fprintf(stderr, "  message: %s (want '%s')\n", err.message, want);
    CHECK(out == NULL);
}

static void test_bad_inputs(void)
{
    tfn_onnx_model_t *m = NULL;
    tfn_onnx_options_t o = {.max_elements = 4 * 64};
    CHECK_EQ_INT(tfn_onnx_load(DIGITS, &o, &m, NULL), 0);
    if (!m)
        return;
    tfn_arena_t *a = tfn_arena_new(0);
    expect_bad(m, a, tfn_list(a), TFN_ETYPE, "go in an object");
    expect_bad(m, a, tfn_object(a), TFN_EMISSING, "missing input 'X' (float32 [-1, 64])");

    tfn_value_t *in = digits_input(a, 1);
    tfn_object_set(a, in, "Y", tfn_int(a, 1));
    expect_bad(m, a, in, TFN_EINVAL, "unknown input 'Y'");

    in = tfn_object(a);
    tfn_object_set(a, in, "X", tfn_string(a, "seven"));
    expect_bad(m, a, in, TFN_ETYPE, "input 'X': expected a tensor");

    int64_t shape[2] = {1, 64};
    in = tfn_object(a);
    tfn_object_set(a, in, "X", tfn_tensor(a, TFN_DTYPE_F64, 2, shape));
    expect_bad(m, a, in, TFN_ETYPE, "expected float32 [-1, 64], got tensor(float64)");

    in = tfn_object(a);
    tfn_object_set(a, in, "X", tfn_tensor(a, TFN_DTYPE_F32, 1, (int64_t[]){64}));
    expect_bad(m, a, in, TFN_EINVAL, "expected rank 2");

    in = tfn_object(a);
    tfn_object_set(a, in, "X", tfn_tensor(a, TFN_DTYPE_F32, 2, (int64_t[]){1, 63}));
    expect_bad(m, a, in, TFN_EINVAL, "input 'X': dim 1 must be 64");

    expect_bad(m, a, digits_input(a, 5), TFN_ETOOBIG, "input 'X' has 320 elements");
    tfn_value_t *out = NULL;
    CHECK_EQ_INT(tfn_onnx_run(m, digits_input(a, 4), a, &out, NULL), 0); /* at the limit */
    tfn_arena_free(a);
    tfn_onnx_free(m);
}

static void test_bad_files(void)
{
    tfn_onnx_model_t *m = (tfn_onnx_model_t *)1;
    tfn_error_t err = {0};
    CHECK_EQ_INT(tfn_onnx_load("no/such/model.onnx", NULL, &m, &err), TFN_EINIT);
    CHECK(m == NULL);
    CHECK(strstr(err.message, "no/such/model.onnx") && strstr(err.message, "No such file"));

    char path[] = "/tmp/tiffin-corrupt-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, "this is not a protobuf\x01\x02\x03", 25) == 25);
    close(fd);
    CHECK_EQ_INT(tfn_onnx_load(path, NULL, &m, &err), TFN_EINIT);
    CHECK(strstr(err.message, path) != NULL);
    CHECK(strlen(err.message) > strlen(path) + 10); /* and the runtime's reason */
    unlink(path);
}

static void test_cuda_on_cpu_runtime(void)
{
    tfn_onnx_model_t *m = NULL;
    tfn_error_t err = {0};
    tfn_onnx_options_t o = {.cuda = true};
    CHECK_EQ_INT(tfn_onnx_load(DIGITS, &o, &m, &err), TFN_EINIT);
    CHECK(strstr(err.message, "CUDA") != NULL);
    CHECK(m == NULL);
    o.cpu_fallback = true; /* asked for: runs on the CPU, with a warning */
    CHECK_EQ_INT(tfn_onnx_load(DIGITS, &o, &m, &err), 0);
    tfn_onnx_free(m);
}

/* A C entry service that calls the model as a dependency: classify one image. */
static tfn_dependency_t classify_deps[2];

static int classify(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *image = tfn_object_get(in, "image");
    int64_t shape[2] = {1, 64};
    tfn_value_t *x = tfn_object(a), *y;
    tfn_object_set(a, x, "X", tfn_tensor_wrap(a, TFN_DTYPE_F32, 2, shape, tfn_tensor_data(image)));
    tfn_error_t err;
    if (tfn_call(ctx, "Digits", "predict", x, &y, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    *out = tfn_int(a, *(int64_t *)tfn_tensor_data(tfn_object_get(y, "label")));
    return 0;
}

static const tfn_field_t classify_in[] = {
    {.name = "image", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 1, .shape = {64}},
    {0}};
static const tfn_api_t classify_apis[] = {
    {.name = "classify", .handler = classify, .inputs = classify_in, .output = TFN_TYPE_INT}, {0}};

static void test_service_in_graph(void)
{
    tfn_error_t err;
    tfn_onnx_service_options_t so = {.name = "Digits"};
    const tfn_service_t *digits = tfn_onnx_service(DIGITS, &so, &err);
    CHECK(digits != NULL);
    if (!digits)
        return;
    CHECK_EQ_STR(digits->name, "Digits");
    CHECK_EQ_STR(digits->apis[0].name, "predict");
    CHECK_EQ_STR(digits->apis[0].inputs[0].name, "X");
    CHECK_EQ_INT(digits->apis[0].run, TFN_RUN_IN_THREAD);

    classify_deps[0] = (tfn_dependency_t){.service = digits};
    tfn_service_t entry = {.name = "Classify", .apis = classify_apis, .depends = classify_deps};
    tfn_test_t *t = tfn_test_new(&entry, &err);
    CHECK(t != NULL);
    tfn_arena_t *a = tfn_arena_new(0);
    for (int r = 0; t && r < ROWS; r++) {
        tfn_value_t *in = tfn_object(a), *out = NULL;
        tfn_object_set(a, in, "image",
                       tfn_tensor_wrap(a, TFN_DTYPE_F32, 1, (int64_t[]){64}, pixels[r]));
        CHECK_EQ_INT(tfn_test_call(t, "classify", in, a, &out, &err), 0);
        CHECK_EQ_INT(tfn_as_int(out), labels[r]);
    }
    tfn_test_free(t);

    /* The model service alone, through the test graph: validation from the model's fields. */
    t = tfn_test_new(digits, &err);
    tfn_value_t *out = NULL, *in = tfn_object(a);
    tfn_object_set(a, in, "X", tfn_string(a, "seven"));
    CHECK_EQ_INT(tfn_test_call(t, "predict", in, a, &out, &err), TFN_ETYPE);
    CHECK(strstr(err.message, "'X'") != NULL);
    CHECK_EQ_INT(tfn_test_call(t, "predict", digits_input(a, ROWS), a, &out, &err), 0);
    check_outputs(out, ROWS);
    tfn_test_free(t);
    tfn_arena_free(a);
    tfn_onnx_service_free(digits);

    CHECK(tfn_onnx_service("no/such.onnx", NULL, &err) == NULL);
    CHECK(strstr(err.message, "no/such.onnx") != NULL);
    so.name = "bad name";
    CHECK(tfn_onnx_service(DIGITS, &so, &err) == NULL);
    CHECK_EQ_INT(err.code, TFN_EINVAL);
}

/* Custom metadata: PP-OCRv4's recogniser keeps its 6,623-character dictionary under
 * "character" (RapidOCR reads it with get_modelmeta().custom_metadata_map and splitlines); the
 * digits MLP has none of that key. */
static void test_metadata(void)
{
    tfn_onnx_model_t *m = NULL;
    tfn_error_t err;
    CHECK_EQ_INT(tfn_onnx_load(OCR_REC, NULL, &m, &err), 0);
    if (!m)
        return;
    const char *dict = tfn_onnx_metadata(m, "character");
    CHECK(dict != NULL);
    if (dict) {
        size_t lines = 0;
        for (const char *p = dict; *p; p++)
            lines += *p == '\n';
        if (dict[0] && dict[strlen(dict) - 1] != '\n')
            lines++;
        CHECK_EQ_INT(lines, 6623);
    }
    int found = 0;
    size_t nkeys = 0;
    for (const char *k; (k = tfn_onnx_metadata_key(m, nkeys)); nkeys++)
        found += strcmp(k, "character") == 0;
    CHECK_EQ_INT(found, 1);
    CHECK(tfn_onnx_metadata_key(m, nkeys) == NULL);
    CHECK(tfn_onnx_metadata(m, "no such key") == NULL);
    CHECK(tfn_onnx_metadata(m, NULL) == NULL);
    CHECK(tfn_onnx_metadata(NULL, "character") == NULL);
    tfn_onnx_free(m);

    CHECK_EQ_INT(tfn_onnx_load(DIGITS, NULL, &m, &err), 0);
    if (!m)
        return;
    CHECK(tfn_onnx_metadata(m, "character") == NULL);
    tfn_onnx_free(m);
}

int main(void)
{
    if (read_expected() != 0) {
        fprintf(stderr, "test_onnx: cannot read %s (make tests exports it)\n", EXPECTED);
        return 1;
    }
    RUN(test_signature);
    RUN(test_run_matches_python);
    RUN(test_bad_inputs);
    RUN(test_bad_files);
    RUN(test_cuda_on_cpu_runtime);
    RUN(test_service_in_graph);
    RUN(test_metadata);
    return check_summary("onnx");
}
