/*
 * ctc.c — greedy CTC decoding and the dictionary's line splitting (ctc.h says what and why).
 */
#include "ctc.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

#define DICT_MAX_LINES 1000000

/* Length in bytes of the line break at s[0..left), or 0 if none starts there. */
static size_t line_break(const unsigned char *s, size_t left)
{
    switch (s[0]) {
    case '\n':
    case '\v':
    case '\f':
    case 0x1c:
    case 0x1d:
    case 0x1e: return 1;
    case '\r': return left > 1 && s[1] == '\n' ? 2 : 1;
    case 0xc2: /* U+0085 */ return left > 1 && s[1] == 0x85 ? 2 : 0;
    case 0xe2: /* U+2028, U+2029 */
        return left > 2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9) ? 3 : 0;
    default: return 0;
    }
}

void ds_ctc_dict_free(ds_ctc_dict_t *d)
{
    free(d->chars);
    free(d->lens);
    free(d->_buf);
    memset(d, 0, sizeof *d);
}

int ds_ctc_dict_split(const char *text, size_t len, ds_ctc_dict_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const unsigned char *s = (const unsigned char *)text;
    /* Valid UTF-8 first (as the metadata is a Python str), counting lines on the way. */
    size_t lines = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!n || i + n > len)
            goto bad_utf8;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                goto bad_utf8;
        size_t br = line_break(s + i, len - i);
        lines += br > 0;
        i += br ? br : n;
        continue;
    bad_utf8:
        ds_set_err(err, errlen, "dictionary is not valid UTF-8 (at byte %zu)", i);
        return -1;
    }
    lines++; /* the last line, if it has no break (counted, maybe empty, dropped below) */
    if (lines > DICT_MAX_LINES) {
        ds_set_err(err, errlen, "dictionary has more than %d lines", DICT_MAX_LINES);
        return -1;
    }
    out->_buf = malloc(len + 1);
    out->chars = malloc(lines * sizeof *out->chars);
    out->lens = malloc(lines * sizeof *out->lens);
    if (!out->_buf || !out->chars || !out->lens) {
        ds_ctc_dict_free(out);
        ds_set_err(err, errlen, "out of memory");
        return -1;
    }
    memcpy(out->_buf, text, len);
    out->_buf[len] = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len;) {
        size_t br = i < len ? line_break(s + i, len - i) : 0;
        if (br || i == len) {
            if (br || i > start) { /* splitlines gives no empty last line */
                out->_buf[i] = 0;
                out->chars[out->n] = out->_buf + start;
                out->lens[out->n++] = (uint32_t)(i - start);
            }
            if (i == len)
                break;
            i += br;
            start = i;
        } else {
            i++;
        }
    }
    if (out->n == 0) {
        ds_ctc_dict_free(out);
        ds_set_err(err, errlen, "dictionary is empty");
        return -1;
    }
    return 0;
}

int ds_ctc_decode(const char *const *chars, const uint32_t *lens, size_t nchars, const float *probs,
                  size_t steps, size_t classes, char *text, size_t cap, size_t *len, double *conf,
                  char *err, size_t errlen)
{
    *len = 0;
    *conf = 0;
    if (cap > 0)
        text[0] = 0;
    if (classes != nchars + 2) {
        ds_set_err(err, errlen, "the model has %zu classes, the dictionary %zu characters (+2)",
                   classes, nchars);
        return -1;
    }
    double sum = 0;
    size_t kept = 0, n = 0, prev = SIZE_MAX;
    for (size_t t = 0; t < steps; t++) {
        const float *p = probs + t * classes;
        size_t best = 0;
        for (size_t c = 1; c < classes; c++)
            if (p[c] > p[best])
                best = c;
        if (best != 0 && best != prev) {
            const char *ch = best <= nchars ? chars[best - 1] : " ";
            size_t chlen = best <= nchars ? lens[best - 1] : 1;
            if (n + chlen + 1 > cap) {
                if (cap > 0)
                    text[0] = 0;
                ds_set_err(err, errlen, "decoded text longer than %zu bytes", cap);
                return -1;
            }
            memcpy(text + n, ch, chlen);
            n += chlen;
            sum += p[best];
            kept++;
        }
        prev = best;
    }
    if (cap > 0)
        text[n] = 0;
    *len = n;
    *conf = kept ? sum / (double)kept : 0;
    return 0;
}
