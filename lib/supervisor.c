/*
 * supervisor.c — `serve` for a service graph: each service in its own process, supervised.
 *
 * The supervisor owns no sockets of its own. It re-executes the program (/proc/self/exe) once per
 * service with `serve --service NAME`: dependencies listen on unix sockets in a private directory,
 * the entry on the address the user asked for (plus a unix socket, which the supervisor polls for
 * readiness). Each service is told where its dependencies are with `--depends NAME=unix:PATH`.
 *
 * Life of a supervisor (one libuv loop; signal handlers only queue events, as in nginx):
 *   STARTING  a 20 ms tick starts every service whose local dependencies answer GET /readyz 200,
 *             and polls the /readyz of those starting. A service that exits or stays unready
 *             past --start-timeout fails the start: everything is stopped, exit 1.
 *             Once the entry is ready: the table of services, then "ready" on stdout.
 *   RUNNING   a child that exits is restarted after a backoff (100 ms doubling to 5 s); more
 *             than 5 crashes within 30 s is a crash loop and the service is left down.
 *   STOPPING  SIGTERM/SIGINT: SIGTERM to the entry, wait for it to exit (its drain time + 5 s,
 *             then SIGKILL), then the same for the others in reverse graph order.
 *   KILLING   a second SIGTERM/SIGINT: SIGKILL to every child.
 * Children run in their own session (UV_PROCESS_DETACHED), so a Ctrl-C on the terminal reaches
 * only the supervisor, which then stops them in order; they die with the supervisor through
 * PR_SET_PDEATHSIG, which the child sets itself (cli.c) on seeing TFN_SUPERVISOR_PID.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "http_call_internal.h"
#include "log_internal.h"
#include "server_internal.h"
#include "supervisor_internal.h"

#define TICK_MS              20   /* start-up: how often /readyz is polled */
#define PROBE_TIMEOUT_MS     1000 /* one /readyz probe */
#define BACKOFF_FIRST_MS     100  /* first restart delay; doubles per crash */
#define BACKOFF_MAX_MS       5000
#define CRASH_LOOP_CRASHES   5     /* more crashes than this ... */
#define CRASH_LOOP_WINDOW_MS 30000 /* ... within this long is a crash loop */
#define STABLE_MS            30000 /* a child that ran this long starts its backoff afresh */
#define KILL_GRACE_MS        5000  /* past its drain time, how long a child may take to exit */
#define LINE_MAX_BYTES       1024  /* banner lines of the entry */
#define SOCKET_PATH_MAX      sizeof(((struct sockaddr_un *)0)->sun_path)

typedef enum phase { PHASE_STARTING, PHASE_RUNNING, PHASE_STOPPING, PHASE_KILLING } phase_t;

typedef enum child_state {
    CHILD_OFF,      /* not started yet, or not needed */
    CHILD_STARTING, /* started during start-up; /readyz not 200 yet */
    CHILD_RUNNING,  /* started (and, during start-up, ready) */
    CHILD_BACKOFF,  /* exited unexpectedly; the restart timer is armed */
    CHILD_FAILED,   /* crash loop: left down */
    CHILD_STOPPED,  /* exited during shutdown, or never to be started again */
} child_state_t;

typedef struct supervisor supervisor_t;

typedef struct child {
    supervisor_t *sup;
    const tfn_service_t *svc;
    bool needed; /* reached from the entry through dependencies not overridden */
    bool is_entry;
    child_state_t state;
    char socket_path[SOCKET_PATH_MAX]; /* where it listens (the entry: also on TCP) */
    char **depends;                    /* "NAME=URL" for each of its dependencies; owned */
    size_t ndepends;
    uint32_t drain_ms; /* its resolved drain time */

    uv_process_t process;
    bool process_open; /* the handle needs closing (uv_spawn was called on it) */
    bool alive;        /* spawned and not yet exited */
    int pid;
    uint64_t spawned_ms;
    uv_timer_t timer; /* restart backoff; during shutdown, the kill deadline */
    uint32_t backoff_ms;
    uint64_t crashes[CRASH_LOOP_CRASHES + 1]; /* times of the latest crashes, oldest first */
    size_t ncrashes;

    /* The entry's stdout: its banner is read line by line (to learn a port picked with
     * --port 0) and everything is copied to the supervisor's stdout. */
    uv_pipe_t out;
    bool out_open;
    unsigned banner_left; /* banner lines still expected */
    char line[LINE_MAX_BYTES];
    size_t line_len;
    char read_buf[16384];
} child_t;

struct supervisor {
    uv_loop_t loop;
    const tfn__supervise_config_t *config;
    child_t *children; /* in graph order: dependencies first, the entry last */
    size_t n;
    phase_t phase;
    bool failed; /* decides the exit status */
    bool finished;
    char dir[4096];
    bool dir_created;
    int port; /* the entry's TCP port, once known */
    uv_signal_t sigterm, sigint;
    uv_timer_t tick;
    size_t stop_cursor; /* how many children of the stop order have been dealt with */
    child_t *stopping;  /* the child being stopped */
};

static void begin_stop(supervisor_t *sup);
static void stop_next(supervisor_t *sup);
static void finish(supervisor_t *sup);

static child_t *entry_of(supervisor_t *sup) { return &sup->children[sup->n - 1]; }

static child_t *child_of(supervisor_t *sup, const tfn_service_t *svc)
{
    for (size_t i = 0; i < sup->n; i++)
        if (sup->children[i].svc == svc)
            return &sup->children[i];
    return NULL;
}

/* Iterates over a {0}-terminated dependency list (the same end test as graph.c). */
#define FOR_EACH_DEPENDENCY(d, svc)                                                                \
    for (const tfn_dependency_t *d = (svc)->depends; d && (d->service || d->url || d->name); d++)

/* The URL of a supervisor --depends NAME=URL override for `name`, or NULL. */
static const char *override_of(const tfn__supervise_config_t *config, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < config->ndepends; i++)
        if (strncmp(config->depends[i], name, len) == 0 && config->depends[i][len] == '=')
            return config->depends[i] + len + 1;
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Setting up: the socket directory, which services run, their addresses
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
    /* Absolute, so that the addresses handed to children mean the same wherever they run. */
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
static void mark_needed(supervisor_t *sup, child_t *c)
{
    if (c->needed)
        return;
    c->needed = true;
    FOR_EACH_DEPENDENCY(d, c->svc)
    if (d->service && !override_of(sup->config, tfn__dependency_name(d)))
        mark_needed(sup, child_of(sup, d->service));
}

static int set_up_children(supervisor_t *sup, const tfn__graph_t *graph)
{
    const tfn__supervise_config_t *cfg = sup->config;
    for (size_t i = 0; i < sup->n; i++) {
        child_t *c = &sup->children[i];
        c->svc = graph->services[i];
        c->is_entry = i == sup->n - 1;
        c->backoff_ms = BACKOFF_FIRST_MS;
        const char *path = c->is_entry && cfg->unix_path ? cfg->unix_path : NULL;
        int len = path ? snprintf(c->socket_path, sizeof c->socket_path, "%s", path)
                       : snprintf(c->socket_path, sizeof c->socket_path, "%s/%s.sock", sup->dir,
                                  c->svc->name);
        if (len < 0 || (size_t)len >= sizeof c->socket_path) {
            tfn__log("error",
                     "socket path for service '%s' is longer than %zu bytes: "
                     "choose a shorter --socket-dir",
                     c->svc->name, sizeof c->socket_path - 1);
            return -1;
        }
        tfn__serve_config_t resolved = {0};
        if (c->is_entry)
            resolved.traffic.drain_ms = cfg->entry_drain_ms;
        tfn__serve_config_resolve(&resolved, c->svc);
        c->drain_ms = resolved.traffic.drain_ms;
    }
    mark_needed(sup, entry_of(sup));

    /* Each running service's --depends: an override, a sibling's socket, or the defined url. */
    for (size_t i = 0; i < sup->n; i++) {
        child_t *c = &sup->children[i];
        if (!c->needed)
            continue;
        size_t n = 0;
        FOR_EACH_DEPENDENCY(d, c->svc)
        n++;
        if (n > TFN__MAX_DEPENDS) {
            tfn__log("error", "service '%s' has more than %d dependencies", c->svc->name,
                     TFN__MAX_DEPENDS);
            return -1;
        }
        if (n && !(c->depends = calloc(n, sizeof *c->depends)))
            return -1;
        FOR_EACH_DEPENDENCY(d, c->svc)
        {
            const char *name = tfn__dependency_name(d);
            const char *url = override_of(cfg, name);
            char local[SOCKET_PATH_MAX + 8];
            if (!url && d->service) {
                snprintf(local, sizeof local, "unix:%s", child_of(sup, d->service)->socket_path);
                url = local;
            }
            if (!url)
                url = d->url;
            size_t size = strlen(name) + strlen(url) + 2;
            char *arg = malloc(size);
            if (!arg)
                return -1;
            snprintf(arg, size, "%s=%s", name, url);
            c->depends[c->ndepends++] = arg;
        }
        if (c->svc->workers > 1)
            tfn__log("warn",
                     "service '%s' asks for %u workers; each service runs as one "
                     "process for now",
                     c->svc->name, c->svc->workers);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Starting a child
 * ------------------------------------------------------------------------------------------- */

static void on_child_exit(uv_process_t *process, int64_t exit_status, int term_signal);
static void on_out_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void on_out_closed(uv_handle_t *handle) { ((child_t *)handle->data)->out_open = false; }

static void on_process_closed(uv_handle_t *handle)
{
    ((child_t *)handle->data)->process_open = false;
}

static void close_out(child_t *c)
{
    if (c->out_open && !uv_is_closing((uv_handle_t *)&c->out))
        uv_close((uv_handle_t *)&c->out, on_out_closed);
}

static void on_out_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    child_t *c = handle->data;
    (void)suggested;
    *buf = uv_buf_init(c->read_buf, sizeof c->read_buf);
}

/* Builds the command line of a child; returns a malloc'd NULL-terminated array of borrowed
 * strings (`port` is the caller's buffer). */
static char **child_args(child_t *c, bool restart, char *port, size_t port_size)
{
    const tfn__supervise_config_t *cfg = c->sup->config;
    char **args = calloc(16 + cfg->nentry_args + 2 * c->ndepends, sizeof *args);
    if (!args)
        return NULL;
    size_t n = 0;
    args[n++] = (char *)cfg->program;
    args[n++] = "serve";
    args[n++] = "--service";
    args[n++] = (char *)c->svc->name;
    args[n++] = "--unix";
    args[n++] = c->socket_path;
    if (!c->is_entry || restart)
        args[n++] = "--quiet";
    if (c->is_entry) {
        if (cfg->host) {
            /* A restarted entry keeps the port it got the first time. */
            snprintf(port, port_size, "%d", c->sup->port ? c->sup->port : cfg->port);
            args[n++] = "--host";
            args[n++] = (char *)cfg->host;
            args[n++] = "--port";
            args[n++] = port;
        }
        for (size_t i = 0; i < cfg->nentry_args; i++)
            args[n++] = (char *)cfg->entry_args[i];
    }
    for (size_t i = 0; i < c->ndepends; i++) {
        args[n++] = "--depends";
        args[n++] = c->depends[i];
    }
    args[n] = NULL;
    return args;
}

/* Starts the child's process. Returns 0 or a libuv error (logged). */
static int spawn(child_t *c)
{
    supervisor_t *sup = c->sup;
    bool restart = c->pid != 0;
    char port[16];
    char **args = child_args(c, restart, port, sizeof port);
    if (!args) {
        tfn__log("error", "cannot start service '%s': out of memory", c->svc->name);
        return UV_ENOMEM;
    }
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = STDOUT_FILENO},
        {.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO},
    };
    if (c->is_entry) {
        uv_pipe_init(&sup->loop, &c->out, 0);
        c->out.data = c;
        c->out_open = true;
        c->line_len = 0;
        c->banner_left = restart ? 0 : sup->config->host ? 2 : 1; /* TCP line, unix line */
        stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[1].data.stream = (uv_stream_t *)&c->out;
    }
    uv_process_options_t options = {
        .exit_cb = on_child_exit,
        .file = "/proc/self/exe", /* this very program, whatever argv[0] says */
        .args = args,
        .flags = UV_PROCESS_DETACHED, /* own session: a terminal's Ctrl-C reaches only us */
        .stdio_count = 3,
        .stdio = stdio,
    };
    c->process.data = c;
    int rc = uv_spawn(&sup->loop, &c->process, &options);
    c->process_open = true; /* initialised by uv_spawn even when it fails */
    free(args);
    if (rc != 0) {
        tfn__log("error", "cannot start service '%s': %s", c->svc->name, uv_strerror(rc));
        uv_close((uv_handle_t *)&c->process, on_process_closed);
        close_out(c);
        return rc;
    }
    c->alive = true;
    c->pid = c->process.pid;
    c->spawned_ms = tfn__now_ms();
    if (c->is_entry && (rc = uv_read_start((uv_stream_t *)&c->out, on_out_alloc, on_out_read)))
        close_out(c);
    tfn__log("info", "%s service '%s' (pid %d) on unix:%s", restart ? "restarted" : "started",
             c->svc->name, c->pid, c->socket_path);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The entry's stdout
 * ------------------------------------------------------------------------------------------- */

static void write_stdout(const char *data, size_t len)
{
    fwrite(data, 1, len, stdout);
    fflush(stdout);
}

/* A banner line "NAME listening on http://HOST:PORT" or "... on unix:PATH". */
static void banner_line(child_t *c)
{
    static const char marker[] = " listening on http://";
    c->line[c->line_len] = '\0';
    if (strstr(c->line, marker)) {
        const char *colon = strrchr(c->line, ':');
        int port = colon ? atoi(colon + 1) : 0;
        if (port > 0 && port < 65536)
            c->sup->port = port;
    }
    c->banner_left--;
    if (!c->sup->config->quiet) {
        c->line[c->line_len] = '\n';
        write_stdout(c->line, c->line_len + 1);
    }
    c->line_len = 0;
}

static void on_out_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    child_t *c = stream->data;
    if (nread < 0) { /* EOF or error: the child (and any process it started) closed it */
        close_out(c);
        return;
    }
    const char *p = buf->base, *end = buf->base + nread;
    while (p < end && c->banner_left > 0) {
        char ch = *p++;
        if (ch == '\n' || c->line_len == sizeof c->line - 1) {
            if (ch != '\n')
                c->line[c->line_len++] = ch;
            banner_line(c);
        } else {
            c->line[c->line_len++] = ch;
        }
    }
    if (p < end)
        write_stdout(p, (size_t)(end - p));
}

/* ---------------------------------------------------------------------------------------------
 * Start-up: start what can start, poll /readyz, print the table
 * ------------------------------------------------------------------------------------------- */

static bool probe_ready(child_t *c)
{
    tfn__target_t target = {.unix_path = c->socket_path};
    tfn__buf_t body;
    tfn__buf_init(&body, 4096);
    tfn_error_t err;
    int status = 0;
    int rc = tfn__http_call(&target, "GET", "/readyz", NULL, NULL, 0, PROBE_TIMEOUT_MS, &status,
                            &body, &err);
    tfn__buf_free(&body);
    return rc == 0 && status == 200;
}

/* Can `c` start: does every service it depends on (that we run) answer /readyz? */
static bool dependencies_ready(const child_t *c)
{
    FOR_EACH_DEPENDENCY(d, c->svc)
    {
        if (!d->service || override_of(c->sup->config, tfn__dependency_name(d)))
            continue;
        if (child_of(c->sup, d->service)->state != CHILD_RUNNING)
            return false;
    }
    return true;
}

static void print_table(supervisor_t *sup)
{
    /* Columns: SERVICE PID WORKERS ADDRESS DEPENDS-ON. */
    char addresses[TFN__GRAPH_MAX][SOCKET_PATH_MAX + 300];
    int wname = (int)strlen("SERVICE"), waddr = (int)strlen("ADDRESS");
    for (size_t i = 0; i < sup->n; i++) {
        child_t *c = &sup->children[i];
        if (!c->needed)
            continue;
        const char *host = sup->config->host;
        if (c->is_entry && host)
            snprintf(addresses[i], sizeof addresses[i],
                     strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, sup->port);
        else
            snprintf(addresses[i], sizeof addresses[i], "unix:%s", c->socket_path);
        int len = (int)strlen(c->svc->name);
        wname = len > wname ? len : wname;
        len = (int)strlen(addresses[i]);
        waddr = len > waddr ? len : waddr;
    }
    printf("%-*s  %-8s  %-7s  %-*s  %s\n", wname, "SERVICE", "PID", "WORKERS", waddr, "ADDRESS",
           "DEPENDS ON");
    for (size_t i = 0; i < sup->n; i++) {
        child_t *c = &sup->children[i];
        if (!c->needed)
            continue;
        printf("%-*s  %-8d  %-7u  %-*s  ", wname, c->svc->name, c->pid, 1u, waddr, addresses[i]);
        /* Each edge as its dependency name; where that is not simply the service of the same
         * name, also what it points to. */
        size_t k = 0;
        FOR_EACH_DEPENDENCY(d, c->svc)
        {
            const char *name = tfn__dependency_name(d);
            const char *url = override_of(sup->config, name);
            printf("%s%s", k++ ? ", " : "", name);
            if (url || !d->service)
                printf("=%s", url ? url : d->url);
            else if (strcmp(name, d->service->name) != 0)
                printf("=%s", d->service->name);
        }
        printf("%s\n", k ? "" : "-");
    }
    fflush(stdout);
}

static void fail_start(supervisor_t *sup, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_start(supervisor_t *sup, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    tfn__log("error", "%s; stopping every service", message);
    sup->failed = true;
    begin_stop(sup);
}

static void on_tick(uv_timer_t *timer)
{
    supervisor_t *sup = timer->data;
    if (sup->phase != PHASE_STARTING)
        return;
    for (size_t i = 0; i < sup->n; i++) {
        child_t *c = &sup->children[i];
        if (!c->needed)
            continue;
        if (c->state == CHILD_OFF && dependencies_ready(c)) {
            if (spawn(c) != 0) {
                fail_start(sup, "service '%s' could not be started", c->svc->name);
                return;
            }
            c->state = CHILD_STARTING;
        }
        if (c->state != CHILD_STARTING || !c->alive)
            continue;
        if (tfn__now_ms() - c->spawned_ms > sup->config->start_timeout_ms) {
            fail_start(sup, "service '%s' (pid %d) did not become ready within %u ms", c->svc->name,
                       c->pid, sup->config->start_timeout_ms);
            return;
        }
        /* The entry counts as ready once its banner (the port it picked) has been read too. */
        if ((c->is_entry && c->banner_left > 0) || !probe_ready(c))
            continue;
        c->state = CHILD_RUNNING;
        tfn__log("info", "service '%s' (pid %d) is ready", c->svc->name, c->pid);
    }
    if (entry_of(sup)->state != CHILD_RUNNING)
        return;
    sup->phase = PHASE_RUNNING;
    uv_timer_stop(&sup->tick);
    if (!sup->config->quiet) {
        print_table(sup);
        printf("ready\n");
        fflush(stdout);
    }
    tfn__log("info", "every service is ready");
}

/* ---------------------------------------------------------------------------------------------
 * Crashes and restarts
 * ------------------------------------------------------------------------------------------- */

static void describe_exit(char *out, size_t size, int64_t exit_status, int term_signal)
{
    if (term_signal)
        snprintf(out, size, "killed by signal %d (%s)", term_signal, strsignal(term_signal));
    else
        snprintf(out, size, "exited with status %lld", (long long)exit_status);
}

static void on_restart(uv_timer_t *timer);

/* A child exited while it should be serving: restart it after the backoff, unless it is in a
 * crash loop. */
static void crashed(child_t *c, const char *how)
{
    supervisor_t *sup = c->sup;
    uint64_t now = tfn__now_ms();
    if (now - c->spawned_ms >= STABLE_MS)
        c->backoff_ms = BACKOFF_FIRST_MS;
    if (c->ncrashes == CRASH_LOOP_CRASHES + 1) {
        memmove(c->crashes, c->crashes + 1, CRASH_LOOP_CRASHES * sizeof *c->crashes);
        c->ncrashes--;
    }
    c->crashes[c->ncrashes++] = now;
    if (c->ncrashes == CRASH_LOOP_CRASHES + 1 && now - c->crashes[0] <= CRASH_LOOP_WINDOW_MS) {
        tfn__log("error",
                 "service '%s' (pid %d) %s: crash loop (%d crashes within %d s), "
                 "not restarting it",
                 c->svc->name, c->pid, how, CRASH_LOOP_CRASHES + 1, CRASH_LOOP_WINDOW_MS / 1000);
        c->state = CHILD_FAILED;
        sup->failed = true;
        return;
    }
    tfn__log("warn", "service '%s' (pid %d) %s; restarting it in %u ms", c->svc->name, c->pid, how,
             c->backoff_ms);
    c->state = CHILD_BACKOFF;
    uv_timer_start(&c->timer, on_restart, c->backoff_ms, 0);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void on_restart(uv_timer_t *timer)
{
    child_t *c = timer->data;
    supervisor_t *sup = c->sup;
    if (c->state != CHILD_BACKOFF || (sup->phase != PHASE_STARTING && sup->phase != PHASE_RUNNING))
        return;
    if (c->process_open || c->out_open) { /* the last process's handles are still closing */
        uv_timer_start(&c->timer, on_restart, 10, 0);
        return;
    }
    if (spawn(c) != 0) {
        crashed(c, "could not be restarted");
        return;
    }
    /* During start-up a restarted dependency must answer /readyz again before it counts. */
    c->state = sup->phase == PHASE_STARTING ? CHILD_STARTING : CHILD_RUNNING;
}

static void on_child_exit(uv_process_t *process, int64_t exit_status, int term_signal)
{
    child_t *c = process->data;
    supervisor_t *sup = c->sup;
    char how[128];
    describe_exit(how, sizeof how, exit_status, term_signal);
    c->alive = false;
    uv_close((uv_handle_t *)process, on_process_closed);

    switch (sup->phase) {
    case PHASE_STARTING:
        if (c->state == CHILD_STARTING) {
            fail_start(sup, "service '%s' (pid %d) %s before it was ready", c->svc->name, c->pid,
                       how);
            return;
        }
        crashed(c, how);
        return;
    case PHASE_RUNNING: crashed(c, how); return;
    case PHASE_STOPPING:
    case PHASE_KILLING:
        c->state = CHILD_STOPPED;
        if (exit_status != 0 || term_signal != 0) {
            sup->failed = true;
            tfn__log("warn", "service '%s' (pid %d) %s", c->svc->name, c->pid, how);
        } else {
            tfn__log("info", "service '%s' (pid %d) stopped", c->svc->name, c->pid);
        }
        uv_timer_stop(&c->timer);
        if (sup->phase == PHASE_STOPPING && sup->stopping == c) {
            sup->stopping = NULL;
            stop_next(sup);
        } else if (sup->phase == PHASE_KILLING) {
            stop_next(sup); /* finishes once nothing is alive */
        }
        return;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Stopping
 * ------------------------------------------------------------------------------------------- */

static void on_kill_deadline(uv_timer_t *timer)
{
    child_t *c = timer->data;
    if (!c->alive)
        return;
    tfn__log("warn", "service '%s' (pid %d) did not stop within %u ms: killing it", c->svc->name,
             c->pid, c->drain_ms + KILL_GRACE_MS);
    c->sup->failed = true;
    uv_process_kill(&c->process, SIGKILL);
}

/* Stops the next child of the stop order (the entry, then the others in reverse graph order),
 * or finishes when none is left. In PHASE_KILLING it only waits for every child to be gone. */
static void stop_next(supervisor_t *sup)
{
    if (sup->phase == PHASE_KILLING) {
        for (size_t i = 0; i < sup->n; i++)
            if (sup->children[i].alive)
                return;
        finish(sup);
        return;
    }
    while (sup->stop_cursor < sup->n) {
        child_t *c = &sup->children[sup->n - 1 - sup->stop_cursor++];
        if (!c->alive)
            continue;
        tfn__log("info", "stopping service '%s' (pid %d)", c->svc->name, c->pid);
        sup->stopping = c;
        uv_timer_start(&c->timer, on_kill_deadline, (uint64_t)c->drain_ms + KILL_GRACE_MS, 0);
        int rc = uv_process_kill(&c->process, SIGTERM);
        if (rc != 0)
            tfn__log("warn", "cannot signal service '%s' (pid %d): %s", c->svc->name, c->pid,
                     uv_strerror(rc));
        return;
    }
    finish(sup);
}

static void begin_stop(supervisor_t *sup)
{
    if (sup->phase == PHASE_STOPPING || sup->phase == PHASE_KILLING)
        return;
    sup->phase = PHASE_STOPPING;
    uv_timer_stop(&sup->tick);
    for (size_t i = 0; i < sup->n; i++) {
        child_t *c = &sup->children[i];
        uv_timer_stop(&c->timer); /* no more restarts */
        if (!c->alive && c->state != CHILD_FAILED)
            c->state = CHILD_STOPPED;
    }
    stop_next(sup);
}

static void kill_all(supervisor_t *sup)
{
    sup->phase = PHASE_KILLING;
    sup->failed = true;
    for (size_t i = 0; i < sup->n; i++) {
        child_t *c = &sup->children[i];
        uv_timer_stop(&c->timer);
        if (c->alive)
            uv_process_kill(&c->process, SIGKILL);
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

/* Every child is gone: close every handle (uv_run then returns) and remove the sockets. */
static void finish(supervisor_t *sup)
{
    if (sup->finished)
        return;
    sup->finished = true;
    close_handle((uv_handle_t *)&sup->tick);
    /* The signal handles stay (unreferenced) until uv_run has returned: a signal that comes
     * while the last handles close is ignored rather than killing the supervisor. */
    uv_unref((uv_handle_t *)&sup->sigterm);
    uv_unref((uv_handle_t *)&sup->sigint);
    for (size_t i = 0; i < sup->n; i++) {
        child_t *c = &sup->children[i];
        close_handle((uv_handle_t *)&c->timer);
        close_out(c);
    }
}

/* Removes what the children may have left (a killed child leaves its socket). */
static void remove_sockets(supervisor_t *sup)
{
    for (size_t i = 0; i < sup->n; i++) {
        child_t *c = &sup->children[i];
        struct stat st;
        if (c->pid && lstat(c->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(c->socket_path);
    }
    if (sup->dir_created && rmdir(sup->dir) != 0)
        tfn__log("warn", "cannot remove socket directory %s: %s", sup->dir, strerror(errno));
}

/* ---------------------------------------------------------------------------------------------
 * The supervisor
 * ------------------------------------------------------------------------------------------- */

int tfn__supervise(const tfn__graph_t *graph, const tfn__supervise_config_t *config)
{
    supervisor_t *sup = calloc(1, sizeof *sup);
    child_t *children = calloc(graph->n, sizeof *children);
    if (!sup || !children || uv_loop_init(&sup->loop) != 0) {
        free(sup);
        free(children);
        tfn__log("error", "out of memory");
        return 1;
    }
    sup->config = config;
    sup->children = children;
    sup->n = graph->n;
    sup->port = config->host ? config->port : 0;
    uv_signal_init(&sup->loop, &sup->sigterm);
    uv_signal_init(&sup->loop, &sup->sigint);
    uv_timer_init(&sup->loop, &sup->tick);
    sup->sigterm.data = sup->sigint.data = sup->tick.data = sup;
    for (size_t i = 0; i < sup->n; i++) {
        children[i].sup = sup;
        uv_timer_init(&sup->loop, &children[i].timer);
        children[i].timer.data = &children[i];
    }

    int rc = make_socket_dir(sup);
    if (rc == 0)
        rc = set_up_children(sup, graph);
    if (rc == 0) {
        char pid[32];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv(TFN__SUPERVISOR_PID_ENV, pid, 1);
        uv_signal_start(&sup->sigterm, on_signal, SIGTERM);
        uv_signal_start(&sup->sigint, on_signal, SIGINT);
        size_t running = 0;
        for (size_t i = 0; i < sup->n; i++)
            running += sup->children[i].needed;
        tfn__log("info", "supervising %zu services of '%s' (sockets in %s)", running,
                 entry_of(sup)->svc->name, sup->dir);
        uv_timer_start(&sup->tick, on_tick, 0, TICK_MS);
    } else {
        sup->failed = true;
        finish(sup);
    }
    uv_run(&sup->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&sup->sigterm, NULL);
    uv_close((uv_handle_t *)&sup->sigint, NULL);
    uv_run(&sup->loop, UV_RUN_DEFAULT);
    if (sup->dir[0])
        remove_sockets(sup);
    if (uv_loop_close(&sup->loop) != 0)
        tfn__log("warn", "supervisor loop closed with handles open");
    unsetenv(TFN__SUPERVISOR_PID_ENV);

    int exit_code = sup->failed ? 1 : 0;
    for (size_t i = 0; i < sup->n; i++) {
        for (size_t j = 0; j < children[i].ndepends; j++)
            free(children[i].depends[j]);
        free(children[i].depends);
    }
    tfn__log("info", "supervisor stopped (exit %d)", exit_code);
    free(children);
    free(sup);
    return exit_code;
}
