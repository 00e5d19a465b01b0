/*
 * dataset.h — the handwritten digits data set: loading and a deterministic train/test split.
 *
 * The data is the UCI optdigits set as scikit-learn ships it (digits.csv.gz, fetched by
 * scripts/fetch-digits.sh): 1797 rows, each 64 pixel values 0–16 of an 8x8 image (row-major)
 * followed by the label 0–9, comma-separated, no header, gzip-compressed.
 *
 * Features are scaled to [0, 1] by dividing by 16, so every model in models.h sees the same input
 * and a client sends pixels in that scale.
 */
#ifndef DIGITS_DATASET_H
#define DIGITS_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define DIGITS_FEATURES 64 /**< pixels per image (8x8) */
#define DIGITS_CLASSES  10 /**< labels 0..9 */

/** The fixed seed and test fraction of the split digits-train and the tests use. */
#define DIGITS_SPLIT_SEED    20240501u
#define DIGITS_TEST_FRACTION 0.2

/** A set of rows: x is n*DIGITS_FEATURES floats in [0, 1] (row-major), y is n labels 0..9. */
typedef struct digits_set {
    size_t n;
    float *x;
    int *y;
} digits_set_t;

/**
 * Reads the gzip-compressed CSV at path into *out (which owns x and y; free with
 * digits_set_free). Every row must have exactly 64 integers 0..16 and a label 0..9; at most
 * 100000 rows. Returns 0, or -1 with a message naming the file (and line) in err.
 */
int digits_load(const char *path, digits_set_t *out, char *err, size_t errlen);

/**
 * Splits all into *train and *test (both owned by the caller; free with digits_set_free),
 * stratified by label: for each label, its rows are shuffled by a Fisher–Yates shuffle driven by
 * splitmix64(seed) and the first round(count * test_fraction) go to test. Both sets keep the
 * rows in file order. The same file and seed always give the same split (with the defaults, 1797
 * rows become 1438 train and 359 test). Returns 0, or -1 on allocation failure.
 */
int digits_split(const digits_set_t *all, double test_fraction, uint64_t seed, digits_set_t *train,
                 digits_set_t *test, char *err, size_t errlen);

/** Frees the rows of a set and zeroes it; a zeroed set is fine. */
void digits_set_free(digits_set_t *set);

/** splitmix64: the small deterministic PRNG the split and the MLP use. Advances *state. */
uint64_t digits_rand64(uint64_t *state);

#endif
