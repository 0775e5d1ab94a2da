/*
 * Shared harness for coio's cmocka test programs.
 *
 * Each test program lists its cases with cmocka_unit_test(name) in one array and ends
 * with COIO_TEST_MAIN(array). CMake (tests/CMakeLists.txt) reads those names from the
 * source and registers one CTest entry per case, running `program <case>`, so a crash or
 * hang names the case. Run without an argument, a program runs all of its cases.
 *
 * Every case is checked for leaked file descriptors: the group teardown compares the
 * number of open fds with the number at start.
 */
#ifndef COIO_TEST_H
#define COIO_TEST_H

#include <coio.h>

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static inline int coio_test_count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

static int coio_test_fds_at_start;

static inline int coio_test_group_setup(void **state)
{
    (void)state;
    coio_test_fds_at_start = coio_test_count_fds();
    return 0;
}

static inline int coio_test_group_teardown(void **state)
{
    (void)state;
    int now = coio_test_count_fds();
    if (now != coio_test_fds_at_start) {
        fprintf(stderr, "fd leak: %d open at start, %d at end\n", coio_test_fds_at_start, now);
        return -1;
    }
    return 0;
}

/* Asserts that a coio call returned `expected` (an errno-style int), printing both values
 * by name when it did not: "got -ETIMEDOUT (the deadline expired), want 0". */
#define coio_assert_rc(expr, expected)                                                   \
    do {                                                                                 \
        long coio_t_got_ = (long)(expr), coio_t_want_ = (long)(expected);                \
        if (coio_t_got_ != coio_t_want_) {                                               \
            print_error("%s: got %ld (%s), want %ld (%s)\n", #expr, coio_t_got_,          \
                        coio_t_got_ < 0 ? coio_err_name((int)coio_t_got_) : "ok",         \
                        coio_t_want_,                                                    \
                        coio_t_want_ < 0 ? coio_err_name((int)coio_t_want_) : "ok");      \
            fail();                                                                      \
        }                                                                                \
    } while (0)

/* Runs one case by name (argv[1]) or all of them. */
static inline int coio_test_ran_(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

/* Exits 77 (CTest: skipped) when the backend COIO_BACKEND names cannot start here
 * (io_uring disabled by the kernel or a seccomp filter): coio_run fails without running
 * main. That holds for every case of the process; cmocka's skip() would exit 0 and show
 * as passed. */
static inline void require_backend(void)
{
    int ran = 0;
    int rc = coio_run(coio_test_ran_, &ran);
    if (rc < 0 && !ran) {
        print_message("[  SKIPPED ] backend %s unavailable: %s\n",
                      getenv("COIO_BACKEND") ? getenv("COIO_BACKEND") : "(default)",
                      coio_err_name(rc));
        exit(77);
    }
    coio_assert_rc(rc, 0);
}

#define COIO_TEST_MAIN(tests)                                                            \
    int main(int argc, char **argv)                                                      \
    {                                                                                    \
        if (argc > 1)                                                                    \
            cmocka_set_test_filter(argv[1]);                                             \
        int coio_t_rc_ = cmocka_run_group_tests(tests, coio_test_group_setup,            \
                                                coio_test_group_teardown);               \
        /* cmocka reports a failed group teardown (an fd leak) but exits 0. */           \
        if (coio_t_rc_ == 0 && coio_test_count_fds() != coio_test_fds_at_start)          \
            coio_t_rc_ = 1;                                                              \
        return coio_t_rc_;                                                               \
    }

#endif
