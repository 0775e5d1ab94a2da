/* coio-test: io timeout=180 */
/* Files (coio_file_*, coio_dir_*, coio_sendfile) on real files in a temporary directory
 * under /tmp, and the worker pool's bound. Runs once per backend (COIO_BACKEND). */
#define _GNU_SOURCE
#include "coio_test.h"

#include <dirent.h>
#include <linux/magic.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------------------- */

/* Checks inside tasks record the first failure and end the task; the case asserts that
 * nothing failed once the loop has ended. */
static char g_fail[512];

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            if (!g_fail[0])                                                              \
                snprintf(g_fail, sizeof g_fail, "line %d: %s", __LINE__, #cond);         \
            return -1;                                                                   \
        }                                                                                \
    } while (0)

#define CHECK_RC(expr, want)                                                             \
    do {                                                                                 \
        long g_ = (long)(expr), w_ = (long)(want);                                       \
        if (g_ != w_) {                                                                  \
            if (!g_fail[0])                                                              \
                snprintf(g_fail, sizeof g_fail, "line %d: %s = %ld (%s), want %ld (%s)", \
                         __LINE__, #expr, g_, g_ < 0 ? coio_err_name((int)g_) : "ok", w_, \
                         w_ < 0 ? coio_err_name((int)w_) : "ok");                        \
            return -1;                                                                   \
        }                                                                                \
    } while (0)

static char g_dir[64];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

/* Runs main_fn in a loop with a fresh temporary directory g_dir, then removes it and
 * asserts that no check failed. */
static void run_in_tmpdir(int (*main_fn)(void *), void *arg)
{
    require_backend();
    strcpy(g_dir, "/tmp/coio-fs-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    g_fail[0] = '\0';
    int rc = coio_run(main_fn, arg);
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (g_fail[0]) {
        print_error("%s\n", g_fail);
        fail();
    }
    coio_assert_rc(rc, 0);
}

/* A case that is only "run main_fn in a fresh directory". */
#define TMPDIR_CASE(name, main_fn)                                                       \
    static void name(void **state)                                                       \
    {                                                                                    \
        (void)state;                                                                     \
        run_in_tmpdir(main_fn, NULL);                                                    \
    }

static void path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

/* Byte i of the test pattern: differs between neighbouring 4 KiB blocks and offsets. */
static unsigned char pat(uint64_t i)
{
    return (unsigned char)(i * 131 + (i >> 12) * 7 + 1);
}

static char *pattern(size_t n)
{
    char *b = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)pat(i);
    return b;
}

/* ---- sizes and positions ----------------------------------------------------------- */

static int sizes_main(void *arg)
{
    (void)arg;
    static const size_t sizes[] = {0, 1, 4096, (1u << 20) + 1, (5u << 20) + 3};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        char path[128];
        snprintf(path, sizeof path, "%s/size%zu", g_dir, n);
        char *data = pattern(n);
        CHECK_RC(coio_file_write_all(path, data, n, 0), 0);

        void *got = NULL;
        CHECK_RC(coio_file_read_all(path, n, &got), (long)n);
        CHECK(memcmp(got, data, n) == 0 && ((char *)got)[n] == '\0');
        free(got);

        /* Read at the file position in pieces that do not divide the size. */
        int fd = coio_file_open(path, O_RDONLY, 0);
        CHECK(fd >= 0);
        char *buf = malloc(n + 10000);
        size_t off = 0;
        for (;;) {
            ssize_t r = coio_file_read(fd, buf + off, 9999);
            CHECK(r >= 0);
            if (r == 0)
                break;
            off += (size_t)r;
        }
        CHECK_RC(off, n);
        CHECK(memcmp(buf, data, n) == 0);
        /* One read of the whole size (chunked inside for the large ones). */
        CHECK_RC(coio_file_pread(fd, buf, n + 10000, 0), (long)n);
        CHECK(memcmp(buf, data, n) == 0);
        struct stat st;
        CHECK_RC(coio_file_fstat(fd, &st), 0);
        CHECK_RC(st.st_size, (long)n);
        CHECK_RC(coio_file_close(fd), 0);
        free(buf);
        free(data);
    }
    return 0;
}

TMPDIR_CASE(sizes_0_1_4096_1mib_round_trip, sizes_main)

static int short_read_main(void *arg)
{
    (void)arg;
    char path[128], buf[100];
    path_of(path, sizeof path, "ten");
    CHECK_RC(coio_file_write_all(path, "0123456789", 10, 0), 0);
    int fd = coio_file_open(path, O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK_RC(coio_file_pread(fd, buf, sizeof buf, 5), 5);
    CHECK(memcmp(buf, "56789", 5) == 0);
    CHECK_RC(coio_file_pread(fd, buf, sizeof buf, 10), 0);
    CHECK_RC(coio_file_pread(fd, buf, sizeof buf, 1000), 0);
    CHECK_RC(coio_file_read(fd, buf, 3), 3);
    CHECK_RC(coio_file_read(fd, buf, sizeof buf), 7);
    CHECK(memcmp(buf, "3456789", 7) == 0);
    CHECK_RC(coio_file_read(fd, buf, sizeof buf), 0);
    CHECK_RC(coio_file_close(fd), 0);
    return 0;
}

TMPDIR_CASE(short_reads_at_eof, short_read_main)

static int append_main(void *arg)
{
    (void)arg;
    char path[128], buf[64];
    path_of(path, sizeof path, "log");
    CHECK_RC(coio_file_write_all(path, "first\n", 6, 0), 0);
    int fd = coio_file_open(path, O_WRONLY | O_APPEND, 0);
    CHECK(fd >= 0);
    CHECK_RC(coio_file_write(fd, "second\n", 7), 7);
    struct iovec iov[2] = {{"thi", 3}, {"rd\n", 3}};
    CHECK_RC(coio_file_writev(fd, iov, 2), 6);
    CHECK_RC(coio_file_close(fd), 0);
    fd = coio_file_open(path, O_RDONLY, 0);
    CHECK_RC(coio_file_read(fd, buf, sizeof buf), 19);
    CHECK(memcmp(buf, "first\nsecond\nthird\n", 19) == 0);
    CHECK_RC(coio_file_close(fd), 0);
    return 0;
}

TMPDIR_CASE(o_append_writes_go_to_the_end, append_main)

/* ---- concurrency ------------------------------------------------------------------- */

#define PREAD_FILE (3u << 20)

struct preads {
    int fd;
    unsigned seed;
    int bad;
};

static int pread_worker(void *arg)
{
    struct preads *p = arg;
    unsigned s = p->seed;
    char buf[8192];
    for (int i = 0; i < 60; i++) {
        s = s * 1103515245u + 12345u;
        uint64_t off = (s >> 4) % PREAD_FILE;
        size_t n = 1 + (s >> 8) % sizeof buf;
        ssize_t r = coio_file_pread(p->fd, buf, n, (int64_t)off);
        size_t want = off + n > PREAD_FILE ? PREAD_FILE - off : n;
        if (r != (ssize_t)want) {
            p->bad = 1;
            return -1;
        }
        for (size_t k = 0; k < want; k++)
            if ((unsigned char)buf[k] != pat(off + k)) {
                p->bad = 1;
                return -1;
            }
    }
    return 0;
}

static int preads_main(void *arg)
{
    (void)arg;
    char path[128];
    path_of(path, sizeof path, "big");
    char *data = pattern(PREAD_FILE);
    CHECK_RC(coio_file_write_all(path, data, PREAD_FILE, 0), 0);
    free(data);
    int fd = coio_file_open(path, O_RDONLY, 0);
    CHECK(fd >= 0);
    enum { N = 64 };
    struct preads p[N];
    coio_task *t[N];
    for (int i = 0; i < N; i++) {
        p[i] = (struct preads){.fd = fd, .seed = (unsigned)i * 7919u + 1};
        t[i] = coio_spawn(pread_worker, &p[i]);
    }
    int rc = coio_gather_n(t, N, NULL);
    for (int i = 0; i < N; i++)
        CHECK(!p[i].bad);
    CHECK_RC(rc, 0);
    CHECK_RC(coio_file_close(fd), 0);
    return 0;
}

TMPDIR_CASE(concurrent_preads_at_many_offsets_match_byte_for_byte, preads_main)

static int fsync_main(void *arg)
{
    (void)arg;
    char path[128];
    path_of(path, sizeof path, "synced");
    int fd = coio_file_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    char *data = pattern(100000);
    CHECK_RC(coio_file_pwrite(fd, data, 100000, 0), 100000);
    CHECK_RC(coio_file_fsync(fd), 0);
    CHECK_RC(coio_file_fdatasync(fd), 0);
    char *back = malloc(100000);
    struct iovec iov[2] = {{back, 1000}, {back + 1000, 99000}};
    CHECK_RC(coio_file_preadv(fd, iov, 2, 0), 100000);
    CHECK(memcmp(back, data, 100000) == 0);
    /* And through an independent descriptor. */
    int fd2 = coio_file_open(path, O_RDONLY, 0);
    memset(back, 0, 100000);
    CHECK_RC(coio_file_readv(fd2, iov, 2), 100000);
    CHECK(memcmp(back, data, 100000) == 0);
    struct iovec w[1] = {{(char *)"XY", 2}};
    CHECK_RC(coio_file_pwritev(fd, w, 1, 10), 2);
    CHECK_RC(coio_file_pread(fd2, back, 4, 9), 4);
    CHECK(back[1] == 'X' && back[2] == 'Y' && back[0] == data[9] && back[3] == data[12]);
    CHECK_RC(coio_file_ftruncate(fd, 50), 0);
    CHECK_RC(coio_file_fallocate(fd, 0, 0, 8192), 0);
    struct statx sx;
    CHECK_RC(coio_file_statx(AT_FDCWD, path, 0, STATX_SIZE | STATX_BLOCKS, &sx), 0);
    CHECK_RC(sx.stx_size, 8192);
    CHECK_RC(coio_file_close(fd2), 0);
    CHECK_RC(coio_file_close(fd), 0);
    free(back);
    free(data);
    return 0;
}

TMPDIR_CASE(write_fsync_then_read_back, fsync_main)

/* ---- errors ------------------------------------------------------------------------ */

static int errors_main(void *arg)
{
    (void)arg;
    char path[128], sub[160], buf[8];
    struct stat st;
    void *data = NULL;
    path_of(path, sizeof path, "missing");
    CHECK_RC(coio_file_open(path, O_RDONLY, 0), -ENOENT);
    CHECK_RC(coio_file_stat(path, &st), -ENOENT);
    CHECK_RC(coio_file_read_all(path, 100, &data), -ENOENT);
    CHECK(data == NULL);
    CHECK_RC(coio_file_unlink(path), -ENOENT);
    CHECK_RC(coio_file_copy(path, path, 0), -ENOENT);

    CHECK_RC(coio_file_open(g_dir, O_WRONLY, 0), -EISDIR);
    CHECK_RC(coio_file_read_all(g_dir, 100, &data), -EISDIR);
    CHECK_RC(coio_file_unlink(g_dir), -EISDIR);

    path_of(path, sizeof path, "plain");
    CHECK_RC(coio_file_write_all(path, "x", 1, 0), 0);
    snprintf(sub, sizeof sub, "%s/below", path);
    CHECK_RC(coio_file_open(sub, O_RDONLY, 0), -ENOTDIR);
    CHECK_RC(coio_file_mkdir(sub, 0700), -ENOTDIR);
    coio_dir *d;
    CHECK_RC(coio_dir_open(path, &d), -ENOTDIR);
    CHECK(d == NULL);

    int fd = coio_file_open(path, O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK_RC(coio_file_write(fd, "y", 1), -EBADF);
    CHECK_RC(coio_file_pwrite(fd, "y", 1, 0), -EBADF);
    CHECK_RC(coio_file_ftruncate(fd, 0), -EINVAL); /* the kernel's for a read-only fd */
    CHECK_RC(coio_file_close(fd), 0);
    CHECK_RC(coio_file_read(fd, buf, 1), -EBADF);
    CHECK_RC(coio_file_read(-1, buf, 1), -EBADF);

    CHECK_RC(coio_file_read_all(path, 0, &data), -EFBIG);
    CHECK_RC(coio_file_write_all(path, "z", 1, COIO_FILE_EXCL), -EEXIST);
    CHECK_RC(coio_file_write_all(path, "z", 1, COIO_FILE_EXCL | COIO_FILE_ATOMIC), -EEXIST);
    CHECK_RC(coio_file_open(NULL, O_RDONLY, 0), -EINVAL);
    CHECK_RC(coio_file_pread(0, buf, 1, -1), -EINVAL);
    CHECK_RC(coio_file_write_all(path, "z", 1, 0x100), -EINVAL);
    return 0;
}

TMPDIR_CASE(errors_enoent_eisdir_enotdir_ebadf, errors_main)

static void calls_outside_a_task_return_eperm(void **state)
{
    (void)state;
    char buf[4];
    struct stat st;
    assert_int_equal(coio_file_open("/", O_RDONLY, 0), -EPERM);
    assert_int_equal(coio_file_stat("/", &st), -EPERM);
    assert_int_equal(coio_file_pread(0, buf, 1, 0), -EPERM);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(coio_file_close(fd), 0); /* close works anywhere */
}

/* ---- many files -------------------------------------------------------------------- */

#define NFILES 10000
#define INFLIGHT 64

struct many {
    atomic_int next;
    int pass; /* 0 write, 1 read, 2 unlink */
    long bytes;
    int bad;
    int inflight, max_inflight;
};

static int many_worker(void *arg)
{
    struct many *m = arg;
    char path[128], buf[64];
    for (;;) {
        int i = m->next++;
        if (i >= NFILES)
            return 0;
        snprintf(path, sizeof path, "%s/d/f%05d", g_dir, i);
        int len = snprintf(buf, sizeof buf, "file %d\n", i);
        if (++m->inflight > m->max_inflight)
            m->max_inflight = m->inflight;
        int r = 0;
        if (m->pass == 0) {
            r = coio_file_write_all(path, buf, (size_t)len, 0);
        } else if (m->pass == 1 && i % 2) {
            void *d = NULL;
            ssize_t n = coio_file_read_all(path, 1 << 20, &d);
            if (n != len || memcmp(d, buf, (size_t)len) != 0)
                m->bad = 1;
            free(d);
        } else if (m->pass == 1) {
            char got[64];
            int fd = coio_file_open(path, O_RDONLY, 0);
            ssize_t n = fd >= 0 ? coio_file_read(fd, got, sizeof got) : fd;
            if (n != len || memcmp(got, buf, (size_t)len) != 0)
                m->bad = 1;
            if (fd >= 0)
                r = coio_file_close(fd);
        } else {
            r = coio_file_unlink(path);
        }
        m->inflight--;
        if (r < 0) {
            m->bad = 1;
            return r;
        }
    }
}

static int many_pass(struct many *m, int pass)
{
    m->next = 0;
    m->pass = pass;
    coio_task *t[INFLIGHT];
    for (int i = 0; i < INFLIGHT; i++)
        t[i] = coio_spawn(many_worker, m);
    return coio_gather_n(t, INFLIGHT, NULL);
}

static int many_main(void *arg)
{
    int fds0 = *(int *)arg;
    char dir[128];
    path_of(dir, sizeof dir, "d");
    CHECK_RC(coio_file_mkdir(dir, 0700), 0);
    struct many m = {.bad = 0};
    CHECK_RC(many_pass(&m, 0), 0);
    CHECK(coio_test_count_fds() <= fds0 + 8); /* the loop's own (ring, eventfd) */
    CHECK_RC(many_pass(&m, 1), 0);
    CHECK(!m.bad);
    CHECK(m.max_inflight == INFLIGHT);

    coio_dir *d;
    CHECK_RC(coio_dir_open(dir, &d), 0);
    coio_dirent e;
    int n = 0, r;
    while ((r = coio_dir_next(d, &e)) == 1) {
        CHECK(strncmp(e.name, "f", 1) == 0 && e.type == DT_REG);
        n++;
    }
    CHECK_RC(r, 0);
    CHECK_RC(coio_dir_close(d), 0);
    CHECK_RC(n, NFILES);

    CHECK_RC(many_pass(&m, 2), 0);
    CHECK_RC(coio_file_rmdir(dir), 0);
    return 0;
}

static void ten_thousand_files_under_a_limit_leak_no_fd(void **state)
{
    (void)state;
    int fds0 = coio_test_count_fds();
    run_in_tmpdir(many_main, &fds0);
    assert_int_equal(coio_test_count_fds(), fds0);
}

/* ---- directories, copy, rename ----------------------------------------------------- */

static int dirs_main(void *arg)
{
    (void)arg;
    char a[128], b[128], sub[128];
    path_of(a, sizeof a, "a");
    path_of(b, sizeof b, "b");
    path_of(sub, sizeof sub, "sub");
    CHECK_RC(coio_file_mkdir(sub, 0700), 0);
    CHECK_RC(coio_file_mkdir(sub, 0700), -EEXIST);
    size_t n = (3u << 20) + 7;
    char *data = pattern(n);
    CHECK_RC(coio_file_write_all(a, data, n, COIO_FILE_SYNC), 0);
    CHECK_RC(coio_file_copy(a, b, 0), (long)n);
    CHECK_RC(coio_file_copy(a, b, COIO_FILE_EXCL), -EEXIST);
    void *got;
    CHECK_RC(coio_file_read_all(b, n, &got), (long)n);
    CHECK(memcmp(got, data, n) == 0);
    free(got);
    CHECK_RC(coio_file_read_all(b, n - 1, &got), -EFBIG);

    char moved[160];
    snprintf(moved, sizeof moved, "%s/moved", sub);
    CHECK_RC(coio_file_rename(b, moved), 0);
    struct stat st;
    CHECK_RC(coio_file_stat(b, &st), -ENOENT);
    CHECK_RC(coio_file_lstat(moved, &st), 0);
    CHECK_RC(st.st_size, (long)n);

    coio_dir *d;
    CHECK_RC(coio_dir_open(g_dir, &d), 0);
    coio_dirent e;
    int seen = 0;
    while (coio_dir_next(d, &e) == 1) {
        if (strcmp(e.name, "a") == 0 && e.type == DT_REG)
            seen |= 1;
        else if (strcmp(e.name, "sub") == 0 && e.type == DT_DIR)
            seen |= 2;
        else
            seen |= 4;
    }
    CHECK_RC(coio_dir_close(d), 0);
    CHECK_RC(seen, 3);
    CHECK_RC(coio_file_rmdir(sub), -ENOTEMPTY);
    CHECK_RC(coio_file_unlink(moved), 0);
    CHECK_RC(coio_file_rmdir(sub), 0);

    /* A file with no size in stat (procfs) is read to its end. */
    CHECK(coio_file_read_all("/proc/self/status", 1 << 20, &got) > 0);
    CHECK(strncmp(got, "Name:", 5) == 0);
    free(got);
    free(data);
    return 0;
}

TMPDIR_CASE(dirs_copy_rename_and_read_all, dirs_main)

/* read_all of a file another thread appends to: every call returns a prefix of the
 * pattern, NUL-terminated, at least as long as the file was when the call began. The
 * first 4 KiB are there from the start, so a small file's quick read (sized at open)
 * and the pool's both meet a file that grew after its size was taken. */
struct grower {
    char path[128];
    atomic_int stop;
    atomic_long size;
};

static void *grow_thread(void *arg)
{
    struct grower *g = arg;
    int fd = open(g->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    long n = atomic_load(&g->size);
    unsigned char chunk[97];
    for (int k = 1; !atomic_load(&g->stop) && n < (200 << 10); k = k % 97 + 1) {
        for (int i = 0; i < k; i++)
            chunk[i] = pat((uint64_t)(n + i));
        if (write(fd, chunk, (size_t)k) != k)
            break;
        n += k;
        atomic_store(&g->size, n);
        if (k % 8 == 0)
            usleep(10);
    }
    close(fd);
    return NULL;
}

static int growing_main(void *arg)
{
    (void)arg;
    struct grower g = {.size = 4096};
    path_of(g.path, sizeof g.path, "growing");
    char *p = pattern(4096);
    CHECK_RC(coio_file_write_all(g.path, p, 4096, 0), 0);
    free(p);
    pthread_t th;
    CHECK_RC(pthread_create(&th, NULL, grow_thread, &g), 0);
    int bad = 0;
    for (int i = 0; i < 400 && !bad; i++) {
        long before = atomic_load(&g.size);
        void *d;
        ssize_t n = coio_file_read_all(g.path, 1 << 20, &d);
        if (n < before) {
            bad = 1;
            break;
        }
        const unsigned char *b = d;
        for (ssize_t j = 0; j < n && !bad; j++)
            bad = b[j] != pat((uint64_t)j);
        bad |= b[n] != 0;
        free(d);
    }
    atomic_store(&g.stop, 1);
    pthread_join(th, NULL);
    CHECK_RC(bad, 0);
    return 0;
}
TMPDIR_CASE(read_all_of_a_growing_file_returns_a_whole_prefix, growing_main)

/* ---- cancellation ------------------------------------------------------------------ */

#define BIG (96u << 20)

struct big_io {
    int fd;
    char *buf;
    ssize_t r;
    bool write;
};

static int big_io_fn(void *arg)
{
    struct big_io *b = arg;
    b->r = b->write ? coio_file_pwrite(b->fd, b->buf, BIG, 0)
                    : coio_file_pread(b->fd, b->buf, BIG, 0);
    return 0;
}

static int cancel_read_main(void *arg)
{
    (void)arg;
    char path[128];
    path_of(path, sizeof path, "big");
    char *data = pattern(BIG);
    CHECK_RC(coio_file_write_all(path, data, BIG, 0), 0);
    struct big_io b = {.buf = malloc(BIG)};
    memset(b.buf, 0xEE, BIG);
    b.fd = coio_file_open(path, O_RDONLY, 0);
    CHECK(b.fd >= 0);
    coio_task *t = coio_spawn(big_io_fn, &b);
    coio_sleep(0.003);
    coio_cancel(t);
    CHECK_RC(coio_await(t), 0);
    CHECK(b.r == -ECANCELED || (b.r > 0 && b.r < (ssize_t)BIG));
    size_t k = b.r > 0 ? (size_t)b.r : 0;
    CHECK(memcmp(b.buf, data, k) == 0);
    coio_sleep(0.05); /* a thread still writing would show now */
    for (size_t i = k; i < BIG; i++)
        CHECK((unsigned char)b.buf[i] == 0xEE);
    CHECK_RC(coio_file_close(b.fd), 0);
    free(b.buf);
    free(data);
    return 0;
}

TMPDIR_CASE(cancel_mid_large_read_leaves_rest_of_buffer_untouched, cancel_read_main)

static int cancel_write_main(void *arg)
{
    (void)arg;
    char path[128];
    path_of(path, sizeof path, "out");
    struct big_io b = {.buf = pattern(BIG), .write = true};
    b.fd = coio_file_open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(b.fd >= 0);
    coio_task *t = coio_spawn(big_io_fn, &b);
    coio_sleep(0.003);
    coio_cancel(t);
    CHECK_RC(coio_await(t), 0);
    CHECK(b.r == -ECANCELED || (b.r > 0 && b.r < (ssize_t)BIG));
    size_t k = b.r > 0 ? (size_t)b.r : 0;
    coio_sleep(0.05);
    /* The file holds exactly the prefix the call reported, and nothing after it. */
    struct stat st;
    CHECK_RC(coio_file_fstat(b.fd, &st), 0);
    CHECK_RC(st.st_size, (long)k);
    CHECK_RC(coio_file_close(b.fd), 0);
    void *got;
    CHECK_RC(coio_file_read_all(path, BIG, &got), (long)k);
    CHECK(memcmp(got, b.buf, k) == 0);
    free(got);
    free(b.buf);
    return 0;
}

TMPDIR_CASE(cancel_mid_large_write_writes_only_the_reported_prefix, cancel_write_main)

struct atomic_w {
    const char *path;
    const char *data;
    size_t n;
    int r;
};

static int atomic_writer(void *arg)
{
    struct atomic_w *w = arg;
    w->r = coio_file_write_all(w->path, w->data, w->n, COIO_FILE_ATOMIC);
    return 0;
}

static int atomic_main(void *arg)
{
    (void)arg;
    char path[128];
    path_of(path, sizeof path, "config");
    size_t oldn = 1u << 20, newn = 6u << 20;
    char *olddata = malloc(oldn), *newdata = malloc(newn);
    memset(olddata, 'A', oldn);
    memset(newdata, 'B', newn);
    CHECK_RC(coio_file_write_all(path, olddata, oldn, 0), 0);
    CHECK_RC(chmod(path, 0640), 0);
    int kept = 0, replaced = 0;
    for (int i = 0; i < 24; i++) {
        struct atomic_w w = {.path = path, .data = newdata, .n = newn};
        coio_task *t = coio_spawn(atomic_writer, &w);
        coio_sleep(i * 0.0007);
        coio_cancel(t);
        CHECK_RC(coio_await(t), 0);
        CHECK(w.r == 0 || w.r == -ECANCELED);
        void *got;
        ssize_t n = coio_file_read_all(path, newn, &got);
        if (n == (ssize_t)oldn && memcmp(got, olddata, oldn) == 0) {
            kept++;
            CHECK_RC(w.r, -ECANCELED);
        } else {
            CHECK_RC(n, (long)newn);
            CHECK(memcmp(got, newdata, newn) == 0);
            replaced++;
            CHECK_RC(coio_file_write_all(path, olddata, oldn, COIO_FILE_ATOMIC), 0);
        }
        free(got);
        struct stat st;
        CHECK_RC(coio_file_stat(path, &st), 0);
        CHECK_RC(st.st_mode & 0777, 0640);
        /* No temporary file is left behind. */
        coio_dir *d;
        CHECK_RC(coio_dir_open(g_dir, &d), 0);
        coio_dirent e;
        int entries = 0;
        while (coio_dir_next(d, &e) == 1)
            entries++;
        coio_dir_close(d);
        CHECK_RC(entries, 1);
    }
    CHECK(kept > 0);
    free(olddata);
    free(newdata);
    return 0;
}

TMPDIR_CASE(cancelled_atomic_write_leaves_old_or_new_never_a_mix, atomic_main)

/* ---- off the loop thread ----------------------------------------------------------- */

struct fifo_run {
    char path[128];
    int ticks, ticks_at_open;
    int fd;
    char byte;
};

static int fifo_reader(void *arg)
{
    struct fifo_run *f = arg;
    /* Blocks in open(2) until a writer opens the FIFO: on a worker, not the loop. */
    f->fd = coio_file_open(f->path, O_RDONLY, 0);
    f->ticks_at_open = f->ticks;
    if (f->fd >= 0 && coio_file_read(f->fd, &f->byte, 1) != 1)
        f->byte = 0;
    return 0;
}

static int fifo_main(void *arg)
{
    struct fifo_run *f = arg;
    path_of(f->path, sizeof f->path, "fifo");
    CHECK_RC(mkfifo(f->path, 0600), 0);
    coio_task *t = coio_spawn(fifo_reader, f);
    while (f->ticks < 20) { /* the loop runs on while the reader's open blocks */
        coio_sleep(0.002);
        f->ticks++;
    }
    /* The reader is waiting in open(2), so a non-blocking open for writing succeeds. */
    int w = open(f->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(w >= 0);
    CHECK_RC(write(w, "!", 1), 1);
    CHECK_RC(coio_await(t), 0);
    close(w);
    CHECK(f->fd >= 0);
    CHECK_RC(f->byte, '!');
    CHECK_RC(f->ticks_at_open, 20);
    CHECK_RC(coio_file_close(f->fd), 0);
    return 0;
}

static void blocking_open_of_a_fifo_runs_off_the_loop_thread(void **state)
{
    (void)state;
    /* The pool path. io_uring's own OPENAT does not wait for a FIFO's writer (it opens
     * non-blocking first, docs/files.md), so there is nothing to wait through there. */
    setenv("COIO_URING_FILES", "0", 1);
    struct fifo_run f = {.fd = -1};
    run_in_tmpdir(fifo_main, &f);
}

/* /proc/thread-self names the thread that opens it: opened by a file call, it shows
 * where the call ran. */
static int thread_self_main(void *arg)
{
    (void)arg;
    void *got;
    CHECK_RC(coio_file_read_all("/proc/thread-self/comm", 64, &got), 12);
    CHECK(strcmp(got, "coio-worker\n") == 0);
    free(got);
    char name[32] = "";
    int fd = coio_file_open("/proc/thread-self/comm", O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK(coio_file_read(fd, name, sizeof name - 1) > 0);
    CHECK(strcmp(name, "coio-worker\n") == 0);
    CHECK_RC(coio_file_close(fd), 0);
    return 0;
}

static void file_calls_run_on_a_pool_thread(void **state)
{
    (void)state;
    /* io_uring opens and reads in the kernel (inline, or on its own iou-wrk threads):
     * this checks the pool path, which epoll always takes. */
    setenv("COIO_URING_FILES", "0", 1);
    pthread_setname_np(pthread_self(), "fs-test-main");
    run_in_tmpdir(thread_self_main, NULL);
}

/* On io_uring the kernel opens the file itself (inline or on an iou-wrk thread): no pool
 * thread is involved. On epoll the pool opens it. */
static int native_main(void *arg)
{
    (void)arg;
    char name[32] = "";
    int fd = coio_file_open("/proc/thread-self/comm", O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK(coio_file_read(fd, name, sizeof name - 1) > 0);
    CHECK_RC(coio_file_close(fd), 0);
    if (strcmp(coio_backend_name(), "io_uring") == 0)
        CHECK(strcmp(name, "coio-worker\n") != 0);
    else
        CHECK(strcmp(name, "coio-worker\n") == 0);
    return 0;
}

TMPDIR_CASE(io_uring_opens_natively_epoll_on_the_pool, native_main)

/* ---- cached reads on the loop thread ---------------------------------------------- */

/* Whether thread `tid` (an entry of /proc/self/task) is a pool thread: named coio-worker. */
static bool is_pool_thread(const char *tid)
{
    char p[300], name[32] = "";
    if (tid[0] == '.')
        return false;
    snprintf(p, sizeof p, "/proc/self/task/%s/comm", tid);
    FILE *f = fopen(p, "r");
    bool worker = f && fgets(name, sizeof name, f) && strcmp(name, "coio-worker\n") == 0;
    if (f)
        fclose(f);
    return worker;
}

/* Pool threads alive in this process. */
static int pool_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += is_pool_thread(e->d_name);
    if (d)
        closedir(d);
    return n;
}

/* The pool threads' voluntary context switches (each sleep after a job), once every one
 * of them sleeps; -1 if one is still busy after a second. */
static long pool_sleeps(void)
{
    for (int tries = 0; tries < 1000; tries++) {
        DIR *d = opendir("/proc/self/task");
        long sum = 0;
        bool busy = false;
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            char p[300], line[256];
            if (!is_pool_thread(e->d_name))
                continue;
            snprintf(p, sizeof p, "/proc/self/task/%s/status", e->d_name);
            FILE *f = fopen(p, "r");
            long v;
            while (f && fgets(line, sizeof line, f)) {
                if (strncmp(line, "State:", 6) == 0 && !strstr(line, "S (sleeping)"))
                    busy = true;
                if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
                    sum += v;
            }
            if (f)
                fclose(f);
        }
        if (d)
            closedir(d);
        if (!busy)
            return sum;
        coio_sleep(0.001);
    }
    return -1;
}

/* Writes n bytes of the pattern to path with plain system calls (no pool thread), flushed
 * to the disk so that its pages can be dropped from the cache. Returns an O_RDONLY fd. */
static int plain_file(const char *path, size_t n)
{
    char *data = pattern(n);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t done = 0;
    while (fd >= 0 && done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    free(data);
    if (fd < 0 || done != n || fsync(fd) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return open(path, O_RDONLY | O_CLOEXEC);
}

static bool matches(const char *b, uint64_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)b[i] != pat(off + i))
            return false;
    return true;
}

static int cached_main(void *arg)
{
    (void)arg;
    char path[128], buf[8192];
    path_of(path, sizeof path, "cached");
    int fd = plain_file(path, 5000);
    CHECK(fd >= 0);
    /* Short reads at the end of the file, positional and at the file position. */
    CHECK_RC(coio_file_pread(fd, buf, sizeof buf, 0), 5000);
    CHECK(matches(buf, 0, 5000));
    CHECK_RC(coio_file_pread(fd, buf, 4096, 4096), 904);
    CHECK(matches(buf, 4096, 904));
    CHECK_RC(coio_file_pread(fd, buf, 4096, 5000), 0);
    CHECK_RC(coio_file_pread(fd, buf, 4096, 1 << 20), 0);
    CHECK_RC(coio_file_read(fd, buf, 4096), 4096);
    CHECK(matches(buf, 0, 4096));
    CHECK_RC(coio_file_read(fd, buf, 4096), 904);
    CHECK(matches(buf, 4096, 904));
    CHECK_RC(coio_file_read(fd, buf, 4096), 0);
    /* Every one of them was served from the page cache, on this thread: the pool never
     * started (io_uring does them in the kernel, and starts no pool thread either). */
    CHECK_RC(pool_threads(), 0);
    close(fd);
    return 0;
}

/* O_DIRECT never reads from the cache: the device's wait would fall on the loop thread,
 * so such a read goes to the pool. */
static int direct_main(void *arg)
{
    int *skipped = arg;
    char path[128];
    path_of(path, sizeof path, "direct");
    int fd = plain_file(path, 8192);
    CHECK(fd >= 0);
    close(fd);
    fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) { /* the file system has no direct I/O */
        *skipped = 1;
        return 0;
    }
    char *buf = aligned_alloc(4096, 4096);
    CHECK_RC(coio_file_pread(fd, buf, 4096, 4096), 4096);
    CHECK(matches(buf, 4096, 4096));
    close(fd);
    CHECK(pool_threads() > 0);
    /* The same through coio_file_open, which knows the flags it opened with: a cached
     * fd reads on this thread (no worker wakes), an O_DIRECT one on the pool. */
    int plain = coio_file_open(path, O_RDONLY, 0);
    CHECK(plain >= 0);
    long before = pool_sleeps();
    CHECK(before >= 0);
    CHECK_RC(coio_file_pread(plain, buf, 4096, 0), 4096);
    CHECK_RC(pool_sleeps(), before);
    CHECK_RC(coio_file_close(plain), 0);
    int direct = coio_file_open(path, O_RDONLY | O_DIRECT, 0);
    CHECK(direct >= 0);
    before = pool_sleeps();
    CHECK(before >= 0);
    CHECK_RC(coio_file_pread(direct, buf, 4096, 0), 4096);
    CHECK(matches(buf, 0, 4096));
    CHECK(pool_sleeps() > before);
    CHECK_RC(coio_file_close(direct), 0);
    free(buf);
    return 0;
}

static void direct_io_reads_run_on_the_pool(void **state)
{
    (void)state;
    setenv("COIO_URING_FILES", "0", 1);
    int skipped = 0;
    run_in_tmpdir(direct_main, &skipped);
    if (skipped)
        coio_test_skip("/tmp does not support O_DIRECT");
}

static void cached_reads_complete_without_a_pool_thread(void **state)
{
    (void)state;
    setenv("COIO_URING_FILES", "0", 1); /* on io_uring, the pool's path too */
    run_in_tmpdir(cached_main, NULL);
}

#define HALF (128u << 10)

/* True if the page of fd at off is in the page cache. */
static bool resident(int fd, off_t off)
{
    long pg = sysconf(_SC_PAGESIZE);
    void *m = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, fd, off);
    unsigned char v = 0;
    bool in = m != MAP_FAILED && mincore(m, (size_t)pg, &v) == 0 && (v & 1);
    if (m != MAP_FAILED)
        munmap(m, (size_t)pg);
    return in;
}

static int uncached_main(void *arg)
{
    int *skipped = arg;
    char path[128];
    path_of(path, sizeof path, "uncached");
    int fd = plain_file(path, 2 * HALF);
    CHECK(fd >= 0);
    char *buf = malloc(2 * HALF);
    /* The first half in the cache, the second not: the read starts on the loop thread
     * and must go on for the rest, not stop at the first page the cache lacks as if the
     * file ended there. */
    CHECK_RC(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    CHECK_RC(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0); /* no readahead past HALF */
    CHECK_RC(pread(fd, buf, HALF, 0), (long)HALF);
    if (resident(fd, HALF) || !resident(fd, 0)) { /* tmpfs: its pages are its storage */
        *skipped = 1;
        free(buf);
        close(fd);
        return 0;
    }
    memset(buf, 0, 2 * HALF);
    CHECK_RC(coio_file_pread(fd, buf, 2 * HALF, 0), (long)(2 * HALF));
    CHECK(matches(buf, 0, 2 * HALF));
    /* Nothing in the cache, at the file position, then positional. */
    CHECK_RC(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    memset(buf, 0, 2 * HALF);
    CHECK_RC(coio_file_read(fd, buf, 2 * HALF), (long)(2 * HALF));
    CHECK(matches(buf, 0, 2 * HALF));
    CHECK_RC(coio_file_read(fd, buf, HALF), 0);
    CHECK_RC(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    CHECK_RC(coio_file_pread(fd, buf, 4096, HALF + 100), 4096);
    CHECK(matches(buf, HALF + 100, 4096));
    free(buf);
    close(fd);
    return 0;
}

static void reads_the_cache_lacks_in_part_or_whole_are_complete(void **state)
{
    (void)state;
    setenv("COIO_URING_FILES", "0", 1);
    int skipped = 0;
    run_in_tmpdir(uncached_main, &skipped);
    if (skipped)
        coio_test_skip("/tmp keeps dropped pages (tmpfs?): no uncached read to test");
}

struct fifo_wait {
    int fd;
    int ticks, ticks_at_read;
    ssize_t r;
    char byte;
};

static int empty_fifo_reader(void *arg)
{
    struct fifo_wait *f = arg;
    f->r = coio_file_read(f->fd, &f->byte, 1); /* nothing to read yet: waits on the pool */
    f->ticks_at_read = f->ticks;
    return 0;
}

static int empty_fifo_main(void *arg)
{
    struct fifo_wait *f = arg;
    char path[128];
    path_of(path, sizeof path, "fifo");
    CHECK_RC(mkfifo(path, 0600), 0);
    int w = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC); /* a writer, never blocks */
    CHECK(w >= 0);
    f->fd = open(path, O_RDONLY | O_CLOEXEC); /* a blocking reader */
    CHECK(f->fd >= 0);
    coio_task *t = coio_spawn(empty_fifo_reader, f);
    while (f->ticks < 20) { /* the loop runs on while the reader waits */
        coio_sleep(0.002);
        f->ticks++;
    }
    CHECK_RC(write(w, "x", 1), 1);
    CHECK_RC(coio_await(t), 0);
    CHECK_RC(f->r, 1);
    CHECK_RC(f->byte, 'x');
    CHECK_RC(f->ticks_at_read, 20);
    close(w);
    close(f->fd);
    return 0;
}

static void read_of_an_empty_fifo_waits_off_the_loop_thread(void **state)
{
    (void)state;
    setenv("COIO_URING_FILES", "0", 1);
    struct fifo_wait f = {.fd = -1};
    run_in_tmpdir(empty_fifo_main, &f);
}

/* read_all's fused open + read + close on the pool: cancelled at any point, it leaves no
 * fd open, including the one a worker hands back with more of the file to read. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

static int read_all_task(void *arg)
{
    void *data = NULL;
    ssize_t r = coio_file_read_all(arg, 1 << 22, &data);
    free(data);
    return r >= 0 || r == -ECANCELED ? 0 : (int)r;
}

static int read_all_cancel_main(void *arg)
{
    (void)arg;
    char big[128], small[128];
    path_of(big, sizeof big, "big");
    path_of(small, sizeof small, "small");
    int a = plain_file(big, 1u << 20), b = plain_file(small, 4096);
    CHECK(a >= 0 && b >= 0);
    close(a);
    close(b);
    void *warm;
    CHECK_RC(coio_file_read_all(big, 1 << 22, &warm), 1 << 20); /* starts the pool */
    free(warm);
    int before = count_fds();
    for (int i = 0; i < 200; i++) {
        coio_task *t[4];
        for (int k = 0; k < 4; k++)
            t[k] = coio_spawn(read_all_task, k & 1 ? small : big);
        for (int y = 0; y < i % 7; y++)
            coio_yield();
        if (i % 3)
            coio_sleep(0.0001 * (i % 5));
        for (int k = 0; k < 4; k++)
            coio_cancel(t[k]);
        for (int k = 0; k < 4; k++) { /* -ECANCELED: cancelled before it started */
            int r = coio_await(t[k]);
            CHECK(r == 0 || r == -ECANCELED);
        }
    }
    CHECK_RC(count_fds(), before);
    return 0;
}

TMPDIR_CASE(cancelled_read_all_leaks_no_fd, read_all_cancel_main)

/* ---- sendfile ---------------------------------------------------------------------- */

struct sf_peer {
    int fd;
    size_t want;
    char *got;
    size_t n;
};

static int sf_reader(void *arg)
{
    struct sf_peer *p = arg;
    while (p->n < p->want) {
        ssize_t r = coio_read(p->fd, p->got + p->n, p->want - p->n);
        if (r <= 0)
            return r < 0 ? (int)r : -EPIPE;
        p->n += (size_t)r;
    }
    return 0;
}

static int sendfile_main(void *arg)
{
    (void)arg;
    char path[128];
    path_of(path, sizeof path, "payload");
    size_t n = (4u << 20) + 11;
    char *data = pattern(n);
    CHECK_RC(coio_file_write_all(path, data, n, 0), 0);
    int lfd = coio_tcp_listen("127.0.0.1", "0", 4);
    CHECK(lfd >= 0);
    char port[16];
    snprintf(port, sizeof port, "%d", coio_sock_port(lfd));
    int c = coio_tcp_connect("127.0.0.1", port);
    CHECK(c >= 0);
    int s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    CHECK(s >= 0);
    int fd = coio_file_open(path, O_RDONLY, 0);
    CHECK(fd >= 0);

    /* A range, from offset 5, bigger than the socket buffers: the sender waits. */
    struct sf_peer p = {.fd = c, .want = n - 5, .got = malloc(n + 64)};
    coio_task *t = coio_spawn(sf_reader, &p);
    CHECK_RC(coio_sendfile(s, fd, 5, n - 5), (long)(n - 5));
    CHECK_RC(coio_await(t), 0);
    CHECK(memcmp(p.got, data + 5, n - 5) == 0);

    /* From a stream: its buffered bytes first, then the file; past EOF is short. */
    coio_stream *st = coio_stream_open(s, 0);
    CHECK(st != NULL);
    CHECK_RC(coio_stream_write(st, "HDR\n", 4), 4);
    p = (struct sf_peer){.fd = c, .want = 4 + 100, .got = p.got};
    t = coio_spawn(sf_reader, &p);
    CHECK_RC(coio_stream_sendfile(st, fd, (int64_t)n - 100, 1000), 100);
    CHECK_RC(coio_await(t), 0);
    CHECK(memcmp(p.got, "HDR\n", 4) == 0 && memcmp(p.got + 4, data + n - 100, 100) == 0);
    CHECK_RC(coio_stream_close(st), 0); /* does not own s */
    CHECK_RC(coio_close(s), 0);
    CHECK_RC(coio_close(c), 0);
    CHECK_RC(coio_close(lfd), 0);
    CHECK_RC(coio_file_close(fd), 0);
    free(p.got);
    free(data);
    return 0;
}

TMPDIR_CASE(sendfile_sends_a_range_and_follows_a_stream_s_buffer, sendfile_main)

/* A page-cached file goes out from the loop thread, without a pool hop (a web server's
 * static file, sent per request); one that is not cached goes to the pool, where reading
 * it from the disk cannot stall the loop. Shown with the pool's only worker blocked. */
struct sf_block {
    int pipe[2];
    atomic_bool started;
    coio_task *task;
};

static int sf_blocked_job(void *arg)
{
    struct sf_block *b = arg;
    b->started = true;
    char c;
    return read(b->pipe[0], &c, 1) == 1 ? 0 : -EIO;
}

static int sf_blocker(void *arg)
{
    return coio_to_thread(sf_blocked_job, arg);
}

/* Holds the pool's (one) worker in read(2) until pool_release: a call that still
 * finishes runs on the loop thread, one that goes to the pool waits. */
static int pool_hold(struct sf_block *b)
{
    *b = (struct sf_block){.started = false};
    CHECK_RC(pipe2(b->pipe, O_CLOEXEC), 0);
    b->task = coio_spawn(sf_blocker, b);
    while (!b->started) /* the pool's one worker now waits in read(2) */
        coio_sleep(0.001);
    return 0;
}

static int pool_release(struct sf_block *b)
{
    int w = (int)write(b->pipe[1], "x", 1);
    int r = coio_await(b->task);
    close(b->pipe[0]);
    close(b->pipe[1]);
    CHECK_RC(w, 1);
    CHECK_RC(r, 0);
    return 0;
}

/* Runs main_fn in a fresh directory with a pool of one thread, for pool_hold. */
static void run_with_one_worker(int (*main_fn)(void *))
{
    int size = coio_threadpool_size();
    assert_int_equal(coio_threadpool_set_size(1), 0);
    run_in_tmpdir(main_fn, NULL);
    assert_int_equal(coio_threadpool_set_size(size), 0);
}

static long cached_pages(int fd, size_t len)
{
    struct {
        uint64_t off, len;
    } rg = {0, len};
    uint64_t cs[5] = {0};
    return syscall(451 /* cachestat */, fd, &rg, cs, 0) == 0 ? (long)cs[0] : -errno;
}

static int sendfile_cache_main(void *arg)
{
    (void)arg;
    char path[128];
    path_of(path, sizeof path, "cached");
    size_t n = 256u << 10;
    char *data = pattern(n);
    CHECK_RC(coio_file_write_all(path, data, n, COIO_FILE_SYNC), 0);
    int fd = coio_file_open(path, O_RDONLY, 0);
    CHECK(fd >= 0);
    long pages = cached_pages(fd, n);
    if (pages == -ENOSYS) {
        coio_file_close(fd);
        coio_test_skip("no cachestat(2) (Linux 6.5): sendfile always runs on the pool");
    }
    CHECK_RC(pages, (long)(n / 4096));
    int sv[2];
    CHECK_RC(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);

    struct sf_block b;
    CHECK_RC(pool_hold(&b), 0);

    /* Cached: sent while the pool cannot run anything. */
    struct sf_peer p = {.fd = sv[1], .want = n, .got = malloc(n)};
    coio_task *rd = coio_spawn(sf_reader, &p);
    ssize_t cached = -1, uncached = -ETIMEDOUT;
    COIO_WITH_TIMEOUT(5) {
        cached = coio_sendfile(sv[0], fd, 0, n);
    }
    if (cached < 0)
        coio_cancel(rd);
    int rr = coio_await(rd);

    /* Not cached (dropped from the page cache): it waits for the pool. */
    int fa = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (fa == 0 && cached_pages(fd, n) < (long)(n / 4096)) {
        COIO_WITH_TIMEOUT(0.2) {
            uncached = coio_sendfile(sv[0], fd, 0, n);
        }
    }
    CHECK_RC(pool_release(&b), 0); /* frees the worker before any check fails */
    CHECK_RC(cached, (long)n);
    CHECK_RC(rr, 0);
    CHECK(memcmp(p.got, data, n) == 0);
    CHECK_RC(fa, 0);
    CHECK_RC(uncached, -ETIMEDOUT);
    p = (struct sf_peer){.fd = sv[1], .want = n, .got = p.got};
    rd = coio_spawn(sf_reader, &p);
    CHECK_RC(coio_sendfile(sv[0], fd, 0, n), (long)n);
    CHECK_RC(coio_await(rd), 0);
    CHECK(memcmp(p.got, data, n) == 0);

    CHECK_RC(coio_close(sv[0]), 0);
    CHECK_RC(coio_close(sv[1]), 0);
    CHECK_RC(coio_file_close(fd), 0);
    free(p.got);
    free(data);
    return 0;
}

static void sendfile_of_a_cached_file_skips_the_pool(void **state)
{
    (void)state;
    run_with_one_worker(sendfile_cache_main);
}

/* ---- close and fstat on the loop thread ---------------------------------------------- */

/* A file call in its own task, so that the main task can look at whether it finished
 * while the pool's one worker is held. */
struct fs_call {
    int fd;
    bool fstat; /* coio_file_fstat, else coio_file_close */
    int rc;
    off_t size;
    bool done;
};

static int fs_call_task(void *arg)
{
    struct fs_call *c = arg;
    struct stat st;
    c->rc = c->fstat ? coio_file_fstat(c->fd, &st) : coio_file_close(c->fd);
    if (c->fstat && c->rc == 0)
        c->size = st.st_size;
    c->done = true;
    return 0;
}

/* Skips (77) unless the test directory is on a file system whose read-only fds close
 * and fstat inline. */
static void skip_unless_quick_fs(void)
{
    struct statfs sf;
    if (statfs(g_dir, &sf) != 0)
        coio_test_skip("statfs %s: %s", g_dir, strerror(errno));
    switch ((unsigned long)sf.f_type) {
    case EXT4_SUPER_MAGIC: case XFS_SUPER_MAGIC: case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC: case F2FS_SUPER_MAGIC:
        break;
    default: /* overlayfs, NFS, FUSE...: every close and fstat goes to the pool */
        coio_test_skip("%s is on file system 0x%lx, not a local one whose close only "
                       "touches memory", g_dir, (unsigned long)sf.f_type);
    }
}

static int quick_close_main(void *arg)
{
    (void)arg;
    skip_unless_quick_fs();
    char small[128], big[128];
    path_of(small, sizeof small, "small");
    path_of(big, sizeof big, "big");
    CHECK_RC(coio_file_write_all(small, "0123456789", 10, 0), 0);
    int bfd = coio_file_open(big, O_WRONLY | O_CREAT, 0600);
    CHECK(bfd >= 0);
    CHECK_RC(coio_file_ftruncate(bfd, (64 << 20) + 1), 0); /* sparse, over the bound */
    CHECK_RC(coio_file_close(bfd), 0);

    /* Quick: read-only regular files and directories of a local file system. */
    struct fs_call quick[] = {
        {.fd = coio_file_open(small, O_RDONLY, 0), .fstat = true},
        {.fd = coio_file_open(small, O_RDONLY, 0)},
        {.fd = coio_file_open(g_dir, O_RDONLY | O_DIRECTORY, 0)},
    };
    /* Not quick: written files (their close may flush), devices (a tty's close waits
     * for its output), and files over the size bound (the last close of a deleted one
     * frees its blocks). */
    struct fs_call slow[] = {
        {.fd = coio_file_open(small, O_RDWR, 0), .fstat = true},
        {.fd = coio_file_open(small, O_RDWR, 0)},
        {.fd = coio_file_open("/dev/null", O_RDONLY, 0)},
        {.fd = coio_file_open(big, O_RDONLY, 0)},
    };
    enum { NQ = sizeof quick / sizeof quick[0], NS = sizeof slow / sizeof slow[0] };
    for (int i = 0; i < NQ; i++)
        CHECK(quick[i].fd >= 0);
    for (int i = 0; i < NS; i++)
        CHECK(slow[i].fd >= 0);

    struct sf_block b;
    CHECK_RC(pool_hold(&b), 0);
    coio_task *tq[NQ], *ts[NS];
    for (int i = 0; i < NQ; i++)
        tq[i] = coio_spawn(fs_call_task, &quick[i]);
    for (int i = 0; i < NS; i++)
        ts[i] = coio_spawn(fs_call_task, &slow[i]);
    coio_sleep(0.05);
    bool quick_done[NQ], slow_done[NS];
    for (int i = 0; i < NQ; i++)
        quick_done[i] = quick[i].done;
    for (int i = 0; i < NS; i++)
        slow_done[i] = slow[i].done;
    CHECK_RC(pool_release(&b), 0); /* frees the worker before any check fails */
    CHECK_RC(coio_gather_n(tq, NQ, NULL), 0);
    CHECK_RC(coio_gather_n(ts, NS, NULL), 0);

    for (int i = 0; i < NQ; i++) {
        CHECK(quick_done[i]); /* done while the pool could run nothing */
        CHECK_RC(quick[i].rc, 0);
    }
    for (int i = 0; i < NS; i++) {
        CHECK(!slow_done[i]); /* waited for the pool */
        CHECK_RC(slow[i].rc, 0);
    }
    CHECK(quick[0].size == 10 && slow[0].size == 10);
    /* Every close closed, quick or not; the fds of the two fstat calls are still open. */
    CHECK(fcntl(quick[1].fd, F_GETFD) < 0 && errno == EBADF);
    CHECK(fcntl(quick[2].fd, F_GETFD) < 0 && errno == EBADF);
    for (int i = 1; i < NS; i++)
        CHECK(fcntl(slow[i].fd, F_GETFD) < 0 && errno == EBADF);
    CHECK_RC(coio_file_close(quick[0].fd), 0);
    CHECK_RC(coio_file_close(slow[0].fd), 0);
    return 0;
}

static void close_and_fstat_of_local_read_only_files_skip_the_pool(void **state)
{
    (void)state;
    /* io_uring closes and stats in the kernel; this is the pool path's shortcut. */
    setenv("COIO_URING_FILES", "0", 1);
    run_with_one_worker(quick_close_main);
}

/* A quick fd closed by a stream that owns it, or by coio_close, leaves nothing behind:
 * the next fd given its number (here one coio did not open, so never quick) must not
 * be closed or stat'ed on the loop thread. */
static int reused_number_main(void *arg)
{
    (void)arg;
    skip_unless_quick_fs();
    char small[128];
    path_of(small, sizeof small, "small");
    CHECK_RC(coio_file_write_all(small, "0123456789", 10, 0), 0);
    for (int by_stream = 0; by_stream < 2; by_stream++) {
        int fd = coio_file_open(small, O_RDONLY, 0);
        CHECK(fd >= 0);
        if (by_stream) {
            coio_stream *s = coio_stream_open(fd, COIO_STREAM_OWN_FD);
            CHECK(s != NULL);
            CHECK_RC(coio_stream_close(s), 0);
        } else {
            CHECK_RC(coio_close(fd), 0);
        }
        int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CHECK_RC(nfd, fd); /* the lowest free number: the one just closed */
        struct sf_block b;
        CHECK_RC(pool_hold(&b), 0);
        struct fs_call c = {.fd = nfd, .fstat = true};
        coio_task *t = coio_spawn(fs_call_task, &c);
        coio_sleep(0.05);
        bool done = c.done;
        CHECK_RC(pool_release(&b), 0);
        CHECK_RC(coio_await(t), 0);
        CHECK(!done); /* waited for the pool, as any fd coio_file_open did not open */
        CHECK_RC(c.rc, 0);
        close(nfd);
    }
    return 0;
}

static void fd_number_reused_after_a_stream_or_coio_close_is_not_quick(void **state)
{
    (void)state;
    setenv("COIO_URING_FILES", "0", 1); /* the pool path classifies at open */
    run_with_one_worker(reused_number_main);
}

static int set_flag(void *arg)
{
    *(bool *)arg = true;
    return 0;
}

/* Whether fn(fd) returned without suspending: a task spawned just before it, queued to
 * run, has not run yet. */
static bool ran_inline(int (*fn)(int fd), int fd)
{
    bool other_ran = false;
    coio_task *t = coio_spawn(set_flag, &other_ran);
    CHECK_RC(fn(fd), 0);
    bool inline_ = !other_ran;
    CHECK_RC(coio_await(t), 0);
    return inline_;
}

static int do_fstat(int fd)
{
    struct stat st;
    int r = coio_file_fstat(fd, &st);
    return r < 0 ? r : st.st_size == 10 || S_ISCHR(st.st_mode) ? 0 : -EIO;
}

static int do_statx(int fd)
{
    struct statx x;
    int r = coio_file_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &x);
    return r < 0 ? r : x.stx_size == 10 || S_ISCHR(x.stx_mode) ? 0 : -EIO;
}

/* On io_uring the kernel opens the file and nothing classifies it at open; its first
 * fstat does, on the loop thread, from the file system's type as the VFS reports it
 * (FS_IOC_GETFSSYSFSPATH, answered by the VFS alone since Linux 6.10). On epoll the
 * worker that opens it classifies it. Either way fstat and statx of a read-only local
 * file return without suspending; /dev/null's go to the kernel or the pool. */
static int inline_fstat_main(void *arg)
{
    (void)arg;
    skip_unless_quick_fs();
    if (strcmp(coio_backend_name(), "io_uring") == 0) {
        struct utsname u;
        int major = 0, minor = 0;
        CHECK_RC(uname(&u), 0);
        sscanf(u.release, "%d.%d", &major, &minor);
        if (major < 6 || (major == 6 && minor < 10))
            coio_test_skip("Linux %s: before 6.10 the VFS does not answer "
                           "FS_IOC_GETFSSYSFSPATH alone", u.release);
        struct {
            uint8_t len;
            char name[128];
        } p = {0};
        int dfd = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = ioctl(dfd, _IOR(0x15, 1, p), &p);
        close(dfd);
        if (r != 0 || !(strncmp(p.name, "ext", 3) == 0 || strncmp(p.name, "xfs/", 4) == 0 ||
                        strncmp(p.name, "btrfs/", 6) == 0 || strncmp(p.name, "f2fs/", 5) == 0))
            coio_test_skip("%s: the VFS names no ext2/3/4, XFS, Btrfs or F2FS "
                           "file system (tmpfs has no sysfs name)", g_dir);
    }
    char small[128];
    path_of(small, sizeof small, "small");
    CHECK_RC(coio_file_write_all(small, "0123456789", 10, 0), 0);
    int fd = coio_file_open(small, O_RDONLY, 0), fd2 = coio_file_open(small, O_RDONLY, 0);
    int dev = coio_file_open("/dev/null", O_RDONLY, 0);
    CHECK(fd >= 0 && fd2 >= 0 && dev >= 0);
    CHECK(ran_inline(do_fstat, fd));  /* the first call classifies... */
    CHECK(ran_inline(do_fstat, fd));  /* ...and the fd stays quick */
    CHECK(ran_inline(do_statx, fd2)); /* statx of "" classifies too */
    CHECK(ran_inline(do_statx, fd2));
    CHECK(!ran_inline(do_fstat, dev)); /* a device: the kernel or the pool */
    CHECK(!ran_inline(do_statx, dev));
    CHECK_RC(coio_file_close(fd), 0);
    CHECK_RC(coio_file_close(fd2), 0);
    CHECK_RC(coio_file_close(dev), 0);
    return 0;
}

TMPDIR_CASE(fstat_of_a_read_only_local_file_runs_inline, inline_fstat_main)

/* ---- streams over files ------------------------------------------------------------ */

static int stream_main(void *arg)
{
    (void)arg;
    char path[128], line[64];
    path_of(path, sizeof path, "lines");
    CHECK_RC(coio_file_write_all(path, "one\ntwo\nthree", 13, 0), 0);
    int fd = coio_file_open(path, O_RDONLY, 0);
    CHECK(fd >= 0);
    coio_stream *s = coio_stream_open(fd, COIO_STREAM_OWN_FD);
    CHECK(s != NULL);
    CHECK_RC(coio_stream_readline(s, line, sizeof line), 4);
    CHECK(memcmp(line, "one\n", 4) == 0);
    CHECK_RC(coio_stream_readline(s, line, sizeof line), 4);
    CHECK_RC(coio_stream_readline(s, line, sizeof line), 5);
    CHECK(memcmp(line, "three", 5) == 0);
    CHECK_RC(coio_stream_readline(s, line, sizeof line), 0);
    CHECK_RC(coio_stream_close(s), 0);

    path_of(path, sizeof path, "written");
    fd = coio_file_open(path, O_WRONLY | O_CREAT, 0600);
    s = coio_stream_open(fd, COIO_STREAM_OWN_FD);
    CHECK(s != NULL);
    CHECK_RC(coio_stream_write(s, "abc\n", 4), 4);
    CHECK_RC(coio_stream_write(s, "def\n", 4), 4);
    CHECK_RC(coio_stream_close(s), 0);
    void *got;
    CHECK_RC(coio_file_read_all(path, 100, &got), 8);
    CHECK(memcmp(got, "abc\ndef\n", 8) == 0);
    free(got);
    return 0;
}

TMPDIR_CASE(stream_readline_and_write_over_a_regular_file, stream_main)

/* ---- bounded threads --------------------------------------------------------------- */

static int threads_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

static int g_peak_threads;
static bool g_sync_done;

static int thread_sampler(void *arg)
{
    (void)arg;
    while (!g_sync_done) {
        int n = threads_now();
        if (n > g_peak_threads)
            g_peak_threads = n;
        coio_sleep(0.001);
    }
    return 0;
}

static int syncer(void *arg)
{
    char path[128];
    snprintf(path, sizeof path, "%s/s%d", g_dir, (int)(intptr_t)arg);
    static char data[256 * 1024];
    for (int k = 0; k < 4; k++) {
        int fd = coio_file_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            return fd;
        ssize_t w = coio_file_pwrite(fd, data, sizeof data, 0);
        int r = coio_file_fsync(fd);
        coio_file_close(fd);
        if (w != (ssize_t)sizeof data || r < 0)
            return -EIO;
    }
    return 0;
}

static int bounded_main(void *arg)
{
    (void)arg;
    coio_task *smp = coio_spawn(thread_sampler, NULL);
    enum { N = 48 };
    coio_task *t[N];
    for (int i = 0; i < N; i++)
        t[i] = coio_spawn(syncer, (void *)(intptr_t)i);
    CHECK_RC(coio_gather_n(t, N, NULL), 0);
    g_sync_done = true;
    CHECK_RC(coio_await(smp), 0);
    return 0;
}

static void fsync_storm_stays_within_the_thread_bounds(void **state)
{
    (void)state;
    setenv("COIO_THREADPOOL_SIZE", "2", 1);
    setenv("COIO_URING_MAX_WORKERS", "2", 1);
    run_in_tmpdir(bounded_main, NULL);
    /* main + 2 pool workers + 2 io_uring workers (per NUMA node: one node here). */
    if (g_peak_threads > 5) {
        print_error("peak %d threads, want at most 5\n", g_peak_threads);
        fail();
    }
}

/* ---- closing a stream over a file --------------------------------------------------- */

struct stream_closer {
    coio_stream *s;
    bool eof; /* coio_stream_write_eof, else coio_stream_close */
    int rc;
    bool done;
};

static int stream_closer_task(void *arg)
{
    struct stream_closer *c = arg;
    c->rc = c->eof ? coio_stream_write_eof(c->s) : coio_stream_close(c->s);
    c->done = true;
    return 0;
}

/* close(2) of a written file may send its data to a server (NFS, SMB, FUSE) and wait:
 * a stream over a file closes its fd on the pool, as coio_file_close does. */
static int stream_close_main(void *arg)
{
    (void)arg;
    char path[2][128];
    struct stream_closer c[2];
    int fd[2];
    for (int i = 0; i < 2; i++) {
        path_of(path[i], sizeof path[i], i ? "eof" : "closed");
        fd[i] = coio_file_open(path[i], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        CHECK(fd[i] >= 0);
        c[i] = (struct stream_closer){.s = coio_stream_open(fd[i], COIO_STREAM_OWN_FD),
                                      .eof = i == 1};
        CHECK(c[i].s != NULL);
        CHECK_RC(coio_stream_write(c[i].s, "hello", 5), 5);
        CHECK_RC(coio_stream_flush(c[i].s), 0); /* the write is done before the pool is held */
    }
    struct sf_block b;
    CHECK_RC(pool_hold(&b), 0);
    coio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = coio_spawn(stream_closer_task, &c[i]);
    coio_sleep(0.05);
    bool early[2] = {c[0].done, c[1].done};
    CHECK_RC(pool_release(&b), 0); /* frees the worker before any check fails */
    CHECK_RC(coio_gather_n(t, 2, NULL), 0);
    for (int i = 0; i < 2; i++) {
        CHECK(!early[i]); /* the close waited for the pool's worker */
        CHECK_RC(c[i].rc, 0);
        CHECK(fcntl(fd[i], F_GETFD) < 0 && errno == EBADF);
        void *got;
        CHECK_RC(coio_file_read_all(path[i], 64, &got), 5);
        CHECK(memcmp(got, "hello", 5) == 0);
        free(got);
    }
    CHECK_RC(coio_stream_close(c[1].s), 0); /* after write_eof the stream is still open */
    return 0;
}

static void stream_over_a_file_closes_its_fd_on_the_pool(void **state)
{
    (void)state;
    run_with_one_worker(stream_close_main);
}

/* ---- the pool's bound -------------------------------------------------------------- */

static atomic_int g_running, g_max_running;

static int busy_job(void *arg)
{
    (void)arg;
    int now = ++g_running;
    int m = g_max_running;
    while (now > m && !atomic_compare_exchange_weak(&g_max_running, &m, now))
        ;
    usleep(20000);
    g_running--;
    return 0;
}

static int busy_task(void *arg)
{
    (void)arg;
    return coio_to_thread(busy_job, NULL);
}

static int pool_main(void *arg)
{
    (void)arg;
    coio_task *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = coio_spawn(busy_task, NULL);
    CHECK_RC(coio_gather_n(t, 8, NULL), 0);
    return 0;
}

static void threadpool_size_bounds_concurrent_jobs(void **state)
{
    (void)state;
    /* The environment variable sets the default of a process whose pool has not
     * started (a child forked before any bound is set). */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("COIO_THREADPOOL_SIZE", "3", 1);
        _exit(coio_threadpool_size());
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 3);

    assert_int_equal(coio_threadpool_set_size(0), -EINVAL);
    assert_int_equal(coio_threadpool_set_size(1025), -EINVAL);
    assert_int_equal(coio_threadpool_set_size(2), 0);
    assert_int_equal(coio_threadpool_size(), 2);
    run_in_tmpdir(pool_main, NULL);
    assert_int_equal(g_max_running, 2);
    /* Raised, the bound lets more run. */
    assert_int_equal(coio_threadpool_set_size(4), 0);
    g_max_running = 0;
    run_in_tmpdir(pool_main, NULL);
    assert_int_equal(g_max_running, 4);

}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sizes_0_1_4096_1mib_round_trip),
    cmocka_unit_test(short_reads_at_eof),
    cmocka_unit_test(o_append_writes_go_to_the_end),
    cmocka_unit_test(concurrent_preads_at_many_offsets_match_byte_for_byte),
    cmocka_unit_test(write_fsync_then_read_back),
    cmocka_unit_test(errors_enoent_eisdir_enotdir_ebadf),
    cmocka_unit_test(calls_outside_a_task_return_eperm),
    cmocka_unit_test(ten_thousand_files_under_a_limit_leak_no_fd),
    cmocka_unit_test(dirs_copy_rename_and_read_all),
    cmocka_unit_test(read_all_of_a_growing_file_returns_a_whole_prefix),
    cmocka_unit_test(cancel_mid_large_read_leaves_rest_of_buffer_untouched),
    cmocka_unit_test(cancel_mid_large_write_writes_only_the_reported_prefix),
    cmocka_unit_test(cancelled_atomic_write_leaves_old_or_new_never_a_mix),
    cmocka_unit_test(blocking_open_of_a_fifo_runs_off_the_loop_thread),
    cmocka_unit_test(file_calls_run_on_a_pool_thread),
    cmocka_unit_test(io_uring_opens_natively_epoll_on_the_pool),
    cmocka_unit_test(cached_reads_complete_without_a_pool_thread),
    cmocka_unit_test(direct_io_reads_run_on_the_pool),
    cmocka_unit_test(reads_the_cache_lacks_in_part_or_whole_are_complete),
    cmocka_unit_test(read_of_an_empty_fifo_waits_off_the_loop_thread),
    cmocka_unit_test(cancelled_read_all_leaks_no_fd),
    cmocka_unit_test(sendfile_sends_a_range_and_follows_a_stream_s_buffer),
    cmocka_unit_test(sendfile_of_a_cached_file_skips_the_pool),
    cmocka_unit_test(close_and_fstat_of_local_read_only_files_skip_the_pool),
    cmocka_unit_test(fd_number_reused_after_a_stream_or_coio_close_is_not_quick),
    cmocka_unit_test(fstat_of_a_read_only_local_file_runs_inline),
    cmocka_unit_test(stream_readline_and_write_over_a_regular_file),
    cmocka_unit_test(stream_over_a_file_closes_its_fd_on_the_pool),
    cmocka_unit_test(fsync_storm_stays_within_the_thread_bounds),
    cmocka_unit_test(threadpool_size_bounds_concurrent_jobs),
};

COIO_TEST_MAIN(tests)
