/*
 * The execution trace (coio_trace_start, COIO_TRACE) and the record of failed tasks.
 *
 * While a loop traces, the scheduler, tasks, I/O and the worker pool call the hooks
 * below, and each hook writes one fixed-size event into the loop's ring: spawn, finish,
 * the end of a run slice, a park (what the task waits on), a wake-up (by whom), an I/O
 * operation's result, a task timer, a pool job's submission and completion. The ring is
 * allocated when tracing starts and never grows: when it is full the oldest events are
 * overwritten, so a long run keeps its latest events at a fixed cost. Nothing is
 * formatted until the trace is written (coio_trace_stop, or the loop's end), as
 * Chrome/Perfetto trace-event JSON: one track per task (tid = task id).
 *
 * The loop's slot for this subsystem is the trace's state and is NULL while the loop
 * does not trace, so that every hook costs one predictable branch when off
 * (COIO__TRACING). This file sits in the lowest layer: the scheduler calls it, and it
 * calls nothing above the log.
 *
 * Failed tasks (a negative result other than -ECANCELED) are remembered whether or not
 * the loop traces, in a small per-thread ring that coio_dump_tasks lists.
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_EVENTS (1u << 16)
#define MIN_EVENTS 16u
#define MAX_EVENTS (1u << 26)

enum ev_kind {
    EV_SPAWN,       /* tid spawned by other (0: the loop); name */
    EV_FINISH,      /* tid finished with res; name */
    EV_SLICE,       /* tid ran from a to ts; what: why it stopped */
    EV_PARK,        /* tid parked on what (fd, or -1) */
    EV_WAKE,        /* tid woken by other (0: the loop) with res */
    EV_IO,          /* tid's I/O operation what on fd returned a */
    EV_TIMER,       /* tid's timer fired; what: "sleep" or "deadline" */
    EV_POOL_SUBMIT, /* tid queued a job on the worker pool */
    EV_POOL_DONE,   /* tid's job finished with res */
};

/* 72 bytes; only the fields its kind names are meaningful. */
typedef struct trace_ev {
    int64_t ts; /* ns, CLOCK_MONOTONIC */
    int64_t a;
    const char *what; /* a literal, never freed */
    uint32_t tid, other;
    int32_t fd, res;
    uint8_t kind;
    char name[31];
} trace_ev;

typedef struct trace {
    trace_ev *ring;
    size_t mask; /* capacity - 1 (a power of two) */
    uint64_t n;  /* events recorded since the start (ring index: n & mask) */
    int64_t t0;  /* the start, for timestamps relative to it */
    int64_t slice_start;
    int park_fd;     /* fd of the I/O operation the running task is about to park on */
    bool park_input; /* and whether it waits for input (else output) */
    int out;         /* the file the trace is written to */
    char *path;
} trace;

static atomic_uint env_loops; /* loops traced through COIO_TRACE so far (file names) */

static inline int64_t trace_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline trace *trace_of(coio__loop *L)
{
    return coio__loop_sub(L, COIO__SUB_TRACE);
}

static inline trace_ev *ev_new(trace *tr, enum ev_kind kind, int64_t ts, uint32_t tid)
{
    trace_ev *e = &tr->ring[tr->n++ & tr->mask];
    e->kind = (uint8_t)kind;
    e->ts = ts;
    e->tid = tid;
    return e;
}

static void copy_name(char *dst, size_t cap, const char *name)
{
    size_t len = name ? strnlen(name, cap - 1) : 0;
    memcpy(dst, name ? name : "", len);
    dst[len] = '\0';
}

/* ------------------------------------------------------------------ hooks */

void coio__trace_switch(coio__loop *L, coio_task *from, coio_task *to)
{
    (void)to;
    trace *tr = trace_of(L);
    int64_t now = trace_clock();
    if (from) {
        trace_ev *e = ev_new(tr, EV_SLICE, now, from->id);
        e->a = tr->slice_start;
        e->what = from->state == COIO__WAITING ? "park"
                  : from->state == COIO__DONE  ? "finish"
                                               : "yield";
        if (from->state == COIO__WAITING) {
            e = ev_new(tr, EV_PARK, now, from->id);
            e->what = from->wait_what;
            e->fd = tr->park_fd;
            e->res = tr->park_input;
        }
    }
    tr->park_fd = -1;
    tr->slice_start = now;
}

void coio__trace_spawn(coio__loop *L, coio_task *t)
{
    trace *tr = trace_of(L);
    trace_ev *e = ev_new(tr, EV_SPAWN, trace_clock(), t->id);
    e->other = L->current ? L->current->id : 0;
    copy_name(e->name, sizeof e->name, t->name);
}

/* The last failed tasks of this thread's loop, newest at (failed_n - 1) % FAILED_KEEP. */
#define FAILED_KEEP 16
static __thread coio__failed_task failed[FAILED_KEEP];
static __thread unsigned failed_n;

void coio__trace_finish(coio__loop *L, coio_task *t, int result)
{
    int64_t now = trace_clock();
    if (result < 0 && result != -ECANCELED) {
        coio__failed_task *f = &failed[failed_n++ % FAILED_KEEP];
        f->id = t->id;
        f->err = result;
        f->when = now;
        copy_name(f->name, sizeof f->name, t->name);
    }
    trace *tr = trace_of(L);
    if (!tr)
        return;
    trace_ev *e = ev_new(tr, EV_FINISH, now, t->id);
    e->res = result;
    copy_name(e->name, sizeof e->name, t->name);
}

size_t coio__failed_tasks(coio__failed_task *out, size_t cap)
{
    size_t have = failed_n < FAILED_KEEP ? failed_n : FAILED_KEEP, n = 0;
    for (; n < have && n < cap; n++)
        out[n] = failed[(failed_n - 1 - n) % FAILED_KEEP];
    return n;
}

int64_t coio__trace_clock_ns(void)
{
    return trace_clock();
}

void coio__trace_wake(coio__loop *L, coio_task *t, int r)
{
    trace *tr = trace_of(L);
    trace_ev *e = ev_new(tr, EV_WAKE, trace_clock(), t->id);
    e->other = L->current ? L->current->id : 0;
    e->res = r;
}

void coio__trace_io_wait(coio__loop *L, int fd, bool input)
{
    trace *tr = trace_of(L);
    tr->park_fd = fd;
    tr->park_input = input;
}

void coio__trace_io(coio__loop *L, coio_task *t, const char *what, int fd, ssize_t res)
{
    trace *tr = trace_of(L);
    trace_ev *e = ev_new(tr, EV_IO, trace_clock(), t ? t->id : 0);
    e->what = what;
    e->fd = fd;
    e->a = res;
}

void coio__trace_timer(coio__loop *L, coio_task *t, bool deadline)
{
    trace *tr = trace_of(L);
    trace_ev *e = ev_new(tr, EV_TIMER, trace_clock(), t->id);
    e->what = deadline ? "deadline" : "sleep";
}

void coio__trace_pool(coio__loop *L, coio_task *t, bool done, int res)
{
    trace *tr = trace_of(L);
    trace_ev *e = ev_new(tr, done ? EV_POOL_DONE : EV_POOL_SUBMIT, trace_clock(), t->id);
    e->res = res;
}

/* ------------------------------------------------------------------ writing the JSON */

/* What the writer remembers per task while it walks the ring. */
typedef struct tinfo {
    uint32_t tid; /* 0: empty slot */
    bool parked, flow, submitted, named;
    int park_fd, park_input;
    const char *park_what;
    int64_t park_ts, submit_ts;
    uint64_t flow_id;
    char name[31];
} tinfo;

typedef struct writer {
    FILE *f;
    int64_t t0;
    int pid;
    bool first;
    tinfo *map;
    size_t mask;
    uint64_t next_flow;
} writer;

static tinfo *info(writer *w, uint32_t tid)
{
    for (size_t i = (tid * 2654435761u) & w->mask;; i = (i + 1) & w->mask) {
        tinfo *ti = &w->map[i];
        if (ti->tid == tid)
            return ti;
        if (!ti->tid) {
            ti->tid = tid;
            return ti;
        }
    }
}

/* Length of the valid UTF-8 sequence at s (lead byte >= 0x80), or 0. */
static int utf8_len(const unsigned char *s)
{
    int n = s[0] >= 0xf0 && s[0] <= 0xf4  ? 4
            : s[0] >= 0xe0                ? 3
            : s[0] >= 0xc2 && s[0] < 0xe0 ? 2
                                          : 0;
    if (n == 3 && s[0] >= 0xf0)
        n = 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 4 && s[0] == 0xf0 && s[1] < 0x90) ||
        (n == 4 && s[0] == 0xf4 && s[1] >= 0x90) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0))
        return 0; /* overlong, beyond U+10FFFF, or a surrogate */
    return n;
}

/* A JSON string. Names are cut at a byte count, maybe inside a character: bytes that
 * are not valid UTF-8 become U+FFFD, so that strict parsers accept the file. */
static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else if (c < 0x80) {
            fputc(c, f);
        } else {
            int n = utf8_len(p);
            if (n) {
                fwrite(p, 1, (size_t)n, f);
                p += n - 1;
            } else {
                fputs("\\ufffd", f);
            }
        }
    }
    fputc('"', f);
}

/* Starts an event object: {"ph":..,"pid":..,"tid":..,"ts":.. and, when name is not
 * NULL, "name" and "cat"; the caller adds fields and closes it with end(). */
static void begin(writer *w, const char *ph, uint32_t tid, int64_t ts, const char *name,
                  const char *cat)
{
    fprintf(w->f, "%s\n{\"ph\":\"%s\",\"pid\":%d,\"tid\":%u,\"ts\":%.3f", w->first ? "" : ",", ph,
            w->pid, tid, (double)(ts - w->t0) / 1e3);
    w->first = false;
    if (name) {
        fputs(",\"name\":", w->f);
        put_str(w->f, name);
        fputs(",\"cat\":", w->f);
        put_str(w->f, cat);
    }
}

static void end(writer *w)
{
    fputc('}', w->f);
}

static void err_arg(FILE *f, int err)
{
    fprintf(f, "%d", err);
    if (err < 0) {
        fputs(",\"error\":", f);
        put_str(f, coio_err_name(err));
    }
}

/* The wait of ti that ended at ts (woken by waker with res; waker -1: not woken). */
static void put_wait(writer *w, tinfo *ti, int64_t ts, int64_t waker, int res)
{
    char name[64];
    snprintf(name, sizeof name, "wait: %s", ti->park_what ? ti->park_what : "?");
    begin(w, "X", ti->tid, ti->park_ts, name, "wait");
    fprintf(w->f, ",\"dur\":%.3f,\"args\":{\"what\":", (double)(ts - ti->park_ts) / 1e3);
    put_str(w->f, ti->park_what ? ti->park_what : "?");
    if (ti->park_fd >= 0)
        fprintf(w->f, ",\"fd\":%d,\"direction\":\"%s\"", ti->park_fd,
                ti->park_input ? "in" : "out");
    if (waker >= 0) {
        fprintf(w->f, ",\"woken_by\":%lld,\"result\":", (long long)waker);
        err_arg(w->f, res);
    } else {
        fputs(",\"unfinished\":true", w->f);
    }
    fputs("}", w->f);
    end(w);
    ti->parked = false;
}

static void put_event(writer *w, const trace_ev *e)
{
    FILE *f = w->f;
    tinfo *ti = info(w, e->tid);
    switch ((enum ev_kind)e->kind) {
    case EV_SPAWN:
    case EV_FINISH:
        if (e->name[0]) {
            memcpy(ti->name, e->name, sizeof ti->name);
            ti->named = true;
        }
        if (e->kind == EV_SPAWN) {
            begin(w, "i", e->tid, e->ts, "spawn", "task");
            fprintf(f, ",\"s\":\"t\",\"args\":{\"task\":%u,\"name\":", e->tid);
            put_str(f, e->name);
            fprintf(f, ",\"parent\":%u}", e->other);
            end(w);
            break;
        }
        begin(w, "i", e->tid, e->ts, "finish", "task");
        fprintf(f, ",\"s\":\"t\",\"args\":{\"task\":%u,\"result\":", e->tid);
        err_arg(f, e->res);
        fputs("}", f);
        end(w);
        if (e->res < 0 && e->res != -ECANCELED) {
            char name[96];
            snprintf(name, sizeof name, "failed: %s: %s", e->name[0] ? e->name : "(unnamed)",
                     coio_err_name(e->res));
            begin(w, "i", e->tid, e->ts, name, "failed");
            fprintf(f, ",\"s\":\"p\",\"args\":{\"task\":%u,\"name\":", e->tid);
            put_str(f, e->name);
            fputs(",\"result\":", f);
            err_arg(f, e->res);
            fputs("}", f);
            end(w);
        }
        break;
    case EV_SLICE:
        if (e->a < w->t0) /* began before the oldest event kept */
            break;
        begin(w, "X", e->tid, e->a, "run", "run");
        fprintf(f, ",\"dur\":%.3f,\"args\":{\"end\":", (double)(e->ts - e->a) / 1e3);
        put_str(f, e->what);
        fputs("}", f);
        end(w);
        if (ti->flow) {
            begin(w, "f", e->tid, e->a, "wake", "wake");
            fprintf(f, ",\"bp\":\"e\",\"id\":%llu", (unsigned long long)ti->flow_id);
            end(w);
            ti->flow = false;
        }
        break;
    case EV_PARK:
        ti->parked = true;
        ti->park_ts = e->ts;
        ti->park_what = e->what;
        ti->park_fd = e->fd;
        ti->park_input = e->res;
        break;
    case EV_WAKE:
        if (ti->parked)
            put_wait(w, ti, e->ts, e->other, e->res);
        if (e->other) { /* a task woke it: an arrow from the waker to its next slice */
            ti->flow = true;
            ti->flow_id = ++w->next_flow;
            begin(w, "s", e->other, e->ts, "wake", "wake");
            fprintf(f, ",\"id\":%llu", (unsigned long long)ti->flow_id);
            end(w);
        }
        break;
    case EV_IO: {
        char name[64];
        snprintf(name, sizeof name, "%s %d", e->what, e->fd);
        begin(w, "i", e->tid, e->ts, name, "io");
        fprintf(f, ",\"s\":\"t\",\"args\":{\"op\":");
        put_str(f, e->what);
        fprintf(f, ",\"fd\":%d,\"result\":%lld", e->fd, (long long)e->a);
        if (e->a < 0) {
            fputs(",\"error\":", f);
            put_str(f, coio_err_name((int)e->a));
        }
        fputs("}", f);
        end(w);
        break;
    }
    case EV_TIMER:
        begin(w, "i", e->tid, e->ts, e->what[0] == 's' ? "timer: sleep" : "timer: deadline",
              "timer");
        fputs(",\"s\":\"t\"", f);
        end(w);
        break;
    case EV_POOL_SUBMIT:
        ti->submitted = true;
        ti->submit_ts = e->ts;
        begin(w, "i", e->tid, e->ts, "pool submit", "pool");
        fputs(",\"s\":\"t\"", f);
        end(w);
        break;
    case EV_POOL_DONE:
        if (ti->submitted) { /* the job's time on the pool, as an async span */
            begin(w, "b", e->tid, ti->submit_ts, "pool job", "pool");
            fprintf(f, ",\"id\":%u,\"args\":{\"task\":%u}", e->tid, e->tid);
            end(w);
            begin(w, "e", e->tid, e->ts, "pool job", "pool");
            fprintf(f, ",\"id\":%u,\"args\":{\"result\":", e->tid);
            err_arg(f, e->res);
            fputs("}", f);
            end(w);
            ti->submitted = false;
        }
        begin(w, "i", e->tid, e->ts, "pool done", "pool");
        fputs(",\"s\":\"t\",\"args\":{\"result\":", f);
        err_arg(f, e->res);
        fputs("}", f);
        end(w);
        break;
    }
}

static void put_meta(writer *w, const char *what, uint32_t tid, const char *name)
{
    fprintf(w->f, "%s\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"name\":\"%s\",\"args\":{\"name\":",
            w->first ? "" : ",", w->pid, tid, what);
    w->first = false;
    put_str(w->f, name);
    fputs("}}", w->f);
}

/* Writes the ring as trace-event JSON to tr->out. 0 or a negative errno. */
static int write_trace(coio__loop *L, trace *tr)
{
    int64_t stop = trace_clock();
    uint64_t cap = tr->mask + 1, first = tr->n > cap ? tr->n - cap : 0;
    size_t kept = (size_t)(tr->n - first);
    writer w = {.pid = (int)getpid(), .first = true, .t0 = tr->t0};
    if (first) /* wrapped: time starts at the oldest event kept */
        w.t0 = tr->ring[first & tr->mask].ts;
    size_t mcap = 64;
    while (mcap < 2 * kept + 2)
        mcap *= 2;
    w.map = calloc(mcap, sizeof *w.map);
    if (!w.map)
        return -ENOMEM;
    w.mask = mcap - 1;
    int fd = dup(tr->out);
    w.f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!w.f) {
        int err = -errno;
        if (fd >= 0)
            close(fd);
        free(w.map);
        return err;
    }
    fputs("{\"traceEvents\":[", w.f);
    for (uint64_t i = first; i < tr->n; i++)
        put_event(&w, &tr->ring[i & tr->mask]);
    put_meta(&w, "process_name", 0, "coio loop");
    put_meta(&w, "thread_name", 0, "loop");
    for (size_t i = 0; i <= w.mask; i++) {
        tinfo *ti = &w.map[i];
        if (!ti->tid)
            continue;
        if (ti->parked) /* still waiting when the trace stopped */
            put_wait(&w, ti, stop, -1, 0);
        char name[48];
        snprintf(name, sizeof name, "%s #%u", ti->named ? ti->name : "task", ti->tid);
        put_meta(&w, "thread_name", ti->tid, name);
        fprintf(w.f,
                ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"name\":\"thread_sort_index\","
                "\"args\":{\"sort_index\":%u}}",
                w.pid, ti->tid, ti->tid);
    }
    fprintf(w.f, "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"backend\":");
    put_str(w.f, L->backend ? L->backend->name : "");
    fprintf(w.f, ",\"events\":%llu,\"kept\":%zu,\"overwritten\":%llu}}\n",
            (unsigned long long)tr->n, kept, (unsigned long long)first);
    free(w.map);
    int err = ferror(w.f) ? -EIO : 0;
    if (fclose(w.f) != 0 && !err)
        err = -errno;
    return err;
}

/* ------------------------------------------------------------------ start and stop */

int coio__trace_begin(coio__loop *L, const char *path, size_t events)
{
    if (events == 0)
        events = DEFAULT_EVENTS;
    if (events > MAX_EVENTS)
        events = MAX_EVENTS;
    size_t cap = MIN_EVENTS;
    while (cap < events)
        cap *= 2;
    trace *tr = calloc(1, sizeof *tr);
    char *p = strdup(path);
    /* Touched now, not at the first events: the ring's page faults stay out of the run. */
    trace_ev *ring = malloc(cap * sizeof *ring);
    if (!tr || !p || !ring) {
        free(tr);
        free(p);
        free(ring);
        return -ENOMEM;
    }
    memset(ring, 0, cap * sizeof *ring);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        int err = -errno;
        free(tr);
        free(p);
        free(ring);
        return err;
    }
    tr->ring = ring;
    tr->mask = cap - 1;
    tr->out = fd;
    tr->path = p;
    tr->park_fd = -1;
    tr->t0 = tr->slice_start = trace_clock();
    coio__loop_sub_set(L, COIO__SUB_TRACE, tr);
    return 0;
}

int coio__trace_end(coio__loop *L)
{
    trace *tr = trace_of(L);
    coio__loop_sub_set(L, COIO__SUB_TRACE, NULL);
    int err = write_trace(L, tr);
    if (close(tr->out) != 0 && !err)
        err = -errno;
    free(tr->ring);
    free(tr->path);
    free(tr);
    return err;
}

/* COIO_TRACE=path traces every loop from its start: the first loop of the process
 * writes path, later ones path.2, path.3... */
static int trace_init(coio__loop *L)
{
    failed_n = 0;
    const char *path = getenv("COIO_TRACE");
    if (!path || !*path)
        return 0;
    const char *ev = getenv("COIO_TRACE_EVENTS");
    size_t events = ev && *ev ? (size_t)strtoull(ev, NULL, 10) : 0;
    unsigned k = atomic_fetch_add(&env_loops, 1) + 1;
    char buf[4096];
    if (k > 1) {
        snprintf(buf, sizeof buf, "%s.%u", path, k);
        path = buf;
    }
    int r = coio__trace_begin(L, path, events);
    if (r < 0) /* tracing is a diagnostic: the program runs without it */
        coio__debug_warn(L, "COIO_TRACE=%s: %s; not tracing", path, coio_strerror(r));
    return 0;
}

static void trace_teardown(coio__loop *L)
{
    if (!trace_of(L))
        return;
    char path[4096];
    copy_name(path, sizeof path, trace_of(L)->path);
    int r = coio__trace_end(L);
    if (r < 0)
        coio__debug_warn(L, "trace %s: %s", path, coio_strerror(r));
}

const coio__subsystem coio__subsystem_trace = {
    .name = "trace",
    .init = trace_init,
    .teardown = trace_teardown,
};
