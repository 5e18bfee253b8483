/* runtime-real/net: see net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

int add_net_set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int add_net_set_nodelay(int fd)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		return -errno;
	return 0;
}

int add_net_set_keepalive(int fd)
{
	int one = 1, idle = ADD_NET_KEEPIDLE_S, intvl = ADD_NET_KEEPINTVL_S, cnt = ADD_NET_KEEPCNT;
	unsigned int user_timeout_ms = ADD_NET_USER_TIMEOUT_S * 1000u;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
		       sizeof(user_timeout_ms)) != 0)
		return -errno;
	return 0;
}

static int resolve(const add_hostport *hp, int flags, add_sockaddr *out, char *err,
		   size_t err_len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = flags};
	struct addrinfo *res = NULL;
	char port[8];
	int rc;

	/* Numeric addresses need no resolver (nor NSS modules, which a static
	 * addd in an initramfs does not have). */
	memset(&out->ss, 0, sizeof(out->ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
	if (inet_pton(AF_INET, hp->host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(hp->port);
		out->len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, hp->host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(hp->port);
		out->len = sizeof(*v6);
		return 0;
	}
	snprintf(port, sizeof(port), "%u", hp->port);
	rc = getaddrinfo(hp->host, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		snprintf(err, err_len, "cannot resolve '%s': %s", hp->host, gai_strerror(rc));
		return -1;
	}
	/* A name with both families (Debian's "localhost" is ::1 and 127.0.0.1,
	 * ::1 sorted first): take IPv4, so that a process listening on
	 * "localhost:P" is reachable at 127.0.0.1:P, where clients (the kernel
	 * driver takes IPv4 only) and the other processes look for it. */
	const struct addrinfo *pick = res;
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			pick = ai;
			break;
		}
	}
	memcpy(&out->ss, pick->ai_addr, pick->ai_addrlen);
	out->len = pick->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int add_net_resolve(const add_hostport *hp, add_sockaddr *out, char *err, size_t err_len)
{
	return resolve(hp, 0, out, err, err_len);
}

int add_net_listen(const add_hostport *hp, int backlog, char *err, size_t err_len)
{
	add_sockaddr a;
	int one = 1, fd;

	if (resolve(hp, AI_PASSIVE, &a, err, err_len) != 0)
		return -1;
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_len, "socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&a.ss, a.len) != 0 || listen(fd, backlog) != 0) {
		snprintf(err, err_len, "cannot listen on %s:%u: %s", hp->host, hp->port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int add_net_accept(int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	(void)add_net_set_nodelay(fd);
	(void)add_net_set_keepalive(fd); /* best effort: a dead host is reaped */
	return fd;
}

int add_net_connect_start(const add_sockaddr *addr)
{
	int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)add_net_set_nodelay(fd);
	(void)add_net_set_keepalive(fd); /* best effort: a dead host is reaped */
	if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0 &&
	    errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int add_net_connect_result(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
		return -errno;
	return -e;
}

int add_net_connect_blocking(const add_hostport *hp, int timeout_ms, char *err, size_t err_len)
{
	add_sockaddr a;
	int fd;

	if (resolve(hp, 0, &a, err, err_len) != 0)
		return -1;
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_len, "socket: %s", strerror(errno));
		return -1;
	}
	if (timeout_ms > 0) {
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
				     .tv_usec = (timeout_ms % 1000) * 1000};
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&a.ss, a.len) != 0) {
		snprintf(err, err_len, "cannot connect to %s:%u: %s", hp->host, hp->port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	(void)add_net_set_nodelay(fd);
	(void)add_net_set_keepalive(fd); /* best effort: a dead host is reaped */
	return fd;
}

int add_write_all(int fd, const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len > 0) {
		ssize_t n = write(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}
