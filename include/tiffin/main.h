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
 *           [--max-concurrency N] [--threads N] [--drain MS] [--quiet]
 *           [--service NAME] [--depends NAME=URL]... [--socket-dir DIR] [--start-timeout MS]
 *           serve the service over HTTP until SIGTERM/SIGINT
 *   call    API [--json TEXT | --file PATH] [--url URL | --unix PATH]
 *           call an API of a running server and print the JSON response
 *   openapi print the OpenAPI 3.0 document of the service
 *
 * `serve` has three forms:
 *
 *  - A service with no dependencies defined in the program (only `url` ones, or none) is served
 *    in this process. The first line on stdout is "NAME listening on http://HOST:PORT" (the port
 *    actually bound, also with --port 0); with --unix, a line "NAME listening on unix:PATH".
 *
 *  - A service whose graph holds other services of the program is served whole, each service in
 *    its own process: the program re-executes itself as `serve --service NAME` per service.
 *    Dependencies listen on unix sockets DIR/NAME.sock in a private directory (mkdtemp
 *    "tiffin-XXXXXX", mode 0700, under $TFN_RUNTIME_DIR, else $XDG_RUNTIME_DIR, else /tmp; or
 *    --socket-dir DIR, created 0700 if missing) and are passed to their callers with --depends.
 *    The entry listens on --host/--port (and --unix); the traffic flags apply to it. A service
 *    starts once the services it depends on answer GET /readyz 200, each within
 *    --start-timeout MS (default 30000); a service that exits or is not ready in time stops
 *    everything with exit status 1. Stdout: the entry's banner line first (as above), then a
 *    table of the services (SERVICE PID WORKERS ADDRESS DEPENDS ON), then "ready" once the
 *    entry's /readyz is 200. A service that exits while serving is restarted after 100 ms,
 *    doubling to 5 s; one that crashes more than 5 times within 30 s is left down ("crash loop").
 *    SIGTERM/SIGINT stops the entry first (SIGTERM; SIGKILL past its drain time + 5 s), then
 *    the other services in reverse dependency order, removes the sockets and the directory if
 *    it was created, and exits 0 if every service stopped cleanly, else 1. A second signal kills
 *    every service at once (exit 1). Children die with the supervisor, even when it is killed.
 *    --depends NAME=URL overrides the address of the dependencies called NAME anywhere in the
 *    graph; a service reached only through overridden dependencies is not started.
 *
 *  - `serve --service NAME` serves only the service NAME of the graph, in this process (one
 *    service per host or pod). --depends NAME=URL (http://HOST:PORT or unix:/PATH; each NAME a
 *    dependency of that service) says where its dependencies are, overriding their `url`.
 *
 * Each command accepts --help. `service` is borrowed and must outlive the call.
 * Exit status: 0 on success, 1 on a runtime failure, 2 on bad usage (an unknown option, an
 * unknown --service, a --depends that is not NAME=URL or names no dependency).
 */
int tfn_main(int argc, char **argv, const tfn_service_t *service);

#ifdef __cplusplus
}
#endif
#endif
