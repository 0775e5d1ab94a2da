/*
 * TCP echo server: every connection gets a task that sends back what it receives.
 *
 *   echo_server [PORT] [MAX_CONNECTIONS]
 *
 * Listens on 127.0.0.1:PORT (default 8888; 0 picks a free port) and prints
 * "listening on 127.0.0.1:PORT" once it accepts connections. Runs until killed.
 */
#include <coio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static int echo(int fd, void *arg)
{
    (void)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = coio_recv(fd, buf, sizeof buf, 0);
        if (n <= 0) /* 0: the client is done; < 0: reset, cancelled by shutdown, ... */
            return n < 0 ? (int)n : 0;
        ssize_t w = coio_send_all(fd, buf, (size_t)n, 0);
        if (w < 0)
            return (int)w;
    }
}

static int serve(void *arg)
{
    char **argv = arg;
    const char *port = argv[1] ? argv[1] : "8888";
    coio_server_opts opts = {.max_connections = argv[1] && argv[2] ? strtoul(argv[2], NULL, 10) : 0};

    int fd = coio_tcp_listen("127.0.0.1", port, 0);
    if (fd < 0) {
        fprintf(stderr, "echo_server: listen on 127.0.0.1:%s: %s\n", port, coio_strerror(fd));
        return 1;
    }
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    coio_server *srv = coio_server_start(fd, echo, NULL, &opts);
    if (!srv) {
        perror("echo_server: coio_server_start");
        coio_close(fd);
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    int r = coio_server_wait(srv); /* until accepting fails for good */
    if (r < 0)
        fprintf(stderr, "echo_server: %s\n", coio_strerror(r));
    coio_server_close(srv, 1.0);
    return r < 0;
}

int main(int argc, char **argv)
{
    (void)argc;
    int r = coio_run(serve, argv);
    if (r < 0)
        fprintf(stderr, "echo_server: %s\n", coio_strerror(r));
    return r != 0;
}
