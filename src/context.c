/* Context creation: the entry trampoline of a new task and its initial register state.
 * The switch itself is inline, in context.h. */
#include "internal.h"

#include <string.h>

#if defined(COIO_CONTEXT_UCONTEXT)

#include <stdint.h>

static void ctx_start(unsigned fhi, unsigned flo, unsigned hi, unsigned lo)
{
    coio__ctx_entry_fn *entry;
    uintptr_t f = ((uintptr_t)fhi << 32) | (uintptr_t)flo;
    memcpy(&entry, &f, sizeof entry);
    entry((void *)(((uintptr_t)hi << 32) | (uintptr_t)lo));
}

void coio__ctx_init(coio__ctx *ctx, char *stack_lo, char *stack_top, uint64_t fpu,
                    coio__ctx_entry_fn *entry)
{
    /* The ucontext_t takes the top of the stack; the usable stack lies below it. */
    uintptr_t at = ((uintptr_t)stack_top - sizeof(ucontext_t)) & ~(uintptr_t)63;
    ucontext_t *uc = (ucontext_t *)at;
    memset(uc, 0, sizeof *uc);
    getcontext(uc);
    uc->uc_stack.ss_sp = stack_lo;
    uc->uc_stack.ss_size = (size_t)(at - (uintptr_t)stack_lo);
    uc->uc_link = NULL;
#if defined(__x86_64__)
    /* getcontext() captured the FPU state of whichever task is dispatching this one:
     * start from the thread's, like the assembly switch does. */
    if (uc->uc_mcontext.fpregs) {
        uc->uc_mcontext.fpregs->mxcsr = (uint32_t)fpu;
        uc->uc_mcontext.fpregs->cwd = (uint16_t)(fpu >> 32);
    }
#endif
    uintptr_t p = (uintptr_t)ctx; /* ctx is the first member of the task */
    uintptr_t f;
    memcpy(&f, &entry, sizeof f);
    makecontext(uc, (void (*)(void))ctx_start, 4, (unsigned)(f >> 32),
                (unsigned)(f & 0xffffffffu), (unsigned)(p >> 32), (unsigned)(p & 0xffffffffu));
    ctx->uc = uc;
}

uint64_t coio__ctx_fpu(void)
{
#if defined(__x86_64__)
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(cw));
    return (uint64_t)mxcsr | ((uint64_t)cw << 32);
#else
    return 0;
#endif
}

void coio__ctx_switch(coio__ctx *from, coio__ctx *to)
{
    swapcontext(from->uc, to->uc);
}

#elif defined(__x86_64__)

/* Entered by the switch's jump with rsp = the 16-byte aligned stack top, rsi = the new
 * task (its first switch skips the red-zone adjustment, which only resume points make)
 * and rbp = the entry function, which the first frame holds in the frame pointer's slot.
 * A zero frame pointer ends backtraces here; ud2 catches a return that can't happen
 * (the entry function never returns). */
__asm__(".text\n"
        ".p2align 4\n"
        ".type coio__ctx_entry, @function\n"
        "coio__ctx_entry:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined rip\n"
        "    movq %rbp, %rax\n"
        "    xorl %ebp, %ebp\n"
        "    movq %rsi, %rdi\n"
        "    call *%rax\n"
        "    ud2\n"
        "    .cfi_endproc\n"
        ".size coio__ctx_entry, .-coio__ctx_entry\n");
void coio__ctx_entry(void);

/* The first switch to a new task pops this frame: control state, then the trampoline's
 * address, then the entry function as the frame pointer, leaving rsp at the 16-byte
 * aligned stack top. */
void coio__ctx_init(coio__ctx *ctx, char *stack_lo, char *stack_top, uint64_t fpu,
                    coio__ctx_entry_fn *entry)
{
    (void)stack_lo;
    uint64_t *top = (uint64_t *)((uintptr_t)stack_top & ~(uintptr_t)15);
    top[-1] = (uint64_t)(uintptr_t)entry; /* rbp */
    top[-2] = (uint64_t)(uintptr_t)coio__ctx_entry;
    top[-3] = fpu;
    ctx->sp = &top[-3];
}

uint64_t coio__ctx_fpu(void)
{
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(cw));
    return (uint64_t)mxcsr | ((uint64_t)cw << 32);
}

#elif defined(__aarch64__)

__asm__(".text\n"
        ".p2align 4\n"
        ".type coio__ctx_entry, %function\n"
        "coio__ctx_entry:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined x30\n"
        "    mov x9, x29\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    mov x0, x1\n"
        "    blr x9\n"
        "    brk #0\n"
        "    .cfi_endproc\n"
        ".size coio__ctx_entry, .-coio__ctx_entry\n");
void coio__ctx_entry(void);

/* Popped by the first switch: FPCR, padding, x29 = the entry function (the trampoline
 * moves it out and zeroes x29), the trampoline's address. */
void coio__ctx_init(coio__ctx *ctx, char *stack_lo, char *stack_top, uint64_t fpu,
                    coio__ctx_entry_fn *entry)
{
    (void)stack_lo;
    uint64_t *top = (uint64_t *)((uintptr_t)stack_top & ~(uintptr_t)15);
    top[-1] = (uint64_t)(uintptr_t)coio__ctx_entry;
    top[-2] = (uint64_t)(uintptr_t)entry;
    top[-3] = 0;
    top[-4] = fpu;
    ctx->sp = &top[-4];
}

uint64_t coio__ctx_fpu(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
}

#endif
