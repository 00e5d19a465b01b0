/*
 * Candidate 1: libuv + http-parser (Debian libhttp-parser-dev 2.9.4).
 *
 *   uv_httpparser [--port P] [--unix PATH]
 *
 * GET /        -> 200 {"hello":"world"}
 * POST /echo   -> 200 with the request body
 * GET /async   -> 200 {"hello":"world"}, sent 1 ms later from a uv_timer callback
 *
 * One uv loop, one thread. Responses go out with uv_try_write, falling back
 * to uv_write for what the kernel did not take. While an async response is
 * outstanding the parser is paused and reading stops, so pipelined requests
 * are answered in order; the unparsed remainder is kept and replayed later.
 */
#include <http_parser.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static const char HELLO[] = "{\"hello\":\"world\"}";

typedef struct conn {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } h;
    uv_timer_t timer; /* for /async */
    int handles_open; /* free when both handles are closed */
    int closing;
    int waiting;       /* an async response is outstanding */
    int close_after;   /* last response on a non-keep-alive connection */
    http_parser parser;
    char url[256];
    size_t url_len;
    char *body;
    size_t body_len, body_cap;
    char *rest; /* bytes read but not parsed while paused */
    size_t rest_len;
} conn_t;

typedef struct {
    uv_write_t req;
    conn_t *conn;
    char data[];
} write_req_t;

static uv_loop_t *loop;
static http_parser_settings settings;
static union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_stream_t stream;
} server;

static void on_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (--c->handles_open == 0) {
        free(c->body);
        free(c->rest);
        free(c);
    }
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close(&c->h.handle, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_write(uv_write_t *req, int status)
{
    write_req_t *wr = (write_req_t *)req;
    if (status < 0 || wr->conn->close_after)
        conn_close(wr->conn);
    free(wr);
}

static void send_response(conn_t *c, int status, const char *body, size_t len)
{
    char head[160];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                      status, status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request", len, c->close_after ? "Connection: close\r\n" : "");
    uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)hl), uv_buf_init((char *)body, (unsigned)len)};
    size_t total = (size_t)hl + len;
    int n = uv_try_write(&c->h.stream, bufs, 2);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        n = 0;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if ((size_t)n == total) {
        if (c->close_after)
            conn_close(c);
        return;
    }
    /* Queue the remainder; libuv keeps later uv_try_write calls from overtaking it. */
    size_t left = total - (size_t)n;
    write_req_t *wr = malloc(sizeof *wr + left);
    wr->conn = c;
    size_t off = 0;
    for (int i = 0; i < 2; i++) {
        size_t skip = (size_t)n > bufs[i].len ? bufs[i].len : (size_t)n;
        n -= (int)skip;
        memcpy(wr->data + off, bufs[i].base + skip, bufs[i].len - skip);
        off += bufs[i].len - skip;
    }
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)left);
    if (uv_write(&wr->req, &c->h.stream, &b, 1, on_write) < 0) {
        free(wr);
        conn_close(c);
    }
}

static int on_message_begin(http_parser *p)
{
    conn_t *c = p->data;
    c->url_len = 0;
    c->body_len = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->url_len + len >= sizeof c->url)
        return 1; /* URL too long: parse error, connection is closed */
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->body_len + len > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap * 2 : 1024;
        while (cap < c->body_len + len)
            cap *= 2;
        char *nb = realloc(c->body, cap);
        if (!nb)
            return 1;
        c->body = nb;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

static void process(conn_t *c, const char *data, size_t len);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_async_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    c->waiting = 0;
    send_response(c, 200, HELLO, sizeof HELLO - 1);
    if (c->closing)
        return;
    /* Resume: replay whatever arrived behind the async request, then read again. */
    http_parser_pause(&c->parser, 0);
    char *rest = c->rest;
    size_t rest_len = c->rest_len;
    c->rest = NULL;
    c->rest_len = 0;
    if (rest_len)
        process(c, rest, rest_len);
    free(rest);
    if (!c->closing && !c->waiting && !c->close_after)
        uv_read_start(&c->h.stream, alloc_cb, read_cb);
}

static int on_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    c->url[c->url_len] = '\0';
    c->close_after = !http_should_keep_alive(p);
    if (p->method == HTTP_GET && !strcmp(c->url, "/")) {
        send_response(c, 200, HELLO, sizeof HELLO - 1);
    } else if (p->method == HTTP_POST && !strcmp(c->url, "/echo")) {
        send_response(c, 200, c->body ? c->body : "", c->body_len);
    } else if (p->method == HTTP_GET && !strcmp(c->url, "/async")) {
        c->waiting = 1;
        uv_timer_start(&c->timer, on_async_timer, 1, 0);
        http_parser_pause(p, 1); /* stop after this message; the rest is replayed later */
    } else {
        send_response(c, 404, "{}", 2);
    }
    return 0;
}

/* Parse data; on pause, stash the unparsed tail and stop reading. */
static void process(conn_t *c, const char *data, size_t len)
{
    size_t n = http_parser_execute(&c->parser, &settings, data, len);
    if (c->closing)
        return;
    if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
        uv_read_stop(&c->h.stream);
        size_t left = len - n;
        if (left) {
            char *r = realloc(c->rest, c->rest_len + left);
            memcpy(r + c->rest_len, data + n, left);
            c->rest = r;
            c->rest_len += left;
        }
        return;
    }
    if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || n != len) {
        c->close_after = 1;
        send_response(c, 400, "{}", 2);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536]; /* one thread: data is parsed before the next read */
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof slab);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (nread < 0) {
        if (!c->waiting) /* keep the connection until an outstanding response is written */
            conn_close(c);
        else
            uv_read_stop(s);
        return;
    }
    if (nread > 0)
        process(c, buf->base, (size_t)nread);
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    conn_t *c = calloc(1, sizeof *c);
    if (srv->type == UV_TCP) {
        uv_tcp_init(loop, &c->h.tcp);
        uv_tcp_nodelay(&c->h.tcp, 1);
    } else {
        uv_pipe_init(loop, &c->h.pipe, 0);
    }
    uv_timer_init(loop, &c->timer);
    c->handles_open = 2;
    c->h.handle.data = c;
    c->timer.data = c;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (uv_accept(srv, &c->h.stream) < 0 || uv_read_start(&c->h.stream, alloc_cb, read_cb) < 0)
        conn_close(c);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    uv_stop(s->loop);
}

int main(int argc, char **argv)
{
    int port = 8080;
    const char *unix_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--unix") && i + 1 < argc)
            unix_path = argv[++i];
        else
            port = atoi(argv[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    http_parser_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;

    int r;
    if (unix_path) {
        unlink(unix_path);
        uv_pipe_init(loop, &server.pipe, 0);
        r = uv_pipe_bind(&server.pipe, unix_path);
    } else {
        struct sockaddr_in addr;
        uv_ip4_addr("127.0.0.1", port, &addr);
        uv_tcp_init(loop, &server.tcp);
        r = uv_tcp_bind(&server.tcp, (const struct sockaddr *)&addr, 0);
    }
    if (r == 0)
        r = uv_listen(&server.stream, SOMAXCONN, on_connection);
    if (r < 0) {
        fprintf(stderr, "listen: %s\n", uv_strerror(r));
        return 1;
    }
    uv_signal_t sigterm, sigint;
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    if (unix_path)
        unlink(unix_path);
    return 0;
}
