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

/* The value of each lowercase hex digit, X (0x10) for every other byte (the spec allows
 * lowercase only): one load a character, and one test for a whole id (OR of the values). */
#define X 0x10
// clang-format off
static const uint8_t hex_values[256] = {
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X, 10, 11, 12, 13, 14, 15,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
     X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
};
// clang-format on
#undef X

/* Decodes 2n lowercase hex characters into n bytes; false if any is not one. Branch-free in the
 * loop: this runs for every request that carries a traceparent. */
static bool unhex(const char *s, uint8_t *out, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned hi = hex_values[u[2 * i]], lo = hex_values[u[2 * i + 1]];
        bad |= hi | lo;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return bad < 0x10;
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

/* "000102...ff": two characters a byte, one copy each. */
static const char hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

static void put_hex(char *out, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        memcpy(out + 2 * i, hex_pairs + 2 * bytes[i], 2);
}

void tfn__hex(char *out, const uint8_t *bytes, size_t n)
{
    put_hex(out, bytes, n);
    out[2 * n] = '\0';
}

/* Eight bytes as 16 hex characters, unrolled: a table load and a two-byte store a byte (the
 * loop above costs three times that; this runs for every call and answer). */
static void hex8(char *out, const uint8_t *b)
{
#define PAIR(i) memcpy(out + 2 * (i), hex_pairs + 2 * (size_t)b[i], 2)
    PAIR(0);
    PAIR(1);
    PAIR(2);
    PAIR(3);
    PAIR(4);
    PAIR(5);
    PAIR(6);
    PAIR(7);
#undef PAIR
}

void tfn__traceparent_format(char out[TFN__TRACEPARENT_LEN + 1], const tfn__trace_ids_t *ids)
{
    memcpy(out, "00-", 3);
    hex8(out + 3, ids->trace_id);
    hex8(out + 19, ids->trace_id + 8);
    out[35] = '-';
    hex8(out + 36, ids->span_id);
    out[52] = '-';
    put_hex(out + 53, &ids->flags, 1);
    out[55] = '\0';
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
    if (n == 8) { /* a span id: one draw (xorshift64* never yields 0 from a non-zero state) */
        uint64_t r = next_random();
        memcpy(out, &r, 8);
        return;
    }
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
