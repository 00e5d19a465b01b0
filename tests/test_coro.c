/*
 * test_coro.c — stackful coroutines (lib/coro.c, included to reach the pool internals).
 *
 * Build with -DTFN_CORO_UCONTEXT to test the makecontext/swapcontext fallback.
 */
#include "../lib/core/coro.c"

#include "check.h"

#include <fenv.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* ---- helpers --------------------------------------------------------------------------------- */

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/*
 * Runs fn in a child process with stderr captured into `out` (NUL-terminated) and returns its
 * wait status. No core dumps: some children are meant to crash.
 */
static int run_in_child(void (*fn)(void), char *out, size_t out_size)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], out + len, out_size - 1 - len)) > 0 && len + (size_t)n < out_size - 1)
        len += (size_t)n;
    if (n > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* ---- resume and yield ------------------------------------------------------------------------ */

struct ping_pong {
    int value;
    int rounds;
    int current_ok;
    tfn__coro_t *self;
};

static void ping_pong_main(void *arg)
{
    struct ping_pong *pp = arg;
    for (int i = 0; i < pp->rounds; i++) {
        pp->value = i;
        if (tfn__coro_current() != pp->self || tfn__coro_arg(tfn__coro_current()) != pp)
            pp->current_ok = 0;
        tfn__coro_yield();
    }
    pp->value = -1;
}

static void test_ping_pong(void)
{
    tfn__coro_pool_t *pool = tfn__coro_pool_new(0, 4);
    CHECK(pool != NULL);
    CHECK(tfn__coro_pool_stack_size(pool) >= TFN__CORO_DEFAULT_STACK);
    struct ping_pong pp = {.value = -2, .rounds = 1000, .current_ok = 1};
    tfn__coro_t *co = pp.self = tfn__coro_new(pool, ping_pong_main, &pp);
    CHECK(co != NULL);
    CHECK(pp.value == -2); /* created suspended: nothing ran yet */
    CHECK(!tfn__coro_finished(co));
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ_INT(tfn__coro_resume(co), 1);
        CHECK_EQ_INT(pp.value, i);
        CHECK(tfn__coro_current() == NULL);
    }
    CHECK_EQ_INT(tfn__coro_resume(co), 0);
    CHECK_EQ_INT(pp.value, -1);
    CHECK(tfn__coro_finished(co));
    CHECK(pp.current_ok);
    tfn__coro_free(co);
    tfn__coro_pool_free(pool);
}

static void return_at_once(void *arg) { *(int *)arg = 1; }

static void test_finish_without_yield(void)
{
    tfn__coro_pool_t *pool = tfn__coro_pool_new(0, 4);
    int ran = 0;
    tfn__coro_t *co = tfn__coro_new(pool, return_at_once, &ran);
    CHECK_EQ_INT(tfn__coro_resume(co), 0);
    CHECK_EQ_INT(ran, 1);
    tfn__coro_free(co);
    /* Freed without ever running: allowed, the function never runs. */
    ran = 0;
    co = tfn__coro_new(pool, return_at_once, &ran);
    tfn__coro_free(co);
    CHECK_EQ_INT(ran, 0);
    tfn__coro_free(NULL);
    tfn__coro_pool_free(pool);
    tfn__coro_pool_free(NULL);
}

/* ---- 10,000 coroutines alive at once --------------------------------------------------------- */

#define MANY 10000

struct many {
    int id;
    int ok;
    int order; /* when it finished */
};

static int many_finished;

static void many_main(void *arg)
{
    struct many *m = arg;
    unsigned char buf[200]; /* on this coroutine's stack; must survive the suspension */
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(m->id * 31 + (int)i);
    int id = m->id;
    tfn__coro_yield();
    m->ok = id == m->id && tfn__coro_current() && tfn__coro_arg(tfn__coro_current()) == m;
    for (size_t i = 0; i < sizeof buf; i++)
        if (buf[i] != (unsigned char)(m->id * 31 + (int)i))
            m->ok = 0;
    m->order = many_finished++;
}

static void test_many_alive(void)
{
    tfn__coro_pool_t *pool = tfn__coro_pool_new(0, 256);
    static struct many items[MANY];
    static tfn__coro_t *coros[MANY];
    static int order[MANY];
    many_finished = 0;
    int created = 0;
    for (int i = 0; i < MANY; i++) {
        items[i] = (struct many){.id = i};
        coros[i] = tfn__coro_new(pool, many_main, &items[i]);
        if (!coros[i])
            break;
        created++;
        CHECK_EQ_INT(tfn__coro_resume(coros[i]), 1);
    }
    CHECK_EQ_INT(created, MANY);
    CHECK_EQ_INT(pool->n_live, MANY);
    for (int i = 0; i < created; i++)
        order[i] = i;
    for (int i = created - 1; i > 0; i--) { /* shuffle */
        int j = (int)(rng() % (uint32_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int ok = 1;
    for (int k = 0; k < created; k++) {
        int i = order[k];
        if (tfn__coro_resume(coros[i]) != 0 || !items[i].ok || items[i].order != k)
            ok = 0;
        tfn__coro_free(coros[i]);
    }
    CHECK(ok);
    CHECK_EQ_INT(pool->n_live, 0);
    CHECK_EQ_INT(pool->n_cached, 256);
    tfn__coro_pool_free(pool);
}

/* ---- stacks are reused through the pool ------------------------------------------------------ */

static void scribble_and_yield(void *arg)
{
    volatile char buf[1024];
    memset((char *)buf, *(int *)arg, sizeof buf);
    tfn__coro_yield();
    *(int *)arg = buf[0] + buf[sizeof buf - 1];
}

static void test_stack_reuse(void)
{
    tfn__coro_pool_t *pool = tfn__coro_pool_new(0, 2);
    int a_arg = 1;
    tfn__coro_t *a = tfn__coro_new(pool, scribble_and_yield, &a_arg);
    char *a_stack = a->stack;
    CHECK_EQ_INT(tfn__coro_resume(a), 1);
    CHECK_EQ_INT(tfn__coro_resume(a), 0);
    CHECK_EQ_INT(a_arg, 2);
    tfn__coro_free(a);
    CHECK_EQ_INT(pool->n_cached, 1);

    int b_arg = 3;
    tfn__coro_t *b = tfn__coro_new(pool, scribble_and_yield, &b_arg);
    CHECK(b->stack == a_stack); /* the same stack, again */
    CHECK_EQ_INT(pool->n_cached, 0);
    CHECK_EQ_INT(tfn__coro_resume(b), 1);
    CHECK_EQ_INT(tfn__coro_resume(b), 0);
    CHECK_EQ_INT(b_arg, 6);

    /* Three alive, two kept on free, the third unmapped. */
    int args[2] = {4, 5};
    tfn__coro_t *c = tfn__coro_new(pool, scribble_and_yield, &args[0]);
    tfn__coro_t *d = tfn__coro_new(pool, scribble_and_yield, &args[1]);
    CHECK(c && d && c != b && d != b && c != d);
    CHECK_EQ_INT(pool->n_live, 3);
    tfn__coro_free(b);
    tfn__coro_free(c);
    tfn__coro_free(d);
    CHECK_EQ_INT(pool->n_cached, 2);
    CHECK_EQ_INT(pool->n_live, 0);
    tfn__coro_pool_free(pool);
}

/* The pool outlives tfn__coro_pool_free while a coroutine is alive; the last free releases it. */
static void test_pool_freed_first(void)
{
    tfn__coro_pool_t *pool = tfn__coro_pool_new(16 * 1024, 8);
    int arg = 7;
    tfn__coro_t *co = tfn__coro_new(pool, scribble_and_yield, &arg);
    CHECK_EQ_INT(tfn__coro_resume(co), 1);
    tfn__coro_pool_free(pool);
    CHECK_EQ_INT(tfn__coro_resume(co), 0);
    CHECK_EQ_INT(arg, 14);
    tfn__coro_free(co); /* frees the pool too (ASan/valgrind would report a leak otherwise) */
}

/* ---- recursion within the stack size --------------------------------------------------------- */

struct recursion {
    uintptr_t top; /* frame address at depth 0 */
    size_t target; /* bytes of stack to use */
    size_t used;   /* deepest point reached */
    int max_depth;
};

static long recurse(struct recursion *r, int depth)
{
    volatile char pad[64];
    pad[0] = (char)depth;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (!r->top)
        r->top = here;
    size_t used = r->top - here;
    if (used > r->used)
        r->used = used;
    long below = 0;
    if (used < r->target && depth < 1000000) {
        below = recurse(r, depth + 1);
        if (depth == 0 || depth % 16 == 0)
            tfn__coro_yield(); /* suspend with a deep stack, too */
    } else {
        r->max_depth = depth;
    }
    return below + pad[0];
}

static void recursion_main(void *arg)
{
    struct recursion *r = arg;
    long sum = recurse(r, 0);
    long expect = 0;
    for (int d = 0; d <= r->max_depth; d++)
        expect += (char)d;
    if (sum != expect)
        r->max_depth = -1;
}

static void test_deep_recursion(void)
{
    tfn__coro_pool_t *pool = tfn__coro_pool_new(0, 1);
    struct recursion r = {.target = tfn__coro_pool_stack_size(pool) * 3 / 4};
    tfn__coro_t *co = tfn__coro_new(pool, recursion_main, &r);
    while (tfn__coro_resume(co))
        ;
    CHECK(r.used >= r.target);
    CHECK(r.used < tfn__coro_pool_stack_size(pool));
    CHECK(r.max_depth > 10);
    tfn__coro_free(co);
    tfn__coro_pool_free(pool);
}

/* ---- floating point state -------------------------------------------------------------------- */

struct fp {
    double result;
    int rounding_ok;
};

static void fp_main(void *arg)
{
    struct fp *f = arg;
    volatile double seed = 1.5;
    double a = seed, b = seed * 2, c = seed * 3, d = seed * 4, e = seed * 5, g = seed * 6;
    double h = seed * 7, k = seed * 8, m = seed * 9; /* more than aarch64's d8-d15 */
    for (int i = 0; i < 10; i++) {
        tfn__coro_yield();
        a += 1, b *= 1.5, c -= 0.25, d /= 2, e += a, g += b, h -= c, k += d, m *= 1.0001;
    }
    f->result = a + b + c + d + e + g + h + k + m;
    f->rounding_ok = 1;
#if defined(__x86_64__)
    /* The rounding mode (MXCSR) is part of each context. */
    f->rounding_ok = fesetround(FE_UPWARD) == 0;
    tfn__coro_yield();
    f->rounding_ok &= fegetround() == FE_UPWARD;
    fesetround(FE_TONEAREST);
#endif
}

static double fp_expected(void)
{
    volatile double seed = 1.5;
    double a = seed, b = seed * 2, c = seed * 3, d = seed * 4, e = seed * 5, g = seed * 6;
    double h = seed * 7, k = seed * 8, m = seed * 9;
    for (int i = 0; i < 10; i++)
        a += 1, b *= 1.5, c -= 0.25, d /= 2, e += a, g += b, h -= c, k += d, m *= 1.0001;
    return a + b + c + d + e + g + h + k + m;
}

static void test_floating_point(void)
{
    tfn__coro_pool_t *pool = tfn__coro_pool_new(0, 1);
    struct fp f = {0};
    tfn__coro_t *co = tfn__coro_new(pool, fp_main, &f);
    volatile double seed = 0.1;
    double x = seed, y = seed * 3, z = seed * 7; /* live across the switches in this context */
    int n = 0;
    while (tfn__coro_resume(co)) {
        x *= 1.1, y += x, z -= y;
        CHECK_EQ_INT(fegetround(), FE_TONEAREST);
        n++;
    }
    CHECK(f.result == fp_expected());
    CHECK(f.rounding_ok);
    double ex = seed, ey = seed * 3, ez = seed * 7;
    for (int i = 0; i < n; i++)
        ex *= 1.1, ey += ex, ez -= ey;
    CHECK(x == ex && y == ey && z == ez);
    tfn__coro_free(co);
    tfn__coro_pool_free(pool);
}

/* ---- two threads, each with its own pool ----------------------------------------------------- */

struct thread_arg {
    int ok;
};

static void thread_coro_main(void *arg)
{
    int *counter = arg;
    for (int i = 0; i < 20000; i++) {
        ++*counter;
        tfn__coro_yield();
    }
}

static void *thread_main(void *arg)
{
    struct thread_arg *t = arg;
    tfn__coro_pool_t *pool = tfn__coro_pool_new(32 * 1024, 4);
    t->ok = pool != NULL && tfn__coro_current() == NULL;
    enum { N = 8 };
    tfn__coro_t *coros[N];
    int counters[N] = {0};
    for (int i = 0; i < N; i++)
        coros[i] = tfn__coro_new(pool, thread_coro_main, &counters[i]);
    int live = N;
    while (live > 0) {
        live = 0;
        for (int i = 0; i < N; i++) {
            if (!tfn__coro_finished(coros[i]) && tfn__coro_resume(coros[i]))
                live++;
            if (tfn__coro_current() != NULL)
                t->ok = 0;
        }
    }
    for (int i = 0; i < N; i++) {
        if (counters[i] != 20000)
            t->ok = 0;
        tfn__coro_free(coros[i]);
    }
    tfn__coro_pool_free(pool);
    return NULL;
}

static void test_two_threads(void)
{
    pthread_t threads[2];
    struct thread_arg args[2] = {{0}, {0}};
    for (int i = 0; i < 2; i++)
        CHECK_EQ_INT(pthread_create(&threads[i], NULL, thread_main, &args[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    CHECK(args[0].ok);
    CHECK(args[1].ok);
}

/* ---- a coroutine created inside another one -------------------------------------------------- */

struct spawn {
    tfn__coro_pool_t *pool;
    tfn__coro_t *outer, *inner;
    int inner_ran;
    int current_ok;
};

static void inner_main(void *arg)
{
    struct spawn *s = arg;
    s->current_ok &= tfn__coro_current() == s->inner;
    tfn__coro_yield();
    s->inner_ran++;
}

static void outer_main(void *arg)
{
    struct spawn *s = arg;
    s->inner = tfn__coro_new(s->pool, inner_main, s);
    s->current_ok &= tfn__coro_current() == s->outer; /* creating does not switch */
    tfn__coro_yield();                                /* main resumes the inner one */
    s->current_ok &= tfn__coro_current() == s->outer;
    tfn__coro_free(s->inner); /* finished by now: may be freed from here */
    s->inner = NULL;
}

static void test_created_inside(void)
{
    struct spawn s = {.pool = tfn__coro_pool_new(0, 4), .current_ok = 1};
    s.outer = tfn__coro_new(s.pool, outer_main, &s);
    CHECK_EQ_INT(tfn__coro_resume(s.outer), 1);
    CHECK(s.inner != NULL);
    CHECK_EQ_INT(tfn__coro_resume(s.inner), 1);
    CHECK_EQ_INT(tfn__coro_resume(s.inner), 0);
    CHECK_EQ_INT(s.inner_ran, 1);
    CHECK_EQ_INT(tfn__coro_resume(s.outer), 0);
    CHECK(s.inner == NULL);
    CHECK(s.current_ok);
    CHECK(tfn__coro_current() == NULL);
    tfn__coro_free(s.outer);
    CHECK_EQ_INT(s.pool->n_live, 0);
    tfn__coro_pool_free(s.pool);
}

/* ---- failures: stack overflow, misuse -------------------------------------------------------- */

static long recurse_forever(int depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    if (depth < 100000000)
        return recurse_forever(depth + 1) + pad[0];
    return 0;
}

static void overflow_main(void *arg)
{
    (void)arg;
    recurse_forever(0);
}

static void child_overflows(void)
{
    tfn__coro_pool_t *pool = tfn__coro_pool_new(0, 1);
    tfn__coro_resume(tfn__coro_new(pool, overflow_main, NULL));
}

static void child_faults_outside(void)
{
    tfn__coro_pool_t *pool = tfn__coro_pool_new(0, 1);
    (void)pool;
    volatile uintptr_t bad = 16; /* not a coroutine's guard: no message */
    *(volatile int *)bad = 1;
}

static void test_overflow_reported(void)
{
    static char out[8192];
    int status = run_in_child(child_overflows, out, sizeof out);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    CHECK(strstr(out, "tiffin: a handler coroutine overflowed its stack of 64 KiB") != NULL);

    status = run_in_child(child_faults_outside, out, sizeof out);
    CHECK(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0));
    CHECK(strstr(out, "overflowed") == NULL);
}

#ifndef NDEBUG
static void resume_inside_main(void *arg) { tfn__coro_resume(arg); }

static void child_resumes_inside(void)
{
    tfn__coro_pool_t *pool = tfn__coro_pool_new(0, 1);
    tfn__coro_t *other = tfn__coro_new(pool, return_at_once, NULL);
    tfn__coro_resume(tfn__coro_new(pool, resume_inside_main, other));
}

static void child_yields_outside(void) { tfn__coro_yield(); }

static void test_misuse_asserts(void)
{
    static char out[8192];
    int status = run_in_child(child_resumes_inside, out, sizeof out);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(strstr(out, "only called from the thread's main context") != NULL);
    status = run_in_child(child_yields_outside, out, sizeof out);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(strstr(out, "only called inside a coroutine") != NULL);
}
#endif

int main(void)
{
    printf("coroutine switch: %s\n", tfn__coro_backend());
    RUN(test_ping_pong);
    RUN(test_finish_without_yield);
    RUN(test_many_alive);
    RUN(test_stack_reuse);
    RUN(test_pool_freed_first);
    RUN(test_deep_recursion);
    RUN(test_floating_point);
    RUN(test_two_threads);
    RUN(test_created_inside);
    RUN(test_overflow_reported);
#ifndef NDEBUG
    RUN(test_misuse_asserts);
#endif
    return check_summary("coro");
}
