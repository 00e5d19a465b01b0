/*
 * test_resources.c — the resource planner (lib/resources.c) on made-up machines: cores
 * round-robin with fractions rounded up and oversubscription, GPUs exclusive or shared, requests
 * that cannot be met; and the list formats. (The same plans applied to real processes are in
 * tests/integration/test_resources.py.)
 */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "supervise/resources_internal.h"

static tfn__machine_t machine(size_t ncpus, const char *gpus)
{
    tfn__machine_t m;
    memset(&m, 0, sizeof m);
    for (size_t i = 0; i < ncpus; i++)
        m.cpus[m.ncpus++] = (int)i;
    m.gpu_source = "test";
    if (gpus)
        tfn__gpus_parse(&m, gpus);
    return m;
}

/* Plans up to 4 services; plans[i] has room for 8 workers. */
typedef struct {
    tfn__worker_plan_t w[4][8];
    tfn__plan_totals_t totals;
    char err[1024];
} result_t;

static int plan(const tfn__machine_t *m, const tfn__resource_request_t *req, size_t n, result_t *r)
{
    tfn__worker_plan_t *plans[4] = {r->w[0], r->w[1], r->w[2], r->w[3]};
    r->err[0] = '\0';
    return tfn__plan(m, req, n, plans, &r->totals, r->err, sizeof r->err);
}

static const char *cpus_of(const tfn__worker_plan_t *p)
{
    static char text[256];
    tfn__cpus_format(p->cpus, p->ncpus, text, sizeof text);
    return text;
}

static void test_cpus_format(void)
{
    char out[64];
    int a[] = {0, 1, 2, 3, 6};
    tfn__cpus_format(a, 5, out, sizeof out);
    CHECK_EQ_STR(out, "0-3,6");
    int b[] = {0, 1};
    tfn__cpus_format(b, 2, out, sizeof out);
    CHECK_EQ_STR(out, "0-1");
    tfn__cpus_format(b, 0, out, sizeof out);
    CHECK_EQ_STR(out, "-");
    int c[] = {0, 2, 3, 4, 7, 8};
    tfn__cpus_format(c, 6, out, sizeof out);
    CHECK_EQ_STR(out, "0,2-4,7-8");
}

static void test_cpus_parse(void)
{
    cpu_set_t set;
    CHECK_EQ_INT(tfn__cpus_parse("2,3", &set), 2);
    CHECK(CPU_ISSET(2, &set) && CPU_ISSET(3, &set) && !CPU_ISSET(0, &set));
    CHECK_EQ_INT(tfn__cpus_parse("0-3,6", &set), 5);
    CHECK_EQ_INT(tfn__cpus_parse("1, 1", &set), 1);
    CHECK_EQ_INT(tfn__cpus_parse("", &set), 0);
    CHECK_EQ_INT(tfn__cpus_parse("x", &set), -1);
    CHECK_EQ_INT(tfn__cpus_parse("3-1", &set), -1);
    CHECK_EQ_INT(tfn__cpus_parse("1-", &set), -1);
    CHECK_EQ_INT(tfn__cpus_parse("99999", &set), -1);
}

static void test_gpus_parse(void)
{
    tfn__machine_t m = machine(1, NULL);
    CHECK_EQ_INT(tfn__gpus_parse(&m, "0,1,2,3"), 0);
    CHECK_EQ_INT(m.ngpus, 4);
    CHECK_EQ_STR(m.gpus[3], "3");
    CHECK_EQ_INT(tfn__gpus_parse(&m, ""), 0);
    CHECK_EQ_INT(m.ngpus, 0);
    CHECK_EQ_INT(tfn__gpus_parse(&m, " 1 , 2 "), 0);
    CHECK_EQ_INT(m.ngpus, 2);
    CHECK_EQ_STR(m.gpus[0], "1");
    CHECK_EQ_STR(m.gpus[1], "2");
    CHECK_EQ_INT(tfn__gpus_parse(&m, "0,-1,2"), 0); /* CUDA stops at the first invalid one */
    CHECK_EQ_INT(m.ngpus, 1);
    CHECK_EQ_INT(tfn__gpus_parse(&m, "GPU-8f2c0b1e-aaaa"), 0);
    CHECK_EQ_STR(m.gpus[0], "GPU-8f2c0b1e-aaaa");
    CHECK_EQ_INT(tfn__gpus_parse(&m, "0\n1\n"), 0); /* nvidia-smi's lines */
    CHECK_EQ_INT(m.ngpus, 2);
    CHECK_EQ_INT(tfn__gpus_parse(&m, "0,,1"), -1);
}

static void test_cores_round_robin(void)
{
    tfn__machine_t m = machine(2, NULL);
    tfn__resource_request_t req[] = {{.name = "A", .workers = 2, .resources = {.cpu = 1}}};
    result_t r;
    CHECK_EQ_INT(plan(&m, req, 1, &r), 0);
    CHECK_EQ_STR(cpus_of(&r.w[0][0]), "0");
    CHECK_EQ_STR(cpus_of(&r.w[0][1]), "1");
    CHECK(!r.totals.cpu_oversubscribed);
    CHECK_EQ_INT(r.totals.cpus_wanted, 2);

    /* A third worker shares: it wraps round to core 0, and the totals say so. */
    tfn__resource_request_t more[] = {{.name = "A", .workers = 2, .resources = {.cpu = 1}},
                                      {.name = "B", .workers = 1, .resources = {.cpu = 1}},
                                      {.name = "C", .workers = 1}};
    CHECK_EQ_INT(plan(&m, more, 3, &r), 0);
    CHECK_EQ_STR(cpus_of(&r.w[1][0]), "0");
    CHECK(r.totals.cpu_oversubscribed);
    CHECK_EQ_INT(r.totals.cpus_wanted, 3);
    CHECK_EQ_INT(r.totals.cpu_workers, 3);
    CHECK_EQ_INT(r.w[2][0].ncpus, 0); /* asked for none: not pinned */
}

static void test_cores_fractions_round_up(void)
{
    tfn__machine_t m = machine(4, NULL);
    tfn__resource_request_t half[] = {{.name = "A", .workers = 2, .resources = {.cpu = 0.5}}};
    result_t r;
    CHECK_EQ_INT(plan(&m, half, 1, &r), 0);
    CHECK_EQ_STR(cpus_of(&r.w[0][0]), "0");
    CHECK_EQ_STR(cpus_of(&r.w[0][1]), "1");
    CHECK_EQ_INT(r.totals.cpus_wanted, 2);

    tfn__resource_request_t one_and_half[] = {
        {.name = "A", .workers = 2, .resources = {.cpu = 1.5}}};
    CHECK_EQ_INT(plan(&m, one_and_half, 1, &r), 0);
    CHECK_EQ_STR(cpus_of(&r.w[0][0]), "0-1");
    CHECK_EQ_STR(cpus_of(&r.w[0][1]), "2-3");
    CHECK(!r.totals.cpu_oversubscribed);
}

static void test_cores_more_than_the_machine(void)
{
    tfn__machine_t m = machine(2, NULL);
    tfn__resource_request_t big[] = {{.name = "A", .workers = 1, .resources = {.cpu = 4}}};
    result_t r;
    CHECK_EQ_INT(plan(&m, big, 1, &r), 0);
    CHECK_EQ_STR(cpus_of(&r.w[0][0]), "0-1"); /* every core there is */
    CHECK(r.totals.cpu_oversubscribed);

    /* Wrapping round keeps a worker's cores sorted. */
    tfn__machine_t three = machine(3, NULL);
    tfn__resource_request_t two[] = {{.name = "A", .workers = 2, .resources = {.cpu = 2}}};
    CHECK_EQ_INT(plan(&three, two, 1, &r), 0);
    CHECK_EQ_STR(cpus_of(&r.w[0][0]), "0-1");
    CHECK_EQ_STR(cpus_of(&r.w[0][1]), "0,2");
}

static void test_cores_only_the_allowed_ones(void)
{
    tfn__machine_t m = machine(0, NULL);
    m.cpus[m.ncpus++] = 2;
    m.cpus[m.ncpus++] = 5;
    tfn__resource_request_t req[] = {{.name = "A", .workers = 3, .resources = {.cpu = 1}}};
    result_t r;
    CHECK_EQ_INT(plan(&m, req, 1, &r), 0);
    CHECK_EQ_STR(cpus_of(&r.w[0][0]), "2");
    CHECK_EQ_STR(cpus_of(&r.w[0][1]), "5");
    CHECK_EQ_STR(cpus_of(&r.w[0][2]), "2");
}

static void test_gpus_whole_devices_per_worker(void)
{
    tfn__machine_t m = machine(2, "0,1,2,3");
    tfn__resource_request_t req[] = {{.name = "Pre", .workers = 1},
                                     {.name = "Model", .workers = 2, .resources = {.gpu = 1}}};
    result_t r;
    CHECK_EQ_INT(plan(&m, req, 2, &r), 0);
    CHECK_EQ_INT(r.w[1][0].ngpus, 1);
    CHECK_EQ_INT(r.w[1][0].gpus[0], 0);
    CHECK_EQ_INT(r.w[1][1].ngpus, 1);
    CHECK_EQ_INT(r.w[1][1].gpus[0], 1); /* not the same list for every worker */
    CHECK(!r.w[1][0].gpu_shared);
    CHECK(r.w[0][0].hide_gpus); /* asked for none while others did */
    CHECK_EQ_INT(r.totals.gpus_used, 2);

    tfn__resource_request_t two[] = {{.name = "Model", .workers = 2, .resources = {.gpu = 2}}};
    CHECK_EQ_INT(plan(&m, two, 1, &r), 0);
    CHECK_EQ_INT(r.w[0][0].ngpus, 2);
    CHECK_EQ_INT(r.w[0][0].gpus[1], 1);
    CHECK_EQ_INT(r.w[0][1].gpus[0], 2);
    CHECK_EQ_INT(r.w[0][1].gpus[1], 3);

    /* No GPU asked for anywhere: nothing is hidden. */
    tfn__resource_request_t none[] = {{.name = "A", .workers = 1}};
    CHECK_EQ_INT(plan(&m, none, 1, &r), 0);
    CHECK(!r.w[0][0].hide_gpus && r.w[0][0].ngpus == 0);
}

static void test_gpus_fractions_share(void)
{
    tfn__machine_t m = machine(2, "0,1");
    tfn__resource_request_t req[] = {{.name = "A", .workers = 3, .resources = {.gpu = 0.5}}};
    result_t r;
    CHECK_EQ_INT(plan(&m, req, 1, &r), 0);
    CHECK_EQ_INT(r.w[0][0].gpus[0], 0);
    CHECK_EQ_INT(r.w[0][1].gpus[0], 0); /* two halves on one device */
    CHECK_EQ_INT(r.w[0][2].gpus[0], 1);
    CHECK(r.w[0][0].gpu_shared && r.w[0][2].gpu_shared);

    tfn__resource_request_t thirds[] = {{.name = "A", .workers = 4, .resources = {.gpu = 0.3}}};
    CHECK_EQ_INT(plan(&m, thirds, 1, &r), 0);
    CHECK_EQ_INT(r.w[0][2].gpus[0], 0);
    CHECK_EQ_INT(r.w[0][3].gpus[0], 1);

    /* Whole devices are placed first, whatever the order of the services. */
    tfn__resource_request_t mixed[] = {{.name = "Half", .workers = 1, .resources = {.gpu = 0.5}},
                                       {.name = "Whole", .workers = 1, .resources = {.gpu = 1}}};
    CHECK_EQ_INT(plan(&m, mixed, 2, &r), 0);
    CHECK_EQ_INT(r.w[1][0].gpus[0], 0);
    CHECK_EQ_INT(r.w[0][0].gpus[0], 1);
}

static void test_gpus_that_do_not_exist(void)
{
    tfn__machine_t m = machine(2, "0,1,2,3");
    tfn__resource_request_t req[] = {{.name = "Model", .workers = 2, .resources = {.gpu = 3}}};
    result_t r;
    CHECK_EQ_INT(plan(&m, req, 1, &r), -1);
    CHECK(strstr(r.err, "service 'Model' asks for 3 GPUs for each of its 2 workers (6 in all)"));
    CHECK(strstr(r.err, "this machine has 4 GPUs (0,1,2,3, from test)"));

    tfn__resource_request_t two[] = {{.name = "A", .workers = 3, .resources = {.gpu = 1}},
                                     {.name = "B", .workers = 2, .resources = {.gpu = 1}}};
    CHECK_EQ_INT(plan(&m, two, 2, &r), -1);
    CHECK(strstr(r.err, "service 'B'") && strstr(r.err, "3 of them taken by other services"));

    tfn__machine_t none = machine(2, "");
    tfn__resource_request_t half[] = {{.name = "A", .workers = 1, .resources = {.gpu = 0.5}}};
    CHECK_EQ_INT(plan(&none, half, 1, &r), -1);
    CHECK(strstr(r.err, "service 'A' asks for 0.5 GPU") && strstr(r.err, "no GPU (test)"));
}

static void test_bad_requests(void)
{
    tfn__machine_t m = machine(2, "0");
    result_t r;
    tfn__resource_request_t neg[] = {{.name = "A", .workers = 1, .resources = {.cpu = -1}}};
    CHECK_EQ_INT(plan(&m, neg, 1, &r), -1);
    CHECK(strstr(r.err, "service 'A': resources.cpu is -1"));
    tfn__resource_request_t nan_gpu[] = {{.name = "A", .workers = 1, .resources = {.gpu = NAN}}};
    CHECK_EQ_INT(plan(&m, nan_gpu, 1, &r), -1);
    CHECK(strstr(r.err, "resources.gpu"));
    tfn__resource_request_t zero[] = {{.name = "A", .workers = 0}};
    CHECK_EQ_INT(plan(&m, zero, 1, &r), -1);
}

static void test_memory_per_worker(void)
{
    tfn__machine_t m = machine(1, NULL);
    tfn__resource_request_t req[] = {{.name = "A", .workers = 2, .resources = {.memory_mb = 64}},
                                     {.name = "B", .workers = 1}};
    result_t r;
    CHECK_EQ_INT(plan(&m, req, 2, &r), 0);
    CHECK_EQ_INT(r.w[0][1].memory_bytes, 64ull << 20);
    CHECK_EQ_INT(r.w[1][0].memory_bytes, 0);
}

static void test_memory_limiter_modes(void)
{
    tfn__memory_limiter_t limiter;
    char err[512];
    setenv(TFN__MEMORY_LIMITS_ENV, "off", 1);
    CHECK_EQ_INT(tfn__memory_limiter_init(&limiter, err, sizeof err), 0);
    CHECK_EQ_INT(limiter.kind, TFN__MEMORY_OFF);
    CHECK(strstr(limiter.note, "NOT enforced"));
    setenv(TFN__MEMORY_LIMITS_ENV, "bogus", 1);
    CHECK_EQ_INT(tfn__memory_limiter_init(&limiter, err, sizeof err), -1);
    CHECK(strstr(err, "want auto, cgroup, rlimit or off"));
    setenv(TFN__MEMORY_LIMITS_ENV, "rlimit", 1);
    CHECK_EQ_INT(tfn__memory_limiter_init(&limiter, err, sizeof err), 0);
    CHECK(limiter.kind == TFN__MEMORY_RLIMIT || limiter.kind == TFN__MEMORY_OFF /* ASan */);
    unsetenv(TFN__MEMORY_LIMITS_ENV);
}

static void test_machine_reads_the_allowed_cores_and_gpus(void)
{
    tfn__machine_t m;
    char err[512];
    setenv(TFN__GPUS_ENV, "0,1,2,3", 1);
    CHECK_EQ_INT(tfn__machine_read(&m, true, err, sizeof err), 0);
    CHECK(m.ncpus >= 1);
    CHECK_EQ_INT(m.ngpus, 4);
    CHECK_EQ_STR(m.gpu_source, "$TFN_GPUS");
    setenv(TFN__GPUS_ENV, "", 1);
    CHECK_EQ_INT(tfn__machine_read(&m, true, err, sizeof err), 0);
    CHECK_EQ_INT(m.ngpus, 0);
    CHECK_EQ_INT(tfn__machine_read(&m, false, err, sizeof err), 0); /* GPUs not looked for */
    CHECK_EQ_STR(m.gpu_source, "not asked");
    unsetenv(TFN__GPUS_ENV);
}

int main(void)
{
    RUN(test_cpus_format);
    RUN(test_cpus_parse);
    RUN(test_gpus_parse);
    RUN(test_cores_round_robin);
    RUN(test_cores_fractions_round_up);
    RUN(test_cores_more_than_the_machine);
    RUN(test_cores_only_the_allowed_ones);
    RUN(test_gpus_whole_devices_per_worker);
    RUN(test_gpus_fractions_share);
    RUN(test_gpus_that_do_not_exist);
    RUN(test_bad_requests);
    RUN(test_memory_per_worker);
    RUN(test_memory_limiter_modes);
    RUN(test_machine_reads_the_allowed_cores_and_gpus);
    return check_summary("resources");
}
