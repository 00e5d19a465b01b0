/*
 * tiffin/service.h — defining a service: its APIs, resources, traffic limits and hooks.
 *
 * A service is a constant description, normally a `static const tfn_service_t` written with
 * designated initialisers; every field left out takes the documented default. The library never
 * writes to it, and it must stay valid for the whole life of the program.
 *
 *     static const tfn_field_t classify_in[] = {
 *         {.name = "image", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 1,
 *          .shape = {64}, .doc = "8x8 grey levels, row-major"},
 *         {0}};
 *     static const tfn_api_t apis[] = {
 *         {.name = "classify", .handler = classify, .inputs = classify_in,
 *          .output = TFN_TYPE_OBJECT},
 *         {0}};
 *     static const tfn_service_t digits = {.name = "Digits", .apis = apis,
 *                                          .traffic = {.timeout_ms = 2000}};
 *     int main(int argc, char **argv) { return tfn_main(argc, argv, &digits); }
 */
#ifndef TIFFIN_SERVICE_H
#define TIFFIN_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The context of one request, handed to a handler. Opaque; valid until the handler returns. */
typedef struct tfn_ctx tfn_ctx_t;

/** One worker process of a service, handed to the init hook. Opaque. */
typedef struct tfn_worker tfn_worker_t;

/**
 * A handler: reads `input` (an object that already matches the API's declared fields) and sets
 * *output to a value allocated from tfn_ctx_arena(ctx) that matches the declared output type.
 * Returns 0, or a negative TFN_E* code — preferably via tfn_ctx_fail, which also sets the message
 * the client sees. The code decides the HTTP status (TFN_EINVAL -> 400, TFN_EHANDLER -> 500).
 */
typedef int (*tfn_handler_fn)(tfn_ctx_t *ctx, const tfn_value_t *input, tfn_value_t **output);

/** A declared input field of an API. Arrays of fields end with an entry whose name is NULL. */
typedef struct tfn_field {
    const char *name;              /**< member name in the request object */
    tfn_type_t type;               /**< TFN_TYPE_ANY accepts anything */
    tfn_dtype_t dtype;             /**< tensors: element type (nested JSON lists are converted) */
    int ndim;                      /**< tensors: required rank; 0 means any rank */
    int64_t shape[TFN_MAX_DIMS];   /**< tensors: required sizes of the first ndim dims; -1 = any */
    bool optional;                 /**< may be absent (the handler then gets no member) */
    const char *doc;               /**< description for the OpenAPI document; may be NULL */
} tfn_field_t;

/** Where a handler runs. See docs/design.md, "Handler execution model". */
typedef enum tfn_run {
    /**
     * As a coroutine on the worker's event loop (the default). Cheap (no thread handoff), and
     * thousands can be in flight at once while they await dependency calls. The handler must not
     * compute for long or block: while it runs, the worker does no I/O.
     */
    TFN_RUN_ON_LOOP = 0,
    /**
     * On the worker's handler thread pool (tfn_service_t.threads threads). For CPU-heavy work
     * such as model inference, which would otherwise stall the loop. Costs a thread handoff.
     */
    TFN_RUN_IN_THREAD = 1,
} tfn_run_t;

/**
 * Adaptive batching of one API (docs/design.md, "Adaptive batching"). Requests that arrive while
 * the handler is busy are merged into one handler call: the handler receives every declared
 * input tensor stacked along dimension 0 (a request whose tensors have k rows adds k rows) and
 * returns a tensor, or an object of tensors, whose first dimension is the total number of rows;
 * tiffin splits it back, row ranges in request order. Other members of an output object
 * (numbers, strings: per-batch values such as a timing) are copied to every request. A handler
 * error fails every request of its batch. A batchable API's inputs must all be tensors of rank
 * >= 1 (or of any rank), none optional; requests whose tensors differ in dtype, rank or any
 * dimension after the first are batched separately. A request with more rows than max_size is
 * answered 413 (ETOOBIG); one whose tensors disagree on the row count, or have none, 400.
 *
 * When: at once if no batch of this API is running (a lone client pays no wait); else the
 * requests gather while it runs and go when it finishes, when max_size rows are waiting, or
 * when waiting for it (its cost is learned per batch size) would keep the oldest request
 * waiting longer than max_latency_ms, or past its deadline. Zero-initialised: not batched.
 * `serve --batch N` / `--batch API=N` / `--max-latency-ms MS` override both numbers.
 */
typedef struct tfn_batch {
    /** Most rows per handler call. 0: not batched (unless `serve --batch` asks, see below). */
    uint32_t max_size;
    /** Longest a request should wait for its batch to start, in ms. 0 means 10. */
    uint32_t max_latency_ms;
    /** The handler takes stacked inputs, but batching is off unless `serve --batch` turns it on
     *  (what a generic model runner declares). Implied by max_size > 0. */
    bool stackable;
} tfn_batch_t;

/** One API of a service, served as `POST /{name}`. Arrays of APIs end with a {0} entry. */
typedef struct tfn_api {
    const char *name;            /**< URL path segment: letters, digits, '_' and '-' */
    tfn_handler_fn handler;      /**< required */
    const tfn_field_t *inputs;   /**< declared input fields; NULL means no inputs */
    tfn_type_t output;           /**< declared output type; TFN_TYPE_ANY accepts anything */
    tfn_run_t run;               /**< where the handler runs (default: on the loop) */
    const char *doc;             /**< description for the OpenAPI document; may be NULL */
    tfn_batch_t batch;           /**< adaptive batching; zero: each request its own call */
    /**
     * The handler sends its output in pieces with tfn_stream_send (tiffin/stream.h) instead of
     * setting *output: the client gets them as they come (server-sent events when it accepts
     * text/event-stream, else chunked transfer encoding). Only with TFN_RUN_ON_LOOP.
     */
    bool stream;
} tfn_api_t;

/**
 * Resources a service asks for, per worker. `serve` plans and enforces them (a service that asks
 * for any is always run under the supervisor); see docs/design.md ("Processes").
 */
typedef struct tfn_resources {
    /** Cores, pinned with sched_setaffinity: each worker gets ceil(cpu) cores of its own,
     *  round-robin over the cores `serve` may use (shared, with a warning, when they run out).
     *  0 = no request: the worker may run on any of them. */
    double cpu;
    /** GPU devices, in the worker's CUDA_VISIBLE_DEVICES: each worker gets its own (a fraction
     *  such as 0.5 may share a device with other fractional workers). More than the machine has
     *  is a start-up error. 0 = none (and, when other services ask for GPUs, none visible). */
    double gpu;
    /** Memory limit per worker in MiB: a memory cgroup (the kernel kills a worker past it, and
     *  it is restarted), else RLIMIT_AS. 0 = no limit. */
    uint64_t memory_mb;
} tfn_resources_t;

/** Traffic limits of a service, per worker. 0 in any field selects the default. */
typedef struct tfn_traffic {
    uint32_t timeout_ms;       /**< handler deadline; past it the client gets 504. Default 60000 */
    uint32_t max_concurrency;  /**< handlers running at once; over it -> 429. Default 1024 */
    uint64_t max_body_bytes;   /**< largest request body; over it -> 413. Default 16 MiB */
    uint32_t drain_ms;         /**< on SIGTERM, how long in-flight requests may finish. 10000 */
    /**
     * Requests that may wait, first come first served, for a handler slot when max_concurrency
     * handlers are running; past that -> 429 at once. Waiting counts against the request's
     * timeout. Default 0: no waiting, 429 at once.
     */
    uint32_t max_queue;
    /** A request being received may go this long without a byte arriving: past it -> 408 and
     *  the connection closes (slow or stalled clients hold no buffers forever). Default 30000. */
    uint32_t read_timeout_ms;
    /** A keep-alive connection with no request in progress is closed after this. 60000. */
    uint32_t idle_timeout_ms;
    /** The whole request head (request line and headers) must arrive within this, however
     *  steadily its bytes trickle in: past it -> 408 and the connection closes (one byte a
     *  second cannot hold a connection). Default 20000. */
    uint32_t head_timeout_ms;
    /** Open connections per worker; past it a new connection gets 503 and is closed, and the
     *  worker logs that the cap was hit. Also kept under the process's file-descriptor limit.
     *  Default 10000. */
    uint32_t max_connections;
} tfn_traffic_t;

typedef struct tfn_service tfn_service_t;

/**
 * A dependency: another service this one calls with tfn_call / tfn_call_async (tiffin/call.h).
 * Arrays of dependencies end with a {0} entry. Give `service` for a service defined in this
 * program (`serve` then runs it in its own worker processes, on a unix socket), or `url` for one
 * running elsewhere (another tiffin program, or any HTTP endpoint that takes a JSON object at
 * POST /{api}). Either way `serve --depends NAME=URL` overrides the address.
 */
typedef struct tfn_dependency {
    const char *name;               /**< name handlers call it by; default: service->name */
    const tfn_service_t *service;   /**< defined in this program; may be NULL with `url` */
    const char *url;                /**< "http://HOST:PORT" or "unix:/PATH"; may be NULL */
    /** Talk JSON to it instead of tiffin's binary encoding: for services that are not tiffin
     *  programs (a BentoML service, say). Tensors then travel as nested lists. */
    bool json;
} tfn_dependency_t;

/** A service: a name, its APIs, resources, traffic limits and lifecycle hooks. */
struct tfn_service {
    const char *name;            /**< required; letters, digits, '_' and '-' */
    const char *doc;             /**< description for the OpenAPI document; may be NULL */
    const char *version;         /**< version for the OpenAPI document; default "0.0.0" */
    const tfn_api_t *apis;       /**< required; ends with a {0} entry */
    tfn_resources_t resources;
    /** Worker processes; default 1. They share the service's socket (the kernel spreads
     *  connections across them); tfn_worker_index tells them apart. `serve --workers`
     *  overrides it. */
    unsigned workers;
    /**
     * A worker range: when larger than `workers` (taken as the minimum, at least 1), `serve`
     * starts `workers` workers and adds more, up to max_workers, while requests wait for a
     * handler slot or the workers stay busy, and retires them again when they are idle (each
     * change is logged; see docs/design.md, "Deployment"). `manifests kubernetes` turns the
     * range into a HorizontalPodAutoscaler's minReplicas/maxReplicas. 0 (the default), or a
     * value not above `workers`: a fixed number of workers. `serve --workers NAME=MIN:MAX`
     * overrides both.
     */
    unsigned max_workers;
    unsigned threads;            /**< handler threads per worker for TFN_RUN_IN_THREAD; default 4 */
    tfn_traffic_t traffic;
    /**
     * Runs once per worker before it takes requests (off the event loop, so /livez and /readyz
     * answer meanwhile; /readyz is 503 until it returns 0). May set *state, which every handler
     * of this worker then gets from tfn_ctx_state. Returns 0 or a negative TFN_E* code (set a
     * message with tfn_worker_fail); a failed init stops the worker with that message.
     */
    int (*init)(tfn_worker_t *worker, void **state);
    /**
     * Runs once per worker after the last request finished (or the drain deadline passed), with
     * the state init set. May be NULL.
     */
    void (*shutdown)(tfn_worker_t *worker, void *state);
    /** Services this one calls; ends with a {0} entry. NULL: none. */
    const tfn_dependency_t *depends;
};

/* ---------------------------------------------------------------------------------------------
 * Inside a handler
 * ------------------------------------------------------------------------------------------- */

/** The request's arena: allocate the output (and any scratch memory) from it. Never NULL. */
tfn_arena_t *tfn_ctx_arena(tfn_ctx_t *ctx);

/** The worker state set by the service's init hook (NULL if none). */
void *tfn_ctx_state(tfn_ctx_t *ctx);

/** The name of the API being called. Owned by the service definition. */
const char *tfn_ctx_api(const tfn_ctx_t *ctx);

/**
 * Milliseconds left before the request's deadline (0 once it has passed). A handler running in a
 * thread can poll it to give up early on long work.
 */
int64_t tfn_ctx_remaining_ms(const tfn_ctx_t *ctx);

/**
 * Has nobody any use for this request's answer any more? True once its client has disconnected,
 * its deadline has passed, or (in a graph) its caller has given up on it — the caller's own
 * cancellation travels down: a caller that goes away closes its calls' connections. A handler
 * running in a thread (TFN_RUN_IN_THREAD) can poll it between steps of long work and return
 * early (any error code: the answer is dropped). Safe to call from the handler's thread; cheap (an
 * atomic load and a clock read). Dependency calls still in flight are cancelled by the library
 * itself: their tfn_await returns TFN_ECANCELED.
 */
bool tfn_ctx_cancelled(const tfn_ctx_t *ctx);

/**
 * Records an error for this request and returns `code`, for `return tfn_ctx_fail(ctx,
 * TFN_EINVAL, "image has %zu values, want 64", n);`. The message goes to the client in the JSON
 * error body. A code that is not a negative TFN_E* code is treated as TFN_EHANDLER.
 */
int tfn_ctx_fail(tfn_ctx_t *ctx, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---------------------------------------------------------------------------------------------
 * Inside an init or shutdown hook
 * ------------------------------------------------------------------------------------------- */

/** The service this worker runs. */
const tfn_service_t *tfn_worker_service(const tfn_worker_t *worker);

/** Index of this worker among its service's workers, from 0. */
unsigned tfn_worker_index(const tfn_worker_t *worker);

/** Records why init failed and returns `code` (as tfn_ctx_fail does for handlers). */
int tfn_worker_fail(tfn_worker_t *worker, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
