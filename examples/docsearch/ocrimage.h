/*
 * ocrimage.h — a picture of one text line made into the input of the PP-OCRv4 recogniser
 * (ch_PP-OCRv4_rec_infer.onnx: x float32 [n, 3, 48, w]), as RapidOCR 1.4.4 prepares it
 * (rapidocr_onnxruntime/ch_ppocr_rec/text_recognize.py, TextRecognizer.resize_norm_img):
 *
 *   1. decode the PNG to 8-bit BGR (grey is copied into the three channels; transparency is
 *      composed onto white — RapidOCR inverts RGBA pictures instead, a quirk not copied);
 *   2. the batch's width: W = int(48 * max_wh_ratio), where max_wh_ratio is the largest
 *      width/height of the batch's pictures and at least 320/48; limited to DS_REC_MAX_WIDTH;
 *   3. resize to height 48 and width min(ceil(48 * w / h), W), keeping the aspect ratio (a line
 *      wider than W is squeezed to W), bilinearly as OpenCV's cv2.resize (INTER_LINEAR on 8-bit
 *      pixels: 11-bit fixed-point weights, the result rounded to 8 bits again);
 *   4. x = (v / 255 - 0.5) / 0.5 in float32, channels first (B, G, R), zero (mid grey) right of
 *      the resized picture up to W.
 *
 * The result is RapidOCR's, bit for bit (tests/integration/test_docsearch.py compares them, and
 * step 3 with cv2.resize, on the rendered lines and on pictures they do not cover).
 *
 * Threads: every function may run in several threads at once.
 */
#ifndef DOCSEARCH_OCRIMAGE_H
#define DOCSEARCH_OCRIMAGE_H

#include <stddef.h>
#include <stdint.h>

#define DS_REC_HEIGHT       48             /**< the recogniser's input height */
#define DS_REC_MIN_RATIO    (320.0 / 48.0) /**< RapidOCR's rec_img_shape [3, 48, 320] */
#define DS_REC_MAX_WIDTH    2048           /**< widest batch: a longer line is squeezed */
#define DS_IMAGE_MAX_SIDE   16384          /**< widest / highest picture accepted */
#define DS_IMAGE_MAX_PIXELS (4096u * 4096u)

/** A decoded picture: width*height pixels of 3 bytes, B, G, R, row-major; bgr is malloc'd. */
typedef struct ds_image {
    uint32_t width, height;
    uint8_t *bgr;
} ds_image_t;

/**
 * Decodes a PNG held in memory (data, len: borrowed) into *out, which the caller then owns
 * (ds_image_free). Any colour type and bit depth. Returns 0, or -1 with a one-line reason in err
 * ("not a PNG file", "image is 20000x10 pixels, more than 16384 on a side", libpng's message
 * for a corrupt file); *out is then empty. Sizes are checked before anything is allocated.
 */
int ds_image_decode_png(const void *data, size_t len, ds_image_t *out, char *err, size_t errlen);

/** Frees the pixels of *img and zeroes it; a zeroed image is fine. */
void ds_image_free(ds_image_t *img);

/** width / height of a picture (as RapidOCR computes it: w * 1.0 / h). */
double ds_image_wh_ratio(const ds_image_t *img);

/**
 * The input width W of a batch whose widest picture has aspect ratio `max_wh_ratio` (step 2):
 * int(48 * max(max_wh_ratio, 320/48)), at most DS_REC_MAX_WIDTH.
 */
uint32_t ds_rec_batch_width(double max_wh_ratio);

/**
 * Steps 3-4 for one picture into out[3][48][width] (the caller's; `width` from
 * ds_rec_batch_width). Returns the width the picture was resized to (1..width), the rest of each
 * row being 0; or 0 when out of memory.
 */
uint32_t ds_image_resize_norm(const ds_image_t *img, uint32_t width, float *out);

/**
 * OpenCV's cv2.resize(src, (dw, dh), interpolation=INTER_LINEAR) of 8-bit pixels with `cn`
 * interleaved channels: src sw x sh, dst dw x dh (both the caller's, row-major, no padding).
 * All sizes at least 1. Returns 0, or -1 when out of memory (dst is then unspecified).
 */
int ds_resize_linear_u8(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst, uint32_t dw,
                        uint32_t dh, unsigned cn);

#endif
