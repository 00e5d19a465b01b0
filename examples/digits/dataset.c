/*
 * dataset.c — loading digits.csv.gz with zlib and splitting it deterministically.
 */
#include "dataset.h"

#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_ROWS     100000
#define LINE_MAX_LEN 1024 /* a row is at most 65 * 3 characters */

uint64_t digits_rand64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void digits_set_free(digits_set_t *set)
{
    if (!set)
        return;
    free(set->x);
    free(set->y);
    memset(set, 0, sizeof *set);
}

/* Parses one CSV row of 65 small integers into x (scaled) and *y. Returns 0, or -1 with a reason.
 */
static int parse_row(const char *line, float *x, int *y, const char **why)
{
    const char *p = line;
    for (int i = 0; i <= DIGITS_FEATURES; i++) {
        if (*p < '0' || *p > '9') {
            *why = i == 0 && (*p == '\n' || *p == '\r' || *p == 0) ? "empty line"
                                                                   : "expected a number";
            return -1;
        }
        int v = 0;
        while (*p >= '0' && *p <= '9' && v <= 100)
            v = v * 10 + (*p++ - '0');
        if (i < DIGITS_FEATURES) {
            if (v > 16) {
                *why = "pixel value out of range 0..16";
                return -1;
            }
            x[i] = (float)v / 16.0f;
            if (*p++ != ',') {
                *why = "expected 65 comma-separated fields";
                return -1;
            }
        } else {
            if (v >= DIGITS_CLASSES) {
                *why = "label out of range 0..9";
                return -1;
            }
            *y = v;
        }
    }
    while (*p == '\r' || *p == '\n')
        p++;
    if (*p) {
        *why = "expected 65 comma-separated fields";
        return -1;
    }
    return 0;
}

int digits_load(const char *path, digits_set_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile gz = gzopen(path, "rb"); /* also reads an uncompressed file as is */
    if (!gz) {
        set_err(err, errlen, "%s: %s", path, errno ? strerror(errno) : "cannot open");
        return -1;
    }
    size_t cap = 2048, n = 0;
    float *x = malloc(cap * DIGITS_FEATURES * sizeof *x);
    int *y = malloc(cap * sizeof *y);
    char line[LINE_MAX_LEN];
    int rc = -1;
    if (!x || !y) {
        set_err(err, errlen, "%s: out of memory", path);
        goto done;
    }
    while (gzgets(gz, line, sizeof line)) {
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            set_err(err, errlen, "%s:%zu: line too long", path, n + 1);
            goto done;
        }
        if (n == MAX_ROWS) {
            set_err(err, errlen, "%s: more than %d rows", path, MAX_ROWS);
            goto done;
        }
        if (n == cap) {
            cap *= 2;
            float *nx = realloc(x, cap * DIGITS_FEATURES * sizeof *x);
            if (nx)
                x = nx;
            int *ny = realloc(y, cap * sizeof *y);
            if (ny)
                y = ny;
            if (!nx || !ny) {
                set_err(err, errlen, "%s: out of memory", path);
                goto done;
            }
        }
        const char *why = NULL;
        if (parse_row(line, x + n * DIGITS_FEATURES, y + n, &why) < 0) {
            set_err(err, errlen, "%s:%zu: %s", path, n + 1, why);
            goto done;
        }
        n++;
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(gz, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END) {
        set_err(err, errlen, "%s: %s", path, zerr == Z_ERRNO ? strerror(errno) : zmsg);
        goto done;
    }
    if (n == 0) {
        set_err(err, errlen, "%s: no rows", path);
        goto done;
    }
    out->n = n;
    out->x = x;
    out->y = y;
    x = NULL;
    y = NULL;
    rc = 0;
done:
    gzclose(gz);
    free(x);
    free(y);
    return rc;
}

int digits_split(const digits_set_t *all, double test_fraction, uint64_t seed, digits_set_t *train,
                 digits_set_t *test, char *err, size_t errlen)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!(test_fraction > 0.0 && test_fraction < 1.0)) {
        set_err(err, errlen, "test fraction %g is not in (0, 1)", test_fraction);
        return -1;
    }
    size_t n = all->n;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    unsigned char *is_test = calloc(n ? n : 1, 1);
    int rc = -1;
    if (!idx || !is_test) {
        set_err(err, errlen, "out of memory");
        goto done;
    }
    uint64_t state = seed;
    size_t n_test = 0;
    for (int label = 0; label < DIGITS_CLASSES; label++) {
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
            if (all->y[i] == label)
                idx[count++] = i;
        for (size_t i = count; i > 1; i--) { /* Fisher–Yates */
            size_t j = (size_t)(digits_rand64(&state) % i);
            size_t t = idx[i - 1];
            idx[i - 1] = idx[j];
            idx[j] = t;
        }
        size_t k = (size_t)((double)count * test_fraction + 0.5);
        for (size_t i = 0; i < k; i++)
            is_test[idx[i]] = 1;
        n_test += k;
    }
    size_t n_train = n - n_test;
    train->x = malloc((n_train ? n_train : 1) * DIGITS_FEATURES * sizeof(float));
    train->y = malloc((n_train ? n_train : 1) * sizeof(int));
    test->x = malloc((n_test ? n_test : 1) * DIGITS_FEATURES * sizeof(float));
    test->y = malloc((n_test ? n_test : 1) * sizeof(int));
    if (!train->x || !train->y || !test->x || !test->y) {
        set_err(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        digits_set_t *s = is_test[i] ? test : train;
        memcpy(s->x + s->n * DIGITS_FEATURES, all->x + i * DIGITS_FEATURES,
               DIGITS_FEATURES * sizeof(float));
        s->y[s->n++] = all->y[i];
    }
    rc = 0;
done:
    free(idx);
    free(is_test);
    if (rc) {
        digits_set_free(train);
        digits_set_free(test);
    }
    return rc;
}
