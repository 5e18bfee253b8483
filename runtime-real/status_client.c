/* runtime-real/status_client: see status_client.h. */
#include "status_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "net.h"

void add_status_ask(const add_hostport *hp, const add_hmac_key *client_key, int timeout_ms,
		    add_status_probe *out)
{
	uint8_t msg[ADD_CMD_READ_SIZE], rbuf[4096];
	add_wire_decoder dec;
	char err[sizeof(out->error)];
	uint64_t req = 0;

	out->reachable = false;
	out->error[0] = '\0';
	if (getrandom(&req, sizeof(req), 0) != (ssize_t)sizeof(req))
		req = (uint64_t)getpid();
	int fd = add_net_connect_blocking(hp, timeout_ms, err, sizeof(err));
	if (fd < 0) {
		snprintf(out->error, sizeof(out->error), "%s", err);
		return;
	}
	add_client_cmd cmd = {.type = ADD_TYPE_STATUS, .request = req};
	size_t n = add_wire_encode_cmd(&cmd, client_key, msg);
	if (n != sizeof(msg) || add_write_all(fd, msg, n) != 0) {
		snprintf(out->error, sizeof(out->error), "sending STATUS: %s", strerror(errno));
		close(fd);
		return;
	}
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_CLIENT, client_key, NULL);
	for (;;) {
		ssize_t r = read(fd, rbuf, sizeof(rbuf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			snprintf(out->error, sizeof(out->error),
				 "no STATUS answer within %d ms (not an ADD process of this "
				 "version, or stuck)", timeout_ms);
			break;
		}
		if (r <= 0) {
			snprintf(out->error, sizeof(out->error), "connection closed before the answer%s%s",
				 r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
			break;
		}
		const uint8_t *p = rbuf;
		size_t len = (size_t)r;
		add_wire_msg m;
		bool done = false;
		while (!done) {
			size_t used = add_wire_decoder_feed(&dec, p, len, &m);
			p += used;
			len -= used;
			if (m.kind == ADD_WIRE_NONE)
				break;
			if (m.kind != ADD_WIRE_RSP || m.rsp.request != req ||
			    m.rsp.type != ADD_TYPE_STATUS_RESPONSE)
				continue; /* not the answer */
			done = true;
			if (!m.hmac_ok)
				snprintf(out->error, sizeof(out->error),
					 "the answer's HMAC does not verify (another client key?)");
			else if (m.rsp.status == ADD_STATUS_AUTH_FAILURE)
				snprintf(out->error, sizeof(out->error),
					 "AuthFailure: not the cluster's client key");
			else if (m.rsp.status != ADD_STATUS_OK || m.rsp.data == NULL)
				snprintf(out->error, sizeof(out->error), "status %u", m.rsp.status);
			else if (add_status_decode(m.rsp.data, &out->info) != 0)
				snprintf(out->error, sizeof(out->error),
					 "answer in a format this addctl does not know (%u)",
					 m.rsp.data[0]);
			else
				out->reachable = true;
		}
		if (done)
			break;
	}
	close(fd);
}
