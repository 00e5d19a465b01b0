/*
 * http_call.c — one blocking HTTP/1.1 request, for the command line (`app call`) and tools.
 *
 * Services call each other through the asynchronous client instead; this one exists so that the
 * CLI needs no event loop. The response is parsed with the same http-parser as the server.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <http_parser.h>

#include "compose/http_call_internal.h"
#include "core/log_internal.h"

typedef struct response {
    tfn__buf_t *body;
    bool done;
    int error;
} response_t;

static int on_body(http_parser *p, const char *at, size_t len)
{
    response_t *r = p->data;
    r->error = tfn__buf_append(r->body, at, len);
    return r->error ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
    ((response_t *)p->data)->done = true;
    return 0;
}

static int connect_to(const tfn__target_t *t, tfn_error_t *err)
{
    if (t->unix_path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(t->unix_path) >= sizeof sa.sun_path)
            return tfn_error_set(err, TFN_EINVAL, "unix socket path too long: %s", t->unix_path);
        strcpy(sa.sun_path, t->unix_path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return tfn_error_set(err, TFN_ECONNECT, "cannot connect to unix:%s: %s", t->unix_path,
                                 strerror(e));
        }
        return fd;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", t->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(t->host, port, &hints, &res);
    if (rc != 0)
        return tfn_error_set(err, TFN_ECONNECT, "cannot resolve %s: %s", t->host, gai_strerror(rc));
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return tfn_error_set(err, TFN_ECONNECT, "cannot connect to %s:%d: %s", t->host, t->port,
                             strerror(e));
    return fd;
}

/* Waits for the socket to be ready for `events`, up to the deadline. */
static int wait_for(int fd, short events, uint64_t deadline_ms, tfn_error_t *err)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    for (;;) {
        uint64_t now = tfn__now_ms();
        if (now >= deadline_ms)
            return tfn_error_set(err, TFN_ETIMEOUT, "no response within the timeout");
        int n = poll(&pfd, 1, (int)(deadline_ms - now));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return tfn_error_set(err, TFN_EIO, "poll: %s", strerror(errno));
    }
}

int tfn__http_call(const tfn__target_t *target, const char *method, const char *path,
                   const char *content_type, const void *body, size_t body_len, int timeout_ms,
                   int *status, tfn__buf_t *response, tfn_error_t *err)
{
    uint64_t deadline = tfn__now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 60000);
    int fd = connect_to(target, err);
    if (fd < 0)
        return fd;

    tfn__buf_t out;
    tfn__buf_init(&out, body_len + 4096);
    int rc = tfn__buf_printf(&out, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method,
                             path, target->unix_path ? "localhost" : target->host);
    if (rc == 0 && content_type)
        rc = tfn__buf_printf(&out, "Content-Type: %s\r\n", content_type);
    if (rc == 0)
        rc = tfn__buf_printf(&out, "Content-Length: %zu\r\n\r\n", body_len);
    if (rc == 0 && body_len)
        rc = tfn__buf_append(&out, body, body_len);
    for (size_t sent = 0; rc == 0 && sent < out.len;) {
        ssize_t n = send(fd, out.data + sent, out.len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            sent += (size_t)n;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            rc = wait_for(fd, POLLOUT, deadline, err);
        else if (n < 0 && errno != EINTR)
            rc = tfn_error_set(err, TFN_EIO, "send: %s", strerror(errno));
    }
    tfn__buf_free(&out);

    response_t r = {.body = response};
    http_parser parser;
    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = &r;
    static const http_parser_settings settings = {.on_body = on_body,
                                                  .on_message_complete = on_message_complete};
    char chunk[65536];
    while (rc == 0 && !r.done) {
        if ((rc = wait_for(fd, POLLIN, deadline, err)) != 0)
            break;
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = tfn_error_set(err, TFN_EIO, "recv: %s", strerror(errno));
            break;
        }
        /* n == 0 (EOF) is fed too: it completes a response delimited by the connection close. */
        size_t parsed = http_parser_execute(&parser, &settings, chunk, (size_t)n);
        if (r.error)
            rc = tfn_error_set(err, r.error, "response too large");
        else if (parsed != (size_t)n || HTTP_PARSER_ERRNO(&parser) != HPE_OK)
            rc = tfn_error_set(err, TFN_EPROTO, "malformed HTTP response: %s",
                               http_errno_description(HTTP_PARSER_ERRNO(&parser)));
        else if (n == 0 && !r.done)
            rc = tfn_error_set(err, TFN_EIO, "connection closed before the response ended");
    }
    close(fd);
    if (rc == 0)
        *status = parser.status_code;
    return rc;
}

int tfn__target_parse(const char *url, tfn__target_t *target, tfn_error_t *err)
{
    memset(target, 0, sizeof *target);
    if (strncmp(url, "unix:", 5) == 0) {
        target->unix_path = url + 5;
        return 0;
    }
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, strlen(url), 0, &u) != 0 || !(u.field_set & (1 << UF_HOST)))
        return tfn_error_set(err, TFN_EINVAL, "'%s' is not a URL like http://127.0.0.1:3000", url);
    if ((u.field_set & (1 << UF_SCHEMA)) &&
        strncmp(url + u.field_data[UF_SCHEMA].off, "http", u.field_data[UF_SCHEMA].len) != 0)
        return tfn_error_set(err, TFN_EINVAL, "'%s': only http:// URLs are supported", url);
    size_t hl = u.field_data[UF_HOST].len;
    if (hl >= sizeof target->host)
        return tfn_error_set(err, TFN_EINVAL, "'%s': host name too long", url);
    memcpy(target->host, url + u.field_data[UF_HOST].off, hl);
    target->host[hl] = '\0';
    target->port = (u.field_set & (1 << UF_PORT)) ? u.port : 80;
    return 0;
}
