/* runtime-real/conn: see conn.h. */
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define OUTBUF_CAP_MIN (64u * 1024)
/* A drained buffer larger than this is released (memory follows load). */
#define OUTBUF_KEEP_MAX (256u * 1024)

void add_outbuf_init(add_outbuf *ob, size_t max)
{
	memset(ob, 0, sizeof(*ob));
	ob->max = max;
}

void add_outbuf_free(add_outbuf *ob)
{
	free(ob->buf);
	ob->buf = NULL;
	ob->head = ob->tail = ob->cap = 0;
}

void add_outbuf_reset(add_outbuf *ob)
{
	ob->head = ob->tail = 0;
	if (ob->cap > OUTBUF_KEEP_MAX)
		add_outbuf_free(ob);
}

bool add_outbuf_append(add_outbuf *ob, const uint8_t *data, size_t len)
{
	size_t pending = add_outbuf_pending(ob);

	if (pending + len > ob->max)
		return false;
	if (ob->tail + len > ob->cap) {
		/* Slide the unsent bytes to the front first, then grow. */
		if (ob->head > 0) {
			memmove(ob->buf, ob->buf + ob->head, pending);
			ob->head = 0;
			ob->tail = pending;
		}
		if (ob->tail + len > ob->cap) {
			size_t cap = ob->cap ? ob->cap : OUTBUF_CAP_MIN;
			while (cap < ob->tail + len)
				cap *= 2;
			uint8_t *nb = realloc(ob->buf, cap);
			if (nb == NULL)
				return false;
			ob->buf = nb;
			ob->cap = cap;
		}
	}
	memcpy(ob->buf + ob->tail, data, len);
	ob->tail += len;
	assert(ob->tail <= ob->cap);
	return true;
}

int add_outbuf_flush(add_outbuf *ob, int fd)
{
	while (ob->head < ob->tail) {
		ssize_t n = send(fd, ob->buf + ob->head, ob->tail - ob->head, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -errno;
		}
		ob->head += (size_t)n;
	}
	ob->head = ob->tail = 0;
	if (ob->cap > OUTBUF_KEEP_MAX)
		add_outbuf_free(ob);
	return 0;
}
