/*
 * metrics_internal.h — Prometheus metrics of a graph's workers, in one memory region.
 *
 * Every worker process counts into a slot of a region: requests by API and status code, latency
 * histograms, calls to dependencies, in-flight and queued gauges. Under `serve` the supervisor
 * creates the region (a memfd, shared with every worker it spawns), gives each worker its own
 * slot and counts restarts and OOM kills into it; any worker can then render every slot, which
 * is how one scrape of the entry's GET /metrics covers the whole graph. A worker on its own
 * (`--service`, or one served without a supervisor) has a private region of one slot.
 *
 * Cost on the hot path: a handful of relaxed atomic additions into memory of the worker's own
 * slot (uncontended: one process writes a slot, except for the overlap of a rolling restart,
 * where atomics keep the counts exact). Counters live as long as the region, so a restarted
 * worker continues its predecessor's counts instead of resetting them.
 *
 * Lifetime: the region is created by tfn__metrics_region_new (or mapped from a descriptor by
 * tfn__metrics_region_map) and freed by tfn__metrics_region_free; slots are inside it. Names
 * passed in are copied (truncated to TFN__METRICS_NAME - 1 bytes). Everything is safe to call
 * from any thread; rendering reads a consistent-enough snapshot (each number is read
 * atomically; a scrape during an update may see a count before its histogram bucket).
 */
#ifndef TIFFIN_METRICS_INTERNAL_H
#define TIFFIN_METRICS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf_internal.h"

#define TFN__METRICS_NAME      64 /* longest name + 1 (service, API, dependency) */
#define TFN__METRICS_MAX_APIS  32 /* APIs of a service counted (more are not counted) */
#define TFN__METRICS_MAX_CALLS 32 /* distinct (dependency, API) pairs a worker counts */
#define TFN__METRICS_NCODES    13 /* status codes counted one by one, the rest as "other" */
#define TFN__METRICS_NSECONDS  17 /* latency buckets, +Inf included */
#define TFN__METRICS_NSIZES    10 /* batch size buckets, +Inf included */

/** The media type of the exposition (Prometheus text format 0.0.4). */
#define TFN__METRICS_MEDIA "text/plain; version=0.0.4; charset=utf-8"

typedef _Atomic uint64_t tfn__counter_t;

/** A histogram: per-bucket counts (not cumulative) and the sum (ns, or units for sizes). */
typedef struct tfn__histogram {
    tfn__counter_t buckets[TFN__METRICS_NSECONDS];
    tfn__counter_t sum;
} tfn__histogram_t;

typedef struct tfn__metrics_api {
    char name[TFN__METRICS_NAME];
    tfn__counter_t codes[TFN__METRICS_NCODES];
    tfn__histogram_t latency;
    tfn__histogram_t batch_size; /* only the first TFN__METRICS_NSIZES buckets */
    tfn__histogram_t batch_wait;
} tfn__metrics_api_t;

typedef struct tfn__metrics_call {
    _Atomic uint32_t published; /* names written */
    char dependency[TFN__METRICS_NAME];
    char api[TFN__METRICS_NAME];
    tfn__counter_t codes[TFN__METRICS_NCODES];
    tfn__histogram_t latency;
} tfn__metrics_call_t;

/** One worker's numbers. */
typedef struct tfn__metrics_slot {
    _Atomic uint32_t used; /* service and worker set */
    uint32_t worker;
    char service[TFN__METRICS_NAME];
    _Atomic uint32_t napis;
    _Atomic uint32_t ncalls;
    tfn__counter_t in_flight[2], queued[2]; /* by process generation parity (rolling restart) */
    tfn__counter_t restarts, oom_kills;     /* counted by the supervisor */
    tfn__metrics_api_t apis[TFN__METRICS_MAX_APIS];
    tfn__metrics_call_t calls[TFN__METRICS_MAX_CALLS];
} tfn__metrics_slot_t;

typedef struct tfn__metrics_region tfn__metrics_region_t;

/**
 * A region of `nslots` zeroed slots. With `shared`, it lives in a memfd that child processes
 * can map (tfn__metrics_region_fd); else in private memory. NULL when out of memory.
 */
tfn__metrics_region_t *tfn__metrics_region_new(unsigned nslots, bool shared);
/** Maps the region another process created, from its descriptor (borrowed). NULL on failure. */
tfn__metrics_region_t *tfn__metrics_region_map(int fd);
/** The descriptor of a shared region, or -1. */
int tfn__metrics_region_fd(const tfn__metrics_region_t *region);
/** Unmaps (and closes) the region. NULL is ignored. */
void tfn__metrics_region_free(tfn__metrics_region_t *region);
/** Slot `i`, or NULL when out of range. */
tfn__metrics_slot_t *tfn__metrics_slot(tfn__metrics_region_t *region, unsigned i);
unsigned tfn__metrics_nslots(const tfn__metrics_region_t *region);

/** Names slot `s`: the worker `worker` of service `service`. */
void tfn__metrics_slot_name(tfn__metrics_slot_t *s, const char *service, unsigned worker);
/** Declares API number `i` (its index in the service's list); idempotent. */
void tfn__metrics_slot_api(tfn__metrics_slot_t *s, unsigned i, const char *name);

/** The index (0..TFN__METRICS_NCODES-1) of an HTTP status; the last is "other". */
unsigned tfn__metrics_code_index(int status);
/** The latency bucket of `ns` nanoseconds. */
unsigned tfn__metrics_seconds_bucket(uint64_t ns);

static inline void tfn__counter_add(tfn__counter_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/** A request to API number `api` was answered `status` after `ns` nanoseconds. */
static inline void tfn__metrics_request(tfn__metrics_slot_t *s, unsigned api, int status,
                                        uint64_t ns)
{
    if (api >= TFN__METRICS_MAX_APIS)
        return;
    tfn__metrics_api_t *a = &s->apis[api];
    tfn__counter_add(&a->codes[tfn__metrics_code_index(status)], 1);
    tfn__counter_add(&a->latency.buckets[tfn__metrics_seconds_bucket(ns)], 1);
    tfn__counter_add(&a->latency.sum, ns);
}

/** The worker's load, published by the process of generation `gen`. */
static inline void tfn__metrics_load(tfn__metrics_slot_t *s, unsigned gen, unsigned in_flight,
                                     unsigned queued)
{
    atomic_store_explicit(&s->in_flight[gen & 1], in_flight, memory_order_relaxed);
    atomic_store_explicit(&s->queued[gen & 1], queued, memory_order_relaxed);
}

/**
 * The (dependency, API) pair's counters, found or added; NULL when the table is full. Called on
 * the loop thread of the slot's worker.
 */
tfn__metrics_call_t *tfn__metrics_call_find(tfn__metrics_slot_t *s, const char *dependency,
                                            const char *api);
/** A dependency call answered `status` (transport failures: their mapped status) in `ns`. */
void tfn__metrics_call(tfn__metrics_call_t *c, int status, uint64_t ns);
/**
 * A batch of `size` requests of API `api` ran after its oldest waited `wait_ns` (for the
 * batcher, lib/server/batch*: rendered as tiffin_batch_size and tiffin_batch_queue_wait_seconds
 * once an API has had a batch).
 */
void tfn__metrics_batch(tfn__metrics_slot_t *s, unsigned api, unsigned size, uint64_t wait_ns);

/**
 * Appends the Prometheus text exposition of every named slot of `region`, plus
 * tiffin_build_info{version=`version`}, to `out`. Returns 0 or TFN_ETOOBIG / TFN_ENOMEM.
 */
int tfn__metrics_render(tfn__metrics_region_t *region, const char *version, tfn__buf_t *out);

#endif
