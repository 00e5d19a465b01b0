/*
 * protocols_internal.h — the protocols other clients speak, served beside tiffin's own POST /{api}:
 * BentoML's service schema (GET /schema.json, for bentoml.SyncHTTPClient), KServe v2 / the Open
 * Inference Protocol (/v2/...) for APIs whose inputs are tensors, and the HTML docs page (GET /
 * with Accept: text/html). They reach dispatch through its route table (tfn__route_t,
 * server/server_internal.h): the program passes tfn__protocol_routes in tfn__serve_config_t.
 *
 * Layer: above server and codec, below program (see docs/design.md, "Layers of lib/").
 */
#ifndef TIFFIN_PROTOCOLS_INTERNAL_H
#define TIFFIN_PROTOCOLS_INTERNAL_H

#include "core/buf_internal.h"
#include "server/server_internal.h"

/** Every route of this layer, ending with {0}: hand it to tfn__serve_config_t.routes. */
extern const tfn__route_t tfn__protocol_routes[];

/* ---- bentoml_schema.c ---- */

/** Appends the BentoML service schema of `service` (what Service.schema() of BentoML 1.4
 *  returns: {"name", "type": "service", "routes": [...]}) to `out`. 0, TFN_ENOMEM or
 *  TFN_ETOOBIG. */
int tfn__bentoml_schema(const tfn_service_t *service, tfn__buf_t *out);
bool tfn__serve_bentoml_schema(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                               bool keep_alive);

/* ---- kserve_v2.c ---- */

/** Is `api` a model for KServe v2: every declared input a tensor of a known dtype, at least
 *  one? */
bool tfn__kserve_is_model(const tfn_api_t *api);
/**
 * Decodes a KServe v2 infer request body (JSON, or a JSON header of `header_len` bytes followed
 * by binary tensors; header_len SIZE_MAX: all JSON) for `api` into its input object in `arena`,
 * and the outputs asked for into *state. Returns 0 or a TFN_E* code with *err. For the fuzzer
 * and kserve_v2.c.
 */
typedef struct tfn__kserve_state tfn__kserve_state_t;
/** A zeroed state for tfn__kserve_decode, in `arena`; NULL when out of memory. */
tfn__kserve_state_t *tfn__kserve_state_new(tfn_arena_t *arena);
int tfn__kserve_decode(tfn_arena_t *arena, const tfn_api_t *api, tfn__kserve_state_t *state,
                       const char *body, size_t len, size_t header_len, tfn_value_t **input,
                       tfn_error_t *err);
bool tfn__serve_kserve(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                       bool keep_alive);

/* ---- docs_page.c ---- */

/** GET / for browsers (Accept: text/html): the page; anything else is left to dispatch. */
bool tfn__serve_docs_page(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                          bool keep_alive);
/** Appends the graph document (see docs_page.c for its members) of `server` to `out`. */
int tfn__graph_json(const tfn__server_t *server, tfn__buf_t *out);
bool tfn__serve_graph(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                      bool keep_alive);

#endif
