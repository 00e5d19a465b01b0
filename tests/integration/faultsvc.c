/*
 * faultsvc — a graph for the resource and fault tests (test_resources.py, test_faults.py):
 *
 *     Entry -> Dep
 *
 * Dep:   whoami                  {"service", "pid", "worker", "cpus", "gpus"}: which worker
 *                                process answered, its cores (/proc/self/status) and
 *                                CUDA_VISIBLE_DEVICES
 *        sleep {"ms"}            waits on the loop (tfn_sleep), then answers {"slept": ms}
 *        alloc {"mb"}            mallocs and touches that many MiB, frees them, answers {"mb"}
 *        crash                   abort()
 * Entry: forward {"api", "input", "idempotent"?, "timeout_ms"?}
 *                                Dep.<api>(input), its errors propagated as they are
 *        whoami, nap {"ms"}      nap sleeps on a handler thread
 *
 * Environment (read before tfn_main: the definitions are filled in from it):
 *   FAULTSVC_ENTRY, FAULTSVC_DEP   "workers=2,cpu=1,gpu=0.5,memory=64" (any of them; default:
 *                                  Dep has 2 workers, nothing else is asked for)
 *   FAULTSVC_INIT_MS=NAME:MS       the init hook of service NAME sleeps MS milliseconds
 *   FAULTSVC_INIT_FAIL=NAME        the init hook of service NAME fails
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tiffin.h>

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int init(tfn_worker_t *w, void **state)
{
    const char *name = tfn_worker_service(w)->name;
    *state = (void *)(uintptr_t)(tfn_worker_index(w) + 1);
    const char *delay = getenv("FAULTSVC_INIT_MS");
    size_t len = strlen(name);
    if (delay && strncmp(delay, name, len) == 0 && delay[len] == ':')
        sleep_ms(atoi(delay + len + 1));
    const char *fail = getenv("FAULTSVC_INIT_FAIL");
    if (fail && strcmp(fail, name) == 0)
        return tfn_worker_fail(w, TFN_EINIT, "service %s was told to fail its init", name);
    return 0;
}

static int whoami(tfn_ctx_t *ctx, const char *service, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    char cpus[256] = "?", line[512];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Cpus_allowed_list:", 18) == 0)
            sscanf(line + 18, "%255s", cpus);
    if (f)
        fclose(f);
    const char *gpus = getenv("CUDA_VISIBLE_DEVICES");
    *out = tfn_object(a);
    int rc = tfn_object_set(a, *out, "service", tfn_string(a, service));
    rc = rc ? rc : tfn_object_set(a, *out, "pid", tfn_int(a, getpid()));
    rc = rc ? rc
            : tfn_object_set(a, *out, "worker",
                             tfn_int(a, (int64_t)(uintptr_t)tfn_ctx_state(ctx) - 1));
    rc = rc ? rc : tfn_object_set(a, *out, "cpus", tfn_string(a, cpus));
    return rc ? rc : tfn_object_set(a, *out, "gpus", gpus ? tfn_string(a, gpus) : tfn_null(a));
}

static int dep_whoami(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    return whoami(ctx, "Dep", out);
}

static int entry_whoami(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    return whoami(ctx, "Entry", out);
}

static int dep_sleep(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t ms = tfn_as_int(tfn_object_get(in, "ms"));
    int rc = tfn_sleep(ctx, (uint32_t)ms);
    if (rc != 0)
        return tfn_ctx_fail(ctx, rc, "woken after less than %lld ms", (long long)ms);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "slept", tfn_int(a, ms));
}

static int dep_alloc(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t mb = tfn_as_int(tfn_object_get(in, "mb"));
    size_t size = (size_t)mb << 20;
    volatile char *p = malloc(size);
    if (!p)
        return tfn_ctx_fail(ctx, TFN_ENOMEM, "cannot allocate %lld MiB", (long long)mb);
    for (size_t i = 0; i < size; i += 4096) /* touch every page: resident, not just reserved */
        p[i] = (char)i;
    free((void *)p);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "mb", tfn_int(a, mb));
}

static int dep_crash(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx, (void)in, (void)out;
    abort();
}

static int entry_forward(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *t = tfn_object_get(in, "timeout_ms"), *i = tfn_object_get(in, "idempotent");
    tfn_call_options_t opts = {.timeout_ms = t ? (uint32_t)tfn_as_int(t) : 0,
                               .idempotent = i && tfn_as_bool(i)};
    tfn_future_t *f = tfn_call_async(ctx, "Dep", tfn_as_string(tfn_object_get(in, "api"), NULL),
                                     tfn_object_get(in, "input"), &opts);
    tfn_error_t err;
    if (tfn_await(f, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

static int entry_nap(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t ms = tfn_as_int(tfn_object_get(in, "ms"));
    sleep_ms(ms);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "napped", tfn_int(a, ms));
}

static const tfn_field_t ms_in[] = {{.name = "ms", .type = TFN_TYPE_INT}, {0}};
static const tfn_field_t mb_in[] = {{.name = "mb", .type = TFN_TYPE_INT}, {0}};
static const tfn_field_t forward_in[] = {
    {.name = "api", .type = TFN_TYPE_STRING},
    {.name = "input", .type = TFN_TYPE_OBJECT},
    {.name = "timeout_ms", .type = TFN_TYPE_INT, .optional = true},
    {.name = "idempotent", .type = TFN_TYPE_BOOL, .optional = true},
    {0}};

static const tfn_api_t dep_apis[] = {{.name = "whoami", .handler = dep_whoami},
                                     {.name = "sleep", .handler = dep_sleep, .inputs = ms_in},
                                     {.name = "alloc", .handler = dep_alloc, .inputs = mb_in},
                                     {.name = "crash", .handler = dep_crash},
                                     {0}};
static const tfn_api_t entry_apis[] = {
    {.name = "forward", .handler = entry_forward, .inputs = forward_in},
    {.name = "whoami", .handler = entry_whoami},
    {.name = "nap", .handler = entry_nap, .inputs = ms_in, .run = TFN_RUN_IN_THREAD},
    {0}};

static tfn_service_t dep = {.name = "Dep",
                            .apis = dep_apis,
                            .init = init,
                            .workers = 2,
                            .traffic = {.timeout_ms = 10000, .drain_ms = 3000}};
static const tfn_dependency_t entry_depends[] = {{.service = &dep}, {0}};
static tfn_service_t entry = {.name = "Entry",
                              .apis = entry_apis,
                              .init = init,
                              .depends = entry_depends,
                              .traffic = {.timeout_ms = 10000, .drain_ms = 3000}};

/* Fills in workers and resources from "workers=2,cpu=1,gpu=0.5,memory=64". */
static void configure(tfn_service_t *svc, const char *env)
{
    const char *text = getenv(env);
    if (!text)
        return;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    for (char *save, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq)
            continue;
        *eq = '\0';
        double v = atof(eq + 1);
        if (!strcmp(item, "workers"))
            svc->workers = (unsigned)v;
        else if (!strcmp(item, "cpu"))
            svc->resources.cpu = v;
        else if (!strcmp(item, "gpu"))
            svc->resources.gpu = v;
        else if (!strcmp(item, "memory"))
            svc->resources.memory_mb = (uint64_t)v;
    }
}

int main(int argc, char **argv)
{
    configure(&dep, "FAULTSVC_DEP");
    configure(&entry, "FAULTSVC_ENTRY");
    return tfn_main(argc, argv, &entry);
}
