/*
 * Task stacks: mmap'ed, committed lazily by the kernel as they are touched, guarded
 * below, recycled LIFO.
 *
 * Guard pages. The obvious guard, an mprotect'ed page per stack, splits the mapping into
 * two VMAs per stack, and vm.max_map_count (65530 on stock kernels) then runs out near
 * 32,700 tasks. So, in order of preference, probed once per process:
 *   1. MADV_GUARD_INSTALL (Linux >= 6.13): guard pages inside one VMA, any number of them.
 *      A slab's guards go in with one process_madvise() call when the kernel accepts it
 *      for the calling process, else one madvise() per stack.
 *   2. mprotect(PROT_NONE), while a process-wide budget of VMAs lasts (a quarter of
 *      vm.max_map_count); stacks beyond the budget get no guard. A spawn never fails
 *      merely because guards ran out; COIO_DEBUG=1 says when it happens.
 *
 * Giving memory back. The pool keeps every free stack's address range (reusing it costs
 * no mmap and no guard), but not its pages forever: a stack that sat in the pool for a
 * whole trim period, beyond the COIO__STACKS_WARM most recently freed, is given back
 * with MADV_DONTNEED. LIFO reuse makes that cheap to track: the stacks below the lowest
 * point the pool reached during the period are exactly those nobody touched. A timer
 * runs the trim only while there is something to give back, so a steady or idle loop
 * pays nothing, and W3's sleepers (all done within 1 s) never see it.
 */
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define COIO__VALGRIND 1
#endif
#ifdef COIO__ASAN
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef PIDFD_SELF_PROCESS
#define PIDFD_SELF_PROCESS (-20000)
#endif

#define COIO__SLAB_STACKS 64
#define COIO__STACKS_WARM 256              /* free stacks always kept resident */
#define COIO__STACK_TRIM_NS 1000000000     /* the trim period: 1 s */
#define COIO__GUARD_PAGES 4 /* 16 KiB: a frame larger than the guard could jump it */

enum { GUARD_UNKNOWN, GUARD_MADV_BATCH, GUARD_MADV, GUARD_MPROTECT };
static atomic_int guard_mode = GUARD_UNKNOWN;
static atomic_long mprotect_budget = -1;
static atomic_bool warned_no_guard;

static size_t page_size(void)
{
    static atomic_size_t ps; /* loops on several threads start at once */
    size_t v = atomic_load_explicit(&ps, memory_order_relaxed);
    if (!v) {
        v = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&ps, v, memory_order_relaxed);
    }
    return v;
}

static size_t guard_bytes(void)
{
    return COIO__GUARD_PAGES * page_size();
}

static long read_max_map_count(void)
{
    long v = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

static int guard_mprotect(char *guard)
{
    long left = atomic_load(&mprotect_budget);
    if (left < 0) {
        long init = read_max_map_count() / 4;
        atomic_compare_exchange_strong(&mprotect_budget, &left, init);
        left = atomic_load(&mprotect_budget);
    }
    while (left > 0) {
        if (atomic_compare_exchange_weak(&mprotect_budget, &left, left - 1))
            return mprotect(guard, guard_bytes(), PROT_NONE) == 0 ? 0 : -errno;
    }
    return -ENOSPC;
}

/* process_madvise() on ourselves: PIDFD_SELF where the kernel knows it (>= 6.14), else
 * a pidfd opened for the call (kept no longer: a library must not hold fds). */
static long self_madvise(struct iovec *iov, size_t k, int advice)
{
    static atomic_bool no_pidfd_self;
    long r = -1;
    if (!atomic_load(&no_pidfd_self)) {
        r = syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, iov, k, advice, 0);
        if (r >= 0 || errno != EBADF)
            return r;
        atomic_store(&no_pidfd_self, true);
    }
    int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (pfd < 0)
        return -1;
    r = syscall(SYS_process_madvise, pfd, iov, k, advice, 0);
    close(pfd);
    return r;
}

/* Brings in the top page of n stacks, before their guards go in.
 *
 * On a paravirtualised guest with shadow page tables, a page table that the kernel
 * created on its own -- in MADV_GUARD_INSTALL's walk or MADV_POPULATE_WRITE -- makes its
 * pages trap again (tens of microseconds) whenever they are touched after a while, as
 * resuming a sleeper does; a page table created by an ordinary store fault does not
 * (bench/analysis.md, W3, has the measurements). So: one store per 2 MiB of address
 * space (one page table), then one MADV_POPULATE_WRITE call for every top (cheaper than
 * a fault per page). A kernel without it (< 5.14) faults the tops in on first use. */
static void bring_in_tops(char *base, size_t stride, size_t n)
{
    struct iovec iov[COIO__SLAB_STACKS];
    size_t page = page_size(), k = 0;
    uintptr_t last_table = 0;
    for (size_t i = 0; i < n && i < COIO__SLAB_STACKS; i++) {
        char *top = base + (i + 1) * stride - page;
        uintptr_t table = (uintptr_t)top >> 21;
        if (table != last_table) {
            *(volatile char *)(top + page - 1) = 0;
            last_table = table;
        } else {
            iov[k].iov_base = top;
            iov[k].iov_len = page;
            k++;
        }
    }
    if (k)
        (void)self_madvise(iov, k, MADV_POPULATE_WRITE);
}

/* Installs the guards below `n` stacks of `stride` bytes starting at base. */
static void install_guards(char *base, size_t stride, size_t n)
{
    int mode = atomic_load(&guard_mode);
    size_t g = guard_bytes();
    if (mode == GUARD_UNKNOWN) {
        /* COIO_GUARD=mprotect forces the old-kernel strategy (tests use it). */
        const char *force = getenv("COIO_GUARD");
        if (force && strcmp(force, "mprotect") == 0)
            atomic_store(&guard_mode, mode = GUARD_MPROTECT);
    }
    if (mode == GUARD_UNKNOWN || mode == GUARD_MADV_BATCH) {
        struct iovec iov[COIO__SLAB_STACKS];
        size_t k = n < COIO__SLAB_STACKS ? n : COIO__SLAB_STACKS;
        for (size_t i = 0; i < k; i++) {
            iov[i].iov_base = base + i * stride;
            iov[i].iov_len = g;
        }
        long r = self_madvise(iov, k, MADV_GUARD_INSTALL);
        if (r == (long)(k * g) && k == n) {
            atomic_store(&guard_mode, GUARD_MADV_BATCH);
            return;
        }
        mode = GUARD_MADV;
        if (madvise(base, g, MADV_GUARD_INSTALL) != 0)
            mode = GUARD_MPROTECT; /* kernel < 6.13 */
        atomic_store(&guard_mode, mode);
    }
    for (size_t i = 0; i < n; i++) {
        char *guard = base + i * stride;
        if (mode == GUARD_MADV && madvise(guard, g, MADV_GUARD_INSTALL) == 0)
            continue;
        if (guard_mprotect(guard) != 0 && !atomic_exchange(&warned_no_guard, true)) {
            coio__debug_warn(NULL, "guard page budget used up: further stacks have no guard");
        }
    }
}

static void trim_fire(coio__loop *L, coio__timer *tm);
static void set_watch(coio__stacks *S);

int coio__stacks_init(coio__stacks *S, coio__loop *timers_of)
{
    memset(S, 0, sizeof *S);
    S->timers_of = timers_of;
    S->page = page_size();
    S->default_size = COIO_STACK_SIZE_DEFAULT;
    S->trim.fire = trim_fire;
    set_watch(S);
    return 0;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

static void *map_stacks(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Transparent huge pages would make one touched stack page resident as 2 MiB. */
    madvise(p, bytes, MADV_NOHUGEPAGE);
    return p;
}

static int new_slab(coio__stacks *S)
{
    size_t stride = S->default_size + guard_bytes();
    size_t bytes = stride * COIO__SLAB_STACKS;
    if (grow((void **)&S->slabs, &S->capslabs, S->nslabs + 1, sizeof(void *)) < 0)
        return -ENOMEM;
    char *p = map_stacks(bytes);
    if (!p)
        return -ENOMEM;
    S->slabs[S->nslabs++] = p;
    S->slab_next = p;
    S->slab_left = COIO__SLAB_STACKS;
    S->slab_guarded = 0;
    return 0;
}

/* Carves the next stack of the current slab. Guards go in ahead of use, in batches that
 * double from 4 to a whole slab: a program with 3 tasks doesn't pay for 64 guards (their
 * page tables cost a fault each), one with 100,000 makes one call per 64 stacks. */
static void carve(coio__stacks *S, coio__stack *out)
{
    size_t stride = S->default_size + guard_bytes();
    if (!S->slab_guarded) {
        size_t batch = S->guard_batch ? S->guard_batch : 4;
        if (batch > S->slab_left)
            batch = S->slab_left;
        bring_in_tops(S->slab_next, stride, batch);
        install_guards(S->slab_next, stride, batch);
        S->slab_guarded = batch;
        if (S->guard_batch < COIO__SLAB_STACKS)
            S->guard_batch = batch * 2;
    }
    out->lo = S->slab_next + guard_bytes();
    out->size = S->default_size;
    S->slab_next += stride;
    S->slab_left--;
    S->slab_guarded--;
}

/* ---------------------------------------------------------------- trimming the pool */

/* Gives the pages of free[from, to) back to the kernel, one process_madvise call per 64
 * stacks where the kernel takes MADV_DONTNEED that way (>= 6.13), else one madvise each.
 * DONTNEED rather than MADV_FREE: RSS falls at once, and a reused stack costs the same
 * first-touch faults either way once memory is short. Guard pages are not in the range
 * (and MADV_GUARD_INSTALL markers would survive DONTNEED anyway). */
static void release(coio__stacks *S, size_t from, size_t to)
{
    static atomic_bool no_batch;
    struct iovec iov[COIO__SLAB_STACKS];
    while (from < to) {
        size_t k = to - from < COIO__SLAB_STACKS ? to - from : COIO__SLAB_STACKS;
        for (size_t i = 0; i < k; i++) {
            iov[i].iov_base = S->free[from + i];
            iov[i].iov_len = S->default_size;
        }
        if (atomic_load(&no_batch) ||
            self_madvise(iov, k, MADV_DONTNEED) != (long)(k * S->default_size)) {
            atomic_store(&no_batch, true);
            for (size_t i = 0; i < k; i++)
                madvise(iov[i].iov_base, iov[i].iov_len, MADV_DONTNEED);
        }
        from += k;
    }
}

/* stack_put calls trim_watch once nfree reaches S->watch: while the timer is armed,
 * at every put (the last task's end must disarm it: a pending trim must not keep
 * coio_run going); otherwise when stacks beyond the warm ones become resident. One
 * compare on the hot path. */
static void set_watch(coio__stacks *S)
{
    S->watch = S->trim.seq ? 0 : S->nclean + COIO__STACKS_WARM + 1;
}

/* Starts a trim period if stacks beyond the warm ones are resident and tasks still run
 * (hold stacks): a pending trim must not keep coio_run going after the last one. */
static void trim_arm(coio__stacks *S)
{
    S->low = S->nfree;
    if (S->live && S->nfree - S->nclean > COIO__STACKS_WARM)
        (void)coio__timer_arm(S->timers_of, &S->trim,
                              coio__loop_clock_ns(S->timers_of) + COIO__STACK_TRIM_NS);
    /* -ENOMEM: the next stack_put tries again */
    set_watch(S);
}

static __attribute__((noinline)) void trim_watch(coio__stacks *S)
{
    if (!S->trim.seq)
        trim_arm(S);
    else if (!S->live)
        coio__timer_disarm(S->timers_of, &S->trim);
    set_watch(S);
}

static void trim_fire(coio__loop *L, coio__timer *tm)
{
    (void)L;
    coio__stacks *S = coio__container_of(tm, coio__stacks, trim);
    size_t end = S->nfree > COIO__STACKS_WARM ? S->nfree - COIO__STACKS_WARM : 0;
    if (end > S->low)
        end = S->low; /* above it: used during the period */
    if (end > S->nclean) {
        release(S, S->nclean, end);
        S->nclean = end;
    }
    trim_arm(S);
}

/* ---------------------------------------------------------------- get and put */

int coio__stack_get(coio__stacks *S, size_t size, coio__stack *out)
{
    if (size == 0 || size == S->default_size) {
        if (S->nfree) {
            out->lo = S->free[--S->nfree];
            out->size = S->default_size;
            if (__builtin_expect(S->nfree < S->low, 0)) {
                S->low = S->nfree;
                if (S->nfree < S->nclean) {
                    S->nclean = S->nfree; /* a given-back stack: its pages fault in anew */
                    set_watch(S);
                }
            }
#ifdef COIO__ASAN
            /* Frames of the task that used it last left their redzones poisoned. */
            __asan_unpoison_memory_region(out->lo, out->size);
#endif
        } else {
            if (!S->slab_left && new_slab(S) < 0)
                return -ENOMEM;
            carve(S, out);
#ifdef COIO__VALGRIND
            VALGRIND_STACK_REGISTER(out->lo, out->lo + out->size);
#endif
        }
        S->live++;
        return 0;
    }
    /* A task asked for its own size: a mapping of its own. */
    size_t bytes = (size + S->page - 1) & ~(S->page - 1);
    char *p = map_stacks(bytes + guard_bytes());
    if (!p)
        return -ENOMEM;
    bring_in_tops(p, bytes + guard_bytes(), 1); /* first, as in carve() */
    install_guards(p, 0, 1);
    out->lo = p + guard_bytes();
    out->size = bytes;
#ifdef COIO__VALGRIND
    VALGRIND_STACK_REGISTER(out->lo, out->lo + out->size);
#endif
    S->live++;
    return 0;
}

void coio__stack_put(coio__stacks *S, coio__stack *st)
{
    S->live--;
    if (st->size == S->default_size &&
        grow((void **)&S->free, &S->capfree, S->nfree + 1, sizeof(char *)) == 0) {
        S->free[S->nfree++] = st->lo;
        if (__builtin_expect(S->nfree >= S->watch, 0))
            trim_watch(S);
        return;
    }
    /* Own-size stack (or no memory to remember it): give it back. The caller is not
     * running on it (see coio__schedule_exit). Valgrind's registration is left alone:
     * it has no way to look up the id, and a stale range is harmless. */
    munmap(st->lo - guard_bytes(), st->size + guard_bytes());
}

void coio__stacks_destroy(coio__stacks *S)
{
    size_t stride = S->default_size + guard_bytes();
    for (size_t i = 0; i < S->nslabs; i++)
        munmap(S->slabs[i], stride * COIO__SLAB_STACKS);
    free(S->slabs);
    free(S->free);
    memset(S, 0, sizeof *S);
}

/* ---------------------------------------------------------------- overflow reporting */

static struct sigaction old_segv, old_bus;
static _Atomic(coio__stack_owner_fn *) owner_of; /* the loop's: who runs on which stack */

static void write_str(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void overflow_handler(int sig, siginfo_t *si, void *uc)
{
    coio__stack_owner_fn *owner = atomic_load_explicit(&owner_of, memory_order_relaxed);
    const char *lo, *name;
    unsigned tid;
    if (owner && owner(&lo, &name, &tid)) {
        const char *a = (const char *)si->si_addr;
        /* In the guard, or just below it (a frame that skipped part of it). */
        if (a < lo && a >= lo - guard_bytes() - 64 * 1024) {
            char id[16];
            snprintf(id, sizeof id, "%u", tid);
            write_str("coio: stack overflow in task \"");
            write_str(name);
            write_str("\" (id ");
            write_str(id);
            write_str(")\n");
            /* Returning re-runs the faulting access with the default action: the process
             * dies of SIGSEGV, with a core dump where enabled. */
            signal(sig, SIG_DFL);
            return;
        }
    }
    struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
        signal(sig, SIG_DFL);
    } else {
        old->sa_handler(sig);
    }
}

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = overflow_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
}

void coio__stack_overflow_handler_init(coio__stack_owner_fn *owner)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    /* relaxed: every loop passes the same function; the handler only needs to see one */
    atomic_store_explicit(&owner_of, owner, memory_order_relaxed);
#ifdef COIO__ASAN
    return; /* AddressSanitizer reports stack overflows itself */
#endif
    pthread_once(&once, install_handler);
}

static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;
static __thread bool altstack_done;

static void altstack_free(void *p)
{
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    munmap(p, 64 * 1024);
}

static void altstack_key_init(void)
{
    pthread_key_create(&altstack_key, altstack_free);
}

void coio__stack_altstack_init(void)
{
    if (altstack_done)
        return;
    altstack_done = true;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
        return; /* the program has its own */
    void *p = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = p, .ss_size = 64 * 1024, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(p, 64 * 1024);
        return;
    }
    pthread_once(&altstack_once, altstack_key_init);
    pthread_setspecific(altstack_key, p);
}
