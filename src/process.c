/*
 * Child processes (asyncio's create_subprocess_exec / _shell and Process).
 *
 * Spawning is posix_spawn: glibc runs the child with clone(CLONE_VM | CLONE_VFORK), so the
 * cost does not grow with the parent's memory (fork would copy its page tables), and the
 * parent resumes only after exec succeeded or failed, with exec's errno as posix_spawn's
 * result. Every fd coio creates is CLOEXEC and the child closes every fd above 2, so no
 * descriptor leaks into it.
 *
 * Exit is noticed through a pidfd, which both backends wait on like any fd. Kernels
 * without pidfd_open (before 5.3) fall back to SIGCHLD through a signal receiver; which
 * one is used is probed once, never assumed. A child is reaped (waitid) by the first call
 * that sees it exited, and never signalled after that, so its pid cannot be recycled
 * under us.
 */
#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

extern char **environ;

struct coio_process {
    pid_t pid;
    int pidfd;     /* -1: exit is learnt through SIGCHLD */
    int status;    /* once reaped: 0-255 exit code, 256 + N killed by signal N */
    bool reaped;
    unsigned flags;
    double kill_grace;
    coio_stream *stdio[3];
};

/* 1 if pidfd_open works here, 0 if not (or COIO_PIDFD=0 asks for the fallback). */
static int pidfd_usable(void)
{
    static atomic_int usable = -1;
    int u = atomic_load(&usable);
    if (u < 0) {
        const char *v = getenv("COIO_PIDFD");
        u = 0;
        if (!(v && strcmp(v, "0") == 0)) {
            int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
            if (fd >= 0) {
                close(fd);
                u = 1;
            }
        }
        atomic_store(&usable, u);
    }
    return u;
}

/* ------------------------------------------------------------------ reaping */

/* Reaps p if it has exited: 1 reaped (now or before), 0 still running, or -errno
 * (-ECHILD: something else reaped it, e.g. SIGCHLD set to SIG_IGN). */
static int try_reap(coio_process *p)
{
    if (p->reaped)
        return 1;
    siginfo_t si;
    si.si_pid = 0;
    if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG) < 0)
        return errno == EINTR ? 0 : -errno;
    if (si.si_pid == 0)
        return 0;
    p->status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) : 256 + si.si_status;
    p->reaped = true;
    return 1;
}

/* Suspends until p exited and is reaped: 0, or the error of the wait (-ECANCELED,
 * -ETIMEDOUT, ...). */
static int wait_exit(coio_process *p)
{
    if (p->pidfd >= 0) {
        for (;;) {
            int r = try_reap(p);
            if (r != 0)
                return r < 0 ? r : 0;
            r = coio_wait_fd(p->pidfd, COIO_READABLE);
            if (r < 0)
                return r;
        }
    }
    /* Opened before the first look, so an exit in between is counted, not missed. */
    coio_signals *chld = coio_signals_open((const int[]){SIGCHLD}, 1);
    if (!chld)
        return -errno;
    int r;
    while ((r = try_reap(p)) == 0) {
        r = coio_signals_wait(chld, -1);
        if (r < 0)
            break;
    }
    coio_signals_close(chld);
    return r < 0 ? r : 0;
}

static int send_signal(coio_process *p, int sig, bool group)
{
    if (p->reaped)
        return -ESRCH;
    int r;
    if (group)
        r = kill(-p->pid, sig);
    else if (p->pidfd >= 0)
        r = (int)syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0);
    else
        r = kill(p->pid, sig);
    return r < 0 ? -errno : 0;
}

/* Blocks the thread until p is reaped (outside a task: the child was sent SIGKILL). */
static void reap_blocking(coio_process *p)
{
    siginfo_t si;
    while (!p->reaped) {
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED) < 0) {
            if (errno == EINTR)
                continue;
            return; /* ECHILD: reaped elsewhere */
        }
        p->status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) : 256 + si.si_status;
        p->reaped = true;
    }
}

/* Ends p whatever the caller's cancellation or deadlines: SIGTERM and up to kill_grace
 * seconds when that is set, then SIGKILL; to the process group with KILL_GROUP. */
static void kill_and_reap(coio_process *p)
{
    bool group = p->flags & COIO_PROCESS_KILL_GROUP;
    coio_scope sh;
    if (!coio_current()) {
        send_signal(p, SIGKILL, group);
        reap_blocking(p);
        return;
    }
    if (p->kill_grace > 0 && send_signal(p, SIGTERM, group) == 0) {
        coio_shield_begin(&sh, p->kill_grace);
        wait_exit(p);
        coio_scope_end(&sh);
    }
    if (p->reaped) {
        if (group) /* the leader went; what it left in its group goes too */
            kill(-p->pid, SIGKILL);
        return;
    }
    send_signal(p, SIGKILL, group);
    coio_shield_begin(&sh, -1);
    if (wait_exit(p) < 0)
        reap_blocking(p); /* the wait itself failed (ENOMEM): block instead */
    coio_scope_end(&sh);
}

/* ------------------------------------------------------------------ spawning */

static int stdio_default_flags(int i)
{
    return i == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC;
}

/* An fd >= 3 for the child's end of a pipe: dup2 onto 0-2 clears CLOEXEC only when the
 * numbers differ, and everything above 2 is closed in the child. */
static int above_stdio(int fd)
{
    if (fd > 2)
        return fd;
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    errno = e;
    return d;
}

static void close_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

int coio_process_spawn(coio_process **out, const char *const *argv, const coio_process_opts *o)
{
    static const coio_process_opts none;
    if (!out || !argv || !argv[0] || !argv[0][0])
        return -EINVAL;
    *out = NULL;
    if (!o)
        o = &none;
    coio__loop *L = coio__loop_get();
    if (!L)
        return -EPERM;
    if (o->kill_grace != o->kill_grace || o->kill_grace < 0)
        return -EINVAL;
    for (int i = 0; i < 3; i++) {
        const coio_stdio *s = &o->stdio[i];
        if (s->how < COIO_STDIO_INHERIT || s->how > COIO_STDIO_STDOUT ||
            (s->how == COIO_STDIO_STDOUT && i != 2) || (s->how == COIO_STDIO_FILE && !s->path))
            return -EINVAL;
        if (s->how == COIO_STDIO_FD && s->fd < 0)
            return -EBADF;
    }

    int parent[3] = {-1, -1, -1}, child[3] = {-1, -1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int err = posix_spawn_file_actions_init(&fa);
    if (err)
        return -err;
    err = posix_spawnattr_init(&attr);
    if (err) {
        posix_spawn_file_actions_destroy(&fa);
        return -err;
    }
    for (int i = 0; i < 3 && !err; i++) {
        const coio_stdio *s = &o->stdio[i];
        switch (s->how) {
        case COIO_STDIO_INHERIT:
            break;
        case COIO_STDIO_DEVNULL:
            err = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
            break;
        case COIO_STDIO_FILE:
            err = posix_spawn_file_actions_addopen(
                &fa, i, s->path, s->oflags ? s->oflags : stdio_default_flags(i), 0666);
            break;
        case COIO_STDIO_FD:
            err = posix_spawn_file_actions_adddup2(&fa, s->fd, i);
            break;
        case COIO_STDIO_STDOUT:
            err = posix_spawn_file_actions_adddup2(&fa, 1, 2);
            break;
        case COIO_STDIO_PIPE: {
            int pp[2];
            if (pipe2(pp, O_CLOEXEC) < 0) {
                err = errno;
                break;
            }
            parent[i] = i == 0 ? pp[1] : pp[0];
            child[i] = above_stdio(i == 0 ? pp[0] : pp[1]);
            if (child[i] < 0)
                err = errno;
            else
                err = posix_spawn_file_actions_adddup2(&fa, child[i], i);
            break;
        }
        }
    }
    if (!err && o->cwd)
        err = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    if (!err) /* close_fds: only 0-2 reach the program, whatever lacks CLOEXEC */
        err = posix_spawn_file_actions_addclosefrom_np(&fa, 3);

    short aflags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    sigset_t empty, dfl;
    sigemptyset(&empty);
    /* coio ignores SIGPIPE for its own writes; a program expects it at its default, as
     * Python's subprocess restores it (and SIGXFSZ). */
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGXFSZ);
    if (o->flags & COIO_PROCESS_NEW_SESSION)
        aflags |= POSIX_SPAWN_SETSID;
    else if (o->flags & (COIO_PROCESS_NEW_PGROUP | COIO_PROCESS_KILL_GROUP))
        aflags |= POSIX_SPAWN_SETPGROUP;
    if (!err)
        err = posix_spawnattr_setflags(&attr, aflags);
    if (!err)
        err = posix_spawnattr_setsigmask(&attr, &empty);
    if (!err)
        err = posix_spawnattr_setsigdefault(&attr, &dfl);
    if (!err)
        err = posix_spawnattr_setpgroup(&attr, 0);

    pid_t pid = -1;
    if (!err) {
        char *const *av = (char *const *)argv;
        char *const *env = o->env ? (char *const *)o->env : environ;
        if (strchr(argv[0], '/'))
            err = posix_spawn(&pid, argv[0], &fa, &attr, av, env);
        else
            err = posix_spawnp(&pid, argv[0], &fa, &attr, av, env);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close_fds(child, 3);
    if (err) {
        close_fds(parent, 3);
        return -err;
    }

    coio_process *p = calloc(1, sizeof *p);
    if (!p) {
        close_fds(parent, 3);
        coio_process tmp = {.pid = pid, .pidfd = -1};
        send_signal(&tmp, SIGKILL, false);
        reap_blocking(&tmp);
        return -ENOMEM;
    }
    p->pid = pid;
    p->flags = o->flags;
    p->kill_grace = o->kill_grace;
    /* Safe from pid reuse: the child is ours and nobody has reaped it yet. */
    p->pidfd = pidfd_usable() ? (int)syscall(SYS_pidfd_open, pid, 0) : -1; /* CLOEXEC */
    err = 0;
    for (int i = 0; i < 3; i++) {
        if (parent[i] < 0)
            continue;
        if (!err)
            p->stdio[i] = coio_stream_open(parent[i], COIO_STREAM_OWN_FD);
        if (!p->stdio[i]) {
            err = err ? err : -errno;
            close(parent[i]);
        }
    }
    if (parent[0] >= 0)
        coio__net_init(); /* SIGPIPE policy: a child that stops reading is -EPIPE */
    if (err) {
        coio_process_close(p);
        return err;
    }
    *out = p;
    return 0;
}

int coio_process_shell(coio_process **out, const char *command, const coio_process_opts *o)
{
    if (!command)
        return -EINVAL;
    const char *argv[] = {"/bin/sh", "-c", command, NULL};
    return coio_process_spawn(out, argv, o);
}

/* ------------------------------------------------------------------ the process */

pid_t coio_process_pid(const coio_process *p)
{
    return p ? p->pid : -EINVAL;
}

coio_stream *coio_process_stdin(const coio_process *p)
{
    return p ? p->stdio[0] : NULL;
}

coio_stream *coio_process_stdout(const coio_process *p)
{
    return p ? p->stdio[1] : NULL;
}

coio_stream *coio_process_stderr(const coio_process *p)
{
    return p ? p->stdio[2] : NULL;
}

int coio_process_wait(coio_process *p)
{
    if (!p)
        return -EINVAL;
    int r = wait_exit(p);
    if (r == 0)
        return p->status;
    if (r == -ECANCELED || r == -ETIMEDOUT) {
        kill_and_reap(p);
        return r;
    }
    return r;
}

int coio_process_poll(coio_process *p)
{
    if (!p)
        return -EINVAL;
    int r = try_reap(p);
    if (r < 0)
        return r;
    return r ? p->status : -EAGAIN;
}

int coio_process_kill(coio_process *p, int sig)
{
    if (!p || sig < 0 || sig >= 65)
        return -EINVAL;
    return send_signal(p, sig, false);
}

int coio_process_close(coio_process *p)
{
    if (!p)
        return -EINVAL;
    if (!p->reaped && try_reap(p) == 0)
        kill_and_reap(p);
    for (int i = 0; i < 3; i++)
        if (p->stdio[i])
            coio_stream_abort(p->stdio[i]);
    if (p->pidfd >= 0)
        coio_close(p->pidfd);
    free(p);
    return 0;
}

/* ------------------------------------------------------------------ communicate */

typedef struct comm_reader {
    coio_stream *s;
    char *buf;
    size_t cap, len;
    bool truncated;
} comm_reader;

static int comm_read(void *arg)
{
    comm_reader *c = arg;
    char scratch[16384];
    for (;;) {
        ssize_t n;
        if (c->len < c->cap)
            n = coio_stream_read(c->s, c->buf + c->len, c->cap - c->len);
        else
            n = coio_stream_read(c->s, scratch, sizeof scratch);
        if (n <= 0)
            return (int)n;
        if (c->len < c->cap && c->buf)
            c->len += (size_t)n;
        else
            c->truncated = true; /* past the cap: read on, so the child never blocks */
    }
}

typedef struct comm_writer {
    coio_stream *s;
    const void *data;
    size_t len;
} comm_writer;

static int comm_write(void *arg)
{
    comm_writer *w = arg;
    ssize_t r = w->len ? coio_stream_write(w->s, w->data, w->len) : 0;
    int e = r < 0 ? (int)r : coio_stream_write_eof(w->s);
    /* A child that exits without reading all of its input is not an error. */
    return e == -EPIPE || e == -ECONNRESET ? 0 : e;
}

int coio_process_communicate(coio_process *p, coio_communicate *c)
{
    if (!p || !c || c->timeout != c->timeout || c->timeout < 0 || (c->input_len && !c->input) ||
        (c->input_len && !p->stdio[0]))
        return -EINVAL;
    coio__loop *L = coio__loop_get();
    coio_task *self = L ? L->current : NULL;
    if (!self)
        return -EPERM;
    c->out_len = c->err_len = 0;
    c->truncated = 0;
    comm_writer w = {.s = p->stdio[0], .data = c->input, .len = c->input_len};
    comm_reader rd[2] = {{.s = p->stdio[1], .buf = c->out, .cap = c->out ? c->out_cap : 0},
                         {.s = p->stdio[2], .buf = c->err, .cap = c->err ? c->err_cap : 0}};
    coio_scope sc;
    bool scoped = c->timeout > 0;
    if (scoped)
        coio_timeout_begin(&sc, c->timeout);
    coio_task *tasks[3];
    size_t n = 0;
    if (w.s && coio_stream_fd(w.s) >= 0)
        tasks[n++] = coio_spawn(comm_write, &w);
    for (int i = 0; i < 2; i++)
        if (rd[i].s)
            tasks[n++] = coio_spawn(comm_read, &rd[i]);
    int r = n ? coio_gather_n(tasks, n, NULL) : 0;
    int st = coio_process_wait(p); /* kills and reaps if the scope expired meanwhile */
    if (r < 0 && st >= 0 && (p->flags & COIO_PROCESS_KILL_GROUP))
        kill(-p->pid, SIGKILL); /* the child is gone; what holds its pipes goes too */
    if (scoped) {
        int e = coio_scope_end(&sc);
        if (st >= 0 && e == -ETIMEDOUT && r < 0)
            st = e;
    }
    c->out_len = rd[0].len;
    c->err_len = rd[1].len;
    c->truncated = (rd[0].truncated ? 1u : 0u) | (rd[1].truncated ? 2u : 0u);
    if (st < 0)
        return st;
    return r < 0 ? r : st;
}
