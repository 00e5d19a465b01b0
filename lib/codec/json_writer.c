/*
 * json_writer.c — the pretty-printing JSON writer of generated documents (json_writer_internal.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "codec/json_writer_internal.h"
#include "tiffin.h"

void tfn__jw_raw(tfn__jw_t *w, const void *data, size_t len)
{
    if (w->rc == 0 && len > 0)
        w->rc = tfn__buf_append(w->out, data, len);
}

static void put(tfn__jw_t *w, const char *s) { tfn__jw_raw(w, s, strlen(s)); }

static void newline(tfn__jw_t *w)
{
#define SPACES16 "                "
    static const char spaces[] = SPACES16 SPACES16 SPACES16 SPACES16 SPACES16;
#undef SPACES16
    _Static_assert(sizeof spaces - 1 >= 2 * TFN__JW_MAX_DEPTH, "indentation for every depth");
    tfn__jw_raw(w, "\n", 1);
    tfn__jw_raw(w, spaces, 2 * (size_t)w->depth);
}

/*
 * Length of the valid UTF-8 sequence that starts at `s` (1 to 4), or 0 when the bytes there are
 * not valid UTF-8 (stray continuation bytes, overlong forms, surrogates, code points past
 * U+10FFFF, truncated sequences). `s` is NUL-terminated: a NUL fails the continuation test, and
 * the tests short-circuit, so nothing past the terminator is read.
 */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
            return 0; /* overlong, or a UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
            return 0; /* overlong, or past U+10FFFF */
        return 4;
    }
    return 0;
}

/* Appends the JSON-escaped text of `s` (without quotes). NULL is treated as "". */
static void put_escaped(tfn__jw_t *w, const char *s)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s, *run = p;
    while (*p) {
        size_t n = utf8_len(p);
        char esc[8];
        if (n == 0)
            snprintf(esc, sizeof esc, "\\ufffd");
        else if (*p == '"' || *p == '\\')
            snprintf(esc, sizeof esc, "\\%c", *p);
        else if (*p == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (*p == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (*p == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (*p < 0x20)
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*p);
        else {
            p += n;
            continue;
        }
        tfn__jw_raw(w, run, (size_t)(p - run));
        put(w, esc);
        p += n ? n : 1;
        run = p;
    }
    tfn__jw_raw(w, run, (size_t)(p - run));
}

/* Called before every value: separates array elements (object members are separated by key). */
static void value_begin(tfn__jw_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->more[w->depth])
            put(w, ",");
        w->more[w->depth] = true;
        newline(w);
    }
}

static void open_container(tfn__jw_t *w, const char *bracket)
{
    value_begin(w);
    put(w, bracket);
    if (w->depth + 1 >= TFN__JW_MAX_DEPTH) {
        if (w->rc == 0)
            w->rc = TFN_EINVAL; /* cannot happen with ndim <= TFN_MAX_DIMS; checked anyway */
        return;
    }
    w->depth++;
    w->more[w->depth] = false;
}

static void close_container(tfn__jw_t *w, const char *bracket)
{
    bool had_members = w->more[w->depth];
    if (w->depth > 0)
        w->depth--;
    if (had_members)
        newline(w);
    put(w, bracket);
}

void tfn__jw_begin_object(tfn__jw_t *w) { open_container(w, "{"); }
void tfn__jw_end_object(tfn__jw_t *w) { close_container(w, "}"); }
void tfn__jw_begin_array(tfn__jw_t *w) { open_container(w, "["); }
void tfn__jw_end_array(tfn__jw_t *w) { close_container(w, "]"); }

/* A member's key made of two parts ("/" and an API name); `suffix` may be NULL. */
void tfn__jw_key2(tfn__jw_t *w, const char *prefix, const char *suffix)
{
    if (w->more[w->depth])
        put(w, ",");
    w->more[w->depth] = true;
    newline(w);
    put(w, "\"");
    put_escaped(w, prefix);
    put_escaped(w, suffix);
    put(w, "\": ");
    w->after_key = true;
}

void tfn__jw_key(tfn__jw_t *w, const char *name) { tfn__jw_key2(w, name, NULL); }

/* A string value written in parts: string_begin, string_part..., string_end. */
void tfn__jw_string_begin(tfn__jw_t *w)
{
    value_begin(w);
    put(w, "\"");
}
void tfn__jw_string_part(tfn__jw_t *w, const char *s) { put_escaped(w, s); }
void tfn__jw_string_end(tfn__jw_t *w) { put(w, "\""); }

void tfn__jw_string(tfn__jw_t *w, const char *s)
{
    tfn__jw_string_begin(w);
    tfn__jw_string_part(w, s);
    tfn__jw_string_end(w);
}

/* A literal: true, false, null, or a number already formatted. */
void tfn__jw_literal(tfn__jw_t *w, const char *literal)
{
    value_begin(w);
    put(w, literal);
}

void tfn__jw_int(tfn__jw_t *w, long long v)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", v);
    tfn__jw_literal(w, text);
}

void tfn__jw_member_string(tfn__jw_t *w, const char *name, const char *s)
{
    tfn__jw_key(w, name);
    tfn__jw_string(w, s);
}

void tfn__jw_member_literal(tfn__jw_t *w, const char *name, const char *literal)
{
    tfn__jw_key(w, name);
    tfn__jw_literal(w, literal);
}

void tfn__jw_member_int(tfn__jw_t *w, const char *name, long long v)
{
    tfn__jw_key(w, name);
    tfn__jw_int(w, v);
}
