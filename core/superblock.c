/* core/superblock: the store's identity in a kv_store (see superblock.h).
 *
 * The kv store lives in the store's directory behind a name prefix
 * (core/disk_prefix.h), so its files are "sb.tmp", "sb.txn", "sb.txn.tmp" and
 * "sb.v<hash>": add_superblock_owns_file tells them by the prefix, and the kv
 * store's recovery (which removes its "tmp") never touches another file.
 * Read and write each open that kv store, so both finish (durably) what a
 * crash interrupted in it: a read may write.
 *
 * The value (little-endian), checksummed inside itself although the kv file
 * is too, so that the superblock stands on its own:
 *   0  u32 magic "ADSB"          4  u32 record version (1)
 *   8  u32 format_version       12  u8 rank, 3 zero bytes
 *  16  u64 n_sectors            24  16 bytes cluster_id
 *  40  u64 incarnation          48  u64 ts_floor
 *  56  u32 CRC32C of bytes 0..55
 */
#include "superblock.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crc32c.h"
#include "disk_prefix.h"
#include "kv_store.h"
#include "mutants.h"

#define SB_PREFIX "sb."
#define SB_KEY "superblock"
#define SB_MAGIC 0x42534441u /* "ADSB" */
#define SB_RECORD_VERSION 1u
#define SB_SIZE 60u

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* The name of the errors a disk reports (no strerror in the pure core). */
static const char *errno_name(int rc)
{
	switch (-rc) {
	case EIO: return "EIO, input/output error";
	case ENOSPC: return "ENOSPC, no space left on device";
	case EDQUOT: return "EDQUOT, disk quota exceeded";
	case ENOENT: return "ENOENT, no such file";
	case EACCES: return "EACCES, permission denied";
	case EROFS: return "EROFS, read-only file system";
	case ENOMEM: return "ENOMEM, out of memory";
	case EBADMSG: return "EBADMSG, corrupt";
	case EMFILE: return "EMFILE, too many open files";
	default: return "see errno";
	}
}

static int say(char *err, size_t err_len, int rc, const char *what)
{
	if (err && err_len)
		snprintf(err, err_len, "superblock: %s", what);
	return rc;
}

static int say_rc(char *err, size_t err_len, int rc, const char *op)
{
	assert(rc < 0);
	if (err && err_len)
		snprintf(err, err_len, "superblock: %s (files " SB_PREFIX "*) failed: error %d (%s)",
			 op, -rc, errno_name(rc));
	return rc;
}

static void encode(uint8_t b[SB_SIZE], const add_superblock *sb)
{
	memset(b, 0, SB_SIZE);
	put_u32(b, SB_MAGIC);
	put_u32(b + 4, SB_RECORD_VERSION);
	put_u32(b + 8, sb->format_version);
	b[12] = sb->rank;
	put_u64(b + 16, sb->n_sectors);
	memcpy(b + 24, sb->cluster_id, ADD_CLUSTER_ID_SIZE);
	put_u64(b + 40, sb->incarnation);
	put_u64(b + 48, sb->ts_floor);
	put_u32(b + 56, add_crc32c(0, b, 56));
}

/* 0 and *out, or -EBADMSG with the reason. */
static int decode(const uint8_t *b, size_t len, add_superblock *out, char *err, size_t err_len)
{
	char why[160];

	if (len < 8 || get_u32(b) != SB_MAGIC) {
		snprintf(why, sizeof(why), "corrupt: no superblock magic (%zu bytes)", len);
		return say(err, err_len, -EBADMSG, why);
	}
	if (get_u32(b + 4) != SB_RECORD_VERSION) {
		snprintf(why, sizeof(why), "record version %u unknown (this build reads %u)",
			 get_u32(b + 4), SB_RECORD_VERSION);
		return say(err, err_len, -EBADMSG, why);
	}
	if (len != SB_SIZE) {
		snprintf(why, sizeof(why), "corrupt: %zu bytes, expected %u", len, SB_SIZE);
		return say(err, err_len, -EBADMSG, why);
	}
	if (get_u32(b + 56) != add_crc32c(0, b, 56) &&
	    !ADD_MUTANT_ON(ADD_MUTANT_SUPERBLOCK_SKIP_CHECKSUM)) {
		snprintf(why, sizeof(why), "corrupt: checksum %08x, computed %08x", get_u32(b + 56),
			 add_crc32c(0, b, 56));
		return say(err, err_len, -EBADMSG, why);
	}
	uint32_t format = get_u32(b + 8);

	if (format == 0 ||
	    (format > ADD_SUPERBLOCK_FORMAT && !ADD_MUTANT_ON(ADD_MUTANT_SUPERBLOCK_ACCEPT_NEWER))) {
		snprintf(why, sizeof(why),
			 "sector store format %u unknown (this build knows 1..%u): refused", format,
			 ADD_SUPERBLOCK_FORMAT);
		return say(err, err_len, -EBADMSG, why);
	}
	if (b[13] || b[14] || b[15]) {
		snprintf(why, sizeof(why), "corrupt: reserved bytes are not zero");
		return say(err, err_len, -EBADMSG, why);
	}
	memset(out, 0, sizeof(*out));
	out->format_version = format;
	out->rank = b[12];
	out->n_sectors = get_u64(b + 16);
	memcpy(out->cluster_id, b + 24, ADD_CLUSTER_ID_SIZE);
	out->incarnation = get_u64(b + 40);
	out->ts_floor = get_u64(b + 48);
	return 0;
}

/* Opens the superblock's kv store (finishing what a crash interrupted). */
static add_kv *open_kv(const add_disk *disk, add_disk_prefix *view, char *err, size_t err_len)
{
	char why[128] = "";
	add_kv *kv;

	if (!add_disk_prefix_init(view, disk, SB_PREFIX)) {
		say(err, err_len, -EINVAL, "no disk");
		return NULL;
	}
	kv = add_kv_open(&view->ops, why, sizeof(why));
	if (!kv && err && err_len)
		snprintf(err, err_len, "superblock: open (files " SB_PREFIX "*) failed: %s", why);
	return kv;
}

int add_superblock_read(const add_disk *disk, add_superblock *out, char *err, size_t err_len)
{
	add_disk_prefix view;
	uint8_t b[2 * SB_SIZE];
	size_t len = 0;
	int rc;

	if (!disk || !out)
		return say(err, err_len, -EINVAL, "read: no disk or no output");
	add_kv *kv = open_kv(disk, &view, err, err_len);

	if (!kv)
		return -EIO;
	rc = add_kv_get(kv, SB_KEY, strlen(SB_KEY), b, sizeof(b), &len);
	add_kv_close(kv);
	if (rc == -ENOENT)
		return say(err, err_len, -ENOENT, "none in this directory");
	if (rc == -EBADMSG)
		return say(err, err_len, -EBADMSG, "corrupt: its kv file fails its checksum");
	if (rc == -ENOSPC) {
		char why[96];

		snprintf(why, sizeof(why), "corrupt: a %zu-byte value, expected %u", len, SB_SIZE);
		return say(err, err_len, -EBADMSG, why);
	}
	if (rc < 0)
		return say_rc(err, err_len, rc, "read");
	assert(len <= sizeof(b));
	return decode(b, len, out, err, err_len);
}

int add_superblock_write(const add_disk *disk, const add_superblock *sb, char *err,
			 size_t err_len)
{
	add_disk_prefix view;
	uint8_t b[SB_SIZE];
	add_superblock back;
	int rc;

	if (!disk || !sb)
		return say(err, err_len, -EINVAL, "write: no disk or no superblock");
	if (sb->format_version == 0 || sb->format_version > ADD_SUPERBLOCK_FORMAT)
		return say(err, err_len, -EINVAL, "write: format_version out of range");
	encode(b, sb);
	rc = decode(b, sizeof(b), &back, NULL, 0);
	/* The codec round-trips. */
	assert(rc == 0 && back.n_sectors == sb->n_sectors && back.rank == sb->rank &&
	       back.incarnation == sb->incarnation && back.ts_floor == sb->ts_floor);
	(void)rc;
	add_kv *kv = open_kv(disk, &view, err, err_len);

	if (!kv)
		return -EIO;
	rc = add_kv_put(kv, SB_KEY, strlen(SB_KEY), b, sizeof(b));
	add_kv_close(kv);
	if (rc < 0)
		return say_rc(err, err_len, rc, "write");
	return 0;
}

bool add_superblock_owns_file(const char *name)
{
	return name && strncmp(name, SB_PREFIX, strlen(SB_PREFIX)) == 0 &&
	       name[strlen(SB_PREFIX)] != '\0';
}
