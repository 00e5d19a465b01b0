/*
 * wordpiece.c — BERT uncased WordPiece over libutf8proc (wordpiece.h says what it does).
 *
 * Sections: the vocabulary (an open-addressing hash table of the token strings); character
 * classes; encoding.
 */
#include "wordpiece.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "err.h"

/* ---------------------------------------------------------------------------------------------
 * The vocabulary
 * ------------------------------------------------------------------------------------------- */

struct ds_vocab {
    char *text;     /* every token, NUL-terminated, one after the other */
    char **tokens;  /* [size]: id -> token (into text) */
    uint32_t *lens; /* [size]: byte length of each token */
    size_t size;
    int32_t *slots; /* [cap]: hash table of ids, -1 = empty */
    size_t cap;     /* a power of two, at least twice size */
    ds_special_ids_t special;
};

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int32_t ds_vocab_id(const ds_vocab_t *v, const char *token, size_t len)
{
    for (size_t i = hash(token, len) & (v->cap - 1);; i = (i + 1) & (v->cap - 1)) {
        int32_t id = v->slots[i];
        if (id < 0)
            return -1;
        if (v->lens[id] == len && memcmp(v->tokens[id], token, len) == 0)
            return id;
    }
}

void ds_vocab_free(ds_vocab_t *v)
{
    if (!v)
        return;
    free(v->text);
    free(v->tokens);
    free(v->lens);
    free(v->slots);
    free(v);
}

ds_vocab_t *ds_vocab_parse(const char *data, size_t len, char *err, size_t errlen)
{
    if (len > 64u * 1024 * 1024) {
        ds_set_err(err, errlen, "vocabulary of %zu bytes is too large", len);
        return NULL;
    }
    ds_vocab_t *v = calloc(1, sizeof *v);
    if (!v || !(v->text = malloc(len + 1)))
        goto nomem;
    memcpy(v->text, data, len);
    v->text[len] = 0;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    lines += len > 0 && data[len - 1] != '\n';
    if (lines == 0 || lines > INT32_MAX / 4) {
        ds_set_err(err, errlen, "vocabulary has %zu lines", lines);
        ds_vocab_free(v);
        return NULL;
    }
    v->tokens = malloc(lines * sizeof *v->tokens);
    v->lens = malloc(lines * sizeof *v->lens);
    for (v->cap = 64; v->cap < 2 * lines; v->cap *= 2) {
    }
    v->slots = malloc(v->cap * sizeof *v->slots);
    if (!v->tokens || !v->lens || !v->slots)
        goto nomem;
    memset(v->slots, 0xff, v->cap * sizeof *v->slots);
    char *p = v->text, *end = v->text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        char *e = line_end; /* trailing white space is not part of the token (as HF reads it) */
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        *e = 0;
        int32_t id = (int32_t)v->size++;
        v->tokens[id] = p;
        v->lens[id] = (uint32_t)(e - p);
        /* A duplicate keeps its first id in lookups, as a later id would be unreachable anyway. */
        size_t i = hash(p, v->lens[id]) & (v->cap - 1);
        for (; v->slots[i] >= 0; i = (i + 1) & (v->cap - 1))
            if (v->lens[v->slots[i]] == v->lens[id] &&
                memcmp(v->tokens[v->slots[i]], p, v->lens[id]) == 0)
                break;
        if (v->slots[i] < 0)
            v->slots[i] = id;
        p = line_end + 1;
    }
    static const char *const names[4] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
    int32_t ids[4];
    for (int i = 0; i < 4; i++)
        if ((ids[i] = ds_vocab_id(v, names[i], strlen(names[i]))) < 0) {
            ds_set_err(err, errlen, "vocabulary has no %s token", names[i]);
            ds_vocab_free(v);
            return NULL;
        }
    v->special = (ds_special_ids_t){.pad = ids[0], .unk = ids[1], .cls = ids[2], .sep = ids[3]};
    return v;
nomem:
    ds_set_err(err, errlen, "out of memory");
    ds_vocab_free(v);
    return NULL;
}

ds_vocab_t *ds_vocab_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ds_set_err(err, errlen, "%s: cannot open", path);
        return NULL;
    }
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            char *bigger =
                cap < 64u * 1024 * 1024 ? realloc(data, cap = cap ? 2 * cap : 1 << 16) : NULL;
            if (!bigger) {
                free(data);
                fclose(f);
                ds_set_err(err, errlen, "%s: too large or out of memory", path);
                return NULL;
            }
            data = bigger;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    ds_vocab_t *v = NULL;
    if (bad)
        ds_set_err(err, errlen, "%s: read error", path);
    else if (!(v = ds_vocab_parse(data, len, err, errlen)) && err && errlen) {
        char why[200];
        snprintf(why, sizeof why, "%s", err);
        ds_set_err(err, errlen, "%s: %s", path, why);
    }
    free(data);
    return v;
}

size_t ds_vocab_size(const ds_vocab_t *v) { return v->size; }

const char *ds_vocab_token(const ds_vocab_t *v, int32_t id)
{
    return id >= 0 && (size_t)id < v->size ? v->tokens[id] : NULL;
}

ds_special_ids_t ds_vocab_special(const ds_vocab_t *v) { return v->special; }

/* ---------------------------------------------------------------------------------------------
 * Character classes, as tokenizers' BertNormalizer and BertPreTokenizer define them
 * ------------------------------------------------------------------------------------------- */

/* Rust's char::is_whitespace (the Unicode White_Space property). */
static bool is_whitespace(int32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* Category C* (control, format, surrogate, private use, unassigned), except tab, LF, CR. */
static bool is_control(int32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return false;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_CN || cat >= UTF8PROC_CATEGORY_CC;
}

static bool is_chinese(int32_t c)
{
    return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
           (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2b73f) ||
           (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b820 && c <= 0x2ceaf) ||
           (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

static bool is_punctuation(int32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return true;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* ---------------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------------- */

typedef struct encoder {
    const ds_vocab_t *v;
    int64_t *ids;
    size_t n, max; /* pieces so far; room for pieces (max_len - 2) */
    char *scratch; /* "##" + the longest word, in UTF-8 */
} encoder_t;

static void emit(encoder_t *e, int32_t id)
{
    if (e->n < e->max)
        e->ids[e->n++] = id;
}

/* WordPiece of one word: `chars` codepoints, UTF-8 in word[0..len) with offs[i] the byte offset
 * of character i (offs[chars] = len). */
static void wordpiece(encoder_t *e, const char *word, size_t len, const size_t *offs, size_t chars)
{
    if (chars > DS_WORD_MAX_CHARS) {
        emit(e, e->v->special.unk);
        return;
    }
    int32_t pieces[DS_WORD_MAX_CHARS];
    size_t npieces = 0, start = 0;
    memcpy(e->scratch, "##", 2);
    while (start < chars) {
        int32_t found = -1;
        size_t end = chars;
        for (; end > start; end--) {
            size_t from = offs[start], n = offs[end] - from;
            if (start == 0) {
                found = ds_vocab_id(e->v, word + from, n);
            } else {
                memcpy(e->scratch + 2, word + from, n);
                found = ds_vocab_id(e->v, e->scratch, n + 2);
            }
            if (found >= 0)
                break;
        }
        if (found < 0) { /* the whole word is unknown */
            emit(e, e->v->special.unk);
            return;
        }
        pieces[npieces++] = found;
        start = end;
    }
    (void)len;
    for (size_t i = 0; i < npieces; i++)
        emit(e, pieces[i]);
}

int ds_wordpiece_encode(const ds_vocab_t *v, const char *text, size_t len, size_t max_len,
                        int64_t *ids, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    if (max_len < 2) {
        ds_set_err(err, errlen, "max_len is %zu: it must be 2 or more", max_len);
        return -1;
    }
    if (len > DS_TEXT_MAX_BYTES) {
        ds_set_err(err, errlen, "text of %zu bytes is longer than %d", len, DS_TEXT_MAX_BYTES);
        return -1;
    }
    /* 1-2: clean and space out CJK, into UTF-8 (each character grows to at most 6 bytes). */
    unsigned char *clean = malloc(len * 6 + 1);
    int32_t *cps = NULL;
    char *word = NULL, *scratch = NULL;
    size_t *offs = NULL;
    int rc = -1;
    if (!clean)
        goto nomem;
    size_t cl = 0;
    for (size_t i = 0; i < len;) {
        int32_t c;
        utf8proc_ssize_t step =
            utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
        if (step < 0) {
            ds_set_err(err, errlen, "text is not valid UTF-8 (at byte %zu)", i);
            goto out;
        }
        i += (size_t)step;
        if (c == 0 || c == 0xfffd || is_control(c))
            continue;
        if (is_whitespace(c)) {
            clean[cl++] = ' ';
        } else if (is_chinese(c)) {
            clean[cl++] = ' ';
            cl += (size_t)utf8proc_encode_char(c, clean + cl);
            clean[cl++] = ' ';
        } else {
            cl += (size_t)utf8proc_encode_char(c, clean + cl);
        }
    }
    /* 3: NFD (with canonical ordering), then drop nonspacing marks; 4: lowercase. */
    utf8proc_ssize_t ncp = 0;
    if (cl > 0) {
        utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
        ncp = utf8proc_decompose(clean, (utf8proc_ssize_t)cl, NULL, 0, opt);
        if (ncp < 0 || !(cps = malloc((size_t)ncp * sizeof *cps + 1)))
            goto nomem;
        if (utf8proc_decompose(clean, (utf8proc_ssize_t)cl, cps, ncp, opt) != ncp)
            goto nomem;
    }
    size_t m = 0;
    for (utf8proc_ssize_t i = 0; i < ncp; i++)
        if (utf8proc_category(cps[i]) != UTF8PROC_CATEGORY_MN)
            cps[m++] = utf8proc_tolower(cps[i]);

    /* 5-6: words at white space, punctuation on its own; WordPiece each. */
    word = malloc(m * 4 + 1);
    scratch = malloc(m * 4 + 3);
    offs = malloc((m + 1) * sizeof *offs);
    if (!word || !scratch || !offs)
        goto nomem;
    encoder_t e = {.v = v, .ids = ids + 1, .max = max_len - 2, .scratch = scratch};
    size_t wlen = 0, wchars = 0;
    for (size_t i = 0; i <= m && e.n < e.max; i++) {
        int32_t c = i < m ? cps[i] : ' ';
        bool space = is_whitespace(c), punct = !space && is_punctuation(c);
        if ((space || punct) && wchars > 0) {
            offs[wchars] = wlen;
            wordpiece(&e, word, wlen, offs, wchars);
            wlen = wchars = 0;
        }
        if (space)
            continue;
        offs[wchars++] = wlen;
        wlen += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)word + wlen);
        if (punct) {
            offs[wchars] = wlen;
            wordpiece(&e, word, wlen, offs, wchars);
            wlen = wchars = 0;
        }
    }
    /* 7: frame. */
    ids[0] = v->special.cls;
    ids[e.n + 1] = v->special.sep;
    *n = e.n + 2;
    rc = 0;
    goto out;
nomem:
    ds_set_err(err, errlen, "out of memory");
out:
    free(clean);
    free(cps);
    free(word);
    free(scratch);
    free(offs);
    return rc;
}
