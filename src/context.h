/*
 * Context switch between tasks (and the loop's own context).
 *
 * The switch is inline assembly that saves only the frame pointer, a resume address and
 * the floating-point control state on the stack, and the stack pointer in the context;
 * it tells the compiler that
 * every other register is clobbered. The compiler then saves around the switch only the
 * registers that are live at that point, which is never more than the ABI's callee-saved
 * set (x86-64 System V: rbx rbp r12-r15, MXCSR and x87 control word; AAPCS64: x19-x29,
 * d8-d15, FPCR). Resuming jumps to the saved address instead of executing `ret`, so
 * the return-address predictor is not trained on the wrong stack (W1: ~11 ns per switch
 * with `ret`, ~4 ns with a jump).
 *
 * A new context starts in coio__ctx_entry (context.c) with the address of its coio__ctx
 * in the second argument register; coio__ctx is the first member of struct coio_task,
 * so that address is the task.
 *
 * Build with -DCOIO_CONTEXT_UCONTEXT=1 for the portable makecontext/swapcontext fallback
 * (slower: swapcontext makes a sigprocmask system call on every switch).
 */
#ifndef COIO_CONTEXT_H
#define COIO_CONTEXT_H

#include <stdint.h>

#if !defined(COIO_CONTEXT_UCONTEXT) && !defined(__x86_64__) && !defined(__aarch64__)
#define COIO_CONTEXT_UCONTEXT 1
#endif

#if defined(COIO_CONTEXT_UCONTEXT)
#include <ucontext.h>
typedef struct coio__ctx {
    ucontext_t *uc; /* lives at the top of the task's stack (or in the loop) */
} coio__ctx;
void coio__ctx_switch(coio__ctx *from, coio__ctx *to);
#define COIO__CONTEXT_NAME "ucontext"

#elif defined(__x86_64__)
/* A suspended context is its stack pointer; the rest is on its stack:
 *   sp -> [MXCSR:4 | x87 CW:2 | 0:2] [resume address] [rbp]   then 128 bytes (red zone) */
typedef struct coio__ctx {
    void *sp;
} coio__ctx;
#define COIO__CONTEXT_NAME "x86_64"
#define COIO__CTX_FRAME 24 /* bytes pushed below the red zone */
#define COIO__RED_ZONE 128

static inline __attribute__((always_inline)) void coio__ctx_switch(coio__ctx *from, coio__ctx *to)
{
    /* rdi = from, rsi = to; the entry trampoline reads `to` (the task) from rsi. The
     * red zone of the function we are inlined into may hold live data: step over it. */
    __asm__ volatile("leaq -128(%%rsp), %%rsp\n\t"
                     "pushq %%rbp\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "pushq $0\n\t"
                     "stmxcsr (%%rsp)\n\t"
                     "fnstcw 4(%%rsp)\n\t"
                     "movq %%rsp, (%%rdi)\n\t"
                     "movq (%%rsi), %%rcx\n\t"
                     /* MXCSR is restored unconditionally: reading back what stmxcsr
                      * just stored is not forwarded and costs more (~2 ns) than an
                      * ldmxcsr (~0.4 ns). The x87 control word reads
                      * back cheaply and fldcw is slow: load it only when it differs. */
                     "ldmxcsr (%%rcx)\n\t"
                     "movzwl 4(%%rsp), %%eax\n\t"
                     "cmpw 4(%%rcx), %%ax\n\t"
                     "je 2f\n\t"
                     "fldcw 4(%%rcx)\n\t"
                     "2:\n\t"
                     "leaq 24(%%rcx), %%rsp\n\t"
                     "movq -8(%%rsp), %%rbp\n\t"
                     "jmpq *-16(%%rsp)\n\t"
                     "1:\n\t"
                     "leaq 128(%%rsp), %%rsp\n\t"
                     : "+D"(from), "+S"(to)
                     :
                     : "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13",
                       "r14", "r15", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
                       "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
                       "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)",
                       "st(5)", "st(6)", "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5",
                       "mm6", "mm7");
}

#elif defined(__aarch64__)
/* sp -> [FPCR:8] [pad:8] [x29] [resume address] (AAPCS64 has no red zone) */
typedef struct coio__ctx {
    void *sp;
} coio__ctx;
#define COIO__CONTEXT_NAME "aarch64"
#define COIO__CTX_FRAME 32
#define COIO__RED_ZONE 0

static inline __attribute__((always_inline)) void coio__ctx_switch(coio__ctx *from, coio__ctx *to)
{
    register coio__ctx *x0 __asm__("x0") = from;
    register coio__ctx *x1 __asm__("x1") = to;
    __asm__ volatile("adr x9, 1f\n\t"
                     "sub sp, sp, #32\n\t"
                     "stp x29, x9, [sp, #16]\n\t"
                     "mrs x11, fpcr\n\t"
                     "str x11, [sp]\n\t"
                     "mov x10, sp\n\t"
                     "str x10, [x0]\n\t"
                     "ldr x10, [x1]\n\t"
                     "ldr x12, [x10]\n\t"
                     "cmp x11, x12\n\t"
                     "b.eq 2f\n\t"
                     "msr fpcr, x12\n\t"
                     "2:\n\t"
                     "ldp x29, x9, [x10, #16]\n\t"
                     "add sp, x10, #32\n\t"
                     "br x9\n\t"
                     "1:\n\t"
                     : "+r"(x0), "+r"(x1)
                     :
                     : "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12",
                       "x13", "x14", "x15", "x16", "x17", "x19", "x20", "x21", "x22", "x23",
                       "x24", "x25", "x26", "x27", "x28", "x30", "memory", "cc", "v0", "v1",
                       "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12",
                       "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22",
                       "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31");
}
#endif

/* Stack pointer saved in a suspended context (for coio_dump_tasks), or NULL. */
static inline const void *coio__ctx_sp(const coio__ctx *c)
{
#if defined(COIO_CONTEXT_UCONTEXT)
#if defined(__x86_64__)
    return c->uc ? (const void *)c->uc->uc_mcontext.gregs[REG_RSP] : NULL;
#else
    (void)c;
    return NULL;
#endif
#else
    return c->sp;
#endif
}

/* What a new context starts in: entry(ctx), which never returns. */
typedef void coio__ctx_entry_fn(void *ctx);
/* Prepares ctx to start in entry(ctx) on the stack whose highest usable
 * address is stack_top, with the floating-point control state `fpu` (from
 * coio__ctx_fpu()). In ucontext mode the ucontext_t is carved from the top of the stack. */
void coio__ctx_init(coio__ctx *ctx, char *stack_lo, char *stack_top, uint64_t fpu,
                    coio__ctx_entry_fn *entry);
/* The calling thread's floating-point control state, as a context stores it. */
uint64_t coio__ctx_fpu(void);

#endif
