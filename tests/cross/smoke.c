/* Cross-architecture smoke test (run under qemu-user by tests/cross/run.sh): the context
 * switch, FPU control state per task, sleep, cancellation and deadlines. Prints PASS. */
#include <coio.h>

#include <errno.h>
#include <fenv.h>
#include <stdio.h>

#define ROUNDS 200000

static int ping(void *arg)
{
    long *n = arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (coio_yield() != 0)
            return -1;
        (*n)++;
    }
    return 7;
}

static int sleepy(void *arg)
{
    (void)arg;
    return coio_sleep(5);
}

/* Changes the rounding mode and checks it survives switches... */
static int rounding_up(void *arg)
{
    (void)arg;
    fesetround(FE_UPWARD);
    coio_yield();
    int ok = fegetround() == FE_UPWARD;
    coio_yield();
    ok = ok && fegetround() == FE_UPWARD;
    fesetround(FE_TONEAREST);
    return ok;
}

/* ...without leaking into another task. */
static int rounding_default(void *arg)
{
    (void)arg;
    coio_yield();
    int ok = fegetround() == FE_TONEAREST;
    coio_yield();
    return ok && fegetround() == FE_TONEAREST;
}

static int failures;
#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                       \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

static int main_task(void *arg)
{
    (void)arg;
    long n1 = 0, n2 = 0;
    int r[2];
    CHECK(coio_gather_n((coio_task *[]){coio_spawn(ping, &n1), coio_spawn(ping, &n2)}, 2, r) == 0);
    CHECK(r[0] == 7 && r[1] == 7 && n1 + n2 == 2 * ROUNDS);

    coio_task *t = coio_spawn(sleepy, NULL);
    coio_sleep(0.01);
    coio_cancel(t);
    CHECK(coio_await(t) == -ECANCELED);

    coio_scope s;
    coio_timeout_begin(&s, 0.05);
    CHECK(coio_sleep(1) == -ETIMEDOUT);
    CHECK(coio_scope_end(&s) == -ETIMEDOUT);

    int f[2];
    CHECK(coio_gather_n((coio_task *[]){coio_spawn(rounding_up, NULL),
                                        coio_spawn(rounding_default, NULL)}, 2, f) == 0);
    CHECK(f[0] == 1 && f[1] == 1);
    return 0;
}

int main(void)
{
    CHECK(coio_run(main_task, NULL) == 0);
    puts(failures ? "FAILED" : "PASS");
    return failures != 0;
}
