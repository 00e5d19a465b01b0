/*
 * test_docsearch.c — the docsearch example's pure parts (examples/docsearch): WordPiece with the
 * real vocabulary, CTC decoding, the recogniser's input, pooling/fusion/top-k; then Preprocessor,
 * Fusion and Ranker in test graphs (good answers, and a 400 naming the field for bad input), and
 * Fusion -> Ranker composed by a small entry service as the search service will compose them.
 *
 * The vocabulary comes from DOCSEARCH_TEST_DATA (build/deps/docsearch, fetched by docsearch.mk)
 * and the rendered lines from DOCSEARCH_TEST_LINES ($(BUILD)/docsearch/lines). The comparisons
 * with Hugging Face's tokenizer and with RapidOCR's own code on hundreds of inputs are in
 * tests/integration/test_docsearch.py.
 */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ctc.h"
#include "fusion.h"
#include "ocrimage.h"
#include "services.h"
#include "wordpiece.h"

static tfn_arena_t *arena;
static ds_vocab_t *vocab;

/* ---- helpers ------------------------------------------------------------------------------- */

static int ids_equal(const int64_t *got, size_t n, const int64_t *want, size_t m)
{
    if (n != m) {
        fprintf(stderr, "  %zu ids, want %zu\n", n, m);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            fprintf(stderr, "  id %zu is %lld, want %lld\n", i, (long long)got[i],
                    (long long)want[i]);
            return 0;
        }
    return 1;
}

static int encode(const char *text, size_t max_len, int64_t *ids, size_t *n)
{
    char err[200];
    return ds_wordpiece_encode(vocab, text, strlen(text), max_len, ids, n, err, sizeof err);
}

static void *png_of(const unsigned char *px, int w, int h, int format, size_t *len)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = (png_uint_32)w;
    png.height = (png_uint_32)h;
    png.format = (png_uint_32)format;
    if (!png_image_write_get_memory_size(png, *len, 0, px, 0, NULL))
        return NULL;
    void *buf = malloc(*len);
    if (buf && !png_image_write_to_memory(&png, buf, len, 0, px, 0, NULL)) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static tfn_value_t *f32_tensor(int ndim, const int64_t *shape, const float *data)
{
    tfn_value_t *t = tfn_tensor(arena, TFN_DTYPE_F32, ndim, shape);
    memcpy(tfn_tensor_data(t), data, tfn_tensor_nbytes(t));
    return t;
}

static tfn_value_t *strings(const char *const *s, size_t n)
{
    tfn_value_t *l = tfn_list(arena);
    for (size_t i = 0; i < n; i++)
        tfn_list_append(arena, l, tfn_string(arena, s[i]));
    return l;
}

/* ---- WordPiece ------------------------------------------------------------------------------ */

static void test_wordpiece_ids(void)
{
    /* The ids Hugging Face's tokenizers gives with the model's tokenizer.json. */
    int64_t ids[512];
    size_t n;
    CHECK_EQ_INT(encode("Hello, World! Café naïve résumé", 512, ids, &n), 0);
    CHECK(ids_equal(ids, n, (int64_t[]){101, 7592, 1010, 2088, 999, 7668, 15743, 13746, 102}, 9));
    CHECK_EQ_INT(encode("北京欢迎你 unaffable", 512, ids, &n), 0);
    CHECK(ids_equal(ids, n, (int64_t[]){101, 1781, 1755, 100, 100, 100, 14477, 20961, 3468, 102},
                    10));
    CHECK_EQ_INT(encode("", 512, ids, &n), 0); /* just the frame */
    CHECK(ids_equal(ids, n, (int64_t[]){101, 102}, 2));
    CHECK_EQ_INT(encode(" \t\x01\x7f ", 512, ids, &n), 0); /* controls and spaces vanish */
    CHECK(ids_equal(ids, n, (int64_t[]){101, 102}, 2));
    char longword[202];
    memset(longword, 'a', 201);
    longword[201] = 0;
    CHECK_EQ_INT(encode(longword, 512, ids, &n), 0); /* over 100 characters: [UNK] */
    CHECK(ids_equal(ids, n, (int64_t[]){101, 100, 102}, 3));
    /* [MASK] in the text is text, not the special token. */
    CHECK_EQ_INT(encode("[MASK]", 512, ids, &n), 0);
    CHECK(n > 3 && ids[1] == 1031 && ids[n - 2] == 1033);
}

static void test_wordpiece_truncation_and_errors(void)
{
    int64_t ids[8];
    size_t n;
    CHECK_EQ_INT(encode("Hello, World! Café naïve résumé", 5, ids, &n), 0);
    CHECK(ids_equal(ids, n, (int64_t[]){101, 7592, 1010, 2088, 102}, 5));
    CHECK_EQ_INT(encode("Hello", 2, ids, &n), 0);
    CHECK(ids_equal(ids, n, (int64_t[]){101, 102}, 2));
    char err[200] = "";
    CHECK_EQ_INT(ds_wordpiece_encode(vocab, "x", 1, 1, ids, &n, err, sizeof err), -1);
    CHECK(strstr(err, "max_len") != NULL);
    CHECK_EQ_INT(ds_wordpiece_encode(vocab, "ab\xff", 3, 8, ids, &n, err, sizeof err), -1);
    CHECK(strstr(err, "UTF-8 (at byte 2)") != NULL && n == 0);
    char *big = calloc(DS_TEXT_MAX_BYTES + 2, 1);
    memset(big, 'a', DS_TEXT_MAX_BYTES + 1);
    CHECK_EQ_INT(
        ds_wordpiece_encode(vocab, big, DS_TEXT_MAX_BYTES + 1, 8, ids, &n, err, sizeof err), -1);
    free(big);
}

static void test_vocab_parse(void)
{
    char err[200] = "";
    const char *small = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nplay\n##ing\n##ed\nun  \r\n";
    ds_vocab_t *v = ds_vocab_parse(small, strlen(small), err, sizeof err);
    CHECK(v != NULL);
    if (!v)
        return;
    CHECK_EQ_INT(ds_vocab_size(v), 8);
    CHECK_EQ_INT(ds_vocab_id(v, "un", 2), 7); /* trailing white space is not the token's */
    CHECK_EQ_STR(ds_vocab_token(v, 5), "##ing");
    CHECK(ds_vocab_token(v, 8) == NULL && ds_vocab_token(v, -1) == NULL);
    int64_t ids[16];
    size_t n;
    CHECK_EQ_INT(ds_wordpiece_encode(v, "Playing played playx", 20, 16, ids, &n, err, sizeof err),
                 0);
    CHECK(ids_equal(ids, n, (int64_t[]){2, 4, 5, 4, 6, 1, 3}, 7)); /* playx: [UNK] */
    ds_vocab_free(v);
    CHECK(ds_vocab_parse("[PAD]\n[CLS]\n[SEP]\n", 18, err, sizeof err) == NULL);
    CHECK(strstr(err, "[UNK]") != NULL);
    CHECK(ds_vocab_load("/nonexistent/vocab.txt", err, sizeof err) == NULL);
}

/* ---- CTC ------------------------------------------------------------------------------------ */

static void test_ctc_dict_split(void)
{
    ds_ctc_dict_t d;
    char err[200];
    const char *text = "a\r\nb\rc\n\xe2\x80\xa8"
                       "d\n\ne\n";
    CHECK_EQ_INT(ds_ctc_dict_split(text, strlen(text), &d, err, sizeof err), 0);
    /* Python: "a\r\nb\rc\n\u2028d\n\ne\n".splitlines() == ['a','b','c','','d','','e'] */
    CHECK_EQ_INT(d.n, 7);
    if (d.n == 7) {
        CHECK_EQ_STR(d.chars[0], "a");
        CHECK_EQ_STR(d.chars[2], "c");
        CHECK_EQ_STR(d.chars[3], "");
        CHECK_EQ_STR(d.chars[4], "d");
        CHECK_EQ_STR(d.chars[6], "e");
    }
    ds_ctc_dict_free(&d);
    CHECK_EQ_INT(ds_ctc_dict_split("", 0, &d, err, sizeof err), -1);
    CHECK_EQ_INT(ds_ctc_dict_split("a\n\xc3", 3, &d, err, sizeof err), -1);
    CHECK(strstr(err, "UTF-8") != NULL);
    ds_ctc_dict_free(&d); /* zeroed: fine */
}

static void test_ctc_decode(void)
{
    const char *chars[] = {"a", "b", "\xe4\xb8\xad"};
    uint32_t lens[] = {1, 1, 3};
    enum { T = 7, C = 5 }; /* 0 blank, 1 a, 2 b, 3 中, 4 space */
    int best[T] = {1, 1, 0, 1, 3, 4, 0};
    float probs[T][C];
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
            probs[t][c] = c == best[t] ? 0.5f + 0.05f * (float)t : 0.01f;
    char text[64];
    size_t len;
    double conf;
    char err[200];
    CHECK_EQ_INT(ds_ctc_decode(chars, lens, 3, &probs[0][0], T, C, text, sizeof text, &len, &conf,
                               err, sizeof err),
                 0);
    CHECK_EQ_STR(text, "aa\xe4\xb8\xad ");
    CHECK_EQ_INT(len, 6);
    /* kept steps 0, 3, 4, 5 (step 1 repeats step 0; 2 and 6 are blank) */
    double want =
        (0.5 + (double)(0.5f + 0.15f) + (double)(0.5f + 0.2f) + (double)(0.5f + 0.25f)) / 4;
    CHECK(fabs(conf - want) < 1e-6);
    CHECK_EQ_INT(
        ds_ctc_decode(chars, lens, 3, &probs[0][0], T, C, text, 4, &len, &conf, err, sizeof err),
        -1); /* does not fit */
    CHECK(len == 0 && text[0] == 0);
    CHECK_EQ_INT(ds_ctc_decode(chars, lens, 2, &probs[0][0], T, C, text, sizeof text, &len, &conf,
                               err, sizeof err),
                 -1);
    CHECK(strstr(err, "classes") != NULL);
    float blank[2][C] = {{0.9f, 0, 0, 0, 0}, {0.9f, 0, 0, 0, 0}};
    CHECK_EQ_INT(ds_ctc_decode(chars, lens, 3, &blank[0][0], 2, C, text, sizeof text, &len, &conf,
                               err, sizeof err),
                 0);
    CHECK(len == 0 && conf == 0 && text[0] == 0);
}

/* ---- the recogniser's input ----------------------------------------------------------------- */

static void test_resize_like_opencv(void)
{
    /* cv2.resize(..., interpolation=INTER_LINEAR) gave these (OpenCV 4.13). */
    uint8_t a[2] = {0, 255}, out[15];
    CHECK_EQ_INT(ds_resize_linear_u8(a, 2, 1, out, 4, 1, 1), 0);
    CHECK(out[0] == 0 && out[1] == 64 && out[2] == 191 && out[3] == 255);
    uint8_t b[6] = {10, 200, 30, 90, 0, 255};
    uint8_t want[15] = {10, 86, 200, 98, 30, 50, 70, 100, 125, 143, 90, 54, 0, 153, 255};
    CHECK_EQ_INT(ds_resize_linear_u8(b, 3, 2, out, 5, 3, 1), 0);
    CHECK(memcmp(out, want, 15) == 0);
    CHECK_EQ_INT(ds_resize_linear_u8(b, 3, 2, out, 3, 2, 1), 0); /* same size: a copy */
    CHECK(memcmp(out, b, 6) == 0);
}

static void test_png_and_normalisation(void)
{
    enum { W = 100, H = 20 };
    static unsigned char grey[W * H];
    memset(grey, 200, sizeof grey);
    size_t len;
    void *png = png_of(grey, W, H, PNG_FORMAT_GRAY, &len);
    CHECK(png != NULL);
    ds_image_t img;
    char err[200];
    CHECK_EQ_INT(ds_image_decode_png(png, len, &img, err, sizeof err), 0);
    CHECK(img.width == W && img.height == H && img.bgr[0] == 200 && img.bgr[3 * W * H - 1] == 200);
    CHECK(ds_image_wh_ratio(&img) == 5.0);
    CHECK_EQ_INT(ds_rec_batch_width(1.0), 320);
    CHECK_EQ_INT(ds_rec_batch_width(5.0), 320);
    CHECK_EQ_INT(ds_rec_batch_width(10.0), 480);
    CHECK_EQ_INT(ds_rec_batch_width(1000.0), DS_REC_MAX_WIDTH);
    float *x = malloc(3 * 48 * 320 * sizeof *x);
    CHECK_EQ_INT(ds_image_resize_norm(&img, 320, x), 240); /* ceil(48 * 5) */
    float v = (200 / 255.0f - 0.5f) / 0.5f;
    CHECK(x[0] == v && x[239] == v && x[240] == 0 && x[2 * 48 * 320 + 47 * 320 + 239] == v);
    CHECK_EQ_INT(ds_image_resize_norm(&img, 200, x), 200); /* a narrower batch squeezes it */
    free(x);
    ds_image_free(&img);
    ds_image_free(&img); /* zeroed: fine */
    free(png);

    CHECK_EQ_INT(ds_image_decode_png("GIF89a..", 8, &img, err, sizeof err), -1);
    CHECK_EQ_STR(err, "not a PNG file");
    CHECK_EQ_INT(ds_image_decode_png(NULL, 0, &img, err, sizeof err), -1);
    static unsigned char wide[20000];
    png = png_of(wide, 20000, 1, PNG_FORMAT_GRAY, &len);
    CHECK_EQ_INT(ds_image_decode_png(png, len, &img, err, sizeof err), -1);
    CHECK(strstr(err, "20000x1") != NULL);
    CHECK_EQ_INT(ds_image_decode_png(png, len / 2, &img, err, sizeof err), -1); /* truncated */
    free(png);
    /* RGBA: transparency composed onto white; colour kept as B, G, R. */
    unsigned char rgba[8] = {255, 0, 0, 255, 0, 0, 0, 0};
    png = png_of(rgba, 2, 1, PNG_FORMAT_RGBA, &len);
    CHECK_EQ_INT(ds_image_decode_png(png, len, &img, err, sizeof err), 0);
    CHECK(img.bgr[0] == 0 && img.bgr[1] == 0 && img.bgr[2] == 255);     /* red */
    CHECK(img.bgr[3] == 255 && img.bgr[4] == 255 && img.bgr[5] == 255); /* clear -> white */
    ds_image_free(&img);
    free(png);
}

/* ---- pooling, fusion, top-k ----------------------------------------------------------------- */

static void test_pool_fuse_rank(void)
{
    /* 2 sequences of 3 tokens, d = 2; the second's last token is padding. */
    float hidden[2 * 3 * 2] = {1, 0, 3, 0, 2, 0, 0, 1, 0, 3, 100, 100};
    int64_t mask[6] = {1, 1, 1, 1, 1, 0};
    float out[4];
    ds_mean_pool(hidden, mask, 2, 3, 2, out);
    CHECK(out[0] == 1 && out[1] == 0 && out[2] == 0 && out[3] == 1);
    int64_t none[3] = {0, 0, 0};
    ds_mean_pool(hidden, none, 1, 3, 2, out);
    CHECK(out[0] == 0 && out[1] == 0);

    float q[2] = {1, 0}, lines[3 * 2] = {2, 0, 0, 5, 1, 1}, conf[3] = {0.5f, 1, 1};
    float sims[3], scores[3];
    ds_fuse(q, lines, conf, 3, 2, sims, scores);
    CHECK(fabsf(sims[0] - 1) < 1e-6f && fabsf(sims[1]) < 1e-6f &&
          fabsf(sims[2] - 0.70710678f) < 1e-6f);
    CHECK(fabsf(scores[0] - 0.5f) < 1e-6f && fabsf(scores[2] - 0.70710678f) < 1e-6f);
    CHECK(ds_cosine(q, (float[]){0, 0}, 2) == 0);

    size_t order[5];
    float s[5] = {0.2f, NAN, 0.9f, 0.2f, 0.5f};
    CHECK_EQ_INT(ds_top_k(s, 5, 3, order), 3);
    CHECK(order[0] == 2 && order[1] == 4 && order[2] == 0);
    CHECK_EQ_INT(ds_top_k(s, 5, 10, order), 5); /* ties by index; NaN last */
    CHECK(order[2] == 0 && order[3] == 3 && order[4] == 1);
    CHECK_EQ_INT(ds_top_k(s, 0, 3, order), 0);
}

/* ---- the services in test graphs ------------------------------------------------------------ */

static void test_preprocessor_tokenize(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&ds_preprocessor_service, &err);
    tfn_value_t *in = tfn_object(arena), *out;
    const char *texts[] = {"Hello, World! Café naïve résumé", "Hello"};
    tfn_object_set(arena, in, "texts", strings(texts, 2));
    CHECK_EQ_INT(tfn_test_call(t, "tokenize", in, arena, &out, &err), 0);
    const tfn_value_t *ids = tfn_object_get(out, "input_ids");
    const tfn_value_t *mask = tfn_object_get(out, "attention_mask");
    const tfn_value_t *types = tfn_object_get(out, "token_type_ids");
    CHECK(tfn_tensor_dtype(ids) == TFN_DTYPE_I64 && tfn_tensor_ndim(ids) == 2);
    CHECK(tfn_tensor_shape(ids)[0] == 2 && tfn_tensor_shape(ids)[1] == 9);
    const int64_t *p = tfn_tensor_data(ids), *m = tfn_tensor_data(mask);
    CHECK(ids_equal(p, 9, (int64_t[]){101, 7592, 1010, 2088, 999, 7668, 15743, 13746, 102}, 9));
    CHECK(ids_equal(p + 9, 9, (int64_t[]){101, 7592, 102, 0, 0, 0, 0, 0, 0}, 9));
    CHECK(m[8] == 1 && m[9 + 2] == 1 && m[9 + 3] == 0);
    CHECK(tfn_len(types) == 18 && ((const int64_t *)tfn_tensor_data(types))[17] == 0);

    tfn_object_set(arena, in, "max_len", tfn_int(arena, 4));
    CHECK_EQ_INT(tfn_test_call(t, "tokenize", in, arena, &out, &err), 0);
    CHECK(tfn_tensor_shape(tfn_object_get(out, "input_ids"))[1] == 4);

    /* Bad input: a 400 naming the field. */
    tfn_object_set(arena, in, "max_len", tfn_int(arena, 1));
    CHECK_EQ_INT(tfn_test_call(t, "tokenize", in, arena, &out, &err), TFN_EINVAL);
    CHECK(strstr(err.message, "max_len") != NULL && err.http_status == 400);
    tfn_value_t *bad = tfn_object(arena);
    tfn_object_set(arena, bad, "texts", tfn_list(arena));
    CHECK_EQ_INT(tfn_test_call(t, "tokenize", bad, arena, &out, &err), TFN_EINVAL);
    tfn_value_t *l = tfn_list(arena);
    tfn_list_append(arena, l, tfn_int(arena, 3));
    tfn_object_set(arena, bad, "texts", l);
    CHECK_EQ_INT(tfn_test_call(t, "tokenize", bad, arena, &out, &err), TFN_EINVAL);
    CHECK(strstr(err.message, "'texts'[0] is int") != NULL);
    /* Invalid UTF-8 never reaches the handler: the codecs make it U+FFFD, which WordPiece drops. */
    l = tfn_list(arena);
    tfn_list_append(arena, l, tfn_stringn(arena, "a\xc3", 2));
    tfn_object_set(arena, bad, "texts", l);
    CHECK_EQ_INT(tfn_test_call(t, "tokenize", bad, arena, &out, &err), 0);
    CHECK(ids_equal(tfn_tensor_data(tfn_object_get(out, "input_ids")), 3,
                    (int64_t[]){101, 1037, 102}, 3));
    tfn_test_free(t);
}

static void test_preprocessor_images(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&ds_preprocessor_service, &err);
    tfn_value_t *in = tfn_object(arena), *list = tfn_list(arena), *out;
    uint32_t widths[3];
    double ratios[3];
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/clean/%04d.png", DOCSEARCH_TEST_LINES, i * 7);
        size_t len;
        void *png = read_file(path, &len);
        CHECK(png != NULL);
        if (!png)
            return;
        ds_image_t img;
        CHECK_EQ_INT(ds_image_decode_png(png, len, &img, NULL, 0), 0);
        widths[i] = img.width;
        ratios[i] = ds_image_wh_ratio(&img);
        ds_image_free(&img);
        tfn_list_append(arena, list, tfn_bytes(arena, png, len));
        free(png);
    }
    tfn_object_set(arena, in, "images", list);
    CHECK_EQ_INT(tfn_test_call(t, "prepare_images", in, arena, &out, &err), 0);
    const tfn_value_t *x = tfn_object_get(out, "x"), *w = tfn_object_get(out, "widths");
    double max_ratio = fmax(ratios[0], fmax(ratios[1], ratios[2]));
    CHECK(tfn_tensor_ndim(x) == 4 && tfn_tensor_shape(x)[0] == 3 && tfn_tensor_shape(x)[1] == 3 &&
          tfn_tensor_shape(x)[2] == 48 && tfn_tensor_shape(x)[3] == ds_rec_batch_width(max_ratio));
    for (int i = 0; i < 3; i++) {
        int64_t want = (int64_t)fmin(ceil(48 * ratios[i]), (double)tfn_tensor_shape(x)[3]);
        CHECK(((const int64_t *)tfn_tensor_data(w))[i] == want);
        CHECK(((const double *)tfn_tensor_data(tfn_object_get(out, "ratios")))[i] == ratios[i]);
    }
    (void)widths;
    /* Ink somewhere (below 0: darker than mid grey), paper near 1. */
    const float *px = tfn_tensor_data(x);
    float lo = 1, hi = -1;
    for (size_t i = 0; i < 48 * (size_t)tfn_tensor_shape(x)[3]; i++)
        lo = fminf(lo, px[i]), hi = fmaxf(hi, px[i]);
    CHECK(lo < -0.5f && hi > 0.95f);

    /* The same picture as base64 text (as JSON brings it) gives the same answer. */
    tfn_value_t *b64 = tfn_list(arena);
    size_t len;
    const unsigned char *raw = tfn_as_bytes(tfn_list_get(list, 0), &len);
    char *text = malloc(len / 3 * 4 + 8), *p = text;
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (i + 1 < len ? raw[i + 1] << 8 : 0) |
                     (i + 2 < len ? raw[i + 2] : 0);
        *p++ = tab[v >> 18 & 63], *p++ = tab[v >> 12 & 63];
        *p++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
        *p++ = i + 2 < len ? tab[v & 63] : '=';
    }
    *p = 0;
    tfn_list_append(arena, b64, tfn_string(arena, text));
    free(text);
    tfn_value_t *in2 = tfn_object(arena), *out2, *out3;
    tfn_object_set(arena, in2, "images", b64);
    CHECK_EQ_INT(tfn_test_call(t, "prepare_images", in2, arena, &out2, &err), 0);
    tfn_value_t *in3 = tfn_object(arena), *one = tfn_list(arena);
    tfn_list_append(arena, one, tfn_list_get(list, 0));
    tfn_object_set(arena, in3, "images", one);
    CHECK_EQ_INT(tfn_test_call(t, "prepare_images", in3, arena, &out3, &err), 0);
    CHECK(tfn_value_equal(out2, out3));

    /* Bad input. */
    tfn_value_t *bad = tfn_object(arena), *l = tfn_list(arena);
    tfn_list_append(arena, l, tfn_bytes(arena, "not a png", 9));
    tfn_object_set(arena, bad, "images", l);
    CHECK_EQ_INT(tfn_test_call(t, "prepare_images", bad, arena, &out, &err), TFN_EINVAL);
    CHECK(strstr(err.message, "'images'[0]: not a PNG file") != NULL);
    l = tfn_list(arena);
    tfn_list_append(arena, l, tfn_string(arena, "!!!"));
    tfn_object_set(arena, bad, "images", l);
    CHECK_EQ_INT(tfn_test_call(t, "prepare_images", bad, arena, &out, &err), TFN_EINVAL);
    CHECK(strstr(err.message, "base64") != NULL);
    l = tfn_list(arena);
    tfn_list_append(arena, l, tfn_float(arena, 1.5));
    tfn_object_set(arena, bad, "images", l);
    CHECK_EQ_INT(tfn_test_call(t, "prepare_images", bad, arena, &out, &err), TFN_EINVAL);
    tfn_object_set(arena, bad, "images", tfn_list(arena));
    CHECK_EQ_INT(tfn_test_call(t, "prepare_images", bad, arena, &out, &err), TFN_EINVAL);
    /* 32 very long lines: more columns than one answer may have. */
    static unsigned char strip[4000 * 2];
    memset(strip, 255, sizeof strip);
    void *png = png_of(strip, 4000, 2, PNG_FORMAT_GRAY, &len);
    l = tfn_list(arena);
    for (int i = 0; i < DS_MAX_IMAGES; i++)
        tfn_list_append(arena, l, tfn_bytes(arena, png, len));
    free(png);
    tfn_object_set(arena, bad, "images", l);
    CHECK_EQ_INT(tfn_test_call(t, "prepare_images", bad, arena, &out, &err), TFN_EINVAL);
    CHECK(strstr(err.message, "columns") != NULL);
    tfn_test_free(t);
}

static void test_preprocessor_without_vocabulary(void)
{
    setenv("DOCSEARCH_DATA", "/nonexistent", 1);
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&ds_preprocessor_service, &err);
    tfn_value_t *in = tfn_object(arena), *out;
    const char *texts[] = {"x"};
    tfn_object_set(arena, in, "texts", strings(texts, 1));
    CHECK_EQ_INT(tfn_test_call(t, "tokenize", in, arena, &out, &err), TFN_EINIT);
    CHECK(strstr(err.message, "/nonexistent/vocab.txt") != NULL);
    tfn_test_free(t);
    setenv("DOCSEARCH_DATA", DOCSEARCH_TEST_DATA, 1);
}

static tfn_value_t *fuse_input(int64_t n, int64_t d, const float *q, const float *lines,
                               const float *conf)
{
    tfn_value_t *in = tfn_object(arena);
    tfn_object_set(arena, in, "query", f32_tensor(1, &d, q));
    tfn_object_set(arena, in, "lines", f32_tensor(2, (int64_t[]){n, d}, lines));
    tfn_object_set(arena, in, "confidences", f32_tensor(1, &n, conf));
    return in;
}

static void test_fusion_and_ranker(void)
{
    tfn_error_t err;
    tfn_test_t *f = tfn_test_new(&ds_fusion_service, &err);
    tfn_value_t *out;
    float q[2] = {1, 0}, lines[6] = {2, 0, 0, 5, 1, 1}, conf[3] = {0.5f, 1, 1};
    CHECK_EQ_INT(tfn_test_call(f, "fuse", fuse_input(3, 2, q, lines, conf), arena, &out, &err), 0);
    const float *scores = tfn_tensor_data(tfn_object_get(out, "scores"));
    CHECK(fabsf(scores[0] - 0.5f) < 1e-6f && fabsf(scores[2] - 0.70710678f) < 1e-6f);
    float bad_conf[3] = {0.5f, 1.5f, 1};
    CHECK_EQ_INT(tfn_test_call(f, "fuse", fuse_input(3, 2, q, lines, bad_conf), arena, &out, &err),
                 TFN_EINVAL);
    CHECK(strstr(err.message, "'confidences'[1]") != NULL);
    float nan_q[2] = {NAN, 0};
    CHECK_EQ_INT(tfn_test_call(f, "fuse", fuse_input(3, 2, nan_q, lines, conf), arena, &out, &err),
                 TFN_EINVAL);
    tfn_value_t *in = fuse_input(3, 2, q, lines, conf);
    tfn_object_set(arena, in, "query", f32_tensor(1, (int64_t[]){3}, (float[]){1, 0, 0}));
    CHECK_EQ_INT(tfn_test_call(f, "fuse", in, arena, &out, &err), TFN_EINVAL);
    CHECK(strstr(err.message, "'query' has 3 values") != NULL);
    tfn_test_free(f);

    tfn_test_t *r = tfn_test_new(&ds_ranker_service, &err);
    in = tfn_object(arena);
    tfn_object_set(arena, in, "scores",
                   f32_tensor(1, (int64_t[]){4}, (float[]){0.1f, 0.7f, 0.3f, 0.7f}));
    const char *texts[] = {"a", "b", "c", "d"};
    tfn_object_set(arena, in, "texts", strings(texts, 4));
    CHECK_EQ_INT(tfn_test_call(r, "rank", in, arena, &out, &err), 0);
    const tfn_value_t *res = tfn_object_get(out, "results");
    CHECK_EQ_INT(tfn_len(res), 3);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(tfn_list_get(res, 0), "line")), 1);
    CHECK_EQ_INT(tfn_as_int(tfn_object_get(tfn_list_get(res, 1), "line")), 3);
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(tfn_list_get(res, 2), "text"), NULL), "c");
    CHECK(tfn_object_get(tfn_list_get(res, 0), "confidence") == NULL);
    tfn_object_set(arena, in, "k", tfn_int(arena, 99));
    CHECK_EQ_INT(tfn_test_call(r, "rank", in, arena, &out, &err), 0);
    CHECK_EQ_INT(tfn_len(tfn_object_get(out, "results")), 4);
    tfn_object_set(arena, in, "k", tfn_int(arena, 0));
    CHECK_EQ_INT(tfn_test_call(r, "rank", in, arena, &out, &err), TFN_EINVAL);
    tfn_object_set(arena, in, "k", tfn_int(arena, 2));
    tfn_object_set(arena, in, "texts", strings(texts, 3));
    CHECK_EQ_INT(tfn_test_call(r, "rank", in, arena, &out, &err), TFN_EINVAL);
    CHECK(strstr(err.message, "'texts' has 3 items for 4 scores") != NULL);
    tfn_test_free(r);
}

/* Fusion -> Ranker composed by an entry service, as the search service will call them. */
static int fake_search(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *fused, *rank_in = tfn_object(a);
    tfn_error_t err;
    tfn_value_t *fuse_in = tfn_object(a);
    tfn_object_set(a, fuse_in, "query", tfn_object_get(in, "query"));
    tfn_object_set(a, fuse_in, "lines", tfn_object_get(in, "lines"));
    tfn_object_set(a, fuse_in, "confidences", tfn_object_get(in, "confidences"));
    if (tfn_call(ctx, "Fusion", "fuse", fuse_in, &fused, &err) < 0)
        return tfn_ctx_fail_with(ctx, &err);
    tfn_object_set(a, rank_in, "scores", tfn_object_get(fused, "scores"));
    tfn_object_set(a, rank_in, "texts", tfn_object_get(in, "texts"));
    tfn_object_set(a, rank_in, "confidences", tfn_object_get(in, "confidences"));
    tfn_object_set(a, rank_in, "k", tfn_int(a, 2));
    if (tfn_call(ctx, "Ranker", "rank", rank_in, out, &err) < 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}
static const tfn_field_t fake_in[] = {{.name = "query"},
                                      {.name = "lines"},
                                      {.name = "confidences"},
                                      {.name = "texts", .optional = true},
                                      {0}};
static const tfn_api_t fake_apis[] = {{.name = "search", .handler = fake_search, .inputs = fake_in},
                                      {0}};
static const tfn_dependency_t fake_deps[] = {
    {.service = &ds_fusion_service}, {.service = &ds_ranker_service}, {0}};
static const tfn_service_t fake_entry = {.name = "Search", .apis = fake_apis, .depends = fake_deps};

static void test_fusion_then_ranker(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&fake_entry, &err);
    float q[2] = {1, 0}, lines[6] = {2, 0, 0, 5, 1, 1}, conf[3] = {0.5f, 1, 1};
    tfn_value_t *in = fuse_input(3, 2, q, lines, conf), *out;
    const char *texts[] = {"exact", "orthogonal", "diagonal"};
    tfn_object_set(arena, in, "texts", strings(texts, 3));
    CHECK_EQ_INT(tfn_test_call(t, "search", in, arena, &out, &err), 0);
    const tfn_value_t *res = tfn_object_get(out, "results");
    CHECK_EQ_INT(tfn_len(res), 2);
    /* diagonal: 0.707 x 1 beats exact: 1 x 0.5 */
    CHECK_EQ_STR(tfn_as_string(tfn_object_get(tfn_list_get(res, 0), "text"), NULL), "diagonal");
    CHECK(tfn_as_float(tfn_object_get(tfn_list_get(res, 1), "confidence")) == 0.5);
    float bad_conf[3] = {2, 1, 1};
    CHECK_EQ_INT(
        tfn_test_call(t, "search", fuse_input(3, 2, q, lines, bad_conf), arena, &out, &err),
        TFN_EINVAL);
    CHECK_EQ_STR(err.service, "Fusion");
    tfn_test_free(t);
}

int main(void)
{
    char err[256];
    setenv("DOCSEARCH_DATA", DOCSEARCH_TEST_DATA, 1);
    vocab = ds_vocab_load(DOCSEARCH_TEST_DATA "/vocab.txt", err, sizeof err);
    if (!vocab) {
        fprintf(stderr, "%s (docsearch.mk fetches it: make docsearch-data)\n", err);
        return 1;
    }
    arena = tfn_arena_new(256u << 20);
    RUN(test_wordpiece_ids);
    RUN(test_wordpiece_truncation_and_errors);
    RUN(test_vocab_parse);
    RUN(test_ctc_dict_split);
    RUN(test_ctc_decode);
    RUN(test_resize_like_opencv);
    RUN(test_png_and_normalisation);
    RUN(test_pool_fuse_rank);
    RUN(test_preprocessor_tokenize);
    RUN(test_preprocessor_images);
    RUN(test_preprocessor_without_vocabulary);
    RUN(test_fusion_and_ranker);
    RUN(test_fusion_then_ranker);
    tfn_arena_free(arena);
    ds_vocab_free(vocab);
    return check_summary("docsearch");
}
