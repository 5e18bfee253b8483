/*
 * runtime-real/http: a small, bounded HTTP/1.1 responder on the daemon's
 * event loop, for the metrics endpoint (GET /metrics).
 *
 * Bounds: at most ADD_HTTP_CONNS_MAX connections at once (one more is
 * accepted and closed at once); a request head of at most ADD_HTTP_REQ_MAX
 * bytes (else 431); ADD_HTTP_TIMEOUT_NS from accept to the last byte sent
 * (else the connection is closed). One request per connection (the
 * response says Connection: close). GET or HEAD of ADD_HTTP_PATH answers
 * 200 with the body the callback writes; another path 404; another method
 * 405. Single-threaded: everything runs on the loop's thread.
 */
#ifndef ADD_REAL_HTTP_H
#define ADD_REAL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"
#include "loop.h"

#define ADD_HTTP_CONNS_MAX 4
#define ADD_HTTP_REQ_MAX 4096
#define ADD_HTTP_TIMEOUT_NS (5000ull * 1000 * 1000)
#define ADD_HTTP_BODY_MAX (256u * 1024)
#define ADD_HTTP_PATH "/metrics"

/* Writes the body into buf[0..cap); returns its length, 0 on failure (the
 * client gets 500). */
typedef size_t (*add_http_body_fn)(void *arg, char *buf, size_t cap);

typedef struct add_http_server add_http_server;

/* Listens on hp. Unless allow_remote, hp must resolve to a loopback address
 * (127.0.0.0/8, ::1). NULL and one line in err on failure. */
add_http_server *add_http_start(add_loop *loop, const add_hostport *hp, bool allow_remote,
				const char *content_type, add_http_body_fn fn, void *arg,
				char *err, size_t err_len);
/* Closes every connection and the listening socket. NULL is fine. */
void add_http_stop(add_http_server *s);

/* Whether a resolved address is a loopback one. */
bool add_http_is_loopback(const struct sockaddr *sa);

#endif /* ADD_REAL_HTTP_H */
