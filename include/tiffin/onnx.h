/*
 * tiffin/onnx.h — neural-network models (ONNX) inside services, with ONNX Runtime.
 *
 * Two ways to use a model file:
 *
 *  1. In your own service: load it once per worker in the init hook, run it from a handler that
 *     runs in a thread (TFN_RUN_IN_THREAD), with tiffin tensors in and out.
 *
 *         static int init(tfn_worker_t *w, void **state)
 *         {
 *             return tfn_onnx_load_worker(w, "model.onnx", NULL, (tfn_onnx_model_t **)state);
 *         }
 *         static int embed(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
 *         {
 *             return tfn_onnx_run_ctx(ctx, tfn_ctx_state(ctx), in, out);
 *         }
 *         static void shutdown(tfn_worker_t *w, void *state) { (void)w; tfn_onnx_free(state); }
 *
 *  2. As a service of its own, with no handler to write: tfn_onnx_service() builds a service
 *     whose API `predict` takes the model's inputs by name and returns an object of its outputs
 *     by name; its declared input fields come from the model, so nobody retypes a signature. Such
 *     a service can be a dependency in a graph like any other (`serve` runs it in its own worker
 *     processes), and is what `tiffin serve MODEL.onnx` serves.
 *
 * The runtime: libonnxruntime.so.1 (ONNX Runtime 1.31, C API version 21) is loaded with dlopen on
 * first use, from $TFN_ONNXRUNTIME if set, else from the build's cache (build/deps/onnxruntime),
 * else from the system's library path. Programs that never load a model never load the runtime.
 * See docs/design.md ("ONNX models").
 */
#ifndef TIFFIN_ONNX_H
#define TIFFIN_ONNX_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "service.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A loaded model (an ONNX Runtime session and its signature). Opaque. */
typedef struct tfn_onnx_model tfn_onnx_model_t;

/** How to load a model. Zero-initialised options are the defaults. */
typedef struct tfn_onnx_options {
    /** Intra-op threads of the runtime (the threads one inference uses). 0: 1. */
    unsigned threads;
    /** Run on the CUDA execution provider instead of the CPU. */
    bool cuda;
    /** CUDA device number (within CUDA_VISIBLE_DEVICES). Default 0. */
    int cuda_device;
    /** With `cuda`: if the runtime has no CUDA provider or no device can be used, run on the CPU
     *  (a warning is logged) instead of failing. Default false: failing is an error. */
    bool cpu_fallback;
    /** Largest number of elements any one input may have (more -> TFN_ETOOBIG). 0: 16 Mi. */
    uint64_t max_elements;
} tfn_onnx_options_t;

/**
 * Loads the model at `path` (read now; the file may change afterwards). `options` may be NULL.
 * On success returns 0 and sets *model, owned by the caller (tfn_onnx_free). On failure returns
 * a negative code with *err filled (`err` may be NULL), naming the file and saying why:
 * TFN_EINIT (the runtime cannot be loaded, the file is missing or not a valid model, CUDA was
 * asked for and cannot be used, an input or output has a type tiffin has no dtype for: float16,
 * strings, sequences, maps) or TFN_ENOMEM. Safe to call from several threads.
 */
int tfn_onnx_load(const char *path, const tfn_onnx_options_t *options, tfn_onnx_model_t **model,
                  tfn_error_t *err);

/**
 * tfn_onnx_load for an init hook: the threads and the device come from the worker's service's
 * resources (threads = ceil(resources.cpu), at least 1, unless options->threads says; CUDA when
 * resources.gpu > 0, on the worker's device 0 — the supervisor puts the worker's own GPU first
 * in CUDA_VISIBLE_DEVICES). A failure is recorded with tfn_worker_fail, so `return
 * tfn_onnx_load_worker(...)` from the hook stops the worker with the message. Returns 0 or the
 * code of tfn_onnx_load.
 */
int tfn_onnx_load_worker(tfn_worker_t *worker, const char *path, const tfn_onnx_options_t *options,
                         tfn_onnx_model_t **model);

/** Frees a model. NULL is ignored. Not while a tfn_onnx_run on it is in progress. */
void tfn_onnx_free(tfn_onnx_model_t *model);

/**
 * The model's inputs as declared fields: an array ending with an entry whose name is NULL, one
 * TFN_TYPE_TENSOR field per input in the model's order, with its dtype, rank and dims (-1 for a
 * dynamic dim) and a doc naming the dims ("int64 [batch, sequence]"). Usable as
 * tfn_api_t.inputs. Owned by the model. A rank-0 input has ndim 0, which in a tfn_field_t means
 * "any rank": tfn_onnx_run checks it exactly.
 */
const tfn_field_t *tfn_onnx_inputs(const tfn_onnx_model_t *model);

/** The model's outputs, described the same way (name, dtype, rank, dims). Owned by the model. */
const tfn_field_t *tfn_onnx_outputs(const tfn_onnx_model_t *model);

/**
 * The value of the model's custom metadata entry `key` (the producer's key/value strings, as
 * onnx's `metadata_props`: PP-OCR stores its character dictionary under "character", one
 * character a line), or NULL when the model has no such key (or `model` or `key` is NULL). Read
 * once at load; the string is owned by the model and lives until tfn_onnx_free. Any thread.
 */
const char *tfn_onnx_metadata(const tfn_onnx_model_t *model, const char *key);

/**
 * The i-th key of the model's custom metadata (in the runtime's order), or NULL when i is past
 * the last: `for (i = 0; (k = tfn_onnx_metadata_key(m, i)); i++)` lists them. Owned by the model.
 */
const char *tfn_onnx_metadata_key(const tfn_onnx_model_t *model, size_t i);

/**
 * Runs the model. `inputs` (borrowed) is an object with one tensor per model input, by name.
 * The tensors are not copied: the runtime reads their memory. On success returns 0 and sets
 * *outputs to an object with one tensor per model output, by name, allocated from `arena` (each
 * copied once from the runtime's buffer). Errors, with *err filled (`err` may be NULL):
 * TFN_ETYPE (not an object, a member that is not a tensor, wrong dtype), TFN_EINVAL (an unknown
 * input name, a wrong rank or fixed dim, dynamic dims that the model names alike but that
 * differ between inputs, or the runtime rejecting the values), TFN_EMISSING (an input left
 * out), TFN_ETOOBIG (an input past max_elements), TFN_ENOMEM (arena exhausted), TFN_EHANDLER
 * (the runtime failed otherwise). Every message names the input and what the model expects.
 * Several threads may run the same model at once.
 */
int tfn_onnx_run(tfn_onnx_model_t *model, const tfn_value_t *inputs, tfn_arena_t *arena,
                 tfn_value_t **outputs, tfn_error_t *err);

/**
 * tfn_onnx_run from a handler: outputs from the request's arena, and a failure recorded with
 * tfn_ctx_fail (so `return tfn_onnx_run_ctx(...)` answers the client with the message). Call it
 * from handlers that run in a thread (TFN_RUN_IN_THREAD): inference must not run on the loop.
 */
int tfn_onnx_run_ctx(tfn_ctx_t *ctx, tfn_onnx_model_t *model, const tfn_value_t *inputs,
                     tfn_value_t **outputs);

/** How tfn_onnx_service builds a service. Zero-initialised options are the defaults. */
typedef struct tfn_onnx_service_options {
    /** Service name. Default: the file's name without ".onnx", characters other than letters,
     *  digits, '_' and '-' replaced by '_'. */
    const char *name;
    /** Description for the OpenAPI document. Default: the model's inputs and outputs. */
    const char *doc;
    unsigned workers;          /**< worker processes; default 1 */
    unsigned threads;          /**< handler threads per worker; default 1 */
    tfn_resources_t resources; /**< cpu sets the intra-op threads, gpu > 0 selects CUDA */
    tfn_traffic_t traffic;
    /** With resources.gpu > 0: run on the CPU when CUDA cannot be used, instead of failing. */
    bool cpu_fallback;
    /** Largest number of elements any one input may have; 0: 16 Mi. */
    uint64_t max_elements;
    /** Adaptive batching of `predict` (see tfn_batch_t). When every input and output of the
     *  model has a dynamic first dim, `predict` is stackable anyway: `serve --batch N` turns
     *  batching on without code; a max_size here turns it on by default. A model whose first
     *  dims are not all dynamic cannot be batched (max_size here is then an error). */
    tfn_batch_t batch;
} tfn_onnx_service_options_t;

/**
 * Builds a service that serves the model at `path`: one API, `predict` (run in a thread), whose
 * inputs are the model's inputs (tfn_onnx_inputs) and whose output is an object of the model's
 * outputs by name. Each worker loads its own copy of the model in its init hook. The model is
 * loaded once here too, to read its signature (then freed), so a bad file fails now.
 * `path` and `options` are copied; `options` may be NULL. Returns the service, owned by the
 * caller (tfn_onnx_service_free, after the last use: normally never, as services live as long as
 * the program), or NULL with *err filled (as tfn_onnx_load, or TFN_EINVAL for a bad name).
 *
 * A program whose graph includes a model writes, before tfn_main:
 *
 *     const tfn_service_t *embed = tfn_onnx_service("minilm.onnx", NULL, &err);
 *     deps[0] = (tfn_dependency_t){.name = "Embed", .service = embed};
 *
 * and its handlers call tfn_call(ctx, "Embed", "predict", inputs, &outputs, &err).
 */
const tfn_service_t *tfn_onnx_service(const char *path, const tfn_onnx_service_options_t *options,
                                      tfn_error_t *err);

/** Frees a service made by tfn_onnx_service. NULL is ignored. */
void tfn_onnx_service_free(const tfn_service_t *service);

#ifdef __cplusplus
}
#endif
#endif
