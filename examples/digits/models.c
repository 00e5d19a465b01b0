/*
 * models.c — the four digit classifiers of models.h: training, saving, checked loading and batch
 * prediction for XGBoost, liblinear, libsvm and a small OpenBLAS perceptron.
 *
 * Layout: shared helpers (errors, files, number syntax); then one section per kind with its
 * train / load / predict; then the public functions, which dispatch on the kind.
 *
 * Why the loaders check files themselves: libsvm's and liblinear's text loaders trust their input
 * (libsvm 3.24 passes NULL to strtod on a truncated support-vector section and crashes; liblinear
 * 2.3 leaks its weights on a short file), and a random file handed to XGBoost may be taken for its
 * old binary format. So each loader reads the whole file, checks its structure, and only then
 * hands it to the library. Saves are atomic (temporary file, then rename), so a file that passed
 * the check is the one the library reads.
 */
#include "models.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>
#include <libsvm/svm.h>
#include <linear.h>
#include <xgboost/c_api.h>
#include <zlib.h>

#define MAX_MODEL_FILE (256u << 20) /* bytes; the models here are 0.02–2 MiB */
#define INPUT_LIMIT    1e6f         /* |x| bound that keeps every model's arithmetic finite */

/* ---------------------------------------------------------------------------------------------
 * Helpers: errors, whole-file reads, atomic writes
 * ------------------------------------------------------------------------------------------- */

/* XGBoost's last error on this thread: the first line (the rest is a stack trace), without its
 * "[12:34:56] src/file.cc:123: " prefix. */
static void set_xgb_err(char *err, size_t errlen, const char *what)
{
    const char *msg = XGBGetLastError();
    if (!msg)
        msg = "unknown error";
    size_t len = strcspn(msg, "\n");
    const char *close = msg[0] == '[' ? strstr(msg, "] ") : NULL;
    const char *colon = close && close < msg + len ? strstr(close + 2, ": ") : NULL;
    if (colon && colon < msg + len) {
        len -= (size_t)(colon + 2 - msg);
        msg = colon + 2;
    }
    set_err(err, errlen, "%s: %.*s", what, (int)(len > 400 ? 400 : len), msg);
}

/* Reads the regular file at path (at most MAX_MODEL_FILE bytes) into a malloc'd buffer with a NUL
 * after the last byte. Returns 0, or -1 with "PATH: why" in err. */
static int read_whole_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size > (off_t)MAX_MODEL_FILE) {
        set_err(err, errlen, "%s: too large (%lld bytes, at most %u)", path, (long long)st.st_size,
                MAX_MODEL_FILE);
        close(fd);
        return -1;
    }
    size_t cap = (size_t)st.st_size, got = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        set_err(err, errlen, "%s: out of memory", path);
        close(fd);
        return -1;
    }
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            set_err(err, errlen, "%s: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break; /* shrank while reading: the checks below see the short file */
        got += (size_t)r;
    }
    close(fd);
    if (got == 0) {
        set_err(err, errlen, "%s: empty file", path);
        free(buf);
        return -1;
    }
    buf[got] = 0;
    *data = buf;
    *len = got;
    return 0;
}

/* "PATH.tmp.PID": where a save writes before renaming over PATH. */
static char *tmp_path_for(const char *path)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (tmp)
        snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    return tmp;
}

/* Makes the finished temporary file `tmp` the file `path`, or removes it. */
static int commit_tmp(const char *tmp, const char *path, char *err, size_t errlen)
{
    if (rename(tmp, path) < 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Writes len bytes to path atomically (temporary file, fsync, rename). */
static int write_file_atomic(const char *path, const void *data, size_t len, char *err,
                             size_t errlen)
{
    char *tmp = tmp_path_for(path);
    if (!tmp) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            set_err(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
            unlink(tmp);
            goto done;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    rc = commit_tmp(tmp, path, err, errlen);
done:
    free(tmp);
    return rc;
}

/* Checks the arguments every train and predict shares: rows within range, labels 0..9. */
static int check_rows(const float *x, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n * DIGITS_FEATURES; i++)
        if (!(fabsf(x[i]) <= INPUT_LIMIT)) { /* also catches NaN */
            set_err(err, errlen, "row %zu, feature %zu: value %g is not finite or beyond ±1e6",
                    i / DIGITS_FEATURES, i % DIGITS_FEATURES, (double)x[i]);
            return -1;
        }
    return 0;
}

/* Every output row must be 10 finite probabilities summing to about 1: a last check that the
 * library and the file agree on what a row is. */
static int check_proba_row(const float *p)
{
    double sum = 0;
    for (int c = 0; c < DIGITS_CLASSES; c++) {
        if (!(p[c] >= 0.0f && p[c] <= 1.0f))
            return -1;
        sum += p[c];
    }
    return fabs(sum - 1.0) < 1e-3 ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------------
 * Text-format checks for liblinear and libsvm files
 *
 * A small cursor over the NUL-terminated file. Numbers are checked by syntax, not strtod, so the
 * check does not depend on the locale; the syntax admits only finite values (at most 40 digits,
 * exponent at most 300), which is what both libraries write with "%.17g".
 * ------------------------------------------------------------------------------------------- */

typedef struct text {
    const char *p;
    const char *path;
    const char *format; /* "liblinear model", "libsvm model" */
    char *err;
    size_t errlen;
} text_t;

static int text_fail(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int text_fail(text_t *t, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    set_err(t->err, t->errlen, "%s: not a valid %s: %s", t->path, t->format, why);
    return -1;
}

static void skip_blanks(text_t *t) /* spaces and tabs, not newlines */
{
    while (*t->p == ' ' || *t->p == '\t')
        t->p++;
}

static void skip_space(text_t *t)
{
    while (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r')
        t->p++;
}

/* The next whitespace-separated word into buf (cut to fit; bytes other than printable ASCII
 * become '?', so that messages stay text); "" at the end of the file. */
static void next_word(text_t *t, char *buf, size_t size)
{
    skip_space(t);
    size_t n = 0;
    while (*t->p && *t->p != ' ' && *t->p != '\t' && *t->p != '\n' && *t->p != '\r') {
        unsigned char c = (unsigned char)*t->p++;
        if (n + 1 < size)
            buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    buf[n] = 0;
}

static int expect_word(text_t *t, const char *want)
{
    char w[24];
    next_word(t, w, sizeof w);
    if (strcmp(w, want) != 0)
        return text_fail(t, *w ? "expected '%s', found '%s'" : "expected '%s', found the end%s",
                         want, w);
    return 0;
}

/* A finite decimal number, per the syntax above; advances past it. */
static bool scan_number(const char **pp)
{
    const char *p = *pp;
    int digits = 0;
    if (*p == '+' || *p == '-')
        p++;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (digits == 0 || digits > 40)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        int exp = 0, edigits = 0;
        while (*p >= '0' && *p <= '9') {
            exp = exp * 10 + (*p++ - '0');
            if (++edigits > 3)
                return false;
        }
        if (edigits == 0 || exp > 300)
            return false;
    }
    *pp = p;
    return true;
}

static bool at_word_end(const char *p)
{
    return *p == 0 || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
}

static int expect_number(text_t *t, const char *what)
{
    skip_space(t);
    if (!*t->p)
        return text_fail(t, "truncated: the file ends in %s", what);
    if (!scan_number(&t->p) || !at_word_end(t->p))
        return text_fail(t, "bad number in %s", what);
    return 0;
}

/* A decimal integer in [lo, hi]; advances past it. */
static int expect_int(text_t *t, const char *what, long lo, long hi, long *out)
{
    skip_space(t);
    if (!*t->p)
        return text_fail(t, "truncated: the file ends in %s", what);
    const char *p = t->p;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    long v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 10)
        v = v * 10 + (*p++ - '0'), digits++;
    if (!digits || !at_word_end(p))
        return text_fail(t, "bad integer in %s", what);
    v = neg ? -v : v;
    if (v < lo || v > hi)
        return text_fail(t, "%s is %ld, expected %ld..%ld", what, v, lo, hi);
    t->p = p;
    *out = v;
    return 0;
}

static int expect_numbers(text_t *t, const char *what, long count)
{
    for (long i = 0; i < count; i++)
        if (expect_number(t, what) < 0)
            return -1;
    return 0;
}

/* The 10 labels: a permutation of 0..9. */
static int expect_labels(text_t *t)
{
    unsigned seen = 0;
    for (int i = 0; i < DIGITS_CLASSES; i++) {
        long v;
        if (expect_int(t, "label", 0, DIGITS_CLASSES - 1, &v) < 0)
            return -1;
        if (seen & (1u << v))
            return text_fail(t, "label %ld listed twice", v);
        seen |= 1u << v;
    }
    return 0;
}

/* At the end of a line: "\n" or "\r\n". */
static int expect_line_end(text_t *t, const char *what)
{
    if (*t->p == '\r')
        t->p++;
    if (*t->p != '\n')
        return text_fail(t, *t->p ? "expected a new line after %s" : "truncated after %s", what);
    t->p++;
    return 0;
}

static int expect_end(text_t *t)
{
    skip_space(t);
    if (*t->p)
        return text_fail(t, "unexpected text after the model");
    return 0;
}

/* liblinear 2.3 as save_model writes it for our models:
 *   solver_type L2R_LR / nr_class 10 / label <10> / nr_feature 64 / bias B / w / (64+[B>=0])*10 */
static int check_liblinear_text(const char *path, const char *data, char *err, size_t errlen)
{
    text_t t = {.p = data, .path = path, .format = "liblinear model", .err = err, .errlen = errlen};
    long v;
    char word[64];
    if (expect_word(&t, "solver_type") < 0 || expect_word(&t, "L2R_LR") < 0 ||
        expect_word(&t, "nr_class") < 0 || expect_int(&t, "nr_class", 10, 10, &v) < 0 ||
        expect_word(&t, "label") < 0 || expect_labels(&t) < 0 ||
        expect_word(&t, "nr_feature") < 0 ||
        expect_int(&t, "nr_feature", DIGITS_FEATURES, DIGITS_FEATURES, &v) < 0 ||
        expect_word(&t, "bias") < 0)
        return -1;
    skip_space(&t);
    bool has_bias = *t.p != '-';
    if (expect_number(&t, "bias") < 0)
        return -1;
    next_word(&t, word, sizeof word);
    if (strcmp(word, "w") != 0)
        return text_fail(&t, "expected 'w'");
    /* One line per feature (and the bias): 10 numbers, each followed by a space, then a new
     * line. Checking lines, not only numbers, catches a file cut inside its last number. */
    skip_blanks(&t);
    if (expect_line_end(&t, "'w'") < 0)
        return -1;
    long rows = DIGITS_FEATURES + (has_bias ? 1 : 0);
    for (long i = 0; i < rows; i++) {
        if (!*t.p)
            return text_fail(&t, "truncated: %ld of %ld weight lines", i, rows);
        for (int c = 0; c < DIGITS_CLASSES; c++) {
            skip_blanks(&t);
            if (!*t.p)
                return text_fail(&t, "truncated: the file ends in weight line %ld", i + 1);
            if (!scan_number(&t.p) || !at_word_end(t.p))
                return text_fail(&t, "weight line %ld: bad number", i + 1);
        }
        skip_blanks(&t);
        if (expect_line_end(&t, "a weight line") < 0)
            return -1;
    }
    return expect_end(&t);
}

/* libsvm 3.24 as svm_save_model writes it for our models: a header (c_svc, rbf, gamma, nr_class
 * 10, total_sv L, rho, label, probA, probB, nr_sv), "SV", then L lines of 9 coefficients and
 * index:value pairs with indexes 1..64 increasing. libsvm reads the SV section line by line, so
 * lines are checked as lines. */
static int check_libsvm_text(const char *path, const char *data, char *err, size_t errlen)
{
    text_t t = {.p = data, .path = path, .format = "libsvm model", .err = err, .errlen = errlen};
    const long pairs = DIGITS_CLASSES * (DIGITS_CLASSES - 1) / 2;
    long v, total_sv;
    if (expect_word(&t, "svm_type") < 0 || expect_word(&t, "c_svc") < 0 ||
        expect_word(&t, "kernel_type") < 0 || expect_word(&t, "rbf") < 0 ||
        expect_word(&t, "gamma") < 0 || expect_number(&t, "gamma") < 0 ||
        expect_word(&t, "nr_class") < 0 || expect_int(&t, "nr_class", 10, 10, &v) < 0 ||
        expect_word(&t, "total_sv") < 0 || expect_int(&t, "total_sv", 1, 1000000, &total_sv) < 0 ||
        expect_word(&t, "rho") < 0 || expect_numbers(&t, "rho", pairs) < 0 ||
        expect_word(&t, "label") < 0 || expect_labels(&t) < 0)
        return -1;
    if (expect_word(&t, "probA") < 0 || expect_numbers(&t, "probA", pairs) < 0 ||
        expect_word(&t, "probB") < 0 || expect_numbers(&t, "probB", pairs) < 0 ||
        expect_word(&t, "nr_sv") < 0)
        return -1;
    long sum = 0;
    for (int i = 0; i < DIGITS_CLASSES; i++) {
        if (expect_int(&t, "nr_sv", 0, total_sv, &v) < 0)
            return -1;
        sum += v;
    }
    if (sum != total_sv)
        return text_fail(&t, "nr_sv adds up to %ld, total_sv is %ld", sum, total_sv);
    if (expect_word(&t, "SV") < 0)
        return -1;
    skip_blanks(&t);
    if (expect_line_end(&t, "'SV'") < 0)
        return -1;
    for (long i = 0; i < total_sv; i++) {
        if (!*t.p)
            return text_fail(&t, "truncated: %ld of %ld support vectors", i, total_sv);
        for (int k = 0; k < DIGITS_CLASSES - 1; k++) {
            skip_blanks(&t);
            if (!*t.p)
                return text_fail(&t, "truncated: the file ends in support vector %ld", i + 1);
            if (!scan_number(&t.p) || !at_word_end(t.p))
                return text_fail(&t, "support vector %ld: bad coefficient", i + 1);
        }
        long last = 0;
        for (;;) {
            skip_blanks(&t);
            if (*t.p == '\r')
                t.p++;
            if (*t.p == '\n' || !*t.p)
                break; /* a missing line end is reported below */
            long idx = 0;
            int digits = 0;
            while (*t.p >= '0' && *t.p <= '9' && digits < 4)
                idx = idx * 10 + (*t.p++ - '0'), digits++;
            if (!digits || *t.p != ':' || idx <= last || idx > DIGITS_FEATURES)
                return text_fail(&t, "support vector %ld: bad feature index", i + 1);
            t.p++;
            if (!scan_number(&t.p) || !at_word_end(t.p))
                return text_fail(&t, "support vector %ld: bad feature value", i + 1);
            last = idx;
        }
        if (*t.p != '\n')
            return text_fail(&t, "truncated: support vector %ld of %ld has no line end", i + 1,
                             total_sv);
        t.p++;
    }
    return expect_end(&t);
}

/* ---------------------------------------------------------------------------------------------
 * The model object
 * ------------------------------------------------------------------------------------------- */

typedef struct mlp {
    uint32_t n_in, n_hidden, n_out;
    float *w1;     /* n_in x n_hidden, row-major */
    float *b1;     /* n_hidden */
    float *w2;     /* n_hidden x n_out, row-major */
    float *b2;     /* n_out */
    float *params; /* one allocation holding all four, in that order */
} mlp_t;

struct digits_model {
    digits_kind_t kind;
    char *path;
    int slot[DIGITS_CLASSES]; /* liblinear/libsvm: output j of the library is digit slot[j] */
    union {
        BoosterHandle booster;
        struct model *linear;
        struct svm_model *svm;
        mlp_t mlp;
    } u;
};

static const char *const kind_names[DIGITS_KINDS] = {"xgboost", "logreg", "svm", "mlp"};
static const char *const kind_files[DIGITS_KINDS] = {"xgboost.ubj", "logreg.model", "svm.model",
                                                     "mlp.bin"};

static void quiet(const char *msg) { (void)msg; }

/* Sparse rows in the libsvm/liblinear node layout: nonzero features, 1-based indexes, then an
 * optional bias node (liblinear), then index -1. Both libraries' node structs are {int; double}. */
#define NODES_PER_ROW (DIGITS_FEATURES + 2)

/* ---------------------------------------------------------------------------------------------
 * XGBoost: gradient-boosted trees (C API, 1.7)
 * ------------------------------------------------------------------------------------------- */

#define XGB_ROUNDS 50

static int xgb_train(const float *x, const int *y, size_t n, const char *path, char *err,
                     size_t errlen)
{
    DMatrixHandle dtrain = NULL;
    BoosterHandle booster = NULL;
    float *labels = malloc(n * sizeof *labels);
    int rc = -1;
    if (!labels) {
        set_err(err, errlen, "xgboost: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        labels[i] = (float)y[i];
    /* nthread=1: on this 2-core machine two threads were about 10x slower (FIELD-NOTES.md). */
    static const char *const params[][2] = {{"objective", "multi:softprob"},
                                            {"num_class", "10"},
                                            {"max_depth", "4"},
                                            {"eta", "0.3"},
                                            {"tree_method", "hist"},
                                            {"nthread", "1"},
                                            {"seed", "0"},
                                            {"verbosity", "0"}};
    if (XGDMatrixCreateFromMat_omp(x, n, DIGITS_FEATURES, NAN, &dtrain, 1) != 0 ||
        XGDMatrixSetFloatInfo(dtrain, "label", labels, n) != 0 ||
        XGBoosterCreate(&dtrain, 1, &booster) != 0) {
        set_xgb_err(err, errlen, "xgboost");
        goto done;
    }
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (XGBoosterSetParam(booster, params[i][0], params[i][1]) != 0) {
            set_xgb_err(err, errlen, "xgboost");
            goto done;
        }
    for (int round = 0; round < XGB_ROUNDS; round++)
        if (XGBoosterUpdateOneIter(booster, round, dtrain) != 0) {
            set_xgb_err(err, errlen, "xgboost");
            goto done;
        }
    bst_ulong len = 0;
    const char *buf = NULL;
    if (XGBoosterSaveModelToBuffer(booster, "{\"format\": \"ubj\"}", &len, &buf) != 0) {
        set_xgb_err(err, errlen, "xgboost");
        goto done;
    }
    rc = write_file_atomic(path, buf, (size_t)len, err, errlen);
done:
    if (booster)
        XGBoosterFree(booster);
    if (dtrain)
        XGDMatrixFree(dtrain);
    free(labels);
    return rc;
}

/* Predicts n rows in place (no DMatrix). The result lives in XGBoost's per-thread, per-booster
 * storage until this thread's next call on the booster, so it is copied out at once. XGBoost
 * documents prediction on tree models as thread-safe since 1.4, provided nothing changes the
 * booster meanwhile (no SetParam after load). In 1.7.4 the config needs "cache_id" and
 * "missing" (FIELD-NOTES.md). */
static int xgb_predict(BoosterHandle booster, const float *x, size_t n, float *proba, char *err,
                       size_t errlen)
{
    char values[160];
    snprintf(values, sizeof values,
             "{\"data\": [%" PRIuPTR ", true], \"shape\": [%zu, %d], \"typestr\": \"<f4\", "
             "\"version\": 3}",
             (uintptr_t)x, n, DIGITS_FEATURES);
    static const char config[] = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                                 "\"iteration_end\": 0, \"strict_shape\": true, "
                                 "\"cache_id\": 0, \"missing\": NaN}";
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *out = NULL;
    if (XGBoosterPredictFromDense(booster, values, config, NULL, &shape, &dim, &out) != 0) {
        set_xgb_err(err, errlen, "xgboost");
        return -1;
    }
    if (dim != 2 || shape[0] != n || shape[1] != DIGITS_CLASSES) {
        set_err(err, errlen, "xgboost: prediction has shape [%llu, %llu], expected [%zu, %d]",
                dim > 0 ? (unsigned long long)shape[0] : 0ull,
                dim > 1 ? (unsigned long long)shape[1] : 0ull, n, DIGITS_CLASSES);
        return -1;
    }
    memcpy(proba, out, n * DIGITS_CLASSES * sizeof *proba);
    return 0;
}

static int xgb_load(digits_model_t *m, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    if (read_whole_file(path, &data, &len, err, errlen) < 0)
        return -1;
    /* A UBJSON document is one object: '{' ... '}'. Anything else XGBoost might read as its
     * deprecated binary format, so it is refused here. */
    if (data[0] != '{' || data[len - 1] != '}' || (len > 1 && data[1] == '"')) {
        set_err(err, errlen, "%s: not an XGBoost UBJSON model%s", path,
                data[0] == '{' ? " (truncated, or JSON rather than UBJSON)" : "");
        free(data);
        return -1;
    }
    int rc = -1;
    bst_ulong features = 0;
    char what[512];
    snprintf(what, sizeof what, "%s: not a valid XGBoost model", path);
    if (XGBoosterCreate(NULL, 0, &m->u.booster) != 0) {
        set_xgb_err(err, errlen, "xgboost");
        goto done;
    }
    if (XGBoosterLoadModelFromBuffer(m->u.booster, data, len) != 0 ||
        XGBoosterSetParam(m->u.booster, "nthread", "1") != 0 ||
        XGBoosterGetNumFeature(m->u.booster, &features) != 0) {
        set_xgb_err(err, errlen, what);
        goto done;
    }
    if (features != DIGITS_FEATURES) {
        set_err(err, errlen, "%s: model has %llu features, expected %d", path,
                (unsigned long long)features, DIGITS_FEATURES);
        goto done;
    }
    rc = 0;
done:
    free(data);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * liblinear: L2-regularised logistic regression, one-vs-rest, with a bias feature
 * ------------------------------------------------------------------------------------------- */

#define LOGREG_C 10.0

static void fill_linear_row(const float *row, struct feature_node *nodes)
{
    int k = 0;
    for (int j = 0; j < DIGITS_FEATURES; j++)
        if (row[j] != 0.0f)
            nodes[k++] = (struct feature_node){.index = j + 1, .value = row[j]};
    nodes[k++] = (struct feature_node){.index = DIGITS_FEATURES + 1, .value = 1.0}; /* bias */
    nodes[k] = (struct feature_node){.index = -1, .value = 0.0};
}

static int logreg_train(const float *x, const int *y, size_t n, const char *path, char *err,
                        size_t errlen)
{
    struct feature_node *space = malloc(n * NODES_PER_ROW * sizeof *space);
    struct feature_node **rows = malloc(n * sizeof *rows);
    double *labels = malloc(n * sizeof *labels);
    char *tmp = tmp_path_for(path);
    int rc = -1;
    if (!space || !rows || !labels || !tmp) {
        set_err(err, errlen, "logreg: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        rows[i] = space + i * NODES_PER_ROW;
        fill_linear_row(x + i * DIGITS_FEATURES, rows[i]);
        labels[i] = y[i];
    }
    struct problem prob = {
        .l = (int)n, .n = DIGITS_FEATURES + 1, .y = labels, .x = rows, .bias = 1.0};
    struct parameter param = {.solver_type = L2R_LR, .eps = 0.01, .C = LOGREG_C, .p = 0.1};
    const char *bad = check_parameter(&prob, &param);
    if (bad) {
        set_err(err, errlen, "logreg: %s", bad);
        goto done;
    }
    set_print_string_function(quiet);
    struct model *model = train(&prob, &param); /* trust-region Newton: deterministic */
    if (!model) {
        set_err(err, errlen, "logreg: training failed");
        goto done;
    }
    if (save_model(tmp, model) != 0) {
        set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    } else {
        rc = commit_tmp(tmp, path, err, errlen);
    }
    free_and_destroy_model(&model);
done:
    free(space);
    free(rows);
    free(labels);
    free(tmp);
    return rc;
}

static int logreg_load(digits_model_t *m, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    if (read_whole_file(path, &data, &len, err, errlen) < 0)
        return -1;
    int rc = check_liblinear_text(path, data, err, errlen);
    free(data);
    if (rc < 0)
        return -1;
    m->u.linear = load_model(path);
    if (!m->u.linear) {
        set_err(err, errlen, "%s: liblinear could not load it", path);
        return -1;
    }
    if (get_nr_class(m->u.linear) != DIGITS_CLASSES ||
        get_nr_feature(m->u.linear) != DIGITS_FEATURES || !check_probability_model(m->u.linear)) {
        set_err(err, errlen, "%s: not a 10-class logistic regression over 64 features", path);
        return -1;
    }
    int labels[DIGITS_CLASSES];
    get_labels(m->u.linear, labels);
    for (int j = 0; j < DIGITS_CLASSES; j++)
        m->slot[j] = labels[j]; /* a permutation of 0..9: checked in the text */
    return 0;
}

/* liblinear's predict_probability reads the model and writes only its arguments. */
static int logreg_predict(const digits_model_t *m, const float *x, size_t n, float *proba)
{
    struct feature_node nodes[NODES_PER_ROW];
    double est[DIGITS_CLASSES];
    for (size_t i = 0; i < n; i++) {
        fill_linear_row(x + i * DIGITS_FEATURES, nodes);
        predict_probability(m->u.linear, nodes, est);
        for (int j = 0; j < DIGITS_CLASSES; j++)
            proba[i * DIGITS_CLASSES + m->slot[j]] = (float)est[j];
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * libsvm: C-SVC with an RBF kernel and Platt-scaled, pairwise-coupled probabilities
 * ------------------------------------------------------------------------------------------- */

#define SVM_C     10.0
#define SVM_GAMMA 0.05 /* picked for features in [0, 1], not tuned on the test split */
#define SVM_SEED  1u   /* libsvm's probability cross-validation shuffles with rand() */

/* svm_load_model keeps its line buffer in static variables: one load at a time. */
static pthread_mutex_t svm_load_lock = PTHREAD_MUTEX_INITIALIZER;

static void fill_svm_row(const float *row, struct svm_node *nodes)
{
    int k = 0;
    for (int j = 0; j < DIGITS_FEATURES; j++)
        if (row[j] != 0.0f)
            nodes[k++] = (struct svm_node){.index = j + 1, .value = row[j]};
    nodes[k] = (struct svm_node){.index = -1, .value = 0.0};
}

static int svm_train_save(const float *x, const int *y, size_t n, const char *path, char *err,
                          size_t errlen)
{
    struct svm_node *space = malloc(n * NODES_PER_ROW * sizeof *space);
    struct svm_node **rows = malloc(n * sizeof *rows);
    double *labels = malloc(n * sizeof *labels);
    char *tmp = tmp_path_for(path);
    int rc = -1;
    if (!space || !rows || !labels || !tmp) {
        set_err(err, errlen, "svm: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        rows[i] = space + i * NODES_PER_ROW;
        fill_svm_row(x + i * DIGITS_FEATURES, rows[i]);
        labels[i] = y[i];
    }
    struct svm_problem prob = {.l = (int)n, .y = labels, .x = rows};
    struct svm_parameter param = {.svm_type = C_SVC,
                                  .kernel_type = RBF,
                                  .gamma = SVM_GAMMA,
                                  .cache_size = 100,
                                  .eps = 1e-3,
                                  .C = SVM_C,
                                  .shrinking = 1,
                                  .probability = 1};
    const char *bad = svm_check_parameter(&prob, &param);
    if (bad) {
        set_err(err, errlen, "svm: %s", bad);
        goto done;
    }
    svm_set_print_string_function(quiet);
    srand(SVM_SEED);
    struct svm_model *model = svm_train(&prob, &param);
    if (!model) {
        set_err(err, errlen, "svm: training failed");
        goto done;
    }
    if (svm_save_model(tmp, model) != 0) {
        set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    } else {
        rc = commit_tmp(tmp, path, err, errlen);
    }
    svm_free_and_destroy_model(&model); /* before `space`: the model points into it */
done:
    free(space);
    free(rows);
    free(labels);
    free(tmp);
    return rc;
}

static int svm_load(digits_model_t *m, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    if (read_whole_file(path, &data, &len, err, errlen) < 0)
        return -1;
    int rc = check_libsvm_text(path, data, err, errlen);
    free(data);
    if (rc < 0)
        return -1;
    pthread_mutex_lock(&svm_load_lock);
    m->u.svm = svm_load_model(path);
    pthread_mutex_unlock(&svm_load_lock);
    if (!m->u.svm) {
        set_err(err, errlen, "%s: libsvm could not load it", path);
        return -1;
    }
    if (svm_get_nr_class(m->u.svm) != DIGITS_CLASSES || !svm_check_probability_model(m->u.svm)) {
        set_err(err, errlen, "%s: not a 10-class SVM with probability estimates", path);
        return -1;
    }
    int labels[DIGITS_CLASSES];
    svm_get_labels(m->u.svm, labels);
    for (int j = 0; j < DIGITS_CLASSES; j++)
        m->slot[j] = labels[j];
    return 0;
}

/* libsvm's svm_predict_probability reads the model and allocates its scratch per call. */
static int svm_predict_rows(const digits_model_t *m, const float *x, size_t n, float *proba)
{
    struct svm_node nodes[NODES_PER_ROW];
    double est[DIGITS_CLASSES];
    for (size_t i = 0; i < n; i++) {
        fill_svm_row(x + i * DIGITS_FEATURES, nodes);
        svm_predict_probability(m->u.svm, nodes, est);
        for (int j = 0; j < DIGITS_CLASSES; j++)
            proba[i * DIGITS_CLASSES + m->slot[j]] = (float)est[j];
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * MLP: 64-128-10, ReLU, softmax; trained with Adam on cross-entropy; matrix products by OpenBLAS
 *
 * File format "mlp.bin", version 1, all little-endian:
 *   offset 0   8 bytes  magic "DIGITMLP"
 *          8   u32      version (1)
 *         12   u32      n_in (64)
 *         16   u32      n_hidden (1..4096; 128 as trained)
 *         20   u32      n_out (10)
 *         24   u32      activation of the hidden layer (1 = ReLU)
 *         28   f32[]    W1 (n_in x n_hidden, row-major), b1 (n_hidden),
 *                       W2 (n_hidden x n_out, row-major), b2 (n_out)
 *        end-4 u32      CRC-32 (zlib's crc32, IEEE) of every byte before it
 * The size must be exactly 32 + 4 * (number of weights); every weight must be finite.
 * ------------------------------------------------------------------------------------------- */

#define MLP_MAGIC      "DIGITMLP"
#define MLP_VERSION    1u
#define MLP_HEADER     28u
#define MLP_HIDDEN     128u
#define MLP_MAX_HIDDEN 4096u
#define MLP_ACT_RELU   1u
#define MLP_EPOCHS     40
#define MLP_BATCH      32
#define MLP_LR         1e-3f
#define MLP_SEED       7u
#define MLP_CHUNK      256 /* rows per forward pass at predict time: bounds scratch memory */

static size_t mlp_param_count(uint32_t in, uint32_t hidden, uint32_t out)
{
    return (size_t)in * hidden + hidden + (size_t)hidden * out + out;
}

static int mlp_alloc(mlp_t *mlp, uint32_t in, uint32_t hidden, uint32_t out)
{
    mlp->n_in = in;
    mlp->n_hidden = hidden;
    mlp->n_out = out;
    mlp->params = calloc(mlp_param_count(in, hidden, out), sizeof(float));
    if (!mlp->params)
        return -1;
    mlp->w1 = mlp->params;
    mlp->b1 = mlp->w1 + (size_t)in * hidden;
    mlp->w2 = mlp->b1 + hidden;
    mlp->b2 = mlp->w2 + (size_t)hidden * out;
    return 0;
}

/* Forward pass for rows x[0..n): hidden (n x n_hidden) and proba (n x n_out) are scratch/output.
 * The softmax subtracts the row maximum, so large logits do not overflow. */
static void mlp_forward(const mlp_t *mlp, const float *x, int n, float *hidden, float *proba)
{
    const int in = (int)mlp->n_in, hid = (int)mlp->n_hidden, out = (int)mlp->n_out;
    for (int i = 0; i < n; i++)
        memcpy(hidden + (size_t)i * hid, mlp->b1, (size_t)hid * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hid, in, 1.0f, x, in, mlp->w1, hid,
                1.0f, hidden, hid);
    for (size_t k = 0; k < (size_t)n * hid; k++)
        hidden[k] = hidden[k] > 0.0f ? hidden[k] : 0.0f;
    for (int i = 0; i < n; i++)
        memcpy(proba + (size_t)i * out, mlp->b2, (size_t)out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, hid, 1.0f, hidden, hid, mlp->w2,
                out, 1.0f, proba, out);
    for (int i = 0; i < n; i++) {
        float *z = proba + (size_t)i * out;
        float max = z[0], sum = 0.0f;
        for (int c = 1; c < out; c++)
            max = z[c] > max ? z[c] : max;
        for (int c = 0; c < out; c++)
            sum += (z[c] = expf(z[c] - max));
        for (int c = 0; c < out; c++)
            z[c] /= sum;
    }
}

/* A uniform float in [-1, 1) from splitmix64. */
static float uniform_pm1(uint64_t *state)
{
    return (float)((double)(digits_rand64(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int mlp_save(const mlp_t *mlp, const char *path, char *err, size_t errlen)
{
    size_t count = mlp_param_count(mlp->n_in, mlp->n_hidden, mlp->n_out);
    size_t size = MLP_HEADER + 4 * count + 4;
    unsigned char *buf = malloc(size);
    if (!buf) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(buf, MLP_MAGIC, 8);
    put_u32(buf + 8, MLP_VERSION);
    put_u32(buf + 12, mlp->n_in);
    put_u32(buf + 16, mlp->n_hidden);
    put_u32(buf + 20, mlp->n_out);
    put_u32(buf + 24, MLP_ACT_RELU);
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &mlp->params[i], 4);
        put_u32(buf + MLP_HEADER + 4 * i, bits);
    }
    put_u32(buf + size - 4, (uint32_t)crc32(0L, buf, (uInt)(size - 4)));
    int rc = write_file_atomic(path, buf, size, err, errlen);
    free(buf);
    return rc;
}

static int mlp_load(digits_model_t *m, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    if (read_whole_file(path, &data, &len, err, errlen) < 0)
        return -1;
    const unsigned char *p = (const unsigned char *)data;
    int rc = -1;
    if (len < 8 || memcmp(p, MLP_MAGIC, 8) != 0) {
        set_err(err, errlen, "%s: not a digits MLP file (bad magic)", path);
        goto done;
    }
    if (len < MLP_HEADER + 4) {
        set_err(err, errlen, "%s: truncated: %zu bytes, shorter than the header", path, len);
        goto done;
    }
    uint32_t version = get_u32(p + 8), in = get_u32(p + 12), hidden = get_u32(p + 16),
             out = get_u32(p + 20), act = get_u32(p + 24);
    if (version != MLP_VERSION) {
        set_err(err, errlen, "%s: MLP format version %" PRIu32 ", this program reads %u", path,
                version, MLP_VERSION);
        goto done;
    }
    if (in != DIGITS_FEATURES || out != DIGITS_CLASSES || hidden < 1 || hidden > MLP_MAX_HIDDEN ||
        act != MLP_ACT_RELU) {
        set_err(err, errlen,
                "%s: unexpected MLP shape %" PRIu32 "-%" PRIu32 "-%" PRIu32 " (activation %" PRIu32
                "), expected 64-(1..4096)-10 with ReLU (1)",
                path, in, hidden, out, act);
        goto done;
    }
    size_t count = mlp_param_count(in, hidden, out);
    size_t want = MLP_HEADER + 4 * count + 4;
    if (len != want) {
        set_err(err, errlen, "%s: %s: %zu bytes, a 64-%" PRIu32 "-10 MLP file has %zu", path,
                len < want ? "truncated" : "trailing bytes", len, hidden, want);
        goto done;
    }
    uint32_t crc = (uint32_t)crc32(0L, p, (uInt)(len - 4));
    if (crc != get_u32(p + len - 4)) {
        set_err(err, errlen,
                "%s: checksum mismatch (CRC-32 %08" PRIx32 ", file says %08" PRIx32
                "): the file is corrupt",
                path, crc, get_u32(p + len - 4));
        goto done;
    }
    if (mlp_alloc(&m->u.mlp, in, hidden, out) < 0) {
        set_err(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = get_u32(p + MLP_HEADER + 4 * i);
        memcpy(&m->u.mlp.params[i], &bits, 4);
        if (!isfinite(m->u.mlp.params[i])) {
            set_err(err, errlen, "%s: weight %zu is not finite", path, i);
            goto done;
        }
    }
    rc = 0;
done:
    free(data);
    return rc;
}

/* Thread-safe: the weights are only read; scratch is allocated per call; OpenBLAS's sgemm may be
 * called from several threads at once (its pthread build serialises use of its own thread pool). */
static int mlp_predict(const digits_model_t *m, const float *x, size_t n, float *proba, char *err,
                       size_t errlen)
{
    const mlp_t *mlp = &m->u.mlp;
    size_t chunk = n < MLP_CHUNK ? n : MLP_CHUNK;
    float *hidden = malloc(chunk * mlp->n_hidden * sizeof *hidden);
    if (!hidden) {
        set_err(err, errlen, "mlp: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i += chunk) {
        size_t rows = n - i < chunk ? n - i : chunk;
        mlp_forward(mlp, x + i * DIGITS_FEATURES, (int)rows, hidden, proba + i * DIGITS_CLASSES);
    }
    free(hidden);
    return 0;
}

/* Mini-batch Adam on mean cross-entropy. Each epoch visits the rows in an order shuffled by
 * splitmix64(MLP_SEED); weights start He-uniform from the same generator; biases start at 0. */
static int mlp_train(const float *x, const int *y, size_t n, const char *path, char *err,
                     size_t errlen)
{
    const int in = DIGITS_FEATURES, hid = MLP_HIDDEN, out = DIGITS_CLASSES, bmax = MLP_BATCH;
    mlp_t mlp = {0}, grad = {0}, adam_m = {0}, adam_v = {0};
    size_t *order = malloc(n * sizeof *order);
    float *xb = malloc((size_t)bmax * in * sizeof *xb);
    float *hb = malloc((size_t)bmax * hid * sizeof *hb);
    float *pb = malloc((size_t)bmax * out * sizeof *pb);
    float *dh = malloc((size_t)bmax * hid * sizeof *dh);
    int rc = -1;
    if (!order || !xb || !hb || !pb || !dh || mlp_alloc(&mlp, in, hid, out) < 0 ||
        mlp_alloc(&grad, in, hid, out) < 0 || mlp_alloc(&adam_m, in, hid, out) < 0 ||
        mlp_alloc(&adam_v, in, hid, out) < 0) {
        set_err(err, errlen, "mlp: out of memory");
        goto done;
    }
    /* One OpenBLAS thread: the products are small, and a second thread on two shared cores only
     * adds hand-offs. This is process-wide; training is a one-thread affair anyway. */
    openblas_set_num_threads(1);
    uint64_t rng = MLP_SEED;
    float lim1 = sqrtf(6.0f / (float)in), lim2 = sqrtf(6.0f / (float)hid);
    for (size_t k = 0; k < (size_t)in * hid; k++)
        mlp.w1[k] = lim1 * uniform_pm1(&rng);
    for (size_t k = 0; k < (size_t)hid * out; k++)
        mlp.w2[k] = lim2 * uniform_pm1(&rng);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    const size_t count = mlp_param_count(in, hid, out);
    const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    float beta1_t = 1.0f, beta2_t = 1.0f;
    for (int epoch = 0; epoch < MLP_EPOCHS; epoch++) {
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)(digits_rand64(&rng) % i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        for (size_t start = 0; start < n; start += (size_t)bmax) {
            int b = (int)(n - start < (size_t)bmax ? n - start : (size_t)bmax);
            for (int r = 0; r < b; r++)
                memcpy(xb + (size_t)r * in, x + order[start + r] * in, (size_t)in * sizeof *xb);
            mlp_forward(&mlp, xb, b, hb, pb);
            /* dL/dz = (p - onehot) / b, in place in pb */
            for (int r = 0; r < b; r++) {
                pb[(size_t)r * out + y[order[start + r]]] -= 1.0f;
                for (int c = 0; c < out; c++)
                    pb[(size_t)r * out + c] /= (float)b;
            }
            /* dW2 = H^T dZ; db2 = column sums of dZ; dH = dZ W2^T masked by ReLU */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hid, out, b, 1.0f, hb, hid, pb,
                        out, 0.0f, grad.w2, out);
            for (int c = 0; c < out; c++) {
                float s = 0.0f;
                for (int r = 0; r < b; r++)
                    s += pb[(size_t)r * out + c];
                grad.b2[c] = s;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, hid, out, 1.0f, pb, out, mlp.w2,
                        out, 0.0f, dh, hid);
            for (size_t k = 0; k < (size_t)b * hid; k++)
                if (hb[k] <= 0.0f)
                    dh[k] = 0.0f;
            /* dW1 = X^T dH; db1 = column sums of dH */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, hid, b, 1.0f, xb, in, dh, hid,
                        0.0f, grad.w1, hid);
            for (int h = 0; h < hid; h++) {
                float s = 0.0f;
                for (int r = 0; r < b; r++)
                    s += dh[(size_t)r * hid + h];
                grad.b1[h] = s;
            }
            beta1_t *= beta1;
            beta2_t *= beta2;
            const float step = MLP_LR * sqrtf(1.0f - beta2_t) / (1.0f - beta1_t);
            for (size_t k = 0; k < count; k++) {
                float g = grad.params[k];
                adam_m.params[k] = beta1 * adam_m.params[k] + (1.0f - beta1) * g;
                adam_v.params[k] = beta2 * adam_v.params[k] + (1.0f - beta2) * g * g;
                mlp.params[k] -= step * adam_m.params[k] / (sqrtf(adam_v.params[k]) + eps);
            }
        }
    }
    for (size_t k = 0; k < count; k++)
        if (!isfinite(mlp.params[k])) {
            set_err(err, errlen, "mlp: training diverged");
            goto done;
        }
    rc = mlp_save(&mlp, path, err, errlen);
done:
    free(order);
    free(xb);
    free(hb);
    free(pb);
    free(dh);
    free(mlp.params);
    free(grad.params);
    free(adam_m.params);
    free(adam_v.params);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Public functions
 * ------------------------------------------------------------------------------------------- */

const char *digits_kind_name(digits_kind_t kind)
{
    return (unsigned)kind < DIGITS_KINDS ? kind_names[kind] : NULL;
}

const char *digits_kind_filename(digits_kind_t kind)
{
    return (unsigned)kind < DIGITS_KINDS ? kind_files[kind] : NULL;
}

int digits_kind_from_name(const char *name, digits_kind_t *kind)
{
    for (int k = 0; name && k < DIGITS_KINDS; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            *kind = (digits_kind_t)k;
            return 0;
        }
    return -1;
}

int digits_model_train(digits_kind_t kind, const float *x, const int *y, size_t n, const char *path,
                       char *err, size_t errlen)
{
    if ((unsigned)kind >= DIGITS_KINDS) {
        set_err(err, errlen, "unknown model kind %d", (int)kind);
        return -1;
    }
    if (!x || !y || !path || n < 2 * DIGITS_CLASSES || n > (size_t)INT32_MAX / NODES_PER_ROW) {
        set_err(err, errlen, "%s: bad training arguments (n = %zu)", kind_names[kind], n);
        return -1;
    }
    size_t per_label[DIGITS_CLASSES] = {0};
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= DIGITS_CLASSES) {
            set_err(err, errlen, "%s: label %d of row %zu is not 0..9", kind_names[kind], y[i], i);
            return -1;
        }
        per_label[y[i]]++;
    }
    for (int c = 0; c < DIGITS_CLASSES; c++)
        if (per_label[c] < 2) {
            set_err(err, errlen, "%s: digit %d has %zu training rows, at least 2 needed",
                    kind_names[kind], c, per_label[c]);
            return -1;
        }
    if (check_rows(x, n, err, errlen) < 0)
        return -1;
    switch (kind) {
    case DIGITS_XGBOOST: return xgb_train(x, y, n, path, err, errlen);
    case DIGITS_LOGREG: return logreg_train(x, y, n, path, err, errlen);
    case DIGITS_SVM: return svm_train_save(x, y, n, path, err, errlen);
    case DIGITS_MLP: return mlp_train(x, y, n, path, err, errlen);
    }
    return -1;
}

digits_model_t *digits_model_load(digits_kind_t kind, const char *path, char *err, size_t errlen)
{
    if ((unsigned)kind >= DIGITS_KINDS || !path) {
        set_err(err, errlen, "%s: unknown model kind %d", path ? path : "(null)", (int)kind);
        return NULL;
    }
    digits_model_t *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        set_err(err, errlen, "%s: out of memory", path);
        free(m);
        return NULL;
    }
    m->kind = kind;
    int rc = -1;
    switch (kind) {
    case DIGITS_XGBOOST: rc = xgb_load(m, path, err, errlen); break;
    case DIGITS_LOGREG: rc = logreg_load(m, path, err, errlen); break;
    case DIGITS_SVM: rc = svm_load(m, path, err, errlen); break;
    case DIGITS_MLP: rc = mlp_load(m, path, err, errlen); break;
    }
    if (rc == 0) {
        /* One prediction on a blank image: the library and the file agree on 10 probabilities,
         * and any lazy set-up (XGBoost configures itself on first use) is done before the model
         * is shared between threads. */
        float blank[DIGITS_FEATURES] = {0}, proba[DIGITS_CLASSES];
        char why[256];
        if (digits_model_predict_proba(m, blank, 1, proba, why, sizeof why) < 0) {
            set_err(err, errlen, "%s: test prediction failed: %s", path, why);
            rc = -1;
        } else if (check_proba_row(proba) < 0) {
            set_err(err, errlen, "%s: test prediction gave no probabilities", path);
            rc = -1;
        }
    }
    if (rc < 0) {
        digits_model_free(m);
        return NULL;
    }
    return m;
}

int digits_model_predict_proba(const digits_model_t *model, const float *x, size_t n, float *proba,
                               char *err, size_t errlen)
{
    if (!model || (n && (!x || !proba))) {
        set_err(err, errlen, "predict: bad arguments");
        return -1;
    }
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / (DIGITS_FEATURES * sizeof(double))) {
        set_err(err, errlen, "%s: %zu rows is too many", kind_names[model->kind], n);
        return -1;
    }
    if (check_rows(x, n, err, errlen) < 0)
        return -1;
    switch (model->kind) {
    case DIGITS_XGBOOST: return xgb_predict(model->u.booster, x, n, proba, err, errlen);
    case DIGITS_LOGREG: return logreg_predict(model, x, n, proba);
    case DIGITS_SVM: return svm_predict_rows(model, x, n, proba);
    case DIGITS_MLP: return mlp_predict(model, x, n, proba, err, errlen);
    }
    return -1;
}

digits_kind_t digits_model_kind(const digits_model_t *model) { return model->kind; }

const char *digits_model_path(const digits_model_t *model) { return model->path; }

void digits_model_free(digits_model_t *model)
{
    if (!model)
        return;
    switch (model->kind) {
    case DIGITS_XGBOOST:
        if (model->u.booster)
            XGBoosterFree(model->u.booster);
        break;
    case DIGITS_LOGREG:
        if (model->u.linear)
            free_and_destroy_model(&model->u.linear);
        break;
    case DIGITS_SVM:
        if (model->u.svm)
            svm_free_and_destroy_model(&model->u.svm);
        break;
    case DIGITS_MLP: free(model->u.mlp.params); break;
    }
    free(model->path);
    free(model);
}

int digits_argmax(const float *proba)
{
    int best = 0;
    for (int c = 1; c < DIGITS_CLASSES; c++)
        if (proba[c] > proba[best])
            best = c;
    return best;
}
