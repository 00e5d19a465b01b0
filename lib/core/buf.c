/*
 * buf.c — the growable byte buffer with a hard maximum (lib/buf_internal.h).
 *
 * Capacity doubles (from 256 bytes) but never beyond max + 1; the extra byte keeps the data
 * NUL-terminated after every operation, so text built in a buffer can be used as a C string.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf_internal.h"
#include "tiffin/error.h"

#define MIN_CAP 256

void tfn__buf_init(tfn__buf_t *buf, size_t max)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->max = max < SIZE_MAX ? max : SIZE_MAX - 1;
}

void tfn__buf_free(tfn__buf_t *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

int tfn__buf_grow(tfn__buf_t *buf, size_t extra)
{
    if (extra > buf->max - buf->len)
        return TFN_ETOOBIG;
    size_t need = buf->len + extra + 1; /* + the NUL */
    if (need <= buf->cap)
        return 0;
    size_t cap = buf->cap < MIN_CAP ? MIN_CAP : buf->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > buf->max + 1)
        cap = buf->max + 1;
    char *data = realloc(buf->data, cap);
    if (!data)
        return TFN_ENOMEM;
    if (!buf->data)
        data[0] = '\0';
    buf->data = data;
    buf->cap = cap;
    return 0;
}

char *tfn__buf_reserve(tfn__buf_t *buf, size_t extra)
{
    return tfn__buf_grow(buf, extra) ? NULL : buf->data + buf->len;
}

int tfn__buf_append(tfn__buf_t *buf, const void *data, size_t len)
{
    if (!len)
        return 0;
    int rc = tfn__buf_grow(buf, len);
    if (rc)
        return rc;
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

int tfn__buf_puts(tfn__buf_t *buf, const char *s) { return tfn__buf_append(buf, s, strlen(s)); }

int tfn__buf_printf(tfn__buf_t *buf, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TFN_EINVAL;
    if ((size_t)n < sizeof small)
        return tfn__buf_append(buf, small, (size_t)n);
    int rc = tfn__buf_grow(buf, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return 0;
}

void tfn__buf_consume(tfn__buf_t *buf, size_t n)
{
    if (n >= buf->len) {
        buf->len = 0;
    } else {
        memmove(buf->data, buf->data + n, buf->len - n);
        buf->len -= n;
    }
    if (buf->data)
        buf->data[buf->len] = '\0';
}
