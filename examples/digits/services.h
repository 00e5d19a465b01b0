/*
 * services.h — the digits ensemble as tiffin services (services.c, service_models.c,
 * service_steps.c):
 *
 *   Digits (entry) ── classify / classify_batch
 *     1. Preprocessing.preprocess / preprocess_batch   validate; decode PNG/PGM; 8x8, 0..16 -> x
 *     2. XGBoost, LogReg, SVM, MLP .predict_proba      concurrently (tfn_call_async), one batched
 *                                                      call each, with a per-call timeout
 *     3. Aggregator.vote                               weighted soft vote of those that answered
 *     4. Postprocessing.format                         label, confidence, votes (+ missing)
 *
 * Environment (read once per worker, in the init hooks):
 *   DIGITS_MODELS            folder of the model files (default: ../digits/models beside the
 *                            program, i.e. build/digits/models for build/examples/digits)
 *   DIGITS_WEIGHTS           soft-vote weights "xgboost=1,logreg=1,svm=2,mlp=1" (Aggregator);
 *                            default: DIGITS_MODELS/weights if present (fitted by digits-train),
 *                            else all 1
 *   DIGITS_MODEL_TIMEOUT_MS  per-model call timeout of the entry (default 2000)
 *   DIGITS_FAULT             fault injection, honoured only by the model services, for tests:
 *                            "svm:fail" (every call fails), "svm:sleep=MS" (every call sleeps MS
 *                            first, failing with ETIMEOUT if the request's deadline comes
 *                            first), "svm:init" (init fails); several separated by commas
 */
#ifndef DIGITS_SERVICES_H
#define DIGITS_SERVICES_H

#include <tiffin.h>

#include "models.h"

/** The entry service, "Digits", and through its `depends` the whole graph. */
extern const tfn_service_t digits_service;

/** Largest batch (rows of "images" / "x") any API of the graph takes. */
#define DIGITS_MAX_BATCH 4096

/** The service names of the model kinds ("XGBoost", "LogReg", "SVM", "MLP"), by kind. */
extern const char *const digits_model_service_names[DIGITS_KINDS];

/**
 * The model folder: $DIGITS_MODELS, else ../digits/models beside the running program, else
 * "build/digits/models". Written into buf (len bytes); returns buf.
 */
const char *digits_models_dir(char *buf, size_t len);

#endif
