/*
 * json_bench.c — JSON library candidates for Tiffin: jansson vs cJSON, and Tiffin's own codec path.
 *
 * Two documents, each parsed and written back (compact) many times:
 *   - tensor: {"x": [[...64 floats...] x 64]}, float32 values in [-1, 1) written with %.9g
 *     (the form a client that round-trips float32 sends); about 55 KB.
 *   - small:  a 10-member object of strings, ints, floats, bools, null and a short list.
 *
 * Rows:
 *   jansson   json_loadb (Tiffin's flags) + json_dumpb(JSON_COMPACT); reals are written %.17g.
 *   cJSON     cJSON_ParseWithLength + cJSON_PrintUnformatted; reals %.15g, else %.17g.
 *   tiffin    tfn__json_decode (jansson, then arena values) + tfn__validate_input (the nested lists
 *             become a float32 [64, 64] tensor) + tfn__json_encode (Tiffin's writer: float32
 *             elements in the shortest text that reads back as the same float). This is what a
 *             request and its response cost in lib/json.c + lib/validate.c. Built only when
 *             build/libtiffin.a exists (-DWITH_TIFFIN).
 * Columns: µs per parse, µs per dump, the size of the dumped text, and whether every float32
 * element of the tensor reads back (parse the dump with strtod, round to float) bit for bit.
 * Each time is the median of RUNS runs.
 *
 * Build and run: bench/json-candidates/run.sh (after `make all`).
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef WITH_TIFFIN
#include "codec/codec_internal.h"
#include "core/value_internal.h"
#endif

#define RUNS 7
#define N    64

static float tensor_values[N * N];

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static char *make_tensor_doc(size_t *len)
{
    uint64_t s = 0x9E3779B97F4A7C15u;
    size_t cap = N * N * 24 + 64, n = 0;
    char *t = malloc(cap);
    n += (size_t)sprintf(t + n, "{\"x\": [");
    for (int i = 0; i < N; i++) {
        n += (size_t)sprintf(t + n, "%s[", i ? ", " : "");
        for (int j = 0; j < N; j++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            float f = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
            tensor_values[i * N + j] = f;
            n += (size_t)sprintf(t + n, "%s%.9g", j ? ", " : "", f);
        }
        n += (size_t)sprintf(t + n, "]");
    }
    n += (size_t)sprintf(t + n, "]}");
    *len = n;
    return t;
}

static const char SMALL[] =
    "{\"name\": \"Ada Lovelace\", \"id\": 1815, \"score\": 0.875, \"ratio\": 3.14159, "
    "\"active\": true, \"deleted\": false, \"parent\": null, \"tags\": [\"math\", \"engines\"], "
    "\"counts\": [1, 2, 3, 5, 8], \"note\": \"caf\\u00e9 \\\"quoted\\\"\"}";

/* Does every number of the dumped tensor read back as the original float32? */
static int tensor_roundtrips(const char *text)
{
    const char *p = strchr(text, '[');
    int k = 0;
    while (p && *p && k < N * N) {
        while (*p && !(*p == '-' || (*p >= '0' && *p <= '9')))
            p++;
        if (!*p)
            break;
        char *end;
        double d = strtod(p, &end);
        if ((float)d != tensor_values[k] || strtof(p, NULL) != tensor_values[k])
            return 0;
        k++;
        p = end;
    }
    return k == N * N;
}

typedef struct result {
    double parse_us, dump_us;
    size_t out_len;
    int roundtrip;
} result_t;

/* ---- jansson ---------------------------------------------------------------------------------- */

static result_t bench_jansson(const char *text, size_t len, int iters, int is_tensor)
{
    double p[RUNS], d[RUNS];
    result_t r = {0};
    for (int run = 0; run < RUNS; run++) {
        json_t *docs[64];
        double t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
            if (!j)
                abort();
            if (i < 64)
                docs[i] = j;
            else
                json_decref(j);
        }
        double t1 = now_ns();
        json_t *j = docs[0];
        double t2 = now_ns();
        for (int i = 0; i < iters; i++) {
            char *s = json_dumps(j, JSON_COMPACT);
            if (!s)
                abort();
            if (i == 0) {
                r.out_len = strlen(s);
                if (is_tensor)
                    r.roundtrip = tensor_roundtrips(s);
            }
            free(s);
        }
        double t3 = now_ns();
        for (int i = 0; i < (iters < 64 ? iters : 64); i++)
            json_decref(docs[i]);
        p[run] = (t1 - t0) / iters / 1e3;
        d[run] = (t3 - t2) / iters / 1e3;
    }
    r.parse_us = median(p, RUNS);
    r.dump_us = median(d, RUNS);
    return r;
}

/* ---- cJSON ------------------------------------------------------------------------------------ */

static result_t bench_cjson(const char *text, size_t len, int iters, int is_tensor)
{
    double p[RUNS], d[RUNS];
    result_t r = {0};
    for (int run = 0; run < RUNS; run++) {
        cJSON *keep = NULL;
        double t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            cJSON *j = cJSON_ParseWithLength(text, len);
            if (!j)
                abort();
            if (!keep)
                keep = j;
            else
                cJSON_Delete(j);
        }
        double t1 = now_ns();
        for (int i = 0; i < iters; i++) {
            char *s = cJSON_PrintUnformatted(keep);
            if (!s)
                abort();
            if (i == 0) {
                r.out_len = strlen(s);
                if (is_tensor)
                    r.roundtrip = tensor_roundtrips(s);
            }
            cJSON_free(s);
        }
        double t2 = now_ns();
        cJSON_Delete(keep);
        p[run] = (t1 - t0) / iters / 1e3;
        d[run] = (t2 - t1) / iters / 1e3;
    }
    r.parse_us = median(p, RUNS);
    r.dump_us = median(d, RUNS);
    return r;
}

/* ---- tiffin ----------------------------------------------------------------------------------- */

#ifdef WITH_TIFFIN
static const tfn_field_t tensor_fields[] = {
    {.name = "x", .type = TFN_TYPE_TENSOR, .dtype = TFN_DTYPE_F32, .ndim = 2, .shape = {N, N}},
    {0}};

/* Parse = decode + validate (the request side); dump = encode (the response side). */
static result_t bench_tiffin(const char *text, size_t len, int iters, int is_tensor)
{
    double p[RUNS], d[RUNS];
    result_t r = {0};
    for (int run = 0; run < RUNS; run++) {
        tfn_arena_t *keep = NULL;
        const tfn_value_t *kept = NULL;
        double t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            tfn_arena_t *a = tfn_arena_new(0);
            tfn_value_t *v;
            const tfn_value_t *in = NULL;
            tfn_error_t err;
            if (tfn__json_decode(a, text, len, &v, &err))
                abort();
            if (is_tensor) {
                if (tfn__validate_input(a, tensor_fields, v, &in, &err))
                    abort();
            } else {
                in = v;
            }
            if (!keep) {
                keep = a;
                kept = in;
            } else {
                tfn_arena_free(a);
            }
        }
        double t1 = now_ns();
        for (int i = 0; i < iters; i++) {
            tfn__buf_t b;
            tfn__buf_init(&b, (size_t)1 << 30);
            if (tfn__json_encode(kept, &b))
                abort();
            if (i == 0) {
                r.out_len = b.len;
                if (is_tensor)
                    r.roundtrip = tensor_roundtrips(b.data);
            }
            tfn__buf_free(&b);
        }
        double t2 = now_ns();
        tfn_arena_free(keep);
        p[run] = (t1 - t0) / iters / 1e3;
        d[run] = (t2 - t1) / iters / 1e3;
    }
    r.parse_us = median(p, RUNS);
    r.dump_us = median(d, RUNS);
    return r;
}
#endif

static void row(const char *lib, const char *doc, size_t in_len, result_t r, int is_tensor)
{
    printf("%-8s  %-6s  %8zu  %9.2f  %8.2f  %9zu  %s\n", lib, doc, in_len, r.parse_us, r.dump_us,
           r.out_len, is_tensor ? (r.roundtrip ? "yes" : "NO") : "-");
}

int main(void)
{
    size_t tlen, slen = strlen(SMALL);
    char *tensor = make_tensor_doc(&tlen);
    printf("# JSON candidates: parse and compact dump, median of %d runs; jansson %s, cJSON %s\n",
           RUNS, JANSSON_VERSION, cJSON_Version());
    printf("%-8s  %-6s  %8s  %9s  %8s  %9s  %s\n", "library", "doc", "in_bytes", "parse_us",
           "dump_us", "out_bytes", "f32_roundtrip");
    row("jansson", "tensor", tlen, bench_jansson(tensor, tlen, 200, 1), 1);
    row("cJSON", "tensor", tlen, bench_cjson(tensor, tlen, 200, 1), 1);
#ifdef WITH_TIFFIN
    row("tiffin", "tensor", tlen, bench_tiffin(tensor, tlen, 200, 1), 1);
#endif
    row("jansson", "small", slen, bench_jansson(SMALL, slen, 100000, 0), 0);
    row("cJSON", "small", slen, bench_cjson(SMALL, slen, 100000, 0), 0);
#ifdef WITH_TIFFIN
    row("tiffin", "small", slen, bench_tiffin(SMALL, slen, 100000, 0), 0);
#endif
    printf("# tiffin = jansson parse -> arena values (+ validation into a float32 tensor for the\n"
           "#   tensor doc) and Tiffin's own writer (lib/json.c); it is the codec path of a request.\n");
    free(tensor);
    return 0;
}
