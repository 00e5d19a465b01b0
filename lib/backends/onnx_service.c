/*
 * onnx_service.c — a service made from a model file (tfn_onnx_service): the `predict` API whose
 * fields are the model's inputs, an init hook that loads the model in each worker, and the
 * handler. Uses only the public API: the service finds its model path through the worker's
 * service pointer, which points at the first member of the struct below.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/onnx_internal.h"

typedef struct onnx_service {
    tfn_service_t service; /* first: tfn_worker_service() gives back a pointer to it */
    tfn_api_t apis[2];
    tfn_field_t *inputs; /* copies of the model's fields, names and docs owned */
    size_t ninputs;
    char *path, *name, *doc, *api_doc;
    tfn_onnx_options_t load;
} onnx_service_t;

static int init(tfn_worker_t *worker, void **state)
{
    const onnx_service_t *s = (const onnx_service_t *)tfn_worker_service(worker);
    tfn_onnx_model_t *model;
    int rc = tfn_onnx_load_worker(worker, s->path, &s->load, &model);
    if (rc == 0)
        *state = model;
    return rc;
}

static void shutdown_model(tfn_worker_t *worker, void *state)
{
    (void)worker;
    tfn_onnx_free(state);
}

static int predict(tfn_ctx_t *ctx, const tfn_value_t *input, tfn_value_t **output)
{
    return tfn_onnx_run_ctx(ctx, tfn_ctx_state(ctx), input, output);
}

/* "minilm-int8" from "models/minilm-int8.onnx". */
static char *name_from_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".onnx") == 0)
        len -= 5;
    char *name = strndup(base, len ? len : 1);
    for (size_t i = 0; name && name[i]; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
            name[i] = '_';
    return name;
}

/* "Inputs: input_ids int64 [batch, sequence], ... Outputs: ...". */
static char *describe_model(const tfn_onnx_model_t *m)
{
    size_t size = 4096, len = 0;
    char *doc = malloc(size);
    if (!doc)
        return NULL;
    const tfn_field_t *lists[2] = {tfn_onnx_inputs(m), tfn_onnx_outputs(m)};
    for (int l = 0; l < 2; l++) {
        len += (size_t)snprintf(doc + len, size - len, "%s", l ? ". Outputs: " : "Inputs: ");
        for (const tfn_field_t *f = lists[l]; f->name && len < size; f++)
            len += (size_t)snprintf(doc + len, size - len, "%s%s %s", f == lists[l] ? "" : ", ",
                                    f->name, f->doc ? f->doc : "");
        if (len >= size)
            break;
    }
    if (len < size)
        snprintf(doc + len, size - len, ".");
    return doc;
}

void tfn_onnx_service_free(const tfn_service_t *service)
{
    onnx_service_t *s = (onnx_service_t *)service;
    if (!s)
        return;
    for (size_t i = 0; i < s->ninputs; i++) {
        free((char *)s->inputs[i].name);
        free((char *)s->inputs[i].doc);
    }
    free(s->inputs);
    free(s->path);
    free(s->name);
    free(s->doc);
    free(s->api_doc);
    free(s);
}

/* Can requests be stacked along dim 0: does every field have a dynamic first dim? */
static bool first_dims_dynamic(const tfn_field_t *fields)
{
    for (const tfn_field_t *f = fields; f->name; f++)
        if (f->ndim < 1 || f->shape[0] != -1)
            return false;
    return true;
}

const tfn_service_t *tfn_onnx_service(const char *path, const tfn_onnx_service_options_t *options,
                                      tfn_error_t *err)
{
    static const tfn_onnx_service_options_t defaults = {0};
    const tfn_onnx_service_options_t *o = options ? options : &defaults;
    if (!path) {
        tfn_error_set(err, TFN_EINVAL, "tfn_onnx_service: no model path");
        return NULL;
    }
    if (o->name) {
        bool ok = o->name[0] != '\0';
        for (const char *c = o->name; *c; c++)
            ok &= isalnum((unsigned char)*c) || *c == '_' || *c == '-';
        if (!ok) {
            tfn_error_set(err, TFN_EINVAL,
                          "service name '%.64s': use letters, digits, '_' and '-' only", o->name);
            return NULL;
        }
    }
    /* Read the signature: a session on one thread, on the CPU, freed at once. */
    tfn_onnx_model_t *m;
    tfn_onnx_options_t probe = {.max_elements = o->max_elements};
    if (tfn_onnx_load(path, &probe, &m, err) != 0)
        return NULL;
    onnx_service_t *s = calloc(1, sizeof *s);
    size_t n = 0;
    while (tfn_onnx_inputs(m)[n].name)
        n++;
    if (!s || !(s->inputs = calloc(n + 1, sizeof *s->inputs)))
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        s->inputs[i] = tfn_onnx_inputs(m)[i];
        s->inputs[i].name = strdup(s->inputs[i].name);
        s->inputs[i].doc = strdup(s->inputs[i].doc ? s->inputs[i].doc : "");
        s->ninputs = i + 1;
        if (!s->inputs[i].name || !s->inputs[i].doc)
            goto nomem;
    }
    s->path = strdup(path);
    s->name = o->name ? strdup(o->name) : name_from_path(path);
    s->api_doc = describe_model(m);
    s->doc = o->doc ? strdup(o->doc) : NULL;
    if (!s->path || !s->name || !s->api_doc || (o->doc && !s->doc))
        goto nomem;
    bool stackable =
        first_dims_dynamic(tfn_onnx_inputs(m)) && first_dims_dynamic(tfn_onnx_outputs(m));
    tfn_onnx_free(m);
    m = NULL;
    if (o->batch.max_size && !stackable) {
        tfn_onnx_service_free(&s->service);
        tfn_error_set(err, TFN_EINVAL,
                      "model '%s' cannot be batched: not every input and output has a dynamic "
                      "first dimension",
                      path);
        return NULL;
    }

    s->load =
        (tfn_onnx_options_t){.cpu_fallback = o->cpu_fallback, .max_elements = o->max_elements};
    s->apis[0] = (tfn_api_t){
        .name = "predict",
        .handler = predict,
        .inputs = s->inputs,
        .output = TFN_TYPE_OBJECT,
        .run = TFN_RUN_IN_THREAD,
        .doc = s->api_doc,
        .batch = o->batch,
    };
    s->apis[0].batch.stackable = stackable;
    s->service = (tfn_service_t){
        .name = s->name,
        .doc = s->doc ? s->doc : s->api_doc,
        .apis = s->apis,
        .resources = o->resources,
        .workers = o->workers,
        .threads = o->threads ? o->threads : 1,
        .traffic = o->traffic,
        .init = init,
        .shutdown = shutdown_model,
    };
    return &s->service;

nomem:
    tfn_onnx_free(m);
    tfn_onnx_service_free(s ? &s->service : NULL);
    tfn_error_set(err, TFN_ENOMEM, "out of memory");
    return NULL;
}
