/*
 * tool.c — docsearch-tool: the pure functions of the docsearch example on the command line, for
 * the tests that compare them with the Python reference (tests/integration/test_docsearch.py)
 * and for looking at them by hand.
 *
 *   docsearch-tool tokenize VOCAB MAX_LEN      each line of stdin -> its ids, space-separated
 *                                              ("ERR reason" for a line that fails)
 *   docsearch-tool prepare PNG MAX_WH_RATIO OUT
 *                                              the recogniser input of one picture as raw
 *                                              float32 [3][48][W] to OUT; prints "W resized_w"
 *   docsearch-tool resize PNG DW DH OUT        cv2.resize INTER_LINEAR of the BGR picture to
 *                                              DW x DH, raw 8-bit BGR to OUT
 *   docsearch-tool ctc DICT PROBS STEPS CLASSES
 *                                              DICT: the dictionary text (the model's metadata
 *                                              `character`); PROBS: raw float32
 * [n][STEPS][CLASSES]; prints "text<TAB>confidence" (%.17g) per line Exit status 0, or 1 with a
 * message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctc.h"
#include "ocrimage.h"
#include "wordpiece.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, (cap *= 2) + 1);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = 0;
    *len = n;
    return buf;
}

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "docsearch-tool: %s: %s\n", what, why);
    return 1;
}

static int load_png(const char *path, ds_image_t *img)
{
    size_t len;
    char *data = slurp(path, &len), err[256];
    if (!data)
        return fail(path, "cannot read");
    int rc = ds_image_decode_png(data, len, img, err, sizeof err);
    free(data);
    return rc < 0 ? fail(path, err) : 0;
}

static int cmd_tokenize(const char *vocab_path, size_t max_len)
{
    char err[256];
    ds_vocab_t *v = ds_vocab_load(vocab_path, err, sizeof err);
    if (!v)
        return fail("vocabulary", err);
    int64_t *ids = malloc((max_len < 2 ? 2 : max_len) * sizeof *ids);
    char *line = NULL;
    size_t cap = 0, n;
    ssize_t len;
    while (ids && (len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (ds_wordpiece_encode(v, line, (size_t)len, max_len, ids, &n, err, sizeof err) < 0) {
            printf("ERR %s\n", err);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            printf(i ? " %lld" : "%lld", (long long)ids[i]);
        putchar('\n');
    }
    free(line);
    free(ids);
    ds_vocab_free(v);
    return 0;
}

static int cmd_prepare(const char *png, double ratio, const char *out)
{
    ds_image_t img;
    if (load_png(png, &img))
        return 1;
    uint32_t w = ds_rec_batch_width(ratio);
    float *x = malloc((size_t)3 * DS_REC_HEIGHT * w * sizeof *x);
    uint32_t rw = x ? ds_image_resize_norm(&img, w, x) : 0;
    ds_image_free(&img);
    FILE *f = rw ? fopen(out, "wb") : NULL;
    int ok = f && fwrite(x, sizeof *x, (size_t)3 * DS_REC_HEIGHT * w, f) ==
                      (size_t)3 * DS_REC_HEIGHT * w;
    if (f)
        ok &= fclose(f) == 0;
    free(x);
    if (!ok)
        return fail(out, "cannot write (or out of memory)");
    printf("%u %u\n", w, rw);
    return 0;
}

static int cmd_resize(const char *png, uint32_t dw, uint32_t dh, const char *out)
{
    if (dw < 1 || dh < 1 || dw > DS_IMAGE_MAX_SIDE || dh > DS_IMAGE_MAX_SIDE)
        return fail("resize", "DW and DH must be 1..16384");
    ds_image_t img;
    if (load_png(png, &img))
        return 1;
    uint8_t *d = malloc((size_t)dw * dh * 3);
    int ok = d && ds_resize_linear_u8(img.bgr, img.width, img.height, d, dw, dh, 3) == 0;
    ds_image_free(&img);
    FILE *f = ok ? fopen(out, "wb") : NULL;
    ok = f && fwrite(d, 3, (size_t)dw * dh, f) == (size_t)dw * dh;
    if (f)
        ok &= fclose(f) == 0;
    free(d);
    return ok ? 0 : fail(out, "cannot write (or out of memory)");
}

static int cmd_ctc(const char *dict_path, const char *probs_path, size_t steps, size_t classes)
{
    size_t dlen, plen;
    char *dict_text = slurp(dict_path, &dlen), err[256];
    char *probs = slurp(probs_path, &plen);
    if (!dict_text || !probs)
        return fail(dict_text ? probs_path : dict_path, "cannot read");
    ds_ctc_dict_t d;
    if (ds_ctc_dict_split(dict_text, dlen, &d, err, sizeof err) < 0)
        return fail("dictionary", err);
    size_t per = steps * classes * sizeof(float), lines = per ? plen / per : 0;
    if (!per || plen % per)
        return fail(probs_path, "size is not a multiple of STEPS x CLASSES float32");
    size_t cap = steps * 16 + 1;
    char *text = malloc(cap);
    float *p = malloc(per);
    int rc = 0;
    for (size_t i = 0; i < lines && text && p && !rc; i++) {
        memcpy(p, probs + i * per, per); /* aligned */
        size_t len;
        double conf;
        if (ds_ctc_decode(d.chars, d.lens, d.n, p, steps, classes, text, cap, &len, &conf, err,
                          sizeof err) < 0)
            rc = fail("decode", err);
        else
            printf("%s\t%.17g\n", text, conf);
    }
    free(text);
    free(p);
    free(probs);
    free(dict_text);
    ds_ctc_dict_free(&d);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "tokenize") == 0 && argc == 4)
        return cmd_tokenize(argv[2], strtoul(argv[3], NULL, 10));
    if (strcmp(cmd, "prepare") == 0 && argc == 5)
        return cmd_prepare(argv[2], strtod(argv[3], NULL), argv[4]);
    if (strcmp(cmd, "resize") == 0 && argc == 6)
        return cmd_resize(argv[2], (uint32_t)strtoul(argv[3], NULL, 10),
                          (uint32_t)strtoul(argv[4], NULL, 10), argv[5]);
    if (strcmp(cmd, "ctc") == 0 && argc == 6)
        return cmd_ctc(argv[2], argv[3], strtoul(argv[4], NULL, 10), strtoul(argv[5], NULL, 10));
    fprintf(stderr, "usage: docsearch-tool tokenize VOCAB MAX_LEN < lines\n"
                    "       docsearch-tool prepare PNG MAX_WH_RATIO OUT\n"
                    "       docsearch-tool resize PNG DW DH OUT\n"
                    "       docsearch-tool ctc DICT PROBS STEPS CLASSES\n");
    return 2;
}
