/*
 * test_manifests.c — the Kubernetes generator (lib/supervise/manifests.c) on made-up graphs:
 * object names, GPUs as whole nvidia.com/gpu devices, the grace period from drain_ms, a worker
 * range as an autoscaler, name collisions; and --workers parsing. (The YAML of the real example
 * graphs is validated against the Kubernetes schemas in tests/integration/test_manifests.py.)
 */
#include "check.h"
#include "supervise/manifests_internal.h"

static int handler(tfn_ctx_t *ctx, const tfn_value_t *in, tfn_value_t **out)
{
    (void)ctx;
    *out = (tfn_value_t *)in;
    return 0;
}

static const tfn_api_t apis[] = {{.name = "run", .handler = handler}, {0}};
static const tfn_service_t gpu_half = {
    .name = "Gpu_Half", .apis = apis, .resources = {.gpu = 0.5, .cpu = 1.5, .memory_mb = 2048}};
static const tfn_service_t gpu_two = {.name = "9lives",
                                      .apis = apis,
                                      .resources = {.gpu = 2},
                                      .workers = 2,
                                      .max_workers = 8,
                                      .traffic = {.drain_ms = 30500}};
static const tfn_dependency_t entry_deps[] = {{.service = &gpu_half},
                                              {.name = "far", .service = &gpu_two},
                                              {.name = "ext", .url = "http://x:1"},
                                              {0}};
static const tfn_service_t entry = {.name = "Entry", .apis = apis, .depends = entry_deps};

static const tfn_service_t clash_a = {.name = "Model_A", .apis = apis};
static const tfn_service_t clash_b = {.name = "model-a", .apis = apis};
static const tfn_dependency_t clash_deps[] = {{.service = &clash_a}, {.service = &clash_b}, {0}};
static const tfn_service_t clash = {.name = "Clash", .apis = apis, .depends = clash_deps};

static char *generate(const tfn_service_t *svc, const char *ns, tfn__buf_t *out, int *rc)
{
    tfn__graph_t graph;
    tfn_error_t err;
    tfn__manifest_config_t cfg = {
        .program = "prog", .image = "img:1", .namespace = ns, .port = 8080};
    tfn__buf_init(out, 1 << 20);
    if (tfn__graph_build(svc, &graph, &err) != 0) {
        *rc = -1;
        return NULL;
    }
    *rc = tfn__manifests_kubernetes(&graph, &cfg, out, &err);
    if (*rc != 0) {
        tfn__buf_free(out);
        tfn__buf_init(out, 1 << 20);
        tfn__buf_puts(out, err.message);
    }
    tfn__buf_puts(out, ""); /* NUL-terminated */
    return out->data;
}

static void test_names(void)
{
    char n[TFN__K8S_NAME_MAX + 1];
    CHECK_EQ_INT(tfn__k8s_name("ModelA", n), 0);
    CHECK_EQ_STR(n, "modela");
    CHECK_EQ_INT(tfn__k8s_name("_Text_Pre_", n), 0);
    CHECK_EQ_STR(n, "text-pre");
    CHECK_EQ_INT(tfn__k8s_name("9lives", n), 0);
    CHECK_EQ_STR(n, "s-9lives");
    CHECK_EQ_INT(tfn__k8s_name("__", n), -1);
    char longest[64];
    memset(longest, 'a', 63);
    longest[63] = '\0';
    longest[0] = '1';
    CHECK_EQ_INT(tfn__k8s_name(longest, n), 0);
    CHECK_EQ_INT(strlen(n), TFN__K8S_NAME_MAX);
}

static void test_gpus_ranges_and_grace(void)
{
    tfn__buf_t out;
    int rc;
    const char *y = generate(&entry, "team-a", &out, &rc);
    CHECK_EQ_INT(rc, 0);
    /* A fraction of a GPU is one whole device; two are two. */
    CHECK(strstr(y, "nvidia.com/gpu: \"1\"  # asks for a fraction") != NULL);
    CHECK(strstr(y, "nvidia.com/gpu: \"2\"\n") != NULL);
    CHECK(strstr(y, "cpu: \"1500m\"\n") && strstr(y, "cpu: \"2\"\n"));
    CHECK(strstr(y, "memory: \"2048Mi\"") != NULL);
    /* Names: lower case, '_' as '-', a leading digit prefixed; dependencies by Service name. */
    CHECK(strstr(y, "- Gpu_Half=http://gpu-half:8080\n") != NULL);
    CHECK(strstr(y, "- far=http://s-9lives:8080\n") != NULL);
    CHECK(strstr(y, "ext=") == NULL); /* a URL dependency keeps the URL of its definition */
    /* The range: an autoscaler from 2 to 8, no fixed replicas on its Deployment. */
    CHECK(strstr(y, "kind: HorizontalPodAutoscaler") != NULL);
    CHECK(strstr(y, "  minReplicas: 2\n  maxReplicas: 8\n") != NULL);
    CHECK(strstr(y, "# replicas: from 2 to 8") != NULL);
    CHECK(strstr(y, "asks for no cpu") != NULL); /* a range on a service without a cpu request */
    /* drain 30.5 s: preStop 5 + 31 + 1 */
    CHECK(strstr(y, "terminationGracePeriodSeconds: 37\n") != NULL);
    CHECK(strstr(y, "terminationGracePeriodSeconds: 16\n") != NULL);
    CHECK(strstr(y, "  namespace: team-a\n") != NULL);
    tfn__buf_free(&out);
}

static void test_clash_and_bad_namespace(void)
{
    tfn__buf_t out;
    int rc;
    const char *y = generate(&clash, NULL, &out, &rc);
    CHECK_EQ_INT(rc, TFN_EINVAL);
    CHECK(strstr(y, "both become 'model-a'") != NULL);
    tfn__buf_free(&out);
    y = generate(&entry, "-bad", &out, &rc);
    CHECK_EQ_INT(rc, TFN_EINVAL);
    CHECK(strstr(y, "not a DNS-1123 label") != NULL);
    tfn__buf_free(&out);
}

static void test_workers_parse(void)
{
    tfn__graph_t graph;
    tfn_error_t err;
    CHECK_EQ_INT(tfn__graph_build(&entry, &graph, &err), 0);
    size_t i;
    unsigned lo, hi;
    char why[256];
    CHECK_EQ_INT(tfn__workers_parse(&graph, "3", 16, &i, &lo, &hi, why, sizeof why), 0);
    CHECK(i == graph.n - 1 && lo == 3 && hi == 3);
    CHECK_EQ_INT(tfn__workers_parse(&graph, "Gpu_Half=1:4", 16, &i, &lo, &hi, why, sizeof why), 0);
    CHECK(strcmp(graph.services[i]->name, "Gpu_Half") == 0 && lo == 1 && hi == 4);
    const char *bad[] = {"0",         "4:2",    "1:17", "x",     "1:",         ":3",
                         "Gpu_Half=", "Nope=2", "-1",   "1:2:3", "99999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        why[0] = '\0';
        CHECK_EQ_INT(tfn__workers_parse(&graph, bad[k], 16, &i, &lo, &hi, why, sizeof why), -1);
        CHECK(why[0] != '\0');
    }
}

int main(void)
{
    RUN(test_names);
    RUN(test_gpus_ranges_and_grace);
    RUN(test_clash_and_bad_namespace);
    RUN(test_workers_parse);
    return check_summary("manifests");
}
