/*
 * floor_server — the cost of the loopback round trip itself.
 *
 * A single-threaded epoll server that does no HTTP parsing at all: it reads
 * whatever arrives, counts "\r\n\r\n" occurrences (one per request head; the
 * match survives reads that split the terminator) and writes one canned
 * HTTP/1.1 keep-alive response per occurrence, in order. Request bodies are
 * not understood, so this is only a floor for body-less requests (GET).
 *
 *   floor_server [--port P] [--host ADDR] [--unix PATH]
 *
 * --port defaults to 8080 on 127.0.0.1; --unix listens on a unix domain
 * socket instead (the path is unlinked before bind and on exit). A bare
 * number is taken as the port. SIGTERM and SIGINT end it cleanly (exit 0).
 *
 * Build: cc -O2 -std=c11 -D_GNU_SOURCE -o floor_server floor_server.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 17\r\n"
                               "\r\n"
                               "{\"hello\":\"world\"}";
#define RESPONSE_LEN (sizeof(RESPONSE) - 1)
#define MAX_PENDING (4u << 20) /* stop reading while this much output is queued */

struct conn {
    int fd;
    int match; /* how many bytes of "\r\n\r\n" the stream currently ends with */
    int want_out;
    int eof; /* peer shut down its side: close once the queued output is written */
    char *out;
    size_t out_len, out_off, out_cap;
};

static int epfd = -1;

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--port P] [--host ADDR] [--unix PATH]\n", prog);
    exit(2);
}

static void conn_close(struct conn *c)
{
    close(c->fd); /* also removes it from the epoll set */
    free(c->out);
    free(c);
}

static void conn_set_events(struct conn *c)
{
    struct epoll_event ev = {.data.ptr = c};
    ev.events = (!c->eof && c->out_len - c->out_off < MAX_PENDING ? EPOLLIN : 0) |
                (c->out_off < c->out_len ? EPOLLOUT : 0) | (c->eof ? 0 : EPOLLRDHUP);
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Returns -1 when the connection is dead. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->eof)
            return -1;
    }
    int want_out = c->out_off < c->out_len;
    if (want_out != c->want_out || want_out) {
        c->want_out = want_out;
        conn_set_events(c);
    }
    return 0;
}

static int conn_queue(struct conn *c, size_t nresp)
{
    size_t need = c->out_len + nresp * RESPONSE_LEN;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    for (size_t i = 0; i < nresp; i++, c->out_len += RESPONSE_LEN)
        memcpy(c->out + c->out_len, RESPONSE, RESPONSE_LEN);
    return 0;
}

/* Returns -1 when the connection should be closed. */
static int conn_readable(struct conn *c)
{
    static const char term[] = "\r\n\r\n";
    char buf[65536];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n == 0) {
            c->eof = 1;
            break;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        size_t nresp = 0;
        int m = c->match;
        for (ssize_t i = 0; i < n; i++) {
            char ch = buf[i];
            if (ch == term[m]) {
                if (++m == 4) {
                    nresp++;
                    m = 0;
                }
            } else {
                m = ch == '\r' ? 1 : 0;
            }
        }
        c->match = m;
        if (nresp && conn_queue(c, nresp) < 0)
            return -1;
        if ((size_t)n < sizeof buf)
            break;
    }
    return conn_flush(c);
}

static int make_listener(const char *host, int port, const char *unix_path)
{
    int fd, one = 1;
    if (unix_path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(unix_path) >= sizeof sun.sun_path) {
            fprintf(stderr, "unix socket path too long\n");
            return -1;
        }
        strcpy(sun.sun_path, unix_path);
        unlink(unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
            goto fail;
    } else {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
            fprintf(stderr, "bad IPv4 address: %s\n", host);
            return -1;
        }
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            goto fail;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
        if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
            goto fail;
    }
    if (listen(fd, SOMAXCONN) < 0)
        goto fail;
    return fd;
fail:
    perror("listen");
    if (fd >= 0)
        close(fd);
    return -1;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *unix_path = NULL;
    int port = 8080;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--host") && i + 1 < argc)
            host = argv[++i];
        else if (!strcmp(argv[i], "--unix") && i + 1 < argc)
            unix_path = argv[++i];
        else if (argv[i][0] >= '0' && argv[i][0] <= '9')
            port = atoi(argv[i]);
        else
            usage(argv[0]);
    }
    if (!unix_path && (port <= 0 || port > 65535))
        usage(argv[0]);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    int lfd = make_listener(host, port, unix_path);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || lfd < 0 || epfd < 0)
        return 1;

    /* data.ptr == NULL marks the listener, &sfd marks the signalfd. */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.ptr = &sfd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);

    int running = 1;
    struct epoll_event evs[256];
    while (running) {
        int n = epoll_wait(epfd, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &sfd) {
                running = 0;
            } else if (p == NULL) {
                for (;;) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0)
                        break;
                    struct conn *c = calloc(1, sizeof *c);
                    if (!c) {
                        close(cfd);
                        continue;
                    }
                    c->fd = cfd;
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
                }
            } else {
                struct conn *c = p;
                int dead = 0;
                if (evs[i].events & EPOLLERR)
                    dead = 1;
                if (!dead && (evs[i].events & EPOLLOUT))
                    dead = conn_flush(c) < 0;
                if (!dead && !c->eof && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
                    dead = conn_readable(c) < 0;
                else if (!dead && (evs[i].events & EPOLLHUP))
                    dead = 1;
                if (dead)
                    conn_close(c); /* a closed fd reports no further events in this batch */
            }
        }
    }
    close(lfd);
    if (unix_path)
        unlink(unix_path);
    /* Open connections are reclaimed by process exit. */
    return 0;
}
