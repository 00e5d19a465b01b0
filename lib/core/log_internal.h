/*
 * log_internal.h — log lines and the monotonic clock.
 */
#ifndef TIFFIN_LOG_INTERNAL_H
#define TIFFIN_LOG_INTERNAL_H

#include <stdint.h>

/** Writes one line "TIME tiffin[PID] LEVEL: MESSAGE" to stderr in a single write. */
void tfn__log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Milliseconds on a monotonic clock. */
uint64_t tfn__now_ms(void);

#endif
