/*
 * client.c — the asynchronous HTTP/1.1 client with keep-alive pools (see client_internal.h).
 *
 * A connection owns one timer (the deadline of its exchange, or of its connect) and, while a
 * request is being written, the write request. It is freed when libuv has closed all of its
 * handles (the stream, the timer, and a name lookup in progress, counted in open_handles).
 * Callbacks to the caller always run from a libuv callback, never from tfn__pool_send itself,
 * and the connection is back in the pool (or closing) before they run, so a callback may send
 * the next request at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include <http_parser.h>

#include "compose/client_conn_internal.h"
#include "server/server_internal.h" /* tfn__shm_enabled */

/* Idle connections kept per pool; more are closed when they become idle. */
#define MAX_IDLE 256
/* Bytes of shared-memory regions idle connections may keep per pool: a burst of parallel calls
 * with large tensors leaves at most this much behind (beyond it, connections close). */
#define MAX_IDLE_SHM ((size_t)128 << 20)
/* An idle connection older than this is not reused: servers close idle keep-alive connections
 * (tiffin's after 60 s, --idle-timeout), and a request sent just as they do would fail. */
#define MAX_IDLE_AGE_MS 45000
/* Read buffer shared by every connection of the thread: reads are parsed at once. */
#define READ_CHUNK (256 * 1024)

typedef tfn__client_conn_t conn_t;

static char read_chunk[READ_CHUNK];

static void conn_begin(conn_t *conn);
static bool keep_idle(const tfn__pool_t *pool, const conn_t *conn);
static size_t shm_bytes(const conn_t *conn);

/* ---------------------------------------------------------------------------------------------
 * Exchanges
 * ------------------------------------------------------------------------------------------- */

static void exchange_free(tfn__exchange_t *ex)
{
    tfn__shm_region_unref(ex->own);
    tfn__buf_free(&ex->head);
    tfn__buf_free(&ex->body);
    free(ex);
}

/* Separates a connection from its exchange. A write in progress still reads the request's
 * bytes, so they move to the connection until the write ends; the exchange keeps a copy when
 * `keep_copy` (to send it again). Returns false if that copy could not be made. */
static bool detach_keep(conn_t *conn, bool keep_copy)
{
    tfn__exchange_t *ex = conn->ex;
    conn->ex = NULL;
    ex->conn = NULL;
    if (!conn->writing)
        return true;
    conn->orphan_head = ex->head;
    conn->orphan_body = ex->body;
    tfn__buf_init(&ex->head, conn->orphan_head.max);
    tfn__buf_init(&ex->body, conn->orphan_body.max);
    return !keep_copy ||
           (tfn__buf_append(&ex->head, conn->orphan_head.data, conn->orphan_head.len) == 0 &&
            tfn__buf_append(&ex->body, conn->orphan_body.data, conn->orphan_body.len) == 0);
}

static void detach(conn_t *conn) { (void)detach_keep(conn, false); }

/* ---------------------------------------------------------------------------------------------
 * Pools
 * ------------------------------------------------------------------------------------------- */

tfn__pool_t *tfn__pool_new(uv_loop_t *loop, const tfn__target_t *target, const char *label)
{
    tfn__pool_t *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->loop = loop;
    pool->target = *target;
    pool->label = label;
    if (target->unix_path) {
        if (strlen(target->unix_path) >= sizeof pool->unix_path) {
            free(pool);
            return NULL;
        }
        strcpy(pool->unix_path, target->unix_path);
        pool->target.unix_path = pool->unix_path;
    }
    return pool;
}

void tfn__pool_free(tfn__pool_t *pool)
{
    if (!pool)
        return;
    pool->freeing = true;
    if (!pool->conns) {
        free(pool);
        return;
    }
    for (conn_t *c = pool->conns; c; c = c->next) {
        if (c->ex) { /* abandoned: the caller is going away */
            tfn__exchange_t *ex = c->ex;
            detach(c);
            exchange_free(ex);
        }
        tfn__client_conn_close(c);
    }
}

/* An answer pointed into the connection's shared memory until now (design.md rule 21). */
void tfn__pool_release(struct tfn__lease *lease)
{
    conn_t *conn = (conn_t *)lease;
    if (!conn || !conn->leased)
        return;
    conn->leased = false;
    tfn__pool_t *pool = conn->pool;
    if (conn->closing)
        tfn__client_conn_maybe_free(conn);
    else if (!keep_idle(pool, conn))
        tfn__client_conn_close(conn);
    else
        tfn__client_idle_push(pool, conn);
}

void tfn__pool_stats(const tfn__pool_t *pool, unsigned *open, unsigned *idle)
{
    *open = pool->nopen;
    *idle = pool->nidle;
}

void tfn__client_idle_push(tfn__pool_t *pool, conn_t *conn)
{
    conn->idle = true;
    conn->idle_since = uv_now(pool->loop);
    conn->idle_prev = NULL;
    conn->idle_next = pool->idle;
    if (pool->idle)
        pool->idle->idle_prev = conn;
    pool->idle = conn;
    pool->nidle++;
    pool->idle_shm += shm_bytes(conn);
}

static size_t shm_bytes(const conn_t *conn)
{
    return (conn->shm.own ? conn->shm.own->len : 0) + (conn->shm.peer ? conn->shm.peer->len : 0);
}

/* Whether the pool keeps `conn` when it becomes idle. */
static bool keep_idle(const tfn__pool_t *pool, const conn_t *conn)
{
    return !pool->freeing && pool->nidle < MAX_IDLE &&
           pool->idle_shm + shm_bytes(conn) <= MAX_IDLE_SHM;
}

static void idle_remove(tfn__pool_t *pool, conn_t *conn)
{
    if (!conn->idle)
        return;
    conn->idle = false;
    if (conn->idle_prev)
        conn->idle_prev->idle_next = conn->idle_next;
    else
        pool->idle = conn->idle_next;
    if (conn->idle_next)
        conn->idle_next->idle_prev = conn->idle_prev;
    pool->nidle--;
    pool->idle_shm -= shm_bytes(conn);
}

/* Where the pool connects, for messages: "unix:/run/x.sock" or "host:port". */
static const char *address(const tfn__pool_t *pool, char *buf, size_t len)
{
    if (pool->target.unix_path)
        snprintf(buf, len, "unix:%s", pool->target.unix_path);
    else
        snprintf(buf, len, "%s:%d", pool->target.host, pool->target.port);
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Finishing an exchange
 * ------------------------------------------------------------------------------------------- */

static void exchange_error(tfn__exchange_t *ex, const tfn_error_t *err)
{
    tfn__exchange_cb cb = ex->cb;
    void *arg = ex->arg;
    tfn_error_t copy = *err; /* err may live in ex */
    exchange_free(ex);
    cb(arg, copy.code, NULL, &copy);
}

/* The answer is complete. `reusable`: nothing followed it on the stream. */
static void deliver_response(conn_t *conn, bool reusable)
{
    tfn__exchange_t *ex = conn->ex;
    tfn__pool_t *pool = conn->pool;
    if (conn->resp_shm_len && !tfn__client_peer_region_received(conn))
        return;
    tfn__response_t resp = conn->resp; /* the callback may reuse this connection */
    tfn__buf_init(&conn->resp.body, TFN__MAX_RESPONSE_BYTES);
    bool keep = reusable && http_should_keep_alive(&conn->parser) && !pool->freeing;
    bool has_shm = conn->shm.own || conn->shm.peer;
    /* After an error the dependency's handler may still be reading the request's tensors in our
     * region: the next call must not overwrite them. A new connection gets a new region. */
    if (has_shm && resp.status != 200)
        keep = false;
    conn->ex = NULL;
    uv_timer_stop(&conn->timer);
    if (has_shm && ex->value && resp.status == 200) {
        /* The answer may point into the regions: they stay as they are until it is released */
        conn->leased = true;
        resp.shm = &conn->shm;
        resp.lease = (struct tfn__lease *)conn;
        if (!keep)
            tfn__client_conn_close(conn); /* freed when released */
    } else if (keep && keep_idle(pool, conn))
        tfn__client_idle_push(pool, conn);
    else
        tfn__client_conn_close(conn);
    tfn__exchange_cb cb = ex->cb;
    void *arg = ex->arg;
    exchange_free(ex);
    cb(arg, 0, &resp, NULL);
    tfn__buf_free(&resp.body);
}

/* The connection failed: retry the exchange on a fresh connection if it may be, else report. */
void tfn__client_conn_fail(conn_t *conn, int code, const char *fmt, ...)
{
    tfn__exchange_t *ex = conn->ex;
    bool may_retry = ex && ex->retry && conn->connected && !conn->got_bytes;
    if (ex && !detach_keep(conn, may_retry))
        may_retry = false;
    tfn__client_conn_close(conn);
    if (!ex)
        return;
    if (may_retry) {
        ex->retry = false;
        conn_t *fresh = NULL;
        tfn__pool_t *pool = conn->pool;
        if (!pool->freeing && (fresh = calloc(1, sizeof *fresh))) {
            fresh->pool = pool;
            ex->conn = fresh;
            fresh->ex = ex;
            conn_begin(fresh);
            return;
        }
    }
    tfn_error_t err;
    char where[sizeof(struct sockaddr_un) + 300];
    va_list ap;
    va_start(ap, fmt);
    char msg[TFN_ERROR_MESSAGE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tfn_error_set(&err, code, "%s at %s: %s", conn->pool->label,
                  address(conn->pool, where, sizeof where), msg);
    exchange_error(ex, &err);
}

void tfn__exchange_cancel(tfn__exchange_t *ex)
{
    conn_t *conn = ex->conn;
    if (conn) {
        detach(conn);
        tfn__client_conn_close(conn); /* its answer, if any comes, belongs to nobody */
    }
    exchange_free(ex);
}

/* ---------------------------------------------------------------------------------------------
 * Closing
 * ------------------------------------------------------------------------------------------- */

void tfn__client_conn_maybe_free(conn_t *conn)
{
    if (conn->open_handles > 0 || conn->leased) /* an answer still points into its regions */
        return;
    tfn__pool_t *pool = conn->pool;
    if (conn->prev)
        conn->prev->next = conn->next;
    else if (pool->conns == conn)
        pool->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    pool->nopen--;
    tfn__buf_free(&conn->resp.body);
    tfn__buf_free(&conn->orphan_head);
    tfn__buf_free(&conn->orphan_body);
    tfn__shm_region_unref(conn->shm.own);
    tfn__shm_region_unref(conn->shm.peer);
    free(conn);
    if (pool->freeing && !pool->conns)
        free(pool);
}

static void on_handle_closed(uv_handle_t *handle)
{
    conn_t *conn = handle->data;
    conn->open_handles--;
    tfn__client_conn_maybe_free(conn);
}

void tfn__client_conn_close(conn_t *conn)
{
    if (conn->closing)
        return;
    conn->closing = true;
    idle_remove(conn->pool, conn);
    if (conn->looking_up)
        uv_cancel((uv_req_t *)&conn->lookup); /* its callback still runs, with UV_ECANCELED */
    uv_close(&conn->io.handle, on_handle_closed);
    uv_close((uv_handle_t *)&conn->timer, on_handle_closed);
}

/* ---------------------------------------------------------------------------------------------
 * Reading the response
 * ------------------------------------------------------------------------------------------- */

static conn_t *conn_of(http_parser *p) { return p->data; }

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    conn_t *conn = conn_of(p);
    if (conn->in_content_type || conn->header_name_len == SIZE_MAX) {
        conn->header_name_len = 0;
        conn->in_content_type = false;
    }
    if (conn->header_name_len + len < sizeof conn->header_name) {
        memcpy(conn->header_name + conn->header_name_len, at, len);
        conn->header_name_len += len;
        conn->header_name[conn->header_name_len] = '\0';
    } else {
        conn->header_name[0] = '\0';
        conn->header_name_len = sizeof conn->header_name; /* too long to be Content-Type */
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    conn_t *conn = conn_of(p);
    if (!conn->in_content_type) {
        bool is_ct = strcasecmp(conn->header_name, "content-type") == 0;
        conn->header_name_len = SIZE_MAX; /* the next field starts a new name */
        if (!is_ct && conn->ex && conn->ex->value &&
            strcasecmp(conn->header_name, TFN__SHM_HEADER) == 0)
            return tfn__client_shm_header(conn, at, len);
        if (!is_ct)
            return 0;
        conn->in_content_type = true;
        conn->resp.content_type[0] = '\0';
    }
    size_t have = strlen(conn->resp.content_type);
    size_t room = sizeof conn->resp.content_type - 1 - have;
    memcpy(conn->resp.content_type + have, at, len < room ? len : room);
    conn->resp.content_type[have + (len < room ? len : room)] = '\0';
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    conn_t *conn = conn_of(p);
    conn->resp.status = p->status_code;
    conn->in_body = true;
    if (p->content_length != ULLONG_MAX && p->content_length > TFN__MAX_RESPONSE_BYTES)
        return -1;
    if (p->content_length != ULLONG_MAX && p->content_length > 0 &&
        tfn__buf_grow(&conn->resp.body, (size_t)p->content_length) != 0)
        return -1;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    tfn__buf_t *body = &conn_of(p)->resp.body;
    if (body->data && at == body->data + body->len) { /* read in place (on_alloc) */
        body->len += len;
        body->data[body->len] = '\0';
        return 0;
    }
    return tfn__buf_append(body, at, len) ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
    conn_of(p)->message_done = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Large answers are read straight into their body, sized from Content-Length, instead of
 * through the shared chunk and a copy. */
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *conn = handle->data;
    tfn__buf_t *body = &conn->resp.body;
    if (conn->ex && conn->in_body && body->data && body->cap - body->len > 65536) {
        *buf = uv_buf_init(body->data + body->len, (unsigned)(body->cap - body->len - 1));
        return;
    }
    *buf = uv_buf_init(read_chunk, sizeof read_chunk);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *conn = stream->data;
    if (nread == 0 || conn->closing)
        return;
    if (!conn->ex) { /* idle: the server closed it (or sent garbage): drop it from the pool */
        tfn__client_conn_close(conn);
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF && conn->got_bytes) /* a body delimited by the end of the stream */
            http_parser_execute(&conn->parser, &parser_settings, NULL, 0);
        if (conn->message_done)
            deliver_response(conn, false);
        else /* typically the dependency's worker died while handling the request */
            tfn__client_conn_fail(conn, TFN_EIO, "connection %s before the answer",
                                  nread == UV_EOF ? "closed" : uv_strerror((int)nread));
        return;
    }
    conn->got_bytes = true;
    size_t used = http_parser_execute(&conn->parser, &parser_settings, buf->base, (size_t)nread);
    if (conn->message_done) {
        /* Bytes after the answer mean the stream is out of step: do not reuse it. */
        deliver_response(conn, used == (size_t)nread);
        return;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&conn->parser);
    if (e != HPE_OK) {
        if (conn->resp.body.len >= TFN__MAX_RESPONSE_BYTES || e == HPE_CB_headers_complete)
            tfn__client_conn_fail(conn, TFN_ETOOBIG, "answer larger than %zu bytes",
                                  TFN__MAX_RESPONSE_BYTES);
        else
            tfn__client_conn_fail(conn, TFN_EPROTO, "malformed HTTP answer: %s",
                                  http_errno_description(e));
    }
}

/* ---------------------------------------------------------------------------------------------
 * Connecting and writing
 * ------------------------------------------------------------------------------------------- */

static void on_timeout(uv_timer_t *timer)
{
    conn_t *conn = timer->data;
    tfn__exchange_t *ex = conn->ex;
    if (!ex)
        return;
    if (ex->pending_error) { /* reported from here so that cb never runs inside send */
        conn->ex = NULL;
        ex->conn = NULL;
        tfn__client_conn_close(conn);
        exchange_error(ex, &ex->error);
        return;
    }
    ex->retry = false;
    tfn__client_conn_fail(conn, TFN_ETIMEOUT, "no answer within the deadline");
}

static void on_written(uv_write_t *req, int status)
{
    conn_t *conn = req->data;
    conn->writing = false;
    tfn__buf_free(&conn->orphan_head);
    tfn__buf_free(&conn->orphan_body);
    if (status < 0 && status != UV_ECANCELED && !conn->closing)
        tfn__client_conn_fail(conn, TFN_EIO, "cannot send the request: %s", uv_strerror(status));
}

/* Sends the exchange's request on the connected `conn`. Returns 0, or a libuv error when the
 * connection is unusable (nothing has been reported yet: the caller decides). */
static int conn_send(conn_t *conn)
{
    tfn__exchange_t *ex = conn->ex;
    conn->resp_shm_len = 0;
    if (ex->value) {
        int rc = tfn__client_finish_head(conn, ex);
        if (rc)
            return UV_ENOMEM;
    }
    http_parser_init(&conn->parser, HTTP_RESPONSE);
    conn->parser.data = conn;
    conn->resp.status = 0;
    conn->resp.content_type[0] = '\0';
    conn->resp.body.len = 0;
    conn->header_name_len = 0;
    conn->in_content_type = false;
    conn->got_bytes = conn->message_done = conn->in_body = false;
    uv_buf_t b[2] = {uv_buf_init(ex->head.data, (unsigned)ex->head.len),
                     uv_buf_init(ex->body.data, (unsigned)ex->body.len)};
    size_t total = ex->head.len + ex->body.len;
    unsigned nb = ex->body.len ? 2 : 1;
    int n;
    if (conn->send_own) { /* our region goes with this head: the server has it from now on */
        n = tfn__try_write_with_fd(&conn->io.stream, b, nb, conn->shm.own->fd);
        if (n > 0) {
            conn->own_sent = true;
            conn->send_own = false;
        }
    } else
        n = uv_try_write(&conn->io.stream, b, nb);
    if (n >= 0 && (size_t)n == total)
        return 0;
    if (n < 0 && n != UV_EAGAIN)
        return n;
    /* Queue what the socket did not take. */
    size_t done = n > 0 ? (size_t)n : 0;
    uv_buf_t rest[2];
    unsigned nrest = 0;
    if (done < ex->head.len)
        rest[nrest++] = uv_buf_init(ex->head.data + done, (unsigned)(ex->head.len - done));
    size_t body_done = done > ex->head.len ? done - ex->head.len : 0;
    if (ex->body.len > body_done)
        rest[nrest++] =
            uv_buf_init(ex->body.data + body_done, (unsigned)(ex->body.len - body_done));
    conn->write_req.data = conn;
    int rc = uv_write(&conn->write_req, &conn->io.stream, rest, nrest, on_written);
    if (rc != 0)
        return rc;
    conn->writing = true;
    return 0;
}

static void on_connected(uv_connect_t *req, int status)
{
    conn_t *conn = req->data;
    if (conn->closing)
        return;
    if (status < 0) {
        tfn__client_conn_fail(conn, TFN_ECONNECT, "cannot connect: %s", uv_strerror(status));
        return;
    }
    conn->connected = true;
    if (conn->pool->target.unix_path == NULL)
        uv_tcp_nodelay(&conn->io.tcp, 1);
    int rc = uv_read_start(&conn->io.stream, on_alloc, on_read);
    if (rc != 0) {
        tfn__client_conn_fail(conn, TFN_ECONNECT, "cannot read: %s", uv_strerror(rc));
        return;
    }
    if (!conn->ex)
        tfn__client_conn_close(conn); /* its exchange was cancelled meanwhile */
    else if ((rc = conn_send(conn)) != 0)
        tfn__client_conn_fail(conn, TFN_EIO, "cannot send the request: %s", uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    conn_t *conn = req->data;
    conn->looking_up = false;
    conn->open_handles--;
    if (conn->closing) {
        uv_freeaddrinfo(res);
        tfn__client_conn_maybe_free(conn);
        return;
    }
    int rc = status;
    if (rc == 0) {
        conn->connect_req.data = conn;
        rc = uv_tcp_connect(&conn->connect_req, &conn->io.tcp, res->ai_addr, on_connected);
    }
    uv_freeaddrinfo(res);
    if (rc != 0)
        tfn__client_conn_fail(conn, TFN_ECONNECT, "cannot resolve or connect: %s", uv_strerror(rc));
}

/* Reports an error that happened inside tfn__pool_send from the timer instead. */
static void fail_soon(conn_t *conn, int code, const char *what, int uv_rc)
{
    tfn__exchange_t *ex = conn->ex;
    char where[sizeof(struct sockaddr_un) + 300];
    tfn_error_set(&ex->error, code, "%s at %s: %s: %s", conn->pool->label,
                  address(conn->pool, where, sizeof where), what, uv_strerror(uv_rc));
    ex->pending_error = code;
    uv_timer_start(&conn->timer, on_timeout, 0, 0);
}

/* Starts a new connection for conn->ex (conn is zeroed, with pool and ex set). */
static void conn_begin(conn_t *conn)
{
    tfn__pool_t *pool = conn->pool;
    tfn__buf_init(&conn->resp.body, TFN__MAX_RESPONSE_BYTES);
    tfn__buf_init(&conn->orphan_head, 0);
    tfn__buf_init(&conn->orphan_body, 0);
    conn->next = pool->conns;
    if (pool->conns)
        pool->conns->prev = conn;
    pool->conns = conn;
    pool->nopen++;
    uv_timer_init(pool->loop, &conn->timer);
    conn->timer.data = conn;
    conn->open_handles = 2;
    int rc;
    if (pool->target.unix_path) {
        uv_pipe_init(pool->loop, &conn->io.pipe, tfn__shm_enabled()); /* ipc: regions come */
        conn->io.handle.data = conn;
        conn->connect_req.data = conn;
        uv_pipe_connect(&conn->connect_req, &conn->io.pipe, pool->target.unix_path, on_connected);
        rc = 0;
    } else {
        uv_tcp_init(pool->loop, &conn->io.tcp);
        conn->io.handle.data = conn;
        struct sockaddr_storage sa;
        char port[16];
        snprintf(port, sizeof port, "%d", pool->target.port);
        if (uv_ip4_addr(pool->target.host, pool->target.port, (struct sockaddr_in *)&sa) == 0 ||
            uv_ip6_addr(pool->target.host, pool->target.port, (struct sockaddr_in6 *)&sa) == 0) {
            conn->connect_req.data = conn;
            rc = uv_tcp_connect(&conn->connect_req, &conn->io.tcp, (struct sockaddr *)&sa,
                                on_connected);
        } else {
            struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
            conn->lookup.data = conn;
            rc = uv_getaddrinfo(pool->loop, &conn->lookup, on_resolved, pool->target.host, port,
                                &hints);
            if (rc == 0) {
                conn->looking_up = true;
                conn->open_handles++;
            }
        }
    }
    if (rc != 0)
        fail_soon(conn, TFN_ECONNECT, "cannot connect", rc);
    uint64_t now = uv_now(pool->loop);
    if (!conn->ex->pending_error)
        uv_timer_start(&conn->timer, on_timeout,
                       conn->ex->deadline > now ? conn->ex->deadline - now : 0, 0);
}

static int pool_send(tfn__pool_t *pool, tfn__buf_t *head, tfn__buf_t *body,
                     const tfn_value_t *value, uint32_t timeout_ms, bool retry, tfn__exchange_cb cb,
                     void *arg, tfn__exchange_t **out)
{
    tfn__exchange_t *ex = calloc(1, sizeof *ex);
    if (!ex) {
        tfn__buf_free(head);
        tfn__buf_free(body);
        return TFN_ENOMEM;
    }
    ex->value = value;
    ex->head_base = head->len;
    ex->pool = pool;
    ex->head = *head;
    ex->body = *body;
    tfn__buf_init(head, head->max);
    tfn__buf_init(body, body->max);
    ex->deadline = uv_now(pool->loop) + timeout_ms;
    ex->retry = retry;
    ex->cb = cb;
    ex->arg = arg;
    if (out)
        *out = ex;

    conn_t *conn;
    while ((conn = pool->idle)) {
        idle_remove(pool, conn);
        if (uv_now(pool->loop) - conn->idle_since > MAX_IDLE_AGE_MS) {
            tfn__client_conn_close(conn); /* the server may be closing it right now */
            continue;
        }
        conn->ex = ex;
        ex->conn = conn;
        if (value && !ex->body.len) { /* encoded once, on the first connection it tries */
            int rc = tfn__client_encode_value(conn, ex);
            if (rc) {
                conn->ex = NULL;
                ex->conn = NULL;
                tfn__client_idle_push(pool, conn);
                exchange_free(ex);
                return rc;
            }
        }
        if (conn_send(conn) == 0) {
            uv_timer_start(&conn->timer, on_timeout, timeout_ms, 0);
            return 0;
        }
        conn->ex = NULL; /* a dead idle connection: drop it and try the next */
        ex->conn = NULL;
        tfn__client_conn_close(conn);
    }
    conn = calloc(1, sizeof *conn);
    if (!conn) {
        exchange_free(ex);
        return TFN_ENOMEM;
    }
    conn->pool = pool;
    conn->ex = ex;
    ex->conn = conn;
    if (value && !ex->body.len) {
        int rc = tfn__client_encode_value(conn, ex);
        if (rc) {
            tfn__shm_region_unref(conn->shm.own);
            free(conn);
            exchange_free(ex);
            return rc;
        }
    }
    conn_begin(conn);
    return 0;
}

int tfn__pool_send(tfn__pool_t *pool, tfn__buf_t *head, tfn__buf_t *body, uint32_t timeout_ms,
                   bool retry, tfn__exchange_cb cb, void *arg, tfn__exchange_t **out)
{
    return pool_send(pool, head, body, NULL, timeout_ms, retry, cb, arg, out);
}

int tfn__pool_send_value(tfn__pool_t *pool, tfn__buf_t *head, tfn__buf_t *body,
                         const tfn_value_t *value, uint32_t timeout_ms, bool retry,
                         tfn__exchange_cb cb, void *arg, tfn__exchange_t **out)
{
    return pool_send(pool, head, body, value, timeout_ms, retry, cb, arg, out);
}
