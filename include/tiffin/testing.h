/*
 * tiffin/testing.h — running a whole service graph in one process, for unit tests.
 *
 * A test graph runs the entry service and every service it depends on (transitively) in the
 * calling process, with direct calls instead of sockets: each API call still goes through the
 * binary encoding, input validation, the handler (as a coroutine or on a thread, as declared)
 * and output validation, exactly as under `serve`. A dependency can be replaced by a test double
 * (any service with the same APIs) to inject faults or fix its answers.
 *
 *     tfn_test_t *t = tfn_test_new(&entry, &err);
 *     tfn_test_replace(t, "ModelB", &failing_model_b);         // optional
 *     tfn_value_t *out;
 *     rc = tfn_test_call(t, "classify", input, arena, &out, &err);
 *     tfn_test_free(t);
 *
 * Dependencies given only by URL (no `service`) are called over HTTP as under `serve`.
 * A test graph is used by one thread at a time.
 */
#ifndef TIFFIN_TESTING_H
#define TIFFIN_TESTING_H

#include "error.h"
#include "service.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A service graph running in this process. */
typedef struct tfn_test tfn_test_t;

/**
 * Builds the graph of `entry` (borrowed; must outlive the graph). Init hooks have not run yet.
 * Returns the graph, owned by the caller (tfn_test_free), or NULL with *err filled (an invalid
 * service definition, a dependency cycle, two services of the same name, out of memory).
 */
tfn_test_t *tfn_test_new(const tfn_service_t *entry, tfn_error_t *err);

/**
 * Replaces the dependency named `name` (wherever it is depended on) by `double_` (borrowed), a
 * test double. Only before the first call. Returns 0, TFN_ENOTFOUND (no such dependency) or
 * TFN_EINVAL (graph already started, or `double_` is not a valid service), with *err filled.
 */
int tfn_test_replace(tfn_test_t *test, const char *name, const tfn_service_t *double_,
                     tfn_error_t *err);

/**
 * Calls API `api` of the entry service with `input` (borrowed) and waits for the answer. The
 * first call runs every service's init hook (dependencies first); an init failure is returned
 * as TFN_EINIT. Returns 0 with *output allocated from `arena`, or a negative TFN_E* code with
 * *err filled as tfn_await does (the service and API that failed, its status and message).
 * A streaming API (`.stream = true`) gives the list of its pieces, or the error it ended with.
 */
int tfn_test_call(tfn_test_t *test, const char *api, const tfn_value_t *input, tfn_arena_t *arena,
                  tfn_value_t **output, tfn_error_t *err);

/** Runs the shutdown hooks (entry first) and frees the graph. NULL is ignored. */
void tfn_test_free(tfn_test_t *test);

#ifdef __cplusplus
}
#endif
#endif
