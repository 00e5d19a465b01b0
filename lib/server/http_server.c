/*
 * http_server.c — listeners and HTTP/1.1 connections on libuv, parsed by http-parser.
 *
 * A connection reads bytes into `in` and feeds them to the parser. When a request is complete the
 * parser is paused and reading stops until the request has been answered: responses therefore
 * leave in request order (pipelining) and a client cannot make us buffer without bound.
 * tfn__conn_respond unpauses, and the bytes already received are parsed before reading resumes.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "codec/codec_internal.h"
#include "server/server_internal.h"

#define READ_CHUNK 65536

static void conn_process(tfn__conn_t *conn);
static void conn_close(tfn__conn_t *conn);
static void conn_close_gracefully(tfn__conn_t *conn);
static void conn_finish_after_eof(tfn__conn_t *conn);
static void conn_set_reading(tfn__conn_t *conn, bool on);
static void conn_arm_read_timer(tfn__conn_t *conn);

/* How long a closing connection waits for the client to finish sending (nginx's lingering
 * close): closing a socket with unread input sends a RST, which can destroy the error response
 * the client has not read yet — a 413 for an upload still in progress, say. */
#define LINGER_MS 2000

/* ---------------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------------- */

typedef struct write_req {
    uv_write_t req;
    tfn__buf_t head, body;
} write_req_t;

static void on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    (void)status; /* a failed write means the peer is gone; the read side notices and closes */
    tfn__buf_free(&w->head);
    tfn__buf_free(&w->body);
    free(w);
}

/* Takes ownership of `head` and of `body` (may be NULL), sent one after the other with one
 * writev: a large body is never copied behind its head. Tries a synchronous write first (the
 * common case on loopback), and queues only what the socket did not take. */
static void conn_write(tfn__conn_t *conn, tfn__buf_t *head, tfn__buf_t *body)
{
    tfn__buf_t none;
    tfn__buf_init(&none, 0);
    if (!body)
        body = &none;
    if (conn->closing) {
        tfn__buf_free(head);
        tfn__buf_free(body);
        return;
    }
    uv_buf_t b[2] = {uv_buf_init(head->data, (unsigned)head->len),
                     uv_buf_init(body->data, (unsigned)body->len)};
    size_t total = head->len + body->len;
    unsigned nb = body->len ? 2 : 1;
    int n;
    if (conn->send_own) { /* a new shared-memory region goes with this answer's head */
        conn->send_own = false;
        n = tfn__try_write_with_fd(&conn->io.stream, b, nb, conn->shm.own->fd);
    } else
        n = uv_try_write(&conn->io.stream, b, nb);
    if (n >= 0 && (size_t)n == total) {
        tfn__buf_free(head);
        tfn__buf_free(body);
        return;
    }
    write_req_t *w = n < 0 && n != UV_EAGAIN ? NULL : malloc(sizeof *w);
    if (!w) {
        tfn__buf_free(head);
        tfn__buf_free(body);
        conn_close(conn);
        return;
    }
    w->head = *head;
    w->body = *body;
    tfn__buf_init(head, 0);
    tfn__buf_init(body, 0);
    size_t done = n > 0 ? (size_t)n : 0, body_done = done > w->head.len ? done - w->head.len : 0;
    uv_buf_t rest[2];
    unsigned nrest = 0;
    if (done < w->head.len)
        rest[nrest++] = uv_buf_init(w->head.data + done, (unsigned)(w->head.len - done));
    if (w->body.len > body_done)
        rest[nrest++] = uv_buf_init(w->body.data + body_done, (unsigned)(w->body.len - body_done));
    if (uv_write(&w->req, &conn->io.stream, rest, nrest, on_write) != 0) {
        tfn__buf_free(&w->head);
        tfn__buf_free(&w->body);
        free(w);
        conn_close(conn);
    }
}

void tfn__conn_write(tfn__conn_t *conn, tfn__buf_t *head, tfn__buf_t *body)
{
    conn_write(conn, head, body);
}

size_t tfn__conn_unsent(const tfn__conn_t *conn)
{
    return conn->closing ? 0 : uv_stream_get_write_queue_size(&conn->io.stream);
}

void tfn__conn_abort(tfn__conn_t *conn) { conn_close(conn); }

void tfn__conn_finish(tfn__conn_t *conn, bool keep_alive)
{
    if (conn->server->draining || conn->server->quiescing)
        keep_alive = false;
    conn->server->served++;
    conn->busy = false;
    conn->active = NULL;
    if (conn->closing)
        return;
    if (!keep_alive) {
        conn_close_gracefully(conn);
        return;
    }
    if (!conn->in_parser) {
        http_parser_pause(&conn->parser, 0);
        conn_process(conn);
    }
}

void tfn__conn_respond_buf(tfn__conn_t *conn, int status, const char *content_type,
                           tfn__buf_t *body, bool keep_alive, const char *extra_headers)
{
    tfn__server_t *server = conn->server;
    if (server->draining || server->quiescing || conn->shm_close)
        keep_alive = false; /* let clients move to another worker while we drain */
    /* HTTP/1.1 keeps connections open unless told otherwise; HTTP/1.0 closes them unless told
     * to keep them (a 1.0 client that asked for keep-alive, ab -k, waits for the close). */
    const char *connection = !keep_alive                    ? "Connection: close\r\n"
                             : conn->parser.http_minor == 0 ? "Connection: keep-alive\r\n"
                                                            : "";
    tfn__buf_t head;
    size_t extra_len = extra_headers ? strlen(extra_headers) : 0;
    tfn__buf_init(&head, 1024 + extra_len);
    /* The extra headers (traceparent, Server-Timing) are appended, not formatted: through
     * printf they made the head outgrow its stack buffer and be formatted twice. Room for them
     * at once (a failure shows below): no realloc when they come. */
    (void)tfn__buf_grow(&head, 255 + extra_len);
    int rc =
        tfn__buf_printf(&head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s",
                        status, tfn__http_status_text(status), content_type, body->len, connection);
    if (rc == 0 && extra_len)
        rc = tfn__buf_append(&head, extra_headers, extra_len);
    if (rc == 0)
        rc = tfn__buf_append(&head, "\r\n", 2);
    if (conn->head_only) /* HEAD: the headers GET would send, Content-Length included */
        body->len = 0;
    server->served++;
    conn->busy = false;
    conn->active = NULL;
    if (rc != 0) {
        tfn__buf_free(&head);
        tfn__buf_free(body);
        conn_close(conn);
        return;
    }
    conn_write(conn, &head, body);
    if (!keep_alive) {
        conn_close_gracefully(conn);
        return;
    }
    /* Inside a parser callback the loop in conn_process carries on by itself. */
    if (!conn->in_parser) {
        http_parser_pause(&conn->parser, 0);
        conn_process(conn);
    }
}

void tfn__conn_respond(tfn__conn_t *conn, int status, const char *content_type, const char *body,
                       size_t body_len, bool keep_alive, const char *extra_headers)
{
    tfn__buf_t copy;
    tfn__buf_init(&copy, body_len);
    if (body_len && tfn__buf_append(&copy, body, body_len) != 0) {
        tfn__buf_free(&copy);
        conn_close(conn);
        return;
    }
    tfn__conn_respond_buf(conn, status, content_type, &copy, keep_alive, extra_headers);
}

void tfn__conn_respond_error(tfn__conn_t *conn, const tfn_error_t *err, bool keep_alive,
                             const char *extra_headers)
{
    tfn__buf_t body;
    tfn__buf_init(&body, 4096);
    if (tfn__error_json(err, &body) != 0) {
        tfn__buf_free(&body);
        conn_close(conn);
        return;
    }
    int status = err->http_status ? err->http_status : tfn_http_status(err->code);
    tfn__conn_respond_buf(conn, status, TFN__MEDIA_JSON, &body, keep_alive, extra_headers);
}

/* ---------------------------------------------------------------------------------------------
 * Parsing (the callbacks: http_request.c)
 * ------------------------------------------------------------------------------------------- */

/* Does a request line begin with a method token (RFC 9110: letters here) and a space? Then a
 * method the parser does not know is 501, not a malformed request (400). */
static bool looks_like_method(const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && i < 32 && ((data[i] >= 'A' && data[i] <= 'Z') || data[i] == '-'))
        i++;
    return i > 0 && i < len && data[i] == ' ';
}

/* Runs the parser over `len` bytes at `data`. Returns how many it consumed, or SIZE_MAX when
 * it stopped: the connection is closing, or the bytes were not HTTP (answered with a 4xx). */
static size_t conn_parse(tfn__conn_t *conn, const char *data, size_t len)
{
    conn->in_parser = true;
    size_t n = http_parser_execute(&conn->parser, &tfn__request_parser, data, len);
    conn->in_parser = false;
    if (conn->closing || conn->lingering)
        return SIZE_MAX;
    enum http_errno e = HTTP_PARSER_ERRNO(&conn->parser);
    if (e != HPE_OK && e != HPE_PAUSED) {
        tfn_error_t err;
        if (conn->parse_error)
            tfn_error_set(&err, conn->parse_error, "%s", conn->parse_message);
        else if (e == HPE_INVALID_METHOD && looks_like_method(data, len))
            tfn_error_set(&err, TFN_ENOTIMPL, "the request method is not one this server knows");
        else if (e == HPE_HEADER_OVERFLOW)
            tfn_error_set(&err, TFN_EHEADTOOBIG, "request head exceeds 80 KiB");
        else
            tfn_error_set(&err, TFN_EBADHTTP, "malformed HTTP request: %s",
                          http_errno_description(e));
        conn->in.len = 0;
        conn->busy = true;
        tfn__conn_respond_error(conn, &err, false, NULL);
        return SIZE_MAX;
    }
    return n;
}

/* Parses what has been received until a request is waiting for its handler, the buffer is
 * empty, or the bytes are not HTTP. Never called from inside a parser callback. */
static void conn_process(tfn__conn_t *conn)
{
    while (!conn->closing && !conn->lingering && !conn->busy && conn->in.len > 0) {
        size_t n = conn_parse(conn, conn->in.data, conn->in.len);
        if (n == SIZE_MAX)
            return;
        enum http_errno e = HTTP_PARSER_ERRNO(&conn->parser);
        /* Paused at the end of a request: keep the bytes that follow (pipelining). */
        tfn__buf_consume(&conn->in, n);
        if (e == HPE_PAUSED && !conn->busy) /* answered already: go on with the next */
            http_parser_pause(&conn->parser, 0);
    }
    if (conn->closing || conn->lingering)
        return;
    if (conn->peer_eof && !conn->busy) { /* half-closed: every request it sent is answered */
        conn_finish_after_eof(conn);
        return;
    }
    /* While a handler has the request the connection still reads, so that a client that goes
     * away is noticed at once and its request cancelled (tfn__request_detach); pipelined bytes
     * wait in `in`, and reading pauses when `in` has no room for another chunk. */
    conn_set_reading(conn,
                     !conn->busy || (!conn->peer_eof && conn->in.len + READ_CHUNK <= conn->in.max));
    conn_arm_read_timer(conn); /* idle or mid-request, as the parse left it */
}

/* ---------------------------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------------------------- */

/* Bodies this large are read straight into the request's body buffer (sized from
 * Content-Length), instead of through `in` and a copy: a tensor between services. */
#define DIRECT_BODY_MIN 65536

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    tfn__conn_t *conn = handle->data;
    (void)suggested;
    /* Never past the end of this body (http-parser counts down content_length): the bytes of a
     * pipelined request that follows must go through `in`. */
    uint64_t left = conn->parser.content_length;
    conn->reading_body = !conn->lingering && conn->in_body && conn->in.len == 0 &&
                         left >= DIRECT_BODY_MIN && left != ULLONG_MAX &&
                         conn->body.cap - conn->body.len > left;
    if (conn->reading_body) {
        *buf = uv_buf_init(conn->body.data + conn->body.len, (unsigned)left);
        return;
    }
    if (conn->lingering) /* discarding: reuse the start of the buffer */
        conn->in.len = 0;
    char *p = tfn__buf_reserve(&conn->in, READ_CHUNK);
    *buf = uv_buf_init(p, p ? READ_CHUNK : 0);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    tfn__conn_t *conn = stream->data;
    (void)buf;
    if (nread < 0) {
        /* EOF or error while a handler has a request: the client has gone (as nginx takes it),
         * and closing cancels the request — unless pipelined requests wait behind it, which
         * says the client half-closed after sending them all: answer them, then close. */
        if (nread == UV_EOF && conn->busy && conn->in.len > 0 && !conn->lingering) {
            conn->peer_eof = true;
            conn_set_reading(conn, false);
            return;
        }
        conn_close(conn);
        return;
    }
    if (conn->lingering)
        return;
    /* One descriptor may come with a request: more waiting is a peer flooding us with them. */
    if (stream->type == UV_NAMED_PIPE && uv_pipe_pending_count(&conn->io.pipe) > 2) {
        conn_close(conn);
        return;
    }
    if (conn->reading_body) { /* the bytes are in place at the end of the body: parse them there */
        conn->reading_body = false;
        if (nread == 0) /* nothing after all (EAGAIN): and 0 bytes would tell the parser EOF */
            return;
        if (conn_parse(conn, conn->body.data + conn->body.len, (size_t)nread) == SIZE_MAX)
            return;
    } else {
        conn->in.len += (size_t)nread;
    }
    conn_process(conn); /* re-arms the read timer: bytes came */
}

static void conn_set_reading(tfn__conn_t *conn, bool on)
{
    if (on == conn->reading)
        return;
    conn->reading = on;
    if (!on) {
        uv_read_stop(&conn->io.stream); /* a handler has the request: the timer lets it be */
    } else if (uv_read_start(&conn->io.stream, on_alloc, on_read) != 0) {
        conn_close(conn);
    } else {
        conn_arm_read_timer(conn);
    }
}

static void on_conn_handle_closed(uv_handle_t *handle)
{
    tfn__conn_t *conn = handle->data;
    if (--conn->open_handles > 0)
        return;
    tfn__server_t *server = conn->server;
    tfn__buf_free(&conn->in);
    tfn__buf_free(&conn->body);
    tfn__shm_region_unref(conn->shm.own);
    tfn__shm_region_unref(conn->shm.peer);
    free(conn);
    if (server->draining)
        tfn__server_maybe_finish(server);
}

static void conn_close(tfn__conn_t *conn)
{
    if (conn->closing)
        return;
    conn->closing = true;
    conn->server->nconns--;
    if (conn->active)
        tfn__request_detach(conn->active);
    conn->active = NULL;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        conn->server->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    uv_close((uv_handle_t *)&conn->linger, on_conn_handle_closed);
    uv_close(&conn->io.handle, on_conn_handle_closed);
    if (conn->server->quiescing)
        tfn__server_quiesce_check(conn->server);
}

static void on_linger_timeout(uv_timer_t *timer) { conn_close(timer->data); }

/* While a connection reads (and is not lingering), its timer bounds the wait for the client:
 * the idle timeout between requests, the read timeout inside one (nginx's keepalive_timeout and
 * client_body_timeout), counted from the last bytes. The timer is lazy, as nginx's are: a parse
 * pass only records the time, and the timer, when it fires early, re-arms itself for what is
 * left — re-arming a libuv timer on every request cost 2% of a hello-world's CPU. */
static uint32_t read_limit(const tfn__conn_t *conn)
{
    const tfn_traffic_t *t = &conn->server->config.traffic;
    return conn->receiving || conn->in.len ? t->read_timeout_ms : t->idle_timeout_ms;
}

/* Milliseconds from `now` until the connection's wait runs out: `limit` after its last bytes,
 * and, while a request head is arriving, no later than the head timeout after its first byte
 * (however steadily the bytes trickle: Apache's mod_reqtimeout, nginx's client_header_timeout).
 * Sets *head when the head deadline is the nearer one. */
static uint64_t wait_left(const tfn__conn_t *conn, uint64_t now, uint64_t limit, bool *head)
{
    uint64_t due = conn->last_read_ms + limit;
    *head = false;
    if (conn->in_head) {
        uint64_t head_due = conn->head_started_ms + conn->server->config.traffic.head_timeout_ms;
        if (head_due < due) {
            due = head_due;
            *head = true;
        }
    }
    return due > now ? due - now : 0;
}

static void on_read_timeout(uv_timer_t *timer)
{
    tfn__conn_t *conn = timer->data;
    if (conn->closing || conn->lingering || !conn->reading || conn->busy)
        return; /* re-armed when reading resumes, or when the busy request is answered */
    bool head;
    uint64_t left = wait_left(conn, uv_now(conn->server->loop), read_limit(conn), &head);
    if (left > 0) {
        uv_timer_start(timer, on_read_timeout, left, 0);
        return;
    }
    if (!conn->receiving && conn->in.len == 0) { /* idle keep-alive connection: close quietly */
        conn_close(conn);
        return;
    }
    tfn_error_t err;
    if (head)
        tfn_error_set(&err, TFN_EREQTIMEOUT, "the request head did not arrive within %u ms",
                      conn->server->config.traffic.head_timeout_ms);
    else
        tfn_error_set(&err, TFN_EREQTIMEOUT, "no byte of the request arrived for %u ms",
                      conn->server->config.traffic.read_timeout_ms);
    snprintf(err.service, sizeof err.service, "%s", conn->server->service->name);
    conn->in.len = 0;
    conn->busy = true;
    tfn__conn_respond_error(conn, &err, false, NULL);
}

static void conn_arm_read_timer(tfn__conn_t *conn)
{
    if (conn->closing || conn->lingering || !conn->reading)
        return;
    uint64_t now = uv_now(conn->server->loop);
    conn->last_read_ms = now;
    bool head;
    uint64_t limit = wait_left(conn, now, read_limit(conn), &head);
    if (!uv_is_active((uv_handle_t *)&conn->linger) || uv_timer_get_due_in(&conn->linger) > limit)
        uv_timer_start(&conn->linger, on_read_timeout, limit, 0);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    tfn__conn_t *conn = req->data;
    if (status < 0)
        conn_close(conn);
}

/* Sends what is queued, shuts down the write side and waits (bounded) for the client's EOF. */
static void conn_close_gracefully(tfn__conn_t *conn)
{
    if (conn->closing || conn->lingering)
        return;
    conn->lingering = true;
    conn->shutdown.data = conn;
    if (uv_shutdown(&conn->shutdown, &conn->io.stream, on_shutdown) != 0) {
        conn_close(conn);
        return;
    }
    uv_timer_start(&conn->linger, on_linger_timeout, LINGER_MS, 0);
    conn_set_reading(conn, true);
}

static void on_shutdown_after_eof(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

/* The client half-closed and has had every answer: send what is queued, then close (reading
 * again would only return the EOF once more). */
static void conn_finish_after_eof(tfn__conn_t *conn)
{
    conn->lingering = true;
    conn->shutdown.data = conn;
    if (uv_shutdown(&conn->shutdown, &conn->io.stream, on_shutdown_after_eof) != 0)
        conn_close(conn);
    else
        uv_timer_start(&conn->linger, on_linger_timeout, LINGER_MS, 0);
}

/* The cap on open connections (traffic.max_connections, kept under the descriptor limit): how
 * far over it one more connection would be (0: there is room). When over, says so in the log —
 * at most every 10 s, with how many were refused meanwhile. */
static uint64_t over_connection_cap(tfn__server_t *server)
{
    uint64_t cap = server->config.traffic.max_connections;
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        nofile.rlim_cur < cap + 64)
        cap = nofile.rlim_cur > 128 ? nofile.rlim_cur - 64 : 64; /* room for files, sockets */
    if (server->nconns < cap)
        return 0;
    server->refused++;
    uint64_t now = uv_now(server->loop);
    if (!server->refused_logged_ms || now - server->refused_logged_ms >= 10000) {
        tfn__log("warn",
                 "%u open connections: the cap of %llu per worker is reached (--max-connections, "
                 "file-descriptor limit); refused %llu connection(s) with 503",
                 server->nconns, (unsigned long long)cap, (unsigned long long)server->refused);
        server->refused_logged_ms = now;
        server->refused = 0;
    }
    return server->nconns - cap + 1;
}

void tfn__server_on_connection(uv_stream_t *listener, int status)
{
    tfn__server_t *server = listener->data;
    if (status < 0 || server->draining)
        return;
    uint64_t over = over_connection_cap(server);
    tfn__conn_t *conn = calloc(1, sizeof *conn);
    if (!conn)
        return;
    conn->server = server;
    bool is_tcp = listener->type == UV_TCP;
    /* ipc: a tiffin client on a unix socket may send its shared-memory region (shm_conn.c) */
    int rc = is_tcp ? uv_tcp_init(server->loop, &conn->io.tcp)
                    : uv_pipe_init(server->loop, &conn->io.pipe, tfn__shm_enabled());
    if (rc != 0) {
        free(conn);
        return;
    }
    uv_timer_init(server->loop, &conn->linger);
    conn->linger.data = conn;
    conn->io.handle.data = conn;
    conn->open_handles = 2;
    server->nconns++;
    tfn__buf_init(&conn->in, READ_CHUNK * 2);
    tfn__buf_init(&conn->body, server->config.traffic.max_body_bytes);
    conn->next = server->conns;
    if (server->conns)
        server->conns->prev = conn;
    server->conns = conn;
    if (uv_accept(listener, &conn->io.stream) != 0) {
        conn_close(conn);
        return;
    }
    if (is_tcp)
        uv_tcp_nodelay(&conn->io.tcp, 1);
    http_parser_init(&conn->parser, HTTP_REQUEST);
    conn->parser.data = conn;
    conn->parser.http_major = conn->parser.http_minor = 1;
    if (over > 64) { /* far over: no words, and no lingering either */
        conn_close(conn);
        return;
    }
    if (over) { /* answered and closed at once: it holds its descriptor for the linger only */
        tfn_error_t err;
        tfn_error_set(&err, TFN_EUNAVAIL, "too many open connections: try again later");
        snprintf(err.service, sizeof err.service, "%s", server->service->name);
        conn->busy = true;
        tfn__conn_respond_error(conn, &err, false, "Retry-After: 1\r\n");
        return;
    }
    conn_set_reading(conn, true);
}

void tfn__server_close_idle(tfn__server_t *server, bool fresh_too)
{
    tfn__conn_t *next;
    for (tfn__conn_t *c = server->conns; c; c = next) {
        next = c->next;
        if (!c->busy && (fresh_too || c->requests > 0))
            conn_close_gracefully(c);
    }
}

bool tfn__server_has_fresh(const tfn__server_t *server)
{
    for (const tfn__conn_t *c = server->conns; c; c = c->next)
        if (c->requests == 0 && !c->closing && !c->lingering)
            return true;
    return false;
}

void tfn__server_close_all(tfn__server_t *server)
{
    while (server->conns)
        conn_close(server->conns);
}
