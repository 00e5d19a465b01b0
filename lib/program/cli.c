/*
 * cli.c — tfn_main: the command line every tiffin program gets (serve, call, openapi,
 * manifests).
 *
 * `serve` runs one service in this process (tfn__serve, worker.c), or, for a service that
 * depends on other services of the program, supervises the whole graph (supervisor.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

#include "codec/codec_internal.h"
#include "compose/http_call_internal.h"
#include "supervise/manifests_internal.h"
#include "supervise/resources_internal.h"
#include "compose/compose_internal.h"
#include "protocols/protocols_internal.h"
#include "server/batch_internal.h"
#include "server/server_internal.h"
#include "supervise/supervisor_internal.h"

#define EXIT_USAGE 2

static const char *program = "app";
static const char *program_path; /* argv[0] as given, for the supervisor's children */

static void usage_main(FILE *out, const tfn_service_t *svc)
{
    fprintf(out,
            "usage: %s COMMAND [OPTIONS]\n"
            "\n"
            "Service '%s', served by tiffin %s.\n"
            "\n"
            "commands:\n"
            "  serve     serve the service over HTTP\n"
            "  call      call an API of a running server and print the response\n"
            "  openapi   print the OpenAPI 3.0 document of the service\n"
            "  manifests print Kubernetes manifests for the service graph\n"
            "  version   print the tiffin version\n"
            "\n"
            "Run '%s COMMAND --help' for the options of a command.\n",
            program, svc->name ? svc->name : "?", TFN_VERSION, program);
}

static void usage_serve(FILE *out)
{
    fprintf(out,
            "usage: %s serve [OPTIONS]\n"
            "\n"
            "Serve the service over HTTP until SIGTERM or SIGINT, then drain and exit 0.\n"
            "A service that depends on other services of this program is served with its whole\n"
            "graph: each service in its own processes (its `workers`), dependencies on unix\n"
            "sockets in a private directory, restarted when they crash; the entry listens on\n"
            "--host/--port/--unix. So is a service that asks for several workers or for\n"
            "resources (cores, GPUs, a memory limit), which the supervisor enforces.\n"
            "SIGHUP restarts every worker, one at a time, without refusing a request.\n"
            "\n"
            "options:\n"
            "  --host H             TCP address to listen on (default 127.0.0.1)\n"
            "  --port P             TCP port (default 3000; 0 picks a free port)\n"
            "  --unix PATH          also listen on a unix socket; alone, listen only there\n"
            "  --timeout MS         handler deadline (default: the service's, else 60000)\n"
            "  --max-concurrency N  handlers at once before 429 (default: service's, else 1024)\n"
            "  --max-queue N        requests that may wait for a handler slot before 429\n"
            "                       (default: the service's, else 0)\n"
            "  --read-timeout MS    a request may stall this long between bytes: 408 (30000)\n"
            "  --idle-timeout MS    keep-alive connections idle this long are closed (60000)\n"
            "  --head-timeout MS    a whole request head must arrive within this: 408 (20000)\n"
            "  --max-connections N  open connections per worker; past it 503 and a log line\n"
            "                       (default 10000, and under the file-descriptor limit)\n"
            "  --max-body BYTES     largest request body before 413 (default: 16 MiB)\n"
            "  --threads N          handler threads for TFN_RUN_IN_THREAD APIs (default 4)\n"
            "  --drain MS           how long in-flight requests may finish on SIGTERM\n"
            "  --batch N            merge concurrent requests of every batchable API into\n"
            "                       handler calls of at most N rows (0: do not batch);\n"
            "                       --batch API=N for one API (repeatable)\n"
            "  --max-latency-ms MS  longest a request waits for its batch to start (default:\n"
            "                       the API's, else 10); --max-latency-ms API=MS for one API\n"
            "  --access-log PATH    one JSON line per request and per dependency call (trace\n"
            "                       and span ids, service, API, status, durations); '-' is\n"
            "                       standard output (default: none)\n"
            "  --quiet              do not print where the service listens\n"
            "  --service NAME       serve only the service NAME of the graph, in this process\n"
            "                       (one service per host or pod)\n"
            "  --depends NAME=URL   where dependency NAME is: http://HOST:PORT or unix:/PATH\n"
            "                       (repeatable); overrides the address in the definition, and\n"
            "                       a service reached only this way is not started\n"
            "  --socket-dir DIR     put the services' unix sockets in DIR (created 0700 if\n"
            "                       missing) instead of a fresh private directory\n"
            "  --start-timeout MS   how long each service may take to become ready (30000)\n"
            "  --workers N          worker processes of the entry service (default: its\n"
            "                       `workers`); --workers NAME=N for service NAME (repeatable);\n"
            "                       MIN:MAX (or NAME=MIN:MAX) is a range: the supervisor adds\n"
            "                       workers while they are busy and retires them when idle\n"
            "  -h, --help           show this help\n"
            "\n"
            "Traffic and batch options (--timeout ... --max-latency-ms) apply to the entry.\n"
            "Every service answers GET /metrics (Prometheus); under serve the entry's covers\n"
            "every worker of the graph.\n"
            "Environment: TFN_GPUS=0,1 overrides GPU discovery; TFN_MEMORY_LIMITS=auto|cgroup|\n"
            "rlimit|off chooses how memory limits are enforced; TFN_OBSERVE=off turns metrics\n"
            "and trace headers off.\n",
            program);
}

static void usage_call(FILE *out)
{
    fprintf(out,
            "usage: %s call API [--json TEXT | --file PATH] [--url URL] [--timeout MS]\n"
            "\n"
            "POST a JSON object to API of a running server and print the JSON response.\n"
            "Exit status 0 for a 2xx response, 1 otherwise.\n"
            "\n"
            "options:\n"
            "  --json TEXT    the request body (default {})\n"
            "  --file PATH    read the request body from PATH ('-' for standard input)\n"
            "  --url URL      server address: http://HOST:PORT or unix:/PATH\n"
            "                 (default http://127.0.0.1:3000)\n"
            "  --timeout MS   give up after MS milliseconds (default 60000)\n"
            "  -h, --help     show this help\n",
            program);
}

/* Parses a non-negative integer option; prints an error and returns false if it is not one. */
static bool parse_uint(const char *opt, const char *text, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v > max) {
        fprintf(stderr, "%s: %s wants a number from 0 to %" PRIu64 ", not '%s'\n", program, opt,
                max, text);
        return false;
    }
    *out = v;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * serve
 * ------------------------------------------------------------------------------------------- */

/* Checks a --depends argument "NAME=URL"; prints why it is not one and returns false. */
static bool check_depends_arg(const char *arg)
{
    const char *eq = strchr(arg, '=');
    tfn__target_t target;
    tfn_error_t err;
    if (!eq || eq == arg) {
        fprintf(stderr,
                "%s serve: --depends wants NAME=URL (URL: http://HOST:PORT or "
                "unix:/PATH), not '%s'\n",
                program, arg);
        return false;
    }
    if (tfn__target_parse(eq + 1, &target, &err) != 0 ||
        (target.unix_path && !target.unix_path[0])) {
        fprintf(stderr, "%s serve: --depends %.*s: '%s' is not http://HOST:PORT or unix:/PATH\n",
                program, (int)(eq - arg), arg, eq + 1);
        return false;
    }
    return true;
}

/* Is `name` (the NAME of a "NAME=URL", `len` bytes) a dependency of `svc`? */
static bool depends_on(const tfn_service_t *svc, const char *name, size_t len)
{
    return tfn__find_dependency(svc, name, len) != NULL;
}

/* Checks that every --depends names a dependency of `svc` (of some service of `graph` when svc
 * is NULL); prints why not and returns false. */
static bool check_depends_names(const char *const *depends, size_t n, const tfn_service_t *svc,
                                const tfn__graph_t *graph)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)(strchr(depends[i], '=') - depends[i]);
        bool found = false;
        if (svc)
            found = depends_on(svc, depends[i], len);
        for (size_t j = 0; !svc && !found && j < graph->n; j++)
            found = depends_on(graph->services[j], depends[i], len);
        if (!found && svc)
            fprintf(stderr,
                    "%s serve: --depends %.*s: service '%s' has no dependency called "
                    "'%.*s'\n",
                    program, (int)len, depends[i], svc->name, (int)len, depends[i]);
        else if (!found)
            fprintf(stderr,
                    "%s serve: --depends %.*s: no service of the graph of '%s' has a "
                    "dependency called '%.*s'\n",
                    program, (int)len, depends[i], graph->services[graph->n - 1]->name, (int)len,
                    depends[i]);
        if (!found)
            return false;
    }
    return true;
}

/* Checks --batch and --max-latency-ms against the service they apply to; prints why not. */
static bool check_batch_args(const tfn_service_t *svc, const tfn__serve_config_t *cfg)
{
    tfn_error_t err;
    if (tfn__service_check(svc, &err) != 0 || tfn__batch_check_args(svc, cfg, &err) == 0)
        return true; /* a bad definition is reported where it is checked */
    fprintf(stderr, "%s serve: %s\n", program, err.message);
    return false;
}

/* A child of the supervisor (TFN_SUPERVISOR_PID is set) dies with it: PR_SET_PDEATHSIG cannot
 * be set between fork and exec by the supervisor (uv_spawn), so the child sets it here, then
 * checks that the supervisor did not die before that. Returns false if it did. */
static bool watch_supervisor(void)
{
    const char *env = getenv(TFN__SUPERVISOR_PID_ENV);
    if (!env)
        return true;
    long pid = strtol(env, NULL, 10);
    unsetenv(TFN__SUPERVISOR_PID_ENV); /* not for processes this one starts */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
        tfn__log("warn", "prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
    if (pid <= 0 || getppid() != (pid_t)pid) {
        tfn__log("error", "the supervisor (pid %ld) has gone; exiting", pid);
        return false;
    }
    return true;
}

static int cmd_serve(int argc, char **argv, const tfn_service_t *svc)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_UNIX,
        O_TIMEOUT,
        O_MAXCONC,
        O_MAXBODY,
        O_THREADS,
        O_DRAIN,
        O_QUIET,
        O_SERVICE,
        O_DEPENDS,
        O_SOCKET_DIR,
        O_START_TIMEOUT,
        O_MAXQUEUE,
        O_WORKERS,
        O_LISTEN_FD,
        O_LISTEN_TCP_FD,
        O_NOTIFY_FD,
        O_WORKER_INDEX,
        O_READ_TIMEOUT,
        O_IDLE_TIMEOUT,
        O_HEAD_TIMEOUT,
        O_MAXCONN,
        O_BATCH,
        O_MAX_LATENCY,
        O_ACCESS_LOG,
        O_METRICS_FD,
        O_METRICS_SLOT,
        O_METRICS_GEN
    };
    static const struct option opts[] = {
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"unix", required_argument, 0, O_UNIX},
        {"timeout", required_argument, 0, O_TIMEOUT},
        {"max-concurrency", required_argument, 0, O_MAXCONC},
        {"max-body", required_argument, 0, O_MAXBODY},
        {"threads", required_argument, 0, O_THREADS},
        {"drain", required_argument, 0, O_DRAIN},
        {"quiet", no_argument, 0, O_QUIET},
        {"service", required_argument, 0, O_SERVICE},
        {"depends", required_argument, 0, O_DEPENDS},
        {"socket-dir", required_argument, 0, O_SOCKET_DIR},
        {"start-timeout", required_argument, 0, O_START_TIMEOUT},
        {"max-queue", required_argument, 0, O_MAXQUEUE},
        {"read-timeout", required_argument, 0, O_READ_TIMEOUT},
        {"idle-timeout", required_argument, 0, O_IDLE_TIMEOUT},
        {"head-timeout", required_argument, 0, O_HEAD_TIMEOUT},
        {"max-connections", required_argument, 0, O_MAXCONN},
        {"workers", required_argument, 0, O_WORKERS},
        {"batch", required_argument, 0, O_BATCH},
        {"max-latency-ms", required_argument, 0, O_MAX_LATENCY},
        {"access-log", required_argument, 0, O_ACCESS_LOG},
        /* Hidden: how the supervisor starts a worker (supervisor.c). */
        {"listen-fd", required_argument, 0, O_LISTEN_FD},
        {"listen-tcp-fd", required_argument, 0, O_LISTEN_TCP_FD},
        {"notify-fd", required_argument, 0, O_NOTIFY_FD},
        {"worker-index", required_argument, 0, O_WORKER_INDEX},
        {"metrics-fd", required_argument, 0, O_METRICS_FD},
        {"metrics-slot", required_argument, 0, O_METRICS_SLOT},
        {"metrics-gen", required_argument, 0, O_METRICS_GEN},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    /* The traffic flags as given, passed on to the entry's process when supervising. */
    enum {
        T_TIMEOUT,
        T_MAXCONC,
        T_MAXBODY,
        T_THREADS,
        T_DRAIN,
        T_MAXQUEUE,
        T_READ,
        T_IDLE,
        T_HEAD,
        T_MAXCONN,
        T_COUNT
    };
    static const char *const traffic_flags[T_COUNT] = {
        "--timeout",      "--max-concurrency", "--max-body",     "--threads",
        "--drain",        "--max-queue",       "--read-timeout", "--idle-timeout",
        "--head-timeout", "--max-connections"};
    const char *traffic_args[T_COUNT] = {0};
    tfn__serve_config_t cfg = {.hooks = &tfn__compose_hooks, .routes = tfn__protocol_routes};
    const char *host = NULL, *service_name = NULL, *socket_dir = NULL;
    const char *depends[TFN__MAX_DEPENDS];
    size_t ndepends = 0;
    const char *workers[TFN__GRAPH_MAX]; /* --workers arguments, checked once the graph is known */
    size_t nworkers = 0;
    bool hidden_given = false;
    uint64_t port = 3000, start_timeout = 30000, v;
    bool port_given = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_HOST: host = optarg; break;
        case O_PORT:
            if (!parse_uint("--port", optarg, 65535, &port))
                return EXIT_USAGE;
            port_given = true;
            break;
        case O_UNIX: cfg.unix_path = optarg; break;
        case O_TIMEOUT:
            if (!parse_uint("--timeout", optarg, UINT32_MAX, &v) || v == 0)
                return EXIT_USAGE;
            cfg.traffic.timeout_ms = (uint32_t)v;
            traffic_args[T_TIMEOUT] = optarg;
            break;
        case O_MAXCONC:
            if (!parse_uint("--max-concurrency", optarg, UINT32_MAX, &v) || v == 0)
                return EXIT_USAGE;
            cfg.traffic.max_concurrency = (uint32_t)v;
            traffic_args[T_MAXCONC] = optarg;
            break;
        case O_MAXBODY:
            if (!parse_uint("--max-body", optarg, UINT64_MAX / 8, &v) || v == 0)
                return EXIT_USAGE;
            cfg.traffic.max_body_bytes = v;
            traffic_args[T_MAXBODY] = optarg;
            break;
        case O_THREADS:
            if (!parse_uint("--threads", optarg, 1024, &v) || v == 0)
                return EXIT_USAGE;
            cfg.threads = (unsigned)v;
            traffic_args[T_THREADS] = optarg;
            break;
        case O_DRAIN:
            if (!parse_uint("--drain", optarg, UINT32_MAX, &v) || v == 0)
                return EXIT_USAGE;
            cfg.traffic.drain_ms = (uint32_t)v;
            traffic_args[T_DRAIN] = optarg;
            break;
        case O_READ_TIMEOUT:
            if (!parse_uint("--read-timeout", optarg, UINT32_MAX, &v) || v == 0)
                return EXIT_USAGE;
            cfg.traffic.read_timeout_ms = (uint32_t)v;
            traffic_args[T_READ] = optarg;
            break;
        case O_IDLE_TIMEOUT:
            if (!parse_uint("--idle-timeout", optarg, UINT32_MAX, &v) || v == 0)
                return EXIT_USAGE;
            cfg.traffic.idle_timeout_ms = (uint32_t)v;
            traffic_args[T_IDLE] = optarg;
            break;
        case O_HEAD_TIMEOUT:
            if (!parse_uint("--head-timeout", optarg, UINT32_MAX, &v) || v == 0)
                return EXIT_USAGE;
            cfg.traffic.head_timeout_ms = (uint32_t)v;
            traffic_args[T_HEAD] = optarg;
            break;
        case O_MAXCONN:
            if (!parse_uint("--max-connections", optarg, UINT32_MAX, &v) || v == 0)
                return EXIT_USAGE;
            cfg.traffic.max_connections = (uint32_t)v;
            traffic_args[T_MAXCONN] = optarg;
            break;
        case O_QUIET: cfg.quiet = true; break;
        case O_SERVICE: service_name = optarg; break;
        case O_DEPENDS:
            if (!check_depends_arg(optarg))
                return EXIT_USAGE;
            if (ndepends == TFN__MAX_DEPENDS) {
                fprintf(stderr, "%s serve: at most %d --depends\n", program, TFN__MAX_DEPENDS);
                return EXIT_USAGE;
            }
            for (size_t i = 0; i < ndepends; i++) {
                size_t len = (size_t)(strchr(optarg, '=') - optarg) + 1;
                if (strncmp(depends[i], optarg, len) == 0) {
                    fprintf(stderr, "%s serve: --depends %.*s given twice\n", program, (int)len - 1,
                            optarg);
                    return EXIT_USAGE;
                }
            }
            depends[ndepends++] = optarg;
            break;
        case O_SOCKET_DIR: socket_dir = optarg; break;
        case O_START_TIMEOUT:
            if (!parse_uint("--start-timeout", optarg, UINT32_MAX, &start_timeout))
                return EXIT_USAGE;
            if (start_timeout == 0) {
                fprintf(stderr, "%s serve: --start-timeout wants at least 1 ms\n", program);
                return EXIT_USAGE;
            }
            break;
        case O_MAXQUEUE:
            if (!parse_uint("--max-queue", optarg, UINT32_MAX, &v))
                return EXIT_USAGE;
            cfg.traffic.max_queue = (uint32_t)v;
            cfg.max_queue_set = true;
            traffic_args[T_MAXQUEUE] = optarg;
            break;
        case O_BATCH:
        case O_MAX_LATENCY: {
            const char **args = c == O_BATCH ? cfg.batch_args : cfg.latency_args;
            size_t *n = c == O_BATCH ? &cfg.nbatch_args : &cfg.nlatency_args;
            if (*n == TFN__MAX_BATCH_ARGS) {
                fprintf(stderr, "%s serve: at most %d %s\n", program, TFN__MAX_BATCH_ARGS,
                        c == O_BATCH ? "--batch" : "--max-latency-ms");
                return EXIT_USAGE;
            }
            args[(*n)++] = optarg;
            break;
        }
        case O_WORKERS:
            if (nworkers == TFN__GRAPH_MAX) {
                fprintf(stderr, "%s serve: at most %d --workers\n", program, TFN__GRAPH_MAX);
                return EXIT_USAGE;
            }
            workers[nworkers++] = optarg;
            break;
        case O_ACCESS_LOG: cfg.access_log = optarg; break;
        case O_METRICS_SLOT:
        case O_METRICS_GEN:
            if (!parse_uint(c == O_METRICS_SLOT ? "--metrics-slot" : "--metrics-gen", optarg,
                            UINT32_MAX, &v))
                return EXIT_USAGE;
            *(c == O_METRICS_SLOT ? &cfg.metrics_slot : &cfg.metrics_gen) = (unsigned)v;
            break;
        case O_LISTEN_FD:
        case O_LISTEN_TCP_FD:
        case O_NOTIFY_FD:
        case O_METRICS_FD:
            if (!parse_uint(c == O_NOTIFY_FD ? "--notify-fd" : "--listen-fd", optarg, INT32_MAX,
                            &v))
                return EXIT_USAGE;
            if (v < 3 || fcntl((int)v, F_GETFD) < 0) {
                fprintf(stderr, "%s serve: fd %s is not open\n", program, optarg);
                return EXIT_USAGE;
            }
            /* Not for processes a handler may start. */
            (void)fcntl((int)v, F_SETFD, FD_CLOEXEC);
            *(c == O_LISTEN_FD       ? &cfg.listen_fd
              : c == O_LISTEN_TCP_FD ? &cfg.listen_tcp_fd
              : c == O_METRICS_FD    ? &cfg.metrics_fd
                                     : &cfg.notify_fd) = (int)v;
            hidden_given = true;
            break;
        case O_WORKER_INDEX:
            if (!parse_uint("--worker-index", optarg, TFN__MAX_WORKERS - 1, &v))
                return EXIT_USAGE;
            cfg.worker_index = (unsigned)v;
            break;
        case 'h': usage_serve(stdout); return 0;
        default: usage_serve(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s serve: unexpected argument '%s'\n", program, argv[optind]);
        return EXIT_USAGE;
    }
    if (hidden_given && !service_name) {
        fprintf(stderr, "%s serve: --listen-fd and --notify-fd go with --service\n", program);
        return EXIT_USAGE;
    }
    /* --unix alone means only the unix socket; inherited sockets mean no socket of our own. */
    if (cfg.listen_fd > 0 || cfg.listen_tcp_fd > 0) {
        cfg.host = NULL;
        cfg.unix_path = NULL;
    } else if (host || port_given || !cfg.unix_path) {
        cfg.host = host ? host : "127.0.0.1";
        cfg.port = (int)port;
    }
    cfg.depends = depends;
    cfg.ndepends = ndepends;

    tfn__graph_t graph;
    tfn_error_t err;
    if (tfn__graph_build(svc, &graph, &err) != 0) {
        fprintf(stderr, "%s: %s\n", program, err.message);
        return 1;
    }
    if (service_name) { /* one service of the graph, in this process */
        const tfn_service_t *one = tfn__graph_find(&graph, service_name);
        if (!one) {
            fprintf(stderr, "%s serve: no service called '%s'; this program has:", program,
                    service_name);
            for (size_t i = 0; i < graph.n; i++)
                fprintf(stderr, "%s %s", i ? "," : "", graph.services[i]->name);
            fputc('\n', stderr);
            return EXIT_USAGE;
        }
        if (!check_depends_names(depends, ndepends, one, NULL) || !check_batch_args(one, &cfg))
            return EXIT_USAGE;
        if (nworkers) {
            fprintf(stderr,
                    "%s serve: --workers does not go with --service, which serves one "
                    "worker in this process\n",
                    program);
            return EXIT_USAGE;
        }
        if (!watch_supervisor() || tfn__worker_apply_plan() != 0)
            return 1;
        return tfn__serve(one, &cfg);
    }

    /* Workers of each service: its own `workers`, or --workers. */
    unsigned nworkers_of[TFN__GRAPH_MAX], max_workers_of[TFN__GRAPH_MAX];
    char why[256];
    if (tfn__workers_ranges(&graph, workers, nworkers, nworkers_of, max_workers_of, why,
                            sizeof why) != 0) {
        fprintf(stderr, "%s serve: %s\n", program, why);
        return EXIT_USAGE;
    }
    /* One worker of one service that asks for no resources runs in this very process; anything
     * more is supervised: several processes, or limits the supervisor must enforce. */
    bool supervise = graph.n > 1;
    for (size_t i = 0; i < graph.n; i++) {
        const tfn_resources_t *r = &graph.services[i]->resources;
        supervise |= nworkers_of[i] > 1 || max_workers_of[i] > 1 || r->cpu != 0 || r->gpu != 0 ||
                     r->memory_mb != 0;
    }
    if (!check_batch_args(svc, &cfg)) /* the entry's (batch flags go to the entry) */
        return EXIT_USAGE;
    if (!supervise) {
        if (!check_depends_names(depends, ndepends, svc, NULL))
            return EXIT_USAGE;
        if (tfn__worker_apply_plan() != 0)
            return 1;
        return tfn__serve(svc, &cfg);
    }

    /* The whole graph, each service in its own processes. */
    if (!check_depends_names(depends, ndepends, NULL, &graph))
        return EXIT_USAGE;
    tfn__supervise_config_t sup = {
        .program = program_path ? program_path : program,
        .host = cfg.host,
        .port = cfg.port,
        .unix_path = cfg.unix_path,
        .socket_dir = socket_dir,
        .start_timeout_ms = (uint32_t)start_timeout,
        .entry_drain_ms = cfg.traffic.drain_ms,
        .quiet = cfg.quiet,
        .depends = depends,
        .ndepends = ndepends,
        .workers = nworkers_of,
        .access_log = cfg.access_log,
        .max_workers = max_workers_of,
    };
    for (int t = 0; t < T_COUNT; t++) {
        if (!traffic_args[t])
            continue;
        sup.entry_args[sup.nentry_args++] = traffic_flags[t];
        sup.entry_args[sup.nentry_args++] = traffic_args[t];
    }
    for (size_t i = 0; i < cfg.nbatch_args; i++) {
        sup.entry_args[sup.nentry_args++] = "--batch";
        sup.entry_args[sup.nentry_args++] = cfg.batch_args[i];
    }
    for (size_t i = 0; i < cfg.nlatency_args; i++) {
        sup.entry_args[sup.nentry_args++] = "--max-latency-ms";
        sup.entry_args[sup.nentry_args++] = cfg.latency_args[i];
    }
    return tfn__supervise(&graph, &sup);
}

/* ---------------------------------------------------------------------------------------------
 * call
 * ------------------------------------------------------------------------------------------- */

static int read_file(const char *path, tfn__buf_t *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s call: cannot open %s: %s\n", program, path, strerror(errno));
        return -1;
    }
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = tfn__buf_append(out, chunk, n);
    if (rc == 0 && ferror(f))
        rc = TFN_EIO;
    if (f != stdin)
        fclose(f);
    if (rc != 0)
        fprintf(stderr, "%s call: cannot read %s: %s\n", program, path, tfn_strerror(rc));
    return rc;
}

static int cmd_call(int argc, char **argv)
{
    enum { O_JSON = 256, O_FILE, O_URL, O_TIMEOUT };
    static const struct option opts[] = {
        {"json", required_argument, 0, O_JSON}, {"file", required_argument, 0, O_FILE},
        {"url", required_argument, 0, O_URL},   {"timeout", required_argument, 0, O_TIMEOUT},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *json = NULL, *file = NULL, *url = "http://127.0.0.1:3000";
    uint64_t timeout = 60000;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_JSON: json = optarg; break;
        case O_FILE: file = optarg; break;
        case O_URL: url = optarg; break;
        case O_TIMEOUT:
            if (!parse_uint("--timeout", optarg, INT32_MAX, &timeout) || timeout == 0)
                return EXIT_USAGE;
            break;
        case 'h': usage_call(stdout); return 0;
        default: usage_call(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "%s call: name exactly one API (see --help)\n", program);
        return EXIT_USAGE;
    }
    if (json && file) {
        fprintf(stderr, "%s call: give --json or --file, not both\n", program);
        return EXIT_USAGE;
    }
    tfn_error_t err;
    tfn__target_t target;
    if (tfn__target_parse(url, &target, &err) != 0) {
        fprintf(stderr, "%s call: %s\n", program, err.message);
        return EXIT_USAGE;
    }
    tfn__buf_t body;
    tfn__buf_init(&body, (size_t)1 << 32);
    int rc = file ? read_file(file, &body) : tfn__buf_puts(&body, json ? json : "{}");
    if (rc != 0) {
        tfn__buf_free(&body);
        return 1;
    }
    char path[TFN__MAX_URL];
    snprintf(path, sizeof path, "/%s", argv[optind]);
    tfn__buf_t response;
    tfn__buf_init(&response, (size_t)1 << 32);
    int status = 0;
    rc = tfn__http_call(&target, "POST", path, TFN__MEDIA_JSON, body.data, body.len, (int)timeout,
                        &status, &response, &err);
    tfn__buf_free(&body);
    if (rc != 0) {
        fprintf(stderr, "%s call: %s\n", program, err.message);
        tfn__buf_free(&response);
        return 1;
    }
    fwrite(response.data ? response.data : "", 1, response.len, stdout);
    if (response.len == 0 || response.data[response.len - 1] != '\n')
        fputc('\n', stdout);
    tfn__buf_free(&response);
    if (status < 200 || status > 299) {
        fprintf(stderr, "%s call: HTTP %d\n", program, status);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * openapi, and the dispatcher
 * ------------------------------------------------------------------------------------------- */

static int cmd_openapi(int argc, char **argv, const tfn_service_t *svc)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s openapi\n\nPrint the OpenAPI 3.0 document of the service (JSON).\n",
               program);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "%s openapi: unexpected argument '%s'\n", program, argv[1]);
        return EXIT_USAGE;
    }
    tfn_error_t err;
    if (tfn__service_check(svc, &err) != 0) {
        fprintf(stderr, "%s: %s\n", program, err.message);
        return 1;
    }
    tfn__buf_t doc;
    tfn__buf_init(&doc, 16 << 20);
    int rc = tfn__openapi(svc, &doc);
    if (rc == 0) {
        fwrite(doc.data, 1, doc.len, stdout);
        fputc('\n', stdout);
    } else {
        fprintf(stderr, "%s openapi: %s\n", program, tfn_strerror(rc));
    }
    tfn__buf_free(&doc);
    return rc ? 1 : 0;
}

int tfn_main(int argc, char **argv, const tfn_service_t *service)
{
    if (argc > 0 && argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        program_path = argv[0];
        program = slash ? slash + 1 : argv[0];
    }
    if (!service) {
        fprintf(stderr, "%s: tfn_main was given no service\n", program);
        return 1;
    }
    if (argc < 2) {
        usage_main(stderr, service);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1, service);
    if (strcmp(cmd, "call") == 0)
        return cmd_call(argc - 1, argv + 1);
    if (strcmp(cmd, "openapi") == 0)
        return cmd_openapi(argc - 1, argv + 1, service);
    if (strcmp(cmd, "manifests") == 0)
        return tfn__manifests_main(argc - 1, argv + 1, service, program);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("tiffin %s\n", TFN_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage_main(stdout, service);
        return 0;
    }
    fprintf(stderr, "%s: unknown command '%s'\n\n", program, cmd);
    usage_main(stderr, service);
    return EXIT_USAGE;
}
