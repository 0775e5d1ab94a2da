/*
 * Helpers for the network tests (test_net.c, test_dns.c, test_server.c, test_fetch.c,
 * test_http_hello.c): loopback sockets, the examples' paths, real peer processes
 * (tests/peers/netpeer.py, nc) started with fork/exec and awaited without blocking the
 * loop, and a raised fd limit. Include after coio_test.h. Everything stays on 127.0.0.1
 * and ::1.
 */
#ifndef COIO_NET_HELPERS_H
#define COIO_NET_HELPERS_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC in seconds, read directly (not through the loop). */
static inline double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The example program `name`: $env_var if set, else ../examples/<name> next to this
 * test's binary (the build tree: build/<dir>/tests/, build/<dir>/examples/). Fails the
 * case when it is not there. The string lives until the next call. */
static inline const char *example_path(const char *name, const char *env_var)
{
    static char path[4096];
    const char *env = getenv(env_var);
    if (env && *env)
        return env;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = 0;
    snprintf(path, sizeof path, "%s/../examples/%s", dirname(self), name);
    if (access(path, X_OK) != 0) {
        print_error("%s not found at %s; set %s\n", name, path, env_var);
        fail();
    }
    return path;
}

/* A server example run as a child for one case: started by example_server_start with
 * args (NULL-terminated, may be NULL) and port 0, RLIMIT_NOFILE lowered to nofile (soft
 * and hard) if nofile > 0; its "listening on 127.0.0.1:PORT" line gives the port. */
struct example_server {
    const char *name;
    pid_t pid;
    int port;
};

static inline void example_server_start(struct example_server *srv, const char *env_var,
                                        const char *const *args, rlim_t nofile)
{
    require_backend();
    const char *path = example_path(srv->name, env_var);
    const char *argv[16] = {path};
    int n = 1;
    for (; args && *args && n < 14; args++)
        argv[n++] = *args;
    argv[n++] = "0";
    argv[n] = NULL;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    srv->pid = fork();
    assert_true(srv->pid >= 0);
    if (srv->pid == 0) {
        struct rlimit rl = {nofile, nofile};
        if (nofile && setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(126);
        dup2(p[1], 1);
        execv(path, (char **)argv);
        _exit(127);
    }
    close(p[1]);
    char line[128];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof line - 1 && (r = read(p[0], line + len, 1)) == 1 && line[len] != '\n')
        len++;
    line[len] = 0;
    close(p[0]);
    if (sscanf(line, "listening on 127.0.0.1:%d", &srv->port) != 1) {
        print_error("%s said \"%s\", not \"listening on 127.0.0.1:PORT\"\n", srv->name, line);
        fail();
    }
}

/* Stops the server; -1 (a failed teardown) if it had exited during the case, since these
 * servers never exit on their own. */
static inline int example_server_stop(struct example_server *srv)
{
    if (srv->pid <= 0)
        return 0;
    int st = 0;
    bool alive = waitpid(srv->pid, &st, WNOHANG) == 0;
    if (alive) {
        kill(srv->pid, SIGTERM);
        waitpid(srv->pid, &st, 0);
    }
    srv->pid = 0;
    if (!alive)
        print_error("%s exited during the case (status %d)\n", srv->name, st);
    return alive ? 0 : -1;
}

/* poll(2) on one fd for at most `limit` seconds, again after EINTR. */
static inline int poll_(struct pollfd *p, double limit)
{
    double end = mono_now() + limit;
    int r;
    while ((r = poll(p, 1, (int)((end - mono_now()) * 1000))) < 0 && errno == EINTR) {
    }
    return r;
}

/* Sends buf[0..len) again and again until the peer stops reading and the kernel buffers
 * are full (no POLLOUT for 0.5 s). Returns the bytes sent. */
static inline size_t send_until_stalled(int fd, const void *buf, size_t len)
{
    size_t total = 0;
    for (;;) {
        struct pollfd pw = {.fd = fd, .events = POLLOUT};
        if (poll_(&pw, 0.5) != 1 || !(pw.revents & POLLOUT))
            break;
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0)
            break;
        total += (size_t)w;
        assert_true(total < 1000u * 1000 * 1000);
    }
    return total;
}

/* Port of a bound socket (host order), or -1. */
static inline int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static inline struct sockaddr_in loopback_addr(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

/* Whether this machine has IPv6 on loopback (::1 can be bound); skips the case if not. */
static inline void require_ipv6_loopback(void)
{
    int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int ok = s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0;
    int e = errno;
    if (s >= 0)
        close(s);
    if (!ok)
        coio_test_skip("no IPv6 on loopback (::1): %s", strerror(e));
}

/* blackhole_listener on ::1 (see below). */
static inline int blackhole_listener6(int *port, int *filler)
{
    int l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 0) < 0)
        return -1;
    *port = local_port(l);
    sa.sin6_port = htons((uint16_t)*port);
    *filler = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(*filler, (struct sockaddr *)&sa, sizeof sa) < 0)
        return -1;
    usleep(20000); /* let the handshake finish so the queue is full */
    return l;
}

/* A listener on 127.0.0.1 that never completes a connection: backlog 0 holds one
 * established connection (made here, kept in *filler), and the kernel drops every
 * later SYN while the accept queue is full, so connect() hangs until its SYN retries
 * give up (minutes). Returns the listener. */
static inline int blackhole_listener(int *port, int *filler)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = loopback_addr(0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 0) < 0)
        return -1;
    *port = local_port(l);
    sa = loopback_addr(*port);
    *filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(*filler, (struct sockaddr *)&sa, sizeof sa) < 0)
        return -1;
    usleep(20000); /* let the handshake finish so the queue is full */
    return l;
}

/* A port on 127.0.0.1 where nothing listens (connect: ECONNREFUSED). */
static inline int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = loopback_addr(0);
    bind(s, (struct sockaddr *)&sa, sizeof sa);
    int port = local_port(s);
    close(s);
    return port;
}

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit. */
static inline long raise_nofile(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

/* ---- peer processes ---------------------------------------------------------------- */

static inline const char *python3_path(void)
{
    /* Debian's python starts faster than a pyenv shim, and both have asyncio. */
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* tests/peers/<name>, found next to this source file. */
static inline const char *peer_script(const char *name)
{
    static char path[4096];
    char src[4096];
    snprintf(src, sizeof src, "%s", __FILE__);
    snprintf(path, sizeof path, "%s/peers/%s", dirname(src), name);
    return path;
}

typedef struct peer {
    pid_t pid;
    int out; /* non-blocking read end of its stdout, or -1 */
} peer;

/* Starts argv[0] (searched in PATH) with stdout to a pipe (if capture) and stdin from
 * /dev/null or the pipe end stdin_fd. Returns 0 or -errno. */
static inline int peer_start(peer *p, char *const argv[], int capture, int stdin_fd)
{
    int o[2] = {-1, -1};
    if (capture && pipe2(o, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
        dup2(in, 0);
        if (capture)
            dup2(o[1], 1);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        _exit(127);
    }
    p->pid = pid;
    p->out = -1;
    if (capture) {
        close(o[1]);
        fcntl(o[0], F_SETFL, O_NONBLOCK);
        p->out = o[0];
    }
    return 0;
}

/* Reads the peer's stdout until EOF or cap bytes (inside a task). Returns bytes. */
static inline ssize_t peer_read_all(peer *p, char *buf, size_t cap)
{
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t n = coio_read(p->out, buf + got, cap - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

/* Reads one line (a port number) from the peer's stdout, inside a task. */
static inline int peer_read_port(peer *p)
{
    char line[32];
    size_t got = 0;
    while (got + 1 < sizeof line) {
        ssize_t n = coio_read(p->out, line + got, 1);
        if (n <= 0)
            return -1;
        if (line[got] == '\n')
            break;
        got++;
    }
    line[got] = '\0';
    return atoi(line);
}

/* Waits (inside a task, polling so the loop runs on) up to `seconds` for the peer to
 * exit; kills it after that. Returns its exit status, or -1 if it had to be killed. */
static inline int peer_wait(peer *p, double seconds)
{
    int st = 0;
    double end = coio_now() + seconds;
    pid_t r;
    while ((r = waitpid(p->pid, &st, WNOHANG)) == 0 && coio_now() < end)
        coio_sleep(0.005);
    if (r == 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &st, 0);
        st = -1;
    } else {
        st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (p->out >= 0)
        coio_close(p->out);
    p->out = -1;
    return st;
}

#endif
