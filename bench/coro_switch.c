/*
 * coro_switch.c — what a coroutine switch costs, and what 10,000 suspended coroutines weigh.
 *
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Ilib bench/coro_switch.c -o build/coro_switch \
 *      -lpcl -lpthread -DWITH_UV $(pkg-config --libs libuv) && build/coro_switch
 *
 * Rows: tiffin's switch (whichever lib/coro.c compiles to; add -DTFN_CORO_UCONTEXT for the
 * fallback), a bare glibc swapcontext ping-pong, and PCL's co_call/co_resume (libpcl1-dev; left
 * out when <pcl.h> is missing, then drop -lpcl). For comparison, the thread handoffs a handler
 * would pay instead: a mutex+condvar ping-pong between two threads, and (with -DWITH_UV and
 * libuv) a uv_queue_work round trip from the loop to the thread pool and back, which is what a
 * TFN_RUN_IN_THREAD handler costs. Each figure is the median of RUNS runs.
 */
#include "../lib/core/coro.c"

#include <stdio.h>
#include <time.h>
#include <ucontext.h>

#include <pthread.h>
#ifdef WITH_UV
#include <uv.h>
#endif

#if defined(__has_include)
#if __has_include(<pcl.h>)
#include <pcl.h>
#define HAVE_PCL 1
#endif
#endif

#define RUNS      9
#define SWITCHES  2000000 /* resume+yield pairs per run */
#define CREATES   500000  /* create+run+free per run */
#define SUSPENDED 10000   /* coroutines for the memory figures */
#define HANDOFFS  20000   /* thread round trips per run */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over RUNS runs of fn(), which returns ns per operation. */
static double median(double (*fn)(void))
{
    double v[RUNS];
    fn(); /* warm up */
    for (int i = 0; i < RUNS; i++)
        v[i] = fn();
    qsort(v, RUNS, sizeof v[0], cmp_double);
    return v[RUNS / 2];
}

/* ---- tiffin ---------------------------------------------------------------------------------- */

static tfn__coro_pool_t *pool;

static void yield_loop(void *arg)
{
    for (long i = *(long *)arg; i > 0; i--)
        tfn__coro_yield();
}

static double tfn_switch(void)
{
    long n = SWITCHES;
    tfn__coro_t *co = tfn__coro_new(pool, yield_loop, &n);
    double t0 = now_ns();
    while (tfn__coro_resume(co))
        ;
    double t = now_ns() - t0;
    tfn__coro_free(co);
    return t / SWITCHES;
}

static void nothing(void *arg) { (void)arg; }

static double tfn_create(void)
{
    double t0 = now_ns();
    for (int i = 0; i < CREATES; i++) {
        tfn__coro_t *co = tfn__coro_new(pool, nothing, NULL);
        tfn__coro_resume(co);
        tfn__coro_free(co);
    }
    return (now_ns() - t0) / CREATES;
}

/* ---- bare ucontext --------------------------------------------------------------------------- */

static ucontext_t uc_main, uc_co;

static void uc_loop(void)
{
    for (;;)
        swapcontext(&uc_co, &uc_main);
}

static double uc_switch(void)
{
    static char *stack;
    if (!stack) {
        stack = malloc(64 * 1024);
        getcontext(&uc_co);
        uc_co.uc_stack.ss_sp = stack;
        uc_co.uc_stack.ss_size = 64 * 1024;
        uc_co.uc_link = NULL;
        makecontext(&uc_co, uc_loop, 0);
    }
    double t0 = now_ns();
    for (int i = 0; i < SWITCHES; i++)
        swapcontext(&uc_main, &uc_co);
    return (now_ns() - t0) / SWITCHES;
}

/* ---- PCL ------------------------------------------------------------------------------------- */

#ifdef HAVE_PCL
static void pcl_loop(void *arg)
{
    for (long i = *(long *)arg; i > 0; i--)
        co_resume();
    /* returning ends (and deletes) the coroutine, back to the last co_call */
}

static double pcl_switch(void)
{
    static long n = SWITCHES;
    coroutine_t co = co_create(pcl_loop, &n, NULL, 64 * 1024);
    double t0 = now_ns();
    for (long i = 0; i <= n; i++)
        co_call(co);
    return (now_ns() - t0) / SWITCHES;
}

static double pcl_create(void)
{
    static long zero = 0;
    double t0 = now_ns();
    for (int i = 0; i < CREATES / 10; i++)
        co_call(co_create(pcl_loop, &zero, NULL, 64 * 1024));
    return (now_ns() - t0) / (CREATES / 10);
}
#endif

/* ---- thread handoffs ------------------------------------------------------------------------ */

/* Two threads take turns through a mutex and two condition variables: one round trip is the
 * main thread waking the other and being woken back, the least a "run it on another thread and
 * wait" handoff costs. */
static pthread_mutex_t pp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pp_ping = PTHREAD_COND_INITIALIZER, pp_pong = PTHREAD_COND_INITIALIZER;
static long pp_turn; /* odd: the other thread's turn */
static int pp_stop;

static void *pp_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pp_lock);
    for (;;) {
        while (!(pp_turn & 1) && !pp_stop)
            pthread_cond_wait(&pp_ping, &pp_lock);
        if (pp_stop)
            break;
        pp_turn++;
        pthread_cond_signal(&pp_pong);
    }
    pthread_mutex_unlock(&pp_lock);
    return NULL;
}

static double thread_pingpong(void)
{
    pthread_t other;
    pp_turn = 0;
    pp_stop = 0;
    pthread_create(&other, NULL, pp_thread, NULL);
    double t0 = now_ns();
    pthread_mutex_lock(&pp_lock);
    for (int i = 0; i < HANDOFFS; i++) {
        pp_turn++;
        pthread_cond_signal(&pp_ping);
        while (pp_turn & 1)
            pthread_cond_wait(&pp_pong, &pp_lock);
    }
    pp_stop = 1;
    pthread_cond_signal(&pp_ping);
    pthread_mutex_unlock(&pp_lock);
    double t = now_ns() - t0;
    pthread_join(other, NULL);
    return t / HANDOFFS;
}

#ifdef WITH_UV
/* One work item at a time: queue it, let a pool thread run it, get the done callback on the
 * loop, queue the next. */
static uv_work_t uv_work;
static int uv_left;

static void uv_nothing(uv_work_t *w) { (void)w; }

static void uv_done(uv_work_t *w, int status)
{
    (void)status;
    if (--uv_left > 0)
        uv_queue_work(w->loop, w, uv_nothing, uv_done);
}

static double uv_roundtrip(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_left = HANDOFFS;
    double t0 = now_ns();
    uv_queue_work(&loop, &uv_work, uv_nothing, uv_done);
    uv_run(&loop, UV_RUN_DEFAULT);
    double t = now_ns() - t0;
    uv_loop_close(&loop);
    return t / HANDOFFS;
}
#endif

/* ---- memory of suspended coroutines ---------------------------------------------------------- */

/* A field of /proc/self/status, in KiB. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t len = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            kb = atol(line + len + 1);
    if (f)
        fclose(f);
    return kb;
}

static long count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

static void just_wait(void *arg)
{
    (void)arg;
    tfn__coro_yield();
}

static void touch_and_wait(void *arg)
{
    char buf[4096];
    memset(buf, 1, sizeof buf);
    (void)arg;
    __asm__ volatile("" : : "r"(buf) : "memory"); /* keep the stores */
    tfn__coro_yield();
}

/* Suspends SUSPENDED coroutines running fn; prints what they cost. */
static void memory_row(tfn__coro_fn fn, const char *what)
{
    tfn__coro_pool_t *mem_pool = tfn__coro_pool_new(0, 0);
    static tfn__coro_t *coros[SUSPENDED];
    long rss0 = status_kb("VmRSS"), pte0 = status_kb("VmPTE"), maps0 = count_mappings();
    int n = 0;
    while (n < SUSPENDED && (coros[n] = tfn__coro_new(mem_pool, fn, NULL)))
        tfn__coro_resume(coros[n++]);
    long rss = status_kb("VmRSS") - rss0, pte = status_kb("VmPTE") - pte0;
    long maps = count_mappings() - maps0;
    printf("  %d suspended, %-26s RSS +%5.1f MiB (%4.1f KiB each), page tables +%4.1f MiB, "
           "mappings +%ld\n",
           n, what, rss / 1024.0, (double)rss / n, pte / 1024.0, maps);
    for (int i = 0; i < n; i++) {
        tfn__coro_resume(coros[i]);
        tfn__coro_free(coros[i]);
    }
    tfn__coro_pool_free(mem_pool);
}

int main(void)
{
    pool = tfn__coro_pool_new(0, 16);
#ifdef HAVE_PCL
    co_thread_init();
#endif
    printf("coroutine switch cost, median of %d runs (%d resume+yield pairs each)\n", RUNS,
           SWITCHES);
    printf("  %-38s %8s\n", "", "ns");
    printf("  %-38s %8.1f\n", "tiffin resume+yield (" CORO_BACKEND ")", median(tfn_switch));
    printf("  %-38s %8.1f\n", "glibc swapcontext pair", median(uc_switch));
#ifdef HAVE_PCL
    printf("  %-38s %8.1f\n", "PCL co_call+co_resume", median(pcl_switch));
#else
    printf("  %-38s %8s\n", "PCL co_call+co_resume", "n/a");
#endif
    printf("  %-38s %8.1f\n", "tiffin new+resume+free (pooled stack)", median(tfn_create));
#ifdef HAVE_PCL
    printf("  %-38s %8.1f\n", "PCL co_create+co_call (malloc'd stack)", median(pcl_create));
#endif
    printf("thread handoff, median of %d runs (%d round trips each)\n", RUNS, HANDOFFS);
    printf("  %-38s %8.1f\n", "mutex+condvar ping-pong round trip", median(thread_pingpong));
#ifdef WITH_UV
    printf("  %-38s %8.1f\n", "uv_queue_work round trip (1 in flight)", median(uv_roundtrip));
#endif
    printf("memory, %zu KiB stacks (%zu bytes usable) + %zu KiB guard:\n", pool->requested / 1024,
           tfn__coro_pool_stack_size(pool), pool->guard_size / 1024);
    memory_row(just_wait, "each yielded at once:");
    memory_row(touch_and_wait, "each wrote 4 KiB of stack:");
    tfn__coro_pool_free(pool);
#ifdef HAVE_PCL
    co_thread_cleanup();
#endif
    return 0;
}
