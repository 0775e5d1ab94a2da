/* Stack overflow in a task: the process dies by SIGSEGV after printing which task
 * overflowed. Each case forks a child to do the overflowing. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

/* Sanitizers install their own SIGSEGV handling (and ASan reports the overflow itself);
 * Valgrind reports it as an invalid write and kills the process on its own terms.
 * Either holds for the whole process, so exit 77, which CTest reports as skipped
 * (cmocka's skip() would exit 0 and show as passed). */
static void skip_if_signals_are_taken(void)
{
    if (UNDER_SANITIZER || RUNNING_ON_VALGRIND) {
        print_message("[  SKIPPED ] %s takes SIGSEGV itself\n",
                      UNDER_SANITIZER ? "the sanitizer" : "valgrind");
        exit(77);
    }
}

/* Never reached; volatile so the compiler cannot see the recursion is unbounded. */
static volatile int recursion_limit = 0x7fffffff;

__attribute__((noinline)) static int recurse(int depth)
{
    volatile char frame[1024];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = (char)depth;
    if (depth >= recursion_limit)
        return 0;
    return recurse(depth + 1) + frame[0] + frame[sizeof frame - 1];
}

static int overflow_task(void *arg)
{
    (void)arg;
    return recurse(0);
}

struct how {
    const char *name;  /* NULL: spawn without a name */
    size_t stack_size; /* 0: default */
    int in_main;       /* overflow in coio_run's main task itself */
};

static int overflow_main(void *arg)
{
    const struct how *h = arg;
    if (h->in_main)
        return overflow_task(NULL);
    coio_spawn_opts o = {.name = h->name, .stack_size = h->stack_size};
    return coio_await(coio_spawn_ex(overflow_task, NULL, &o));
}

/* Runs the overflow in a child; returns its wait status and its stderr in err. */
static int run_child(const struct how *h, char *err, size_t errsz)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], STDERR_FILENO);
        close(p[1]);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        /* cmocka catches SIGSEGV while a case runs; the child must die of it instead */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        alarm(20); /* a hang in the handler ends as SIGALRM, not a test timeout */
        int rc = coio_run(overflow_main, (void *)h);
        fprintf(stderr, "child: coio_run returned %d\n", rc);
        _exit(3);
    }
    close(p[1]);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(p[0], err + len, errsz - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == errsz - 1)
            break;
    }
    err[len] = '\0';
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return status;
}

static void check_died_by_sigsegv(int status, const char *err)
{
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV) {
        print_error("child: %s %d, want signal SIGSEGV (%d); stderr:\n%s\n",
                    WIFSIGNALED(status) ? "signal" : "exit status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), SIGSEGV,
                    err);
        fail();
    }
}

static void check_stderr_has(const char *err, const char *want)
{
    if (!strstr(err, want)) {
        print_error("child stderr lacks '%s'; it was:\n%s\n", want, err);
        fail();
    }
}

static void overflow_in_named_task_reports_its_name(void **state)
{
    (void)state;
    skip_if_signals_are_taken();
    static char err[8192];
    struct how h = {.name = "deep"};
    int status = run_child(&h, err, sizeof err);
    check_died_by_sigsegv(status, err);
    check_stderr_has(err, "coio: stack overflow in task \"deep\"");
}

static void overflow_in_unnamed_task_is_reported(void **state)
{
    (void)state;
    skip_if_signals_are_taken();
    static char err[8192];
    struct how h = {0};
    int status = run_child(&h, err, sizeof err);
    check_died_by_sigsegv(status, err);
    check_stderr_has(err, "coio: stack overflow in task");
}

static void overflow_with_minimum_stack_size_is_reported(void **state)
{
    (void)state;
    skip_if_signals_are_taken();
    static char err[8192];
    struct how h = {.name = "small", .stack_size = COIO_STACK_SIZE_MIN};
    int status = run_child(&h, err, sizeof err);
    check_died_by_sigsegv(status, err);
    check_stderr_has(err, "coio: stack overflow in task \"small\"");
}

static void overflow_with_large_stack_size_is_reported(void **state)
{
    (void)state;
    skip_if_signals_are_taken();
    static char err[8192];
    struct how h = {.name = "large", .stack_size = 4u * 1024 * 1024};
    int status = run_child(&h, err, sizeof err);
    check_died_by_sigsegv(status, err);
    check_stderr_has(err, "coio: stack overflow in task \"large\"");
}

static void overflow_in_main_task_is_reported(void **state)
{
    (void)state;
    skip_if_signals_are_taken();
    static char err[8192];
    struct how h = {.in_main = 1};
    int status = run_child(&h, err, sizeof err);
    check_died_by_sigsegv(status, err);
    check_stderr_has(err, "coio: stack overflow in task");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(overflow_in_named_task_reports_its_name),
    cmocka_unit_test(overflow_in_unnamed_task_is_reported),
    cmocka_unit_test(overflow_with_minimum_stack_size_is_reported),
    cmocka_unit_test(overflow_with_large_stack_size_is_reported),
    cmocka_unit_test(overflow_in_main_task_is_reported),
};

COIO_TEST_MAIN(tests)
