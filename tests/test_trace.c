/* coio-test: io */
/* The execution trace (coio_trace_start / COIO_TRACE), its JSON, its ring, the
 * summariser (tools/coio-trace-summary.py), and failed tasks in coio_dump_tasks. The
 * JSON is checked by a strict parser of its own (RFC 8259), then searched for the events
 * a small program must leave. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <libgen.h>
#include <math.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ a strict JSON parser */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
typedef struct jv {
    int type;
    double num;
    char *str;        /* J_STR, decoded */
    size_t n;         /* items of J_ARR / members of J_OBJ */
    struct jv *items; /* values */
    char **keys;      /* J_OBJ */
} jv;

typedef struct jparser {
    const char *p, *end;
    const char *err;
    int depth;
} jparser;

static void jfree(jv *v)
{
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

static void jws(jparser *P)
{
    while (P->p < P->end && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
        P->p++;
}

static bool jfail(jparser *P, const char *why)
{
    if (!P->err)
        P->err = why;
    return false;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool jstring(jparser *P, char **out)
{
    if (P->p >= P->end || *P->p != '"')
        return jfail(P, "string expected");
    P->p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    for (;;) {
        if (P->p >= P->end) {
            free(s);
            return jfail(P, "unterminated string");
        }
        unsigned char c = (unsigned char)*P->p++;
        if (c == '"')
            break;
        if (c < 0x20) {
            free(s);
            return jfail(P, "control character in string");
        }
        if (c >= 0x80) { /* UTF-8: a lead byte and its continuation bytes, checked */
            int len = c >= 0xc2 && c <= 0xdf   ? 2
                      : c >= 0xe0 && c <= 0xef ? 3
                      : c >= 0xf0 && c <= 0xf4 ? 4
                                               : 0;
            if (!len || P->end - P->p < len - 1) {
                free(s);
                return jfail(P, "invalid UTF-8");
            }
            for (int i = 0; i < len - 1; i++)
                if (((unsigned char)P->p[i] & 0xc0) != 0x80) {
                    free(s);
                    return jfail(P, "invalid UTF-8");
                }
            if (n + (size_t)len >= cap)
                s = realloc(s, cap = cap * 2 + (size_t)len);
            s[n++] = (char)c;
            for (int i = 0; i < len - 1; i++)
                s[n++] = *P->p++;
            continue;
        }
        if (c == '\\') {
            if (P->p >= P->end) {
                free(s);
                return jfail(P, "bad escape");
            }
            char e = *P->p++;
            switch (e) {
            case '"':
            case '\\':
            case '/':
                c = (unsigned char)e;
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'u': {
                unsigned u = 0;
                for (int i = 0; i < 4; i++) {
                    int h = P->p < P->end ? hexval(*P->p++) : -1;
                    if (h < 0) {
                        free(s);
                        return jfail(P, "bad \\u escape");
                    }
                    u = u * 16 + (unsigned)h;
                }
                if (u >= 0x80) { /* as UTF-8 (surrogate pairs are not needed here) */
                    if (n + 4 >= cap)
                        s = realloc(s, cap = cap * 2 + 4);
                    if (u < 0x800) {
                        s[n++] = (char)(0xc0 | u >> 6);
                    } else {
                        s[n++] = (char)(0xe0 | u >> 12);
                        s[n++] = (char)(0x80 | (u >> 6 & 0x3f));
                    }
                    u = 0x80 | (u & 0x3f);
                }
                c = (unsigned char)u;
                break;
            }
            default:
                free(s);
                return jfail(P, "bad escape");
            }
        }
        if (n + 1 >= cap)
            s = realloc(s, cap *= 2);
        s[n++] = (char)c;
    }
    s[n] = 0;
    *out = s;
    return true;
}

static bool jvalue(jparser *P, jv *v);
static bool jcontainer(jparser *P, jv *v, bool obj);

static bool jnumber(jparser *P, jv *v)
{
    const char *s = P->p;
    if (P->p < P->end && *P->p == '-')
        P->p++;
    if (P->p >= P->end || !(*P->p >= '0' && *P->p <= '9'))
        return jfail(P, "bad number");
    if (*P->p == '0')
        P->p++;
    else
        while (P->p < P->end && *P->p >= '0' && *P->p <= '9')
            P->p++;
    if (P->p < P->end && *P->p == '.') {
        P->p++;
        if (P->p >= P->end || !(*P->p >= '0' && *P->p <= '9'))
            return jfail(P, "bad fraction");
        while (P->p < P->end && *P->p >= '0' && *P->p <= '9')
            P->p++;
    }
    if (P->p < P->end && (*P->p == 'e' || *P->p == 'E')) {
        P->p++;
        if (P->p < P->end && (*P->p == '+' || *P->p == '-'))
            P->p++;
        if (P->p >= P->end || !(*P->p >= '0' && *P->p <= '9'))
            return jfail(P, "bad exponent");
        while (P->p < P->end && *P->p >= '0' && *P->p <= '9')
            P->p++;
    }
    char buf[64];
    size_t len = (size_t)(P->p - s);
    if (len >= sizeof buf)
        return jfail(P, "number too long");
    memcpy(buf, s, len);
    buf[len] = 0;
    v->type = J_NUM;
    v->num = strtod(buf, NULL);
    return true;
}

static bool jlit(jparser *P, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(P->end - P->p) < n || memcmp(P->p, lit, n) != 0)
        return jfail(P, "bad literal");
    P->p += n;
    return true;
}

static bool jcontainer(jparser *P, jv *v, bool obj)
{
    P->p++; /* [ or { */
    v->type = obj ? J_OBJ : J_ARR;
    size_t cap = 0;
    jws(P);
    if (P->p < P->end && *P->p == (obj ? '}' : ']')) {
        P->p++;
        return true;
    }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? cap * 2 : 8;
            v->items = realloc(v->items, cap * sizeof *v->items);
            if (obj)
                v->keys = realloc(v->keys, cap * sizeof *v->keys);
        }
        jws(P);
        char *key = NULL;
        if (obj) {
            if (!jstring(P, &key))
                return false;
            jws(P);
            if (P->p >= P->end || *P->p != ':') {
                free(key);
                return jfail(P, "':' expected");
            }
            P->p++;
            jws(P);
        }
        jv *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        if (obj)
            v->keys[v->n] = key;
        v->n++;
        if (!jvalue(P, item))
            return false;
        jws(P);
        if (P->p < P->end && *P->p == ',') {
            P->p++;
            continue;
        }
        if (P->p < P->end && *P->p == (obj ? '}' : ']')) {
            P->p++;
            return true;
        }
        return jfail(P, "',' or end of container expected");
    }
}

static bool jvalue(jparser *P, jv *v)
{
    memset(v, 0, sizeof *v);
    jws(P);
    if (P->p >= P->end)
        return jfail(P, "value expected");
    if (++P->depth > 64)
        return jfail(P, "too deep");
    bool ok;
    switch (*P->p) {
    case '{':
        ok = jcontainer(P, v, true);
        break;
    case '[':
        ok = jcontainer(P, v, false);
        break;
    case '"':
        v->type = J_STR;
        ok = jstring(P, &v->str);
        break;
    case 't':
        v->type = J_BOOL;
        v->num = 1;
        ok = jlit(P, "true");
        break;
    case 'f':
        v->type = J_BOOL;
        ok = jlit(P, "false");
        break;
    case 'n':
        v->type = J_NULL;
        ok = jlit(P, "null");
        break;
    default:
        ok = jnumber(P, v);
        break;
    }
    P->depth--;
    return ok;
}

/* Parses the whole text (nothing but whitespace may follow the value). */
static bool jparse(const char *text, size_t len, jv *out, const char **err)
{
    jparser P = {.p = text, .end = text + len};
    bool ok = jvalue(&P, out);
    if (ok) {
        jws(&P);
        if (P.p != P.end)
            ok = jfail(&P, "text after the value");
    }
    *err = P.err;
    return ok;
}

static const jv *jget(const jv *o, const char *key)
{
    if (!o || o->type != J_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    return NULL;
}

static const char *jstr(const jv *o, const char *key)
{
    const jv *v = jget(o, key);
    return v && v->type == J_STR ? v->str : NULL;
}

static double jnum(const jv *o, const char *key, double dflt)
{
    const jv *v = jget(o, key);
    return v && v->type == J_NUM ? v->num : dflt;
}

/* Reads the trace at path and parses it; fails the case if it is not valid JSON with a
 * traceEvents array of objects that each have ph, pid, tid and a numeric ts. */
static jv load_trace(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = NULL;
    size_t len = 0, cap = 0;
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (len + k > cap)
            text = realloc(text, cap = (len + k) * 2);
        memcpy(text + len, buf, k);
        len += k;
    }
    fclose(f);
    jv root;
    const char *err = NULL;
    if (!jparse(text ? text : "", len, &root, &err)) {
        print_error("%s: invalid JSON: %s\n", path, err);
        free(text);
        fail();
    }
    free(text);
    const jv *evs = jget(&root, "traceEvents");
    assert_non_null(evs);
    assert_int_equal(evs->type, J_ARR);
    for (size_t i = 0; i < evs->n; i++) {
        const jv *e = &evs->items[i];
        assert_int_equal(e->type, J_OBJ);
        const char *ph = jstr(e, "ph");
        assert_non_null(ph);
        assert_non_null(strchr("XBEistfbeM", ph[0]));
        assert_true(jnum(e, "pid", -1) > 0);
        assert_true(jnum(e, "tid", -1) >= 0);
        if (ph[0] != 'M') {
            assert_true(jnum(e, "ts", -1) >= 0);
            assert_non_null(jstr(e, "name"));
        }
        if (ph[0] == 'X')
            assert_true(jnum(e, "dur", -1) >= 0);
    }
    return root;
}

static const jv *events_of(const jv *root)
{
    return jget(root, "traceEvents");
}

/* The first event with phase ph (NULL: any), category cat (NULL: any) whose name starts
 * with `name` (NULL: any), on track tid (< 0: any). */
static const jv *find_ev(const jv *root, const char *ph, const char *cat, const char *name,
                         long tid)
{
    const jv *evs = events_of(root);
    for (size_t i = 0; i < evs->n; i++) {
        const jv *e = &evs->items[i];
        const char *n = jstr(e, "name"), *c = jstr(e, "cat");
        if (ph && strcmp(jstr(e, "ph"), ph) != 0)
            continue;
        if (cat && (!c || strcmp(c, cat) != 0))
            continue;
        if (name && (!n || strncmp(n, name, strlen(name)) != 0))
            continue;
        if (tid >= 0 && (long)jnum(e, "tid", -1) != tid)
            continue;
        return e;
    }
    return NULL;
}

/* The task id (track) the trace gives the task called name, from its spawn event. */
static long tid_of(const jv *root, const char *name)
{
    const jv *evs = events_of(root);
    for (size_t i = 0; i < evs->n; i++) {
        const jv *e = &evs->items[i];
        const char *n = jstr(e, "name");
        const char *an = jstr(jget(e, "args"), "name");
        if (n && strcmp(n, "spawn") == 0 && an && strcmp(an, name) == 0)
            return (long)jnum(e, "tid", -1);
    }
    return -1;
}

/* ------------------------------------------------------------------ the small program */

static char trace_path[64];

static void path_init(void)
{
    snprintf(trace_path, sizeof trace_path, "/tmp/coio-trace-%d.json", (int)getpid());
    unlink(trace_path);
}

static int sv[2];
static coio_lock *lock;

static int sleeper(void *arg)
{
    (void)arg;
    return coio_sleep(0.005);
}

static int reader(void *arg)
{
    (void)arg;
    char buf[16];
    ssize_t n = coio_read(sv[0], buf, sizeof buf); /* parks: the writer has not written */
    return n == 5 ? 0 : -EIO;
}

static int writer(void *arg)
{
    (void)arg;
    coio_sleep(0.002);
    return coio_write(sv[1], "hello", 5) == 5 ? 0 : -EIO;
}

static int locker(void *arg)
{
    (void)arg;
    int r = coio_lock_acquire(lock);
    if (r < 0)
        return r;
    coio_sleep(0.001); /* hold it, so that the other locker waits */
    return coio_lock_release(lock);
}

static int pool_fn(void *arg)
{
    (void)arg;
    return 42;
}

static int pooler(void *arg)
{
    (void)arg;
    return coio_to_thread(pool_fn, NULL) == 42 ? 0 : -EIO;
}

static int failer(void *arg)
{
    (void)arg;
    coio_yield();
    return -ENOENT;
}

/* Runs without suspending for about 20 ms. */
static int hog(void *arg)
{
    (void)arg;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) < 20e6);
    return 0;
}

static int small_program(void)
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    lock = coio_lock_create();
    static const struct {
        const char *name;
        int (*fn)(void *);
    } progs[] = {{"sleeper", sleeper}, {"reader", reader}, {"writer", writer}, {"locker-1", locker},
                 {"locker-2", locker}, {"pooler", pooler}, {"failer", failer}, {"hog", hog}};
    coio_task *t[8];
    int res[8];
    for (int i = 0; i < 8; i++)
        t[i] = coio_spawn_ex(progs[i].fn, NULL, &(coio_spawn_opts){.name = progs[i].name});
    int r = coio_gather_n(t, 8, res);
    coio_lock_destroy(lock);
    close(sv[0]);
    close(sv[1]);
    for (int i = 0; i < 8; i++)
        if (res[i] != (i == 6 ? -ENOENT : 0))
            return -EPROTO;
    return r == -ENOENT ? 0 : -EPROTO;
}

static int traced_main(void *arg)
{
    (void)arg;
    int r = coio_trace_start(trace_path, 0);
    if (r < 0)
        return r;
    r = small_program();
    int s = coio_trace_stop();
    return r < 0 ? r : s;
}

/* Checks what the small program must leave in a trace. */
static void check_small_program(const jv *root)
{
    const char *names[] = {"sleeper",  "reader", "writer", "locker-1",
                           "locker-2", "pooler", "failer", "hog"};
    for (int i = 0; i < 8; i++) {
        long tid = tid_of(root, names[i]);
        if (tid <= 0) {
            print_error("no spawn event for %s\n", names[i]);
            fail();
        }
        assert_non_null(find_ev(root, "X", "run", NULL, tid)); /* a run slice */
        assert_non_null(find_ev(root, "i", "task", "finish", tid));
        char meta[48];
        snprintf(meta, sizeof meta, "%s #%ld", names[i], tid);
        const jv *evs = events_of(root);
        bool named = false;
        for (size_t k = 0; k < evs->n; k++) {
            const jv *e = &evs->items[k];
            if (strcmp(jstr(e, "ph"), "M") == 0 && (long)jnum(e, "tid", -1) == tid &&
                strcmp(jstr(e, "name"), "thread_name") == 0 &&
                strcmp(jstr(jget(e, "args"), "name"), meta) == 0)
                named = true;
        }
        assert_true(named);
    }
    /* What each wait waited on. */
    assert_non_null(find_ev(root, "X", "wait", "wait: sleep", tid_of(root, "sleeper")));
    const jv *rd = find_ev(root, "X", "wait", "wait: read fd", tid_of(root, "reader"));
    assert_non_null(rd);
    assert_int_equal((int)jnum(jget(rd, "args"), "fd", -1), sv[0]);
    assert_string_equal(jstr(jget(rd, "args"), "direction"), "in");
    /* The writer woke it: the wait names its waker. */
    assert_int_equal((long)jnum(jget(rd, "args"), "woken_by", -1), 0 /* the loop: I/O */);
    const jv *io = find_ev(root, "i", "io", "read fd", tid_of(root, "reader"));
    assert_non_null(io);
    assert_int_equal((int)jnum(jget(io, "args"), "fd", -1), sv[0]);
    assert_int_equal((int)jnum(jget(io, "args"), "result", -1), 5);
    assert_non_null(find_ev(root, "i", "io", "write fd", tid_of(root, "writer")));
    /* One locker waited for the other, which woke it on release. */
    long l1 = tid_of(root, "locker-1"), l2 = tid_of(root, "locker-2");
    const jv *lw = find_ev(root, "X", "wait", "wait: lock", l2);
    assert_non_null(lw);
    assert_int_equal((long)jnum(jget(lw, "args"), "woken_by", -1), l1);
    assert_non_null(find_ev(root, "s", "wake", "wake", l1));
    assert_non_null(find_ev(root, "f", "wake", "wake", l2));
    /* The pool job. */
    long pt = tid_of(root, "pooler");
    assert_non_null(find_ev(root, "X", "wait", "wait: to_thread", pt));
    assert_non_null(find_ev(root, "b", "pool", "pool job", pt));
    const jv *pe = find_ev(root, "e", "pool", "pool job", pt);
    assert_non_null(pe);
    assert_int_equal((int)jnum(jget(pe, "args"), "result", 0), 42);
    /* The timer that ended the sleep. */
    assert_non_null(find_ev(root, "i", "timer", "timer: sleep", tid_of(root, "sleeper")));
    /* The failure, by name and error. */
    long ft = tid_of(root, "failer");
    const jv *fe = find_ev(root, "i", "failed", NULL, ft);
    assert_non_null(fe);
    assert_string_equal(jstr(fe, "name"), "failed: failer: ENOENT");
    assert_string_equal(jstr(jget(fe, "args"), "error"), "ENOENT");
    /* Nobody else failed. */
    const jv *evs = events_of(root);
    int nfailed = 0;
    for (size_t k = 0; k < evs->n; k++) {
        const char *c = jstr(&evs->items[k], "cat");
        nfailed += c && strcmp(c, "failed") == 0;
    }
    assert_int_equal(nfailed, 1);
    /* The hog ran in one slice of about 20 ms. */
    const jv *hs = find_ev(root, "X", "run", NULL, tid_of(root, "hog"));
    assert_true(jnum(hs, "dur", 0) >= 19000);
}

static void trace_records_small_program(void **state)
{
    (void)state;
    require_backend();
    path_init();
    coio_assert_rc(coio_run(traced_main, NULL), 0);
    jv root = load_trace(trace_path);
    check_small_program(&root);
    const jv *other = jget(&root, "otherData");
    if (getenv("COIO_BACKEND"))
        assert_string_equal(jstr(other, "backend"), getenv("COIO_BACKEND"));
    assert_int_equal((int)jnum(other, "overwritten", -1), 0);
    jfree(&root);
    unlink(trace_path);
}

/* ------------------------------------------------------------------ the ring */

static int spinner(void *arg)
{
    for (long i = 0; i < (long)(intptr_t)arg; i++)
        coio_yield();
    return 0;
}

static int last_one(void *arg)
{
    (void)arg;
    return -EPIPE;
}

static int wrap_main(void *arg)
{
    (void)arg;
    int r = coio_trace_start(trace_path, 20); /* rounded up to 32 */
    if (r < 0)
        return r;
    coio_task *a = coio_spawn_ex(spinner, (void *)(intptr_t)500, &(coio_spawn_opts){.name = "a"});
    coio_task *b = coio_spawn_ex(spinner, (void *)(intptr_t)500, &(coio_spawn_opts){.name = "b"});
    coio_await(a);
    coio_await(b);
    coio_task *l = coio_spawn_ex(last_one, NULL, &(coio_spawn_opts){.name = "the-last"});
    coio_await(l);
    return coio_trace_stop();
}

static void trace_ring_wraps_and_keeps_the_newest(void **state)
{
    (void)state;
    path_init();
    coio_assert_rc(coio_run(wrap_main, NULL), 0);
    jv root = load_trace(trace_path);
    const jv *other = jget(&root, "otherData");
    double events = jnum(other, "events", 0), kept = jnum(other, "kept", 0);
    assert_true(events > 1000);
    assert_int_equal((int)kept, 32);
    assert_int_equal((long)jnum(other, "overwritten", 0), (long)(events - kept));
    /* The newest events are there, whole: the last task's spawn with its name, its
     * failure, main's slices. The oldest are gone: a's spawn. */
    long lt = tid_of(&root, "the-last");
    assert_true(lt > 0);
    const jv *fe = find_ev(&root, "i", "failed", NULL, lt);
    assert_non_null(fe);
    assert_string_equal(jstr(fe, "name"), "failed: the-last: EPIPE");
    assert_int_equal(tid_of(&root, "a"), -1);
    /* Every slice lies within the kept window (none starts before the oldest event). */
    const jv *evs = events_of(&root);
    size_t slices = 0;
    for (size_t i = 0; i < evs->n; i++) {
        const jv *e = &evs->items[i];
        if (strcmp(jstr(e, "ph"), "X") == 0) {
            slices++;
            assert_true(jnum(e, "ts", -1) >= 0);
            assert_true(jnum(e, "dur", -1) < 1e6); /* no slice of garbage length */
        }
    }
    assert_true(slices > 4);
    jfree(&root);
    unlink(trace_path);
}

/* Names are cut at a byte count (31 bytes when spawned, 30 in the trace), maybe inside a
 * character; quotes and backslashes need escapes. The JSON stays valid UTF-8. */
static int named_main(void *arg)
{
    (void)arg;
    int r = coio_trace_start(trace_path, 0);
    if (r < 0)
        return r;
    const char *names[] = {
        "h\xc3\xa9llo \"quoted\" back\\slash",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9", /* 29 + 2 bytes */
        ("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
         "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac")}; /* 11 x 3 bytes */
    for (int i = 0; i < 3; i++) {
        coio_task *t = coio_spawn_ex(last_one, NULL, &(coio_spawn_opts){.name = names[i]});
        coio_await(t);
    }
    return coio_trace_stop();
}

static void trace_names_stay_valid_json_and_utf8(void **state)
{
    (void)state;
    path_init();
    coio_assert_rc(coio_run(named_main, NULL), 0);
    jv root = load_trace(trace_path);
    assert_true(tid_of(&root, "h\xc3\xa9llo \"quoted\" back\\slash") > 0);
    assert_true(tid_of(&root, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xef\xbf\xbd") > 0); /* U+FFFD */
    assert_true(tid_of(&root, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
                              "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac") > 0);
    jfree(&root);
    unlink(trace_path);
}

/* ------------------------------------------------------------------ on and off */

static int plain_main(void *arg)
{
    (void)arg;
    return small_program();
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* COIO_TRACE traces the loop from start to end; without it no file is written. The
 * first loop of the process writes the path itself, later ones path.N. */
static void trace_env_traces_the_whole_loop_and_off_writes_nothing(void **state)
{
    (void)state;
    require_backend(); /* a loop: so this run is not the process's first */
    path_init();
    char later[80];
    snprintf(later, sizeof later, "%s.2", trace_path);
    unlink(later);
    unsetenv("COIO_TRACE");
    coio_assert_rc(coio_run(plain_main, NULL), 0);
    assert_false(exists(trace_path));
    assert_false(exists(later));
    setenv("COIO_TRACE", trace_path, 1);
    coio_assert_rc(coio_run(plain_main, NULL), 0);
    unsetenv("COIO_TRACE");
    const char *got = exists(trace_path) ? trace_path : later;
    assert_true(exists(got));
    jv root = load_trace(got);
    check_small_program(&root);
    assert_true(tid_of(&root, "main") > 0); /* from the loop's start */
    jfree(&root);
    unlink(got);
    /* Off again: nothing more is written. */
    coio_assert_rc(coio_run(plain_main, NULL), 0);
    assert_false(exists(trace_path));
    assert_false(exists(later));
}

static int api_main(void *arg)
{
    (void)arg;
    coio_assert_rc(coio_trace_stop(), -EALREADY);
    coio_assert_rc(coio_trace_start(NULL, 0), -EINVAL);
    coio_assert_rc(coio_trace_start("", 0), -EINVAL);
    coio_assert_rc(coio_trace_start("/nonexistent-dir/x/trace.json", 0), -ENOENT);
    coio_assert_rc(coio_trace_start(trace_path, 0), 0);
    coio_assert_rc(coio_trace_start(trace_path, 0), -EALREADY);
    coio_assert_rc(coio_trace_stop(), 0);
    coio_assert_rc(coio_trace_stop(), -EALREADY);
    return 0;
}

static void trace_start_stop_errors(void **state)
{
    (void)state;
    path_init();
    coio_assert_rc(coio_trace_start(trace_path, 0), -EPERM);
    coio_assert_rc(coio_trace_stop(), -EPERM);
    assert_false(exists(trace_path));
    coio_assert_rc(coio_run(api_main, NULL), 0);
    jv root = load_trace(trace_path); /* an empty trace is still a valid one */
    jfree(&root);
    unlink(trace_path);
}

/* A trace left on when the loop ends is written then. */
static int left_on_main(void *arg)
{
    (void)arg;
    int r = coio_trace_start(trace_path, 0);
    return r < 0 ? r : small_program();
}

static void trace_left_on_is_written_at_loop_end(void **state)
{
    (void)state;
    path_init();
    coio_assert_rc(coio_run(left_on_main, NULL), 0);
    jv root = load_trace(trace_path);
    check_small_program(&root);
    jfree(&root);
    unlink(trace_path);
}

/* ------------------------------------------------------------------ coio_dump_tasks */

static int doomed(void *arg)
{
    (void)arg;
    coio_yield();
    return -ECONNREFUSED;
}

static int napper(void *arg)
{
    (void)arg;
    return coio_sleep(10);
}

static int dump_main(void *arg)
{
    char **out = arg;
    size_t len;
    coio_task *d = coio_spawn_ex(doomed, NULL, &(coio_spawn_opts){.name = "doomed"});
    coio_task *c = coio_spawn_ex(napper, NULL, &(coio_spawn_opts){.name = "cancelled-one"});
    coio_await(d);
    coio_cancel(c);
    coio_await(c);
    FILE *f = open_memstream(out, &len);
    int n = coio_dump_tasks(f);
    fclose(f);
    return n;
}

static void dump_tasks_names_failed_tasks(void **state)
{
    (void)state;
    char *out = NULL;
    int n = coio_run(dump_main, &out);
    assert_int_equal(n, 1); /* main only: failed tasks are listed, not counted */
    assert_non_null(out);
    assert_non_null(strstr(out, "failed tasks"));
    char *line = strstr(out, "doomed");
    assert_non_null(line);
    assert_non_null(strstr(line, "ECONNREFUSED"));
    assert_null(strstr(out, "cancelled-one")); /* cancellation is not a failure */
    free(out);
}

/* ------------------------------------------------------------------ the summariser */

static void summary_tool_reports_waits_slices_and_failures(void **state)
{
    (void)state;
    coio_test_require_program("python3", "python3");
    require_backend();
    path_init();
    coio_assert_rc(coio_run(traced_main, NULL), 0);
    char src[4096], cmd[8192];
    snprintf(src, sizeof src, "%s", __FILE__);
    snprintf(cmd, sizeof cmd, "python3 %s/../tools/coio-trace-summary.py %s", dirname(src),
             trace_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0)
        fwrite(buf, 1, k, m);
    fclose(m);
    int status = pclose(p);
    fputs(out, stderr);
    assert_int_equal(status, 0);
    /* The sections, and what the small program puts in each. */
    const char *top = strstr(out, "top waits");
    const char *longest = strstr(out, "longest run slices");
    const char *never = strstr(out, "never yielded");
    const char *failed = strstr(out, "failed tasks");
    assert_non_null(top);
    assert_non_null(longest);
    assert_non_null(never);
    assert_non_null(failed);
    assert_true(top < longest && longest < never && never < failed);
    assert_non_null(strstr(top, "read fd"));
    assert_non_null(strstr(top, "lock"));
    assert_non_null(strstr(top, "to_thread"));
    /* The hog's 20 ms slice is the longest, and it never yielded. */
    const char *first = strchr(longest, '\n');
    assert_non_null(first);
    assert_non_null(strstr(first, "hog"));
    assert_true(strstr(first, "hog") < never);
    assert_non_null(strstr(never, "hog"));
    assert_true(strstr(never, "hog") < failed);
    assert_non_null(strstr(failed, "failer"));
    assert_non_null(strstr(failed, "ENOENT"));
    free(out);
    unlink(trace_path);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(trace_records_small_program),
    cmocka_unit_test(trace_ring_wraps_and_keeps_the_newest),
    cmocka_unit_test(trace_names_stay_valid_json_and_utf8),
    cmocka_unit_test(trace_env_traces_the_whole_loop_and_off_writes_nothing),
    cmocka_unit_test(trace_start_stop_errors),
    cmocka_unit_test(trace_left_on_is_written_at_loop_end),
    cmocka_unit_test(dump_tasks_names_failed_tasks),
    cmocka_unit_test(summary_tool_reports_waits_slices_and_failures),
};

COIO_TEST_MAIN(tests)
