/*
 * startup.c — readiness of a supervised graph: start order (dependencies first), the
 * notify pipe, the start deadline, the start-up table and "ready".
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

/* ---------------------------------------------------------------------------------------------
 * Readiness and start-up
 * ------------------------------------------------------------------------------------------- */

static bool service_ready(const service_t *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        if (!worker_ready(&s->workers[i]))
            return false;
    return true;
}

/* Can `s` start: is every service it depends on (that we run) ready, all its workers? */
static bool dependencies_ready(const service_t *s)
{
    TFN__FOR_EACH_DEPENDENCY(d, s->svc) {
        if (!d->service || override_of(s->sup->config, tfn__dependency_name(d)))
            continue;
        if (!service_ready(service_of(s->sup, d->service)))
            return false;
    }
    return true;
}

void tfn__sup_fail_start(supervisor_t *sup, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    tfn__log("error", "%s; stopping every service", message);
    sup->failed = true;
    tfn__sup_begin_stop(sup);
}

static void entry_address(const supervisor_t *sup, char *out, size_t size)
{
    const char *host = sup->config->host;
    snprintf(out, size, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, sup->port);
}

/* The lines a single-process `serve` prints first, now that the entry starts. */
static void print_banner(supervisor_t *sup)
{
    const service_t *e = entry_of(sup);
    char address[512];
    if (sup->config->host) {
        entry_address(sup, address, sizeof address);
        printf("%s listening on %s\n", e->svc->name, address);
    }
    printf("%s listening on unix:%s\n", e->svc->name, e->socket_path);
    fflush(stdout);
}

/* The start-up table: one row per worker. */
static void print_table(supervisor_t *sup)
{
    enum { C_SERVICE, C_PID, C_WORKER, C_CPUS, C_GPUS, C_MEMORY, C_ADDRESS, C_COUNT };
    static const char *const titles[C_COUNT] = {"SERVICE", "PID",    "WORKER", "CPUS",
                                                "GPUS",    "MEMORY", "ADDRESS"};
    int width[C_COUNT];
    for (int c = 0; c < C_COUNT; c++)
        width[c] = (int)strlen(titles[c]);
    /* Two passes: measure, then print. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            for (int c = 0; c < C_COUNT; c++)
                printf("%-*s  ", width[c], titles[c]);
            printf("DEPENDS ON\n");
        }
        for (size_t i = 0; i < sup->n; i++) {
            service_t *s = &sup->services[i];
            if (!s->needed)
                continue;
            for (unsigned k = 0; k < s->nworkers; k++) {
                const worker_t *w = &s->workers[k];
                char cell[C_COUNT][SOCKET_PATH_MAX + 300];
                snprintf(cell[C_SERVICE], sizeof cell[0], "%s", s->svc->name);
                if (w->proc)
                    snprintf(cell[C_PID], sizeof cell[0], "%d", w->proc->pid);
                else
                    snprintf(cell[C_PID], sizeof cell[0], "-");
                snprintf(cell[C_WORKER], sizeof cell[0], "%u", k);
                tfn__cpus_format(w->plan.cpus, w->plan.ncpus, cell[C_CPUS], sizeof cell[0]);
                tfn__sup_format_gpus(sup, &w->plan, cell[C_GPUS], sizeof cell[0]);
                if (w->plan.gpu_shared) {
                    size_t len = strlen(cell[C_GPUS]);
                    snprintf(cell[C_GPUS] + len, sizeof cell[0] - len, "(%g)",
                             s->svc->resources.gpu);
                }
                if (!w->plan.memory_bytes)
                    snprintf(cell[C_MEMORY], sizeof cell[0], "-");
                else
                    snprintf(cell[C_MEMORY], sizeof cell[0], "%lluMiB%s",
                             (unsigned long long)(w->plan.memory_bytes >> 20),
                             sup->memory.kind == TFN__MEMORY_OFF ? "(off)" : "");
                if (s->is_entry && sup->config->host)
                    entry_address(sup, cell[C_ADDRESS], sizeof cell[0]);
                else
                    snprintf(cell[C_ADDRESS], sizeof cell[0], "unix:%s", s->socket_path);
                if (pass == 0) {
                    for (int c = 0; c < C_COUNT; c++) {
                        int len = (int)strlen(cell[c]);
                        width[c] = len > width[c] ? len : width[c];
                    }
                    continue;
                }
                for (int c = 0; c < C_COUNT; c++)
                    printf("%-*s  ", width[c], cell[c]);
                /* Each edge as its dependency name; where that is not simply the service of the
                 * same name, also what it points to. */
                size_t edges = 0;
                TFN__FOR_EACH_DEPENDENCY(d, s->svc) {
                    const char *name = tfn__dependency_name(d);
                    const char *url = override_of(sup->config, name);
                    printf("%s%s", edges++ ? ", " : "", name);
                    if (url || !d->service)
                        printf("=%s", url ? url : d->url);
                    else if (strcmp(name, d->service->name) != 0)
                        printf("=%s", d->service->name);
                }
                printf("%s\n", edges ? "" : "-");
            }
        }
    }
    fflush(stdout);
}

static int start_service(service_t *s)
{
    supervisor_t *sup = s->sup;
    s->started = true;
    if (s->is_entry && !sup->config->quiet)
        print_banner(sup);
    for (unsigned i = 0; i < s->nworkers; i++) {
        worker_t *w = &s->workers[i];
        if (!(w->proc = tfn__sup_proc_spawn(w, ROLE_CURRENT)))
            return -1;
        w->state = WORKER_UP;
    }
    return 0;
}

/* During start-up: starts every service that can start now; once the entry is ready, says so. */
void tfn__sup_check_start(supervisor_t *sup)
{
    if (sup->phase != PHASE_STARTING)
        return;
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        if (!s->needed || s->started || !dependencies_ready(s))
            continue;
        if (start_service(s) != 0) {
            tfn__sup_fail_start(sup, "service '%s' could not be started", s->svc->name);
            return;
        }
    }
    if (!service_ready(entry_of(sup)))
        return;
    sup->phase = PHASE_RUNNING;
    if (!sup->config->quiet) {
        print_table(sup);
        printf("ready\n");
        fflush(stdout);
    }
    tfn__log("info", "every service is ready");
}

static void proc_ready(proc_t *p);

/* The worker's init hook has returned: it accepts connections. A worker restarted while the
 * graph runs is then past its start deadline's purpose: should a dependency be down, it serves
 * (answering what it can) rather than being killed for not being "ready". */
static void proc_serving(proc_t *p)
{
    p->serving = true;
    if (p->role == ROLE_CURRENT && p->worker->svc->sup->phase == PHASE_RUNNING && p->alive)
        uv_timer_stop(&p->timer);
}

void tfn__sup_on_notify_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    proc_t *p = stream->data;
    (void)buf;
    if (nread < 0) { /* EOF: the worker has said what it had to, or died */
        tfn__sup_close_proc_handle((uv_handle_t *)&p->notify);
        return;
    }
    p->notify_len += (size_t)nread;
    p->notify_buf[p->notify_len] = '\0';
    if (!p->serving && strstr(p->notify_buf, "serving\n"))
        proc_serving(p);
    if (strstr(p->notify_buf, "ready\n"))
        proc_ready(p);
    if (p->notify_len == sizeof p->notify_buf - 1) /* not our worker talking */
        tfn__sup_close_proc_handle((uv_handle_t *)&p->notify);
}

static void proc_ready(proc_t *p)
{
    worker_t *w = p->worker;
    service_t *s = w->svc;
    if (!p->alive || p->ready)
        return;
    p->ready = true;
    uv_timer_stop(&p->timer);
    if (s->sup->phase == PHASE_STOPPING || s->sup->phase == PHASE_KILLING)
        return;
    if (p->role == ROLE_NEXT) {
        tfn__sup_roll_promote(w);
        return;
    }
    if (w->crashed_ms) {
        tfn__log("info",
                 "service '%s' worker %u (pid %d) is ready, %llu ms after its "
                 "predecessor died",
                 s->svc->name, w->index, p->pid,
                 (unsigned long long)(tfn__now_ms() - w->crashed_ms));
        w->crashed_ms = 0;
    } else {
        tfn__log("info", "service '%s' worker %u (pid %d) is ready", s->svc->name, w->index,
                 p->pid);
    }
    tfn__sup_check_start(s->sup);
}

void tfn__sup_on_start_deadline(uv_timer_t *timer)
{
    proc_t *p = timer->data;
    worker_t *w = p->worker;
    service_t *s = w->svc;
    supervisor_t *sup = s->sup;
    uint32_t ms = sup->config->start_timeout_ms;
    if (!p->alive || p->ready || sup->phase == PHASE_STOPPING || sup->phase == PHASE_KILLING)
        return;
    if (sup->phase == PHASE_STARTING && p->role == ROLE_CURRENT) {
        tfn__sup_fail_start(sup,
                            "service '%s' worker %u (pid %d) did not become ready within %u ms",
                            s->svc->name, w->index, p->pid, ms);
        return;
    }
    /* A restarted worker, or a rolling restart's replacement, that hangs: kill it. Its exit is
     * then a crash (restarted after the backoff), or the end of the rolling restart. */
    tfn__log("error",
             "service '%s' %sworker %u (pid %d) did not become ready within %u ms: "
             "killing it",
             s->svc->name, tfn__sup_role_name(p), w->index, p->pid, ms);
    tfn__sup_kill_proc(p, SIGKILL);
}
