/*
 * tasksvc — a service for the background-task tests (test_tasks.py). Tasks:
 *   work   {"x": int, "sleep_ms": int?, "fail": bool?} -> {"y": 2x, "pid": worker pid}; runs in a
 *          thread, sleeping first; "fail" makes it fail (500) after the sleep
 *   brief  {} -> {"ok": true}, its result kept for 1 s only
 * One handler at a time (max_concurrency 1), so tasks queue. TASKSVC_WORKERS=N: N workers
 * (several: `serve` supervises them).
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <tiffin.h>

static int work(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    const tfn_value_t *sleep_ms = tfn_object_get(in, "sleep_ms");
    int64_t ms = sleep_ms ? tfn_as_int(sleep_ms) : 0;
    if (ms < 0 || ms > 60000)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "sleep_ms must be 0..60000");
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    const tfn_value_t *fail = tfn_object_get(in, "fail");
    if (fail && tfn_as_bool(fail))
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "asked to fail");
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    if (!*out ||
        tfn_object_set(a, *out, "y", tfn_int(a, 2 * tfn_as_int(tfn_object_get(in, "x")))) ||
        tfn_object_set(a, *out, "pid", tfn_int(a, getpid())))
        return TFN_ENOMEM;
    return 0;
}

static int brief(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return *out && !tfn_object_set(a, *out, "ok", tfn_bool(a, true)) ? 0 : TFN_ENOMEM;
}

static const tfn_field_t work_in[] = {{.name = "x", .type = TFN_TYPE_INT},
                                      {.name = "sleep_ms", .type = TFN_TYPE_INT, .optional = true},
                                      {.name = "fail", .type = TFN_TYPE_BOOL, .optional = true},
                                      {0}};

static const tfn_api_t apis[] = {{.name = "work",
                                  .handler = work,
                                  .inputs = work_in,
                                  .output = TFN_TYPE_OBJECT,
                                  .run = TFN_RUN_IN_THREAD,
                                  .task = {.enabled = true}},
                                 {.name = "brief",
                                  .handler = brief,
                                  .output = TFN_TYPE_OBJECT,
                                  .task = {.enabled = true, .keep_s = 1}},
                                 {0}};

static tfn_service_t tasks = {
    .name = "Tasks", .apis = apis, .traffic = {.max_concurrency = 1, .timeout_ms = 30000}};

int main(int argc, char **argv)
{
    const char *workers = getenv("TASKSVC_WORKERS");
    if (workers)
        tasks.workers = (unsigned)atoi(workers);
    return tfn_main(argc, argv, &tasks);
}
