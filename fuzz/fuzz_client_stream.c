/* libFuzzer: the CLIENT-mode stream decoder over arbitrary bytes, checked
 * against a reference of the resync rules (see stream_check.h). */
#include "stream_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_stream(ADD_WIRE_MODE_CLIENT, data, size);
}
