/*
 * offline.c — the offline limit of bench/batch: the digits MLP's own throughput at each batch size
 * in a plain C loop on one thread (no server, no copies), the ceiling batching can approach.
 *
 *   build/bench/batch-offline [MODEL] [SECONDS_PER_SIZE]     (default build/digits/models/mlp.bin)
 *
 * Prints one line per batch size: "size rows_per_s us_per_call", then the best.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dataset.h"
#include "models.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "build/digits/models/mlp.bin";
    double seconds = argc > 2 ? atof(argv[2]) : 0.3;
    char err[256];
    digits_model_t *m = digits_model_load(DIGITS_MLP, path, err, sizeof err);
    if (!m) {
        fprintf(stderr, "batch-offline: %s\n", err);
        return 1;
    }
    enum { MAX = 256 };
    static float x[MAX * DIGITS_FEATURES], proba[MAX * DIGITS_CLASSES];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = (float)(i % 17) / 16.0f;
    static const int sizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    double best = 0;
    int best_size = 0;
    printf("size rows_per_s us_per_call\n");
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        long calls = 0;
        double t0 = now_s(), t;
        do {
            if (digits_model_predict_proba(m, x, (size_t)sizes[s], proba, err, sizeof err) < 0) {
                fprintf(stderr, "batch-offline: %s\n", err);
                return 1;
            }
            calls++;
        } while ((t = now_s() - t0) < seconds);
        double rows = (double)calls * sizes[s] / t;
        printf("%d %.0f %.2f\n", sizes[s], rows, t / (double)calls * 1e6);
        if (rows > best) {
            best = rows;
            best_size = sizes[s];
        }
    }
    printf("best %d %.0f\n", best_size, best);
    digits_model_free(m);
    return 0;
}
