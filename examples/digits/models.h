/*
 * models.h — four digit classifiers behind one small interface: train and save to a file, load a
 * file, predict class probabilities for a batch of rows.
 *
 *     char err[256];
 *     digits_model_t *m = digits_model_load(DIGITS_SVM, "build/digits/models/svm.model",
 *                                           err, sizeof err);
 *     if (!m) { fprintf(stderr, "%s\n", err); ... }    // "…/svm.model: No such file or directory"
 *     float proba[64 * DIGITS_CLASSES];
 *     if (digits_model_predict_proba(m, x, 64, proba, err, sizeof err) < 0) ...
 *     int digit = digits_argmax(proba + 3 * DIGITS_CLASSES);  // the class of row 3
 *     digits_model_free(m);
 *
 * Input rows are DIGITS_FEATURES (64) floats, the 8x8 pixels of an image row by row, scaled to
 * [0, 1] (the data set's 0..16 divided by 16, see dataset.h). Output rows are DIGITS_CLASSES (10)
 * probabilities, one per digit 0..9, summing to 1.
 *
 * Kinds, their files and the library behind each (file formats: examples/digits/README.md):
 *   DIGITS_XGBOOST  xgboost.ubj   gradient-boosted trees, XGBoost C API, UBJSON model
 *   DIGITS_LOGREG   logreg.model  L2 logistic regression (one-vs-rest), liblinear text model
 *   DIGITS_SVM      svm.model     RBF-kernel SVM with Platt probabilities, libsvm text model
 *   DIGITS_MLP      mlp.bin       64-128-10 perceptron (ReLU, softmax) on OpenBLAS, own format
 *
 * Errors: functions that can fail return -1 (or NULL) and write a one-line message to err (which
 * may be NULL; errlen counts the terminating NUL). Load and save messages begin with the file's
 * path.
 *
 * Threads: digits_model_predict_proba may be called on one loaded model from any number of
 * threads at once; it does not change the model and keeps its scratch memory per call. Loading
 * and freeing are not concurrent with predicting on the same model (load, then share, then free
 * after the last predict). Loads of different files may run at once (libsvm's loader, which uses
 * static buffers, runs under a process-wide lock). Training is meant for one thread: the SVM
 * seeds the C library's rand() (libsvm uses it) and the MLP sets OpenBLAS to one thread.
 * See README.md for how each library was checked.
 */
#ifndef DIGITS_MODELS_H
#define DIGITS_MODELS_H

#include <stddef.h>

#include "dataset.h"

/** The model kinds. Values are stable (0..3) and usable as array indexes. */
typedef enum digits_kind {
    DIGITS_XGBOOST = 0,
    DIGITS_LOGREG = 1,
    DIGITS_SVM = 2,
    DIGITS_MLP = 3,
} digits_kind_t;

#define DIGITS_KINDS 4 /**< number of kinds; kinds are 0 .. DIGITS_KINDS-1 */

/** A loaded model. Opaque; from digits_model_load, freed by digits_model_free. */
typedef struct digits_model digits_model_t;

/** The kind's short name ("xgboost", "logreg", "svm", "mlp"), or NULL for a bad kind. Static. */
const char *digits_kind_name(digits_kind_t kind);

/** The kind's usual file name in a models folder ("xgboost.ubj", "logreg.model", "svm.model",
 *  "mlp.bin"), or NULL for a bad kind. Static. */
const char *digits_kind_filename(digits_kind_t kind);

/** Looks a kind up by its short name. Returns 0 and sets *kind, or -1 if no kind has that name. */
int digits_kind_from_name(const char *name, digits_kind_t *kind);

/**
 * Trains a model of `kind` on n rows (x: n*64 floats in [0, 1], row-major; y: n labels 0..9, every
 * label present at least twice) and saves it to `path`. Deterministic: the same rows give the same
 * file on the same machine. The file is written to `path.tmp.PID` and renamed over `path`, so a
 * reader sees the old file or the new one, never half of one. The caller keeps x and y.
 * Returns 0, or -1 with a message in err (a bad argument, a library error, or the file's path and
 * why it could not be written).
 */
int digits_model_train(digits_kind_t kind, const float *x, const int *y, size_t n, const char *path,
                       char *err, size_t errlen);

/**
 * Loads the model of `kind` saved at `path`, checking the file first: it must be a regular file
 * of at most 256 MiB, well-formed for its format (the MLP's also passes its CRC-32), and hold a
 * 10-class model over 64 features. Returns the model, owned by the caller, or NULL with a message
 * beginning with `path` ("PATH: No such file or directory", "PATH: truncated: …", "PATH: not a
 * libsvm model: …").
 */
digits_model_t *digits_model_load(digits_kind_t kind, const char *path, char *err, size_t errlen);

/**
 * Predicts class probabilities for n rows: x is n*64 floats (row-major; every value finite and
 * within ±1e6), proba receives n*10 floats (row i's probability of digit c at proba[i*10 + c]).
 * Both buffers belong to the caller. n == 0 does nothing. Safe to call from several threads at
 * once on the same model. A batch gives the same result as its rows one at a time: bit for bit
 * for XGBoost, liblinear and libsvm, which predict row by row; for the MLP bit for bit on the
 * machine measured, but OpenBLAS may group sums differently by batch size on other CPUs, so the
 * test allows 1e-6. Returns 0, or -1 with a message (an out-of-range value, out of
 * memory, a library error).
 */
int digits_model_predict_proba(const digits_model_t *model, const float *x, size_t n, float *proba,
                               char *err, size_t errlen);

/** The kind of a loaded model. */
digits_kind_t digits_model_kind(const digits_model_t *model);

/** The path a model was loaded from (owned by the model). */
const char *digits_model_path(const digits_model_t *model);

/** Frees a model; NULL is ignored. No predict on it may be running or start afterwards. */
void digits_model_free(digits_model_t *model);

/** The index (digit) of the largest of the 10 probabilities at proba; ties go to the lower. */
int digits_argmax(const float *proba);

#endif
