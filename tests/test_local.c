/* Task-local values (coio_var): inheritance at spawn, isolation between tasks, the
 * thread's values outside any task, destructors (exactly once, at the right moment:
 * replaced, task end, cancellation, loop end, thread end), a million tasks, bad
 * arguments. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <pthread.h>

/* ---- destructor accounting ---------------------------------------------------------- */

/* A value is a counted heap object; its destructor records that it ran, once. */
struct val {
    int n;
    int destroyed;
};

static int live_vals;      /* created and not yet destroyed */
static int destroyed_vals; /* destructor calls */
static int bad_destroys;   /* destructor called twice on one value */

static struct val *val_new(int n)
{
    struct val *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->n = n;
    live_vals++;
    return v;
}

static void val_free(void *p)
{
    struct val *v = p;
    if (v->destroyed++)
        bad_destroys++;
    destroyed_vals++;
    live_vals--;
    free(v);
}

static void counts_reset(void)
{
    live_vals = destroyed_vals = bad_destroys = 0;
}

static int val_n(const coio_var *var)
{
    struct val *v = coio_var_get(var);
    return v ? v->n : -1;
}

/* ---- inheritance and isolation ------------------------------------------------------ */

struct tree {
    coio_var *a, *b;
    int seen[8];
    coio_event *ev;
};

static int child_records_a(void *arg)
{
    struct tree *s = arg;
    s->seen[0] = val_n(s->a);
    return 0;
}

static int inherit_main(void *arg)
{
    struct tree *s = arg;
    coio_assert_rc(coio_var_set(s->a, val_new(1)), 0);
    coio_task *t = coio_spawn(child_records_a, s);
    assert_non_null(t);
    /* Changed after the spawn, before the child runs: the child keeps its copy. */
    coio_assert_rc(coio_var_set(s->a, val_new(2)), 0);
    coio_assert_rc(coio_await(t), 0);
    assert_int_equal(s->seen[0], 1);
    assert_int_equal(val_n(s->a), 2);
    coio_assert_rc(coio_var_set(s->a, NULL), 0);
    return 0;
}

static void child_sees_parent_values_at_spawn_time(void **state)
{
    (void)state;
    counts_reset();
    struct tree s = {.a = coio_var_new(val_free)};
    assert_non_null(s.a);
    coio_assert_rc(coio_run(inherit_main, &s), 0);
    assert_int_equal(destroyed_vals, 2);
    assert_int_equal(live_vals, 0);
    coio_assert_rc(coio_var_delete(s.a), 0);
}

/* Sibling 0 sets a, then waits; sibling 1 runs after the set and must still see the
 * parent's value; sibling 0 then sees its own. */
struct sib {
    struct tree *s;
    int i;
};

static int sibling(void *arg)
{
    struct sib *x = arg;
    struct tree *s = x->s;
    if (x->i == 0) {
        coio_assert_rc(coio_var_set(s->a, val_new(10)), 0);
        coio_assert_rc(coio_var_set(s->b, val_new(11)), 0);
        coio_assert_rc(coio_event_set(s->ev), 0);
        coio_assert_rc(coio_yield(), 0);
        s->seen[0] = val_n(s->a);
        s->seen[1] = val_n(s->b);
    } else {
        coio_assert_rc(coio_event_wait(s->ev), 0);
        s->seen[2] = val_n(s->a);
        s->seen[3] = val_n(s->b);
        coio_assert_rc(coio_var_set(s->a, val_new(20)), 0);
        s->seen[4] = val_n(s->a);
    }
    return 0;
}

static int siblings_main(void *arg)
{
    struct tree *s = arg;
    coio_assert_rc(coio_var_set(s->a, val_new(1)), 0);
    struct sib x0 = {s, 0}, x1 = {s, 1};
    coio_assert_rc(coio_gather(coio_spawn(sibling, &x0), coio_spawn(sibling, &x1)), 0);
    /* Nothing a child set shows in its parent. */
    s->seen[5] = val_n(s->a);
    s->seen[6] = val_n(s->b);
    coio_assert_rc(coio_var_set(s->a, NULL), 0);
    return 0;
}

static void siblings_and_parent_do_not_see_each_others_sets(void **state)
{
    (void)state;
    counts_reset();
    struct tree s = {
        .a = coio_var_new(val_free), .b = coio_var_new(val_free), .ev = coio_event_create()};
    assert_non_null(s.ev);
    coio_assert_rc(coio_run(siblings_main, &s), 0);
    assert_int_equal(s.seen[0], 10); /* its own */
    assert_int_equal(s.seen[1], 11);
    assert_int_equal(s.seen[2], 1);  /* the parent's, not sibling 0's */
    assert_int_equal(s.seen[3], -1); /* b: sibling 0's set is not visible */
    assert_int_equal(s.seen[4], 20);
    assert_int_equal(s.seen[5], 1);
    assert_int_equal(s.seen[6], -1);
    assert_int_equal(destroyed_vals, 4);
    assert_int_equal(live_vals, 0);
    assert_int_equal(bad_destroys, 0);
    coio_event_destroy(s.ev);
    coio_var_delete(s.a);
    coio_var_delete(s.b);
}

/* ---- destructors -------------------------------------------------------------------- */

struct dtor {
    coio_var *a;
    int at_child_end; /* destroyed_vals when the parent saw each step */
    int after_replace, after_children, after_unset, after_await;
};

static int hold_and_yield(void *arg)
{
    struct dtor *s = arg;
    coio_assert_rc(coio_yield(), 0);
    assert_int_equal(val_n(s->a), 1); /* still the value the parent replaced */
    return 0;
}

static int set_own_and_return(void *arg)
{
    struct dtor *s = arg;
    coio_assert_rc(coio_var_set(s->a, val_new(7)), 0);
    return 0;
}

static int dtor_main(void *arg)
{
    struct dtor *s = arg;
    coio_assert_rc(coio_var_set(s->a, val_new(1)), 0);
    coio_task *t[3];
    for (int i = 0; i < 3; i++)
        assert_non_null(t[i] = coio_spawn(hold_and_yield, s));
    /* Replaced while three children hold it: it must outlive them. */
    coio_assert_rc(coio_var_set(s->a, val_new(2)), 0);
    s->after_replace = destroyed_vals;
    coio_assert_rc(coio_gather_n(t, 3, NULL), 0);
    s->after_children = destroyed_vals;
    /* Setting the value it has is nothing; unsetting destroys it at once. */
    void *two = coio_var_get(s->a);
    coio_assert_rc(coio_var_set(s->a, two), 0);
    assert_int_equal(destroyed_vals, s->after_children);
    coio_assert_rc(coio_var_set(s->a, NULL), 0);
    s->after_unset = destroyed_vals;
    coio_assert_rc(coio_var_set(s->a, NULL), 0); /* unset twice: nothing */
    /* A child's own value is destroyed by the time its awaiter resumes. */
    coio_assert_rc(coio_await(coio_spawn(set_own_and_return, s)), 0);
    s->after_await = destroyed_vals;
    return 0;
}

static void destructor_runs_once_when_the_last_holder_lets_go(void **state)
{
    (void)state;
    counts_reset();
    struct dtor s = {.a = coio_var_new(val_free)};
    coio_assert_rc(coio_run(dtor_main, &s), 0);
    assert_int_equal(s.after_replace, 0);
    assert_int_equal(s.after_children, 1);
    assert_int_equal(s.after_unset, 2);
    assert_int_equal(s.after_await, 3);
    assert_int_equal(live_vals, 0);
    assert_int_equal(bad_destroys, 0);
    coio_var_delete(s.a);
}

/* Replacing a value no other task holds destroys it at once, many times over (the same
 * storage is reused: no growth). */
static int replace_main(void *arg)
{
    coio_var *a = arg;
    for (int i = 0; i < 1000; i++) {
        coio_assert_rc(coio_var_set(a, val_new(i)), 0);
        assert_int_equal(live_vals, 1);
        assert_int_equal(destroyed_vals, i);
    }
    return 0; /* the last one: the main task's end */
}

static void replacing_an_unshared_value_destroys_it_at_once(void **state)
{
    (void)state;
    counts_reset();
    coio_var *a = coio_var_new(val_free);
    coio_assert_rc(coio_run(replace_main, a), 0);
    assert_int_equal(destroyed_vals, 1000);
    assert_int_equal(live_vals, 0);
    coio_var_delete(a);
}

struct cancel {
    coio_var *a;
    int before_cancel, after_await_started, after_await_unstarted;
};

static int set_and_sleep(void *arg)
{
    struct cancel *s = arg;
    coio_assert_rc(coio_var_set(s->a, val_new(5)), 0);
    return coio_sleep(3600);
}

static int never_runs(void *arg)
{
    (void)arg;
    fail();
    return 0;
}

static int cancel_main(void *arg)
{
    struct cancel *s = arg;
    coio_task *t = coio_spawn(set_and_sleep, s);
    coio_assert_rc(coio_yield(), 0); /* it runs, sets, sleeps */
    s->before_cancel = destroyed_vals;
    coio_assert_rc(coio_cancel(t), 0);
    coio_assert_rc(coio_await(t), -ECANCELED);
    s->after_await_started = destroyed_vals;
    /* Cancelled before it starts, holding (alone) the value its parent then unset. */
    coio_assert_rc(coio_var_set(s->a, val_new(6)), 0);
    t = coio_spawn(never_runs, s);
    coio_assert_rc(coio_var_set(s->a, NULL), 0);
    assert_int_equal(destroyed_vals, s->after_await_started);
    coio_assert_rc(coio_cancel(t), 0);
    coio_assert_rc(coio_await(t), -ECANCELED);
    s->after_await_unstarted = destroyed_vals;
    return 0;
}

static void destructors_run_when_tasks_are_cancelled(void **state)
{
    (void)state;
    counts_reset();
    struct cancel s = {.a = coio_var_new(val_free)};
    coio_assert_rc(coio_run(cancel_main, &s), 0);
    assert_int_equal(s.before_cancel, 0);
    assert_int_equal(s.after_await_started, 1);
    assert_int_equal(s.after_await_unstarted, 2);
    assert_int_equal(live_vals, 0);
    assert_int_equal(bad_destroys, 0);
    coio_var_delete(s.a);
}

/* Main returns with values set in itself, in a detached task the loop cancels, and in
 * two tasks that ignore cancellation (each awaits the other inside a shield), which the
 * loop drops unfinished. */
struct end {
    coio_var *a;
    coio_task *pair[2];
};

static int detached_sleeper(void *arg)
{
    struct end *s = arg;
    coio_assert_rc(coio_var_set(s->a, val_new(3)), 0);
    return coio_sleep(3600);
}

static int shielded_pair(void *arg, int i)
{
    struct end *s = arg;
    coio_assert_rc(coio_var_set(s->a, val_new(4 + i)), 0);
    coio_scope sc;
    coio_assert_rc(coio_shield_begin(&sc, -1), 0);
    int r = coio_await(s->pair[!i]);
    coio_scope_end(&sc);
    return r;
}

static int shielded_0(void *arg)
{
    return shielded_pair(arg, 0);
}

static int shielded_1(void *arg)
{
    return shielded_pair(arg, 1);
}

static int end_main(void *arg)
{
    struct end *s = arg;
    coio_assert_rc(coio_var_set(s->a, val_new(1)), 0);
    coio_assert_rc(coio_detach(coio_spawn(detached_sleeper, s)), 0);
    assert_non_null(s->pair[0] = coio_spawn(shielded_0, s));
    assert_non_null(s->pair[1] = coio_spawn(shielded_1, s));
    coio_assert_rc(coio_var_set(s->a, val_new(2)), 0); /* 1: the children hold it */
    assert_int_equal(destroyed_vals, 0);
    coio_assert_rc(coio_yield(), 0);
    /* Every child has replaced it with its own: no one holds 1 any more. */
    assert_int_equal(destroyed_vals, 1);
    return 0;
}

static void values_still_set_when_the_loop_ends_are_destroyed_once(void **state)
{
    (void)state;
    counts_reset();
    struct end s = {.a = coio_var_new(val_free)};
    int r = coio_run(end_main, &s);
    assert_true(r == 0 || r == -EDEADLK);
    assert_int_equal(destroyed_vals, 5);
    assert_int_equal(live_vals, 0);
    assert_int_equal(bad_destroys, 0);
    coio_var_delete(s.a);
}

/* A destructor may get and set: what it sets in a task that is ending goes with it. */
static coio_var *reentrant_a, *reentrant_b;
static int reentrant_saw_a = -2;

static void set_b_then_free(void *p)
{
    reentrant_saw_a = val_n(reentrant_a);
    if (coio_var_get(reentrant_b) == NULL)
        coio_assert_rc(coio_var_set(reentrant_b, val_new(8)), 0);
    val_free(p);
}

static int sets_a(void *arg)
{
    (void)arg;
    coio_assert_rc(coio_var_set(reentrant_a, val_new(1)), 0);
    return 0;
}

static int reentrant_main(void *arg)
{
    (void)arg;
    coio_assert_rc(coio_await(coio_spawn(sets_a, NULL)), 0);
    assert_int_equal(destroyed_vals, 2); /* a's value and the b its destructor set */
    return 0;
}

static void destructor_may_set_values_of_an_ending_task(void **state)
{
    (void)state;
    counts_reset();
    reentrant_a = coio_var_new(set_b_then_free);
    reentrant_b = coio_var_new(val_free);
    coio_assert_rc(coio_run(reentrant_main, NULL), 0);
    assert_int_equal(reentrant_saw_a, -1);
    assert_int_equal(live_vals, 0);
    coio_var_delete(reentrant_a);
    coio_var_delete(reentrant_b);
}

/* ---- outside any task --------------------------------------------------------------- */

struct outside {
    coio_var *a;
    int main_saw, child_saw, main_saw_after;
};

static int outside_child(void *arg)
{
    struct outside *s = arg;
    s->child_saw = val_n(s->a);
    return 0;
}

static int outside_main(void *arg)
{
    struct outside *s = arg;
    s->main_saw = val_n(s->a);
    coio_assert_rc(coio_var_set(s->a, val_new(2)), 0);
    coio_assert_rc(coio_await(coio_spawn(outside_child, s)), 0);
    s->main_saw_after = val_n(s->a);
    return 0;
}

static void *thread_sets_and_exits(void *arg)
{
    coio_var *a = arg;
    if (coio_var_get(a) != NULL) /* the other thread's value is not this one's */
        return (void *)1;
    if (coio_var_set(a, val_new(9)) != 0 || val_n(a) != 9)
        return (void *)2;
    return NULL; /* its value is destroyed as the thread ends */
}

static void values_set_outside_a_task_belong_to_the_thread(void **state)
{
    (void)state;
    counts_reset();
    struct outside s = {.a = coio_var_new(val_free)};
    coio_assert_rc(coio_var_set(s.a, val_new(1)), 0);
    assert_int_equal(val_n(s.a), 1);
    coio_assert_rc(coio_run(outside_main, &s), 0);
    assert_int_equal(s.main_saw, 1); /* main starts with a copy of the thread's */
    assert_int_equal(s.child_saw, 2);
    assert_int_equal(s.main_saw_after, 2);
    assert_int_equal(val_n(s.a), 1);     /* main's set stayed in main */
    assert_int_equal(destroyed_vals, 1); /* main's 2, at its end */

    pthread_t th;
    void *ret = (void *)-1;
    assert_int_equal(pthread_create(&th, NULL, thread_sets_and_exits, s.a), 0);
    assert_int_equal(pthread_join(th, &ret), 0);
    assert_null(ret);
    assert_int_equal(destroyed_vals, 2); /* the thread's 9, at its exit */
    assert_int_equal(val_n(s.a), 1);

    coio_assert_rc(coio_var_set(s.a, NULL), 0);
    assert_int_equal(destroyed_vals, 3);
    assert_int_equal(live_vals, 0);
    assert_int_equal(bad_destroys, 0);
    coio_var_delete(s.a);
}

/* ---- deleting a variable ------------------------------------------------------------ */

struct del {
    coio_var *a;
    int fresh_saw_null;
};

static int del_child(void *arg)
{
    struct del *s = arg;
    coio_assert_rc(coio_yield(), 0); /* the parent deletes the variable meanwhile */
    coio_var *fresh = coio_var_new(val_free);
    assert_non_null(fresh);
    s->fresh_saw_null = coio_var_get(fresh) == NULL;
    coio_var_delete(fresh);
    return 0;
}

static int del_main(void *arg)
{
    struct del *s = arg;
    coio_assert_rc(coio_var_set(s->a, val_new(1)), 0);
    coio_task *t = coio_spawn(del_child, s);
    coio_assert_rc(coio_yield(), 0);
    coio_assert_rc(coio_var_delete(s->a), 0); /* values stay with their holders */
    assert_int_equal(destroyed_vals, 0);
    coio_assert_rc(coio_await(t), 0);
    return 0;
}

static void deleted_variable_values_are_destroyed_with_their_holders(void **state)
{
    (void)state;
    counts_reset();
    struct del s = {.a = coio_var_new(val_free)};
    coio_assert_rc(coio_run(del_main, &s), 0);
    assert_true(s.fresh_saw_null);
    assert_int_equal(destroyed_vals, 1);
    assert_int_equal(live_vals, 0);
}

/* ---- many tasks --------------------------------------------------------------------- */

#define MANY 1000000
#define BATCH 10000

struct many {
    coio_var *a, *own;
    long wrong;
    coio_task *t[BATCH];
};

static int many_child(void *arg)
{
    struct many *s = arg;
    if (val_n(s->a) != 42)
        s->wrong++;
    if (coio_var_set(s->own, val_new(1)) != 0) /* every child has one of its own */
        s->wrong++;
    return 0;
}

static int many_main(void *arg)
{
    struct many *s = arg;
    coio_assert_rc(coio_var_set(s->a, val_new(42)), 0);
    for (long done = 0; done < MANY; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            assert_non_null(s->t[i] = coio_spawn(many_child, s));
        coio_assert_rc(coio_gather_n(s->t, BATCH, NULL), 0);
        /* Memory stays bounded: nothing of a finished batch is alive. */
        assert_int_equal(live_vals, 1);
    }
    return 0;
}

static void million_tasks_inherit_and_release_their_values(void **state)
{
    (void)state;
    counts_reset();
    struct many *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->a = coio_var_new(val_free);
    s->own = coio_var_new(val_free);
    coio_assert_rc(coio_run(many_main, s), 0);
    assert_int_equal(s->wrong, 0);
    assert_int_equal(destroyed_vals, MANY + 1);
    assert_int_equal(live_vals, 0);
    assert_int_equal(bad_destroys, 0);
    coio_var_delete(s->a);
    coio_var_delete(s->own);
    free(s);
}

/* ---- bad arguments ------------------------------------------------------------------ */

static void null_variable_is_einval(void **state)
{
    (void)state;
    errno = 0;
    assert_null(coio_var_get(NULL));
    assert_int_equal(errno, EINVAL);
    coio_assert_rc(coio_var_set(NULL, &errno), -EINVAL);
    coio_assert_rc(coio_var_delete(NULL), -EINVAL);
    /* A variable without destructor takes any pointer and leaves it alone. */
    coio_var *v = coio_var_new(NULL);
    assert_non_null(v);
    int x;
    errno = 0;
    assert_null(coio_var_get(v)); /* unset: NULL, errno untouched */
    assert_int_equal(errno, 0);
    coio_assert_rc(coio_var_set(v, &x), 0);
    assert_ptr_equal(coio_var_get(v), &x);
    coio_assert_rc(coio_var_set(v, NULL), 0);
    coio_assert_rc(coio_var_delete(v), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(child_sees_parent_values_at_spawn_time),
    cmocka_unit_test(siblings_and_parent_do_not_see_each_others_sets),
    cmocka_unit_test(destructor_runs_once_when_the_last_holder_lets_go),
    cmocka_unit_test(replacing_an_unshared_value_destroys_it_at_once),
    cmocka_unit_test(destructors_run_when_tasks_are_cancelled),
    cmocka_unit_test(values_still_set_when_the_loop_ends_are_destroyed_once),
    cmocka_unit_test(destructor_may_set_values_of_an_ending_task),
    cmocka_unit_test(values_set_outside_a_task_belong_to_the_thread),
    cmocka_unit_test(deleted_variable_values_are_destroyed_with_their_holders),
    cmocka_unit_test(million_tasks_inherit_and_release_their_values),
    cmocka_unit_test(null_variable_is_einval),
};

COIO_TEST_MAIN(tests)
