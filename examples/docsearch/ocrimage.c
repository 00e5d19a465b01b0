/*
 * ocrimage.c — PNG to the recogniser's input (ocrimage.h says what and why).
 */
#include "ocrimage.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int ds_image_decode_png(const void *data, size_t len, ds_image_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        ds_set_err(err, errlen, "not a PNG file");
        return -1;
    }
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, data, len)) {
        ds_set_err(err, errlen, "bad PNG: %s", png.message);
        return -1;
    }
    if (png.width == 0 || png.height == 0 || png.width > DS_IMAGE_MAX_SIDE ||
        png.height > DS_IMAGE_MAX_SIDE || (uint64_t)png.width * png.height > DS_IMAGE_MAX_PIXELS) {
        ds_set_err(err, errlen, "image is %ux%u pixels: at most %d on a side and %u in all",
                   png.width, png.height, DS_IMAGE_MAX_SIDE, DS_IMAGE_MAX_PIXELS);
        png_image_free(&png);
        return -1;
    }
    png.format = PNG_FORMAT_BGR;
    uint8_t *bgr = malloc((size_t)png.width * png.height * 3);
    if (!bgr) {
        ds_set_err(err, errlen, "out of memory for a %ux%u image", png.width, png.height);
        png_image_free(&png);
        return -1;
    }
    png_color white = {255, 255, 255};
    if (!png_image_finish_read(&png, &white, bgr, 0, NULL)) {
        ds_set_err(err, errlen, "bad PNG: %s", png.message);
        free(bgr);
        png_image_free(&png);
        return -1;
    }
    out->width = png.width;
    out->height = png.height;
    out->bgr = bgr;
    return 0;
}

void ds_image_free(ds_image_t *img)
{
    free(img->bgr);
    memset(img, 0, sizeof *img);
}

double ds_image_wh_ratio(const ds_image_t *img) { return img->width * 1.0 / img->height; }

uint32_t ds_rec_batch_width(double max_wh_ratio)
{
    double r = max_wh_ratio > DS_REC_MIN_RATIO ? max_wh_ratio : DS_REC_MIN_RATIO;
    double w = DS_REC_HEIGHT * r;
    return w >= DS_REC_MAX_WIDTH ? DS_REC_MAX_WIDTH : (uint32_t)w;
}

/* ---------------------------------------------------------------------------------------------
 * OpenCV's INTER_LINEAR for 8-bit pixels (modules/imgproc/src/resize.cpp): per destination
 * column and row a source index and two weights in 11-bit fixed point; rows are interpolated
 * horizontally into ints (weights sum to 2048), then two rows vertically, as OpenCV's vectorised
 * code does it: ((s0 >> 4) * b0 >> 16) + ((s1 >> 4) * b1 >> 16), rounded off by 2 bits. (Checked
 * bit for bit against cv2.resize from PyPI's opencv-python-headless 4.13 on 65 million values.)
 * ------------------------------------------------------------------------------------------- */

#define COEF_SCALE 2048

/* Index and the two weights of destination coordinate d (source size s). Columns past an edge
 * take the edge pixel whole (clamp); rows keep their weights and read the edge row twice, as
 * OpenCV does (its weights then round differently from a plain copy of the edge row). */
static void linear_coefs(uint32_t d, uint32_t s, double scale, int clamp, int32_t *idx,
                         int16_t w[2])
{
    float f = (float)((d + 0.5) * scale - 0.5);
    int i = (int)floorf(f);
    f -= (float)i;
    if (clamp && i < 0)
        i = 0, f = 0;
    if (clamp && i >= (int)s - 1)
        i = (int)s - 1, f = 0;
    *idx = i;
    w[0] = (int16_t)lrintf((1.f - f) * COEF_SCALE);
    w[1] = (int16_t)lrintf(f * COEF_SCALE);
}

int ds_resize_linear_u8(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst, uint32_t dw,
                        uint32_t dh, unsigned cn)
{
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * sh * cn);
        return 0;
    }
    double scale_x = 1. / ((double)dw / sw), scale_y = 1. / ((double)dh / sh);
    int32_t *xofs = malloc(dw * sizeof *xofs);
    int16_t *alpha = malloc(dw * 2 * sizeof *alpha);
    int32_t *rows = malloc((size_t)2 * dw * cn * sizeof *rows);
    if (!xofs || !alpha || !rows) {
        free(xofs), free(alpha), free(rows);
        return -1;
    }
    for (uint32_t x = 0; x < dw; x++)
        linear_coefs(x, sw, scale_x, 1, &xofs[x], &alpha[2 * x]);
    int32_t *row[2] = {rows, rows + (size_t)dw * cn};
    int32_t have[2] = {-1, -1};
    for (uint32_t y = 0; y < dh; y++) {
        int32_t sy;
        int16_t beta[2];
        linear_coefs(y, sh, scale_y, 0, &sy, beta);
        int32_t want[2] = {sy < 0              ? 0
                           : sy >= (int32_t)sh ? (int32_t)sh - 1
                                               : sy,
                           sy + 1 < 0              ? 0
                           : sy + 1 >= (int32_t)sh ? (int32_t)sh - 1
                                                   : sy + 1};
        if (have[0] != want[0] && have[1] == want[0]) { /* moving down: the old second row */
            int32_t *t = row[0];
            row[0] = row[1], row[1] = t;
            have[1] = have[0], have[0] = want[0];
        }
        for (int k = 0; k < 2; k++) {
            if (have[k] == want[k])
                continue;
            const uint8_t *s = src + (size_t)want[k] * sw * cn;
            for (uint32_t x = 0; x < dw; x++) {
                const uint8_t *p = s + (size_t)xofs[x] * cn;
                int a0 = alpha[2 * x], a1 = alpha[2 * x + 1];
                int has_next = (uint32_t)xofs[x] + 1 < sw;
                for (unsigned c = 0; c < cn; c++)
                    row[k][x * cn + c] = p[c] * a0 + (has_next ? p[c + cn] * a1 : 0);
            }
            have[k] = want[k];
        }
        uint8_t *d = dst + (size_t)y * dw * cn;
        for (size_t i = 0; i < (size_t)dw * cn; i++) {
            int v = (((row[0][i] >> 4) * beta[0]) >> 16) + (((row[1][i] >> 4) * beta[1]) >> 16);
            v = (v + 2) >> 2;
            d[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(xofs);
    free(alpha);
    free(rows);
    return 0;
}

uint32_t ds_image_resize_norm(const ds_image_t *img, uint32_t width, float *out)
{
    double ratio = img->width / (double)img->height;
    double want = ceil(DS_REC_HEIGHT * ratio);
    uint32_t rw = want > width ? width : (uint32_t)want;
    if (rw < 1)
        rw = 1;
    uint8_t *resized = malloc((size_t)rw * DS_REC_HEIGHT * 3);
    size_t plane = (size_t)DS_REC_HEIGHT * width;
    memset(out, 0, 3 * plane * sizeof *out);
    if (!resized ||
        ds_resize_linear_u8(img->bgr, img->width, img->height, resized, rw, DS_REC_HEIGHT, 3) < 0) {
        free(resized);
        return 0;
    }
    for (uint32_t y = 0; y < DS_REC_HEIGHT; y++)
        for (uint32_t x = 0; x < rw; x++)
            for (int c = 0; c < 3; c++) {
                float v = (float)resized[((size_t)y * rw + x) * 3 + c] / 255.0f;
                v -= 0.5f;
                v /= 0.5f;
                out[c * plane + (size_t)y * width + x] = v;
            }
    free(resized);
    return rw;
}
