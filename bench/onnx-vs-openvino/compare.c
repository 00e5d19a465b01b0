/*
 * compare.c — ONNX Runtime against OpenVINO, each through its C API, on the same ONNX model.
 *
 * One process measures one runtime (so that peak RSS belongs to it alone); run.sh runs the two
 * in turn, round after round, and builds the table. Both libraries are opened with dlopen, as
 * libtiffin opens ONNX Runtime: ONNX Runtime through OrtGetApiBase()->GetApi(ORT_API_VERSION)
 * (the header of build/deps/onnxruntime/include), OpenVINO through the functions of
 * libopenvino_c.so (the headers of build/deps/openvino/include give the types).
 *
 *   compare ort|ov MODEL THREADS SEQ BATCH:ITERATIONS[,BATCH:ITERATIONS...] [EMBEDDINGS.bin]
 *   compare diff A.bin B.bin
 *
 * The model must have MiniLM's inputs (input_ids, attention_mask, token_type_ids: int64
 * [batch, sequence]) and output [batch, sequence, hidden] first. Both runtimes are set up the
 * way a tiffin worker would use them: THREADS intra-op threads, one stream / inter-op thread,
 * no spinning or pinning of their own, inputs made once over the program's memory. Prints
 * "key value" lines: lib_ms (dlopen), load_ms (model file to a session / compiled model with
 * an infer request), first_ms (the first inference, batch 1), then per batch the median and
 * p90 latency and the throughput (sentences over the wall time of the timed loop), then
 * rss_load_mib and peak_rss_mib. EMBEDDINGS.bin receives the mean-pooled embeddings of a batch
 * of 8 (float32, 8 x 384: MiniLM's hidden size); `diff` compares two such files (max |a-b|,
 * the largest |a| for scale, the lowest cosine similarity of a row pair).
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <onnxruntime_c_api.h>
#include <openvino/c/openvino.h>

#ifndef ORT_LIB
#define ORT_LIB "build/deps/onnxruntime/lib/libonnxruntime.so.1"
#endif
#ifndef OV_LIB
#define OV_LIB "build/deps/openvino/lib/libopenvino_c.so.2641"
#endif

static const char *const names[3] = {"input_ids", "attention_mask", "token_type_ids"};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what, const char *message)
{
    fprintf(stderr, "compare: %s: %s\n", what, message ? message : "(no message)");
    exit(1);
}

static void *open_lib(const char *env, const char *fallback)
{
    const char *path = getenv(env) ? getenv(env) : fallback;
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        die(path, dlerror());
    return lib;
}

static void *sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p)
        die(name, dlerror());
    return p;
}

/* ---- ONNX Runtime ---------------------------------------------------------------------- */

static const OrtApi *api;
static OrtSession *session;
static OrtMemoryInfo *mem;
static OrtValue *ort_in[3], *ort_out;

#define ORT_CHECK(expr)                                                                            \
    do {                                                                                           \
        OrtStatus *st_ = (expr);                                                                   \
        if (st_)                                                                                   \
            die(#expr, api->GetErrorMessage(st_));                                                 \
    } while (0)

static void ort_open(void)
{
    void *lib = open_lib("ORT_LIB", ORT_LIB);
    const OrtApiBase *(*get_base)(void);
    *(void **)&get_base = sym(lib, "OrtGetApiBase");
    api = get_base()->GetApi(ORT_API_VERSION);
    if (!api)
        die("GetApi", "the runtime does not serve this header's API version");
}

static void ort_load(const char *path, int threads)
{
    OrtEnv *env;
    OrtSessionOptions *so;
    ORT_CHECK(api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "compare", &env));
    ORT_CHECK(api->CreateSessionOptions(&so));
    ORT_CHECK(api->SetIntraOpNumThreads(so, threads));
    ORT_CHECK(api->SetInterOpNumThreads(so, 1));
    ORT_CHECK(api->SetSessionGraphOptimizationLevel(so, ORT_ENABLE_ALL));
    ORT_CHECK(api->AddSessionConfigEntry(so, "session.intra_op.allow_spinning", "0"));
    ORT_CHECK(api->CreateSession(env, path, so, &session));
    ORT_CHECK(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mem));
    api->ReleaseSessionOptions(so);
}

/* Inputs are made once per batch size over the caller's arrays (as tiffin makes them over a
 * request's tensors); the output is the runtime's, released at the next call. */
static const float *ort_run(int64_t *data[3], int64_t batch, int64_t seq, int new_shape)
{
    int64_t shape[2] = {batch, seq};
    if (new_shape)
        for (int i = 0; i < 3; i++) {
            if (ort_in[i])
                api->ReleaseValue(ort_in[i]);
            ORT_CHECK(api->CreateTensorWithDataAsOrtValue(
                mem, data[i], (size_t)(batch * seq) * 8, shape, 2,
                ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &ort_in[i]));
        }
    if (ort_out)
        api->ReleaseValue(ort_out);
    ort_out = NULL;
    const char *out_names[1] = {"last_hidden_state"};
    ORT_CHECK(
        api->Run(session, NULL, names, (const OrtValue *const *)ort_in, 3, out_names, 1, &ort_out));
    float *out;
    ORT_CHECK(api->GetTensorMutableData(ort_out, (void **)&out));
    return out;
}

/* ---- OpenVINO -------------------------------------------------------------------------- */

static ov_status_e (*ov_core_create_p)(ov_core_t **);
static ov_status_e (*ov_core_read_model_p)(const ov_core_t *, const char *, const char *,
                                           ov_model_t **);
static ov_status_e (*ov_core_compile_model_p)(const ov_core_t *, const ov_model_t *, const char *,
                                              const size_t, ov_compiled_model_t **, ...);
static ov_status_e (*ov_compiled_model_create_infer_request_p)(const ov_compiled_model_t *,
                                                               ov_infer_request_t **);
static ov_status_e (*ov_compiled_model_get_property_p)(const ov_compiled_model_t *, const char *,
                                                       char **);
static ov_status_e (*ov_shape_create_p)(const int64_t, const int64_t *, ov_shape_t *);
static ov_status_e (*ov_shape_free_p)(ov_shape_t *);
static ov_status_e (*ov_tensor_create_from_host_ptr_p)(const ov_element_type_e, const ov_shape_t,
                                                       void *, ov_tensor_t **);
static void (*ov_tensor_free_p)(ov_tensor_t *);
static ov_status_e (*ov_tensor_data_p)(const ov_tensor_t *, void **);
static ov_status_e (*ov_infer_request_set_tensor_p)(ov_infer_request_t *, const char *,
                                                    const ov_tensor_t *);
static ov_status_e (*ov_infer_request_infer_p)(ov_infer_request_t *);
static ov_status_e (*ov_infer_request_get_output_tensor_by_index_p)(const ov_infer_request_t *,
                                                                    const size_t, ov_tensor_t **);
static void (*ov_model_free_p)(ov_model_t *);
static void (*ov_free_p)(const char *);
static const char *(*ov_get_last_err_msg_p)(void);

static ov_compiled_model_t *compiled;
static ov_infer_request_t *request;
static ov_tensor_t *ov_in[3], *ov_out;

#define OV_CHECK(expr)                                                                             \
    do {                                                                                           \
        if ((expr) != OK)                                                                          \
            die(#expr, ov_get_last_err_msg_p());                                                   \
    } while (0)

#define OV_SYM(lib, name) (*(void **)&name##_p = sym(lib, #name))

static void ov_open(void)
{
    void *lib = open_lib("OV_LIB", OV_LIB);
    OV_SYM(lib, ov_core_create);
    OV_SYM(lib, ov_core_read_model);
    OV_SYM(lib, ov_core_compile_model);
    OV_SYM(lib, ov_compiled_model_create_infer_request);
    OV_SYM(lib, ov_compiled_model_get_property);
    OV_SYM(lib, ov_shape_create);
    OV_SYM(lib, ov_shape_free);
    OV_SYM(lib, ov_tensor_create_from_host_ptr);
    OV_SYM(lib, ov_tensor_free);
    OV_SYM(lib, ov_tensor_data);
    OV_SYM(lib, ov_infer_request_set_tensor);
    OV_SYM(lib, ov_infer_request_infer);
    OV_SYM(lib, ov_infer_request_get_output_tensor_by_index);
    OV_SYM(lib, ov_model_free);
    OV_SYM(lib, ov_free);
    OV_SYM(lib, ov_get_last_err_msg);
}

/* The model stays dynamic ([batch, sequence] as exported), as a server that takes any batch
 * and length would keep it. OV_PRECISION (e.g. f32) sets INFERENCE_PRECISION_HINT; without
 * it the CPU plugin picks its default for this processor (printed as precision). */
static void ov_load(const char *path, int threads)
{
    ov_core_t *core;
    ov_model_t *model;
    char nthreads[16];
    snprintf(nthreads, sizeof nthreads, "%d", threads);
    OV_CHECK(ov_core_create_p(&core));
    OV_CHECK(ov_core_read_model_p(core, path, NULL, &model));
    const char *precision = getenv("OV_PRECISION");
    if (precision)
        OV_CHECK(ov_core_compile_model_p(core, model, "CPU", 10, &compiled, "INFERENCE_NUM_THREADS",
                                         nthreads, "NUM_STREAMS", "1", "PERFORMANCE_HINT",
                                         "LATENCY", "ENABLE_CPU_PINNING", "NO",
                                         "INFERENCE_PRECISION_HINT", precision));
    else
        OV_CHECK(ov_core_compile_model_p(core, model, "CPU", 8, &compiled, "INFERENCE_NUM_THREADS",
                                         nthreads, "NUM_STREAMS", "1", "PERFORMANCE_HINT",
                                         "LATENCY", "ENABLE_CPU_PINNING", "NO"));
    OV_CHECK(ov_compiled_model_create_infer_request_p(compiled, &request));
    ov_model_free_p(model);
    /* The core is kept: the compiled model's plugin lives in it. */
}

static const float *ov_run(int64_t *data[3], int64_t batch, int64_t seq, int new_shape)
{
    if (new_shape) {
        int64_t dims[2] = {batch, seq};
        ov_shape_t shape;
        OV_CHECK(ov_shape_create_p(2, dims, &shape));
        for (int i = 0; i < 3; i++) {
            if (ov_in[i])
                ov_tensor_free_p(ov_in[i]);
            OV_CHECK(ov_tensor_create_from_host_ptr_p(I64, shape, data[i], &ov_in[i]));
            OV_CHECK(ov_infer_request_set_tensor_p(request, names[i], ov_in[i]));
        }
        ov_shape_free_p(&shape);
    }
    if (ov_out)
        ov_tensor_free_p(ov_out);
    OV_CHECK(ov_infer_request_infer_p(request));
    OV_CHECK(ov_infer_request_get_output_tensor_by_index_p(request, 0, &ov_out));
    void *out;
    OV_CHECK(ov_tensor_data_p(ov_out, &out));
    return out;
}

/* ---- Measuring ------------------------------------------------------------------------- */

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static int diff_files(const char *a_path, const char *b_path)
{
    FILE *fa = fopen(a_path, "rb"), *fb = fopen(b_path, "rb");
    if (!fa || !fb)
        die("diff", "cannot open the embeddings files");
    int64_t dims_a[2], dims_b[2];
    if (fread(dims_a, 8, 2, fa) != 2 || fread(dims_b, 8, 2, fb) != 2 || dims_a[0] != dims_b[0] ||
        dims_a[1] != dims_b[1])
        die("diff", "the two files have different shapes");
    size_t n = (size_t)(dims_a[0] * dims_a[1]);
    float *a = malloc(n * 4), *b = malloc(n * 4);
    if (fread(a, 4, n, fa) != n || fread(b, 4, n, fb) != n)
        die("diff", "short file");
    double max_abs = 0, max_ref = 0, min_cos = 1;
    for (int64_t r = 0; r < dims_a[0]; r++) {
        double dot = 0, na = 0, nb = 0;
        for (int64_t j = 0; j < dims_a[1]; j++) {
            double x = a[r * dims_a[1] + j], y = b[r * dims_a[1] + j];
            max_abs = fmax(max_abs, fabs(x - y));
            max_ref = fmax(max_ref, fabs(x));
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
        min_cos = fmin(min_cos, dot / sqrt(na * nb));
    }
    printf("rows %lld dim %lld max_abs_diff %.3g max_abs_a %.3g min_cosine %.6f\n",
           (long long)dims_a[0], (long long)dims_a[1], max_abs, max_ref, min_cos);
    free(a);
    free(b);
    fclose(fa);
    fclose(fb);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "diff") == 0)
        return diff_files(argv[2], argv[3]);
    if (argc < 6 || (strcmp(argv[1], "ort") && strcmp(argv[1], "ov"))) {
        fprintf(stderr,
                "usage: %s ort|ov MODEL THREADS SEQ BATCH:ITERATIONS[,...] [EMBEDDINGS.bin]\n"
                "       %s diff A.bin B.bin\n",
                argv[0], argv[0]);
        return 2;
    }
    int ov = strcmp(argv[1], "ov") == 0;
    const char *path = argv[2];
    int threads = atoi(argv[3]);
    int64_t seq = atoll(argv[4]);
    const float *(*run)(int64_t *[3], int64_t, int64_t, int) = ov ? ov_run : ort_run;

    /* Inputs for the largest batch; smaller batches use their first rows. Every row differs. */
    int64_t max_batch = 8;
    for (const char *p = argv[5]; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (atoll(p) > max_batch)
            max_batch = atoll(p);
    int64_t n = max_batch * seq;
    int64_t *ids = malloc((size_t)n * 8), *mask = malloc((size_t)n * 8),
            *types = calloc((size_t)n, 8);
    for (int64_t i = 0; i < n; i++) {
        ids[i] = i % seq == 0 ? 101 : i % seq == seq - 1 ? 102 : 1000 + (i * 7919) % 20000;
        mask[i] = 1;
    }
    int64_t *data[3] = {ids, mask, types};

    double t0 = now_ms();
    ov ? ov_open() : ort_open();
    printf("lib_ms %.1f\n", now_ms() - t0);
    t0 = now_ms();
    ov ? ov_load(path, threads) : ort_load(path, threads);
    printf("load_ms %.1f\n", now_ms() - t0);
    printf("rss_load_mib %.1f\n", rss_kib() / 1024.0);
    if (ov) {
        char *precision = NULL;
        OV_CHECK(
            ov_compiled_model_get_property_p(compiled, "INFERENCE_PRECISION_HINT", &precision));
        printf("precision %s\n", precision);
        ov_free_p(precision);
    } else {
        printf("precision f32\n");
    }
    t0 = now_ms();
    run(data, 1, seq, 1);
    printf("first_ms %.1f\n", now_ms() - t0);

    for (const char *p = argv[5]; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        int64_t batch = atoll(p);
        const char *colon = strchr(p, ':');
        int iterations = colon ? atoi(colon + 1) : 20;
        if (batch < 1 || iterations < 1)
            die("batches", "want BATCH:ITERATIONS with both >= 1");
        run(data, batch, seq, 1);
        for (int w = 0; w < 2; w++) /* warm-up: a new shape costs a first call */
            run(data, batch, seq, 0);
        double *t = malloc(sizeof(double) * (size_t)iterations);
        double start = now_ms();
        for (int k = 0; k < iterations; k++) {
            double s = now_ms();
            run(data, batch, seq, 0);
            t[k] = now_ms() - s;
        }
        double wall = now_ms() - start;
        qsort(t, (size_t)iterations, sizeof *t, cmp);
        printf("batch %lld iterations %d median_ms %.2f p90_ms %.2f sent_per_s %.1f\n",
               (long long)batch, iterations, t[iterations / 2], t[(iterations * 9) / 10],
               batch * iterations * 1000.0 / wall);
        free(t);
    }

    if (argc > 6) {
        /* Mean-pooled embeddings of 8 sentences (the mask is all ones here). */
        const int64_t batch = 8;
        const float *out = run(data, batch, seq, 1);
        int64_t hidden = 384;
        float *emb = calloc((size_t)(batch * hidden), 4);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t s = 0; s < seq; s++)
                for (int64_t j = 0; j < hidden; j++)
                    emb[b * hidden + j] += out[(b * seq + s) * hidden + j] / (float)seq;
        FILE *f = fopen(argv[6], "wb");
        int64_t dims[2] = {batch, hidden};
        if (!f || fwrite(dims, 8, 2, f) != 2 ||
            fwrite(emb, 4, (size_t)(batch * hidden), f) != (size_t)(batch * hidden) || fclose(f))
            die(argv[6], "cannot write the embeddings");
        free(emb);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mib %.1f\n", ru.ru_maxrss / 1024.0);
    fflush(stdout);
    /* No teardown: the process ends here, and the runtimes' own exit paths are not measured. */
    _exit(0);
}
