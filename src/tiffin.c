/*
 * tiffin.c — the `tiffin` program: serves a model file as a service, no C to write.
 *
 *   tiffin serve MODEL.onnx [--name NAME] [--cpu N] [--gpu N] [--cpu-fallback]
 *                [--max-elements N] [any option of `serve`: --port, --unix, --workers, ...]
 *   tiffin openapi MODEL.onnx [--name NAME]
 *   tiffin call API [--json TEXT | --file PATH] [--url URL | --unix PATH]
 *
 * The service (tfn_onnx_service) has one API, `predict`, taking the model's inputs by name and
 * answering an object of its outputs by name. Everything after the model's own options goes to
 * tfn_main, which serves it as any tiffin program: in this process, or supervised (several
 * workers, --cpu/--gpu) — the supervisor re-runs this program as `tiffin serve --service NAME
 * ...`, so the model and its options travel to the workers in TFN_ONNX_SERVE_* variables.
 *
 * Uses only the public API.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiffin.h"

#define EXIT_USAGE 2

/* The options tiffin itself reads; the rest is tfn_main's, among them --batch N and
 * --max-latency-ms M: `predict` is stackable when the model's first dims are dynamic, so the
 * generic batching flags apply to it. */
enum { OPT_NAME, OPT_CPU, OPT_GPU, OPT_FALLBACK, OPT_MAX_ELEMENTS, OPT_COUNT };
static const struct {
    const char *flag, *env;
    bool takes_value;
} model_opts[OPT_COUNT] = {
    [OPT_NAME] = {"--name", "TFN_ONNX_SERVE_NAME", true},
    [OPT_CPU] = {"--cpu", "TFN_ONNX_SERVE_CPU", true},
    [OPT_GPU] = {"--gpu", "TFN_ONNX_SERVE_GPU", true},
    [OPT_FALLBACK] = {"--cpu-fallback", "TFN_ONNX_SERVE_CPU_FALLBACK", false},
    [OPT_MAX_ELEMENTS] = {"--max-elements", "TFN_ONNX_SERVE_MAX_ELEMENTS", true},
};
#define MODEL_ENV "TFN_ONNX_SERVE_MODEL"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tiffin serve MODEL.onnx [OPTIONS]\n"
            "       tiffin openapi MODEL.onnx [--name NAME]\n"
            "       tiffin call API [--json TEXT | --file PATH] [--url URL | --unix PATH]\n"
            "       tiffin version\n"
            "\n"
            "Serves an ONNX model as a tiffin service: POST /predict takes the model's inputs by\n"
            "name (JSON nested lists, or tiffin's binary encoding) and answers an object of its\n"
            "outputs by name; GET /docs.json describes them.\n"
            "\n"
            "model options:\n"
            "  --name NAME          service name (default: the file's name without .onnx)\n"
            "  --cpu N              cores per worker, pinned; also the runtime's intra-op\n"
            "                       threads (default: 1 thread, not pinned)\n"
            "  --gpu N              GPUs per worker: run on the CUDA execution provider (needs\n"
            "                       onnxruntime-gpu's runtime in TFN_ONNXRUNTIME)\n"
            "  --cpu-fallback       with --gpu: run on the CPU when CUDA cannot be used\n"
            "  --max-elements N     largest input, in elements (default 16777216)\n"
            "\n"
            "Every option of `serve` also works: --port P, --unix PATH, --workers N, --threads N\n"
            "(handler threads per worker, default 1), --timeout MS, ... (tiffin serve MODEL\n"
            "--help lists them). Environment: TFN_ONNXRUNTIME, the path of libonnxruntime.so.1.\n");
}

static bool parse_number(const char *flag, const char *text, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= 0) || v > max) {
        fprintf(stderr, "tiffin: %s wants a number from 0 to %g, not '%s'\n", flag, max, text);
        return false;
    }
    *out = v;
    return true;
}

/* Builds the service from the model and the options in the environment. */
static const tfn_service_t *model_service(const char *path, tfn_error_t *err, int *status)
{
    tfn_onnx_service_options_t o = {0};
    double v;
    const char *s;
    *status = EXIT_USAGE;
    o.name = getenv(model_opts[OPT_NAME].env);
    if ((s = getenv(model_opts[OPT_CPU].env)) && *s) {
        if (!parse_number("--cpu", s, 1024, &v))
            return NULL;
        o.resources.cpu = v;
    }
    if ((s = getenv(model_opts[OPT_GPU].env)) && *s) {
        if (!parse_number("--gpu", s, 64, &v))
            return NULL;
        o.resources.gpu = v;
    }
    o.cpu_fallback = getenv(model_opts[OPT_FALLBACK].env) != NULL;
    if ((s = getenv(model_opts[OPT_MAX_ELEMENTS].env)) && *s) {
        if (!parse_number("--max-elements", s, 1e15, &v) || v < 1)
            return NULL;
        o.max_elements = (uint64_t)v;
    }
    *status = 1;
    return tfn_onnx_service(path, &o, err);
}

/* The options (ours and tfn_main's) that take no value. */
static bool takes_no_value(const char *arg)
{
    static const char *const flags[] = {"--quiet", "--help", "-h", "--cpu-fallback"};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if (strcmp(arg, flags[i]) == 0)
            return true;
    return false;
}

/* `tiffin call` and `tiffin version` need no model; tfn_main still wants a service. */
static int no_handler(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)in;
    (void)out;
    return tfn_ctx_fail(ctx, TFN_EHANDLER, "no model");
}
static const tfn_api_t no_apis[] = {{.name = "predict", .handler = no_handler}, {0}};
static const tfn_service_t no_model = {.name = "tiffin", .apis = no_apis};

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    bool serve = strcmp(argv[1], "serve") == 0, openapi = strcmp(argv[1], "openapi") == 0;
    if (!serve && !openapi)
        return tfn_main(argc, argv, &no_model);

    /* The model: the first argument that is neither an option nor an option's value, or (in a
     * worker the supervisor started) the environment. */
    const char *path = NULL;
    int model_at = 0;
    for (int i = 2; i < argc && !model_at; i++) {
        if (argv[i][0] != '-')
            model_at = i;
        else if (!strchr(argv[i], '=') && !takes_no_value(argv[i]))
            i++; /* skip the option's value */
    }
    if (model_at) {
        path = argv[model_at];
    } else if (getenv(MODEL_ENV)) {
        path = getenv(MODEL_ENV);
    } else {
        for (int i = 2; i < argc; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                usage(stdout);
                return 0;
            }
        fprintf(stderr, "tiffin %s: which model? tiffin %s MODEL.onnx [OPTIONS]\n", argv[1],
                argv[1]);
        return EXIT_USAGE;
    }
    char resolved[PATH_MAX];
    if (realpath(path, resolved))
        path = resolved;

    /* Take out the model options (into the environment, for the workers); pass the rest on. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest)
        return 1;
    int n = 0;
    rest[n++] = argv[0];
    rest[n++] = argv[1];
    for (int i = 2; i < argc; i++) {
        if (i == model_at)
            continue;
        int k = 0;
        const char *value = NULL;
        for (; k < OPT_COUNT; k++) {
            size_t len = strlen(model_opts[k].flag);
            if (strncmp(argv[i], model_opts[k].flag, len) != 0)
                continue;
            if (argv[i][len] == '\0') {
                if (model_opts[k].takes_value) {
                    if (i + 1 == argc) {
                        fprintf(stderr, "tiffin: %s wants a value\n", model_opts[k].flag);
                        free(rest);
                        return EXIT_USAGE;
                    }
                    value = argv[++i];
                } else {
                    value = "1";
                }
                break;
            }
            if (argv[i][len] == '=' && model_opts[k].takes_value) {
                value = argv[i] + len + 1;
                break;
            }
        }
        if (k == OPT_COUNT)
            rest[n++] = argv[i];
        else
            setenv(model_opts[k].env, value, 1);
    }
    rest[n] = NULL;
    setenv(MODEL_ENV, path, 1);

    tfn_error_t err;
    int status;
    const tfn_service_t *svc = model_service(path, &err, &status);
    if (!svc) {
        if (status == 1)
            fprintf(stderr, "tiffin: %s\n", err.message);
        free(rest);
        return status;
    }
    int rc = tfn_main(n, rest, svc);
    tfn_onnx_service_free(svc);
    free(rest);
    return rc;
}
