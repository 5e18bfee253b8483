/* core/kv_store: one file per key, rename for atomicity (see kv_store.h). */
#include "kv_store.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crc32c.h"

#define FILE_MAGIC 0x564b4441u /* "ADKV" */
#define TXN_MAGIC 0x544b4441u  /* "ADKT" */
#define FILE_HDR 16u
#define TXN_HDR 16u
#define TXN_OP_HDR 8u
#define FILE_MAX (FILE_HDR + ADD_KV_KEY_MAX + ADD_KV_VALUE_MAX)
#define TXN_MAX (TXN_HDR + ADD_KV_COMMIT_OPS_MAX * TXN_OP_HDR + ADD_KV_COMMIT_BYTES_MAX)
#define NAME_LEN (1 + 64) /* "v" + hex of SHA-256 */

static const char TMP_NAME[] = "tmp";
static const char TXN_TMP_NAME[] = "txn.tmp";
static const char TXN_NAME[] = "txn";

struct add_kv {
	const add_disk *disk;
	bool failed;
	uint8_t buf[FILE_MAX];
};

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int key_name(const void *key, size_t key_len, char name[NAME_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	static const uint8_t empty;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (!EVP_Digest(key_len ? key : &empty, key_len, md, &md_len, EVP_sha256(), NULL) ||
	    md_len != 32)
		return -EIO;
	name[0] = 'v';
	for (unsigned i = 0; i < 32; i++) {
		name[1 + 2 * i] = hex[md[i] >> 4];
		name[2 + 2 * i] = hex[md[i] & 15];
	}
	name[NAME_LEN] = 0;
	return 0;
}

static int check_key(const void *key, size_t key_len)
{
	if (key_len > ADD_KV_KEY_MAX)
		return -ENAMETOOLONG;
	if (!key && key_len)
		return -EINVAL;
	return 0;
}

static int check_value(const void *value, size_t value_len)
{
	if (value_len > ADD_KV_VALUE_MAX)
		return -EFBIG;
	if (!value && value_len)
		return -EINVAL;
	return 0;
}

/* A key file: magic, crc (of what follows it), key_len u16, 0, value_len
 * u32, key, value. Returns its size. */
static size_t file_encode(uint8_t *b, const void *key, size_t key_len, const void *value,
			  size_t value_len)
{
	assert(key_len <= ADD_KV_KEY_MAX && value_len <= ADD_KV_VALUE_MAX);
	put_u32(b, FILE_MAGIC);
	put_u16(b + 8, (uint16_t)key_len);
	put_u16(b + 10, 0);
	put_u32(b + 12, (uint32_t)value_len);
	if (key_len)
		memcpy(b + FILE_HDR, key, key_len);
	if (value_len)
		memcpy(b + FILE_HDR + key_len, value, value_len);
	size_t n = FILE_HDR + key_len + value_len;

	put_u32(b + 4, add_crc32c(0, b + 8, n - 8));
	return n;
}

/* The failure policy: whatever failed, the files are old-or-new; the store
 * stops accepting calls. */
static int fail(add_kv *kv, int rc)
{
	assert(rc < 0);
	kv->failed = true;
	return rc == -ENOSPC || rc == -EDQUOT ? rc : -EIO;
}

/* Writes `len` bytes as file `name` atomically: "tmp", flushed, renamed. The
 * directory is not flushed (the caller does). */
static int write_atomic(add_kv *kv, const char *tmp, const char *name, const uint8_t *b,
			size_t len)
{
	const add_disk *d = kv->disk;
	int h = d->open(d->ctx, tmp, true);
	int rc;

	if (h < 0)
		return h;
	rc = d->truncate(d->ctx, h, 0);
	if (rc == 0) {
		int64_t n = d->pwrite(d->ctx, h, b, len, 0);

		rc = n < 0 ? (int)n : 0;
	}
	if (rc == 0)
		rc = d->sync(d->ctx, h);
	int rc_close = d->close(d->ctx, h);

	if (rc == 0)
		rc = rc_close;
	if (rc == 0)
		rc = d->rename(d->ctx, tmp, name);
	return rc;
}

int add_kv_put(add_kv *kv, const void *key, size_t key_len, const void *value,
	       size_t value_len)
{
	char name[NAME_LEN + 1];
	int rc;

	if (kv->failed)
		return -EIO;
	if ((rc = check_key(key, key_len)) < 0 || (rc = check_value(value, value_len)) < 0)
		return rc;
	if ((rc = key_name(key, key_len, name)) < 0)
		return rc;
	size_t n = file_encode(kv->buf, key, key_len, value, value_len);

	if ((rc = write_atomic(kv, TMP_NAME, name, kv->buf, n)) < 0 ||
	    (rc = kv->disk->sync_dir(kv->disk->ctx)) < 0)
		return fail(kv, rc);
	return 0;
}

int add_kv_get(add_kv *kv, const void *key, size_t key_len, void *out, size_t out_cap,
	       size_t *value_len)
{
	const add_disk *d = kv->disk;
	char name[NAME_LEN + 1];
	int rc, h;

	if (kv->failed)
		return -EIO;
	if ((rc = check_key(key, key_len)) < 0)
		return rc;
	if (!value_len || (!out && out_cap))
		return -EINVAL;
	if ((rc = key_name(key, key_len, name)) < 0)
		return rc;
	h = d->open(d->ctx, name, false);
	if (h == -ENOENT)
		return -ENOENT;
	if (h < 0)
		return h;
	int64_t n = d->pread(d->ctx, h, kv->buf, sizeof(kv->buf), 0);

	d->close(d->ctx, h);
	if (n < 0)
		return (int)n;
	const uint8_t *b = kv->buf;

	/* Files appear only by rename after a flush: a bad one is corruption. */
	if (n < FILE_HDR || get_u32(b) != FILE_MAGIC ||
	    (size_t)n != FILE_HDR + get_u16(b + 8) + get_u32(b + 12) ||
	    get_u32(b + 4) != add_crc32c(0, b + 8, (size_t)n - 8))
		return -EBADMSG;
	if (get_u16(b + 8) != key_len || (key_len && memcmp(b + FILE_HDR, key, key_len) != 0))
		return -EBADMSG; /* a SHA-256 collision: not expected in this universe */
	*value_len = get_u32(b + 12);
	if (*value_len > out_cap)
		return -ENOSPC;
	if (*value_len)
		memcpy(out, b + FILE_HDR + key_len, *value_len);
	return 0;
}

int add_kv_remove(add_kv *kv, const void *key, size_t key_len)
{
	const add_disk *d = kv->disk;
	char name[NAME_LEN + 1];
	int rc;

	if (kv->failed)
		return -EIO;
	if ((rc = check_key(key, key_len)) < 0)
		return rc;
	if ((rc = key_name(key, key_len, name)) < 0)
		return rc;
	rc = d->unlink(d->ctx, name);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0 || (rc = d->sync_dir(d->ctx)) < 0)
		return fail(kv, rc);
	return 1;
}

/* ---- multi-key commit ---- */

/* Applies a validated intent record (see add_kv_commit), idempotently. */
static int txn_apply(add_kv *kv, const uint8_t *t, size_t len)
{
	const add_disk *d = kv->disk;
	uint32_t n_ops = get_u32(t + 8);
	size_t off = TXN_HDR;
	int rc;

	for (uint32_t i = 0; i < n_ops; i++) {
		char name[NAME_LEN + 1];
		bool remove = t[off] != 0;
		size_t key_len = get_u16(t + off + 2), value_len = get_u32(t + off + 4);
		const uint8_t *key = t + off + TXN_OP_HDR, *value = key + key_len;

		assert(off + TXN_OP_HDR + key_len + value_len <= len);
		if ((rc = key_name(key, key_len, name)) < 0)
			return rc;
		if (remove) {
			rc = d->unlink(d->ctx, name);
			if (rc < 0 && rc != -ENOENT)
				return rc;
		} else {
			size_t n = file_encode(kv->buf, key, key_len, value, value_len);

			if ((rc = write_atomic(kv, TMP_NAME, name, kv->buf, n)) < 0)
				return rc;
		}
		off += TXN_OP_HDR + key_len + value_len;
	}
	/* Every op durable before the intent goes. */
	if ((rc = d->sync_dir(d->ctx)) < 0)
		return rc;
	if ((rc = d->unlink(d->ctx, TXN_NAME)) < 0)
		return rc;
	return d->sync_dir(d->ctx);
}

/* Checks an intent record's framing and checksum. */
static bool txn_valid(const uint8_t *t, size_t len)
{
	if (len < TXN_HDR || get_u32(t) != TXN_MAGIC ||
	    get_u32(t + 4) != add_crc32c(0, t + 8, len - 8))
		return false;
	uint32_t n_ops = get_u32(t + 8);
	size_t off = TXN_HDR;

	if (n_ops > ADD_KV_COMMIT_OPS_MAX)
		return false;
	for (uint32_t i = 0; i < n_ops; i++) {
		if (off + TXN_OP_HDR > len)
			return false;
		size_t k = get_u16(t + off + 2), v = get_u32(t + off + 4);

		if (k > ADD_KV_KEY_MAX || v > ADD_KV_VALUE_MAX || off + TXN_OP_HDR + k + v > len)
			return false;
		off += TXN_OP_HDR + k + v;
	}
	return off == len;
}

int add_kv_commit(add_kv *kv, const add_kv_op *ops, size_t n_ops)
{
	size_t bytes = 0, len = TXN_HDR, off = TXN_HDR;
	int rc;

	if (kv->failed)
		return -EIO;
	if (!ops && n_ops)
		return -EINVAL;
	if (n_ops > ADD_KV_COMMIT_OPS_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n_ops; i++) {
		if ((rc = check_key(ops[i].key, ops[i].key_len)) < 0)
			return rc;
		if (!ops[i].remove && (rc = check_value(ops[i].value, ops[i].value_len)) < 0)
			return rc;
		bytes += ops[i].key_len + (ops[i].remove ? 0 : ops[i].value_len);
		len += TXN_OP_HDR + ops[i].key_len + (ops[i].remove ? 0 : ops[i].value_len);
	}
	if (bytes > ADD_KV_COMMIT_BYTES_MAX)
		return -E2BIG;
	if (n_ops == 0)
		return 0;
	uint8_t *t = malloc(len);

	if (!t)
		return -ENOMEM;
	put_u32(t, TXN_MAGIC);
	put_u32(t + 8, (uint32_t)n_ops);
	put_u32(t + 12, 0);
	for (size_t i = 0; i < n_ops; i++) {
		size_t v = ops[i].remove ? 0 : ops[i].value_len;

		t[off] = ops[i].remove ? 1 : 0;
		t[off + 1] = 0;
		put_u16(t + off + 2, (uint16_t)ops[i].key_len);
		put_u32(t + off + 4, (uint32_t)v);
		if (ops[i].key_len)
			memcpy(t + off + TXN_OP_HDR, ops[i].key, ops[i].key_len);
		if (v)
			memcpy(t + off + TXN_OP_HDR + ops[i].key_len, ops[i].value, v);
		off += TXN_OP_HDR + ops[i].key_len + v;
	}
	assert(off == len);
	put_u32(t + 4, add_crc32c(0, t + 8, len - 8));
	assert(txn_valid(t, len));
	/* The commit point: "txn" durable in the directory. */
	if ((rc = write_atomic(kv, TXN_TMP_NAME, TXN_NAME, t, len)) < 0 ||
	    (rc = kv->disk->sync_dir(kv->disk->ctx)) < 0 || (rc = txn_apply(kv, t, len)) < 0) {
		free(t);
		return fail(kv, rc);
	}
	free(t);
	return 0;
}

/* ---- open / recovery ---- */

static int recover(add_kv *kv)
{
	const add_disk *d = kv->disk;
	int rc, h;
	bool dirty = false;

	/* Leftovers of an interrupted put, or of a commit before its point. */
	if ((rc = d->unlink(d->ctx, TMP_NAME)) == 0)
		dirty = true;
	else if (rc != -ENOENT)
		return rc;
	if ((rc = d->unlink(d->ctx, TXN_TMP_NAME)) == 0)
		dirty = true;
	else if (rc != -ENOENT)
		return rc;
	h = d->open(d->ctx, TXN_NAME, false);
	if (h >= 0) {
		int64_t size = d->size(d->ctx, h);
		uint8_t *t = NULL;

		if (size < 0 || size > (int64_t)TXN_MAX) {
			d->close(d->ctx, h);
			return size < 0 ? (int)size : -EIO;
		}
		t = malloc(size ? (size_t)size : 1);
		if (!t) {
			d->close(d->ctx, h);
			return -ENOMEM;
		}
		int64_t n = d->pread(d->ctx, h, t, (size_t)size, 0);

		d->close(d->ctx, h);
		if (n != size || !txn_valid(t, (size_t)size)) {
			free(t);
			return -EIO; /* "txn" appears only flushed and whole */
		}
		rc = txn_apply(kv, t, (size_t)size);
		free(t);
		return rc;
	} else if (h != -ENOENT) {
		return h;
	}
	return dirty ? d->sync_dir(d->ctx) : 0;
}

add_kv *add_kv_open(const add_disk *disk, char *err, size_t err_len)
{
	add_kv *kv;
	int rc;

	if (!disk) {
		if (err && err_len)
			snprintf(err, err_len, "kv store: no disk");
		return NULL;
	}
	add_crc32c_init();
	kv = calloc(1, sizeof(*kv));
	if (!kv) {
		if (err && err_len)
			snprintf(err, err_len, "kv store: out of memory");
		return NULL;
	}
	kv->disk = disk;
	rc = recover(kv);
	if (rc < 0) {
		if (err && err_len)
			snprintf(err, err_len, "kv store: recovery failed (error %d)", -rc);
		free(kv);
		return NULL;
	}
	return kv;
}

void add_kv_close(add_kv *kv)
{
	free(kv);
}
