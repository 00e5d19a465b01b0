/*
 * hop_tensor — bench/hop/hop.c with its input typed: Relay.relay and Echo.echo take
 * {"t": float32 tensor of any rank}. A JSON nested list sent from outside is converted to a
 * float32 tensor once, at the edge, and the hop carries it in tiffin's binary encoding (raw
 * little-endian buffer, 1 MiB for 262144 floats).
 *
 * Why a copy: bench/hop declares `t` as TFN_TYPE_ANY, so a JSON nested list stays a list of
 * 262144 float values and travels between the services as such (9 bytes and one value node per
 * element), which is not the tensor hop this benchmark compares with BentoML's numpy hop.
 * run.sh measures both and says which is which.
 */
#include <tiffin.h>

static int echo(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    *out = (tfn_value_t *)in; /* the input lives in the request's arena too */
    return 0;
}

static const tfn_field_t tensor_in[] = {
    {.name = "t", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 0}, {0}};
static const tfn_api_t echo_apis[] = {
    {.name = "echo", .handler = echo, .inputs = tensor_in, .output = TFN_TYPE_OBJECT}, {0}};
static const tfn_service_t echo_svc = {
    .name = "Echo",
    .apis = echo_apis,
    .traffic = {.max_concurrency = 65536, .max_body_bytes = 64 << 20}};

static int relay(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_error_t err;
    if (tfn_call(ctx, "Echo", "echo", in, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

static const tfn_api_t relay_apis[] = {
    {.name = "relay", .handler = relay, .inputs = tensor_in, .output = TFN_TYPE_OBJECT}, {0}};
static const tfn_dependency_t relay_deps[] = {{.service = &echo_svc}, {0}};
static const tfn_service_t relay_svc = {
    .name = "Relay",
    .apis = relay_apis,
    .depends = relay_deps,
    .traffic = {.max_concurrency = 65536, .max_body_bytes = 64 << 20}};

int main(int argc, char **argv) { return tfn_main(argc, argv, &relay_svc); }
