/*
 * test_models.c — tests of dataset.h and models.h against the real data and the trained models.
 *
 * Finds the data and the models through the environment, with the build's defaults:
 *   DIGITS_DATA    the data file      (default DIGITS_DEFAULT_DIR/digits.csv.gz)
 *   DIGITS_MODELS  the models folder  (default DIGITS_DEFAULT_DIR/models)
 * DIGITS_DEFAULT_DIR is set by digits.mk to $(BUILD)/digits; paths are relative to the repository
 * root, where tests/run.sh runs the tests. Missing data or models fail the tests (they are not
 * skipped): digits.mk builds them before this program.
 *
 * Checks: the data and its split; each model's held-out accuracy; batch predictions equal the same
 * rows predicted one at a time; a missing, truncated or corrupt file gives NULL and a message
 * naming it, for every kind (and, under LeakSanitizer, leaks nothing); bad input is refused;
 * several threads predicting on one model get the sequential answers; predict fits on a small stack
 * (tiffin runs handlers on 64 KiB coroutine stacks); train → save → load round trip on a small
 * subset. Ends with "test_models: N passed, M failed"; exit status 1 if anything failed.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "dataset.h"
#include "models.h"

#ifndef DIGITS_DEFAULT_DIR
#define DIGITS_DEFAULT_DIR "build/digits"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static const double min_accuracy[DIGITS_KINDS] = {
    [DIGITS_XGBOOST] = 0.93, [DIGITS_LOGREG] = 0.93, [DIGITS_SVM] = 0.96, [DIGITS_MLP] = 0.93};

static char data_path[4096], models_dir[4096], tmp_dir[4096];
static digits_set_t all, train, test;
static digits_model_t *models[DIGITS_KINDS];
static int setup_ok;

/* ---- helpers ------------------------------------------------------------------------------- */

static void model_path(digits_kind_t kind, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", models_dir, digits_kind_filename(kind));
}

static int read_file(const char *path, unsigned char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(size > 0 ? (size_t)size : 1);
    *len = *data ? fread(*data, 1, (size_t)size, f) : 0;
    fclose(f);
    return *data && *len == (size_t)size ? 0 : -1;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* Loading `path` as `kind` must fail with a message that begins with the path. */
static void expect_load_fails(digits_kind_t kind, const char *path, const char *what)
{
    char err[512] = "";
    digits_model_t *m = digits_model_load(kind, path, err, sizeof err);
    if (m) {
        fprintf(stderr, "  %s: loading %s (%s) succeeded\n", digits_kind_name(kind), path, what);
        digits_model_free(m);
    }
    CHECK(m == NULL);
    CHECK(strncmp(err, path, strlen(path)) == 0);
    CHECK(strlen(err) > strlen(path) + 2);
    if (getenv("DIGITS_TEST_VERBOSE"))
        fprintf(stderr, "  %-7s %-28s -> %s\n", digits_kind_name(kind), what, err);
}

static double accuracy(const float *proba, const int *y, size_t n)
{
    size_t right = 0;
    for (size_t i = 0; i < n; i++)
        right += digits_argmax(proba + i * DIGITS_CLASSES) == y[i];
    return (double)right / (double)n;
}

/* ---- data ---------------------------------------------------------------------------------- */

static void test_data(void)
{
    CHECK(setup_ok);
    CHECK_EQ_INT(all.n, 1797);
    CHECK_EQ_INT(train.n + test.n, all.n);
    CHECK_EQ_INT(test.n, 359);
    size_t all_count[DIGITS_CLASSES] = {0}, test_count[DIGITS_CLASSES] = {0};
    for (size_t i = 0; i < all.n; i++)
        all_count[all.y[i]]++;
    for (size_t i = 0; i < test.n; i++)
        test_count[test.y[i]]++;
    for (int c = 0; c < DIGITS_CLASSES; c++) /* stratified: each digit's share, rounded */
        CHECK_EQ_INT(test_count[c], (size_t)((double)all_count[c] * DIGITS_TEST_FRACTION + 0.5));
    for (size_t i = 0; i < all.n * DIGITS_FEATURES; i++)
        if (!(all.x[i] >= 0.0f && all.x[i] <= 1.0f)) {
            CHECK(!"feature outside [0, 1]");
            break;
        }
    /* The same seed gives the same split; another seed a different one. */
    digits_set_t tr2, te2, tr3, te3;
    char err[256];
    CHECK(digits_split(&all, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED, &tr2, &te2, err,
                       sizeof err) == 0);
    CHECK(digits_split(&all, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED + 1, &tr3, &te3, err,
                       sizeof err) == 0);
    CHECK(te2.n == test.n && memcmp(te2.x, test.x, test.n * DIGITS_FEATURES * sizeof(float)) == 0);
    CHECK(te3.n == test.n && memcmp(te3.x, test.x, test.n * DIGITS_FEATURES * sizeof(float)) != 0);
    digits_set_free(&tr2);
    digits_set_free(&te2);
    digits_set_free(&tr3);
    digits_set_free(&te3);
}

static void test_data_errors(void)
{
    digits_set_t s;
    char err[512], path[4200];
    snprintf(path, sizeof path, "%s/no-such-file.csv.gz", tmp_dir);
    CHECK(digits_load(path, &s, err, sizeof err) < 0);
    CHECK(strncmp(err, path, strlen(path)) == 0 && strstr(err, "No such file"));
    snprintf(path, sizeof path, "%s/bad.csv", tmp_dir);
    CHECK(write_file(path, "0,0,0\n", 6) == 0);
    CHECK(digits_load(path, &s, err, sizeof err) < 0);
    CHECK(strncmp(err, path, strlen(path)) == 0 && strstr(err, ":1:"));
    unlink(path);
}

/* ---- accuracy, batch = single rows ---------------------------------------------------------- */

static void check_accuracy(digits_kind_t kind)
{
    CHECK(models[kind] != NULL);
    if (!models[kind])
        return;
    float *proba = malloc(test.n * DIGITS_CLASSES * sizeof *proba);
    char err[256];
    CHECK(digits_model_predict_proba(models[kind], test.x, test.n, proba, err, sizeof err) == 0);
    for (size_t i = 0; i < test.n; i++) {
        double sum = 0;
        for (int c = 0; c < DIGITS_CLASSES; c++)
            sum += proba[i * DIGITS_CLASSES + c];
        if (fabs(sum - 1.0) > 1e-4) {
            CHECK(!"probabilities do not sum to 1");
            break;
        }
    }
    double acc = accuracy(proba, test.y, test.n);
    printf("  %-7s test accuracy %.4f (at least %.2f)\n", digits_kind_name(kind), acc,
           min_accuracy[kind]);
    CHECK(acc >= min_accuracy[kind]);
    free(proba);
}

static void test_accuracy_xgboost(void) { check_accuracy(DIGITS_XGBOOST); }
static void test_accuracy_logreg(void) { check_accuracy(DIGITS_LOGREG); }
static void test_accuracy_svm(void) { check_accuracy(DIGITS_SVM); }
static void test_accuracy_mlp(void) { check_accuracy(DIGITS_MLP); }

static void test_batch_equals_single_rows(void)
{
    CHECK(test.n >= 64);
    float batch[64 * DIGITS_CLASSES], single[64 * DIGITS_CLASSES];
    char err[256];
    for (int k = 0; k < DIGITS_KINDS; k++) {
        if (!models[k]) {
            CHECK(models[k] != NULL);
            continue;
        }
        CHECK(digits_model_predict_proba(models[k], test.x, 64, batch, err, sizeof err) == 0);
        for (size_t i = 0; i < 64; i++)
            CHECK(digits_model_predict_proba(models[k], test.x + i * DIGITS_FEATURES, 1,
                                             single + i * DIGITS_CLASSES, err, sizeof err) == 0);
        if (k != DIGITS_MLP) { /* the libraries predict row by row: identical */
            CHECK(memcmp(batch, single, sizeof batch) == 0);
        } else { /* matrix products may group sums differently by batch size */
            for (size_t i = 0; i < 64 * DIGITS_CLASSES; i++)
                if (fabsf(batch[i] - single[i]) > 1e-6f) {
                    fprintf(stderr, "  mlp: batch and single differ at %zu: %g vs %g\n", i,
                            (double)batch[i], (double)single[i]);
                    CHECK(!"mlp batch != single rows");
                    break;
                }
        }
        for (size_t i = 0; i < 64; i++)
            CHECK_EQ_INT(digits_argmax(batch + i * DIGITS_CLASSES),
                         digits_argmax(single + i * DIGITS_CLASSES));
    }
}

/* ---- loading bad files --------------------------------------------------------------------- */

static void test_load_missing(void)
{
    char path[4200];
    for (int k = 0; k < DIGITS_KINDS; k++) {
        snprintf(path, sizeof path, "%s/missing/%s", tmp_dir, digits_kind_filename(k));
        expect_load_fails(k, path, "missing file");
        char err[512];
        CHECK(digits_model_load(k, path, err, sizeof err) == NULL);
        CHECK(strstr(err, "No such file or directory") != NULL);
        expect_load_fails(k, tmp_dir, "a directory");
    }
}

static void test_load_truncated(void)
{
    static const double cuts[] = {0.0001, 0.01, 0.25, 0.5, 0.9, 0.999};
    char src[4200], dst[4200], what[64];
    for (int k = 0; k < DIGITS_KINDS; k++) {
        unsigned char *data;
        size_t len;
        model_path(k, src, sizeof src);
        if (read_file(src, &data, &len) < 0) {
            CHECK(!"cannot read a model file");
            continue;
        }
        snprintf(dst, sizeof dst, "%s/truncated-%s", tmp_dir, digits_kind_filename(k));
        CHECK(write_file(dst, data, 0) == 0);
        expect_load_fails(k, dst, "empty file");
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            size_t cut = (size_t)((double)len * cuts[i]);
            cut = cut ? cut : 1;
            CHECK(write_file(dst, data, cut) == 0);
            snprintf(what, sizeof what, "truncated to %zu of %zu", cut, len);
            expect_load_fails(k, dst, what);
        }
        CHECK(write_file(dst, data, len - 1) == 0);
        expect_load_fails(k, dst, "last byte cut");
        if (k == DIGITS_XGBOOST) {
            /* Cuts just after a '}' pass the first check and reach XGBoost's parser. */
            int tried = 0;
            for (size_t cut = len / 3; cut < len - 1 && tried < 4; cut++)
                if (data[cut - 1] == '}') {
                    CHECK(write_file(dst, data, cut) == 0);
                    snprintf(what, sizeof what, "cut after '}' at %zu", cut);
                    expect_load_fails(k, dst, what);
                    tried++;
                }
            CHECK(tried > 0);
        }
        free(data);
        unlink(dst);
    }
}

static void test_load_corrupt(void)
{
    char src[4200], dst[4200];
    for (int k = 0; k < DIGITS_KINDS; k++) {
        unsigned char *data;
        size_t len;
        model_path(k, src, sizeof src);
        if (read_file(src, &data, &len) < 0) {
            CHECK(!"cannot read a model file");
            continue;
        }
        snprintf(dst, sizeof dst, "%s/corrupt-%s", tmp_dir, digits_kind_filename(k));

        /* Random bytes of the same size. */
        unsigned char *noise = malloc(len);
        uint64_t state = 99;
        for (size_t i = 0; i < len; i++)
            noise[i] = (unsigned char)digits_rand64(&state);
        CHECK(write_file(dst, noise, len) == 0);
        expect_load_fails(k, dst, "random bytes");
        /* Random bytes with the first and last byte of the real file. */
        noise[0] = data[0];
        noise[len - 1] = data[len - 1];
        CHECK(write_file(dst, noise, len) == 0);
        expect_load_fails(k, dst, "random inside");
        free(noise);

        /* Another kind's file. */
        char other[4200];
        model_path((k + 1) % DIGITS_KINDS, other, sizeof other);
        expect_load_fails(k, other, "another kind's file");

        /* Damage inside the real file: a text number turned into letters, the MLP's weights, or
         * XGBoost's UBJSON structure (a key-length marker). */
        unsigned char *bad = malloc(len);
        memcpy(bad, data, len);
        if (k == DIGITS_LOGREG || k == DIGITS_SVM) {
            size_t at = len / 2;
            while (at < len && !(bad[at] >= '0' && bad[at] <= '9'))
                at++;
            CHECK(at + 3 < len);
            memcpy(bad + at, "x!x", 3);
        } else if (k == DIGITS_MLP) {
            bad[len / 2] ^= 0x40; /* a weight's bits: only the checksum can tell */
        } else {
            CHECK(bad[1] == 'L');
            bad[1] = 0xff; /* the type marker of the first key's length */
        }
        CHECK(write_file(dst, bad, len) == 0);
        expect_load_fails(k, dst, "damaged inside");
        if (k == DIGITS_MLP) { /* a wrong version, then a wrong shape */
            memcpy(bad, data, len);
            bad[8] = 2;
            CHECK(write_file(dst, bad, len) == 0);
            expect_load_fails(k, dst, "version 2");
            memcpy(bad, data, len);
            bad[12] = 63;
            CHECK(write_file(dst, bad, len) == 0);
            expect_load_fails(k, dst, "63 inputs");
            /* trailing garbage */
            unsigned char *longer = malloc(len + 8);
            memcpy(longer, data, len);
            memset(longer + len, 0, 8);
            CHECK(write_file(dst, longer, len + 8) == 0);
            expect_load_fails(k, dst, "trailing bytes");
            free(longer);
        }
        if (k == DIGITS_LOGREG || k == DIGITS_SVM) { /* the text with lines shifted */
            const char *nl = memchr(data, '\n', len);
            size_t skip = nl ? (size_t)(nl - (const char *)data) + 1 : 1;
            CHECK(write_file(dst, data + skip, len - skip) == 0);
            expect_load_fails(k, dst, "first line missing");
        }
        free(bad);
        free(data);
        unlink(dst);
    }
}

/* ---- bad input, arguments ------------------------------------------------------------------ */

static void test_predict_bad_input(void)
{
    float row[DIGITS_FEATURES] = {0}, proba[DIGITS_CLASSES];
    char err[256];
    for (int k = 0; k < DIGITS_KINDS; k++) {
        if (!models[k])
            continue;
        CHECK(digits_model_predict_proba(models[k], NULL, 0, NULL, err, sizeof err) == 0);
        row[5] = NAN;
        CHECK(digits_model_predict_proba(models[k], row, 1, proba, err, sizeof err) < 0);
        CHECK(strstr(err, "feature 5") != NULL);
        row[5] = INFINITY;
        CHECK(digits_model_predict_proba(models[k], row, 1, proba, err, sizeof err) < 0);
        row[5] = 1e6f; /* large but allowed: still probabilities */
        CHECK(digits_model_predict_proba(models[k], row, 1, proba, err, sizeof err) == 0);
        double sum = 0;
        for (int c = 0; c < DIGITS_CLASSES; c++)
            sum += proba[c];
        CHECK(fabs(sum - 1.0) < 1e-3);
        row[5] = 0;
        CHECK_EQ_INT(digits_model_kind(models[k]), k);
    }
    digits_kind_t kind;
    CHECK(digits_kind_from_name("svm", &kind) == 0 && kind == DIGITS_SVM);
    CHECK(digits_kind_from_name("forest", &kind) < 0);
    CHECK(digits_kind_name((digits_kind_t)7) == NULL);
    CHECK(digits_model_load((digits_kind_t)7, "x", err, sizeof err) == NULL);
}

/* ---- threads ------------------------------------------------------------------------------- */

typedef struct job {
    const digits_model_t *model;
    const float *expect;
    size_t rows;
    int repeats;
    int mismatches;
} job_t;

static void *predict_job(void *arg)
{
    job_t *job = arg;
    float *proba = malloc(job->rows * DIGITS_CLASSES * sizeof *proba);
    char err[256];
    for (int r = 0; r < job->repeats; r++) {
        /* different batch sizes from different threads, all compared with the reference */
        size_t step = (size_t)(r % 3) * 31 + 1;
        for (size_t i = 0; i < job->rows; i += step) {
            size_t n = job->rows - i < step ? job->rows - i : step;
            if (digits_model_predict_proba(job->model, test.x + i * DIGITS_FEATURES, n,
                                           proba + i * DIGITS_CLASSES, err, sizeof err) < 0) {
                job->mismatches++;
                continue;
            }
        }
        for (size_t i = 0; i < job->rows * DIGITS_CLASSES; i++)
            if (fabsf(proba[i] - job->expect[i]) > 1e-6f) {
                job->mismatches++;
                break;
            }
    }
    free(proba);
    return NULL;
}

static void test_concurrent_predict(void)
{
    enum { THREADS = 4 };
    size_t rows = test.n < 128 ? test.n : 128;
    float *expect = malloc(rows * DIGITS_CLASSES * sizeof *expect);
    char err[256];
    for (int k = 0; k < DIGITS_KINDS; k++) {
        if (!models[k]) {
            CHECK(models[k] != NULL);
            continue;
        }
        CHECK(digits_model_predict_proba(models[k], test.x, rows, expect, err, sizeof err) == 0);
        pthread_t tid[THREADS];
        job_t jobs[THREADS];
        for (int t = 0; t < THREADS; t++) {
            jobs[t] = (job_t){.model = models[k],
                              .expect = expect,
                              .rows = rows,
                              .repeats = k == DIGITS_SVM ? 2 : 6};
            CHECK(pthread_create(&tid[t], NULL, predict_job, &jobs[t]) == 0);
        }
        for (int t = 0; t < THREADS; t++) {
            pthread_join(tid[t], NULL);
            CHECK_EQ_INT(jobs[t].mismatches, 0);
        }
    }
    free(expect);
}

/* Concurrent loads: libsvm's loader has static state, serialised inside model_logreg_svm.c. */
static void *load_job(void *arg)
{
    int *failures = arg;
    char path[4200], err[512];
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < DIGITS_KINDS; k++) {
            model_path(k, path, sizeof path);
            digits_model_t *m = digits_model_load(k, path, err, sizeof err);
            if (!m)
                ++*failures;
            digits_model_free(m);
        }
    return NULL;
}

static void test_concurrent_load(void)
{
    pthread_t tid[3];
    int failures[3] = {0};
    for (int t = 0; t < 3; t++)
        CHECK(pthread_create(&tid[t], NULL, load_job, &failures[t]) == 0);
    for (int t = 0; t < 3; t++) {
        pthread_join(tid[t], NULL);
        CHECK_EQ_INT(failures[t], 0);
    }
}

/* ---- stack use: tiffin runs handlers on 64 KiB coroutine stacks ---------------------------- */

#define PAINT       0xa5
#define PROBE_STACK (1u << 20)

typedef struct probe {
    const digits_model_t *model; /* NULL: do nothing (baseline) */
    int ok;
} probe_t;

static void *probe_job(void *arg)
{
    probe_t *p = arg;
    float proba[64 * DIGITS_CLASSES];
    char err[256];
    p->ok =
        !p->model || digits_model_predict_proba(p->model, test.x, 64, proba, err, sizeof err) == 0;
    return NULL;
}

/* Bytes of stack a thread running probe_job touched (glibc's TLS block at the top included). */
static size_t stack_used(probe_t *p)
{
    unsigned char *stack =
        mmap(NULL, PROBE_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED)
        return SIZE_MAX;
    memset(stack, PAINT, PROBE_STACK);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, PROBE_STACK);
    pthread_t tid;
    size_t used = SIZE_MAX;
    if (pthread_create(&tid, &attr, probe_job, p) == 0) {
        pthread_join(tid, NULL);
        size_t low = 0;
        while (low < PROBE_STACK && stack[low] == PAINT)
            low++;
        used = PROBE_STACK - low;
    }
    pthread_attr_destroy(&attr);
    munmap(stack, PROBE_STACK);
    return used;
}

static void test_predict_stack_use(void)
{
    probe_t base = {0};
    size_t baseline = stack_used(&base);
    CHECK(baseline != SIZE_MAX);
    for (int k = 0; k < DIGITS_KINDS; k++) {
        if (!models[k])
            continue;
        probe_t p = {.model = models[k]};
        size_t used = stack_used(&p);
        CHECK(p.ok);
        CHECK(used != SIZE_MAX && used >= baseline);
        size_t extra = used - baseline;
        printf("  %-7s predict of 64 rows used %zu bytes of stack\n", digits_kind_name(k), extra);
        if (!UNDER_ASAN) /* ASan's redzones make frames larger: only the plain build is held to it
                          */
            CHECK(extra <= 32 * 1024);
    }
}

/* ---- train → save → load round trip -------------------------------------------------------- */

static void test_train_round_trip(void)
{
    /* A small, quick subset: the first 300 training rows. */
    size_t n = train.n < 300 ? train.n : 300;
    char path[4200], err[512];
    float *proba = malloc(test.n * DIGITS_CLASSES * sizeof *proba);
    for (int k = 0; k < DIGITS_KINDS; k++) {
        snprintf(path, sizeof path, "%s/small-%s", tmp_dir, digits_kind_filename(k));
        int rc = digits_model_train(k, train.x, train.y, n, path, err, sizeof err);
        if (rc < 0)
            fprintf(stderr, "  %s\n", err);
        CHECK(rc == 0);
        digits_model_t *m = digits_model_load(k, path, err, sizeof err);
        CHECK(m != NULL);
        if (m) {
            CHECK(digits_model_predict_proba(m, test.x, test.n, proba, err, sizeof err) == 0);
            double acc = accuracy(proba, test.y, test.n);
            printf("  %-7s trained on %zu rows: test accuracy %.4f\n", digits_kind_name(k), n, acc);
            CHECK(acc >= 0.80);
            CHECK(strcmp(digits_model_path(m), path) == 0);
            digits_model_free(m);
        }
        /* Training is deterministic: the same rows give the same file. */
        char again[4300];
        snprintf(again, sizeof again, "%s.again", path);
        CHECK(digits_model_train(k, train.x, train.y, n, again, err, sizeof err) == 0);
        unsigned char *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0;
        CHECK(read_file(path, &a, &alen) == 0 && read_file(again, &b, &blen) == 0);
        CHECK(alen == blen && a && b && memcmp(a, b, alen) == 0);
        free(a);
        free(b);
        unlink(path);
        unlink(again);

        /* A folder that does not exist: the error names the path; nothing is left behind. */
        snprintf(path, sizeof path, "%s/no-such-dir/%s", tmp_dir, digits_kind_filename(k));
        CHECK(digits_model_train(k, train.x, train.y, n, path, err, sizeof err) < 0);
        CHECK(strncmp(err, path, strlen(path)) == 0);
        /* Bad arguments. */
        int bad_y[20] = {0};
        CHECK(digits_model_train(k, train.x, bad_y, 20, path, err, sizeof err) < 0);
        CHECK(strstr(err, "digit 1") != NULL);
    }
    free(proba);
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(void)
{
    const char *d = getenv("DIGITS_DATA"), *m = getenv("DIGITS_MODELS");
    snprintf(data_path, sizeof data_path, "%s", d && *d ? d : DIGITS_DEFAULT_DIR "/digits.csv.gz");
    snprintf(models_dir, sizeof models_dir, "%s", m && *m ? m : DIGITS_DEFAULT_DIR "/models");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/test_digits_models.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "test_models: mkdtemp %s: %s\n", tmp_dir, strerror(errno));
        return 1;
    }

    char err[512];
    setup_ok = digits_load(data_path, &all, err, sizeof err) == 0;
    if (!setup_ok)
        fprintf(stderr, "test_models: %s (set DIGITS_DATA, or run make digits-models)\n", err);
    else
        setup_ok = digits_split(&all, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED, &train, &test, err,
                                sizeof err) == 0;
    for (int k = 0; setup_ok && k < DIGITS_KINDS; k++) {
        char path[4200];
        model_path(k, path, sizeof path);
        models[k] = digits_model_load(k, path, err, sizeof err);
        if (!models[k])
            fprintf(stderr, "test_models: %s (set DIGITS_MODELS, or run make digits-models)\n",
                    err);
    }

    RUN(test_data);
    if (setup_ok) {
        RUN(test_data_errors);
        RUN(test_accuracy_xgboost);
        RUN(test_accuracy_logreg);
        RUN(test_accuracy_svm);
        RUN(test_accuracy_mlp);
        RUN(test_batch_equals_single_rows);
        RUN(test_load_missing);
        RUN(test_load_truncated);
        RUN(test_load_corrupt);
        RUN(test_predict_bad_input);
        RUN(test_concurrent_predict);
        RUN(test_concurrent_load);
        RUN(test_predict_stack_use);
        RUN(test_train_round_trip);
    }

    for (int k = 0; k < DIGITS_KINDS; k++)
        digits_model_free(models[k]);
    digits_set_free(&all);
    digits_set_free(&train);
    digits_set_free(&test);
    if (rmdir(tmp_dir) < 0) { /* every test removes what it writes */
        fprintf(stderr, "test_models: rmdir %s: %s\n", tmp_dir, strerror(errno));
        check_failed++;
    }
    return check_summary("test_models");
}
