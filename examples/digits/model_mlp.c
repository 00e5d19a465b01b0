/*
 * model_mlp.c — the MLP kind (models_internal.h): a 64-128-10 perceptron on OpenBLAS, its file
 * format, forward pass, training, checked loading and prediction.
 */
#include "models_internal.h"

#include "err.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <zlib.h>

/* ---------------------------------------------------------------------------------------------
 * MLP: 64-128-10, ReLU, softmax; trained with Adam on cross-entropy; matrix products by OpenBLAS
 *
 * File format "mlp.bin", version 1, all little-endian:
 *   offset 0   8 bytes  magic "DIGITMLP"
 *          8   u32      version (1)
 *         12   u32      n_in (64)
 *         16   u32      n_hidden (1..4096; 128 as trained)
 *         20   u32      n_out (10)
 *         24   u32      activation of the hidden layer (1 = ReLU)
 *         28   f32[]    W1 (n_in x n_hidden, row-major), b1 (n_hidden),
 *                       W2 (n_hidden x n_out, row-major), b2 (n_out)
 *        end-4 u32      CRC-32 (zlib's crc32, IEEE) of every byte before it
 * The size must be exactly 32 + 4 * (number of weights); every weight must be finite.
 * ------------------------------------------------------------------------------------------- */

#define MLP_MAGIC      "DIGITMLP"
#define MLP_VERSION    1u
#define MLP_HEADER     28u
#define MLP_HIDDEN     128u
#define MLP_MAX_HIDDEN 4096u
#define MLP_ACT_RELU   1u
#define MLP_EPOCHS     40
#define MLP_BATCH      32
#define MLP_LR         1e-3f
#define MLP_SEED       7u
#define MLP_CHUNK      256 /* rows per forward pass at predict time: bounds scratch memory */

static size_t mlp_param_count(uint32_t in, uint32_t hidden, uint32_t out)
{
    return (size_t)in * hidden + hidden + (size_t)hidden * out + out;
}

static int mlp_alloc(mlp_t *mlp, uint32_t in, uint32_t hidden, uint32_t out)
{
    mlp->n_in = in;
    mlp->n_hidden = hidden;
    mlp->n_out = out;
    mlp->params = calloc(mlp_param_count(in, hidden, out), sizeof(float));
    if (!mlp->params)
        return -1;
    mlp->w1 = mlp->params;
    mlp->b1 = mlp->w1 + (size_t)in * hidden;
    mlp->w2 = mlp->b1 + hidden;
    mlp->b2 = mlp->w2 + (size_t)hidden * out;
    return 0;
}

/* Forward pass for rows x[0..n): hidden (n x n_hidden) and proba (n x n_out) are scratch/output.
 * The softmax subtracts the row maximum, so large logits do not overflow. */
static void mlp_forward(const mlp_t *mlp, const float *x, int n, float *hidden, float *proba)
{
    const int in = (int)mlp->n_in, hid = (int)mlp->n_hidden, out = (int)mlp->n_out;
    for (int i = 0; i < n; i++)
        memcpy(hidden + (size_t)i * hid, mlp->b1, (size_t)hid * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hid, in, 1.0f, x, in, mlp->w1, hid,
                1.0f, hidden, hid);
    for (size_t k = 0; k < (size_t)n * hid; k++)
        hidden[k] = hidden[k] > 0.0f ? hidden[k] : 0.0f;
    for (int i = 0; i < n; i++)
        memcpy(proba + (size_t)i * out, mlp->b2, (size_t)out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, hid, 1.0f, hidden, hid, mlp->w2,
                out, 1.0f, proba, out);
    for (int i = 0; i < n; i++) {
        float *z = proba + (size_t)i * out;
        float max = z[0], sum = 0.0f;
        for (int c = 1; c < out; c++)
            max = z[c] > max ? z[c] : max;
        for (int c = 0; c < out; c++)
            sum += (z[c] = expf(z[c] - max));
        for (int c = 0; c < out; c++)
            z[c] /= sum;
    }
}

/* A uniform float in [-1, 1) from splitmix64. */
static float uniform_pm1(uint64_t *state)
{
    return (float)((double)(digits_rand64(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int mlp_save(const mlp_t *mlp, const char *path, char *err, size_t errlen)
{
    size_t count = mlp_param_count(mlp->n_in, mlp->n_hidden, mlp->n_out);
    size_t size = MLP_HEADER + 4 * count + 4;
    unsigned char *buf = malloc(size);
    if (!buf) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(buf, MLP_MAGIC, 8);
    put_u32(buf + 8, MLP_VERSION);
    put_u32(buf + 12, mlp->n_in);
    put_u32(buf + 16, mlp->n_hidden);
    put_u32(buf + 20, mlp->n_out);
    put_u32(buf + 24, MLP_ACT_RELU);
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &mlp->params[i], 4);
        put_u32(buf + MLP_HEADER + 4 * i, bits);
    }
    put_u32(buf + size - 4, (uint32_t)crc32(0L, buf, (uInt)(size - 4)));
    int rc = digits__write_file_atomic(path, buf, size, err, errlen);
    free(buf);
    return rc;
}

int digits__mlp_load(digits_model_t *m, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    if (digits__read_whole_file(path, &data, &len, err, errlen) < 0)
        return -1;
    const unsigned char *p = (const unsigned char *)data;
    int rc = -1;
    if (len < 8 || memcmp(p, MLP_MAGIC, 8) != 0) {
        set_err(err, errlen, "%s: not a digits MLP file (bad magic)", path);
        goto done;
    }
    if (len < MLP_HEADER + 4) {
        set_err(err, errlen, "%s: truncated: %zu bytes, shorter than the header", path, len);
        goto done;
    }
    uint32_t version = get_u32(p + 8), in = get_u32(p + 12), hidden = get_u32(p + 16),
             out = get_u32(p + 20), act = get_u32(p + 24);
    if (version != MLP_VERSION) {
        set_err(err, errlen, "%s: MLP format version %" PRIu32 ", this program reads %u", path,
                version, MLP_VERSION);
        goto done;
    }
    if (in != DIGITS_FEATURES || out != DIGITS_CLASSES || hidden < 1 || hidden > MLP_MAX_HIDDEN ||
        act != MLP_ACT_RELU) {
        set_err(err, errlen,
                "%s: unexpected MLP shape %" PRIu32 "-%" PRIu32 "-%" PRIu32 " (activation %" PRIu32
                "), expected 64-(1..4096)-10 with ReLU (1)",
                path, in, hidden, out, act);
        goto done;
    }
    size_t count = mlp_param_count(in, hidden, out);
    size_t want = MLP_HEADER + 4 * count + 4;
    if (len != want) {
        set_err(err, errlen, "%s: %s: %zu bytes, a 64-%" PRIu32 "-10 MLP file has %zu", path,
                len < want ? "truncated" : "trailing bytes", len, hidden, want);
        goto done;
    }
    uint32_t crc = (uint32_t)crc32(0L, p, (uInt)(len - 4));
    if (crc != get_u32(p + len - 4)) {
        set_err(err, errlen,
                "%s: checksum mismatch (CRC-32 %08" PRIx32 ", file says %08" PRIx32
                "): the file is corrupt",
                path, crc, get_u32(p + len - 4));
        goto done;
    }
    if (mlp_alloc(&m->u.mlp, in, hidden, out) < 0) {
        set_err(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = get_u32(p + MLP_HEADER + 4 * i);
        memcpy(&m->u.mlp.params[i], &bits, 4);
        if (!isfinite(m->u.mlp.params[i])) {
            set_err(err, errlen, "%s: weight %zu is not finite", path, i);
            goto done;
        }
    }
    rc = 0;
done:
    free(data);
    return rc;
}

/* Thread-safe: the weights are only read; scratch is allocated per call; OpenBLAS's sgemm may be
 * called from several threads at once (its pthread build serialises use of its own thread pool). */
int digits__mlp_predict(const digits_model_t *m, const float *x, size_t n, float *proba, char *err,
                        size_t errlen)
{
    const mlp_t *mlp = &m->u.mlp;
    size_t chunk = n < MLP_CHUNK ? n : MLP_CHUNK;
    float *hidden = malloc(chunk * mlp->n_hidden * sizeof *hidden);
    if (!hidden) {
        set_err(err, errlen, "mlp: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i += chunk) {
        size_t rows = n - i < chunk ? n - i : chunk;
        mlp_forward(mlp, x + i * DIGITS_FEATURES, (int)rows, hidden, proba + i * DIGITS_CLASSES);
    }
    free(hidden);
    return 0;
}

/* Mini-batch Adam on mean cross-entropy. Each epoch visits the rows in an order shuffled by
 * splitmix64(MLP_SEED); weights start He-uniform from the same generator; biases start at 0. */
int digits__mlp_train(const float *x, const int *y, size_t n, const char *path, char *err,
                      size_t errlen)
{
    const int in = DIGITS_FEATURES, hid = MLP_HIDDEN, out = DIGITS_CLASSES, bmax = MLP_BATCH;
    mlp_t mlp = {0}, grad = {0}, adam_m = {0}, adam_v = {0};
    size_t *order = malloc(n * sizeof *order);
    float *xb = malloc((size_t)bmax * in * sizeof *xb);
    float *hb = malloc((size_t)bmax * hid * sizeof *hb);
    float *pb = malloc((size_t)bmax * out * sizeof *pb);
    float *dh = malloc((size_t)bmax * hid * sizeof *dh);
    int rc = -1;
    if (!order || !xb || !hb || !pb || !dh || mlp_alloc(&mlp, in, hid, out) < 0 ||
        mlp_alloc(&grad, in, hid, out) < 0 || mlp_alloc(&adam_m, in, hid, out) < 0 ||
        mlp_alloc(&adam_v, in, hid, out) < 0) {
        set_err(err, errlen, "mlp: out of memory");
        goto done;
    }
    /* One OpenBLAS thread: the products are small, and a second thread on two shared cores only
     * adds hand-offs. This is process-wide; training is a one-thread affair anyway. */
    openblas_set_num_threads(1);
    uint64_t rng = MLP_SEED;
    float lim1 = sqrtf(6.0f / (float)in), lim2 = sqrtf(6.0f / (float)hid);
    for (size_t k = 0; k < (size_t)in * hid; k++)
        mlp.w1[k] = lim1 * uniform_pm1(&rng);
    for (size_t k = 0; k < (size_t)hid * out; k++)
        mlp.w2[k] = lim2 * uniform_pm1(&rng);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    const size_t count = mlp_param_count(in, hid, out);
    const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    float beta1_t = 1.0f, beta2_t = 1.0f;
    for (int epoch = 0; epoch < MLP_EPOCHS; epoch++) {
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)(digits_rand64(&rng) % i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        for (size_t start = 0; start < n; start += (size_t)bmax) {
            int b = (int)(n - start < (size_t)bmax ? n - start : (size_t)bmax);
            for (int r = 0; r < b; r++)
                memcpy(xb + (size_t)r * in, x + order[start + r] * in, (size_t)in * sizeof *xb);
            mlp_forward(&mlp, xb, b, hb, pb);
            /* dL/dz = (p - onehot) / b, in place in pb */
            for (int r = 0; r < b; r++) {
                pb[(size_t)r * out + y[order[start + r]]] -= 1.0f;
                for (int c = 0; c < out; c++)
                    pb[(size_t)r * out + c] /= (float)b;
            }
            /* dW2 = H^T dZ; db2 = column sums of dZ; dH = dZ W2^T masked by ReLU */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hid, out, b, 1.0f, hb, hid, pb,
                        out, 0.0f, grad.w2, out);
            for (int c = 0; c < out; c++) {
                float s = 0.0f;
                for (int r = 0; r < b; r++)
                    s += pb[(size_t)r * out + c];
                grad.b2[c] = s;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, hid, out, 1.0f, pb, out, mlp.w2,
                        out, 0.0f, dh, hid);
            for (size_t k = 0; k < (size_t)b * hid; k++)
                if (hb[k] <= 0.0f)
                    dh[k] = 0.0f;
            /* dW1 = X^T dH; db1 = column sums of dH */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, hid, b, 1.0f, xb, in, dh, hid,
                        0.0f, grad.w1, hid);
            for (int h = 0; h < hid; h++) {
                float s = 0.0f;
                for (int r = 0; r < b; r++)
                    s += dh[(size_t)r * hid + h];
                grad.b1[h] = s;
            }
            beta1_t *= beta1;
            beta2_t *= beta2;
            const float step = MLP_LR * sqrtf(1.0f - beta2_t) / (1.0f - beta1_t);
            for (size_t k = 0; k < count; k++) {
                float g = grad.params[k];
                adam_m.params[k] = beta1 * adam_m.params[k] + (1.0f - beta1) * g;
                adam_v.params[k] = beta2 * adam_v.params[k] + (1.0f - beta2) * g * g;
                mlp.params[k] -= step * adam_m.params[k] / (sqrtf(adam_v.params[k]) + eps);
            }
        }
    }
    for (size_t k = 0; k < count; k++)
        if (!isfinite(mlp.params[k])) {
            set_err(err, errlen, "mlp: training diverged");
            goto done;
        }
    rc = mlp_save(&mlp, path, err, errlen);
done:
    free(order);
    free(xb);
    free(hb);
    free(pb);
    free(dh);
    free(mlp.params);
    free(grad.params);
    free(adam_m.params);
    free(adam_v.params);
    return rc;
}
