/*
 * offline.c — the physical limit of int8 MiniLM on this machine: rows (sentences) per second
 * through ONNX Runtime's C API in a plain C loop, at each batch size.
 *
 * The session is made as tiffin's ONNX backend makes it (lib/backends/onnx.c): THREADS intra-op
 * threads, 1 inter-op thread, all graph optimisations, no spinning. The inputs are made once
 * per batch size (OrtValues over C arrays); each call is one OrtRun with the output released.
 * Sizes are measured in round-robin rounds (each round times every size), so that a shared
 * machine's slow periods fall on all sizes alike; the figure per size is the best round's
 * median, in rows per second. Run it pinned to the server's core (taskset).
 *
 *   build/bench/batch-minilm MODEL.onnx [SEQ [THREADS [SECONDS_PER_SIZE [ROUNDS]]]]
 *   build/bench/batch-minilm MODEL.onnx run BATCH SECONDS [SEQ [THREADS]]
 *
 * Output of the first form (one line per size, then the best): "size ROWS_PER_S MS_PER_BATCH"
 * and "best SIZE ROWS_PER_S". Sizes 1, 2, 4, 8, 16, 32; default sequence 16, 1 thread, 0.4 s
 * per size per round, 3 rounds. The second form calls one batch size back to back for SECONDS
 * and prints "run BATCH ROWS_PER_S ROWS_PER_CPU_S": rows over wall time (not a best case), the
 * limit measured over the same kind of window as a served run, so that a shared machine's load
 * of the moment falls on both; and rows over the process's CPU time, which other processes'
 * load hardly moves.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <onnxruntime_c_api.h>

#ifndef TFN__ONNXRUNTIME_DEFAULT
#define TFN__ONNXRUNTIME_DEFAULT "build/deps/onnxruntime/lib/libonnxruntime.so.1"
#endif

#define NSIZES 6
static const int64_t sizes[NSIZES] = {1, 2, 4, 8, 16, 32};
static const char *const names[3] = {"input_ids", "attention_mask", "token_type_ids"};

static const OrtApi *api;

#define ORT_CHECK(expr)                                                                            \
    do {                                                                                           \
        OrtStatus *st_ = (expr);                                                                   \
        if (st_) {                                                                                 \
            fprintf(stderr, "%s: %s\n", #expr, api->GetErrorMessage(st_));                         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.onnx [SEQ [THREADS [SECONDS_PER_SIZE [ROUNDS]]]]\n",
                argv[0]);
        return 2;
    }
    const char *model_path = argv[1];
    int run_mode = argc > 2 && strcmp(argv[2], "run") == 0;
    int64_t run_batch = 0;
    double run_seconds = 0;
    if (run_mode) {
        if (argc < 5) {
            fprintf(stderr, "usage: %s MODEL.onnx run BATCH SECONDS [SEQ [THREADS]]\n", argv[0]);
            return 2;
        }
        run_batch = atoll(argv[3]);
        run_seconds = atof(argv[4]);
        argv += 3;
        argc -= 3;
        int ok = 0;
        for (int s = 0; s < NSIZES; s++)
            ok |= sizes[s] == run_batch;
        if (!ok || run_seconds <= 0) {
            fprintf(stderr, "run: BATCH must be one of 1, 2, 4, 8, 16, 32; SECONDS > 0\n");
            return 2;
        }
    }
    int64_t seq = argc > 2 ? atoll(argv[2]) : 16;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    double seconds = argc > 4 ? atof(argv[4]) : 0.4;
    int rounds = argc > 5 ? atoi(argv[5]) : 3;
    if (seq < 2 || threads < 1 || seconds <= 0 || rounds < 1 || rounds > 16) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    const char *lib_path =
        getenv("TFN_ONNXRUNTIME") ? getenv("TFN_ONNXRUNTIME") : TFN__ONNXRUNTIME_DEFAULT;
    void *lib = dlopen(lib_path, RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "dlopen %s: %s\n", lib_path, dlerror());
        return 1;
    }
    const OrtApiBase *(*get_base)(void);
    *(void **)&get_base = dlsym(lib, "OrtGetApiBase");
    if (!get_base) {
        fprintf(stderr, "%s: no OrtGetApiBase\n", lib_path);
        return 1;
    }
    api = get_base()->GetApi(ORT_API_VERSION);
    OrtEnv *env;
    OrtSessionOptions *so;
    OrtSession *session;
    OrtMemoryInfo *mem;
    ORT_CHECK(api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "offline", &env));
    ORT_CHECK(api->CreateSessionOptions(&so));
    ORT_CHECK(api->SetIntraOpNumThreads(so, threads));
    ORT_CHECK(api->SetInterOpNumThreads(so, 1));
    ORT_CHECK(api->SetSessionGraphOptimizationLevel(so, ORT_ENABLE_ALL));
    ORT_CHECK(api->AddSessionConfigEntry(so, "session.intra_op.allow_spinning", "0"));
    ORT_CHECK(api->AddSessionConfigEntry(so, "session.inter_op.allow_spinning", "0"));
    ORT_CHECK(api->CreateSession(env, model_path, so, &session));
    ORT_CHECK(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mem));

    /* Inputs for the largest size; smaller sizes use a prefix (row-major [batch, seq]). */
    int64_t nmax = sizes[NSIZES - 1] * seq;
    int64_t *ids = malloc((size_t)nmax * 8), *mask = malloc((size_t)nmax * 8),
            *types = calloc((size_t)nmax, 8);
    if (!ids || !mask || !types)
        return 1;
    for (int64_t i = 0; i < nmax; i++) {
        int64_t j = i % seq;
        ids[i] = j == 0 ? 101 : j == seq - 1 ? 102 : 1000 + ((j - 1) * 7919) % 20000;
        mask[i] = 1;
    }
    int64_t *data[3] = {ids, mask, types};
    OrtValue *in[NSIZES][3];
    for (int s = 0; s < NSIZES; s++) {
        int64_t shape[2] = {sizes[s], seq};
        for (int k = 0; k < 3; k++)
            ORT_CHECK(api->CreateTensorWithDataAsOrtValue(
                mem, data[k], (size_t)(sizes[s] * seq) * 8, shape, 2,
                ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &in[s][k]));
    }
    const char *out_names[1] = {"last_hidden_state"};

    /* Warm-up: one call per size (the first call of a shape plans its memory). */
    for (int s = 0; s < NSIZES; s++) {
        OrtValue *out = NULL;
        ORT_CHECK(
            api->Run(session, NULL, names, (const OrtValue *const *)in[s], 3, out_names, 1, &out));
        api->ReleaseValue(out);
    }
    if (run_mode) {
        int s = 0;
        while (sizes[s] != run_batch)
            s++;
        long calls = 0;
        struct timespec c0, c1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
        double start = now_s(), elapsed;
        do {
            OrtValue *out = NULL;
            ORT_CHECK(api->Run(session, NULL, names, (const OrtValue *const *)in[s], 3, out_names,
                               1, &out));
            api->ReleaseValue(out);
            calls++;
        } while ((elapsed = now_s() - start) < run_seconds);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
        double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
        printf("run %lld %.1f %.1f\n", (long long)run_batch, (double)(calls * run_batch) / elapsed,
               (double)(calls * run_batch) / cpu);
        goto done;
    }
    enum { MAXCALLS = 4096 };
    static double t[MAXCALLS];
    double best_ms[NSIZES];
    for (int s = 0; s < NSIZES; s++)
        best_ms[s] = 1e30;
    for (int r = 0; r < rounds; r++) {
        for (int s = 0; s < NSIZES; s++) {
            int n = 0;
            double start = now_s();
            while (n < MAXCALLS && (n < 5 || now_s() - start < seconds)) {
                OrtValue *out = NULL;
                double t0 = now_s();
                ORT_CHECK(api->Run(session, NULL, names, (const OrtValue *const *)in[s], 3,
                                   out_names, 1, &out));
                t[n++] = now_s() - t0;
                api->ReleaseValue(out);
            }
            qsort(t, (size_t)n, sizeof *t, cmp);
            double med = t[n / 2] * 1e3;
            if (med < best_ms[s])
                best_ms[s] = med;
        }
    }
    printf("size rows_per_s ms_per_batch\n");
    int best = 0;
    for (int s = 0; s < NSIZES; s++) {
        double rps = (double)sizes[s] * 1e3 / best_ms[s];
        printf("%lld %.1f %.3f\n", (long long)sizes[s], rps, best_ms[s]);
        if (rps > (double)sizes[best] * 1e3 / best_ms[best])
            best = s;
    }
    printf("best %lld %.1f\n", (long long)sizes[best], (double)sizes[best] * 1e3 / best_ms[best]);
done:
    for (int s = 0; s < NSIZES; s++)
        for (int k = 0; k < 3; k++)
            api->ReleaseValue(in[s][k]);
    api->ReleaseMemoryInfo(mem);
    api->ReleaseSession(session);
    api->ReleaseSessionOptions(so);
    api->ReleaseEnv(env);
    free(ids);
    free(mask);
    free(types);
    return 0;
}
