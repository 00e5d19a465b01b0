/*
 * supervisor_internal.h — `serve` for a service graph: every service in its own processes.
 *
 * The supervisor binds each service's listening socket itself (a unix socket in a private
 * directory; the entry also on the TCP address the user asked for) and re-executes the program
 * once per worker (`serve --service NAME --listen-fd 4 ...`), every worker of a service accepting
 * on the same socket. It plans and enforces resources (resources_internal.h), starts
 * dependencies before the services that call them, restarts a worker that crashes, restarts
 * every worker one at a time on SIGHUP, and on SIGTERM/SIGINT stops the entry first, then the
 * rest in reverse order. See include/tiffin/main.h and docs/design.md ("Processes").
 */
#ifndef TIFFIN_SUPERVISOR_INTERNAL_H
#define TIFFIN_SUPERVISOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compose/graph_internal.h"

/** Environment variable telling a child the pid of its supervisor (see cli.c, --service). */
#define TFN__SUPERVISOR_PID_ENV "TFN_SUPERVISOR_PID"

/** Most arguments passed through to the entry's process (traffic flags). */
#define TFN__MAX_ENTRY_ARGS (16 + 4 * TFN__MAX_BATCH_ARGS) /* traffic and batch flags */

/** How to supervise a graph; filled by the CLI. Every pointer is borrowed (argv or static). */
typedef struct tfn__supervise_config {
    const char *program;       /* argv[0], shown as the children's argv[0] */
    const char *host;          /* the entry's TCP host; NULL: the entry listens on unix_path only */
    int port;                  /* the entry's TCP port; 0 picks one (learned from its banner) */
    const char *unix_path;     /* the entry's unix socket; NULL: one in the socket directory */
    const char *socket_dir;    /* NULL: a fresh private directory (mkdtemp) */
    uint32_t start_timeout_ms; /* how long each service may take to answer /readyz 200 */
    uint32_t entry_drain_ms;   /* the entry's resolved drain time (others use their own) */
    bool quiet;                /* print nothing on stdout (no banner, table or "ready") */
    /* Flags passed as they are to the entry's process, e.g. {"--timeout", "500"}. */
    const char *entry_args[TFN__MAX_ENTRY_ARGS];
    size_t nentry_args;
    /* Address overrides "NAME=URL" for dependencies called NAME anywhere in the graph. A service
     * reached only through overridden dependencies is not started. */
    const char *const *depends;
    size_t ndepends;
    /* Worker processes of each service of the graph, in graph order (its `workers`, or
     * --workers); at least 1 each. */
    const unsigned *workers;
} tfn__supervise_config_t;

/**
 * Runs every worker of every service of `graph` as a child process until SIGTERM/SIGINT, as
 * described in main.h. Returns the process exit status: 0 when every worker stopped cleanly,
 * 1 otherwise (a start-up failure, a resource request the machine cannot satisfy, a crash loop,
 * a worker that had to be killed, a second signal).
 */
int tfn__supervise(const tfn__graph_t *graph, const tfn__supervise_config_t *config);

#endif
