/*
 * shm_conn.c — passing one descriptor (a connection's shared-memory region, lib/codec/shm.c) along
 * with the head of an HTTP message on a unix socket, for servers (answers) and the dependency
 * client (requests). See docs/design.md, "Shared memory on one host".
 *
 * Sending bypasses libuv: the head goes out with sendmsg and SCM_RIGHTS, which is only correct
 * while nothing is queued on the stream (the caller checks). Receiving needs a pipe opened with
 * ipc = 1, on which libuv uses recvmsg and queues the descriptors that arrive; taking one goes
 * through uv_accept into a throwaway pipe handle, the only public way out of that queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server_internal.h"

/* Sends `data` with `fd` attached (SCM_RIGHTS) now: the bytes sent, or a negative libuv error. */
static ssize_t send_with_fd(uv_stream_t *stream, const void *data, size_t len, int fd)
{
    uv_os_fd_t sock;
    if (uv_fileno((uv_handle_t *)stream, &sock) != 0)
        return UV_EBADF;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? uv_translate_sys_error(errno) : n;
}

int tfn__try_write_with_fd(uv_stream_t *stream, uv_buf_t *bufs, unsigned nbufs, int fd)
{
    ssize_t sent = send_with_fd(stream, bufs[0].base, bufs[0].len, fd);
    if (sent <= 0) /* not one byte on a stream with nothing queued: it is broken */
        return sent < 0 ? (int)sent : UV_EPIPE;
    if ((size_t)sent < bufs[0].len || nbufs < 2)
        return (int)sent;
    int m = uv_try_write(stream, bufs + 1, nbufs - 1);
    if (m < 0 && m != UV_EAGAIN)
        return m;
    return (int)sent + (m > 0 ? m : 0);
}

static void free_handle(uv_handle_t *handle) { free(handle); }

int tfn__pipe_take_fd(uv_pipe_t *pipe)
{
    if (!pipe->ipc || uv_pipe_pending_count(pipe) <= 0)
        return -1;
    uv_pipe_t *tmp = malloc(sizeof *tmp);
    if (!tmp || uv_pipe_init(pipe->loop, tmp, 0) != 0) {
        free(tmp);
        return -1;
    }
    int fd = -1;
    uv_os_fd_t held;
    if (uv_accept((uv_stream_t *)pipe, (uv_stream_t *)tmp) == 0 &&
        uv_fileno((uv_handle_t *)tmp, &held) == 0)
        fd = fcntl(held, F_DUPFD_CLOEXEC, 3);
    uv_close((uv_handle_t *)tmp, free_handle); /* closes libuv's copy of the descriptor */
    return fd;
}

void tfn__pipe_drop_fds(uv_pipe_t *pipe)
{
    int fd;
    while ((fd = tfn__pipe_take_fd(pipe)) >= 0)
        close(fd);
}

bool tfn__shm_enabled(void)
{
    static int on = -1;
    if (on < 0) {
        const char *v = getenv("TFN_SHM");
        on = !(v && strcmp(v, "off") == 0);
    }
    return on;
}

/* ---------------------------------------------------------------------------------------------
 * A server's side of a connection
 * ------------------------------------------------------------------------------------------- */

void tfn__conn_shm_received(tfn__conn_t *conn)
{
    if (!conn->shm_len)
        return;
    /* The client's new region: requests refer to it from now on (the old one stays mapped for
     * the requests that still point into it). */
    tfn__shm_region_unref(conn->shm.peer);
    conn->shm.peer = NULL;
    int fd = tfn__pipe_take_fd(&conn->io.pipe);
    if (fd < 0) {
        tfn_error_set(&conn->shm_error, TFN_EBADWIRE,
                      TFN__SHM_HEADER " announced %zu bytes of shared memory, and no descriptor "
                                      "came with the request",
                      conn->shm_len);
        conn->shm_close = true;
        return;
    }
    if (tfn__shm_region_open(fd, conn->shm_len, TFN__SHM_MAX_BYTES, &conn->shm.peer,
                             &conn->shm_error) != 0)
        conn->shm_close = true; /* the client must start again on a new connection */
}

int tfn__conn_shm_encode(tfn__conn_t *conn, const tfn__request_t *req, const tfn_value_t *v,
                         tfn__buf_t *out, char *headers, size_t cap)
{
    headers[0] = '\0';
    if (!conn || !req->shm_ok || conn->closing || !tfn__shm_enabled())
        return tfn__wire_encode(v, out);
    /* An answer whose input pointed into our own region (a tensor of an earlier answer, sent
     * back): writing this answer there could overwrite what it is made of. Inline. */
    if (req->shm.own)
        return tfn__wire_encode(v, out);
    size_t need = tfn__wire_shm_need(v, &conn->shm);
    if (need == SIZE_MAX)
        return tfn__wire_encode(v, out);
    if (need > 0 && (!conn->shm.own || conn->shm.own->len < need)) {
        /* A new region goes with the head, which must then be the next bytes on the socket. */
        tfn__shm_region_t *r;
        if (conn->send_own || tfn__conn_unsent(conn) != 0 ||
            tfn__shm_region_create(tfn__shm_region_size(need), &r) != 0)
            return tfn__wire_encode(v, out);
        tfn__shm_region_unref(conn->shm.own);
        conn->shm.own = r;
        conn->send_own = true;
        snprintf(headers, cap, TFN__SHM_HEADER ": %zu\r\n", r->len);
    }
    int rc = tfn__wire_encode_shm(v, out, &conn->shm);
    if (rc != 0) { /* the answer is an error now: the region waits for the next one */
        conn->send_own = false;
        headers[0] = '\0';
        if (conn->shm.own && need > 0) { /* the client never heard of it: drop it */
            tfn__shm_region_unref(conn->shm.own);
            conn->shm.own = NULL;
        }
    }
    return rc;
}
