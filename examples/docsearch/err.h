/*
 * err.h — how the docsearch code reports errors: printf-style into the caller's (err, errlen)
 * buffer, which may be NULL. Shared by wordpiece.c, ocrimage.c, ctc.c and render.c.
 */
#ifndef DOCSEARCH_ERR_H
#define DOCSEARCH_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void ds_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void ds_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#endif
