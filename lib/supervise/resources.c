/*
 * resources.c — the resource plan of a supervised graph (cores, GPUs, memory limits per worker)
 * and the mechanisms that enforce it: sched_setaffinity, CUDA_VISIBLE_DEVICES, memory cgroups
 * (v1 or v2) with setrlimit(RLIMIT_AS) as the fallback. See resources_internal.h and
 * docs/design.md ("Processes").
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log_internal.h"
#include "supervise/resources_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* ---------------------------------------------------------------------------------------------
 * Core and device lists
 * ------------------------------------------------------------------------------------------- */

void tfn__cpus_format(const int *cpus, size_t n, char *out, size_t size)
{
    size_t len = 0;
    snprintf(out, size, "-");
    for (size_t i = 0; i < n; i++) {
        size_t j = i; /* cpus[i..j] is a run of consecutive cores */
        while (j + 1 < n && cpus[j + 1] == cpus[j] + 1)
            j++;
        int w = j > i /* a range, as the kernel writes them (Cpus_allowed_list) */
                    ? snprintf(out + len, size - len, "%s%d-%d", len ? "," : "", cpus[i], cpus[j])
                    : snprintf(out + len, size - len, "%s%d", len ? "," : "", cpus[i]);
        if (w < 0 || (size_t)w >= size - len)
            return; /* truncated */
        len += (size_t)w;
        i = j;
    }
}

int tfn__cpus_parse(const char *text, cpu_set_t *set)
{
    CPU_ZERO(set);
    const char *p = text;
    int count = 0;
    while (*p) {
        char *end;
        while (*p == ' ')
            p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        long lo = strtol(p, &end, 10), hi = lo;
        p = end;
        if (*p == '-') {
            if (!isdigit((unsigned char)p[1]))
                return -1;
            hi = strtol(p + 1, &end, 10);
            p = end;
        }
        if (lo < 0 || hi < lo || hi >= CPU_SETSIZE)
            return -1;
        for (long c = lo; c <= hi; c++)
            if (!CPU_ISSET((int)c, set)) {
                CPU_SET((int)c, set);
                count++;
            }
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return count;
}

int tfn__gpus_parse(tfn__machine_t *machine, const char *list)
{
    machine->ngpus = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != '\n')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            end--;
        size_t len = (size_t)(end - start);
        if (*p)
            p++;
        if (len == 0) {
            if (*p || start != end)
                return -1;
            break;
        }
        /* CUDA ignores every device from the first invalid one ("-1" hides them all). */
        if (start[0] == '-')
            break;
        if (len >= TFN__GPU_ID_MAX || machine->ngpus == TFN__MAX_GPUS)
            return -1;
        memcpy(machine->gpus[machine->ngpus], start, len);
        machine->gpus[machine->ngpus++][len] = '\0';
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Reading the machine
 * ------------------------------------------------------------------------------------------- */

static int gpus_from_nvidia_smi(tfn__machine_t *machine)
{
    FILE *f = popen("nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null", "r");
    if (!f)
        return -1;
    char text[TFN__MAX_GPUS * 8];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    int status = pclose(f);
    if (status != 0 || len == 0)
        return -1;
    for (char *p = text; *p; p++) /* one index a line */
        if (*p == '\n')
            *p = ',';
    return tfn__gpus_parse(machine, text) == 0 && machine->ngpus > 0 ? 0 : -1;
}

static int gpus_from_proc(tfn__machine_t *machine)
{
    DIR *dir = opendir("/proc/driver/nvidia/gpus");
    if (!dir)
        return -1;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    /* The entries are PCI addresses; nvidia-smi numbers the devices in that order from 0. */
    machine->ngpus = 0;
    for (size_t i = 0; i < n && i < TFN__MAX_GPUS; i++)
        snprintf(machine->gpus[machine->ngpus++], TFN__GPU_ID_MAX, "%zu", i);
    return n ? 0 : -1;
}

int tfn__machine_read(tfn__machine_t *machine, bool want_gpus, char *err, size_t err_size)
{
    memset(machine, 0, sizeof *machine);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        snprintf(err, err_size, "sched_getaffinity: %s", strerror(errno));
        return -1;
    }
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            machine->cpus[machine->ncpus++] = c;
    machine->gpu_source = "not asked";
    if (!want_gpus)
        return 0;
    const char *env;
    if ((env = getenv(TFN__GPUS_ENV))) {
        machine->gpu_source = "$" TFN__GPUS_ENV;
        if (tfn__gpus_parse(machine, env) != 0) {
            snprintf(err, err_size, "%s='%s' is not a list of devices such as 0,1,2,3",
                     TFN__GPUS_ENV, env);
            return -1;
        }
    } else if ((env = getenv("CUDA_VISIBLE_DEVICES"))) {
        machine->gpu_source = "$CUDA_VISIBLE_DEVICES";
        if (tfn__gpus_parse(machine, env) != 0) {
            snprintf(err, err_size, "CUDA_VISIBLE_DEVICES='%s' is not a list of devices", env);
            return -1;
        }
    } else if (gpus_from_nvidia_smi(machine) == 0) {
        machine->gpu_source = "nvidia-smi";
    } else if (gpus_from_proc(machine) == 0) {
        machine->gpu_source = "/proc/driver/nvidia/gpus";
    } else {
        machine->ngpus = 0;
        machine->gpu_source = "no nvidia-smi, no /proc/driver/nvidia/gpus";
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The plan
 * ------------------------------------------------------------------------------------------- */

static int compare_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void describe_gpus(const tfn__machine_t *m, char *out, size_t size)
{
    if (m->ngpus == 0) {
        snprintf(out, size, "no GPU (%s)", m->gpu_source);
        return;
    }
    size_t len = (size_t)snprintf(out, size, "%zu GPU%s (", m->ngpus, m->ngpus == 1 ? "" : "s");
    for (size_t i = 0; i < m->ngpus && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%s", i ? "," : "", m->gpus[i]);
    if (len < size)
        snprintf(out + len, size - len, ", from %s)", m->gpu_source);
}

/* The message for a GPU request of service `i` that does not fit. */
static int gpu_error(const tfn__machine_t *m, const tfn__resource_request_t *r, size_t taken,
                     char *err, size_t err_size)
{
    char have[TFN__MAX_GPUS * (TFN__GPU_ID_MAX + 1) + 128];
    describe_gpus(m, have, sizeof have);
    double g = r->resources.gpu;
    if (g >= 1) {
        double each = ceil(g);
        snprintf(err, err_size,
                 "service '%s' asks for %g GPU%s for each of its %u worker%s (%g in all), but "
                 "this machine has %s, %zu of them taken by other services",
                 r->name, each, each == 1 ? "" : "s", r->workers, r->workers == 1 ? "" : "s",
                 each * r->workers, have, taken);
    } else {
        snprintf(err, err_size,
                 "service '%s' asks for %g GPU for each of its %u worker%s (shared devices), "
                 "but this machine has %s, %zu of them taken by other services",
                 r->name, g, r->workers, r->workers == 1 ? "" : "s", have, taken);
    }
    return -1;
}

int tfn__plan(const tfn__machine_t *m, const tfn__resource_request_t *requests, size_t n,
              tfn__worker_plan_t *const *plans, tfn__plan_totals_t *totals, char *err,
              size_t err_size)
{
    memset(totals, 0, sizeof *totals);
    bool any_gpu = false;
    for (size_t i = 0; i < n; i++) {
        const tfn__resource_request_t *r = &requests[i];
        const tfn_resources_t *res = &r->resources;
        if (!isfinite(res->cpu) || res->cpu < 0 || res->cpu > CPU_SETSIZE) {
            snprintf(err, err_size,
                     "service '%s': resources.cpu is %g: want 0 (none) or a "
                     "number of cores",
                     r->name, res->cpu);
            return -1;
        }
        if (!isfinite(res->gpu) || res->gpu < 0 || res->gpu > TFN__MAX_GPUS) {
            snprintf(err, err_size,
                     "service '%s': resources.gpu is %g: want 0 (none), a "
                     "fraction of one device, or a number of devices",
                     r->name, res->gpu);
            return -1;
        }
        if (res->memory_mb > (UINT64_MAX >> 20)) {
            snprintf(err, err_size, "service '%s': resources.memory_mb is too large", r->name);
            return -1;
        }
        if (r->workers == 0 || r->workers > TFN__MAX_WORKERS) {
            snprintf(err, err_size, "service '%s': %u workers (1 to %d)", r->name, r->workers,
                     TFN__MAX_WORKERS);
            return -1;
        }
        any_gpu |= res->gpu > 0;
    }

    /* Cores: round-robin over the allowed ones, each worker ceil(cpu) in a row. */
    size_t cursor = 0;
    for (size_t i = 0; i < n; i++) {
        const tfn__resource_request_t *r = &requests[i];
        for (unsigned w = 0; w < r->workers; w++) {
            tfn__worker_plan_t *p = &plans[i][w];
            memset(p, 0, sizeof *p);
            p->memory_bytes = r->resources.memory_mb << 20;
            p->hide_gpus = any_gpu && r->resources.gpu == 0;
            if (r->resources.cpu <= 0 || m->ncpus == 0)
                continue;
            size_t want = (size_t)ceil(r->resources.cpu);
            totals->cpu_workers++;
            totals->cpus_wanted += want;
            size_t take = want > m->ncpus ? m->ncpus : want;
            for (size_t j = 0; j < take; j++)
                p->cpus[p->ncpus++] = m->cpus[(cursor + j) % m->ncpus];
            cursor = (cursor + take) % m->ncpus;
            qsort(p->cpus, p->ncpus, sizeof *p->cpus, compare_int);
        }
    }
    totals->cpu_oversubscribed = totals->cpus_wanted > m->ncpus;

    /* GPUs: whole devices first (exclusive), then fractions packed onto shared devices. */
    int owner[TFN__MAX_GPUS]; /* service index + 1 of whoever uses the device; 0: free */
    double share[TFN__MAX_GPUS] = {0};
    memset(owner, 0, sizeof owner);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            const tfn__resource_request_t *r = &requests[i];
            double g = r->resources.gpu;
            if (g <= 0 || (pass == 0) != (g >= 1))
                continue;
            size_t taken = 0;
            for (size_t d = 0; d < m->ngpus; d++)
                taken += owner[d] != 0 && owner[d] != (int)i + 1;
            for (unsigned w = 0; w < r->workers; w++) {
                tfn__worker_plan_t *p = &plans[i][w];
                if (pass == 0) {
                    size_t need = (size_t)ceil(g);
                    for (size_t d = 0; d < m->ngpus && p->ngpus < need; d++)
                        if (!owner[d]) {
                            owner[d] = (int)i + 1;
                            share[d] = 1;
                            p->gpus[p->ngpus++] = (unsigned)d;
                        }
                    if (p->ngpus < need)
                        return gpu_error(m, r, taken, err, err_size);
                    continue;
                }
                /* A fraction: a shared device with room left, else a free one. */
                size_t d, found = m->ngpus;
                for (d = 0; d < m->ngpus && found == m->ngpus; d++)
                    if (owner[d] < 0 && share[d] + g <= 1 + 1e-9)
                        found = d;
                for (d = 0; d < m->ngpus && found == m->ngpus; d++)
                    if (!owner[d])
                        found = d;
                if (found == m->ngpus)
                    return gpu_error(m, r, taken, err, err_size);
                owner[found] = -1; /* shared: fractions of any service may go there */
                share[found] += g;
                p->gpus[p->ngpus++] = (unsigned)found;
                p->gpu_shared = true;
            }
        }
    }
    for (size_t d = 0; d < m->ngpus; d++)
        totals->gpus_used += owner[d] != 0;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Memory limits: finding our cgroup, creating workers' groups
 * ------------------------------------------------------------------------------------------- */

static int write_text(const char *dir, const char *file, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)len ? 0 : -1;
}

static int read_text(const char *dir, const char *file, char *out, size_t size)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, out, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    out[n] = '\0';
    return 0;
}

/* Our cgroup's directory: cgroup v1's memory hierarchy (v2 false) or the unified one (v2 true).
 * The path in /proc/self/cgroup is relative to the hierarchy's root; mountinfo says where that
 * root (or a part of it) is mounted. */
static int cgroup_dir(bool v2, char *out, size_t size)
{
    char path[1024] = "";
    bool found = false;
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return -1;
    char line[2048];
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        const char *controllers = c1 + 1;
        if (v2) {
            found = strcmp(line, "0") == 0 && controllers[0] == '\0';
        } else {
            char list[256];
            snprintf(list, sizeof list, "%s", controllers);
            for (char *save, *t = strtok_r(list, ",", &save); t && !found;
                 t = strtok_r(NULL, ",", &save))
                found = strcmp(t, "memory") == 0;
        }
        if (found)
            snprintf(path, sizeof path, "%s", c2 + 1);
    }
    fclose(f);
    if (!found)
        return -1;

    f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    found = false;
    while (!found && fgets(line, sizeof line, f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS */
        char root[1024], mount[1024];
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, mount) != 2)
            continue;
        char *dash = strstr(line, " - ");
        if (!dash)
            continue;
        char fstype[64], source[256], options[512] = "";
        if (sscanf(dash + 3, "%63s %255s %511s", fstype, source, options) < 2)
            continue;
        if (v2) {
            if (strcmp(fstype, "cgroup2") != 0)
                continue;
        } else {
            if (strcmp(fstype, "cgroup") != 0)
                continue;
            bool memory = false;
            for (char *save, *t = strtok_r(options, ",", &save); t && !memory;
                 t = strtok_r(NULL, ",", &save))
                memory = strcmp(t, "memory") == 0;
            if (!memory)
                continue;
        }
        const char *rel = path;
        size_t rootlen = strlen(root);
        if (strcmp(root, "/") != 0) {
            if (strncmp(path, root, rootlen) != 0 || (path[rootlen] && path[rootlen] != '/'))
                continue; /* this mount shows another part of the hierarchy */
            rel = path + rootlen;
        }
        int w = snprintf(out, size, "%s%s", mount, strcmp(rel, "/") == 0 ? "" : rel);
        found = w > 0 && (size_t)w < size;
    }
    fclose(f);
    return found ? 0 : -1;
}

/* Can we create a group under `dir` and limit its memory? (A probe group, removed at once.) */
static bool cgroup_usable(tfn__memory_kind_t kind, const char *dir, char *why, size_t why_size)
{
    if (kind == TFN__MEMORY_CGROUP2) {
        char controllers[512];
        if (read_text(dir, "cgroup.subtree_control", controllers, sizeof controllers) != 0) {
            snprintf(why, why_size, "%s/cgroup.subtree_control: %s", dir, strerror(errno));
            return false;
        }
        if (!strstr(controllers, "memory") &&
            write_text(dir, "cgroup.subtree_control", "+memory") != 0) {
            snprintf(why, why_size,
                     "cannot enable the memory controller in %s: %s "
                     "(delegate a cgroup with it, e.g. systemd-run -p Delegate=yes)",
                     dir, strerror(errno));
            return false;
        }
    }
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/tiffin-%d-probe", dir, (int)getpid());
    if (mkdir(probe, 0755) != 0 && errno != EEXIST) {
        snprintf(why, why_size, "cannot create a cgroup in %s: %s", dir, strerror(errno));
        return false;
    }
    const char *file = kind == TFN__MEMORY_CGROUP1 ? "memory.limit_in_bytes" : "memory.max";
    bool ok = write_text(probe, file, "1073741824") == 0;
    if (!ok)
        snprintf(why, why_size, "cannot write %s/%s: %s", probe, file, strerror(errno));
    rmdir(probe);
    return ok;
}

int tfn__memory_limiter_init(tfn__memory_limiter_t *limiter, char *err, size_t err_size)
{
    memset(limiter, 0, sizeof *limiter);
    const char *mode = getenv(TFN__MEMORY_LIMITS_ENV);
    if (!mode || !*mode)
        mode = "auto";
    bool want_cgroup = !strcmp(mode, "auto") || !strcmp(mode, "cgroup");
    bool want_rlimit = !strcmp(mode, "auto") || !strcmp(mode, "rlimit");
    if (!want_cgroup && !want_rlimit && strcmp(mode, "off") != 0) {
        snprintf(err, err_size, "%s=%s: want auto, cgroup, rlimit or off", TFN__MEMORY_LIMITS_ENV,
                 mode);
        return -1;
    }
    char why1[1500] = "", why2[1500] = "";
    if (want_cgroup) {
        /* cgroup v1's memory controller where there is one (hybrid hosts mount both), else v2. */
        if (cgroup_dir(false, limiter->dir, sizeof limiter->dir) != 0)
            snprintf(why1, sizeof why1, "no cgroup v1 memory controller");
        else if (cgroup_usable(TFN__MEMORY_CGROUP1, limiter->dir, why1, sizeof why1)) {
            limiter->kind = TFN__MEMORY_CGROUP1;
            snprintf(limiter->note, sizeof limiter->note,
                     "memory limits: cgroup v1, a group per worker under %s", limiter->dir);
            return 0;
        }
        if (cgroup_dir(true, limiter->dir, sizeof limiter->dir) != 0)
            snprintf(why2, sizeof why2, "no cgroup v2 hierarchy");
        else if (cgroup_usable(TFN__MEMORY_CGROUP2, limiter->dir, why2, sizeof why2)) {
            limiter->kind = TFN__MEMORY_CGROUP2;
            snprintf(limiter->note, sizeof limiter->note,
                     "memory limits: cgroup v2, a group per worker under %s", limiter->dir);
            return 0;
        }
        limiter->dir[0] = '\0';
        if (!want_rlimit) {
            snprintf(err, err_size, "%s=cgroup, but no memory cgroup is usable: %s; %s",
                     TFN__MEMORY_LIMITS_ENV, why1, why2);
            return -1;
        }
    }
    if (want_rlimit && UNDER_ASAN) {
        limiter->kind = TFN__MEMORY_OFF;
        snprintf(limiter->note, sizeof limiter->note,
                 "memory limits are NOT enforced: %s%s%s%sRLIMIT_AS cannot be used under "
                 "AddressSanitizer",
                 why1, why1[0] ? "; " : "", why2, why2[0] ? "; " : "");
        return 0;
    }
    if (want_rlimit) {
        limiter->kind = TFN__MEMORY_RLIMIT;
        snprintf(limiter->note, sizeof limiter->note,
                 "memory limits: setrlimit(RLIMIT_AS) in each worker (address space, not "
                 "resident memory)%s%s%s%s",
                 want_cgroup ? ", as " : "", why1, why2[0] ? "; " : "", why2);
        return 0;
    }
    limiter->kind = TFN__MEMORY_OFF;
    snprintf(limiter->note, sizeof limiter->note, "memory limits are NOT enforced (%s=off)",
             TFN__MEMORY_LIMITS_ENV);
    return 0;
}

int tfn__cgroup_create(const tfn__memory_limiter_t *limiter, const char *name, uint64_t bytes,
                       char *path, size_t path_size, char *err, size_t err_size)
{
    int w = snprintf(path, path_size, "%s/%s", limiter->dir, name);
    if (w < 0 || (size_t)w >= path_size) {
        snprintf(err, err_size, "cgroup path too long");
        return -1;
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create cgroup %s: %s", path, strerror(errno));
        return -1;
    }
    char text[32];
    snprintf(text, sizeof text, "%llu", (unsigned long long)bytes);
    if (limiter->kind == TFN__MEMORY_CGROUP1) {
        if (write_text(path, "memory.limit_in_bytes", text) != 0) {
            snprintf(err, err_size, "cannot write %s/memory.limit_in_bytes: %s", path,
                     strerror(errno));
            rmdir(path);
            return -1;
        }
        /* With swap accounting, swap must not be a way round the limit. (Fails harmlessly
         * where there is no swap accounting.) */
        (void)write_text(path, "memory.memsw.limit_in_bytes", text);
    } else {
        if (write_text(path, "memory.max", text) != 0) {
            snprintf(err, err_size, "cannot write %s/memory.max: %s", path, strerror(errno));
            rmdir(path);
            return -1;
        }
        (void)write_text(path, "memory.swap.max", "0");
    }
    return 0;
}

long tfn__cgroup_oom_kills(tfn__memory_kind_t kind, const char *path)
{
    char text[2048];
    const char *file = kind == TFN__MEMORY_CGROUP1 ? "memory.oom_control" : "memory.events";
    if ((kind != TFN__MEMORY_CGROUP1 && kind != TFN__MEMORY_CGROUP2) ||
        read_text(path, file, text, sizeof text) != 0)
        return -1;
    /* A line "oom_kill N" (v1: since Linux 4.13). */
    for (char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, "oom_kill ", 9) == 0)
            return strtol(line + 9, NULL, 10);
    return -1;
}

int tfn__cgroup_remove(const char *path) { return rmdir(path); }

/* ---------------------------------------------------------------------------------------------
 * In the worker
 * ------------------------------------------------------------------------------------------- */

int tfn__worker_apply_plan(void)
{
    int rc = 0;
    const char *cpus = getenv(TFN__CPUS_ENV);
    if (cpus) {
        cpu_set_t set;
        if (tfn__cpus_parse(cpus, &set) <= 0)
            tfn__log("warn", "%s='%s' is not a list of cores; not pinning", TFN__CPUS_ENV, cpus);
        else if (sched_setaffinity(0, sizeof set, &set) != 0)
            tfn__log("warn", "cannot pin to cores %s: %s", cpus, strerror(errno));
        unsetenv(TFN__CPUS_ENV);
    }
    const char *group = getenv(TFN__MEMORY_CGROUP_ENV);
    if (group) {
        char pid[32];
        snprintf(pid, sizeof pid, "%d\n", (int)getpid());
        if (write_text(group, "cgroup.procs", pid) != 0) {
            tfn__log("error", "cannot join memory cgroup %s: %s", group, strerror(errno));
            rc = -1;
        }
        unsetenv(TFN__MEMORY_CGROUP_ENV);
    }
    const char *limit = getenv(TFN__MEMORY_RLIMIT_ENV);
    if (limit) {
        char *end;
        unsigned long long bytes = strtoull(limit, &end, 10);
        if (UNDER_ASAN) {
            tfn__log("warn", "memory limit not enforced: RLIMIT_AS cannot be used under "
                             "AddressSanitizer");
        } else if (*end || bytes == 0) {
            tfn__log("warn", "%s='%s' is not a number of bytes", TFN__MEMORY_RLIMIT_ENV, limit);
        } else {
            /* Address space, not resident memory: the limit is what the worker has mapped now
             * (the program, its libraries) plus its allowance. */
            unsigned long long pages = 0;
            FILE *f = fopen("/proc/self/statm", "re");
            if (f) {
                if (fscanf(f, "%llu", &pages) != 1)
                    pages = 0;
                fclose(f);
            }
            unsigned long long base = pages * (unsigned long long)sysconf(_SC_PAGESIZE);
            struct rlimit rl = {.rlim_cur = base + bytes, .rlim_max = base + bytes};
            if (setrlimit(RLIMIT_AS, &rl) != 0)
                tfn__log("warn", "setrlimit(RLIMIT_AS): %s", strerror(errno));
        }
        unsetenv(TFN__MEMORY_RLIMIT_ENV);
    }
    return rc;
}
