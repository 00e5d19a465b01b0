/*
 * weights.h — the weights of the soft vote, as text: "xgboost=1,logreg=1,svm=2,mlp=1".
 *
 * The Aggregator service reads them from the environment (DIGITS_WEIGHTS) or from the file
 * `weights` that digits-train writes beside the models (fitted by cross-validation on the
 * training rows: see README.md); digits-train writes them with digits_weights_format.
 */
#ifndef DIGITS_WEIGHTS_H
#define DIGITS_WEIGHTS_H

#include <stddef.h>

#include "models.h"

/**
 * Parses "NAME=W,NAME=W,..." (NAME a kind name of models.h, each at most once; W a finite
 * decimal number >= 0; spaces around items allowed; kinds not named keep weight 1) into
 * w[DIGITS_KINDS]. The weights may not all be 0. Returns 0, or -1 with a message in err
 * (e.g. "unknown model 'svn' (xgboost, logreg, svm, mlp)"); w is then unchanged.
 */
int digits_weights_parse(const char *text, double w[DIGITS_KINDS], char *err, size_t errlen);

/** Writes w as "xgboost=W,logreg=W,svm=W,mlp=W" (%g) into buf. Returns what snprintf does. */
int digits_weights_format(const double w[DIGITS_KINDS], char *buf, size_t len);

#endif
