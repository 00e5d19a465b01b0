/*
 * onnx.c — ONNX Runtime behind tiffin/onnx.h: loading the runtime (dlopen), loading a model and
 * reading its signature, and running it on tiffin tensors.
 *
 * The runtime is opened with dlopen on the first tfn_onnx_load, so libtiffin has no link-time
 * dependency on it (docs/design.md, "ONNX models", says why). One OrtEnv per process, created
 * then and kept until exit (reachable from a static, never a leak).
 */
#include <dlfcn.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <onnxruntime_c_api.h>

#include "backends/onnx_internal.h"
#include "core/log_internal.h"

#ifndef TFN__ONNXRUNTIME_DEFAULT
#define TFN__ONNXRUNTIME_DEFAULT "libonnxruntime.so.1"
#endif

struct tfn_onnx_model {
    const OrtApi *api;
    OrtSession *session;
    OrtMemoryInfo *memory;
    size_t ninputs, noutputs;
    const char **input_names, **output_names; /* point into the fields' names */
    ONNXTensorElementDataType *input_types;
    tfn_field_t *inputs, *outputs;           /* each n + 1, names and docs malloc'd */
    const char *(*input_dims)[TFN_MAX_DIMS]; /* symbolic dim names, malloc'd or NULL */
    const char *(*output_dims)[TFN_MAX_DIMS];
    tfn__onnx_sig_t sig;
    size_t nmeta;                    /* custom metadata: nmeta keys and values, malloc'd */
    char **meta_keys, **meta_values; /* read at load; the session is never asked again */
};

/* ---------------------------------------------------------------------------------------------
 * The runtime
 * ------------------------------------------------------------------------------------------- */

static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;
static const OrtApi *runtime_api;
static OrtEnv *runtime_env;

/* Opens the runtime and creates the environment, once. Returns the API, or NULL with `why`. */
static const OrtApi *runtime(tfn_error_t *err)
{
    pthread_mutex_lock(&runtime_lock);
    const OrtApi *api = runtime_api;
    if (api)
        goto out;
    const char *path = getenv("TFN_ONNXRUNTIME");
    if (!path || !*path)
        path = access(TFN__ONNXRUNTIME_DEFAULT, R_OK) == 0 ? TFN__ONNXRUNTIME_DEFAULT
                                                           : "libonnxruntime.so.1";
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        tfn_error_set(err, TFN_EINIT,
                      "cannot load ONNX Runtime (%s): %s (set TFN_ONNXRUNTIME to the path of "
                      "libonnxruntime.so.1, or run scripts/fetch-onnx.sh)",
                      path, why ? why : "unknown error");
        goto out;
    }
    const OrtApiBase *(*get_base)(void) = NULL;
    *(void **)&get_base = dlsym(lib, "OrtGetApiBase");
    const OrtApiBase *base = get_base ? get_base() : NULL;
    api = base ? base->GetApi(ORT_API_VERSION) : NULL;
    if (!api) {
        tfn_error_set(err, TFN_EINIT, "ONNX Runtime %s (%s) does not serve C API version %d",
                      base ? base->GetVersionString() : "?", path, ORT_API_VERSION);
        dlclose(lib);
        goto out;
    }
    OrtStatus *st = api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "tiffin", &runtime_env);
    if (st) {
        tfn_error_set(err, TFN_EINIT, "ONNX Runtime: cannot create its environment: %s",
                      api->GetErrorMessage(st));
        api->ReleaseStatus(st);
        api = NULL;
        goto out;
    }
    runtime_api = api;
    /* The library stays loaded until exit: sessions and the environment live in it. */
out:
    pthread_mutex_unlock(&runtime_lock);
    return api;
}

/* For calls that cannot fail in practice (frees): drop the status. */
static void ignore(const OrtApi *api, OrtStatus *st)
{
    if (st)
        api->ReleaseStatus(st);
}

/* Turns a runtime status into *err (and frees it). Returns the code. */
static int status_error(const OrtApi *api, OrtStatus *st, tfn_error_t *err, int code,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int status_error(const OrtApi *api, OrtStatus *st, tfn_error_t *err, int code,
                        const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    tfn_error_set(err, code, "%s: %s", what, api->GetErrorMessage(st));
    api->ReleaseStatus(st);
    return code;
}

/* ---------------------------------------------------------------------------------------------
 * Loading a model and reading its signature
 * ------------------------------------------------------------------------------------------- */

static bool dtype_of(ONNXTensorElementDataType t, tfn_dtype_t *out)
{
    switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: *out = TFN_DTYPE_F32; return true;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: *out = TFN_DTYPE_F64; return true;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: *out = TFN_DTYPE_I32; return true;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: *out = TFN_DTYPE_I64; return true;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: *out = TFN_DTYPE_U8; return true;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: *out = TFN_DTYPE_BOOL; return true;
    default: return false;
    }
}

static const char *onnx_type_name(ONNXTensorElementDataType t)
{
    static const char *const names[] = {"undefined",  "float32", "uint8",  "int8",   "uint16",
                                        "int16",      "int32",   "int64",  "string", "bool",
                                        "float16",    "float64", "uint32", "uint64", "complex64",
                                        "complex128", "bfloat16"};
    return (size_t)t < sizeof names / sizeof *names ? names[t] : "an exotic type";
}

/* Reads input or output `i` into fields[i] (name, dtype, shape, doc) and dims[i]. */
static int read_port(tfn_onnx_model_t *m, bool input, size_t i, tfn_field_t *field,
                     const char **dims, ONNXTensorElementDataType *type_out, const char *path,
                     tfn_error_t *err)
{
    const OrtApi *api = m->api;
    const char *kind = input ? "input" : "output";
    OrtAllocator *alloc;
    OrtStatus *st = api->GetAllocatorWithDefaultOptions(&alloc);
    char *name = NULL;
    if (!st)
        st = input ? api->SessionGetInputName(m->session, i, alloc, &name)
                   : api->SessionGetOutputName(m->session, i, alloc, &name);
    if (st)
        return status_error(api, st, err, TFN_EINIT, "model %s: %s %zu", path, kind, i);
    field->name = strdup(name);
    ignore(api, api->AllocatorFree(alloc, name));
    if (!field->name)
        return tfn_error_set(err, TFN_ENOMEM, "out of memory");

    OrtTypeInfo *info = NULL;
    st = input ? api->SessionGetInputTypeInfo(m->session, i, &info)
               : api->SessionGetOutputTypeInfo(m->session, i, &info);
    enum ONNXType onnx_type = ONNX_TYPE_UNKNOWN;
    if (!st)
        st = api->GetOnnxTypeFromTypeInfo(info, &onnx_type);
    if (st) {
        api->ReleaseTypeInfo(info);
        return status_error(api, st, err, TFN_EINIT, "model %s: %s '%s'", path, kind, field->name);
    }
    int rc = 0;
    const OrtTensorTypeAndShapeInfo *tensor = NULL;
    ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    size_t ndim = 0;
    int64_t shape[TFN_MAX_DIMS];
    const char *symbols[TFN_MAX_DIMS] = {0};
    if (onnx_type != ONNX_TYPE_TENSOR) {
        rc = tfn_error_set(err, TFN_EINIT,
                           "model %s: %s '%s' is not a tensor (a sequence or map: export the "
                           "model without them, e.g. skl2onnx's zipmap=False)",
                           path, kind, field->name);
        goto out;
    }
    if ((st = api->CastTypeInfoToTensorInfo(info, &tensor)) ||
        (st = api->GetTensorElementType(tensor, &type)) ||
        (st = api->GetDimensionsCount(tensor, &ndim))) {
        rc = status_error(api, st, err, TFN_EINIT, "model %s: %s '%s'", path, kind, field->name);
        goto out;
    }
    if (!dtype_of(type, &field->dtype)) {
        rc = tfn_error_set(err, TFN_EINIT,
                           "model %s: %s '%s' has element type %s, which tiffin has no dtype for "
                           "(float32, float64, int32, int64, uint8, bool)",
                           path, kind, field->name, onnx_type_name(type));
        goto out;
    }
    if (ndim > TFN_MAX_DIMS) {
        rc = tfn_error_set(err, TFN_EINIT, "model %s: %s '%s' has rank %zu; at most %d", path, kind,
                           field->name, ndim, TFN_MAX_DIMS);
        goto out;
    }
    if ((st = api->GetDimensions(tensor, shape, ndim)) ||
        (st = api->GetSymbolicDimensions(tensor, symbols, ndim))) {
        rc = status_error(api, st, err, TFN_EINIT, "model %s: %s '%s'", path, kind, field->name);
        goto out;
    }
    field->type = TFN_TYPE_TENSOR;
    field->ndim = (int)ndim;
    for (size_t d = 0; d < ndim; d++) {
        field->shape[d] = shape[d] < 0 ? -1 : shape[d];
        if (symbols[d] && symbols[d][0] && field->shape[d] < 0 && !(dims[d] = strdup(symbols[d])))
            rc = tfn_error_set(err, TFN_ENOMEM, "out of memory");
    }
    *type_out = type;
    char doc[200];
    tfn__onnx_describe(field, dims, doc, sizeof doc);
    if (!rc && !(field->doc = strdup(doc)))
        rc = tfn_error_set(err, TFN_ENOMEM, "out of memory");
out:
    api->ReleaseTypeInfo(info);
    return rc;
}

/* Allocates the arrays of a model's signature (n inputs, n outputs). */
static int alloc_ports(size_t n, tfn_field_t **fields, const char *(**dims)[TFN_MAX_DIMS],
                       const char ***names)
{
    *fields = calloc(n + 1, sizeof **fields);
    *dims = calloc(n ? n : 1, sizeof **dims);
    *names = calloc(n ? n : 1, sizeof **names);
    return *fields && *dims && *names ? 0 : TFN_ENOMEM;
}

static void free_ports(size_t n, tfn_field_t *fields, const char *(*dims)[TFN_MAX_DIMS])
{
    for (size_t i = 0; fields && i < n; i++) {
        free((char *)fields[i].name);
        free((char *)fields[i].doc);
        for (int d = 0; dims && d < TFN_MAX_DIMS; d++)
            free((char *)dims[i][d]);
    }
    free(fields);
    free(dims);
}

/* Appends the CUDA execution provider to `so`, or explains why it cannot be used. */
static int add_cuda(const OrtApi *api, OrtSessionOptions *so, const tfn_onnx_options_t *o,
                    const char *path, tfn_error_t *err)
{
    char **providers = NULL;
    int n = 0;
    bool found = false;
    OrtStatus *st = api->GetAvailableProviders(&providers, &n);
    if (st)
        return status_error(api, st, err, TFN_EINIT, "model %s: the runtime's providers", path);
    for (int i = 0; i < n; i++)
        found |= strcmp(providers[i], "CUDAExecutionProvider") == 0;
    ignore(api, api->ReleaseAvailableProviders(providers, n));
    if (!found)
        return tfn_error_set(err, TFN_EINIT,
                             "model %s: CUDA was asked for (a GPU), but this ONNX Runtime has "
                             "no CUDA execution provider (set TFN_ONNXRUNTIME to onnxruntime-gpu's "
                             "library)",
                             path);
    OrtCUDAProviderOptionsV2 *cuda = NULL;
    char device[16];
    snprintf(device, sizeof device, "%d", o->cuda_device);
    const char *keys[] = {"device_id"}, *values[] = {device};
    if (!(st = api->CreateCUDAProviderOptions(&cuda)) &&
        !(st = api->UpdateCUDAProviderOptions(cuda, keys, values, 1)))
        st = api->SessionOptionsAppendExecutionProvider_CUDA_V2(so, cuda);
    if (cuda)
        api->ReleaseCUDAProviderOptions(cuda);
    if (st)
        return status_error(api, st, err, TFN_EINIT,
                            "model %s: cannot use the CUDA execution provider on device %d", path,
                            o->cuda_device);
    return 0;
}

/* Creates the session; with CUDA asked for and failing, on the CPU if the options allow. */
static int create_session(const OrtApi *api, const char *path, const tfn_onnx_options_t *o,
                          bool cuda, OrtSession **out, tfn_error_t *err)
{
    OrtSessionOptions *so = NULL;
    OrtStatus *st = api->CreateSessionOptions(&so);
    if (!st)
        st = api->SetIntraOpNumThreads(so, o->threads ? (int)o->threads : 1);
    if (!st)
        st = api->SetInterOpNumThreads(so, 1);
    if (!st)
        st = api->SetSessionGraphOptimizationLevel(so, ORT_ENABLE_ALL);
    /* Idle intra-op threads sleep instead of spinning: the cores are shared with the loop and
     * with other workers (docs/design.md, "ONNX models"). */
    if (!st)
        st = api->AddSessionConfigEntry(so, "session.intra_op.allow_spinning", "0");
    if (!st)
        st = api->AddSessionConfigEntry(so, "session.inter_op.allow_spinning", "0");
    if (st) {
        if (so)
            api->ReleaseSessionOptions(so);
        return status_error(api, st, err, TFN_EINIT, "model %s: session options", path);
    }
    int rc = cuda ? add_cuda(api, so, o, path, err) : 0;
    if (rc == 0) {
        st = api->CreateSession(runtime_env, path, so, out);
        if (st)
            rc = status_error(api, st, err, TFN_EINIT, "model %s", path);
    }
    api->ReleaseSessionOptions(so);
    if (rc && cuda && o->cpu_fallback) {
        tfn__log("warn", "%s; running it on the CPU instead", err ? err->message : path);
        return create_session(api, path, o, false, out, err);
    }
    return rc;
}

/* Copies the model's custom metadata (the producer's key/value strings: PP-OCR keeps its
 * character dictionary there) into m->meta_keys / meta_values, so tfn_onnx_metadata needs neither
 * the runtime's allocator nor a lock. Returns 0 or a code with *err filled. */
static int read_metadata(tfn_onnx_model_t *m, const char *path, tfn_error_t *err)
{
    const OrtApi *api = m->api;
    OrtAllocator *alloc;
    OrtModelMetadata *meta = NULL;
    char **keys = NULL;
    int64_t nkeys = 0;
    OrtStatus *st = api->GetAllocatorWithDefaultOptions(&alloc);
    if (!st)
        st = api->SessionGetModelMetadata(m->session, &meta);
    if (!st)
        st = api->ModelMetadataGetCustomMetadataMapKeys(meta, alloc, &keys, &nkeys);
    if (st) {
        if (meta)
            api->ReleaseModelMetadata(meta);
        return status_error(api, st, err, TFN_EINIT, "model %s: metadata", path);
    }
    int rc = 0;
    size_t n = keys && nkeys > 0 ? (size_t)nkeys : 0;
    if (n && (!(m->meta_keys = calloc(n, sizeof *m->meta_keys)) ||
              !(m->meta_values = calloc(n, sizeof *m->meta_values))))
        rc = tfn_error_set(err, TFN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char *value = NULL;
        if (rc == 0) {
            st = api->ModelMetadataLookupCustomMetadataMap(meta, alloc, keys[i], &value);
            if (st)
                rc = status_error(api, st, err, TFN_EINIT, "model %s: metadata %s", path, keys[i]);
        }
        if (rc == 0) {
            m->meta_keys[i] = strdup(keys[i]);
            m->meta_values[i] = strdup(value ? value : "");
            m->nmeta = i + 1;
            if (!m->meta_keys[i] || !m->meta_values[i])
                rc = tfn_error_set(err, TFN_ENOMEM, "out of memory");
        }
        if (value)
            ignore(api, api->AllocatorFree(alloc, value));
        ignore(api, api->AllocatorFree(alloc, keys[i]));
    }
    if (keys)
        ignore(api, api->AllocatorFree(alloc, keys));
    api->ReleaseModelMetadata(meta);
    return rc;
}

/* Loading a model allocates and frees much more than the session keeps (the protobuf, graph
 * rewrites): glibc would keep those pages in this process; give them back. */
static void trim_heap(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

int tfn_onnx_load(const char *path, const tfn_onnx_options_t *options, tfn_onnx_model_t **model,
                  tfn_error_t *err)
{
    static const tfn_onnx_options_t defaults = {0};
    const tfn_onnx_options_t *o = options ? options : &defaults;
    if (!path || !model)
        return tfn_error_set(err, TFN_EINVAL, "tfn_onnx_load: no path or no model pointer");
    *model = NULL;
    if (access(path, R_OK) != 0)
        return tfn_error_set(err, TFN_EINIT, "model %s: cannot read it: %s", path, strerror(errno));
    const OrtApi *api = runtime(err);
    if (!api)
        return TFN_EINIT;
    tfn_onnx_model_t *m = calloc(1, sizeof *m);
    if (!m)
        return tfn_error_set(err, TFN_ENOMEM, "out of memory");
    m->api = api;
    int rc = create_session(api, path, o, o->cuda, &m->session, err);
    OrtStatus *st = NULL;
    if (rc == 0 &&
        ((st = api->SessionGetInputCount(m->session, &m->ninputs)) ||
         (st = api->SessionGetOutputCount(m->session, &m->noutputs)) ||
         (st = api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &m->memory))))
        rc = status_error(api, st, err, TFN_EINIT, "model %s", path);
    if (rc == 0 && (alloc_ports(m->ninputs, &m->inputs, &m->input_dims, &m->input_names) ||
                    alloc_ports(m->noutputs, &m->outputs, &m->output_dims, &m->output_names) ||
                    !(m->input_types = calloc(m->ninputs + 1, sizeof *m->input_types))))
        rc = tfn_error_set(err, TFN_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < m->ninputs; i++) {
        rc = read_port(m, true, i, &m->inputs[i], m->input_dims[i], &m->input_types[i], path, err);
        m->input_names[i] = m->inputs[i].name;
    }
    for (size_t i = 0; rc == 0 && i < m->noutputs; i++) {
        ONNXTensorElementDataType type;
        rc = read_port(m, false, i, &m->outputs[i], m->output_dims[i], &type, path, err);
        m->output_names[i] = m->outputs[i].name;
    }
    if (rc == 0)
        rc = read_metadata(m, path, err);
    if (rc != 0) {
        tfn_onnx_free(m);
        return rc;
    }
    trim_heap();
    m->sig = (tfn__onnx_sig_t){
        .n = m->ninputs,
        .fields = m->inputs,
        .dim_names = (const char *const(*)[TFN_MAX_DIMS])m->input_dims,
        .max_elements = o->max_elements ? o->max_elements : TFN__ONNX_MAX_ELEMENTS,
    };
    *model = m;
    return 0;
}

int tfn_onnx_load_worker(tfn_worker_t *worker, const char *path, const tfn_onnx_options_t *options,
                         tfn_onnx_model_t **model)
{
    const tfn_resources_t *r = &tfn_worker_service(worker)->resources;
    tfn_onnx_options_t o = options ? *options : (tfn_onnx_options_t){0};
    if (!o.threads)
        o.threads = r->cpu >= 1 ? (unsigned)ceil(r->cpu) : 1;
    if (r->gpu > 0)
        o.cuda = true;
    tfn_error_t err;
    int rc = tfn_onnx_load(path, &o, model, &err);
    if (rc != 0)
        return tfn_worker_fail(worker, rc, "%s", err.message);
    return 0;
}

void tfn_onnx_free(tfn_onnx_model_t *m)
{
    if (!m)
        return;
    if (m->session)
        m->api->ReleaseSession(m->session);
    if (m->memory)
        m->api->ReleaseMemoryInfo(m->memory);
    free_ports(m->ninputs, m->inputs, m->input_dims);
    free_ports(m->noutputs, m->outputs, m->output_dims);
    free(m->input_names);
    free(m->output_names);
    free(m->input_types);
    for (size_t i = 0; i < m->nmeta; i++) {
        free(m->meta_keys[i]);
        free(m->meta_values[i]);
    }
    free(m->meta_keys);
    free(m->meta_values);
    free(m);
    trim_heap(); /* a probe session (tfn_onnx_service) leaves nothing behind */
}

const tfn_field_t *tfn_onnx_inputs(const tfn_onnx_model_t *model) { return model->inputs; }
const tfn_field_t *tfn_onnx_outputs(const tfn_onnx_model_t *model) { return model->outputs; }

const char *tfn_onnx_metadata(const tfn_onnx_model_t *model, const char *key)
{
    for (size_t i = 0; model && key && i < model->nmeta; i++)
        if (strcmp(model->meta_keys[i], key) == 0)
            return model->meta_values[i];
    return NULL;
}

const char *tfn_onnx_metadata_key(const tfn_onnx_model_t *model, size_t i)
{
    return model && i < model->nmeta ? model->meta_keys[i] : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Running
 * ------------------------------------------------------------------------------------------- */

/* Copies output `i` into a tensor from the arena (the one copy of the answer). */
static int take_output(tfn_onnx_model_t *m, size_t i, OrtValue *value, tfn_arena_t *arena,
                       tfn_value_t **out, tfn_error_t *err)
{
    const OrtApi *api = m->api;
    OrtTensorTypeAndShapeInfo *info = NULL;
    ONNXTensorElementDataType type;
    size_t ndim = 0;
    int64_t shape[TFN_MAX_DIMS];
    void *data = NULL;
    OrtStatus *st;
    if ((st = api->GetTensorTypeAndShape(value, &info)) ||
        (st = api->GetTensorElementType(info, &type)) ||
        (st = api->GetDimensionsCount(info, &ndim)) ||
        (ndim <= TFN_MAX_DIMS && (st = api->GetDimensions(info, shape, ndim))) ||
        (st = api->GetTensorMutableData(value, &data))) {
        if (info)
            api->ReleaseTensorTypeAndShapeInfo(info);
        return status_error(api, st, err, TFN_EHANDLER, "output '%s'", m->outputs[i].name);
    }
    api->ReleaseTensorTypeAndShapeInfo(info);
    tfn_dtype_t dtype;
    if (!dtype_of(type, &dtype) || ndim > TFN_MAX_DIMS)
        return tfn_error_set(err, TFN_EHANDLER, "output '%s': element type %s, rank %zu",
                             m->outputs[i].name, onnx_type_name(type), ndim);
    size_t bytes = tfn_dtype_size(dtype);
    for (size_t d = 0; d < ndim; d++)
        bytes *= (size_t)shape[d];
    void *copy = tfn_arena_alloc(arena, bytes ? bytes : 1);
    if (!copy || !(*out = tfn_tensor_wrap(arena, dtype, (int)ndim, shape, copy)))
        return tfn_error_set(err, TFN_ENOMEM, "output '%s' (%zu bytes) does not fit the arena",
                             m->outputs[i].name, bytes);
    if (bytes)
        memcpy(copy, data, bytes);
    return 0;
}

int tfn_onnx_run(tfn_onnx_model_t *m, const tfn_value_t *inputs, tfn_arena_t *arena,
                 tfn_value_t **outputs, tfn_error_t *err)
{
    if (!m || !arena || !outputs)
        return tfn_error_set(err, TFN_EINVAL, "tfn_onnx_run: no model, arena or outputs");
    const OrtApi *api = m->api;
    size_t n = m->ninputs, k = m->noutputs;
    const tfn_value_t **ordered = tfn_arena_alloc(arena, (n ? n : 1) * sizeof *ordered);
    OrtValue **in = tfn_arena_calloc(arena, (n ? n : 1) * sizeof *in);
    OrtValue **out = tfn_arena_calloc(arena, (k ? k : 1) * sizeof *out);
    tfn_value_t *result = tfn_object(arena);
    if (!ordered || !in || !out || !result)
        return tfn_error_set(err, TFN_ENOMEM, "out of memory");
    int rc = tfn__onnx_check(&m->sig, inputs, ordered, err);
    if (rc != 0)
        return rc;
    static int64_t empty; /* the runtime wants a pointer even for no elements */
    OrtStatus *st = NULL;
    for (size_t i = 0; i < n && !st; i++) {
        const tfn_value_t *t = ordered[i];
        void *data = tfn_tensor_nbytes(t) ? tfn_tensor_data(t) : &empty;
        st = api->CreateTensorWithDataAsOrtValue(m->memory, data, tfn_tensor_nbytes(t),
                                                 tfn_tensor_shape(t), (size_t)tfn_tensor_ndim(t),
                                                 m->input_types[i], &in[i]);
        if (st)
            rc = status_error(api, st, err, TFN_EINVAL, "input '%s'", m->inputs[i].name);
    }
    if (rc == 0) {
        st = api->Run(m->session, NULL, m->input_names, (const OrtValue *const *)in, n,
                      m->output_names, k, out);
        if (st) {
            OrtErrorCode code = api->GetErrorCode(st);
            rc =
                status_error(api, st, err, code == ORT_INVALID_ARGUMENT ? TFN_EINVAL : TFN_EHANDLER,
                             "the model rejected the inputs");
        }
    }
    for (size_t j = 0; j < k && rc == 0; j++) {
        tfn_value_t *v;
        rc = take_output(m, j, out[j], arena, &v, err);
        if (rc == 0 && tfn_object_set(arena, result, m->outputs[j].name, v) != 0)
            rc = tfn_error_set(err, TFN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (in[i])
            api->ReleaseValue(in[i]);
    for (size_t j = 0; j < k; j++)
        if (out[j])
            api->ReleaseValue(out[j]);
    if (rc == 0)
        *outputs = result;
    return rc;
}

int tfn_onnx_run_ctx(tfn_ctx_t *ctx, tfn_onnx_model_t *model, const tfn_value_t *inputs,
                     tfn_value_t **outputs)
{
    tfn_error_t err;
    int rc = tfn_onnx_run(model, inputs, tfn_ctx_arena(ctx), outputs, &err);
    return rc == 0 ? 0 : tfn_ctx_fail(ctx, rc, "%s", err.message);
}
