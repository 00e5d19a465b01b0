/*
 * manifests.c — `app manifests kubernetes`: one Deployment, one Service and (for a worker range)
 * one HorizontalPodAutoscaler per service of the graph. See manifests_internal.h and
 * docs/design.md ("Deployment").
 *
 * The YAML is written by hand: every value is either a number, a name checked to be a DNS-1123
 * label, a service or dependency name (letters, digits, '_', '-'), or a user's string written as
 * a double-quoted YAML scalar (the image reference, checked for control characters).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervise/manifests_internal.h"
#include "supervise/resources_internal.h"

#define EXIT_USAGE 2

/* Seconds a pod keeps serving after Kubernetes decides to stop it, before it gets SIGTERM: the
 * time for its endpoint to leave every Service and proxy, so no new request is sent to a
 * process that is draining. */
#define PRESTOP_SLEEP_S 5
/* CPU utilization (of the request) the autoscaler holds the pods of a range near. */
#define HPA_CPU_TARGET 70

int tfn__k8s_name(const char *service, char out[TFN__K8S_NAME_MAX + 1])
{
    size_t n = 0;
    const char *s = service;
    while (*s == '_' || *s == '-')
        s++;
    if (*s && !isalpha((unsigned char)*s)) {
        memcpy(out, "s-", 2);
        n = 2;
    }
    for (; *s && n < TFN__K8S_NAME_MAX; s++)
        out[n++] = *s == '_' ? '-' : (char)tolower((unsigned char)*s);
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
    return n ? 0 : -1;
}

/* A DNS-1123 label: lower-case letters, digits and '-', starting and ending alphanumeric. */
static bool is_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TFN__K8S_NAME_MAX || !isalnum((unsigned char)s[0]) ||
        !isalnum((unsigned char)s[n - 1]))
        return false;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-')
            return false;
    return true;
}

/* Writes `s` as a double-quoted YAML scalar (the JSON escapes are valid YAML). */
static int put_quoted(tfn__buf_t *out, const char *s)
{
    int rc = tfn__buf_puts(out, "\"");
    for (; rc == 0 && *s; s++) {
        if (*s == '"' || *s == '\\')
            rc = tfn__buf_printf(out, "\\%c", *s);
        else
            rc = tfn__buf_append(out, s, 1);
    }
    return rc ? rc : tfn__buf_puts(out, "\"");
}

/* The labels every object of a service carries; `indent` spaces in front of each line. */
static int put_labels(tfn__buf_t *out, int indent, const char *name, const char *part_of)
{
    return tfn__buf_printf(out,
                           "%*sapp.kubernetes.io/name: %s\n"
                           "%*sapp.kubernetes.io/part-of: %s\n",
                           indent, "", name, indent, "", part_of);
}

static int put_metadata(tfn__buf_t *out, const char *name, const char *part_of,
                        const char *namespace)
{
    int rc = tfn__buf_printf(out, "metadata:\n  name: %s\n", name);
    if (rc == 0 && namespace)
        rc = tfn__buf_printf(out, "  namespace: %s\n", namespace);
    if (rc == 0)
        rc = tfn__buf_puts(out, "  labels:\n");
    if (rc == 0)
        rc = put_labels(out, 4, name, part_of);
    return rc ? rc : tfn__buf_puts(out, "    app.kubernetes.io/managed-by: tiffin\n");
}

/* The resources block of a container: requests and limits from tfn_resources_t. */
static int put_resources(tfn__buf_t *out, const tfn_resources_t *r)
{
    if (r->cpu <= 0 && r->gpu <= 0 && r->memory_mb == 0)
        return tfn__buf_puts(out, "        resources: {}\n");
    int rc = tfn__buf_puts(out, "        resources:\n");
    if (rc == 0 && (r->cpu > 0 || r->memory_mb))
        rc = tfn__buf_puts(out, "          requests:\n");
    /* The request is what the service asks for; the limit the whole cores `serve` pins it to. */
    if (rc == 0 && r->cpu > 0)
        rc = tfn__buf_printf(out, "            cpu: \"%.0fm\"\n", ceil(r->cpu * 1000));
    if (rc == 0 && r->memory_mb)
        rc = tfn__buf_printf(out, "            memory: \"%lluMi\"\n",
                             (unsigned long long)r->memory_mb);
    if (rc == 0)
        rc = tfn__buf_puts(out, "          limits:\n");
    if (rc == 0 && r->cpu > 0)
        rc = tfn__buf_printf(out, "            cpu: \"%.0f\"\n", ceil(r->cpu));
    if (rc == 0 && r->memory_mb)
        rc = tfn__buf_printf(out, "            memory: \"%lluMi\"\n",
                             (unsigned long long)r->memory_mb);
    /* Extended resources are whole devices: a fraction asks for one (sharing a device between
     * pods is the device plugin's configuration, not the pod's). */
    if (rc == 0 && r->gpu > 0)
        rc = tfn__buf_printf(out, "            nvidia.com/gpu: \"%.0f\"%s\n", ceil(r->gpu),
                             r->gpu != ceil(r->gpu) ? "  # asks for a fraction: one whole device"
                                                    : "");
    return rc;
}

/* The Deployment of graph->services[i]. */
static int put_deployment(tfn__buf_t *out, const tfn__graph_t *graph, size_t i,
                          const char (*names)[TFN__K8S_NAME_MAX + 1],
                          const tfn__manifest_config_t *cfg, unsigned min, unsigned max)
{
    const tfn_service_t *svc = graph->services[i];
    const char *name = names[i], *part_of = names[graph->n - 1];
    uint32_t drain_ms = svc->traffic.drain_ms ? svc->traffic.drain_ms : 10000;
    /* preStop, then SIGTERM and drain_ms of draining, then a second of slack before SIGKILL. */
    unsigned grace = PRESTOP_SLEEP_S + (drain_ms + 999) / 1000 + 1;
    int rc = tfn__buf_printf(out, "# %s: service '%s'\napiVersion: apps/v1\nkind: Deployment\n",
                             name, svc->name);
    if (rc == 0)
        rc = put_metadata(out, name, part_of, cfg->namespace);
    if (rc == 0 && max > min)
        rc = tfn__buf_printf(out,
                             "spec:\n  # replicas: from %u to %u, set by the "
                             "HorizontalPodAutoscaler %s\n",
                             min, max, name);
    else if (rc == 0)
        rc = tfn__buf_printf(out, "spec:\n  replicas: %u\n", min);
    if (rc == 0)
        rc = tfn__buf_puts(out, "  selector:\n    matchLabels:\n");
    if (rc == 0)
        rc = put_labels(out, 6, name, part_of);
    /* A replacement is ready before the pod it replaces stops, as in `serve`'s SIGHUP restart. */
    if (rc == 0)
        rc = tfn__buf_puts(out, "  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n"
                                "      maxUnavailable: 0\n      maxSurge: 1\n"
                                "  template:\n    metadata:\n      labels:\n");
    if (rc == 0)
        rc = put_labels(out, 8, name, part_of);
    if (rc == 0)
        rc = tfn__buf_printf(out,
                             "    spec:\n      terminationGracePeriodSeconds: %u\n"
                             "      containers:\n      - name: %s\n        image: ",
                             grace, name);
    if (rc == 0)
        rc = put_quoted(out, cfg->image);
    if (rc == 0)
        rc = tfn__buf_puts(out, "\n        command:\n        - ");
    if (rc == 0)
        rc = put_quoted(out, cfg->program);
    if (rc == 0)
        rc = tfn__buf_printf(out,
                             "\n        - serve\n        - --service\n        - %s\n"
                             "        - --host\n        - \"0.0.0.0\"\n        - --port\n"
                             "        - \"%d\"\n",
                             svc->name, cfg->port);
    /* Every dependency defined in the program is another Deployment, reached by its Service's
     * name; one given by URL alone keeps the URL of the definition. */
    TFN__FOR_EACH_DEPENDENCY(d, svc) {
        if (!d->service || rc != 0)
            continue;
        size_t j = 0;
        while (j < graph->n && strcmp(graph->services[j]->name, d->service->name) != 0)
            j++;
        rc = tfn__buf_printf(out, "        - --depends\n        - %s=http://%s:%d\n",
                             tfn__dependency_name(d), names[j], cfg->port);
    }
    if (rc == 0)
        rc = tfn__buf_printf(out,
                             "        ports:\n        - name: http\n"
                             "          containerPort: %d\n",
                             cfg->port);
    if (rc == 0)
        rc = put_resources(out, &svc->resources);
    /* /livez answers while init still loads models; /readyz only once it returned. */
    if (rc == 0)
        rc =
            tfn__buf_printf(out,
                            "        livenessProbe:\n          httpGet:\n            path: /livez\n"
                            "            port: http\n          periodSeconds: 10\n"
                            "          timeoutSeconds: 2\n          failureThreshold: 3\n"
                            "        readinessProbe:\n          httpGet:\n"
                            "            path: /readyz\n            port: http\n"
                            "          periodSeconds: 2\n          timeoutSeconds: 2\n"
                            "          failureThreshold: 2\n"
                            "        lifecycle:\n          preStop:\n            sleep:\n"
                            "              seconds: %d\n",
                            PRESTOP_SLEEP_S);
    return rc;
}

static int put_service(tfn__buf_t *out, const char *name, const char *part_of,
                       const tfn__manifest_config_t *cfg)
{
    int rc = tfn__buf_puts(out, "---\napiVersion: v1\nkind: Service\n");
    if (rc == 0)
        rc = put_metadata(out, name, part_of, cfg->namespace);
    if (rc == 0)
        rc = tfn__buf_puts(out, "spec:\n  selector:\n");
    if (rc == 0)
        rc = put_labels(out, 4, name, part_of);
    return rc ? rc
              : tfn__buf_printf(out,
                                "  ports:\n  - name: http\n    port: %d\n"
                                "    targetPort: http\n",
                                cfg->port);
}

static int put_hpa(tfn__buf_t *out, const char *name, const char *part_of,
                   const tfn__manifest_config_t *cfg, const tfn_service_t *svc, unsigned min,
                   unsigned max)
{
    int rc = tfn__buf_puts(out, "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n");
    if (rc == 0)
        rc = put_metadata(out, name, part_of, cfg->namespace);
    if (rc == 0 && svc->resources.cpu <= 0)
        rc = tfn__buf_printf(out,
                             "# '%s' asks for no cpu: CPU utilization is measured against "
                             "no request; give resources.cpu\n",
                             svc->name);
    return rc ? rc
              : tfn__buf_printf(out,
                                "spec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n"
                                "    kind: Deployment\n    name: %s\n  minReplicas: %u\n"
                                "  maxReplicas: %u\n  metrics:\n  - type: Resource\n"
                                "    resource:\n      name: cpu\n      target:\n"
                                "        type: Utilization\n        averageUtilization: %d\n",
                                name, min, max, HPA_CPU_TARGET);
}

int tfn__manifests_kubernetes(const tfn__graph_t *graph, const tfn__manifest_config_t *cfg,
                              tfn__buf_t *out, tfn_error_t *err)
{
    char names[TFN__GRAPH_MAX][TFN__K8S_NAME_MAX + 1];
    if (!cfg->image || !*cfg->image)
        return tfn_error_set(err, TFN_EINVAL, "an image is required (--image)");
    for (const char *s = cfg->image; *s; s++)
        if (iscntrl((unsigned char)*s) || *s == ' ')
            return tfn_error_set(err, TFN_EINVAL, "image '%s' has a space or control character",
                                 cfg->image);
    if (cfg->namespace && !is_label(cfg->namespace))
        return tfn_error_set(err, TFN_EINVAL,
                             "namespace '%s' is not a DNS-1123 label (lower-case letters, digits "
                             "and '-', at most 63)",
                             cfg->namespace);
    for (size_t i = 0; i < graph->n; i++) {
        if (tfn__k8s_name(graph->services[i]->name, names[i]) != 0)
            return tfn_error_set(err, TFN_EINVAL, "service '%s' has no Kubernetes name",
                                 graph->services[i]->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return tfn_error_set(err, TFN_EINVAL,
                                     "services '%s' and '%s' both become '%s' in Kubernetes",
                                     graph->services[j]->name, graph->services[i]->name, names[i]);
    }
    int rc = tfn__buf_printf(out,
                             "# %s: %zu services, made by `%s manifests kubernetes` "
                             "(tiffin %s)\n",
                             names[graph->n - 1], graph->n, cfg->program, TFN_VERSION);
    /* Entry first: the reader meets the public face of the graph before its parts. */
    for (size_t k = graph->n; rc == 0 && k-- > 0;) {
        const tfn_service_t *svc = graph->services[k];
        unsigned min = cfg->min_workers ? cfg->min_workers[k] : svc->workers;
        unsigned max = cfg->max_workers ? cfg->max_workers[k] : svc->max_workers;
        if (min == 0)
            min = 1;
        if (k != graph->n - 1)
            rc = tfn__buf_puts(out, "---\n");
        if (rc == 0)
            rc = put_deployment(out, graph, k, names, cfg, min, max);
        if (rc == 0)
            rc = put_service(out, names[k], names[graph->n - 1], cfg);
        if (rc == 0 && max > min)
            rc = put_hpa(out, names[k], names[graph->n - 1], cfg, svc, min, max);
    }
    if (rc != 0)
        return tfn_error_set(err, rc, "writing the manifests: %s", tfn_strerror(rc));
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * --workers, shared with `serve`
 * ------------------------------------------------------------------------------------------- */

static bool parse_count(const char *s, const char *end, unsigned most, unsigned *out)
{
    if (s == end || end - s > 9)
        return false;
    unsigned v = 0;
    for (; s < end; s++) {
        if (!isdigit((unsigned char)*s))
            return false;
        v = v * 10 + (unsigned)(*s - '0');
    }
    *out = v;
    return v >= 1 && v <= most;
}

int tfn__workers_parse(const tfn__graph_t *graph, const char *arg, unsigned most, size_t *index,
                       unsigned *min, unsigned *max, char *err, size_t err_size)
{
    const char *eq = strchr(arg, '='), *count = eq ? eq + 1 : arg;
    size_t i = graph->n - 1; /* the entry */
    if (eq) {
        size_t len = (size_t)(eq - arg);
        for (i = 0; i < graph->n; i++)
            if (strlen(graph->services[i]->name) == len &&
                strncmp(graph->services[i]->name, arg, len) == 0)
                break;
        if (i == graph->n) {
            snprintf(err, err_size, "--workers %s: no service called '%.*s'", arg, (int)len, arg);
            return -1;
        }
    }
    const char *colon = strchr(count, ':'), *end = count + strlen(count);
    bool ok = colon ? parse_count(count, colon, most, min) && parse_count(colon + 1, end, most, max)
                    : parse_count(count, end, most, min);
    if (ok && !colon)
        *max = *min;
    if (!ok || *min > *max) {
        snprintf(err, err_size,
                 "--workers wants N, MIN:MAX, NAME=N or NAME=MIN:MAX with "
                 "1 <= MIN <= MAX <= %u, not '%s'",
                 most, arg);
        return -1;
    }
    *index = i;
    return 0;
}

int tfn__workers_ranges(const tfn__graph_t *graph, const char *const *args, size_t nargs,
                        unsigned *min, unsigned *max, char *err, size_t err_size)
{
    for (size_t i = 0; i < graph->n; i++) {
        min[i] = graph->services[i]->workers ? graph->services[i]->workers : 1;
        max[i] = graph->services[i]->max_workers;
    }
    for (size_t k = 0; k < nargs; k++) {
        size_t i;
        unsigned lo, hi;
        if (tfn__workers_parse(graph, args[k], TFN__MAX_WORKERS, &i, &lo, &hi, err, err_size))
            return -1;
        min[i] = lo;
        max[i] = hi;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------------------------- */

static void usage(FILE *out, const char *program)
{
    fprintf(out,
            "usage: %s manifests kubernetes --image IMAGE [--namespace NS] [--port P]\n"
            "                      [--workers NAME=N | --workers NAME=MIN:MAX]...\n"
            "\n"
            "Print Kubernetes YAML for the service graph: per service a Deployment (its pods run\n"
            "'%s serve --service NAME' with --depends pointing at the other Services), a\n"
            "Service, and a HorizontalPodAutoscaler when it has a worker range.\n"
            "\n"
            "options:\n"
            "  --image IMAGE       container image with this program (see `make image`)\n"
            "  --namespace NS      put every object in namespace NS\n"
            "  --port P            port the pods listen on and the Services expose (3000)\n"
            "  --workers ...       replicas (N) or an autoscaled range (MIN:MAX) of a service,\n"
            "                      overriding its `workers` and `max_workers` (repeatable)\n"
            "  -h, --help          show this help\n",
            program, program);
}

int tfn__manifests_main(int argc, char **argv, const tfn_service_t *service, const char *program)
{
    enum { O_IMAGE = 256, O_NAMESPACE, O_PORT, O_WORKERS };
    static const struct option opts[] = {{"image", required_argument, 0, O_IMAGE},
                                         {"namespace", required_argument, 0, O_NAMESPACE},
                                         {"port", required_argument, 0, O_PORT},
                                         {"workers", required_argument, 0, O_WORKERS},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    tfn__manifest_config_t cfg = {.program = program, .port = 3000};
    const char *workers[TFN__GRAPH_MAX];
    size_t nworkers = 0;
    int c;
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout, program);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "kubernetes") != 0) {
        fprintf(stderr, "%s manifests: unknown target '%s' (there is: kubernetes)\n", program,
                argv[1]);
        return EXIT_USAGE;
    }
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_IMAGE: cfg.image = optarg; break;
        case O_NAMESPACE: cfg.namespace = optarg; break;
        case O_PORT: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1 || v > 65535) {
                fprintf(stderr, "%s manifests: --port wants 1 to 65535, not '%s'\n", program,
                        optarg);
                return EXIT_USAGE;
            }
            cfg.port = (int)v;
            break;
        }
        case O_WORKERS:
            if (nworkers == TFN__GRAPH_MAX) {
                fprintf(stderr, "%s manifests: at most %d --workers\n", program, TFN__GRAPH_MAX);
                return EXIT_USAGE;
            }
            workers[nworkers++] = optarg;
            break;
        case 'h': usage(stdout, program); return 0;
        default: usage(stderr, program); return EXIT_USAGE;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "%s manifests: unexpected argument '%s'\n", program, argv[optind + 1]);
        return EXIT_USAGE;
    }
    if (!cfg.image) {
        fprintf(stderr, "%s manifests kubernetes: --image IMAGE is required\n", program);
        return EXIT_USAGE;
    }
    tfn__graph_t graph;
    tfn_error_t err;
    if (tfn__graph_build(service, &graph, &err) != 0) {
        fprintf(stderr, "%s: %s\n", program, err.message);
        return 1;
    }
    unsigned min[TFN__GRAPH_MAX], max[TFN__GRAPH_MAX];
    char why[256];
    if (tfn__workers_ranges(&graph, workers, nworkers, min, max, why, sizeof why) != 0) {
        fprintf(stderr, "%s manifests: %s\n", program, why);
        return EXIT_USAGE;
    }
    cfg.min_workers = min;
    cfg.max_workers = max;
    tfn__buf_t out;
    tfn__buf_init(&out, 16 << 20);
    int rc = tfn__manifests_kubernetes(&graph, &cfg, &out, &err);
    if (rc == 0)
        fwrite(out.data, 1, out.len, stdout);
    else
        fprintf(stderr, "%s manifests: %s\n", program, err.message);
    tfn__buf_free(&out);
    return rc == 0 ? 0 : rc == TFN_EINVAL ? EXIT_USAGE : 1;
}
