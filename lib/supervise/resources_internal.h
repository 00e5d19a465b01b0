/*
 * resources_internal.h — the resource plan: which cores, GPUs and memory limit each worker of a
 * supervised graph gets, and the operating-system mechanisms that enforce it.
 *
 * The supervisor (supervisor.c) reads the machine (tfn__machine_read), plans every worker of
 * every service (tfn__plan, a pure function the unit tests drive with made-up machines), and
 * passes each worker its share through its environment:
 *
 *   TFN_CPUS=2,3                 the worker pins itself to these cores (sched_setaffinity)
 *   CUDA_VISIBLE_DEVICES=1       the GPUs it may use (and CUDA_DEVICE_ORDER=PCI_BUS_ID, so that
 *                                the numbers mean what nvidia-smi shows)
 *   TFN_MEMORY_CGROUP=DIR        the memory cgroup the worker moves itself into
 *   TFN_MEMORY_RLIMIT=BYTES      or, where no cgroup is writable, its RLIMIT_AS
 *
 * A worker applies them at start (tfn__worker_apply_plan) and removes them from its environment.
 * See docs/design.md ("Processes") for the rules (fractions, oversubscription, the fallback's
 * caveats).
 */
#ifndef TIFFIN_RESOURCES_INTERNAL_H
#define TIFFIN_RESOURCES_INTERNAL_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tiffin.h"

#define TFN__CPUS_ENV          "TFN_CPUS"
#define TFN__MEMORY_CGROUP_ENV "TFN_MEMORY_CGROUP"
#define TFN__MEMORY_RLIMIT_ENV "TFN_MEMORY_RLIMIT"
/** Overrides GPU discovery: "0,1,2,3", or "" for none. */
#define TFN__GPUS_ENV "TFN_GPUS"
/** How memory limits are enforced: auto (default), cgroup, rlimit or off. */
#define TFN__MEMORY_LIMITS_ENV "TFN_MEMORY_LIMITS"

/** Most GPUs a machine may show, and the longest device id (an index or a "GPU-..." UUID). */
#define TFN__MAX_GPUS   64
#define TFN__GPU_ID_MAX 64
/** Most workers one service may ask for. */
#define TFN__MAX_WORKERS 256

/** What the machine offers the supervisor. */
typedef struct tfn__machine {
    int cpus[CPU_SETSIZE]; /* the cores the supervisor may run on (sched_getaffinity), ascending */
    size_t ncpus;
    char gpus[TFN__MAX_GPUS][TFN__GPU_ID_MAX]; /* device ids, as CUDA_VISIBLE_DEVICES takes them */
    size_t ngpus;
    const char *gpu_source; /* where the list came from, for messages */
} tfn__machine_t;

/** What one service asks for. */
typedef struct tfn__resource_request {
    const char *name;
    unsigned workers;
    tfn_resources_t resources;
} tfn__resource_request_t;

/** One worker's share. */
typedef struct tfn__worker_plan {
    int cpus[CPU_SETSIZE]; /* cores to pin to; ncpus 0: not pinned */
    size_t ncpus;
    unsigned gpus[TFN__MAX_GPUS]; /* indexes into machine->gpus */
    size_t ngpus;
    bool gpu_shared;       /* a fractional GPU: the device may be shared with other workers */
    bool hide_gpus;        /* asked for no GPU while others did: CUDA_VISIBLE_DEVICES="" */
    uint64_t memory_bytes; /* 0: no limit */
} tfn__worker_plan_t;

/** Totals of a plan, for the start-up warnings. */
typedef struct tfn__plan_totals {
    size_t cpu_workers;      /* workers that asked for cores */
    size_t cpus_wanted;      /* cores asked for in all (each worker's request rounded up) */
    bool cpu_oversubscribed; /* cpus_wanted > machine->ncpus: cores are shared */
    size_t gpus_used;        /* devices handed out */
} tfn__plan_totals_t;

/**
 * Plans `n` services on `machine`: plans[i] points to requests[i].workers worker plans, which
 * are filled. Cores go round-robin over machine->cpus (each worker gets ceil(cpu) consecutive
 * ones; when the total exceeds the machine, cores are shared, and a worker asking for more than
 * the machine has gets every core); whole GPUs are exclusive, fractions are packed onto shared
 * devices. Returns 0, or -1 with a message in `err` when a request cannot be satisfied (more
 * GPUs than exist, a negative or non-finite request).
 */
int tfn__plan(const tfn__machine_t *machine, const tfn__resource_request_t *requests, size_t n,
              tfn__worker_plan_t *const *plans, tfn__plan_totals_t *totals, char *err,
              size_t err_size);

/**
 * Reads the machine: the allowed cores, and — only when `want_gpus` — the GPUs ($TFN_GPUS, else
 * $CUDA_VISIBLE_DEVICES, else `nvidia-smi --query-gpu=index`, else /proc/driver/nvidia/gpus).
 * Returns 0, or -1 with a message in `err`.
 */
int tfn__machine_read(tfn__machine_t *machine, bool want_gpus, char *err, size_t err_size);

/** Parses a device list "0,1" (spaces allowed) into `machine->gpus`; -1 if malformed. */
int tfn__gpus_parse(tfn__machine_t *machine, const char *list);

/** Formats cores as the kernel does (Cpus_allowed_list), "0-3,6"; "-" for none. */
void tfn__cpus_format(const int *cpus, size_t n, char *out, size_t size);

/** Parses "0-3,6" into a cpu_set_t; returns the number of cores, or -1 if malformed. */
int tfn__cpus_parse(const char *text, cpu_set_t *set);

/* ---------------------------------------------------------------------------------------------
 * Memory limits
 * ------------------------------------------------------------------------------------------- */

typedef enum tfn__memory_kind {
    TFN__MEMORY_OFF,     /* not enforced (TFN_MEMORY_LIMITS=off, or nothing works) */
    TFN__MEMORY_CGROUP1, /* a cgroup v1 memory controller: memory.limit_in_bytes */
    TFN__MEMORY_CGROUP2, /* cgroup v2: memory.max */
    TFN__MEMORY_RLIMIT,  /* setrlimit(RLIMIT_AS) in the worker */
} tfn__memory_kind_t;

typedef struct tfn__memory_limiter {
    tfn__memory_kind_t kind;
    char dir[1024];  /* cgroups: the supervisor's own cgroup, under which workers get theirs */
    char note[4096]; /* how limits are enforced (or why not), for the log */
} tfn__memory_limiter_t;

/**
 * Chooses how memory limits are enforced: a memory cgroup under the supervisor's own (found
 * through /proc/self/cgroup and /proc/self/mountinfo, checked by creating and removing a probe
 * group), else RLIMIT_AS. $TFN_MEMORY_LIMITS (auto, cgroup, rlimit, off) forces a choice.
 * Returns 0, or -1 with a message in `err` (an unknown mode; "cgroup" asked for but unusable).
 */
int tfn__memory_limiter_init(tfn__memory_limiter_t *limiter, char *err, size_t err_size);

/**
 * Creates the cgroup `name` under the limiter's directory with a limit of `bytes`; its path goes
 * to `path`. Returns 0 or -1 with a message in `err`.
 */
int tfn__cgroup_create(const tfn__memory_limiter_t *limiter, const char *name, uint64_t bytes,
                       char *path, size_t path_size, char *err, size_t err_size);

/** How many times the kernel's OOM killer struck in the cgroup at `path`; -1 if unknown. */
long tfn__cgroup_oom_kills(tfn__memory_kind_t kind, const char *path);

/** Removes the (empty) cgroup at `path`; returns 0 or -1 with errno set. */
int tfn__cgroup_remove(const char *path);

/**
 * In a worker: applies what the supervisor planned for it from the environment (TFN_CPUS,
 * TFN_MEMORY_CGROUP, TFN_MEMORY_RLIMIT), removing those variables. Problems are logged; returns
 * -1 only when the worker must not serve (it could not join its memory cgroup).
 */
int tfn__worker_apply_plan(void);

#endif
