/*
 * compose_internal.h — what compose (dependencies and the calls to them) keeps per worker, and
 * the hooks by which the server (below it) lets it take part in a worker's life.
 *
 * The server knows nothing of compose: it calls tfn__compose_hooks through tfn__serve_config_t
 * (server_internal.h), which the program (cli.c) and test graphs (testing.c) fill in.
 */
#ifndef TIFFIN_COMPOSE_INTERNAL_H
#define TIFFIN_COMPOSE_INTERNAL_H

#include "compose/client_internal.h"
#include "server/server_internal.h"

/** A dependency as one worker sees it: where it is and whether it is ready. */
typedef struct tfn__dep {
    const char *name;             /* as handlers call it */
    const tfn_service_t *service; /* its definition, when in this program; else NULL */
    tfn__target_t target;
    tfn__pool_t *pool;               /* over HTTP: its connection pool */
    tfn__server_t *local;            /* in this process (test graph): its instance */
    bool ready;                      /* its /readyz answered 200 last time we asked */
    bool probing;                    /* a /readyz probe is in flight */
    char why[TFN_ERROR_MESSAGE_MAX]; /* why it is not ready */
    bool json;                       /* calls go out in JSON (tfn_dependency_t.json) */
    char url[512];
    char host[sizeof(((tfn__target_t *)0)->host) + 8]; /* its Host header: "HOST:PORT" */
} tfn__dep_t;

/** The hooks the server calls: dependencies set up, probed, closed; futures of a request. */
extern const tfn__server_hooks_t tfn__compose_hooks;

/* ---- call.c ---------------------------------------------------------------------------------- */

/** The handler has returned: abandon the calls it did not wait for. */
void tfn__futures_cancel(tfn__request_t *req);
/** Nobody wants the request's answer: cancel its calls in flight (TFN_ECANCELED), closing their
 * connections so that the dependencies cancel too, and resume a handler awaiting one of them or
 * sleeping in tfn_sleep. */
void tfn__futures_cancel_request(tfn__request_t *req);
/** The request is being freed: free what its calls' answers hold. */
void tfn__futures_release(tfn__request_t *req);
/**
 * Decodes the `len` bytes at `data` of a 200 answer (binary encoding or JSON, as `content_type`
 * says) into *out in `arena`. Decoded tensors point into `data`.
 * Returns 0, TFN_EPROTO or TFN_ENOMEM with *err filled.
 */
int tfn__response_decode(const char *content_type, const void *data, size_t len, tfn_arena_t *arena,
                         tfn_value_t **out, tfn_error_t *err);
/**
 * Fills *err from an error answer: a tiffin JSON error body keeps its code, message, service
 * and API; anything else is named after the HTTP status, with `service` and `api` as the place.
 * Returns err->code.
 */
int tfn__response_error(const tfn__response_t *resp, const char *service, const char *api,
                        tfn_error_t *err);

/* ---- deps.c ---------------------------------------------------------------------------------- */

/**
 * Sets up the dependencies of server->service: each one's address is its --depends override,
 * else its declared url; pools are created; probing of their /readyz begins with
 * tfn__deps_start. Returns 0 or TFN_EINVAL with a message (a dependency without an address, an
 * override for an unknown dependency, a malformed URL).
 */
int tfn__deps_open(tfn__server_t *server, tfn_error_t *err);
/** Starts asking each dependency's /readyz, now and every second. */
void tfn__deps_start(tfn__server_t *server);
/** Stops probing and closes every pool (the drain is over). */
void tfn__deps_close(tfn__server_t *server);
/** The dependency called `name`, or NULL. */
tfn__dep_t *tfn__deps_find(tfn__server_t *server, const char *name);
/** Is every dependency ready? If not, and `why` is given, says which is not and why. */
bool tfn__deps_ready(const tfn__server_t *server, char *why, size_t len);

#endif
