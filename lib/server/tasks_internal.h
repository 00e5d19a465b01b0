/*
 * tasks_internal.h — background tasks (tasks.c): the parts tests and fuzz targets reach.
 */
#ifndef TIFFIN_TASKS_INTERNAL_H
#define TIFFIN_TASKS_INTERNAL_H

#include <stddef.h>

/** A task id: 32 lowercase hex digits (128 random bits, as BentoML's uuid4().hex), and a NUL. */
#define TFN__TASK_ID_LEN 32

/**
 * Finds `task_id` in a URL query string (`query`, `len` bytes, no '?'; untrusted) and copies it,
 * percent-decoded, to `id` (TFN__TASK_ID_LEN + 1 bytes). The first task_id parameter counts.
 * Returns 0, TFN_EMISSING (no task_id parameter) or TFN_EINVAL (not 32 hex digits, or a bad
 * percent escape); `id` is an empty string on failure.
 */
int tfn__task_id_parse(const char *query, size_t len, char *id);

#endif
