/* A program for the gdb script test: task 2 ("sleeper") is suspended three frames deep in
 * deep_sleeper() when main stops at gdb_stop_here(). */
#include <coio.h>

__attribute__((noinline)) void gdb_stop_here(void);
__attribute__((noinline)) void gdb_stop_here(void)
{
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static int deep_sleeper(int depth)
{
    if (depth == 0)
        return coio_sleep(10);
    int r = deep_sleeper(depth - 1);
    __asm__ volatile("" ::: "memory"); /* not a tail call: keep the frames */
    return r;
}

static int sleeper(void *arg)
{
    (void)arg;
    return deep_sleeper(3);
}

static int main_task(void *arg)
{
    (void)arg;
    coio_task *t = coio_spawn_ex(sleeper, NULL, &(coio_spawn_opts){.name = "sleeper"});
    coio_sleep(0.01);
    gdb_stop_here();
    coio_cancel(t);
    coio_await(t);
    return 0;
}

int main(void)
{
    return coio_run(main_task, NULL) == 0 ? 0 : 1;
}
