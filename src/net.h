/* Internal interfaces shared by net.c, dns.c and server.c. */
#ifndef COIO_NET_H
#define COIO_NET_H

#include "internal.h"

/* Applies the SIGPIPE policy (net.c) once per process; called by every function that
 * creates or accepts a socket. */
void coio__net_init(void);

#endif
