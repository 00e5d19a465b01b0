/*
 * server_internal.h — one worker's HTTP server: listeners, connections, requests.
 *
 * Ownership (see docs/design.md, "Lifetime rules"):
 *   server 1──* connection 1──0..1 request
 * A connection owns its parser state and the buffers of the request being read. Once a request
 * is complete it becomes a tfn__request that owns its arena and body; the connection points to it
 * while it is active. A request may outlive its connection (client went away while the handler
 * ran): then its `conn` is NULL and its response is dropped.
 */
#ifndef TIFFIN_SERVER_INTERNAL_H
#define TIFFIN_SERVER_INTERNAL_H

#include <http_parser.h>
#include <stdbool.h>
#include <uv.h>

#include "codec/codec_internal.h"
#include "core/buf_internal.h"
#include "core/coro_internal.h"
#include "core/log_internal.h"
#include "observe/metrics_internal.h"
#include "observe/trace_internal.h"
#include "tiffin.h"

/* The header a caller sends with what is left of its deadline, in milliseconds. */
#define TFN__DEADLINE_HEADER "X-Tiffin-Deadline-Ms"
/* Connections a listener queues before accepting (the kernel caps it at net.core.somaxconn): a
 * unix socket refuses the next at once (EAGAIN), where TCP would retransmit its SYN. */
#define TFN__LISTEN_BACKLOG 4096

/* Limits of the request head (request line + headers). */
#define TFN__MAX_URL          4096
#define TFN__MAX_HEADER_BYTES 65536
#define TFN__MAX_HEADER_VALUE 1024

/** Most --batch (and most --max-latency-ms) arguments a worker takes. */
#define TFN__MAX_BATCH_ARGS 8

typedef struct tfn__server tfn__server_t;
typedef struct tfn__conn tfn__conn_t;
typedef struct tfn__request tfn__request_t;

/**
 * How a protocol other than tiffin's own reads an API's input from a request body and writes
 * its output (KServe v2's infer, lib/protocols/kserve_v2.c). Both run on the loop; memory comes
 * from the request's arena (tfn__request_arena), and `state` is the protocol's, per request.
 */
typedef struct tfn__codec {
    /** Decodes `body` (the whole request body) into the API's input object. 0, or a TFN_E*
     *  code with *err (answered as tiffin's JSON error). */
    int (*decode)(tfn__request_t *req, void *state, const char *body, size_t len,
                  tfn_value_t **input, tfn_error_t *err);
    /** Encodes the handler's (validated) output into `out`; sets the media type (up to 63
     *  bytes) and may append header lines to `headers` (a buffer of 256 bytes). */
    int (*encode)(tfn__request_t *req, void *state, const tfn_value_t *output, tfn__buf_t *out,
                  char *content_type, char *headers, tfn_error_t *err);
} tfn__codec_t;

/**
 * A route that a layer above the server adds (lib/protocols: BentoML's schema, KServe v2, the
 * docs page), consulted by tfn__dispatch before its own endpoints and the APIs — as the hooks
 * below, it keeps the layering one-way. `path` matches exactly, or as a prefix when `prefix`.
 * `serve` answers on `conn` (at once or later, e.g. through tfn__dispatch_api_with) and returns
 * true; or returns false to let dispatch go on (e.g. GET / that does not ask for HTML). It may
 * take `body` (moved). Arrays of routes end with a {0} entry.
 */
typedef struct tfn__route {
    const char *path;
    bool prefix;
    bool (*serve)(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                  bool keep_alive);
} tfn__route_t;

/** Where and how a worker serves; filled by the CLI from flags and the service's defaults. */
typedef struct tfn__serve_config {
    const char *host;      /* TCP host; NULL with port 0 means no TCP listener */
    int port;              /* TCP port; 0 picks a free one (printed) when host is set */
    const char *unix_path; /* unix socket path; NULL for none */
    tfn_traffic_t traffic; /* resolved: no zero fields */
    unsigned threads;      /* resolved handler thread count */
    bool quiet;            /* no start-up banner */
    /* Addresses of dependencies, "NAME=URL" (http://HOST:PORT or unix:/PATH), from --depends or
     * the supervisor; they override tfn_dependency_t.url. Borrowed (argv). */
    const char *const *depends;
    size_t ndepends;
    bool max_queue_set; /* traffic.max_queue was given (0 included): no service default */
    /* A worker of a supervised graph (supervisor.c) is handed its listening sockets, already
     * bound and shared by every worker of its service, instead of binding them itself; 0: none
     * (fd 0 is never one). */
    int listen_fd;         /* a unix socket */
    int listen_tcp_fd;     /* a TCP socket (the entry) */
    int notify_fd;         /* where to write "ready\n" once /readyz would answer 200; 0: none */
    unsigned worker_index; /* tfn_worker_index */
    const struct tfn__server_hooks *hooks; /* the layers above (compose); NULL: none */
    /* --batch and --max-latency-ms arguments, "N" or "API=N", in order; borrowed (argv).
     * Checked by tfn__batch_check_args (batch_internal.h). */
    const char *batch_args[TFN__MAX_BATCH_ARGS];
    size_t nbatch_args;
    const char *latency_args[TFN__MAX_BATCH_ARGS];
    size_t nlatency_args;
    /* Observability (observe.c): the access log ("-": stdout; NULL: none), and the metrics
     * region the supervisor shares (fd 0: a private one) with this worker's slot in it. */
    const char *access_log;
    int metrics_fd;
    unsigned metrics_slot, metrics_gen;
    const tfn__route_t *routes; /* the protocols' routes (lib/protocols); NULL: none */
} tfn__serve_config_t;

/** Most --depends a worker takes. */
#define TFN__MAX_DEPENDS 64

/**
 * Set by the supervisor for the workers of a service with a worker range: once ready, the worker
 * keeps its notify pipe and writes "load IN_FLIGHT QUEUED\n" every this many milliseconds (its
 * handlers running and requests waiting for a slot), from which the supervisor scales.
 */
#define TFN__LOAD_REPORT_ENV "TFN_LOAD_REPORT_MS"

/** Where a response goes when the request came from a caller in this process (test graphs). */
typedef void (*tfn__sink_fn)(void *arg, tfn__response_t *resp);

/** A dependency of a worker, as the docs page's graph shows it (tfn__server_hooks_t). */
typedef struct tfn__dep_view {
    const char *name;    /* as handlers call it */
    const char *service; /* its service's name, when defined in this program; else NULL */
    const char *url;     /* where it is reached */
    bool ready;          /* its /readyz answered 200 last time */
    const char *why;     /* why not, when not ready */
} tfn__dep_view_t;

/**
 * What a layer above the server hangs on a worker and its requests. The server calls these and
 * knows nothing else of that layer, so the layering stays one-way (server below, compose above;
 * as libuv's close callbacks or nginx's module hooks). Compose's are tfn__compose_hooks
 * (compose/compose_internal.h); the program (cli.c) and test graphs (testing.c) pass them in
 * tfn__serve_config_t. Every hook may be NULL; so may the table (a worker with no dependencies).
 */
typedef struct tfn__server_hooks {
    /** The worker is being created: set up what it needs. 0, or a TFN_E* code with *err. */
    int (*open)(tfn__server_t *server, tfn_error_t *err);
    /** The worker starts serving (its loop is running). */
    void (*start)(tfn__server_t *server);
    /** The drain is over: stop and close what `start` began (handles on the loop). */
    void (*close)(tfn__server_t *server);
    /** The worker is being freed (its loop has no more handles of this layer). */
    void (*free)(tfn__server_t *server);
    /** Is the worker ready as far as this layer knows? If not, and `why` is given, why. */
    bool (*ready)(const tfn__server_t *server, char *why, size_t len);
    /** A request's handler has returned (on the loop). */
    void (*request_returned)(tfn__request_t *req);
    /** A request is being freed. */
    void (*request_free)(tfn__request_t *req);
    /** The worker's dependency `i` (from 0) as this layer sees it, for the docs page's graph:
     *  false when there is no such dependency. Strings stay valid while the worker runs. */
    bool (*dependency)(const tfn__server_t *server, size_t i, tfn__dep_view_t *view);
    /** Nobody wants a request's answer any more (client gone, deadline passed, caller gave up):
     * cancel what it still has in flight. On the loop, never from inside a coroutine. */
    void (*request_cancelled)(tfn__request_t *req);
} tfn__server_hooks_t;

/** The worker handed to init/shutdown hooks. */
struct tfn_worker {
    const tfn_service_t *service;
    unsigned index;
    void *state;
    tfn_error_t error;
};

struct tfn__server {
    uv_loop_t *loop;
    const tfn_service_t *service;
    tfn__serve_config_t config;
    struct tfn_worker worker;

    uv_tcp_t tcp;
    uv_pipe_t pipe;
    bool tcp_open, pipe_open;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t drain_timer;
    uv_timer_t trim_timer; /* returns memory after a burst (worker.c); data NULL: not in use */
    uint64_t last_idle_ms; /* uv_now() when in_flight last fell to 0 */
    uv_work_t init_work;
    int init_rc;

    bool ready;         /* init finished successfully */
    bool quiescing;     /* SIGTERM seen: not accepting; fresh connections may still send one */
    bool draining;      /* no new requests */
    bool stopping;      /* closing every handle; the loop is about to end */
    unsigned in_flight; /* handlers started and not yet returned */
    tfn__request_t *queue_head, *queue_tail; /* waiting for a handler slot (max_queue) */
    unsigned queued;
    uint64_t served; /* responses sent, for /healthz */
    uint64_t started_ms;

    /* Compose's per-worker state (deps.c), opaque here: the service's dependencies in
     * declaration order and the timer that probes their /readyz. */
    struct tfn__dep *deps;
    size_t ndeps;
    uv_timer_t notify_timer; /* until the supervisor has been told we are ready */
    bool notify_started;
    uint32_t load_report_ms; /* then, load reports this often (TFN__LOAD_REPORT_ENV); 0: none */
    bool notified_serving;
    uv_timer_t probe_timer; /* deps.c: asks each dependency's /readyz */
    bool probe_started;
    bool local_deps; /* a test graph: dependencies are instances in this process */

    tfn__conn_t *conns;         /* intrusive doubly linked list of open connections */
    unsigned nconns;            /* how many: at traffic.max_connections new ones are refused */
    uint64_t refused;           /* connections refused over the cap since it was last logged */
    uint64_t refused_logged_ms; /* when the cap was last logged (rate-limited) */
    tfn__coro_pool_t *coros;
    struct tfn__batcher *batcher; /* batch.c: batched APIs' queues; NULL when none */
    struct tfn__tasks *tasks;     /* tasks.c: the task store and waiting tasks; NULL: none yet */
    char *openapi_json;           /* generated once, on first request of /docs.json */
    size_t openapi_len;
    int exit_code;

    /* Observability (observe.c); all off (NULL, -1, false) with TFN_OBSERVE=off. */
    tfn__metrics_region_t *metrics; /* the graph's shared region, or this worker's own */
    tfn__metrics_slot_t *slot;      /* this worker's numbers in it */
    bool tracing;                   /* traceparent in and out, Server-Timing */
    int access_log_fd;              /* -1: no access log */
};

struct tfn__conn {
    tfn__server_t *server;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } io;
    tfn__conn_t *prev, *next;
    http_parser parser;
    uv_timer_t linger;     /* bounds a graceful close (see conn_close_gracefully) */
    tfn__buf_t in;         /* received bytes the parser has not consumed yet */
    bool reading;          /* uv_read_start is in effect */
    bool in_parser;        /* inside http_parser_execute: callbacks must not re-enter it */
    bool busy;             /* a complete request awaits its response; parsing is paused */
    bool lingering;        /* response sent, write side shut: discarding input until EOF */
    bool receiving;        /* a request has begun and is not complete yet (read timeout) */
    uint64_t last_read_ms; /* uv_now() of the last parse pass: the read and idle timeouts */
    bool in_body;          /* its head is parsed and a Content-Length body is being read */
    bool reading_body;     /* the current read goes straight into `body` (on_alloc) */
    bool closing;          /* uv_close called */
    bool peer_eof;         /* the client half-closed with pipelined requests still to answer */
    unsigned requests;     /* requests read on it so far */
    int open_handles;      /* the stream and the timer; freed when both are closed */
    uv_shutdown_t shutdown;

    /* The request head being parsed. */
    char url[TFN__MAX_URL];
    size_t url_len;
    char header_name[32]; /* only short names interest us; longer ones are skipped */
    size_t header_name_len;
    bool header_name_overflow;
    int header_kind; /* which interesting header the current value belongs to */
    char content_type[TFN__MAX_HEADER_VALUE];
    char accept[TFN__MAX_HEADER_VALUE];
    char traceparent[64]; /* W3C Trace Context; a value that does not fit is dropped */
    char tracestate[TFN__TRACESTATE_MAX + 1];
    bool traceparent_bad, tracestate_bad; /* too long, or repeated (traceparent) */
    unsigned tracestate_headers;
    uint32_t deadline_ms; /* X-Tiffin-Deadline-Ms: what the caller has left; 0 = none */
    /* Inference-Header-Content-Length (KServe v2's binary tensors): the JSON part's length;
     * SIZE_MAX when absent. */
    size_t infer_header_len;
    bool expect_continue;
    bool in_head;             /* the request head has begun and is not complete (head timeout) */
    bool head_only;           /* a HEAD request: its response carries no body */
    uint64_t head_started_ms; /* uv_now() when this request's first byte was parsed */
    size_t head_bytes;
    tfn__buf_t body;
    int parse_error; /* a TFN_E* code set by a callback that stopped the parser */
    char parse_message[TFN_ERROR_MESSAGE_MAX];

    tfn__request_t *active; /* request being handled by a handler, if any */

    /* Shared memory with a tiffin client on a unix socket (shm_conn.c; design.md "Shared memory
     * on one host"): announced by X-Tiffin-Shm on a request. */
    bool shm_announced;    /* this request's head had X-Tiffin-Shm: its client reads references */
    size_t shm_len;        /* the size it announced (0: no region sent) */
    tfn__shm_pair_t shm;   /* own: answers' tensors; peer: the client's requests' tensors */
    bool send_own;         /* shm.own goes with the next answer's head (a new region) */
    bool shm_close;        /* its region was refused: close after this answer */
    tfn_error_t shm_error; /* why (the request's error if its references fail) */
};

struct tfn_ctx {
    tfn__request_t *request;
};

/**
 * Where the pieces of a streaming API go when its caller is in this process (stream_call.c in a
 * test graph), instead of a connection. Set on the request by the caller right after
 * tfn__dispatch_local; cleared (with `sink`) when the caller goes away.
 */
typedef struct tfn__stream_sink {
    void (*piece)(void *arg, const char *json, size_t len); /* one piece, as JSON text */
    void (*end)(void *arg, const tfn_error_t *err);         /* err NULL: ended well */
    size_t (*queued)(void *arg);                            /* bytes not read yet */
} tfn__stream_sink_t;

struct tfn__request {
    tfn__server_t *server;
    tfn__conn_t *conn; /* NULL once the connection has gone */
    tfn__sink_fn sink; /* or: where the answer goes, for a caller in this process */
    void *sink_arg;
    tfn_future_t *futures; /* dependency calls the handler made (call.c) */
    tfn__shm_pair_t shm;   /* the regions its input points into (references held) */
    bool shm_ok;           /* its caller reads references into shared memory (X-Tiffin-Shm) */
    struct tfn__nap *nap;  /* the handler's tfn_sleep in progress, or NULL (call.c) */
    uint32_t timeout_ms;   /* the handler's deadline, from now: config or caller's, less */
    tfn_arena_t *arena;    /* owns everything below that is not a uv handle */
    tfn__buf_t body;       /* the request body (binary tensors point into it) */
    const tfn_api_t *api;
    const tfn_value_t *input;
    tfn_value_t *output;
    tfn_error_t error;
    int rc;             /* handler's return code */
    bool wire_response; /* client accepts application/vnd.tiffin */
    bool keep_alive;
    bool handler_running; /* counted in server->in_flight */
    bool queued;          /* waiting in server->queue_head for a handler slot */
    tfn__request_t *queue_next;
    bool responded;
    const tfn__codec_t *codec; /* a protocol's codec (tfn__dispatch_api_with); NULL: tiffin's */
    void *codec_state;
    bool cancelled; /* nobody wants the answer any more; atomic: read by tfn_ctx_cancelled */
    struct tfn_ctx ctx;
    uint64_t deadline_ms; /* uv_now() based */
    uv_timer_t timer;
    uv_work_t work;
    tfn__coro_t *coro;
    /* Adaptive batching (batch.c). A carrier runs a batch's handler; a member is a request
     * waiting in, or answered by, a batch (its handler_running stays set meanwhile). */
    struct tfn__batch *batch;   /* carrier: the batch it runs; NULL otherwise */
    tfn__request_t *batch_next; /* member: next in its queue, or in its batch */
    int64_t batch_rows;         /* member: rows its tensors carry (dimension 0); 0: none */
    uint64_t batch_joined_us;   /* member: when it joined its queue */
    bool batch_queued;          /* member: waiting in a queue */
    /* Observability (observe.c): this request's span, when it began (tfn__now_ns) and how long
     * it waited in the queue; the dependency calls it made, for Server-Timing. */
    tfn__trace_ids_t trace;
    const char *traceparent; /* a tiffin caller's, not parsed yet (arena): see observe.c */
    const char *tracestate;  /* in the arena; NULL: none */
    uint64_t start_ns, queue_ns;
    struct tfn__call_timing *timings;
    unsigned ntimings;
    bool trace_quiet; /* the caller is tiffin's client: no trace headers in the answer */

    struct tfn__stream_out *stream;        /* stream.c: a streaming API's state, once begun */
    const tfn__stream_sink_t *stream_sink; /* in-process caller of a streaming API */
    void *stream_arg;
    struct tfn_stream *streams; /* compose (stream_call.c): dependency streams being read */
};

/* ---- http_server.c -------------------------------------------------------------------------- */

/** Starts listening as configured. Returns 0 or a TFN_E* code (message logged). */
int tfn__server_listen(tfn__server_t *server);
/** A listener has a connection to accept (listen.c's uv_listen callback). */
void tfn__server_on_connection(uv_stream_t *listener, int status);
/** Stops listening (drain); existing connections stay. */
void tfn__server_stop_listening(tfn__server_t *server);
/**
 * Closes every idle connection (no active request); with `fresh_too` false, not those that
 * have not had a request yet (see begin_drain in worker.c).
 */
void tfn__server_close_idle(tfn__server_t *server, bool fresh_too);
/** Is some open connection still waiting for its first request? */
bool tfn__server_has_fresh(const tfn__server_t *server);
/** Closes every connection. */
void tfn__server_close_all(tfn__server_t *server);

/**
 * Writes a complete response on `conn` (status line, headers, body), then resumes reading the
 * next pipelined request, or closes the connection when `keep_alive` is false.
 */
void tfn__conn_respond(tfn__conn_t *conn, int status, const char *content_type, const char *body,
                       size_t body_len, bool keep_alive, const char *extra_headers);
/** Same, with the body taken from `body` (moved, freed after sending): no copy of the body. */
void tfn__conn_respond_buf(tfn__conn_t *conn, int status, const char *content_type,
                           tfn__buf_t *body, bool keep_alive, const char *extra_headers);
/** Writes `head` then `body` (may be NULL), both moved, as they are (stream.c's pieces). */
void tfn__conn_write(tfn__conn_t *conn, tfn__buf_t *head, tfn__buf_t *body);
/** A response written with tfn__conn_write is complete: go on as tfn__conn_respond does. */
void tfn__conn_finish(tfn__conn_t *conn, bool keep_alive);
/** Closes the connection at once (a stream that cannot be ended well). */
void tfn__conn_abort(tfn__conn_t *conn);
/** Bytes queued on the connection that the socket has not taken yet. */
size_t tfn__conn_unsent(const tfn__conn_t *conn);
/** Writes a JSON error response {"error": ..., "code": ...} built from `err`. */
void tfn__conn_respond_error(tfn__conn_t *conn, const tfn_error_t *err, bool keep_alive,
                             const char *extra_headers);

/* ---- http_status.c --------------------------------------------------------------------------- */

/** The reason phrase of an HTTP status ("Not Found"); "Unknown" for one we never send. */
const char *tfn__http_status_text(int status);
/** Appends the JSON error body of `err` ({"error", "code", "status", "service", "api"}). */
int tfn__error_json(const tfn_error_t *err, tfn__buf_t *out);
/** Is `method` (an http_method) one of HTTP's own (RFC 9110, and PATCH)? Others get 501. */
bool tfn__http_method_known(int method);

/* ---- dispatch.c ------------------------------------------------------------------------------ */

/**
 * Called by the connection when a complete request has been read: routes it and either answers
 * at once or starts a request. `method` is an http_method, `path` excludes the query string.
 * `body` is moved from the connection (reset to empty there).
 */
void tfn__dispatch(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                   bool keep_alive);

/**
 * Runs API `api` for a request on `conn` as POST /{api} would (admission, deadline, handler,
 * answer), with the body read and the output written by `codec`. `body` is moved. The codec's
 * per-request state is a copy of the `state_size` bytes at `state`, in the request's arena.
 */
void tfn__dispatch_api_with(tfn__conn_t *conn, const tfn_api_t *api, tfn__buf_t *body,
                            bool keep_alive, const tfn__codec_t *codec, const void *state,
                            size_t state_size);
/** The arena of a request (for codecs). */
tfn_arena_t *tfn__request_arena(tfn__request_t *req);
/** The connection of an active request is closing: detach it. */
void tfn__request_detach(tfn__request_t *req);

/**
 * Starts a request from a caller in this process: `body` (binary encoding, moved) for API
 * `api`, with `timeout_ms` left. The answer — an HTTP-like response in the binary encoding or a
 * JSON error body — goes to sink(arg, resp) later, from the loop. Only when out of memory is
 * the sink called at once (a 500 with an empty body) and *out set to NULL; otherwise *out (for
 * tfn__request_abandon) is set before anything else happens.
 */
void tfn__dispatch_local(tfn__server_t *server, const char *api, tfn__buf_t *body,
                         uint32_t timeout_ms, tfn__sink_fn sink, void *arg, tfn__request_t **out);
/** The caller of a local request no longer wants its answer: the sink will not be called. */
void tfn__request_abandon(tfn__request_t *req);
/** Resumes the handler coroutine of `req` (suspended in tfn_await), from the loop. */
void tfn__request_resume(tfn__request_t *req);

/**
 * Starts a request for `api` from this worker's task queue (tasks.c): `body` (binary encoding,
 * moved), the service's timeout, a free handler slot assumed (the caller checked in_flight).
 * *out is set first. Returns 0: the answer goes to sink(arg, resp) — possibly before this
 * returns, when the input is refused or the handler finished at once; or TFN_ENOMEM: nothing
 * happened, the sink will not be called.
 */
int tfn__dispatch_task(tfn__server_t *server, const tfn_api_t *api, tfn__buf_t *body,
                       tfn__sink_fn sink, void *arg, tfn__request_t **out);

/* ---- tasks.c: background tasks (tasks_internal.h has the rest) ------------------------------ */

/** Answers a task endpoint (/{api}/submit, status, get, retry, cancel) and returns true; false
 *  when `path` is none (dispatch goes on). */
bool tfn__tasks_route(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                      bool keep_alive);
/** A handler slot may have freed up: start waiting tasks. */
void tfn__tasks_kick(tfn__server_t *server);
/** The worker is being freed: tasks it did not finish are marked failed; the store closes. */
void tfn__tasks_free(tfn__server_t *server);

/* ---- observe.c: metrics, trace context and the access log of a worker ----------------------- */

/** Sets up the worker's metrics slot, tracing and access log. 0, or a TFN_E* code with *err. */
int tfn__observe_open(tfn__server_t *server, tfn_error_t *err);
/** Frees what tfn__observe_open set up. */
void tfn__observe_close(tfn__server_t *server);
/** A request begins: its span (from `conn`'s traceparent; NULL: a local request). */
void tfn__observe_begin(tfn__request_t *req, const tfn__conn_t *conn);
/** A queued request gets its handler slot now. */
void tfn__observe_dequeued(tfn__request_t *req);
/** The worker's in-flight and queued counts changed: publish them. */
void tfn__observe_load(tfn__server_t *server);
/**
 * A request is answered with `status`: counts it, logs it, and writes the response headers it
 * needs (traceparent, Server-Timing) into `headers` (NUL-terminated). Returns their length.
 */
size_t tfn__observe_end(tfn__request_t *req, int status, char *headers, size_t size);
/** A request for `api` was refused before it became one (429, 503): as tfn__observe_end. */
size_t tfn__observe_refused(tfn__conn_t *conn, const tfn_api_t *api, int status, char *headers,
                            size_t size);
/** GET /metrics: the exposition of every worker of the region. */
void tfn__serve_metrics(tfn__conn_t *conn, bool keep_alive);

/** Room for the headers tfn__observe_end writes. */
#define TFN__OBSERVE_HEADERS 2048

/* For the layer above (compose/call.c): a dependency call of `req` is a client span. */
/** Begins a call: its span (child of the request's) and start time. */
void tfn__observe_call_begin(tfn__request_t *req, tfn__trace_ids_t *span, uint64_t *start_ns);
/** Appends the trace headers of a call (traceparent, tracestate) to `head`; 0 or TFN_E*. */
int tfn__observe_call_headers(const tfn__request_t *req, const tfn__trace_ids_t *span,
                              tfn__buf_t *head);
/** A local call (test graph): the callee request joins the call's trace as its child. */
void tfn__observe_call_local(tfn__request_t *callee, const tfn__trace_ids_t *span);
/** A call ended with `status` (its HTTP status, or the status of its transport error). */
void tfn__observe_call_end(tfn__request_t *req, const char *dependency, const char *api,
                           const tfn__trace_ids_t *span, uint64_t start_ns, int status);

/* ---- stream.c -------------------------------------------------------------------------------- */

/** A streaming API's handler has returned: end its stream. False: not a stream that began and
 *  the handler failed (answer the error as usual). */
bool tfn__stream_answer(tfn__request_t *req);
/** The deadline passed: end a stream that began with an error event. False: none began. */
bool tfn__stream_deadline(tfn__request_t *req);

/* ---- worker.c -------------------------------------------------------------------------------- */

/** Checks a service definition; returns 0 or TFN_EINVAL with a message in *err. */
int tfn__service_check(const tfn_service_t *service, tfn_error_t *err);
/** Fills config->traffic and config->threads from the service, keeping non-zero overrides. */
void tfn__serve_config_resolve(tfn__serve_config_t *config, const tfn_service_t *service);
/**
 * A server (one worker's state) for `svc` on `loop`, not listening, init not run, its
 * dependencies set up (tfn__deps_open; with `local_deps` the caller links their instances).
 * Returns NULL with *err filled. Free with tfn__server_free once its loop has no more handles.
 */
tfn__server_t *tfn__server_new(uv_loop_t *loop, const tfn_service_t *svc,
                               const tfn__serve_config_t *config, bool local_deps,
                               tfn_error_t *err);
void tfn__server_free(tfn__server_t *server);
/** Is the worker ready as far as the layers above know (config.hooks->ready)? */
bool tfn__server_hooks_ready(const tfn__server_t *server, char *why, size_t len);
/** Raises the soft RLIMIT_NOFILE to the hard limit (limits.c); a failure is only logged. */
void tfn__raise_nofile_limit(void);
/** Runs one worker until it is told to stop; returns the process exit code. */
int tfn__serve(const tfn_service_t *service, const tfn__serve_config_t *config);
/** Nothing is in flight any more: memory a burst left free is handed back soon. */
void tfn__server_idle(tfn__server_t *server);
/** The drain has finished if nothing is in flight: run shutdown and end the loop. */
void tfn__server_maybe_finish(tfn__server_t *server);
/** While quiescing: a fresh connection has had its request, or closed; drain if none is left. */
void tfn__server_quiesce_check(tfn__server_t *server);

/* ---- Shared memory: descriptors with messages on a unix socket (shm_conn.c) -------------------
 */

/** uv_try_write of `bufs` with `fd` attached to bufs[0] (SCM_RIGHTS): the stream must have
 *  nothing queued. Returns the bytes written (perhaps fewer than all) or a negative libuv error,
 *  UV_EPIPE when not one byte went. `fd` stays the caller's. */
int tfn__try_write_with_fd(uv_stream_t *stream, uv_buf_t *bufs, unsigned nbufs, int fd);
/** Takes the next descriptor received on an ipc pipe (the caller owns it), or -1 if none. */
int tfn__pipe_take_fd(uv_pipe_t *pipe);
/** Closes every descriptor received on an ipc pipe and not taken. */
void tfn__pipe_drop_fds(uv_pipe_t *pipe);
/* ---- The request parser's callbacks (http_request.c) ---------------------------------------- */

/** http-parser's callbacks for a request on a connection (parser.data is the connection). */
extern const http_parser_settings tfn__request_parser;
/**
 * Adds the decimal digits of a header value's piece (`len` bytes at `at`; blanks skipped; a
 * value may come in several pieces) to *acc. Returns how many digits it took, or -1 for any
 * other character, or when *acc would pass `max` (which must be at least 9).
 */
int tfn__header_digits(const char *at, size_t len, uint64_t max, uint64_t *acc);

/* ---- Operational endpoints (ops.c) ------------------------------------------------------------
 */

/** Answers an error (the service named) with a printf-style message. */
void tfn__conn_respond_errorf(tfn__conn_t *conn, bool keep_alive, const char *extra_headers,
                              int code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/** Answers `path` if it is an operational endpoint (/livez, /readyz, /healthz, /docs.json, /,
 * /metrics; 405 for a method other than GET or HEAD) and returns true; false for any other. */
bool tfn__serve_ops(tfn__conn_t *conn, int method, const char *path, bool keep_alive);

/** Whether shared memory is on (TFN_SHM=off in the environment turns it off). */
bool tfn__shm_enabled(void);
/** A request announced shared memory (X-Tiffin-Shm): the client understands references, and
 * its new region, if it sent one, is installed (or why not recorded in conn->shm_error). */
void tfn__conn_shm_received(tfn__conn_t *conn);
/**
 * Encodes an answer (binary) for `conn`: with references into shared memory when its client
 * understands them — into its own region, or a new larger one (whose X-Tiffin-Shm header is
 * written into `headers`, `cap` bytes, and whose descriptor goes with the head) — else inline.
 * `req` is the request answered: inline unless its caller announced shared memory, or when its
 * input pointed into conn's own region. Same results as tfn__wire_encode. `conn` may be NULL.
 */
int tfn__conn_shm_encode(tfn__conn_t *conn, const tfn__request_t *req, const tfn_value_t *v,
                         tfn__buf_t *out, char *headers, size_t cap);

#endif
