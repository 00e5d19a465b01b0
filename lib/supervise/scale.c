/*
 * scale.c — a worker range (tfn_service_t.max_workers, --workers NAME=MIN:MAX): the supervisor
 * adds workers while a service is busy and retires them when it is idle.
 *
 * Every TICK_MS, for each service with a range, the utilization of each worker in use is
 *
 *     max(handlers running / handler threads, CPU time / its cores), plus 1 + the requests
 *     waiting for a handler slot (per thread) when any wait
 *
 * from the worker's load reports (its notify pipe, TFN__LOAD_REPORT_ENV) and /proc/PID/stat.
 * Their sum, smoothed, gives the workers wanted as a HorizontalPodAutoscaler computes replicas:
 * ceil(sum / TARGET), within the range. Above the workers in use for UP_TICKS ticks in a row: one
 * more (then no other until it is ready). Below for DOWN_TICKS: the highest-numbered worker
 * drains and stops (SIGTERM, as in a rolling restart). Every change is logged with its reason.
 * The range's maximum is capped by the cores `serve` may use (tfn__sup_scale_capacity).
 * See docs/design.md ("Deployment").
 */
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log_internal.h"
#include "server/server_internal.h" /* before supervisor_state.h: TFN__MAX_BATCH_ARGS */
#include "supervise/supervisor_state.h"

#define TICK_MS    500
#define TARGET     0.7 /* utilization a worker is aimed at */
#define UP_TICKS   2   /* 1 s above: add a worker */
#define DOWN_TICKS 10  /* 5 s below: retire one */
#define SMOOTHING  0.5 /* weight of the previous value in the moving average */

unsigned tfn__sup_scale_capacity(const supervisor_t *sup, const tfn_service_t *svc, unsigned min,
                                 unsigned max)
{
    cpu_set_t set;
    unsigned cores = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        cores = (unsigned)CPU_COUNT(&set);
    unsigned each = svc->resources.cpu > 0 ? (unsigned)ceil(svc->resources.cpu) : 1;
    unsigned fit = cores / each ? cores / each : 1;
    unsigned cap = max < fit ? max : fit;
    (void)sup;
    if (cap < min)
        cap = min;
    if (cap < max)
        tfn__log("info",
                 "scale: service '%s' may grow to %u workers, not %u: %u core%s allowed, %u a "
                 "worker",
                 svc->name, cap, max, cores, cores == 1 ? "" : "s", each);
    return cap;
}

/* CPU time (utime + stime, in clock ticks) of `pid`; 0 if it cannot be read. */
static uint64_t cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long utime, stime;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return 0;
    return utime + stime;
}

static bool has_thread_apis(const tfn_service_t *svc)
{
    for (const tfn_api_t *a = svc->apis; a->name; a++)
        if (a->run == TFN_RUN_IN_THREAD)
            return true;
    return false;
}

/* The utilization of worker `w` over the last tick (see the top of the file). */
static double worker_utilization(worker_t *w)
{
    proc_t *p = w->proc;
    const tfn_service_t *svc = w->svc->svc;
    double threads = has_thread_apis(svc) ? (svc->threads ? svc->threads : 4) : 0;
    double u = 0;
    uint64_t ticks = cpu_ticks(p->pid);
    if (p->cpu_ticks && ticks >= p->cpu_ticks) {
        double seconds = (double)(ticks - p->cpu_ticks) / (double)sysconf(_SC_CLK_TCK);
        u = seconds / (TICK_MS / 1000.0) / (double)(w->plan.ncpus ? w->plan.ncpus : 1);
    }
    p->cpu_ticks = ticks;
    if (!p->load_seen)
        return u;
    if (threads > 0 && p->load_in_flight / threads > u)
        u = p->load_in_flight / threads;
    if (p->load_queued)
        u = (u > 1 ? u : 1) + p->load_queued / (threads > 0 ? threads : 1);
    return u;
}

static void add_worker(service_t *s, unsigned active, double wanted)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        worker_t *w = &s->workers[i];
        if (w->state != WORKER_OFF)
            continue;
        w->ncrashes = 0;
        w->backoff_ms = BACKOFF_FIRST_MS;
        w->crashed_ms = 0;
        if (!(w->proc = tfn__sup_proc_spawn(w, ROLE_CURRENT))) {
            tfn__log("error", "scale: service '%s': cannot start worker %u", s->svc->name, i);
            return;
        }
        w->state = WORKER_UP;
        tfn__log("info",
                 "scale: service '%s' up from %u to %u workers: utilization %.2f for %d ms "
                 "(target %.2f a worker, %.1f workers wanted); worker %u starts (pid %d)",
                 s->svc->name, active, active + 1, s->utilization, UP_TICKS * TICK_MS, TARGET,
                 wanted, i, w->proc->pid);
        return;
    }
}

static void retire_worker(service_t *s, unsigned active, double wanted)
{
    for (unsigned i = s->nworkers; i-- > 0;) {
        worker_t *w = &s->workers[i];
        if (w->state != WORKER_UP || !worker_ready(w) || w->next || w->old)
            continue;
        proc_t *p = w->proc;
        w->proc = NULL;
        w->old = p;
        p->role = ROLE_OLD;
        w->state = WORKER_OFF;
        tfn__log("info",
                 "scale: service '%s' down from %u to %u workers: utilization %.2f for %d ms "
                 "(target %.2f a worker, %.1f workers wanted); worker %u (pid %d) drains and "
                 "stops",
                 s->svc->name, active, active - 1, s->utilization, DOWN_TICKS * TICK_MS, TARGET,
                 wanted, i, p->pid);
        tfn__sup_kill_proc(p, SIGTERM);
        return;
    }
}

static void scale_service(service_t *s)
{
    unsigned active = 0;
    bool settling = false; /* a worker is starting: wait for it before deciding more */
    double sum = 0;
    for (unsigned i = 0; i < s->nworkers; i++) {
        worker_t *w = &s->workers[i];
        if (w->state == WORKER_OFF)
            continue;
        active++;
        if (worker_ready(w))
            sum += worker_utilization(w);
        else
            settling = true;
    }
    s->utilization = SMOOTHING * s->utilization + (1 - SMOOTHING) * sum;
    double wanted = s->utilization / TARGET;
    unsigned want = (unsigned)ceil(wanted - 1e-9);
    if (want < s->min_workers)
        want = s->min_workers;
    if (want > s->nworkers)
        want = s->nworkers;
    if (want > active) {
        s->low_ticks = 0;
        if (++s->high_ticks >= UP_TICKS && !settling) {
            s->high_ticks = 0;
            add_worker(s, active, wanted);
        }
    } else if (want < active) {
        s->high_ticks = 0;
        if (++s->low_ticks >= DOWN_TICKS && !settling) {
            s->low_ticks = 0;
            retire_worker(s, active, wanted);
        }
    } else {
        s->high_ticks = s->low_ticks = 0;
    }
}

static void on_tick(uv_timer_t *timer)
{
    supervisor_t *sup = timer->data;
    if (sup->phase != PHASE_RUNNING)
        return;
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        if (s->needed && s->nworkers > s->min_workers && !s->rolling)
            scale_service(s);
    }
}

void tfn__sup_scale_start(supervisor_t *sup)
{
    bool any = false;
    for (size_t i = 0; i < sup->n; i++)
        any |= sup->services[i].needed && sup->services[i].nworkers > sup->services[i].min_workers;
    if (!any || sup->scale_timer.data)
        return;
    uv_timer_init(&sup->loop, &sup->scale_timer);
    sup->scale_timer.data = sup;
    uv_timer_start(&sup->scale_timer, on_tick, TICK_MS, TICK_MS);
}

void tfn__sup_scale_stop(supervisor_t *sup)
{
    if (sup->scale_timer.data)
        uv_timer_stop(&sup->scale_timer);
}

void tfn__sup_scale_close(supervisor_t *sup)
{
    if (sup->scale_timer.data && !uv_is_closing((uv_handle_t *)&sup->scale_timer))
        uv_close((uv_handle_t *)&sup->scale_timer, NULL);
}
