/*
 * Candidate 4: GNU libmicrohttpd 0.9.75.
 *
 *   mhd [--port P] [--unix PATH]
 *
 * GET /        -> 200 {"hello":"world"}
 * POST /echo   -> 200 with the request body
 * GET /async   -> 200 {"hello":"world"}, answered 1 ms later
 *
 * Threading: MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL (what
 * MHD_USE_EPOLL_INTERNAL_THREAD names) — one MHD-owned thread runs epoll and
 * every handler; the main thread only waits for SIGTERM/SIGINT.
 *
 * MHD has no timers or foreign-event hooks in that mode, so "respond later"
 * means MHD_suspend_connection() in the handler and MHD_resume_connection()
 * from some other thread (here a short-lived helper thread per request);
 * MHD then calls the handler again, which queues the response.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char HELLO[] = "{\"hello\":\"world\"}";
static struct MHD_Response *hello_resp, *notfound_resp; /* immutable, shared */

enum kind { ECHO, ASYNC };
typedef struct {
    enum kind kind;
    struct MHD_Connection *conn;
    int started;
    volatile int ready; /* async: set by the helper thread before resume */
    char *body;
    size_t len, cap;
} req_state_t;

static req_state_t plain_get, plain_404; /* markers: no per-request state needed */

static void *async_helper(void *arg)
{
    req_state_t *st = arg;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    st->ready = 1;
    MHD_resume_connection(st->conn); /* thread-safe; wakes MHD's loop through its ITC pipe */
    return NULL;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    req_state_t *st = *con_cls;
    if (st == NULL) {
        /* First call: headers only. Queueing a response here (before MHD has
         * consumed the request) makes 0.9.75 answer "Connection: close", so
         * even GET / is answered on the second call, as in MHD's examples. */
        if (!strcmp(method, "GET") && !strcmp(url, "/")) {
            *con_cls = &plain_get;
            return MHD_YES;
        }
        if (!strcmp(method, "POST") && !strcmp(url, "/echo")) {
            st = calloc(1, sizeof *st);
            st->kind = ECHO;
            *con_cls = st;
            return MHD_YES;
        }
        if (!strcmp(method, "GET") && !strcmp(url, "/async")) {
            st = calloc(1, sizeof *st);
            st->kind = ASYNC;
            st->conn = conn;
            *con_cls = st;
            return MHD_YES;
        }
        *con_cls = &plain_404;
        return MHD_YES;
    }
    if (st == &plain_get)
        return MHD_queue_response(conn, MHD_HTTP_OK, hello_resp);
    if (st == &plain_404)
        return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, notfound_resp);
    if (st->kind == ASYNC) {
        /* Suspend only once the request is fully read: suspending on the first
         * call works too, but then the late response is sent with
         * "Connection: close" (the request counts as not consumed). */
        if (!st->started) {
            st->started = 1;
            MHD_suspend_connection(conn);
            pthread_t t;
            pthread_create(&t, NULL, async_helper, st);
            pthread_detach(t);
            return MHD_YES;
        }
        if (!st->ready)
            return MHD_YES;
        return MHD_queue_response(conn, MHD_HTTP_OK, hello_resp);
    }
    if (*upload_size) { /* a chunk of the body */
        if (st->len + *upload_size > st->cap) {
            st->cap = (st->len + *upload_size) * 2;
            st->body = realloc(st->body, st->cap);
        }
        memcpy(st->body + st->len, upload, *upload_size);
        st->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(st->len, st->body ? st->body : "", MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req_state_t *st = *con_cls;
    if (st && st != &plain_get && st != &plain_404) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
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
    /* Block the signals before MHD starts its thread, then sigwait for them here. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    hello_resp = MHD_create_response_from_buffer(sizeof HELLO - 1, (void *)HELLO, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(hello_resp, "Content-Type", "application/json");
    notfound_resp = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(notfound_resp, "Content-Type", "application/json");

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d;
    if (unix_path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", unix_path);
        unlink(unix_path);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 || listen(fd, SOMAXCONN) != 0) {
            perror("listen");
            return 1;
        }
        d = MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    } else {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sin.sin_addr.s_addr = htonl(0x7f000001);
        d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sin,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    }
    if (!d) {
        fprintf(stderr, "MHD_start_daemon failed\n");
        return 1;
    }
    int sig;
    sigwait(&mask, &sig);
    MHD_stop_daemon(d);
    if (unix_path)
        unlink(unix_path);
    return 0;
}
