/*
 * stream_call.c — a handler reading a dependency's stream: tfn_call_stream, tfn_stream_next.
 *
 * Over HTTP a stream has a connection of its own (not the pool's: it is busy for as long as the
 * stream lasts, and `Connection: close` ends it), asks for text/event-stream and parses the
 * events as the chunks arrive. In a test graph the dependency's request gets a stream sink
 * (server_internal.h) that appends the same events to the same buffer. tfn_stream_next takes
 * one event at a time from that buffer, suspending the handler while it is empty.
 *
 * Back-pressure: when more than TFN_STREAM_BUFFER_BYTES are waiting in the buffer, reading from
 * the socket stops (so TCP's window closes and the producer's tfn_stream_send waits) until the
 * handler has taken them; in-process, the producer sees the backlog through the sink.
 *
 * Lifetime: a stream is a heap object linked to its calling request. The request's
 * `request_returned` hook closes every stream still open (tfn__streams_cancel) and its
 * `request_free` hook releases them (tfn__streams_release); a stream is freed once released and
 * its libuv handles are closed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/codec_internal.h"
#include "compose/compose_internal.h"
#include "compose/stream_call_internal.h"

#define MAX_EVENT_BYTES   ((size_t)64 << 20) /* one event, and what the buffer may hold */
#define MAX_WHOLE_BYTES   ((size_t)1 << 30)  /* a non-streaming answer or an error body */
#define PIECE_ARENA_BYTES ((size_t)256 << 20)
#define READ_CHUNK        65536

struct tfn_stream {
    tfn__request_t *req; /* the caller; NULL once released */
    tfn_stream_t *next;  /* the caller's other streams */
    char dependency[TFN_ERROR_NAME_MAX], api[TFN_ERROR_NAME_MAX];
    tfn__request_t *local; /* test graph: the dependency's request */

    bool http;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } io;
    uv_timer_t timer; /* HTTP: the deadline; in-process: wakes the reader */
    uv_connect_t connect_req;
    uv_write_t write_req;
    tfn__buf_t out_head, out_body; /* the request, until written */
    http_parser parser;
    char header_name[16];
    size_t header_name_len;
    bool in_content_type;
    int status;
    char content_type[128];
    int open_handles;
    bool io_closed, timer_closed, paused, released, message_done;
    bool sse; /* the answer is text/event-stream */

    tfn__buf_t events; /* event-stream bytes not taken yet, from `consumed` on */
    size_t consumed;
    tfn__buf_t whole; /* a non-streaming 200 answer (one piece), or an error body */
    bool whole_ready;
    bool done; /* nothing more will come; rc says how it ended */
    int rc;
    tfn_error_t error;
    bool waiting; /* the handler is suspended in tfn_stream_next */
    tfn_arena_t *piece_arena;
};

static char read_chunk[READ_CHUNK];

/* ---------------------------------------------------------------------------------------------
 * Ending, waking, freeing
 * ------------------------------------------------------------------------------------------- */

static void maybe_free(tfn_stream_t *s)
{
    if (!s->released || s->open_handles > 0)
        return;
    tfn__buf_free(&s->out_head);
    tfn__buf_free(&s->out_body);
    tfn__buf_free(&s->events);
    tfn__buf_free(&s->whole);
    tfn_arena_free(s->piece_arena);
    free(s);
}

static void on_closed(uv_handle_t *handle)
{
    tfn_stream_t *s = handle->data;
    s->open_handles--;
    maybe_free(s);
}

static void close_io(tfn_stream_t *s)
{
    if (!s->http || s->io_closed)
        return;
    s->io_closed = true;
    uv_close(&s->io.handle, on_closed);
    uv_timer_stop(&s->timer);
}

/* Resumes the reader if it waits. From a loop callback only. */
static void wake_now(tfn_stream_t *s)
{
    if (s->waiting && s->req)
        tfn__request_resume(s->req);
}

static void on_wake(uv_timer_t *timer) { wake_now(timer->data); }

/* Resumes the reader on the next loop turn: for callers inside a coroutine (a producer). */
static void wake_soon(tfn_stream_t *s)
{
    if (s->waiting && !s->timer_closed)
        uv_timer_start(&s->timer, on_wake, 0, 0);
}

static void fail(tfn_stream_t *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(tfn_stream_t *s, int code, const char *fmt, ...)
{
    if (s->done)
        return;
    tfn_error_set(&s->error, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error.message, sizeof s->error.message, fmt, ap);
    va_end(ap);
    snprintf(s->error.service, sizeof s->error.service, "%s", s->dependency);
    snprintf(s->error.api, sizeof s->error.api, "%s", s->api);
    s->rc = code;
    s->done = true;
}

/* An error answer (status != 200) in s->whole becomes the stream's error. */
static void fail_with_answer(tfn_stream_t *s, int status)
{
    tfn__response_t resp = {.status = status, .body = s->whole};
    s->rc = tfn__response_error(&resp, s->dependency, s->api, &s->error);
    s->done = true;
}

/* ---------------------------------------------------------------------------------------------
 * In-process: the dependency's request hands its pieces to these
 * ------------------------------------------------------------------------------------------- */

static void local_piece(void *arg, const char *json, size_t len)
{
    tfn_stream_t *s = arg;
    if (tfn__buf_puts(&s->events, "data: ") || tfn__buf_append(&s->events, json, len) ||
        tfn__buf_puts(&s->events, "\n\n"))
        fail(s, TFN_ETOOBIG, "a piece larger than the stream's buffer");
    wake_soon(s);
}

static void local_end(void *arg, const tfn_error_t *err)
{
    tfn_stream_t *s = arg;
    s->local = NULL;
    if (err) {
        s->error = *err;
        s->rc = err->code;
    }
    s->done = true;
    wake_soon(s);
}

static size_t local_queued(void *arg)
{
    tfn_stream_t *s = arg;
    return s->events.len - s->consumed;
}

static const tfn__stream_sink_t local_sink = {local_piece, local_end, local_queued};

/* The ordinary answer of an in-process call: an error, or a non-streaming API's one answer. */
static void on_local_answer(void *arg, tfn__response_t *resp)
{
    tfn_stream_t *s = arg;
    s->local = NULL;
    s->whole = resp->body;
    tfn__buf_init(&resp->body, 0);
    if (resp->status == 200) {
        snprintf(s->content_type, sizeof s->content_type, "%s", resp->content_type);
        s->whole_ready = true;
        s->done = true;
    } else {
        fail_with_answer(s, resp->status);
    }
    wake_soon(s);
}

/* ---------------------------------------------------------------------------------------------
 * Over HTTP
 * ------------------------------------------------------------------------------------------- */

static tfn_stream_t *of(http_parser *p) { return p->data; }

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    tfn_stream_t *s = of(p);
    if (s->in_content_type || s->header_name_len == SIZE_MAX) {
        s->header_name_len = 0;
        s->in_content_type = false;
    }
    if (s->header_name_len + len < sizeof s->header_name) {
        memcpy(s->header_name + s->header_name_len, at, len);
        s->header_name_len += len;
        s->header_name[s->header_name_len] = '\0';
    } else {
        s->header_name[0] = '\0';
        s->header_name_len = sizeof s->header_name;
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    tfn_stream_t *s = of(p);
    if (!s->in_content_type) {
        bool is_ct = strcasecmp(s->header_name, "content-type") == 0;
        s->header_name_len = SIZE_MAX;
        if (!is_ct)
            return 0;
        s->in_content_type = true;
        s->content_type[0] = '\0';
    }
    size_t have = strlen(s->content_type), room = sizeof s->content_type - 1 - have;
    size_t n = len < room ? len : room;
    memcpy(s->content_type + have, at, n);
    s->content_type[have + n] = '\0';
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    tfn_stream_t *s = of(p);
    s->status = p->status_code;
    s->sse = s->status == 200 && strncasecmp(s->content_type, "text/event-stream", 17) == 0;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    tfn_stream_t *s = of(p);
    return tfn__buf_append(s->sse ? &s->events : &s->whole, at, len) ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
    tfn_stream_t *s = of(p);
    s->message_done = true;
    if (s->status != 200)
        fail_with_answer(s, s->status);
    else {
        s->whole_ready = !s->sse;
        s->done = true;
    }
    /* The answer is complete: bytes after it in the same read are not a second answer (found
     * by fuzz_stream_call). Non-zero stops the parser; done is set, so it is no error. */
    return 1;
}

static const http_parser_settings settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_chunk, sizeof read_chunk);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    tfn_stream_t *s = stream->data;
    if (nread == 0 || s->done)
        return;
    if (nread < 0) {
        if (nread == UV_EOF) /* an answer delimited by the end of the connection */
            http_parser_execute(&s->parser, &settings, NULL, 0);
        if (!s->message_done)
            fail(s, TFN_EIO, "the stream's connection %s before its end",
                 nread == UV_EOF ? "closed" : uv_strerror((int)nread));
    } else {
        http_parser_execute(&s->parser, &settings, buf->base, (size_t)nread);
        enum http_errno e = HTTP_PARSER_ERRNO(&s->parser);
        if (!s->done && e != HPE_OK)
            fail(s, e == HPE_CB_body ? TFN_ETOOBIG : TFN_EPROTO, "malformed stream: %s",
                 http_errno_description(e));
    }
    if (s->done)
        close_io(s);
    else if (s->events.len - s->consumed > TFN_STREAM_BUFFER_BYTES) {
        uv_read_stop(&s->io.stream); /* the handler is behind: let the producer wait */
        s->paused = true;
    }
    wake_now(s);
}

static void on_written(uv_write_t *req, int status)
{
    tfn_stream_t *s = req->data;
    tfn__buf_free(&s->out_head);
    tfn__buf_free(&s->out_body);
    if (status < 0 && !s->io_closed) {
        fail(s, TFN_EIO, "cannot send the call: %s", uv_strerror(status));
        close_io(s);
        wake_now(s);
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    tfn_stream_t *s = req->data;
    if (s->io_closed)
        return;
    int rc = status;
    if (rc == 0)
        rc = uv_read_start(&s->io.stream, on_alloc, on_read);
    if (rc == 0) {
        uv_buf_t b[2] = {uv_buf_init(s->out_head.data, (unsigned)s->out_head.len),
                         uv_buf_init(s->out_body.data, (unsigned)s->out_body.len)};
        s->write_req.data = s;
        rc = uv_write(&s->write_req, &s->io.stream, b, s->out_body.len ? 2 : 1, on_written);
    }
    if (rc != 0) {
        fail(s, TFN_ECONNECT, "cannot connect: %s", uv_strerror(rc));
        close_io(s);
        wake_now(s);
    }
}

static void on_deadline(uv_timer_t *timer)
{
    tfn_stream_t *s = timer->data;
    fail(s, TFN_ETIMEOUT, "the stream did not end within the deadline");
    close_io(s);
    wake_now(s);
}

/* Connects to the dependency and sends the call; failures fail the stream. */
static void start_http(tfn_stream_t *s, tfn__dep_t *dep, uint32_t timeout, const char *media)
{
    tfn__request_t *req = s->req;
    uv_loop_t *loop = req->server->loop;
    s->http = true;
    int rc = tfn__buf_printf(&s->out_head,
                             "POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
                             "Accept: text/event-stream\r\nContent-Length: %zu\r\n"
                             "Connection: close\r\n" TFN__DEADLINE_HEADER ": %u\r\n\r\n",
                             s->api, dep->host, media, s->out_body.len, timeout);
    if (rc != 0) {
        s->http = false;
        fail(s, rc, "cannot build the call");
        return;
    }
    http_parser_init(&s->parser, HTTP_RESPONSE);
    s->parser.data = s;
    s->connect_req.data = s;
    s->open_handles++;
    const tfn__target_t *t = &dep->target;
    if (t->unix_path) {
        uv_pipe_init(loop, &s->io.pipe, 0);
        s->io.handle.data = s;
        uv_pipe_connect(&s->connect_req, &s->io.pipe, t->unix_path, on_connected);
    } else {
        uv_tcp_init(loop, &s->io.tcp);
        s->io.handle.data = s;
        struct sockaddr_storage sa;
        const char *host = strcmp(t->host, "localhost") == 0 ? "127.0.0.1" : t->host;
        if (uv_ip4_addr(host, t->port, (struct sockaddr_in *)&sa) == 0 ||
            uv_ip6_addr(host, t->port, (struct sockaddr_in6 *)&sa) == 0)
            rc = uv_tcp_connect(&s->connect_req, &s->io.tcp, (struct sockaddr *)&sa, on_connected);
        else
            rc = UV_EAI_NONAME;
        if (rc != 0) {
            fail(s, TFN_ECONNECT,
                 "cannot connect to '%s': %s (streams need an IP address or a unix socket)",
                 t->host, uv_strerror(rc));
            close_io(s);
            return;
        }
    }
    uv_timer_start(&s->timer, on_deadline, timeout, 0);
}

/* ---------------------------------------------------------------------------------------------
 * The handler's view
 * ------------------------------------------------------------------------------------------- */

tfn_stream_t *tfn_call_stream(tfn_ctx_t *ctx, const char *dependency, const char *api,
                              const tfn_value_t *input, const tfn_call_options_t *options)
{
    tfn__request_t *req = ctx->request;
    tfn_stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->req = req;
    s->next = req->streams;
    req->streams = s;
    snprintf(s->dependency, sizeof s->dependency, "%s", dependency ? dependency : "(null)");
    snprintf(s->api, sizeof s->api, "%s", api ? api : "(null)");
    tfn__buf_init(&s->out_head, 4096);
    tfn__buf_init(&s->out_body, (size_t)1 << 30);
    tfn__buf_init(&s->events, MAX_EVENT_BYTES);
    tfn__buf_init(&s->whole, MAX_WHOLE_BYTES);
    uv_timer_init(req->server->loop, &s->timer);
    s->timer.data = s;
    s->open_handles = 1;

    tfn__dep_t *dep = dependency ? tfn__deps_find(req->server, dependency) : NULL;
    int64_t left = tfn_ctx_remaining_ms(ctx);
    uint32_t timeout = left > 0 ? (uint32_t)left : 0;
    if (options && options->timeout_ms && options->timeout_ms < timeout)
        timeout = options->timeout_ms;
    if (!dep) {
        fail(s, TFN_ENOTFOUND, "service '%s' has no dependency '%s' (declare it in `depends`)",
             req->server->service->name, s->dependency);
        return s;
    }
    if (!api || !api[0] ||
        strspn(api, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_-") != strlen(api)) {
        fail(s, TFN_EINVAL, "'%s' is not an API name", s->api);
        return s;
    }
    if (!tfn__coro_current()) {
        fail(s, TFN_EINVAL, "streams are read from handlers that run on the loop");
        return s;
    }
    if (timeout == 0) {
        fail(s, TFN_ETIMEOUT, "the request's deadline passed before calling '%s'", s->api);
        return s;
    }
    bool json = dep->json && !dep->local;
    int rc = json ? tfn__json_encode(input, &s->out_body) : tfn__wire_encode(input, &s->out_body);
    if (rc != 0) {
        fail(s, rc, "cannot encode the input of '%s': %s", s->api, tfn_strerror(rc));
        return s;
    }
    if (dep->local) {
        tfn__dispatch_local(dep->local, s->api, &s->out_body, timeout, on_local_answer, s,
                            &s->local);
        if (s->local) {
            s->local->stream_sink = &local_sink;
            s->local->stream_arg = s;
        }
        return s;
    }
    start_http(s, dep, timeout, json ? TFN__MEDIA_JSON : TFN__MEDIA_WIRE);
    return s;
}

/* Decodes one event's data (JSON) into a fresh piece arena. */
static int decode_piece(tfn_stream_t *s, const char *data, size_t len, bool error_event,
                        tfn_value_t **piece)
{
    tfn_arena_free(s->piece_arena);
    s->piece_arena = tfn_arena_new(PIECE_ARENA_BYTES);
    if (!s->piece_arena) {
        fail(s, TFN_ENOMEM, "out of memory");
        return s->rc;
    }
    if (error_event) { /* a tiffin error body: its own code, status, service and API */
        tfn_value_t *v = NULL;
        tfn_error_t ignored;
        int status = 500;
        if (tfn__json_decode(s->piece_arena, data, len, &v, &ignored) == 0 &&
            tfn_typeof(tfn_object_get(v, "status")) == TFN_TYPE_INT)
            status = (int)tfn_as_int(tfn_object_get(v, "status"));
        tfn__buf_t body;
        tfn__buf_init(&body, len + 1);
        tfn__buf_append(&body, data, len);
        tfn__response_t resp = {.status = status, .body = body};
        s->rc = tfn__response_error(&resp, s->dependency, s->api, &s->error);
        s->done = true;
        tfn__buf_free(&body);
        return s->rc;
    }
    tfn_error_t err;
    if (tfn__json_decode(s->piece_arena, data, len, piece, &err) != 0) {
        /* Even when the answer has ended well (the bad piece came with its end, in one read):
         * a stream with an unreadable piece did not end well (found by fuzz_stream_call). */
        if (s->rc == 0)
            s->done = false;
        fail(s, TFN_EPROTO, "unreadable piece: %s", err.message);
        return s->rc;
    }
    return 1;
}

/* Takes the next complete event out of the buffer: 1 (a piece, or an error event), 0 none yet. */
static int next_event(tfn_stream_t *s, tfn_value_t **piece)
{
    for (;;) {
        char *start = s->events.data ? s->events.data + s->consumed : NULL;
        size_t avail = s->events.len - s->consumed;
        char *endp = avail ? memmem(start, avail, "\n\n", 2) : NULL;
        if (!endp)
            return 0;
        size_t event_len = (size_t)(endp - start);
        s->consumed += event_len + 2;
        /* Fields of the event (only `event:` and `data:` matter; comments are skipped). */
        bool error_event = false;
        char *data = NULL;
        size_t data_len = 0;
        for (char *line = start; line < endp;) {
            char *eol = memchr(line, '\n', (size_t)(endp - line));
            if (!eol)
                eol = endp;
            size_t n = (size_t)(eol - line);
            if (n && line[n - 1] == '\r')
                n--;
            if (n >= 5 && memcmp(line, "data:", 5) == 0) {
                char *d = line + 5 + (n > 5 && line[5] == ' ');
                size_t dn = n - (size_t)(d - line);
                if (data) { /* several data lines join with newlines */
                    memmove(data + data_len + 1, d, dn);
                    data[data_len] = '\n';
                    data_len += dn + 1;
                } else {
                    data = d;
                    data_len = dn;
                }
            } else if (n >= 6 && memcmp(line, "event:", 6) == 0) {
                const char *e = line + 6 + (n > 6 && line[6] == ' ');
                error_event = (size_t)(line + n - e) == 5 && memcmp(e, "error", 5) == 0;
            }
            line = eol + 1;
        }
        if (!data)
            continue;
        int rc = decode_piece(s, data, data_len, error_event, piece);
        return rc == 1 ? 1 : rc;
    }
}

/* Keeps the buffer small, and reads again once the handler has caught up. */
static void after_take(tfn_stream_t *s)
{
    if (s->consumed == s->events.len) {
        s->events.len = s->consumed = 0;
    } else if (s->consumed > s->events.len / 2) {
        memmove(s->events.data, s->events.data + s->consumed, s->events.len - s->consumed);
        s->events.len -= s->consumed;
        s->consumed = 0;
    }
    if (s->paused && !s->io_closed && s->events.len - s->consumed <= TFN_STREAM_BUFFER_BYTES / 2) {
        s->paused = false;
        if (uv_read_start(&s->io.stream, on_alloc, on_read) != 0) {
            fail(s, TFN_EIO, "cannot read the stream");
            close_io(s);
        }
    }
}

int tfn_stream_next(tfn_stream_t *s, tfn_value_t **piece, tfn_error_t *err)
{
    if (piece)
        *piece = NULL;
    if (!s)
        return tfn_error_set(err, TFN_ENOMEM, "out of memory: no stream");
    tfn_value_t *dummy;
    piece = piece ? piece : &dummy;
    for (;;) {
        if (s->whole_ready) { /* a non-streaming answer: one piece */
            s->whole_ready = false;
            tfn_arena_free(s->piece_arena);
            s->piece_arena = tfn_arena_new(PIECE_ARENA_BYTES);
            int rc = s->piece_arena
                         ? tfn__response_decode(s->content_type, s->whole.data, s->whole.len,
                                                s->piece_arena, piece, &s->error)
                         : TFN_ENOMEM;
            if (rc == 0)
                return 1;
            fail(s, rc, "%s", s->error.message);
            break;
        }
        int rc = next_event(s, piece);
        after_take(s);
        if (rc == 1)
            return 1;
        if (rc < 0 || s->done)
            break;
        if (!s->req || !tfn__coro_current()) {
            fail(s, TFN_EINVAL, "streams are read from handlers that run on the loop");
            break;
        }
        s->waiting = true;
        tfn__coro_yield(); /* resumed by on_read, on_wake or on_deadline */
        s->waiting = false;
    }
    if (s->rc != 0 && err)
        *err = s->error;
    return s->rc;
}

/* Stops the stream without calling back: its producer sees its client gone. */
static void cancel(tfn_stream_t *s, const char *why)
{
    if (s->local) {
        s->local->stream_sink = NULL;
        tfn__request_abandon(s->local);
        s->local = NULL;
    }
    close_io(s);
    s->events.len = s->consumed = 0; /* what was not read is dropped */
    s->whole_ready = false;
    s->done = false; /* however it ended, it reads as closed now */
    fail(s, TFN_EINVAL, "%s", why);
}

void tfn_stream_close(tfn_stream_t *s)
{
    if (s)
        cancel(s, "the stream was closed (tfn_stream_close)");
}

void tfn__streams_cancel(tfn__request_t *req)
{
    for (tfn_stream_t *s = req->streams; s; s = s->next)
        cancel(s, "abandoned: the handler returned");
}

void tfn__streams_release(tfn__request_t *req)
{
    tfn_stream_t *next;
    for (tfn_stream_t *s = req->streams; s; s = next) {
        next = s->next;
        s->req = NULL;
        s->released = true;
        if (!s->timer_closed) {
            s->timer_closed = true;
            uv_close((uv_handle_t *)&s->timer, on_closed);
        }
        maybe_free(s);
    }
    req->streams = NULL;
}

/* ---------------------------------------------------------------------------------------------
 * For fuzz/fuzz_stream_call.c: the parsing above over bytes a dependency sent
 * ------------------------------------------------------------------------------------------- */

int tfn__stream_parse_bytes(const char *data, size_t len, size_t split, size_t *pieces)
{
    tfn_stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return TFN_ENOMEM;
    snprintf(s->dependency, sizeof s->dependency, "Fuzz");
    snprintf(s->api, sizeof s->api, "stream");
    tfn__buf_init(&s->events, MAX_EVENT_BYTES);
    tfn__buf_init(&s->whole, MAX_WHOLE_BYTES);
    http_parser_init(&s->parser, HTTP_RESPONSE);
    s->parser.data = s;
    *pieces = 0;
    split = len ? split % (len + 1) : 0;
    /* As on_read does, in two reads (the split lands anywhere: inside a header, an event...),
     * each followed by what tfn_stream_next takes, then the end of the connection. */
    for (int part = 0; part < 3 && !s->done; part++) {
        if (part < 2) {
            size_t from = part ? split : 0, to = part ? len : split;
            if (to == from) /* no bytes: that would tell the parser the connection ended */
                continue;
            http_parser_execute(&s->parser, &settings, data + from, to - from);
            enum http_errno e = HTTP_PARSER_ERRNO(&s->parser);
            if (!s->done && e != HPE_OK)
                fail(s, e == HPE_CB_body ? TFN_ETOOBIG : TFN_EPROTO, "malformed stream: %s",
                     http_errno_description(e));
        } else {
            http_parser_execute(&s->parser, &settings, NULL, 0);
            if (!s->message_done)
                fail(s, TFN_EIO, "the stream's connection closed before its end");
        }
        tfn_value_t *piece; /* events already received are taken even after an error */
        while (s->sse && next_event(s, &piece) == 1)
            ++*pieces;
        if (s->consumed == s->events.len)
            s->events.len = s->consumed = 0;
    }
    int rc = s->rc;
    s->released = true;
    maybe_free(s);
    return rc;
}
