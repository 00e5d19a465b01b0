/*
 * test_observe.c — lib/observe: W3C traceparent parsing (the spec's valid and invalid forms),
 * ids, the access log's JSON lines, and the metrics region and its Prometheus exposition.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "observe/metrics_internal.h"
#include "observe/trace_internal.h"

static int parse(const char *s, tfn__trace_ids_t *ids)
{
    return tfn__traceparent_parse(s, strlen(s), ids->trace_id, ids->parent_id, &ids->flags);
}

static void test_traceparent_valid(void)
{
    tfn__trace_ids_t ids;
    CHECK_EQ_INT(parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &ids), 0);
    CHECK_EQ_INT(ids.trace_id[0], 0x0a);
    CHECK_EQ_INT(ids.trace_id[15], 0x9c);
    CHECK_EQ_INT(ids.parent_id[0], 0xb7);
    CHECK_EQ_INT(ids.flags, 1);
    /* Surrounding whitespace is not part of the value. */
    CHECK_EQ_INT(parse(" 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00\t", &ids), 0);
    CHECK_EQ_INT(ids.flags, 0);
    /* A future version: its first 55 characters, followed by the end or '-'. */
    CHECK_EQ_INT(parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-ever", &ids),
                 0);
    CHECK_EQ_INT(parse("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &ids), 0);
    /* Round trip through the formatter. */
    char out[TFN__TRACEPARENT_LEN + 1];
    parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &ids);
    memcpy(ids.span_id, ids.parent_id, 8);
    tfn__traceparent_format(out, &ids);
    CHECK_EQ_STR(out, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
}

static void test_traceparent_invalid(void)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",   /* short */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-", /* 00 with more */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-011", /* 00 with more */
        "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",  /* uppercase */
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  /* zero trace id */
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  /* zero parent */
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* version ff */
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x", /* no '-' after 55 */
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* separator */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-01",  /* not hex */
        "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01a",  /* shifted */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-zz",  /* flags */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tfn__trace_ids_t ids;
        if (parse(bad[i], &ids) != -1) {
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
            CHECK(0);
        }
    }
    CHECK_EQ_INT(tfn__traceparent_parse(NULL, 0, NULL, NULL, NULL), -1);
}

/* The parser and formatter work on eight bytes at a time: every byte value in every position
 * of a valid traceparent is accepted exactly when the spec allows it there, and every id
 * formats back to itself. */
static bool lower_hex(int c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static void test_traceparent_every_byte(void)
{
    const char *good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    unsigned wrong = 0;
    for (size_t pos = 3; pos < TFN__TRACEPARENT_LEN; pos++) {
        if (pos == 35 || pos == 52)
            continue;
        for (int c = 0; c < 256; c++) {
            char s[TFN__TRACEPARENT_LEN + 1];
            memcpy(s, good, sizeof s);
            s[pos] = (char)c;
            tfn__trace_ids_t ids;
            int rc = tfn__traceparent_parse(s, TFN__TRACEPARENT_LEN, ids.trace_id, ids.parent_id,
                                            &ids.flags);
            /* (a trailing space or tab is trimmed: then the value is short) */
            if (rc != (lower_hex(c) ? 0 : -1)) {
                if (!wrong++)
                    fprintf(stderr, "  position %zu byte 0x%02x: %d\n", pos, c, rc);
                continue;
            }
            if (rc == 0) {
                char back[TFN__TRACEPARENT_LEN + 1];
                memcpy(ids.span_id, ids.parent_id, 8);
                tfn__traceparent_format(back, &ids);
                wrong += strcmp(back, s) != 0;
            }
        }
    }
    CHECK_EQ_INT(wrong, 0);
    /* Random ids format as printf would. */
    for (int i = 0; i < 1000; i++) {
        tfn__trace_ids_t ids;
        tfn__trace_begin(&ids, NULL, 0);
        ids.flags = (uint8_t)i;
        char out[TFN__TRACEPARENT_LEN + 1], want[TFN__TRACEPARENT_LEN + 1], *w = want;
        w += sprintf(w, "00-");
        for (int j = 0; j < 16; j++)
            w += sprintf(w, "%02x", ids.trace_id[j]);
        w += sprintf(w, "-");
        for (int j = 0; j < 8; j++)
            w += sprintf(w, "%02x", ids.span_id[j]);
        sprintf(w, "-%02x", ids.flags);
        tfn__traceparent_format(out, &ids);
        if (strcmp(out, want) != 0) {
            CHECK_EQ_STR(out, want);
            break;
        }
    }
}

static void test_trace_begin_and_child(void)
{
    tfn__trace_ids_t a, b, c;
    const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    CHECK(tfn__trace_begin(&a, tp, strlen(tp)));
    CHECK_EQ_INT(a.trace_id[0], 0x0a);
    CHECK_EQ_INT(a.parent_id[0], 0xb7);
    CHECK(memcmp(a.span_id, a.parent_id, 8) != 0);
    /* Malformed: a new trace, a root span, never an error. */
    CHECK(!tfn__trace_begin(&b, "nonsense", 8));
    CHECK(memcmp(b.trace_id, a.trace_id, 16) != 0);
    static const uint8_t zero[16];
    CHECK(memcmp(b.parent_id, zero, 8) == 0);
    CHECK(memcmp(b.trace_id, zero, 16) != 0);
    CHECK_EQ_INT(b.flags, 1);
    tfn__trace_child(&c, &a);
    CHECK(memcmp(c.trace_id, a.trace_id, 16) == 0);
    CHECK(memcmp(c.parent_id, a.span_id, 8) == 0);
    CHECK(memcmp(c.span_id, a.span_id, 8) != 0);
    CHECK(tfn__tracestate_ok("congo=t61rcWkgMzE", 17));
    CHECK(!tfn__tracestate_ok("a=\n", 3));
}

static void test_span_json(void)
{
    tfn__trace_ids_t ids;
    parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &ids);
    memset(ids.span_id, 0x11, 8);
    tfn__span_record_t rec = {.kind = "client",
                              .ids = &ids,
                              .service = "Fr\"ont",
                              .worker = 2,
                              .api = "run",
                              .dependency = "Back",
                              .status = 504,
                              .start_unix_us = 1500000,
                              .duration_ns = 2500};
    char line[1024];
    size_t n = tfn__span_json(&rec, line, sizeof line);
    CHECK(n > 0 && line[n - 1] == '\n');
    CHECK_EQ_STR(line, "{\"ts\":1.500000,\"kind\":\"client\",\"trace_id\":"
                       "\"0af7651916cd43dd8448eb211c80319c\",\"span_id\":\"1111111111111111\","
                       "\"parent_id\":\"b7ad6b7169203331\",\"service\":\"Fr\\\"ont\",\"worker\":2,"
                       "\"dependency\":\"Back\",\"api\":\"run\",\"status\":504,"
                       "\"duration_us\":2.5}\n");
    CHECK_EQ_INT(tfn__span_json(&rec, line, 40), 0); /* does not fit: nothing */
}

static void test_buckets_and_codes(void)
{
    CHECK_EQ_INT(tfn__metrics_seconds_bucket(0), 0);
    CHECK_EQ_INT(tfn__metrics_seconds_bucket(100000), 0); /* le is inclusive */
    CHECK_EQ_INT(tfn__metrics_seconds_bucket(100001), 1);
    CHECK_EQ_INT(tfn__metrics_seconds_bucket(20000000000ull), TFN__METRICS_NSECONDS - 1);
    CHECK_EQ_INT(tfn__metrics_code_index(200), 0);
    CHECK_EQ_INT(tfn__metrics_code_index(429), 7);
    CHECK_EQ_INT(tfn__metrics_code_index(504), 11);
    CHECK_EQ_INT(tfn__metrics_code_index(418), TFN__METRICS_NCODES - 1);
}

static void test_render(void)
{
    tfn__metrics_region_t *r = tfn__metrics_region_new(3, false);
    CHECK(r != NULL);
    tfn__metrics_slot_t *a = tfn__metrics_slot(r, 0), *b = tfn__metrics_slot(r, 2);
    CHECK(tfn__metrics_slot(r, 3) == NULL);
    tfn__metrics_slot_name(a, "Entry", 0);
    tfn__metrics_slot_api(a, 0, "run");
    tfn__metrics_slot_api(a, 0, "ignored: already declared");
    tfn__metrics_slot_name(b, "Dep", 1);
    tfn__metrics_slot_api(b, 0, "work");
    tfn__metrics_request(a, 0, 200, 50000);   /* first bucket */
    tfn__metrics_request(a, 0, 200, 3000000); /* 0.005 */
    tfn__metrics_request(a, 0, 429, 0);
    tfn__metrics_request(a, 99, 200, 0); /* no such API: not counted */
    tfn__metrics_call_t *c = tfn__metrics_call_find(a, "Dep", "work");
    CHECK(c && c == tfn__metrics_call_find(a, "Dep", "work"));
    tfn__metrics_call(c, 504, 1000000);
    tfn__metrics_batch(b, 0, 5, 200000);
    tfn__counter_add(&b->restarts, 2);
    tfn__metrics_load(a, 3, 7, 1);
    tfn__buf_t out;
    tfn__buf_init(&out, 1 << 20);
    CHECK_EQ_INT(tfn__metrics_render(r, "9.9.9", &out), 0);
    const char *text = out.data;
    CHECK(strstr(text, "tiffin_build_info{version=\"9.9.9\"} 1\n"));
    CHECK(strstr(text, "tiffin_http_requests_total{service=\"Entry\",worker=\"0\",api=\"run\","
                       "code=\"200\"} 2\n"));
    CHECK(strstr(text, "code=\"429\"} 1\n"));
    CHECK(strstr(text, "tiffin_http_request_duration_seconds_bucket{service=\"Entry\",worker=\"0\","
                       "api=\"run\",le=\"0.0001\"} 2\n")); /* the 429 (0 s) and the 50 µs */
    CHECK(strstr(text, "api=\"run\",le=\"0.0025\"} 2\n"));
    CHECK(strstr(text, "api=\"run\",le=\"0.005\"} 3\n"));
    CHECK(strstr(text, "tiffin_http_request_duration_seconds_count{service=\"Entry\",worker=\"0\","
                       "api=\"run\"} 3\n"));
    CHECK(strstr(text, "tiffin_http_request_duration_seconds_sum{service=\"Entry\",worker=\"0\","
                       "api=\"run\"} 0.00305\n"));
    CHECK(strstr(text, "tiffin_http_requests_in_flight{service=\"Entry\",worker=\"0\"} 7\n"));
    CHECK(strstr(text, "tiffin_worker_restarts_total{service=\"Dep\",worker=\"1\"} 2\n"));
    CHECK(strstr(text, "tiffin_dependency_calls_total{service=\"Entry\",worker=\"0\","
                       "dependency=\"Dep\",api=\"work\",code=\"504\"} 1\n"));
    CHECK(strstr(text, "tiffin_batch_size_bucket{service=\"Dep\",worker=\"1\",api=\"work\","
                       "le=\"4\"} 0\n"));
    CHECK(strstr(text, "api=\"work\",le=\"8\"} 1\n"));
    CHECK(strstr(text, "tiffin_batch_queue_wait_seconds_count{service=\"Dep\",worker=\"1\","
                       "api=\"work\"} 1\n"));
    /* Every family once, HELP before TYPE before samples. */
    const char *p = strstr(text, "# TYPE tiffin_http_requests_total counter");
    CHECK(p && !strstr(p + 1, "# TYPE tiffin_http_requests_total"));
    CHECK(!strstr(text, "service=\"\"")); /* the unnamed slot 1 is not shown */
    tfn__buf_free(&out);
    tfn__metrics_region_free(r);
}

/* A child process mapping the region by its descriptor counts into the same memory. */
static void test_shared_region(void)
{
    tfn__metrics_region_t *r = tfn__metrics_region_new(2, true);
    CHECK(r && tfn__metrics_region_fd(r) >= 0);
    if (!r)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        tfn__metrics_region_t *mine = tfn__metrics_region_map(tfn__metrics_region_fd(r));
        tfn__metrics_slot_t *s = mine ? tfn__metrics_slot(mine, 1) : NULL;
        if (!s)
            _exit(1);
        tfn__metrics_slot_name(s, "Child", 4);
        tfn__metrics_slot_api(s, 0, "ping");
        for (int i = 0; i < 1000; i++)
            tfn__metrics_request(s, 0, 200, 1000);
        _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tfn__buf_t out;
    tfn__buf_init(&out, 1 << 20);
    CHECK_EQ_INT(tfn__metrics_render(r, "1", &out), 0);
    CHECK(out.data && strstr(out.data, "{service=\"Child\",worker=\"4\",api=\"ping\",code=\"200\"} "
                                       "1000\n"));
    tfn__buf_free(&out);
    /* A descriptor that is not a region is refused, not mapped. */
    int fd = memfd_create("not-a-region", MFD_CLOEXEC);
    CHECK(fd >= 0 && ftruncate(fd, 65536) == 0);
    CHECK(tfn__metrics_region_map(fd) == NULL);
    close(fd);
    tfn__metrics_region_free(r);
}

int main(void)
{
    RUN(test_traceparent_valid);
    RUN(test_traceparent_invalid);
    RUN(test_traceparent_every_byte);
    RUN(test_trace_begin_and_child);
    RUN(test_span_json);
    RUN(test_buckets_and_codes);
    RUN(test_render);
    RUN(test_shared_region);
    return check_summary("observe");
}
