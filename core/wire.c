/*
 * core/wire: message sizes and encoders (PROTOCOL.md, byte-exact).
 *
 * Every encoder writes the whole message, then signs every byte before the
 * tag with the given prepared key. Padding is written as zero except the
 * client command's, which is written as given (a client may send garbage
 * there and the HMAC covers it as is).
 */
#include <assert.h>
#include <string.h>

#include "mutants.h"
#include "wire.h"

static const uint8_t magic[ADD_MAGIC_SIZE] = { ADD_MAGIC_0, ADD_MAGIC_1, ADD_MAGIC_2,
					       ADD_MAGIC_3 };

size_t add_wire_cmd_size(uint8_t type)
{
	switch (type) {
	case ADD_TYPE_READ:
	case ADD_TYPE_STATUS:
		return ADD_CMD_READ_SIZE;
	case ADD_TYPE_WRITE:
		return ADD_CMD_WRITE_SIZE;
	default:
		return 0;
	}
}

/* Any status other than a successful READ has empty content: an unknown
 * status is sized like a failure, so that a decoder can still frame it. */
size_t add_wire_rsp_size(uint8_t type, uint8_t status)
{
	switch (type) {
	case ADD_TYPE_READ_RESPONSE:
		return status == ADD_STATUS_OK ? ADD_RSP_READ_SIZE : ADD_RSP_EMPTY_SIZE;
	case ADD_TYPE_WRITE_RESPONSE:
		return ADD_RSP_EMPTY_SIZE;
	case ADD_TYPE_STATUS_RESPONSE:
		if (ADD_MUTANT_ON(ADD_MUTANT_STATUS_RSP_FRAMED_EMPTY))
			return ADD_RSP_EMPTY_SIZE;
		return status == ADD_STATUS_OK ? ADD_RSP_STATUS_SIZE : ADD_RSP_EMPTY_SIZE;
	default:
		return 0;
	}
}

size_t add_wire_peer_size(uint8_t type)
{
	switch (type) {
	case ADD_TYPE_READ_PROC:
	case ADD_TYPE_ACK:
	case ADD_TYPE_READ_PROC_META:
		return ADD_PEER_SMALL_SIZE;
	case ADD_TYPE_VALUE_META:
		return ADD_PEER_META_SIZE;
	case ADD_TYPE_VALUE:
	case ADD_TYPE_WRITE_PROC:
		return ADD_PEER_VALUE_SIZE;
	case ADD_TYPE_READ_PROC_TACK:
	case ADD_TYPE_VALUE_TACK:
	case ADD_TYPE_WRITE_PROC_TACK:
	case ADD_TYPE_ACK_TACK:
		return ADD_TACK_SIZE;
	default:
		return 0;
	}
}

/* Signs out[0..size-32) into out[size-32..size) and returns size. */
static size_t sign(const add_hmac_key *key, uint8_t *out, size_t size)
{
	assert(size > ADD_HMAC_TAG_SIZE && size <= ADD_WIRE_MSG_SIZE_MAX);
	add_hmac_sign(key, out, size - ADD_HMAC_TAG_SIZE, out + size - ADD_HMAC_TAG_SIZE);
	return size;
}

size_t add_wire_encode_cmd(const add_client_cmd *cmd, const add_hmac_key *client_key,
			   uint8_t *out)
{
	assert(cmd != NULL && client_key != NULL && out != NULL);
	size_t size = add_wire_cmd_size(cmd->type);
	if (size == 0 || (cmd->type == ADD_TYPE_WRITE && cmd->data == NULL))
		return 0;

	memcpy(out + ADD_CMD_OFF_MAGIC, magic, ADD_MAGIC_SIZE);
	memcpy(out + ADD_CMD_OFF_PADDING, cmd->padding, ADD_CMD_PADDING_SIZE);
	out[ADD_CMD_OFF_TYPE] = cmd->type;
	add_put_be64(out + ADD_CMD_OFF_REQUEST, cmd->request);
	add_put_be64(out + ADD_CMD_OFF_SECTOR, cmd->sector);
	if (cmd->type == ADD_TYPE_WRITE)
		memcpy(out + ADD_CMD_OFF_DATA, cmd->data, ADD_SECTOR_SIZE);
	return sign(client_key, out, size);
}

size_t add_wire_encode_rsp(const add_client_rsp *rsp, const add_hmac_key *client_key,
			   uint8_t *out)
{
	assert(rsp != NULL && client_key != NULL && out != NULL);
	if (rsp->status > ADD_STATUS_INVALID_SECTOR_INDEX)
		return 0; /* not a status of the protocol */
	size_t size = add_wire_rsp_size(rsp->type, rsp->status);
	if (size == 0)
		return 0;
	size_t data_len = size - ADD_RSP_EMPTY_SIZE; /* 4096, a status body, or 0 */
	bool with_data = data_len > 0;
	if (with_data && rsp->data == NULL)
		return 0;
	assert(data_len == 0 || data_len == ADD_SECTOR_SIZE || data_len == ADD_STATUS_BODY_SIZE);

	memcpy(out + ADD_RSP_OFF_MAGIC, magic, ADD_MAGIC_SIZE);
	memset(out + ADD_RSP_OFF_PADDING, 0, ADD_RSP_PADDING_SIZE);
	out[ADD_RSP_OFF_STATUS] = rsp->status;
	out[ADD_RSP_OFF_TYPE] = rsp->type;
	add_put_be64(out + ADD_RSP_OFF_REQUEST, rsp->request);
	if (with_data)
		memcpy(out + ADD_RSP_OFF_DATA, rsp->data, data_len);
	return sign(client_key, out, size);
}

size_t add_wire_encode_peer(const add_peer_msg *msg, const add_hmac_key *system_key,
			    uint8_t *out)
{
	assert(msg != NULL && system_key != NULL && out != NULL);
	size_t size = add_wire_peer_size(msg->type);
	if (size == 0)
		return 0;
	bool with_value = size == ADD_PEER_VALUE_SIZE;
	if (with_value && msg->data == NULL)
		return 0;

	memcpy(out + ADD_PEER_OFF_MAGIC, magic, ADD_MAGIC_SIZE);
	memset(out + ADD_PEER_OFF_PADDING, 0, ADD_PEER_PADDING_SIZE);
	out[ADD_PEER_OFF_RANK] = msg->rank;
	out[ADD_PEER_OFF_TYPE] = msg->type;
	memcpy(out + ADD_PEER_OFF_UUID, msg->uuid, ADD_UUID_SIZE);
	if (size == ADD_TACK_SIZE)
		return sign(system_key, out, size); /* no sector, no content */

	add_put_be64(out + ADD_PEER_OFF_SECTOR, msg->sector);
	if (with_value || size == ADD_PEER_META_SIZE) {
		add_put_be64(out + ADD_PEER_OFF_TS, msg->ts);
		memset(out + ADD_PEER_OFF_TS_PADDING, 0, ADD_PEER_TS_PADDING_SIZE);
		out[ADD_PEER_OFF_WR] = msg->wr;
	}
	if (with_value)
		memcpy(out + ADD_PEER_OFF_DATA, msg->data, ADD_SECTOR_SIZE);
	return sign(system_key, out, size);
}
