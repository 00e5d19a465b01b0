/*
 * cancelsvc — a graph for the cancellation tests (test_cancel.py): Front calls Work.
 *
 *   Work.spin {"ms"}   on the one handler thread (a second call waits for it in the thread pool's
 *                      queue): works in 5 ms steps for `ms`,
 *                      asking tfn_ctx_cancelled between steps; counts how each run ended
 *   Work.stats         {"started", "finished", "stopped_early", "running"}
 *   Work.nap {"ms"}    on the loop: tfn_sleep(ms); counts how each sleep ended
 *   Work.napstats      {"napping", "slept", "timeout", "cancelled"}
 *   Front.relay {"ms"} on the loop: awaits Work.spin
 *   Front.relay_nap    the same for Work.nap
 *   Front.stats        Work.stats, relayed (Front.napstats: Work.napstats)
 */
#include <stdatomic.h>
#include <time.h>

#include <tiffin.h>

static atomic_int started, finished, stopped_early, running;
static int napping, slept, nap_timeout, nap_cancelled; /* loop only */

static int work_spin(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t ms = tfn_as_int(tfn_object_get(in, "ms"));
    atomic_fetch_add(&started, 1);
    atomic_fetch_add(&running, 1);
    for (int64_t done = 0; done < ms; done += 5) {
        if (tfn_ctx_cancelled(ctx)) {
            atomic_fetch_add(&stopped_early, 1);
            atomic_fetch_sub(&running, 1);
            return tfn_ctx_fail(ctx, TFN_ECANCELED, "stopped after %lld ms", (long long)done);
        }
        nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL); /* a step of "work" */
    }
    atomic_fetch_add(&finished, 1);
    atomic_fetch_sub(&running, 1);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "ms", tfn_int(a, ms));
}

static int work_stats(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    tfn_object_set(a, *out, "started", tfn_int(a, atomic_load(&started)));
    tfn_object_set(a, *out, "finished", tfn_int(a, atomic_load(&finished)));
    tfn_object_set(a, *out, "stopped_early", tfn_int(a, atomic_load(&stopped_early)));
    return tfn_object_set(a, *out, "running", tfn_int(a, atomic_load(&running)));
}

static int work_nap(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t ms = tfn_as_int(tfn_object_get(in, "ms"));
    napping++;
    int rc = tfn_sleep(ctx, (uint32_t)ms);
    napping--;
    slept += rc == 0;
    nap_timeout += rc == TFN_ETIMEOUT;
    nap_cancelled += rc == TFN_ECANCELED;
    if (rc != 0)
        return tfn_ctx_fail(ctx, rc, "woken early: %s", tfn_strerror(rc));
    *out = (tfn_value_t *)in;
    return 0;
}

static int work_napstats(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    tfn_object_set(a, *out, "napping", tfn_int(a, napping));
    tfn_object_set(a, *out, "slept", tfn_int(a, slept));
    tfn_object_set(a, *out, "timeout", tfn_int(a, nap_timeout));
    return tfn_object_set(a, *out, "cancelled", tfn_int(a, nap_cancelled));
}

static const tfn_field_t ms_in[] = {{.name = "ms", .type = TFN_TYPE_INT}, {0}};
static const tfn_api_t work_apis[] = {
    {.name = "spin", .handler = work_spin, .inputs = ms_in, .run = TFN_RUN_IN_THREAD},
    {.name = "stats", .handler = work_stats},
    {.name = "nap", .handler = work_nap, .inputs = ms_in},
    {.name = "napstats", .handler = work_napstats},
    {0}};
static const tfn_service_t work = {.name = "Work",
                                   .apis = work_apis,
                                   .threads = 1,
                                   .traffic = {.timeout_ms = 20000, .drain_ms = 5000}};


/* Answers what Work.<api> answers (the API's name is this one's). */
static int front_pass(tfn_ctx_t *ctx, const char *api, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_error_t err;
    if (tfn_call(ctx, "Work", api, in, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

static int front_relay(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    return front_pass(ctx, "spin", in, out);
}

static int front_stats(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    return front_pass(ctx, "stats", in, out);
}

static int front_relay_nap(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    return front_pass(ctx, "nap", in, out);
}

static int front_napstats(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    return front_pass(ctx, "napstats", in, out);
}

static const tfn_api_t front_apis[] = {
    {.name = "relay", .handler = front_relay, .inputs = ms_in},
    {.name = "relay_nap", .handler = front_relay_nap, .inputs = ms_in},
    {.name = "stats", .handler = front_stats},
    {.name = "napstats", .handler = front_napstats},
    {0}};
static const tfn_dependency_t front_deps[] = {{.service = &work}, {0}};
static const tfn_service_t front = {.name = "Front",
                                    .apis = front_apis,
                                    .depends = front_deps,
                                    .traffic = {.timeout_ms = 20000, .drain_ms = 5000}};

int main(int argc, char **argv) { return tfn_main(argc, argv, &front); }
