/*
 * supervisor.c — `serve` for a service graph: each service in its own worker processes,
 * supervised, each worker given the resources its service declared.
 *
 * Sockets. The supervisor binds every service's listening socket itself — a unix socket
 * DIR/NAME.sock in a private directory, and for the entry also the TCP address the user asked
 * for — and hands it to each of the service's workers (fd 4, and 5 for TCP; `--listen-fd`).
 * All the workers of a service accept on that one socket, so the kernel spreads connections
 * across them (nginx's model), a worker that dies leaves the socket and the other workers
 * serving, and connections made while no worker accepts wait in the backlog instead of being
 * refused. Each service is told where its dependencies are with `--depends NAME=unix:PATH`.
 *
 * Readiness. A worker cannot be probed through a socket it shares, so each one gets a pipe
 * (fd 3, `--notify-fd`) on which it writes "ready" once its /readyz would answer 200.
 *
 * Resources (resources.c). The supervisor plans cores, GPUs and memory limits for every worker
 * at start and passes each its share in its environment (TFN_CPUS, CUDA_VISIBLE_DEVICES,
 * TFN_MEMORY_CGROUP or TFN_MEMORY_RLIMIT); the worker applies it before anything else. Memory
 * cgroups are created here, one per worker process, and removed when it has gone.
 *
 * Life of a supervisor (one libuv loop; signal handlers only queue events, as in nginx):
 *   STARTING  every service whose local dependencies are ready (all their workers) is started,
 *             all its workers at once. A worker that exits or is not ready within
 *             --start-timeout fails the start: everything is stopped, exit 1.
 *             Once the entry is ready: the table of workers, then "ready" on stdout.
 *   RUNNING   a worker that exits is restarted after a backoff (100 ms doubling to 5 s); more
 *             than 5 crashes within 30 s is a crash loop and that worker is left down. SIGHUP
 *             restarts every worker, one at a time per service: the replacement is started,
 *             and once it is ready the old one is sent SIGTERM and drains.
 *   STOPPING  SIGTERM/SIGINT: SIGTERM to the entry's workers, wait for them to exit (drain time
 *             + 5 s, then SIGKILL), then the same for the others in reverse graph order.
 *   KILLING   a second SIGTERM/SIGINT: SIGKILL to every worker.
 * Workers run in their own session (UV_PROCESS_DETACHED), so a Ctrl-C on the terminal reaches
 * only the supervisor, which then stops them in order; they die with the supervisor through
 * PR_SET_PDEATHSIG, which the worker sets itself (cli.c) on seeing TFN_SUPERVISOR_PID.
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

static void finish(supervisor_t *sup);

/* ---------------------------------------------------------------------------------------------
 * Setting up: the socket directory, which services run, their addresses and sockets
 * ------------------------------------------------------------------------------------------- */

static int make_socket_dir(supervisor_t *sup)
{
    const char *dir = sup->config->socket_dir;
    char path[sizeof sup->dir];
    if (dir) {
        if (mkdir(dir, 0700) == 0) {
            sup->dir_created = true;
        } else if (errno != EEXIST) {
            tfn__log("error", "cannot create socket directory %s: %s", dir, strerror(errno));
            return -1;
        }
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            tfn__log("error", "socket directory %s is not a directory", dir);
            return -1;
        }
        snprintf(path, sizeof path, "%s", dir);
    } else {
        const char *base = getenv("TFN_RUNTIME_DIR");
        if (!base || !*base)
            base = getenv("XDG_RUNTIME_DIR");
        if (!base || !*base)
            base = "/tmp";
        if (snprintf(path, sizeof path, "%s/tiffin-XXXXXX", base) >= (int)sizeof path ||
            !mkdtemp(path)) {
            tfn__log("error", "cannot create a socket directory in %s: %s", base, strerror(errno));
            return -1;
        }
        sup->dir_created = true;
    }
    /* Absolute, so that the addresses handed to workers mean the same wherever they run. */
    if (!realpath(path, sup->dir)) {
        tfn__log("error", "socket directory %s: %s", path, strerror(errno));
        if (sup->dir_created)
            rmdir(path);
        sup->dir_created = false;
        return -1;
    }
    return 0;
}

/* Marks the services reached from the entry through dependencies that are not overridden. */
static void mark_needed(supervisor_t *sup, service_t *s)
{
    if (s->needed)
        return;
    s->needed = true;
    TFN__FOR_EACH_DEPENDENCY(d, s->svc)
        if (d->service && !override_of(sup->config, tfn__dependency_name(d)))
            mark_needed(sup, service_of(sup, d->service));
}

static int set_up_services(supervisor_t *sup, const tfn__graph_t *graph)
{
    const tfn__supervise_config_t *cfg = sup->config;
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        s->svc = graph->services[i];
        s->is_entry = i == sup->n - 1;
        const char *path = s->is_entry && cfg->unix_path ? cfg->unix_path : NULL;
        int len = path ? snprintf(s->socket_path, sizeof s->socket_path, "%s", path)
                       : snprintf(s->socket_path, sizeof s->socket_path, "%s/%s.sock", sup->dir,
                                  s->svc->name);
        if (len < 0 || (size_t)len >= sizeof s->socket_path) {
            tfn__log("error",
                     "socket path for service '%s' is longer than %zu bytes: "
                     "choose a shorter --socket-dir",
                     s->svc->name, sizeof s->socket_path - 1);
            return -1;
        }
        tfn__serve_config_t resolved = {0};
        if (s->is_entry)
            resolved.traffic.drain_ms = cfg->entry_drain_ms;
        tfn__serve_config_resolve(&resolved, s->svc);
        s->drain_ms = resolved.traffic.drain_ms;
    }
    mark_needed(sup, entry_of(sup));

    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        if (!s->needed)
            continue;
        /* Its workers. */
        unsigned nworkers = cfg->workers && cfg->workers[i] ? cfg->workers[i] : 1;
        if (nworkers > TFN__MAX_WORKERS) {
            tfn__log("error", "service '%s' asks for %u workers; at most %d", s->svc->name,
                     nworkers, TFN__MAX_WORKERS);
            return -1;
        }
        if (!(s->workers = calloc(nworkers, sizeof *s->workers)))
            return -1;
        s->nworkers = nworkers;
        for (unsigned w = 0; w < nworkers; w++) {
            worker_t *wk = &s->workers[w];
            wk->svc = s;
            wk->index = w;
            wk->backoff_ms = BACKOFF_FIRST_MS;
            uv_timer_init(&sup->loop, &wk->restart_timer);
            wk->restart_timer.data = wk;
        }

        /* Its --depends: an override, a sibling's socket, or the defined url. */
        size_t n = 0;
        TFN__FOR_EACH_DEPENDENCY(d, s->svc)
            n++;
        if (n > TFN__MAX_DEPENDS) {
            tfn__log("error", "service '%s' has more than %d dependencies", s->svc->name,
                     TFN__MAX_DEPENDS);
            return -1;
        }
        if (n && !(s->depends = calloc(n, sizeof *s->depends)))
            return -1;
        TFN__FOR_EACH_DEPENDENCY(d, s->svc) {
            const char *name = tfn__dependency_name(d);
            const char *url = override_of(cfg, name);
            char local[SOCKET_PATH_MAX + 8];
            if (!url && d->service) {
                snprintf(local, sizeof local, "unix:%s", service_of(sup, d->service)->socket_path);
                url = local;
            }
            if (!url)
                url = d->url;
            size_t size = strlen(name) + strlen(url) + 2;
            char *arg = malloc(size);
            if (!arg)
                return -1;
            snprintf(arg, size, "%s=%s", name, url);
            s->depends[s->ndepends++] = arg;
        }
    }
    return 0;
}

/* A unix socket bound at `path` and listening; its descriptor, or -1 (logged). */
static int listen_unix(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* a stale socket from a previous run */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0) {
        tfn__log("error", "cannot listen on unix:%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* A TCP socket bound to host:port and listening; its descriptor, or -1 (logged). *port_out is
 * the port bound (the one the kernel picked for port 0). */
static int listen_tcp(const char *host, int port, int *port_out)
{
    struct sockaddr_storage addr;
    socklen_t len;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) == 0) {
        len = sizeof(struct sockaddr_in);
    } else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) == 0) {
        len = sizeof(struct sockaddr_in6);
    } else {
        tfn__log("error", "cannot listen: '%s' is not an IPv4 or IPv6 address", host);
        return -1;
    }
    int one = 1;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&addr, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        tfn__log("error", "cannot listen on %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port_out = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                 : ((struct sockaddr_in *)&addr)->sin_port);
    return fd;
}

static int open_listeners(supervisor_t *sup)
{
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        if (!s->needed)
            continue;
        if (s->is_entry && sup->config->host &&
            (s->tcp_fd = listen_tcp(sup->config->host, sup->config->port, &sup->port)) < 0)
            return -1;
        if ((s->unix_fd = listen_unix(s->socket_path)) < 0)
            return -1;
    }
    return 0;
}

/* Closes a service's sockets: new connections are refused from now on. */
void tfn__sup_close_listeners(service_t *s)
{
    if (s->tcp_fd >= 0)
        close(s->tcp_fd);
    if (s->unix_fd >= 0) {
        close(s->unix_fd);
        struct stat st;
        if (lstat(s->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(s->socket_path);
    }
    s->tcp_fd = s->unix_fd = -1;
}

/* ---------------------------------------------------------------------------------------------
 * The resource plan
 * ------------------------------------------------------------------------------------------- */

void tfn__sup_format_gpus(const supervisor_t *sup, const tfn__worker_plan_t *p, char *out,
                          size_t size)
{
    size_t len = 0;
    snprintf(out, size, "%s", p->hide_gpus ? "none" : "-");
    for (size_t i = 0; i < p->ngpus && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%s", i ? "," : "",
                                sup->machine.gpus[p->gpus[i]]);
}

static int plan_resources(supervisor_t *sup)
{
    tfn__resource_request_t requests[TFN__GRAPH_MAX];
    tfn__worker_plan_t *plans[TFN__GRAPH_MAX];
    service_t *planned[TFN__GRAPH_MAX];
    size_t n = 0;
    bool want_gpus = false, want_memory = false;
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        if (!s->needed)
            continue;
        requests[n] = (tfn__resource_request_t){
            .name = s->svc->name, .workers = s->nworkers, .resources = s->svc->resources};
        want_gpus |= s->svc->resources.gpu > 0;
        want_memory |= s->svc->resources.memory_mb > 0;
        /* The plan is written into each worker slot through a scratch array. */
        if (!(plans[n] = calloc(s->nworkers, sizeof *plans[n]))) {
            for (size_t k = 0; k < n; k++)
                free(plans[k]);
            tfn__log("error", "out of memory");
            return -1;
        }
        planned[n++] = s;
    }
    char err[2048];
    tfn__plan_totals_t totals;
    int rc = tfn__machine_read(&sup->machine, want_gpus, err, sizeof err);
    if (rc == 0)
        rc = tfn__plan(&sup->machine, requests, n, plans, &totals, err, sizeof err);
    if (rc == 0 && want_memory) {
        rc = tfn__memory_limiter_init(&sup->memory, err, sizeof err);
        if (rc == 0)
            tfn__log(sup->memory.kind == TFN__MEMORY_OFF ? "warn" : "info", "%s", sup->memory.note);
    }
    for (size_t k = 0; k < n; k++) {
        for (unsigned w = 0; rc == 0 && w < planned[k]->nworkers; w++)
            planned[k]->workers[w].plan = plans[k][w];
        free(plans[k]);
    }
    if (rc != 0) {
        tfn__log("error", "%s", err);
        return -1;
    }

    char cpus[4096];
    tfn__cpus_format(sup->machine.cpus, sup->machine.ncpus, cpus, sizeof cpus);
    if (totals.cpu_oversubscribed)
        tfn__log("warn",
                 "cores are oversubscribed: %zu worker%s ask for %zu core%s in all, and %zu "
                 "%s allowed (CPUs %s); they share them round-robin",
                 totals.cpu_workers, totals.cpu_workers == 1 ? "" : "s", totals.cpus_wanted,
                 totals.cpus_wanted == 1 ? "" : "s", sup->machine.ncpus,
                 sup->machine.ncpus == 1 ? "is" : "are", cpus);
    for (size_t k = 0; k < n; k++) {
        const service_t *s = planned[k];
        const tfn_resources_t *r = &s->svc->resources;
        if (r->cpu > (double)sup->machine.ncpus)
            tfn__log("warn",
                     "service '%s' asks for %g cores a worker, and only %zu %s "
                     "allowed: each of its workers gets them all",
                     s->svc->name, r->cpu, sup->machine.ncpus,
                     sup->machine.ncpus == 1 ? "is" : "are");
        /* One line per service: its workers' cores and GPUs, its memory limit. */
        char line[2048];
        size_t len =
            (size_t)snprintf(line, sizeof line, "plan: service '%s', %u worker%s:", s->svc->name,
                             s->nworkers, s->nworkers == 1 ? "" : "s");
        for (unsigned w = 0; w < s->nworkers && len < sizeof line; w++) {
            const tfn__worker_plan_t *p = &s->workers[w].plan;
            char c[512], g[512];
            tfn__cpus_format(p->cpus, p->ncpus, c, sizeof c);
            tfn__sup_format_gpus(sup, p, g, sizeof g);
            len += (size_t)snprintf(line + len, sizeof line - len, " [%u] cores %s, GPUs %s%s", w,
                                    p->ncpus ? c : "any", g, p->gpu_shared ? " (shared)" : "");
        }
        if (len < sizeof line && r->memory_mb)
            snprintf(line + len, sizeof line - len, "; memory limit %llu MiB each",
                     (unsigned long long)r->memory_mb);
        if (r->cpu || r->gpu || r->memory_mb)
            tfn__log("info", "%s", line);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Stopping
 * ------------------------------------------------------------------------------------------- */

static void on_kill_deadline(uv_timer_t *timer)
{
    proc_t *p = timer->data;
    worker_t *w = p->worker;
    if (!p->alive)
        return;
    tfn__log("warn", "service '%s' worker %u (pid %d) did not stop within %u ms: killing it",
             w->svc->svc->name, w->index, p->pid, w->svc->drain_ms + KILL_GRACE_MS);
    if (w->svc->sup->phase == PHASE_STOPPING)
        w->svc->sup->failed = true;
    uv_process_kill(&p->process, SIGKILL);
}

/* Signals a live process; SIGTERM also arms its kill deadline (drain time + grace). */
void tfn__sup_kill_proc(proc_t *p, int signum)
{
    if (!p || !p->alive)
        return;
    if (signum == SIGTERM)
        uv_timer_start(&p->timer, on_kill_deadline,
                       (uint64_t)p->worker->svc->drain_ms + KILL_GRACE_MS, 0);
    int rc = uv_process_kill(&p->process, signum);
    if (rc != 0)
        tfn__log("warn", "cannot signal service '%s' worker %u (pid %d): %s",
                 p->worker->svc->svc->name, p->worker->index, p->pid, uv_strerror(rc));
}

/* Stops the next service of the stop order (the entry, then the others in reverse graph order)
 * once the one being stopped has no process left, or finishes when none is left. In
 * PHASE_KILLING it only waits for every process to be gone. */
void tfn__sup_stop_next(supervisor_t *sup)
{
    if (sup->phase == PHASE_KILLING) {
        for (size_t i = 0; i < sup->n; i++)
            if (tfn__sup_service_alive(&sup->services[i]))
                return;
        finish(sup);
        return;
    }
    if (sup->stopping && tfn__sup_service_alive(sup->stopping))
        return;
    sup->stopping = NULL;
    while (sup->stop_cursor < sup->n) {
        service_t *s = &sup->services[sup->n - 1 - sup->stop_cursor++];
        tfn__sup_close_listeners(s);
        if (!tfn__sup_service_alive(s))
            continue;
        char pids[256] = "";
        size_t len = 0;
        for (unsigned i = 0; i < s->nworkers && len < sizeof pids; i++)
            if (s->workers[i].proc && s->workers[i].proc->alive)
                len += (size_t)snprintf(pids + len, sizeof pids - len, "%s%d", len ? ", " : "",
                                        s->workers[i].proc->pid);
        tfn__log("info", "stopping service '%s' (pid %s)", s->svc->name, pids);
        sup->stopping = s;
        for (unsigned i = 0; i < s->nworkers; i++) {
            worker_t *w = &s->workers[i];
            tfn__sup_kill_proc(w->proc, SIGTERM);
            tfn__sup_kill_proc(w->next, SIGTERM);
            /* w->old has had its SIGTERM: a second one would make it skip its drain. */
        }
        return;
    }
    finish(sup);
}

void tfn__sup_begin_stop(supervisor_t *sup)
{
    if (sup->phase == PHASE_STOPPING || sup->phase == PHASE_KILLING)
        return;
    sup->phase = PHASE_STOPPING;
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        s->rolling = false;
        for (unsigned k = 0; k < s->nworkers; k++) {
            worker_t *w = &s->workers[k];
            uv_timer_stop(&w->restart_timer); /* no more restarts */
            if (w->state != WORKER_FAILED && !w->proc)
                w->state = WORKER_STOPPED;
        }
    }
    tfn__sup_stop_next(sup);
}

static void kill_all(supervisor_t *sup)
{
    sup->phase = PHASE_KILLING;
    sup->failed = true;
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        tfn__sup_close_listeners(s);
        for (unsigned k = 0; k < s->nworkers; k++) {
            worker_t *w = &s->workers[k];
            uv_timer_stop(&w->restart_timer);
            tfn__sup_kill_proc(w->proc, SIGKILL);
            tfn__sup_kill_proc(w->next, SIGKILL);
            tfn__sup_kill_proc(w->old, SIGKILL);
        }
    }
    tfn__sup_stop_next(sup);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    supervisor_t *sup = handle->data;
    if (sup->finished)
        return;
    if (sup->phase == PHASE_STOPPING || sup->phase == PHASE_KILLING) {
        tfn__log("warn", "second signal %d: killing every service", signum);
        kill_all(sup);
        return;
    }
    tfn__log("info", "signal %d: stopping every service", signum);
    tfn__sup_begin_stop(sup);
}

static void close_handle(uv_handle_t *handle)
{
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* Every process is gone: close every handle (uv_run then returns) and the sockets. */
static void finish(supervisor_t *sup)
{
    if (sup->finished)
        return;
    sup->finished = true;
    /* The signal handles stay (unreferenced) until uv_run has returned: a signal that comes
     * while the last handles close is ignored rather than killing the supervisor. */
    uv_unref((uv_handle_t *)&sup->sigterm);
    uv_unref((uv_handle_t *)&sup->sigint);
    uv_unref((uv_handle_t *)&sup->sighup);
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        tfn__sup_close_listeners(s);
        for (unsigned k = 0; k < s->nworkers; k++)
            close_handle((uv_handle_t *)&s->workers[k].restart_timer);
    }
}

/* ---------------------------------------------------------------------------------------------
 * The supervisor
 * ------------------------------------------------------------------------------------------- */

int tfn__supervise(const tfn__graph_t *graph, const tfn__supervise_config_t *config)
{
    supervisor_t *sup = calloc(1, sizeof *sup);
    service_t *services = calloc(graph->n, sizeof *services);
    if (!sup || !services || uv_loop_init(&sup->loop) != 0) {
        free(sup);
        free(services);
        tfn__log("error", "out of memory");
        return 1;
    }
    sup->config = config;
    sup->services = services;
    sup->n = graph->n;
    sup->port = config->host ? config->port : 0;
    uv_signal_init(&sup->loop, &sup->sigterm);
    uv_signal_init(&sup->loop, &sup->sigint);
    uv_signal_init(&sup->loop, &sup->sighup);
    sup->sigterm.data = sup->sigint.data = sup->sighup.data = sup;
    for (size_t i = 0; i < sup->n; i++) {
        services[i].sup = sup;
        services[i].unix_fd = services[i].tcp_fd = -1;
    }

    int rc = make_socket_dir(sup);
    if (rc == 0)
        rc = set_up_services(sup, graph);
    if (rc == 0)
        rc = plan_resources(sup);
    if (rc == 0)
        rc = open_listeners(sup);
    if (rc == 0) {
        char pid[32];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv(TFN__SUPERVISOR_PID_ENV, pid, 1);
        uv_signal_start(&sup->sigterm, on_signal, SIGTERM);
        uv_signal_start(&sup->sigint, on_signal, SIGINT);
        uv_signal_start(&sup->sighup, tfn__sup_on_sighup, SIGHUP);
        size_t running = 0, workers = 0;
        for (size_t i = 0; i < sup->n; i++) {
            running += sup->services[i].needed;
            workers += sup->services[i].nworkers;
        }
        tfn__log("info", "supervising %zu services of '%s', %zu workers (sockets in %s)", running,
                 entry_of(sup)->svc->name, workers, sup->dir);
        tfn__sup_check_start(sup);
    } else {
        sup->failed = true;
        finish(sup);
    }
    uv_run(&sup->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&sup->sigterm, NULL);
    uv_close((uv_handle_t *)&sup->sigint, NULL);
    uv_close((uv_handle_t *)&sup->sighup, NULL);
    uv_run(&sup->loop, UV_RUN_DEFAULT);
    for (size_t i = 0; i < sup->n; i++)
        tfn__sup_close_listeners(&sup->services[i]); /* (a start that failed early) */
    if (sup->dir_created && rmdir(sup->dir) != 0)
        tfn__log("warn", "cannot remove socket directory %s: %s", sup->dir, strerror(errno));
    if (uv_loop_close(&sup->loop) != 0)
        tfn__log("warn", "supervisor loop closed with handles open");
    unsetenv(TFN__SUPERVISOR_PID_ENV);

    int exit_code = sup->failed ? 1 : 0;
    for (size_t i = 0; i < sup->n; i++) {
        for (size_t j = 0; j < services[i].ndepends; j++)
            free(services[i].depends[j]);
        free(services[i].depends);
        free(services[i].workers);
    }
    tfn__log("info", "supervisor stopped (exit %d)", exit_code);
    free(services);
    free(sup);
    return exit_code;
}
