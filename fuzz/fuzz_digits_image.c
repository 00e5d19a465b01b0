/*
 * fuzz_digits_image.c — libFuzzer target for the digits demo's image decoders
 * (examples/digits/image.c): PNG through libpng's simplified API and the hand-written PGM (P2,
 * P5) parser, both fed straight from request bodies by the Preprocessing service.
 *
 * Every input goes to both decoders. Invariants on every input that decodes:
 *   - the dimensions are within the limits and the samples within maxval;
 *   - the reduction to 8x8 gives 64 finite values in 0..16, with a 0 and a 16 unless all are 0.
 * Build: make fuzz (rule in examples/digits/digits.mk); run:
 *   build/fuzz/fuzz_digits_image fuzz/corpus/digits_image
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "image.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_digits_image: %s failed at line %d\n", #cond, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check(const digits_image_t *img)
{
    REQUIRE(img->width >= 1 && img->height >= 1);
    REQUIRE(img->width <= DIGITS_IMAGE_MAX_SIDE && img->height <= DIGITS_IMAGE_MAX_SIDE);
    REQUIRE((uint64_t)img->width * img->height <= DIGITS_IMAGE_MAX_PIXELS);
    REQUIRE(img->maxval >= 1 && img->maxval <= 65535 && img->samples);
    size_t n = (size_t)img->width * img->height;
    for (size_t i = 0; i < n; i++)
        REQUIRE((img->maxval > 255 ? ((const uint16_t *)img->samples)[i]
                                   : ((const unsigned char *)img->samples)[i]) <= img->maxval);
    float px[DIGITS_FEATURES];
    digits_image_to_pixels(img, px);
    float lo = px[0], hi = px[0];
    for (int i = 0; i < DIGITS_FEATURES; i++) {
        REQUIRE(isfinite(px[i]) && px[i] >= 0 && px[i] <= 16);
        lo = px[i] < lo ? px[i] : lo;
        hi = px[i] > hi ? px[i] : hi;
    }
    REQUIRE(lo == 0 && (hi == 16 || hi == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    digits_image_t img;
    if (digits_image_decode_png(data, size, &img, err, sizeof err) == 0) {
        check(&img);
        digits_image_free(&img);
    } else {
        REQUIRE(err[0] && img.samples == NULL);
    }
    if (digits_image_decode_pgm(data, size, &img, err, sizeof err) == 0) {
        check(&img);
        digits_image_free(&img);
    } else {
        REQUIRE(err[0] && img.samples == NULL);
    }
    return 0;
}
