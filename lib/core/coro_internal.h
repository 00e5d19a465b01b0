/*
 * coro_internal.h — stackful coroutines for request handlers.
 *
 * Each API request handled on the event loop runs as a coroutine, so that a handler can wait for a
 * dependency call as straight-line code: the call suspends the coroutine (tfn__coro_yield), the
 * loop goes on with other work, and the coroutine is resumed (tfn__coro_resume) from a loop
 * callback when the answer arrives.
 *
 * Rules (see docs/design.md, "Coroutines"):
 *   - A coroutine belongs to the thread that first resumes it and never moves to another thread.
 *     A pool is used by one thread at a time; several threads may each have their own pool.
 *   - tfn__coro_resume is called only from the thread's main context (never from inside a
 *     coroutine); tfn__coro_yield only from inside the running coroutine. Both are asserted.
 *   - Every coroutine has its own mmap'd stack (default 64 KiB) with a PROT_NONE guard page
 *     below it. Overflowing into the guard page kills the process with a message on stderr.
 */
#ifndef TIFFIN_CORO_INTERNAL_H
#define TIFFIN_CORO_INTERNAL_H

#include <stddef.h>

/** A coroutine. Created suspended by tfn__coro_new, freed by tfn__coro_free. */
typedef struct tfn__coro tfn__coro_t;

/** The body of a coroutine. Runs on the coroutine's stack; may call tfn__coro_yield. */
typedef void (*tfn__coro_fn)(void *arg);

/** A cache of coroutine stacks, one per thread that runs coroutines. */
typedef struct tfn__coro_pool tfn__coro_pool_t;

/** Default usable stack size of a coroutine, in bytes. */
#define TFN__CORO_DEFAULT_STACK (64 * 1024)

/**
 * Creates a pool whose coroutines get stacks of at least `stack_size` usable bytes (0 selects
 * TFN__CORO_DEFAULT_STACK; sizes are rounded up to whole pages). Up to `max_cached` stacks of
 * freed coroutines are kept for reuse instead of being unmapped.
 * Returns the pool, owned by the caller (free with tfn__coro_pool_free), or NULL if out of memory.
 * The first pool created also installs the stack-overflow reporter (a SIGSEGV handler on an
 * alternate signal stack); see coro.c.
 */
tfn__coro_pool_t *tfn__coro_pool_new(size_t stack_size, size_t max_cached);

/**
 * Frees the pool and its cached stacks. NULL is ignored. Coroutines of the pool should all have
 * been freed; if some are still alive, the pool's memory is released when the last one is freed.
 */
void tfn__coro_pool_free(tfn__coro_pool_t *pool);

/**
 * Creates a suspended coroutine that will run fn(arg) on a stack from `pool` when first resumed.
 * `arg` is borrowed: it must stay valid while the coroutine runs. The coroutine is owned by the
 * caller and freed with tfn__coro_free. Returns NULL (errno ENOMEM) when no stack can be mapped,
 * for example past vm.max_map_count (each live stack is two mappings). May be called from inside
 * a coroutine; the new one is still resumed from the main context.
 */
tfn__coro_t *tfn__coro_new(tfn__coro_pool_t *pool, tfn__coro_fn fn, void *arg);

/**
 * Runs `co` until it yields (returns 1: co is suspended and may be resumed again) or its function
 * returns (returns 0: co is finished and may only be freed). Must be called from the thread's main
 * context, not from inside a coroutine, on the thread the coroutine first ran on; `co` must be
 * new or suspended. Breaking these rules is a programming error (assert).
 */
int tfn__coro_resume(tfn__coro_t *co);

/**
 * Suspends the running coroutine and returns to the tfn__coro_resume call that ran it; returns
 * when the coroutine is resumed again. Must be called from inside a coroutine (assert).
 */
void tfn__coro_yield(void);

/** The coroutine running on this thread, or NULL in the thread's main context. */
tfn__coro_t *tfn__coro_current(void);

/**
 * Frees a coroutine that is finished or was never resumed; its stack goes back to its pool (or is
 * unmapped if the pool's cache is full). NULL is ignored. Freeing a suspended coroutine would
 * abandon the frames on its stack without unwinding them, so it is a programming error (assert).
 */
void tfn__coro_free(tfn__coro_t *co);

/** The `arg` the coroutine was created with. */
void *tfn__coro_arg(const tfn__coro_t *co);

/** 1 if the coroutine's function has returned, else 0. */
int tfn__coro_finished(const tfn__coro_t *co);

/** Usable stack bytes of each coroutine of the pool (the requested size rounded up). */
size_t tfn__coro_pool_stack_size(const tfn__coro_pool_t *pool);

/** The switch implementation compiled in: "x86_64 asm", "aarch64 asm" or "ucontext". */
const char *tfn__coro_backend(void);

#endif
