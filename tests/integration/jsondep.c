/*
 * jsondep — a service whose dependency is not a tiffin program: Ext is any HTTP service that
 * takes and answers JSON (a BentoML service, say), declared with `.json = true`. The tests run a
 * small JSON server of their own as Ext and pass its address with --depends Ext=URL.
 *
 *   Caller.scale {"x": float32 tensor, "k": float}  -> Ext.scale's answer
 *   Caller.fail                                      -> Ext.fail's error, propagated
 */
#include <tiffin.h>

static int forward(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_error_t err;
    if (tfn_call(ctx, "Ext", tfn_ctx_api(ctx), in, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

static const tfn_field_t scale_in[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32},
    {.name = "k", .type = TFN_TYPE_FLOAT},
    {0}};
static const tfn_api_t apis[] = {{.name = "scale", .handler = forward, .inputs = scale_in},
                                 {.name = "fail", .handler = forward},
                                 {0}};
/* Nothing listens at this default address: the tests always pass --depends Ext=URL. */
static const tfn_dependency_t deps[] = {{.name = "Ext", .url = "http://127.0.0.1:9", .json = true},
                                        {0}};
static const tfn_service_t caller = {
    .name = "Caller", .apis = apis, .depends = deps, .traffic = {.timeout_ms = 3000}};

int main(int argc, char **argv) { return tfn_main(argc, argv, &caller); }
