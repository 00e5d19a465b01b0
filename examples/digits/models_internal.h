/*
 * models_internal.h — what the files behind models.h share: the model object, the helpers of
 * models.c, the text-format checks of model_text_check.c, and each kind's train / load / predict
 * (model_xgboost.c, model_logreg_svm.c, model_mlp.c), which models.c's public functions call after
 * checking their arguments. Errors as in models.h: -1 and a message in (err, errlen).
 */
#ifndef DIGITS_MODELS_INTERNAL_H
#define DIGITS_MODELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <libsvm/svm.h>
#include <linear.h>
#include <xgboost/c_api.h>

#include "models.h"

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

/* Sparse rows in the libsvm/liblinear node layout: nonzero features, 1-based indexes, then an
 * optional bias node (liblinear), then index -1. Both libraries' node structs are {int; double}. */
#define NODES_PER_ROW (DIGITS_FEATURES + 2)

/* ---------------------------------------------------------------------------------------------
 * Helpers (models.c)
 * ------------------------------------------------------------------------------------------- */

/** Reads the regular file at path (at most 256 MiB) into *data, malloc'd, NUL-terminated. */
int digits__read_whole_file(const char *path, char **data, size_t *len, char *err, size_t errlen);

/** "PATH.tmp.PID", malloc'd (NULL when out of memory): where a save writes before the rename. */
char *digits__tmp_path_for(const char *path);

/** Renames the finished temporary file tmp to path, or removes it. */
int digits__commit_tmp(const char *tmp, const char *path, char *err, size_t errlen);

/** Writes len bytes to path atomically (temporary file, fsync, rename). */
int digits__write_file_atomic(const char *path, const void *data, size_t len, char *err,
                              size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * Text-format checks (model_text_check.c); data is the whole file, NUL-terminated
 * ------------------------------------------------------------------------------------------- */

/** Checks data is a liblinear 2.3 L2R_LR model of 10 classes over 64 features, as we save them. */
int digits__check_liblinear_text(const char *path, const char *data, char *err, size_t errlen);

/** Checks data is a libsvm 3.24 RBF C-SVC model of 10 classes with probabilities, as we save. */
int digits__check_libsvm_text(const char *path, const char *data, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * The kinds: train and save to path; load path into m (m->kind and m->path set, the rest zero);
 * predict n checked rows into proba (n x DIGITS_CLASSES)
 * ------------------------------------------------------------------------------------------- */

/** XGBoost (model_xgboost.c): trains 50 rounds of depth-4 trees and saves UBJSON. */
int digits__xgb_train(const float *x, const int *y, size_t n, const char *path, char *err,
                      size_t errlen);
/** XGBoost: loads a UBJSON model into m->u.booster. */
int digits__xgb_load(digits_model_t *m, const char *path, char *err, size_t errlen);
/** XGBoost: predicts with the loaded booster; thread-safe. */
int digits__xgb_predict(BoosterHandle booster, const float *x, size_t n, float *proba, char *err,
                        size_t errlen);

/** liblinear (model_logreg_svm.c): trains L2 logistic regression and saves its text model. */
int digits__logreg_train(const float *x, const int *y, size_t n, const char *path, char *err,
                         size_t errlen);
/** liblinear: checks, then loads a text model into m->u.linear and m->slot. */
int digits__logreg_load(digits_model_t *m, const char *path, char *err, size_t errlen);
/** liblinear: predicts probabilities; thread-safe; cannot fail. */
int digits__logreg_predict(const digits_model_t *m, const float *x, size_t n, float *proba);

/** libsvm (model_logreg_svm.c): trains an RBF C-SVC with probabilities and saves its text model. */
int digits__svm_train_save(const float *x, const int *y, size_t n, const char *path, char *err,
                           size_t errlen);
/** libsvm: checks, then loads a text model into m->u.svm and m->slot (one load at a time). */
int digits__svm_load(digits_model_t *m, const char *path, char *err, size_t errlen);
/** libsvm: predicts probabilities; thread-safe; cannot fail. */
int digits__svm_predict_rows(const digits_model_t *m, const float *x, size_t n, float *proba);

/** MLP (model_mlp.c): trains the 64-128-10 perceptron with Adam and saves mlp.bin. */
int digits__mlp_train(const float *x, const int *y, size_t n, const char *path, char *err,
                      size_t errlen);
/** MLP: checks and loads an mlp.bin into m->u.mlp. */
int digits__mlp_load(digits_model_t *m, const char *path, char *err, size_t errlen);
/** MLP: predicts in chunks of rows; thread-safe. */
int digits__mlp_predict(const digits_model_t *m, const float *x, size_t n, float *proba, char *err,
                        size_t errlen);

#endif
