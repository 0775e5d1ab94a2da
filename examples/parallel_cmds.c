/*
 * Runs shell commands, at most K at once, each with a timeout, and prints each one's
 * status, output size and time as it finishes. Ctrl-C cancels: running commands are
 * killed (with their process groups) and reaped, then the program ends as Ctrl-C would.
 *
 *   parallel_cmds [-j K] [-t SECONDS] 'command' ...
 *   parallel_cmds -j 2 -t 1 'sleep 0.2; echo hi' 'sleep 5' 'exit 3' 'kill -9 $$' 'seq 100000'
 *
 * Left out: commands from stdin, retries, and the output itself (each command's
 * stdout+stderr is only counted, up to 1 MiB; "+" marks more).
 */
#define _POSIX_C_SOURCE 200809L
#include <coio.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_CAP (1u << 20)

static struct {
    int jobs;
    double timeout;
    char **cmds;
    int ncmds;
    coio_sem *slots;
} cfg = {.jobs = 4, .timeout = 10};

static void describe(int st, char *buf, size_t n)
{
    if (st == -ETIMEDOUT)
        snprintf(buf, n, "timed out");
    else if (st == -ECANCELED)
        snprintf(buf, n, "cancelled");
    else if (st < 0)
        snprintf(buf, n, "error %s", coio_err_name(st));
    else if (COIO_PROCESS_EXITED(st))
        snprintf(buf, n, "exit %d", st);
    else
        snprintf(buf, n, "signal %d", COIO_PROCESS_TERMSIG(st));
}

static int run_one(void *arg)
{
    int i = (int)(intptr_t)arg;
    int r = coio_sem_acquire(cfg.slots);
    if (r < 0)
        return r; /* cancelled while queued: never started */
    double t0 = coio_now();
    coio_process_opts o = {.stdio = {{.how = COIO_STDIO_DEVNULL},
                                     {.how = COIO_STDIO_PIPE},
                                     {.how = COIO_STDIO_STDOUT}},
                           .flags = COIO_PROCESS_KILL_GROUP};
    coio_process *p;
    char *out = malloc(OUT_CAP);
    coio_communicate c = {.out = out, .out_cap = OUT_CAP, .timeout = cfg.timeout};
    int st = out ? coio_process_shell(&p, cfg.cmds[i], &o) : -ENOMEM;
    if (st == 0) {
        st = coio_process_communicate(p, &c);
        coio_process_close(p);
    }
    char what[32];
    describe(st, what, sizeof what);
    printf("[%d] %-10s %8zu%s bytes %7.3f s  %s\n", i + 1, what, c.out_len,
           c.truncated ? "+" : " ", coio_now() - t0, cfg.cmds[i]);
    fflush(stdout);
    free(out);
    coio_sem_release(cfg.slots);
    return st == -ECANCELED ? st : 0;
}

static int main_task(void *arg)
{
    (void)arg;
    cfg.slots = coio_sem_create((unsigned)cfg.jobs);
    coio_task **tasks = calloc((size_t)cfg.ncmds, sizeof *tasks);
    if (!cfg.slots || !tasks)
        return -ENOMEM;
    for (int i = 0; i < cfg.ncmds; i++)
        tasks[i] = coio_spawn(run_one, (void *)(intptr_t)i);
    int r = coio_gather_n(tasks, (size_t)cfg.ncmds, NULL);
    free(tasks);
    coio_sem_destroy(cfg.slots);
    return r;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "j:t:")) != -1) {
        if (opt == 'j')
            cfg.jobs = atoi(optarg);
        else if (opt == 't')
            cfg.timeout = atof(optarg);
        else
            break;
    }
    if (optind >= argc || cfg.jobs < 1 || !(cfg.timeout > 0)) {
        fprintf(stderr, "usage: %s [-j K] [-t SECONDS] 'command' ...\n", argv[0]);
        return 2;
    }
    cfg.cmds = argv + optind;
    cfg.ncmds = argc - optind;
    double t0 = coio_now();
    int r = coio_run(main_task, NULL);
    printf("%d commands in %.3f s%s\n", cfg.ncmds, coio_now() - t0,
           r == -ECANCELED ? " (interrupted)" : "");
    if (r == -ECANCELED) { /* end as Ctrl-C ends a program: the shell sees status 130 */
        fflush(stdout);
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
    }
    return r < 0 ? 1 : 0;
}
