/*
 * bench_wire: core/wire throughput next to the machine's own HMAC-SHA256
 * limit, measured in the same run.
 *
 *   limit    OpenSSL one-shot HMAC() over 4 KiB (a key schedule per call)
 *   limit    a prepared key: add_hmac_sign (ipad/opad states copied), and
 *            EVP_MAC "HMAC" re-initialised with a NULL key (the alternative),
 *            also on 24-byte messages where the per-message overhead shows
 *   codec    encode+sign and decode+verify of a WRITE command (4152 bytes)
 *            and of a VALUE message (4176 bytes), decoded in place
 *
 * ratio = codec messages/s / best prepared-key HMAC messages/s over 4 KiB
 * (the target is >= 0.80). Each figure runs for BENCH_SECONDS (default 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wire.h"

static double bench_seconds = 1.0;
static volatile uint8_t sink;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct result {
	double msgs_per_s;
	double mb_per_s;
} result;

typedef void (*op_fn)(void *ctx);

/* Runs op in batches until bench_seconds have passed. */
static result run(const char *name, op_fn op, void *ctx, size_t bytes)
{
	const int batch = 256;
	for (int i = 0; i < batch; i++) /* warm up */
		op(ctx);
	uint64_t n = 0;
	double t0 = now_s(), t;
	do {
		for (int i = 0; i < batch; i++)
			op(ctx);
		n += batch;
		t = now_s();
	} while (t - t0 < bench_seconds);
	result r = { (double)n / (t - t0), (double)n * (double)bytes / (t - t0) / 1e6 };
	printf("  %-44s %10.0f msg/s %9.1f MB/s\n", name, r.msgs_per_s, r.mb_per_s);
	return r;
}

/* ---- the limits ---------------------------------------------------------- */

static uint8_t key32[ADD_CLIENT_KEY_SIZE], key64[ADD_SYSTEM_KEY_SIZE];
static uint8_t buf4k[ADD_SECTOR_SIZE];
static add_hmac_key client_key, system_key;

static void op_oneshot(void *ctx)
{
	(void)ctx;
	uint8_t tag[32];
	unsigned int n;
	HMAC(EVP_sha256(), key32, sizeof(key32), buf4k, sizeof(buf4k), tag, &n);
	sink ^= tag[0];
}

static size_t hmac_len = sizeof(buf4k); /* 4 KiB, or a small message's 24 B */

static void op_prepared(void *ctx)
{
	(void)ctx;
	uint8_t tag[32];
	add_hmac_sign(&client_key, buf4k, hmac_len, tag);
	sink ^= tag[0];
}

static void op_evp_mac(void *ctx)
{
	EVP_MAC_CTX *mc = ctx;
	uint8_t tag[32];
	size_t n;
	if (EVP_MAC_init(mc, NULL, 0, NULL) != 1 || EVP_MAC_update(mc, buf4k, hmac_len) != 1 ||
	    EVP_MAC_final(mc, tag, &n, sizeof(tag)) != 1)
		abort();
	sink ^= tag[0];
}

static EVP_MAC_CTX *evp_mac_prepared(void)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *mc = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)(uintptr_t)"SHA256",
						 0),
		OSSL_PARAM_construct_end(),
	};
	if (mc == NULL || EVP_MAC_init(mc, key32, sizeof(key32), params) != 1)
		abort();
	EVP_MAC_free(mac);
	return mc;
}

/* ---- the codec ----------------------------------------------------------- */

static uint8_t wire_write[ADD_CMD_WRITE_SIZE], wire_value[ADD_PEER_VALUE_SIZE];
static add_wire_decoder dec;

static void op_encode_write(void *ctx)
{
	(void)ctx;
	add_client_cmd c = { .type = ADD_TYPE_WRITE, .request = 1, .sector = 2, .data = buf4k };
	if (add_wire_encode_cmd(&c, &client_key, wire_write) != ADD_CMD_WRITE_SIZE)
		abort();
	sink ^= wire_write[ADD_CMD_WRITE_SIZE - 1];
}

static void op_encode_value(void *ctx)
{
	(void)ctx;
	add_peer_msg p = { .type = ADD_TYPE_VALUE, .rank = 1, .sector = 2, .ts = 3, .wr = 1,
			   .data = buf4k };
	if (add_wire_encode_peer(&p, &system_key, wire_value) != ADD_PEER_VALUE_SIZE)
		abort();
	sink ^= wire_value[ADD_PEER_VALUE_SIZE - 1];
}

static void op_decode(void *ctx)
{
	const uint8_t *msg = ctx;
	size_t size = msg == wire_write ? sizeof(wire_write) : sizeof(wire_value);
	add_wire_msg m;
	if (add_wire_decoder_feed(&dec, msg, size, &m) != size || m.kind == ADD_WIRE_NONE ||
	    !m.hmac_ok)
		abort();
	sink ^= (uint8_t)m.kind;
}

int main(void)
{
	const char *s = getenv("BENCH_SECONDS");
	if (s != NULL && atof(s) > 0)
		bench_seconds = atof(s);
	for (size_t i = 0; i < sizeof(key64); i++)
		key64[i] = (uint8_t)(i * 3 + 1);
	memcpy(key32, key64, sizeof(key32));
	for (size_t i = 0; i < sizeof(buf4k); i++)
		buf4k[i] = (uint8_t)(i * 7);
	if (add_hmac_key_init(&client_key, key32, sizeof(key32)) != 0 ||
	    add_hmac_key_init(&system_key, key64, sizeof(key64)) != 0)
		return 1;
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_PROCESS, &client_key, &system_key);

	printf("HMAC-SHA256 limit over 4 KiB buffers (%s):\n", OpenSSL_version(OPENSSL_VERSION));
	result oneshot = run("OpenSSL one-shot HMAC() (key per call)", op_oneshot, NULL, 4096);
	EVP_MAC_CTX *mc = evp_mac_prepared();
	result evp = run("EVP_MAC prepared, re-init per message", op_evp_mac, mc, 4096);
	result prep = run("add_hmac_sign (prepared ipad/opad states)", op_prepared, NULL, 4096);
	/* Where the per-message overhead shows: a READ command's 24 signed bytes. */
	printf("per-message overhead, 24-byte messages (a READ command):\n");
	hmac_len = ADD_CMD_HEADER_SIZE;
	result evp_small = run("EVP_MAC prepared, re-init per message", op_evp_mac, mc,
			       ADD_CMD_HEADER_SIZE);
	result prep_small = run("add_hmac_sign (prepared ipad/opad states)", op_prepared, NULL,
				ADD_CMD_HEADER_SIZE);
	hmac_len = sizeof(buf4k);
	EVP_MAC_CTX_free(mc);
	result limit = prep.msgs_per_s > evp.msgs_per_s ? prep : evp;
	if (oneshot.msgs_per_s > limit.msgs_per_s)
		limit = oneshot;

	printf("core/wire codec:\n");
	result ew = run("encode+sign WRITE command (4152 B)", op_encode_write, NULL,
			ADD_CMD_WRITE_SIZE);
	result dw = run("decode+verify WRITE command (4152 B)", op_decode, wire_write,
			ADD_CMD_WRITE_SIZE);
	result ev = run("encode+sign VALUE (4176 B)", op_encode_value, NULL, ADD_PEER_VALUE_SIZE);
	result dv = run("decode+verify VALUE (4176 B)", op_decode, wire_value,
			ADD_PEER_VALUE_SIZE);

	printf("ratio to the best 4 KiB HMAC rate (%.0f msg/s; target >= 0.80):\n",
	       limit.msgs_per_s);
	printf("  encode WRITE %.2f  decode WRITE %.2f  encode VALUE %.2f  decode VALUE %.2f\n",
	       ew.msgs_per_s / limit.msgs_per_s, dw.msgs_per_s / limit.msgs_per_s,
	       ev.msgs_per_s / limit.msgs_per_s, dv.msgs_per_s / limit.msgs_per_s);
	printf("  prepared key vs one-shot HMAC(): %.2fx; ipad/opad copy vs EVP_MAC re-init: "
	       "%.2fx (4 KiB), %.2fx (24 B)\n",
	       prep.msgs_per_s / oneshot.msgs_per_s, prep.msgs_per_s / evp.msgs_per_s,
	       prep_small.msgs_per_s / evp_small.msgs_per_s);
	add_hmac_key_free(&client_key);
	add_hmac_key_free(&system_key);
	return 0;
}
