/*
 * fuzz_http.c — libFuzzer target for the whole HTTP request path of a worker: http-parser and
 * its callbacks (head limits, headers kept, bodies, chunked encoding, pipelining), dispatch's
 * routing (operational endpoints, the protocols' routes: /schema.json, /v2/...; APIs), decoding
 * and validation, handlers and the answer.
 *
 * A real server (tfn__server_new, the protocol routes of the program) listens on a unix socket of
 * its own; each input is written to a fresh connection, the write side is shut, and the loop runs
 * until the server has closed the connection. Checked: every answer the server sends begins with
 * an HTTP/1.1 status line, and nothing crashes, leaks (LeakSanitizer at exit) or hangs.
 * Run: build/fuzz/fuzz_http fuzz/corpus/http
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "protocols/protocols_internal.h"
#include "server/server_internal.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_http: %s failed at line %d\n", #cond, __LINE__);                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int echo(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    *out = (tfn_value_t *)in;
    return 0;
}

static int first(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *x = tfn_object_get(in, "x");
    if (tfn_tensor_nbytes(x) < sizeof(float))
        return tfn_ctx_fail(ctx, TFN_EINVAL, "x is empty");
    *out = tfn_float(tfn_ctx_arena(ctx), ((const float *)tfn_tensor_data(x))[0]);
    return *out ? 0 : TFN_ENOMEM;
}

static const tfn_field_t echo_in[] = {{.name = "value", .type = TFN_TYPE_ANY, .optional = true},
                                      {.name = "s", .type = TFN_TYPE_STRING, .optional = true},
                                      {0}};
static const tfn_field_t first_in[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {-1, 3}},
    {.name = "k", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_I64, .optional = true},
    {0}};
static const tfn_api_t apis[] = {
    {.name = "echo", .handler = echo, .inputs = echo_in, .output = TFN_TYPE_OBJECT},
    {.name = "first", .handler = first, .inputs = first_in, .output = TFN_TYPE_FLOAT},
    {0}};
static const tfn_service_t service = {.name = "Fuzz", .apis = apis,
                                      .traffic = {.max_body_bytes = 1 << 20}};

static uv_loop_t loop;
static tfn__server_t *server;
static char path[108];

static void cleanup(void)
{
    tfn__server_stop_listening(server);
    tfn__server_close_all(server);
    while (uv_run(&loop, UV_RUN_NOWAIT))
        ;
    tfn__server_free(server);
    uv_loop_close(&loop);
}

static void setup(void)
{
    REQUIRE(uv_loop_init(&loop) == 0);
    snprintf(path, sizeof path, "/tmp/tiffin-fuzz-http-%d.sock", (int)getpid());
    tfn__serve_config_t config = {.unix_path = path, .quiet = true,
                                  .routes = tfn__protocol_routes};
    tfn_error_t err;
    server = tfn__server_new(&loop, &service, &config, false, &err);
    REQUIRE(server);
    REQUIRE(tfn__server_listen(server) == 0);
    server->ready = true; /* no init hook */
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!server)
        setup();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, path, strlen(path) + 1);
    REQUIRE(connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    size_t sent = 0, got = 0;
    char head[16] = {0};
    bool eof = false, shut = false;
    for (long spins = 0; !eof || server->nconns > 0; spins++) {
        REQUIRE(spins < 10000000); /* a hang: the server never closed the connection */
        if (sent < size) {
            ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = size; /* the server has closed: stop sending */
        } else if (!shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        char buf[65536];
        ssize_t n;
        while (!eof && (n = recv(fd, buf, sizeof buf, 0)) != 0) {
            if (n < 0) {
                if (errno != EAGAIN)
                    eof = true; /* reset by the server */
                break;
            }
            if (got < sizeof head - 1)
                memcpy(head + got, buf, (size_t)n < sizeof head - 1 - got ? (size_t)n
                                                                          : sizeof head - 1 - got);
            got += (size_t)n;
        }
        if (n == 0)
            eof = true;
        if (eof && fd >= 0) {
            close(fd); /* the server sees EOF and closes its side */
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    if (got >= 9)
        REQUIRE(memcmp(head, "HTTP/1.1 ", 9) == 0);
    return 0;
}
