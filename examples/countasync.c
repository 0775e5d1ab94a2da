/* countasync.c — the seed's countasync.py in C: three tasks each print "One", sleep one
 * second without blocking, and print "Two"; all three finish in about 1.00 seconds. */
#include <coio.h>
#include <stdio.h>

static int count(void *arg)
{
    (void)arg;
    puts("One");
    coio_sleep(1);
    puts("Two");
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    return coio_gather(coio_spawn(count, NULL), coio_spawn(count, NULL), coio_spawn(count, NULL));
}

int main(void)
{
    double s = coio_now();
    int rc = coio_run(main_task, NULL);
    double elapsed = coio_now() - s;
    printf("%s executed in %0.2f seconds.\n", __FILE__, elapsed);
    return rc < 0 ? 1 : 0;
}
