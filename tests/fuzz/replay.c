/*
 * Runs a fuzz target over saved inputs, without libFuzzer (any compiler): each argument
 * is a file or a directory of files. For CTest: the seed corpus as a regression test.
 * Exits 1 when it found no input (a corpus that went missing must not pass), 77 when
 * the backend asked for in COIO_BACKEND cannot start here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <coio.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        exit(1);
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    uint8_t *copy = malloc(n ? n : 1); /* exactly n bytes: ASan sees overreads */
    if (!copy)
        exit(1);
    memcpy(copy, buf, n);
    printf("%s (%zu bytes)\n", path, n);
    fflush(stdout);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int ran(void *arg)
{
    (void)arg;
    return 0;
}

int main(int argc, char **argv)
{
    if (getenv("COIO_BACKEND") && coio_run(ran, NULL) < 0) {
        printf("backend %s unavailable here\n", getenv("COIO_BACKEND"));
        return 77;
    }
    int inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            struct dirent **list;
            int n = scandir(argv[i], &list, NULL, by_name);
            for (int k = 0; k < n; k++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], list[k]->d_name);
                if (list[k]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
                    inputs += run_file(path);
                free(list[k]);
            }
            free(list);
        } else {
            inputs += run_file(argv[i]);
        }
    }
    printf("%d inputs, all passed\n", inputs);
    return inputs > 0 ? 0 : 1;
}
