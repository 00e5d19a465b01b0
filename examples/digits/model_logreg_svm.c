/*
 * model_logreg_svm.c — the two kinds on libraries with text model files (models_internal.h):
 * liblinear's logistic regression and libsvm's RBF SVM. Both take sparse rows, save through a
 * temporary file, and load only files that model_text_check.c passed.
 */
#include "models_internal.h"

#include "err.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void quiet(const char *msg) { (void)msg; }

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

int digits__logreg_train(const float *x, const int *y, size_t n, const char *path, char *err,
                         size_t errlen)
{
    struct feature_node *space = malloc(n * NODES_PER_ROW * sizeof *space);
    struct feature_node **rows = malloc(n * sizeof *rows);
    double *labels = malloc(n * sizeof *labels);
    char *tmp = digits__tmp_path_for(path);
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
        rc = digits__commit_tmp(tmp, path, err, errlen);
    }
    free_and_destroy_model(&model);
done:
    free(space);
    free(rows);
    free(labels);
    free(tmp);
    return rc;
}

int digits__logreg_load(digits_model_t *m, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    if (digits__read_whole_file(path, &data, &len, err, errlen) < 0)
        return -1;
    int rc = digits__check_liblinear_text(path, data, err, errlen);
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
int digits__logreg_predict(const digits_model_t *m, const float *x, size_t n, float *proba)
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

int digits__svm_train_save(const float *x, const int *y, size_t n, const char *path, char *err,
                           size_t errlen)
{
    struct svm_node *space = malloc(n * NODES_PER_ROW * sizeof *space);
    struct svm_node **rows = malloc(n * sizeof *rows);
    double *labels = malloc(n * sizeof *labels);
    char *tmp = digits__tmp_path_for(path);
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
        rc = digits__commit_tmp(tmp, path, err, errlen);
    }
    svm_free_and_destroy_model(&model); /* before `space`: the model points into it */
done:
    free(space);
    free(rows);
    free(labels);
    free(tmp);
    return rc;
}

int digits__svm_load(digits_model_t *m, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    if (digits__read_whole_file(path, &data, &len, err, errlen) < 0)
        return -1;
    int rc = digits__check_libsvm_text(path, data, err, errlen);
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
int digits__svm_predict_rows(const digits_model_t *m, const float *x, size_t n, float *proba)
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
