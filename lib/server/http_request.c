/*
 * http_request.c — a request's head and body as http-parser hands them over (its callbacks,
 * tfn__request_parser): the URL, the headers tiffin reads (Content-Type, Accept, Expect,
 * X-Tiffin-Deadline-Ms, Inference-Header-Content-Length, X-Tiffin-Shm, traceparent,
 * tracestate), the body read in place, and the complete request handed to tfn__dispatch.
 * http_server.c runs the parser over what a connection reads; limits that stop it become 4xx
 * answers there (parse_error).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec/codec_internal.h"
#include "server/server_internal.h"

enum header_kind {
    HEADER_OTHER,
    HEADER_CONTENT_TYPE,
    HEADER_ACCEPT,
    HEADER_EXPECT,
    HEADER_DEADLINE,
    HEADER_INFER_LEN,
    HEADER_SHM,
    HEADER_TRACEPARENT,
    HEADER_TRACESTATE
};

static tfn__conn_t *conn_of(http_parser *p) { return p->data; }

int tfn__header_digits(const char *at, size_t len, uint64_t max, uint64_t *acc)
{
    int digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (at[i] == ' ' || at[i] == '\t')
            continue;
        if (at[i] < '0' || at[i] > '9' || *acc > (max - 9) / 10)
            return -1;
        *acc = *acc * 10 + (uint64_t)(at[i] - '0');
        digits++;
    }
    return digits;
}

/* Stops the parser with an error that becomes a 4xx response. */
static int parse_fail(tfn__conn_t *conn, int code, const char *message)
{
    conn->parse_error = code;
    snprintf(conn->parse_message, sizeof conn->parse_message, "%s", message);
    return -1;
}

static int on_message_begin(http_parser *p)
{
    tfn__conn_t *conn = conn_of(p);
    conn->receiving = true;
    conn->in_body = false;
    conn->url_len = 0;
    conn->header_name_len = 0;
    conn->header_name_overflow = false;
    conn->header_kind = HEADER_OTHER;
    conn->content_type[0] = conn->accept[0] = '\0';
    conn->traceparent[0] = conn->tracestate[0] = '\0';
    conn->traceparent_bad = conn->tracestate_bad = false;
    conn->tracestate_headers = 0;
    conn->deadline_ms = 0;
    conn->infer_header_len = SIZE_MAX;
    conn->shm_announced = false;
    conn->shm_len = 0;
    conn->expect_continue = false;
    conn->in_head = true;
    conn->head_only = false;
    conn->head_started_ms = uv_now(conn->server->loop);
    conn->head_bytes = 0;
    conn->body.len = 0;
    return 0;
}

static int count_head(tfn__conn_t *conn, size_t len)
{
    conn->head_bytes += len;
    if (conn->head_bytes > TFN__MAX_HEADER_BYTES)
        return parse_fail(conn, TFN_EHEADTOOBIG, "request head exceeds 64 KiB");
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    tfn__conn_t *conn = conn_of(p);
    if (count_head(conn, len))
        return -1;
    if (conn->url_len + len >= sizeof conn->url)
        return parse_fail(conn, TFN_EURITOOLONG, "request URL exceeds 4 KiB");
    memcpy(conn->url + conn->url_len, at, len);
    conn->url_len += len;
    conn->url[conn->url_len] = '\0';
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    tfn__conn_t *conn = conn_of(p);
    if (count_head(conn, len))
        return -1;
    if (conn->header_kind != -1) { /* a new field begins after a value */
        conn->header_name_len = 0;
        conn->header_name_overflow = false;
        conn->header_kind = -1;
    }
    if (conn->header_name_len + len >= sizeof conn->header_name) {
        conn->header_name_overflow = true;
        return 0;
    }
    memcpy(conn->header_name + conn->header_name_len, at, len);
    conn->header_name_len += len;
    conn->header_name[conn->header_name_len] = '\0';
    return 0;
}

/* Appends to one of the fixed-size header value buffers; values that do not fit are an error
 * rather than silently truncated (a truncated media type could be misread). */
static int append_value(tfn__conn_t *conn, char *dst, size_t cap, const char *at, size_t len)
{
    size_t have = strlen(dst);
    if (have + len >= cap)
        return parse_fail(conn, TFN_EHEADTOOBIG, "a header value exceeds 1 KiB");
    memcpy(dst + have, at, len);
    dst[have + len] = '\0';
    return 0;
}

/* Trace Context headers are never an error: one that does not fit is marked bad and ignored
 * (a new trace is started), as the W3C spec says of malformed ones. */
static void trace_value(char *dst, size_t cap, bool *bad, const char *at, size_t len)
{
    size_t have = strlen(dst);
    if (*bad || have + len >= cap) {
        *bad = true;
        return;
    }
    memcpy(dst + have, at, len);
    dst[have + len] = '\0';
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    tfn__conn_t *conn = conn_of(p);
    if (count_head(conn, len))
        return -1;
    if (conn->header_kind == -1) {
        const char *name = conn->header_name;
        /* The length first: most names are then told apart without a strcasecmp. */
        size_t n = conn->header_name_overflow ? 0 : conn->header_name_len;
        conn->header_kind = HEADER_OTHER;
        if (n == 0)
            ;
        else if (n == 12 && strcasecmp(name, "content-type") == 0)
            conn->header_kind = HEADER_CONTENT_TYPE;
        else if (n == 6 && strcasecmp(name, "accept") == 0)
            conn->header_kind = HEADER_ACCEPT;
        else if (n == 6 && strcasecmp(name, "expect") == 0)
            conn->header_kind = HEADER_EXPECT;
        else if (n == sizeof TFN__DEADLINE_HEADER - 1 &&
                 strcasecmp(name, TFN__DEADLINE_HEADER) == 0)
            conn->header_kind = HEADER_DEADLINE;
        else if (n == 31 && strcasecmp(name, "inference-header-content-length") == 0)
            conn->header_kind = HEADER_INFER_LEN;
        else if (n == sizeof TFN__SHM_HEADER - 1 && strcasecmp(name, TFN__SHM_HEADER) == 0 &&
                 conn->io.handle.type == UV_NAMED_PIPE) {
            conn->header_kind = HEADER_SHM;
            conn->shm_announced = true;
        } else if (n == 11 && strcasecmp(name, "traceparent") == 0) {
            conn->header_kind = HEADER_TRACEPARENT;
            conn->traceparent_bad |= conn->traceparent[0] != '\0'; /* given twice: ignored */
        } else if (n == 10 && strcasecmp(name, "tracestate") == 0) {
            conn->header_kind = HEADER_TRACESTATE;
            if (conn->tracestate_headers++) /* several headers are one comma-separated list */
                trace_value(conn->tracestate, sizeof conn->tracestate, &conn->tracestate_bad, ",",
                            1);
        }
    }
    switch (conn->header_kind) {
    case HEADER_CONTENT_TYPE:
        return append_value(conn, conn->content_type, sizeof conn->content_type, at, len);
    case HEADER_ACCEPT: return append_value(conn, conn->accept, sizeof conn->accept, at, len);
    case HEADER_TRACEPARENT:
        trace_value(conn->traceparent, sizeof conn->traceparent, &conn->traceparent_bad, at, len);
        return 0;
    case HEADER_TRACESTATE:
        trace_value(conn->tracestate, sizeof conn->tracestate, &conn->tracestate_bad, at, len);
        return 0;
    case HEADER_EXPECT:
        if (len >= 12 && strncasecmp(at, "100-continue", 12) == 0)
            conn->expect_continue = true;
        return 0;
    case HEADER_DEADLINE: { /* digits, possibly split across calls; garbage is a 400 */
        uint64_t v = conn->deadline_ms;
        if (tfn__header_digits(at, len, UINT32_MAX, &v) < 0)
            return parse_fail(conn, TFN_EBADHTTP,
                              TFN__DEADLINE_HEADER " must be a number of milliseconds");
        conn->deadline_ms = (uint32_t)v;
        if (conn->deadline_ms == 0 && len) /* 0 ms left: the caller has given up already */
            conn->deadline_ms = 1;
        return 0;
    }
    case HEADER_SHM: { /* the size of the region sent with this request (0: none) */
        uint64_t v = conn->shm_len;
        if (tfn__header_digits(at, len, TFN__SHM_MAX_BYTES, &v) < 0)
            return parse_fail(conn, TFN_EBADHTTP,
                              TFN__SHM_HEADER " must be a number of bytes (at most 16 GiB)");
        conn->shm_len = (size_t)v;
        return 0;
    }
    case HEADER_INFER_LEN: { /* KServe v2: bytes of JSON before the binary tensors */
        uint64_t v = conn->infer_header_len == SIZE_MAX ? 0 : conn->infer_header_len;
        int digits = tfn__header_digits(at, len, SIZE_MAX / 2, &v);
        if (digits < 0)
            return parse_fail(conn, TFN_EBADHTTP,
                              "Inference-Header-Content-Length must be a number of bytes");
        if (digits > 0) /* blanks alone leave it absent (SIZE_MAX) or as it was */
            conn->infer_header_len = (size_t)v;
        return 0;
    }
    default: return 0;
    }
}

static int on_headers_complete(http_parser *p)
{
    tfn__conn_t *conn = conn_of(p);
    conn->in_head = false;
    conn->head_only = p->method == HTTP_HEAD;
    /* http-parser accepts any HTTP/d.d version; we speak 1.0 and 1.1 only. */
    if (p->http_major != 1 || p->http_minor > 1) {
        char msg[96];
        snprintf(msg, sizeof msg, "HTTP version %u.%u is not supported (1.0 and 1.1 are)",
                 p->http_major, p->http_minor);
        return parse_fail(conn, TFN_EBADHTTP, msg);
    }
    uint64_t max = conn->server->config.traffic.max_body_bytes;
    /* http-parser sets content_length to ULLONG_MAX when absent (chunked or no body). */
    if (p->content_length != ULLONG_MAX && p->content_length > max) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body of %llu bytes exceeds the limit of %llu bytes",
                 (unsigned long long)p->content_length, (unsigned long long)max);
        return parse_fail(conn, TFN_ETOOBIG, msg);
    }
    conn->body.max = max;
    /* Room for the whole body at once: no doubling reallocs (and copies) of a large upload. */
    if (p->content_length != ULLONG_MAX && p->content_length > 0) {
        if (tfn__buf_grow(&conn->body, (size_t)p->content_length) != 0)
            return parse_fail(conn, TFN_ENOMEM, "no memory for the request body");
        conn->in_body = true;
    }
    if (conn->expect_continue && p->content_length != 0) {
        tfn__buf_t cont;
        tfn__buf_init(&cont, 64);
        if (tfn__buf_puts(&cont, "HTTP/1.1 100 Continue\r\n\r\n") == 0)
            tfn__conn_write(conn, &cont, NULL);
        else
            tfn__buf_free(&cont);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    tfn__conn_t *conn = conn_of(p);
    if (conn->body.data && at == conn->body.data + conn->body.len) { /* read in place */
        conn->body.len += len;
        conn->body.data[conn->body.len] = '\0';
        return 0;
    }
    int rc = tfn__buf_append(&conn->body, at, len);
    if (rc == TFN_ETOOBIG) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body exceeds the limit of %llu bytes",
                 (unsigned long long)conn->body.max);
        return parse_fail(conn, TFN_ETOOBIG, msg);
    }
    if (rc != 0)
        return parse_fail(conn, TFN_ENOMEM, "out of memory reading the request body");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    tfn__conn_t *conn = conn_of(p);
    char *query = memchr(conn->url, '?', conn->url_len);
    if (query)
        *query = '\0';
    /* Pause first; dispatch may answer at once (clearing busy) or later. */
    http_parser_pause(p, 1);
    conn->busy = true;
    conn->receiving = conn->in_body = false;
    conn->requests++;
    if (conn->shm_announced) /* its region came with the head: installed before anything else */
        tfn__conn_shm_received(conn);
    tfn__server_t *server = conn->server;
    tfn__dispatch(conn, p->method, conn->url, &conn->body, http_should_keep_alive(p));
    if (server->quiescing) /* that was a fresh connection's request: the last one? */
        tfn__server_quiesce_check(server);
    return 0;
}

const http_parser_settings tfn__request_parser = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};
