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

extern char **environ;

#define BACKOFF_FIRST_MS     100 /* first restart delay; doubles per crash */
#define BACKOFF_MAX_MS       5000
#define CRASH_LOOP_CRASHES   5     /* more crashes than this ... */
#define CRASH_LOOP_WINDOW_MS 30000 /* ... within this long is a crash loop */
#define STABLE_MS            30000 /* a worker that ran this long starts its backoff afresh */
#define KILL_GRACE_MS        5000  /* past its drain time, how long a worker may take to exit */
#define LISTEN_BACKLOG       1024
#define SOCKET_PATH_MAX      sizeof(((struct sockaddr_un *)0)->sun_path)

/* The descriptors a worker is handed (after stdin, stdout and stderr). */
#define NOTIFY_FD     3
#define LISTEN_FD     4
#define LISTEN_TCP_FD 5

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
    char notify_buf[32];
    size_t notify_len;
    char cgroup[1200]; /* its memory cgroup; "" for none */
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
    unsigned nworkers;
    bool rolling; /* a rolling restart is under way */
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
};

static void begin_stop(supervisor_t *sup);
static void stop_next(supervisor_t *sup);
static void finish(supervisor_t *sup);
static void check_start(supervisor_t *sup);
static void roll_advance(service_t *s);

static service_t *entry_of(supervisor_t *sup) { return &sup->services[sup->n - 1]; }

static service_t *service_of(supervisor_t *sup, const tfn_service_t *svc)
{
    for (size_t i = 0; i < sup->n; i++)
        if (sup->services[i].svc == svc)
            return &sup->services[i];
    return NULL;
}

/* The URL of a supervisor --depends NAME=URL override for `name`, or NULL. */
static const char *override_of(const tfn__supervise_config_t *config, const char *name)
{
    return tfn__depends_lookup(config->depends, config->ndepends, name);
}

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
static void close_listeners(service_t *s)
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

static void format_gpus(const supervisor_t *sup, const tfn__worker_plan_t *p, char *out,
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
            format_gpus(sup, p, g, sizeof g);
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
 * Starting a worker process
 * ------------------------------------------------------------------------------------------- */

static void on_proc_exit(uv_process_t *process, int64_t exit_status, int term_signal);
static void on_notify_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_start_deadline(uv_timer_t *timer);

static void on_proc_handle_closed(uv_handle_t *handle)
{
    proc_t *p = handle->data;
    if (--p->open_handles == 0)
        free(p);
}

static void close_proc_handle(uv_handle_t *handle)
{
    if (!uv_is_closing(handle))
        uv_close(handle, on_proc_handle_closed);
}

/* Closes what is left of a process that has exited (or never started); frees it after. */
static void proc_release(proc_t *p)
{
    close_proc_handle((uv_handle_t *)&p->timer);
    close_proc_handle((uv_handle_t *)&p->notify);
    close_proc_handle((uv_handle_t *)&p->process);
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

static const char *role_name(const proc_t *p)
{
    return p->role == ROLE_NEXT ? "replacement for " : "";
}

/* Starts a process for worker slot `w` in `role`. Returns it, or NULL (logged). */
static proc_t *proc_spawn(worker_t *w, role_t role)
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
            close_proc_handle((uv_handle_t *)&p->timer);
            close_proc_handle((uv_handle_t *)&p->notify);
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
        close_proc_handle((uv_handle_t *)&p->timer);
        close_proc_handle((uv_handle_t *)&p->notify);
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
        .exit_cb = on_proc_exit,
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
        proc_release(p);
        return NULL;
    }
    p->alive = true;
    p->pid = p->process.pid;
    p->spawned_ms = tfn__now_ms();
    w->spawned++;
    if (uv_read_start((uv_stream_t *)&p->notify, on_notify_alloc, on_notify_read) != 0)
        close_proc_handle((uv_handle_t *)&p->notify);
    uv_timer_start(&p->timer, on_start_deadline, sup->config->start_timeout_ms, 0);
    tfn__log("info", "%s %sservice '%s' worker %u (pid %d)",
             role == ROLE_NEXT ? "started a"
             : w->spawned > 1  ? "restarted"
                               : "started",
             role_name(p), s->svc->name, w->index, p->pid);
    return p;
}

/* ---------------------------------------------------------------------------------------------
 * Readiness and start-up
 * ------------------------------------------------------------------------------------------- */

static bool worker_ready(const worker_t *w) { return w->proc && w->proc->ready; }

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

static void fail_start(supervisor_t *sup, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_start(supervisor_t *sup, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    tfn__log("error", "%s; stopping every service", message);
    sup->failed = true;
    begin_stop(sup);
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
                format_gpus(sup, &w->plan, cell[C_GPUS], sizeof cell[0]);
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
        if (!(w->proc = proc_spawn(w, ROLE_CURRENT)))
            return -1;
        w->state = WORKER_UP;
    }
    return 0;
}

/* During start-up: starts every service that can start now; once the entry is ready, says so. */
static void check_start(supervisor_t *sup)
{
    if (sup->phase != PHASE_STARTING)
        return;
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        if (!s->needed || s->started || !dependencies_ready(s))
            continue;
        if (start_service(s) != 0) {
            fail_start(sup, "service '%s' could not be started", s->svc->name);
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

static void on_notify_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    proc_t *p = stream->data;
    (void)buf;
    if (nread < 0) { /* EOF: the worker has said what it had to, or died */
        close_proc_handle((uv_handle_t *)&p->notify);
        return;
    }
    p->notify_len += (size_t)nread;
    p->notify_buf[p->notify_len] = '\0';
    if (!p->serving && strstr(p->notify_buf, "serving\n"))
        proc_serving(p);
    if (strstr(p->notify_buf, "ready\n"))
        proc_ready(p);
    if (p->notify_len == sizeof p->notify_buf - 1) /* not our worker talking */
        close_proc_handle((uv_handle_t *)&p->notify);
}

static void roll_promote(worker_t *w);

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
        roll_promote(w);
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
    check_start(s->sup);
}

static void kill_proc(proc_t *p, int signum);

static void on_start_deadline(uv_timer_t *timer)
{
    proc_t *p = timer->data;
    worker_t *w = p->worker;
    service_t *s = w->svc;
    supervisor_t *sup = s->sup;
    uint32_t ms = sup->config->start_timeout_ms;
    if (!p->alive || p->ready || sup->phase == PHASE_STOPPING || sup->phase == PHASE_KILLING)
        return;
    if (sup->phase == PHASE_STARTING && p->role == ROLE_CURRENT) {
        fail_start(sup, "service '%s' worker %u (pid %d) did not become ready within %u ms",
                   s->svc->name, w->index, p->pid, ms);
        return;
    }
    /* A restarted worker, or a rolling restart's replacement, that hangs: kill it. Its exit is
     * then a crash (restarted after the backoff), or the end of the rolling restart. */
    tfn__log("error",
             "service '%s' %sworker %u (pid %d) did not become ready within %u ms: "
             "killing it",
             s->svc->name, role_name(p), w->index, p->pid, ms);
    kill_proc(p, SIGKILL);
}

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
    close_listeners(s);
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
            fail_start(sup, "service '%s' could not start", s->svc->name);
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
    if (!(w->proc = proc_spawn(w, ROLE_CURRENT))) {
        crashed(w, 0, tfn__now_ms(), "could not be restarted");
        return;
    }
    w->state = WORKER_UP;
}

static bool service_alive(const service_t *s)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        const worker_t *w = &s->workers[i];
        if ((w->proc && w->proc->alive) || (w->next && w->next->alive) || (w->old && w->old->alive))
            return true;
    }
    return false;
}

static void on_proc_exit(uv_process_t *process, int64_t exit_status, int term_signal)
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
    proc_release(p); /* freed later, by libuv's close callbacks; not used below */

    if (shutting_down) {
        if (w->state != WORKER_FAILED)
            w->state = WORKER_STOPPED;
        if (clean) {
            tfn__log("info", "service '%s' worker %u (pid %d) stopped", name, w->index, pid);
        } else {
            sup->failed = true;
            tfn__log("warn", "service '%s' worker %u (pid %d) %s", name, w->index, pid, how);
        }
        stop_next(sup);
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
            fail_start(sup, "service '%s' worker %u (pid %d) %s before it was ready", name,
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
        if (!(w->next = proc_spawn(w, ROLE_NEXT))) {
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
static void roll_promote(worker_t *w)
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
    kill_proc(old, SIGTERM);
}

static void on_sighup(uv_signal_t *handle, int signum)
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
static void kill_proc(proc_t *p, int signum)
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
static void stop_next(supervisor_t *sup)
{
    if (sup->phase == PHASE_KILLING) {
        for (size_t i = 0; i < sup->n; i++)
            if (service_alive(&sup->services[i]))
                return;
        finish(sup);
        return;
    }
    if (sup->stopping && service_alive(sup->stopping))
        return;
    sup->stopping = NULL;
    while (sup->stop_cursor < sup->n) {
        service_t *s = &sup->services[sup->n - 1 - sup->stop_cursor++];
        close_listeners(s);
        if (!service_alive(s))
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
            kill_proc(w->proc, SIGTERM);
            kill_proc(w->next, SIGTERM);
            /* w->old has had its SIGTERM: a second one would make it skip its drain. */
        }
        return;
    }
    finish(sup);
}

static void begin_stop(supervisor_t *sup)
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
    stop_next(sup);
}

static void kill_all(supervisor_t *sup)
{
    sup->phase = PHASE_KILLING;
    sup->failed = true;
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        close_listeners(s);
        for (unsigned k = 0; k < s->nworkers; k++) {
            worker_t *w = &s->workers[k];
            uv_timer_stop(&w->restart_timer);
            kill_proc(w->proc, SIGKILL);
            kill_proc(w->next, SIGKILL);
            kill_proc(w->old, SIGKILL);
        }
    }
    stop_next(sup);
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
    begin_stop(sup);
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
        close_listeners(s);
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
        uv_signal_start(&sup->sighup, on_sighup, SIGHUP);
        size_t running = 0, workers = 0;
        for (size_t i = 0; i < sup->n; i++) {
            running += sup->services[i].needed;
            workers += sup->services[i].nworkers;
        }
        tfn__log("info", "supervising %zu services of '%s', %zu workers (sockets in %s)", running,
                 entry_of(sup)->svc->name, workers, sup->dir);
        check_start(sup);
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
        close_listeners(&sup->services[i]); /* (a start that failed early) */
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
