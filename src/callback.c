/* Callbacks (call_soon, call_later, call_at, call_soon_threadsafe) — placeholder until
 * the synchronisation work lands. */
#include "internal.h"

void coio__callbacks_run(coio__loop *L)
{
    (void)L;
}

void coio__callbacks_destroy(coio__loop *L)
{
    (void)L;
}
