/*
 * stream_call_internal.h — the end of a request that reads dependency streams (stream_call.c).
 */
#ifndef TIFFIN_STREAM_CALL_INTERNAL_H
#define TIFFIN_STREAM_CALL_INTERNAL_H

#include "server/server_internal.h"

/** The handler has returned: close the streams it still reads (their producers see it gone). */
void tfn__streams_cancel(tfn__request_t *req);
/** The request is being freed: each stream is freed once its handles are closed. */
void tfn__streams_release(tfn__request_t *req);

/**
 * For the fuzz target: parses `len` bytes as a dependency's HTTP answer to a stream call
 * (status line, headers, chunked or not, server-sent events), fed in two reads split at
 * `split` (taken modulo len + 1), taking every complete event as tfn_stream_next does. Counts
 * the pieces taken in *pieces. Returns 0, or the TFN_E* code the stream ended with. Borrows
 * `data`; allocates nothing that outlives the call.
 */
int tfn__stream_parse_bytes(const char *data, size_t len, size_t split, size_t *pieces);

#endif
