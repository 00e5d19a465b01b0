/*
 * models.c — the four digit classifiers of models.h: the public functions, which check their
 * arguments and dispatch on the kind, and the helpers every kind shares (whole-file reads, atomic
 * writes). Each kind's train / load / predict is in its own file (models_internal.h):
 * model_xgboost.c, model_logreg_svm.c (liblinear and libsvm) and model_mlp.c (the OpenBLAS
 * perceptron); model_text_check.c checks liblinear's and libsvm's text files before they load.
 *
 * Why the loaders check files themselves: libsvm's and liblinear's text loaders trust their input
 * (libsvm 3.24 passes NULL to strtod on a truncated support-vector section and crashes; liblinear
 * 2.3 leaks its weights on a short file), and a random file handed to XGBoost may be taken for its
 * old binary format. So each loader reads the whole file, checks its structure, and only then
 * hands it to the library. Saves are atomic (temporary file, then rename), so a file that passed
 * the check is the one the library reads.
 */
#include "models_internal.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MODEL_FILE (256u << 20) /* bytes; the models here are 0.02–2 MiB */
#define INPUT_LIMIT    1e6f         /* |x| bound that keeps every model's arithmetic finite */

/* ---------------------------------------------------------------------------------------------
 * Helpers: whole-file reads, atomic writes, argument and result checks
 * ------------------------------------------------------------------------------------------- */

/* Reads the regular file at path (at most MAX_MODEL_FILE bytes) into a malloc'd buffer with a NUL
 * after the last byte. Returns 0, or -1 with "PATH: why" in err. */
int digits__read_whole_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
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
char *digits__tmp_path_for(const char *path)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (tmp)
        snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    return tmp;
}

/* Makes the finished temporary file `tmp` the file `path`, or removes it. */
int digits__commit_tmp(const char *tmp, const char *path, char *err, size_t errlen)
{
    if (rename(tmp, path) < 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Writes len bytes to path atomically (temporary file, fsync, rename). */
int digits__write_file_atomic(const char *path, const void *data, size_t len, char *err,
                              size_t errlen)
{
    char *tmp = digits__tmp_path_for(path);
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
    rc = digits__commit_tmp(tmp, path, err, errlen);
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
 * Public functions
 * ------------------------------------------------------------------------------------------- */

static const char *const kind_names[DIGITS_KINDS] = {"xgboost", "logreg", "svm", "mlp"};
static const char *const kind_files[DIGITS_KINDS] = {"xgboost.ubj", "logreg.model", "svm.model",
                                                     "mlp.bin"};

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
    case DIGITS_XGBOOST: return digits__xgb_train(x, y, n, path, err, errlen);
    case DIGITS_LOGREG: return digits__logreg_train(x, y, n, path, err, errlen);
    case DIGITS_SVM: return digits__svm_train_save(x, y, n, path, err, errlen);
    case DIGITS_MLP: return digits__mlp_train(x, y, n, path, err, errlen);
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
    case DIGITS_XGBOOST: rc = digits__xgb_load(m, path, err, errlen); break;
    case DIGITS_LOGREG: rc = digits__logreg_load(m, path, err, errlen); break;
    case DIGITS_SVM: rc = digits__svm_load(m, path, err, errlen); break;
    case DIGITS_MLP: rc = digits__mlp_load(m, path, err, errlen); break;
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
    case DIGITS_XGBOOST: return digits__xgb_predict(model->u.booster, x, n, proba, err, errlen);
    case DIGITS_LOGREG: return digits__logreg_predict(model, x, n, proba);
    case DIGITS_SVM: return digits__svm_predict_rows(model, x, n, proba);
    case DIGITS_MLP: return digits__mlp_predict(model, x, n, proba, err, errlen);
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
