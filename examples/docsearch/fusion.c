/*
 * fusion.c — pooling, cosine scoring and top-k (fusion.h says what and why).
 */
#include "fusion.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

void ds_mean_pool(const float *hidden, const int64_t *mask, size_t b, size_t s, size_t d,
                  float *out)
{
    for (size_t i = 0; i < b; i++) {
        float *o = out + i * d;
        memset(o, 0, d * sizeof *o);
        double count = 0;
        for (size_t t = 0; t < s; t++) {
            if (!mask[i * s + t])
                continue;
            const float *h = hidden + (i * s + t) * d;
            for (size_t j = 0; j < d; j++)
                o[j] += h[j];
            count++;
        }
        if (count == 0)
            continue;
        double norm = 0;
        for (size_t j = 0; j < d; j++) {
            o[j] = (float)(o[j] / count);
            norm += (double)o[j] * o[j];
        }
        norm = sqrt(norm);
        if (norm < 1e-12) /* sentence-transformers divides by max(norm, 1e-12) */
            norm = 1e-12;
        for (size_t j = 0; j < d; j++)
            o[j] = (float)(o[j] / norm);
    }
}

double ds_cosine(const float *a, const float *b, size_t d)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t j = 0; j < d; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    return aa > 0 && bb > 0 ? ab / (sqrt(aa) * sqrt(bb)) : 0;
}

void ds_fuse(const float *query, const float *lines, const float *confidences, size_t n, size_t d,
             float *similarities, float *scores)
{
    for (size_t i = 0; i < n; i++) {
        double c = ds_cosine(query, lines + i * d, d);
        similarities[i] = (float)c;
        scores[i] = (float)(c * confidences[i]);
    }
}

/* a ranks before b: higher score, NaN last, then lower index. */
static bool before(const float *scores, size_t a, size_t b)
{
    float x = scores[a], y = scores[b];
    if (isnan(x) != isnan(y))
        return !isnan(x);
    if (!isnan(x) && x != y)
        return x > y;
    return a < b;
}

size_t ds_top_k(const float *scores, size_t n, size_t k, size_t *order)
{
    size_t m = 0;
    if (k > n)
        k = n;
    for (size_t i = 0; i < n && k > 0; i++) {
        /* insertion into the sorted top k: n is small (the lines of one page) */
        if (m == k && !before(scores, i, order[m - 1]))
            continue;
        size_t j = m < k ? m++ : m - 1;
        while (j > 0 && before(scores, i, order[j - 1])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    return m;
}
