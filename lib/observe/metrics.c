/*
 * metrics.c — the metrics region (shared or private), recording, and the Prometheus text
 * exposition (format 0.0.4). See metrics_internal.h for the design.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "observe/metrics_internal.h"
#include "tiffin.h"

#define REGION_MAGIC 0x74666e6d65747231ull /* "tfnmetr1" */

typedef struct region_head {
    uint64_t magic;
    uint32_t nslots;
    uint32_t slot_size; /* sizeof(tfn__metrics_slot_t) of whoever created it */
} region_head_t;

struct tfn__metrics_region {
    region_head_t *head;
    size_t size;
    int fd; /* shared: the memfd; -1: private */
    tfn__metrics_slot_t *slots;
};

/* Slots start on a cache line of their own. */
static size_t slots_offset(void) { return 64; }

static size_t region_size(unsigned nslots)
{
    return slots_offset() + (size_t)nslots * sizeof(tfn__metrics_slot_t);
}

static tfn__metrics_region_t *wrap(void *mem, size_t size, int fd)
{
    tfn__metrics_region_t *r = calloc(1, sizeof *r);
    if (!r) {
        munmap(mem, size);
        return NULL;
    }
    r->head = mem;
    r->size = size;
    r->fd = fd;
    r->slots = (tfn__metrics_slot_t *)((char *)mem + slots_offset());
    return r;
}

tfn__metrics_region_t *tfn__metrics_region_new(unsigned nslots, bool shared)
{
    size_t size = region_size(nslots);
    int fd = -1;
    void *mem;
    if (shared) {
        fd = memfd_create("tiffin-metrics", MFD_CLOEXEC); /* spawn dup2s it to fd 6 */
        if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    } else {
        mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (mem == MAP_FAILED) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    region_head_t *head = mem;
    head->magic = REGION_MAGIC;
    head->nslots = nslots;
    head->slot_size = (uint32_t)sizeof(tfn__metrics_slot_t);
    tfn__metrics_region_t *r = wrap(mem, size, fd);
    if (!r && fd >= 0)
        close(fd);
    return r;
}

tfn__metrics_region_t *tfn__metrics_region_map(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < slots_offset())
        return NULL;
    size_t size = (size_t)st.st_size;
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED)
        return NULL;
    const region_head_t *head = mem;
    if (head->magic != REGION_MAGIC || head->slot_size != sizeof(tfn__metrics_slot_t) ||
        region_size(head->nslots) > size) {
        munmap(mem, size);
        return NULL;
    }
    return wrap(mem, size, -1); /* the descriptor stays the caller's */
}

int tfn__metrics_region_fd(const tfn__metrics_region_t *region) { return region->fd; }

void tfn__metrics_region_free(tfn__metrics_region_t *region)
{
    if (!region)
        return;
    munmap(region->head, region->size);
    if (region->fd >= 0)
        close(region->fd);
    free(region);
}

unsigned tfn__metrics_nslots(const tfn__metrics_region_t *region) { return region->head->nslots; }

tfn__metrics_slot_t *tfn__metrics_slot(tfn__metrics_region_t *region, unsigned i)
{
    return i < region->head->nslots ? &region->slots[i] : NULL;
}

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, TFN__METRICS_NAME, "%s", src ? src : "");
}

void tfn__metrics_slot_name(tfn__metrics_slot_t *s, const char *service, unsigned worker)
{
    if (atomic_load_explicit(&s->used, memory_order_acquire))
        return;
    copy_name(s->service, service);
    s->worker = worker;
    atomic_store_explicit(&s->used, 1, memory_order_release);
}

void tfn__metrics_slot_api(tfn__metrics_slot_t *s, unsigned i, const char *name)
{
    if (i >= TFN__METRICS_MAX_APIS)
        return;
    if (atomic_load_explicit(&s->napis, memory_order_acquire) > i)
        return; /* declared by a predecessor of this worker */
    copy_name(s->apis[i].name, name);
    atomic_store_explicit(&s->napis, i + 1, memory_order_release);
}

/* ---------------------------------------------------------------------------------------------
 * Recording
 * ------------------------------------------------------------------------------------------- */

static const int codes[TFN__METRICS_NCODES - 1] = {200, 400, 404, 405, 408, 413,
                                                   415, 429, 500, 502, 503, 504};

unsigned tfn__metrics_code_index(int status)
{
    for (unsigned i = 0; i < TFN__METRICS_NCODES - 1; i++)
        if (codes[i] == status)
            return i;
    return TFN__METRICS_NCODES - 1;
}

/* Upper bounds of the latency buckets, in ns; tiffin's hops are tens of microseconds. */
static const uint64_t seconds_le_ns[TFN__METRICS_NSECONDS - 1] = {
    100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};
static const char *const seconds_le[TFN__METRICS_NSECONDS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10",   "+Inf"};
static const uint64_t sizes_le[TFN__METRICS_NSIZES - 1] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const char *const sizes_le_text[TFN__METRICS_NSIZES] = {"1",  "2",  "4",   "8",   "16",
                                                               "32", "64", "128", "256", "+Inf"};

unsigned tfn__metrics_seconds_bucket(uint64_t ns)
{
    unsigned i = 0;
    while (i < TFN__METRICS_NSECONDS - 1 && ns > seconds_le_ns[i])
        i++;
    return i;
}

tfn__metrics_call_t *tfn__metrics_call_find(tfn__metrics_slot_t *s, const char *dependency,
                                            const char *api)
{
    uint32_t n = atomic_load_explicit(&s->ncalls, memory_order_acquire);
    if (n > TFN__METRICS_MAX_CALLS)
        n = TFN__METRICS_MAX_CALLS;
    for (uint32_t i = 0; i < n; i++) {
        tfn__metrics_call_t *c = &s->calls[i];
        if (atomic_load_explicit(&c->published, memory_order_acquire) &&
            c->dependency[0] == dependency[0] && c->api[0] == api[0] && /* most differ here */
            strncmp(c->dependency, dependency, TFN__METRICS_NAME - 1) == 0 &&
            strncmp(c->api, api, TFN__METRICS_NAME - 1) == 0)
            return c;
    }
    /* A new pair. Two processes of one slot (a rolling restart) may both add it: the renderer
     * merges entries with the same names. */
    uint32_t i = atomic_fetch_add_explicit(&s->ncalls, 1, memory_order_acq_rel);
    if (i >= TFN__METRICS_MAX_CALLS) {
        atomic_store_explicit(&s->ncalls, TFN__METRICS_MAX_CALLS, memory_order_relaxed);
        return NULL;
    }
    tfn__metrics_call_t *c = &s->calls[i];
    copy_name(c->dependency, dependency);
    copy_name(c->api, api);
    atomic_store_explicit(&c->published, 1, memory_order_release);
    return c;
}

void tfn__metrics_call(tfn__metrics_call_t *c, int status, uint64_t ns)
{
    tfn__counter_add(&c->codes[tfn__metrics_code_index(status)], 1);
    tfn__counter_add(&c->latency.buckets[tfn__metrics_seconds_bucket(ns)], 1);
    tfn__counter_add(&c->latency.sum, ns);
}

void tfn__metrics_batch(tfn__metrics_slot_t *s, unsigned api, unsigned size, uint64_t wait_ns)
{
    if (api >= TFN__METRICS_MAX_APIS)
        return;
    tfn__metrics_api_t *a = &s->apis[api];
    unsigned i = 0;
    while (i < TFN__METRICS_NSIZES - 1 && size > sizes_le[i])
        i++;
    tfn__counter_add(&a->batch_size.buckets[i], 1);
    tfn__counter_add(&a->batch_size.sum, size);
    tfn__counter_add(&a->batch_wait.buckets[tfn__metrics_seconds_bucket(wait_ns)], 1);
    tfn__counter_add(&a->batch_wait.sum, wait_ns);
}

/* ---------------------------------------------------------------------------------------------
 * Rendering
 * ------------------------------------------------------------------------------------------- */

static uint64_t get(const tfn__counter_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* A label value, escaped as the text format says (backslash, double quote, newline). */
static int put_label(tfn__buf_t *out, const char *name, const char *value, bool first)
{
    int rc = tfn__buf_printf(out, "%s%s=\"", first ? "" : ",", name);
    for (const char *p = value; rc == 0 && *p; p++) {
        if (*p == '\\' || *p == '"')
            rc = tfn__buf_printf(out, "\\%c", *p);
        else if (*p == '\n')
            rc = tfn__buf_puts(out, "\\n");
        else
            rc = tfn__buf_append(out, p, 1);
    }
    return rc ? rc : tfn__buf_puts(out, "\"");
}

static int put_head(tfn__buf_t *out, const char *name, const char *type, const char *help)
{
    return tfn__buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The labels every series of a slot has: service and worker. */
static int put_slot_labels(tfn__buf_t *out, const tfn__metrics_slot_t *s)
{
    char worker[16];
    snprintf(worker, sizeof worker, "%u", s->worker);
    int rc = put_label(out, "service", s->service, true);
    return rc ? rc : put_label(out, "worker", worker, false);
}

typedef struct series {
    const tfn__metrics_slot_t *slot;
    const char *k1, *v1, *k2, *v2; /* extra labels; NULL: none */
} series_t;

static int put_labels(tfn__buf_t *out, const series_t *se)
{
    int rc = put_slot_labels(out, se->slot);
    if (!rc && se->k1)
        rc = put_label(out, se->k1, se->v1, false);
    if (!rc && se->k2)
        rc = put_label(out, se->k2, se->v2, false);
    return rc;
}

/* Counters by status code: one series per code seen. */
static int put_codes(tfn__buf_t *out, const char *name, const series_t *se, const uint64_t *n)
{
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < TFN__METRICS_NCODES; i++) {
        if (!n[i])
            continue;
        char code[16];
        snprintf(code, sizeof code, "%d", i < TFN__METRICS_NCODES - 1 ? codes[i] : 0);
        rc = tfn__buf_printf(out, "%s{", name);
        if (!rc)
            rc = put_labels(out, se);
        if (!rc)
            rc = put_label(out, "code", i < TFN__METRICS_NCODES - 1 ? code : "other", false);
        if (!rc)
            rc = tfn__buf_printf(out, "} %llu\n", (unsigned long long)n[i]);
    }
    return rc;
}

/* A histogram's _bucket (cumulative), _sum and _count series. `scale` divides the sum (1e9 for
 * nanoseconds to seconds, 1 for sizes). */
static int put_histogram(tfn__buf_t *out, const char *name, const series_t *se, const uint64_t *b,
                         unsigned nb, const char *const *le, uint64_t sum, double scale)
{
    uint64_t cumulative = 0;
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < nb; i++) {
        cumulative += b[i];
        rc = tfn__buf_printf(out, "%s_bucket{", name);
        if (!rc)
            rc = put_labels(out, se);
        if (!rc)
            rc = put_label(out, "le", le[i], false);
        if (!rc)
            rc = tfn__buf_printf(out, "} %llu\n", (unsigned long long)cumulative);
    }
    const char *suffix[2] = {"_sum", "_count"};
    for (int k = 0; rc == 0 && k < 2; k++) {
        rc = tfn__buf_printf(out, "%s%s{", name, suffix[k]);
        if (!rc)
            rc = put_labels(out, se);
        if (!rc && k == 0)
            rc = tfn__buf_printf(out, "} %.9g\n", (double)sum / scale);
        else if (!rc)
            rc = tfn__buf_printf(out, "} %llu\n", (unsigned long long)cumulative);
    }
    return rc;
}

static void read_histogram(const tfn__histogram_t *h, unsigned nb, uint64_t *b, uint64_t *sum)
{
    for (unsigned i = 0; i < nb; i++)
        b[i] += get(&h->buckets[i]);
    *sum += get(&h->sum);
}

/* The named slots; *n set. */
static unsigned used_slots(tfn__metrics_region_t *r, const tfn__metrics_slot_t **out)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->head->nslots; i++)
        if (atomic_load_explicit(&r->slots[i].used, memory_order_acquire))
            out[n++] = &r->slots[i];
    return n;
}

static unsigned napis(const tfn__metrics_slot_t *s)
{
    uint32_t n = atomic_load_explicit(&s->napis, memory_order_acquire);
    return n > TFN__METRICS_MAX_APIS ? TFN__METRICS_MAX_APIS : n;
}

static unsigned ncalls(const tfn__metrics_slot_t *s)
{
    uint32_t n = atomic_load_explicit(&s->ncalls, memory_order_acquire);
    return n > TFN__METRICS_MAX_CALLS ? TFN__METRICS_MAX_CALLS : n;
}

/* Is call entry `i` of `s` the first with its names (later duplicates are merged into it)? */
static bool call_first(const tfn__metrics_slot_t *s, unsigned i)
{
    const tfn__metrics_call_t *c = &s->calls[i];
    if (!atomic_load_explicit(&c->published, memory_order_acquire))
        return false;
    for (unsigned j = 0; j < i; j++)
        if (atomic_load_explicit(&s->calls[j].published, memory_order_acquire) &&
            !strcmp(s->calls[j].dependency, c->dependency) && !strcmp(s->calls[j].api, c->api))
            return false;
    return true;
}

/* Sums entry `i` of `s` and its duplicates. */
static void call_totals(const tfn__metrics_slot_t *s, unsigned i, uint64_t *codes_out, uint64_t *b,
                        uint64_t *sum)
{
    const tfn__metrics_call_t *c = &s->calls[i];
    for (unsigned j = i; j < ncalls(s); j++) {
        const tfn__metrics_call_t *d = &s->calls[j];
        if (j != i && (!atomic_load_explicit(&d->published, memory_order_acquire) ||
                       strcmp(d->dependency, c->dependency) || strcmp(d->api, c->api)))
            continue;
        for (unsigned k = 0; k < TFN__METRICS_NCODES; k++)
            codes_out[k] += get(&d->codes[k]);
        read_histogram(&d->latency, TFN__METRICS_NSECONDS, b, sum);
    }
}

static bool has_batches(const tfn__metrics_api_t *a)
{
    for (unsigned i = 0; i < TFN__METRICS_NSIZES; i++)
        if (get(&a->batch_size.buckets[i]))
            return true;
    return false;
}

int tfn__metrics_render(tfn__metrics_region_t *region, const char *version, tfn__buf_t *out)
{
    const tfn__metrics_slot_t **slots = malloc(region->head->nslots * sizeof *slots + 1);
    if (!slots)
        return TFN_ENOMEM;
    unsigned n = used_slots(region, slots);
    int rc = put_head(out, "tiffin_build_info", "gauge", "The tiffin version serving, always 1.");
    if (!rc)
        rc = tfn__buf_puts(out, "tiffin_build_info{");
    if (!rc)
        rc = put_label(out, "version", version, true);
    if (!rc)
        rc = tfn__buf_puts(out, "} 1\n");

    /* Requests by API and status code; latency by API. */
    bool any_request = false;
    for (unsigned i = 0; i < n; i++)
        any_request |= napis(slots[i]) > 0;
    if (!rc && any_request)
        rc = put_head(out, "tiffin_http_requests_total", "counter",
                      "API requests answered, by API and HTTP status code.");
    for (unsigned i = 0; rc == 0 && i < n; i++)
        for (unsigned a = 0; rc == 0 && a < napis(slots[i]); a++) {
            uint64_t c[TFN__METRICS_NCODES];
            for (unsigned k = 0; k < TFN__METRICS_NCODES; k++)
                c[k] = get(&slots[i]->apis[a].codes[k]);
            series_t se = {slots[i], "api", slots[i]->apis[a].name, NULL, NULL};
            rc = put_codes(out, "tiffin_http_requests_total", &se, c);
        }
    if (!rc && any_request)
        rc = put_head(out, "tiffin_http_request_duration_seconds", "histogram",
                      "Time from a complete API request to its answer, by API.");
    for (unsigned i = 0; rc == 0 && i < n; i++)
        for (unsigned a = 0; rc == 0 && a < napis(slots[i]); a++) {
            uint64_t b[TFN__METRICS_NSECONDS] = {0}, sum = 0;
            read_histogram(&slots[i]->apis[a].latency, TFN__METRICS_NSECONDS, b, &sum);
            series_t se = {slots[i], "api", slots[i]->apis[a].name, NULL, NULL};
            rc = put_histogram(out, "tiffin_http_request_duration_seconds", &se, b,
                               TFN__METRICS_NSECONDS, seconds_le, sum, 1e9);
        }

    /* Gauges and supervisor counters, one series per worker. */
    static const struct {
        const char *name, *type, *help;
    } per_worker[] = {
        {"tiffin_http_requests_in_flight", "gauge", "API requests whose handler is running."},
        {"tiffin_http_requests_queued", "gauge", "API requests waiting for a handler slot."},
        {"tiffin_worker_restarts_total", "counter",
         "Times the supervisor started this worker again after its process died."},
        {"tiffin_worker_oom_kills_total", "counter",
         "Times the kernel killed this worker for going over its memory limit."},
    };
    for (unsigned f = 0; rc == 0 && n && f < sizeof per_worker / sizeof *per_worker; f++) {
        rc = put_head(out, per_worker[f].name, per_worker[f].type, per_worker[f].help);
        for (unsigned i = 0; rc == 0 && i < n; i++) {
            const tfn__metrics_slot_t *s = slots[i];
            uint64_t v = f == 0   ? get(&s->in_flight[0]) + get(&s->in_flight[1])
                         : f == 1 ? get(&s->queued[0]) + get(&s->queued[1])
                         : f == 2 ? get(&s->restarts)
                                  : get(&s->oom_kills);
            rc = tfn__buf_printf(out, "%s{", per_worker[f].name);
            if (!rc)
                rc = put_slot_labels(out, s);
            if (!rc)
                rc = tfn__buf_printf(out, "} %llu\n", (unsigned long long)v);
        }
    }

    /* Dependency calls. */
    bool any_call = false;
    for (unsigned i = 0; i < n; i++)
        any_call |= ncalls(slots[i]) > 0;
    for (int pass = 0; rc == 0 && any_call && pass < 2; pass++) {
        const char *name =
            pass == 0 ? "tiffin_dependency_calls_total" : "tiffin_dependency_call_duration_seconds";
        rc = pass == 0 ? put_head(out, name, "counter",
                                  "Calls to dependencies, by dependency, API and HTTP status code "
                                  "(failures without an answer: 502, 503 or 504).")
                       : put_head(out, name, "histogram",
                                  "Time from sending a dependency call to its answer.");
        for (unsigned i = 0; rc == 0 && i < n; i++)
            for (unsigned k = 0; rc == 0 && k < ncalls(slots[i]); k++) {
                if (!call_first(slots[i], k))
                    continue;
                uint64_t c[TFN__METRICS_NCODES] = {0}, b[TFN__METRICS_NSECONDS] = {0}, sum = 0;
                call_totals(slots[i], k, c, b, &sum);
                series_t se = {slots[i], "dependency", slots[i]->calls[k].dependency, "api",
                               slots[i]->calls[k].api};
                rc = pass == 0 ? put_codes(out, name, &se, c)
                               : put_histogram(out, name, &se, b, TFN__METRICS_NSECONDS, seconds_le,
                                               sum, 1e9);
            }
    }

    /* Batches (lib/server/batch*), for APIs that have had one. */
    bool any_batch = false;
    for (unsigned i = 0; i < n; i++)
        for (unsigned a = 0; a < napis(slots[i]); a++)
            any_batch |= has_batches(&slots[i]->apis[a]);
    for (int pass = 0; rc == 0 && any_batch && pass < 2; pass++) {
        const char *name = pass == 0 ? "tiffin_batch_size" : "tiffin_batch_queue_wait_seconds";
        rc = put_head(out, name, "histogram",
                      pass == 0 ? "Requests per batch run, by API."
                                : "How long the oldest request of a batch waited, by API.");
        for (unsigned i = 0; rc == 0 && i < n; i++)
            for (unsigned a = 0; rc == 0 && a < napis(slots[i]); a++) {
                const tfn__metrics_api_t *api = &slots[i]->apis[a];
                if (!has_batches(api))
                    continue;
                uint64_t b[TFN__METRICS_NSECONDS] = {0}, sum = 0;
                series_t se = {slots[i], "api", api->name, NULL, NULL};
                if (pass == 0) {
                    read_histogram(&api->batch_size, TFN__METRICS_NSIZES, b, &sum);
                    rc = put_histogram(out, name, &se, b, TFN__METRICS_NSIZES, sizes_le_text, sum,
                                       1);
                } else {
                    read_histogram(&api->batch_wait, TFN__METRICS_NSECONDS, b, &sum);
                    rc = put_histogram(out, name, &se, b, TFN__METRICS_NSECONDS, seconds_le, sum,
                                       1e9);
                }
            }
    }
    free(slots);
    return rc;
}
