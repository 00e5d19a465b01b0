/*
 * streamsvc — services for the streaming tests: Firehose streams `n` pieces of `size` bytes as
 * fast as its client takes them and counts what it has sent (`produced`); Relay, the entry,
 * relays Firehose's stream piece by piece and forwards `produced`. Back-pressure shows as a
 * producer that stops far short of `n` while nobody reads.
 */
#include <string.h>

#include <tiffin.h>

static int64_t produced, finished_with;

static int firehose(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)out;
    int64_t n = tfn_as_int(tfn_object_get(in, "n")), size = tfn_as_int(tfn_object_get(in, "size"));
    if (n < 0 || size < 1 || size > 65536)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "n >= 0, size 1..65536");
    produced = 0;
    finished_with = 0;
    char *text = tfn_arena_alloc(tfn_ctx_arena(ctx), (size_t)size);
    if (!text)
        return TFN_ENOMEM;
    memset(text, 'x', (size_t)size);
    for (int64_t i = 0; i < n; i++) {
        tfn_arena_t *scratch = tfn_arena_new(2 * (size_t)size + 1024); /* bounded per piece */
        int rc =
            scratch ? tfn_stream_send(ctx, tfn_stringn(scratch, text, (size_t)size)) : TFN_ENOMEM;
        tfn_arena_free(scratch);
        if (rc != 0) {
            finished_with = rc;
            return rc;
        }
        produced++;
    }
    finished_with = 1;
    return 0;
}

static int get_produced(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    *out = tfn_object(a);
    tfn_object_set(a, *out, "produced", tfn_int(a, produced));
    tfn_object_set(a, *out, "finished_with", tfn_int(a, finished_with));
    return 0;
}

static const tfn_field_t firehose_in[] = {
    {.name = "n", .type = TFN_TYPE_INT}, {.name = "size", .type = TFN_TYPE_INT}, {0}};
static const tfn_api_t firehose_apis[] = {
    {.name = "firehose",
     .handler = firehose,
     .inputs = firehose_in,
     .output = TFN_TYPE_STRING,
     .stream = true},
    {.name = "produced", .handler = get_produced, .output = TFN_TYPE_OBJECT},
    {0}};
static const tfn_service_t firehose_svc = {.name = "Firehose", .apis = firehose_apis};

static int relay(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)out;
    tfn_error_t err;
    tfn_value_t *piece;
    tfn_stream_t *s = tfn_call_stream(ctx, "Firehose", "firehose", in, NULL);
    int rc;
    while ((rc = tfn_stream_next(s, &piece, &err)) == 1)
        if ((rc = tfn_stream_send(ctx, piece)) != 0)
            return rc;
    return rc < 0 ? tfn_ctx_fail_with(ctx, &err) : 0;
}

static int relay_produced(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_error_t err;
    if (tfn_call(ctx, "Firehose", "produced", in, out, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);
    return 0;
}

static const tfn_api_t relay_apis[] = {
    {.name = "relay",
     .handler = relay,
     .inputs = firehose_in,
     .output = TFN_TYPE_STRING,
     .stream = true},
    {.name = "produced", .handler = relay_produced, .output = TFN_TYPE_OBJECT},
    {0}};
static const tfn_dependency_t relay_deps[] = {{.service = &firehose_svc}, {0}};
static const tfn_service_t relay_svc = {.name = "Relay", .apis = relay_apis, .depends = relay_deps};

int main(int argc, char **argv) { return tfn_main(argc, argv, &relay_svc); }
