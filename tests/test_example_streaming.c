/*
 * test_example_streaming.c — examples/streaming in a test graph: Detokenizer relays Generator's
 * stream of token ids as text, a failure mid-stream ends the stream with the generator's error,
 * a failure before the first piece is an ordinary error, and a streaming API read as a whole
 * piece by a non-streaming reader works too.
 */
#define main streaming_main
#include "../examples/streaming/streaming.c"
#undef main

#include "check.h"

static tfn_arena_t *arena;

static tfn_value_t *prompt(const char *text, int64_t max_tokens, int64_t fail_at)
{
    tfn_value_t *in = tfn_object(arena);
    tfn_object_set(arena, in, "prompt", tfn_string(arena, text));
    tfn_object_set(arena, in, "max_tokens", tfn_int(arena, max_tokens));
    tfn_object_set(arena, in, "delay_ms", tfn_int(arena, 1));
    if (fail_at >= 0)
        tfn_object_set(arena, in, "fail_at", tfn_int(arena, fail_at));
    return in;
}

static void test_relays_every_piece_in_order(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&detokenizer, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "generate", prompt("the cat", 5, -1), arena, &out, &err), 0);
    CHECK_EQ_INT(tfn_typeof(out), TFN_TYPE_LIST);
    CHECK_EQ_INT((int)tfn_len(out), 5);
    /* "cat" is id 2: the table continues 2 -> 3 -> 10 -> 14 -> 12 -> ... */
    CHECK_EQ_STR(tfn_as_string(tfn_list_get(out, 0), NULL), "sat");
    CHECK_EQ_STR(tfn_as_string(tfn_list_get(out, 1), NULL), " a");
    CHECK_EQ_INT(tfn_test_call(t, "generate", prompt("the cat", 0, -1), arena, &out, &err), 0);
    CHECK_EQ_INT((int)tfn_len(out), 0);
    tfn_test_free(t);
}

static void test_error_mid_stream_names_the_generator(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&detokenizer, &err);
    tfn_value_t *out;
    CHECK_EQ_INT(tfn_test_call(t, "generate", prompt("the dog", 10, 3), arena, &out, &err),
                 TFN_EHANDLER);
    CHECK_EQ_STR(err.service, "Generator");
    CHECK_EQ_STR(err.message, "the generator failed at token 3");
    /* before the first piece: an ordinary error answer, with its status */
    CHECK_EQ_INT(tfn_test_call(t, "generate", prompt("the dog", 10, 0), arena, &out, &err),
                 TFN_EHANDLER);
    CHECK_EQ_STR(err.service, "Generator");
    CHECK_EQ_INT(err.http_status, 500);
    tfn_test_free(t);
}

/* A reader that takes the Tokenizer (not a stream) as a one-piece stream, and stops early. */
static int read_two(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    tfn_error_t err;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_value_t *piece, *list = tfn_list(a);
    tfn_stream_t *s = tfn_call_stream(ctx, "Tokenizer", "encode", in, NULL);
    if (tfn_stream_next(s, &piece, &err) != 1)
        return tfn_ctx_fail_with(ctx, &err);
    tfn_list_append(a, list, tfn_int(a, (int64_t)tfn_len(piece)));
    if (tfn_stream_next(s, &piece, &err) != 0)
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "a unary answer is one piece");
    tfn_value_t *gen = tfn_object(a);
    tfn_object_set(a, gen, "tokens", tfn_list(a));
    tfn_object_set(a, gen, "max_tokens", tfn_int(a, 1000));
    tfn_object_set(a, gen, "delay_ms", tfn_int(a, 0));
    s = tfn_call_stream(ctx, "Generator", "generate", gen, NULL);
    for (int i = 0; i < 2; i++) {
        if (tfn_stream_next(s, &piece, &err) != 1)
            return tfn_ctx_fail_with(ctx, &err);
        tfn_list_append(a, list, tfn_int(a, tfn_as_int(piece)));
    }
    tfn_stream_close(s); /* the generator sees its client gone */
    if (tfn_stream_next(s, &piece, &err) != TFN_EINVAL)
        return tfn_ctx_fail(ctx, TFN_EHANDLER, "a closed stream gives EINVAL");
    *out = list;
    return 0;
}

static const tfn_api_t reader_apis[] = {
    {.name = "read", .handler = read_two, .inputs = encode_in, .output = TFN_TYPE_LIST}, {0}};
static const tfn_service_t reader = {
    .name = "Reader", .apis = reader_apis, .depends = detokenizer_deps};

static void test_unary_answer_is_one_piece_and_close_stops_early(void)
{
    tfn_error_t err;
    tfn_test_t *t = tfn_test_new(&reader, &err);
    tfn_value_t *in = tfn_object(arena), *out;
    tfn_object_set(arena, in, "prompt", tfn_string(arena, "a cat sat"));
    CHECK_EQ_INT(tfn_test_call(t, "read", in, arena, &out, &err), 0);
    CHECK_EQ_INT((int)tfn_len(out), 3);
    CHECK_EQ_INT((int)tfn_as_int(tfn_list_get(out, 0)), 3);
    CHECK_EQ_INT((int)tfn_as_int(tfn_list_get(out, 1)), 11); /* 1 -> 1 + (1*7+3) % 15 */
    tfn_test_free(t);
}

int main(void)
{
    arena = tfn_arena_new(16 << 20);
    RUN(test_relays_every_piece_in_order);
    RUN(test_error_mid_stream_names_the_generator);
    RUN(test_unary_answer_is_one_piece_and_close_stops_early);
    tfn_arena_free(arena);
    return check_summary("test_example_streaming");
}
