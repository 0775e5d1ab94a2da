/* io_uring backend — placeholder until the real one lands: reports io_uring as
 * unavailable, so COIO_BACKEND=io_uring fails cleanly with -ENOSYS. */
#include "internal.h"

#ifdef COIO_HAVE_LIBURING
int coio__uring_probe(void)
{
    return -ENOSYS;
}

static int ur_init(coio__loop *L)
{
    (void)L;
    return -ENOSYS;
}

const coio__backend coio__backend_uring = {.name = "io_uring", .init = ur_init};
#endif
