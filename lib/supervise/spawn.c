/*
 * spawn.c — starting one worker process of a supervised graph: its arguments, environment,
 * descriptors (notify pipe, listening sockets) and resource share.
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
 * Starting a worker process
 * ------------------------------------------------------------------------------------------- */

static void on_proc_handle_closed(uv_handle_t *handle)
{
    proc_t *p = handle->data;
    if (--p->open_handles == 0)
        free(p);
}

void tfn__sup_close_proc_handle(uv_handle_t *handle)
{
    if (!uv_is_closing(handle))
        uv_close(handle, on_proc_handle_closed);
}

/* Closes what is left of a process that has exited (or never started); frees it after. */
void tfn__sup_proc_release(proc_t *p)
{
    tfn__sup_close_proc_handle((uv_handle_t *)&p->timer);
    tfn__sup_close_proc_handle((uv_handle_t *)&p->notify);
    tfn__sup_close_proc_handle((uv_handle_t *)&p->process);
}

static void on_notify_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    proc_t *p = handle->data;
    (void)suggested;
    *buf = uv_buf_init(p->notify_buf + p->notify_len,
                       (unsigned)(sizeof p->notify_buf - 1 - p->notify_len));
}

/* The worker process's command line: a malloc'd NULL-terminated array of borrowed strings
 * (the numbers are in `numbers`, the caller's). */
static char **proc_args(worker_t *w, char numbers[4][16])
{
    service_t *s = w->svc;
    const tfn__supervise_config_t *cfg = s->sup->config;
    char **args = calloc(20 + cfg->nentry_args + 2 * s->ndepends, sizeof *args);
    if (!args)
        return NULL;
    size_t n = 0;
    snprintf(numbers[0], 16, "%d", NOTIFY_FD);
    snprintf(numbers[1], 16, "%d", LISTEN_FD);
    snprintf(numbers[2], 16, "%u", w->index);
    snprintf(numbers[3], 16, "%d", LISTEN_TCP_FD);
    args[n++] = (char *)cfg->program;
    args[n++] = "serve";
    args[n++] = "--service";
    args[n++] = (char *)s->svc->name;
    args[n++] = "--notify-fd";
    args[n++] = numbers[0];
    args[n++] = "--listen-fd";
    args[n++] = numbers[1];
    if (s->tcp_fd >= 0) {
        args[n++] = "--listen-tcp-fd";
        args[n++] = numbers[3];
    }
    args[n++] = "--worker-index";
    args[n++] = numbers[2];
    args[n++] = "--quiet";
    if (s->is_entry)
        for (size_t i = 0; i < cfg->nentry_args; i++)
            args[n++] = (char *)cfg->entry_args[i];
    for (size_t i = 0; i < s->ndepends; i++) {
        args[n++] = "--depends";
        args[n++] = s->depends[i];
    }
    args[n] = NULL;
    return args;
}

/* The environment of a worker process: the supervisor's, with the worker's share of the
 * resources. Returns a malloc'd NULL-terminated array; the strings are environ's or in `vars`. */
#define MAX_VARS 10
static char **proc_env(proc_t *p, char vars[MAX_VARS][1300])
{
    worker_t *w = p->worker;
    const tfn__worker_plan_t *plan = &w->plan;
    size_t nvars = 0, nenv = 0;
    char cpus[1200];
    tfn__cpus_format(plan->cpus, plan->ncpus, cpus, sizeof cpus);
    if (plan->ncpus) {
        snprintf(vars[nvars++], 1300, TFN__CPUS_ENV "=%s", cpus);
        /* Math libraries size their thread pools from these; a worker pinned to 2 cores should
         * not start 64 threads. Only where the user has not set them. */
        static const char *const threads[] = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                              "MKL_NUM_THREADS"};
        for (size_t i = 0; i < 3; i++)
            if (!getenv(threads[i]))
                snprintf(vars[nvars++], 1300, "%s=%zu", threads[i], plan->ncpus);
    }
    bool set_gpus = plan->ngpus || plan->hide_gpus;
    if (set_gpus) {
        char gpus[1200];
        size_t len = 0;
        gpus[0] = '\0';
        for (size_t i = 0; i < plan->ngpus && len < sizeof gpus; i++)
            len += (size_t)snprintf(gpus + len, sizeof gpus - len, "%s%s", i ? "," : "",
                                    w->svc->sup->machine.gpus[plan->gpus[i]]);
        snprintf(vars[nvars++], 1300, "CUDA_VISIBLE_DEVICES=%s", gpus);
        /* Number devices as nvidia-smi does (by PCI bus), not fastest first. */
        snprintf(vars[nvars++], 1300, "CUDA_DEVICE_ORDER=PCI_BUS_ID");
    }
    if (p->cgroup[0])
        snprintf(vars[nvars++], 1300, TFN__MEMORY_CGROUP_ENV "=%s", p->cgroup);
    else if (plan->memory_bytes && w->svc->sup->memory.kind == TFN__MEMORY_RLIMIT)
        snprintf(vars[nvars++], 1300, TFN__MEMORY_RLIMIT_ENV "=%llu",
                 (unsigned long long)plan->memory_bytes);

    for (char **e = environ; *e; e++)
        nenv++;
    char **env = calloc(nenv + nvars + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t n = 0;
    for (char **e = environ; *e; e++) {
        /* Whatever the supervisor was given of these is not the worker's. */
        if (!strncmp(*e, TFN__CPUS_ENV "=", strlen(TFN__CPUS_ENV) + 1) ||
            !strncmp(*e, TFN__MEMORY_CGROUP_ENV "=", strlen(TFN__MEMORY_CGROUP_ENV) + 1) ||
            !strncmp(*e, TFN__MEMORY_RLIMIT_ENV "=", strlen(TFN__MEMORY_RLIMIT_ENV) + 1) ||
            (set_gpus &&
             (!strncmp(*e, "CUDA_VISIBLE_DEVICES=", 21) || !strncmp(*e, "CUDA_DEVICE_ORDER=", 18))))
            continue;
        env[n++] = *e;
    }
    for (size_t i = 0; i < nvars; i++)
        env[n++] = vars[i];
    env[n] = NULL;
    return env;
}

const char *tfn__sup_role_name(const proc_t *p)
{
    return p->role == ROLE_NEXT ? "replacement for " : "";
}

/* Starts a process for worker slot `w` in `role`. Returns it, or NULL (logged). */
proc_t *tfn__sup_proc_spawn(worker_t *w, role_t role)
{
    service_t *s = w->svc;
    supervisor_t *sup = s->sup;
    proc_t *p = calloc(1, sizeof *p);
    if (!p) {
        tfn__log("error", "cannot start service '%s' worker %u: out of memory", s->svc->name,
                 w->index);
        return NULL;
    }
    p->worker = w;
    p->role = role;
    uv_pipe_init(&sup->loop, &p->notify, 0);
    uv_timer_init(&sup->loop, &p->timer);
    p->notify.data = p->timer.data = p->process.data = p;
    p->open_handles = 2;

    if (w->plan.memory_bytes &&
        (sup->memory.kind == TFN__MEMORY_CGROUP1 || sup->memory.kind == TFN__MEMORY_CGROUP2)) {
        char name[256], err[1600];
        snprintf(name, sizeof name, "tiffin-%d-%s-%u-%u", (int)getpid(), s->svc->name, w->index,
                 w->spawned);
        if (tfn__cgroup_create(&sup->memory, name, w->plan.memory_bytes, p->cgroup,
                               sizeof p->cgroup, err, sizeof err) != 0) {
            tfn__log("error", "cannot start service '%s' worker %u: %s", s->svc->name, w->index,
                     err);
            p->cgroup[0] = '\0';
            tfn__sup_close_proc_handle((uv_handle_t *)&p->timer);
            tfn__sup_close_proc_handle((uv_handle_t *)&p->notify);
            return NULL;
        }
    }

    char numbers[4][16], vars[MAX_VARS][1300];
    char **args = proc_args(w, numbers);
    char **env = args ? proc_env(p, vars) : NULL;
    if (!args || !env) {
        tfn__log("error", "cannot start service '%s' worker %u: out of memory", s->svc->name,
                 w->index);
        free(args);
        if (p->cgroup[0])
            tfn__cgroup_remove(p->cgroup);
        tfn__sup_close_proc_handle((uv_handle_t *)&p->timer);
        tfn__sup_close_proc_handle((uv_handle_t *)&p->notify);
        return NULL;
    }
    uv_stdio_container_t stdio[6] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = STDOUT_FILENO},
        {.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->notify},
        {.flags = UV_INHERIT_FD, .data.fd = s->unix_fd},
        {.flags = UV_INHERIT_FD, .data.fd = s->tcp_fd},
    };
    uv_process_options_t options = {
        .exit_cb = tfn__sup_on_proc_exit,
        .file = "/proc/self/exe", /* this very program, whatever argv[0] says */
        .args = args,
        .env = env,
        .flags = UV_PROCESS_DETACHED, /* own session: a terminal's Ctrl-C reaches only us */
        .stdio_count = s->tcp_fd >= 0 ? 6 : 5,
        .stdio = stdio,
    };
    int rc = uv_spawn(&sup->loop, &p->process, &options);
    p->open_handles++; /* uv_spawn initialises the handle even when it fails */
    free(args);
    free(env);
    if (rc != 0) {
        tfn__log("error", "cannot start service '%s' worker %u: %s", s->svc->name, w->index,
                 uv_strerror(rc));
        if (p->cgroup[0])
            tfn__cgroup_remove(p->cgroup);
        tfn__sup_proc_release(p);
        return NULL;
    }
    p->alive = true;
    p->pid = p->process.pid;
    p->spawned_ms = tfn__now_ms();
    w->spawned++;
    if (uv_read_start((uv_stream_t *)&p->notify, on_notify_alloc, tfn__sup_on_notify_read) != 0)
        tfn__sup_close_proc_handle((uv_handle_t *)&p->notify);
    uv_timer_start(&p->timer, tfn__sup_on_start_deadline, sup->config->start_timeout_ms, 0);
    tfn__log("info", "%s %sservice '%s' worker %u (pid %d)",
             role == ROLE_NEXT ? "started a"
             : w->spawned > 1  ? "restarted"
                               : "started",
             tfn__sup_role_name(p), s->svc->name, w->index, p->pid);
    return p;
}
