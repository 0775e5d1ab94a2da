/*
 * copy — copy files and directory trees with many copies in flight, on one thread.
 *
 *   copy [-c N] [-s] SRC... DEST
 *     -c N   at most N files copied at a time (default 16)
 *     -s     fsync every file copied (COIO_FILE_SYNC)
 *
 * With one SRC that is a file, DEST is the copy's name (or a directory to copy into).
 * Otherwise DEST is a directory (created if missing) and each SRC is copied into it
 * under its own name; a directory SRC is copied whole. One task walks the sources and
 * queues the files; N tasks copy them with coio_file_copy (copy_file_range inside the
 * kernel where it works). Ends with a line of totals:
 *
 *   copied 10000 files, 40960000 bytes in 0.84 s: 11905 files/s, 48.8 MB/s
 *
 * Leaves out what cp -a adds: owners, times, symlinks and special files (reported and
 * skipped), hard links, sparse files.
 * Exits 0 if everything was copied, 1 if some file failed, 2 on bad usage.
 */
#define _GNU_SOURCE /* PATH_MAX */
#include <coio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct job {
    char src[PATH_MAX], dst[PATH_MAX];
} job;

static struct {
    int concurrency;
    unsigned flags;
    coio_queue *q;
    long files, failed;
    int64_t bytes;
} g = {.concurrency = 16};

static void report(const char *what, const char *path, int err)
{
    fprintf(stderr, "copy: %s %s: %s\n", what, path, coio_strerror(err));
    g.failed++;
}

static int copier(void *arg)
{
    (void)arg;
    void *item;
    while (coio_queue_get(g.q, &item) == 0) {
        job *j = item;
        int64_t n = coio_file_copy(j->src, j->dst, g.flags);
        if (n < 0) {
            report("copying", j->src, (int)n);
        } else {
            g.files++;
            g.bytes += n;
        }
        free(j);
    }
    return 0; /* the queue was shut down and is empty */
}

static int queue_file(const char *src, const char *dst)
{
    job *j = malloc(sizeof *j);
    if (!j)
        return -ENOMEM;
    snprintf(j->src, sizeof j->src, "%s", src);
    snprintf(j->dst, sizeof j->dst, "%s", dst);
    int r = coio_queue_put(g.q, j); /* waits while N * 4 files are queued */
    if (r < 0)
        free(j);
    return r;
}

/* Copies src (a file or a tree) to dst. */
static int walk(const char *src, const char *dst)
{
    struct stat st;
    int r = coio_file_lstat(src, &st);
    if (r < 0) {
        report("reading", src, r);
        return r == -ECANCELED ? r : 0;
    }
    if (S_ISREG(st.st_mode))
        return queue_file(src, dst);
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "copy: skipping %s: not a regular file or directory\n", src);
        return 0;
    }
    r = coio_file_mkdir(dst, st.st_mode & 0777);
    if (r < 0 && r != -EEXIST) {
        report("creating", dst, r);
        return 0;
    }
    coio_dir *d;
    r = coio_dir_open(src, &d);
    if (r < 0) {
        report("listing", src, r);
        return 0;
    }
    coio_dirent e;
    char s2[PATH_MAX], d2[PATH_MAX];
    while ((r = coio_dir_next(d, &e)) == 1) {
        if (snprintf(s2, sizeof s2, "%s/%s", src, e.name) >= (int)sizeof s2 ||
            snprintf(d2, sizeof d2, "%s/%s", dst, e.name) >= (int)sizeof d2) {
            report("naming", s2, -ENAMETOOLONG);
            continue;
        }
        r = walk(s2, d2);
        if (r < 0)
            break;
    }
    if (r < 0 && r != -ECANCELED)
        report("listing", src, r);
    coio_dir_close(d);
    return r < 0 ? r : 0;
}

static const char *base_name(const char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    const char *s = p + n;
    while (s > p && s[-1] != '/')
        s--;
    return s;
}

struct args {
    int n;
    char **paths; /* n sources, then DEST */
};

static int main_task(void *arg)
{
    struct args *a = arg;
    const char *dest = a->paths[a->n];
    g.q = coio_queue_create(COIO_QUEUE_FIFO, (size_t)g.concurrency * 4, NULL);
    if (!g.q)
        return -ENOMEM;
    coio_task **t = calloc((size_t)g.concurrency, sizeof *t);
    for (int i = 0; i < g.concurrency; i++)
        t[i] = coio_spawn(copier, NULL);
    double start = coio_now();

    struct stat st;
    int dr = coio_file_stat(dest, &st);
    bool into = dr == 0 && S_ISDIR(st.st_mode);
    int r = 0;
    if (a->n == 1 && !into) {
        r = walk(a->paths[0], dest);
    } else {
        if (dr == -ENOENT)
            dr = coio_file_mkdir(dest, 0777);
        else if (dr == 0 && !into)
            dr = -ENOTDIR;
        if (dr < 0) {
            report("using", dest, dr);
            r = dr;
        }
        for (int i = 0; r >= 0 && i < a->n; i++) {
            char d[PATH_MAX];
            snprintf(d, sizeof d, "%s/%s", dest, base_name(a->paths[i]));
            r = walk(a->paths[i], d);
        }
    }
    coio_queue_shutdown(g.q, 0); /* copiers finish what is queued, then return */
    coio_gather_n(t, (size_t)g.concurrency, NULL);
    double s = coio_now() - start;
    if (s <= 0)
        s = 1e-9;
    printf("copied %ld files, %lld bytes in %.2f s: %.0f files/s, %.1f MB/s\n", g.files,
           (long long)g.bytes, s, g.files / s, (double)g.bytes / s / 1e6);
    free(t);
    coio_queue_destroy(g.q);
    return r < 0 || g.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            g.concurrency = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-s") == 0) {
            g.flags |= COIO_FILE_SYNC;
        } else {
            break;
        }
    }
    if (argc - i < 2 || g.concurrency < 1) {
        fprintf(stderr, "usage: copy [-c N] [-s] SRC... DEST\n");
        return 2;
    }
    struct args a = {.n = argc - i - 1, .paths = argv + i};
    int r = coio_run(main_task, &a);
    if (r < 0) {
        fprintf(stderr, "copy: %s\n", coio_strerror(r));
        return 1;
    }
    return r;
}
