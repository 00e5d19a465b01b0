/*
 * services_internal.h — what the files behind services.h share: the services the entry depends on
 * (service_steps.c, service_models.c) and the helpers of services.c.
 */
#ifndef DIGITS_SERVICES_INTERNAL_H
#define DIGITS_SERVICES_INTERNAL_H

#include <stdint.h>

#include <tiffin.h>

#include "services.h"

/** Preprocessing (service_steps.c): images -> x in [0, 1]. */
extern const tfn_service_t digits__preprocessing;

/** XGBoost, LogReg, SVM, MLP (service_models.c), by kind: x -> probabilities. */
extern const tfn_service_t digits__model_services[DIGITS_KINDS];

/** Aggregator (service_steps.c): the weighted soft vote of the models' probabilities. */
extern const tfn_service_t digits__aggregator;

/** Postprocessing (service_steps.c): probabilities -> labels, confidences and votes. */
extern const tfn_service_t digits__postprocessing;

/** Milliseconds on the monotonic clock. */
double digits__now_ms(void);

/** A [rows][cols] float32 tensor from the request's arena a, or NULL. */
tfn_value_t *digits__matrix(tfn_arena_t *a, int64_t rows, int64_t cols);

/** Sets key to val in obj; a NULL val (an exhausted arena) makes it fail with TFN_ENOMEM. */
int digits__set(tfn_arena_t *a, tfn_value_t *obj, const char *key, tfn_value_t *val);

#endif
