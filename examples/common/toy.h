/*
 * toy.h — the arithmetic the composition examples share: summary statistics of readings and a
 * small linear classifier. Deliberately tiny: those examples show how services compose; the
 * digits demo (examples/digits) serves real models.
 */
#ifndef TIFFIN_EXAMPLES_TOY_H
#define TIFFIN_EXAMPLES_TOY_H

#include <math.h>
#include <stdint.h>

#define TOY_NFEAT  4
#define TOY_NCLASS 3

static const char *const toy_labels[TOY_NCLASS] = {"low", "mid", "high"};

/* A linear classifier over the summary features, with a softmax. */
typedef struct toy_linear {
    float w[TOY_NCLASS][TOY_NFEAT], b[TOY_NCLASS];
} toy_linear_t;

/* f = mean, standard deviation, minimum and maximum of x[0..n) (n > 0). */
static inline void toy_summary(const float *x, int64_t n, float f[TOY_NFEAT])
{
    double sum = 0, sq = 0, lo = x[0], hi = x[0];
    for (int64_t i = 0; i < n; i++) {
        sum += x[i];
        sq += (double)x[i] * x[i];
        lo = fmin(lo, x[i]);
        hi = fmax(hi, x[i]);
    }
    double mean = sum / (double)n;
    f[0] = (float)mean;
    f[1] = (float)sqrt(fmax(0, sq / (double)n - mean * mean));
    f[2] = (float)lo;
    f[3] = (float)hi;
}

/* p = softmax(w f + b). */
static inline void toy_predict(const toy_linear_t *m, const float f[TOY_NFEAT], float p[TOY_NCLASS])
{
    float total = 0;
    for (int k = 0; k < TOY_NCLASS; k++) {
        float z = m->b[k];
        for (int j = 0; j < TOY_NFEAT; j++)
            z += m->w[k][j] * f[j];
        total += p[k] = expf(z);
    }
    for (int k = 0; k < TOY_NCLASS; k++)
        p[k] /= total;
}

/* Index of the largest of p[0..n). */
static inline int toy_argmax(const float *p, int n)
{
    int best = 0;
    for (int c = 1; c < n; c++)
        if (p[c] > p[best])
            best = c;
    return best;
}

#endif
