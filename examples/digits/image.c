/*
 * image.c — PNG and PGM decoding and the reduction of any grey picture to the 8x8 features of
 * the digits data (image.h).
 *
 * Every input here is untrusted (it comes straight from a request body): sizes are checked
 * before anything is allocated, every read is bounds-checked, and nothing is allocated in
 * proportion to the input without the DIGITS_IMAGE_MAX_* limits.
 */
#include "image.h"

#include "err.h"

#include <png.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks a picture's dimensions against the limits; -1 with a message if it is refused. */
static int check_size(uint64_t width, uint64_t height, char *err, size_t errlen)
{
    if (width == 0 || height == 0) {
        set_err(err, errlen, "image is %llux%llu pixels: empty", (unsigned long long)width,
                (unsigned long long)height);
        return -1;
    }
    if (width > DIGITS_IMAGE_MAX_SIDE || height > DIGITS_IMAGE_MAX_SIDE) {
        set_err(err, errlen, "image is %llux%llu pixels, more than %d on a side",
                (unsigned long long)width, (unsigned long long)height, DIGITS_IMAGE_MAX_SIDE);
        return -1;
    }
    if (width * height > DIGITS_IMAGE_MAX_PIXELS) {
        set_err(err, errlen, "image is %llux%llu pixels, more than %u in all",
                (unsigned long long)width, (unsigned long long)height, DIGITS_IMAGE_MAX_PIXELS);
        return -1;
    }
    return 0;
}

void digits_image_free(digits_image_t *img)
{
    if (!img)
        return;
    free(img->samples);
    memset(img, 0, sizeof *img);
}

/* ---------------------------------------------------------------------------------------------
 * PNG (libpng's simplified API: it validates chunks and CRCs, converts every colour type and
 * depth to 8-bit grey, and reports errors in image.message without printing anything)
 * ------------------------------------------------------------------------------------------- */

int digits_image_decode_png(const void *data, size_t len, digits_image_t *out, char *err,
                            size_t errlen)
{
    memset(out, 0, sizeof *out);
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len < sizeof signature || memcmp(data, signature, sizeof signature) != 0) {
        set_err(err, errlen, "not a PNG file (no PNG signature)");
        return -1;
    }
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, data, len)) {
        set_err(err, errlen, "corrupt PNG: %s", png.message);
        png_image_free(&png);
        return -1;
    }
    if (check_size(png.width, png.height, err, errlen) < 0) {
        png_image_free(&png);
        return -1;
    }
    png.format = PNG_FORMAT_GRAY;
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(png));
    if (!buf) {
        set_err(err, errlen, "out of memory for a %ux%u image", png.width, png.height);
        png_image_free(&png);
        return -1;
    }
    png_color white = {255, 255, 255}; /* transparent parts become paper */
    if (!png_image_finish_read(&png, &white, buf, 0, NULL)) {
        set_err(err, errlen, "corrupt PNG: %s", png.message);
        png_image_free(&png); /* finish_read frees on failure too; this is harmless */
        free(buf);
        return -1;
    }
    out->width = png.width;
    out->height = png.height;
    out->maxval = 255;
    out->samples = buf;
    png_image_free(&png);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * PGM (netpbm): "P2" or "P5", whitespace, width, height, maxval (decimal, with '#' comments to
 * the end of a line anywhere between them), then for P5 one whitespace byte and width*height
 * samples of 1 byte (maxval < 256) or 2 bytes big-endian; for P2 width*height decimal samples.
 * ------------------------------------------------------------------------------------------- */

typedef struct reader {
    const unsigned char *p, *end;
} reader_t;

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Skips whitespace and comments. */
static void skip_space(reader_t *r)
{
    while (r->p < r->end) {
        if (*r->p == '#') {
            while (r->p < r->end && *r->p != '\n')
                r->p++;
        } else if (is_space(*r->p)) {
            r->p++;
        } else {
            break;
        }
    }
}

/* Reads a decimal number of at most `max` after optional whitespace and comments. Returns 0, -1
 * if there is none (end of data or another character), -2 if it is larger than max. */
static int read_number(reader_t *r, uint64_t max, uint64_t *value)
{
    skip_space(r);
    if (r->p >= r->end || *r->p < '0' || *r->p > '9')
        return -1;
    uint64_t v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        v = v * 10 + (uint64_t)(*r->p++ - '0');
        if (v > max)
            return -2;
    }
    if (r->p < r->end && !is_space(*r->p) && *r->p != '#')
        return -1; /* "12x" */
    *value = v;
    return 0;
}

int digits_image_decode_pgm(const void *data, size_t len, digits_image_t *out, char *err,
                            size_t errlen)
{
    memset(out, 0, sizeof *out);
    reader_t r = {data, (const unsigned char *)data + len};
    if (len < 2 || r.p[0] != 'P' || (r.p[1] != '2' && r.p[1] != '5')) {
        set_err(err, errlen, "not a PGM file (it must begin with P2 or P5)");
        return -1;
    }
    bool raw = r.p[1] == '5';
    r.p += 2;
    if (r.p < r.end && !is_space(*r.p) && *r.p != '#') {
        set_err(err, errlen, "not a PGM file (it must begin with P2 or P5)");
        return -1;
    }
    static const char *const what[3] = {"width", "height", "maxval"};
    static const uint64_t limit[3] = {DIGITS_IMAGE_MAX_SIDE, DIGITS_IMAGE_MAX_SIDE, 65535};
    uint64_t header[3];
    for (int i = 0; i < 3; i++) {
        int rc = read_number(&r, i < 2 ? UINT32_MAX : limit[i], &header[i]);
        if (rc == -2 || (rc == 0 && i == 2 && header[i] == 0)) {
            set_err(err, errlen, "bad PGM header: %s must be 1..%llu", what[i],
                    (unsigned long long)limit[i]);
            return -1;
        }
        if (rc < 0) {
            set_err(err, errlen, "bad PGM header: no %s", what[i]);
            return -1;
        }
    }
    uint64_t width = header[0], height = header[1], maxval = header[2];
    if (check_size(width, height, err, errlen) < 0)
        return -1;
    size_t count = (size_t)(width * height), sample_size = maxval > 255 ? 2 : 1;
    unsigned char *samples = malloc(count * sample_size);
    if (!samples) {
        set_err(err, errlen, "out of memory for a %llux%llu image", (unsigned long long)width,
                (unsigned long long)height);
        return -1;
    }
    if (raw) {
        /* Exactly one whitespace byte separates maxval from the raster (it may be a byte the
         * raster would start with, so skip_space must not be used here). */
        if (r.p >= r.end || !is_space(*r.p)) {
            set_err(err, errlen, "truncated PGM: no raster after the header");
            free(samples);
            return -1;
        }
        r.p++;
        size_t have = (size_t)(r.end - r.p), need = count * sample_size;
        if (have < need) {
            set_err(err, errlen, "truncated PGM: %zu of %zu raster bytes", have, need);
            free(samples);
            return -1;
        }
        for (size_t i = 0; i < count; i++) {
            unsigned v = sample_size == 2 ? (unsigned)r.p[2 * i] << 8 | r.p[2 * i + 1] : r.p[i];
            if (v > maxval) {
                set_err(err, errlen, "bad PGM: sample %zu is %u, above maxval %u", i, v,
                        (unsigned)maxval);
                free(samples);
                return -1;
            }
            if (sample_size == 2)
                ((uint16_t *)(void *)samples)[i] = (uint16_t)v;
            else
                samples[i] = (unsigned char)v;
        }
    } else {
        for (size_t i = 0; i < count; i++) {
            uint64_t v;
            int rc = read_number(&r, maxval, &v);
            if (rc < 0) {
                if (rc == -2)
                    set_err(err, errlen, "bad PGM: sample %zu is above maxval %u", i,
                            (unsigned)maxval);
                else
                    set_err(err, errlen, "truncated PGM: %zu of %zu samples", i, count);
                free(samples);
                return -1;
            }
            if (sample_size == 2)
                ((uint16_t *)(void *)samples)[i] = (uint16_t)v;
            else
                samples[i] = (unsigned char)v;
        }
    }
    out->width = (uint32_t)width;
    out->height = (uint32_t)height;
    out->maxval = (uint32_t)maxval;
    out->samples = samples;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Any picture -> 8x8 features 0..16
 * ------------------------------------------------------------------------------------------- */

static double sample(const digits_image_t *img, size_t i)
{
    unsigned s = img->maxval > 255 ? ((const uint16_t *)img->samples)[i]
                                   : ((const unsigned char *)img->samples)[i];
    return (double)s;
}

/* Sum of row y's samples over [x0, x1) in continuous coordinates (partial pixels weighted). */
static double row_span(const digits_image_t *img, uint32_t y, double x0, double x1)
{
    size_t base = (size_t)y * img->width;
    uint32_t first = (uint32_t)x0, last = (uint32_t)x1; /* x0, x1 >= 0 */
    if (last >= img->width)
        last = img->width - 1;
    double sum = 0;
    for (uint32_t x = first; x <= last; x++) {
        double lo = x > x0 ? x : x0, hi = x + 1.0 < x1 ? x + 1.0 : x1;
        if (hi > lo)
            sum += (hi - lo) * sample(img, base + x);
    }
    return sum;
}

void digits_image_to_pixels(const digits_image_t *img, float pixels[DIGITS_FEATURES])
{
    uint32_t w = img->width, h = img->height;
    double scale = 1.0 / img->maxval;

    /* 2. The border's mean grey level decides the polarity. */
    double border = 0;
    size_t nborder = 0;
    for (uint32_t y = 0; y < h; y++) {
        bool edge_row = y == 0 || y == h - 1;
        for (uint32_t x = 0; x < w; x += edge_row || x == w - 1 ? 1 : w - 1 - x) {
            border += sample(img, (size_t)y * w + x);
            nborder++;
        }
    }
    bool invert = border * scale / (double)nborder > 0.5;

    /* 3. Area averaging: cell (r, c) covers [c*w/8, (c+1)*w/8) x [r*h/8, (r+1)*h/8). */
    double cell[DIGITS_FEATURES], lo = 1, hi = 0;
    for (int r = 0; r < 8; r++) {
        double y0 = r * (double)h / 8, y1 = (r + 1) * (double)h / 8;
        for (int c = 0; c < 8; c++) {
            double x0 = c * (double)w / 8, x1 = (c + 1) * (double)w / 8, sum = 0;
            uint32_t ylast = (uint32_t)y1 < h ? (uint32_t)y1 : h - 1;
            for (uint32_t y = (uint32_t)y0; y <= ylast; y++) {
                double top = y > y0 ? y : y0, bottom = y + 1.0 < y1 ? y + 1.0 : y1;
                if (bottom > top)
                    sum += (bottom - top) * row_span(img, y, x0, x1);
            }
            double v = sum * scale / ((x1 - x0) * (y1 - y0));
            if (invert)
                v = 1 - v;
            cell[r * 8 + c] = v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }

    /* 4. Levels: lowest -> 0, highest -> 16. */
    for (int i = 0; i < DIGITS_FEATURES; i++) {
        double v = hi - lo > 1e-9 ? (cell[i] - lo) / (hi - lo) * 16 : 0;
        pixels[i] = (float)(v < 0 ? 0 : v > 16 ? 16 : v);
    }
}
