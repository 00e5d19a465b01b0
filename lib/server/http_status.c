/*
 * http_status.c — the words of HTTP status lines and the JSON body of every error response.
 * Leaf helpers of http_server.c and dispatch.c.
 */
#include <stdio.h>

#include "server/server_internal.h"

const char *tfn__http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

bool tfn__http_method_known(int method)
{
    switch (method) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_POST:
    case HTTP_PUT:
    case HTTP_DELETE:
    case HTTP_CONNECT:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
    case HTTP_PATCH: return true;
    default: return false; /* WebDAV, UPnP, ...: http-parser knows them, HTTP does not */
    }
}

/* Appends `s` as a JSON string literal (quotes included). */
static int put_json_string(tfn__buf_t *out, const char *s)
{
    int rc = tfn__buf_append(out, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        if (*p == '"' || *p == '\\')
            rc = tfn__buf_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            rc = tfn__buf_printf(out, "\\u%04x", *p);
        else
            rc = tfn__buf_append(out, p, 1);
    }
    return rc ? rc : tfn__buf_append(out, "\"", 1);
}

int tfn__error_json(const tfn_error_t *err, tfn__buf_t *out)
{
    int rc = tfn__buf_puts(out, "{\"error\":");
    if (!rc)
        rc = put_json_string(out, err->message[0] ? err->message : tfn_strerror(err->code));
    if (!rc)
        rc = tfn__buf_printf(out, ",\"code\":\"%s\",\"status\":%d", tfn_errname(err->code),
                             err->http_status);
    if (!rc && err->service[0]) {
        rc = tfn__buf_puts(out, ",\"service\":");
        if (!rc)
            rc = put_json_string(out, err->service);
    }
    if (!rc && err->api[0]) {
        rc = tfn__buf_puts(out, ",\"api\":");
        if (!rc)
            rc = put_json_string(out, err->api);
    }
    return rc ? rc : tfn__buf_puts(out, "}");
}
