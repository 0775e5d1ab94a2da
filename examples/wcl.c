/*
 * wcl — count lines like `wc -l`, reading many files at once on one thread.
 *
 *   wcl [-c N] FILE...
 *     -c N   at most N files read at a time (default 32)
 *
 * Prints "LINES NAME" per file in argument order, then "LINES total" when there is more
 * than one file, as wc -l does; a file that cannot be read gets "wcl: NAME: reason" on
 * stderr. N tasks take the next file from a shared index and read it 128 KiB at a time
 * with coio_file_pread, so every read runs off the loop thread while the other files
 * progress.
 * Leaves out what wc adds: standard input, words, bytes, --files0-from.
 * Exits 0 if every file was read, 1 otherwise.
 */
#include <coio.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIECE (128 * 1024)

static struct {
    char **names;
    int n, next, concurrency;
    long long *lines; /* per file; -errno when it failed */
} g = {.concurrency = 32};

static long long count_file(const char *name, char *buf)
{
    int fd = coio_file_open(name, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    long long lines = 0;
    int64_t off = 0;
    for (;;) {
        ssize_t r = coio_file_pread(fd, buf, PIECE, off);
        if (r <= 0) {
            if (r < 0)
                lines = r;
            break;
        }
        for (const char *p = buf, *end = buf + r; (p = memchr(p, '\n', (size_t)(end - p)));
             p++)
            lines++;
        off += r;
    }
    coio_file_close(fd);
    return lines;
}

static int counter(void *arg)
{
    (void)arg;
    char *buf = malloc(PIECE);
    if (!buf)
        return -1;
    while (g.next < g.n) {
        int i = g.next++;
        g.lines[i] = count_file(g.names[i], buf);
    }
    free(buf);
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    int n = g.concurrency < g.n ? g.concurrency : g.n;
    coio_task **t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++)
        t[i] = coio_spawn(counter, NULL);
    int r = coio_gather_n(t, (size_t)n, NULL);
    free(t);
    return r;
}

int main(int argc, char **argv)
{
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
        g.concurrency = atoi(argv[i + 1]);
        i += 2;
    }
    if (i >= argc || g.concurrency < 1) {
        fprintf(stderr, "usage: wcl [-c N] FILE...\n");
        return 2;
    }
    g.names = argv + i;
    g.n = argc - i;
    g.lines = calloc((size_t)g.n, sizeof *g.lines);
    int r = coio_run(main_task, NULL);
    if (r < 0) {
        fprintf(stderr, "wcl: %s\n", coio_strerror(r));
        return 1;
    }
    long long total = 0;
    int status = 0;
    for (int k = 0; k < g.n; k++) {
        if (g.lines[k] < 0) {
            fprintf(stderr, "wcl: %s: %s\n", g.names[k], coio_strerror((int)g.lines[k]));
            status = 1;
            continue;
        }
        printf("%lld %s\n", g.lines[k], g.names[k]);
        total += g.lines[k];
    }
    if (g.n > 1)
        printf("%lld total\n", total);
    free(g.lines);
    return status;
}
