/*
 * error.c — the error table (include/tiffin/error.h) turned into lookups, and tfn_error_set.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tiffin/error.h"

const char *tfn_strerror(int code)
{
    switch (code) {
#define TFN_X_CASE(name, value, status, desc)                                                      \
    case value: return desc;
        TFN_ERROR_TABLE(TFN_X_CASE)
#undef TFN_X_CASE
    default: return "unknown error";
    }
}

const char *tfn_errname(int code)
{
    switch (code) {
#define TFN_X_CASE(name, value, status, desc)                                                      \
    case value: return #name;
        TFN_ERROR_TABLE(TFN_X_CASE)
#undef TFN_X_CASE
    default: return "EUNKNOWN";
    }
}

int tfn_http_status(int code)
{
    switch (code) {
#define TFN_X_CASE(name, value, status, desc)                                                      \
    case value: return status;
        TFN_ERROR_TABLE(TFN_X_CASE)
#undef TFN_X_CASE
    default: return 500;
    }
}

/* Cuts a UTF-8 sequence that truncation left incomplete at the end of `s` (the message goes
 * into JSON error bodies, where it must stay valid UTF-8). */
static void trim_partial_utf8(char *s)
{
    size_t len = strlen(s), start = len;
    while (start > 0 && len - start < 4 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0)
        return;
    unsigned char lead = (unsigned char)s[start - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead >= 0x80 && len - (start - 1) < need)
        s[start - 1] = '\0';
}

/*
 * Starts a fresh error: service and api are cleared (callers fill them in afterwards), so `err`
 * may point to uninitialised memory. An empty message is replaced by the code's description, so
 * that a set error never has an empty message.
 */
int tfn_error_set(tfn_error_t *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->http_status = tfn_http_status(code);
    err->service[0] = '\0';
    err->api[0] = '\0';
    err->message[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        if (n >= (int)sizeof err->message)
            trim_partial_utf8(err->message);
    }
    if (!err->message[0])
        snprintf(err->message, sizeof err->message, "%s", tfn_strerror(code));
    return code;
}

/* The code whose name is `name` ("ETOOBIG" -> TFN_ETOOBIG), for errors a dependency sent;
 * 0 when no code has that name. Exported to call.c. */
int tfn__errcode_from_name(const char *name);
int tfn__errcode_from_name(const char *name)
{
#define TFN_X_CASE(xname, value, status, desc)                                                     \
    if (value != 0 && strcmp(name, #xname) == 0)                                                   \
        return value;
    TFN_ERROR_TABLE(TFN_X_CASE)
#undef TFN_X_CASE
    return 0;
}
