/* coio_select (Go's select): every kind of case wins, only the winner is taken (queue
 * hand-offs skip a select that already fired), timeout and cancellation take nothing, task
 * handles follow the handle rule, fd cases on a socketpair on both backends. */
/* coio-test: io tsan */
#define _GNU_SOURCE
#include "sync_helpers.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

static int live_tasks(void)
{
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull)
        return -errno;
    int n = coio_dump_tasks(devnull);
    fclose(devnull);
    return n;
}

static int pair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

static int ret_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

/* Everything a case may wait on, none of it ready: empty queue, full queue, unset event,
 * pending future, running task, fd with nothing to read. */
struct world {
    coio_queue *empty, *full;
    coio_event *ev;
    coio_future *fut;
    coio_event *stop; /* ends `task` */
    coio_task *task;
    int sv[2];
    int item0, item1, item2;
};

static int wait_stop(void *arg)
{
    struct world *w = arg;
    coio_event_wait(w->stop);
    return 42;
}

static void world_open(struct world *w)
{
    w->empty = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    w->full = coio_queue_create(COIO_QUEUE_FIFO, 1, NULL);
    coio_queue_put_nowait(w->full, &w->item0);
    w->ev = coio_event_create();
    w->stop = coio_event_create();
    w->fut = coio_future_create();
    w->task = coio_spawn(wait_stop, w);
    check_rc(pair(w->sv), 0);
}

/* The six kinds, in this order. */
enum { K_GET, K_PUT, K_EVENT, K_FUTURE, K_TASK, K_FD, NKINDS };

static void world_cases(struct world *w, coio_select_case cs[NKINDS], void **got, void **fval)
{
    cs[K_GET] = coio_case_get(w->empty, got);
    cs[K_PUT] = coio_case_put(w->full, &w->item1);
    cs[K_EVENT] = coio_case_event(w->ev);
    cs[K_FUTURE] = coio_case_future(w->fut, fval);
    cs[K_TASK] = coio_case_task(w->task);
    cs[K_FD] = coio_case_fd(w->sv[0], COIO_READABLE);
}

/* Checks that nothing was taken: the queues hold what they held, the task handle is
 * still ours (awaited here), the future is pending. Closes everything. */
static void world_close(struct world *w, bool untouched)
{
    if (untouched) {
        check_int(coio_queue_size(w->empty), 0);
        check_int(coio_queue_size(w->full), 1);
        check_int(coio_future_done(w->fut), 0);
        check_int(coio_event_is_set(w->ev), 0);
    }
    if (w->task) {
        coio_event_set(w->stop);
        check_rc(coio_await(w->task), 42);
    }
    check_rc(coio_queue_destroy(w->empty), 0);
    check_rc(coio_queue_destroy(w->full), 0);
    check_rc(coio_event_destroy(w->ev), 0);
    check_rc(coio_event_destroy(w->stop), 0);
    check_rc(coio_future_destroy(w->fut), 0);
    coio_close(w->sv[0]);
    coio_close(w->sv[1]);
}

/* Makes kind k ready. */
static void make_ready(struct world *w, int k)
{
    switch (k) {
    case K_GET:
        check_rc(coio_queue_put_nowait(w->empty, &w->item2), 0);
        break;
    case K_PUT: {
        void *it = NULL;
        check_rc(coio_queue_get_nowait(w->full, &it), 0);
        check_true(it == &w->item0);
        break;
    }
    case K_EVENT:
        check_rc(coio_event_set(w->ev), 0);
        break;
    case K_FUTURE:
        check_rc(coio_future_set_result(w->fut, &w->item2), 0);
        break;
    case K_TASK:
        check_rc(coio_event_set(w->stop), 0);
        break;
    case K_FD:
        check_rc(write(w->sv[1], "x", 1), 1);
        break;
    }
}

/* What the winning case k must have done. */
static void check_won(struct world *w, coio_select_case *cs, int k, void *got, void *fval)
{
    switch (k) {
    case K_GET:
        check_rc(cs[k].result, 0);
        check_true(got == &w->item2);
        check_int(coio_queue_size(w->empty), 0);
        break;
    case K_PUT: {
        check_rc(cs[k].result, 0);
        void *it = NULL;
        check_rc(coio_queue_get_nowait(w->full, &it), 0);
        check_true(it == &w->item1);
        check_rc(coio_queue_put_nowait(w->full, &w->item0), 0); /* full again */
        break;
    }
    case K_EVENT:
        check_rc(cs[k].result, 0);
        check_int(coio_event_is_set(w->ev), 1); /* an event is not consumed */
        break;
    case K_FUTURE:
        check_rc(cs[k].result, 0);
        check_true(fval == &w->item2);
        break;
    case K_TASK:
        check_rc(cs[k].result, 42);
        check_int(cs[k].kind, COIO_SELECT_NONE); /* released and switched off */
        check_true(cs[k].task == NULL);
        w->task = NULL;
        break;
    case K_FD:
        check_true(cs[k].result > 0 && (cs[k].result & COIO_READABLE));
        break;
    }
}

struct kind_arg {
    struct world *w;
    int k;
};

static int make_ready_later(void *arg)
{
    struct kind_arg *ka = arg;
    make_ready(ka->w, ka->k);
    return 0;
}

/* For each kind: once ready before the call, once becoming ready while the select waits;
 * the other five are never ready, and nothing of theirs is taken. */
static int each_kind_main(void *arg)
{
    (void)arg;
    for (int k = 0; k < NKINDS; k++) {
        for (int later = 0; later < 2; later++) {
            struct world w = {0};
            world_open(&w);
            coio_select_case cs[NKINDS];
            void *got = NULL, *fval = NULL;
            world_cases(&w, cs, &got, &fval);
            struct kind_arg ka = {&w, k};
            coio_task *maker = NULL;
            if (later)
                maker = coio_spawn(make_ready_later, &ka); /* runs once we wait */
            else
                make_ready(&w, k);
            if (k == K_TASK && !later)
                check_rc(coio_yield(), 0); /* let it end */
            int r = coio_select(cs, NKINDS, -1);
            if (r != k)
                print_error("kind %d (later %d): select returned %d\n", k, later, r);
            check_int(r, k);
            if (r == k)
                check_won(&w, cs, k, got, fval);
            if (maker)
                check_rc(coio_await(maker), 0);
            /* Nothing of the losers was taken. */
            if (k != K_GET)
                check_int(coio_queue_size(w.empty), 0);
            if (k != K_PUT)
                check_int(coio_queue_size(w.full), 1);
            if (k != K_FUTURE)
                check_int(coio_future_done(w.fut), 0);
            if (k == K_FD) {
                char c;
                check_rc(read(w.sv[0], &c, 1), 1); /* the byte is still there */
            }
            world_close(&w, false);
        }
    }
    check_int(live_tasks(), 1); /* fd helpers all ended */
    return 0;
}

static void select_each_kind_wins_ready_or_while_waiting(void **state)
{
    (void)state;
    require_backend();
    run_ok(each_kind_main, NULL);
}

/* Two queues both holding items: one item is taken, from the first queue. */
static int two_ready_main(void *arg)
{
    (void)arg;
    int a = 1, b = 2;
    void *got = NULL;
    coio_queue *q1 = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    coio_queue *q2 = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    coio_queue_put_nowait(q1, &a);
    coio_queue_put_nowait(q2, &b);
    coio_select_case cs[] = {coio_case_get(q1, &got), coio_case_get(q2, &got)};
    check_int(coio_select(cs, 2, -1), 0); /* array order */
    check_true(got == &a);
    check_int(coio_queue_size(q1), 0);
    check_int(coio_queue_size(q2), 1);
    coio_queue_put_nowait(q1, &a);
    coio_select_case rev[] = {coio_case_get(q2, &got), coio_case_get(q1, &got)};
    check_int(coio_select(rev, 2, -1), 0);
    check_true(got == &b);
    check_int(coio_queue_size(q1), 1);
    check_int(coio_queue_size(q2), 0);
    coio_queue_destroy(q1);
    coio_queue_destroy(q2);
    return 0;
}

static void select_two_ready_queues_take_one_item_first_in_array_order(void **state)
{
    (void)state;
    require_backend();
    run_ok(two_ready_main, NULL);
}

/* The select waits on two empty queues; another task puts into both in one step (no
 * suspension between). The first put hands its item to the select; the second must skip
 * the select's record (it has fired) and keep its item, or give it to the next getter. */
struct both {
    coio_queue *q1, *q2;
    int a, b;
    void *plain_got;
    int plain_rc;
};

static int put_both(void *arg)
{
    struct both *s = arg;
    check_rc(coio_queue_put_nowait(s->q1, &s->a), 0);
    check_rc(coio_queue_put_nowait(s->q2, &s->b), 0);
    return 0;
}

static int plain_getter(void *arg)
{
    struct both *s = arg;
    s->plain_rc = coio_queue_get(s->q2, &s->plain_got);
    return 0;
}

static int both_waiting_main(void *arg)
{
    int with_plain = *(int *)arg;
    struct both s = {.q1 = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL),
                     .q2 = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL),
                     .plain_rc = 1};
    void *g1 = NULL, *g2 = NULL;
    coio_task *plain = NULL;
    if (with_plain) {
        plain = coio_spawn(plain_getter, &s);
        check_rc(coio_yield(), 0); /* it waits on q2 before the select */
    }
    coio_task *putter = coio_spawn(put_both, &s);
    coio_select_case cs[] = {coio_case_get(s.q2, &g2), coio_case_get(s.q1, &g1)};
    int r = coio_select(cs, 2, -1);
    check_rc(coio_await(putter), 0);
    if (with_plain) {
        check_rc(coio_await(plain), 0);
        /* The plain getter was first on q2: it got b; the select got a from q1. */
        check_int(r, 1);
        check_true(g1 == &s.a && g2 == NULL);
        check_rc(s.plain_rc, 0);
        check_true(s.plain_got == &s.b);
        check_int(coio_queue_size(s.q2), 0);
    } else {
        /* The select fired on q1 (put first); q2 kept b. */
        check_int(r, 1);
        check_true(g1 == &s.a && g2 == NULL);
        check_int(coio_queue_size(s.q1), 0);
        check_int(coio_queue_size(s.q2), 1);
    }
    /* No record of the select is left behind: a later getter on q1 is served. */
    check_rc(coio_queue_destroy(s.q1), 0);
    check_rc(coio_queue_destroy(s.q2), 0);
    return 0;
}

static void select_waiting_on_two_queues_takes_one_item_when_both_get_one(void **state)
{
    (void)state;
    require_backend();
    int with_plain = 0;
    run_ok(both_waiting_main, &with_plain);
    with_plain = 1;
    run_ok(both_waiting_main, &with_plain);
}

/* A put case into a full queue: a getter arriving takes the old item and the select's
 * item moves into the freed slot. With put cases on two full queues emptied in one step,
 * only one item is put. */
struct puts {
    coio_queue *q1, *q2;
    int old1, old2, mine1, mine2;
    void *got1, *got2;
};

static int get_both(void *arg)
{
    struct puts *s = arg;
    check_rc(coio_queue_get_nowait(s->q1, &s->got1), 0);
    check_rc(coio_queue_get_nowait(s->q2, &s->got2), 0);
    return 0;
}

static int get_one(void *arg)
{
    struct puts *s = arg;
    check_rc(coio_queue_get(s->q1, &s->got1), 0);
    return 0;
}

static int put_full_main(void *arg)
{
    (void)arg;
    struct puts s = {0};
    s.q1 = coio_queue_create(COIO_QUEUE_FIFO, 1, NULL);
    s.q2 = coio_queue_create(COIO_QUEUE_FIFO, 1, NULL);
    coio_queue_put_nowait(s.q1, &s.old1);
    coio_queue_put_nowait(s.q2, &s.old2);
    coio_queue *empty = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    void *nothing = NULL;

    /* One put case and a get case that never fires. */
    coio_task *getter = coio_spawn(get_one, &s);
    coio_select_case one[] = {coio_case_get(empty, &nothing), coio_case_put(s.q1, &s.mine1)};
    check_int(coio_select(one, 2, -1), 1);
    check_rc(one[1].result, 0);
    check_rc(coio_await(getter), 0);
    check_true(s.got1 == &s.old1);
    void *it = NULL;
    check_rc(coio_queue_get_nowait(s.q1, &it), 0);
    check_true(it == &s.mine1);
    check_true(nothing == NULL);
    coio_queue_put_nowait(s.q1, &s.old1);

    /* Two put cases on full queues; both get a free slot in one step. */
    getter = coio_spawn(get_both, &s);
    coio_select_case two[] = {coio_case_put(s.q2, &s.mine2), coio_case_put(s.q1, &s.mine1)};
    check_int(coio_select(two, 2, -1), 1); /* q1 was emptied first */
    check_rc(coio_await(getter), 0);
    check_int(coio_queue_size(s.q1), 1);
    check_int(coio_queue_size(s.q2), 0); /* mine2 was not put */
    check_rc(coio_queue_get_nowait(s.q1, &it), 0);
    check_true(it == &s.mine1);

    coio_queue_destroy(s.q1);
    coio_queue_destroy(s.q2);
    coio_queue_destroy(empty);
    return 0;
}

static void select_put_case_into_full_queue_with_getter_arriving(void **state)
{
    (void)state;
    require_backend();
    run_ok(put_full_main, NULL);
}

/* Timeout: nothing ready, for 0 s (just look) and 30 ms: -ETIMEDOUT, nothing taken, and
 * the objects work as before afterwards (no waiter record left behind). */
static int timeout_main(void *arg)
{
    (void)arg;
    struct world w = {0};
    world_open(&w);
    coio_select_case cs[NKINDS];
    void *got = NULL, *fval = NULL;
    world_cases(&w, cs, &got, &fval);
    check_rc(coio_select(cs, NKINDS, 0), -ETIMEDOUT);
    double t0 = coio_now();
    check_rc(coio_select(cs, NKINDS, 0.03), -ETIMEDOUT);
    check_true(coio_now() - t0 >= 0.029);
    check_true(got == NULL && fval == NULL);
    check_int(live_tasks(), 2); /* main and w.task: the fd helper ended */
    /* A deadline scope ends it the same way. */
    COIO_WITH_TIMEOUT(0.01)
    check_rc(coio_select(cs, NKINDS, -1), -ETIMEDOUT);
    /* No case, a timeout: a sleep. */
    check_rc(coio_select(NULL, 0, 0.001), -ETIMEDOUT);
    check_int(cs[K_TASK].kind, COIO_SELECT_TASK);
    world_close(&w, true); /* awaits the task: its handle is still ours */
    return 0;
}

static void select_timeout_takes_nothing(void **state)
{
    (void)state;
    require_backend();
    run_ok(timeout_main, NULL);
}

/* Cancellation: a task waiting in a select is cancelled; then every object is made ready
 * at once: nothing goes to the cancelled select. A task already cancelled takes nothing
 * even from ready cases. */
struct cancel_state {
    struct world w;
    int rc, rc_ready;
    void *got, *fval;
};

static int selecting(void *arg)
{
    struct cancel_state *st = arg;
    coio_select_case cs[NKINDS];
    world_cases(&st->w, cs, &st->got, &st->fval);
    st->rc = coio_select(cs, NKINDS, -1);
    coio_select_case ready[] = {coio_case_get(st->w.full, &st->got)};
    st->rc_ready = coio_select(ready, 1, -1); /* still cancelled */
    return 0;
}

static int cancel_main(void *arg)
{
    (void)arg;
    struct cancel_state st = {.rc = 1, .rc_ready = 1};
    world_open(&st.w);
    coio_task *t = coio_spawn(selecting, &st);
    check_rc(coio_yield(), 0); /* it waits now */
    check_rc(coio_cancel(t), 0);
    /* Before it runs again, every case becomes ready: none may be taken for it. */
    check_rc(coio_queue_put_nowait(st.w.empty, &st.w.item2), 0);
    check_rc(coio_event_set(st.w.ev), 0);
    check_rc(coio_future_set_result(st.w.fut, &st.w.item2), 0);
    check_rc(coio_await(t), 0);
    check_rc(st.rc, -ECANCELED);
    check_rc(st.rc_ready, -ECANCELED);
    check_true(st.got == NULL && st.fval == NULL);
    check_int(coio_queue_size(st.w.empty), 1);
    check_int(coio_queue_size(st.w.full), 1);
    void *it = NULL;
    check_rc(coio_queue_get_nowait(st.w.empty, &it), 0);
    coio_event_clear(st.w.ev);
    /* The task case's handle is still ours: world_close awaits it. */
    check_int(live_tasks(), 2);
    coio_future_destroy(st.w.fut);
    st.w.fut = coio_future_create();
    world_close(&st.w, true);
    return 0;
}

static void select_cancellation_takes_nothing(void **state)
{
    (void)state;
    require_backend();
    run_ok(cancel_main, NULL);
}

/* fd cases on a socketpair: writable at once; readable once the peer writes; a losing fd
 * case leaves the data in the socket and its helper ends. */
static int writer(void *arg)
{
    int fd = *(int *)arg;
    check_rc(coio_write(fd, "ping", 4), 4);
    return 0;
}

static void set_event(void *ev)
{
    coio_event_set(ev);
}

static int fd_main(void *arg)
{
    (void)arg;
    int sv[2];
    check_rc(pair(sv), 0);
    coio_event *never = coio_event_create();
    coio_select_case w[] = {coio_case_event(never), coio_case_fd(sv[0], COIO_WRITABLE)};
    check_int(coio_select(w, 2, 1.0), 1);
    check_true(w[1].result & COIO_WRITABLE);

    coio_task *wr = coio_spawn(writer, &sv[1]);
    coio_select_case r[] = {coio_case_event(never), coio_case_fd(sv[0], COIO_READABLE)};
    check_int(coio_select(r, 2, 5.0), 1);
    check_true(r[1].result & COIO_READABLE);
    check_rc(coio_await(wr), 0);
    char buf[8];
    check_rc(coio_read(sv[0], buf, sizeof buf), 4);

    /* Both fds of the pair: only the side with data is readable. */
    wr = coio_spawn(writer, &sv[0]);
    coio_select_case two[] = {coio_case_fd(sv[0], COIO_READABLE),
                              coio_case_fd(sv[1], COIO_READABLE)};
    check_int(coio_select(two, 2, 5.0), 1);
    check_rc(coio_await(wr), 0);
    check_rc(coio_read(sv[1], buf, sizeof buf), 4);

    /* The fd loses to an event set while waiting; a later write is still readable. */
    coio_event *ev = coio_event_create();
    coio_select_case lose[] = {coio_case_fd(sv[0], COIO_READABLE), coio_case_event(ev)};
    coio_call_soon(set_event, ev, NULL);
    check_int(coio_select(lose, 2, 5.0), 1);
    check_int(live_tasks(), 1);
    check_rc(write(sv[1], "x", 1), 1);
    check_rc(coio_wait_fd(sv[0], COIO_READABLE) & COIO_READABLE, COIO_READABLE);
    check_rc(coio_read(sv[0], buf, sizeof buf), 1);

    /* A closed peer: readable (EOF). A bad fd: -EBADF as the case's result. */
    coio_close(sv[1]);
    coio_select_case eof[] = {coio_case_fd(sv[0], COIO_READABLE)};
    check_int(coio_select(eof, 1, 5.0), 0);
    check_rc(coio_read(sv[0], buf, sizeof buf), 0);
    coio_close(sv[0]);
    coio_select_case bad[] = {coio_case_fd(sv[0], COIO_READABLE)};
    check_int(coio_select(bad, 1, 5.0), 0);
    check_rc(bad[0].result, -EBADF);
    coio_event_destroy(ev);
    coio_event_destroy(never);
    return 0;
}

static void select_fd_cases_on_a_socketpair(void **state)
{
    (void)state;
    require_backend();
    run_ok(fd_main, NULL);
}

/* Task cases in a loop: each select releases the task that finished and switches its
 * case off; the others stay ours. Gates set between the selects fix the order. */
struct gated {
    coio_event *gate;
    int ret;
};

static int gated_fn(void *arg)
{
    struct gated *g = arg;
    if (g->gate)
        coio_event_wait(g->gate);
    return g->ret;
}

static int tasks_main(void *arg)
{
    (void)arg;
    coio_event *never = coio_event_create();
    struct gated ga = {coio_event_create(), 30}, gb = {coio_event_create(), 1},
                 gc = {NULL, -EIO};
    coio_select_case cs[] = {coio_case_task(coio_spawn(gated_fn, &ga)),
                             coio_case_task(coio_spawn(gated_fn, &gb)),
                             coio_case_task(coio_spawn(gated_fn, &gc)),
                             coio_case_event(never)};
    /* The same handle twice, or the caller itself: refused, nothing claimed. */
    coio_select_case dup[] = {coio_case_task(cs[0].task), coio_case_task(cs[0].task)};
    check_rc(coio_select(dup, 2, 0), -EALREADY);
    coio_select_case self[] = {coio_case_task(cs[1].task), coio_case_task(coio_current())};
    check_rc(coio_select(self, 2, 0), -EDEADLK);
    static const int want[3] = {2, 1, 0}, want_rc[3] = {-EIO, 1, 30};
    for (int n = 0; n < 3; n++) {
        int r = coio_select(cs, 4, 5.0);
        check_int(r, want[n]);
        if (r != want[n])
            break;
        check_rc(cs[r].result, want_rc[n]);
        check_int(cs[r].kind, COIO_SELECT_NONE);
        check_true(cs[r].task == NULL);
        coio_event_set(n == 0 ? gb.gate : ga.gate);
    }
    check_rc(coio_select(cs, 4, 0), -ETIMEDOUT); /* only the event is left */
    check_int(live_tasks(), 1);
    coio_task *t = coio_spawn(ret_arg, (void *)(intptr_t)5);
    coio_select_case one[] = {coio_case_task(t)};
    check_int(coio_select(one, 1, -1), 0);
    check_rc(one[0].result, 5);
    coio_event_destroy(ga.gate);
    coio_event_destroy(gb.gate);
    coio_event_destroy(never);
    return 0;
}

static void select_task_cases_release_only_the_winner(void **state)
{
    (void)state;
    require_backend();
    run_ok(tasks_main, NULL);
}

/* A future completed by another thread wakes the select; a queue shut down fires its get
 * case with -ESHUTDOWN. */
static void *complete_later(void *arg)
{
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    coio_future_set_error(arg, -EPIPE);
    return NULL;
}

static int shutdown_later(void *arg)
{
    coio_queue_shutdown(arg, 0);
    return 0;
}

static int thread_main(void *arg)
{
    (void)arg;
    coio_future *f = coio_future_create();
    coio_queue *q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    pthread_t th;
    check_rc(pthread_create(&th, NULL, complete_later, f), 0);
    coio_select_case cs[] = {coio_case_get(q, NULL), coio_case_future(f, NULL)};
    check_int(coio_select(cs, 2, 10.0), 1);
    check_rc(cs[1].result, -EPIPE);
    pthread_join(th, NULL);
    coio_task *t = coio_spawn(shutdown_later, q);
    check_int(coio_select(cs, 1, 10.0), 0);
    check_rc(cs[0].result, -ESHUTDOWN);
    check_rc(coio_await(t), 0);
    coio_select_case put[] = {coio_case_put(q, NULL)};
    check_int(coio_select(put, 1, 0), 0); /* ready: shut down */
    check_rc(put[0].result, -ESHUTDOWN);
    coio_future_destroy(f);
    coio_queue_destroy(q);
    return 0;
}

static void select_future_from_another_thread_and_queue_shutdown(void **state)
{
    (void)state;
    require_backend();
    run_ok(thread_main, NULL);
}

/* More cases than fit on the stack: 20 queues, an item arrives in the 16th. */
static int put_16th(void *arg)
{
    coio_queue **q = arg;
    static int item;
    check_rc(coio_queue_put_nowait(q[15], &item), 0);
    check_rc(coio_queue_put_nowait(q[3], &item), 0);
    return 0;
}

static int many_main(void *arg)
{
    (void)arg;
    coio_queue *q[20];
    coio_select_case cs[20];
    void *got = NULL;
    for (int i = 0; i < 20; i++) {
        q[i] = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
        cs[i] = coio_case_get(q[i], &got);
    }
    coio_task *t = coio_spawn(put_16th, q);
    check_int(coio_select(cs, 20, 5.0), 15);
    check_true(got != NULL);
    check_rc(coio_await(t), 0);
    check_int(coio_queue_size(q[3]), 1);
    check_int(coio_select(cs, 20, 5.0), 3);
    for (int i = 0; i < 20; i++)
        check_rc(coio_queue_destroy(q[i]), 0);
    return 0;
}

static void select_many_cases(void **state)
{
    (void)state;
    require_backend();
    run_ok(many_main, NULL);
}

static int misuse_main(void *arg)
{
    (void)arg;
    coio_queue *q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    coio_select_case ok = coio_case_get(q, NULL);
    check_rc(coio_select(NULL, 1, 0), -EINVAL);
    check_rc(coio_select(&ok, 1, NAN), -EINVAL);
    coio_select_case bad_kind = {.kind = 99};
    check_rc(coio_select(&bad_kind, 1, 0), -EINVAL);
    coio_select_case null_obj = coio_case_get(NULL, NULL);
    check_rc(coio_select(&null_obj, 1, 0), -EINVAL);
    coio_select_case bad_fd = coio_case_fd(-1, COIO_READABLE);
    check_rc(coio_select(&bad_fd, 1, 0), -EBADF);
    coio_select_case bad_events = coio_case_fd(0, 0x100);
    check_rc(coio_select(&bad_events, 1, 0), -EINVAL);
    coio_select_case off[2] = {{.kind = COIO_SELECT_NONE}, ok};
    check_rc(coio_select(off, 2, 0), -ETIMEDOUT);
    coio_queue_destroy(q);
    return 0;
}

static void select_misuse_returns_error_codes(void **state)
{
    (void)state;
    require_backend();
    coio_select_case none = {.kind = COIO_SELECT_NONE};
    coio_assert_rc(coio_select(&none, 1, 0), -EPERM); /* outside a task */
    run_ok(misuse_main, NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(select_each_kind_wins_ready_or_while_waiting),
    cmocka_unit_test(select_two_ready_queues_take_one_item_first_in_array_order),
    cmocka_unit_test(select_waiting_on_two_queues_takes_one_item_when_both_get_one),
    cmocka_unit_test(select_put_case_into_full_queue_with_getter_arriving),
    cmocka_unit_test(select_timeout_takes_nothing),
    cmocka_unit_test(select_cancellation_takes_nothing),
    cmocka_unit_test(select_fd_cases_on_a_socketpair),
    cmocka_unit_test(select_task_cases_release_only_the_winner),
    cmocka_unit_test(select_future_from_another_thread_and_queue_shutdown),
    cmocka_unit_test(select_many_cases),
    cmocka_unit_test(select_misuse_returns_error_codes),
};

COIO_TEST_MAIN(tests)
