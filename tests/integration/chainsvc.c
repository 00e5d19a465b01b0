/*
 * chainsvc — a chain of three services for the trace tests (tests/integration/test_observe.py):
 * Front.run calls Middle.relay, which calls Back.work; Back sleeps for the `ms` it is given, so
 * that every span has a duration worth comparing. Front also calls Back.work itself once, after
 * Middle, so that the entry has two calls to add up.
 */
#include <tiffin.h>

static int work(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int64_t ms = tfn_as_int(tfn_object_get(in, "ms"));
    int rc = ms > 0 ? tfn_sleep(ctx, (uint32_t)ms) : 0;
    if (rc != 0)
        return tfn_ctx_fail(ctx, rc, "woken after less than %lld ms", (long long)ms);
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    return tfn_object_set(a, *out, "done", tfn_int(a, ms));
}

/* Calls `dep`.`api` with the same input and answers what it answered. */
static int pass_on(tfn_ctx_t *ctx, const char *dep, const char *api, const tfn_value_t *in,
                   tfn_value_t **out)
{
    tfn_error_t err;
    if (tfn_call(ctx, dep, api, in, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

static int relay(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    return pass_on(ctx, "Back", "work", in, out);
}

static int run(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    int rc = pass_on(ctx, "Middle", "relay", in, out);
    return rc ? rc : pass_on(ctx, "Back", "work", in, out);
}

static const tfn_field_t ms_in[] = {{.name = "ms", .type = TFN_TYPE_INT}, {0}};

static const tfn_api_t back_apis[] = {
    {.name = "work", .handler = work, .inputs = ms_in, .output = TFN_TYPE_OBJECT}, {0}};
static const tfn_service_t back = {.name = "Back", .apis = back_apis};

static const tfn_api_t middle_apis[] = {
    {.name = "relay", .handler = relay, .inputs = ms_in, .output = TFN_TYPE_OBJECT}, {0}};
static const tfn_dependency_t middle_depends[] = {{.service = &back}, {0}};
static const tfn_service_t middle = {
    .name = "Middle", .apis = middle_apis, .depends = middle_depends};

static const tfn_api_t front_apis[] = {
    {.name = "run", .handler = run, .inputs = ms_in, .output = TFN_TYPE_OBJECT}, {0}};
static const tfn_dependency_t front_depends[] = {{.service = &middle}, {.service = &back}, {0}};
static const tfn_service_t front = {.name = "Front", .apis = front_apis, .depends = front_depends};

int main(int argc, char **argv) { return tfn_main(argc, argv, &front); }
