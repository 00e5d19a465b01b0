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

#endif
