/*
 * tiffin/main.h — the command line every tiffin program gets.
 */
#ifndef TIFFIN_MAIN_H
#define TIFFIN_MAIN_H

#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the library, "MAJOR.MINOR.PATCH". */
#define TFN_VERSION "0.1.0"

/**
 * Runs the command line for `service` and returns the process exit status. Commands:
 *
 *   serve   [--host H] [--port P] [--unix PATH] [--max-body BYTES] [--timeout MS]
 *           [--max-concurrency N] [--max-queue N] [--threads N] [--drain MS] [--quiet]
 *           [--service NAME] [--depends NAME=URL]... [--socket-dir DIR] [--start-timeout MS]
 *           [--workers N|MIN:MAX | --workers NAME=N|NAME=MIN:MAX]...
 *           serve the service over HTTP until SIGTERM/SIGINT
 *   call    API [--json TEXT | --file PATH] [--url URL | --unix PATH]
 *           call an API of a running server and print the JSON response
 *   openapi print the OpenAPI 3.0 document of the service
 *   manifests kubernetes --image IMAGE [--namespace NS] [--port P] [--workers NAME=N|MIN:MAX]...
 *           print Kubernetes YAML: per service a Deployment running `serve --service NAME`
 *           with --depends on the other services' Services, a Service, and a
 *           HorizontalPodAutoscaler for a worker range (docs/design.md, "Deployment")
 *
 * `serve` has three forms:
 *
 *  - A program of one service that asks for one worker and no resources (tfn_resources_t all
 *    0), and has no dependencies defined in the program, is served in this process. The first
 *    line on stdout is "NAME listening on http://HOST:PORT" (the port actually bound, also with
 *    --port 0); with --unix, a line "NAME listening on unix:PATH".
 *
 *  - Anything else — a graph of several services, a service with several workers (`workers`,
 *    or --workers N for the entry, --workers NAME=N for any service; or a range, `max_workers`
 *    or --workers [NAME=]MIN:MAX), or one that asks for cores, GPUs or a memory limit — is
 *    supervised: the program re-executes itself once per
 *    worker (`serve --service NAME` with hidden options). The supervisor binds every service's
 *    socket itself and hands it to all the service's workers, which accept on it together:
 *    dependencies on unix sockets DIR/NAME.sock in a private directory (mkdtemp "tiffin-XXXXXX",
 *    mode 0700, under $TFN_RUNTIME_DIR, else $XDG_RUNTIME_DIR, else /tmp; or --socket-dir DIR,
 *    created 0700 if missing), passed to their callers with --depends; the entry on
 *    --host/--port (and --unix). The traffic flags apply to the entry. Each worker gets its
 *    service's resources: ceil(cpu) cores of its own (round-robin over the supervisor's allowed
 *    cores; shared, with a warning, when there are not enough), its own GPUs in
 *    CUDA_VISIBLE_DEVICES (fractions share a device; devices from $TFN_GPUS, else nvidia-smi;
 *    asking for more than exist is a start-up error), and memory_mb as a limit (a memory cgroup,
 *    else RLIMIT_AS; $TFN_MEMORY_LIMITS=auto|cgroup|rlimit|off). A service starts once every
 *    worker of the services it depends on is ready (its /readyz would answer 200), each within
 *    --start-timeout MS (default 30000); a worker that exits or is not ready in time stops
 *    everything with exit status 1. Stdout: the entry's banner line first (as above), then a
 *    table with one row per worker (SERVICE PID WORKER CPUS GPUS MEMORY ADDRESS DEPENDS ON),
 *    then "ready" once the entry is ready. A worker that exits while serving is restarted after
 *    100 ms, doubling to 5 s; one that crashes more than 5 times within 30 s is left down
 *    ("crash loop"); the supervisor's log says why each one died ("killed by the kernel: over
 *    its memory limit of 64 MiB"). SIGHUP restarts every worker, one at a time per service, each
 *    replacement ready before the worker it replaces is told to stop. SIGTERM/SIGINT stops the
 *    entry's workers first (SIGTERM; SIGKILL past their drain time + 5 s), then the other
 *    services in reverse dependency order, removes the sockets and the directory if it was
 *    created, and exits 0 if every worker stopped cleanly, else 1. A second signal kills every
 *    worker at once (exit 1). Workers die with the supervisor, even when it is killed.
 *    --depends NAME=URL overrides the address of the dependencies called NAME anywhere in the
 *    graph; a service reached only through overridden dependencies is not started. A service
 *    with a range starts MIN workers; the supervisor adds one (up to MAX, and no more than the
 *    allowed cores hold at ceil(cpu) cores a worker) while its workers' utilization stays above
 *    0.7 for 1 s, and retires the highest-numbered (SIGTERM: it drains) when fewer would do for
 *    5 s; each change is a "scale:" line in its log (docs/design.md, "Deployment").
 *
 *  - `serve --service NAME` serves only the service NAME of the graph, one worker, in this
 *    process (one service per host or pod: resources are then the orchestrator's business).
 *    --depends NAME=URL (http://HOST:PORT or unix:/PATH; each NAME a dependency of that service)
 *    says where its dependencies are, overriding their `url`.
 *
 * See docs/design.md ("Processes").
 * Each command accepts --help. `service` is borrowed and must outlive the call.
 * Exit status: 0 on success, 1 on a runtime failure (including a resource request the machine
 * cannot satisfy), 2 on bad usage (an unknown option, an unknown --service, a --depends that is
 * not NAME=URL or names no dependency, a --workers for no service or with --service).
 */
int tfn_main(int argc, char **argv, const tfn_service_t *service);

#ifdef __cplusplus
}
#endif
#endif
