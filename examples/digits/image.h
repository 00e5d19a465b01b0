/*
 * image.h — turning an uploaded picture of a digit into the 64 features the models take.
 *
 *     digits_image_t img;
 *     char err[256];
 *     if (digits_image_decode_png(data, len, &img, err, sizeof err) < 0) ...  // 400: err says why
 *     float pixels[DIGITS_FEATURES];
 *     digits_image_to_pixels(&img, pixels);     // 8x8, 0..16, light ink on a dark ground
 *     digits_image_free(&img);
 *
 * Decoders: PNG through libpng's simplified API (any colour type and bit depth; colour is
 * converted to grey, transparency composed onto white), PGM parsed here (P2 plain and P5 raw,
 * maxval 1..65535, comments). Both refuse images wider or higher than DIGITS_IMAGE_MAX_SIDE or
 * with more than DIGITS_IMAGE_MAX_PIXELS pixels before allocating anything for them.
 *
 * digits_image_to_pixels makes any picture look like the training data (dataset.h: 8x8 counts
 * 0..16, ink high, background 0):
 *   1. grey levels s / maxval in [0, 1] (0 black);
 *   2. if the border of the picture is light on average (mean > 0.5: dark ink on paper), invert;
 *   3. area-average down (or up) to 8x8: each cell is the exact mean of the part of the picture
 *      it covers, fractional pixels weighted by their overlap;
 *   4. stretch the 64 values linearly so that the lowest becomes 0 and the highest 16 (a blank
 *      picture gives 64 zeros).
 * A picture made from a data row (value v drawn as grey v/16, either polarity, each value as a
 * k x k square) gives the row back — exactly for PGM with maxval 16, within 16/255 for 8-bit
 * grey — if the row has a 16 somewhere, as 98% of the data set's rows do (step 4 makes the top
 * 16; the rest have 14 or 15 at most).
 *
 * Threads: every function may run in several threads at once (libpng's simplified API keeps its
 * state per image).
 */
#ifndef DIGITS_IMAGE_H
#define DIGITS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

#define DIGITS_IMAGE_MAX_SIDE   16384           /**< widest / highest picture accepted */
#define DIGITS_IMAGE_MAX_PIXELS (4096u * 4096u) /**< largest width x height accepted */

/** A decoded grey picture. samples is malloc'd: width*height samples, row-major, each 1 byte
 *  (maxval <= 255) or a uint16_t in host order (maxval > 255). */
typedef struct digits_image {
    uint32_t width, height;
    uint32_t maxval; /**< 1..65535: a sample s means grey level s / maxval (0 black) */
    void *samples;
} digits_image_t;

/**
 * Decodes a PNG held in memory (data, len: borrowed) into *out (which the caller then owns and
 * frees with digits_image_free). Returns 0, or -1 with a one-line reason in err ("not a PNG
 * file", "image is 20000x10 pixels, more than 16384 on a side", libpng's message for a corrupt
 * file); *out is then empty.
 */
int digits_image_decode_png(const void *data, size_t len, digits_image_t *out, char *err,
                            size_t errlen);

/**
 * Decodes a PGM (P2 or P5) held in memory into *out, as digits_image_decode_png does. Only the
 * first image of a multi-image P5 file is read. Returns 0, or -1 with a reason in err.
 */
int digits_image_decode_pgm(const void *data, size_t len, digits_image_t *out, char *err,
                            size_t errlen);

/** Frees the samples of *img and zeroes it; a zeroed image is fine. */
void digits_image_free(digits_image_t *img);

/** The 64 features 0..16 of a decoded picture (steps 1–4 above). */
void digits_image_to_pixels(const digits_image_t *img, float pixels[DIGITS_FEATURES]);

#endif
