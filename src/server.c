/*
 * Servers, like asyncio.start_server: one accept-loop task per server spawns a handler
 * task per connection. The server owns the listening socket, every connection until its
 * handler starts, and the list of live connections, which is how a graceful shutdown
 * finds the handlers to wait for and, after the grace period, to cancel.
 *
 * A handler task detaches itself when it starts and unlinks its connection when it
 * ends, so a connection in the list always has a live task. One that never started
 * (cancelled before its first turn) is collected by coio_server_close with coio_await.
 */
#include "net.h"

#include <stdlib.h>

#define ACCEPT_BACKOFF_MIN 0.01 /* seconds; doubles up to opts.accept_retry_max */
/* Errors that are retried at once are each about one connection; more of them in a row
 * than this means the kernel keeps refusing, and retrying at once would spin. */
#define ACCEPT_QUICK_RETRIES 8

typedef struct conn {
    coio__list link; /* server's connections */
    coio_server *srv;
    coio_task *task;
    int fd;
    bool started;
    bool dropped; /* close_clients/abort_clients before it started: never runs */
} conn;

struct coio_server {
    int fd;
    int (*handler)(int fd, void *arg);
    void *arg;
    coio_server_opts opts;
    coio_task *acceptor;
    coio__list conns;
    coio_server_stats stats;
    int stop_err;          /* why the accept loop ended (0: closed) */
    int ncancelled;        /* handlers cancelled (or never run) by coio_server_close */
    bool accepting;        /* the accept loop runs */
    bool closing;          /* coio_server_close has begun */
    bool cancelling;       /* ... and the grace period is over */
    coio_task *limit_wait; /* the acceptor, parked at max_connections */
    coio_task *close_wait; /* coio_server_close, parked until no handler is left */
    coio_task *stop_wait;  /* coio_server_wait, parked until the accept loop ends */
    char limit_obj, close_obj, stop_obj; /* distinct wait_obj addresses */
};

static void wake_if(coio__loop *L, coio_task *t, void *obj)
{
    if (t)
        coio__wake_if_waiting(L, t, obj, 0);
}

/* Ends coio_server_wait: the waker, not the waiter, clears stop_wait and passes the
 * result, so the waiter never touches a server that coio_server_close may free before
 * it runs again. */
static void wake_stop_waiter(coio__loop *L, coio_server *s)
{
    coio_task *t = s->stop_wait;
    s->stop_wait = NULL;
    if (t)
        coio__wake_if_waiting(L, t, &s->stop_obj, s->stop_err > 0 ? 0 : s->stop_err);
}

static void stop_unwait(coio_task *t)
{
    coio_server *s = coio__container_of((char *)t->wait_obj, coio_server, stop_obj);
    s->stop_wait = NULL;
}

/* A connection is over: its fd closed (unless the handler owns it), the server told. */
static void conn_end(coio__loop *L, conn *c, bool close_fd)
{
    coio_server *s = c->srv;
    if (close_fd)
        coio_close(c->fd);
    coio__list_unlink(&c->link);
    s->stats.active--;
    free(c);
    wake_if(L, s->limit_wait, &s->limit_obj);
    if (s->stats.active == 0)
        wake_if(L, s->close_wait, &s->close_obj);
}

static int conn_main(void *arg)
{
    conn *c = arg;
    coio_server *s = c->srv;
    c->started = true;
    coio_detach(c->task); /* freed when it returns; the list tracks it until then */
    int r = -ECANCELED;
    bool owns = (s->opts.flags & COIO_SERVER_HANDLER_CLOSES) != 0;
    /* Shutdown's cancel phase, or close_clients, may have come before we started. */
    if (!s->cancelling && !c->dropped)
        r = s->handler(c->fd, s->arg);
    else if (s->cancelling)
        s->ncancelled++;
    conn_end(coio__loop_get(), c, !owns || s->cancelling || c->dropped);
    return r;
}

/* Accept errors that say nothing about the listening socket: retry at once. Linux
 * passes pending network errors of the new connection to accept (accept(2), "Error
 * handling"); ECONNABORTED is a connection reset while it waited in the backlog. */
static bool accept_retry_now(int err)
{
    switch (-err) {
    case ECONNABORTED:
    case EPROTO:
    case EPERM: /* a firewall rule refused it */
    case EINTR:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ETIMEDOUT: /* only when not our own deadline: see accept_main */
        return true;
    default:
        return false;
    }
}

/* Resource shortages: back off and try again; a handler ending frees what is needed. */
static bool accept_retry_later(int err)
{
    return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

static int accept_main(void *arg)
{
    coio_server *s = arg;
    coio__loop *L = coio__loop_get();
    coio_task *self = L->current;
    double backoff = 0, backoff_max = s->opts.accept_retry_max > 0 ? s->opts.accept_retry_max : 1.0;
    coio_spawn_opts so = {.stack_size = s->opts.stack_size};
    int err = 0;
    unsigned quick = 0; /* retry-at-once errors since the last accepted connection */
    for (;;) {
        while (s->opts.max_connections && s->stats.active >= s->opts.max_connections) {
            s->limit_wait = self;
            err = coio__park(L, self, "server: connection limit", &s->limit_obj, NULL,
                             COIO__NEVER, true);
            s->limit_wait = NULL;
            if (err < 0)
                goto out;
        }
        int fd = coio_accept(s->fd, NULL, NULL);
        if (fd < 0) {
            if (coio__check(L, self) < 0) { /* cancelled (closing) or our deadline */
                err = fd;
                goto out;
            }
            if (!accept_retry_now(fd) && !accept_retry_later(fd)) {
                err = fd; /* the listening socket itself is unusable (EBADF, EINVAL, ...) */
                goto out;
            }
            s->stats.accept_errors++;
            s->stats.last_error = fd;
            if (accept_retry_later(fd) || ++quick > ACCEPT_QUICK_RETRIES) {
                backoff = backoff ? backoff * 2 : ACCEPT_BACKOFF_MIN;
                if (backoff > backoff_max)
                    backoff = backoff_max;
                err = coio_sleep(backoff);
                if (err < 0)
                    goto out;
            }
            continue;
        }
        backoff = 0;
        quick = 0;
        conn *c = malloc(sizeof *c);
        if (c) {
            *c = (conn){.srv = s, .fd = fd};
            c->task = coio_spawn_ex(conn_main, c, &so);
        }
        if (!c || !c->task) { /* like ENOMEM on accept: shed this one, back off */
            free(c);
            coio_close(fd);
            s->stats.accept_errors++;
            s->stats.last_error = -ENOMEM;
            backoff = backoff_max < ACCEPT_BACKOFF_MIN ? backoff_max : ACCEPT_BACKOFF_MIN;
            err = coio_sleep(backoff);
            if (err < 0)
                goto out;
            continue;
        }
        coio__list_push_back(&s->conns, &c->link);
        s->stats.accepted++;
        s->stats.active++;
    }
out:
    s->accepting = false;
    s->stop_err = s->closing ? 0 : err;
    wake_stop_waiter(L, s);
    return err;
}

coio_server *coio_server_start(int listen_fd, int (*handler)(int fd, void *arg), void *arg,
                               const coio_server_opts *opts)
{
    coio__loop *L = coio__loop_get();
    double retry_max = opts ? opts->accept_retry_max : 0;
    if (!handler || listen_fd < 0 || retry_max != retry_max) { /* NaN */
        errno = EINVAL;
        return NULL;
    }
    if (!L || !L->current) {
        errno = EPERM;
        return NULL;
    }
    coio__net_init();
    coio_server *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->fd = listen_fd;
    s->handler = handler;
    s->arg = arg;
    if (opts)
        s->opts = *opts;
    coio__list_init(&s->conns);
    s->acceptor = coio_spawn_ex(accept_main, s, &(coio_spawn_opts){.name = "server accept"});
    if (!s->acceptor) {
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    s->accepting = true;
    return s;
}

int coio_server_close(coio_server *s, double grace)
{
    coio__loop *L = coio__loop_get();
    coio_task *self = L ? L->current : NULL;
    if (!s || grace != grace)
        return -EINVAL;
    if (!self)
        return -EPERM;
    int result = 0;
    s->closing = true;

    /* 1. Stop accepting. coio_await collects the acceptor even if we are cancelled. */
    coio_cancel(s->acceptor);
    coio_await(s->acceptor);
    if (coio__cancel_visible(self))
        result = -ECANCELED;
    coio_close(s->fd);
    s->fd = -1;

    /* 2. Grace period: handlers finish on their own. */
    if (s->stats.active && result == 0 && grace != 0) {
        coio_scope sc;
        coio_timeout_begin(&sc, grace);
        while (s->stats.active) {
            s->close_wait = self;
            int r = coio__park(L, self, "server close (grace)", &s->close_obj, NULL,
                               COIO__NEVER, true);
            s->close_wait = NULL;
            if (r < 0) {
                if (r == -ECANCELED)
                    result = -ECANCELED;
                break;
            }
        }
        coio_scope_end(&sc);
    }

    /* 3. Cancel the rest and wait for them, whatever happens to us meanwhile. Handlers
     * that have not started yet see `cancelling` and never run. */
    s->cancelling = true;
    coio__list *n, *tmp;
    coio__list_for_each_safe(n, tmp, &s->conns)
    {
        conn *c = coio__container_of(n, conn, link);
        if (c->started) {
            coio_cancel(c->task);
            s->ncancelled++;
        } else if (c->task->flags & COIO__F_CANCELLED) {
            /* cancelled before its first turn (the loop is ending): it never runs */
            coio_await(c->task);
            s->ncancelled++;
            conn_end(L, c, true);
        }
    }
    while (s->stats.active) {
        s->close_wait = self;
        coio__park(L, self, "server close (cancelling)", &s->close_obj, NULL, COIO__NEVER,
                   false);
        s->close_wait = NULL;
    }
    wake_stop_waiter(L, s);
    int cancelled = s->ncancelled;
    free(s);
    return result < 0 ? result : cancelled;
}

/* Ends every connection of s: cancels the handlers that run, and makes those not yet
 * started never run. `reset`: the connections the server owns close with a RST. */
static int end_clients(coio_server *s, bool reset)
{
    if (!s)
        return -EINVAL;
    bool owns = (s->opts.flags & COIO_SERVER_HANDLER_CLOSES) == 0;
    static const struct linger rst = {.l_onoff = 1, .l_linger = 0};
    int n = 0;
    for (coio__list *l = s->conns.next; l != &s->conns; l = l->next) {
        conn *c = coio__container_of(l, conn, link);
        /* A handler that owns its fd may have closed it: the number may be reused. */
        if (reset && (owns || !c->started))
            (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
        if (c->started)
            coio_cancel(c->task);
        else
            c->dropped = true;
        n++;
    }
    return n;
}

int coio_server_close_clients(coio_server *s)
{
    return end_clients(s, false);
}

int coio_server_abort_clients(coio_server *s)
{
    return end_clients(s, true);
}

int coio_server_wait(coio_server *s)
{
    coio__loop *L = coio__loop_get();
    coio_task *self = L ? L->current : NULL;
    if (!s)
        return -EINVAL;
    if (!self)
        return -EPERM;
    if (s->stop_wait)
        return -EBUSY;
    int r = coio__check(L, self);
    if (r < 0)
        return r;
    if (!s->accepting)
        return s->stop_err;
    s->stop_wait = self;
    /* returns stop_err through the wake-up, or -ECANCELED/-ETIMEDOUT (stop_unwait) */
    return coio__park(L, self, "server wait", &s->stop_obj, stop_unwait, COIO__NEVER, true);
}

int coio_server_stats_get(const coio_server *s, coio_server_stats *out)
{
    if (!s || !out)
        return -EINVAL;
    *out = s->stats;
    return 0;
}

int coio_server_fd(const coio_server *s)
{
    return s ? s->fd : -EINVAL;
}
