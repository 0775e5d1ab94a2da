/* The context switch: floating-point control state belongs to each task, deep stacks and
 * many switches work, and tasks resume exactly where they left off. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <fenv.h>

static int rounding_up(void *arg)
{
    (void)arg;
    fesetround(FE_UPWARD);
    int ok = 1;
    for (int i = 0; i < 100; i++) {
        coio_yield();
        ok = ok && fegetround() == FE_UPWARD;
    }
    fesetround(FE_TONEAREST);
    return ok;
}

static int rounding_default(void *arg)
{
    (void)arg;
    int ok = 1;
    for (int i = 0; i < 100; i++) {
        coio_yield();
        ok = ok && fegetround() == FE_TONEAREST;
    }
    return ok;
}

static int rounding_main(void *arg)
{
    int *res = arg;
    return coio_gather_n((coio_task *[]){coio_spawn(rounding_up, NULL),
                                         coio_spawn(rounding_default, NULL)}, 2, res);
}

/* MXCSR / x87 control word (FPCR on aarch64) are callee-saved: one task's rounding mode
 * must neither leak into another task nor be lost across its own switches. */
static void rounding_mode_is_per_task(void **state)
{
    (void)state;
    int res[2] = {0, 0};
    coio_assert_rc(coio_run(rounding_main, res), 0);
    assert_int_equal(res[0], 1);
    assert_int_equal(res[1], 1);
    assert_int_equal(fegetround(), FE_TONEAREST);
}

#if defined(__x86_64__)
/* fesetround sets MXCSR and the x87 control word together; these set one at a time, so a
 * switch that saved or restored only one of them is caught. */
static unsigned get_mxcsr(void)
{
    unsigned v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v & 0xffc0; /* control bits only: the status flags are caller-saved */
}

static void set_mxcsr(unsigned v)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static unsigned short get_x87cw(void)
{
    unsigned short v;
    __asm__ volatile("fnstcw %0" : "=m"(v));
    return v;
}

static void set_x87cw(unsigned short v)
{
    __asm__ volatile("fldcw %0" : : "m"(v));
}

struct fpu_seen {
    unsigned mxcsr;
    unsigned short cw;
    int ok;
};

/* Each task checks that its control state survives yields and sleeps (a sleep resumes
 * through the loop's own context) while the others run with theirs. */
static int keeps_control_state(void *arg)
{
    struct fpu_seen *s = arg;
    if (s->mxcsr)
        set_mxcsr(s->mxcsr);
    if (s->cw)
        set_x87cw(s->cw);
    unsigned mx = get_mxcsr();
    unsigned short cw = get_x87cw();
    s->ok = 1;
    for (int i = 0; i < 200; i++) {
        if (i % 50 == 0)
            coio_sleep(0.001);
        else
            coio_yield();
        s->ok = s->ok && get_mxcsr() == mx && get_x87cw() == cw;
    }
    return 0;
}

static int control_state_main(void *arg)
{
    struct fpu_seen *s = arg;
    return coio_gather(coio_spawn(keeps_control_state, &s[0]),
                       coio_spawn(keeps_control_state, &s[1]),
                       coio_spawn(keeps_control_state, &s[2]));
}

static void mxcsr_and_x87_control_word_are_per_task(void **state)
{
    (void)state;
    unsigned mx0 = get_mxcsr();
    unsigned short cw0 = get_x87cw();
    struct fpu_seen s[3] = {
        {.mxcsr = (mx0 & ~0x6000u) | 0x6000u | 0x8000u}, /* round toward zero, flush to zero */
        {.cw = (unsigned short)((cw0 & ~0x0300) | 0x0000)}, /* x87 precision: 24 bits */
        {0},                                                 /* the thread's own state */
    };
    coio_assert_rc(coio_run(control_state_main, s), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s[i].ok, 1);
    assert_int_equal(get_mxcsr(), mx0);
    assert_int_equal(get_x87cw(), cw0);
}
#else
static void mxcsr_and_x87_control_word_are_per_task(void **state)
{
    (void)state;
    /* rounding_mode_is_per_task covers FPCR on aarch64 */
    coio_test_skip("MXCSR and the x87 control word exist on x86-64 only");
}
#endif

struct regs {
    unsigned long sum;
};

/* Lots of live values across switches: the compiler must keep them safe, whatever
 * registers it put them in. */
static int many_live_values(void *arg)
{
    struct regs *r = arg;
    unsigned long a = 1, b = 2, c = 3, d = 5, e = 7, f = 11, g = 13, h = 17; /* wrap freely */
    double x = 1.5, y = 2.5, z = 3.5;
    for (int i = 0; i < 1000; i++) {
        a += b; b += c; c += d; d += e; e += f; f += g; g += h; h += a;
        x = x * 1.0000001 + y; y = y * 0.9999999 + z; z += 0.5;
        coio_yield();
    }
    r->sum = a + b + c + d + e + f + g + h + (unsigned long)(x + y + z);
    return 0;
}

static unsigned long expected_sum(void)
{
    unsigned long a = 1, b = 2, c = 3, d = 5, e = 7, f = 11, g = 13, h = 17;
    double x = 1.5, y = 2.5, z = 3.5;
    for (int i = 0; i < 1000; i++) {
        a += b; b += c; c += d; d += e; e += f; f += g; g += h; h += a;
        x = x * 1.0000001 + y; y = y * 0.9999999 + z; z += 0.5;
        __asm__ volatile("" ::: "memory");
    }
    return a + b + c + d + e + f + g + h + (unsigned long)(x + y + z);
}

static int registers_main(void *arg)
{
    struct regs *r = arg;
    return coio_gather(coio_spawn(many_live_values, &r[0]), coio_spawn(many_live_values, &r[1]),
                       coio_spawn(many_live_values, &r[2]));
}

static void live_registers_survive_switches(void **state)
{
    (void)state;
    struct regs r[3] = {{0}, {0}, {0}};
    coio_assert_rc(coio_run(registers_main, r), 0);
    unsigned long want = expected_sum();
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].sum, want);
}

__attribute__((noinline)) static int recurse(int depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    if (depth == 0)
        return coio_yield() == 0 ? pad[0] : -1;
    return recurse(depth - 1) + 1 + pad[0] * 0;
}

static int deep(void *arg)
{
    (void)arg;
    return recurse(300); /* ~150 KiB of frames, then a switch from the bottom */
}

static int deep_main(void *arg)
{
    (void)arg;
    int r[4];
    int rc = coio_gather_n((coio_task *[]){coio_spawn(deep, NULL), coio_spawn(deep, NULL),
                                           coio_spawn(deep, NULL), coio_spawn(deep, NULL)},
                           4, r);
    for (int i = 0; i < 4; i++)
        if (r[i] != 300)
            return -1;
    return rc;
}

static void switching_from_deep_frames_works(void **state)
{
    (void)state;
    coio_assert_rc(coio_run(deep_main, NULL), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(rounding_mode_is_per_task),
    cmocka_unit_test(mxcsr_and_x87_control_word_are_per_task),
    cmocka_unit_test(live_registers_survive_switches),
    cmocka_unit_test(switching_from_deep_frames_works),
};

COIO_TEST_MAIN(tests)
