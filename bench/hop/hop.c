/*
 * hop — the smallest composition, for measuring what one hop costs: Relay.relay forwards its
 * input to Echo.echo and returns what Echo answered.
 *
 *   POST /relay {"t": float32 tensor of any shape}   -> the same tensor, via Echo
 *   POST /relay {"n": 1}                             -> {"n": 1}, via Echo (tiny payload)
 *
 * Echo also answers directly (`serve --service Echo`), so a benchmark can time the client ->
 * Echo round trip and the client -> Relay -> Echo -> Relay -> client one in the same run; the
 * difference is the hop. bench/hop/run.sh does that.
 */
#include <tiffin.h>

static int echo(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    *out = (tfn_value_t *)in; /* the input lives in the request's arena too */
    return 0;
}

/* {"t": tensor} or {"n": anything}: undeclared fields would be refused (400). */
static const tfn_field_t any_in[] = {
    {.name = "t", .type = TFN_TYPE_ANY, .optional = true},
    {.name = "n", .type = TFN_TYPE_ANY, .optional = true},
    {0}};
static const tfn_api_t echo_open_apis[] = {
    {.name = "echo", .handler = echo, .inputs = any_in, .doc = "answers its input"}, {0}};
static const tfn_service_t echo_svc = {.name = "Echo", .apis = echo_open_apis,
                                       .traffic = {.max_concurrency = 65536,
                                                   .max_body_bytes = 64 << 20}};

static int relay(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_error_t err;
    if (tfn_call(ctx, "Echo", "echo", in, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

static const tfn_api_t relay_apis[] = {
    {.name = "relay", .handler = relay, .inputs = any_in, .doc = "Echo's answer to the input"},
    {0}};
static const tfn_dependency_t relay_deps[] = {{.service = &echo_svc}, {0}};
static const tfn_service_t relay_svc = {.name = "Relay", .apis = relay_apis,
                                        .depends = relay_deps,
                                        .traffic = {.max_concurrency = 65536,
                                                    .max_body_bytes = 64 << 20}};

int main(int argc, char **argv) { return tfn_main(argc, argv, &relay_svc); }
