/*
 * Candidate 3: libevent 2.1 evhttp.
 *
 *   evhttp [--port P] [--unix PATH]
 *
 * GET /        -> 200 {"hello":"world"}
 * POST /echo   -> 200 with the request body (evhttp buffers the entity)
 * GET /async   -> 200 {"hello":"world"}, sent 1 ms later from an evtimer callback
 *
 * One event_base, one thread. evhttp adds Content-Length itself. A request
 * is owned by the application until evhttp_send_reply(); if the client went
 * away meanwhile, libevent has detached it and the reply just frees it.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char HELLO[] = "{\"hello\":\"world\"}";
static struct event_base *base;
static struct evbuffer *out; /* reused: evhttp_send_reply drains it */

typedef struct {
    struct event *ev;
    struct evhttp_request *req;
} async_t;

static void reply(struct evhttp_request *req, int code, const char *reason, const void *body, size_t len)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(out, body, len);
    evhttp_send_reply(req, code, reason, out);
}

static void async_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    async_t *a = arg;
    reply(a->req, 200, "OK", HELLO, sizeof HELLO - 1);
    event_free(a->ev);
    free(a);
}

static void on_req(struct evhttp_request *req, void *arg)
{
    (void)arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path)
        path = "";
    if (cmd == EVHTTP_REQ_GET && !strcmp(path, "/")) {
        reply(req, 200, "OK", HELLO, sizeof HELLO - 1);
    } else if (cmd == EVHTTP_REQ_POST && !strcmp(path, "/echo")) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
        evbuffer_add_buffer(out, evhttp_request_get_input_buffer(req));
        evhttp_send_reply(req, 200, "OK", out);
    } else if (cmd == EVHTTP_REQ_GET && !strcmp(path, "/async")) {
        async_t *a = malloc(sizeof *a);
        a->req = req;
        a->ev = evtimer_new(base, async_fire, a);
        struct timeval tv = {0, 1000};
        evtimer_add(a->ev, &tv);
    } else {
        reply(req, 404, "Not Found", "{}", 2);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    event_base_loopbreak(base);
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
    base = event_base_new();
    out = evbuffer_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, on_req, NULL);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    if (unix_path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", unix_path);
        unlink(unix_path);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 || listen(fd, SOMAXCONN) != 0 ||
            evutil_make_socket_nonblocking(fd) != 0 || evhttp_accept_socket(http, fd) != 0) {
            perror("listen");
            return 1;
        }
    } else if (evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)port) != 0) {
        perror("listen");
        return 1;
    }
    struct event *s1 = evsignal_new(base, SIGTERM, on_signal, NULL);
    struct event *s2 = evsignal_new(base, SIGINT, on_signal, NULL);
    event_add(s1, NULL);
    event_add(s2, NULL);
    event_base_dispatch(base);
    if (unix_path)
        unlink(unix_path);
    return 0;
}
