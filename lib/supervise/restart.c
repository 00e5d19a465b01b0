/*
 * restart.c — what the supervisor does when a worker exits: restart after a backoff, leave a
 * crash loop down, and the rolling restart of every worker on SIGHUP.
 * See supervisor.c for the life of a supervisor.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "core/log_internal.h"
#include "supervise/resources_internal.h"
#include "server/server_internal.h"
#include "supervise/supervisor_internal.h"
#include "supervise/supervisor_state.h"

static void roll_advance(service_t *s);

/* ---------------------------------------------------------------------------------------------
 * Crashes and restarts
 * ------------------------------------------------------------------------------------------- */

static void describe_exit(const proc_t *p, int64_t exit_status, int term_signal, char *out,
                          size_t size)
{
    const supervisor_t *sup = p->worker->svc->sup;
    if (term_signal == SIGKILL && p->cgroup[0] &&
        tfn__cgroup_oom_kills(sup->memory.kind, p->cgroup) > 0)
        snprintf(out, size, "was killed by the kernel: over its memory limit of %llu MiB",
                 (unsigned long long)(p->worker->plan.memory_bytes >> 20));
    else if (term_signal)
        snprintf(out, size, "killed by signal %d (%s)", term_signal, strsignal(term_signal));
    else
        snprintf(out, size, "exited with status %lld", (long long)exit_status);
}

static void on_restart(uv_timer_t *timer);

/* No worker of `s` will serve again: close its socket, so that callers fail fast. */
static void service_maybe_down(service_t *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        if (s->workers[i].state != WORKER_FAILED)
            return;
    tfn__log("error", "service '%s' has no worker left: closing its socket", s->svc->name);
    tfn__sup_close_listeners(s);
}

/* The process of slot `w` (started at `spawned_ms`) died while it should be serving: restart it
 * after the backoff, unless it is in a crash loop. */
static void crashed(worker_t *w, int pid, uint64_t spawned_ms, const char *how)
{
    service_t *s = w->svc;
    supervisor_t *sup = s->sup;
    uint64_t now = tfn__now_ms();
    if (now - spawned_ms >= STABLE_MS)
        w->backoff_ms = BACKOFF_FIRST_MS;
    if (w->ncrashes == CRASH_LOOP_CRASHES + 1) {
        memmove(w->crashes, w->crashes + 1, CRASH_LOOP_CRASHES * sizeof *w->crashes);
        w->ncrashes--;
    }
    w->crashes[w->ncrashes++] = now;
    if (!w->crashed_ms)
        w->crashed_ms = now;
    if (w->ncrashes == CRASH_LOOP_CRASHES + 1 && now - w->crashes[0] <= CRASH_LOOP_WINDOW_MS) {
        tfn__log("error",
                 "service '%s' worker %u (pid %d) %s: crash loop (%d crashes within %d s), "
                 "not restarting it",
                 s->svc->name, w->index, pid, how, CRASH_LOOP_CRASHES + 1,
                 CRASH_LOOP_WINDOW_MS / 1000);
        w->state = WORKER_FAILED;
        sup->failed = true;
        if (sup->phase == PHASE_STARTING) {
            tfn__sup_fail_start(sup, "service '%s' could not start", s->svc->name);
            return;
        }
        service_maybe_down(s);
        return;
    }
    tfn__log("warn", "service '%s' worker %u (pid %d) %s; restarting it in %u ms", s->svc->name,
             w->index, pid, how, w->backoff_ms);
    w->state = WORKER_BACKOFF;
    uv_timer_start(&w->restart_timer, on_restart, w->backoff_ms, 0);
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static void on_restart(uv_timer_t *timer)
{
    worker_t *w = timer->data;
    supervisor_t *sup = w->svc->sup;
    if (w->state != WORKER_BACKOFF || (sup->phase != PHASE_STARTING && sup->phase != PHASE_RUNNING))
        return;
    if (!(w->proc = tfn__sup_proc_spawn(w, ROLE_CURRENT))) {
        crashed(w, 0, tfn__now_ms(), "could not be restarted");
        return;
    }
    w->state = WORKER_UP;
}

bool tfn__sup_service_alive(const service_t *s)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        const worker_t *w = &s->workers[i];
        if ((w->proc && w->proc->alive) || (w->next && w->next->alive) || (w->old && w->old->alive))
            return true;
    }
    return false;
}

void tfn__sup_on_proc_exit(uv_process_t *process, int64_t exit_status, int term_signal)
{
    proc_t *p = process->data;
    worker_t *w = p->worker;
    service_t *s = w->svc;
    supervisor_t *sup = s->sup;
    const char *name = s->svc->name;
    char how[256];
    describe_exit(p, exit_status, term_signal, how, sizeof how);
    p->alive = false;
    uv_timer_stop(&p->timer);
    if (p->cgroup[0] && tfn__cgroup_remove(p->cgroup) != 0)
        tfn__log("warn", "cannot remove cgroup %s: %s", p->cgroup, strerror(errno));
    bool clean = exit_status == 0 && term_signal == 0;
    bool shutting_down = sup->phase == PHASE_STOPPING || sup->phase == PHASE_KILLING;
    role_t role = p->role;
    int pid = p->pid;
    uint64_t spawned_ms = p->spawned_ms;
    bool was_ready = p->ready;
    if (w->proc == p)
        w->proc = NULL;
    if (w->next == p)
        w->next = NULL;
    if (w->old == p)
        w->old = NULL;
    tfn__sup_proc_release(p); /* freed later, by libuv's close callbacks; not used below */

    if (shutting_down) {
        if (w->state != WORKER_FAILED)
            w->state = WORKER_STOPPED;
        if (clean) {
            tfn__log("info", "service '%s' worker %u (pid %d) stopped", name, w->index, pid);
        } else {
            sup->failed = true;
            tfn__log("warn", "service '%s' worker %u (pid %d) %s", name, w->index, pid, how);
        }
        tfn__sup_stop_next(sup);
        return;
    }
    switch (role) {
    case ROLE_OLD: /* replaced by a rolling restart, drained */
        if (clean)
            tfn__log("info", "service '%s' worker %u (pid %d) has drained and stopped", name,
                     w->index, pid);
        else
            tfn__log("warn", "service '%s' worker %u (pid %d), replaced, %s", name, w->index, pid,
                     how);
        roll_advance(s);
        return;
    case ROLE_NEXT:
        tfn__log("error",
                 "rolling restart of service '%s' stopped: the replacement for worker "
                 "%u (pid %d) %s before it was ready; the workers it was to replace keep serving",
                 name, w->index, pid, how);
        s->rolling = false;
        for (unsigned i = 0; i < s->nworkers; i++)
            s->workers[i].roll_pending = false;
        if (!w->proc && w->state == WORKER_UP) /* the process it was to replace died too */
            crashed(w, pid, spawned_ms, how);
        return;
    case ROLE_CURRENT:
        if (sup->phase == PHASE_STARTING && !was_ready) {
            tfn__sup_fail_start(sup, "service '%s' worker %u (pid %d) %s before it was ready", name,
                                w->index, pid, how);
            return;
        }
        if (w->next) { /* its replacement is starting: that will be the slot's process */
            tfn__log("warn",
                     "service '%s' worker %u (pid %d) %s; its replacement (pid %d) is "
                     "starting",
                     name, w->index, pid, how, w->next->pid);
            w->crashed_ms = tfn__now_ms();
            return;
        }
        crashed(w, pid, spawned_ms, how);
        return;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Rolling restart (SIGHUP)
 *
 * Per service, one worker at a time: start a replacement; once it is ready, it takes the slot
 * and the old process gets SIGTERM (it stops accepting and drains); once that has exited, the
 * next worker. The socket is shared, so at every moment some worker accepts: no connection is
 * refused. If a replacement fails to start, the service's rolling restart stops there and the
 * remaining old workers keep serving.
 * ------------------------------------------------------------------------------------------- */

static bool any_rolling(const supervisor_t *sup)
{
    for (size_t i = 0; i < sup->n; i++)
        if (sup->services[i].rolling)
            return true;
    return false;
}

static void roll_advance(service_t *s)
{
    if (!s->rolling || s->sup->phase != PHASE_RUNNING)
        return;
    for (unsigned i = 0; i < s->nworkers; i++)
        if (s->workers[i].next || s->workers[i].old)
            return; /* one at a time */
    for (unsigned i = 0; i < s->nworkers; i++) {
        worker_t *w = &s->workers[i];
        if (!w->roll_pending)
            continue;
        w->roll_pending = false;
        if (w->state != WORKER_UP || !worker_ready(w))
            continue; /* restarting anyway, or left down */
        if (!(w->next = tfn__sup_proc_spawn(w, ROLE_NEXT))) {
            tfn__log("error", "rolling restart of service '%s' stopped at worker %u", s->svc->name,
                     i);
            break;
        }
        return;
    }
    s->rolling = false;
    for (unsigned i = 0; i < s->nworkers; i++)
        s->workers[i].roll_pending = false;
    tfn__log("info", "rolling restart of service '%s' done", s->svc->name);
    if (!any_rolling(s->sup))
        tfn__log("info", "rolling restart done");
}

/* The replacement of `w` is ready: it takes the slot, and the old process drains. */
void tfn__sup_roll_promote(worker_t *w)
{
    service_t *s = w->svc;
    proc_t *old = w->proc, *next = w->next;
    w->next = NULL;
    next->role = ROLE_CURRENT;
    w->proc = next;
    w->state = WORKER_UP;
    w->crashed_ms = 0;
    if (!old || !old->alive) {
        tfn__log("info", "service '%s' worker %u (pid %d) is ready", s->svc->name, w->index,
                 next->pid);
        roll_advance(s);
        return;
    }
    tfn__log("info",
             "service '%s' worker %u (pid %d) is ready and replaces pid %d, which "
             "drains",
             s->svc->name, w->index, next->pid, old->pid);
    old->role = ROLE_OLD;
    w->old = old;
    tfn__sup_kill_proc(old, SIGTERM);
}

void tfn__sup_on_sighup(uv_signal_t *handle, int signum)
{
    supervisor_t *sup = handle->data;
    (void)signum;
    if (sup->phase != PHASE_RUNNING) {
        tfn__log("warn", "SIGHUP: ignored while %s",
                 sup->phase == PHASE_STARTING ? "starting" : "stopping");
        return;
    }
    if (any_rolling(sup)) {
        tfn__log("warn", "SIGHUP: a rolling restart is already under way");
        return;
    }
    tfn__log("info", "SIGHUP: restarting every worker, one at a time per service (there is no "
                     "configuration file to reload)");
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        if (!s->needed)
            continue;
        s->rolling = true;
        for (unsigned k = 0; k < s->nworkers; k++)
            s->workers[k].roll_pending = true;
    }
    for (size_t i = 0; i < sup->n; i++)
        roll_advance(&sup->services[i]);
}
