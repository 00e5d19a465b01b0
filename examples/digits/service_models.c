/*
 * service_models.c — XGBoost, LogReg, SVM and MLP: the four model services of the digits ensemble
 * (services_internal.h), one loaded model per worker, with the DIGITS_FAULT fault injection.
 */
#include "services_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * XGBoost, LogReg, SVM, MLP: predict_proba {"x": float32[n][64]} -> probabilities [n][10]
 * ------------------------------------------------------------------------------------------- */

typedef enum fault { FAULT_NONE, FAULT_FAIL, FAULT_SLEEP, FAULT_INIT } fault_t;

typedef struct model_state {
    digits_model_t *model;
    fault_t fault;
    unsigned sleep_ms;
    char fault_text[64]; /* the DIGITS_FAULT item, for messages */
} model_state_t;

/* Finds this kind's item in DIGITS_FAULT ("svm:fail,mlp:sleep=500"). Returns 0 (*fault set, maybe
 * FAULT_NONE) or -1 with a message for a malformed variable. */
static int parse_fault(digits_kind_t kind, model_state_t *st, char *err, size_t errlen)
{
    const char *env = getenv("DIGITS_FAULT");
    st->fault = FAULT_NONE;
    for (const char *p = env; p && *p;) {
        const char *end = strchr(p, ','), *colon;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (len >= sizeof item || !(colon = memchr(p, ':', len))) {
            snprintf(err, errlen,
                     "DIGITS_FAULT: '%.*s' is not MODEL:fail, MODEL:sleep=MS or "
                     "MODEL:init",
                     (int)(len < 60 ? len : 60), p);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = 0;
        item[colon - p] = 0;
        const char *what = item + (colon - p) + 1;
        digits_kind_t k;
        char *num_end;
        unsigned long ms = 0;
        fault_t f = !strcmp(what, "fail")   ? FAULT_FAIL
                    : !strcmp(what, "init") ? FAULT_INIT
                    : !strncmp(what, "sleep=", 6) && what[6] >= '0' && what[6] <= '9' &&
                            (errno = 0, ms = strtoul(what + 6, &num_end, 10), !*num_end) &&
                            errno == 0 && ms <= 600000
                        ? FAULT_SLEEP
                        : FAULT_NONE;
        if (digits_kind_from_name(item, &k) < 0 || f == FAULT_NONE) {
            snprintf(err, errlen,
                     "DIGITS_FAULT: '%.*s' is not MODEL:fail, MODEL:sleep=MS or "
                     "MODEL:init (MODEL one of xgboost, logreg, svm, mlp)",
                     (int)(len < 60 ? len : 60), p);
            return -1;
        }
        if (k == kind) {
            st->fault = f;
            st->sleep_ms = (unsigned)ms;
            snprintf(st->fault_text, sizeof st->fault_text, "%.*s", (int)len, p);
        }
        p = end ? end + 1 : p + len;
    }
    return 0;
}

static int model_init(tfn_worker_t *worker, void **state, digits_kind_t kind)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], err[TFN_ERROR_MESSAGE_MAX];
    model_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return tfn_worker_fail(worker, TFN_ENOMEM, "out of memory");
    if (parse_fault(kind, st, err, sizeof err) < 0) {
        free(st);
        return tfn_worker_fail(worker, TFN_EINIT, "%s", err);
    }
    if (st->fault == FAULT_INIT) {
        int rc =
            tfn_worker_fail(worker, TFN_EINIT, "fault injected (DIGITS_FAULT=%s)", st->fault_text);
        free(st);
        return rc;
    }
    snprintf(path, sizeof path, "%s/%s", digits_models_dir(dir, sizeof dir),
             digits_kind_filename(kind));
    if (!(st->model = digits_model_load(kind, path, err, sizeof err))) {
        free(st);
        /* err begins with the path: "…/svm.model: No such file or directory" */
        return tfn_worker_fail(worker, TFN_EINIT, "cannot load the %s model: %s",
                               digits_kind_name(kind), err);
    }
    *state = st;
    return 0;
}

static void model_shutdown(tfn_worker_t *worker, void *state)
{
    (void)worker;
    model_state_t *st = state;
    if (st)
        digits_model_free(st->model);
    free(st);
}

static int init_xgboost(tfn_worker_t *w, void **s) { return model_init(w, s, DIGITS_XGBOOST); }
static int init_logreg(tfn_worker_t *w, void **s) { return model_init(w, s, DIGITS_LOGREG); }
static int init_svm(tfn_worker_t *w, void **s) { return model_init(w, s, DIGITS_SVM); }
static int init_mlp(tfn_worker_t *w, void **s) { return model_init(w, s, DIGITS_MLP); }

/* Runs on the service's handler threads (TFN_RUN_IN_THREAD): inference would stall the loop. */
static int predict_proba(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    model_state_t *st = tfn_ctx_state(ctx);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *x = tfn_object_get(in, "x");
    int64_t n = tfn_tensor_shape(x)[0];
    if (n > DIGITS_MAX_BATCH)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'x' has %lld rows, more than %d", (long long)n,
                            DIGITS_MAX_BATCH);
    if (st->fault == FAULT_FAIL)
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "fault injected (DIGITS_FAULT=%s)", st->fault_text);
    if (st->fault == FAULT_SLEEP) { /* a slow model that gives up at the request's deadline */
        for (double until = digits__now_ms() + st->sleep_ms; digits__now_ms() < until;) {
            if (tfn_ctx_remaining_ms(ctx) <= 0)
                return tfn_ctx_fail(ctx, TFN_ETIMEOUT,
                                    "fault injected (DIGITS_FAULT=%s): gave "
                                    "up at the deadline",
                                    st->fault_text);
            usleep(2000);
        }
    }

    tfn_value_t *proba = digits__matrix(a, n, DIGITS_CLASSES);
    if (!proba)
        return TFN_ENOMEM;
    char err[256];
    double t0 = digits__now_ms();
    if (digits_model_predict_proba(st->model, tfn_tensor_data(x), (size_t)n, tfn_tensor_data(proba),
                                   err, sizeof err) < 0)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "%s", err);
    double ms = digits__now_ms() - t0;
    *out = tfn_object(a);
    int rc = digits__set(a, *out, "probabilities", proba);
    return rc ? rc : digits__set(a, *out, "compute_ms", tfn_float(a, ms));
}

static const tfn_field_t x_in[] = {{.name = "x",
                                    .type = TFN_TYPE_TENSOR,
                                    .dtype = TFN_DTYPE_F32,
                                    .ndim = 2,
                                    .shape = {-1, DIGITS_FEATURES},
                                    .doc = "n images of 64 values in [0, 1] (pixels / 16)"},
                                   {0}};
static const tfn_api_t model_apis[] = {
    {.name = "predict_proba",
     .handler = predict_proba,
     .inputs = x_in,
     .output = TFN_TYPE_OBJECT,
     .run = TFN_RUN_IN_THREAD,
     /* `serve --batch N` may merge concurrent requests (bench/batch). */
     .batch = {.stackable = true},
     .doc = "{\"x\": float32[n][64]} -> {\"probabilities\": float32[n][10], \"compute_ms\"}"},
    {0}};

/* Resources per model, from examples/digits/README.md's measurements: the SVM is the slowest
 * (about 60-90 us a row), XGBoost next; liblinear and the MLP are cheap. */
const tfn_service_t digits__model_services[DIGITS_KINDS] = {
    {.name = "XGBoost",
     .doc = "gradient-boosted trees (XGBoost), xgboost.ubj",
     .apis = model_apis,
     .init = init_xgboost,
     .shutdown = model_shutdown,
     .resources = {.cpu = 1.0, .memory_mb = 512},
     .workers = 1,
     .threads = 2,
     .traffic = {.timeout_ms = 5000, .max_concurrency = 256}},
    {.name = "LogReg",
     .doc = "logistic regression (liblinear), logreg.model",
     .apis = model_apis,
     .init = init_logreg,
     .shutdown = model_shutdown,
     .resources = {.cpu = 0.25, .memory_mb = 128},
     .workers = 1,
     .threads = 2,
     .traffic = {.timeout_ms = 5000, .max_concurrency = 256}},
    {.name = "SVM",
     .doc = "RBF support-vector machine (libsvm), svm.model",
     .apis = model_apis,
     .init = init_svm,
     .shutdown = model_shutdown,
     .resources = {.cpu = 1.0, .memory_mb = 256},
     .workers = 1,
     .threads = 2,
     .traffic = {.timeout_ms = 5000, .max_concurrency = 256}},
    {.name = "MLP",
     .doc = "64-128-10 perceptron (OpenBLAS), mlp.bin",
     .apis = model_apis,
     .init = init_mlp,
     .shutdown = model_shutdown,
     .resources = {.cpu = 0.5, .memory_mb = 256},
     .workers = 1,
     .threads = 2,
     .traffic = {.timeout_ms = 5000, .max_concurrency = 256}},
};
