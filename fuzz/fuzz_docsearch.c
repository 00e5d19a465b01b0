/*
 * fuzz_docsearch.c — libFuzzer target for the docsearch example's parsers of untrusted bytes
 * (examples/docsearch): the PNG decoder and the recogniser's input (ocrimage.c), WordPiece over
 * any text (wordpiece.c), the vocabulary parser, and the CTC dictionary splitter and decoder
 * (ctc.c). The first byte picks the parser; the rest is its input.
 *
 * Invariants checked on every input:
 *   - a decoded picture is within the limits, and its recogniser input is finite, in [-1, 1],
 *     with a resized width of 1..W and zeros right of it;
 *   - WordPiece gives [CLS] ... [SEP], at most max_len ids, each a valid id, or a clean error;
 *   - a split dictionary's entries are NUL-terminated at their lengths; decoding random
 *     probabilities gives a confidence in [0, 1] and text that fits.
 * Build: make fuzz (rule in examples/docsearch/docsearch.mk); run:
 *   build/fuzz/fuzz_docsearch fuzz/corpus/docsearch
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctc.h"
#include "ocrimage.h"
#include "wordpiece.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_docsearch: %s failed at line %d\n", #cond, __LINE__);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char small_vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\nb\nab\n##a\n##b\n##ab\n.\n,\n"
                                  "\xe4\xb8\xad\nhello\n##llo\nhe\n";

static void png(const uint8_t *data, size_t len)
{
    ds_image_t img;
    char err[256];
    if (ds_image_decode_png(data, len, &img, err, sizeof err) < 0)
        return;
    REQUIRE(img.width >= 1 && img.height >= 1 && img.bgr);
    REQUIRE((uint64_t)img.width * img.height <= DS_IMAGE_MAX_PIXELS);
    uint32_t w = ds_rec_batch_width(ds_image_wh_ratio(&img));
    REQUIRE(w >= 320 && w <= DS_REC_MAX_WIDTH);
    float *x = malloc((size_t)3 * DS_REC_HEIGHT * w * sizeof *x);
    uint32_t rw = ds_image_resize_norm(&img, w, x);
    REQUIRE(rw >= 1 && rw <= w);
    for (size_t c = 0; c < 3; c++)
        for (size_t y = 0; y < DS_REC_HEIGHT; y++)
            for (size_t i = 0; i < w; i++) {
                float v = x[(c * DS_REC_HEIGHT + y) * w + i];
                REQUIRE(isfinite(v) && v >= -1 && v <= 1);
                REQUIRE(i < rw || v == 0);
            }
    free(x);
    ds_image_free(&img);
}

static void wordpiece(const uint8_t *data, size_t len, const char *vocab_text, size_t vocab_len)
{
    char err[256];
    ds_vocab_t *v = ds_vocab_parse(vocab_text, vocab_len, err, sizeof err);
    if (!v)
        return;
    size_t max_len = len ? 2 + data[0] % 40 : 8, n;
    int64_t ids[64];
    if (ds_wordpiece_encode(v, (const char *)data + (len > 0), len - (len > 0), max_len, ids, &n,
                            err, sizeof err) == 0) {
        ds_special_ids_t s = ds_vocab_special(v);
        REQUIRE(n >= 2 && n <= max_len && ids[0] == s.cls && ids[n - 1] == s.sep);
        for (size_t i = 0; i < n; i++)
            REQUIRE(ids[i] >= 0 && (size_t)ids[i] < ds_vocab_size(v));
    } else {
        REQUIRE(n == 0 && err[0]);
    }
    ds_vocab_free(v);
}

static void ctc(const uint8_t *data, size_t len)
{
    ds_ctc_dict_t d;
    char err[256];
    size_t half = len / 2;
    if (ds_ctc_dict_split((const char *)data, half, &d, err, sizeof err) < 0)
        return;
    size_t longest = 0;
    for (size_t i = 0; i < d.n; i++) {
        REQUIRE(d.chars[i][d.lens[i]] == 0);
        if (d.lens[i] > longest)
            longest = d.lens[i];
    }
    size_t classes = d.n + 2, steps = (len - half) / classes + 1;
    if (steps > 64)
        steps = 64;
    float *p = calloc(steps * classes, sizeof *p);
    for (size_t i = 0; i < steps * classes && half + i < len; i++)
        p[i] = data[half + i] / 255.0f;
    size_t cap = steps * (longest > 1 ? longest : 1) + 1, tlen;
    char *text = malloc(cap);
    double conf;
    REQUIRE(ds_ctc_decode(d.chars, d.lens, d.n, p, steps, classes, text, cap, &tlen, &conf, err,
                          sizeof err) == 0);
    REQUIRE(tlen < cap && text[tlen] == 0 && conf >= 0 && conf <= 1);
    free(text);
    free(p);
    ds_ctc_dict_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    const uint8_t *rest = data + 1;
    size_t n = len - 1;
    switch (data[0] % 4) {
    case 0: png(rest, n); break;
    case 1: wordpiece(rest, n, small_vocab, sizeof small_vocab - 1); break;
    case 2:
        wordpiece((const uint8_t *)"\x10hello, ab. aab \xe4\xb8\xad!", 22, (const char *)rest, n);
        break;
    case 3: ctc(rest, n); break;
    }
    return 0;
}
