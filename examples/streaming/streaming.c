/*
 * streaming — an LLM-shaped pipeline whose answer streams: Tokenizer -> Generator -> Detokenizer.
 *
 * Detokenizer (the entry) asks Tokenizer for the prompt's token ids, then reads Generator's
 * stream of token ids as it is produced (tfn_call_stream + tfn_stream_next) and streams each one
 * to its client as text (tfn_stream_send) the moment it arrives. The "model" is a fixed
 * next-token table over a tiny vocabulary, with `delay_ms` per token to stand in for a decoder
 * step: the point is the relay, not the model.
 *
 *   ./streaming serve --port 3000
 *   curl -N localhost:3000/generate -H 'Content-Type: application/json' \
 *        -d '{"prompt": "the cat", "max_tokens": 8}'                 # text as it comes
 *   curl -N localhost:3000/generate -H 'Accept: text/event-stream' \
 *        -H 'Content-Type: application/json' -d '{"prompt": "the cat"}'   # server-sent events
 */
#include <stdio.h>
#include <string.h>

#include <tiffin.h>

static const char *const vocab[] = {"<unk>", "the", "cat", "sat",  "on",  "mat",  "and",  "dog",
                                    "ran",   "to",  "a",   "park", "saw", "bird", "flew", "away"};
#define VOCAB ((int64_t)(sizeof vocab / sizeof *vocab))

/* ---- Tokenizer.encode: {"prompt": string} -> [int token ids] --------------------------------- */

static int encode(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    size_t len;
    const char *p = tfn_as_string(tfn_object_get(in, "prompt"), &len), *end = p + len;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    if (!(*out = tfn_list(a)))
        return TFN_ENOMEM;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        const char *w = p;
        while (p < end && *p != ' ')
            p++;
        if (p == w)
            break;
        int64_t id = 0;
        for (int64_t i = 1; i < VOCAB; i++)
            if (strlen(vocab[i]) == (size_t)(p - w) && memcmp(vocab[i], w, (size_t)(p - w)) == 0)
                id = i;
        if (tfn_list_append(a, *out, tfn_int(a, id)) != 0)
            return TFN_ENOMEM;
    }
    return 0;
}

static const tfn_field_t encode_in[] = {{.name = "prompt", .type = TFN_TYPE_STRING}, {0}};
static const tfn_api_t tokenizer_apis[] = {
    {.name = "encode", .handler = encode, .inputs = encode_in, .output = TFN_TYPE_LIST}, {0}};
static const tfn_service_t tokenizer = {.name = "Tokenizer", .apis = tokenizer_apis};

/* ---- Generator.generate: {"tokens", "max_tokens", "delay_ms", "fail_at"} -> stream of ids ---- */

static int64_t opt_int(const tfn_value_t *in, const char *name, int64_t dflt)
{
    const tfn_value_t *v = tfn_object_get(in, name);
    return v ? tfn_as_int(v) : dflt;
}

static int generate_tokens(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)out;
    const tfn_value_t *prompt = tfn_object_get(in, "tokens");
    int64_t n = opt_int(in, "max_tokens", 16), delay = opt_int(in, "delay_ms", 20);
    int64_t fail_at = opt_int(in, "fail_at", -1);
    if (n < 0 || n > 100000 || delay < 0 || delay > 10000)
        return tfn_ctx_fail(ctx, TFN_EINVAL, "max_tokens must be 0..100000, delay_ms 0..10000");
    size_t np = tfn_len(prompt);
    int64_t last = np ? tfn_as_int(tfn_list_get(prompt, np - 1)) : 1;
    for (int64_t i = 0; i < n; i++) {
        if (i == fail_at)
            return tfn_ctx_fail(ctx, TFN_EHANDLER, "the generator failed at token %lld",
                                (long long)i);
        int rc = delay ? tfn_sleep(ctx, (uint32_t)delay) : 0;
        if (rc != 0) /* the deadline came, or the client went away */
            return tfn_ctx_fail(ctx, rc, "stopped after %lld tokens: %s", (long long)i,
                                tfn_strerror(rc));
        last = 1 + (last * 7 + 3) % (VOCAB - 1); /* the "model": a fixed next-token table */
        rc = tfn_stream_send(ctx, tfn_int(tfn_ctx_arena(ctx), last));
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const tfn_field_t generate_tokens_in[] = {
    {.name = "tokens", .type = TFN_TYPE_LIST},
    {.name = "max_tokens", .type = TFN_TYPE_INT, .optional = true},
    {.name = "delay_ms", .type = TFN_TYPE_INT, .optional = true},
    {.name = "fail_at", .type = TFN_TYPE_INT, .optional = true},
    {0}};
static const tfn_api_t generator_apis[] = {{.name = "generate",
                                            .handler = generate_tokens,
                                            .inputs = generate_tokens_in,
                                            .output = TFN_TYPE_INT,
                                            .stream = true,
                                            .doc = "streams token ids"},
                                           {0}};
static const tfn_service_t generator = {.name = "Generator", .apis = generator_apis};

/* ---- Detokenizer.generate (entry): {"prompt", ...} -> stream of text ------------------------- */

static int generate(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)out;
    tfn_arena_t *a = tfn_ctx_arena(ctx);
    tfn_error_t err;
    tfn_value_t *tokens;
    tfn_value_t *prompt = tfn_object(a);
    if (!prompt || tfn_object_set(a, prompt, "prompt", tfn_object_get(in, "prompt")) != 0)
        return TFN_ENOMEM;
    if (tfn_call(ctx, "Tokenizer", "encode", prompt, &tokens, &err) != 0)
        return tfn_ctx_fail_with(ctx, &err);

    tfn_value_t *req = tfn_object(a);
    if (!req || tfn_object_set(a, req, "tokens", tokens) != 0)
        return TFN_ENOMEM;
    static const char *const pass[] = {"max_tokens", "delay_ms", "fail_at"};
    for (size_t i = 0; i < sizeof pass / sizeof *pass; i++)
        if (tfn_object_get(in, pass[i]) &&
            tfn_object_set(a, req, pass[i], tfn_object_get(in, pass[i])) != 0)
            return TFN_ENOMEM;

    tfn_stream_t *s = tfn_call_stream(ctx, "Generator", "generate", req, NULL);
    tfn_value_t *piece;
    int rc, i = 0;
    while ((rc = tfn_stream_next(s, &piece, &err)) == 1) {
        int64_t id = tfn_as_int(piece);
        const char *word = id > 0 && id < VOCAB ? vocab[id] : vocab[0];
        char text[32];
        size_t len = (size_t)snprintf(text, sizeof text, "%s%s", i++ ? " " : "", word);
        if ((rc = tfn_stream_send(ctx, tfn_stringn(a, text, len))) != 0)
            return rc; /* our client went away: returning closes Generator's stream too */
    }
    return rc < 0 ? tfn_ctx_fail_with(ctx, &err) : 0;
}

static const tfn_field_t generate_in[] = {
    {.name = "prompt", .type = TFN_TYPE_STRING},
    {.name = "max_tokens", .type = TFN_TYPE_INT, .optional = true},
    {.name = "delay_ms", .type = TFN_TYPE_INT, .optional = true},
    {.name = "fail_at", .type = TFN_TYPE_INT, .optional = true},
    {0}};
static const tfn_api_t detokenizer_apis[] = {{.name = "generate",
                                              .handler = generate,
                                              .inputs = generate_in,
                                              .output = TFN_TYPE_STRING,
                                              .stream = true,
                                              .doc = "streams the generated text"},
                                             {0}};
static const tfn_dependency_t detokenizer_deps[] = {
    {.service = &tokenizer}, {.service = &generator}, {0}};
static const tfn_service_t detokenizer = {
    .name = "Detokenizer", .apis = detokenizer_apis, .depends = detokenizer_deps};

int main(int argc, char **argv) { return tfn_main(argc, argv, &detokenizer); }
