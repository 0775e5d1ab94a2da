/* coio-test: io timeout=120 novalgrind */
/* Child processes: spawn (argv, env, cwd, every stdio kind), exit statuses, spawn errors,
 * pipes both ways beyond a pipe buffer, communicate and its timeout, cancellation that
 * kills and reaps, process groups, 200 children at once, and the SIGCHLD fallback
 * (COIO_PIDFD=0). Real programs only: /bin/sh, cat, sleep, true, false.
 * Not under Valgrind: it runs posix_spawn's CLONE_VFORK child as a fork, so a failed exec
 * never reaches the parent (spawn_errors would see children exiting 127). */
#define _GNU_SOURCE
#include "coio_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIGNALED(sig) (COIO_PROCESS_SIGNALED + (sig))

/* True while /proc has an entry for pid: running, or a zombie nobody reaped. */
static int pid_exists(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    return access(path, F_OK) == 0;
}

/* Waits (up to 5 s) until pid is gone for good, not even a zombie: for processes that
 * are not our children (init reaps them). */
static int pid_gone_within(pid_t pid)
{
    for (int i = 0; i < 500; i++) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f)
            return 1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        if (rp && rp[1] == ' ' && rp[2] == 'Z')
            return 1; /* dead; its new parent reaps it */
        usleep(10000);
    }
    return 0;
}

static int run_status(const char *const *argv)
{
    coio_process *p;
    int r = coio_process_spawn(&p, argv, NULL);
    if (r < 0)
        return r;
    r = coio_process_wait(p);
    coio_process_close(p);
    return r;
}

/* ---- exit statuses ------------------------------------------------------------------ */

static int statuses_main(void *arg)
{
    (void)arg;
    coio_assert_rc(run_status((const char *[]){"true", NULL}), 0);
    coio_assert_rc(run_status((const char *[]){"false", NULL}), 1);
    coio_assert_rc(run_status((const char *[]){"/bin/sh", "-c", "exit 7", NULL}), 7);
    coio_assert_rc(run_status((const char *[]){"/bin/sh", "-c", "exit 255", NULL}), 255);
    coio_assert_rc(run_status((const char *[]){"/bin/sh", "-c", "kill -TERM $$", NULL}),
                   SIGNALED(SIGTERM));
    coio_assert_rc(run_status((const char *[]){"/bin/sh", "-c", "kill -KILL $$", NULL}),
                   SIGNALED(SIGKILL));
    /* The child starts with SIGPIPE at its default and nothing blocked, whatever the
     * parent ignores or blocks. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old);
    sigset_t term, oldmask;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &oldmask);
    coio_assert_rc(run_status((const char *[]){"/bin/sh", "-c", "kill -PIPE $$; exit 0", NULL}),
                   SIGNALED(SIGPIPE));
    coio_assert_rc(run_status((const char *[]){"/bin/sh", "-c", "kill -TERM $$; exit 0", NULL}),
                   SIGNALED(SIGTERM));
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
    sigaction(SIGPIPE, &old, NULL);
    assert_true(COIO_PROCESS_EXITED(7) && !COIO_PROCESS_EXITED(SIGNALED(9)));
    assert_int_equal(COIO_PROCESS_TERMSIG(SIGNALED(9)), 9);
    return 0;
}

static void exit_statuses(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(statuses_main, NULL), 0);
}

static void sigchld_fallback_statuses(void **state)
{
    (void)state;
    setenv("COIO_PIDFD", "0", 1); /* read once per process, at the first spawn */
    require_backend();
    coio_assert_rc(coio_run(statuses_main, NULL), 0);
}

/* ---- spawn errors ------------------------------------------------------------------ */

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/coio-proc-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(path, mode);
}

static int errors_main(void *arg)
{
    (void)arg;
    char noexec[128], garbage[128];
    snprintf(noexec, sizeof noexec, "%s/noexec", tmpdir);
    snprintf(garbage, sizeof garbage, "%s/garbage", tmpdir);
    write_file(noexec, "#!/bin/sh\nexit 0\n", 0644);
    write_file(garbage, "\x01\x02\x03\x04 not a program\n", 0755);
    coio_process *p = (coio_process *)1;
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"/nonexistent/prog", NULL}, NULL),
                   -ENOENT);
    assert_null(p);
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"coio-no-such-program", NULL}, NULL),
                   -ENOENT);
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){noexec, NULL}, NULL), -EACCES);
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){garbage, NULL}, NULL), -ENOEXEC);
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){tmpdir, NULL}, NULL), -EACCES);
    coio_process_opts o = {.cwd = "/nonexistent-dir"};
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"true", NULL}, &o), -ENOENT);
    o = (coio_process_opts){.stdio[0] = {.how = COIO_STDIO_FILE, .path = "/nonexistent/in"}};
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"true", NULL}, &o), -ENOENT);
    /* Misuse. */
    coio_assert_rc(coio_process_spawn(NULL, (const char *[]){"true", NULL}, NULL), -EINVAL);
    coio_assert_rc(coio_process_spawn(&p, NULL, NULL), -EINVAL);
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){NULL}, NULL), -EINVAL);
    o = (coio_process_opts){.stdio[1] = {.how = COIO_STDIO_STDOUT}};
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"true", NULL}, &o), -EINVAL);
    o = (coio_process_opts){.stdio[1] = {.how = COIO_STDIO_FD, .fd = -1}};
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"true", NULL}, &o), -EBADF);
    o = (coio_process_opts){.kill_grace = -1};
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"true", NULL}, &o), -EINVAL);
    coio_assert_rc(coio_process_wait(NULL), -EINVAL);
    coio_assert_rc(coio_process_close(NULL), -EINVAL);
    coio_assert_rc(coio_process_shell(&p, NULL, NULL), -EINVAL);
    return 0;
}

static void spawn_errors(void **state)
{
    (void)state;
    require_backend();
    make_tmpdir();
    int r = coio_run(errors_main, NULL);
    remove_tmpdir();
    coio_assert_rc(r, 0);
    coio_process *p;
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"true", NULL}, NULL), -EPERM);
}

/* ---- stdio kinds, env, cwd --------------------------------------------------------- */

static int output_of(const char *cmd, const coio_process_opts *base, char *out, size_t cap)
{
    coio_process_opts o = base ? *base : (coio_process_opts){0};
    o.stdio[1].how = COIO_STDIO_PIPE;
    coio_process *p;
    int r = coio_process_shell(&p, cmd, &o);
    if (r < 0)
        return r;
    coio_communicate c = {.out = out, .out_cap = cap - 1};
    r = coio_process_communicate(p, &c);
    out[c.out_len] = '\0';
    coio_process_close(p);
    return r;
}

static int stdio_main(void *arg)
{
    (void)arg;
    char out[4096], path[128];
    /* env and cwd */
    coio_process_opts o = {.env = (const char *const[]){"COIO_X=forty two", NULL},
                           .cwd = "/"};
    coio_assert_rc(output_of("echo \"$COIO_X\"; pwd", &o, out, sizeof out), 0);
    assert_string_equal(out, "forty two\n/\n");
    /* stderr merged into stdout */
    o = (coio_process_opts){.stdio[2] = {.how = COIO_STDIO_STDOUT}};
    coio_assert_rc(output_of("echo out; echo err >&2; exit 3", &o, out, sizeof out), 3);
    assert_string_equal(out, "out\nerr\n");
    /* stdin from /dev/null; stderr to /dev/null */
    o = (coio_process_opts){.stdio[0] = {.how = COIO_STDIO_DEVNULL},
                            .stdio[2] = {.how = COIO_STDIO_DEVNULL}};
    coio_assert_rc(output_of("cat; echo gone >&2; echo end", &o, out, sizeof out), 0);
    assert_string_equal(out, "end\n");
    /* stdout to a file, then stdin from it */
    snprintf(path, sizeof path, "%s/out.txt", tmpdir);
    o = (coio_process_opts){.stdio[1] = {.how = COIO_STDIO_FILE, .path = path}};
    coio_process *p;
    coio_assert_rc(coio_process_shell(&p, "echo to a file", &o), 0);
    coio_assert_rc(coio_process_wait(p), 0);
    coio_process_close(p);
    o = (coio_process_opts){.stdio[0] = {.how = COIO_STDIO_FILE, .path = path}};
    coio_assert_rc(output_of("cat", &o, out, sizeof out), 0);
    assert_string_equal(out, "to a file\n");
    /* stdout to an fd the caller owns (a pipe it reads itself) */
    int pp[2];
    assert_int_equal(pipe2(pp, O_CLOEXEC | O_NONBLOCK), 0);
    o = (coio_process_opts){.stdio[1] = {.how = COIO_STDIO_FD, .fd = pp[1]}};
    coio_assert_rc(coio_process_shell(&p, "echo via fd", &o), 0);
    close(pp[1]);
    coio_assert_rc(coio_process_wait(p), 0);
    coio_process_close(p);
    ssize_t n = coio_read(pp[0], out, sizeof out);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "via fd\n", 7);
    coio_close(pp[0]);
    /* the child sees only fds 0-2, though this fd lacks CLOEXEC */
    int leaky = open("/dev/null", O_RDONLY);
    assert_true(leaky > 2);
    coio_assert_rc(output_of("ls /proc/self/fd | wc -l", NULL, out, sizeof out), 0);
    close(leaky);
    assert_string_equal(out, "4\n"); /* 0, 1, 2 and ls's directory */
    /* argv is passed as is */
    o = (coio_process_opts){.stdio[1] = {.how = COIO_STDIO_PIPE}};
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"/bin/sh", "-c", "echo \"$1|$2\"",
                                                           "sh", "a b", "", NULL},
                                      &o),
                   0);
    coio_communicate c = {.out = out, .out_cap = sizeof out};
    coio_assert_rc(coio_process_communicate(p, &c), 0);
    assert_int_equal(c.out_len, 5);
    assert_memory_equal(out, "a b|\n", 5);
    coio_process_close(p);
    return 0;
}

static void stdio_env_cwd(void **state)
{
    (void)state;
    require_backend();
    make_tmpdir();
    int r = coio_run(stdio_main, NULL);
    remove_tmpdir();
    coio_assert_rc(r, 0);
}

/* ---- pipes with more than a pipe buffer -------------------------------------------- */

#define BIG (3u << 19) /* 1.5 MiB */

static void fill(unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 7 + (i >> 12));
}

static int big_communicate_main(void *arg)
{
    (void)arg;
    unsigned char *in = malloc(BIG), *out = malloc(BIG + 1), *err = malloc(BIG + 1);
    fill(in, BIG);
    coio_process_opts o = {.stdio = {{.how = COIO_STDIO_PIPE}, {.how = COIO_STDIO_PIPE},
                                     {.how = COIO_STDIO_PIPE}}};
    coio_process *p;
    /* cat copies stdin to both outputs: the child writes 3 MiB while it still reads. */
    coio_assert_rc(coio_process_shell(&p, "tee /dev/stderr", &o), 0);
    coio_communicate c = {.input = in, .input_len = BIG, .out = out, .out_cap = BIG + 1,
                          .err = err, .err_cap = BIG + 1, .timeout = 30};
    coio_assert_rc(coio_process_communicate(p, &c), 0);
    assert_int_equal(c.out_len, BIG);
    assert_int_equal(c.err_len, BIG);
    assert_int_equal(c.truncated, 0);
    assert_memory_equal(out, in, BIG);
    assert_memory_equal(err, in, BIG);
    coio_process_close(p);
    /* A cap smaller than the output: the rest is read and dropped, the child ends. */
    coio_assert_rc(coio_process_shell(&p, "cat", &o), 0);
    c = (coio_communicate){.input = in, .input_len = BIG, .out = out, .out_cap = 1000};
    coio_assert_rc(coio_process_communicate(p, &c), 0);
    assert_int_equal(c.out_len, 1000);
    assert_int_equal(c.truncated, 1);
    assert_memory_equal(out, in, 1000);
    coio_process_close(p);
    free(in);
    free(out);
    free(err);
    return 0;
}

static void pipes_beyond_buffer_communicate(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(big_communicate_main, NULL), 0);
}

/* The streams by hand: one task writes 1.5 MiB into cat while another reads it back. */
struct feeder {
    coio_stream *s;
    const unsigned char *data;
};

static int feed(void *arg)
{
    struct feeder *f = arg;
    for (size_t off = 0; off < BIG; off += 65536) {
        ssize_t w = coio_stream_write(f->s, f->data + off, 65536);
        if (w < 0)
            return (int)w;
        int r = coio_stream_drain(f->s);
        if (r < 0)
            return r;
    }
    return coio_stream_write_eof(f->s);
}

static int big_streams_main(void *arg)
{
    (void)arg;
    unsigned char *in = malloc(BIG), *out = malloc(BIG);
    fill(in, BIG);
    coio_process_opts o = {.stdio = {{.how = COIO_STDIO_PIPE}, {.how = COIO_STDIO_PIPE}}};
    coio_process *p;
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"cat", NULL}, &o), 0);
    struct feeder f = {coio_process_stdin(p), in};
    coio_task *t = coio_spawn(feed, &f);
    coio_assert_rc(coio_stream_read_exactly(coio_process_stdout(p), out, BIG, NULL), BIG);
    coio_assert_rc(coio_stream_read(coio_process_stdout(p), out, 1), 0); /* EOF */
    coio_assert_rc(coio_await(t), 0);
    assert_memory_equal(out, in, BIG);
    coio_assert_rc(coio_process_wait(p), 0);
    coio_process_close(p);
    free(in);
    free(out);
    return 0;
}

static void pipes_beyond_buffer_streams(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(big_streams_main, NULL), 0);
}

/* ---- communicate timeouts, process groups ------------------------------------------ */

static int timeout_main(void *arg)
{
    (void)arg;
    coio_process_opts o = {.stdio[1] = {.how = COIO_STDIO_PIPE}};
    coio_process *p;
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"sleep", "30", NULL}, &o), 0);
    pid_t pid = coio_process_pid(p);
    double t0 = coio_now();
    coio_communicate c = {.timeout = 0.2};
    coio_assert_rc(coio_process_communicate(p, &c), -ETIMEDOUT);
    double took = coio_now() - t0;
    assert_true(took >= 0.19 && took < 10);
    assert_false(pid_exists(pid)); /* killed and reaped: not even a zombie */
    coio_assert_rc(coio_process_poll(p), SIGNALED(SIGKILL));
    coio_assert_rc(coio_process_kill(p, SIGTERM), -ESRCH);
    coio_process_close(p);

    /* A grandchild holds the pipe after the child exits: without the group option the
     * timeout is all that ends communicate; with it, the grandchild is killed too. */
    char out[64];
    o = (coio_process_opts){.stdio[1] = {.how = COIO_STDIO_PIPE},
                            .flags = COIO_PROCESS_KILL_GROUP};
    coio_assert_rc(coio_process_shell(&p, "sleep 30 & echo $!; sleep 30", &o), 0);
    c = (coio_communicate){.out = out, .out_cap = sizeof out - 1, .timeout = 0.3};
    coio_assert_rc(coio_process_communicate(p, &c), -ETIMEDOUT);
    out[c.out_len] = '\0';
    pid_t grandchild = (pid_t)atoi(out);
    assert_true(grandchild > 0);
    assert_true(pid_gone_within(grandchild));
    assert_false(pid_exists(coio_process_pid(p)));
    coio_process_close(p);

    /* The child itself exits at once, its grandchild keeps stdout open. */
    coio_assert_rc(coio_process_shell(&p, "sleep 30 & echo $!", &o), 0);
    c = (coio_communicate){.out = out, .out_cap = sizeof out - 1, .timeout = 0.3};
    coio_assert_rc(coio_process_communicate(p, &c), -ETIMEDOUT);
    out[c.out_len] = '\0';
    grandchild = (pid_t)atoi(out);
    assert_true(grandchild > 0);
    assert_true(pid_gone_within(grandchild));
    coio_assert_rc(coio_process_poll(p), 0);
    coio_process_close(p);

    /* A deadline scope around wait ends the child the same way. */
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"sleep", "30", NULL}, NULL), 0);
    coio_scope sc;
    coio_timeout_begin(&sc, 0.1);
    coio_assert_rc(coio_process_wait(p), -ETIMEDOUT);
    coio_scope_end(&sc);
    assert_false(pid_exists(coio_process_pid(p)));
    coio_process_close(p);
    return 0;
}

static void communicate_timeout(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(timeout_main, NULL), 0);
}

/* ---- cancellation ------------------------------------------------------------------ */

struct waiter {
    coio_process *p;
    int rc;
};

static int wait_task(void *arg)
{
    struct waiter *w = arg;
    w->rc = coio_process_wait(w->p);
    return w->rc;
}

static int cancel_main(void *arg)
{
    (void)arg;
    /* SIGKILL by default */
    coio_process *p;
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"sleep", "30", NULL}, NULL), 0);
    pid_t pid = coio_process_pid(p);
    struct waiter w = {p, 1};
    coio_task *t = coio_spawn(wait_task, &w);
    coio_sleep(0.05);
    assert_int_equal(w.rc, 1); /* still waiting */
    coio_cancel(t);
    coio_assert_rc(coio_await(t), -ECANCELED);
    assert_false(pid_exists(pid));
    coio_assert_rc(coio_process_poll(p), SIGNALED(SIGKILL));
    coio_process_close(p);

    /* SIGTERM, a grace period, then SIGKILL: a child that honours SIGTERM exits by it */
    coio_process_opts o = {.kill_grace = 10, .flags = COIO_PROCESS_KILL_GROUP};
    coio_assert_rc(coio_process_shell(&p, "trap 'exit 3' TERM; sleep 30 & wait", &o), 0);
    w = (struct waiter){p, 1};
    t = coio_spawn(wait_task, &w);
    coio_sleep(0.2); /* let the shell set its trap */
    double t0 = coio_now();
    coio_cancel(t);
    coio_assert_rc(coio_await(t), -ECANCELED);
    assert_true(coio_now() - t0 < 5);
    coio_assert_rc(coio_process_poll(p), 3);
    coio_process_close(p);

    /* ...and one that ignores SIGTERM is killed when the grace period ends */
    o.kill_grace = 0.2;
    coio_assert_rc(coio_process_shell(&p, "trap '' TERM; exec sleep 30", &o), 0);
    pid = coio_process_pid(p);
    w = (struct waiter){p, 1};
    t = coio_spawn(wait_task, &w);
    coio_sleep(0.1);
    t0 = coio_now();
    coio_cancel(t);
    coio_assert_rc(coio_await(t), -ECANCELED);
    assert_true(coio_now() - t0 >= 0.19);
    coio_assert_rc(coio_process_poll(p), SIGNALED(SIGKILL));
    assert_false(pid_exists(pid));
    coio_process_close(p);

    /* coio_process_close ends a child still running */
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"sleep", "30", NULL}, NULL), 0);
    pid = coio_process_pid(p);
    coio_assert_rc(coio_process_poll(p), -EAGAIN);
    coio_assert_rc(coio_process_kill(p, 0), 0);
    coio_process_close(p);
    assert_false(pid_exists(pid));

    /* coio_process_kill */
    coio_assert_rc(coio_process_spawn(&p, (const char *[]){"sleep", "30", NULL}, NULL), 0);
    coio_assert_rc(coio_process_kill(p, SIGTERM), 0);
    coio_assert_rc(coio_process_wait(p), SIGNALED(SIGTERM));
    coio_assert_rc(coio_process_wait(p), SIGNALED(SIGTERM)); /* reaped once, asked twice */
    coio_process_close(p);
    return 0;
}

static void cancel_kills_and_reaps(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(cancel_main, NULL), 0);
}

static void sigchld_fallback_cancel(void **state)
{
    (void)state;
    setenv("COIO_PIDFD", "0", 1);
    require_backend();
    coio_assert_rc(coio_run(cancel_main, NULL), 0);
}

/* A cancelled task in a process group: the grandchildren go with the group. */
static int group_cancel_main(void *arg)
{
    (void)arg;
    char out[64];
    coio_process_opts o = {.stdio[1] = {.how = COIO_STDIO_PIPE},
                           .flags = COIO_PROCESS_KILL_GROUP};
    coio_process *p;
    coio_assert_rc(coio_process_shell(&p, "sleep 30 & echo $!; wait", &o), 0);
    ssize_t n = coio_stream_readline(coio_process_stdout(p), out, sizeof out - 1);
    assert_true(n > 1);
    out[n] = '\0';
    pid_t grandchild = (pid_t)atoi(out);
    struct waiter w = {p, 1};
    coio_task *t = coio_spawn(wait_task, &w);
    coio_sleep(0.05);
    coio_cancel(t);
    coio_assert_rc(coio_await(t), -ECANCELED);
    assert_true(pid_gone_within(grandchild));
    coio_process_close(p);

    /* NEW_SESSION: the child leads a new session */
    o = (coio_process_opts){.stdio[1] = {.how = COIO_STDIO_PIPE},
                            .flags = COIO_PROCESS_NEW_SESSION};
    coio_assert_rc(coio_process_shell(&p, "ps -o sid= -p $$ 2>/dev/null || cat /proc/$$/stat",
                                      &o),
                   0);
    coio_communicate c = {.out = out, .out_cap = sizeof out - 1};
    coio_assert_rc(coio_process_communicate(p, &c), 0);
    out[c.out_len] = '\0';
    if (strchr(out, '(')) { /* /proc/pid/stat: pid (comm) state ppid pgrp session */
        int pid2, ppid, pgrp, sid;
        char st;
        assert_int_equal(sscanf(strchr(out, ')') + 2, "%c %d %d %d", &st, &ppid, &pgrp, &sid), 4);
        (void)pid2;
        assert_int_equal(sid, coio_process_pid(p));
    } else {
        assert_int_equal(atoi(out), coio_process_pid(p));
    }
    coio_process_close(p);

    /* NEW_PGROUP: its own group */
    o.flags = COIO_PROCESS_NEW_PGROUP;
    coio_assert_rc(coio_process_shell(&p, "cat /proc/$$/stat", &o), 0);
    c = (coio_communicate){.out = out, .out_cap = sizeof out - 1};
    coio_assert_rc(coio_process_communicate(p, &c), 0);
    out[c.out_len] = '\0';
    int ppid, pgrp;
    char st;
    assert_int_equal(sscanf(strchr(out, ')') + 2, "%c %d %d", &st, &ppid, &pgrp), 3);
    assert_int_equal(pgrp, coio_process_pid(p));
    coio_process_close(p);
    return 0;
}

static void group_kill_takes_grandchildren(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(group_cancel_main, NULL), 0);
}

/* ---- many children ----------------------------------------------------------------- */

#define MANY 200

struct many {
    coio_process *p[MANY];
    int rc[MANY];
};

static int many_wait(void *arg)
{
    coio_process **pp = arg;
    return coio_process_wait(*pp);
}

static int many_main(void *arg)
{
    struct many *m = arg;
    coio_process_opts o = {.stdio[1] = {.how = COIO_STDIO_DEVNULL}};
    char cmd[32];
    for (int i = 0; i < MANY; i++) {
        snprintf(cmd, sizeof cmd, "sleep 0.5; exit %d", i % 100);
        coio_assert_rc(coio_process_shell(&m->p[i], cmd, &o), 0);
    }
    coio_task *t[MANY];
    for (int i = 0; i < MANY; i++)
        t[i] = coio_spawn(many_wait, &m->p[i]);
    coio_assert_rc(coio_gather_n(t, MANY, m->rc), 0);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(m->rc[i], i % 100);
        assert_false(pid_exists(coio_process_pid(m->p[i])));
        coio_process_close(m->p[i]);
    }
    return 0;
}

static void two_hundred_children(void **state)
{
    (void)state;
    require_backend();
    static struct many m;
    coio_assert_rc(coio_run(many_main, &m), 0);
}

static void sigchld_fallback_two_hundred_children(void **state)
{
    (void)state;
    setenv("COIO_PIDFD", "0", 1);
    require_backend();
    static struct many m;
    coio_assert_rc(coio_run(many_main, &m), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(exit_statuses),
    cmocka_unit_test(sigchld_fallback_statuses),
    cmocka_unit_test(spawn_errors),
    cmocka_unit_test(stdio_env_cwd),
    cmocka_unit_test(pipes_beyond_buffer_communicate),
    cmocka_unit_test(pipes_beyond_buffer_streams),
    cmocka_unit_test(communicate_timeout),
    cmocka_unit_test(cancel_kills_and_reaps),
    cmocka_unit_test(sigchld_fallback_cancel),
    cmocka_unit_test(group_kill_takes_grandchildren),
    cmocka_unit_test(two_hundred_children),
    cmocka_unit_test(sigchld_fallback_two_hundred_children),
};

COIO_TEST_MAIN(tests)
