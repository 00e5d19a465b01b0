/*
 * client_shm.c — the shared-memory part of the dependency client (client.c): a call's value
 * encoded on the connection it goes on, its large tensors into that connection's region, and the
 * server's region received with an answer (client.c has the lease an answer holds).
 * docs/design.md, "Shared memory on one host", has the protocol and the lifetime rules 20–22.
 */
#include <stdio.h>
#include <string.h>

#include "compose/client_conn_internal.h"
#include "server/server_internal.h" /* descriptors over unix sockets: shm_conn.c */

typedef tfn__client_conn_t conn_t;

/* Encodes the exchange's value on `conn`, which is then the connection it goes on: large
 * tensors into conn's region (a new, larger one when they do not fit; it goes with the head). */
int tfn__client_encode_value(conn_t *conn, tfn__exchange_t *ex)
{
    bool shm = tfn__shm_enabled();
    /* Only our own region: a tensor of an answer that still lies in the server's region belongs
     * to a leased connection, never to this one, so there is nothing to point back at. */
    tfn__shm_pair_t regions = {.own = conn->shm.own};
    size_t need = shm ? tfn__wire_shm_need(ex->value, &regions) : 0;
    if (need == SIZE_MAX)
        shm = false;
    else if (need > 0 && (!conn->shm.own || conn->shm.own->len < need)) {
        tfn__shm_region_t *r;
        if (tfn__shm_region_create(tfn__shm_region_size(need), &r) == 0) {
            tfn__shm_region_unref(conn->shm.own);
            regions.own = conn->shm.own = r;
            conn->own_sent = false;
        } else
            shm = false; /* no shared memory to be had: inline */
    }
    int rc = shm ? tfn__wire_encode_shm(ex->value, &ex->body, &regions)
                 : tfn__wire_encode(ex->value, &ex->body);
    if (rc == 0 && shm && need > 0)
        ex->own = tfn__shm_region_ref(conn->shm.own);
    return rc;
}

/* Completes the head for the connection it goes on now: Content-Length, and the size of the
 * region sent with it (0: none, but we read references). */
int tfn__client_finish_head(conn_t *conn, tfn__exchange_t *ex)
{
    ex->head.len = ex->head_base;
    if (ex->own && conn->shm.own != ex->own) { /* a retry on a fresh connection: same region */
        tfn__shm_region_unref(conn->shm.own);
        conn->shm.own = tfn__shm_region_ref(ex->own);
        conn->own_sent = false;
    }
    conn->send_own = ex->own && !conn->own_sent;
    int rc = tfn__buf_printf(&ex->head, "Content-Length: %zu\r\n", ex->body.len);
    if (rc == 0 && tfn__shm_enabled())
        rc = tfn__buf_printf(&ex->head, TFN__SHM_HEADER ": %zu\r\n",
                             conn->send_own ? conn->shm.own->len : 0);
    return rc ? rc : tfn__buf_puts(&ex->head, "\r\n");
}

/* The answer came with the server's new region: it replaces the old one. False (the exchange
 * failed) when the descriptor is missing or not a region as announced. */
bool tfn__client_peer_region_received(conn_t *conn)
{
    int fd = conn->pool->target.unix_path ? tfn__pipe_take_fd(&conn->io.pipe) : -1;
    tfn_error_t err;
    tfn__shm_region_t *r = NULL;
    if (fd < 0)
        tfn_error_set(&err, TFN_EPROTO, "an answer announced shared memory without sending it");
    else if (tfn__shm_region_open(fd, conn->resp_shm_len, TFN__SHM_MAX_BYTES, &r, &err) == 0) {
        tfn__shm_region_unref(conn->shm.peer);
        conn->shm.peer = r;
        return true;
    }
    tfn__client_conn_fail(conn, TFN_EPROTO, "%s", err.message);
    return false;
}

/* X-Tiffin-Shm: the size of the region that came with the answer (digits, maybe split). */
int tfn__client_shm_header(conn_t *conn, const char *at, size_t len)
{
    uint64_t v = conn->resp_shm_len;
    if (tfn__header_digits(at, len, TFN__SHM_MAX_BYTES, &v) < 0)
        return -1;
    conn->resp_shm_len = (size_t)v;
    return 0;
}
