/*
 * stream.c — a streaming API's answer sent in pieces: tfn_stream_send, and the end of a stream
 * when the handler returns or its deadline passes.
 *
 * To a connection: the first piece sends the head (Transfer-Encoding: chunked; or, to an
 * HTTP/1.0 client, no framing and the connection closes at the end), then each piece is one
 * chunk: a server-sent event (`data: JSON`), a JSON line, or raw text (see tiffin/stream.h).
 * To a caller in this process (test graphs): each piece goes to the request's stream sink.
 *
 * Back-pressure: after each piece, while more than TFN_STREAM_BUFFER_BYTES are waiting for the
 * socket (libuv's write queue) or for the in-process reader, the handler naps on a timer and
 * looks again: a slow client holds the producer, and the memory of a stream is bounded by that
 * buffer (plus the kernel's socket buffer). Polling every 2 ms costs nothing while the buffer has
 * room, and at most 2 ms of latency once it had none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/codec_internal.h"
#include "server/server_internal.h"

int tfn__error_json(const tfn_error_t *err, tfn__buf_t *out);

#define NAP_MS 2
/* Largest piece once encoded. */
#define MAX_PIECE_BYTES ((size_t)64 << 20)

enum stream_mode { MODE_SSE, MODE_NDJSON, MODE_TEXT, MODE_LOCAL };

struct tfn__stream_out {
    enum stream_mode mode;
    bool chunked; /* HTTP/1.1: chunked framing; HTTP/1.0: none, close at the end */
    bool ended;
    int rc; /* why it ended early (TFN_ETIMEOUT, TFN_EIO), 0 otherwise */
};

/* ---------------------------------------------------------------------------------------------
 * Writing pieces
 * ------------------------------------------------------------------------------------------- */

/* Writes `data` as one chunk (or bare, without chunked framing). `data` is moved. */
static void write_chunk(tfn__conn_t *conn, struct tfn__stream_out *s, tfn__buf_t *data)
{
    tfn__buf_t head;
    tfn__buf_init(&head, 32);
    if (s->chunked) {
        if (tfn__buf_printf(&head, "%zx\r\n", data->len) != 0 || tfn__buf_puts(data, "\r\n") != 0) {
            tfn__buf_free(&head);
            tfn__buf_free(data);
            tfn__conn_abort(conn);
            return;
        }
    }
    tfn__conn_write(conn, &head, data);
}

/* Does an Accept header list text/event-stream? */
static bool accepts_sse(const char *accept)
{
    for (const char *p = accept; (p = strcasestr(p, "text/event-stream")); p++)
        if (p == accept || p[-1] == ' ' || p[-1] == ',')
            return true;
    return false;
}

/* Begins the stream of `req`: picks the format and sends the head. */
static int begin(tfn__request_t *req)
{
    struct tfn__stream_out *s = tfn_arena_calloc(req->arena, sizeof *s);
    if (!s)
        return TFN_ENOMEM;
    req->stream = s;
    tfn__conn_t *conn = req->conn;
    if (!conn) {
        s->mode = MODE_LOCAL;
        return 0;
    }
    s->mode = accepts_sse(conn->accept)             ? MODE_SSE
              : req->api->output == TFN_TYPE_STRING ? MODE_TEXT
                                                    : MODE_NDJSON;
    s->chunked = conn->parser.http_minor >= 1;
    if (!s->chunked)
        req->keep_alive = false;
    static const char *const types[] = {"text/event-stream", "application/x-ndjson",
                                        "text/plain; charset=utf-8"};
    tfn__buf_t head;
    tfn__buf_init(&head, 1024);
    int rc = tfn__buf_printf(&head,
                             "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
                             "X-Accel-Buffering: no\r\n%s%s\r\n",
                             types[s->mode], s->chunked ? "Transfer-Encoding: chunked\r\n" : "",
                             req->keep_alive ? "" : "Connection: close\r\n");
    if (rc != 0) {
        tfn__buf_free(&head);
        return rc;
    }
    tfn__conn_write(conn, &head, NULL);
    return 0;
}

/* The piece as the stream's format frames it, appended to `out`. */
static int frame_piece(enum stream_mode mode, const tfn_value_t *piece, tfn__buf_t *out)
{
    if (mode == MODE_TEXT && tfn_typeof(piece) == TFN_TYPE_STRING) {
        size_t len;
        const char *text = tfn_as_string(piece, &len);
        return tfn__buf_append(out, text, len);
    }
    int rc = mode == MODE_SSE ? tfn__buf_puts(out, "data: ") : 0;
    if (rc == 0)
        rc = tfn__json_encode(piece, out); /* one line: the writer escapes control characters */
    if (rc == 0 && mode != MODE_LOCAL)
        rc = tfn__buf_puts(out, mode == MODE_SSE ? "\n\n" : "\n");
    return rc;
}

typedef struct nap {
    uv_timer_t timer;
    tfn__request_t *req;
} nap_t;

static void on_nap_closed(uv_handle_t *handle) { free(handle->data); }

static void on_nap_over(uv_timer_t *timer)
{
    nap_t *nap = timer->data;
    tfn__request_t *req = nap->req;
    uv_close((uv_handle_t *)timer, on_nap_closed);
    tfn__request_resume(req);
}

/* Suspends the handler for NAP_MS (the worker goes on). */
static int nap(tfn__request_t *req)
{
    nap_t *n = malloc(sizeof *n); /* heap: the timer's close outlives this frame */
    if (!n)
        return TFN_ENOMEM;
    n->req = req;
    uv_timer_init(req->server->loop, &n->timer);
    n->timer.data = n;
    uv_timer_start(&n->timer, on_nap_over, NAP_MS, 0);
    tfn__coro_yield();
    return 0;
}

/* Bytes of this stream not taken by its reader yet. */
static size_t backlog(const tfn__request_t *req)
{
    if (req->conn)
        return tfn__conn_unsent(req->conn);
    if (req->stream_sink)
        return req->stream_sink->queued(req->stream_arg);
    return 0;
}

/* Why the stream cannot take a piece (0: it can). */
static int gone(tfn__request_t *req)
{
    struct tfn__stream_out *s = req->stream;
    if (s && s->rc)
        return tfn_ctx_fail(&req->ctx, s->rc, "the stream has ended: %s", tfn_strerror(s->rc));
    if (!req->conn && !req->stream_sink)
        return tfn_ctx_fail(&req->ctx, TFN_EIO, "the client of the stream went away");
    return 0;
}

int tfn_stream_send(tfn_ctx_t *ctx, const tfn_value_t *piece)
{
    tfn__request_t *req = ctx->request;
    if (!req->api->stream)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "API '%s' is not declared `.stream = true`",
                            req->api->name);
    if (!tfn__coro_current())
        return tfn_ctx_fail(ctx, TFN_EINVAL,
                            "API '%s' streams from a thread: streaming needs TFN_RUN_ON_LOOP",
                            req->api->name);
    tfn_error_t verr;
    if (tfn__validate_output(req->api->output, piece, &verr) != 0)
        return tfn_ctx_fail(ctx, TFN_EOUTPUT, "a piece of API '%s': %s", req->api->name,
                            verr.message);
    int rc = gone(req);
    if (rc != 0)
        return rc;
    if (!req->stream && (rc = begin(req)) != 0)
        return tfn_ctx_fail(ctx, rc, "cannot begin the stream: %s", tfn_strerror(rc));
    struct tfn__stream_out *s = req->stream;
    tfn__buf_t data;
    tfn__buf_init(&data, MAX_PIECE_BYTES);
    rc = frame_piece(s->mode, piece, &data);
    if (rc != 0) {
        tfn__buf_free(&data);
        return tfn_ctx_fail(ctx, rc, "cannot encode a piece: %s", tfn_strerror(rc));
    }
    if (req->conn) {
        write_chunk(req->conn, s, &data); /* may close the connection (client gone) */
    } else {
        req->stream_sink->piece(req->stream_arg, data.data ? data.data : "", data.len);
        tfn__buf_free(&data);
    }
    while ((rc = gone(req)) == 0 && backlog(req) > TFN_STREAM_BUFFER_BYTES)
        if (nap(req) != 0)
            return tfn_ctx_fail(ctx, TFN_ENOMEM, "out of memory");
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Ending
 * ------------------------------------------------------------------------------------------- */

/* Ends the stream: well (err NULL) or with an error event. Afterwards nobody awaits an answer. */
static void end(tfn__request_t *req, const tfn_error_t *err)
{
    struct tfn__stream_out *s = req->stream;
    s->ended = true;
    req->responded = true;
    if (!req->conn) {
        const tfn__stream_sink_t *sink = req->stream_sink;
        void *arg = req->stream_arg;
        req->stream_sink = NULL;
        req->sink = NULL;
        if (sink)
            sink->end(arg, err);
        return;
    }
    tfn__conn_t *conn = req->conn;
    req->conn = NULL;
    bool keep_alive = req->keep_alive;
    if (err && s->mode != MODE_TEXT) {
        tfn__buf_t data;
        tfn__buf_init(&data, 8192);
        int rc = tfn__buf_puts(&data, s->mode == MODE_SSE ? "event: error\ndata: " : "");
        if (rc == 0)
            rc = tfn__error_json(err, &data);
        if (rc == 0)
            rc = tfn__buf_puts(&data, s->mode == MODE_SSE ? "\n\n" : "\n");
        if (rc == 0)
            write_chunk(conn, s, &data);
        else
            tfn__buf_free(&data);
    }
    /* JSON lines and text cannot tell an error from a piece: their stream ends unterminated,
     * which every HTTP client reports as a truncated answer. */
    if (err && s->mode != MODE_SSE)
        keep_alive = false;
    else if (s->chunked) {
        tfn__buf_t last;
        tfn__buf_init(&last, 8);
        if (tfn__buf_puts(&last, "0\r\n\r\n") == 0)
            tfn__conn_write(conn, &last, NULL);
        else
            tfn__buf_free(&last);
    }
    conn->active = NULL;
    tfn__conn_finish(conn, keep_alive);
}

/* Fills the request's error as dispatch's answer would, naming this service and API. */
static tfn_error_t *request_error(tfn__request_t *req, int rc)
{
    tfn_error_t *err = &req->error;
    if (err->code != rc || !err->message[0])
        tfn_error_set(err, rc < 0 ? rc : TFN_EHANDLER, "API '%s' failed: %s", req->api->name,
                      tfn_strerror(rc));
    if (!err->service[0])
        snprintf(err->service, sizeof err->service, "%s", req->server->service->name);
    if (!err->api[0])
        snprintf(err->api, sizeof err->api, "%s", req->api->name);
    if (!err->http_status)
        err->http_status = tfn_http_status(err->code);
    return err;
}

bool tfn__stream_answer(tfn__request_t *req)
{
    struct tfn__stream_out *s = req->stream;
    if (s && s->ended)
        return true;
    if (!s && req->rc != 0)
        return false; /* failed before the first piece: an ordinary error answer */
    if (!s && tfn__now_ms() > req->deadline_ms)
        return false; /* late before the first piece: an ordinary 504 */
    if (!req->conn && !req->stream_sink)
        return true; /* nobody to answer */
    if (!s && begin(req) != 0)
        return false; /* out of memory: the ordinary path answers */
    int rc = req->rc;
    if (rc == 0 && tfn__now_ms() > req->deadline_ms)
        rc = tfn_error_set(&req->error, TFN_ETIMEOUT, "API '%s' did not finish within %u ms",
                           req->api->name, req->timeout_ms);
    end(req, rc ? request_error(req, rc) : NULL);
    return true;
}

bool tfn__stream_deadline(tfn__request_t *req)
{
    struct tfn__stream_out *s = req->stream;
    if (!s || s->ended)
        return s != NULL;
    s->rc = TFN_ETIMEOUT;
    tfn_error_t err;
    tfn_error_set(&err, TFN_ETIMEOUT, "API '%s' did not finish within %u ms", req->api->name,
                  req->timeout_ms);
    snprintf(err.service, sizeof err.service, "%s", req->server->service->name);
    snprintf(err.api, sizeof err.api, "%s", req->api->name);
    end(req, &err);
    return true;
}
