/* Helpers for the sync test programs (test_sync, test_queue, test_group, test_future,
 * test_callback).
 *
 * cmocka's assertions longjmp to the case's start when they fail, which must not happen
 * from a task's stack (or a callback inside the loop): the loop would be abandoned half
 * way. Code running inside coio_run therefore uses check_*(), which print the failure
 * (with error names) and count it; run_ok() runs the loop and then asserts that it
 * returned 0 and that no check failed. */
#ifndef SYNC_HELPERS_H
#define SYNC_HELPERS_H

#include "coio_test.h"

#include <stdatomic.h>

static atomic_int check_failures;

#define check_rc(expr, expected)                                                         \
    do {                                                                                 \
        long ck_got_ = (long)(expr), ck_want_ = (long)(expected);                        \
        if (ck_got_ != ck_want_) {                                                       \
            print_error("%s:%d: %s: got %ld (%s), want %ld (%s)\n", __FILE__, __LINE__,  \
                        #expr, ck_got_, ck_got_ < 0 ? coio_err_name((int)ck_got_) : "ok", \
                        ck_want_, ck_want_ < 0 ? coio_err_name((int)ck_want_) : "ok");    \
            atomic_fetch_add(&check_failures, 1);                                        \
        }                                                                                \
    } while (0)

#define check_true(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            print_error("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
            atomic_fetch_add(&check_failures, 1);                                        \
        }                                                                                \
    } while (0)

#define check_int(a, b) check_rc(a, b)

/* Runs main(arg) in a loop; fails the case if it doesn't return 0 or a check failed. */
#define run_ok(main, arg)                                                                \
    do {                                                                                 \
        atomic_store(&check_failures, 0);                                                \
        coio_assert_rc(coio_run(main, arg), 0);                                          \
        assert_int_equal(atomic_load(&check_failures), 0);                               \
    } while (0)

/* Records the order in which tasks got through something. */
struct order {
    int seq[32];
    int n;
};

static inline void note(struct order *o, int id)
{
    if (o->n < 32)
        o->seq[o->n++] = id;
}

static inline void assert_order(const struct order *o, const int *want, int n)
{
    assert_int_equal(o->n, n);
    for (int i = 0; i < n; i++)
        if (o->seq[i] != want[i]) {
            print_error("position %d: got %d, want %d\n", i, o->seq[i], want[i]);
            fail();
        }
}

/* For use inside the loop: returns 1 if the order matches, else prints and counts. */
static inline void check_order(const struct order *o, const int *want, int n)
{
    int ok = o->n == n;
    for (int i = 0; ok && i < n; i++)
        ok = o->seq[i] == want[i];
    if (!ok) {
        print_error("order mismatch (%d entries, want %d)\n", o->n, n);
        atomic_fetch_add(&check_failures, 1);
    }
}

/* fn(arg) inside a timeout scope of `seconds`; returns fn's value. */
static inline int with_timeout(double seconds, int (*fn)(void *), void *arg)
{
    coio_scope s;
    coio_timeout_begin(&s, seconds);
    int r = fn(arg);
    coio_scope_end(&s);
    return r;
}

#endif
