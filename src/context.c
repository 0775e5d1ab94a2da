/* Context creation: the entry trampoline of a new task and its initial register state.
 * The switch itself is inline, in context.h. */
#include "internal.h"

#include <string.h>

#if defined(COIO_CONTEXT_UCONTEXT)

#include <stdint.h>

static void ctx_start(unsigned hi, unsigned lo)
{
    uintptr_t p = ((uintptr_t)hi << 32) | (uintptr_t)lo;
    coio__task_main((coio_task *)p);
}

void coio__ctx_init(coio__ctx *ctx, char *stack_lo, char *stack_top, const coio__ctx *like)
{
    (void)like;
    /* The ucontext_t takes the top of the stack; the usable stack lies below it. */
    uintptr_t at = ((uintptr_t)stack_top - sizeof(ucontext_t)) & ~(uintptr_t)63;
    ucontext_t *uc = (ucontext_t *)at;
    memset(uc, 0, sizeof *uc);
    getcontext(uc);
    uc->uc_stack.ss_sp = stack_lo;
    uc->uc_stack.ss_size = (size_t)(at - (uintptr_t)stack_lo);
    uc->uc_link = NULL;
    uintptr_t p = (uintptr_t)ctx; /* ctx is the first member of the task */
    makecontext(uc, (void (*)(void))ctx_start, 2, (unsigned)(p >> 32), (unsigned)(p & 0xffffffffu));
    ctx->uc = uc;
}

void coio__ctx_capture(coio__ctx *ctx)
{
    (void)ctx;
}

void coio__ctx_switch(coio__ctx *from, coio__ctx *to)
{
    swapcontext(from->uc, to->uc);
}

#elif defined(__x86_64__)

/* Entered by the switch's jump with rsp = the 16-byte aligned stack top and rsi = the
 * new task. A zero frame pointer ends backtraces here; ud2 catches a return that can't
 * happen (coio__task_main never returns). */
__asm__(".text\n"
        ".p2align 4\n"
        ".type coio__ctx_entry, @function\n"
        "coio__ctx_entry:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined rip\n"
        "    xorl %ebp, %ebp\n"
        "    movq %rsi, %rdi\n"
        "    call coio__task_main\n"
        "    ud2\n"
        "    .cfi_endproc\n"
        ".size coio__ctx_entry, .-coio__ctx_entry\n");
void coio__ctx_entry(void);

void coio__ctx_init(coio__ctx *ctx, char *stack_lo, char *stack_top, const coio__ctx *like)
{
    (void)stack_lo;
    ctx->sp = (void *)((uintptr_t)stack_top & ~(uintptr_t)15);
    ctx->pc = (void *)coio__ctx_entry;
    ctx->fp = NULL;
    ctx->mxcsr = like->mxcsr;
    ctx->x87cw = like->x87cw;
    ctx->pad = 0;
}

void coio__ctx_capture(coio__ctx *ctx)
{
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(ctx->mxcsr), "=m"(ctx->x87cw));
    ctx->pad = 0;
}

#elif defined(__aarch64__)

__asm__(".text\n"
        ".p2align 4\n"
        ".type coio__ctx_entry, %function\n"
        "coio__ctx_entry:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined x30\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    mov x0, x1\n"
        "    bl coio__task_main\n"
        "    brk #0\n"
        "    .cfi_endproc\n"
        ".size coio__ctx_entry, .-coio__ctx_entry\n");
void coio__ctx_entry(void);

void coio__ctx_init(coio__ctx *ctx, char *stack_lo, char *stack_top, const coio__ctx *like)
{
    (void)stack_lo;
    ctx->sp = (void *)((uintptr_t)stack_top & ~(uintptr_t)15);
    ctx->pc = (void *)coio__ctx_entry;
    ctx->fp = NULL;
    ctx->fpcr = like->fpcr;
}

void coio__ctx_capture(coio__ctx *ctx)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    ctx->fpcr = v;
}

#endif
