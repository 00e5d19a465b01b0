/*
 * err.h — how the digits code reports errors: printf-style into the caller's (err, errlen)
 * buffer, which may be NULL. Shared by dataset.c, image.c, models.c, model_*.c and weights.c.
 */
#ifndef DIGITS_ERR_H
#define DIGITS_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#endif
