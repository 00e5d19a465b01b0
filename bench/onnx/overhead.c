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
    const char *lib_path = getenv("TFN_ONNXRUNTIME") ? getenv("TFN_ONNXRUNTIME")
                                                     : TFN__ONNXRUNTIME_DEFAULT;
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

    double *samples = malloc(sizeof(double) * (size_t)iterations);
    double direct_all = 0, tiffin_all = 0;
    printf("model %s, batch %lld, sequence %lld, %d intra-op thread(s), %d iterations x %d "
           "rounds\n\n",
           path, (long long)batch, (long long)seq, threads, iterations, rounds);
    printf("%-6s %14s %14s %8s\n", "round", "direct p50 us", "tiffin p50 us", "ratio");
    double direct_meds[64], tiffin_meds[64];
    for (int r = 0; r < rounds && r < 64; r++) {
        for (int k = 0; k < iterations; k++) {
            OrtValue *out = NULL;
            double t0 = now_us();
            ORT_CHECK(api->Run(session, NULL, names, (const OrtValue *const *)in, 3, out_names, 1,
                               &out));
            samples[k] = now_us() - t0;
            api->ReleaseValue(out);
        }
        direct_meds[r] = median(samples, iterations);
        for (int k = 0; k < iterations; k++) {
            tfn_arena_free(arena);
            arena = tfn_arena_new(0);
            double t0 = now_us();
            tfn_value_t *inputs = tfn_object(arena), *outputs;
            for (int i = 0; i < 3; i++)
                tfn_object_set(arena, inputs, names[i],
                               tfn_tensor_wrap(arena, TFN_DTYPE_I64, 2, shape, data[i]));
            if (tfn_onnx_run(model, inputs, arena, &outputs, &err) != 0) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
            samples[k] = now_us() - t0;
        }
        tiffin_meds[r] = median(samples, iterations);
        printf("%-6d %14.1f %14.1f %8.3f\n", r + 1, direct_meds[r], tiffin_meds[r],
               tiffin_meds[r] / direct_meds[r]);
    }
    direct_all = median(direct_meds, rounds);
    tiffin_all = median(tiffin_meds, rounds);
    printf("%-6s %14.1f %14.1f %8.3f   (median of the rounds; floor = direct)\n", "all",
           direct_all, tiffin_all, tiffin_all / direct_all);
    for (int i = 0; i < 3; i++)
        api->ReleaseValue(in[i]);
    api->ReleaseMemoryInfo(mem);
    api->ReleaseSession(session);
    api->ReleaseSessionOptions(so);
    tfn_arena_free(arena);
    tfn_onnx_free(model);
    free(samples);
    free(ids);
    free(mask);
    free(types);
    return 0;
}
