/*
 * ctc.h — greedy CTC decoding of the PP-OCRv4 recogniser's output, as RapidOCR 1.4.4 does it
 * (rapidocr_onnxruntime/ch_ppocr_rec/utils.py, CTCLabelDecode):
 *
 *   classes: 0 is the CTC blank, 1..n the dictionary's characters in order, n + 1 a space
 *   (so the model's last dimension is n + 2: 6,625 for PP-OCRv4's 6,623 characters);
 *   per time step the most probable class (the first on a tie) and its probability; a step is
 *   kept if its class is not the blank and differs from the previous step's; the text is the
 *   kept steps' characters, the confidence the mean of their probabilities (0 if none is kept).
 *
 * The dictionary is stored in the model as the metadata value `character`, one character a line:
 * ds_ctc_dict_split turns that string into the list the decoder takes.
 *
 *     ds_ctc_dict_t d;
 *     if (ds_ctc_dict_split(metadata, strlen(metadata), &d, err, sizeof err) < 0) ...
 *     char text[4 * 200 + 1]; size_t len; double conf;
 *     ds_ctc_decode(d.chars, d.lens, d.n, probs, steps, classes, text, sizeof text, &len, &conf,
 *                   err, sizeof err);
 *     ds_ctc_dict_free(&d);
 *
 * Threads: both functions may run in several threads at once (a dictionary is read-only).
 */
#ifndef DOCSEARCH_CTC_H
#define DOCSEARCH_CTC_H

#include <stddef.h>
#include <stdint.h>

/** A dictionary: n characters (UTF-8 strings, usually one character each). */
typedef struct ds_ctc_dict {
    const char **chars; /**< [n] NUL-terminated, into the dictionary's own buffer */
    uint32_t *lens;     /**< [n] byte lengths */
    size_t n;
    char *_buf;
} ds_ctc_dict_t;

/**
 * Splits `text` (len bytes, borrowed) into lines as Python's str.splitlines does (at \n, \r\n,
 * \r, \v, \f, \x1c-\x1e, U+0085, U+2028, U+2029; no empty last line) into *out, owned by the
 * caller (ds_ctc_dict_free). Returns 0, or -1 with a reason in err (no lines, invalid UTF-8,
 * more than 1,000,000 lines, out of memory).
 */
int ds_ctc_dict_split(const char *text, size_t len, ds_ctc_dict_t *out, char *err, size_t errlen);

/** Frees a dictionary and zeroes it; a zeroed one is fine. */
void ds_ctc_dict_free(ds_ctc_dict_t *dict);

/**
 * Decodes one line: probs[steps][classes] (row-major, borrowed), classes == nchars + 2, with the
 * dictionary chars[0..nchars) (byte lengths lens). Writes the text, NUL-terminated, to
 * text[0..cap) and its byte length to *len, the confidence to *conf. Returns 0, or -1 with a
 * reason in err (classes != nchars + 2, or the text does not fit in cap bytes; *len is then 0
 * and text ""). cap = steps * (longest entry) + 1 always suffices.
 */
int ds_ctc_decode(const char *const *chars, const uint32_t *lens, size_t nchars, const float *probs,
                  size_t steps, size_t classes, char *text, size_t cap, size_t *len, double *conf,
                  char *err, size_t errlen);

#endif
