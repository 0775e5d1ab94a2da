/* Built by `make install-check` against an installed coio (pkg-config shared and static,
 * find_package(coio) with coio::coio and coio::coio_static). Prints OK on success. */
#include <coio.h>

#include <stdio.h>

static int main_task(void *arg)
{
    (void)arg;
    return coio_sleep(0.01);
}

int main(void)
{
    if (coio_version() != COIO_VERSION_HEX) {
        fprintf(stderr, "header says %#x, library %#x (%s)\n", (unsigned)COIO_VERSION_HEX,
                coio_version(), coio_version_string());
        return 1;
    }
    double start = coio_now();
    int rc = coio_run(main_task, NULL);
    if (rc != 0) {
        fprintf(stderr, "coio_run: %s (%s)\n", coio_err_name(rc), coio_strerror(rc));
        return 1;
    }
    if (coio_now() - start < 0.009) {
        fprintf(stderr, "coio_sleep(0.01) returned early\n");
        return 1;
    }
    puts("OK");
    return 0;
}
