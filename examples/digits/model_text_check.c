/*
 * model_text_check.c — checks of liblinear's and libsvm's text model files before either library
 * reads them (models_internal.h): both loaders trust their input, so models.c's loaders hand them
 * only files that passed these checks.
 */
#include "models_internal.h"

#include "err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Text-format checks for liblinear and libsvm files
 *
 * A small cursor over the NUL-terminated file. Numbers are checked by syntax, not strtod, so the
 * check does not depend on the locale; the syntax admits only finite values (at most 40 digits,
 * exponent at most 300), which is what both libraries write with "%.17g".
 * ------------------------------------------------------------------------------------------- */

typedef struct text {
    const char *p;
    const char *path;
    const char *format; /* "liblinear model", "libsvm model" */
    char *err;
    size_t errlen;
} text_t;

static int text_fail(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int text_fail(text_t *t, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    set_err(t->err, t->errlen, "%s: not a valid %s: %s", t->path, t->format, why);
    return -1;
}

static void skip_blanks(text_t *t) /* spaces and tabs, not newlines */
{
    while (*t->p == ' ' || *t->p == '\t')
        t->p++;
}

static void skip_space(text_t *t)
{
    while (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r')
        t->p++;
}

/* The next whitespace-separated word into buf (cut to fit; bytes other than printable ASCII
 * become '?', so that messages stay text); "" at the end of the file. */
static void next_word(text_t *t, char *buf, size_t size)
{
    skip_space(t);
    size_t n = 0;
    while (*t->p && *t->p != ' ' && *t->p != '\t' && *t->p != '\n' && *t->p != '\r') {
        unsigned char c = (unsigned char)*t->p++;
        if (n + 1 < size)
            buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    buf[n] = 0;
}

static int expect_word(text_t *t, const char *want)
{
    char w[24];
    next_word(t, w, sizeof w);
    if (strcmp(w, want) != 0)
        return text_fail(t, *w ? "expected '%s', found '%s'" : "expected '%s', found the end%s",
                         want, w);
    return 0;
}

/* A finite decimal number, per the syntax above; advances past it. */
static bool scan_number(const char **pp)
{
    const char *p = *pp;
    int digits = 0;
    if (*p == '+' || *p == '-')
        p++;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (digits == 0 || digits > 40)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        int exp = 0, edigits = 0;
        while (*p >= '0' && *p <= '9') {
            exp = exp * 10 + (*p++ - '0');
            if (++edigits > 3)
                return false;
        }
        if (edigits == 0 || exp > 300)
            return false;
    }
    *pp = p;
    return true;
}

static bool at_word_end(const char *p)
{
    return *p == 0 || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
}

static int expect_number(text_t *t, const char *what)
{
    skip_space(t);
    if (!*t->p)
        return text_fail(t, "truncated: the file ends in %s", what);
    if (!scan_number(&t->p) || !at_word_end(t->p))
        return text_fail(t, "bad number in %s", what);
    return 0;
}

/* A decimal integer in [lo, hi]; advances past it. */
static int expect_int(text_t *t, const char *what, long lo, long hi, long *out)
{
    skip_space(t);
    if (!*t->p)
        return text_fail(t, "truncated: the file ends in %s", what);
    const char *p = t->p;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    long v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 10)
        v = v * 10 + (*p++ - '0'), digits++;
    if (!digits || !at_word_end(p))
        return text_fail(t, "bad integer in %s", what);
    v = neg ? -v : v;
    if (v < lo || v > hi)
        return text_fail(t, "%s is %ld, expected %ld..%ld", what, v, lo, hi);
    t->p = p;
    *out = v;
    return 0;
}

static int expect_numbers(text_t *t, const char *what, long count)
{
    for (long i = 0; i < count; i++)
        if (expect_number(t, what) < 0)
            return -1;
    return 0;
}

/* The 10 labels: a permutation of 0..9. */
static int expect_labels(text_t *t)
{
    unsigned seen = 0;
    for (int i = 0; i < DIGITS_CLASSES; i++) {
        long v;
        if (expect_int(t, "label", 0, DIGITS_CLASSES - 1, &v) < 0)
            return -1;
        if (seen & (1u << v))
            return text_fail(t, "label %ld listed twice", v);
        seen |= 1u << v;
    }
    return 0;
}

/* At the end of a line: "\n" or "\r\n". */
static int expect_line_end(text_t *t, const char *what)
{
    if (*t->p == '\r')
        t->p++;
    if (*t->p != '\n')
        return text_fail(t, *t->p ? "expected a new line after %s" : "truncated after %s", what);
    t->p++;
    return 0;
}

static int expect_end(text_t *t)
{
    skip_space(t);
    if (*t->p)
        return text_fail(t, "unexpected text after the model");
    return 0;
}

/* liblinear 2.3 as save_model writes it for our models:
 *   solver_type L2R_LR / nr_class 10 / label <10> / nr_feature 64 / bias B / w / (64+[B>=0])*10 */
int digits__check_liblinear_text(const char *path, const char *data, char *err, size_t errlen)
{
    text_t t = {.p = data, .path = path, .format = "liblinear model", .err = err, .errlen = errlen};
    long v;
    char word[64];
    if (expect_word(&t, "solver_type") < 0 || expect_word(&t, "L2R_LR") < 0 ||
        expect_word(&t, "nr_class") < 0 || expect_int(&t, "nr_class", 10, 10, &v) < 0 ||
        expect_word(&t, "label") < 0 || expect_labels(&t) < 0 ||
        expect_word(&t, "nr_feature") < 0 ||
        expect_int(&t, "nr_feature", DIGITS_FEATURES, DIGITS_FEATURES, &v) < 0 ||
        expect_word(&t, "bias") < 0)
        return -1;
    skip_space(&t);
    bool has_bias = *t.p != '-';
    if (expect_number(&t, "bias") < 0)
        return -1;
    next_word(&t, word, sizeof word);
    if (strcmp(word, "w") != 0)
        return text_fail(&t, "expected 'w'");
    /* One line per feature (and the bias): 10 numbers, each followed by a space, then a new
     * line. Checking lines, not only numbers, catches a file cut inside its last number. */
    skip_blanks(&t);
    if (expect_line_end(&t, "'w'") < 0)
        return -1;
    long rows = DIGITS_FEATURES + (has_bias ? 1 : 0);
    for (long i = 0; i < rows; i++) {
        if (!*t.p)
            return text_fail(&t, "truncated: %ld of %ld weight lines", i, rows);
        for (int c = 0; c < DIGITS_CLASSES; c++) {
            skip_blanks(&t);
            if (!*t.p)
                return text_fail(&t, "truncated: the file ends in weight line %ld", i + 1);
            if (!scan_number(&t.p) || !at_word_end(t.p))
                return text_fail(&t, "weight line %ld: bad number", i + 1);
        }
        skip_blanks(&t);
        if (expect_line_end(&t, "a weight line") < 0)
            return -1;
    }
    return expect_end(&t);
}

/* libsvm 3.24 as svm_save_model writes it for our models: a header (c_svc, rbf, gamma, nr_class
 * 10, total_sv L, rho, label, probA, probB, nr_sv), "SV", then L lines of 9 coefficients and
 * index:value pairs with indexes 1..64 increasing. libsvm reads the SV section line by line, so
 * lines are checked as lines. */
int digits__check_libsvm_text(const char *path, const char *data, char *err, size_t errlen)
{
    text_t t = {.p = data, .path = path, .format = "libsvm model", .err = err, .errlen = errlen};
    const long pairs = DIGITS_CLASSES * (DIGITS_CLASSES - 1) / 2;
    long v, total_sv;
    if (expect_word(&t, "svm_type") < 0 || expect_word(&t, "c_svc") < 0 ||
        expect_word(&t, "kernel_type") < 0 || expect_word(&t, "rbf") < 0 ||
        expect_word(&t, "gamma") < 0 || expect_number(&t, "gamma") < 0 ||
        expect_word(&t, "nr_class") < 0 || expect_int(&t, "nr_class", 10, 10, &v) < 0 ||
        expect_word(&t, "total_sv") < 0 || expect_int(&t, "total_sv", 1, 1000000, &total_sv) < 0 ||
        expect_word(&t, "rho") < 0 || expect_numbers(&t, "rho", pairs) < 0 ||
        expect_word(&t, "label") < 0 || expect_labels(&t) < 0)
        return -1;
    if (expect_word(&t, "probA") < 0 || expect_numbers(&t, "probA", pairs) < 0 ||
        expect_word(&t, "probB") < 0 || expect_numbers(&t, "probB", pairs) < 0 ||
        expect_word(&t, "nr_sv") < 0)
        return -1;
    long sum = 0;
    for (int i = 0; i < DIGITS_CLASSES; i++) {
        if (expect_int(&t, "nr_sv", 0, total_sv, &v) < 0)
            return -1;
        sum += v;
    }
    if (sum != total_sv)
        return text_fail(&t, "nr_sv adds up to %ld, total_sv is %ld", sum, total_sv);
    if (expect_word(&t, "SV") < 0)
        return -1;
    skip_blanks(&t);
    if (expect_line_end(&t, "'SV'") < 0)
        return -1;
    for (long i = 0; i < total_sv; i++) {
        if (!*t.p)
            return text_fail(&t, "truncated: %ld of %ld support vectors", i, total_sv);
        for (int k = 0; k < DIGITS_CLASSES - 1; k++) {
            skip_blanks(&t);
            if (!*t.p)
                return text_fail(&t, "truncated: the file ends in support vector %ld", i + 1);
            if (!scan_number(&t.p) || !at_word_end(t.p))
                return text_fail(&t, "support vector %ld: bad coefficient", i + 1);
        }
        long last = 0;
        for (;;) {
            skip_blanks(&t);
            if (*t.p == '\r')
                t.p++;
            if (*t.p == '\n' || !*t.p)
                break; /* a missing line end is reported below */
            long idx = 0;
            int digits = 0;
            while (*t.p >= '0' && *t.p <= '9' && digits < 4)
                idx = idx * 10 + (*t.p++ - '0'), digits++;
            if (!digits || *t.p != ':' || idx <= last || idx > DIGITS_FEATURES)
                return text_fail(&t, "support vector %ld: bad feature index", i + 1);
            t.p++;
            if (!scan_number(&t.p) || !at_word_end(t.p))
                return text_fail(&t, "support vector %ld: bad feature value", i + 1);
            last = idx;
        }
        if (*t.p != '\n')
            return text_fail(&t, "truncated: support vector %ld of %ld has no line end", i + 1,
                             total_sv);
        t.p++;
    }
    return expect_end(&t);
}
