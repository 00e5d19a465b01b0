/*
 * coro.c — stackful coroutines for request handlers.
 *
 * A coroutine is one mmap'd region: a PROT_NONE guard at the bottom, the stack above it, and the
 * tfn__coro_t itself at the very top (so creating one costs no malloc). Freed coroutines go back to
 * their pool, which keeps up to max_cached regions for reuse.
 *
 * The context switch is a dozen instructions of hand-written assembly on x86_64 and aarch64: it
 * pushes the callee-saved registers on the current stack, stores the stack pointer, loads the
 * other one and pops. Everything else the ABI lets a call clobber, so the compiler saves it
 * around the call. Elsewhere, or when built with -DTFN_CORO_UCONTEXT, makecontext/swapcontext are
 * used instead (about 10x slower on glibc: swapcontext makes a sigprocmask system call).
 *
 * Control flow is strictly asymmetric: the thread's main context resumes a coroutine, which runs
 * until it yields or returns, and control always comes back to that resume call. That is all the
 * event loop needs, and it keeps the bookkeeping (and the sanitizer annotations) simple.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/coro_internal.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(TFN_CORO_UCONTEXT) || !defined(__ELF__) ||                                             \
    !(defined(__x86_64__) || defined(__aarch64__))
#define CORO_UCONTEXT 1
#include <ucontext.h>
#else
#define CORO_UCONTEXT 0
#endif

/* ---- sanitizer and valgrind support ---------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#ifndef CORO_ASAN
#define CORO_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define CORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORO_TSAN 1
#endif
#endif
#ifndef CORO_TSAN
#define CORO_TSAN 0
#endif

#if CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if CORO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CORO_VALGRIND 1
#endif
#endif
#ifndef CORO_VALGRIND
#define CORO_VALGRIND 0
#endif

/* Bytes of PROT_NONE below each stack. More than one page so that a function with a few KiB of
 * locals cannot step over it into the neighbouring mapping; it costs address space only. */
#define GUARD_MIN_BYTES (16 * 1024)

enum { CORO_NEW, CORO_RUNNING, CORO_SUSPENDED, CORO_FINISHED };

struct tfn__coro {
#if CORO_UCONTEXT
    ucontext_t context;        /* the coroutine's registers while it is not running */
    ucontext_t caller_context; /* the resumer's registers while the coroutine runs */
#else
    void *sp;        /* the coroutine's saved stack pointer while it is not running */
    void *caller_sp; /* the resumer's saved stack pointer while the coroutine runs */
#endif
    tfn__coro_fn fn;
    void *arg;
    tfn__coro_pool_t *pool;
    tfn__coro_t *next_cached; /* in pool->cached */
    char *map;                /* start of the mapping: the guard, then the stack */
    char *stack; /* lowest usable stack byte; the stack ends where this struct starts */
    int state;
    const void *thread; /* address of a thread-local: which thread the coroutine runs on */
#if CORO_ASAN
    void *asan_fake_stack;
    const void *caller_stack_bottom;
    size_t caller_stack_size;
#endif
#if CORO_TSAN
    void *tsan_fiber;
    void *tsan_caller_fiber;
#endif
#if CORO_VALGRIND
    unsigned valgrind_stack_id;
#endif
};

struct tfn__coro_pool {
    size_t stack_size; /* usable stack bytes per coroutine */
    size_t requested;  /* the stack size asked for (for messages) */
    size_t guard_size; /* PROT_NONE bytes below each stack */
    size_t map_size;   /* guard + stack + the struct at the top */
    size_t max_cached; /* regions kept for reuse */
    size_t n_cached;   /* regions in `cached` */
    tfn__coro_t *cached;
    size_t n_live;      /* coroutines created and not yet freed */
    int closed;         /* tfn__coro_pool_free was called while coroutines were alive */
    const void *thread; /* address of the creating thread's altstack record */
};

/* The running coroutine of this thread; NULL in the main context. */
static _Thread_local tfn__coro_t *current;

/* Bytes the struct takes at the top of the mapping; the stack top below it is 64-byte aligned. */
#define CORO_STRUCT_BYTES ((sizeof(tfn__coro_t) + 63) & ~(size_t)63)

/* ---- the context switch ---------------------------------------------------------------------- */

#if !CORO_UCONTEXT
/*
 * void tfn__coro_switch(void **save_sp, void *load_sp)
 *
 * Saves the callee-saved registers on the current stack, stores the stack pointer in *save_sp,
 * switches to load_sp, restores the registers saved there and returns into that context.
 * A new coroutine's stack is prepared by initial_sp() to look like one saved here.
 */
void tfn__coro_switch(void **save_sp, void *load_sp);

#if defined(__x86_64__)
/* System V: rbx, rbp, r12-r15 and rsp are callee-saved, and so are the control bits of MXCSR and
 * the x87 control word. The frame, from the saved rsp up:
 *     [mxcsr, x87 cw] r15 r14 r13 r12 rbx rbp return-address */
__asm__(".text\n"
        ".globl tfn__coro_switch\n"
        ".hidden tfn__coro_switch\n"
        ".type tfn__coro_switch, @function\n"
        ".p2align 4\n"
        "tfn__coro_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    addq $8, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size tfn__coro_switch, .-tfn__coro_switch\n");
#define CORO_BACKEND "x86_64 asm"
#elif defined(__aarch64__)
/* AAPCS64: x19-x29, lr (x30), sp and d8-d15 are callee-saved. Frame (160 bytes) from the saved sp:
 * x19..x28, x29, x30, d8..d15. "hint #34" is `bti c`, a no-op where BTI is off. */
__asm__(".text\n"
        ".globl tfn__coro_switch\n"
        ".hidden tfn__coro_switch\n"
        ".type tfn__coro_switch, %function\n"
        ".p2align 4\n"
        "tfn__coro_switch:\n"
        "    hint #34\n"
        "    sub sp, sp, #160\n"
        "    stp x19, x20, [sp, #0]\n"
        "    stp x21, x22, [sp, #16]\n"
        "    stp x23, x24, [sp, #32]\n"
        "    stp x25, x26, [sp, #48]\n"
        "    stp x27, x28, [sp, #64]\n"
        "    stp x29, x30, [sp, #80]\n"
        "    stp d8, d9, [sp, #96]\n"
        "    stp d10, d11, [sp, #112]\n"
        "    stp d12, d13, [sp, #128]\n"
        "    stp d14, d15, [sp, #144]\n"
        "    mov x9, sp\n"
        "    str x9, [x0]\n"
        "    mov sp, x1\n"
        "    ldp x19, x20, [sp, #0]\n"
        "    ldp x21, x22, [sp, #16]\n"
        "    ldp x23, x24, [sp, #32]\n"
        "    ldp x25, x26, [sp, #48]\n"
        "    ldp x27, x28, [sp, #64]\n"
        "    ldp x29, x30, [sp, #80]\n"
        "    ldp d8, d9, [sp, #96]\n"
        "    ldp d10, d11, [sp, #112]\n"
        "    ldp d12, d13, [sp, #128]\n"
        "    ldp d14, d15, [sp, #144]\n"
        "    add sp, sp, #160\n"
        "    ret\n"
        ".size tfn__coro_switch, .-tfn__coro_switch\n");
#define CORO_BACKEND "aarch64 asm"
#endif
#else
#define CORO_BACKEND "ucontext"
#endif

const char *tfn__coro_backend(void) { return CORO_BACKEND; }

/* ---- sanitizer hooks around each switch ------------------------------------------------------ */

/* Always inlined: TSan keeps a shadow call stack per fiber, so a hook that was a function of its
 * own would enter on one fiber and exit on the other. */
#define HOOK static inline __attribute__((always_inline)) void

/* In the resumer, just before switching into co. */
HOOK before_switch_in(tfn__coro_t *co, void **fake_stack)
{
#if CORO_ASAN
    __sanitizer_start_switch_fiber(fake_stack, co->stack, co->pool->stack_size);
#else
    (void)fake_stack;
#endif
#if CORO_TSAN
    co->tsan_caller_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(co->tsan_fiber, 0);
#else
    (void)co;
#endif
}

/* In the resumer, once co has switched back. */
HOOK after_switch_in(void *fake_stack)
{
#if CORO_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, NULL, NULL);
#else
    (void)fake_stack;
#endif
}

/* In co, just before switching back to its resumer; `finished` when it will never run again. */
HOOK before_switch_out(tfn__coro_t *co, int finished)
{
#if CORO_ASAN
    __sanitizer_start_switch_fiber(finished ? NULL : &co->asan_fake_stack, co->caller_stack_bottom,
                                   co->caller_stack_size);
#else
    (void)finished;
#endif
#if CORO_TSAN
    __tsan_switch_to_fiber(co->tsan_caller_fiber, 0);
#else
    (void)co;
#endif
}

/* In co, each time it starts running (first entry or return from yield). */
HOOK after_switch_out(tfn__coro_t *co)
{
#if CORO_ASAN
    __sanitizer_finish_switch_fiber(co->asan_fake_stack, &co->caller_stack_bottom,
                                    &co->caller_stack_size);
#else
    (void)co;
#endif
}

/* ---- stack overflow reporting ---------------------------------------------------------------- */

/*
 * A handler that overflows its stack runs into the guard page and gets SIGSEGV. Without help that
 * is an unexplained crash, so the first pool installs a SIGSEGV handler (on an alternate signal
 * stack: the faulting stack is full) that checks whether the fault address lies in the guard of
 * the coroutine running on this thread. If so it writes a message; either way it restores the
 * previous disposition (or calls the previous handler) and returns, so the faulting instruction
 * runs again and the process dies of the same SIGSEGV with the usual core dump. It never tries to
 * recover. This is the one signal handler in tiffin that does more than set a flag: by the time it
 * runs, the process is already dead.
 */

static struct sigaction previous_segv;
static int segv_installed; /* guarded by segv_lock */
static pthread_mutex_t segv_lock = PTHREAD_MUTEX_INITIALIZER;

/* The alternate signal stack this thread's pools installed, and how many pools use it. */
static _Thread_local struct {
    void *mem;
    size_t size;
    unsigned pools;
} altstack;

static void write_str(const char *s) { (void)!write(STDERR_FILENO, s, strlen(s)); }

static void write_size(size_t n)
{
    char buf[24], *p = buf + sizeof buf;
    *--p = '\0';
    do
        *--p = (char)('0' + n % 10);
    while ((n /= 10) && p > buf);
    write_str(p);
}

static void on_segv(int sig, siginfo_t *info, void *ucontext)
{
    int saved_errno = errno;
    tfn__coro_t *co = current;
    const char *addr = info->si_addr;
    if (co && info->si_code > 0 && addr >= co->map && addr < co->stack) {
        write_str("tiffin: a handler coroutine overflowed its stack of ");
        write_size(co->pool->requested / 1024);
        write_str(" KiB. Move large arrays off the stack (tfn_ctx_arena), avoid deep recursion, or "
                  "run the API with TFN_RUN_IN_THREAD.\n");
    } else if (previous_segv.sa_flags & SA_SIGINFO) {
        errno = saved_errno;
        previous_segv.sa_sigaction(sig, info, ucontext);
        return;
    } else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
        errno = saved_errno;
        previous_segv.sa_handler(sig);
        return;
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGSEGV, &dfl, NULL);
    if (info->si_code <= 0) /* sent by kill(): there is no instruction to fault again */
        raise(sig);
    errno = saved_errno;
}

/* Installs the handler once per process and an alternate signal stack once per thread (unless the
 * thread has one already, as under ASan). Failures only lose the message, so they are ignored. */
static void overflow_reporter_acquire(void)
{
    pthread_mutex_lock(&segv_lock);
    if (!segv_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        segv_installed = sigaction(SIGSEGV, &sa, &previous_segv) == 0;
    }
    pthread_mutex_unlock(&segv_lock);

    if (altstack.pools++ > 0)
        return;
    stack_t old;
    if (sigaltstack(NULL, &old) != 0 || !(old.ss_flags & SS_DISABLE))
        return;
    size_t size = 64 * 1024;
    if ((size_t)SIGSTKSZ > size)
        size = SIGSTKSZ;
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, size);
        return;
    }
    altstack.mem = mem;
    altstack.size = size;
}

/* Removes this thread's alternate signal stack when its last pool goes. */
static void overflow_reporter_release(void)
{
    if (altstack.pools == 0 || --altstack.pools > 0 || !altstack.mem)
        return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == altstack.mem && !(cur.ss_flags & SS_ONSTACK)) {
        stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
        if (sigaltstack(&off, NULL) == 0)
            munmap(altstack.mem, altstack.size);
    }
    altstack.mem = NULL;
}

/* ---- stacks ---------------------------------------------------------------------------------- */

static size_t page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

/* Maps a new region: guard, stack, and the (uninitialized) coroutine struct on top. */
static tfn__coro_t *region_map(tfn__coro_pool_t *pool)
{
    char *map = mmap(NULL, pool->map_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    if (mprotect(map, pool->guard_size, PROT_NONE) != 0) {
        munmap(map, pool->map_size);
        return NULL;
    }
    tfn__coro_t *co = (tfn__coro_t *)(map + pool->map_size - CORO_STRUCT_BYTES);
    co->map = map;
    co->stack = map + pool->guard_size;
#if CORO_VALGRIND
    co->valgrind_stack_id = VALGRIND_STACK_REGISTER(co->stack, (char *)co);
#endif
    return co;
}

static void region_unmap(tfn__coro_t *co, size_t map_size)
{
#if CORO_VALGRIND
    VALGRIND_STACK_DEREGISTER(co->valgrind_stack_id);
#endif
    munmap(co->map, map_size);
}

/* ---- pools ----------------------------------------------------------------------------------- */

tfn__coro_pool_t *tfn__coro_pool_new(size_t stack_size, size_t max_cached)
{
    size_t page = page_size();
    if (stack_size == 0)
        stack_size = TFN__CORO_DEFAULT_STACK;
    if (stack_size > SIZE_MAX / 4) {
        errno = ENOMEM;
        return NULL;
    }
    tfn__coro_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->guard_size = (GUARD_MIN_BYTES + page - 1) / page * page;
    /* The struct sits in the top page(s); round so the usable stack is at least stack_size. */
    size_t above_guard = (stack_size + CORO_STRUCT_BYTES + page - 1) / page * page;
    pool->map_size = pool->guard_size + above_guard;
    pool->stack_size = above_guard - CORO_STRUCT_BYTES;
    pool->requested = stack_size;
    pool->max_cached = max_cached;
    overflow_reporter_acquire();
    pool->thread = &altstack;
    return pool;
}

size_t tfn__coro_pool_stack_size(const tfn__coro_pool_t *pool) { return pool->stack_size; }

static void pool_release(tfn__coro_pool_t *pool)
{
    while (pool->cached) {
        tfn__coro_t *co = pool->cached;
        pool->cached = co->next_cached;
        region_unmap(co, pool->map_size);
    }
    pool->n_cached = 0;
}

void tfn__coro_pool_free(tfn__coro_pool_t *pool)
{
    if (!pool)
        return;
    pool_release(pool);
    if (pool->thread == (const void *)&altstack)
        overflow_reporter_release();
    if (pool->n_live > 0) {
        pool->closed = 1; /* the last tfn__coro_free frees it */
        return;
    }
    free(pool);
}

/* ---- coroutines ------------------------------------------------------------------------------ */

/* The first code a coroutine runs, on its own stack. It must never return: there is nothing
 * above it on the stack to return to. When fn returns it switches back to the resumer for good. */
static void coro_entry(void)
{
    tfn__coro_t *co = current;
    after_switch_out(co);
    co->fn(co->arg);
    co->state = CORO_FINISHED;
    before_switch_out(co, 1);
#if CORO_UCONTEXT
    swapcontext(&co->context, &co->caller_context);
#else
    tfn__coro_switch(&co->sp, co->caller_sp);
#endif
    abort(); /* unreachable: a finished coroutine is never resumed */
}

#if CORO_UCONTEXT
/* Prepares co->context to run coro_entry on co's stack. A function of its own because getcontext
 * "returns twice" for the compiler, which then warns about every local of the caller. */
__attribute__((noinline)) static int context_init(tfn__coro_t *co)
{
    if (getcontext(&co->context) != 0)
        return -1;
    co->context.uc_stack.ss_sp = co->stack;
    co->context.uc_stack.ss_size = co->pool->stack_size;
    co->context.uc_link = NULL;
    makecontext(&co->context, coro_entry, 0);
    return 0;
}
#else
/* Lays out a new stack as if tfn__coro_switch had saved a context whose return address is
 * coro_entry. Above that sits a zero "return address" for coro_entry, which ends backtraces. */
static void *initial_sp(tfn__coro_t *co)
{
    uintptr_t *sp = (uintptr_t *)((uintptr_t)co & ~(uintptr_t)15);
#if defined(__x86_64__)
    /* After the switch's `ret` pops coro_entry, rsp = top - 8: the alignment a called function
     * expects (rsp + 8 is a multiple of 16). */
    uint32_t mxcsr;
    uint16_t fpu_cw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpu_cw));
    *--sp = 0;                     /* coro_entry's return address */
    *--sp = (uintptr_t)coro_entry; /* the switch returns here */
    for (int i = 0; i < 6; i++)    /* rbp rbx r12 r13 r14 r15 */
        *--sp = 0;
    *--sp = (uintptr_t)mxcsr | (uintptr_t)fpu_cw << 32; /* inherited from the creator */
#elif defined(__aarch64__)
    /* sp stays 16-byte aligned; x29 = 0 ends backtraces, x30 = coro_entry is where `ret` goes. */
    sp -= 20;
    memset(sp, 0, 20 * sizeof *sp);
    sp[11] = (uintptr_t)coro_entry;
#endif
    return sp;
}
#endif

tfn__coro_t *tfn__coro_new(tfn__coro_pool_t *pool, tfn__coro_fn fn, void *arg)
{
    assert(pool && fn && !pool->closed);
    tfn__coro_t *co = pool->cached;
    if (co) {
        pool->cached = co->next_cached;
        pool->n_cached--;
    } else if (!(co = region_map(pool))) {
        errno = ENOMEM;
        return NULL;
    }
    char *map = co->map, *stack = co->stack;
#if CORO_VALGRIND
    unsigned valgrind_stack_id = co->valgrind_stack_id;
#endif
    memset(co, 0, sizeof *co);
    co->map = map;
    co->stack = stack;
#if CORO_VALGRIND
    co->valgrind_stack_id = valgrind_stack_id;
#endif
    co->fn = fn;
    co->arg = arg;
    co->pool = pool;
    co->state = CORO_NEW;
#if CORO_UCONTEXT
    if (context_init(co) != 0) {
        co->state = CORO_FINISHED;
        pool->n_live++;
        tfn__coro_free(co);
        errno = ENOMEM;
        return NULL;
    }
#else
    co->sp = initial_sp(co);
#endif
#if CORO_TSAN
    co->tsan_fiber = __tsan_create_fiber(0);
#endif
    pool->n_live++;
    return co;
}

int tfn__coro_resume(tfn__coro_t *co)
{
    assert(co);
    assert(!current && "tfn__coro_resume is only called from the thread's main context");
    assert(co->state == CORO_NEW || co->state == CORO_SUSPENDED);
    assert(co->state == CORO_NEW || co->thread == (const void *)&current);
    co->thread = &current;
    co->state = CORO_RUNNING;
    current = co;
    void *fake_stack = NULL;
    before_switch_in(co, &fake_stack);
#if CORO_UCONTEXT
    swapcontext(&co->caller_context, &co->context);
#else
    tfn__coro_switch(&co->caller_sp, co->sp);
#endif
    after_switch_in(fake_stack);
    current = NULL;
    return co->state != CORO_FINISHED;
}

void tfn__coro_yield(void)
{
    tfn__coro_t *co = current;
    assert(co && "tfn__coro_yield is only called inside a coroutine");
    co->state = CORO_SUSPENDED;
    before_switch_out(co, 0);
#if CORO_UCONTEXT
    swapcontext(&co->context, &co->caller_context);
#else
    tfn__coro_switch(&co->sp, co->caller_sp);
#endif
    after_switch_out(co);
}

tfn__coro_t *tfn__coro_current(void) { return current; }

void *tfn__coro_arg(const tfn__coro_t *co) { return co->arg; }

int tfn__coro_finished(const tfn__coro_t *co) { return co->state == CORO_FINISHED; }

void tfn__coro_free(tfn__coro_t *co)
{
    if (!co)
        return;
    assert((co->state == CORO_NEW || co->state == CORO_FINISHED) &&
           "only a finished or never-resumed coroutine can be freed");
    tfn__coro_pool_t *pool = co->pool;
#if CORO_TSAN
    if (co->tsan_fiber)
        __tsan_destroy_fiber(co->tsan_fiber);
#endif
#if CORO_ASAN
    /* Frames that never returned (coro_entry's) may have left poisoned redzones; the next
     * coroutine on this stack must not trip over them. */
    ASAN_UNPOISON_MEMORY_REGION(co->stack, pool->stack_size);
#endif
    pool->n_live--;
    if (!pool->closed && pool->n_cached < pool->max_cached) {
        co->next_cached = pool->cached;
        pool->cached = co;
        pool->n_cached++;
        return;
    }
    region_unmap(co, pool->map_size);
    if (pool->closed && pool->n_live == 0)
        free(pool);
}
