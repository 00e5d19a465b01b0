/*
 * client_conn_internal.h — the insides of the dependency client (client.c), shared with its
 * shared-memory part (client_shm.c). Nothing else includes this: the client's interface is
 * client_internal.h.
 */
#ifndef TIFFIN_CLIENT_CONN_INTERNAL_H
#define TIFFIN_CLIENT_CONN_INTERNAL_H

#include <http_parser.h>
#include <sys/un.h>

#include "codec/codec_internal.h"
#include "compose/client_internal.h"

typedef struct tfn__client_conn tfn__client_conn_t;

struct tfn__exchange {
    tfn__pool_t *pool;
    tfn__client_conn_t *conn;
    tfn__buf_t head, body; /* the request */
    uint64_t deadline;     /* uv_now() based */
    bool retry;            /* one resend is still allowed */
    int pending_error;     /* failed before it started: reported from the timer */
    tfn_error_t error;
    tfn__exchange_cb cb;
    void *arg;
    const tfn_value_t *value; /* a call's input, encoded on its connection; NULL: head+body ready */
    size_t head_base;         /* head->len without what the connection adds (value only) */
    tfn__shm_region_t *own;   /* the region its body points into (a reference); NULL: none */
};

struct tfn__client_conn {
    tfn__pool_t *pool;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } io;
    uv_timer_t timer;
    uv_connect_t connect_req;
    uv_getaddrinfo_t lookup;
    uv_write_t write_req;
    http_parser parser;
    tfn__client_conn_t *prev, *next;           /* every connection of the pool */
    tfn__client_conn_t *idle_prev, *idle_next; /* idle connections, most recently used first */
    uint64_t idle_since;                       /* uv_now() when it last became idle */
    tfn__exchange_t *ex;                       /* the exchange in progress, NULL when idle */
    tfn__response_t resp;
    char header_name[16];
    size_t header_name_len;
    bool in_content_type;
    bool connected, closing, idle, writing, got_bytes, message_done, looking_up;
    bool in_body; /* the head is parsed: what arrives now is body, read straight into it */
    int open_handles;
    /* The request of an exchange that left while its write was pending: libuv still reads it. */
    tfn__buf_t orphan_head, orphan_body;
    /* Shared memory (client_shm.c): own is where requests' tensors go, peer the server's
     * region for answers' tensors. */
    tfn__shm_pair_t shm;
    bool own_sent; /* the server has shm.own */
    bool send_own; /* shm.own goes with the head being sent */
    size_t resp_shm_len;
    bool leased; /* an answer points into its regions: not reused until released */
};

struct tfn__pool {
    uv_loop_t *loop;
    tfn__target_t target;
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const char *label;
    tfn__client_conn_t *conns, *idle;
    unsigned nopen, nidle;
    size_t idle_shm; /* bytes of shared regions the idle connections keep */
    bool freeing;
};

/* ---- client.c -------------------------------------------------------------------------------- */

/** Closes the connection (idempotent); it is freed once its handles are closed and no answer
 * leases it. */
void tfn__client_conn_close(tfn__client_conn_t *conn);
/** Frees the connection if nothing holds it any more (handles closed, no lease). */
void tfn__client_conn_maybe_free(tfn__client_conn_t *conn);
/** Puts the connection at the head of its pool's idle list. */
void tfn__client_idle_push(tfn__pool_t *pool, tfn__client_conn_t *conn);
/** The connection failed: its exchange is retried on a fresh connection if it may be, else it
 * fails with `code` and the message. */
void tfn__client_conn_fail(tfn__client_conn_t *conn, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- client_shm.c ---------------------------------------------------------------------------- */

/** Encodes the exchange's value on `conn`, the connection it first goes on: large tensors into
 * conn's region (a new, larger one when they do not fit). 0 or the encoder's error. */
int tfn__client_encode_value(tfn__client_conn_t *conn, tfn__exchange_t *ex);
/** Completes the head of a value exchange for the connection it goes on now. 0 or ENOMEM. */
int tfn__client_finish_head(tfn__client_conn_t *conn, tfn__exchange_t *ex);
/** The answer came with the server's new region (X-Tiffin-Shm): installs it; false (and the
 * exchange failed) when it is missing or not a region as announced. */
bool tfn__client_peer_region_received(tfn__client_conn_t *conn);
/** Parses (a piece of) an answer's X-Tiffin-Shm value. 0, or -1 for garbage. */
int tfn__client_shm_header(tfn__client_conn_t *conn, const char *at, size_t len);

#endif
