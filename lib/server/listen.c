/*
 * listen.c — a worker's listeners: its own TCP and unix sockets, or those the supervisor hands
 * it. Each accepted connection goes to tfn__server_on_connection (http_server.c).
 */
#include <unistd.h>

#include "server/server_internal.h"

/* Listens on a socket inherited from the supervisor, already bound (and listening) and shared
 * with the other workers of the service: the kernel hands each new connection to one of the
 * workers waiting in accept (nginx's model). */
static int listen_inherited(tfn__server_t *server, int fd, bool tcp)
{
    int rc;
    uv_stream_t *stream;
    if (tcp) {
        uv_tcp_init(server->loop, &server->tcp);
        server->tcp.data = server;
        server->tcp_open = true;
        rc = uv_tcp_open(&server->tcp, fd);
        stream = (uv_stream_t *)&server->tcp;
    } else {
        uv_pipe_init(server->loop, &server->pipe, 0);
        server->pipe.data = server;
        server->pipe_open = true;
        rc = uv_pipe_open(&server->pipe, fd);
        stream = (uv_stream_t *)&server->pipe;
    }
    if (rc == 0)
        rc = uv_listen(stream, TFN__LISTEN_BACKLOG, tfn__server_on_connection);
    if (rc != 0) {
        tfn__log("error", "cannot listen on the inherited %s socket (fd %d): %s",
                 tcp ? "TCP" : "unix", fd, uv_strerror(rc));
        return TFN_EIO;
    }
    return 0;
}

int tfn__server_listen(tfn__server_t *server)
{
    const tfn__serve_config_t *cfg = &server->config;
    int rc;
    if (cfg->listen_tcp_fd > 0 && (rc = listen_inherited(server, cfg->listen_tcp_fd, true)))
        return rc;
    if (cfg->listen_fd > 0 && (rc = listen_inherited(server, cfg->listen_fd, false)))
        return rc;
    if (cfg->listen_fd > 0 || cfg->listen_tcp_fd > 0)
        return 0;
    if (cfg->host) {
        struct sockaddr_storage addr;
        if (uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&addr) != 0 &&
            uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&addr) != 0) {
            tfn__log("error", "cannot listen: '%s' is not an IPv4 or IPv6 address", cfg->host);
            return TFN_EINVAL;
        }
        uv_tcp_init(server->loop, &server->tcp);
        server->tcp.data = server;
        server->tcp_open = true;
        if ((rc = uv_tcp_bind(&server->tcp, (struct sockaddr *)&addr, 0)) != 0 ||
            (rc = uv_listen((uv_stream_t *)&server->tcp, TFN__LISTEN_BACKLOG,
                            tfn__server_on_connection)) != 0) {
            tfn__log("error", "cannot listen on %s:%d: %s", cfg->host, cfg->port, uv_strerror(rc));
            return TFN_EIO;
        }
    }
    if (cfg->unix_path) {
        uv_pipe_init(server->loop, &server->pipe, 0);
        server->pipe.data = server;
        server->pipe_open = true;
        unlink(cfg->unix_path); /* a stale socket from a previous run */
        if ((rc = uv_pipe_bind(&server->pipe, cfg->unix_path)) != 0 ||
            (rc = uv_listen((uv_stream_t *)&server->pipe, TFN__LISTEN_BACKLOG,
                            tfn__server_on_connection)) != 0) {
            tfn__log("error", "cannot listen on unix:%s: %s", cfg->unix_path, uv_strerror(rc));
            return TFN_EIO;
        }
    }
    return 0;
}

/* The port actually bound (the configured one, or the one the kernel picked for port 0). */
int tfn__server_port(tfn__server_t *server)
{
    struct sockaddr_storage addr;
    int len = sizeof addr;
    if (!server->tcp_open || uv_tcp_getsockname(&server->tcp, (struct sockaddr *)&addr, &len))
        return -1;
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

void tfn__server_stop_listening(tfn__server_t *server)
{
    if (server->tcp_open) {
        server->tcp_open = false;
        uv_close((uv_handle_t *)&server->tcp, NULL);
    }
    if (server->pipe_open) {
        server->pipe_open = false;
        uv_close((uv_handle_t *)&server->pipe, NULL);
        /* An inherited socket is the supervisor's: other workers still serve it. */
        if (server->config.unix_path && server->config.listen_fd <= 0)
            unlink(server->config.unix_path);
    }
}
