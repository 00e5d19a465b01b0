/*
 * supervisor_state.h — the supervisor's state, shared by its files (private to lib/supervise).
 *
 *   supervisor.c  setting up (sockets, services, the resource plan), stopping, tfn__supervise
 *   spawn.c       starting a worker process: its arguments, environment and descriptors
 *   startup.c     readiness, start order, the start-up table
 *   restart.c     crashes, restarts with backoff, crash loops, the rolling restart (SIGHUP)
 *
 * See supervisor.c for the life of a supervisor.
 */
#ifndef TIFFIN_SUPERVISOR_STATE_H
#define TIFFIN_SUPERVISOR_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>
#include <uv.h>

#include "compose/graph_internal.h"
#include "observe/metrics_internal.h"
#include "supervise/resources_internal.h"
#include "supervise/supervisor_internal.h"

extern char **environ;

#define BACKOFF_FIRST_MS     100 /* first restart delay; doubles per crash */
#define BACKOFF_MAX_MS       5000
#define CRASH_LOOP_CRASHES   5     /* more crashes than this ... */
#define CRASH_LOOP_WINDOW_MS 30000 /* ... within this long is a crash loop */
#define STABLE_MS            30000 /* a worker that ran this long starts its backoff afresh */
#define KILL_GRACE_MS        5000  /* past its drain time, how long a worker may take to exit */
#define TFN__SCALE_REPORT_MS 250   /* how often a range's workers report their load (scale.c) */
#define LISTEN_BACKLOG       4096
#define SOCKET_PATH_MAX      sizeof(((struct sockaddr_un *)0)->sun_path)

/* The descriptors a worker is handed (after stdin, stdout and stderr). */
#define NOTIFY_FD     3
#define LISTEN_FD     4
#define LISTEN_TCP_FD 5
#define METRICS_FD    6

typedef enum phase { PHASE_STARTING, PHASE_RUNNING, PHASE_STOPPING, PHASE_KILLING } phase_t;

/* What a worker process is to its worker slot. */
typedef enum role {
    ROLE_CURRENT, /* the slot's process */
    ROLE_NEXT,    /* its replacement during a rolling restart, not ready yet */
    ROLE_OLD,     /* replaced: sent SIGTERM, draining */
} role_t;

typedef enum worker_state {
    WORKER_OFF,     /* not started yet */
    WORKER_UP,      /* has a process (ready or not) */
    WORKER_BACKOFF, /* its process exited; the restart timer is armed */
    WORKER_FAILED,  /* crash loop: left down */
    WORKER_STOPPED, /* shutting down: not to be started again */
} worker_state_t;

typedef struct supervisor supervisor_t;
typedef struct service service_t;
typedef struct worker worker_t;

/* One process. Freed once libuv has closed its three handles. */
typedef struct proc {
    worker_t *worker;
    role_t role;
    uv_process_t process;
    uv_pipe_t notify; /* the worker writes "ready\n" here */
    uv_timer_t timer; /* the start deadline; then the kill deadline */
    int open_handles;
    bool alive;   /* spawned and not yet exited */
    bool serving; /* its init hook has returned: it accepts */
    bool ready;   /* and its /readyz would answer 200 */
    int pid;
    uint64_t spawned_ms;
    char notify_buf[64];
    size_t notify_len;
    /* Its latest load report (scale.c): handlers running, requests waiting for a slot. */
    unsigned load_in_flight, load_queued;
    bool load_seen;
    uint64_t cpu_ticks; /* utime + stime at the previous scaling tick; 0: not read yet */
    char cgroup[1200]; /* its memory cgroup; "" for none */
    unsigned gen;      /* the slot's process number (worker_t.spawned when started) */
} proc_t;

/* One worker slot of a service: worker N, whichever process currently fills it. */
struct worker {
    service_t *svc;
    unsigned index;
    worker_state_t state;
    proc_t *proc; /* ROLE_CURRENT, or NULL */
    proc_t *next; /* ROLE_NEXT, or NULL */
    proc_t *old;  /* ROLE_OLD, or NULL */
    tfn__worker_plan_t plan;
    uv_timer_t restart_timer;
    uint32_t backoff_ms;
    uint64_t crashes[CRASH_LOOP_CRASHES + 1]; /* times of the latest crashes, oldest first */
    size_t ncrashes;
    uint64_t crashed_ms; /* when its process died, until the next one is ready */
    unsigned spawned;    /* processes started, for cgroup names */
    bool roll_pending;   /* a rolling restart has yet to replace it */

    unsigned metrics_slot;     /* its slot in the supervisor's metrics region */
    tfn__metrics_slot_t *slot; /* that slot; NULL: no metrics (TFN_OBSERVE=off) */
};

struct service {
    supervisor_t *sup;
    const tfn_service_t *svc;
    bool needed; /* reached from the entry through dependencies not overridden */
    bool is_entry;
    bool started;
    char socket_path[SOCKET_PATH_MAX];
    int unix_fd; /* the listening sockets, shared by the workers; -1: none */
    int tcp_fd;
    char **depends; /* "NAME=URL" for each of its dependencies; owned */
    size_t ndepends;
    uint32_t drain_ms; /* its resolved drain time */
    worker_t *workers;
    unsigned nworkers; /* worker slots: with a range, its maximum (slots not in use are OFF) */
    unsigned min_workers; /* started at start-up; a range scales between these two */
    bool rolling;         /* a rolling restart is under way */
    /* Scaling (scale.c): consecutive ticks above the target, and below it. */
    unsigned high_ticks, low_ticks;
    double utilization; /* the smoothed sum over its workers, in workers (1.0: one busy) */
};

struct supervisor {
    uv_loop_t loop;
    const tfn__supervise_config_t *config;
    service_t *services; /* in graph order: dependencies first, the entry last */
    size_t n;
    phase_t phase;
    bool failed; /* decides the exit status */
    bool finished;
    char dir[4096];
    bool dir_created;
    int port; /* the entry's TCP port */
    uv_signal_t sigterm, sigint, sighup;
    size_t stop_cursor;  /* how many services of the stop order have been dealt with */
    service_t *stopping; /* the service being stopped */
    tfn__machine_t machine;
    tfn__memory_limiter_t memory;
    tfn__metrics_region_t *metrics; /* every worker's metrics (observe/); NULL: off */

    uv_timer_t scale_timer; /* scale.c; data NULL: no service has a range */
};

static inline bool worker_ready(const worker_t *w) { return w->proc && w->proc->ready; }

static inline service_t *entry_of(supervisor_t *sup) { return &sup->services[sup->n - 1]; }

static inline service_t *service_of(supervisor_t *sup, const tfn_service_t *svc)
{
    for (size_t i = 0; i < sup->n; i++)
        if (sup->services[i].svc == svc)
            return &sup->services[i];
    return NULL;
}

/* The URL of a supervisor --depends NAME=URL override for `name`, or NULL. */
static inline const char *override_of(const tfn__supervise_config_t *config, const char *name)
{
    return tfn__depends_lookup(config->depends, config->ndepends, name);
}

/* ---- metrics.c (of lib/supervise) ------------------------------------------------------------ */
void tfn__sup_metrics_open(supervisor_t *sup);

/* ---- supervisor.c ---------------------------------------------------------------------------- */
void tfn__sup_begin_stop(supervisor_t *sup);
void tfn__sup_close_listeners(service_t *s);
void tfn__sup_format_gpus(const supervisor_t *sup, const tfn__worker_plan_t *p, char *out,
                          size_t size);
void tfn__sup_kill_proc(proc_t *p, int signum);
void tfn__sup_stop_next(supervisor_t *sup);

/* ---- spawn.c --------------------------------------------------------------------------------- */
void tfn__sup_close_proc_handle(uv_handle_t *handle);
void tfn__sup_proc_release(proc_t *p);
proc_t *tfn__sup_proc_spawn(worker_t *w, role_t role);
const char *tfn__sup_role_name(const proc_t *p);

/* ---- startup.c ------------------------------------------------------------------------------- */
void tfn__sup_check_start(supervisor_t *sup);
void tfn__sup_fail_start(supervisor_t *sup, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tfn__sup_on_notify_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
void tfn__sup_on_start_deadline(uv_timer_t *timer);

/* ---- restart.c ------------------------------------------------------------------------------- */
void tfn__sup_on_proc_exit(uv_process_t *process, int64_t exit_status, int term_signal);
void tfn__sup_on_sighup(uv_signal_t *handle, int signum);
void tfn__sup_roll_promote(worker_t *w);
bool tfn__sup_service_alive(const service_t *s);

/* ---- scale.c --------------------------------------------------------------------------------- */
void tfn__sup_scale_start(supervisor_t *sup);
void tfn__sup_scale_stop(supervisor_t *sup);
void tfn__sup_scale_close(supervisor_t *sup);
unsigned tfn__sup_scale_capacity(const supervisor_t *sup, const tfn_service_t *svc, unsigned min,
                                 unsigned max);

#endif
