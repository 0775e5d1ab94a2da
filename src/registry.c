/*
 * What the loop is built from, in one place: the backends it may choose and the
 * subsystems it starts and ends. The loop walks these lists without naming their
 * members, so a new backend or subsystem is a line here (CONTRIBUTING.md).
 */
#include "internal.h"

/* By preference: the first that probes usable is the default (COIO_BACKEND overrides). */
const coio__backend *const coio__backends[] = {
#ifdef COIO_HAVE_LIBURING
    &coio__backend_uring,
#endif
    &coio__backend_epoll,
    NULL,
};

/* Init order; teardown runs in reverse. Each entry's index is its id in
 * enum coio__subsystem_id (internal.h). */
const coio__subsystem *const coio__subsystems[COIO__SUB_COUNT] = {
    [COIO__SUB_TRACE] = &coio__subsystem_trace,
    [COIO__SUB_CALLBACKS] = &coio__subsystem_callbacks,
    [COIO__SUB_STREAM] = &coio__subsystem_stream,
    [COIO__SUB_DEBUG] = &coio__subsystem_debug,
    [COIO__SUB_SIGNALS] = &coio__subsystem_signals,
    [COIO__SUB_FILES] = &coio__subsystem_files,
};

/* How the scheduler frees a task's local values: local.c sits above it. */
void (*const coio__locals_drop)(coio__locals **slot) = coio__locals_release;
