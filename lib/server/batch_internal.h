/*
 * batch_internal.h — adaptive batching in the worker (batch.c): requests of a batchable API
 * (tfn_api_t.batch) wait in a queue per input signature and are merged into one handler call.
 *
 * Ownership (see docs/design.md, "Lifetime rules", rule 20):
 *   server 1──1 batcher 1──* API 1──* group (queued members) and 1──* running batch
 *   running batch 1──1 carrier request 1──* member requests
 * A member is a request whose "handler" is its batch: it counts in in_flight and keeps
 * handler_running set from the moment it joins until its batch has returned and its share of
 * the output has been copied into its own arena, so its input (which the batch reads, or points
 * at) lives at least as long as the batch. The carrier is an internal request (no connection,
 * no sink) whose arena holds the stacked input, the handler's output and the batch itself.
 */
#ifndef TIFFIN_BATCH_INTERNAL_H
#define TIFFIN_BATCH_INTERNAL_H

#include "server/server_internal.h"

/** Default of tfn_batch_t.max_latency_ms. */
#define TFN__BATCH_DEFAULT_LATENCY_MS 10
/** Largest max_size accepted (a definition or --batch). */
#define TFN__BATCH_MAX_SIZE 65536
/** Batch-size histogram: bucket i counts batches of at most 2^i rows; the last, any more. */
#define TFN__BATCH_SIZE_BUCKETS 18
/** Queue-wait histogram: bucket i counts requests that waited at most
 *  tfn__batch_wait_bounds_us[i]; the last, any longer. */
#define TFN__BATCH_WAIT_BUCKETS 12
extern const uint64_t tfn__batch_wait_bounds_us[TFN__BATCH_WAIT_BUCKETS - 1];

/** What one batchable API of a worker has done so far: for /healthz and /metrics. */
typedef struct tfn__batch_stats {
    const char *api;         /* borrowed from the service definition */
    uint32_t max_size;       /* in effect (definition or --batch) */
    uint32_t max_latency_ms; /* in effect */
    uint64_t batches;        /* handler calls */
    uint64_t failed_batches; /* of which the handler (or the output split) failed */
    uint64_t requests;       /* requests that went into a batch */
    uint64_t rows;           /* their rows */
    uint64_t expired;        /* requests answered (504, client gone) before their batch */
    uint64_t size_buckets[TFN__BATCH_SIZE_BUCKETS]; /* batches by rows */
    uint64_t wait_buckets[TFN__BATCH_WAIT_BUCKETS]; /* requests by queue wait */
    uint64_t wait_sum_us, wait_max_us;              /* queue waits: join to dispatch */
    uint64_t queued_rows;                           /* waiting now */
    unsigned running;                               /* batches running now */
    double cost_fixed_us;   /* the learned cost model: a batch of n rows takes about */
    double cost_per_row_us; /*   fixed + n * per_row microseconds (0, 0 until learned) */
} tfn__batch_stats_t;

/**
 * Checks that `api` (of service `svc`) can be batched if it asks to be: every declared input is
 * a tensor that is not optional, of rank >= 1 or any rank, and its output a tensor, an object or
 * anything. 0, or TFN_EINVAL with a message in *err. Called by tfn__service_check.
 */
int tfn__batch_check_api(const tfn_service_t *svc, const tfn_api_t *api, tfn_error_t *err);

/**
 * Checks the --batch and --max-latency-ms arguments of `config` against `svc`: "N" (every
 * stackable API) or "API=N" (that API, which must be stackable). 0, or TFN_EINVAL with *err.
 */
int tfn__batch_check_args(const tfn_service_t *svc, const tfn__serve_config_t *config,
                          tfn_error_t *err);

/** Sets up server->batcher (NULL when no API is batched). 0, or a TFN_E* code with *err. */
int tfn__batch_open(tfn__server_t *server, tfn_error_t *err);
/** Closes the batcher's loop handles (the drain is over, or a test graph ends). */
void tfn__batch_close(tfn__server_t *server);
/** Frees the batcher once its handles are closed. */
void tfn__batch_free(tfn__server_t *server);

/** Is `api` batched in this worker? */
bool tfn__batch_enabled(const tfn__server_t *server, const tfn_api_t *api);
/**
 * Checks a batched request's input before it is admitted: its tensors' row count (stored in
 * req->batch_rows). 0, or TFN_EINVAL / TFN_ETOOBIG with req->error set.
 */
int tfn__batch_check(tfn__request_t *req);
/** A checked request joins its API's queue (dispatch.c's start_handler, in_flight counted). */
void tfn__batch_join(tfn__request_t *req);
/** A member waiting in a queue has been answered (504) or lost its caller: purge it soon. */
void tfn__batch_member_gone(tfn__request_t *req);
/** The handler of a batch's carrier has returned (on the loop): split and finish its members. */
void tfn__batch_done(tfn__request_t *carrier);

/** Number of batched APIs of this worker. */
size_t tfn__batch_count(const tfn__server_t *server);
/** Fills *out for batched API number `i` (0 .. tfn__batch_count - 1). */
void tfn__batch_stats(const tfn__server_t *server, size_t i, tfn__batch_stats_t *out);
/** Appends `"batch":{...}` (per API, for /healthz) to `out`; nothing when no API is batched. */
int tfn__batch_healthz(const tfn__server_t *server, tfn__buf_t *out);

/* ---- batch_output.c ------------------------------------------------------------------------ */

/** Checks that a carrier's output can be split into `rows` rows; TFN_EOUTPUT with *err if not. */
int tfn__batch_check_output(const tfn__request_t *carrier, int64_t rows, tfn_error_t *err);
/** Member `m`'s rows [row, row + m->batch_rows) of the carrier's (checked) output, copied into
 *  m's arena as m->output. 0 or TFN_ENOMEM. */
int tfn__batch_split_for(const tfn__request_t *carrier, int64_t rows, tfn__request_t *m,
                         int64_t row);

/* ---- dispatch.c: what the batcher needs of a request ------------------------------------- */

/** A carrier request for a batch of `api`: no connection, no sink; arena of `arena_max`. */
tfn__request_t *tfn__request_new_carrier(tfn__server_t *server, const tfn_api_t *api,
                                         size_t arena_max);
/** Runs the carrier's handler (thread or coroutine as the API says); not counted in in_flight.
 *  Ends in tfn__batch_done, perhaps before this returns (a loop handler). */
void tfn__request_run(tfn__request_t *carrier);
/** A member's batch is over: req->rc, output and error are set. Answers and frees as a request
 *  whose handler returned. */
void tfn__request_finished(tfn__request_t *req);
/** Frees a carrier whose handler never ran. */
void tfn__request_release(tfn__request_t *carrier);
/** Does someone still wait for this request's answer? */
bool tfn__request_awaited(const tfn__request_t *req);

#endif
