/* coio-test: io timeout=120 */
/* Signals: receivers (timeouts, counting while nobody waits, several receivers, 100
 * signals to a busy loop), Ctrl-C cancelling main's task (in this process and in a child
 * that gets one SIGINT or two), a program's own SIGINT handler left alone, and the task
 * dump on a signal under COIO_DEBUG. The children are this program run again with
 * COIO_TEST_SIGNAL_CHILD naming what to do. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

#define SIGNALED(sig) (COIO_PROCESS_SIGNALED + (sig))

static void say(const char *s)
{
    ssize_t r = write(1, s, strlen(s));
    (void)r;
}

/* ---- the child programs ------------------------------------------------------------ */

static int child_sigint_main(void *arg)
{
    const char *mode = arg;
    say("ready\n");
    int r = coio_sleep(30);
    if (r != -ECANCELED)
        return 1;
    /* Cleanup may suspend: inside a shield, cancellation does not interrupt it. */
    coio_scope sh;
    coio_shield_begin(&sh, -1);
    if (strcmp(mode, "sigint2") == 0) {
        say("cleaning\n");
        coio_sleep(30); /* too slow: the second Ctrl-C ends the program */
        say("cleanup done\n");
    } else {
        coio_sleep(0.05);
        say("cleanup ran\n");
    }
    coio_scope_end(&sh);
    return r;
}

static int sleeper(void *arg)
{
    (void)arg;
    coio_sleep(30);
    return 0;
}

/* Under COIO_DEBUG with COIO_DUMP_SIGNAL=SIGUSR2: waits for stdin's EOF while the parent
 * asks for dumps; the program goes on after each. */
static int child_dump_main(void *arg)
{
    (void)arg;
    coio_task *t = coio_spawn_ex(sleeper, NULL, &(coio_spawn_opts){.name = "sleeper"});
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    say("ready\n");
    char buf[16];
    while (coio_read(0, buf, sizeof buf) > 0)
        ;
    coio_cancel(t);
    coio_await(t);
    say("still alive\n");
    return 0;
}

__attribute__((constructor)) static void maybe_child(void)
{
    const char *mode = getenv("COIO_TEST_SIGNAL_CHILD");
    if (!mode)
        return;
    signal(SIGINT, SIG_DFL);
    int r = strcmp(mode, "dump") == 0 ? coio_run(child_dump_main, NULL)
                                      : coio_run(child_sigint_main, (void *)mode);
    char line[64];
    snprintf(line, sizeof line, "coio_run returned %s\n", r < 0 ? coio_err_name(r) : "0");
    say(line);
    if (r == -ECANCELED) { /* the recipe of docs/process.md: end as Ctrl-C would */
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
    }
    _exit(r == 0 ? 0 : 1);
}

/* Starts this program as a child in `mode`, with stdin, stdout and stderr piped, and
 * waits for its "ready" line. */
static coio_process *start_child(const char *mode)
{
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    setenv("COIO_TEST_SIGNAL_CHILD", mode, 1);
    coio_process_opts o = {.stdio = {{.how = COIO_STDIO_PIPE}, {.how = COIO_STDIO_PIPE},
                                     {.how = COIO_STDIO_PIPE}}};
    coio_process *p;
    int r = coio_process_spawn(&p, (const char *[]){self, NULL}, &o);
    unsetenv("COIO_TEST_SIGNAL_CHILD");
    coio_assert_rc(r, 0);
    char line[64];
    coio_assert_rc(coio_stream_readline(coio_process_stdout(p), line, sizeof line), 6);
    assert_memory_equal(line, "ready\n", 6);
    return p;
}

/* ---- Ctrl-C ----------------------------------------------------------------------- */

static int sigint_child_main(void *arg)
{
    (void)arg;
    coio_process *p = start_child("sigint");
    coio_assert_rc(coio_process_kill(p, SIGINT), 0);
    char out[256];
    coio_communicate c = {.out = out, .out_cap = sizeof out - 1, .timeout = 20};
    coio_assert_rc(coio_process_communicate(p, &c), SIGNALED(SIGINT));
    out[c.out_len] = '\0';
    assert_string_equal(out, "cleanup ran\ncoio_run returned ECANCELED\n");
    coio_process_close(p);
    return 0;
}

static void sigint_cancels_main_task_of_a_child(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(sigint_child_main, NULL), 0);
}

static int second_sigint_main(void *arg)
{
    (void)arg;
    coio_process *p = start_child("sigint2");
    coio_assert_rc(coio_process_kill(p, SIGINT), 0);
    char line[64];
    coio_assert_rc(coio_stream_readline(coio_process_stdout(p), line, sizeof line), 9);
    assert_memory_equal(line, "cleaning\n", 9);
    double t0 = coio_now();
    coio_assert_rc(coio_process_kill(p, SIGINT), 0);
    char out[256];
    coio_communicate c = {.out = out, .out_cap = sizeof out - 1, .timeout = 20};
    coio_assert_rc(coio_process_communicate(p, &c), SIGNALED(SIGINT));
    assert_true(coio_now() - t0 < 10);
    assert_int_equal(c.out_len, 0); /* neither "cleanup done" nor coio_run's return */
    coio_process_close(p);
    return 0;
}

static void second_sigint_ends_the_program(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(second_sigint_main, NULL), 0);
}

static int raise_sigint_main(void *arg)
{
    int *cleaned = arg;
    raise(SIGINT); /* delivered at once to this thread: coio's handler counts it */
    int r = coio_sleep(30);
    *cleaned = r == -ECANCELED;
    return r;
}

static void sigint_in_this_process_returns_ecanceled(void **state)
{
    (void)state;
    require_backend();
    int cleaned = 0;
    coio_assert_rc(coio_run(raise_sigint_main, &cleaned), -ECANCELED);
    assert_true(cleaned);
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    assert_true(sa.sa_handler == SIG_DFL); /* given back */
    /* A second run takes it again. */
    cleaned = 0;
    coio_assert_rc(coio_run(raise_sigint_main, &cleaned), -ECANCELED);
    assert_true(cleaned);
}

static void term_is_int(int sig)
{
    (void)sig;
    raise(SIGINT);
}

static int raise_sigterm_main(void *arg)
{
    (void)arg;
    raise(SIGTERM);
    return coio_sleep(30);
}

/* The SIGTERM recipe of docs/process.md. */
static void sigterm_forwarded_to_sigint_cancels_main(void **state)
{
    (void)state;
    require_backend();
    struct sigaction sa = {.sa_handler = term_is_int}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old);
    coio_assert_rc(coio_run(raise_sigterm_main, NULL), -ECANCELED);
    sigaction(SIGTERM, &old, NULL);
}

static volatile sig_atomic_t own_hits;

static void own_handler(int sig)
{
    (void)sig;
    own_hits++;
}

static int own_handler_main(void *arg)
{
    (void)arg;
    raise(SIGINT);
    return coio_sleep(0.05);
}

static void program_sigint_handler_is_left_alone(void **state)
{
    (void)state;
    require_backend();
    struct sigaction sa = {.sa_handler = own_handler}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    coio_assert_rc(coio_run(own_handler_main, NULL), 0);
    assert_int_equal(own_hits, 1);
    struct sigaction now;
    sigaction(SIGINT, NULL, &now);
    assert_true(now.sa_handler == own_handler);
    sigaction(SIGINT, &old, NULL);
}

/* ---- the task dump ---------------------------------------------------------------- */

static int dump_main(void *arg)
{
    (void)arg;
    setenv("COIO_DEBUG", "1", 1);
    setenv("COIO_DUMP_SIGNAL", "SIGUSR2", 1);
    coio_process *p = start_child("dump");
    unsetenv("COIO_DEBUG");
    unsetenv("COIO_DUMP_SIGNAL");
    char err[8192];
    size_t len = 0;
    for (int round = 0; round < 2; round++) {
        coio_assert_rc(coio_process_kill(p, SIGUSR2), 0);
        /* Read until this dump's sleeper line has arrived. */
        bool seen = false;
        while (!seen) {
            ssize_t n = coio_stream_readline(coio_process_stderr(p), err + len,
                                             sizeof err - 1 - len);
            assert_true(n > 0);
            err[len + (size_t)n] = '\0';
            seen = strstr(err + len, "sleeper") != NULL;
            len += (size_t)n;
        }
    }
    /* Two dumps, each naming both tasks and what they wait on. */
    const char *second = strstr(strstr(err, "sleeper") + 1, "sleeper");
    assert_non_null(second);
    assert_non_null(strstr(err, "main"));
    assert_non_null(strstr(err, "read fd"));
    coio_assert_rc(coio_stream_write_eof(coio_process_stdin(p)), 0);
    char out[256];
    coio_communicate c = {.out = out, .out_cap = sizeof out - 1, .timeout = 20};
    coio_assert_rc(coio_process_communicate(p, &c), 0); /* the dumps did not stop it */
    out[c.out_len] = '\0';
    assert_string_equal(out, "still alive\ncoio_run returned 0\n");
    coio_process_close(p);
    return 0;
}

static void debug_dump_on_signal_keeps_running(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(dump_main, NULL), 0);
}

/* ---- receivers -------------------------------------------------------------------- */

static int basics_main(void *arg)
{
    (void)arg;
    coio_signals *r = coio_signals_open((const int[]){SIGUSR1, SIGUSR2}, 2);
    assert_non_null(r);
    double t0 = coio_now();
    coio_assert_rc(coio_signals_wait(r, 0.05), -ETIMEDOUT);
    assert_true(coio_now() - t0 >= 0.049);
    coio_assert_rc(coio_signals_wait(r, 0), -ETIMEDOUT);
    /* Counted while nobody waits, delivered lowest number first. */
    raise(SIGUSR2);
    raise(SIGUSR1);
    raise(SIGUSR2);
    coio_assert_rc(coio_signals_wait(r, 1), SIGUSR1);
    coio_assert_rc(coio_signals_wait(r, 1), SIGUSR2);
    coio_assert_rc(coio_signals_wait(r, 0), SIGUSR2);
    coio_assert_rc(coio_signals_wait(r, 0), -ETIMEDOUT);
    /* Misuse */
    errno = 0;
    assert_null(coio_signals_open((const int[]){SIGKILL}, 1));
    assert_int_equal(errno, EINVAL);
    assert_null(coio_signals_open((const int[]){SIGSEGV}, 1));
    assert_null(coio_signals_open((const int[]){0}, 1));
    assert_null(coio_signals_open((const int[]){65}, 1));
    assert_null(coio_signals_open(NULL, 1));
    coio_assert_rc(coio_signals_wait(NULL, 1), -EINVAL);
    coio_assert_rc(coio_signals_close(NULL), -EINVAL);
    coio_assert_rc(coio_signals_close(r), 0);
    return 0;
}

static void receiver_counts_while_nobody_waits(void **state)
{
    (void)state;
    require_backend();
    /* The program's own handler for SIGUSR2 is put back after the receiver closes. */
    struct sigaction sa = {.sa_handler = own_handler}, old, now;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, &old);
    coio_assert_rc(coio_run(basics_main, NULL), 0);
    sigaction(SIGUSR2, NULL, &now);
    assert_true(now.sa_handler == own_handler);
    sigaction(SIGUSR1, NULL, &now);
    assert_true(now.sa_handler == SIG_DFL);
    sigaction(SIGUSR2, &old, NULL);
    errno = 0;
    assert_null(coio_signals_open((const int[]){SIGUSR1}, 1));
    assert_int_equal(errno, EPERM);
}

struct several {
    int got[3];
    int parked;
};

static int several_wait(void *arg)
{
    int *got = arg;
    coio_signals *r = coio_signals_open((const int[]){SIGUSR1}, 1);
    if (!r)
        return -errno;
    *got = coio_signals_wait(r, 10);
    coio_signals_close(r);
    return 0;
}

struct shared {
    coio_signals *r;
    int got;
};

static int shared_wait(void *arg)
{
    struct shared *sh = arg;
    sh->got = coio_signals_wait(sh->r, 10);
    return 0;
}

static int several_main(void *arg)
{
    struct several *s = arg;
    coio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = coio_spawn(several_wait, &s->got[i]);
    coio_sleep(0.05); /* all three wait */
    kill(getpid(), SIGUSR1);
    coio_assert_rc(coio_gather_n(t, 3, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s->got[i], SIGUSR1);
    /* A cancelled waiter returns -ECANCELED. */
    coio_task *w = coio_spawn(several_wait, &s->got[0]);
    coio_sleep(0.02);
    coio_cancel(w);
    coio_assert_rc(coio_await(w), 0);
    coio_assert_rc(s->got[0], -ECANCELED);
    /* A receiver a task waits on cannot close. */
    struct shared sh = {coio_signals_open((const int[]){SIGUSR1}, 1), 0};
    w = coio_spawn(shared_wait, &sh);
    coio_sleep(0.02);
    coio_assert_rc(coio_signals_close(sh.r), -EBUSY);
    kill(getpid(), SIGUSR1);
    coio_assert_rc(coio_await(w), 0);
    coio_assert_rc(sh.got, SIGUSR1);
    coio_assert_rc(coio_signals_close(sh.r), 0);
    return 0;
}

static void several_receivers_each_get_the_signal(void **state)
{
    (void)state;
    require_backend();
    struct several s = {{0}, 0};
    coio_assert_rc(coio_run(several_main, &s), 0);
}

/* ---- 100 signals to a busy loop ---------------------------------------------------- */

struct busy {
    volatile int stop;
    sem_t ack;
    int rt_sig;
};

static int pool_job(void *arg)
{
    (void)arg;
    usleep(2000);
    return 0;
}

static int keep_pool_busy(void *arg)
{
    struct busy *b = arg;
    while (!b->stop)
        if (coio_to_thread(pool_job, NULL) < 0)
            return -1;
    return 0;
}

static int keep_resolver_busy(void *arg)
{
    struct busy *b = arg;
    while (!b->stop) {
        struct addrinfo *ai = NULL;
        if (coio_getaddrinfo("localhost", "80", NULL, &ai) == 0)
            freeaddrinfo(ai);
    }
    return 0;
}

static int spin(void *arg)
{
    struct busy *b = arg;
    while (!b->stop)
        coio_yield();
    return 0;
}

static void *usr1_sender(void *arg)
{
    struct busy *b = arg;
    for (int i = 0; i < 100; i++) {
        kill(getpid(), SIGUSR1);
        while (sem_wait(&b->ack) < 0)
            ;
    }
    return NULL;
}

static int busy_main(void *arg)
{
    struct busy *b = arg;
    coio_task *bg[6];
    for (int i = 0; i < 4; i++)
        bg[i] = coio_spawn(keep_pool_busy, b);
    bg[4] = coio_spawn(keep_resolver_busy, b);
    bg[5] = coio_spawn(spin, b);
    coio_signals *r = coio_signals_open((const int[]){SIGUSR1, b->rt_sig}, 2);
    assert_non_null(r);

    /* Real-time signals queue: a burst of 100 from another process, each one counted. */
    char cmd[160];
    snprintf(cmd, sizeof cmd,
             "i=0; while [ $i -lt 100 ]; do kill -%d %d || exit 1; i=$((i+1)); done",
             b->rt_sig, (int)getpid());
    coio_process *p;
    coio_assert_rc(coio_process_shell(&p, cmd, NULL), 0);
    coio_assert_rc(coio_process_wait(p), 0);
    coio_process_close(p);
    for (int i = 0; i < 100; i++)
        coio_assert_rc(coio_signals_wait(r, 10), b->rt_sig);
    coio_assert_rc(coio_signals_wait(r, 0.05), -ETIMEDOUT);

    /* An ordinary signal merges with one already pending, so each waits for its ack. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, usr1_sender, b), 0);
    for (int i = 0; i < 100; i++) {
        coio_assert_rc(coio_signals_wait(r, 10), SIGUSR1);
        sem_post(&b->ack);
    }
    pthread_join(th, NULL);
    coio_assert_rc(coio_signals_wait(r, 0.05), -ETIMEDOUT);
    b->stop = 1;
    coio_assert_rc(coio_gather_n(bg, 6, NULL), 0);
    coio_signals_close(r);
    return 0;
}

static void hundred_signals_to_a_busy_loop(void **state)
{
    (void)state;
    require_backend();
    struct busy b = {.rt_sig = SIGRTMIN + 3};
    sem_init(&b.ack, 0, 0);
    coio_assert_rc(coio_run(busy_main, &b), 0);
    sem_destroy(&b.ack);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(receiver_counts_while_nobody_waits),
    cmocka_unit_test(several_receivers_each_get_the_signal),
    cmocka_unit_test(hundred_signals_to_a_busy_loop),
    cmocka_unit_test(sigint_in_this_process_returns_ecanceled),
    cmocka_unit_test(program_sigint_handler_is_left_alone),
    cmocka_unit_test(sigterm_forwarded_to_sigint_cancels_main),
    cmocka_unit_test(sigint_cancels_main_task_of_a_child),
    cmocka_unit_test(second_sigint_ends_the_program),
    cmocka_unit_test(debug_dump_on_signal_keeps_running),
};

COIO_TEST_MAIN(tests)
