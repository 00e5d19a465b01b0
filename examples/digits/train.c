/*
 * train.c — digits-train: trains the four digit classifiers of models.h on the training split of
 * digits.csv.gz, saves them into a folder, and prints each one's held-out accuracy.
 *
 *   digits-train --data build/digits/digits.csv.gz --out build/digits/models [--force] [--bench]
 *
 * A model whose file is newer than the data is not retrained (unless --force); it is still loaded
 * and evaluated. --bench also times predictions: one row at a time and batches of 64.
 * Exit status: 0 if every model is trained (or cached), loads and predicts; 1 otherwise; 2 on bad
 * usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dataset.h"
#include "models.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Is file `a` strictly newer than file `b`? False if `a` does not exist. */
static bool newer_than(const char *a, const struct stat *b)
{
    struct stat st;
    if (stat(a, &st) < 0)
        return false;
    if (st.st_mtim.tv_sec != b->st_mtim.tv_sec)
        return st.st_mtim.tv_sec > b->st_mtim.tv_sec;
    return st.st_mtim.tv_nsec > b->st_mtim.tv_nsec;
}

/* Microseconds per call of predict on `rows` rows, over about `total` rows of the test set. */
static double time_predict(const digits_model_t *m, const digits_set_t *test, size_t rows,
                           size_t total, float *proba)
{
    char err[256];
    size_t calls = total / rows, done = 0;
    double t0 = now_s();
    for (size_t c = 0; c < calls; c++) {
        size_t start = (c * rows) % (test->n - rows + 1);
        if (digits_model_predict_proba(m, test->x + start * DIGITS_FEATURES, rows, proba, err,
                                       sizeof err) < 0) {
            fprintf(stderr, "digits-train: %s\n", err);
            return -1;
        }
        done++;
    }
    return (now_s() - t0) * 1e6 / (double)done;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: digits-train --data PATH/digits.csv.gz --out MODELDIR [--force] [--bench]\n"
            "Trains %s, %s, %s and %s on the training split and saves them in MODELDIR.\n",
            digits_kind_filename(0), digits_kind_filename(1), digits_kind_filename(2),
            digits_kind_filename(3));
}

int main(int argc, char **argv)
{
    const char *data = NULL, *out = NULL;
    bool force = false, bench = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--force") == 0)
            force = true;
        else if (strcmp(argv[i], "--bench") == 0)
            bench = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "digits-train: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!data || !out) {
        usage(stderr);
        return 2;
    }

    char err[512];
    digits_set_t all, train, test;
    struct stat data_st;
    if (stat(data, &data_st) < 0) {
        fprintf(stderr, "digits-train: %s: %s\n", data, strerror(errno));
        return 1;
    }
    if (digits_load(data, &all, err, sizeof err) < 0) {
        fprintf(stderr, "digits-train: %s\n", err);
        return 1;
    }
    if (digits_split(&all, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED, &train, &test, err,
                     sizeof err) < 0) {
        fprintf(stderr, "digits-train: %s\n", err);
        digits_set_free(&all);
        return 1;
    }
    if (mkdir_p(out) < 0) {
        fprintf(stderr, "digits-train: %s: %s\n", out, strerror(errno));
        return 1;
    }
    printf("data: %s: %zu rows; train %zu, test %zu (stratified 80/20, seed %u)\n", data, all.n,
           train.n, test.n, DIGITS_SPLIT_SEED);
    printf("%-8s %-14s %9s %9s", "model", "file", "train_s", "test_acc");
    if (bench)
        printf(" %12s %12s %12s", "1row_us", "64rows_us", "per_row_us");
    printf("\n");

    int failures = 0;
    float *proba = malloc(test.n * DIGITS_CLASSES * sizeof *proba);
    if (!proba) {
        fprintf(stderr, "digits-train: out of memory\n");
        return 1;
    }
    for (int k = 0; k < DIGITS_KINDS; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", out, digits_kind_filename(k));
        char train_s[32] = "cached";
        if (force || !newer_than(path, &data_st)) {
            double t0 = now_s();
            if (digits_model_train(k, train.x, train.y, train.n, path, err, sizeof err) < 0) {
                fprintf(stderr, "digits-train: %s\n", err);
                failures++;
                continue;
            }
            snprintf(train_s, sizeof train_s, "%.2f", now_s() - t0);
        }
        digits_model_t *m = digits_model_load(k, path, err, sizeof err);
        if (!m || digits_model_predict_proba(m, test.x, test.n, proba, err, sizeof err) < 0) {
            fprintf(stderr, "digits-train: %s\n", err);
            digits_model_free(m);
            failures++;
            continue;
        }
        size_t right = 0;
        for (size_t i = 0; i < test.n; i++)
            right += digits_argmax(proba + i * DIGITS_CLASSES) == test.y[i];
        printf("%-8s %-14s %9s %9.4f", digits_kind_name(k), digits_kind_filename(k), train_s,
               (double)right / (double)test.n);
        if (bench && test.n >= 64) {
            size_t total = k == DIGITS_SVM ? 2048 : 16384;
            double one = time_predict(m, &test, 1, total, proba);
            double batch = time_predict(m, &test, 64, total, proba);
            printf(" %12.1f %12.1f %12.2f", one, batch, batch / 64);
        }
        printf("\n");
        fflush(stdout);
        digits_model_free(m);
    }
    free(proba);
    digits_set_free(&all);
    digits_set_free(&train);
    digits_set_free(&test);
    return failures ? 1 : 0;
}
