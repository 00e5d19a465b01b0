/*
 * manifests_internal.h — `app manifests kubernetes`: the service graph as Kubernetes objects.
 *
 * One Deployment and one Service per service of the graph (each pod runs `app serve --service
 * NAME` with its dependencies' Service addresses in --depends), and a HorizontalPodAutoscaler
 * for each service with a worker range. The mapping is described in docs/design.md
 * ("Deployment").
 */
#ifndef TIFFIN_MANIFESTS_INTERNAL_H
#define TIFFIN_MANIFESTS_INTERNAL_H

#include <stddef.h>

#include "compose/graph_internal.h"
#include "core/buf_internal.h"
#include "tiffin.h"

/** Longest Kubernetes object name we make (a DNS-1123 label). */
#define TFN__K8S_NAME_MAX 63

/** What `manifests kubernetes` was asked for. */
typedef struct tfn__manifest_config {
    const char *program;   /* the program's file name in the image, run as the command */
    const char *image;     /* container image reference, required */
    const char *namespace; /* NULL: none written (kubectl's current namespace) */
    int port;              /* the port every pod listens on and every Service exposes */
    /* Per graph index: replicas (the minimum of a range) and the maximum (0 or <= min: fixed).
     * NULL: from each service's `workers` / `max_workers`. */
    const unsigned *min_workers;
    const unsigned *max_workers;
} tfn__manifest_config_t;

/**
 * The Kubernetes object name of a service: its name in lower case, '_' as '-', without leading
 * or trailing '-', and "s-" in front when it would not start with a letter. Writes at most
 * TFN__K8S_NAME_MAX + 1 bytes to `out`; returns -1 when nothing is left of the name.
 */
int tfn__k8s_name(const char *service, char out[TFN__K8S_NAME_MAX + 1]);

/**
 * Appends the YAML documents for every service of `graph` to `out`. Returns 0, or TFN_EINVAL
 * with a message in `err` (two services with the same Kubernetes name, a bad namespace or
 * image), or a buffer error.
 */
int tfn__manifests_kubernetes(const tfn__graph_t *graph, const tfn__manifest_config_t *config,
                              tfn__buf_t *out, tfn_error_t *err);

/**
 * The `manifests` command of tfn_main: parses its options (argv[0] is "manifests"), prints the
 * YAML on stdout, and returns the exit status (0, 1 on failure, 2 on bad usage).
 */
int tfn__manifests_main(int argc, char **argv, const tfn_service_t *service, const char *program);

/**
 * Parses a --workers argument ("N", "MIN:MAX", "NAME=N" or "NAME=MIN:MAX"; N from 1 to `most`,
 * MIN <= MAX) for `graph`: sets *index to the service's index (the entry without NAME), *min
 * and *max (equal for "N"). Returns 0, or -1 with a message in `err`.
 */
int tfn__workers_parse(const tfn__graph_t *graph, const char *arg, unsigned most, size_t *index,
                       unsigned *min, unsigned *max, char *err, size_t err_size);

/**
 * The workers of each service of `graph` (graph order, `graph->n` entries in `min` and `max`):
 * its `workers` (at least 1) and `max_workers` (0: fixed), then the `nargs` --workers arguments
 * in order (tfn__workers_parse, with TFN__MAX_WORKERS). Returns 0, or -1 with a message in `err`
 * ("--workers ...: ..."). What `serve` supervises and what `manifests` writes come from here.
 */
int tfn__workers_ranges(const tfn__graph_t *graph, const char *const *args, size_t nargs,
                        unsigned *min, unsigned *max, char *err, size_t err_size);

#endif
