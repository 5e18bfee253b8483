/*
 * HMAC-SHA256 with the key schedule done once per key.
 *
 * HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). The two SHA-256 states
 * after absorbing the 64-byte padded key blocks are computed at init and kept
 * in EVP_MD_CTXs; each message copies them into scratch contexts
 * (EVP_MD_CTX_copy_ex: a memcpy of the SHA-256 state, no allocation once the
 * scratch contexts exist) and hashes only the message and the inner digest.
 * This was measured against EVP_MAC "HMAC" re-initialised with a NULL key per
 * message (bench/bench_wire.c prints both) and is the faster of the two.
 *
 * The scratch contexts live inside the key, so one key must not be used by
 * two threads at once (the node's reactor is single-threaded).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "wire.h"

#define SHA256_BLOCK 64

struct hmac_impl {
	EVP_MD *md;         /* fetched once: no implicit fetch per message */
	EVP_MD_CTX *ipad;   /* state after (K ^ ipad) */
	EVP_MD_CTX *opad;   /* state after (K ^ opad) */
	EVP_MD_CTX *work;   /* scratch for the inner hash */
	EVP_MD_CTX *work_o; /* scratch for the outer hash */
};

static void impl_free(struct hmac_impl *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ipad);
	EVP_MD_CTX_free(h->opad);
	EVP_MD_CTX_free(h->work);
	EVP_MD_CTX_free(h->work_o);
	EVP_MD_free(h->md);
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

int add_hmac_key_init(add_hmac_key *key, const uint8_t *secret, size_t secret_len)
{
	assert(key != NULL);
	key->impl = NULL;
	if (secret == NULL && secret_len > 0)
		return -1;

	struct hmac_impl *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -1;
	h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->ipad = EVP_MD_CTX_new();
	h->opad = EVP_MD_CTX_new();
	h->work = EVP_MD_CTX_new();
	h->work_o = EVP_MD_CTX_new();
	if (h->md == NULL || h->ipad == NULL || h->opad == NULL || h->work == NULL ||
	    h->work_o == NULL)
		goto fail;

	/* Keys longer than a block are hashed first (RFC 2104). */
	uint8_t k[SHA256_BLOCK] = { 0 };
	if (secret_len > SHA256_BLOCK) {
		unsigned int n = 0;
		if (EVP_Digest(secret, secret_len, k, &n, h->md, NULL) != 1)
			goto fail_k;
		assert(n == ADD_HMAC_TAG_SIZE);
	} else if (secret_len > 0) {
		memcpy(k, secret, secret_len);
	}

	uint8_t pad[SHA256_BLOCK];
	for (size_t i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	if (EVP_DigestInit_ex(h->ipad, h->md, NULL) != 1 ||
	    EVP_DigestUpdate(h->ipad, pad, SHA256_BLOCK) != 1)
		goto fail_pad;
	for (size_t i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	if (EVP_DigestInit_ex(h->opad, h->md, NULL) != 1 ||
	    EVP_DigestUpdate(h->opad, pad, SHA256_BLOCK) != 1)
		goto fail_pad;
	/* Give the scratch contexts their digest once, so that the per-message
	 * copies reuse their already allocated state. */
	if (EVP_MD_CTX_copy_ex(h->work, h->ipad) != 1 ||
	    EVP_MD_CTX_copy_ex(h->work_o, h->opad) != 1)
		goto fail_pad;
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(k, sizeof(k));
	key->impl = h;
	return 0;

fail_pad:
	OPENSSL_cleanse(pad, sizeof(pad));
fail_k:
	OPENSSL_cleanse(k, sizeof(k));
fail:
	impl_free(h);
	return -1;
}

void add_hmac_key_free(add_hmac_key *key)
{
	if (key == NULL)
		return;
	impl_free(key->impl);
	key->impl = NULL;
}

void add_hmac_sign(const add_hmac_key *key, const uint8_t *msg, size_t len,
		   uint8_t tag[ADD_HMAC_TAG_SIZE])
{
	assert(key != NULL && key->impl != NULL);
	assert(msg != NULL || len == 0);
	struct hmac_impl *h = key->impl;
	uint8_t inner[ADD_HMAC_TAG_SIZE];
	unsigned int n = 0;
	int ok = EVP_MD_CTX_copy_ex(h->work, h->ipad) == 1 &&
		 EVP_DigestUpdate(h->work, msg, len) == 1 &&
		 EVP_DigestFinal_ex(h->work, inner, &n) == 1 && n == ADD_HMAC_TAG_SIZE &&
		 EVP_MD_CTX_copy_ex(h->work_o, h->opad) == 1 &&
		 EVP_DigestUpdate(h->work_o, inner, sizeof(inner)) == 1 &&
		 EVP_DigestFinal_ex(h->work_o, tag, &n) == 1 && n == ADD_HMAC_TAG_SIZE;
	/* SHA-256 on prepared contexts cannot fail short of memory corruption
	 * or an OpenSSL provider failure: neither is recoverable here. */
	if (!ok)
		abort();
}

bool add_hmac_verify(const add_hmac_key *key, const uint8_t *msg, size_t len,
		     const uint8_t tag[ADD_HMAC_TAG_SIZE])
{
	uint8_t want[ADD_HMAC_TAG_SIZE];
	add_hmac_sign(key, msg, len, want);
	return CRYPTO_memcmp(want, tag, ADD_HMAC_TAG_SIZE) == 0;
}
