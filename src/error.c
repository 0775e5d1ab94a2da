/* Error names (from COIO_ERRNO_MAP) and descriptions; library version. */
#include "internal.h"

#include <string.h>

#define COIO__STR(x) #x
#define COIO__XSTR(x) COIO__STR(x)

unsigned coio_version(void)
{
    return COIO_VERSION_HEX;
}

const char *coio_version_string(void)
{
    return COIO__XSTR(COIO_VERSION_MAJOR) "." COIO__XSTR(COIO_VERSION_MINOR) "." COIO__XSTR(
        COIO_VERSION_PATCH);
}

/* |err| without overflowing on INT_MIN (which names nothing anyway). */
static int magnitude(int err)
{
    return err == INT_MIN ? INT_MAX : err < 0 ? -err : err;
}

/* The kernel and coio return the same errnos, so the text is the standard one. glibc's
 * strerror returns static text for known values and a per-thread buffer for others. */
const char *coio_strerror(int err)
{
    return strerror(magnitude(err));
}

const char *coio_err_name(int err)
{
    err = magnitude(err);
    switch (err) {
#define X(name, text)                                                                        \
    case name:                                                                               \
        return #name;
        COIO_ERRNO_MAP(X)
#undef X
    default:
        break;
    }
    const char *n = strerrorname_np(err);
    return n ? n : "E?";
}
