/*
 * trace.c — W3C Trace Context parsing and formatting, span ids, the access log.
 * See trace_internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "observe/trace_internal.h"

/* ---------------------------------------------------------------------------------------------
 * traceparent
 * ------------------------------------------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* the spec allows lowercase only */
}

/* Decodes 2n lowercase hex characters into n bytes; false if any is not one. */
static bool unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

int tfn__traceparent_parse(const char *s, size_t len, uint8_t trace_id[16], uint8_t parent_id[8],
                           uint8_t *flags)
{
    if (!s)
        return -1;
    while (len && (*s == ' ' || *s == '\t')) /* optional whitespace around a header value */
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len < TFN__TRACEPARENT_LEN)
        return -1;
    uint8_t version, tid[16], pid[8], fl;
    if (!unhex(s, &version, 1) || version == 0xff || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return -1;
    if (version == 0 && len != TFN__TRACEPARENT_LEN)
        return -1;
    if (version > 0 && len > TFN__TRACEPARENT_LEN && s[TFN__TRACEPARENT_LEN] != '-')
        return -1;
    if (!unhex(s + 3, tid, 16) || !unhex(s + 36, pid, 8) || !unhex(s + 53, &fl, 1))
        return -1;
    if (all_zero(tid, 16) || all_zero(pid, 8))
        return -1;
    memcpy(trace_id, tid, 16);
    memcpy(parent_id, pid, 8);
    *flags = fl;
    return 0;
}

bool tfn__tracestate_ok(const char *s, size_t len)
{
    if (len > TFN__TRACESTATE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

void tfn__hex(char *out, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void tfn__traceparent_format(char out[TFN__TRACEPARENT_LEN + 1], const tfn__trace_ids_t *ids)
{
    memcpy(out, "00-", 3);
    tfn__hex(out + 3, ids->trace_id, 16);
    out[35] = '-';
    tfn__hex(out + 36, ids->span_id, 8);
    out[52] = '-';
    tfn__hex(out + 53, &ids->flags, 1);
}

/* ---------------------------------------------------------------------------------------------
 * Ids
 * ------------------------------------------------------------------------------------------- */

static _Thread_local uint64_t rng_state;

static uint64_t next_random(void)
{
    if (!rng_state) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
            seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)&seed;
        rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
    }
    /* xorshift64*: fast and good enough for ids (not for secrets). */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

void tfn__trace_random(uint8_t *out, size_t n)
{
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = next_random();
            memcpy(out + i, &r, n - i < 8 ? n - i : 8);
        }
    } while (all_zero(out, n));
}

bool tfn__trace_begin(tfn__trace_ids_t *ids, const char *traceparent, size_t len)
{
    bool taken =
        traceparent && len &&
        tfn__traceparent_parse(traceparent, len, ids->trace_id, ids->parent_id, &ids->flags) == 0;
    if (!taken) {
        tfn__trace_random(ids->trace_id, 16);
        memset(ids->parent_id, 0, sizeof ids->parent_id);
        ids->flags = 1; /* sampled: the access log records every request */
    }
    tfn__trace_random(ids->span_id, 8);
    return taken;
}

void tfn__trace_child(tfn__trace_ids_t *child, const tfn__trace_ids_t *parent)
{
    memcpy(child->trace_id, parent->trace_id, 16);
    memcpy(child->parent_id, parent->span_id, 8);
    child->flags = parent->flags;
    tfn__trace_random(child->span_id, 8);
}

uint64_t tfn__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------------
 * The access log
 * ------------------------------------------------------------------------------------------- */

/* Appends `s` as a JSON string; false when it does not fit. */
static bool put_string(char *out, size_t size, size_t *len, const char *s)
{
    size_t n = *len;
    if (n + 1 >= size)
        return false;
    out[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (n + 7 >= size)
            return false;
        if (*p == '"' || *p == '\\') {
            out[n++] = '\\';
            out[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", *p);
        } else {
            out[n++] = (char)*p;
        }
    }
    if (n + 1 >= size)
        return false;
    out[n++] = '"';
    *len = n;
    return true;
}

size_t tfn__span_json(const tfn__span_record_t *rec, char *out, size_t size)
{
    char trace[33], span[17], parent[17];
    tfn__hex(trace, rec->ids->trace_id, 16);
    tfn__hex(span, rec->ids->span_id, 8);
    tfn__hex(parent, rec->ids->parent_id, 8);
    bool root = all_zero(rec->ids->parent_id, 8);
    int n = snprintf(out, size,
                     "{\"ts\":%llu.%06llu,\"kind\":\"%s\",\"trace_id\":\"%s\",\"span_id\":\"%s\","
                     "\"parent_id\":%s%s%s,\"service\":",
                     (unsigned long long)(rec->start_unix_us / 1000000),
                     (unsigned long long)(rec->start_unix_us % 1000000), rec->kind, trace, span,
                     root ? "" : "\"", root ? "null" : parent, root ? "" : "\"");
    if (n < 0 || (size_t)n >= size)
        return 0;
    size_t len = (size_t)n;
    if (!put_string(out, size, &len, rec->service))
        return 0;
    n = snprintf(out + len, size - len, ",\"worker\":%u", rec->worker);
    if (n < 0 || (size_t)n >= size - len)
        return 0;
    len += (size_t)n;
    if (rec->dependency) {
        if (len + 14 >= size)
            return 0;
        memcpy(out + len, ",\"dependency\":", 14);
        len += 14;
        if (!put_string(out, size, &len, rec->dependency))
            return 0;
    }
    if (len + 7 >= size)
        return 0;
    memcpy(out + len, ",\"api\":", 7);
    len += 7;
    if (!put_string(out, size, &len, rec->api))
        return 0;
    n = snprintf(out + len, size - len, ",\"status\":%d,\"duration_us\":%.1f", rec->status,
                 (double)rec->duration_ns / 1e3);
    if (n < 0 || (size_t)n >= size - len)
        return 0;
    len += (size_t)n;
    if (!rec->dependency) {
        n = snprintf(out + len, size - len, ",\"queue_us\":%.1f", (double)rec->queue_ns / 1e3);
        if (n < 0 || (size_t)n >= size - len)
            return 0;
        len += (size_t)n;
    }
    if (len + 2 >= size)
        return 0;
    out[len++] = '}';
    out[len++] = '\n';
    out[len] = '\0';
    return len;
}

int tfn__access_log_open(const char *path)
{
    if (strcmp(path, "-") == 0)
        return fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

void tfn__access_log_write(int fd, const char *line, size_t len)
{
    /* O_APPEND (or a pipe, for lines under PIPE_BUF): one write is one line, whole. */
    while (len) {
        ssize_t n = write(fd, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* a full disk or a closed pipe loses lines, never requests */
        line += n;
        len -= (size_t)n;
    }
}
