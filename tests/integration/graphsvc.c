/*
 * graphsvc — a service graph for the integration tests of `serve` supervising a graph:
 *
 *     Entry -> Left
 *           -> Right
 *
 * Every service answers `whoami` ({"service": NAME, "pid": PID}: which process served it) and
 * `crash` (abort(): what a crashing worker looks like to the supervisor); Entry also has `sleep`
 * (holds a request in flight, for the drain tests). No handler calls its dependencies: this
 * program tests processes, not calls.
 *
 * Environment (fault injection, for fakes only):
 *   GRAPHSVC_INIT_FAIL=NAME   the init hook of service NAME fails
 *   GRAPHSVC_INIT_MS=NAME:MS  the init hook of service NAME sleeps MS milliseconds
 */
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
    (void)state;
    const char *delay = getenv("GRAPHSVC_INIT_MS");
    size_t len = strlen(name);
    if (delay && strncmp(delay, name, len) == 0 && delay[len] == ':')
        sleep_ms(atoi(delay + len + 1));
    const char *fail = getenv("GRAPHSVC_INIT_FAIL");
    if (fail && strcmp(fail, name) == 0)
        return tfn_worker_fail(w, TFN_EINIT, "service %s was told to fail its init", name);
    return 0;
}

/* One whoami per service (a handler cannot ask which service it belongs to). */
#define WHOAMI(svc)                                                                                \
    static int whoami_##svc(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)              \
    {                                                                                              \
        tfn_arena_t *a = tfn_ctx_arena(ctx);                                                       \
        (void)in;                                                                                  \
        *out = tfn_object(a);                                                                      \
        int rc = tfn_object_set(a, *out, "service", tfn_string(a, #svc));                          \
        return rc ? rc : tfn_object_set(a, *out, "pid", tfn_int(a, getpid()));                     \
    }
WHOAMI(Entry)
WHOAMI(Left)
WHOAMI(Right)

static int crash(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    (void)in;
    (void)out;
    abort();
}

static int sleep_api(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    int64_t ms = tfn_as_int(tfn_object_get(in, "ms"));
    sleep_ms(ms);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "slept", tfn_int(a, ms));
}

static const tfn_field_t sleep_in[] = {{.name = "ms", .type = TFN_TYPE_INT}, {0}};

#define APIS(svc)                                                                                  \
    {.name = "whoami", .handler = whoami_##svc, .output = TFN_TYPE_OBJECT},                        \
    {                                                                                              \
        .name = "crash", .handler = crash, .output = TFN_TYPE_OBJECT                               \
    }

static const tfn_api_t left_apis[] = {APIS(Left), {0}};
static const tfn_api_t right_apis[] = {APIS(Right), {0}};
static const tfn_api_t entry_apis[] = {APIS(Entry),
                                       {.name = "sleep",
                                        .handler = sleep_api,
                                        .inputs = sleep_in,
                                        .output = TFN_TYPE_OBJECT,
                                        .run = TFN_RUN_IN_THREAD},
                                       {0}};

static const tfn_service_t left = {
    .name = "Left", .apis = left_apis, .init = init, .traffic = {.drain_ms = 2000}};
static const tfn_service_t right = {
    .name = "Right", .apis = right_apis, .init = init, .traffic = {.drain_ms = 2000}};
static const tfn_dependency_t entry_depends[] = {{.service = &left}, {.service = &right}, {0}};
static const tfn_service_t entry = {.name = "Entry",
                                    .apis = entry_apis,
                                    .init = init,
                                    .depends = entry_depends,
                                    .traffic = {.timeout_ms = 10000, .drain_ms = 5000}};

int main(int argc, char **argv) { return tfn_main(argc, argv, &entry); }
