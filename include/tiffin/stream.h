/*
 * tiffin/stream.h — streaming: a handler sending its output in pieces, and a handler reading a
 * dependency's stream as the pieces arrive.
 *
 * An API declared with `.stream = true` sends pieces instead of setting *output:
 *
 *     static int generate(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
 *     {
 *         for (int i = 0; i < n; i++)
 *             if ((rc = tfn_stream_send(ctx, tfn_int(tfn_ctx_arena(ctx), token[i]))) != 0)
 *                 return rc;                       // the client went away, or the deadline
 *         return 0;                                // ends the stream
 *     }
 *
 * A client that sends `Accept: text/event-stream` gets server-sent events (`data: <JSON>` per
 * piece; an error ends the stream with `event: error` and the JSON error body); any other gets
 * chunked transfer encoding, one JSON value a line (application/x-ndjson), or the raw text of
 * each piece when the API's declared output is TFN_TYPE_STRING (text/plain). A failure before
 * the first piece is an ordinary error response with its status.
 *
 * Relaying a dependency's stream, transforming the pieces on the way:
 *
 *     tfn_stream_t *s = tfn_call_stream(ctx, "Generator", "generate", in, NULL);
 *     tfn_value_t *piece;
 *     while ((rc = tfn_stream_next(s, &piece, &err)) == 1)
 *         if ((rc = tfn_stream_send(ctx, detokenize(ctx, piece))) != 0)
 *             return rc;
 *     return rc < 0 ? tfn_ctx_fail_with(ctx, &err) : 0;
 *
 * Back-pressure: each stream buffers a bounded number of bytes (TFN_STREAM_BUFFER_BYTES) on
 * each side; past it tfn_stream_send suspends the producer until its client has read, and a
 * reader that does not call tfn_stream_next stops reading from the dependency's socket — so a
 * slow client slows every producer up the graph and memory stays bounded.
 */
#ifndef TIFFIN_STREAM_H
#define TIFFIN_STREAM_H

#include "call.h"
#include "error.h"
#include "service.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes a stream may hold unsent (server) or unread (caller) before its producer waits. */
#define TFN_STREAM_BUFFER_BYTES (256u * 1024u)

/**
 * Sends one piece of a streaming API's output (`piece` borrowed: it is encoded before this
 * returns; it is checked against the API's declared output type). The first call sends the
 * response head. Suspends the handler while the stream's buffer is full (the worker serves other
 * requests meanwhile). Returns 0; TFN_EINVAL when the API is not declared `.stream` or the
 * handler runs in a thread; TFN_EOUTPUT (piece of the wrong type); TFN_EIO when the client has
 * gone away; TFN_ETIMEOUT past the request's deadline (the client then got an error event).
 * After an error, return it: the stream has ended.
 */
int tfn_stream_send(tfn_ctx_t *ctx, const tfn_value_t *piece);

/** A dependency's stream being read. Owned by the calling request; closed when it ends. */
typedef struct tfn_stream tfn_stream_t;

/**
 * Calls API `api` of `dependency` (as tfn_call_async does: `input` borrowed, `options` may be
 * NULL) and returns its answer as a stream of pieces. A streaming API gives its pieces; any
 * other API gives its one answer as a single piece. Returns NULL only when out of memory
 * (tfn_stream_next(NULL) then gives TFN_ENOMEM); other failures are reported by tfn_stream_next.
 * A stream still open when the handler returns is closed (its producer sees the client gone).
 */
tfn_stream_t *tfn_call_stream(tfn_ctx_t *ctx, const char *dependency, const char *api,
                              const tfn_value_t *input, const tfn_call_options_t *options);

/**
 * Waits for the next piece (suspending the handler) and returns 1 with *piece set, 0 at the end
 * of the stream, or a negative TFN_E* code with *err filled as tfn_await does (a dependency's
 * error event carries its own code, status, service and API). *piece is owned by the stream and
 * valid until the next call of tfn_stream_next on it (so a long stream takes bounded memory):
 * copy what must be kept. `err` may be NULL. After the end or an error, it returns the same
 * again.
 */
int tfn_stream_next(tfn_stream_t *stream, tfn_value_t **piece, tfn_error_t *err);

/** Stops reading a stream early (its producer sees the client gone). NULL is ignored. */
void tfn_stream_close(tfn_stream_t *stream);

#ifdef __cplusplus
}
#endif
#endif
