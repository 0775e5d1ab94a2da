/*
 * Files: open, read, write, sync, stat, directories, whole-file helpers, copy and
 * sendfile, for tasks. Every file system call runs in io_uring or on the worker pool
 * (threadpool.c): a regular file is always "ready", so the only way to keep a slow disk,
 * a page-cache miss or a blocking open (a FIFO, NFS) off the loop thread is another
 * thread. The calling task alone waits. Two exceptions run on the loop thread because
 * the page cache holds their data, so nothing can wait for the disk: a small read that
 * preadv2(RWF_NOWAIT) serves (read_nowait), and sendfile of a range the cache holds whole.
 * A third because it only touches memory: close and fstat of a read-only fd on a local
 * file system (quick_fds).
 *
 * Each call fills a request (fs_req), and fs_run hands it to coio_to_thread, which drops
 * a request no worker has taken when the task is interrupted and otherwise waits until
 * the worker is done with it: no thread touches the caller's buffer once a call returns.
 * A request that did run keeps its result, and the call returns it (bytes read or
 * written, an fd), the rule io.c follows for sockets: nothing done is lost, and the next
 * suspending call reports the interruption.
 *
 * Large transfers are cut into FS_CHUNK pieces, one request each, so that cancelling a
 * read of a gigabyte waits for one piece, not for the whole read.
 */
#include "internal.h"

#include <dirent.h>
#include <linux/magic.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FS_CHUNK (2u << 20)          /* bytes per request of a large read or write */
#define FS_SMALL_FILE (256u << 10)   /* read_all reads files this small in one request */
#define FS_DIRBUF (32u << 10)        /* getdents64 buffer of a coio_dir */
#define FS_NOWAIT_MAX (256u << 10)   /* larger reads go to the pool even when cached */
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008 /* Linux 4.14; older C libraries lack the name */
#endif

enum fs_code {
    FS_OPEN,
    FS_CLOSE,
    FS_READ,
    FS_WRITE,
    FS_PREAD,
    FS_PWRITE,
    FS_READV,
    FS_WRITEV,
    FS_PREADV,
    FS_PWRITEV,
    FS_FSYNC,
    FS_FDATASYNC,
    FS_FALLOCATE,
    FS_FTRUNCATE,
    FS_FSTAT,
    FS_STAT,
    FS_STATX,
    FS_UNLINK,
    FS_RENAME,
    FS_MKDIR,
    FS_RMDIR,
    FS_GETDENTS,
    FS_COPY_RANGE,
    FS_SENDFILE,
    FS_READ_SMALL,
    FS_COMMIT,
    FS_READ_REST,
};

/* One file system call for the pool. Lives on the calling task's stack. */
typedef struct fs_req {
    uint8_t code;
    bool ran; /* the worker performed it: res is its result */
    bool classify; /* FS_OPEN on the pool: find out whether the new fd is quick... */
    bool quick;    /* ...: it may be closed and fstat'ed inline (fd_is_quick) */
    bool native;   /* the backend performed it (io_uring), not the pool */
    int fd, fd2, dirfd;
    int flags;
    unsigned mask;
    mode_t mode;
    const char *path, *path2;
    void *buf;
    size_t len;
    const struct iovec *iov;
    int64_t off, off2;
    void *out;
    ssize_t res;
} fs_req;

static ssize_t ret(ssize_t r)
{
    return r < 0 ? -errno : r;
}

static ssize_t copy_chunk(fs_req *q);
static ssize_t read_small(fs_req *q);
static ssize_t read_rest(fs_req *q);
static ssize_t commit(fs_req *q);
static bool fd_is_quick(int fd, struct statx *x);

/* Runs on a worker thread. */
static ssize_t fs_syscall(fs_req *q)
{
    off_t off;
    switch (q->code) {
    case FS_OPEN: {
        int fd = openat(q->dirfd, q->path, q->flags | O_CLOEXEC, q->mode);
        struct statx x;
        if (q->classify && fd >= 0 && (q->flags & (O_ACCMODE | O_PATH)) == O_RDONLY)
            q->quick = fd_is_quick(fd, &x);
        return ret(fd);
    }
    case FS_CLOSE:
        return ret(close(q->fd));
    case FS_READ:
        return ret(read(q->fd, q->buf, q->len));
    case FS_WRITE:
        return ret(write(q->fd, q->buf, q->len));
    case FS_PREAD:
        return ret(pread(q->fd, q->buf, q->len, (off_t)q->off));
    case FS_PWRITE:
        return ret(pwrite(q->fd, q->buf, q->len, (off_t)q->off));
    case FS_READV:
        return ret(readv(q->fd, q->iov, (int)q->len));
    case FS_WRITEV:
        return ret(writev(q->fd, q->iov, (int)q->len));
    case FS_PREADV:
        return ret(preadv(q->fd, q->iov, (int)q->len, (off_t)q->off));
    case FS_PWRITEV:
        return ret(pwritev(q->fd, q->iov, (int)q->len, (off_t)q->off));
    case FS_FSYNC:
        return ret(fsync(q->fd));
    case FS_FDATASYNC:
        return ret(fdatasync(q->fd));
    case FS_FALLOCATE:
        return ret(fallocate(q->fd, q->flags, (off_t)q->off, (off_t)q->off2));
    case FS_FTRUNCATE:
        return ret(ftruncate(q->fd, (off_t)q->off));
    case FS_FSTAT:
        return ret(fstat(q->fd, q->out));
    case FS_STAT:
        return ret(fstatat(q->dirfd, q->path, q->out, q->flags));
    case FS_STATX:
        return ret(statx(q->dirfd, q->path, q->flags, q->mask, q->out));
    case FS_UNLINK:
        return ret(unlinkat(q->dirfd, q->path, q->flags));
    case FS_RENAME:
        return ret(renameat2(q->dirfd, q->path, q->dirfd, q->path2, (unsigned)q->flags));
    case FS_MKDIR:
        return ret(mkdirat(q->dirfd, q->path, q->mode));
    case FS_RMDIR:
        return ret(unlinkat(q->dirfd, q->path, AT_REMOVEDIR));
    case FS_GETDENTS:
        return ret(syscall(SYS_getdents64, q->fd, q->buf, q->len));
    case FS_COPY_RANGE:
        return copy_chunk(q);
    case FS_SENDFILE:
        off = (off_t)q->off;
        return ret(sendfile(q->fd2, q->fd, &off, q->len));
    case FS_READ_SMALL:
        return read_small(q);
    case FS_COMMIT:
        return commit(q);
    case FS_READ_REST:
        return read_rest(q);
    }
    return -EINVAL;
}

static int fs_work(void *arg)
{
    fs_req *q = arg;
    q->res = fs_syscall(q);
    q->ran = true; /* published to the loop by the pool's hand-back (ext_lock) */
    return 0;
}

/* The operation-table row that performs q in the backend, or -1 (pool only). Reads and
 * writes at the file position use the core READ/WRITE rows, which io_uring always has:
 * PREAD stands for "file operations enabled" (COIO_URING_FILES). */
static int native_code(const fs_req *q, coio__op *op)
{
    op->fd = q->fd;
    op->flags = q->flags;
    switch (q->code) {
    case FS_READ:
    case FS_WRITE:
        op->a.buf.buf = q->buf;
        op->a.buf.len = q->len;
        return q->code == FS_READ ? COIO__OP_READ : COIO__OP_WRITE;
    case FS_READV:
    case FS_WRITEV:
        op->a.iov.iov = q->iov;
        op->a.iov.cnt = (int)q->len;
        return q->code == FS_READV ? COIO__OP_READV : COIO__OP_WRITEV;
    case FS_PREAD:
    case FS_PWRITE:
        op->a.frw.buf = q->buf;
        op->a.frw.len = q->len;
        op->a.frw.off = q->off;
        return q->code == FS_PREAD ? COIO__OP_PREAD : COIO__OP_PWRITE;
    case FS_PREADV:
    case FS_PWRITEV:
        op->a.fiov.iov = q->iov;
        op->a.fiov.cnt = (int)q->len;
        op->a.fiov.off = q->off;
        return q->code == FS_PREADV ? COIO__OP_PREADV : COIO__OP_PWRITEV;
    case FS_FSYNC:
        return COIO__OP_FSYNC;
    case FS_FDATASYNC:
        return COIO__OP_FDATASYNC;
    case FS_FALLOCATE:
        op->a.falloc.off = q->off;
        op->a.falloc.len = q->off2;
        return COIO__OP_FALLOCATE;
    case FS_CLOSE:
        return COIO__OP_CLOSE;
    default:
        break;
    }
    op->fd = -1;
    op->a.path.dirfd = q->dirfd;
    op->a.path.path = q->path;
    op->a.path.path2 = q->path2;
    op->a.path.mode = (unsigned)q->mode;
    op->a.path.mask = q->mask;
    op->a.path.out = q->out;
    switch (q->code) {
    case FS_OPEN:
        return COIO__OP_OPENAT;
    case FS_STATX:
        return COIO__OP_STATX;
    case FS_UNLINK:
        return COIO__OP_UNLINKAT;
    case FS_RMDIR:
        op->flags = AT_REMOVEDIR;
        return COIO__OP_UNLINKAT;
    case FS_RENAME:
        return COIO__OP_RENAMEAT;
    case FS_MKDIR:
        return COIO__OP_MKDIRAT;
    default:
        return -1;
    }
}

static bool backend_has(const coio__loop *L, int code)
{
    return L && L->backend->native && L->backend->native(code);
}

/* Whether preadv2(RWF_NOWAIT) may be tried: cleared for good when the kernel has no
 * preadv2 (< 4.6). A file that can't honour RWF_NOWAIT (/proc, most devices) says
 * EOPNOTSUPP per call and goes to the pool. */
static _Atomic bool nowait_ok = true;

/* The fds coio_file_open opened without O_DIRECT, until coio_file_close: reads on them
 * need not ask fcntl whether they bypass the cache. Like the epoll backend's knowledge of
 * an fd, it assumes the fd is closed with coio_file_close (api.md) and not given
 * O_DIRECT later with F_SETFL (files.md). */
#define FS_PLAIN_FDS 65536
static _Atomic uint64_t plain_fds[FS_PLAIN_FDS / 64];

/* "Quick" fds: read-only regular files and directories of at most FS_QUICK_MAX bytes
 * on a local file system whose release and getattr only touch memory (no ->flush
 * method: not FUSE, NFS, SMB, Ceph, 9p, overlayfs). Closing one, or fstat on it, can't
 * wait for a device or a server, so coio_file_close and coio_file_fstat do it on the
 * loop thread, as io_uring's own close does for a file without ->flush: a pool trip
 * costs more than the call. The size bound covers the one slow close left, the last
 * close of a file deleted while open, which frees its blocks: a small file has few.
 * Found out on the worker that opened the fd, right after the open. */
#define FS_QUICK_MAX (64u << 20)
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U /* Linux 6.8: a mount id that is never reused */
#endif
static _Atomic uint64_t quick_fds[FS_PLAIN_FDS / 64];

/* Each mount's verdict, by its unique id (never reused, so never stale): one fstatfs
 * per mount instead of one per open. Entries are id << 1 | verdict, 0 when empty. */
#define FS_MOUNTS 16
static _Atomic uint64_t mount_verdicts[FS_MOUNTS];

static bool fs_type_is_quick(long type)
{
    switch ((unsigned long)type) {
    case EXT4_SUPER_MAGIC: /* ext2 and ext3 have the same magic */
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC:
    case F2FS_SUPER_MAGIC:
        return true;
    default:
        return false;
    }
}

/* The kinds of file whose read-only fd may be quick on a quick file system. */
static bool quick_kind(mode_t mode, uint64_t size)
{
    return (S_ISREG(mode) || S_ISDIR(mode)) && size <= FS_QUICK_MAX;
}

/* On a worker: whether fd, just opened read-only, is quick. *x gets the file's type and
 * size (stx_mask 0 when statx failed). */
static bool fd_is_quick(int fd, struct statx *x)
{
    if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
              STATX_TYPE | STATX_SIZE | STATX_MNT_ID_UNIQUE, x) < 0) {
        x->stx_mask = 0;
        return false;
    }
    if (!quick_kind(x->stx_mode, x->stx_size))
        return false;
    uint64_t id = x->stx_mnt_id;
    _Atomic uint64_t *slot =
        x->stx_mask & STATX_MNT_ID_UNIQUE ? &mount_verdicts[id % FS_MOUNTS] : NULL;
    if (slot) {
        uint64_t e = atomic_load_explicit(slot, memory_order_relaxed);
        if (e && e >> 1 == id)
            return e & 1;
    }
    struct statfs sf;
    bool quick = fstatfs(fd, &sf) == 0 && fs_type_is_quick((long)sf.f_type);
    if (slot)
        atomic_store_explicit(slot, id << 1 | quick, memory_order_relaxed);
    return quick;
}

/* Read-only fds that coio_file_open opened in io_uring: the kernel opened them, so no
 * worker classified them. The first fstat (or statx of "" with AT_EMPTY_PATH) on one
 * does, on the loop thread (fs_quick_by_vfs), and then runs inline itself. */
static _Atomic uint64_t native_ro_fds[FS_PLAIN_FDS / 64];

#ifndef FS_IOC_GETFSSYSFSPATH
struct fs_sysfs_path {
    uint8_t len;
    uint8_t name[128];
};
#define FS_IOC_GETFSSYSFSPATH _IOR(0x15, 1, struct fs_sysfs_path) /* Linux 6.8 */
#endif

/* Whether fd lives on one of the quick file systems, asked without calling into the file
 * system (statx and fstatfs would: NFS asks its server, 9p ignores AT_STATX_DONT_SYNC).
 * FS_IOC_GETFSSYSFSPATH ("ext4/vda") is answered by the VFS alone from Linux 6.10 on;
 * 6.8 and 6.9 hand it to the file system's own ioctl when it has no sysfs name (FUSE
 * asks its daemon), older kernels always do, so there the answer is no. tmpfs has no
 * sysfs name: its fds stay with the kernel's statx. */
static bool fs_quick_by_vfs(int fd)
{
    static _Atomic int vfs_answers; /* 0: not asked yet, 1: Linux >= 6.10, -1: older */
    int k = atomic_load_explicit(&vfs_answers, memory_order_relaxed);
    if (k == 0) {
        struct utsname u;
        int major = 0, minor = 0;
        k = uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
                    (major > 6 || (major == 6 && minor >= 10))
                ? 1
                : -1;
        atomic_store_explicit(&vfs_answers, k, memory_order_relaxed);
    }
    struct fs_sysfs_path p;
    if (k < 0 || ioctl(fd, FS_IOC_GETFSSYSFSPATH, &p) != 0)
        return false;
    static const char *const quick[] = {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs"};
    size_t n = 0;
    while (n < p.len && n < sizeof p.name && p.name[n] != '/')
        n++;
    for (size_t i = 0; i < sizeof quick / sizeof quick[0]; i++)
        if (strlen(quick[i]) == n && memcmp(quick[i], p.name, n) == 0)
            return true;
    return false;
}

static void fd_bit_set(_Atomic uint64_t *map, int fd, bool on)
{
    if (fd < 0 || fd >= FS_PLAIN_FDS)
        return;
    uint64_t bit = (uint64_t)1 << (fd % 64);
    if (on)
        atomic_fetch_or_explicit(&map[fd / 64], bit, memory_order_relaxed);
    else
        atomic_fetch_and_explicit(&map[fd / 64], ~bit, memory_order_relaxed);
}

static bool fd_bit(_Atomic uint64_t *map, int fd)
{
    return fd >= 0 && fd < FS_PLAIN_FDS &&
           (atomic_load_explicit(&map[fd / 64], memory_order_relaxed) >> (fd % 64)) & 1;
}

/* FS_READ_REST, on a worker: the part of a read that RWF_NOWAIT left (pages not in the
 * cache). Only a regular file or a block device is read on: a short read from a pipe or
 * a socket is what it had, and waiting for more would change the call's meaning. */
static ssize_t read_rest(fs_req *q)
{
    struct stat st;
    if (fstat(q->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
        return 0;
    return ret(q->off < 0 ? read(q->fd, q->buf, q->len)
                          : pread(q->fd, q->buf, q->len, (off_t)q->off));
}

/* A read whose data is in the page cache, done on the loop thread with preadv2(
 * RWF_NOWAIT): the kernel copies cached pages and refuses (EAGAIN) rather than wait for
 * the disk, a lock or a pipe's writer, so nothing here can block the loop. A read the
 * cache serves only in part continues on the pool (FS_READ_REST). Returns -EAGAIN when
 * the read must go to the pool whole; else the call's result. Like every call that
 * returns without suspending, it spends the task's budget (fairness). */
static ssize_t read_nowait(coio__loop *L, fs_req *q)
{
    coio_task *t = L ? L->current : NULL;
    /* A large read stays on the pool: copying megabytes would hold the loop thread (and
     * every other task) for hundreds of microseconds, where a worker copies in
     * parallel and the call can be cancelled between its pieces. */
    if (!t || q->len == 0 || q->len > FS_NOWAIT_MAX ||
        !atomic_load_explicit(&nowait_ok, memory_order_relaxed))
        return -EAGAIN;
    int c = coio__check_spend(L, t);
    if (c < 0)
        return c;
    /* O_DIRECT bypasses the cache: RWF_NOWAIT then only spares the submission a wait,
     * and the read itself waits for the device. An fd coio_file_open opened without it
     * is known; any other is asked (a system call, a fifth of a cached 4 KiB read). */
    if (!fd_bit(plain_fds, q->fd)) {
        int fl = fcntl(q->fd, F_GETFL);
        if (fl < 0 || (fl & O_DIRECT))
            return -EAGAIN;
    }
    /* A short read is the end of the file, or pages not in the cache: the next read
     * tells which (0 at the end, EAGAIN for the disk), without leaving this thread for
     * the common case, a buffer larger than what is left of the file. */
    size_t done = 0;
    for (;;) {
        struct iovec v = {(char *)q->buf + done, q->len - done};
        ssize_t r = preadv2(q->fd, &v, 1,
                            q->code == FS_PREAD ? (off_t)(q->off + (int64_t)done) : -1,
                            RWF_NOWAIT);
        if (r < 0) {
            if (errno == ENOSYS)
                atomic_store_explicit(&nowait_ok, false, memory_order_relaxed);
            if (done == 0)
                return -EAGAIN; /* any error: the pool's call gives the answer */
            break;
        }
        done += (size_t)r;
        if (r == 0 || done == q->len) {
            q->ran = true;
            q->res = (ssize_t)done;
            return q->res;
        }
    }
    q->ran = true;
    q->res = (ssize_t)done;
    fs_req rest = {.code = FS_READ_REST, .fd = q->fd, .buf = (char *)q->buf + done,
                   .len = q->len - done,
                   .off = q->code == FS_PREAD ? q->off + (int64_t)done : -1};
    coio_to_thread(fs_work, &rest);
    if (rest.ran && rest.res > 0)
        q->res += rest.res;
    return q->res; /* what was read is kept; an interruption shows at the next call */
}

/* Performs q for the current task: in the backend if it does q natively (io_uring),
 * else on the pool. Returns q's result, or -ECANCELED / -ETIMEDOUT / -EPERM / -EAGAIN
 * when it did not run or failed after an interruption. io.c's rule for an interrupted
 * op is the pool's: it returns once the kernel is done with the buffer. */
static ssize_t fs_run(fs_req *q)
{
    q->ran = false;
    coio__loop *L = coio__loop_get();
    coio__op op = {.code = 0};
    int code = L && L->backend->native ? native_code(q, &op) : -1;
    if (code >= 0) {
        bool core = code == COIO__OP_READ || code == COIO__OP_WRITE ||
                    code == COIO__OP_READV || code == COIO__OP_WRITEV;
        int marker = core ? COIO__OP_PREAD : code;
        if (backend_has(L, marker)) {
            op.code = (uint8_t)code;
            q->native = true;
            ssize_t r = coio__op_run(&op);
            if (op.done) {
                q->ran = true;
                q->res = op.res;
            }
            return r;
        }
    }
    if (q->code == FS_READ || q->code == FS_PREAD) {
        ssize_t r = read_nowait(L, q);
        if (r != -EAGAIN)
            return r;
    }
    int r = coio_to_thread(fs_work, q);
    if (q->ran && (r == 0 || q->res >= 0))
        return q->res;
    return r < 0 ? r : q->res;
}

/* An error of an operation that may have had an effect that must be undone without
 * being interrupted again (closing an fd, removing a temporary file). */
static void fs_run_shielded(fs_req *q)
{
    coio_scope s;
    int r = coio_shield_begin(&s, -1);
    fs_run(q);
    if (r == 0)
        coio_scope_end(&s);
}

/* A call done on the loop thread spends the task's budget like any call that did not
 * suspend (fairness). Shielded: the call has had its effect, so an interruption is left
 * for the next call to report. */
static void spend_shielded(coio__loop *L)
{
    coio_task *t = L ? L->current : NULL;
    if (!t || ++t->io_streak <= COIO__IO_BUDGET)
        return;
    coio_scope s;
    int sr = coio_shield_begin(&s, -1);
    coio__budget_yield(L);
    if (sr == 0)
        coio_scope_end(&s);
}

/* fstat on a quick fd (see quick_fds) is a copy of the inode's fields: done on the loop
 * thread. Returns -EAGAIN when fd is not quick. The first call on a read-only fd opened
 * in io_uring classifies it (native_ro_fds). */
static int fstat_quick(int fd, struct stat *st, int dirfd_flags, struct statx *x,
                       unsigned mask)
{
    bool classify = !fd_bit(quick_fds, fd);
    if (classify && !fd_bit(native_ro_fds, fd))
        return -EAGAIN;
    coio__loop *L = coio__loop_get();
    coio_task *t = L ? L->current : NULL;
    int r = coio__check_spend(L, t);
    if (r < 0)
        return r; /* an interrupted call leaves the one try to the next */
    if (classify) {
        fd_bit_set(native_ro_fds, fd, false); /* one try per fd */
        if (!fs_quick_by_vfs(fd))
            return -EAGAIN; /* not a local file system: the kernel's statx */
        mask |= STATX_TYPE | STATX_SIZE; /* for quick_kind */
    }
    if (st)
        r = fstat(fd, st);
    else if (x) /* always, but gcc -O3 clones this function with x NULL (-Wnonnull) */
        r = statx(fd, "", dirfd_flags, mask, x);
    else
        return -EINVAL;
    if (r < 0)
        return -errno;
    if (classify) /* quick for the inline close too */
        fd_bit_set(quick_fds, fd,
                   st ? quick_kind(st->st_mode, (uint64_t)st->st_size)
                      : quick_kind(x->stx_mode, x->stx_size));
    return 0;
}

/* The fd_closing hook: whoever closes fd, coio_close or a stream, the next fd with its
 * number must not inherit what was known of this one. */
static void fs_fd_closing(coio__loop *L, int fd)
{
    (void)L;
    fd_bit_set(plain_fds, fd, false);
    fd_bit_set(quick_fds, fd, false);
    fd_bit_set(native_ro_fds, fd, false);
}

const coio__subsystem coio__subsystem_files = {.name = "files", .fd_closing = fs_fd_closing};

/* Closes an fd this file opened for a call that failed or ended: coio_file_close, which
 * finishes even when the caller is interrupted meanwhile. */
static void close_quietly(int fd)
{
    if (fd >= 0)
        (void)coio_file_close(fd);
}

/* --------------------------------------------------------------- single operations */

int coio_file_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    if (!path)
        return -EINVAL;
    fs_req q = {.code = FS_OPEN, .dirfd = dirfd, .path = path, .flags = flags,
                  .mode = mode, .classify = true};
    int fd = (int)fs_run(&q);
    fd_bit_set(plain_fds, fd, !(flags & O_DIRECT));
    fd_bit_set(quick_fds, fd, q.quick);
    fd_bit_set(native_ro_fds, fd, q.native && (flags & (O_ACCMODE | O_PATH)) == O_RDONLY);
    return fd;
}

int coio_file_open(const char *path, int flags, mode_t mode)
{
    return coio_file_openat(AT_FDCWD, path, flags, mode);
}

int coio_file_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    coio__loop *L = coio__loop_get();
    bool quick = fd_bit(quick_fds, fd);
    coio__fd_closing(L, fd);
    /* close(2) releases the file even when it reports an error (EIO from a delayed
     * write-back, EINTR): the fd is gone either way, so an interruption must not leave
     * it open. */
    if (quick) {
        int r = close(fd) == 0 ? 0 : -errno;
        spend_shielded(L);
        return r;
    }
    fs_req q = {.code = FS_CLOSE, .fd = fd};
    coio_scope s;
    int sr = coio_shield_begin(&s, -1);
    ssize_t r = fs_run(&q);
    if (sr == 0)
        coio_scope_end(&s);
    if (!q.ran) /* outside a task, or no thread could start */
        return close(fd) == 0 ? 0 : -errno;
    return (int)r;
}

/* A read or write of n bytes cut into FS_CHUNK requests. `positional`: at q->off, else
 * at the file position. Stops at a short transfer (EOF, a full disk). */
static ssize_t transfer(fs_req *q, size_t n)
{
    char *p = q->buf;
    size_t done = 0;
    int64_t off = q->off;
    do {
        size_t want = n - done < FS_CHUNK ? n - done : FS_CHUNK;
        q->buf = p + done;
        q->len = want;
        q->off = off + (int64_t)done;
        ssize_t r = fs_run(q);
        if (r < 0)
            return done ? (ssize_t)done : r;
        done += (size_t)r;
        if ((size_t)r < want)
            break;
    } while (done < n);
    return (ssize_t)done;
}

static ssize_t rw(int code, int fd, const void *buf, size_t n, int64_t off)
{
    if (fd < 0)
        return -EBADF;
    if ((!buf && n) || off < 0)
        return -EINVAL;
    fs_req q = {.code = (uint8_t)code, .fd = fd, .buf = (void *)buf, .off = off};
    if (n == 0) { /* still a call: errors (EBADF, EISDIR) show */
        q.len = 0;
        return fs_run(&q);
    }
    return transfer(&q, n);
}

ssize_t coio_file_read(int fd, void *buf, size_t n)
{
    return rw(FS_READ, fd, buf, n, 0);
}

ssize_t coio_file_write(int fd, const void *buf, size_t n)
{
    return rw(FS_WRITE, fd, buf, n, 0);
}

ssize_t coio_file_pread(int fd, void *buf, size_t n, int64_t offset)
{
    return rw(FS_PREAD, fd, buf, n, offset);
}

ssize_t coio_file_pwrite(int fd, const void *buf, size_t n, int64_t offset)
{
    return rw(FS_PWRITE, fd, buf, n, offset);
}

static ssize_t rwv(int code, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (fd < 0)
        return -EBADF;
    if ((!iov && iovcnt) || iovcnt < 0 || iovcnt > IOV_MAX || off < 0)
        return -EINVAL;
    fs_req q = {.code = (uint8_t)code, .fd = fd, .iov = iov, .len = (size_t)iovcnt,
                .off = off};
    return fs_run(&q);
}

ssize_t coio_file_readv(int fd, const struct iovec *iov, int iovcnt)
{
    return rwv(FS_READV, fd, iov, iovcnt, 0);
}

ssize_t coio_file_writev(int fd, const struct iovec *iov, int iovcnt)
{
    return rwv(FS_WRITEV, fd, iov, iovcnt, 0);
}

ssize_t coio_file_preadv(int fd, const struct iovec *iov, int iovcnt, int64_t offset)
{
    return rwv(FS_PREADV, fd, iov, iovcnt, offset);
}

ssize_t coio_file_pwritev(int fd, const struct iovec *iov, int iovcnt, int64_t offset)
{
    return rwv(FS_PWRITEV, fd, iov, iovcnt, offset);
}

static int on_fd(int code, int fd, int flags, int64_t a, int64_t b, void *out)
{
    if (fd < 0)
        return -EBADF;
    fs_req q = {.code = (uint8_t)code, .fd = fd, .flags = flags, .off = a, .off2 = b,
                .out = out};
    return (int)fs_run(&q);
}

int coio_file_fsync(int fd)
{
    return on_fd(FS_FSYNC, fd, 0, 0, 0, NULL);
}

int coio_file_fdatasync(int fd)
{
    return on_fd(FS_FDATASYNC, fd, 0, 0, 0, NULL);
}

int coio_file_fallocate(int fd, int mode, int64_t offset, int64_t len)
{
    if (offset < 0 || len <= 0)
        return -EINVAL;
    return on_fd(FS_FALLOCATE, fd, mode, offset, len, NULL);
}

int coio_file_ftruncate(int fd, int64_t len)
{
    if (len < 0)
        return -EINVAL;
    return on_fd(FS_FTRUNCATE, fd, 0, len, 0, NULL);
}

int coio_file_fstat(int fd, struct stat *st)
{
    if (!st)
        return -EINVAL;
    int r = fstat_quick(fd, st, 0, NULL, 0);
    return r != -EAGAIN ? r : on_fd(FS_FSTAT, fd, 0, 0, 0, st);
}

static int on_path(int code, const char *path, int flags, mode_t mode, void *out)
{
    if (!path)
        return -EINVAL;
    fs_req q = {.code = (uint8_t)code, .dirfd = AT_FDCWD, .path = path, .flags = flags,
                  .mode = mode, .out = out};
    return (int)fs_run(&q);
}

int coio_file_stat(const char *path, struct stat *st)
{
    if (!st)
        return -EINVAL;
    return on_path(FS_STAT, path, 0, 0, st);
}

int coio_file_lstat(const char *path, struct stat *st)
{
    if (!st)
        return -EINVAL;
    return on_path(FS_STAT, path, AT_SYMLINK_NOFOLLOW, 0, st);
}

int coio_file_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out)
{
    if (!path || !out)
        return -EINVAL;
    if (!*path && (flags & AT_EMPTY_PATH)) {
        int r = fstat_quick(dirfd, NULL, flags, out, mask);
        if (r != -EAGAIN)
            return r;
    }
    fs_req q = {.code = FS_STATX, .dirfd = dirfd, .path = path, .flags = flags,
                .mask = mask, .out = out};
    return (int)fs_run(&q);
}

int coio_file_unlink(const char *path)
{
    return on_path(FS_UNLINK, path, 0, 0, NULL);
}

int coio_file_mkdir(const char *path, mode_t mode)
{
    return on_path(FS_MKDIR, path, 0, mode, NULL);
}

int coio_file_rmdir(const char *path)
{
    return on_path(FS_RMDIR, path, 0, 0, NULL);
}

int coio_file_rename(const char *from, const char *to)
{
    if (!from || !to)
        return -EINVAL;
    fs_req q = {.code = FS_RENAME, .dirfd = AT_FDCWD, .path = from, .path2 = to};
    return (int)fs_run(&q);
}

/* --------------------------------------------------------------- directories */

struct coio_dir {
    int fd;
    size_t pos, end; /* unread records in buf[pos, end) */
    bool eof;
    _Alignas(8) char buf[FS_DIRBUF]; /* records are 8-byte aligned from its start */
};

/* The kernel's record of getdents64 (glibc declares no type for it). */
struct fs_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

int coio_dir_open(const char *path, coio_dir **out)
{
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    coio_dir *d = malloc(sizeof *d);
    if (!d)
        return -ENOMEM;
    fs_req q = {.code = FS_OPEN, .dirfd = AT_FDCWD, .path = path,
                .flags = O_RDONLY | O_DIRECTORY};
    int fd = (int)fs_run(&q);
    if (fd < 0) {
        free(d);
        return fd;
    }
    d->fd = fd;
    d->pos = d->end = 0;
    d->eof = false;
    *out = d;
    return 0;
}

int coio_dir_next(coio_dir *d, coio_dirent *e)
{
    if (!d || !e)
        return -EINVAL;
    for (;;) {
        while (d->pos < d->end) {
            struct fs_dirent64 *k = (struct fs_dirent64 *)(void *)(d->buf + d->pos);
            d->pos += k->d_reclen;
            if (k->d_name[0] == '.' &&
                (k->d_name[1] == '\0' || (k->d_name[1] == '.' && k->d_name[2] == '\0')))
                continue;
            e->name = k->d_name;
            e->ino = k->d_ino;
            e->type = k->d_type;
            return 1;
        }
        if (d->eof)
            return 0;
        fs_req q = {.code = FS_GETDENTS, .fd = d->fd, .buf = d->buf, .len = sizeof d->buf};
        ssize_t r = fs_run(&q);
        if (r < 0)
            return (int)r;
        d->pos = 0;
        d->end = (size_t)r;
        d->eof = r == 0;
    }
}

int coio_dir_close(coio_dir *d)
{
    if (!d)
        return -EINVAL;
    /* A directory fd holds no data to write back: close(2) does not block here. */
    int r = close(d->fd) == 0 ? 0 : -errno;
    free(d);
    return r;
}

/* --------------------------------------------------------------- whole files */

/* FS_READ_SMALL: opens q->path and reads it whole, up to EOF, if it holds at most
 * FS_SMALL_FILE bytes (and at most q->len, the cap); otherwise leaves it open in q->fd
 * with what it read so far (q->off bytes, the buffer's room). The buffer (q->buf,
 * malloc'd here) has room for a final NUL.
 * A quick regular file (quick_fds) of at most FS_NOWAIT_MAX bytes is only opened and
 * sized: q->quick, q->fd, its size in q->off2. The loop thread reads it (read_nowait)
 * into a buffer of its own: a buffer malloc'd on a worker and freed by the caller's
 * thread goes back to the worker's arena, which glibc trims and grows again, a fresh
 * page fault per file or two (14,000 for 30,000 small files, 11 % of the time). */
static ssize_t read_small(fs_req *q)
{
    q->fd = -1;
    q->buf = NULL;
    int fd = open(q->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct statx x;
    q->quick = fd_is_quick(fd, &x);
    struct stat st = {.st_mode = x.stx_mode, .st_size = (off_t)x.stx_size};
    if ((x.stx_mask & (STATX_TYPE | STATX_SIZE)) != (STATX_TYPE | STATX_SIZE) &&
        fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return -EISDIR;
    }
    if (q->quick && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size <= q->len && st.st_size <= (off_t)FS_NOWAIT_MAX &&
        atomic_load_explicit(&nowait_ok, memory_order_relaxed)) {
        q->fd = fd;
        q->off2 = st.st_size;
        return 0;
    }
    q->quick = false;
    size_t cap = q->len;
    /* st_size is 0 for /proc files and pipes: read those until EOF in steps. */
    size_t want = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 4096;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > cap) {
        close(fd);
        return -EFBIG;
    }
    if (want > FS_SMALL_FILE)
        want = FS_SMALL_FILE;
    if (want > cap)
        want = cap;
    char *b = malloc(want + 2); /* + 1 byte that tells the end, + the NUL */
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    /* A regular file's read(2) comes back short only at the end of the file: asking for
     * one byte more than its size finds the end in the same call. A pipe or a /proc
     * file (st_size 0) returns what it has, so the loop goes on until read says 0. */
    bool reg = S_ISREG(st.st_mode) && st.st_size > 0;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, b + got, want + (reg || got == want) - got);
        if (reg && r >= 0 && got + (size_t)r <= want) {
            got += (size_t)r;
            break;
        }
        if (r < 0) {
            int e = errno;
            free(b);
            close(fd);
            return -e;
        }
        got += (size_t)r;
        if (r == 0)
            break;
        if (got > want) { /* the file goes on past the size it had */
            if (want == cap) {
                free(b);
                close(fd);
                return -EFBIG;
            }
            q->fd = fd; /* the caller reads the rest */
            q->buf = b;
            q->off = (int64_t)got;
            return (ssize_t)got;
        }
        /* got == want: one more byte of room (b has want + 2) tells the end of the file
         * from more to come, so that a whole small file is one request: open, read,
         * close, no second trip to see EOF. */
    }
    close(fd);
    q->buf = b;
    return (ssize_t)got;
}

/* read_all's first step where the backend opens and stats natively: opens path and
 * sizes a buffer for it (*room bytes, + 1 for the NUL). *local: a regular file on a
 * quick file system, whose short read is its end (a read returns fewer bytes only there). */
static int read_all_open(const char *path, size_t cap, char **b, size_t *room, int *fd,
                         bool *local)
{
    *fd = coio_file_open(path, O_RDONLY, 0);
    if (*fd < 0)
        return *fd;
    struct statx sx;
    int r = coio_file_statx(*fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE, &sx);
    bool reg = r == 0 && S_ISREG(sx.stx_mode);
    if (r == 0 && S_ISDIR(sx.stx_mode))
        r = -EISDIR;
    else if (reg && sx.stx_size > cap)
        r = -EFBIG;
    if (r == 0) {
        /* st_size is 0 for /proc files and pipes: read those until EOF in steps. */
        size_t want = reg && sx.stx_size > 0 ? (size_t)sx.stx_size : 4096;
        *local = reg && sx.stx_size > 0 && fd_bit(quick_fds, *fd);
        *room = want < FS_CHUNK ? want : FS_CHUNK;
        if (*local && *room == want && want < cap)
            *room = want + 1; /* one byte more than the size finds the end at once */
        if (*room > cap)
            *room = cap;
        *b = malloc(*room + 1);
        if (!*b)
            r = -ENOMEM;
    }
    if (r < 0) {
        close_quietly(*fd);
        *fd = -1;
    }
    return r;
}

ssize_t coio_file_read_all(const char *path, size_t cap, void **data)
{
    if (!path || !data || cap > (size_t)SSIZE_MAX - 1)
        return -EINVAL;
    *data = NULL;
    char *b = NULL;
    size_t got = 0, room = 0;
    int fd = -1;
    bool local = false; /* a short read is the end of the file (read_all_open) */
    ssize_t r;
    if (backend_has(coio__loop_get(), COIO__OP_OPENAT) &&
        backend_has(coio__loop_get(), COIO__OP_STATX)) {
        /* io_uring: open, statx and reads in the kernel, no pool trip. */
        r = read_all_open(path, cap, &b, &room, &fd, &local);
        if (r < 0)
            return r;
        got = 0;
    } else {
        fs_req q = {.code = FS_READ_SMALL, .path = path, .len = cap};
        r = fs_run(&q);
        if (r < 0) {
            if (q.ran) { /* cancelled after the worker opened and read: undo */
                free(q.buf);
                close_quietly(q.fd);
            }
            return r;
        }
        b = q.buf;
        got = (size_t)r;
        room = (size_t)q.off;
        fd = q.fd;
        if (q.quick) { /* opened and sized on the worker: read here */
            fd_bit_set(plain_fds, fd, true);
            fd_bit_set(quick_fds, fd, true);
            size_t size = (size_t)q.off2;
            local = true;
            room = size < cap ? size + 1 : size; /* + 1: see read_all_open */
            b = malloc(room + 1);
            if (!b) {
                close_quietly(fd);
                return -ENOMEM;
            }
            got = 0;
        }
    }
    while (fd >= 0) { /* the rest of a file, in requests of at most FS_CHUNK */
        if (got == room) {
            if (room == cap) { /* full: the file must end here */
                char probe;
                fs_req p = {.code = FS_READ, .fd = fd, .buf = &probe, .len = 1};
                r = fs_run(&p);
                if (r != 0) {
                    r = r > 0 ? -EFBIG : r;
                    break;
                }
                r = 0;
                break;
            }
            size_t nroom = room < FS_CHUNK ? room * 2 : room + FS_CHUNK;
            if (nroom > cap)
                nroom = cap;
            char *nb = realloc(b, nroom + 1);
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            b = nb;
            room = nroom;
        }
        fs_req c = {.code = FS_READ, .fd = fd, .buf = b + got, .len = room - got};
        r = fs_run(&c);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (local && (size_t)r < c.len) { /* the end of the file */
            r = 0;
            break;
        }
    }
    if (fd >= 0)
        close_quietly(fd);
    if (r < 0) {
        free(b);
        return r;
    }
    b[got] = '\0';
    *data = b;
    return (ssize_t)got;
}

/* FS_COMMIT of an atomic write: give the temporary file q->fd the mode q->mode (if
 * q->mask), fsync it, close it, rename it
 * over q->path2, then fsync the directory (q->dirfd) so the rename survives a crash.
 * Removes the temporary file when a step before the rename fails. */
static ssize_t commit(fs_req *q)
{
    int e = 0;
    if (q->mask && fchmod(q->fd, q->mode) < 0)
        e = errno;
    if (!e && fsync(q->fd) < 0)
        e = errno;
    if (close(q->fd) < 0 && !e)
        e = errno;
    if (!e && renameat2(AT_FDCWD, q->path, AT_FDCWD, q->path2, (unsigned)q->flags) < 0)
        e = errno;
    if (e) {
        unlink(q->path);
        return -e;
    }
    if (fsync(q->dirfd) < 0)
        return -errno;
    return 0;
}

/* "dir/name" -> fills dir with "dir" ("." without a slash). */
static int dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (slash && n == 0)
        n = 1; /* "/name" */
    if (n + 1 > cap)
        return -ENAMETOOLONG;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    return 0;
}

/* Writes all n bytes at offset 0. After a short write (an interruption, a full disk)
 * the next call reports why. */
static ssize_t write_chunks(int fd, const void *data, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = coio_file_pwrite(fd, (const char *)data + done, n - done, (int64_t)done);
        if (r < 0)
            return r;
        if (r == 0)
            return -ENOSPC;
        done += (size_t)r;
    }
    return (ssize_t)n;
}

static int write_atomic(const char *path, const void *data, size_t n, unsigned flags)
{
    char dir[PATH_MAX], tmp[PATH_MAX];
    int r = dir_of(path, dir, sizeof dir);
    if (r < 0)
        return r;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    static _Atomic unsigned counter;
    if (snprintf(tmp, sizeof tmp, "%s.coio-%x%lx%x", path, (unsigned)getpid(),
                 (unsigned long)ts.tv_nsec, counter++) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int dfd = coio_file_open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0)
        return dfd;
    int fd = coio_file_open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        close_quietly(dfd);
        return fd;
    }
    /* The new file replaces the old one: it keeps the old one's permissions. */
    struct stat st;
    fs_req sq = {.code = FS_STAT, .dirfd = AT_FDCWD, .path = path, .out = &st};
    r = (int)fs_run(&sq);
    bool keep_mode = r == 0;
    if (r == -ENOENT)
        r = 0;
    if (r >= 0)
        r = (int)write_chunks(fd, data, n);
    if (r >= 0) {
        fs_req c = {.code = FS_COMMIT, .fd = fd, .dirfd = dfd, .path = tmp, .path2 = path,
                    .flags = (flags & COIO_FILE_EXCL) ? RENAME_NOREPLACE : 0,
                    .mask = keep_mode, .mode = keep_mode ? st.st_mode & 07777 : 0};
        r = (int)fs_run(&c);
        if (!c.ran) { /* interrupted before the commit: the old file stays */
            close_quietly(fd);
            fs_req u = {.code = FS_UNLINK, .dirfd = AT_FDCWD, .path = tmp};
            fs_run_shielded(&u);
        }
    } else {
        close_quietly(fd);
        fs_req u = {.code = FS_UNLINK, .dirfd = AT_FDCWD, .path = tmp};
        fs_run_shielded(&u);
    }
    close_quietly(dfd);
    return r < 0 ? r : 0;
}

int coio_file_write_all(const char *path, const void *data, size_t n, unsigned flags)
{
    if (!path || (!data && n) || (flags & ~(COIO_FILE_ATOMIC | COIO_FILE_SYNC | COIO_FILE_EXCL)))
        return -EINVAL;
    if (flags & COIO_FILE_ATOMIC)
        return write_atomic(path, data, n, flags);
    int fd = coio_file_open(path, O_WRONLY | O_CREAT | O_TRUNC |
                                      ((flags & COIO_FILE_EXCL) ? O_EXCL : 0), 0666);
    if (fd < 0)
        return fd;
    ssize_t r = write_chunks(fd, data, n);
    if (r >= 0 && (flags & COIO_FILE_SYNC))
        r = coio_file_fsync(fd);
    int c = coio_file_close(fd);
    if (r >= 0 && c < 0)
        r = c;
    return r < 0 ? (int)r : 0;
}

/* FS_COPY_RANGE: copies up to q->len bytes from q->fd at q->off to q->fd2 at the same
 * offset, with copy_file_range (no copy through user space; reflinks on btrfs/XFS) or,
 * where the kernel refuses it (across file systems before 5.3, some file systems),
 * with pread/pwrite. q->flags is set to 1 once copy_file_range has been refused. */
static ssize_t copy_chunk(fs_req *q)
{
    if (!q->flags) {
        loff_t in = (loff_t)q->off, out = (loff_t)q->off;
        ssize_t r = copy_file_range(q->fd, &in, q->fd2, &out, q->len, 0);
        if (r >= 0)
            return r;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
            errno != EPERM)
            return -errno;
        q->flags = 1;
    }
    char *b = malloc(256u << 10);
    if (!b)
        return -ENOMEM;
    size_t done = 0;
    while (done < q->len) {
        size_t want = q->len - done < (256u << 10) ? q->len - done : (256u << 10);
        ssize_t r = pread(q->fd, b, want, (off_t)q->off + (off_t)done);
        if (r <= 0) {
            if (r < 0 && !done) {
                int e = errno;
                free(b);
                return -e;
            }
            break;
        }
        size_t w = 0;
        while (w < (size_t)r) {
            ssize_t k = pwrite(q->fd2, b + w, (size_t)r - w, (off_t)q->off + (off_t)(done + w));
            if (k < 0) {
                int e = errno;
                free(b);
                return done ? (ssize_t)done : -e;
            }
            w += (size_t)k;
        }
        done += (size_t)r;
    }
    free(b);
    return (ssize_t)done;
}

int64_t coio_file_copy(const char *from, const char *to, unsigned flags)
{
    if (!from || !to || (flags & ~(COIO_FILE_SYNC | COIO_FILE_EXCL)))
        return -EINVAL;
    int in = coio_file_open(from, O_RDONLY, 0);
    if (in < 0)
        return in;
    struct stat st;
    int64_t r = coio_file_fstat(in, &st);
    if (r == 0 && S_ISDIR(st.st_mode))
        r = -EISDIR;
    if (r < 0) {
        close_quietly(in);
        return r;
    }
    int out = coio_file_open(to, O_WRONLY | O_CREAT | O_TRUNC |
                                     ((flags & COIO_FILE_EXCL) ? O_EXCL : 0),
                             st.st_mode & 0777);
    if (out < 0) {
        close_quietly(in);
        return out;
    }
    int64_t done = 0;
    fs_req q = {.code = FS_COPY_RANGE, .fd = in, .fd2 = out};
    for (;;) {
        q.off = done;
        q.len = 8 * (size_t)FS_CHUNK;
        ssize_t k = fs_run(&q);
        if (k < 0) {
            r = k;
            break;
        }
        if (k == 0)
            break;
        done += k;
    }
    if (r == 0 && (flags & COIO_FILE_SYNC))
        r = coio_file_fsync(out);
    close_quietly(in);
    int c = coio_file_close(out);
    if (r == 0 && c < 0)
        r = c;
    if (r < 0) { /* no half copy left behind under the destination's name */
        fs_req u = {.code = FS_UNLINK, .dirfd = AT_FDCWD, .path = to};
        fs_run_shielded(&u);
        return r;
    }
    return done;
}

/* --------------------------------------------------------------- sendfile */

#ifndef SYS_cachestat
#define SYS_cachestat 451 /* Linux 6.5; the same number on every architecture but alpha */
#endif

struct fs_cachestat_range {
    uint64_t off, len;
};
struct fs_cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

static atomic_bool no_cachestat; /* the kernel lacks cachestat(2): always the pool */

/* Whether every page of file_fd's [off, off + len) is in the page cache, so that
 * sendfile(2) reads nothing from the disk and, on a non-blocking socket, cannot block.
 * False when it cannot tell (no cachestat, a file system without a page cache). A page
 * evicted between this check and the send makes that one send wait for the disk. */
static bool range_cached(int fd, int64_t off, size_t len)
{
    if (len == 0 || atomic_load_explicit(&no_cachestat, memory_order_relaxed))
        return false;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    struct fs_cachestat_range rg = {(uint64_t)off, len};
    struct fs_cachestat cs;
    if (syscall(SYS_cachestat, fd, &rg, &cs, 0) != 0) {
        if (errno == ENOSYS)
            atomic_store_explicit(&no_cachestat, true, memory_order_relaxed);
        return false;
    }
    uint64_t pages = ((uint64_t)off + len + page - 1) / page - (uint64_t)off / page;
    return cs.nr_cache >= pages;
}

ssize_t coio_sendfile(int sock, int file_fd, int64_t offset, size_t count)
{
    if (sock < 0 || file_fd < 0)
        return -EBADF;
    if (offset < 0)
        return -EINVAL;
    coio__loop *L = coio__loop_get();
    size_t done = 0;
    while (done < count) {
        size_t want = count - done < 8 * (size_t)FS_CHUNK ? count - done : 8 * (size_t)FS_CHUNK;
        int64_t at = offset + (int64_t)done;
        ssize_t r;
        bool ran;
        if ((r = coio__check(L, L ? L->current : NULL)) < 0) {
            ran = false; /* outside a task, cancelled or past a deadline */
        } else if (range_cached(file_fd, at, want < FS_CHUNK ? want : FS_CHUNK)) {
            /* Every page is in memory: sendfile only hands them to the non-blocking
             * socket, a memory operation like send(2), done here without a thread hop.
             * FS_CHUNK at a time, so that a check costs little however far the file
             * goes and a slow reader's many partial sends do not walk it again and again. */
            off_t off = (off_t)at;
            r = sendfile(sock, file_fd, &off, want < FS_CHUNK ? want : FS_CHUNK);
            r = r < 0 ? -errno : r;
            ran = true;
        } else {
            /* On the pool: sendfile reads the file, which may wait for the disk. The
             * socket is non-blocking, so a full socket buffer returns EAGAIN to the
             * worker and the task waits for room on the loop. */
            fs_req q = {.code = FS_SENDFILE, .fd = file_fd, .fd2 = sock, .off = at, .len = want};
            r = fs_run(&q);
            ran = q.ran;
        }
        if (r == -EAGAIN && ran) {
            r = coio_wait_fd(sock, COIO_WRITABLE);
            if (r >= 0)
                continue;
        }
        if (r < 0)
            return done ? (ssize_t)done : r;
        if (r == 0)
            break; /* the file ended before count */
        done += (size_t)r;
    }
    return (ssize_t)done;
}

ssize_t coio_stream_sendfile(coio_stream *s, int file_fd, int64_t offset, size_t count)
{
    if (!s)
        return -EINVAL;
    int r = coio_stream_flush(s);
    if (r < 0)
        return r;
    int fd = coio_stream_fd(s);
    if (fd < 0)
        return -EPIPE; /* after write_eof */
    return coio_sendfile(fd, file_fd, offset, count);
}
