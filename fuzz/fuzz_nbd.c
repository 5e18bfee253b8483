/*
 * libFuzzer target: the NBD handshake and transmission decoder
 * (runtime-real/nbd_proto.c), as addd's NBD server drives them. The first
 * byte picks how the input is cut into reads; the rest is what a client
 * sends. Checked on every step: progress, bounded output, consistent
 * payload accounting, and that a request add_nbd_check lets run is whole
 * sectors within the export.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../runtime-real/nbd_proto.h"

#define EXPORT_SIZE (4096ull * 4096)

static add_nbd_hs hs; /* large: not on the stack */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[ADD_NBD_HS_OUT_MAX];
	size_t chunk, at = 1;
	add_nbd_rx rx;
	uint32_t payload_left = 0;

	if (size < 1)
		return 0;
	chunk = (size_t)(data[0] % 64) + 1;
	add_nbd_hs_init(&hs, EXPORT_SIZE);
	while (at < size && hs.state != ADD_NBD_HS_TRANSMISSION && hs.state != ADD_NBD_HS_CLOSED) {
		size_t n = size - at < chunk ? size - at : chunk, out_len = 0;
		size_t used = add_nbd_hs_feed(&hs, data + at, n, out, &out_len);
		assert(used <= n);
		assert(out_len <= ADD_NBD_HS_OUT_MAX);
		/* progress: something is consumed unless the handshake just ended */
		assert(used > 0 || hs.state == ADD_NBD_HS_TRANSMISSION ||
		       hs.state == ADD_NBD_HS_CLOSED);
		at += used;
	}
	if (hs.state != ADD_NBD_HS_TRANSMISSION)
		return 0;
	add_nbd_rx_init(&rx);
	while (at < size) {
		size_t n = size - at < chunk ? size - at : chunk;
		add_nbd_rx_event ev;
		size_t used = add_nbd_rx_feed(&rx, data + at, n, &ev);

		assert(used <= n);
		at += used;
		if (ev.kind == ADD_NBD_RX_ERROR)
			break;
		assert(used > 0);
		if (ev.kind == ADD_NBD_RX_PAYLOAD) {
			assert(ev.data_len > 0 && ev.data_len <= payload_left);
			payload_left -= (uint32_t)ev.data_len;
			assert(ev.payload_end == (payload_left == 0));
		} else if (ev.kind == ADD_NBD_RX_REQUEST) {
			assert(payload_left == 0);
			if (ev.req.type == ADD_NBD_CMD_WRITE) {
				assert(ev.req.length <= ADD_NBD_PAYLOAD_MAX);
				payload_left = ev.req.length;
			}
			if (add_nbd_check(&ev.req, EXPORT_SIZE) == 0 &&
			    ev.req.type != ADD_NBD_CMD_FLUSH && ev.req.type != ADD_NBD_CMD_DISC) {
				assert(ev.req.offset % ADD_NBD_BLOCK == 0);
				assert(ev.req.length % ADD_NBD_BLOCK == 0);
				assert(ev.req.offset + ev.req.length <= EXPORT_SIZE);
			}
		}
	}
	return 0;
}
