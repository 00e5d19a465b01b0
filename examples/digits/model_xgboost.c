/*
 * model_xgboost.c — the XGBoost kind (models_internal.h): gradient-boosted trees trained, saved as
 * UBJSON, loaded after a check of the file's first and last bytes, and predicted on in place.
 */
#include "models_internal.h"

#include "err.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * XGBoost: gradient-boosted trees (C API, 1.7)
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

#define XGB_ROUNDS 50

int digits__xgb_train(const float *x, const int *y, size_t n, const char *path, char *err,
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
    rc = digits__write_file_atomic(path, buf, (size_t)len, err, errlen);
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
int digits__xgb_predict(BoosterHandle booster, const float *x, size_t n, float *proba, char *err,
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

int digits__xgb_load(digits_model_t *m, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    if (digits__read_whole_file(path, &data, &len, err, errlen) < 0)
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
