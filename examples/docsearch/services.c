/*
 * services.c — Preprocessor, Fusion and Ranker: the docsearch services that are pure functions
 * (services.h gives their APIs). Each is its own tfn_service_t with its resources; `serve` runs
 * each in its own process once the entry service (with the model services) depends on them.
 *
 * Sections: helpers; Preprocessor; Fusion; Ranker.
 */
#include "services.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion.h"
#include "ocrimage.h"
#include "wordpiece.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static int has_vocab(const char *dir)
{
    char path[PATH_MAX + 16];
    struct stat st;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    return stat(path, &st) == 0;
}

const char *ds_data_dir(char *buf, size_t len)
{
    const char *env = getenv("DOCSEARCH_DATA");
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return buf;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = n > 0 ? (exe[n] = 0, strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = 0; /* the program's folder: build/examples, build-san/tests, ... */
        snprintf(buf, len, "%s/../deps/docsearch", exe);
        if (has_vocab(buf))
            return buf;
        snprintf(buf, len, "%s/../../build/deps/docsearch", exe);
        if (has_vocab(buf))
            return buf;
    }
    snprintf(buf, len, "build/deps/docsearch");
    return buf;
}

/* Sets key to val in obj; a NULL val (an exhausted arena) makes it fail with TFN_ENOMEM. */
static int set(tfn_arena_t *a, tfn_value_t *obj, const char *key, tfn_value_t *val)
{
    return val ? tfn_object_set(a, obj, key, val) : TFN_ENOMEM;
}

/* Decodes standard base64 (padding optional, no white space) into out (room for len / 4 * 3 +
 * 3). Returns the length, or -1 for anything that is not base64. */
static long base64_decode(const char *s, size_t len, unsigned char *out)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    unsigned long acc = 0;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+'             ? 62
                : c == '/'             ? 63
                                       : -1;
        if (v < 0)
            return -1;
        acc = acc << 6 | (unsigned)v;
        if (i % 4 == 3) {
            out[n++] = (unsigned char)(acc >> 16);
            out[n++] = (unsigned char)(acc >> 8);
            out[n++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (len % 4 == 2)
        out[n++] = (unsigned char)(acc >> 4);
    else if (len % 4 == 3) {
        out[n++] = (unsigned char)(acc >> 10);
        out[n++] = (unsigned char)(acc >> 2);
    }
    return n;
}

/* The float32 data of a tensor field the declaration already made float32 of rank `ndim`. */
static const float *f32(const tfn_value_t *in, const char *key)
{
    return tfn_tensor_data(tfn_object_get(in, key));
}

/* Refuses NaN and infinities in a float32 field: they would poison every score after them. */
static int check_finite(tfn_ctx_t *ctx, const tfn_value_t *in, const char *key)
{
    const tfn_value_t *t = tfn_object_get(in, key);
    const float *p = tfn_tensor_data(t);
    for (size_t i = 0, n = tfn_len(t); i < n; i++)
        if (!isfinite(p[i]))
            return tfn_ctx_fail(ctx, TFN_EINVAL, "'%s' has a value that is not finite (at %zu)",
                                key, i);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Preprocessor: tokenize (WordPiece) and prepare_images (the recogniser's input)
 * ------------------------------------------------------------------------------------------- */

static int preprocessor_init(tfn_worker_t *worker, void **state)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[TFN_ERROR_MESSAGE_MAX];
    snprintf(path, sizeof path, "%s/vocab.txt", ds_data_dir(dir, sizeof dir));
    ds_vocab_t *v = ds_vocab_load(path, err, sizeof err);
    if (!v)
        return tfn_worker_fail(worker, TFN_EINIT,
                               "cannot load the vocabulary: %s (scripts/fetch-docsearch-data.sh "
                               "puts it there; DOCSEARCH_DATA names another folder)",
                               err);
    *state = v;
    return 0;
}

static void preprocessor_shutdown(tfn_worker_t *worker, void *state)
{
    (void)worker;
    ds_vocab_free(state);
}

static int tokenize(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const ds_vocab_t *vocab = tfn_ctx_state(ctx);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *texts = tfn_object_get(in, "texts");
    const tfn_value_t *max_v = tfn_object_get(in, "max_len");
    size_t n = tfn_len(texts);
    int64_t max_len = max_v ? tfn_as_int(max_v) : DS_SEQ_DEFAULT;
    if (n < 1 || n > DS_MAX_TEXTS)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'texts' has %zu items: give 1..%d", n, DS_MAX_TEXTS);
    if (max_len < 2 || max_len > DS_SEQ_MAX)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'max_len' is %lld: give 2..%d", (long long)max_len,
                            DS_SEQ_MAX);
    int64_t *rows = tfn_arena_alloc(a, n * (size_t)max_len * sizeof *rows);
    size_t *lens = tfn_arena_alloc(a, n * sizeof *lens);
    if (!rows || !lens)
        return TFN_ENOMEM;
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = tfn_as_string(tfn_list_get(texts, i), &len);
        char err[200];
        if (!s)
            return tfn_ctx_fail(ctx, TFN_EINVAL, "'texts'[%zu] is %s, not a string", i,
                                tfn_type_name(tfn_typeof(tfn_list_get(texts, i))));
        if (ds_wordpiece_encode(vocab, s, len, (size_t)max_len, rows + i * (size_t)max_len,
                                &lens[i], err, sizeof err) < 0)
            return tfn_ctx_fail(ctx, TFN_EINVAL, "'texts'[%zu]: %s", i, err);
        if (lens[i] > longest)
            longest = lens[i];
    }
    int64_t shape[2] = {(int64_t)n, (int64_t)longest};
    tfn_value_t *ids = tfn_tensor(a, TFN_DTYPE_I64, 2, shape);
    tfn_value_t *mask = tfn_tensor(a, TFN_DTYPE_I64, 2, shape);
    tfn_value_t *types = tfn_tensor(a, TFN_DTYPE_I64, 2, shape); /* zeroed */
    if (!ids || !mask || !types)
        return TFN_ENOMEM;
    int64_t *pid = tfn_tensor_data(ids), *pmask = tfn_tensor_data(mask);
    int64_t pad = ds_vocab_special(vocab).pad;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < longest; j++) {
            int real = j < lens[i];
            pid[i * longest + j] = real ? rows[i * (size_t)max_len + j] : pad;
            pmask[i * longest + j] = real;
        }
    *out = tfn_object(a);
    int rc = set(a, *out, "input_ids", ids);
    if (!rc)
        rc = set(a, *out, "attention_mask", mask);
    if (!rc)
        rc = set(a, *out, "token_type_ids", types);
    return rc;
}

static int prepare_images(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *images = tfn_object_get(in, "images");
    size_t n = tfn_len(images);
    if (n < 1 || n > DS_MAX_IMAGES)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'images' has %zu items: give 1..%d", n,
                            DS_MAX_IMAGES);
    ds_image_t imgs[DS_MAX_IMAGES];
    memset(imgs, 0, sizeof imgs);
    int rc = 0;
    uint64_t pixels = 0;
    double max_ratio = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const tfn_value_t *item = tfn_list_get(images, i);
        size_t len, b64_len;
        const void *data = tfn_as_bytes(item, &len);
        const char *b64 = tfn_as_string(item, &b64_len);
        if (b64) { /* JSON: base64 text */
            unsigned char *raw = tfn_arena_alloc(a, b64_len / 4 * 3 + 3);
            long got = raw ? base64_decode(b64, b64_len, raw) : -1;
            if (!raw) {
                rc = TFN_ENOMEM;
                break;
            }
            if (got < 0) {
                rc = tfn_ctx_fail(ctx, TFN_EINVAL, "'images'[%zu] is a string but not base64", i);
                break;
            }
            data = raw, len = (size_t)got;
        } else if (!data) {
            rc = tfn_ctx_fail(ctx, TFN_EINVAL, "'images'[%zu] is %s: give a PNG (base64 in JSON)",
                              i, tfn_type_name(tfn_typeof(item)));
            break;
        }
        char err[200];
        if (ds_image_decode_png(data, len, &imgs[i], err, sizeof err) < 0) {
            rc = tfn_ctx_fail(ctx, TFN_EINVAL, "'images'[%zu]: %s", i, err);
            break;
        }
        pixels += (uint64_t)imgs[i].width * imgs[i].height;
        if (pixels > DS_IMAGE_MAX_PIXELS) {
            rc = tfn_ctx_fail(ctx, TFN_EINVAL, "'images' have more than %u pixels in all",
                              DS_IMAGE_MAX_PIXELS);
            break;
        }
        double r = ds_image_wh_ratio(&imgs[i]);
        if (r > max_ratio)
            max_ratio = r;
    }
    uint32_t width = ds_rec_batch_width(max_ratio);
    tfn_value_t *x = NULL, *widths = NULL, *ratios = NULL;
    if (!rc && (uint64_t)n * width > DS_BATCH_MAX_COLUMNS)
        rc = tfn_ctx_fail(ctx, TFN_EINVAL,
                          "%zu pictures %u wide (the widest line's aspect ratio is %.1f) are more "
                          "than %d columns in all: send fewer or shorter lines",
                          n, width, max_ratio, DS_BATCH_MAX_COLUMNS);
    if (!rc) {
        x = tfn_tensor(a, TFN_DTYPE_F32, 4, (int64_t[]){(int64_t)n, 3, DS_REC_HEIGHT, width});
        widths = tfn_tensor(a, TFN_DTYPE_I64, 1, (int64_t[]){(int64_t)n});
        ratios = tfn_tensor(a, TFN_DTYPE_F64, 1, (int64_t[]){(int64_t)n});
        if (!x || !widths || !ratios)
            rc = tfn_ctx_fail(ctx, TFN_ENOMEM, "out of memory for %zu pictures %u wide", n, width);
    }
    for (size_t i = 0; i < n && !rc; i++) {
        float *dst = (float *)tfn_tensor_data(x) + i * 3 * DS_REC_HEIGHT * (size_t)width;
        uint32_t rw = ds_image_resize_norm(&imgs[i], width, dst);
        if (!rw)
            rc = tfn_ctx_fail(ctx, TFN_ENOMEM, "out of memory resizing 'images'[%zu]", i);
        ((int64_t *)tfn_tensor_data(widths))[i] = rw;
        ((double *)tfn_tensor_data(ratios))[i] = ds_image_wh_ratio(&imgs[i]);
    }
    for (size_t i = 0; i < n; i++)
        ds_image_free(&imgs[i]);
    if (rc)
        return rc;
    *out = tfn_object(a);
    rc = set(a, *out, "x", x);
    if (!rc)
        rc = set(a, *out, "widths", widths);
    if (!rc)
        rc = set(a, *out, "ratios", ratios);
    return rc;
}

static const tfn_field_t tokenize_in[] = {
    {.name = "texts",
     .type = TFN_TYPE_LIST,
     .doc = "1..256 texts (UTF-8) to tokenize, e.g. [query] or the recognised lines"},
    {.name = "max_len",
     .type = TFN_TYPE_INT,
     .optional = true,
     .doc = "longest sequence, [CLS] and [SEP] included: 2..512 (default 128)"},
    {0}};
static const tfn_field_t images_in[] = {
    {.name = "images",
     .type = TFN_TYPE_LIST,
     .doc = "1..32 pictures of one text line each, PNG (base64 strings in JSON)"},
    {0}};
static const tfn_api_t preprocessor_apis[] = {
    {.name = "tokenize",
     .handler = tokenize,
     .inputs = tokenize_in,
     .output = TFN_TYPE_OBJECT,
     .run = TFN_RUN_IN_THREAD,
     .doc = "BERT uncased WordPiece (all-MiniLM-L6-v2's vocab.txt) -> {input_ids, "
            "attention_mask, token_type_ids}: int64 [n][longest], padded with [PAD]"},
    {.name = "prepare_images",
     .handler = prepare_images,
     .inputs = images_in,
     .output = TFN_TYPE_OBJECT,
     .run = TFN_RUN_IN_THREAD,
     .doc = "PNG -> BGR, height 48 keeping the aspect ratio, (v/255 - 0.5)/0.5, as RapidOCR -> "
            "{x: float32 [n][3][48][W], widths: int64 [n], ratios: float64 [n]}"},
    {0}};
const tfn_service_t ds_preprocessor_service = {
    .name = "Preprocessor",
    .doc = "tokenizes text for MiniLM and prepares line pictures for PP-OCRv4",
    .apis = preprocessor_apis,
    .resources = {.cpu = 0.5, .memory_mb = 512},
    .workers = 1,
    .threads = 2,
    .traffic = {.timeout_ms = 10000, .max_concurrency = 256, .max_body_bytes = 16u << 20},
    .init = preprocessor_init,
    .shutdown = preprocessor_shutdown,
};

/* ---------------------------------------------------------------------------------------------
 * Fusion: cosine(query, line) weighted by the OCR confidence
 * ------------------------------------------------------------------------------------------- */

static int fuse(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *q = tfn_object_get(in, "query"), *lines = tfn_object_get(in, "lines");
    const tfn_value_t *conf = tfn_object_get(in, "confidences");
    int64_t d = tfn_tensor_shape(q)[0], n = tfn_tensor_shape(lines)[0];
    if (d < 1 || tfn_tensor_shape(lines)[1] != d)
        return tfn_ctx_fail(ctx, TFN_EINVAL,
                            "'query' has %lld values and the rows of 'lines' %lld: they must be "
                            "the same, at least 1",
                            (long long)d, (long long)tfn_tensor_shape(lines)[1]);
    if (tfn_tensor_shape(conf)[0] != n)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'confidences' has %lld values for %lld lines",
                            (long long)tfn_tensor_shape(conf)[0], (long long)n);
    int rc = check_finite(ctx, in, "query");
    if (!rc)
        rc = check_finite(ctx, in, "lines");
    if (!rc)
        rc = check_finite(ctx, in, "confidences");
    if (rc)
        return rc;
    const float *c = f32(in, "confidences");
    for (int64_t i = 0; i < n; i++)
        if (c[i] < 0 || c[i] > 1)
            return tfn_ctx_fail(ctx, TFN_EINVAL, "'confidences'[%lld] is %g: give 0..1",
                                (long long)i, (double)c[i]);
    tfn_value_t *scores = tfn_tensor(a, TFN_DTYPE_F32, 1, &n);
    tfn_value_t *sims = tfn_tensor(a, TFN_DTYPE_F32, 1, &n);
    if (!scores || !sims)
        return TFN_ENOMEM;
    ds_fuse(f32(in, "query"), f32(in, "lines"), c, (size_t)n, (size_t)d, tfn_tensor_data(sims),
            tfn_tensor_data(scores));
    *out = tfn_object(a);
    rc = set(a, *out, "scores", scores);
    return rc ? rc : set(a, *out, "similarities", sims);
}

static const tfn_field_t fuse_in[] = {{.name = "query",
                                       .type = TFN_TYPE_TENSOR,
                                       .dtype = TFN_DTYPE_F32,
                                       .ndim = 1,
                                       .shape = {-1},
                                       .doc = "the query's embedding (384 values for MiniLM)"},
                                      {.name = "lines",
                                       .type = TFN_TYPE_TENSOR,
                                       .dtype = TFN_DTYPE_F32,
                                       .ndim = 2,
                                       .shape = {-1, -1},
                                       .doc = "the recognised lines' embeddings, one row each"},
                                      {.name = "confidences",
                                       .type = TFN_TYPE_TENSOR,
                                       .dtype = TFN_DTYPE_F32,
                                       .ndim = 1,
                                       .shape = {-1},
                                       .doc = "each line's OCR confidence, 0..1"},
                                      {0}};
static const tfn_api_t fusion_apis[] = {
    {.name = "fuse",
     .handler = fuse,
     .inputs = fuse_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "score = cosine(query, line) * confidence -> {scores, similarities}: float32 [n]"},
    {0}};
const tfn_service_t ds_fusion_service = {
    .name = "Fusion",
    .doc = "relevance of each recognised line to the query",
    .apis = fusion_apis,
    .resources = {.cpu = 0.25, .memory_mb = 128},
    .workers = 1,
    .traffic = {.timeout_ms = 5000, .max_concurrency = 256},
};

/* ---------------------------------------------------------------------------------------------
 * Ranker: the top k
 * ------------------------------------------------------------------------------------------- */

static int rank(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    const tfn_value_t *scores = tfn_object_get(in, "scores"), *k_v = tfn_object_get(in, "k");
    const tfn_value_t *texts = tfn_object_get(in, "texts");
    const tfn_value_t *conf = tfn_object_get(in, "confidences");
    size_t n = tfn_len(scores);
    int64_t k = k_v ? tfn_as_int(k_v) : 3;
    if (k < 1)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'k' is %lld: give 1 or more", (long long)k);
    if (texts && tfn_len(texts) != n)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'texts' has %zu items for %zu scores", tfn_len(texts),
                            n);
    if (conf && tfn_len(conf) != n)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "'confidences' has %zu values for %zu scores",
                            tfn_len(conf), n);
    for (size_t i = 0; texts && i < n; i++)
        if (tfn_typeof(tfn_list_get(texts, i)) != TFN_TYPE_STRING)
            return tfn_ctx_fail(ctx, TFN_EINVAL, "'texts'[%zu] is %s, not a string", i,
                                tfn_type_name(tfn_typeof(tfn_list_get(texts, i))));
    int rc = check_finite(ctx, in, "scores");
    if (rc)
        return rc;
    size_t *order = tfn_arena_alloc(a, (n ? n : 1) * sizeof *order);
    tfn_value_t *results = tfn_list(a);
    if (!order || !results)
        return TFN_ENOMEM;
    size_t m = ds_top_k(f32(in, "scores"), n, (size_t)k, order);
    for (size_t j = 0; j < m && !rc; j++) {
        size_t i = order[j];
        tfn_value_t *r = tfn_object(a);
        if (!r)
            return TFN_ENOMEM;
        rc = set(a, r, "line", tfn_int(a, (int64_t)i));
        if (!rc)
            rc = set(a, r, "score", tfn_float(a, f32(in, "scores")[i]));
        if (!rc && texts)
            rc = set(a, r, "text", tfn_list_get(texts, i));
        if (!rc && conf)
            rc = set(a, r, "confidence", tfn_float(a, f32(in, "confidences")[i]));
        if (!rc)
            rc = tfn_list_append(a, results, r);
    }
    if (rc)
        return rc;
    *out = tfn_object(a);
    return set(a, *out, "results", results);
}

static const tfn_field_t rank_in[] = {
    {.name = "scores",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_F32,
     .ndim = 1,
     .shape = {-1},
     .doc = "one score per line (Fusion's)"},
    {.name = "k", .type = TFN_TYPE_INT, .optional = true, .doc = "how many (default 3)"},
    {.name = "texts",
     .type = TFN_TYPE_LIST,
     .optional = true,
     .doc = "the lines' recognised texts, copied into the results"},
    {.name = "confidences",
     .type = TFN_TYPE_TENSOR,
     .dtype = TFN_DTYPE_F32,
     .ndim = 1,
     .shape = {-1},
     .optional = true,
     .doc = "the lines' OCR confidences, copied into the results"},
    {0}};
static const tfn_api_t ranker_apis[] = {
    {.name = "rank",
     .handler = rank,
     .inputs = rank_in,
     .output = TFN_TYPE_OBJECT,
     .doc = "the k best lines, best first (ties: lower line first) -> {results: [{line, score, "
            "text?, confidence?}]}"},
    {0}};
const tfn_service_t ds_ranker_service = {
    .name = "Ranker",
    .doc = "the top k lines",
    .apis = ranker_apis,
    .resources = {.cpu = 0.25, .memory_mb = 128},
    .workers = 1,
    .traffic = {.timeout_ms = 5000, .max_concurrency = 256},
};
