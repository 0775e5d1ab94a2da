/*
 * The number of open file descriptors of this process, for the leak checks of the cmocka
 * tests (coio_test.h) and of the fuzz targets (fuzz/stream_oracle.h, without cmocka).
 */
#ifndef COIO_FD_COUNT_H
#define COIO_FD_COUNT_H

#include <dirent.h>

static inline int coio_test_count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

#endif
