/*
 * graph.c — walking and checking a service graph (see graph_internal.h).
 */
#include <string.h>

#include "compose/graph_internal.h"
#include "compose/compose_internal.h"

const char *tfn__dependency_name(const tfn_dependency_t *dep)
{
    if (dep->name)
        return dep->name;
    return dep->service ? dep->service->name : NULL;
}

const tfn_dependency_t *tfn__find_dependency(const tfn_service_t *svc, const char *name, size_t len)
{
    TFN__FOR_EACH_DEPENDENCY(d, svc) {
        const char *dep = tfn__dependency_name(d);
        if (dep && strlen(dep) == len && strncmp(dep, name, len) == 0)
            return d;
    }
    return NULL;
}

const char *tfn__depends_lookup(const char *const *depends, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (strncmp(depends[i], name, len) == 0 && depends[i][len] == '=')
            return depends[i] + len + 1;
    return NULL;
}

const tfn_service_t *tfn__graph_find(const tfn__graph_t *graph, const char *name)
{
    for (size_t i = 0; i < graph->n; i++)
        if (strcmp(graph->services[i]->name, name) == 0)
            return graph->services[i];
    return NULL;
}

static int check_depends(const tfn_service_t *svc, tfn_error_t *err)
{
    TFN__FOR_EACH_DEPENDENCY(d, svc) {
        const char *name = tfn__dependency_name(d);
        if (!name || (!d->service && !d->url))
            return tfn_error_set(err, TFN_EINVAL,
                                 "service '%s': dependency '%s' needs a service or a url",
                                 svc->name, name ? name : "(unnamed)");
        for (const tfn_dependency_t *e = svc->depends; e != d; e++)
            if (strcmp(tfn__dependency_name(e), name) == 0)
                return tfn_error_set(err, TFN_EINVAL,
                                     "service '%s': dependency '%s' declared twice", svc->name,
                                     name);
    }
    return 0;
}

/* Depth-first walk; `path` holds the services on the way down, to name a cycle. */
static int visit(const tfn_service_t *svc, tfn__graph_t *graph, const tfn_service_t **path,
                 size_t depth, tfn_error_t *err)
{
    for (size_t i = 0; i < depth; i++) {
        if (path[i] != svc && strcmp(path[i]->name, svc->name) != 0)
            continue;
        char cycle[TFN_ERROR_MESSAGE_MAX] = "";
        size_t len = 0;
        for (size_t j = i; j < depth && len < sizeof cycle; j++)
            len += (size_t)snprintf(cycle + len, sizeof cycle - len, "%s -> ", path[j]->name);
        return tfn_error_set(err, TFN_EINVAL, "dependency cycle: %s%s", cycle, svc->name);
    }
    const tfn_service_t *known = tfn__graph_find(graph, svc->name);
    if (known == svc)
        return 0;
    if (known)
        return tfn_error_set(err, TFN_EINVAL,
                             "two different services are named '%s': names must be unique",
                             svc->name);
    int rc = tfn__service_check(svc, err);
    if (rc == 0)
        rc = check_depends(svc, err);
    if (rc != 0)
        return rc;
    if (depth == TFN__GRAPH_MAX)
        return tfn_error_set(err, TFN_EINVAL, "service graph deeper than %d", TFN__GRAPH_MAX);
    path[depth] = svc;
    TFN__FOR_EACH_DEPENDENCY(d, svc)
        if (d->service && (rc = visit(d->service, graph, path, depth + 1, err)) != 0)
            return rc;
    if (graph->n == TFN__GRAPH_MAX)
        return tfn_error_set(err, TFN_EINVAL, "more than %d services in one graph", TFN__GRAPH_MAX);
    graph->services[graph->n++] = svc;
    return 0;
}

int tfn__graph_build(const tfn_service_t *entry, tfn__graph_t *graph, tfn_error_t *err)
{
    const tfn_service_t *path[TFN__GRAPH_MAX + 1];
    graph->n = 0;
    if (!entry)
        return tfn_error_set(err, TFN_EINVAL, "no service given");
    return visit(entry, graph, path, 0, err);
}
