/* runtime-real/http: see http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "net.h"

typedef struct http_conn {
	add_http_server *srv;
	int fd;		  /* -1: free */
	uint64_t timer;	  /* the timeout, 0 when none */
	size_t have;	  /* request bytes read */
	char *out;	  /* the response, once the request is complete */
	size_t out_len, out_sent;
	char req[ADD_HTTP_REQ_MAX];
} http_conn;

struct add_http_server {
	add_loop *loop;
	int listen_fd;
	const char *content_type;
	add_http_body_fn fn;
	void *arg;
	uint64_t refused;
	http_conn conns[ADD_HTTP_CONNS_MAX];
	char body[ADD_HTTP_BODY_MAX];
};

bool add_http_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static void conn_free(http_conn *c)
{
	add_http_server *s = c->srv;

	assert(c->fd >= 0);
	add_loop_del_fd(s->loop, c->fd);
	close(c->fd);
	if (c->timer)
		add_loop_del_timer(s->loop, c->timer);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->timer = 0;
	c->have = c->out_len = c->out_sent = 0;
}

/* Sends what the socket takes; closes when all is sent or on an error. */
static void conn_send(http_conn *c)
{
	while (c->out_sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			(void)add_loop_set_mask(c->srv->loop, c->fd, ADD_LOOP_WRITABLE);
			return;
		}
		if (n < 0) {
			add_debug("metrics: send: %s", strerror(errno));
			conn_free(c);
			return;
		}
		c->out_sent += (size_t)n;
	}
	/* Closing with unread request bytes would reset the connection and
	 * could discard the response (a 431): end our side, and drop what the
	 * client sent that is already here. */
	(void)shutdown(c->fd, SHUT_WR);
	char junk[4096];
	for (int i = 0; i < 64 && recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
		;
	conn_free(c);
}

static void respond(http_conn *c, int code, const char *reason, const char *type,
		    const char *body, size_t body_len, bool head_only)
{
	char hdr[256];
	int h = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code, reason, type, body_len);

	assert(h > 0 && (size_t)h < sizeof(hdr));
	size_t send_body = head_only ? 0 : body_len;
	c->out = malloc((size_t)h + send_body);
	if (c->out == NULL) {
		add_warn("metrics: out of memory for a response");
		conn_free(c);
		return;
	}
	memcpy(c->out, hdr, (size_t)h);
	if (send_body > 0)
		memcpy(c->out + h, body, send_body);
	c->out_len = (size_t)h + send_body;
	c->out_sent = 0;
	(void)add_loop_set_mask(c->srv->loop, c->fd, 0);
	conn_send(c);
}

static void respond_text(http_conn *c, int code, const char *reason)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, reason);
	respond(c, code, reason, "text/plain; charset=utf-8", body, (size_t)n, false);
}

/* The request head c->req[0..have) is complete: answer it. */
static void handle(http_conn *c)
{
	add_http_server *s = c->srv;
	char method[8], path[256];
	const char *sp1 = memchr(c->req, ' ', c->have);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', c->have - (size_t)(sp1 + 1 - c->req)) : NULL;

	if (sp1 == NULL || sp2 == NULL || sp1 - c->req >= (long)sizeof(method) ||
	    sp2 - sp1 - 1 >= (long)sizeof(path) || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		respond_text(c, 400, "Bad Request");
		return;
	}
	memcpy(method, c->req, (size_t)(sp1 - c->req));
	method[sp1 - c->req] = '\0';
	memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	path[sp2 - sp1 - 1] = '\0';
	char *q = strchr(path, '?');
	if (q != NULL)
		*q = '\0';
	bool head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		respond_text(c, 405, "Method Not Allowed");
		return;
	}
	if (strcmp(path, ADD_HTTP_PATH) != 0) {
		respond_text(c, 404, "Not Found");
		return;
	}
	size_t len = s->fn(s->arg, s->body, sizeof(s->body));
	if (len == 0) {
		respond_text(c, 500, "Internal Server Error");
		return;
	}
	assert(len < sizeof(s->body));
	respond(c, 200, "OK", s->content_type, s->body, len, head);
}

static void conn_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	http_conn *c = arg;

	(void)loop;
	(void)fd;
	if (c->out != NULL) {
		if (events & (ADD_LOOP_WRITABLE | ADD_LOOP_ERROR))
			conn_send(c);
		return;
	}
	for (;;) {
		if (c->have == sizeof(c->req)) {
			respond_text(c, 431, "Request Header Fields Too Large");
			return;
		}
		ssize_t n = recv(c->fd, c->req + c->have, sizeof(c->req) - c->have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			if (n < 0)
				add_debug("metrics: recv: %s", strerror(errno));
			conn_free(c);
			return;
		}
		/* The head ends at an empty line (CRLF CRLF, or bare LF LF). */
		size_t from = c->have >= 2 ? c->have - 2 : 0;
		c->have += (size_t)n;
		if (memmem(c->req + from, c->have - from, "\n\r\n", 3) != NULL ||
		    memmem(c->req + from, c->have - from, "\n\n", 2) != NULL) {
			handle(c);
			return;
		}
	}
}

static uint64_t conn_timeout(add_loop *loop, uint64_t id, void *arg)
{
	http_conn *c = arg;

	(void)loop;
	if (c->fd >= 0 && c->timer == id) {
		c->timer = 0;
		add_debug("metrics: connection timed out");
		conn_free(c);
	}
	return ADD_TIMER_STOP;
}

static void listen_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	add_http_server *s = arg;

	(void)events;
	for (int i = 0; i < 16; i++) {
		int cfd = add_net_accept(fd);
		if (cfd < 0) {
			if (cfd != -EAGAIN && cfd != -EWOULDBLOCK && cfd != -EINTR &&
			    cfd != -ECONNABORTED)
				add_warn("metrics: accept: %s", strerror(-cfd));
			return;
		}
		http_conn *c = NULL;
		for (unsigned k = 0; k < ADD_HTTP_CONNS_MAX; k++)
			if (s->conns[k].fd < 0) {
				c = &s->conns[k];
				break;
			}
		if (c == NULL) {
			if (s->refused++ % 100 == 0)
				add_info("metrics: %d connections open: refusing another (%llu so far)",
					 ADD_HTTP_CONNS_MAX, (unsigned long long)s->refused);
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->have = 0;
		c->timer = add_loop_add_timer(loop, ADD_HTTP_TIMEOUT_NS, conn_timeout, c);
		if (c->timer == 0 || add_loop_add_fd(loop, cfd, ADD_LOOP_READABLE, conn_event, c) != 0) {
			if (c->timer)
				add_loop_del_timer(loop, c->timer);
			c->timer = 0;
			close(cfd);
			c->fd = -1;
			add_warn("metrics: cannot watch a connection: closed");
		}
	}
}

add_http_server *add_http_start(add_loop *loop, const add_hostport *hp, bool allow_remote,
				const char *content_type, add_http_body_fn fn, void *arg,
				char *err, size_t err_len)
{
	add_sockaddr addr;
	add_http_server *s;

	assert(loop != NULL && hp != NULL && fn != NULL);
	if (add_net_resolve(hp, &addr, err, err_len) != 0)
		return NULL;
	if (!allow_remote && !add_http_is_loopback((const struct sockaddr *)&addr.ss)) {
		snprintf(err, err_len,
			 "metrics address %s:%u is not a loopback address (give "
			 "--metrics-allow-remote to serve other hosts)", hp->host, hp->port);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->content_type = content_type;
	s->fn = fn;
	s->arg = arg;
	for (unsigned k = 0; k < ADD_HTTP_CONNS_MAX; k++) {
		s->conns[k].fd = -1;
		s->conns[k].srv = s;
	}
	s->listen_fd = add_net_listen(hp, 16, err, err_len);
	if (s->listen_fd < 0) {
		free(s);
		return NULL;
	}
	if (add_loop_add_fd(loop, s->listen_fd, ADD_LOOP_READABLE, listen_event, s) != 0) {
		snprintf(err, err_len, "cannot watch the metrics socket");
		close(s->listen_fd);
		free(s);
		return NULL;
	}
	return s;
}

void add_http_stop(add_http_server *s)
{
	if (s == NULL)
		return;
	for (unsigned k = 0; k < ADD_HTTP_CONNS_MAX; k++)
		if (s->conns[k].fd >= 0)
			conn_free(&s->conns[k]);
	add_loop_del_fd(s->loop, s->listen_fd);
	close(s->listen_fd);
	free(s);
}
