/* Warnings to stderr (COIO_DEBUG and a few one-time notices). The lowest room: it calls
 * nothing else in the library, so any file may warn. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

void coio__debug_warn(coio__loop *L, const char *fmt, ...)
{
    (void)L;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "coio: %s\n", buf);
}
