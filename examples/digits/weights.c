/*
 * weights.c — parsing and printing the soft-vote weights (weights.h).
 */
#include "weights.h"

#include "err.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plain decimal number: digits, at most one '.', at least one digit (no sign, exponent, inf
 * or nan: strtod alone would take all of those, and depends on the locale's decimal point). */
static bool parse_decimal(const char *s, size_t len, double *out)
{
    size_t digits = 0, dots = 0;
    if (len == 0 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (isdigit((unsigned char)s[i]))
            digits++;
        else if (s[i] == '.')
            dots++;
        else
            return false;
    }
    if (!digits || dots > 1)
        return false;
    /* Scale by hand so that the locale never matters: integer part, then the fraction. */
    double v = 0, frac = 0.1;
    bool after = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.')
            after = true;
        else if (!after)
            v = v * 10 + (s[i] - '0');
        else {
            v += (s[i] - '0') * frac;
            frac /= 10;
        }
    }
    *out = v;
    return isfinite(v);
}

static const char *trim(const char *s, const char *end, const char **trimmed_end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *trimmed_end = end;
    return s;
}

int digits_weights_parse(const char *text, double w[DIGITS_KINDS], char *err, size_t errlen)
{
    double out[DIGITS_KINDS];
    bool seen[DIGITS_KINDS] = {false};
    for (int k = 0; k < DIGITS_KINDS; k++)
        out[k] = 1;
    const char *p = text;
    while (*p) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p), *item_end;
        const char *item = trim(p, end, &item_end);
        const char *eq = memchr(item, '=', (size_t)(item_end - item));
        if (item == item_end) {
            set_err(err, errlen, "empty item in '%s' (want NAME=WEIGHT,...)", text);
            return -1;
        }
        if (!eq) {
            set_err(err, errlen, "'%.*s' is not NAME=WEIGHT", (int)(item_end - item), item);
            return -1;
        }
        const char *name_end, *value_end;
        const char *name = trim(item, eq, &name_end), *value = trim(eq + 1, item_end, &value_end);
        char key[32];
        size_t klen = (size_t)(name_end - name);
        digits_kind_t kind;
        if (klen >= sizeof key ||
            (memcpy(key, name, klen), key[klen] = 0, digits_kind_from_name(key, &kind) < 0)) {
            set_err(err, errlen, "unknown model '%.*s' (%s, %s, %s, %s)", (int)klen, name,
                    digits_kind_name(0), digits_kind_name(1), digits_kind_name(2),
                    digits_kind_name(3));
            return -1;
        }
        if (seen[kind]) {
            set_err(err, errlen, "model '%s' named twice", key);
            return -1;
        }
        seen[kind] = true;
        if (!parse_decimal(value, (size_t)(value_end - value), &out[kind])) {
            set_err(err, errlen, "weight of '%s' is '%.*s', not a number >= 0", key,
                    (int)(value_end - value), value);
            return -1;
        }
        p = comma ? comma + 1 : end;
        if (comma && !*p) {
            set_err(err, errlen, "empty item in '%s' (want NAME=WEIGHT,...)", text);
            return -1;
        }
    }
    double total = 0;
    for (int k = 0; k < DIGITS_KINDS; k++)
        total += out[k];
    if (total <= 0) {
        set_err(err, errlen, "the weights are all 0");
        return -1;
    }
    memcpy(w, out, sizeof out);
    return 0;
}

int digits_weights_format(const double w[DIGITS_KINDS], char *buf, size_t len)
{
    return snprintf(buf, len, "%s=%g,%s=%g,%s=%g,%s=%g", digits_kind_name(0), w[0],
                    digits_kind_name(1), w[1], digits_kind_name(2), w[2], digits_kind_name(3),
                    w[3]);
}
