/* coio-test: io tsan */
/* coio_to_thread, the signal mask of coio's threads, and loops on several threads. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <dirent.h>
#include <grp.h>
#include <poll.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int return_arg_job(void *arg)
{
    return (int)(intptr_t)arg;
}

struct value_state {
    int pos, neg;
};

static int value_main(void *arg)
{
    struct value_state *s = arg;
    s->pos = coio_to_thread(return_arg_job, (void *)(intptr_t)123);
    s->neg = coio_to_thread(return_arg_job, (void *)(intptr_t)-EIO);
    return 0;
}

static void to_thread_returns_fn_value(void **state)
{
    (void)state;
    struct value_state s = {0};
    coio_assert_rc(coio_run(value_main, &s), 0);
    coio_assert_rc(s.pos, 123);
    coio_assert_rc(s.neg, -EIO);
}

struct which_thread {
    pthread_t loop, job;
};

static int record_thread_job(void *arg)
{
    struct which_thread *w = arg;
    w->job = pthread_self(); /* published to the loop thread by to_thread's return */
    return 0;
}

static int which_thread_main(void *arg)
{
    return coio_to_thread(record_thread_job, arg);
}

static void to_thread_runs_fn_on_another_thread(void **state)
{
    (void)state;
    struct which_thread w;
    w.loop = pthread_self();
    w.job = pthread_self();
    coio_assert_rc(coio_run(which_thread_main, &w), 0);
    assert_false(pthread_equal(w.loop, w.job));
}

#define N_CALLERS 20

/* The pool's documented bound: min(32, CPUs + 4) threads. */
static int pool_bound(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    int max = (int)(n > 0 ? n : 1) + 4;
    return max < 32 ? max : 32;
}

/* A latch that opens once `need` jobs have arrived, each waiting for it with a bounded
 * wait: the first `need` jobs can only all get through if they run at the same time. */
struct many_callers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int need, arrived, in_flight, max_in_flight;
    int rc[N_CALLERS];
    int gather_rc;
};

struct caller_arg {
    struct many_callers *s;
    int i;
};

static int latch_job(void *arg)
{
    struct caller_arg *a = arg;
    struct many_callers *s = a->s;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    int rc = a->i * 2;
    pthread_mutex_lock(&s->mu);
    s->arrived++;
    if (++s->in_flight > s->max_in_flight)
        s->max_in_flight = s->in_flight;
    pthread_cond_broadcast(&s->cv);
    while (s->arrived < s->need)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT) {
            rc = -ETIMEDOUT; /* fewer than `need` jobs ever ran at once */
            break;
        }
    s->in_flight--;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int caller_task(void *arg)
{
    struct caller_arg *a = arg;
    a->s->rc[a->i] = coio_to_thread(latch_job, a);
    return 0;
}

static int many_callers_main(void *arg)
{
    struct many_callers *s = arg;
    struct caller_arg args[N_CALLERS];
    coio_task *t[N_CALLERS];
    for (int i = 0; i < N_CALLERS; i++) {
        args[i] = (struct caller_arg){s, i};
        t[i] = coio_spawn(caller_task, &args[i]);
    }
    s->gather_rc = coio_gather_n(t, N_CALLERS, NULL);
    return 0;
}

static void twenty_concurrent_to_thread_calls_complete(void **state)
{
    (void)state;
    static struct many_callers s = {.mu = PTHREAD_MUTEX_INITIALIZER,
                                    .cv = PTHREAD_COND_INITIALIZER};
    s.need = pool_bound() < N_CALLERS ? pool_bound() : N_CALLERS;
    coio_assert_rc(coio_run(many_callers_main, &s), 0);
    coio_assert_rc(s.gather_rc, 0);
    for (int i = 0; i < N_CALLERS; i++)
        coio_assert_rc(s.rc[i], i * 2);
    assert_int_equal(s.in_flight, 0);
    assert_int_equal(s.arrived, N_CALLERS);
    assert_true(s.max_in_flight >= s.need);
    assert_true(s.max_in_flight <= pool_bound()); /* and never more than the bound */
}

struct ticker_state {
    atomic_int ticks; /* written by the loop's ticker, read by the job's thread */
    int stop;
    int ticks_during_job;
    int job_rc;
};

static int ticker(void *arg)
{
    struct ticker_state *s = arg;
    while (!s->stop) {
        if (coio_sleep(0.005) < 0)
            break;
        atomic_fetch_add(&s->ticks, 1);
    }
    return 0;
}

/* Blocks its thread 100 ms, then until the loop has ticked 3 more times (or 5 s pass):
 * returns 1 if the loop kept running meanwhile. */
static int blocking_job(void *arg)
{
    struct ticker_state *s = arg;
    int start = atomic_load(&s->ticks);
    usleep(100 * 1000);
    double give_up = mono_now() + 5.0;
    while (atomic_load(&s->ticks) < start + 3 && mono_now() < give_up)
        usleep(1000);
    return atomic_load(&s->ticks) >= start + 3;
}

static int ticker_main(void *arg)
{
    struct ticker_state *s = arg;
    coio_task *t = coio_spawn(ticker, s);
    int before = atomic_load(&s->ticks);
    s->job_rc = coio_to_thread(blocking_job, s);
    s->ticks_during_job = atomic_load(&s->ticks) - before;
    s->stop = 1;
    return coio_await(t);
}

static void loop_keeps_running_while_to_thread_job_blocks(void **state)
{
    (void)state;
    static struct ticker_state s;
    coio_assert_rc(coio_run(ticker_main, &s), 0);
    coio_assert_rc(s.job_rc, 1); /* the ticker advanced while the job's thread was busy */
    assert_true(s.ticks_during_job >= 3);
}

struct deadline_job {
    atomic_int started, finished;
    int warm_rc;
    int rc;
    int started_at_return, finished_at_return;
    int started_later;
    double elapsed;
};

static int slow_job(void *arg)
{
    struct deadline_job *d = arg;
    atomic_store(&d->started, 1);
    usleep(150 * 1000);
    atomic_store(&d->finished, 1);
    return 0;
}

static int deadline_job_main(void *arg)
{
    struct deadline_job *d = arg;
    /* an idle worker is ready, so the job normally starts well before the deadline */
    d->warm_rc = coio_to_thread(return_arg_job, NULL);
    coio_scope sc;
    double t0 = coio_now();
    coio_timeout_begin(&sc, 0.05);
    d->rc = coio_to_thread(slow_job, d);
    d->elapsed = coio_now() - t0;
    d->started_at_return = atomic_load(&d->started);
    d->finished_at_return = atomic_load(&d->finished);
    coio_scope_end(&sc);
    coio_sleep(0.2);
    d->started_later = atomic_load(&d->started);
    return 0;
}

static void to_thread_timeout_waits_for_running_job_then_etimedout(void **state)
{
    (void)state;
    static struct deadline_job d;
    coio_assert_rc(coio_run(deadline_job_main, &d), 0);
    coio_assert_rc(d.warm_rc, 0);
    coio_assert_rc(d.rc, -ETIMEDOUT);
    if (d.started_at_return) {
        assert_int_equal(d.finished_at_return, 1); /* fn may use the caller's memory */
        assert_elapsed(d.elapsed, 0.14, 2.0);
    } else {
        /* a loaded machine: no worker took the job in 50 ms, so it must be dropped */
        print_message("job had not started at the deadline\n");
        assert_int_equal(d.started_later, 0);
    }
}

/* A worker stuck in a long job must not hold up the jobs queued behind it: the pool
 * wakes only the workers a turn's jobs need, and adds one when a job has waited for the
 * busy ones (half a millisecond). */
struct stuck_pool {
    int pipe[2];
    atomic_int blocked;
    int stuck_rc, quick_rc;
    double quick_s;
};

static int stuck_job(void *arg)
{
    struct stuck_pool *s = arg;
    atomic_store(&s->blocked, 1);
    struct pollfd p = {.fd = s->pipe[0], .events = POLLIN};
    return poll(&p, 1, 5000) == 1 ? 0 : -ETIMEDOUT; /* until the test writes */
}

static int stuck_task(void *arg)
{
    struct stuck_pool *s = arg;
    s->stuck_rc = coio_to_thread(stuck_job, s);
    return 0;
}

static int stuck_main(void *arg)
{
    struct stuck_pool *s = arg;
    coio_task *t = coio_spawn(stuck_task, s);
    while (!atomic_load(&s->blocked))
        coio_sleep(0.001);
    double t0 = mono_now();
    s->quick_rc = coio_to_thread(return_arg_job, (void *)(intptr_t)7);
    s->quick_s = mono_now() - t0;
    if (write(s->pipe[1], "x", 1) != 1)
        return -EIO;
    return coio_await(t);
}

static void job_behind_a_stuck_worker_runs_within_milliseconds(void **state)
{
    (void)state;
    static struct stuck_pool s;
    assert_int_equal(pipe(s.pipe), 0);
    coio_assert_rc(coio_run(stuck_main, &s), 0);
    coio_assert_rc(s.stuck_rc, 0);
    coio_assert_rc(s.quick_rc, 7);
    assert_elapsed(s.quick_s, 0.0, 0.5); /* not the stuck job's 5 s */
    close(s.pipe[0]);
    close(s.pipe[1]);
}

/* ---- signals ------------------------------------------------------------------------ */

/* Keeps the pool and the resolver threads busy until told to stop. */
struct busy {
    atomic_int stop;
    int jobs, lookups;
    int jobs_rc, lookups_rc;
};

static int short_job(void *arg)
{
    (void)arg;
    usleep(200);
    return 0;
}

static int pool_busy(void *arg)
{
    struct busy *b = arg;
    while (!atomic_load(&b->stop)) {
        int r = coio_to_thread(short_job, NULL);
        if (r < 0)
            return b->jobs_rc = r;
        b->jobs++;
    }
    return 0;
}

static int resolver_busy(void *arg)
{
    struct busy *b = arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    while (!atomic_load(&b->stop)) {
        struct addrinfo *res;
        int r = coio_getaddrinfo("localhost", "80", &hints, &res); /* a resolver thread */
        if (r < 0)
            return b->lookups_rc = r;
        freeaddrinfo(res);
        b->lookups++;
    }
    return 0;
}

/* Spawns the busy tasks and waits until both kinds of thread have done work. */
static int start_busy(struct busy *b, coio_task **t)
{
    t[0] = coio_spawn(pool_busy, b);
    t[1] = coio_spawn(resolver_busy, b);
    double give_up = coio_now() + 10.0;
    while ((b->jobs < 2 || b->lookups < 2) && coio_now() < give_up)
        if (coio_sleep(0.001) < 0)
            break;
    return b->jobs >= 2 && b->lookups >= 2 ? 0 : -ETIMEDOUT;
}

static int stop_busy(struct busy *b, coio_task **t)
{
    atomic_store(&b->stop, 1);
    int r = coio_gather_n(t, 2, NULL);
    return r < 0 ? r : b->jobs_rc < 0 ? b->jobs_rc : b->lookups_rc;
}

static int warm_main(void *arg)
{
    struct busy *b = arg;
    coio_task *t[2];
    int r = start_busy(b, t);
    int s = stop_busy(b, t);
    return r < 0 ? r : s;
}

/* Bit `sig` of a /proc/<pid>/task/<tid>/status mask line ("SigBlk:\t00000000fffbfeff"). */
static int mask_has(unsigned long long mask, int sig)
{
    return (int)((mask >> (sig - 1)) & 1);
}

/* Every thread of this process whose name starts with "coio-": its name and SigBlk. */
struct thread_masks {
    int n, workers, resolvers;
    char name[64][16];
    unsigned long long blocked[64];
};

static void read_thread_masks(struct thread_masks *m)
{
    memset(m, 0, sizeof *m);
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && m->n < 64) {
        if (e->d_name[0] == '.')
            continue;
        char path[320], name[16] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue; /* the thread just exited */
        if (!fgets(name, sizeof name, f))
            name[0] = '\0';
        fclose(f);
        name[strcspn(name, "\n")] = '\0';
        if (strncmp(name, "coio-", 5) != 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        f = fopen(path, "re");
        if (!f)
            continue;
        char line[256];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "SigBlk:", 7) == 0) {
                snprintf(m->name[m->n], sizeof m->name[0], "%s", name);
                m->blocked[m->n++] = strtoull(line + 7, NULL, 16);
                m->workers += strcmp(name, "coio-worker") == 0;
                m->resolvers += strcmp(name, "coio-dns") == 0;
            }
        fclose(f);
    }
    closedir(d);
}

/* The pool's workers and the resolver threads block every asynchronous signal, and only
 * those, although the thread that started them blocked none. */
static void coio_threads_block_every_asynchronous_signal(void **state)
{
    (void)state;
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    struct busy b = {0};
    coio_assert_rc(coio_run(warm_main, &b), 0);
    struct thread_masks m;
    read_thread_masks(&m);
    assert_true(m.workers >= 1);
    assert_true(m.resolvers >= 1);
    static const int async_sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE,
                                     SIGALRM, SIGTERM, SIGCHLD, SIGCONT, SIGTSTP, SIGTTIN,
                                     SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF,
                                     SIGWINCH, SIGIO, SIGPWR, SIGABRT};
    static const int fault_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (int i = 0; i < m.n; i++) {
        for (size_t k = 0; k < sizeof async_sigs / sizeof async_sigs[0]; k++)
            if (!mask_has(m.blocked[i], async_sigs[k])) {
                print_error("%s does not block signal %d (SigBlk %llx)\n", m.name[i],
                            async_sigs[k], m.blocked[i]);
                fail();
            }
        for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
            assert_true(mask_has(m.blocked[i], sig));
        for (size_t k = 0; k < sizeof fault_sigs / sizeof fault_sigs[0]; k++)
            if (mask_has(m.blocked[i], fault_sigs[k])) {
                print_error("%s blocks fault signal %d (SigBlk %llx)\n", m.name[i],
                            fault_sigs[k], m.blocked[i]);
                fail();
            }
    }
}

#define N_SIGTERM 100

struct sigterm_state {
    struct busy busy;
    int sfd;
    int received, read_rc;
    atomic_int reader_stop;
    int sent, pending_left;
    int busy_rc;
};

static int sigterm_reader(void *arg)
{
    struct sigterm_state *s = arg;
    while (!atomic_load(&s->reader_stop)) {
        int r = coio_wait_fd(s->sfd, COIO_READABLE);
        if (r < 0)
            return s->read_rc = r;
        struct signalfd_siginfo si[8];
        ssize_t n;
        while ((n = read(s->sfd, si, sizeof si)) > 0)
            for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++)
                s->received += si[i].ssi_signo == SIGTERM;
    }
    return 0;
}

static int sigterm_main(void *arg)
{
    struct sigterm_state *s = arg;
    coio_task *busy[2];
    int r = start_busy(&s->busy, busy);
    if (r < 0)
        return r;
    coio_task *reader = coio_spawn(sigterm_reader, s);
    for (int i = 0; i < N_SIGTERM; i++) {
        if (kill(getpid(), SIGTERM) == 0) /* to the process: the kernel picks a thread */
            s->sent++;
        coio_yield(); /* the pool, the resolver and the reader run in between */
        if (i % 10 == 9)
            coio_sleep(0.001);
    }
    /* Until the last SIGTERM has been read (signalfd merges pending ones). */
    double give_up = coio_now() + 10.0;
    sigset_t pending;
    for (;;) {
        sigpending(&pending);
        if ((s->received > 0 && !sigismember(&pending, SIGTERM)) || coio_now() > give_up)
            break;
        coio_sleep(0.001);
    }
    s->pending_left = sigismember(&pending, SIGTERM);
    s->busy_rc = stop_busy(&s->busy, busy);
    atomic_store(&s->reader_stop, 1);
    coio_cancel(reader);
    coio_await(reader);
    return 0;
}

/* A program that blocks SIGTERM in its main thread and reads it through a signalfd: 100
 * SIGTERMs sent to the process while coio's threads are busy never kill it, and reach the
 * signalfd. The pool and the resolvers exist before SIGTERM is blocked, as they do in a
 * program that used coio before it set up its signal handling. */
static void sigterm_storm_reaches_the_signalfd_not_coio_threads(void **state)
{
    (void)state;
    struct busy warm = {0};
    coio_assert_rc(coio_run(warm_main, &warm), 0);

    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
    struct sigterm_state s = {0};
    s.sfd = signalfd(-1, &term, SFD_NONBLOCK | SFD_CLOEXEC);
    assert_true(s.sfd >= 0);
    coio_assert_rc(coio_run(sigterm_main, &s), 0);
    close(s.sfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    coio_assert_rc(s.busy_rc, 0);
    assert_int_equal(s.sent, N_SIGTERM);
    assert_true(s.received >= 1);
    assert_int_equal(s.pending_left, 0);
    assert_true(s.busy.jobs > 2 && s.busy.lookups > 2); /* the threads worked meanwhile */
}

/* ---- no thread can start: -EAGAIN --------------------------------------------------- */

#define EAGAIN_CHILD_ENV "COIO_TEST_NO_THREADS"

struct eagain_state {
    int to_thread_rc, lookup_rc, ran;
};

static int set_ran(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

static int eagain_main(void *arg)
{
    struct eagain_state *s = arg;
    s->to_thread_rc = coio_to_thread(set_ran, &s->ran);
    struct addrinfo *res = NULL;
    s->lookup_rc = coio_getaddrinfo("localhost", "80", NULL, &res);
    if (res)
        freeaddrinfo(res);
    return 0;
}

/* With RLIMIT_NPROC at 0 no thread can start (pthread_create fails with EAGAIN), so the
 * pool and the resolver have none: coio_to_thread and a lookup that needs a thread
 * return -EAGAIN. Root is exempt from RLIMIT_NPROC, so the check runs in a child that
 * becomes "nobody" first, and in a fresh process (exec) whose pools never had a thread. */
static void to_thread_without_any_thread_returns_eagain(void **state)
{
    (void)state;
    if (getenv(EAGAIN_CHILD_ENV)) { /* the child, fresh from exec */
        alarm(30);                      /* never outlive a parent that timed out */
        if (geteuid() == 0) {
            assert_int_equal(setgroups(0, NULL), 0);
            assert_int_equal(setgid(65534), 0);
            assert_int_equal(setuid(65534), 0);
        }
        struct rlimit old, none;
        assert_int_equal(getrlimit(RLIMIT_NPROC, &old), 0);
        none = (struct rlimit){0, old.rlim_max};
        assert_int_equal(setrlimit(RLIMIT_NPROC, &none), 0);
        struct eagain_state s = {0};
        int rc = coio_run(eagain_main, &s);
        setrlimit(RLIMIT_NPROC, &old); /* LeakSanitizer starts a thread at exit */
        coio_assert_rc(rc, 0);
        coio_assert_rc(s.to_thread_rc, -EAGAIN);
        coio_assert_rc(s.lookup_rc, -EAGAIN);
        assert_int_equal(s.ran, 0);
        return;
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv(EAGAIN_CHILD_ENV, "1", 1);
        execl("/proc/self/exe", "test_thread", "to_thread_without_any_thread_returns_eagain",
              (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- one loop per thread ----------------------------------------------------------- */

struct loop_thread {
    pthread_barrier_t *barrier;
    int id;
    int run_rc;
    int gather_rc;
    int to_thread_rc;
    int counter;
    double start, end;
    char backend[32];
};

static int counting_task(void *arg)
{
    struct loop_thread *l = arg;
    for (int i = 0; i < 10; i++) {
        if (coio_sleep(0.01) < 0)
            return -1;
        l->counter++;
    }
    return 0;
}

static int loop_thread_main(void *arg)
{
    struct loop_thread *l = arg;
    const char *b = coio_backend_name();
    snprintf(l->backend, sizeof l->backend, "%s", b ? b : "");
    l->gather_rc = coio_gather(coio_spawn(counting_task, l), coio_spawn(counting_task, l));
    l->to_thread_rc = coio_to_thread(return_arg_job, (void *)(intptr_t)(l->id + 100));
    return l->id;
}

static void *loop_thread_fn(void *arg)
{
    struct loop_thread *l = arg;
    pthread_barrier_wait(l->barrier);
    l->start = mono_now();
    l->run_rc = coio_run(loop_thread_main, l);
    l->end = mono_now();
    return NULL;
}

static void two_threads_run_their_own_loops_concurrently(void **state)
{
    (void)state;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct loop_thread l[2] = {{.barrier = &barrier, .id = 1}, {.barrier = &barrier, .id = 2}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, loop_thread_fn, &l[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < 2; i++) {
        coio_assert_rc(l[i].run_rc, l[i].id);
        coio_assert_rc(l[i].gather_rc, 0);
        assert_int_equal(l[i].counter, 20);
        coio_assert_rc(l[i].to_thread_rc, l[i].id + 100);
        assert_true(l[i].backend[0] != '\0');
    }
    /* both loops were running at the same time (each takes >= 100 ms) */
    assert_true(l[0].start < l[1].end && l[1].start < l[0].end);
}

struct busy_state {
    int rc;
};

static void *run_loop_on_thread(void *arg)
{
    struct busy_state *b = arg;
    b->rc = coio_run(return_arg_job, (void *)(intptr_t)7);
    return NULL;
}

static int spawn_thread_loop_main(void *arg)
{
    struct busy_state *b = arg;
    pthread_t th;
    if (pthread_create(&th, NULL, run_loop_on_thread, b) != 0)
        return -1;
    /* joining blocks this loop briefly; the other thread's loop is independent */
    pthread_join(th, NULL);
    return 0;
}

static void loop_on_other_thread_is_not_ebusy(void **state)
{
    (void)state;
    struct busy_state b = {0};
    coio_assert_rc(coio_run(spawn_thread_loop_main, &b), 0);
    coio_assert_rc(b.rc, 7);
}

/* Lowering the bound ends the idle workers above it at once, not when they next wake. */
static void lowering_the_bound_ends_the_idle_workers_above_it(void **state)
{
    (void)state;
    int before = coio_threadpool_size();
    coio_assert_rc(coio_threadpool_set_size(4), 0);
    static struct many_callers s = {.mu = PTHREAD_MUTEX_INITIALIZER,
                                    .cv = PTHREAD_COND_INITIALIZER, .need = 4};
    coio_assert_rc(coio_run(many_callers_main, &s), 0); /* four jobs at once: 4 workers */
    coio_assert_rc(s.gather_rc, 0);
    assert_int_equal(s.max_in_flight, 4);
    struct thread_masks m;
    read_thread_masks(&m);
    assert_int_equal(m.workers, 4); /* all four idle, waiting for work */
    coio_assert_rc(coio_threadpool_set_size(1), 0);
    double give_up = mono_now() + 2.0;
    do {
        usleep(1000);
        read_thread_masks(&m);
    } while (m.workers > 1 && mono_now() < give_up);
    assert_int_equal(m.workers, 1);
    /* The one left still takes work. */
    coio_assert_rc(coio_run(which_thread_main, &(struct which_thread){0}), 0);
    coio_assert_rc(coio_threadpool_set_size(before), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(to_thread_returns_fn_value),
    cmocka_unit_test(to_thread_runs_fn_on_another_thread),
    cmocka_unit_test(twenty_concurrent_to_thread_calls_complete),
    cmocka_unit_test(loop_keeps_running_while_to_thread_job_blocks),
    cmocka_unit_test(to_thread_timeout_waits_for_running_job_then_etimedout),
    cmocka_unit_test(job_behind_a_stuck_worker_runs_within_milliseconds),
    cmocka_unit_test(coio_threads_block_every_asynchronous_signal),
    cmocka_unit_test(sigterm_storm_reaches_the_signalfd_not_coio_threads),
    cmocka_unit_test(to_thread_without_any_thread_returns_eagain),
    cmocka_unit_test(two_threads_run_their_own_loops_concurrently),
    cmocka_unit_test(loop_on_other_thread_is_not_ebusy),
    cmocka_unit_test(lowering_the_bound_ends_the_idle_workers_above_it),
};

COIO_TEST_MAIN(tests)
