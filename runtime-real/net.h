/*
 * runtime-real/net: TCP socket helpers in the manner of Redis's anet.c.
 * Every socket made here is close-on-exec; the non-blocking ones also have
 * TCP_NODELAY (one message is one request: never wait for Nagle).
 */
#ifndef ADD_REAL_NET_H
#define ADD_REAL_NET_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

typedef struct add_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
} add_sockaddr;

/* Resolves host:port (numeric or by name; first result). 0 or -1. */
int add_net_resolve(const add_hostport *hp, add_sockaddr *out, char *err, size_t err_len);
/* Non-blocking listening socket with SO_REUSEADDR. fd or -1 (err filled). */
int add_net_listen(const add_hostport *hp, int backlog, char *err, size_t err_len);
/* Accepts one connection, non-blocking with TCP_NODELAY. fd, or -errno
 * (-EAGAIN when none is pending). */
int add_net_accept(int listen_fd);
/* Starts a non-blocking connect: fd (connected or in progress) or -errno. */
int add_net_connect_start(const add_sockaddr *addr);
/* After a non-blocking connect became writable: 0 or -errno (SO_ERROR). */
int add_net_connect_result(int fd);
/* Blocking connect with TCP_NODELAY (for addctl). With timeout_ms > 0, the
 * connect and every later send/recv on the socket give up after that long
 * (EAGAIN). fd or -1 (err filled). */
int add_net_connect_blocking(const add_hostport *hp, int timeout_ms, char *err, size_t err_len);
int add_net_set_nonblock(int fd);
/* TCP keepalive on an idle connection (probes after KEEPIDLE s, every
 * KEEPINTVL s, KEEPCNT unanswered: dead) and TCP_USER_TIMEOUT (data or
 * probes unacknowledged that long: dead), so that the connections of a host
 * that lost power or was cut off are reaped within ADD_NET_DEAD_BOUND_S
 * seconds (every socket accepted or connected here gets them). */
#define ADD_NET_KEEPIDLE_S 10
#define ADD_NET_KEEPINTVL_S 5
#define ADD_NET_KEEPCNT 3
#define ADD_NET_USER_TIMEOUT_S 25
#define ADD_NET_DEAD_BOUND_S 25
int add_net_set_keepalive(int fd);
int add_net_set_nodelay(int fd);
/* Writes all of p[0..len) to a blocking fd (retrying short writes and EINTR);
 * 0, or -1 with errno set. */
int add_write_all(int fd, const void *p, size_t len);

#endif /* ADD_REAL_NET_H */
