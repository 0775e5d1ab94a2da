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
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#define COIO_TEST_HAVE_URING_H 1
#endif
#endif
#ifndef COIO_TEST_HAVE_URING_H
#define COIO_TEST_HAVE_URING_H 0
#endif
#ifndef COIO_TEST_HAVE_LIBURING
#define COIO_TEST_HAVE_LIBURING 0
#endif

#include <cmocka.h>

#include "fd_count.h"

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

/* Asserts that a duration (seconds) lies in [lo, hi), printing it and the bounds. */
#define assert_elapsed(value, lo, hi)                                                    \
    do {                                                                                 \
        double v_ = (value);                                                             \
        if (!(v_ >= (lo) && v_ < (hi))) {                                                \
            print_error("%s = %.3f s, want [%.3f, %.3f)\n", #value, v_, (double)(lo),     \
                        (double)(hi));                                                   \
            fail();                                                                      \
        }                                                                                \
    } while (0)

/* The trial main of require_backend: proves the loop started. */
static inline int coio_test_ran_(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

/* Ends the case as skipped: prints the reason and exits 77, which CTest shows as "Not
 * Run" (cmocka's skip() exits 0 and would show as passed). A skip ends the process, so
 * call it before the case has opened anything; one case per process under CTest. Skip
 * only when the machine truly lacks what the case needs. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2), noreturn))
#endif
static inline void coio_test_skip(const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    print_message("[  SKIPPED ] %s\n", why);
    fflush(stdout);
    exit(77);
}

/* Skips the case unless `program` is found in PATH (or is an executable path). Call it
 * in the case that runs the program, not in a setup shared by cases that do not. */
static inline void coio_test_require_program(const char *program, const char *package)
{
    if (strchr(program, '/')) {
        if (access(program, X_OK) == 0)
            return;
    } else {
        const char *path = getenv("PATH");
        char dir[4096];
        for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
            size_t n = strcspn(p, ":");
            if (n > 0 && n < sizeof dir - 256) {
                snprintf(dir, sizeof dir, "%.*s/%s", (int)n, p, program);
                if (access(dir, X_OK) == 0)
                    return;
            }
            p += n;
            if (*p == ':')
                p++;
        }
    }
    coio_test_skip("%s is not installed (Debian package %s)", program, package);
}

/* Whether the kernel gives this process an io_uring that coio's io_uring backend can use,
 * found without coio and without liburing: a raw io_uring_setup, the features the
 * backend needs, and the operations it submits. 0 if so, else a negative errno and the
 * reason in `why`. The backend's own probe is what is under test; this is the yardstick
 * that tells a kernel that refuses rings from a probe that wrongly refuses one. */
static inline int coio_test_kernel_io_uring(char *why, size_t cap)
{
#if defined(__NR_io_uring_setup) && defined(__NR_io_uring_register) && COIO_TEST_HAVE_URING_H
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int fd = (int)syscall(__NR_io_uring_setup, 2, &p);
    if (fd < 0) {
        int e = errno;
        snprintf(why, cap, "io_uring_setup: %s", strerror(e));
        return -e;
    }
    static const struct {
        unsigned bit;
        const char *name;
    } feats[] = {{IORING_FEAT_NODROP, "NODROP (5.5)"},
                 {IORING_FEAT_RW_CUR_POS, "RW_CUR_POS (5.6)"},
                 {IORING_FEAT_FAST_POLL, "FAST_POLL (5.7)"},
                 {IORING_FEAT_EXT_ARG, "EXT_ARG (5.11)"}};
    int rc = 0;
    for (size_t i = 0; i < sizeof feats / sizeof feats[0] && rc == 0; i++)
        if (!(p.features & feats[i].bit)) {
            snprintf(why, cap, "kernel ring lacks IORING_FEAT_%s", feats[i].name);
            rc = -ENOSYS;
        }
    static const int ops[] = {
        IORING_OP_READ,     IORING_OP_WRITE,   IORING_OP_READV,   IORING_OP_WRITEV,
        IORING_OP_RECV,     IORING_OP_SEND,    IORING_OP_RECVMSG, IORING_OP_SENDMSG,
        IORING_OP_ACCEPT,   IORING_OP_CONNECT, IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL,
    };
    size_t sz = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *pr = rc == 0 ? calloc(1, sz) : NULL;
    if (rc == 0 && pr && syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, pr, 256) < 0) {
        snprintf(why, cap, "IORING_REGISTER_PROBE: %s", strerror(errno));
        rc = -ENOSYS;
    }
    for (size_t i = 0; rc == 0 && pr && i < sizeof ops / sizeof ops[0]; i++)
        if (ops[i] > pr->last_op || !(pr->ops[ops[i]].flags & IO_URING_OP_SUPPORTED)) {
            snprintf(why, cap, "kernel lacks io_uring opcode %d", ops[i]);
            rc = -ENOSYS;
        }
    free(pr);
    close(fd);
    return rc;
#else
    snprintf(why, cap, "no io_uring system calls in this libc's headers");
    return -ENOSYS;
#endif
}

/* Set (to anything but "" or "0") by `make test` under CI=true: a backend that cannot
 * start fails the case instead of skipping it. */
static inline int coio_test_skips_are_failures(void)
{
    const char *v = getenv("COIO_TEST_REQUIRE_IO_URING");
    return v && *v && strcmp(v, "0") != 0;
}

/* Checks that the backend COIO_BACKEND names starts. io_uring may be missing for one of
 * two reasons that are the machine's, not coio's: the kernel refuses rings
 * (io_uring_disabled, seccomp in containers, an old kernel), or coio was built without
 * liburing. Then the case exits 77 (skipped), or fails when COIO_TEST_REQUIRE_IO_URING is
 * set. Any other failure to start, including the io_uring probe refusing a ring the
 * kernel gives, fails the case. */
/* Skips (exit 77) when COIO_BACKEND asks for io_uring and this machine has none: the
 * kernel refuses a ring, or coio was built without liburing. Without coio calls, so it
 * has no side effect on what a case sets up later (environment, pool size). */
static inline void coio_test_skip_without_backend(int rc)
{
    const char *want = getenv("COIO_BACKEND");
    if (!want || strcmp(want, "io_uring") != 0)
        return;
    char why[256] = "";
#if COIO_TEST_HAVE_LIBURING
    if (coio_test_kernel_io_uring(why, sizeof why) == 0)
        return;
#else
    snprintf(why, sizeof why, "coio was built without liburing");
#endif
    if (coio_test_skips_are_failures()) {
        print_error("backend io_uring unavailable (%s) and COIO_TEST_REQUIRE_IO_URING is set\n",
                    why);
        fail();
    }
    coio_test_skip("backend io_uring unavailable: %s (%s)", why, rc ? coio_err_name(rc) : "");
}

static inline void require_backend(void)
{
    int ran = 0;
    int rc = coio_run(coio_test_ran_, &ran);
    if (rc < 0 && !ran) {
        coio_test_skip_without_backend(rc);
        const char *want = getenv("COIO_BACKEND");
        print_error("backend %s did not start (%s), though the kernel allows it\n",
                    want ? want : "(default)", coio_err_name(rc));
        fail();
    }
    coio_assert_rc(rc, 0);
}

/* Runs one case by name (argv[1]) or all of them. */
#define COIO_TEST_MAIN(tests)                                                            \
    int main(int argc, char **argv)                                                      \
    {                                                                                    \
        if (argc > 1)                                                                    \
            cmocka_set_test_filter(argv[1]);                                             \
        /* Entries of an `io` file run under COIO_BACKEND: skip them all (exit 77) where  \
         * the machine has no such backend; require_backend() also checks coio's probe. */ \
        coio_test_skip_without_backend(0);                                               \
        int coio_t_rc_ = cmocka_run_group_tests(tests, coio_test_group_setup,            \
                                                coio_test_group_teardown);               \
        /* cmocka reports a failed group teardown (an fd leak) but exits 0. */           \
        if (coio_t_rc_ == 0 && coio_test_count_fds() != coio_test_fds_at_start)          \
            coio_t_rc_ = 1;                                                              \
        return coio_t_rc_;                                                               \
    }

#endif
