/*
 * overhead.c — what the ONNX backend adds over calling ONNX Runtime directly.
 *
 * The same model, the same input, the same threads, in one process: "direct" is a C loop over
 * OrtRun (the OrtValues created once, the floor), "tiffin" is tfn_onnx_run on tiffin tensors
 * (the check against the model's signature, OrtValues made over the tensors' memory each call,
 * the outputs copied into the arena, the arena reset each call). The two alternate in rounds so
 * that a shared machine's noise hits both alike; the table gives each round's medians and the
 * ratio tiffin / direct.
 *
 *   build/bench/onnx MODEL.onnx [BATCH [SEQ [THREADS [ITERATIONS [ROUNDS]]]]]
 *
 * The model must have MiniLM's inputs (input_ids, attention_mask, token_type_ids: int64
 * [batch, sequence]); default batch 1, sequence 16, 1 thread, 200 iterations, 5 rounds.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <onnxruntime_c_api.h>

#include "tiffin.h"

#ifndef TFN__ONNXRUNTIME_DEFAULT
#define TFN__ONNXRUNTIME_DEFAULT "build/deps/onnxruntime/lib/libonnxruntime.so.1"
#endif

static const char *const names[3] = {"input_ids", "attention_mask", "token_type_ids"};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

#define ORT_CHECK(expr)                                                                            \
    do {                                                                                           \
        OrtStatus *st_ = (expr);                                                                   \
        if (st_) {                                                                                 \
            fprintf(stderr, "%s: %s\n", #expr, api->GetErrorMessage(st_));                         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.onnx [BATCH [SEQ [THREADS [ITERATIONS [ROUNDS]]]]]\n",
                argv[0]);
        return 2;
    }
    const char *path = argv[1];
    int64_t batch = argc > 2 ? atoll(argv[2]) : 1, seq = argc > 3 ? atoll(argv[3]) : 16;
    int threads = argc > 4 ? atoi(argv[4]) : 1, iterations = argc > 5 ? atoi(argv[5]) : 200;
    int rounds = argc > 6 ? atoi(argv[6]) : 5;
    int64_t shape[2] = {batch, seq}, n = batch * seq;
    int64_t *ids = malloc((size_t)n * 8), *mask = malloc((size_t)n * 8),
            *types = calloc((size_t)n, 8);
    for (int64_t i = 0; i < n; i++) {
        ids[i] = i % seq == 0 ? 101 : i % seq == seq - 1 ? 102 : 1000 + (i * 7919) % 20000;
        mask[i] = 1;
    }
    int64_t *data[3] = {ids, mask, types};

    /* Direct: the runtime as a C program would use it, values made once. */
    const char *lib_path =
        getenv("TFN_ONNXRUNTIME") ? getenv("TFN_ONNXRUNTIME") : TFN__ONNXRUNTIME_DEFAULT;
    void *lib = dlopen(lib_path, RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "dlopen %s: %s\n", lib_path, dlerror());
        return 1;
    }
    const OrtApiBase *(*get_base)(void);
    *(void **)&get_base = dlsym(lib, "OrtGetApiBase");
    const OrtApi *api = get_base()->GetApi(ORT_API_VERSION);
    OrtEnv *env;
    OrtSessionOptions *so;
    OrtSession *session;
    OrtMemoryInfo *mem;
    ORT_CHECK(api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "bench", &env));
    ORT_CHECK(api->CreateSessionOptions(&so));
    ORT_CHECK(api->SetIntraOpNumThreads(so, threads));
    ORT_CHECK(api->SetInterOpNumThreads(so, 1));
    ORT_CHECK(api->SetSessionGraphOptimizationLevel(so, ORT_ENABLE_ALL));
    ORT_CHECK(api->AddSessionConfigEntry(so, "session.intra_op.allow_spinning", "0"));
    ORT_CHECK(api->CreateSession(env, path, so, &session));
    ORT_CHECK(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mem));
    OrtValue *in[3];
    for (int i = 0; i < 3; i++)
        ORT_CHECK(api->CreateTensorWithDataAsOrtValue(mem, data[i], (size_t)n * 8, shape, 2,
                                                      ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &in[i]));
    const char *out_names[1] = {"last_hidden_state"};

    /* Through tiffin. */
    tfn_onnx_model_t *model;
    tfn_error_t err;
    tfn_onnx_options_t o = {.threads = (unsigned)threads};
    if (tfn_onnx_load(path, &o, &model, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    tfn_arena_t *arena = tfn_arena_new(0);

    double *direct = malloc(sizeof(double) * (size_t)iterations);
    double *through = malloc(sizeof(double) * (size_t)iterations);
    double *diff = malloc(sizeof(double) * (size_t)iterations);
    printf("model %s, batch %lld, sequence %lld, %d intra-op thread(s), %d iterations x %d "
           "rounds\n\n",
           path, (long long)batch, (long long)seq, threads, iterations, rounds);
    printf("%-6s %14s %14s %8s %16s\n", "round", "direct p50 us", "tiffin p50 us", "ratio",
           "paired diff us");
    double direct_meds[64], tiffin_meds[64], diff_meds[64];
    if (rounds > 64)
        rounds = 64;
    for (int r = 0; r < rounds; r++) {
        /* Direct and tiffin alternate call by call (order swapped every call), so that the
         * machine's noise falls on both alike; the paired difference is the overhead. */
        for (int k = 0; k < iterations; k++) {
            for (int which = 0; which < 2; which++) {
                bool tiffin = (which + k) % 2;
                double t0, t;
                if (!tiffin) {
                    OrtValue *out = NULL;
                    t0 = now_us();
                    ORT_CHECK(api->Run(session, NULL, names, (const OrtValue *const *)in, 3,
                                       out_names, 1, &out));
                    t = now_us() - t0;
                    api->ReleaseValue(out);
                    direct[k] = t;
                } else {
                    tfn_arena_free(arena);
                    arena = tfn_arena_new(0);
                    t0 = now_us();
                    tfn_value_t *inputs = tfn_object(arena), *outputs;
                    for (int i = 0; i < 3; i++)
                        tfn_object_set(arena, inputs, names[i],
                                       tfn_tensor_wrap(arena, TFN_DTYPE_I64, 2, shape, data[i]));
                    if (tfn_onnx_run(model, inputs, arena, &outputs, &err) != 0) {
                        fprintf(stderr, "%s\n", err.message);
                        return 1;
                    }
                    through[k] = now_us() - t0;
                }
            }
            diff[k] = through[k] - direct[k];
        }
        direct_meds[r] = median(direct, iterations);
        tiffin_meds[r] = median(through, iterations);
        diff_meds[r] = median(diff, iterations);
        printf("%-6d %14.1f %14.1f %8.3f %16.1f\n", r + 1, direct_meds[r], tiffin_meds[r],
               tiffin_meds[r] / direct_meds[r], diff_meds[r]);
    }
    double direct_all = median(direct_meds, rounds), tiffin_all = median(tiffin_meds, rounds);
    double diff_all = median(diff_meds, rounds);
    printf("%-6s %14.1f %14.1f %8.3f %16.1f   (medians of the rounds; floor = direct)\n", "all",
           direct_all, tiffin_all, tiffin_all / direct_all, diff_all);
    printf("overhead: %.1f us a call = %.2f%% of the direct call\n", diff_all,
           100.0 * diff_all / direct_all);
    free(direct);
    free(through);
    free(diff);
    for (int i = 0; i < 3; i++)
        api->ReleaseValue(in[i]);
    api->ReleaseMemoryInfo(mem);
    api->ReleaseSession(session);
    api->ReleaseSessionOptions(so);
    tfn_arena_free(arena);
    tfn_onnx_free(model);
    free(ids);
    free(mask);
    free(types);
    return 0;
}
