/*
 * runtime-real/conn: a connection's bounded output buffer.
 *
 * Messages are appended whole (or refused whole when the bound would be
 * exceeded: the caller drops the message or closes the connection) and sent
 * in one batch per event-loop iteration: one send(2) of everything queued.
 * The buffer grows by doubling up to its bound and is released when it
 * drains while large, so idle connections cost nothing.
 */
#ifndef ADD_REAL_CONN_H
#define ADD_REAL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct add_outbuf {
	uint8_t *buf;
	size_t head; /* first unsent byte */
	size_t tail; /* end of queued bytes */
	size_t cap;
	size_t max; /* bound on queued bytes */
} add_outbuf;

void add_outbuf_init(add_outbuf *ob, size_t max);
void add_outbuf_free(add_outbuf *ob);
/* Queues len bytes; false (nothing queued) if that would exceed the bound or
 * memory is exhausted. */
bool add_outbuf_append(add_outbuf *ob, const uint8_t *data, size_t len);
static inline size_t add_outbuf_pending(const add_outbuf *ob)
{
	return ob->tail - ob->head;
}
/* Sends as much as the socket takes: 0 when drained, 1 when bytes remain
 * (socket full), -errno on a connection error. */
int add_outbuf_flush(add_outbuf *ob, int fd);
/* Forgets everything queued (connection closed). */
void add_outbuf_reset(add_outbuf *ob);

#endif /* ADD_REAL_CONN_H */
