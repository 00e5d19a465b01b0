/*
 * train.c — digits-train: trains the four digit classifiers of models.h on the training split of
 * digits.csv.gz, saves them into a folder, and prints each one's held-out accuracy.
 *
 *   digits-train --data build/digits/digits.csv.gz --out build/digits/models [--force] [--bench]
 *                [--fit-weights] [--test-csv PATH]
 *
 * A model whose file is newer than the data is not retrained (unless --force); it is still loaded
 * and evaluated. --bench also times predictions: one row at a time and batches of 64.
 * --fit-weights fits the soft-vote weights of the ensemble by 5-fold cross-validation on the
 * training rows (never the test rows) and writes them to MODELDIR/weights, where the Aggregator
 * service reads them; the held-out accuracy of the weighted and of the equal-weight soft vote is
 * then printed too. --test-csv writes the held-out rows (64 pixels 0..16, then the label) as CSV,
 * for the end-to-end test and the demo.
 * Exit status: 0 if every model is trained (or cached), loads and predicts; 1 otherwise; 2 on bad
 * usage.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <unistd.h>

#include "dataset.h"
#include "models.h"
#include "weights.h"

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

/* ---------------------------------------------------------------------------------------------
 * Soft-vote weights by cross-validation
 * ------------------------------------------------------------------------------------------- */

#define CV_FOLDS     5
#define WEIGHT_STEPS 20 /* weights are multiples of 1/20, each at least 1/20, summing to 1 */

/* Mean log-loss and accuracy of the soft vote with weights w over n rows of probabilities. */
static double vote_loss(float *const proba[DIGITS_KINDS], const int *y, size_t n,
                        const double w[DIGITS_KINDS], size_t *right)
{
    double loss = 0;
    *right = 0;
    for (size_t i = 0; i < n; i++) {
        float q[DIGITS_CLASSES];
        for (int c = 0; c < DIGITS_CLASSES; c++) {
            double sum = 0;
            for (int k = 0; k < DIGITS_KINDS; k++)
                sum += w[k] * proba[k][i * DIGITS_CLASSES + c];
            q[c] = (float)sum;
        }
        *right += digits_argmax(q) == y[i];
        loss -= log(q[y[i]] > 1e-7f ? q[y[i]] : 1e-7);
    }
    return loss / (double)n;
}

/*
 * Fits the weights of the soft vote on the training rows alone: each model is trained CV_FOLDS
 * times, each time without one fold (rows i with i % CV_FOLDS == f), and predicts that fold, so
 * every training row gets out-of-fold probabilities from every kind. The weights are then those
 * of the simplex grid (multiples of 1/20, each at least 1/20 so that every model keeps a say,
 * sum 1) with the least out-of-fold log-loss — the usual way to weight a soft vote, and one that
 * never looks at the test rows. Writes MODELDIR/weights. Returns 0 or -1 (message printed).
 */
static int fit_weights(const digits_set_t *train, const char *dir, double best[DIGITS_KINDS])
{
    char err[512];
    size_t n = train->n;
    float *oof[DIGITS_KINDS] = {NULL}, *x = malloc(n * DIGITS_FEATURES * sizeof *x);
    float *hx = malloc(n * DIGITS_FEATURES * sizeof *hx), *hp = NULL;
    int *y = malloc(n * sizeof *y);
    size_t *held = malloc(n * sizeof *held);
    int rc = -1;
    if (!x || !hx || !y || !held || !(hp = malloc(n * DIGITS_CLASSES * sizeof *hp)))
        goto out;
    for (int k = 0; k < DIGITS_KINDS; k++)
        if (!(oof[k] = malloc(n * DIGITS_CLASSES * sizeof *oof[k])))
            goto out;
    for (int f = 0; f < CV_FOLDS; f++) {
        size_t m = 0, h = 0;
        for (size_t i = 0; i < n; i++) {
            const float *row = train->x + i * DIGITS_FEATURES;
            if ((int)(i % CV_FOLDS) == f) {
                memcpy(hx + h * DIGITS_FEATURES, row, DIGITS_FEATURES * sizeof *row);
                held[h++] = i;
            } else {
                memcpy(x + m * DIGITS_FEATURES, row, DIGITS_FEATURES * sizeof *row);
                y[m++] = train->y[i];
            }
        }
        for (int k = 0; k < DIGITS_KINDS; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/.cv%d.%ld.%s", dir, f, (long)getpid(),
                     digits_kind_filename(k));
            digits_model_t *model = NULL;
            int ok = digits_model_train(k, x, y, m, path, err, sizeof err) == 0 &&
                     (model = digits_model_load(k, path, err, sizeof err)) &&
                     digits_model_predict_proba(model, hx, h, hp, err, sizeof err) == 0;
            digits_model_free(model);
            unlink(path);
            if (!ok) {
                fprintf(stderr, "digits-train: cross-validation: %s\n", err);
                goto out;
            }
            for (size_t j = 0; j < h; j++)
                memcpy(oof[k] + held[j] * DIGITS_CLASSES, hp + j * DIGITS_CLASSES,
                       DIGITS_CLASSES * sizeof *hp);
        }
    }
    for (size_t i = 0; i < n; i++)
        y[i] = train->y[i];

    double best_loss = INFINITY, w[DIGITS_KINDS];
    for (int a = 1; a < WEIGHT_STEPS; a++)
        for (int b = 1; a + b < WEIGHT_STEPS; b++)
            for (int c = 1; a + b + c < WEIGHT_STEPS; c++) {
                int d = WEIGHT_STEPS - a - b - c;
                w[0] = (double)a / WEIGHT_STEPS, w[1] = (double)b / WEIGHT_STEPS;
                w[2] = (double)c / WEIGHT_STEPS, w[3] = (double)d / WEIGHT_STEPS;
                size_t right;
                double loss = vote_loss(oof, y, n, w, &right);
                if (loss < best_loss) {
                    best_loss = loss;
                    memcpy(best, w, sizeof w);
                }
            }
    printf("cross-validation (%d folds of the %zu training rows), out-of-fold:\n", CV_FOLDS, n);
    for (int k = 0; k < DIGITS_KINDS; k++) {
        double one[DIGITS_KINDS] = {0};
        one[k] = 1;
        size_t right;
        double loss = vote_loss(oof, y, n, one, &right);
        printf("  %-18s accuracy %.4f  log-loss %.4f\n", digits_kind_name(k),
               (double)right / (double)n, loss);
    }
    double equal[DIGITS_KINDS] = {0.25, 0.25, 0.25, 0.25};
    size_t right;
    double loss = vote_loss(oof, y, n, equal, &right);
    printf("  %-18s accuracy %.4f  log-loss %.4f\n", "vote, equal", (double)right / (double)n,
           loss);
    loss = vote_loss(oof, y, n, best, &right);
    printf("  %-18s accuracy %.4f  log-loss %.4f\n", "vote, fitted", (double)right / (double)n,
           loss);

    char text[256], path[4096], tmp[4200];
    digits_weights_format(best, text, sizeof text);
    snprintf(path, sizeof path, "%s/weights", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
        fprintf(stderr, "digits-train: %s: %s\n", path, strerror(errno));
        if (f)
            unlink(tmp);
        goto out;
    }
    printf("weights (least log-loss): %s -> %s\n", text, path);
    rc = 0;
out:
    if (rc < 0 && !x)
        fprintf(stderr, "digits-train: out of memory\n");
    for (int k = 0; k < DIGITS_KINDS; k++)
        free(oof[k]);
    free(x), free(hx), free(hp), free(y), free(held);
    return rc;
}

/* Writes the test rows as CSV (64 pixels 0..16, the label), atomically. */
static int write_test_csv(const digits_set_t *test, const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f != NULL;
    for (size_t i = 0; ok && i < test->n; i++) {
        for (int j = 0; ok && j < DIGITS_FEATURES; j++)
            ok = fprintf(f, "%d,", (int)lroundf(test->x[i * DIGITS_FEATURES + j] * 16)) > 0;
        ok = ok && fprintf(f, "%d\n", test->y[i]) > 0;
    }
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) < 0) {
        fprintf(stderr, "digits-train: %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    printf("test rows: %s (%zu rows)\n", path, test->n);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: digits-train --data PATH/digits.csv.gz --out MODELDIR [--force] [--bench]\n"
            "                    [--fit-weights] [--test-csv PATH]\n"
            "Trains %s, %s, %s and %s on the training split and saves them in MODELDIR.\n"
            "--fit-weights: fit the soft-vote weights by cross-validation -> MODELDIR/weights\n"
            "--test-csv PATH: write the held-out rows (64 pixels 0..16, label) as CSV\n",
            digits_kind_filename(0), digits_kind_filename(1), digits_kind_filename(2),
            digits_kind_filename(3));
}

int main(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *test_csv = NULL;
    bool force = false, bench = false, fit = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--force") == 0)
            force = true;
        else if (strcmp(argv[i], "--bench") == 0)
            bench = true;
        else if (strcmp(argv[i], "--fit-weights") == 0)
            fit = true;
        else if (strcmp(argv[i], "--test-csv") == 0 && i + 1 < argc)
            test_csv = argv[++i];
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
    float *proba = malloc(test.n * DIGITS_CLASSES * sizeof *proba), *kept[DIGITS_KINDS] = {NULL};
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
        if ((kept[k] = malloc(test.n * DIGITS_CLASSES * sizeof *proba)))
            memcpy(kept[k], proba, test.n * DIGITS_CLASSES * sizeof *proba);
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
    double w[DIGITS_KINDS];
    if (!failures && fit && fit_weights(&train, out, w) < 0)
        failures++;
    if (!failures && fit && kept[0] && kept[1] && kept[2] && kept[3]) {
        double equal[DIGITS_KINDS] = {0.25, 0.25, 0.25, 0.25};
        size_t right_equal, right_fitted;
        vote_loss(kept, test.y, test.n, equal, &right_equal);
        vote_loss(kept, test.y, test.n, w, &right_fitted);
        printf("%-8s %-14s %9s %9.4f\n", "vote", "equal weights", "",
               (double)right_equal / (double)test.n);
        printf("%-8s %-14s %9s %9.4f\n", "vote", "fitted weights", "",
               (double)right_fitted / (double)test.n);
    }
    if (!failures && test_csv && write_test_csv(&test, test_csv) < 0)
        failures++;
    for (int k = 0; k < DIGITS_KINDS; k++)
        free(kept[k]);
    free(proba);
    digits_set_free(&all);
    digits_set_free(&train);
    digits_set_free(&test);
    return failures ? 1 : 0;
}
