/*
 * Candidate 2: libh2o-evloop (h2o 2.2.5, h2o's own epoll loop).
 *
 *   h2o_evloop [--port P] [--unix PATH]
 *
 * GET /        -> 200 {"hello":"world"}
 * POST /echo   -> 200 with the request body (h2o buffers the entity)
 * GET /async   -> 200 {"hello":"world"}, sent 1 ms later from an h2o_timeout callback
 *
 * One h2o_evloop, one thread. Async responses use the generator API:
 * h2o_start_response() now, h2o_send(..., FINAL) later; h2o calls the
 * generator's stop() if the request dies first.
 */
#define H2O_USE_EPOLL 1
#include <h2o.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static const char HELLO[] = "{\"hello\":\"world\"}";

static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static h2o_timeout_t async_timeout; /* h2o 2.2 timeouts are queues with a fixed delay */
static volatile sig_atomic_t stop_requested;

typedef struct {
    h2o_generator_t super;
    h2o_timeout_entry_t timer;
    h2o_req_t *req;
} async_gen_t;

/* h2o_send_inline() deliberately leaves content_length unset (HTTP/1.1 would go
 * chunked), so every response sets it. */
static void set_json(h2o_req_t *req, int status, const char *reason, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
}

static void async_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    (void)g;
    (void)req; /* single final send: nothing more to produce */
}

static void async_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    async_gen_t *a = (async_gen_t *)g;
    if (h2o_timeout_is_linked(&a->timer))
        h2o_timeout_unlink(&a->timer);
}

static void async_fire(h2o_timeout_entry_t *entry)
{
    async_gen_t *a = H2O_STRUCT_FROM_MEMBER(async_gen_t, timer, entry);
    h2o_iovec_t body = h2o_iovec_init(HELLO, sizeof HELLO - 1);
    h2o_send(a->req, &body, 1, H2O_SEND_STATE_FINAL);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    int is_get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    int is_post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    h2o_iovec_t path = req->path_normalized;
    if (is_get && h2o_memis(path.base, path.len, H2O_STRLIT("/"))) {
        set_json(req, 200, "OK", sizeof HELLO - 1);
        h2o_send_inline(req, HELLO, sizeof HELLO - 1);
    } else if (is_post && h2o_memis(path.base, path.len, H2O_STRLIT("/echo"))) {
        size_t len = req->entity.base ? req->entity.len : 0;
        set_json(req, 200, "OK", len);
        h2o_send_inline(req, len ? req->entity.base : "", len);
    } else if (is_get && h2o_memis(path.base, path.len, H2O_STRLIT("/async"))) {
        async_gen_t *a = h2o_mem_alloc_pool(&req->pool, sizeof *a); /* freed with the request */
        memset(a, 0, sizeof *a);
        a->super.proceed = async_proceed;
        a->super.stop = async_stop;
        a->req = req;
        a->timer.cb = async_fire;
        set_json(req, 200, "OK", sizeof HELLO - 1);
        h2o_start_response(req, &a->super);
        h2o_timeout_link(ctx.loop, &async_timeout, &a->timer);
    } else {
        set_json(req, 404, "Not Found", 2);
        h2o_send_inline(req, H2O_STRLIT("{}"));
    }
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    if ((sock = h2o_evloop_socket_accept(listener)) == NULL)
        return;
    h2o_accept(&accept_ctx, sock);
}

static int create_listener(int port, const char *unix_path)
{
    int fd, one = 1;
    if (unix_path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", unix_path);
        unlink(unix_path);
        if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
            return -1;
    } else {
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
            bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
            return -1;
    }
    if (listen(fd, SOMAXCONN) != 0)
        return -1;
    h2o_socket_t *sock = h2o_evloop_socket_create(ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(sock, on_accept);
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
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
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: epoll_wait returns */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    h2o_config_init(&config);
    h2o_hostconf_t *hostconf = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof *handler);
    handler->on_req = on_req;

    h2o_context_init(&ctx, h2o_evloop_create(), &config);
    h2o_timeout_init(ctx.loop, &async_timeout, 1);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;
    if (create_listener(port, unix_path) != 0) {
        perror("listen");
        return 1;
    }
    while (!stop_requested && h2o_evloop_run(ctx.loop, 100) == 0)
        ;
    if (unix_path)
        unlink(unix_path);
    return 0;
}
