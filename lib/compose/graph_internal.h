/*
 * graph_internal.h — the service graph: an entry service and every service it depends on.
 *
 * Only dependencies defined in the program (tfn_dependency_t.service) are nodes; those given by
 * URL alone run elsewhere. Services are identified by name: two different definitions with the
 * same name are an error, so a name is enough to find a service's socket or its test instance.
 */
#ifndef TIFFIN_GRAPH_INTERNAL_H
#define TIFFIN_GRAPH_INTERNAL_H

#include <stddef.h>

#include "tiffin.h"

/** Most services one graph may hold. */
#define TFN__GRAPH_MAX 64

typedef struct tfn__graph {
    size_t n;
    /* Dependencies before the services that call them: services[n - 1] is the entry. */
    const tfn_service_t *services[TFN__GRAPH_MAX];
} tfn__graph_t;

/**
 * Walks the graph of `entry` into *graph, checking every service definition (tfn__service_check)
 * and every dependency list (each entry names a service or a URL; names are unique within a
 * list). Returns 0, or TFN_EINVAL with a message for an invalid definition, a cycle
 * ("A -> B -> A"), two definitions of one name, or more than TFN__GRAPH_MAX services.
 */
int tfn__graph_build(const tfn_service_t *entry, tfn__graph_t *graph, tfn_error_t *err);

/** The service of `graph` called `name`, or NULL. */
const tfn_service_t *tfn__graph_find(const tfn__graph_t *graph, const char *name);

/** The name handlers call a dependency by: its `name`, else its service's name. */
const char *tfn__dependency_name(const tfn_dependency_t *dep);

/** Iterates `d` over the {0}-terminated dependency list of `svc` (NULL: none). */
#define TFN__FOR_EACH_DEPENDENCY(d, svc)                                                           \
    for (const tfn_dependency_t *d = (svc)->depends; d && (d->service || d->url || d->name); d++)

/** The dependency of `svc` called `name` (`len` bytes, need not be NUL-terminated), or NULL. */
const tfn_dependency_t *tfn__find_dependency(const tfn_service_t *svc, const char *name,
                                             size_t len);

/**
 * The URL that a list of "NAME=URL" overrides (--depends) gives for `name`, or NULL.
 * The returned pointer points into the list.
 */
const char *tfn__depends_lookup(const char *const *depends, size_t n, const char *name);

#endif
